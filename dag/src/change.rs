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

use std::{collections::BTreeMap, sync::Arc};

use ipld_core::ipld::Ipld;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use weft_store::{Cid, Codec};

use crate::{
    canonical,
    id::DocId,
    identity::{self, Author, Identity, SignatureError},
    role::Role,
    value::Value,
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

/// The id of one op: its change and its index in that change's op list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId {
    /// The change that holds the op.
    pub change: Cid,
    /// Its position in the change's op list.
    pub index: u32,
}

impl OpId {
    /// The 40-byte key form: binary CID then big-endian index.
    pub fn to_bytes(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..36].copy_from_slice(&self.change.to_bytes());
        out[36..].copy_from_slice(&self.index.to_be_bytes());
        out
    }

    /// Parses the 40-byte key form.
    pub fn from_bytes(b: &[u8]) -> Option<OpId> {
        if b.len() != 40 {
            return None;
        }
        let change = Cid::from_bytes(&b[..36]).ok()?;
        let index = u32::from_be_bytes(b[36..].try_into().ok()?);
        Some(OpId { change, index })
    }
}

impl std::fmt::Display for OpId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.change, self.index)
    }
}

/// One CRDT operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Creates a document and names its owner. Only in a genesis change.
    Genesis {
        /// The owner's key; must equal the change's author.
        owner: Author,
        /// Random bytes, so that each genesis (and document id) is unique.
        nonce: [u8; 16],
    },
    /// Writes a register value, overwriting the ops in `pred`.
    Set {
        /// The key.
        key: String,
        /// The new value.
        value: Value,
        /// The register ops this write saw and replaces.
        pred: Vec<OpId>,
    },
    /// Deletes the register ops in `pred`.
    Del {
        /// The key.
        key: String,
        /// The register ops this delete saw.
        pred: Vec<OpId>,
    },
    /// Adds `delta` to a counter.
    Incr {
        /// The key.
        key: String,
        /// The signed amount.
        delta: i64,
    },
    /// Adds a member to a set; the op id is the add's tag.
    Add {
        /// The key.
        key: String,
        /// The member.
        member: Value,
    },
    /// Removes the observed tags of a member from a set.
    Remove {
        /// The key.
        key: String,
        /// The member.
        member: Value,
        /// The add ops this remove saw.
        tags: Vec<OpId>,
    },
    /// Gives `who` a role in the document (see [`crate::acl`]).
    Grant {
        /// The key.
        who: Author,
        /// The role: reader, writer or admin (never owner).
        role: Role,
    },
    /// Takes every role away from `who` (see [`crate::acl`]).
    Revoke {
        /// The key.
        who: Author,
    },
}

impl Op {
    /// The key the op touches (`None` for genesis).
    pub fn key(&self) -> Option<&str> {
        match self {
            Op::Genesis { .. } | Op::Grant { .. } | Op::Revoke { .. } => None,
            Op::Set { key, .. }
            | Op::Del { key, .. }
            | Op::Incr { key, .. }
            | Op::Add { key, .. }
            | Op::Remove { key, .. } => Some(key),
        }
    }

