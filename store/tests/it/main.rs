//! Integration tests of weft-store, built as one test binary (`it`) so that the crate and its
//! dependencies are linked once.
//!
//! - [`model`]: random op sequences against a `Store` and a `BTreeMap` model, on both backends;
//! - [`lock`]: the database lock, within a process and across processes;
//! - [`format`]: the format-version check on open;
//! - [`cid`]: parsing untrusted CID bytes and strings.

#![allow(clippy::unwrap_used)]

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use weft_store::{sync_util, Keyspace};

mod cid;
mod format;
mod lock;
mod model;

/// Spawning a process forks this one, and the child holds a copy of every open file descriptor
/// until it execs. A store dropped in that window keeps its locks (`flock`) held by the child, so
/// an immediate reopen in another test would be refused as `Locked`. Tests that drop and reopen
/// a sled store hold [`no_spawn`] while they do; the one test that spawns holds [`spawning`].
static SPAWN: RwLock<()> = RwLock::new(());

/// Held while dropping and reopening a sled store: no process is being spawned meanwhile.
fn no_spawn() -> RwLockReadGuard<'static, ()> {
    sync_util::read(&SPAWN)
}

/// Held while spawning a process (`Command::spawn` returns once the child has exec'd).
fn spawning() -> RwLockWriteGuard<'static, ()> {
    sync_util::write(&SPAWN)
}

/// Keyspaces for the tests, as a layer above would define its own: derived ones, which the log
/// determines, and one kept.
pub const HEADS: Keyspace = Keyspace::derived(0x03, "heads");
pub const BY_HEIGHT: Keyspace = Keyspace::derived(0x04, "by_height");
pub const AUTHOR_SEQ: Keyspace = Keyspace::derived(0x07, "author_seq");
pub const REGISTER: Keyspace = Keyspace::derived(0x10, "register");
pub const TOMBSTONE: Keyspace = Keyspace::derived(0x13, "tombstone");
/// Nothing writes it: scans of it must stay empty.
pub const EMPTY: Keyspace = Keyspace::derived(0x02, "empty");
/// Facts the log cannot give back.
pub const NAMES: Keyspace = Keyspace::kept(0x05, "names");
/// Derived from the blocks: CID -> position, written with every block, as a layer above would.
pub const BLOCK_INDEX: Keyspace = Keyspace::derived(0x20, "block_index");
