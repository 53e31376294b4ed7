//! The on-disk layout: every keyspace weft stores, with the byte layout of its keys and values.
//!
//! This module is the single registry of keyspaces, so that two layers can never pick the same
//! tag. The store owns `meta` and `blocks`, the sync layer owns `sync_peers`; the dag layer owns the rest and encodes their keys
//! with the helpers in `weft_dag::layout`, which follow the layouts written here.
//!
//! # Physical layout
//! The sled database holds one tree, [`TREE_NAME`] (`weft/v1`; the suffix is the format version
//! the tree was created under). Every key in it is `tag:u8 ++ key`, where `tag` names the keyspace.
//! A single tree is deliberate: sled applies a batch on one tree atomically and cheaply, while
//! multi-tree transactions are slower and have had consistency bugs. Keyspaces are therefore
//! prefixes, and an atomic batch across keyspaces is one `apply_batch`.
//!
//! # Encodings
//! - `cid` is the 36-byte binary CID (`0x01 codec 0x1e 0x20 digest`).
//! - `opid` is `cid ++ index:u32be` (40 bytes): op number `index` of change `cid`.
//! - integers are big-endian so that byte order is numeric order.
//! - `key` is a document key: UTF-8, 1..=1024 bytes, never containing `0x00`, so `key ++ 0x00`
//!   ends it unambiguously and a prefix scan over `doc ++ prefix` lists keys by prefix.
//! - `author` is a 32-byte ed25519 public key.
//!
//! # Keyspaces
//! | tag | name | key | value |
//! |---|---|---|---|
//! | `0x00` | `meta` | ASCII name | see [`META_FORMAT_VERSION`] |
//! | `0x01` | `blocks` | `cid` | the block's bytes, verified against `cid` before they are written |
//! | `0x02` | `changes` | `cid` | change index: `doc:cid height:u64 seq:u64 time:u64 author:32 n_ops:u32 parents:cid*` |
//! | `0x03` | `heads` | `doc ++ cid` | `height:u64` |
//! | `0x04` | `by_height` | `doc ++ height:u64 ++ cid` | the change's membership frontier `cid*` (the newest membership changes in its past; empty means just the genesis): changes in topological order |
//! | `0x05` | `doc_names` | UTF-8 local name | `doc:cid` |
//! | `0x06` | `doc_ids` | `doc:cid` | UTF-8 local name (reverse of `doc_names`) |
//! | `0x07` | `author_seq` | `doc ++ author` | `seq:u64`: the highest seq stored for this author |
//! | `0x08` | `sync_peers` | `0x00 "replica"` / `0x01 ++ replica:16 ++ doc:cid` / `0x02 ++ remote` | this replica's random 16-byte id / the heads both sides had at the end of the last sync with that peer: `cid*` / the status of the last sync with a named remote, DAG-CBOR (owned by `weft-sync`, see `weft_sync::status`) |
//! | `0x09` | `acl` | `doc ++ cid` | a membership change (grant/revoke): `height:u64 ++ cid*`, every membership change in its past (the genesis implied) |
//! | `0x0a` | `seqs` | `doc ++ author ++ seq:u64` | `cid`: the change this author signed with this seq (a second one is equivocation) |
//! | `0x0b` | `arrivals` | `doc ++ arrived:u64 ++ cid` | UTF-8 source: who delivered the change (a remote's name or URL; empty when written here). `arrived` is this replica's clock (ms since the Unix epoch) when the change was first stored, so a reverse scan lists the newest arrivals first |
//! | `0x10` | `register` | `doc ++ key ++ 0x00 ++ opid` | a live register value: `height:u64 author:32 value:dag-cbor` |
//! | `0x11` | `counter` | `doc ++ key ++ 0x00 ++ opid` | `delta:i64`: one increment |
//! | `0x12` | `set` | `doc ++ key ++ 0x00 ++ member:dag-cbor ++ opid` | empty: a live add tag |
//! | `0x13` | `tombstone` | `doc ++ opid ++ kind:u8 ++ key ++ 0x00 ++ member?` | empty: a register value (`kind` = `r`) or set tag (`s`, with its member) that was killed before it arrived; see below |
//! | `0x14` | `void` | `doc ++ cid` | empty: a stored change that does not count, because its author lacked the right in the whole DAG's view (see `weft_dag::acl`) |
//!
//! Tombstones make the state independent of arrival order. An op that names a register value or
//! a set tag to kill (`pred`, `tags`) deletes that slot if the named change is already stored;
//! otherwise it leaves a tombstone for the exact slot (op id, kind, key, member). When the named
//! change arrives, each of its ops is inserted unless a tombstone names its exact slot, and then
//! every tombstone under `doc ++ cid` is removed, whether or not it matched (a hostile `pred` may
//! name an op with another key). So a tombstone exists exactly while the change it names is
//! absent, and the same set of changes gives the same bytes in any order. Honest writers only
//! name ops they have seen, so they never create one.
//!
//! Keyspaces `0x10..=0x1f` together with `heads` are the *materialized state*: `fsck` checks them
//! against a fresh replay of the DAG.

