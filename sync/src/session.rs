//! The protocol state machines, [`Initiator`] and [`Responder`]. They read and write the repo
//! but never a socket: a driver (see [`crate::run`], or [`pump`] in memory) moves their frames.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;
use weft_dag::{Change, Codec, DocId, Import, Repo};
use weft_store::{Cid, CidSet};

use crate::{
    access::{Access, Perm},
    bloom::Bloom,
    frame::{DocAd, DocRep, DocReq, Frame, Hello, Reply, Request, REFUSED},
    peer::{self, ReplicaId},
    zblocks, Error,
};

/// Protocol versions this build speaks. A session uses the highest both sides speak: 2 sends
/// change blocks through a zstd stream (ZBLOCKS frames), 1 one raw block per BLOCK frame; the
/// rest of the protocol is the same (see the [crate docs](crate)).
pub const VERSIONS: &[u32] = &[1, 2];

/// Rounds after which an initiator gives up on a peer that keeps withholding changes. Honest
/// peers need 1 or 2, and one more per (rare) Bloom false positive.
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
    fn pulls(self) -> bool {
        matches!(self, Direction::Pull | Direction::Both)
    }
    fn pushes(self) -> bool {
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

/// Frames waiting to go out: control frames first, then blocks read from the store one at a
/// time (so a clone streams instead of being built in memory), then the END of the turn.
///
/// Under protocol version 2 (`compress`) the blocks go through the session's zstd stream: a
/// ZBLOCKS frame whenever [`zblocks::CHUNK`] bytes are pending, and one with the rest before
/// END, so the peer can decode everything of the turn.
#[derive(Debug, Default)]
struct Outbox {
    frames: VecDeque<Vec<u8>>,
    blocks: VecDeque<Cid>,
    end: bool,
    compress: bool,
    /// The compressing side of the stream, from the first block on.
    encoder: Option<zblocks::Encoder>,
}

impl Outbox {
    fn turn(&mut self, msg: Frame, blocks: Vec<Cid>) {
        self.frames.push_back(msg.encode());
        self.blocks = blocks.into();
        self.end = true;
    }

    /// The next ZBLOCKS frame: blocks from the store into the stream until a chunk is pending
    /// or the turn's blocks are all in, then a flush. A frame inflates to less than a chunk
    /// plus one record, within [`zblocks::MAX_INFLATED`] for any block the store takes (1 MiB
    /// by default); a store set up for blocks of nearly 8 MiB would send frames the peer
    /// refuses, as version 1 would send it BLOCK frames over the frame limit.
    fn compressed(&mut self, repo: &Repo, stats: &mut Stats) -> Result<Vec<u8>, Error> {
        let encoder = match &mut self.encoder {
            Some(e) => e,
            None => self.encoder.insert(zblocks::Encoder::new()?),
        };
        while let Some(cid) = self.blocks.pop_front() {
            encoder.push(&repo.block(&cid)?)?;
            stats.changes_out += 1;
            if encoder.pending() >= zblocks::CHUNK {
                break;
            }
        }
        encoder.frame()?.ok_or_else(|| Error::Compression {
            reason: "a frame with no block".into(),
        })
    }

    fn poll(&mut self, repo: &Repo, stats: &mut Stats) -> Result<Option<Vec<u8>>, Error> {
        let frame = if let Some(f) = self.frames.pop_front() {
            f
        } else if self.compress && !self.blocks.is_empty() {
            self.compressed(repo, stats)?
        } else if let Some(cid) = self.blocks.pop_front() {
            stats.changes_out += 1;
            Frame::Block(repo.block(&cid)?).encode()
        } else if self.end {
            self.end = false;
            Frame::End.encode()
        } else {
            return Ok(None);
        };
        stats.bytes_out += frame.len() as u64;
        Ok(Some(frame))
    }
}

/// Where a session's Bloom filter salts come from: random, or derived from a seed (a simulation
/// needs every run with the same seed to make the same filters).
#[derive(Debug, Clone, Default)]
struct Salts {
    seed: Option<[u8; 32]>,
    n: u64,
}

impl Salts {
    fn next(&mut self) -> [u8; 32] {
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
fn import_from<'r>(repo: &'r Repo, source: &str) -> Import<'r> {
    let mut import = repo.import();
    import.set_source(source);
    import
}

/// The greeting (its versions are filled in when it is sent); the responder's lists
/// `advertise`, the documents the peer may read.
fn hello(repo: &Repo, me: ReplicaId, advertise: Option<&[DocId]>) -> Result<Hello, Error> {
    let docs = if let Some(docs) = advertise {
        let names: HashMap<DocId, String> = repo.docs()?.into_iter().map(|(n, d)| (d, n)).collect();
        let mut v = Vec::new();
        for &doc in docs {
            v.push(DocAd {
                doc: doc.0,
                name: names.get(&doc).cloned(),
                heads: repo.heads(doc)?,
            });
        }
        Some(v)
    } else {
        None
    };
    Ok(Hello {
        versions: VERSIONS.to_vec(),
        replica: me.to_vec(),
        docs,
    })
}

/// The greeting as it goes out, speaking `versions`.
fn greet(greeting: &mut Option<Hello>, versions: &[u32], stats: &mut Stats) -> Option<Vec<u8>> {
    let mut hello = greeting.take()?;
    hello.versions = versions.to_vec();
    let frame = Frame::Hello(hello).encode();
    stats.bytes_out += frame.len() as u64;
    Some(frame)
}

/// The versions of [`VERSIONS`] up to `max`.
fn versions_up_to(max: u32) -> Vec<u32> {
    VERSIONS.iter().copied().filter(|v| *v <= max).collect()
}

/// Checks the peer's hello against the versions we speak; returns its replica id and the
/// session's version, the highest both speak.
fn negotiate(h: &Hello, ours: &[u32]) -> Result<(ReplicaId, u32), Error> {
    let Some(version) = ours
        .iter()
        .copied()
        .filter(|v| h.versions.contains(v))
        .max()
    else {
        return Err(Error::Version {
            ours: ours.to_vec(),
            theirs: h.versions.clone(),
        });
    };
    let replica = h
        .replica
        .as_slice()
        .try_into()
        .map_err(|_| Error::Protocol("a replica id must be 16 bytes".into()))?;
    Ok((replica, version))
}

/// A block frame that does not belong to the session's version.
fn wrong_version(frame: &Frame, version: Option<u32>) -> Error {
    let what = match frame {
        Frame::Zblocks { .. } => "a ZBLOCKS frame",
        _ => "a BLOCK frame",
    };
    match version {
        Some(v) => Error::Protocol(format!("{what} in a session of protocol version {v}")),
        None => Error::Protocol(format!("{what} before the greeting")),
    }
}

fn unexpected(frame: &Frame, state: &str) -> Error {
    let what = match frame {
        Frame::Hello(_) => "HELLO",
        Frame::Request(_) => "REQUEST",
        Frame::Reply(_) => "REPLY",
        Frame::Block(_) => "BLOCK",
        Frame::End => "END",
        Frame::Done => "DONE",
        Frame::Error(_) => "ERROR",
        Frame::Zblocks { .. } => "ZBLOCKS",
    };
    Error::Protocol(format!("unexpected {what} frame while {state}"))
}

fn present(repo: &Repo, cids: &[Cid]) -> Result<Vec<Cid>, Error> {
    let mut v = Vec::new();
    for c in cids {
        if repo.has_change(c)? {
            v.push(*c);
        }
    }
    Ok(v)
}

/// Ancestors of the heads at heights `top, top-1, top-3, top-7, ...` (up to two per height):
/// whichever the peer has bound the common history within a factor of two of the divergence.
fn samples(repo: &Repo, doc: DocId) -> Result<Vec<Cid>, Error> {
    let mut top = 0;
    for h in repo.heads(doc)? {
        if let Some(m) = repo.node(&h)? {
            top = top.max(m.height);
        }
    }
    let mut out = Vec::new();
    let mut step = 1u64;
    let mut h = top;
    while h >= 1 {
        out.extend(repo.changes_at_height(doc, h)?.into_iter().take(2));
        h = h.saturating_sub(step);
        step = step.saturating_mul(2);
    }
    Ok(out)
}

/// The candidates a peer may lack, minus those its summary says it has. A change whose parent
/// is being sent is sent too (the peer cannot have it), so a false positive costs at most the
/// first change of a branch. Except for a change in `asked` (the peer asked for it by CID): the
/// peer asked because it holds children of it, waiting, so its summary is believed for them.
fn filter(
    repo: &Repo,
    candidates: &[(u64, Cid)],
    summary: &Bloom,
    asked: &CidSet,
) -> Result<Vec<Cid>, Error> {
    let mut sent = CidSet::default();
    let mut out = Vec::new();
    for (_, c) in candidates {
        let send = !summary.contains(c) || (!sent.is_empty() && has_parent_in(repo, c, &sent)?);
        if send {
            if !asked.contains(c) {
                sent.insert(*c);
            }
            out.push(*c);
        }
    }
    Ok(out)
}

/// The exact difference minus what the peer holds waiting for the changes it `asked` for: the
/// descendants of those that its summary claims.
fn not_waiting(
    repo: &Repo,
    exact: &[(u64, Cid)],
    summary: &Bloom,
    asked: &CidSet,
) -> Result<Vec<Cid>, Error> {
    let mut held: CidSet = asked.clone();
    let mut out = Vec::new();
    for (_, c) in exact {
        if summary.contains(c) && has_parent_in(repo, c, &held)? {
            held.insert(*c);
        } else {
            out.push(*c);
        }
    }
    Ok(out)
}

/// Commits what an import verified so far and ends it (a session that failed keeps that much).
fn keep_verified(import: &mut Option<Import<'_>>) {
    if let Some(mut import) = import.take() {
        if let Err(e) = import.commit() {
            tracing::warn!("could not keep the changes verified so far: {e}");
        }
    }
}

/// Whether some parent of change `c` is in `set`.
fn has_parent_in(repo: &Repo, c: &Cid, set: &CidSet) -> Result<bool, Error> {
    Ok(repo
        .node(c)?
        .is_some_and(|m| m.parents().iter().any(|p| set.contains(p))))
}

fn cids(v: &[(u64, Cid)]) -> Vec<Cid> {
    v.iter().map(|(_, c)| *c).collect()
}

// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct DocSession {
    doc: DocId,
    their_name: Option<String>,
    their_heads: Vec<Cid>,
    their_count: Option<u64>,
    base: Vec<Cid>,
    base_ok: bool,
    /// CIDs of ours the responder confirmed it has (heads, samples).
    confirmed: Vec<Cid>,
    their_summary: Option<Bloom>,
    summary_requested: bool,
    first: bool,
    done: bool,
    /// What this session brings each side to: the responder's heads in its greeting, and ours
    /// when the first request went out. Both sides may keep receiving changes from other
    /// sessions while this one runs; chasing their newest heads could go on for as long as
    /// writes continue elsewhere (a moving target), so the session ends when each side has
    /// the other's heads as they were at the start. Later changes go in the next session.
    goal_theirs: Vec<Cid>,
    goal_ours: Option<Vec<Cid>>,
}

