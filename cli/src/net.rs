//! The sync commands: `clone`, `remote`, `pull`, `push`, `sync`, `serve --stdio|--listen`,
//! `bundle`. The protocol lives in `weft-sync`, the transports in `weft-net`, the sync status in
//! `weft-live`; this module parses, prints and picks exit codes, and keeps the keys of `tcp://`
//! servers (`.weft/known_peers`).

use std::{
    fs,
    io::{IsTerminal as _, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context as _, Result};
use serde::Serialize;
use weft_dag::{Author, ErrorKind, Identity, Options, Repo, KEY_FILE, WEFT_DIR};
use weft_net::{
    server::{self, ServeOptions},
    transport::{self, ConnectOptions, Remote, Synced},
};
use weft_sync::{Access, Direction, Endpoint, Stats, SyncOptions};

use crate::{
    args::{NetArgs, RemoteCommand},
    out::{plural, write_json, NetworkError, Output, UsageError},
};

/// The file that lists remotes: one `NAME URL` line each.
pub const REMOTES_FILE: &str = "remotes";

/// The remote a clone remembers its source as.
pub const ORIGIN: &str = "origin";

fn remotes_path(weft_dir: &Path) -> PathBuf {
    weft_dir.join(REMOTES_FILE)
}

/// The remotes of a repo, in file order.
pub fn load_remotes(weft_dir: &Path) -> Result<Vec<(String, String)>> {
    let path = remotes_path(weft_dir);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let (n, u) = l.trim().split_once(' ')?;
            Some((n.to_string(), u.trim().to_string()))
        })
        .collect())
}

pub(crate) fn save_remotes(weft_dir: &Path, remotes: &[(String, String)]) -> Result<()> {
    let path = remotes_path(weft_dir);
    let tmp = weft_dir.join(format!("{REMOTES_FILE}.tmp"));
    let text: String = remotes.iter().map(|(n, u)| format!("{n} {u}\n")).collect();
    fs::write(&tmp, text)
        .and_then(|()| fs::rename(&tmp, &path))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn check_remote_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if !ok {
        return Err(UsageError(format!(
            "invalid remote name {name:?}: use letters, digits, '-', '_' and '.'"
        ))
        .into());
    }
    Ok(())
}

/// Parses a URL, reporting a bad one as a usage error (exit 2).
pub fn parse_url(url: &str) -> Result<Remote> {
    Remote::parse(url).map_err(|e| {
        let advice = if url.starts_with("tcp://") {
            " (`weft serve --listen` prints the URL to use: tcp://KEY@HOST:PORT)"
        } else if url.starts_with("iroh://") {
            " (`weft serve --iroh` prints the URL to use: iroh://KEY?addr=IP:PORT&relay=URL)"
        } else {
            ""
        };
        UsageError(format!("{e}{advice}")).into()
    })
}

/// An unknown remote name (exit 4).
#[derive(Debug, thiserror::Error)]
#[error("unknown remote {0:?} (see `weft remote ls`, or give a URL)")]
pub struct UnknownRemote(pub String);

impl UnknownRemote {
    /// Always [`ErrorKind::NotFound`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::NotFound
    }
}

/// `weft remote add|ls|rm`.
pub fn remote(
    weft_dir: &Path,
    cmd: &RemoteCommand,
    output: Output,
    out: &mut dyn Write,
) -> Result<()> {
    let mut remotes = load_remotes(weft_dir)?;
    match cmd {
        RemoteCommand::Add { name, url } => {
            check_remote_name(name)?;
            parse_url(url)?;
            if remotes.iter().any(|(n, _)| n == name) {
                return Err(UsageError(format!("remote {name:?} already exists")).into());
            }
            remotes.push((name.clone(), url.clone()));
            save_remotes(weft_dir, &remotes)?;
        }
        RemoteCommand::Rm { name } => {
            let before = remotes.len();
            remotes.retain(|(n, _)| n != name);
            if remotes.len() == before {
                return Err(UnknownRemote(name.clone()).into());
            }
            save_remotes(weft_dir, &remotes)?;
        }
        RemoteCommand::Ls => {
            if output.json() {
                let v: Vec<_> = remotes
                    .iter()
                    .map(|(name, url)| RemoteOut { name, url })
                    .collect();
                write_json(out, &v)?;
            } else {
                for (n, u) in &remotes {
                    writeln!(out, "{n}\t{u}")?;
                }
            }
        }
    }
    Ok(())
}

