//! [`Store`]: verified blocks and named keyspaces with atomic batches, over any [`Backend`].

use std::{
    collections::HashMap,
    ops::Bound,
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::{
    backend::{Backend, BackendError, RawBatch, RawOp},
    cid::{Cid, HashMismatch},
    layout::Keyspace,
    memory::{MemoryBackend, SharedValues},
    migrate,
    sled_backend::SledBackend,
};

/// Default maximum block size: 1 MiB.
pub const DEFAULT_MAX_BLOCK_SIZE: usize = 1 << 20;

/// Knobs for opening a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Blocks larger than this are refused.
    pub max_block_size: usize,
    /// Page cache size for the sled backend (default 32 MiB: sled overshoots it, and a clone of
    /// 100,000 changes then peaks near 150 MB of RSS; 64 MiB cost 250 MB for no measured gain).
    pub cache_bytes: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_block_size: DEFAULT_MAX_BLOCK_SIZE,
            cache_bytes: 32 << 20,
        }
    }
}

/// Errors from opening a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another process holds the database.
    #[error("the database at {} is open in another process", path.display())]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// The directory or a file in it could not be read or written.
    #[error("cannot open the database at {}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database files are damaged.
    #[error("the database at {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The database directory.
        path: PathBuf,
        /// What the backend found.
        reason: String,
    },
    /// The database was written by a newer weft.
    #[error(
        "the database at {} has format version {found}, but this weft supports up to {supported}; upgrade weft",
        path.display()
    )]
    UnsupportedFormat {
        /// The database directory (empty for memory).
        path: PathBuf,
        /// The version on disk.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// A migration failed.
    #[error("migrating the database at {} from format {from} failed: {source}", path.display())]
    Migration {
        /// The database directory (empty for memory).
        path: PathBuf,
        /// The version migrated from.
        from: u32,
        /// What went wrong.
        source: Box<Error>,
    },
    /// Any other backend failure.
    #[error("cannot open the database at {}: {source}", path.display())]
    Backend {
        /// The database directory.
        path: PathBuf,
        /// The backend error.
        source: BackendError,
    },
}

