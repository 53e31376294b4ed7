//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  any other error (I/O, storage)
  2  bad usage: unknown flag, invalid CID string, invalid value or key
  3  not a weft repo (no .weft here or in any parent)
  4  not found: unknown key, CID or document
  5  wrong type: the key holds another CRDT kind (register, counter, set)
  6  the repo is open in another weft process that does not serve it (after waiting 5 s),
     or it is served by one that signs with another key than --identity
  7  corrupt data: a block fails verification, or fsck found problems

Environment:
  WEFT_DIR       the repo root (or its .weft directory), instead of searching upward
  WEFT_IDENTITY  a key file to sign with instead of .weft/key
  WEFT_LOG       log filter for diagnostics on stderr (e.g. debug)";

/// weft: a local-first, content-addressed store of signed CRDT changes.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Run as if started in DIR (the repo is found by searching upward from it).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// The document to use (a local name or a document id).
    #[arg(
        short = 'd',
        long = "doc",
        global = true,
        value_name = "NAME",
        default_value = "main"
    )]
    pub doc: String,
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
    /// Print this repo's author public key.
    Id,
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
    /// Print a key's value as JSON.
    Get {
        /// The key.
        key: String,
        /// Print every concurrent value, one per line.
        #[arg(long)]
        all: bool,
        /// Read the state as of this change (time travel).
        #[arg(long, value_name = "CID")]
        at: Option<String>,
    },
    /// Delete a register key.
    Rm {
        /// The key.
        key: String,
    },
    /// List keys with their values.
    Ls {
        /// Only keys starting with this prefix.
        prefix: Option<String>,
        /// Read the state as of this change (time travel).
        #[arg(long, value_name = "CID")]
        at: Option<String>,
    },
    /// Add DELTA (default 1, may be negative) to a counter.
    #[command(allow_negative_numbers = true)]
    Incr {
        /// The key.
        key: String,
        /// The amount.
        #[arg(default_value_t = 1)]
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
    /// Show the history, newest first.
    Log {
        /// Draw merges and concurrent branches.
        #[arg(long)]
        graph: bool,
        /// Show at most N changes.
        #[arg(short = 'n', value_name = "N")]
        n: Option<usize>,
    },
    /// Show a decoded change.
    Show {
        /// The change's CID.
        cid: String,
    },
    /// Print the document's heads.
    Heads,
    /// Show which change(s) wrote a key's current value(s).
    Blame {
        /// The key.
        key: String,
    },
    /// Export the history DAG (Graphviz DOT renders with `dot -Tsvg`).
    Dag(DagArgs),
    /// Raw blocks.
    #[command(subcommand)]
    Block(BlockCommand),
    /// Verify every block, signature, head ancestry and the persisted state.
    Fsck,
    /// Show weft's main job in a temporary directory: two replicas edit concurrently and converge.
    Demo,
    /// Hold the repo open and serve it: other weft commands on this repo run here, through
    /// .weft/weft.sock. Runs until SIGINT/SIGTERM, or until stdin reaches EOF if it is a pipe.
    Serve(ServeArgs),
    /// Print every change applied to the repo (any document) from now on, one JSON line each,
    /// until SIGINT/SIGTERM.
    Watch(WatchArgs),
}

impl Command {
    /// Whether this command may run in another weft process that holds the repo (see
    /// `daemon.rs`). `init` and `demo` do not use an existing repo, and `serve` must hold it.
    pub fn proxied(&self) -> bool {
        !matches!(
            self,
            Command::Init { .. } | Command::Demo | Command::Serve(_)
        )
    }

    /// Whether this command signs with the author key (so it cannot run in a process that holds
    /// the repo with another key). `id` prints the key, so it counts.
    pub fn signs(&self) -> bool {
        matches!(
            self,
            Command::Id
                | Command::Doc(DocCommand::New { .. })
                | Command::Set { .. }
                | Command::Rm { .. }
                | Command::Incr { .. }
                | Command::Sadd { .. }
                | Command::Srem { .. }
        )
    }

    /// The subcommand's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init { .. } => "init",
            Command::Id => "id",
            Command::Doc(_) => "doc",
            Command::Set { .. } => "set",
            Command::Get { .. } => "get",
            Command::Rm { .. } => "rm",
            Command::Ls { .. } => "ls",
            Command::Incr { .. } => "incr",
            Command::Sadd { .. } => "sadd",
            Command::Srem { .. } => "srem",
            Command::Log { .. } => "log",
            Command::Show { .. } => "show",
            Command::Heads => "heads",
            Command::Blame { .. } => "blame",
            Command::Dag(_) => "dag",
            Command::Block(_) => "block",
            Command::Fsck => "fsck",
            Command::Demo => "demo",
            Command::Serve(_) => "serve",
            Command::Watch(_) => "watch",
        }
    }
}

/// `weft serve` options.
///
/// Extension point: network sync will add `--stdio` (speak the sync protocol on stdin/stdout)
/// and `--listen ADDR` here; they run alongside the local daemon (see `Ctx::serve`).
#[derive(Debug, Args)]
pub struct ServeArgs {}

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
}

/// `weft doc ...`
#[derive(Debug, Subcommand)]
pub enum DocCommand {
    /// Create a document.
    New {
        /// Its local name.
        name: String,
    },
    /// List documents.
    Ls,
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
