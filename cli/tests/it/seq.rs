//! `weft list ...` and `weft text ...`: the seed's todo example on the real binary, moves
//! between lists, element ids, text edits through `$EDITOR` (a peer's edit made meanwhile
//! stays), batch lines, two replicas converging, and the errors of each.

use std::process::Stdio;

use serde_json::json;

use crate::util::{weft_bin, Dir, Proc};

fn ids(dir: &Dir, key: &str) -> Vec<String> {
    dir.json(&["list", "ls", key, "--json"])["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_seed_todo_example() {
    let dir = Dir::init();
    let beer = dir.ok(&["list", "push", "todo", r#"{"text":"beer"}"#]);
    let meet = dir.ok(&["list", "push", "todo", r#"{"text":"reject.js"}"#]);
    let (beer, meet) = (beer.trim(), meet.trim());
    assert_eq!(ids(&dir, "todo"), [beer, meet]);
    // todo.before(meet, drnk)
    dir.ok(&["list", "move", "todo", beer, "--after", meet]);
    dir.ok(&["list", "move", "todo", beer, "--before", meet]);
    assert_eq!(ids(&dir, "todo"), [beer, meet]);
    // done.push(meet): removed from todo.
    dir.ok(&["list", "move", "todo", meet, "--to", "done"]);
    assert_eq!(
        dir.json(&["get", "todo", "--json"])["value"],
        json!([{"text": "beer"}])
    );
    assert_eq!(
        dir.json(&["get", "done", "--json"])["value"],
        json!([{"text": "reject.js"}])
    );
    assert_eq!(ids(&dir, "done"), [meet], "the element keeps its id");
    let ls = dir.ok(&["list", "ls", "done"]);
    assert_eq!(ls, format!("{meet}\t{{\"text\":\"reject.js\"}}\n"));
    // Insert at an index, set, remove, and push next to an element.
    let first = dir.ok(&["list", "insert", "todo", "0", "water"]);
    dir.ok(&["list", "set", "todo", first.trim(), "sparkling water"]);
    let after = dir.ok(&["list", "push", "todo", "chips", "--after", first.trim()]);
    assert_eq!(
        dir.json(&["get", "todo", "--json"])["value"],
        json!(["sparkling water", "chips", {"text": "beer"}])
    );
    dir.ok(&["list", "rm", "todo", after.trim()]);
    dir.ok(&["list", "move", "done", meet, "--to", "todo", "--index", "0"]);
    assert_eq!(ids(&dir, "todo")[0], meet);
    assert_eq!(dir.json(&["get", "done", "--json"])["value"], json!([]));
    dir.ok(&["undo"]);
    assert_eq!(ids(&dir, "done"), [meet], "undo moves it back");
    assert!(dir.ok(&["fsck"]).contains("ok"));
}

#[test]
fn list_errors_are_one_line_with_their_exit_code() {
    let dir = Dir::init();
    let x = dir.ok(&["list", "push", "todo", "x"]);
    let x = x.trim();
    dir.ok(&["set", "reg", "1"]);
    // Not an id.
    let e = dir.fails(2, &["list", "rm", "todo", "nonsense"]);
    assert!(e.contains("invalid element id"), "{e}");
    // In another list than the one named.
    dir.ok(&["list", "move", "todo", x, "--to", "done"]);
    let e = dir.fails(2, &["list", "rm", "todo", x]);
    assert!(e.contains("is in list \"done\""), "{e}");
    // Deleted: no list holds it.
    dir.ok(&["list", "rm", "done", x]);
    let e = dir.fails(4, &["list", "set", "done", x, "1"]);
    assert!(e.contains("no list holds element"), "{e}");
    // Beyond the end.
    let e = dir.fails(2, &["list", "insert", "todo", "9", "y"]);
    assert!(e.contains("beyond the length"), "{e}");
    // Another kind.
    let e = dir.fails(5, &["list", "push", "reg", "y"]);
    assert!(e.contains("is a register, not a list"), "{e}");
    dir.fails(5, &["list", "ls", "reg"]);
    dir.fails(4, &["list", "ls", "nothing"]);
    // `move` needs a target.
    dir.fails(2, &["list", "move", "todo", x]);
    assert!(dir.ok(&["fsck"]).contains("ok"), "nothing half-applied");
}

#[test]
fn text_insert_delete_and_get() {
    let dir = Dir::init();
    dir.ok(&["text", "insert", "notes", "0", "hello world"]);
    dir.ok(&["text", "delete", "notes", "0", "5"]);
    dir.ok(&["text", "insert", "notes", "0", "goodbye"]);
    assert_eq!(dir.ok(&["get", "notes"]), "\"goodbye world\"\n");
    let e = dir.fails(2, &["text", "delete", "notes", "10", "9"]);
    assert!(e.contains("beyond the length"), "{e}");
    let e = dir.fails(2, &["text", "insert", "notes", "99", "x"]);
    assert!(e.contains("beyond the length"), "{e}");
    dir.ok(&["set", "reg", "1"]);
    dir.fails(5, &["text", "insert", "reg", "0", "x"]);
}

#[test]
fn text_edit_commits_what_the_editor_saved_and_keeps_a_peers_edit() {
    let dir = Dir::init();
    dir.ok(&["text", "insert", "notes", "0", "hello world"]);
    // The "editor" changes a word, and while it runs another process appends to the text.
    let script = dir.join("editor.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsed -i 's/hello/howdy/' \"$1\"\n'{}' -C '{}' text insert notes 11 '!' >/dev/null\n",
            weft_bin(),
            dir.path().display()
        ),
    )
    .unwrap();
    let out = dir
        .cmd(&["text", "edit", "notes"])
        .env("EDITOR", format!("sh {}", script.display()))
        .run()
        .success();
    assert!(!out.stdout().is_empty());
    assert_eq!(dir.ok(&["get", "notes"]), "\"howdy world!\"\n");
    // Saving unchanged commits nothing.
    let heads = dir.heads();
    let out = dir
        .cmd(&["text", "edit", "notes"])
        .env("EDITOR", "true")
        .run()
        .success();
    assert_eq!(out.stdout(), "nothing to change\n");
    assert_eq!(dir.heads(), heads);
    // An editor that fails commits nothing and says so.
    let out = dir
        .cmd(&["text", "edit", "notes"])
        .env("EDITOR", "false")
        .run();
    let e = out.fails(1);
    assert!(e.contains("nothing was committed"), "{e}");
    assert_eq!(dir.heads(), heads);
}

#[test]
fn batch_takes_list_and_text_lines() {
    let dir = Dir::init();
    let mut cmd = dir.cmd(&["batch"]);
    let mut p = Proc::spawn_with_stdin(&mut cmd, Stdio::piped());
    p.write_stdin(
        b"list push todo milk\nlist push todo {\"n\": 2}\ntext insert notes 0 \"a line\\n\"\ntext insert notes 0 # \ntext delete notes 0 1\n",
    );
    let out = p.finish().success();
    let lines: Vec<String> = out.stdout().lines().map(|s| s.trim().to_string()).collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[0].ends_with("/0"), "a push prints the element's id");
    assert_eq!(
        dir.json(&["get", "todo", "--json"])["value"],
        json!(["milk", {"n": 2}])
    );
    assert_eq!(
        dir.json(&["get", "notes", "--json"])["value"],
        json!("a line\n")
    );
    // Moves by id, and a bad line names its number.
    let milk = lines[0].clone();
    let mut cmd = dir.cmd(&["batch"]);
    let mut p = Proc::spawn_with_stdin(&mut cmd, Stdio::piped());
    p.write_stdin(format!("list move todo {milk} --to done\nlist move todo {milk}\n").as_bytes());
    let out = p.finish();
    assert_eq!(out.code(), Some(2));
    assert_eq!(
        out.stdout().lines().count(),
        1,
        "line 1 committed and printed"
    );
    assert!(out
        .stderr()
        .contains("line 2: wrong arguments for `list move`"));
    assert_eq!(
        dir.json(&["get", "done", "--json"])["value"],
        json!(["milk"])
    );
}

#[test]
fn two_replicas_move_one_element_and_converge() {
    let a = Dir::init();
    let x = a.ok(&["list", "push", "todo", "x"]);
    let x = x.trim().to_string();
    a.ok(&["list", "push", "todo", "y"]);
    a.ok(&["text", "insert", "notes", "0", "[]"]);
    let b = Dir::new();
    b.ok(&["clone", a.path().to_str().unwrap(), "."]);
    let key = b.ok(&["id"]);
    a.ok(&["grant", key.trim()]);
    b.ok(&["pull"]);
    a.ok(&["list", "move", "todo", &x, "--to", "done"]);
    a.ok(&["text", "insert", "notes", "1", "alpha"]);
    b.ok(&["list", "move", "todo", &x, "--to", "later"]);
    b.ok(&["text", "insert", "notes", "1", "beta"]);
    b.ok(&["sync"]);
    a.ok(&["pull", b.path().to_str().unwrap()]);
    let lists = |d: &Dir| {
        ["todo", "done", "later"]
            .iter()
            .map(|k| {
                d.run(&["get", k, "--json"])
                    .stdout()
                    .parse::<serde_json::Value>()
                    .ok()
                    .map(|v| v["value"].clone())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(lists(&a), lists(&b));
    let placed: usize = lists(&a)
        .iter()
        .flatten()
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .filter(|e| **e == json!("x"))
                .count()
        })
        .sum();
    assert_eq!(placed, 1, "one copy of x: {:?}", lists(&a));
    let notes = a.json(&["get", "notes", "--json"])["value"].clone();
    assert_eq!(notes, b.json(&["get", "notes", "--json"])["value"]);
    assert!(
        notes == json!("[alphabeta]") || notes == json!("[betaalpha]"),
        "{notes}"
    );
}

#[test]
fn element_ids_take_a_cid_prefix_as_log_prints_it() {
    let dir = Dir::init();
    let x = dir.ok(&["list", "push", "todo", "x"]);
    let (cid, index) = x.trim().rsplit_once('/').unwrap();
    let short = format!("{}/{index}", &cid[..18]);
    dir.ok(&["list", "set", "todo", &short, "y"]);
    assert_eq!(dir.json(&["get", "todo", "--json"])["value"], json!(["y"]));
    let mut cmd = dir.cmd(&["batch"]);
    let mut p = Proc::spawn_with_stdin(&mut cmd, Stdio::piped());
    p.write_stdin(format!("list move todo {short} --to done\n").as_bytes());
    p.finish().success();
    assert_eq!(dir.json(&["get", "done", "--json"])["value"], json!(["y"]));
    // A prefix too short to be one is a usage error before the repo is opened.
    let e = dir.fails(2, &["list", "rm", "done", "bafyr4i/0"]);
    assert!(e.contains("invalid CID"), "{e}");
}
