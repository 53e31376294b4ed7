//! `tcp://` over real loopback sockets: the Noise handshake and its identity binding, key
//! pinning, men in the middle, identities of small order, tampering, garbage and stalls. No test sleeps: a stall is
//! detected by a short silence timeout.

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{Arc, Mutex},
    thread::{self, JoinHandle},
    time::Duration,
};

use weft_dag::{Author, Identity, Repo, Value};
use weft_net::{
    noise::{self, Secured, IDENTITY_DOMAIN, PATTERN, PROLOGUE},
    server::{self, ServeOptions},
    transport::{self, ConnectOptions, Remote},
};
use weft_sync::{Direction, Error};

use crate::{assert_same, empty, identity, opts};

const LONG: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_millis(300);

/// Serves `repo` over TCP as `id` (in a thread that lives as long as the test process);
/// returns its address.
pub fn serve(repo: Repo, id: Identity, allow: Vec<Author>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let repo = Arc::new(repo);
    thread::spawn(move || {
        server::serve_tcp(
            repo,
            listener,
            id,
            ServeOptions {
                timeout: LONG,
                allow,
                ..ServeOptions::default()
            },
        )
    });
    addr
}

/// A `tcp://` remote, pinned to `key` if given.
pub fn remote(addr: SocketAddr, key: Option<Author>) -> Remote {
    Remote::Tcp {
        host: addr.ip().to_string(),
        port: addr.port(),
        key,
    }
}

/// Connect options authenticating as `id`.
pub fn as_key(id: &Identity) -> ConnectOptions {
    ConnectOptions {
        identity: Some(id.clone()),
        timeout: LONG,
        ..ConnectOptions::default()
    }
}

/// A repo `main` (owner: seed 1) with a value, and its own identity.
fn served_repo() -> (Repo, Identity) {
    let repo = empty(1);
    let doc = repo.create_doc("main").unwrap();
    let mut tx = repo.transaction(doc);
    tx.set("secret-key", Value::from("secret-value-xyz"))
        .unwrap();
    tx.commit().unwrap();
    (repo, identity(1))
}

fn pull(repo: &Repo, remote: &Remote, copts: &ConnectOptions) -> Result<Option<Author>, Error> {
    transport::sync(repo, remote, copts, opts(Direction::Pull), &mut |_| {}).map(|s| s.peer_key)
}

/// One end of a handshake over loopback.
type End = Result<Secured<TcpStream, TcpStream>, Error>;

/// Both ends of a handshake over loopback: the server thread's result, and the client's.
fn handshake(
    server_id: Identity,
    client_id: &Identity,
    expected: Option<&Author>,
) -> (JoinHandle<End>, End) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(LONG)).unwrap();
        noise::respond(s.try_clone().unwrap(), s, &server_id, "client", 30)
    });
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    let client = noise::initiate(s.try_clone().unwrap(), s, client_id, expected, "server", 30);
    (server, client)
}

#[test]
fn the_handshake_proves_both_keys_and_the_channel_carries_any_amount() {
    let (server_id, client_id) = (identity(1), identity(2));
    let (server, client) = handshake(server_id.clone(), &client_id, Some(&server_id.author()));
    let mut client = client.unwrap();
    let mut server = server.join().unwrap().unwrap();
    assert_eq!(
        client.remote,
        server_id.author(),
        "the client learns the server's key"
    );
    assert_eq!(
        server.remote,
        client_id.author(),
        "the server learns the client's key"
    );

    // More than one Noise message's worth (65,519 bytes) each way, written in odd pieces.
    let big: Vec<u8> = (0..300_007u32).map(|i| (i % 251) as u8).collect();
    let echo = thread::spawn(move || {
        let mut got = vec![0u8; 300_007];
        server.reader.read_exact(&mut got).unwrap();
        server.writer.write_all(&got).unwrap();
        server.writer.flush().unwrap();
        // Then the client's end of stream is a clean end.
        let mut rest = Vec::new();
        server.reader.read_to_end(&mut rest).unwrap();
        (got, rest)
    });
    for piece in big.chunks(7_919) {
        client.writer.write_all(piece).unwrap();
    }
    client.writer.flush().unwrap();
    let mut back = vec![0u8; big.len()];
    client.reader.read_exact(&mut back).unwrap();
    assert_eq!(back, big);
    drop(client);
    let (got, rest) = echo.join().unwrap();
    assert_eq!(got, big);
    assert!(rest.is_empty());
}

