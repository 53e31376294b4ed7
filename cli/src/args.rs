//! Command-line arguments: every clap definition (the commands, their arguments, the value
//! parsers of durations, latencies and partitions) and `--help`'s exit codes and environment.
//! It uses no other module of the crate but `exit`, for the table of exit codes.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use weft_lab::{Latency, Partition, Topology};

use crate::exit;

/// `--help`'s text after the commands: the exit codes (from [`exit::CODES`]), then [`ENVIRONMENT`].
fn after_help() -> String {
    format!("{}\n\n{ENVIRONMENT}", exit::help())
}

/// The environment variables weft reads, for `--help`.
const ENVIRONMENT: &str = "\
Environment:
  WEFT_CHECKPOINT_EVERY  write the indexes into the database every N changes (default 16384;
                 after a crash, about so many are staged again when the repo is next opened)
  WEFT_DIR       the repo root (or its .weft directory), instead of searching upward
  WEFT_IDENTITY  a key file to sign with instead of .weft/key
  WEFT_LOG       log filter for diagnostics on stderr (e.g. debug)
  WEFT_PACK_SIZE seal a pack file once it holds N bytes (default 8388608)
  WEFT_REMOTE_WEFT  the weft program on the far side of ssh remotes (default: weft)
  WEFT_SSH       the ssh command for ssh:// and host:path remotes (default: ssh)
  WEFT_TIMEOUT   seconds a peer may stay silent (default 60)";

