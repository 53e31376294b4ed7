//! weft-store: content-addressed blocks and atomic keyspaces.
//!
//! This crate stores verified blocks under their [`Cid`] and gives the layers above named
//! [`Keyspace`]s with atomic multi-keyspace [`Batch`]es. It knows nothing of changes, CRDTs or the
//! network.
//!
//! Invariants:
//! - a block is written only after its bytes hash to its CID and fit the size limit;
//! - a batch lands whole or not at all, and is durable after [`Store::flush`];
//! - sled is named in [`sled_backend`] only; [`MemoryBackend`] is its in-memory twin;
//! - a database held by another process is reported as [`OpenError::Locked`], never as a raw
//!   backend error.
//!
//! ```
//! use weft_store::{Cid, Codec, Keyspace, Store};
//!
//! let store = Store::memory();
//! let bytes = b"hello";
//! let cid = Cid::hash(Codec::Raw, bytes);
//! let mut batch = store.batch();
//! batch.put_block(&cid, bytes)?;
//! batch.put(Keyspace::HEADS, b"example", b"");
//! batch.commit()?;
//! assert_eq!(store.get_block(&cid)?.as_deref(), Some(&bytes[..]));
//! # Ok::<(), weft_store::Error>(())
//! ```

// Unit tests may unwrap, as the integration tests do.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod backend;
mod cid;
pub mod layout;
mod memory;
pub mod migrate;
pub mod sled_backend;
mod store;

pub use crate::{
    backend::{Backend, BackendError, Entry, EntryIter, RawBatch, RawOp},
    cid::{Cid, CidMap, CidSet, Codec, HashMismatch, ParseError, BLAKE3_CODE, CID_LEN, DIGEST_LEN},
    layout::Keyspace,
    memory::{MemoryBackend, SharedValues},
    store::{Batch, Error, OpenError, Options, Store, DEFAULT_MAX_BLOCK_SIZE},
};
