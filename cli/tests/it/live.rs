//! Live sync from the command line: `weft serve --interval/--peer` with real processes over
//! `tcp://`, `weft status` and `weft convergence` with and without a server, and bad input.

use std::{
    fs,
    time::{Duration, Instant},
};

use serde_json::Value as Json;

use crate::{
    tcp::{clone_as, new_key},
    util::{is_author, s, Dir, Proc},
};

/// `weft serve --listen 127.0.0.1:0 EXTRA...` in `dir`, once it serves: the process and the
/// pinned URL it printed.
fn serve_live(dir: &Dir, extra: &[&str]) -> (Proc, String) {
    let mut cmd = dir.cmd(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.args(extra);
    let mut p = Proc::spawn(&mut cmd);
    let line = p.line();
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
        .to_string();
    assert!(url.starts_with("tcp://") && url.contains('@'), "{url}");
    assert_eq!(p.line(), format!("serving {}", dir.path().display()));
    (p, url)
}

/// The heads of document `main` in a `weft status --json` report.
fn main_heads(status: &Json) -> Vec<String> {
    let docs = status["docs"].as_array().unwrap();
    let main = docs
        .iter()
        .find(|d| d["name"] == "main")
        .unwrap_or_else(|| panic!("no main in {status}"));
    main["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect()
}

/// The remote called `name` in a `weft status --json` report.
fn remote<'a>(status: &'a Json, name: &str) -> &'a Json {
    status["remotes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["remote"] == name)
        .unwrap_or_else(|| panic!("no remote {name} in {status}"))
}

#[test]
fn five_servers_in_a_ring_converge_and_say_so() {
    const N: usize = 5;
    // Node 0 owns `main` and makes every other node's key a writer; the others are clones of it
    // that sign with their own key.
    let first = Dir::init();
    let mut nodes = vec![first];
    let mut keys = vec![nodes[0].ok(&["id"]).trim().to_string()];
    let mut key_dirs = Vec::new();
    for _ in 1..N {
        let (key_dir, key, file) = new_key();
        nodes[0].ok(&["grant", &key]);
        let origin = nodes[0].path().to_str().unwrap().to_string();
        let (node, _) = clone_as(&origin, &file);
        // Only the ring: no path back to node 0.
        node.ok(&["remote", "rm", "origin"]);
        nodes.push(node);
        keys.push(key);
        key_dirs.push(key_dir);
    }
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    for node in &nodes {
        let (p, url) = serve_live(node, &["--interval", "200ms"]);
        servers.push(p);
        urls.push(url);
    }
    // The ring, added while the servers run: they re-read .weft/remotes every round.
    for (i, node) in nodes.iter().enumerate() {
        node.ok(&["remote", "add", "next", &urls[(i + 1) % N]]);
    }
    // A watcher on every other node: it prints once the change has arrived there (the grants
    // spreading meanwhile touch no key, so they do not count).
    let mut watchers: Vec<Proc> = nodes[1..]
        .iter()
        .map(|n| n.watch(&["greeting", "--count", "1"]))
        .collect();

    let cid = nodes[0]
        .ok(&["set", "greeting", "hello"])
        .trim()
        .to_string();
    for (w, node) in watchers.iter_mut().zip(&nodes[1..]) {
        let line = w.json_line();
        assert_eq!(s(&line, "cid"), cid, "on {}", node.path().display());
        assert_eq!(line["local"], false);
    }

    // Now poll every node's status (forwarded to its server) until all hold the same heads and
    // each one reports its `next` converged.
    let deadline = Instant::now() + Duration::from_secs(60);
    let statuses = loop {
        let statuses: Vec<Json> = nodes
            .iter()
            .map(|n| n.json(&["status", "--json"]))
            .collect();
        let heads: Vec<Vec<String>> = statuses.iter().map(main_heads).collect();
        let same = heads.iter().all(|h| *h == heads[0]) && heads[0] == [cid.clone()];
        let converged = statuses
            .iter()
            .all(|st| remote(st, "next")["converged"] == true);
        if same && converged {
            break statuses;
        }
        assert!(
            Instant::now() < deadline,
            "no convergence in 60 s: {statuses:#?}"
        );
    };
    for (i, st) in statuses.iter().enumerate() {
        let next = remote(st, "next");
        assert_eq!(next["url"], urls[(i + 1) % N].as_str());
        assert_eq!(next["configured"], true);
        assert!(next["last_error"].is_null(), "{next}");
        assert!(next["last_success"].as_u64().is_some(), "{next}");
        assert!(next["last_success_age_ms"].as_u64().is_some(), "{next}");
        let doc = &next["docs"][0];
        assert_eq!(doc["converged"], true, "{next}");
        assert_eq!(
            (doc["ahead"].as_u64(), doc["behind"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(doc["common"], doc["ours"]);
        assert_eq!(doc["ours"], serde_json::json!([cid]));
    }

    // A far node knows who brought the change: its predecessor (pushing, named by its key) or
    // its `next` (pulled), and how long it took.
    let far = &nodes[2];
    let report = far.json(&["convergence", "--json"]);
    let from_ring: Vec<&Json> = report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|src| src["source"] != "origin")
        .collect();
    assert!(
        !from_ring.is_empty(),
        "the ring's changes have no source: {report}"
    );
    for src in &from_ring {
        let name = s(src, "source");
        assert!(
            name == "next" || name == &keys[1][..8],
            "{name:?} is neither `next` nor node 1's key"
        );
        assert!(src["median_ms"].as_u64().is_some(), "{report}");
    }
    // Node 2 was cloned before nodes 3 and 4 were granted writer: those two grants and the
    // change came over the ring.
    let total: u64 = from_ring.iter().map(|x| x["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 3, "{report}");
    assert!(report["count"].as_u64().unwrap() >= 1, "{report}");

    for mut p in servers {
        p.close_stdin();
        let out = p.finish();
        assert_eq!(out.code(), Some(0), "{}", out.report());
    }
}

#[test]
fn status_and_convergence_without_a_server() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let (_kd, b_key, b_file) = new_key();
    a.ok(&["grant", &b_key]);
    let (b, _) = clone_as(a.path().to_str().unwrap(), &b_file);
    // The clone recorded origin: in sync, nothing ahead or behind.
    let st = b.json(&["status", "--json"]);
    let origin = remote(&st, "origin");
    assert_eq!(origin["converged"], true, "{st}");
    assert_eq!(origin["configured"], true);
    assert_eq!(main_heads(&st), a.heads());

    // Both write: b is 1 ahead (it cannot know of a's change before syncing).
    a.ok(&["set", "k", "2"]);
    b.ok(&["set", "mine", "1"]);
    let st = b.json(&["status", "--json"]);
    let doc = &remote(&st, "origin")["docs"][0];
    assert_eq!(
        (doc["ahead"].as_u64(), doc["converged"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(remote(&st, "origin")["converged"], false);
    // Human form.
    let text = b.ok(&["status"]);
    assert!(text.contains("remote origin ("), "{text}");
    assert!(text.contains("ahead 1"), "{text}");
    assert!(text.contains("not converged"), "{text}");

    // A pull records the status too: now b has a's heads, a lacks b's change.
    b.ok(&["pull"]);
    let st = b.json(&["status", "--json"]);
    let doc = &remote(&st, "origin")["docs"][0];
    assert_eq!(doc["ahead"].as_u64(), Some(1), "{st}");
    assert_eq!(doc["behind"].as_u64(), Some(0), "{st}");
    b.ok(&["sync"]);
    let st = b.json(&["status", "--json"]);
    assert_eq!(remote(&st, "origin")["converged"], true, "{st}");
    assert_eq!(main_heads(&st), a.heads());

    // The change pulled from origin is listed under its name, b's own are left out.
    let c = b.json(&["convergence", "--json", "-n", "50"]);
    assert_eq!(c["limit"], 50);
    let sources: Vec<&str> = c["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| s(x, "source"))
        .collect();
    assert_eq!(sources, ["origin"], "{c}");
    assert_eq!(c["local"], 1, "{c}");
    assert_eq!(c["count"], c["sources"][0]["count"]);
    assert!(b.ok(&["convergence"]).contains("from origin"));

    // A failed attempt: recorded with its error, on one line; exit 8 as before.
    b.ok(&["remote", "add", "gone", "tcp://127.0.0.1:1"]);
    b.fails(8, &["pull", "gone"]);
    let st = b.json(&["status", "--json"]);
    let gone = remote(&st, "gone");
    assert!(gone["last_success"].is_null(), "{gone}");
    let err = s(gone, "last_error");
    assert!(err.contains("cannot reach") && !err.contains('\n'), "{err}");
    assert_eq!(gone["converged"], false);
    assert!(b.ok(&["status"]).contains("last attempt failed"));
    // Removing the remote forgets its status.
    b.ok(&["remote", "rm", "gone"]);
    let st = b.json(&["status", "--json"]);
    assert!(
        st["remotes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["remote"] != "gone"),
        "{st}"
    );

    // A URL that is not a remote name is not recorded.
    let other = Dir::init();
    b.ok(&["pull", other.path().to_str().unwrap()]);
    let st = b.json(&["status", "--json"]);
    assert_eq!(st["remotes"].as_array().unwrap().len(), 1, "{st}");
}

#[test]
fn a_server_syncs_with_its_peer_right_after_a_local_change() {
    // b's server has a's server as its one peer and a long interval: only the first round and
    // the local change make it sync.
    let a = Dir::init();
    let (_kd, b_key, b_file) = new_key();
    a.ok(&["grant", &b_key]);
    let (b, _) = clone_as(a.path().to_str().unwrap(), &b_file);
    b.ok(&["remote", "rm", "origin"]);
    let (mut a_server, a_url) = serve_live(&a, &[]);
    let mut a_watch = a.watch(&["k", "--count", "1"]);
    let (mut b_server, _) = serve_live(
        &b,
        &["--peer", &a_url, "--interval", "1h", "--debounce", "10ms"],
    );
    let cid = b.ok(&["set", "k", "v"]).trim().to_string();
    let line = a_watch.json_line();
    assert_eq!(s(&line, "cid"), cid);
    // a names b by its key; b recorded the peer under its URL (it has no remote name).
    let c = a.json(&["convergence", "--json"]);
    let sources: Vec<&str> = c["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| s(x, "source"))
        .collect();
    assert_eq!(sources, [&b_key[..8]], "{c}");
    assert!(is_author(&b_key));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = b.json(&["status", "--json"]);
        if remote(&st, &a_url)["converged"] == true {
            assert_eq!(remote(&st, &a_url)["configured"], false);
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
fn bad_live_sync_arguments_are_refused() {
    let a = Dir::init();
    for bad in ["5", "fast", "0ms"] {
        let err = a.fails(2, &["serve", "--interval", bad]);
        assert!(err.contains("--interval"), "{err}");
    }
    a.fails(2, &["serve", "--interval", "-1s"]);
    let err = a.fails(2, &["serve", "--debounce", "soon", "--interval", "1s"]);
    assert!(err.contains("--debounce"), "{err}");
    let err = a.fails(2, &["serve", "--debounce", "10ms"]);
    assert!(err.contains("--interval or --peer"), "{err}");
    let err = a.fails(4, &["serve", "--listen", "127.0.0.1:0", "--peer", "nope"]);
    assert!(err.contains("unknown remote \"nope\""), "{err}");
    a.fails(2, &["serve", "--peer", "tcp://nohost"]);
    a.fails(2, &["serve", "--stdio", "--interval", "1s"]);
    a.fails(2, &["convergence", "-n", "0"]);
    a.fails(2, &["convergence", "-n", "many"]);
    // Nothing was left running: the repo is free.
    assert!(!a.socket().exists());
    fs::metadata(a.join(".weft")).unwrap();
    a.ok(&["status"]);
}
