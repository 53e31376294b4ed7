//! Frame time of the app while a sync of 1,000 changes applies.
//!
//! ```text
//! cargo run --release -p weft-todo --example frame-bench
//! ```
//!
//! A device with a board (and every panel open) draws frames headless, egui's whole pass:
//! layout of the frame from the newest snapshot, then tessellation into triangles (what a
//! frame costs before the GPU). Meanwhile its live sync pulls 1,000 changes (1,000 items
//! added by a peer, one commit each) over loopback tcp from a peer's server, and its worker
//! applies them and sends snapshots. Prints the median and the maximum frame time while the
//! sync runs and the 100 frames after it, those that took a new snapshot apart, and the same
//! frames drawn before the sync started (what the machine's other load costs a frame).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::{
    error::Error,
    net::TcpListener,
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use weft_dag::{Identity, Repo, Role};
use weft_net::ServeOptions;
use weft_todo::{command, App, Command, Options, Session, Start};

const CHANGES: usize = 1_000;

fn frame(ctx: &egui::Context, app: &mut App) -> Duration {
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1400.0, 900.0),
        )),
        ..egui::RawInput::default()
    };
    let start = Instant::now();
    let out = ctx.run(input, |ctx| app.show(ctx));
    let triangles = ctx.tessellate(out.shapes, out.pixels_per_point);
    let took = start.elapsed();
    std::hint::black_box(triangles);
    took
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let mut options = Options::new(dir.path());
    options.interval = Duration::from_millis(200);
    let session = Session::start(&options)?;
    let repo = Arc::clone(&session.repo);
    let mut app = App::new(weft_todo::spawn(
        session,
        Start {
            make_board: true,
            name: Some("bench".into()),
            ..Start::default()
        },
        || {},
    )?);
    let limit = Duration::from_secs(120);
    while app.snapshot().doc.is_none() {
        if !app.wait_for_snapshot(limit) {
            return Err("no board".into());
        }
    }
    let doc = app.snapshot().doc.ok_or("no board")?;

    // The peer: a writer of the board with 1,000 commits the device lacks.
    let peer_id = Identity::generate();
    let peer = Arc::new(Repo::with_store(
        weft_store::Store::memory(),
        peer_id.clone(),
    )?);
    let mut tx = repo.transaction(doc);
    tx.grant(peer.author(), Role::Writer)?;
    tx.commit()?;
    let blocks = repo
        .missing(doc, &[])?
        .into_iter()
        .map(|(_, cid)| Ok((cid, repo.block(&cid)?)))
        .collect::<Result<Vec<_>, weft_dag::Error>>()?;
    peer.apply_changes(blocks)?;
    let todo = weft_todo::board::Board::read(peer.view(doc).state())?.lists[0]
        .id
        .clone();
    for i in 0..CHANGES {
        command::apply(
            &peer,
            doc,
            &Command::AddItem {
                list: todo.clone(),
                title: format!("item {i} from the peer"),
            },
        )?;
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("tcp://{}@{}", peer.author(), listener.local_addr()?);
    let served = Arc::clone(&peer);
    thread::spawn(move || weft_net::serve_tcp(served, listener, peer_id, ServeOptions::default()));

    let ctx = egui::Context::default();
    app.set_panels(true, true, true);
    for _ in 0..20 {
        frame(&ctx, &mut app); // fonts and caches
    }
    // The same frames with nothing syncing: what the machine gives a frame anyway.
    let idle: Vec<Duration> = (0..500).map(|_| frame(&ctx, &mut app)).collect();
    let before = app.snapshot().n_changes;
    app.handle().add_peer(&url);
    let start = Instant::now();
    // (frame time, whether a new snapshot came in before it)
    let mut frames: Vec<(Duration, bool)> = Vec::new();
    let mut after = 0;
    // Until the 1,000 changes are in, then 100 frames of the board that has them.
    while after < 100 {
        let fresh = app.poll();
        frames.push((frame(&ctx, &mut app), fresh));
        if app.snapshot().n_changes >= before + CHANGES {
            after += 1;
        } else if start.elapsed() > limit {
            return Err(format!("sync not done after {limit:?}").into());
        }
    }
    let synced = frames.len() - 100;
    let items = app
        .snapshot()
        .board
        .as_ref()
        .map_or(0, |b| b.lists[0].items.len());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let stats = |mut t: Vec<Duration>| -> String {
        if t.is_empty() {
            return "none".into();
        }
        t.sort();
        let p99 = t[(t.len() * 99 / 100).min(t.len() - 1)];
        format!(
            "{} frames, median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            t.len(),
            ms(t[t.len() / 2]),
            ms(p99),
            ms(t[t.len() - 1])
        )
    };
    let all: Vec<Duration> = frames.iter().map(|f| f.0).collect();
    let fresh: Vec<Duration> = frames.iter().filter(|f| f.1).map(|f| f.0).collect();
    println!(
        "sync of {CHANGES} changes over loopback tcp: {synced} frames drawn while it applied; board now {items} items"
    );
    println!("idle, before the sync:     {}", stats(idle));
    println!("all frames:                {}", stats(all));
    println!("frames taking a snapshot:  {}", stats(fresh));
    Ok(())
}
