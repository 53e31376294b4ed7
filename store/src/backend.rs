//! The storage backend trait and the raw write batch it applies.
//!
//! A backend is one ordered byte-keyed map with atomic batches and an explicit flush. The
//! [`Store`](crate::Store) builds keyspaces, blocks and verification on top, so a backend stays
//! small enough to have a faithful in-memory twin ([`MemoryBackend`](crate::MemoryBackend)).

use std::ops::Bound;

/// An error from the backend itself (IO, a corrupt file), with no weft context yet.
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A key-value pair as stored.
pub type Entry = (Vec<u8>, Vec<u8>);

/// An iterator over stored entries.
pub type EntryIter<'a> = Box<dyn Iterator<Item = Result<Entry, BackendError>> + Send + 'a>;

/// One write in a [`RawBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawOp {
    /// Insert or replace.
    Put(Vec<u8>, Vec<u8>),
    /// Remove if present.
    Delete(Vec<u8>),
}

/// Writes that a backend applies all together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawBatch {
    /// The writes, applied in order.
    pub ops: Vec<RawOp>,
}

/// An ordered key-value map with atomic batches: what weft needs from a database.
///
/// Invariants every implementation keeps:
/// - `apply` is atomic: after a crash either every op of the batch is visible or none is;
/// - `flush` returns only when every batch applied before it is durable;
/// - `scan` yields entries in ascending byte order of the key (or descending when `reverse`).
///
/// A scan is not a snapshot: a batch applied while it runs may be seen in part (sled's
/// iterators and the memory backend's chunked scans both behave so); a caller that needs one
/// consistent view holds off the writers.
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// Reads one value.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError>;
    /// Whether a key is present. Backends should override this to avoid copying the value.
    fn contains(&self, key: &[u8]) -> Result<bool, BackendError> {
        Ok(self.get(key)?.is_some())
    }
    /// Iterates the entries whose keys fall in the range.
    fn scan(
        &self,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> EntryIter<'static>;
    /// Applies a batch atomically.
    fn apply(&self, batch: RawBatch) -> Result<(), BackendError>;
    /// Makes every applied batch durable.
    fn flush(&self) -> Result<(), BackendError>;
    /// Bytes used on disk (0 for memory).
    fn size_on_disk(&self) -> Result<u64, BackendError>;
}
