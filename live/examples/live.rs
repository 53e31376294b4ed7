//! Live sync between two replicas over loopback TCP; see `weft_live::live`.
//!
//! ```text
//! cargo run -p weft-live --example live
//! ```
//!
//! Replica `a` is served with `serve_tcp` (as `weft serve --listen` does); replica `b` starts
//! empty and runs a `Live` with `a` as its one peer. `b` first receives `a`'s document, then both
//! write, and the example waits for `b` to report `Converged`. It prints `b`'s status against `a`
//! and, on both sides, when each change arrived, how long after it was written, and who
//! delivered it. The test `live::the_example_converges` (in `live/tests/it/live.rs`) runs this
//! same code.

#![allow(clippy::result_large_err, clippy::print_stdout)]

use std::{
    error::Error,
    fmt::Write as _,
    net::TcpListener,
    sync::{mpsc::Receiver, Arc},
    thread,
    time::{Duration, Instant},
};

use weft_dag::{Cid, Identity, Repo, Role, Value};
use weft_live::{
    live::{Live, LiveEvent, LiveOptions, Peer},
    status::RemoteStatus,
};
use weft_net::{
    server::{self, ServeOptions},
    transport::ConnectOptions,
};
use weft_store::Store;

/// What a run found, for the test to check.
#[derive(Debug)]
pub struct Report {
    /// The served replica.
    pub a: Arc<Repo>,
    /// The live replica.
    pub b: Arc<Repo>,
    /// `b`'s short key: what `a` records as the source of what `b` pushed.
    pub b_short: String,
    /// The change written on `a` and the one written on `b`.
    pub written: (Cid, Cid),
    /// `b`'s status against `a` once converged.
    pub status: Vec<RemoteStatus>,
    /// What the example prints.
    pub text: String,
}

fn main() -> Result<(), Box<dyn Error>> {
    let report = run(Duration::from_secs(30))?;
    print!("{}", report.text);
    Ok(())
}

/// Waits for an event that `want` accepts, until `deadline`.
fn wait_for(
    events: &Receiver<LiveEvent>,
    deadline: Instant,
    want: impl Fn(&LiveEvent) -> bool,
) -> Result<LiveEvent, Box<dyn Error>> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events
            .recv_timeout(left)
            .map_err(|e| format!("no such event in time ({e})"))?;
        if want(&event) {
            return Ok(event);
        }
    }
}

fn arrivals(out: &mut String, name: &str, repo: &Repo) -> Result<(), Box<dyn Error>> {
    let doc = repo.doc("main")?;
    writeln!(out, "arrivals on {name} (newest first):")?;
    for a in repo.arrivals(doc, 10)? {
        writeln!(
            out,
            "  {}  arrived at {} ms, {} ms after it was written, from {}",
            a.cid,
            a.arrived,
            a.delay_ms(),
            a.source.as_deref().unwrap_or("(written here)")
        )?;
    }
    Ok(())
}

/// Runs the example; gives up on any wait after `limit`.
pub fn run(limit: Duration) -> Result<Report, Box<dyn Error>> {
    let deadline = Instant::now() + limit;
    let a_id = Identity::generate();
    let b_id = Identity::generate();
    let a = Arc::new(Repo::memory(a_id.clone()));
    let b = Arc::new(Repo::with_store(Store::memory(), b_id.clone())?);
    // `a` owns `main` and lets `b` write (and so read) it over TCP.
    let doc = a.doc("main")?;
    let mut tx = a.transaction(doc);
    tx.grant(b.author(), Role::Writer)?;
    tx.commit()?;

    // Serve `a` on loopback, as `weft serve --listen 127.0.0.1:0` does.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("tcp://{}@{}", a_id.author(), listener.local_addr()?);
    let served = Arc::clone(&a);
    thread::Builder::new()
        .name("example-server".into())
        .spawn(move || server::serve_tcp(served, listener, a_id, ServeOptions::default()))?;

    // `b` keeps itself in sync with `a`, authenticating with its own key; `a` is pinned by the URL.
    let peer = Peer::new(
        &url,
        ConnectOptions {
            identity: Some(b_id),
            ..ConnectOptions::default()
        },
    )?
    .named("a");
    let arrived = b.subscribe();
    let live = Live::start(
        Arc::clone(&b),
        vec![peer],
        LiveOptions {
            interval: Duration::from_millis(200),
            ..LiveOptions::default()
        },
    )?;
    let events = live.subscribe();

    // The first round brings `a`'s document to `b`.
    let a_heads = a.heads(doc)?;
    while b.heads(doc)? != a_heads {
        let left = deadline.saturating_duration_since(Instant::now());
        arrived
            .next_timeout(left)
            .ok_or("b never received a's document")?;
    }

    // Both write; `b`'s commit makes it sync with `a` at once (after the debounce).
    let mut tx = a.transaction(doc);
    tx.set("colour", Value::from("red"))?;
    let on_a = tx.commit()?.ok_or("nothing committed on a")?.cid;
    let mut tx = b.transaction(doc);
    tx.set("shape", Value::from("circle"))?;
    let on_b = tx.commit()?.ok_or("nothing committed on b")?.cid;
    // A `Converged` from the first round may still be on its way: wait for the one that has
    // both writes on both sides.
    loop {
        wait_for(
            &events,
            deadline,
            |e| matches!(e, LiveEvent::Converged { remote } if remote == "a"),
        )?;
        if a.has_change(&on_b)? && b.has_change(&on_a)? && a.heads(doc)? == b.heads(doc)? {
            break;
        }
    }

    let status = live.status()?;
    let mut text = String::new();
    for s in &status {
        writeln!(
            text,
            "b against {} ({}): converged {}, last success at {:?}",
            s.remote, s.url, s.converged, s.last_success
        )?;
        for d in &s.docs {
            writeln!(
                text,
                "  {}: heads in common {}, ahead {}, behind {:?}",
                d.name.as_deref().unwrap_or("?"),
                d.common.len(),
                d.ahead,
                d.behind
            )?;
        }
    }
    arrivals(&mut text, "a", &a)?;
    arrivals(&mut text, "b", &b)?;
    drop(live);
    Ok(Report {
        b_short: b.author().short(),
        a,
        b,
        written: (on_a, on_b),
        status,
        text,
    })
}
