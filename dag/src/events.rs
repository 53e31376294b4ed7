//! Events: what subscribers hear about applied changes.
//!
//! The write path applies changes in batches: a local commit is one change, an import applies
//! groups of up to [`GROUP_CHANGES`](crate::GROUP_CHANGES) changes. After each batch, with the
//! repo's locks released, every subscriber hears one [`Batch`] per document the batch touched:
//! the changes, and what they did to each key ([`KeyDiff`]). [`Event`] is the older form, one
//! per change, still delivered to [`Repo::subscribe`](crate::Repo::subscribe).
//!
//! Delivery is serialized: batches are queued, and one thread at a time delivers them in the
//! order they were applied. A write made from inside a callback is queued and delivered once the
//! callback returns (by the same thread), so a callback may read and even write the repo. A
//! thread that commits while another delivers returns at once and leaves its batch to it.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc, Arc, Mutex,
    },
    time::Duration,
};

use weft_store::{sync_util::lock, Cid};

use crate::{change::OpId, id::DocId, identity::Author, value::Value};

/// What a subscriber hears about each applied change (the per-change form; see [`Batch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The document.
    pub doc: DocId,
    /// The change.
    pub cid: Cid,
    /// Its author.
    pub author: Author,
    /// Its height.
    pub height: u64,
    /// The keys it touched.
    pub keys: Vec<String>,
    /// Whether it was written by this repo (`false` for changes that arrived from elsewhere).
    pub local: bool,
}

/// One change of a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeInfo {
    /// The change.
    pub cid: Cid,
    /// Its author.
    pub author: Author,
    /// Its height.
    pub height: u64,
    /// The keys its ops name.
    pub keys: Vec<String>,
    /// Whether it was written by this repo (`false` for changes that arrived from elsewhere).
    pub local: bool,
}

/// What one applied batch did to one document: its changes in the order they were applied,
/// and the keys whose visible state changed, sorted by key.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The document.
    pub doc: DocId,
    /// The changes, in the order they were applied.
    pub changes: Vec<ChangeInfo>,
    /// What changed, one entry per key, sorted by key. A key the changes named but whose
    /// visible state is the same after them (a register set to the value it held, a change
    /// that lost to a concurrent one) is left out.
    pub diffs: Vec<KeyDiff>,
}

impl Batch {
    /// The batch as one [`Event`] per change.
    pub fn events(&self) -> impl Iterator<Item = Event> + '_ {
        self.changes.iter().map(|c| Event {
            doc: self.doc,
            cid: c.cid,
            author: c.author,
            height: c.height,
            keys: c.keys.clone(),
            local: c.local,
        })
    }

    /// The diff of `key`, if the batch changed it.
    pub fn diff(&self, key: &str) -> Option<&Diff> {
        self.diffs
            .binary_search_by(|d| d.key.as_str().cmp(key))
            .ok()
            .map(|i| &self.diffs[i].diff)
    }
}

/// What a batch did to one key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyDiff {
    /// The key.
    pub key: String,
    /// What happened to it.
    pub diff: Diff,
}

/// What a batch did to one key: the visible state before the batch against the state after.
#[derive(Debug, Clone, PartialEq)]
pub enum Diff {
    /// A register: its visible value (the winner) before (`None` if the key held nothing or
    /// another kind) and after, and whether it now holds concurrent values.
    Register {
        /// The value before.
        old: Option<Value>,
        /// The value after.
        new: Value,
        /// Whether the register now holds more than one live value.
        conflict: bool,
    },
    /// A counter: the sum after and how much it moved.
    Counter {
        /// The sum after minus the sum before.
        delta: i64,
        /// The sum after.
        value: i64,
    },
    /// A set: the members added and removed, each in member order.
    Set {
        /// Members present after and not before.
        added: Vec<Value>,
        /// Members present before and not after.
        removed: Vec<Value>,
    },
    /// A list: what happened to its elements, each with its index (in the list after, or, for
    /// `removed`, before).
    List {
        /// Elements in the list after and not before: inserted, or moved in from another list.
        inserted: Vec<ElementDiff>,
        /// Elements in the list before and not after: deleted, or moved to another list.
        removed: Vec<ElementDiff>,
        /// Elements in it before and after that moved within it: the fewest such that the
        /// others kept their order.
        moved: Vec<ElementDiff>,
        /// Elements in it before and after whose value changed (with the new value).
        updated: Vec<ElementDiff>,
    },
    /// A text: the one span that changed, from the first to the last character that differ
    /// (edits in several places come as one span covering them).
    Text {
        /// Where the span starts, in characters.
        index: usize,
        /// How many characters it held before.
        deleted: usize,
        /// What it holds after.
        inserted: String,
    },
    /// The key held something before and nothing after.
    Deleted {
        /// Its visible value before.
        old: Value,
    },
}

