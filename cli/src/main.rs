//! `weft`: the command-line tool. The only crate that prints, and the only one using `anyhow`.
//!
//! No module imports another that imports it back (`tests/it/modules.rs` checks it): `exit`
//! (exit codes and the advice added to errors), `out` (output and usage errors), `graph` and
//! `stop` use no other module, `args` (the command line) only `exit`, `ctx` ([`Ctx`]) only
//! those, and no module uses `cmd`, the dispatcher. This file, the crate root, uses them all: it
//! routes a command and turns its error into an exit code.

/// mimalloc: the `lab` simulation allocates and frees small buffers at a high rate, and glibc's
/// allocator cost it a fifth of its time (BENCHMARKS.md, "Lab").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Makes mimalloc return freed pages to the OS at once rather than after a delay. A clone of
/// 100,000 changes, whose verification threads allocate what the writer frees, otherwise peaks at
/// ~110 MB resident for 82 MB of live heap; with it, ~72 MB in the same time within noise
/// (BENCHMARKS.md, "Memory"). Transparent huge pages are off for the same reason (the `no_thp`
/// feature): a purged page inside a huge page stays resident. `MIMALLOC_PURGE_DELAY` in the
/// environment is overridden.
#[allow(unsafe_code)]
fn tune_allocator() {
    // `mi_option_purge_delay` in mimalloc's `mi_option_e` (v2 and v3 alike); the crate's
    // bindings do not name it.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: `mi_option_set` stores a number in mimalloc's option table, which mimalloc reads
    // atomically whenever it purges; 0 ("purge at once") is a documented value of this option.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

mod args;
mod batch;
mod cmd;
mod ctx;
mod daemon;
mod demo;
mod exit;
mod fix;
mod graph;
mod history;
mod invite;
mod lab;
mod live;
mod net;
mod out;
mod parse;
mod people;
mod read;
mod repo;
mod rev;
mod seq;
mod serve;
mod stop;
mod ui;
mod write;

use std::{
    ffi::OsString,
    io::{self, Write},
    process::ExitCode,
    sync::Arc,
};

use anyhow::Context as _;
use clap::Parser as _;
use weft_dag::{ErrorKind, Identity, Repo, WEFT_DIR};

use crate::{
    args::{Cli, Command},
    ctx::Ctx,
    daemon::{Daemon, Route},
    out::UsageError,
    stop::Stop,
};

/// The kind of an error of the chain, if it is one of the libraries' errors or the command
/// line's own: one downcast per error type, each of which says its kind.
fn kind_of(cause: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    macro_rules! first_of {
        ($($t:ty),* $(,)?) => {
            $(if let Some(e) = cause.downcast_ref::<$t>() {
                return Some(e.kind());
            })*
        };
    }
    first_of!(
        UsageError,
        out::NetworkError,
        out::NotFound,
        ctx::NoRepo,
        daemon::Busy,
        net::PeerKeyMismatch,
        weft_net::invite::Error,
        net::UnknownRemote,
        weft_sync::Error,
        weft_dag::Error,
        weft_dag::open::Error,
        weft_dag::ValueError,
        weft_dag::identity::IdentityError,
        weft_dag::change::DecodeError,
        weft_dag::change::VerifyError,
        weft_store::Error,
        weft_store::OpenError,
        weft_store::LogError,
        weft_store::HashMismatch,
        weft_store::ParseError,
    );
    None
}

/// The exit code of an error: that of the kind of the first error in its chain that has one
/// (see [`exit::CODES`]), else that of [`ErrorKind::Other`].
fn exit_code(err: &anyhow::Error) -> u8 {
    let kind = err.chain().find_map(kind_of);
    exit::code(kind.unwrap_or(ErrorKind::Other))
}

/// An error and its causes on one line, each cause once: a cause whose text its error already
/// shows (an OS error that a message quotes) is not repeated. A library's error gets the
/// command line's advice ([`exit::advice`]).
fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        // One line, and no control character of a peer's text (an ERROR frame, an ssh child's
        // stderr, a document name) reaches the terminal raw.
        let text = weft_sync::printable(
            &format!("{cause}{}", exit::advice(cause).unwrap_or_default()).replace('\n', " "),
        );
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Whether the reader of our output went away (as in `weft log | head`), which is no failure.
/// A broken pipe to a peer (a `weft serve --stdio` child or ssh that died) is one: it comes
/// wrapped in a sync error, and the chain is not searched past that.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    for cause in err.chain() {
        if cause.downcast_ref::<weft_sync::Error>().is_some() {
            return false;
        }
        if cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        {
            return true;
        }
    }
    false
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
    tune_allocator();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // Usage errors are one line on stderr, like every other error.
            let _ = writeln!(io::stderr(), "weft: error: {}", usage_error_line(&e));
            return ExitCode::from(exit::code(ErrorKind::InvalidInput));
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
        .with_env_filter(log_filter(std::env::var("WEFT_LOG").ok().as_deref()))
        .with_writer(io::stderr)
        // Plain text when stderr is a file or a pipe (a log that scripts read).
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .init();

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    ExitCode::from(run(&cli, &args, &mut out, &mut io::stderr()))
}

