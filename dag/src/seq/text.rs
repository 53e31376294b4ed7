//! Text: a sequence of Unicode scalar values kept as runs. See the [module docs](super).

use std::fmt;

use super::{tree::Tree, Anchor, Id, SeqError, Span};
use crate::OpId;

/// An op on a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextOp {
    /// `text` goes between `left` and `right`; its characters get the ids `(op, 0)`,
    /// `(op, 1)`, ... in order.
    Insert {
        /// The op's id.
        op: OpId,
        /// The character before it that its author saw, or the start.
        left: Anchor,
        /// The character after `left` that its author saw (tombstones included), or the end.
        right: Anchor,
        /// At least one character.
        text: String,
    },
    /// The characters of these spans are deleted (they stay as tombstones).
    Delete {
        /// Runs of consecutive ids.
        spans: Vec<Span>,
    },
}

/// A text replica.
#[derive(Debug, Clone, Default)]
pub struct Text {
    tree: Tree<String>,
}

impl Text {
    pub(super) fn tree(&self) -> &Tree<String> {
        &self.tree
    }

    pub(super) fn from_tree(tree: Tree<String>) -> Self {
        Text { tree }
    }

    /// An empty text.
    pub fn new() -> Self {
        Text::default()
    }

    /// Applies an op, from here or elsewhere, in causal order (after every op whose characters
    /// it names); each op once.
    pub fn apply(&mut self, op: &TextOp) -> Result<(), SeqError> {
        match op {
            TextOp::Insert {
                op,
                left,
                right,
                text,
            } => {
                let len = u32::try_from(text.chars().count()).map_err(|_| SeqError::Empty)?;
                self.tree
                    .insert(Id::of(*op), len, text.clone(), *left, *right)
            }
            TextOp::Delete { spans } => {
                for span in spans {
                    // Checked first, so an unknown id changes nothing.
                    for at in [span.start, span.start.plus(span.len.saturating_sub(1))] {
                        self.tree.visible(at).ok_or(SeqError::UnknownId(at))?;
                    }
                }
                for span in spans {
                    self.tree.set_visible(span.start, span.len, false)?;
                }
                Ok(())
            }
        }
    }

    /// Inserts `text` at character index `index`; returns the op to send.
    pub fn insert(&mut self, op: OpId, index: usize, text: &str) -> Result<TextOp, SeqError> {
        if text.is_empty() {
            return Err(SeqError::Empty);
        }
        let (left, right) = self.tree.origins_at(index)?;
        let op = TextOp::Insert {
            op,
            left,
            right,
            text: text.to_string(),
        };
        self.apply(&op)?;
        Ok(op)
    }

    /// Deletes `len` characters from character index `index`; returns the op to send.
    pub fn delete(&mut self, index: usize, len: usize) -> Result<TextOp, SeqError> {
        let spans = self.tree.spans(index, len)?;
        let op = TextOp::Delete {
            spans: spans
                .into_iter()
                .map(|(start, len)| Span { start, len })
                .collect(),
        };
        self.apply(&op)?;
        Ok(op)
    }

    /// The origins for an insert at character index `index`.
    pub fn origins_at(&self, index: usize) -> Result<(Anchor, Anchor), SeqError> {
        self.tree.origins_at(index)
    }

    /// The origins for an insert right after character `id` (visible or not).
    pub fn origins_after(&self, id: Id) -> Result<(Anchor, Anchor), SeqError> {
        self.tree.origins_after(id)
    }

    /// The origins for an insert right before character `id` (visible or not).
    pub fn origins_before(&self, id: Id) -> Result<(Anchor, Anchor), SeqError> {
        self.tree.origins_before(id)
    }

    /// Renames ops: each `(from, to)` of `pairs` gives the characters of `from` the op id `to`
    /// (see [`Lists::rename`](super::Lists::rename) for when this is right).
    pub fn rename(&mut self, pairs: &[(OpId, OpId)]) {
        let table: std::collections::HashMap<OpId, OpId> = pairs.iter().copied().collect();
        let map = |op: OpId| table.get(&op).copied();
        for (from, to) in pairs {
            self.tree.rename(*from, *to, &map);
        }
    }

    /// Inserts `text` at character index `index` as more characters of the insert whose last
    /// character is `last`, if that gives the same text and the same future as a new insert op
    /// there would (see the tree's `extend`): that insert's op then carries `text` too. Returns
    /// whether it did (nothing changes otherwise).
    pub fn extend(&mut self, last: Id, index: usize, text: &str) -> bool {
        let Ok((left, right)) = self.tree.origins_at(index) else {
            return false;
        };
        let Ok(len) = u32::try_from(text.chars().count()) else {
            return false;
        };
        left == Anchor::At(last) && self.tree.extend(last, right, len, text.to_string())
    }

    /// The number of characters (Unicode scalar values).
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.tree.len() == 0
    }

    /// The number of runs kept, tombstones included: the memory is per run.
    pub fn runs(&self) -> usize {
        self.tree.runs()
    }

    /// The character index of character `id`, if it is visible.
    pub fn index_of(&self, id: Id) -> Option<usize> {
        self.tree.index_of(id)
    }

    /// The ids of the characters at `index .. index + len`, as spans.
    pub fn spans(&self, index: usize, len: usize) -> Result<Vec<Span>, SeqError> {
        let spans = self.tree.spans(index, len)?;
        Ok(spans
            .into_iter()
            .map(|(start, len)| Span { start, len })
            .collect())
    }

    /// Checks the tree's order index against a walk of the tree.
    #[cfg(test)]
    pub(super) fn check_index(&self) -> Result<(), String> {
        self.tree.check_index()
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Ok(());
        self.tree.for_each_visible(|_, _, s| {
            if out.is_ok() {
                out = f.write_str(s);
            }
        });
        out
    }
}
