//! `fsck`: checks everything a repo holds against everything it can be checked against.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use weft_store::{Cid, Codec, Pos, Store};

use crate::{
    change::{self, Change, EncodedChange},
    error::Error,
    graph::corrupt,
    id::DocId,
    keys,
    write::Writer,
};

/// How many signatures `fsck` checks in one batch.
const VERIFY_BATCH: usize = 512;

/// One problem `fsck` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The block or change concerned, if any.
    pub cid: Option<Cid>,
    /// A short machine-readable kind (`corrupt-block`, `bad-signature`, ...).
    pub kind: &'static str,
    /// What is wrong.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cid {
            Some(cid) => write!(f, "{}: {cid}: {}", self.kind, self.detail),
            None => write!(f, "{}: {}", self.kind, self.detail),
        }
    }
}

/// What `fsck` checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Blocks re-hashed.
    pub n_blocks: usize,
    /// Changes whose signatures were checked.
    pub n_changes: usize,
    /// Documents whose heads were walked.
    pub n_docs: usize,
    /// What opening the store repaired (a torn record cut off, a pack index rebuilt, records
    /// replayed after a crash), one line each.
    pub repaired: Vec<String>,
    /// Everything wrong; empty when the repo is sound.
    pub problems: Vec<Problem>,
}

impl FsckReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, cid: Option<Cid>, kind: &'static str, detail: String) {
        self.problems.push(Problem { cid, kind, detail });
    }
}