/// The log filter: `WEFT_LOG`, else warnings. The database's own log lines (sled's) are never
/// shown unless `WEFT_LOG` names sled: weft reports what failed itself, once.
fn log_filter(var: Option<&str>) -> tracing_subscriber::EnvFilter {
    let spec = var.filter(|v| !v.trim().is_empty()).unwrap_or("warn");
    let spec = if spec.contains("sled") {
        spec.to_string()
    } else {
        format!("{spec},sled=off")
    };
    tracing_subscriber::EnvFilter::try_new(&spec)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sled=off"))
}

/// Runs a parsed command line: `init` and `demo` on their own; every other command on the repo,
/// opened here or, while another weft process holds it, in that process (see `daemon.rs`).
/// `args` is the raw command line without `argv[0]`, for forwarding. Returns the exit code.
fn run(cli: &Cli, args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let ctx = Ctx::new(cli);
    if matches!(
        cli.command,
        Command::Init { .. }
            | Command::Demo
            | Command::Lab(_)
            | Command::Clone { .. }
            | Command::Join { .. }
            | Command::Key(_)
            | Command::Id { key: Some(_) }
    ) {
        return finish(ctx.run_standalone(out), out, err);
    }
    if let Command::Text(args::TextCommand::Edit { key }) = &cli.command {
        // The editor runs here; reading and committing go where the repo is.
        return match seq::edit(cli, key, out) {
            Ok(code) => code,
            Err(e) => finish(Err(e), out, err),
        };
    }
    let routed = (|| {
        ctx.check_args()?;
        let root = ctx.find_root()?;
        let options = ctx.repo_options(&root)?;
        let route = daemon::open_or_connect(&root, &options, cli.command.proxied())?;
        anyhow::Ok((root, options, route))
    })();
    match routed {
        Err(e) => finish(Err(e), out, err),
        Ok((_, _, Route::Local(repo))) => run_local(ctx, *repo, out, err),
        Ok((_, _, Route::Remote(client))) if matches!(&cli.command, Command::Serve(a) if a.stdio) =>
        {
            // `serve --stdio` on a repo another weft process holds: that process answers the
            // session; this one only carries the bytes.
            let timeout = match &cli.command {
                Command::Serve(a) => a.net.timeout,
                _ => weft_net::transport::DEFAULT_TIMEOUT.as_secs(),
            };
            match client.splice_sync(std::time::Duration::from_secs(timeout.max(1))) {
                Ok(()) => 0,
                Err(e) => finish(Err(e), out, err),
            }
        }
        Ok((root, options, Route::Remote(client))) => {
            if let Some(author) = local_id(cli, &root, options.identity.as_ref()) {
                // `id` signs nothing: the key this process would sign with is printed here.
                return finish(
                    read::author_id(author, out, ctx.output()).map(|_| true),
                    out,
                    err,
                );
            }
            let forwarded = (|| {
                if cli.command.signs() {
                    check_identity(cli, &root, options.identity.as_ref(), client.author())?;
                }
                let cwd = std::env::current_dir().context("cannot read the current directory")?;
                // `batch` reads stdin: the serving process gets ours.
                let stdin = matches!(cli.command, Command::Batch);
                client.forward(args, &cwd, stdin, out, err)
            })();
            match forwarded {
                // The serving process already printed any error.
                Ok(code) => code,
                Err(e) => finish(Err(e), out, err),
            }
        }
    }
}

