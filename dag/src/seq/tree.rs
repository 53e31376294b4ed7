//! The Fugue tree of runs: one tree per list or text, whose nodes are runs of consecutive ids
//! of one op (a list element is a run of one). See the [module docs](super) for the rules.
//!
//! A node's characters have no children of their own except the first (its left children) and
//! the last (its right children); the characters inside a run are each the right child of the
//! one before, implicitly. An op that needs a character inside a run as a parent splits the run
//! there: the tail becomes the only right child of the head, with the run's right origin, which
//! is exactly where the character-level tree has it.

use std::cmp::Ordering;

use smallvec::{smallvec, SmallVec};

use crate::OpId;

use super::{
    order::{Order, NIL},
    starts::Starts,
    Anchor, Id, SeqError,
};

mod codec;
#[cfg(test)]
mod slow;

/// What a node carries besides its ids: nothing for list positions, the characters for text.
pub(super) trait Content: Default {
    /// Cuts `self` after `at` items and returns the rest.
    fn split_off(&mut self, at: u32) -> Self;
    /// Puts `more` after `self`.
    fn append(&mut self, more: Self);
}

impl Content for () {
    fn split_off(&mut self, _at: u32) -> Self {}
    fn append(&mut self, _more: Self) {}
}

impl Content for String {
    fn append(&mut self, more: Self) {
        self.push_str(&more);
    }

