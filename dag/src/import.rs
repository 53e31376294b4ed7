//! [`Import`]: changes from elsewhere, verified one by one and applied in groups.
//!
//! Sync and bundles feed blocks in as they arrive. Each block is checked (size, hash when a CID
//! is claimed, canonical encoding, shape, signature) the moment it is pushed; a change whose
//! parents are all present joins the current *group*, and a group is staged and committed in one
//! atomic store batch under the repo's write lock. Grouping is what makes a clone fast: one
//! batch per thousand changes instead of one per change.
//!
//! A change whose parents have not arrived yet waits in memory (bounded by
//! [`MAX_WAITING_BYTES`]) and joins a group as soon as they do. Whatever happens, every change
//! that was verified and had its parents is committed by [`Import::commit`] / [`Import::finish`],
//! so a transfer cut off midway keeps all it verified; nothing unverified is ever written.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{mpsc, Arc, Mutex},
};

use weft_store::{Cid, CidMap, CidSet, Codec};

use crate::{
    change::{self, Change, EncodedChange},
    error::{Error, InvalidReason},
    id::DocId,
    keys,
    repo::Repo,
    verified::VerifiedCache,
    write::{Stage, Staged},
};
use weft_store::sync_util::lock;

/// About how many writes staging one change makes (block, index entries, heads, state): a
/// group's batch is sized for them up front rather than grown step by step.
const WRITES_PER_CHANGE: usize = 10;

/// How many changes a group holds before it is committed.
pub const GROUP_CHANGES: usize = 1024;

/// How many block bytes a group holds before it is committed.
pub const GROUP_BYTES: usize = 4 << 20;

/// How many blocks are decoded and verified together (in parallel).
pub const VERIFY_BATCH: usize = 512;

/// How many bytes of blocks may be queued before they are verified, however few they are: a
/// peer sending blocks of the size limit (1 MiB) that are not changes would otherwise have
/// [`VERIFY_BATCH`] of them (512 MiB) held before any is looked at.
pub const VERIFY_BYTES: usize = 4 << 20;

/// How many bytes of changes may wait for missing parents before the import is refused.
pub const MAX_WAITING_BYTES: usize = 64 << 20;

/// What an import did so far (and what [`Repo::apply_changes`] did).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Changes verified and committed, in commit order.
    pub applied: Vec<Cid>,
    /// Changes that were already present (or pushed twice).
    pub n_duplicates: usize,
}

/// An import in progress; see the [module docs](self).
#[derive(Debug)]
pub struct Import<'r> {
    repo: &'r Repo,
    /// Verified changes whose parents are present, in a valid order.
    group: Vec<EncodedChange>,
    group_bytes: usize,
    in_group: CidSet,
    /// Blocks whose hash is checked, queued to be decoded and verified together.
    unverified: Vec<(Cid, Vec<u8>)>,
    unverified_ids: CidSet,
    unverified_bytes: usize,
    /// Verified changes waiting for a parent.
    waiting: CidMap<EncodedChange>,
    waiting_bytes: usize,
    /// Missing parent -> the waiting changes that want it.
    wanted_by: CidMap<Vec<Cid>>,
    stats: ImportStats,
    /// Who delivers these changes, for the arrival records.
    source: String,
    /// The verification threads, once an import has enough to verify.
    pipeline: Option<Pipeline>,
    /// Blocks handed to the verification threads and not admitted yet.
    in_flight: CidSet,
    /// The first failure of verification or admission not reported yet.
    failure: Option<Error>,
}

