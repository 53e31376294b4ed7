//! A naive model for the tests: the order rebuilt from the whole op set, one item per
//! character, by a plain recursive walk of the Fugue tree. No runs, no splits, no indexes.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::super::{Anchor, Id, ListOp, Stamp, TextOp};
use crate::OpId;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Left,
    Right,
}

/// The whole order, tombstones included, of single items given in a causal order with their
/// origins.
pub(super) fn order(items: &[(Id, Anchor, Anchor)]) -> Vec<Id> {
    let mut parent: HashMap<Id, (Option<Id>, Side)> = HashMap::new();
    let mut kids: HashMap<Option<Id>, Vec<(Id, Side)>> = HashMap::new();
    let mut right_origin: HashMap<Id, Anchor> = HashMap::new();
    let mut order: Vec<Id> = Vec::new();
    for &(id, left, right) in items {
        let l = match left {
            Anchor::At(x) => Some(x),
            _ => None,
        };
        // Left child of the right origin iff it is the first item of a right subtree of the
        // left origin.
        let mut place = (l, Side::Right);
        if let Anchor::At(r) = right {
            let mut cur = r;
            loop {
                let (p, side) = parent[&cur];
                match (side, p) {
                    (Side::Left, Some(p)) => cur = p,
                    (Side::Left, None) => break,
                    (Side::Right, p) => {
                        if p == l {
                            place = (Some(r), Side::Left);
                        }
                        break;
                    }
                }
            }
        }
        parent.insert(id, place);
        kids.entry(place.0).or_default().push((id, place.1));
        right_origin.insert(id, right);
        let pos: HashMap<Id, usize> = order.iter().enumerate().map(|(i, &x)| (x, i)).collect();
        let key = |a: &Anchor| match a {
            Anchor::At(x) => pos[x],
            _ => usize::MAX,
        };
        order.clear();
        walk(None, &kids, &right_origin, &key, &mut order);
    }
    order
}

fn walk(
    node: Option<Id>,
    kids: &HashMap<Option<Id>, Vec<(Id, Side)>>,
    right_origin: &HashMap<Id, Anchor>,
    key: &dyn Fn(&Anchor) -> usize,
    out: &mut Vec<Id>,
) {
    let all = kids.get(&node).cloned().unwrap_or_default();
    let mut left: Vec<Id> = all
        .iter()
        .filter(|k| k.1 == Side::Left)
        .map(|k| k.0)
        .collect();
    let mut right: Vec<Id> = all
        .iter()
        .filter(|k| k.1 == Side::Right)
        .map(|k| k.0)
        .collect();
    left.sort();
    right.sort_by(|a, b| {
        let (ka, kb) = (key(&right_origin[a]), key(&right_origin[b]));
        kb.cmp(&ka).then(a.cmp(b))
    });
    for c in left {
        walk(Some(c), kids, right_origin, key, out);
    }
    if let Some(n) = node {
        out.push(n);
    }
    for c in right {
        walk(Some(c), kids, right_origin, key, out);
    }
}

/// The text that `ops` (in a causal order) give.
pub(super) fn text(ops: &[TextOp]) -> String {
    let (mut items, mut chars, mut deleted) = (Vec::new(), HashMap::new(), HashSet::new());
    for op in ops {
        match op {
            TextOp::Insert {
                op,
                left,
                right,
                text,
            } => {
                for (i, c) in text.chars().enumerate() {
                    let id = Id {
                        op: *op,
                        offset: i as u32,
                    };
                    let l = if i == 0 {
                        *left
                    } else {
                        Anchor::At(Id {
                            op: *op,
                            offset: i as u32 - 1,
                        })
                    };
                    items.push((id, l, *right));
                    chars.insert(id, c);
                }
            }
            TextOp::Delete { spans } => {
                for s in spans {
                    for k in 0..s.len {
                        deleted.insert(s.start.plus(k));
                    }
                }
            }
        }
    }
    order(&items)
        .into_iter()
        .filter(|id| !deleted.contains(id))
        .map(|id| chars[&id])
        .collect()
}

/// The visible elements of each list that `ops` (in a causal order) give.
pub(super) fn lists(ops: &[ListOp<u8>]) -> BTreeMap<u8, Vec<OpId>> {
    let mut items: BTreeMap<u8, Vec<(Id, Anchor, Anchor)>> = BTreeMap::new();
    let mut element_of: HashMap<OpId, OpId> = HashMap::new();
    let mut winner: HashMap<OpId, Stamp> = HashMap::new();
    let mut deleted = HashSet::new();
    for op in ops {
        match op {
            ListOp::Insert {
                stamp,
                list,
                left,
                right,
            } => {
                items
                    .entry(*list)
                    .or_default()
                    .push((Id::of(stamp.op), *left, *right));
                element_of.insert(stamp.op, stamp.op);
                winner.insert(stamp.op, *stamp);
            }
            ListOp::Move {
                stamp,
                element,
                list,
                left,
                right,
            } => {
                items
                    .entry(*list)
                    .or_default()
                    .push((Id::of(stamp.op), *left, *right));
                element_of.insert(stamp.op, *element);
                let w = winner.entry(*element).or_insert(*stamp);
                *w = (*w).max(*stamp);
            }
            ListOp::Delete { element } => {
                deleted.insert(*element);
            }
        }
    }
    items
        .into_iter()
        .map(|(list, items)| {
            let visible = order(&items)
                .into_iter()
                .filter_map(|pos| {
                    let e = element_of[&pos.op];
                    (winner[&e].op == pos.op && !deleted.contains(&e)).then_some(e)
                })
                .collect();
            (list, visible)
        })
        .collect()
}
