//! `log`, `show`, `heads`, `blame`, `--at`, `dag`, `block` and `fsck`.

use serde_json::json;
use weft_store::{Cid, Codec};

use crate::util::{cid, s, Dir};

/// A repo with genesis, `set x 1`, `set x 2`, `incr n`; returns it and the CIDs oldest first.
fn three_changes() -> (Dir, Vec<String>) {
    let dir = Dir::init();
    let genesis = dir.head();
    let a = dir.ok(&["set", "x", "1"]).trim().to_string();
    let b = dir.ok(&["set", "x", "2"]).trim().to_string();
    let c = dir.ok(&["incr", "n"]).trim().to_string();
    (dir, vec![genesis, a, b, c])
}

#[test]
fn log_is_newest_first() {
    let (dir, cids) = three_changes();
    let author = dir.ok(&["id"]);
    let short = &author[..8];
    let log = dir.ok(&["log"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4, "{log}");
    for (line, cid) in lines.iter().zip(cids.iter().rev()) {
        // A unique prefix: the header and 12 characters.
        assert!(
            line.starts_with(&format!("{} {short} ", &cid[..19])),
            "{line:?}"
        );
    }
    assert!(lines[0].ends_with("incr n"), "{log}");
    assert!(lines[1].ends_with("set x"), "{log}");
    assert!(lines[3].ends_with("genesis"), "{log}");
}

#[test]
fn log_json_lines() {
    let (dir, cids) = three_changes();
    let author = dir.ok(&["id"]).trim().to_string();
    let doc = cids[0].clone();
    let lines = dir.run(&["log", "--json"]).success().json_lines();
    assert_eq!(lines.len(), 4);
    for (i, (line, cid)) in lines.iter().zip(cids.iter().rev()).enumerate() {
        let obj = line.as_object().unwrap();
        let mut fields: Vec<&str> = obj.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["author", "cid", "doc", "height", "ops", "parents", "seq", "time", "void"]
        );
        // The owner's own changes always count.
        assert_eq!(line["void"], json!(false));
        assert_eq!(s(line, "cid"), cid);
        assert_eq!(s(line, "doc"), doc);
        assert_eq!(s(line, "author"), author);
        assert_eq!(line["height"], json!(4 - i));
        assert!(line["time"].as_u64().unwrap() > 0);
        assert!(line["seq"].as_u64().unwrap() >= 1);
        assert!(!line["ops"].as_array().unwrap().is_empty());
    }
    // Each change's parent is the next (older) line.
    for w in lines.windows(2) {
        assert_eq!(w[0]["parents"], json!([w[1]["cid"].clone()]));
    }
    assert_eq!(lines[3]["parents"], json!([]));
    assert_eq!(lines[3]["ops"][0]["op"], "genesis");
    assert_eq!(lines[3]["ops"][0]["owner"], author.as_str());
    assert_eq!(
        lines[2]["ops"],
        json!([{"op": "set", "key": "x", "value": 1, "pred": []}])
    );
    assert_eq!(lines[1]["ops"][0]["op"], "set");
    assert_eq!(lines[1]["ops"][0]["value"], 2);
    assert_eq!(lines[1]["ops"][0]["pred"].as_array().unwrap().len(), 1);
    assert_eq!(
        lines[0]["ops"],
        json!([{"op": "incr", "key": "n", "delta": 1}])
    );
}

#[test]
fn log_n_limits() {
    let (dir, cids) = three_changes();
    let two = dir.ok(&["log", "-n", "2", "--full"]);
    assert_eq!(two.lines().count(), 2);
    assert!(two.starts_with(&cids[3]), "{two}");
    assert!(two.lines().nth(1).unwrap().starts_with(&cids[2]), "{two}");
    assert_eq!(
        dir.run(&["log", "-n", "1", "--json"])
            .success()
            .json_lines()
            .len(),
        1
    );
    assert_eq!(dir.ok(&["log", "-n", "0"]), "");
    assert_eq!(dir.ok(&["log", "-n", "100"]).lines().count(), 4);
}

#[test]
fn log_graph_linear() {
    let (dir, cids) = three_changes();
    let graph = dir.ok(&["log", "--graph", "--full"]);
    let lines: Vec<&str> = graph.lines().collect();
    assert_eq!(lines.len(), 4, "{graph}");
    for (line, cid) in lines.iter().zip(cids.iter().rev()) {
        assert!(line.starts_with(&format!("* {cid} ")), "{graph}");
    }
    assert!(!graph.contains('|'), "{graph}");
    assert_eq!(dir.ok(&["log", "--graph", "-n", "2"]).lines().count(), 2);
}

