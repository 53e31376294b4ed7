//! The dag's keyspaces, with the byte layout of every key and value, and their only encoders.
//!
//! Blocks live in the store's log, where each has a position ([`Pos`]); the keyspaces below index
//! changes by position, in chunks, so that a change adds a few bytes to a handful of values
//! instead of a key of its own to each index.
//!
//! # Encodings
//! - `cid` is the 36-byte binary CID (`0x01 codec 0x1e 0x20 digest`); `doc` is the CID of a
//!   document's genesis change.
//! - `opid` is `cid ++ index:u32be` (40 bytes): op number `index` of change `cid`.
//! - integers are big-endian so that byte order is numeric order; `varint` is LEB128.
//! - `key` is a document key: UTF-8, 1..=1024 bytes, never containing `0x00`, so `key ++ 0x00`
//!   ends it unambiguously and a prefix scan over `doc ++ prefix` lists keys by prefix.
//! - `author` is a 32-byte ed25519 public key; `pos` a record's position in the log.
//!
//! # Keyspaces
//! | tag | name | kind | key | value |
//! |---|---|---|---|---|
//! | `0x03` | `heads` | derived | `doc` | the document's heads, sorted by CID: `(cid height:u64)*` (one value per document, so that a commit replaces it instead of deleting a key and adding one) |
//! | `0x04` | `heights` | derived | `doc ++ (height >> 6):u64` | the changes of those 64 heights, in the order stored: `height_entry*` (below) |
//! | `0x05` | `doc_names` | kept | UTF-8 local name | `doc` |
//! | `0x06` | `doc_ids` | kept | `doc` | UTF-8 local name (reverse of `doc_names`) |
//! | `0x07` | `author_seq` | derived | `doc ++ author` | `seq:u64`: the highest seq stored for this author |
//! | `0x09` | `acl` | derived | `doc ++ cid` | a membership change (grant/revoke): `height:u64 ++ cid*`, every membership change in its past (the genesis implied) |
//! | `0x0a` | `seqs` | derived | `doc ++ author ++ (seq >> 8):u64` | `(seq & 0xff):u8 pos:varint` per change: the change this author signed with each seq (a second one is equivocation) |
//! | `0x0b` | `arrivals` | derived | `doc ++ (pos >> 10):u64` | `(pos & 0x3ff):u16` per change of `doc` stored at those positions, in order: the newest arrivals are the last entries of the last keys |
//! | `0x0c` | `dirty` | derived | `doc` | empty: a membership change was committed and the void set not yet recomputed |
//! | `0x0d` | `undo` | kept | `doc ++ author` | this replica's undo and redo stacks for that author (see [`crate::undo`]): `seq:u64 n:varint cid*n (cid cid)*`: the author's highest seq when the stacks were last written, the changes not to undo again (undone, or undos themselves), then the redo stack, bottom first, each entry the undone change and its undo |
//! | `0x0e` | `doc_removed` | kept | `doc` | `at:u64` (ms since the Unix epoch): the document was removed here (`doc rm`); it is left out of every listing and every sync, while its changes stay in the log |
//! | `0x10` | `register` | derived | `doc ++ key ++ 0x00 ++ opid` | a live register value: `height:u64 author:32 value:dag-cbor` |
//! | `0x11` | `counter` | derived | `doc ++ key ++ 0x00 ++ opid` | `delta:i64`: one increment |
//! | `0x12` | `set` | derived | `doc ++ key ++ 0x00 ++ member:dag-cbor ++ opid` | empty: a live add tag |
//! | `0x13` | `tombstone` | derived | `doc ++ opid ++ kind:u8 ++ key ++ 0x00 ++ member?` | empty: a register value (`kind` = `r`) or set tag (`s`, with its member) that was killed before it arrived; see below |
//! | `0x14` | `void` | derived | `doc ++ cid` | empty: a stored change that does not count, because its author lacked the right in the whole DAG's view (see [`crate::acl`]) |
//! | `0x15` | `seq_changes` | derived | `doc ++ height:u64 ++ cid` | empty: a change (not void) that holds list or text ops; the document's lists and texts are these changes' ops, replayed in key order (a causal order) |
//! | `0x16` | `seq_snap` | derived | `doc` | the document's lists and texts as of some of its `seq_changes` (see `seqdoc::encode`); absent until written |
//! | `0x17` | `seq_tail` | derived | `doc ++ height:u64 ++ cid` | empty: a `seq_changes` entry the snapshot does not hold; opening replays these after the snapshot (all of `seq_changes` if there is none) |
//!
//! `0x00` is the store's and `0x08` the sync layer's (`weft_sync::keys`).
//!
//! A `height_entry` is `h:u8 pos:varint frontier?`: the low six bits of `h` are the change's
//! height minus the chunk's first height; `pos` is the change's position, the first entry's as
//! is and every later one's minus the position of the entry before it (positions grow in the
//! order stored); bit `0x40` of `h` says a `frontier` follows: `n:varint cid*n`, the change's
//! membership frontier (the newest membership changes in its past; empty means just the
//! genesis). Without the bit, the frontier is the previous entry's (empty for the first).
//!
//! Each record the dag appends to the log carries a note: `arrived:varint source`, this
//! replica's clock (ms since the Unix epoch) when the change was first stored here and who
//! delivered it (UTF-8: a remote's name or URL; empty when written here).
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
//! against a fresh replay of the DAG, except `seq_snap` and `seq_tail`, which depend on when
//! snapshots were written: `fsck` checks that they read as a replay does.

