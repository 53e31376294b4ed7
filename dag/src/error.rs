//! The errors of the [`Repo`](crate::Repo) API.

use std::path::PathBuf;

use weft_store::Cid;

use crate::{
    change::{DecodeError, VerifyError},
    identity::{Author, IdentityError},
    kind::Kind,
    role::Role,
};

/// Everything a repo operation can fail with. Each variant names what was being looked at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `.weft` directory where one was expected.
    #[error("not a weft repo: {} (run `weft init` to create one)", path.display())]
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
    #[error("the repo at {} is open in another weft process that does not serve it (wait for it, or run the long-lived one as `weft serve`)", path.display())]
    Locked {
        /// The repo root.
        path: PathBuf,
    },
    /// The repo has no key file and none was given.
    #[error("no author key for the repo at {}: expected {} (or pass --identity / WEFT_IDENTITY)", path.display(), key.display())]
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
    Open(weft_store::OpenError),
    /// A storage failure.
    #[error(transparent)]
    Store(#[from] weft_store::Error),
    /// No document has that local name.
    #[error("unknown document {name:?} (see `weft doc ls`)")]
    UnknownDoc {
        /// The name asked for.
        name: String,
    },
    /// A document name is taken.
    #[error("a document named {name:?} already exists")]
    DocExists {
        /// The name.
        name: String,
    },
    /// A document name that cannot be used.
    #[error("invalid document name {name:?}: {reason}")]
    InvalidDocName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The key holds nothing.
    #[error("key not found: {key:?}")]
    KeyNotFound {
        /// The key.
        key: String,
    },
    /// A key that cannot be used.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// An operation of one CRDT kind on a key that holds another.
    #[error("key {key:?} is a {found}, not a {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// The kind the operation needs.
        expected: Kind,
        /// The kind the key holds.
        found: Kind,
    },
    /// A counter whose value does not fit i64.
    #[error("counter {key:?} would overflow 64 bits")]
    CounterOverflow {
        /// The key.
        key: String,
    },
    /// A transaction too big for one change (see the limits in [`crate::change`]).
    #[error("the change is too large: {reason}")]
    ChangeTooLarge {
        /// Which limit it breaks.
        reason: String,
    },
    /// A value that cannot be stored.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// No change or block with that CID.
    #[error("unknown change or block {cid}")]
    UnknownCid {
        /// The CID.
        cid: Cid,
    },
    /// A change named for a document it does not belong to.
    #[error("change {cid} belongs to document {actual}, not {expected}")]
    WrongDoc {
        /// The change.
        cid: Cid,
        /// The document asked for.
        expected: Cid,
        /// The change's document.
        actual: Cid,
    },
    /// Bytes that do not hash to the CID they came with.
    #[error(transparent)]
    HashMismatch(#[from] weft_store::HashMismatch),
    /// A block that is not a valid change.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A change whose signature or shape is invalid.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A change that contradicts the changes it builds on.
    #[error("change {cid} is invalid: {reason}")]
    InvalidChange {
        /// The change.
        cid: Cid,
        /// Why.
        reason: String,
    },
    /// A change whose author did not hold the role it needs in the change's own past (see
    /// [`crate::acl`]). Nothing of it is stored.
    #[error("change {cid} by {author} is not allowed: it needs the {needed} role, and its author {} at its parents (a member with the admin role grants it with `weft grant {author} --role {needed}`)", held.map_or("had none".to_string(), |r| format!("was only a {r}")))]
    Unauthorized {
        /// The change.
        cid: Cid,
        /// Its author.
        author: Author,
        /// The role its ops need.
        needed: Role,
        /// The role its author held at its parents.
        held: Option<Role>,
    },
    /// An author signed two different changes with the same sequence number in one document.
    /// The second one is rejected.
    #[error("equivocation: author {author} signed both {first} and {second} with seq {seq}; {second} is rejected")]
    Equivocation {
        /// The author.
        author: Author,
        /// The sequence number used twice.
        seq: u64,
        /// The change stored first.
        first: Cid,
        /// The change rejected.
        second: Cid,
    },
    /// Changes whose parents never arrived. Every other change of the same call was applied.
    #[error("change {cid} is missing its parent {missing} ({n_orphans} change(s) rejected as orphans, {n_applied} applied)")]
    Orphans {
        /// The first orphan.
        cid: Cid,
        /// One of its missing parents.
        missing: Cid,
        /// How many changes were rejected.
        n_orphans: usize,
        /// How many changes were applied.
        n_applied: usize,
    },
    /// A record of the log could not be staged again when the repo was opened (after a crash):
    /// the store is damaged.
    #[error("replaying the change {cid} at position {pos} of the log failed: {reason}")]
    Replay {
        /// Its position.
        pos: u64,
        /// The record's CID.
        cid: Cid,
        /// What went wrong.
        reason: String,
    },
    /// A file-system failure outside the database.
    #[error("cannot access {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}
