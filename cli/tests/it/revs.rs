//! What a git user expects: CID prefixes and revisions (`@`, a remote's name, `~N`, `A..B`),
//! `log`'s filters and `-p`, `show`'s old and new values, `diff`, `revert`, `resolve`,
//! `watch --since`, key files and petnames.

use serde_json::{json, Value as Json};
use weft_dag::{Options, Repo};

use crate::util::{s, Dir, Proc};

/// The characters every change CID starts with.
const HEADER: &str = "bafyr4i";

/// The short form `log` prints: the header and 12 more characters.
fn short(cid: &str) -> &str {
    &cid[..HEADER.len() + 12]
}

/// A repo where `x` was set to `"ours"` here and, concurrently, to `"theirs"` (with `n`
/// incremented by 2) by another author granted the writer role; both are heads. Returns the
/// repo, our change, their change and their key.
fn forked() -> (Dir, String, String, String) {
    let dir = Dir::init();
    let genesis = dir.head();
    let other = Dir::new();
    let theirs_repo = Repo::init(other.path(), Options::default()).unwrap();
    let key = theirs_repo.author().to_string();
    let grant = dir.ok(&["grant", &key]).trim().to_string();
    let ours = dir.ok(&["set", "x", "ours"]).trim().to_string();
    let theirs = {
        let repo = dir.open();
        let doc = repo.doc("main").unwrap();
        let shared: Vec<_> = [&genesis, &grant]
            .into_iter()
            .map(|c| {
                let cid = crate::util::cid(c);
                (cid, repo.block(&cid).unwrap())
            })
            .collect();
        theirs_repo.apply_changes(shared).unwrap();
        let mut tx = theirs_repo.transaction(doc);
        tx.set("x", "theirs").unwrap();
        tx.incr("n", 2).unwrap();
        let theirs = tx.commit().unwrap().unwrap().cid;
        repo.apply_changes([(theirs, theirs_repo.block(&theirs).unwrap())])
            .unwrap();
        theirs.to_string()
    };
    (dir, ours, theirs, key)
}

#[test]
fn cid_prefixes_are_accepted_wherever_a_cid_is() {
    let dir = Dir::init();
    let a = dir.ok(&["set", "x", "1"]).trim().to_string();
    let b = dir.ok(&["set", "x", "2"]).trim().to_string();
    let pa = &a[..HEADER.len() + 6];
    let pb = short(&b);
    assert_eq!(dir.ok(&["get", "x", "--at", pa]), "1\n");
    assert_eq!(dir.ok(&["ls", "--at", pa]), "x\t1\n");
    assert_eq!(s(&dir.json(&["show", pb, "--json"]), "cid"), b);
    assert_eq!(s(&dir.json(&["block", "stat", pb, "--json"]), "cid"), b);
    let whole = dir.run(&["block", "get", &b]).success();
    assert_eq!(
        dir.run(&["block", "get", pb]).success().stdout_bytes(),
        whole.stdout_bytes()
    );
    dir.ok(&["bundle", "create", "b.car", "--since", pa]);
    // A truncated CID is a prefix of it.
    assert_eq!(
        s(&dir.json(&["show", &b[..b.len() - 1], "--json"]), "cid"),
        b
    );
    // Too short, or not base32: bad usage, before the repo is looked for.
    for bad in [HEADER, &a[..HEADER.len() + 3], "bafyr4iXYZW", "b", "Qm12"] {
        dir.fails(2, &["show", bad]);
        dir.fails(2, &["block", "stat", bad]);
    }
    Dir::new().fails(2, &["show", &a[..HEADER.len() + 3]]);
    // A prefix no change has: not found.
    let absent = weft_dag::Cid::hash(weft_dag::Codec::DagCbor, b"absent").to_string();
    let err = dir.fails(4, &["show", &absent[..HEADER.len() + 10]]);
    assert!(err.contains(&absent[..HEADER.len() + 10]), "{err}");
    dir.fails(4, &["get", "x", "--at", &absent[..HEADER.len() + 10]]);
}