/// One element in a [`Diff::List`].
#[derive(Debug, Clone, PartialEq)]
pub struct ElementDiff {
    /// The element's id.
    pub id: OpId,
    /// Its index in the list.
    pub index: usize,
    /// Its value.
    pub value: Value,
}

/// Which batches a subscriber hears: [`Filter::all`], narrowed to a document and/or to keys
/// under a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this document.
    pub doc: Option<DocId>,
    /// Only changes that name a key starting with this, and only the diffs of such keys.
    pub prefix: Option<String>,
}

impl Filter {
    /// Every batch of every document.
    pub fn all() -> Filter {
        Filter::default()
    }

    /// Only batches of `doc`.
    pub fn doc(mut self, doc: DocId) -> Filter {
        self.doc = Some(doc);
        self
    }

    /// Only changes naming a key that starts with `prefix`, and only those keys' diffs.
    pub fn prefix(mut self, prefix: &str) -> Filter {
        self.prefix = Some(prefix.to_string());
        self
    }

    /// `batch` as this filter lets it through, or `None` if nothing of it passes. Costs
    /// nothing for a filter without a prefix.
    pub fn apply<'b>(&self, batch: &'b Batch) -> Option<std::borrow::Cow<'b, Batch>> {
        use std::borrow::Cow;
        if self.doc.is_some_and(|d| d != batch.doc) {
            return None;
        }
        let Some(prefix) = self.prefix.as_deref().filter(|p| !p.is_empty()) else {
            return Some(Cow::Borrowed(batch));
        };
        let changes: Vec<ChangeInfo> = batch
            .changes
            .iter()
            .filter(|c| c.keys.iter().any(|k| k.starts_with(prefix)))
            .cloned()
            .collect();
        if changes.is_empty() {
            return None;
        }
        if changes.len() == batch.changes.len()
            && batch.diffs.iter().all(|d| d.key.starts_with(prefix))
        {
            return Some(Cow::Borrowed(batch));
        }
        let diffs = batch
            .diffs
            .iter()
            .filter(|d| d.key.starts_with(prefix))
            .cloned()
            .collect();
        Some(Cow::Owned(Batch {
            doc: batch.doc,
            changes,
            diffs,
        }))
    }
}

/// One subscriber: told of every batch its filter lets through, it says whether it still
/// listens.
struct Subscriber {
    filter: Filter,
    /// The number of the first batch it hears: those queued before it subscribed are not its.
    from: u64,
    /// Cleared when its guard drops.
    alive: Arc<AtomicBool>,
    /// It reads the batches' diffs (a per-change [`Event`] subscriber does not).
    diffs: bool,
    call: Box<dyn FnMut(&Batch) -> bool + Send>,
}

/// Batches waiting for delivery, and whether a thread is delivering them.
#[derive(Default)]
struct Queue {
    /// Each with its number, in the order applied.
    batches: VecDeque<(u64, Batch)>,
    /// The number of the next batch queued.
    next: u64,
    delivering: bool,
}

/// The subscribers of a repo.
#[derive(Default)]
pub(crate) struct Events {
    subs: Mutex<Vec<Subscriber>>,
    /// How many subscribers there are (those taken out for a delivery included).
    count: AtomicUsize,
    /// How many of them read diffs: only then does the write path compute them.
    diff_count: AtomicUsize,
    queue: Mutex<Queue>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} subscribers", self.count.load(Ordering::Relaxed))
    }
}

impl Events {
    /// Adds a subscriber (reading the diffs of batches if `diffs`); dropping the returned guard
    /// removes it (at the next delivery).
    pub(crate) fn add(
        &self,
        filter: Filter,
        diffs: bool,
        call: impl FnMut(&Batch) -> bool + Send + 'static,
    ) -> Unsubscribe {
        let alive = Arc::new(AtomicBool::new(true));
        let from = lock(&self.queue).next;
        let mut subs = lock(&self.subs);
        subs.push(Subscriber {
            filter,
            from,
            alive: Arc::clone(&alive),
            diffs,
            call: Box::new(call),
        });
        self.count.fetch_add(1, Ordering::SeqCst);
        if diffs {
            self.diff_count.fetch_add(1, Ordering::SeqCst);
        }
        Unsubscribe { alive }
    }

