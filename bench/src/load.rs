//! `load`: one real `weft serve --listen` on loopback and many CLI clients, each a clone granted
//! the writer role, committing and syncing against it at once for a bounded time. Then every
//! client syncs and pulls once more, and all repos must hold the same heads and pass `fsck`.
//!
//! See README.md, section "load", for what each figure means.

use std::{
    ffi::{OsStr, OsString},
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Barrier,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value as Json};

use crate::{
    fmt_int, machine, max, median, min, print_machine,
    proc::{first_line, Server},
    sync::weft_bin,
};

/// What each client runs after its batch of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// `weft sync` (both ways in one session).
    Sync,
    /// `weft push`, then `weft pull` (two sessions).
    PushPull,
}

impl Mode {
    fn commands(self) -> &'static [&'static str] {
        match self {
            Mode::Sync => &["sync"],
            Mode::PushPull => &["push", "pull"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::PushPull => "push-pull",
        }
    }
}

/// The options of `weft-bench load`.
#[derive(Debug, Clone)]
pub struct LoadOpts {
    pub clients: usize,
    pub secs: f64,
    pub changes: usize,
    pub mode: Mode,
    pub runs: usize,
    pub tmp: Option<PathBuf>,
    pub keep_going: bool,
    /// Keep the directory (repos, the server's log) of a run with a failure or a problem.
    pub keep: bool,
}

/// How long the server gets to come back to its idle thread and descriptor counts.
const SETTLE: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------------------- commands ---

/// One finished `weft` command.
#[derive(Debug)]
struct Ran {
    /// Spawn to exit, in seconds.
    secs: f64,
    /// User + system CPU seconds of the process.
    cpu_secs: f64,
    ok: bool,
    status: String,
    stdout: String,
    stderr: String,
}

/// A `weft` invocation: the binary, the directory it runs in, the key it signs with.
#[derive(Debug, Clone)]
struct Weft {
    bin: PathBuf,
    /// The bench's scratch directory: commands run there and are described relative to it.
    base: PathBuf,
}

impl Weft {
    /// Runs `weft ARGS` in the scratch directory, signing with `identity` if given, with
    /// `stdin` as its input.
    fn run(&self, identity: Option<&Path>, args: &[&OsStr], stdin: Option<&[u8]>) -> Result<Ran> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .current_dir(&self.base)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in [
            "WEFT_DIR",
            "WEFT_IDENTITY",
            "WEFT_LOG",
            "WEFT_TIMEOUT",
            "WEFT_SSH",
        ] {
            cmd.env_remove(k);
        }
        if let Some(key) = identity {
            cmd.env("WEFT_IDENTITY", key);
        }
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().context("no stdin pipe")?;
            // A command that dies early closes the pipe; its status says why.
            let _ = pipe.write_all(input);
        }
        let mut err_pipe = child.stderr.take().context("no stderr pipe")?;
        let err_reader = thread::spawn(move || {
            let mut b = Vec::new();
            let _ = err_pipe.read_to_end(&mut b);
            b
        });
        let mut stdout = Vec::new();
        if let Some(mut out_pipe) = child.stdout.take() {
            let _ = out_pipe.read_to_end(&mut stdout);
        }
        let stderr = err_reader.join().unwrap_or_default();
        // wait4 rather than Child::wait, for the child's CPU time. `child` is reaped here and
        // only dropped afterwards (dropping a Child neither waits nor kills).
        let pid = child.id() as libc::pid_t;
        let (status, ru) = crate::proc::wait_rusage(pid)?;
        let secs = start.elapsed().as_secs_f64();
        drop(child);
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let (ok, status) = if libc::WIFEXITED(status) {
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
        Ok(Ran {
            secs,
            cpu_secs: tv(ru.ru_utime) + tv(ru.ru_stime),
            ok,
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// `weft -C DIR ARGS` (DIR relative to the scratch directory), which must succeed.
    fn ok(&self, dir: &str, identity: Option<&Path>, args: &[&str]) -> Result<Ran> {
        let mut all: Vec<&OsStr> = vec![OsStr::new("-C"), OsStr::new(dir)];
        all.extend(args.iter().map(OsStr::new));
        let r = self.run(identity, &all, None)?;
        ensure!(r.ok, "{}", failure(&describe(dir, args), &r));
        Ok(r)
    }
}

fn describe(dir: &str, args: &[&str]) -> String {
    format!("weft -C {dir} {}", args.join(" "))
}

/// One line: the command, how it exited, after how long, and the first line of its stderr.
fn failure(what: &str, r: &Ran) -> String {
    format!(
        "`{what}` failed ({}, after {:.2} s): {}",
        r.status,
        r.secs,
        first_line(&r.stderr)
    )
}

// ----------------------------------------------------------------------------- the server ---

/// What /proc says about a process.
#[derive(Debug, Clone, Copy, Default)]
struct ProcStat {
    threads: u64,
    fds: u64,
    rss_kb: u64,
    hwm_kb: u64,
}

fn proc_stat(pid: u32) -> Result<ProcStat> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (did the server exit?)"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fds = fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?
        .count() as u64;
    Ok(ProcStat {
        threads: field("Threads:"),
        fds,
        rss_kb: field("VmRSS:"),
        hwm_kb: field("VmHWM:"),
    })
}

/// The names of a process's threads (`/proc/PID/task/*/comm`), sorted.
fn thread_names(pid: u32) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect();
    names.sort();
    names
}

