//! Live sync: a replica that keeps itself in sync with its peers, in the background.
//!
//! [`Live::start`] runs one thread that
//! - every [`LiveOptions::interval`] (give or take [`LiveOptions::jitter`]) syncs, both ways, with
//!   **one** peer chosen at random: gossip, with no leader, any replica with any other, so a
//!   change spreads to every replica connected through peers' peers;
//! - when a change is committed here (a local [`weft_dag::Event`]), waits
//!   [`LiveOptions::debounce`] so that a burst of commits goes out together, then syncs with every
//!   peer not known to be converged;
//! - after every attempt, [`status::record`]s it and tells subscribers ([`LiveEvent`]);
//! - leaves alone for a while a peer that refused this replica's key (revoked, or never granted):
//!   the wait doubles at each refusal, from the interval up to ten minutes, and resets once a sync
//!   with it works ([`Live::sync_now`] asks it at once all the same).
//!
//! Peers come from a [`Peers`] source, asked again before every round, so an app (or `weft
//! serve`, which reads `.weft/remotes`) can add and remove peers while it runs. Each [`Peer`]
//! carries its own [`ConnectOptions`]: the identity to authenticate with over `tcp://` and the key
//! the server must hold; [`Peers::after_sync`] sees each result (to pin the key a server proved,
//! say).
//!
//! Dropping the [`Live`] stops the thread at once: it waits on a channel, never sleeps, and a
//! session in progress over `tcp://` is cut off ([`weft_net::Cancel`]).
//!
//! # Example
//! `live/examples/live.rs` (`cargo run -p weft-live --example live`; the test
//! `live::the_example_converges` in `live/tests/it/live.rs` runs it too): two replicas over
//! loopback TCP.
#![doc = concat!("```no_run\n", include_str!("../examples/live.rs"), "```")]

use std::{
    collections::HashMap,
    fmt,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::{self, Receiver, RecvTimeoutError, Sender},
        Arc, Mutex,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore as _, SeedableRng as _};
use weft_dag::Repo;
use weft_store::sync_util::lock;

use weft_net::transport::{self, Cancel, ConnectOptions, Remote, Synced};
use weft_sync::{Direction, Error, Stats, SyncOptions};

use crate::status::{self, RemoteStatus};

/// A peer to keep in sync with.
#[derive(Debug, Clone)]
pub struct Peer {
    /// What status and arrival records call it: a remote's name, or its URL.
    pub name: String,
    /// Its URL, as configured (kept in the status record).
    pub url: String,
    /// Where it is.
    pub remote: Remote,
    /// How to reach it: over `tcp://`, the identity to authenticate with and the key the server
    /// must hold. Its `source` and `cancel` are set by [`Live`].
    pub connect: ConnectOptions,
}

impl Peer {
    /// A peer named by its URL, reached with `connect`.
    pub fn new(url: &str, connect: ConnectOptions) -> Result<Peer, Error> {
        Ok(Peer {
            name: url.to_string(),
            url: url.to_string(),
            remote: Remote::parse(url)?,
            connect,
        })
    }

    /// The same peer under another name.
    pub fn named(mut self, name: &str) -> Peer {
        self.name = name.to_string();
        self
    }
}

/// Where a [`Live`] replica finds its peers. Asked before every round, from the live thread.
pub trait Peers: Send + 'static {
    /// The peers now. An error skips the round (it is logged).
    fn peers(&mut self) -> Result<Vec<Peer>, String>;

    /// Sees the result of every attempt before it is recorded, and may reword an error (one
    /// line). The default keeps the result as it is.
    fn after_sync(&mut self, peer: &Peer, result: Result<Synced, Error>) -> Result<Synced, String> {
        let _ = peer;
        result.map_err(|e| e.to_string())
    }
}

/// A fixed list of peers.
impl Peers for Vec<Peer> {
    fn peers(&mut self) -> Result<Vec<Peer>, String> {
        Ok(self.clone())
    }
}

/// How a [`Live`] replica paces itself.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Time between two gossip rounds (each syncs with one random peer); at least 1 ms.
    pub interval: Duration,
    /// Each interval is drawn from `interval * (1 ± jitter)` (0 to 1), so replicas started
    /// together drift apart instead of syncing in lockstep.
    pub jitter: f64,
    /// How long after a local commit the replica syncs with its peers that are not known to be
    /// converged; commits within this window go out together.
    pub debounce: Duration,
    /// Seed of the jitter and of the choice of peers; `None`: from the OS.
    pub seed: Option<u64>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            interval: Duration::from_secs(5),
            jitter: 0.1,
            debounce: Duration::from_millis(50),
            seed: None,
        }
    }
}

