//! [`Store`]: blocks in an append-only log, keyspaces in a database, and atomic batches over both.
//!
//! # Writes
//! A [`Batch`] holds the store's writer lock from [`Store::batch`] until it commits or drops, so
//! batches are applied one at a time and a block staged in one gets a known [`Pos`] at once.
//! Committing a batch:
//! 1. appends its new blocks to the log (and syncs the log first if [`Options::sync_commits`]);
//!    on failure the appended part is cut off again and nothing of the batch is visible;
//! 2. applies its keyspace writes to the *memtable*, where readers see them at once;
//! 3. if it wrote a [`Kind::Kept`] keyspace, checkpoints at once (see below), so those writes
//!    are in the database before the commit returns.
//!
//! # Checkpoints
//! A checkpoint syncs the log, then hands the memtable to the database in one atomic batch
//! together with the log position it covers (`meta/checkpoint`), then empties the memtable. It
//! runs when [`Options::checkpoint_records`] records or [`Options::checkpoint_bytes`] of memtable
//! have gathered, or [`Options::checkpoint_interval`] has passed, at a commit; at [`Store::flush`]
//! if kept writes wait; and when the last handle of the store is dropped. The number of database
//! batches therefore grows with the number of checkpoints, not of changes.
//!
//! # Opening and replay
//! After a crash the database holds the derived keyspaces as of some checkpoint; the log holds
//! more. [`Store::open`] reads the checkpoint and reports the records after it as the *replay
//! range* ([`Store::replay_range`]); the layer above must stage them again, in order, through
//! batches ([`Batch::put_block`] of such a record stages no new append), before anything else.
//! Until a record is replayed, [`Store::has_block`] says it is absent. The replay is bounded by
//! the checkpoint interval, never the whole history.
//!
//! # Failures
//! A failed append or commit-time sync leaves nothing visible. A failure that may have left
//! writes visible that are not durable (a failed [`Store::flush`], a failed checkpoint) marks the
//! store *failed*: every later batch is refused until [`Store::recover`] returns it to its last
//! durable state, as a reopen would.

use std::{
    collections::HashMap,
    ops::Bound,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    },
    time::{Duration, Instant},
};

use crate::{
    backend::{Backend, Entry, EntryIter, RawBatch, RawOp},
    cid::Cid,
    error::{Error, OpenError},
    layout::{Keyspace, Kind, META_CHECKPOINT},
    log::{BlockLog, LogError, Pos, Record, Resume, MAX_NOTE},
    memory::MemoryBackend,
    memtable::{Memtable, Slot},
    pack::OpenReport,
    CidMap,
};

/// Default maximum block size: 1 MiB.
pub const DEFAULT_MAX_BLOCK_SIZE: usize = 1 << 20;

/// Knobs for opening a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Blocks larger than this are refused.
    pub max_block_size: usize,
    /// Page cache of the sled database (it holds no blocks, only indexes and state).
    pub cache_bytes: u64,
    /// Whether every commit syncs the log before its writes become visible (durable commits).
    /// Without it, [`Store::flush`] makes writes durable.
    pub sync_commits: bool,
    /// Checkpoint once this many records were appended since the last checkpoint. This bounds
    /// the replay after a crash.
    pub checkpoint_records: u64,
    /// Checkpoint once the memtable holds about this many bytes.
    pub checkpoint_bytes: usize,
    /// Checkpoint at the first commit this long after the last checkpoint.
    pub checkpoint_interval: Duration,
    /// Seal a pack (give it its index and start the next) once it holds this many bytes.
    pub seal_bytes: u64,
}

/// The default for [`Options::checkpoint_records`].
pub const CHECKPOINT_RECORDS: u64 = 16_384;

impl Default for Options {
    fn default() -> Options {
        Options {
            max_block_size: DEFAULT_MAX_BLOCK_SIZE,
            cache_bytes: 8 << 20,
            sync_commits: true,
            checkpoint_records: CHECKPOINT_RECORDS,
            checkpoint_bytes: 64 << 20,
            checkpoint_interval: Duration::from_secs(30),
            seal_bytes: crate::pack::SEAL_BYTES,
        }
    }
}

/// The store's writer state, behind the writer lock that a [`Batch`] holds.
#[derive(Debug)]
struct Writer {
    /// Records appended since the last checkpoint.
    records_since: u64,
    last_checkpoint: Instant,
    /// Whether the database has writes that a flush must make durable.
    backend_dirty: bool,
    /// Set by a failure that may have left non-durable writes visible.
    failed: Option<String>,
}

/// The records of the log that the keyspaces do not reflect yet: `[next, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Replay {
    next: Pos,
    end: Pos,
}

/// How to get a fresh handle on the database after a failure (sled stays failed once an IO
/// error reaches it).
pub(crate) type Reopen = Box<dyn Fn() -> Result<Arc<dyn Backend>, OpenError> + Send + Sync>;

