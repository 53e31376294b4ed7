//! Concurrent history: a change made in a second repo is imported with the library, and the CLI
//! shows the conflict, draws the fork and merges it with the next write.

use serde_json::json;
use weft_dag::{Options, Repo};

use crate::util::{s, Dir};

/// A repo where `x` was set to `"ours"` by the CLI and, concurrently, to `"theirs"` by another
/// repo (another author) that started from the same history: the genesis, then our grant that
/// makes their key a writer (only the owner and the keys it grants may write). Returns the
/// repo, the genesis, the grant (where the two branches fork), our change and their change.
fn forked() -> (Dir, String, String, String, String) {
    let dir = Dir::init();
    let genesis = dir.head();
    let other = Dir::new();
    let theirs_repo = Repo::init(other.path(), Options::default()).unwrap();
    let grant = dir
        .ok(&["grant", &theirs_repo.author().to_string()])
        .trim()
        .to_string();
    let ours = dir.ok(&["set", "x", "ours"]).trim().to_string();

    let theirs = {
        let repo = dir.open();
        let doc = repo.doc("main").unwrap();
        assert_ne!(theirs_repo.author(), repo.author());
        // The other replica gets only the genesis and the grant, so its change is concurrent
        // with ours.
        let shared: Vec<_> = [&genesis, &grant]
            .into_iter()
            .map(|c| {
                let cid = crate::util::cid(c);
                (cid, repo.block(&cid).unwrap())
            })
            .collect();
        let shared_cids: Vec<_> = shared.iter().map(|(c, _)| *c).collect();
        let outcome = theirs_repo.apply_changes(shared).unwrap();
        assert_eq!(outcome.applied, shared_cids);
        let mut tx = theirs_repo.transaction(doc);
        tx.set("x", "theirs").unwrap();
        tx.incr("n", 2).unwrap();
        let theirs = tx.commit().unwrap().unwrap().cid;
        // Bring their change back.
        let outcome = repo
            .apply_changes([(theirs, theirs_repo.block(&theirs).unwrap())])
            .unwrap();
        assert_eq!(outcome.applied, [theirs]);
        // Our repo is dropped here, before any weft process runs on it.
        theirs.to_string()
    };
    (dir, genesis, grant, ours, theirs)
}

