//! The long-running commands: `serve` (holds the repo for local commands, serves peers, runs
//! live sync) and `watch` (a JSON line per change applied).

use std::{io::Write, path::Path, sync::Arc, time::Duration};

use anyhow::{Context as _, Result};
use serde::Serialize;
use weft_dag::{Batch, Diff, DocId, ElementDiff, Filter, Repo, Value, WEFT_DIR};

use crate::{
    args::{ServeArgs, WatchArgs},
    ctx::Ctx,
    net,
    out::{write_json, Format},
    rev,
    stop::Stop,
};

/// `weft serve --json`: the readiness line.
#[derive(Debug, Serialize)]
pub(crate) struct Serving {
    /// The directory that holds the repo served.
    pub root: String,
}

/// `weft watch --ready`: the first line, once the subscription is in place.
#[derive(Debug, Serialize)]
pub(crate) struct Ready {
    pub ready: bool,
}

/// One line of `weft watch`: a change applied.
#[derive(Debug, Serialize)]
pub(crate) struct Watched {
    pub doc: String,
    /// `None` for an unnamed document.
    pub doc_name: Option<String>,
    /// The newest change of the batch (its last applied).
    pub cid: String,
    pub author: String,
    pub height: u64,
    /// That change's time: ms since the Unix epoch, as its author's clock said.
    pub time: u64,
    /// The keys the batch's changes wrote, in the order first written.
    pub keys: Vec<String>,
    /// Written here, not arrived from elsewhere.
    pub local: bool,
    /// Every change of the batch, in the order applied.
    pub changes: Vec<String>,
    /// What changed, per key.
    pub diffs: Vec<WatchedDiff>,
}

/// One key's change in a `watch` line, tagged by `kind`.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum WatchedDiff {
    Register {
        key: String,
        old: Option<serde_json::Value>,
        new: serde_json::Value,
        conflict: bool,
    },
    Counter {
        key: String,
        delta: i64,
        value: i64,
    },
    Set {
        key: String,
        added: Vec<serde_json::Value>,
        removed: Vec<serde_json::Value>,
    },
    List {
        key: String,
        inserted: Vec<WatchedElement>,
        removed: Vec<WatchedElement>,
        moved: Vec<WatchedElement>,
        updated: Vec<WatchedElement>,
    },
    Text {
        key: String,
        index: usize,
        deleted: usize,
        inserted: String,
    },
    Deleted {
        key: String,
        old: serde_json::Value,
    },
}

/// An element in a list's diff: its id, index and value.
#[derive(Debug, Serialize)]
pub(crate) struct WatchedElement {
    pub id: String,
    pub index: usize,
    pub value: serde_json::Value,
}

fn elements(list: &[ElementDiff]) -> Vec<WatchedElement> {
    list.iter()
        .map(|e| WatchedElement {
            id: e.id.to_string(),
            index: e.index,
            value: e.value.to_json(),
        })
        .collect()
}