struct Inner {
    backend: RwLock<Arc<dyn Backend>>,
    log: Arc<dyn BlockLog>,
    mem: RwLock<Memtable>,
    writer: Mutex<Writer>,
    replay: Mutex<Replay>,
    /// Bumped at every checkpoint and recovery: a scan that sees it change re-reads from where
    /// it is, since entries moved from the memtable to the database.
    generation: AtomicU64,
    options: Options,
    path: Option<PathBuf>,
    /// Why the store is read-only, if it is.
    read_only: Option<String>,
    /// Never crashed ([`Store::memory`]): nothing needs checkpointing to survive.
    volatile: bool,
    report: OpenReport,
    legacy: Mutex<Option<crate::sled_backend::LegacyTree>>,
    reopen: Option<Reopen>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

/// Verified blocks in a log plus named keyspaces in a database; see the [module docs](self).
///
/// Cloning is cheap and clones share everything.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data whole, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// A store over `backend` and `log`, the replay range read from `parts.resume` (no
    /// migration: see [`crate::open`]).
    pub(crate) fn assemble(
        backend: Arc<dyn Backend>,
        log: Arc<dyn BlockLog>,
        options: Options,
        parts: Parts,
    ) -> Result<Store, OpenError> {
        let end = log.end();
        let next = parts.resume.map_or(Pos(0), |r| r.pos);
        let path = parts.path.clone().unwrap_or_default();
        if next > end {
            return Err(OpenError::Corrupt {
                path,
                reason: format!(
                    "the checkpoint covers the log up to {next}, but the log ends at {end}: records are missing"
                ),
            });
        }
        let store = Store {
            inner: Arc::new(Inner {
                backend: RwLock::new(backend),
                log,
                mem: RwLock::default(),
                writer: Mutex::new(Writer {
                    records_since: end.0 - next.0,
                    last_checkpoint: Instant::now(),
                    backend_dirty: false,
                    failed: None,
                }),
                replay: Mutex::new(Replay { next, end }),
                generation: AtomicU64::new(0),
                options,
                path: parts.path,
                read_only: parts.read_only,
                volatile: parts.volatile,
                report: parts.report,
                legacy: Mutex::new(parts.legacy),
                reopen: parts.reopen,
            }),
        };
        Ok(store)
    }