/// Resolves `pull`/`push`/`sync`'s argument: a remote name, else a URL or path; none means
/// `origin`.
/// A relative path given on the command line is taken from `base` (the caller's directory); one
/// stored under a remote name, from the repo's root (so it means the same from any directory).
/// Returns the remote's name when the argument named one (`None` for a URL or path given as
/// such), its URL, and where it is.
pub fn resolve_named(
    weft_dir: &Path,
    base: &Path,
    arg: Option<&str>,
) -> Result<(Option<String>, String, Remote)> {
    let remotes = load_remotes(weft_dir)?;
    let name = arg.unwrap_or(ORIGIN);
    let root = weft_dir.parent().unwrap_or(weft_dir);
    let (named, url, remote, base) = match remotes.iter().find(|(n, _)| n == name) {
        Some((n, url)) => (Some(n.clone()), url.clone(), parse_url(url)?, root),
        None => {
            // A remote name has no ':', so `host:path` (scp-like) is a URL too.
            let looks_like_url = name.contains("://")
                || name.contains('/')
                || name.contains(':')
                || name.starts_with('.')
                || base.join(name).join(WEFT_DIR).exists();
            if arg.is_none() || !looks_like_url {
                return Err(UnknownRemote(name.to_string()).into());
            }
            (None, name.to_string(), parse_url(name)?, base)
        }
    };
    Ok(match remote {
        Remote::Path(p) => (named, url, Remote::Path(base.join(p))),
        other => (named, url, other),
    })
}

/// A path remote that is no repo fails here, saying so: the `weft serve --stdio` it would run
/// there would only say "not a weft repo" and advise `weft init`, which is the wrong advice.
fn check_path_remote(remote: &Remote) -> Result<(), weft_sync::Error> {
    let Remote::Path(p) = remote else {
        return Ok(());
    };
    let reason = if !p.exists() {
        "it does not exist"
    } else if !p.join(WEFT_DIR).is_dir() {
        "it is not a weft repo (it has no .weft directory)"
    } else {
        return Ok(());
    };
    Err(weft_sync::Error::Unreachable {
        peer: p.display().to_string(),
        reason: reason.to_string(),
    })
}

/// The file of `tcp://` servers' keys: one `host:port KEY` line each, written on the first
/// successful sync with a server (trust on first use) and checked on every later one.
pub const KNOWN_PEERS_FILE: &str = "known_peers";