#[test]
fn an_ambiguous_prefix_lists_the_candidates() {
    let dir = Dir::init();
    // Changes until two share the first 4 characters after the header (18 bits: a few
    // hundred changes on average).
    let (one, two) = {
        let repo = dir.open();
        let doc = repo.doc("main").unwrap();
        let mut seen = std::collections::HashMap::new();
        let mut found = None;
        for i in 0..50_000 {
            let mut tx = repo.transaction(doc);
            tx.incr("n", 1).unwrap();
            let cid = tx.commit().unwrap().unwrap().cid.to_string();
            let p = cid[..HEADER.len() + 4].to_string();
            if let Some(other) = seen.insert(p, cid.clone()) {
                found = Some((other, cid));
                break;
            }
            assert!(i < 49_999, "no two CIDs share a prefix");
        }
        found.unwrap()
    };
    let prefix = &one[..HEADER.len() + 4];
    let err = dir.fails(2, &["show", prefix]);
    assert!(err.contains("ambiguous"), "{err}");
    assert!(err.contains(&one) && err.contains(&two), "{err}");
    dir.fails(2, &["get", "n", "--at", prefix]);
    // A longer prefix tells them apart; `log` prints prefixes long enough to.
    let lcp = one
        .bytes()
        .zip(two.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    assert_eq!(
        s(&dir.json(&["show", &one[..lcp + 1], "--json"]), "cid"),
        one
    );
    let log = dir.ok(&["log"]);
    let printed: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
    let unique: std::collections::BTreeSet<&&str> = printed.iter().collect();
    assert_eq!(unique.len(), printed.len(), "short ids repeat");
    for p in &printed {
        assert!(p.starts_with(HEADER) && p.len() >= HEADER.len() + 12, "{p}");
    }
}

#[test]
fn log_prints_short_ids_unless_full_or_json() {
    let dir = Dir::init();
    let a = dir.ok(&["set", "x", "1"]).trim().to_string();
    let log = dir.ok(&["log", "-n", "1"]);
    assert!(log.starts_with(&format!("{} ", short(&a))), "{log}");
    let full = dir.ok(&["log", "-n", "1", "--full"]);
    assert!(full.starts_with(&format!("{a} ")), "{full}");
    let json = dir
        .run(&["log", "-n", "1", "--json"])
        .success()
        .json_lines();
    assert_eq!(s(&json[0], "cid"), a);
}

#[test]
fn revisions_at_tilde_and_comma_lists() {
    let (dir, ours, theirs, _) = forked();
    // `@` is both heads; each alone is one side.
    assert_eq!(dir.ok(&["get", "n", "--at", "@"]), "2\n");
    dir.fails(4, &["get", "n", "--at", &ours]);
    let both = format!("{},{}", short(&ours), short(&theirs));
    assert_eq!(dir.ok(&["get", "n", "--at", &both]), "2\n");
    assert_eq!(
        dir.ok(&[
            "get",
            "x",
            "--all",
            "--at",
            short(&ours),
            "--at",
            short(&theirs)
        ])
        .lines()
        .count(),
        2
    );
    // `~N` goes back along the first parent: ours~1 is the grant, ~2 the genesis.
    dir.fails(4, &["get", "x", "--at", &format!("{ours}~1")]);
    let genesis = dir.json(&["show", &format!("{}~2", short(&ours)), "--json"]);
    assert_eq!(genesis["ops"][0]["op"], "genesis");
    // `show @` needs one head.
    let err = dir.fails(2, &["show", "@"]);
    assert!(err.contains("2 changes"), "{err}");
    dir.fails(2, &["get", "x", "--at", "nosuchremote"]);
}

#[test]
fn log_ranges_keys_authors_and_times() {
    let (dir, ours, theirs, key) = forked();
    let c = dir.ok(&["set", "y", "1"]).trim().to_string();
    let d = dir.ok(&["incr", "n"]).trim().to_string();
    let cids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["log", "--json"];
        all.extend_from_slice(args);
        dir.run(&all)
            .success()
            .json_lines()
            .iter()
            .map(|l| s(l, "cid").to_string())
            .collect()
    };
    // A range: what B reaches and A does not.
    assert_eq!(
        cids(&[&format!("{ours}..{d}")]),
        [d.clone(), c.clone(), theirs.clone()]
    );
    assert_eq!(cids(&[&format!("{}..", short(&c))]), [d.as_str()]);
    // c~1 is one side of the fork: the range holds the other side, c and d.
    assert_eq!(cids(&[&format!("{c}~1..@")]).len(), 3);
    // A point: its ancestry.
    assert_eq!(cids(&[&ours]).len(), 3);
    // Keys: a positional that is no revision, or -k; a prefix matches.
    assert_eq!(cids(&["y"]), [c.as_str()]);
    assert_eq!(cids(&["-k", "n"]), [d.clone(), theirs.clone()]);
    assert_eq!(cids(&["@~1", "n"]), [theirs.as_str()]);
    // An author: a key, a prefix of one, or a petname.
    assert_eq!(cids(&["--author", &key]), [theirs.as_str()]);
    assert_eq!(cids(&["--author", &key[..8]]), [theirs.as_str()]);
    dir.ok(&["member", "name", &key, "bob"]);
    assert_eq!(cids(&["--author", "bob"]), [theirs.as_str()]);
    // Times: a duration ago or a date.
    assert_eq!(cids(&["--since", "1h"]).len(), 6);
    assert_eq!(cids(&["--until", "2000-01-01"]).len(), 0);
    assert_eq!(cids(&["--since", "2000-01-01T00:00:00Z"]).len(), 6);
    dir.fails(2, &["log", "--since", "yesterday-ish"]);
    // -p: each op with its old and new value.
    let p = dir.ok(&["log", "-p", "-n", "1"]);
    assert!(p.contains("n: 2 \u{2192} 3"), "{p}");
    let pj = dir
        .run(&["log", "-p", "-n", "1", "--json"])
        .success()
        .json_lines();
    assert_eq!(
        pj[0]["diffs"],
        json!([{"op": 0, "key": "n", "old": 2, "new": 3}])
    );
}

