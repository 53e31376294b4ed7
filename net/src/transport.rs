//! Transports: how a byte stream to a peer is opened, and the URLs that name peers.
//!
//! | URL | Link |
//! |---|---|
//! | `/path/to/repo`, `./repo`, `file:///path` | a local `weft serve --stdio PATH` child process |
//! | `ssh://[user@]host[:port]/path` | `ssh [-p port] [user@]host "weft serve --stdio 'path'"`, as git does; `WEFT_SSH` replaces `ssh`, [`ConnectOptions::remote_program`] `weft` |
//! | `[user@]host:path` (scp-like, as git: no `/` before the first `:`) | the same, `path` relative to the login's home directory |
//!
//! As in git, `ssh://host/~/path` and `ssh://host/~user/path` name a path under a home
//! directory (the far side's shell expands the `~`), and so do `host:~/path` and `host:path`.
//! | `tcp://[KEY@]host:port` | a TCP connection to `weft serve --listen`, secured by [`crate::noise`]; `KEY` (64 hex digits) pins the server's author key |
//! | `iroh://KEY[?addr=IP:PORT&relay=URL]` | a QUIC connection to `weft serve --iroh` through [`crate::iroh`]: direct, hole-punched or relayed; `KEY` is the server's author key, which is its iroh endpoint id |
//!
//! Every link has a silence timeout: a peer that sends nothing for that long is dropped, during
//! the secure handshake too, and so is one that reads nothing of what we write for that long
//! ([`TimeoutWriter`] for child processes and stdio, the socket's write timeout for TCP).

use std::{
    collections::HashMap,
    fmt,
    io::{self, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{self, Receiver},
        Arc, Mutex,
    },
    thread,
    time::Duration,
};

use weft_dag::{Author, Identity, Repo};

use weft_sync::{run, DocOutcome, Endpoint, Error, Initiator, Stats, SyncOptions};

pub use crate::timeout::{TimeoutReader, TimeoutWriter, DEFAULT_TIMEOUT};
use crate::{
    iroh::{IrohClient, IrohUrl, Relays},
    noise,
};

/// A peer, as named by a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// Another repo on this machine.
    Path(PathBuf),
    /// A repo reached through ssh.
    Ssh {
        /// Login name.
        user: Option<String>,
        /// Host name.
        host: String,
        /// Port.
        port: Option<u16>,
        /// Path of the repo on the host.
        path: String,
    },
    /// A `weft serve --listen` daemon.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
        /// The author key the server must prove it holds (`tcp://KEY@host:port`).
        key: Option<Author>,
    },
    /// A `weft serve --iroh` endpoint: its key, addresses and relays (see [`crate::iroh`]).
    Iroh(IrohUrl),
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Path(p) => write!(f, "{}", p.display()),
            Remote::Ssh {
                user,
                host,
                port,
                path,
            } => {
                let scp_like = !path.starts_with('/') && !path.starts_with('~') && port.is_none();
                if !scp_like {
                    write!(f, "ssh://")?;
                }
                if let Some(u) = user {
                    write!(f, "{u}@")?;
                }
                write!(f, "{host}")?;
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                match path {
                    // A path relative to the home directory: `[user@]host:path`.
                    _ if scp_like => write!(f, ":{path}"),
                    // `~/path` or `~user/path`, as git writes them: `ssh://host/~/path`.
                    _ if path.starts_with('~') => write!(f, "/{path}"),
                    _ => write!(f, "{path}"),
                }
            }
            Remote::Tcp { key, .. } => {
                write!(f, "tcp://")?;
                if let Some(k) = key {
                    write!(f, "{k}@")?;
                }
                write!(f, "{}", self.tcp_addr().unwrap_or_default())
            }
            Remote::Iroh(url) => write!(f, "{url}"),
        }
    }
}

fn bad(url: &str, reason: impl Into<String>) -> Error {
    Error::BadUrl {
        url: url.to_string(),
        reason: reason.into(),
    }
}

