//! CRDT semantics: applying ops to the materialized state, and reading it back.
//!
//! | kind | state | read |
//! |---|---|---|
//! | register | the live `set` ops of a key (not named by any later `pred`) | winner: greatest `(height, author, op id)`; all: every live value |
//! | counter | every `incr` op with its delta | the sum, saturated into i64 |
//! | set | the live add tags per member (not named by a `remove`) | the members with at least one live tag |
//!
//! | list | per element its winning position and value (see [`crate::seqdoc`]) | the values in order |
//! | text | a tree of character runs (see [`crate::seq`]) | the string |
//!
//! A key holds one kind. A local write of another kind is refused with [`Error::WrongType`]. Two
//! replicas can still write different kinds concurrently; every kind is a CRDT on its own, so the
//! state converges, and a read then shows the register if any value is live, else the counter,
//! else the set, else the list, else the text.
//!
//! **Counter overflow.** Each replica that writes keeps its own increments in i64 range (a local
//! [`Transaction::incr`](crate::Transaction::incr) that would take the sum further out of range
//! fails with [`Error::CounterOverflow`]), but concurrent increments can still add up past it.
//! A counter's value is therefore the exact sum of all its increments (a mathematical integer,
//! which depends only on the set of increments), *saturated*: a sum above `i64::MAX` reads as
//! `i64::MAX` and one below `i64::MIN` as `i64::MIN`. Every replica with the same changes reads
//! the same value, and a later increment towards the range counts from the exact sum, not from
//! the saturated one (after `MAX` and `MAX` concurrently, `incr -MAX` reads `MAX`).
//!
//! Rows ([`State::rows`]) read the keys under a prefix as one nested map, splitting each key on
//! `/`: `todo/1/title` and `todo/1/done` under `todo/` read as
//! `{"1": {"title": ..., "done": ...}}`. Each key reads as [`State::get`] does (a counter as its
//! sum, a set as the array of its members, a register as its winner). A key that is also the
//! prefix of others (`todo/1` beside `todo/1/title`) keeps its value under [`ROW_SELF`], `"/"`,
//! in its map, a name no segment can have: `{"1": {"/": ..., "title": ...}}`.

use std::collections::{BTreeMap, BTreeSet};

use weft_store::{Batch, Cid, Keyspace, Store};

use crate::{
    change::{Change, OpId},
    error::Error,
    id::DocId,
    identity::Author,
    keys::{self, Slot, OPID_LEN},
    kind::Kind,
    seqdoc::{has_seq_ops, Element, SeqCache},
    value::Value,
};

/// One live register value and the op that wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterValue {
    /// The value.
    pub value: Value,
    /// The `set` op.
    pub op: OpId,
    /// Height of its change.
    pub height: u64,
    /// Its author.
    pub author: Author,
}

/// The state of one key.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// Live register values, winner first.
    Register(Vec<RegisterValue>),
    /// Counter increments: `(op, delta)`.
    Counter(Vec<(OpId, i64)>),
    /// Set members with their live tags, by encoded member order.
    Set(Vec<(Value, Vec<OpId>)>),
    /// List elements, in order.
    List(Vec<Element>),
    /// A text.
    Text(String),
}

impl Entry {
    /// The key's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Entry::Register(_) => Kind::Register,
            Entry::Counter(_) => Kind::Counter,
            Entry::Set(_) => Kind::Set,
            Entry::List(_) => Kind::List,
            Entry::Text(_) => Kind::Text,
        }
    }

    /// The value a read returns: the register winner, the counter sum, or the members as an array.
    pub fn value(&self, _key: &str) -> Result<Value, Error> {
        match self {
            Entry::Register(vals) => Ok(vals.first().map_or(Value::Null, |v| v.value.clone())),
            Entry::Counter(incs) => Ok(Value::Int(counter_sum(incs))),
            Entry::Set(members) => Ok(Value::Array(
                members.iter().map(|(m, _)| m.clone()).collect(),
            )),
            Entry::List(elements) => Ok(Value::Array(
                elements.iter().map(|e| e.value.clone()).collect(),
            )),
            Entry::Text(text) => Ok(Value::String(text.clone())),
        }
    }

    /// Every concurrent value: all live register values, else the single value.
    pub fn values(&self, key: &str) -> Result<Vec<Value>, Error> {
        match self {
            Entry::Register(vals) => Ok(vals.iter().map(|v| v.value.clone()).collect()),
            _ => Ok(vec![self.value(key)?]),
        }
    }

    /// The ops that produced the current value.
    pub fn ops(&self) -> Vec<OpId> {
        match self {
            Entry::Register(vals) => vals.iter().map(|v| v.op).collect(),
            Entry::Counter(incs) => incs.iter().map(|(op, _)| *op).collect(),
            Entry::Set(members) => members
                .iter()
                .flat_map(|(_, t)| t.iter().copied())
                .collect(),
            Entry::List(elements) => elements.iter().map(|e| e.id).collect(),
            Entry::Text(_) => Vec::new(),
        }
    }
}

