//! The list and text methods of [`Transaction`].
//!
//! A transaction edits a working copy of the document's lists and texts, so that each edit
//! sees the ones before it (push twice, and the second lands after the first). Its ops name
//! items of earlier ops of the same change by index, since the change's CID is not known
//! until it is signed: until then, an element made here has a *pending* id (change
//! a raw-codec CID of its own, see [`crate::is_pending`], index: the how-manieth element or
//! position this transaction made), which
//! the transaction's other methods accept and [`StoredChange::resolve`] turns into the real id
//! once committed.

use weft_store::Cid;

use crate::{
    change::{ItemRef, Op, OpId, OpRef, StoredChange, MAX_TEXT_RUN},
    error::Error,
    kind::Kind,
    seq::{Anchor, Id, SeqError, Span, Stamp},
    seqdoc::{is_pending, makes_items, new_pending_cid, op_kind, SeqDoc, Work},
    transaction::Transaction,
    value::Value,
};

impl StoredChange {
    /// The id an item made by this change has, given the pending id its transaction returned
    /// (see [`crate::edit`]); any other id as it is.
    pub fn resolve(&self, id: OpId) -> OpId {
        if !is_pending(&id.change) {
            return id;
        }
        self.change
            .ops
            .iter()
            .enumerate()
            .filter(|(_, op)| makes_items(op))
            .nth(id.index as usize)
            .map_or(id, |(index, _)| OpId {
                change: self.cid,
                index: index as u32,
            })
    }
}

/// The wire form of an op named in this transaction: pending ids become indexes (made-order
/// for now; [`renumber`] makes them op indexes at commit).
fn wire_ref(op: OpId) -> OpRef {
    if is_pending(&op.change) {
        OpRef::Here(op.index)
    } else {
        OpRef::There(op)
    }
}

/// The wire form of spans of characters.
fn wire_spans(spans: Vec<Span>) -> Vec<(ItemRef, u32)> {
    spans
        .into_iter()
        .map(|s| {
            (
                ItemRef {
                    op: wire_ref(s.start.op),
                    offset: s.start.offset,
                },
                s.len,
            )
        })
        .collect()
}

fn wire_anchor(a: Anchor) -> Option<ItemRef> {
    match a {
        Anchor::Start | Anchor::End => None,
        Anchor::At(Id { op, offset }) => Some(ItemRef {
            op: wire_ref(op),
            offset,
        }),
    }
}

/// Adds `more` to `spans`, joining a span that continues the one before it in its run or ends
/// where it starts (a delete forward or a backspace).
fn merge_spans(spans: &mut Vec<(ItemRef, u32)>, more: Vec<(ItemRef, u32)>) {
    for (item, len) in more {
        if let Some((last, last_len)) = spans.last_mut() {
            if last.op == item.op {
                if last.offset.checked_add(*last_len) == Some(item.offset) {
                    *last_len += len;
                    continue;
                }
                if item.offset.checked_add(len) == Some(last.offset) {
                    last.offset = item.offset;
                    *last_len += len;
                    continue;
                }
            }
        }
        spans.push((item, len));
    }
}

/// Where [`Transaction::list_move`] puts an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// At this index of this list, counted as the list is now.
    At(String, usize),
    /// Right before this element, in its list.
    Before(OpId),
    /// Right after this element, in its list.
    After(OpId),
}

