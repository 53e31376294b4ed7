//! The discrete-event simulation: real replicas ([`Repo`]s in memory) running the real sync
//! state machines ([`Initiator`], [`Responder`]) over simulated links.
//!
//! Time is virtual (microseconds); nothing sleeps. The protocol code runs unchanged: each
//! side's frames are collected into one *message* per turn, which occupies the directed link
//! for `bytes / bandwidth`, then arrives after the link's latency (or is lost, and both sides
//! time out and abort, keeping what they verified, as over a real dropped link).
//!
//! Every peer owns its events (writes, sync rounds, pushes, arriving messages, timeouts), its
//! session sides and its random stream, and an event touches only its own peer's repo. An
//! event for another peer (a message, a timeout, a close) is always at least the shortest link
//! latency (or the timeout) in the future. So the loop is *conservative parallel*: it runs
//! windows that long, in which every peer handles its own events in order on any thread, then
//! hands over what the peers sent each other at a barrier. Events are ordered by time, then by
//! the peer that created them, then by that peer's count, so a seed reproduces a run exactly
//! whatever the number of threads. Every source of randomness (topology, latencies, loss,
//! write times and keys, gossip choices, keys, replica ids, Bloom filter salts) derives from
//! the seed.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};
use rayon::prelude::*;
use serde::Serialize;
use weft_dag::{
    Change, Clock, DocId, Identity, Op, Repo, Role, Subscription, Value, VerifiedCache,
};
use weft_store::{Cid, CidMap, SharedValues, Store};
use weft_sync::{peer, Direction, Endpoint, Initiator, Responder, SyncOptions};

use crate::{Error, Topology};

/// The virtual clock starts here (ms since the Unix epoch), so change timestamps look real.
const EPOCH_MS: u64 = 1_700_000_000_000;

/// How per-link one-way latency is distributed (drawn once per directed link).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Latency {
    /// Every link has this latency (ms).
    Fixed(f64),
    /// Uniform between the two bounds (ms).
    Uniform(f64, f64),
    /// Log-normal with this median (ms) and shape `sigma` (0.5 is a typical internet spread).
    LogNormal {
        /// Median, ms.
        median: f64,
        /// Shape.
        sigma: f64,
    },
}

impl Latency {
    fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        match *self {
            Latency::Fixed(ms) => ms,
            Latency::Uniform(lo, hi) if hi > lo => rng.gen_range(lo..hi),
            Latency::Uniform(lo, _) => lo,
            Latency::LogNormal { median, sigma } => {
                LogNormal::new(median.max(1e-9).ln(), sigma).map_or(median, |d| d.sample(rng))
            }
        }
        .max(0.0)
    }

    /// The median of the distribution (ms), for labels.
    pub fn median(&self) -> f64 {
        match *self {
            Latency::Fixed(ms) => ms,
            Latency::Uniform(lo, hi) => (lo + hi) / 2.0,
            Latency::LogNormal { median, .. } => median,
        }
    }
}

/// A network partition: from `start` to `end` (seconds), the first `fraction` of the peers
/// cannot reach the rest. Sessions across the cut fail at once; messages in flight are lost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Partition {
    /// When the cut starts, s.
    pub start: f64,
    /// When it heals, s.
    pub end: f64,
    /// The share of peers on the first side.
    pub fraction: f64,
}

/// Everything a run depends on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of replicas.
    pub peers: usize,
    /// Who syncs with whom.
    pub topology: Topology,
    /// One-way latency per link.
    pub latency: Latency,
    /// Bytes per second per directed link; 0 means unlimited.
    pub bandwidth: f64,
    /// Probability that a message is lost (the session then times out).
    pub loss: f64,
    /// A partition that heals, if any.
    pub partition: Option<Partition>,
    /// How many peers write (chosen at random).
    pub writers: usize,
    /// Changes per second, over all writers (a Poisson process).
    pub write_rate: f64,
    /// Changes written in all.
    pub changes: usize,
    /// Distinct keys the writes spread over.
    pub keys: usize,
    /// Seconds between a peer's sync rounds (each with one random neighbour).
    pub interval: f64,
    /// After a local write, sync at once (after `debounce`) with this many random neighbours;
    /// 0 = gossip rounds only.
    pub push_fanout: usize,
    /// The debounce of the push, s.
    pub debounce: f64,
    /// A session that hears nothing for this long after a lost message is aborted, s.
    pub timeout: f64,
    /// Staleness is sampled this often, s.
    pub sample_every: f64,
    /// Give up after this much virtual time, s.
    pub max_time: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed: 1,
            peers: 50,
            topology: Topology::Mesh,
            latency: Latency::Fixed(20.0),
            bandwidth: 0.0,
            loss: 0.0,
            partition: None,
            writers: 5,
            write_rate: 50.0,
            changes: 1_000,
            keys: 100,
            interval: 1.0,
            push_fanout: 0,
            debounce: 0.05,
            timeout: 2.0,
            sample_every: 0.5,
            max_time: 3_600.0,
        }
    }
}