/// The exact sum of the increments, which depends only on their set (i128 cannot overflow: it
/// would take 2^64 increments).
pub(crate) fn exact_sum(incs: &[(OpId, i64)]) -> i128 {
    incs.iter().map(|(_, d)| i128::from(*d)).sum()
}

/// A counter's value: the exact sum saturated into i64 (see the module docs).
pub(crate) fn counter_sum(incs: &[(OpId, i64)]) -> i64 {
    saturate(exact_sum(incs))
}

/// `sum` clamped to `[i64::MIN, i64::MAX]`.
pub(crate) fn saturate(sum: i128) -> i64 {
    i64::try_from(sum).unwrap_or(if sum < 0 { i64::MIN } else { i64::MAX })
}

fn corrupt(what: &str) -> Error {
    Error::Store(weft_store::Error::CorruptEntry {
        keyspace: "state",
        reason: what.to_string(),
    })
}

/// Reads the state of `key` from a store and its lists and texts.
pub(crate) fn read_entry(
    store: &Store,
    seq: &SeqCache,
    doc: &DocId,
    key: &str,
) -> Result<Option<Entry>, Error> {
    if let Some(e) = read_store_entry(store, doc, key)? {
        return Ok(Some(e));
    }
    if let Some(Some(text)) = seq.text_from_snapshot(store, doc, key)? {
        return Ok(Some(Entry::Text(text)));
    }
    Ok(seq_entry(&*seq.get(store, doc)?, key))
}

/// The state of `key` in a document's lists and texts, if it is a list or a text.
pub(crate) fn seq_entry(d: &crate::seqdoc::SeqDoc, key: &str) -> Option<Entry> {
    if d.has_list(key) {
        return Some(Entry::List(d.elements(key)));
    }
    d.texts.get(key).map(|t| Entry::Text(t.to_string()))
}

/// Reads the state of `key` if it is a register, a counter or a set (kept in the store).
pub(crate) fn read_store_entry(
    store: &Store,
    doc: &DocId,
    key: &str,
) -> Result<Option<Entry>, Error> {
    Ok(read_store_entries(store, doc, key, false)?
        .into_iter()
        .next())
}

