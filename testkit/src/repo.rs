//! Repos for tests: identities from a seed, grants, copies of a document's changes, writer
//! clones and chains of commits. Changes move with `Repo::apply_changes` here, not over the sync
//! protocol.

use weft_dag::{Author, Cid, DocId, Entry, Error, Identity, Repo, Role, Transaction};
use weft_store::Store;

/// An identity from a one-byte seed (the same key for the same seed, in every test).
pub fn identity(seed: u8) -> Identity {
    Identity::from_seed([seed; 32])
}

/// A repo in memory with the key of `seed` and no document at all (unlike [`Repo::memory`],
/// which creates its own `main`).
pub fn empty(seed: u8) -> Repo {
    match Repo::with_store(Store::memory(), identity(seed)) {
        Ok(repo) => repo,
        Err(e) => panic!("an empty repo: {e}"),
    }
}

/// `by` grants `who` `role` in `doc`: one change on `by`'s heads, whose CID is returned.
pub fn grant(by: &Repo, doc: DocId, who: Author, role: Role) -> Cid {
    let mut tx = by.transaction(doc);
    if let Err(e) = tx.grant(who, role) {
        panic!("granting {role:?} to {who}: {e}");
    }
    match tx.commit() {
        Ok(Some(committed)) => committed.cid,
        Ok(None) => panic!("a grant wrote nothing"),
        Err(e) => panic!("committing a grant: {e}"),
    }
}

/// Every change of `doc` in `repo`, as `(cid, bytes)`, newest first (the log order).
pub fn all_changes(repo: &Repo, doc: DocId) -> Vec<(Cid, Vec<u8>)> {
    repo.log(doc)
        .map(|entry| {
            let cid = entry
                .unwrap_or_else(|e| panic!("the log of {doc}: {e}"))
                .cid;
            let bytes = repo
                .block(&cid)
                .unwrap_or_else(|e| panic!("the block of {cid}: {e}"));
            (cid, bytes)
        })
        .collect()
}

/// Sends every change of `doc` from `from` to `to` (parents first, with `apply_changes`).
pub fn sync(from: &Repo, to: &Repo, doc: DocId) {
    let mut changes = all_changes(from, doc);
    changes.reverse();
    if let Err(e) = to.apply_changes(changes) {
        panic!("applying the changes of {doc}: {e}");
    }
}

/// [`sync`] both ways.
pub fn sync_both(a: &Repo, b: &Repo, doc: DocId) {
    sync(a, b, doc);
    sync(b, a, doc);
}

/// A writer clone: a fresh in-memory replica of `doc` with the key of `seed`, which `origin`
/// has made a writer, under the local name `shared`. It holds what `origin` holds: the genesis
/// and the grants so far (the new one included).
pub fn replica(origin: &Repo, doc: DocId, seed: u8) -> Repo {
    let repo = Repo::memory(identity(seed));
    grant(origin, doc, repo.author(), Role::Writer);
    sync(origin, &repo, doc);
    if let Err(e) = repo.name_doc("shared", doc) {
        panic!("naming {doc}: {e}");
    }
    assert_eq!(repo.doc("shared").ok(), Some(doc));
    assert_eq!(
        repo.role(doc, &repo.author()).ok().flatten(),
        Some(Role::Writer)
    );
    repo
}

/// `n` commits on `doc`, one after the other; commit `i` is what `write(tx, i)` stages. Returns
/// their CIDs, oldest first.
pub fn chain(
    repo: &Repo,
    doc: DocId,
    n: usize,
    mut write: impl FnMut(&mut Transaction<'_>, usize) -> Result<(), Error>,
) -> Vec<Cid> {
    (0..n)
        .map(|i| {
            let mut tx = repo.transaction(doc);
            if let Err(e) = write(&mut tx, i) {
                panic!("commit {i} of a chain: {e}");
            }
            match tx.commit() {
                Ok(Some(committed)) => committed.cid,
                Ok(None) => panic!("commit {i} of a chain wrote nothing"),
                Err(e) => panic!("committing {i} of a chain: {e}"),
            }
        })
        .collect()
}

/// `n` commits of one op each on `doc`: alternately a register write and a counter increment,
/// over a few keys under `tag`. (The keys rotate because a local `incr` reads every increment
/// of its counter, so one counter incremented thousands of times makes the loop quadratic.)
pub fn edit(repo: &Repo, doc: DocId, tag: &str, n: usize) -> Vec<Cid> {
    chain(repo, doc, n, |tx, i| {
        if i % 2 == 0 {
            tx.set(&format!("{tag}/r{}", i % 8), i as i64)?;
        } else {
            tx.incr(&format!("{tag}/n{}", i % 64), 1)?;
        }
        Ok(())
    })
}

/// Every key of `doc` with its full entry.
pub fn state(repo: &Repo, doc: DocId) -> std::collections::BTreeMap<String, Entry> {
    repo.state(doc)
        .entries("")
        .unwrap_or_else(|e| panic!("the state of {doc}: {e}"))
}

/// `a` and `b` hold the same heads and the same state of `doc`, and both pass fsck.
pub fn assert_same(a: &Repo, b: &Repo, doc: DocId) {
    let heads_of = |r: &Repo| -> Vec<Cid> {
        r.heads(doc)
            .unwrap_or_else(|e| panic!("the heads of {doc}: {e}"))
    };
    let heads = heads_of(a);
    assert!(!heads.is_empty(), "{doc} is not in the first repo");
    assert_eq!(heads, heads_of(b), "heads of {doc}");
    assert_eq!(state(a, doc), state(b, doc), "state of {doc}");
    assert_fsck(a);
    assert_fsck(b);
}

/// The repo passes fsck.
pub fn assert_fsck(repo: &Repo) {
    let report = repo.fsck().unwrap_or_else(|e| panic!("fsck failed: {e}"));
    assert!(report.is_ok(), "fsck: {:?}", report.problems);
}