/// min / median / p99 / max of a sample, in the sample's unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Smallest.
    pub min: f64,
    /// Median.
    pub median: f64,
    /// Mean.
    pub mean: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Summary {
    /// Summarises `v` (sorted in place); all zeros if empty.
    pub fn of(v: &mut [f64]) -> Summary {
        if v.is_empty() {
            return Summary::default();
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| quantile(v, q).unwrap_or_default();
        Summary {
            min: v[0],
            median: at(0.5),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            p99: at(0.99),
            max: v[v.len() - 1],
        }
    }
}

/// The `q` quantile of sorted values (the nearest of the two around it); `None` if empty.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get((last as f64 * q).round() as usize).copied()
}

/// Staleness at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// Virtual time, s.
    pub t: f64,
    /// Changes written so far.
    pub written: usize,
    /// Mean over peers of the changes written but not yet held.
    pub mean_missing: f64,
    /// The most any peer lacks.
    pub max_missing: usize,
    /// Share of peers that hold every change written so far.
    pub up_to_date: f64,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The configuration.
    pub config: Config,
    /// Whether every peer ended with every change (and identical heads).
    pub converged: bool,
    /// Virtual time of the last write, s.
    pub last_write: f64,
    /// From the last write until every peer had identical heads, s (`None` if never).
    pub convergence: Option<f64>,
    /// Delay from a write to its arrival at each other peer, s.
    pub delivery: Summary,
    /// Sessions started / that failed (lost message, partition).
    pub sessions: u64,
    /// Sessions that failed.
    pub failed_sessions: u64,
    /// Messages (one per turn) per peer, sent and received.
    pub messages_per_peer: Summary,
    /// Bytes per peer, sent and received.
    pub bytes_per_peer: Summary,
    /// Bytes over all links.
    pub bytes_total: u64,
    /// Change blocks received that the peer already had.
    pub redundant_blocks: u64,
    /// Why sessions failed: a reason (the first few errors verbatim) and how often.
    pub failures: BTreeMap<String, u64>,
    /// Staleness over time.
    pub staleness: Vec<Sample>,
    /// Real seconds the run took.
    pub wall_seconds: f64,
}

/// A session: the peer that opened it and that peer's count of sessions.
type Sid = (usize, u64);

/// Orders events: virtual time, then the peer that created the event, then that peer's own
/// count. Every peer numbers its own events, so the order never depends on which thread ran
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    t: u64,
    origin: usize,
    seq: u64,
}

#[derive(Debug)]
struct Scheduled {
    key: Key,
    event: Event,
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
enum Event {
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
enum Half<'r> {
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

struct Side<'r> {
    /// The peer at the other end.
    other: usize,
    /// This side lost a message: like a TCP stream missing a segment, nothing more gets
    /// through, and the side waits for its timeout.
    stalled: bool,
    /// When the other side starts: the responder's `Connect` for an initiator side (an event
    /// for the responder side must not come before it, or it would find no side to end and the
    /// side started later would wait for ever), 0 for a responder side.
    starts: u64,
    half: Half<'r>,
}

/// A directed link from a peer.
struct Link {
    latency: u64,
    /// Until when the link is busy sending (bandwidth).
    busy: u64,
}

/// What every peer reads during a window and nobody writes.
struct World<'a> {
    cfg: &'a Config,
    neighbours: &'a [Vec<usize>],
    /// Virtual time of each data change's write, by CID. A change written in a window reaches
    /// no other peer before the next one, so the writes are merged in between.
    write_time: &'a CidMap<u64>,
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
struct Peer<'r> {
    id: usize,
    repo: &'r Repo,
    doc: DocId,
    clock: Arc<AtomicU64>,
    sub: Subscription,
    rng: ChaCha8Rng,
    t: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    /// Events for other peers, handed over at the end of the window.
    outbox: Vec<(usize, Scheduled)>,
    sides: BTreeMap<(Sid, bool), Side<'r>>,
    next_sid: u64,
    links: HashMap<usize, Link>,
    push_pending: bool,
    /// Data changes held (the setup's genesis and grant excluded).
    held: usize,
    complete_at: Option<u64>,
    bytes: u64,
    messages: u64,
    delays: Vec<f64>,
    /// Changes written in this window, with their time.
    written: Vec<(Cid, u64)>,
    sessions: u64,
    /// Failed sessions as this peer saw them: the session, whether this side responded, why.
    failed: Vec<(Sid, bool, String)>,
    redundant: u64,
    error: Option<Error>,
}