#[test]
fn show_human_and_json() {
    let (dir, cids) = three_changes();
    let author = dir.ok(&["id"]).trim().to_string();
    let human = dir.ok(&["show", &cids[2]]);
    assert!(
        human.starts_with(&format!("change    {}\n", cids[2])),
        "{human}"
    );
    assert!(
        human.contains(&format!("document  {}\n", cids[0])),
        "{human}"
    );
    assert!(human.contains(&format!("author    {author}\n")), "{human}");
    assert!(
        human.contains(&format!("parent    {}\n", cids[1])),
        "{human}"
    );
    assert!(human.contains("height    3\n"), "{human}");
    assert!(human.contains("signature valid\n"), "{human}");
    assert!(human.contains("\"op\":\"set\""), "{human}");

    let v = dir.json(&["show", &cids[2], "--json"]);
    assert_eq!(s(&v, "cid"), cids[2]);
    assert_eq!(s(&v, "doc"), cids[0]);
    assert_eq!(s(&v, "author"), author);
    assert_eq!(v["signature_valid"], true);
    assert_eq!(v["parents"], json!([cids[1]]));
    assert_eq!(v["height"], 3);
    assert_eq!(v["ops"][0]["op"], "set");
    assert_eq!(v["ops"][0]["key"], "x");
    assert_eq!(v["ops"][0]["value"], 2);
    assert_eq!(s(&v, "signature").len(), 128);
    let bytes = dir.run(&["block", "get", &cids[2]]).success();
    assert_eq!(v["size"], json!(bytes.stdout_bytes().len()));

    // The genesis names itself as its document.
    let g = dir.json(&["show", &cids[0], "--json"]);
    assert_eq!(s(&g, "doc"), cids[0]);
    assert_eq!(g["parents"], json!([]));
    assert_eq!(g["signature_valid"], true);
    assert_eq!(g["ops"][0]["op"], "genesis");
}

#[test]
fn heads_human_and_json() {
    let (dir, cids) = three_changes();
    assert_eq!(dir.ok(&["heads"]), format!("{}\n", cids[3]));
    assert_eq!(dir.json(&["heads", "--json"]), json!({"heads": [cids[3]]}));
    let fresh = Dir::init();
    let genesis = fresh.json(&["doc", "ls", "--json"])["docs"][0]["id"].clone();
    assert_eq!(
        fresh.json(&["heads", "--json"]),
        json!({"heads": [genesis]})
    );
}

#[test]
fn blame_names_the_writing_change() {
    let (dir, cids) = three_changes();
    let author = dir.ok(&["id"]).trim().to_string();
    let v = dir.json(&["blame", "x", "--json"]);
    assert_eq!(v["key"], "x");
    let lines = v["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{v}");
    let l = &lines[0];
    assert_eq!(s(l, "change"), cids[2]);
    assert_eq!(l["op"], 0);
    assert_eq!(s(l, "author"), author);
    assert_eq!(l["height"], 3);
    assert_eq!(l["value"], 2);
    assert!(l["time"].as_u64().unwrap() > 0);

    let human = dir.ok(&["blame", "x"]);
    assert!(
        human.starts_with(&format!("{} {} ", cids[2], &author[..8])),
        "{human}"
    );
    assert!(human.trim_end().ends_with(" 2"), "{human}");

    // A counter blames every increment, newest first.
    dir.ok(&["incr", "n", "5"]);
    let head = dir.head();
    let v = dir.json(&["blame", "n", "--json"]);
    let lines = v["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{v}");
    assert_eq!(s(&lines[0], "change"), head);
    assert_eq!(lines[0]["value"], 5);
    assert_eq!(s(&lines[1], "change"), cids[3]);
    assert_eq!(lines[1]["value"], 1);
}