/// The threads of `pid` beyond those named in `idle` (a multiset difference), for a report.
fn extra_threads(pid: u32, idle: &[String]) -> String {
    let mut rest = idle.to_vec();
    let mut extra = Vec::new();
    for n in thread_names(pid) {
        match rest.iter().position(|r| *r == n) {
            Some(i) => {
                rest.remove(i);
            }
            None => extra.push(n),
        }
    }
    if extra.is_empty() {
        "none".into()
    } else {
        extra.join(", ")
    }
}

/// User + system CPU seconds of a process so far.
fn proc_cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // The fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// (busy, total) jiffies of the whole machine, from /proc/stat.
fn machine_jiffies() -> (f64, f64) {
    let s = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = s.lines().find(|l| l.starts_with("cpu ")) else {
        return (f64::NAN, f64::NAN);
    };
    let v: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

/// Whether a thread is one of sled's I/O pool. That pool starts 7 threads and adds one when
/// all are busy; an added thread that has run fewer than 5 jobs never exits (sled 0.34,
/// `threadpool.rs`), so after a load the server may keep one or two of them for good. They are
/// counted, named and reported, but not as a leak: they do not grow with connections.
fn is_sled_io(name: &str) -> bool {
    name.starts_with("sled-io")
}

/// Threads of `pid` that are not sled's I/O pool.
fn own_threads(pid: u32) -> u64 {
    thread_names(pid).iter().filter(|n| !is_sled_io(n)).count() as u64
}

/// Polls the server until it runs at most `threads` threads besides sled's I/O pool and holds
/// at most `fds` descriptors, for up to [`SETTLE`]. Returns the last reading and how long it
/// took (`None`: it did not get there).
fn settle(pid: u32, threads: u64, fds: u64) -> Result<(ProcStat, Option<f64>)> {
    let start = Instant::now();
    loop {
        let s = proc_stat(pid)?;
        if own_threads(pid) <= threads && s.fds <= fds {
            return Ok((s, Some(start.elapsed().as_secs_f64())));
        }
        if start.elapsed() > SETTLE {
            return Ok((s, None));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Polls until the thread and descriptor counts have not changed for one second (at most
/// [`SETTLE`]): the server's idle state after the setup.
fn steady(pid: u32) -> Result<ProcStat> {
    let start = Instant::now();
    let mut last = proc_stat(pid)?;
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_secs(1) && start.elapsed() < SETTLE {
        thread::sleep(Duration::from_millis(20));
        let s = proc_stat(pid)?;
        if (s.threads, s.fds) != (last.threads, last.fds) {
            since = Instant::now();
        }
        last = s;
    }
    Ok(last)
}

/// The 1, 5 and 15 minute load averages.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Changes in the server's document: the lines of `weft log --json` (run inside the server).
fn server_changes(w: &Weft) -> Result<u64> {
    let r = w.ok("server", None, &["log", "--json"])?;
    Ok(r.stdout.lines().filter(|l| !l.trim().is_empty()).count() as u64)
}

// ---------------------------------------------------------------------------- the clients ---

#[derive(Debug, Clone)]
struct Client {
    /// `client-07`, relative to the scratch directory.
    dir: String,
    key: PathBuf,
}

/// The write commands of one batch: `changes` lines, each its own change, each sure to change
/// something (a new value, a counter step, a new set member).
fn batch_lines(client: usize, seq: u64, changes: usize) -> String {
    let mut s = String::new();
    for j in 0..changes {
        let line = match j % 4 {
            0 => format!("set c{client}/k{} {seq}", seq % 16),
            1 => "incr shared/count".to_string(),
            2 => format!("set shared/last c{client}-{seq}"),
            _ => format!("sadd shared/tags c{client}-{seq}-{j}"),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s
}

#[derive(Debug, Default)]
struct WorkerOut {
    iterations: u64,
    changes: u64,
    sessions: u64,
    /// Seconds of each sync command, by command (`sync`, or `push` and `pull`).
    sync_secs: Vec<(&'static str, f64)>,
    batch_secs: Vec<f64>,
    /// CPU seconds of each batch and each sync command.
    batch_cpu: Vec<f64>,
    sync_cpu: Vec<f64>,
    changes_out: u64,
    changes_in: u64,
    bytes_in: u64,
    bytes_out: u64,
    redundant_in: u64,
    redundant_out: u64,
    failures: Vec<String>,
    /// Lines a successful command wrote to stderr.
    warnings: Vec<String>,
    /// When this worker's last command ended.
    end: Option<Instant>,
}

fn add_stats(out: &mut WorkerOut, stdout: &str) {
    let Some(s) = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Json>(l.trim()).ok())
    else {
        out.warnings
            .push(format!("no JSON stats line: {}", first_line(stdout)));
        return;
    };
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    out.changes_out += n("changes_out");
    out.changes_in += n("changes_in");
    out.bytes_in += n("bytes_in");
    out.bytes_out += n("bytes_out");
    out.redundant_in += n("redundant_in");
    out.redundant_out += n("redundant_out");
}

fn worker(
    w: &Weft,
    idx: usize,
    c: &Client,
    opts: &LoadOpts,
    barrier: &Barrier,
    abort: &AtomicBool,
) -> WorkerOut {
    let mut out = WorkerOut::default();
    barrier.wait();
    let deadline = Instant::now() + Duration::from_secs_f64(opts.secs);
    let c_flag = OsStr::new("-C");
    let dir = OsStr::new(&c.dir);
    let mut seq = 0u64;
    let fail = |out: &mut WorkerOut, what: String, r: &Ran| {
        out.failures
            .push(format!("client {idx}: {}", failure(&what, r)));
        if !opts.keep_going {
            abort.store(true, Ordering::SeqCst);
        }
    };
    'outer: while Instant::now() < deadline && !abort.load(Ordering::SeqCst) {
        seq += 1;
        let lines = batch_lines(idx, seq, opts.changes);
        let args = [c_flag, dir, OsStr::new("batch")];
        let r = match w.run(Some(&c.key), &args, Some(lines.as_bytes())) {
            Ok(r) => r,
            Err(e) => {
                out.failures.push(format!("client {idx}: {e:#}"));
                abort.store(true, Ordering::SeqCst);
                break;
            }
        };
        out.batch_secs.push(r.secs);
        out.batch_cpu.push(r.cpu_secs);
        if !r.ok {
            fail(&mut out, describe(&c.dir, &["batch"]), &r);
            if opts.keep_going {
                continue;
            }
            break;
        }
        let cids = r.stdout.lines().filter(|l| l.starts_with("bafy")).count() as u64;
        out.changes += cids;
        if cids != opts.changes as u64 {
            out.failures.push(format!(
                "client {idx}: `{}` committed {cids} of {} lines: {}",
                describe(&c.dir, &["batch"]),
                opts.changes,
                first_line(&r.stdout)
            ));
        }
        if !r.stderr.trim().is_empty() {
            out.warnings
                .push(format!("client {idx}: batch: {}", first_line(&r.stderr)));
        }
        for cmd in opts.mode.commands() {
            let args = [c_flag, dir, OsStr::new(cmd), OsStr::new("--json")];
            let r = match w.run(Some(&c.key), &args, None) {
                Ok(r) => r,
                Err(e) => {
                    out.failures.push(format!("client {idx}: {e:#}"));
                    abort.store(true, Ordering::SeqCst);
                    break 'outer;
                }
            };
            out.sessions += 1;
            out.sync_secs.push((cmd, r.secs));
            out.sync_cpu.push(r.cpu_secs);
            if !r.ok {
                fail(&mut out, describe(&c.dir, &[cmd, "--json"]), &r);
                if opts.keep_going {
                    continue 'outer;
                }
                break 'outer;
            }
            add_stats(&mut out, &r.stdout);
            if !r.stderr.trim().is_empty() {
                out.warnings
                    .push(format!("client {idx}: {cmd}: {}", first_line(&r.stderr)));
            }
        }
        out.iterations += 1;
    }
    out.end = Some(Instant::now());
    out
}

/// Runs `f` on every client, `parallel` at a time; the results in client order.
fn each_client<T: Send>(
    clients: &[Client],
    parallel: usize,
    f: impl Fn(usize, &Client) -> T + Sync,
) -> Vec<T> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<T>>> = clients
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    thread::scope(|s| {
        for _ in 0..parallel.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(c) = clients.get(i) else { break };
                let r = f(i, c);
                *weft_store::sync_util::lock(&results[i]) = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every client ran")
        })
        .collect()
}

// ------------------------------------------------------------------------------- one run ---

/// Nearest-rank percentile of `xs` (`p` in 0..=1).
fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn latency(xs: &[f64]) -> Json {
    json!({
        "n": xs.len(),
        "p50_ms": percentile(xs, 0.5) * 1e3,
        "p99_ms": percentile(xs, 0.99) * 1e3,
        "max_ms": max(xs) * 1e3,
    })
}

fn load_run(w: &Weft, opts: &LoadOpts, run: usize) -> Result<Json> {
    let d = &w.base;
    let mut problems: Vec<String> = Vec::new();
    let setup_start = Instant::now();

    // The server's repo, with one document (`main`) holding a first change.
    w.run(None, &[OsStr::new("init"), OsStr::new("server")], None)
        .and_then(|r| {
            ensure!(r.ok, "{}", failure("weft init server", &r));
            Ok(())
        })?;
    w.ok("server", None, &["set", "seed", "1"])?;
    // Server::start sets no working directory: the repo is given by its absolute path.
    let serve: Vec<OsString> = vec![
        OsString::from("-C"),
        d.join("server").into_os_string(),
        OsString::from("serve"),
        OsString::from("--listen"),
        OsString::from("127.0.0.1:0"),
    ];
    let mut server = Server::start(&w.bin, &serve, d)?;
    let pid = server.pid().context("the server is not running")?;
    let url = server.url.clone();
    // Wait for the daemon socket: the server then runs every thread it runs when idle.
    let sock = d.join("server/.weft/weft.sock");
    let t = Instant::now();
    while !sock.exists() && t.elapsed() < SETTLE {
        thread::sleep(Duration::from_millis(10));
    }
    let fresh = steady(pid)?;

    // The clients: a key each, granted the writer role (inside the server), then a clone.
    let mut clients = Vec::new();
    for i in 0..opts.clients {
        let key_dir = format!("keys/client-{i:02}");
        let r = w.run(None, &[OsStr::new("init"), OsStr::new(&key_dir)], None)?;
        ensure!(r.ok, "{}", failure(&format!("weft init {key_dir}"), &r));
        let key = w.ok(&key_dir, None, &["id"])?.stdout.trim().to_string();
        w.ok("server", None, &["grant", &key, "--role", "writer"])?;
        clients.push(Client {
            dir: format!("client-{i:02}"),
            key: d.join(&key_dir).join(".weft/key"),
        });
    }
    let cloned = each_client(&clients, 4, |_, c| -> Result<()> {
        let args: Vec<&OsStr> = vec![
            OsStr::new("clone"),
            OsStr::new(&url),
            OsStr::new(&c.dir),
            OsStr::new("--json"),
        ];
        let r = w.run(Some(&c.key), &args, None)?;
        ensure!(
            r.ok,
            "{}",
            failure(&format!("weft clone URL {} --json", c.dir), &r)
        );
        Ok(())
    });
    for r in cloned {
        r?;
    }
    let setup_secs = setup_start.elapsed().as_secs_f64();

    // Alone on the server: what one no-op sync and one local read cost.
    let mut alone_sync = Vec::new();
    let mut alone_heads = Vec::new();
    let c0 = &clients[0];
    for _ in 0..5 {
        alone_sync.push(w.ok(&c0.dir, Some(&c0.key), &["sync", "--json"])?.secs);
        alone_heads.push(w.ok(&c0.dir, Some(&c0.key), &["heads"])?.secs);
    }

    let before = server_changes(w)?;
    let idle = steady(pid)?;
    let idle_names = thread_names(pid);
    let idle_own = own_threads(pid);
    let loadavg_before = loadavg();

    // The load.
    eprintln!(
        "load run {}/{}: {} clients for {} s ...",
        run + 1,
        opts.runs,
        opts.clients,
        opts.secs
    );
    let abort = AtomicBool::new(false);
    let barrier = Barrier::new(opts.clients + 1);
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = Arc::clone(&sampling);
        thread::spawn(move || {
            let (mut threads, mut fds) = (0u64, 0u64);
            while sampling.load(Ordering::SeqCst) {
                if let Ok(s) = proc_stat(pid) {
                    threads = threads.max(s.threads);
                    fds = fds.max(s.fds);
                }
                thread::sleep(Duration::from_millis(50));
            }
            (threads, fds)
        })
    };
    let (outs, start, cpu0, jiffies0) = thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (abort, barrier) = (&abort, &barrier);
                s.spawn(move || worker(w, i, c, opts, barrier, abort))
            })
            .collect();
        let cpu0 = proc_cpu_secs(pid);
        let jiffies0 = machine_jiffies();
        barrier.wait();
        let start = Instant::now();
        let outs: Vec<WorkerOut> = handles
            .into_iter()
            .map(|h| h.join().expect("a worker panicked"))
            .collect();
        (outs, start, cpu0, jiffies0)
    });
    let end = outs.iter().filter_map(|o| o.end).max().unwrap_or(start);
    let loaded_secs = end.duration_since(start).as_secs_f64();
    let cpu1 = proc_cpu_secs(pid);
    let jiffies1 = machine_jiffies();
    sampling.store(false, Ordering::SeqCst);
    let (peak_threads, peak_fds) = sampler.join().expect("the sampler panicked");
    let after_load = proc_stat(pid)?;

    let failures: Vec<String> = outs.iter().flat_map(|o| o.failures.clone()).collect();
    let warnings: Vec<String> = outs.iter().flat_map(|o| o.warnings.clone()).collect();
    for l in failures.iter().take(5) {
        eprintln!("  FAILURE: {l}");
    }
    if failures.len() > 5 {
        eprintln!("  ... and {} more failures", failures.len() - 5);
    }

    // Back to idle, before any other command reaches the server.
    let (settled, settle_secs) = settle(pid, idle_own, idle.fds)?;
    if settle_secs.is_none() {
        problems.push(format!(
            "the server did not come back to its idle {} threads / {} descriptors within {} s \
             after the load: {} threads (more than idle: {}), {} descriptors",
            idle.threads,
            idle.fds,
            SETTLE.as_secs(),
            settled.threads,
            extra_threads(pid, &idle_names),
            settled.fds
        ));
    }

    let after = server_changes(w)?;
    let written: u64 = outs.iter().map(|o| o.changes).sum();
    let reached = after - before;
    if reached != written {
        problems.push(format!(
            "{written} changes were written under load but {reached} reached the server"
        ));
    }

    // The final sync, then the final pull: afterwards everyone holds everything.
    let mut final_failures = Vec::new();
    for cmd in ["sync", "pull"] {
        let rs = each_client(&clients, opts.clients, |_, c| {
            w.ok(&c.dir, Some(&c.key), &[cmd, "--json"])
        });
        for r in rs {
            if let Err(e) = r {
                final_failures.push(format!("{e:#}"));
            }
        }
    }
    if !final_failures.is_empty() {
        problems.push(format!(
            "{} final sync/pull command(s) failed (first: {})",
            final_failures.len(),
            final_failures[0]
        ));
    }
    let final_changes = server_changes(w)?;
    if final_changes != after {
        problems.push(format!(
            "the final syncs brought the server from {after} to {final_changes} changes"
        ));
    }

    // Everyone holds the same heads and the same state, and passes fsck.
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let view = |dir: &str, key: Option<&Path>| -> Result<(String, String, bool, String)> {
        let heads = w.ok(dir, key, &["heads"])?.stdout;
        let ls = w.ok(dir, key, &["ls", "--json"])?.stdout;
        let fsck = w.run(
            key,
            &[
                OsStr::new("-C"),
                OsStr::new(dir),
                OsStr::new("fsck"),
                OsStr::new("--json"),
            ],
            None,
        )?;
        let ok = fsck.ok
            && serde_json::from_str::<Json>(fsck.stdout.trim())
                .ok()
                .and_then(|v| v["ok"].as_bool())
                == Some(true);
        let detail = if ok {
            String::new()
        } else {
            format!("{} {}", first_line(&fsck.stdout), first_line(&fsck.stderr))
        };
        Ok((heads, ls, ok, detail))
    };
    let (s_heads, s_ls, s_ok, s_detail) = view("server", None)?;
    if !s_ok {
        problems.push(format!("fsck of the server failed: {s_detail}"));
    }
    let views = each_client(&clients, parallel, |_, c| view(&c.dir, Some(&c.key)));
    let (mut same_heads, mut same_state, mut fsck_ok) = (0usize, 0usize, usize::from(s_ok));
    for (c, v) in clients.iter().zip(views) {
        let (heads, ls, ok, detail) = v?;
        if heads == s_heads {
            same_heads += 1;
        } else {
            problems.push(format!(
                "{} holds other heads than the server: {} vs {}",
                c.dir,
                heads.split_whitespace().collect::<Vec<_>>().join(","),
                s_heads.split_whitespace().collect::<Vec<_>>().join(",")
            ));
        }
        if ls == s_ls {
            same_state += 1;
        } else {
            problems.push(format!("{}'s `ls --json` differs from the server's", c.dir));
        }
        if ok {
            fsck_ok += 1;
        } else {
            problems.push(format!("fsck of {} failed: {detail}", c.dir));
        }
    }

    // After everything, idle again; the peak RSS so far; then a clean stop. The daemon keeps
    // its handle on a finished connection's socket until it accepts the next one, so the
    // descriptors are counted once every connection thread has ended (threads back to idle)
    // and one more command has come and gone, as before the idle reading.
    settle(pid, idle_own, u64::MAX)?;
    let last = server_changes(w)?;
    if last != final_changes {
        problems.push(format!(
            "the server's change count moved from {final_changes} to {last} while nobody wrote"
        ));
    }
    let (end_stat, end_settle) = settle(pid, idle_own, idle.fds)?;
    let extra_at_end = extra_threads(pid, &idle_names);
    if end_settle.is_none() {
        problems.push(format!(
            "after the final checks the server holds {} threads (more than idle: {}) / {} \
             descriptors (idle: {} / {})",
            end_stat.threads, extra_at_end, end_stat.fds, idle.threads, idle.fds
        ));
    }
    let mut notes = Vec::new();
    if end_settle.is_some() && extra_at_end != "none" {
        notes.push(format!(
            "the server ended with {} threads, {} idle: sled's I/O pool kept {extra_at_end} \
             (a sled 0.34 pool thread that ran fewer than 5 jobs never exits)",
            end_stat.threads, idle.threads
        ));
    }
    let clean_exit = server.stop_status();
    if clean_exit != Some(true) {
        problems.push("`weft serve` did not exit with status 0 on SIGTERM".into());
    }
    let log = fs::read_to_string(&server.stderr_path).unwrap_or_default();
    let log_lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();

    let sync_all: Vec<f64> = outs
        .iter()
        .flat_map(|o| o.sync_secs.iter().map(|(_, s)| *s))
        .collect();
    let by_cmd = |name: &str| -> Vec<f64> {
        outs.iter()
            .flat_map(|o| {
                o.sync_secs
                    .iter()
                    .filter(|(c, _)| *c == name)
                    .map(|(_, s)| *s)
            })
            .collect()
    };
    let batch: Vec<f64> = outs.iter().flat_map(|o| o.batch_secs.clone()).collect();
    let batch_cpu: Vec<f64> = outs.iter().flat_map(|o| o.batch_cpu.clone()).collect();
    let sync_cpu: Vec<f64> = outs.iter().flat_map(|o| o.sync_cpu.clone()).collect();
    let clients_cpu: f64 = batch_cpu.iter().sum::<f64>() + sync_cpu.iter().sum::<f64>();
    let sum = |f: fn(&WorkerOut) -> u64| outs.iter().map(f).sum::<u64>();
    let sessions = sum(|o| o.sessions);
    let iterations = sum(|o| o.iterations);
    let per_client: Vec<u64> = outs.iter().map(|o| o.changes).collect();
    let busy = (jiffies1.0 - jiffies0.0) / (jiffies1.1 - jiffies0.1);
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    // Cores busy with anything else than the server and the clients (the bench's own threads
    // included, which mostly wait).
    let other_cores = busy * ncpu - (cpu1 - cpu0) / loaded_secs - clients_cpu / loaded_secs;
    let mut commands = json!({});
    for cmd in opts.mode.commands() {
        commands[*cmd] = latency(&by_cmd(cmd));
    }
    Ok(json!({
        "run": run + 1,
        "setup_secs": setup_secs,
        "loadavg_before": loadavg_before,
        "loaded_secs": loaded_secs,
        "iterations": iterations,
        "changes_written": written,
        "changes_per_client": {"min": per_client.iter().min(), "max": per_client.iter().max()},
        "server_changes": {"before": before, "after_load": after, "final": final_changes},
        "changes_reached_server": reached,
        "server_changes_per_sec": reached as f64 / loaded_secs,
        "sessions": sessions,
        "sessions_per_sec": sessions as f64 / loaded_secs,
        "processes_per_sec": (sessions + iterations) as f64 / loaded_secs,
        "sync_latency": latency(&sync_all),
        "sync_latency_by_command": commands,
        "batch_latency": latency(&batch),
        "client_cpu": {
            "cores_loaded": clients_cpu / loaded_secs,
            "batch_p50_ms": percentile(&batch_cpu, 0.5) * 1e3,
            "sync_p50_ms": percentile(&sync_cpu, 0.5) * 1e3,
            "batch_mean_ms": batch_cpu.iter().sum::<f64>() / batch_cpu.len().max(1) as f64 * 1e3,
            "sync_mean_ms": sync_cpu.iter().sum::<f64>() / sync_cpu.len().max(1) as f64 * 1e3,
        },
        "alone": {
            "sync_p50_ms": median(&alone_sync) * 1e3,
            "heads_p50_ms": median(&alone_heads) * 1e3,
        },
        "wire": {
            "changes_out": sum(|o| o.changes_out),
            "changes_in": sum(|o| o.changes_in),
            "bytes_out": sum(|o| o.bytes_out),
            "bytes_in": sum(|o| o.bytes_in),
            "redundant_out": sum(|o| o.redundant_out),
            "redundant_in": sum(|o| o.redundant_in),
        },
        "server": {
            "peak_rss_kb": end_stat.hwm_kb,
            "rss_idle_kb": idle.rss_kb,
            "rss_after_load_kb": after_load.rss_kb,
            "cpu_secs_loaded": cpu1 - cpu0,
            "cpu_cores_loaded": (cpu1 - cpu0) / loaded_secs,
            "threads": {
                "fresh": fresh.threads,
                "idle": idle.threads,
                "peak": peak_threads,
                "after_load": after_load.threads,
                "settled": settled.threads,
                "settle_secs": settle_secs,
                "end": end_stat.threads,
                "idle_names": idle_names,
                "extra_at_end": extra_at_end,
            },
            "fds": {
                "fresh": fresh.fds,
                "idle": idle.fds,
                "peak": peak_fds,
                "after_load": after_load.fds,
                "settled": settled.fds,
                "end": end_stat.fds,
            },
            "clean_exit": clean_exit,
            "log_lines": log_lines.len(),
            "log_first": log_lines.iter().take(5).collect::<Vec<_>>(),
        },
        "machine_busy": busy,
        "other_cores": other_cores,
        "final": {
            "repos": clients.len() + 1,
            "same_heads_as_server": same_heads,
            "same_state_as_server": same_state,
            "fsck_ok": fsck_ok,
            "heads": s_heads.split_whitespace().count(),
        },
        "failures": failures,
        "warnings": warnings,
        "problems": problems,
        "notes": notes,
    }))
}

