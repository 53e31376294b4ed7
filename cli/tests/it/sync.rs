//! Network sync from the command line: `clone`, `remote`, `pull`, `push` and `sync` over local
//! paths, TCP (`serve --listen`) and ssh (through a stand-in for ssh), `bundle` files, and what
//! the CLI does with peers that are unreachable, silent or lying. Both sides are always the real
//! `weft` binary on real repos; the hostile peers are plain sockets in the test.

use std::{
    ffi::OsString,
    fs,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    thread::{self, JoinHandle},
};

use serde_json::{json, Value as Json};

use crate::{
    tcp::{clone_as, new_key},
    util::{s, weft_bin, Dir, Proc},
};

/// A path as a command-line argument.
fn arg(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// The CIDs of every change of document `-d doc` (default `main`), newest first.
fn log_cids(dir: &Dir, doc: Option<&str>) -> Vec<String> {
    let mut args = vec!["log", "--json"];
    if let Some(d) = doc {
        args.extend(["-d", d]);
    }
    dir.run(&args)
        .success()
        .json_lines()
        .iter()
        .map(|c| s(c, "cid").to_string())
        .collect()
}

/// The heads of a document, sorted.
fn heads_of(dir: &Dir, doc: &str) -> Vec<String> {
    let mut heads: Vec<String> = dir
        .ok(&["-d", doc, "heads"])
        .lines()
        .map(str::to_string)
        .collect();
    heads.sort();
    heads
}

/// The heads of document `main`, sorted.
fn heads(dir: &Dir) -> Vec<String> {
    heads_of(dir, "main")
}

/// Every concurrent value of a register, sorted.
fn all_values(dir: &Dir, key: &str) -> Vec<String> {
    let mut v: Vec<String> = dir
        .ok(&["get", key, "--all"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The id of document `main`.
fn main_doc(dir: &Dir) -> String {
    let docs = dir.json(&["doc", "ls", "--json"]);
    let main = docs["docs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "main")
        .unwrap()
        .clone();
    s(&main, "id").to_string()
}

/// A number field of a JSON object.
fn n(v: &Json, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field:?} is not a number in {v}"))
}

/// Asserts that `v` is a sync report (`pull|push|sync --json`) for `remote`, with exactly the
/// documented fields (plus `root` for a clone).
fn assert_report(v: &Json, remote: &str, clone: bool) {
    let mut keys: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut want = vec![
        "bytes_in",
        "bytes_out",
        "changes_in",
        "changes_out",
        "docs",
        "redundant_in",
        "redundant_out",
        "remote",
        "round_trips",
    ];
    if clone {
        want.push("root");
    }
    want.sort_unstable();
    assert_eq!(keys, want, "{v}");
    assert_eq!(v["remote"], remote, "{v}");
    // Something always crosses the wire (the greetings), and redundant changes are a subset.
    assert!(n(v, "bytes_in") > 0 && n(v, "bytes_out") > 0, "{v}");
    assert!(n(v, "redundant_in") <= n(v, "changes_in"), "{v}");
    assert!(n(v, "redundant_out") <= n(v, "changes_out"), "{v}");
}

/// Asserts that a clone's `root` is `dir` (it may be spelled `DIR/.`).
fn assert_root(report: &Json, dir: &Dir) {
    assert_eq!(
        Path::new(s(report, "root")).canonicalize().unwrap(),
        dir.path().canonicalize().unwrap(),
        "{report}"
    );
}

/// A word of `text` that parses as a CID.
fn cid_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.starts_with("bafy") && w.parse::<weft_dag::Cid>().is_ok())
        .unwrap_or_else(|| panic!("no CID in {text:?}"))
        .to_string()
}

/// Asserts that the one error line about a peer that failed before speaking (a `weft serve
/// --stdio` child, or ssh) carries what the far side said on its stderr.
///
/// Known race in weft-sync (`transport.rs`, `Connection::child_complaint`): it waits for the
/// child but not for the thread that reads the child's stderr, so now and then (about 1 run in
/// 300) the far side's words are not read yet and the generic link error is shown instead
/// ("the peer closed the connection before its greeting", or "connection to ... failed: Broken
/// pipe"). Until that is fixed, those are accepted too; afterwards, drop them.
fn assert_far_side_said(err: &str, reason: &str) {
    let generic = err.contains("the peer closed the connection before its greeting")
        || (err.contains("connection to ") && err.contains("Broken pipe"));
    assert!(
        err.contains(reason) || generic,
        "{err:?} does not carry the far side's {reason:?}"
    );
}

/// A port on which nothing listens: 1 is privileged and unused, so connecting is refused.
const UNREACHABLE: &str = "tcp://127.0.0.1:1";

// ------------------------------------------------------------------------------------------
// Local paths.

#[test]
fn path_clone_then_concurrent_edits_converge_with_sync() {
    let a = Dir::init();
    a.ok(&["set", "k", "base"]);
    a.ok(&["incr", "visits"]);
    a.ok(&["sadd", "tags", "x"]);
    let a_url = arg(a.path()).to_string();

    let (b, report) = Dir::clone_of(&a_url);
    assert_report(&report, &a_url, true);
    assert_root(&report, &b);
    assert_eq!(n(&report, "changes_in"), 4, "genesis and three writes");
    assert_eq!(n(&report, "changes_out"), 0);
    assert_eq!(n(&report, "docs"), 1);
    assert!(n(&report, "round_trips") >= 1, "{report}");
    assert_eq!(heads(&b), heads(&a));
    assert_eq!(b.ok(&["ls"]), a.ok(&["ls"]));
    assert_eq!(
        main_doc(&b),
        main_doc(&a),
        "the clone has A's document as main"
    );
    assert_eq!(b.ok(&["remote", "ls"]), format!("origin\t{a_url}\n"));
    assert_eq!(
        b.json(&["remote", "ls", "--json"]),
        json!([{"name": "origin", "url": a_url}])
    );
    assert_ne!(b.ok(&["id"]), a.ok(&["id"]), "a clone has its own key");

    // Only A's key (the owner) and the keys it grants may write: A makes B a writer, and B
    // pulls the grant before it writes.
    a.ok(&["grant", b.ok(&["id"]).trim(), "--role", "writer"]);
    let pulled = b.json(&["pull", "--json"]);
    assert_eq!(n(&pulled, "changes_in"), 1, "{pulled}");

    // Both sides write while apart, to the same register among others.
    a.ok(&["set", "k", "fromA"]);
    a.ok(&["incr", "visits", "2"]);
    b.ok(&["set", "k", "fromB"]);
    b.ok(&["sadd", "tags", "y"]);
    assert_ne!(heads(&a), heads(&b));

    let report = b.json(&["sync", "--json"]);
    assert_report(&report, &a_url, false);
    assert_eq!(n(&report, "changes_in"), 2, "{report}");
    assert_eq!(n(&report, "changes_out"), 2, "{report}");
    assert_eq!(n(&report, "redundant_in"), 0, "{report}");
    assert!(n(&report, "round_trips") >= 1, "{report}");

    let converged = heads(&a);
    assert_eq!(heads(&b), converged);
    assert_eq!(converged.len(), 2, "two concurrent branches: {converged:?}");
    let both = vec!["\"fromA\"".to_string(), "\"fromB\"".to_string()];
    assert_eq!(all_values(&a, "k"), both);
    assert_eq!(all_values(&b, "k"), both);
    assert_eq!(b.ok(&["ls"]), a.ok(&["ls"]));
    assert_eq!(b.ok(&["get", "visits"]), "3\n");
    assert_eq!(a.json(&["get", "tags"]), json!(["x", "y"]));

    // Nothing new: no change crosses, either way.
    let again = b.json(&["pull", "--json"]);
    assert_report(&again, &a_url, false);
    assert_eq!(n(&again, "changes_in"), 0, "{again}");
    assert_eq!(n(&again, "changes_out"), 0, "{again}");
    let again = b.json(&["push", "--json"]);
    assert_eq!(n(&again, "changes_out"), 0, "{again}");
    let human = b.ok(&["sync"]);
    assert!(
        human.starts_with(&format!("synced with {a_url}: 0 changes in, 0 changes out")),
        "{human}"
    );
    assert_eq!(b.ok(&["-q", "pull"]), "", "-q prints nothing");

    // A's side, pulling from B by path: nothing new either.
    let from_b = a.json(&["pull", arg(b.path()), "--json"]);
    assert_eq!(n(&from_b, "changes_in"), 0, "{from_b}");
    a.ok(&["fsck"]);
    b.ok(&["fsck"]);
}

#[test]
fn path_push_and_pull_move_exactly_the_new_changes() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let (b, _) = Dir::clone_of(arg(a.path()));
    // A makes B's key a writer, and B pulls the grant before it writes.
    a.ok(&["grant", b.ok(&["id"]).trim(), "--role", "writer"]);
    b.ok(&["pull"]);

    let c1 = b.ok(&["set", "from_b", "yes"]).trim().to_string();
    let c2 = b.ok(&["incr", "n"]).trim().to_string();
    let pushed = b.json(&["push", "--json"]);
    assert_eq!(n(&pushed, "changes_out"), 2, "{pushed}");
    assert_eq!(n(&pushed, "changes_in"), 0, "{pushed}");
    assert_eq!(a.ok(&["get", "from_b"]), "\"yes\"\n");
    assert_eq!(heads(&a), vec![c2.clone()]);
    assert!(log_cids(&a, None).contains(&c1));

    let c3 = a.ok(&["set", "k", "2"]).trim().to_string();
    let human = b.ok(&["pull"]);
    assert!(
        human.starts_with(&format!(
            "pulled from {}: 1 change in, 0 changes out",
            arg(a.path())
        )),
        "{human}"
    );
    assert_eq!(heads(&b), vec![c3]);
    assert_eq!(b.ok(&["get", "k"]), "2\n");
}

#[test]
fn clone_by_relative_path_and_named_remotes() {
    let w = Dir::new();
    w.ok(&["init", "a"]);
    w.ok(&["-C", "a", "set", "k", "1"]);

    // A relative URL is taken from where clone runs, and remembered so that it still works
    // from anywhere inside the clone.
    let out = w.ok(&["clone", "a", "b"]);
    assert!(out.starts_with("cloned a into "), "{out}");
    assert!(out.contains(": 2 changes in"), "{out}");
    fs::create_dir(w.join("b/sub")).unwrap();
    w.ok(&["-C", "a", "set", "k", "2"]);
    w.ok(&["-C", "b/sub", "pull"]);
    assert_eq!(w.ok(&["-C", "b", "get", "k"]), "2\n");

    // A relative path stored under a name is taken from the repo's root.
    w.ok(&["-C", "b", "remote", "add", "up", "../a"]);
    assert_eq!(
        w.ok(&["-C", "b", "remote", "ls"]).lines().nth(1),
        Some("up\t../a")
    );
    w.ok(&["-C", "a", "set", "k", "3"]);
    w.ok(&["-C", "b/sub", "pull", "up"]);
    assert_eq!(w.ok(&["-C", "b", "get", "k"]), "3\n");

    // A path given on the command line is taken from the current directory.
    w.ok(&["-C", "a", "set", "k", "4"]);
    let out = w.json(&["-C", "b/sub", "pull", "../../a", "--json"]);
    assert_eq!(n(&out, "changes_in"), 1, "{out}");
    assert_eq!(out["remote"], "../../a");

    // Without DIR, the clone is named after the source.
    fs::create_dir(w.join("c")).unwrap();
    w.ok(&["-C", "c", "clone", "../a"]);
    assert!(w.join("c/a/.weft").is_dir());
    assert_eq!(w.ok(&["-C", "c/a", "get", "k"]), "4\n");

    // remote rm forgets; names are checked.
    w.ok(&["-C", "b", "remote", "rm", "up"]);
    let err = w.fails(4, &["-C", "b", "pull", "up"]);
    assert!(err.contains("unknown remote \"up\""), "{err}");
    let err = w.fails(4, &["-C", "b", "remote", "rm", "up"]);
    assert!(err.contains("unknown remote"), "{err}");
    let err = w.fails(2, &["-C", "b", "remote", "add", "origin", "../a"]);
    assert!(err.contains("already exists"), "{err}");
    w.fails(2, &["-C", "b", "remote", "add", "bad name", "../a"]);
    w.fails(2, &["-C", "b", "remote", "add", "x", "foo://y"]);
    assert_eq!(w.ok(&["-C", "b", "remote", "ls"]).lines().count(), 1);
}

#[test]
fn one_document_with_d() {
    let a = Dir::init();
    a.ok(&["set", "m", "1"]);
    a.ok(&["doc", "new", "notes"]);
    a.ok(&["-d", "notes", "set", "n", "1"]);
    let (b, _) = Dir::clone_of(arg(a.path()));
    assert_eq!(b.ok(&["-d", "notes", "get", "n"]), "1\n");

    a.ok(&["set", "m", "2"]);
    a.ok(&["-d", "notes", "set", "n", "2"]);
    let out = b.json(&["-d", "notes", "pull", "--json"]);
    assert_eq!(n(&out, "docs"), 1, "{out}");
    assert_eq!(n(&out, "changes_in"), 1, "{out}");
    assert_eq!(b.ok(&["-d", "notes", "get", "n"]), "2\n");
    assert_eq!(b.ok(&["get", "m"]), "1\n", "main was left alone");

    let err = b.fails(4, &["-d", "nosuch", "pull"]);
    assert!(err.contains("nosuch"), "{err}");
}

// ------------------------------------------------------------------------------------------
// TCP.

#[test]
fn tcp_clone_pull_push_while_serving() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let (mut server, url) = a.serve_tcp();
    // Over TCP a key reads and pushes where it holds a role (see tcp.rs).
    let (_key_dir, key, key_file) = new_key();
    a.ok(&["grant", &key, "--role", "writer"]);

    let (b, report) = clone_as(&url, &key_file);
    assert_report(&report, &url, true);
    assert_eq!(n(&report, "changes_in"), 3);
    assert_eq!(b.ok(&["remote", "ls"]), format!("origin\t{url}\n"));
    // `heads` on A runs in the server, which holds the repo.
    assert_eq!(heads(&b), heads(&a));

    // A write on A while it serves (through its daemon), pulled over TCP.
    let c = a.ok(&["set", "k", "2"]).trim().to_string();
    let pulled = b.json(&["pull", "--json"]);
    assert_report(&pulled, &url, false);
    assert_eq!(n(&pulled, "changes_in"), 1, "{pulled}");
    assert_eq!(heads(&b), vec![c]);
    assert_eq!(b.ok(&["get", "k"]), "2\n");

    // A push over TCP lands in the served repo.
    let pushed_cid = b.ok(&["set", "pushed", "yes"]).trim().to_string();
    let pushed = b.json(&["push", "--json"]);
    assert_eq!(n(&pushed, "changes_out"), 1, "{pushed}");
    assert_eq!(a.ok(&["get", "pushed"]), "\"yes\"\n");
    assert_eq!(heads(&a), vec![pushed_cid]);

    // Concurrent writes, then sync by URL.
    a.ok(&["set", "k", "fromA"]);
    b.ok(&["set", "k", "fromB"]);
    let synced = b.json(&["sync", &url, "--json"]);
    assert_eq!(n(&synced, "changes_in"), 1, "{synced}");
    assert_eq!(n(&synced, "changes_out"), 1, "{synced}");
    assert_eq!(heads(&a), heads(&b));
    assert_eq!(all_values(&a, "k"), all_values(&b, "k"));
    assert_eq!(all_values(&a, "k").len(), 2);
    a.ok(&["fsck"]);

    // The server stops when its stdin closes, and leaves no socket behind.
    let out = server.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    assert!(!a.socket().exists());
    b.ok(&["fsck"]);
}

