//! `undo` and `redo`: each commits a new change, prints its CID (or says there is nothing to
//! do), and works on the document `-d` names.

use serde_json::json;

use crate::util::{cid, Dir};

#[test]
fn undo_and_redo_a_set() {
    let dir = Dir::init();
    dir.ok(&["set", "k", "old"]);
    let second = dir.ok(&["set", "k", "new"]);
    let printed = dir.ok(&["undo"]);
    cid(&printed);
    assert_eq!(dir.head(), printed.trim());
    assert_eq!(dir.json(&["get", "k", "--json"])["value"], json!("old"));

    let v = dir.json(&["redo", "--json"]);
    assert_eq!(v["redid"], second.trim());
    assert_eq!(v["cid"], dir.head().as_str());
    assert_eq!(dir.json(&["get", "k", "--json"])["value"], json!("new"));
    assert_eq!(dir.ok(&["redo"]).trim(), "nothing to redo");
}

#[test]
fn undo_walks_back_then_has_nothing_left() {
    let dir = Dir::init();
    let first = dir.ok(&["incr", "n", "5"]);
    dir.ok(&["sadd", "s", "a"]);
    dir.ok(&["undo"]);
    let v = dir.json(&["undo", "--json"]);
    assert_eq!(v["undid"], first.trim());
    assert_eq!(dir.json(&["get", "n", "--json"])["value"], json!(0));
    assert!(dir.run(&["get", "s"]).code() != Some(0), "the set is empty");
    assert_eq!(dir.ok(&["undo"]).trim(), "nothing to undo");
    assert_eq!(
        dir.json(&["undo", "--json"]),
        json!({"cid": null, "undid": null})
    );
}

#[test]
fn undo_is_per_document() {
    let dir = Dir::init();
    dir.ok(&["doc", "new", "notes"]);
    dir.ok(&["set", "k", "main"]);
    dir.ok(&["-d", "notes", "set", "k", "notes"]);
    dir.ok(&["undo"]);
    assert!(dir.run(&["get", "k"]).code() != Some(0));
    assert_eq!(
        dir.json(&["-d", "notes", "get", "k", "--json"])["value"],
        json!("notes")
    );
}
