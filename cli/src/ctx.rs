//! [`Ctx`], what every command runs with: the parsed command line, the output format, the
//! directory relative paths start from, the flag that stops long-running commands, and the
//! input `batch` reads when it is not our stdin ([`Input`]); and what follows from them alone:
//! the repo root ([`Ctx::find_root`]) and the repo options ([`Ctx::options`]). The commands
//! themselves are in `cmd.rs`.

use std::{
    io::BufRead,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use anyhow::{Context as _, Result};
use weft_dag::{Identity, Options, KEY_FILE, WEFT_DIR};

use crate::{
    args::{Cli, Command, ServeArgs},
    out::{usage, Format, Output},
    stop::Stop,
};

/// Where `weft batch` reads its lines when it does not read this process's stdin: the input a
/// client forwards to the process that holds the repo.
pub struct Input(pub(crate) Mutex<Box<dyn BufRead + Send>>);

impl Input {
    /// Lines from `r`.
    pub fn new(r: impl BufRead + Send + 'static) -> Input {
        Input(Mutex::new(Box::new(r)))
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Input")
    }
}

/// What every command needs: parsed flags, where relative paths start, and when to stop.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub(crate) cli: &'a Cli,
    pub(crate) format: Format,
    /// The directory relative paths (`dag -o FILE`) are resolved against: the client's, when the
    /// daemon runs a command for another process. `None`: this process's current directory.
    cwd: Option<PathBuf>,
    /// Set when a long-running command (`watch`) should end.
    pub(crate) stop: Option<Arc<Stop>>,
    /// Where `batch` reads its lines, when not from our stdin (a client's, forwarded).
    pub(crate) input: Option<Input>,
    /// Lines for stderr that a command leaves besides its output (a conflict `get` does not
    /// show, a key revoked): printed once it has run, by [`crate::run_on_repo`].
    notes: Mutex<Vec<String>>,
}

/// A positive number from an environment variable, if it is set.
fn env_number(var: &str) -> Result<Option<u64>> {
    match std::env::var(var) {
        Err(_) => Ok(None),
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| usage(format!("{var}={v:?} is not a number"))),
    }
}

impl<'a> Ctx<'a> {
    /// A context for one invocation.
    pub fn new(cli: &'a Cli) -> Ctx<'a> {
        Ctx {
            cli,
            format: if cli.json {
                Format::Json
            } else {
                Format::Human
            },
            cwd: None,
            stop: None,
            input: None,
            notes: Mutex::new(Vec::new()),
        }
    }

    /// Leaves `line` for stderr (see `notes`).
    pub(crate) fn note(&self, line: String) {
        self.notes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }

    /// The lines left for stderr, once.
    pub(crate) fn take_notes(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .notes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Resolves relative paths against `cwd` instead of the current directory.
    pub fn with_cwd(mut self, cwd: PathBuf) -> Ctx<'a> {
        self.cwd = Some(cwd);
        self
    }

    /// Long-running commands end once `stop` is set.
    pub fn with_stop(mut self, stop: Arc<Stop>) -> Ctx<'a> {
        self.stop = Some(stop);
        self
    }

