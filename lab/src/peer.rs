//! One simulated replica ([`Peer`]): its event queue, its session sides and links, and how it
//! handles each event; and the events themselves, ordered so that a seed reproduces a run.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use rand::{seq::SliceRandom, Rng};
use rand_chacha::ChaCha8Rng;
use weft_dag::{DocId, Repo, Subscription, Value};
use weft_store::{Cid, CidMap};
use weft_sync::{Direction, Endpoint, Initiator, Responder, SyncOptions};

use crate::{Config, Error};

/// The virtual clock starts here (ms since the Unix epoch), so change timestamps look real.
pub(crate) const EPOCH_MS: u64 = 1_700_000_000_000;

/// A session: the peer that opened it and that peer's count of sessions.
pub(crate) type Sid = (usize, u64);

/// Orders events: virtual time, then the peer that created the event, then that peer's own
/// count. Every peer numbers its own events, so the order never depends on which thread ran
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) t: u64,
    pub(crate) origin: usize,
    pub(crate) seq: u64,
}

#[derive(Debug)]
pub(crate) struct Scheduled {
    pub(crate) key: Key,
    pub(crate) event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

#[derive(Debug)]
pub(crate) enum Event {
    /// Write change number `index` to key `key`.
    Write { index: usize, key: usize },
    /// A gossip round.
    Tick,
    /// The debounced push after a local write.
    Push,
    /// Peer `sid.0` opens a session with this one (the connection is set up).
    Connect(Sid),
    /// One message: every frame one side sent in one turn.
    Deliver {
        sid: Sid,
        to_responder: bool,
        frames: Vec<Vec<u8>>,
    },
    /// A message of the session was lost: this side stops waiting.
    Timeout { sid: Sid, responder: bool },
    /// The other side of the session failed: this side ends too.
    Closed { sid: Sid, responder: bool },
}

/// One side of a session, held by the peer it runs on.
pub(crate) enum Half<'r> {
    Init(Initiator<'r>),
    Resp(Responder<'r>),
}

impl Half<'_> {
    fn endpoint(&mut self) -> &mut dyn Endpoint {
        match self {
            Half::Init(i) => i,
            Half::Resp(r) => r,
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Half::Init(i) => i.is_done(),
            Half::Resp(r) => r.is_done(),
        }
    }
}

pub(crate) struct Side<'r> {
    /// The peer at the other end.
    pub(crate) other: usize,
    /// This side lost a message: like a TCP stream missing a segment, nothing more gets
    /// through, and the side waits for its timeout.
    pub(crate) stalled: bool,
    /// When the other side starts: the responder's `Connect` for an initiator side (an event
    /// for the responder side must not come before it, or it would find no side to end and the
    /// side started later would wait for ever), 0 for a responder side.
    pub(crate) starts: u64,
    pub(crate) half: Half<'r>,
}

/// A directed link from a peer.
pub(crate) struct Link {
    pub(crate) latency: u64,
    /// Until when the link is busy sending (bandwidth).
    pub(crate) busy: u64,
}

/// What every peer reads during a window and nobody writes.
pub(crate) struct World<'a> {
    pub(crate) cfg: &'a Config,
    pub(crate) neighbours: &'a [Vec<usize>],
    /// Virtual time of each data change's write, by CID. A change written in a window reaches
    /// no other peer before the next one, so the writes are merged in between.
    pub(crate) write_time: &'a CidMap<u64>,
}

impl World<'_> {
    fn cut(&self, a: usize, b: usize, t: u64) -> bool {
        self.cfg.partition.is_some_and(|part| {
            let t = secs(t);
            let side = |p: usize| (p as f64) < part.fraction * self.cfg.peers as f64;
            t >= part.start && t < part.end && side(a) != side(b)
        })
    }
}

