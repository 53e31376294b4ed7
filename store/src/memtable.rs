//! The memtable: keyspace writes not yet checkpointed into the backend.
//!
//! A batch's keyspace writes land here when it commits; readers look here first and then in the
//! backend. A checkpoint hands the whole table to the backend in one atomic batch (with the log
//! position it covers) and empties it. Writes to one key coalesce: a head replaced a thousand
//! times between two checkpoints reaches the backend once.

use std::{collections::BTreeMap, ops::Bound};

use crate::backend::{RawBatch, RawOp};

/// A pending write: a value, or a deletion that hides the backend's value.
pub(crate) type Slot = Option<Box<[u8]>>;

/// Bytes of bookkeeping charged per entry on top of its key and value (a B-tree slot and two
/// boxes), so that many small entries count for what they cost.
const ENTRY_OVERHEAD: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Memtable {
    /// Each write, and whether its key is *fresh*: written for the first time ever since the
    /// last checkpoint (so the database cannot hold it, and a deletion of it leaves nothing).
    map: BTreeMap<Box<[u8]>, (Slot, bool)>,
    /// About how many bytes the table holds.
    bytes: usize,
    /// Whether a write to a keyspace that replay cannot rebuild is in the table.
    pub(crate) holds_kept: bool,
}

fn cost(key: &[u8], slot: &Slot) -> usize {
    key.len() + slot.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD
}

impl Memtable {
    /// `Some(slot)` if the table has a write for `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Slot> {
        self.map.get(key).map(|(slot, _)| slot)
    }

    /// Whether `key` was written fresh (see [`Memtable::insert`]).
    pub(crate) fn is_fresh(&self, key: &[u8]) -> bool {
        self.map.get(key).is_some_and(|(_, fresh)| *fresh)
    }

    /// Records a write; `fresh` says the key was never written before (see the field docs).
    pub(crate) fn insert(&mut self, key: Vec<u8>, slot: Slot, fresh: bool) {
        let add = cost(&key, &slot);
        let key_len = key.len();
        if let Some((old, _)) = self.map.insert(key.into_boxed_slice(), (slot, fresh)) {
            // The key and its slot were counted already: only the value changed.
            self.bytes -= cost(&[], &old) - ENTRY_OVERHEAD;
            self.bytes += add - key_len - ENTRY_OVERHEAD;
        } else {
            self.bytes += add;
        }
    }

    /// Forgets the write of `key`, as if it never happened.
    pub(crate) fn remove(&mut self, key: &[u8]) {
        if let Some((old, _)) = self.map.remove(key) {
            self.bytes -= cost(key, &old);
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
        self.holds_kept = false;
    }

    /// Every write, as a backend batch.
    pub(crate) fn to_raw(&self) -> RawBatch {
        RawBatch {
            ops: self
                .map
                .iter()
                .map(|(k, (v, _))| match v {
                    Some(v) => RawOp::Put(k.to_vec(), v.to_vec()),
                    None => RawOp::Delete(k.to_vec()),
                })
                .collect(),
        }
    }

    /// Up to `n` writes in the range, ascending (or descending when `reverse`).
    pub(crate) fn chunk(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        n: usize,
    ) -> Vec<(Vec<u8>, Slot)> {
        if crate::memory::ranges_empty(&(lower, upper)) {
            return Vec::new();
        }
        let range = self.map.range::<[u8], _>((lower, upper));
        if reverse {
            range
                .rev()
                .take(n)
                .map(|(k, (v, _))| (k.to_vec(), v.clone()))
                .collect()
        } else {
            range
                .take(n)
                .map(|(k, (v, _))| (k.to_vec(), v.clone()))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_a_value_keeps_the_byte_count_right() {
        let mut m = Memtable::default();
        m.insert(b"key".to_vec(), Some(vec![0; 10].into()), false);
        let one = m.bytes();
        assert_eq!(one, 3 + 10 + ENTRY_OVERHEAD);
        m.insert(b"key".to_vec(), Some(vec![0; 4].into()), true);
        assert!(m.is_fresh(b"key"));
        assert_eq!(m.bytes(), 3 + 4 + ENTRY_OVERHEAD);
        m.insert(b"key".to_vec(), None, false);
        assert_eq!(m.bytes(), 3 + ENTRY_OVERHEAD);
        m.insert(b"other".to_vec(), None, false);
        assert_eq!(m.bytes(), 3 + 5 + 2 * ENTRY_OVERHEAD);
        assert_eq!(m.len(), 2);
        m.clear();
        assert_eq!(m.bytes(), 0);
        assert!(m.is_empty());
    }
}