fn us(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1e6).round() as u64
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

fn seed_bytes(seed: u64, what: &str, i: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_be_bytes());
    h.update(what.as_bytes());
    h.update(&i.to_be_bytes());
    *h.finalize().as_bytes()
}

fn sid_number((a, n): Sid) -> u64 {
    ((a as u64) << 40) | n
}

/// Runs one simulation, on the threads of the current rayon pool (the result does not depend
/// on how many there are).
pub fn run(cfg: &Config) -> Result<Report, Error> {
    cfg.check()?;
    let started = Instant::now();
    let verified = Arc::new(VerifiedCache::new());
    // The replicas store the same blocks: keep each once.
    let shared = Arc::new(SharedValues::new());
    let clocks: Vec<Arc<AtomicU64>> = (0..cfg.peers)
        .map(|_| Arc::new(AtomicU64::new(EPOCH_MS)))
        .collect();
    let repos: Vec<Repo> = clocks
        .iter()
        .enumerate()
        .map(|(i, clock)| {
            let clock = clock.clone();
            let repo = Repo::with_store(
                Store::memory_shared(shared.clone()),
                Identity::from_seed(seed_bytes(cfg.seed, "key", i as u64)),
            )
            .map_err(weft_sync::Error::from)?
            .with_clock(Clock::new(move || clock.load(Ordering::Relaxed)))
            .with_verified(verified.clone());
            let id = seed_bytes(cfg.seed, "replica", i as u64);
            let mut replica = [0u8; 16];
            replica.copy_from_slice(&id[..16]);
            peer::set_replica_id(&repo, replica).map(|()| repo)
        })
        .collect::<Result<_, _>>()?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut writers: Vec<usize> = (0..cfg.peers).collect();
    writers.shuffle(&mut rng);
    writers.truncate(cfg.writers.max(1));
    writers.sort_unstable();
    let doc = setup(&repos, &writers, cfg.seed)?;
    let neighbours = cfg.topology.build(cfg.peers, &mut rng)?;
    let mut peers: Vec<Peer<'_>> = repos
        .iter()
        .zip(clocks)
        .enumerate()
        .map(|(i, (repo, clock))| Peer {
            id: i,
            repo,
            doc,
            clock,
            sub: repo.subscribe(),
            rng: ChaCha8Rng::from_seed(seed_bytes(cfg.seed, "peer", i as u64)),
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
        })
        .collect();
    let mut min_latency = u64::MAX;
    for (a, ns) in neighbours.iter().enumerate() {
        for &b in ns {
            // At least 1 µs: a message never arrives in the instant it is sent, which is what
            // lets peers run side by side for the length of the shortest link.
            let latency = us(cfg.latency.sample(&mut rng) / 1e3).max(1);
            min_latency = min_latency.min(latency);
            peers[a].links.insert(b, Link { latency, busy: 0 });
        }
    }
    // Every write, planned up front: a Poisson process of rate `write_rate` over the writers.
    let mut write_times = Vec::with_capacity(cfg.changes);
    let mut t = 0;
    for index in 0..cfg.changes {
        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
        t += us(-u.ln() / cfg.write_rate);
        let w = writers[rng.gen_range(0..writers.len())];
        let key = rng.gen_range(0..cfg.keys);
        peers[w].schedule(w, t, Event::Write { index, key });
        write_times.push(t);
    }
    for p in peers.iter_mut() {
        let at = us(rng.gen_range(0.0..cfg.interval));
        let id = p.id;
        p.schedule(id, at, Event::Tick);
    }
    let mut engine = Engine {
        cfg,
        neighbours: &neighbours,
        // Cross-peer events come at least one link latency (or one timeout) later.
        window: min_latency.min(us(cfg.timeout)).max(1),
        write_times,
        write_time: CidMap::default(),
        staleness: Vec::new(),
    };
    let converged_at = engine.run(&mut peers)?;
    let report = engine.report(&mut peers, converged_at, started);
    drop(peers);
    // The claim "converged" is checked on the real repos, not on the bookkeeping.
    if report.converged {
        let first = repos[0].heads(doc)?;
        for (i, r) in repos.iter().enumerate() {
            if r.heads(doc)? != first {
                return Err(Error::Diverged { peer: i });
            }
        }
    }
    // Dropping hundreds of repos is real work too; share it out.
    repos.into_par_iter().for_each(drop);
    Ok(report)
}

