//! The lists and texts of a document: an in-memory replica of each ([`SeqDoc`]), built from the
//! changes that hold list and text ops (the `seq_changes` keyspace) and kept per document in a
//! [`SeqCache`], which commits update under the same lock as the store.
//!
//! # Rules (see [`crate::seq`] for the algorithms)
//!
//! - A list is a key of the document; its elements can move to any other list of the same
//!   document. An element's id is the op id of its `lins`; its value is a last-writer-wins
//!   register over its insert and its `lset`s, ordered as registers are, by
//!   `(height, author, op id)`.
//! - A text is a key holding characters; runs, not characters, are the unit of memory.
//! - Ops apply in causal order, each once. An op that names an item its replica lacks (an item
//!   of a void change, or an id no change made: a hostile or broken writer) changes nothing;
//!   whether an item is present depends only on the op's causal past, so every replica skips
//!   the same ops.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

use weft_store::{Cid, Store};

use crate::{
    change::{Change, ItemRef, Op, OpId, OpRef},
    error::Error,
    graph::corrupt,
    id::DocId,
    keys,
    kind::Kind,
    seq::{Anchor, Id, ListOp, Lists, SeqError, Span, Stamp, Text, TextOp},
    value::Value,
};
use weft_store::sync_util::lock;

/// One element of a list: its id and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// The element's id: the op id of its insert.
    pub id: OpId,
    /// Its value.
    pub value: Value,
}

/// The lists and texts of one document.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeqDoc {
    pub(crate) lists: Lists<String>,
    pub(crate) texts: BTreeMap<String, Text>,
    /// Each live element's value, and the stamp of the op that wrote it.
    pub(crate) values: HashMap<OpId, (Stamp, Value)>,
    /// How many list and text ops it holds.
    pub(crate) ops: u64,
    /// How many of them came after its snapshot in the store (see [`Locked::snapshot_if_due`]).
    pub(crate) tail_ops: u64,
}

/// Whether a change holds list or text ops.
pub(crate) fn has_seq_ops(change: &Change) -> bool {
    change.ops.iter().any(is_seq_op)
}

/// Whether an op is a list or text op.
pub(crate) fn is_seq_op(op: &Op) -> bool {
    matches!(
        op,
        Op::ListInsert { .. }
            | Op::ListMove { .. }
            | Op::ListDelete { .. }
            | Op::ListSet { .. }
            | Op::TextInsert { .. }
            | Op::TextDelete { .. }
    )
}

/// The seq core's id of an item named by an op of change `cid`.
pub(crate) fn item_id(cid: &Cid, item: &ItemRef) -> Id {
    Id {
        op: item.op.resolve(cid),
        offset: item.offset,
    }
}

fn anchor(cid: &Cid, item: &Option<ItemRef>, none: Anchor) -> Anchor {
    item.as_ref().map_or(none, |i| Anchor::At(item_id(cid, i)))
}

impl SeqDoc {
    /// Applies the list and text ops of `change` (named `cid`), skipping any that names an item
    /// this replica lacks.
    pub(crate) fn apply(&mut self, cid: &Cid, change: &Change) {
        let n = change.ops.iter().filter(|op| is_seq_op(op)).count() as u64;
        self.ops += n;
        self.tail_ops += n;
        for (index, op) in change.ops.iter().enumerate() {
            let stamp = Stamp {
                height: change.height,
                author: change.author,
                op: OpId {
                    change: *cid,
                    index: index as u32,
                },
            };
            if let Err(e) = self.apply_op(cid, stamp, op) {
                tracing::debug!("op {} skipped: {e}", stamp.op);
            }
        }
    }