#[test]
fn a_server_with_another_key_fails_before_the_client_shows_its_own() {
    let (server_id, client_id, pinned) = (identity(1), identity(2), identity(9).author());
    let (server, client) = handshake(server_id.clone(), &client_id, Some(&pinned));
    match client.unwrap_err() {
        Error::WrongPeerKey {
            addr,
            expected,
            presented,
        } => {
            assert_eq!(addr, "server");
            assert_eq!(expected, pinned);
            assert_eq!(presented, server_id.author());
        }
        e => panic!("{e:?}"),
    }
    // The client never sent message 3: the server learnt nothing about it.
    let e = server.join().unwrap().unwrap_err();
    assert!(matches!(e, Error::Closed { .. }), "{e:?}");
}

#[test]
fn the_wire_carries_no_plaintext_and_the_key_is_pinned_by_url() {
    let (repo, server_id) = served_repo();
    let addr = serve(repo, server_id.clone(), vec![identity(2).author()]);
    let proxy = Proxy::start(addr, |_, _| {}, None);
    let client = empty(2);
    // Pinned by the URL.
    let key = pull(
        &client,
        &remote(proxy.addr, Some(server_id.author())),
        &as_key(&identity(2)),
    )
    .unwrap();
    assert_eq!(key, Some(server_id.author()));
    let doc = client.doc("main").unwrap();
    assert_eq!(
        client.state(doc).get("secret-key").unwrap(),
        Some(Value::from("secret-value-xyz"))
    );
    let wire = proxy.finish();
    assert!(wire.len() > 500, "{} bytes", wire.len());
    assert!(
        !wire.windows(16).any(|w| w == b"secret-value-xyz"),
        "the value crossed the wire in clear"
    );
    assert!(
        !wire.windows(4).any(|w| w == b"main"),
        "a name crossed in clear"
    );

    // Pinned by the URL to another key: refused before anything is exchanged.
    let other = empty(2);
    let e = pull(
        &other,
        &remote(addr, Some(identity(9).author())),
        &as_key(&identity(2)),
    )
    .unwrap_err();
    assert!(matches!(e, Error::WrongPeerKey { .. }), "{e:?}");
    assert!(other.doc_ids().unwrap().is_empty());
    // Pinned through the options (what the CLI remembers), the same.
    let e = pull(
        &other,
        &remote(addr, None),
        &ConnectOptions {
            expected_key: Some(identity(9).author()),
            ..as_key(&identity(2))
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::WrongPeerKey { presented, .. } if presented == server_id.author()));
}

/// Relays one client to `target` through its own Noise sessions as `mitm`: a man in the middle
/// who holds no key of either side.
fn mitm(target: SocketAddr, mitm: Identity) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = thread::spawn(move || {
        let (c, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(LONG)).unwrap();
        let Ok(client) = noise::respond(c.try_clone().unwrap(), c, &mitm, "victim", 30) else {
            return;
        };
        let s = TcpStream::connect(target).unwrap();
        s.set_read_timeout(Some(LONG)).unwrap();
        let server = noise::initiate(s.try_clone().unwrap(), s, &mitm, None, "server", 30).unwrap();
        let (mut cr, mut cw) = (client.reader, client.writer);
        let (mut sr, mut sw) = (server.reader, server.writer);
        let up = thread::spawn(move || relay(&mut cr, &mut sw));
        relay(&mut sr, &mut cw);
        let _ = up.join();
    });
    (addr, t)
}

fn relay(from: &mut impl Read, to: &mut impl Write) {
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
            return;
        }
    }
}

#[test]
fn a_man_in_the_middle_with_its_own_key_is_caught_by_the_pin() {
    let (repo, server_id) = served_repo();
    let eve = identity(66);
    // Eve's key may read (so a session through her could succeed): only the pin stops her.
    let addr = serve(
        repo,
        server_id.clone(),
        vec![eve.author(), identity(2).author()],
    );

    let (via_eve, t) = mitm(addr, eve.clone());
    let client = empty(2);
    let e = pull(
        &client,
        &remote(via_eve, Some(server_id.author())),
        &as_key(&identity(2)),
    )
    .unwrap_err();
    match e {
        Error::WrongPeerKey {
            expected,
            presented,
            ..
        } => assert_eq!((expected, presented), (server_id.author(), eve.author())),
        e => panic!("{e:?}"),
    }
    assert!(client.doc_ids().unwrap().is_empty());
    t.join().unwrap();

    // Without a pin the client talks to Eve, and is told so: the key it got is Eve's, which
    // trust on first use records and later connections check.
    let (via_eve, t) = mitm(addr, eve.clone());
    let key = pull(&client, &remote(via_eve, None), &as_key(&identity(2))).unwrap();
    assert_eq!(key, Some(eve.author()));
    t.join().unwrap();
}

