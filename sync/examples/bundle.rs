//! Writes or applies an offline bundle (CAR v1) of a repo on disk; see `weft_sync::bundle`.
//!
//! ```text
//! cargo run -p weft-sync --example bundle -- create REPO_DIR OUT.car [DOC...]
//! cargo run -p weft-sync --example bundle -- apply REPO_DIR IN.car
//! ```
//!
//! `create` bundles every document (or the named ones), whole. Prints the stats as one JSON
//! line. The smallest embedding of `weft_sync::bundle`; `weft bundle create|apply` is the
//! command-line version.

#![allow(clippy::result_large_err)]

use std::{fs::File, path::Path, process::ExitCode};

use weft_dag::{Options, Repo};
use weft_sync::bundle;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(json) => {
            #[allow(clippy::print_stdout)]
            {
                println!("{json}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("bundle: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<String, Box<dyn std::error::Error>> {
    let (cmd, root, file, docs) = match args {
        [cmd, root, file, docs @ ..] => (cmd.as_str(), Path::new(root), file, docs),
        _ => {
            return Err(
                "usage: bundle (create REPO_DIR OUT.car [DOC...] | apply REPO_DIR IN.car)".into(),
            )
        }
    };
    let repo = Repo::open(root, Options::default())?;
    let stats = match cmd {
        "create" => {
            let docs = if docs.is_empty() {
                repo.doc_ids()?
            } else {
                docs.iter().map(|d| repo.doc(d)).collect::<Result<_, _>>()?
            };
            bundle::create(&repo, &docs, &[], File::create(file)?)?
        }
        "apply" if docs.is_empty() => bundle::apply(&repo, File::open(file)?, file)?,
        _ => return Err(format!("unknown command {cmd:?} (create or apply)").into()),
    };
    repo.flush()?;
    Ok(serde_json::to_string(&stats)?)
}
