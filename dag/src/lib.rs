//! weft-dag: the signed change DAG, CRDT state and the [`Repo`] API that applications embed.
//!
//! - [`change`]: the change format (canonical DAG-CBOR, ed25519 signatures);
//! - [`state`]: CRDT semantics (multi-value register, counter, add-wins set) and reads;
//! - [`Repo`]: open/init, transactions, reads, time travel, log, blame, subscriptions,
//!   [`Repo::apply_changes`] for changes from elsewhere, and [`Repo::fsck`].
//!
//! Invariants:
//! - a change is applied only after its hash, encoding, signature and shape are verified and
//!   its parents are present, in one atomic batch with its indexes, heads and state;
//! - the state of a document depends only on the set of its changes, never on arrival order;
//! - opening a repo never replays history: the state is persisted incrementally;
//! - this crate does no network IO and never prints.

// Errors carry the CIDs they are about (about 100 bytes each); boxing them would cost an
// allocation on every error path for no measurable gain.
#![allow(clippy::result_large_err)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod acl;
mod canonical;
pub mod change;
mod error;
pub mod identity;
mod import;
pub mod layout;
mod repo;
pub mod state;
pub mod value;

use std::{fmt, str::FromStr};

pub use weft_store::{Cid, Codec};

pub use crate::{
    acl::{Member, Role},
    change::{Change, EncodedChange, Op, OpId},
    error::Error,
    identity::{Author, Identity},
    import::{Import, ImportStats, GROUP_BYTES, GROUP_CHANGES, MAX_WAITING_BYTES},
    repo::{
        ApplyOutcome, Arrival, BlameLine, Clock, Committed, Durability, Event, FsckReport,
        LogEntry, Node, Options, Problem, Repo, Snapshot, Subscription, Transaction, VerifiedCache,
        DB_DIR, DEFAULT_DOC, KEY_FILE, WEFT_DIR,
    },
    state::{Entry, Kind, RegisterValue, State},
    value::{Value, ValueError},
};

/// A document id: the CID of the document's genesis change.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(pub Cid);

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({})", self.0)
    }
}

impl FromStr for DocId {
    type Err = weft_store::ParseError;

    fn from_str(s: &str) -> Result<DocId, Self::Err> {
        s.parse().map(DocId)
    }
}
