//! `weft demo`: the main job in one command, in a temporary directory.
//!
//! Two replicas of one document make concurrent edits (register, counter, set, list, text), sync over a real
//! loopback TCP connection, and converge; the register conflict stays visible through
//! `get --all`.

use std::{io::Write, net::TcpListener, sync::Arc};

use anyhow::{Context as _, Result};
use weft_dag::{Identity, Options, Place, Repo, Role, Value, KEY_FILE, WEFT_DIR};
use weft_net::{
    server::{self, ServeOptions},
    transport::{self, ConnectOptions, Remote},
};
use weft_sync::{Direction, SyncOptions};

use crate::graph::{Lanes, Row};

/// The key of the repo at `root`, as `weft` uses it for TCP.
fn key_of(root: &std::path::Path) -> Result<Identity> {
    Ok(Identity::load(&root.join(WEFT_DIR).join(KEY_FILE))?)
}

/// Syncs `repo` with the laptop's server over TCP, authenticated as `identity`, and narrates
/// the figures.
fn sync_over_tcp(
    repo: &Repo,
    identity: &Identity,
    url: &str,
    direction: Direction,
    out: &mut dyn Write,
) -> Result<weft_sync::Stats> {
    let remote = Remote::parse(url)?;
    let stats = transport::sync(
        repo,
        &remote,
        &ConnectOptions {
            identity: Some(identity.clone()),
            ..ConnectOptions::default()
        },
        SyncOptions {
            direction,
            docs: None,
        },
        &mut |_| {},
    )?
    .stats;
    writeln!(
        out,
        "  {} change(s) in, {} out, {} round trip(s), {} bytes in, {} bytes out",
        stats.changes_in, stats.changes_out, stats.round_trips, stats.bytes_in, stats.bytes_out
    )?;
    Ok(stats)
}

/// Runs the demo, writing a narrated transcript to `out`.
pub fn run(out: &mut dyn Write) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("weft-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    run_in(tmp.path(), out)
}

