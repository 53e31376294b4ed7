//! Integration tests of weft-store, built as one test binary (`it`) so that the crate and its
//! dependencies are linked once.
//!
//! - [`model`]: random op sequences against a `Store` and a `BTreeMap` model, on both backends;
//! - [`lock`]: the database lock, within a process and across processes;
//! - [`format`]: the format-version check on open;
//! - [`cid`]: parsing untrusted CID bytes and strings.

#![allow(clippy::unwrap_used)]

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

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
    SPAWN.read().unwrap_or_else(|e| e.into_inner())
}

/// Held while spawning a process (`Command::spawn` returns once the child has exec'd).
fn spawning() -> RwLockWriteGuard<'static, ()> {
    SPAWN.write().unwrap_or_else(|e| e.into_inner())
}
