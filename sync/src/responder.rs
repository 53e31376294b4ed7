//! The responder: the side that answers a session (see the [crate docs](crate)), and refuses a
//! key that [`crate::access`] does not let in.

use std::collections::HashMap;

use weft_dag::{Change, Codec, DocId, Import, Repo};
use weft_store::{Cid, CidSet};

use crate::{
    access::{Access, Perm},
    bloom::Bloom,
    diff::{cids, filter, not_waiting, present},
    frame::{DocRep, Frame, Hello, Reply, Request},
    greeting::{greet, hello, negotiate, unexpected, versions_up_to, wrong_version},
    outbox::Outbox,
    peer::{self, ReplicaId},
    refusal::{Refusal, REFUSE_VERSION},
    session::{
        import_from, keep_verified, name_if_free, Endpoint, Salts, Stats, MAX_ROUNDS, VERSIONS,
    },
    zblocks, Error,
};

#[derive(Debug)]
enum RState {
    AwaitHello,
    /// The peer may read nothing here: its HELLO, which says which versions it reads, is
    /// answered with the refusal in place of ours.
    RefuseAtHello,
    AwaitRequest,
    InRequest(Request),
    /// The peer was refused (the refusal is out): its frames are read and dropped until the
    /// end of its turn (HELLO, END or DONE), so that closing the link cannot reset it before
    /// the peer has read why.
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
    refused: Option<Refusal>,
    /// Bytes dropped while refusing.
    drained: u64,
    /// Who the peer is, for the arrival records of what it pushes.
    source: String,
    salts: Salts,
    /// Our HELLO until it is sent (none for a peer refused at its greeting).
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
    /// documents it may read, and a peer that may read none gets a refusal in its place, once
    /// the peer's own HELLO has shown which versions it reads (see [`crate::refusal`]).
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
            responder.refused = Some(responder.access.nothing_readable(repo)?);
            responder.import = None;
            responder.state = RState::RefuseAtHello;
            return Ok(responder);
        }
        let mut greeting = hello(repo, me, Some(&readable))?;
        if !restricted {
            let removed = repo.removed_docs()?;
            greeting.removed = (!removed.is_empty()).then(|| removed.iter().map(|d| d.0).collect());
        }
        responder.greeting = Some(greeting);
        Ok(responder)
    }

    /// Speaks only the versions of [`VERSIONS`] up to `max` (see [`crate::Initiator::max_version`]).
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

    /// Derives the session's Bloom filter salts from `seed` (see [`crate::Initiator::seeded`]).
    pub fn seeded(mut self, seed: [u8; 32]) -> Self {
        self.salts.seed = Some(seed);
        self
    }

    /// The refusal of the peer, if it was refused (sent, or to be sent at its HELLO).
    pub fn refusal(&self) -> Option<&Refusal> {
        self.refused.as_ref()
    }

    /// What the peer may do with `doc`.
    fn perm(&mut self, doc: DocId) -> Result<Perm, Error> {
        // A document removed here (`doc rm`) is neither served nor taken in, whoever asks.
        if self.repo.is_removed(doc)? {
            return Ok(Perm {
                read: false,
                write: false,
            });
        }
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

    /// Refuses the peer: sends `reason` at once (a REFUSE frame from version 3 on, an ERROR in
    /// words to an older peer) and drops the rest of its turn, and with it everything of the
    /// turn not committed yet.
    fn refuse(&mut self, reason: Refusal) {
        // The reason names the key; the caller's span names the peer. The TCP server logs it as
        // a warning, at most once a minute per key (a refused peer may retry every few seconds).
        tracing::debug!("{reason}");
        self.greeting = None;
        self.out = Outbox::default();
        let frame = if self.version >= Some(REFUSE_VERSION) {
            Frame::Refuse(reason.clone())
        } else {
            Frame::Error(reason.to_string())
        };
        self.out.frames.push_back(frame.encode());
        self.import = None;
        self.refused = Some(reason);
        self.state = RState::Refusing;
    }

    fn import(&mut self) -> &mut Import<'r> {
        let (repo, source) = (self.repo, &self.source);
        self.import.get_or_insert_with(|| import_from(repo, source))
    }

    /// The refusal of a request that pushes into a document the peer may not write, if any.
    fn check_push(&mut self, req: &Request) -> Result<Option<Refusal>, Error> {
        for dq in &req.docs {
            if dq.push {
                let doc = DocId(dq.doc);
                let perm = self.perm(doc)?;
                if !perm.write {
                    return self.access.push_refusal(self.repo, doc, perm).map(Some);
                }
            }
        }
        Ok(None)
    }

    /// The refusal of a pushed block, if it belongs to a document the peer may not write. A
    /// block that does not decode is left to the import, which reports it.
    fn check_block(&mut self, bytes: &[u8]) -> Result<Option<Refusal>, Error> {
        if !self.restricted {
            return Ok(None);
        }
        let cid = Cid::hash(Codec::DagCbor, bytes);
        let Ok(change) = Change::decode(&cid, bytes) else {
            return Ok(None);
        };
        let doc = change.doc.unwrap_or(DocId(cid));
        let perm = self.perm(doc)?;
        if perm.write {
            return Ok(None);
        }
        self.access.push_refusal(self.repo, doc, perm).map(Some)
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
            (RState::RefuseAtHello, Frame::Hello(h)) => {
                // A peer with no version in common reads an ERROR as well as any.
                self.version = negotiate(&h, &self.versions).ok().map(|(_, v)| v);
                if let Some(reason) = self.refused.take() {
                    self.refuse(reason);
                }
                // The HELLO was the whole of the peer's turn.
                self.state = RState::Done;
                Ok(())
            }
            (RState::AwaitHello, Frame::Hello(h)) => {
                let (peer, version) = negotiate(&h, &self.versions)?;
                self.peer = Some(peer);
                self.version = Some(version);
                self.out.compress = version >= 2;
                self.state = RState::AwaitRequest;
                Ok(())
            }
            (RState::AwaitRequest, Frame::Request(r)) => {
                // An initiator gives up after MAX_ROUNDS; one that goes on is not honest.
                if self.stats.round_trips >= MAX_ROUNDS {
                    return Err(Error::NoProgress {
                        rounds: self.stats.round_trips,
                    });
                }
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
                    RState::AwaitHello | RState::RefuseAtHello => "awaiting HELLO",
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
            // The refusal is out, or the peer left before it could be told: the peer leaving
            // is all that is left to happen.
            RState::RefuseAtHello | RState::Refusing | RState::Done => Ok(()),
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