/// Raw Noise messages, for peers that break the rules on purpose.
fn raw_builder() -> snow::Builder<'static> {
    snow::Builder::new(PATTERN.parse().unwrap())
}

fn send_raw(w: &mut impl Write, msg: &[u8]) {
    w.write_all(&(msg.len() as u16).to_be_bytes()).unwrap();
    w.write_all(msg).unwrap();
    w.flush().unwrap();
}

fn recv_raw(r: &mut impl Read) -> Vec<u8> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len).unwrap();
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    r.read_exact(&mut msg).unwrap();
    msg
}

#[test]
fn a_relayed_identity_payload_does_not_cover_another_static_key() {
    // Eve runs her own handshake with the real server, takes its identity payload (its key and
    // its signature over *its* static key), and presents it to the client with her own static
    // key. The client must see that the signature covers another key.
    let (repo, server_id) = served_repo();
    let addr = serve(repo, server_id.clone(), vec![]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let eve_addr = listener.local_addr().unwrap();
    let eve = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let b = raw_builder();
        let keys = b.generate_keypair().unwrap();
        let mut to_server = b
            .local_private_key(&keys.private)
            .unwrap()
            .prologue(PROLOGUE)
            .unwrap()
            .build_initiator()
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = to_server.write_message(&[], &mut buf).unwrap();
        send_raw(&mut s, &buf[..n]);
        let msg2 = recv_raw(&mut s);
        let mut stolen = [0u8; 1024];
        let n = to_server.read_message(&msg2, &mut stolen).unwrap();
        let stolen = stolen[..n].to_vec();
        assert_eq!(&stolen[..32], server_id.author().as_bytes());

        let (mut c, _) = listener.accept().unwrap();
        let b = raw_builder();
        let keys = b.generate_keypair().unwrap();
        let mut to_client = b
            .local_private_key(&keys.private)
            .unwrap()
            .prologue(PROLOGUE)
            .unwrap()
            .build_responder()
            .unwrap();
        let msg1 = recv_raw(&mut c);
        to_client.read_message(&msg1, &mut buf).unwrap();
        let n = to_client.write_message(&stolen, &mut buf).unwrap();
        send_raw(&mut c, &buf[..n]);
        // The client gives up; it sends nothing more.
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        rest
    });
    let client = empty(2);
    let e = pull(
        &client,
        &remote(eve_addr, Some(identity(1).author())),
        &as_key(&identity(2)),
    )
    .unwrap_err();
    match &e {
        Error::Handshake { reason, .. } => assert!(reason.contains("did not sign"), "{reason}"),
        e => panic!("{e:?}"),
    }
    assert!(eve.join().unwrap().is_empty(), "the client revealed itself");
    // And the signature domain is what the docs say.
    assert_eq!(IDENTITY_DOMAIN, b"weft noise static v1\n");
}

/// Keys of small order (the identity point, canonical and in two non-canonical encodings, and
/// a point of order 4), with a signature that ZIP-215 accepts for any message under each: R
/// the identity point, S = 0. Only weft's key rule refuses them.
fn small_order_payloads() -> Vec<Vec<u8>> {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut identity_signed = identity;
    identity_signed[31] |= 0x80;
    let mut identity_past_p = [0xff; 32];
    identity_past_p[0] = 0xee;
    identity_past_p[31] = 0x7f;
    let order_4 = [0u8; 32];
    [identity, identity_signed, identity_past_p, order_4]
        .iter()
        .map(|key| [&key[..], &identity[..], &[0u8; 32][..]].concat())
        .collect()
}

