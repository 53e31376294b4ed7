//! `weft batch`: many writes from stdin, one change per line.

use std::process::Stdio;

use crate::util::{assert_one_line_error, s, Dir, Out, Proc};

/// Runs `weft ARGS` in `dir` with `input` on stdin.
fn batch(dir: &Dir, args: &[&str], input: &str) -> Out {
    let mut cmd = dir.cmd(args);
    let mut p = Proc::spawn_with_stdin(&mut cmd, Stdio::piped());
    p.write_stdin(input.as_bytes());
    p.finish()
}

const INPUT: &str = "\
# a comment, then a blank line

set title hello world
set todo/1 {\"title\": \"milk\", \"n\": [1, 2]}
incr visits
incr visits -3
sadd tags home urgent 7
srem tags home
srem tags absent
rm title
   set  padded   x
";

#[test]
fn batch_commits_one_change_per_line_and_prints_each_cid() {
    let dir = Dir::init();
    let out = batch(&dir, &["batch"], INPUT).success().stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 9, "{out}");
    assert_eq!(lines[6], "nothing to change", "{out}");
    let cids: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| *l != "nothing to change")
        .collect();
    for c in &cids {
        crate::util::cid(c);
    }
    // One change per line, in order, each on the one before.
    let log: Vec<String> = dir
        .ok(&["log", "--full"])
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    let mut newest_first: Vec<String> = cids.iter().map(|c| c.to_string()).collect();
    newest_first.reverse();
    assert_eq!(log[..8], newest_first[..], "{out}");
    assert_eq!(dir.head(), cids[7]);

    assert_eq!(
        dir.ok(&["get", "todo/1"]),
        "{\"n\":[1,2],\"title\":\"milk\"}\n"
    );
    assert_eq!(dir.ok(&["get", "visits"]), "-2\n");
    assert_eq!(dir.ok(&["get", "tags"]), "[7,\"urgent\"]\n");
    assert_eq!(dir.ok(&["get", "padded"]), "\"x\"\n");
    dir.fails(4, &["get", "title"]);
    dir.ok(&["fsck"]);
}

#[test]
fn batch_json_quiet_and_document() {
    let dir = Dir::init();
    dir.ok(&["doc", "new", "notes"]);
    let input = "set a 1\nsadd s x\nsrem s y\n";
    let out = batch(&dir, &["-d", "notes", "batch", "--json"], input).success();
    let lines = out.json_lines();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["key"], "a");
    assert_eq!(lines[1]["line"], 2);
    let (first, second) = (s(&lines[0], "cid"), s(&lines[1], "cid"));
    assert_ne!(first, second);
    assert_eq!(
        lines[2],
        serde_json::json!({"line": 3, "cid": null, "key": "s"})
    );
    assert_eq!(dir.ok(&["-d", "notes", "heads"]), format!("{second}\n"));
    assert_eq!(dir.ok(&["-d", "notes", "get", "a"]), "1\n");
    dir.fails(4, &["get", "a"]);

    // -q prints nothing but still commits; an empty input commits nothing.
    assert_eq!(
        batch(&dir, &["-q", "batch"], "set b 2\n")
            .success()
            .stdout(),
        ""
    );
    assert_eq!(dir.ok(&["get", "b"]), "2\n");
    assert_eq!(batch(&dir, &["batch"], "").success().stdout(), "");
}

/// Runs a batch that must fail with `code`; returns its stdout and its one error line.
fn failing(dir: &Dir, input: &str, code: i32) -> (String, String) {
    let out = batch(dir, &["batch"], input);
    assert_eq!(out.code(), Some(code), "{}", out.report());
    assert_one_line_error(&out.stderr(), &out.report());
    (out.stdout(), out.stderr())
}

#[test]
fn a_bad_line_is_2_naming_its_number_and_keeps_the_lines_before_it() {
    let dir = Dir::init();
    let (out, err) = failing(&dir, "set a 1\n\n# c\nfrobnicate x\nset b 2\n", 2);
    assert!(err.starts_with("weft: error: line 4: "), "{err}");
    assert!(err.contains("frobnicate"), "{err}");
    // The line before it is committed and was reported; the one after it never ran.
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(dir.head(), out.trim());
    assert_eq!(dir.ok(&["get", "a"]), "1\n");
    dir.fails(4, &["get", "b"]);

    for (input, line) in [
        ("set a\n", 1),
        ("set a 1\nincr n x\n", 2),
        ("set a 1\nset b 2\nrm\n", 3),
        ("sadd s\n", 1),
        ("set a 99999999999999999999\n", 1),
        ("rm a b\n", 1),
    ] {
        let (_, err) = failing(&dir, input, 2);
        assert!(
            err.starts_with(&format!("weft: error: line {line}: ")),
            "{input:?}: {err}"
        );
    }
    // A write the repo refuses keeps its own exit code, with the line number.
    let (_, err) = failing(&dir, "incr n\nset n 1\n", 5);
    assert!(err.starts_with("weft: error: line 2: "), "{err}");
    let (_, err) = failing(&dir, "rm nothing-here\n", 4);
    assert!(err.starts_with("weft: error: line 1: "), "{err}");
    dir.ok(&["fsck"]);
}

#[test]
fn batch_runs_in_the_serving_process_with_our_stdin() {
    let dir = Dir::init();
    let mut server = dir.serve();
    let out = batch(&dir, &["batch"], INPUT).success().stdout();
    assert_eq!(out.lines().count(), 9, "{out}");
    assert_eq!(dir.ok(&["get", "visits"]), "-2\n");
    let (out, err) = failing(&dir, "set x 1\nset\n", 2);
    assert!(err.starts_with("weft: error: line 2: "), "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    // A last line without its newline is still a line.
    let out = batch(&dir, &["batch"], "set y 1\nset z 2")
        .success()
        .stdout();
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(dir.ok(&["get", "z"]), "2\n");

    // Lines are committed and reported as they come, not at the end of the input.
    let mut p = Proc::spawn_with_stdin(&mut dir.cmd(&["batch"]), Stdio::piped());
    for i in 0..3 {
        p.write_stdin(format!("incr live {i}\n").as_bytes());
        let cid = p.line();
        assert_eq!(dir.head(), cid);
    }
    p.close_stdin();
    p.finish().success();
    assert_eq!(dir.ok(&["get", "live"]), "3\n");

    let out = server.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    dir.ok(&["fsck"]);
}