#[derive(Debug, PartialEq, Eq)]
enum IState {
    AwaitHello,
    AwaitReply,
    InReply,
    Done,
}

/// The side that opens the session and drives it; see the [crate docs](crate).
#[derive(Debug)]
pub struct Initiator<'r> {
    repo: &'r Repo,
    opts: SyncOptions,
    peer: Option<ReplicaId>,
    state: IState,
    out: Outbox,
    docs: Vec<DocSession>,
    /// Indexes into `docs` of the current request's entries.
    asked: Vec<usize>,
    /// CIDs the responder is known to have: it announced or confirmed them, or they came from it.
    known: CidSet,
    /// CIDs pushed this session. Not `known`: the responder may not have been able to apply
    /// them yet (a parent held back by a false positive of its summary); its reply says.
    sent: CidSet,
    import: Option<Import<'r>>,
    stats: Stats,
    expected_in: u64,
    progress: bool,
    /// Rounds in a row without progress. One is allowed: a change held back by a false
    /// positive of our summary with nothing sent after it (a lone head) leaves no missing
    /// parent to ask for, and only a retry with a fresh summary (new salt) fetches it.
    stalled: u32,
    /// Push only documents the responder announced (see [`Initiator::only_announced`]).
    only_announced: bool,
    /// Who the peer is, for the arrival records of what it sends.
    source: String,
    salts: Salts,
    /// Our HELLO until it is sent.
    greeting: Option<Hello>,
    /// The protocol versions we speak.
    versions: Vec<u32>,
    /// The session's version, once the responder's HELLO is in.
    version: Option<u32>,
    /// The inflating side of the responder's block stream (version 2), from its first ZBLOCKS.
    decoder: Option<zblocks::Decoder>,
}

