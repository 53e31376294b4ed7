//! The sled backend. This is the only module of weft that names sled.

use std::{
    fs::{File, OpenOptions},
    ops::Bound,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::{
    backend::{Backend, BackendError, EntryIter, RawBatch, RawOp},
    layout::TREE_NAME,
    OpenError,
};

/// A sled database holding weft's single tree, plus the lock file that keeps other processes out.
#[derive(Debug)]
pub struct SledBackend {
    path: PathBuf,
    db: sled::Db,
    tree: sled::Tree,
    // Held for the lifetime of the backend: the OS releases the lock when the process dies.
    _lock: File,
}

/// Name of the lock file inside the database directory.
pub const LOCK_FILE: &str = "weft.lock";

impl SledBackend {
    /// Opens (creating if needed) the database directory at `path`.
    ///
    /// Fails with [`OpenError::Locked`] if another process holds it.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<SledBackend, OpenError> {
        std::fs::create_dir_all(path).map_err(|source| OpenError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| OpenError::Io {
                path: lock_path.clone(),
                source,
            })?;
        take_lock(&lock, path, &lock_path)?;
        let db = open_sled(path, cache_bytes)?;
        let tree = db
            .open_tree(TREE_NAME)
            .map_err(|e| map_open_error(path, e))?;
        Ok(SledBackend {
            path: path.to_path_buf(),
            db,
            tree,
            _lock: lock,
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How long [`SledBackend::open`] retries a busy [`LOCK_FILE`] before reporting `Locked`.
///
/// `flock` locks belong to an open file description, and a child process forked by *any* thread
/// of this process shares every descriptor until it calls `exec` (even `O_CLOEXEC` ones). A store
/// closed and reopened in a process that also spawns children can therefore find its own released
/// lock still held for the instant between that fork and exec. A short retry rides that out; a
/// lock held by another weft process stays held and is reported once the wait is over.
const OWN_LOCK_WAIT: Duration = Duration::from_millis(300);

/// Takes the exclusive lock on [`LOCK_FILE`], retrying for up to [`OWN_LOCK_WAIT`].
fn take_lock(lock: &File, path: &Path, lock_path: &Path) -> Result<(), OpenError> {
    let deadline = Instant::now() + OWN_LOCK_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(25));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(OpenError::Locked {
                    path: path.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(OpenError::Io {
                    path: lock_path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// How long [`SledBackend::open`], already holding [`LOCK_FILE`], waits for sled's own lock.
const SLED_LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens sled, waiting up to [`SLED_LOCK_WAIT`] for its own file lock.
///
/// Sled releases its lock on the `db` file only when its last internal handle goes, which can be
/// tens of milliseconds after the last `Db` was dropped under load (sled issues #1234, #1289): a
/// store dropped and reopened in the same process would otherwise fail at random. The caller holds
/// [`LOCK_FILE`], so no other weft holds the database and the contention is short-lived; if it
/// outlasts the wait (something other than weft holds sled's lock), the store is `Locked`.
fn open_sled(path: &Path, cache_bytes: u64) -> Result<sled::Db, OpenError> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        .mode(sled::Mode::HighThroughput);
    let deadline = Instant::now() + SLED_LOCK_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        match config.open() {
            Err(e) if is_sled_lock_error(&e) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result.map_err(|e| map_open_error(path, e)),
        }
    }
}

/// Whether sled failed to take its lock on the `db` file. Sled 0.34 reports that as an
/// `ErrorKind::Other` error whose message starts with "could not acquire lock", not as
/// `WouldBlock`.
fn is_sled_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(source) => {
            source.kind() == std::io::ErrorKind::WouldBlock
                || (source.kind() == std::io::ErrorKind::Other
                    && source.to_string().starts_with("could not acquire lock"))
        }
        _ => false,
    }
}

fn map_open_error(path: &Path, e: sled::Error) -> OpenError {
    match e {
        e if is_sled_lock_error(&e) => OpenError::Locked {
            path: path.to_path_buf(),
        },
        sled::Error::Io(source) => OpenError::Io {
            path: path.to_path_buf(),
            source,
        },
        sled::Error::Corruption { .. } | sled::Error::Unsupported(_) => OpenError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
        other => OpenError::Backend {
            path: path.to_path_buf(),
            source: Box::new(other),
        },
    }
}

impl Backend for SledBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    fn contains(&self, key: &[u8]) -> Result<bool, BackendError> {
        Ok(self.tree.contains_key(key)?)
    }

    fn scan(&self, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>, reverse: bool) -> EntryIter<'_> {
        let iter = self.tree.range::<Vec<u8>, _>((lower, upper));
        let map = |r: Result<(sled::IVec, sled::IVec), sled::Error>| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(|e| Box::new(e) as BackendError)
        };
        if reverse {
            Box::new(iter.rev().map(map))
        } else {
            Box::new(iter.map(map))
        }
    }

    fn apply(&self, batch: RawBatch) -> Result<(), BackendError> {
        let mut b = sled::Batch::default();
        for op in batch.ops {
            match op {
                RawOp::Put(k, v) => b.insert(k, v),
                RawOp::Delete(k) => b.remove(k),
            }
        }
        self.tree.apply_batch(b)?;
        Ok(())
    }

    fn flush(&self) -> Result<(), BackendError> {
        self.db.flush()?;
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64, BackendError> {
        Ok(self.db.size_on_disk()?)
    }
}
