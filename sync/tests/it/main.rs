//! Integration tests of the sync protocol over the in-memory transport ([`weft_sync::pump`]).
//!
//! - [`rounds`]: the round-trip targets of each scenario (clone, fast-forward, divergence with
//!   and without sync history, deep divergence, the persisted per-peer state, nothing to do);
//! - [`converge`]: random edits on several replicas, random pairwise syncs (some cut off
//!   midway), then everything converges and passes fsck;
//! - [`hostile`]: peers that send bad frames, bad blocks or withhold changes get a typed error
//!   and leave the victim sound;
//! - [`access`]: what a key may read and push, and how it is refused, through the session;
//! - [`versions`]: protocol versions 1 and 2 (compressed blocks) against each other, the bytes
//!   per change of a clone, and a compressed turn cut off midway;
//! - [`layering`]: this crate has no network or process code, and nothing it depends on does;
//! - [`bundle`]: offline bundles, their format and every way a file can be damaged.
//!
//! The transports' tests (`tcp://`, Noise, the server) are `weft-net`'s; live sync's and the
//! status's are `weft-live`'s.

#![allow(clippy::unwrap_used, clippy::result_large_err)]

mod access;
mod bundle;
mod converge;
mod crashers;
mod hostile;
mod layering;
mod rounds;
mod versions;

use weft_dag::{Author, Cid, Codec, DocId, Identity, Repo, Role};
use weft_store::Store;
use weft_sync::{
    bloom::Bloom,
    frame::{Frame, Reply, Request},
    pump, zblocks, Direction, Endpoint, Error, Initiator, Responder, Stats, SyncOptions,
};

/// An identity from a one-byte seed.
pub fn identity(seed: u8) -> Identity {
    Identity::from_seed([seed; 32])
}

/// A repo with no document at all (unlike [`Repo::memory`], which creates its own `main`).
///
pub fn empty(seed: u8) -> Repo {
    Repo::with_store(Store::memory(), identity(seed)).unwrap()
}

/// `by` grants `who` `role` in `doc`: one change, on `by`'s heads.
pub fn grant(by: &Repo, doc: DocId, who: Author, role: Role) -> Cid {
    let mut tx = by.transaction(doc);
    tx.grant(who, role).unwrap();
    tx.commit().unwrap().unwrap().cid
}

/// A clone of `origin` (an [`empty`] repo from `seed` that pulled everything) whose key
/// `origin` made a writer of `doc` first, so the clone holds the grant and may write `doc`.
/// The grant is one more change of `doc`; the two have a persisted sync history.
pub fn writer_clone(origin: &Repo, doc: DocId, seed: u8) -> Repo {
    let repo = empty(seed);
    grant(origin, doc, repo.author(), Role::Writer);
    sync(&repo, origin, Direction::Pull);
    assert_eq!(repo.role(doc, &repo.author()).unwrap(), Some(Role::Writer));
    repo
}

/// Options for every document, in one direction.
pub fn opts(direction: Direction) -> SyncOptions {
    SyncOptions {
        direction,
        docs: None,
    }
}

/// One session of `initiator` against `responder`, run to the end; returns both sides' stats.
pub fn sync(initiator: &Repo, responder: &Repo, direction: Direction) -> (Stats, Stats) {
    let mut i = Initiator::new(initiator, opts(direction)).unwrap();
    let mut r = Responder::new(responder).unwrap();
    pump(&mut i, &mut r, None).unwrap();
    assert!(i.is_done());
    assert!(r.is_done());
    (i.stats().clone(), r.stats().clone())
}

/// `n` commits of one op each on `doc`: alternately a register write and a counter increment,
/// over a few keys under `tag`. (The keys rotate because a local `incr` reads every increment
/// of its counter, so one counter incremented thousands of times makes the loop quadratic.)
pub fn edit(repo: &Repo, doc: DocId, tag: &str, n: usize) {
    for i in 0..n {
        let mut tx = repo.transaction(doc);
        if i % 2 == 0 {
            tx.set(&format!("{tag}/r{}", i % 8), i as i64).unwrap();
        } else {
            tx.incr(&format!("{tag}/n{}", i % 64), 1).unwrap();
        }
        tx.commit().unwrap().unwrap();
    }
}

pub use weft_testkit::{assert_fsck, assert_same, state};

/// What crossed the wire in a session: the control messages and the CIDs of the blocks.
#[derive(Debug, Default)]
pub struct Transcript {
    /// Every REQUEST of the initiator, in order.
    pub requests: Vec<Request>,
    /// Every REPLY of the responder, in order.
    pub replies: Vec<Reply>,
    /// Blocks the initiator pushed, with the index of the request they followed.
    pub pushed: Vec<(usize, Cid)>,
    /// Blocks the responder sent, with the index of the reply they followed.
    pub pulled: Vec<(usize, Cid)>,
}

