//! The exit codes as one table: `weft --help` lists every code (from the same table the exit
//! code is chosen by), the README lists the same ones, and errors of the libraries exit with the
//! code of their kind, with the command-line advice the libraries leave out. (`errors.rs` and
//! the transport tests check each code on many more errors.)

use std::path::Path;

use crate::util::Dir;

/// The codes `weft --help` lists under "Exit codes:", in order.
fn help_codes() -> Vec<u8> {
    let help = Dir::new().ok(&["--help"]);
    let section = help
        .split_once("Exit codes:\n")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no exit codes in --help:\n{help}"));
    section
        .lines()
        .take_while(|l| !l.is_empty())
        // An entry is "  N  text" ("  NN text"); its continuation lines are indented further.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn help_lists_every_exit_code_and_the_readme_the_same() {
    let codes = help_codes();
    assert_eq!(codes, (0..=11).collect::<Vec<u8>>());
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let table = readme
        .split_once("### Exit codes")
        .map(|(_, rest)| rest)
        .unwrap();
    let readme_codes: Vec<u8> = table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            l.trim_start_matches('|')
                .split('|')
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(
        readme_codes, codes,
        "README's exit codes differ from --help's"
    );
}

#[test]
fn a_write_the_role_does_not_allow_is_10_with_the_command_that_grants_it() {
    let dir = Dir::init();
    let other = Dir::init();
    let key = other.join(".weft/key");
    let author = other.ok(&["id"]).trim().to_string();
    let err = dir.fails(10, &["--identity", key.to_str().unwrap(), "set", "x", "1"]);
    assert!(
        err.contains("is not allowed: it needs the writer role"),
        "{err}"
    );
    // The library says what happened; the command line adds how to fix it.
    assert!(
        err.ends_with(&format!(
            "(a member with the admin role grants it with `weft grant {author} --role writer`)"
        )),
        "{err}"
    );
    assert_eq!(dir.ok(&["log"]).lines().count(), 1, "the write was stored");
}

#[test]
fn a_grant_no_replica_would_accept_is_2() {
    let dir = Dir::init();
    // The neutral point: a key of small order, for which anyone can sign.
    let unusable = format!("01{}", "0".repeat(62));
    let err = dir.fails(2, &["grant", &unusable, "--role", "writer"]);
    assert!(err.contains("no role can be granted"), "{err}");
    let err = dir.fails(2, &["grant", "nope", "--role", "writer"]);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn library_errors_carry_the_command_line_advice() {
    let dir = Dir::new();
    let err = dir.fails(3, &["get", "x"]);
    assert!(err.ends_with("(run `weft init` to create one)"), "{err}");
    let dir = Dir::init();
    let err = dir.fails(4, &["-d", "nope", "get", "x"]);
    assert_eq!(
        err,
        "weft: error: unknown document \"nope\" (see `weft doc ls`)"
    );
}
