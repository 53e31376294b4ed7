//! Sync benchmarks: `git clone`/`git fetch` and Automerge's sync protocol as baselines, and
//! weft's `clone`/`pull` through the `weft` CLI (stdio over an ssh stand-in, and TCP).
//!
//! See README.md for what each figure means and how round trips are counted.

use std::{
    collections::HashSet,
    ffi::{OsStr, OsString},
    fs,
    io::{BufWriter, Write},
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
    build_repo, dir_size, expected_k1, fmt_int, key, machine, max, median, min, print_machine,
    proc::{first_line, hint, run_measured, Measured, Server},
    weft_commits, weft_options,
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

// ===================================================================================== git ===

/// Environment for every git command: no system or user configuration, so the run does not
/// depend on the machine's `~/.gitconfig`.
const GIT_ENV: [(&str, &str); 2] = [
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
];

fn git_envs() -> Vec<(&'static str, &'static OsStr)> {
    GIT_ENV.iter().map(|(k, v)| (*k, OsStr::new(*v))).collect()
}

fn git_cmd() -> Command {
    let mut c = Command::new("git");
    c.envs(GIT_ENV)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null());
    c
}

/// Runs git to completion; fails with one line (its first stderr line) if it fails.
fn git(args: &[&OsStr]) -> Result<String> {
    let out = match git_cmd().args(args).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("git not found on PATH (the git baseline needs it)")
        }
        Err(e) => return Err(e).context("running git"),
    };
    if !out.status.success() {
        let what: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        bail!(
            "`git {}` failed ({}): {}",
            what.join(" "),
            out.status,
            first_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The fast-import stream for commits `range` on `refs/heads/main`: commit `i` writes `i\n` to
/// the file `k` (or `k/{i % files}` with `files > 1`). With `continue_branch`, the first commit
/// continues the branch already in the repository.
fn fast_import_stream(
    w: &mut impl Write,
    range: Range<u64>,
    files: u64,
    continue_branch: bool,
) -> std::io::Result<()> {
    let first = range.start;
    for i in range {
        let path = if files <= 1 {
            "k".to_string()
        } else {
            format!("k/{}", i % files)
        };
        let msg = format!("change {i}\n");
        let content = format!("{i}\n");
        writeln!(w, "commit refs/heads/main")?;
        writeln!(
            w,
            "committer weft-bench <bench@example.invalid> {} +0000",
            1_700_000_000 + i
        )?;
        write!(w, "data {}\n{msg}", msg.len())?;
        if continue_branch && i == first {
            writeln!(w, "from refs/heads/main^0")?;
        }
        writeln!(w, "M 100644 inline {path}")?;
        write!(w, "data {}\n{content}", content.len())?;
        writeln!(w)?;
    }
    writeln!(w, "done")
}

/// Pipes the stream for `range` into `git fast-import` in the bare repo `repo`.
fn fast_import(
    repo: &Path,
    range: Range<u64>,
    files: u64,
    continue_branch: bool,
    scratch: &Path,
) -> Result<()> {
    let err_p = scratch.join(".fast-import.err");
    let mut child = git_cmd()
        .arg("-C")
        .arg(repo)
        .args(["fast-import", "--quiet", "--done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err_p)?)
        .spawn()
        .context("running git fast-import")?;
    let stdin = child.stdin.take().context("no stdin pipe")?;
    let mut w = BufWriter::with_capacity(1 << 20, stdin);
    let written = fast_import_stream(&mut w, range, files, continue_branch).and_then(|_| w.flush());
    drop(w);
    let status = child.wait()?;
    let err = fs::read_to_string(&err_p).unwrap_or_default();
    let _ = fs::remove_file(&err_p);
    if !status.success() {
        bail!("`git fast-import` failed ({status}): {}", first_line(&err));
    }
    written.context("writing to git fast-import")?;
    Ok(())
}

/// The `.pack` files of a repository, with their sizes.
fn packs(repo: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let dir = repo.join("objects/pack");
    let mut out = Vec::new();
    for e in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        if e.path().extension() == Some(OsStr::new("pack")) {
            out.push((e.path(), e.metadata()?.len()));
        }
    }
    Ok(out)
}

fn commit_count(repo: &Path) -> Result<u64> {
    let s = git(&[
        OsStr::new("-C"),
        repo.as_os_str(),
        OsStr::new("rev-list"),
        OsStr::new("--count"),
        OsStr::new("refs/heads/main"),
    ])?;
    s.parse()
        .with_context(|| format!("git rev-list printed {s:?}"))
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
    let version = git(&[OsStr::new("--version")])?;
    let dir = tempdir(tmp)?;
    let d = dir.path();
    let src = d.join("src.git");
    eprintln!("git: importing {n} commits with git fast-import ...");
    git(&[
        OsStr::new("init"),
        OsStr::new("--bare"),
        OsStr::new("-q"),
        src.as_os_str(),
    ])?;
    git(&[
        OsStr::new("-C"),
        src.as_os_str(),
        OsStr::new("symbolic-ref"),
        OsStr::new("HEAD"),
        OsStr::new("refs/heads/main"),
    ])?;
    let t = Instant::now();
    fast_import(&src, 0..n, files, false, d)?;
    let import_secs = t.elapsed().as_secs_f64();
    eprintln!("git: repack -a -d -f (as a maintained server repository would be) ...");
    let t = Instant::now();
    git(&[
        OsStr::new("-C"),
        src.as_os_str(),
        OsStr::new("repack"),
        OsStr::new("-a"),
        OsStr::new("-d"),
        OsStr::new("-f"),
        OsStr::new("-q"),
    ])?;
    let repack_secs = t.elapsed().as_secs_f64();
    let src_pack: u64 = packs(&src)?.iter().map(|p| p.1).sum();

    let envs = git_envs();
    let mut secs = Vec::new();
    let mut rss = Vec::new();
    let mut pack_bytes = Vec::new();
    let base = d.join("clone-0.git");
    for r in 0..runs {
        eprintln!("git: clone {}/{runs} ...", r + 1);
        let dst = d.join(format!("clone-{r}.git"));
        let m = run_measured(
            OsStr::new("git"),
            &[
                os("clone"),
                os("--no-local"),
                os("--bare"),
                os("-q"),
                os(&src),
                os(&dst),
            ],
            None,
            &envs,
            d,
        )?;
        m.check("git clone --no-local --bare SRC DST")?;
        let bytes: u64 = packs(&dst)?.iter().map(|p| p.1).sum();
        if r == 0 {
            let c = commit_count(&dst)?;
            ensure!(c == n, "the git clone holds {c} commits, not {n}");
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
        copy_dir(&src, &src2)?;
        fast_import(&src2, n..n + ff, files, true, d)?;
        let (mut fsecs, mut frss, mut fbytes) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..runs {
            let work = d.join(format!("fetch-{r}.git"));
            copy_dir(&base, &work)?;
            let before: HashSet<PathBuf> = packs(&work)?.into_iter().map(|p| p.0).collect();
            let m = run_measured(
                OsStr::new("git"),
                &[
                    os("-C"),
                    os(&work),
                    // Keep what arrives as a pack (never explode it into loose objects), so
                    // its size is what came over the wire.
                    os("-c"),
                    os("fetch.unpackLimit=1"),
                    os("fetch"),
                    os("-q"),
                    os("--no-tags"),
                    os(&src2),
                    os("+refs/heads/main:refs/heads/main"),
                ],
                None,
                &envs,
                d,
            )?;
            m.check("git fetch SRC +refs/heads/main:refs/heads/main")?;
            let bytes: u64 = packs(&work)?
                .iter()
                .filter(|p| !before.contains(&p.0))
                .map(|p| p.1)
                .sum();
            if r == 0 {
                let c = commit_count(&work)?;
                ensure!(
                    c == n + ff,
                    "the fetched repo holds {c} commits, not {}",
                    n + ff
                );
            }
            rm_rf(&work);
            fsecs.push(m.secs);
            frss.push(m.maxrss_kb as f64);
            fbytes.push(bytes as f64);
        }
        fetch = json!({
            "ff": ff,
            "command": "git -c fetch.unpackLimit=1 fetch -q --no-tags SRC +refs/heads/main:refs/heads/main",
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
            "fast_import_secs": import_secs,
            "repack_secs": repack_secs,
            "source_pack_bytes": src_pack,
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

/// `sync-all`: every benchmark above for each N, then one side-by-side table.
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
    let mut results = Vec::new();
    let mut weft_failed = false;
    for &n in ns {
        let git = git_clone_bench(n, runs, files, ff, tmp)?;
        let am = automerge_sync_bench(n, ff, am_runs)?;
        let (mut wc, mut wp) = (Json::Null, Json::Null);
        if let Some(w) = weft {
            let dir = tempdir(tmp)?;
            let src = dir.path().join("src");
            let r = (|| -> Result<()> {
                let w = weft_bin(w)?;
                preflight(&w, &["clone", "pull", "serve"])?;
                eprintln!("weft: building a repo of {n} single-op changes ...");
                fs::create_dir_all(&src)?;
                build_repo(&src, n)?;
                wc = weft_clone_bench(&w, n, runs, tmp, Some(&src))?;
                wp = weft_pull_bench(&w, n, ff, runs, tmp, Some(&src))?;
                Ok(())
            })();
            if let Err(e) = r {
                let msg = format!("{e:#}");
                eprintln!("weft-bench: weft part failed: {msg}");
                weft_failed = true;
                if wc.is_null() {
                    wc = json!({ "error": msg });
                } else {
                    wp = json!({ "error": msg });
                }
            }
        }
        results.push(json!({
            "n": n, "git": git, "automerge": am, "weft_clone": wc, "weft_pull": wp,
        }));
    }
    let report = json!({
        "bench": "sync-all",
        "runs": runs,
        "automerge_runs": am_runs,
        "ff": ff,
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
    let ff = f(&r["ff"]);
    for res in r["results"].as_array().into_iter().flatten() {
        let n = f(&res["n"]);
        let git = &res["git"];
        let am = &res["automerge"];
        let wc = &res["weft_clone"];
        let wp = &res["weft_pull"];
        let tr = |name: &str| -> Json {
            wc["transports"]
                .as_array()
                .and_then(|ts| ts.iter().find(|t| t["transport"] == name))
                .cloned()
                .unwrap_or(Json::Null)
        };
        let (ws, wt) = (tr("stdio"), tr("tcp"));
        let scen = |name: &str| -> Json {
            am["scenarios"]
                .as_array()
                .and_then(|ss| ss.iter().find(|s| s["scenario"] == name))
                .cloned()
                .unwrap_or(Json::Null)
        };
        let (am_clone, am_ff) = (scen("clone"), scen("fast-forward"));
        println!();
        println!(
            "N = {} changes/commits; fetch/pull of +{}; {} runs (automerge {}), medians",
            fmt_int(n),
            fmt_int(ff),
            r["runs"],
            r["automerge_runs"]
        );
        println!(
            "  {:<30} {:>12} {:>12} {:>12} {:>12}   weft/git (stdio, tcp)",
            "", "git", "weft stdio", "weft tcp", "automerge*"
        );
        let ratio = |w: f64, g: f64| {
            if w.is_finite() && g.is_finite() && g > 0.0 {
                format!("{:.2}", w / g)
            } else {
                "-".into()
            }
        };
        let row = |label: &str, g: f64, s: f64, t: f64, a: f64, fmt: &dyn Fn(f64) -> String| {
            let cell = |x: f64| if x.is_finite() { fmt(x) } else { "-".into() };
            let ratios = if s.is_finite() || t.is_finite() {
                format!("{}, {}", ratio(s, g), ratio(t, g))
            } else {
                "-".into()
            };
            println!(
                "  {label:<30} {:>12} {:>12} {:>12} {:>12}   {ratios}",
                cell(g),
                cell(s),
                cell(t),
                cell(a)
            );
        };
        let nan = f64::NAN;
        row(
            "clone: wall time",
            f(&git["clone"]["secs"]["median"]),
            f(&ws["secs"]["median"]),
            f(&wt["secs"]["median"]),
            f(&am_clone["secs"]["median"]),
            &fmt_secs,
        );
        row(
            "clone: peak RSS",
            f(&git["clone"]["maxrss_kb"]["median"]),
            f(&ws["maxrss_kb"]["median"]),
            f(&wt["maxrss_kb"]["median"]),
            nan,
            &fmt_kb,
        );
        row(
            "clone: bytes received",
            f(&git["clone"]["pack_bytes"]["median"]),
            stat(&ws["stats"], "bytes_in"),
            stat(&wt["stats"], "bytes_in"),
            f(&am_clone["bytes_to_initiator"]),
            &fmt_int,
        );
        row(
            "clone: bytes received / change",
            f(&git["clone"]["pack_bytes_per_commit"]),
            f(&ws["bytes_in_per_change"]),
            f(&wt["bytes_in_per_change"]),
            f(&am_clone["bytes_to_initiator"]) / n,
            &|x| format!("{x:.1}"),
        );
        row(
            "clone: round trips",
            nan,
            stat(&ws["stats"], "round_trips"),
            stat(&wt["stats"], "round_trips"),
            f(&am_clone["round_trips_to_converge"]),
            &|x| format!("{x:.0}"),
        );
        let gf = &git["fetch"];
        row(
            "fetch/pull: wall time",
            f(&gf["secs"]["median"]),
            nan,
            f(&wp["secs"]["median"]),
            f(&am_ff["secs"]["median"]),
            &fmt_secs,
        );
        row(
            "fetch/pull: peak RSS",
            f(&gf["maxrss_kb"]["median"]),
            nan,
            f(&wp["maxrss_kb"]["median"]),
            nan,
            &fmt_kb,
        );
        row(
            "fetch/pull: bytes received",
            f(&gf["pack_bytes"]["median"]),
            nan,
            stat(&wp["stats"], "bytes_in"),
            f(&am_ff["bytes_to_initiator"]),
            &fmt_int,
        );
        row(
            "fetch/pull: bytes / new change",
            f(&gf["pack_bytes_per_new_commit"]),
            nan,
            f(&wp["bytes_in_per_new_change"]),
            f(&am_ff["bytes_to_initiator"]) / ff,
            &|x| format!("{x:.1}"),
        );
        row(
            "fetch/pull: round trips",
            nan,
            nan,
            stat(&wp["stats"], "round_trips"),
            f(&am_ff["round_trips_to_converge"]),
            &|x| format!("{x:.0}"),
        );
        row(
            "pull: redundant_in (must be 0)",
            nan,
            nan,
            stat(&wp["stats"], "redundant_in"),
            nan,
            &|x| format!("{x:.0}"),
        );
        for (name, x) in [("weft clone", wc), ("weft pull", wp)] {
            if let Some(e) = x["error"].as_str() {
                println!("  {name}: not measured: {e}");
            }
        }
        if !weft_given {
            println!("  weft: not measured (no --weft given)");
        }
        println!();
        println!("details, N = {}:", fmt_int(n));
        print_git_body(git);
        print_automerge_body(am);
    }
    println!();
    println!(
        "  * automerge: in-process sync of two AutoCommit docs (no process start, no transport, \
         no disk); fetch/pull column = fast-forward scenario with a fresh sync state; \
         its round trips are those until both sides hold the same heads (one more, trailing \
         acknowledgement message follows). git round trips are not measured. Peak RSS of the stdio clone covers the clone and the \
         `weft serve --stdio` it starts (maximum over the process tree, like git's upload-pack)."
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