/// Decodes hash-checked blocks (unless `cache` has them) and checks the shapes and signatures
/// of those decoded here as one batch, whose answers are those of checking each alone.
fn check(
    cache: Option<&VerifiedCache>,
    chunk: Vec<(Cid, Vec<u8>)>,
) -> Vec<Result<EncodedChange, Error>> {
    let mut out: Vec<Result<EncodedChange, Error>> = Vec::with_capacity(chunk.len());
    let mut decoded: Vec<usize> = Vec::with_capacity(chunk.len());
    for (cid, bytes) in chunk {
        // The bytes hash to `cid` (checked when pushed), so they are the very bytes the
        // cached change was decoded from.
        if let Some(change) = cache.and_then(|c| c.get(&cid)) {
            out.push(Ok(EncodedChange { cid, bytes, change }));
            continue;
        }
        match Change::decode(&cid, &bytes) {
            Ok(change) => {
                decoded.push(out.len());
                out.push(Ok(EncodedChange {
                    cid,
                    bytes,
                    change: Arc::new(change),
                }));
            }
            Err(e) => out.push(Err(e.into())),
        }
    }
    let verdicts = {
        let items: Vec<(&Cid, &Change, &[u8])> = decoded
            .iter()
            .filter_map(|&i| out[i].as_ref().ok())
            .map(|enc| (&enc.cid, &*enc.change, enc.bytes.as_slice()))
            .collect();
        change::verify_batch(&items)
    };
    for (i, verdict) in decoded.into_iter().zip(verdicts) {
        match (verdict, &out[i]) {
            (Ok(()), Ok(enc)) => {
                if let Some(c) = cache {
                    c.insert(enc.cid, enc.change.clone());
                }
            }
            (Err(e), _) => out[i] = Err(e.into()),
            (Ok(()), Err(_)) => {}
        }
    }
    out
}

/// How many batches may be handed to the verification threads and not yet taken back.
const IN_FLIGHT: u64 = 4;

type Job = (u64, Vec<(Cid, Vec<u8>)>);
type Done = (u64, Vec<Result<EncodedChange, Error>>);

/// Verification threads: batches go in numbered, and come back in that order.
#[derive(Debug)]
struct Pipeline {
    jobs: Option<mpsc::SyncSender<Job>>,
    done: mpsc::Receiver<Done>,
    cache: Option<Arc<VerifiedCache>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    sent: u64,
    received: u64,
    /// Batches finished out of order, until those before them are done.
    parked: BTreeMap<u64, Vec<Result<EncodedChange, Error>>>,
}