fn run_in(tmp: &std::path::Path, out: &mut dyn Write) -> Result<()> {
    let (dir_a, dir_b) = (tmp.join("laptop"), tmp.join("phone"));
    std::fs::create_dir_all(&dir_a)
        .with_context(|| format!("cannot create {}", dir_a.display()))?;
    std::fs::create_dir_all(&dir_b)
        .with_context(|| format!("cannot create {}", dir_b.display()))?;
    let a = Repo::init(&dir_a, Options::default())?;
    let doc = a.doc("main")?;
    writeln!(out, "# two replicas of document {doc}")?;
    writeln!(
        out,
        "laptop  {}  author {}",
        dir_a.display(),
        a.author().short()
    )?;

    // The laptop serves its repo on a loopback TCP port, as `weft serve --listen` does.
    let a = Arc::new(a);
    let listener =
        TcpListener::bind("127.0.0.1:0").context("cannot listen on a loopback TCP port")?;
    // The URL pins the laptop's key: the phone checks it in the handshake.
    let url = format!("tcp://{}@{}", a.author(), listener.local_addr()?);
    let served = Arc::clone(&a);
    let id_a = key_of(&dir_a)?;
    std::thread::Builder::new()
        .name("weft-demo-server".into())
        .spawn(move || server::serve_tcp(served, listener, id_a, ServeOptions::default()))?;
    writeln!(out, "laptop serves {url}")?;

    let b = Repo::init_empty(&dir_b, Options::default())?;
    let id_b = key_of(&dir_b)?;
    writeln!(
        out,
        "phone   {}  author {}",
        dir_b.display(),
        b.author().short()
    )?;

    let mut tx = a.transaction(doc);
    tx.set("todo/1", Value::parse_cli(r#"{"title":"milk"}"#)?)?;
    tx.incr("visits", 1)?;
    tx.add("tags", "home")?;
    let beer = tx.list_push("board/todo", "beer")?;
    tx.list_push("board/todo", "reject.js")?;
    tx.text_insert("notes", 0, "buy milk")?;
    let first = tx
        .commit()?
        .ok_or_else(|| anyhow::anyhow!("nothing committed"))?;
    let beer = first.resolve(beer);
    // Only the owner and the keys it grants may write (and, over TCP, read).
    let mut tx = a.transaction(doc);
    tx.grant(b.author(), Role::Writer)?;
    tx.commit()?;
    writeln!(
        out,
        "\n# laptop lets the phone's key write: weft grant {} --role writer",
        b.author().short()
    )?;
    writeln!(out, "\n# laptop writes; phone clones it: weft clone {url}")?;
    sync_over_tcp(&b, &id_b, &url, Direction::Pull, out)?;

    writeln!(out, "\n# offline, both edit the same keys concurrently")?;
    let mut tx = a.transaction(doc);
    tx.set("todo/1", Value::parse_cli(r#"{"title":"oat milk"}"#)?)?;
    tx.incr("visits", 2)?;
    tx.add("tags", "urgent")?;
    tx.list_move(beer, Place::At("board/done".into(), 0))?;
    tx.text_insert("notes", 8, " and eggs")?;
    tx.commit()?;
    writeln!(
        out,
        "laptop: set todo/1 = {{\"title\":\"oat milk\"}}, incr visits 2, sadd tags urgent,\n        \
         list move board/todo beer --to board/done, text insert notes 8 \" and eggs\""
    )?;
    let mut tx = b.transaction(doc);
    tx.set("todo/1", Value::parse_cli(r#"{"title":"soy milk"}"#)?)?;
    tx.incr("visits", 5)?;
    tx.remove("tags", "home")?;
    tx.list_move(beer, Place::At("board/later".into(), 0))?;
    tx.text_insert("notes", 0, "today: ")?;
    tx.commit()?;
    writeln!(
        out,
        "phone:  set todo/1 = {{\"title\":\"soy milk\"}}, incr visits 5, srem tags home,\n        \
         list move board/todo beer --to board/later, text insert notes 0 \"today: \""
    )?;

    writeln!(
        out,
        "\n# back online, the phone syncs both ways: weft sync {url}"
    )?;
    sync_over_tcp(&b, &id_b, &url, Direction::Both, out)?;

    for (name, repo) in [("laptop", &*a), ("phone", &b)] {
        writeln!(out, "\n# {name}: weft ls")?;
        for (k, v) in repo.state(doc).list("")? {
            writeln!(out, "{k}\t{v}")?;
        }
    }
    writeln!(
        out,
        "\n# beer, moved to two lists at once, is in one; both text edits are in (weft get KEY)"
    )?;
    for key in ["board/done", "board/later", "notes"] {
        let v = a.state(doc).get(key)?.unwrap_or(Value::Null);
        writeln!(out, "{key}\t{v}")?;
    }
    writeln!(
        out,
        "\n# the concurrent writes to todo/1 both survive: weft get todo/1 --all"
    )?;
    for v in a.state(doc).get_all("todo/1")? {
        writeln!(out, "{v}")?;
    }
    let same = a.heads(doc)? == b.heads(doc)? && a.state(doc).list("")? == b.state(doc).list("")?;
    writeln!(
        out,
        "\nconverged: {}",
        if same {
            "yes (same heads, same state)"
        } else {
            "NO"
        }
    )?;

    writeln!(out, "\n# weft log --graph")?;
    let mut lanes = Lanes::new();
    let shortener = crate::rev::Shortener::new(&a);
    for entry in a.log(doc) {
        let entry = entry?;
        for row in lanes.push(entry.cid, &entry.change.parents) {
            match row {
                Row::Commit(g, cid) => {
                    // The ids `weft log` prints, which any weft command takes.
                    let short = shortener.short(&cid)?;
                    let keys = entry.change.keys().join(", ");
                    writeln!(
                        out,
                        "{g} {}  {}  {}",
                        short,
                        entry.change.author.short(),
                        if keys.is_empty() {
                            crate::out::summary(&entry.change)
                        } else {
                            keys
                        }
                    )?
                }
                Row::Edge(g) => writeln!(out, "{g}")?,
            }
        }
    }
    if !same {
        anyhow::bail!("the replicas did not converge");
    }
    Ok(())
}
