//! The one write path: staging changes into a store batch, committing it, and what a commit
//! triggers. Local commits, imports, the replay of the log after a crash, the migration of an
//! older store, and the scratch replays of `at` and `fsck` all stage changes here.
//!
//! Staging a verified change checks what needs its parents (present, same document, height,
//! write access, no equivocation), then stages the block (appended to the log at commit, with a
//! note of when it arrived and from whom) and everything derived from it: its entries in the
//! `heights`, `seqs` and `arrivals` chunks, the heads, the author's highest seq, the membership
//! data of a grant or revoke, and its ops' effect on the state. See [`crate::keys`].

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc, Mutex,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use weft_store::{Batch, Cid, CidMap, CidSet, Codec, Pos, Store};

use crate::{
    acl::{self, AclDoc},
    acl_cache::AclCache,
    change::{Change, EncodedChange},
    error::{Error, InvalidReason},
    graph::{corrupt, Graph, ParentInfo},
    id::DocId,
    keys::{self, HeightEntry},
    seqdoc::{self, SeqCache, SeqDoc},
    state,
    verified::VerifiedCache,
};
use weft_store::sync_util::lock;

/// How many changes a replay stages in one batch.
const REPLAY_GROUP: usize = 1024;

/// A source of time in milliseconds since the Unix epoch, for
/// [`Repo::with_clock`](crate::Repo::with_clock): a simulation gives every replica its virtual
/// clock.
#[derive(Clone)]
pub struct Clock(Arc<ClockFn>);

type ClockFn = dyn Fn() -> u64 + Send + Sync;

impl Clock {
    /// A clock that calls `f` for the time.
    pub fn new(f: impl Fn() -> u64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    /// The time now, in ms.
    pub fn now(&self) -> u64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// [`Writer::tombstones`]: not looked at yet.
const TOMBSTONES_UNKNOWN: u8 = 0;
/// [`Writer::tombstones`]: none stored, none staged.
const TOMBSTONES_NONE: u8 = 1;
/// [`Writer::tombstones`]: some may be stored or staged.
const TOMBSTONES_MAYBE: u8 = 2;

/// What staging a change found out, for the caches once it is committed.
#[derive(Debug)]
pub(crate) struct Staged {
    /// The change's document.
    pub(crate) doc: DocId,
    /// Its membership frontier.
    pub(crate) frontier: Vec<Cid>,
    /// Whether it counts (is not void) and holds list or text ops.
    pub(crate) seq: bool,
}

/// What one batch has staged so far: the changes (so that later ones of the same batch find
/// their parents) and the last entry of each `heights` chunk it appended to.
#[derive(Debug, Default)]
pub(crate) struct Stage {
    staged: CidMap<(DocId, u64, Vec<Cid>)>,
    last_height: HashMap<Vec<u8>, Option<HeightEntry>>,
}

/// Writes to one repo's store; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) store: Store,
    pub(crate) graph: Graph,
    pub(crate) acl: AclCache,
    /// The repo's write lock: one writer at a time stages and commits.
    pub(crate) lock: Mutex<()>,
    /// Whether a tombstone may exist (see [`Writer::may_have_tombstones`]).
    tombstones: AtomicU8,
    clock: Option<Clock>,
    pub(crate) verified: Option<Arc<VerifiedCache>>,
    /// The lists and texts of the documents read or written since the repo opened.
    pub(crate) seq: Arc<SeqCache>,
    /// Write the snapshots of lists and texts when dropped (a repo's writer, not a scratch
    /// replay's).
    pub(crate) snapshot_on_drop: bool,
}

impl Drop for Writer {
    /// Writes the snapshot of every document whose lists and texts changed since their last
    /// one, so that the next open reads them without replaying changes.
    fn drop(&mut self) {
        if !self.snapshot_on_drop || self.store.is_read_only() || self.store.is_failed() {
            return;
        }
        let mut seq = self.seq.lock();
        for doc in seq.docs() {
            if let Err(e) = seq.snapshot_if_due(&self.store, &doc, true) {
                tracing::debug!("no snapshot of the lists and texts of {doc}: {e}");
            }
        }
    }
}

impl Writer {
    pub(crate) fn new(store: Store, verified: Option<Arc<VerifiedCache>>) -> Writer {
        let nodes = verified
            .as_ref()
            .map(|v| v.nodes.clone())
            .unwrap_or_default();
        Writer {
            graph: Graph::new(store.clone(), nodes),
            store,
            acl: AclCache::default(),
            lock: Mutex::new(()),
            tombstones: AtomicU8::new(TOMBSTONES_UNKNOWN),
            clock: None,
            verified,
            seq: Arc::default(),
            snapshot_on_drop: false,
        }
    }