// ------------------------------------------------------------------------------ the bench ---

pub fn load_bench(weft: &Path, opts: &LoadOpts) -> Result<Json> {
    ensure!(
        opts.clients > 0 && opts.secs > 0.0 && opts.changes > 0 && opts.runs > 0,
        "--clients, --secs, --changes and --runs must be positive"
    );
    let bin = weft_bin(weft)?;
    let mut runs = Vec::new();
    let mut machine_info = Json::Null;
    for r in 0..opts.runs {
        let dir = match &opts.tmp {
            Some(t) => tempfile::Builder::new()
                .prefix("weft-bench-load")
                .tempdir_in(t)?,
            None => tempfile::Builder::new()
                .prefix("weft-bench-load")
                .tempdir()?,
        };
        let w = Weft {
            bin: bin.clone(),
            base: fs::canonicalize(dir.path())?,
        };
        if r == 0 {
            machine_info = machine(&w.base);
        }
        let run = load_run(&w, opts, r)?;
        if opts.keep && !run_ok(&run) {
            let kept = dir.keep();
            eprintln!("  run {}: kept its directory {}", r + 1, kept.display());
        }
        eprintln!(
            "  {} changes written, {:.0} changes/s reached the server, {:.1} sessions/s, sync p50 {:.0} ms p99 {:.0} ms, server peak RSS {}, threads idle {} peak {} end {}{}",
            run["changes_written"],
            f(&run["server_changes_per_sec"]),
            f(&run["sessions_per_sec"]),
            f(&run["sync_latency"]["p50_ms"]),
            f(&run["sync_latency"]["p99_ms"]),
            fmt_kib(f(&run["server"]["peak_rss_kb"])),
            run["server"]["threads"]["idle"],
            run["server"]["threads"]["peak"],
            run["server"]["threads"]["end"],
            match (
                run["failures"].as_array().map_or(0, Vec::len),
                run["problems"].as_array().map_or(0, Vec::len)
            ) {
                (0, 0) => String::new(),
                (f, p) => format!("; {f} FAILED COMMAND(S), {p} PROBLEM(S)"),
            }
        );
        runs.push(run);
    }
    // The summary is over the clean runs: no failed command, no failed check.
    let clean: Vec<&Json> = runs.iter().filter(|r| run_ok(r)).collect();
    let col = |path: &[&str]| -> Json {
        let xs: Vec<f64> = clean
            .iter()
            .map(|r| f(path.iter().fold(*r, |v, k| &v[*k])))
            .collect();
        json!({ "median": median(&xs), "min": min(&xs), "max": max(&xs), "samples": xs })
    };
    let summary = json!({
        "changes_written": col(&["changes_written"]),
        "server_changes_per_sec": col(&["server_changes_per_sec"]),
        "sessions_per_sec": col(&["sessions_per_sec"]),
        "sync_p50_ms": col(&["sync_latency", "p50_ms"]),
        "sync_p99_ms": col(&["sync_latency", "p99_ms"]),
        "batch_p50_ms": col(&["batch_latency", "p50_ms"]),
        "server_peak_rss_kb": col(&["server", "peak_rss_kb"]),
        "server_cpu_cores": col(&["server", "cpu_cores_loaded"]),
        "client_cpu_cores": col(&["client_cpu", "cores_loaded"]),
        "batch_cpu_mean_ms": col(&["client_cpu", "batch_mean_ms"]),
        "sync_cpu_mean_ms": col(&["client_cpu", "sync_mean_ms"]),
        "machine_busy": col(&["machine_busy"]),
        "other_cores": col(&["other_cores"]),
    });
    Ok(json!({
        "bench": "load",
        "clients": opts.clients,
        "secs": opts.secs,
        "changes_per_batch": opts.changes,
        "mode": opts.mode.name(),
        "runs": opts.runs,
        "weft_binary": bin.to_string_lossy(),
        "machine": machine_info,
        "clean_runs": clean.len(),
        "summary": summary,
        "all_runs": runs,
    }))
}

