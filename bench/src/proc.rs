//! Running other programs: wall time and peak RSS of a child process tree, and long-running
//! servers that are stopped when dropped.
//!
//! Peak RSS is measured by a small helper: this same binary, re-executed as
//! `weft-bench __measure RESULT TIMEOUT PROG ARGS...`, spawns PROG, waits for it with `wait4` and
//! writes the child's `ru_maxrss` to RESULT. The helper is needed because on Linux a child's
//! `ru_maxrss` starts at the RSS of the process that spawned it (`exec` records the old address
//! space's high-water mark, and `posix_spawn`/`vfork` share the parent's): a bench process that
//! holds a 100,000-change repo or Automerge document in memory would report its own size as the
//! child's peak. The freshly started helper is a few MiB, so that floor is negligible.
//!
//! `wait4` reports the maximum, not the sum, over the child and every descendant it waited for
//! (e.g. `git clone`'s `upload-pack`, `pack-objects` and `index-pack`, or the `weft serve --stdio`
//! that `weft clone` starts through `WEFT_SSH`).

use std::{
    ffi::{OsStr, OsString},
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value as Json};

/// Seconds a measured command may run before it is killed (`--timeout`).
pub static TIMEOUT_SECS: AtomicU64 = AtomicU64::new(1800);

/// The result of one measured run.
#[derive(Debug)]
pub struct Measured {
    /// Spawn to exit, measured in the helper.
    pub secs: f64,
    /// Peak RSS in KiB of the child and its waited-for descendants (maximum, not sum).
    pub maxrss_kb: u64,
    pub success: bool,
    /// "exit status 2", "killed by signal 9", "timed out after 1800 s".
    pub status: String,
    pub stdout: String,
    pub stderr: String,
}

impl Measured {
    /// Fails with one line (the command, its status and the first line of its stderr) unless
    /// the command succeeded.
    pub fn check(&self, what: &str) -> Result<()> {
        if self.success {
            return Ok(());
        }
        bail!(
            "`{what}` failed ({}): {}",
            self.status,
            first_line(&self.stderr)
        )
    }
}

/// The first non-empty line of `s`, trimmed (or "(no output)").
pub fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no output on stderr)")
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Runs `prog args` through the measuring helper, with `cwd` and extra `envs`, and returns its
/// wall time, peak RSS and output. Scratch files go to `scratch`. Fails only if the helper
/// itself cannot run or `prog` cannot be started; a command that exits non-zero is reported
/// in the result.
pub fn run_measured(
    prog: &OsStr,
    args: &[OsString],
    cwd: Option<&Path>,
    envs: &[(&str, &OsStr)],
    scratch: &Path,
) -> Result<Measured> {
    let exe = std::env::current_exe().context("locating the weft-bench binary")?;
    let id = SEQ.fetch_add(1, Ordering::Relaxed);
    let base = scratch.join(format!(".measure-{}-{id}", std::process::id()));
    let (out_p, err_p, res_p) = (
        base.with_extension("out"),
        base.with_extension("err"),
        base.with_extension("res"),
    );
    let mut cmd = Command::new(exe);
    cmd.arg("__measure")
        .arg(&res_p)
        .arg(TIMEOUT_SECS.load(Ordering::Relaxed).to_string())
        .arg(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_p)?)
        .stderr(fs::File::create(&err_p)?);
    for k in ["WEFT_DIR", "WEFT_IDENTITY", "GIT_DIR", "GIT_WORK_TREE"] {
        cmd.env_remove(k);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let status = cmd.status().context("running the measuring helper")?;
    let read = |p: &PathBuf| {
        let s = fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let _ = fs::remove_file(p);
        s
    };
    let (stdout, stderr, res) = (read(&out_p), read(&err_p), read(&res_p));
    let res: Json = serde_json::from_str(&res).with_context(|| {
        format!(
            "the measuring helper failed ({status}): {}",
            first_line(&stderr)
        )
    })?;
    if let Some(e) = res["spawn_error"].as_str() {
        bail!("cannot run {}: {e}", prog.to_string_lossy());
    }
    Ok(Measured {
        secs: res["secs"].as_f64().unwrap_or(f64::NAN),
        maxrss_kb: res["maxrss_kb"].as_u64().unwrap_or(0),
        success: res["success"].as_bool().unwrap_or(false),
        status: res["status"].as_str().unwrap_or("?").to_string(),
        stdout,
        stderr,
    })
}