impl Pipeline {
    /// One thread per core (the importing thread stages meanwhile).
    fn start(cache: Option<Arc<VerifiedCache>>) -> Pipeline {
        let (jobs, inbox) = mpsc::sync_channel::<Job>(IN_FLIGHT as usize);
        let (finished, done) = mpsc::channel::<Done>();
        let inbox = Arc::new(Mutex::new(inbox));
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = (0..n)
            .filter_map(|_| {
                let inbox = inbox.clone();
                let finished = finished.clone();
                let cache = cache.clone();
                std::thread::Builder::new()
                    .name("weft-verify".into())
                    .spawn(move || loop {
                        let job = lock(&inbox).recv();
                        let Ok((n, chunk)) = job else { return };
                        let blocks = chunk.len();
                        let results =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                check(cache.as_deref(), chunk)
                            }))
                            .unwrap_or_else(|_| vec![Err(Error::VerifierPanicked { blocks })]);
                        if finished.send((n, results)).is_err() {
                            return;
                        }
                    })
                    .ok()
            })
            .collect();
        Pipeline {
            jobs: Some(jobs),
            done,
            cache,
            workers,
            sent: 0,
            received: 0,
            parked: BTreeMap::new(),
        }
    }

    /// Hands a batch over, first taking back (and returning) finished ones if too many are out.
    fn send(&mut self, chunk: Vec<(Cid, Vec<u8>)>) -> Vec<Vec<Result<EncodedChange, Error>>> {
        let mut finished = Vec::new();
        while self.sent - self.received >= IN_FLIGHT {
            finished.extend(self.take(true));
        }
        let unsent = match &self.jobs {
            Some(jobs) if !self.workers.is_empty() => match jobs.send((self.sent, chunk)) {
                Ok(()) => {
                    self.sent += 1;
                    None
                }
                Err(mpsc::SendError((_, chunk))) => Some(chunk),
            },
            _ => Some(chunk),
        };
        if let Some(chunk) = unsent {
            // No thread could be started, or every one is gone: check it here.
            finished.extend(self.collect(true));
            finished.push(check(self.cache.as_deref(), chunk));
        }
        finished
    }

    /// The batches finished in order: all handed over if `wait`, else those ready now.
    fn collect(&mut self, wait: bool) -> Vec<Vec<Result<EncodedChange, Error>>> {
        let mut out = Vec::new();
        while self.received < self.sent {
            let got = self.take(wait);
            if got.is_empty() {
                break;
            }
            out.extend(got);
        }
        out
    }

    /// The next finished batches in order (blocking for the next one if `wait`).
    fn take(&mut self, wait: bool) -> Vec<Vec<Result<EncodedChange, Error>>> {
        loop {
            if let Some(results) = self.parked.remove(&self.received) {
                self.received += 1;
                return vec![results];
            }
            let next = if wait {
                self.done.recv().ok()
            } else {
                self.done.try_recv().ok()
            };
            match next {
                Some((n, results)) => {
                    self.parked.insert(n, results);
                }
                None if wait => {
                    // Every thread is gone: what is out will not come back.
                    let lost = self.sent - self.received;
                    self.received = self.sent;
                    return vec![vec![Err(Error::VerifierLost { batches: lost })]];
                }
                None => return Vec::new(),
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Repo {
    /// Verifies and applies changes that came from elsewhere, in any order.
    ///
    /// Each block is checked (hash, size, canonical encoding, signature, shape) before anything
    /// is written; a failure stops the call with an error naming the CID. A change is applied
    /// once all its parents are present, so changes may arrive in any order within one call;
    /// applied changes are committed in atomic groups (see [`Repo::import`], which this wraps).
    /// Changes already present are counted and skipped. Changes whose parents are still missing
    /// at the end are rejected with [`Error::Orphans`]; everything verified before a failure
    /// stays applied.
    pub fn apply_changes<I>(&self, blocks: I) -> Result<ImportStats, Error>
    where
        I: IntoIterator<Item = (Cid, Vec<u8>)>,
    {
        let mut import = self.import();
        let pushed = blocks
            .into_iter()
            .try_for_each(|(cid, bytes)| import.push_claimed(cid, bytes).map(|_| ()));
        if let Err(e) = pushed {
            import.finish_partial()?;
            return Err(e);
        }
        import.finish()
    }

    /// Starts an [`Import`] of changes from elsewhere.
    pub fn import(&self) -> Import<'_> {
        Import {
            repo: self,
            group: Vec::new(),
            group_bytes: 0,
            in_group: CidSet::default(),
            unverified: Vec::new(),
            unverified_ids: CidSet::default(),
            unverified_bytes: 0,
            waiting: CidMap::default(),
            waiting_bytes: 0,
            wanted_by: CidMap::default(),
            stats: ImportStats::default(),
            source: String::new(),
            pipeline: None,
            in_flight: CidSet::default(),
            failure: None,
        }
    }
}

impl Import<'_> {
    /// Names who delivers these changes (a remote's name or URL, a bundle file): each change's
    /// arrival record keeps it (see [`Repo::arrivals`]).
    pub fn set_source(&mut self, source: &str) {
        self.source = source.to_string();
    }

    /// Verifies a block named by its own bytes (the CID is computed, so it cannot mismatch) and
    /// queues it. Returns its CID and whether it was new.
    pub fn push(&mut self, bytes: Vec<u8>) -> Result<(Cid, bool), Error> {
        self.check_size(None, &bytes)?;
        let cid = Cid::hash(Codec::DagCbor, &bytes);
        let new = self.push_verified_hash(cid, bytes)?;
        Ok((cid, new))
    }

    /// Verifies a block against the CID it is claimed to have and queues it. Returns whether it
    /// was new.
    pub fn push_claimed(&mut self, cid: Cid, bytes: Vec<u8>) -> Result<bool, Error> {
        self.check_size(Some(cid), &bytes)?;
        cid.verify(&bytes)?;
        self.push_verified_hash(cid, bytes)
    }

    fn check_size(&self, cid: Option<Cid>, bytes: &[u8]) -> Result<(), Error> {
        let max = self.repo.store().options().max_block_size;
        if bytes.len() > max {
            let cid = cid.unwrap_or_else(|| Cid::hash(Codec::DagCbor, bytes));
            return Err(Error::Store(weft_store::Error::BlockTooLarge {
                cid,
                size: bytes.len(),
                max,
            }));
        }
        Ok(())
    }

    /// The first of `parents` that is not present.
    fn first_missing(&self, parents: &[Cid]) -> Result<Option<Cid>, Error> {
        for p in parents {
            if !self.have(p)? {
                return Ok(Some(*p));
            }
        }
        Ok(None)
    }

    /// Whether a change is present: stored, in the uncommitted group, or waiting.
    fn have(&self, cid: &Cid) -> Result<bool, Error> {
        Ok(self.in_group.contains(cid) || self.repo.has_change(cid)?)
    }

    fn push_verified_hash(&mut self, cid: Cid, bytes: Vec<u8>) -> Result<bool, Error> {
        if self.waiting.contains_key(&cid)
            || self.unverified_ids.contains(&cid)
            || self.in_flight.contains(&cid)
            || self.have(&cid)?
        {
            self.stats.n_duplicates += 1;
            return Ok(false);
        }
        self.unverified_ids.insert(cid);
        self.unverified_bytes += bytes.len();
        self.unverified.push((cid, bytes));
        if self.unverified.len() >= VERIFY_BATCH || self.unverified_bytes >= VERIFY_BYTES {
            self.verify_queued(false)?;
        }
        Ok(true)
    }

    /// Hands the queued blocks to be decoded and verified, then admits whatever verification
    /// has finished, in the order pushed (`wait`: everything handed over so far). A few blocks,
    /// or blocks whose changes another repo of this process already verified, are checked here;
    /// more go to the verification threads, which work while this thread stages and commits.
    /// The first failure is returned once every block before it was admitted.
    fn verify_queued(&mut self, wait: bool) -> Result<(), Error> {
        if !self.unverified.is_empty() {
            let queued = std::mem::take(&mut self.unverified);
            self.unverified_ids.clear();
            self.unverified_bytes = 0;
            let cache = self.repo.writer.verified.clone();
            let unchecked = queued
                .iter()
                .filter(|(cid, _)| !cache.as_ref().is_some_and(|c| c.contains(cid)))
                .count();
            let busy = self.pipeline.as_ref().is_some_and(|p| p.sent > p.received);
            if unchecked <= 64 && !busy {
                let results = check(cache.as_deref(), queued);
                self.admit_all(results);
            } else {
                for (cid, _) in &queued {
                    self.in_flight.insert(*cid);
                }
                let pipeline = self.pipeline.get_or_insert_with(|| Pipeline::start(cache));
                let finished = pipeline.send(queued);
                for results in finished {
                    self.admit_all(results);
                }
            }
        }
        if let Some(pipeline) = &mut self.pipeline {
            for results in pipeline.collect(wait) {
                self.admit_all(results);
            }
        }
        match self.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Admits verified changes; the first failure (of verification or admission) is kept for
    /// [`verify_queued`](Import::verify_queued) to return.
    fn admit_all(&mut self, results: Vec<Result<EncodedChange, Error>>) {
        // Every block that verified is admitted, those after a failure too (a change that
        // builds on the failed one waits for it, and is an orphan at the end).
        for r in results {
            let r = r.and_then(|enc| {
                self.in_flight.remove(&enc.cid);
                self.admit(enc)
            });
            if let Err(e) = r {
                self.failure.get_or_insert(e);
            }
        }
    }

    /// Queues a verified change: into the group if its parents are present, else waiting.
    fn admit(&mut self, enc: EncodedChange) -> Result<(), Error> {
        let cid = enc.cid;
        match self.first_missing(&enc.change.parents)? {
            Some(parent) => {
                self.waiting_bytes += enc.bytes.len();
                if self.waiting_bytes > MAX_WAITING_BYTES {
                    return Err(Error::InvalidChange {
                        cid,
                        reason: InvalidReason::TooManyWaiting {
                            max: MAX_WAITING_BYTES,
                            first_missing: parent,
                        },
                    });
                }
                self.wanted_by.entry(parent).or_default().push(cid);
                self.waiting.insert(cid, enc);
            }
            None => self.ready(enc)?,
        }
        Ok(())
    }

    /// Another import of the same repo (a second sync session) may have committed a parent
    /// that changes here wait for: they wait no longer. Without this they would wait for a
    /// parent this import will never receive, and end as orphans although the repo has it.
    fn release_stored(&mut self) -> Result<(), Error> {
        // A released change that turns out to be stored too releases its own children: repeat
        // until nothing moves.
        loop {
            let mut stored = Vec::new();
            for p in self.wanted_by.keys() {
                if !self.waiting.contains_key(p) && self.repo.has_change(p)? {
                    stored.push(*p);
                }
            }
            if stored.is_empty() {
                return Ok(());
            }
            self.release(stored)?;
        }
    }

    fn release(&mut self, stored: Vec<Cid>) -> Result<(), Error> {
        for p in stored {
            for child in self.wanted_by.remove(&p).unwrap_or_default() {
                let Some(c) = self.waiting.remove(&child) else {
                    continue;
                };
                self.waiting_bytes -= c.bytes.len();
                if self.repo.has_change(&child)? {
                    self.stats.n_duplicates += 1;
                } else {
                    self.admit(c)?;
                }
            }
        }
        Ok(())
    }

    /// Adds a change whose parents are present to the group, then every waiting change that
    /// this makes ready.
    fn ready(&mut self, enc: EncodedChange) -> Result<(), Error> {
        let mut ready = vec![enc];
        while let Some(enc) = ready.pop() {
            let cid = enc.cid;
            // A grant or revoke is committed in a batch of its own, and the document's void set
            // is recomputed right after it (see `acl`), so the changes after it are judged by it.
            let membership = enc.change.is_membership();
            if membership {
                self.commit_group()?;
            }
            self.group_bytes += enc.bytes.len();
            self.in_group.insert(cid);
            self.group.push(enc);
            if membership {
                self.commit_group()?;
            }
            for child in self.wanted_by.remove(&cid).unwrap_or_default() {
                let Some(c) = self.waiting.get(&child) else {
                    continue;
                };
                match self.first_missing(&c.change.parents)? {
                    Some(p) => self.wanted_by.entry(p).or_default().push(child),
                    None => {
                        if let Some(c) = self.waiting.remove(&child) {
                            self.waiting_bytes -= c.bytes.len();
                            ready.push(c);
                        }
                    }
                }
            }
        }
        if self.group.len() >= GROUP_CHANGES || self.group_bytes >= GROUP_BYTES {
            self.commit_group()?;
        }
        Ok(())
    }

    /// Commits the current group in one atomic batch (and flushes, if the repo flushes every
    /// commit). Waiting changes stay waiting.
    pub fn commit(&mut self) -> Result<(), Error> {
        let verified = self.verify_queued(true);
        self.release_stored()?;
        // A change refused at commit (unauthorised, equivocating, a wrong height) is dropped and
        // the changes after it go back into the group: commit them too, and report the first
        // refusal. Each round drops at least the refused change, so this ends.
        let mut refused = None;
        while let Err(e) = self.commit_group() {
            let retry = !self.group.is_empty();
            refused.get_or_insert(e);
            if !retry {
                break;
            }
        }
        match refused {
            Some(e) => Err(e),
            None => verified,
        }
    }

    fn commit_group(&mut self) -> Result<(), Error> {
        if self.group.is_empty() {
            return Ok(());
        }
        self.repo.ensure_writable()?;
        let writer = &self.repo.writer;
        let mut group = std::mem::take(&mut self.group);
        self.group_bytes = 0;
        let note = keys::encode_note(self.repo.now(), &self.source);
        // Per change of the group: what staging it found if staged, `None` if skipped as a
        // duplicate.
        let mut staged: Vec<Option<Staged>> = Vec::with_capacity(group.len());
        let mut failure = None;
        let committed = {
            let _guard = lock(&writer.lock);
            let before = self.repo.diffs_before(group.iter().map(|enc| &*enc.change));
            let mut batch = writer
                .store
                .batch_with_capacity(group.len() * WRITES_PER_CHANGE);
            let mut ctx = Stage::default();
            for enc in &group {
                // Another import (a second sync session) may have committed it since it was
                // queued; staging it twice would count its ops twice.
                if batch.is_staged(&enc.cid) || writer.graph.has_change(&enc.cid)? {
                    self.stats.n_duplicates += 1;
                    staged.push(None);
                    continue;
                }
                match writer.stage(&mut batch, &mut ctx, enc, &note) {
                    Ok(s) => staged.push(Some(s)),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            if failure.is_some() {
                // A change failed a rule that needs its parents (height, document). The batch
                // may hold part of it: stage again without it, so the changes before it land.
                drop(batch);
                batch = writer.store.batch();
                let mut ctx = Stage::default();
                for (enc, s) in group.iter().zip(staged.iter_mut()) {
                    if s.is_some() {
                        *s = Some(writer.stage(&mut batch, &mut ctx, enc, &note)?);
                    }
                }
            }
            let committed = writer.commit(
                batch,
                group
                    .iter()
                    .zip(&staged)
                    .filter_map(|(enc, s)| s.as_ref().map(|s| (enc, s))),
            );
            if group.iter().any(|enc| enc.change.is_membership()) {
                writer.acl.changed();
            }
            let diffs = before
                .filter(|_| committed.is_ok())
                .map(|b| b.after(&writer.store, &writer.seq));
            (committed, diffs)
        };
        let (committed, diffs) = committed;
        if let Err(e) = self.repo.after_failure(committed) {
            // Nothing of the group landed: it is not applied, and what waited for it waits on.
            self.in_group.clear();
            return Err(e);
        }
        // After a failure: the change that failed, then those not tried yet.
        let untried = group.split_off(staged.len());
        let applied: Vec<(DocId, EncodedChange)> = group
            .into_iter()
            .zip(staged)
            .filter_map(|(enc, s)| s.map(|s| (s.doc, enc)))
            .collect();
        self.in_group.clear();
        // The verified changes after the failed one go to the next commit, except those that
        // build on it: they wait for it like for a parent that has not arrived (orphans at the
        // end).
        let mut untried = untried.into_iter();
        if let Some(failed) = untried.next() {
            let mut dead = HashSet::from([failed.cid]);
            for enc in untried {
                match enc.change.parents.iter().find(|p| dead.contains(*p)) {
                    Some(&parent) => {
                        dead.insert(enc.cid);
                        self.waiting_bytes += enc.bytes.len();
                        self.wanted_by.entry(parent).or_default().push(enc.cid);
                        self.waiting.insert(enc.cid, enc);
                    }
                    None => {
                        self.group_bytes += enc.bytes.len();
                        self.in_group.insert(enc.cid);
                        self.group.push(enc);
                    }
                }
            }
        }
        self.stats
            .applied
            .extend(applied.iter().map(|(_, enc)| enc.cid));
        self.repo.applied_with(&applied, false, diffs)?;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Parents that waiting changes need and that have not arrived, sorted.
    pub fn missing_parents(&self) -> Vec<Cid> {
        let mut v: Vec<Cid> = self
            .wanted_by
            .iter()
            .filter(|(p, kids)| !kids.is_empty() && !self.waiting.contains_key(*p))
            .map(|(p, _)| *p)
            .collect();
        v.sort();
        v
    }

    /// The verified changes waiting for parents.
    pub fn waiting(&self) -> impl Iterator<Item = &Cid> {
        self.waiting.keys()
    }

    /// How many verified changes are waiting for parents.
    pub fn n_waiting(&self) -> usize {
        self.waiting.len()
    }

    /// What was done so far (committed changes only).
    pub fn stats(&self) -> &ImportStats {
        &self.stats
    }

    /// Commits the last group. Changes still waiting for parents are dropped and reported as
    /// [`Error::Orphans`], naming a parent that never arrived; everything else stays applied.
    pub fn finish(mut self) -> Result<ImportStats, Error> {
        self.commit()?;
        if let Some(parent) = self.missing_parents().first().copied() {
            let mut kids = self.wanted_by.get(&parent).cloned().unwrap_or_default();
            kids.sort();
            return Err(Error::Orphans {
                cid: kids[0],
                missing: parent,
                n_orphans: self.waiting.len(),
                n_applied: self.stats.applied.len(),
            });
        }
        Ok(self.stats)
    }

    /// Commits the last group and drops whatever waits for parents, returning the stats.
    pub fn finish_partial(mut self) -> Result<ImportStats, Error> {
        self.commit()?;
        Ok(self.stats)
    }
}
