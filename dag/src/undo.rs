//! Undo and redo of this replica's author's own changes: [`Repo::undo`], [`Repo::redo`].
//!
//! An undo is a new change, on the document's current heads, whose ops invert the ops of an
//! earlier change of this replica's author ([`Repo::author`]); a redo is a new change inverting
//! an undo. So both sync like any edit, and neither ever rewrites history.
//!
//! # What is undone
//!
//! [`Repo::undo`] takes the author's newest change in the document (by seq, among the last
//! [`UNDO_DEPTH`]) that holds a register, counter or set op and is not *done*: not undone
//! already, and not itself an undo. A redo is an ordinary change to undo again. Membership
//! changes (grant, revoke) and the genesis are never undone. Changes the author made on another
//! replica with the same key count too: they are the author's own.
//!
//! # The inverse of each op
//!
//! Each op of the change `C` being undone is inverted against the document's state now and,
//! for registers, its state just before `C` (at `C`'s parents, [`Repo::at`]). The rule that
//! keeps a peer's work: **an op is inverted only while its effect is still what the document
//! holds, written by this author**: by `C` itself, or by an undo or redo that brought it back
//! (an undo of the change after `C` writes `C`'s value again, with an op of its own). Where a
//! peer has written over it, it is left alone; so is a value a peer wrote concurrently.
//!
//! - `set k v`: only if some of `k`'s live values are `v` written by this author. Those (and
//!   only those: its `pred`, so a concurrent value stays) are replaced by the value `C`
//!   overwrote: the winner, just before `C`, among the values in the set's `pred`; if it
//!   overwrote none, they are deleted (`del k`). A multi-value register comes back as its
//!   winner only.
//! - `del k`: only if `k` holds no value now (a later or concurrent write wins). The winner of
//!   the values it deleted, as they were just before `C`, is set again (`pred` empty).
//! - `incr k d`: `incr k -d` (counters commute, so this is always safe; `-i64::MIN` is two
//!   increments). It fails as [`Transaction::incr`] does if the counter would overflow.
//! - `add k m`: `remove k m` naming the live tags of `m` added by this author (`C`'s own, or an
//!   undo's or redo's that added it back), if any; a peer's add of `m` survives.
//! - `remove k m`: only if `m` is absent from `k` now: `add k m`.
//!
//! # The stacks
//!
//! They live in the dag's *kept* keyspace `undo` ([`keys::UNDO`]), one value per document and
//! author, written in the same atomic batch as the undo or redo change. Kept, because they are
//! local and cannot be derived: a change does not say it is an undo (the change format has no
//! room for it, and another replica has no use for it), and `weft undo` runs in a process of its
//! own, so stacks in memory would be gone by the next command. The value holds:
//!
//! - the *done* changes (each undone change and each undo), the newest [`UNDO_MARKS`];
//! - the redo stack, `(undone change, its undo)` pairs, the newest [`UNDO_MARKS`];
//! - the author's highest seq when written. A new change of the author (any change not made by
//!   `undo` or `redo`) raises it, which empties the redo stack: there is nothing to redo after a
//!   new edit.
//!
//! [`Repo::redo`] pops the redo stack and inverts the undo by the same rules, so it brings back
//! what the undo took away, as far as nobody has written over it since.
//!
//! When the chosen change has nothing left to invert (every op written over), nothing is
//! committed and `None` returned; the change is marked done all the same, so the next undo goes
//! on to the one before it. An undo looks back over at most [`UNDO_DEPTH`] of the author's
//! changes; within that window [`UNDO_MARKS`] done marks always suffice (each undo adds at most
//! two marks and one change, each undo with nothing to change one mark of a change in the window),
//! so dropping older marks never lets a change be undone twice.
//!
//! Undoing or redoing replays the document's past to read the state before the change
//! ([`Repo::at`]), as time travel does: it costs as much as `at` on that change's parents.

use weft_store::Cid;

use crate::{
    change::{Op, OpId, StoredChange},
    error::Error,
    graph::corrupt,
    history::Snapshot,
    id::DocId,
    identity::Author,
    keys::{self, UndoStacks},
    repo::Repo,
    state::{Entry, RegisterValue, State},
    transaction::Transaction,
    value::Value,
};

/// What [`Repo::undo`] or [`Repo::redo`] committed.
#[derive(Debug, Clone)]
pub struct Undone {
    /// The new change, whose ops invert the target's.
    pub committed: StoredChange,
    /// For an undo, the change undone; for a redo, the change whose effect comes back (the new
    /// change inverts that change's undo).
    pub target: Cid,
}

/// How many of the author's newest changes in a document an undo looks back over.
pub const UNDO_DEPTH: u64 = 512;
/// How many done marks and redo entries the stacks keep (the newest).
pub const UNDO_MARKS: usize = 2_048;