#[test]
fn tcp_server_serves_several_clients_at_once() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    a.ok(&["sadd", "s", "a", "b"]);
    let (_server, url) = a.serve_tcp();
    // Four writers, each with a key of its own.
    let keys: Vec<_> = (0..4).map(|_| new_key()).collect();
    for (_, key, _) in &keys {
        a.ok(&["grant", key, "--role", "writer"]);
    }
    let a_heads = heads(&a);
    let a_changes = log_cids(&a, None).len() as u64;

    // Four clones at once.
    let dirs: Vec<Dir> = (0..4).map(|_| Dir::new()).collect();
    let mut procs: Vec<Proc> = dirs
        .iter()
        .zip(&keys)
        .map(|(d, (_, _, file))| {
            let mut cmd = d.cmd(&["clone", &url, ".", "--json", "--identity"]);
            cmd.args(&[file]);
            Proc::spawn(&mut cmd)
        })
        .collect();
    for p in &mut procs {
        let report = p.finish().success().json();
        assert_eq!(n(&report, "changes_in"), a_changes, "{report}");
    }
    for (d, (_, _, file)) in dirs.iter().zip(&keys) {
        // Each clone goes on signing with its key.
        fs::copy(file, d.join(".weft/key")).unwrap();
        assert_eq!(heads(d), a_heads);
    }

    // Four syncs at once, each with a key of its own to send.
    for (i, d) in dirs.iter().enumerate() {
        d.ok(&["set", &format!("key{i}"), &i.to_string()]);
    }
    let mut procs: Vec<Proc> = dirs
        .iter()
        .map(|d| Proc::spawn(&mut d.cmd(&["sync", "--json"])))
        .collect();
    for p in &mut procs {
        let report = p.finish().success().json();
        assert_eq!(n(&report, "changes_out"), 1, "{report}");
    }
    for i in 0..4 {
        assert_eq!(a.ok(&["get", &format!("key{i}")]), format!("{i}\n"));
    }
    let a_heads = heads(&a);
    assert_eq!(a_heads.len(), 4, "four concurrent pushes: {a_heads:?}");

    // Four pulls at once: everyone ends with every change (each got some of the others' keys
    // in its sync already, depending on the order the server saw them in).
    let mut procs: Vec<Proc> = dirs
        .iter()
        .map(|d| Proc::spawn(&mut d.cmd(&["pull", "--json"])))
        .collect();
    for p in &mut procs {
        let report = p.finish().success().json();
        assert!(n(&report, "changes_in") <= 3, "{report}");
    }
    for d in &dirs {
        assert_eq!(heads(d), a_heads);
        assert_eq!(d.ok(&["ls"]), a.ok(&["ls"]));
    }
}

