//! The block log: where blocks live, appended in order and never rewritten.
//!
//! A block is appended once, as a [`Record`] (its CID, a short note from the layer above, and its
//! bytes), and gets a [`Pos`]: its ordinal in the log (0, 1, 2, ...). A position never changes, so
//! the layers above index blocks by position, which is 8 bytes instead of a 36-byte CID and
//! delta-encodes to one or two bytes in an append-ordered list.
//!
//! [`BlockLog`] has two implementations: [`PackLog`](crate::pack::PackLog), pack files on disk,
//! and [`MemoryLog`], its in-memory twin, which can [`crash`](MemoryLog::crash) and lose what was
//! appended since the last [`sync`](BlockLog::sync).
//!
//! Invariants every implementation keeps:
//! - records are read back exactly as appended, at the positions `append` returned;
//! - after `sync` returns, every record appended before it survives a crash; a crash loses only
//!   a suffix of the log (records appended after the last sync);
//! - `truncate` forgets a suffix that was never synced, as if it had never been appended.

use std::{
    fmt,
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use crate::{
    cid::{Cid, DigestPrefix},
    error_kind::ErrorKind,
    memory::SharedValues,
    sync_util::{read, write},
    CidMap,
};

/// A record's position in the log: its ordinal, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos(pub u64);

impl Pos {
    /// The position after this one.
    pub fn next(self) -> Pos {
        Pos(self.0 + 1)
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A place in the log to resume reading from: a position, the first position of the pack that
/// holds it, and its byte offset in that pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The position.
    pub pos: Pos,
    /// The first position of its pack.
    pub pack: u64,
    /// Its byte offset in the pack.
    pub offset: u64,
}

impl Resume {
    /// The 24-byte stored form: three `u64be`.
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.pos.0.to_be_bytes());
        out[8..16].copy_from_slice(&self.pack.to_be_bytes());
        out[16..].copy_from_slice(&self.offset.to_be_bytes());
        out
    }

    /// Parses the stored form.
    pub fn from_bytes(b: &[u8]) -> Option<Resume> {
        let u = |i: usize| Some(u64::from_be_bytes(b.get(i..i + 8)?.try_into().ok()?));
        (b.len() == 24).then_some(())?;
        Some(Resume {
            pos: Pos(u(0)?),
            pack: u(8)?,
            offset: u(16)?,
        })
    }
}

/// A block as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The block's CID (verified against `block` before it was appended).
    pub cid: Cid,
    /// A note from the layer that stored it (the dag keeps when the block arrived and who sent
    /// it): facts about the block that cannot be derived from it.
    pub note: Vec<u8>,
    /// The block's bytes.
    pub block: Vec<u8>,
}

/// The longest note a record may carry.
pub const MAX_NOTE: usize = 1024;

/// Errors of a block log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// An OS error on a log file.
    #[error("{} while {op} {}", crate::os::os_error(error), path.display())]
    Io {
        /// What was being done ("writing", "reading", "syncing", ...).
        op: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A record or index that does not read back as written.
    #[error("{what}")]
    Corrupt {
        /// The block, if its CID could be read.
        cid: Option<Cid>,
        /// What is wrong, with the file and offset.
        what: String,
    },
    /// A position past the end of the log.
    #[error("no record at position {pos} (the log ends at {end})")]
    OutOfRange {
        /// The position asked for.
        pos: Pos,
        /// The end of the log.
        end: Pos,
    },
}

impl LogError {
    /// What the caller acts on: [`ErrorKind::Storage`] for an OS error on a log file,
    /// [`ErrorKind::Corrupt`] for a record that does not read back as written.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LogError::Io { .. } => ErrorKind::Storage,
            LogError::Corrupt { .. } => ErrorKind::Corrupt,
            LogError::OutOfRange { .. } => ErrorKind::Other,
        }
    }
}