/// weft: a local-first, content-addressed store of signed CRDT changes.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about, after_help = after_help())]
pub struct Cli {
    /// Run as if started in DIR (the repo is found by searching upward from it).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// The document to use (a local name or a document id; default "main"). For clone, pull,
    /// push, sync and bundle: the one document to transfer (default: all).
    #[arg(short = 'd', long = "doc", global = true, value_name = "NAME")]
    pub doc: Option<String>,
    /// Machine-readable JSON output (see README for the schemas).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only data, no confirmations.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Sign with this key file instead of .weft/key.
    #[arg(long, global = true, env = "WEFT_IDENTITY", value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a repo in DIR/.weft (default: current dir) with a new key and document "main".
    Init {
        /// Where to create the repo.
        dir: Option<PathBuf>,
    },
    /// Print this repo's author public key (with --key, that key file's; no repo needed).
    Id {
        /// Print the public key of this key file instead.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Key files.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The people behind keys: petnames, local to this repo.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Named documents.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Write a register value. VALUE is JSON if it parses as JSON, else a string.
    #[command(allow_negative_numbers = true)]
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Print a key's value as JSON, or with --rows the keys under a prefix as one object.
    Get {
        /// The key (with --rows, the prefix).
        key: String,
        /// Print every concurrent value, one per line.
        #[arg(long)]
        all: bool,
        /// Read the keys under KEY as one object, nested on `/` (`todo/1/title` under `todo`
        /// is {"1": {"title": ...}}); KEY gets a trailing `/` if it has none.
        #[arg(long, conflicts_with = "all")]
        rows: bool,
        /// Read the state as of this revision (time travel): a CID or a unique prefix, `@`,
        /// a remote's name, REV~N; several (repeated or comma-separated): a point with several
        /// heads.
        #[arg(long, value_name = "REV")]
        at: Vec<String>,
    },
    /// Delete a register key, or with --rows every key under a prefix in one change.
    Rm {
        /// The key (with --rows, the prefix).
        key: String,
        /// Delete every key `get --rows KEY` reads, in one change: registers are deleted, sets,
        /// lists and texts emptied, counters (which have no delete) brought back to 0.
        #[arg(long)]
        rows: bool,
    },
    /// List keys with their values.
    Ls {
        /// Only keys starting with this prefix.
        prefix: Option<String>,
        /// Read the state as of this revision (time travel): a CID or a unique prefix, `@`,
        /// a remote's name, REV~N; several (repeated or comma-separated): a point with several
        /// heads.
        #[arg(long, value_name = "REV")]
        at: Vec<String>,
    },
    /// Add DELTA (default 1, may be negative) to a counter.
    #[command(allow_negative_numbers = true)]
    Incr {
        /// The key.
        key: String,
        /// The amount: an integer, negative to decrement.
        #[arg(default_value_t = 1, value_parser = crate::parse::delta)]
        delta: i64,
    },
    /// Add members to a set.
    #[command(allow_negative_numbers = true)]
    Sadd {
        /// The key.
        key: String,
        /// Members (JSON if they parse as JSON, else strings).
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Remove members from a set.
    #[command(allow_negative_numbers = true)]
    Srem {
        /// The key.
        key: String,
        /// Members (JSON if they parse as JSON, else strings).
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Ordered lists of values whose elements keep their ids and move within and between lists.
    #[command(subcommand)]
    List(ListCommand),
    /// Texts for collaborative editing.
    #[command(subcommand)]
    Text(TextCommand),
    /// Undo your newest change not yet undone, with a new change (a peer's later writes stay).
    Undo,
    /// Redo your last undo, with a new change (nothing to redo after a new edit).
    Redo,
    /// Commit the writes on stdin, one change per line, each printed (its CID) once durable.
    ///
    /// Lines: `set KEY VALUE` (VALUE: the rest of the line), `rm KEY`, `incr KEY [DELTA]`,
    /// `sadd KEY MEMBER...`, `srem KEY MEMBER...`, `list push KEY [--before ID | --after ID]
    /// VALUE`, `list insert KEY INDEX VALUE`, `list move KEY ID (--before ID | --after ID |
    /// --to KEY2 [--index N])`, `list rm KEY ID`, `list set KEY ID VALUE`, `text insert KEY POS
    /// STRING` (STRING: the rest of the line), `text delete KEY POS LEN`; blank lines and `#`
    /// comments are skipped.
    /// A bad line stops the batch with an error naming its line number (exit 2 if it does not
    /// parse); the lines before it stay committed.
    Batch,
    /// Show the history, newest first.
    Log(LogArgs),
    /// Show a decoded change, each op with the value it replaced and the one it wrote.
    Show {
        /// The change: a CID or a unique prefix of one, `@` (with one head), or REV~N.
        cid: String,
    },
    /// Print the document's heads.
    Heads,
    /// Show how the state differs between two points: each key whose value differs, with its
    /// value at A and at B. A defaults to the heads of the last sync with origin, B to `@`.
    Diff {
        /// The first point (a revision: `@`, a CID or prefix, a remote's name, REV~N, A,B).
        from: Option<String>,
        /// The second point (default `@`, the heads now).
        to: Option<String>,
    },
    /// Take back a change (anyone's) with a new change that inverts its ops still in effect
    /// (a value written over since stays).
    Revert {
        /// The change: a CID or a unique prefix of one.
        cid: String,
    },
    /// Settle a register conflict: write the value one of the concurrent changes wrote, over
    /// every live value.
    Resolve {
        /// The register.
        key: String,
        /// The change whose value wins: a CID or a unique prefix of one.
        #[arg(long, value_name = "CID", required = true)]
        take: String,
    },
    /// Show which change(s) wrote a key's current value(s).
    Blame {
        /// The key.
        key: String,
        /// The value(s) as of this revision instead (as `get --at`).
        #[arg(long, value_name = "REV")]
        at: Vec<String>,
    },
    /// Export the history DAG (Graphviz DOT renders with `dot -Tsvg`).
    Dag(DagArgs),
    /// Raw blocks.
    #[command(subcommand)]
    Block(BlockCommand),
    /// Verify every block, signature, head ancestry, write rights and the persisted state.
    Fsck,
    /// Give KEY (an author key, as `weft id` prints it) a role in the document: reader, writer
    /// (the default) or admin. Needs the admin role; granting admin needs the owner.
    Grant {
        /// The key.
        key: String,
        /// The role.
        #[arg(long, default_value = "writer", value_parser = ["reader", "writer", "admin"])]
        role: String,
    },
    /// Take every role away from KEY. Its changes that this replica has not seen stop counting
    /// on every replica (see docs/data-model.md, "Write access").
    Revoke {
        /// The key.
        key: String,
    },
    /// List who holds which role in the document.
    Members,
    /// Show weft's main job in a temporary directory: two replicas edit concurrently and converge.
    Demo,
    /// Copy a remote repo into DIR (default: named after the URL) and remember it as "origin".
    /// URL: a path, ssh://[user@]host[:port]/path, [user@]host:path or tcp://[KEY@]host:port (KEY: the server's
    /// key, as `weft serve --listen` prints it; without it, the key is pinned on first use).
    Clone {
        /// Where to copy from.
        url: String,
        /// The new repo's directory.
        dir: Option<PathBuf>,
        /// Network options.
        #[command(flatten)]
        net: NetArgs,
    },
    /// Print a ticket another device joins this repo with (`weft join`).
    ///
    /// The ticket says where to reach this replica (the `weft serve --listen` holding it, which
    /// must be running) and holds an invite signed by its key, for ROLE in the document -d names
    /// (default "main"; --all: every document this key administers), valid for --expires and
    /// --uses joins. `weft invite ls` lists open invites, `weft invite revoke ID` ends one.
    Invite(InviteArgs),
    /// Join with a TICKET from `weft invite`: a new repo, granted a role and cloned.
    ///
    /// The repo is made in DIR (default: named after the inviting repo) with a key of its own
    /// (or --identity's); the inviting replica grants that key the invite's role, and its
    /// documents are cloned on the same connection; "origin" is that replica.
    Join {
        /// The ticket (`weftinvite1...`).
        ticket: String,
        /// The new repo's directory.
        dir: Option<PathBuf>,
        /// Network options.
        #[command(flatten)]
        net: NetArgs,
    },
    /// Named remotes (kept in .weft/remotes).
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Fetch and apply the changes of REMOTE (a remote name or URL; default "origin").
    Pull(SyncArgs),
    /// Send this repo's changes to REMOTE (default "origin").
    Push(SyncArgs),
    /// Pull and push in one session.
    Sync(SyncArgs),
    /// Offline transfer: CAR v1 files of change blocks.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Hold the repo open and serve it: other weft commands on this repo run here, through
    /// .weft/weft.sock. Runs until SIGINT/SIGTERM, or until stdin reaches EOF if it is a pipe.
    Serve(ServeArgs),
    /// Print every change applied to the repo (any document) from now on, one JSON line each,
    /// until SIGINT/SIGTERM.
    Watch(WatchArgs),
    /// Show, per remote, how the last sync went (when it last succeeded, heads in common, changes
    /// ahead and behind, converged or not), and this repo's heads per document.
    Status,
    /// Serve the history browser, a local web page of the document's history (the DAG, each
    /// change, the state at any point, blame, diffs, members, remotes), updated live; prints its
    /// URL, then runs until SIGINT/SIGTERM. Other weft commands on this repo run here meanwhile.
    Ui(UiArgs),
    /// Show how long changes took to get here (from the author's timestamp to their arrival):
    /// min, median, 99th percentile and max, over all and per delivering peer.
    Convergence {
        /// Look at the N most recent arrivals of each document.
        #[arg(short = 'n', value_name = "N", default_value_t = 1000,
              value_parser = clap::value_parser!(u64).range(1..))]
        n: u64,
    },
    /// Simulate many replicas syncing over simulated links (the real sync code, in virtual
    /// time, from a seed) and measure how long they take to agree.
    #[command(subcommand)]
    Lab(LabCommand),
}

impl Command {
    /// Whether this command may run in another weft process that holds the repo (see
    /// `daemon.rs`). `init` and `demo` do not use an existing repo, and `serve` must hold it.
    pub fn proxied(&self) -> bool {
        !matches!(
            self,
            Command::Init { .. }
                | Command::Demo
                | Command::Lab(_)
                | Command::Key(_)
                | Command::Id { key: Some(_) }
                | Command::Text(TextCommand::Edit { .. })
                | Command::Clone { .. }
                | Command::Join { .. }
                | Command::Serve(ServeArgs { stdio: false, .. })
        )
    }

