//! Daemon routing: while `weft serve` holds the repo, every other command runs in it through
//! `.weft/weft.sock`, with the same output and exit codes as when it runs on its own.

use std::{
    io::{Read as _, Write as _},
    os::unix::net::UnixStream,
    process::{Command, Stdio},
};

use serde_json::json;

use crate::util::{is_author, s, weft_bin, Dir, Proc, TestCmd};

/// Everything a server sends on a raw connection until it closes it. A server that leaves
/// without reading all of a bad request may make the end a connection reset instead of EOF.
fn server_reply(mut conn: UnixStream) -> Vec<u8> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return reply,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return reply,
            Err(e) => panic!("reading the reply: {e}"),
        }
    }
}

/// The frames of a server reply, as (kind, payload).
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 5, "truncated frame header in {bytes:?}");
        let len = u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
        assert!(bytes.len() >= 5 + len, "truncated frame in {bytes:?}");
        frames.push((bytes[0], bytes[5..5 + len].to_vec()));
        bytes = &bytes[5 + len..];
    }
    frames
}

/// Asserts that a raw reply is HELLO, STDERR frames making one `weft: error:` line that
/// contains `what`, and EXIT 2.
fn assert_refused(reply: &[u8], what: &str) {
    let frames = frames(reply);
    assert!(frames.len() >= 3, "{frames:?}");
    assert_eq!(frames[0].0, 0x10, "HELLO first: {frames:?}");
    assert!(frames[0].1.starts_with(b"weft-rpc"));
    let (last, middle) = frames[1..].split_last().unwrap();
    assert_eq!(*last, (0x13, vec![2]), "EXIT 2 last: {frames:?}");
    assert!(
        middle.iter().all(|f| f.0 == 0x12),
        "only STDERR: {frames:?}"
    );
    let err: Vec<u8> = middle.iter().flat_map(|f| f.1.clone()).collect();
    let err = String::from_utf8(err).unwrap();
    assert!(err.starts_with("weft: error: "), "{err}");
    assert!(err.ends_with('\n'), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(what), "{err:?} does not mention {what:?}");
}

#[test]
fn commands_run_in_the_serving_process() {
    let dir = Dir::init();
    let mut server = dir.serve();

    let c1 = dir.ok(&["set", "x", "1"]).trim().to_string();
    assert_eq!(dir.ok(&["get", "x"]), "1\n");
    assert_eq!(dir.json(&["get", "x", "--json"])["kind"], "register");
    dir.ok(&["incr", "n", "5"]);
    dir.ok(&["incr", "n", "-2"]);
    dir.ok(&["sadd", "tags", "a", "b"]);
    dir.ok(&["srem", "tags", "a"]);
    dir.ok(&["set", "gone", "soon"]);
    assert_eq!(dir.ok(&["-q", "rm", "gone"]), "");
    assert_eq!(dir.ok(&["ls"]), "n\t3\ntags\t[\"b\"]\nx\t1\n");
    assert_eq!(dir.ok(&["log"]).lines().count(), 8);
    assert_eq!(dir.run(&["log", "--json"]).json_lines().len(), 8);
    assert!(dir.ok(&["fsck"]).ends_with(": ok\n"));
    assert!(is_author(dir.ok(&["id"]).trim()));
    assert!(dir.ok(&["show", &c1]).contains("signature valid"));
    assert_eq!(
        dir.ok(&["doc", "new", "notes"]).split('\t').next(),
        Some("notes")
    );
    assert_eq!(dir.ok(&["-d", "notes", "set", "k", "v"]).lines().count(), 1);
    assert_eq!(dir.ok(&["-d", "notes", "get", "k"]), "\"v\"\n");
    // Raw bytes survive the relay.
    let block = dir.run(&["block", "get", &c1]).success();
    assert!(!block.stdout_bytes().is_empty());
    let heads = dir.heads();

    // Everything went through the server: it still holds the repo and printed nothing else.
    assert!(dir.socket().exists());
    server.close_stdin();
    let out = server.finish().stdin_closed();
    assert_eq!(out.stdout(), "");
    assert!(!dir.socket().exists(), "serve left its socket behind");

    // The same repo, opened directly, agrees.
    assert_eq!(dir.heads(), heads);
    assert_eq!(dir.ok(&["ls"]), "n\t3\ntags\t[\"b\"]\nx\t1\n");
    assert_eq!(dir.ok(&["-d", "notes", "get", "k"]), "\"v\"\n");
    assert!(dir.ok(&["fsck"]).ends_with(": ok\n"));
}