    /// `batch` reads `input` instead of our stdin.
    pub fn with_input(mut self, input: Input) -> Ctx<'a> {
        self.input = Some(input);
        self
    }

    /// The parsed command line.
    pub fn cli(&self) -> &Cli {
        self.cli
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.is_set())
    }

    /// Where the command runs: the caller's directory (ours, or the forwarding process's), then
    /// `-C`. Relative paths on the command line are taken from here, as with `git -C`.
    pub(crate) fn start_dir(&self) -> Result<PathBuf> {
        let cwd = match &self.cwd {
            Some(cwd) => cwd.clone(),
            None => std::env::current_dir().context("cannot read the current directory")?,
        };
        Ok(match &self.cli.chdir {
            Some(d) => cwd.join(d),
            None => cwd,
        })
    }

    /// The key file `--identity` / `WEFT_IDENTITY` names, if any, relative to the caller's
    /// directory (ours, or the forwarding process's).
    pub(crate) fn identity_path(&self) -> Option<PathBuf> {
        let path = self.cli.identity.as_ref()?;
        Some(match &self.cwd {
            Some(cwd) => cwd.join(path),
            None => path.clone(),
        })
    }

    /// Repo options from the flags (the `--identity` key, if any): for a repo being made.
    pub fn options(&self) -> Result<Options> {
        let identity = match self.identity_path() {
            Some(path) => Some(Identity::load(&path)?),
            None => None,
        };
        self.options_with(identity)
    }

    /// The key the repo at `root` signs with, when it is not `.weft/key`: `--identity`, else the
    /// key file the repo recorded when it was made with `--identity` (see [`remember_identity`]).
    /// `None`: `.weft/key`, if there is one.
    pub(crate) fn signing_identity(&self, root: &Path) -> Result<Option<Identity>> {
        if let Some(path) = self.identity_path() {
            return Ok(Some(Identity::load(&path)?));
        }
        let dir = root.join(WEFT_DIR);
        if dir.join(KEY_FILE).exists() {
            return Ok(None);
        }
        match recorded_identity(&dir)? {
            Some(path) => Identity::load(&path).map(Some).with_context(|| {
                format!(
                    "this repo signs with the key file {} (it was made with --identity), which \
                     cannot be read; pass --identity FILE",
                    path.display()
                )
            }),
            None => Ok(None),
        }
    }

    /// Options to open the repo at `root` with: the key it signs with (see
    /// [`Ctx::signing_identity`]). A command that neither signs nor holds the repo for others
    /// (every read) needs no key at all: without one it opens the repo with a throwaway key it
    /// never signs with.
    pub fn repo_options(&self, root: &Path) -> Result<Options> {
        let needs_key = self.cli.command.needs_key();
        let identity = match self.signing_identity(root) {
            Ok(Some(id)) => Some(id),
            Ok(None) if needs_key || root.join(WEFT_DIR).join(KEY_FILE).exists() => None,
            Ok(None) => Some(Identity::generate()),
            Err(e) if needs_key || self.cli.identity.is_some() => return Err(e),
            Err(_) => Some(Identity::generate()),
        };
        self.options_with(identity)
    }

    fn options_with(&self, identity: Option<Identity>) -> Result<Options> {
        let mut store = weft_store::Options::default();
        if let Some(n) = env_number("WEFT_CHECKPOINT_EVERY")? {
            store.checkpoint_records = n.max(1);
        }
        if let Some(n) = env_number("WEFT_PACK_SIZE")? {
            store.seal_bytes = n.max(1);
        }
        Ok(Options {
            identity,
            store,
            ..Options::default()
        })
    }

    /// Finds the repo root: `WEFT_DIR`, else the nearest ancestor holding `.weft`.
    pub fn find_root(&self) -> Result<PathBuf> {
        let start = self.start_dir()?;
        if let Command::Serve(ServeArgs { dir: Some(dir), .. }) = &self.cli.command {
            // `weft serve --stdio PATH` (what path and ssh remotes run) serves exactly PATH.
            // Its errors reach the user through the client that ran it: no advice to `init`.
            let root = start.join(dir);
            if !root.exists() {
                return Err(NoRepo(format!("{} does not exist", root.display())).into());
            }
            if !root.join(WEFT_DIR).is_dir() {
                return Err(NoRepo(format!(
                    "not a weft repo: {} (it has no .weft directory)",
                    root.display()
                ))
                .into());
            }
            return Ok(root);
        }
        if let Some(dir) = std::env::var_os("WEFT_DIR").filter(|d| !d.is_empty()) {
            let p = start.join(dir);
            return Ok(if p.file_name().is_some_and(|n| n == WEFT_DIR) {
                p.parent().map(Path::to_path_buf).unwrap_or(p)
            } else {
                p
            });
        }
        for dir in start.ancestors() {
            if dir.join(WEFT_DIR).is_dir() {
                return Ok(dir.to_path_buf());
            }
        }
        Err(weft_dag::open::Error::NotARepo { path: start }.into())
    }

    /// A path from the command line, relative to the caller's directory (which differs from
    /// ours when the command runs for another process).
    pub(crate) fn resolve(&self, path: &Path) -> Result<PathBuf> {
        Ok(self.start_dir()?.join(path))
    }

    /// How the command prints: `--json`, `--quiet`.
    pub(crate) fn output(&self) -> Output {
        Output {
            format: self.format,
            quiet: self.cli.quiet,
        }
    }
}

/// The file in `.weft` that names the key file a repo made with `--identity` signs with (it
/// has no `.weft/key` of its own): one line, the key file's absolute path.
pub(crate) const IDENTITY_FILE: &str = "identity";

/// Records in `weft_dir` that the repo signs with the key file `key` (made absolute), so that
/// later commands use it without `--identity`.
pub(crate) fn remember_identity(weft_dir: &Path, key: &Path) -> Result<()> {
    let key = std::path::absolute(key)
        .with_context(|| format!("cannot resolve the key file path {}", key.display()))?;
    let key = key.canonicalize().unwrap_or(key);
    let mut text = key
        .to_str()
        .with_context(|| format!("the key file path {} is not UTF-8", key.display()))?
        .to_string();
    text.push('\n');
    let file = weft_dir.join(IDENTITY_FILE);
    std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))
}

/// The key file recorded by [`remember_identity`], if any.
fn recorded_identity(weft_dir: &Path) -> Result<Option<PathBuf>> {
    let file = weft_dir.join(IDENTITY_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => Ok(Some(PathBuf::from(text.trim_end_matches(['\n', '\r'])))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {}", file.display()))),
    }
}

/// No repo where `weft serve --stdio DIR` (what a path or ssh remote runs) was pointed: exit 3,
/// as [`weft_dag::open::Error::NotARepo`], without its advice to run `weft init`, since the
/// user reads it as the far side's answer to a sync or clone.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoRepo(pub String);

impl NoRepo {
    /// [`weft_dag::ErrorKind::NotARepo`].
    pub fn kind(&self) -> weft_dag::ErrorKind {
        weft_dag::ErrorKind::NotARepo
    }
}
