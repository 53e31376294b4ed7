//! The initiator: the side that opens a session and drives it (see the [crate docs](crate)).

use std::collections::{HashMap, HashSet};

use weft_dag::{DocId, Import, Repo};
use weft_store::{Cid, CidSet};

use crate::{
    bloom::Bloom,
    diff::{cids, filter, present, samples},
    frame::{DocAd, DocReq, Frame, Hello, Reply, Request},
    greeting::{greet, hello, negotiate, unexpected, versions_up_to, wrong_version},
    outbox::Outbox,
    peer::{self, ReplicaId},
    refusal::{Refusal, REFUSED, REFUSE_VERSION},
    session::{
        import_from, keep_verified, name_if_free, Endpoint, Salts, Stats, SyncOptions, MAX_ROUNDS,
        SPECULATIVE_SUMMARY, VERSIONS,
    },
    zblocks, Error,
};

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
    /// Documents the responder removed (`weft doc rm`): not pushed unless asked for by name.
    their_removed: HashSet<DocId>,
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
            their_removed: HashSet::new(),
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
                    if repo.is_removed(doc)? {
                        return Err(weft_dag::Error::RemovedDoc { name: name.clone() }.into());
                    }
                    if !theirs.contains_key(&doc) && repo.heads(doc)?.is_empty() {
                        return Err(Error::UnknownDoc { name: name.clone() });
                    }
                    chosen.push(doc);
                }
            }
            None => {
                if self.opts.direction.pulls() {
                    // A document removed here (`doc rm`) is not brought back by a sync.
                    let mut t = Vec::new();
                    for d in theirs.keys() {
                        if !repo.is_removed(*d)? {
                            t.push(*d);
                        }
                    }
                    t.sort();
                    chosen.extend(t);
                }
                if self.opts.direction.pushes() {
                    let only = self.only_announced;
                    let removed = &self.their_removed;
                    chosen.extend(
                        repo.doc_ids()?
                            .into_iter()
                            .filter(|d| (!only || theirs.contains_key(d)) && !removed.contains(d)),
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
        match frame {
            Frame::Refuse(reason) => return Err(Error::Refused { reason }),
            // A responder of version 1 or 2 refuses in words (see `crate::refusal`); one that
            // has shown version 3 would have sent a REFUSE.
            Frame::Error(msg)
                if msg.starts_with(REFUSED) && self.version.is_none_or(|v| v < REFUSE_VERSION) =>
            {
                return Err(Error::Refused {
                    reason: Refusal::in_words(&msg),
                })
            }
            Frame::Error(msg) => return Err(Error::Peer(msg)),
            _ => {}
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
                self.their_removed = h
                    .removed
                    .unwrap_or_default()
                    .into_iter()
                    .map(DocId)
                    .collect();
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