    /// The op's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Genesis { .. } => "genesis",
            Op::Set { .. } => "set",
            Op::Del { .. } => "del",
            Op::Incr { .. } => "incr",
            Op::Add { .. } => "add",
            Op::Remove { .. } => "remove",
            Op::Grant { .. } => "grant",
            Op::Revoke { .. } => "revoke",
        }
    }

    fn to_ipld(&self) -> Ipld {
        let mut m = BTreeMap::new();
        m.insert("op".to_string(), Ipld::String(self.name().into()));
        let ids = |ids: &[OpId]| {
            Ipld::List(
                ids.iter()
                    .map(|id| {
                        Ipld::List(vec![
                            Ipld::Link(id.change.to_cid()),
                            Ipld::Integer(id.index.into()),
                        ])
                    })
                    .collect(),
            )
        };
        match self {
            Op::Genesis { owner, nonce } => {
                m.insert("owner".into(), Ipld::Bytes(owner.0.to_vec()));
                m.insert("nonce".into(), Ipld::Bytes(nonce.to_vec()));
            }
            Op::Set { key, value, pred } => {
                m.insert("key".into(), Ipld::String(key.clone()));
                m.insert("value".into(), value.to_ipld());
                m.insert("pred".into(), ids(pred));
            }
            Op::Del { key, pred } => {
                m.insert("key".into(), Ipld::String(key.clone()));
                m.insert("pred".into(), ids(pred));
            }
            Op::Incr { key, delta } => {
                m.insert("key".into(), Ipld::String(key.clone()));
                m.insert("delta".into(), Ipld::Integer((*delta).into()));
            }
            Op::Add { key, member } => {
                m.insert("key".into(), Ipld::String(key.clone()));
                m.insert("member".into(), member.to_ipld());
            }
            Op::Remove { key, member, tags } => {
                m.insert("key".into(), Ipld::String(key.clone()));
                m.insert("member".into(), member.to_ipld());
                m.insert("tags".into(), ids(tags));
            }
            Op::Grant { who, role } => {
                m.insert("who".into(), Ipld::Bytes(who.0.to_vec()));
                m.insert("role".into(), Ipld::String(role.name().into()));
            }
            Op::Revoke { who } => {
                m.insert("who".into(), Ipld::Bytes(who.0.to_vec()));
            }
        }
        Ipld::Map(m)
    }

    fn from_ipld(ipld: Ipld) -> Result<Op, String> {
        let Ipld::Map(mut m) = ipld else {
            return Err("an op must be a map".into());
        };
        let kind = match m.remove("op") {
            Some(Ipld::String(s)) => s,
            _ => return Err("an op needs an `op` string".into()),
        };
        let mut take = |name: &str| {
            m.remove(name)
                .ok_or_else(|| format!("`{kind}` op needs `{name}`"))
        };
        let string = |v: Ipld| match v {
            Ipld::String(s) => Ok(s),
            _ => Err("`key` must be a string".to_string()),
        };
        let value = |v: Ipld| Value::from_ipld(v).map_err(|e| e.to_string());
        let ids = |v: Ipld| -> Result<Vec<OpId>, String> {
            let Ipld::List(items) = v else {
                return Err("op id lists must be lists".into());
            };
            if items.len() > MAX_PRED {
                return Err(format!("more than {MAX_PRED} op ids in one list"));
            }
            items
                .into_iter()
                .map(|item| match item {
                    Ipld::List(pair) => match pair.as_slice() {
                        [Ipld::Link(c), Ipld::Integer(i)] => Ok(OpId {
                            change: Cid::try_from(*c).map_err(|e| e.to_string())?,
                            index: u32::try_from(*i).map_err(|_| "op index out of range")?,
                        }),
                        _ => Err("an op id is [link, index]".to_string()),
                    },
                    _ => Err("an op id is [link, index]".to_string()),
                })
                .collect()
        };
        let bytes = |v: Ipld, n: usize, what: &str| match v {
            Ipld::Bytes(b) if b.len() == n => Ok(b),
            _ => Err(format!("`{what}` must be {n} bytes")),
        };
        let op = match kind.as_str() {
            "genesis" => {
                let owner = bytes(take("owner")?, 32, "owner")?;
                let nonce = bytes(take("nonce")?, 16, "nonce")?;
                Op::Genesis {
                    owner: Author(owner.try_into().map_err(|_| "owner")?),
                    nonce: nonce.try_into().map_err(|_| "nonce")?,
                }
            }
            "set" => Op::Set {
                key: string(take("key")?)?,
                value: value(take("value")?)?,
                pred: ids(take("pred")?)?,
            },
            "del" => Op::Del {
                key: string(take("key")?)?,
                pred: ids(take("pred")?)?,
            },
            "incr" => Op::Incr {
                key: string(take("key")?)?,
                delta: match take("delta")? {
                    Ipld::Integer(i) => i64::try_from(i).map_err(|_| "delta out of range")?,
                    _ => return Err("`delta` must be an integer".into()),
                },
            },
            "add" => Op::Add {
                key: string(take("key")?)?,
                member: value(take("member")?)?,
            },
            "remove" => Op::Remove {
                key: string(take("key")?)?,
                member: value(take("member")?)?,
                tags: ids(take("tags")?)?,
            },
            "grant" => Op::Grant {
                who: Author(
                    bytes(take("who")?, 32, "who")?
                        .try_into()
                        .map_err(|_| "who")?,
                ),
                role: match take("role")? {
                    Ipld::String(r) => match r.parse::<Role>() {
                        Ok(Role::Owner) | Err(_) => {
                            return Err("`role` must be reader, writer or admin".into())
                        }
                        Ok(role) => role,
                    },
                    _ => return Err("`role` must be a string".into()),
                },
            },
            "revoke" => Op::Revoke {
                who: Author(
                    bytes(take("who")?, 32, "who")?
                        .try_into()
                        .map_err(|_| "who")?,
                ),
            },
            other => return Err(format!("unknown op {other:?}")),
        };
        if let Some(extra) = m.keys().next() {
            return Err(format!("unknown field {extra:?} in `{kind}` op"));
        }
        Ok(op)
    }
}

