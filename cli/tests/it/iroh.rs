//! `iroh://` from the command line: the real `weft serve --iroh` and real clients, on loopback
//! with `--relay none` (`WEFT_RELAY=none`: no relay, no lookup, nothing leaves the machine).
//! The server's key is its endpoint id, named in the URL and proved by the connection; access
//! follows the client's key as on `tcp://`.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value as Json;

use crate::{
    tcp::new_key,
    util::{is_author, s, Dir, Proc},
};

/// A directory whose commands use no relay.
fn offline() -> Dir {
    Dir::new().with_env("WEFT_RELAY", "none")
}

/// A new repo whose commands use no relay.
fn offline_repo() -> Dir {
    let d = offline();
    d.ok(&["init"]);
    d
}

/// `weft serve --iroh --iroh-bind 127.0.0.1:0 EXTRA...` in `dir`, once it serves: the process
/// and the URL it printed.
fn serve_iroh(dir: &Dir, extra: &[&str]) -> (Proc, String) {
    let mut cmd = dir.cmd(&["serve", "--iroh", "--iroh-bind", "127.0.0.1:0"]);
    cmd.args(extra);
    let mut p = Proc::spawn(&mut cmd);
    let line = p.line();
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
        .to_string();
    let key = dir.ok(&["id"]).trim().to_string();
    assert!(
        url.starts_with(&format!("iroh://{key}?addr=127.0.0.1:")),
        "the URL names the repo's key and the bound address: {url}"
    );
    assert!(!url.contains("relay="), "no relay with --relay none: {url}");
    assert_eq!(p.line(), format!("serving {}", dir.path().display()));
    (p, url)
}

/// `weft clone URL . --json --identity KEY_FILE` in a new directory without relays.
fn clone_as(url: &str, key_file: &Path) -> (Dir, Json) {
    let dir = offline();
    let report = dir
        .cmd(&["clone", url, ".", "--json", "--identity"])
        .args(&[key_file])
        .run()
        .success()
        .json();
    (dir, report)
}

fn signal(p: &Proc, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &p.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} failed");
}

#[test]
fn clone_pull_push_sync_and_status_over_iroh() {
    let a = offline_repo();
    a.ok(&["set", "k", "1"]);
    let (_kd, b_key, b_file) = new_key();
    a.ok(&["grant", &b_key]);
    let (mut server, url) = serve_iroh(&a, &[]);

    let (b, report) = clone_as(&url, &b_file);
    assert_eq!(report["remote"], url.as_str());
    assert_eq!(report["docs"], 1, "{report}");
    assert_eq!(b.ok(&["get", "k"]), "1\n");
    assert_eq!(b.ok(&["remote", "ls"]), format!("origin\t{url}\n"));
    // No key to remember: the URL names it.
    assert!(!b.join(".weft/known_peers").exists());

    a.ok(&["set", "k", "2"]);
    let pulled = b.json(&["pull", "--json"]);
    assert_eq!(pulled["changes_in"], 1, "{pulled}");
    assert_eq!(b.ok(&["get", "k"]), "2\n");

    b.ok(&["set", "k", "3"]);
    let pushed = b.json(&["push", "--json"]);
    assert_eq!(pushed["changes_out"], 1, "{pushed}");
    assert_eq!(a.ok(&["get", "k"]), "3\n");

    a.ok(&["set", "x", "a"]);
    b.ok(&["set", "y", "b"]);
    let synced = b.json(&["sync", "--json"]);
    assert_eq!(
        (&synced["changes_in"], &synced["changes_out"]),
        (&1.into(), &1.into())
    );
    for d in [&a, &b] {
        assert_eq!(d.ok(&["get", "x"]), "\"a\"\n");
        assert_eq!(d.ok(&["get", "y"]), "\"b\"\n");
    }
    assert_eq!(a.heads(), b.heads());

    // The pushed changes are recorded as delivered by b's key.
    let c = a.json(&["convergence", "--json"]);
    let sources: Vec<&str> = c["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| s(x, "source"))
        .collect();
    assert_eq!(sources, [&b_key[..8]], "{c}");

    let st = b.json(&["status", "--json"]);
    let origin = &st["remotes"][0];
    assert_eq!(origin["remote"], "origin", "{st}");
    assert_eq!(origin["url"], url.as_str(), "{st}");
    assert_eq!(origin["converged"], true, "{st}");

    let out = server.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());

    // `--json` prints the URL and the key.
    let mut p =
        Proc::spawn(&mut a.cmd(&["serve", "--iroh", "--iroh-bind", "127.0.0.1:0", "--json"]));
    let v = p.json_line();
    let key = s(&v, "key").to_string();
    assert!(is_author(&key), "{v}");
    assert_eq!(key, a.ok(&["id"]).trim());
    assert!(
        s(&v, "url").starts_with(&format!("iroh://{key}?addr=127.0.0.1:")),
        "{v}"
    );
}