    fn split_off(&mut self, at: u32) -> Self {
        let byte = self
            .char_indices()
            .nth(at as usize)
            .map_or(self.len(), |(b, _)| b);
        String::split_off(self, byte)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// A node's left or right children, in sibling order (most nodes have at most two).
type Kids = SmallVec<[usize; 2]>;

/// The index of the root node: the start of the list, with no id and no characters.
const ROOT: usize = 0;

#[derive(Debug, Clone)]
struct Node<C> {
    /// The id of the first character; the others are `id.offset + 1 ..`.
    id: Id,
    len: u32,
    content: C,
    visible: bool,
    parent: usize,
    side: Side,
    /// The right origin of the op that made the run (what orders right siblings).
    right_origin: Anchor,
    left: Kids,
    right: Kids,
}

/// A Fugue tree of runs with tombstones.
#[derive(Debug, Clone)]
pub(super) struct Tree<C> {
    nodes: Vec<Node<C>>,
    /// The node starting at each id.
    starts: Starts,
    visible_len: usize,
    /// Every node in list order, with visible counts.
    order: Order,
}

impl<C: Content> Default for Tree<C> {
    fn default() -> Self {
        Tree::new()
    }
}

impl<C: Content> Tree<C> {
    pub(super) fn new() -> Self {
        let root = Node {
            id: Id::zero(),
            len: 0,
            content: C::default(),
            visible: false,
            parent: ROOT,
            side: Side::Right,
            right_origin: Anchor::End,
            left: Kids::new(),
            right: Kids::new(),
        };
        Tree {
            nodes: vec![root],
            starts: Starts::default(),
            visible_len: 0,
            order: Order::new(),
        }
    }

    /// Gives op `from`'s runs the op id `to`, and names the items of the ops `rename` maps by
    /// their new ids in those runs' right origins: for a transaction's ops, made under pending
    /// ids, once its change is signed. The tree keeps its shape, which is the shape the
    /// renamed ops give only because an op generated locally never has a sibling when it is
    /// made (its parent and place follow from its origins alone); its runs' right origins are
    /// items of older ops or of ops renamed in the same call.
    pub(super) fn rename(&mut self, from: OpId, to: OpId, rename: &dyn Fn(OpId) -> Option<OpId>) {
        for (_, n) in self.starts.rename(from, to) {
            let node = &mut self.nodes[n as usize];
            node.id.op = to;
            if let Anchor::At(a) = &mut node.right_origin {
                if let Some(op) = rename(a.op) {
                    a.op = op;
                }
            }
        }
    }

    /// Extends the run whose last item is `last` by `len` items, as if its op had inserted them
    /// too, when that is exactly what inserting them right after `last` as a new op with right
    /// origin `right` would give in list order: `last` ends its op's last run, which is visible,
    /// has no right children, and was made with the right origin `right`. Returns whether it
    /// did (nothing changes otherwise). For a transaction that goes on typing where its last
    /// insert ended: one op, one run.
    pub(super) fn extend(&mut self, last: Id, right: Anchor, len: u32, content: C) -> bool {
        let Some(n) = self.find(last) else {
            return false;
        };
        let node = &self.nodes[n];
        let end = node.id.offset + node.len;
        let fits = last.offset + 1 == end
            && node.visible
            && node.right.is_empty()
            && node.right_origin == right
            && end.checked_add(len).is_some()
            && !self.starts.any_in(last.op, end, u32::MAX);
        if !fits || len == 0 {
            return false;
        }
        let node = &mut self.nodes[n];
        node.len += len;
        node.content.append(content);
        let new_len = node.len;
        self.visible_len += len as usize;
        self.order.set_own(n as u32, new_len);
        true
    }

    /// The number of visible items.
    pub(super) fn len(&self) -> usize {
        self.visible_len
    }

    /// The number of runs (nodes), tombstones included.
    pub(super) fn runs(&self) -> usize {
        self.nodes.len() - 1
    }

    fn find(&self, id: Id) -> Option<usize> {
        let (start, n) = self.starts.find(id)?;
        (id.offset < start + self.nodes[n].len).then_some(n)
    }

    /// Whether the item `id` is present, and if so whether it is visible.
    pub(super) fn visible(&self, id: Id) -> Option<bool> {
        self.find(id).map(|n| self.nodes[n].visible)
    }

    /// Splits node `n` after `at` items; returns the new node (the tail).
    fn split(&mut self, n: usize, at: u32) -> usize {
        let new = self.nodes.len();
        let node = &mut self.nodes[n];
        let tail = Node {
            id: Id {
                op: node.id.op,
                offset: node.id.offset + at,
            },
            len: node.len - at,
            content: node.content.split_off(at),
            visible: node.visible,
            parent: n,
            side: Side::Right,
            right_origin: node.right_origin,
            left: Kids::new(),
            right: std::mem::replace(&mut node.right, smallvec![new]),
        };
        node.len = at;
        for &c in &tail.right {
            self.nodes[c].parent = new;
        }
        self.starts.insert(tail.id, new);
        let visible = tail.visible;
        self.order.push(if visible { tail.len } else { 0 });
        self.nodes.push(tail);
        if visible {
            self.order.set_own(n as u32, at);
        }
        self.order.insert_after(n as u32, new as u32);
        new
    }

    /// The node that starts at `id`, splitting one if needed.
    fn split_at(&mut self, id: Id) -> Result<usize, SeqError> {
        let n = self.find(id).ok_or(SeqError::UnknownId(id))?;
        let start = self.nodes[n].id.offset;
        Ok(if id.offset > start {
            self.split(n, id.offset - start)
        } else {
            n
        })
    }

    /// The node that ends at `id`, splitting one if needed.
    fn split_after(&mut self, id: Id) -> Result<usize, SeqError> {
        let n = self.find(id).ok_or(SeqError::UnknownId(id))?;
        let node = &self.nodes[n];
        if id.offset + 1 < node.id.offset + node.len {
            self.split(n, id.offset + 1 - node.id.offset);
        }
        Ok(n)
    }

    /// Adds the run of `len` items `id, id+1, ..` that an op inserted between `left` and
    /// `right`, the neighbours its author saw (tombstones included).
    pub(super) fn insert(
        &mut self,
        id: Id,
        len: u32,
        content: C,
        left: Anchor,
        right: Anchor,
    ) -> Result<(), SeqError> {
        if len == 0 || id.offset.checked_add(len).is_none() {
            return Err(SeqError::Empty);
        }
        let end = Id {
            op: id.op,
            offset: id.offset + len - 1,
        };
        if self.find(id).is_some() || self.starts.any_in(id.op, id.offset, end.offset) {
            return Err(SeqError::Duplicate(id));
        }
        for anchor in [left, right] {
            if let Anchor::At(a) = anchor {
                self.find(a).ok_or(SeqError::UnknownId(a))?;
            }
        }
        if left == Anchor::End || right == Anchor::Start {
            return Err(SeqError::BadAnchor);
        }
        if let Anchor::At(a) = left {
            self.split_after(a)?;
        }
        let r = match right {
            Anchor::At(a) => Some(self.split_at(a)?),
            _ => None,
        };
        let l = match left {
            Anchor::At(a) => self.find(a).ok_or(SeqError::UnknownId(a))?,
            _ => ROOT,
        };
        // Left child of the right origin if that is the leftmost descendant of a right child
        // of the left origin (the right origin was the next item after the left origin, inside
        // its subtree); otherwise right child of the left origin.
        let (parent, side) = match r {
            Some(r) if self.in_right_subtree_leftmost(r, l) => (r, Side::Left),
            _ => (l, Side::Right),
        };
        let new = self.nodes.len();
        self.nodes.push(Node {
            id,
            len,
            content,
            visible: true,
            parent,
            side,
            right_origin: right,
            left: Kids::new(),
            right: Kids::new(),
        });
        self.starts.insert(id, new);
        self.visible_len += len as usize;
        let pos = match side {
            Side::Left => {
                let sibs = &self.nodes[parent].left;
                sibs.partition_point(|&s| self.nodes[s].id < id)
            }
            Side::Right => {
                let sibs = &self.nodes[parent].right;
                // FugueMax: right siblings in reverse order of their right origins, ties by id.
                sibs.iter()
                    .position(|&s| {
                        let sib = &self.nodes[s];
                        match self.cmp_anchor(right, sib.right_origin) {
                            Ordering::Greater => true,
                            Ordering::Equal => id < sib.id,
                            Ordering::Less => false,
                        }
                    })
                    .unwrap_or(sibs.len())
            }
        };
        // Its place in list order: next to a sibling's subtree, or to its parent.
        let node = &self.nodes[parent];
        self.order.push(len);
        match side {
            Side::Left if pos < node.left.len() => {
                let next = self.first_of(node.left[pos]);
                self.order.insert_before(next as u32, new as u32);
            }
            Side::Left => self.order.insert_before(parent as u32, new as u32),
            Side::Right if pos == 0 => self.order.insert_after(parent as u32, new as u32),
            Side::Right if pos < node.right.len() => {
                let next = self.first_of(node.right[pos]);
                self.order.insert_before(next as u32, new as u32);
            }
            Side::Right => {
                let prev = self.last_of(node.right[pos - 1]);
                self.order.insert_after(prev as u32, new as u32);
            }
        }
        let sibs = match side {
            Side::Left => &mut self.nodes[parent].left,
            Side::Right => &mut self.nodes[parent].right,
        };
        sibs.insert(pos, new);
        Ok(())
    }

    /// The first node of the subtree of `n` in list order.
    fn first_of(&self, mut n: usize) -> usize {
        while let Some(&c) = self.nodes[n].left.first() {
            n = c;
        }
        n
    }

    /// The last node of the subtree of `n` in list order.
    fn last_of(&self, mut n: usize) -> usize {
        while let Some(&c) = self.nodes[n].right.last() {
            n = c;
        }
        n
    }

    /// Whether node `r` is reached from a right child of `l` by left children only.
    fn in_right_subtree_leftmost(&self, r: usize, l: usize) -> bool {
        let mut cur = r;
        while cur != ROOT {
            let node = &self.nodes[cur];
            match node.side {
                Side::Left => cur = node.parent,
                Side::Right => return node.parent == l,
            }
        }
        false
    }

    /// The order of two anchors (right origins) in the list, tombstones included.
    fn cmp_anchor(&self, a: Anchor, b: Anchor) -> Ordering {
        match (a, b) {
            (Anchor::End, Anchor::End) | (Anchor::Start, Anchor::Start) => Ordering::Equal,
            (Anchor::End, _) | (_, Anchor::Start) => Ordering::Greater,
            (_, Anchor::End) | (Anchor::Start, _) => Ordering::Less,
            (Anchor::At(x), Anchor::At(y)) => match (self.find(x), self.find(y)) {
                (Some(nx), Some(ny)) if nx == ny => x.offset.cmp(&y.offset),
                (Some(nx), Some(ny)) => {
                    if self.node_before(nx, ny) {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                // Unreachable for ops applied through `insert`, which checks its anchors.
                _ => x.cmp(&y),
            },
        }
    }

    /// Whether node `a` comes before node `b` in list order.
    fn node_before(&self, a: usize, b: usize) -> bool {
        self.order.rank(a as u32).1 < self.order.rank(b as u32).1
    }

    /// The node after `n` in list order, if any.
    fn next_node(&self, n: usize) -> Option<usize> {
        let m = self.order.next(n as u32);
        (m != NIL).then_some(m as usize)
    }

    /// Visits every node in list order, tombstones included, from the first after `from`,
    /// until `f` returns false.
    fn walk_from(&self, from: usize, mut f: impl FnMut(usize) -> bool) {
        let mut n = from;
        while let Some(m) = self.next_node(n) {
            if !f(m) {
                return;
            }
            n = m;
        }
    }

    /// The visible runs in order: the first id, the length and the content of each.
    pub(super) fn for_each_visible(&self, mut f: impl FnMut(Id, u32, &C)) {
        self.walk_from(ROOT, |n| {
            let node = &self.nodes[n];
            if node.visible {
                f(node.id, node.len, &node.content);
            }
            true
        });
    }

    /// The first item of the node after `n` in list order, or the end.
    fn next_after_node(&self, n: usize) -> Anchor {
        self.next_node(n)
            .map_or(Anchor::End, |m| Anchor::At(self.nodes[m].id))
    }

    /// The origins of an insert at visible index `index`: the visible item before it (or the
    /// start) and the next item after that one, tombstones included (or the end).
    pub(super) fn origins_at(&self, index: usize) -> Result<(Anchor, Anchor), SeqError> {
        if index > self.visible_len {
            return Err(SeqError::OutOfRange {
                index,
                len: self.visible_len,
            });
        }
        if index == 0 {
            return Ok((Anchor::Start, self.next_after_node(ROOT)));
        }
        let (n, k) = self
            .order
            .select(index as u64 - 1)
            .ok_or(SeqError::OutOfRange {
                index,
                len: self.visible_len,
            })?;
        self.origins_after(self.nodes[n as usize].id.plus(k))
    }

    /// The origins of an insert right after item `id`.
    pub(super) fn origins_after(&self, id: Id) -> Result<(Anchor, Anchor), SeqError> {
        let n = self.find(id).ok_or(SeqError::UnknownId(id))?;
        let node = &self.nodes[n];
        let right = if id.offset + 1 < node.id.offset + node.len {
            Anchor::At(id.plus(1))
        } else {
            self.next_after_node(n)
        };
        Ok((Anchor::At(id), right))
    }

    /// The origins of an insert right before item `id`.
    pub(super) fn origins_before(&self, id: Id) -> Result<(Anchor, Anchor), SeqError> {
        let n = self.find(id).ok_or(SeqError::UnknownId(id))?;
        let node = &self.nodes[n];
        if id.offset > node.id.offset {
            return Ok((
                Anchor::At(Id {
                    op: id.op,
                    offset: id.offset - 1,
                }),
                Anchor::At(id),
            ));
        }
        let prev = self.order.prev(n as u32);
        let prev = if prev == NIL || prev as usize == ROOT {
            Anchor::Start
        } else {
            let node = &self.nodes[prev as usize];
            Anchor::At(node.id.plus(node.len - 1))
        };
        Ok((prev, Anchor::At(id)))
    }

    /// The visible index of item `id`, if it is visible.
    pub(super) fn index_of(&self, id: Id) -> Option<usize> {
        let n = self.find(id)?;
        if !self.nodes[n].visible {
            return None;
        }
        let before = self.order.rank(n as u32).0 as usize;
        Some(before + (id.offset - self.nodes[n].id.offset) as usize)
    }

    /// The visible items at indexes `index .. index + len`, as spans of consecutive ids.
    pub(super) fn spans(&self, index: usize, len: usize) -> Result<Vec<(Id, u32)>, SeqError> {
        let end = index.checked_add(len).filter(|&e| e <= self.visible_len);
        let end = end.ok_or(SeqError::OutOfRange {
            index: index.saturating_add(len),
            len: self.visible_len,
        })?;
        let mut out = Vec::new();
        let Some((first, k)) = self.order.select(index as u64).filter(|_| index < end) else {
            return Ok(out);
        };
        let (mut n, mut k, mut left) = (first as usize, k, end - index);
        loop {
            let node = &self.nodes[n];
            if node.visible {
                let take = ((node.len - k) as usize).min(left);
                out.push((node.id.plus(k), take as u32));
                left -= take;
            }
            if left == 0 {
                return Ok(out);
            }
            k = 0;
            n = self.next_node(n).ok_or(SeqError::OutOfRange {
                index: end,
                len: self.visible_len,
            })?;
        }
    }
    pub(super) fn set_visible(&mut self, id: Id, len: u32, visible: bool) -> Result<u32, SeqError> {
        let end = id.offset.checked_add(len).ok_or(SeqError::Empty)?;
        let mut cur = id.offset;
        while cur < end {
            let at = Id {
                op: id.op,
                offset: cur,
            };
            let n = self.find(at).ok_or(SeqError::UnknownId(at))?;
            cur = self.nodes[n].id.offset + self.nodes[n].len;
        }
        let (mut cur, mut changed) = (id.offset, 0);
        while cur < end {
            let n = self.split_at(Id {
                op: id.op,
                offset: cur,
            })?;
            if self.nodes[n].id.offset + self.nodes[n].len > end {
                self.split(n, end - cur);
            }
            let node = &mut self.nodes[n];
            if node.visible != visible {
                node.visible = visible;
                self.order
                    .set_own(n as u32, if visible { node.len } else { 0 });
                changed += node.len;
                if visible {
                    self.visible_len += node.len as usize;
                } else {
                    self.visible_len -= node.len as usize;
                }
            }
            cur += self.nodes[n].len;
        }
        Ok(changed)
    }
}
