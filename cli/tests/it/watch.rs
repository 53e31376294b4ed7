//! `weft watch`: one JSON line per batch applied from now on, with its diffs, while other commands keep
//! working (the watcher serves the repo, or is itself served by `weft serve`).

use serde_json::{json, Value as Json};

use crate::util::{s, Dir};

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

/// A line as printed for a local change, which is a batch of its own.
fn line(doc: &str, cid: &str, author: &str, height: u64, keys: &[&str], diffs: Json) -> Json {
    json!({
        "doc": doc,
        "doc_name": "main",
        "cid": cid,
        "author": author,
        "height": height,
        "keys": keys,
        "local": true,
        "changes": [cid],
        "diffs": diffs,
    })
}

#[test]
fn watch_prints_changes_made_by_other_processes() {
    let dir = Dir::init();
    let doc = main_doc(&dir);
    let author = dir.ok(&["id"]).trim().to_string();
    let mut watch = dir.watch(&["--count", "3"]);

    // These commands run inside the watcher, which holds the repo.
    let c1 = dir.ok(&["set", "todo/1", "milk"]).trim().to_string();
    let c2 = dir.ok(&["incr", "visits", "2"]).trim().to_string();
    let c3 = dir.ok(&["sadd", "tags", "a", "b"]).trim().to_string();
    let register = json!([{"kind": "register", "key": "todo/1", "old": null, "new": "milk", "conflict": false}]);
    let counter = json!([{"kind": "counter", "key": "visits", "delta": 2, "value": 2}]);
    let set = json!([{"kind": "set", "key": "tags", "added": ["a", "b"], "removed": []}]);
    assert_eq!(
        watch.json_line(),
        line(&doc, &c1, &author, 2, &["todo/1"], register)
    );
    assert_eq!(
        watch.json_line(),
        line(&doc, &c2, &author, 3, &["visits"], counter)
    );
    assert_eq!(
        watch.json_line(),
        line(&doc, &c3, &author, 4, &["tags"], set)
    );
    let out = watch.finish().success();
    assert_eq!(out.stdout(), "", "nothing after --count lines");
    assert!(!dir.socket().exists(), "watch left its socket behind");
    assert_eq!(dir.ok(&["get", "visits"]), "2\n");
}

#[test]
fn watch_filters_by_prefix_and_sees_every_document() {
    let dir = Dir::init();
    let mut watch = dir.watch(&["todo/", "--count", "3"]);
    dir.ok(&["set", "other", "1"]);
    let c1 = dir.ok(&["set", "todo/1", "milk"]).trim().to_string();
    dir.ok(&["incr", "todoist"]);
    let (name, notes) = {
        let out = dir.ok(&["doc", "new", "notes"]);
        let (name, id) = out.trim().split_once('\t').unwrap();
        (name.to_string(), id.to_string())
    };
    assert_eq!(name, "notes");
    let c2 = dir
        .ok(&["-d", "notes", "set", "todo/2", "eggs"])
        .trim()
        .to_string();
    let c3 = dir.ok(&["sadd", "todo/3", "x"]).trim().to_string();
    let lines = [watch.json_line(), watch.json_line(), watch.json_line()];
    assert_eq!(lines[0]["cid"], c1.as_str());
    assert_eq!(lines[1]["cid"], c2.as_str());
    assert_eq!(lines[1]["doc"], notes.as_str());
    assert_eq!(lines[1]["doc_name"], "notes");
    assert_eq!(lines[1]["keys"], json!(["todo/2"]));
    assert_eq!(lines[2]["cid"], c3.as_str());
    assert_eq!(lines[2]["doc_name"], "main");
    watch.finish().success();
}

