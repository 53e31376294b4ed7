//! A small harness in the style of ripgrep's `tests/util.rs`: a temporary directory to run the
//! real `weft` binary in, and the captured result of one run.

use std::{
    ffi::OsStr,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio},
};

use serde_json::Value as Json;
use tempfile::TempDir;
use weft_dag::{Cid, Options, Repo};

/// The `weft` binary under test.
pub fn weft_bin() -> &'static str {
    env!("CARGO_BIN_EXE_weft")
}

/// A temporary directory to run `weft` in. Removed on drop.
#[derive(Debug)]
pub struct Dir {
    tmp: TempDir,
    /// Environment variables every command run in the directory gets.
    env: Vec<(String, String)>,
}

impl Dir {
    /// A new, empty directory.
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::Builder::new()
                .prefix("weft-cli-it")
                .tempdir()
                .unwrap(),
            env: Vec::new(),
        }
    }

    /// Every command run in the directory from now on gets `key=value` in its environment.
    pub fn with_env(mut self, key: &str, value: &str) -> Dir {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// A new directory holding a fresh repo (`weft init`).
    pub fn init() -> Dir {
        let dir = Dir::new();
        dir.ok(&["init"]);
        dir
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// A path inside the directory.
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path().join(p)
    }

    /// A command that runs `weft ARGS` in this directory.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> TestCmd {
        let mut cmd = TestCmd::new(self.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.args(args);
        cmd
    }

    /// Runs `weft ARGS` here and returns what happened, whatever it was.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        self.cmd(args).run()
    }

    /// Runs `weft ARGS` here, asserts success and returns stdout.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        self.run(args).success().stdout()
    }

    /// Runs `weft ARGS` here, asserts success and parses stdout as one JSON document.
    pub fn json<S: AsRef<OsStr>>(&self, args: &[S]) -> Json {
        self.run(args).success().json()
    }

    /// Runs `weft ARGS` here and asserts that it fails the documented way (see [`Out::fails`]).
    pub fn fails<S: AsRef<OsStr>>(&self, code: i32, args: &[S]) -> String {
        self.run(args).fails(code)
    }

    /// The id of the `i`th document `doc ls --json` lists.
    pub fn doc_id(&self, i: usize) -> String {
        self.json(&["doc", "ls", "--json"])["docs"][i]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no document {i} in doc ls"))
            .to_string()
    }

    /// The current heads of document `main`.
    pub fn heads(&self) -> Vec<String> {
        self.ok(&["heads"]).lines().map(str::to_string).collect()
    }

    /// The single head of document `main`.
    pub fn head(&self) -> String {
        let heads = self.heads();
        assert_eq!(heads.len(), 1, "expected one head, got {heads:?}");
        heads[0].clone()
    }

    /// Opens this directory's repo in the test process (no `weft` may be running).
    pub fn open(&self) -> Repo {
        Repo::open(self.path(), Options::default()).unwrap()
    }
}

/// A `watch` line without its `time` (the change's clock time, checked to be there).
pub fn untimed(mut line: Json) -> Json {
    let obj = line.as_object_mut().expect("an object");
    let time = obj.remove("time").expect("a time");
    assert!(time.as_u64().is_some_and(|t| t > 0), "time {time}");
    line
}

/// One `weft` invocation being put together.
#[derive(Debug)]
pub struct TestCmd {
    cmd: Command,
}

impl TestCmd {
    /// `weft` in `dir`, with the user's `WEFT_*` environment cleared.
    pub fn new(dir: &Path) -> TestCmd {
        let mut cmd = Command::new(weft_bin());
        cmd.current_dir(dir)
            .env_remove("WEFT_DIR")
            .env_remove("WEFT_IDENTITY")
            .env_remove("WEFT_LOG")
            .env_remove("WEFT_SSH")
            .env_remove("WEFT_REMOTE_WEFT")
            .env_remove("WEFT_TIMEOUT")
            .env_remove("WEFT_CHECKPOINT_EVERY")
            .env_remove("WEFT_PACK_SIZE")
            .env_remove("VISUAL")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE");
        TestCmd { cmd }
    }

    /// Adds arguments.
    pub fn args<S: AsRef<OsStr>>(&mut self, args: &[S]) -> &mut TestCmd {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut TestCmd {
        self.cmd.env(key, value);
        self
    }

    /// The underlying command (to spawn it with pipes).
    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Runs to completion and captures everything.
    pub fn run(&mut self) -> Out {
        let output = self.cmd.output().unwrap();
        Out {
            desc: format!("{:?}", self.cmd),
            output,
        }
    }
}

/// The result of one run.
#[derive(Debug)]
pub struct Out {
    desc: String,
    output: Output,
}

impl Out {
    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    /// Stdout as text.
    pub fn stdout(&self) -> String {
        String::from_utf8(self.output.stdout.clone()).unwrap()
    }

