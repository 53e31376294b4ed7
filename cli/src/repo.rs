//! The commands about the repo itself: `init` makes one, `fsck` checks one.

use std::{io::Write, path::Path};

use anyhow::{Context as _, Result};
use serde::Serialize;
use weft_dag::{Options, Repo, WEFT_DIR};

use crate::out::{emit, Outcome, Output};

/// `weft init`.
#[derive(Debug, Serialize)]
pub(crate) struct Initialized {
    /// The directory that holds `.weft`.
    pub root: String,
    /// The key the repo writes with (64 hex digits).
    pub author: String,
    /// The id of the document `main`.
    pub doc: String,
    #[serde(skip)]
    weft_dir: String,
}

impl Outcome for Initialized {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        if !quiet {
            writeln!(
                out,
                "Initialized weft repo in {}\nauthor {}\ndocument main {}",
                self.weft_dir, self.author, self.doc
            )?;
        }
        Ok(())
    }
}

/// A problem `fsck` found.
#[derive(Debug, Serialize)]
pub(crate) struct Problem {
    /// A short machine-readable kind (`corrupt-block`, `bad-signature`, ...).
    pub kind: &'static str,
    /// The block or change concerned, if any.
    pub cid: Option<String>,
    pub detail: String,
    #[serde(skip)]
    text: String,
}

/// `weft fsck`.
#[derive(Debug, Serialize)]
pub(crate) struct Checked {
    /// No problem found.
    pub ok: bool,
    pub n_blocks: usize,
    pub n_changes: usize,
    pub n_docs: usize,
    /// What opening the repo repaired, one line each.
    pub repaired: Vec<String>,
    pub problems: Vec<Problem>,
}

impl Outcome for Checked {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        if !quiet {
            for r in &self.repaired {
                writeln!(out, "repaired: {r}")?;
            }
        }
        for p in &self.problems {
            writeln!(out, "{}", p.text)?;
        }
        if !quiet || !self.ok {
            let verdict = if self.ok {
                "ok".to_string()
            } else {
                format!("{} problem(s)", self.problems.len())
            };
            writeln!(
                out,
                "checked {} blocks, {} changes, {} documents: {verdict}",
                self.n_blocks, self.n_changes, self.n_docs
            )?;
        }
        Ok(())
    }
}

/// `weft init [DIR]`: a new repo in `root` (made if missing) with the document `main`.
/// With `--identity` (`key`, the key file), the repo records which key it signs with.
pub(crate) fn init(
    root: &Path,
    options: Options,
    key: Option<&Path>,
    out: &mut dyn Write,
    output: Output,
) -> Result<Initialized> {
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    let repo = Repo::init(root, options)?;
    if let Some(key) = key {
        if let Err(e) = crate::ctx::remember_identity(&root.join(WEFT_DIR), key) {
            drop(repo);
            let _ = std::fs::remove_dir_all(root.join(WEFT_DIR));
            return Err(e);
        }
    }
    let doc = repo.doc(weft_dag::DEFAULT_DOC)?;
    let outcome = Initialized {
        root: root.display().to_string(),
        author: repo.author().to_string(),
        doc: doc.to_string(),
        weft_dir: root.join(WEFT_DIR).display().to_string(),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft fsck`: every block re-hashed, every signature checked, every document replayed.
pub(crate) fn fsck(repo: &Repo, out: &mut dyn Write, output: Output) -> Result<Checked> {
    let report = repo.fsck()?;
    let outcome = Checked {
        ok: report.is_ok(),
        n_blocks: report.n_blocks,
        n_changes: report.n_changes,
        n_docs: report.n_docs,
        problems: report
            .problems
            .iter()
            .map(|p| Problem {
                kind: p.kind,
                cid: p.cid.map(|c| c.to_string()),
                detail: p.detail.clone(),
                text: p.to_string(),
            })
            .collect(),
        repaired: report.repaired,
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}
