//! A tree in a snapshot: its runs in list order (see the [snapshot form](crate::seq::snapshot)).

use super::{Content, Kids, Node, Order, Side, Starts, Tree, ROOT};
use crate::seq::{
    snapshot::{Reader, Writer},
    Anchor, Id, SeqError,
};

const VISIBLE: u8 = 1;
const RIGHT: u8 = 2;
const ORIGIN_END: u8 = 1 << 2;
const ORIGIN_AT: u8 = 2 << 2;
const ORIGIN: u8 = 3 << 2;
const CONTINUES: u8 = 1 << 4;

fn bad(why: &'static str) -> SeqError {
    SeqError::BadSnapshot(why)
}

/// What a run carries, in a snapshot.
pub(in crate::seq) trait Snap: Content + Sized {
    fn write(&self, w: &mut Writer);
    /// The content of a run of `len` items.
    fn read(r: &mut Reader<'_>, len: u32) -> Result<Self, SeqError>;
}

impl Snap for () {
    fn write(&self, _: &mut Writer) {}

    fn read(_: &mut Reader<'_>, _: u32) -> Result<Self, SeqError> {
        Ok(())
    }
}

impl Snap for String {
    fn write(&self, w: &mut Writer) {
        w.bytes(self.as_bytes());
    }

    fn read(r: &mut Reader<'_>, len: u32) -> Result<Self, SeqError> {
        let s = std::str::from_utf8(r.bytes()?).map_err(|_| bad("text not UTF-8"))?;
        if s.chars().count() != len as usize {
            return Err(bad("text not the run's length"));
        }
        Ok(s.to_string())
    }
}

impl<C: Snap> Tree<C> {
    /// Writes the runs in list order.
    pub(in crate::seq) fn encode(&self, w: &mut Writer) {
        let mut order = vec![ROOT];
        self.walk_from(ROOT, |n| {
            order.push(n);
            true
        });
        let mut place = vec![0u64; self.nodes.len()];
        for (i, &n) in order.iter().enumerate() {
            place[n] = i as u64;
        }
        w.num(order.len() as u64 - 1);
        let mut prev: Option<(Id, u32)> = None;
        for (i, &n) in order.iter().enumerate().skip(1) {
            let node = &self.nodes[n];
            let continues = prev.is_some_and(|(id, len)| {
                id.op == node.id.op && id.offset.checked_add(len) == Some(node.id.offset)
            });
            let mut flags = if node.visible { VISIBLE } else { 0 };
            if node.side == Side::Right {
                flags |= RIGHT;
            }
            flags |= match node.right_origin {
                Anchor::Start => 0,
                Anchor::End => ORIGIN_END,
                Anchor::At(_) => ORIGIN_AT,
            };
            if continues {
                flags |= CONTINUES;
            }
            w.byte(flags);
            w.num((i as u64).abs_diff(place[node.parent]));
            if !continues {
                w.id(node.id);
            }
            w.num(u64::from(node.len));
            if let Anchor::At(a) = node.right_origin {
                // The run that holds it now, by its distance in list order, and the offset.
                let m = self.find(a).unwrap_or(ROOT);
                let (at, m) = (place[m] as i64, &self.nodes[m]);
                let d = at - i as i64;
                w.num(((d << 1) ^ (d >> 63)) as u64);
                w.num(u64::from(a.offset.saturating_sub(m.id.offset)));
            }
            node.content.write(w);
            prev = Some((node.id, node.len));
        }
    }

