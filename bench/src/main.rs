//! weft-bench: weft beside its rivals, paired run by run: commit rate and sizes against
//! Automerge (and durable commits), open-and-read latency of the CLI against git, bytes on disk
//! against git and Automerge, sync (weft's clone/pull against git's and Automerge's sync
//! protocol), and many clients syncing against one server at once (load).
//!
//! See README.md for what each figure means.

mod disk;
mod git;
mod load;
mod proc;
mod protocol;
mod sync;
mod text;
mod todo;
mod ui;

use std::{
    fs,
    ops::Range,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::Instant,
};

use anyhow::{bail, ensure, Context, Result};
use automerge::{transaction::Transactable, AutoCommit, ReadDoc, ROOT};
use clap::{Parser, Subcommand};
use serde_json::{json, Value as Json};
use weft_dag::{Change, Cid, Durability, Identity, Op, Options, Repo, Value};

#[derive(Debug, Parser)]
#[command(
    name = "weft-bench",
    about = "Benchmarks of weft (with Automerge and git for comparison)"
)]
struct Cli {
    /// Print one JSON object instead of the human-readable table.
    #[arg(long, global = true)]
    json: bool,
    /// Kill a measured child command (git clone, weft clone, ...) after this many seconds.
    #[arg(long, global = true, default_value_t = 1800)]
    timeout: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Commit rate of single-op changes, weft (manual flush, and durable every commit) vs
    /// Automerge, plus per-change sizes.
    Commit {
        /// Changes per run.
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Changes per run of weft with `Durability::EveryCommit` (the log synced at every
        /// commit); 0 skips it.
        #[arg(long, default_value_t = 2_000)]
        durable_n: u64,
        /// Runs of each system (interleaved); medians are reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Directory to create the temporary weft repos in (default: the system temp dir).
        #[arg(long)]
        tmp: Option<PathBuf>,
        /// Also time the parts of a weft commit (sign+encode, state reads, store batch commit)
        /// separately through the public APIs.
        #[arg(long)]
        breakdown: bool,
        /// sled page cache in MiB (default: weft's, `weft_store::Options::cache_bytes`).
        #[arg(long)]
        cache_mb: Option<u64>,
    },
    /// Latency of the `weft` CLI opening a repo of N changes and reading one key, paired run by
    /// run with `git cat-file -p HEAD` in a repository of N commits.
    OpenRead {
        /// Changes in the repo (when it is built).
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Timed runs of each command; medians are reported.
        #[arg(long, default_value_t = 21)]
        runs: usize,
        /// Path to the `weft` binary (e.g. ../target/release/weft).
        #[arg(long)]
        weft: PathBuf,
        /// Repo root to use: reused if it already holds a `.weft`, otherwise built there.
        /// Without it a temporary repo is built and removed afterwards.
        #[arg(long)]
        repo: Option<PathBuf>,
        /// Files of the git repository (N commits, commit i writes `k/{i % FILES}`; 1: the file
        /// `k`). `cat-file -p HEAD` reads one commit either way; 1 builds fastest.
        #[arg(long, default_value_t = 1)]
        files: u64,
        /// Directory for the temporary repos (default: the system temp dir).
        #[arg(long)]
        tmp: Option<PathBuf>,
    },
    /// Bytes on disk over the bytes held: weft's `.weft` over its blocks and git's repository
    /// (after `git gc`) over its objects, for N changes; and the todo shape beside Automerge's
    /// `save()`.
    Disk {
        /// Changes (commits) of the workload (0: skip it).
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Items of the todo shape, each one change of three keys (0: skip it).
        #[arg(long, default_value_t = 10_000)]
        items: u64,
        /// Files of the git repository: commit i writes `k/{i % FILES}`, the same state as
        /// weft's (1: the one file `k`).
        #[arg(long, default_value_t = 1000)]
        files: u64,
        /// Runs (each builds everything again, back to back); medians are reported.
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// Directory for the temporary repos (default: the system temp dir).
        #[arg(long)]
        tmp: Option<PathBuf>,
    },
    /// Baseline: `git clone --no-local --bare` of a repo of N commits (and `git fetch` of --ff
    /// more): wall time, peak RSS, pack bytes.
    GitClone {
        /// Commits in the source repo.
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Timed clones (and fetches); medians are reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Commits added to the source for the timed `git fetch` (0: no fetch).
        #[arg(long, default_value_t = 1000)]
        ff: u64,
        /// Commit i changes the file `k`, or `k/{i % FILES}` when FILES > 1.
        #[arg(long, default_value_t = 1)]
        files: u64,
        /// Directory for the temporary repos (default: the system temp dir).
        #[arg(long)]
        tmp: Option<PathBuf>,
    },
    /// Baseline: Automerge's sync protocol, in process: clone, fast-forward and divergence.
    AutomergeSync {
        /// Changes in the document.
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Changes added for the fast-forward and (on each side) divergence scenarios.
        #[arg(long, default_value_t = 1000)]
        ff: u64,
        /// Timed runs of each scenario; medians are reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// weft's sync protocol beside Automerge's, in process: round trips and bytes for clone,
    /// fast-forward and divergence, and weft's wire bytes over the block bytes carried.
    Protocol {
        /// Changes in the document.
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// New changes for fast-forward, and on each side for divergence.
        #[arg(long, default_value_t = 1000)]
        ff: u64,
    },
    /// `weft clone` of a repo of N changes over stdio (an ssh stand-in) and TCP.
    WeftClone {
        /// Changes in the source repo.
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Timed clones per transport; medians are reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Path to the `weft` binary (e.g. ../target/release/weft).
        #[arg(long)]
        weft: PathBuf,
        /// Directory for the temporary repos (default: the system temp dir).
        #[arg(long)]
        tmp: Option<PathBuf>,
    },
    /// `weft pull` over TCP of --ff new changes into a clone of N changes.
    WeftPull {
        /// Changes in the source repo when it is cloned.
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Changes then added to the source, which the timed pull fetches.
        #[arg(long, default_value_t = 1000)]
        ff: u64,
        /// Timed pulls (each into a fresh copy of the clone); medians are reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Path to the `weft` binary (e.g. ../target/release/weft).
        #[arg(long)]
        weft: PathBuf,
        /// Directory for the temporary repos (default: the system temp dir).
        #[arg(long)]
        tmp: Option<PathBuf>,
    },
    /// For each N: weft clone and pull over TCP paired run by run with git clone and fetch (one
    /// file, and --files files), and Automerge's sync protocol in process.
    SyncAll {
        /// Sizes to run, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [10_000u64, 100_000])]
        n: Vec<u64>,
        /// Runs; each runs every system's clone (then fetch/pull) back to back.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Timed runs of each Automerge scenario (0: none).
        #[arg(long, default_value_t = 3)]
        automerge_runs: usize,
        /// Changes (commits) added for fetch/pull and the Automerge scenarios (0: no fetch/pull).
        #[arg(long, default_value_t = 1000)]
        ff: u64,
        /// Files of the second git repository: commit i writes `k/{i % FILES}`, the same state as
        /// weft's (1: only the one-file repository, git's fastest case).
        #[arg(long, default_value_t = 1000)]
        files: u64,
        /// Path to the `weft` binary; without it only the baselines run.
        #[arg(long)]
        weft: Option<PathBuf>,
        /// Directory for the temporary repos (default: the system temp dir).
        #[arg(long)]
        tmp: Option<PathBuf>,
    },
    /// Replay the automerge-paper editing trace into weft, Automerge and Loro (paired runs):
    /// apply + persist time, saved size, open + read time in a fresh process, peak RSS.
    TextTrace {
        /// Edits per change, comma-separated (1: one change per trace transaction).
        #[arg(long, value_delimiter = ',', default_values_t = [100usize, 1])]
        per: Vec<usize>,
        /// Replay only the first EDITS edits (the report says it is a prefix).
        #[arg(long)]
        limit: Option<usize>,
        /// Runs per --per value (each runs the three systems back to back, rotating).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Fresh-process open + read runs per system per run; medians are reported.
        #[arg(long, default_value_t = 11)]
        open_runs: usize,
        /// The trace (gzipped JSON).
        #[arg(long, default_value = text::TRACE)]
        trace: PathBuf,
        /// Directory for the temporary repos and files (default: the system temp dir).
        #[arg(long)]
        tmp: Option<PathBuf>,
        /// Skip timing the ed25519 signing floor (done when --per includes 1).
        #[arg(long)]
        no_sign_floor: bool,
    },
    /// A todo list in weft, Automerge and Loro (paired runs): push --items items, move --moves
    /// of them to the front, read the whole list --reads times.
    Todo {
        /// Items pushed.
        #[arg(long, default_value_t = 10_000)]
        items: usize,
        /// Items moved to the front (move k moves item 10k+5).
        #[arg(long, default_value_t = 1_000)]
        moves: usize,
        /// Pushes (and moves) per change, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 100])]
        per: Vec<usize>,
        /// Runs per --per value (each runs the three systems back to back, rotating).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Timed reads of the whole list per run; the median is reported.
        #[arg(long, default_value_t = 51)]
        reads: usize,
        /// Directory for the temporary repos (default: the system temp dir).
        #[arg(long)]
        tmp: Option<PathBuf>,
    },
    /// Child of text-trace: apply the trace in one system and persist it (prints JSON).
    #[command(hide = true)]
    TextApply {
        system: String,
        per: usize,
        /// The edits, as text-trace writes them.
        edits: PathBuf,
        out: PathBuf,
    },
    /// Child of text-trace: open a saved document and read its text (prints JSON).
    #[command(hide = true)]
    OpenText {
        system: String,
        path: PathBuf,
        #[arg(default_value = text::KEY)]
        key: String,
    },
    /// Many CLI clients writing and syncing against one `weft serve --listen` at once.
    Load {
        /// Client repos (clones of the server's, each granted the writer role).
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// How long the clients write and sync, in seconds.
        #[arg(long, default_value_t = 30.0)]
        secs: f64,
        /// Changes (lines of one `weft batch`) per iteration of a client.
        #[arg(long, default_value_t = 3)]
        changes: usize,
        /// What a client runs after each batch.
        #[arg(long, value_enum, default_value_t = load::Mode::Sync)]
        mode: load::Mode,
        /// Runs (each with a fresh server and fresh clients); medians are reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Count failed commands and go on, instead of stopping the run at the first.
        #[arg(long)]
        keep_going: bool,
        /// Keep the directory (the repos and the server's log) of a run with a failed command or
        /// check, and print where it is.
        #[arg(long)]
        keep: bool,
        /// Path to the `weft` binary.
        #[arg(long, default_value = "../target/release/weft")]
        weft: PathBuf,
        /// Directory for the temporary repos (default: the system temp dir).
        #[arg(long)]
        tmp: Option<PathBuf>,
    },
    /// The history browser (`weft ui`) in headless Chromium over WebDriver, on a repo of N
    /// changes by two authors with merges: time until the graph is drawn, the page's fetch and
    /// layout figures, and the frames while scrolling through the whole history and zooming;
    /// paired run by run with `git log --graph --oneline` on the same DAG.
    Ui {
        /// Changes in the document.
        #[arg(long, default_value_t = 100_000)]
        changes: u64,
        /// Runs, each a fresh browser session loading the page; medians are reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Path to the `weft` binary.
        #[arg(long, default_value = "../target/release/weft")]
        weft: PathBuf,
        #[arg(long, default_value = "/usr/bin/chromium")]
        chromium: PathBuf,
        #[arg(long, default_value = "/usr/bin/chromedriver")]
        chromedriver: PathBuf,
        /// Leave out the `git log --graph --oneline` rival.
        #[arg(long)]
        no_git: bool,
        /// Directory for the temporary repos (default: the system temp dir).
        #[arg(long)]
        tmp: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("__measure")) {
        return proc::measure_main();
    }
    let cli = Cli::parse();
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run with `cargo run --release`");
    }
    proc::TIMEOUT_SECS.store(cli.timeout, std::sync::atomic::Ordering::Relaxed);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line, whatever the cause chain holds.
            let msg = format!("{e:#}");
            let msg: Vec<&str> = msg
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("weft-bench: error: {}", msg.join(" "));
            ExitCode::FAILURE
        }
    }
}