#[test]
fn get_and_ls_at_travel_in_time() {
    let dir = Dir::init();
    dir.ok(&["set", "x", "1"]);
    let first = dir.head();
    dir.ok(&["set", "x", "2"]);
    dir.ok(&["set", "y", "later"]);
    assert_eq!(dir.ok(&["get", "x"]), "2\n");
    assert_eq!(dir.ok(&["get", "x", "--at", &first]), "1\n");
    assert_eq!(
        dir.json(&["get", "x", "--at", &first, "--json"]),
        json!({"key": "x", "kind": "register", "value": 1, "values": [1],
               "conflict": false, "others": []})
    );
    // y did not exist yet.
    dir.fails(4, &["get", "y", "--at", &first]);
    assert_eq!(dir.ok(&["ls", "--at", &first]), "x\t1\n");
    assert_eq!(
        dir.json(&["ls", "--at", &first, "--json"]),
        json!({"entries": [{"key": "x", "kind": "register", "value": 1, "conflict": false}]})
    );
    // At the genesis the document is empty.
    let genesis = dir
        .run(&["log", "--json"])
        .success()
        .json_lines()
        .last()
        .unwrap()["cid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(dir.ok(&["ls", "--at", &genesis]), "");
    // Time travel does not change the present.
    assert_eq!(dir.ok(&["get", "x"]), "2\n");
    assert_eq!(dir.ok(&["ls"]), "x\t2\ny\t\"later\"\n");
}

#[test]
fn at_a_change_of_another_document_is_not_found() {
    let dir = Dir::init();
    dir.ok(&["doc", "new", "other"]);
    let other = dir.ok(&["-d", "other", "set", "x", "1"]).trim().to_string();
    let err = dir.fails(4, &["get", "x", "--at", &other]);
    assert!(err.contains("belongs to document"), "{err}");
}

#[test]
fn dag_dot_has_every_node_and_edge() {
    let (dir, cids) = three_changes();
    let dot = dir.ok(&["dag"]);
    assert_eq!(dir.ok(&["dag", "--format", "dot"]), dot);
    assert!(dot.starts_with("digraph weft"), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    for c in &cids {
        assert!(
            dot.contains(&format!("  \"{c}\" [label=")),
            "{c} missing: {dot}"
        );
    }
    for w in cids.windows(2) {
        assert!(
            dot.contains(&format!("\"{}\" -> \"{}\";", w[1], w[0])),
            "edge {} -> {} missing: {dot}",
            w[1],
            w[0]
        );
    }
    assert_eq!(dot.matches(" -> ").count(), 3, "{dot}");
    // Only the head is bold.
    assert_eq!(dot.matches("penwidth=3").count(), 1, "{dot}");
}

#[test]
fn dag_json() {
    let (dir, cids) = three_changes();
    let v = dir.json(&["dag", "--format", "json"]);
    assert_eq!(s(&v, "doc"), cids[0]);
    assert_eq!(v["heads"], json!([cids[3]]));
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    for (n, c) in nodes.iter().zip(cids.iter().rev()) {
        assert_eq!(s(n, "cid"), c);
    }
    assert_eq!(nodes[0]["parents"], json!([cids[2]]));
    assert_eq!(nodes[0]["height"], 4);
    assert_eq!(nodes[0]["summary"], "incr n");
    assert_eq!(nodes[3]["parents"], json!([]));
    assert_eq!(nodes[3]["summary"], "genesis");
    let author = dir.ok(&["id"]);
    assert_eq!(nodes[0]["author"], author.trim());
}

#[test]
fn dag_output_file() {
    let (dir, _) = three_changes();
    let dot = dir.ok(&["dag"]);
    assert_eq!(dir.ok(&["dag", "-o", "graph.dot"]), "");
    assert_eq!(std::fs::read_to_string(dir.join("graph.dot")).unwrap(), dot);
    let json = dir.ok(&["dag", "--format", "json"]);
    assert_eq!(dir.ok(&["dag", "--format", "json", "-o", "graph.json"]), "");
    assert_eq!(
        std::fs::read_to_string(dir.join("graph.json")).unwrap(),
        json
    );
    // An unwritable destination is an error (exit 1), not a panic.
    let err = dir.fails(1, &["dag", "-o", "no/such/dir/graph.dot"]);
    assert!(err.contains("cannot write"), "{err}");
}

#[test]
fn block_get_returns_the_hashed_bytes() {
    let (dir, cids) = three_changes();
    for c in &cids {
        let out = dir.run(&["block", "get", c]).success();
        let bytes = out.stdout_bytes();
        assert!(!bytes.is_empty());
        let want: Cid = cid(c);
        assert_eq!(Cid::hash(Codec::DagCbor, bytes), want);
    }
}

#[test]
fn block_stat_human_and_json() {
    let (dir, cids) = three_changes();
    let size = dir
        .run(&["block", "get", &cids[1]])
        .success()
        .stdout_bytes()
        .len();
    assert_eq!(
        dir.json(&["block", "stat", &cids[1], "--json"]),
        json!({"cid": cids[1], "size": size, "codec": "dag-cbor", "valid": true})
    );
    assert_eq!(
        dir.ok(&["block", "stat", &cids[1]]),
        format!("{}\t{size} bytes\tdag-cbor\n", cids[1])
    );
}

#[test]
fn fsck_ok() {
    let (dir, _) = three_changes();
    dir.ok(&["doc", "new", "second"]);
    dir.ok(&["-d", "second", "sadd", "s", "a"]);
    let human = dir.ok(&["fsck"]);
    assert_eq!(human, "checked 6 blocks, 6 changes, 2 documents: ok\n");
    assert_eq!(
        dir.json(&["fsck", "--json"]),
        json!({"ok": true, "n_blocks": 6, "n_changes": 6, "n_docs": 2, "repaired": [], "problems": []})
    );
    assert_eq!(dir.ok(&["-q", "fsck"]), "");
}

/// The README's quickstart line that shows a head works on a repo with two heads too.
#[test]
fn the_readmes_show_of_a_head_works_with_two_heads() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("weft show \"$(weft heads"))
        .expect("the README shows a head");
    let command = line.split('#').next().unwrap().trim();

    let a = Dir::init();
    let b = Dir::new();
    b.ok(&["clone", a.path().to_str().unwrap(), "."]);
    a.ok(&["grant", b.ok(&["id"]).trim()]);
    b.ok(&["pull"]);
    a.ok(&["set", "x", "1"]);
    b.ok(&["set", "y", "2"]);
    b.ok(&["sync"]);
    let heads = a.heads();
    assert_eq!(heads.len(), 2);

    let bin = std::path::Path::new(crate::util::weft_bin())
        .parent()
        .unwrap();
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let out = std::process::Command::new("sh")
        .args(["-c", command])
        .current_dir(a.path())
        .env("PATH", path)
        .env_remove("WEFT_DIR")
        .env_remove("WEFT_IDENTITY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        heads.iter().any(|h| stdout.contains(h.as_str())),
        "{stdout}"
    );
}
