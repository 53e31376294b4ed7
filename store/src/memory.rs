//! The in-memory twin of the sled backend, with simulated crashes.
//!
//! Built for many replicas in one process (`weft lab` keeps hundreds), so it is lean: keys and
//! values are boxed slices, scans copy out a chunk at a time, and a backend that is never crashed
//! keeps no second copy. Blocks are not kept here but in a [`MemoryLog`](crate::MemoryLog), whose
//! logs built on one [`SharedValues`] hold each block once between them.

use std::{
    collections::BTreeMap,
    ops::Bound,
    sync::{Arc, Mutex, MutexGuard},
};

use crate::{
    backend::{Backend, BackendError, Entry, EntryIter, RawBatch, RawOp},
    sync_util::lock,
    Cid, CidMap,
};

type Key = Box<[u8]>;
type Map = BTreeMap<Key, Box<[u8]>>;

/// Blocks shared between the [`MemoryLog`](crate::MemoryLog)s built on it: each distinct block
/// is held once. Replicas of one document store the same blocks, so a process that keeps many of
/// them in memory (a simulation) holds each once instead of once per replica. A block stays as
/// long as the pool.
#[derive(Debug, Default)]
pub struct SharedValues(Mutex<CidMap<Arc<[u8]>>>);

impl SharedValues {
    /// An empty pool.
    pub fn new() -> SharedValues {
        SharedValues::default()
    }

    /// The number of distinct blocks held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, CidMap<Arc<[u8]>>> {
        // Only inserts and lookups happen under the lock: a poisoned map is still whole.
        lock(&self.0)
    }

    /// The pool's copy of the block `cid` (whose bytes the caller verified), added if new.
    pub(crate) fn block(&self, cid: &Cid, bytes: &[u8]) -> Arc<[u8]> {
        self.lock()
            .entry(*cid)
            .or_insert_with(|| bytes.into())
            .clone()
    }
}

/// How many entries a scan copies out per lock: scans are lazy, so taking the first few
/// entries of a large range costs a few entries, not the range.
const SCAN_CHUNK: usize = 64;

#[derive(Debug, Default)]
struct Inner {
    /// What readers see: every applied batch.
    live: Map,
    /// What survives a crash: the state at the last flush (`None` for a backend that never
    /// crashes, which then keeps no second copy).
    durable: Option<Map>,
}

/// An in-memory backend. Clones share the same data, so a test can "reopen" a store by building a
/// new [`Store`](crate::Store) on a clone, and can [`crash`](MemoryBackend::crash) it to drop
/// every batch applied since the last flush.
#[derive(Debug, Clone)]
pub struct MemoryBackend {
    inner: Arc<Mutex<Inner>>,
}

