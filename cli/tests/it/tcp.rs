//! `tcp://` from the command line: the real `weft serve --listen` and real clients. The server's
//! key is pinned by the URL (`tcp://KEY@host:port`) or on first use (`.weft/known_peers`); a
//! client reads the documents where its key holds a role (or all, with `--allow KEY`) and pushes
//! where it is a writer; every refusal and mismatch is one line and exit code 10.

use std::{fs, path::PathBuf};

use serde_json::Value as Json;

use crate::util::{is_author, s, Dir, Proc};

/// A key of its own: a directory holding a repo whose `.weft/key` it is; returns the directory
/// (keep it alive), the key and the key file.
pub fn new_key() -> (Dir, String, PathBuf) {
    let dir = Dir::init();
    let key = dir.ok(&["id"]).trim().to_string();
    assert!(is_author(&key), "{key}");
    let file = dir.join(".weft/key");
    (dir, key, file)
}

/// `weft clone URL . --json --identity KEY_FILE` in a new directory, which then keeps signing
/// with that key: the clone remembers it (and has no `.weft/key` of its own).
pub fn clone_as(url: &str, key_file: &std::path::Path) -> (Dir, Json) {
    let dir = Dir::new();
    let report = dir
        .cmd(&["clone", url, ".", "--json", "--identity"])
        .args(&[key_file])
        .run()
        .success()
        .json();
    assert!(!dir.join(".weft/key").exists());
    (dir, report)
}

/// `weft serve --listen ADDR EXTRA...` in `dir`, once it serves: the process, the pinnable URL
/// it printed, the server's key and its `host:port`.
fn serve_at(dir: &Dir, addr: &str, extra: &[&str]) -> (Proc, String, String, String) {
    let mut cmd = dir.cmd(&["serve", "--listen", addr]);
    cmd.args(extra);
    let mut p = Proc::spawn(&mut cmd);
    let line = p.line();
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
        .to_string();
    let (key, host_port) = url
        .strip_prefix("tcp://")
        .and_then(|r| r.split_once('@'))
        .unwrap_or_else(|| panic!("not a pinnable URL: {url}"));
    let (key, host_port) = (key.to_string(), host_port.to_string());
    assert_eq!(
        key,
        dir.ok(&["id"]).trim(),
        "the URL pins the repo's own key"
    );
    assert_eq!(p.line(), format!("serving {}", dir.path().display()));
    (p, url, key, host_port)
}

fn serve(dir: &Dir, extra: &[&str]) -> (Proc, String, String, String) {
    serve_at(dir, "127.0.0.1:0", extra)
}

fn known_peers(dir: &Dir) -> String {
    fs::read_to_string(dir.join(".weft/known_peers")).unwrap_or_default()
}

#[test]
fn the_key_is_remembered_on_first_use_and_a_changed_key_is_refused() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let (_reader_dir, reader, reader_file) = new_key();
    let (mut server, _, a_key, addr) = serve(&a, &["--allow", &reader]);
    // Unpinned: trust on first use.
    let url = format!("tcp://{addr}");
    let (b, report) = clone_as(&url, &reader_file);
    assert_eq!(report["remote"], url.as_str());
    assert_eq!(known_peers(&b), format!("{addr} {a_key}\n"));
    assert_eq!(b.ok(&["get", "k"]), "1\n");
    a.ok(&["set", "k", "2"]);
    b.ok(&["pull"]);
    assert_eq!(b.ok(&["get", "k"]), "2\n");
    assert_eq!(
        known_peers(&b),
        format!("{addr} {a_key}\n"),
        "one line per server"
    );
    let out = server.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());

    // Another repo (another key) now answers at the same address.
    let c = Dir::init();
    let (_server, _, c_key, c_addr) = serve_at(&c, &addr, &["--allow", &reader]);
    assert_eq!(c_addr, addr);
    assert_ne!(c_key, a_key);
    let before = b.ok(&["heads"]);
    let err = b.fails(10, &["pull"]);
    for part in [
        &format!("tcp://{addr}"),
        &a_key,
        &c_key,
        ".weft/known_peers",
        "intercepting",
    ] {
        assert!(err.contains(part), "{part:?} missing from {err:?}");
    }
    assert_eq!(b.ok(&["heads"]), before, "nothing was pulled");
    assert_eq!(
        known_peers(&b),
        format!("{addr} {a_key}\n"),
        "the pin is kept"
    );

    // The fix the message gives: pin the new key in the URL. It then replaces the old one.
    b.ok(&["pull", &format!("tcp://{c_key}@{addr}")]);
    assert_eq!(known_peers(&b), format!("{addr} {c_key}\n"));
    b.ok(&["pull"]);
}

