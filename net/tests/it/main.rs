//! Integration tests of the transports over real loopback sockets.
//!
//! - [`noise`]: `tcp://`: the handshake, key pinning, men in the middle, identities of small
//!   order, tampering, garbage and stalls;
//! - [`access`]: what a key may read over `tcp://`, and a stranger refused with the reason;
//! - [`invite`]: invites redeemed once per use, hostile JOINs refused, a join over `tcp://`.
//!
//! The protocol itself is tested in memory in `weft-sync`'s tests.

#![allow(clippy::unwrap_used, clippy::result_large_err)]

mod access;
mod invite;
mod noise;

use weft_dag::Repo;
use weft_sync::{pump, Direction, Endpoint, Initiator, Responder, Stats, SyncOptions};
pub use weft_testkit::{empty, identity};

/// Options for every document, in one direction.
pub fn opts(direction: Direction) -> SyncOptions {
    SyncOptions {
        direction,
        docs: None,
    }
}

/// One session of `initiator` against `responder` in memory, run to the end; returns both
/// sides' stats.
pub fn sync(initiator: &Repo, responder: &Repo, direction: Direction) -> (Stats, Stats) {
    let mut i = Initiator::new(initiator, opts(direction)).unwrap();
    let mut r = Responder::new(responder).unwrap();
    pump(&mut i, &mut r, None).unwrap();
    assert!(i.is_done());
    assert!(r.is_done());
    (i.stats().clone(), r.stats().clone())
}

pub use weft_testkit::{assert_fsck, assert_same, state};
