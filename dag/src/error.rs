//! The errors of what an open [`Repo`](crate::Repo) does ([`Error`]); opening or creating one
//! has its own ([`crate::open::Error`]).

use weft_store::{Cid, ErrorKind};

use crate::{
    change::{DecodeError, KeyError, OpId, VerifyError},
    id::DocId,
    identity::Author,
    kind::Kind,
    role::Role,
    seq::SeqError,
    value::ValueError,
};

/// Everything an operation of an open repo can fail with. Each variant names what was being
/// looked at; [`Error::kind`] says what the caller can do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A storage failure.
    #[error(transparent)]
    Store(#[from] weft_store::Error),
    /// No document has that local name.
    #[error("unknown document {}", weft_store::clip(.name))]
    UnknownDoc {
        /// The name asked for.
        name: String,
    },
    /// The document was removed here (`doc rm`).
    #[error("document {} was removed from this replica", weft_store::clip(.name))]
    RemovedDoc {
        /// The name or id asked for.
        name: String,
    },
    /// A document name is taken.
    #[error("a document named {} already exists", weft_store::clip(.name))]
    DocExists {
        /// The name.
        name: String,
    },
    /// A document name that cannot be used.
    #[error("invalid document name {}: {reason}", weft_store::clip(.name))]
    InvalidDocName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The key holds nothing.
    #[error("key not found: {}", weft_store::clip(.key))]
    KeyNotFound {
        /// The key.
        key: String,
    },
    /// A list or text edit that does not fit the key's state: an index beyond its length, an
    /// element that is not there.
    #[error("key {}: {reason}", weft_store::clip(.key))]
    Position {
        /// The list or text.
        key: String,
        /// What did not fit.
        reason: SeqError,
    },
    /// No list holds this element (it was deleted, or never existed here).
    #[error("no list holds element {elem}")]
    UnknownElement {
        /// The element's id.
        elem: OpId,
    },
    /// A key that cannot be used.
    #[error("invalid key {}: {reason}", weft_store::clip(.key))]
    InvalidKey {
        /// The key.
        key: String,
        /// Why.
        reason: KeyError,
    },
    /// An operation of one CRDT kind on a key that holds another.
    #[error("key {} is a {found}, not a {expected}", weft_store::clip(.key))]
    WrongType {
        /// The key.
        key: String,
        /// The kind the operation needs.
        expected: Kind,
        /// The kind the key holds.
        found: Kind,
    },
    /// A counter whose value does not fit i64.
    #[error("counter {} would overflow 64 bits", weft_store::clip(.key))]
    CounterOverflow {
        /// The key.
        key: String,
    },
    /// A transaction with more ops than one change may hold (see the limits in
    /// [`crate::change`]).
    #[error("the change is too large: {ops} ops, at most {max} fit in one change")]
    ChangeTooLarge {
        /// The transaction's ops.
        ops: usize,
        /// The limit, [`crate::change::MAX_OPS`].
        max: usize,
    },
    /// A value that cannot be stored.
    #[error("invalid value: {0}")]
    InvalidValue(ValueError),
    /// A key, or the rows under a prefix, that do not read as the Rust type asked for (typed
    /// access: [`crate::State::get_as`], [`crate::State::rows_as`]).
    #[error("{} does not read as the type asked for: {reason}", weft_store::clip(.key))]
    TypeMismatch {
        /// The key or prefix.
        key: String,
        /// What did not match.
        reason: ValueError,
    },
    /// A grant of the owner role: a document has one owner, its creator.
    #[error("the owner role cannot be granted: a document has one owner, its creator")]
    OwnerGrant,
    /// A grant to a key that is not a usable ed25519 public key (see
    /// [`Author::is_usable`]): every replica would refuse the change.
    #[error(
        "no role can be granted to {who}: it is not a usable ed25519 public key (a point of \
         small order, or not canonically encoded), so anyone could sign as it"
    )]
    UnusableGrantee {
        /// The key.
        who: Author,
    },
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
    /// A change that contradicts the changes it builds on. Nothing of it is stored.
    #[error("change {cid} is invalid: {reason}")]
    InvalidChange {
        /// The change.
        cid: Cid,
        /// Why.
        reason: InvalidReason,
    },
    /// A change whose author did not hold the role it needs in the change's own past (see
    /// [`crate::acl`]). Nothing of it is stored.
    #[error("change {cid} by {author} is not allowed: it needs the {needed} role, and its author {} at its parents", held.map_or("had none".to_string(), |r| format!("was only a {r}")))]
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
    #[error("replaying the change {cid} at position {pos} of the log failed: {source}")]
    Replay {
        /// Its position.
        pos: u64,
        /// The record's CID.
        cid: Cid,
        /// What went wrong.
        source: Box<Error>,
    },
    /// A thread verifying imported changes panicked (a bug in weft). None of the blocks it held
    /// was stored.
    #[error(
        "internal error: a verification thread panicked ({blocks} block(s) were not verified)"
    )]
    VerifierPanicked {
        /// How many blocks it held.
        blocks: usize,
    },
    /// Every thread verifying imported changes was gone (a bug in weft). None of the blocks
    /// they held was stored.
    #[error("internal error: {batches} verification batch(es) were lost")]
    VerifierLost {
        /// How many batches of blocks were handed over and never came back.
        batches: u64,
    },
}