/// A replica and everything that happens on it: its own event queue, random stream and
/// session sides, so that peers run in parallel within a window.
pub(crate) struct Peer<'r> {
    pub(crate) id: usize,
    pub(crate) repo: &'r Repo,
    pub(crate) doc: DocId,
    pub(crate) clock: Arc<AtomicU64>,
    pub(crate) sub: Subscription,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) t: u64,
    pub(crate) seq: u64,
    pub(crate) queue: BinaryHeap<Reverse<Scheduled>>,
    /// Events for other peers, handed over at the end of the window.
    pub(crate) outbox: Vec<(usize, Scheduled)>,
    pub(crate) sides: BTreeMap<(Sid, bool), Side<'r>>,
    pub(crate) next_sid: u64,
    pub(crate) links: HashMap<usize, Link>,
    pub(crate) push_pending: bool,
    /// Data changes held (the setup's genesis and grant excluded).
    pub(crate) held: usize,
    pub(crate) complete_at: Option<u64>,
    pub(crate) bytes: u64,
    pub(crate) messages: u64,
    pub(crate) delays: Vec<f64>,
    /// Changes written in this window, with their time.
    pub(crate) written: Vec<(Cid, u64)>,
    pub(crate) sessions: u64,
    /// Failed sessions as this peer saw them: the session, whether this side responded, why.
    pub(crate) failed: Vec<(Sid, bool, String)>,
    pub(crate) redundant: u64,
    pub(crate) error: Option<Error>,
}

pub(crate) fn us(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1e6).round() as u64
}

pub(crate) fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

pub(crate) fn seed_bytes(seed: u64, what: &str, i: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_be_bytes());
    h.update(what.as_bytes());
    h.update(&i.to_be_bytes());
    *h.finalize().as_bytes()
}

pub(crate) fn sid_number((a, n): Sid) -> u64 {
    ((a as u64) << 40) | n
}

