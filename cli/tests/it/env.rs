//! Finding the repo (`-C`, searching upward, `WEFT_DIR`) and choosing the key (`--identity`,
//! `WEFT_IDENTITY`).

use crate::util::{is_author, s, Dir, TestCmd};

/// A repo with `x = "here"` and a nested subdirectory `a/b/c`.
fn nested() -> Dir {
    let dir = Dir::init();
    dir.ok(&["set", "x", "here"]);
    std::fs::create_dir_all(dir.join("a/b/c")).unwrap();
    dir
}

#[test]
fn repo_is_found_upward_from_a_subdirectory() {
    let dir = nested();
    let out = TestCmd::new(&dir.join("a/b/c"))
        .args(&["get", "x"])
        .run()
        .success();
    assert_eq!(out.stdout(), "\"here\"\n");
    // Writes from the subdirectory land in the same repo, and create nothing there.
    TestCmd::new(&dir.join("a/b"))
        .args(&["set", "y", "2"])
        .run()
        .success();
    assert_eq!(dir.ok(&["get", "y"]), "2\n");
    assert!(!dir.join("a/b/.weft").exists());
}

#[test]
fn dash_c_runs_as_if_in_dir() {
    let dir = nested();
    assert_eq!(dir.ok(&["-C", "a/b/c", "get", "x"]), "\"here\"\n");
    assert_eq!(dir.ok(&["get", "x", "-C", "a/b"]), "\"here\"\n");
    // An absolute -C from somewhere unrelated.
    let elsewhere = Dir::new();
    let abs = dir.join("a/b/c");
    assert_eq!(
        elsewhere.ok(&["-C".as_ref(), abs.as_os_str(), "get".as_ref(), "x".as_ref()]),
        "\"here\"\n"
    );
    elsewhere.fails(3, &["get", "x"]);
    // -C into a directory with no repo above it.
    let err = dir.fails(
        3,
        &[
            "-C".as_ref(),
            elsewhere.path().as_os_str(),
            "get".as_ref(),
            "x".as_ref(),
        ],
    );
    assert!(err.contains("not a weft repo"), "{err}");
    // init honours -C too.
    dir.ok(&["-C", "a", "init", "inner"]);
    assert!(dir.join("a/inner/.weft/key").is_file());
}

#[test]
fn nearest_repo_wins() {
    let dir = nested();
    dir.ok(&["init", "a/b"]);
    // a/b/c now finds the inner repo at a/b, which has no x.
    dir.fails(4, &["-C", "a/b/c", "get", "x"]);
    assert_ne!(dir.ok(&["-C", "a/b/c", "id"]), dir.ok(&["id"]));
    // a still finds the outer one.
    assert_eq!(dir.ok(&["-C", "a", "get", "x"]), "\"here\"\n");
}

#[test]
fn weft_dir_names_the_root_or_the_dot_weft_dir() {
    let dir = nested();
    let elsewhere = Dir::new();
    for target in [dir.path().to_path_buf(), dir.join(".weft")] {
        let out = TestCmd::new(elsewhere.path())
            .env("WEFT_DIR", &target)
            .args(&["get", "x"])
            .run()
            .success();
        assert_eq!(out.stdout(), "\"here\"\n", "WEFT_DIR={}", target.display());
        TestCmd::new(elsewhere.path())
            .env("WEFT_DIR", &target)
            .args(&["incr", "n"])
            .run()
            .success();
    }
    assert_eq!(dir.ok(&["get", "n"]), "2\n");
    assert!(!elsewhere.join(".weft").exists());

    // A relative WEFT_DIR is relative to the working directory.
    let out = TestCmd::new(&dir.join("a"))
        .env("WEFT_DIR", "..")
        .args(&["get", "x"])
        .run()
        .success();
    assert_eq!(out.stdout(), "\"here\"\n");

    // WEFT_DIR wins over the repo that searching upward would find.
    let other = Dir::init();
    let out = TestCmd::new(other.path())
        .env("WEFT_DIR", dir.path())
        .args(&["get", "x"])
        .run()
        .success();
    assert_eq!(out.stdout(), "\"here\"\n");

    // WEFT_DIR naming no repo: not a repo, no upward search.
    let out = TestCmd::new(dir.path())
        .env("WEFT_DIR", elsewhere.path())
        .args(&["get", "x"])
        .run();
    out.fails(3);
    // An empty WEFT_DIR is ignored.
    let out = TestCmd::new(&dir.join("a/b"))
        .env("WEFT_DIR", "")
        .args(&["get", "x"])
        .run()
        .success();
    assert_eq!(out.stdout(), "\"here\"\n");
}

