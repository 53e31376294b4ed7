//! The `weft-todo` binary: what it refuses before it opens a window.

use std::process::Command;

fn weft_todo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_weft-todo"))
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap()
}

#[test]
fn bad_arguments_exit_2() {
    let out = weft_todo(&["--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data"));
}

#[test]
fn a_bad_peer_is_one_line_exit_1_and_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("todo");
    let out = weft_todo(&["--data", data.to_str().unwrap(), "--peer", "tcp://"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("weft-todo: cannot start: bad peer URL \"tcp://\""),
        "{err}"
    );
    assert!(!data.exists());
}
