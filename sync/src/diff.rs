//! What one side sends the other: the changes of a document the peer lacks, exactly (when it
//! holds the peer's heads) or by the peer's Bloom summary, and the samples that bound the
//! common history.

use weft_dag::{DocId, Repo};
use weft_store::{Cid, CidSet};

use crate::{bloom::Bloom, Error};

pub(crate) fn present(repo: &Repo, cids: &[Cid]) -> Result<Vec<Cid>, Error> {
    let mut v = Vec::new();
    for c in cids {
        if repo.has_change(c)? {
            v.push(*c);
        }
    }
    Ok(v)
}

/// Ancestors of the heads at heights `top, top-1, top-3, top-7, ...` (up to two per height):
/// whichever the peer has bound the common history within a factor of two of the divergence.
pub(crate) fn samples(repo: &Repo, doc: DocId) -> Result<Vec<Cid>, Error> {
    let mut top = 0;
    for h in repo.heads(doc)? {
        if let Some(m) = repo.node(&h)? {
            top = top.max(m.height);
        }
    }
    let mut out = Vec::new();
    let mut step = 1u64;
    let mut h = top;
    while h >= 1 {
        out.extend(repo.changes_at_height(doc, h)?.into_iter().take(2));
        h = h.saturating_sub(step);
        step = step.saturating_mul(2);
    }
    Ok(out)
}

/// The candidates a peer may lack, minus those its summary says it has. A change whose parent
/// is being sent is sent too (the peer cannot have it), so a false positive costs at most the
/// first change of a branch. Except for a change in `asked` (the peer asked for it by CID): the
/// peer asked because it holds children of it, waiting, so its summary is believed for them.
pub(crate) fn filter(
    repo: &Repo,
    candidates: &[(u64, Cid)],
    summary: &Bloom,
    asked: &CidSet,
) -> Result<Vec<Cid>, Error> {
    let mut sent = CidSet::default();
    let mut out = Vec::new();
    for (_, c) in candidates {
        let send = !summary.contains(c) || (!sent.is_empty() && has_parent_in(repo, c, &sent)?);
        if send {
            if !asked.contains(c) {
                sent.insert(*c);
            }
            out.push(*c);
        }
    }
    Ok(out)
}

/// The exact difference minus what the peer holds waiting for the changes it `asked` for: the
/// descendants of those that its summary claims.
pub(crate) fn not_waiting(
    repo: &Repo,
    exact: &[(u64, Cid)],
    summary: &Bloom,
    asked: &CidSet,
) -> Result<Vec<Cid>, Error> {
    let mut held: CidSet = asked.clone();
    let mut out = Vec::new();
    for (_, c) in exact {
        if summary.contains(c) && has_parent_in(repo, c, &held)? {
            held.insert(*c);
        } else {
            out.push(*c);
        }
    }
    Ok(out)
}

/// Whether some parent of change `c` is in `set`.
fn has_parent_in(repo: &Repo, c: &Cid, set: &CidSet) -> Result<bool, Error> {
    Ok(repo
        .node(c)?
        .is_some_and(|m| m.parents().iter().any(|p| set.contains(p))))
}

pub(crate) fn cids(v: &[(u64, Cid)]) -> Vec<Cid> {
    v.iter().map(|(_, c)| *c).collect()
}
