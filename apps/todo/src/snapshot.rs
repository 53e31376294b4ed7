//! What the UI draws: an immutable [`Snapshot`] of the board, its history, its people and the
//! sync status, made on the worker thread and handed to the UI whole.

use std::collections::BTreeMap;

use weft_dag::{Author, Cid, DocId, Member, Repo, StoredChange};
use weft_live::status::RemoteStatus;

use crate::board::{self, Board};

/// One change of the board's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The change.
    pub cid: Cid,
    /// Its author.
    pub author: Author,
    /// Its time, ms since the Unix epoch, by its author's clock.
    pub time: u64,
    /// What it did, in words.
    pub summary: String,
}

/// The board as it was after the first `at` changes of the history (oldest first).
#[derive(Debug, Clone, PartialEq)]
pub struct Past {
    /// How many changes, oldest first.
    pub at: usize,
    /// The board then.
    pub board: Board,
}

/// Sync with one peer, as live sync last recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerStatus {
    /// The peer's name (its URL).
    pub name: String,
    /// Both hold the same heads of every shared document.
    pub converged: bool,
    /// Changes the peer has that this device lacks, when known.
    pub behind: Option<u64>,
    /// Changes this device has that the peer lacks.
    pub ahead: u64,
    /// The last successful sync, ms since the Unix epoch.
    pub last_sync: Option<u64>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

impl PeerStatus {
    /// From live sync's record.
    pub fn from_record(r: &RemoteStatus) -> PeerStatus {
        let behind = r
            .docs
            .iter()
            .map(|d| d.behind)
            .try_fold(0u64, |acc, b| b.map(|b| acc + b));
        PeerStatus {
            name: r.remote.clone(),
            converged: r.converged,
            behind,
            ahead: r.docs.iter().map(|d| d.ahead).sum(),
            last_sync: r.last_success,
            last_error: r.last_error.clone(),
        }
    }
}

/// Everything the UI shows, as of one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// This device's key.
    pub me: Option<Author>,
    /// The URL peers reach this device at.
    pub url: Option<String>,
    /// The board's document, once there is one.
    pub doc: Option<DocId>,
    /// The board now (`None` until one is made or arrives).
    pub board: Option<Board>,
    /// Items and lists a peer changed last, and who: what the UI marks.
    pub marks: BTreeMap<String, Author>,
    /// The board's changes, newest first (at most [`HISTORY_SHOWN`]).
    pub history: Vec<HistoryEntry>,
    /// How many changes the board has.
    pub n_changes: usize,
    /// The board at a point of its history, when the user looks back.
    pub past: Option<Past>,
    /// The board's members and their roles.
    pub members: Vec<Member>,
    /// The peers, and how sync with each went.
    pub peers: Vec<PeerStatus>,
    /// The peers' URLs, as configured.
    pub peer_urls: Vec<String>,
    /// The ticket of the last invite issued here, to give the device that joins.
    pub ticket: Option<String>,
    /// How many commands the worker has handled (the UI knows which of its edits are in).
    pub handled: u64,
    /// The last command's error, in one line.
    pub error: Option<String>,
}

/// How many changes the history panel lists.
pub const HISTORY_SHOWN: usize = 300;

/// The title of item `id`, quoted, or a short form of its id.
fn item_words(board: &Board, id: &str) -> String {
    match board.item(id) {
        Some((_, item)) => format!("\u{201c}{}\u{201d}", item.title),
        None => match board.list(id) {
            Some(list) => format!("list \u{201c}{}\u{201d}", list.name),
            None => format!("a deleted item ({})", &id[..id.len().min(6)]),
        },
    }
}

/// What `change` did, in words, naming items as `board` has them now.
pub fn summary(board: &Board, change: &StoredChange) -> String {
    let keys = change.change.keys();
    if keys.is_empty() {
        return if change.change.parents.is_empty() {
            "made the board".into()
        } else {
            "changed who may edit".into()
        };
    }
    let mut words: Vec<String> = Vec::new();
    for key in &keys {
        let w = if key == board::LISTS {
            "changed the lists".to_string()
        } else if key.starts_with("people/") {
            "set a name".to_string()
        } else if let Some(id) = board::subject_of(key) {
            let what = item_words(board, id);
            if key.ends_with("/title") {
                format!("edited {what}")
            } else if key.ends_with("/done") {
                format!("ticked {what}")
            } else if key.ends_with("/name") {
                format!("named {what}")
            } else {
                format!("added, moved or deleted in {what}")
            }
        } else {
            format!("set {key}")
        };
        if !words.contains(&w) {
            words.push(w);
        }
    }
    words.truncate(3);
    words.join(", ")
}

/// The heads of the first `n` changes of `log` (oldest first, parents before children).
pub fn heads_of_prefix(log: &[(Cid, Vec<Cid>)], n: usize) -> Vec<Cid> {
    let prefix = &log[..n.min(log.len())];
    let parents: std::collections::HashSet<&Cid> =
        prefix.iter().flat_map(|(_, p)| p.iter()).collect();
    prefix
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| !parents.contains(c))
        .collect()
}

/// The board's history: entries newest first (at most [`HISTORY_SHOWN`]), and every change's
/// parents, oldest first.
#[allow(clippy::type_complexity)]
pub fn history(
    repo: &Repo,
    doc: DocId,
    board: &Board,
) -> Result<(Vec<HistoryEntry>, Vec<(Cid, Vec<Cid>)>), weft_dag::Error> {
    let mut entries = Vec::new();
    let mut log = Vec::new();
    for change in repo.log(doc) {
        let change = change?;
        if entries.len() < HISTORY_SHOWN {
            entries.push(HistoryEntry {
                cid: change.cid,
                author: change.change.author,
                time: change.change.time,
                summary: summary(board, &change),
            });
        }
        log.push((change.cid, change.change.parents));
    }
    log.reverse();
    Ok((entries, log))
}
