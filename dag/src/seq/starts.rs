//! Where each run of a tree starts: per op, the first offset and node of each of its runs,
//! sorted by offset. An op's runs are usually one (a split makes more), so finding the run of
//! an item is a hash lookup and a short search.

use std::collections::HashMap;

use smallvec::SmallVec;

use super::Id;
use crate::OpId;

/// The runs of each op: `(first offset, node)`, by offset. Hashed as `weft_store::CidMap`
/// hashes CIDs (fast, a random seed per map; an op id is mostly a BLAKE3 digest).
#[derive(Debug, Clone, Default)]
pub(super) struct Starts {
    map: HashMap<OpId, SmallVec<[(u32, u32); 1]>, foldhash::fast::RandomState>,
}

impl Starts {
    pub(super) fn with_capacity(n: usize) -> Self {
        Starts {
            map: HashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    /// The run starting at or before `id` in its op, as `(first offset, node)`.
    pub(super) fn find(&self, id: Id) -> Option<(u32, usize)> {
        let runs = self.map.get(&id.op)?;
        let i = runs.partition_point(|&(o, _)| o <= id.offset);
        let (o, n) = *runs.get(i.checked_sub(1)?)?;
        Some((o, n as usize))
    }

    /// Whether a run of `op` starts at an offset in `lo ..= hi`.
    pub(super) fn any_in(&self, op: OpId, lo: u32, hi: u32) -> bool {
        self.map
            .get(&op)
            .is_some_and(|runs| runs.iter().any(|&(o, _)| lo <= o && o <= hi))
    }

    /// Records that node `n` starts at `id`.
    pub(super) fn insert(&mut self, id: Id, n: usize) {
        let runs = self.map.entry(id.op).or_default();
        let i = runs.partition_point(|&(o, _)| o < id.offset);
        runs.insert(i, (id.offset, n as u32));
    }

    /// Records that node `n` starts at `id`, after every run of its op recorded so far (a
    /// decoder's fast path); false if it does not start after the end of the last one
    /// (`end` gives a node's end offset).
    pub(super) fn push(&mut self, id: Id, n: usize, end: impl Fn(usize) -> u32) -> bool {
        let runs = self.map.entry(id.op).or_default();
        if runs
            .last()
            .is_some_and(|&(_, m)| end(m as usize) > id.offset)
        {
            return false;
        }
        runs.push((id.offset, n as u32));
        true
    }

    /// Moves the runs of op `from` to op `to` (see [`super::tree::Tree::rename`]); returns
    /// their nodes.
    pub(super) fn rename(&mut self, from: OpId, to: OpId) -> SmallVec<[(u32, u32); 1]> {
        match self.map.remove(&from) {
            Some(runs) => {
                self.map.insert(to, runs.clone());
                runs
            }
            None => SmallVec::new(),
        }
    }
}