fn f(v: &Json) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn fmt_kib(kb: f64) -> String {
    format!("{:.1} MiB", kb / 1024.0)
}

fn spread(v: &Json, scale: f64, digits: usize) -> String {
    format!(
        "{:.*} ({:.*} .. {:.*})",
        digits,
        f(&v["median"]) * scale,
        digits,
        f(&v["min"]) * scale,
        digits,
        f(&v["max"]) * scale
    )
}

pub fn print_load(r: &Json) {
    print_machine(&r["machine"]);
    println!();
    let mode = r["mode"].as_str().unwrap_or("?");
    println!(
        "load: {} clients, {} s each run, {} changes per `weft batch`, then {}; {} run(s)",
        r["clients"],
        r["secs"],
        r["changes_per_batch"],
        if mode == "sync" {
            "`weft sync`"
        } else {
            "`weft push` + `weft pull`"
        },
        r["runs"]
    );
    println!();
    println!(
        "  run  load avg        loaded s  changes  changes/s  sessions/s  sync p50   sync p99   batch p50  server RSS peak  server CPU  machine busy  threads idle/peak/end  fds idle/peak/end  final"
    );
    for run in r["all_runs"].as_array().into_iter().flatten() {
        let s = &run["server"];
        let fin = &run["final"];
        println!(
            "  {:<4} {:<15} {:>8.1} {:>8} {:>10.0} {:>11.1} {:>7.0} ms {:>7.0} ms {:>8.0} ms  {:>15}  {:>8.2} c  {:>11.0} %  {:>13}  {:>17}  {}/{} same heads, {}/{} fsck ok",
            run["run"].as_u64().unwrap_or(0),
            run["loadavg_before"].as_str().unwrap_or("?"),
            f(&run["loaded_secs"]),
            fmt_int(f(&run["changes_written"])),
            f(&run["server_changes_per_sec"]),
            f(&run["sessions_per_sec"]),
            f(&run["sync_latency"]["p50_ms"]),
            f(&run["sync_latency"]["p99_ms"]),
            f(&run["batch_latency"]["p50_ms"]),
            fmt_kib(f(&s["peak_rss_kb"])),
            f(&s["cpu_cores_loaded"]),
            f(&run["machine_busy"]) * 100.0,
            format!(
                "{}/{}/{}",
                s["threads"]["idle"], s["threads"]["peak"], s["threads"]["end"]
            ),
            format!("{}/{}/{}", s["fds"]["idle"], s["fds"]["peak"], s["fds"]["end"]),
            fin["same_heads_as_server"].as_u64().map_or(0, |n| n + 1),
            fin["repos"],
            fin["fsck_ok"],
            fin["repos"],
        );
    }
    let s = &r["summary"];
    println!();
    println!(
        "  medians (min .. max) over the {} run(s) without a failure or a problem:",
        r["clean_runs"]
    );
    println!(
        "    changes written            {}",
        spread(&s["changes_written"], 1.0, 0)
    );
    println!(
        "    changes/s at the server    {}",
        spread(&s["server_changes_per_sec"], 1.0, 0)
    );
    println!(
        "    sync sessions/s            {}",
        spread(&s["sessions_per_sec"], 1.0, 1)
    );
    println!(
        "    one sync command, p50      {} ms",
        spread(&s["sync_p50_ms"], 1.0, 0)
    );
    println!(
        "    one sync command, p99      {} ms",
        spread(&s["sync_p99_ms"], 1.0, 0)
    );
    println!(
        "    one batch command, p50     {} ms",
        spread(&s["batch_p50_ms"], 1.0, 0)
    );
    println!(
        "    server peak RSS (VmHWM)    {} MiB",
        spread(&s["server_peak_rss_kb"], 1.0 / 1024.0, 1)
    );
    println!(
        "    server CPU (cores)         {}",
        spread(&s["server_cpu_cores"], 1.0, 2)
    );
    println!(
        "    client CPU (cores)         {}",
        spread(&s["client_cpu_cores"], 1.0, 2)
    );
    println!(
        "    CPU of one batch (mean)    {} ms",
        spread(&s["batch_cpu_mean_ms"], 1.0, 1)
    );
    println!(
        "    CPU of one sync (mean)     {} ms",
        spread(&s["sync_cpu_mean_ms"], 1.0, 1)
    );
    println!(
        "    machine busy               {} %",
        spread(&s["machine_busy"], 100.0, 0)
    );
    println!(
        "    other processes (cores)    {}",
        spread(&s["other_cores"], 1.0, 2)
    );
    for run in r["all_runs"].as_array().into_iter().flatten() {
        let a = &run["alone"];
        println!(
            "  run {}: alone, one no-op `weft sync` {:.0} ms and one `weft heads` {:.0} ms (p50 of 5); setup {:.1} s; wire: {} changes pushed, {} fetched, {} bytes out, {} in, redundant {} out {} in; server log: {} line(s)",
            run["run"],
            f(&a["sync_p50_ms"]),
            f(&a["heads_p50_ms"]),
            f(&run["setup_secs"]),
            fmt_int(f(&run["wire"]["changes_out"])),
            fmt_int(f(&run["wire"]["changes_in"])),
            fmt_int(f(&run["wire"]["bytes_out"])),
            fmt_int(f(&run["wire"]["bytes_in"])),
            run["wire"]["redundant_out"],
            run["wire"]["redundant_in"],
            run["server"]["log_lines"],
        );
        for l in run["server"]["log_first"].as_array().into_iter().flatten() {
            println!("    server log: {}", l.as_str().unwrap_or(""));
        }
        for (what, key) in [
            ("FAILURE", "failures"),
            ("PROBLEM", "problems"),
            ("note", "notes"),
            ("stderr", "warnings"),
        ] {
            let items = run[key].as_array().cloned().unwrap_or_default();
            for l in items.iter().take(10) {
                println!("    {what}: {}", l.as_str().unwrap_or(""));
            }
            if items.len() > 10 {
                println!("    ... and {} more {key}", items.len() - 10);
            }
        }
    }
}

/// Whether a run had neither a failed command nor a failed check.
fn run_ok(run: &Json) -> bool {
    ["failures", "problems"]
        .iter()
        .all(|k| run[*k].as_array().is_none_or(Vec::is_empty))
}

/// The exit status: 1 if any run had a failed command or a failed check.
pub fn status(r: &Json) -> ExitCode {
    let all_ok = r["all_runs"].as_array().into_iter().flatten().all(run_ok);
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