impl Watched {
    /// The line for `batch` (which has at least one change).
    pub(crate) fn new(repo: &Repo, batch: &Batch) -> Result<Option<Watched>> {
        let Some(last) = batch.changes.last() else {
            return Ok(None);
        };
        let mut keys: Vec<String> = Vec::new();
        for k in batch.changes.iter().flat_map(|c| &c.keys) {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        let time = repo.change_meta(&last.cid)?.map_or(0, |m| m.time);
        Ok(Some(Watched {
            doc: batch.doc.to_string(),
            doc_name: repo.doc_name(batch.doc)?,
            cid: last.cid.to_string(),
            author: last.author.to_string(),
            height: last.height,
            time,
            keys,
            local: last.local,
            changes: batch.changes.iter().map(|c| c.cid.to_string()).collect(),
            diffs: watched_diffs(&batch.diffs),
        }))
    }
}

/// A batch's diffs as `watch` prints them.
fn watched_diffs(diffs: &[weft_dag::KeyDiff]) -> Vec<WatchedDiff> {
    let json = |v: &[Value]| v.iter().map(Value::to_json).collect();
    diffs
        .iter()
        .map(|d| {
            let key = d.key.clone();
            match &d.diff {
                Diff::Register { old, new, conflict } => WatchedDiff::Register {
                    key,
                    old: old.as_ref().map(Value::to_json),
                    new: new.to_json(),
                    conflict: *conflict,
                },
                Diff::Counter { delta, value } => WatchedDiff::Counter {
                    key,
                    delta: *delta,
                    value: *value,
                },
                Diff::Set { added, removed } => WatchedDiff::Set {
                    key,
                    added: json(added),
                    removed: json(removed),
                },
                Diff::List {
                    inserted,
                    removed,
                    moved,
                    updated,
                } => WatchedDiff::List {
                    key,
                    inserted: elements(inserted),
                    removed: elements(removed),
                    moved: elements(moved),
                    updated: elements(updated),
                },
                Diff::Text {
                    index,
                    deleted,
                    inserted,
                } => WatchedDiff::Text {
                    key,
                    index: *index,
                    deleted: *deleted,
                    inserted: inserted.clone(),
                },
                Diff::Deleted { old } => WatchedDiff::Deleted {
                    key,
                    old: old.to_json(),
                },
            }
        })
        .collect()
}

/// The `watch --since` lines: each change of `doc` after `since`, oldest first (parents before
/// children), touching a key under `prefix`; its diffs are the document's visible state as the
/// changes after `since` are replayed in that order, before and after it.
fn catch_up(
    repo: &Repo,
    doc: weft_dag::DocId,
    since: &[weft_dag::Cid],
    prefix: &str,
) -> Result<Vec<Watched>> {
    let mut lines = Vec::new();
    let missing = repo.missing(doc, since)?;
    if missing.is_empty() {
        return Ok(lines);
    }
    let mut heads: std::collections::BTreeSet<weft_dag::Cid> = since.iter().copied().collect();
    let mut before = repo.at(doc, &heads.iter().copied().collect::<Vec<_>>())?;
    let doc_name = repo.doc_name(doc)?;
    for (height, cid) in missing {
        let change = repo.change(&cid)?;
        for p in &change.parents {
            heads.remove(p);
        }
        heads.insert(cid);
        let after = repo.at(doc, &heads.iter().copied().collect::<Vec<_>>())?;
        let mut keys: Vec<String> = Vec::new();
        for k in change.keys() {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        if !prefix.is_empty() && !keys.iter().any(|k| k.starts_with(prefix)) {
            before = after;
            continue;
        }
        let mut diffs = Vec::new();
        let (b, a) = (before.state(), after.state());
        let mut sorted: Vec<&String> = keys.iter().filter(|k| k.starts_with(prefix)).collect();
        sorted.sort();
        for k in sorted {
            if let Some(diff) = weft_dag::entry_diff(k, b.entry(k)?.as_ref(), a.entry(k)?.as_ref())
            {
                diffs.push(weft_dag::KeyDiff {
                    key: k.clone(),
                    diff,
                });
            }
        }
        lines.push(Watched {
            doc: doc.to_string(),
            doc_name: doc_name.clone(),
            cid: cid.to_string(),
            author: change.author.to_string(),
            height,
            time: change.time,
            keys,
            local: change.author == repo.author(),
            changes: vec![cid.to_string()],
            diffs: watched_diffs(&diffs),
        });
        before = after;
    }
    Ok(lines)
}

impl Ctx<'_> {
    /// `weft serve`: serves `repo` (open in this process) until SIGINT/SIGTERM/SIGHUP or, when
    /// stdin is a pipe, its EOF; then removes the socket and returns.
    ///
    /// `stop` must already be wired to the signals, so that no signal can end the process
    /// between the socket's creation and the wait (which would leave the socket file behind).
    pub fn serve(
        &self,
        repo: Arc<Repo>,
        args: &ServeArgs,
        stop: Arc<Stop>,
        out: &mut dyn Write,
    ) -> Result<()> {
        let root = repo
            .root()
            .map(Path::to_path_buf)
            .context("internal error: serving a repo that is not on disk")?;
        // Live sync (`--peer`, `--interval`): its arguments are checked before anything starts.
        let live = match crate::live::options(args)? {
            Some(opts) => Some((
                opts,
                crate::live::CliPeers::new(
                    &root.join(WEFT_DIR),
                    &self.start_dir()?,
                    self.signing_identity(&root)?,
                    &args.net,
                    &args.peer,
                )?,
            )),
            None => None,
        };
        // Local commands: whoever holds the repo serves it (see daemon.rs). A repo that cannot
        // be written is held by nobody: every process opens it to read, side by side.
        let daemon = if repo.is_read_only() {
            None
        } else {
            Some(crate::daemon::Daemon::start(
                Arc::clone(&repo),
                &root.join(WEFT_DIR),
            )?)
        };

        // Network sync, sharing `repo` with the daemon. With `--stdio`, stdin and stdout carry
        // one session and nothing else is printed; the server ends with it.
        if args.stdio {
            let result = net::serve_stdio(&repo, &args.net);
            drop(daemon);
            return result;
        }
        if let Some(addr) = &args.listen {
            net::serve_listen(
                Arc::clone(&repo),
                addr,
                &args.net,
                &args.allow,
                self.signing_identity(&root)?.as_ref(),
                self.output(),
                out,
            )?;
        }
        // Syncs in the background until the server stops (dropping it ends its thread).
        let live = match live {
            Some((opts, peers)) => Some(
                weft_live::live::Live::start(Arc::clone(&repo), peers, opts)
                    .context("cannot start live sync")?,
            ),
            None => None,
        };

        // A supervisor that holds a pipe to our stdin stops us by closing it. A terminal or
        // /dev/null is left alone: reading a terminal from the background would suspend us
        // (SIGTTIN), and a script's `weft serve &` gets /dev/null, which must not end it at once.
        if stdin_is_pipe() {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("weft-serve-stdin".into())
                .spawn(move || {
                    let mut sink = std::io::sink();
                    // Ends at EOF or on a read error; either way the server stops, and says
                    // why (`true | weft serve` would otherwise end at once, silently).
                    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut sink);
                    if !stop.is_set() {
                        let _ = writeln!(std::io::stderr(), "{STDIN_CLOSED}");
                    }
                    stop.trigger();
                })
                .context("cannot start a thread")?;
        }

        // The readiness line: once it is out, other weft commands on this repo run here.
        match self.format {
            Format::Json => write_json(
                out,
                &Serving {
                    root: root.display().to_string(),
                },
            )?,
            Format::Human => writeln!(out, "serving {}", root.display())?,
        }
        out.flush()?;
        stop.wait();
        drop(live);
        drop(daemon);
        Ok(())
    }