    /// Whether this command signs with the author key (so it cannot run in a process that holds
    /// the repo with another key). `id` only prints a key: it signs nothing.
    pub fn signs(&self) -> bool {
        matches!(
            self,
            Command::Doc(DocCommand::New { .. })
                | Command::Set { .. }
                | Command::Rm { .. }
                | Command::Incr { .. }
                | Command::Sadd { .. }
                | Command::Srem { .. }
                | Command::List(
                    ListCommand::Push { .. }
                        | ListCommand::Insert { .. }
                        | ListCommand::Move { .. }
                        | ListCommand::Rm { .. }
                        | ListCommand::Set { .. }
                )
                | Command::Text(
                    TextCommand::Insert { .. }
                        | TextCommand::Delete { .. }
                        | TextCommand::Edit { .. }
                        | TextCommand::Apply { .. }
                )
                | Command::Undo
                | Command::Redo
                | Command::Revert { .. }
                | Command::Resolve { .. }
                | Command::Batch
                | Command::Grant { .. }
                | Command::Revoke { .. }
                | Command::Ui(UiArgs { write: true, .. })
                | Command::Invite(InviteArgs { command: None, .. })
        )
    }

    /// Whether this command needs the repo's author key: it signs, prints the key (`id`), or
    /// holds the repo and runs other processes' commands in it (`serve`, `watch`). Every other
    /// command (every read) works on a repo that has no key.
    pub fn needs_key(&self) -> bool {
        self.signs()
            || matches!(
                self,
                Command::Id { key: None }
                    | Command::Watch(_)
                    | Command::Ui(_)
                    | Command::Serve(ServeArgs { stdio: false, .. })
            )
    }