#[test]
fn a_key_pinned_in_the_url_is_checked() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let (_reader_dir, reader, reader_file) = new_key();
    let (_server, url, a_key, addr) = serve(&a, &["--allow", &reader]);
    let wrong = Dir::init().ok(&["id"]).trim().to_string();

    let w = Dir::new();
    let out = w
        .cmd(&[
            "clone",
            &format!("tcp://{wrong}@{addr}"),
            "dest",
            "--identity",
        ])
        .args(&[&reader_file])
        .run();
    let err = out.fails(10);
    for part in [&addr, &wrong, &a_key, &format!("use tcp://{a_key}@{addr}")] {
        assert!(err.contains(part), "{part:?} missing from {err:?}");
    }
    assert!(
        !w.join("dest").exists(),
        "a failed clone left its directory"
    );

    // The right key: cloned, and the pinned URL is the origin.
    let (b, _) = clone_as(&url, &reader_file);
    assert_eq!(b.ok(&["remote", "ls"]), format!("origin\t{url}\n"));
    assert_eq!(b.ok(&["get", "k"]), "1\n");
    b.ok(&["pull"]);

    // `--json` prints the URL and the key.
    let c = Dir::init();
    let mut p = Proc::spawn(&mut c.cmd(&["serve", "--listen", "127.0.0.1:0", "--json"]));
    let v = p.json_line();
    let key = s(&v, "key").to_string();
    assert_eq!(key, c.ok(&["id"]).trim());
    assert!(
        s(&v, "url").starts_with(&format!("tcp://{key}@127.0.0.1:")),
        "{v}"
    );
}

#[test]
fn a_key_with_no_access_is_refused_and_the_server_logs_it() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let (mut server, url, _, _) = serve(&a, &[]);

    // A clone with its own new key: refused, named, and no repo left behind; only the key,
    // kept for the next attempt.
    let w = Dir::new();
    let err = w.fails(10, &["clone", &url, "dest"]);
    assert!(err.contains("access refused: key "), "{err}");
    let refused = err
        .split_whitespace()
        .find(|w| is_author(w))
        .unwrap_or_else(|| panic!("no key in {err:?}"))
        .to_string();
    assert!(err.contains("may read no document here"), "{err}");
    assert!(err.contains(".weft-clone-key"), "{err}");
    assert_eq!(err.matches("access refused").count(), 1, "{err}");
    assert!(
        !w.join("dest/.weft").exists(),
        "a refused clone left its repo"
    );
    let kept: Vec<_> = fs::read_dir(w.join("dest")).unwrap().collect();
    assert_eq!(kept.len(), 1, "a refused clone left more than its key");

    // Another attempt uses the same key: refused again with it, and once the owner grants
    // it, it clones and signs with it.
    let err = w.fails(10, &["clone", &url, "dest"]);
    assert!(err.contains(&format!("key {refused} ")), "{err}");
    a.ok(&["grant", &refused]);
    w.ok(&["clone", &url, "dest"]);
    let dest = w.join("dest");
    assert!(!dest.join(".weft-clone-key").exists());
    let id = w.ok(&["-C", dest.to_str().unwrap(), "id"]);
    assert_eq!(id.trim(), refused);
    assert_eq!(w.ok(&["-C", dest.to_str().unwrap(), "get", "k"]), "1\n");
    // Revoked: it cannot pull the revoke, but the refusal says it was revoked, and where.
    a.ok(&["revoke", &refused]);
    let main = a.doc_id(0);
    let err = w.fails(10, &["-C", dest.to_str().unwrap(), "pull"]);
    assert!(
        err.contains(&format!(
            "key {refused} was revoked in document {main} there"
        )),
        "{err}"
    );
    fs::remove_dir_all(&dest).unwrap();

    // With --identity: that key is the one refused.
    let (_other_dir, other, other_file) = new_key();
    let out = w
        .cmd(&["clone", &url, "dest", "--identity"])
        .args(&[&other_file])
        .run();
    let err = out.fails(10);
    assert!(
        err.contains(&format!("access refused: key {other} ")),
        "{err}"
    );
    assert!(!w.join("dest").exists());

    // A pull from an existing repo: refused with its key; it keeps what it had.
    let b = Dir::init();
    let before = b.ok(&["heads"]);
    let err = b.fails(10, &["pull", &url]);
    assert!(err.contains(b.ok(&["id"]).trim()), "{err}");
    assert_eq!(b.ok(&["heads"]), before);

    // The server named each refused key and the address it came from, and kept serving.
    assert_eq!(a.ok(&["get", "k"]), "1\n");
    let out = server.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    let log = out.stderr();
    for key in [&refused, &other] {
        let line = log
            .lines()
            .find(|l| l.contains(key.as_str()))
            .unwrap_or_else(|| panic!("the server did not log {key}: {log}"));
        assert!(line.contains("refused"), "{line}");
        assert!(line.contains("peer=127.0.0.1:"), "{line}");
    }
}