    /// Stdout as bytes.
    pub fn stdout_bytes(&self) -> &[u8] {
        &self.output.stdout
    }

    /// Stderr as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Everything about the run, for assertion messages.
    pub fn report(&self) -> String {
        format!(
            "{}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
            self.desc,
            self.output.status,
            String::from_utf8_lossy(&self.output.stdout),
            self.stderr()
        )
    }

    /// Asserts exit code 0 and an empty stderr.
    pub fn success(self) -> Out {
        assert!(
            self.output.status.success(),
            "weft failed: {}",
            self.report()
        );
        assert!(
            self.output.stderr.is_empty(),
            "weft succeeded but wrote to stderr: {}",
            self.report()
        );
        self
    }

    /// Asserts that `weft serve` stopped because its piped stdin closed: exit 0, stderr the one
    /// line saying so.
    pub fn stdin_closed(self) -> Out {
        assert!(
            self.output.status.success(),
            "weft failed: {}",
            self.report()
        );
        let err = self.stderr();
        assert!(
            err.starts_with("weft: serve: stdin closed, stopping (") && err.lines().count() == 1,
            "serve did not say its stdin closed: {}",
            self.report()
        );
        self
    }

    /// Asserts a failure with exactly `code` and one stderr line `weft: error: ...` without a
    /// panic or backtrace, and that nothing went to stdout. Returns the stderr line.
    pub fn fails(&self, code: i32) -> String {
        assert_eq!(
            self.code(),
            Some(code),
            "wrong exit code: {}",
            self.report()
        );
        let err = self.stderr();
        assert_one_line_error(&err, &self.report());
        assert!(
            self.output.stdout.is_empty(),
            "a failed command wrote to stdout: {}",
            self.report()
        );
        err.trim_end().to_string()
    }

    /// Parses stdout as one JSON document.
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.output.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.report()))
    }

    /// Parses stdout as JSON Lines.
    pub fn json_lines(&self) -> Vec<Json> {
        self.stdout()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("line {l:?} is not JSON ({e}): {}", self.report()))
            })
            .collect()
    }
}

fn assert_no_panic(stderr: &str, report: &str) {
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!stderr.contains(bad), "stderr mentions {bad:?}: {report}");
    }
}

/// Asserts that `stderr` is exactly one line `weft: error: ...`.
pub fn assert_one_line_error(stderr: &str, report: &str) {
    assert!(
        stderr.starts_with("weft: error: "),
        "stderr does not start with `weft: error: `: {report}"
    );
    assert!(
        stderr.ends_with('\n'),
        "stderr is not a full line: {report}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "stderr is not one line: {report}"
    );
    assert_no_panic(stderr, report);
}

/// Parses a CID printed by `weft`.
pub fn cid(s: &str) -> Cid {
    s.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a CID: {e}"))
}

/// Whether `s` is 64 lowercase hex digits (an author key).
pub fn is_author(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A string field of a JSON object.
pub fn s<'a>(v: &'a Json, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field:?} is not a string in {v}"))
}

