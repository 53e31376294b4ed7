//! What the command modules share to print and to fail: the output [`Format`], the
//! [`Outcome`] trait and [`emit`] that prints one in either format, [`write_json`],
//! [`time_str`], [`summary`] and [`plural`] for what they print, and [`UsageError`] (exit 2)
//! with [`usage`].
//! It uses no other module of the crate.

use std::{
    io::Write,
    time::{Duration, UNIX_EPOCH},
};

use anyhow::Result;
use serde::Serialize;
use weft_dag::{change::Op, Change, ErrorKind};

/// Human text or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text for people.
    Human,
    /// JSON (one document, or JSON Lines for `log`).
    Json,
}

/// How a command prints: the format, and whether `--quiet` asked for less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Human text or JSON.
    pub format: Format,
    /// `--quiet`: human output leaves out what is not the answer (JSON is never shortened).
    pub quiet: bool,
}

impl Output {
    /// `--json`.
    pub fn json(self) -> bool {
        self.format == Format::Json
    }
}

/// What a command found or did. With `--json` it is printed as it serializes (the schema the
/// README documents); otherwise as [`Outcome::human`] writes it.
pub(crate) trait Outcome: Serialize {
    /// The text for people; `quiet` as `--quiet`.
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()>;
}

/// Prints `outcome` as `output` asks.
pub(crate) fn emit(out: &mut dyn Write, output: Output, outcome: &impl Outcome) -> Result<()> {
    match output.format {
        Format::Json => write_json(out, outcome),
        Format::Human => outcome.human(out, output.quiet),
    }
}

/// Bad input from the user: exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl UsageError {
    /// Always [`ErrorKind::InvalidInput`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

/// A network failure of our own side (an address to listen on that is taken or not ours):
/// exit code 8, as for a peer that cannot be reached.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NetworkError(pub String);

impl NetworkError {
    /// Always [`ErrorKind::Network`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Network
    }
}

/// A [`UsageError`] as an error to return.
pub(crate) fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// RFC 3339 for times humantime can format (years up to 9999), else raw milliseconds: `time`
/// comes from the author and is informational, so any value must print.
pub(crate) fn time_str(ms: u64) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let t = UNIX_EPOCH.checked_add(Duration::from_millis(ms));
    match t.map(|t| write!(s, "{}", humantime::format_rfc3339_millis(t))) {
        Some(Ok(())) => s,
        _ => format!("{ms}ms"),
    }
}

/// A change's first four ops in a few words (`set KEY`, `grant ROLE KEY`, ...), for `log`, `dag`
/// and `demo`.
pub(crate) fn summary(change: &Change) -> String {
    let parts: Vec<String> = change
        .ops
        .iter()
        .take(4)
        .map(|op| match op {
            Op::Genesis { .. } => "genesis".to_string(),
            Op::Grant { who, role } => format!("grant {role} {}", who.short()),
            Op::Revoke { who } => format!("revoke {}", who.short()),
            other => format!("{} {}", other.name(), other.key().unwrap_or_default()),
        })
        .collect();
    let mut s = parts.join(", ");
    if change.ops.len() > 4 {
        s.push_str(&format!(", +{} more", change.ops.len() - 4));
    }
    s
}

/// Writes `v` as one line of JSON.
pub(crate) fn write_json(out: &mut dyn Write, v: &impl Serialize) -> Result<()> {
    // As an io::Error, so that a closed stdout is recognised as a broken pipe (a
    // serde_json::Error does not expose its io::Error as a source).
    serde_json::to_writer(&mut *out, v).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

/// `n` things: `1 change`, `2 changes` (`one` takes an `s` in the plural).
pub fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}
