//! Ordered lists and text: the algorithmic core. The ops that carry them are in
//! `change/op.rs`, a document's replicas in `seqdoc.rs`, a transaction's edits in `edit.rs`.
//!
//! # Data structures
//!
//! - [`Id`]: an item's id, `(op, offset)`: the op id of the insert (or move) that made it and
//!   its offset in that op's run (0 for a list position). [`Anchor`] is an id, the start or
//!   the end of the list.
//! - `tree::Tree`: one Fugue tree per list or text, with tombstones. Its nodes are *runs*:
//!   consecutive ids of one op. Only the first item of a run has left children and only the
//!   last has right children; the items inside a run are each, implicitly, the right child of
//!   the item before it. Runs are kept in a `Vec`, found by id through a hash map from each
//!   op to the first offsets of its runs (`starts::Starts`), and each keeps its left and right
//!   children in sibling order.
//! - `order::Order`: the tree's order-statistic index, every run in list order (tombstones
//!   and the start included) as a treap with parent links, each treap node summing the
//!   visible items and the runs below it. It answers item -> index, index -> item, previous
//!   and next run, and which of two runs comes first, without walking the Fugue tree.
//! - [`Text`]: a tree whose runs carry their characters (a `String` per run). An insert of a
//!   string is one op; its characters get the ids `(op, 0)`, `(op, 1)`, ... A later insert or
//!   delete inside a run *splits* it: the tail becomes the only right child of the head, with
//!   the run's right origin, which is where the per-character tree has it, so the split changes
//!   no order. Memory is per run (a node of 184 bytes, an order entry of 32 and a hash entry
//!   of about 60 per op, plus the characters), not per character: a string inserted by one op is one run until an edit
//!   inside it splits it. Runs of different ops never merge (their ids differ), so text typed
//!   one character per op costs a run per character: a transaction should insert what was
//!   typed as one string.
//! - [`Lists`]: a set of lists named by the caller's `L`, each a tree of *positions* (runs of
//!   one), and per element a last-writer-wins register over positions: its winning
//!   [`Stamp`], and that position's list.
//!
//! # Ordering: FugueMax
//!
//! The rules of FugueMax (M. Weidner and M. Kleppmann, *The Art of the Fugue: Minimizing
//! Interleaving in Collaborative Text Editing*, 2023, arXiv:2305.00583; its Fugue tree with
//! the sibling order of its FugueMax variant, which has maximal non-interleaving both forward
//! and backward):
//!
//! 1. **Origins.** An insert at visible index `i` names its *left origin*, the visible item at
//!    `i - 1` (or the start), and its *right origin*, the next item after the left origin in
//!    the list *including tombstones* (or the end). Inserting after item `x`: left `x`, right
//!    the next item; before `x`: right `x`, left the item before `x` (tombstones included).
//! 2. **Parent.** The new item is the *left child of its right origin* if the right origin is
//!    reached from a right child of the left origin through left children only (that is, it
//!    was the first item of the left origin's right subtree); otherwise it is the *right child
//!    of its left origin*. (Generated locally, this is the paper's rule: right child of the
//!    left origin if that had no right children, else left child of the leftmost descendant
//!    of its first right child.) The start is the root; a run of `n` characters is `n` items
//!    with origins `(left, right)`, `((op, 0), right)`, ..., `((op, n-2), right)`.
//! 3. **Siblings.** Left children of an item are ordered by id, ascending. Right children are
//!    ordered by their right origins in *reverse* list order (a right origin further right
//!    comes first; the end is furthest), ties by id ascending. This is what distinguishes
//!    FugueMax from Fugue (which orders all siblings by id).
//! 4. **Order.** The list is the in-order traversal: left children, the item, right children.
//!
//! Ids compare as `(op id, offset)`, op ids by `(change CID, index)`. The tree, and so the
//! order, depends only on the set of ops applied (in any causal order): an item's parent and
//! place among its siblings are fixed by items that existed before it, and the order of items
//! already present never changes. Two runs typed concurrently at one place never interleave.
//!
//! # Moves
//!
//! After M. Kleppmann, *Moving Elements in List CRDTs*, PaPoC 2020. An element's place is a
//! last-writer-wins register over positions. Inserting an element makes its first position
//! (id: the insert op); moving it makes a new position (id: the move op), inserted with
//! FugueMax into the target list (the same list or another one of the set), hidden. The
//! register's winner is the greatest [`Stamp`] `(height, author, op id)` among the element's
//! insert and moves, the rule of registers; the element is visible only at its winner's
//! position, so concurrent moves never duplicate or lose it. Losing and superseded positions
//! stay as tombstones that later inserts and moves can use as origins.
//!
//! **Move against delete: delete wins.** A deleted element is gone wherever it is or moves to,
//! whatever the order: a move of a deleted element still adds its (hidden) position and may
//! win the register, but the element stays invisible. There is no undelete.
//!
//! # Complexity
//!
//! `n` runs in a tree, `s` the siblings of a new item; the order index is a treap, so its
//! `O(log n)` bounds are expected ones (its priorities hash the run's slot, whatever the
//! edits). Finding a run by id is a hash lookup (and a search among the op's runs if splits
//! made several). Applying an insert: `O(1)` to find its origins (splitting a run is
//! `O(log n)`), `O(l)` to walk up the `l` left children above its right origin, `O(log n)`
//! to link it in the order index, and, only when the new item has siblings (concurrency),
//! `O(s log n)` to compare right origins and `O(h)` to walk down the `h` first left (or last
//! right) children of the sibling it lands next to. A delete: `O(log n)` per run touched.
//! Reads by index (`origins_at`, `spans`, `index_of`, [`Lists::find`]): `O(log n)`, plus
//! `O(k)` for `k` runs returned or skipped as tombstones. `origins_before`/`origins_after`:
//! `O(log n)`. `to_string` and [`Lists::elements`]: `O(n + chars)`, by stepping through the
//! order index. So typing a document of `n` ops costs `O(n log n)`: the automerge-paper
//! trace (260k one-character edits, `tests/it/traces.rs`) replays in about 0.3 s optimised.
//!
//! # Snapshots
//!
//! [`Text::encode`] and [`Lists::encode`] (for lists named by strings) write a replica as
//! bytes, and `decode` rebuilds it exactly, in `O(n)`: the runs in list order with their
//! parents, sides, right origins and characters, then the index built bottom-up and the
//! ops' runs collected, with every part checked (hostile bytes give
//! [`SeqError::BadSnapshot`], never a panic, and nothing larger than the input allows). The
//! form is in the `snapshot` module. A replica is then the snapshot plus the ops after it. A
//! text snapshot starts with the visible text, which [`Text::decode_string`] reads alone in
//! `O(characters)`, for a reader that needs no replica (no ops after the snapshot).
//!
//! # In the repo
//!
//! - Ops `lins`, `lmov`, `ldel`, `lset`, `tins`, `tdel` (see ARCHITECTURE.md, "A change"),
//!   their items `[link, index, offset]` or, within their own change, `[index, offset]`; a
//!   [`Stamp`] is filled from the change's height, author and the op id.
//! - Causality is the DAG's: an op's origins and element are in its change's past, so a
//!   change's ops apply after its parents'. Each op is applied once.
//! - Void changes are not applied: an op that names one of their items names an item its
//!   replica lacks and changes nothing, on every replica alike (`seqdoc.rs`).
//! - A transaction edits under pending ids and renames them when its change is signed
//!   ([`Text::rename`], [`Lists::rename`]); typing on where its last insert ended grows that
//!   insert ([`Text::extend`]).
//! - State: one snapshot per document (above) and the changes after it (`seqdoc.rs`).