/// Peer 0 creates the document and lets every writer write; every peer starts with both
/// changes (as if cloned before the run). Everything is derived from the seed.
fn setup(repos: &[Repo], writers: &[usize], seed: u64) -> Result<DocId, Error> {
    let owner = &repos[0];
    let nonce: [u8; 16] = seed_bytes(seed, "doc", 0)[..16]
        .try_into()
        .unwrap_or_default();
    let genesis = Change {
        doc: None,
        parents: vec![],
        author: owner.author(),
        seq: 1,
        height: 1,
        time: owner.now(),
        ops: vec![Op::Genesis {
            owner: owner.author(),
            nonce,
        }],
        sig: [0; 64],
    }
    .sign(&Identity::from_seed(seed_bytes(seed, "key", 0)));
    owner.apply_changes([(genesis.cid, genesis.bytes.clone())])?;
    let doc = DocId(genesis.cid);
    let mut tx = owner.transaction(doc);
    for &w in writers.iter().filter(|&&w| w != 0) {
        tx.grant(repos[w].author(), Role::Writer)?;
    }
    let grant = tx.commit()?;
    let mut blocks = vec![(genesis.cid, genesis.bytes)];
    if let Some(g) = grant {
        blocks.push((g.cid, owner.block(&g.cid)?));
    }
    for r in &repos[1..] {
        r.apply_changes(blocks.clone())?;
    }
    Ok(doc)
}

impl Config {
    fn check(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::Config(what.to_string()));
        if self.peers < 2 {
            return bad("at least 2 peers");
        }
        if self.writers == 0 || self.writers > self.peers {
            return bad("writers must be between 1 and the number of peers");
        }
        if self.write_rate <= 0.0 || !self.write_rate.is_finite() {
            return bad("the write rate must be positive");
        }
        if self.interval <= 0.0 || !self.interval.is_finite() {
            return bad("the sync interval must be positive");
        }
        if !(0.0..1.0).contains(&self.loss) {
            return bad("loss must be in [0, 1)");
        }
        if self.keys == 0 {
            return bad("at least 1 key");
        }
        // The loop counts whole microseconds: a shorter period or timeout would round to 0.
        let at_least_1us = |x: f64| x >= 1e-6 && x.is_finite();
        if !at_least_1us(self.sample_every) || !at_least_1us(self.timeout) {
            return bad("the sample period and the timeout must be at least 1 µs");
        }
        Ok(())
    }
}

/// The conservative parallel loop: windows as long as the shortest link, in which every peer
/// handles its own events on its own, followed by a barrier that hands over what they sent.
struct Engine<'a> {
    cfg: &'a Config,
    neighbours: &'a [Vec<usize>],
    window: u64,
    /// When each write is planned, ascending.
    write_times: Vec<u64>,
    write_time: CidMap<u64>,
    staleness: Vec<Sample>,
}

