//! weft-lab: how long until every replica agrees, measured on the real code.
//!
//! [`sim::run`] simulates many replicas, each a real [`weft_dag::Repo`] in memory, syncing with
//! the real [`weft_sync`] state machines over simulated links (latency, bandwidth, loss,
//! partitions), in virtual time, from a seed. [`sweep`] runs it over ranges of a parameter and
//! [`plot`] draws the results. The `weft lab` command is the front end.

#![allow(clippy::result_large_err)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod chart;
pub mod config;
mod heat_map;
mod line_chart;
mod peer;
pub mod plot;
pub mod report;
pub mod sim;
pub mod sweep;
pub mod topology;

pub use crate::{
    config::{Config, Latency, Partition},
    report::{Report, Sample, Summary},
    sim::run,
    topology::Topology,
};

/// What can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is out of range.
    #[error("invalid lab parameters: {0}")]
    Config(String),
    /// The replicated code failed outside a session (setup, a local write).
    #[error(transparent)]
    Dag(#[from] weft_dag::Error),
    /// Sync failed outside a session.
    #[error(transparent)]
    Sync(#[from] weft_sync::Error),
    /// Every peer held every change but heads differ: a convergence bug.
    #[error("peer {peer} holds every change but its heads differ from peer 0's")]
    Diverged {
        /// The peer.
        peer: usize,
    },
    /// Writing results failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Drawing a plot failed.
    #[error("drawing a plot: {0}")]
    Plot(#[from] plot::PlotError),
}
