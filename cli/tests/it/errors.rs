//! Every error: its documented exit code and one line `weft: error: ...` on stderr.
//!
//! Exit codes (`weft --help`): 1 other, 2 usage, 3 not a repo, 4 not found, 5 wrong type,
//! 6 locked, 7 corrupt.

use weft_store::{Cid, Codec};

use crate::util::Dir;

/// A valid CID that no repo holds.
fn absent_cid() -> String {
    Cid::hash(Codec::DagCbor, b"not a block in any weft repo").to_string()
}

#[test]
fn not_a_repo_is_3() {
    let dir = Dir::new();
    for args in [
        &["id"][..],
        &["get", "x"],
        &["set", "x", "1"],
        &["ls"],
        &["log"],
        &["heads"],
        &["doc", "ls"],
        &["fsck"],
        &["dag"],
    ] {
        let err = dir.fails(3, args);
        assert!(err.contains("not a weft repo"), "{args:?}: {err}");
        assert!(err.contains("weft init"), "{args:?}: {err}");
    }
    // Nothing was created.
    assert!(!dir.join(".weft").exists());
}

#[test]
fn unknown_key_is_4() {
    let dir = Dir::init();
    dir.ok(&["set", "x", "1"]);
    let err = dir.fails(4, &["get", "nope"]);
    assert_eq!(err, "weft: error: key not found: \"nope\"");
    dir.fails(4, &["get", "nope", "--json"]);
    dir.fails(4, &["get", "nope", "--all"]);
    dir.fails(4, &["blame", "nope"]);
    dir.fails(4, &["rm", "nope"]);
    dir.fails(4, &["srem", "nope", "a"]);
}

#[test]
fn unknown_document_is_4() {
    let dir = Dir::init();
    let err = dir.fails(4, &["-d", "nope", "get", "x"]);
    assert!(err.contains("unknown document \"nope\""), "{err}");
    dir.fails(4, &["--doc", "nope", "set", "x", "1"]);
    dir.fails(4, &["--doc", "nope", "log"]);
    // A CID that is not a document either.
    dir.fails(4, &["--doc", &absent_cid(), "heads"]);
}

#[test]
fn unknown_cid_is_4() {
    let dir = Dir::init();
    dir.ok(&["set", "x", "1"]);
    let absent = absent_cid();
    let err = dir.fails(4, &["show", &absent]);
    assert!(err.contains(&absent), "{err}");
    dir.fails(4, &["show", &absent, "--json"]);
    dir.fails(4, &["block", "get", &absent]);
    dir.fails(4, &["block", "stat", &absent]);
    dir.fails(4, &["get", "x", "--at", &absent]);
    dir.fails(4, &["ls", "--at", &absent]);
    // A raw-codec CID is just as unknown.
    let raw = Cid::hash(Codec::Raw, b"nothing").to_string();
    dir.fails(4, &["block", "get", &raw]);
}

#[test]
fn invalid_cid_string_is_2() {
    let dir = Dir::init();
    for bad in ["nope", "bafy", "", "Qm123", "bafyr4iNOTVALID!!"] {
        dir.fails(2, &["show", bad]);
        dir.fails(2, &["block", "get", bad]);
        dir.fails(2, &["block", "stat", bad]);
        dir.fails(2, &["get", "x", "--at", bad]);
        dir.fails(2, &["ls", "--at", bad]);
    }
    // A CID cut short is a prefix of it; one with a character changed no longer parses (or
    // names nothing).
    let head = dir.head();
    let mut mangled = head.clone();
    mangled.truncate(head.len() - 1);
    assert_eq!(
        dir.json(&["show", &mangled, "--json"])["cid"],
        head.as_str()
    );
    mangled.push('!');
    dir.fails(2, &["show", &mangled]);
}

#[test]
fn invalid_cid_is_usage_even_outside_a_repo() {
    // The argument is checked before the repo is looked for.
    let dir = Dir::new();
    dir.fails(2, &["show", "nope"]);
    dir.fails(2, &["block", "get", "nope"]);
}

