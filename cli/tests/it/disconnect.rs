//! Abrupt disconnects against a real `weft serve --listen`: 50 clients vanish right after
//! connecting, inside the Noise handshake, or in the middle of a session (a real `weft pull`
//! through a proxy that forwards N bytes one way and then closes both sides). Afterwards an
//! honest pull still works, the server's threads and open descriptors come back to what they were
//! when it was idle, and its repo passes `fsck`.
//!
//! Nothing here measures time: the server is polled (through /proc) until it is idle again, with
//! a generous deadline that only a leak reaches.

use std::{
    fs,
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use crate::util::{assert_one_line_error, Dir, Proc};

/// Changes in the served document: a pull of all of them takes many transport messages.
const CHANGES: usize = 400;

/// How long the server may take to be idle again.
const SETTLE: Duration = Duration::from_secs(30);

/// Bytes the client sends in the handshake: message 1 (2 + 32) and message 3 (2 + 160).
const CLIENT_HANDSHAKE: usize = 34 + 162;
/// Bytes the server sends in the handshake: message 2 (2 + 192).
const SERVER_HANDSHAKE: usize = 194;

/// Threads and open descriptors of process `pid`, from /proc.
fn threads_and_fds(pid: u32) -> (usize, usize) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Threads: line in /proc/{pid}/status"));
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    (threads, fds)
}

/// Polls until `pid` holds at most `idle` threads and descriptors, for up to [`SETTLE`]; returns
/// the last reading.
fn wait_for_idle(pid: u32, idle: (usize, usize)) -> (usize, usize) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let now = threads_and_fds(pid);
        if (now.0 <= idle.0 && now.1 <= idle.1) || Instant::now() > deadline {
            return now;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Copies a directory tree (a repo no process holds).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// Which way a [`proxy`] counts the bytes it forwards before it cuts the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Never: a plain forwarder.
    Never,
    /// After N bytes from the client to the server.
    ToServer(usize),
    /// After N bytes from the server to the client.
    ToClient(usize),
}

/// Forwards `from` to `to`, at most `budget` bytes (if any); then, or when either side ends,
/// shuts both connections down. Returns the bytes forwarded.
fn pump(mut from: &TcpStream, mut to: &TcpStream, budget: Option<usize>) -> usize {
    let mut buf = [0u8; 4096];
    let mut sent = 0;
    loop {
        let want = budget.map_or(buf.len(), |b| (b - sent).min(buf.len()));
        if want == 0 {
            break;
        }
        match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                sent += n;
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    sent
}

/// A one-connection proxy to `server` on a fresh loopback port: returns the port and a thread
/// that serves it and returns (bytes to the server, bytes to the client).
fn proxy(server: &str, cut: Cut) -> (u16, thread::JoinHandle<(usize, usize)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = server.to_string();
    let handle = thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        drop(listener);
        let upstream = TcpStream::connect(&server).unwrap();
        let (to_server, to_client) = match cut {
            Cut::Never => (None, None),
            Cut::ToServer(n) => (Some(n), None),
            Cut::ToClient(n) => (None, Some(n)),
        };
        thread::scope(|s| {
            let up = s.spawn(|| pump(&client, &upstream, to_server));
            let down = pump(&upstream, &client, to_client);
            (up.join().unwrap(), down)
        })
    });
    (port, handle)
}

/// One raw client that drops its connection at some point of the handshake.
fn raw_client(addr: &str, kind: usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    match kind {
        // Connect, then close.
        0 => {}
        // Half of message 1's length prefix.
        1 => s.write_all(&[0]).unwrap(),
        // Message 1's length and a third of its key.
        2 => {
            s.write_all(&[0, 32]).unwrap();
            s.write_all(&[7; 10]).unwrap();
        }
        // All of message 1 (any 32 bytes are an X25519 key), then close without reading the
        // server's message 2.
        3 => {
            s.write_all(&[0, 32]).unwrap();
            s.write_all(&[9; 32]).unwrap();
        }
        // Message 1, the server's message 2, then half of message 3.
        _ => {
            s.write_all(&[0, 32]).unwrap();
            s.write_all(&[11; 32]).unwrap();
            let mut msg2 = [0u8; SERVER_HANDSHAKE];
            s.read_exact(&mut msg2).unwrap();
            assert_eq!(&msg2[..2], &[0, 192], "not a Noise message 2");
            s.write_all(&[0, 160]).unwrap();
            s.write_all(&[13; 80]).unwrap();
        }
    }
    drop(s);
}

/// `weft pull URL --json` in `dir`, through a proxy to `server` that cuts the way `cut` says.
/// Returns what the pull did and the proxy's byte counts.
fn pull_through(
    dir: &Dir,
    key: &str,
    server: &str,
    cut: Cut,
) -> (crate::util::Out, (usize, usize)) {
    let (port, proxy) = proxy(server, cut);
    let url = format!("tcp://{key}@127.0.0.1:{port}");
    let out = dir.run(&["pull", &url, "--json"]);
    (out, proxy.join().unwrap())
}