/// Checks everything: the pack files and their indexes, re-hashes every block, verifies every
/// change's signature and shape, checks the indexes of every change (`heights`, `seqs`,
/// `arrivals`), walks every document's heads down to its genesis, and compares the persisted
/// state with a fresh replay of the DAG.
pub(crate) fn fsck(writer: &Writer, replayed: u64) -> Result<FsckReport, Error> {
    let store = &writer.store;
    let mut report = FsckReport::default();
    let open = store.open_report();
    report.repaired.extend(open.repaired.iter().cloned());
    if replayed > 0 {
        report.repaired.push(format!(
            "replayed {replayed} record(s) of the log that the last checkpoint did not cover"
        ));
    }
    for damage in &open.damaged {
        report.problem(None, "damaged-pack", damage.clone());
    }
    // Blocks found damaged: reported once, here, and not again as missing ancestors.
    let mut damaged = BTreeSet::new();
    for e in store.check_log() {
        match &e {
            // A record whose header names its block: the block is what is damaged.
            weft_store::LogError::Corrupt { cid: Some(cid), .. } => {
                damaged.insert(*cid);
                report.problem(Some(*cid), "corrupt-block", e.to_string())
            }
            _ => report.problem(None, "damaged-pack", e.to_string()),
        }
    }
    let end = store.log_end();
    let mut unreadable = BTreeSet::new();
    // Changes decoded, waiting to have their signatures checked in one batch.
    let mut pending: Vec<(Pos, Cid, Vec<u8>, Change)> = Vec::new();
    let mut checked: Vec<(Pos, EncodedChange)> = Vec::new();
    let verify = |pending: &mut Vec<(Pos, Cid, Vec<u8>, Change)>,
                  report: &mut FsckReport,
                  checked: &mut Vec<(Pos, EncodedChange)>| {
        let items: Vec<(&Cid, &Change, &[u8])> = pending
            .iter()
            .map(|(_, cid, bytes, change)| (cid, change, bytes.as_slice()))
            .collect();
        let verdicts = change::verify_batch(&items);
        for ((pos, cid, bytes, change), verdict) in pending.drain(..).zip(verdicts) {
            match verdict {
                Err(e) => report.problem(Some(cid), "bad-signature", e.to_string()),
                Ok(()) => checked.push((
                    pos,
                    EncodedChange {
                        cid,
                        bytes,
                        change: Arc::new(change),
                    },
                )),
            }
        }
    };
    for p in 0..end.0 {
        let pos = Pos(p);
        let rec = match store.record(pos) {
            Ok(r) => r,
            Err(e) => {
                // Reported by the pack check above; its index entries are not held against it.
                tracing::debug!("unreadable record {pos}: {e}");
                unreadable.insert(pos);
                continue;
            }
        };
        report.n_blocks += 1;
        let cid = rec.cid;
        if let Err(e) = cid.verify(&rec.block) {
            report.problem(Some(cid), "corrupt-block", e.to_string());
            continue;
        }
        if cid.codec() != Codec::DagCbor {
            continue;
        }
        let change = match Change::decode(&cid, &rec.block) {
            Ok(c) => c,
            Err(e) => {
                report.problem(Some(cid), "undecodable", e.to_string());
                continue;
            }
        };
        report.n_changes += 1;
        pending.push((pos, cid, rec.block, change));
        if pending.len() >= VERIFY_BATCH {
            verify(&mut pending, &mut report, &mut checked);
        }
    }
    verify(&mut pending, &mut report, &mut checked);
    // doc -> position -> (height, cid), and the seqs, for the index checks.
    let mut by_doc: BTreeMap<DocId, BTreeMap<Pos, (u64, Cid)>> = BTreeMap::new();
    let mut seqs: BTreeMap<(DocId, [u8; 32], u64), Pos> = BTreeMap::new();
    let mut max_seq: BTreeMap<(DocId, [u8; 32]), u64> = BTreeMap::new();
    let mut good: Vec<(u64, EncodedChange)> = Vec::with_capacity(checked.len());
    for (pos, enc) in checked {
        let change = &enc.change;
        let doc = change.doc.unwrap_or(DocId(enc.cid));
        by_doc
            .entry(doc)
            .or_default()
            .insert(pos, (change.height, enc.cid));
        if !change.is_genesis() {
            seqs.insert((doc, change.author.0, change.seq), pos);
        }
        let m = max_seq.entry((doc, change.author.0)).or_default();
        *m = (*m).max(change.seq);
        good.push((change.height, enc));
    }
    check_indexes(store, &mut report, &by_doc, &seqs, &max_seq, &unreadable)?;
    let docs: Vec<DocId> = by_doc.keys().copied().collect();
    report.n_docs = docs.len();
    for doc in &docs {
        let heads = writer.graph.heads_with_height(*doc)?;
        let mut seen = BTreeSet::new();
        let mut cut = false;
        let mut stack: Vec<Cid> = heads.into_iter().map(|(c, _)| c).collect();
        while let Some(cid) = stack.pop() {
            if !seen.insert(cid) {
                continue;
            }
            if damaged.contains(&cid) {
                cut = true;
                continue;
            }
            match writer.graph.change_meta(&cid) {
                Ok(Some(meta)) => stack.extend(meta.parents),
                Ok(None) | Err(_) => report.problem(
                    Some(cid),
                    "incomplete-ancestry",
                    format!("ancestor of a head of document {doc} is missing"),
                ),
            }
        }
        if !seen.contains(&doc.0) && !cut {
            report.problem(
                Some(doc.0),
                "incomplete-ancestry",
                "the heads do not reach the genesis".into(),
            );
        }
    }
    // Replay the verified changes into memory and compare the state.
    good.sort_by_key(|(height, enc)| (*height, enc.cid));
    let scratch = Writer::new(Store::memory(), None);
    for (_, enc) in good {
        let cid = enc.cid;
        match scratch.apply_one(enc, &[]) {
            Ok(()) => {}
            Err(e @ Error::Unauthorized { .. }) => {
                report.problem(Some(cid), "unauthorized", e.to_string())
            }
            Err(e @ Error::Equivocation { .. }) => {
                report.problem(Some(cid), "equivocation", e.to_string())
            }
            Err(e) => report.problem(Some(cid), "replay-failed", e.to_string()),
        }
    }
    for ks in keys::STATE {
        let ours: BTreeMap<Vec<u8>, Vec<u8>> =
            store.scan_prefix(ks, &[]).collect::<Result<_, _>>()?;
        let fresh: BTreeMap<Vec<u8>, Vec<u8>> = scratch
            .store
            .scan_prefix(ks, &[])
            .collect::<Result<_, _>>()?;
        if ours != fresh {
            let n_diff = ours
                .iter()
                .filter(|(k, v)| fresh.get(*k) != Some(v))
                .count()
                + fresh.keys().filter(|k| !ours.contains_key(*k)).count();
            report.problem(
                None,
                "state-mismatch",
                format!(
                    "{n_diff} {} entries differ from a replay of the DAG",
                    ks.name
                ),
            );
        }
    }
    // The lists and texts kept in memory, as commits left them, and as opening reads them
    // (the snapshot and the changes after it), against a replay.
    for (doc, _) in by_doc_ids(&scratch.store)? {
        let fresh = scratch.seq.get(&scratch.store, &doc)?;
        match writer.seq.get(store, &doc) {
            Ok(ours) if ours.same(&fresh) => {}
            Ok(_) => report.problem(
                Some(doc.0),
                "state-mismatch",
                "the lists and texts in memory differ from a replay of the DAG".into(),
            ),
            // Read from a damaged snapshot: reported below.
            Err(_) => {}
        }
        match crate::seqdoc::load(store, &doc) {
            Ok(stored) if stored.same(&fresh) => {}
            Ok(_) => report.problem(
                Some(doc.0),
                "state-mismatch",
                "the snapshot of the lists and texts and the changes after it differ from a \
                 replay of the DAG"
                    .into(),
            ),
            Err(e) => report.problem(Some(doc.0), "state-mismatch", e.to_string()),
        }
    }
    Ok(report)
}