/// What a [`Live`] replica reports to [`Live::subscribe`]rs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    /// A sync with `remote` succeeded.
    Synced {
        /// The peer's name.
        remote: String,
        /// The session's figures.
        stats: Stats,
    },
    /// A sync with `remote` failed.
    Failed {
        /// The peer's name.
        remote: String,
        /// Why, in one line.
        error: String,
    },
    /// This replica and `remote` now hold the same heads of every document they share (it was
    /// not known to before): sent once per change of state.
    Converged {
        /// The peer's name.
        remote: String,
    },
    /// This replica and `remote`, known to be converged, are not any more (a change here, or a
    /// failed sync).
    Diverged {
        /// The peer's name.
        remote: String,
    },
}

enum Msg {
    Local,
    SyncNow,
    Stop,
}

type Listeners = Arc<Mutex<Vec<Sender<LiveEvent>>>>;

/// A replica syncing with its peers in the background (see the [module docs](self)). Stops
/// when dropped.
pub struct Live {
    repo: Arc<Repo>,
    tx: Sender<Msg>,
    stop: Arc<AtomicBool>,
    cancel: Cancel,
    listeners: Listeners,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live")
            .field("running", &self.thread.is_some())
            .finish_non_exhaustive()
    }
}

impl Live {
    /// Starts syncing `repo` with `peers`; the first round starts at once.
    pub fn start(
        repo: Arc<Repo>,
        peers: impl Peers,
        options: LiveOptions,
    ) -> std::io::Result<Live> {
        let (tx, rx) = mpsc::channel();
        repo.subscribe_with(tx.clone(), |e| e.local.then_some(Msg::Local));
        let stop = Arc::new(AtomicBool::new(false));
        let cancel = Cancel::new();
        let listeners: Listeners = Arc::default();
        let seed = options.seed.unwrap_or_else(|| {
            let mut b = [0u8; 8];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
            u64::from_le_bytes(b)
        });
        let mut worker = Worker {
            repo: Arc::clone(&repo),
            peers: Box::new(peers),
            options,
            rng: Dice::new(seed),
            stop: Arc::clone(&stop),
            cancel: cancel.clone(),
            listeners: Arc::clone(&listeners),
            converged: HashMap::new(),
            failing: HashMap::new(),
            refused: HashMap::new(),
        };
        let thread = thread::Builder::new()
            .name("weft-live".into())
            .spawn(move || worker.run(&rx))?;
        Ok(Live {
            repo,
            tx,
            stop,
            cancel,
            listeners,
            thread: Some(thread),
        })
    }

    /// A stream of what happens from now on. It ends when the [`Live`] is dropped.
    pub fn subscribe(&self) -> Receiver<LiveEvent> {
        let (tx, rx) = mpsc::channel();
        lock(&self.listeners).push(tx);
        rx
    }

    /// The status against every peer with a recorded attempt (see [`status::remotes`]).
    pub fn status(&self) -> Result<Vec<RemoteStatus>, Error> {
        status::remotes(&self.repo)
    }