#[test]
fn clients_that_vanish_cost_the_server_nothing() {
    // The server's repo: a document of which the client lacks CHANGES + 1 changes (the grant
    // and the batch). Everything is done before `serve` starts, so that no command reaches the
    // server's daemon socket until the end: every thread and descriptor it opens after it is
    // idle is a network one.
    let server = Dir::init();
    server.ok(&["set", "seed", "1"]);
    let base = Dir::new();
    base.ok(&["clone", server.path().to_str().unwrap(), "."]);
    let client_key = base.ok(&["id"]).trim().to_string();
    server.ok(&["grant", &client_key, "--role", "reader"]);
    let mut batch = Proc::spawn(&mut server.cmd(&["batch"]));
    let lines: String = (0..CHANGES)
        .map(|i| format!("set k/{} {i}\n", i % 50))
        .collect();
    batch.write_stdin(lines.as_bytes());
    batch.close_stdin();
    let out = batch.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());

    let (mut serve, url) = server.serve_tcp();
    let pid = serve.pid();
    let (server_key, addr) = url
        .strip_prefix("tcp://")
        .and_then(|r| r.split_once('@'))
        .unwrap_or_else(|| panic!("not a pinnable URL: {url}"));
    let idle = threads_and_fds(pid);

    // A whole pull through the proxy: how many bytes each way.
    let whole = Dir::new();
    copy_tree(base.path(), whole.path());
    let (out, (to_server, to_client)) = pull_through(&whole, server_key, addr, Cut::Never);
    let report = out.success().json();
    assert_eq!(report["changes_in"], CHANGES as u64 + 1, "{report}");
    assert!(
        to_server > CLIENT_HANDSHAKE + 2 && to_client > SERVER_HANDSHAKE + 2,
        "{to_server} bytes to the server, {to_client} to the client"
    );

    // 24 raw clients, all at once: after connecting, inside message 1, after it, inside 3.
    thread::scope(|s| {
        for i in 0..24 {
            let kind = if i < 8 { 0 } else { 1 + (i - 8) / 4 };
            s.spawn(move || raw_client(addr, kind));
        }
    });

    // 26 real pulls, four at a time, each cut after N bytes one way: inside the handshake,
    // inside the first length prefix and the first message after it, and spread over the rest.
    let spread = |total: usize, i: usize| 1 + i * (total - 2) / 9;
    let mut cuts = vec![
        Cut::ToServer(17),
        Cut::ToServer(34 + 81),
        Cut::ToServer(CLIENT_HANDSHAKE + 1),
        Cut::ToServer(CLIENT_HANDSHAKE + 10),
        Cut::ToClient(97),
        Cut::ToClient(SERVER_HANDSHAKE + 1),
        Cut::ToClient(SERVER_HANDSHAKE + 10),
    ];
    cuts.extend((0..10).map(|i| Cut::ToServer(spread(to_server, i))));
    cuts.extend((0..9).map(|i| Cut::ToClient(spread(to_client, i))));
    assert_eq!(24 + cuts.len(), 50);
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(0usize);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while let Some(&cut) = cuts.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let dir = Dir::new();
                    copy_tree(base.path(), dir.path());
                    let (out, sent) = pull_through(&dir, server_key, addr, cut);
                    let what = format!("{cut:?} (forwarded {sent:?}): {}", out.report());
                    match out.code() {
                        Some(0) => {}
                        // The connection broke (also inside a message): exit 8, one line.
                        Some(8) => {
                            assert_one_line_error(&out.stderr(), &what);
                            *failed.lock().unwrap() += 1;
                        }
                        _ => panic!("a cut pull ended otherwise: {what}"),
                    }
                    // Whatever part of the pull it applied, the client's repo is whole.
                    dir.ok(&["fsck"]);
                }
            });
        }
    });
    assert!(
        *failed.lock().unwrap() >= cuts.len() / 2,
        "most cut pulls must fail"
    );

    // An honest client still gets everything.
    let honest = Dir::new();
    copy_tree(base.path(), honest.path());
    let report = honest.json(&["pull", &url, "--json"]);
    assert_eq!(report["changes_in"], CHANGES as u64 + 1, "{report}");

    // The server lets go of every thread and descriptor the 50 clients cost it.
    let now = wait_for_idle(pid, idle);
    assert!(
        now.0 <= idle.0 && now.1 <= idle.1,
        "after {} s the server holds {} threads and {} descriptors; idle it held {} and {}",
        SETTLE.as_secs(),
        now.0,
        now.1,
        idle.0,
        idle.1
    );

    // Same heads, and the server's repo is whole (both answered by the server itself).
    assert_eq!(honest.heads(), server.heads());
    assert!(server.ok(&["fsck"]).ends_with(": ok\n"));
    honest.ok(&["fsck"]);
    serve.term();
    let out = serve.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    let log = out.stderr();
    assert!(!log.contains("panicked"), "{log}");
}