impl Default for MemoryBackend {
    fn default() -> MemoryBackend {
        MemoryBackend::new()
    }
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::build(Some(Map::new()))
    }

    /// An empty backend that is never crashed, so `flush` has nothing to copy
    /// ([`Store::memory`](crate::Store::memory), which never hands its backend out).
    pub(crate) fn volatile() -> MemoryBackend {
        MemoryBackend::build(None)
    }

    fn build(durable: Option<Map>) -> MemoryBackend {
        MemoryBackend {
            inner: Arc::new(Mutex::new(Inner {
                live: Map::new(),
                durable,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-written (every mutation is a
        // single assignment or a loop over an owned batch), so a poisoned lock is still usable.
        lock(&self.inner)
    }

    /// Simulates a power cut: every batch applied after the last flush is lost.
    pub fn crash(&self) {
        let mut inner = self.lock();
        let durable = inner.durable.clone().unwrap_or_default();
        inner.live = durable;
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
        Ok(self.lock().live.get(key).map(|v| v.to_vec()))
    }

    fn contains(&self, key: &[u8]) -> Result<bool, BackendError> {
        Ok(self.lock().live.contains_key(key))
    }

    fn scan(
        &self,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> EntryIter<'static> {
        Box::new(Scan {
            backend: self.clone(),
            lower,
            upper,
            reverse,
            chunk: Vec::new().into_iter(),
            done: false,
        })
    }

    fn apply(&self, batch: RawBatch) -> Result<(), BackendError> {
        let ops: Vec<(Key, Option<Box<[u8]>>)> = batch
            .ops
            .into_iter()
            .map(|op| match op {
                RawOp::Put(k, v) => (k.into_boxed_slice(), Some(v.into_boxed_slice())),
                RawOp::Delete(k) => (k.into_boxed_slice(), None),
            })
            .collect();
        let mut inner = self.lock();
        for (k, v) in ops {
            match v {
                Some(v) => {
                    inner.live.insert(k, v);
                }
                None => {
                    inner.live.remove(&k);
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), BackendError> {
        let mut inner = self.lock();
        if inner.durable.is_some() {
            inner.durable = Some(inner.live.clone());
        }
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64, BackendError> {
        Ok(0)
    }
}

/// A lazy scan: copies out [`SCAN_CHUNK`] entries per lock and resumes after the last one, so
/// it holds no lock between items and sees writes made meanwhile beyond where it has read (as a
/// sled iterator may).
struct Scan {
    backend: MemoryBackend,
    /// The part of the range not yet copied out.
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    chunk: std::vec::IntoIter<Entry>,
    done: bool,
}

impl Scan {
    fn refill(&mut self) {
        let inner = self.backend.lock();
        let bounds = (
            bound_ref(&self.lower).map(|k| k as &[u8]),
            bound_ref(&self.upper).map(|k| k as &[u8]),
        );
        if ranges_empty(&bounds) {
            self.done = true;
            return;
        }
        let range = inner.live.range::<[u8], _>(bounds);
        let chunk: Vec<Entry> = if self.reverse {
            range
                .rev()
                .take(SCAN_CHUNK)
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect()
        } else {
            range
                .take(SCAN_CHUNK)
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect()
        };
        drop(inner);
        if chunk.len() < SCAN_CHUNK {
            self.done = true;
        } else if let Some((last, _)) = chunk.last() {
            if self.reverse {
                self.upper = Bound::Excluded(last.clone());
            } else {
                self.lower = Bound::Excluded(last.clone());
            }
        }
        self.chunk = chunk.into_iter();
    }
}

impl Iterator for Scan {
    type Item = Result<Entry, BackendError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.chunk.next() {
                return Some(Ok(e));
            }
            if self.done {
                return None;
            }
            self.refill();
        }
    }
}

fn bound_ref(b: &Bound<Vec<u8>>) -> Bound<&Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Whether a range is empty in a way `BTreeMap::range` would panic on (start after end, or
/// equal and excluded).
pub(crate) fn ranges_empty(bounds: &(Bound<&[u8]>, Bound<&[u8]>)) -> bool {
    use Bound::{Excluded, Included};
    match *bounds {
        (Included(a), Included(b)) => a > b,
        (Included(a), Excluded(b)) | (Excluded(a), Included(b)) => a >= b,
        (Excluded(a), Excluded(b)) => a >= b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &[u8], v: &[u8]) -> RawOp {
        RawOp::Put(k.to_vec(), v.to_vec())
    }

    fn keys(it: EntryIter<'_>) -> Vec<Vec<u8>> {
        it.map(|e| e.map(|(k, _)| k))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn long_and_short_keys_sort_as_bytes() {
        let b = MemoryBackend::new();
        let long = vec![7u8; 200];
        let mut longer = long.clone();
        longer.push(0);
        b.apply(RawBatch {
            ops: vec![
                put(&longer, b"c"),
                put(&[7], b"a"),
                put(&long, b"b"),
                put(&[8], b"d"),
            ],
        })
        .unwrap();
        let all = keys(b.scan(Bound::Unbounded, Bound::Unbounded, false));
        assert_eq!(all, vec![vec![7], long.clone(), longer.clone(), vec![8]]);
        assert_eq!(b.get(&long).unwrap().as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn scans_resume_across_chunks_in_both_directions() {
        let b = MemoryBackend::new();
        let n = SCAN_CHUNK * 3 + 5;
        let ops = (0..n as u16).map(|i| put(&i.to_be_bytes(), b"")).collect();
        b.apply(RawBatch { ops }).unwrap();
        let want: Vec<Vec<u8>> = (1..n as u16 - 1)
            .map(|i| i.to_be_bytes().to_vec())
            .collect();
        let lower = Bound::Excluded(0u16.to_be_bytes().to_vec());
        let upper = Bound::Excluded((n as u16 - 1).to_be_bytes().to_vec());
        let fwd = keys(b.scan(lower.clone(), upper.clone(), false));
        assert_eq!(fwd, want);
        let mut back = keys(b.scan(lower, upper, true));
        back.reverse();
        assert_eq!(back, want);
    }

    #[test]
    fn an_inverted_or_empty_range_yields_nothing() {
        let b = MemoryBackend::new();
        b.apply(RawBatch {
            ops: vec![put(b"a", b""), put(b"b", b"")],
        })
        .unwrap();
        let inverted = b.scan(
            Bound::Included(b"b".to_vec()),
            Bound::Included(b"a".to_vec()),
            false,
        );
        assert_eq!(inverted.count(), 0);
        let empty = b.scan(
            Bound::Excluded(b"a".to_vec()),
            Bound::Excluded(b"a".to_vec()),
            true,
        );
        assert_eq!(empty.count(), 0);
    }

    #[test]
    fn a_volatile_backend_keeps_no_durable_copy() {
        let b = MemoryBackend::volatile();
        b.apply(RawBatch {
            ops: vec![put(b"a", b"1")],
        })
        .unwrap();
        b.flush().unwrap();
        assert!(b.lock().durable.is_none());
        assert_eq!(b.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    }
}
