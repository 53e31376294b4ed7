//! Fills a new repo with N single-op changes, for trying sync and benchmarks by hand:
//! `cargo run --release -p weft-dag --example fill -- DIR N`.

use std::path::PathBuf;

use weft_dag::{Durability, Options, Repo, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        return Err("usage: fill DIR N".into());
    };
    let n: u64 = n.to_string_lossy().parse()?;
    let dir = PathBuf::from(dir);
    let repo = match Repo::open(&dir, Options::default()) {
        Ok(r) => r,
        Err(weft_dag::open::Error::NotARepo { .. }) => {
            std::fs::create_dir_all(&dir)?;
            Repo::init(&dir, Options::default())?
        }
        Err(e) => return Err(e.into()),
    };
    drop(repo);
    let repo = Repo::open(
        &dir,
        Options {
            durability: Durability::Manual,
            ..Options::default()
        },
    )?;
    let doc = repo.doc("main")?;
    for i in 0..n {
        let mut tx = repo.transaction(doc);
        tx.set(&format!("k{}", i % 1000), Value::Int(i as i64))?;
        tx.commit()?;
    }
    repo.flush()?;
    Ok(())
}
