//! The todo app of weft's seed notes on two replicas, each with its own "UI thread" that
//! re-renders from batch events, syncing over in-process channels:
//!
//! ```js
//! var todo = doc.createSeq('list', 'todo')
//! var done = doc.createSeq('list', 'done')
//! var drnk = todo.push({text: 'beer'})
//! var meet = todo.push({text: 'reject.js'})
//! todo.before(meet, drnk)
//! done.push(meet)   // will be removed from todo list!
//! ```
//!
//! Alice and Bob edit concurrently (Alice moves `reject.js` to done while Bob renames it and
//! adds an item), exchange their changes, and both render the same board, the element moved
//! once and renamed.
//!
//! Run with `cargo run -p weft-dag --example todo`.

use std::{
    error::Error,
    sync::{mpsc, Arc},
    thread,
};

use serde::{Deserialize, Serialize};
use weft_dag::{Cid, DocId, Filter, Identity, OpId, Place, Repo, Role};

/// One item of the board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    text: String,
}

/// What a UI shows: the two lists.
#[derive(Debug, Clone, PartialEq)]
struct Board {
    todo: Vec<String>,
    done: Vec<String>,
}

fn render(repo: &Repo, doc: DocId) -> Result<Board, Box<dyn Error>> {
    let view = repo.view(doc);
    let list = |key: &str| -> Result<Vec<String>, Box<dyn Error>> {
        view.state()
            .elements(key)?
            .into_iter()
            .map(|e| Ok(e.value.to_serde::<Item>()?.text))
            .collect()
    };
    Ok(Board {
        todo: list("todo")?,
        done: list("done")?,
    })
}

/// A UI thread: re-renders on every batch, and reports each board it shows on `shown`.
fn ui(
    name: &'static str,
    repo: &Arc<Repo>,
    doc: DocId,
    shown: mpsc::Sender<(&'static str, Board)>,
) -> thread::JoinHandle<()> {
    let batches = repo.subscribe_filtered(Filter::all().doc(doc));
    let repo = Arc::downgrade(repo);
    thread::spawn(move || {
        for batch in batches {
            let Some(repo) = repo.upgrade() else { break };
            let Ok(board) = render(&repo, doc) else { break };
            #[allow(clippy::print_stdout)]
            {
                let from = if batch.changes.iter().all(|c| c.local) {
                    "here"
                } else {
                    "from a peer"
                };
                println!(
                    "{name}: {} change(s) {from} -> todo {:?} done {:?}",
                    batch.changes.len(),
                    board.todo,
                    board.done
                );
            }
            if shown.send((name, board)).is_err() {
                break;
            }
        }
    })
}

/// Sends `from`'s changes that `to` lacks.
fn sync(from: &Repo, to: &Repo, doc: DocId) -> Result<(), Box<dyn Error>> {
    let missing: Vec<(u64, Cid)> = from.missing(doc, &to.heads(doc)?)?;
    let blocks = missing
        .into_iter()
        .map(|(_, cid)| Ok((cid, from.block(&cid)?)))
        .collect::<Result<Vec<_>, weft_dag::Error>>()?;
    to.apply_changes(blocks)?;
    Ok(())
}

fn item(text: &str) -> Item {
    Item { text: text.into() }
}

#[allow(clippy::print_stdout)]
fn main() -> Result<(), Box<dyn Error>> {
    let alice = Arc::new(Repo::memory(Identity::generate()));
    let doc = alice.doc("main")?;
    // Bob's repo starts empty: the document arrives from Alice.
    let bob = Arc::new(Repo::with_store(
        weft_store::Store::memory(),
        Identity::generate(),
    )?);
    let mut tx = alice.transaction(doc);
    tx.grant(bob.author(), Role::Writer)?;
    tx.commit()?;
    sync(&alice, &bob, doc)?;
    bob.name_doc("board", doc)?;

    let (shown, boards) = mpsc::channel();
    let uis = [
        ui("alice", &alice, doc, shown.clone()),
        ui("bob", &bob, doc, shown),
    ];

    // Alice: the seed's example.
    let mut tx = alice.transaction(doc);
    let drnk = tx.list_push("todo", weft_dag::Value::from_serde(&item("beer"))?)?;
    let meet = tx.list_push("todo", weft_dag::Value::from_serde(&item("reject.js"))?)?;
    let done = tx.commit()?.ok_or("nothing committed")?;
    let (drnk, meet): (OpId, OpId) = (done.resolve(drnk), done.resolve(meet));
    let mut tx = alice.transaction(doc);
    tx.list_move(meet, Place::After(drnk))?; // todo.before(meet, drnk): beer first
    tx.commit()?;
    sync(&alice, &bob, doc)?;

    // Concurrently: Alice moves reject.js to done; Bob renames it and adds an item.
    let mut tx = alice.transaction(doc);
    tx.list_move(meet, Place::At("done".into(), 0))?; // done.push(meet)
    tx.commit()?;
    let mut tx = bob.transaction(doc);
    tx.list_set(meet, weft_dag::Value::from_serde(&item("reject.js talk"))?)?;
    tx.list_push("todo", weft_dag::Value::from_serde(&item("slides"))?)?;
    tx.commit()?;

    sync(&alice, &bob, doc)?;
    sync(&bob, &alice, doc)?;
    let (a, b) = (render(&alice, doc)?, render(&bob, doc)?);
    assert_eq!(a, b, "both replicas show one board");
    assert_eq!(a.done, ["reject.js talk"], "moved once, renamed");
    println!("both:  todo {:?} done {:?}", a.todo, a.done);

    // Each UI re-rendered by itself, from the events, until it showed the merged board.
    let mut pending = vec!["alice", "bob"];
    while !pending.is_empty() {
        let (name, board) = boards.recv_timeout(std::time::Duration::from_secs(10))?;
        if board == a {
            pending.retain(|n| *n != name);
        }
    }
    drop((alice, bob));
    for ui in uis {
        ui.join().map_err(|_| "a UI thread panicked")?;
    }
    println!("both UIs show the merged board");
    Ok(())
}
