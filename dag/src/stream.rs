//! [`BatchStream`]: the [`Batch`]es that pass a filter as a [`futures_core::Stream`], for async
//! UIs (feature `async`). It needs no runtime: the subscriber queues each batch and wakes the
//! task that polled last.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
};

use weft_store::sync_util::lock;

use crate::{
    events::{Batch, Filter, Unsubscribe},
    repo::Repo,
};

#[derive(Debug, Default)]
struct Shared {
    queue: VecDeque<Batch>,
    waker: Option<Waker>,
    /// The repo dropped its subscribers: nothing more will come.
    closed: bool,
}

/// Marks the stream closed when the subscriber (held by the repo) is dropped.
struct Closer(Arc<Mutex<Shared>>);

impl Drop for Closer {
    fn drop(&mut self) {
        let mut s = lock(&self.0);
        s.closed = true;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

/// The batches that pass a [`Filter`], as an async stream (see [`Repo::stream`]). It ends when
/// the repo drops; dropping it unsubscribes.
#[derive(Debug)]
pub struct BatchStream {
    shared: Arc<Mutex<Shared>>,
    _guard: Unsubscribe,
}

impl futures_core::Stream for BatchStream {
    type Item = Batch;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Batch>> {
        let mut s = lock(&self.shared);
        if let Some(b) = s.queue.pop_front() {
            return Poll::Ready(Some(b));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Repo {
    /// [`Repo::subscribe_filtered`] as an async [`futures_core::Stream`] (feature `async`): the
    /// batches that pass `filter`, applied from now on, with their diffs. Polling never blocks;
    /// a batch wakes the task that polled last.
    pub fn stream(&self, filter: Filter) -> BatchStream {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let closer = Closer(Arc::clone(&shared));
        let guard = self.events.add(filter, true, move |b: &Batch| {
            let mut s = lock(&closer.0);
            s.queue.push_back(b.clone());
            if let Some(w) = s.waker.take() {
                w.wake();
            }
            true
        });
        BatchStream {
            shared,
            _guard: guard,
        }
    }
}
