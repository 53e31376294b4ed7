//! Sync status per named remote: what the last sync attempt with it found, and how far this
//! replica is now from what the remote held then.
//!
//! [`record`] keeps, per remote, the result of the last attempt (persisted in the sync layer's
//! keyspace `sync_peers` through [`weft_sync::peer`], which encodes the key); [`remote`] and
//! [`remotes`] turn it into a [`RemoteStatus`] against this replica's current heads. The
//! remote's side is a snapshot taken at the end of the last successful session, so a remote
//! that changed since is only seen to have moved at the next sync.
//!
//! # Record format
//! The value is DAG-CBOR:
//!
//! ```text
//! {"url": text, "attempt": int, "success": int | null, "error": text | null,
//!  "docs": [{"doc": link, "heads": [link], "count": int | null, "at": int, "past": [link]}]}
//! ```
//!
//! `attempt` and `success` are this replica's clock ([`Repo::now`], ms since the Unix epoch) at
//! the last attempt and the last successful one; `error` is the one-line error of the last
//! attempt (`null` if it succeeded). `docs` lists, per document synced, the remote's heads and
//! change count at the end of the last successful session that covered it (`count` is null from
//! peers that do not report it, or when the session needed no round trip) and when (`at`).
//! `past` holds earlier heads of the remote that are also here (those of the record before, if
//! they were all here, else at most 256 of them): a remote never loses changes, so they stay
//! common even when its current heads are not all here. A session that covers fewer documents
//! (`-d DOC`) replaces only their entries.
//!
//! # What is computed
//! Per document, with `theirs` the remote's recorded heads and `have` those of them present here:
//! - `common`: the heads (ours or theirs) present on both sides: their heads we have, and our
//!   heads that are among or below those (or below `past`);
//! - `ahead`: our changes not below `have` or `past` (`Repo::missing`), i.e. what the remote
//!   lacks;
//! - `behind`: their change count minus the changes we share (`our count - ahead`), at least 0:
//!   what we lack. Both figures are **exact when we hold all their heads**, which is always
//!   the case right after a two-way sync (and after a pull); otherwise `ahead` counts changes
//!   that may be below their heads we lack, and `behind` is an estimate (`None` when the
//!   remote reported no count);
//! - `converged`: our heads and theirs are the same set.

use std::{collections::BTreeMap, sync::Mutex};

use serde::{Deserialize, Serialize, Serializer};
use weft_dag::{Cid, DocId, Repo};
use weft_net::Synced;
use weft_sync::{peer, Error};

/// Serializes record updates in this process (a live sync and a `weft sync` run by the daemon
/// may finish at the same time; each read-modify-write must see the other's result).
static WRITING: Mutex<()> = Mutex::new(());

/// The persisted record of one remote (see the module docs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Record {
    url: String,
    attempt: u64,
    success: Option<u64>,
    error: Option<String>,
    docs: Vec<DocRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DocRecord {
    doc: Cid,
    heads: Vec<Cid>,
    count: Option<u64>,
    at: u64,
    #[serde(default)]
    past: Vec<Cid>,
}

/// At most this many earlier heads are kept per document.
const MAX_PAST: usize = 256;

/// The remote's earlier heads known to be here too, for a record that replaces `prev`.
fn past_of(repo: &Repo, prev: Option<&DocRecord>) -> Result<Vec<Cid>, Error> {
    let Some(prev) = prev else {
        return Ok(Vec::new());
    };
    let mut here = Vec::new();
    for h in &prev.heads {
        if repo.has_change(h)? {
            here.push(*h);
        }
    }
    if here.len() < prev.heads.len() {
        here.extend(prev.past.iter().copied());
        here.sort();
        here.dedup();
        here.truncate(MAX_PAST);
    }
    Ok(here)
}

fn load(repo: &Repo, remote: &str) -> Result<Option<Record>, Error> {
    let Some(bytes) = peer::load_status(repo, remote)? else {
        return Ok(None);
    };
    Ok(decode(remote, &bytes))
}

/// A damaged record is dropped (with a warning): status is informational, the next sync
/// writes a new one.
fn decode(remote: &str, bytes: &[u8]) -> Option<Record> {
    match serde_ipld_dagcbor::from_slice(bytes) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(remote, "ignoring a damaged sync status record: {e}");
            None
        }
    }
}

