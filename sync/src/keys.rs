//! The sync layer's keyspace, with the byte layout of every key and value, and their only
//! encoders.
//!
//! | tag | name | kind | key | value |
//! |---|---|---|---|---|
//! | `0x08` | `sync_peers` | derived | `0x00 "replica"` | this replica's random 16-byte id |
//! | | | | `0x01 ++ replica:16 ++ doc:cid` | the heads both sides had at the end of the last sync with that peer: `cid*` (see [`crate::peer`]) |
//! | | | | `0x02 ++ remote` | the status of the last sync with a named remote (UTF-8 name), DAG-CBOR; the sync layer keeps the bytes, `weft-live`'s `status` module gives them their format |
//!
//! It is *derived* in the store's sense (written to the database at checkpoints) although the
//! log cannot give it back: everything in it may fall back to an earlier checkpoint after a
//! crash without harm. An older base is still common history (a replica never loses changes),
//! a lost replica id is replaced by a new one (its peers then start from no base), and a lost
//! status is the status of an earlier attempt.
//!
//! The layer reads and writes it through [`weft_dag::Repo::layer`], never through the store.

use weft_dag::DocId;
use weft_store::{Cid, Keyspace, CID_LEN};

/// Per-peer sync state.
pub const SYNC_PEERS: Keyspace = Keyspace::derived(0x08, "sync_peers");

/// The key of this replica's id.
pub const REPLICA: &[u8] = b"\x00replica";

/// The first byte of the key of every per-peer base.
pub const BASE: u8 = 0x01;

/// The first byte of the key of every status record.
pub const STATUS: u8 = 0x02;

/// The key of the base of the peer replica `peer` on `doc`: `0x01 ++ peer ++ doc`.
pub fn base_key(peer: &[u8; 16], doc: &DocId) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 16 + CID_LEN);
    k.push(BASE);
    k.extend_from_slice(peer);
    k.extend_from_slice(&doc.0.to_bytes());
    k
}

/// A base: the heads, one binary CID after the other.
pub fn encode_base(heads: &[Cid]) -> Vec<u8> {
    let mut v = Vec::with_capacity(heads.len() * CID_LEN);
    for h in heads {
        v.extend_from_slice(&h.to_bytes());
    }
    v
}

/// The heads of a base; `None` if the value is damaged.
pub fn decode_base(value: &[u8]) -> Option<Vec<Cid>> {
    value
        .chunks(CID_LEN)
        .map(Cid::from_bytes)
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// The key of the status record of `remote`: `0x02 ++ remote`.
pub fn status_key(remote: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + remote.len());
    k.push(STATUS);
    k.extend_from_slice(remote.as_bytes());
    k
}

/// The remote a status record's key names; `None` for another key, or a name that is not UTF-8.
pub fn status_remote(key: &[u8]) -> Option<&str> {
    match key.split_first() {
        Some((&STATUS, name)) => std::str::from_utf8(name).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_store::Codec;

    #[test]
    fn keys_round_trip() {
        let doc = DocId(Cid::hash(Codec::DagCbor, b"doc"));
        let k = base_key(&[7; 16], &doc);
        assert_eq!(k.len(), 1 + 16 + CID_LEN);
        assert_eq!(
            (k[0], &k[1..17], &k[17..]),
            (BASE, &[7u8; 16][..], &doc.0.to_bytes()[..])
        );
        let heads = vec![doc.0, Cid::hash(Codec::DagCbor, b"other")];
        assert_eq!(decode_base(&encode_base(&heads)), Some(heads));
        assert_eq!(decode_base(&[1, 2, 3]), None);
        assert_eq!(status_key("origin"), b"\x02origin");
        assert_eq!(status_remote(&status_key("origin")), Some("origin"));
        assert_eq!(status_remote(&k), None);
        assert_eq!(status_remote(REPLICA), None);
    }
}
