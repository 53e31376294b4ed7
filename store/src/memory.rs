//! The in-memory twin of the sled backend, with simulated crashes.

use std::{
    collections::BTreeMap,
    ops::Bound,
    sync::{Arc, Mutex, MutexGuard},
};

use crate::backend::{Backend, BackendError, EntryIter, RawBatch, RawOp};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Default)]
struct Inner {
    /// What readers see: every applied batch.
    live: Map,
    /// What survives a crash: the state at the last flush.
    durable: Map,
}

/// An in-memory backend. Clones share the same data, so a test can "reopen" a store by building a
/// new [`Store`](crate::Store) on a clone, and can [`crash`](MemoryBackend::crash) it to drop
/// every batch applied since the last flush.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-written (every mutation is a
        // single assignment or a loop over an owned batch), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Simulates a power cut: every batch applied after the last flush is lost.
    pub fn crash(&self) {
        let mut inner = self.lock();
        inner.live = inner.durable.clone();
    }

    /// The number of stored entries.
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Backend for MemoryBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.lock().live.get(key).cloned())
    }

    fn contains(&self, key: &[u8]) -> Result<bool, BackendError> {
        Ok(self.lock().live.contains_key(key))
    }

    fn scan(&self, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>, reverse: bool) -> EntryIter<'_> {
        // Snapshot the range so the iterator holds no lock.
        let inner = self.lock();
        let mut items: Vec<_> = inner
            .live
            .range((lower, upper))
            .map(|(k, v)| Ok((k.clone(), v.clone())))
            .collect();
        drop(inner);
        if reverse {
            items.reverse();
        }
        Box::new(items.into_iter())
    }

    fn apply(&self, batch: RawBatch) -> Result<(), BackendError> {
        let mut inner = self.lock();
        for op in batch.ops {
            match op {
                RawOp::Put(k, v) => {
                    inner.live.insert(k, v);
                }
                RawOp::Delete(k) => {
                    inner.live.remove(&k);
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), BackendError> {
        let mut inner = self.lock();
        inner.durable = inner.live.clone();
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64, BackendError> {
        Ok(0)
    }
}
