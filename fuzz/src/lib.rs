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

use weft_dag::{Identity, Repo};
use weft_store::{Backend, BlockLog, MemoryBackend, MemoryLog, Pos, RawBatch, RawOp, Record, Store};

/// The base history: two documents with a few changes of every op kind.
pub const BASE_CAR: &[u8] = include_bytes!("../data/base.car");

/// The identity of the fuzzed repo (fixed, so runs are reproducible).
pub fn identity() -> Identity {
    Identity::from_seed([0x5a; 32])
}

/// What a repo holding the base history stores: its key-value pairs and its log.
struct Template {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    records: Vec<Record>,
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let backend = MemoryBackend::new();
        let log = MemoryLog::new();
        let store = match Store::with_backend(
            Arc::new(backend.clone()),
            Arc::new(log.clone()),
            Default::default(),
        ) {
            Ok(s) => s,
            Err(e) => panic!("template store: {e}"),
        };
        let repo = match Repo::with_store(store.clone(), identity()) {
            Ok(r) => r,
            Err(e) => panic!("template repo: {e}"),
        };
        if let Err(e) = weft_sync::bundle::apply(&repo, BASE_CAR, "base.car") {
            panic!("the base bundle applies: {e}");
        }
        // Assign the replica id now, so every copy has the same one.
        if let Err(e) = weft_sync::peer::replica_id(&repo) {
            panic!("replica id: {e}");
        }
        if let Err(e) = store.checkpoint_now() {
            panic!("template checkpoint: {e}");
        }
        let pairs = backend
            .scan(
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                false,
            )
            .map(|r| match r {
                Ok(kv) => kv,
                Err(e) => panic!("template scan: {e}"),
            })
            .collect();
        let records = (0..log.end().0)
            .map(|p| match log.read(Pos(p)) {
                Ok(r) => r,
                Err(e) => panic!("template log: {e}"),
            })
            .collect();
        Template { pairs, records }
    })
}

/// A fresh in-memory repo holding the base history, independent of every other.
pub fn base_repo() -> Repo {
    let template = template();
    let backend = MemoryBackend::new();
    let batch = RawBatch {
        ops: template
            .pairs
            .iter()
            .map(|(k, v)| RawOp::Put(k.clone(), v.clone()))
            .collect(),
    };
    if let Err(e) = backend.apply(batch) {
        panic!("template copy: {e}");
    }
    let log = MemoryLog::new();
    if let Err(e) = log.append(&template.records) {
        panic!("template log copy: {e}");
    }
    let store = match Store::with_backend(Arc::new(backend), Arc::new(log), Default::default()) {
        Ok(store) => store,
        Err(e) => panic!("template store reopens: {e}"),
    };
    match Repo::with_store(store, identity()) {
        Ok(repo) => repo,
        Err(e) => panic!("template repo reopens: {e}"),
    }
}

/// An empty in-memory repo (no document at all).
pub fn empty_repo() -> Repo {
    match Repo::with_store(Store::memory(), identity()) {
        Ok(repo) => repo,
        Err(e) => panic!("an empty repo: {e}"),
    }
}

/// How many blocks the repo stores (to tell whether an input stored anything).
pub fn n_blocks(repo: &Repo) -> usize {
    repo.store().log_end().0 as usize
}

/// Asserts that `fsck` finds nothing wrong; `context` says what happened before.
pub fn assert_fsck(repo: &Repo, context: &dyn std::fmt::Debug) {
    match repo.fsck() {
        Ok(report) => assert!(report.is_ok(), "fsck after {context:?}: {report:?}"),
        Err(e) => panic!("fsck fails after {context:?}: {e}"),
    }
}