    pub(crate) fn set_clock(&mut self, clock: Clock) {
        self.clock = Some(clock);
    }

    pub(crate) fn clock(&self) -> Option<Clock> {
        self.clock.clone()
    }

    /// The repo's time now (ms since the Unix epoch).
    pub(crate) fn now(&self) -> u64 {
        self.clock.as_ref().map_or_else(now_ms, Clock::now)
    }

    /// The membership changes of `doc`, whose genesis may be staged in `batch`.
    pub(crate) fn acl_doc(
        &self,
        batch: Option<&Batch<'_>>,
        doc: DocId,
    ) -> Result<Arc<AclDoc>, Error> {
        self.acl.get(&self.store, doc, || match batch {
            Some(b) => Ok(b.get_block(&doc.0)?),
            None => Ok(self.store.get_block(&doc.0)?),
        })
    }

    /// What staging a child needs of parent `p`: from this batch, the node table, or the store.
    fn parent(&self, ctx: &Stage, p: &Cid) -> Result<Option<ParentInfo>, Error> {
        if let Some((doc, height, frontier)) = ctx.staged.get(p) {
            return Ok(Some((*doc, *height, Some(frontier.clone()))));
        }
        if let Some(info) = self.graph.cached_parent(p) {
            return Ok(Some(info));
        }
        if !self.graph.has_change(p)? {
            return Ok(None);
        }
        Ok(self
            .graph
            .node(p)?
            .map(|node| (node.doc, node.height, None)))
    }