#[test]
fn concurrent_values_are_all_shown() {
    let (dir, _, _, ours, theirs) = forked();
    let mut heads = dir.heads();
    heads.sort();
    let mut want = vec![ours.clone(), theirs.clone()];
    want.sort();
    assert_eq!(heads, want);

    let mut all: Vec<String> = dir
        .ok(&["get", "x", "--all"])
        .lines()
        .map(String::from)
        .collect();
    all.sort();
    assert_eq!(all, ["\"ours\"", "\"theirs\""]);
    // Without --all, one of them (and a hint on stderr).
    let one = dir.run(&["get", "x"]).stdout();
    assert!(one == "\"ours\"\n" || one == "\"theirs\"\n", "{one:?}");

    let v = dir.json(&["get", "x", "--json"]);
    assert_eq!(v["kind"], "register");
    let mut values: Vec<String> = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    values.sort();
    assert_eq!(values, ["ours", "theirs"]);

    // ls flags the conflict.
    let ls = dir.ok(&["ls"]);
    assert!(ls.contains("(2 concurrent values)"), "{ls}");
    assert!(ls.contains("n\t2\n"), "{ls}");
    let entries = dir.json(&["ls", "--json"])["entries"].clone();
    assert_eq!(entries[0]["key"], "n");
    assert_eq!(entries[0]["conflict"], false);
    assert_eq!(entries[1]["key"], "x");
    assert_eq!(entries[1]["conflict"], true);

    // blame names both writers.
    let blame = dir.json(&["blame", "x", "--json"]);
    let mut changes: Vec<&str> = blame["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| s(l, "change"))
        .collect();
    changes.sort_unstable();
    let mut want: Vec<&str> = vec![&ours, &theirs];
    want.sort_unstable();
    assert_eq!(changes, want);

    // Their change is shown as signed by their key.
    let shown = dir.json(&["show", &theirs, "--json"]);
    assert_eq!(shown["signature_valid"], true);
    assert_ne!(s(&shown, "author"), dir.ok(&["id"]).trim());
    assert_eq!(dir.json(&["fsck", "--json"])["ok"], true);
}

#[test]
fn log_graph_draws_fork_and_merge() {
    let (dir, genesis, grant, ours, theirs) = forked();
    let graph = dir.ok(&["log", "--graph", "--full"]);
    assert!(graph.contains("|/"), "no fork drawn:\n{graph}");
    let lines: Vec<&str> = graph.lines().collect();
    // The two branches, the fork, then the grant and the genesis below it.
    assert_eq!(lines.len(), 5, "{graph}");
    assert!(lines[0].starts_with("* "), "{graph}");
    assert!(lines[1].starts_with("| * "), "{graph}");
    assert_eq!(lines[2], "|/");
    assert!(lines[3].starts_with(&format!("* {grant} ")), "{graph}");
    assert!(lines[4].starts_with(&format!("* {genesis} ")), "{graph}");
    for c in [&ours, &theirs] {
        assert!(graph.contains(c.as_str()), "{graph}");
    }

    // The next write merges the two heads.
    let merge = dir.ok(&["set", "x", "merged"]).trim().to_string();
    assert_eq!(dir.heads(), std::slice::from_ref(&merge));
    assert_eq!(dir.ok(&["get", "x", "--all"]), "\"merged\"\n");
    let v = dir.json(&["show", &merge, "--json"]);
    let mut parents: Vec<String> = v["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    parents.sort();
    let mut want = vec![ours.clone(), theirs.clone()];
    want.sort();
    assert_eq!(parents, want);
    // genesis 1, grant 2, the two branches 3.
    assert_eq!(v["height"], 4);
    assert_eq!(
        dir.json(&["ls", "x", "--json"]),
        json!({"entries": [{"key": "x", "kind": "register", "value": "merged", "conflict": false}]})
    );

    let graph = dir.ok(&["log", "--graph", "--full"]);
    assert!(graph.contains("|\\"), "no merge drawn:\n{graph}");
    assert!(graph.contains("|/"), "no fork drawn:\n{graph}");
    assert!(graph.starts_with(&format!("* {merge} ")), "{graph}");

    // The DOT export has both edges of the merge (and the grant's to the genesis).
    let dot = dir.ok(&["dag"]);
    for p in [&ours, &theirs] {
        assert!(dot.contains(&format!("\"{merge}\" -> \"{p}\";")), "{dot}");
        assert!(dot.contains(&format!("\"{p}\" -> \"{grant}\";")), "{dot}");
    }
    assert!(
        dot.contains(&format!("\"{grant}\" -> \"{genesis}\";")),
        "{dot}"
    );
    assert_eq!(dot.matches(" -> ").count(), 5, "{dot}");

    // Time travel to one side of the fork sees only that side.
    assert_eq!(dir.ok(&["get", "x", "--at", &ours]), "\"ours\"\n");
    assert_eq!(dir.ok(&["get", "x", "--at", &theirs]), "\"theirs\"\n");
    dir.fails(4, &["get", "n", "--at", &ours]);
    assert_eq!(dir.ok(&["get", "n", "--at", &theirs]), "2\n");
    assert_eq!(dir.json(&["fsck", "--json"])["ok"], true);
}

/// Two replicas each write, sync, write again and sync: both of the second round's changes are
/// merges of the first round's two, and `log --graph` draws both edges of each merge (an edge
/// row with `\` right under it), as `dag --format json` lists them.
#[test]
fn log_graph_draws_every_parent_of_two_merges_of_the_same_fork() {
    let a = Dir::init();
    let (b, _) = Dir::clone_of(a.path().to_str().unwrap());
    a.ok(&["grant", b.ok(&["id"]).trim()]);
    b.ok(&["pull"]);
    a.ok(&["set", "x", "a1"]);
    b.ok(&["set", "y", "b1"]);
    b.ok(&["sync"]);
    a.ok(&["set", "x", "a2"]);
    b.ok(&["set", "y", "b2"]);
    b.ok(&["sync"]);
    assert_eq!(a.heads().len(), 2);

    let dag = a.json(&["dag", "--format", "json"]);
    let merges: Vec<String> = dag["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["parents"].as_array().unwrap().len() == 2)
        .map(|n| s(n, "cid").to_string())
        .collect();
    assert_eq!(merges.len(), 2, "{dag}");

    let graph = a.ok(&["log", "--graph", "--full"]);
    let lines: Vec<&str> = graph.lines().collect();
    for m in &merges {
        let i = lines
            .iter()
            .position(|l| l.contains(m.as_str()))
            .unwrap_or_else(|| panic!("{m} not drawn:\n{graph}"));
        let next = lines.get(i + 1).copied().unwrap_or_default();
        assert!(
            next.contains('\\') && !next.contains('*'),
            "merge {m} is drawn without an edge to its second parent:\n{graph}"
        );
    }
}

/// `get` of a register with concurrent values says so on stderr (one line) and in `--json`;
/// `--all` shows them and needs no hint.
#[test]
fn get_of_concurrent_values_says_there_are_more() {
    let (dir, ..) = forked();
    let out = dir.run(&["get", "x"]);
    assert_eq!(out.code(), Some(0));
    assert_eq!(
        out.stderr(),
        "x has 2 concurrent values; `weft get x --all` shows them\n"
    );
    let v = dir.json(&["get", "x", "--json"]);
    assert_eq!(v["conflict"], true);
    let out = dir.run(&["get", "x", "--all"]).success();
    assert_eq!(out.stderr(), "");
    assert_eq!(out.stdout().lines().count(), 2);
    // A key with one value: no hint, no conflict.
    let out = dir.run(&["get", "n"]).success();
    assert_eq!(out.stderr(), "");
    assert_eq!(dir.json(&["get", "n", "--json"])["conflict"], false);
}

/// Writes of different kinds to one key, made concurrently: `get` shows the register and says
/// there is more, `--json` names the other kind, and `get --all` shows every kind.
#[test]
fn get_shows_every_kind_written_concurrently() {
    let dir = Dir::init();
    let genesis = dir.head();
    let other = Dir::new();
    let theirs_repo = Repo::init(other.path(), Options::default()).unwrap();
    let grant = dir
        .ok(&["grant", &theirs_repo.author().to_string()])
        .trim()
        .to_string();
    dir.ok(&["set", "k", "word"]);
    {
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
        tx.incr("k", 5).unwrap();
        let theirs = tx.commit().unwrap().unwrap().cid;
        repo.apply_changes([(theirs, theirs_repo.block(&theirs).unwrap())])
            .unwrap();
    }
    let out = dir.run(&["get", "k"]);
    assert_eq!(out.code(), Some(0));
    assert_eq!(out.stdout(), "\"word\"\n");
    assert_eq!(
        out.stderr(),
        "k has 2 concurrent values; `weft get k --all` shows them\n"
    );
    let v = dir.json(&["get", "k", "--json"]);
    assert_eq!(v["kind"], "register");
    assert_eq!(v["conflict"], true);
    assert_eq!(v["others"], json!([{"kind": "counter", "value": 5}]));
    assert_eq!(
        dir.ok(&["get", "k", "--all"]),
        "register: \"word\"\ncounter: 5\n"
    );
}