    /// The subcommand's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init { .. } => "init",
            Command::Id { .. } => "id",
            Command::Key(_) => "key",
            Command::Member(_) => "member",
            Command::Doc(_) => "doc",
            Command::Set { .. } => "set",
            Command::Get { .. } => "get",
            Command::Rm { .. } => "rm",
            Command::Ls { .. } => "ls",
            Command::Incr { .. } => "incr",
            Command::Sadd { .. } => "sadd",
            Command::Srem { .. } => "srem",
            Command::List(_) => "list",
            Command::Text(_) => "text",
            Command::Undo => "undo",
            Command::Redo => "redo",
            Command::Batch => "batch",
            Command::Log(_) => "log",
            Command::Show { .. } => "show",
            Command::Heads => "heads",
            Command::Diff { .. } => "diff",
            Command::Revert { .. } => "revert",
            Command::Resolve { .. } => "resolve",
            Command::Blame { .. } => "blame",
            Command::Dag(_) => "dag",
            Command::Block(_) => "block",
            Command::Fsck => "fsck",
            Command::Grant { .. } => "grant",
            Command::Revoke { .. } => "revoke",
            Command::Members => "members",
            Command::Demo => "demo",
            Command::Clone { .. } => "clone",
            Command::Invite(_) => "invite",
            Command::Join { .. } => "join",
            Command::Remote(_) => "remote",
            Command::Pull(_) => "pull",
            Command::Push(_) => "push",
            Command::Sync(_) => "sync",
            Command::Bundle(_) => "bundle",
            Command::Serve(_) => "serve",
            Command::Watch(_) => "watch",
            Command::Status => "status",
            Command::Ui(_) => "ui",
            Command::Convergence { .. } => "convergence",
            Command::Lab(_) => "lab",
        }
    }
}

/// `weft serve` options.
///
/// Extension point: network sync will add `--stdio` (speak the sync protocol on stdin/stdout)
/// and `--listen ADDR` here; they run alongside the local daemon (see `Ctx::serve`).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Speak the sync protocol on stdin/stdout for one session (what ssh:// and path remotes
    /// run). Prints nothing else on stdout.
    #[arg(long, conflicts_with = "listen")]
    pub stdio: bool,
    /// Also accept sync sessions on this TCP address (e.g. 127.0.0.1:7450, or port 0 for any),
    /// authenticated and encrypted (Noise); prints `listening on tcp://KEY@ADDR` first (KEY:
    /// this repo's key, which clients pin). A client reads the documents where its key holds a
    /// role, and pushes where it is a writer.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// With --listen: let the client with this key (64 hex digits) read every document, whatever
    /// its role (repeatable). Pushing still needs the writer role.
    #[arg(long, value_name = "KEY", requires = "listen")]
    pub allow: Vec<weft_dag::Author>,
    /// Keep in sync with this peer, a remote name or a URL (repeatable): every --interval with
    /// one of them at random, and right after each local change with those not converged.
    /// Without --peer, --interval syncs with every remote in .weft/remotes (re-read each round).
    #[arg(long, value_name = "REMOTE", conflicts_with = "stdio")]
    pub peer: Vec<String>,
    /// With live sync (--peer or this): time between two rounds, e.g. 200ms, 5s, 1m
    /// (default 5s, give or take 10 %).
    #[arg(long, value_name = "DURATION", conflicts_with = "stdio",
          value_parser = parse_interval)]
    pub interval: Option<std::time::Duration>,
    /// With live sync: how long after a local change to sync with the peers (changes in the
    /// meantime go together); default 50ms.
    #[arg(long, value_name = "DURATION", conflicts_with = "stdio",
          value_parser = parse_duration)]
    pub debounce: Option<std::time::Duration>,
    /// The repo to serve (exactly this directory; default: found from the current one).
    pub dir: Option<PathBuf>,
    /// Network options.
    #[command(flatten)]
    pub net: NetArgs,
}

