//! `iroh://`: sync over QUIC between endpoints that find each other through relays and hole
//! punching ([iroh](https://docs.rs/iroh)), whatever NATs stand between them.
//!
//! # Identity
//! An iroh endpoint is named by an ed25519 public key, and its TLS handshake proves that the
//! other side holds the secret key. Here the endpoint's secret key *is* the replica's weft
//! identity ([`Identity::to_seed`]), so the endpoint id *is* the weft [`Author`] key: the key
//! iroh authenticated is the key the server's access rules ([`weft_sync::Access::peer`]) judge,
//! and the key a client names in the URL is the key the server proves. Nothing else is signed
//! or exchanged, and there is no second key to keep or to bind (compare [`crate::noise`], where
//! a throwaway Noise key is bound to the author key by a signature).
//!
//! # URL
//! `iroh://KEY[?addr=IP:PORT[&addr=...]][&relay=URL[&relay=...]]` ([`crate::Remote::Iroh`],
//! [`IrohUrl`]): KEY is the server's author key (64 hex digits), which the connection proves;
//! each `addr` is a direct UDP address to try and each `relay` a relay server it is reachable
//! through (what an iroh ticket carries). Without either, the address is looked up by the key
//! (iroh's DNS lookup, with the default relays only). [`Display`](std::fmt::Display) writes the
//! addresses first, then the relays, in their order, and [`crate::Remote::parse`] reads it back
//! exactly, so the URL can travel in a file or a ticket.
//!
//! # Link
//! A session is one bidirectional QUIC stream on a connection with ALPN [`ALPN`]; its two halves
//! are the [`crate::Connection`]'s blocking reader and writer, run on a tokio runtime that the client
//! or server owns. Each read and write is bounded by the silence timeout, as on `tcp://`.

use std::{
    collections::BTreeSet,
    fmt,
    io::{self, Read, Write},
    net::SocketAddr,
    str::FromStr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use iroh::{
    endpoint::{presets, RecvStream, SendStream},
    Endpoint, EndpointAddr, PublicKey, RelayMode, RelayUrl, SecretKey, TransportAddr, Watcher as _,
};
use tokio::runtime::{Handle, Runtime};
use weft_dag::{Author, Identity, Repo};
use weft_sync::{frame::Frame, Error};

use crate::server::{serve_joinable, RefusalLog, ServeOptions};

/// The ALPN of weft sync sessions over iroh.
pub const ALPN: &[u8] = b"weft/sync/1";

/// How long closing an endpoint may take: it waits for its connections' close to be
/// acknowledged, or for QUIC's probe timeout (about 3 s) when the peer is gone.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How long a server waits for its relay before it prints its address without one.
const ONLINE_WAIT: Duration = Duration::from_secs(10);

/// Which relay servers an endpoint uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Relays {
    /// iroh's public relays, and its DNS lookup of endpoint addresses by key.
    #[default]
    Default,
    /// None, and no lookup service: only direct addresses (nothing leaves the machine but the
    /// connections it is asked to make).
    Disabled,
    /// These relay servers (e.g. a self-hosted `iroh-relay`), and no lookup service.
    Custom(Vec<String>),
}

impl FromStr for Relays {
    type Err = String;

    /// `default`, `none`, or relay URLs separated by commas.
    fn from_str(s: &str) -> Result<Relays, String> {
        match s.trim() {
            "default" => Ok(Relays::Default),
            "none" => Ok(Relays::Disabled),
            "" => Err("empty (give a relay URL, `none` or `default`)".into()),
            urls => urls
                .split(',')
                .map(|u| relay_url(u.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map(Relays::Custom),
        }
    }
}

impl fmt::Display for Relays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Relays::Default => write!(f, "default"),
            Relays::Disabled => write!(f, "none"),
            Relays::Custom(urls) => write!(f, "{}", urls.join(",")),
        }
    }
}

/// A relay URL in normal form (as [`RelayUrl`] writes it), or why it is not one.
fn relay_url(s: &str) -> Result<String, String> {
    let url = RelayUrl::from_str(s).map_err(|_| format!("{s:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{s:?} is not an http:// or https:// URL with a host"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{s:?}: a relay URL has no query or fragment"));
    }
    Ok(url.to_string())
}

/// An `iroh://` URL: the server's key (its endpoint id), the direct addresses to try and the
/// relays it is reachable through, each list in URL order (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrohUrl {
    /// The server's author key, which is its iroh endpoint id (and which it proves).
    pub key: Author,
    /// Direct addresses to try (`addr=`).
    pub addrs: Vec<SocketAddr>,
    /// Relay servers (`relay=`), in normal form.
    pub relays: Vec<String>,
}