mod list;
mod order;
mod snapshot;
mod starts;
mod text;
mod tree;

#[cfg(test)]
mod tests;

pub use list::{ListOp, Lists};
pub use text::{Text, TextOp};

use crate::{Author, Cid, Codec, OpId};

/// The id of one item: the op that made it and its offset in that op's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    /// The insert or move op.
    pub op: OpId,
    /// The item's offset in the op's run (0 for a list position).
    pub offset: u32,
}

impl Id {
    /// The first (for a list position, the only) item of `op`.
    pub fn of(op: OpId) -> Id {
        Id { op, offset: 0 }
    }

    /// The item `n` after this one in the same run (saturating: no run reaches `u32::MAX`).
    pub fn plus(self, n: u32) -> Id {
        Id {
            op: self.op,
            offset: self.offset.saturating_add(n),
        }
    }

    /// An id no op has (the tree's root).
    pub(crate) fn zero() -> Id {
        Id::of(OpId {
            change: Cid::from_digest(Codec::Raw, [0; 32]),
            index: 0,
        })
    }
}

/// A neighbour an insert names: an item, or the start or end of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// Before every item.
    Start,
    /// An item (for a list, a position).
    At(Id),
    /// After every item.
    End,
}

/// Consecutive items `start, start + 1, .. start + len - 1` of one op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// The first item.
    pub start: Id,
    /// At least 1.
    pub len: u32,
}

/// What orders the insert and moves of one element, compared as the tuple
/// `(height, author, op)`: the rule of registers. The caller fills it from the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stamp {
    /// The change's height.
    pub height: u64,
    /// The change's author.
    pub author: Author,
    /// The op's id: the element's id for an insert, the new position's for a move.
    pub op: OpId,
}

/// Why an op or a local edit was refused. Nothing changes when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeqError {
    /// The op names an item not present: it arrived before an op it depends on.
    #[error("unknown item {0:?}")]
    UnknownId(Id),
    /// The op names an element never inserted.
    #[error("unknown element {0:?}")]
    UnknownElement(OpId),
    /// The op's items are already present.
    #[error("item {0:?} already present")]
    Duplicate(Id),
    /// A left origin at the end or a right origin at the start.
    #[error("left origin at the end or right origin at the start")]
    BadAnchor,
    /// An insert of nothing, or too long a run.
    #[error("empty or oversized run")]
    Empty,
    /// Snapshot bytes that [`Text::decode`] or [`Lists::decode`] cannot read.
    #[error("bad snapshot: {0}")]
    BadSnapshot(&'static str),
    /// An index beyond the visible length.
    #[error("index {index} beyond the length {len}")]
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// The visible length.
        len: usize,
    },
}