/// The register, counter and set states of `key`, in that order; with `all` false, only the
/// first one found.
fn read_store_entries(
    store: &Store,
    doc: &DocId,
    key: &str,
    all: bool,
) -> Result<Vec<Entry>, Error> {
    let prefix = keys::key_prefix(doc, key);
    let mut found = Vec::new();
    let mut regs = Vec::new();
    for r in store.scan_prefix(keys::REGISTER, &prefix) {
        let (k, v) = r?;
        let op = OpId::from_bytes(&k[prefix.len()..]).ok_or_else(|| corrupt("register key"))?;
        if v.len() < 40 {
            return Err(corrupt("register value"));
        }
        let height = u64::from_be_bytes(v[..8].try_into().map_err(|_| corrupt("height"))?);
        let author = Author(v[8..40].try_into().map_err(|_| corrupt("author"))?);
        let value = Value::from_dag_cbor(&v[40..]).map_err(|e| corrupt(&e.to_string()))?;
        regs.push(RegisterValue {
            value,
            op,
            height,
            author,
        });
    }
    if !regs.is_empty() {
        regs.sort_by_key(|r| std::cmp::Reverse((r.height, r.author, r.op)));
        found.push(Entry::Register(regs));
        if !all {
            return Ok(found);
        }
    }
    let mut incs = Vec::new();
    for r in store.scan_prefix(keys::COUNTER, &prefix) {
        let (k, v) = r?;
        let op = OpId::from_bytes(&k[prefix.len()..]).ok_or_else(|| corrupt("counter key"))?;
        let delta = i64::from_be_bytes(v.as_slice().try_into().map_err(|_| corrupt("delta"))?);
        incs.push((op, delta));
    }
    if !incs.is_empty() {
        found.push(Entry::Counter(incs));
        if !all {
            return Ok(found);
        }
    }
    let mut members: Vec<(Vec<u8>, Vec<OpId>)> = Vec::new();
    for r in store.scan_prefix(keys::SET, &prefix) {
        let (k, _) = r?;
        let rest = &k[prefix.len()..];
        if rest.len() < OPID_LEN {
            return Err(corrupt("set key"));
        }
        let (member, tag) = rest.split_at(rest.len() - OPID_LEN);
        let tag = OpId::from_bytes(tag).ok_or_else(|| corrupt("set tag"))?;
        match members.last_mut() {
            Some((m, tags)) if m.as_slice() == member => tags.push(tag),
            _ => members.push((member.to_vec(), vec![tag])),
        }
    }
    if !members.is_empty() {
        let members = members
            .into_iter()
            .map(|(m, tags)| {
                Value::from_dag_cbor(&m)
                    .map(|v| (v, tags))
                    .map_err(|e| corrupt(&e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        found.push(Entry::Set(members));
    }
    Ok(found)
}

/// The kind of `key` if it is a register, a counter or a set.
pub(crate) fn store_kind(store: &Store, doc: &DocId, key: &str) -> Result<Option<Kind>, Error> {
    let prefix = keys::key_prefix(doc, key);
    for (ks, kind) in [
        (keys::REGISTER, Kind::Register),
        (keys::COUNTER, Kind::Counter),
        (keys::SET, Kind::Set),
    ] {
        if store.scan_prefix(ks, &prefix).next().transpose()?.is_some() {
            return Ok(Some(kind));
        }
    }
    Ok(None)
}

/// The keys with state under `prefix`, sorted.
pub(crate) fn list_keys(
    store: &Store,
    seq: &SeqCache,
    doc: &DocId,
    prefix: &str,
) -> Result<BTreeSet<String>, Error> {
    let scan = keys::key_scan_prefix(doc, prefix);
    let mut keys = BTreeSet::new();
    for ks in [keys::REGISTER, keys::COUNTER, keys::SET] {
        let mut last: Option<String> = None;
        for r in store.scan_prefix(ks, &scan) {
            let (k, _) = r?;
            let (key, _) = keys::split_state_key(&k).ok_or_else(|| corrupt("state key"))?;
            if last.as_deref() != Some(key) {
                keys.insert(key.to_string());
                last = Some(key.to_string());
            }
        }
    }
    let d = seq.get(store, doc)?;
    keys.extend(d.keys().filter(|k| k.starts_with(prefix)).cloned());
    Ok(keys)
}

/// What the caller knows that spares [`apply_ops`] lookups in the store.
pub(crate) struct Known<'a> {
    /// Whether a change is known to be stored; `false` means "look it up".
    pub(crate) stored: &'a dyn Fn(&Cid) -> bool,
    /// Whether a tombstone may be stored or staged. `false` skips every lookup of one (honest
    /// writers never make one); `apply_ops` sets it when it stages one.
    pub(crate) tombstones: bool,
    /// Whether the change is staged for the first time, so that the keys of its ops' slots
    /// (which hold its op ids) were never written: `false` when a document's state is rebuilt.
    pub(crate) first_time: bool,
}

/// Stages a slot of `known`'s change: a key never written before when it is staged the first
/// time (see [`weft_store::Batch::put_new`]).
fn put_slot(batch: &mut Batch<'_>, known: &Known<'_>, ks: Keyspace, key: &[u8], value: &[u8]) {
    if known.first_time {
        batch.put_new(ks, key, value);
    } else {
        batch.put(ks, key, value);
    }
}

/// Stages the state effects of every op of `change` (named `cid`) into `batch`.
///
/// The change's own `changes` entry must already be staged: kills consult it to decide between
/// deleting a slot and leaving a tombstone.
pub(crate) fn apply_ops(
    batch: &mut Batch<'_>,
    doc: &DocId,
    cid: &Cid,
    change: &Change,
    known: &mut Known<'_>,
) -> Result<(), Error> {
    use crate::change::Op;
    for (index, op) in change.ops.iter().enumerate() {
        let id = OpId {
            change: *cid,
            index: index as u32,
        };
        match op {
            // Lists and texts live in memory, replayed from the changes that hold their ops
            // (see `crate::seqdoc`); the change is indexed below.
            Op::Genesis { .. }
            | Op::Grant { .. }
            | Op::Revoke { .. }
            | Op::ListInsert { .. }
            | Op::ListMove { .. }
            | Op::ListDelete { .. }
            | Op::ListSet { .. }
            | Op::TextInsert { .. }
            | Op::TextDelete { .. } => {}
            Op::Set { key, value, pred } => {
                for p in pred {
                    kill(batch, known, doc, Slot::Register, key, &[], p)?;
                }
                let mut v = Vec::with_capacity(64);
                v.extend_from_slice(&change.height.to_be_bytes());
                v.extend_from_slice(&change.author.0);
                v.extend_from_slice(&value.to_dag_cbor().map_err(Error::InvalidValue)?);
                insert(
                    batch,
                    known,
                    doc,
                    Slot::Register,
                    key,
                    &[],
                    &id,
                    keys::REGISTER,
                    keys::slot_key(doc, key, &id),
                    &v,
                )?;
            }
            Op::Del { key, pred } => {
                for p in pred {
                    kill(batch, known, doc, Slot::Register, key, &[], p)?;
                }
            }
            Op::Incr { key, delta } => {
                put_slot(
                    batch,
                    known,
                    keys::COUNTER,
                    &keys::slot_key(doc, key, &id),
                    &delta.to_be_bytes(),
                );
            }
            Op::Add { key, member } => {
                let m = member.to_dag_cbor().map_err(Error::InvalidValue)?;
                insert(
                    batch,
                    known,
                    doc,
                    Slot::Set,
                    key,
                    &m,
                    &id,
                    keys::SET,
                    keys::member_key(doc, key, &m, &id),
                    &[],
                )?;
            }
            Op::Remove { key, member, tags } => {
                let m = member.to_dag_cbor().map_err(Error::InvalidValue)?;
                for t in tags {
                    kill(batch, known, doc, Slot::Set, key, &m, t)?;
                }
            }
        }
    }
    if has_seq_ops(change) {
        let k = keys::seq_change_key(doc, change.height, cid);
        put_slot(batch, known, keys::SEQ_CHANGES, &k, &[]);
        put_slot(batch, known, keys::SEQ_TAIL, &k, &[]);
    }
    // Every tombstone that names an op of this change has now done its work (or named a slot
    // that no op of this change has). Clearing them all, stored or staged earlier in this
    // batch, makes the state a function of the set of changes alone, whatever the order and
    // the grouping they arrived in.
    if known.tombstones {
        let prefix = keys::tombstone_change_prefix(doc, cid);
        let mut stale: Vec<Vec<u8>> = batch
            .store()
            .scan_prefix(keys::TOMBSTONE, &prefix)
            .map(|r| r.map(|(k, _)| k))
            .collect::<Result<_, _>>()?;
        stale.extend(batch.staged_keys(keys::TOMBSTONE, &prefix));
        for k in stale {
            batch.delete(keys::TOMBSTONE, &k);
        }
    }
    Ok(())
}

fn slot_entry_key(
    doc: &DocId,
    kind: Slot,
    key: &str,
    member: &[u8],
    op: &OpId,
) -> (Keyspace, Vec<u8>) {
    match kind {
        Slot::Register => (keys::REGISTER, keys::slot_key(doc, key, op)),
        Slot::Set => (keys::SET, keys::member_key(doc, key, member, op)),
    }
}

fn kill(
    batch: &mut Batch<'_>,
    known: &mut Known<'_>,
    doc: &DocId,
    kind: Slot,
    key: &str,
    member: &[u8],
    op: &OpId,
) -> Result<(), Error> {
    if (known.stored)(&op.change) || batch.has_block(&op.change)? {
        let (ks, k) = slot_entry_key(doc, kind, key, member, op);
        batch.delete(ks, &k);
    } else {
        known.tombstones = true;
        batch.put(
            keys::TOMBSTONE,
            &keys::tombstone_key(doc, kind, key, member, op),
            &[],
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn insert(
    batch: &mut Batch<'_>,
    known: &Known<'_>,
    doc: &DocId,
    kind: Slot,
    key: &str,
    member: &[u8],
    op: &OpId,
    ks: Keyspace,
    slot: Vec<u8>,
    value: &[u8],
) -> Result<(), Error> {
    // A tombstone for exactly this slot means an op that arrived earlier killed this one. The
    // tombstones naming this change are all cleared at the end of `apply_ops`.
    let killed = known.tombstones
        && batch.contains(
            keys::TOMBSTONE,
            &keys::tombstone_key(doc, kind, key, member, op),
        )?;
    if !killed {
        put_slot(batch, known, ks, &slot, value);
    }
    Ok(())
}

/// The key under which [`State::rows`] puts the value of a key that is also the prefix of other
/// keys. Keys are split on `/`, so no segment is ever `/`.
pub const ROW_SELF: &str = "/";

/// The prefix [`State::rows`] reads: `prefix` with a `/` appended unless it is empty or ends
/// with one, so that `todo` and `todo/` read the same rows and `todos/...` is not among them.
pub fn row_prefix(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

/// One path segment of [`State::rows`]: the key's own value, if the path is a key, and the
/// segments below it.
#[derive(Default)]
struct RowNode {
    own: Option<Value>,
    children: BTreeMap<String, RowNode>,
}

impl RowNode {
    fn insert<'k>(&mut self, mut path: impl Iterator<Item = &'k str>, value: Value) {
        match path.next() {
            None => self.own = Some(value),
            Some(segment) => self
                .children
                .entry(segment.to_string())
                .or_default()
                .insert(path, value),
        }
    }

    fn into_value(self) -> Value {
        if self.children.is_empty() {
            return self.own.unwrap_or(Value::Null);
        }
        let mut map: BTreeMap<String, Value> = self
            .children
            .into_iter()
            .map(|(k, n)| (k, n.into_value()))
            .collect();
        if let Some(own) = self.own {
            map.insert(ROW_SELF.to_string(), own);
        }
        Value::Map(map)
    }
}

/// A read-only view of one document's state in a store: the live state of a repo, or a replayed
/// snapshot at past heads.
#[derive(Debug, Clone)]
pub struct State<'a> {
    pub(crate) store: &'a Store,
    pub(crate) seq: &'a SeqCache,
    pub(crate) doc: DocId,
}

impl State<'_> {
    /// The document.
    pub fn doc(&self) -> DocId {
        self.doc
    }

    /// The full state of a key, or `None` if it holds nothing.
    pub fn entry(&self, key: &str) -> Result<Option<Entry>, Error> {
        read_entry(self.store, self.seq, &self.doc, key)
    }

    /// Every kind `key` holds, in the order a read prefers them (see the [module docs](self)):
    /// more than one only after concurrent writes of different kinds; empty if it holds nothing.
    pub fn entries_of(&self, key: &str) -> Result<Vec<Entry>, Error> {
        let mut found = read_store_entries(self.store, &self.doc, key, true)?;
        let d = self.seq.get(self.store, &self.doc)?;
        if d.has_list(key) {
            found.push(Entry::List(d.elements(key)));
        }
        if let Some(t) = d.texts.get(key) {
            found.push(Entry::Text(t.to_string()));
        }
        Ok(found)
    }

    /// The value of a key: the register winner, the counter sum, or the set members.
    pub fn get(&self, key: &str) -> Result<Option<Value>, Error> {
        self.entry(key)?.map(|e| e.value(key)).transpose()
    }

    /// The value of a key as a Rust type (see [`Value::to_serde`]), or `None` if it holds
    /// nothing. A value that does not fit `T` is [`Error::TypeMismatch`].
    pub fn get_as<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.get(key)?
            .map(|v| {
                v.to_serde().map_err(|reason| Error::TypeMismatch {
                    key: key.to_string(),
                    reason,
                })
            })
            .transpose()
    }

    /// The keys under `prefix` (see [`row_prefix`]) as one nested map: each key's rest split on
    /// `/`, each segment a map level, each key's value as [`State::get`] reads it, and the value
    /// of a key that is also the prefix of others under [`ROW_SELF`]. An empty map when no key
    /// is under the prefix.
    pub fn rows(&self, prefix: &str) -> Result<Value, Error> {
        let prefix = row_prefix(prefix);
        let mut root = RowNode::default();
        for (key, value) in self.list(&prefix)? {
            root.insert(key[prefix.len()..].split('/'), value);
        }
        Ok(Value::Map(
            root.children
                .into_iter()
                .map(|(k, n)| (k, n.into_value()))
                .collect(),
        ))
    }

    /// [`State::rows`] as a Rust type, such as a `BTreeMap<String, Todo>`. Rows that do not fit
    /// `T` are [`Error::TypeMismatch`] naming the prefix.
    pub fn rows_as<T: serde::de::DeserializeOwned>(&self, prefix: &str) -> Result<T, Error> {
        self.rows(prefix)?
            .to_serde()
            .map_err(|reason| Error::TypeMismatch {
                key: prefix.to_string(),
                reason,
            })
    }

    /// The kind of `key`, as a read sees it (see the [module docs](self)), without reading
    /// its value; `None` if it holds nothing.
    pub fn kind(&self, key: &str) -> Result<Option<Kind>, Error> {
        let prefix = keys::key_prefix(&self.doc, key);
        for (ks, kind) in [
            (keys::REGISTER, Kind::Register),
            (keys::COUNTER, Kind::Counter),
            (keys::SET, Kind::Set),
        ] {
            if self
                .store
                .scan_prefix(ks, &prefix)
                .next()
                .transpose()?
                .is_some()
            {
                return Ok(Some(kind));
            }
        }
        let d = self.seq.get(self.store, &self.doc)?;
        if d.has_list(key) {
            return Ok(Some(Kind::List));
        }
        Ok(d.texts.contains_key(key).then_some(Kind::Text))
    }

    /// The document's lists and texts.
    pub(crate) fn seq_doc(&self) -> Result<std::sync::Arc<crate::seqdoc::SeqDoc>, Error> {
        self.seq.get(self.store, &self.doc)
    }

    /// The elements of the list `key`, in order, with their ids; empty if `key` holds no list.
    pub fn elements(&self, key: &str) -> Result<Vec<Element>, Error> {
        Ok(self.seq.get(self.store, &self.doc)?.elements(key))
    }

    /// The text `key`, or `None` if `key` holds no text.
    pub fn text(&self, key: &str) -> Result<Option<String>, Error> {
        if let Some(text) = self.seq.text_from_snapshot(self.store, &self.doc, key)? {
            return Ok(text);
        }
        Ok(self
            .seq
            .get(self.store, &self.doc)?
            .texts
            .get(key)
            .map(ToString::to_string))
    }

    /// Every concurrent value of a key (one value unless a register has concurrent writes).
    pub fn get_all(&self, key: &str) -> Result<Vec<Value>, Error> {
        Ok(match self.entry(key)? {
            Some(e) => e.values(key)?,
            None => Vec::new(),
        })
    }

    /// Every key under `prefix` with its value, sorted by key.
    pub fn list(&self, prefix: &str) -> Result<BTreeMap<String, Value>, Error> {
        let mut out = BTreeMap::new();
        for (key, entry) in self.entries(prefix)? {
            let value = entry.value(&key)?;
            out.insert(key, value);
        }
        Ok(out)
    }

    /// Every key under `prefix` with its full entry, sorted by key.
    pub fn entries(&self, prefix: &str) -> Result<BTreeMap<String, Entry>, Error> {
        let mut out = BTreeMap::new();
        for key in list_keys(self.store, self.seq, &self.doc, prefix)? {
            if let Some(e) = self.entry(&key)? {
                out.insert(key, e);
            }
        }
        Ok(out)
    }
}