#[test]
fn tcp_server_survives_garbage_and_silent_clients() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let (mut server, url) = a.serve_tcp();
    let addr = url.rsplit_once('@').unwrap().1;
    let (_key_dir, key, key_file) = new_key();
    a.ok(&["grant", &key, "--role", "reader"]);

    // Garbage, then gone.
    let mut garbage = TcpStream::connect(addr).unwrap();
    garbage
        .write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    drop(garbage);
    // A frame header announcing 4 GiB, then gone.
    let mut huge = TcpStream::connect(addr).unwrap();
    huge.write_all(&[0xff; 4]).unwrap();
    drop(huge);
    // Half a frame, and then nothing, kept open.
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(&[0, 0, 0, 100, 0x01, 0xa1]).unwrap();
    // Connected and silent, kept open.
    let silent = TcpStream::connect(addr).unwrap();

    // Real clients still get served, while those connections hang.
    let (b, report) = clone_as(&url, &key_file);
    assert_eq!(n(&report, "changes_in"), 3, "{report}");
    a.ok(&["set", "k", "2"]);
    let pulled = b.json(&["pull", "--json"]);
    assert_eq!(n(&pulled, "changes_in"), 1, "{pulled}");
    assert_eq!(heads(&a), heads(&b));
    drop((half, silent));

    // And the server still holds and serves the repo.
    assert_eq!(a.ok(&["get", "k"]), "2\n");
    a.ok(&["fsck"]);
    let out = server.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    assert!(
        !out.stderr().contains("panicked"),
        "the server panicked: {}",
        out.report()
    );
}

// ------------------------------------------------------------------------------------------
// ssh, through a stand-in.

/// A stand-in for ssh, written into a temporary directory: it logs its arguments (one per
/// line), skips the options and the host, and runs the remote command (which must be one
/// argument, as ssh sends it to the far side's shell) with `sh -c`, with the directory of the
/// `weft` under test first in `PATH`, as sshd would run it on a host where weft is installed.
#[derive(Debug)]
struct FakeSsh {
    dir: Dir,
}

/// Quotes a word for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl FakeSsh {
    fn new() -> FakeSsh {
        let dir = Dir::new();
        let bin_dir = Path::new(weft_bin()).parent().unwrap();
        let script = format!(
            r#"# A stand-in for ssh in weft's tests.
for a in "$@"; do printf '%s\n' "$a"; done >> {log}
while [ $# -gt 0 ]; do
  case "$1" in
    -p|-l|-i|-o) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
shift
if [ $# -ne 1 ]; then
  echo "fake ssh: expected the remote command as one argument, got $#" >&2
  exit 255
fi
PATH={bin}:$PATH
export PATH
# As sshd: the command runs in the login's home directory.
cd "${{HOME:-/}}" || exit 255
exec sh -c "$1"
"#,
            log = sh_quote(arg(&dir.join("ssh.log"))),
            bin = sh_quote(arg(bin_dir)),
        );
        fs::write(dir.join("fake-ssh"), script).unwrap();
        FakeSsh { dir }
    }

    /// The value of `WEFT_SSH`. The script is run by `sh` rather than executed, so it needs no
    /// mode bits (and cannot hit "text file busy" while other tests fork).
    fn env(&self) -> OsString {
        let script = self.dir.join("fake-ssh");
        assert!(
            !arg(&script).contains(char::is_whitespace),
            "WEFT_SSH is split on whitespace; the temporary directory has some: {script:?}"
        );
        OsString::from(format!("sh {}", arg(&script)))
    }

    /// Every argument it was started with so far, one per line.
    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("ssh.log")).unwrap_or_default()
    }

    /// Runs `weft ARGS` in `dir` with this ssh, asserts success, returns stdout.
    fn ok(&self, dir: &Dir, args: &[&str]) -> String {
        dir.cmd(args)
            .env("WEFT_SSH", self.env())
            .run()
            .success()
            .stdout()
    }
}

