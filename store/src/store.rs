//! [`Store`]: blocks in an append-only log, keyspaces in a database, and atomic batches over both.
//!
//! # Writes
//! A [`Batch`](crate::Batch) holds the store's writer lock from [`Store::batch`] until it commits or drops, so
//! batches are applied one at a time and a block staged in one gets a known [`Pos`] at once.
//! Committing a batch:
//! 1. appends its new blocks to the log (and syncs the log first if [`Options::sync_commits`]);
//!    on failure the appended part is cut off again and nothing of the batch is visible;
//! 2. applies its keyspace writes to the *memtable*, where readers see them at once;
//! 3. if it wrote a [`Kind::Kept`](crate::Kind::Kept) keyspace, checkpoints at once (see below), so those writes
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
//! batches ([`Batch::put_block`](crate::Batch::put_block) of such a record stages no new append), before anything else.
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
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError, RwLock,
    },
    time::{Duration, Instant},
};

use crate::{
    backend::{Backend, RawBatch, RawOp},
    cid::Cid,
    error::{Error, OpenError},
    layout::{Keyspace, META_CHECKPOINT},
    log::{BlockLog, LogError, Pos, Record, Resume},
    memory::MemoryBackend,
    memtable::{Memtable, Slot},
    pack::OpenReport,
    sync_util::{lock, read, write},
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
pub(crate) struct Writer {
    /// Records appended since the last checkpoint.
    pub(crate) records_since: u64,
    pub(crate) last_checkpoint: Instant,
    /// Whether the database has writes that a flush must make durable.
    pub(crate) backend_dirty: bool,
    /// Set by a failure that may have left non-durable writes visible.
    pub(crate) failed: Option<String>,
}

/// The records of the log that the keyspaces do not reflect yet: `[next, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replay {
    pub(crate) next: Pos,
    pub(crate) end: Pos,
}

/// How to get a fresh handle on the database after a failure (sled stays failed once an IO
/// error reaches it).
pub(crate) type Reopen = Box<dyn Fn() -> Result<Arc<dyn Backend>, OpenError> + Send + Sync>;

pub(crate) struct Inner {
    pub(crate) backend: RwLock<Arc<dyn Backend>>,
    pub(crate) log: Arc<dyn BlockLog>,
    pub(crate) mem: RwLock<Memtable>,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) replay: Mutex<Replay>,
    /// Bumped at every checkpoint and recovery: a scan that sees it change re-reads from where
    /// it is, since entries moved from the memtable to the database.
    pub(crate) generation: AtomicU64,
    pub(crate) options: Options,
    pub(crate) path: Option<PathBuf>,
    /// Why the store is read-only, if it is.
    pub(crate) read_only: Option<String>,
    /// Never crashed ([`Store::memory`]): nothing needs checkpointing to survive.
    pub(crate) volatile: bool,
    pub(crate) report: OpenReport,
    pub(crate) legacy: Mutex<Option<crate::sled_backend::LegacyTree>>,
    pub(crate) reopen: Option<Reopen>,
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
    pub(crate) inner: Arc<Inner>,
}

pub(crate) fn full_key(ks: Keyspace, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(ks.tag);
    k.extend_from_slice(key);
    k
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

    pub(crate) fn backend(&self) -> Arc<dyn Backend> {
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

    /// Every stored block whose digest starts with `prefix` (any codec), sorted.
    pub fn blocks_with_prefix(&self, prefix: &crate::cid::DigestPrefix) -> Result<Vec<Cid>, Error> {
        let mut found: Vec<Cid> = self
            .inner
            .log
            .with_prefix(prefix)?
            .into_iter()
            .filter(|&(_, pos)| !self.unreplayed(pos))
            .map(|(cid, _)| cid)
            .collect();
        found.sort();
        found.dedup();
        Ok(found)
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

    pub(crate) fn flush_backend(&self, writer: &mut Writer) -> Result<(), Error> {
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
    pub(crate) fn checkpoint(&self, writer: &mut Writer) -> Result<(), Error> {
        self.checkpoint_with(writer, Vec::new())
    }

    /// A checkpoint that also applies `extra` (a committing batch's writes, which win).
    pub(crate) fn checkpoint_with(
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
        let writer = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if writer.failed.is_some() {
            return;
        }
        let replay = *self
            .replay
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if replay.next < replay.end {
            return;
        }
        let mem = self.mem.get_mut().unwrap_or_else(PoisonError::into_inner);
        let checkpoint = !mem.is_empty() || writer.records_since > 0;
        if !checkpoint && !writer.backend_dirty {
            return;
        }
        // The last handle is going: checkpoint, so the next open replays nothing. A failure here
        // loses nothing (the log holds every synced record and the next open replays it).
        let result = (|| -> Result<(), String> {
            let backend = self
                .backend
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
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

#[cfg(test)]
mod tests;