impl Transaction<'_> {
    fn work(&mut self) -> Result<&mut Work, Error> {
        if self.work.is_none() {
            let repo = self.repo;
            // A subscriber that reads diffs reads the state before the commit from the cache,
            // so it keeps it and the transaction edits a copy (else the cache would load the
            // document again for each commit).
            let doc = if repo.events.wants_diffs() {
                SeqDoc::clone(&*repo.writer.seq.get(&repo.writer.store, &self.doc)?)
            } else {
                repo.writer.seq.take(&repo.writer.store, &self.doc)?
            };
            self.work = Some(Work {
                doc,
                made: 0,
                pending: new_pending_cid(),
                plain: 1 << 31,
            });
        }
        match self.work.as_mut() {
            Some(w) => Ok(w),
            None => unreachable!("set above"),
        }
    }

    /// The stamp of the next op that makes items: pending, and greater than any stored one.
    fn next_stamp(&mut self) -> Result<Stamp, Error> {
        let author = self.repo.author();
        let w = self.work()?;
        let op = OpId {
            change: w.pending,
            index: w.made,
        };
        w.made += 1;
        Ok(Stamp {
            height: u64::MAX,
            author,
            op,
        })
    }

    fn check_kind(&self, key: &str, want: Kind) -> Result<(), Error> {
        crate::change::validate_key(key).map_err(|reason| Error::InvalidKey {
            key: key.into(),
            reason,
        })?;
        let pending = self.ops.iter().rev().find(|op| op.key() == Some(key));
        let found = match pending {
            Some(op) => op_kind(op),
            None => self.kind_here(key)?,
        };
        match found {
            Some(k) if k != want => Err(Error::WrongType {
                key: key.into(),
                expected: want,
                found: k,
            }),
            _ => Ok(()),
        }
    }

    /// The kind of `key` as this transaction's reads see it: from its working copy of the lists
    /// and texts once it has one (they are out of the repo's cache meanwhile).
    pub(crate) fn kind_here(&self, key: &str) -> Result<Option<Kind>, Error> {
        match &self.work {
            Some(w) => Ok(
                crate::state::store_kind(&self.repo.writer.store, &self.doc, key)?
                    .or_else(|| w.doc.kind(key)),
            ),
            None => self.repo.state(self.doc).kind(key),
        }
    }

    /// The state of `key` as this transaction's reads see it (see [`Transaction::kind_here`]).
    pub(crate) fn entry_here(&self, key: &str) -> Result<Option<crate::state::Entry>, Error> {
        match &self.work {
            Some(w) => Ok(
                crate::state::read_store_entry(&self.repo.writer.store, &self.doc, key)?
                    .or_else(|| crate::state::seq_entry(&w.doc, key)),
            ),
            None => self.repo.state(self.doc).entry(key),
        }
    }

    /// Stages one text insert of `text` between `left` and `right`.
    fn insert_run(
        &mut self,
        key: &str,
        left: Anchor,
        right: Anchor,
        text: String,
    ) -> Result<(), Error> {
        let stamp = self.next_stamp()?;
        let op = Op::TextInsert {
            key: key.into(),
            left: wire_anchor(left),
            right: wire_anchor(right),
            text,
        };
        self.apply_here(stamp, op)
    }

    /// Stages text deletes of `spans`, as many ops as the limit of ids per op needs.
    fn delete_spans(&mut self, key: &str, spans: &[(ItemRef, u32)]) -> Result<(), Error> {
        let stamp = self.plain_stamp()?;
        for chunk in spans.chunks(crate::change::MAX_PRED) {
            self.apply_here(
                stamp,
                Op::TextDelete {
                    key: key.into(),
                    spans: chunk.to_vec(),
                },
            )?;
        }
        Ok(())
    }

    fn apply_here(&mut self, stamp: Stamp, op: Op) -> Result<(), Error> {
        let cid = self.work()?.pending;
        let key = op.key().unwrap_or_default().to_string();
        self.work()?
            .doc
            .apply_op(&cid, stamp, &op)
            .map_err(|reason| seq_error(&key, reason))?;
        self.ops.push(op);
        Ok(())
    }

    /// Inserts `value` at `index` of the list `key` (0 is the start, the length the end).
    /// Returns the new element's id, pending until the commit (see [`crate::edit`]).
    pub fn list_insert(
        &mut self,
        key: &str,
        index: usize,
        value: impl Into<Value>,
    ) -> Result<OpId, Error> {
        self.check_kind(key, Kind::List)?;
        let (left, right) = self
            .work()?
            .doc
            .lists
            .origins_at(&key.to_string(), index)
            .map_err(|reason| seq_error(key, reason))?;
        self.insert_element(key, left, right, value.into())
    }

    /// Appends `value` to the list `key`; returns the new element's id (pending until the
    /// commit).
    pub fn list_push(&mut self, key: &str, value: impl Into<Value>) -> Result<OpId, Error> {
        let len = self.list_len(key)?;
        self.list_insert(key, len, value)
    }

    /// Inserts `value` right before (or, with `after`, right after) element `next_to`, in its
    /// list; returns the new element's id (pending until the commit).
    pub fn list_insert_next_to(
        &mut self,
        next_to: OpId,
        after: bool,
        value: impl Into<Value>,
    ) -> Result<OpId, Error> {
        let lists = &self.work()?.doc.lists;
        let found = if after {
            lists.origins_after(next_to)
        } else {
            lists.origins_before(next_to)
        };
        let (key, left, right) = self.visible(next_to, found)?;
        self.check_kind(&key, Kind::List)?;
        self.insert_element(&key, left, right, value.into())
    }

    fn insert_element(
        &mut self,
        key: &str,
        left: Anchor,
        right: Anchor,
        value: Value,
    ) -> Result<OpId, Error> {
        value.validate().map_err(Error::InvalidValue)?;
        let stamp = self.next_stamp()?;
        let op = Op::ListInsert {
            key: key.into(),
            left: wire_anchor(left),
            right: wire_anchor(right),
            value,
        };
        self.apply_here(stamp, op)?;
        Ok(stamp.op)
    }

    /// The number of elements of the list `key` as this transaction sees it.
    pub fn list_len(&mut self, key: &str) -> Result<usize, Error> {
        Ok(self.work()?.doc.lists.len(&key.to_string()))
    }

    /// The elements of the list `key` as this transaction sees it.
    pub fn list_elements(&mut self, key: &str) -> Result<Vec<crate::Element>, Error> {
        Ok(self.work()?.doc.elements(key))
    }

    /// Moves element `elem` to `place`: within its list or into another list of the document.
    pub fn list_move(&mut self, elem: OpId, place: Place) -> Result<&mut Self, Error> {
        self.element_list(elem)?;
        let lists = &self.work()?.doc.lists;
        let (key, left, right) = match place {
            Place::At(key, index) => {
                let (l, r) = lists
                    .origins_at(&key, index)
                    .map_err(|reason| seq_error(&key, reason))?;
                (key, l, r)
            }
            Place::Before(other) => {
                let found = lists.origins_before(other);
                self.visible(other, found)?
            }
            Place::After(other) => {
                let found = lists.origins_after(other);
                self.visible(other, found)?
            }
        };
        self.check_kind(&key, Kind::List)?;
        let stamp = self.next_stamp()?;
        let op = Op::ListMove {
            key,
            elem: wire_ref(elem),
            left: wire_anchor(left),
            right: wire_anchor(right),
        };
        self.apply_here(stamp, op)?;
        Ok(self)
    }

    /// Deletes element `elem` from its list.
    pub fn list_delete(&mut self, elem: OpId) -> Result<&mut Self, Error> {
        let key = self.element_list(elem)?;
        let stamp = self.plain_stamp()?;
        self.apply_here(
            stamp,
            Op::ListDelete {
                key,
                elem: wire_ref(elem),
            },
        )?;
        Ok(self)
    }

    /// Sets the value of element `elem`.
    pub fn list_set(&mut self, elem: OpId, value: impl Into<Value>) -> Result<&mut Self, Error> {
        let value = value.into();
        value.validate().map_err(Error::InvalidValue)?;
        let key = self.element_list(elem)?;
        let stamp = self.plain_stamp()?;
        self.apply_here(
            stamp,
            Op::ListSet {
                key,
                elem: wire_ref(elem),
                value,
            },
        )?;
        Ok(self)
    }

    /// A stamp for an op that makes no item (delete, set): greater than every stored one, than
    /// the stamps of items made here, and than the ones before it here.
    fn plain_stamp(&mut self) -> Result<Stamp, Error> {
        let author = self.repo.author();
        let w = self.work()?;
        w.plain += 1;
        Ok(Stamp {
            height: u64::MAX,
            author,
            op: OpId {
                change: w.pending,
                index: w.plain,
            },
        })
    }

    /// The list element `elem` is in as this transaction sees it, or [`Error::UnknownElement`].
    pub fn element_list(&mut self, elem: OpId) -> Result<String, Error> {
        let lists = &self.work()?.doc.lists;
        lists
            .find(elem)
            .map(|(key, _)| key.clone())
            .ok_or(Error::UnknownElement { elem })
    }

    fn visible<T>(&self, elem: OpId, found: Result<T, SeqError>) -> Result<T, Error> {
        let deleted = self
            .work
            .as_ref()
            .and_then(|w| w.doc.lists.is_deleted(elem))
            .unwrap_or(true);
        match found {
            Ok(t) if !deleted => Ok(t),
            _ => Err(Error::UnknownElement { elem }),
        }
    }

    /// Inserts `text` at character `index` of the text `key` (made if it does not exist).
    /// Typing on where the transaction's last op, an insert into the same text, ended adds to
    /// that op instead of making another: one op and one run for what was typed.
    pub fn text_insert(&mut self, key: &str, index: usize, text: &str) -> Result<&mut Self, Error> {
        self.check_kind(key, Kind::Text)?;
        if text.is_empty() {
            return Ok(self);
        }
        if self.extend_last_insert(key, index, text)? {
            return Ok(self);
        }
        let mut at = index;
        let chars: Vec<char> = text.chars().collect();
        for chunk in chars.chunks(MAX_TEXT_RUN) {
            let (left, right) = match self.work()?.doc.texts.get(key) {
                Some(t) => t.origins_at(at),
                None if at == 0 => Ok((Anchor::Start, Anchor::End)),
                None => Err(SeqError::OutOfRange { index: at, len: 0 }),
            }
            .map_err(|reason| seq_error(key, reason))?;
            self.insert_run(key, left, right, chunk.iter().collect())?;
            at += chunk.len();
        }
        Ok(self)
    }

    /// Adds `text` to the transaction's last op if that is an insert into `key` ending right
    /// before `index` and the text can grow its run (see [`crate::seq::Text::extend`]).
    fn extend_last_insert(&mut self, key: &str, index: usize, text: &str) -> Result<bool, Error> {
        let Some(Op::TextInsert {
            key: last_key,
            text: last_text,
            ..
        }) = self.ops.last()
        else {
            return Ok(false);
        };
        let n = last_text.chars().count();
        if last_key != key || n == 0 || n + text.chars().count() > MAX_TEXT_RUN {
            return Ok(false);
        }
        let w = self.work()?;
        let Some(tag) = w.made.checked_sub(1) else {
            return Ok(false);
        };
        let last = Id {
            op: OpId {
                change: w.pending,
                index: tag,
            },
            offset: n as u32 - 1,
        };
        let extended = w
            .doc
            .texts
            .get_mut(key)
            .is_some_and(|t| t.extend(last, index, text));
        if extended {
            if let Some(Op::TextInsert { text: t, .. }) = self.ops.last_mut() {
                t.push_str(text);
            }
        }
        Ok(extended)
    }

    /// Deletes `len` characters of the text `key` from character `index`.
    pub fn text_delete(&mut self, key: &str, index: usize, len: usize) -> Result<&mut Self, Error> {
        self.check_kind(key, Kind::Text)?;
        if len == 0 {
            return Ok(self);
        }
        let spans = match self.work()?.doc.texts.get(key) {
            Some(t) => t.spans(index, len),
            None => Err(SeqError::OutOfRange { index, len: 0 }),
        }
        .map_err(|reason| seq_error(key, reason))?;
        let spans = wire_spans(spans);
        // Deleting on where the transaction's last op, a delete in the same text, left off
        // (backspacing, or deleting forward) adds to that op.
        let joins = matches!(
            self.ops.last(),
            Some(Op::TextDelete { key: k, spans: last })
                if k == key && last.len() + spans.len() <= crate::change::MAX_PRED
        );
        if joins {
            let cid = self.work()?.pending;
            let ids: Vec<Span> = spans
                .iter()
                .map(|(s, len)| Span {
                    start: crate::seqdoc::item_id(&cid, s),
                    len: *len,
                })
                .collect();
            if let Some(t) = self.work()?.doc.texts.get_mut(key) {
                t.apply(&crate::seq::TextOp::Delete { spans: ids })
                    .map_err(|reason| seq_error(key, reason))?;
                if let Some(Op::TextDelete { spans: last, .. }) = self.ops.last_mut() {
                    merge_spans(last, spans);
                }
                return Ok(self);
            }
        }
        self.delete_spans(key, &spans)?;
        Ok(self)
    }

    /// Replaces `delete` characters of the text `key` at `index` with `insert`.
    pub fn text_splice(
        &mut self,
        key: &str,
        index: usize,
        delete: usize,
        insert: &str,
    ) -> Result<&mut Self, Error> {
        self.text_delete(key, index, delete)?;
        if !insert.is_empty() {
            self.text_insert(key, index, insert)?;
        }
        Ok(self)
    }

    /// Replaces `delete` characters at `index` of the text `key` *as `base` had it* with
    /// `insert`: `base` is a state read earlier (a [`crate::Snapshot`] at the heads an editor
    /// read, say), and the edit is placed by the characters it names, so that whatever changed
    /// since (a peer's edit elsewhere in the text) stays. Characters already deleted since stay
    /// deleted; the insert goes right after the character before `index` in `base`.
    pub fn text_splice_from(
        &mut self,
        key: &str,
        base: &crate::State<'_>,
        index: usize,
        delete: usize,
        insert: &str,
    ) -> Result<&mut Self, Error> {
        self.check_kind(key, Kind::Text)?;
        let was = base.seq_doc()?;
        let empty = crate::seq::Text::new();
        let old = was.texts.get(key).unwrap_or(&empty);
        let spans = if delete == 0 {
            Vec::new()
        } else {
            old.spans(index, delete)
                .map_err(|reason| seq_error(key, reason))?
        };
        let after = match index {
            0 => None,
            i => Some(
                old.spans(i - 1, 1)
                    .map_err(|reason| seq_error(key, reason))?[0]
                    .start,
            ),
        };
        if !spans.is_empty() {
            self.delete_spans(key, &wire_spans(spans))?;
        }
        if insert.is_empty() {
            return Ok(self);
        }
        let (left, right) = match (self.work()?.doc.texts.get(key), after) {
            (Some(t), Some(id)) => t.origins_after(id),
            (Some(t), None) => t.origins_at(0),
            (None, None) => Ok((Anchor::Start, Anchor::End)),
            (None, Some(id)) => Err(SeqError::UnknownId(id)),
        }
        .map_err(|reason| seq_error(key, reason))?;
        self.insert_run(key, left, right, insert.into())?;
        Ok(self)
    }

    /// The text `key` as this transaction sees it (`None` if it holds no text).
    pub fn text(&mut self, key: &str) -> Result<Option<String>, Error> {
        Ok(self.work()?.doc.texts.get(key).map(ToString::to_string))
    }
}

