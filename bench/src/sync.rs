//! Sync benchmarks: `git clone`/`git fetch` and Automerge's sync protocol as baselines, weft's
//! `clone`/`pull` through the `weft` CLI (stdio over an ssh stand-in, and TCP), and `sync-all`,
//! which runs weft and git back to back in every run.
//!
//! See README.md for what each figure means and how round trips are counted.

use std::{
    collections::HashSet,
    ffi::{OsStr, OsString},
    fs,
    ops::Range,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::Instant,
};

use anyhow::{bail, ensure, Context, Result};
use automerge::{
    sync::{self, SyncDoc},
    transaction::Transactable,
    AutoCommit, ChangeHash, ROOT,
};
use serde_json::{json, Value as Json};
use tempfile::TempDir;
use weft_dag::{Durability, Repo};

use crate::{
    build_repo, copy_dir, dir_size, expected_k1, fmt_int, git, key, machine, max, median, min,
    print_machine,
    proc::{first_line, hint, run_measured, Measured, Server},
    rm_rf, weft_commits, weft_options,
};

fn tempdir(tmp: Option<&Path>) -> Result<TempDir> {
    Ok(match tmp {
        Some(t) => tempfile::Builder::new()
            .prefix("weft-bench-sync")
            .tempdir_in(t)?,
        None => tempfile::Builder::new()
            .prefix("weft-bench-sync")
            .tempdir()?,
    })
}

fn stats(xs: &[f64]) -> Json {
    json!({ "median": median(xs), "min": min(xs), "max": max(xs), "samples": xs })
}