#[test]
fn an_identity_of_small_order_is_refused_by_either_side() {
    for payload in small_order_payloads() {
        let key = Author(payload[..32].try_into().unwrap()).to_string();
        // A server that presents it in message 2: the client gives up before message 3.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server_payload = payload.clone();
        let server = thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let b = raw_builder();
            let keys = b.generate_keypair().unwrap();
            let mut hs = b
                .local_private_key(&keys.private)
                .unwrap()
                .prologue(PROLOGUE)
                .unwrap()
                .build_responder()
                .unwrap();
            let mut buf = [0u8; 1024];
            let msg1 = recv_raw(&mut c);
            hs.read_message(&msg1, &mut buf).unwrap();
            let n = hs.write_message(&server_payload, &mut buf).unwrap();
            send_raw(&mut c, &buf[..n]);
            let mut rest = Vec::new();
            let _ = c.read_to_end(&mut rest);
            rest
        });
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(LONG)).unwrap();
        let client = noise::initiate(s.try_clone().unwrap(), s, &identity(2), None, "server", 30);
        match client.map(|s| s.remote) {
            Err(Error::Handshake { reason, .. }) => {
                assert!(
                    reason.contains("not a usable ed25519 key"),
                    "{key}: {reason}"
                );
                assert!(reason.contains(&key), "{reason}");
            }
            other => panic!("{key}: {other:?}"),
        }
        assert!(
            server.join().unwrap().is_empty(),
            "the client revealed itself"
        );

        // A client that presents it in message 3.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(LONG)).unwrap();
            noise::respond(s.try_clone().unwrap(), s, &identity(1), "client", 30).map(|s| s.remote)
        });
        let mut c = TcpStream::connect(addr).unwrap();
        let b = raw_builder();
        let keys = b.generate_keypair().unwrap();
        let mut hs = b
            .local_private_key(&keys.private)
            .unwrap()
            .prologue(PROLOGUE)
            .unwrap()
            .build_initiator()
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = hs.write_message(&[], &mut buf).unwrap();
        send_raw(&mut c, &buf[..n]);
        let msg2 = recv_raw(&mut c);
        let mut got = [0u8; 1024];
        hs.read_message(&msg2, &mut got).unwrap();
        let n = hs.write_message(&payload, &mut buf).unwrap();
        send_raw(&mut c, &buf[..n]);
        match server.join().unwrap() {
            Err(Error::Handshake { reason, .. }) => {
                assert!(
                    reason.contains("not a usable ed25519 key"),
                    "{key}: {reason}"
                );
            }
            other => panic!("{key}: {other:?}"),
        }
    }
}

/// A TCP proxy for one connection to `target` that passes the server's bytes through `tamper`
/// (with their offset in the stream) and can cut the link after `cut` bytes from the server.
/// Records the bytes it forwards from the server.
struct Proxy {
    addr: SocketAddr,
    wire: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(
        target: SocketAddr,
        tamper: impl Fn(usize, &mut [u8]) + Send + 'static,
        cut: Option<usize>,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let wire = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&wire);
        let thread = thread::spawn(move || {
            let (client, _) = listener.accept().unwrap();
            let server = TcpStream::connect(target).unwrap();
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let up = thread::spawn(move || {
                let _ = std::io::copy(&mut c_in, &mut s_out);
                let _ = s_out.shutdown(Shutdown::Write);
            });
            let (mut s_in, mut c_out) = (server, client);
            let mut buf = vec![0u8; 4096];
            let mut offset = 0;
            while let Ok(n) = s_in.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut n = n;
                if let Some(cut) = cut {
                    n = n.min(cut - offset);
                }
                tamper(offset, &mut buf[..n]);
                log.lock().unwrap().extend_from_slice(&buf[..n]);
                if c_out.write_all(&buf[..n]).is_err() {
                    break;
                }
                offset += n;
                if cut == Some(offset) {
                    break;
                }
            }
            // The client sees the end of the stream (never a reset), and whatever it still
            // sends goes on to the server until it leaves.
            let _ = c_out.shutdown(Shutdown::Write);
            let _ = up.join();
            let _ = s_in.shutdown(Shutdown::Both);
        });
        Proxy {
            addr,
            wire,
            thread: Some(thread),
        }
    }

    /// Waits for the connection to end; the server's bytes as forwarded.
    fn finish(mut self) -> Vec<u8> {
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.wire.lock().unwrap().clone()
    }
}

/// The server's handshake message (2 + 192 bytes) comes first in its stream.
const SERVER_HANDSHAKE: usize = 2 + 192;

