//! Key and value encoders for the dag keyspaces. The layouts are documented, with every other
//! keyspace, in [`weft_store::layout`]; this module is their only implementation.

use weft_store::{Cid, CID_LEN};

use crate::{
    change::{Change, OpId},
    identity::Author,
    DocId,
};

/// Length of an encoded op id.
pub const OPID_LEN: usize = 40;

/// What the `changes` index records about one change (everything but its ops and signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeMeta {
    /// The document.
    pub doc: DocId,
    /// Height in the DAG.
    pub height: u64,
    /// Author sequence number.
    pub seq: u64,
    /// Author's wall-clock time (ms).
    pub time: u64,
    /// The author.
    pub author: Author,
    /// Number of ops.
    pub n_ops: u32,
    /// Parents, sorted.
    pub parents: Vec<Cid>,
}

const META_FIXED: usize = CID_LEN + 8 + 8 + 8 + 32 + 4;

impl ChangeMeta {
    /// The index entry of `change`, a change of `doc`.
    pub fn of(doc: DocId, change: &Change) -> ChangeMeta {
        ChangeMeta {
            doc,
            height: change.height,
            seq: change.seq,
            time: change.time,
            author: change.author,
            n_ops: change.ops.len() as u32,
            parents: change.parents.clone(),
        }
    }

    /// Encodes: `doc height seq time author n_ops parents*`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(META_FIXED + CID_LEN * self.parents.len());
        v.extend_from_slice(&self.doc.0.to_bytes());
        v.extend_from_slice(&self.height.to_be_bytes());
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.time.to_be_bytes());
        v.extend_from_slice(&self.author.0);
        v.extend_from_slice(&self.n_ops.to_be_bytes());
        for p in &self.parents {
            v.extend_from_slice(&p.to_bytes());
        }
        v
    }

    /// Decodes; `None` if the bytes are damaged.
    pub fn decode(b: &[u8]) -> Option<ChangeMeta> {
        if b.len() < META_FIXED || !(b.len() - META_FIXED).is_multiple_of(CID_LEN) {
            return None;
        }
        let u64_at = |i: usize| {
            b.get(i..i + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_be_bytes)
        };
        let doc = DocId(Cid::from_bytes(&b[..CID_LEN]).ok()?);
        let height = u64_at(CID_LEN)?;
        let seq = u64_at(CID_LEN + 8)?;
        let time = u64_at(CID_LEN + 16)?;
        let author = Author(b[CID_LEN + 24..CID_LEN + 56].try_into().ok()?);
        let n_ops = u32::from_be_bytes(b[CID_LEN + 56..META_FIXED].try_into().ok()?);
        let parents = b[META_FIXED..]
            .chunks(CID_LEN)
            .map(|c| Cid::from_bytes(c).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(ChangeMeta {
            doc,
            height,
            seq,
            time,
            author,
            n_ops,
            parents,
        })
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// `heads`: `doc ++ cid`.
pub fn head_key(doc: &DocId, cid: &Cid) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), &cid.to_bytes()])
}

/// `by_height`: `doc ++ height ++ cid`.
pub fn height_key(doc: &DocId, height: u64, cid: &Cid) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), &height.to_be_bytes(), &cid.to_bytes()])
}

/// Parses a `by_height` key (after the doc prefix) into `(height, cid)`.
pub fn parse_height_key(k: &[u8]) -> Option<(u64, Cid)> {
    let rest = k.get(CID_LEN..)?;
    let height = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    Some((height, Cid::from_bytes(rest.get(8..)?).ok()?))
}

/// `arrivals`: `doc ++ arrived:u64 ++ cid`.
pub fn arrival_key(doc: &DocId, arrived: u64, cid: &Cid) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), &arrived.to_be_bytes(), &cid.to_bytes()])
}

/// Parses an `arrivals` key (after the keyspace tag) into `(arrived, cid)`.
pub fn parse_arrival_key(k: &[u8]) -> Option<(u64, Cid)> {
    let rest = k.get(CID_LEN..)?;
    let arrived = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    Some((arrived, Cid::from_bytes(rest.get(8..)?).ok()?))
}

/// `author_seq`: `doc ++ author`.
pub fn author_seq_key(doc: &DocId, author: &Author) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), &author.0])
}

/// `seqs`: `doc ++ author ++ seq`.
pub fn seq_key(doc: &DocId, author: &Author, seq: u64) -> Vec<u8> {
    cat(&[&doc.0.to_bytes(), &author.0, &seq.to_be_bytes()])
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

#[cfg(test)]
mod tests {
    use super::*;
    use weft_store::Codec;

    #[test]
    fn meta_round_trip() {
        let m = ChangeMeta {
            doc: DocId(Cid::hash(Codec::DagCbor, b"d")),
            height: 7,
            seq: 3,
            time: 99,
            author: Author([5; 32]),
            n_ops: 2,
            parents: vec![
                Cid::hash(Codec::DagCbor, b"a"),
                Cid::hash(Codec::DagCbor, b"b"),
            ],
        };
        assert_eq!(ChangeMeta::decode(&m.encode()), Some(m));
        assert_eq!(ChangeMeta::decode(&[1, 2, 3]), None);
    }

    #[test]
    fn state_keys_split() {
        let doc = DocId(Cid::hash(Codec::DagCbor, b"d"));
        let op = OpId {
            change: Cid::hash(Codec::DagCbor, b"c"),
            index: 4,
        };
        let k = slot_key(&doc, "todo/1", &op);
        let (key, rest) = split_state_key(&k).unwrap();
        assert_eq!(key, "todo/1");
        assert_eq!(OpId::from_bytes(rest), Some(op));
    }
}
