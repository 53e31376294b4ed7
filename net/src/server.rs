//! Serving: answer sessions on stdio (for ssh and local paths) or on a TCP listener.
//!
//! The TCP server gives each client its own thread and its own silence timeout, so a slow or
//! broken client stalls nobody else; a client that sends garbage is dropped with an ERROR frame
//! and the server goes on. Changes pushed by clients are verified like any other.
//!
//! Every TCP session starts with the secure handshake ([`crate::noise`]), which proves the
//! client's author key; what that key may read and push is decided by [`weft_sync::access`]. Stdio
//! sessions are trusted ([`Access::trusted`]): whoever runs them already has the repo.

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use weft_dag::{Author, Identity, Repo};

use weft_sync::{
    frame::{read_frame, Frame, JOIN},
    run, Access, Endpoint, Error, Responder, Stats,
};

use crate::{invite, noise, timeout::DEFAULT_TIMEOUT};

/// How often the server's log may name one refused key: a client that retries every 2 s (live
/// sync with a revoked key) gets a line a minute, which counts the refusals left out.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Keys a [`RefusalLog`] remembers before it forgets those it last logged over an interval ago.
const REFUSAL_LOG_KEYS: usize = 4096;

/// Which refusals the server logs: the first of each key, then at most one per
/// [`REFUSAL_LOG_INTERVAL`].
#[derive(Debug, Default)]
pub struct RefusalLog {
    /// Per key: when it was last logged, and the refusals left out since.
    keys: HashMap<Author, (Instant, u64)>,
}

impl RefusalLog {
    /// Whether to log a refusal of `key` at `now`: `Some(n)` yes, `n` refusals of it having been
    /// left out since its last line; `None` no.
    pub fn admit(&mut self, key: Author, now: Instant) -> Option<u64> {
        if self.keys.len() >= REFUSAL_LOG_KEYS && !self.keys.contains_key(&key) {
            self.keys
                .retain(|_, (last, _)| now.duration_since(*last) < REFUSAL_LOG_INTERVAL);
        }
        match self.keys.get_mut(&key) {
            Some((last, left_out)) if now.duration_since(*last) < REFUSAL_LOG_INTERVAL => {
                *left_out += 1;
                None
            }
            Some((last, left_out)) => {
                *last = now;
                Some(std::mem::take(left_out))
            }
            None => {
                self.keys.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

/// How a server behaves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A client silent for this long is dropped.
    pub timeout: Duration,
    /// Clients served at once; more are told the server is busy.
    pub max_clients: usize,
    /// Keys that may read every document (`weft serve --allow KEY`), whatever their role.
    pub allow: Vec<Author>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            timeout: DEFAULT_TIMEOUT,
            max_clients: 64,
            allow: Vec::new(),
        }
    }
}

/// Answers one session on a byte stream, for a peer whose rights `access` gives
/// ([`Access::trusted`] on stdio and the daemon socket; [`Access::peer`] with the key the
/// handshake proved and the `--allow` list on TCP). A refused peer is sent why, and the
/// refusal is returned as [`Error::Refused`]. `peer` names the other side in errors; the
/// changes it pushes are recorded as delivered by `source` (see [`weft_dag::Repo::arrivals`]):
/// [`serve_tcp`] gives the peer's key in short form, `weft serve --stdio` gives `ssh` or `local`.
pub fn serve_stream(
    repo: &Repo,
    reader: impl Read,
    writer: impl Write,
    peer: &str,
    source: &str,
    timeout: Duration,
    access: &Access,
) -> Result<Stats, Error> {
    let mut session = Responder::with_access(repo, access.clone())?.source(source);
    let ran = run(
        &mut session,
        reader,
        writer,
        peer,
        timeout.as_secs(),
        &mut |_| {},
    );
    // A refused peer that left before the end is still a refusal (and logged as one).
    if let Some(reason) = session.refusal() {
        return Err(Error::Refused {
            reason: reason.clone(),
        });
    }
    ran?;
    Ok(session.stats().clone())
}

fn serve_client(
    repo: &Repo,
    identity: &Identity,
    stream: TcpStream,
    peer: SocketAddr,
    opts: &ServeOptions,
    refusals: &Mutex<RefusalLog>,
) {
    let timeout = opts.timeout;
    let name = peer.to_string();
    // Every line logged about this client names it (a refusal is logged by the responder,
    // before the peer is told).
    let _span = tracing::warn_span!("tcp", peer = %name).entered();
    let setup = (|| {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.try_clone()
    })();
    let reader = match setup {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("cannot set up the connection: {e}");
            return;
        }
    };
    let secured = match noise::respond(reader, &stream, identity, &name, timeout.as_secs()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("handshake failed: {e}");
            return;
        }
    };
    serve_joinable(
        repo,
        secured.reader,
        secured.writer,
        &name,
        secured.remote,
        &secured.transcript,
        opts,
        refusals,
    );
}