/// `weft pull|push|sync` arguments.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// A remote name (see `weft remote`) or a URL; default "origin".
    pub remote: Option<String>,
    /// Network options.
    #[command(flatten)]
    pub net: NetArgs,
}

/// `weft log` options.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Draw merges and concurrent branches.
    #[arg(long)]
    pub graph: bool,
    /// Show at most N changes.
    #[arg(short = 'n', value_name = "N")]
    pub n: Option<usize>,
    /// Print whole CIDs (the default prints unique prefixes; --json always whole ones).
    #[arg(long)]
    pub full: bool,
    /// A revision (`@`, a CID or prefix, a remote's name, REV~N, or a range A..B: the changes
    /// B reaches and A does not), then keys or key prefixes: only the changes that touched
    /// them. A word that is no revision is a key.
    #[arg(value_name = "REV|KEY")]
    pub words: Vec<String>,
    /// Only changes that touched a key starting with KEY (repeatable).
    #[arg(short = 'k', long = "key", value_name = "KEY")]
    pub keys: Vec<String>,
    /// Only changes by this author: a key, a unique prefix of one, or a petname.
    #[arg(long, value_name = "KEY")]
    pub author: Option<String>,
    /// Only changes made at or after this time: a date (2026-12-07, 2026-12-07T10:00:00Z) or a
    /// duration ago (2h, 3days).
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub since: Option<u64>,
    /// Only changes made at or before this time (as --since; a date alone is its 00:00 UTC).
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub until: Option<u64>,
    /// Print each op with the value it replaced and the one it wrote.
    #[arg(short = 'p', long = "patch")]
    pub patch: bool,
}

/// Parses a time for `--since`/`--until`: an RFC 3339 date or time (UTC), or a duration ago;
/// milliseconds since the Unix epoch.
fn parse_when(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let ms = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    };
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(ms(std::time::SystemTime::now()
            .checked_sub(d)
            .unwrap_or(std::time::UNIX_EPOCH)));
    }
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    humantime::parse_rfc3339_weak(&full).map(ms).map_err(|_| {
        format!("invalid time {s:?}: a date (2026-12-07), a time (2026-12-07T10:00:00Z) or a duration ago (2h)")
    })
}

/// `weft bundle ...`
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write the changes (of every document, or of -d DOC) that are not below the --since CIDs
    /// into FILE, a CAR v1 file whose roots are the current heads.
    Create {
        /// The bundle file.
        file: PathBuf,
        /// Leave out these changes and their ancestors (e.g. the heads the receiver has).
        #[arg(long, value_name = "CID", num_args = 1..)]
        since: Vec<String>,
    },
    /// Verify FILE and apply its changes.
    Apply {
        /// The bundle file.
        file: PathBuf,
    },
}

/// `weft watch` options.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only changes touching a key that starts with PREFIX.
    pub prefix: Option<String>,
    /// Exit after printing N changes.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// First print `{"ready":true}` once every later change is sure to be printed.
    #[arg(long)]
    pub ready: bool,
    /// First print the changes after this revision (a CID or prefix, `@`, a remote's name,
    /// REV~N, a comma list), one line each, oldest first; then the live feed, without repeats.
    #[arg(long, value_name = "REV")]
    pub since: Option<String>,
}

/// `weft ui` options.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// The address to serve the page on; port 0 takes any free port (the URL printed says
    /// which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7460")]
    pub listen: String,
    /// Allow --listen on an address that is not loopback: anyone who reaches it reads the
    /// repo (and, with --write, writes to it).
    #[arg(long)]
    pub public: bool,
    /// Let the page write (revert a change, resolve a conflict), signing with this repo's key.
    /// Without it the page is read-only and its write requests are refused (HTTP 403).
    #[arg(long)]
    pub write: bool,
}