    /// Applies one op with its stamp.
    pub(crate) fn apply_op(&mut self, cid: &Cid, stamp: Stamp, op: &Op) -> Result<(), SeqError> {
        match op {
            Op::ListInsert {
                key,
                left,
                right,
                value,
            } => {
                self.lists.apply(&ListOp::Insert {
                    stamp,
                    list: key.clone(),
                    left: anchor(cid, left, Anchor::Start),
                    right: anchor(cid, right, Anchor::End),
                })?;
                self.values.insert(stamp.op, (stamp, value.clone()));
            }
            Op::ListMove {
                key,
                elem,
                left,
                right,
            } => self.lists.apply(&ListOp::Move {
                stamp,
                element: elem.resolve(cid),
                list: key.clone(),
                left: anchor(cid, left, Anchor::Start),
                right: anchor(cid, right, Anchor::End),
            })?,
            Op::ListDelete { elem, .. } => {
                let element = elem.resolve(cid);
                self.lists.apply(&ListOp::Delete { element })?;
                self.values.remove(&element);
            }
            Op::ListSet { elem, value, .. } => {
                let element = elem.resolve(cid);
                match self.lists.is_deleted(element) {
                    None => return Err(SeqError::UnknownElement(element)),
                    Some(true) => {}
                    Some(false) => {
                        let slot = self
                            .values
                            .entry(element)
                            .or_insert_with(|| (stamp, value.clone()));
                        if stamp > slot.0 {
                            *slot = (stamp, value.clone());
                        }
                    }
                }
            }
            Op::TextInsert {
                key,
                left,
                right,
                text,
            } => {
                let op = TextOp::Insert {
                    op: stamp.op,
                    left: anchor(cid, left, Anchor::Start),
                    right: anchor(cid, right, Anchor::End),
                    text: text.clone(),
                };
                match self.texts.get_mut(key) {
                    Some(t) => t.apply(&op)?,
                    None => {
                        let mut t = Text::new();
                        t.apply(&op)?;
                        self.texts.insert(key.clone(), t);
                    }
                }
            }
            Op::TextDelete { key, spans } => {
                let spans: Vec<Span> = spans
                    .iter()
                    .map(|(start, len)| Span {
                        start: item_id(cid, start),
                        len: *len,
                    })
                    .collect();
                let first = spans.first().map_or(Id::zero(), |s| s.start);
                self.texts
                    .get_mut(key)
                    .ok_or(SeqError::UnknownId(first))?
                    .apply(&TextOp::Delete { spans })?;
            }
            Op::Genesis { .. }
            | Op::Set { .. }
            | Op::Del { .. }
            | Op::Incr { .. }
            | Op::Add { .. }
            | Op::Remove { .. }
            | Op::Grant { .. }
            | Op::Revoke { .. } => {}
        }
        Ok(())
    }

    /// Turns a transaction's working copy, whose ops have pending ids (see [`crate::edit`]),
    /// into the state after its signed `change` (named `cid`): what applying the change to
    /// the state the transaction started from gives, without applying it again.
    pub(crate) fn settle(&mut self, cid: &Cid, change: &Change) {
        let n = change.ops.iter().filter(|op| is_seq_op(op)).count() as u64;
        self.ops += n;
        self.tail_ops += n;
        let pending = crate::edit::pending_cid();
        let pairs: Vec<(OpId, OpId)> = change
            .ops
            .iter()
            .enumerate()
            .filter(|(_, op)| makes_items(op))
            .enumerate()
            .map(|(k, (i, _))| {
                (
                    OpId {
                        change: pending,
                        index: k as u32,
                    },
                    OpId {
                        change: *cid,
                        index: i as u32,
                    },
                )
            })
            .collect();
        self.lists.rename(&pairs, change.height);
        for text in self.texts.values_mut() {
            text.rename(&pairs);
        }
        // Element values: those of this change's elements and sets, with their real stamps.
        for (from, _) in &pairs {
            self.values.remove(from);
        }
        for (index, op) in change.ops.iter().enumerate() {
            let stamp = Stamp {
                height: change.height,
                author: change.author,
                op: OpId {
                    change: *cid,
                    index: index as u32,
                },
            };
            let (elem, value) = match op {
                Op::ListInsert { value, .. } => (stamp.op, value),
                Op::ListSet { elem, value, .. } => (elem.resolve(cid), value),
                _ => continue,
            };
            if self.lists.is_deleted(elem) == Some(false) {
                self.values.insert(elem, (stamp, value.clone()));
            }
        }
    }

    /// The state of `key` if it is a list or a text.
    pub(crate) fn entry(&self, key: &str) -> Option<crate::state::Entry> {
        if self.has_list(key) {
            return Some(crate::state::Entry::List(self.elements(key)));
        }
        self.texts
            .get(key)
            .map(|t| crate::state::Entry::Text(t.to_string()))
    }

    /// The kind of `key` if it is a list or a text.
    pub(crate) fn kind(&self, key: &str) -> Option<Kind> {
        if self.has_list(key) {
            return Some(Kind::List);
        }
        self.texts.contains_key(key).then_some(Kind::Text)
    }