#[test]
fn ssh_clone_push_pull_through_a_stand_in() {
    let ssh = FakeSsh::new();
    let far = Dir::new();
    // A space and a quote in the path: the remote command must quote it for the far shell.
    let name = "far side's repo";
    far.ok(&["init", name]);
    far.ok(&["-C", name, "set", "k", "1"]);
    let far_path = far.join(name);
    let url = format!("ssh://bob@host:2222{}", arg(&far_path));

    let env = ssh.env();
    let (b, report) = Dir::clone_with(&url, &[("WEFT_SSH", env.as_os_str())]);
    assert_report(&report, &url, true);
    assert_eq!(n(&report, "changes_in"), 2);
    let expected_call = format!(
        "-p\n2222\nbob@host\nweft serve --stdio {}\n",
        sh_quote(arg(&far_path))
    );
    assert_eq!(ssh.log(), expected_call);
    assert_eq!(b.ok(&["remote", "ls"]), format!("origin\t{url}\n"));
    assert_eq!(b.ok(&["get", "k"]), "1\n");

    // The far side makes B's key a writer; B pulls the grant through ssh before it writes.
    far.ok(&["-C", name, "grant", b.ok(&["id"]).trim()]);
    let pulled = ssh.ok(&b, &["pull"]);
    assert!(pulled.contains("1 change in"), "{pulled}");

    // Push and pull through ssh.
    b.ok(&["set", "from_b", "1"]);
    let pushed = ssh.ok(&b, &["push", "--json"]);
    assert_eq!(
        n(&serde_json::from_str(&pushed).unwrap(), "changes_out"),
        1,
        "{pushed}"
    );
    assert_eq!(far.ok(&["-C", name, "get", "from_b"]), "1\n");
    far.ok(&["-C", name, "set", "k", "2"]);
    let pulled = ssh.ok(&b, &["pull"]);
    assert!(pulled.contains("1 change in"), "{pulled}");
    assert_eq!(b.ok(&["get", "k"]), "2\n");
    // The clone, the pull of the grant, the push and the pull.
    assert_eq!(ssh.log(), expected_call.repeat(4));

    // Without a port or user, ssh gets just the host. A repo with a `main` of its own gets
    // the far side's `main` beside it, reachable by id.
    let other = Dir::init();
    let plain = format!("ssh://host{}", arg(&far_path));
    let out: Json = serde_json::from_str(&ssh.ok(&other, &["pull", &plain, "--json"])).unwrap();
    // The genesis, k = 1, the grant, from_b and k = 2.
    assert_eq!(n(&out, "changes_in"), 5, "{out}");
    assert_eq!(other.ok(&["-d", &main_doc(&b), "get", "k"]), "2\n");
    assert_eq!(other.ok(&["ls"]), "", "its own main is untouched");
    assert!(ssh.log().ends_with(&format!(
        "\nhost\nweft serve --stdio {}\n",
        sh_quote(arg(&far_path))
    )));
}

#[test]
fn ssh_while_the_far_side_is_served() {
    let ssh = FakeSsh::new();
    let far = Dir::init();
    far.ok(&["set", "k", "1"]);
    // `weft serve` holds the far repo: the `weft serve --stdio` that ssh runs there hands the
    // session to it through .weft/weft.sock.
    let mut server = far.serve();
    let url = format!("ssh://host{}", arg(far.path()));

    let env = ssh.env();
    let (b, report) = Dir::clone_with(&url, &[("WEFT_SSH", env.as_os_str())]);
    assert_eq!(n(&report, "changes_in"), 2, "{report}");
    assert_eq!(heads(&b), heads(&far));

    // The far side (through its server) makes B's key a writer; B pulls the grant before it
    // writes.
    far.ok(&["grant", b.ok(&["id"]).trim()]);
    ssh.ok(&b, &["pull"]);
    assert_eq!(heads(&b), heads(&far));

    b.ok(&["set", "from_b", "yes"]);
    ssh.ok(&b, &["push"]);
    assert_eq!(far.ok(&["get", "from_b"]), "\"yes\"\n");

    let c = far.ok(&["set", "k", "2"]).trim().to_string();
    ssh.ok(&b, &["pull"]);
    assert_eq!(heads(&b), vec![c]);

    // Both sides write, then sync converges.
    far.ok(&["incr", "n"]);
    b.ok(&["incr", "n", "2"]);
    let synced: Json = serde_json::from_str(&ssh.ok(&b, &["sync", "--json"])).unwrap();
    assert_eq!(n(&synced, "changes_in"), 1, "{synced}");
    assert_eq!(n(&synced, "changes_out"), 1, "{synced}");
    assert_eq!(heads(&far), heads(&b));
    assert_eq!(far.ok(&["get", "n"]), "3\n");

    let out = server.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    far.ok(&["fsck"]);
}

// ------------------------------------------------------------------------------------------
// Bundles.

#[test]
fn full_bundle_into_a_fresh_repo() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    a.ok(&["incr", "n", "5"]);
    a.ok(&["sadd", "s", "x"]);
    let doc = main_doc(&a);
    let files = Dir::new();
    let file = files.join("all.car");

    let made = a.json(&["bundle", "create", arg(&file), "--json"]);
    assert_eq!(n(&made, "changes"), 4, "{made}");
    assert_eq!(n(&made, "bytes"), fs::metadata(&file).unwrap().len());
    assert_eq!(made["roots"], json!(heads(&a)));

    // `weft init` made the receiver's own "main"; A's document arrives beside it.
    let e = Dir::init();
    let applied = e.json(&["bundle", "apply", arg(&file), "--json"]);
    assert_eq!(n(&applied, "applied"), 4, "{applied}");
    assert_eq!(n(&applied, "duplicates"), 0, "{applied}");
    assert_eq!(e.ok(&["-d", &doc, "ls"]), a.ok(&["ls"]));
    assert_eq!(heads_of(&e, &doc), heads(&a));
    assert_eq!(e.ok(&["ls"]), "", "the receiver's own main is untouched");
    assert_ne!(main_doc(&e), doc);

    // Applying it again changes nothing.
    let again = e.json(&["bundle", "apply", arg(&file), "--json"]);
    assert_eq!(n(&again, "applied"), 0, "{again}");
    assert_eq!(n(&again, "duplicates"), 4, "{again}");
    e.ok(&["fsck"]);
}

#[test]
fn incremental_bundle_since_the_receivers_heads() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let (b, _) = Dir::clone_of(arg(a.path()));
    a.ok(&["set", "k", "2"]);
    a.ok(&["incr", "n"]);
    a.ok(&["doc", "new", "notes"]);
    a.ok(&["-d", "notes", "set", "x", "1"]);

    let files = Dir::new();
    let file = files.join("inc.car");
    let mut args = vec![
        "-d".to_string(),
        "main".into(),
        "bundle".into(),
        "create".into(),
        arg(&file).into(),
        "--json".into(),
        "--since".into(),
    ];
    args.extend(heads(&b));
    let made = a.json(&args);
    assert_eq!(n(&made, "changes"), 2, "only what B lacks: {made}");

    let applied = b.json(&["bundle", "apply", arg(&file), "--json"]);
    assert_eq!(n(&applied, "applied"), 2, "{applied}");
    assert_eq!(heads(&b), heads(&a));
    assert_eq!(b.ok(&["ls"]), a.ok(&["ls"]));
    // -d main left the other document out.
    b.fails(4, &["-d", "notes", "ls"]);

    // A relative FILE is taken from the current directory.
    b.ok(&["bundle", "create", "back.car"]);
    assert!(b.join("back.car").is_file());
    // A --since change that this side never saw (a typo, the wrong repo) is an error naming
    // it, not a bundle of the whole history.
    let unknown = a.ok(&["-d", "notes", "heads"]);
    let unknown = unknown.trim();
    let err = b.fails(4, &["bundle", "create", "x.car", "--since", unknown]);
    assert!(err.contains(unknown), "{err}");
    assert!(!b.join("x.car").exists());
    assert!(!b.join("x.car.partial").exists());
}