    /// The store directory, for a store on disk.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only.is_some()
    }

    /// The error a write to this read-only store gets.
    pub fn read_only_error(&self) -> Option<Error> {
        self.inner.read_only.as_ref().map(|reason| Error::ReadOnly {
            path: self.inner.path.clone().unwrap_or_default(),
            reason: reason.clone(),
        })
    }

    /// What opening the log repaired or found damaged.
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    fn backend(&self) -> Arc<dyn Backend> {
        read(&self.inner.backend).clone()
    }

    // ----- blocks -----

    /// The records of the log that the keyspaces do not reflect yet (see the module docs).
    pub fn replay_range(&self) -> (Pos, Pos) {
        let r = *lock(&self.inner.replay);
        (r.next, r.end)
    }

    /// Whether `pos` is a record still to be replayed.
    fn unreplayed(&self, pos: Pos) -> bool {
        let r = lock(&self.inner.replay);
        pos >= r.next && pos < r.end
    }

    /// The position of a stored block (a replayed one: see the module docs).
    pub fn block_pos(&self, cid: &Cid) -> Result<Option<Pos>, Error> {
        Ok(self
            .inner
            .log
            .lookup(cid)?
            .filter(|&pos| !self.unreplayed(pos)))
    }

    /// Whether a block is stored.
    pub fn has_block(&self, cid: &Cid) -> Result<bool, Error> {
        Ok(self.block_pos(cid)?.is_some())
    }

    /// Reads a block by CID. Its bytes hashed to the CID when it was stored, and a checksum
    /// guards them on disk; [`Cid::verify`] checks them again (as `fsck` does).
    pub fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, Error> {
        match self.block_pos(cid)? {
            None => Ok(None),
            Some(pos) => Ok(Some(self.inner.log.read(pos)?.block)),
        }
    }

    /// The size of a stored block and whether it reads back whole and hashes to its CID: for a
    /// report on a block that may be damaged. `None` if the block is not stored.
    pub fn block_stat(&self, cid: &Cid) -> Result<Option<(usize, bool)>, Error> {
        let Some(pos) = self.block_pos(cid)? else {
            return Ok(None);
        };
        let (rec, intact) = self.inner.log.read_lossy(pos)?;
        Ok(Some((
            rec.block.len(),
            intact && rec.cid == *cid && cid.verify(&rec.block).is_ok(),
        )))
    }

    /// The record at `pos`.
    pub fn record(&self, pos: Pos) -> Result<Record, Error> {
        Ok(self.inner.log.read(pos)?)
    }

    /// The CID of the record at `pos`.
    pub fn cid_at(&self, pos: Pos) -> Result<Cid, Error> {
        Ok(self.inner.log.cid_at(pos)?)
    }

    /// The position the next record will get.
    pub fn log_end(&self) -> Pos {
        self.inner.log.end()
    }

    /// Every record of the log from `from` on, in order.
    pub fn records(&self, from: Pos) -> impl Iterator<Item = Result<(Pos, Record), Error>> + '_ {
        let end = self.inner.log.end();
        (from.0..end.0).map(move |p| Ok((Pos(p), self.inner.log.read(Pos(p))?)))
    }

    /// Checks every pack record and index (for `fsck`): each problem found, with the CID where
    /// it is known.
    pub fn check_log(&self) -> Vec<LogError> {
        self.inner.log.check()
    }

    // ----- keyspaces -----

    /// Reads one value from a keyspace.
    pub fn get(&self, ks: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let k = full_key(ks, key);
        if let Some(slot) = read(&self.inner.mem).get(&k) {
            return Ok(slot.as_ref().map(|v| v.to_vec()));
        }
        self.backend().get(&k).map_err(Error::backend("reading"))
    }

    /// Whether a key is present in a keyspace.
    pub fn contains(&self, ks: Keyspace, key: &[u8]) -> Result<bool, Error> {
        let k = full_key(ks, key);
        if let Some(slot) = read(&self.inner.mem).get(&k) {
            return Ok(slot.is_some());
        }
        self.backend()
            .contains(&k)
            .map_err(Error::backend("reading"))
    }

    /// Iterates the entries of `ks` whose key starts with `prefix`, ascending. Keys are returned
    /// without the keyspace tag.
    pub fn scan_prefix(
        &self,
        ks: Keyspace,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + Send + 'static {
        self.scan(ks, prefix, false)
    }

    /// Like [`scan_prefix`](Store::scan_prefix), descending.
    pub fn scan_prefix_rev(
        &self,
        ks: Keyspace,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + Send + 'static {
        self.scan(ks, prefix, true)
    }

    fn scan(
        &self,
        ks: Keyspace,
        prefix: &[u8],
        reverse: bool,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + Send + 'static {
        let start = full_key(ks, prefix);
        let upper = match prefix_end(&start) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        MergeScan::new(self.clone(), Bound::Included(start), upper, reverse).map(|r| {
            r.map(|(mut k, v)| {
                k.remove(0);
                (k, v)
            })
        })
    }

    // ----- writes -----

    /// Starts an atomic batch of writes. It holds the store's writer lock until it commits or
    /// drops: do not start a second batch on the same thread meanwhile.
    pub fn batch(&self) -> Batch<'_> {
        self.batch_with_capacity(0)
    }

    /// Starts a batch with room for about `writes` writes before it grows.
    pub fn batch_with_capacity(&self, writes: usize) -> Batch<'_> {
        let writer = lock(&self.inner.writer);
        let base = self.inner.log.end();
        Batch {
            store: self,
            writer,
            writes: HashMap::with_capacity_and_hasher(writes, Default::default()),
            put_tags: [0; 4],
            fresh: Default::default(),
            kept: false,
            base,
            new: Vec::new(),
            new_ids: CidMap::default(),
            replayed: 0,
        }
    }

    /// Makes every committed write durable: syncs the log, and checkpoints if kept writes are
    /// waiting. A failure marks the store failed (see the module docs).
    pub fn flush(&self) -> Result<(), Error> {
        if self.inner.read_only.is_some() {
            return Ok(());
        }
        let mut writer = lock(&self.inner.writer);
        if let Some(reason) = &writer.failed {
            return Err(Error::Failed {
                reason: reason.clone(),
            });
        }
        if let Err(e) = self.inner.log.sync() {
            writer.failed = Some(e.to_string());
            return Err(e.into());
        }
        if read(&self.inner.mem).holds_kept {
            self.checkpoint(&mut writer)?;
        }
        if writer.backend_dirty {
            if let Err(e) = self.backend().flush() {
                let e = Error::backend("flushing")(e);
                writer.failed = Some(e.to_string());
                return Err(e);
            }
            writer.backend_dirty = false;
        }
        Ok(())
    }

    /// Checkpoints now (and makes the checkpoint durable), whatever the thresholds say.
    pub fn checkpoint_now(&self) -> Result<(), Error> {
        if self.inner.read_only.is_some() {
            return Ok(());
        }
        let mut writer = lock(&self.inner.writer);
        self.checkpoint(&mut writer)?;
        self.flush_backend(&mut writer)
    }

    fn flush_backend(&self, writer: &mut Writer) -> Result<(), Error> {
        if writer.backend_dirty {
            if let Err(e) = self.backend().flush() {
                let e = Error::backend("flushing")(e);
                writer.failed = Some(e.to_string());
                return Err(e);
            }
            writer.backend_dirty = false;
        }
        Ok(())
    }

    /// Hands the memtable to the database with the position it covers. Called with the writer
    /// lock held, never while records wait to be replayed.
    fn checkpoint(&self, writer: &mut Writer) -> Result<(), Error> {
        self.checkpoint_with(writer, Vec::new())
    }

    /// A checkpoint that also applies `extra` (a committing batch's writes, which win).
    fn checkpoint_with(
        &self,
        writer: &mut Writer,
        extra: Vec<(Vec<u8>, Slot)>,
    ) -> Result<(), Error> {
        if let Some(reason) = &writer.failed {
            return Err(Error::Failed {
                reason: reason.clone(),
            });
        }
        let replay = *lock(&self.inner.replay);
        if replay.next < replay.end {
            return Err(Error::NotReplayed);
        }
        self.inner.log.sync()?;
        let resume = self.inner.log.resume_point();
        let mut mem = write(&self.inner.mem);
        let mut raw = mem.to_raw();
        for (k, v) in extra {
            raw.ops.push(match v {
                Some(v) => RawOp::Put(k, v.into_vec()),
                None => RawOp::Delete(k),
            });
        }
        raw.ops.push(RawOp::Put(
            full_key(Keyspace::META, META_CHECKPOINT),
            resume.to_bytes().to_vec(),
        ));
        if let Err(e) = self.backend().apply(dedup(raw)) {
            let e = Error::backend("writing a checkpoint")(e);
            writer.failed = Some(e.to_string());
            return Err(e);
        }
        mem.clear();
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        drop(mem);
        writer.records_since = 0;
        writer.last_checkpoint = Instant::now();
        writer.backend_dirty = true;
        Ok(())
    }

    /// Returns a failed store to its last durable state: a fresh handle on the database, the
    /// log cut back to what was synced, the memtable emptied, and the replay range reset to the
    /// records after the durable checkpoint, which the layer above then replays.
    pub fn recover(&self) -> Result<(), Error> {
        let mut writer = lock(&self.inner.writer);
        if let Some(reopen) = &self.inner.reopen {
            // Drop our handle first: the database cannot be opened twice.
            {
                let mut backend = write(&self.inner.backend);
                *backend = Arc::new(MemoryBackend::volatile());
            }
            let fresh = reopen().map_err(|e| Error::Backend {
                op: "reopening the database",
                error: Box::new(e),
            })?;
            *write(&self.inner.backend) = fresh;
        }
        let log = &self.inner.log;
        log.truncate(log.synced())?;
        let resume = read_checkpoint(self.backend().as_ref())?;
        write(&self.inner.mem).clear();
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        *lock(&self.inner.replay) = Replay {
            next: resume.map_or(Pos(0), |r| r.pos),
            end: log.end(),
        };
        writer.failed = None;
        writer.records_since = 0;
        writer.backend_dirty = false;
        Ok(())
    }

    /// Whether an earlier write failure left the store needing [`Store::recover`].
    pub fn is_failed(&self) -> bool {
        lock(&self.inner.writer).failed.is_some()
    }

    /// Bytes used on disk: the database and the packs.
    pub fn size_on_disk(&self) -> Result<u64, Error> {
        Ok(self
            .backend()
            .size_on_disk()
            .map_err(Error::backend("measuring size"))?
            + self.inner.log.size_on_disk()?)
    }

    // ----- format 1 -----

    /// The database of format 1 (blocks and every index in one sled tree), if this store still
    /// holds one: the layer above reads it with [`Backend::get`] and [`Backend::scan`] to
    /// migrate it, then calls [`Store::finish_migration`].
    pub fn legacy(&self) -> Option<Arc<dyn Backend>> {
        lock(&self.inner.legacy)
            .as_ref()
            .map(|l| Arc::new(l.clone()) as Arc<dyn Backend>)
    }

    /// Drops the format-1 tree once its content was migrated and flushed.
    pub fn finish_migration(&self) -> Result<(), Error> {
        if let Some(legacy) = lock(&self.inner.legacy).take() {
            legacy
                .drop_tree()
                .map_err(Error::backend("dropping the format-1 tree"))?;
        }
        Ok(())
    }
}