/// The sled tree that holds every keyspace.
pub const TREE_NAME: &str = "weft/v1";

/// The current on-disk format version.
pub const FORMAT_VERSION: u32 = 1;

/// `meta` key holding the format version as `u32be`.
pub const META_FORMAT_VERSION: &[u8] = b"format_version";

/// A named keyspace: a one-byte prefix in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Keyspace {
    /// The prefix byte.
    pub tag: u8,
    /// The name used in docs and diagnostics.
    pub name: &'static str,
}

impl Keyspace {
    const fn new(tag: u8, name: &'static str) -> Keyspace {
        Keyspace { tag, name }
    }

    /// Store metadata (format version).
    pub const META: Keyspace = Keyspace::new(0x00, "meta");
    /// Verified blocks by CID.
    pub const BLOCKS: Keyspace = Keyspace::new(0x01, "blocks");
    /// Change index by CID.
    pub const CHANGES: Keyspace = Keyspace::new(0x02, "changes");
    /// Current heads per document.
    pub const HEADS: Keyspace = Keyspace::new(0x03, "heads");
    /// Changes ordered by height per document.
    pub const BY_HEIGHT: Keyspace = Keyspace::new(0x04, "by_height");
    /// Local document names to ids.
    pub const DOC_NAMES: Keyspace = Keyspace::new(0x05, "doc_names");
    /// Document ids to local names.
    pub const DOC_IDS: Keyspace = Keyspace::new(0x06, "doc_ids");
    /// Highest sequence number per document and author.
    pub const AUTHOR_SEQ: Keyspace = Keyspace::new(0x07, "author_seq");
    /// Per-peer sync state (owned by `weft-sync`).
    pub const SYNC_PEERS: Keyspace = Keyspace::new(0x08, "sync_peers");
    /// Membership changes and their membership ancestry.
    pub const ACL: Keyspace = Keyspace::new(0x09, "acl");
    /// The change each author signed with each sequence number.
    pub const SEQS: Keyspace = Keyspace::new(0x0a, "seqs");
    /// When each change was first stored here, and who delivered it.
    pub const ARRIVALS: Keyspace = Keyspace::new(0x0b, "arrivals");
    /// Live register values.
    pub const REGISTER: Keyspace = Keyspace::new(0x10, "register");
    /// Counter increments.
    pub const COUNTER: Keyspace = Keyspace::new(0x11, "counter");
    /// Live set members with their add tags.
    pub const SET: Keyspace = Keyspace::new(0x12, "set");
    /// Overwritten, deleted or removed op ids.
    pub const TOMBSTONE: Keyspace = Keyspace::new(0x13, "tombstone");
    /// Stored changes that do not count (their author lacked the right).
    pub const VOID: Keyspace = Keyspace::new(0x14, "void");

    /// Every keyspace, in tag order.
    pub const ALL: [Keyspace; 17] = [
        Keyspace::META,
        Keyspace::BLOCKS,
        Keyspace::CHANGES,
        Keyspace::HEADS,
        Keyspace::BY_HEIGHT,
        Keyspace::DOC_NAMES,
        Keyspace::DOC_IDS,
        Keyspace::AUTHOR_SEQ,
        Keyspace::SYNC_PEERS,
        Keyspace::ACL,
        Keyspace::SEQS,
        Keyspace::ARRIVALS,
        Keyspace::REGISTER,
        Keyspace::COUNTER,
        Keyspace::SET,
        Keyspace::TOMBSTONE,
        Keyspace::VOID,
    ];

    /// The keyspaces that make up materialized state (checked by `fsck` against a replay).
    pub const STATE: [Keyspace; 6] = [
        Keyspace::HEADS,
        Keyspace::REGISTER,
        Keyspace::COUNTER,
        Keyspace::SET,
        Keyspace::TOMBSTONE,
        Keyspace::VOID,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_unique_and_sorted() {
        let tags: Vec<u8> = Keyspace::ALL.iter().map(|k| k.tag).collect();
        let mut sorted = tags.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(tags, sorted);
    }
}
