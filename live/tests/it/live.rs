//! Live sync and sync status: the example end to end, what the status computes, stopping, and
//! the cost of a round with nothing new.

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{mpsc, Arc},
    thread,
    time::{Duration, Instant},
};

use weft_dag::{Repo, Role, Value};
use weft_live::{
    live::{Live, LiveEvent, LiveOptions, Peer},
    status,
};
use weft_net::{
    server,
    transport::{self, ConnectOptions, Remote, Synced},
};
use weft_sync::{pump, Direction, Endpoint, Initiator, Responder};

use crate::{empty, grant, identity, opts, writer_clone};

#[path = "../../examples/live.rs"]
#[allow(dead_code)]
mod example;

#[test]
fn the_example_converges() {
    let report = example::run(Duration::from_secs(60)).unwrap();
    let (on_a, on_b) = report.written;
    let doc = report.a.doc("main").unwrap();
    assert_eq!(report.a.heads(doc).unwrap(), report.b.heads(doc).unwrap());
    let [s] = &report.status[..] else {
        panic!("one remote expected: {:?}", report.status)
    };
    assert_eq!(s.remote, "a");
    assert!(s.converged && s.last_error.is_none(), "{s:?}");
    let [d] = &s.docs[..] else {
        panic!("one document expected: {s:?}")
    };
    assert!(d.converged && d.ahead == 0 && d.behind == Some(0), "{d:?}");
    assert_eq!(d.common, d.ours);
    // Who delivered what: `a` names `b` by its short key, `b` names `a` by its peer name.
    let source = |repo: &Repo, cid| {
        repo.arrivals(doc, 100)
            .unwrap()
            .into_iter()
            .find(|x| x.cid == cid)
            .unwrap_or_else(|| panic!("no arrival record of {cid}"))
            .source
    };
    assert_eq!(source(&report.a, on_b), Some(report.b_short.clone()));
    assert_eq!(source(&report.b, on_a), Some("a".to_string()));
    assert_eq!(source(&report.a, on_a), None);
    assert!(report.text.contains("converged true"), "{}", report.text);
}

/// One session of `b` (initiator) with `a`, as the `Synced` that `transport::sync` returns.
fn session(b: &Repo, a: &Repo, direction: Direction) -> Synced {
    let mut i = Initiator::new(b, opts(direction)).unwrap();
    pump(&mut i, &mut Responder::new(a).unwrap(), None).unwrap();
    Synced {
        stats: i.stats().clone(),
        peer_key: None,
        outcome: i.outcome(),
    }
}

fn set(repo: &Repo, key: &str, n: usize) {
    let doc = repo.doc("main").unwrap();
    for i in 0..n {
        let mut tx = repo.transaction(doc);
        tx.set(key, Value::from(i as i64)).unwrap();
        tx.commit().unwrap();
    }
}

#[test]
fn status_counts_what_each_side_lacks() {
    let a = empty(1);
    let doc = a.create_doc("main").unwrap();
    let b = writer_clone(&a, doc, 2);
    assert!(status::remote(&b, "a").unwrap().is_none());
    let synced = session(&b, &a, Direction::Both);
    status::record(&b, "a", "mem://a", Ok(&synced)).unwrap();
    let s = status::remote(&b, "a").unwrap().unwrap();
    assert!(s.converged, "{s:?}");
    assert_eq!(s.url, "mem://a");
    assert_eq!(s.last_success, Some(s.last_attempt));
    let d = &s.docs[0];
    assert_eq!((d.ahead, d.behind, d.converged), (0, Some(0), true));
    // Already in sync at the greeting: no round trip, so no count from a.
    assert_eq!(d.their_count, None);

    // b writes 3: ahead 3 until the next sync.
    set(&b, "mine", 3);
    let d = &status::remote(&b, "a").unwrap().unwrap().docs[0];
    assert_eq!((d.ahead, d.behind, d.converged), (3, Some(0), false));
    assert_eq!(d.common, d.theirs, "their heads are below ours");

    // Both write, then b pulls: b has a's heads, a lacks b's 3 + 2 more.
    set(&a, "theirs", 4);
    set(&b, "mine", 2);
    let synced = session(&b, &a, Direction::Pull);
    status::record(&b, "a", "mem://a", Ok(&synced)).unwrap();
    let d = &status::remote(&b, "a").unwrap().unwrap().docs[0];
    assert_eq!((d.ahead, d.behind, d.converged), (5, Some(0), false));

    // a writes 1 more that b has not seen; b pushes: a now holds b's changes, b lacks 1. b does
    // not hold a's new head, but a's heads of the pull are still common.
    set(&a, "theirs", 1);
    let synced = session(&b, &a, Direction::Push);
    status::record(&b, "a", "mem://a", Ok(&synced)).unwrap();
    let d = &status::remote(&b, "a").unwrap().unwrap().docs[0];
    assert_eq!(d.their_count, Some(a.change_count(doc).unwrap()));
    assert_eq!(
        (d.ahead, d.behind, d.converged),
        (0, Some(1), false),
        "{d:?}"
    );

    // A failure keeps what the last success found, with the error on one line.
    status::record(&b, "a", "mem://a", Err("cannot reach a:\nrefused")).unwrap();
    let s = status::remote(&b, "a").unwrap().unwrap();
    assert_eq!(s.last_error.as_deref(), Some("cannot reach a: refused"));
    assert!(!s.converged);
    assert_eq!(s.docs.len(), 1);
    assert!(s.last_success.is_some());

    // Listed by name, and forgotten.
    status::record(&b, "z", "mem://z", Err("down")).unwrap();
    let names: Vec<_> = status::remotes(&b)
        .unwrap()
        .into_iter()
        .map(|s| s.remote)
        .collect();
    assert_eq!(names, ["a", "z"]);
    assert!(status::forget(&b, "z").unwrap());
    assert!(!status::forget(&b, "z").unwrap());
    assert_eq!(status::remotes(&b).unwrap().len(), 1);
}

