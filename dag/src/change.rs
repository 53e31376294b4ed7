//! The change format: one signed, content-addressed commit of CRDT ops.
//!
//! # Wire form
//! A change is a DAG-CBOR map (canonical: keys sorted length-first, then bytewise) with the fields
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `doc` | link | the document (its genesis CID); **absent** in a genesis change |
//! | `ops` | list of op maps | see [`Op`] |
//! | `seq` | int | per author and document, from 1 |
//! | `sig` | bytes(64) | ed25519 signature, see below |
//! | `time` | int | wall-clock milliseconds since the Unix epoch; informational only |
//! | `author` | bytes(32) | ed25519 public key |
//! | `height` | int | 1 + the greatest parent height (1 for a genesis) |
//! | `parents` | list of links | the heads the author saw, sorted by binary CID, no duplicates |
//! | `version` | int | `1` |
//!
//! An op is a map with an `op` string and the fields of its kind. An op id is written as the
//! two-element list `[change link, index]`.
//!
//! | `op` | fields |
//! |---|---|
//! | `genesis` | `owner`: bytes(32), `nonce`: bytes(16) |
//! | `set` | `key`: string, `value`: any, `pred`: list of op ids |
//! | `del` | `key`, `pred` |
//! | `incr` | `key`, `delta`: int |
//! | `add` | `key`, `member`: any |
//! | `remove` | `key`, `member`, `tags`: list of op ids (the adds it observed) |
//! | `grant` | `who`: bytes(32), `role`: `"reader"`, `"writer"` or `"admin"` |
//! | `revoke` | `who`: bytes(32) |
//!
//! `grant` and `revoke` are membership ops; who may write them, and what they mean, is in
//! [`crate::acl`].
//!
//! # Signature
//! `sig` is an ed25519 signature by `author` over [`SIGNING_DOMAIN`] followed by the DAG-CBOR
//! encoding of the same map without `sig` (the block with its `sig` entry cut out and the map's
//! count one less). It is checked under **ZIP-215**: the cofactored verification equation
//! `[8][S]B = [8]R + [8][k]A`, non-canonical encodings of `A` and `R` accepted, a canonical `S`
//! required. Under that rule a signature checked alone and the same signature checked in a batch
//! always get the same answer, so an import checks its blocks' signatures in batches
//! ([`verify_batch`]) and reports exactly the changes that checking one by one would.
//!
//! ZIP-215 accepts signatures that anyone can make for a key of small order, so weft's own key
//! rule ([`Author::is_usable`]) refuses small-order and non-canonically encoded keys wherever a
//! key gains a right: as a change's author ([`VerifyError::BadAuthorKey`]), as a genesis owner
//! and as the `who` of a `grant` (shape rules, so every replica refuses the same changes).
//! See [`crate::identity`]. (Before, the rule was `verify_strict` with weak keys refused. Every
//! signature it accepted verifies under this one, but not the other way round (on signatures no
//! honest signer makes), and grants to unusable keys are newly refused; so the change of rule
//! comes with a new sync protocol version.)
//!
//! # Canonical form
//! A block decodes only if it is the one encoding of its change: decoding checks the bytes
//! against what the encoder writes (minimal heads, sorted keys, 64-bit floats, links that are
//! weft CIDs, nothing after the map; see `canonical.rs`), without encoding anything again. So
//! one change has exactly one encoding and one CID.

mod op;
#[cfg(test)]
mod tests;
mod verify;

use std::sync::Arc;

use ipld_core::ipld::Ipld;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use weft_store::{Cid, Codec, ErrorKind};

pub use self::{
    op::{ItemRef, Op, OpId, OpRef, MAX_TEXT_RUN},
    verify::{signed_message, validate_key, verify_batch, KeyError, ShapeError, VerifyError},
};
use crate::{
    canonical,
    id::DocId,
    identity::{Author, Identity},
};

/// The change format version.
pub const CHANGE_VERSION: u64 = 1;

/// Prefix of every signed message, so a change signature can never be replayed as anything else.
pub const SIGNING_DOMAIN: &[u8] = b"weft change v1\n";