impl Repo {
    /// Undoes this replica's author's newest change in `doc` not yet undone, with a new change
    /// (see [`crate::undo`] for the rules). `None` if there is nothing to undo, or if that
    /// change has nothing left to undo (it then counts as undone).
    pub fn undo(&self, doc: DocId) -> Result<Option<Undone>, Error> {
        let mut tx = self.transaction(doc);
        let key = keys::undo_key(&doc, &self.author());
        let (mut stacks, seq) = self.undo_stacks(doc, &key)?;
        let Some(target) = self.undoable(doc, seq, &stacks)? else {
            return Ok(None);
        };
        self.invert(&mut tx, &target)?;
        stacks.done.push(target);
        if tx.ops().is_empty() {
            drop(tx);
            self.put_stacks(&key, stacks)?;
            return Ok(None);
        }
        let committed = tx.commit_with(|cid, batch| {
            stacks.done.push(*cid);
            stacks.redo.push((target, *cid));
            stacks.seq = seq + 1;
            batch.put(keys::UNDO, &key, &keys::encode_undo(&trim(stacks)));
        })?;
        Ok(committed.map(|committed| Undone { committed, target }))
    }

    /// Redoes the last undo in `doc` by this replica's author, with a new change that inverts
    /// it (see [`crate::undo`]). `None` if there is nothing to redo (nothing undone, or a new
    /// change by the author since), or if nothing of the undo is left to invert.
    pub fn redo(&self, doc: DocId) -> Result<Option<Undone>, Error> {
        let mut tx = self.transaction(doc);
        let key = keys::undo_key(&doc, &self.author());
        let (mut stacks, seq) = self.undo_stacks(doc, &key)?;
        let Some((target, undo)) = stacks.redo.pop() else {
            return Ok(None);
        };
        self.invert(&mut tx, &undo)?;
        if tx.ops().is_empty() {
            drop(tx);
            self.put_stacks(&key, stacks)?;
            return Ok(None);
        }
        let committed = tx.commit_with(|_, batch| {
            stacks.seq = seq + 1;
            batch.put(keys::UNDO, &key, &keys::encode_undo(&trim(stacks)));
        })?;
        Ok(committed.map(|committed| Undone { committed, target }))
    }

    /// The stacks of this author in `doc` (the redo stack emptied if the author has made a
    /// change since they were written), and the author's highest seq.
    fn undo_stacks(&self, doc: DocId, key: &[u8]) -> Result<(UndoStacks, u64), Error> {
        let store = &self.writer.store;
        let mut stacks = match store.get(keys::UNDO, key)? {
            Some(v) => keys::decode_undo(&v).ok_or_else(|| corrupt("undo", "value"))?,
            None => UndoStacks::default(),
        };
        let seq = match store.get(
            keys::AUTHOR_SEQ,
            &keys::author_seq_key(&doc, &self.author()),
        )? {
            Some(v) => keys::decode_author_seq(&v).ok_or_else(|| corrupt("author_seq", "value"))?,
            None => 0,
        };
        if stacks.seq != seq {
            stacks.redo.clear();
            stacks.seq = seq;
        }
        Ok((stacks, seq))
    }

    fn put_stacks(&self, key: &[u8], stacks: UndoStacks) -> Result<(), Error> {
        self.ensure_writable()?;
        let mut batch = self.writer.store.batch();
        batch.put(keys::UNDO, key, &keys::encode_undo(&trim(stacks)));
        let result = batch.commit().map_err(Error::from);
        self.after_failure(result)
    }

    /// The author's newest change in `doc`, among the last [`UNDO_DEPTH`], with an op to undo
    /// and not done.
    fn undoable(&self, doc: DocId, seq: u64, stacks: &UndoStacks) -> Result<Option<Cid>, Error> {
        let store = &self.writer.store;
        let author = self.author();
        for s in (seq.saturating_sub(UNDO_DEPTH) + 1..=seq).rev() {
            let Some(pos) = store
                .get(keys::SEQS, &keys::seqs_key(&doc, &author, s))?
                .and_then(|v| keys::find_seq(&v, s))
                .flatten()
            else {
                continue;
            };
            let cid = store.cid_at(pos)?;
            if stacks.done.contains(&cid) {
                continue;
            }
            let change = self.change(&cid)?;
            if change.ops.iter().any(|op| {
                matches!(
                    op,
                    Op::Set { .. }
                        | Op::Del { .. }
                        | Op::Incr { .. }
                        | Op::Add { .. }
                        | Op::Remove { .. }
                ) || crate::seqdoc::is_seq_op(op)
            }) {
                return Ok(Some(cid));
            }
        }
        Ok(None)
    }