/// The keys of `tcp://` servers this repo has synced with, in file order.
pub fn load_known_peers(weft_dir: &Path) -> Result<Vec<(String, Author)>> {
    let path = weft_dir.join(KNOWN_PEERS_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut peers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // A line that does not parse could be the pin of the server at hand: never skip one.
        let parsed = line
            .split_once(' ')
            .and_then(|(addr, key)| Some((addr.to_string(), key.trim().parse::<Author>().ok()?)));
        match parsed {
            Some(p) => peers.push(p),
            None => anyhow::bail!(
                "{} line {}: expected `host:port KEY` (64 hex digits); fix or remove it",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(peers)
}

/// Records that the server at `addr` holds `key`, replacing what was known for `addr`.
pub(crate) fn remember_peer(weft_dir: &Path, addr: &str, key: Author) -> Result<()> {
    let mut peers = load_known_peers(weft_dir)?;
    if peers.iter().any(|(a, k)| a == addr && *k == key) {
        return Ok(());
    }
    peers.retain(|(a, _)| a != addr);
    peers.push((addr.to_string(), key));
    let path = weft_dir.join(KNOWN_PEERS_FILE);
    let text: String = peers.iter().map(|(a, k)| format!("{a} {k}\n")).collect();
    // Through a file of its own, so that concurrent syncs never see half a file.
    let write = || -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(weft_dir)?;
        tmp.write_all(text.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

/// A `tcp://` server's key did not match the one pinned for it: exit 10.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PeerKeyMismatch(pub String);

impl PeerKeyMismatch {
    /// Always [`ErrorKind::Denied`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Denied
    }
}

/// Where the key a `tcp://` server must hold came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinSource {
    /// `tcp://KEY@host:port`.
    Url,
    /// `.weft/known_peers`.
    KnownPeers,
}

/// The key a `tcp://` or `iroh://` client authenticates with: `--identity`, else the repo's
/// `.weft/key`.
pub(crate) fn client_identity(identity: Option<&Identity>, weft_dir: &Path) -> Result<Identity> {
    if let Some(id) = identity {
        return Ok(id.clone());
    }
    let key = weft_dir.join(KEY_FILE);
    if !key.exists() {
        return Err(UsageError(format!(
            "authenticating over tcp:// or iroh:// needs a key, and {} does not exist: give \
             --identity FILE",
            key.display()
        ))
        .into());
    }
    Ok(Identity::load(&key)?)
}

/// Sets up `copts` to authenticate to `remote` if it is a `tcp://` or `iroh://` server: our
/// key, and the key it must hold (from its URL, else from `.weft/known_peers`; an `iroh://` URL
/// always names it). Returns where that came from.
pub(crate) fn prepare_tcp(
    remote: &Remote,
    weft_dir: &Path,
    identity: Option<&Identity>,
    copts: &mut ConnectOptions,
) -> Result<Option<PinSource>> {
    let key = match remote {
        Remote::Tcp { key, .. } => key,
        Remote::Iroh { .. } => {
            copts.identity = Some(client_identity(identity, weft_dir)?);
            return Ok(Some(PinSource::Url));
        }
        _ => return Ok(None),
    };
    copts.identity = Some(client_identity(identity, weft_dir)?);
    if key.is_some() {
        return Ok(Some(PinSource::Url));
    }
    let addr = remote.tcp_addr().unwrap_or_default();
    copts.expected_key = load_known_peers(weft_dir)?
        .into_iter()
        .find(|(a, _)| *a == addr)
        .map(|(_, k)| k);
    Ok(copts.expected_key.map(|_| PinSource::KnownPeers))
}

/// After a sync with `remote`: remembers the key a `tcp://` server proved it holds, or turns a
/// key mismatch into one line that says how to fix it.
pub(crate) fn after_tcp(
    remote: &Remote,
    weft_dir: &Path,
    pin: Option<PinSource>,
    result: Result<Synced, weft_sync::Error>,
) -> Result<Synced> {
    match result {
        Ok(synced) => {
            if let (Some(addr), Some(key)) = (remote.tcp_addr(), synced.peer_key) {
                remember_peer(weft_dir, &addr, key)?;
            }
            Ok(synced)
        }
        Err(weft_sync::Error::WrongPeerKey {
            addr,
            expected,
            presented,
        }) => {
            let host_port = remote.tcp_addr().unwrap_or_default();
            let (pinned, fix) = match pin {
                Some(PinSource::KnownPeers) => (
                    format!("{}/{KNOWN_PEERS_FILE} has key {expected} for it", WEFT_DIR),
                    format!(
                        "remove the line for {host_port} from {WEFT_DIR}/{KNOWN_PEERS_FILE}, or \
                         pin the new key with tcp://{presented}@{host_port}"
                    ),
                ),
                _ => (
                    format!("the URL pins key {expected}"),
                    format!("use tcp://{presented}@{host_port}"),
                ),
            };
            Err(PeerKeyMismatch(format!(
                "{addr} presented key {presented}, but {pinned}: the server's key changed, or \
                 someone is intercepting the connection (if the new key is right, {fix})"
            ))
            .into())
        }
        Err(e) => Err(e.into()),
    }
}

/// How to reach peers, from the environment.
pub fn connect_options(net: &NetArgs) -> Result<ConnectOptions> {
    let ssh = match std::env::var("WEFT_SSH") {
        Ok(s) if !s.trim().is_empty() => s.split_whitespace().map(str::to_string).collect(),
        _ => vec!["ssh".to_string()],
    };
    Ok(ConnectOptions {
        local_program: std::env::current_exe().context("cannot find the weft executable")?,
        ssh,
        remote_program: match net.remote_weft.trim() {
            "" => return Err(UsageError("--remote-weft is empty".into()).into()),
            w => w.to_string(),
        },
        timeout: timeout(net)?,
        relays: net.relay.clone(),
        ..ConnectOptions::default()
    })
}

fn timeout(net: &NetArgs) -> Result<Duration> {
    if net.timeout == 0 {
        return Err(UsageError("--timeout must be at least 1 second".into()).into());
    }
    Ok(Duration::from_secs(net.timeout))
}

/// A progress bar on stderr for long transfers, only when stderr is a terminal.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(crate) fn new(enabled: bool) -> Progress {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::hidden();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} {bar:30} {pos}/{len} changes ({per_sec})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message("receiving");
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar
        });
        Progress { bar }
    }

    pub(crate) fn update(&self, session: &dyn Endpoint) {
        if let Some(bar) = &self.bar {
            let s = session.stats();
            bar.set_length(session.expected_in().max(s.changes_in));
            bar.set_position(s.changes_in);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `weft pull|push|sync|clone --json`: what a session moved.
#[derive(Debug, Serialize)]
struct SessionOut<'a> {
    /// The remote's URL.
    remote: &'a str,
    round_trips: u32,
    bytes_in: u64,
    bytes_out: u64,
    changes_in: u64,
    changes_out: u64,
    /// Changes received that this side already had.
    redundant_in: u64,
    redundant_out: u64,
    docs: u32,
    /// `clone` only: the directory of the new repo.
    #[serde(skip_serializing_if = "Option::is_none")]
    root: Option<String>,
    /// The documents where this replica's key is revoked (`pull`, `push`, `sync`; left out when
    /// there is none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    revoked: Vec<RevokedOut>,
}

/// A document where this replica's key was revoked.
#[derive(Debug, Serialize)]
struct RevokedOut {
    doc: String,
    name: Option<String>,
}

impl SessionOut<'_> {
    fn new<'a>(url: &'a str, s: &Stats) -> SessionOut<'a> {
        SessionOut {
            remote: url,
            round_trips: s.round_trips,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            changes_in: s.changes_in,
            changes_out: s.changes_out,
            redundant_in: s.redundant_in,
            redundant_out: s.redundant_out,
            docs: s.docs,
            root: None,
            revoked: Vec::new(),
        }
    }
}