/// What an initiator knows of one document at the end of a session (see
/// [`Initiator::outcome`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocOutcome {
    /// The document.
    pub doc: DocId,
    /// The responder's heads in its last reply (after what this side pushed).
    pub their_heads: Vec<Cid>,
    /// How many changes the responder said it holds (`None` from peers that do not say).
    pub their_count: Option<u64>,
}

impl<'r> Initiator<'r> {
    /// Starts a session; the first frame (HELLO) is ready at once.
    pub fn new(repo: &'r Repo, opts: SyncOptions) -> Result<Initiator<'r>, Error> {
        let me = peer::replica_id(repo)?;
        Ok(Initiator {
            repo,
            opts,
            peer: None,
            state: IState::AwaitHello,
            out: Outbox::default(),
            docs: Vec::new(),
            asked: Vec::new(),
            known: CidSet::default(),
            sent: CidSet::default(),
            import: Some(repo.import()),
            stats: Stats::default(),
            expected_in: 0,
            progress: true,
            stalled: 0,
            only_announced: false,
            source: String::new(),
            salts: Salts::default(),
            greeting: Some(hello(repo, me, None)?),
            versions: VERSIONS.to_vec(),
            version: None,
            decoder: None,
        })
    }

    /// Speaks only the versions of [`VERSIONS`] up to `max`, as an older build does (to test
    /// or measure against one). With `max` 0 it speaks none, and the session fails with
    /// [`Error::Version`].
    pub fn max_version(mut self, max: u32) -> Self {
        self.versions = versions_up_to(max);
        self
    }

    /// Names the peer in the arrival record of every change it sends (see
    /// [`weft_dag::Repo::arrivals`]).
    pub fn source(mut self, source: &str) -> Self {
        self.source = source.to_string();
        if let Some(import) = &mut self.import {
            import.set_source(source);
        }
        self
    }

    /// Derives the session's Bloom filter salts from `seed` instead of the OS's randomness, so
    /// a seeded simulation is reproducible. Never use a fixed seed on a real network: a peer
    /// that knows the salts can craft changes that are false positives.
    pub fn seeded(mut self, seed: [u8; 32]) -> Self {
        self.salts.seed = Some(seed);
        self
    }

    /// Per document synced, what the responder holds at the end of the session (meaningful
    /// once [`Endpoint::is_done`]).
    pub fn outcome(&self) -> Vec<DocOutcome> {
        self.docs
            .iter()
            .map(|d| DocOutcome {
                doc: d.doc,
                their_heads: d.their_heads.clone(),
                their_count: d.their_count,
            })
            .collect()
    }

    /// When no documents are named, offers the responder only the documents it announced,
    /// never new ones: a `tcp://` server takes no new document from a key (see
    /// [`crate::access`]), so offering one would only get the whole session refused.
    pub fn only_announced(mut self) -> Self {
        self.only_announced = true;
        self
    }

    fn import(&mut self) -> &mut Import<'r> {
        let (repo, source) = (self.repo, &self.source);
        self.import.get_or_insert_with(|| import_from(repo, source))
    }