/// Serves a client whose transport proved it holds `key`, on a link whose handshake hashes to
/// `transcript` (`tcp://`'s Noise hash, `iroh://`'s exported TLS keying material): a JOIN may
/// come first (see [`crate::invite`]), then the session ([`serve_authenticated`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn serve_joinable(
    repo: &Repo,
    mut reader: impl Read,
    mut writer: impl Write,
    name: &str,
    key: Author,
    transcript: &[u8; 32],
    opts: &ServeOptions,
    refusals: &Mutex<RefusalLog>,
) {
    // A JOIN may come before the session (see `crate::invite`); whatever else comes first (a
    // frame, the end of the stream, an error) is handed to the session as it came.
    let mut first = Vec::new();
    let (replay, failed) = match read_frame(&mut reader, &mut first) {
        Ok(true) if first.first() == Some(&JOIN) => {
            match invite::answer(repo, key, transcript, &first, &mut writer) {
                Ok(_) => (Vec::new(), None),
                Err(why) => {
                    tracing::warn!(key = %key, "invite refused: {why}");
                    return;
                }
            }
        }
        Ok(true) => {
            let mut raw = (first.len() as u32).to_be_bytes().to_vec();
            raw.extend_from_slice(&first);
            (raw, None)
        }
        Ok(false) => (Vec::new(), None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let reader = Failed(failed).chain(std::io::Cursor::new(replay).chain(reader));
    serve_authenticated(repo, reader, writer, name, key, opts, refusals);
}

/// Answers one session with a client whose transport proved it holds `key` (Noise on `tcp://`,
/// TLS on `iroh://`): it reads and pushes what [`Access::peer`] gives that key and the `--allow`
/// list, and is logged under it; a refusal is logged once per key and [`REFUSAL_LOG_INTERVAL`].
pub(crate) fn serve_authenticated(
    repo: &Repo,
    reader: impl Read,
    writer: impl Write,
    name: &str,
    key: Author,
    opts: &ServeOptions,
    refusals: &Mutex<RefusalLog>,
) {
    let access = Access::peer(key, &opts.allow);
    match serve_stream(
        repo,
        reader,
        writer,
        name,
        &key.short(),
        opts.timeout,
        &access,
    ) {
        Ok(s) => tracing::info!(
            key = %key,
            rounds = s.round_trips,
            changes_in = s.changes_in,
            changes_out = s.changes_out,
            "session done"
        ),
        // Once per key and REFUSAL_LOG_INTERVAL: a refused client may retry every few seconds.
        Err(Error::Refused { reason }) => {
            let admitted = weft_store::sync_util::lock(refusals).admit(key, Instant::now());
            match admitted {
                Some(0) => tracing::warn!("{reason}"),
                Some(n) => tracing::warn!(
                    "{reason} ({n} more refusals of this key since the last such line, not logged)"
                ),
                None => tracing::debug!("{reason}"),
            }
        }
        Err(e) => tracing::warn!(key = %key, "session failed: {e}"),
    }
}

/// A reader that fails once with the error it holds (then reads as ended), or reads as ended.
struct Failed(Option<std::io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

/// Serves sessions on `listener` until accepting fails; each client gets a thread. The server
/// authenticates as `identity` (normally the repo's own key, which clients pin). The changes a
/// client pushes are recorded as delivered by its key in short form ([`Author::short`]).
pub fn serve_tcp(
    repo: Arc<Repo>,
    listener: TcpListener,
    identity: Identity,
    opts: ServeOptions,
) -> ! {
    let identity = Arc::new(identity);
    let opts = Arc::new(opts);
    let active = Arc::new(AtomicUsize::new(0));
    let refusals = Arc::new(Mutex::new(RefusalLog::default()));
    loop {
        let (mut stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Out of file descriptors and the like: say so, back off, keep serving.
                tracing::warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.load(Ordering::SeqCst) >= opts.max_clients {
            let busy = Frame::Error(format!(
                "server busy ({} clients); try again later",
                opts.max_clients
            ));
            let _ = stream.write_all(&busy.encode());
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let repo = Arc::clone(&repo);
        let active_here = Arc::clone(&active);
        let identity = Arc::clone(&identity);
        let opts_here = Arc::clone(&opts);
        let refusals = Arc::clone(&refusals);
        let spawned = thread::Builder::new()
            .name(format!("weft-sync {peer}"))
            .spawn(move || {
                serve_client(&repo, &identity, stream, peer, &opts_here, &refusals);
                active_here.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            active.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!("cannot start a thread for {peer}: {e}");
        }
    }
}