#[test]
fn allow_lets_a_key_read_but_not_push() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    a.ok(&["doc", "new", "notes"]);
    a.ok(&["-d", "notes", "set", "n", "1"]);
    let (_reader_dir, reader, reader_file) = new_key();
    let (_server, url, _, _) = serve(&a, &["--allow", &reader]);

    // Every document.
    let (b, report) = clone_as(&url, &reader_file);
    assert_eq!(report["docs"], 2, "{report}");
    assert_eq!(b.ok(&["-d", "notes", "get", "n"]), "1\n");
    a.ok(&["-d", "notes", "set", "n", "2"]);
    b.ok(&["pull"]);
    assert_eq!(b.ok(&["-d", "notes", "get", "n"]), "2\n");

    // Its own new document: a plain `sync` or `push` does not offer it (it would be refused),
    // and says so, naming it and why ...
    b.ok(&["doc", "new", "mine"]);
    b.ok(&["-d", "mine", "set", "x", "1"]);
    for cmd in ["sync", "push"] {
        let out = b.run(&[cmd, "--json"]);
        assert_eq!(out.code(), Some(0), "{}", out.report());
        let synced = out.json();
        assert_eq!(synced["changes_out"], 0, "{synced}");
        let err = out.stderr();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("document \"mine\" (") && err.contains("was not pushed: the server"),
            "{err}"
        );
    }
    // A pull pushes nothing, and says nothing of it.
    assert_eq!(b.run(&["pull"]).success().stderr(), "");
    // ... and pushing it by name is refused, worded as for a document it may not read.
    let err = b.fails(10, &["-d", "mine", "push"]);
    assert!(err.contains("access refused: no document "), "{err}");
    assert!(
        err.contains(&format!("is shared with key {reader}")),
        "{err}"
    );
    a.fails(4, &["-d", "mine", "get", "x"]);
}

#[test]
fn a_granted_role_gives_access_without_allow() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    a.ok(&["doc", "new", "secret"]);
    let (_server, url, _, _) = serve(&a, &[]);
    let (_dir, key, file) = new_key();
    let w = Dir::new();
    let out = w
        .cmd(&["clone", &url, "dest", "--identity"])
        .args(&[&file])
        .run();
    out.fails(10);

    // A reader of main: main only (and not even the name of the other).
    a.ok(&["grant", &key, "--role", "reader"]);
    let (b, report) = clone_as(&url, &file);
    assert_eq!(report["docs"], 1, "{report}");
    let docs = b.ok(&["doc", "ls"]);
    assert!(
        docs.starts_with("main\t") && docs.lines().count() == 1,
        "{docs}"
    );
    assert_eq!(b.ok(&["get", "k"]), "1\n");
    // A reader cannot write, here or there.
    b.fails(10, &["set", "k", "2"]);

    // A writer pushes.
    a.ok(&["grant", &key, "--role", "writer"]);
    b.ok(&["pull"]);
    b.ok(&["set", "k", "2"]);
    b.ok(&["push"]);
    assert_eq!(a.ok(&["get", "k"]), "2\n");
}

#[test]
fn a_tcp_clone_with_identity_reads_and_writes_with_that_key() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let (_keys, writer, writer_file) = new_key();
    a.ok(&["grant", &writer]);
    let (_server, url, _, _) = serve(&a, &[]);
    let (b, _) = clone_as(&url, &writer_file);
    // Reads, the key, writes and a push over tcp, all without --identity.
    assert_eq!(b.ok(&["get", "k"]), "1\n");
    b.ok(&["log"]);
    assert_eq!(b.ok(&["id"]).trim(), writer);
    let cid = b.ok(&["set", "k", "2"]);
    assert_eq!(
        s(&b.json(&["show", cid.trim(), "--json"]), "author"),
        writer
    );
    b.ok(&["push"]);
    assert_eq!(a.ok(&["get", "k"]), "2\n");
    b.ok(&["pull"]);
}