use weft_store::{Cid, Keyspace, Pos, CID_LEN};

use crate::{change::OpId, id::DocId, identity::Author};

/// Current heads per document.
pub const HEADS: Keyspace = Keyspace::derived(0x03, "heads");
/// Changes per document, by height, in chunks.
pub const HEIGHTS: Keyspace = Keyspace::derived(0x04, "heights");
/// Local document names to ids.
pub const DOC_NAMES: Keyspace = Keyspace::kept(0x05, "doc_names");
/// Document ids to local names.
pub const DOC_IDS: Keyspace = Keyspace::kept(0x06, "doc_ids");
/// Highest sequence number per document and author.
pub const AUTHOR_SEQ: Keyspace = Keyspace::derived(0x07, "author_seq");
/// Membership changes and their membership ancestry.
pub const ACL: Keyspace = Keyspace::derived(0x09, "acl");
/// The change each author signed with each sequence number, in chunks.
pub const SEQS: Keyspace = Keyspace::derived(0x0a, "seqs");
/// The changes of each document in the order they were stored, in chunks.
pub const ARRIVALS: Keyspace = Keyspace::derived(0x0b, "arrivals");
/// Documents whose void set must be recomputed.
pub const DIRTY: Keyspace = Keyspace::derived(0x0c, "dirty");
/// Undo and redo stacks per document and author (see [`crate::undo`]).
pub const UNDO: Keyspace = Keyspace::kept(0x0d, "undo");
/// Documents removed here (`doc rm`).
pub const DOC_REMOVED: Keyspace = Keyspace::kept(0x0e, "doc_removed");
/// Live register values.
pub const REGISTER: Keyspace = Keyspace::derived(0x10, "register");
/// Counter increments.
pub const COUNTER: Keyspace = Keyspace::derived(0x11, "counter");
/// Live set members with their add tags.
pub const SET: Keyspace = Keyspace::derived(0x12, "set");
/// Kills of ops that have not arrived.
pub const TOMBSTONE: Keyspace = Keyspace::derived(0x13, "tombstone");
/// Stored changes that do not count (their author lacked the right).
pub const VOID: Keyspace = Keyspace::derived(0x14, "void");

/// The changes that hold list or text ops, by height.
pub const SEQ_CHANGES: Keyspace = Keyspace::derived(0x15, "seq_changes");

/// A snapshot of each document's lists and texts.
pub const SEQ_SNAP: Keyspace = Keyspace::derived(0x16, "seq_snap");
/// The changes with list or text ops that the snapshot does not hold.
pub const SEQ_TAIL: Keyspace = Keyspace::derived(0x17, "seq_tail");

/// Every keyspace of the dag, in tag order.
pub const ALL: [Keyspace; 19] = [
    HEADS,
    HEIGHTS,
    DOC_NAMES,
    DOC_IDS,
    AUTHOR_SEQ,
    ACL,
    SEQS,
    ARRIVALS,
    DIRTY,
    UNDO,
    DOC_REMOVED,
    REGISTER,
    COUNTER,
    SET,
    TOMBSTONE,
    VOID,
    SEQ_CHANGES,
    SEQ_SNAP,
    SEQ_TAIL,
];