impl Transaction<'_> {
    /// Adds the inverse of op `id` (`op`, of change `cid`) to this transaction, where it is still
    /// in effect; `was` is the document's lists and texts just before the change.
    pub(crate) fn invert_seq(
        &mut self,
        cid: &Cid,
        id: OpId,
        op: &Op,
        was: &SeqDoc,
    ) -> Result<(), Error> {
        let now = &self.work()?.doc;
        match op {
            Op::ListInsert { .. } if now.lists.find(id).is_some() => {
                self.list_delete(id)?;
            }
            Op::ListMove { elem, .. } => {
                let elem = elem.resolve(cid);
                let placed_here = now.lists.winner(elem).map(|s| s.op) == Some(id);
                let back = was.lists.find(elem).map(|(k, i)| (k.clone(), i));
                if let (true, Some((key, index)), Some(_)) =
                    (placed_here, back, now.lists.find(elem))
                {
                    let index = index.min(now.lists.len(&key));
                    self.list_move(elem, Place::At(key, index))?;
                }
            }
            Op::ListDelete { elem, .. } => {
                let elem = elem.resolve(cid);
                // Deleted for good: the element comes back as a new one, where it was.
                if let (Some((key, index)), Some((_, value))) =
                    (was.lists.find(elem), was.values.get(&elem))
                {
                    let index = index.min(now.lists.len(key));
                    let (key, value) = (key.clone(), value.clone());
                    self.list_insert(&key, index, value)?;
                }
            }
            Op::ListSet { elem, .. } => {
                let elem = elem.resolve(cid);
                let ours = now.values.get(&elem).is_some_and(|(s, _)| s.op == id);
                if let (true, Some((_, old))) = (ours, was.values.get(&elem)) {
                    let old = old.clone();
                    self.list_set(elem, old)?;
                }
            }
            Op::TextInsert { key, text, .. } => {
                let Some(t) = now.texts.get(key) else {
                    return Ok(());
                };
                // The characters of the run still visible, as ranges of indexes, last first.
                let mut ranges: Vec<(usize, usize)> = Vec::new();
                for offset in 0..text.chars().count() as u32 {
                    if let Some(i) = t.index_of(Id { op: id, offset }) {
                        match ranges.last_mut() {
                            Some((start, len)) if *start + *len == i => *len += 1,
                            _ => ranges.push((i, 1)),
                        }
                    }
                }
                let key = key.clone();
                for (start, len) in ranges.into_iter().rev() {
                    self.text_delete(&key, start, len)?;
                }
            }
            Op::TextDelete { key, spans } => {
                let (Some(old), Some(t)) = (was.texts.get(key), now.texts.get(key)) else {
                    return Ok(());
                };
                let old_chars: Vec<char> = old.to_string().chars().collect();
                // The deleted characters as they stood in the text before: runs of ids that
                // were next to each other there (a span may cover characters that were not,
                // with other characters between them), each put back where it was.
                let mut groups: Vec<(Id, usize, usize)> = Vec::new();
                for (start, len) in spans {
                    let start = crate::seqdoc::item_id(cid, start);
                    for k in 0..(*len).min(old_chars.len() as u32) {
                        let id = start.plus(k);
                        let Some(i) = old.index_of(id) else {
                            continue;
                        };
                        match groups.last_mut() {
                            Some((first, at, n))
                                if first.plus(*n as u32) == id && *at + *n == i =>
                            {
                                *n += 1
                            }
                            _ => groups.push((id, i, 1)),
                        }
                    }
                }
                let mut inserts = Vec::new();
                for (first, at, n) in groups {
                    let Ok((left, right)) = t.origins_before(first) else {
                        continue;
                    };
                    inserts.push((
                        left,
                        right,
                        old_chars[at..at + n].iter().collect::<String>(),
                    ));
                }
                let key = key.clone();
                for (left, right, text) in inserts {
                    self.insert_run(&key, left, right, text)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn seq_error(key: &str, reason: SeqError) -> Error {
    match reason {
        SeqError::UnknownElement(elem) => Error::UnknownElement { elem },
        reason => Error::Position {
            key: key.to_string(),
            reason,
        },
    }
}