/// What [`Store::assemble`] needs besides the database and the log.
pub(crate) struct Parts {
    pub(crate) path: Option<PathBuf>,
    pub(crate) read_only: Option<String>,
    pub(crate) volatile: bool,
    pub(crate) report: OpenReport,
    pub(crate) legacy: Option<crate::sled_backend::LegacyTree>,
    pub(crate) reopen: Option<Reopen>,
    pub(crate) resume: Option<Resume>,
}

pub(crate) fn read_checkpoint(backend: &dyn Backend) -> Result<Option<Resume>, Error> {
    match backend
        .get(&full_key(Keyspace::META, META_CHECKPOINT))
        .map_err(Error::backend("reading the checkpoint"))?
    {
        None => Ok(None),
        Some(v) => Resume::from_bytes(&v)
            .map(Some)
            .ok_or_else(|| Error::CorruptEntry {
                keyspace: Keyspace::META.name,
                reason: format!("the checkpoint is {} bytes, expected 24", v.len()),
            }),
    }
}

/// Keeps the last write of each key: a backend applies a batch's ops in any order.
fn dedup(raw: RawBatch) -> RawBatch {
    let mut last: HashMap<Vec<u8>, RawOp, foldhash::fast::RandomState> = HashMap::default();
    for op in raw.ops {
        let key = match &op {
            RawOp::Put(k, _) | RawOp::Delete(k) => k.clone(),
        };
        last.insert(key, op);
    }
    RawBatch {
        ops: last.into_values().collect(),
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.read_only.is_some() {
            return;
        }
        let writer = self.writer.get_mut().unwrap_or_else(|p| p.into_inner());
        if writer.failed.is_some() {
            return;
        }
        let replay = *self.replay.get_mut().unwrap_or_else(|p| p.into_inner());
        if replay.next < replay.end {
            return;
        }
        let mem = self.mem.get_mut().unwrap_or_else(|p| p.into_inner());
        let checkpoint = !mem.is_empty() || writer.records_since > 0;
        if !checkpoint && !writer.backend_dirty {
            return;
        }
        // The last handle is going: checkpoint, so the next open replays nothing. A failure here
        // loses nothing (the log holds every synced record and the next open replays it).
        let result = (|| -> Result<(), String> {
            let backend = self.backend.get_mut().unwrap_or_else(|p| p.into_inner());
            if checkpoint {
                self.log.sync().map_err(|e| e.to_string())?;
                let resume = self.log.resume_point();
                let mut raw = mem.to_raw();
                raw.ops.push(RawOp::Put(
                    full_key(Keyspace::META, META_CHECKPOINT),
                    resume.to_bytes().to_vec(),
                ));
                backend.apply(raw).map_err(|e| e.to_string())?;
            }
            backend.flush().map_err(|e| e.to_string())
        })();
        if let Err(e) = result {
            tracing::debug!("no checkpoint at close: {e}");
        }
    }
}

/// Writes across keyspaces and new blocks that land together or not at all; see the
/// [module docs](self).
///
/// Reads through the batch see its own pending writes, so a layer above can build a batch step by
/// step. Dropping a batch without [`commit`](Batch::commit) discards it.
pub struct Batch<'a> {
    store: &'a Store,
    writer: MutexGuard<'a, Writer>,
    /// Pending keyspace writes by full key (a hash map: a batch is read by key, never in order).
    writes: HashMap<Vec<u8>, Slot, foldhash::fast::RandomState>,
    /// The keyspace tags that have had a put staged, one bit each: lets
    /// [`staged_keys`](Batch::staged_keys) answer at once for a keyspace this batch never put to.
    put_tags: [u64; 4],
    /// The keys put with [`Batch::put_new`].
    fresh: std::collections::HashSet<Vec<u8>, foldhash::fast::RandomState>,
    /// Whether a kept keyspace is written.
    kept: bool,
    /// The log's end when the batch started: the first new block gets this position.
    base: Pos,
    new: Vec<Record>,
    new_ids: CidMap<Pos>,
    /// How many records of the replay range this batch stages again.
    replayed: u64,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("writes", &self.writes.len())
            .field("new_blocks", &self.new.len())
            .field("replayed", &self.replayed)
            .finish_non_exhaustive()
    }
}