#[test]
fn a_flipped_bit_is_a_clean_error_in_the_handshake_and_after_it() {
    let (repo, server_id) = served_repo();
    let addr = serve(repo, server_id.clone(), vec![identity(2).author()]);
    let pinned = Some(server_id.author());

    // In the server's handshake message: the handshake fails.
    for at in [5, 60, 150, SERVER_HANDSHAKE - 1] {
        let proxy = Proxy::start(
            addr,
            move |off, buf| {
                if (off..off + buf.len()).contains(&at) {
                    buf[at - off] ^= 0x01;
                }
            },
            None,
        );
        let client = empty(2);
        let e = pull(&client, &remote(proxy.addr, pinned), &as_key(&identity(2))).unwrap_err();
        assert!(matches!(e, Error::Handshake { .. }), "byte {at}: {e:?}");
        assert!(client.doc_ids().unwrap().is_empty());
        proxy.finish();
    }

    // In the first transport message (its length, its ciphertext, its tag): the session fails
    // with a typed error and applies nothing.
    for at in [SERVER_HANDSHAKE + 5, SERVER_HANDSHAKE + 40] {
        let proxy = Proxy::start(
            addr,
            move |off, buf| {
                if (off..off + buf.len()).contains(&at) {
                    buf[at - off] ^= 0x80;
                }
            },
            None,
        );
        let client = empty(2);
        let e = pull(&client, &remote(proxy.addr, pinned), &as_key(&identity(2))).unwrap_err();
        assert!(matches!(e, Error::Tampered { .. }), "byte {at}: {e:?}");
        assert!(client.doc_ids().unwrap().is_empty());
        proxy.finish();
    }
    // A length prefix made shorter: the message does not decrypt.
    let proxy = Proxy::start(addr, move |off, buf| set_length(off, buf, 20), None);
    let e = pull(
        &empty(2),
        &remote(proxy.addr, pinned),
        &as_key(&identity(2)),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Tampered { .. }), "{e:?}");
    proxy.finish();
    // Made longer than what the server sent: the client waits for the rest, and times out.
    let proxy = Proxy::start(addr, move |off, buf| set_length(off, buf, 65535), None);
    let e = pull(
        &empty(2),
        &remote(proxy.addr, pinned),
        &ConnectOptions {
            timeout: SHORT,
            ..as_key(&identity(2))
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    proxy.finish();
}

/// Overwrites the length prefix of the server's first transport message with `len`.
fn set_length(off: usize, buf: &mut [u8], len: u16) {
    for (i, b) in len.to_be_bytes().into_iter().enumerate() {
        let at = SERVER_HANDSHAKE + i;
        if (off..off + buf.len()).contains(&at) {
            buf[at - off] = b;
        }
    }
}

#[test]
fn a_stream_cut_inside_a_message_is_a_closed_link() {
    let (repo, server_id) = served_repo();
    let addr = serve(repo, server_id.clone(), vec![identity(2).author()]);
    for cut in [100, SERVER_HANDSHAKE + 1, SERVER_HANDSHAKE + 30] {
        let proxy = Proxy::start(addr, |_, _| {}, Some(cut));
        let client = empty(2);
        let e = pull(
            &client,
            &remote(proxy.addr, Some(server_id.author())),
            &as_key(&identity(2)),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Closed { .. }), "cut at {cut}: {e:?}");
        assert!(client.doc_ids().unwrap().is_empty());
        proxy.finish();
    }
}

/// A fake server: accepts one connection, writes `greeting`, then reads until the client
/// leaves.
fn fake_server(greeting: Vec<u8>) -> (SocketAddr, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        c.write_all(&greeting).unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        got
    });
    (addr, t)
}

#[test]
fn a_server_that_sends_garbage_is_a_clean_error() {
    // Not Noise at all: refused from the length alone.
    let (addr, t) = fake_server(b"HTTP/1.1 200 OK\r\n\r\n".to_vec());
    let e = pull(&empty(2), &remote(addr, None), &as_key(&identity(2))).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Malformed {
                what: "secure handshake",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_peer_fault());
    assert_eq!(
        t.join().unwrap().len(),
        2 + 32,
        "the client sent only message 1"
    );

    // The right length, random bytes: does not decrypt.
    let mut msg = 192u16.to_be_bytes().to_vec();
    msg.extend((0..192u32).map(|i| (i * 31 + 7) as u8));
    let (addr, t) = fake_server(msg);
    let e = pull(&empty(2), &remote(addr, None), &as_key(&identity(2))).unwrap_err();
    assert!(matches!(e, Error::Handshake { .. }), "{e:?}");
    t.join().unwrap();

    // A plaintext sync ERROR frame (what a busy server sends): reported, as the server's words.
    let busy = weft_sync::frame::Frame::Error("server busy (64 clients); try again later".into());
    let (addr, t) = fake_server(busy.encode());
    let e = pull(&empty(2), &remote(addr, None), &as_key(&identity(2))).unwrap_err();
    match &e {
        Error::Unreachable { reason, .. } => assert!(reason.contains("server busy"), "{reason}"),
        e => panic!("{e:?}"),
    }
    t.join().unwrap();
}