/// An incremental bundle applied where the changes it builds on are missing (an earlier bundle
/// was skipped): exit 4, naming the missing changes and what to do, and the repo is sound.
#[test]
fn a_bundle_whose_base_is_missing_names_it() {
    let a = Dir::init();
    let (b, _) = Dir::clone_of(arg(a.path()));
    let base = a.head();
    let files = Dir::new();
    let first = files.join("1.car");
    let second = files.join("2.car");
    let skipped = a.ok(&["set", "k", "1"]).trim().to_string();
    a.ok(&["bundle", "create", arg(&first), "--since", &base]);
    a.ok(&["set", "k", "2"]);
    a.ok(&["bundle", "create", arg(&second), "--since", &skipped]);

    let err = b.fails(4, &["bundle", "apply", arg(&second)]);
    assert!(err.contains(&skipped), "{err}");
    assert!(err.contains("earlier"), "{err}");
    assert!(!err.contains("corrupt"), "{err}");
    assert_eq!(b.head(), base);
    b.ok(&["fsck"]);
    // Applied in order, both go in.
    b.ok(&["bundle", "apply", arg(&first)]);
    b.ok(&["bundle", "apply", arg(&second)]);
    assert_eq!(b.heads(), a.heads());
}

#[test]
fn damaged_bundles_are_7_and_leave_the_receiver_sound() {
    let a = Dir::init();
    for i in 0..5 {
        a.ok(&["set", &format!("k{i}"), &i.to_string()]);
    }
    let doc = main_doc(&a);
    let files = Dir::new();
    let file = files.join("all.car");
    a.ok(&["bundle", "create", arg(&file)]);
    let bytes = fs::read(&file).unwrap();

    let r = Dir::init();
    // Cut inside the header, in the middle, and one byte short of the end.
    for cut in [10, bytes.len() / 2, bytes.len() - 1] {
        let truncated = files.join(format!("cut{cut}.car"));
        fs::write(&truncated, &bytes[..cut]).unwrap();
        let err = r.fails(7, &["bundle", "apply", arg(&truncated)]);
        assert!(err.contains("bundle"), "{err}");
        assert!(err.contains(arg(&truncated)), "names the file: {err}");
        r.ok(&["fsck"]);
    }

    // Not a bundle at all.
    let junk = files.join("junk.car");
    fs::write(&junk, b"this is not a CAR file\n").unwrap();
    r.fails(7, &["bundle", "apply", arg(&junk)]);

    // One flipped bit in the last byte of the file, which lies in the last block's data.
    let mut flipped = bytes.clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    let bad = files.join("flipped.car");
    fs::write(&bad, &flipped).unwrap();
    let r2 = Dir::init();
    let err = r2.fails(7, &["bundle", "apply", arg(&bad)]);
    let named = cid_in(&err);
    assert!(
        log_cids(&a, None).contains(&named),
        "{err} names {named}, not one of A's changes"
    );
    r2.ok(&["fsck"]);

    // The intact bundle still completes both receivers.
    r.ok(&["bundle", "apply", arg(&file)]);
    r2.ok(&["bundle", "apply", arg(&file)]);
    assert_eq!(heads_of(&r, &doc), heads(&a));
    assert_eq!(heads_of(&r2, &doc), heads(&a));
    r2.ok(&["fsck"]);
}

// ------------------------------------------------------------------------------------------
// watch.

#[test]
fn watch_on_a_clone_prints_what_pull_brings() {
    let a = Dir::init();
    let (b, _) = Dir::clone_of(arg(a.path()));
    let doc = main_doc(&a);
    let author = a.ok(&["id"]).trim().to_string();

    // The watcher holds B and serves it: the pull below runs inside it.
    let mut watch = b.watch(&["--count", "1"]);
    let c = a.ok(&["set", "news", "hello"]).trim().to_string();
    let pulled = b.json(&["pull", "--json"]);
    assert_eq!(n(&pulled, "changes_in"), 1, "{pulled}");
    assert_eq!(
        crate::util::untimed(watch.json_line()),
        json!({
            "doc": doc,
            "doc_name": "main",
            "cid": c,
            "author": author,
            "height": 2,
            "keys": ["news"],
            "local": false,
            "changes": [c],
            "diffs": [{"kind": "register", "key": "news", "old": null, "new": "hello", "conflict": false}],
        })
    );
    let out = watch.finish().success();
    assert_eq!(out.stdout(), "");
    assert_eq!(b.ok(&["get", "news"]), "\"hello\"\n");
}

// ------------------------------------------------------------------------------------------
// Bad input and bad peers.

#[test]
fn unknown_remotes_are_4_and_bad_urls_are_2() {
    let b = Dir::init();
    let err = b.fails(4, &["pull"]);
    assert!(err.contains("unknown remote \"origin\""), "{err}");
    for cmd in ["pull", "push", "sync"] {
        let err = b.fails(4, &[cmd, "nosuch"]);
        assert!(err.contains("unknown remote \"nosuch\""), "{err}");
        for url in [
            "foo://x",
            "tcp://host",
            "tcp://host:0",
            "tcp://:80",
            "ssh://host",
        ] {
            let err = b.fails(2, &[cmd, url]);
            assert!(err.contains("bad remote URL"), "{cmd} {url}: {err}");
        }
    }
    let w = Dir::new();
    for url in ["foo://x", "tcp://host", "ssh://host"] {
        w.fails(2, &["clone", url, "dest"]);
        assert!(!w.join("dest").exists());
    }
    let a = Dir::init();
    b.fails(2, &["pull", arg(a.path()), "--timeout", "0"]);
    b.cmd(&["pull", arg(a.path())])
        .env("WEFT_TIMEOUT", "soon")
        .run()
        .fails(2);
}

#[test]
fn unreachable_peers_are_8() {
    let b = Dir::init();
    let err = b.fails(8, &["pull", UNREACHABLE]);
    assert!(err.contains("cannot reach tcp://127.0.0.1:1"), "{err}");

    // A path that is not a repo: the far side's reason, in the one line.
    let not_repo = Dir::new();
    let err = b.fails(8, &["pull", arg(not_repo.path())]);
    assert!(err.contains("not a weft repo"), "{err}");
    let err = b.fails(8, &["push", arg(&not_repo.join("missing"))]);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!err.contains("weft init"), "{err}");

    // The same through ssh.
    let ssh = FakeSsh::new();
    let url = format!("ssh://host{}", arg(not_repo.path()));
    let out = b.cmd(&["pull", &url]).env("WEFT_SSH", ssh.env()).run();
    let err = out.fails(8);
    assert_far_side_said(&err, "not a weft repo");
    assert!(!err.contains("weft init"), "{err}");
    let url = format!("ssh://host{}", arg(&not_repo.join("missing")));
    let out = b.cmd(&["pull", &url]).env("WEFT_SSH", ssh.env()).run();
    let err = out.fails(8);
    assert_far_side_said(&err, "does not exist");
    assert!(!err.contains("weft init"), "{err}");
    // An ssh that cannot be run.
    let out = b
        .cmd(&["pull", &url])
        .env("WEFT_SSH", not_repo.join("no-such-ssh"))
        .run();
    let err = out.fails(8);
    assert!(err.contains("cannot run"), "{err}");
    b.ok(&["fsck"]);
}