/// The documents (of `docs`, else all) where the key `repo` signs with is revoked, as lines
/// for stderr and as `--json` entries.
fn revoked_docs(repo: &Repo, docs: Option<&[String]>) -> Result<(Vec<String>, Vec<RevokedOut>)> {
    let me = repo.author();
    let ids = match docs {
        Some(names) => names
            .iter()
            .filter_map(|n| repo.doc(n).ok())
            .collect::<Vec<_>>(),
        None => repo.doc_ids()?,
    };
    let (mut lines, mut out) = (Vec::new(), Vec::new());
    for doc in ids {
        if !repo.is_revoked(doc, &me)? {
            continue;
        }
        let name = repo.doc_name(doc)?;
        let shown = name
            .as_ref()
            .map_or_else(|| doc.to_string(), |n| format!("{n:?} ({doc})"));
        lines.push(format!(
            "weft: this replica's key {me} was revoked in document {shown}: its changes there \
             that the revoke did not see no longer count, and new ones are refused (an admin \
             can grant the key again)"
        ));
        out.push(RevokedOut {
            doc: doc.to_string(),
            name,
        });
    }
    Ok((lines, out))
}

/// A configured remote, as `weft remote ls --json` lists it.
#[derive(Debug, Serialize)]
struct RemoteOut<'a> {
    name: &'a str,
    url: &'a str,
}

/// `weft serve --listen|--iroh --json`: the address to share.
#[derive(Debug, Serialize)]
struct Listening {
    /// `tcp://KEY@ADDR`, or `iroh://KEY?addr=...`.
    url: String,
    /// The repo's key.
    key: String,
}

fn print_session(
    out: &mut dyn Write,
    verb: &str,
    url: &str,
    s: &Stats,
    output: Output,
    revoked: Vec<RevokedOut>,
) -> Result<()> {
    if output.json() {
        let mut session = SessionOut::new(url, s);
        session.revoked = revoked;
        write_json(out, &session)?;
    } else if !output.quiet {
        writeln!(
            out,
            "{verb} {url}: {} in, {} out, {} ({} B in, {} B out)",
            plural(s.changes_in - s.redundant_in, "change"),
            plural(s.changes_out - s.redundant_out, "change"),
            plural(u64::from(s.round_trips), "round trip"),
            s.bytes_in,
            s.bytes_out,
        )?;
    }
    Ok(())
}

/// What `pull`, `push` and `sync` share.
#[derive(Debug)]
pub struct SyncCall<'a> {
    /// The remote argument.
    pub remote: Option<&'a str>,
    /// `-d` if given.
    pub docs: Option<Vec<String>>,
    /// Which way.
    pub direction: Direction,
    /// Network options.
    pub net: &'a NetArgs,
    /// `--json` and `--quiet`.
    pub output: Output,
    /// `--identity`: the key to authenticate with to `tcp://` servers (default: `.weft/key`).
    pub identity: Option<Identity>,
}