#[test]
fn show_prints_each_ops_old_and_new_value() {
    let dir = Dir::init();
    dir.ok(&["set", "x", "1"]);
    let b = dir.ok(&["set", "x", "2"]).trim().to_string();
    let shown = dir.ok(&["show", &b]);
    assert!(shown.contains("x: 1 \u{2192} 2"), "{shown}");
    let v = dir.json(&["show", &b, "--json"]);
    assert_eq!(
        v["diffs"],
        json!([{"op": 0, "key": "x", "old": 1, "new": 2}])
    );
    dir.ok(&["incr", "n", "5"]);
    let c = dir.ok(&["incr", "n", "-2"]).trim().to_string();
    assert_eq!(
        dir.json(&["show", &c, "--json"])["diffs"],
        json!([{"op": 0, "key": "n", "old": 5, "new": 3}])
    );
    let r = dir.ok(&["rm", "x"]).trim().to_string();
    assert_eq!(
        dir.json(&["show", &r, "--json"])["diffs"],
        json!([{"op": 0, "key": "x", "old": 2, "new": null}])
    );
    let t = dir.ok(&["sadd", "tags", "a"]).trim().to_string();
    assert_eq!(
        dir.json(&["show", &t, "--json"])["diffs"],
        json!([{"op": 0, "key": "tags", "old": null, "new": ["a"]}])
    );
}

#[test]
fn revert_takes_back_any_change() {
    let (dir, _ours, theirs, _) = forked();
    // Their change (another author's): its value and its increment go.
    let out = dir.json(&["revert", short(&theirs), "--json"]);
    assert_eq!(s(&out, "reverted"), theirs);
    assert!(out["cid"].is_string());
    assert_eq!(dir.ok(&["get", "x", "--all"]), "\"ours\"\n");
    assert_eq!(dir.ok(&["get", "n"]), "0\n");
    // Our own: x goes back to before it (nothing).
    let a = dir.ok(&["set", "y", "1"]).trim().to_string();
    dir.ok(&["set", "y", "2"]);
    let b = dir.ok(&["set", "z", "1"]).trim().to_string();
    dir.ok(&["revert", &b]);
    dir.fails(4, &["get", "z"]);
    // A value written over since stays: reverting `set y 1` changes nothing.
    assert_eq!(dir.ok(&["revert", &a]), "nothing to revert\n");
    assert_eq!(dir.ok(&["get", "y"]), "2\n");
    dir.fails(4, &["revert", "bafyr4izzzzzzzzzzzz"]);
}