#[test]
fn identity_flag_and_env_choose_the_key() {
    let dir = Dir::init();
    let own = dir.ok(&["id"]).trim().to_string();
    let keys = Dir::init();
    let their_author = keys.ok(&["id"]).trim().to_string();
    assert_ne!(own, their_author);
    let key = keys.join(".weft/key");

    // --identity
    let out = dir.ok(&["--identity".as_ref(), key.as_os_str(), "id".as_ref()]);
    assert_eq!(out.trim(), their_author);
    let v = dir.json(&[
        "id".as_ref(),
        "--json".as_ref(),
        "--identity".as_ref(),
        key.as_os_str(),
    ]);
    assert_eq!(s(&v, "author"), their_author);

    // WEFT_IDENTITY
    let out = dir.cmd(&["id"]).env("WEFT_IDENTITY", &key).run().success();
    assert_eq!(out.stdout().trim(), their_author);

    // --identity beats WEFT_IDENTITY.
    let third = Dir::init();
    let out = dir
        .cmd(&["--identity".as_ref(), key.as_os_str(), "id".as_ref()])
        .env("WEFT_IDENTITY", third.join(".weft/key"))
        .run()
        .success();
    assert_eq!(out.stdout().trim(), their_author);

    // Changes are signed by the chosen key; the repo's own key is unchanged. (Only the
    // document's owner, the repo's own key, and the keys it grants may write.)
    dir.ok(&["grant", &their_author]);
    let cid = dir
        .cmd(&["set", "x", "1"])
        .env("WEFT_IDENTITY", &key)
        .run()
        .success()
        .stdout();
    let shown = dir.json(&["show", cid.trim(), "--json"]);
    assert_eq!(s(&shown, "author"), their_author);
    assert_eq!(shown["signature_valid"], true);
    assert_eq!(dir.ok(&["id"]).trim(), own);
    assert_eq!(
        s(&dir.json(&["blame", "x", "--json"])["lines"][0], "author"),
        their_author
    );
}

#[test]
fn unusable_identity_file_is_1() {
    let dir = Dir::init();
    let err = dir.fails(1, &["--identity", "no-such-key", "id"]);
    assert!(err.contains("no-such-key"), "{err}");
    std::fs::write(dir.join("bad-key"), "xyz\n").unwrap();
    let out = dir
        .cmd(&["id"])
        .env("WEFT_IDENTITY", dir.join("bad-key"))
        .run();
    let err = out.fails(1);
    assert!(err.contains("not a weft key"), "{err}");
}

#[test]
fn init_with_identity_writes_no_key_file() {
    let keys = Dir::init();
    let key = keys.join(".weft/key");
    let author = keys.ok(&["id"]).trim().to_string();
    let dir = Dir::new();
    let v = dir.json(&[
        "--identity".as_ref(),
        key.as_os_str(),
        "init".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(s(&v, "author"), author);
    assert!(is_author(&author));
    assert!(!dir.join(".weft/key").exists());
    assert_signs_with_the_remembered_key(&dir, &key, &author);
}

/// `dir` was made with `--identity key` (the key of `author`) and has no key file of its own:
/// it remembers the key, so every command works without `--identity`, and writes are signed by
/// that key; once the key file is gone, reads still work and a write names the missing file.
fn assert_signs_with_the_remembered_key(dir: &Dir, key: &std::path::Path, author: &str) {
    assert_eq!(dir.ok(&["id"]).trim(), author);
    dir.ok(&["log"]);
    dir.ok(&["ls"]);
    let cid = dir.ok(&["set", "x", "1"]);
    let shown = dir.json(&["show", cid.trim(), "--json"]);
    assert_eq!(s(&shown, "author"), author);
    assert_eq!(dir.ok(&["get", "x"]), "1\n");

    let moved = key.with_extension("moved");
    std::fs::rename(key, &moved).unwrap();
    // Reads never need a key.
    assert_eq!(dir.ok(&["get", "x"]), "1\n");
    dir.ok(&["log", "--graph"]);
    dir.ok(&["heads"]);
    assert_eq!(dir.json(&["fsck", "--json"])["ok"], true);
    let err = dir.fails(1, &["set", "x", "2"]);
    assert!(err.contains(&key.display().to_string()), "{err}");
    std::fs::rename(&moved, key).unwrap();
    dir.ok(&["set", "x", "2"]);
}

#[test]
fn a_path_clone_with_identity_remembers_its_key() {
    let origin = Dir::init();
    let keys = Dir::init();
    let key = keys.join(".weft/key");
    let author = keys.ok(&["id"]).trim().to_string();
    origin.ok(&["grant", &author]);
    let dir = Dir::new();
    dir.cmd(&["clone".as_ref(), origin.path().as_os_str(), ".".as_ref()])
        .args(&["--identity".as_ref(), key.as_os_str()])
        .run()
        .success();
    assert!(!dir.join(".weft/key").exists());
    assert_signs_with_the_remembered_key(&dir, &key, &author);
    dir.ok(&["push"]);
    assert_eq!(origin.ok(&["get", "x"]), "2\n");
}

#[test]
fn a_repo_without_any_key_still_reads() {
    let dir = Dir::init();
    dir.ok(&["set", "x", "1"]);
    std::fs::remove_file(dir.join(".weft/key")).unwrap();
    assert_eq!(dir.ok(&["get", "x"]), "1\n");
    dir.ok(&["log"]);
    let err = dir.fails(1, &["set", "x", "2"]);
    assert!(err.contains("no author key"), "{err}");
}

#[test]
fn user_environment_does_not_leak_in() {
    // The harness clears WEFT_DIR and WEFT_IDENTITY, so a fresh directory is never a repo.
    let dir = Dir::new();
    dir.fails(3, &["id"]);
}