fn split_host_port<'a>(url: &str, hp: &'a str) -> Result<(&'a str, Option<u16>), Error> {
    // [v6]:port, host:port, host
    if let Some(rest) = hp.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad(url, "unclosed '[' in the host"))?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(parse_port(url, p)?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(bad(url, "junk after the host")),
        };
    }
    match hp.rsplit_once(':') {
        Some((h, p)) => Ok((h, Some(parse_port(url, p)?))),
        None => Ok((hp, None)),
    }
}

fn parse_port(url: &str, p: &str) -> Result<u16, Error> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad(url, format!("{p:?} is not a port number"))),
        Ok(n) => Ok(n),
    }
}

impl Remote {
    /// A TCP remote's `host:port` (`[v6]:port` for an IPv6 address), the name its key is
    /// remembered under; `None` for other remotes.
    pub fn tcp_addr(&self) -> Option<String> {
        match self {
            Remote::Tcp { host, port, .. } if host.contains(':') => {
                Some(format!("[{host}]:{port}"))
            }
            Remote::Tcp { host, port, .. } => Some(format!("{host}:{port}")),
            _ => None,
        }
    }

    /// A URL without a scheme: git's scp-like `[user@]host:path` when a `:` comes before any
    /// `/` (so `./a:b` or `/x/a:b` stays a path), else a local path.
    fn parse_scp_like(url: &str) -> Result<Remote, Error> {
        let Some((authority, path)) = url.split_once(':') else {
            return Ok(Remote::Path(PathBuf::from(url)));
        };
        if authority.contains('/') || authority.is_empty() {
            return Ok(Remote::Path(PathBuf::from(url)));
        }
        let (user, host) = match authority.rsplit_once('@') {
            Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
            Some(_) => return Err(bad(url, "empty user name")),
            None => (None, authority),
        };
        if host.is_empty() || host.starts_with('-') || host.contains('[') {
            return Err(bad(url, "no usable host"));
        }
        if path.is_empty() {
            return Err(bad(url, "no path ([user@]host:path)"));
        }
        Ok(Remote::Ssh {
            user,
            host: host.to_string(),
            port: None,
            path: path.to_string(),
        })
    }

    /// Parses a URL or path.
    pub fn parse(url: &str) -> Result<Remote, Error> {
        if url.is_empty() {
            return Err(bad(url, "empty"));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Remote::parse_scp_like(url);
        };
        match scheme {
            "file" => {
                if rest.is_empty() {
                    return Err(bad(url, "no path"));
                }
                Ok(Remote::Path(PathBuf::from(rest)))
            }
            "tcp" => {
                let hp = rest.strip_suffix('/').unwrap_or(rest);
                if hp.contains('/') {
                    return Err(bad(url, "a tcp:// URL has no path"));
                }
                let (key, hp) = match hp.split_once('@') {
                    Some((k, hp)) => {
                        let key = (k.len() == 64)
                            .then(|| k.parse::<Author>().ok())
                            .flatten()
                            .ok_or_else(|| {
                                bad(
                                    url,
                                    "the key before '@' must be the server's key, 64 hex digits",
                                )
                            })?;
                        (Some(key), hp)
                    }
                    None => (None, hp),
                };
                let (host, port) = split_host_port(url, hp)?;
                let port = port.ok_or_else(|| bad(url, "tcp:// needs a port (tcp://host:port)"))?;
                if host.is_empty() {
                    return Err(bad(url, "no host"));
                }
                Ok(Remote::Tcp {
                    host: host.to_string(),
                    port,
                    key,
                })
            }
            "ssh" => {
                let (authority, path) = match rest.find('/') {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => return Err(bad(url, "no path (ssh://host/path)")),
                };
                let (user, hp) = match authority.rsplit_once('@') {
                    Some((u, hp)) if !u.is_empty() => (Some(u.to_string()), hp),
                    Some(_) => return Err(bad(url, "empty user name")),
                    None => (None, authority),
                };
                let (host, port) = split_host_port(url, hp)?;
                if host.is_empty() || host.starts_with('-') {
                    return Err(bad(url, "no usable host"));
                }
                if path.len() < 2 {
                    return Err(bad(url, "no path (ssh://host/path)"));
                }
                // As git: `/~/path` and `/~user/path` are under a home directory.
                let path = if path.starts_with("/~") {
                    &path[1..]
                } else {
                    path
                };
                Ok(Remote::Ssh {
                    user,
                    host: host.to_string(),
                    port,
                    path: path.to_string(),
                })
            }
            "iroh" => IrohUrl::parse(url, rest).map(Remote::Iroh),
            other => Err(bad(
                url,
                format!("unknown scheme {other:?} (use a path, ssh://, tcp:// or iroh://)"),
            )),
        }
    }
}

