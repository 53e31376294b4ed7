//! [`Disk`]: a store in memory that can crash.

use std::sync::Arc;

use weft_dag::{Durability, Identity, Repo};
use weft_store::{MemoryBackend, MemoryLog, OpenError, Options, Store};

/// A store's database and log in memory, which a crash cuts back to what was durable. Clones
/// share them: a store opened again on a disk sees what the last one left.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    backend: MemoryBackend,
    log: MemoryLog,
}

impl Disk {
    /// An empty disk.
    pub fn new() -> Disk {
        Disk::default()
    }

    /// Opens a store on this disk (as [`Store::with_backend`] does: running migrations, or
    /// refusing a format it does not know).
    pub fn open(&self, options: Options) -> Result<Store, OpenError> {
        Store::with_backend(
            Arc::new(self.backend.clone()),
            Arc::new(self.log.clone()),
            options,
        )
    }

    /// A store on this disk, syncing every commit or only when flushed.
    pub fn store(&self, durability: Durability) -> Store {
        let options = Options {
            sync_commits: durability == Durability::EveryCommit,
            ..Options::default()
        };
        self.open(options)
            .unwrap_or_else(|e| panic!("a store on the disk: {e}"))
    }

    /// A repo on this disk.
    pub fn repo(&self, id: &Identity, durability: Durability) -> Repo {
        Repo::with_store(self.store(durability), id.clone())
            .unwrap_or_else(|e| panic!("a repo on the disk: {e}"))
    }

    /// The process holding `holder` (a repo, a store) dies, so nothing runs at close; then the
    /// power goes: whatever was not durable is lost.
    pub fn crash<T>(&self, holder: T) {
        std::mem::forget(holder);
        self.backend.crash();
        self.log.crash();
    }
}
