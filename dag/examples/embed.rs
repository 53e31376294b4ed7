//! Embedding weft in an application: open a repo, subscribe to batches with their diffs, write,
//! read (in one consistent view), travel in time, read and write Rust types, lists that move,
//! text, and undo.
//!
//! Run with `cargo run -p weft-dag --example embed`.

use std::{collections::BTreeMap, error::Error};

use serde::{Deserialize, Serialize};
use weft_dag::{Diff, Filter, Options, Place, Repo, Value};

/// A row: one key per field (`todos/ID/title`, `todos/ID/done`), or one whole value.
#[derive(Debug, Serialize, Deserialize)]
struct Todo {
    title: String,
    done: bool,
}

#[allow(clippy::print_stdout)]
fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("weft-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let repo = Repo::init(&dir, Options::default())?;
    let doc = repo.doc("main")?;

    // A UI thread would hold this and re-render on every event, local or from a peer.
    let events = repo.subscribe();

    let mut tx = repo.transaction(doc);
    tx.set(
        "todo/1",
        Value::parse_cli(r#"{"title":"milk","done":false}"#)?,
    )?;
    tx.add("tags", "groceries")?;
    tx.incr("open", 1)?;
    let first = tx.commit()?.ok_or("nothing committed")?;

    let mut tx = repo.transaction(doc);
    tx.set(
        "todo/1",
        Value::parse_cli(r#"{"title":"milk","done":true}"#)?,
    )?;
    tx.incr("open", -1)?;
    tx.commit()?;

    while let Some(event) = events.try_next() {
        println!("event: change {} touched {:?}", event.cid, event.keys);
    }

    let state = repo.state(doc);
    println!(
        "now:     todo/1 = {}",
        state.get("todo/1")?.unwrap_or(Value::Null)
    );
    println!(
        "now:     open   = {}",
        state.get("open")?.unwrap_or(Value::Null)
    );

    let past = repo.at(doc, &[first.cid])?;
    println!(
        "before:  todo/1 = {}",
        past.state().get("todo/1")?.unwrap_or(Value::Null)
    );

    for line in repo.blame(doc, "todo/1")? {
        println!(
            "blame:   {} by {} wrote {}",
            line.op.change,
            line.author.short(),
            line.value
        );
    }
    for entry in repo.log(doc) {
        let entry = entry?;
        println!(
            "log:     {} height {} keys {:?}",
            entry.cid,
            entry.change.height,
            entry.change.keys()
        );
    }

    // Typed access: a struct as one value, or as rows of one key per field.
    let mut tx = repo.transaction(doc);
    tx.set_as(
        "todo/2",
        &Todo {
            title: "eggs".into(),
            done: false,
        },
    )?;
    tx.set_as("todos/3/title", "bread")?
        .set_as("todos/3/done", &true)?;
    tx.commit()?;
    let state = repo.state(doc);
    let todo: Option<Todo> = state.get_as("todo/2")?;
    let rows: BTreeMap<String, Todo> = state.rows_as("todos")?;
    println!("typed:   todo/2 = {todo:?}, rows under todos/ = {rows:?}");

    // Lists: elements keep their ids while they move, within a list or to another one.
    let batches = repo.subscribe_filtered(Filter::all().doc(doc).prefix("board/"));
    let mut tx = repo.transaction(doc);
    let beer = tx.list_push("board/todo", "beer")?;
    let meet = tx.list_push("board/todo", "reject.js")?;
    let committed = tx.commit()?.ok_or("nothing committed")?;
    let (beer, meet) = (committed.resolve(beer), committed.resolve(meet));
    let mut tx = repo.transaction(doc);
    tx.list_move(beer, Place::After(meet))?;
    tx.list_move(meet, Place::At("board/done".into(), 0))?;
    tx.commit()?;
    for batch in std::iter::from_fn(|| batches.try_next()) {
        for d in &batch.diffs {
            if let Diff::List {
                inserted, removed, ..
            } = &d.diff
            {
                println!("diff:    {} +{} -{}", d.key, inserted.len(), removed.len());
            }
        }
    }
    {
        // One render: every read of the view sees the same state, whatever a sync commits.
        let view = repo.view(doc);
        let todo = view.state().elements("board/todo")?;
        let done = view.state().get("board/done")?.unwrap_or(Value::Null);
        println!(
            "lists:   todo = {:?}, done = {done}",
            todo.iter().map(|e| e.value.to_string()).collect::<Vec<_>>()
        );
    }

    // Text: inserts and deletes by character position; runs typed at one place by two
    // replicas never interleave.
    let mut tx = repo.transaction(doc);
    tx.text_insert("notes", 0, "hello world")?;
    tx.text_splice("notes", 0, 5, "goodbye")?;
    tx.commit()?;
    println!("text:    {:?}", repo.state(doc).text("notes")?);
    repo.undo(doc)?;
    println!("undone:  {:?}", repo.state(doc).text("notes")?);

    let report = repo.fsck()?;
    println!(
        "fsck:    {} blocks, {} problems",
        report.n_blocks,
        report.problems.len()
    );

    drop(repo);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
