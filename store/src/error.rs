//! The store's errors: opening ([`OpenError`]) and reading or writing ([`Error`]).

use std::{io, path::PathBuf};

use crate::{
    backend::BackendError,
    cid::{Cid, HashMismatch},
    error_kind::ErrorKind,
    log::{LogError, MAX_NOTE},
    os::os_error,
};

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
    #[error("cannot open {}: {}", path.display(), os_error(error))]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The database files are damaged.
    #[error("the store at {} is damaged: {reason}", path.display())]
    Corrupt {
        /// The store directory.
        path: PathBuf,
        /// What was found.
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
    #[error("migrating the database at {} from format {from} failed: {error}", path.display())]
    Migration {
        /// The database directory (empty for memory).
        path: PathBuf,
        /// The version migrated from.
        from: u32,
        /// What went wrong.
        error: Box<Error>,
    },
    /// Any other backend failure.
    #[error("cannot open the database at {}: {error}", path.display())]
    Backend {
        /// The database directory.
        path: PathBuf,
        /// The backend error.
        error: BackendError,
    },
}

impl OpenError {
    /// What the caller acts on: [`ErrorKind::Busy`] for a database another process holds,
    /// [`ErrorKind::Storage`] for files that cannot be read or written, [`ErrorKind::Corrupt`]
    /// for damaged ones.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OpenError::Locked { .. } => ErrorKind::Busy,
            OpenError::Io { .. } => ErrorKind::Storage,
            OpenError::Corrupt { .. } => ErrorKind::Corrupt,
            OpenError::UnsupportedFormat { .. }
            | OpenError::Migration { .. }
            | OpenError::Backend { .. } => ErrorKind::Other,
        }
    }
}

/// Errors from reading or writing a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed while doing `op`.
    #[error("storage error while {op}: {error}")]
    Backend {
        /// What was being done.
        op: &'static str,
        /// The backend error.
        error: BackendError,
    },
    /// The block log failed.
    #[error(transparent)]
    Log(#[from] LogError),
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
    /// A note over [`MAX_NOTE`] bytes.
    #[error("a note of {size} bytes is over the {MAX_NOTE}-byte limit")]
    NoteTooLarge {
        /// Its size.
        size: usize,
    },
    /// A stored entry cannot be read back.
    #[error("corrupt entry in keyspace {keyspace}: {reason}")]
    CorruptEntry {
        /// Keyspace name.
        keyspace: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The store was opened read-only: its files cannot be written.
    #[error("cannot write to {}: {reason}", path.display())]
    ReadOnly {
        /// The store directory.
        path: PathBuf,
        /// Why (the OS error that made the store read-only: a read-only file system, no space
        /// left on the device, no permission).
        reason: String,
    },
    /// An earlier write failed in a way that may have left writes visible that are not durable;
    /// [`Store::recover`] must run first.
    #[error(
        "an earlier write failed ({reason}); the store must be recovered before the next write"
    )]
    Failed {
        /// The first failure.
        reason: String,
    },
    /// A batch staged a new block while records of the log were still to be replayed.
    #[error("the store has records to replay before new blocks can be written")]
    NotReplayed,
}

impl Error {
    pub(crate) fn backend(op: &'static str) -> impl FnOnce(BackendError) -> Error {
        move |error| Error::Backend { op, error }
    }

    /// What the caller acts on: [`ErrorKind::Storage`] when the files cannot be written (or
    /// read) as such, [`ErrorKind::Corrupt`] for data that does not read back as written,
    /// [`ErrorKind::InvalidInput`] for a block over the size limit.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Log(e) => e.kind(),
            Error::HashMismatch(e) => e.kind(),
            Error::CorruptEntry { .. } => ErrorKind::Corrupt,
            Error::BlockTooLarge { .. } => ErrorKind::InvalidInput,
            Error::ReadOnly { .. } | Error::Failed { .. } => ErrorKind::Storage,
            Error::Backend { .. } if self.io_error().is_some() => ErrorKind::Storage,
            Error::Backend { .. } | Error::NoteTooLarge { .. } | Error::NotReplayed => {
                ErrorKind::Other
            }
        }
    }

    /// The OS error behind this error, if there is one (a full disk, a read-only file system).
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::Log(LogError::Io { error, .. }) => Some(error),
            Error::Backend { error, .. } => find_io(error.as_ref()),
            _ => None,
        }
    }
}

fn find_io<'e>(mut e: &'e (dyn std::error::Error + 'static)) -> Option<&'e io::Error> {
    loop {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io);
        }
        e = e.source()?;
    }
}