    /// Adds to `tx` the inverse of each op of change `cid` that is still in effect.
    fn invert(&self, tx: &mut Transaction<'_>, cid: &Cid) -> Result<(), Error> {
        let change = self.change(cid)?;
        let doc = tx.doc();
        let me = self.author();
        let mut before: Option<Snapshot> = None;
        for (index, op) in change.ops.iter().enumerate() {
            let id = OpId {
                change: *cid,
                index: u32::try_from(index).map_err(|_| corrupt("change", "op index"))?,
            };
            match op {
                Op::Set { key, value, pred } => {
                    // This author's live values of `key` that are still `value`.
                    let ours: Vec<OpId> = registers(tx.entry_here(key)?)
                        .into_iter()
                        .filter(|v| v.author == me && v.value == *value)
                        .map(|v| v.op)
                        .collect();
                    if ours.is_empty() {
                        continue;
                    }
                    let old = self.old_value(&mut before, doc, &change.parents, key, pred)?;
                    tx.push_op(match old {
                        Some(value) => Op::Set {
                            key: key.clone(),
                            value,
                            pred: ours,
                        },
                        None => Op::Del {
                            key: key.clone(),
                            pred: ours,
                        },
                    });
                }
                Op::Del { key, pred } => {
                    if tx.entry_here(key)?.is_some() {
                        continue;
                    }
                    if let Some(value) =
                        self.old_value(&mut before, doc, &change.parents, key, pred)?
                    {
                        tx.push_op(Op::Set {
                            key: key.clone(),
                            value,
                            pred: Vec::new(),
                        });
                    }
                }
                Op::Incr { key, delta } => match delta.checked_neg() {
                    Some(d) => {
                        tx.incr(key, d)?;
                    }
                    None => {
                        tx.incr(key, i64::MAX)?;
                        tx.incr(key, 1)?;
                    }
                },
                Op::Add { key, member } => {
                    // This author's live tags of `member`.
                    let mut ours = Vec::new();
                    if let Some(Entry::Set(members)) = tx.entry_here(key)? {
                        for tag in members
                            .into_iter()
                            .filter(|(m, _)| m == member)
                            .flat_map(|(_, tags)| tags)
                        {
                            if tag == id || self.author_of(&tag)? == Some(me) {
                                ours.push(tag);
                            }
                        }
                    }
                    if !ours.is_empty() {
                        tx.push_op(Op::Remove {
                            key: key.clone(),
                            member: member.clone(),
                            tags: ours,
                        });
                    }
                }
                Op::Remove { key, member, .. } => {
                    let present = match tx.entry_here(key)? {
                        Some(Entry::Set(members)) => members.iter().any(|(m, _)| m == member),
                        _ => false,
                    };
                    if !present {
                        tx.push_op(Op::Add {
                            key: key.clone(),
                            member: member.clone(),
                        });
                    }
                }
                Op::ListInsert { .. }
                | Op::ListMove { .. }
                | Op::ListDelete { .. }
                | Op::ListSet { .. }
                | Op::TextInsert { .. }
                | Op::TextDelete { .. } => {
                    let snapshot = match &mut before {
                        Some(s) => s,
                        None => before.insert(self.at(doc, &change.parents)?),
                    };
                    let was = snapshot.state().seq_doc()?;
                    tx.invert_seq(cid, id, op, &was)?;
                }
                Op::Genesis { .. } | Op::Grant { .. } | Op::Revoke { .. } => {}
            }
        }
        Ok(())
    }

    fn author_of(&self, op: &OpId) -> Result<Option<Author>, Error> {
        Ok(self.change_meta(&op.change)?.map(|m| m.author))
    }

    /// The winner, just before a change (at its `parents`), among `key`'s values in `pred`.
    fn old_value(
        &self,
        before: &mut Option<Snapshot>,
        doc: DocId,
        parents: &[Cid],
        key: &str,
        pred: &[OpId],
    ) -> Result<Option<Value>, Error> {
        if pred.is_empty() {
            return Ok(None);
        }
        let snapshot = match before {
            Some(s) => s,
            None => before.insert(self.at(doc, parents)?),
        };
        Ok(register(&snapshot.state(), key)?
            .into_iter()
            .find(|v| pred.contains(&v.op))
            .map(|v| v.value))
    }
}

/// The live register values of an entry, winner first (none if it is no register).
fn registers(entry: Option<Entry>) -> Vec<RegisterValue> {
    match entry {
        Some(Entry::Register(values)) => values,
        _ => Vec::new(),
    }
}

/// `key`'s live register values, winner first (none if it holds no register).
fn register(state: &State<'_>, key: &str) -> Result<Vec<RegisterValue>, Error> {
    Ok(match state.entry(key)? {
        Some(Entry::Register(values)) => values,
        _ => Vec::new(),
    })
}

/// Keeps the newest [`UNDO_MARKS`] done marks and redo entries.
fn trim(mut stacks: UndoStacks) -> UndoStacks {
    let cut = stacks.done.len().saturating_sub(UNDO_MARKS);
    stacks.done.drain(..cut);
    let cut = stacks.redo.len().saturating_sub(UNDO_MARKS);
    stacks.redo.drain(..cut);
    stacks
}
