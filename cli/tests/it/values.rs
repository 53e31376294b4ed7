//! `set`, `get`, `rm`, `ls`, `incr`, `sadd` and `srem`; `get --rows` and `rm --rows`.

use serde_json::json;

use crate::util::{cid, Dir};

#[test]
fn set_prints_the_new_head() {
    let dir = Dir::init();
    let printed = dir.ok(&["set", "x", "1"]);
    cid(&printed);
    assert_eq!(printed.lines().count(), 1);
    assert_eq!(dir.head(), printed.trim());
}

#[test]
fn set_json_reports_cid_key_and_value() {
    let dir = Dir::init();
    let v = dir.json(&["set", "x", r#"{"a":[1,2]}"#, "--json"]);
    assert_eq!(v["key"], "x");
    assert_eq!(v["value"], json!({"a": [1, 2]}));
    assert_eq!(v["cid"], dir.head().as_str());
}

#[test]
fn set_and_get_json_values_and_plain_strings() {
    let dir = Dir::init();
    let cases: &[(&str, serde_json::Value, &str)] = &[
        ("42", json!(42), "42"),
        ("-7", json!(-7), "-7"),
        ("1.5", json!(1.5), "1.5"),
        ("true", json!(true), "true"),
        ("null", json!(null), "null"),
        (r#""quoted""#, json!("quoted"), r#""quoted""#),
        ("hello world", json!("hello world"), r#""hello world""#),
        ("{not json", json!("{not json"), r#""{not json""#),
        (
            r#"{"b":1,"a":[true,null]}"#,
            json!({"a": [true, null], "b": 1}),
            r#"{"a":[true,null],"b":1}"#,
        ),
        ("[1,\"two\"]", json!([1, "two"]), r#"[1,"two"]"#),
    ];
    for (i, (input, expected, human)) in cases.iter().enumerate() {
        let key = format!("k{i}");
        dir.ok(&["set", &key, input]);
        assert_eq!(
            dir.ok(&["get", &key]),
            format!("{human}\n"),
            "input {input:?}"
        );
        let v = dir.json(&["get", &key, "--json"]);
        assert_eq!(
            v,
            json!({"key": key, "kind": "register", "value": expected, "values": [expected],
                   "conflict": false, "others": []}),
            "input {input:?}"
        );
    }
}

#[test]
fn set_overwrites() {
    let dir = Dir::init();
    dir.ok(&["set", "x", "1"]);
    dir.ok(&["set", "x", "2"]);
    assert_eq!(dir.ok(&["get", "x"]), "2\n");
    assert_eq!(dir.ok(&["get", "x", "--all"]), "2\n");
    assert_eq!(dir.json(&["get", "x", "--json"])["values"], json!([2]));
}

#[test]
fn rm_deletes_a_key() {
    let dir = Dir::init();
    dir.ok(&["set", "a", "1"]);
    dir.ok(&["set", "b", "2"]);
    let printed = dir.ok(&["rm", "a"]);
    assert_eq!(dir.head(), printed.trim());
    let err = dir.fails(4, &["get", "a"]);
    assert!(err.contains("key not found"), "{err}");
    assert_eq!(dir.ok(&["ls"]), "b\t2\n");
    // Removing it again: nothing there.
    dir.fails(4, &["rm", "a"]);
    // And it can be set again.
    dir.ok(&["set", "a", "3"]);
    assert_eq!(dir.ok(&["get", "a"]), "3\n");
}

#[test]
fn ls_with_prefix_and_json() {
    let dir = Dir::init();
    dir.ok(&["set", "todo/1", "milk"]);
    dir.ok(&["set", "todo/2", r#"{"done":true}"#]);
    dir.ok(&["set", "title", "groceries"]);
    dir.ok(&["incr", "visits", "3"]);
    dir.ok(&["sadd", "tags", "a"]);

    assert_eq!(
        dir.ok(&["ls"]),
        "tags\t[\"a\"]\ntitle\t\"groceries\"\ntodo/1\t\"milk\"\ntodo/2\t{\"done\":true}\nvisits\t3\n"
    );
    assert_eq!(
        dir.ok(&["ls", "todo/"]),
        "todo/1\t\"milk\"\ntodo/2\t{\"done\":true}\n"
    );
    assert_eq!(dir.ok(&["ls", "nothing-here"]), "");
    assert_eq!(
        dir.json(&["ls", "t", "--json"]),
        json!({"entries": [
            {"key": "tags", "kind": "set", "value": ["a"], "conflict": false},
            {"key": "title", "kind": "register", "value": "groceries", "conflict": false},
            {"key": "todo/1", "kind": "register", "value": "milk", "conflict": false},
            {"key": "todo/2", "kind": "register", "value": {"done": true}, "conflict": false},
        ]})
    );
    assert_eq!(
        dir.json(&["ls", "--json", "visits"]),
        json!({"entries": [{"key": "visits", "kind": "counter", "value": 3, "conflict": false}]})
    );
    assert_eq!(dir.json(&["ls", "zzz", "--json"]), json!({"entries": []}));
}

#[test]
fn incr_default_positive_and_negative() {
    let dir = Dir::init();
    dir.ok(&["incr", "c"]);
    assert_eq!(dir.ok(&["get", "c"]), "1\n");
    dir.ok(&["incr", "c", "10"]);
    assert_eq!(dir.ok(&["get", "c"]), "11\n");
    dir.ok(&["incr", "c", "-5"]);
    assert_eq!(dir.ok(&["get", "c"]), "6\n");
    dir.ok(&["incr", "c", "-20"]);
    assert_eq!(
        dir.json(&["get", "c", "--json"]),
        json!({"key": "c", "kind": "counter", "value": -14, "values": [-14],
               "conflict": false, "others": []})
    );
    let v = dir.json(&["incr", "c", "--json"]);
    assert_eq!(v["value"], -13);
    assert_eq!(v["key"], "c");
    // Four incr changes plus the last one plus genesis.
    assert_eq!(dir.ok(&["log"]).lines().count(), 6);
}

#[test]
fn sadd_and_srem_members() {
    let dir = Dir::init();
    dir.ok(&["sadd", "s", "a", "b", "3"]);
    let members = |dir: &Dir| {
        let v = dir.json(&["get", "s", "--json"]);
        assert_eq!(v["kind"], "set");
        assert_eq!(v["values"], json!([v["value"].clone()]));
        let mut m: Vec<String> = v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.to_string())
            .collect();
        m.sort();
        m
    };
    assert_eq!(members(&dir), ["\"a\"", "\"b\"", "3"]);
    // Adding an existing member changes nothing visible.
    dir.ok(&["sadd", "s", "a", r#"{"k":1}"#]);
    assert_eq!(members(&dir), ["\"a\"", "\"b\"", "3", r#"{"k":1}"#]);
    dir.ok(&["srem", "s", "a", "3"]);
    assert_eq!(members(&dir), ["\"b\"", r#"{"k":1}"#]);
    dir.ok(&["srem", "s", r#"{"k":1}"#]);
    assert_eq!(dir.ok(&["get", "s"]), "[\"b\"]\n");
    // The one change of `sadd s a b 3` holds three add ops.
    let log = dir.run(&["log", "--json"]).success().json_lines();
    let first_add = &log[log.len() - 2];
    let ops: Vec<&str> = first_add["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["add", "add", "add"]);
    // Removing an absent member of an existing set is a no-op.
    assert_eq!(dir.ok(&["srem", "s", "zzz"]), "nothing to change\n");
    assert_eq!(dir.ok(&["get", "s"]), "[\"b\"]\n");
}

/// Three rows under `todo/`, a leaf that is also a prefix, and a key beside them.
fn todo_rows(dir: &Dir) {
    for (k, v) in [
        ("todo/1/title", "milk"),
        ("todo/1/done", "false"),
        ("todo/2/title", "eggs"),
        ("todo/2", "the row itself"),
        ("todos", "not a row"),
    ] {
        dir.ok(&["set", k, v]);
    }
    dir.ok(&["incr", "todo/3/votes", "2"]);
    dir.ok(&["sadd", "todo/3/tags", "a", "b"]);
}

#[test]
fn get_rows_reads_a_prefix_as_one_object() {
    let dir = Dir::init();
    todo_rows(&dir);
    let rows = json!({
        "1": {"title": "milk", "done": false},
        "2": {"/": "the row itself", "title": "eggs"},
        "3": {"votes": 2, "tags": ["a", "b"]},
    });
    let human = dir.ok(&["get", "todo", "--rows"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&human).unwrap(),
        rows
    );
    assert!(human.lines().count() > 1, "indented: {human}");
    assert_eq!(
        dir.json(&["get", "todo/", "--rows", "--json"]),
        json!({"key": "todo/", "rows": rows})
    );
    assert_eq!(
        dir.json(&["get", "todo/1", "--rows", "--json"])["rows"],
        json!({"title": "milk", "done": false})
    );
    // Plain `get` of a key inside is unchanged.
    assert_eq!(dir.ok(&["get", "todo/2"]), "\"the row itself\"\n");
}

#[test]
fn get_rows_at_a_past_change() {
    let dir = Dir::init();
    dir.ok(&["set", "t/1/a", "1"]);
    let then = dir.head();
    dir.ok(&["set", "t/1/b", "2"]);
    assert_eq!(
        dir.json(&["get", "t", "--rows", "--at", &then, "--json"])["rows"],
        json!({"1": {"a": 1}})
    );
}

#[test]
fn rm_rows_deletes_a_row_in_one_change() {
    let dir = Dir::init();
    todo_rows(&dir);
    let before = dir.head();
    let v = dir.json(&["rm", "todo/2", "--rows", "--json"]);
    assert_eq!(
        v,
        json!({"cid": dir.head(), "key": "todo/2/", "keys": ["todo/2/title"]})
    );
    let shown = dir.json(&["show", &dir.head(), "--json"]);
    assert_eq!(shown["parents"], json!([before]), "one change");
    // `todo/2` itself is not under `todo/2/`: it stays.
    assert_eq!(
        dir.json(&["get", "todo", "--rows", "--json"])["rows"]["2"],
        json!("the row itself")
    );
    // Registers, sets and counters in one change; the counter has no delete and reads 0.
    let printed = dir.ok(&["rm", "todo", "--rows"]);
    assert_eq!(printed.trim(), dir.head());
    assert_eq!(dir.ok(&["ls", "todo/"]), "todo/3/votes\t0\n");
    assert_eq!(dir.ok(&["get", "todos"]), "\"not a row\"\n");
    assert_eq!(dir.ok(&["rm", "todo", "--rows"]), "nothing to change\n");
}

#[test]
fn rows_of_a_prefix_without_keys_are_not_found() {
    let dir = Dir::init();
    dir.ok(&["set", "todos", "x"]);
    for args in [&["get", "todo", "--rows"][..], &["rm", "todo", "--rows"]] {
        let err = dir.fails(4, args);
        assert!(err.contains("key not found"), "{args:?}: {err}");
    }
    assert_eq!(
        dir.fails(4, &["get", "todo", "--rows"]),
        "weft: error: key not found: \"todo/\""
    );
    dir.fails(2, &["get", "todos", "--rows", "--all"]);
    // Without --rows, rm of a prefix is still a key that does not exist.
    dir.fails(4, &["rm", "todo/"]);
}

/// `weft batch` in `dir` with `input` on stdin.
fn batch(dir: &Dir, input: &str) -> crate::util::Out {
    let mut cmd = dir.cmd(&["batch"]);
    let mut p = crate::util::Proc::spawn_with_stdin(&mut cmd, std::process::Stdio::piped());
    p.write_stdin(input.as_bytes());
    p.finish()
}

/// `d` arrays around `1`, as JSON.
fn nested_arrays(d: usize) -> String {
    format!("{}1{}", "[".repeat(d), "]".repeat(d))
}

/// `d` objects around `1`, as JSON.
fn nested_objects(d: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d))
}

/// A value nested as deep as a change can hold is accepted, by `set`, `sadd`, `list push` and
/// `batch`, and everything after it still decodes (`fsck`, `log`, `clone`); one level deeper is
/// refused up front with exit 2, and so is JSON deeper than the JSON parser reads (never
/// stored as a string).
#[test]
fn values_nested_too_deep_for_a_change_are_refused() {
    let max = weft_dag::value::MAX_DEPTH;
    let dir = Dir::init();
    for v in [nested_arrays(max), nested_objects(max)] {
        dir.ok(&["set", "deep", &v]);
        dir.ok(&["sadd", "set", &v]);
        dir.ok(&["list", "push", "list", &v]);
    }
    batch(&dir, &format!("set b {}\n", nested_arrays(max))).success();
    for v in [
        nested_arrays(max + 1),
        nested_objects(max + 1),
        nested_arrays(127),
        nested_objects(126),
        nested_arrays(200),
        nested_objects(200),
    ] {
        for args in [
            vec!["set", "deep", v.as_str()],
            vec!["sadd", "set", v.as_str()],
            vec!["list", "push", "list", v.as_str()],
        ] {
            let err = dir.fails(2, &args);
            assert!(err.contains("nested at most 125 deep"), "{err}");
        }
        let err = batch(&dir, &format!("set b {v}\n")).fails(2);
        assert!(err.contains("line 1") && err.contains("125 deep"), "{err}");
    }
    let stored = dir.json(&["get", "b", "--json"]);
    let want: serde_json::Value = serde_json::from_str(&nested_arrays(max)).unwrap();
    assert_eq!(stored["value"], want);
    dir.ok(&["fsck"]);
    dir.ok(&["log"]);
    let copy = Dir::new();
    copy.ok(&["clone", dir.path().to_str().unwrap(), "c"]);
}