fn print_or_json(report: &Json, as_json: bool, print: fn(&Json)) -> Result<ExitCode> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print(report);
    }
    Ok(ExitCode::SUCCESS)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let ok = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.cmd {
        Cmd::Commit {
            n,
            durable_n,
            runs,
            tmp,
            breakdown,
            cache_mb,
        } => {
            if let Some(mb) = cache_mb {
                let _ = CACHE_BYTES.set(mb << 20);
            }
            ok(commit_bench(
                n,
                durable_n,
                runs,
                tmp.as_deref(),
                breakdown,
                cli.json,
            ))
        }
        Cmd::OpenRead {
            n,
            runs,
            weft,
            repo,
            files,
            tmp,
        } => ok(open_read_bench(
            n,
            runs,
            &weft,
            repo.as_deref(),
            files,
            tmp.as_deref(),
            cli.json,
        )),
        Cmd::Disk {
            n,
            items,
            files,
            runs,
            tmp,
        } => print_or_json(
            &disk::disk_bench(n, items, files, runs, tmp.as_deref())?,
            cli.json,
            disk::print_disk,
        ),
        Cmd::GitClone {
            n,
            runs,
            ff,
            files,
            tmp,
        } => print_or_json(
            &sync::git_clone_bench(n, runs, files, ff, tmp.as_deref())?,
            cli.json,
            sync::print_git,
        ),
        Cmd::AutomergeSync { n, ff, runs } => print_or_json(
            &sync::automerge_sync_bench(n, ff, runs)?,
            cli.json,
            sync::print_automerge,
        ),
        Cmd::Protocol { n, ff } => {
            let (w, a) = protocol::protocol_bench(n, ff)?;
            if cli.json {
                println!("{}", json!({"weft": w, "automerge": a}));
            } else {
                protocol::print_protocol(&w, &a);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::WeftClone { n, runs, weft, tmp } => print_or_json(
            &sync::weft_clone_bench(&weft, n, runs, tmp.as_deref(), None)?,
            cli.json,
            sync::print_weft_clone,
        ),
        Cmd::WeftPull {
            n,
            ff,
            runs,
            weft,
            tmp,
        } => print_or_json(
            &sync::weft_pull_bench(&weft, n, ff, runs, tmp.as_deref(), None)?,
            cli.json,
            sync::print_weft_pull,
        ),
        Cmd::SyncAll {
            n,
            runs,
            automerge_runs,
            ff,
            files,
            weft,
            tmp,
        } => sync::sync_all(
            &n,
            runs,
            automerge_runs,
            ff,
            files,
            weft.as_deref(),
            tmp.as_deref(),
            cli.json,
        ),
        Cmd::TextTrace {
            per,
            limit,
            runs,
            open_runs,
            trace,
            tmp,
            no_sign_floor,
        } => {
            let opts = text::TextOpts {
                pers: per,
                limit,
                runs,
                open_runs,
                trace,
                tmp,
                sign_floor: !no_sign_floor,
            };
            let report = text::text_trace_bench(&opts, cli.json)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ui {
            changes,
            runs,
            weft,
            chromium,
            chromedriver,
            no_git,
            tmp,
        } => {
            let report = ui::ui_bench(&ui::UiOpts {
                changes,
                runs,
                weft,
                chromium,
                chromedriver,
                git: !no_git,
                tmp,
            })?;
            print_or_json(&report, cli.json, ui::print_ui)
        }
        Cmd::Todo {
            items,
            moves,
            per,
            runs,
            reads,
            tmp,
        } => {
            let report =
                todo::todo_bench(items, moves, &per, runs, reads, tmp.as_deref(), cli.json)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::TextApply {
            system,
            per,
            edits,
            out,
        } => ok(text::apply_main(&system, per, &edits, &out)),
        Cmd::OpenText { system, path, key } => ok(text::open_main(&system, &path, &key)),
        Cmd::Load {
            clients,
            secs,
            changes,
            mode,
            runs,
            keep_going,
            keep,
            weft,
            tmp,
        } => {
            let opts = load::LoadOpts {
                clients,
                secs,
                changes,
                mode,
                runs,
                tmp,
                keep_going,
                keep,
            };
            let report = load::load_bench(&weft, &opts)?;
            print_or_json(&report, cli.json, load::print_load)?;
            Ok(load::status(&report))
        }
    }
}

// ----- the workload -----

fn key(i: u64) -> String {
    format!("k/{}", i % 1000)
}

/// The sled page cache size for the repos this process builds, if `--cache-mb` overrides it.
static CACHE_BYTES: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// The options of every repo the bench builds: weft's defaults (`weft_store::Options`), the
/// given durability, and the sled cache `--cache-mb` asks for.
fn weft_options(durability: Durability) -> Options {
    let mut store = weft_store::Options::default();
    if let Some(bytes) = CACHE_BYTES.get() {
        store.cache_bytes = *bytes;
    }
    Options {
        durability,
        store,
        ..Options::default()
    }
}

/// Commits `n` single-op changes to `main`, then flushes. Returns the CID of the last change.
fn weft_workload(repo: &Repo, n: u64) -> Result<Option<Cid>> {
    weft_commits(repo, 0..n)
}

/// Commits the workload's changes `range` (change `i` sets `key(i)` to `i`) to `main`, one
/// transaction each, without flushing. Returns the CID of the last change.
fn commit_each(repo: &Repo, range: Range<u64>) -> Result<Option<Cid>> {
    let doc = repo.doc("main")?;
    let mut last = None;
    for i in range {
        let mut tx = repo.transaction(doc);
        tx.set(&key(i), Value::Int(i as i64))?;
        last = tx.commit()?.map(|c| c.cid);
    }
    Ok(last)
}

/// [`commit_each`], then a flush.
fn weft_commits(repo: &Repo, range: Range<u64>) -> Result<Option<Cid>> {
    let last = commit_each(repo, range)?;
    repo.flush()?;
    Ok(last)
}

/// The value the workload leaves under `k/1`.
fn expected_k1(n: u64) -> Option<i64> {
    (n > 1).then(|| {
        let last = n - 1;
        let base = last - last % 1000;
        (if base < last { base + 1 } else { base - 999 }) as i64
    })
}

/// Number and total bytes of the blocks in a store's log.
fn log_blocks(store: &weft_store::Store) -> Result<(u64, u64)> {
    let (mut count, mut bytes) = (0u64, 0u64);
    for r in store.records(weft_store::Pos(0)) {
        let (_, record) = r?;
        count += 1;
        bytes += record.block.len() as u64;
    }
    Ok((count, bytes))
}

// ----- commit -----

#[derive(Debug)]
struct WeftRun {
    secs: f64,
    change_bytes: usize,
    /// Blocks in the log (the workload's changes and the document's genesis) and their bytes.
    blocks: u64,
    block_bytes: u64,
    size_on_disk: u64,
    dir_bytes: u64,
    dir_allocated: u64,
}

/// One weft run: a fresh repo, `n` changes through the `Repo` API, one `flush`, timed; then the
/// sizes (the `.weft` directory after the repo is closed).
fn weft_run(n: u64, durability: Durability, tmp: Option<&Path>) -> Result<WeftRun> {
    let dir = match tmp {
        Some(t) => tempfile::tempdir_in(t)?,
        None => tempfile::tempdir()?,
    };
    let repo = Repo::init(dir.path(), weft_options(durability))?;
    let start = Instant::now();
    let last = weft_workload(&repo, n)?;
    let secs = start.elapsed().as_secs_f64();
    let last = last.context("no change was committed")?;
    let change_bytes = repo.block(&last)?.len();
    let doc = repo.doc("main")?;
    if let Some(want) = expected_k1(n) {
        let got = repo.state(doc).get("k/1")?;
        ensure!(
            got == Some(Value::Int(want)),
            "weft holds {got:?} for k/1, not {want}"
        );
    }
    let (blocks, block_bytes) = log_blocks(repo.store())?;
    let size_on_disk = repo.size_on_disk()?;
    drop(repo);
    let (dir_bytes, dir_allocated) = dir_size(&dir.path().join(weft_dag::WEFT_DIR))?;
    Ok(WeftRun {
        secs,
        change_bytes,
        blocks,
        block_bytes,
        size_on_disk,
        dir_bytes,
        dir_allocated,
    })
}

#[derive(Debug)]
struct AutomergeRun {
    secs: f64,
    saved_bytes: usize,
    change_bytes: usize,
}

fn automerge_run(n: u64) -> Result<AutomergeRun> {
    let start = Instant::now();
    let mut doc = AutoCommit::new();
    for i in 0..n {
        doc.put(ROOT, key(i), i as i64)?;
        doc.commit();
    }
    let saved = doc.save();
    let secs = start.elapsed().as_secs_f64();
    let change_bytes = doc
        .get_last_local_change()
        .map_or(0, |c| c.raw_bytes().len());
    if let Some(want) = expected_k1(n) {
        let got = doc.get(ROOT, "k/1")?.and_then(|(v, _)| v.to_i64());
        ensure!(
            got == Some(want),
            "automerge holds {got:?} for k/1, not {want}"
        );
    }
    Ok(AutomergeRun {
        secs,
        saved_bytes: saved.len(),
        change_bytes,
    })
}

/// What one run of `commit` runs; the order rotates from run to run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CommitPart {
    Manual,
    Automerge,
    Durable,
}

fn commit_bench(
    n: u64,
    durable_n: u64,
    runs: usize,
    tmp: Option<&Path>,
    breakdown: bool,
    as_json: bool,
) -> Result<()> {
    ensure!(n > 0 && runs > 0, "--n and --runs must be positive");
    let mut parts = vec![CommitPart::Manual, CommitPart::Automerge];
    if durable_n > 0 {
        parts.push(CommitPart::Durable);
    }
    let mut weft = Vec::new();
    let mut durable = Vec::new();
    let mut am = Vec::new();
    for r in 0..runs {
        // Run the parts back to back, rotating which goes first, so drift hits all alike.
        let mut order = parts.clone();
        order.rotate_left(r % parts.len());
        for part in &order {
            match part {
                CommitPart::Manual => weft.push(weft_run(n, Durability::Manual, tmp)?),
                CommitPart::Automerge => am.push(automerge_run(n)?),
                CommitPart::Durable => {
                    durable.push(weft_run(durable_n, Durability::EveryCommit, tmp)?)
                }
            }
        }
        if !as_json {
            eprintln!(
                "run {}/{runs} ({}): weft {:.0} changes/s, automerge {:.0} changes/s{}",
                r + 1,
                order
                    .iter()
                    .map(|p| format!("{p:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", "),
                n as f64 / weft[r].secs,
                n as f64 / am[r].secs,
                durable.get(r).map_or(String::new(), |d| format!(
                    ", weft durable {:.0} changes/s",
                    durable_n as f64 / d.secs
                ))
            );
        }
    }
    let weft_rates: Vec<f64> = weft.iter().map(|w| n as f64 / w.secs).collect();
    let am_rates: Vec<f64> = am.iter().map(|a| n as f64 / a.secs).collect();
    let durable_rates: Vec<f64> = durable.iter().map(|w| durable_n as f64 / w.secs).collect();
    let ratio =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x / y).collect() };
    let ratios = ratio(&weft_rates, &am_rates);
    let durable_ratios = ratio(&durable_rates, &weft_rates);
    let durable_am_ratios = ratio(&durable_rates, &am_rates);
    let (w_med, a_med, r_med) = (median(&weft_rates), median(&am_rates), median(&ratios));
    // Sizes are deterministic up to sled's allocation; report them from the last run.
    let wl = weft.last().context("no runs")?;
    let al = am.last().context("no runs")?;
    let per = |b: u64| b as f64 / n as f64;
    let parts_json = if breakdown {
        Some(weft_breakdown(n, tmp)?)
    } else {
        None
    };
    let tmp_dir = tmp
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let cache_bytes = weft_options(Durability::Manual).store.cache_bytes;
    let report = json!({
        "bench": "commit",
        "n": n,
        "durable_n": durable_n,
        "runs": runs,
        "machine": machine(&tmp_dir),
        "sled_cache_bytes": cache_bytes,
        "weft": {
            "durability": "Manual, one flush at the end",
            "changes_per_sec_median": w_med,
            "changes_per_sec": weft_rates,
            "secs": weft.iter().map(|w| w.secs).collect::<Vec<_>>(),
            "change_block_bytes": wl.change_bytes,
            "blocks": wl.blocks,
            "block_bytes": wl.block_bytes,
            "size_on_disk_bytes": wl.size_on_disk,
            "size_on_disk_per_change": per(wl.size_on_disk),
            "dir_bytes": wl.dir_bytes,
            "dir_bytes_per_change": per(wl.dir_bytes),
            "dir_allocated_bytes": wl.dir_allocated,
            "dir_allocated_per_change": per(wl.dir_allocated),
            "dir_bytes_over_block_bytes": wl.dir_bytes as f64 / wl.block_bytes as f64,
        },
        "weft_durable": if durable.is_empty() { Json::Null } else { json!({
            "durability": "EveryCommit (the log synced at every commit)",
            "n": durable_n,
            "changes_per_sec_median": median(&durable_rates),
            "changes_per_sec": durable_rates,
            "secs": durable.iter().map(|w| w.secs).collect::<Vec<_>>(),
            "ratio_over_manual_median": median(&durable_ratios),
            "ratios_over_manual": durable_ratios,
            "ratio_over_automerge_median": median(&durable_am_ratios),
            "ratios_over_automerge": durable_am_ratios,
        })},
        "automerge": {
            "version": "0.6",
            "changes_per_sec_median": a_med,
            "changes_per_sec": am_rates,
            "secs": am.iter().map(|a| a.secs).collect::<Vec<_>>(),
            "change_bytes": al.change_bytes,
            "saved_bytes": al.saved_bytes,
            "saved_bytes_per_change": al.saved_bytes as f64 / n as f64,
        },
        "ratio_weft_over_automerge_median": r_med,
        "ratios": ratios,
        "weft_breakdown": parts_json,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_machine(&report["machine"]);
    println!();
    println!(
        "commit: {n} single-op changes per run, {runs} runs (parts back to back, order rotating), \
         medians; sled cache {} MiB",
        cache_bytes >> 20
    );
    let durable_head = if durable.is_empty() {
        String::new()
    } else {
        format!("weft durable ({})", fmt_int(durable_n as f64))
    };
    println!(
        "{:<44} {:>14} {:>14} {:>22}",
        "", "weft", "automerge", durable_head
    );
    let spread = |xs: &[f64]| format!("{}..{}", fmt_int(min(xs)), fmt_int(max(xs)));
    let d_med = if durable.is_empty() {
        String::new()
    } else {
        fmt_int(median(&durable_rates))
    };
    println!(
        "{:<44} {:>14} {:>14} {:>22}",
        "changes/s (median)",
        fmt_int(w_med),
        fmt_int(a_med),
        d_med
    );
    println!(
        "{:<44} {:>14} {:>14} {:>22}",
        "changes/s (min .. max)",
        spread(&weft_rates),
        spread(&am_rates),
        if durable.is_empty() {
            String::new()
        } else {
            spread(&durable_rates)
        }
    );
    println!(
        "{:<44} {:>14.3}",
        "ratio weft/automerge (median of runs)", r_med
    );
    if !durable.is_empty() {
        println!(
            "{:<44} {:>14.3}",
            "ratio weft durable/weft (median of runs)",
            median(&durable_ratios)
        );
        println!(
            "{:<44} {:>14.4}",
            "ratio weft durable/automerge (median)",
            median(&durable_am_ratios)
        );
    }
    println!(
        "{:<44} {:>14} {:>14}",
        "bytes of one single-op change", wl.change_bytes, al.change_bytes
    );
    println!(
        "{:<44} {:>14.1}",
        "weft block bytes in the log / N",
        per(wl.block_bytes)
    );
    println!(
        "{:<44} {:>14.1}",
        "weft Repo::size_on_disk / N",
        per(wl.size_on_disk)
    );
    println!(
        "{:<44} {:>14.1}",
        "weft .weft dir, sum of file lengths / N",
        per(wl.dir_bytes)
    );
    println!(
        "{:<44} {:>14.1}",
        "weft .weft dir, allocated blocks / N",
        per(wl.dir_allocated)
    );
    println!(
        "{:<44} {:>14} {:>14.1}",
        "automerge save().len() / N",
        "",
        al.saved_bytes as f64 / n as f64
    );
    println!(
        "{:<44} {:>14} {:>14}",
        "totals: blocks | dir | save()",
        format!(
            "{} | {}",
            fmt_int(wl.block_bytes as f64),
            fmt_int(wl.dir_bytes as f64)
        ),
        fmt_int(al.saved_bytes as f64)
    );
    if let Some(p) = report["weft_breakdown"].as_object() {
        let f = |k: &str| p.get(k).and_then(Json::as_f64).unwrap_or(f64::NAN);
        println!();
        println!("weft commit breakdown (separate loops over the public APIs, µs per change):");
        let rows = [
            (
                "whole commit path (tx.set + commit), no flush",
                "us_total_commit_no_flush",
            ),
            (
                "  tx.set alone (reads the key's state)",
                "us_tx_set_without_commit",
            ),
            (
                "  Repo::heads + Repo::change_count",
                "us_heads_and_author_seq_reads",
            ),
            (
                "  Change::sign (1 encode + ed25519 + blake3)",
                "us_change_sign",
            ),
            (
                "    one DAG-CBOR encode (signing_bytes)",
                "us_signing_bytes_one_encode",
            ),
            ("    ed25519 sign", "us_ed25519_sign"),
            ("    blake3 CID", "us_blake3_cid"),
        ];
        for (label, k) in rows {
            println!("  {label:<50} {:>10.2}", f(k));
        }
        println!(
            "  {:<50} {:>10.1}",
            "final flush (ms, total)",
            f("ms_final_flush_total")
        );
    }
    Ok(())
}

/// Times the parts of a weft commit separately, through public APIs only. Each part runs the
/// workload's shape `n` times; the figures are µs per change.
fn weft_breakdown(n: u64, tmp: Option<&Path>) -> Result<Json> {
    let per_us = |start: Instant| start.elapsed().as_secs_f64() * 1e6 / n as f64;

    // 1. The whole commit path, as in the benchmark.
    let dir = match tmp {
        Some(t) => tempfile::tempdir_in(t)?,
        None => tempfile::tempdir()?,
    };
    let repo = Repo::init(dir.path(), weft_options(Durability::Manual))?;
    let doc = repo.doc("main")?;
    let t = Instant::now();
    let last = commit_each(&repo, 0..n)?;
    let total = per_us(t);
    let t = Instant::now();
    repo.flush()?;
    let flush_ms = t.elapsed().as_secs_f64() * 1e3;

    // 2. Transaction building only (state read for `pred`), dropped without commit.
    let t = Instant::now();
    for i in 0..n {
        let mut tx = repo.transaction(doc);
        tx.set(&key(i), Value::Int(i as i64))?;
    }
    let tx_build = per_us(t);

    // 3. Reads commit does before signing: the heads, and the author's sequence number (one
    //    `author_seq` entry, which `change_count` reads for the one author here).
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(repo.heads(doc)?);
        std::hint::black_box(repo.change_count(doc)?);
    }
    let reads = per_us(t);

    // 4. Sign + encode (one DAG-CBOR encode, ed25519, blake3) of an equivalent change.
    let identity = Identity::generate();
    let parent = last.context("no change")?;
    let mk = |i: u64| Change {
        doc: Some(doc),
        parents: vec![parent],
        author: identity.author(),
        seq: i + 1,
        height: i + 2,
        time: 1_700_000_000_000 + i,
        ops: vec![Op::Set {
            key: key(i),
            value: Value::Int(i as i64),
            pred: vec![],
        }],
        sig: [0; 64],
    };
    let t = Instant::now();
    let mut encoded = Vec::with_capacity(n as usize);
    for i in 0..n {
        encoded.push(mk(i).sign(&identity));
    }
    let sign_encode = per_us(t);
    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box(mk(i).signing_bytes());
    }
    let encode_only = per_us(t);
    let msg = mk(0).signing_bytes();
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(identity.sign(&msg));
    }
    let ed25519 = per_us(t);
    let t = Instant::now();
    for e in &encoded {
        std::hint::black_box(Cid::hash(weft_dag::Codec::DagCbor, &e.bytes));
    }
    let blake3 = per_us(t);
    drop(repo);
    Ok(json!({
        "us_total_commit_no_flush": total,
        "ms_final_flush_total": flush_ms,
        "us_tx_set_without_commit": tx_build,
        "us_heads_and_author_seq_reads": reads,
        "us_change_sign": sign_encode,
        "us_signing_bytes_one_encode": encode_only,
        "us_ed25519_sign": ed25519,
        "us_blake3_cid": blake3,
    }))
}

// ----- open-read -----

/// Spawns `prog args` with stdout discarded and returns the milliseconds from spawn to exit;
/// fails with one line unless it succeeds.
fn time_command(prog: &Path, args: &[String], envs: &[(&str, &str)]) -> Result<f64> {
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for k in ["WEFT_DIR", "WEFT_IDENTITY", "GIT_DIR", "GIT_WORK_TREE"] {
        cmd.env_remove(k);
    }
    cmd.envs(envs.iter().copied());
    let start = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("running {}", prog.display()))?;
    let out = child.wait_with_output()?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        bail!(
            "`{} {}` failed ({}): {}",
            prog.display(),
            args.join(" "),
            out.status,
            proc::first_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(ms)
}

/// Runs `prog args` once, untimed (it checks the command works and warms the page cache), and
/// returns the first line of its output.
fn warm_up(prog: &Path, args: &[String], envs: &[(&str, &str)]) -> Result<String> {
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(Stdio::null());
    for k in ["WEFT_DIR", "WEFT_IDENTITY", "GIT_DIR", "GIT_WORK_TREE"] {
        cmd.env_remove(k);
    }
    cmd.envs(envs.iter().copied());
    let out = cmd
        .output()
        .with_context(|| format!("running {}", prog.display()))?;
    if !out.status.success() {
        bail!(
            "`{} {}` failed ({}): {}",
            prog.display(),
            args.join(" "),
            out.status,
            proc::first_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string())
}

fn ms_stats(ms: &[f64]) -> Json {
    json!({ "median_ms": median(ms), "min_ms": min(ms), "max_ms": max(ms), "ms": ms })
}

#[allow(clippy::too_many_arguments)]
fn open_read_bench(
    n: u64,
    runs: usize,
    weft: &Path,
    repo: Option<&Path>,
    files: u64,
    tmp: Option<&Path>,
    as_json: bool,
) -> Result<()> {
    ensure!(runs > 0 && n > 0, "--n and --runs must be positive");
    let weft = fs::canonicalize(weft).with_context(|| {
        format!(
            "no weft binary at {} (build it with `cargo build --release -p weft-cli` in the root)",
            weft.display()
        )
    })?;
    let git_version = git::version()?;
    let scratch = match tmp {
        Some(t) => tempfile::tempdir_in(t)?,
        None => tempfile::tempdir()?,
    };
    let (root, built_secs, n_changes) = match repo {
        Some(root) if root.join(weft_dag::WEFT_DIR).exists() => (root.to_path_buf(), None, None),
        Some(root) => {
            fs::create_dir_all(root)?;
            let secs = build_repo(root, n)?;
            (root.to_path_buf(), Some(secs), Some(n))
        }
        None => {
            let root = scratch.path().join("weft");
            fs::create_dir_all(&root)?;
            let secs = build_repo(&root, n)?;
            (root, Some(secs), Some(n))
        }
    };
    eprintln!("git: building a repository of {n} commits over {files} file(s) ...");
    let g = git::build(&scratch.path().join("git.git"), n, files, scratch.path())?;
    let (dir_bytes, _) = dir_size(&root.join(weft_dag::WEFT_DIR))?;
    let root_s = root.to_string_lossy().to_string();
    let git_s = g.path.to_string_lossy().to_string();
    let git_bin = PathBuf::from("git");
    let genv: Vec<(&str, &str)> = git::GIT_ENV.to_vec();
    let weft_get: Vec<String> = ["-C", &root_s, "get", "k/1"].map(String::from).to_vec();
    let git_cat: Vec<String> = ["-C", &git_s, "cat-file", "-p", "HEAD"]
        .map(String::from)
        .to_vec();
    let weft_log: Vec<String> = ["-C", &root_s, "log", "-n", "10"]
        .map(String::from)
        .to_vec();

    // One untimed run of each: checks the command works, warms the page cache, and outlasts
    // any lock the building process still held.
    let get_line = warm_up(&weft, &weft_get, &[])?;
    let cat_line = warm_up(&git_bin, &git_cat, &genv)?;
    let log_line = warm_up(&weft, &weft_log, &[])?;
    if let Some(want) = n_changes.and_then(expected_k1) {
        ensure!(
            get_line == want.to_string(),
            "`weft get k/1` printed {get_line:?}, expected {want}"
        );
    }

    // weft get and git cat-file, back to back in every run, alternating which goes first.
    let (mut get_ms, mut cat_ms) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for r in 0..runs {
        if r % 2 == 0 {
            get_ms.push(time_command(&weft, &weft_get, &[])?);
            cat_ms.push(time_command(&git_bin, &git_cat, &genv)?);
        } else {
            cat_ms.push(time_command(&git_bin, &git_cat, &genv)?);
            get_ms.push(time_command(&weft, &weft_get, &[])?);
        }
    }
    let ratios: Vec<f64> = get_ms.iter().zip(&cat_ms).map(|(w, g)| w / g).collect();
    let mut log_ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        log_ms.push(time_command(&weft, &weft_log, &[])?);
    }
    let report = json!({
        "bench": "open-read",
        "n": n_changes,
        "git_n": n,
        "git_files": files,
        "git_version": git_version,
        "runs": runs,
        "weft_binary": weft.to_string_lossy(),
        "repo": root_s,
        "repo_built_secs": built_secs,
        "repo_dir_bytes": dir_bytes,
        "git_build": {
            "fast_import_secs": g.import_secs,
            "repack_secs": g.repack_secs,
            "pack_bytes": g.pack_bytes,
        },
        "expected_k1": n_changes.and_then(expected_k1),
        "machine": machine(&root),
        "order": "each run: weft get and git cat-file back to back, alternating which goes first",
        "commands": [
            json!({ "command": "weft -C DIR get k/1", "first_output_line": get_line }),
            json!({ "command": "git -C DIR cat-file -p HEAD", "first_output_line": cat_line }),
            json!({ "command": "weft -C DIR log -n 10", "first_output_line": log_line }),
        ],
        "weft_get": ms_stats(&get_ms),
        "git_cat_file": ms_stats(&cat_ms),
        "ratio_weft_get_over_git_cat_file": {
            "median": median(&ratios), "min": min(&ratios), "max": max(&ratios), "samples": ratios,
        },
        "weft_log": ms_stats(&log_ms),
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_machine(&report["machine"]);
    println!();
    match n_changes {
        Some(n) => println!(
            "open-read: repo of {n} changes built in {:.1}s ({} bytes in .weft); git repository of \
             {n} commits over {files} file(s) ({} pack bytes); {runs} timed runs each",
            built_secs.unwrap_or(0.0),
            fmt_int(dir_bytes as f64),
            fmt_int(g.pack_bytes as f64)
        ),
        None => println!(
            "open-read: existing repo {root_s} ({} bytes in .weft); git repository of {n} commits \
             over {files} file(s); {runs} timed runs each",
            fmt_int(dir_bytes as f64)
        ),
    }
    println!(
        "{:<34} {:>10} {:>10} {:>10}   first output line",
        "spawn to exit", "median ms", "min ms", "max ms"
    );
    let line = |name: &str, s: &Json, first: &str| {
        println!(
            "{:<34} {:>10.2} {:>10.2} {:>10.2}   {}",
            name,
            s["median_ms"].as_f64().unwrap_or(f64::NAN),
            s["min_ms"].as_f64().unwrap_or(f64::NAN),
            s["max_ms"].as_f64().unwrap_or(f64::NAN),
            first
        );
    };
    line("weft -C DIR get k/1", &report["weft_get"], &get_line);
    line(
        "git -C DIR cat-file -p HEAD",
        &report["git_cat_file"],
        &cat_line,
    );
    println!(
        "{:<34} {:>10.2} {:>10.2} {:>10.2}   (per-run ratios, median)",
        "ratio weft get / git cat-file",
        median(&ratios),
        min(&ratios),
        max(&ratios)
    );
    line(
        "weft -C DIR log -n 10 (weft only)",
        &report["weft_log"],
        &log_line,
    );
    Ok(())
}

/// Builds a repo of `n` changes at `root` and drops it. Returns the seconds it took.
fn build_repo(root: &Path, n: u64) -> Result<f64> {
    let start = Instant::now();
    let repo = Repo::init(root, weft_options(Durability::Manual))?;
    weft_workload(&repo, n)?;
    drop(repo);
    Ok(start.elapsed().as_secs_f64())
}

// ----- helpers -----

/// Sum of file lengths and of allocated bytes (st_blocks * 512) under `dir`.
fn dir_size(dir: &Path) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut len = 0;
    let mut alloc = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                len += meta.len();
                alloc += meta.blocks() * 512;
            }
        }
    }
    Ok((len, alloc))
}