/// The keyspaces that make up materialized state (checked by `fsck` against a replay).
pub const STATE: [Keyspace; 7] = [HEADS, REGISTER, COUNTER, SET, TOMBSTONE, VOID, SEQ_CHANGES];

/// Length of an encoded op id.
pub const OPID_LEN: usize = 40;

/// How many heights one `heights` value covers (a power of two).
pub const HEIGHTS_PER_CHUNK: u64 = 64;
/// How many positions one `arrivals` value covers (a power of two).
pub const POSITIONS_PER_CHUNK: u64 = 1024;

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// Appends `n` as LEB128.
pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a LEB128 integer at `*at`, advancing it; `None` if damaged or too long.
pub fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        n |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// One head in a `heads` value: its CID and height.
const HEAD_LEN: usize = CID_LEN + 8;

/// Encodes a document's heads (sorted by CID) as its `heads` value.
pub fn encode_heads(heads: &[(Cid, u64)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(heads.len() * HEAD_LEN);
    for (cid, height) in heads {
        v.extend_from_slice(&cid.to_bytes());
        v.extend_from_slice(&height.to_be_bytes());
    }
    v
}

/// Decodes a `heads` value.
pub fn decode_heads(b: &[u8]) -> Option<Vec<(Cid, u64)>> {
    if !b.len().is_multiple_of(HEAD_LEN) {
        return None;
    }
    b.chunks(HEAD_LEN)
        .map(|c| {
            let cid = Cid::from_bytes(&c[..CID_LEN]).ok()?;
            let height = u64::from_be_bytes(c[CID_LEN..].try_into().ok()?);
            Some((cid, height))
        })
        .collect()
}

/// `heads` and `dirty`: `doc`.
pub fn doc_key(doc: &DocId) -> Vec<u8> {
    doc.0.to_bytes().to_vec()
}

/// `void`, `acl`: `doc ++ cid`.
pub fn cid_key(doc: &DocId, cid: &Cid) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), &cid.to_bytes()])
}

/// `seq_changes`: `doc ++ height ++ cid`.
pub fn seq_change_key(doc: &DocId, height: u64, cid: &Cid) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), &height.to_be_bytes(), &cid.to_bytes()])
}

/// Parses a `seq_changes` key: its change.
pub fn parse_seq_change_key(k: &[u8]) -> Option<Cid> {
    Cid::from_bytes(k.get(CID_LEN + 8..)?).ok()
}

/// Parses a `doc ++ cid` key.
pub fn parse_cid_key(k: &[u8]) -> Option<(DocId, Cid)> {
    let doc = Cid::from_bytes(k.get(..CID_LEN)?).ok()?;
    let cid = Cid::from_bytes(k.get(CID_LEN..)?).ok()?;
    Some((DocId(doc), cid))
}

/// `heights`: `doc ++ (height >> 6)`.
pub fn heights_key(doc: &DocId, height: u64) -> Vec<u8> {
    cat(&[
        &doc.0.to_bytes(),
        &(height / HEIGHTS_PER_CHUNK).to_be_bytes(),
    ])
}

/// The first height a `heights` key (after the doc prefix) covers.
pub fn parse_heights_key(k: &[u8]) -> Option<u64> {
    let b = u64::from_be_bytes(k.get(CID_LEN..CID_LEN + 8)?.try_into().ok()?);
    b.checked_mul(HEIGHTS_PER_CHUNK)
}

/// One change in a `heights` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeightEntry {
    /// The change's height.
    pub height: u64,
    /// Its position in the log.
    pub pos: Pos,
    /// Its membership frontier.
    pub frontier: Vec<Cid>,
}

/// Appends an entry to a `heights` value whose last entry (if any) is `prev`.
pub fn put_height_entry(out: &mut Vec<u8>, prev: Option<&HeightEntry>, entry: &HeightEntry) {
    let same = match prev {
        Some(p) => p.frontier == entry.frontier,
        None => entry.frontier.is_empty(),
    };
    let mut h = (entry.height % HEIGHTS_PER_CHUNK) as u8;
    if !same {
        h |= 0x40;
    }
    out.push(h);
    put_varint(out, entry.pos.0 - prev.map_or(0, |p| p.pos.0));
    if !same {
        put_varint(out, entry.frontier.len() as u64);
        for c in &entry.frontier {
            out.extend_from_slice(&c.to_bytes());
        }
    }
}