/// `weft pull|push|sync`. Returns the lines for stderr: one per document where this replica's
/// key is revoked.
pub fn sync(
    repo: &Repo,
    weft_dir: &Path,
    base: &Path,
    call: &SyncCall<'_>,
    out: &mut dyn Write,
) -> Result<Vec<String>> {
    let (name, url, remote) = resolve_named(weft_dir, base, call.remote)?;
    let mut copts = connect_options(call.net)?;
    // What arrives is recorded as delivered by the remote's name (by its URL if it has none).
    copts.source = Some(name.clone().unwrap_or_else(|| url.clone()));
    let pin = prepare_tcp(&remote, weft_dir, call.identity.as_ref(), &mut copts)?;
    let progress = Progress::new(!call.output.json() && !call.output.quiet);
    let stats = check_path_remote(&remote).and_then(|()| {
        transport::sync(
            repo,
            &remote,
            &copts,
            SyncOptions {
                direction: call.direction,
                docs: call.docs.clone(),
            },
            &mut |s| progress.update(s),
        )
    });
    progress.finish();
    let synced = after_tcp(&remote, weft_dir, pin, stats);
    // A named remote's status (`weft status`) follows every attempt.
    if let Some(name) = &name {
        let outcome = synced.as_ref().map_err(|e| format!("{e:#}"));
        let outcome = outcome.as_ref().map(|s| *s).map_err(String::as_str);
        weft_live::status::record(repo, name, &url, outcome)?;
    }
    let synced = synced?;
    let stats = synced.stats;
    let verb = match call.direction {
        Direction::Pull => "pulled from",
        Direction::Push => "pushed to",
        Direction::Both => "synced with",
    };
    let (mut notes, revoked) = revoked_docs(repo, call.docs.as_deref())?;
    // Without -d, a tcp:// server is offered only the documents it lists for this key: say which
    // of ours were left out, and why, instead of skipping them silently.
    if matches!(remote, Remote::Tcp { .. } | Remote::Iroh { .. })
        && call.docs.is_none()
        && call.direction != Direction::Pull
    {
        for doc in repo.doc_ids()? {
            if synced.outcome.iter().any(|o| o.doc == doc) {
                continue;
            }
            let shown = repo
                .doc_name(doc)?
                .map_or_else(|| doc.to_string(), |n| format!("{n:?} ({doc})"));
            notes.push(format!(
                "weft: document {shown} was not pushed: the server does not list it for this \
                 key (it serves only documents where the key holds a role, and takes new \
                 documents only from its own key); `-d` pushes it and shows the server's answer"
            ));
        }
    }
    print_session(out, verb, &url, &stats, call.output, revoked)?;
    Ok(notes)
}

/// What `weft clone` is asked to do.
#[derive(Debug)]
pub struct CloneCall<'a> {
    /// The remote's URL or path.
    pub url: &'a str,
    /// Where to clone to (default: named after the remote).
    pub dir: Option<&'a Path>,
    /// The directory relative paths start from.
    pub start: &'a Path,
    /// Options of the new repo (its key, if `--identity` names one).
    pub options: Options,
    /// The key file `--identity` names, which the new repo records as the one it signs with.
    pub identity_path: Option<PathBuf>,
    /// `-d` if given.
    pub docs: Option<Vec<String>>,
    /// Network options.
    pub net: &'a NetArgs,
    /// `--json` and `--quiet`.
    pub output: Output,
}

