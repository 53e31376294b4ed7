//! The sled backend. This is the only module of weft that names sled.

use std::{
    fs::{File, OpenOptions},
    io::ErrorKind,
    ops::Bound,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    backend::{Backend, BackendError, EntryIter, RawBatch, RawOp},
    error::OpenError,
    layout::{LEGACY_TREE_NAME, TREE_NAME},
};

/// A sled database holding weft's single tree, plus the lock file that keeps other processes out.
#[derive(Debug)]
pub struct SledBackend {
    path: PathBuf,
    db: sled::Db,
    tree: sled::Tree,
    // Held for the lifetime of the backend: the OS releases the lock when the process dies.
    _lock: Arc<File>,
    // A read-only store works on a copy of the database in a temporary directory.
    _copy: Option<tempfile::TempDir>,
}

/// Name of the lock file inside the database directory.
pub const LOCK_FILE: &str = "weft.lock";

/// What [`SledBackend::open`] found.
#[derive(Debug)]
pub struct Opened {
    /// The database.
    pub backend: SledBackend,
    /// Why the files cannot be written, if they cannot (then the database is a private copy).
    pub read_only: Option<String>,
    /// The tree of format 1, if the database still holds one.
    pub legacy: Option<LegacyTree>,
    /// The lock, for [`SledBackend::reopen`].
    pub lock: Arc<File>,
}

/// Whether an OS error means the files cannot be written (so reads may still work).
fn cannot_write(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied | ErrorKind::StorageFull
    )
}

impl SledBackend {
    /// Opens (creating if needed) the database directory at `path`.
    ///
    /// Fails with [`OpenError::Locked`] if another process holds it. When the directory cannot
    /// be written (a read-only file system, no permission, no space to open the database), it
    /// opens a copy of the database in a temporary directory instead and says so (`read_only`).
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Opened, OpenError> {
        let lock_path = path.join(LOCK_FILE);
        let writable = std::fs::create_dir_all(path).and_then(|()| {
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
        });
        let lock = match writable {
            Ok(lock) => lock,
            Err(e) if cannot_write(e.kind()) && path.join("conf").exists() => {
                return SledBackend::open_copy(path, cache_bytes, crate::os::os_error(&e));
            }
            Err(error) => {
                return Err(OpenError::Io {
                    path: lock_path,
                    error,
                })
            }
        };
        take_lock(&lock, path, &lock_path, false)?;
        let lock = Arc::new(lock);
        remove_unfinished_snapshots(path);
        let db = match open_sled(path, cache_bytes) {
            Ok(db) => db,
            Err(OpenError::Io { error, .. }) if cannot_write(error.kind()) => {
                drop(lock);
                return SledBackend::open_copy(path, cache_bytes, crate::os::os_error(&error));
            }
            Err(e) => return Err(e),
        };
        let legacy = LegacyTree::find(&db, path)?;
        if legacy.is_some() {
            // Whatever the current tree holds is from a migration that did not finish: it starts
            // over from the format-1 tree.
            db.drop_tree(TREE_NAME)
                .map_err(|e| map_open_error(path, e))?;
        }
        let tree = db
            .open_tree(TREE_NAME)
            .map_err(|e| map_open_error(path, e))?;
        Ok(Opened {
            backend: SledBackend {
                path: path.to_path_buf(),
                db,
                tree,
                _lock: lock.clone(),
                _copy: None,
            },
            read_only: None,
            legacy,
            lock,
        })
    }

    /// Opens the database again in this process, once every handle of the previous one is gone
    /// (after a failure: sled refuses every operation once an IO error reached it).
    pub fn reopen(
        path: &Path,
        cache_bytes: u64,
        lock: Arc<File>,
    ) -> Result<SledBackend, OpenError> {
        let db = open_sled(path, cache_bytes)?;
        let tree = db
            .open_tree(TREE_NAME)
            .map_err(|e| map_open_error(path, e))?;
        Ok(SledBackend {
            path: path.to_path_buf(),
            db,
            tree,
            _lock: lock,
            _copy: None,
        })
    }