#[test]
fn watch_through_serve() {
    let dir = Dir::init();
    let mut server = dir.serve();
    // This watch runs inside the server; so do the writes.
    let mut watch = dir.watch(&["--count", "2"]);
    let c1 = dir.ok(&["set", "a", "1"]).trim().to_string();
    let c2 = dir.ok(&["set", "b", "2"]).trim().to_string();
    assert_eq!(watch.json_line()["cid"], c1.as_str());
    assert_eq!(watch.json_line()["cid"], c2.as_str());
    assert_eq!(watch.finish().success().stdout(), "");

    // Two watchers at once, one filtered; the server keeps serving.
    let mut all = dir.watch(&["--count", "2"]);
    let mut only_b = dir.watch(&["b", "--count", "1"]);
    let c3 = dir.ok(&["set", "a", "3"]).trim().to_string();
    let c4 = dir.ok(&["set", "b", "4"]).trim().to_string();
    assert_eq!(all.json_line()["cid"], c3.as_str());
    assert_eq!(all.json_line()["cid"], c4.as_str());
    assert_eq!(only_b.json_line()["cid"], c4.as_str());
    all.finish().success();
    only_b.finish().success();

    // A watcher that is killed does not disturb the server.
    let mut killed = dir.watch(&[]);
    killed.kill();
    dir.ok(&["set", "c", "5"]);
    assert_eq!(dir.ok(&["get", "c"]), "5\n");

    // When the server stops, a watcher served by it fails (it would miss changes otherwise).
    let mut orphan = dir.watch(&[]);
    server.close_stdin();
    server.finish().stdin_closed();
    let err = orphan.finish().fails(1);
    assert!(err.contains("stopped"), "{err}");
}

#[test]
fn watch_stops_on_sigterm_and_on_a_closed_stdout() {
    let dir = Dir::init();
    let mut watch = dir.watch(&[]);
    dir.ok(&["set", "a", "1"]);
    assert_eq!(watch.json_line()["keys"], json!(["a"]));
    watch.term();
    assert_eq!(watch.finish().success().stdout(), "");
    assert!(!dir.socket().exists());

    // The reader goes away: the next change ends the watcher, successfully.
    let mut watch = dir.watch(&[]);
    watch.close_stdout();
    dir.ok(&["set", "b", "2"]);
    watch.finish().success();
    assert!(!dir.socket().exists());
    assert_eq!(dir.ok(&["get", "b"]), "2\n");
}

#[test]
fn watch_count_zero_and_bad_usage() {
    let dir = Dir::init();
    assert_eq!(dir.ok(&["watch", "--count", "0"]), "");
    assert_eq!(
        dir.ok(&["watch", "--ready", "--count", "0"]),
        "{\"ready\":true}\n"
    );
    dir.fails(2, &["watch", "--count", "-1"]);
    Dir::new().fails(3, &["watch"]);
}

/// A pull applies the changes it fetched as one batch: one line, all its changes, the diffs of
/// the whole batch.
#[test]
fn watch_prints_one_line_per_pulled_batch() {
    let a = Dir::init();
    let b = Dir::new();
    b.ok(&["clone", a.path().to_str().unwrap(), "."]);
    let mut watch = b.watch(&["--count", "1"]);
    let cids: Vec<String> = (1..=5)
        .map(|i| a.ok(&["set", "k", &i.to_string()]).trim().to_string())
        .collect();
    a.ok(&["incr", "n", "3"]);
    let last = a.head();
    b.ok(&["pull"]);
    let line = watch.json_line();
    assert_eq!(line["local"], false);
    assert_eq!(line["cid"], last.as_str());
    assert_eq!(line["keys"], json!(["k", "n"]));
    let changes = line["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 6, "{line}");
    assert_eq!(changes[0], cids[0].as_str());
    assert_eq!(
        line["diffs"],
        json!([
            {"kind": "register", "key": "k", "old": null, "new": 5, "conflict": false},
            {"kind": "counter", "key": "n", "delta": 3, "value": 3},
        ])
    );
    watch.finish().success();
}

/// `watch -d DOC` prints the batches of that document only; an unknown one is exit 4.
#[test]
fn watch_d_watches_one_document() {
    let dir = Dir::init();
    dir.ok(&["doc", "new", "notes"]);
    let mut watch = dir.watch(&["-d", "notes", "--count", "1"]);
    // A change of `main` first: the one line printed must be the change of `notes`.
    dir.ok(&["set", "k", "in main"]);
    let cid = dir.ok(&["-d", "notes", "set", "k", "in notes"]);
    let line = watch.json_line();
    assert_eq!(line["doc_name"], "notes", "{line}");
    assert_eq!(s(&line, "cid"), cid.trim());
    let out = watch.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    dir.fails(4, &["watch", "-d", "nope"]);
}