/// Decodes a `heights` value whose chunk starts at height `first`, in the order stored.
pub fn decode_heights(first: u64, b: &[u8]) -> Option<Vec<HeightEntry>> {
    let mut out: Vec<HeightEntry> = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let h = b[at];
        at += 1;
        if h & 0x80 != 0 {
            return None;
        }
        let delta = get_varint(b, &mut at)?;
        let pos = out.last().map_or(0, |p| p.pos.0).checked_add(delta)?;
        let frontier = if h & 0x40 != 0 {
            let n = get_varint(b, &mut at)? as usize;
            let bytes = b.get(at..at.checked_add(n.checked_mul(CID_LEN)?)?)?;
            at += bytes.len();
            bytes
                .chunks(CID_LEN)
                .map(|c| Cid::from_bytes(c).ok())
                .collect::<Option<Vec<_>>>()?
        } else {
            out.last().map(|p| p.frontier.clone()).unwrap_or_default()
        };
        out.push(HeightEntry {
            height: first + u64::from(h & 0x3f),
            pos: Pos(pos),
            frontier,
        });
    }
    Some(out)
}

/// `seqs`: `doc ++ author ++ (seq >> 8)`.
pub fn seqs_key(doc: &DocId, author: &Author, seq: u64) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), &author.0, &(seq >> 8).to_be_bytes()])
}

/// Appends the entry of `seq` at `pos` to a `seqs` value.
pub fn put_seq_entry(out: &mut Vec<u8>, seq: u64, pos: Pos) {
    out.push(seq as u8);
    put_varint(out, pos.0);
}

/// The position stored for `seq` in a `seqs` value.
pub fn find_seq(b: &[u8], seq: u64) -> Option<Option<Pos>> {
    let mut at = 0;
    while at < b.len() {
        let lo = b[at];
        at += 1;
        let pos = get_varint(b, &mut at)?;
        if lo == seq as u8 {
            return Some(Some(Pos(pos)));
        }
    }
    Some(None)
}

/// `undo`: `doc ++ author`.
pub fn undo_key(doc: &DocId, author: &Author) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), &author.0])
}

/// One author's undo and redo stacks in one document (the `undo` value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UndoStacks {
    /// The author's highest seq when the stacks were last written: the redo stack holds only
    /// while it still is.
    pub seq: u64,
    /// Changes not to undo again: those undone, and the undos themselves, oldest first.
    pub done: Vec<Cid>,
    /// `(undone change, its undo)`, the top last.
    pub redo: Vec<(Cid, Cid)>,
}

/// Encodes an `undo` value.
pub fn encode_undo(stacks: &UndoStacks) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 4 + CID_LEN * (stacks.done.len() + 2 * stacks.redo.len()));
    out.extend_from_slice(&stacks.seq.to_be_bytes());
    put_varint(&mut out, stacks.done.len() as u64);
    for c in &stacks.done {
        out.extend_from_slice(&c.to_bytes());
    }
    for (a, b) in &stacks.redo {
        out.extend_from_slice(&a.to_bytes());
        out.extend_from_slice(&b.to_bytes());
    }
    out
}

/// Decodes an `undo` value.
pub fn decode_undo(b: &[u8]) -> Option<UndoStacks> {
    let seq = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
    let mut at = 8;
    let n = get_varint(b, &mut at)?;
    let cid = |at: &mut usize| -> Option<Cid> {
        let c = Cid::from_bytes(b.get(*at..*at + CID_LEN)?).ok()?;
        *at += CID_LEN;
        Some(c)
    };
    let mut done = Vec::new();
    for _ in 0..n {
        done.push(cid(&mut at)?);
    }
    let mut redo = Vec::new();
    while at < b.len() {
        let a = cid(&mut at)?;
        redo.push((a, cid(&mut at)?));
    }
    Some(UndoStacks { seq, done, redo })
}

/// `arrivals`: `doc ++ (pos >> 10)`.
pub fn arrivals_key(doc: &DocId, pos: Pos) -> Vec<u8> {
    cat(&[
        &doc.0.to_bytes(),
        &(pos.0 / POSITIONS_PER_CHUNK).to_be_bytes(),
    ])
}