#[test]
fn live_sync_with_an_iroh_peer() {
    let a = offline_repo();
    let (_kd, b_key, b_file) = new_key();
    a.ok(&["grant", &b_key]);
    let (mut a_server, a_url) = serve_iroh(&a, &[]);
    let (b, _) = clone_as(&a_url, &b_file);
    b.ok(&["remote", "rm", "origin"]);
    let mut a_watch = a.watch(&["k", "--count", "1"]);
    let mut b_server = Proc::spawn(&mut b.cmd(&[
        "serve",
        "--peer",
        &a_url,
        "--interval",
        "1h",
        "--debounce",
        "10ms",
    ]));
    assert_eq!(b_server.line(), format!("serving {}", b.path().display()));
    let cid = b.ok(&["set", "k", "v"]).trim().to_string();
    let line = a_watch.json_line();
    assert_eq!(s(&line, "cid"), cid);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = b.json(&["status", "--json"]);
        let peer = st["remotes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["remote"] == a_url.as_str())
            .cloned();
        if peer.as_ref().is_some_and(|p| p["converged"] == true) {
            break;
        }
        assert!(Instant::now() < deadline, "not converged: {st}");
    }
    for p in [&mut a_server, &mut b_server] {
        p.close_stdin();
        let out = p.finish();
        assert_eq!(out.code(), Some(0), "{}", out.report());
    }
}

#[test]
fn a_key_with_no_access_is_refused_as_over_tcp() {
    let a = offline_repo();
    a.ok(&["set", "k", "1"]);
    let (mut server, url) = serve_iroh(&a, &[]);

    let w = offline();
    let err = w.fails(10, &["clone", &url, "dest"]);
    assert!(err.contains("access refused: key "), "{err}");
    assert!(err.contains("may read no document here"), "{err}");
    assert!(
        !w.join("dest/.weft").exists(),
        "a refused clone left its repo"
    );
    let refused = err
        .split_whitespace()
        .find(|w| is_author(w))
        .unwrap_or_else(|| panic!("no key in {err:?}"))
        .to_string();

    // A pull from an existing repo: refused with its own key, nothing changed.
    let b = offline_repo();
    let before = b.ok(&["heads"]);
    let err = b.fails(10, &["pull", &url]);
    assert!(err.contains(b.ok(&["id"]).trim()), "{err}");
    assert_eq!(b.ok(&["heads"]), before);

    // --allow lets a key read (another repo, served with it).
    let (_kd, reader, reader_file) = new_key();
    let c = offline_repo();
    c.ok(&["set", "c", "1"]);
    let (_c_server, c_url) = serve_iroh(&c, &["--allow", &reader]);
    let (r, _) = clone_as(&c_url, &reader_file);
    assert_eq!(r.ok(&["get", "c"]), "1\n");

    let out = server.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    let log = out.stderr();
    for key in [&refused, b.ok(&["id"]).trim()] {
        let line = log
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("the server did not log {key}: {log}"));
        assert!(line.contains("refused"), "{line}");
        assert!(line.contains("peer=iroh "), "{line}");
    }
}

