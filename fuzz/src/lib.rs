//! Helpers shared by the fuzz targets and the seed generator.
//!
//! The session targets need a repo with some history to answer from. Building it from scratch
//! for every input would sign changes with the current time and a random nonce, so every run
//! would see a different repo, and verifying its signatures would dominate the time per input.
//! Instead the history is a fixed bundle, `data/base.car` (written by `examples/gen_seeds.rs`),
//! applied and verified once per process into a template store; each input gets a fresh copy of
//! the template's key-value pairs (blocks, indexes, state and the replica id), so inputs never
//! see each other's writes and a crashing input reproduces exactly.

use std::sync::{Arc, OnceLock};

use weft_dag::{Durability, Identity, Repo};
use weft_store::{Backend, MemoryBackend, RawBatch, RawOp, Store};

/// The base history: two documents with a few changes of every op kind.
pub const BASE_CAR: &[u8] = include_bytes!("../data/base.car");

/// The identity of the fuzzed repo (fixed, so runs are reproducible).
pub fn identity() -> Identity {
    Identity::from_seed([0x5a; 32])
}

fn template() -> &'static [(Vec<u8>, Vec<u8>)] {
    static TEMPLATE: OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let backend = MemoryBackend::new();
        let store = match Store::with_backend(Arc::new(backend.clone()), Default::default()) {
            Ok(s) => s,
            Err(e) => panic!("template store: {e}"),
        };
        let repo = Repo::with_store(store, identity(), Durability::Manual);
        if let Err(e) = weft_sync::bundle::apply(&repo, BASE_CAR, "base.car") {
            panic!("the base bundle applies: {e}");
        }
        // Assign the replica id now, so every copy has the same one.
        if let Err(e) = weft_sync::peer::replica_id(&repo) {
            panic!("replica id: {e}");
        }
        backend
            .scan(
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                false,
            )
            .map(|r| match r {
                Ok(kv) => kv,
                Err(e) => panic!("template scan: {e}"),
            })
            .collect()
    })
}

/// A fresh in-memory repo holding the base history, independent of every other.
pub fn base_repo() -> Repo {
    let backend = MemoryBackend::new();
    let batch = RawBatch {
        ops: template()
            .iter()
            .map(|(k, v)| RawOp::Put(k.clone(), v.clone()))
            .collect(),
    };
    if let Err(e) = backend.apply(batch) {
        panic!("template copy: {e}");
    }
    match Store::with_backend(Arc::new(backend), Default::default()) {
        Ok(store) => Repo::with_store(store, identity(), Durability::Manual),
        Err(e) => panic!("template store reopens: {e}"),
    }
}

/// An empty in-memory repo (no document at all).
pub fn empty_repo() -> Repo {
    Repo::with_store(Store::memory(), identity(), Durability::Manual)
}

/// How many blocks the repo stores (to tell whether an input stored anything).
pub fn n_blocks(repo: &Repo) -> usize {
    repo.store().blocks().count()
}

/// Asserts that `fsck` finds nothing wrong; `context` says what happened before.
pub fn assert_fsck(repo: &Repo, context: &dyn std::fmt::Debug) {
    match repo.fsck() {
        Ok(report) => assert!(report.is_ok(), "fsck after {context:?}: {report:?}"),
        Err(e) => panic!("fsck fails after {context:?}: {e}"),
    }
}
