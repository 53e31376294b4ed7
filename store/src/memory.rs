//! The in-memory twin of the sled backend, with simulated crashes.
//!
//! Built for many replicas in one process (`weft lab` keeps hundreds), so it is lean: keys and
//! values are boxed slices, scans copy out a chunk at a time, a backend that is never crashed
//! keeps no second copy, and backends built on one [`SharedValues`] keep a large value that
//! they all store (a block, a change's index entry) once between them.

use std::{
    collections::{BTreeMap, HashSet},
    ops::Bound,
    sync::{Arc, Mutex, MutexGuard},
};

use crate::{
    backend::{Backend, BackendError, Entry, EntryIter, RawBatch, RawOp},
    Keyspace,
};

type Key = Box<[u8]>;
type Map = BTreeMap<Key, Value>;

/// Values at least this long are shared through a [`SharedValues`]: blocks (hundreds of bytes)
/// and change index entries (about 130) are, keys' small values are not worth a lookup.
const SHARE_MIN: usize = 96;

/// A stored value: owned, or shared with other backends.
#[derive(Debug, Clone)]
enum Value {
    Owned(Box<[u8]>),
    Shared(Arc<[u8]>),
}

impl std::ops::Deref for Value {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Value::Owned(v) => v,
            Value::Shared(v) => v,
        }
    }
}

/// Values shared between the [`MemoryBackend`]s built on it: each distinct block or change
/// index entry of at least 96 bytes is held once. Replicas of one document store the same
/// blocks and the same change index entries, so a process that keeps many of them in memory (a
/// simulation) holds each once instead of once per replica. A value stays as long as the pool, even after every
/// backend deleted it.
#[derive(Debug, Default)]
pub struct SharedValues(Mutex<HashSet<Arc<[u8]>, foldhash::fast::RandomState>>);

impl SharedValues {
    /// An empty pool.
    pub fn new() -> SharedValues {
        SharedValues::default()
    }

    /// The number of distinct values held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<Arc<[u8]>, foldhash::fast::RandomState>> {
        // Only inserts and lookups happen under the lock: a poisoned set is still whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn intern(&self, v: Vec<u8>) -> Arc<[u8]> {
        let mut set = self.lock();
        if let Some(shared) = set.get(v.as_slice()) {
            return shared.clone();
        }
        let shared: Arc<[u8]> = v.into();
        set.insert(shared.clone());
        shared
    }
}

/// Whether the value under a full key is never changed nor removed once written (blocks and
/// change index entries, both named by a CID): only those go to a [`SharedValues`], which never
/// lets a value go.
fn is_immutable(key: &[u8]) -> bool {
    matches!(key.first(), Some(&t) if t == Keyspace::BLOCKS.tag || t == Keyspace::CHANGES.tag)
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
    shared: Option<Arc<SharedValues>>,
}

impl Default for MemoryBackend {
    fn default() -> MemoryBackend {
        MemoryBackend::new()
    }
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::build(Some(Map::new()), None)
    }

    /// An empty backend that is never crashed, so `flush` has nothing to copy
    /// ([`Store::memory`](crate::Store::memory), which never hands its backend out).
    pub(crate) fn volatile() -> MemoryBackend {
        MemoryBackend::build(None, None)
    }

    /// An empty backend that is never crashed and keeps its large values in `pool`, shared with
    /// the other backends built on it ([`Store::memory_shared`](crate::Store::memory_shared)).
    pub(crate) fn volatile_shared(pool: Arc<SharedValues>) -> MemoryBackend {
        MemoryBackend::build(None, Some(pool))
    }

    fn build(durable: Option<Map>, shared: Option<Arc<SharedValues>>) -> MemoryBackend {
        MemoryBackend {
            inner: Arc::new(Mutex::new(Inner {
                live: Map::new(),
                durable,
            })),
            shared,
        }
    }

    fn value(&self, key: &[u8], v: Vec<u8>) -> Value {
        match &self.shared {
            Some(pool) if v.len() >= SHARE_MIN && is_immutable(key) => {
                Value::Shared(pool.intern(v))
            }
            _ => Value::Owned(v.into_boxed_slice()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-written (every mutation is a
        // single assignment or a loop over an owned batch), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
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

    fn scan(&self, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>, reverse: bool) -> EntryIter<'_> {
        Box::new(Scan {
            backend: self,
            lower,
            upper,
            reverse,
            chunk: Vec::new().into_iter(),
            done: false,
        })
    }

    fn apply(&self, batch: RawBatch) -> Result<(), BackendError> {
        // Values are looked up in the shared pool before the lock is taken.
        let ops: Vec<(Key, Option<Value>)> = batch
            .ops
            .into_iter()
            .map(|op| match op {
                RawOp::Put(k, v) => {
                    let v = self.value(&k, v);
                    (k.into_boxed_slice(), Some(v))
                }
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
struct Scan<'a> {
    backend: &'a MemoryBackend,
    /// The part of the range not yet copied out.
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    chunk: std::vec::IntoIter<Entry>,
    done: bool,
}

impl Scan<'_> {
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
        let copy = |(k, v): (&Key, &Value)| (k.to_vec(), v.to_vec());
        let chunk: Vec<Entry> = if self.reverse {
            range.rev().take(SCAN_CHUNK).map(copy).collect()
        } else {
            range.take(SCAN_CHUNK).map(copy).collect()
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

impl Iterator for Scan<'_> {
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
fn ranges_empty(bounds: &(Bound<&[u8]>, Bound<&[u8]>)) -> bool {
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
    fn backends_on_one_pool_share_large_immutable_values_only() {
        let pool = Arc::new(SharedValues::new());
        let a = MemoryBackend::volatile_shared(pool.clone());
        let b = MemoryBackend::volatile_shared(pool.clone());
        let big = vec![1u8; SHARE_MIN];
        let block = [&[Keyspace::BLOCKS.tag][..], b"cid"].concat();
        let entry = [&[Keyspace::CHANGES.tag][..], b"cid"].concat();
        let small = [&[Keyspace::BLOCKS.tag][..], b"small"].concat();
        let head = [&[Keyspace::HEADS.tag][..], b"big"].concat();
        for be in [&a, &b] {
            be.apply(RawBatch {
                ops: vec![
                    put(&block, &big),
                    put(&entry, &big),
                    put(&small, b"x"),
                    put(&head, &big),
                ],
            })
            .unwrap();
        }
        // One shared copy of `big`: the small value and the mutable keyspace's are owned.
        assert_eq!(pool.len(), 1);
        assert!(matches!(a.lock().live[&block[..]], Value::Shared(_)));
        assert!(matches!(a.lock().live[&entry[..]], Value::Shared(_)));
        assert!(matches!(a.lock().live[&small[..]], Value::Owned(_)));
        assert!(matches!(a.lock().live[&head[..]], Value::Owned(_)));
        assert_eq!(a.get(&block).unwrap(), Some(big.clone()));
        assert_eq!(b.get(&small).unwrap().as_deref(), Some(&b"x"[..]));
        // A delete in one backend leaves the other's value alone.
        a.apply(RawBatch {
            ops: vec![RawOp::Delete(block.clone())],
        })
        .unwrap();
        assert_eq!(a.get(&block).unwrap(), None);
        assert_eq!(b.get(&block).unwrap(), Some(big));
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
