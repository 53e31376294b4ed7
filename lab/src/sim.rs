//! The discrete-event simulation: real replicas ([`Repo`]s in memory) running the real sync
//! state machines ([`Initiator`], [`Responder`]) over simulated links.
//!
//! Time is virtual (microseconds); nothing sleeps. An event queue ordered by `(time, seq)`
//! holds writes, sync ticks, message deliveries, timeouts and samples. The protocol code runs
//! unchanged: each side's frames are collected into one *message* per turn, which occupies the
//! directed link for `bytes / bandwidth`, then arrives after the link's latency (or is lost, and
//! the session times out and aborts, keeping what it verified, as over a real dropped link).
//! Every source of randomness (topology, latencies, loss, write times and keys, gossip choices,
//! keys, replica ids, Bloom filter salts) derives from the seed, so a run is reproducible.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};
use serde::Serialize;
use weft_dag::{
    Change, Clock, DocId, Durability, Identity, Op, Repo, Role, Subscription, Value, VerifiedCache,
};
use weft_store::Store;
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

#[derive(Debug)]
enum Event {
    Write,
    Tick(usize),
    Push(usize),
    Deliver {
        sid: u64,
        to_responder: bool,
        frames: Vec<Vec<u8>>,
    },
    Timeout(u64),
    Sample,
}

struct Session<'r> {
    a: usize,
    b: usize,
    /// A message was lost: like a TCP stream missing a segment, nothing more gets through,
    /// and the session waits for its timeout.
    stalled: bool,
    init: Initiator<'r>,
    resp: Responder<'r>,
}

/// Per-peer bookkeeping.
#[derive(Default, Clone)]
struct PeerStats {
    bytes: u64,
    messages: u64,
    /// Data changes held (the setup's genesis and grant excluded).
    held: usize,
}

struct Sim<'r> {
    cfg: &'r Config,
    repos: &'r [Repo],
    subs: Vec<Subscription>,
    doc: DocId,
    now: Arc<AtomicU64>,
    t: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Event>,
    rng: ChaCha8Rng,
    neighbours: Vec<Vec<usize>>,
    latency: BTreeMap<(usize, usize), u64>,
    busy: BTreeMap<(usize, usize), u64>,
    sessions: BTreeMap<u64, Session<'r>>,
    next_sid: u64,
    push_pending: Vec<bool>,
    writers: Vec<usize>,
    written: usize,
    /// Virtual time of each data change's write, by CID.
    write_time: std::collections::HashMap<weft_store::Cid, u64>,
    delays: Vec<f64>,
    stats: Vec<PeerStats>,
    complete: usize,
    last_write: u64,
    converged_at: Option<u64>,
    sessions_started: u64,
    sessions_failed: u64,
    redundant: u64,
    failures: BTreeMap<String, u64>,
    staleness: Vec<Sample>,
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

