//! Output details: `-q`, help and version, and a closed stdout pipe (`weft log | head -1`).

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::Stdio;

use weft_dag::{Durability, Options, Repo};

use crate::util::{cid, Dir};

#[test]
fn quiet_suppresses_confirmations() {
    let dir = Dir::init();
    assert_eq!(dir.ok(&["-q", "set", "x", "1"]), "");
    assert_eq!(dir.ok(&["set", "--quiet", "x", "2"]), "");
    assert_eq!(dir.ok(&["-q", "incr", "n"]), "");
    assert_eq!(dir.ok(&["-q", "sadd", "s", "a"]), "");
    assert_eq!(dir.ok(&["-q", "srem", "s", "a"]), "");
    assert_eq!(dir.ok(&["-q", "rm", "x"]), "");
    // The writes happened.
    assert_eq!(dir.ok(&["log"]).lines().count(), 7);
    dir.fails(4, &["get", "x"]);
    // -q does not hide data.
    assert_eq!(dir.ok(&["-q", "get", "n"]), "1\n");
    assert_eq!(dir.ok(&["-q", "heads"]).lines().count(), 1);
    // Without -q, set prints the new change's CID.
    let printed = dir.ok(&["set", "x", "3"]);
    cid(&printed);
    assert_eq!(printed.trim(), dir.head());
}

#[test]
fn help_and_version_go_to_stdout_with_0() {
    let dir = Dir::new();
    let help = dir.ok(&["--help"]);
    assert!(help.contains("Exit codes:"), "{help}");
    for code in 0..=7 {
        assert!(
            help.contains(&format!("\n  {code}  ")),
            "exit code {code} undocumented"
        );
    }
    assert!(help.contains("WEFT_DIR"), "{help}");
    assert!(help.contains("WEFT_IDENTITY"), "{help}");
    for cmd in [
        "init", "id", "doc", "set", "get", "rm", "ls", "incr", "sadd", "srem", "log", "show",
        "heads", "blame", "dag", "block", "fsck", "demo",
    ] {
        assert!(
            help.contains(&format!("\n  {cmd} ")),
            "{cmd} missing from help"
        );
    }
    assert!(dir.ok(&["get", "--help"]).contains("--at"));
    let version = dir.ok(&["--version"]);
    assert_eq!(version, format!("weft {}\n", env!("CARGO_PKG_VERSION")));
}

/// Writes `n` changes, each with four long keys so that `weft log` prints well over a pipe's
/// buffer, through the library (much faster than `n` processes).
fn many_changes(dir: &Dir, n: usize) {
    let repo = Repo::open(
        dir.path(),
        Options {
            durability: Durability::Manual,
            ..Options::default()
        },
    )
    .unwrap();
    let doc = repo.doc("main").unwrap();
    for i in 0..n {
        let mut tx = repo.transaction(doc);
        for j in 0..4 {
            let key = format!("{}/{i}/{j}", "k".repeat(100));
            tx.set(&key, i as i64).unwrap();
        }
        tx.commit().unwrap();
    }
    repo.flush().unwrap();
}

#[test]
fn log_into_a_closed_pipe_is_quiet_and_succeeds() {
    let dir = Dir::init();
    many_changes(&dir, 300);

    // The full log is far bigger than a pipe's buffer, so weft is still writing when the
    // reader goes away.
    let full = dir.run(&["log"]).success();
    assert_eq!(full.stdout().lines().count(), 301);
    assert!(
        full.stdout_bytes().len() > 2 * 65_536,
        "{}",
        full.stdout_bytes().len()
    );
    let first_line = full.stdout().lines().next().unwrap().to_string();

    for args in [
        &["log"][..],
        &["log", "--graph"],
        &["log", "--json"],
        &["dag"],
    ] {
        let mut cmd = dir.cmd(args);
        let mut child = cmd
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "{args:?}");
        if args == ["log"] {
            assert_eq!(line.trim_end(), first_line);
        }
        // Close the pipe: `| head -1`.
        drop(stdout);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{args:?}: {status}, stderr: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

#[test]
fn demo_converges_and_cleans_up() {
    let dir = Dir::new();
    let tmp = Dir::new();
    let out = dir
        .cmd(&["demo"])
        .env("TMPDIR", tmp.path())
        .run()
        .success()
        .stdout();
    assert!(out.contains("converged: yes"), "{out}");
    assert!(out.contains("# weft log --graph"), "{out}");
    assert!(out.contains("|/"), "no fork drawn:\n{out}");
    // Both concurrent register values survive.
    assert!(out.contains("{\"title\":\"oat milk\"}\n"), "{out}");
    assert!(out.contains("{\"title\":\"soy milk\"}\n"), "{out}");
    // The element moved to two lists at once is in exactly one; both text edits are in.
    let placed = ["board/done\t[\"beer\"]\n", "board/later\t[\"beer\"]\n"]
        .iter()
        .filter(|l| out.contains(*l))
        .count();
    assert_eq!(placed, 1, "{out}");
    assert!(out.contains("notes\t\"today: buy milk and eggs\"\n"), "{out}");
    // It needs no repo, creates none here, and leaves nothing in the temporary directory.
    assert!(!dir.join(".weft").exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