#[test]
fn resolve_settles_a_conflict() {
    let (dir, ours, theirs, _) = forked();
    assert_eq!(dir.ok(&["get", "x", "--all"]).lines().count(), 2);
    dir.fails(2, &["resolve", "x"]);
    let out = dir.json(&["resolve", "x", "--take", short(&theirs), "--json"]);
    assert_eq!(out["value"], "theirs");
    assert_eq!(dir.ok(&["get", "x", "--all"]), "\"theirs\"\n");
    let ls = dir.json(&["ls", "--json"]);
    assert_eq!(ls["entries"][1]["conflict"], false, "{ls}");
    // No conflict left, or a change that wrote none of the values.
    dir.fails(4, &["resolve", "x", "--take", &ours]);
    dir.fails(5, &["resolve", "n", "--take", &theirs]);
}

/// `a` with `k` = 1, cloned into `b`; `a` then sets `k` 2, which `b` pulls; then `b` sets `k` 3
/// and `j` 1. Returns the directory of both and `b`'s change of `k`.
fn synced() -> (Dir, String) {
    let w = Dir::new();
    w.ok(&["init", "a"]);
    w.ok(&["-C", "a", "set", "k", "1"]);
    w.ok(&["clone", "a", "b"]);
    let a_key = w.ok(&["-C", "b", "id"]).trim().to_string();
    w.ok(&["-C", "a", "grant", &a_key]);
    w.ok(&["-C", "a", "set", "k", "2"]);
    w.ok(&["-C", "b", "pull"]);
    let c = w.ok(&["-C", "b", "set", "k", "3"]).trim().to_string();
    w.ok(&["-C", "b", "set", "j", "1"]);
    (w, c)
}

#[test]
fn diff_and_remote_revisions() {
    let (w, c) = synced();
    // Default: from the last sync with origin to now.
    assert_eq!(
        w.ok(&["-C", "b", "diff"]),
        "j: null \u{2192} 1\nk: 2 \u{2192} 3\n"
    );
    let d = w.json(&["-C", "b", "diff", "--json"]);
    assert_eq!(
        d["keys"],
        json!([{"key": "j", "old": null, "new": 1}, {"key": "k", "old": 2, "new": 3}])
    );
    assert_eq!(
        d["to"],
        json!(w.ok(&["-C", "b", "heads"]).lines().collect::<Vec<_>>())
    );
    // Two points given, in either order.
    assert_eq!(w.ok(&["-C", "b", "diff", "@", &c]), "j: 1 \u{2192} null\n");
    assert_eq!(w.ok(&["-C", "b", "diff", "origin", "origin"]), "");
    // `origin` is a revision: the heads of the last sync.
    assert_eq!(w.ok(&["-C", "b", "get", "k", "--at", "origin"]), "2\n");
    let log = w.ok(&["-C", "b", "log", "origin..@"]);
    assert_eq!(log.lines().count(), 2, "{log}");
    // Without a recorded sync there is no default.
    w.fails(2, &["-C", "a", "diff"]);
    w.fails(2, &["-C", "a", "diff", "origin"]);
}

#[test]
fn watch_since_prints_what_it_missed_then_goes_live() {
    let dir = Dir::init();
    let author = dir.ok(&["id"]).trim().to_string();
    let a = dir.ok(&["set", "x", "1"]).trim().to_string();
    let b = dir.ok(&["set", "x", "2"]).trim().to_string();
    let c = dir.ok(&["incr", "n", "3"]).trim().to_string();
    let mut cmd = dir.cmd(&["watch", "--since", short(&a), "--ready", "--count", "3"]);
    let mut watch = Proc::spawn(&mut cmd);
    let first = watch.json_line();
    assert_eq!(s(&first, "cid"), b);
    assert_eq!(s(&first, "author"), author);
    assert!(first["time"].as_u64().unwrap() > 0);
    assert_eq!(
        first["diffs"],
        json!([{"kind": "register", "key": "x", "old": 1, "new": 2, "conflict": false}])
    );
    let second = watch.json_line();
    assert_eq!(s(&second, "cid"), c);
    assert_eq!(
        second["diffs"],
        json!([{"kind": "counter", "key": "n", "delta": 3, "value": 3}])
    );
    assert_eq!(watch.json_line(), json!({"ready": true}));
    let d = dir.ok(&["set", "x", "3"]).trim().to_string();
    let live = watch.json_line();
    assert_eq!(s(&live, "cid"), d);
    assert!(live["time"].as_u64().unwrap() > 0);
    assert_eq!(
        live["diffs"],
        json!([{"kind": "register", "key": "x", "old": 2, "new": 3, "conflict": false}])
    );
    watch.finish().success();
    // Nothing after the point: straight to live.
    let out = dir
        .run(&["watch", "--since", "@", "--ready", "--count", "0"])
        .success();
    assert_eq!(out.stdout(), "{\"ready\":true}\n");
    // With a prefix: only the changes under it.
    let out = dir
        .run(&["watch", "--since", &a, "n", "--count", "1"])
        .success();
    let lines: Vec<Json> = out.json_lines();
    assert_eq!(s(&lines[0], "cid"), c);
}