impl IrohUrl {
    /// Parses what follows `iroh://` in `url` (the whole URL, for errors).
    pub fn parse(url: &str, rest: &str) -> Result<IrohUrl, Error> {
        let bad = |reason: String| Error::BadUrl {
            url: url.to_string(),
            reason,
        };
        let (id, query) = match rest.split_once('?') {
            Some((id, q)) => (id, Some(q)),
            None => (rest, None),
        };
        let id = id.strip_suffix('/').unwrap_or(id);
        if id.is_empty() {
            return Err(bad(
                "no endpoint id (iroh://KEY, KEY: the server's key, 64 hex digits)".into(),
            ));
        }
        if id.contains('/') {
            return Err(bad("an iroh:// URL has no path".into()));
        }
        let key = (id.len() == 64)
            .then(|| id.parse::<Author>().ok())
            .flatten()
            .filter(|k| PublicKey::from_bytes(k.as_bytes()).is_ok())
            .ok_or_else(|| bad("the endpoint id must be the server's key, 64 hex digits".into()))?;
        let (mut addrs, mut relays) = (Vec::new(), Vec::new());
        for param in query.into_iter().flat_map(|q| q.split('&')) {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            match name {
                _ if value.is_empty() => {
                    return Err(bad(format!(
                        "parameter {param:?} has no value (addr=IP:PORT or relay=URL)"
                    )))
                }
                "addr" => match value.parse::<SocketAddr>() {
                    Ok(a) if a.port() != 0 => addrs.push(a),
                    _ => {
                        return Err(bad(format!(
                            "addr={value} is not an IP:PORT address (e.g. 192.0.2.1:7450, \
                             [2001:db8::1]:7450)"
                        )))
                    }
                },
                "relay" => relays.push(relay_url(value).map_err(|e| bad(format!("relay: {e}")))?),
                other => {
                    return Err(bad(format!(
                        "unknown parameter {other:?} (use addr=IP:PORT or relay=URL)"
                    )))
                }
            }
        }
        Ok(IrohUrl { key, addrs, relays })
    }
}

impl FromStr for IrohUrl {
    type Err = Error;

    fn from_str(url: &str) -> Result<IrohUrl, Error> {
        match url.strip_prefix("iroh://") {
            Some(rest) => IrohUrl::parse(url, rest),
            None => Err(Error::BadUrl {
                url: url.to_string(),
                reason: "not an iroh:// URL".into(),
            }),
        }
    }
}