    /// Adds a subscriber that maps every event into a message on `tx` (see
    /// [`Repo::subscribe_with`](crate::Repo::subscribe_with)).
    pub(crate) fn subscribe_with<T: Send + 'static>(
        &self,
        tx: mpsc::Sender<T>,
        map: impl Fn(&Event) -> Option<T> + Send + 'static,
    ) -> Unsubscribe {
        self.add(Filter::all(), false, move |b: &Batch| {
            b.events().all(|e| match map(&e) {
                Some(m) => tx.send(m).is_ok(),
                None => true,
            })
        })
    }

    /// Queues `batches` and, unless another delivery is under way (on this thread, from a
    /// callback, or on another), delivers everything queued, in order. Subscribers that
    /// stopped listening are dropped. Call it with no lock of the repo held.
    pub(crate) fn emit(&self, batches: Vec<Batch>) {
        {
            let mut queue = lock(&self.queue);
            for batch in batches {
                let n = queue.next;
                queue.next += 1;
                queue.batches.push_back((n, batch));
            }
            if queue.delivering || queue.batches.is_empty() {
                return;
            }
            queue.delivering = true;
        }
        // Clears `delivering` even if a subscriber panics, so later batches still go out.
        struct Done<'a>(&'a Mutex<Queue>);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                lock(self.0).delivering = false;
            }
        }
        let done = Done(&self.queue);
        loop {
            let (n, batch) = {
                let mut queue = lock(&self.queue);
                match queue.batches.pop_front() {
                    Some(b) => b,
                    None => {
                        queue.delivering = false;
                        std::mem::forget(done);
                        return;
                    }
                }
            };
            // Taken out, so that a callback may subscribe, unsubscribe or write.
            let mut subs = std::mem::take(&mut *lock(&self.subs));
            subs.retain_mut(|s| {
                if !s.alive.load(Ordering::SeqCst) {
                    return false;
                }
                if n < s.from {
                    return true;
                }
                match s.filter.apply(&batch) {
                    Some(b) => (s.call)(&b),
                    None => true,
                }
            });
            let mut list = lock(&self.subs);
            let added = std::mem::take(&mut *list);
            subs.extend(added);
            subs.retain(|s| s.alive.load(Ordering::SeqCst));
            *list = subs;
            self.count.store(list.len(), Ordering::SeqCst);
            let diffs = list.iter().filter(|s| s.diffs).count();
            self.diff_count.store(diffs, Ordering::SeqCst);
        }
    }

    /// Whether anyone listens.
    pub(crate) fn is_empty(&self) -> bool {
        self.count.load(Ordering::SeqCst) == 0
    }

    /// Whether anyone reads diffs.
    pub(crate) fn wants_diffs(&self) -> bool {
        self.diff_count.load(Ordering::SeqCst) != 0
    }
}

/// Removes a subscriber when dropped: it is not called again from the next delivery on.
#[derive(Debug)]
pub(crate) struct Unsubscribe {
    alive: Arc<AtomicBool>,
}

impl Unsubscribe {
    /// Lets the subscriber live until it stops listening by itself.
    pub(crate) fn detach(self) {
        std::mem::forget(self);
    }
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::SeqCst);
    }
}

/// A callback registered with [`Repo::on_change`](crate::Repo::on_change): dropping it
/// unsubscribes (a delivery already running on another thread may still call it once).
#[derive(Debug)]
#[must_use = "dropping the guard unsubscribes the callback"]
pub struct OnChange {
    pub(crate) _guard: Unsubscribe,
}

/// A stream of [`Event`]s. Iterating blocks until the next event; it ends when the repo drops.
/// Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    pub(crate) rx: mpsc::Receiver<Event>,
    pub(crate) _guard: Unsubscribe,
}

impl Subscription {
    /// The next event if one is waiting.
    pub fn try_next(&self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Waits up to `timeout` for the next event.
    pub fn next_timeout(&self, timeout: Duration) -> Option<Event> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl Iterator for Subscription {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.rx.recv().ok()
    }
}

/// A stream of [`Batch`]es that pass a [`Filter`] (see
/// [`Repo::subscribe_filtered`](crate::Repo::subscribe_filtered)). Iterating blocks until the
/// next batch; it ends when the repo drops. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Batches {
    pub(crate) rx: mpsc::Receiver<Batch>,
    pub(crate) _guard: Unsubscribe,
}

impl Batches {
    /// The next batch if one is waiting.
    pub fn try_next(&self) -> Option<Batch> {
        self.rx.try_recv().ok()
    }

    /// Waits up to `timeout` for the next batch.
    pub fn next_timeout(&self, timeout: Duration) -> Option<Batch> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl Iterator for Batches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        self.rx.recv().ok()
    }
}