    /// `weft watch`: one JSON line per batch applied to `repo` from now on (per document: a
    /// commit, or a group of imported changes), until `--count` lines were printed, stdout is
    /// closed, or the stop flag is set.
    pub(crate) fn watch(&self, repo: &Repo, out: &mut dyn Write, args: &WatchArgs) -> Result<()> {
        let mut filter = Filter::all();
        // `-d DOC`: that document only (default: every document).
        if let Some(doc) = &self.cli.doc {
            filter = filter.doc(repo.doc(doc)?);
        }
        if let Some(prefix) = args.prefix.as_deref().filter(|p| !p.is_empty()) {
            filter = filter.prefix(prefix);
        }
        let batches = repo.subscribe_filtered(filter);
        let mut printed = 0u64;
        // `--since`: the changes after the point first (those that land meanwhile are in the
        // subscription already, and not printed twice).
        let mut seen = std::collections::HashSet::<weft_dag::Cid>::new();
        if let Some(since) = &args.since {
            let doc = match &self.cli.doc {
                Some(d) => repo.doc(d)?,
                None => match since
                    .split([',', '~'])
                    .next()
                    .filter(|w| rev::looks_like_cid(w))
                {
                    Some(w) => {
                        let cid = rev::cid(repo, w)?;
                        repo.change_meta(&cid)?.map_or(DocId(cid), |m| m.doc)
                    }
                    None => repo.doc(weft_dag::DEFAULT_DOC)?,
                },
            };
            let point = rev::point(repo, doc, since)?;
            for line in catch_up(repo, doc, &point, args.prefix.as_deref().unwrap_or(""))? {
                if args.count.is_some_and(|n| printed >= n) {
                    return Ok(());
                }
                seen.insert(line.cid.parse()?);
                write_json(out, &line)?;
                out.flush()?;
                printed += 1;
            }
            for (_, cid) in repo.missing(doc, &point)? {
                seen.insert(cid);
            }
        }
        if args.ready {
            write_json(out, &Ready { ready: true })?;
            out.flush()?;
        }
        while args.count.is_none_or(|n| printed < n) && !self.stopped() {
            // The subscription cannot be woken by the stop flag, so poll it.
            let Some(mut batch) = batches.next_timeout(Duration::from_millis(100)) else {
                continue;
            };
            if !seen.is_empty() {
                let n = batch.changes.len();
                batch.changes.retain(|c| !seen.contains(&c.cid));
                if batch.changes.is_empty() {
                    continue;
                }
                if batch.changes.len() < n {
                    // Part of it was printed: the diffs would repeat that part.
                    batch.diffs.clear();
                }
            }
            let Some(line) = Watched::new(repo, &batch)? else {
                continue;
            };
            write_json(out, &line)?;
            out.flush()?;
            printed += 1;
        }
        match self.stop.as_ref().and_then(|s| s.error()) {
            Some(msg) => Err(anyhow::anyhow!(msg)),
            None => Ok(()),
        }
    }
}

/// What `serve` says when it stops because its piped stdin closed.
pub(crate) const STDIN_CLOSED: &str = "weft: serve: stdin closed, stopping (with a pipe as stdin, \
     `weft serve` runs until it closes; `weft serve --stdio` is the one that serves a sync session \
     on stdin/stdout)";

/// Whether stdin is a pipe or a socket (so that its EOF means "stop").
fn stdin_is_pipe() -> bool {
    #[cfg(unix)]
    {
        use std::os::{fd::AsFd as _, unix::fs::FileTypeExt as _};
        let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
            return false;
        };
        std::fs::File::from(fd).metadata().is_ok_and(|m| {
            let t = m.file_type();
            t.is_fifo() || t.is_socket()
        })
    }
    #[cfg(not(unix))]
    {
        use std::io::IsTerminal as _;
        !std::io::stdin().is_terminal()
    }
}