/// `weft list ...`. An element's ID is `CID/INDEX`, as `list push` and `list ls` print it.
#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// Append VALUE (JSON if it parses as JSON, else a string) to the list KEY, or put it next
    /// to an element; print the new element's id.
    #[command(allow_negative_numbers = true)]
    Push {
        /// The list.
        key: String,
        /// The value.
        value: String,
        /// Put it right before this element.
        #[arg(long, value_name = "ID", conflicts_with = "after")]
        before: Option<String>,
        /// Put it right after this element.
        #[arg(long, value_name = "ID")]
        after: Option<String>,
    },
    /// Insert VALUE at INDEX of the list KEY (0: the start); print the new element's id.
    #[command(allow_negative_numbers = true)]
    Insert {
        /// The list.
        key: String,
        /// Where, from 0.
        index: usize,
        /// The value.
        value: String,
    },
    /// Move element ID of the list KEY: before or after another element, or to another list
    /// (at its end, or at --index). It keeps its id and value.
    Move {
        /// The list it is in.
        key: String,
        /// The element.
        id: String,
        /// Right before this element (of any list).
        #[arg(long, value_name = "ID", group = "target")]
        before: Option<String>,
        /// Right after this element (of any list).
        #[arg(long, value_name = "ID", group = "target")]
        after: Option<String>,
        /// Into this list.
        #[arg(long, value_name = "KEY2", group = "target")]
        to: Option<String>,
        /// With --to: at this index (default: the end).
        #[arg(long, value_name = "N", requires = "to")]
        index: Option<usize>,
    },
    /// Delete element ID of the list KEY.
    Rm {
        /// The list.
        key: String,
        /// The element.
        id: String,
    },
    /// Set the value of element ID of the list KEY.
    #[command(allow_negative_numbers = true)]
    Set {
        /// The list.
        key: String,
        /// The element.
        id: String,
        /// The value.
        value: String,
    },
    /// Print the elements of the list KEY in order: id and value per line.
    Ls {
        /// The list.
        key: String,
        /// Read the state as of this revision (time travel): a CID or a unique prefix, `@`,
        /// a remote's name, REV~N; several (repeated or comma-separated): a point with several
        /// heads.
        #[arg(long, value_name = "REV")]
        at: Vec<String>,
    },
}

/// `weft text ...`. Positions count Unicode characters (scalar values) from 0.
#[derive(Debug, Subcommand)]
pub enum TextCommand {
    /// Insert STRING at POS of the text KEY (made if it does not exist).
    Insert {
        /// The text.
        key: String,
        /// Where.
        pos: usize,
        /// What.
        string: String,
    },
    /// Delete LEN characters of the text KEY from POS.
    Delete {
        /// The text.
        key: String,
        /// Where.
        pos: usize,
        /// How many characters.
        len: usize,
    },
    /// Open $VISUAL or $EDITOR (default vi) on the text KEY; what the save changed becomes
    /// insert and delete ops, placed by the characters you saw (a peer's edit made meanwhile
    /// stays).
    Edit {
        /// The text.
        key: String,
    },
    /// `text edit`'s first step: the text and the heads it was read at, as JSON.
    #[command(hide = true)]
    Show {
        /// The text.
        key: String,
    },
    /// `text edit`'s last step: commit the difference from file OLD to file NEW, OLD being the
    /// text at the heads BASE.
    #[command(hide = true)]
    Apply {
        /// The text.
        key: String,
        /// The text as read.
        old: PathBuf,
        /// The text as saved.
        new: PathBuf,
        /// The heads the text was read at.
        #[arg(long, value_name = "CID", required = true, num_args = 1..)]
        base: Vec<String>,
    },
}

/// `weft key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a new key file (mode 0600; an existing file is never overwritten) and print its
    /// public key. No repo needed.
    New {
        /// The key file.
        file: PathBuf,
    },
}

/// `weft member ...`
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Call KEY (64 hex digits, or a unique prefix of a key known here) NAME in this repo's
    /// output (`log`, `members`, `blame`) and input (`grant`, `revoke`, `log --author`).
    /// Petnames are local: kept in .weft/names, never synced.
    Name {
        /// The key.
        key: String,
        /// Its petname.
        name: String,
    },
}