#[test]
fn a_vanished_client_or_server_is_an_error_not_a_hang() {
    let a = offline_repo();
    a.ok(&["set", "k", "1"]);
    let (_kd, b_key, b_file) = new_key();
    a.ok(&["grant", &b_key]);
    let (mut server, url) = serve_iroh(&a, &["--timeout", "5"]);
    let (b, _) = clone_as(&url, &b_file);

    // Clients killed at whatever point they reached: the server goes on serving.
    for _ in 0..5 {
        let mut p = Proc::spawn(&mut b.cmd(&["pull"]));
        p.kill();
    }
    a.ok(&["set", "k", "2"]);
    b.ok(&["pull"]);
    assert_eq!(b.ok(&["get", "k"]), "2\n");

    // A server that stops answering, then is killed: each pull fails with one line that names
    // the server (`fails` checks it is one line), within its timeout, and changes nothing.
    let before = b.heads();
    signal(&server, "-STOP");
    let out = b.run(&["pull", "--timeout", "2"]);
    let err = out.fails(8);
    assert!(err.contains(&url), "{err}");
    server.kill();
    let out = b.run(&["pull", "--timeout", "2"]);
    let err = out.fails(8);
    assert!(err.contains(&url), "{err}");
    assert_eq!(b.heads(), before);
}

#[test]
fn bad_iroh_urls_and_options_are_usage_errors() {
    let a = offline_repo();
    let key = a.ok(&["id"]).trim().to_string();
    for (url, says) in [
        ("iroh://".to_string(), "no endpoint id"),
        ("iroh://nothex".to_string(), "64 hex digits"),
        (format!("iroh://{key}/repo"), "no path"),
        (
            format!("iroh://{key}?addr=somehost:7"),
            "not an IP:PORT address",
        ),
        (
            format!("iroh://{key}?addr=127.0.0.1"),
            "not an IP:PORT address",
        ),
        (format!("iroh://{key}?relay=relay.example"), "relay"),
        (format!("iroh://{key}?via=x"), "unknown parameter"),
    ] {
        let w = offline();
        let out = w.run(&["clone", &url, "dest"]);
        let err = out.fails(2);
        assert!(err.contains(says), "{url}: {err}");
        assert!(err.contains("weft serve --iroh"), "{url}: {err}");
        assert!(!w.join("dest").exists());
        a.fails(2, &["remote", "add", "x", &url]);
        a.fails(2, &["pull", &url]);
    }
    // Without an address and without lookup there is nowhere to go: said at once.
    let out = a.run(&["pull", &format!("iroh://{key}")]);
    let err = out.fails(8);
    assert!(err.contains("addr=IP:PORT"), "{err}");
    // Bad options.
    let err = a.fails(
        2,
        &[
            "pull",
            "--relay",
            "ftp://relay.example",
            &format!("iroh://{key}"),
        ],
    );
    assert!(err.contains("--relay"), "{err}");
    let err = a.fails(2, &["serve", "--iroh", "--iroh-bind", "somewhere"]);
    assert!(err.contains("--iroh-bind"), "{err}");
    a.fails(2, &["serve", "--iroh-bind", "127.0.0.1:0"]);
    a.fails(2, &["serve", "--stdio", "--iroh"]);
    a.fails(2, &["serve", "--allow", &key]);
    // Nothing was left running.
    assert!(!a.socket().exists());
}

/// Pairing anywhere: a replica served over iroh alone puts its `iroh://` URL in a ticket, and
/// `weft join` redeems it over iroh (the JOIN's proof signs keying material exported from the
/// connection's TLS session) and clones on that link; a second use is refused; the joiner
/// writes and pushes back over iroh.
#[test]
fn an_invite_is_redeemed_over_iroh() {
    let a = offline_repo();
    a.ok(&["set", "k", "1"]);
    let (_server, url) = serve_iroh(&a, &[]);
    let ticket = a.ok(&["invite"]).trim().to_string();
    let peers = a.json(&["invite", "ls", "--json"]);
    assert_eq!(
        peers["invites"].as_array().map(Vec::len),
        Some(1),
        "{peers}"
    );
    let b = offline();
    let report = b
        .cmd(&["join", &ticket, ".", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(report["role"], "writer", "{report}");
    assert_eq!(s(&report, "remote"), url, "{report}");
    assert_eq!(b.ok(&["get", "k"]), "1\n");
    b.ok(&["set", "k", "2"]);
    b.ok(&["push"]);
    assert_eq!(a.ok(&["get", "k"]), "2\n");
    // Single use, over iroh as over tcp.
    let c = offline();
    let err = c.cmd(&["join", &ticket, "sub"]).run().fails(10);
    assert!(err.contains("already used"), "{err}");
    assert!(!c.join("sub").exists());
}