impl Batch<'_> {
    /// Verifies `bytes` against `cid` and the size limit, then stages the block with `note`,
    /// and returns its position. A block already stored (or staged) is not stored again: its
    /// position is returned. The next record of the replay range is staged again without being
    /// appended (see the module docs).
    pub fn put_block(&mut self, cid: &Cid, bytes: &[u8], note: &[u8]) -> Result<Pos, Error> {
        self.stage_block(cid, bytes, note, true)
    }

    fn stage_block(
        &mut self,
        cid: &Cid,
        bytes: &[u8],
        note: &[u8],
        hash: bool,
    ) -> Result<Pos, Error> {
        let max = self.store.inner.options.max_block_size;
        if bytes.len() > max {
            return Err(Error::BlockTooLarge {
                cid: *cid,
                size: bytes.len(),
                max,
            });
        }
        if note.len() > MAX_NOTE {
            return Err(Error::NoteTooLarge { size: note.len() });
        }
        if hash {
            cid.verify(bytes)?;
        }
        if let Some(&pos) = self.new_ids.get(cid) {
            return Ok(pos);
        }
        let replay = *lock(&self.store.inner.replay);
        if let Some(pos) = self.store.inner.log.lookup(cid)? {
            if pos >= replay.next && pos < replay.end {
                let expected = Pos(replay.next.0 + self.replayed);
                if pos != expected {
                    return Err(Error::NotReplayed);
                }
                self.replayed += 1;
                self.new_ids.insert(*cid, pos);
            }
            return Ok(pos);
        }
        if replay.next < replay.end {
            return Err(Error::NotReplayed);
        }
        let pos = Pos(self.base.0 + self.new.len() as u64);
        self.new.push(Record {
            cid: *cid,
            note: note.to_vec(),
            block: bytes.to_vec(),
        });
        self.new_ids.insert(*cid, pos);
        Ok(pos)
    }

    /// Stages a block whose bytes the caller has already checked against `cid` (the dag hashes
    /// every block the moment it arrives): as [`put_block`](Batch::put_block), without hashing
    /// it again.
    pub fn put_checked_block(
        &mut self,
        cid: &Cid,
        bytes: &[u8],
        note: &[u8],
    ) -> Result<Pos, Error> {
        self.stage_block(cid, bytes, note, false)
    }

    /// Whether a block is staged in this batch (not looking in the store).
    pub fn is_staged(&self, cid: &Cid) -> bool {
        self.new_ids.contains_key(cid)
    }

    /// Whether a block is stored or staged in this batch.
    pub fn has_block(&self, cid: &Cid) -> Result<bool, Error> {
        Ok(self.new_ids.contains_key(cid) || self.store.has_block(cid)?)
    }

    /// The position of a block stored or staged in this batch.
    pub fn block_pos(&self, cid: &Cid) -> Result<Option<Pos>, Error> {
        match self.new_ids.get(cid) {
            Some(&pos) => Ok(Some(pos)),
            None => self.store.block_pos(cid),
        }
    }

    /// A block stored or staged in this batch.
    pub fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, Error> {
        if let Some(&pos) = self.new_ids.get(cid) {
            if let Some(r) = self.staged_record(pos) {
                return Ok(Some(r.block.clone()));
            }
            return Ok(Some(self.store.inner.log.read(pos)?.block));
        }
        self.store.get_block(cid)
    }

    /// The CID of the record at `pos`, stored or staged in this batch.
    pub fn cid_at(&self, pos: Pos) -> Result<Cid, Error> {
        match self.staged_record(pos) {
            Some(r) => Ok(r.cid),
            None => self.store.cid_at(pos),
        }
    }

    fn staged_record(&self, pos: Pos) -> Option<&Record> {
        pos.0
            .checked_sub(self.base.0)
            .and_then(|i| self.new.get(i as usize))
    }

    /// The store this batch writes to (reads through it do not see the pending writes).
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Stages a write.
    pub fn put(&mut self, ks: Keyspace, key: &[u8], value: &[u8]) {
        self.mark(ks);
        let t = ks.tag as usize;
        self.put_tags[t / 64] |= 1 << (t % 64);
        self.writes
            .insert(full_key(ks, key), Some(value.to_vec().into_boxed_slice()));
    }

    /// Stages the write of a key that was never written before and never will be again once
    /// deleted (its name is unique, as a key holding an op id is): a deletion of it before the
    /// next checkpoint then leaves nothing behind, without asking the database whether it holds
    /// the key. Wrong if the key was ever written: use [`put`](Batch::put) then.
    pub fn put_new(&mut self, ks: Keyspace, key: &[u8], value: &[u8]) {
        self.put(ks, key, value);
        self.fresh.insert(full_key(ks, key));
    }

    fn mark(&mut self, ks: Keyspace) {
        if ks.kind == Kind::Kept {
            self.kept = true;
        }
    }

    fn has_puts(&self, ks: Keyspace) -> bool {
        let t = ks.tag as usize;
        self.put_tags[t / 64] & (1 << (t % 64)) != 0
    }

    /// Stages a removal.
    pub fn delete(&mut self, ks: Keyspace, key: &[u8]) {
        self.mark(ks);
        self.writes.insert(full_key(ks, key), None);
    }

    /// Appends `bytes` to the value under `key` (an absent value counts as empty): for
    /// append-only lists kept in chunks.
    pub fn append(&mut self, ks: Keyspace, key: &[u8], bytes: &[u8]) -> Result<(), Error> {
        let k = full_key(ks, key);
        if let Some(Some(v)) = self.writes.get_mut(&k) {
            let mut grown = std::mem::take(v).into_vec();
            grown.extend_from_slice(bytes);
            *v = grown.into_boxed_slice();
            return Ok(());
        }
        let mut value = self.get(ks, key)?.unwrap_or_default();
        value.extend_from_slice(bytes);
        self.put(ks, key, &value);
        Ok(())
    }

    /// Reads a value as it will be after this batch commits.
    pub fn get(&self, ks: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let k = full_key(ks, key);
        match self.writes.get(&k) {
            Some(pending) => Ok(pending.as_ref().map(|v| v.to_vec())),
            None => self.store.get(ks, key),
        }
    }

    /// Whether the key will be present after this batch commits.
    pub fn contains(&self, ks: Keyspace, key: &[u8]) -> Result<bool, Error> {
        let k = full_key(ks, key);
        match self.writes.get(&k) {
            Some(pending) => Ok(pending.is_some()),
            None => self.store.contains(ks, key),
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

    /// The number of staged keyspace writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.new.is_empty() && self.replayed == 0
    }

    /// Applies everything staged atomically (see the module docs for what that takes).
    pub fn commit(self) -> Result<(), Error> {
        let Batch {
            store,
            mut writer,
            writes,
            fresh,
            kept,
            base,
            new,
            replayed,
            ..
        } = self;
        if writes.is_empty() && new.is_empty() && replayed == 0 {
            return Ok(());
        }
        let inner = &store.inner;
        if let Some(e) = store.read_only_error() {
            return Err(e);
        }
        if let Some(reason) = &writer.failed {
            return Err(Error::Failed {
                reason: reason.clone(),
            });
        }
        let log = &inner.log;
        if !new.is_empty() {
            let first = log.append(&new)?;
            if first != base {
                // Someone appended without the writer lock: cannot happen through this API.
                let _ = log.truncate(first);
                return Err(Error::Log(LogError::Corrupt {
                    cid: None,
                    what: format!("the log moved from {base} to {first} during a batch"),
                }));
            }
            if inner.options.sync_commits {
                if let Err(e) = log.sync() {
                    if let Err(cut) = log.truncate(base) {
                        writer.failed = Some(cut.to_string());
                    }
                    return Err(e.into());
                }
            }
        }
        let n_new = new.len() as u64;
        let cut_back = |writer: &mut Writer| {
            if n_new > 0 {
                if let Err(cut) = log.truncate(base) {
                    writer.failed = Some(cut.to_string());
                }
            }
        };
        if kept && !inner.volatile {
            // Kept writes reach the database before the commit returns, with everything before.
            let writes: Vec<(Vec<u8>, Slot)> = writes.into_iter().collect();
            if let Err(e) = store.checkpoint_with(&mut writer, writes) {
                cut_back(&mut writer);
                return Err(e);
            }
            if inner.options.sync_commits {
                store.flush_backend(&mut writer)?;
            }
        } else {
            // A key put since the last checkpoint and deleted again need not leave a deletion
            // behind if the database never had it: those would pile up (every commit replaces
            // a head) and every scan over them would pay for them.
            let backend = store.backend();
            let mut mem = write(&inner.mem);
            for (k, v) in writes {
                if v.is_none() && matches!(mem.get(&k), Some(Some(_))) {
                    let gone = mem.is_fresh(&k) || matches!(backend.contains(&k), Ok(false));
                    if gone {
                        mem.remove(&k);
                        continue;
                    }
                }
                let new = v.is_some() && fresh.contains(&k);
                mem.insert(k, v, new);
            }
        }
        {
            let mut replay = lock(&inner.replay);
            replay.next.0 += replayed;
            if n_new > 0 {
                // New blocks are only staged once the replay is done: they are applied.
                replay.next = log.end();
                replay.end = log.end();
            }
        }
        writer.records_since += n_new + replayed;
        let due = writer.records_since >= inner.options.checkpoint_records
            || read(&inner.mem).bytes() >= inner.options.checkpoint_bytes
            || writer.last_checkpoint.elapsed() >= inner.options.checkpoint_interval;
        let replay = *lock(&inner.replay);
        if due && replay.next == replay.end && writer.failed.is_none() {
            // A checkpoint that fails loses nothing the commit did: the log holds it.
            if let Err(e) = store.checkpoint(&mut writer) {
                tracing::debug!("checkpoint failed: {e}");
            }
        }
        Ok(())
    }
}