/// How links are opened.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The weft program run for a local path (usually the running executable).
    pub local_program: PathBuf,
    /// The ssh command and its arguments (`WEFT_SSH`, default `ssh`).
    pub ssh: Vec<String>,
    /// The weft program on the far side of ssh.
    pub remote_program: String,
    /// Silence timeout.
    pub timeout: Duration,
    /// The key a `tcp://` client authenticates with (usually the repo's own). `None`: a
    /// throwaway key, which a server serves only what it lets everyone read (`--allow` cannot
    /// name it, so nothing).
    pub identity: Option<Identity>,
    /// The key a `tcp://` server must prove it holds, when its URL pins none (the CLI passes the
    /// key remembered from an earlier connection). `None`: whichever key it presents is
    /// accepted, and reported (trust on first use).
    pub expected_key: Option<Author>,
    /// The name the arrival records of the changes this peer sends are kept under (see
    /// [`weft_dag::Repo::arrivals`]); `None`: the URL.
    pub source: Option<String>,
    /// Ends the `tcp://` and `iroh://` links opened with these options when triggered (see
    /// [`Cancel`]).
    pub cancel: Option<Cancel>,
    /// The relays of `iroh://` links (and whether the address of a key is looked up).
    pub relays: Relays,
    /// The iroh endpoint that `iroh://` links share (clones of these options share it).
    pub iroh: IrohClient,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            local_program: PathBuf::from("weft"),
            ssh: vec!["ssh".into()],
            remote_program: "weft".into(),
            timeout: DEFAULT_TIMEOUT,
            identity: None,
            expected_key: None,
            source: None,
            cancel: None,
            relays: Relays::default(),
            iroh: IrohClient::default(),
        }
    }
}

/// A handle that ends the `tcp://` and `iroh://` links opened with it, at once:
/// [`Cancel::cancel`] shuts their sockets down (closes their connections), so a sync blocked on a silent peer returns (with an error) instead of waiting
/// for the timeout, and no new link is opened with it afterwards. Links to child processes
/// (paths, ssh) are not affected; they end at their silence timeout. Clones share the handle.
#[derive(Clone, Default)]
pub struct Cancel(Arc<CancelInner>);

#[derive(Default)]
struct CancelInner {
    cancelled: AtomicBool,
    next: AtomicU64,
    sockets: Mutex<HashMap<u64, Shutdown>>,
}

/// Ends one link.
type Shutdown = Box<dyn Fn() + Send>;

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancel")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl Cancel {
    /// A handle that has not been triggered.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Ends every open link of this handle and refuses new ones.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        let sockets = std::mem::take(&mut *self.sockets());
        for shutdown in sockets.values() {
            shutdown();
        }
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    fn sockets(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Shutdown>> {
        weft_store::sync_util::lock(&self.0.sockets)
    }

    /// Registers a link to end (with `shutdown`) on cancel; `None` if already cancelled.
    fn register(&self, shutdown: Shutdown) -> Option<u64> {
        let id = self.0.next.fetch_add(1, Ordering::SeqCst);
        self.sockets().insert(id, shutdown);
        // Checked after inserting: a cancel in between either sees the link or is seen here.
        if self.is_cancelled() {
            self.sockets().remove(&id);
            return None;
        }
        Some(id)
    }

    fn register_socket(&self, s: &TcpStream) -> io::Result<Option<u64>> {
        let s = s.try_clone()?;
        Ok(self.register(Box::new(move || {
            let _ = s.shutdown(std::net::Shutdown::Both);
        })))
    }

    fn unregister(&self, id: u64) {
        self.sockets().remove(&id);
    }
}

