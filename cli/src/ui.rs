//! `weft ui`: the history browser, a local web page of one document's history.
//!
//! It runs where the repo is held, as every command does: a `weft ui` that opens the repo
//! itself holds it like `weft watch` (its daemon runs the other weft commands on the repo, so
//! they go on working), and a `weft ui` started while `weft serve` or `weft watch` holds the repo
//! is forwarded to that process like any command (see `daemon.rs`): the page is then served from
//! there, on the same open repo, until the `weft ui` that asked for it ends. Either way the page
//! reads the repo the commands write, and sees every change as it is applied, whether written
//! by a command or received from a peer.
//!
//! The HTTP server is axum on a current-thread tokio runtime that only this command starts.
//! Handlers never touch the repo themselves: they queue a job for one of [`WORKERS`] threads that
//! borrow the open repo (scoped threads: the command has the repo for its run, not forever), and
//! await its answer. One more thread turns the repo's batches into the lines `weft watch` prints
//! and broadcasts them to the page's server-sent event streams. The endpoints (`api.rs`) answer
//! with the JSON the matching `--json` command prints, built by the same function; the page
//! (`page.html`, `page.js`, `page.css`) is compiled into the binary and fetches nothing else.
//!
//! Until `--public`, only a loopback address is served, and only requests whose `Host` is that
//! address (which a web page elsewhere cannot forge); until `--write`, every write is refused
//! with 403.

mod api;

use std::{
    future::IntoFuture as _,
    io::Write,
    net::{SocketAddr, ToSocketAddrs as _},
    sync::{mpsc, Arc, Mutex},
    time::Duration,
};

use anyhow::{Context as _, Result};
use serde::Serialize;
use weft_dag::{Batches, Filter, Repo, WEFT_DIR};
use weft_store::sync_util::lock;

use crate::{
    args::UiArgs,
    ctx::Ctx,
    out::{usage, write_json, NetworkError},
    serve::Watched,
    stop::Stop,
};

/// Threads that answer the page's requests on the repo.
const WORKERS: usize = 2;
/// How often the server and the feed look at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// How long a stopping server lets open requests finish.
const DRAIN_WAIT: Duration = Duration::from_secs(2);
/// Change lines a slow page may fall behind by before it is told to reload its data.
const FEED_BACKLOG: usize = 1024;

/// `weft ui --json`: the line printed once the page is served.
#[derive(Debug, Serialize)]
pub(crate) struct Serving {
    /// The page's address.
    pub url: String,
}

/// A request for the repo, run on a worker thread.
type Job = Box<dyn FnOnce(&Repo) + Send>;

/// The address `--listen` names. It must parse (exit 2), and be loopback unless `--public`.
pub(crate) fn listen_addr(args: &UiArgs) -> Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = args
        .listen
        .to_socket_addrs()
        .map_err(|e| {
            usage(format!(
                "cannot listen on {}: {e} (give an address and a port, as in 127.0.0.1:7460)",
                args.listen
            ))
        })?
        .collect();
    let Some(&addr) = addrs.first() else {
        return Err(usage(format!(
            "cannot listen on {}: it names no address",
            args.listen
        )));
    };
    if !args.public && !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(usage(format!(
            "refusing to serve the history browser on {}, which is not a loopback address: \
             anyone who reaches it could read the repo (pass --public to serve it there anyway)",
            args.listen
        )));
    }
    Ok(addr)
}