#[test]
fn wrong_type_is_5() {
    let dir = Dir::init();
    dir.ok(&["set", "reg", "1"]);
    dir.ok(&["incr", "ctr"]);
    dir.ok(&["sadd", "set", "a"]);
    let err = dir.fails(5, &["incr", "reg"]);
    assert_eq!(err, "weft: error: key \"reg\" is a register, not a counter");
    dir.fails(5, &["sadd", "reg", "a"]);
    dir.fails(5, &["srem", "reg", "a"]);
    dir.fails(5, &["set", "ctr", "1"]);
    dir.fails(5, &["rm", "ctr"]);
    dir.fails(5, &["sadd", "ctr", "a"]);
    dir.fails(5, &["set", "set", "1"]);
    dir.fails(5, &["rm", "set"]);
    dir.fails(5, &["incr", "set", "-1"]);
    // Nothing was written by the failures.
    assert_eq!(dir.ok(&["log"]).lines().count(), 4);
    assert_eq!(dir.ok(&["get", "reg"]), "1\n");
}

#[test]
fn locked_repo_is_6() {
    let dir = Dir::init();
    dir.ok(&["set", "x", "1"]);
    let repo = dir.open();
    // Each waits a few seconds for the holder to let go (it might be a short command) before
    // failing; run them side by side.
    std::thread::scope(|scope| {
        for args in [&["get", "x"][..], &["set", "x", "2"], &["log"], &["fsck"]] {
            let dir = &dir;
            scope.spawn(move || {
                let err = dir.fails(6, args);
                assert!(err.contains("open in another weft process"), "{err}");
            });
        }
    });
    drop(repo);
    // Usable again once the other holder is gone, and the locked write did not happen.
    assert_eq!(dir.ok(&["get", "x"]), "1\n");
}

#[test]
fn corrupt_block_is_7() {
    let dir = Dir::init();
    let genesis = dir.head();
    let target = dir.ok(&["set", "x", "1"]).trim().to_string();
    dir.ok(&["set", "x", "2"]);
    let size = {
        let repo = dir.open();
        let cid: Cid = crate::util::cid(&target);
        repo.block(&cid).unwrap()
    };
    let block_len = size.len();
    weft_testkit::damage_in_packs(dir.path(), &size);

    // fsck: exit 7, names the block.
    let out = dir.run(&["fsck"]);
    assert_eq!(out.code(), Some(7), "{out:?}");
    crate::util::assert_one_line_error(&out.stderr(), "fsck");
    let stdout = out.stdout();
    assert!(
        stdout.contains(&format!("corrupt-block: {target}")),
        "{stdout}"
    );
    assert!(stdout.contains("problem(s)"), "{stdout}");
    assert!(
        !stdout.contains(&genesis),
        "only the planted block is bad: {stdout}"
    );
    // -q still reports problems.
    let quiet = dir.run(&["-q", "fsck"]);
    assert_eq!(quiet.code(), Some(7));
    assert!(quiet.stdout().contains(&target));

    let out = dir.run(&["fsck", "--json"]);
    assert_eq!(out.code(), Some(7));
    let v = out.json();
    assert_eq!(v["ok"], false);
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["kind"] == "corrupt-block" && p["cid"] == target.as_str()),
        "{v}"
    );
    assert!(
        problems
            .iter()
            .filter(|p| p["kind"] == "corrupt-block")
            .all(|p| p["cid"] == target.as_str()),
        "{v}"
    );

    // Reading the block fails as corrupt, not as not-found.
    let err = dir.fails(7, &["block", "get", &target]);
    assert!(err.contains(&target), "{err}");
    dir.fails(7, &["show", &target]);
    // stat reports it without failing.
    let stat = dir.json(&["block", "stat", &target, "--json"]);
    assert_eq!(stat["valid"], false);
    assert_eq!(stat["size"], block_len);
    assert!(dir.ok(&["block", "stat", &target]).contains("CORRUPT"));
    // Sound blocks still read.
    dir.run(&["block", "get", &genesis]).success();
}