/// An append-only log of blocks; see the [module docs](self).
pub trait BlockLog: Send + Sync + fmt::Debug + 'static {
    /// Appends records, returning the position of the first. Not durable until [`sync`].
    ///
    /// On error nothing of the call is kept: a partly written record is cut off again.
    ///
    /// [`sync`]: BlockLog::sync
    fn append(&self, records: &[Record]) -> Result<Pos, LogError>;
    /// Makes every appended record durable.
    fn sync(&self) -> Result<(), LogError>;
    /// The position the next record will get.
    fn end(&self) -> Pos;
    /// The end of the part known to be durable.
    fn synced(&self) -> Pos;
    /// Forgets the records from `to` on, which must not have been synced.
    fn truncate(&self, to: Pos) -> Result<(), LogError>;
    /// The position of the record holding `cid`, if any.
    fn lookup(&self, cid: &Cid) -> Result<Option<Pos>, LogError>;
    /// Every CID of the log whose digest starts with `prefix`, with its position.
    fn with_prefix(&self, prefix: &DigestPrefix) -> Result<Vec<(Cid, Pos)>, LogError>;
    /// The record at `pos`.
    fn read(&self, pos: Pos) -> Result<Record, LogError>;
    /// The record at `pos` even if its block fails its checksum, and whether it checks out:
    /// for a report on a damaged block (its size), never to use the bytes.
    fn read_lossy(&self, pos: Pos) -> Result<(Record, bool), LogError> {
        self.read(pos).map(|r| (r, true))
    }
    /// The CID of the record at `pos` (without reading its block, where the log can).
    fn cid_at(&self, pos: Pos) -> Result<Cid, LogError> {
        Ok(self.read(pos)?.cid)
    }
    /// Where the next record will be written, in the form
    /// [`PackLog::open`](crate::pack::PackLog::open) resumes reading from.
    fn resume_point(&self) -> Resume {
        Resume {
            pos: self.end(),
            pack: 0,
            offset: 0,
        }
    }
    /// Bytes the log uses on disk (0 in memory).
    fn size_on_disk(&self) -> Result<u64, LogError>;
    /// Checks every record and index the log holds, reporting each problem found (for `fsck`).
    fn check(&self) -> Vec<LogError>;
}

/// One record of a [`MemoryLog`].
#[derive(Debug, Clone)]
struct MemRecord {
    cid: Cid,
    note: Box<[u8]>,
    block: Arc<[u8]>,
}

#[derive(Debug, Default)]
struct MemInner {
    records: Vec<MemRecord>,
    index: CidMap<u32>,
    synced: usize,
}

