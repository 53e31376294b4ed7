//! What a run measured: the [`Report`], its [`Summary`] figures and staleness [`Sample`]s.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Config;

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
