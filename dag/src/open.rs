//! The errors of opening and creating a repo on disk ([`Repo::open`](crate::Repo::open),
//! [`Repo::init`](crate::Repo::init)): no repo there, one already there, held by another
//! process, no key, unreadable or damaged files. What an open repo does fails with
//! [`crate::Error`].

use std::path::PathBuf;

use weft_store::ErrorKind;

use crate::identity::IdentityError;

/// Why a repo could not be opened or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `.weft` directory holding a store where one was expected.
    #[error("not a weft repo: {}", path.display())]
    NotARepo {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// `init` on a directory that already holds a repo.
    #[error("a weft repo already exists at {}", path.display())]
    AlreadyExists {
        /// The repo root.
        path: PathBuf,
    },
    /// Another process has the repo open.
    #[error("the repo at {} is open in another weft process", path.display())]
    Locked {
        /// The repo root.
        path: PathBuf,
    },
    /// The repo has no key file and [`Options::identity`](crate::Options::identity) gives none.
    #[error("no author key for the repo at {}: expected {}", path.display(), key.display())]
    NoIdentity {
        /// The repo root.
        path: PathBuf,
        /// The expected key file.
        key: PathBuf,
    },
    /// The key file is unusable.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(weft_store::OpenError),
    /// The `.weft` directory could not be created.
    #[error("cannot access {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Bringing the opened store up to date failed (migrating an older format, staging again
    /// the log records a crash left, finishing the membership work a crash interrupted), or,
    /// for `init`, writing the first document.
    #[error(transparent)]
    Prepare(#[from] crate::Error),
}

impl Error {
    /// What the caller acts on: [`ErrorKind::NotARepo`], [`ErrorKind::Busy`] for a repo
    /// another process holds, the store's kind for files that cannot be opened (and
    /// [`ErrorKind::Other`] for an existing repo or a missing key).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotARepo { .. } => ErrorKind::NotARepo,
            Error::Locked { .. } => ErrorKind::Busy,
            Error::Identity(e) => e.kind(),
            Error::Store(e) => e.kind(),
            Error::Prepare(e) => e.kind(),
            Error::AlreadyExists { .. } | Error::NoIdentity { .. } | Error::Io { .. } => {
                ErrorKind::Other
            }
        }
    }
}
