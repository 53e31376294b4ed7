//! Live sync from the command line: `weft serve --peer/--interval/--debounce` (a
//! [`weft_live::live::Live`] whose peers are the remotes, with the same key pinning as `weft
//! sync`), `weft status` and `weft convergence`.

use std::{
    collections::{HashMap, HashSet},
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Result;
use serde::Serialize;
use weft_dag::{DocId, Identity, Repo};
use weft_live::{
    live::{LiveOptions, Peer, Peers},
    status::{self, Delays, DocStatus, Figures, RemoteStatus},
};
use weft_net::transport::{ConnectOptions, Synced};

use crate::{
    args::{NetArgs, ServeArgs},
    net::{self, PinSource},
    out::{plural, time_str, write_json, Output, UsageError},
};

/// Whether `weft serve` was asked to sync live, and how.
pub fn options(args: &ServeArgs) -> Result<Option<LiveOptions>> {
    if args.peer.is_empty() && args.interval.is_none() {
        if args.debounce.is_some() {
            return Err(
                UsageError("--debounce needs live sync: give --interval or --peer".into()).into(),
            );
        }
        return Ok(None);
    }
    let defaults = LiveOptions::default();
    Ok(Some(LiveOptions {
        interval: args.interval.unwrap_or(defaults.interval),
        debounce: args.debounce.unwrap_or(defaults.debounce),
        ..defaults
    }))
}

/// The peers of `weft serve`'s live sync: the `--peer` arguments, else every remote in
/// `.weft/remotes`, resolved again before every round. `tcp://` peers are reached with the
/// repo's key and must hold the key their URL or `.weft/known_peers` pins (remembered on first
/// use), exactly as `weft sync` does.
#[derive(Debug)]
pub struct CliPeers {
    weft_dir: PathBuf,
    /// Where relative paths given with `--peer` start.
    base: PathBuf,
    identity: Option<Identity>,
    connect: ConnectOptions,
    args: Vec<String>,
    /// Where each peer's pinned key came from, by peer name, for `after_sync`.
    pins: HashMap<String, Option<PinSource>>,
    /// Peers already warned about (a bad remote is reported once, not every round).
    warned: HashSet<String>,
}

impl CliPeers {
    /// Checks the `--peer` arguments now (an unknown remote name is exit 4, a bad URL exit 2).
    pub fn new(
        weft_dir: &Path,
        base: &Path,
        identity: Option<Identity>,
        net: &NetArgs,
        args: &[String],
    ) -> Result<CliPeers> {
        for a in args {
            net::resolve_named(weft_dir, base, Some(a))?;
        }
        Ok(CliPeers {
            weft_dir: weft_dir.to_path_buf(),
            base: base.to_path_buf(),
            identity,
            connect: net::connect_options(net)?,
            args: args.to_vec(),
            pins: HashMap::new(),
            warned: HashSet::new(),
        })
    }

    fn peer(&mut self, arg: &str) -> Result<Peer> {
        let (name, url, remote) = net::resolve_named(&self.weft_dir, &self.base, Some(arg))?;
        let mut connect = self.connect.clone();
        let pin = net::prepare_tcp(
            &remote,
            &self.weft_dir,
            self.identity.as_ref(),
            &mut connect,
        )?;
        let name = name.unwrap_or_else(|| url.clone());
        self.pins.insert(name.clone(), pin);
        Ok(Peer {
            name,
            url,
            remote,
            connect,
        })
    }
}

impl Peers for CliPeers {
    fn peers(&mut self) -> Result<Vec<Peer>, String> {
        let args = if self.args.is_empty() {
            net::load_remotes(&self.weft_dir)
                .map_err(|e| format!("{e:#}"))?
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        } else {
            self.args.clone()
        };
        let mut peers = Vec::new();
        for a in args {
            match self.peer(&a) {
                Ok(p) => {
                    self.warned.remove(&a);
                    peers.push(p);
                }
                Err(e) => {
                    if self.warned.insert(a.clone()) {
                        tracing::warn!("live sync: leaving out {a:?}: {e:#}");
                    }
                }
            }
        }
        Ok(peers)
    }

    fn after_sync(
        &mut self,
        peer: &Peer,
        result: Result<Synced, weft_sync::Error>,
    ) -> Result<Synced, String> {
        let pin = self.pins.get(&peer.name).copied().flatten();
        net::after_tcp(&peer.remote, &self.weft_dir, pin, result).map_err(|e| format!("{e:#}"))
    }
}

fn docs_of(repo: &Repo, only: Option<DocId>) -> Result<Vec<DocId>> {
    Ok(match only {
        Some(d) => vec![d],
        None => repo.doc_ids()?,
    })
}

/// `2 s ago`, `1h 3m ago`: an age rounded to what matters.
fn age(ms: u64) -> String {
    let d = if ms < 10_000 {
        Duration::from_millis(ms)
    } else {
        Duration::from_secs(ms / 1000)
    };
    format!("{} ago", humantime::format_duration(d))
}

/// `weft status --json`.
#[derive(Debug, Serialize)]
pub(crate) struct StatusOut {
    /// Ours (with `-d`, that one).
    docs: Vec<OurDoc>,
    /// Configured remotes first, in file order, then peers known only from their records.
    remotes: Vec<RemoteLine>,
}

/// One of our documents in `weft status --json`.
#[derive(Debug, Serialize)]
struct OurDoc {
    doc: String,
    name: Option<String>,
    heads: Vec<String>,
    /// Changes held.
    count: u64,
    /// This replica's key was revoked in it (see `Repo::is_revoked`).
    revoked: bool,
}

/// A remote in `weft status --json`; times are ms since the epoch, `None` when there was none.
#[derive(Debug, Serialize)]
struct RemoteLine {
    remote: String,
    url: String,
    /// Listed in `.weft/remotes`.
    configured: bool,
    last_attempt: Option<u64>,
    last_success: Option<u64>,
    last_success_age_ms: Option<u64>,
    /// The one-line error of the last attempt.
    last_error: Option<String>,
    /// The last attempt succeeded and every document is converged.
    converged: bool,
    docs: Vec<DocStatus>,
}

/// A remote as `weft status` shows it: name, URL, its recorded status (none if it never synced),
/// and whether `.weft/remotes` lists it.
type Remote = (String, String, Option<RemoteStatus>, bool);

/// The remotes `weft status` shows (`only`: with that document's status alone): configured
/// remotes first, in file order, then peers known only from their records.
fn remote_list(repo: &Repo, weft_dir: &Path, only: Option<DocId>) -> Result<Vec<Remote>> {
    let configured = net::load_remotes(weft_dir)?;
    let mut recorded: Vec<RemoteStatus> = status::remotes(repo)?;
    for r in &mut recorded {
        r.docs.retain(|d| only.is_none_or(|o| o == d.doc));
    }
    let mut remotes: Vec<Remote> = Vec::new();
    for (name, url) in &configured {
        let rec = recorded
            .iter()
            .position(|r| r.remote == *name)
            .map(|i| recorded.remove(i));
        remotes.push((name.clone(), url.clone(), rec, true));
    }
    for r in recorded {
        remotes.push((r.remote.clone(), r.url.clone(), Some(r), false));
    }
    Ok(remotes)
}

/// What `weft status --json` prints (also the history browser's `/api/status`).
pub(crate) fn status_out(repo: &Repo, weft_dir: &Path, only: Option<DocId>) -> Result<StatusOut> {
    let now = repo.now();
    let mut ours = Vec::new();
    for d in docs_of(repo, only)? {
        ours.push(OurDoc {
            doc: d.to_string(),
            name: repo.doc_name(d)?,
            heads: repo.heads(d)?.iter().map(ToString::to_string).collect(),
            count: repo.change_count(d)?,
            revoked: repo.is_revoked(d, &repo.author())?,
        });
    }
    let remotes = remote_list(repo, weft_dir, only)?
        .into_iter()
        .map(|(remote, url, rec, configured)| RemoteLine {
            remote,
            url,
            configured,
            last_attempt: rec.as_ref().map(|r| r.last_attempt),
            last_success: rec.as_ref().and_then(|r| r.last_success),
            last_success_age_ms: rec
                .as_ref()
                .and_then(|r| r.last_success)
                .map(|t| now.saturating_sub(t)),
            last_error: rec.as_ref().and_then(|r| r.last_error.clone()),
            converged: rec.as_ref().is_some_and(|r| r.converged),
            docs: rec.map_or_else(Vec::new, |r| r.docs),
        })
        .collect();
    Ok(StatusOut {
        docs: ours,
        remotes,
    })
}

/// `weft status`: per remote (configured or with a recorded sync), the last sync and how far
/// apart the replicas are; and this repo's heads per document (`-d`: that document only).
pub fn status(
    repo: &Repo,
    weft_dir: &Path,
    only: Option<DocId>,
    output: Output,
    out: &mut dyn Write,
) -> Result<()> {
    if output.json() {
        return write_json(out, &status_out(repo, weft_dir, only)?);
    }
    let now = repo.now();
    let docs = docs_of(repo, only)?;
    let remotes = remote_list(repo, weft_dir, only)?;
    for &d in &docs {
        let heads = repo.heads(d)?;
        let name = repo.doc_name(d)?.unwrap_or_else(|| d.to_string());
        write!(out, "{name}: {}", plural(heads.len() as u64, "head"))?;
        if repo.is_revoked(d, &repo.author())? {
            write!(
                out,
                " (this replica's key was revoked here: its new changes are refused)"
            )?;
        }
        writeln!(out)?;
        for h in heads {
            writeln!(out, "  {h}")?;
        }
    }
    if remotes.is_empty() {
        writeln!(out, "no remotes (see `weft remote add`)")?;
    }
    for (name, url, rec, _) in &remotes {
        if name == url {
            write!(out, "remote {name}: ")?;
        } else {
            write!(out, "remote {name} ({url}): ")?;
        }
        let Some(r) = rec else {
            writeln!(out, "never synced")?;
            continue;
        };
        match r.last_success {
            Some(t) => write!(
                out,
                "last synced {} ({})",
                time_str(t),
                age(now.saturating_sub(t))
            )?,
            None => write!(out, "never synced successfully")?,
        }
        writeln!(
            out,
            ", {}",
            if r.converged {
                "converged"
            } else {
                "not converged"
            }
        )?;
        if let Some(e) = &r.last_error {
            writeln!(
                out,
                "  last attempt failed ({}): {e}",
                age(now.saturating_sub(r.last_attempt))
            )?;
        }
        for d in &r.docs {
            let behind = d.behind.map_or_else(|| "?".to_string(), |b| b.to_string());
            writeln!(
                out,
                "  {}: heads in common {}/{}, ahead {}, behind {behind}, {}",
                d.name.clone().unwrap_or_else(|| d.doc.to_string()),
                d.common.iter().filter(|c| d.ours.contains(c)).count(),
                d.ours.len(),
                d.ahead,
                if d.converged {
                    "converged"
                } else {
                    "not converged"
                },
            )?;
        }
    }
    Ok(())
}

fn figures_line(out: &mut dyn Write, label: &str, f: &Figures) -> Result<()> {
    let ms = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| format!("{v} ms"));
    writeln!(
        out,
        "{label:<24} {:>7}  min {:>9}  median {:>9}  p99 {:>9}  max {:>9}",
        f.count,
        ms(f.min_ms),
        ms(f.median_ms),
        ms(f.p99_ms),
        ms(f.max_ms)
    )?;
    Ok(())
}