    /// Whether `key` is a list here (it had an element once).
    pub(crate) fn has_list(&self, key: &str) -> bool {
        self.lists.lists().any(|l| l == key)
    }

    /// The elements of the list `key`, in order.
    pub(crate) fn elements(&self, key: &str) -> Vec<Element> {
        self.lists
            .elements(&key.to_string())
            .into_iter()
            .map(|id| Element {
                id,
                value: self.values.get(&id).map_or(Value::Null, |(_, v)| v.clone()),
            })
            .collect()
    }

    /// Whether both hold the same lists (elements, values, in order) and texts.
    pub(crate) fn same(&self, other: &SeqDoc) -> bool {
        let keys: Vec<&String> = self.keys().collect();
        keys == other.keys().collect::<Vec<_>>()
            && keys.iter().all(|k| {
                self.elements(k) == other.elements(k)
                    && self.texts.get(*k).map(ToString::to_string)
                        == other.texts.get(*k).map(ToString::to_string)
            })
    }

    /// Every list and text key, sorted, deduplicated.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        let mut keys: Vec<&String> = self.lists.lists().chain(self.texts.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
    }
}

/// A transaction's working copy of its document's lists and texts.
#[derive(Debug)]
pub(crate) struct Work {
    pub(crate) doc: SeqDoc,
    /// How many elements and positions (inserts, moves) and text runs this transaction made.
    pub(crate) made: u32,
}

/// Whether an op makes items other ops can name: an element, a position or characters.
pub(crate) fn makes_items(op: &Op) -> bool {
    matches!(
        op,
        Op::ListInsert { .. } | Op::ListMove { .. } | Op::TextInsert { .. }
    )
}

/// Turns the made-order indexes of `OpRef::Here` into op indexes, once the ops are final.
pub(crate) fn renumber(ops: &mut [Op]) {
    let index: Vec<u32> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| makes_items(op))
        .map(|(i, _)| i as u32)
        .collect();
    let fix = |r: &mut OpRef| {
        if let OpRef::Here(n) = r {
            *n = index.get(*n as usize).copied().unwrap_or(u32::MAX);
        }
    };
    let fix_item = |a: &mut Option<ItemRef>| {
        if let Some(item) = a {
            fix(&mut item.op);
        }
    };
    for op in ops.iter_mut() {
        match op {
            Op::ListInsert { left, right, .. } | Op::TextInsert { left, right, .. } => {
                fix_item(left);
                fix_item(right);
            }
            Op::ListMove {
                elem, left, right, ..
            } => {
                fix(elem);
                fix_item(left);
                fix_item(right);
            }
            Op::ListDelete { elem, .. } | Op::ListSet { elem, .. } => fix(elem),
            Op::TextDelete { spans, .. } => spans.iter_mut().for_each(|(s, _)| fix(&mut s.op)),
            _ => {}
        }
    }
}

/// The kind an op writes.
pub(crate) fn op_kind(op: &Op) -> Option<Kind> {
    match op {
        Op::Set { .. } | Op::Del { .. } => Some(Kind::Register),
        Op::Incr { .. } => Some(Kind::Counter),
        Op::Add { .. } | Op::Remove { .. } => Some(Kind::Set),
        Op::ListInsert { .. }
        | Op::ListMove { .. }
        | Op::ListDelete { .. }
        | Op::ListSet { .. } => Some(Kind::List),
        Op::TextInsert { .. } | Op::TextDelete { .. } => Some(Kind::Text),
        Op::Genesis { .. } | Op::Grant { .. } | Op::Revoke { .. } => None,
    }
}

/// The fewest ops after a snapshot that make a new one due while the repo is open.
pub(crate) const SNAPSHOT_MIN_OPS: u64 = 1024;

/// The [`SeqDoc`] of each document read or written since the repo opened.
#[derive(Debug, Default)]
pub(crate) struct SeqCache {
    docs: Mutex<HashMap<DocId, Arc<SeqDoc>>>,
}

/// The cache locked: held across a commit of list or text ops, so that a document is never
/// loaded from a store that holds a change and then given the same change again.
pub(crate) struct Locked<'c>(MutexGuard<'c, HashMap<DocId, Arc<SeqDoc>>>);

impl std::fmt::Debug for Locked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Locked")
    }
}