    fn select_docs(&mut self, ads: Vec<DocAd>) -> Result<(), Error> {
        let repo = self.repo;
        let theirs: HashMap<DocId, DocAd> = ads.into_iter().map(|a| (DocId(a.doc), a)).collect();
        let mut chosen: Vec<DocId> = Vec::new();
        match &self.opts.docs {
            Some(names) => {
                for name in names {
                    let doc = match repo.doc(name) {
                        Ok(d) => d,
                        Err(weft_dag::Error::UnknownDoc { .. }) => theirs
                            .values()
                            .find(|a| {
                                a.name.as_deref() == Some(name.as_str())
                                    || a.doc.to_string() == *name
                            })
                            .map(|a| DocId(a.doc))
                            .ok_or_else(|| Error::UnknownDoc { name: name.clone() })?,
                        Err(e) => return Err(e.into()),
                    };
                    if !theirs.contains_key(&doc) && repo.heads(doc)?.is_empty() {
                        return Err(Error::UnknownDoc { name: name.clone() });
                    }
                    chosen.push(doc);
                }
            }
            None => {
                if self.opts.direction.pulls() {
                    let mut t: Vec<DocId> = theirs.keys().copied().collect();
                    t.sort();
                    chosen.extend(t);
                }
                if self.opts.direction.pushes() {
                    let only = self.only_announced;
                    chosen.extend(
                        repo.doc_ids()?
                            .into_iter()
                            .filter(|d| !only || theirs.contains_key(d)),
                    );
                }
            }
        }
        let mut seen = HashSet::new();
        chosen.retain(|d| seen.insert(*d));
        let peer = self.peer.unwrap_or_default();
        for doc in chosen {
            let ad = theirs.get(&doc);
            let base = peer::load_base(repo, &peer, &doc)?;
            let their_heads = ad.map(|a| a.heads.clone()).unwrap_or_default();
            self.known.extend(their_heads.iter().copied());
            self.docs.push(DocSession {
                goal_theirs: their_heads.clone(),
                goal_ours: None,
                doc,
                their_name: ad.and_then(|a| a.name.clone()),
                their_heads,
                base_ok: !base.is_empty(),
                base,
                confirmed: Vec::new(),
                their_summary: None,
                summary_requested: false,
                their_count: None,
                first: true,
                done: false,
            });
        }
        self.stats.docs = self.docs.len() as u32;
        Ok(())
    }

    /// Builds the next turn, or ends the session when every document is in sync.
    fn next_turn(&mut self) -> Result<(), Error> {
        let repo = self.repo;
        let dir = self.opts.direction;
        let mut reqs = Vec::new();
        let mut asked = Vec::new();
        let mut blocks: Vec<Cid> = Vec::new();
        // Changes received that wait for a parent: ours too, as far as the summary goes.
        let waiting: Vec<Cid> = self
            .import
            .as_ref()
            .map(|i| i.waiting().copied().collect())
            .unwrap_or_default();
        for (i, d) in self.docs.iter_mut().enumerate() {
            if d.done {
                continue;
            }
            let now = repo.heads(d.doc)?;
            let goal = d.goal_ours.get_or_insert_with(|| now.clone()).clone();
            // Announced: our heads now plus the goal's (the same downward-closed set, so the
            // responder's exact difference stays exact), so that it confirms the goal heads even
            // when changes from other sessions have grown past them here.
            let mut heads = now.clone();
            heads.extend(goal.iter().copied());
            heads.sort();
            heads.dedup();
            let have = present(repo, &d.their_heads)?;
            let all_theirs = have.len() == d.their_heads.len();
            // Past the goal, a change received that waits for a parent (one a Bloom false
            // positive held back, or one the responder sent from newer heads) still has to be
            // completed: keep asking for what is missing, or the session would end in orphans.
            let reached =
                present(repo, &d.goal_theirs)?.len() == d.goal_theirs.len() && waiting.is_empty();
            let want = dir.pulls() && !all_theirs && !reached;
            let push = dir.pushes() && goal.iter().any(|h| !self.known.contains(h));
            if !want && !push {
                d.done = true;
                continue;
            }
            // Ours that the responder has: its heads we have, the last sync's heads, and what
            // it confirmed.
            let mut base_set = have.clone();
            if d.base_ok {
                base_set.extend(present(repo, &d.base)?);
            }
            base_set.extend(d.confirmed.iter().copied());
            // The candidates feed our summary and, once the responder sent its own, the push.
            // Unasked, a summary goes out only up to SPECULATIVE_SUMMARY candidates: past
            // that, stop counting (with no shared base this would walk the whole history).
            let needed = d.summary_requested || (push && d.their_summary.is_some());
            let candidates = if all_theirs || heads.is_empty() {
                Some(Vec::new())
            } else if needed {
                Some(repo.missing(d.doc, &base_set)?)
            } else {
                repo.missing_at_most(d.doc, &base_set, SPECULATIVE_SUMMARY)?
            };
            let bloom = (want && !heads.is_empty())
                .then_some(candidates.as_ref())
                .flatten()
                .map(|candidates| {
                    let items: Vec<&Cid> =
                        candidates.iter().map(|(_, c)| c).chain(&waiting).collect();
                    Bloom::from_items_salted(items.into_iter(), self.salts.next())
                });
            let candidates = candidates.unwrap_or_default();
            if push {
                let send = if all_theirs {
                    cids(&repo.missing(d.doc, &d.their_heads)?)
                } else if let Some(summary) = &d.their_summary {
                    filter(repo, &candidates, summary, &CidSet::default())?
                } else {
                    Vec::new()
                };
                // Only what the goal covers: a change that arrived since could be pushed without a
                // parent that a false positive held back, and nothing after the goal would ask
                // for it, so the responder would end with an orphan.
                let beyond: CidSet = if now == goal {
                    CidSet::default()
                } else {
                    cids(&repo.missing(d.doc, &goal)?).into_iter().collect()
                };
                blocks.extend(send.into_iter().filter(|c| {
                    !self.known.contains(c) && !self.sent.contains(c) && !beyond.contains(c)
                }));
            }
            let samples = if d.first && !heads.is_empty() && !all_theirs && d.base.is_empty() {
                samples(repo, d.doc)?
            } else {
                Vec::new()
            };
            reqs.push(DocReq {
                doc: d.doc.0,
                name: repo.doc_name(d.doc)?,
                heads,
                have,
                base: if d.first { d.base.clone() } else { Vec::new() },
                samples,
                want,
                push,
                bloom,
            });
            asked.push(i);
        }
        if reqs.is_empty() {
            return self.finish();
        }
        self.stalled = if self.progress { 0 } else { self.stalled + 1 };
        if self.stats.round_trips >= MAX_ROUNDS || self.stalled > 1 {
            return Err(Error::NoProgress {
                rounds: self.stats.round_trips,
            });
        }
        self.progress = !blocks.is_empty();
        self.stats.round_trips += 1;
        let need = self.import().missing_parents();
        self.asked = asked;
        self.sent.extend(blocks.iter().copied());
        self.out
            .turn(Frame::Request(Request { docs: reqs, need }), blocks);
        self.state = IState::AwaitReply;
        Ok(())
    }