/// Errors from reading or writing a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend failed while doing `op`.
    #[error("storage error while {op}: {source}")]
    Backend {
        /// What was being done.
        op: &'static str,
        /// The backend error.
        source: BackendError,
    },
    /// A block's bytes do not hash to its CID.
    #[error(transparent)]
    HashMismatch(#[from] HashMismatch),
    /// A block is over the size limit.
    #[error("block {cid} is {size} bytes, over the {max}-byte limit")]
    BlockTooLarge {
        /// The block.
        cid: Cid,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A stored entry cannot be read back.
    #[error("corrupt entry in keyspace {keyspace}: {reason}")]
    CorruptEntry {
        /// Keyspace name.
        keyspace: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    fn backend(op: &'static str) -> impl FnOnce(BackendError) -> Error {
        move |source| Error::Backend { op, source }
    }
}

/// Verified blocks plus named keyspaces, over a [`Backend`].
///
/// Cloning is cheap and clones share the backend.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    options: Options,
    path: Option<PathBuf>,
}

fn full_key(ks: Keyspace, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(ks.tag);
    k.extend_from_slice(key);
    k
}

/// The smallest key greater than every key that starts with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl Store {
    /// Opens or creates a sled-backed store in the directory `path`.
    pub fn open(path: &Path, options: Options) -> Result<Store, OpenError> {
        let backend = SledBackend::open(path, options.cache_bytes)?;
        Store::with_backend_at(Arc::new(backend), options, Some(path.to_path_buf()))
    }

    /// A fresh in-memory store.
    pub fn memory() -> Store {
        Store::fresh_memory(MemoryBackend::volatile())
    }

    /// A fresh in-memory store that keeps its large values (blocks, change index entries) in
    /// `pool`, once for every store built on it: for many replicas in one process.
    pub fn memory_shared(pool: Arc<SharedValues>) -> Store {
        Store::fresh_memory(MemoryBackend::volatile_shared(pool))
    }

    fn fresh_memory(backend: MemoryBackend) -> Store {
        match Store::with_backend(Arc::new(backend), Options::default()) {
            Ok(store) => store,
            // A fresh memory backend has no format to disagree with and cannot fail IO.
            Err(e) => unreachable!("fresh memory store cannot fail to open: {e}"),
        }
    }

    /// Opens a store over any backend, running migrations as needed.
    pub fn with_backend(backend: Arc<dyn Backend>, options: Options) -> Result<Store, OpenError> {
        Store::with_backend_at(backend, options, None)
    }

    fn with_backend_at(
        backend: Arc<dyn Backend>,
        options: Options,
        path: Option<PathBuf>,
    ) -> Result<Store, OpenError> {
        let store = Store {
            backend,
            options,
            path,
        };
        migrate::run(&store, migrate::MIGRATIONS)?;
        Ok(store)
    }

    /// The database directory, for a sled store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Reads a block by CID. The bytes were verified when they were written; use
    /// [`Cid::verify`] to check them again (as `fsck` does).
    pub fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, Error> {
        self.get(Keyspace::BLOCKS, &cid.to_bytes())
    }

    /// Whether a block is present.
    pub fn has_block(&self, cid: &Cid) -> Result<bool, Error> {
        self.contains(Keyspace::BLOCKS, &cid.to_bytes())
    }

    /// Verifies and stores one block in its own batch.
    pub fn put_block(&self, cid: &Cid, bytes: &[u8]) -> Result<(), Error> {
        let mut batch = self.batch();
        batch.put_block(cid, bytes)?;
        batch.commit()
    }

    /// Iterates every stored block as `(cid, bytes)`, in CID order.
    pub fn blocks(&self) -> impl Iterator<Item = Result<(Cid, Vec<u8>), Error>> + '_ {
        self.scan_prefix(Keyspace::BLOCKS, &[]).map(|r| {
            let (k, v) = r?;
            let cid = Cid::from_bytes(&k).map_err(|e| Error::CorruptEntry {
                keyspace: Keyspace::BLOCKS.name,
                reason: e.to_string(),
            })?;
            Ok((cid, v))
        })
    }

    /// Reads one value from a keyspace.
    pub fn get(&self, ks: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.backend
            .get(&full_key(ks, key))
            .map_err(Error::backend("reading"))
    }

    /// Whether a key is present in a keyspace.
    pub fn contains(&self, ks: Keyspace, key: &[u8]) -> Result<bool, Error> {
        self.backend
            .contains(&full_key(ks, key))
            .map_err(Error::backend("reading"))
    }

    /// Iterates the entries of `ks` whose key starts with `prefix`, ascending. Keys are returned
    /// without the keyspace tag.
    pub fn scan_prefix(
        &self,
        ks: Keyspace,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + Send + '_ {
        self.scan(ks, prefix, false)
    }

    /// Like [`scan_prefix`](Store::scan_prefix), descending.
    pub fn scan_prefix_rev(
        &self,
        ks: Keyspace,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + Send + '_ {
        self.scan(ks, prefix, true)
    }

    fn scan(
        &self,
        ks: Keyspace,
        prefix: &[u8],
        reverse: bool,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + Send + '_ {
        let start = full_key(ks, prefix);
        let upper = match prefix_end(&start) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        self.backend
            .scan(Bound::Included(start), upper, reverse)
            .map(|r| match r {
                Ok((mut k, v)) => {
                    k.remove(0);
                    Ok((k, v))
                }
                Err(source) => Err(Error::Backend {
                    op: "scanning",
                    source,
                }),
            })
    }

    /// Starts an atomic batch of writes across keyspaces.
    pub fn batch(&self) -> Batch<'_> {
        self.batch_with_capacity(0)
    }

    /// Starts a batch with room for about `writes` writes before it grows.
    pub fn batch_with_capacity(&self, writes: usize) -> Batch<'_> {
        Batch {
            store: self,
            writes: HashMap::with_capacity_and_hasher(writes, Default::default()),
            put_tags: [0; 4],
        }
    }

    /// Makes every committed batch durable.
    pub fn flush(&self) -> Result<(), Error> {
        self.backend.flush().map_err(Error::backend("flushing"))
    }

    /// Bytes used on disk.
    pub fn size_on_disk(&self) -> Result<u64, Error> {
        self.backend
            .size_on_disk()
            .map_err(Error::backend("measuring size"))
    }

    /// Writes `bytes` under `cid` **without verification**. This exists only so that tests can
    /// plant a corrupt block and prove that `fsck` finds it; nothing else may call it.
    #[doc(hidden)]
    pub fn put_block_unverified_for_tests(&self, cid: &Cid, bytes: &[u8]) -> Result<(), Error> {
        let batch = RawBatch {
            ops: vec![RawOp::Put(
                full_key(Keyspace::BLOCKS, &cid.to_bytes()),
                bytes.to_vec(),
            )],
        };
        self.backend.apply(batch).map_err(Error::backend("writing"))
    }
}

