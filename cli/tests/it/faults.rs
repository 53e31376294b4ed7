//! A full disk and a read-only file system, for real: each test runs a script in a private
//! mount namespace (`unshare --user --map-root-user --mount`, so no privileges are needed)
//! where a small tmpfs holds the repo. The script runs the real `weft` binary and records
//! every command's exit code, stdout and stderr in a directory the test then reads.
//!
//! What they prove:
//! - a write on a full disk fails at once with one line naming the cause and exit 11, leaves
//!   nothing of itself (not readable, not in `fsck`), releases the repo, and once space is
//!   freed the repo opens, passes `fsck` and has lost no acknowledged change;
//! - a running `weft serve` does the same for the commands it runs for other processes, and
//!   recovers without a restart once space is freed;
//! - on a read-only file system `get`, `ls`, `log`, `show`, `fsck` and serving a clone work,
//!   and a write fails with exit 11.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::util::weft_bin;

/// The results of a script run in a small file system.
struct Run {
    out: tempfile::TempDir,
    log: String,
}

impl Run {
    /// Runs `body` (bash) with `$WEFT` (the binary), `$FS` (a tmpfs of `size`, mounted in a
    /// private mount namespace) and `run NAME CMD...`, which records the exit code, stdout and
    /// stderr of `CMD` under `NAME`.
    fn new(size: &str, body: &str) -> Run {
        let out = tempfile::Builder::new()
            .prefix("weft-faults")
            .tempdir()
            .unwrap();
        let fs = out.path().join("fs");
        std::fs::create_dir(&fs).unwrap();
        let script = format!(
            r#"set -u
mount -t tmpfs -o size={size} tmpfs "$FS" || {{ echo "cannot mount a tmpfs" >&2; exit 99; }}
run() {{
    name=$1; shift
    timeout 60 "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
    echo $? >"$OUT/$name.code"
}}
fill() {{ dd if=/dev/zero of="$FS/fill" bs=4k 2>/dev/null; true; }}
# A value longer than a page: a write of it cannot fit in the slack of a file's last page.
big() {{ head -c 8000 /dev/zero | tr '\0' "$1"; }}
{body}
"#
        );
        let output = Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--mount",
                "bash",
                "-c",
                &script,
            ])
            .env("WEFT", weft_bin())
            .env("FS", &fs)
            .env("OUT", out.path())
            .env_remove("WEFT_DIR")
            .env_remove("WEFT_IDENTITY")
            .output()
            .expect("unshare runs");
        let log = format!(
            "status {:?}\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "the script failed: {log}");
        Run { out, log }
    }

    fn file(&self, name: &str, ext: &str) -> String {
        let path: PathBuf = self.out.path().join(format!("{name}.{ext}"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), self.log))
    }

    fn code(&self, name: &str) -> i32 {
        self.file(name, "code").trim().parse().unwrap()
    }

    fn stdout(&self, name: &str) -> String {
        self.file(name, "out")
    }

    fn stderr(&self, name: &str) -> String {
        self.file(name, "err")
    }

    /// `name` succeeded; its stdout.
    fn ok(&self, name: &str) -> String {
        assert_eq!(self.code(name), 0, "{name}: {}", self.stderr(name));
        self.stdout(name)
    }

    /// `name` failed with `code` and one line on stderr; that line.
    fn fails(&self, name: &str, code: i32) -> String {
        let err = self.stderr(name);
        assert_eq!(self.code(name), code, "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: not one line: {err:?}");
        assert!(err.starts_with("weft: error: "), "{name}: {err}");
        err
    }
}

/// Checks an error line for a full disk: it says so once, names the repo, and repeats no OS
/// error.
fn says_disk_full(err: &str, fs: &Path) {
    assert_eq!(
        err.matches("no space left on device").count(),
        1,
        "the cause, once: {err}"
    );
    assert!(!err.contains("os error"), "{err}");
    assert!(err.contains(&fs.display().to_string()), "{err}");
}