impl fmt::Display for IrohUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "iroh://{}", self.key)?;
        let params = self
            .addrs
            .iter()
            .map(|a| format!("addr={a}"))
            .chain(self.relays.iter().map(|r| format!("relay={r}")));
        for (i, p) in params.enumerate() {
            write!(f, "{}{p}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

/// A runtime of its own: the endpoint's tasks run on its workers while the sync threads block.
fn runtime() -> io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("weft-iroh")
        .enable_all()
        .build()
}

/// Binds an endpoint that authenticates as `identity`.
async fn bind(
    identity: &Identity,
    relays: &Relays,
    addr: Option<SocketAddr>,
    alpns: Vec<Vec<u8>>,
) -> Result<Endpoint, String> {
    let builder = match relays {
        Relays::Default => Endpoint::builder(presets::N0),
        Relays::Disabled => Endpoint::builder(presets::Minimal).relay_mode(RelayMode::Disabled),
        Relays::Custom(urls) => {
            let urls = urls
                .iter()
                .map(|u| RelayUrl::from_str(u).map_err(|e| format!("relay {u}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            Endpoint::builder(presets::Minimal).relay_mode(RelayMode::custom(urls))
        }
    };
    let mut builder = builder
        .secret_key(SecretKey::from_bytes(&identity.to_seed()))
        .alpns(alpns);
    if let Some(a) = addr {
        builder = builder
            .clear_ip_transports()
            .bind_addr(a)
            .map_err(|e| format!("cannot bind {a}: {e}"))?;
    }
    builder.bind().await.map_err(|e| e.to_string())
}

/// Runs `fut` on `rt`, giving up after `limit` (the timer is made inside the runtime).
fn block_on_for<F: std::future::Future>(rt: &Handle, limit: Duration, fut: F) -> Option<F::Output> {
    rt.block_on(async move { tokio::time::timeout(limit, fut).await.ok() })
}

/// The label of the keying material both ends export from a connection's TLS session.
const TRANSCRIPT_LABEL: &[u8] = b"weft join v1";

/// 32 bytes both ends of `conn` derive from its TLS session (RFC 5705 exporter), unique to
/// the connection: the channel binding a JOIN's proof signs (see `crate::invite`).
fn transcript(conn: &iroh::endpoint::Connection) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    conn.export_keying_material(&mut out, TRANSCRIPT_LABEL, b"")
        .map_err(|e| format!("cannot export keying material from the connection: {e:?}"))?;
    Ok(out)
}

fn author(id: &PublicKey) -> Author {
    Author(*id.as_bytes())
}

/// The blocking reader of a session's stream: each read waits at most the silence timeout.
struct StreamReader {
    recv: RecvStream,
    rt: Handle,
    timeout: Duration,
    _link: Arc<Link>,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.recv.read(buf);
        match block_on_for(&self.rt, self.timeout, read) {
            None => Err(io::ErrorKind::TimedOut.into()),
            Some(Ok(n)) => Ok(n.unwrap_or(0)),
            Some(Err(e)) => Err(e.into()),
        }
    }
}

/// The blocking writer of a session's stream: a write that the peer's flow control holds up for
/// the silence timeout (a peer that stopped reading) fails as [`weft_sync::Stalled`]. Dropping
/// it ends the stream and waits (within the timeout) until the peer has received all of it.
struct StreamWriter {
    send: SendStream,
    rt: Handle,
    timeout: Duration,
    failed: bool,
    _link: Arc<Link>,
}

impl Write for StreamWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let write = self.send.write(buf);
        match block_on_for(&self.rt, self.timeout, write) {
            None => {
                self.failed = true;
                Err(io::Error::new(io::ErrorKind::TimedOut, weft_sync::Stalled))
            }
            Some(Ok(n)) => Ok(n),
            Some(Err(e)) => {
                self.failed = true;
                Err(e.into())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        if self.failed || self.send.finish().is_err() {
            return;
        }
        let stopped = self.send.stopped();
        let _ = block_on_for(&self.rt, self.timeout, stopped);
    }
}

/// What a session's stream keeps alive: its connection, closed when both halves are dropped,
/// and the runtime it runs on, so that the runtime is dropped by the last session's thread (or
/// by its owner), never inside itself.
struct Link {
    conn: iroh::endpoint::Connection,
    _runtime: Keep,
}

/// The owner of the runtime a link runs on: a client's endpoint (shared by its links), or a
/// server's runtime.
struct Keep {
    _client: Option<Arc<ClientEndpoint>>,
    _server: Option<Arc<Runtime>>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.conn.close(0u32.into(), b"done");
    }
}

fn halves(
    (send, recv): (SendStream, RecvStream),
    rt: &Handle,
    timeout: Duration,
    link: Link,
) -> (StreamReader, StreamWriter) {
    let link = Arc::new(link);
    let reader = StreamReader {
        recv,
        rt: rt.clone(),
        timeout,
        _link: Arc::clone(&link),
    };
    let writer = StreamWriter {
        send,
        rt: rt.clone(),
        timeout,
        failed: false,
        _link: link,
    };
    (reader, writer)
}

/// A client endpoint and the runtime it runs on.
struct ClientEndpoint {
    endpoint: Endpoint,
    key: Author,
    relays: Relays,
    rt: Runtime,
}

impl Drop for ClientEndpoint {
    fn drop(&mut self) {
        let endpoint = self.endpoint.clone();
        let _ = block_on_for(self.rt.handle(), CLOSE_WAIT, endpoint.close());
    }
}

/// The iroh endpoint that `iroh://` links opened with one [`crate::ConnectOptions`] (and its
/// clones) share: bound on first use, with the key and relays of the first link; bound anew if
/// either changes.
#[derive(Clone, Default)]
pub struct IrohClient(Arc<Mutex<Option<Arc<ClientEndpoint>>>>);

impl fmt::Debug for IrohClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrohClient").finish_non_exhaustive()
    }
}