#[test]
fn a_client_that_sends_garbage_is_a_clean_error() {
    let id = identity(1);
    for (garbage, malformed) in [
        (b"GET / HTTP/1.0\r\n\r\n".to_vec(), true),
        (vec![0xff; 4], true),
        // A well-formed message 1 (any 32 bytes are an ephemeral key), then a message 3 of the
        // right size that does not decrypt.
        (
            [
                &32u16.to_be_bytes()[..],
                &[9u8; 32],
                &160u16.to_be_bytes(),
                &[7u8; 160],
            ]
            .concat(),
            false,
        ),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let id = id.clone();
        let server = thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(LONG)).unwrap();
            noise::respond(s.try_clone().unwrap(), s, &id, "client", 30).map(|s| s.remote)
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(&garbage).unwrap();
        let e = server.join().unwrap().unwrap_err();
        if malformed {
            assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
        } else {
            assert!(matches!(e, Error::Handshake { .. }), "{e:?}");
        }
    }
}

#[test]
fn a_peer_that_stalls_mid_handshake_times_out() {
    // A server that reads message 1 and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        got.len()
    });
    let e = pull(
        &empty(2),
        &remote(addr, None),
        &ConnectOptions {
            timeout: SHORT,
            ..as_key(&identity(2))
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert_eq!(t.join().unwrap(), 2 + 32);

    // A client that sends message 1, reads message 2, and never sends message 3.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(SHORT)).unwrap();
        noise::respond(s.try_clone().unwrap(), s, &identity(1), "client", 0).map(|s| s.remote)
    });
    let mut c = TcpStream::connect(addr).unwrap();
    let b = raw_builder();
    let keys = b.generate_keypair().unwrap();
    let mut hs = b
        .local_private_key(&keys.private)
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = hs.write_message(&[], &mut buf).unwrap();
    send_raw(&mut c, &buf[..n]);
    let msg2 = recv_raw(&mut c);
    assert_eq!(msg2.len(), 192);
    let e = server.join().unwrap().unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    drop(c);
}

#[test]
fn tcp_urls_pin_keys() {
    let key = identity(1).author();
    let url = format!("tcp://{key}@127.0.0.1:7450");
    let r = Remote::parse(&url).unwrap();
    assert_eq!(
        r,
        Remote::Tcp {
            host: "127.0.0.1".into(),
            port: 7450,
            key: Some(key),
        }
    );
    assert_eq!(r.to_string(), url);
    assert_eq!(r.tcp_addr().as_deref(), Some("127.0.0.1:7450"));
    let plain = Remote::parse("tcp://example.org:7450").unwrap();
    assert_eq!(plain.to_string(), "tcp://example.org:7450");
    let v6 = Remote::parse(&format!("tcp://{key}@[::1]:7450")).unwrap();
    assert_eq!(v6.to_string(), format!("tcp://{key}@[::1]:7450"));
    assert_eq!(v6.tcp_addr().as_deref(), Some("[::1]:7450"));
    for bad in [
        "tcp://abc@host:1".to_string(),
        format!("tcp://{}@host:1", &key.to_string()[..63]),
        format!("tcp://{key}x@host:1"),
        format!("tcp://{key}@:1"),
        format!("tcp://{key}@host"),
    ] {
        assert!(
            matches!(Remote::parse(&bad), Err(Error::BadUrl { .. })),
            "{bad}"
        );
    }
}