impl Transcript {
    /// Bloom false positives that mattered: CIDs a side's summary claimed while that side
    /// lacked them (they were sent to it afterwards, or in the same turn), except `ignore`.
    /// Also checks that every CID asked for by `need` was claimed by an earlier summary of the
    /// initiator (so a parent was held back only by a false positive).
    pub fn false_positives(&self, ignore: &[Cid]) -> u32 {
        for (i, req) in self.requests.iter().enumerate() {
            for cid in &req.need {
                assert!(
                    request_blooms(&self.requests[..i]).any(|b| b.contains(cid)),
                    "{cid} was held back but no summary claimed it"
                );
            }
        }
        let mut fps = std::collections::BTreeSet::new();
        for &(round, cid) in &self.pulled {
            if request_blooms(&self.requests[..=round]).any(|b| b.contains(&cid)) {
                fps.insert(cid);
            }
        }
        for &(round, cid) in &self.pushed {
            if reply_blooms(&self.replies[..round]).any(|b| b.contains(&cid)) {
                fps.insert(cid);
            }
        }
        fps.retain(|c| !ignore.contains(c));
        fps.len() as u32
    }

    /// The session took `expected` round trips, plus at most one per false positive (a retry
    /// or a fetch by CID). Without false positives (all but about 0.1 % of runs), exactly
    /// `expected`.
    pub fn assert_rounds(&self, stats: &Stats, expected: u32, ignore: &[Cid]) {
        let fps = self.false_positives(ignore);
        assert!(
            stats.round_trips >= expected && stats.round_trips <= expected + fps,
            "{} round trips, expected {expected} (+ up to {fps} for false positives)",
            stats.round_trips
        );
    }
}

/// The summaries of the initiator in `requests`.
fn request_blooms(requests: &[Request]) -> impl Iterator<Item = &Bloom> {
    requests
        .iter()
        .flat_map(|r| r.docs.iter().filter_map(|d| d.bloom.as_ref()))
}

/// The summaries of the responder in `replies`.
fn reply_blooms(replies: &[Reply]) -> impl Iterator<Item = &Bloom> {
    replies
        .iter()
        .flat_map(|r| r.docs.iter().filter_map(|d| d.bloom.as_ref()))
}

/// [`sync`] with a transcript of the control messages (same frames as [`pump`]).
pub fn sync_observed(
    initiator: &Repo,
    responder: &Repo,
    direction: Direction,
) -> (Stats, Stats, Transcript) {
    sync_tampered(initiator, responder, direction, &mut |_| false, &mut |_| {
        false
    })
    .unwrap()
}

/// A session in memory, like [`pump`], in which `on_request` and `on_reply` may change each
/// REQUEST and REPLY on the way (returning whether they did). Records the messages as
/// delivered.
pub fn sync_tampered(
    initiator: &Repo,
    responder: &Repo,
    direction: Direction,
    on_request: &mut dyn FnMut(&mut Request) -> bool,
    on_reply: &mut dyn FnMut(&mut Reply) -> bool,
) -> Result<(Stats, Stats, Transcript), Error> {
    let mut i = Initiator::new(initiator, opts(direction))?;
    let mut r = Responder::new(responder)?;
    let mut t = Transcript::default();
    // The blocks of each side, as the other side reads them.
    let (mut up, mut down) = (BlockTap::new(), BlockTap::new());
    loop {
        while let Some(mut f) = i.poll_transmit()? {
            if let Frame::Request(mut req) = Frame::decode(&f[4..])? {
                if on_request(&mut req) {
                    f = Frame::Request(req.clone()).encode();
                }
                t.requests.push(req);
            }
            let round = t.requests.len().saturating_sub(1);
            for cid in up.blocks(&f)? {
                t.pushed.push((round, cid));
            }
            r.handle(&f[4..])?;
        }
        if i.is_done() {
            break;
        }
        let mut moved = false;
        while let Some(mut f) = r.poll_transmit()? {
            if let Frame::Reply(mut rep) = Frame::decode(&f[4..])? {
                if on_reply(&mut rep) {
                    f = Frame::Reply(rep.clone()).encode();
                }
                t.replies.push(rep);
            }
            let round = t.replies.len().saturating_sub(1);
            for cid in down.blocks(&f)? {
                t.pulled.push((round, cid));
            }
            i.handle(&f[4..])?;
            moved = true;
        }
        assert!(moved, "both sides wait for each other");
    }
    assert!(r.is_done());
    Ok((i.stats().clone(), r.stats().clone(), t))
}

/// The CIDs of the change blocks in one side's frames, as they cross: a BLOCK frame (protocol
/// version 1) or a ZBLOCKS frame (version 2), inflated with a stream of its own.
#[derive(Debug)]
pub struct BlockTap {
    stream: zblocks::Decoder,
}

impl Default for BlockTap {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockTap {
    pub fn new() -> BlockTap {
        BlockTap {
            stream: zblocks::Decoder::new().unwrap(),
        }
    }

    /// The CIDs of the blocks in frame `f` (length header included), in order.
    pub fn blocks(&mut self, f: &[u8]) -> Result<Vec<Cid>, Error> {
        let mut cids = Vec::new();
        match Frame::decode(&f[4..])? {
            Frame::Block(bytes) => cids.push(Cid::hash(Codec::DagCbor, &bytes)),
            Frame::Zblocks { size, data } => self.stream.decode(size, &data, &mut |b| {
                cids.push(Cid::hash(Codec::DagCbor, &b));
                Ok(())
            })?,
            _ => {}
        }
        Ok(cids)
    }
}