/// Most ops in one change.
pub const MAX_OPS: usize = 10_000;
/// Most parents of one change.
pub const MAX_PARENTS: usize = 1_024;
/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = 1_024;
/// Most op ids in one `pred` or `tags` list.
pub const MAX_PRED: usize = 1_024;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    doc: Option<Cid>,
    ops: Vec<Ipld>,
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sig: Option<ByteBuf>,
    time: u64,
    author: ByteBuf,
    height: u64,
    parents: Vec<Cid>,
    version: u64,
}

/// A decoded change. Build new ones with [`Change::sign`].
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The document; `None` for a genesis change (whose own CID is the document id).
    pub doc: Option<DocId>,
    /// The heads the author saw, sorted.
    pub parents: Vec<Cid>,
    /// Who signed it.
    pub author: Author,
    /// Per author and document, from 1.
    pub seq: u64,
    /// 1 + the greatest parent height.
    pub height: u64,
    /// Wall-clock milliseconds; informational.
    pub time: u64,
    /// The ops, in order.
    pub ops: Vec<Op>,
    /// The ed25519 signature.
    pub sig: [u8; 64],
}

/// A change in a repo, with its CID: what a commit made ([`Transaction::commit`]) and what
/// [`Repo::log`] lists.
///
/// [`Transaction::commit`]: crate::Transaction::commit
/// [`Repo::log`]: crate::Repo::log
#[derive(Debug, Clone)]
pub struct StoredChange {
    /// Its CID.
    pub cid: Cid,
    /// The change.
    pub change: Change,
}

/// A change with its CID and exact bytes.
#[derive(Debug, Clone)]
pub struct EncodedChange {
    /// The CID of `bytes`.
    pub cid: Cid,
    /// The canonical DAG-CBOR block.
    pub bytes: Vec<u8>,
    /// The decoded change (shared: replicas in one process decode a change once, see
    /// [`VerifiedCache`](crate::VerifiedCache)).
    pub change: Arc<Change>,
}

/// Why a block is not a valid change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The CID is not dag-cbor.
    #[error("block {cid} is {codec}, not a dag-cbor change")]
    NotDagCbor {
        /// The block.
        cid: Cid,
        /// Its codec.
        codec: Codec,
    },
    /// The bytes are not a change map.
    #[error("block {cid} is not a valid change: {reason}")]
    Malformed {
        /// The block.
        cid: Cid,
        /// What is wrong.
        reason: String,
    },
    /// The bytes decode, but are not the canonical encoding.
    #[error("change {cid} is not in canonical DAG-CBOR form")]
    NonCanonical {
        /// The block.
        cid: Cid,
    },
}

impl DecodeError {
    /// Always [`ErrorKind::Corrupt`]: the block is not a change an honest author writes.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Corrupt
    }
}

impl Change {
    fn to_wire(&self, with_sig: bool) -> Wire {
        Wire {
            doc: self.doc.map(|d| d.0),
            ops: self.ops.iter().map(Op::to_ipld).collect(),
            seq: self.seq,
            sig: with_sig.then(|| ByteBuf::from(self.sig.to_vec())),
            time: self.time,
            author: ByteBuf::from(self.author.0.to_vec()),
            height: self.height,
            parents: self.parents.clone(),
            version: CHANGE_VERSION,
        }
    }

    /// Appends the DAG-CBOR encoding of `wire` to `out`.
    fn encode_wire_into(wire: &Wire, out: &mut Vec<u8>) {
        match serde_ipld_dagcbor::to_writer(&mut *out, wire) {
            Ok(()) => {}
            // Every field is plain data; values are checked finite before they reach a change.
            Err(e) => unreachable!("a change always encodes: {e}"),
        }
    }