#[test]
fn delays_leave_out_local_changes_and_split_by_source() {
    let a = empty(1);
    let doc = a.create_doc("main").unwrap();
    let b = writer_clone(&a, doc, 2);
    set(&a, "k", 3);
    let mut i = Initiator::new(&b, opts(Direction::Pull))
        .unwrap()
        .source("a");
    pump(&mut i, &mut Responder::new(&a).unwrap(), None).unwrap();
    set(&b, "mine", 2);
    let d = status::delays(&b, &[doc], 1000).unwrap();
    // The genesis and grant came with the clone, from a session that named no source: they
    // count as local, with b's 2. Then 3 from "a".
    assert_eq!(d.local, 4);
    assert_eq!(d.all.count, 3);
    let named: Vec<_> = d
        .sources
        .iter()
        .map(|s| (&s.source[..], s.figures.count))
        .collect();
    assert_eq!(named, [("a", 3)]);
    assert_eq!(d.docs[0].local, 4);
    assert_eq!(d.docs[0].figures.count, 3);
    let d = status::delays(&b, &[doc], 5).unwrap();
    assert_eq!(d.limit, 5);
    assert_eq!(d.local + d.all.count, 5, "{d:?}");
}

/// A repo served on loopback TCP; returns its URL (key pinned).
fn serve(repo: Arc<Repo>, seed: u8) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "tcp://{}@{}",
        identity(seed).author(),
        listener.local_addr().unwrap()
    );
    thread::spawn(move || server::serve_tcp(repo, listener, identity(seed), Default::default()));
    url
}

fn as_key(seed: u8) -> ConnectOptions {
    ConnectOptions {
        identity: Some(identity(seed)),
        ..ConnectOptions::default()
    }
}

#[test]
fn a_peer_that_cannot_be_reached_is_reported_and_recorded() {
    let b = Arc::new(empty(2));
    b.create_doc("main").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let peer = Peer::new(&url, as_key(2)).unwrap().named("gone");
    let live = Live::start(Arc::clone(&b), vec![peer], LiveOptions::default()).unwrap();
    let events = live.subscribe();
    live.sync_now();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap();
        if let LiveEvent::Failed { remote, error } = e {
            assert_eq!(remote, "gone");
            assert!(error.contains("cannot reach"), "{error}");
            break;
        }
    }
    let [s] = &live.status().unwrap()[..] else {
        panic!("one status expected")
    };
    assert_eq!((s.remote.as_str(), s.url.as_str()), ("gone", url.as_str()));
    assert!(s.last_error.is_some() && s.last_success.is_none() && !s.converged);
}

#[test]
fn dropping_live_cuts_off_a_session_with_a_silent_peer() {
    let b = Arc::new(empty(2));
    b.create_doc("main").unwrap();
    // Accepts, then says nothing: the handshake waits for the 60 s silence timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", silent.local_addr().unwrap());
    let peer = Peer::new(&url, as_key(2)).unwrap();
    let live = Live::start(Arc::clone(&b), vec![peer], LiveOptions::default()).unwrap();
    let (mut conn, _) = silent.accept().unwrap();
    // The client's first handshake message is here: it now waits for the answer.
    let mut first = [0u8; 34];
    conn.read_exact(&mut first).unwrap();
    let t = Instant::now();
    drop(live);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "stopping took {:?}",
        t.elapsed()
    );
    // Nothing was recorded for a session cut off by the stop.
    assert!(status::remotes(&b).unwrap().is_empty());
}