#[test]
fn a_write_on_a_full_disk_fails_cleanly_and_loses_nothing_acknowledged() {
    let run = Run::new(
        "2m",
        r#"
cd "$FS"
run init "$WEFT" init -q r
run set_a "$WEFT" -C r set a 1
fill
run set_b "$WEFT" -C r set b "$(big b)"
run set_b_again "$WEFT" -C r set b "$(big b)"
run get_a "$WEFT" -C r get a
run get_b "$WEFT" -C r get b
run log "$WEFT" -C r log
run fsck_full "$WEFT" -C r fsck
rm "$FS/fill"
run set_c "$WEFT" -C r set c 3
run get_b_after "$WEFT" -C r get b
run fsck "$WEFT" -C r fsck
run ls "$WEFT" -C r ls
"#,
    );
    let fs = run.out.path().join("fs");
    run.ok("init");
    let a = run.ok("set_a");
    // The write fails at once, says why in one line, and leaves the repo to the next command.
    says_disk_full(&run.fails("set_b", 11), &fs);
    says_disk_full(&run.fails("set_b_again", 11), &fs);
    // Reading works meanwhile, and nothing of the failed write is there.
    assert_eq!(run.ok("get_a"), "1\n");
    run.fails("get_b", 4);
    assert_eq!(run.ok("log").lines().count(), 2, "the genesis and `set a`");
    assert!(run.ok("log").contains(&a.trim()[..19]));
    assert!(run.ok("fsck_full").contains(": ok"));
    // Space freed: it writes again, and everything acknowledged is there.
    run.ok("set_c");
    run.fails("get_b_after", 4);
    assert!(run.ok("fsck").contains("3 changes, 1 documents: ok"));
    assert_eq!(run.ok("ls"), "a\t1\nc\t3\n");
}

#[test]
fn a_serving_process_recovers_from_a_full_disk_without_a_restart() {
    let run = Run::new(
        "3m",
        r#"
cd "$FS"
run init "$WEFT" init -q r
run set_a "$WEFT" -C r set a 1
mkfifo "$OUT/stdin"
"$WEFT" -C r serve <"$OUT/stdin" >"$OUT/serve.out" 2>"$OUT/serve.err" &
server=$!
exec 3>"$OUT/stdin"
for i in $(seq 1 200); do grep -q serving "$OUT/serve.out" 2>/dev/null && break; sleep 0.05; done
fill
run set_x "$WEFT" -C r set x "$(big x)"
run set_b "$WEFT" -C r set b "$(big b)"
run get_b "$WEFT" -C r get b
run ls_full "$WEFT" -C r ls
rm "$FS/fill"
run set_c "$WEFT" -C r set c 3
run get_b_after "$WEFT" -C r get b
run ls "$WEFT" -C r ls
exec 3>&-
wait $server
echo $? >"$OUT/serve.code"
run fsck "$WEFT" -C r fsck
run ls_after "$WEFT" -C r ls
"#,
    );
    let fs = run.out.path().join("fs");
    run.ok("set_a");
    assert!(run.stdout("serve").contains("serving"), "{}", run.log);
    // Run by the server for these processes: the same one line and exit code.
    says_disk_full(&run.fails("set_x", 11), &fs);
    says_disk_full(&run.fails("set_b", 11), &fs);
    // A write reported as failed is never readable, then or later.
    run.fails("get_b", 4);
    assert_eq!(run.ok("ls_full"), "a\t1\n");
    // The same server writes again once there is space.
    run.ok("set_c");
    run.fails("get_b_after", 4);
    assert_eq!(run.ok("ls"), "a\t1\nc\t3\n");
    assert_eq!(
        run.file("serve", "code").trim(),
        "0",
        "{}",
        run.stderr("serve")
    );
    assert!(run.ok("fsck").contains("3 changes, 1 documents: ok"));
    assert_eq!(run.ok("ls_after"), "a\t1\nc\t3\n");
}

#[test]
fn a_read_only_file_system_reads_and_serves_but_does_not_write() {
    let run = Run::new(
        "8m",
        r#"
cd "$FS"
run init "$WEFT" init -q r
run set_a "$WEFT" -C r set a 1
run set_b "$WEFT" -C r set b '{"x":2}'
head=$("$WEFT" -C r heads)
mount -o remount,ro "$FS"
run get "$WEFT" -C r get a
run ls "$WEFT" -C r ls
run log "$WEFT" -C r log
run show "$WEFT" -C r show "$head"
run fsck "$WEFT" -C r fsck
run set "$WEFT" -C r set c 3
run clone "$WEFT" clone -q "$FS/r" "$OUT/copy"
run copy_ls "$WEFT" -C "$OUT/copy" ls
"#,
    );
    let fs = run.out.path().join("fs");
    assert_eq!(run.ok("get"), "1\n");
    assert_eq!(run.ok("ls"), "a\t1\nb\t{\"x\":2}\n");
    assert_eq!(run.ok("log").lines().count(), 3);
    assert!(run.ok("show").contains(r#""key":"b","op":"set""#));
    assert!(run.ok("fsck").contains("3 changes, 1 documents: ok"));
    let err = run.fails("set", 11);
    assert!(err.contains("read-only file system"), "{err}");
    assert!(err.contains(&fs.display().to_string()), "{err}");
    assert!(!err.contains("os error"), "{err}");
    run.ok("clone");
    assert_eq!(run.ok("copy_ls"), "a\t1\nb\t{\"x\":2}\n");
}