/// A `weft` process running in the background (`serve`, `watch`), killed on drop so that a
/// failing test leaves nothing behind.
#[derive(Debug)]
pub struct Proc {
    desc: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Proc {
    /// Starts `cmd` with piped stdin, stdout and stderr.
    pub fn spawn(cmd: &mut TestCmd) -> Proc {
        Proc::spawn_with_stdin(cmd, Stdio::piped())
    }

    /// Starts `cmd` with this stdin and piped stdout and stderr.
    pub fn spawn_with_stdin(cmd: &mut TestCmd, stdin: Stdio) -> Proc {
        let desc = format!("{:?}", cmd.command());
        let mut child = cmd
            .command()
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().map(BufReader::new);
        Proc {
            desc,
            child: Some(child),
            stdin,
            stdout,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The next line of stdout, without its newline. Panics (with stderr) at end of stream.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.stdout.as_mut().unwrap().read_line(&mut line).unwrap();
        if n == 0 {
            let out = self.finish();
            panic!("expected a line, got end of stdout: {}", out.report());
        }
        assert!(
            line.ends_with('\n'),
            "partial line {line:?} from {}",
            self.desc
        );
        line.pop();
        line
    }

    /// The next line of stdout as JSON.
    pub fn json_line(&mut self) -> Json {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?} is not JSON ({e})"))
    }

    /// Reads exactly `buf.len()` bytes of stdout.
    pub fn read_exact(&mut self, buf: &mut [u8]) {
        self.stdout.as_mut().unwrap().read_exact(buf).unwrap();
    }

    /// Waits for the process to exit without reading any more of its stdout (which stays open,
    /// unread); returns its stderr and what was left of stdout.
    pub fn wait_unread(&mut self) -> Out {
        let mut child = self.child.take().expect("process already finished");
        let mut stderr = Vec::new();
        if let Some(mut e) = child.stderr.take() {
            e.read_to_end(&mut stderr).unwrap();
        }
        let status = child.wait().unwrap();
        self.stdin = None;
        let mut stdout = Vec::new();
        if let Some(mut r) = self.stdout.take() {
            r.read_to_end(&mut stdout).unwrap();
        }
        Out {
            desc: self.desc.clone(),
            output: Output {
                status,
                stdout,
                stderr,
            },
        }
    }

    /// Writes to the process's stdin (and flushes).
    pub fn write_stdin(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is closed");
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes the process's stdin.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Closes our end of the process's stdout (its next write fails with a broken pipe).
    pub fn close_stdout(&mut self) {
        self.stdout = None;
    }

    /// Sends SIGTERM (through `kill(1)`: the tests use no unsafe code).
    pub fn term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the process to exit and returns the rest of its output.
    pub fn finish(&mut self) -> Out {
        self.stdin = None;
        let mut child = self.child.take().expect("process already finished");
        let mut stdout = Vec::new();
        if let Some(mut r) = self.stdout.take() {
            r.read_to_end(&mut stdout).unwrap();
        }
        let mut stderr = Vec::new();
        if let Some(mut e) = child.stderr.take() {
            e.read_to_end(&mut stderr).unwrap();
        }
        let status = child.wait().unwrap();
        Out {
            desc: self.desc.clone(),
            output: Output {
                status,
                stdout,
                stderr,
            },
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin = None;
        self.kill();
    }
}

impl Dir {
    /// The daemon socket of this directory's repo.
    pub fn socket(&self) -> PathBuf {
        self.join(".weft/weft.sock")
    }

    /// Starts `weft serve` here and waits for its readiness line.
    pub fn serve(&self) -> Proc {
        let mut p = Proc::spawn(&mut self.cmd(&["serve"]));
        let line = p.line();
        assert_eq!(line, format!("serving {}", self.path().display()));
        assert!(self.socket().exists(), "serve is ready but has no socket");
        p
    }

    /// Starts `weft watch --ready ARGS` here and waits for its readiness line.
    pub fn watch(&self, args: &[&str]) -> Proc {
        let mut cmd = self.cmd(&["watch", "--ready"]);
        cmd.args(args);
        let mut p = Proc::spawn(&mut cmd);
        assert_eq!(p.json_line(), serde_json::json!({"ready": true}));
        p
    }
}

impl Dir {
    /// Starts `weft serve --listen 127.0.0.1:0` here and waits for both of its readiness lines;
    /// returns the process and the `tcp://` URL it listens on.
    pub fn serve_tcp(&self) -> (Proc, String) {
        let mut p = Proc::spawn(&mut self.cmd(&["serve", "--listen", "127.0.0.1:0"]));
        let line = p.line();
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
            .to_string();
        // `tcp://127.0.0.1:PORT`, with the server's key before the host when it has one.
        assert!(
            url.starts_with("tcp://") && url.contains("127.0.0.1:"),
            "{url}"
        );
        assert_eq!(p.line(), format!("serving {}", self.path().display()));
        assert!(self.socket().exists(), "serve is ready but has no socket");
        (p, url)
    }

    /// A new directory holding a clone of `url` (`weft clone URL .`); returns it and the
    /// clone's `--json` report.
    pub fn clone_of(url: &str) -> (Dir, Json) {
        Dir::clone_with(url, &[])
    }

    /// As [`Dir::clone_of`], with environment variables for `weft clone`.
    pub fn clone_with(url: &str, env: &[(&str, &OsStr)]) -> (Dir, Json) {
        let dir = Dir::new();
        let mut cmd = dir.cmd(&["clone", url, ".", "--json"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let report = cmd.run().success().json();
        assert!(dir.join(".weft").is_dir(), "clone made no repo");
        (dir, report)
    }
}