/// For `weft id` on a repo another process serves: the key this process would sign with, if it
/// knows one (`--identity`, the key file the repo recorded, `.weft/key`).
fn local_id(
    cli: &Cli,
    root: &std::path::Path,
    identity: Option<&Identity>,
) -> Option<weft_dag::Author> {
    if !matches!(cli.command, Command::Id { .. }) {
        return None;
    }
    let key_file = root.join(WEFT_DIR).join(weft_dag::KEY_FILE);
    match identity {
        Some(id) => Some(id.author()),
        None => Identity::load(&key_file).ok().map(|id| id.author()),
    }
}

/// A command that signs must sign with the key this process would use: refuses to forward it
/// to a process that holds the repo with another key.
fn check_identity(
    cli: &Cli,
    root: &std::path::Path,
    identity: Option<&Identity>,
    served_as: weft_dag::identity::Author,
) -> anyhow::Result<()> {
    let key_file = root.join(WEFT_DIR).join(weft_dag::KEY_FILE);
    let ours = match identity {
        Some(id) => id.author(),
        // Without --identity the repo's key; if it has none, the server's key is the only one.
        None if key_file.exists() => Identity::load(&key_file)?.author(),
        None => return Ok(()),
    };
    if ours == served_as {
        return Ok(());
    }
    let source = match &cli.identity {
        Some(path) => format!("the key in {}", path.display()),
        None if key_file.exists() => format!("the repo's key ({})", key_file.display()),
        None => "the key file this repo was made with (--identity)".to_string(),
    };
    Err(daemon::Busy(format!(
        "`weft {}` would sign with {source}, but the weft process serving the repo at {} signs \
         as {served_as} (stop it, or run the command with the same key)",
        cli.command.name(),
        root.display(),
    ))
    .into())
}

/// Runs a command on a repo this process opened: `serve` serves it, `watch` serves it while
/// watching, everything else runs and returns.
fn run_local(ctx: Ctx<'_>, repo: Repo, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match &ctx.cli().command {
        Command::Serve(args) => {
            let result =
                Stop::on_signals().and_then(|stop| ctx.serve(Arc::new(repo), args, stop, out));
            finish(result.map(|()| true), out, err)
        }
        Command::Watch(_) | Command::Ui(_) => {
            let repo = Arc::new(repo);
            // The signal handler first, so that no signal ends the process while the socket
            // file exists; then the daemon, so that watching does not lock everyone else out.
            let started = Stop::on_signals().and_then(|stop| {
                let daemon = match repo.root() {
                    Some(root) if cfg!(unix) && !repo.is_read_only() => {
                        Some(Daemon::start(Arc::clone(&repo), &root.join(WEFT_DIR))?)
                    }
                    _ => None,
                };
                Ok((stop, daemon))
            });
            match started {
                Err(e) => finish(Err(e), out, err),
                Ok((stop, daemon)) => {
                    let code = run_on_repo(&ctx.with_stop(stop), &repo, out, err);
                    drop(daemon);
                    code
                }
            }
        }
        _ => run_on_repo(&ctx, &repo, out, err),
    }
}

/// Runs the command on `repo`, already open in this process, writing its output to `out` and
/// any error line to `err`; returns the exit code. The one path for commands run here and for
/// commands the daemon runs for other processes.
fn run_on_repo(ctx: &Ctx<'_>, repo: &Repo, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let result = ctx.run(repo, out);
    for line in ctx.take_notes() {
        let _ = writeln!(err, "{}", weft_sync::printable(&line));
    }
    finish(result, out, err)
}