/// Checks a document key: 1..=1024 bytes of UTF-8 without NUL.
pub fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("a key cannot be empty".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(format!("a key is at most {MAX_KEY_LEN} bytes"));
    }
    if key.contains('\0') {
        return Err("a key cannot contain NUL".into());
    }
    Ok(())
}

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

/// Why a change's signature or shape is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature does not verify under the author key.
    #[error("change {cid} has a bad signature for author {author}")]
    BadSignature {
        /// The change.
        cid: Cid,
        /// Its claimed author.
        author: Author,
    },
    /// The author key is not a usable ed25519 key.
    #[error("change {cid} names author {author}, which is not a valid ed25519 key")]
    BadAuthorKey {
        /// The change.
        cid: Cid,
        /// The key.
        author: Author,
    },
    /// The change breaks a structural rule.
    #[error("change {cid} is invalid: {reason}")]
    Invalid {
        /// The change.
        cid: Cid,
        /// The rule it breaks.
        reason: String,
    },
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

    /// Signs the change (overwriting `sig`) and encodes it: the map without `sig` is encoded
    /// once, signed, and the `sig` entry put into those bytes where canonical order wants it.
    ///
    /// Values in the ops must be finite; check them with [`Value::validate`] first.
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
        let wire: Wire =
            serde_ipld_dagcbor::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
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

    /// Checks the signature and the rules that need no other change: sorted parents, genesis
    /// shape, valid keys, sequence and height from 1, usable keys for the author, the genesis
    /// owner and grants. The signed message is encoded from the fields (a change built or
    /// changed in memory); a change decoded from a block is checked faster by
    /// [`Change::verify_decoded`].
    pub fn verify(&self, cid: &Cid) -> Result<(), VerifyError> {
        self.check_shape()
            .map_err(|reason| VerifyError::Invalid { cid: *cid, reason })?;
        self.author
            .verify(&self.signing_bytes(), &self.sig)
            .map_err(|e| self.signature_error(cid, e))
    }

    /// [`Change::verify`] for a change decoded from `bytes` (which must be that block): the
    /// signed message is cut out of the bytes rather than encoded again.
    pub fn verify_decoded(&self, cid: &Cid, bytes: &[u8]) -> Result<(), VerifyError> {
        self.check_shape()
            .map_err(|reason| VerifyError::Invalid { cid: *cid, reason })?;
        self.author
            .verify(&self.message_in(bytes), &self.sig)
            .map_err(|e| self.signature_error(cid, e))
    }

    /// The signed message, cut from `bytes` if they are this change's block (checked by the
    /// signature they hold), else encoded from the fields.
    fn message_in(&self, bytes: &[u8]) -> Vec<u8> {
        let mut msg = SIGNING_DOMAIN.to_vec();
        match canonical::cut_sig(bytes, &mut msg) {
            Some(sig) if sig == self.sig => msg,
            _ => self.signing_bytes(),
        }
    }

    fn signature_error(&self, cid: &Cid, e: SignatureError) -> VerifyError {
        match e {
            SignatureError::UnusableKey => VerifyError::BadAuthorKey {
                cid: *cid,
                author: self.author,
            },
            _ => VerifyError::BadSignature {
                cid: *cid,
                author: self.author,
            },
        }
    }

    fn check_shape(&self) -> Result<(), String> {
        if self.seq == 0 {
            return Err("seq starts at 1".into());
        }
        if self.height == 0 {
            return Err("height starts at 1".into());
        }
        if self.ops.is_empty() {
            return Err("a change needs at least one op".into());
        }
        if !self.parents.windows(2).all(|w| w[0] < w[1]) {
            return Err("parents must be sorted and distinct".into());
        }
        let n_genesis = self
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Genesis { .. }))
            .count();
        match self.doc {
            None => {
                if !self.parents.is_empty() {
                    return Err("a genesis change has no parents".into());
                }
                if self.height != 1 {
                    return Err("a genesis change has height 1".into());
                }
                match self.ops.as_slice() {
                    [Op::Genesis { owner, .. }] if !owner.is_usable() => {
                        return Err(format!(
                            "the genesis owner {owner} is not a usable ed25519 key (small order, \
                             or not canonically encoded)"
                        ))
                    }
                    [Op::Genesis { owner, .. }] if *owner == self.author => {}
                    [Op::Genesis { .. }] => {
                        return Err("the genesis owner must be its author".into())
                    }
                    _ => return Err("a genesis change holds exactly one genesis op".into()),
                }
            }
            Some(_) => {
                if self.parents.is_empty() {
                    return Err(
                        "only a genesis change has no parents (set `doc` only on others)".into(),
                    );
                }
                if n_genesis > 0 {
                    return Err("a genesis op may only appear in a genesis change".into());
                }
                if self.ops.iter().any(|op| {
                    matches!(
                        op,
                        Op::Grant {
                            role: Role::Owner,
                            ..
                        }
                    )
                }) {
                    return Err("the owner role cannot be granted".into());
                }
            }
        }
        for (i, op) in self.ops.iter().enumerate() {
            if let Some(key) = op.key() {
                validate_key(key).map_err(|e| format!("op {i}: {e}"))?;
            }
            if let Op::Grant { who, .. } = op {
                if !who.is_usable() {
                    return Err(format!(
                        "op {i}: a role cannot be granted to {who}, which is not a usable \
                         ed25519 key (small order, or not canonically encoded)"
                    ));
                }
            }
        }
        Ok(())
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

