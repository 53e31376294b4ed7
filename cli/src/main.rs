//! `weft`: the command-line tool. The only crate that prints, and the only one using `anyhow`.

mod args;
mod cmd;
mod demo;
mod graph;

use std::{
    io::{self, Write as _},
    process::ExitCode,
};

use clap::Parser as _;

use crate::{args::Cli, cmd::UsageError};

/// Exit codes (also listed in `weft --help` and the README).
mod code {
    pub const OTHER: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_A_REPO: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const WRONG_TYPE: u8 = 5;
    pub const LOCKED: u8 = 6;
    pub const CORRUPT: u8 = 7;
}

fn exit_code(err: &anyhow::Error) -> u8 {
    use weft_dag::Error as E;
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some()
            || cause.downcast_ref::<weft_dag::ValueError>().is_some()
            || cause
                .downcast_ref::<weft_dag::identity::IdentityError>()
                .is_some_and(|e| {
                    matches!(e, weft_dag::identity::IdentityError::BadPublicKey { .. })
                })
        {
            return code::USAGE;
        }
        if cause
            .downcast_ref::<weft_dag::change::DecodeError>()
            .is_some()
            || cause
                .downcast_ref::<weft_dag::change::VerifyError>()
                .is_some()
            || cause.downcast_ref::<weft_store::HashMismatch>().is_some()
        {
            return code::CORRUPT;
        }
        if let Some(e) = cause.downcast_ref::<E>() {
            return match e {
                E::NotARepo { .. } => code::NOT_A_REPO,
                E::UnknownDoc { .. }
                | E::KeyNotFound { .. }
                | E::UnknownCid { .. }
                | E::WrongDoc { .. } => code::NOT_FOUND,
                E::WrongType { .. } => code::WRONG_TYPE,
                E::Locked { .. } => code::LOCKED,
                E::InvalidKey { .. }
                | E::InvalidValue(_)
                | E::InvalidDocName { .. }
                | E::ChangeTooLarge { .. }
                | E::CounterOverflow { .. }
                | E::Store(weft_store::Error::BlockTooLarge { .. }) => code::USAGE,
                E::HashMismatch(_) | E::Decode(_) | E::Verify(_) | E::InvalidChange { .. } => {
                    code::CORRUPT
                }
                E::Store(
                    weft_store::Error::HashMismatch(_) | weft_store::Error::CorruptEntry { .. },
                )
                | E::Open(weft_store::OpenError::Corrupt { .. }) => code::CORRUPT,
                _ => continue,
            };
        }
    }
    code::OTHER
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Clap's multi-line usage error as one line: the message and its tips, then the usage.
fn usage_error_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let msg = if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        "a command is required".to_string()
    } else {
        let lines: Vec<&str> = text
            .lines()
            .take_while(|l| !l.starts_with("Usage:"))
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
            .collect();
        let msg = lines.join(" ");
        msg.strip_prefix("error: ").unwrap_or(&msg).to_string()
    };
    match text.lines().find_map(|l| l.strip_prefix("Usage: ")) {
        Some(usage) => format!("{msg} (usage: {}; see `weft --help`)", usage.trim()),
        None => format!("{msg} (see `weft --help`)"),
    }
}

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // Usage errors are one line on stderr, like every other error.
            let _ = writeln!(io::stderr(), "weft: error: {}", usage_error_line(&e));
            return ExitCode::from(code::USAGE);
        }
        Err(e) => {
            // Help and version go to stdout with 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    // A panic is a bug in weft; still keep to one line on stderr and no backtrace.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            io::stderr(),
            "weft: error: internal error (a bug in weft, please report it): {}",
            info.to_string().replace('\n', " ")
        );
    }));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(io::stderr)
        .init();

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = cmd::Ctx::new(&cli)
        .run(&mut out)
        .and_then(|ok| Ok(out.flush().map(|()| ok)?));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            let _ = writeln!(
                io::stderr(),
                "weft: error: fsck found problems (listed above)"
            );
            ExitCode::from(code::CORRUPT)
        }
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Whatever was printed before the error still goes out (best effort).
            let _ = out.flush();
            let msg = format!("{e:#}").replace('\n', " ");
            let _ = writeln!(io::stderr(), "weft: error: {msg}");
            ExitCode::from(exit_code(&e))
        }
    }
}
