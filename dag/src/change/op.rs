//! [`Op`]s and [`OpId`]s, and their wire form (the op maps of a change).

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;
use weft_store::Cid;

use super::MAX_PRED;
use crate::{identity::Author, role::Role, value::Value};

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

/// An op that a list or text op names: an earlier op of the same change (by index: its CID
/// is not known while the change is written) or an op of another change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpRef {
    /// Op number `n` of the change that holds the naming op (an earlier one).
    Here(u32),
    /// An op of another change.
    There(OpId),
}

impl OpRef {
    /// The op's id, given the CID of the change that holds the naming op.
    pub fn resolve(self, cid: &Cid) -> OpId {
        match self {
            OpRef::Here(index) => OpId {
                change: *cid,
                index,
            },
            OpRef::There(id) => id,
        }
    }
}

/// An item of a list (a position) or a text (a character): the op that made it and its offset
/// in that op's run (always 0 for a list position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemRef {
    /// The insert or move op.
    pub op: OpRef,
    /// The offset in its run.
    pub offset: u32,
}

/// The longest string one `tins` op inserts, in characters.
pub const MAX_TEXT_RUN: usize = 1 << 20;

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
    /// Inserts a new element into the list `key`, between two of its positions as its author
    /// saw them. The op's id is the element's id, and the id of its first position.
    ListInsert {
        /// The list.
        key: String,
        /// The position before it, or `None` for the start.
        left: Option<ItemRef>,
        /// The position after `left` (tombstones included), or `None` for the end.
        right: Option<ItemRef>,
        /// The element's value.
        value: Value,
    },
    /// Moves an element to a new position of the list `key` (the same list or another one of
    /// the document). The op's id is the new position's id.
    ListMove {
        /// The list it goes to.
        key: String,
        /// The element (its insert op).
        elem: OpRef,
        /// As for an insert.
        left: Option<ItemRef>,
        /// As for an insert.
        right: Option<ItemRef>,
    },
    /// Deletes an element, wherever it is or moves to.
    ListDelete {
        /// The list it was in when deleted.
        key: String,
        /// The element.
        elem: OpRef,
    },
    /// Sets an element's value (last writer wins).
    ListSet {
        /// The list it was in when set.
        key: String,
        /// The element.
        elem: OpRef,
        /// The new value.
        value: Value,
    },
    /// Inserts a string into the text `key`; its characters get the ids `(op, 0)`, `(op, 1)`, ...
    TextInsert {
        /// The text.
        key: String,
        /// The character before it, or `None` for the start.
        left: Option<ItemRef>,
        /// The character after `left` (deleted ones included), or `None` for the end.
        right: Option<ItemRef>,
        /// One to [`MAX_TEXT_RUN`] characters.
        text: String,
    },
    /// Deletes characters of the text `key`: spans of consecutive ids of one insert each.
    TextDelete {
        /// The text.
        key: String,
        /// `(first character, length)`, each length at least 1.
        spans: Vec<(ItemRef, u32)>,
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
            | Op::Remove { key, .. }
            | Op::ListInsert { key, .. }
            | Op::ListMove { key, .. }
            | Op::ListDelete { key, .. }
            | Op::ListSet { key, .. }
            | Op::TextInsert { key, .. }
            | Op::TextDelete { key, .. } => Some(key),
        }
    }

    /// The indexes of the ops of its own change that this op names (list and text ops only).
    pub fn refs_here(&self) -> Vec<u32> {
        let mut refs: Vec<OpRef> = Vec::new();
        match self {
            Op::ListInsert { left, right, .. } | Op::TextInsert { left, right, .. } => {
                refs.extend(left.iter().chain(right).map(|a| a.op));
            }
            Op::ListMove {
                elem, left, right, ..
            } => {
                refs.push(*elem);
                refs.extend(left.iter().chain(right).map(|a| a.op));
            }
            Op::ListDelete { elem, .. } | Op::ListSet { elem, .. } => refs.push(*elem),
            Op::TextDelete { spans, .. } => refs.extend(spans.iter().map(|(s, _)| s.op)),
            _ => {}
        }
        refs.into_iter()
            .filter_map(|r| match r {
                OpRef::Here(n) => Some(n),
                OpRef::There(_) => None,
            })
            .collect()
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
            Op::ListInsert { .. } => "lins",
            Op::ListMove { .. } => "lmov",
            Op::ListDelete { .. } => "ldel",
            Op::ListSet { .. } => "lset",
            Op::TextInsert { .. } => "tins",
            Op::TextDelete { .. } => "tdel",
            Op::Grant { .. } => "grant",
            Op::Revoke { .. } => "revoke",
        }
    }

    pub(super) fn to_ipld(&self) -> Ipld {
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
            Op::ListInsert {
                key,
                left,
                right,
                value,
            } => {
                m.insert("key".into(), Ipld::String(key.clone()));
                m.insert("left".into(), anchor_ipld(left));
                m.insert("right".into(), anchor_ipld(right));
                m.insert("value".into(), value.to_ipld());
            }
            Op::ListMove {
                key,
                elem,
                left,
                right,
            } => {
                m.insert("key".into(), Ipld::String(key.clone()));
                m.insert("elem".into(), ref_ipld(*elem, &[]));
                m.insert("left".into(), anchor_ipld(left));
                m.insert("right".into(), anchor_ipld(right));
            }
            Op::ListDelete { key, elem } => {
                m.insert("key".into(), Ipld::String(key.clone()));
                m.insert("elem".into(), ref_ipld(*elem, &[]));
            }
            Op::ListSet { key, elem, value } => {
                m.insert("key".into(), Ipld::String(key.clone()));
                m.insert("elem".into(), ref_ipld(*elem, &[]));
                m.insert("value".into(), value.to_ipld());
            }
            Op::TextInsert {
                key,
                left,
                right,
                text,
            } => {
                m.insert("key".into(), Ipld::String(key.clone()));
                m.insert("left".into(), anchor_ipld(left));
                m.insert("right".into(), anchor_ipld(right));
                m.insert("text".into(), Ipld::String(text.clone()));
            }
            Op::TextDelete { key, spans } => {
                m.insert("key".into(), Ipld::String(key.clone()));
                m.insert(
                    "spans".into(),
                    Ipld::List(
                        spans
                            .iter()
                            .map(|(item, len)| ref_ipld(item.op, &[item.offset, *len]))
                            .collect(),
                    ),
                );
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

    pub(super) fn from_ipld(ipld: Ipld) -> Result<Op, String> {
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
            "lins" => Op::ListInsert {
                key: string(take("key")?)?,
                left: anchor_from(take("left")?)?,
                right: anchor_from(take("right")?)?,
                value: value(take("value")?)?,
            },
            "lmov" => Op::ListMove {
                key: string(take("key")?)?,
                elem: elem_from(take("elem")?)?,
                left: anchor_from(take("left")?)?,
                right: anchor_from(take("right")?)?,
            },
            "ldel" => Op::ListDelete {
                key: string(take("key")?)?,
                elem: elem_from(take("elem")?)?,
            },
            "lset" => Op::ListSet {
                key: string(take("key")?)?,
                elem: elem_from(take("elem")?)?,
                value: value(take("value")?)?,
            },
            "tins" => Op::TextInsert {
                key: string(take("key")?)?,
                left: anchor_from(take("left")?)?,
                right: anchor_from(take("right")?)?,
                text: match take("text")? {
                    Ipld::String(t) if !t.is_empty() && t.chars().count() <= MAX_TEXT_RUN => t,
                    _ => {
                        return Err(format!(
                            "`text` must be a string of 1 to {MAX_TEXT_RUN} characters"
                        ))
                    }
                },
            },
            "tdel" => Op::TextDelete {
                key: string(take("key")?)?,
                spans: spans_from(take("spans")?)?,
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

/// `[index, extra..]` for an op of the same change, `[link, index, extra..]` for another's.
fn ref_ipld(op: OpRef, extra: &[u32]) -> Ipld {
    let mut items = Vec::with_capacity(2 + extra.len());
    match op {
        OpRef::Here(index) => items.push(Ipld::Integer(index.into())),
        OpRef::There(id) => {
            items.push(Ipld::Link(id.change.to_cid()));
            items.push(Ipld::Integer(id.index.into()));
        }
    }
    items.extend(extra.iter().map(|n| Ipld::Integer((*n).into())));
    Ipld::List(items)
}

/// An anchor: null for the start (left) or the end (right), else `ref ++ [offset]`.
fn anchor_ipld(anchor: &Option<ItemRef>) -> Ipld {
    match anchor {
        None => Ipld::Null,
        Some(item) => ref_ipld(item.op, &[item.offset]),
    }
}

/// Parses what [`ref_ipld`] wrote with `n` extra integers.
fn ref_from(v: Ipld, n: usize, what: &str) -> Result<(OpRef, Vec<u32>), String> {
    let bad =
        || format!("`{what}` must be [index, ..] or [link, index, ..] with {n} more integers");
    let Ipld::List(items) = v else {
        return Err(bad());
    };
    let int = |v: &Ipld| match v {
        Ipld::Integer(i) => u32::try_from(*i).map_err(|_| bad()),
        _ => Err(bad()),
    };
    let (op, rest) = match items.as_slice() {
        [Ipld::Link(c), i, rest @ ..] => (
            OpRef::There(OpId {
                change: Cid::try_from(*c).map_err(|e| e.to_string())?,
                index: int(i)?,
            }),
            rest,
        ),
        [i @ Ipld::Integer(_), rest @ ..] => (OpRef::Here(int(i)?), rest),
        _ => return Err(bad()),
    };
    if rest.len() != n {
        return Err(bad());
    }
    Ok((op, rest.iter().map(int).collect::<Result<_, _>>()?))
}

fn anchor_from(v: Ipld) -> Result<Option<ItemRef>, String> {
    if let Ipld::Null = v {
        return Ok(None);
    }
    let (op, rest) = ref_from(v, 1, "anchor")?;
    Ok(Some(ItemRef {
        op,
        offset: rest[0],
    }))
}

fn elem_from(v: Ipld) -> Result<OpRef, String> {
    Ok(ref_from(v, 0, "elem")?.0)
}

fn spans_from(v: Ipld) -> Result<Vec<(ItemRef, u32)>, String> {
    let Ipld::List(items) = v else {
        return Err("`spans` must be a list".into());
    };
    if items.is_empty() || items.len() > MAX_PRED {
        return Err(format!("`spans` must hold 1 to {MAX_PRED} spans"));
    }
    items
        .into_iter()
        .map(|item| {
            let (op, rest) = ref_from(item, 2, "span")?;
            if rest[1] == 0 {
                return Err("a span's length must be at least 1".to_string());
            }
            Ok((
                ItemRef {
                    op,
                    offset: rest[0],
                },
                rest[1],
            ))
        })
        .collect()
}
