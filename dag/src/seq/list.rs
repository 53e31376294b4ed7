//! Lists of elements that can move, within a list and from one list to another: a set of
//! Fugue trees of *positions* and, per element, a last-writer-wins register over positions.
//! See the [module docs](super) for the rules.

use std::collections::{BTreeMap, HashMap};

use super::{tree::Tree, Anchor, Id, SeqError, Stamp};
use crate::OpId;

/// An op on a set of lists. An element's id is the op id of its insert; a position's id is
/// the op id of the insert or move that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListOp<L> {
    /// A new element, at a new position of `list` between `left` and `right`.
    Insert {
        /// Orders the element's position register; `stamp.op` is the element's id.
        stamp: Stamp,
        /// The list it goes into.
        list: L,
        /// The position before it that its author saw, or the start.
        left: Anchor,
        /// The position after `left` that its author saw (tombstones included), or the end.
        right: Anchor,
    },
    /// `element` goes to a new position of `list` (the same list or another one).
    Move {
        /// Orders the element's position register; `stamp.op` is the new position's id.
        stamp: Stamp,
        /// The element moved.
        element: OpId,
        /// The list it goes to.
        list: L,
        /// As for an insert.
        left: Anchor,
        /// As for an insert.
        right: Anchor,
    },
    /// `element` is gone, wherever it is or moves to.
    Delete {
        /// The element deleted.
        element: OpId,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Element<L> {
    /// The greatest stamp among the element's insert and moves, and the position it made.
    pub(super) winner: Stamp,
    pub(super) list: L,
    pub(super) deleted: bool,
}

/// A replica's trees, positions (position -> element) and elements.
pub(super) type Parts<L> = (
    BTreeMap<L, Tree<()>>,
    HashMap<OpId, OpId>,
    HashMap<OpId, Element<L>>,
);

/// [`Parts`] borrowed.
pub(super) type PartsRef<'a, L> = (
    &'a BTreeMap<L, Tree<()>>,
    &'a HashMap<OpId, OpId>,
    &'a HashMap<OpId, Element<L>>,
);

/// A set of lists, named by `L` (a key, say), whose elements can move between them.
///
/// An element is visible at exactly one place: its winning position, unless it is deleted.
#[derive(Debug, Clone)]
pub struct Lists<L> {
    trees: BTreeMap<L, Tree<()>>,
    /// Each position's element.
    positions: HashMap<OpId, OpId>,
    elements: HashMap<OpId, Element<L>>,
}

impl<L: Ord + Clone> Default for Lists<L> {
    fn default() -> Self {
        Lists::new()
    }
}

impl<L: Ord + Clone> Lists<L> {
    /// No lists.
    pub fn new() -> Self {
        Lists {
            trees: BTreeMap::new(),
            positions: HashMap::new(),
            elements: HashMap::new(),
        }
    }

