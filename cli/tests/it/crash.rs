//! Crash safety: real `weft` processes are killed with SIGKILL at random moments, while they
//! write (`weft batch`) and while they receive a sync (`weft clone` and `weft pull` over TCP
//! from a `weft serve --listen` peer). After every kill the repo is reopened and checked: `weft
//! fsck` passes, every change a process reported as committed is there, and the heads name
//! stored changes; after a killed transfer, a pull must complete and reach the source's heads.
//! Each scenario goes on with the same repo where it can (a clone needs a new one), so damage
//! would accumulate.
//!
//! The kill moments are random but event-driven (no sleeps, no timings):
//! - a batch is killed once the test has read a random number of its "committed" lines (it has
//!   hundreds more to commit, so the kill finds it committing);
//! - a receiver is killed by a relay between it and the peer, the moment the relay has passed
//!   it a random number of bytes (half the time anywhere in the transfer, half the time near
//!   its end). The loopback connection buffers megabytes, so the receiver is then still reading
//!   and verifying well behind that byte: these kills land before it commits;
//! - a pull run by a `weft watch` that holds the receiving repo (the pull then runs inside the
//!   watch process) is killed once the watch has printed a random number of the changes applied
//!   (it prints them once their import group is committed): these kills land after a commit,
//!   while the next group is verified and committed, or while the session ends.
//!
//! A run that finished before its kill does not count; the scenario then tries again (at most
//! [`MAX_ATTEMPTS_PER_KILL`] runs per kill). The RNG is a seeded xorshift; the seed is printed
//! when a check fails. Set `WEFT_CRASH_SEED` (decimal or `0x` hex) to run other kill moments.