static CHILD: AtomicI32 = AtomicI32::new(0);
static TIMED_OUT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_alarm(_: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        TIMED_OUT.store(true, Ordering::SeqCst);
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// The helper: `weft-bench __measure RESULT TIMEOUT_SECS PROG ARGS...`.
pub fn measure_main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(2).collect();
    match measure(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weft-bench __measure: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn measure(args: &[OsString]) -> Result<()> {
    let [result, timeout, prog, rest @ ..] = args else {
        bail!("usage: weft-bench __measure RESULT TIMEOUT_SECS PROG [ARGS...]");
    };
    let timeout: u32 = timeout.to_string_lossy().parse().context("TIMEOUT_SECS")?;
    let start = Instant::now();
    let child = match Command::new(prog).args(rest).spawn() {
        Ok(c) => c,
        Err(e) => {
            fs::write(result, json!({ "spawn_error": e.to_string() }).to_string())?;
            return Ok(());
        }
    };
    let pid = child.id() as libc::pid_t;
    CHILD.store(pid, Ordering::SeqCst);
    // SAFETY: installs a handler that only calls kill; the struct is zeroed then filled.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
        libc::alarm(timeout);
    }
    let (status, ru) = wait_rusage(pid)?;
    let secs = start.elapsed().as_secs_f64();
    // SAFETY: cancels the pending alarm.
    unsafe {
        libc::alarm(0);
    }
    // The child was reaped by wait4 above; `Child` must not wait for it again.
    std::mem::forget(child);
    let (success, text) = if TIMED_OUT.load(Ordering::SeqCst) {
        (false, format!("timed out after {timeout} s"))
    } else if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        (code == 0, format!("exit status {code}"))
    } else if libc::WIFSIGNALED(status) {
        (
            false,
            format!("killed by signal {}", libc::WTERMSIG(status)),
        )
    } else {
        (false, format!("wait status {status:#x}"))
    };
    fs::write(
        result,
        json!({
            "secs": secs,
            "maxrss_kb": ru.ru_maxrss,
            "success": success,
            "status": text,
        })
        .to_string(),
    )?;
    Ok(())
}

/// A long-running child (a `weft serve`), stopped (SIGTERM, then SIGKILL after 3 s) when
/// dropped.
pub struct Server {
    child: Option<Child>,
    pub url: String,
    /// The file its stderr goes to (its log).
    pub stderr_path: PathBuf,
}

impl Server {
    /// Starts `prog args` and waits (up to 30 s) for its first stdout line, which must be
    /// `listening on URL`. The rest of its stdout is drained in the background; its stderr goes
    /// to a file under `scratch` and its first line is quoted if it fails to start.
    pub fn start(prog: &Path, args: &[OsString], scratch: &Path) -> Result<Server> {
        let id = SEQ.fetch_add(1, Ordering::Relaxed);
        let err_p = scratch.join(format!(".server-{}-{id}.err", std::process::id()));
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&err_p)?);
        for k in ["WEFT_DIR", "WEFT_IDENTITY"] {
            cmd.env_remove(k);
        }
        let what = format!(
            "weft {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", prog.display()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(r.read_line(&mut line).map(|_| line));
            // Keep reading so the server never blocks on, or dies from, a full or closed pipe.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        });
        let mut server = Server {
            child: Some(child),
            url: String::new(),
            stderr_path: err_p.clone(),
        };
        let line = rx.recv_timeout(Duration::from_secs(30));
        let stderr_line = |server: &mut Server| {
            server.stop();
            let s = fs::read_to_string(&err_p).unwrap_or_default();
            first_line(&s).to_string()
        };
        let line = match line {
            Ok(Ok(l)) if !l.is_empty() => l,
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server
                    .child
                    .as_mut()
                    .and_then(|c| c.wait().ok())
                    .map_or("?".into(), |s| s.to_string());
                let e = stderr_line(&mut server);
                bail!(
                    "`{what}` exited ({status}) before printing its address: {e}{}",
                    hint(&e)
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let e = stderr_line(&mut server);
                bail!("`{what}` printed nothing on stdout within 30 s (stderr: {e})");
            }
        };
        let line = line.trim();
        match line.strip_prefix("listening on ") {
            Some(url) if url.starts_with("tcp://") => {
                server.url = url.to_string();
                Ok(server)
            }
            _ => {
                server.stop();
                bail!("`{what}` printed {line:?}, expected `listening on tcp://HOST:PORT`")
            }
        }
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server (SIGTERM, then SIGKILL after 3 s) and returns how it exited, if it was
    /// still running: `Some(true)` for exit status 0.
    pub fn stop_status(&mut self) -> Option<bool> {
        let mut child = self.child.take()?;
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s.success());
        }
        // SAFETY: signals our own child, which has not been reaped yet.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = child.try_wait() {
                return Some(s.success());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        Some(false)
    }

    /// Stops the server (idempotent).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        // SAFETY: signals our own child, which has not been reaped yet.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A hint appended to an error from a `weft` that does not know a sync command yet.
pub fn hint(stderr_line: &str) -> &'static str {
    if stderr_line.contains("unrecognized subcommand")
        || stderr_line.contains("unexpected argument")
    {
        " (does this weft binary implement clone/pull/serve yet?)"
    } else {
        ""
    }
}

/// Reaps child `pid` (retrying on EINTR) and returns its wait status and resource usage.
pub fn wait_rusage(pid: libc::pid_t) -> Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; `pid` is an unreaped child of ours.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return Ok((status, ru));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            bail!("wait4: {err}");
        }
    }
}