    fn on_reply(&mut self, reply: Reply) -> Result<(), Error> {
        if reply.docs.len() != self.asked.len() {
            return Err(Error::Protocol(format!(
                "a reply about {} documents to a request about {}",
                reply.docs.len(),
                self.asked.len()
            )));
        }
        self.stats.redundant_out += reply.redundant;
        self.expected_in = reply.n_blocks;
        for (rep, &i) in reply.docs.into_iter().zip(&self.asked) {
            let d = &mut self.docs[i];
            if rep.doc != d.doc.0 {
                return Err(Error::Protocol(format!(
                    "a reply about document {} in place of {}",
                    rep.doc, d.doc
                )));
            }
            // A summary is news too: it tells what to push next turn.
            if rep.heads != d.their_heads
                || rep.want_summary
                || !rep.have.is_empty()
                || rep.bloom.is_some()
            {
                self.progress = true;
            }
            self.known.extend(rep.heads.iter().copied());
            self.known.extend(rep.have.iter().copied());
            d.their_heads = rep.heads;
            d.their_count = rep.count.or(d.their_count);
            d.confirmed.extend(rep.have);
            d.base_ok = d.base_ok && rep.base_ok;
            d.their_summary = rep.bloom;
            d.summary_requested = rep.want_summary;
            d.first = false;
        }
        self.state = IState::InReply;
        Ok(())
    }

    /// One change block of the responder's turn.
    fn on_block(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        self.stats.changes_in += 1;
        let (cid, new) = self.import().push(bytes)?;
        if new {
            self.progress = true;
        } else {
            self.stats.redundant_in += 1;
        }
        self.known.insert(cid);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.state = IState::Done;
        self.out.frames.push_back(Frame::Done.encode());
        if let Some(import) = self.import.take() {
            import.finish()?;
        }
        let repo = self.repo;
        let peer = self.peer.unwrap_or_default();
        for d in &self.docs {
            let mut base = present(repo, &d.their_heads)?;
            base.extend(
                repo.heads(d.doc)?
                    .into_iter()
                    .filter(|h| self.known.contains(h)),
            );
            base.sort();
            base.dedup();
            peer::save_base(repo, &peer, &d.doc, &base)?;
            if let Some(name) = &d.their_name {
                name_if_free(repo, name, d.doc)?;
            }
        }
        Ok(())
    }
}