use std::{
    cell::Cell,
    collections::{BTreeSet, HashSet},
    fs::File,
    io::{Read as _, Write as _},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    process::{Child, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::Instant,
};

use serde_json::Value as Json;

use crate::util::{Dir, Out, Proc};

/// SIGKILLs of `weft batch` in the middle of its commits.
const BATCH_KILLS: usize = 60;
/// SIGKILLs of `weft clone` (over TCP from a `weft serve --listen` peer) while it receives.
const CLONE_KILLS: usize = 8;
/// SIGKILLs of a process running a `weft pull` of [`MAIN_CHANGES`] changes into a fresh repo.
const BIG_PULL_KILLS: usize = 8;
/// SIGKILLs of `weft pull` (over TCP) of a few changes, into one repo.
const PULL_KILLS: usize = 24;
/// Kills in all.
const TOTAL_KILLS: usize = BATCH_KILLS + CLONE_KILLS + BIG_PULL_KILLS + PULL_KILLS;
const _: () = assert!(TOTAL_KILLS >= 100);
/// A kill may come after the process finished on its own; so many tries per counted kill.
const MAX_ATTEMPTS_PER_KILL: usize = 4;

/// The default seed.
const SEED: u64 = 0x5eed_c4a5_4b1d_2024;
/// At most this many committed lines are read from a batch before it is killed.
const BATCH_MAX_READ: u64 = 20;
/// Lines a batch has beyond the ones read, so that it is still committing when it dies.
const BATCH_SPARE_LINES: usize = 300;
/// The changes of the source's `main` document that clones and big pulls receive: more than an
/// import group (1,024), so that a receiver commits before its last one.
const MAIN_CHANGES: usize = 1_500;

/// Every repo of the test checkpoints its indexes into the database every few changes and
/// seals a pack every few kilobytes, so that kills land during checkpoints and while a pack
/// is sealed (its index written, synced and renamed into place, the next pack created), not
/// only between them.
fn small_store(dir: Dir) -> Dir {
    dir.with_env("WEFT_CHECKPOINT_EVERY", "5")
        .with_env("WEFT_PACK_SIZE", "4096")
}

/// What the first open after the kills had to repair, counted over the whole test: records
/// replayed because the last checkpoint did not cover them, a torn record cut off the end of a
/// pack, a pack index rebuilt (missing or not matching its pack), an index being written when
/// the process died.
static REPLAYS: AtomicUsize = AtomicUsize::new(0);
static TORN: AtomicUsize = AtomicUsize::new(0);
static INDEXES: AtomicUsize = AtomicUsize::new(0);
/// Kills while a pack was being sealed: its index was half written.
static SEALS: AtomicUsize = AtomicUsize::new(0);

fn count_repairs(fsck: &Json) {
    for r in fsck["repaired"].as_array().into_iter().flatten() {
        let r = r.as_str().unwrap_or_default();
        if r.starts_with("replayed") {
            REPLAYS.fetch_add(1, Ordering::Relaxed);
        } else if r.starts_with("cut a torn record") {
            TORN.fetch_add(1, Ordering::Relaxed);
        } else if r.starts_with("rebuilt") {
            INDEXES.fetch_add(1, Ordering::Relaxed);
        } else if r.starts_with("removed") {
            SEALS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn seed() -> u64 {
    match std::env::var("WEFT_CRASH_SEED") {
        Ok(s) => {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            }
            .unwrap_or_else(|e| panic!("WEFT_CRASH_SEED={s:?}: {e}"))
        }
        Err(_) => SEED,
    }
}

/// xorshift64*: small, seeded, the same sequence everywhere.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // xorshift must not start at 0.
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `pct` percent.
    fn pct(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// Where a scenario is, printed if a check fails (the test output shows it then).
#[derive(Debug)]
struct Trace {
    seed: u64,
    scenario: &'static str,
    iteration: Cell<usize>,
    kills: Cell<usize>,
}

impl Trace {
    fn new(seed: u64, scenario: &'static str) -> Trace {
        Trace {
            seed,
            scenario,
            iteration: Cell::new(0),
            kills: Cell::new(0),
        }
    }
}

impl Drop for Trace {
    #[allow(clippy::print_stderr)]
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "crash test failed: WEFT_CRASH_SEED={:#x}, scenario {}, iteration {} (after {} \
                 kills)",
                self.seed,
                self.scenario,
                self.iteration.get(),
                self.kills.get()
            );
        }
    }
}

/// Lines for `weft batch`: registers (small, JSON with spaces, or large values), counters, sets,
/// and deletes of keys set earlier in the same input, with comments and blank lines between.
fn batch_lines(rng: &mut Rng, tag: &str, n: usize, big_pct: u64) -> String {
    let mut text = String::new();
    let mut live: Vec<String> = Vec::new();
    let mut members_in: Vec<(String, String)> = Vec::new();
    for j in 0..n {
        let roll = rng.next() % 100;
        let line = if roll < big_pct {
            // Large values take other paths in sled.
            let len = rng.range(2_000, 96_000) as usize;
            let fill = char::from(b'a' + (rng.next() % 26) as u8);
            let key = format!("big/{}", rng.next() % 32);
            live.push(key.clone());
            format!("set {key} {tag}-{j}-{}", fill.to_string().repeat(len))
        } else if roll < 50 {
            let key = format!("reg/{}", rng.next() % 64);
            live.push(key.clone());
            if rng.pct(30) {
                format!("set {key} {{\"tag\": \"{tag}\", \"j\": {j}, \"list\": [1, 2.5, null]}}")
            } else {
                format!("set {key} {tag}-{j}")
            }
        } else if roll < 65 {
            let delta = rng.range(0, 200) as i64 - 100;
            format!("incr cnt/{} {delta}", rng.next() % 8)
        } else if roll < 78 {
            let key = format!("set/{}", rng.next() % 8);
            let members = [rng.next() % 40, rng.next() % 40].map(|m| format!("m{m}"));
            for m in &members {
                members_in.push((key.clone(), m.clone()));
            }
            format!("sadd {key} {} {}", members[0], members[1])
        } else if roll < 86 && !members_in.is_empty() {
            // Only a member this input added is sure to be there (`srem` on an empty set is
            // "key not found").
            let i = (rng.next() % members_in.len() as u64) as usize;
            let (key, member) = members_in[i].clone();
            members_in.retain(|p| *p != (key.clone(), member.clone()));
            format!("srem {key} {member}")
        } else if roll < 93 && !live.is_empty() {
            // Only a key this input set (and did not delete) is sure to exist here.
            let key = live.swap_remove((rng.next() % live.len() as u64) as usize);
            live.retain(|k| *k != key);
            format!("rm {key}")
        } else if roll < 96 {
            format!("# {tag} line {j}")
        } else {
            String::new()
        };
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// The CIDs in `weft batch` output (one per line; `nothing to change` is no change).
fn reported(lines: &str) -> Vec<String> {
    lines
        .lines()
        .filter(|l| *l != "nothing to change")
        .map(|l| {
            crate::util::cid(l);
            l.to_string()
        })
        .collect()
}

/// Checks a repo after a kill: `weft fsck` passes; in each of `docs` (a document, by name or
/// id, and the changes reported as committed there), every reported change and every head is a
/// stored change reached from the heads; those documents hold every change there is; and
/// `weft show` decodes the `last` reported change with a valid signature. Returns the number of
/// changes.
///
/// Documents that arrive by sync are named at the end of the session, so a receiver killed
/// before that has their changes but not their names: the sync scenario passes ids.
fn check_repo(
    dir: &Dir,
    docs: &[(&str, &BTreeSet<String>)],
    last: Option<&str>,
    what: &str,
) -> u64 {
    let fsck = dir.run(&["fsck", "--json"]);
    assert_eq!(
        fsck.code(),
        Some(0),
        "{what}: fsck failed after a kill: {}",
        fsck.report()
    );
    let fsck = fsck.json();
    assert_eq!(fsck["ok"], true, "{what}: {fsck}");
    count_repairs(&fsck);
    let n_changes = fsck["n_changes"].as_u64().unwrap();

    let mut n_nodes = 0;
    for (doc, reported) in docs {
        let heads = dir.run(&["-d", doc, "heads"]);
        if heads.code() == Some(4) && reported.is_empty() {
            // A clone killed before the document arrived (the total below still has to add
            // up: no change may be stored without its document).
            continue;
        }
        let heads: Vec<String> = heads.success().stdout().lines().map(String::from).collect();
        assert!(!heads.is_empty(), "{what}: {doc} has no heads");

        let dag = dir.json(&["-d", doc, "dag", "--format", "json"]);
        let nodes: HashSet<&str> = dag["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["cid"].as_str().unwrap())
            .collect();
        let dag_heads: Vec<&str> = dag["heads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        assert_eq!(
            dag_heads, heads,
            "{what}: {doc}: `heads` and `dag` disagree"
        );
        for h in &heads {
            assert!(
                nodes.contains(h.as_str()),
                "{what}: {doc}: head {h} is not stored"
            );
        }
        let missing: Vec<&String> = reported
            .iter()
            .filter(|c| !nodes.contains(c.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{what}: {doc}: {} change(s) reported as committed are missing (of {}): {missing:?}",
            missing.len(),
            reported.len()
        );
        n_nodes += nodes.len() as u64;
    }
    assert_eq!(
        n_nodes, n_changes,
        "{what}: fsck and the histories disagree on the number of changes"
    );
    if let Some(cid) = last {
        let show = dir.json(&["show", cid, "--json"]);
        assert_eq!(show["cid"], cid, "{what}: {show}");
        assert_eq!(show["signature_valid"], true, "{what}: {show}");
    }
    n_changes
}

/// What became of a process the test meant to kill.
fn killed(out: &Out, what: &str) -> bool {
    match out.code() {
        // Killed by a signal: ours, SIGKILL.
        None => true,
        // It finished before the kill came.
        Some(0) => false,
        Some(_) => panic!("{what} failed on its own: {}", out.report()),
    }
}

// ------------------------------------------------------------------------------------------
// A relay between a receiver and the serving peer.

/// A one-connection TCP relay to `upstream` that passes everything on in both directions until
/// it has passed `budget` bytes from the peer to the receiver; then it calls `at_budget` (which
/// kills the receiver) and passes nothing more. The kill finds the receiver with exactly
/// `budget` bytes delivered, still reading and verifying them (see the module docs).
#[derive(Debug)]
struct Relay {
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    fn start(
        upstream: SocketAddr,
        budget: u64,
        at_budget: impl FnOnce() + Send + 'static,
    ) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let server = TcpStream::connect(upstream).unwrap();
            let up = {
                let (mut from, mut to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                })
            };
            let (mut from, mut to) = (server, client);
            let mut buf = vec![0u8; 4096];
            let mut sent = 0u64;
            while sent < budget {
                let want = buf.len().min((budget - sent) as usize);
                let n = match from.read(&mut buf[..want]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                sent += n as u64;
            }
            if sent == budget {
                at_budget();
            } else {
                // The transfer ended first: the receiver finishes on its own.
                let _ = to.shutdown(Shutdown::Write);
            }
            // Until the receiver is gone.
            let _ = up.join();
        });
        Relay {
            addr,
            thread: Some(thread),
        }
    }

    /// Waits for the relay to end, once the receiver has exited.
    fn finish(mut self) {
        // A receiver that exited before it connected leaves the relay waiting for it.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// A receiver process that the relay may kill; killed on drop if still there (a failed test).
#[derive(Debug)]
struct Receiver(Arc<Mutex<Option<Child>>>);

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(c) = weft_store::sync_util::lock(&self.0).as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The `host:port` part of a `tcp://` URL, and the URL with that part replaced by `addr`.
fn split_url(url: &str) -> (SocketAddr, impl Fn(SocketAddr) -> String + '_) {
    let rest = url
        .strip_prefix("tcp://")
        .unwrap_or_else(|| panic!("not a tcp:// URL: {url}"));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host_start = rest[..authority_end].rfind('@').map_or(0, |i| i + 1);
    let host_port = &rest[host_start..authority_end];
    let addr: SocketAddr = host_port
        .parse()
        .unwrap_or_else(|e| panic!("{host_port:?} in {url}: {e}"));
    let via =
        move |a: SocketAddr| format!("tcp://{}{a}{}", &rest[..host_start], &rest[authority_end..]);
    (addr, via)
}

// ------------------------------------------------------------------------------------------
// The scenarios.

/// Figures of one scenario.
#[derive(Debug, Default)]
struct Figures {
    kills: usize,
    attempts: usize,
    reported: usize,
    changes: u64,
    bytes: u64,
    /// Receivers killed with part of the transfer committed.
    partial: usize,
    time: std::time::Duration,
}

/// (a) `weft batch` killed in the middle of its commits, [`BATCH_KILLS`] times, on one repo.
fn batch_kills(seed: u64) -> Figures {
    let trace = Trace::new(seed, "batch");
    let mut rng = Rng::new(seed);
    let dir = small_store(Dir::new());
    dir.ok(&["init"]);
    let mut committed: BTreeSet<String> = BTreeSet::new();
    let mut figures = Figures::default();
    let started = Instant::now();
    let mut last: Option<String> = None;
    while figures.kills < BATCH_KILLS {
        figures.attempts += 1;
        trace.iteration.set(figures.attempts);
        assert!(
            figures.attempts <= BATCH_KILLS * MAX_ATTEMPTS_PER_KILL,
            "too many batches finished before their kill"
        );
        let k = rng.range(0, BATCH_MAX_READ) as usize;
        let tag = format!("a{}", figures.attempts);
        let input = dir.join(format!("input-{}", figures.attempts));
        std::fs::write(
            &input,
            batch_lines(&mut rng, &tag, k + BATCH_SPARE_LINES, 5),
        )
        .unwrap();
        let stdin = Stdio::from(File::open(&input).unwrap());
        let mut p = Proc::spawn_with_stdin(&mut dir.cmd(&["batch"]), stdin);
        let mut lines = String::new();
        for _ in 0..k {
            lines.push_str(&p.line());
            lines.push('\n');
        }
        p.kill();
        let out = p.finish();
        // Whatever it printed before it died was reported as committed too.
        lines.push_str(&out.stdout());
        let landed = killed(&out, "weft batch");
        let new = reported(&lines);
        if let Some(c) = new.last() {
            last = Some(c.clone());
        }
        figures.reported += new.len();
        committed.extend(new);
        if landed {
            figures.kills += 1;
            trace.kills.set(figures.kills);
        }
        std::fs::remove_file(&input).unwrap();
        figures.changes = check_repo(
            &dir,
            &[("main", &committed)],
            last.as_deref(),
            &format!("after batch kill {} (read {k} lines)", figures.kills),
        );
    }
    figures.time = started.elapsed();
    figures
}

/// What a transfer costs on the wire: a session with nothing to send, and then per change,
/// measured on the transfers that completed.
#[derive(Debug, Default)]
struct Rate {
    fixed: u64,
    bytes: u64,
    changes: u64,
}

impl Rate {
    fn observe(&mut self, report: &Json) {
        let bytes = report["bytes_in"].as_u64().unwrap();
        match report["changes_in"].as_u64().unwrap() {
            0 => self.fixed = bytes,
            n => {
                self.bytes += bytes.saturating_sub(self.fixed);
                self.changes += n;
            }
        }
    }

    /// A random point in a transfer of about `changes` changes: half the time anywhere, half
    /// the time near its end.
    fn budget(&self, rng: &mut Rng, changes: u64) -> u64 {
        let estimate = self.fixed + self.bytes * changes / self.changes.max(1);
        if rng.pct(50) {
            rng.range(0, estimate)
        } else {
            rng.range(estimate * 3 / 4, estimate * 21 / 20)
        }
    }
}

/// Runs `weft ARGS` in `dir` (here or in the process serving the repo) with `text` on stdin
/// (`weft batch`) to the end; returns the CIDs it reported.
fn run_batch(dir: &Dir, args: &[&str], text: &str) -> Vec<String> {
    let input = dir.join("batch-input");
    std::fs::write(&input, text).unwrap();
    let mut cmd = dir.cmd(args);
    cmd.command().stdin(File::open(&input).unwrap());
    let out = cmd.run().success();
    std::fs::remove_file(&input).unwrap();
    reported(&out.stdout())
}

/// Gives the repo in `dir` (made with `WEFT_IDENTITY`, so without a key of its own) the key in
/// `key`, so that later commands there sign with it.
fn own_key(dir: &Dir, key: &std::path::Path) {
    std::fs::copy(key, dir.join(".weft/key")).unwrap();
}

/// The id of the document named `name`.
fn doc_id(dir: &Dir, name: &str) -> String {
    let docs = dir.json(&["doc", "ls", "--json"]);
    docs["docs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no document {name}: {docs}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The heads of document `doc`.
fn heads_of(dir: &Dir, doc: &str) -> Vec<String> {
    dir.ok(&["-d", doc, "heads"])
        .lines()
        .map(String::from)
        .collect()
}

/// Starts `weft ARGS[0] URL ARGS[1..]` in `dir` (with `env`), URL leading to `server` through
/// a [`Relay`] that SIGKILLs it once it has passed `budget` bytes to it, and returns what became
/// of it: `None` if the kill landed, else its `--json` report (it finished first).
fn receive_and_kill(
    dir: &Dir,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
    server: SocketAddr,
    via: &dyn Fn(SocketAddr) -> String,
    budget: u64,
    what: &str,
) -> Option<Json> {
    let receiver = Receiver(Arc::new(Mutex::new(None)));
    // Held until the process is in the slot, so that the relay cannot miss it.
    let mut slot = receiver.0.lock().unwrap();
    let kill = {
        let receiver = Arc::clone(&receiver.0);
        move || {
            if let Some(c) = receiver.lock().unwrap().as_mut() {
                // std's `kill` is SIGKILL.
                c.kill().unwrap();
            }
        }
    };
    let relay = Relay::start(server, budget, kill);
    let url = via(relay.addr);
    let mut cmd = dir.cmd(&[args[0], url.as_str()]);
    cmd.args(&args[1..]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let desc = format!("{:?}", cmd.command());
    let mut child = cmd
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    *slot = Some(child);
    drop(slot);
    // Both reach their end when the process is gone (its output is a line or two).
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    relay.finish();
    let status = receiver.0.lock().unwrap().take().unwrap().wait().unwrap();
    let report = format!("{desc}\nstatus: {status}\nstdout:\n{out}\nstderr:\n{err}");
    match status.code() {
        // Killed by a signal: ours, SIGKILL.
        None => None,
        Some(0) => {
            Some(serde_json::from_str(&out).unwrap_or_else(|e| panic!("{what}: {e}: {report}")))
        }
        Some(_) => panic!("{what}: the receiver failed on its own: {report}"),
    }
}

/// Runs `weft ARGS` in `dir` while `weft watch` holds the repo, so that the command runs inside
/// the watch process, and SIGKILLs that process once it has printed `n` applied changes (it
/// prints a batch, with its changes, once its group is committed and flushed). Returns the CIDs it printed before
/// it died, and whether the kill came before the command finished (its client then fails).
fn watch_and_kill(dir: &Dir, args: &[&str], n: u64, what: &str) -> (Vec<String>, bool) {
    let mut watch = dir.watch(&[]);
    let watch_pid = watch.pid();
    let client = Proc::spawn_with_stdin(&mut dir.cmd(args), Stdio::null());
    // Should the command fail on its own, the watch would wait for changes that never come:
    // stop it then (it then ends its output, and the reading below fails with the report).
    let waiter = std::thread::spawn(move || {
        let mut client = client;
        let out = client.finish();
        if !matches!(out.code(), Some(0 | 1)) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &watch_pid.to_string()])
                .status();
        }
        out
    });
    // One line per applied batch: its `changes` are the CIDs applied.
    let changes = |line: &Json| -> Vec<String> {
        line["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    };
    let mut applied = Vec::new();
    while (applied.len() as u64) < n {
        let line = watch.json_line();
        applied.extend(changes(&line));
    }
    watch.kill();
    let out = watch.finish();
    assert_eq!(out.code(), None, "{what}: weft watch: {}", out.report());
    for line in out.json_lines() {
        applied.extend(changes(&line));
    }
    let client = waiter.join().unwrap();
    let landed = match client.code() {
        Some(0) => false,
        Some(1) => {
            let err = client.stderr();
            assert!(
                err.contains("serving the repo stopped before the command finished"),
                "{what}: {}",
                client.report()
            );
            true
        }
        _ => panic!("{what}: the command failed on its own: {}", client.report()),
    };
    (applied, landed)
}

/// The figures of the sync scenario.
#[derive(Debug, Default)]
struct SyncFigures {
    clones: Figures,
    big: Figures,
    pulls: Figures,
}

/// (b) Receivers of a sync killed, from a source served by `weft serve --listen` that grows
/// (through `weft batch` run by the serving process) before each transfer:
/// - [`CLONE_KILLS`] `weft clone`s over TCP, killed by the relay at a random byte;
/// - [`BIG_PULL_KILLS`] pulls of 1,500 changes (two import groups) into fresh repos, run by a
///   `weft watch` holding the repo and killed once it has shown a random number of them;
/// - [`PULL_KILLS`] small pulls into one repo, killed either way (by the relay, mostly before
///   the import commits; by the watch, after it did).
///
/// Every kill is followed by the checks and by a pull that must complete and reach the
/// source's heads. The source has two documents: `main` (1,500 changes: clones and big pulls),
/// and `feed`, which the small pulls fetch (`-d feed`) into a repo that holds only that and one
/// document of its own, so that its checks stay cheap.
fn sync_kills(seed: u64) -> SyncFigures {
    let trace = Trace::new(seed, "sync");
    let mut rng = Rng::new(seed ^ 0xb10c_5eed);
    let mut figures = SyncFigures::default();
    let source = small_store(Dir::new());
    source.ok(&["init"]);
    source.ok(&["doc", "new", "feed"]);
    // What `init` and `doc new` wrote (a genesis each): the changes no batch reported.
    let base = source.json(&["fsck", "--json"])["n_changes"]
        .as_u64()
        .unwrap();
    // The first load runs before serving (a batch that opens the repo itself).
    let main_lines = batch_lines(&mut rng, "s0", MAIN_CHANGES, 0);
    let mut main: BTreeSet<String> = run_batch(&source, &["batch"], &main_lines)
        .into_iter()
        .collect();
    let feed_lines = batch_lines(&mut rng, "f0", 40, 0);
    let mut feed: BTreeSet<String> = run_batch(&source, &["-d", "feed", "batch"], &feed_lines)
        .into_iter()
        .collect();
    let (main_id, feed_id) = (doc_id(&source, "main"), doc_id(&source, "feed"));
    let (_server, url) = source.serve_tcp();
    let (server, via) = split_url(&url);
    // Receivers sign as the source's owner (a key the source lets read and write).
    let key = source.join(".weft/key");
    let owner = [("WEFT_IDENTITY", key.as_os_str())];
    let none = BTreeSet::new();
    let mut kills = 0;

    // Clones killed by the relay; each is then finished by a pull.
    let clones = &mut figures.clones;
    let t = Instant::now();
    let mut rate = Rate::default();
    let (reference, report) = Dir::clone_with(&url, &owner);
    own_key(&reference, &key);
    rate.observe(&reference.json(&["pull", &url, "--json"]));
    rate.observe(&report);
    drop(reference);
    while clones.kills < CLONE_KILLS {
        clones.attempts += 1;
        trace.iteration.set(clones.attempts);
        assert!(
            clones.attempts <= CLONE_KILLS * MAX_ATTEMPTS_PER_KILL,
            "too many clones finished before their kill"
        );
        let lines = batch_lines(&mut rng, &format!("c{}", clones.attempts), 10, 0);
        main.extend(run_batch(&source, &["batch"], &lines));
        let total = base + (main.len() + feed.len()) as u64;
        let budget = rate.budget(&mut rng, total);
        let what = format!("clone attempt {} (budget {budget} B)", clones.attempts);
        let target = small_store(Dir::new());
        let args = ["clone", ".", "--json"];
        let killed = receive_and_kill(&target, &args, &owner, server, &via, budget, &what);
        own_key(&target, &key);
        match killed {
            None => {
                clones.kills += 1;
                kills += 1;
                trace.kills.set(kills);
                let docs = [(main_id.as_str(), &none), (feed_id.as_str(), &none)];
                let n = check_repo(&target, &docs, None, &what);
                clones.changes += n;
                clones.partial += usize::from(n > 0);
                let report = target.json(&["pull", &url, "--json"]);
                rate.observe(&report);
                clones.bytes += report["bytes_in"].as_u64().unwrap();
            }
            // It finished before the budget.
            Some(report) => rate.observe(&report),
        }
        for doc in ["main", "feed"] {
            assert_eq!(
                heads_of(&target, doc),
                heads_of(&source, doc),
                "{what}, then a pull: {doc}"
            );
        }
    }
    clones.time = t.elapsed();

    // Big pulls, run by a watch that is killed once it has shown some of the changes applied.
    let big = &mut figures.big;
    let t = Instant::now();
    while big.kills < BIG_PULL_KILLS {
        big.attempts += 1;
        trace.iteration.set(CLONE_KILLS + big.attempts);
        assert!(
            big.attempts <= BIG_PULL_KILLS * MAX_ATTEMPTS_PER_KILL,
            "too many big pulls finished before their kill"
        );
        let target = small_store(Dir::new());
        target
            .cmd(&["-d", "feed", "clone", &url, ".", "--json"])
            .env("WEFT_IDENTITY", &key)
            .run()
            .success();
        own_key(&target, &key);
        let n = rng.range(1, main.len() as u64);
        let what = format!(
            "big pull attempt {} (killed after {n} changes)",
            big.attempts
        );
        let (applied, landed) = watch_and_kill(&target, &["pull", &url, "--json"], n, &what);
        big.reported += applied.len();
        if landed {
            big.kills += 1;
            kills += 1;
            trace.kills.set(kills);
        }
        let applied: BTreeSet<String> = applied.into_iter().collect();
        let docs = [(main_id.as_str(), &applied), (feed_id.as_str(), &feed)];
        let n = check_repo(&target, &docs, None, &what);
        let in_main = n - (1 + feed.len() as u64);
        big.changes += in_main;
        // Killed before the last group of the import was committed.
        big.partial += usize::from(in_main < 1 + main.len() as u64);
        let report = target.json(&["pull", &url, "--json"]);
        big.bytes += report["bytes_in"].as_u64().unwrap();
        assert_eq!(
            heads_of(&target, "main"),
            heads_of(&source, "main"),
            "{what}, then a pull"
        );
    }
    big.time = t.elapsed();

    // Small pulls of `feed` into one repo, killed either way, each followed by a pull that
    // completes. The receiver also writes, in a document of its own (it signs as the source's
    // owner, so a write to `feed` here would reuse the source's sequence numbers).
    let pulls = &mut figures.pulls;
    let t = Instant::now();
    let mut rate = Rate::default();
    let receiver = small_store(Dir::new());
    let report = receiver
        .cmd(&["-d", "feed", "clone", &url, ".", "--json"])
        .env("WEFT_IDENTITY", &key)
        .run()
        .success()
        .json();
    own_key(&receiver, &key);
    rate.observe(&receiver.json(&["pull", "-d", "feed", &url, "--json"]));
    rate.observe(&report);
    receiver.ok(&["doc", "new", "mine"]);
    let mine_id = doc_id(&receiver, "mine");
    let mut mine: BTreeSet<String> = BTreeSet::new();
    let mut last_mine: Option<String> = None;
    // The source's changes the receiver has reported as pulled (so far: cloned).
    let mut pulled: BTreeSet<String> = feed.clone();
    while pulls.kills < PULL_KILLS {
        pulls.attempts += 1;
        trace
            .iteration
            .set(CLONE_KILLS + BIG_PULL_KILLS + pulls.attempts);
        assert!(
            pulls.attempts <= PULL_KILLS * MAX_ATTEMPTS_PER_KILL,
            "too many pulls finished before their kill"
        );
        let n = rng.range(5, 40) as usize;
        let lines = batch_lines(&mut rng, &format!("p{}", pulls.attempts), n, 0);
        let before = feed.len();
        feed.extend(run_batch(&source, &["-d", "feed", "batch"], &lines));
        let new = (feed.len() - before) as u64;
        if rng.pct(40) {
            let n = rng.range(1, 6) as usize;
            let lines = batch_lines(&mut rng, &format!("r{}", pulls.attempts), n, 0);
            let new = run_batch(&receiver, &["-d", "mine", "batch"], &lines);
            if let Some(c) = new.last() {
                last_mine = Some(c.clone());
            }
            pulls.reported += new.len();
            mine.extend(new);
        }
        // The watch's kills often come after the pull finished (it applies a few changes in one
        // group, then only writes what it knows of the peer): fewer of those.
        let by_relay = rng.pct(70);
        let (what, landed) = if by_relay {
            let budget = rate.budget(&mut rng, new);
            let what = format!(
                "pull attempt {} (relay budget {budget} B of about {new} changes)",
                pulls.attempts
            );
            let args = ["pull", "-d", "feed", "--json"];
            match receive_and_kill(&receiver, &args, &[], server, &via, budget, &what) {
                None => (what, true),
                Some(report) => {
                    rate.observe(&report);
                    (what, false)
                }
            }
        } else {
            let n = rng.range(1, new);
            let what = format!(
                "pull attempt {} (watch killed after {n} of {new} changes)",
                pulls.attempts
            );
            let args = ["pull", "-d", "feed", &url, "--json"];
            let (applied, landed) = watch_and_kill(&receiver, &args, n, &what);
            pulled.extend(applied);
            (what, landed)
        };
        if landed {
            pulls.kills += 1;
            kills += 1;
            trace.kills.set(kills);
            let docs = [(feed_id.as_str(), &pulled), (mine_id.as_str(), &mine)];
            let n = check_repo(&receiver, &docs, last_mine.as_deref(), &what);
            let report = receiver.json(&["pull", "-d", "feed", &url, "--json"]);
            if by_relay {
                rate.observe(&report);
            }
            pulls.bytes += report["bytes_in"].as_u64().unwrap();
            let got = report["changes_in"].as_u64().unwrap();
            pulls.partial += usize::from(got < new);
            assert_eq!(
                n + got,
                (2 + feed.len() + mine.len()) as u64,
                "{what}: what the pull brought is what the kill left out"
            );
        }
        pulled.clone_from(&feed);
        assert_eq!(
            heads_of(&receiver, "feed"),
            heads_of(&source, "feed"),
            "{what}, then a pull"
        );
    }
    pulls.time = t.elapsed();
    let docs = [(feed_id.as_str(), &pulled), (mine_id.as_str(), &mine)];
    let what = "the receiver at the end";
    pulls.changes = check_repo(&receiver, &docs, last_mine.as_deref(), what);
    // Two genesis changes, and what the batches reported.
    assert_eq!(
        pulls.changes,
        2 + (feed.len() + mine.len()) as u64,
        "{what}"
    );

    // The source, through its serving process: every change its batches reported is there.
    let what = "the source at the end";
    let docs = [(main_id.as_str(), &main), (feed_id.as_str(), &feed)];
    let n = check_repo(&source, &docs, None, what);
    assert_eq!(n, base + (main.len() + feed.len()) as u64, "{what}");
    figures
}

#[test]
fn sigkill_while_writing_and_while_receiving_a_sync() {
    let seed = seed();
    let started = Instant::now();
    // The two scenarios use separate repos: run them side by side.
    let writer = std::thread::spawn(move || batch_kills(seed));
    let sync = sync_kills(seed);
    let batch = writer
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert_eq!(batch.kills, BATCH_KILLS);
    assert_eq!(sync.clones.kills, CLONE_KILLS);
    assert_eq!(sync.big.kills, BIG_PULL_KILLS);
    assert_eq!(sync.pulls.kills, PULL_KILLS);
    let total = batch.kills + sync.clones.kills + sync.big.kills + sync.pulls.kills;
    assert!(total >= 100, "only {total} kills");
    let (replays, torn, indexes, seals) = (
        REPLAYS.load(Ordering::Relaxed),
        TORN.load(Ordering::Relaxed),
        INDEXES.load(Ordering::Relaxed),
        SEALS.load(Ordering::Relaxed),
    );
    // The kills found work after the last checkpoint to replay: they did not all land at
    // quiet moments.
    assert!(replays > 0, "no kill left records to replay");
    // The figures (shown with --nocapture).
    #[allow(clippy::print_stderr)]
    {
        let (c, b, p) = (&sync.clones, &sync.big, &sync.pulls);
        eprintln!(
            "crash test, seed {seed:#x}: {total} kills, {:.1?} in all",
            started.elapsed()
        );
        eprintln!(
            "  repaired at the next open: {replays} replays of records the last checkpoint \
             did not cover, {torn} torn records cut off, {indexes} pack indexes rebuilt, {seals} \
             packs whose sealing a kill cut short"
        );
        eprintln!(
            "  batch: {} kills in {} runs, {} changes reported, {} in the repo (with the \
             genesis), {:.1?}",
            batch.kills, batch.attempts, batch.reported, batch.changes, batch.time
        );
        eprintln!(
            "  clone: {} kills in {} runs, {} found changes committed ({} in all), {} B pulled \
             to finish them, {:.1?}",
            c.kills, c.attempts, c.partial, c.changes, c.bytes, c.time
        );
        eprintln!(
            "  big pull: {} kills in {} runs, {} before the last group was committed, {} \
             changes shown applied, {} found, {} B pulled to finish them, {:.1?}",
            b.kills, b.attempts, b.partial, b.reported, b.changes, b.bytes, b.time
        );
        eprintln!(
            "  pull: {} kills in {} runs, {} found some of the transfer committed, {} B pulled to \
             finish them, {} changes in the receiver ({} its own), {:.1?}",
            p.kills, p.attempts, p.partial, p.bytes, p.changes, p.reported, p.time
        );
    }
}
