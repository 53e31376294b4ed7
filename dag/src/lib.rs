//! weft-dag: the signed change DAG, CRDT state and the [`Repo`] API that applications embed.
//!
//! - [`change`]: the change format (canonical DAG-CBOR, ed25519 signatures);
//! - [`state`]: CRDT semantics (multi-value register, counter, add-wins set) and reads;
//! - [`seq`]: ordered lists (with moves, also between lists) and text, FugueMax CRDTs; the
//!   algorithmic core, not yet reachable through ops or [`Repo`];
//! - [`acl`]: who may write, computed by every replica from the signed DAG;
//! - [`keys`]: the dag's keyspaces and their byte layouts; [`Repo::layer`] gives a layer above
//!   (sync) its own keyspace, read and written through the repo;
//! - [`undo`]: [`Repo::undo`] and [`Repo::redo`] of this replica's author's own changes, as new
//!   changes that never undo a peer's work;
//! - [`Repo`]: open/init, transactions, reads, time travel, log, blame, subscriptions,
//!   [`Repo::apply_changes`] and [`Import`] for changes from elsewhere, and [`Repo::fsck`];
//! - errors: [`open::Error`] for opening or creating a repo, [`Error`] for what an open repo
//!   does; each has `kind()`, an [`ErrorKind`] to act on.
//!
//! Invariants:
//! - a change is applied only after its hash, encoding, signature and shape are verified and
//!   its parents are present, in one atomic batch with its indexes, heads and state;
//! - the state of a document depends only on the set of its changes, never on arrival order;
//! - opening a repo never replays history: the state is persisted, and only the log records
//!   after the last checkpoint are staged again;
//! - no module imports another that imports it back;
//! - this crate does no network IO and never prints.

// Errors carry the CIDs they are about (about 100 bytes each); boxing them would cost an
// allocation on every error path for no measurable gain.
#![allow(clippy::result_large_err)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod acl;
mod acl_cache;
mod canonical;
pub mod cbor;
pub mod change;
mod diff;
mod docs;
pub mod edit;
mod error;
mod events;
mod fsck;
mod graph;
mod history;
mod id;
pub mod identity;
mod import;
pub mod keys;
mod kind;
mod layer;
mod migrate;
pub mod open;
mod repo;
mod role;
pub mod seq;
pub mod seqdoc;
pub mod state;
#[cfg(feature = "async")]
mod stream;
mod transaction;
pub mod undo;
pub mod value;
mod verified;
mod write;

pub use weft_store::{clip, Cid, Codec, ErrorKind};

pub use crate::{
    acl::Member,
    change::{Change, EncodedChange, ItemRef, Op, OpId, OpRef, StoredChange},
    edit::Place,
    error::{Error, InvalidReason},
    events::{
        Batch, Batches, ChangeInfo, Diff, ElementDiff, Event, Filter, KeyDiff, OnChange,
        Subscription,
    },
    fsck::{FsckReport, Problem},
    graph::{ChangeMeta, Node, NODE_CACHE_ENTRIES},
    history::{Arrival, BlameLine, Snapshot},
    id::DocId,
    identity::{Author, Identity},
    import::{Import, ImportStats, GROUP_BYTES, GROUP_CHANGES, MAX_WAITING_BYTES},
    kind::Kind,
    layer::LayerSpace,
    repo::{Durability, Options, Repo, View, DB_DIR, DEFAULT_DOC, KEY_FILE, WEFT_DIR},
    role::Role,
    seqdoc::{is_pending, Element},
    state::{row_prefix, Entry, RegisterValue, State, ROW_SELF},
    transaction::Transaction,
    undo::Undone,
    value::{Value, ValueError},
    verified::VerifiedCache,
    write::Clock,
};

pub use crate::diff::diff as entry_diff;
#[cfg(feature = "async")]
pub use crate::stream::BatchStream;