    /// Syncs with every peer now (after the debounce), converged or not.
    pub fn sync_now(&self) {
        let _ = self.tx.send(Msg::SyncNow);
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cancel.cancel();
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `d` from now, or a very long time from now if that is past what an `Instant` holds.
fn later(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(1 << 30))
}

/// A seeded generator for jitter and picking peers.
struct Dice(ChaCha8Rng);

impl Dice {
    fn new(seed: u64) -> Dice {
        Dice(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
}

struct Worker {
    repo: Arc<Repo>,
    peers: Box<dyn Peers>,
    options: LiveOptions,
    rng: Dice,
    stop: Arc<AtomicBool>,
    cancel: Cancel,
    listeners: Listeners,
    /// Per peer, whether it was converged at the last look (absent: never looked).
    converged: HashMap<String, bool>,
    /// Per failing peer, its last error (so that a peer that stays down is logged once).
    failing: HashMap<String, String>,
    /// Per peer that refused this replica's key: when to try it again, and the wait after that.
    refused: HashMap<String, (Instant, Duration)>,
}

/// The longest wait before asking again a peer that refused this replica's key (a revoke, or a
/// key never granted): the wait doubles from the gossip interval at each refusal up to this, so
/// a refused replica neither hammers its peer nor misses a grant for long.
const MAX_REFUSED_WAIT: Duration = Duration::from_secs(600);

impl Worker {
    fn run(&mut self, rx: &Receiver<Msg>) {
        let mut next_tick = Instant::now();
        let mut pending: Option<Instant> = None;
        let mut everyone = false;
        loop {
            let wake = pending.map_or(next_tick, |p| p.min(next_tick));
            match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Msg::Local) => {
                    pending.get_or_insert_with(|| later(self.options.debounce));
                    self.local_change();
                }
                Ok(Msg::SyncNow) => {
                    pending.get_or_insert_with(|| later(self.options.debounce));
                    everyone = true;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.stopped() {
                return;
            }
            let now = Instant::now();
            if pending.is_some_and(|p| p <= now) {
                pending = None;
                let all = std::mem::take(&mut everyone);
                for peer in self.current_peers() {
                    if self.stopped() {
                        return;
                    }
                    if all || (self.converged.get(&peer.name) != Some(&true) && self.may_ask(&peer))
                    {
                        self.attempt(&peer);
                    }
                }
            }
            if next_tick <= Instant::now() {
                next_tick = later(self.jittered());
                let mut peers = self.current_peers();
                peers.retain(|p| self.may_ask(p));
                if !peers.is_empty() {
                    let i = self.rng.below(peers.len());
                    self.attempt(&peers[i]);
                }
            }
        }
    }

    /// Whether `peer` may be asked now: not while it refused this replica's key recently.
    fn may_ask(&self, peer: &Peer) -> bool {
        self.refused
            .get(&peer.name)
            .is_none_or(|(next, _)| *next <= Instant::now())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The next interval: at least 1 ms, whatever the options say.
    fn jittered(&mut self) -> Duration {
        let j = self.options.jitter;
        let j = if j.is_finite() {
            j.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let factor = 1.0 + j * (2.0 * self.rng.unit() - 1.0);
        Duration::try_from_secs_f64(self.options.interval.as_secs_f64() * factor)
            .unwrap_or(self.options.interval)
            .max(Duration::from_millis(1))
    }

    fn current_peers(&mut self) -> Vec<Peer> {
        match self.peers.peers() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("live sync: cannot list the peers: {e}");
                Vec::new()
            }
        }
    }

    fn emit(&self, event: LiveEvent) {
        lock(&self.listeners).retain(|l| l.send(event.clone()).is_ok());
    }

    /// A commit here: the peers known to be converged may not be any more.
    fn local_change(&mut self) {
        let names: Vec<String> = self
            .converged
            .iter()
            .filter(|(_, c)| **c)
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            self.look(&name);
        }
    }

    /// Compares with `name`'s recorded status; reports a change of convergence.
    fn look(&mut self, name: &str) {
        let now = match status::remote(&self.repo, name) {
            Ok(Some(s)) => s.converged,
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(remote = name, "live sync: cannot read the sync status: {e}");
                false
            }
        };
        let before = self.converged.insert(name.to_string(), now);
        match (before, now) {
            (Some(true), true) => {}
            (_, true) => {
                tracing::info!(remote = name, "converged");
                self.emit(LiveEvent::Converged {
                    remote: name.to_string(),
                });
            }
            (Some(true), false) => self.emit(LiveEvent::Diverged {
                remote: name.to_string(),
            }),
            (_, false) => {}
        }
    }

    fn attempt(&mut self, peer: &Peer) {
        let mut copts = peer.connect.clone();
        copts.source.get_or_insert_with(|| peer.name.clone());
        copts.cancel = Some(self.cancel.clone());
        let result = transport::sync(
            &self.repo,
            &peer.remote,
            &copts,
            SyncOptions {
                direction: Direction::Both,
                docs: None,
            },
            &mut |_| {},
        );
        if self.stopped() {
            // Cut off by the stop: not the peer's failure.
            return;
        }
        if let Err(Error::Refused { .. }) = &result {
            let wait = self
                .refused
                .get(&peer.name)
                .map_or(self.options.interval, |(_, w)| *w);
            let wait = wait.max(Duration::from_millis(1));
            self.refused.insert(
                peer.name.clone(),
                (Instant::now() + wait, (wait * 2).min(MAX_REFUSED_WAIT)),
            );
        } else {
            self.refused.remove(&peer.name);
        }
        let result = self.peers.after_sync(peer, result);
        let recorded = status::record(
            &self.repo,
            &peer.name,
            &peer.url,
            result.as_ref().map_err(String::as_str),
        );
        if let Err(e) = recorded {
            tracing::warn!(remote = %peer.name, "live sync: cannot record the sync status: {e}");
        }
        match result {
            Ok(synced) => {
                if self.failing.remove(&peer.name).is_some() {
                    tracing::info!(remote = %peer.name, "live sync works again");
                }
                tracing::debug!(
                    remote = %peer.name,
                    changes_in = synced.stats.changes_in,
                    changes_out = synced.stats.changes_out,
                    "synced"
                );
                self.emit(LiveEvent::Synced {
                    remote: peer.name.clone(),
                    stats: synced.stats,
                });
            }
            Err(error) => {
                if self.failing.get(&peer.name) != Some(&error) {
                    tracing::warn!(remote = %peer.name, "live sync failed: {error}");
                    self.failing.insert(peer.name.clone(), error.clone());
                }
                self.emit(LiveEvent::Failed {
                    remote: peer.name.clone(),
                    error,
                });
            }
        }
        self.look(&peer.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bounds_and_is_seeded() {
        let mut a = Dice::new(7);
        let mut b = Dice::new(7);
        for _ in 0..1000 {
            let (x, y) = (a.unit(), b.unit());
            assert_eq!(x.to_bits(), y.to_bits());
            assert!((0.0..1.0).contains(&x));
            assert!(a.below(5) < 5);
            b.below(5);
        }
    }
}