/// `path` for the far side's shell: quoted, except for a leading `~` or `~user` (a user name of
/// letters, digits, `.`, `_` and `-`), which the shell expands to a home directory, as git does.
fn remote_path(path: &str) -> String {
    if let Some(rest) = path.strip_prefix('~') {
        let (user, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if user.chars().all(plain) && !user.starts_with('-') {
            return if tail.is_empty() {
                format!("~{user}")
            } else {
                format!("~{user}/{}", shell_quote(tail))
            };
        }
    }
    shell_quote(path)
}

/// Quotes a word for a POSIX shell (the far side of ssh runs the command through one).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The child process, what it wrote on stderr, and word when it closed its stderr.
type ChildLink = (Child, Arc<Mutex<Vec<u8>>>, Receiver<()>);

/// An open link.
pub struct Connection {
    /// Bytes from the peer (with the silence timeout applied).
    pub reader: Box<dyn Read + Send>,
    /// Bytes to the peer.
    pub writer: Box<dyn Write + Send>,
    child: Option<ChildLink>,
    name: String,
    peer_key: Option<Author>,
    /// The secure channel's handshake hash (`tcp://`).
    transcript: Option<[u8; 32]>,
    /// The cancel handle this link's socket is registered with.
    cancel: Option<(Cancel, u64)>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name)
            .field("peer_key", &self.peer_key)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The peer's name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key the peer proved it holds (`tcp://`, `iroh://`); `None` on links without one
    /// (ssh, paths).
    pub fn peer_key(&self) -> Option<Author> {
        self.peer_key
    }

    /// The secure channel's handshake hash (`tcp://`; see [`noise::Secured::transcript`]);
    /// `None` on links without one.
    pub fn transcript(&self) -> Option<[u8; 32]> {
        self.transcript
    }

    /// What a child process (ssh, or a local `weft serve`) said on stderr, last line first.
    fn child_complaint(&mut self) -> Option<String> {
        let (child, err, stderr_done) = self.child.as_mut()?;
        let _ = child.wait();
        // The reader thread may still be copying the last bytes; a grandchild (ssh's) could
        // keep stderr open, hence the bound.
        let _ = stderr_done.recv_timeout(Duration::from_secs(1));
        let text = err.lock().ok()?.clone();
        let text = String::from_utf8_lossy(&text);
        text.lines()
            .map(str::trim)
            .rev()
            .find(|l| !l.is_empty())
            // What the far side printed may hold terminal control characters.
            .map(|l| weft_sync::printable(l.strip_prefix("weft: error: ").unwrap_or(l)))
    }
}

impl Connection {
    /// Ends a link whose session is over: closes our side, and lets a child process (a local
    /// `weft serve --stdio`, ssh) finish on its own: the last frames we wrote (the session's
    /// DONE) may still be on their way through it (to a `weft serve` it hands the session to,
    /// or over the network), and killing it would cut them off, so that the far side saw the
    /// link closed without the session ending. It is read until it closes its output, within
    /// the link's silence timeout.
    pub fn end(&mut self) {
        self.writer = Box::new(io::sink());
        if self.child.is_none() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Silent past the timeout: dropping the link kills it.
                Err(_) => return,
            }
        }
        if let Some((child, _, _)) = &mut self.child {
            let _ = child.wait();
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some((cancel, id)) = &self.cancel {
            cancel.unregister(*id);
        }
        if let Some((child, _, _)) = &mut self.child {
            // The child ends by itself when its stdin closes; do not leave one behind if not.
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

fn spawn(mut cmd: Command, name: String, timeout: Duration) -> Result<Connection, Error> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.spawn().map_err(|e| Error::Unreachable {
        peer: name.clone(),
        reason: format!("cannot run {program}: {e}"),
    })?;
    let (Some(stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        return Err(Error::Unreachable {
            peer: name,
            reason: "no pipes to the child process".into(),
        });
    };
    let complaints = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&complaints);
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut v) = sink.lock() {
                if v.len() < 64 << 10 {
                    v.extend_from_slice(&buf[..n]);
                }
            }
        }
        let _ = done_tx.send(());
    });
    Ok(Connection {
        reader: Box::new(TimeoutReader::new(stdout, timeout)),
        writer: Box::new(TimeoutWriter::new(stdin, timeout)),
        child: Some((child, complaints, done_rx)),
        name,
        peer_key: None,
        transcript: None,
        cancel: None,
    })
}