#[test]
fn bad_arguments_are_2() {
    let dir = Dir::init();
    for args in [
        &["frobnicate"][..],
        &[],
        &["get"],
        &["set", "x"],
        &["sadd", "s"],
        &["srem", "s"],
        &["show"],
        &["block"],
        &["block", "get"],
        &["doc"],
        &["doc", "new"],
        &["get", "x", "--bogus"],
        &["incr", "c", "lots"],
        &["log", "-n", "many"],
        &["dag", "--format", "svg"],
        &["init", "a", "b"],
    ] {
        let err = dir.fails(2, args);
        assert!(err.contains("see `weft --help`"), "{args:?}: {err}");
    }
    let err = dir.fails(2, &["frobnicate"]);
    assert!(
        err.contains("unrecognized subcommand 'frobnicate'"),
        "{err}"
    );
    let err = dir.fails(2, &["get"]);
    assert!(err.contains("<KEY>"), "{err}");
    let err = dir.fails(2, &["dag", "--format", "svg"]);
    assert!(err.contains("svg"), "{err}");
    // Bad arguments are rejected before the repo is looked for.
    Dir::new().fails(2, &["frobnicate"]);
    // Nothing was written.
    assert_eq!(dir.ok(&["log"]).lines().count(), 1);
}

#[test]
fn invalid_values_are_2() {
    let dir = Dir::init();
    for bad in [
        r#"{"/":"nope"}"#,
        r#"{"/":{"bytes":"!!!"}}"#,
        r#"{"/":{"nope":1}}"#,
        r#"{"/":5}"#,
        "18446744073709551615",
    ] {
        let err = dir.fails(2, &["set", "k", bad]);
        assert!(err.contains("invalid value"), "{bad}: {err}");
        dir.fails(2, &["sadd", "s", "ok", bad]);
    }
    dir.fails(4, &["get", "k"]);
    dir.fails(4, &["get", "s"]);
    // DAG-JSON links and bytes that are well formed are accepted and round-trip.
    let head = dir.head();
    let link = format!(r#"{{"/":"{head}"}}"#);
    dir.ok(&["set", "link", &link]);
    assert_eq!(dir.ok(&["get", "link"]), format!("{link}\n"));
    dir.ok(&["set", "bytes", r#"{"/":{"bytes":"aGVsbG8"}}"#]);
    assert_eq!(
        dir.ok(&["get", "bytes"]),
        "{\"/\":{\"bytes\":\"aGVsbG8\"}}\n"
    );
}

#[test]
fn invalid_keys_and_doc_names_are_2() {
    let dir = Dir::init();
    let err = dir.fails(2, &["set", "", "v"]);
    assert!(err.contains("invalid key"), "{err}");
    dir.fails(2, &["incr", ""]);
    dir.fails(2, &["set", &"k".repeat(2_000), "v"]);
    let err = dir.fails(2, &["doc", "new", "has space"]);
    assert!(err.contains("invalid document name"), "{err}");
    dir.fails(2, &["doc", "new", ""]);
    // A name that looks like a document id.
    let head = dir.head();
    dir.fails(2, &["doc", "new", &head]);
    assert_eq!(
        dir.json(&["doc", "ls", "--json"])["docs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn duplicate_document_is_1() {
    let dir = Dir::init();
    let err = dir.fails(1, &["doc", "new", "main"]);
    assert!(err.contains("already exists"), "{err}");
    dir.ok(&["doc", "new", "notes"]);
    dir.fails(1, &["doc", "new", "notes"]);
}

#[test]
fn missing_key_file_is_1() {
    let dir = Dir::init();
    std::fs::remove_file(dir.join(".weft/key")).unwrap();
    let err = dir.fails(1, &["id"]);
    assert!(err.contains("no author key"), "{err}");
    std::fs::write(dir.join(".weft/key"), "not hex\n").unwrap();
    let err = dir.fails(1, &["id"]);
    assert!(err.contains("not a weft key"), "{err}");
}

#[test]
fn a_fractional_delta_says_it_must_be_an_integer() {
    let dir = Dir::init();
    for delta in ["1.5", "lots"] {
        let err = dir.fails(2, &["incr", "k", delta]);
        assert!(err.contains("must be an integer"), "{err}");
        assert!(!err.contains("invalid digit"), "{err}");
    }
    let err = dir.fails(2, &["incr", "k", "99999999999999999999"]);
    assert!(err.contains("64-bit"), "{err}");
}

/// An address another process already listens on is the network's failure (8), not bad usage;
/// an address that does not parse is bad usage (2).
#[cfg(unix)]
#[test]
fn a_taken_listen_address_is_8() {
    let dir = Dir::init();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = dir.fails(8, &["serve", "--listen", &addr]);
    assert!(err.contains(&addr), "{err}");
    dir.fails(2, &["serve", "--listen", "not an address"]);
}

/// A bundle with one block, `block`, as a CAR v1 file.
fn car_with(block: &[u8]) -> Vec<u8> {
    let cid = Cid::hash(Codec::DagCbor, block).to_bytes();
    let mut header = vec![0xa2, 0x65];
    header.extend(b"roots");
    header.extend([0x81, 0xd8, 0x2a, 0x58, 0x25, 0x00]);
    header.extend(cid);
    header.push(0x67);
    header.extend(b"version");
    header.push(0x01);
    let mut car = vec![u8::try_from(header.len()).unwrap()];
    car.extend(header);
    let section = cid.len() + block.len();
    assert!(section < 0x80);
    car.push(u8::try_from(section).unwrap());
    car.extend(cid);
    car.extend(block);
    car
}

/// Blocks that are not DAG-CBOR as weft writes it are reported in words, not with the
/// decoder's type names (`UnorderedKey`, `Unsupported { name: "any", found: 250 }`).
#[test]
fn decoder_errors_are_reported_in_words() {
    let dir = Dir::init();
    let cases: [(&[u8], &str); 2] = [
        // {"ops": [], "doc": 1}: keys out of order.
        (
            &[
                0xa2, 0x63, b'o', b'p', b's', 0x80, 0x63, b'd', b'o', b'c', 0x01,
            ],
            "order",
        ),
        // {"ops": [1.0]}, the float in 32 bits.
        (
            &[
                0xa1, 0x63, b'o', b'p', b's', 0x81, 0xfa, 0x3f, 0x80, 0x00, 0x00,
            ],
            "64-bit floats",
        ),
    ];
    for (block, words) in cases {
        std::fs::write(dir.join("b.car"), car_with(block)).unwrap();
        let err = dir.fails(7, &["bundle", "apply", "b.car"]);
        assert!(err.contains(words), "{err}");
        for raw in ["UnorderedKey", "Unsupported {", "found:", "name:"] {
            assert!(!err.contains(raw), "{err}");
        }
    }
}

/// A CID whose BLAKE3 digest has 20 bytes is named as such, not as "hash 0x1e is not
/// BLAKE3-256 (0x1e)".
#[test]
fn a_short_blake3_digest_is_named() {
    let dir = Dir::init();
    // CIDv1, dag-cbor, BLAKE3 (0x1e) with a 20-byte digest of zeros.
    let err = dir.fails(2, &["show", "bafyr4faaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]);
    assert!(err.contains("BLAKE3 digest is 20 bytes, not 32"), "{err}");
    assert!(!err.contains("is not BLAKE3-256"), "{err}");
}

/// An error about a huge input echoes its first 100 characters and its size, not all of it.
#[test]
fn long_input_is_cut_short_in_errors() {
    let dir = Dir::init();
    let key = "k".repeat(100_000);
    let err = dir.fails(2, &["set", &key, "v"]);
    assert!(err.len() < 400, "{} bytes: {}", err.len(), &err[..400]);
    assert!(
        err.contains(&format!("\"{}\"... (100000 bytes)", "k".repeat(100))),
        "{err}"
    );
    let value = format!("\"{}", "v".repeat(100_000));
    let err = dir.fails(2, &["set", "k", &("[".repeat(200) + &value)]);
    assert!(err.len() < 400, "{} bytes", err.len());
    let err = dir.fails(2, &["show", &"b".repeat(100_000)]);
    assert!(err.len() < 400, "{} bytes", err.len());
}
