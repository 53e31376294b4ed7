//! Integration tests of weft-dag, built as one test binary (`it`) so that the crate and its
//! dependencies are linked once.
//!
//! - [`acl`]: write access control: what is rejected (`Unauthorized`, `Equivocation`, revokes
//!   of the owner) with nothing stored, what is stored but void (changes concurrent with a
//!   revoke, backdated changes, the cascade of a voided grant) in every delivery order, and
//!   random grants, revokes, writes and syncs checked against a model of the rules;
//! - [`convergence`]: random concurrent edits on several replicas with random, partial,
//!   reordered and duplicated exchanges; all replicas converge to the answer of a separate
//!   reference model;
//! - [`golden`]: the exact bytes and CID of a genesis change and one child;
//! - [`import`]: `Repo::import` after failures, and imports racing on the same changes;
//! - [`missing`]: `Repo::missing` against a naive model on random DAGs;
//! - [`repo`]: behaviour of the `Repo` API (CRDT semantics, errors, time travel, log, blame,
//!   subscriptions, `apply_changes` rejections, fsck, reopening, locking, crashes);
//! - [`signature`]: checking changes in a batch answers what checking each alone does (also
//!   through an import), and small-order or non-canonical keys gain no right (author, genesis
//!   owner, grant target).

#![allow(clippy::unwrap_used)]

mod acl;
mod convergence;
mod golden;
mod hostile;
mod import;
mod missing;
mod repo;
mod signature;

use std::sync::Arc;

use weft_dag::{Author, Cid, DocId, Durability, Identity, Repo, Role};
use weft_store::{MemoryBackend, MemoryLog, Store};

/// An identity from a one-byte seed.
pub fn identity(seed: u8) -> Identity {
    Identity::from_seed([seed; 32])
}

/// Every change of `doc` in `repo`, as `(cid, bytes)`, newest first (the log order).
pub fn all_changes(repo: &Repo, doc: DocId) -> Vec<(Cid, Vec<u8>)> {
    repo.log(doc)
        .map(|e| {
            let e = e.unwrap();
            let bytes = repo.block(&e.cid).unwrap();
            (e.cid, bytes)
        })
        .collect()
}

/// Sends every change of `doc` from `from` to `to`.
pub fn sync(from: &Repo, to: &Repo, doc: DocId) {
    let mut changes = all_changes(from, doc);
    changes.reverse();
    to.apply_changes(changes).unwrap();
}

/// Two-way [`sync`].
pub fn sync_both(a: &Repo, b: &Repo, doc: DocId) {
    sync(a, b, doc);
    sync(b, a, doc);
}

/// A fresh in-memory replica of `doc`, with the local name `shared`, whose key `origin` has
/// made a writer. It holds what `origin` holds: the genesis, and the grants so far.
pub fn replica(origin: &Repo, doc: DocId, seed: u8) -> Repo {
    let repo = Repo::memory(identity(seed));
    grant(origin, doc, repo.author(), Role::Writer);
    sync(origin, &repo, doc);
    repo.name_doc("shared", doc).unwrap();
    assert_eq!(repo.doc("shared").unwrap(), doc);
    assert_eq!(repo.role(doc, &repo.author()).unwrap(), Some(Role::Writer));
    repo
}

/// `by` grants `who` `role` in `doc`.
pub fn grant(by: &Repo, doc: DocId, who: Author, role: Role) -> Cid {
    let mut tx = by.transaction(doc);
    tx.grant(who, role).unwrap();
    tx.commit().unwrap().unwrap().cid
}

/// A store in memory that can crash: its database and its log lose what was not made durable.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    backend: MemoryBackend,
    log: MemoryLog,
}

impl Disk {
    /// A store on this disk, syncing every commit or only when flushed.
    pub fn store(&self, durability: Durability) -> Store {
        let options = weft_store::Options {
            sync_commits: durability == Durability::EveryCommit,
            ..weft_store::Options::default()
        };
        Store::with_backend(
            Arc::new(self.backend.clone()),
            Arc::new(self.log.clone()),
            options,
        )
        .unwrap()
    }

    /// A repo on this disk.
    pub fn repo(&self, id: &Identity, durability: Durability) -> Repo {
        Repo::with_store(self.store(durability), id.clone()).unwrap()
    }

    /// The process holding `repo` dies (nothing runs at close), then the power goes: whatever
    /// was not durable is lost.
    pub fn crash(&self, repo: Repo) {
        std::mem::forget(repo);
        self.backend.crash();
        self.log.crash();
    }
}
