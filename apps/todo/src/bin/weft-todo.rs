//! The `weft-todo` binary: opens (or makes) the data directory, serves peers, live-syncs,
//! and opens the window.
//!
//! Exit codes: 0 after the window closed, 1 when the device could not start (the data
//! directory, the address to listen on, a peer's URL) or the window could not open, 2 for bad
//! arguments.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context as _, Result};
use clap::Parser;

/// A todo app whose lists sync live between devices.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The data directory (made on first start).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Serve peers over tcp at this address (`127.0.0.1:0` picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Live-sync with this peer (`tcp://KEY@HOST:PORT`, as its People panel shows); repeatable.
    /// With a peer and no board yet, the app waits for the peer's board.
    #[arg(long, value_name = "URL")]
    peer: Vec<String>,
    /// This device's name, shown to the others.
    #[arg(long)]
    name: Option<String>,
    /// Make this key (or the one person with this name) a writer of the board; repeatable.
    #[arg(long, value_name = "KEY")]
    grant: Vec<String>,
    /// Join the board of the device that issued this ticket (its People panel makes one).
    #[arg(long, value_name = "TICKET")]
    join: Option<String>,
    /// Seconds between two gossip rounds with a peer.
    #[arg(long, default_value_t = 2.0)]
    interval: f64,
}

fn run(args: Args) -> Result<()> {
    let mut options = weft_todo::Options::new(&args.data);
    options.listen = args.listen.clone();
    options.peers = args.peer.clone();
    options.interval = Duration::from_secs_f64(args.interval.max(0.01));
    let session = weft_todo::Session::start(&options).context("cannot start")?;
    let start = weft_todo::Start {
        make_board: args.peer.is_empty() && args.join.is_none(),
        name: args.name.clone(),
        grants: args.grant.clone(),
        join: args.join.clone(),
    };
    // What a peer needs to pair, for the terminal too (the People panel shows the same).
    #[allow(clippy::print_stdout)]
    {
        println!("key: {}", session.repo.author());
        if let Some(url) = session.url() {
            println!("url: {url}");
        }
    }
    let title = format!("weft todo — {}", args.data.display());
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title.clone())
            .with_inner_size([1100.0, 700.0]),
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(
        &title,
        native,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let handle = weft_todo::spawn(session, start, move || ctx.request_repaint())?;
            Ok(Box::new(weft_todo::App::new(handle)))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,weft_live=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("weft-todo: {e:#}");
            }
            ExitCode::from(1)
        }
    }
}