#[test]
fn key_files_and_petnames() {
    let w = Dir::new();
    // No repo needed.
    let key = w.ok(&["key", "new", "bob.key"]).trim().to_string();
    assert_eq!(key.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(w.join("bob.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let before = std::fs::read(w.join("bob.key")).unwrap();
    w.fails(2, &["key", "new", "bob.key"]);
    assert_eq!(
        std::fs::read(w.join("bob.key")).unwrap(),
        before,
        "overwritten"
    );
    assert_eq!(w.ok(&["id", "--key", "bob.key"]).trim(), key);
    assert_eq!(
        s(&w.json(&["id", "--key", "bob.key", "--json"]), "author"),
        key
    );
    let j = w.json(&["key", "new", "carol.key", "--json"]);
    assert!(s(&j, "file").ends_with("carol.key"));
    let carol = s(&j, "author").to_string();

    w.ok(&["init", "r"]);
    let r = |args: &[&str]| {
        let mut all = vec!["-C", "r"];
        all.extend_from_slice(args);
        w.ok(&all)
    };
    r(&["member", "name", &key, "bob"]);
    // grant and revoke take a petname or a unique key prefix.
    r(&["grant", "bob"]);
    r(&["grant", &carol, "--role", "reader"]);
    assert!(r(&["log"]).contains("grant writer bob"));
    let members = r(&["members"]);
    assert!(
        members.contains(&format!("{key}\twriter\tbob")),
        "{members}"
    );
    let mj = w.json(&["-C", "r", "members", "--json"]);
    let named = |k: &str| {
        mj["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == k)
            .unwrap()["name"]
            .clone()
    };
    assert_eq!(named(&key), "bob");
    assert_eq!(named(&carol), Json::Null);
    r(&["revoke", &carol[..10]]);
    assert!(!r(&["members"]).contains(&carol));
    w.fails(4, &["-C", "r", "grant", "0000aaaa"]);
    w.fails(2, &["-C", "r", "grant", "nobody"]);
    w.fails(2, &["-C", "r", "member", "name", &key, "abc123"]);
    // log and blame use the name.
    let bob_key = w.join("bob.key");
    w.ok(&[
        "-C",
        "r",
        "--identity",
        bob_key.to_str().unwrap(),
        "set",
        "y",
        "1",
    ]);
    let log = r(&["log", "-n", "1"]);
    assert!(log.contains(" bob "), "{log}");
    assert!(r(&["blame", "y"]).contains(" bob "));
    // blame --at: the value then, and who wrote it.
    let first = w.ok(&["-C", "r", "set", "y", "2"]).trim().to_string();
    let then = r(&["blame", "y", "--at", "@~1"]);
    assert!(
        then.contains(" bob ") && then.trim_end().ends_with(" 1"),
        "{then}"
    );
    assert!(r(&["blame", "y"]).contains(&first));
    w.fails(4, &["-C", "r", "blame", "y", "--at", "@~3"]);
    // Petnames are local: a clone has none.
    assert!(w.join("r/.weft/names").is_file());
    w.ok(&["clone", "r", "c"]);
    assert!(!w.ok(&["-C", "c", "members"]).contains("bob"));
}