impl IrohClient {
    fn endpoint(
        &self,
        identity: &Identity,
        relays: &Relays,
    ) -> Result<Arc<ClientEndpoint>, String> {
        let mut slot = weft_store::sync_util::lock(&self.0);
        if let Some(c) = slot.as_ref() {
            if c.key == identity.author() && c.relays == *relays {
                return Ok(Arc::clone(c));
            }
        }
        let rt = runtime().map_err(|e| format!("cannot start the iroh runtime: {e}"))?;
        let endpoint = rt.block_on(bind(identity, relays, None, Vec::new()))?;
        let client = Arc::new(ClientEndpoint {
            endpoint,
            key: identity.author(),
            relays: relays.clone(),
            rt,
        });
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }
}

/// An open session stream to an `iroh://` server, as blocking halves.
pub struct IrohLink {
    /// Bytes from the server (each read within the silence timeout).
    pub reader: Box<dyn Read + Send>,
    /// Bytes to the server (each write within the silence timeout).
    pub writer: Box<dyn Write + Send>,
    /// The key the server proved it holds (the one the URL names).
    pub peer_key: Author,
    /// Keying material exported from the connection's TLS session ([`transcript`]): what a
    /// JOIN's proof signs, as it signs the Noise hash over `tcp://`.
    pub transcript: [u8; 32],
    /// Closes the connection at once (for [`crate::Cancel`]).
    pub shutdown: Box<dyn Fn() + Send>,
}

impl fmt::Debug for IrohLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrohLink")
            .field("peer_key", &self.peer_key)
            .finish_non_exhaustive()
    }
}

impl IrohClient {
    /// Opens a session's stream to the server `url` names, proving `identity`'s key, with
    /// `relays`; connecting and opening the stream each wait at most `timeout` (30 s at most).
    /// The error is the reason, for [`Error::Unreachable`].
    pub fn open(
        &self,
        url: &IrohUrl,
        identity: &Identity,
        relays: &Relays,
        timeout: Duration,
    ) -> Result<IrohLink, String> {
        if url.addrs.is_empty() && url.relays.is_empty() && *relays != Relays::Default {
            return Err(format!(
                "the URL has no address, and with relays `{relays}` nothing looks one up by \
                 key: add addr=IP:PORT (as `weft serve --iroh` prints it)"
            ));
        }
        let client = self.endpoint(identity, relays)?;
        let id = PublicKey::from_bytes(url.key.as_bytes())
            .map_err(|_| "the key is not a usable ed25519 key".to_string())?;
        let mut target: BTreeSet<TransportAddr> =
            url.addrs.iter().map(|a| TransportAddr::Ip(*a)).collect();
        for r in &url.relays {
            let relay = RelayUrl::from_str(r).map_err(|e| format!("relay {r}: {e}"))?;
            target.insert(TransportAddr::Relay(relay));
        }
        let addr = EndpointAddr::from_parts(id, target);
        let wait = timeout.min(Duration::from_secs(30));
        let endpoint = client.endpoint.clone();
        let (conn, stream) = client.rt.block_on(async move {
            let conn = tokio::time::timeout(wait, endpoint.connect(addr, ALPN))
                .await
                .map_err(|_| format!("no answer in {} s", wait.as_secs()))?
                .map_err(|e| e.to_string())?;
            let stream = tokio::time::timeout(wait, conn.open_bi())
                .await
                .map_err(|_| format!("no stream in {} s", wait.as_secs()))?
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((conn, stream))
        })?;
        let peer_key = author(&conn.remote_id());
        let transcript = transcript(&conn)?;
        let closing = conn.clone();
        let rt = client.rt.handle().clone();
        let link = Link {
            conn,
            _runtime: Keep {
                _client: Some(client),
                _server: None,
            },
        };
        let (reader, writer) = halves(stream, &rt, timeout, link);
        Ok(IrohLink {
            reader: Box::new(reader),
            writer: Box::new(writer),
            peer_key,
            transcript,
            shutdown: Box::new(move || closing.close(1u32.into(), b"cancelled")),
        })
    }
}

/// How an [`IrohServer`] runs.
#[derive(Debug, Clone, Default)]
pub struct IrohOptions {
    /// Timeout, client limit and `--allow` list, as for `tcp://`.
    pub serve: ServeOptions,
    /// The relays it is reachable through.
    pub relays: Relays,
    /// The UDP address to bind (default: every interface, a port of the system's choice).
    pub bind: Option<SocketAddr>,
}

