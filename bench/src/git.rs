//! git as a baseline: building a repository of the workload's shape with `git fast-import`,
//! and the measured clone and fetch. Every git command runs without the system and user
//! configuration (`GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null`).

use std::{
    ffi::{OsStr, OsString},
    fs,
    io::{BufWriter, Write},
    ops::Range,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, ensure, Context, Result};

use crate::proc::{first_line, run_measured, Measured};

fn os(s: impl AsRef<OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

/// Environment for every git command: no system or user configuration, so the run does not
/// depend on the machine's `~/.gitconfig`.
pub const GIT_ENV: [(&str, &str); 2] = [
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
];

pub fn git_envs() -> Vec<(&'static str, &'static OsStr)> {
    GIT_ENV.iter().map(|(k, v)| (*k, OsStr::new(*v))).collect()
}

pub fn git_cmd() -> Command {
    let mut c = Command::new("git");
    c.envs(GIT_ENV)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null());
    c
}

/// Runs git to completion; fails with one line (its first stderr line) if it fails.
pub fn git(args: &[&OsStr]) -> Result<String> {
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
pub fn fast_import(
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
pub fn packs(repo: &Path) -> Result<Vec<(PathBuf, u64)>> {
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

pub fn commit_count(repo: &Path) -> Result<u64> {
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

/// `git --version`, or a one-line error if git is not there.
pub fn version() -> Result<String> {
    git(&[OsStr::new("--version")])
}

/// A bare repository of the workload's shape, built (untimed) for a benchmark.
#[derive(Debug)]
pub struct GitRepo {
    pub path: PathBuf,
    pub n: u64,
    pub files: u64,
    pub import_secs: f64,
    pub repack_secs: f64,
    /// Bytes of its packs after the repack.
    pub pack_bytes: u64,
}

/// Builds the bare repository `path` with `n` commits on `refs/heads/main` (commit `i` writes
/// `i\n` to the file `k`, or to `k/{i % files}` with `files > 1`) by piping a stream into
/// `git fast-import`, then packs it with `git repack -a -d -f`, as a maintained server
/// repository would be. `scratch` takes git's stderr.
pub fn build(path: &Path, n: u64, files: u64, scratch: &Path) -> Result<GitRepo> {
    init_bare(path)?;
    let t = Instant::now();
    fast_import(path, 0..n, files, false, scratch)?;
    let import_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    git(&[
        OsStr::new("-C"),
        path.as_os_str(),
        OsStr::new("repack"),
        OsStr::new("-a"),
        OsStr::new("-d"),
        OsStr::new("-f"),
        OsStr::new("-q"),
    ])?;
    let repack_secs = t.elapsed().as_secs_f64();
    let pack_bytes = packs(path)?.iter().map(|p| p.1).sum();
    Ok(GitRepo {
        path: path.to_path_buf(),
        n,
        files,
        import_secs,
        repack_secs,
        pack_bytes,
    })
}

/// `git init --bare` at `path`, with `HEAD` on `refs/heads/main`.
pub fn init_bare(path: &Path) -> Result<()> {
    git(&[
        OsStr::new("init"),
        OsStr::new("--bare"),
        OsStr::new("-q"),
        path.as_os_str(),
    ])?;
    git(&[
        OsStr::new("-C"),
        path.as_os_str(),
        OsStr::new("symbolic-ref"),
        OsStr::new("HEAD"),
        OsStr::new("refs/heads/main"),
    ])?;
    Ok(())
}

/// `git clone --no-local --bare -q SRC DST`, measured; returns the run and the bytes of the
/// pack it received. Fails if the clone fails.
pub fn clone(src: &Path, dst: &Path, scratch: &Path) -> Result<(Measured, u64)> {
    let m = run_measured(
        OsStr::new("git"),
        &[
            os("clone"),
            os("--no-local"),
            os("--bare"),
            os("-q"),
            os(src),
            os(dst),
        ],
        None,
        &git_envs(),
        scratch,
    )?;
    m.check("git clone --no-local --bare SRC DST")?;
    let bytes = packs(dst)?.iter().map(|p| p.1).sum();
    Ok((m, bytes))
}

/// The command `fetch` runs, for reports.
pub const FETCH_COMMAND: &str =
    "git -c fetch.unpackLimit=1 fetch -q --no-tags SRC +refs/heads/main:refs/heads/main";

/// In the repository `work` (a copy of a clone), `git fetch` of `main` from `src`, measured,
/// keeping what arrives as a pack (never exploded into loose objects) so its size is what came
/// over the wire. Returns the run and the bytes of the new pack.
pub fn fetch(work: &Path, src: &Path, scratch: &Path) -> Result<(Measured, u64)> {
    let before: Vec<PathBuf> = packs(work)?.into_iter().map(|p| p.0).collect();
    let m = run_measured(
        OsStr::new("git"),
        &[
            os("-C"),
            os(work),
            os("-c"),
            os("fetch.unpackLimit=1"),
            os("fetch"),
            os("-q"),
            os("--no-tags"),
            os(src),
            os("+refs/heads/main:refs/heads/main"),
        ],
        None,
        &git_envs(),
        scratch,
    )?;
    m.check("git fetch SRC +refs/heads/main:refs/heads/main")?;
    let bytes = packs(work)?
        .iter()
        .filter(|p| !before.contains(&p.0))
        .map(|p| p.1)
        .sum();
    Ok((m, bytes))
}

/// Checks that `repo` holds `want` commits on `main`.
pub fn check_count(repo: &Path, want: u64) -> Result<()> {
    let c = commit_count(repo)?;
    ensure!(
        c == want,
        "the git repository {} holds {c} commits, not {want}",
        repo.display()
    );
    Ok(())
}

/// Number and total size (uncompressed, as `git cat-file` prints them) of every object in
/// `repo`.
pub fn object_bytes(repo: &Path) -> Result<(u64, u64)> {
    let out = git_cmd()
        .arg("-C")
        .arg(repo)
        .args([
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectsize)",
        ])
        .output()
        .context("running git cat-file")?;
    if !out.status.success() {
        bail!(
            "`git cat-file --batch-all-objects` failed ({}): {}",
            out.status,
            first_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    let (mut count, mut bytes) = (0, 0);
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        count += 1;
        bytes += l
            .trim()
            .parse::<u64>()
            .context("git cat-file printed a non-number")?;
    }
    Ok((count, bytes))
}
