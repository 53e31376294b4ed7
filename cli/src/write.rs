//! The write commands: `set`, `rm`, `incr`, `sadd`, `srem` ([`write`]), `rm --rows`
//! ([`rm_rows`]), `undo` and `redo` ([`undo`]), `grant` and `revoke`
//! ([`membership`]), and `doc new` ([`doc_new`]). Each commits one change and returns what it
//! committed.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value as Json;
use weft_dag::{DocId, Repo, Transaction, Value};

use crate::out::{emit, Outcome, Output};

/// A key written: `set`, `rm`, `incr`, `sadd`, `srem`.
#[derive(Debug, Serialize)]
pub(crate) struct Written {
    /// The change committed; `None` when nothing changed.
    pub cid: Option<String>,
    pub key: String,
    /// The key's value after the write; `None` when it has none.
    pub value: Option<Json>,
}

impl Outcome for Written {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        match (&self.cid, quiet) {
            (_, true) => {}
            (Some(cid), false) => writeln!(out, "{cid}")?,
            (None, false) => writeln!(out, "nothing to change")?,
        }
        Ok(())
    }
}

/// `weft rm PREFIX --rows`: the rows deleted.
#[derive(Debug, Serialize)]
pub(crate) struct RowsDeleted {
    /// The change committed; `None` when nothing changed (only counters already at 0).
    pub cid: Option<String>,
    /// The prefix, with its trailing `/`.
    pub key: String,
    /// The keys that were under it.
    pub keys: Vec<String>,
}

impl Outcome for RowsDeleted {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        match (&self.cid, quiet) {
            (_, true) => {}
            (Some(cid), false) => writeln!(out, "{cid}")?,
            (None, false) => writeln!(out, "nothing to change")?,
        }
        Ok(())
    }
}

/// `weft undo` or `weft redo`: the change committed and the change it undid or redid.
#[derive(Debug, Serialize)]
pub(crate) struct Undone {
    /// The change committed; `None` when there was nothing to undo (or redo).
    pub cid: Option<String>,
    /// `undo` only: the change undone (null when nothing was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undid: Option<Option<String>>,
    /// `redo` only: the change redone, whose undo the new change inverts (null when nothing was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redid: Option<Option<String>>,
    #[serde(skip)]
    redo: bool,
}

impl Outcome for Undone {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        match (&self.cid, quiet) {
            (_, true) => {}
            (Some(cid), false) => writeln!(out, "{cid}")?,
            (None, false) if self.redo => writeln!(out, "nothing to redo")?,
            (None, false) => writeln!(out, "nothing to undo")?,
        }
        Ok(())
    }
}

/// A grant or revoke committed.
#[derive(Debug, Serialize)]
pub(crate) struct Membership {
    /// The change committed (empty when nothing changed).
    pub cid: String,
}

impl Outcome for Membership {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        if !quiet {
            writeln!(out, "{}", self.cid)?;
        }
        Ok(())
    }
}

/// A document created.
#[derive(Debug, Serialize)]
pub(crate) struct DocCreated {
    pub name: String,
    pub id: String,
}

impl Outcome for DocCreated {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        if !quiet {
            writeln!(out, "{}\t{}", self.name, self.id)?;
        }
        Ok(())
    }
}

/// Commits what `f` writes to `key` in `doc`, and prints the change and the key's new value.
pub(crate) fn write(
    repo: &Repo,
    doc: DocId,
    key: &str,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<()>,
    out: &mut dyn Write,
    output: Output,
) -> Result<Written> {
    let mut tx = repo.transaction(doc);
    f(&mut tx)?;
    let committed = tx.commit()?;
    let value = repo.state(doc).get(key)?;
    let outcome = Written {
        cid: committed.map(|c| c.cid.to_string()),
        key: key.to_string(),
        value: value.as_ref().map(Value::to_json),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft rm PREFIX --rows`: deletes every key under the prefix in one change.
pub(crate) fn rm_rows(
    repo: &Repo,
    doc: DocId,
    prefix: &str,
    out: &mut dyn Write,
    output: Output,
) -> Result<RowsDeleted> {
    let prefix = weft_dag::row_prefix(prefix);
    let mut tx = repo.transaction(doc);
    let keys = repo.state(doc).entries(&prefix)?.into_keys().collect();
    tx.del_rows(&prefix)?;
    let committed = tx.commit()?;
    let outcome = RowsDeleted {
        cid: committed.map(|c| c.cid.to_string()),
        key: prefix,
        keys,
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft undo` (`redo` false) or `weft redo` in `doc`.
pub(crate) fn undo(
    repo: &Repo,
    doc: DocId,
    redo: bool,
    out: &mut dyn Write,
    output: Output,
) -> Result<Undone> {
    let outcome = if redo {
        let done = repo.redo(doc)?;
        Undone {
            cid: done.as_ref().map(|d| d.committed.cid.to_string()),
            undid: None,
            redid: Some(done.map(|d| d.target.to_string())),
            redo,
        }
    } else {
        let done = repo.undo(doc)?;
        Undone {
            cid: done.as_ref().map(|d| d.committed.cid.to_string()),
            undid: Some(done.map(|d| d.target.to_string())),
            redid: None,
            redo,
        }
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// Commits a grant or revoke (what `f` writes) in `doc`, and prints its CID.
pub(crate) fn membership(
    repo: &Repo,
    doc: DocId,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<()>,
    out: &mut dyn Write,
    output: Output,
) -> Result<Membership> {
    let mut tx = repo.transaction(doc);
    f(&mut tx)?;
    let cid = tx.commit()?.map(|c| c.cid.to_string()).unwrap_or_default();
    let outcome = Membership { cid };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft doc name DOC NAME`: a local name for a document already here (one that arrived by
/// sync has none); it replaces the document's old name, and brings back a removed document.
pub(crate) fn doc_name(
    repo: &Repo,
    doc: &str,
    name: &str,
    out: &mut dyn Write,
    output: Output,
) -> Result<DocCreated> {
    let id = match repo.doc(doc) {
        Err(weft_dag::Error::RemovedDoc { .. }) => DocId(doc.parse()?),
        found => found?,
    };
    repo.name_doc(name, id)?;
    let outcome = DocCreated {
        name: name.to_string(),
        id: id.to_string(),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft doc new NAME`.
pub(crate) fn doc_new(
    repo: &Repo,
    name: &str,
    out: &mut dyn Write,
    output: Output,
) -> Result<DocCreated> {
    let id = repo.create_doc(name)?;
    let outcome = DocCreated {
        name: name.to_string(),
        id: id.to_string(),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// What `weft doc rm` did.
#[derive(Debug, Serialize)]
pub(crate) struct DocRemoved {
    pub id: String,
    pub name: Option<String>,
}

impl Outcome for DocRemoved {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        if !quiet {
            let name = self.name.as_deref().unwrap_or("(unnamed)");
            writeln!(out, "removed {name}\t{}", self.id)?;
        }
        Ok(())
    }
}

/// `weft doc rm DOC`: the document leaves this replica's listings and syncs.
pub(crate) fn doc_rm(
    repo: &Repo,
    doc: &str,
    out: &mut dyn Write,
    output: Output,
) -> Result<DocRemoved> {
    let id = repo.doc(doc)?;
    let name = repo.doc_name(id)?;
    repo.remove_doc(id)?;
    let outcome = DocRemoved {
        id: id.to_string(),
        name,
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}