impl SeqCache {
    /// The document's lists and texts as of now, loaded from `store` if not cached.
    pub(crate) fn get(&self, store: &Store, doc: &DocId) -> Result<Arc<SeqDoc>, Error> {
        let mut docs = lock(&self.docs);
        if let Some(d) = docs.get(doc) {
            return Ok(d.clone());
        }
        let d = Arc::new(load(store, doc)?);
        docs.insert(*doc, d.clone());
        Ok(d)
    }

    /// The document's lists and texts, taken out of the cache for a transaction to edit (a
    /// copy if a reader holds them); the commit puts them back (see [`Locked::put`]).
    pub(crate) fn take(&self, store: &Store, doc: &DocId) -> Result<SeqDoc, Error> {
        let taken = lock(&self.docs).remove(doc);
        match taken {
            Some(d) => Ok(Arc::try_unwrap(d).unwrap_or_else(|d| SeqDoc::clone(&d))),
            None => load(store, doc),
        }
    }

    /// Locks the cache, for a commit.
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked(lock(&self.docs))
    }

    /// Forgets every document (after a recovery or a rebuild).
    pub(crate) fn clear(&self) {
        lock(&self.docs).clear();
    }
}

impl Locked<'_> {
    /// Writes the snapshot of `doc` (and drops its tail) if its cached lists and texts took
    /// enough ops since the last one: a snapshot costs its size, so it is written once the
    /// ops after it are an eighth of those in it (at least [`SNAPSHOT_MIN_OPS`]), which keeps
    /// both the bytes written per op and the replay at open bounded. With `all`, whenever it
    /// has any tail (when the repo closes).
    pub(crate) fn snapshot_if_due(
        &mut self,
        store: &Store,
        doc: &DocId,
        all: bool,
    ) -> Result<(), Error> {
        let Some(d) = self.0.get_mut(doc) else {
            return Ok(());
        };
        let due = if all {
            d.tail_ops > 0
        } else {
            d.tail_ops >= SNAPSHOT_MIN_OPS.max(d.ops / 8)
        };
        if !due {
            return Ok(());
        }
        let bytes = encode(d)?;
        let mut batch = store.batch();
        batch.put(keys::SEQ_SNAP, &keys::doc_key(doc), &bytes);
        for r in store.scan_prefix(keys::SEQ_TAIL, &doc.0.to_bytes()) {
            batch.delete(keys::SEQ_TAIL, &r?.0);
        }
        batch.commit()?;
        Arc::make_mut(d).tail_ops = 0;
        Ok(())
    }

    /// The documents cached.
    pub(crate) fn docs(&self) -> Vec<DocId> {
        self.0.keys().copied().collect()
    }

    /// Puts a document's lists and texts as a transaction settled them (see
    /// [`SeqDoc::settle`]).
    pub(crate) fn put(&mut self, doc: DocId, d: SeqDoc) {
        self.0.insert(doc, Arc::new(d));
    }

    /// Forgets one document (its state was rebuilt).
    pub(crate) fn forget(&mut self, doc: &DocId) {
        self.0.remove(doc);
    }

    /// Applies a committed change to its document, if that is cached (else it is loaded, with
    /// the change, when next read).
    pub(crate) fn apply(&mut self, doc: &DocId, cid: &Cid, change: &Change) {
        if let Some(d) = self.0.get_mut(doc) {
            Arc::make_mut(d).apply(cid, change);
        }
    }
}

/// Replays the document's list and text changes from the store.
pub(crate) fn load(store: &Store, doc: &DocId) -> Result<SeqDoc, Error> {
    let (mut d, replay) = match store.get(keys::SEQ_SNAP, &keys::doc_key(doc))? {
        Some(bytes) => (decode(&bytes)?, keys::SEQ_TAIL),
        None => (SeqDoc::default(), keys::SEQ_CHANGES),
    };
    d.tail_ops = 0;
    for r in store.scan_prefix(replay, &doc.0.to_bytes()) {
        let (k, _) = r?;
        let cid =
            keys::parse_seq_change_key(&k).ok_or_else(|| corrupt(replay.name, "damaged key"))?;
        let bytes = store
            .get_block(&cid)?
            .ok_or_else(|| corrupt(replay.name, "names a change that is not stored"))?;
        let change = Change::decode(&cid, &bytes)?;
        d.apply(&cid, &change);
    }
    Ok(d)
}