/// The entry of `pos` in an `arrivals` value.
pub fn arrival_entry(pos: Pos) -> [u8; 2] {
    ((pos.0 % POSITIONS_PER_CHUNK) as u16).to_be_bytes()
}

/// The positions in an `arrivals` value whose key (after the doc prefix) is `k`, in order.
pub fn decode_arrivals(k: &[u8], v: &[u8]) -> Option<Vec<Pos>> {
    let chunk = u64::from_be_bytes(k.get(CID_LEN..CID_LEN + 8)?.try_into().ok()?);
    let base = chunk.checked_mul(POSITIONS_PER_CHUNK)?;
    if !v.len().is_multiple_of(2) {
        return None;
    }
    Some(
        v.chunks(2)
            .map(|c| Pos(base + u64::from(u16::from_be_bytes([c[0], c[1]]))))
            .collect(),
    )
}

/// The note of a record: when it arrived and who delivered it.
pub fn encode_note(arrived: u64, source: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + source.len());
    put_varint(&mut out, arrived);
    out.extend_from_slice(source.as_bytes());
    out
}

/// Decodes a note: `(arrived, source)`; `None` for an empty note (a record without one).
pub fn decode_note(b: &[u8]) -> Option<(u64, String)> {
    let mut at = 0;
    let arrived = get_varint(b, &mut at)?;
    Some((arrived, String::from_utf8_lossy(&b[at..]).into_owned()))
}

/// `author_seq`: `doc ++ author`.
pub fn author_seq_key(doc: &DocId, author: &Author) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), &author.0])
}

/// An `author_seq` value: `seq:u64`.
pub fn author_seq_value(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The seq of an `author_seq` value; `None` if it is not 8 bytes.
pub fn decode_author_seq(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// `dirty`: `doc`.
pub fn dirty_key(doc: &DocId) -> Vec<u8> {
    doc_key(doc)
}

/// Prefix of every state entry of `key`: `doc ++ key ++ 0x00`.
pub fn key_prefix(doc: &DocId, key: &str) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), key.as_bytes(), &[0]])
}

/// Prefix of the state entries whose key starts with `prefix`: `doc ++ prefix`.
pub fn key_scan_prefix(doc: &DocId, prefix: &str) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), prefix.as_bytes()])
}

/// Splits a state key (after the keyspace tag) into the document key and the rest.
pub fn split_state_key(k: &[u8]) -> Option<(&str, &[u8])> {
    let rest = k.get(CID_LEN..)?;
    let nul = rest.iter().position(|&b| b == 0)?;
    let key = std::str::from_utf8(&rest[..nul]).ok()?;
    Some((key, &rest[nul + 1..]))
}

/// `register` and `counter`: `doc ++ key ++ 0x00 ++ opid`.
pub fn slot_key(doc: &DocId, key: &str, op: &OpId) -> Vec<u8> {
    cat(&[&key_prefix(doc, key), &op.to_bytes()])
}

/// `set`: `doc ++ key ++ 0x00 ++ member ++ opid`.
pub fn member_key(doc: &DocId, key: &str, member: &[u8], op: &OpId) -> Vec<u8> {
    cat(&[&key_prefix(doc, key), member, &op.to_bytes()])
}

/// The kind byte of a tombstone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A register value.
    Register = b'r' as isize,
    /// A set add tag.
    Set = b's' as isize,
}

/// `tombstone`: `doc ++ opid ++ kind ++ key ++ 0x00 ++ member?` (the member only for sets).
///
/// The op id comes first so that every tombstone naming a change sits under
/// [`tombstone_change_prefix`], to be cleared when that change arrives.
pub fn tombstone_key(doc: &DocId, kind: Slot, key: &str, member: &[u8], op: &OpId) -> Vec<u8> {
    cat(&[
        &doc.0.to_bytes(),
        &op.to_bytes(),
        &[kind as u8],
        key.as_bytes(),
        &[0],
        member,
    ])
}

/// Prefix of every tombstone that names an op of change `cid`: `doc ++ cid`.
pub fn tombstone_change_prefix(doc: &DocId, cid: &Cid) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), &cid.to_bytes()])
}