impl<'r> Peer<'r> {
    /// Peer `id` on `repo`, which holds `doc`, with its clock and random stream; nothing
    /// scheduled yet.
    pub(crate) fn new(
        id: usize,
        repo: &'r Repo,
        doc: DocId,
        clock: Arc<AtomicU64>,
        rng: ChaCha8Rng,
    ) -> Peer<'r> {
        Peer {
            id,
            repo,
            doc,
            clock,
            sub: repo.subscribe(),
            rng,
            t: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            outbox: Vec::new(),
            sides: BTreeMap::new(),
            next_sid: 0,
            links: HashMap::new(),
            push_pending: false,
            held: 0,
            complete_at: None,
            bytes: 0,
            messages: 0,
            delays: Vec::new(),
            written: Vec::new(),
            sessions: 0,
            failed: Vec::new(),
            redundant: 0,
            error: None,
        }
    }

    pub(crate) fn schedule(&mut self, to: usize, at: u64, event: Event) {
        self.seq += 1;
        let s = Scheduled {
            key: Key {
                t: at,
                origin: self.id,
                seq: self.seq,
            },
            event,
        };
        if to == self.id {
            self.queue.push(Reverse(s));
        } else {
            self.outbox.push((to, s));
        }
    }

    pub(crate) fn next_time(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse(s)| s.key.t)
    }

    /// Handles this peer's events before `end`, in order.
    pub(crate) fn run_until(&mut self, end: u64, w: &World<'_>) {
        while self.error.is_none() && self.next_time().is_some_and(|t| t < end) {
            let Some(Reverse(s)) = self.queue.pop() else {
                break;
            };
            self.t = s.key.t;
            self.clock
                .store(EPOCH_MS + self.t / 1_000, Ordering::Relaxed);
            match s.event {
                Event::Write { index, key } => {
                    if let Err(e) = self.write(index, key, w) {
                        self.error = Some(e);
                    }
                }
                Event::Tick => self.tick(w),
                Event::Push => self.push(w),
                Event::Connect(sid) => self.connect(sid, w),
                Event::Deliver {
                    sid,
                    to_responder,
                    frames,
                } => self.deliver(sid, to_responder, frames, w),
                Event::Timeout { sid, responder } => self.fail(
                    (sid, responder),
                    "a message was lost (timed out)".into(),
                    w,
                    false,
                ),
                Event::Closed { sid, responder } => {
                    if let Some(mut side) = self.sides.remove(&(sid, responder)) {
                        side.half.endpoint().abort();
                    }
                }
            }
            self.drain(w);
        }
    }

    fn write(&mut self, index: usize, key: usize, w: &World<'_>) -> Result<(), Error> {
        let mut tx = self.repo.transaction(self.doc);
        tx.set(&format!("k/{key}"), Value::from(index as i64))?;
        if let Some(c) = tx.commit()? {
            self.written.push((c.cid, self.t));
        }
        if w.cfg.push_fanout > 0 && !self.push_pending {
            self.push_pending = true;
            let at = self.t + us(w.cfg.debounce);
            self.schedule(self.id, at, Event::Push);
        }
        Ok(())
    }

    /// Counts what arrived since last time (the subscription), and when this peer came to
    /// hold every change. A peer holds at most what was written, so holding `changes` means
    /// the writes are over and this peer has them all.
    fn drain(&mut self, w: &World<'_>) {
        while let Some(e) = self.sub.try_next() {
            self.held += 1;
            if !e.local {
                if let Some(&at) = w.write_time.get(&e.cid) {
                    self.delays.push(secs(self.t.saturating_sub(at)));
                }
            }
            if self.held == w.cfg.changes && self.complete_at.is_none() {
                self.complete_at = Some(self.t);
            }
        }
    }

    fn tick(&mut self, w: &World<'_>) {
        let next = self.t + us(w.cfg.interval);
        self.schedule(self.id, next, Event::Tick);
        // One initiated session at a time: a round waits for the last one to end.
        if self.sides.keys().any(|&(_, responder)| !responder) {
            return;
        }
        let ns = &w.neighbours[self.id];
        if ns.is_empty() {
            return;
        }
        let q = ns[self.rng.gen_range(0..ns.len())];
        self.open(q, w);
    }

    fn push(&mut self, w: &World<'_>) {
        self.push_pending = false;
        let mut ns = w.neighbours[self.id].clone();
        ns.shuffle(&mut self.rng);
        ns.truncate(w.cfg.push_fanout);
        for q in ns {
            self.open(q, w);
        }
    }

    fn latency(&self, to: usize) -> u64 {
        self.links.get(&to).map_or(1, |l| l.latency)
    }

    /// Starts a session with `b` (a failure to start counts as a failed session).
    fn open(&mut self, b: usize, w: &World<'_>) {
        let sid = (self.id, self.next_sid);
        self.next_sid += 1;
        self.sessions += 1;
        if w.cut(self.id, b, self.t) {
            self.failed
                .push((sid, false, "partitioned: could not connect".into()));
            return;
        }
        let opts = SyncOptions {
            direction: Direction::Both,
            docs: None,
        };
        let made = Initiator::new(self.repo, opts).map(|i| {
            i.source(&format!("peer-{b}")).seeded(seed_bytes(
                w.cfg.seed,
                "session",
                sid_number(sid),
            ))
        });
        match made {
            Ok(init) => {
                let at = self.t + self.latency(b);
                self.sides.insert(
                    (sid, false),
                    Side {
                        other: b,
                        stalled: false,
                        starts: at,
                        half: Half::Init(init),
                    },
                );
                self.schedule(b, at, Event::Connect(sid));
                self.flush((sid, false), w);
            }
            Err(e) => self.failed.push((sid, false, e.to_string())),
        }
    }

    /// The responder's side of a new session.
    fn connect(&mut self, sid: Sid, w: &World<'_>) {
        let a = sid.0;
        if w.cut(self.id, a, self.t) {
            self.failed
                .push((sid, true, "partitioned: the link went down".into()));
            self.close_other(sid, true, a, 0, w);
            return;
        }
        let made = Responder::new(self.repo).map(|r| {
            r.source(&format!("peer-{a}")).seeded(seed_bytes(
                w.cfg.seed,
                "session-r",
                sid_number(sid),
            ))
        });
        match made {
            Ok(resp) => {
                self.sides.insert(
                    (sid, true),
                    Side {
                        other: a,
                        stalled: false,
                        starts: 0,
                        half: Half::Resp(resp),
                    },
                );
                self.flush((sid, true), w);
            }
            Err(e) => {
                self.failed.push((sid, true, format!("responder: {e}")));
                self.close_other(sid, true, a, 0, w);
            }
        }
    }

    /// Tells the other side that this one failed: after one latency, or after the timeout when
    /// the link is cut, and never before the other side `starts`.
    fn close_other(&mut self, sid: Sid, responder: bool, other: usize, starts: u64, w: &World<'_>) {
        let delay = if w.cut(self.id, other, self.t) {
            us(w.cfg.timeout)
        } else {
            self.latency(other)
        };
        let at = (self.t + delay).max(starts);
        self.schedule(
            other,
            at,
            Event::Closed {
                sid,
                responder: !responder,
            },
        );
    }

    /// Sends what one side of a session has to send, as one message.
    fn flush(&mut self, key: (Sid, bool), w: &World<'_>) {
        let Some(side) = self.sides.get_mut(&key) else {
            return;
        };
        if side.stalled {
            return;
        }
        let to = side.other;
        let starts = side.starts;
        let mut frames = Vec::new();
        let mut bytes = 0u64;
        let endpoint = side.half.endpoint();
        loop {
            match endpoint.poll_transmit() {
                Ok(Some(f)) => {
                    bytes += f.len() as u64;
                    frames.push(f);
                }
                Ok(None) => break,
                Err(e) => return self.fail(key, e.to_string(), w, true),
            }
        }
        if frames.is_empty() {
            return;
        }
        self.bytes += bytes;
        self.messages += 1;
        let (sid, responder) = key;
        let lost = w.cfg.loss > 0.0 && self.rng.gen_bool(w.cfg.loss);
        if lost || w.cut(self.id, to, self.t) {
            if let Some(side) = self.sides.get_mut(&key) {
                side.stalled = true;
            }
            let at = self.t + us(w.cfg.timeout);
            self.schedule(self.id, at, Event::Timeout { sid, responder });
            self.schedule(
                to,
                at.max(starts),
                Event::Timeout {
                    sid,
                    responder: !responder,
                },
            );
            return;
        }
        let transmit = if w.cfg.bandwidth > 0.0 {
            us(bytes as f64 / w.cfg.bandwidth)
        } else {
            0
        };
        let now = self.t;
        let (start, latency) = match self.links.get_mut(&to) {
            Some(link) => {
                let start = link.busy.max(now);
                link.busy = start + transmit;
                (start, link.latency)
            }
            None => (now, 1),
        };
        self.schedule(
            to,
            start + transmit + latency,
            Event::Deliver {
                sid,
                to_responder: !responder,
                frames,
            },
        );
    }

    fn deliver(&mut self, sid: Sid, to_responder: bool, frames: Vec<Vec<u8>>, w: &World<'_>) {
        self.bytes += frames.iter().map(|f| f.len() as u64).sum::<u64>();
        self.messages += 1;
        let key = (sid, to_responder);
        let now = self.t;
        let Some(side) = self.sides.get_mut(&key) else {
            return;
        };
        if side.stalled {
            return;
        }
        if w.cut(self.id, side.other, now) {
            return self.fail(key, "partitioned: the link went down".into(), w, true);
        }
        let endpoint = side.half.endpoint();
        let mut error = None;
        for f in &frames {
            if let Err(e) = endpoint.handle(&f[4..]) {
                let who = if to_responder {
                    "responder"
                } else {
                    "initiator"
                };
                error = Some(format!("{who}: {e}"));
                break;
            }
        }
        if let Some(e) = error {
            return self.fail(key, e, w, true);
        }
        self.flush(key, w);
        if self.sides.get(&key).is_some_and(|s| s.half.is_done()) {
            if let Some(mut side) = self.sides.remove(&key) {
                self.redundant += side.half.endpoint().stats().redundant_in;
            }
        }
    }

    /// Ends this side of a session: it keeps what it verified. `notify`: tell the other side.
    fn fail(&mut self, key: (Sid, bool), why: String, w: &World<'_>, notify: bool) {
        let Some(mut side) = self.sides.remove(&key) else {
            return;
        };
        side.half.endpoint().abort();
        let (sid, responder) = key;
        if notify {
            self.close_other(sid, responder, side.other, side.starts, w);
        }
        self.failed.push((sid, responder, why));
    }
}