/// A TCP peer in the test process: accepts one connection, writes `greeting`, then neither
/// writes nor closes until the client does.
#[derive(Debug)]
struct FakePeer {
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl FakePeer {
    fn new(greeting: &'static [u8]) -> FakePeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = thread::spawn(move || {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let _ = conn.write_all(greeting);
            let mut sink = Vec::new();
            let _ = conn.read_to_end(&mut sink);
        });
        FakePeer {
            addr,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("tcp://{}", self.addr)
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        // If no client came, come ourselves (and leave at once) so that the thread ends.
        drop(TcpStream::connect(self.addr));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `weft --help` documents exit code `code` with `text`.
fn assert_documented(code: u8, text: &str) {
    let help = Dir::new().ok(&["--help"]);
    let line = format!("  {code}  {text}");
    assert!(help.contains(&line), "--help lacks {line:?}:\n{help}");
}

#[test]
fn silent_peer_is_8_after_the_timeout() {
    let b = Dir::init();
    let peer = FakePeer::new(b"");
    // This waits the one second of the timeout.
    let err = b.fails(8, &["pull", &peer.url(), "--timeout", "1"]);
    assert!(err.contains("sent nothing for 1 s; giving up"), "{err}");
    drop(peer);
    // WEFT_TIMEOUT does the same.
    let peer = FakePeer::new(b"");
    let err = b
        .cmd(&["push", &peer.url()])
        .env("WEFT_TIMEOUT", "1")
        .run()
        .fails(8);
    assert!(err.contains("giving up"), "{err}");
    assert_documented(8, "network:");
    b.ok(&["fsck"]);
}

#[test]
fn peer_speaking_http_is_9() {
    let b = Dir::init();
    let before = heads(&b);
    let peer = FakePeer::new(b"HTTP/1.1 200 OK\r\n\r\n");
    // The first two bytes, "HT", read as the length of the server's handshake message.
    let err = b.fails(9, &["pull", &peer.url(), "--timeout", "30"]);
    assert!(err.contains("malformed secure handshake"), "{err}");
    assert_documented(9, "the peer broke the sync protocol");
    assert_eq!(heads(&b), before);
}

#[test]
fn peer_sending_an_oversized_frame_is_9() {
    let b = Dir::init();
    let peer = FakePeer::new(&[0xff, 0xff, 0xff, 0xff]);
    let err = b.fails(9, &["sync", &peer.url(), "--timeout", "30"]);
    assert!(err.contains("message 2 of 65535 bytes"), "{err}");
    b.ok(&["fsck"]);
}

#[test]
fn failed_clone_leaves_nothing_behind() {
    let w = Dir::new();
    let err = w.fails(8, &["clone", UNREACHABLE, "dest"]);
    assert!(err.contains("cannot reach"), "{err}");
    assert!(
        !w.join("dest").exists(),
        "a failed clone left its directory"
    );

    // A source that does not exist is named as such, not as a repo to `weft init`.
    let err = w.fails(8, &["clone", arg(&w.join("nowhere")), "dest"]);
    assert!(err.contains("nowhere: it does not exist"), "{err}");
    assert!(!err.contains("weft init"), "{err}");
    assert!(!w.join("dest").exists());

    // A peer that answers with nonsense, after the clone's repo was created.
    let peer = FakePeer::new(&[0xff, 0xff, 0xff, 0xff]);
    w.fails(9, &["clone", &peer.url(), "dest"]);
    assert!(!w.join("dest").exists());

    // An existing empty directory stays, empty.
    fs::create_dir(w.join("empty")).unwrap();
    w.fails(8, &["clone", UNREACHABLE, "empty"]);
    assert!(w.join("empty").is_dir());
    assert_eq!(fs::read_dir(w.join("empty")).unwrap().count(), 0);

    // An existing repo is never touched.
    w.ok(&["init", "repo"]);
    let before = w.ok(&["-C", "repo", "heads"]);
    let err = w.fails(1, &["clone", UNREACHABLE, "repo"]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(w.ok(&["-C", "repo", "heads"]), before);
    w.ok(&["-C", "repo", "fsck"]);
}

/// Two repos in sync whose document `main` has two heads: B cloned A, each wrote, B synced.
fn two_heads_in_sync() -> (Dir, Dir) {
    let a = Dir::init();
    let (b, _) = Dir::clone_of(arg(a.path()));
    a.ok(&["grant", b.ok(&["id"]).trim()]);
    b.ok(&["pull"]);
    a.ok(&["set", "x", "1"]);
    b.ok(&["set", "y", "2"]);
    b.ok(&["sync"]);
    assert_eq!(heads(&a).len(), 2);
    assert_eq!(heads(&a), heads(&b));
    (a, b)
}

/// A sync with nothing to do ends the session cleanly on the far side too: the client lets
/// the process it runs (here a stand-in for ssh, which records how the remote command ended)
/// finish instead of killing it right after its last frame.
#[test]
fn a_no_op_ssh_sync_lets_the_far_side_end_cleanly() {
    let (a, b) = two_heads_in_sync();
    let tools = Dir::new();
    let status = tools.join("status");
    let bin_dir = Path::new(weft_bin()).parent().unwrap();
    let script = format!(
        r#"while [ $# -gt 1 ]; do shift; done
PATH={bin}:$PATH
export PATH
sh -c "$1"
echo $? >> {status}
"#,
        bin = sh_quote(arg(bin_dir)),
        status = sh_quote(arg(&status)),
    );
    fs::write(tools.join("ssh"), script).unwrap();
    let url = format!("ssh://host{}", arg(a.path()));
    for _ in 0..3 {
        let out = b
            .cmd(&["sync", &url, "--json"])
            .env("WEFT_SSH", format!("sh {}", arg(&tools.join("ssh"))))
            .run()
            .success()
            .json();
        assert_eq!(n(&out, "changes_in") + n(&out, "changes_out"), 0, "{out}");
    }
    assert_eq!(fs::read_to_string(&status).unwrap_or_default(), "0\n0\n0\n");
}

/// While `weft serve` holds a repo, path syncs with nothing to do are sessions it sees end
/// (it logs a session that the peer cut).
#[test]
fn a_served_repo_sees_no_op_path_syncs_end() {
    let (a, b) = two_heads_in_sync();
    let mut server = a.serve();
    for _ in 0..8 {
        let out = b.json(&["sync", "--json"]);
        assert_eq!(n(&out, "changes_in") + n(&out, "changes_out"), 0, "{out}");
    }
    server.term();
    let out = server.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    assert!(
        !out.stderr().contains("sync session failed"),
        "{}",
        out.report()
    );
}

// ------------------------------------------------------------------------------------------
// Peers that stop reading.

/// Writes `n` changes of about 100 kB each of hard-to-compress text to `dir`'s document
/// `main`: far more than a pipe holds, so a peer that does not read blocks the writer.
fn write_big_changes(dir: &Dir, n: u32) {
    let mut lines = String::new();
    for i in 0..n {
        let mut value = String::new();
        let mut j = 0u32;
        while value.len() < 100_000 {
            let bytes = [i.to_le_bytes(), j.to_le_bytes()].concat();
            value.push_str(&weft_dag::Cid::hash(weft_dag::Codec::Raw, &bytes).to_string());
            j += 1;
        }
        lines.push_str(&format!("set big/{i} {value}\n"));
    }
    let mut batch = Proc::spawn(&mut dir.cmd(&["batch", "-q"]));
    batch.write_stdin(lines.as_bytes());
    batch.close_stdin();
    let out = batch.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
}

/// `serve --stdio --timeout 1` whose client sends a clone's request and then never reads the
/// reply: the server gives up once it could write nothing for the timeout, with exit 8.
#[test]
fn serve_stdio_drops_a_client_that_stops_reading() {
    use weft_sync::{Direction, Endpoint as _, Initiator, SyncOptions};
    let a = Dir::init();
    write_big_changes(&a, 8);
    let mut server = Proc::spawn(&mut a.cmd(&["serve", "--stdio", ".", "--timeout", "1"]));

    // The client side of the session, in this process: greet, read the server's greeting,
    // ask for everything, then read nothing more.
    let repo = weft_dag::Repo::memory(weft_testkit::identity(7));
    let mut client = Initiator::new(
        &repo,
        SyncOptions {
            direction: Direction::Pull,
            docs: None,
        },
    )
    .unwrap();
    while let Some(frame) = client.poll_transmit().unwrap() {
        server.write_stdin(&frame);
    }
    let mut len = [0u8; 4];
    server.read_exact(&mut len);
    let mut hello = vec![0u8; u32::from_be_bytes(len) as usize];
    server.read_exact(&mut hello);
    client.handle(&hello).unwrap();
    let mut asked = 0;
    while let Some(frame) = client.poll_transmit().unwrap() {
        server.write_stdin(&frame);
        asked += 1;
    }
    assert!(asked > 0, "the client asked for nothing");

    let out = server.wait_unread();
    assert_eq!(out.code(), Some(8), "{}", out.report());
    assert!(
        out.stderr().contains("read nothing for 1 s"),
        "{}",
        out.report()
    );
}

/// `push ssh://... --timeout 1` to a peer that greets and then never reads: the push gives up
/// once it could write nothing for the timeout, with exit 8.
#[test]
fn push_drops_a_peer_that_stops_reading() {
    use weft_sync::{Direction, Endpoint as _, Initiator, Responder, SyncOptions};
    let b = Dir::init();
    // C holds B's document as it is now (its genesis): the far side's greeting names that.
    let (c, _) = Dir::clone_of(arg(b.path()));
    write_big_changes(&b, 8);

    // The far side's greeting, made in this process by a responder on C.
    let hello = {
        let far = c.open();
        let mut responder = Responder::new(&far).unwrap();
        let near = weft_dag::Repo::memory(weft_testkit::identity(7));
        let mut greeter = Initiator::new(
            &near,
            SyncOptions {
                direction: Direction::Push,
                docs: None,
            },
        )
        .unwrap();
        let frame = greeter.poll_transmit().unwrap().unwrap();
        responder.handle(&frame[4..]).unwrap();
        responder.poll_transmit().unwrap().unwrap()
    };
    let tools = Dir::new();
    fs::write(tools.join("hello"), &hello).unwrap();
    // A stand-in for ssh: it sends the greeting, then neither reads nor ends (until killed).
    fs::write(
        tools.join("ssh"),
        format!(
            "cat {}\nexec tail -f /dev/null\n",
            sh_quote(arg(&tools.join("hello")))
        ),
    )
    .unwrap();

    let url = format!("ssh://host{}", arg(c.path()));
    let out = b
        .cmd(&["push", &url, "--timeout", "1"])
        .env("WEFT_SSH", format!("sh {}", arg(&tools.join("ssh"))))
        .run();
    let err = out.fails(8);
    assert!(err.contains("read nothing for 1 s"), "{err}");
}

// ------------------------------------------------------------------------------------------
// Text from a peer.

/// Whether `text` holds a terminal control character (ESC, CR, BEL, ...), a newline aside.
fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n')
}

/// What a peer says (its ERROR frame, an ssh child's stderr) reaches the terminal with its
/// control characters escaped: it can neither color, rewrite nor beep.
#[test]
fn a_peers_control_characters_are_escaped() {
    let b = Dir::init();
    let tools = Dir::new();
    let nasty = "evil\x1b[2K\rall good\x07";
    // A stand-in for ssh whose far side fails on stderr.
    fs::write(
        tools.join("stderr-ssh"),
        "printf 'weft: error: evil\\033[2K\\rall good\\007\\n' >&2\nexit 1\n",
    )
    .unwrap();
    // One whose far side answers with an ERROR frame, then reads what the client sends until
    // it hangs up (a far side that left at once could break the client's pipe before the
    // client read the frame).
    let frame = weft_sync::frame::Frame::Error(nasty.to_string()).encode();
    fs::write(tools.join("error-frame"), frame).unwrap();
    fs::write(
        tools.join("frame-ssh"),
        format!(
            "cat {}\nexec cat >/dev/null\n",
            sh_quote(arg(&tools.join("error-frame")))
        ),
    )
    .unwrap();

    for script in ["stderr-ssh", "frame-ssh"] {
        let out = b
            .cmd(&["pull", "ssh://host/repo"])
            .env("WEFT_SSH", format!("sh {}", arg(&tools.join(script))))
            .run();
        assert!(matches!(out.code(), Some(8 | 9)), "{}", out.report());
        let err = out.stderr();
        assert!(
            !has_control(&err),
            "{script}: raw control characters in {err:?}"
        );
        assert!(
            err.contains(r"evil\u{1b}[2K\rall good\u{7}"),
            "{script}: {err:?}"
        );
    }
}

/// ssh remotes as git reads them: scp-like `user@host:path` (relative to the far home
/// directory), `host:~/path` and `ssh://host/~/path` (the far shell expands the `~`), and
/// `--remote-weft PATH` / `WEFT_REMOTE_WEFT` name the weft the far side runs.
#[test]
fn ssh_scp_like_urls_home_paths_and_remote_weft() {
    let ssh = FakeSsh::new();
    let home = Dir::new();
    home.ok(&["init", "notes"]);
    home.ok(&["-C", "notes", "set", "k", "1"]);
    let home_env = home.path().as_os_str();
    let env = ssh.env();
    for (url, call) in [
        ("bob@host:notes", "bob@host\nweft serve --stdio 'notes'\n"),
        ("host:~/notes", "host\nweft serve --stdio ~/'notes'\n"),
        ("ssh://host/~/notes", "host\nweft serve --stdio ~/'notes'\n"),
    ] {
        let (b, report) = Dir::clone_with(url, &[("WEFT_SSH", &env), ("HOME", home_env)]);
        assert_report(&report, url, true);
        assert_eq!(b.ok(&["get", "k"]), "1\n", "{url}");
        assert!(ssh.log().ends_with(call), "{url}: {}", ssh.log());
        assert_eq!(b.ok(&["remote", "ls"]), format!("origin\t{url}\n"));
    }

    // A weft of our choosing on the far side: it leaves a mark, then runs the real one.
    let wrapper = home.join("my-weft");
    let marks = home.join("marks");
    fs::write(
        &wrapper,
        format!(
            "echo \"$@\" >> {}\nexec weft \"$@\"\n",
            sh_quote(arg(&marks))
        ),
    )
    .unwrap();
    let remote_weft = format!("sh {}", arg(&wrapper));
    let client = Dir::init();
    let out = client
        .cmd(&["pull", "host:notes", "--remote-weft", &remote_weft])
        .env("WEFT_SSH", &env)
        .env("HOME", home_env)
        .run()
        .success();
    assert!(out.stdout().contains("change"), "{}", out.stdout());
    assert!(ssh
        .log()
        .ends_with(&format!("host\n{remote_weft} serve --stdio 'notes'\n")));
    client
        .cmd(&["pull", "host:notes"])
        .env("WEFT_SSH", &env)
        .env("HOME", home_env)
        .env("WEFT_REMOTE_WEFT", &remote_weft)
        .run()
        .success();
    assert_eq!(
        fs::read_to_string(&marks).unwrap(),
        "serve --stdio notes\n".repeat(2)
    );
}

/// A replica whose key was revoked while it kept writing is told when it syncs: one line on
/// stderr naming the document, and `revoked` in `--json`.
#[test]
fn a_revoked_replica_is_told_when_it_syncs() {
    let a = Dir::init();
    let (b, _) = Dir::clone_with(arg(a.path()), &[]);
    let b_key = b.ok(&["id"]).trim().to_string();
    a.ok(&["grant", &b_key]);
    b.ok(&["pull"]);
    b.ok(&["set", "x", "1"]);
    assert_eq!(b.run(&["sync"]).success().stderr(), "");
    a.ok(&["revoke", &b_key]);
    // B writes before it hears of the revoke; its change goes out, and stops counting.
    b.ok(&["set", "y", "2"]);
    let out = b.run(&["sync"]);
    assert_eq!(out.code(), Some(0), "{}", out.report());
    let err = out.stderr();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "this replica's key {b_key} was revoked in document \"main\""
        )),
        "{err}"
    );
    a.fails(4, &["get", "y"]);
    let out = b.run(&["pull", "--json"]);
    let v: Json = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(v["revoked"][0]["name"], "main", "{v}");
    assert_eq!(out.stderr().lines().count(), 1);
    // `status` shows it too.
    let status: Json = serde_json::from_str(&b.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["docs"][0]["revoked"], true, "{status}");
    assert!(b
        .ok(&["status"])
        .contains("this replica's key was revoked here"));
    let status: Json = serde_json::from_str(&a.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["docs"][0]["revoked"], false, "{status}");
    // A replica that was never revoked is told nothing.
    let c = Dir::init();
    let v: Json = serde_json::from_str(&c.ok(&["pull", arg(a.path()), "--json"])).unwrap();
    assert!(v.get("revoked").is_none(), "{v}");
}

