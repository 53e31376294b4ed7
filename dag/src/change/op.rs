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
