//! Commands that take a past change back or settle a conflict, each with a new change:
//! `revert` ([`revert`]) and `resolve` ([`resolve`]).

use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use weft_dag::{Cid, DocId, Entry, Repo, Transaction};

use crate::{
    out::{emit, usage, NotFound, Outcome, Output},
    write,
};

/// `weft revert CID`.
#[derive(Debug, Serialize)]
pub(crate) struct Reverted {
    /// The change committed; `None` when nothing of the change was left to take back.
    pub cid: Option<String>,
    /// The change reverted.
    pub reverted: String,
}

impl Outcome for Reverted {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        match (&self.cid, quiet) {
            (_, true) => {}
            (Some(cid), false) => writeln!(out, "{cid}")?,
            (None, false) => writeln!(out, "nothing to revert")?,
        }
        Ok(())
    }
}

/// `weft revert CID`: a change that inverts `cid`'s ops still in effect ([`Repo::revert`]).
pub(crate) fn revert(
    repo: &Repo,
    doc: DocId,
    cid: &Cid,
    out: &mut dyn Write,
    output: Output,
) -> Result<Reverted> {
    let committed = repo.revert(doc, cid)?;
    let outcome = Reverted {
        cid: committed.map(|c| c.cid.to_string()),
        reverted: cid.to_string(),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft resolve KEY --take CID`: writes the value `take` wrote among `key`'s concurrent ones,
/// with a `set` whose `pred` names every live value, so the conflict is settled everywhere.
pub(crate) fn resolve(
    repo: &Repo,
    doc: DocId,
    key: &str,
    take: &Cid,
    out: &mut dyn Write,
    output: Output,
) -> Result<write::Written> {
    let values = match repo.state(doc).entry(key)? {
        Some(Entry::Register(values)) => values,
        Some(other) => {
            return Err(weft_dag::Error::WrongType {
                key: key.into(),
                expected: weft_dag::Kind::Register,
                found: other.kind(),
            }
            .into())
        }
        None => return Err(weft_dag::Error::KeyNotFound { key: key.into() }.into()),
    };
    let Some(chosen) = values.iter().find(|v| v.op.change == *take) else {
        let live: Vec<String> = values.iter().map(|v| v.op.change.to_string()).collect();
        return Err(NotFound(format!(
            "change {take} wrote none of the values {key:?} holds now (they were written by {})",
            live.join(", ")
        ))
        .into());
    };
    if values.len() < 2 {
        return Err(usage(format!(
            "{key:?} holds one value: there is no conflict to resolve"
        )));
    }
    let value = chosen.value.clone();
    let f = |tx: &mut Transaction<'_>| -> Result<()> {
        tx.set(key, value)?;
        Ok(())
    };
    write::write(repo, doc, key, f, out, output)
}

/// One key of `weft diff`: its value at the first point and at the second (`null`: none).
#[derive(Debug, Serialize)]
pub(crate) struct KeyDiff {
    pub key: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

/// `weft diff [A] [B]`.
#[derive(Debug, Serialize)]
pub(crate) struct Diff {
    /// The heads of the first point.
    pub from: Vec<String>,
    /// The heads of the second point.
    pub to: Vec<String>,
    /// Every key whose value differs, sorted by key.
    pub keys: Vec<KeyDiff>,
}

impl Outcome for Diff {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        for k in &self.keys {
            writeln!(out, "{}: {} \u{2192} {}", k.key, k.old, k.new)?;
        }
        Ok(())
    }
}

/// The values of every key of `doc` at `heads`, as JSON.
fn values_at(
    repo: &Repo,
    doc: DocId,
    heads: &[Cid],
) -> Result<std::collections::BTreeMap<String, serde_json::Value>> {
    let snapshot = repo.at(doc, heads)?;
    let state = snapshot.state();
    let mut values = std::collections::BTreeMap::new();
    for (k, e) in state.entries("")? {
        let v = e.value(&k).map(|v| v.to_json()).unwrap_or_default();
        values.insert(k, v);
    }
    Ok(values)
}

/// `weft diff [A] [B]`: how the state at `from` differs from the state at `to`.
pub(crate) fn diff(
    repo: &Repo,
    doc: DocId,
    from: &[Cid],
    to: &[Cid],
    out: &mut dyn Write,
    output: Output,
) -> Result<Diff> {
    let outcome = differences(repo, doc, from, to)?;
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// What `weft diff A B` prints (also the history browser's `/api/diff`).
pub(crate) fn differences(repo: &Repo, doc: DocId, from: &[Cid], to: &[Cid]) -> Result<Diff> {
    let old = values_at(repo, doc, from)?;
    let new = values_at(repo, doc, to)?;
    let mut keys = Vec::new();
    let all: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for k in all {
        let o = old.get(k).cloned().unwrap_or_default();
        let n = new.get(k).cloned().unwrap_or_default();
        if o != n {
            keys.push(KeyDiff {
                key: k.clone(),
                old: o,
                new: n,
            });
        }
    }
    let outcome = Diff {
        from: from.iter().map(ToString::to_string).collect(),
        to: to.iter().map(ToString::to_string).collect(),
        keys,
    };
    Ok(outcome)
}