/// Documents that arrive by sync from an unrelated repo are listed by `doc ls`, unnamed, with
/// their ids, and `doc name` names them.
#[test]
fn documents_from_an_unrelated_repo_are_listed_and_can_be_named() {
    let a = Dir::init();
    a.ok(&["set", "k", "theirs"]);
    let theirs = a.doc_id(0);
    let b = Dir::init();
    let ours = b.doc_id(0);
    b.ok(&["pull", arg(a.path())]);
    assert_eq!(b.ok(&["doc", "ls"]), format!("main\t{ours}\n\t{theirs}\n"));
    let ls = b.json(&["doc", "ls", "--json"]);
    assert_eq!(
        ls["docs"],
        json!([{"name": "main", "id": ours}, {"name": null, "id": theirs}])
    );
    // Named by id; the name then reads it.
    assert_eq!(
        b.ok(&["doc", "name", &theirs, "a-main"]),
        format!("a-main\t{theirs}\n")
    );
    assert_eq!(b.ok(&["-d", "a-main", "get", "k"]), "\"theirs\"\n");
    // Renamed by its name; a name taken is refused.
    b.ok(&["doc", "name", "a-main", "other"]);
    assert_eq!(
        b.ok(&["doc", "ls"]),
        format!("main\t{ours}\nother\t{theirs}\n")
    );
    b.fails(1, &["doc", "name", "other", "main"]);
}

