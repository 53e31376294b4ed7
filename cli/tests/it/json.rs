//! Every command's `--json` output deserialises into the schema the README documents, and
//! nothing more: each type below refuses unknown fields and needs every documented one.

// The fields are the schema: deserialising checks that each is there; not all are read after.
#![allow(dead_code)]

use std::process::Stdio;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::util::{is_author, Dir, Proc};

/// Parses one JSON document of `weft --json ARGS` in `dir` as a `T`.
fn parse<T: DeserializeOwned>(dir: &Dir, args: &[&str]) -> T {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = dir.run(&all).success();
    serde_json::from_str(out.stdout().trim())
        .unwrap_or_else(|e| panic!("weft {args:?}: not the schema ({e}): {}", out.report()))
}

/// Parses every line of `weft --json ARGS` in `dir` as a `T`.
fn parse_lines<T: DeserializeOwned>(dir: &Dir, args: &[&str]) -> Vec<T> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = dir.run(&all).success();
    out.stdout()
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("weft {args:?}: not the schema ({e}): {l}"))
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Initialized {
    root: String,
    author: String,
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Id {
    author: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocName {
    name: Option<String>,
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Docs {
    docs: Vec<DocName>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    cid: Option<String>,
    key: String,
    value: Option<Json>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rows {
    key: String,
    rows: serde_json::Map<String, Json>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowsDeleted {
    cid: Option<String>,
    key: String,
    keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Got {
    key: String,
    kind: String,
    value: Json,
    values: Vec<Json>,
    conflict: bool,
    others: Vec<OtherKind>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only the schema is checked
struct OtherKind {
    kind: String,
    value: Json,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Listed {
    key: String,
    kind: String,
    value: Json,
    conflict: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Listing {
    entries: Vec<Listed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "op", rename_all = "lowercase")]
enum Op {
    Genesis {
        owner: String,
        nonce: String,
    },
    Set {
        key: String,
        value: Json,
        pred: Vec<String>,
    },
    Del {
        key: String,
        pred: Vec<String>,
    },
    Incr {
        key: String,
        delta: i64,
    },
    Add {
        key: String,
        member: Json,
    },
    Remove {
        key: String,
        member: Json,
        tags: Vec<String>,
    },
    Lins {
        key: String,
        left: Option<String>,
        right: Option<String>,
        value: Json,
    },
    Lmov {
        key: String,
        elem: String,
        left: Option<String>,
        right: Option<String>,
    },
    Ldel {
        key: String,
        elem: String,
    },
    Lset {
        key: String,
        elem: String,
        value: Json,
    },
    Tins {
        key: String,
        left: Option<String>,
        right: Option<String>,
        text: String,
    },
    Tdel {
        key: String,
        spans: Vec<String>,
    },
    Grant {
        who: String,
        role: String,
    },
    Revoke {
        who: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeqWritten {
    cid: Option<String>,
    key: String,
    #[serde(default)]
    id: Option<String>,
    value: Option<Json>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListedElement {
    id: String,
    value: Json,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListListed {
    key: String,
    elements: Vec<ListedElement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Logged {
    cid: String,
    doc: String,
    author: String,
    parents: Vec<String>,
    height: u64,
    seq: u64,
    time: u64,
    ops: Vec<Op>,
    void: bool,
    /// Only with `-p`.
    #[serde(default)]
    diffs: Option<Vec<OpDiff>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpDiff {
    op: u32,
    key: String,
    old: Json,
    new: Json,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shown {
    cid: String,
    doc: String,
    author: String,
    parents: Vec<String>,
    height: u64,
    seq: u64,
    time: u64,
    ops: Vec<Op>,
    void: bool,
    signature: String,
    signature_valid: bool,
    size: usize,
    diffs: Vec<OpDiff>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Committed {
    cid: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Member {
    key: String,
    role: String,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Members {
    members: Vec<Member>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Heads {
    heads: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Blamed {
    change: String,
    op: u32,
    author: String,
    time: u64,
    height: u64,
    value: Json,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Blame {
    key: String,
    lines: Vec<Blamed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DagNode {
    cid: String,
    parents: Vec<String>,
    author: String,
    height: u64,
    summary: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Dag {
    doc: String,
    heads: Vec<String>,
    nodes: Vec<DagNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockStat {
    cid: String,
    size: u64,
    codec: String,
    valid: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Problem {
    kind: String,
    cid: Option<String>,
    detail: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Checked {
    ok: bool,
    n_blocks: usize,
    n_changes: usize,
    n_docs: usize,
    repaired: Vec<String>,
    problems: Vec<Problem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchLine {
    line: u64,
    cid: Option<String>,
    key: String,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Undid {
    cid: Option<String>,
    undid: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Redid {
    cid: Option<String>,
    redid: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Remote {
    name: String,
    url: String,
}

#[test]
fn every_json_output_matches_its_schema() {
    let dir = Dir::new();
    let init: Initialized = parse(&dir, &["init"]);
    assert!(is_author(&init.author) && !init.root.is_empty());
    let id: Id = parse(&dir, &["id"]);
    assert_eq!(id.author, init.author);

    let docs: Docs = parse(&dir, &["doc", "ls"]);
    assert_eq!(docs.docs.len(), 1);
    assert_eq!(
        (docs.docs[0].name.as_deref().unwrap(), &docs.docs[0].id),
        ("main", &init.doc)
    );
    let made: DocName = parse(&dir, &["doc", "new", "notes"]);
    assert_eq!(made.name.as_deref(), Some("notes"));

    let set: Written = parse(&dir, &["set", "k", "7"]);
    assert_eq!((set.key.as_str(), set.value), ("k", Some(Json::from(7))));
    let set_cid = set.cid.expect("a change");
    let _: Written = parse(&dir, &["incr", "n", "2"]);
    let _: Written = parse(&dir, &["sadd", "s", "a", "b"]);
    let again: Written = parse(&dir, &["srem", "s", "absent"]);
    assert_eq!(again.cid, None, "nothing to change");
    let removed: Written = parse(&dir, &["srem", "s", "a"]);
    assert_eq!(removed.value, Some(serde_json::json!(["b"])));

    let got: Got = parse(&dir, &["get", "n"]);
    assert_eq!((got.key.as_str(), got.kind.as_str()), ("n", "counter"));
    assert_eq!((got.value, got.values.len()), (Json::from(2), 1));
    assert!(!got.conflict && got.others.is_empty());
    let listing: Listing = parse(&dir, &["ls"]);
    let keys: Vec<(&str, &str, bool)> = listing
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.kind.as_str(), e.conflict))
        .collect();
    assert_eq!(
        keys,
        [
            ("k", "register", false),
            ("n", "counter", false),
            ("s", "set", false)
        ]
    );
    assert_eq!(listing.entries[0].value, Json::from(7));

    let log: Vec<Logged> = parse_lines(&dir, &["log"]);
    assert_eq!(log.len(), 5, "genesis, set, incr, sadd, srem");
    assert!(matches!(
        log.last().map(|l| &l.ops[..]),
        Some([Op::Genesis { .. }])
    ));
    assert!(log.iter().all(|l| !l.void && l.doc == init.doc));
    assert!(log.iter().any(|l| l.cid == set_cid));
    let shown: Shown = parse(&dir, &["show", &set_cid]);
    assert!(shown.signature_valid && shown.size > 0 && shown.signature.len() == 128);
    assert!(matches!(&shown.ops[..], [Op::Set { key, .. }] if key == "k"));

    let blame: Blame = parse(&dir, &["blame", "k"]);
    assert_eq!(blame.key, "k");
    assert_eq!(blame.lines.len(), 1);
    assert_eq!(
        (&blame.lines[0].change, &blame.lines[0].value),
        (&set_cid, &Json::from(7))
    );

    let heads: Heads = parse(&dir, &["heads"]);
    assert_eq!(heads.heads, [log[0].cid.clone()]);
    let dag: Dag = parse(&dir, &["dag", "--format", "json"]);
    assert_eq!((dag.heads, dag.nodes.len()), (heads.heads.clone(), 5));
    // Authors in full, as `log --json` prints them.
    for node in &dag.nodes {
        assert_eq!(node.author, init.author, "{}", node.cid);
    }

    let stat: BlockStat = parse(&dir, &["block", "stat", &set_cid]);
    assert!(
        stat.valid && stat.size as usize == shown.size,
        "{}",
        stat.codec
    );

    let other = "11".repeat(32);
    let granted: Committed = parse(&dir, &["grant", &other, "--role", "reader"]);
    assert!(!granted.cid.is_empty());
    let members: Members = parse(&dir, &["members"]);
    assert_eq!(members.members.len(), 2);
    assert_eq!(members.members[0].key, init.author, "the owner first");
    assert_eq!(members.members[1].role, "reader");

    let checked: Checked = parse(&dir, &["fsck"]);
    assert!(checked.ok && checked.problems.is_empty() && checked.n_changes >= 6);

    dir.ok(&["remote", "add", "origin", "/nowhere"]);
    let remotes: Vec<Remote> = parse(&dir, &["remote", "ls"]);
    assert_eq!(
        (remotes[0].name.as_str(), remotes[0].url.as_str()),
        ("origin", "/nowhere")
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reverted {
    cid: Option<String>,
    reverted: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDiff {
    key: String,
    old: Json,
    new: Json,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Diffed {
    from: Vec<String>,
    to: Vec<String>,
    keys: Vec<KeyDiff>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    file: String,
    author: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    key: String,
    name: String,
}

#[test]
fn history_and_people_json_match_their_schemas() {
    let dir = Dir::new();
    let new_key: NewKey = parse(&dir, &["key", "new", "k.key"]);
    assert!(is_author(&new_key.author) && new_key.file.ends_with("k.key"));
    let id: Id = parse(&dir, &["id", "--key", "k.key"]);
    assert_eq!(id.author, new_key.author);
    let init: Initialized = parse(&dir, &["init"]);
    let named: Named = parse(&dir, &["member", "name", &new_key.author, "kim"]);
    assert_eq!(
        (named.key.as_str(), named.name.as_str()),
        (new_key.author.as_str(), "kim")
    );
    let _: Committed = parse(&dir, &["grant", "kim"]);
    let members: Members = parse(&dir, &["members"]);
    assert_eq!(members.members[0].name, None);
    assert_eq!(members.members[1].name.as_deref(), Some("kim"));

    let a: Written = parse(&dir, &["set", "x", "1"]);
    let b: Written = parse(&dir, &["set", "x", "2"]);
    let shown: Shown = parse(&dir, &["show", b.cid.as_deref().unwrap()]);
    assert_eq!(shown.diffs.len(), 1);
    assert_eq!(
        (&shown.diffs[0].old, &shown.diffs[0].new),
        (&Json::from(1), &Json::from(2))
    );
    let log: Vec<Logged> = parse_lines(&dir, &["log", "-p"]);
    assert!(log.iter().all(|l| l.diffs.is_some()));
    let log: Vec<Logged> = parse_lines(&dir, &["log", "x"]);
    assert_eq!(log.len(), 2);
    assert!(log
        .iter()
        .all(|l| l.diffs.is_none() && l.author == init.author));
    let diffed: Diffed = parse(&dir, &["diff", a.cid.as_deref().unwrap(), "@"]);
    assert_eq!(diffed.keys.len(), 1);
    assert_eq!(diffed.to, [b.cid.clone().unwrap()]);
    assert_eq!(diffed.from, [a.cid.clone().unwrap()]);
    let reverted: Reverted = parse(&dir, &["revert", b.cid.as_deref().unwrap()]);
    assert!(reverted.cid.is_some());
    assert_eq!(Some(reverted.reverted), b.cid);
}

#[test]
fn undo_and_redo_json_match_their_schema() {
    let dir = Dir::new();
    let _: Initialized = parse(&dir, &["init"]);
    let nothing: Undid = parse(&dir, &["undo"]);
    assert_eq!((nothing.cid, nothing.undid), (None, None));
    let set: Written = parse(&dir, &["set", "k", "7"]);
    let undid: Undid = parse(&dir, &["undo"]);
    assert!(undid.cid.is_some());
    assert_eq!(undid.undid, set.cid);
    let redid: Redid = parse(&dir, &["redo"]);
    assert!(redid.cid.is_some());
    assert_eq!(redid.redid, set.cid);
    let nothing: Redid = parse(&dir, &["redo"]);
    assert_eq!((nothing.cid, nothing.redid), (None, None));
}

#[test]
fn rows_json_matches_its_schema() {
    let dir = Dir::new();
    let _: Initialized = parse(&dir, &["init"]);
    let _: Written = parse(&dir, &["set", "todo/1/title", "milk"]);
    let _: Written = parse(&dir, &["set", "todo/1/done", "true"]);
    let rows: Rows = parse(&dir, &["get", "todo", "--rows"]);
    assert_eq!(rows.key, "todo/");
    assert_eq!(
        Json::Object(rows.rows),
        serde_json::json!({"1": {"title": "milk", "done": true}})
    );
    let deleted: RowsDeleted = parse(&dir, &["rm", "todo", "--rows"]);
    assert!(deleted.cid.is_some());
    assert_eq!(deleted.key, "todo/");
    assert_eq!(deleted.keys, ["todo/1/done", "todo/1/title"]);
}

#[test]
fn batch_json_lines_match_their_schema() {
    let dir = Dir::init();
    let mut cmd = dir.cmd(&["--json", "batch"]);
    let mut p = Proc::spawn_with_stdin(&mut cmd, Stdio::piped());
    p.write_stdin(b"set a 1\nsadd s x\nsrem s absent\n");
    let out = p.finish().success();
    let lines: Vec<BatchLine> = out
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let seen: Vec<(u64, bool, &str)> = lines
        .iter()
        .map(|l| (l.line, l.cid.is_some(), l.key.as_str()))
        .collect();
    assert_eq!(seen, [(1, true, "a"), (2, true, "s"), (3, false, "s")]);
}

#[test]
fn list_and_text_json_match_their_schema() {
    let dir = Dir::init();
    let a: SeqWritten = parse(&dir, &["list", "push", "todo", "beer"]);
    let a_id = a.id.clone().unwrap();
    assert!(a.cid.is_some());
    assert_eq!(a.value, Some(serde_json::json!(["beer"])));
    let b: SeqWritten = parse(&dir, &["list", "insert", "todo", "0", "milk"]);
    let moved: SeqWritten = parse(&dir, &["list", "move", "todo", &a_id, "--to", "done"]);
    assert_eq!((moved.key.as_str(), moved.id), ("todo", None));
    let ls: ListListed = parse(&dir, &["list", "ls", "done"]);
    assert_eq!(ls.key, "done");
    let ids: Vec<&str> = ls.elements.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [a_id.as_str()]);
    assert_eq!(ls.elements[0].value, serde_json::json!("beer"));
    let _: SeqWritten = parse(&dir, &["list", "set", "todo", &b.id.unwrap(), "oat milk"]);
    let t: SeqWritten = parse(&dir, &["text", "insert", "notes", "0", "hi"]);
    assert_eq!(t.value, Some(serde_json::json!("hi")));
    let got: Got = parse(&dir, &["get", "notes"]);
    assert_eq!(
        (got.kind.as_str(), got.value),
        ("text", serde_json::json!("hi"))
    );
    let got: Got = parse(&dir, &["get", "todo"]);
    assert_eq!(
        (got.kind.as_str(), got.value),
        ("list", serde_json::json!(["oat milk"]))
    );
    // `log --json` shows every list and text op.
    let logged: Vec<Logged> = parse_lines(&dir, &["log"]);
    let names: Vec<&str> = logged
        .iter()
        .flat_map(|l| &l.ops)
        .map(|op| match op {
            Op::Lins { .. } => "lins",
            Op::Lmov { .. } => "lmov",
            Op::Lset { .. } => "lset",
            Op::Tins { .. } => "tins",
            _ => "other",
        })
        .collect();
    for n in ["lins", "lmov", "lset", "tins"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
}
