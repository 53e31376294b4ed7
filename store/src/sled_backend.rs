//! The sled backend. This is the only module of weft that names sled.

use std::{
    fs::{File, OpenOptions},
    ops::Bound,
    path::{Path, PathBuf},
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
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(OpenError::Locked {
                    path: path.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(OpenError::Io {
                    path: lock_path,
                    source,
                })
            }
        }
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| map_open_error(path, e))?;
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

fn map_open_error(path: &Path, e: sled::Error) -> OpenError {
    match e {
        sled::Error::Io(source) if source.kind() == std::io::ErrorKind::WouldBlock => {
            OpenError::Locked {
                path: path.to_path_buf(),
            }
        }
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