/// Gives a document that arrived by sync the peer's name for it, if that name is free here.
fn name_if_free(repo: &Repo, name: &str, doc: DocId) -> Result<(), Error> {
    if repo.doc_name(doc)?.is_some() || repo.heads(doc)?.is_empty() {
        return Ok(());
    }
    match repo.name_doc(name, doc) {
        Ok(()) | Err(weft_dag::Error::DocExists { .. }) => Ok(()),
        Err(weft_dag::Error::InvalidDocName { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl Endpoint for Initiator<'_> {
    fn poll_transmit(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if let Some(f) = greet(&mut self.greeting, &self.versions, &mut self.stats) {
            return Ok(Some(f));
        }
        self.out.poll(self.repo, &mut self.stats)
    }

    fn handle(&mut self, body: &[u8]) -> Result<(), Error> {
        self.stats.bytes_in += body.len() as u64 + 4;
        let frame = Frame::decode(body)?;
        if let Frame::Error(msg) = frame {
            if msg.starts_with(REFUSED) {
                return Err(Error::Refused { reason: msg });
            }
            return Err(Error::Peer(msg));
        }
        match (&self.state, frame) {
            (IState::AwaitHello, Frame::Hello(h)) => {
                let (peer, version) = negotiate(&h, &self.versions)?;
                self.peer = Some(peer);
                self.version = Some(version);
                self.out.compress = version >= 2;
                let ads = h.docs.ok_or_else(|| {
                    Error::Protocol("the responder's HELLO lists no documents".into())
                })?;
                self.select_docs(ads)?;
                self.next_turn()
            }
            (IState::AwaitReply, Frame::Reply(r)) => self.on_reply(r),
            (IState::InReply, Frame::Block(bytes)) if self.version == Some(1) => {
                self.on_block(bytes)
            }
            (IState::InReply, Frame::Zblocks { size, data }) if self.version >= Some(2) => {
                let mut decoder = match self.decoder.take() {
                    Some(d) => d,
                    None => zblocks::Decoder::new()?,
                };
                let result = decoder.decode(size, &data, &mut |block| self.on_block(block));
                self.decoder = Some(decoder);
                result
            }
            (IState::InReply, frame @ (Frame::Block(_) | Frame::Zblocks { .. })) => {
                Err(wrong_version(&frame, self.version))
            }
            (IState::InReply, Frame::End) => {
                self.import().commit()?;
                self.next_turn()
            }
            (state, frame) => Err(unexpected(&frame, &format!("{state:?}"))),
        }
    }

    fn is_done(&self) -> bool {
        self.state == IState::Done
    }

    fn handle_eof(&mut self) -> Result<(), Error> {
        self.abort();
        Err(Error::Closed {
            during: match self.state {
                IState::AwaitHello => "before its greeting",
                IState::AwaitReply | IState::InReply => "in the middle of a reply",
                IState::Done => "after the session",
            },
        })
    }

    fn abort(&mut self) {
        keep_verified(&mut self.import);
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn expected_in(&self) -> u64 {
        self.expected_in
    }

    fn version(&self) -> Option<u32> {
        self.version
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum RState {
    AwaitHello,
    AwaitRequest,
    InRequest(Request),
    /// The peer was refused (the ERROR is out): its frames are read and dropped until the end
    /// of its turn (HELLO, END or DONE), so that closing the link cannot reset it before the
    /// peer has read why.
    Refusing,
    Done,
}

/// Bytes of a refused peer's turn read and dropped before the link is closed regardless.
const REFUSED_DRAIN: u64 = 64 << 20;

/// The side that answers; see the [crate docs](crate).
#[derive(Debug)]
pub struct Responder<'r> {
    repo: &'r Repo,
    peer: Option<ReplicaId>,
    state: RState,
    out: Outbox,
    import: Option<Import<'r>>,
    stats: Stats,
    turn_redundant: u64,
    /// Per document, the initiator's heads this side has (saved as the per-peer state).
    common: HashMap<DocId, Vec<Cid>>,
    /// Per document, what both sides have by what the initiator showed so far: its heads and
    /// samples found here, and its base if valid. The initiator sends base and samples only in
    /// its first turn but keeps counting on them, so they must bound the candidates of every
    /// later turn too.
    shared: HashMap<DocId, Vec<Cid>>,
    /// Who the peer is and what it may do (see [`crate::access`]).
    access: Access,
    /// Whether `access` restricts anything (not a trusted link, not the repo's own key).
    restricted: bool,
    /// Per document, what the peer may do (computed once per session).
    perms: HashMap<DocId, Perm>,
    /// Why the peer was refused, once it was.
    refused: Option<String>,
    /// Bytes dropped while refusing.
    drained: u64,
    /// Who the peer is, for the arrival records of what it pushes.
    source: String,
    salts: Salts,
    /// Our HELLO until it is sent (none for a peer refused at once).
    greeting: Option<Hello>,
    /// The protocol versions we speak.
    versions: Vec<u32>,
    /// The session's version, once the initiator's HELLO is in.
    version: Option<u32>,
    /// The inflating side of the initiator's block stream (version 2), from its first ZBLOCKS.
    decoder: Option<zblocks::Decoder>,
}

impl<'r> Responder<'r> {
    /// Starts a session on a trusted link (every document is served and may be pushed to);
    /// the greeting (HELLO with every document and its heads) is ready at once.
    pub fn new(repo: &'r Repo) -> Result<Responder<'r>, Error> {
        Responder::with_access(repo, Access::trusted())
    }

    /// Starts a session with a peer whose rights `access` gives: the greeting lists only the
    /// documents it may read, and a peer that may read none gets a refusal (an ERROR frame) in
    /// its place.
    pub fn with_access(repo: &'r Repo, access: Access) -> Result<Responder<'r>, Error> {
        let me = peer::replica_id(repo)?;
        let restricted = access.restricted(repo).is_some();
        let mut responder = Responder {
            repo,
            peer: None,
            state: RState::AwaitHello,
            out: Outbox::default(),
            import: Some(repo.import()),
            stats: Stats::default(),
            turn_redundant: 0,
            common: HashMap::new(),
            shared: HashMap::new(),
            access,
            restricted,
            perms: HashMap::new(),
            refused: None,
            drained: 0,
            source: String::new(),
            salts: Salts::default(),
            greeting: None,
            versions: VERSIONS.to_vec(),
            version: None,
            decoder: None,
        };
        let mut readable = Vec::new();
        for doc in repo.doc_ids()? {
            if responder.perm(doc)?.read {
                readable.push(doc);
            }
        }
        if restricted && readable.is_empty() {
            let reason = responder.access.nothing_readable();
            responder.refuse(reason);
            return Ok(responder);
        }
        responder.greeting = Some(hello(repo, me, Some(&readable))?);
        Ok(responder)
    }

    /// Speaks only the versions of [`VERSIONS`] up to `max` (see [`Initiator::max_version`]).
    pub fn max_version(mut self, max: u32) -> Self {
        self.versions = versions_up_to(max);
        self
    }

    /// Names the peer in the arrival record of every change it pushes.
    pub fn source(mut self, source: &str) -> Self {
        self.source = source.to_string();
        if let Some(import) = &mut self.import {
            import.set_source(source);
        }
        self
    }

    /// Derives the session's Bloom filter salts from `seed` (see [`Initiator::seeded`]).
    pub fn seeded(mut self, seed: [u8; 32]) -> Self {
        self.salts.seed = Some(seed);
        self
    }

    /// The refusal sent to the peer, if it was refused.
    pub fn refusal(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// What the peer may do with `doc`.
    fn perm(&mut self, doc: DocId) -> Result<Perm, Error> {
        if !self.restricted {
            return Ok(Perm {
                read: true,
                write: true,
            });
        }
        if let Some(p) = self.perms.get(&doc) {
            return Ok(*p);
        }
        let p = self.access.perm(self.repo, doc)?;
        self.perms.insert(doc, p);
        Ok(p)
    }

    /// Refuses the peer: sends `reason` at once and drops the rest of its turn, and with it
    /// everything of the turn not committed yet.
    fn refuse(&mut self, reason: String) {
        // The reason names the key; the caller's span names the peer.
        tracing::warn!("{reason}");
        self.greeting = None;
        self.out = Outbox::default();
        self.out
            .frames
            .push_back(Frame::Error(reason.clone()).encode());
        self.import = None;
        self.refused = Some(reason);
        self.state = RState::Refusing;
    }

    fn import(&mut self) -> &mut Import<'r> {
        let (repo, source) = (self.repo, &self.source);
        self.import.get_or_insert_with(|| import_from(repo, source))
    }

    /// The refusal of a request that pushes into a document the peer may not write, if any.
    fn check_push(&mut self, req: &Request) -> Result<Option<String>, Error> {
        if !self.restricted {
            return Ok(None);
        }
        for dq in &req.docs {
            if dq.push {
                let doc = DocId(dq.doc);
                let perm = self.perm(doc)?;
                if !perm.write {
                    return Ok(Some(self.access.push_refusal(doc, perm)));
                }
            }
        }
        Ok(None)
    }

    /// The refusal of a pushed block, if it belongs to a document the peer may not write. A
    /// block that does not decode is left to the import, which reports it.
    fn check_block(&mut self, bytes: &[u8]) -> Result<Option<String>, Error> {
        if !self.restricted {
            return Ok(None);
        }
        let cid = Cid::hash(Codec::DagCbor, bytes);
        let Ok(change) = Change::decode(&cid, bytes) else {
            return Ok(None);
        };
        let doc = change.doc.unwrap_or(DocId(cid));
        let perm = self.perm(doc)?;
        Ok((!perm.write).then(|| self.access.push_refusal(doc, perm)))
    }

    /// Of `cids`, those that are changes of `doc` here.
    fn present_in(&self, doc: DocId, cids: &[Cid]) -> Result<Vec<Cid>, Error> {
        if !self.restricted {
            return present(self.repo, cids);
        }
        // A restricted peer must not learn whether a change of another document is here.
        let mut v = Vec::new();
        for c in cids {
            if self.repo.node(c)?.is_some_and(|m| m.doc == doc) {
                v.push(*c);
            }
        }
        Ok(v)
    }

    fn reply(&mut self, req: Request) -> Result<(), Error> {
        let repo = self.repo;
        let mut docs = Vec::with_capacity(req.docs.len());
        let mut blocks: Vec<Cid> = Vec::new();
        // Changes asked for by CID go first: they are parents of changes already sent.
        let mut need: Vec<(u64, Cid)> = Vec::new();
        for c in &req.need {
            if let Some(m) = repo.node(c)? {
                if self.perm(m.doc)?.read {
                    need.push((m.height, *c));
                }
            }
        }
        need.sort();
        blocks.extend(cids(&need));
        let asked: CidSet = req.need.iter().copied().collect();
        for dq in req.docs {
            let doc = DocId(dq.doc);
            // A document the peer may not read is answered as one that is not here.
            let visible = self.perm(doc)?.read;
            if let Some(name) = dq.name.as_ref().filter(|_| visible) {
                name_if_free(repo, name, doc)?;
            }
            let (heads, their_heads, samples, base_ok) = if visible {
                (
                    repo.heads(doc)?,
                    self.present_in(doc, &dq.heads)?,
                    self.present_in(doc, &dq.samples)?,
                    self.present_in(doc, &dq.base)?.len() == dq.base.len(),
                )
            } else {
                (Vec::new(), Vec::new(), Vec::new(), dq.base.is_empty())
            };
            let all_heads = their_heads.len() == dq.heads.len();
            let mut have = their_heads.clone();
            have.extend(samples);
            let shared = self.shared.entry(doc).or_default();
            shared.extend(have.iter().copied());
            if base_ok {
                shared.extend(dq.base.iter().copied());
            }
            shared.sort();
            shared.dedup();
            let mut base_set = shared.clone();
            base_set.extend(self.present_in(doc, &dq.have)?);
            // Used to filter by the initiator's summary, and for our own summary when it pushes.
            let needed = (dq.want && dq.bloom.is_some()) || dq.push;
            let candidates = if all_heads || !visible || !needed {
                Vec::new()
            } else {
                repo.missing(doc, &base_set)?
            };
            let mut want_summary = false;
            if dq.want {
                if all_heads {
                    let exact = if visible {
                        repo.missing(doc, &dq.heads)?
                    } else {
                        Vec::new()
                    };
                    match &dq.bloom {
                        Some(summary) if !asked.is_empty() => {
                            blocks.extend(not_waiting(repo, &exact, summary, &asked)?);
                        }
                        _ => blocks.extend(cids(&exact)),
                    }
                } else if let Some(summary) = &dq.bloom {
                    blocks.extend(filter(repo, &candidates, summary, &asked)?);
                } else {
                    want_summary = true;
                }
            }
            let bloom = (dq.push && !all_heads).then(|| {
                Bloom::from_items_salted(candidates.iter().map(|(_, c)| c), self.salts.next())
            });
            let count = if visible {
                Some(repo.change_count(doc)?)
            } else {
                None
            };
            if visible {
                self.common.insert(doc, their_heads);
            }
            docs.push(DocRep {
                doc: dq.doc,
                heads,
                have,
                base_ok,
                bloom,
                want_summary,
                count,
            });
        }
        let mut seen = CidSet::default();
        blocks.retain(|c| seen.insert(*c));
        let reply = Reply {
            docs,
            redundant: std::mem::take(&mut self.turn_redundant),
            n_blocks: blocks.len() as u64,
        };
        self.out.turn(Frame::Reply(reply), blocks);
        self.state = RState::AwaitRequest;
        Ok(())
    }

    /// One change block of the initiator's turn; dropped once the peer is refused (the rest
    /// of a ZBLOCKS frame after a refused block).
    fn on_block(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        if let RState::Refusing = self.state {
            return Ok(());
        }
        if let Some(reason) = self.check_block(&bytes)? {
            self.refuse(reason);
            return Ok(());
        }
        self.stats.changes_in += 1;
        let (_, new) = self.import().push(bytes)?;
        if !new {
            self.stats.redundant_in += 1;
            self.turn_redundant += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.state = RState::Done;
        let peer = self.peer.unwrap_or_default();
        for (doc, common) in &self.common {
            peer::save_base(self.repo, &peer, doc, common)?;
        }
        if let Some(import) = self.import.take() {
            import.finish()?;
        }
        Ok(())
    }
}

impl Endpoint for Responder<'_> {
    fn poll_transmit(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if let Some(f) = greet(&mut self.greeting, &self.versions, &mut self.stats) {
            return Ok(Some(f));
        }
        self.out.poll(self.repo, &mut self.stats)
    }

    fn handle(&mut self, body: &[u8]) -> Result<(), Error> {
        self.stats.bytes_in += body.len() as u64 + 4;
        if let RState::Refusing = self.state {
            // Dropped unread, except for the frames that end the peer's turn.
            self.drained += body.len() as u64;
            let ends = matches!(
                body.first().copied(),
                Some(crate::frame::HELLO | crate::frame::END | crate::frame::DONE)
            );
            if ends || self.drained > REFUSED_DRAIN {
                self.state = RState::Done;
            }
            return Ok(());
        }
        let frame = Frame::decode(body)?;
        if let Frame::Error(msg) = frame {
            return Err(Error::Peer(msg));
        }
        match (&mut self.state, frame) {
            (RState::AwaitHello, Frame::Hello(h)) => {
                let (peer, version) = negotiate(&h, &self.versions)?;
                self.peer = Some(peer);
                self.version = Some(version);
                self.out.compress = version >= 2;
                self.state = RState::AwaitRequest;
                Ok(())
            }
            (RState::AwaitRequest, Frame::Request(r)) => {
                self.stats.round_trips += 1;
                if let Some(reason) = self.check_push(&r)? {
                    self.refuse(reason);
                    return Ok(());
                }
                self.state = RState::InRequest(r);
                Ok(())
            }
            (RState::AwaitRequest, Frame::Done) => self.finish(),
            (RState::InRequest(_), Frame::Block(bytes)) if self.version == Some(1) => {
                self.on_block(bytes)
            }
            (RState::InRequest(_), Frame::Zblocks { size, data }) if self.version >= Some(2) => {
                let mut decoder = match self.decoder.take() {
                    Some(d) => d,
                    None => zblocks::Decoder::new()?,
                };
                let result = decoder.decode(size, &data, &mut |block| self.on_block(block));
                self.decoder = Some(decoder);
                result
            }
            (RState::InRequest(_), frame @ (Frame::Block(_) | Frame::Zblocks { .. })) => {
                Err(wrong_version(&frame, self.version))
            }
            (RState::InRequest(_), Frame::End) => {
                self.import().commit()?;
                let RState::InRequest(req) =
                    std::mem::replace(&mut self.state, RState::AwaitRequest)
                else {
                    unreachable!("matched above")
                };
                self.reply(req)
            }
            (state, frame) => {
                let s = match state {
                    RState::AwaitHello => "awaiting HELLO",
                    RState::AwaitRequest => "awaiting a request",
                    RState::InRequest(_) => "receiving a request",
                    RState::Refusing => "refusing",
                    RState::Done => "done",
                };
                Err(unexpected(&frame, s))
            }
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.state, RState::Done)
    }

    fn handle_eof(&mut self) -> Result<(), Error> {
        self.abort();
        match self.state {
            RState::AwaitRequest | RState::AwaitHello => Err(Error::Closed {
                during: "without ending the session",
            }),
            RState::InRequest(_) => Err(Error::Closed {
                during: "in the middle of a request",
            }),
            // The refusal is out; the peer leaving is all that is left to happen.
            RState::Refusing | RState::Done => Ok(()),
        }
    }

    fn abort(&mut self) {
        keep_verified(&mut self.import);
        // A document that arrived whole before the cut would otherwise stay unnamed: it is in
        // no later request once it is in sync, and only requests name documents here.
        let named: Vec<(DocId, String)> = match &self.state {
            RState::InRequest(req) => req
                .docs
                .iter()
                .filter_map(|dq| Some((DocId(dq.doc), dq.name.clone()?)))
                .collect(),
            _ => Vec::new(),
        };
        for (doc, name) in named {
            if !matches!(self.perm(doc), Ok(p) if p.read) {
                continue;
            }
            if let Err(e) = name_if_free(self.repo, &name, doc) {
                tracing::warn!("could not name document {doc}: {e}");
            }
        }
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn version(&self) -> Option<u32> {
        self.version
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