    /// Reads what [`Tree::encode`] wrote, checking it is a tree whose order is the one read.
    pub(in crate::seq) fn decode(r: &mut Reader<'_>) -> Result<Self, SeqError> {
        // A node takes at least three bytes: flags, parent, length.
        let count = r.count(3)?;
        let mut tree = Tree::new();
        tree.nodes.reserve_exact(count);
        let mut prev: Option<(Id, u32)> = None;
        // The right origins, as (node, offset), resolved once every node is read.
        let mut origins: Vec<(usize, usize, u32)> = Vec::new();
        for i in 1..=count {
            let flags = r.byte()?;
            if flags & !(VISIBLE | RIGHT | ORIGIN | CONTINUES) != 0 {
                return Err(bad("unknown flags"));
            }
            let distance = usize::try_from(r.num()?).map_err(|_| bad("parent"))?;
            let (side, parent) = if flags & RIGHT != 0 {
                (Side::Right, i.checked_sub(distance))
            } else {
                (Side::Left, i.checked_add(distance).filter(|&p| p <= count))
            };
            let parent = parent.filter(|_| distance > 0).ok_or(bad("parent"))?;
            if parent == ROOT && side == Side::Left {
                return Err(bad("a left child of the start"));
            }
            let id = if flags & CONTINUES != 0 {
                let (id, len) = prev.ok_or(bad("no run to continue"))?;
                Id {
                    op: id.op,
                    offset: id.offset.checked_add(len).ok_or(bad("offset"))?,
                }
            } else {
                r.id()?
            };
            let len = r.num32()?;
            if len == 0 || id.offset.checked_add(len).is_none() {
                return Err(bad("run length"));
            }
            let right_origin = match flags & ORIGIN {
                ORIGIN_END => Anchor::End,
                ORIGIN_AT => {
                    let z = r.num()?;
                    let d = (z >> 1) as i64 ^ -((z & 1) as i64);
                    let at = (i as i64)
                        .checked_add(d)
                        .filter(|&a| a > 0 && a as u64 <= count as u64);
                    let at = at.ok_or(bad("right origin"))? as usize;
                    origins.push((i, at, r.num32()?));
                    Anchor::End
                }
                _ => return Err(bad("right origin")),
            };
            let content = C::read(r, len)?;
            tree.nodes.push(Node {
                id,
                len,
                content,
                visible: flags & VISIBLE != 0,
                parent,
                side,
                right_origin,
                left: Kids::new(),
                right: Kids::new(),
            });
            prev = Some((id, len));
        }
        // Children in list order: the sibling order.
        for i in 1..tree.nodes.len() {
            let (parent, side) = (tree.nodes[i].parent, tree.nodes[i].side);
            match side {
                Side::Left => tree.nodes[parent].left.push(i),
                Side::Right => tree.nodes[parent].right.push(i),
            }
        }
        tree.check_shape()?;
        // The items of one op are in list order (each the right child of the one before),
        // so its runs come in order of offset, each after the end of the one before.
        let mut starts = Starts::with_capacity(count);
        let nodes = &tree.nodes;
        for (i, node) in nodes.iter().enumerate().skip(1) {
            if !starts.push(node.id, i, |m| nodes[m].id.offset + nodes[m].len) {
                return Err(bad("runs overlap or out of order"));
            }
        }
        tree.starts = starts;
        for (i, at, offset) in origins {
            let m = &tree.nodes[at];
            if offset >= m.len {
                return Err(bad("right origin"));
            }
            tree.nodes[i].right_origin = Anchor::At(m.id.plus(offset));
        }
        for node in &tree.nodes {
            let ids = node.left.iter().map(|&c| tree.nodes[c].id);
            if !ids.clone().zip(ids.skip(1)).all(|(a, b)| a < b) {
                return Err(bad("left children out of order"));
            }
        }
        let owns: Vec<u32> = tree
            .nodes
            .iter()
            .map(|n| if n.visible { n.len } else { 0 })
            .collect();
        let visible: u64 = owns.iter().map(|&o| u64::from(o)).sum();
        tree.visible_len = usize::try_from(visible).map_err(|_| bad("too long"))?;
        let order: Vec<u32> = (0..tree.nodes.len() as u32).collect();
        tree.order = Order::build(&order, &owns);
        Ok(tree)
    }

    /// Checks that the in-order traversal from the root visits every node, in index order.
    fn check_shape(&self) -> Result<(), SeqError> {
        // (node, visiting its right children, next child)
        let mut stack: Vec<(usize, bool, usize)> = vec![(ROOT, false, 0)];
        let mut next = 0;
        while let Some(top) = stack.last_mut() {
            let (n, right, i) = *top;
            let node = &self.nodes[n];
            let kids = if right { &node.right } else { &node.left };
            if i < kids.len() {
                top.2 += 1;
                stack.push((kids[i], false, 0));
            } else if !right {
                *top = (n, true, 0);
                if n != next {
                    return Err(bad("the tree is not in list order"));
                }
                next += 1;
            } else {
                stack.pop();
            }
        }
        if next != self.nodes.len() {
            return Err(bad("nodes out of the tree"));
        }
        Ok(())
    }

    /// Whether every run is a single item at offset 0 (a list position).
    pub(in crate::seq) fn positions_only(&self) -> bool {
        self.nodes[1..]
            .iter()
            .all(|n| n.len == 1 && n.id.offset == 0)
    }

    /// Visits the first id of every run, in no particular order.
    pub(in crate::seq) fn for_each_node(&self, mut f: impl FnMut(Id)) {
        for node in &self.nodes[1..] {
            f(node.id);
        }
    }
}