    /// The message the signature covers: [`SIGNING_DOMAIN`] ++ DAG-CBOR without `sig`, encoded
    /// from the fields. For a change decoded from a block, [`signed_message`] cuts the same
    /// bytes out of the block instead.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut msg = SIGNING_DOMAIN.to_vec();
        Change::encode_wire_into(&self.to_wire(false), &mut msg);
        msg
    }

    /// The genesis change of a new document owned by `identity`: its CID is the document's id,
    /// so the `nonce` (random, for a new document) is what makes two documents of one owner
    /// differ.
    pub fn genesis(identity: &Identity, time: u64, nonce: [u8; 16]) -> EncodedChange {
        Change {
            doc: None,
            parents: vec![],
            author: identity.author(),
            seq: 1,
            height: 1,
            time,
            ops: vec![Op::Genesis {
                owner: identity.author(),
                nonce,
            }],
            sig: [0; 64],
        }
        .sign(identity)
    }

    /// Signs the change (overwriting `sig`) and encodes it: the map without `sig` is encoded
    /// once, signed, and the `sig` entry put into those bytes where canonical order wants it.
    ///
    /// Values in the ops must be finite; check them with [`Value::validate`](crate::Value::validate) first.
    pub fn sign(mut self, identity: &Identity) -> EncodedChange {
        self.author = identity.author();
        let msg = self.signing_bytes();
        self.sig = identity.sign(&msg);
        let bytes = match canonical::splice_sig(&msg[SIGNING_DOMAIN.len()..], &self.sig) {
            Ok(bytes) => bytes,
            // The encoder's own output is canonical; encode again rather than fail.
            Err(_) => {
                let mut bytes = Vec::new();
                Change::encode_wire_into(&self.to_wire(true), &mut bytes);
                bytes
            }
        };
        EncodedChange {
            cid: Cid::hash(Codec::DagCbor, &bytes),
            bytes,
            change: Arc::new(self),
        }
    }

    /// Decodes a block as a change, checking the canonical form. The caller has already verified
    /// that `bytes` hash to `cid`; the signature is checked by [`Change::verify`].
    pub fn decode(cid: &Cid, bytes: &[u8]) -> Result<Change, DecodeError> {
        if cid.codec() != Codec::DagCbor {
            return Err(DecodeError::NotDagCbor {
                cid: *cid,
                codec: cid.codec(),
            });
        }
        let malformed = |reason: String| DecodeError::Malformed { cid: *cid, reason };
        let wire: Wire = serde_ipld_dagcbor::from_slice(bytes)
            .map_err(|e| malformed(crate::cbor::describe(&e)))?;
        if wire.version != CHANGE_VERSION {
            return Err(malformed(format!(
                "unsupported change version {}",
                wire.version
            )));
        }
        let author: [u8; 32] = wire
            .author
            .as_slice()
            .try_into()
            .map_err(|_| malformed("`author` must be 32 bytes".into()))?;
        let sig: [u8; 64] = wire
            .sig
            .as_ref()
            .ok_or_else(|| malformed("missing `sig`".into()))?
            .as_slice()
            .try_into()
            .map_err(|_| malformed("`sig` must be 64 bytes".into()))?;
        if wire.ops.len() > MAX_OPS {
            return Err(malformed(format!("more than {MAX_OPS} ops")));
        }
        if wire.parents.len() > MAX_PARENTS {
            return Err(malformed(format!("more than {MAX_PARENTS} parents")));
        }
        let ops = wire
            .ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| Op::from_ipld(op).map_err(|e| malformed(format!("op {i}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let change = Change {
            doc: wire.doc.map(DocId),
            parents: wire.parents,
            author: Author(author),
            seq: wire.seq,
            height: wire.height,
            time: wire.time,
            ops,
            sig,
        };
        // The decoder already refuses most of what is not canonical (unsorted keys, non-minimal
        // heads, short floats); this pass refuses the rest (a `doc: null`, a link with bytes
        // after its CID) and does not depend on how strict the decoder is.
        if canonical::check_change(bytes).is_err() {
            return Err(DecodeError::NonCanonical { cid: *cid });
        }
        Ok(change)
    }

    /// Whether this change holds membership ops (`grant`, `revoke`).
    pub fn is_membership(&self) -> bool {
        self.ops
            .iter()
            .any(|op| matches!(op, Op::Grant { .. } | Op::Revoke { .. }))
    }

    /// Whether this change holds data ops (anything but genesis and membership ops).
    pub fn has_data(&self) -> bool {
        self.ops.iter().any(|op| op.key().is_some())
    }

    /// Whether this is a genesis change.
    pub fn is_genesis(&self) -> bool {
        self.doc.is_none()
    }

    /// The keys this change touches, deduplicated, in order of first appearance.
    pub fn keys(&self) -> Vec<String> {
        let mut seen = std::collections::BTreeSet::new();
        self.ops
            .iter()
            .filter_map(Op::key)
            .filter(|k| seen.insert(k.to_string()))
            .map(str::to_string)
            .collect()
    }
}