#[test]
fn serve_json_readiness_line() {
    let dir = Dir::init();
    let mut p = Proc::spawn(&mut dir.cmd(&["serve", "--json"]));
    let v = p.json_line();
    assert_eq!(v, json!({"root": dir.path().display().to_string()}));
    assert!(dir.socket().exists());
    assert_eq!(dir.heads().len(), 1);
    p.close_stdin();
    assert_eq!(p.finish().stdin_closed().stdout(), "");
}

#[test]
fn proxied_failures_keep_their_exit_codes() {
    let dir = Dir::init();
    dir.ok(&["set", "reg", "1"]);
    dir.ok(&["incr", "ctr"]);
    let _server = dir.serve();

    let err = dir.fails(4, &["get", "missing"]);
    assert!(err.contains("missing"), "{err}");
    dir.fails(4, &["-d", "nope", "get", "reg"]);
    dir.fails(2, &["show", "notacid"]);
    dir.fails(2, &["set", "k", r#"{"/":"nope"}"#]);
    dir.fails(2, &["doc", "new", "has space"]);
    dir.fails(2, &["set", "", "1"]);
    dir.fails(2, &["get", "--bogus", "reg"]);
    dir.fails(5, &["incr", "reg"]);
    dir.fails(5, &["set", "ctr", "1"]);
    let absent = weft_dag::Cid::hash(weft_dag::Codec::DagCbor, b"not here").to_string();
    dir.fails(4, &["block", "get", &absent]);
    // A server-side I/O error (here: writing into a missing directory) is one line, exit 1.
    dir.fails(1, &["dag", "-o", "no/such/dir/out.dot"]);
    // Nothing above changed anything.
    assert_eq!(dir.ok(&["log"]).lines().count(), 3);
    // `serve` itself is never forwarded: the repo is taken.
    let err = dir.fails(6, &["serve"]);
    assert!(err.contains("already serves"), "{err}");
    // One statement: the repo is served, not held by a process that does not serve it.
    assert!(!err.contains("does not serve"), "{err}");
    assert!(!err.contains("is open in another"), "{err}");
}

#[test]
fn paths_and_repo_discovery_are_the_clients() {
    let dir = Dir::init();
    dir.ok(&["set", "x", "here"]);
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    let _server = dir.serve();

    // From a subdirectory, with -C, and with WEFT_DIR: all reach the server.
    let sub = TestCmd::new(&dir.join("a/b"))
        .args(&["get", "x"])
        .run()
        .success();
    assert_eq!(sub.stdout(), "\"here\"\n");
    let elsewhere = Dir::new();
    let root = dir.path().to_str().unwrap();
    assert_eq!(elsewhere.ok(&["-C", root, "get", "x"]), "\"here\"\n");
    let out = elsewhere
        .cmd(&["get", "x"])
        .env("WEFT_DIR", dir.join(".weft"))
        .run()
        .success();
    assert_eq!(out.stdout(), "\"here\"\n");

    // A relative output file lands in the client's directory, not the server's.
    TestCmd::new(&dir.join("a/b"))
        .args(&["dag", "-o", "history.dot"])
        .run()
        .success();
    let dot = std::fs::read_to_string(dir.join("a/b/history.dot")).unwrap();
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(!dir.join("history.dot").exists());
}

#[test]
fn a_proxied_command_leaves_stdin_alone() {
    // No command reads stdin, so a forwarded command must not swallow input meant for the
    // script around it.
    let dir = Dir::init();
    dir.ok(&["set", "x", "1"]);
    let _server = dir.serve();
    let mut sh = Command::new("sh")
        .args(["-c", "\"$0\" get x && cat", weft_bin()])
        .current_dir(dir.path())
        .env_remove("WEFT_DIR")
        .env_remove("WEFT_IDENTITY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    sh.stdin
        .take()
        .unwrap()
        .write_all(b"left for the script\n")
        .unwrap();
    let out = sh.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "1\nleft for the script\n"
    );
}

#[test]
fn a_different_identity_cannot_sign_through_the_server() {
    let dir = Dir::init();
    dir.ok(&["set", "x", "1"]);
    let other = Dir::init();
    let other_key = other.join(".weft/key");
    let own_key = dir.join(".weft/key");
    let _server = dir.serve();

    for args in [&["set", "x", "2"][..], &["incr", "n"]] {
        let err = dir
            .cmd(&["--identity".as_ref(), other_key.as_os_str()])
            .args(args)
            .run()
            .fails(6);
        assert!(err.contains("signs as"), "{err}");
        assert!(!err.contains("does not serve"), "{err}");
        assert!(!err.contains("is open in another"), "{err}");
    }
    let err = dir
        .cmd(&["set", "x", "2"])
        .env("WEFT_IDENTITY", &other_key)
        .run()
        .fails(6);
    assert!(err.contains("signs as"), "{err}");
    // `id` signs nothing: it prints the key this process would sign with.
    let out = dir
        .cmd(&["--identity".as_ref(), other_key.as_os_str(), "id".as_ref()])
        .run()
        .success();
    assert_eq!(out.stdout().trim(), other.ok(&["id"]).trim());
    assert_eq!(
        dir.ok(&["id"]).trim(),
        dir.json(&["id", "--json"])["author"]
    );
    // Reads do not sign, and the repo's own key is the server's.
    let out = dir
        .cmd(&[
            "--identity".as_ref(),
            other_key.as_os_str(),
            "get".as_ref(),
            "x".as_ref(),
        ])
        .run()
        .success();
    assert_eq!(out.stdout(), "1\n");
    dir.cmd(&[
        "--identity".as_ref(),
        own_key.as_os_str(),
        "set".as_ref(),
        "y".as_ref(),
        "2".as_ref(),
    ])
    .run()
    .success();
    assert_eq!(dir.ok(&["get", "x"]), "1\n");
    assert_eq!(dir.ok(&["get", "y"]), "2\n");
}

#[test]
fn sigterm_stops_serve_and_removes_the_socket() {
    let dir = Dir::init();
    // Stdin is not a pipe here: closing one would stop the server too (and say so).
    let mut server = Proc::spawn_with_stdin(&mut dir.cmd(&["serve"]), Stdio::null());
    assert!(server.line().starts_with("serving "));
    dir.ok(&["set", "x", "1"]);
    server.term();
    let out = server.finish().success();
    assert_eq!(out.stdout(), "");
    assert!(!dir.socket().exists());
    // The repo is free again.
    assert_eq!(dir.json(&["fsck", "--json"])["ok"], true);
    let repo = dir.open();
    drop(repo);
}

#[test]
fn serve_ends_at_eof_only_on_a_pipe() {
    // With /dev/null as stdin (a script's `weft serve &`), serve runs until a signal.
    let dir = Dir::init();
    let mut server = Proc::spawn_with_stdin(&mut dir.cmd(&["serve"]), Stdio::null());
    assert!(server.line().starts_with("serving "));
    dir.ok(&["set", "x", "1"]);
    assert_eq!(dir.ok(&["get", "x"]), "1\n");
    assert!(dir.socket().exists());
    server.term();
    assert_eq!(server.finish().success().stdout(), "");
    assert!(!dir.socket().exists());
}

#[test]
fn a_stale_socket_is_ignored_and_replaced() {
    let dir = Dir::init();
    let mut server = dir.serve();
    dir.ok(&["set", "x", "1"]);
    // Killed outright: the socket file stays behind.
    server.kill();
    assert!(dir.socket().exists());

    assert_eq!(dir.ok(&["get", "x"]), "1\n");
    dir.ok(&["set", "x", "2"]);
    assert!(dir.ok(&["fsck"]).ends_with(": ok\n"));
    // A new server replaces the stale socket and serves.
    let mut server = dir.serve();
    assert_eq!(dir.ok(&["get", "x"]), "2\n");
    server.close_stdin();
    server.finish().stdin_closed();
    assert!(!dir.socket().exists());
}

#[test]
fn garbage_on_the_socket_does_not_hurt_the_server() {
    let dir = Dir::init();
    dir.ok(&["set", "x", "1"]);
    let mut server = dir.serve();
    let connect = || UnixStream::connect(dir.socket()).unwrap();

    // A client that stalls in the middle of a frame holds only its own connection.
    let mut stalled = connect();
    stalled.write_all(&[0x01, 0, 0, 0, 100, b'a']).unwrap();

    // Not a frame at all.
    let mut c = connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: weft\r\n\r\n")
        .unwrap();
    assert_refused(&server_reply(c), "bad request");
    // A frame over the size limit.
    let mut c = connect();
    c.write_all(&[0x01, 0xff, 0xff, 0xff, 0xff]).unwrap();
    assert_refused(&server_reply(c), "limit");
    // The wrong first frame.
    let mut c = connect();
    c.write_all(&[0x03, 0, 0, 0, 0]).unwrap();
    assert_refused(&server_reply(c), "expected a request");
    // A request from another protocol version.
    let mut c = connect();
    c.write_all(&[0x01, 0, 0, 0, 2, 0, 99]).unwrap();
    assert_refused(&server_reply(c), "version");
    // A request whose string lengths run past its end.
    let mut c = connect();
    c.write_all(&[0x01, 0, 0, 0, 10, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff])
        .unwrap();
    assert_refused(&server_reply(c), "truncated");
    // Arguments that are not a weft command line.
    let mut req = vec![0u8, 1, 0, 0, 0, 2];
    for s in [dir.path().to_str().unwrap().as_bytes(), b"frobnicate"] {
        req.extend_from_slice(&(s.len() as u32).to_be_bytes());
        req.extend_from_slice(s);
    }
    let mut frame = vec![0x01];
    frame.extend_from_slice(&(req.len() as u32).to_be_bytes());
    frame.extend_from_slice(&req);
    let mut c = connect();
    c.write_all(&frame).unwrap();
    assert_refused(&server_reply(c), "frobnicate");
    // Connecting and leaving at once.
    drop(connect());

    // The server still serves, with the stalled client still connected.
    assert_eq!(dir.ok(&["get", "x"]), "1\n");
    dir.ok(&["set", "x", "2"]);
    assert_eq!(dir.ok(&["get", "x"]), "2\n");
    drop(stalled);
    server.close_stdin();
    let out = server.finish().stdin_closed();
    assert_eq!(out.stdout(), "");
    assert_eq!(s(&dir.json(&["get", "x", "--json"]), "kind"), "register");
}

#[test]
fn a_short_lived_lock_is_waited_for() {
    // Another process holds the repo without serving it and lets go soon: the command waits
    // for it instead of failing (the wait is bounded at 5 s; this one is far shorter).
    let dir = Dir::init();
    dir.ok(&["set", "x", "1"]);
    let repo = dir.open();
    let mut get = Proc::spawn(&mut dir.cmd(&["get", "x"]));
    drop(repo);
    assert_eq!(get.finish().success().stdout(), "1\n");
}

/// A repo whose `.weft/weft.sock` is longer than a Unix socket address can hold (about 100
/// bytes) is still served: `serve` and `watch` listen, and other commands run inside them.
#[test]
fn a_repo_deep_in_the_file_system_is_served() {
    let base = Dir::new();
    let root = base.join("a".repeat(70)).join("b".repeat(70));
    std::fs::create_dir_all(&root).unwrap();
    assert!(root.join(".weft/weft.sock").as_os_str().len() > 150);
    let weft = |args: &[&str]| TestCmd::new(&root).args(args).run();
    weft(&["init"]).success();

    let mut server = Proc::spawn(TestCmd::new(&root).args(&["serve"]));
    assert_eq!(server.line(), format!("serving {}", root.display()));
    assert!(root.join(".weft/weft.sock").exists());
    // The server holds the repo: these succeed only by running inside it.
    weft(&["set", "x", "1"]).success();
    assert_eq!(weft(&["get", "x"]).success().stdout(), "1\n");
    server.term();
    let out = server.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    assert!(!root.join(".weft/weft.sock").exists());

    let mut watch = Proc::spawn(TestCmd::new(&root).args(&["watch", "--ready", "--count", "1"]));
    assert_eq!(watch.json_line(), json!({"ready": true}));
    weft(&["set", "x", "2"]).success();
    assert_eq!(watch.json_line()["keys"], json!(["x"]));
    let out = watch.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
}

/// `true | weft serve`: serve stops at once since its piped stdin is closed, and says so,
/// pointing at `serve --stdio`.
#[test]
fn serve_says_why_it_stops_when_stdin_closes() {
    let dir = Dir::init();
    let mut server = Proc::spawn(&mut dir.cmd(&["serve"]));
    server.close_stdin();
    let out = server.finish().stdin_closed();
    assert!(out.stderr().contains("serve --stdio"), "{}", out.report());
}