/// Writes to several keyspaces that land together or not at all.
///
/// Reads through the batch see its own pending writes, so a layer above can build a batch step by
/// step. Dropping a batch without [`commit`](Batch::commit) discards it.
#[derive(Debug)]
pub struct Batch<'a> {
    store: &'a Store,
    /// Pending writes by full key (a hash map: a batch is read by key, never in order).
    writes: HashMap<Vec<u8>, Option<Vec<u8>>, foldhash::fast::RandomState>,
    /// The keyspace tags that have had a put staged, one bit each: lets
    /// [`staged_keys`](Batch::staged_keys) answer at once for a keyspace this batch never put to.
    put_tags: [u64; 4],
}

impl Batch<'_> {
    /// Verifies `bytes` against `cid` and the size limit, then stages the block.
    pub fn put_block(&mut self, cid: &Cid, bytes: &[u8]) -> Result<(), Error> {
        let max = self.store.options.max_block_size;
        if bytes.len() > max {
            return Err(Error::BlockTooLarge {
                cid: *cid,
                size: bytes.len(),
                max,
            });
        }
        cid.verify(bytes)?;
        self.mark_put(Keyspace::BLOCKS);
        self.writes.insert(
            full_key(Keyspace::BLOCKS, &cid.to_bytes()),
            Some(bytes.to_vec()),
        );
        Ok(())
    }

    /// The store this batch writes to (reads through it do not see the pending writes).
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Stages a write. Blocks must go through [`put_block`](Batch::put_block).
    pub fn put(&mut self, ks: Keyspace, key: &[u8], value: &[u8]) {
        debug_assert_ne!(ks, Keyspace::BLOCKS, "blocks go through put_block");
        self.mark_put(ks);
        self.writes.insert(full_key(ks, key), Some(value.to_vec()));
    }

    fn mark_put(&mut self, ks: Keyspace) {
        let t = ks.tag as usize;
        self.put_tags[t / 64] |= 1 << (t % 64);
    }

    fn has_puts(&self, ks: Keyspace) -> bool {
        let t = ks.tag as usize;
        self.put_tags[t / 64] & (1 << (t % 64)) != 0
    }

    /// Stages a removal.
    pub fn delete(&mut self, ks: Keyspace, key: &[u8]) {
        self.writes.insert(full_key(ks, key), None);
    }

    /// Reads a value as it will be after this batch commits.
    pub fn get(&self, ks: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let k = full_key(ks, key);
        match self.writes.get(&k) {
            Some(pending) => Ok(pending.clone()),
            None => self
                .store
                .backend
                .get(&k)
                .map_err(Error::backend("reading")),
        }
    }

    /// Whether the key will be present after this batch commits.
    pub fn contains(&self, ks: Keyspace, key: &[u8]) -> Result<bool, Error> {
        let k = full_key(ks, key);
        match self.writes.get(&k) {
            Some(pending) => Ok(pending.is_some()),
            None => self
                .store
                .backend
                .contains(&k)
                .map_err(Error::backend("reading")),
        }
    }

    /// The keys of `ks` under `prefix` that this batch puts, without the keyspace tag, in no
    /// particular order (a scan of the store does not see them before the batch commits).
    ///
    /// Free for a keyspace this batch never put to; otherwise it looks at every staged write.
    pub fn staged_keys(&self, ks: Keyspace, prefix: &[u8]) -> Vec<Vec<u8>> {
        if !self.has_puts(ks) {
            return Vec::new();
        }
        let start = full_key(ks, prefix);
        self.writes
            .iter()
            .filter(|(k, v)| v.is_some() && k.starts_with(&start))
            .map(|(k, _)| k[1..].to_vec())
            .collect()
    }

    /// The number of staged writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Applies every staged write atomically. It is not flushed; see [`Store::flush`].
    pub fn commit(self) -> Result<(), Error> {
        if self.writes.is_empty() {
            return Ok(());
        }
        // In no particular order: the keys are distinct, so the order cannot change the result,
        // and the backend applies them all or none (sled's own batch is a hash map too).
        let ops = self
            .writes
            .into_iter()
            .map(|(k, v)| match v {
                Some(v) => RawOp::Put(k, v),
                None => RawOp::Delete(k),
            })
            .collect();
        self.store
            .backend
            .apply(RawBatch { ops })
            .map_err(Error::backend("committing a batch"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codec;

    #[test]
    fn prefix_end_handles_ff() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }

    #[test]
    fn put_block_verifies_hash_and_size() {
        let store = Store::memory();
        let cid = Cid::hash(Codec::Raw, b"good");
        assert!(matches!(
            store.put_block(&cid, b"evil"),
            Err(Error::HashMismatch(_))
        ));
        assert!(!store.has_block(&cid).unwrap());
        store.put_block(&cid, b"good").unwrap();
        assert_eq!(
            store.get_block(&cid).unwrap().as_deref(),
            Some(&b"good"[..])
        );

        let big = vec![7u8; DEFAULT_MAX_BLOCK_SIZE + 1];
        let big_cid = Cid::hash(Codec::Raw, &big);
        assert!(matches!(
            store.put_block(&big_cid, &big),
            Err(Error::BlockTooLarge { .. })
        ));
        assert!(!store.has_block(&big_cid).unwrap());
    }

    #[test]
    fn batch_is_atomic_and_reads_its_writes() {
        let store = Store::memory();
        let mut b = store.batch();
        b.put(Keyspace::HEADS, b"a", b"1");
        assert_eq!(
            b.get(Keyspace::HEADS, b"a").unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(store.get(Keyspace::HEADS, b"a").unwrap(), None);
        b.commit().unwrap();
        assert_eq!(
            store.get(Keyspace::HEADS, b"a").unwrap().as_deref(),
            Some(&b"1"[..])
        );
        let mut b = store.batch();
        b.delete(Keyspace::HEADS, b"a");
        drop(b);
        assert!(store.contains(Keyspace::HEADS, b"a").unwrap());
    }

    #[test]
    fn batch_contains_sees_its_pending_writes() {
        let store = Store::memory();
        let mut b = store.batch();
        b.put(Keyspace::HEADS, b"kept", b"");
        b.put(Keyspace::HEADS, b"gone", b"");
        b.commit().unwrap();
        let mut b = store.batch();
        b.put(Keyspace::HEADS, b"new", b"");
        b.delete(Keyspace::HEADS, b"gone");
        assert!(b.contains(Keyspace::HEADS, b"kept").unwrap());
        assert!(b.contains(Keyspace::HEADS, b"new").unwrap());
        assert!(!b.contains(Keyspace::HEADS, b"gone").unwrap());
        assert!(!b.contains(Keyspace::HEADS, b"never").unwrap());
        assert!(!store.contains(Keyspace::HEADS, b"new").unwrap());
        assert!(store.contains(Keyspace::HEADS, b"gone").unwrap());
    }

    #[test]
    fn staged_keys_lists_the_puts_of_one_keyspace_and_prefix() {
        let store = Store::memory();
        let mut b = store.batch();
        assert!(b.staged_keys(Keyspace::HEADS, b"").is_empty());
        b.put(Keyspace::HEADS, b"ab1", b"");
        b.put(Keyspace::HEADS, b"ab2", b"");
        b.put(Keyspace::HEADS, b"ac", b"");
        b.put(Keyspace::BY_HEIGHT, b"ab3", b"");
        b.delete(Keyspace::HEADS, b"ab4");
        let mut got = b.staged_keys(Keyspace::HEADS, b"ab");
        got.sort();
        assert_eq!(got, vec![b"ab1".to_vec(), b"ab2".to_vec()]);
        assert!(b.staged_keys(Keyspace::TOMBSTONE, b"").is_empty());
        b.delete(Keyspace::HEADS, b"ab1");
        assert_eq!(b.staged_keys(Keyspace::HEADS, b"ab"), vec![b"ab2".to_vec()]);
    }

    #[test]
    fn scans_stay_inside_their_keyspace() {
        let store = Store::memory();
        let mut b = store.batch();
        b.put(Keyspace::HEADS, b"x1", b"");
        b.put(Keyspace::HEADS, b"x2", b"");
        b.put(Keyspace::HEADS, b"y", b"");
        b.put(Keyspace::BY_HEIGHT, b"x3", b"");
        b.commit().unwrap();
        let keys: Vec<Vec<u8>> = store
            .scan_prefix(Keyspace::HEADS, b"x")
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(keys, vec![b"x1".to_vec(), b"x2".to_vec()]);
        let rev: Vec<Vec<u8>> = store
            .scan_prefix_rev(Keyspace::HEADS, b"")
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(rev, vec![b"y".to_vec(), b"x2".to_vec(), b"x1".to_vec()]);
    }
}