#[test]
fn the_servers_own_key_may_do_everything() {
    let (repo, server_id) = served_repo();
    let doc = repo.doc("main").unwrap();
    let reference = empty(5);
    crate::sync(&reference, &repo, Direction::Pull);
    // No --allow, no role for anyone else: only the key the server holds gets in.
    let addr = serve(repo, server_id.clone(), vec![]);
    let client = empty(3);
    let key = pull(
        &client,
        &remote(addr, Some(server_id.author())),
        &as_key(&server_id),
    )
    .unwrap();
    assert_eq!(key, Some(server_id.author()));
    assert_same(&reference, &client, doc);
    // And may push, even a new document (named: without names, only the documents the
    // server announced are offered over TCP).
    let notes = client.create_doc("notes").unwrap();
    let named = |direction| weft_sync::SyncOptions {
        direction,
        docs: Some(vec!["notes".into()]),
    };
    let pushed = transport::sync(
        &client,
        &remote(addr, None),
        &as_key(&server_id),
        opts(Direction::Push),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(pushed.stats.changes_out, 0, "not offered unnamed");
    transport::sync(
        &client,
        &remote(addr, None),
        &as_key(&server_id),
        named(Direction::Push),
        &mut |_| {},
    )
    .unwrap();
    let back = empty(4);
    pull(&back, &remote(addr, None), &as_key(&server_id)).unwrap();
    assert_same(&client, &back, notes);
}

/// ssh URLs as git reads them: scp-like `[user@]host:path` (a `:` before any `/`), and `~` in
/// `ssh://host/~/path` under a home directory, not at the root.
#[test]
fn ssh_urls_as_git_reads_them() {
    let ssh = |user: Option<&str>, host: &str, port: Option<u16>, path: &str| Remote::Ssh {
        user: user.map(str::to_string),
        host: host.into(),
        port,
        path: path.into(),
    };
    for (url, want, shown) in [
        (
            "me@phone:notes",
            ssh(Some("me"), "phone", None, "notes"),
            "me@phone:notes",
        ),
        (
            "phone:notes/x",
            ssh(None, "phone", None, "notes/x"),
            "phone:notes/x",
        ),
        (
            "me@phone:/srv/notes",
            ssh(Some("me"), "phone", None, "/srv/notes"),
            "ssh://me@phone/srv/notes",
        ),
        (
            "phone:~/notes",
            ssh(None, "phone", None, "~/notes"),
            "ssh://phone/~/notes",
        ),
        (
            "ssh://h/~/notes",
            ssh(None, "h", None, "~/notes"),
            "ssh://h/~/notes",
        ),
        (
            "ssh://h:22/~bob/notes",
            ssh(None, "h", Some(22), "~bob/notes"),
            "ssh://h:22/~bob/notes",
        ),
        (
            "ssh://h/srv/notes",
            ssh(None, "h", None, "/srv/notes"),
            "ssh://h/srv/notes",
        ),
    ] {
        let r = Remote::parse(url).unwrap();
        assert_eq!(r, want, "{url}");
        assert_eq!(r.to_string(), shown, "{url}");
        assert_eq!(Remote::parse(shown).unwrap(), want, "{shown}");
    }
    // A `/` before the first `:` is a local path, as in git.
    for path in ["./a:b", "/x/a:b", "notes", "../n"] {
        assert!(matches!(Remote::parse(path), Ok(Remote::Path(_))), "{path}");
    }
    for bad in ["@h:p", "h:", "-oProxyCommand=x:p"] {
        assert!(
            matches!(Remote::parse(bad), Err(Error::BadUrl { .. })),
            "{bad}"
        );
    }
}

/// A refused key is logged once, then at most once per `REFUSAL_LOG_INTERVAL`, with the count
/// of refusals left out (a revoked replica's live sync retries every 2 s).
#[test]
fn refusals_are_logged_once_a_minute_per_key() {
    use std::time::Instant;
    use weft_net::server::{RefusalLog, REFUSAL_LOG_INTERVAL};

    let mut log = RefusalLog::default();
    let (k1, k2) = (identity(1).author(), identity(2).author());
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    assert_eq!(log.admit(k1, at(0)), Some(0));
    // Every 2 s for the rest of the minute: left out.
    for s in (2..60).step_by(2) {
        assert_eq!(log.admit(k1, at(s)), None, "at {s} s");
    }
    // Another key is logged on its own.
    assert_eq!(log.admit(k2, at(10)), Some(0));
    // A minute on: one line, counting the 29 left out.
    assert_eq!(log.admit(k1, t0 + REFUSAL_LOG_INTERVAL), Some(29));
    assert_eq!(log.admit(k1, at(61)), None);
    assert_eq!(log.admit(k2, at(70)), Some(0));
}