/// A scan over the memtable and the database together: the memtable's writes win, its
/// deletions hide. Neither side is read whole: the memtable a chunk at a time, the database
/// through its own lazy iterator.
struct MergeScan {
    store: Store,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    generation: u64,
    backend: EntryIter<'static>,
    backend_peek: Option<Entry>,
    backend_done: bool,
    mem: std::collections::VecDeque<(Vec<u8>, Slot)>,
    mem_from: Bound<Vec<u8>>,
    mem_done: bool,
    /// The last key returned: everything from here on lies beyond it.
    last: Option<Vec<u8>>,
}

/// How many memtable entries a scan copies out per lock.
const MEM_CHUNK: usize = 64;

impl MergeScan {
    fn new(store: Store, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>, reverse: bool) -> MergeScan {
        let generation = store.inner.generation.load(Ordering::SeqCst);
        let backend = store.backend().scan(lower.clone(), upper.clone(), reverse);
        let mem_from = if reverse {
            upper.clone()
        } else {
            lower.clone()
        };
        MergeScan {
            store,
            lower,
            upper,
            reverse,
            generation,
            backend,
            backend_peek: None,
            backend_done: false,
            mem: Default::default(),
            mem_from,
            mem_done: false,
            last: None,
        }
    }

    /// The range still to read: beyond the last key returned.
    fn rest(&self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        match (&self.last, self.reverse) {
            (None, _) => (self.lower.clone(), self.upper.clone()),
            (Some(k), false) => (Bound::Excluded(k.clone()), self.upper.clone()),
            (Some(k), true) => (self.lower.clone(), Bound::Excluded(k.clone())),
        }
    }

    /// Starts both sides again from the last key returned (entries moved from the memtable to
    /// the database behind the scan's back).
    fn restart(&mut self) {
        let (lower, upper) = self.rest();
        self.backend = self
            .store
            .backend()
            .scan(lower.clone(), upper.clone(), self.reverse);
        self.backend_peek = None;
        self.backend_done = false;
        self.mem.clear();
        self.mem_from = if self.reverse { upper } else { lower };
        self.mem_done = false;
    }

    fn refill_mem(&mut self) {
        let mem = read(&self.store.inner.mem);
        let (lower, upper) = if self.reverse {
            (bound_ref(&self.lower), bound_ref(&self.mem_from))
        } else {
            (bound_ref(&self.mem_from), bound_ref(&self.upper))
        };
        let chunk = mem.chunk(lower, upper, self.reverse, MEM_CHUNK);
        drop(mem);
        if chunk.len() < MEM_CHUNK {
            self.mem_done = true;
        }
        if let Some((k, _)) = chunk.last() {
            self.mem_from = Bound::Excluded(k.clone());
        }
        self.mem.extend(chunk);
    }

    /// Whether `a` comes before `b` in the scan's direction.
    fn before(&self, a: &[u8], b: &[u8]) -> bool {
        if self.reverse {
            a > b
        } else {
            a < b
        }
    }
}