/// The in-memory twin of [`PackLog`](crate::pack::PackLog). Clones share the same records, so a
/// test can "reopen" a store on a clone, and [`crash`](MemoryLog::crash) it to lose every record
/// appended since the last sync.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    inner: Arc<RwLock<MemInner>>,
    /// Where blocks are kept, shared with other logs of this process (each held once).
    shared: Option<Arc<SharedValues>>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> MemoryLog {
        MemoryLog::default()
    }

    /// An empty log that keeps its blocks in `pool`, once for every log built on it.
    pub fn shared(pool: Arc<SharedValues>) -> MemoryLog {
        MemoryLog {
            inner: Arc::default(),
            shared: Some(pool),
        }
    }

    /// Simulates a power cut: every record appended after the last sync is lost.
    pub fn crash(&self) {
        let mut inner = self.write();
        let synced = inner.synced;
        MemoryLog::cut(&mut inner, synced);
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.read_lock().records.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn cut(inner: &mut MemInner, to: usize) {
        for r in inner.records.drain(to..) {
            inner.index.remove(&r.cid);
        }
        inner.synced = inner.synced.min(to);
    }

    fn read_lock(&self) -> RwLockReadGuard<'_, MemInner> {
        // Every mutation leaves the log whole (a push, a truncation): a poisoned lock is usable.
        read(&self.inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, MemInner> {
        write(&self.inner)
    }

    fn block_bytes(&self, cid: &Cid, block: &[u8]) -> Arc<[u8]> {
        match &self.shared {
            Some(pool) => pool.block(cid, block),
            None => block.into(),
        }
    }
}

impl BlockLog for MemoryLog {
    fn append(&self, records: &[Record]) -> Result<Pos, LogError> {
        let new: Vec<MemRecord> = records
            .iter()
            .map(|r| MemRecord {
                cid: r.cid,
                note: r.note.clone().into_boxed_slice(),
                block: self.block_bytes(&r.cid, &r.block),
            })
            .collect();
        let mut inner = self.write();
        let first = inner.records.len();
        for r in new {
            let i = inner.records.len() as u32;
            inner.index.insert(r.cid, i);
            inner.records.push(r);
        }
        Ok(Pos(first as u64))
    }

    fn sync(&self) -> Result<(), LogError> {
        let mut inner = self.write();
        inner.synced = inner.records.len();
        Ok(())
    }

    fn end(&self) -> Pos {
        Pos(self.read_lock().records.len() as u64)
    }

    fn synced(&self) -> Pos {
        Pos(self.read_lock().synced as u64)
    }

    fn truncate(&self, to: Pos) -> Result<(), LogError> {
        let mut inner = self.write();
        let to = (to.0 as usize).min(inner.records.len());
        MemoryLog::cut(&mut inner, to);
        Ok(())
    }

    fn lookup(&self, cid: &Cid) -> Result<Option<Pos>, LogError> {
        Ok(self.read_lock().index.get(cid).map(|&i| Pos(u64::from(i))))
    }

    fn with_prefix(&self, prefix: &DigestPrefix) -> Result<Vec<(Cid, Pos)>, LogError> {
        Ok(self
            .read_lock()
            .index
            .iter()
            .filter(|(c, _)| prefix.matches(&c.digest()))
            .map(|(c, &i)| (*c, Pos(u64::from(i))))
            .collect())
    }

    fn read(&self, pos: Pos) -> Result<Record, LogError> {
        let inner = self.read_lock();
        match inner.records.get(pos.0 as usize) {
            Some(r) => Ok(Record {
                cid: r.cid,
                note: r.note.to_vec(),
                block: r.block.to_vec(),
            }),
            None => Err(LogError::OutOfRange {
                pos,
                end: Pos(inner.records.len() as u64),
            }),
        }
    }

    fn cid_at(&self, pos: Pos) -> Result<Cid, LogError> {
        let inner = self.read_lock();
        inner
            .records
            .get(pos.0 as usize)
            .map(|r| r.cid)
            .ok_or(LogError::OutOfRange {
                pos,
                end: Pos(inner.records.len() as u64),
            })
    }

    fn size_on_disk(&self) -> Result<u64, LogError> {
        Ok(0)
    }

    fn check(&self) -> Vec<LogError> {
        let inner = self.read_lock();
        inner
            .records
            .iter()
            .filter(|r| r.cid.verify(&r.block).is_err())
            .map(|r| LogError::Corrupt {
                cid: Some(r.cid),
                what: format!("block {} does not hash to its CID", r.cid),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codec;

    fn rec(data: &[u8]) -> Record {
        Record {
            cid: Cid::hash(Codec::Raw, data),
            note: b"n".to_vec(),
            block: data.to_vec(),
        }
    }

    #[test]
    fn a_crash_loses_what_was_not_synced() {
        let log = MemoryLog::new();
        assert_eq!(log.append(&[rec(b"a"), rec(b"b")]).unwrap(), Pos(0));
        log.sync().unwrap();
        assert_eq!(log.append(&[rec(b"c")]).unwrap(), Pos(2));
        assert_eq!(log.end(), Pos(3));
        assert_eq!(log.synced(), Pos(2));
        log.crash();
        assert_eq!(log.end(), Pos(2));
        assert_eq!(log.lookup(&rec(b"c").cid).unwrap(), None);
        assert_eq!(log.lookup(&rec(b"b").cid).unwrap(), Some(Pos(1)));
        assert_eq!(log.read(Pos(1)).unwrap(), rec(b"b"));
        assert!(matches!(log.read(Pos(2)), Err(LogError::OutOfRange { .. })));
        // Appending again reuses the lost positions.
        assert_eq!(log.append(&[rec(b"d")]).unwrap(), Pos(2));
        log.truncate(Pos(2)).unwrap();
        assert_eq!(log.end(), Pos(2));
    }

    #[test]
    fn logs_on_one_pool_hold_a_block_once() {
        let pool = Arc::new(SharedValues::new());
        let a = MemoryLog::shared(pool.clone());
        let b = MemoryLog::shared(pool.clone());
        a.append(&[rec(b"same")]).unwrap();
        b.append(&[rec(b"same")]).unwrap();
        assert_eq!(pool.len(), 1);
        assert_eq!(b.read(Pos(0)).unwrap(), rec(b"same"));
    }
}
