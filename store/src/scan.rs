//! Scans of a keyspace: the memtable and the database merged in key order ([`MergeScan`]),
//! restarted where they were when a checkpoint moves entries from one to the other.

use std::{collections::VecDeque, ops::Bound, sync::atomic::Ordering};

use crate::{
    backend::{Entry, EntryIter},
    error::Error,
    layout::Keyspace,
    memtable::Slot,
    store::{full_key, Store},
    sync_util::read,
};

impl Store {
    /// Iterates the entries of `ks` whose key starts with `prefix`, ascending. Keys are returned
    /// without the keyspace tag.
    pub fn scan_prefix(
        &self,
        ks: Keyspace,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + Send + 'static {
        self.scan(ks, prefix, false)
    }

    /// Like [`scan_prefix`](Store::scan_prefix), descending.
    pub fn scan_prefix_rev(
        &self,
        ks: Keyspace,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + Send + 'static {
        self.scan(ks, prefix, true)
    }

    fn scan(
        &self,
        ks: Keyspace,
        prefix: &[u8],
        reverse: bool,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + Send + 'static {
        let start = full_key(ks, prefix);
        let upper = match prefix_end(&start) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        MergeScan::new(self.clone(), Bound::Included(start), upper, reverse).map(|r| {
            r.map(|(mut k, v)| {
                k.remove(0);
                (k, v)
            })
        })
    }
}

/// The smallest key greater than every key that starts with `prefix`, if any.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A scan over the memtable and the database together: the memtable's writes win, its
/// deletions hide. Neither side is read whole: the memtable a chunk at a time, the database
/// through its own lazy iterator.
struct MergeScan {
    store: Store,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    generation: u64,
    backend: EntryIter<'static>,
    backend_peek: Option<Entry>,
    backend_done: bool,
    mem: VecDeque<(Vec<u8>, Slot)>,
    mem_from: Bound<Vec<u8>>,
    mem_done: bool,
    /// The last key returned: everything from here on lies beyond it.
    last: Option<Vec<u8>>,
}

/// How many memtable entries a scan copies out per lock.
const MEM_CHUNK: usize = 64;

impl MergeScan {
    fn new(store: Store, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>, reverse: bool) -> MergeScan {
        let generation = store.inner.generation.load(Ordering::SeqCst);
        let backend = store.backend().scan(lower.clone(), upper.clone(), reverse);
        let mem_from = if reverse {
            upper.clone()
        } else {
            lower.clone()
        };
        MergeScan {
            store,
            lower,
            upper,
            reverse,
            generation,
            backend,
            backend_peek: None,
            backend_done: false,
            mem: Default::default(),
            mem_from,
            mem_done: false,
            last: None,
        }
    }

    /// The range still to read: beyond the last key returned.
    fn rest(&self) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        match (&self.last, self.reverse) {
            (None, _) => (self.lower.clone(), self.upper.clone()),
            (Some(k), false) => (Bound::Excluded(k.clone()), self.upper.clone()),
            (Some(k), true) => (self.lower.clone(), Bound::Excluded(k.clone())),
        }
    }

    /// Starts both sides again from the last key returned (entries moved from the memtable to
    /// the database behind the scan's back).
    fn restart(&mut self) {
        let (lower, upper) = self.rest();
        self.backend = self
            .store
            .backend()
            .scan(lower.clone(), upper.clone(), self.reverse);
        self.backend_peek = None;
        self.backend_done = false;
        self.mem.clear();
        self.mem_from = if self.reverse { upper } else { lower };
        self.mem_done = false;
    }

    fn refill_mem(&mut self) {
        let mem = read(&self.store.inner.mem);
        let (lower, upper) = if self.reverse {
            (bound_ref(&self.lower), bound_ref(&self.mem_from))
        } else {
            (bound_ref(&self.mem_from), bound_ref(&self.upper))
        };
        let chunk = mem.chunk(lower, upper, self.reverse, MEM_CHUNK);
        drop(mem);
        if chunk.len() < MEM_CHUNK {
            self.mem_done = true;
        }
        if let Some((k, _)) = chunk.last() {
            self.mem_from = Bound::Excluded(k.clone());
        }
        self.mem.extend(chunk);
    }

    /// Whether `a` comes before `b` in the scan's direction.
    fn before(&self, a: &[u8], b: &[u8]) -> bool {
        if self.reverse {
            a > b
        } else {
            a < b
        }
    }
}

fn bound_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl Iterator for MergeScan {
    type Item = Result<(Vec<u8>, Vec<u8>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let now = self.store.inner.generation.load(Ordering::SeqCst);
            if now != self.generation {
                self.generation = now;
                self.restart();
            }
            if self.mem.is_empty() && !self.mem_done {
                self.refill_mem();
                continue;
            }
            if self.backend_peek.is_none() && !self.backend_done {
                match self.backend.next() {
                    None => self.backend_done = true,
                    Some(Err(e)) => {
                        self.backend_done = true;
                        return Some(Err(Error::Backend {
                            op: "scanning",
                            error: e,
                        }));
                    }
                    Some(Ok(entry)) => self.backend_peek = Some(entry),
                }
                continue;
            }
            let take_mem = match (self.mem.front(), &self.backend_peek) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((mk, _)), Some((bk, _))) => !self.before(bk, mk),
            };
            if take_mem {
                let (k, slot) = self.mem.pop_front()?;
                if self.backend_peek.as_ref().is_some_and(|(bk, _)| *bk == k) {
                    self.backend_peek = None;
                }
                self.last = Some(k.clone());
                match slot {
                    Some(v) => return Some(Ok((k, v.into_vec()))),
                    None => continue,
                }
            }
            let (k, v) = self.backend_peek.take()?;
            self.last = Some(k.clone());
            return Some(Ok((k, v)));
        }
    }
}