impl Engine<'_> {
    /// Runs until every peer holds every change (returning when the last one did) or the
    /// time limit.
    fn run(&mut self, peers: &mut [Peer<'_>]) -> Result<Option<u64>, Error> {
        let limit = us(self.cfg.max_time);
        let every = us(self.cfg.sample_every).max(1);
        let mut next_sample = 0;
        loop {
            let next = peers
                .iter()
                .filter_map(Peer::next_time)
                .min()
                .filter(|&t| t <= limit);
            // A sample at `s` sees every event before `s`: take those due before the next event.
            while next_sample <= next.unwrap_or(limit) {
                self.sample(peers, next_sample);
                next_sample += every;
            }
            let Some(t0) = next else {
                return Ok(None);
            };
            let end = (t0 + self.window).min(next_sample).min(limit + 1);
            let world = World {
                cfg: self.cfg,
                neighbours: self.neighbours,
                write_time: &self.write_time,
            };
            peers.par_iter_mut().for_each(|p| p.run_until(end, &world));
            let mut handed = Vec::new();
            for p in peers.iter_mut() {
                if let Some(e) = p.error.take() {
                    return Err(e);
                }
                handed.append(&mut p.outbox);
                self.write_time.extend(p.written.drain(..));
            }
            for (to, s) in handed {
                peers[to].queue.push(Reverse(s));
            }
            if peers.iter().all(|p| p.complete_at.is_some()) {
                let at = peers.iter().filter_map(|p| p.complete_at).max();
                if let Some(t) = at {
                    self.staleness.push(Sample {
                        t: secs(t),
                        written: self.cfg.changes,
                        mean_missing: 0.0,
                        max_missing: 0,
                        up_to_date: 1.0,
                    });
                }
                return Ok(at);
            }
        }
    }

    fn sample(&mut self, peers: &[Peer<'_>], t: u64) {
        let n = peers.len() as f64;
        let written = self.write_times.partition_point(|&w| w < t);
        let missing: Vec<usize> = peers
            .iter()
            .map(|p| written.saturating_sub(p.held))
            .collect();
        self.staleness.push(Sample {
            t: secs(t),
            written,
            mean_missing: missing.iter().sum::<usize>() as f64 / n,
            max_missing: missing.iter().copied().max().unwrap_or(0),
            up_to_date: missing.iter().filter(|&&m| m == 0).count() as f64 / n,
        });
    }

    fn report(
        &mut self,
        peers: &mut [Peer<'_>],
        converged_at: Option<u64>,
        started: Instant,
    ) -> Report {
        let per_peer = |f: &dyn Fn(&Peer<'_>) -> u64| -> Summary {
            let mut v: Vec<f64> = peers.iter().map(|p| f(p) as f64).collect();
            Summary::of(&mut v)
        };
        let messages_per_peer = per_peer(&|p| p.messages);
        let bytes_per_peer = per_peer(&|p| p.bytes);
        // A failure can be seen from both sides: count each session once, by the initiator's
        // account when it has one.
        let mut seen: Vec<(Sid, bool, String)> = peers
            .iter_mut()
            .flat_map(|p| std::mem::take(&mut p.failed))
            .collect();
        seen.sort();
        seen.dedup_by(|later, first| later.0 == first.0);
        let mut failures = BTreeMap::new();
        for (_, _, why) in &seen {
            // The first few reasons verbatim; then only how many more.
            let key = if failures.len() < 8 || failures.contains_key(why) {
                why.clone()
            } else {
                "other".into()
            };
            *failures.entry(key).or_default() += 1;
        }
        let mut delays: Vec<f64> = peers
            .iter_mut()
            .flat_map(|p| std::mem::take(&mut p.delays))
            .collect();
        let last_write = self.write_times.last().copied().unwrap_or(0);
        Report {
            config: self.cfg.clone(),
            converged: converged_at.is_some(),
            last_write: secs(last_write),
            convergence: converged_at.map(|t| secs(t.saturating_sub(last_write))),
            delivery: Summary::of(&mut delays),
            sessions: peers.iter().map(|p| p.sessions).sum(),
            failed_sessions: seen.len() as u64,
            messages_per_peer,
            bytes_per_peer,
            bytes_total: peers.iter().map(|p| p.bytes).sum::<u64>() / 2,
            redundant_blocks: peers.iter().map(|p| p.redundant).sum(),
            failures,
            staleness: std::mem::take(&mut self.staleness),
            wall_seconds: started.elapsed().as_secs_f64(),
        }
    }
}

impl<'r> Peer<'r> {
    fn schedule(&mut self, to: usize, at: u64, event: Event) {
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

    fn next_time(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse(s)| s.key.t)
    }

    /// Handles this peer's events before `end`, in order.
    fn run_until(&mut self, end: u64, w: &World<'_>) {
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