/// Opens a link to `remote`.
pub fn connect(remote: &Remote, opts: &ConnectOptions) -> Result<Connection, Error> {
    let name = remote.to_string();
    match remote {
        Remote::Path(path) => {
            let mut cmd = Command::new(&opts.local_program);
            cmd.arg("serve").arg("--stdio").arg(path);
            spawn(cmd, name, opts.timeout)
        }
        Remote::Ssh {
            user,
            host,
            port,
            path,
        } => {
            let (prog, args) = opts
                .ssh
                .split_first()
                .ok_or_else(|| bad(&name, "WEFT_SSH is empty"))?;
            let mut cmd = Command::new(prog);
            cmd.args(args);
            if let Some(p) = port {
                cmd.arg("-p").arg(p.to_string());
            }
            cmd.arg(match user {
                Some(u) => format!("{u}@{host}"),
                None => host.clone(),
            });
            cmd.arg(format!(
                "{} serve --stdio {}",
                opts.remote_program,
                remote_path(path)
            ));
            spawn(cmd, name, opts.timeout)
        }
        Remote::Tcp { host, port, key } => {
            let unreachable = |reason: String| Error::Unreachable {
                peer: name.clone(),
                reason,
            };
            let addrs: Vec<_> = (host.as_str(), *port)
                .to_socket_addrs()
                .map_err(|e| unreachable(format!("cannot resolve {host}: {e}")))?
                .collect();
            let mut last = None;
            let mut stream = None;
            for a in addrs {
                match TcpStream::connect_timeout(&a, opts.timeout.min(Duration::from_secs(10))) {
                    Ok(s) => {
                        stream = Some(s);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            let stream = stream.ok_or_else(|| {
                unreachable(last.map_or_else(|| "no address".to_string(), |e| e.to_string()))
            })?;
            let io = |e: io::Error| Error::Io {
                peer: name.clone(),
                source: e,
            };
            stream.set_nodelay(true).map_err(io)?;
            stream.set_read_timeout(Some(opts.timeout)).map_err(io)?;
            stream.set_write_timeout(Some(opts.timeout)).map_err(io)?;
            let cancel = match &opts.cancel {
                Some(c) => match c.register_socket(&stream).map_err(io)? {
                    Some(id) => Some(Registered(Some((c.clone(), id)))),
                    None => return Err(unreachable("cancelled".into())),
                },
                None => None,
            };
            let reader = stream.try_clone().map_err(io)?;
            let identity = opts.identity.clone().unwrap_or_else(Identity::generate);
            let addr = Remote::Tcp {
                host: host.clone(),
                port: *port,
                key: None,
            }
            .to_string();
            let secured = noise::initiate(
                reader,
                stream,
                &identity,
                key.as_ref().or(opts.expected_key.as_ref()),
                &addr,
                opts.timeout.as_secs(),
            )?;
            Ok(Connection {
                reader: Box::new(secured.reader),
                writer: Box::new(secured.writer),
                child: None,
                name,
                peer_key: Some(secured.remote),
                transcript: Some(secured.transcript),
                cancel: cancel.and_then(Registered::keep),
            })
        }
        Remote::Iroh(url) => {
            let unreachable = |reason: String| Error::Unreachable {
                peer: name.clone(),
                reason,
            };
            if opts.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
                return Err(unreachable("cancelled".into()));
            }
            let identity = opts.identity.clone().unwrap_or_else(Identity::generate);
            let link = opts
                .iroh
                .open(url, &identity, &opts.relays, opts.timeout)
                .map_err(unreachable)?;
            let cancel = match &opts.cancel {
                Some(c) => match c.register(link.shutdown) {
                    Some(id) => Some((c.clone(), id)),
                    None => return Err(unreachable("cancelled".into())),
                },
                None => None,
            };
            Ok(Connection {
                reader: link.reader,
                writer: link.writer,
                child: None,
                name,
                peer_key: Some(link.peer_key),
                transcript: Some(link.transcript),
                cancel,
            })
        }
    }
}

/// A socket registered with a [`Cancel`], unregistered on drop unless [`Registered::keep`]
/// hands the registration over (to the [`Connection`]).
struct Registered(Option<(Cancel, u64)>);

impl Registered {
    fn keep(mut self) -> Option<(Cancel, u64)> {
        self.0.take()
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some((cancel, id)) = &self.0 {
            cancel.unregister(*id);
        }
    }
}

/// The outcome of [`sync`].
#[derive(Debug, Clone)]
pub struct Synced {
    /// The session's figures.
    pub stats: Stats,
    /// The key the peer proved it holds (`tcp://`, `iroh://`), for the caller to remember.
    pub peer_key: Option<Author>,
    /// Per document synced, the peer's heads and change count at the end of the session (see
    /// [`Initiator::outcome`]); what `weft-live`'s `status::record` keeps.
    pub outcome: Vec<DocOutcome>,
}

/// Syncs `repo` with `remote` as the initiator; `progress` is called now and then with the
/// session (see [`Endpoint::expected_in`]). The changes the peer sends are recorded as
/// delivered by [`ConnectOptions::source`] (default: the URL).
pub fn sync(
    repo: &Repo,
    remote: &Remote,
    connect_opts: &ConnectOptions,
    sync_opts: SyncOptions,
    progress: &mut dyn FnMut(&dyn Endpoint),
) -> Result<Synced, Error> {
    let conn = connect(remote, connect_opts)?;
    let source = connect_opts
        .source
        .clone()
        .unwrap_or_else(|| remote.to_string());
    sync_over(
        repo,
        conn,
        &source,
        connect_opts.timeout,
        sync_opts,
        progress,
    )
}

/// [`sync`] over a link already open (`weft-net`'s invite step runs first on the same link):
/// one session as the initiator; the changes the peer sends are recorded as delivered by
/// `source`.
pub fn sync_over(
    repo: &Repo,
    mut conn: Connection,
    source: &str,
    timeout: Duration,
    sync_opts: SyncOptions,
    progress: &mut dyn FnMut(&dyn Endpoint),
) -> Result<Synced, Error> {
    let mut session = Initiator::new(repo, sync_opts)?.source(source);
    if conn.peer_key.is_some() {
        session = session.only_announced();
    }
    let result = run(
        &mut session,
        &mut conn.reader,
        &mut conn.writer,
        &conn.name.clone(),
        timeout.as_secs(),
        progress,
    );
    match result {
        Ok(()) => {
            conn.end();
            Ok(Synced {
                stats: session.stats().clone(),
                peer_key: conn.peer_key(),
                outcome: session.outcome(),
            })
        }
        // A child that failed before speaking (no such repo, ssh cannot connect) said why on
        // its stderr: that is the error worth showing.
        Err(e @ (Error::Closed { .. } | Error::Io { .. })) if session.stats().bytes_in == 0 => {
            match conn.child_complaint() {
                Some(reason) => Err(Error::Unreachable {
                    peer: conn.name().to_string(),
                    reason,
                }),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