/// What `weft convergence --json` prints (also the history browser's `/api/convergence`): the
/// delays of the `n` most recent arrivals of each document (`only`: of that one).
pub(crate) fn delays(repo: &Repo, only: Option<DocId>, n: u64) -> Result<Delays> {
    let docs = docs_of(repo, only)?;
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    Ok(status::delays(repo, &docs, limit)?)
}

/// `weft convergence`: how long the `n` most recent arrivals of each document (`-d`: of that
/// one) took from their author to here.
pub fn convergence(
    repo: &Repo,
    only: Option<DocId>,
    n: u64,
    output: Output,
    out: &mut dyn Write,
) -> Result<()> {
    let d = delays(repo, only, n)?;
    if output.json() {
        return write_json(out, &serde_json::to_value(&d)?);
    }
    writeln!(
        out,
        "delay from the author's clock to arrival here, over the last {n} arrivals of each \
         document ({} written here, left out):",
        d.local
    )?;
    writeln!(out, "{:<24} {:>7}", "", "changes")?;
    figures_line(out, "all peers", &d.all)?;
    for s in &d.sources {
        figures_line(out, &format!("from {}", s.source), &s.figures)?;
    }
    for doc in &d.docs {
        let name = doc.name.clone().unwrap_or_else(|| doc.doc.to_string());
        figures_line(out, &format!("document {name}"), &doc.figures)?;
    }
    Ok(())
}
