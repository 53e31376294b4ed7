//! The parameters of a run: [`Config`], with the link [`Latency`] and the [`Partition`].

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};
use serde::Serialize;

use crate::{Error, Topology};

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
    pub(crate) fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
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

impl Config {
    /// Refuses parameters out of range.
    pub(crate) fn check(&self) -> Result<(), Error> {
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
