//! weft-store: content-addressed blocks in an append-only log, and atomic keyspaces.
//!
//! This crate stores verified blocks under their [`Cid`] in a [`BlockLog`] (pack files on disk,
//! [`MemoryLog`] in memory), where each gets a [`Pos`], and gives the layers above [`Keyspace`]s
//! in a database (sled on disk, [`MemoryBackend`] in memory), with atomic [`Batch`]es over both.
//! It knows nothing of changes, CRDTs or the network, and no layer's keyspaces but its own.
//!
//! Invariants:
//! - a block is written only after its bytes hash to its CID and fit the size limit;
//! - a batch lands whole or not at all; with [`Options::sync_commits`] it is durable when its
//!   commit returns, otherwise after [`Store::flush`];
//! - derived keyspaces reach the database at checkpoints, and the log records after the last
//!   checkpoint are replayed by the layer above when the store opens ([`Store::replay_range`]);
//! - sled is named in [`sled_backend`] only; [`MemoryBackend`] and [`MemoryLog`] are the
//!   in-memory twins, which can simulate a crash;
//! - a database held by another process is reported as [`OpenError::Locked`], never as a raw
//!   backend error.
//!
//! ```
//! use weft_store::{Cid, Codec, Keyspace, Store};
//!
//! const NAMES: Keyspace = Keyspace::derived(0x40, "names");
//! let store = Store::memory();
//! let bytes = b"hello";
//! let cid = Cid::hash(Codec::Raw, bytes);
//! let mut batch = store.batch();
//! let pos = batch.put_block(&cid, bytes, b"")?;
//! batch.put(NAMES, b"greeting", &pos.0.to_be_bytes());
//! batch.commit()?;
//! assert_eq!(store.get_block(&cid)?.as_deref(), Some(&bytes[..]));
//! assert_eq!(store.record(pos)?.cid, cid);
//! # Ok::<(), weft_store::Error>(())
//! ```

// Unit tests may unwrap, as the integration tests do.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod backend;
mod batch;
mod cid;
mod clip;
mod error;
mod error_kind;
pub mod layout;
pub mod log;
mod memory;
mod memtable;
pub mod migrate;
mod open;
mod os;
pub mod pack;
mod pack_file;
mod pack_index;
mod scan;
pub mod sled_backend;
mod store;
pub mod sync_util;

pub use crate::{
    backend::{Backend, BackendError, Entry, EntryIter, RawBatch, RawOp},
    batch::Batch,
    cid::{
        Cid, CidMap, CidSet, Codec, DigestPrefix, HashMismatch, ParseError, BLAKE3_CODE, CID_LEN,
        DIGEST_LEN,
    },
    clip::{clip, CLIP_CHARS},
    error::{Error, OpenError},
    error_kind::ErrorKind,
    layout::{Keyspace, Kind},
    log::{BlockLog, LogError, MemoryLog, Pos, Record},
    memory::{MemoryBackend, SharedValues},
    pack::PackLog,
    store::{Options, Store, CHECKPOINT_RECORDS, DEFAULT_MAX_BLOCK_SIZE},
};