    pub(super) fn parts(&self) -> PartsRef<'_, L> {
        (&self.trees, &self.positions, &self.elements)
    }

    pub(super) fn from_parts((trees, positions, elements): Parts<L>) -> Self {
        Lists {
            trees,
            positions,
            elements,
        }
    }

    /// Applies an op, from here or elsewhere. Ops must arrive in causal order (an op after
    /// every op whose position or element it names); each op once.
    pub fn apply(&mut self, op: &ListOp<L>) -> Result<(), SeqError> {
        match op {
            ListOp::Insert {
                stamp,
                list,
                left,
                right,
            } => {
                if self.elements.contains_key(&stamp.op) || self.positions.contains_key(&stamp.op) {
                    return Err(SeqError::Duplicate(Id::of(stamp.op)));
                }
                let tree = self.trees.entry(list.clone()).or_default();
                tree.insert(Id::of(stamp.op), 1, (), *left, *right)?;
                self.positions.insert(stamp.op, stamp.op);
                let element = Element {
                    winner: *stamp,
                    list: list.clone(),
                    deleted: false,
                };
                self.elements.insert(stamp.op, element);
            }
            ListOp::Move {
                stamp,
                element,
                list,
                left,
                right,
            } => {
                if !self.elements.contains_key(element) {
                    return Err(SeqError::UnknownElement(*element));
                }
                if self.positions.contains_key(&stamp.op) {
                    return Err(SeqError::Duplicate(Id::of(stamp.op)));
                }
                let tree = self.trees.entry(list.clone()).or_default();
                tree.insert(Id::of(stamp.op), 1, (), *left, *right)?;
                tree.set_visible(Id::of(stamp.op), 1, false)?;
                self.positions.insert(stamp.op, *element);
                let Some(e) = self.elements.get_mut(element) else {
                    return Err(SeqError::UnknownElement(*element));
                };
                if *stamp > e.winner {
                    let (old, old_list) =
                        (e.winner.op, std::mem::replace(&mut e.list, list.clone()));
                    e.winner = *stamp;
                    if !e.deleted {
                        if let Some(t) = self.trees.get_mut(&old_list) {
                            t.set_visible(Id::of(old), 1, false)?;
                        }
                        if let Some(t) = self.trees.get_mut(list) {
                            t.set_visible(Id::of(stamp.op), 1, true)?;
                        }
                    }
                }
            }
            ListOp::Delete { element } => {
                let e = self
                    .elements
                    .get_mut(element)
                    .ok_or(SeqError::UnknownElement(*element))?;
                if !e.deleted {
                    e.deleted = true;
                    if let Some(t) = self.trees.get_mut(&e.list) {
                        t.set_visible(Id::of(e.winner.op), 1, false)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Renames ops, for a transaction's ops made under pending ids once its change is signed:
    /// each `(from, to)` of `pairs` gives the element or position `from` the id `to`, and the
    /// stamps of those ops the change's `height`. This gives what applying the renamed ops gives
    /// only for ops generated on this replica, on its current state, by `insert_at`,
    /// `move_to` and `delete`, with stamps greater than every other stamp here (a change's
    /// height is above every change it has seen).
    pub fn rename(&mut self, pairs: &[(OpId, OpId)], height: u64) {
        let table: std::collections::HashMap<OpId, OpId> = pairs.iter().copied().collect();
        let map = |op: OpId| table.get(&op).copied();
        for tree in self.trees.values_mut() {
            for (from, to) in pairs {
                tree.rename(*from, *to, &map);
            }
        }
        for (from, to) in pairs {
            if let Some(e) = self.elements.remove(from) {
                self.elements.insert(*to, e);
            }
            if let Some(elem) = self.positions.remove(from) {
                let elem = map(elem).unwrap_or(elem);
                self.positions.insert(*to, elem);
                if let Some(e) = self.elements.get_mut(&elem) {
                    if e.winner.op == *from {
                        e.winner.op = *to;
                        e.winner.height = height;
                    }
                }
            }
        }
    }

    /// The names of the lists that have held an element.
    pub fn lists(&self) -> impl Iterator<Item = &L> {
        self.trees.keys()
    }

    /// The visible elements of `list`, in order.
    pub fn elements(&self, list: &L) -> Vec<OpId> {
        let mut out = Vec::new();
        if let Some(tree) = self.trees.get(list) {
            tree.for_each_visible(|id, _, _| {
                if let Some(&e) = self.positions.get(&id.op) {
                    out.push(e);
                }
            });
        }
        out
    }

    /// The number of visible elements of `list`.
    pub fn len(&self, list: &L) -> usize {
        self.trees.get(list).map_or(0, |t| t.len())
    }

    /// Whether no list has a visible element.
    pub fn is_empty(&self) -> bool {
        self.trees.values().all(|t| t.len() == 0)
    }

    /// Where `element` is: its list and index, unless it is deleted (or unknown).
    pub fn find(&self, element: OpId) -> Option<(&L, usize)> {
        let e = self.elements.get(&element)?;
        if e.deleted {
            return None;
        }
        let index = self.trees.get(&e.list)?.index_of(Id::of(e.winner.op))?;
        Some((&e.list, index))
    }

    /// Whether `element` is known and deleted.
    pub fn is_deleted(&self, element: OpId) -> Option<bool> {
        self.elements.get(&element).map(|e| e.deleted)
    }

    /// The stamp of the insert or move that placed `element` where it is.
    pub fn winner(&self, element: OpId) -> Option<Stamp> {
        self.elements.get(&element).map(|e| e.winner)
    }

    /// The origins for a new position at visible `index` of `list` (before the element now
    /// there; the end if `index` is the length).
    pub fn origins_at(&self, list: &L, index: usize) -> Result<(Anchor, Anchor), SeqError> {
        match self.trees.get(list) {
            Some(tree) => tree.origins_at(index),
            None if index == 0 => Ok((Anchor::Start, Anchor::End)),
            None => Err(SeqError::OutOfRange { index, len: 0 }),
        }
    }

    /// The list of `element` and the origins for a new position right after it.
    pub fn origins_after(&self, element: OpId) -> Result<(L, Anchor, Anchor), SeqError> {
        let (list, tree, at) = self.current(element)?;
        let (l, r) = tree.origins_after(at)?;
        Ok((list, l, r))
    }

    /// The list of `element` and the origins for a new position right before it.
    pub fn origins_before(&self, element: OpId) -> Result<(L, Anchor, Anchor), SeqError> {
        let (list, tree, at) = self.current(element)?;
        let (l, r) = tree.origins_before(at)?;
        Ok((list, l, r))
    }

    fn current(&self, element: OpId) -> Result<(L, &Tree<()>, Id), SeqError> {
        let e = self
            .elements
            .get(&element)
            .ok_or(SeqError::UnknownElement(element))?;
        let tree = self
            .trees
            .get(&e.list)
            .ok_or(SeqError::UnknownElement(element))?;
        Ok((e.list.clone(), tree, Id::of(e.winner.op)))
    }

    /// Inserts a new element (id `stamp.op`) at `index` of `list`; returns the op to send.
    pub fn insert_at(
        &mut self,
        stamp: Stamp,
        list: L,
        index: usize,
    ) -> Result<ListOp<L>, SeqError> {
        let (left, right) = self.origins_at(&list, index)?;
        let op = ListOp::Insert {
            stamp,
            list,
            left,
            right,
        };
        self.apply(&op)?;
        Ok(op)
    }

    /// Moves `element` to `index` of `list`, counted in the list as it is now (the element
    /// lands before the element now at `index`); returns the op to send.
    pub fn move_to(
        &mut self,
        stamp: Stamp,
        element: OpId,
        list: L,
        index: usize,
    ) -> Result<ListOp<L>, SeqError> {
        let (left, right) = self.origins_at(&list, index)?;
        let op = ListOp::Move {
            stamp,
            element,
            list,
            left,
            right,
        };
        self.apply(&op)?;
        Ok(op)
    }

    /// Checks every tree's order index against a walk of the tree.
    #[cfg(test)]
    pub(super) fn check_index(&self) -> Result<(), String> {
        self.trees.values().try_for_each(|t| t.check_index())
    }

    /// Deletes `element`; returns the op to send.
    pub fn delete(&mut self, element: OpId) -> Result<ListOp<L>, SeqError> {
        let op = ListOp::Delete { element };
        self.apply(&op)?;
        Ok(op)
    }
}