/// Runs one simulation.
pub fn run(cfg: &Config) -> Result<Report, Error> {
    cfg.check()?;
    let started = Instant::now();
    let now = Arc::new(AtomicU64::new(EPOCH_MS));
    let verified = Arc::new(VerifiedCache::new());
    let repos: Vec<Repo> = (0..cfg.peers)
        .map(|i| {
            let clock = now.clone();
            let repo = Repo::with_store(
                Store::memory(),
                Identity::from_seed(seed_bytes(cfg.seed, "key", i as u64)),
                Durability::Manual,
            )
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
    let mut latency = BTreeMap::new();
    for (a, ns) in neighbours.iter().enumerate() {
        for &b in ns {
            latency.insert((a, b), us(cfg.latency.sample(&mut rng) / 1e3));
        }
    }
    let mut sim = Sim {
        cfg,
        repos: &repos,
        subs: repos.iter().map(Repo::subscribe).collect(),
        doc,
        now,
        t: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        events: BTreeMap::new(),
        rng,
        neighbours,
        latency,
        busy: BTreeMap::new(),
        sessions: BTreeMap::new(),
        next_sid: 0,
        push_pending: vec![false; cfg.peers],
        writers,
        written: 0,
        write_time: std::collections::HashMap::new(),
        delays: Vec::new(),
        stats: vec![PeerStats::default(); cfg.peers],
        complete: 0,
        last_write: 0,
        converged_at: None,
        sessions_started: 0,
        sessions_failed: 0,
        redundant: 0,
        failures: BTreeMap::new(),
        staleness: Vec::new(),
    };
    sim.start();
    sim.run()?;
    let report = sim.report(started);
    // The claim "converged" is checked on the real repos, not on the bookkeeping.
    if report.converged {
        let first = repos[0].heads(doc)?;
        for (i, r) in repos.iter().enumerate() {
            if r.heads(doc)? != first {
                return Err(Error::Diverged { peer: i });
            }
        }
    }
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
        if self.sample_every <= 0.0 || self.timeout <= 0.0 {
            return bad("the sample period and the timeout must be positive");
        }
        Ok(())
    }
}

impl<'r> Sim<'r> {
    fn schedule(&mut self, at: u64, e: Event) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, e);
    }

    fn start(&mut self) {
        let first_write = self.next_write_gap();
        self.schedule(first_write, Event::Write);
        for p in 0..self.cfg.peers {
            let at = us(self.rng.gen_range(0.0..self.cfg.interval));
            self.schedule(at, Event::Tick(p));
        }
        self.schedule(0, Event::Sample);
    }

    fn next_write_gap(&mut self) -> u64 {
        // Exponential inter-arrival times: a Poisson process of rate `write_rate`.
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        us(-u.ln() / self.cfg.write_rate)
    }

    fn run(&mut self) -> Result<(), Error> {
        let limit = us(self.cfg.max_time);
        while let Some(Reverse((t, seq))) = self.queue.pop() {
            if t > limit {
                break;
            }
            self.t = t;
            self.now.store(EPOCH_MS + t / 1_000, Ordering::Relaxed);
            let Some(event) = self.events.remove(&seq) else {
                continue;
            };
            match event {
                Event::Write => self.write()?,
                Event::Tick(p) => self.tick(p),
                Event::Push(p) => self.push(p),
                Event::Deliver {
                    sid,
                    to_responder,
                    frames,
                } => self.deliver(sid, to_responder, frames),
                Event::Timeout(sid) => {
                    if let Some(mut s) = self.sessions.remove(&sid) {
                        self.fail(&mut s, "a message was lost (timed out)".into());
                    }
                }
                Event::Sample => self.sample(),
            }
            if self.converged_at.is_some() {
                self.sample();
                break;
            }
        }
        Ok(())
    }

    fn write(&mut self) -> Result<(), Error> {
        let w = self.writers[self.rng.gen_range(0..self.writers.len())];
        let key = format!("k/{}", self.rng.gen_range(0..self.cfg.keys));
        let mut tx = self.repos[w].transaction(self.doc);
        tx.set(&key, Value::from(self.written as i64))?;
        if let Some(c) = tx.commit()? {
            self.write_time.insert(c.cid, self.t);
        }
        self.written += 1;
        self.last_write = self.t;
        self.drain(w);
        if self.written < self.cfg.changes {
            let gap = self.next_write_gap();
            self.schedule(self.t + gap, Event::Write);
        }
        if self.cfg.push_fanout > 0 && !self.push_pending[w] {
            self.push_pending[w] = true;
            self.schedule(self.t + us(self.cfg.debounce), Event::Push(w));
        }
        Ok(())
    }

    /// Counts what a peer received since last time (its subscription), and whether every
    /// peer now holds every change. A peer holds at most what was written, so holding
    /// `changes` means the writes are over and this peer has them all.
    fn drain(&mut self, p: usize) {
        while let Some(e) = self.subs[p].try_next() {
            self.stats[p].held += 1;
            if !e.local {
                if let Some(&w) = self.write_time.get(&e.cid) {
                    self.delays.push(secs(self.t.saturating_sub(w)));
                }
            }
            if self.stats[p].held == self.cfg.changes {
                self.complete += 1;
                if self.complete == self.cfg.peers {
                    self.converged_at = Some(self.t);
                }
            }
        }
    }

    fn tick(&mut self, p: usize) {
        let next = self.t + us(self.cfg.interval);
        self.schedule(next, Event::Tick(p));
        // One initiated session at a time: a round waits for the last one to end.
        if self.sessions.values().any(|s| s.a == p) {
            return;
        }
        let ns = &self.neighbours[p];
        if ns.is_empty() {
            return;
        }
        let q = ns[self.rng.gen_range(0..ns.len())];
        self.open(p, q);
    }

    fn push(&mut self, p: usize) {
        self.push_pending[p] = false;
        let mut ns = self.neighbours[p].clone();
        ns.shuffle(&mut self.rng);
        ns.truncate(self.cfg.push_fanout);
        for q in ns {
            self.open(p, q);
        }
    }

    fn cut(&self, a: usize, b: usize) -> bool {
        self.cfg.partition.is_some_and(|part| {
            let t = secs(self.t);
            let side = |p: usize| (p as f64) < part.fraction * self.cfg.peers as f64;
            t >= part.start && t < part.end && side(a) != side(b)
        })
    }

    /// Starts a session from `a` to `b` (a failure to start counts as a failed session).
    fn open(&mut self, a: usize, b: usize) {
        self.sessions_started += 1;
        if self.cut(a, b) {
            self.sessions_failed += 1;
            *self
                .failures
                .entry("partitioned: could not connect".into())
                .or_default() += 1;
            return;
        }
        let sid = self.next_sid;
        self.next_sid += 1;
        let opts = SyncOptions {
            direction: Direction::Both,
            docs: None,
        };
        let seed = seed_bytes(self.cfg.seed, "session", sid);
        let made = Initiator::new(&self.repos[a], opts).and_then(|i| {
            Ok((
                i.source(&format!("peer-{b}")).seeded(seed),
                Responder::new(&self.repos[b])?
                    .source(&format!("peer-{a}"))
                    .seeded(seed_bytes(self.cfg.seed, "session-r", sid)),
            ))
        });
        let (init, resp) = match made {
            Ok(sides) => sides,
            Err(e) => {
                self.sessions_failed += 1;
                *self.failures.entry(e.to_string()).or_default() += 1;
                return;
            }
        };
        self.sessions.insert(
            sid,
            Session {
                a,
                b,
                stalled: false,
                init,
                resp,
            },
        );
        self.flush(sid, true);
        self.flush(sid, false);
    }

    /// Sends what one side of a session has to send, as one message.
    fn flush(&mut self, sid: u64, from_initiator: bool) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if s.stalled {
            return;
        }
        let side: &mut dyn Endpoint = if from_initiator {
            &mut s.init
        } else {
            &mut s.resp
        };
        let mut frames = Vec::new();
        let mut bytes = 0u64;
        loop {
            match side.poll_transmit() {
                Ok(Some(f)) => {
                    bytes += f.len() as u64;
                    frames.push(f);
                }
                Ok(None) => break,
                Err(e) => {
                    if let Some(mut s) = self.sessions.remove(&sid) {
                        self.fail(&mut s, e.to_string());
                    }
                    return;
                }
            }
        }
        if frames.is_empty() {
            return;
        }
        let (from, to) = if from_initiator {
            (s.a, s.b)
        } else {
            (s.b, s.a)
        };
        self.stats[from].bytes += bytes;
        self.stats[from].messages += 1;
        let lost = self.cfg.loss > 0.0 && self.rng.gen_bool(self.cfg.loss);
        if lost || self.cut(from, to) {
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.stalled = true;
            }
            let at = self.t + us(self.cfg.timeout);
            self.schedule(at, Event::Timeout(sid));
            return;
        }
        let transmit = if self.cfg.bandwidth > 0.0 {
            us(bytes as f64 / self.cfg.bandwidth)
        } else {
            0
        };
        let busy = self.busy.entry((from, to)).or_insert(0);
        let start = (*busy).max(self.t);
        *busy = start + transmit;
        let arrive = start + transmit + self.latency.get(&(from, to)).copied().unwrap_or(0);
        self.stats[to].bytes += bytes;
        self.stats[to].messages += 1;
        self.schedule(
            arrive,
            Event::Deliver {
                sid,
                to_responder: from_initiator,
                frames,
            },
        );
    }

    fn deliver(&mut self, sid: u64, to_responder: bool, frames: Vec<Vec<u8>>) {
        if self.cut_session(sid) {
            if let Some(mut s) = self.sessions.remove(&sid) {
                self.fail(&mut s, "partitioned: the link went down".into());
            }
            return;
        }
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if s.stalled {
            return;
        }
        let (side, peer): (&mut dyn Endpoint, usize) = if to_responder {
            (&mut s.resp, s.b)
        } else {
            (&mut s.init, s.a)
        };
        let mut error = None;
        for f in &frames {
            if let Err(e) = side.handle(&f[4..]) {
                let who = if to_responder {
                    "responder"
                } else {
                    "initiator"
                };
                error = Some(format!("{who}: {e}"));
                break;
            }
        }
        self.drain(peer);
        if let Some(e) = error {
            if let Some(mut s) = self.sessions.remove(&sid) {
                self.fail(&mut s, e);
            }
            return;
        }
        self.flush(sid, !to_responder);
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        if s.init.is_done() && s.resp.is_done() {
            let (a, b) = (s.a, s.b);
            if let Some(s) = self.sessions.remove(&sid) {
                self.redundant += s.init.stats().redundant_in + s.resp.stats().redundant_in;
            }
            self.drain(a);
            self.drain(b);
        }
    }

    fn cut_session(&self, sid: u64) -> bool {
        self.sessions.get(&sid).is_some_and(|s| self.cut(s.a, s.b))
    }

    fn fail(&mut self, s: &mut Session<'r>, why: String) {
        s.init.abort();
        s.resp.abort();
        self.sessions_failed += 1;
        // The first few reasons verbatim; then only how many more.
        let key = if self.failures.len() < 8 || self.failures.contains_key(&why) {
            why
        } else {
            "other".into()
        };
        *self.failures.entry(key).or_default() += 1;
        let (a, b) = (s.a, s.b);
        self.drain(a);
        self.drain(b);
    }

    fn sample(&mut self) {
        let n = self.cfg.peers as f64;
        let missing: Vec<usize> = self
            .stats
            .iter()
            .map(|s| self.written.saturating_sub(s.held))
            .collect();
        self.staleness.push(Sample {
            t: secs(self.t),
            written: self.written,
            mean_missing: missing.iter().sum::<usize>() as f64 / n,
            max_missing: missing.iter().copied().max().unwrap_or(0),
            up_to_date: missing.iter().filter(|&&m| m == 0).count() as f64 / n,
        });
        if self.converged_at.is_none() {
            let at = self.t + us(self.cfg.sample_every);
            self.schedule(at, Event::Sample);
        }
    }

    fn report(&mut self, started: Instant) -> Report {
        let per_peer = |f: &dyn Fn(&PeerStats) -> u64| -> Summary {
            let mut v: Vec<f64> = self.stats.iter().map(|s| f(s) as f64).collect();
            Summary::of(&mut v)
        };
        Report {
            config: self.cfg.clone(),
            converged: self.converged_at.is_some(),
            last_write: secs(self.last_write),
            convergence: self
                .converged_at
                .map(|t| secs(t.saturating_sub(self.last_write))),
            delivery: Summary::of(&mut self.delays),
            sessions: self.sessions_started,
            failed_sessions: self.sessions_failed,
            messages_per_peer: per_peer(&|s| s.messages),
            bytes_per_peer: per_peer(&|s| s.bytes),
            bytes_total: self.stats.iter().map(|s| s.bytes).sum::<u64>() / 2,
            redundant_blocks: self.redundant,
            failures: std::mem::take(&mut self.failures),
            staleness: std::mem::take(&mut self.staleness),
            wall_seconds: started.elapsed().as_secs_f64(),
        }
    }
}