    /// A read-only open: a shared lock (a writer elsewhere keeps it out), and sled on a copy.
    fn open_copy(path: &Path, cache_bytes: u64, why: String) -> Result<Opened, OpenError> {
        let lock_path = path.join(LOCK_FILE);
        let lock = File::open(&lock_path).map_err(|error| OpenError::Io {
            path: lock_path.clone(),
            error,
        })?;
        take_lock(&lock, path, &lock_path, true)?;
        let copy = tempfile::Builder::new()
            .prefix("weft-read-only-")
            .tempdir()
            .map_err(|error| OpenError::Io {
                path: std::env::temp_dir(),
                error,
            })?;
        copy_dir(path, copy.path()).map_err(|error| OpenError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let db = open_sled(copy.path(), cache_bytes)?;
        let legacy = LegacyTree::find(&db, path)?;
        let tree = db
            .open_tree(TREE_NAME)
            .map_err(|e| map_open_error(path, e))?;
        let lock = Arc::new(lock);
        Ok(Opened {
            backend: SledBackend {
                path: path.to_path_buf(),
                db,
                tree,
                _lock: lock.clone(),
                _copy: Some(copy),
            },
            read_only: Some(why),
            legacy,
            lock,
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether a file of a sled directory is a snapshot sled began and did not finish. Sled 0.34
/// reads the newest `snap.*` file at open, unfinished or not, and then calls the database
/// corrupt: a snapshot cut short by a full disk would make every later open fail.
fn is_unfinished_snapshot(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("snap.") && name.ends_with(".generating")
}

/// Removes the snapshots sled began and did not finish (see [`is_unfinished_snapshot`]). The
/// caller holds the lock, so no sled of another process is writing one.
fn remove_unfinished_snapshots(path: &Path) {
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for e in entries.flatten() {
        if is_unfinished_snapshot(&e.file_name()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Copies the files of a sled directory (not the lock, not an unfinished snapshot) into `to`.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        if name == LOCK_FILE || is_unfinished_snapshot(&name) {
            continue;
        }
        let target = to.join(&name);
        if e.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

/// The sled tree of format 1, opened to migrate it.
#[derive(Debug, Clone)]
pub struct LegacyTree {
    db: sled::Db,
    tree: sled::Tree,
}

impl LegacyTree {
    fn find(db: &sled::Db, path: &Path) -> Result<Option<LegacyTree>, OpenError> {
        let present = db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == LEGACY_TREE_NAME.as_bytes());
        if !present {
            return Ok(None);
        }
        let tree = db
            .open_tree(LEGACY_TREE_NAME)
            .map_err(|e| map_open_error(path, e))?;
        Ok(Some(LegacyTree {
            db: db.clone(),
            tree,
        }))
    }

    /// Removes the tree (after its content was migrated).
    pub fn drop_tree(self) -> Result<(), BackendError> {
        self.db.drop_tree(LEGACY_TREE_NAME)?;
        self.db.flush()?;
        Ok(())
    }
}

impl Backend for LegacyTree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> EntryIter<'static> {
        scan_tree(&self.tree, lower, upper, reverse)
    }

    fn apply(&self, _batch: RawBatch) -> Result<(), BackendError> {
        Err("the format-1 tree is read only to migrate it".into())
    }

    fn flush(&self) -> Result<(), BackendError> {
        Ok(())
    }

    fn size_on_disk(&self) -> Result<u64, BackendError> {
        Ok(0)
    }
}

fn scan_tree(
    tree: &sled::Tree,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
) -> EntryIter<'static> {
    let iter = tree.range::<Vec<u8>, _>((lower, upper));
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

/// How long [`SledBackend::open`] retries a busy [`LOCK_FILE`] before reporting `Locked`.
///
/// `flock` locks belong to an open file description, and a child process forked by *any* thread
/// of this process shares every descriptor until it calls `exec` (even `O_CLOEXEC` ones). A store
/// closed and reopened in a process that also spawns children can therefore find its own released
/// lock still held for the instant between that fork and exec. A short retry rides that out; a
/// lock held by another weft process stays held and is reported once the wait is over.
const OWN_LOCK_WAIT: Duration = Duration::from_millis(300);

/// Takes the lock on [`LOCK_FILE`] (shared for a read-only open), retrying for up to
/// [`OWN_LOCK_WAIT`].
fn take_lock(lock: &File, path: &Path, lock_path: &Path, shared: bool) -> Result<(), OpenError> {
    let deadline = Instant::now() + OWN_LOCK_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        let taken = if shared {
            lock.try_lock_shared()
        } else {
            lock.try_lock()
        };
        match taken {
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
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(OpenError::Io {
                    path: lock_path.to_path_buf(),
                    error,
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
        sled::Error::Io(error) => OpenError::Io {
            path: path.to_path_buf(),
            error,
        },
        sled::Error::Corruption { .. } | sled::Error::Unsupported(_) => OpenError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
        other => OpenError::Backend {
            path: path.to_path_buf(),
            error: Box::new(other),
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

    fn scan(
        &self,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> EntryIter<'static> {
        scan_tree(&self.tree, lower, upper, reverse)
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