/// `weft clone URL [DIR]`: a new repo with the remote's documents, `origin` set to URL.
pub fn clone(call: CloneCall<'_>, out: &mut dyn Write) -> Result<()> {
    let CloneCall {
        url,
        dir,
        start,
        options,
        identity_path,
        docs,
        net,
        output,
    } = call;
    let remote = match parse_url(url)? {
        Remote::Path(p) => Remote::Path(start.join(p)),
        other => other,
    };
    check_path_remote(&remote)?;
    let dir = match dir {
        Some(d) => start.join(d),
        None => start.join(default_clone_dir(&remote)?),
    };
    if dir.join(WEFT_DIR).exists() {
        return Err(weft_dag::open::Error::AlreadyExists { path: dir }.into());
    }
    let created_dir = !dir.exists();
    let mut copts = connect_options(net)?;
    let reopen = Options {
        identity: options.identity.clone(),
        ..Options::default()
    };
    // Without --identity the clone has a key of its own: the one an earlier attempt that the
    // server refused kept for it (so that the key the owner granted since is the one used),
    // else a new one.
    let pending = dir.join(PENDING_KEY_FILE);
    let own_key = match &options.identity {
        Some(_) => None,
        None if pending.exists() => Some(Identity::load(&pending)?),
        None => Some(Identity::generate()),
    };
    let mut options = options;
    if let Some(id) = &own_key {
        options.identity = Some(id.clone());
    }
    let result = (|| -> Result<Stats> {
        let identity = options.identity.clone();
        let repo = Repo::init_empty(&dir, options)?;
        let weft_dir = dir.join(WEFT_DIR);
        if let Some(key) = &identity_path {
            crate::ctx::remember_identity(&weft_dir, key)?;
        }
        if let Some(id) = &own_key {
            id.save(&weft_dir.join(KEY_FILE))?;
        }
        // Over TCP the clone authenticates with its own new key (or --identity's).
        let pin = prepare_tcp(&remote, &weft_dir, identity.as_ref(), &mut copts)?;
        copts.source = Some(ORIGIN.to_string());
        // A path is remembered absolute: `url` is relative to where clone ran, not to the clone.
        let origin = match &remote {
            Remote::Path(p) => p.display().to_string(),
            _ => url.to_string(),
        };
        save_remotes(&weft_dir, &[(ORIGIN.to_string(), origin.clone())])?;
        let progress = Progress::new(!output.json() && !output.quiet);
        let stats = transport::sync(
            &repo,
            &remote,
            &copts,
            SyncOptions {
                direction: Direction::Pull,
                docs,
            },
            &mut |s| progress.update(s),
        );
        progress.finish();
        let synced = after_tcp(&remote, &weft_dir, pin, stats)?;
        weft_live::status::record(&repo, ORIGIN, &origin, Ok(&synced))?;
        repo.flush()?;
        let stats = synced.stats;
        // sled writes its page-table snapshot only when it opens a database, so the first
        // open after a big import replays the whole log (a third of a second for 100,000
        // changes). Pay that here, once, rather than in the first command after the clone.
        drop(repo);
        drop(Repo::open(&dir, reopen)?);
        Ok(stats)
    })();
    match result {
        Ok(stats) => {
            // The key a refused attempt kept is now the repo's `.weft/key`.
            let _ = fs::remove_file(&pending);
            if output.json() {
                let synced = SessionOut {
                    root: Some(dir.display().to_string()),
                    ..SessionOut::new(url, &stats)
                };
                write_json(out, &synced)?;
            } else if !output.quiet {
                writeln!(
                    out,
                    "cloned {url} into {}: {} in {} ({} B)",
                    dir.display(),
                    plural(stats.changes_in, "change"),
                    plural(u64::from(stats.round_trips), "round trip"),
                    stats.bytes_in
                )?;
            }
            Ok(())
        }
        Err(e) => {
            // A failed clone leaves nothing behind, except the new key a server refused: the
            // user asks for it to be granted, and the next attempt must use it.
            let refused = e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<weft_sync::Error>(),
                    Some(weft_sync::Error::Refused { .. })
                )
            });
            let keep = match &own_key {
                Some(id) if refused => Some(id),
                _ => None,
            };
            let _ = fs::remove_dir_all(dir.join(WEFT_DIR));
            match keep {
                None => {
                    // (A key kept by an earlier refused attempt stays for the next one.)
                    if created_dir {
                        let _ = fs::remove_dir_all(&dir);
                    }
                    Err(e)
                }
                Some(id) => {
                    if !pending.exists() {
                        id.save(&pending)?;
                    }
                    let again = match dir.strip_prefix(start) {
                        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
                        _ => dir.display().to_string(),
                    };
                    // The refusal names the key and how to grant it; this says where it is
                    // kept (the refusal's own text is then not repeated, see `error_line`).
                    let text = format!(
                        "{e}; the clone's key is kept in {}, and `weft clone {url} {again}` \
                         uses it again once it is granted",
                        pending.display()
                    );
                    Err(e.context(text))
                }
            }
        }
    }
}