fn os(s: impl AsRef<OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

// ===================================================================================== git ===

/// A copy of the repository `src` with the workload's commits `n .. n + ff` on top: the source
/// of a timed fetch.
fn git_source_ff(src: &git::GitRepo, dst: &Path, ff: u64, scratch: &Path) -> Result<()> {
    copy_dir(&src.path, dst)?;
    git::fast_import(dst, src.n..src.n + ff, src.files, true, scratch)
}

/// `git-clone`: see README.md.
pub fn git_clone_bench(
    n: u64,
    runs: usize,
    files: u64,
    ff: u64,
    tmp: Option<&Path>,
) -> Result<Json> {
    ensure!(n > 0 && runs > 0, "--n and --runs must be positive");
    let version = git::version()?;
    let dir = tempdir(tmp)?;
    let d = dir.path();
    eprintln!("git: building a repository of {n} commits (fast-import, repack -a -d -f) ...");
    let src = git::build(&d.join("src.git"), n, files, d)?;
    let mut secs = Vec::new();
    let mut rss = Vec::new();
    let mut pack_bytes = Vec::new();
    let base = d.join("clone-0.git");
    for r in 0..runs {
        eprintln!("git: clone {}/{runs} ...", r + 1);
        let dst = d.join(format!("clone-{r}.git"));
        let (m, bytes) = git::clone(&src.path, &dst, d)?;
        if r == 0 {
            git::check_count(&dst, n)?;
        } else {
            rm_rf(&dst);
        }
        secs.push(m.secs);
        rss.push(m.maxrss_kb as f64);
        pack_bytes.push(bytes as f64);
    }
    let mut fetch = Json::Null;
    if ff > 0 {
        eprintln!("git: fetch of {ff} new commits ...");
        let src2 = d.join("src-ff.git");
        git_source_ff(&src, &src2, ff, d)?;
        let (mut fsecs, mut frss, mut fbytes) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..runs {
            let work = d.join(format!("fetch-{r}.git"));
            copy_dir(&base, &work)?;
            let (m, bytes) = git::fetch(&work, &src2, d)?;
            if r == 0 {
                git::check_count(&work, n + ff)?;
            }
            rm_rf(&work);
            fsecs.push(m.secs);
            frss.push(m.maxrss_kb as f64);
            fbytes.push(bytes as f64);
        }
        fetch = json!({
            "ff": ff,
            "command": git::FETCH_COMMAND,
            "secs": stats(&fsecs),
            "maxrss_kb": stats(&frss),
            "pack_bytes": stats(&fbytes),
            "pack_bytes_per_new_commit": median(&fbytes) / ff as f64,
        });
    }
    Ok(json!({
        "bench": "git-clone",
        "n": n,
        "runs": runs,
        "files": files,
        "git_version": version,
        "machine": machine(d),
        "build": {
            "fast_import_secs": src.import_secs,
            "repack_secs": src.repack_secs,
            "source_pack_bytes": src.pack_bytes,
        },
        "clone": {
            "command": "git clone --no-local --bare -q SRC DST",
            "secs": stats(&secs),
            "maxrss_kb": stats(&rss),
            "pack_bytes": stats(&pack_bytes),
            "pack_bytes_per_commit": median(&pack_bytes) / n as f64,
        },
        "fetch": fetch,
    }))
}

pub fn print_git(r: &Json) {
    print_machine(&r["machine"]);
    println!();
    print_git_body(r);
}

fn print_git_body(r: &Json) {
    println!(
        "git-clone: {} commits, each changing one line in {} (git {}); {} runs, medians",
        fmt_int(r["n"].as_f64().unwrap_or(0.0)),
        if r["files"].as_u64().unwrap_or(1) <= 1 {
            "the file k".to_string()
        } else {
            format!("one of {} files", r["files"])
        },
        r["git_version"]
            .as_str()
            .unwrap_or("?")
            .trim_start_matches("git version "),
        r["runs"]
    );
    println!(
        "  source built in {:.1} s (fast-import) + {:.1} s (repack -a -d -f); source pack {} bytes",
        f(&r["build"]["fast_import_secs"]),
        f(&r["build"]["repack_secs"]),
        fmt_int(f(&r["build"]["source_pack_bytes"]))
    );
    let row = |label: &str, x: &Json, per: &str, per_v: f64| {
        println!(
            "  {label:<34} {:>10}  (min {} max {})   peak RSS {:>10}   pack {:>12} bytes = {:.1} bytes/{per}",
            fmt_secs(f(&x["secs"]["median"])),
            fmt_secs(f(&x["secs"]["min"])),
            fmt_secs(f(&x["secs"]["max"])),
            fmt_kb(f(&x["maxrss_kb"]["median"])),
            fmt_int(f(&x["pack_bytes"]["median"])),
            per_v
        );
    };
    row(
        "git clone --no-local --bare",
        &r["clone"],
        "commit",
        f(&r["clone"]["pack_bytes_per_commit"]),
    );
    if r["fetch"].is_object() {
        row(
            &format!("git fetch of +{} commits", fmt_int(f(&r["fetch"]["ff"]))),
            &r["fetch"],
            "new commit",
            f(&r["fetch"]["pack_bytes_per_new_commit"]),
        );
    }
}

// =============================================================================== automerge ===

/// One sync session, counted.
#[derive(Debug, Default)]
struct Flights {
    /// Messages sent, in either direction.
    flights: u64,
    bytes_from_initiator: u64,
    bytes_to_initiator: u64,
    /// Sum of the `changes` chunks inside the messages (raw changes, or a compressed document
    /// when Automerge sends the whole document to an empty peer).
    payload_bytes: u64,
    /// Messages sent until both sides first held the same heads (the rest are
    /// acknowledgements).
    flights_to_converge: u64,
}

fn same_heads(a: &mut AutoCommit, b: &mut AutoCommit) -> bool {
    let (mut x, mut y) = (a.get_heads(), b.get_heads());
    x.sort();
    y.sort();
    x == y
}

/// Runs the sync loop until neither side has anything to send: the initiator generates a
/// message and the responder receives it, then the responder generates one and the initiator
/// receives it; the loop stops after a pass in which both generate `None`. Every message is
/// encoded to bytes and decoded again, as it would be on a wire.
fn am_exchange(
    init: &mut AutoCommit,
    resp: &mut AutoCommit,
    si: &mut sync::State,
    sr: &mut sync::State,
) -> Result<Flights> {
    let mut f = Flights::default();
    loop {
        let mut sent = false;
        let msg = init.sync().generate_sync_message(si);
        if let Some(m) = msg {
            f.payload_bytes += m.changes.iter().map(|c| c.len() as u64).sum::<u64>();
            let bytes = m.encode();
            f.flights += 1;
            f.bytes_from_initiator += bytes.len() as u64;
            resp.sync()
                .receive_sync_message(sr, sync::Message::decode(&bytes)?)?;
            sent = true;
            if f.flights_to_converge == 0 && same_heads(init, resp) {
                f.flights_to_converge = f.flights;
            }
        }
        let msg = resp.sync().generate_sync_message(sr);
        if let Some(m) = msg {
            f.payload_bytes += m.changes.iter().map(|c| c.len() as u64).sum::<u64>();
            let bytes = m.encode();
            f.flights += 1;
            f.bytes_to_initiator += bytes.len() as u64;
            init.sync()
                .receive_sync_message(si, sync::Message::decode(&bytes)?)?;
            sent = true;
            if f.flights_to_converge == 0 && same_heads(init, resp) {
                f.flights_to_converge = f.flights;
            }
        }
        if !sent {
            return Ok(f);
        }
        ensure!(
            f.flights < 100_000,
            "automerge sync did not settle after 100,000 messages"
        );
    }
}

/// Commits one single-op change per `i` in `range`: `put(ROOT, key(i), value(i))`.
fn am_commits(doc: &mut AutoCommit, range: Range<u64>, value: impl Fn(u64) -> i64) -> Result<()> {
    for i in range {
        doc.put(ROOT, key(i), value(i))?;
        doc.commit();
    }
    Ok(())
}

fn am_hashes(doc: &mut AutoCommit) -> HashSet<ChangeHash> {
    doc.get_changes(&[]).iter().map(|c| c.hash()).collect()
}

/// The changes `doc` holds that are not in `before`: how many, and their raw bytes.
fn am_new_changes(doc: &mut AutoCommit, before: &HashSet<ChangeHash>) -> (u64, u64) {
    doc.get_changes(&[])
        .iter()
        .filter(|c| !before.contains(&c.hash()))
        .fold((0, 0), |(n, b), c| (n + 1, b + c.raw_bytes().len() as u64))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    Clone,
    FastForward,
    Diverge,
}

struct AmRun {
    secs: f64,
    f: Flights,
    changes_to_initiator: u64,
    changes_to_responder: u64,
    raw_change_bytes: u64,
}

fn am_scenario(
    base: &mut AutoCommit,
    n: u64,
    ff: u64,
    sc: Scenario,
    resumed: bool,
) -> Result<AmRun> {
    let (mut init, mut resp) = match sc {
        Scenario::Clone => (AutoCommit::new(), base.fork()),
        _ => (base.fork(), base.fork()),
    };
    let (mut si, mut sr) = (sync::State::new(), sync::State::new());
    if resumed {
        // A session while both hold the same N changes, then the peer states are persisted
        // (`State::encode` keeps the shared heads) and reloaded, as an app does between
        // connections.
        am_exchange(&mut init, &mut resp, &mut si, &mut sr)?;
        si = sync::State::decode(&si.encode())?;
        sr = sync::State::decode(&sr.encode())?;
    }
    match sc {
        Scenario::Clone => {}
        // The responder is ahead; the initiator pulls.
        Scenario::FastForward => am_commits(&mut resp, n..n + ff, |i| i as i64)?,
        Scenario::Diverge => {
            am_commits(&mut init, n..n + ff, |i| i as i64)?;
            am_commits(&mut resp, n..n + ff, |i| -(i as i64) - 1)?;
        }
    }
    let (bi, br) = (am_hashes(&mut init), am_hashes(&mut resp));
    let t = Instant::now();
    let f = am_exchange(&mut init, &mut resp, &mut si, &mut sr)?;
    let secs = t.elapsed().as_secs_f64();
    ensure!(
        same_heads(&mut init, &mut resp),
        "automerge peers have different heads after sync"
    );
    let (ci, bytes_i) = am_new_changes(&mut init, &bi);
    let (cr, bytes_r) = am_new_changes(&mut resp, &br);
    Ok(AmRun {
        secs,
        f,
        changes_to_initiator: ci,
        changes_to_responder: cr,
        raw_change_bytes: bytes_i + bytes_r,
    })
}

/// `automerge-sync`: see README.md.
pub fn automerge_sync_bench(n: u64, ff: u64, runs: usize) -> Result<Json> {
    ensure!(n > 0 && runs > 0, "--n and --runs must be positive");
    eprintln!("automerge: building a document of {n} single-op changes ...");
    let mut base = AutoCommit::new();
    am_commits(&mut base, 0..n, |i| i as i64)?;
    let scenarios = [
        (
            "clone",
            "an empty peer syncs from one with N changes",
            Scenario::Clone,
            false,
        ),
        (
            "fast-forward",
            "both hold N, one adds ff, the other starts a fresh session",
            Scenario::FastForward,
            false,
        ),
        (
            "fast-forward, resumed",
            "as above, with sync states persisted from an earlier session",
            Scenario::FastForward,
            true,
        ),
        (
            "diverge",
            "both hold N, each adds ff different changes, fresh session",
            Scenario::Diverge,
            false,
        ),
        (
            "diverge, resumed",
            "as above, with sync states persisted from an earlier session",
            Scenario::Diverge,
            true,
        ),
    ];
    let mut out = Vec::new();
    for (name, what, sc, resumed) in scenarios {
        eprintln!("automerge: {name} ({runs} runs) ...");
        let mut secs = Vec::new();
        let mut total = Vec::new();
        let mut last = None;
        for _ in 0..runs {
            let r = am_scenario(&mut base, n, ff, sc, resumed)?;
            secs.push(r.secs);
            total.push((r.f.bytes_from_initiator + r.f.bytes_to_initiator) as f64);
            last = Some(r);
        }
        let r = last.context("no runs")?;
        let new_changes = r.changes_to_initiator + r.changes_to_responder;
        let wire = median(&total);
        out.push(json!({
            "scenario": name,
            "what": what,
            "secs": stats(&secs),
            "flights": r.f.flights,
            "round_trips": r.f.flights.div_ceil(2),
            "flights_to_converge": r.f.flights_to_converge,
            "round_trips_to_converge": r.f.flights_to_converge.div_ceil(2),
            "bytes_from_initiator": r.f.bytes_from_initiator,
            "bytes_to_initiator": r.f.bytes_to_initiator,
            "bytes_total": stats(&total),
            "payload_bytes": r.f.payload_bytes,
            "changes_to_initiator": r.changes_to_initiator,
            "changes_to_responder": r.changes_to_responder,
            "raw_change_bytes": r.raw_change_bytes,
            "bytes_per_new_change": if new_changes > 0 { wire / new_changes as f64 } else { f64::NAN },
        }));
    }
    Ok(json!({
        "bench": "automerge-sync",
        "n": n,
        "ff": ff,
        "runs": runs,
        "automerge_version": "0.6",
        "machine": machine(&std::env::temp_dir()),
        "scenarios": out,
    }))
}

pub fn print_automerge(r: &Json) {
    print_machine(&r["machine"]);
    println!();
    print_automerge_body(r);
}

fn print_automerge_body(r: &Json) {
    println!(
        "automerge-sync: N = {}, ff = {}; in-process, two AutoCommit docs, messages encoded and \
         decoded; time: median of {} runs",
        fmt_int(f(&r["n"])),
        fmt_int(f(&r["ff"])),
        r["runs"]
    );
    println!(
        "  {:<24} {:>9} {:>7} {:>5} {:>9} {:>12} {:>12} {:>12} {:>9} {:>12} {:>9}",
        "scenario",
        "time",
        "flights",
        "RTs",
        "RTs conv.",
        "bytes i->r",
        "bytes r->i",
        "payload",
        "new chg",
        "raw chg B",
        "B/new chg"
    );
    for s in r["scenarios"].as_array().into_iter().flatten() {
        println!(
            "  {:<24} {:>9} {:>7} {:>5} {:>9} {:>12} {:>12} {:>12} {:>9} {:>12} {:>9.1}",
            s["scenario"].as_str().unwrap_or(""),
            fmt_secs(f(&s["secs"]["median"])),
            fmt_int(f(&s["flights"])),
            fmt_int(f(&s["round_trips"])),
            fmt_int(f(&s["round_trips_to_converge"])),
            fmt_int(f(&s["bytes_from_initiator"])),
            fmt_int(f(&s["bytes_to_initiator"])),
            fmt_int(f(&s["payload_bytes"])),
            fmt_int(f(&s["changes_to_initiator"]) + f(&s["changes_to_responder"])),
            fmt_int(f(&s["raw_change_bytes"])),
            f(&s["bytes_per_new_change"])
        );
    }
    println!(
        "  i = initiator (the empty or behind peer; in diverge, either), r = responder; \
         RTs = ceil(flights / 2); RTs conv. = ceil(flights until both hold the same heads / 2); \
         payload = change chunks inside the messages; raw chg B = raw bytes of the changes \
         new to each side; B/new chg = (bytes i->r + r->i) / new changes"
    );
}

// ==================================================================================== weft ===

/// The absolute path of the `weft` binary, or a one-line error.
pub fn weft_bin(weft: &Path) -> Result<PathBuf> {
    fs::canonicalize(weft).with_context(|| {
        format!(
            "no weft binary at {} (build it with `cargo build --release -p weft-cli` in the root)",
            weft.display()
        )
    })
}

/// Fails with one line unless `weft` knows each of `commands` (`weft CMD --help` succeeds).
fn preflight(weft: &Path, commands: &[&str]) -> Result<()> {
    for c in commands {
        let out = Command::new(weft)
            .args([c, "--help"])
            .env_remove("WEFT_DIR")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", weft.display()))?;
        if !out.status.success() {
            let e = String::from_utf8_lossy(&out.stderr);
            let l = first_line(&e);
            bail!(
                "`weft {c}` is not available ({}): {l}{}",
                out.status,
                hint(l)
            );
        }
    }
    Ok(())
}

/// Writes the `WEFT_SSH` stand-in into `dir`: it skips ssh's options and the host, then runs
/// the remote command locally as sshd would (the words joined with spaces, through `sh -c`),
/// with the leading `weft` replaced by the binary under test.
fn write_ssh_standin(dir: &Path, weft: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let quoted = format!("'{}'", weft.to_string_lossy().replace('\'', r"'\''"));
    let script = format!(
        r#"#!/bin/sh
# ssh stand-in written by weft-bench: skips the options and the host, then runs the remote
# command here, as sshd would, with `weft` replaced by the binary under test.
while [ $# -gt 0 ]; do
  case "$1" in
    weft|weft\ *) break ;;
  esac
  shift
done
if [ $# -eq 0 ]; then
  echo "weft-bench ssh stand-in: no weft command in its arguments" >&2
  exit 255
fi
rest=${{1#weft}}
shift
exec sh -c "exec {quoted}$rest $*"
"#
    );
    let p = dir.join("ssh-standin.sh");
    fs::write(&p, script)?;
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755))?;
    Ok(p)
}

const STAT_KEYS: [&str; 7] = [
    "round_trips",
    "bytes_in",
    "bytes_out",
    "changes_in",
    "changes_out",
    "redundant_in",
    "redundant_out",
];

/// The last stdout line that is a JSON object with `bytes_in`; it must hold every key of the
/// stats contract.
fn parse_stats(stdout: &str, what: &str) -> Result<Json> {
    let s = stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Json>(l.trim()).ok())
        .find(|v| v.get("bytes_in").and_then(Json::as_u64).is_some())
        .with_context(|| {
            format!(
                "`{what}` printed no JSON stats line with \"bytes_in\" (first stdout line: {})",
                first_line(stdout)
            )
        })?;
    let missing: Vec<&str> = STAT_KEYS
        .into_iter()
        .filter(|k| s.get(*k).and_then(Json::as_u64).is_none())
        .collect();
    ensure!(
        missing.is_empty(),
        "`{what}` printed stats without {} (got {s})",
        missing.join(", ")
    );
    Ok(s)
}

/// Runs a weft sync command under measurement and returns the run and its JSON stats.
fn weft_sync_cmd(
    weft: &Path,
    args: &[OsString],
    what: &str,
    envs: &[(&str, &OsStr)],
    scratch: &Path,
) -> Result<(Measured, Json)> {
    let m = run_measured(weft.as_os_str(), args, Some(scratch), envs, scratch)?;
    if !m.success {
        let l = first_line(&m.stderr);
        bail!("`{what}` failed ({}): {l}{}", m.status, hint(l));
    }
    let s = parse_stats(&m.stdout, what)?;
    Ok((m, s))
}

/// Checks that the repo at `root` reads the workload's value for `k/1` after `n` changes.
fn verify_k1(weft: &Path, root: &Path, n: u64) -> Result<()> {
    let Some(want) = expected_k1(n) else {
        return Ok(());
    };
    let out = Command::new(weft)
        .arg("-C")
        .arg(root)
        .args(["get", "k/1"])
        .env_remove("WEFT_DIR")
        .env_remove("WEFT_IDENTITY")
        .stdin(Stdio::null())
        .output()?;
    let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
    ensure!(
        out.status.success() && got == want.to_string(),
        "after sync, `weft get k/1` in the copy gave {got:?} ({}), expected {want}: {}",
        out.status,
        first_line(&String::from_utf8_lossy(&out.stderr))
    );
    Ok(())
}

fn stat(s: &Json, k: &str) -> f64 {
    s[k].as_f64().unwrap_or(f64::NAN)
}

/// The source repo for a weft benchmark: built in `d/src` unless `given`.
fn weft_source(given: Option<&Path>, d: &Path, n: u64) -> Result<(PathBuf, Option<f64>)> {
    Ok(match given {
        Some(p) => (p.to_path_buf(), None),
        None => {
            let src = d.join("src");
            eprintln!("weft: building a repo of {n} single-op changes ...");
            fs::create_dir_all(&src)?;
            let secs = build_repo(&src, n)?;
            (src, Some(secs))
        }
    })
}

fn serve_args(src: &Path, reader: &Reader) -> Vec<OsString> {
    vec![
        os("-C"),
        os(src),
        os("serve"),
        os("--listen"),
        os("127.0.0.1:0"),
        os("--allow"),
        os(&reader.key),
    ]
}

/// The key a benchmark client connects with over `tcp://`: the server reads it `--allow`, as a
/// server does for a key it trusts to read.
struct Reader {
    /// Its key file, for `--identity`.
    file: PathBuf,
    /// Its public key, for `--allow`.
    key: String,
}

fn reader(weft: &Path, d: &Path) -> Result<Reader> {
    let home = d.join("reader");
    let st = Command::new(weft)
        .args([os("init"), os("-q"), os(&home)])
        .status()?;
    ensure!(st.success(), "weft init {} failed", home.display());
    let out = Command::new(weft)
        .args([os("-C"), os(&home), os("id")])
        .output()?;
    ensure!(out.status.success(), "weft id failed");
    Ok(Reader {
        file: home.join(weft_dag::WEFT_DIR).join(weft_dag::KEY_FILE),
        key: String::from_utf8(out.stdout)?.trim().to_string(),
    })
}

/// `weft-clone`: see README.md. `source`: an already built repo of `n` changes to use.
pub fn weft_clone_bench(
    weft: &Path,
    n: u64,
    runs: usize,
    tmp: Option<&Path>,
    source: Option<&Path>,
) -> Result<Json> {
    ensure!(n > 0 && runs > 0, "--n and --runs must be positive");
    let weft = weft_bin(weft)?;
    preflight(&weft, &["clone", "serve"])?;
    let dir = tempdir(tmp)?;
    let d = dir.path();
    let (src, built_secs) = weft_source(source, d, n)?;
    let src = fs::canonicalize(&src)?;
    let (src_bytes, _) = dir_size(&src.join(weft_dag::WEFT_DIR))?;
    let standin = write_ssh_standin(d, &weft)?;
    let reader = reader(&weft, d)?;
    let mut transports = Vec::new();
    for transport in ["stdio", "tcp"] {
        // One transport at a time: a running `weft serve` holds the source repo open.
        let mut server = None;
        let url = if transport == "stdio" {
            format!("ssh://localhost{}", src.to_string_lossy())
        } else {
            let s = Server::start(&weft, &serve_args(&src, &reader), d)?;
            let url = s.url.clone();
            server = Some(s);
            url
        };
        let envs: Vec<(&str, &OsStr)> = if transport == "stdio" {
            vec![("WEFT_SSH", standin.as_os_str())]
        } else {
            vec![]
        };
        let (mut secs, mut rss, mut last) = (Vec::new(), Vec::new(), Json::Null);
        for r in 0..runs {
            eprintln!("weft: clone over {transport} {}/{runs} ...", r + 1);
            let dst = d.join(format!("clone-{transport}-{r}"));
            let what = format!("weft clone {url} DST --json");
            let (m, s) = weft_sync_cmd(
                &weft,
                &[
                    os("--identity"),
                    os(&reader.file),
                    os("clone"),
                    os(&url),
                    os(&dst),
                    os("--json"),
                ],
                &what,
                &envs,
                d,
            )?;
            if r == 0 {
                // A clone made with `--identity` keeps no key file; reads need one.
                fs::copy(
                    &reader.file,
                    dst.join(weft_dag::WEFT_DIR).join(weft_dag::KEY_FILE),
                )?;
                verify_k1(&weft, &dst, n)?;
            }
            rm_rf(&dst);
            secs.push(m.secs);
            rss.push(m.maxrss_kb as f64);
            last = s;
        }
        if let Some(mut s) = server {
            s.stop();
        }
        transports.push(json!({
            "transport": transport,
            "command": if transport == "stdio" {
                "WEFT_SSH=STANDIN weft clone ssh://localhost/ABS/PATH DST --json"
            } else {
                "weft clone tcp://127.0.0.1:PORT DST --json (server: weft -C SRC serve --listen 127.0.0.1:0)"
            },
            "secs": stats(&secs),
            "maxrss_kb": stats(&rss),
            "stats": last,
            "bytes_in_per_change": stat(&last, "bytes_in") / n as f64,
        }));
    }
    Ok(json!({
        "bench": "weft-clone",
        "n": n,
        "runs": runs,
        "weft_binary": weft.to_string_lossy(),
        "repo_built_secs": built_secs,
        "source_weft_dir_bytes": src_bytes,
        "machine": machine(d),
        "transports": transports,
    }))
}

pub fn print_weft_clone(r: &Json) {
    print_machine(&r["machine"]);
    println!();
    println!(
        "weft-clone: a repo of {} single-op changes; {} runs per transport, medians",
        fmt_int(f(&r["n"])),
        r["runs"]
    );
    for t in r["transports"].as_array().into_iter().flatten() {
        let s = &t["stats"];
        println!(
            "  {:<6} {:>10} (min {} max {})  peak RSS {:>10}  bytes_in {:>12} = {:.1} B/change  round_trips {}  changes_in {}  redundant_in {}",
            t["transport"].as_str().unwrap_or(""),
            fmt_secs(f(&t["secs"]["median"])),
            fmt_secs(f(&t["secs"]["min"])),
            fmt_secs(f(&t["secs"]["max"])),
            fmt_kb(f(&t["maxrss_kb"]["median"])),
            fmt_int(stat(s, "bytes_in")),
            f(&t["bytes_in_per_change"]),
            s["round_trips"],
            s["changes_in"],
            s["redundant_in"]
        );
    }
}

/// `weft-pull`: see README.md. `source`: an already built repo of `n` changes to use (it gets
/// `ff` more changes).
pub fn weft_pull_bench(
    weft: &Path,
    n: u64,
    ff: u64,
    runs: usize,
    tmp: Option<&Path>,
    source: Option<&Path>,
) -> Result<Json> {
    ensure!(
        n > 0 && ff > 0 && runs > 0,
        "--n, --ff and --runs must be positive"
    );
    let weft = weft_bin(weft)?;
    preflight(&weft, &["clone", "pull", "serve"])?;
    let dir = tempdir(tmp)?;
    let d = dir.path();
    let (src, built_secs) = weft_source(source, d, n)?;
    let src = fs::canonicalize(&src)?;
    let base = d.join("base");
    let reader = reader(&weft, d)?;
    {
        eprintln!("weft: cloning the source of {n} changes (untimed) ...");
        let mut server = Server::start(&weft, &serve_args(&src, &reader), d)?;
        let what = format!("weft clone {} DST --json", server.url);
        weft_sync_cmd(
            &weft,
            &[
                os("--identity"),
                os(&reader.file),
                os("clone"),
                os(&server.url),
                os(&base),
                os("--json"),
            ],
            &what,
            &[],
            d,
        )?;
        server.stop();
        fs::copy(
            &reader.file,
            base.join(weft_dag::WEFT_DIR).join(weft_dag::KEY_FILE),
        )?;
    }
    eprintln!("weft: adding {ff} changes to the source through the library ...");
    {
        let repo = Repo::open(&src, weft_options(Durability::Manual))?;
        weft_commits(&repo, n..n + ff)?;
    }
    let mut server = Server::start(&weft, &serve_args(&src, &reader), d)?;
    let url = server.url.clone();
    let (mut secs, mut rss, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..runs {
        eprintln!("weft: pull {}/{runs} ...", r + 1);
        let work = d.join(format!("pull-{r}"));
        copy_dir(&base, &work)?;
        let what = format!("weft -C DST pull {url} --json");
        let (m, s) = weft_sync_cmd(
            &weft,
            &[
                os("--identity"),
                os(&reader.file),
                os("-C"),
                os(&work),
                os("pull"),
                os(&url),
                os("--json"),
            ],
            &what,
            &[],
            d,
        )?;
        if r == 0 {
            verify_k1(&weft, &work, n + ff)?;
        }
        rm_rf(&work);
        secs.push(m.secs);
        rss.push(m.maxrss_kb as f64);
        all.push(s);
    }
    server.stop();
    let last = all.last().cloned().unwrap_or(Json::Null);
    let redundant: Vec<f64> = all.iter().map(|s| stat(s, "redundant_in")).collect();
    Ok(json!({
        "bench": "weft-pull",
        "n": n,
        "ff": ff,
        "runs": runs,
        "weft_binary": weft.to_string_lossy(),
        "repo_built_secs": built_secs,
        "machine": machine(d),
        "transport": "tcp",
        "command": "weft -C DST pull tcp://127.0.0.1:PORT --json",
        "secs": stats(&secs),
        "maxrss_kb": stats(&rss),
        "stats": last,
        "all_stats": all,
        "bytes_in_per_new_change": stat(&last, "bytes_in") / ff as f64,
        "redundant_in_zero": redundant.iter().all(|r| *r == 0.0),
    }))
}

pub fn print_weft_pull(r: &Json) {
    print_machine(&r["machine"]);
    println!();
    println!(
        "weft-pull: clone of {} changes, source gets +{}, then `weft pull` over TCP; {} runs, medians",
        fmt_int(f(&r["n"])),
        fmt_int(f(&r["ff"])),
        r["runs"]
    );
    let s = &r["stats"];
    println!(
        "  pull {:>10} (min {} max {})  peak RSS {:>10}  bytes_in {:>12} = {:.1} B/new change  round_trips {}  changes_in {}  redundant_in {}{}",
        fmt_secs(f(&r["secs"]["median"])),
        fmt_secs(f(&r["secs"]["min"])),
        fmt_secs(f(&r["secs"]["max"])),
        fmt_kb(f(&r["maxrss_kb"]["median"])),
        fmt_int(stat(s, "bytes_in")),
        f(&r["bytes_in_per_new_change"]),
        s["round_trips"],
        s["changes_in"],
        s["redundant_in"],
        if r["redundant_in_zero"].as_bool() == Some(true) {
            ""
        } else {
            "  <-- redundant_in must be 0"
        }
    );
}

// ================================================================================ sync-all ===

/// `weft clone URL DST --json` with the reader's key, measured; with `check`, the clone is
/// given the reader's key file (a clone made with `--identity` keeps none) and must read the
/// workload's value after that many changes.
fn weft_clone_once(
    weft: &Path,
    url: &str,
    dst: &Path,
    reader: &Reader,
    check: Option<u64>,
    scratch: &Path,
) -> Result<(Measured, Json)> {
    let what = format!("weft clone {url} DST --json");
    let out = weft_sync_cmd(
        weft,
        &[
            os("--identity"),
            os(&reader.file),
            os("clone"),
            os(url),
            os(dst),
            os("--json"),
        ],
        &what,
        &[],
        scratch,
    )?;
    if let Some(n) = check {
        fs::copy(
            &reader.file,
            dst.join(weft_dag::WEFT_DIR).join(weft_dag::KEY_FILE),
        )?;
        verify_k1(weft, dst, n)?;
    }
    Ok(out)
}

/// `weft -C WORK pull URL --json` with the reader's key, measured.
fn weft_pull_once(
    weft: &Path,
    url: &str,
    work: &Path,
    reader: &Reader,
    scratch: &Path,
) -> Result<(Measured, Json)> {
    let what = format!("weft -C DST pull {url} --json");
    weft_sync_cmd(
        weft,
        &[
            os("--identity"),
            os(&reader.file),
            os("-C"),
            os(work),
            os("pull"),
            os(url),
            os("--json"),
        ],
        &what,
        &[],
        scratch,
    )
}

/// What one system did in the runs of one phase (clone, or fetch/pull) of `sync-all`.
#[derive(Debug, Default)]
struct Series {
    secs: Vec<f64>,
    rss_kb: Vec<f64>,
    /// weft: `bytes_in`; git: the bytes of the pack received.
    bytes: Vec<f64>,
    /// weft's JSON stats of each run.
    stats: Vec<Json>,
}

impl Series {
    fn push(&mut self, m: &Measured, bytes: u64, stats: Json) {
        self.secs.push(m.secs);
        self.rss_kb.push(m.maxrss_kb as f64);
        self.bytes.push(bytes as f64);
        self.stats.push(stats);
    }

    /// Medians and samples; `per`: the changes (commits) the bytes are divided by.
    fn json(&self, per: u64) -> Json {
        let stat_of = |k: &str| -> Json {
            let xs: Vec<f64> = self
                .stats
                .iter()
                .filter_map(|s| s.get(k).and_then(Json::as_f64))
                .collect();
            if xs.is_empty() {
                Json::Null
            } else {
                stats(&xs)
            }
        };
        json!({
            "secs": stats(&self.secs),
            "maxrss_kb": stats(&self.rss_kb),
            "bytes": stats(&self.bytes),
            "bytes_per_change": median(&self.bytes) / per as f64,
            "round_trips": stat_of("round_trips"),
            "changes_in": stat_of("changes_in"),
            "redundant_in": stat_of("redundant_in"),
            "stats": self.stats.last().cloned().unwrap_or(Json::Null),
        })
    }
}

/// Per-run ratios `a / b` of two series' samples, and their median.
fn ratios(a: &[f64], b: &[f64]) -> Json {
    let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    json!({ "median": median(&r), "min": min(&r), "max": max(&r), "samples": r })
}

/// Ratios of weft over one git repository, clone or fetch phase.
fn ratios_over(weft: &Series, git: &Series) -> Json {
    json!({
        "secs": ratios(&weft.secs, &git.secs),
        "maxrss_kb": ratios(&weft.rss_kb, &git.rss_kb),
        "bytes": ratios(&weft.bytes, &git.bytes),
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sys {
    Weft,
    /// git, index into the repositories (one file; `--files`).
    Git(usize),
}

/// The systems of one run, rotated by the run number so that each goes first as often.
fn order(systems: &[Sys], r: usize) -> Vec<Sys> {
    let mut o = systems.to_vec();
    o.rotate_left(r % systems.len());
    o
}

/// One N of `sync-all`: weft over TCP and git (one file, and `files`), paired run by run.
#[allow(clippy::too_many_arguments)]
fn sync_pair(
    weft: Option<&Path>,
    n: u64,
    runs: usize,
    ff: u64,
    files: u64,
    tmp: Option<&Path>,
) -> Result<Json> {
    let dir = tempdir(tmp)?;
    let d = dir.path();
    let weft = match weft {
        Some(w) => {
            let w = weft_bin(w)?;
            preflight(&w, &["clone", "pull", "serve"])?;
            Some(w)
        }
        None => None,
    };

    // Setup, untimed: the git repositories and the weft source.
    let mut shapes = vec![1];
    if files > 1 {
        shapes.push(files);
    }
    let mut gits = Vec::new();
    for &f in &shapes {
        eprintln!(
            "git: building a repository of {n} commits over {f} file(s) (fast-import, repack -a -d -f) ..."
        );
        gits.push(git::build(&d.join(format!("git-{f}.git")), n, f, d)?);
    }
    let mut systems: Vec<Sys> = (0..gits.len()).map(Sys::Git).collect();
    let mut src = None;
    let mut reader_key = None;
    let mut built_secs = None;
    if let Some(w) = &weft {
        eprintln!("weft: building a repo of {n} single-op changes through the library ...");
        let s = d.join("weft-src");
        fs::create_dir_all(&s)?;
        built_secs = Some(build_repo(&s, n)?);
        src = Some(fs::canonicalize(&s)?);
        reader_key = Some(reader(w, d)?);
        systems.insert(0, Sys::Weft);
    }
    let src_bytes = match &src {
        Some(s) => Some(dir_size(&s.join(weft_dag::WEFT_DIR))?.0),
        None => None,
    };

    // Clones, back to back in every run.
    let mut w_clone = Series::default();
    let mut g_clone: Vec<Series> = gits.iter().map(|_| Series::default()).collect();
    let weft_base = d.join("weft-clone-0");
    {
        let server = match (&weft, &src, &reader_key) {
            (Some(w), Some(s), Some(rk)) => Some(Server::start(w, &serve_args(s, rk), d)?),
            _ => None,
        };
        for r in 0..runs {
            for sys in order(&systems, r) {
                match sys {
                    Sys::Weft => {
                        let (Some(w), Some(server), Some(rk)) = (&weft, &server, &reader_key)
                        else {
                            continue;
                        };
                        eprintln!("weft: clone over tcp, run {}/{runs} ...", r + 1);
                        let dst = d.join(format!("weft-clone-{r}"));
                        let (m, s) =
                            weft_clone_once(w, &server.url, &dst, rk, (r == 0).then_some(n), d)?;
                        if r > 0 {
                            rm_rf(&dst);
                        }
                        let bytes = stat(&s, "bytes_in") as u64;
                        w_clone.push(&m, bytes, s);
                    }
                    Sys::Git(i) => {
                        let g = &gits[i];
                        eprintln!(
                            "git: clone of {} file(s), run {}/{runs} ...",
                            g.files,
                            r + 1
                        );
                        let dst = d.join(format!("git-{}-clone-{r}.git", g.files));
                        let (m, bytes) = git::clone(&g.path, &dst, d)?;
                        if r == 0 {
                            git::check_count(&dst, n)?;
                        } else {
                            rm_rf(&dst);
                        }
                        g_clone[i].push(&m, bytes, Json::Null);
                    }
                }
            }
        }
    }

    // Fast-forward: the sources gain `ff`; every run fetches (pulls) them into a fresh copy of
    // the first clone.
    let mut w_pull = Series::default();
    let mut g_fetch: Vec<Series> = gits.iter().map(|_| Series::default()).collect();
    if ff > 0 {
        let mut g_src = Vec::new();
        for g in &gits {
            eprintln!(
                "git: adding {ff} commits to a copy of the {}-file source ...",
                g.files
            );
            let p = d.join(format!("git-{}-ff.git", g.files));
            git_source_ff(g, &p, ff, d)?;
            g_src.push(p);
        }
        let server = match (&weft, &src, &reader_key) {
            (Some(w), Some(s), Some(rk)) => {
                eprintln!("weft: adding {ff} changes to the source through the library ...");
                {
                    let repo = Repo::open(s, weft_options(Durability::Manual))?;
                    weft_commits(&repo, n..n + ff)?;
                }
                Some(Server::start(w, &serve_args(s, rk), d)?)
            }
            _ => None,
        };
        for r in 0..runs {
            for sys in order(&systems, r) {
                match sys {
                    Sys::Weft => {
                        let (Some(w), Some(server), Some(rk)) = (&weft, &server, &reader_key)
                        else {
                            continue;
                        };
                        eprintln!("weft: pull of +{ff} over tcp, run {}/{runs} ...", r + 1);
                        let work = d.join(format!("weft-pull-{r}"));
                        copy_dir(&weft_base, &work)?;
                        let (m, s) = weft_pull_once(w, &server.url, &work, rk, d)?;
                        if r == 0 {
                            verify_k1(w, &work, n + ff)?;
                        }
                        rm_rf(&work);
                        let bytes = stat(&s, "bytes_in") as u64;
                        w_pull.push(&m, bytes, s);
                    }
                    Sys::Git(i) => {
                        let g = &gits[i];
                        eprintln!(
                            "git: fetch of +{ff} ({} file(s)), run {}/{runs} ...",
                            g.files,
                            r + 1
                        );
                        let work = d.join(format!("git-{}-fetch-{r}.git", g.files));
                        copy_dir(&d.join(format!("git-{}-clone-0.git", g.files)), &work)?;
                        let (m, bytes) = git::fetch(&work, &g_src[i], d)?;
                        if r == 0 {
                            git::check_count(&work, n + ff)?;
                        }
                        rm_rf(&work);
                        g_fetch[i].push(&m, bytes, Json::Null);
                    }
                }
            }
        }
    }

    let git_json: Vec<Json> = gits
        .iter()
        .enumerate()
        .map(|(i, g)| {
            json!({
                "files": g.files,
                "build": {
                    "fast_import_secs": g.import_secs,
                    "repack_secs": g.repack_secs,
                    "source_pack_bytes": g.pack_bytes,
                },
                "clone": g_clone[i].json(n),
                "fetch": if ff > 0 { g_fetch[i].json(ff) } else { Json::Null },
                "weft_over_git_clone": if weft.is_some() {
                    ratios_over(&w_clone, &g_clone[i])
                } else {
                    Json::Null
                },
                "weft_over_git_fetch": if weft.is_some() && ff > 0 {
                    ratios_over(&w_pull, &g_fetch[i])
                } else {
                    Json::Null
                },
            })
        })
        .collect();
    Ok(json!({
        "n": n,
        "ff": ff,
        "runs": runs,
        "order": "each run: weft, git (1 file), git (--files) back to back, rotating which goes first",
        "git_clone_command": "git clone --no-local --bare -q SRC DST",
        "git_fetch_command": git::FETCH_COMMAND,
        "git": git_json,
        "weft": if weft.is_some() { json!({
            "clone_command": "weft --identity KEY clone tcp://KEY@127.0.0.1:PORT DST --json (server: weft -C SRC serve --listen 127.0.0.1:0 --allow KEY)",
            "pull_command": "weft --identity KEY -C DST pull tcp://KEY@127.0.0.1:PORT --json",
            "repo_built_secs": built_secs,
            "source_weft_dir_bytes": src_bytes,
            "clone": w_clone.json(n),
            "pull": if ff > 0 { w_pull.json(ff) } else { Json::Null },
        }) } else { Json::Null },
    }))
}

/// `sync-all`: for each N, weft and git paired run by run (`sync_pair`), and Automerge's
/// protocol in process; then one table per N.
#[allow(clippy::too_many_arguments)]
pub fn sync_all(
    ns: &[u64],
    runs: usize,
    am_runs: usize,
    ff: u64,
    files: u64,
    weft: Option<&Path>,
    tmp: Option<&Path>,
    as_json: bool,
) -> Result<ExitCode> {
    ensure!(!ns.is_empty(), "--n needs at least one value");
    ensure!(
        ns.iter().all(|n| *n > 0) && runs > 0,
        "--n and --runs must be positive"
    );
    let version = git::version()?;
    let mut results = Vec::new();
    let mut weft_failed = false;
    for &n in ns {
        let pair = match sync_pair(weft, n, runs, ff, files, tmp) {
            Ok(p) => p,
            Err(e) if weft.is_some() => {
                // A failing weft part is reported; run the baselines alone.
                let msg = format!("{e:#}");
                eprintln!("weft-bench: weft part failed: {msg}");
                weft_failed = true;
                let mut p = sync_pair(None, n, runs, ff, files, tmp)?;
                p["weft"] = json!({ "error": msg });
                p
            }
            Err(e) => return Err(e),
        };
        let am = if am_runs > 0 {
            automerge_sync_bench(n, ff.max(1), am_runs)?
        } else {
            Json::Null
        };
        results.push(json!({ "n": n, "pair": pair, "automerge": am }));
    }
    let report = json!({
        "bench": "sync-all",
        "runs": runs,
        "automerge_runs": am_runs,
        "ff": ff,
        "files": files,
        "git_version": version,
        "machine": machine(&tmp.map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir)),
        "results": results,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_sync_all(&report, weft.is_some());
    }
    Ok(if weft_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_sync_all(r: &Json, weft_given: bool) {
    print_machine(&r["machine"]);
    println!(
        "git: {}",
        r["git_version"]
            .as_str()
            .unwrap_or("?")
            .trim_start_matches("git version ")
    );
    let ff = f(&r["ff"]);
    for res in r["results"].as_array().into_iter().flatten() {
        let n = f(&res["n"]);
        let p = &res["pair"];
        let w = &p["weft"];
        let gits: Vec<&Json> = p["git"].as_array().into_iter().flatten().collect();
        println!();
        println!(
            "N = {} changes/commits, fetch/pull of +{}; {} runs, each running weft (tcp) and git \
             back to back (order rotating); medians, and ratios weft/git as the median of the \
             per-run ratios",
            fmt_int(n),
            fmt_int(ff),
            r["runs"]
        );
        if let Some(e) = w["error"].as_str() {
            println!("  weft: not measured: {e}");
        } else if !weft_given {
            println!("  weft: not measured (no --weft given)");
        }
        for g in &gits {
            println!(
                "  git, {} file(s): source built in {:.1} s (fast-import) + {:.1} s (repack -a -d -f), pack {} bytes",
                g["files"],
                f(&g["build"]["fast_import_secs"]),
                f(&g["build"]["repack_secs"]),
                fmt_int(f(&g["build"]["source_pack_bytes"]))
            );
        }
        if w.is_object() && w["error"].is_null() {
            println!(
                "  weft: source built in {:.1} s through the library, .weft {} bytes",
                f(&w["repo_built_secs"]),
                fmt_int(f(&w["source_weft_dir_bytes"]))
            );
        }
        let mut head = format!("  {:<28} {:>12}", "", "weft tcp");
        for g in &gits {
            head += &format!(" {:>14}", format!("git {} file(s)", g["files"]));
        }
        for g in &gits {
            head += &format!(" {:>12}", format!("weft/git{}", g["files"]));
        }
        println!("{head}");
        type Fmt<'a> = &'a dyn Fn(f64) -> String;
        let cell = |x: f64, fmt: Fmt| if x.is_finite() { fmt(x) } else { "-".into() };
        // A figure is a number or a stats object with a median.
        let med = |v: &Json| match v {
            Json::Object(_) => f(&v["median"]),
            other => f(other),
        };
        let row = |label: &str,
                   phase_w: &str,
                   phase_g: &str,
                   key: &str,
                   ratio: Option<&str>,
                   fmt: Fmt| {
            let mut line = format!("  {label:<28} {:>12}", cell(med(&w[phase_w][key]), fmt));
            for g in &gits {
                line += &format!(" {:>14}", cell(med(&g[phase_g][key]), fmt));
            }
            if let Some(rk) = ratio {
                let which = if phase_g == "clone" {
                    "weft_over_git_clone"
                } else {
                    "weft_over_git_fetch"
                };
                for g in &gits {
                    line += &format!(
                        " {:>12}",
                        cell(f(&g[which][rk]["median"]), &|x| format!("{x:.2}"))
                    );
                }
            }
            println!("{line}");
        };
        let int = |x: f64| fmt_int(x);
        let one = |x: f64| format!("{x:.1}");
        row(
            "clone: wall time",
            "clone",
            "clone",
            "secs",
            Some("secs"),
            &fmt_secs,
        );
        row(
            "clone: peak RSS",
            "clone",
            "clone",
            "maxrss_kb",
            Some("maxrss_kb"),
            &fmt_kb,
        );
        row(
            "clone: bytes received",
            "clone",
            "clone",
            "bytes",
            Some("bytes"),
            &int,
        );
        row(
            "clone: bytes / change",
            "clone",
            "clone",
            "bytes_per_change",
            None,
            &one,
        );
        row(
            "clone: round trips",
            "clone",
            "clone",
            "round_trips",
            None,
            &int,
        );
        row(
            "clone: redundant_in",
            "clone",
            "clone",
            "redundant_in",
            None,
            &int,
        );
        if ff > 0.0 {
            row(
                "fetch/pull: wall time",
                "pull",
                "fetch",
                "secs",
                Some("secs"),
                &fmt_secs,
            );
            row(
                "fetch/pull: peak RSS",
                "pull",
                "fetch",
                "maxrss_kb",
                Some("maxrss_kb"),
                &fmt_kb,
            );
            row(
                "fetch/pull: bytes received",
                "pull",
                "fetch",
                "bytes",
                Some("bytes"),
                &int,
            );
            row(
                "fetch/pull: bytes / new change",
                "pull",
                "fetch",
                "bytes_per_change",
                None,
                &one,
            );
            row(
                "fetch/pull: round trips",
                "pull",
                "fetch",
                "round_trips",
                None,
                &int,
            );
            row(
                "pull: redundant_in (must be 0)",
                "pull",
                "fetch",
                "redundant_in",
                None,
                &int,
            );
        }
        if w.is_object() && w["error"].is_null() {
            for (label, which) in [
                ("clone", "weft_over_git_clone"),
                ("fetch/pull", "weft_over_git_fetch"),
            ] {
                for g in &gits {
                    let xs: Vec<String> = g[which]["secs"]["samples"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|x| format!("{:.2}", f(x)))
                        .collect();
                    if !xs.is_empty() {
                        println!(
                            "  per-run {label} time ratio weft/git ({} file(s)): {}",
                            g["files"],
                            xs.join(" ")
                        );
                    }
                }
            }
            let red = &w["pull"]["redundant_in"]["max"];
            if red.as_f64().is_some_and(|x| x > 0.0) {
                println!("  <-- a pull received {red} redundant changes; it must be 0");
            }
        }
        if res["automerge"].is_object() {
            println!();
            print_automerge_body(&res["automerge"]);
        }
    }
    println!();
    println!(
        "  Peak RSS: maximum over the process and the children it waited for (git: upload-pack, \
         pack-objects, index-pack; weft over tcp: the clone alone, the server is the bench's). \
         git bytes: the pack received. weft bytes: bytes_in of the command's --json stats. \
         Automerge: in-process sync of two AutoCommit docs (no process start, no transport, no \
         disk): compare its bytes and round trips, not its times."
    );
}

// ================================================================================ format ===

fn f(v: &Json) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn fmt_secs(s: f64) -> String {
    if !s.is_finite() {
        "-".into()
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn fmt_kb(kb: f64) -> String {
    if !kb.is_finite() {
        "-".into()
    } else {
        format!("{:.1} MiB", kb / 1024.0)
    }
}