impl EncodedChange {
    /// [`Change::verify_decoded`] on the change and its bytes.
    pub fn verify(&self) -> Result<(), VerifyError> {
        self.change.verify_decoded(&self.cid, &self.bytes)
    }
}

/// The message the signature of a change covers ([`SIGNING_DOMAIN`] ++ the map without `sig`),
/// cut out of its block; `None` if the bytes are not a change in canonical form with a `sig`.
/// Equal to [`Change::signing_bytes`] of the decoded change, without encoding anything.
pub fn signed_message(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut msg = SIGNING_DOMAIN.to_vec();
    canonical::cut_sig(bytes, &mut msg).map(|_| msg)
}

/// [`Change::verify_decoded`] for many changes at once, each `(cid, change, the block it was
/// decoded from)`: the answers are exactly those of checking each alone, in order. The shapes
/// are checked first, then every signature that is left goes into one ZIP-215 batch
/// ([`identity::verify_many`]); only if that batch fails is each signature checked alone, to
/// name the bad ones.
pub fn verify_batch(items: &[(&Cid, &Change, &[u8])]) -> Vec<Result<(), VerifyError>> {
    let mut out: Vec<Result<(), VerifyError>> = Vec::with_capacity(items.len());
    let mut messages: Vec<(usize, Vec<u8>)> = Vec::with_capacity(items.len());
    for (i, &(cid, change, bytes)) in items.iter().enumerate() {
        match change.check_shape() {
            Ok(()) => {
                out.push(Ok(()));
                messages.push((i, change.message_in(bytes)));
            }
            Err(reason) => out.push(Err(VerifyError::Invalid { cid: *cid, reason })),
        }
    }
    let signatures: Vec<(&Author, &[u8], &[u8; 64])> = messages
        .iter()
        .map(|(i, msg)| (&items[*i].1.author, msg.as_slice(), &items[*i].1.sig))
        .collect();
    let verdicts = identity::verify_many(&signatures);
    for ((i, _), verdict) in messages.iter().zip(verdicts) {
        let (cid, change, _) = items[*i];
        out[*i] = verdict.map_err(|e| change.signature_error(cid, e));
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn genesis(id: &Identity) -> EncodedChange {
        Change {
            doc: None,
            parents: vec![],
            author: id.author(),
            seq: 1,
            height: 1,
            time: 1_700_000_000_000,
            ops: vec![Op::Genesis {
                owner: id.author(),
                nonce: [9; 16],
            }],
            sig: [0; 64],
        }
        .sign(id)
    }

    fn child(id: &Identity, g: &EncodedChange) -> EncodedChange {
        Change {
            doc: Some(DocId(g.cid)),
            parents: vec![g.cid],
            author: id.author(),
            seq: 2,
            height: 2,
            time: 1_700_000_000_001,
            ops: vec![Op::Set {
                key: "todo/1".into(),
                value: Value::parse_cli(r#"{"title":"milk"}"#).unwrap(),
                pred: vec![],
            }],
            sig: [0; 64],
        }
        .sign(id)
    }

    #[test]
    fn sign_decode_verify_round_trip() {
        let id = Identity::from_seed([1; 32]);
        let g = genesis(&id);
        let c = child(&id, &g);
        for e in [&g, &c] {
            let back = Change::decode(&e.cid, &e.bytes).unwrap();
            assert_eq!(back, *e.change);
            back.verify(&e.cid).unwrap();
        }
    }

    #[test]
    fn tampering_is_caught() {
        let id = Identity::from_seed([1; 32]);
        let g = genesis(&id);
        let mut c = Change::clone(&child(&id, &g).change);
        c.time += 1; // changed after signing
        assert!(matches!(
            c.verify(&g.cid),
            Err(VerifyError::BadSignature { .. })
        ));
        // A signature by another key.
        let other = Identity::from_seed([2; 32]);
        let mut forged = Change::clone(&child(&other, &g).change);
        forged.author = id.author();
        assert!(forged.verify(&g.cid).is_err());
    }

    /// The decoder as it was: decode, then encode the change again and compare bytes. Kept to
    /// check that the pass over the bytes accepts exactly what this accepted.
    fn decode_by_re_encoding(cid: &Cid, bytes: &[u8]) -> Result<Change, DecodeError> {
        if cid.codec() != Codec::DagCbor {
            return Err(DecodeError::NotDagCbor {
                cid: *cid,
                codec: cid.codec(),
            });
        }
        let malformed = |reason: String| DecodeError::Malformed { cid: *cid, reason };
        let wire: Wire =
            serde_ipld_dagcbor::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
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
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, op)| Op::from_ipld(op).map_err(|e| malformed(format!("op {i}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let change = Change {
            doc: wire.doc.map(DocId),
            parents: wire.parents.clone(),
            author: Author(author),
            seq: wire.seq,
            height: wire.height,
            time: wire.time,
            ops,
            sig,
        };
        if encode(&change, true) != bytes {
            return Err(DecodeError::NonCanonical { cid: *cid });
        }
        Ok(change)
    }

    /// The encoder's bytes for a change, with or without `sig`.
    fn encode(change: &Change, with_sig: bool) -> Vec<u8> {
        let mut out = Vec::new();
        Change::encode_wire_into(&change.to_wire(with_sig), &mut out);
        out
    }

    /// Decodes `bytes` both ways and checks that the answers are the same; returns it.
    fn decode_both(bytes: &[u8]) -> Result<Change, DecodeError> {
        let cid = Cid::hash(Codec::DagCbor, bytes);
        let new = Change::decode(&cid, bytes);
        assert_eq!(new, decode_by_re_encoding(&cid, bytes), "{bytes:02x?}");
        new
    }

    /// A change that has a bit of everything the encoder writes: a link in an op id, a float,
    /// nested maps.
    fn rich(id: &Identity, g: &EncodedChange) -> EncodedChange {
        let mut value = BTreeMap::new();
        value.insert("price".to_string(), Value::Float(1.5));
        value.insert("tags".to_string(), Value::Array(vec![Value::Bool(true)]));
        Change {
            doc: Some(DocId(g.cid)),
            parents: vec![g.cid],
            author: id.author(),
            seq: 2,
            height: 2,
            time: 1_700_000_000_001,
            ops: vec![Op::Set {
                key: "k".into(),
                value: Value::Map(value),
                pred: vec![OpId {
                    change: g.cid,
                    index: 0,
                }],
            }],
            sig: [0; 64],
        }
        .sign(id)
    }

    fn splice(bytes: &[u8], at: usize, cut: usize, with: &[u8]) -> Vec<u8> {
        [&bytes[..at], with, &bytes[at + cut..]].concat()
    }

    fn find(bytes: &[u8], what: &[u8]) -> usize {
        bytes.windows(what.len()).position(|w| w == what).unwrap()
    }

    #[test]
    fn non_canonical_encodings_are_rejected() {
        let id = Identity::from_seed([1; 32]);
        let g = genesis(&id);
        // Re-encode the same map with keys in declaration (non-canonical) order, via Ipld with a
        // doubled-up field order trick: an explicit `doc: null` decodes to None but re-encodes
        // without the field.
        let mut ipld: Ipld = serde_ipld_dagcbor::from_slice(&g.bytes).unwrap();
        if let Ipld::Map(m) = &mut ipld {
            m.insert("doc".into(), Ipld::Null);
        }
        let bytes = serde_ipld_dagcbor::to_vec(&ipld).unwrap();
        let cid = Cid::hash(Codec::DagCbor, &bytes);
        let err = Change::decode(&cid, &bytes).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::NonCanonical { .. } | DecodeError::Malformed { .. }
            ),
            "{err}"
        );
        assert_eq!(decode_both(&bytes), Err(err));

        let c = rich(&id, &g);
        assert_eq!(decode_both(&c.bytes).unwrap(), *c.change);
        let bad: Vec<(&str, Vec<u8>)> = vec![
            // The cid crate reads a link's CID and ignores what follows it, so only the pass
            // over the bytes sees this one (an op id's link with a byte after the CID).
            ("link with trailing byte", {
                let at = find(&c.bytes, b"dpred\x81\x82\xd8\x2a") + 9;
                splice(&c.bytes, at, 2, b"\x58\x26")
                    .into_iter()
                    .take(at + 2 + 37)
                    .chain([0x00])
                    .chain(c.bytes[at + 2 + 37..].iter().copied())
                    .collect()
            }),
            // seq 2 as 0x18 0x02
            ("non-minimal integer", {
                let at = find(&c.bytes, b"cseq") + 4;
                splice(&c.bytes, at, 1, b"\x18\x02")
            }),
            // the map header of the whole change as 0xb8 0x09
            (
                "non-minimal map length",
                splice(&c.bytes, 0, 1, b"\xb8\x09"),
            ),
            ("indefinite list of ops", {
                let at = find(&c.bytes, b"cops") + 4;
                let end = find(&c.bytes, b"cseq");
                [
                    &c.bytes[..at],
                    b"\x9f",
                    &c.bytes[at + 1..end],
                    b"\xff",
                    &c.bytes[end..],
                ]
                .concat()
            }),
            ("float written as f32", {
                let at = find(&c.bytes, &[0xfb, 0x3f, 0xf8]);
                splice(&c.bytes, at, 9, &[0xfa, 0x3f, 0xc0, 0x00, 0x00])
            }),
            ("negative zero", {
                let at = find(&c.bytes, &[0xfb, 0x3f, 0xf8]);
                splice(&c.bytes, at, 9, &[0xfb, 0x80, 0, 0, 0, 0, 0, 0, 0])
            }),
            ("swapped entries", {
                // `seq 2` and `sig ...` (70 bytes) change places.
                let at = find(&c.bytes, b"cseq");
                let seq = c.bytes[at..at + 5].to_vec();
                let sig = c.bytes[at + 5..at + 5 + 70].to_vec();
                splice(&c.bytes, at, 75, &[sig, seq].concat())
            }),
            ("repeated key", {
                let at = find(&c.bytes, b"cseq");
                [&[0xaa][..], &c.bytes[1..at + 5], &c.bytes[at..]].concat()
            }),
            ("key written as bytes", {
                let at = find(&c.bytes, b"cseq");
                splice(&c.bytes, at, 1, b"\x43")
            }),
            ("undefined for true", {
                let at = find(&c.bytes, b"dtags\x81\xf5") + 6;
                splice(&c.bytes, at, 1, b"\xf7")
            }),
            ("byte after the map", [&c.bytes[..], b"\x00"].concat()),
        ];
        for (what, bytes) in bad {
            assert!(decode_both(&bytes).is_err(), "{what} was accepted");
        }
        // The first one is the pass's to find.
        let at = find(&c.bytes, b"dpred\x81\x82\xd8\x2a") + 9;
        let trailing: Vec<u8> = [
            &c.bytes[..at],
            b"\x58\x26",
            &c.bytes[at + 2..at + 2 + 37],
            b"\x00",
            &c.bytes[at + 2 + 37..],
        ]
        .concat();
        assert!(matches!(
            decode_both(&trailing),
            Err(DecodeError::NonCanonical { .. })
        ));
    }

    fn cid() -> impl Strategy<Value = Cid> {
        (any::<bool>(), any::<[u8; 32]>())
            .prop_map(|(raw, d)| Cid::from_digest(if raw { Codec::Raw } else { Codec::DagCbor }, d))
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::Float),
            ".{0,20}".prop_map(Value::String),
            proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
            cid().prop_map(Value::Link),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,8}", inner, 0..4).prop_map(Value::Map),
            ]
        })
    }

    fn op_ids() -> impl Strategy<Value = Vec<OpId>> {
        proptest::collection::vec(
            (cid(), any::<u32>()).prop_map(|(change, index)| OpId { change, index }),
            0..3,
        )
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = || prop_oneof![".{0,8}", "[a-z/]{1,8}"];
        let role = prop_oneof![
            Just(Role::Reader),
            Just(Role::Writer),
            Just(Role::Admin),
            Just(Role::Owner)
        ];
        prop_oneof![
            (any::<[u8; 32]>(), any::<[u8; 16]>()).prop_map(|(o, nonce)| Op::Genesis {
                owner: Author(o),
                nonce
            }),
            (key(), value(), op_ids()).prop_map(|(key, value, pred)| Op::Set { key, value, pred }),
            (key(), op_ids()).prop_map(|(key, pred)| Op::Del { key, pred }),
            (key(), any::<i64>()).prop_map(|(key, delta)| Op::Incr { key, delta }),
            (key(), value()).prop_map(|(key, member)| Op::Add { key, member }),
            (key(), value(), op_ids()).prop_map(|(key, member, tags)| Op::Remove {
                key,
                member,
                tags
            }),
            (any::<[u8; 32]>(), role).prop_map(|(w, role)| Op::Grant {
                who: Author(w),
                role
            }),
            any::<[u8; 32]>().prop_map(|w| Op::Revoke { who: Author(w) }),
        ]
    }

    fn change() -> impl Strategy<Value = Change> {
        (
            proptest::option::of(cid()),
            proptest::collection::vec(cid(), 0..3),
            any::<[u8; 32]>(),
            (any::<u64>(), any::<u64>(), any::<u64>()),
            proptest::collection::vec(op(), 0..4),
            proptest::collection::vec(any::<u8>(), 64),
        )
            .prop_map(
                |(doc, parents, author, (seq, height, time), ops, sig)| Change {
                    doc: doc.map(DocId),
                    parents,
                    author: Author(author),
                    seq,
                    height,
                    time,
                    ops,
                    sig: sig.try_into().unwrap(),
                },
            )
    }

    proptest! {
        /// Decoding with the pass over the bytes answers exactly what decoding and encoding
        /// again answered (the same change, or the same error), on random changes of every op
        /// kind and on random mutations of their bytes.
        #[test]
        fn the_pass_decodes_exactly_what_re_encoding_did(
            change in change(),
            mutations in proptest::collection::vec(
                (0..canonical::mutate::KINDS, any::<usize>(), any::<u8>()),
                1..32,
            ),
        ) {
            let bytes = encode(&change, true);
            let _ = decode_both(&bytes);
            for (kind, a, b) in mutations {
                if let Some(m) = canonical::mutate::mutate(&bytes, kind, a, b) {
                    let _ = decode_both(&m);
                }
            }
        }

        /// Signing encodes once and puts `sig` in: the bytes are those of encoding the whole
        /// change, and the signed message cut back out of them is the map without `sig`.
        #[test]
        fn the_sig_entry_goes_in_and_comes_out_where_encoding_puts_it(change in change()) {
            let without = encode(&change, false);
            let with = encode(&change, true);
            prop_assert_eq!(&canonical::splice_sig(&without, &change.sig).unwrap(), &with);
            let mut msg = SIGNING_DOMAIN.to_vec();
            msg.extend_from_slice(&without);
            prop_assert_eq!(signed_message(&with), Some(msg.clone()));
            prop_assert_eq!(change.signing_bytes(), msg);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let cid = Cid::hash(Codec::DagCbor, b"x");
        for bytes in [&b""[..], b"\xff", b"\xa0", b"\x80", b"\xa1\x61a\x01"] {
            assert!(Change::decode(&cid, bytes).is_err());
        }
        let raw = Cid::hash(Codec::Raw, b"x");
        assert!(matches!(
            Change::decode(&raw, b"x"),
            Err(DecodeError::NotDagCbor { .. })
        ));
    }

    #[test]
    fn shape_rules() {
        let id = Identity::from_seed([1; 32]);
        let g = genesis(&id);
        let mut bad = Change::clone(&child(&id, &g).change);
        bad.ops.clear();
        let e = bad.sign(&id);
        assert!(matches!(
            e.change.verify(&e.cid),
            Err(VerifyError::Invalid { .. })
        ));
        let mut bad = Change::clone(&child(&id, &g).change);
        bad.ops = vec![Op::Set {
            key: "a\0b".into(),
            value: Value::Null,
            pred: vec![],
        }];
        let e = bad.sign(&id);
        assert!(e.change.verify(&e.cid).is_err());
        let mut bad = Change::clone(&genesis(&id).change);
        bad.ops = vec![Op::Genesis {
            owner: Identity::from_seed([3; 32]).author(),
            nonce: [0; 16],
        }];
        let e = bad.sign(&id);
        assert!(e.change.verify(&e.cid).is_err());
    }
}