/// A running `iroh://` server: it accepts sessions until dropped.
pub struct IrohServer {
    endpoint: Endpoint,
    url: IrohUrl,
    rt: Arc<Runtime>,
}

impl fmt::Debug for IrohServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrohServer")
            .field("url", &self.url.to_string())
            .finish_non_exhaustive()
    }
}

impl IrohServer {
    /// Binds an endpoint whose key is `identity` (normally the repo's own), and serves every
    /// client that connects with [`ALPN`], on a thread each, as [`crate::serve_tcp`] does: what
    /// a client may read and push follows the key its connection proved. Returns once the
    /// endpoint knows its addresses (and, with relays, has reached one or given up waiting).
    pub fn start(
        repo: Arc<Repo>,
        identity: Identity,
        opts: IrohOptions,
    ) -> Result<IrohServer, Error> {
        let unreachable = |reason: String| Error::Unreachable {
            peer: "iroh".into(),
            reason,
        };
        let rt = runtime().map_err(|e| unreachable(format!("cannot start a runtime: {e}")))?;
        let endpoint = rt
            .block_on(bind(
                &identity,
                &opts.relays,
                opts.bind,
                vec![ALPN.to_vec()],
            ))
            .map_err(&unreachable)?;
        let addr = rt.block_on(settled_addr(&endpoint, opts.relays != Relays::Disabled));
        let url = IrohUrl {
            key: identity.author(),
            addrs: addr.ip_addrs().copied().collect(),
            relays: addr.relay_urls().map(ToString::to_string).collect(),
        };
        let rt = Arc::new(rt);
        rt.spawn(accept_loop(
            endpoint.clone(),
            repo,
            opts.serve,
            Arc::downgrade(&rt),
        ));
        Ok(IrohServer { endpoint, url, rt })
    }

    /// The URL clients connect to: the key, the direct addresses and the relay.
    pub fn url(&self) -> &IrohUrl {
        &self.url
    }
}

impl Drop for IrohServer {
    /// Closes the endpoint (and so every session's connection); the runtime goes with the last
    /// session thread.
    fn drop(&mut self) {
        let endpoint = self.endpoint.clone();
        let _ = block_on_for(self.rt.handle(), CLOSE_WAIT, endpoint.close());
    }
}

/// The endpoint's address once it has a direct address and, when `relay`, its home relay
/// (waiting at most [`ONLINE_WAIT`] for those).
async fn settled_addr(endpoint: &Endpoint, relay: bool) -> EndpointAddr {
    let mut watch = endpoint.watch_addr();
    let ready = |a: &EndpointAddr| {
        a.ip_addrs().next().is_some() && (!relay || a.relay_urls().next().is_some())
    };
    let _ = tokio::time::timeout(ONLINE_WAIT, async {
        while !ready(&watch.get()) {
            if watch.updated().await.is_err() {
                break;
            }
        }
    })
    .await;
    if relay && endpoint.addr().relay_urls().next().is_none() {
        tracing::warn!(
            "no relay reached in {} s; sharing direct addresses only",
            ONLINE_WAIT.as_secs()
        );
    }
    endpoint.addr()
}

