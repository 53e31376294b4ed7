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
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use weft_dag::{Change, Clock, DocId, Identity, Op, Repo, Role, VerifiedCache};
use weft_store::{CidMap, SharedValues, Store};
use weft_sync::peer;

use crate::{
    peer::{secs, seed_bytes, us, Event, Link, Peer, Sid, World, EPOCH_MS},
    Config, Error, Report, Sample, Summary,
};

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
        .map(|(i, (repo, clock))| {
            let rng = ChaCha8Rng::from_seed(seed_bytes(cfg.seed, "peer", i as u64));
            Peer::new(i, repo, doc, clock, rng)
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