/// The documents with list or text changes in `store`.
fn by_doc_ids(store: &Store) -> Result<BTreeMap<DocId, ()>, Error> {
    let mut docs = BTreeMap::new();
    for r in store.scan_prefix(keys::SEQ_CHANGES, &[]) {
        let (k, _) = r?;
        let doc = Cid::from_bytes(k.get(..weft_store::CID_LEN).unwrap_or_default())
            .map_err(|_| corrupt("seq_changes", "a damaged key"))?;
        docs.insert(DocId(doc), ());
    }
    Ok(docs)
}

/// Checks that the `heights`, `arrivals`, `seqs` and `author_seq` keyspaces list exactly the
/// changes of the log.
fn check_indexes(
    store: &Store,
    report: &mut FsckReport,
    by_doc: &BTreeMap<DocId, BTreeMap<Pos, (u64, Cid)>>,
    seqs: &BTreeMap<(DocId, [u8; 32], u64), Pos>,
    max_seq: &BTreeMap<(DocId, [u8; 32]), u64>,
    unreadable: &BTreeSet<Pos>,
) -> Result<(), Error> {
    let mut heights: BTreeMap<DocId, BTreeMap<Pos, u64>> = BTreeMap::new();
    for r in store.scan_prefix(keys::HEIGHTS, &[]) {
        let (k, v) = r?;
        let doc = Cid::from_bytes(k.get(..weft_store::CID_LEN).unwrap_or_default())
            .map_err(|_| corrupt("heights", "a damaged key"))?;
        let first =
            keys::parse_heights_key(&k).ok_or_else(|| corrupt("heights", "a damaged key"))?;
        let Some(entries) = keys::decode_heights(first, &v) else {
            report.problem(
                None,
                "index-mismatch",
                format!("a heights chunk of {doc} is damaged"),
            );
            continue;
        };
        for e in entries.into_iter().filter(|e| !unreadable.contains(&e.pos)) {
            if heights
                .entry(DocId(doc))
                .or_default()
                .insert(e.pos, e.height)
                .is_some()
            {
                report.problem(
                    None,
                    "index-mismatch",
                    format!("record {} is listed twice in heights", e.pos),
                );
            }
        }
    }
    let mut arrivals: BTreeMap<DocId, Vec<Pos>> = BTreeMap::new();
    for r in store.scan_prefix(keys::ARRIVALS, &[]) {
        let (k, v) = r?;
        let doc = Cid::from_bytes(k.get(..weft_store::CID_LEN).unwrap_or_default())
            .map_err(|_| corrupt("arrivals", "a damaged key"))?;
        match keys::decode_arrivals(&k, &v) {
            Some(p) => arrivals
                .entry(DocId(doc))
                .or_default()
                .extend(p.into_iter().filter(|p| !unreadable.contains(p))),
            None => report.problem(
                None,
                "index-mismatch",
                format!("an arrivals chunk of {doc} is damaged"),
            ),
        }
    }
    for (doc, changes) in by_doc {
        let listed = heights.remove(doc).unwrap_or_default();
        let want: BTreeMap<Pos, u64> = changes.iter().map(|(p, (h, _))| (*p, *h)).collect();
        if listed != want {
            let n = want
                .iter()
                .filter(|(p, h)| listed.get(p) != Some(h))
                .count()
                + listed.keys().filter(|p| !want.contains_key(p)).count();
            report.problem(
                Some(doc.0),
                "index-mismatch",
                format!("{n} change(s) of the document are missing from, or wrong in, heights"),
            );
        }
        let listed = arrivals.remove(doc).unwrap_or_default();
        let want: Vec<Pos> = changes.keys().copied().collect();
        if listed != want {
            report.problem(
                Some(doc.0),
                "index-mismatch",
                "the arrivals of the document do not list its changes in the order stored".into(),
            );
        }
    }
    let stray: BTreeSet<DocId> = heights.into_keys().chain(arrivals.into_keys()).collect();
    for doc in stray {
        report.problem(
            Some(doc.0),
            "index-mismatch",
            "the indexes list a document that has no change".into(),
        );
    }
    for ((doc, author, seq), pos) in seqs {
        let key = keys::seqs_key(doc, &crate::identity::Author(*author), *seq);
        let found = store
            .get(keys::SEQS, &key)?
            .and_then(|v| keys::find_seq(&v, *seq))
            .flatten();
        if found != Some(*pos) {
            report.problem(
                store.cid_at(*pos).ok(),
                "index-mismatch",
                format!("seq {seq} of its author is not indexed to it"),
            );
        }
    }
    for ((doc, author), seq) in max_seq {
        let key = keys::author_seq_key(doc, &crate::identity::Author(*author));
        let stored = store
            .get(keys::AUTHOR_SEQ, &key)?
            .and_then(|v| keys::decode_author_seq(&v));
        if stored != Some(*seq) {
            report.problem(
                Some(doc.0),
                "index-mismatch",
                format!(
                    "the highest seq of author {} is {seq}, but {stored:?} is stored",
                    crate::identity::Author(*author).short()
                ),
            );
        }
    }
    Ok(())
}