/// `doc rm` takes a document out of this replica: it leaves `doc ls`, reads of it say it was
/// removed, a sync with the repo it came from does not bring it back, a push of it into this
/// replica is refused, and `doc name` brings it back as it was.
#[test]
fn a_removed_document_stays_out_of_listings_and_syncs() {
    let a = Dir::init();
    a.ok(&["set", "k", "theirs"]);
    let theirs = a.doc_id(0);
    a.ok(&["doc", "new", "notes"]);
    a.ok(&["-d", "notes", "set", "n", "1"]);
    let notes = a.doc_id(1);
    let b = Dir::init();
    let ours = b.doc_id(0);
    b.ok(&["pull", arg(a.path())]);
    assert_eq!(
        b.ok(&["doc", "rm", &theirs]),
        format!("removed (unnamed)\t{theirs}\n")
    );
    assert_eq!(
        b.ok(&["doc", "ls"]),
        format!("main\t{ours}\nnotes\t{notes}\n")
    );
    let err = b.fails(4, &["-d", &theirs, "get", "k"]);
    assert!(err.contains("was removed from this replica"), "{err}");
    assert!(err.contains("doc name"), "{err}");
    // A pull from the repo it came from does not bring it back, and a new change there does
    // not either.
    a.ok(&["set", "k", "newer"]);
    b.ok(&["pull", arg(a.path())]);
    assert_eq!(
        b.ok(&["doc", "ls"]),
        format!("main\t{ours}\nnotes\t{notes}\n")
    );
    b.fails(4, &["pull", arg(a.path()), "-d", &theirs]);
    // A push of it into this replica is refused, naming it; the other replica keeps its own.
    let err = a.fails(10, &["push", arg(b.path()), "-d", "main"]);
    assert!(err.contains(&theirs), "{err}");
    assert_eq!(
        b.ok(&["doc", "ls"]),
        format!("main\t{ours}\nnotes\t{notes}\n")
    );
    // A push of every document leaves out the one removed there (told only to a trusted
    // link), and the others go through.
    a.ok(&["-d", "notes", "set", "n", "2"]);
    a.ok(&["push", arg(b.path())]);
    assert_eq!(b.ok(&["-d", &notes, "get", "n"]), "2\n");
    a.ok(&["sync", arg(b.path())]);
    assert_eq!(
        b.ok(&["doc", "ls"]),
        format!("main\t{ours}\nnotes\t{notes}\n")
    );
    // Unknown documents are not found; a name works as well as an id.
    b.fails(4, &["doc", "rm", "nothing"]);
    // Named again, it is back, with what it had when removed; the next pull catches up.
    b.ok(&["doc", "name", &theirs, "a-main"]);
    assert_eq!(b.ok(&["-d", "a-main", "get", "k"]), "\"theirs\"\n");
    b.ok(&["pull", arg(a.path()), "-d", "a-main"]);
    assert_eq!(b.ok(&["-d", "a-main", "get", "k"]), "\"newer\"\n");
    assert_eq!(
        b.ok(&["doc", "rm", "a-main", "--json"]).trim(),
        format!(r#"{{"id":"{theirs}","name":"a-main"}}"#)
    );
    b.ok(&["fsck"]);
}