/// Flushes `out` and turns a command's result into an exit code, printing the one error line on
/// `err`. `Ok(false)`: the command ran but found problems (fsck).
fn finish(result: anyhow::Result<bool>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let result = result.and_then(|ok| Ok(out.flush().map(|()| ok)?));
    match result {
        Ok(true) => 0,
        Ok(false) => {
            let _ = writeln!(err, "weft: error: fsck found problems (listed above)");
            exit::code(ErrorKind::Corrupt)
        }
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            // Whatever was printed before the error still goes out (best effort).
            let _ = out.flush();
            let _ = writeln!(err, "weft: error: {}", error_line(&e));
            exit_code(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_error_that_a_message_quotes_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot open /r: read-only file system")]
        struct Quoting(#[source] io::Error);
        let os = io::Error::from_raw_os_error(30);
        let quoted = anyhow::Error::new(Quoting(io::Error::other("read-only file system")));
        assert_eq!(error_line(&quoted), "cannot open /r: read-only file system");
        let plain = anyhow::Error::new(os).context("writing /r");
        assert_eq!(
            error_line(&plain),
            "writing /r: Read-only file system (os error 30)"
        );
    }

    #[test]
    fn the_databases_log_lines_stay_off_unless_asked_for() {
        let has = |f: tracing_subscriber::EnvFilter, d: &str| {
            f.to_string().split(',').any(|part| part == d)
        };
        assert!(has(log_filter(None), "sled=off"));
        assert!(has(log_filter(None), "warn"));
        assert!(has(log_filter(Some("debug")), "sled=off"));
        assert!(has(log_filter(Some("debug")), "debug"));
        assert!(!has(log_filter(Some("sled=info")), "sled=off"));
    }

    #[test]
    fn a_broken_pipe_to_a_peer_is_a_network_failure() {
        let broken = || io::Error::from(io::ErrorKind::BrokenPipe);
        // Our reader went away (`weft log | head`): success.
        assert!(is_broken_pipe(
            &anyhow::Error::new(broken()).context("writing")
        ));
        // The peer went away (a `weft serve --stdio` child that failed before reading): exit 8.
        let peer = anyhow::Error::new(weft_sync::Error::Io {
            peer: "/some/repo".into(),
            source: broken(),
        });
        assert!(!is_broken_pipe(&peer));
        assert_eq!(exit_code(&peer), exit::code(ErrorKind::Network));
    }

    #[test]
    fn tcp_authentication_and_access_failures_are_10() {
        use weft_sync::Error as S;
        let key = |b| weft_dag::Author([b; 32]);
        for e in [
            S::Handshake {
                peer: "tcp://h:1".into(),
                reason: "message 2 does not decrypt".into(),
            },
            S::WrongPeerKey {
                addr: "tcp://h:1".into(),
                expected: key(1),
                presented: key(2),
            },
            S::Tampered {
                peer: "tcp://h:1".into(),
            },
            S::Refused {
                reason: "access refused: key 01 may read no document here".into(),
            },
        ] {
            assert_eq!(
                exit_code(&anyhow::Error::new(e)),
                exit::code(ErrorKind::Denied)
            );
        }
        let mismatch = anyhow::Error::new(net::PeerKeyMismatch("tcp://h:1 presented ...".into()));
        assert_eq!(exit_code(&mismatch), exit::code(ErrorKind::Denied));
        // A peer that does not speak the handshake broke the protocol; one that cut it, the
        // network.
        let garbage = S::Malformed {
            what: "secure handshake",
            reason: "message 2 of 18516 bytes".into(),
        };
        assert_eq!(
            exit_code(&anyhow::Error::new(garbage)),
            exit::code(ErrorKind::Peer)
        );
        let cut = S::Closed {
            during: "during the secure handshake",
        };
        assert_eq!(
            exit_code(&anyhow::Error::new(cut)),
            exit::code(ErrorKind::Network)
        );
    }
}