/// Records the result of a sync attempt with `remote` (a remote's name, or its URL when it has
/// none) at `url`: on success, the remote's heads and counts from [`Synced::outcome`]; on
/// failure, the error (its first line), keeping what the last success found.
pub fn record(
    repo: &Repo,
    remote: &str,
    url: &str,
    result: Result<&Synced, &str>,
) -> Result<(), Error> {
    if repo.is_read_only() {
        // The status is informational: a repo that cannot be written keeps none.
        return Ok(());
    }
    let _guard = weft_store::sync_util::lock(&WRITING);
    let now = repo.now();
    let mut rec = load(repo, remote)?.unwrap_or_default();
    rec.url = url.to_string();
    rec.attempt = now;
    match result {
        Ok(synced) => {
            rec.success = Some(now);
            rec.error = None;
            let mut docs: BTreeMap<Cid, DocRecord> =
                rec.docs.drain(..).map(|d| (d.doc, d)).collect();
            for o in &synced.outcome {
                let past = past_of(repo, docs.get(&o.doc.0))?;
                docs.insert(
                    o.doc.0,
                    DocRecord {
                        doc: o.doc.0,
                        heads: o.their_heads.clone(),
                        count: o.their_count,
                        at: now,
                        past,
                    },
                );
            }
            rec.docs = docs.into_values().collect();
        }
        Err(e) => rec.error = Some(one_line(e)),
    }
    let bytes = serde_ipld_dagcbor::to_vec(&rec).map_err(|e| Error::Io {
        peer: remote.to_string(),
        source: std::io::Error::other(format!("cannot encode the sync status: {e}")),
    })?;
    peer::save_status(repo, remote, &bytes)
}

/// Forgets what is recorded about `remote` (when the remote is removed); whether there was
/// anything.
pub fn forget(repo: &Repo, remote: &str) -> Result<bool, Error> {
    let _guard = weft_store::sync_util::lock(&WRITING);
    peer::forget_status(repo, remote)
}

fn one_line(s: &str) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        "unknown error".into()
    } else {
        line
    }
}

/// How this replica stands against one remote (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteStatus {
    /// The remote's name (or URL, for a peer without one).
    pub remote: String,
    /// Its URL at the last attempt.
    pub url: String,
    /// When the last attempt ended (ms since the Unix epoch, this replica's clock).
    pub last_attempt: u64,
    /// When the last successful sync ended; `None` if none ever did.
    pub last_success: Option<u64>,
    /// The error of the last attempt (one line); `None` if it succeeded.
    pub last_error: Option<String>,
    /// The last attempt succeeded and every document it covered is converged.
    pub converged: bool,
    /// Per document the remote shared in the last successful session.
    pub docs: Vec<DocStatus>,
}

/// How one document stands against a remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocStatus {
    /// The document.
    #[serde(serialize_with = "as_string")]
    pub doc: DocId,
    /// Its local name, if it has one.
    pub name: Option<String>,
    /// Our heads now.
    #[serde(serialize_with = "as_strings")]
    pub ours: Vec<Cid>,
    /// The remote's heads at the end of the last successful session.
    #[serde(serialize_with = "as_strings")]
    pub theirs: Vec<Cid>,
    /// Heads (ours or theirs) present on both sides.
    #[serde(serialize_with = "as_strings")]
    pub common: Vec<Cid>,
    /// Our changes the remote lacks.
    pub ahead: u64,
    /// Changes of the remote we lack (`None`: unknown, see the module docs).
    pub behind: Option<u64>,
    /// Our change count now.
    pub our_count: u64,
    /// The remote's change count then, if it reported one.
    pub their_count: Option<u64>,
    /// When the remote's side was recorded (ms since the Unix epoch).
    pub checked: u64,
    /// Our heads and theirs are the same set.
    pub converged: bool,
}

fn as_string<S: Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn as_strings<S: Serializer>(v: &[Cid], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(Cid::to_string))
}

fn doc_status(repo: &Repo, d: &DocRecord) -> Result<DocStatus, Error> {
    let doc = DocId(d.doc);
    let ours = repo.heads(doc)?;
    let mut theirs = d.heads.clone();
    theirs.sort();
    theirs.dedup();
    let mut have = Vec::new();
    for h in &theirs {
        if repo.node(h)?.is_some_and(|m| m.doc == doc) {
            have.push(*h);
        }
    }
    let mut base = have.clone();
    base.extend(d.past.iter().copied());
    let missing = repo.missing(doc, &base)?;
    let ahead = missing.len() as u64;
    let lacking: std::collections::HashSet<Cid> = missing.into_iter().map(|(_, c)| c).collect();
    let mut common = have.clone();
    common.extend(ours.iter().filter(|h| !lacking.contains(h)));
    common.sort();
    common.dedup();
    let our_count = repo.change_count(doc)?;
    let all_theirs = have.len() == theirs.len();
    let behind = match d.count {
        Some(n) => Some(n.saturating_sub(our_count.saturating_sub(ahead))),
        None if all_theirs => Some(0),
        None => None,
    };
    let mut sorted_ours = ours.clone();
    sorted_ours.sort();
    Ok(DocStatus {
        doc,
        name: repo.doc_name(doc)?,
        converged: sorted_ours == theirs,
        ours,
        theirs,
        common,
        ahead,
        behind,
        our_count,
        their_count: d.count,
        checked: d.at,
    })
}

