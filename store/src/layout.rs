//! The on-disk layout of a store, and [`Keyspace`], the unit the layers above store data in.
//!
//! # Physical layout
//! A store is a directory (a repo's `.weft`):
//! ```text
//! db/          the sled database, one tree: `weft/v2` (TREE_NAME)
//!   weft.lock  OS lock held while a process has the store open
//! packs/       the block log: pack-<FIRST>.pack and pack-<FIRST>.idx (see `pack`)
//! ```
//! Blocks live in the packs, never in sled. Every other datum lives in a *keyspace*: a one-byte
//! tag that prefixes its keys in the sled tree (`tag:u8 ++ key`). One tree is deliberate: sled
//! applies a batch on one tree atomically and cheaply, so a checkpoint across keyspaces is one
//! `apply_batch`.
//!
//! # Keyspaces
//! Each layer defines its own keyspaces (`weft_dag::keys`, `weft_sync::keys`) with a tag that no
//! other layer uses; the store owns only [`Keyspace::META`] (tag `0x00`). A keyspace is one of
//! two kinds:
//! - [`Kind::Derived`]: its content is a function of the blocks in the log. Its writes may reach
//!   the database only at the next checkpoint: after a crash, the layer above replays the records
//!   the last checkpoint does not cover, and so writes them again.
//! - [`Kind::Kept`]: facts the log cannot give back (a document's local name, per-peer sync
//!   state). A batch that writes one is checkpointed into the database when it commits, with
//!   everything before it.
//!
//! # The store's own keys (`meta`, tag `0x00`)
//! | key | value |
//! |---|---|
//! | `format_version` | `u32be`: [`FORMAT_VERSION`] |
//! | `checkpoint` | the log position the derived keyspaces cover, and where the next record starts: `pos:u64be pack:u64be offset:u64be` (see `log::Resume`) |
//!
//! Format 1 kept blocks and every index in the sled tree `weft/v1`; the layer above migrates it
//! (see `Store::legacy`).

/// The sled tree that holds every keyspace.
pub const TREE_NAME: &str = "weft/v2";

/// The sled tree of format 1, read only to migrate it.
pub const LEGACY_TREE_NAME: &str = "weft/v1";

/// The current on-disk format version.
pub const FORMAT_VERSION: u32 = 2;

/// `meta` key holding the format version as `u32be`.
pub const META_FORMAT_VERSION: &[u8] = b"format_version";

/// `meta` key holding the checkpoint.
pub const META_CHECKPOINT: &[u8] = b"checkpoint";

/// The directory of the sled database inside a store directory.
pub const DB_DIR: &str = "db";

/// The directory of the pack files inside a store directory.
pub const PACKS_DIR: &str = "packs";

/// Whether a keyspace can be rebuilt from the log (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Rebuilt by replaying the log: written to the database at checkpoints.
    Derived,
    /// Not derivable: written to the database when its batch commits.
    Kept,
}

/// A named keyspace: a one-byte prefix in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Keyspace {
    /// The prefix byte.
    pub tag: u8,
    /// The name used in docs and diagnostics.
    pub name: &'static str,
    /// Derived or kept.
    pub kind: Kind,
}

impl Keyspace {
    /// A keyspace whose content the log determines.
    pub const fn derived(tag: u8, name: &'static str) -> Keyspace {
        Keyspace {
            tag,
            name,
            kind: Kind::Derived,
        }
    }

    /// A keyspace of facts the log cannot give back.
    pub const fn kept(tag: u8, name: &'static str) -> Keyspace {
        Keyspace {
            tag,
            name,
            kind: Kind::Kept,
        }
    }

    /// Store metadata (format version, checkpoint). The store's own keyspace.
    pub const META: Keyspace = Keyspace::kept(0x00, "meta");
}
