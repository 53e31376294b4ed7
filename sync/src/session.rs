//! A sync session: its options, figures and versions, the [`Endpoint`] trait that both sides
//! implement ([`crate::Initiator`], [`crate::Responder`]), what both sides share, and [`pump`],
//! the driver in memory. The sides read and write the repo but never a socket: a driver (see
//! [`crate::run`], or [`pump`]) moves their frames.

use serde::Serialize;
use weft_dag::{DocId, Import, Repo};

use crate::Error;

/// Protocol versions this build speaks. A session uses the highest both sides speak: 2 and 3
/// send change blocks through a zstd stream (ZBLOCKS frames), 1 one raw block per BLOCK frame;
/// 3 refuses a key with a typed REFUSE frame, 1 and 2 with an ERROR in words; the rest of the
/// protocol is the same (see the [crate docs](crate)).
pub const VERSIONS: &[u32] = &[1, 2, 3];

/// The rounds of a session, on both sides: an initiator gives up on a peer that keeps withholding
/// changes after this many, and a responder answers no more requests than this (the next one
/// ends the session with [`Error::NoProgress`](crate::Error::NoProgress)). Honest peers need 1
/// or 2, and one more per (rare) Bloom false positive.
pub const MAX_ROUNDS: u32 = 24;

/// Up to this many candidate changes, the initiator sends its summary in the first turn without
/// being asked (it costs about 2 bytes per change); above it, it waits until the responder says
/// it needs one. The summary only saves a round when both sides moved, and then the persisted
/// base keeps the candidates few; when one side is merely behind, the exact fast path needs no
/// summary and a large one would be pure overhead (9 % of a 1,000-change fast-forward at 10,000).
pub const SPECULATIVE_SUMMARY: usize = 2_000;

/// Which way changes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Fetch the peer's changes.
    Pull,
    /// Send ours.
    Push,
    /// Both, in one session.
    Both,
}

impl Direction {
    pub(crate) fn pulls(self) -> bool {
        matches!(self, Direction::Pull | Direction::Both)
    }
    pub(crate) fn pushes(self) -> bool {
        matches!(self, Direction::Push | Direction::Both)
    }
}

/// What an initiator syncs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Which way.
    pub direction: Direction,
    /// Documents by local name, the peer's name, or id; `None` means every document the peer
    /// serves (pull), every local one (push), or both (sync).
    pub docs: Option<Vec<String>>,
}

/// The figures of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Request/reply exchanges after the greeting.
    pub round_trips: u32,
    /// Bytes received, frame headers included.
    pub bytes_in: u64,
    /// Bytes sent, frame headers included.
    pub bytes_out: u64,
    /// Change blocks received.
    pub changes_in: u64,
    /// Change blocks sent.
    pub changes_out: u64,
    /// Blocks received that were already here.
    pub redundant_in: u64,
    /// Blocks sent that the peer already had (as it reported).
    pub redundant_out: u64,
    /// Documents synced.
    pub docs: u32,
}

/// One side of a session, driven by frames.
pub trait Endpoint {
    /// The next frame to send, header included; `None` while waiting for input (or done).
    fn poll_transmit(&mut self) -> Result<Option<Vec<u8>>, Error>;
    /// Handles one received frame body (the bytes after the length header).
    fn handle(&mut self, body: &[u8]) -> Result<(), Error>;
    /// Whether the session is over for this side.
    fn is_done(&self) -> bool;
    /// The stream ended. Keeps what was verified; says whether that was an orderly end.
    fn handle_eof(&mut self) -> Result<(), Error>;
    /// The session failed: commit every change that was verified, drop the rest.
    fn abort(&mut self);
    /// The figures so far.
    fn stats(&self) -> &Stats;
    /// How many blocks the peer announced for the turn being received (0 if unknown).
    fn expected_in(&self) -> u64 {
        0
    }
    /// The protocol version of the session, once both greetings are in.
    fn version(&self) -> Option<u32> {
        None
    }
}

/// Where a session's Bloom filter salts come from: random, or derived from a seed (a simulation
/// needs every run with the same seed to make the same filters).
#[derive(Debug, Clone, Default)]
pub(crate) struct Salts {
    pub(crate) seed: Option<[u8; 32]>,
    n: u64,
}

impl Salts {
    pub(crate) fn next(&mut self) -> [u8; 32] {
        match &self.seed {
            Some(seed) => {
                self.n += 1;
                *blake3::keyed_hash(seed, &self.n.to_be_bytes()).as_bytes()
            }
            None => {
                let mut salt = [0u8; 32];
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
                salt
            }
        }
    }
}

/// A new import whose arrival records name `source`.
pub(crate) fn import_from<'r>(repo: &'r Repo, source: &str) -> Import<'r> {
    let mut import = repo.import();
    import.set_source(source);
    import
}

/// Commits what an import verified so far and ends it (a session that failed keeps that much).
pub(crate) fn keep_verified(import: &mut Option<Import<'_>>) {
    if let Some(mut import) = import.take() {
        if let Err(e) = import.commit() {
            tracing::warn!("could not keep the changes verified so far: {e}");
        }
    }
}

/// Gives a document that arrived by sync the peer's name for it, if that name is free here.
pub(crate) fn name_if_free(repo: &Repo, name: &str, doc: DocId) -> Result<(), Error> {
    if repo.doc_name(doc)?.is_some() || repo.heads(doc)?.is_empty() {
        return Ok(());
    }
    match repo.name_doc(name, doc) {
        Ok(()) | Err(weft_dag::Error::DocExists { .. }) => Ok(()),
        Err(weft_dag::Error::InvalidDocName { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Runs a session in memory until the initiator is done, handing each side's frames to the
/// other. Used by tests and the crate example; `limit` cuts the connection after that many
/// frames (both ways), as a dropped link would.
pub fn pump(
    initiator: &mut dyn Endpoint,
    responder: &mut dyn Endpoint,
    limit: Option<usize>,
) -> Result<(), Error> {
    let mut budget = limit.unwrap_or(usize::MAX);
    let spend = |budget: &mut usize| -> Result<(), Error> {
        *budget = budget.checked_sub(1).ok_or(Error::Closed {
            during: "by the test's cut-off",
        })?;
        Ok(())
    };
    let result = (|| loop {
        let mut moved = false;
        while let Some(f) = initiator.poll_transmit()? {
            spend(&mut budget)?;
            responder.handle(&f[4..])?;
            moved = true;
        }
        if initiator.is_done() {
            return Ok(());
        }
        while let Some(f) = responder.poll_transmit()? {
            spend(&mut budget)?;
            initiator.handle(&f[4..])?;
            moved = true;
        }
        if !moved {
            return Err(Error::Protocol("both sides wait for each other".into()));
        }
    })();
    if result.is_err() {
        initiator.abort();
        responder.abort();
    }
    result
}