/// Where a `tcp://` clone that the server refused keeps its new key (inside the directory it
/// was to clone into), for the next attempt to use.
pub(crate) const PENDING_KEY_FILE: &str = ".weft-clone-key";

fn default_clone_dir(remote: &Remote) -> Result<PathBuf> {
    let name = match remote {
        Remote::Path(p) => p
            .canonicalize()
            .unwrap_or_else(|_| p.clone())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        Remote::Ssh { path, .. } => path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .map(str::to_string),
        Remote::Tcp { host, .. } => Some(host.clone()),
        Remote::Iroh(url) => Some(url.key.short()),
    };
    match name {
        Some(n) if !n.is_empty() && n != "." && n != ".." => Ok(PathBuf::from(n)),
        _ => Err(UsageError("cannot derive a directory name from the URL; give DIR".into()).into()),
    }
}

/// Our stdout as a file of its own, for a thread to write to: `std::io::stdout()` would wait
/// for the lock the main thread holds on it for the whole run (see `main`).
pub(crate) fn raw_stdout() -> Result<Box<dyn Write + Send>> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        let fd = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context("cannot duplicate stdout")?;
        Ok(Box::new(fs::File::from(fd)))
    }
    #[cfg(not(unix))]
    {
        Ok(Box::new(std::io::stdout()))
    }
}