/// Encodes a list of CIDs back to back.
pub fn encode_cids<'a>(cids: impl IntoIterator<Item = &'a Cid>) -> Vec<u8> {
    let mut v = Vec::new();
    for c in cids {
        v.extend_from_slice(&c.to_bytes());
    }
    v
}

/// Decodes CIDs stored back to back.
pub fn decode_cids(b: &[u8]) -> Option<Vec<Cid>> {
    if !b.len().is_multiple_of(CID_LEN) {
        return None;
    }
    b.chunks(CID_LEN).map(|c| Cid::from_bytes(c).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_store::Codec;

    fn cid(s: &str) -> Cid {
        Cid::hash(Codec::DagCbor, s.as_bytes())
    }

    #[test]
    fn undo_stacks_round_trip() {
        let stacks = UndoStacks {
            seq: 7,
            done: vec![cid("a"), cid("u")],
            redo: vec![(cid("a"), cid("u"))],
        };
        assert_eq!(decode_undo(&encode_undo(&stacks)), Some(stacks));
        assert_eq!(
            decode_undo(&encode_undo(&UndoStacks::default())),
            Some(UndoStacks::default())
        );
        assert_eq!(decode_undo(&[0; 5]), None);
    }

    #[test]
    fn height_entries_round_trip_with_shared_frontiers() {
        let f = vec![cid("grant")];
        let entries = [
            HeightEntry {
                height: 128,
                pos: Pos(1000),
                frontier: vec![],
            },
            HeightEntry {
                height: 129,
                pos: Pos(1001),
                frontier: f.clone(),
            },
            HeightEntry {
                height: 129,
                pos: Pos(5000),
                frontier: f.clone(),
            },
            HeightEntry {
                height: 191,
                pos: Pos(5001),
                frontier: vec![],
            },
        ];
        let mut v = Vec::new();
        let mut prev = None;
        for e in &entries {
            put_height_entry(&mut v, prev, e);
            prev = Some(e);
        }
        // The shared frontier is written once; the positions as small deltas.
        assert_eq!(v.len(), 3 + (1 + 1 + 1 + CID_LEN) + (1 + 2) + (1 + 1 + 1));
        assert_eq!(decode_heights(128, &v).unwrap(), entries);
        assert_eq!(decode_heights(128, &v[..v.len() - 1]), None);
        assert_eq!(
            parse_heights_key(&heights_key(&DocId(cid("d")), 150)),
            Some(128)
        );
    }

    #[test]
    fn seq_and_arrival_entries_round_trip() {
        let mut v = Vec::new();
        put_seq_entry(&mut v, 256 + 3, Pos(70_000));
        put_seq_entry(&mut v, 256 + 4, Pos(70_001));
        assert_eq!(find_seq(&v, 256 + 4), Some(Some(Pos(70_001))));
        assert_eq!(find_seq(&v, 256 + 5), Some(None));
        let doc = DocId(cid("d"));
        let k = arrivals_key(&doc, Pos(5000));
        let v: Vec<u8> = [arrival_entry(Pos(5000)), arrival_entry(Pos(5003))].concat();
        assert_eq!(decode_arrivals(&k, &v).unwrap(), vec![Pos(5000), Pos(5003)]);
    }

    #[test]
    fn notes_and_varints_round_trip() {
        let n = encode_note(1_796_594_462_282, "origin");
        assert_eq!(
            decode_note(&n),
            Some((1_796_594_462_282, "origin".to_string()))
        );
        assert_eq!(decode_note(&[]), None);
        let mut v = Vec::new();
        for x in [0, 127, 128, u64::MAX] {
            put_varint(&mut v, x);
        }
        let mut at = 0;
        for x in [0, 127, 128, u64::MAX] {
            assert_eq!(get_varint(&v, &mut at), Some(x));
        }
        assert_eq!(get_varint(&[0x80; 11], &mut 0), None);
    }

    #[test]
    fn state_keys_split() {
        let doc = DocId(cid("d"));
        let op = OpId {
            change: cid("c"),
            index: 4,
        };
        let k = slot_key(&doc, "todo/1", &op);
        let (key, rest) = split_state_key(&k).unwrap();
        assert_eq!(key, "todo/1");
        assert_eq!(OpId::from_bytes(rest), Some(op));
    }
}