async fn accept_loop(
    endpoint: Endpoint,
    repo: Arc<Repo>,
    opts: ServeOptions,
    rt: std::sync::Weak<Runtime>,
) {
    let opts = Arc::new(opts);
    let active = Arc::new(AtomicUsize::new(0));
    let refusals = Arc::new(Mutex::new(RefusalLog::default()));
    while let Some(incoming) = endpoint.accept().await {
        let (repo, opts, active, refusals, rt) = (
            Arc::clone(&repo),
            Arc::clone(&opts),
            Arc::clone(&active),
            Arc::clone(&refusals),
            rt.clone(),
        );
        tokio::spawn(async move {
            let timeout = opts.timeout;
            let conn = match tokio::time::timeout(timeout, incoming).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return tracing::warn!("iroh: handshake failed: {e}"),
                Err(_) => return tracing::warn!("iroh: handshake timed out"),
            };
            let key = author(&conn.remote_id());
            let stream = match tokio::time::timeout(timeout, conn.accept_bi()).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!(key = %key, "iroh: no stream: {e}"),
                Err(_) => return tracing::warn!(key = %key, "iroh: no stream opened in time"),
            };
            if !key.is_usable() {
                conn.close(2u32.into(), b"unusable key");
                return tracing::warn!(key = %key, "iroh: refused a key weft does not accept");
            }
            let transcript = match transcript(&conn) {
                Ok(t) => t,
                Err(e) => return tracing::warn!(key = %key, "iroh: {e}"),
            };
            let name = format!("iroh {}", key.short());
            // The server is gone: its endpoint is closing.
            let Some(rt) = rt.upgrade() else { return };
            let handle = rt.handle().clone();
            let link = Link {
                conn,
                _runtime: Keep {
                    _client: None,
                    _server: Some(rt),
                },
            };
            let (reader, mut writer) = halves(stream, &handle, timeout, link);
            if active.fetch_add(1, Ordering::SeqCst) >= opts.max_clients {
                active.fetch_sub(1, Ordering::SeqCst);
                let busy = Frame::Error(format!(
                    "server busy ({} clients); try again later",
                    opts.max_clients
                ));
                // From a blocking thread: the writer blocks on the runtime.
                let _ = std::thread::spawn(move || writer.write_all(&busy.encode()));
                return;
            }
            let spawned = std::thread::Builder::new()
                .name(format!("weft-sync {name}"))
                .spawn({
                    let active = Arc::clone(&active);
                    move || {
                        let _span = tracing::warn_span!("iroh", peer = %name).entered();
                        serve_joinable(
                            &repo,
                            reader,
                            writer,
                            &name,
                            key,
                            &transcript,
                            &opts,
                            &refusals,
                        );
                        active.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            if let Err(e) = spawned {
                active.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!("cannot start a thread for {key}: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Remote;

    const KEY: &str = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";

    #[test]
    fn urls_round_trip_exactly() {
        for url in [
            format!("iroh://{KEY}"),
            format!("iroh://{KEY}?addr=127.0.0.1:7450"),
            format!("iroh://{KEY}?addr=127.0.0.1:7450&addr=[::1]:7451"),
            format!("iroh://{KEY}?relay=https://relay.example.com/"),
            format!("iroh://{KEY}?addr=192.0.2.1:9&relay=https://relay.example.com:8443/r/"),
        ] {
            let remote = Remote::parse(&url).unwrap();
            assert!(matches!(remote, Remote::Iroh { .. }));
            assert_eq!(remote.to_string(), url);
            assert_eq!(Remote::parse(&remote.to_string()).unwrap(), remote);
        }
        // A relay URL is kept in normal form, addresses before relays: the same remote.
        let r = Remote::parse(&format!(
            "iroh://{KEY}/?relay=https://r.example&addr=10.0.0.1:5"
        ))
        .unwrap();
        assert_eq!(
            r.to_string(),
            format!("iroh://{KEY}?addr=10.0.0.1:5&relay=https://r.example/")
        );
        assert_eq!(Remote::parse(&r.to_string()).unwrap(), r);
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, says) in [
            ("iroh://".to_string(), "no endpoint id"),
            ("iroh://abc".to_string(), "64 hex digits"),
            (format!("iroh://{KEY}/path"), "no path"),
            (format!("iroh://{KEY}?addr=localhost:1"), "not an IP:PORT"),
            (format!("iroh://{KEY}?addr=127.0.0.1:0"), "not an IP:PORT"),
            (format!("iroh://{KEY}?addr="), "no value"),
            (format!("iroh://{KEY}?relay=ftp://x"), "http"),
            (format!("iroh://{KEY}?relay=https://x/?a=b"), "no query"),
            (format!("iroh://{KEY}?port=3"), "unknown parameter"),
        ] {
            let e = Remote::parse(&url).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
        }
    }

    #[test]
    fn relays_parse() {
        assert_eq!("none".parse::<Relays>().unwrap(), Relays::Disabled);
        assert_eq!("default".parse::<Relays>().unwrap(), Relays::Default);
        assert_eq!(
            "https://a.example,http://b.example:3340"
                .parse::<Relays>()
                .unwrap(),
            Relays::Custom(vec![
                "https://a.example/".into(),
                "http://b.example:3340/".into()
            ])
        );
        assert!("".parse::<Relays>().is_err());
        assert!("relay.example".parse::<Relays>().is_err());
    }

    #[test]
    fn the_endpoint_id_is_the_author_key() {
        let id = Identity::from_seed([7; 32]);
        let secret = SecretKey::from_bytes(&id.to_seed());
        assert_eq!(author(&secret.public()), id.author());
        assert_eq!(secret.public().to_string(), id.author().to_string());
    }
}