fn bound_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl Iterator for MergeScan {
    type Item = Result<(Vec<u8>, Vec<u8>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let now = self.store.inner.generation.load(Ordering::SeqCst);
            if now != self.generation {
                self.generation = now;
                self.restart();
            }
            if self.mem.is_empty() && !self.mem_done {
                self.refill_mem();
                continue;
            }
            if self.backend_peek.is_none() && !self.backend_done {
                match self.backend.next() {
                    None => self.backend_done = true,
                    Some(Err(e)) => {
                        self.backend_done = true;
                        return Some(Err(Error::Backend {
                            op: "scanning",
                            error: e,
                        }));
                    }
                    Some(Ok(entry)) => self.backend_peek = Some(entry),
                }
                continue;
            }
            let take_mem = match (self.mem.front(), &self.backend_peek) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((mk, _)), Some((bk, _))) => !self.before(bk, mk),
            };
            if take_mem {
                let (k, slot) = self.mem.pop_front()?;
                if self.backend_peek.as_ref().is_some_and(|(bk, _)| *bk == k) {
                    self.backend_peek = None;
                }
                self.last = Some(k.clone());
                match slot {
                    Some(v) => return Some(Ok((k, v.into_vec()))),
                    None => continue,
                }
            }
            let (k, v) = self.backend_peek.take()?;
            self.last = Some(k.clone());
            return Some(Ok((k, v)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Codec, MemoryLog};

    const HEADS: Keyspace = Keyspace::derived(0x03, "heads");
    const BY_HEIGHT: Keyspace = Keyspace::derived(0x04, "by_height");
    const NAMES: Keyspace = Keyspace::kept(0x05, "names");

    fn crashable() -> (MemoryBackend, MemoryLog, Store) {
        let backend = MemoryBackend::new();
        let log = MemoryLog::new();
        let store = Store::with_backend(
            Arc::new(backend.clone()),
            Arc::new(log.clone()),
            Options::default(),
        )
        .unwrap();
        (backend, log, store)
    }

    fn reopen(backend: &MemoryBackend, log: &MemoryLog) -> Store {
        Store::with_backend(
            Arc::new(backend.clone()),
            Arc::new(log.clone()),
            Options::default(),
        )
        .unwrap()
    }

    #[test]
    fn prefix_end_handles_ff() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }

    #[test]
    fn put_block_verifies_hash_size_and_note() {
        let store = Store::memory();
        let cid = Cid::hash(Codec::Raw, b"good");
        let mut b = store.batch();
        assert!(matches!(
            b.put_block(&cid, b"evil", b""),
            Err(Error::HashMismatch(_))
        ));
        assert!(matches!(
            b.put_block(&cid, b"good", &[0; MAX_NOTE + 1]),
            Err(Error::NoteTooLarge { .. })
        ));
        drop(b);
        assert!(!store.has_block(&cid).unwrap());
        let mut b = store.batch();
        assert_eq!(b.put_block(&cid, b"good", b"n").unwrap(), Pos(0));
        assert_eq!(b.put_block(&cid, b"good", b"n").unwrap(), Pos(0));
        assert!(b.has_block(&cid).unwrap());
        assert!(!store.has_block(&cid).unwrap());
        b.commit().unwrap();
        assert_eq!(
            store.get_block(&cid).unwrap().as_deref(),
            Some(&b"good"[..])
        );
        assert_eq!(store.record(Pos(0)).unwrap().note, b"n");

        let big = vec![7u8; DEFAULT_MAX_BLOCK_SIZE + 1];
        let big_cid = Cid::hash(Codec::Raw, &big);
        assert!(matches!(
            store.batch().put_block(&big_cid, &big, b""),
            Err(Error::BlockTooLarge { .. })
        ));
        assert!(!store.has_block(&big_cid).unwrap());
    }

    #[test]
    fn batch_is_atomic_and_reads_its_writes() {
        let store = Store::memory();
        let mut b = store.batch();
        b.put(HEADS, b"a", b"1");
        assert_eq!(b.get(HEADS, b"a").unwrap().as_deref(), Some(&b"1"[..]));
        drop(b);
        assert_eq!(store.get(HEADS, b"a").unwrap(), None);
        let mut b = store.batch();
        b.put(HEADS, b"a", b"1");
        b.commit().unwrap();
        assert_eq!(store.get(HEADS, b"a").unwrap().as_deref(), Some(&b"1"[..]));
        let mut b = store.batch();
        b.delete(HEADS, b"a");
        drop(b);
        assert!(store.contains(HEADS, b"a").unwrap());
    }

    #[test]
    fn a_fresh_key_deleted_before_a_checkpoint_leaves_nothing() {
        let (_backend, _log, store) = crashable();
        let mut b = store.batch();
        b.put_new(HEADS, b"op1", b"v");
        b.put(HEADS, b"plain", b"v");
        b.commit().unwrap();
        let mut b = store.batch();
        b.delete(HEADS, b"op1");
        b.delete(HEADS, b"plain");
        b.commit().unwrap();
        // Neither needs a deletion kept: the database never had them.
        assert!(read(&store.inner.mem).is_empty());
        // Once checkpointed, a fresh key is in the database like any other.
        let mut b = store.batch();
        b.put_new(HEADS, b"op2", b"v");
        b.commit().unwrap();
        store.checkpoint_now().unwrap();
        let mut b = store.batch();
        b.delete(HEADS, b"op2");
        b.commit().unwrap();
        assert_eq!(store.get(HEADS, b"op2").unwrap(), None);
        store.checkpoint_now().unwrap();
        assert_eq!(store.get(HEADS, b"op2").unwrap(), None);
    }

    #[test]
    fn append_grows_a_value() {
        let store = Store::memory();
        let mut b = store.batch();
        b.append(HEADS, b"list", b"ab").unwrap();
        b.append(HEADS, b"list", b"c").unwrap();
        b.commit().unwrap();
        let mut b = store.batch();
        b.append(HEADS, b"list", b"d").unwrap();
        b.commit().unwrap();
        assert_eq!(
            store.get(HEADS, b"list").unwrap().as_deref(),
            Some(&b"abcd"[..])
        );
    }

    #[test]
    fn staged_keys_lists_the_puts_of_one_keyspace_and_prefix() {
        let store = Store::memory();
        let mut b = store.batch();
        assert!(b.staged_keys(HEADS, b"").is_empty());
        b.put(HEADS, b"ab1", b"");
        b.put(HEADS, b"ab2", b"");
        b.put(HEADS, b"ac", b"");
        b.put(BY_HEIGHT, b"ab3", b"");
        b.delete(HEADS, b"ab4");
        let mut got = b.staged_keys(HEADS, b"ab");
        got.sort();
        assert_eq!(got, vec![b"ab1".to_vec(), b"ab2".to_vec()]);
        b.delete(HEADS, b"ab1");
        assert_eq!(b.staged_keys(HEADS, b"ab"), vec![b"ab2".to_vec()]);
    }

    #[test]
    fn scans_merge_the_memtable_and_the_database_and_stay_in_their_keyspace() {
        let (_backend, _log, store) = crashable();
        let mut b = store.batch();
        for k in [&b"x1"[..], b"x3", b"x5", b"y"] {
            b.put(HEADS, k, b"old");
        }
        b.put(BY_HEIGHT, b"x3", b"");
        b.commit().unwrap();
        store.checkpoint_now().unwrap();
        let mut b = store.batch();
        b.put(HEADS, b"x2", b"new");
        b.put(HEADS, b"x3", b"new");
        b.delete(HEADS, b"x5");
        b.commit().unwrap();
        let all: Vec<(Vec<u8>, Vec<u8>)> =
            store.scan_prefix(HEADS, b"x").map(|r| r.unwrap()).collect();
        assert_eq!(
            all,
            vec![
                (b"x1".to_vec(), b"old".to_vec()),
                (b"x2".to_vec(), b"new".to_vec()),
                (b"x3".to_vec(), b"new".to_vec()),
            ]
        );
        let rev: Vec<Vec<u8>> = store
            .scan_prefix_rev(HEADS, b"")
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(
            rev,
            vec![
                b"y".to_vec(),
                b"x3".to_vec(),
                b"x2".to_vec(),
                b"x1".to_vec()
            ]
        );
    }

    #[test]
    fn a_scan_survives_a_checkpoint_in_the_middle() {
        let (_backend, _log, store) = crashable();
        let mut b = store.batch();
        for i in 0..300u16 {
            b.put(HEADS, &i.to_be_bytes(), b"v");
        }
        b.commit().unwrap();
        let mut scan = store.scan_prefix(HEADS, b"");
        let first: Vec<_> = scan.by_ref().take(100).map(|r| r.unwrap().0).collect();
        store.checkpoint_now().unwrap();
        let rest: Vec<_> = scan.map(|r| r.unwrap().0).collect();
        assert_eq!(first.len() + rest.len(), 300);
        let all: Vec<_> = first.into_iter().chain(rest).collect();
        let want: Vec<_> = (0..300u16).map(|i| i.to_be_bytes().to_vec()).collect();
        assert_eq!(all, want);
    }

    #[test]
    fn a_crash_keeps_synced_records_and_replays_them() {
        let (backend, log, store) = crashable();
        let cid = Cid::hash(Codec::Raw, b"one");
        let mut b = store.batch();
        b.put_block(&cid, b"one", b"").unwrap();
        b.put(HEADS, b"h", b"1");
        b.commit().unwrap();
        // Durable in the log (sync_commits), not checkpointed: a crash loses the memtable.
        std::mem::forget(store);
        backend.crash();
        let store = reopen(&backend, &log);
        assert_eq!(store.replay_range(), (Pos(0), Pos(1)));
        assert!(!store.has_block(&cid).unwrap());
        assert_eq!(store.get(HEADS, b"h").unwrap(), None);
        // A new block must wait for the replay.
        let other = Cid::hash(Codec::Raw, b"two");
        assert!(matches!(
            store.batch().put_block(&other, b"two", b""),
            Err(Error::NotReplayed)
        ));
        let mut b = store.batch();
        assert_eq!(b.put_block(&cid, b"one", b"").unwrap(), Pos(0));
        b.put(HEADS, b"h", b"1");
        b.commit().unwrap();
        assert_eq!(store.replay_range(), (Pos(1), Pos(1)));
        assert!(store.has_block(&cid).unwrap());
        assert_eq!(log.len(), 1, "replay appends nothing");
    }

    #[test]
    fn kept_writes_are_in_the_database_when_the_commit_returns() {
        let (backend, log, store) = crashable();
        let mut b = store.batch();
        b.put(HEADS, b"derived", b"1");
        b.commit().unwrap();
        let mut b = store.batch();
        b.put(NAMES, b"main", b"doc");
        b.commit().unwrap();
        std::mem::forget(store);
        backend.crash();
        log.crash();
        let store = reopen(&backend, &log);
        assert_eq!(
            store.get(NAMES, b"main").unwrap().as_deref(),
            Some(&b"doc"[..])
        );
        assert_eq!(
            store.get(HEADS, b"derived").unwrap().as_deref(),
            Some(&b"1"[..])
        );
    }

    #[test]
    fn a_failed_flush_fails_the_store_until_it_recovers() {
        let (_backend, log, store) = crashable();
        store.inner.writer.lock().unwrap().failed = Some("disk gone".into());
        let mut b = store.batch();
        b.put(HEADS, b"x", b"1");
        assert!(matches!(b.commit(), Err(Error::Failed { .. })));
        assert!(store.is_failed());
        store.recover().unwrap();
        assert!(!store.is_failed());
        let mut b = store.batch();
        b.put(HEADS, b"x", b"1");
        b.commit().unwrap();
        assert_eq!(log.len(), 0);
    }
}
