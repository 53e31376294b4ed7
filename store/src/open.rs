//! Opening a store: on disk ([`Store::open`]), in memory ([`Store::memory`]), or over any
//! database and log ([`Store::with_backend`]). Each assembles the parts, then brings the format up
//! to date ([`crate::migrate`]).

use std::{
    io,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use crate::{
    backend::Backend,
    error::OpenError,
    layout::{DB_DIR, PACKS_DIR},
    log::MemoryLog,
    memory::{MemoryBackend, SharedValues},
    migrate,
    pack::{OpenReport, PackLog},
    sled_backend::SledBackend,
    store::{read_checkpoint, Parts, Reopen, Store},
    BlockLog, Options,
};

/// Runs the migrations a store just assembled needs.
fn finish(store: Result<Store, OpenError>) -> Result<Store, OpenError> {
    let store = store?;
    migrate::run(&store, migrate::MIGRATIONS)?;
    Ok(store)
}

impl Store {
    /// Opens or creates the store in the directory `dir` (a repo's `.weft`): the database in
    /// `dir/db`, the packs in `dir/packs`. When the files cannot be written (a read-only file
    /// system, no write permission), the store is opened read-only.
    pub fn open(dir: &Path, options: Options) -> Result<Store, OpenError> {
        let db_dir = dir.join(DB_DIR);
        let opened = SledBackend::open(&db_dir, options.cache_bytes).map_err(|e| match e {
            OpenError::Locked { .. } => OpenError::Locked {
                path: dir.to_path_buf(),
            },
            e => e,
        })?;
        let read_only = opened.read_only.is_some();
        let read_only_reason = opened.read_only.clone();
        let backend: Arc<dyn Backend> = Arc::new(opened.backend);
        let resume = read_checkpoint(backend.as_ref()).map_err(|e| OpenError::Corrupt {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let packs = dir.join(PACKS_DIR);
        if opened.legacy.is_some() && !read_only {
            // Packs beside a format-1 tree are from a migration that did not finish.
            match std::fs::remove_dir_all(&packs) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(OpenError::Io { path: packs, error }),
            }
        }
        let (log, report) =
            PackLog::open(&packs, read_only, resume, options.seal_bytes).map_err(|e| {
                OpenError::Corrupt {
                    path: dir.to_path_buf(),
                    reason: e.to_string(),
                }
            })?;
        let reopen: Option<Reopen> = if read_only {
            None
        } else {
            let db_dir = db_dir.clone();
            let cache = options.cache_bytes;
            let lock = opened.lock.clone();
            Some(Box::new(move || {
                Ok(Arc::new(SledBackend::reopen(&db_dir, cache, lock.clone())?)
                    as Arc<dyn Backend>)
            }))
        };
        finish(Store::assemble(
            backend,
            Arc::new(log),
            options,
            Parts {
                path: Some(dir.to_path_buf()),
                read_only: read_only_reason,
                volatile: false,
                report,
                legacy: opened.legacy,
                reopen,
                resume,
            },
        ))
    }

    /// A fresh in-memory store that is never crashed: it never checkpoints (its memtable is its
    /// whole state) and keeps no durable copy.
    pub fn memory() -> Store {
        Store::fresh_memory(MemoryLog::new())
    }

    /// A fresh in-memory store that keeps its blocks in `pool`, once for every store built on
    /// it: for many replicas in one process.
    pub fn memory_shared(pool: Arc<SharedValues>) -> Store {
        Store::fresh_memory(MemoryLog::shared(pool))
    }

    fn fresh_memory(log: MemoryLog) -> Store {
        let options = Options {
            sync_commits: false,
            checkpoint_records: u64::MAX,
            checkpoint_bytes: usize::MAX,
            checkpoint_interval: Duration::MAX,
            ..Options::default()
        };
        let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::volatile());
        let assembled = finish(Store::assemble(
            backend,
            Arc::new(log),
            options,
            Parts {
                path: None,
                read_only: None,
                volatile: true,
                report: OpenReport::default(),
                legacy: None,
                reopen: None,
                resume: None,
            },
        ));
        match assembled {
            Ok(store) => store,
            // A fresh memory backend has no format to disagree with and cannot fail IO.
            Err(e) => unreachable!("fresh memory store cannot fail to open: {e}"),
        }
    }

    /// Opens a store over any database and log (for example a [`MemoryBackend`] and a
    /// [`MemoryLog`] whose crashes a test simulates), running migrations as needed.
    pub fn with_backend(
        backend: Arc<dyn Backend>,
        log: Arc<dyn BlockLog>,
        options: Options,
    ) -> Result<Store, OpenError> {
        let resume = read_checkpoint(backend.as_ref()).map_err(|e| OpenError::Corrupt {
            path: PathBuf::new(),
            reason: e.to_string(),
        })?;
        finish(Store::assemble(
            backend,
            log,
            options,
            Parts {
                path: None,
                read_only: None,
                volatile: false,
                report: OpenReport::default(),
                legacy: None,
                reopen: None,
                resume,
            },
        ))
    }
}