/// `weft serve --stdio`: one session on stdin/stdout.
pub fn serve_stdio(repo: &Repo, net: &NetArgs) -> Result<()> {
    let timeout = timeout(net)?;
    let stdin = transport::TimeoutReader::new(std::io::stdin(), timeout);
    // Whoever can run `weft serve --stdio` on this repo (locally, or through ssh) has it all.
    // The changes the peer pushes are recorded as delivered over ssh, or by a local process.
    let ssh = ["SSH_CONNECTION", "SSH_CLIENT"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    // A client that stops reading is dropped after the timeout too.
    let stdout = transport::TimeoutWriter::new(raw_stdout()?, timeout);
    server::serve_stream(
        repo,
        stdin,
        stdout,
        "stdio",
        if ssh { "ssh" } else { "local" },
        timeout,
        &Access::trusted(),
    )?;
    Ok(())
}

/// `weft serve --listen ADDR`: binds, prints the pinnable URL `tcp://KEY@ADDR`, and serves on a
/// background thread, authenticating as the repo's key (`identity`, else `.weft/key`). Clients
/// read the documents where they hold a role, or everything if their key is in `allow`.
pub fn serve_listen(
    repo: Arc<Repo>,
    addr: &str,
    net: &NetArgs,
    allow: &[Author],
    identity: Option<&Identity>,
    output: Output,
    out: &mut dyn Write,
) -> Result<()> {
    let timeout = timeout(net)?;
    let weft_dir = repo
        .root()
        .context("internal error: serving a repo that is not on disk")?
        .join(WEFT_DIR);
    let identity = client_identity(identity, &weft_dir)?;
    // An address that does not parse or resolve is bad usage; one that is taken (or not this
    // machine's, or not ours to bind) is the network's.
    let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .map_err(|e| UsageError(format!("cannot listen on {addr}: {e}")))?
        .collect();
    let listener = TcpListener::bind(&addrs[..])
        .map_err(|e| NetworkError(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    let key = identity.author();
    weft_store::sync_util::lock(&LISTENING).push((local, key));
    if output.json() {
        write_json(
            out,
            &Listening {
                url: format!("tcp://{key}@{local}"),
                key: key.to_string(),
            },
        )?;
    } else {
        writeln!(out, "listening on tcp://{key}@{local}")?;
    }
    out.flush()?;
    let opts = ServeOptions {
        timeout,
        allow: allow.to_vec(),
        ..ServeOptions::default()
    };
    std::thread::Builder::new()
        .name("weft-listen".into())
        .spawn(move || server::serve_tcp(repo, listener, identity, opts))?;
    Ok(())
}

/// The addresses this process serves `tcp://` on, with the key it proves (what `weft invite`
/// puts in a ticket).
static LISTENING: std::sync::Mutex<Vec<(std::net::SocketAddr, Author)>> =
    std::sync::Mutex::new(Vec::new());

/// The `iroh://` URLs this process serves on (what `weft invite` puts in a ticket beside the
/// `tcp://` ones).
static LISTENING_IROH: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The URLs `weft serve --iroh` serves on in this process.
pub(crate) fn listening_iroh() -> Vec<String> {
    weft_store::sync_util::lock(&LISTENING_IROH).clone()
}

/// The addresses `weft serve --listen` listens on in this process, with the server's key.
pub(crate) fn listening() -> Vec<(std::net::SocketAddr, Author)> {
    weft_store::sync_util::lock(&LISTENING).clone()
}

/// `weft serve --iroh`: binds an iroh endpoint whose key is the repo's (`identity`, else
/// `.weft/key`), prints the URL to share (`listening on iroh://KEY?addr=...&relay=...`) and
/// serves until the returned server is dropped. Clients read the documents where they hold a
/// role, or everything if their key is in `allow`.
pub fn serve_iroh(
    repo: Arc<Repo>,
    bind: Option<&str>,
    net: &NetArgs,
    allow: &[Author],
    identity: Option<&Identity>,
    output: Output,
    out: &mut dyn Write,
) -> Result<weft_net::iroh::IrohServer> {
    let timeout = timeout(net)?;
    let weft_dir = repo
        .root()
        .context("internal error: serving a repo that is not on disk")?
        .join(WEFT_DIR);
    let identity = client_identity(identity, &weft_dir)?;
    let bind = bind
        .map(|a| {
            a.parse::<std::net::SocketAddr>().map_err(|_| {
                UsageError(format!(
                    "--iroh-bind {a:?} is not an IP:PORT address (e.g. 0.0.0.0:7451, or port 0)"
                ))
            })
        })
        .transpose()?;
    let key = identity.author();
    let opts = weft_net::iroh::IrohOptions {
        serve: ServeOptions {
            timeout,
            allow: allow.to_vec(),
            ..ServeOptions::default()
        },
        relays: net.relay.clone(),
        bind,
    };
    let server = weft_net::iroh::IrohServer::start(repo, identity, opts)
        .map_err(|e| NetworkError(format!("cannot serve over iroh: {e}")))?;
    let url = server.url().to_string();
    weft_store::sync_util::lock(&LISTENING_IROH).push(url.clone());
    if output.json() {
        write_json(
            out,
            &Listening {
                url,
                key: key.to_string(),
            },
        )?;
    } else {
        writeln!(out, "listening on {url}")?;
    }
    out.flush()?;
    Ok(server)
}

/// `weft bundle create`.
pub fn bundle_create(
    repo: &Repo,
    docs: &[weft_dag::DocId],
    since: &[weft_dag::Cid],
    file: &Path,
    output: Output,
    out: &mut dyn Write,
) -> Result<()> {
    // The library leaves out what is below `since` and ignores CIDs it does not know; on the
    // command line such a CID is a mistake (a typo, the wrong repo), not a full bundle.
    for cid in since {
        if !repo.has_change(cid)? {
            return Err(
                anyhow::Error::new(weft_dag::Error::UnknownCid { cid: *cid })
                    .context("--since names a change this repo does not have"),
            );
        }
    }
    let tmp = file.with_extension("car.partial");
    let result = (|| -> Result<weft_sync::bundle::BundleStats> {
        let f =
            fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(f);
        let stats = weft_sync::bundle::create(repo, docs, since, &mut w)?;
        w.flush()
            .and_then(|()| w.get_ref().sync_all())
            .and_then(|()| fs::rename(&tmp, file))
            .with_context(|| format!("cannot write {}", file.display()))?;
        Ok(stats)
    })();
    let stats = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if output.json() {
        write_json(out, &serde_json::to_value(&stats)?)?;
    } else if !output.quiet {
        writeln!(
            out,
            "wrote {} ({}, {} B)",
            file.display(),
            plural(stats.changes, "change"),
            stats.bytes
        )?;
    }
    Ok(())
}

/// `weft bundle apply`.
pub fn bundle_apply(repo: &Repo, file: &Path, output: Output, out: &mut dyn Write) -> Result<()> {
    let f = fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let stats = weft_sync::bundle::apply(
        repo,
        std::io::BufReader::new(f),
        &file.display().to_string(),
    )?;
    if output.json() {
        write_json(out, &serde_json::to_value(&stats)?)?;
    } else if !output.quiet {
        writeln!(
            out,
            "applied {}: {} new, {} already here",
            file.display(),
            plural(stats.applied, "change"),
            stats.duplicates
        )?;
    }
    Ok(())
}
