//! Events: what subscribers hear about each applied change.

use std::{
    sync::{mpsc, Mutex},
    time::Duration,
};

use weft_store::Cid;

use crate::{id::DocId, identity::Author};
use weft_store::sync_util::lock;

/// What a subscriber hears about each applied change.
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

/// One subscriber: told of every change, it says whether it still listens.
type Subscriber = Box<dyn FnMut(&Event) -> bool + Send>;

/// The subscribers of a repo.
#[derive(Default)]
pub(crate) struct Events(Mutex<Vec<Subscriber>>);

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} subscribers", lock(&self.0).len())
    }
}

impl Events {
    /// Adds a subscriber that maps every event into a message on `tx` (see
    /// [`Repo::subscribe_with`](crate::Repo::subscribe_with)).
    pub(crate) fn subscribe_with<T: Send + 'static>(
        &self,
        tx: mpsc::Sender<T>,
        map: impl Fn(&Event) -> Option<T> + Send + 'static,
    ) {
        lock(&self.0).push(Box::new(move |e: &Event| match map(e) {
            Some(m) => tx.send(m).is_ok(),
            None => true,
        }));
    }

    /// Tells every subscriber; those that stopped listening are dropped.
    pub(crate) fn emit(&self, events: impl IntoIterator<Item = Event>) {
        let mut subs = lock(&self.0);
        if subs.is_empty() {
            return;
        }
        for event in events {
            subs.retain_mut(|s| s(&event));
        }
    }

    /// Whether anyone listens.
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.0).is_empty()
    }
}

/// A stream of [`Event`]s. Iterating blocks until the next event; it ends when the repo drops.
#[derive(Debug)]
pub struct Subscription {
    pub(crate) rx: mpsc::Receiver<Event>,
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