fn status_of(repo: &Repo, remote: &str, rec: &Record) -> Result<RemoteStatus, Error> {
    let docs = rec
        .docs
        .iter()
        .map(|d| doc_status(repo, d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RemoteStatus {
        remote: remote.to_string(),
        url: rec.url.clone(),
        last_attempt: rec.attempt,
        last_success: rec.success,
        last_error: rec.error.clone(),
        converged: rec.error.is_none() && rec.success.is_some() && docs.iter().all(|d| d.converged),
        docs,
    })
}

/// The status against `remote`; `None` if no attempt was ever recorded.
pub fn remote(repo: &Repo, remote: &str) -> Result<Option<RemoteStatus>, Error> {
    match load(repo, remote)? {
        Some(rec) => Ok(Some(status_of(repo, remote, &rec)?)),
        None => Ok(None),
    }
}

/// The status against every remote with a recorded attempt, by name.
pub fn remotes(repo: &Repo) -> Result<Vec<RemoteStatus>, Error> {
    let mut out = Vec::new();
    for (name, v) in peer::statuses(repo)? {
        if let Some(rec) = decode(&name, &v) {
            out.push(status_of(repo, &name, &rec)?);
        }
    }
    Ok(out)
}

/// Min, median, 99th percentile and max of a set of delays (nearest rank; `None` when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// How many delays.
    pub count: u64,
    /// The smallest, in ms.
    pub min_ms: Option<u64>,
    /// The median (the lower one for an even count), in ms.
    pub median_ms: Option<u64>,
    /// The 99th percentile (nearest rank), in ms.
    pub p99_ms: Option<u64>,
    /// The largest, in ms.
    pub max_ms: Option<u64>,
}

impl Figures {
    /// The figures of `delays` (in ms, any order).
    pub fn of(delays: &[u64]) -> Figures {
        let mut v = delays.to_vec();
        v.sort_unstable();
        // Nearest rank: the smallest value with at least p of the values at or below it.
        let rank = |p: u64| -> Option<u64> {
            let n = v.len() as u64;
            let k = (p * n).div_ceil(100).max(1);
            v.get(usize::try_from(k - 1).ok()?).copied()
        };
        Figures {
            count: v.len() as u64,
            min_ms: v.first().copied(),
            median_ms: rank(50),
            p99_ms: rank(99),
            max_ms: v.last().copied(),
        }
    }
}

/// The delays of the changes one peer delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceDelays {
    /// Who delivered them (see [`weft_dag::Arrival::source`]).
    pub source: String,
    /// Their delays.
    #[serde(flatten)]
    pub figures: Figures,
}

/// The delays of one document's recent arrivals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocDelays {
    /// The document.
    #[serde(serialize_with = "as_string")]
    pub doc: DocId,
    /// Its local name, if it has one.
    pub name: Option<String>,
    /// Changes written here among the arrivals looked at (not in the figures).
    pub local: u64,
    /// The delays of the changes that came from elsewhere.
    #[serde(flatten)]
    pub figures: Figures,
}

/// How long changes took to get here: for the most recent arrivals of each document, the delay
/// from the author's timestamp to the moment this replica first stored the change
/// ([`weft_dag::Arrival::delay_ms`]; it includes any clock difference between the two
/// machines). Changes written here are counted apart and left out of the figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delays {
    /// Arrivals looked at per document (the most recent ones).
    pub limit: usize,
    /// Changes written here among them.
    pub local: u64,
    /// Over every document.
    #[serde(flatten)]
    pub all: Figures,
    /// Per delivering peer, over every document, by name.
    pub sources: Vec<SourceDelays>,
    /// Per document.
    pub docs: Vec<DocDelays>,
}

/// The delays of the `limit` most recent arrivals of each of `docs` (see [`Delays`]).
pub fn delays(repo: &Repo, docs: &[DocId], limit: usize) -> Result<Delays, Error> {
    let mut all = Vec::new();
    let mut by_source: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut per_doc = Vec::new();
    let mut local_total = 0;
    for &doc in docs {
        let mut local = 0;
        let mut here = Vec::new();
        for a in repo.arrivals(doc, limit)? {
            let delay = a.delay_ms();
            match a.source {
                None => local += 1,
                Some(s) => {
                    here.push(delay);
                    by_source.entry(s).or_default().push(delay);
                }
            }
        }
        local_total += local;
        all.extend_from_slice(&here);
        per_doc.push(DocDelays {
            doc,
            name: repo.doc_name(doc)?,
            local,
            figures: Figures::of(&here),
        });
    }
    Ok(Delays {
        limit,
        local: local_total,
        all: Figures::of(&all),
        sources: by_source
            .into_iter()
            .map(|(source, d)| SourceDelays {
                source,
                figures: Figures::of(&d),
            })
            .collect(),
        docs: per_doc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_use_the_nearest_rank() {
        assert_eq!(Figures::of(&[]), Figures::default());
        let f = Figures::of(&[5]);
        assert_eq!(
            (f.min_ms, f.median_ms, f.p99_ms, f.max_ms),
            (Some(5), Some(5), Some(5), Some(5))
        );
        let v: Vec<u64> = (1..=200).rev().collect();
        let f = Figures::of(&v);
        assert_eq!(f.count, 200);
        assert_eq!(
            (f.min_ms, f.median_ms, f.p99_ms, f.max_ms),
            (Some(1), Some(100), Some(198), Some(200))
        );
        let f = Figures::of(&[1, 2, 3, 4]);
        assert_eq!((f.median_ms, f.p99_ms), (Some(2), Some(4)));
    }

    #[test]
    fn errors_are_kept_on_one_line() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
        assert_eq!(one_line("\n"), "unknown error");
    }
}