/// The first byte of a snapshot.
const SNAPSHOT_VERSION: u8 = 1;

/// A document's lists and texts as the `seq_snap` value: `version:u8 ops:varint
/// n_texts:varint (key_len:varint key text_len:varint text)* lists_len:varint lists
/// n_values:varint (elem:opid height:u64 author:32 op:opid value_len:varint value:dag-cbor)*`,
/// texts and lists as [`Text::encode`] and [`Lists::encode`] write them.
fn encode(d: &SeqDoc) -> Result<Vec<u8>, Error> {
    let mut out = vec![SNAPSHOT_VERSION];
    keys::put_varint(&mut out, d.ops);
    keys::put_varint(&mut out, d.texts.len() as u64);
    for (key, text) in &d.texts {
        keys::put_varint(&mut out, key.len() as u64);
        out.extend_from_slice(key.as_bytes());
        let t = text.encode();
        keys::put_varint(&mut out, t.len() as u64);
        out.extend_from_slice(&t);
    }
    let lists = d.lists.encode();
    keys::put_varint(&mut out, lists.len() as u64);
    out.extend_from_slice(&lists);
    keys::put_varint(&mut out, d.values.len() as u64);
    let mut values: Vec<_> = d.values.iter().collect();
    values.sort_by_key(|(id, _)| **id);
    for (elem, (stamp, value)) in values {
        out.extend_from_slice(&elem.to_bytes());
        out.extend_from_slice(&stamp.height.to_be_bytes());
        out.extend_from_slice(&stamp.author.0);
        out.extend_from_slice(&stamp.op.to_bytes());
        let v = value.to_dag_cbor().map_err(Error::InvalidValue)?;
        keys::put_varint(&mut out, v.len() as u64);
        out.extend_from_slice(&v);
    }
    Ok(out)
}

/// Reads what [`encode`] wrote; anything else is a corrupt `seq_snap` entry.
fn decode(b: &[u8]) -> Result<SeqDoc, Error> {
    let bad = |what: &str| corrupt("seq_snap", what);
    if b.first() != Some(&SNAPSHOT_VERSION) {
        return Err(bad("unknown snapshot version"));
    }
    let mut at = 1;
    let num = |at: &mut usize| keys::get_varint(b, at).ok_or_else(|| bad("truncated"));
    let take = |at: &mut usize, n: u64| -> Result<&[u8], Error> {
        let n = usize::try_from(n).map_err(|_| bad("length"))?;
        let end = at
            .checked_add(n)
            .filter(|e| *e <= b.len())
            .ok_or_else(|| bad("truncated"))?;
        let s = &b[*at..end];
        *at = end;
        Ok(s)
    };
    let mut d = SeqDoc {
        ops: num(&mut at)?,
        ..SeqDoc::default()
    };
    let n_texts = num(&mut at)?;
    for _ in 0..n_texts {
        let n = num(&mut at)?;
        let key = std::str::from_utf8(take(&mut at, n)?)
            .map_err(|_| bad("key"))?
            .to_string();
        let n = num(&mut at)?;
        let text = Text::decode(take(&mut at, n)?).map_err(|e| bad(&e.to_string()))?;
        d.texts.insert(key, text);
    }
    let n = num(&mut at)?;
    d.lists = Lists::decode(take(&mut at, n)?).map_err(|e| bad(&e.to_string()))?;
    let n_values = num(&mut at)?;
    for _ in 0..n_values {
        let fixed = take(&mut at, 40 + 8 + 32 + 40)?;
        let elem = OpId::from_bytes(&fixed[..40]).ok_or_else(|| bad("element id"))?;
        let height = u64::from_be_bytes(fixed[40..48].try_into().map_err(|_| bad("height"))?);
        let author = crate::Author(fixed[48..80].try_into().map_err(|_| bad("author"))?);
        let op = OpId::from_bytes(&fixed[80..]).ok_or_else(|| bad("op id"))?;
        let n = num(&mut at)?;
        let value = Value::from_dag_cbor(take(&mut at, n)?).map_err(|e| bad(&e.to_string()))?;
        d.values.insert(elem, (Stamp { height, author, op }, value));
    }
    if at != b.len() {
        return Err(bad("bytes after the snapshot"));
    }
    Ok(d)
}