/// `weft doc ...`
#[derive(Debug, Subcommand)]
pub enum DocCommand {
    /// Create a document.
    New {
        /// Its local name.
        name: String,
    },
    /// List documents: named ones by name, then the unnamed ones (which arrived by sync) by id.
    Ls,
    /// Give a document (by id, or by its current name) the local name NAME.
    Name {
        /// The document's id (as `doc ls` prints it) or current name.
        doc: String,
        /// The new local name.
        name: String,
    },
    /// Remove a document from this replica: it leaves `doc ls` and is neither pulled, pushed
    /// nor served again. Its changes stay in the log; `doc name ID NAME` brings it back.
    Rm {
        /// The document's name or id.
        doc: String,
    },
}

/// `weft block ...`
#[derive(Debug, Subcommand)]
pub enum BlockCommand {
    /// Write a block's raw bytes to stdout.
    Get {
        /// The block's CID.
        cid: String,
    },
    /// Print a block's size and codec.
    Stat {
        /// The block's CID.
        cid: String,
    },
}

/// `weft dag` options.
#[derive(Debug, Args)]
pub struct DagArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = DagFormat::Dot)]
    pub format: DagFormat,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Formats of `weft dag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DagFormat {
    /// Graphviz DOT.
    Dot,
    /// JSON nodes and edges.
    Json,
}

/// Timeout options shared by the commands that talk to a peer.
#[derive(Debug, Args, Clone)]
pub struct NetArgs {
    /// Give up on a peer that sends nothing for SECS seconds.
    #[arg(long, value_name = "SECS", env = "WEFT_TIMEOUT", default_value_t = 60)]
    pub timeout: u64,
    /// The weft to run on the far side of ssh remotes (as git's --upload-pack), run by the far
    /// shell as `PATH serve --stdio REPO`.
    #[arg(
        long,
        value_name = "PATH",
        env = "WEFT_REMOTE_WEFT",
        default_value = "weft"
    )]
    pub remote_weft: String,
}

/// `weft invite [...]`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InviteArgs {
    /// List or revoke invites instead of making one.
    #[command(subcommand)]
    pub command: Option<InviteCommand>,
    /// The role the invite grants.
    #[arg(long, default_value = "writer", value_parser = ["reader", "writer", "admin"])]
    pub role: String,
    /// How long the invite is valid (`30m`, `24h`, `7d`; at most a year).
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub expires: String,
    /// How many devices may join with it.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub uses: u64,
    /// Every document this key administers, instead of the one -d names.
    #[arg(long)]
    pub all: bool,
    /// An address the joiner reaches this replica at (HOST:PORT, repeatable), in place of the
    /// listening server's own (behind a port forward, say).
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Vec<String>,
}

/// `weft invite ls|revoke`
#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// List the invites that may still be used (--all: every invite, with its state).
    Ls {
        /// Used, expired and revoked invites too.
        #[arg(long)]
        all: bool,
    },
    /// End an invite before it is used up: joins with its ticket are refused.
    Revoke {
        /// The invite's id, or its first digits (at least 4), as `weft invite ls` shows it.
        id: String,
    },
}

/// `weft remote ...`
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Remember URL under NAME.
    Add {
        /// The name.
        name: String,
        /// A path, ssh://[user@]host[:port]/path or tcp://[KEY@]host:port.
        url: String,
    },
    /// List remotes.
    Ls,
    /// Forget a remote.
    Rm {
        /// The name.
        name: String,
    },
}

/// `weft lab ...`
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Simulate one network (or several seeds of it) and print what it measured.
    Run(RunArgs),
    /// Sweep peers, latency, keys, and write rate against sync interval; write runs.csv and
    /// SVG charts into --out.
    Sweep(SweepArgs),
}

/// The parameters of one simulated network.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Replicas.
    #[arg(long, default_value_t = 50)]
    pub peers: usize,
    /// mesh (random gossip over all peers), ring, star (peer 0 is the server) or regular:K.
    #[arg(long, default_value = "mesh", value_parser = parse_topology)]
    pub topology: Topology,
    /// One-way latency per link: 20ms, uniform:10ms..100ms, or lognormal:50ms:0.5 (median and
    /// shape); drawn once per link.
    #[arg(long, default_value = "20ms", value_parser = parse_latency)]
    pub latency: Latency,
    /// Bytes per second per link (0: unlimited).
    #[arg(long, default_value_t = 0.0)]
    pub bandwidth: f64,
    /// Probability that a message is lost; its session then times out and aborts.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// A partition that heals: START..END (durations from the start of the run), optionally
    /// :FRACTION of the peers on one side (default 0.5), e.g. 2s..10s:0.3.
    #[arg(long, value_parser = parse_partition)]
    pub partition: Option<Partition>,
    /// How many peers write (chosen at random).
    #[arg(long, default_value_t = 5)]
    pub writers: usize,
    /// Changes per second over all writers.
    #[arg(long, default_value_t = 50.0)]
    pub write_rate: f64,
    /// Changes written in all.
    #[arg(long, default_value_t = 1_000)]
    pub changes: usize,
    /// Distinct keys the writes spread over.
    #[arg(long, default_value_t = 100)]
    pub keys: usize,
    /// How often each peer syncs with one random neighbour.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// After a local write, also sync at once with this many random neighbours (0: off).
    #[arg(long, default_value_t = 0)]
    pub push_fanout: usize,
    /// Seed of every random choice; a run is reproducible from it.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run this many seeds (seed, seed+1, ...) and report the distribution.
    #[arg(long, default_value_t = 1)]
    pub runs: u64,
    /// Give up after this much simulated time.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub max_time: Duration,
}

/// `weft lab sweep` options.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Where runs.csv and the charts go.
    #[arg(long, default_value = "lab-out")]
    pub out: PathBuf,
    /// Seeded runs per point (default: 5, or 2 with --quick).
    #[arg(long)]
    pub runs: Option<u64>,
    /// A small sweep that takes seconds, for a first look.
    #[arg(long)]
    pub quick: bool,
}

/// Parses a duration such as `200ms`, `5s`, `1m` or `1h 30m` (for clap).
fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?}: {e} (examples: 200ms, 5s, 1m)"))
}

/// Parses `--interval`: a duration of at least 1 ms.
fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(1) {
        return Err(format!("interval {s:?} is too short (at least 1ms)"));
    }
    Ok(d)
}

fn parse_topology(s: &str) -> Result<Topology, String> {
    s.parse()
}

fn ms(s: &str) -> Result<f64, String> {
    parse_duration(s).map(|d| d.as_secs_f64() * 1e3)
}

fn parse_latency(s: &str) -> Result<Latency, String> {
    if let Some(range) = s.strip_prefix("uniform:") {
        let (lo, hi) = range
            .split_once("..")
            .ok_or_else(|| format!("{s:?}: use uniform:LOW..HIGH"))?;
        let (lo, hi) = (ms(lo)?, ms(hi)?);
        if hi < lo {
            return Err(format!("{s:?}: the upper bound is below the lower one"));
        }
        return Ok(Latency::Uniform(lo, hi));
    }
    if let Some(rest) = s.strip_prefix("lognormal:") {
        let (median, sigma) = rest
            .split_once(':')
            .ok_or_else(|| format!("{s:?}: use lognormal:MEDIAN:SIGMA"))?;
        let sigma: f64 = sigma
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| format!("{s:?}: SIGMA must be a number >= 0"))?;
        return Ok(Latency::LogNormal {
            median: ms(median)?,
            sigma,
        });
    }
    ms(s).map(Latency::Fixed)
}

fn parse_partition(s: &str) -> Result<Partition, String> {
    let (span, fraction) = match s.rsplit_once(':') {
        Some((span, f)) => (
            span,
            f.parse::<f64>()
                .ok()
                .filter(|f| *f > 0.0 && *f < 1.0)
                .ok_or_else(|| format!("{s:?}: FRACTION must be between 0 and 1"))?,
        ),
        None => (s, 0.5),
    };
    let (start, end) = span
        .split_once("..")
        .ok_or_else(|| format!("{s:?}: use START..END[:FRACTION], e.g. 2s..10s"))?;
    let (start, end) = (ms(start)? / 1e3, ms(end)? / 1e3);
    if end <= start {
        return Err(format!("{s:?}: the partition must end after it starts"));
    }
    Ok(Partition {
        start,
        end,
        fraction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_documented() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "5", "fast", "-1s", "1 parsec"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_interval("0ms").is_err());
        assert_eq!(parse_interval("1ms"), Ok(Duration::from_millis(1)));
    }
}