#[test]
fn a_local_commit_is_pushed_after_the_debounce_and_reported() {
    let a = Arc::new(empty(1));
    let doc = a.create_doc("main").unwrap();
    grant(&a, doc, identity(2).author(), Role::Writer);
    let url = serve(Arc::clone(&a), 1);
    let b = Arc::new(empty(2));
    // A long interval: only the first round and the commit make b sync.
    let peer = Peer::new(&url, as_key(2)).unwrap().named("a");
    let arrived = b.subscribe();
    let live = Live::start(
        Arc::clone(&b),
        vec![peer],
        LiveOptions {
            interval: Duration::from_secs(3600),
            seed: Some(3),
            ..LiveOptions::default()
        },
    )
    .unwrap();
    let events = live.subscribe();
    let deadline = Instant::now() + Duration::from_secs(30);
    let left = || deadline.saturating_duration_since(Instant::now());
    while b.heads(doc).unwrap() != a.heads(doc).unwrap() {
        arrived.next_timeout(left()).unwrap();
    }
    // The first round's events, up to Converged.
    loop {
        if let LiveEvent::Converged { .. } = events.recv_timeout(left()).unwrap() {
            break;
        }
    }
    let mut tx = b.transaction(doc);
    tx.set("k", Value::from(1)).unwrap();
    let cid = tx.commit().unwrap().unwrap().cid;
    // Edge-triggered: diverged by the commit, then converged by the push.
    let mut seen = Vec::new();
    loop {
        let e = events.recv_timeout(left()).unwrap();
        let done = matches!(e, LiveEvent::Converged { .. });
        seen.push(e);
        if done {
            break;
        }
    }
    assert!(
        matches!(&seen[0], LiveEvent::Diverged { remote } if remote == "a"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, LiveEvent::Synced { stats, .. } if stats.changes_out == 1)),
        "{seen:?}"
    );
    assert!(a.has_change(&cid).unwrap());
}

/// A TCP relay that counts the bytes of each connection; every finished connection's
/// `(client to server, server to client)` byte counts are sent on the returned channel.
fn counting_relay(target: SocketAddr) -> (SocketAddr, mpsc::Receiver<(u64, u64)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for client in listener.incoming() {
            let client = client.unwrap();
            let server = TcpStream::connect(target).unwrap();
            let copy = |mut from: TcpStream, mut to: TcpStream| {
                thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    let mut n = 0u64;
                    while let Ok(k) = from.read(&mut buf) {
                        if k == 0 || to.write_all(&buf[..k]).is_err() {
                            break;
                        }
                        n += k as u64;
                    }
                    let _ = to.shutdown(Shutdown::Write);
                    n
                })
            };
            let up = copy(client.try_clone().unwrap(), server.try_clone().unwrap());
            let down = copy(server, client);
            let tx = tx.clone();
            thread::spawn(move || {
                let _ = tx.send((up.join().unwrap(), down.join().unwrap()));
            });
        }
    });
    (addr, rx)
}

/// The bytes of a sync with nothing to exchange: 1 document in sync on both sides, both
/// directions, over `tcp://` (Noise handshake and framing included; TCP/IP headers not).
/// The figure is in BENCHMARKS.md ("Live sync: cost of a round with nothing new"); reproduce
/// it with `cargo test -p weft-live --test it live::nothing_new -- --nocapture`.
#[test]
fn nothing_new_costs_a_few_hundred_bytes() {
    let a = Arc::new(empty(1));
    let doc = a.create_doc("main").unwrap();
    let b = writer_clone(&a, doc, 2);
    set(&a, "k", 10);
    let url = serve(Arc::clone(&a), 1);
    let Remote::Tcp { host, port, key } = Remote::parse(&url).unwrap() else {
        unreachable!()
    };
    let (relay, counts) = counting_relay(format!("{host}:{port}").parse().unwrap());
    let remote = Remote::Tcp {
        host: relay.ip().to_string(),
        port: relay.port(),
        key,
    };
    let sync =
        || transport::sync(&b, &remote, &as_key(2), opts(Direction::Both), &mut |_| {}).unwrap();
    let first = sync();
    assert_eq!(first.stats.changes_in, 10);
    let _ = counts.recv_timeout(Duration::from_secs(30)).unwrap();
    let second = sync();
    let (up, down) = counts.recv_timeout(Duration::from_secs(30)).unwrap();
    let s = &second.stats;
    assert_eq!((s.changes_in, s.changes_out, s.round_trips), (0, 0, 0));
    // Each side's handshake messages (32 + 160 bytes up, 192 down, each with a 2-byte length),
    // then the sync stream in Noise messages of 18 bytes of overhead (length and tag) each.
    let messages = |total: u64, stream: u64, handshake: u64| {
        let framing = total - stream - handshake;
        assert_eq!(
            framing % 18,
            0,
            "{framing} B of framing is not whole messages"
        );
        framing / 18
    };
    let (m_up, m_down) = (
        messages(up, s.bytes_out, 2 + 32 + 2 + 160),
        messages(down, s.bytes_in, 2 + 192),
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "nothing new, 1 document: {} B on the wire ({up} B up, {down} B down): sync protocol \
             {} B ({} B out, {} B in), Noise handshake 390 B, Noise framing {} B ({m_up} \
             messages up, {m_down} down)",
            up + down,
            s.bytes_in + s.bytes_out,
            s.bytes_out,
            s.bytes_in,
            18 * (m_up + m_down)
        );
    }
    assert!(up + down < 1024, "{} B", up + down);
}