/// Why a change contradicts the changes it builds on ([`Error::InvalidChange`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReason {
    /// A parent of another document.
    #[error("parent {parent} belongs to document {doc}")]
    ParentInOtherDoc {
        /// The parent.
        parent: Cid,
        /// Its document.
        doc: DocId,
    },
    /// A height other than 1 + the greatest height of its parents.
    #[error("height is {height} but its parents make it {expected}")]
    Height {
        /// The change's height.
        height: u64,
        /// What its parents make it.
        expected: u64,
    },
    /// A revoke of the document's owner.
    #[error("the owner cannot be revoked")]
    RevokesOwner,
    /// More changes than an import holds are waiting for parents that have not arrived.
    #[error(
        "more than {} MiB of changes are waiting for parents that have not arrived (first \
         missing: {first_missing})",
        max >> 20
    )]
    TooManyWaiting {
        /// The most bytes of changes that may wait, [`crate::MAX_WAITING_BYTES`].
        max: usize,
        /// A parent that has not arrived.
        first_missing: Cid,
    },
}

impl Error {
    /// What the caller acts on: [`ErrorKind::InvalidInput`] for what the caller asked for (a bad
    /// key, value, name or grant, a transaction too large), [`ErrorKind::NotFound`],
    /// [`ErrorKind::WrongType`], [`ErrorKind::Corrupt`] for changes that fail verification or
    /// contradict their past, [`ErrorKind::Denied`] for a change its author may not make, and
    /// the store's kind for a store failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store(e) => e.kind(),
            Error::UnknownDoc { .. }
            | Error::RemovedDoc { .. }
            | Error::KeyNotFound { .. }
            | Error::UnknownElement { .. }
            | Error::UnknownCid { .. }
            | Error::WrongDoc { .. } => ErrorKind::NotFound,
            Error::WrongType { .. } | Error::TypeMismatch { .. } => ErrorKind::WrongType,
            Error::InvalidDocName { .. }
            | Error::InvalidKey { .. }
            | Error::Position { .. }
            | Error::CounterOverflow { .. }
            | Error::ChangeTooLarge { .. }
            | Error::InvalidValue(_)
            | Error::OwnerGrant
            | Error::UnusableGrantee { .. } => ErrorKind::InvalidInput,
            Error::HashMismatch(_)
            | Error::Decode(_)
            | Error::Verify(_)
            | Error::InvalidChange { .. }
            | Error::Equivocation { .. }
            | Error::Orphans { .. }
            | Error::Replay { .. } => ErrorKind::Corrupt,
            Error::Unauthorized { .. } => ErrorKind::Denied,
            Error::DocExists { .. }
            | Error::VerifierPanicked { .. }
            | Error::VerifierLost { .. } => ErrorKind::Other,
        }
    }
}