/// Copies a directory tree (regular files and directories only).
fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    for entry in fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            fs::copy(entry.path(), &to)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn rm_rf(p: &Path) {
    let _ = fs::remove_dir_all(p);
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn median(xs: &[f64]) -> f64 {
    let v = sorted(xs);
    match v.len() {
        0 => f64::NAN,
        l if l % 2 == 1 => v[l / 2],
        l => (v[l / 2 - 1] + v[l / 2]) / 2.0,
    }
}

fn min(xs: &[f64]) -> f64 {
    sorted(xs).first().copied().unwrap_or(f64::NAN)
}

fn max(xs: &[f64]) -> f64 {
    sorted(xs).last().copied().unwrap_or(f64::NAN)
}

fn fmt_int(x: f64) -> String {
    let s = format!("{:.0}", x);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

fn run_text(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The filesystem type of the mount holding `path`, from /proc/mounts.
fn fs_type(path: &Path) -> Option<String> {
    let path = fs::canonicalize(path).ok()?;
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, mnt, ty) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mnt).then(|| (mnt.len(), ty.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, ty)| ty)
}

fn machine(data_dir: &Path) -> Json {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let nproc = run_text("nproc", &[])
        .and_then(|s| s.parse::<u64>().ok())
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as u64)
        });
    let mem_total_kb = fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root_s = root.to_string_lossy().to_string();
    let git_rev = run_text("git", &["-C", &root_s, "rev-parse", "--short", "HEAD"]);
    let git_dirty =
        run_text("git", &["-C", &root_s, "status", "--porcelain"]).map(|s| !s.is_empty());
    json!({
        "nproc": nproc,
        "cpu_model": cpu_model,
        "mem_total_kb": mem_total_kb,
        "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string()),
        "loadavg": fs::read_to_string("/proc/loadavg").ok().map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")),
        "rustc": env!("WEFT_BENCH_RUSTC"),
        "data_dir": data_dir.to_string_lossy(),
        "data_dir_fs": fs_type(data_dir),
        "git_rev": git_rev,
        "git_dirty": git_dirty,
    })
}

fn print_machine(m: &Json) {
    let s = |k: &str| match &m[k] {
        Json::String(s) => s.clone(),
        Json::Null => "?".into(),
        other => other.to_string(),
    };
    println!(
        "machine: {} CPUs (nproc), {}, {} MiB RAM, Linux {}",
        s("nproc"),
        s("cpu_model"),
        m["mem_total_kb"]
            .as_u64()
            .map_or("?".into(), |k| (k / 1024).to_string()),
        s("kernel")
    );
    println!(
        "load:    {} (1, 5, 15 min, when the report was made)",
        s("loadavg")
    );
    println!(
        "build:   {}, release; data dir {} ({}); weft git {}{}",
        s("rustc"),
        s("data_dir"),
        s("data_dir_fs"),
        s("git_rev"),
        if m["git_dirty"].as_bool() == Some(true) {
            " (dirty)"
        } else {
            ""
        }
    );
}