    /// The last entry of the `heights` chunk `key` of `doc` as this batch leaves it.
    fn last_height<'c>(
        &self,
        batch: &Batch<'_>,
        ctx: &'c mut Stage,
        key: &[u8],
        first: u64,
    ) -> Result<&'c mut Option<HeightEntry>, Error> {
        if !ctx.last_height.contains_key(key) {
            let last = match batch.get(keys::HEIGHTS, key)? {
                None => None,
                Some(v) => keys::decode_heights(first, &v)
                    .ok_or_else(|| corrupt("heights", "a damaged chunk"))?
                    .pop(),
            };
            ctx.last_height.insert(key.to_vec(), last);
        }
        ctx.last_height
            .get_mut(key)
            .ok_or_else(|| corrupt("heights", "a chunk went missing"))
    }

    /// Stages one verified change into `batch` (see the [module docs](self)); `note` goes with
    /// its block into the log. Its parents must be present (in the store or earlier in `ctx`).
    pub(crate) fn stage(
        &self,
        batch: &mut Batch<'_>,
        ctx: &mut Stage,
        enc: &EncodedChange,
        note: &[u8],
    ) -> Result<Staged, Error> {
        let cid = enc.cid;
        let c = &enc.change;
        let doc = c.doc.unwrap_or(DocId(cid));
        let mut max_height = 0;
        let mut missing = Vec::new();
        let mut frontiers = Vec::new();
        for p in &c.parents {
            match self.parent(ctx, p)? {
                None => missing.push(*p),
                Some((parent_doc, height, frontier)) => {
                    if parent_doc != doc {
                        return Err(Error::InvalidChange {
                            cid,
                            reason: InvalidReason::ParentInOtherDoc {
                                parent: *p,
                                doc: parent_doc,
                            },
                        });
                    }
                    max_height = max_height.max(height);
                    match frontier {
                        Some(f) => frontiers.extend(f),
                        None => frontiers.extend(self.graph.frontier(&doc, height, p)?),
                    }
                }
            }
        }
        if let Some(first) = missing.first() {
            return Err(Error::Orphans {
                cid,
                missing: *first,
                n_orphans: 1,
                n_applied: 0,
            });
        }
        if !c.is_genesis() && c.height != max_height + 1 {
            return Err(Error::InvalidChange {
                cid,
                reason: InvalidReason::Height {
                    height: c.height,
                    expected: max_height + 1,
                },
            });
        }
        // Write access (see `acl`): rejected unless its author held the role in its own past;
        // stored but void unless it also counts in the view of the whole DAG.
        let mut frontier = Vec::new();
        let mut void = false;
        // The highest seq stored for this author: every `seqs` entry of theirs is at most that,
        // so a change beyond it (an honest author's next one) cannot equivocate.
        let author_key = keys::author_seq_key(&doc, &c.author);
        let old_seq = match batch.get(keys::AUTHOR_SEQ, &author_key)? {
            Some(v) => keys::decode_author_seq(&v).ok_or_else(|| corrupt("author_seq", "value"))?,
            None => 0,
        };
        let seq_key = keys::seqs_key(&doc, &c.author, c.seq);
        let mut seq_known = false;
        let mut past = CidSet::default();
        if !c.is_genesis() {
            let acl = self.acl_doc(Some(batch), doc)?;
            frontier = acl.reduce(frontiers);
            past = acl.closure(&frontier);
            acl.accept(&cid, c, &past)?;
            void = !acl.counts_new(c, &frontier, &past);
            if c.seq <= old_seq {
                if let Some(v) = batch.get(keys::SEQS, &seq_key)? {
                    let found = keys::find_seq(&v, c.seq)
                        .ok_or_else(|| corrupt("seqs", "a damaged chunk"))?;
                    if let Some(pos) = found {
                        let first = batch.cid_at(pos)?;
                        if first != cid {
                            return Err(Error::Equivocation {
                                author: c.author,
                                seq: c.seq,
                                first,
                                second: cid,
                            });
                        }
                        seq_known = true;
                    }
                }
            }
        }
        // Every change staged here hashed to its CID: signed here, checked when it arrived, or
        // read back from the log.
        let pos = batch.put_checked_block(&cid, &enc.bytes, note)?;
        if !c.is_genesis() {
            if !seq_known {
                let mut entry = Vec::with_capacity(6);
                keys::put_seq_entry(&mut entry, c.seq, pos);
                batch.append(keys::SEQS, &seq_key, &entry)?;
            }
            if c.is_membership() {
                batch.put(
                    keys::ACL,
                    &keys::cid_key(&doc, &cid),
                    &[&c.height.to_be_bytes()[..], &keys::encode_cids(&past)].concat(),
                );
                batch.put(keys::DIRTY, &keys::dirty_key(&doc), &[]);
                frontier = vec![cid];
                self.acl.changed();
            }
        }
        let heights_key = keys::heights_key(&doc, c.height);
        let first = c.height - c.height % keys::HEIGHTS_PER_CHUNK;
        let entry = HeightEntry {
            height: c.height,
            pos,
            frontier: frontier.clone(),
        };
        let mut bytes = Vec::with_capacity(8);
        {
            let last = self.last_height(batch, ctx, &heights_key, first)?;
            keys::put_height_entry(&mut bytes, last.as_ref(), &entry);
            *last = Some(entry);
        }
        batch.append(keys::HEIGHTS, &heights_key, &bytes)?;
        batch.append(
            keys::ARRIVALS,
            &keys::arrivals_key(&doc, pos),
            &keys::arrival_entry(pos),
        )?;
        let heads_key = keys::doc_key(&doc);
        let mut heads = match batch.get(keys::HEADS, &heads_key)? {
            Some(v) => keys::decode_heads(&v).ok_or_else(|| corrupt("heads", "a damaged value"))?,
            None => Vec::new(),
        };
        heads.retain(|(h, _)| c.parents.binary_search(h).is_err());
        if let Err(at) = heads.binary_search_by_key(&cid, |(h, _)| *h) {
            heads.insert(at, (cid, c.height));
        }
        batch.put(keys::HEADS, &heads_key, &keys::encode_heads(&heads));
        if c.seq > old_seq {
            batch.put(
                keys::AUTHOR_SEQ,
                &author_key,
                &keys::author_seq_value(c.seq),
            );
        }
        let seq = !void && seqdoc::has_seq_ops(c);
        if void {
            batch.put(keys::VOID, &keys::cid_key(&doc, &cid), &[]);
        } else {
            let mut known = state::Known {
                stored: &|p| self.graph.known_present(p),
                tombstones: self.may_have_tombstones()?,
                first_time: true,
            };
            state::apply_ops(batch, &doc, &cid, c, &mut known)?;
            if known.tombstones {
                self.tombstones.store(TOMBSTONES_MAYBE, Ordering::SeqCst);
            }
        }
        ctx.staged.insert(cid, (doc, c.height, frontier.clone()));
        Ok(Staged { doc, frontier, seq })
    }

    /// Whether a tombstone may be stored or staged. Honest writers never make one, so this is
    /// almost always `false`, which spares two lookups per change applied. Looked up once, then
    /// kept: a batch that stages one sets it (under the write lock), and it is never unset.
    fn may_have_tombstones(&self) -> Result<bool, Error> {
        match self.tombstones.load(Ordering::SeqCst) {
            TOMBSTONES_NONE => Ok(false),
            TOMBSTONES_MAYBE => Ok(true),
            _ => {
                let any = self
                    .store
                    .scan_prefix(keys::TOMBSTONE, &[])
                    .next()
                    .transpose()?
                    .is_some();
                let now = if any {
                    TOMBSTONES_MAYBE
                } else {
                    TOMBSTONES_NONE
                };
                self.tombstones.store(now, Ordering::SeqCst);
                Ok(any)
            }
        }
    }

    /// Forgets what the writer knew of the store (after a recovery returned it to an earlier
    /// state).
    pub(crate) fn forget(&self) {
        self.graph.forget();
        self.acl.changed();
        self.tombstones.store(TOMBSTONES_UNKNOWN, Ordering::SeqCst);
        self.seq.clear();
    }

    /// Commits `batch`, which stages `committed`, and records them: present here, and their
    /// nodes. Called under the write lock. The presence set stays locked from before the batch
    /// lands until the changes are in it, so a reader that found one of them in the store (a
    /// head, say) and then asks whether it is present never gets "absent" from a complete set.
    pub(crate) fn commit<'e>(
        &self,
        batch: Batch<'_>,
        committed: impl IntoIterator<Item = (&'e EncodedChange, &'e Staged)> + Clone,
    ) -> Result<(), Error> {
        self.commit_settled(batch, committed, None)
    }

    /// [`Writer::commit`], with a document's lists and texts as a transaction settled them
    /// for the change it commits (see [`SeqDoc::settle`]), put in the cache instead of
    /// applying the change to it.
    pub(crate) fn commit_settled<'e>(
        &self,
        batch: Batch<'_>,
        committed: impl IntoIterator<Item = (&'e EncodedChange, &'e Staged)> + Clone,
        settled: Option<(DocId, SeqDoc)>,
    ) -> Result<(), Error> {
        {
            let mut present = lock(&self.graph.present);
            let mut seq = (settled.is_some() || committed.clone().into_iter().any(|(_, s)| s.seq))
                .then(|| self.seq.lock());
            batch.commit()?;
            if let Some(seq) = &mut seq {
                let mut docs: Vec<DocId> = Vec::new();
                match settled {
                    Some((doc, d)) => {
                        seq.put(doc, d);
                        docs.push(doc);
                    }
                    None => {
                        for (enc, s) in committed.clone() {
                            if s.seq {
                                seq.apply(&s.doc, &enc.cid, &enc.change);
                                if !docs.contains(&s.doc) {
                                    docs.push(s.doc);
                                }
                            }
                        }
                    }
                }
                // A snapshot only spares replays at open: failing to write one fails nothing.
                for doc in docs {
                    if let Err(e) = seq.snapshot_if_due(&self.store, &doc, false) {
                        tracing::warn!("no snapshot of the lists and texts of {doc}: {e}");
                    }
                }
            }
            for (enc, _) in committed.clone() {
                present.insert(enc.cid);
            }
        }
        self.graph
            .remember_nodes(committed.into_iter().map(|(enc, s)| {
                (
                    enc.cid,
                    s.doc,
                    enc.change.height,
                    &enc.change.parents[..],
                    &s.frontier[..],
                )
            }));
        Ok(())
    }

    /// What a commit of `applied` triggers: a membership change has its document's void set
    /// recomputed. Called after the write lock was released.
    pub(crate) fn after_commit(&self, applied: &[(DocId, EncodedChange)]) -> Result<(), Error> {
        for (doc, enc) in applied {
            if enc.change.is_membership() {
                self.reauthorize(*doc)?;
            }
        }
        Ok(())
    }

    /// Recomputes which changes of `doc` are void and, if that changed, rebuilds its state from
    /// the DAG, in one atomic batch; then clears the document's dirty mark. Runs after every
    /// committed membership change, and on open for a document left dirty by a crash.
    pub(crate) fn reauthorize(&self, doc: DocId) -> Result<(), Error> {
        let _guard = lock(&self.lock);
        self.acl.changed();
        let acl = self.acl_doc(None, doc)?;
        let mut rows = Vec::new();
        let mut changes = CidMap::default();
        for e in self.graph.entries(doc, false) {
            let e = e?;
            let rec = self.store.record(e.pos)?;
            let change = Change::decode(&rec.cid, &rec.block)?;
            rows.push(acl::Row {
                cid: rec.cid,
                author: change.author,
                parents: change.parents.clone(),
                frontier: e.frontier,
                data: !acl.contains(&rec.cid) || change.has_data(),
            });
            changes.insert(rec.cid, change);
        }
        let void = acl::void_set(&acl, &rows);
        let mut stored = CidSet::default();
        for r in self.store.scan_prefix(keys::VOID, &doc.0.to_bytes()) {
            let (k, _) = r?;
            let (_, cid) = keys::parse_cid_key(&k).ok_or_else(|| corrupt("void", "damaged key"))?;
            stored.insert(cid);
        }
        let mut batch = self.store.batch();
        if void != stored {
            for c in stored.difference(&void) {
                batch.delete(keys::VOID, &keys::cid_key(&doc, c));
            }
            for c in void.difference(&stored) {
                batch.put(keys::VOID, &keys::cid_key(&doc, c), &[]);
            }
            for ks in [
                keys::REGISTER,
                keys::COUNTER,
                keys::SET,
                keys::TOMBSTONE,
                keys::SEQ_CHANGES,
                keys::SEQ_SNAP,
                keys::SEQ_TAIL,
            ] {
                for r in self.store.scan_prefix(ks, &doc.0.to_bytes()) {
                    batch.delete(ks, &r?.0);
                }
            }
            // The state is rebuilt from nothing: assume tombstones, as kills of changes that
            // never arrived leave them again.
            self.tombstones.store(TOMBSTONES_MAYBE, Ordering::SeqCst);
            let mut known = state::Known {
                stored: &|_| false,
                tombstones: true,
                first_time: false,
            };
            for row in &rows {
                if !void.contains(&row.cid) {
                    let change = changes
                        .get(&row.cid)
                        .ok_or_else(|| corrupt("heights", "a change went missing"))?;
                    state::apply_ops(&mut batch, &doc, &row.cid, change, &mut known)?;
                }
            }
        }
        batch.delete(keys::DIRTY, &keys::dirty_key(&doc));
        let mut seq = self.seq.lock();
        batch.commit()?;
        seq.forget(&doc);
        Ok(())
    }

    /// Stages and commits one change on its own, then does what a commit of it triggers: for
    /// replays into a scratch repo.
    pub(crate) fn apply_one(&self, enc: EncodedChange, note: &[u8]) -> Result<(), Error> {
        let guard = lock(&self.lock);
        let mut batch = self.store.batch();
        let staged = self.stage(&mut batch, &mut Stage::default(), &enc, note)?;
        self.commit(batch, [(&enc, &staged)])?;
        drop(guard);
        self.after_commit(&[(staged.doc, enc)])
    }

    /// Stages again the records of the log that the last checkpoint does not cover (see
    /// [`weft_store::Store::replay_range`]), as they were first staged: in order, in groups,
    /// each membership change in a group of its own and followed by what it triggers. Their
    /// signatures are not checked again: they were checked before they were first stored, and
    /// their hashes are checked now. Returns how many records were replayed.
    pub(crate) fn replay(&self) -> Result<u64, Error> {
        let (next, end) = self.store.replay_range();
        let mut p = next.0;
        while p < end.0 {
            let guard = lock(&self.lock);
            let mut batch = self.store.batch();
            let mut ctx = Stage::default();
            let mut group: Vec<EncodedChange> = Vec::new();
            let mut staged = Vec::new();
            while p < end.0 && group.len() < REPLAY_GROUP {
                let rec = self.store.record(Pos(p))?;
                let replay_err = |e: Error| Error::Replay {
                    pos: p,
                    cid: rec.cid,
                    source: Box::new(e),
                };
                if rec.cid.codec() != Codec::DagCbor {
                    batch
                        .put_block(&rec.cid, &rec.block, &rec.note)
                        .map_err(|e| replay_err(e.into()))?;
                    p += 1;
                    continue;
                }
                let change =
                    Change::decode(&rec.cid, &rec.block).map_err(|e| replay_err(e.into()))?;
                let membership = change.is_membership();
                if membership && !group.is_empty() {
                    break;
                }
                let enc = EncodedChange {
                    cid: rec.cid,
                    bytes: rec.block,
                    change: Arc::new(change),
                };
                let s = self
                    .stage(&mut batch, &mut ctx, &enc, &rec.note)
                    .map_err(replay_err)?;
                group.push(enc);
                staged.push(s);
                p += 1;
                if membership {
                    break;
                }
            }
            self.commit(batch, group.iter().zip(&staged))?;
            drop(guard);
            let applied: Vec<(DocId, EncodedChange)> =
                staged.iter().map(|s| s.doc).zip(group).collect();
            self.after_commit(&applied)?;
        }
        Ok(end.0 - next.0)
    }
}