/// `weft ui`: serves the page for `-d`'s document (default main) until stopped.
pub(crate) fn run(ctx: &Ctx<'_>, repo: &Repo, args: &UiArgs, out: &mut dyn Write) -> Result<()> {
    let addr = listen_addr(args)?;
    let doc = repo.doc(ctx.cli.doc.as_deref().unwrap_or(weft_dag::DEFAULT_DOC))?;
    let weft_dir = ctx.repo_root(repo)?.join(WEFT_DIR);
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| NetworkError(format!("cannot listen on {}: {e}", args.listen)))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let stop = ctx.stop.clone().unwrap_or_default();
    let result = std::thread::scope(|scope| -> Result<()> {
        // Whatever ends the server (an error included) ends the threads the scope waits for.
        let _ends = Ends(&stop);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..WORKERS {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name("weft-ui-read".into())
                .spawn_scoped(scope, move || work(repo, &queue))?;
        }
        let (feed, _) = tokio::sync::broadcast::channel::<Arc<str>>(FEED_BACKLOG);
        let api = api::Api {
            jobs,
            feed: feed.downgrade(),
            doc,
            write: args.write,
            hosts: (!args.public).then(|| api::hosts(local)),
            weft_dir,
        };
        let batches = repo.subscribe_filtered(Filter::all().doc(doc));
        let stop_feed = &stop;
        std::thread::Builder::new()
            .name("weft-ui-feed".into())
            .spawn_scoped(scope, move || feed_lines(repo, &batches, &feed, stop_feed))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("cannot start the history browser's HTTP server")?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let url = format!("http://{local}/");
        if ctx.output().json() {
            write_json(out, &Serving { url })?;
        } else {
            writeln!(out, "serving the history browser on {url}")?;
        }
        out.flush()?;
        let served = runtime.block_on(serve(listener, api::router(api), Arc::clone(&stop)));
        runtime.shutdown_timeout(DRAIN_WAIT);
        served
    });
    match (result, stop.error()) {
        (Err(e), _) => Err(e),
        (Ok(()), Some(msg)) => Err(anyhow::anyhow!(msg)),
        (Ok(()), None) => Ok(()),
    }
}

/// Sets the stop flag when dropped.
struct Ends<'a>(&'a Stop);

impl Drop for Ends<'_> {
    fn drop(&mut self) {
        self.0.trigger();
    }
}

/// Serves `app` until `stop` is set, then for at most [`DRAIN_WAIT`] more.
async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    stop: Arc<Stop>,
) -> Result<()> {
    let server = std::pin::pin!(axum::serve(listener, app)
        .with_graceful_shutdown(stopped(Arc::clone(&stop)))
        .into_future());
    let deadline = std::pin::pin!(async {
        stopped(stop).await;
        tokio::time::sleep(DRAIN_WAIT).await;
    });
    match futures_util::future::select(server, deadline).await {
        futures_util::future::Either::Left((served, _)) => {
            Ok(served.context("the history browser's HTTP server failed")?)
        }
        futures_util::future::Either::Right(_) => Ok(()),
    }
}

/// Returns once `stop` is set.
async fn stopped(stop: Arc<Stop>) {
    while !stop.is_set() {
        tokio::time::sleep(POLL).await;
    }
}

/// A worker: runs jobs on the repo until the server is gone.
fn work(repo: &Repo, queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = lock(queue).recv();
        match job {
            Ok(job) => job(repo),
            Err(_) => return,
        }
    }
}

/// Broadcasts each batch applied to the document as the line `weft watch` prints, until `stop`.
/// Dropping `feed` on the way out ends the page's event streams.
fn feed_lines(
    repo: &Repo,
    batches: &Batches,
    feed: &tokio::sync::broadcast::Sender<Arc<str>>,
    stop: &Stop,
) {
    while !stop.is_set() {
        let Some(batch) = batches.next_timeout(POLL) else {
            continue;
        };
        match Watched::new(repo, &batch).map(|w| w.map(|w| serde_json::to_string(&w))) {
            Ok(Some(Ok(line))) => {
                // No page listening is no failure.
                let _ = feed.send(line.into());
            }
            Ok(None) => {}
            Ok(Some(Err(e))) => tracing::warn!("history browser: cannot encode a change: {e}"),
            Err(e) => tracing::warn!("history browser: cannot read a change: {e:#}"),
        }
    }
}
