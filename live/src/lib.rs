//! weft-live: a replica that keeps itself in sync with its peers in the background, and the
//! sync status per remote.
//!
//! It is a crate of its own so that an app with its own transport depends on the protocol
//! (`weft-sync`) alone and the lab needs no network code: live sync runs sessions over
//! `weft-net`'s transports, from a thread of its own.
//!
//! - [`live`]: [`Live`], gossip with one random peer per interval and every unconverged peer
//!   right after a local commit, and what it reports ([`LiveEvent`]);
//! - [`status`]: per remote, how the last sync went and how far apart the two replicas are
//!   ([`status::record`], [`status::remotes`]), and how long changes took to arrive
//!   ([`status::delays`]).
//!
//! The runnable example `live/examples/live.rs` (`cargo run -p weft-live --example live`,
//! reproduced in the [`live`] docs) shows both over loopback TCP; the test
//! `live::the_example_converges` runs the same code.

#![allow(clippy::result_large_err)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod live;
pub mod status;

pub use crate::live::{Live, LiveEvent, LiveOptions, Peer, Peers};
