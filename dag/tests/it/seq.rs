//! Lists and texts through the `Repo`: the seed's todo example, moves between lists, element
//! values, text edits, persistence across reopening, time travel, undo, events, the wire form,
//! and random concurrent edits on several replicas converging to what a replay of the whole
//! DAG gives.

use proptest::prelude::*;
use weft_dag::{
    change::Op, Diff, Entry, Error, Filter, Identity, Kind, OpId, Place, Repo, Value, DEFAULT_DOC,
};
use weft_testkit::{assert_fsck, assert_same, identity, replica, sync, sync_both};

fn main_doc(repo: &Repo) -> weft_dag::DocId {
    repo.doc(DEFAULT_DOC).unwrap()
}

fn values(repo: &Repo, key: &str) -> Vec<Value> {
    let doc = main_doc(repo);
    repo.state(doc)
        .elements(key)
        .unwrap()
        .into_iter()
        .map(|e| e.value)
        .collect()
}

fn strings(xs: &[&str]) -> Vec<Value> {
    xs.iter().map(|s| Value::from(*s)).collect()
}

#[test]
fn the_seed_todo_example() {
    let repo = Repo::memory(identity(1));
    let doc = main_doc(&repo);
    let mut tx = repo.transaction(doc);
    let beer = tx.list_push("todo", "beer").unwrap();
    let meet = tx.list_push("todo", "reject.js").unwrap();
    // todo.before(meet, drnk): beer goes before meet (it already is; move it after, then back).
    tx.list_move(beer, Place::After(meet)).unwrap();
    assert_eq!(
        tx.list_elements("todo").unwrap().len(),
        2,
        "a move within the list keeps one copy"
    );
    tx.list_move(beer, Place::Before(meet)).unwrap();
    let committed = tx.commit().unwrap().unwrap();
    let (beer, meet) = (committed.resolve(beer), committed.resolve(meet));
    assert_eq!(beer.change, committed.cid);
    assert_eq!(values(&repo, "todo"), strings(&["beer", "reject.js"]));

    // done.push(meet): removed from todo.
    let mut tx = repo.transaction(doc);
    tx.list_move(meet, Place::At("done".into(), 0)).unwrap();
    tx.commit().unwrap();
    assert_eq!(values(&repo, "todo"), strings(&["beer"]));
    assert_eq!(values(&repo, "done"), strings(&["reject.js"]));
    let ids: Vec<OpId> = repo
        .state(doc)
        .elements("done")
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![meet], "an element keeps its id when it moves");
    assert_eq!(
        repo.state(doc).get("done").unwrap(),
        Some(Value::Array(strings(&["reject.js"])))
    );
    assert_eq!(repo.state(doc).kind("todo").unwrap(), Some(Kind::List));

    // Set and delete.
    let mut tx = repo.transaction(doc);
    tx.list_set(beer, "cold beer").unwrap();
    tx.commit().unwrap();
    assert_eq!(values(&repo, "todo"), strings(&["cold beer"]));
    let mut tx = repo.transaction(doc);
    tx.list_delete(beer).unwrap();
    tx.commit().unwrap();
    assert_eq!(values(&repo, "todo"), Vec::<Value>::new());
    let mut tx = repo.transaction(doc);
    assert!(matches!(
        tx.list_set(beer, 1),
        Err(Error::UnknownElement { .. })
    ));
    assert!(matches!(
        tx.list_insert("todo", 5, 1),
        Err(Error::Position { .. })
    ));
    assert!(matches!(
        tx.text_insert("done", 0, "x"),
        Err(Error::WrongType { .. })
    ));
    drop(tx);
    assert_fsck(&repo);
}

#[test]
fn lists_and_texts_persist_and_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let id = Identity::from_seed([3; 32]);
    let options = || weft_dag::Options {
        identity: Some(id.clone()),
        ..Default::default()
    };
    let (first, doc) = {
        let repo = Repo::init(dir.path(), options()).unwrap();
        let doc = main_doc(&repo);
        let mut tx = repo.transaction(doc);
        tx.text_insert("title", 0, "hello world").unwrap();
        tx.list_push("l", 1).unwrap();
        let first = tx.commit().unwrap().unwrap().cid;
        let mut tx = repo.transaction(doc);
        tx.text_splice("title", 0, 5, "goodbye").unwrap();
        tx.list_insert("l", 0, 0).unwrap();
        tx.commit().unwrap();
        assert_eq!(
            repo.state(doc).text("title").unwrap().as_deref(),
            Some("goodbye world")
        );
        (first, doc)
    };
    let repo = Repo::open(dir.path(), options()).unwrap();
    assert_eq!(
        repo.state(doc).get("title").unwrap(),
        Some(Value::from("goodbye world"))
    );
    assert_eq!(values(&repo, "l"), vec![Value::Int(0), Value::Int(1)]);
    let past = repo.at(doc, &[first]).unwrap();
    assert_eq!(
        past.state().text("title").unwrap().as_deref(),
        Some("hello world")
    );
    assert_eq!(
        past.state().get("l").unwrap(),
        Some(Value::Array(vec![Value::Int(1)]))
    );
    assert_fsck(&repo);
}

#[test]
fn concurrent_moves_leave_one_copy_and_delete_wins() {
    let a = Repo::memory(identity(1));
    let doc = main_doc(&a);
    let b = replica(&a, doc, 2);
    let c = replica(&a, doc, 3);
    sync(&a, &b, doc);
    let mut tx = a.transaction(doc);
    let x = tx.list_push("todo", "x").unwrap();
    tx.list_push("todo", "y").unwrap();
    let x = tx.commit().unwrap().unwrap().resolve(x);
    sync(&a, &b, doc);
    sync(&a, &c, doc);
    // a moves x to done, b moves x to the end of todo, c deletes it: all concurrent.
    let mut tx = a.transaction(doc);
    tx.list_move(x, Place::At("done".into(), 0)).unwrap();
    tx.commit().unwrap();
    let mut tx = b.transaction(doc);
    tx.list_move(x, Place::At("todo".into(), 2)).unwrap();
    tx.commit().unwrap();
    sync_both(&a, &b, doc);
    assert_same(&a, &b, doc);
    let copies = |r: &Repo| {
        let s = r.state(doc);
        [s.elements("todo").unwrap(), s.elements("done").unwrap()]
            .concat()
            .iter()
            .filter(|e| e.id == x)
            .count()
    };
    assert_eq!(copies(&a), 1, "two concurrent moves leave one copy");
    let mut tx = c.transaction(doc);
    tx.list_delete(x).unwrap();
    tx.commit().unwrap();
    sync_both(&a, &c, doc);
    sync_both(&b, &c, doc);
    sync_both(&a, &b, doc);
    assert_same(&a, &c, doc);
    assert_same(&a, &b, doc);
    assert_eq!(copies(&a), 0, "a delete wins over concurrent moves");
    assert_eq!(values(&a, "todo"), strings(&["y"]));
}

#[test]
fn concurrent_typing_at_one_place_does_not_interleave() {
    let a = Repo::memory(identity(1));
    let doc = main_doc(&a);
    let b = replica(&a, doc, 2);
    let mut tx = a.transaction(doc);
    tx.text_insert("t", 0, "[]").unwrap();
    tx.commit().unwrap();
    sync(&a, &b, doc);
    // Each types a word one character per change at index 1.
    for (repo, word) in [(&a, "alpha"), (&b, "beta")] {
        for (i, ch) in word.chars().enumerate() {
            let mut tx = repo.transaction(doc);
            tx.text_insert("t", 1 + i, &ch.to_string()).unwrap();
            tx.commit().unwrap();
        }
    }
    sync_both(&a, &b, doc);
    assert_same(&a, &b, doc);
    let t = a.state(doc).text("t").unwrap().unwrap();
    assert!(
        t == "[alphabeta]" || t == "[betaalpha]",
        "runs typed concurrently stay whole: {t}"
    );
}

#[test]
fn undo_reverts_list_and_text_edits() {
    let repo = Repo::memory(identity(1));
    let doc = main_doc(&repo);
    let mut tx = repo.transaction(doc);
    let x = tx.list_push("l", "x").unwrap();
    tx.text_insert("t", 0, "abc").unwrap();
    let x = tx.commit().unwrap().unwrap().resolve(x);
    let mut tx = repo.transaction(doc);
    tx.list_move(x, Place::At("m".into(), 0)).unwrap();
    tx.text_delete("t", 1, 1).unwrap();
    tx.commit().unwrap();
    assert_eq!(repo.state(doc).text("t").unwrap().as_deref(), Some("ac"));
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(repo.state(doc).text("t").unwrap().as_deref(), Some("abc"));
    assert_eq!(values(&repo, "l"), strings(&["x"]));
    assert_eq!(values(&repo, "m"), Vec::<Value>::new());
    repo.redo(doc).unwrap().unwrap();
    assert_eq!(repo.state(doc).text("t").unwrap().as_deref(), Some("ac"));
    assert_eq!(values(&repo, "m"), strings(&["x"]));
    repo.undo(doc).unwrap().unwrap();
    repo.undo(doc).unwrap().unwrap();
    // The first change's characters and element are gone; the "b" that the undo of the
    // delete brought back is a new insert (a deleted character never comes back as itself), so
    // undoing the first change does not remove it.
    assert_eq!(repo.state(doc).text("t").unwrap().as_deref(), Some("b"));
    assert_eq!(values(&repo, "l"), Vec::<Value>::new());
    assert_fsck(&repo);
}

#[test]
fn a_sync_of_many_changes_is_one_batch_with_list_and_text_diffs() {
    let a = Repo::memory(identity(1));
    let doc = main_doc(&a);
    let b = replica(&a, doc, 2);
    let mut tx = a.transaction(doc);
    tx.list_push("todo", "keep").unwrap();
    tx.text_insert("t", 0, "ab").unwrap();
    tx.commit().unwrap();
    sync(&a, &b, doc);
    for i in 0..1000 {
        let mut tx = a.transaction(doc);
        tx.list_push("todo", i).unwrap();
        tx.commit().unwrap();
    }
    let mut tx = a.transaction(doc);
    tx.text_insert("t", 1, "XY").unwrap();
    tx.commit().unwrap();
    let batches = b.subscribe_filtered(Filter::all().doc(doc));
    sync(&a, &b, doc);
    let batch = batches.try_next().expect("one batch");
    assert!(
        batches.try_next().is_none(),
        "one batch, not one per change"
    );
    assert_eq!(batch.changes.len(), 1001);
    let list = batch.diffs.iter().find(|d| d.key == "todo").unwrap();
    let Diff::List {
        inserted,
        removed,
        moved,
        updated,
    } = &list.diff
    else {
        panic!("a list diff: {:?}", list.diff)
    };
    assert_eq!(inserted.len(), 1000);
    assert_eq!(inserted[0].index, 1);
    assert_eq!(inserted[999].value, Value::Int(999));
    assert!(removed.is_empty() && moved.is_empty() && updated.is_empty());
    let text = batch.diffs.iter().find(|d| d.key == "t").unwrap();
    assert_eq!(
        text.diff,
        Diff::Text {
            index: 1,
            deleted: 0,
            inserted: "XY".into()
        }
    );
}

#[test]
fn a_move_is_a_diff_of_both_lists() {
    let a = Repo::memory(identity(1));
    let doc = main_doc(&a);
    let mut tx = a.transaction(doc);
    let x = tx.list_push("todo", "x").unwrap();
    let x = tx.commit().unwrap().unwrap().resolve(x);
    let batches = a.subscribe_filtered(Filter::all());
    let mut tx = a.transaction(doc);
    tx.list_move(x, Place::At("done".into(), 0)).unwrap();
    tx.commit().unwrap();
    let batch = batches.try_next().unwrap();
    let keys: Vec<&str> = batch.diffs.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["done", "todo"]);
}

#[test]
fn ops_name_earlier_ops_of_their_change_by_index() {
    let repo = Repo::memory(identity(1));
    let doc = main_doc(&repo);
    let mut tx = repo.transaction(doc);
    tx.set("r", 1).unwrap();
    let a = tx.list_push("l", "a").unwrap();
    tx.set("r", 2).unwrap();
    tx.list_insert_next_to(a, true, "b").unwrap();
    let c = tx.commit().unwrap().unwrap();
    let ops = &c.change.ops;
    let named: Vec<Vec<u32>> = ops.iter().map(Op::refs_here).collect();
    let a_index = ops
        .iter()
        .position(|op| matches!(op, Op::ListInsert { value, .. } if *value == Value::from("a")))
        .unwrap() as u32;
    assert!(named.iter().any(|n| n == &vec![a_index]), "{named:?}");
    assert_eq!(values(&repo, "l"), strings(&["a", "b"]));
    // Round trip through the block.
    let bytes = repo.block(&c.cid).unwrap();
    assert_eq!(weft_dag::Change::decode(&c.cid, &bytes).unwrap(), c.change);
}

#[test]
fn get_reads_lists_as_arrays_and_texts_as_strings() {
    let repo = Repo::memory(identity(1));
    let doc = main_doc(&repo);
    let mut tx = repo.transaction(doc);
    tx.list_push("todo/items", "a").unwrap();
    tx.text_insert("todo/title", 0, "Groceries").unwrap();
    tx.commit().unwrap();
    let rows = repo.state(doc).rows("todo").unwrap().to_json();
    assert_eq!(
        rows,
        serde_json::json!({"items": ["a"], "title": "Groceries"})
    );
    assert!(matches!(
        repo.state(doc).entry("todo/title").unwrap(),
        Some(Entry::Text(t)) if t == "Groceries"
    ));
}

/// One random edit on a replica, by indexes into what it sees.
#[derive(Debug, Clone)]
enum Edit {
    Push(u8, i64),
    Insert(u8, usize, i64),
    Move(usize, u8, usize),
    Delete(usize),
    Set(usize, i64),
    Type(usize, String),
    Erase(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..2u8, any::<i64>()).prop_map(|(l, v)| Edit::Push(l, v)),
        (0..2u8, 0..8usize, any::<i64>()).prop_map(|(l, i, v)| Edit::Insert(l, i, v)),
        (0..8usize, 0..2u8, 0..8usize).prop_map(|(e, l, i)| Edit::Move(e, l, i)),
        (0..8usize).prop_map(Edit::Delete),
        (0..8usize, any::<i64>()).prop_map(|(e, v)| Edit::Set(e, v)),
        (0..16usize, "[a-z]{1,4}").prop_map(|(i, s)| Edit::Type(i, s)),
        (0..16usize, 1..4usize).prop_map(|(i, n)| Edit::Erase(i, n)),
    ]
}

/// One transaction of several edits, each on what the transaction sees so far.
fn apply_edits(repo: &Repo, doc: weft_dag::DocId, edits: &[Edit]) {
    let list = |l: u8| if l == 0 { "todo" } else { "done" };
    let mut tx = repo.transaction(doc);
    for edit in edits {
        let all: Vec<OpId> = [
            tx.list_elements("todo").unwrap(),
            tx.list_elements("done").unwrap(),
        ]
        .concat()
        .iter()
        .map(|e| e.id)
        .collect();
        let text_len = tx.text("t").unwrap().map_or(0, |t| t.chars().count());
        let pick = |n: usize| (!all.is_empty()).then(|| all[n % all.len()]);
        match edit {
            Edit::Push(l, v) => {
                tx.list_push(list(*l), *v).unwrap();
            }
            Edit::Insert(l, i, v) => {
                let len = tx.list_len(list(*l)).unwrap();
                tx.list_insert(list(*l), i % (len + 1), *v).unwrap();
            }
            Edit::Move(e, l, i) => {
                if let Some(e) = pick(*e) {
                    let len = tx.list_len(list(*l)).unwrap();
                    tx.list_move(e, Place::At(list(*l).into(), i % (len + 1)))
                        .unwrap();
                }
            }
            Edit::Delete(e) => {
                if let Some(e) = pick(*e) {
                    tx.list_delete(e).unwrap();
                }
            }
            Edit::Set(e, v) => {
                if let Some(e) = pick(*e) {
                    tx.list_set(e, *v).unwrap();
                }
            }
            Edit::Type(i, s) => {
                tx.text_insert("t", i % (text_len + 1), s).unwrap();
            }
            Edit::Erase(i, n) => {
                if text_len > 0 {
                    let at = i % text_len;
                    tx.text_delete("t", at, (*n).min(text_len - at)).unwrap();
                }
            }
        }
    }
    tx.commit().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Three replicas edit lists and a text concurrently, several edits per change, and sync
    /// in random pairs; in the end all hold the same state, which is also what a replay of the
    /// whole DAG in another order (time travel to the heads) gives, and fsck agrees (each
    /// replica's lists and texts in memory, kept by its commits, against a fresh replay).
    #[test]
    fn concurrent_list_and_text_edits_converge(
        steps in proptest::collection::vec(
            (0..3usize, proptest::collection::vec(edit(), 1..5), 0..4usize),
            1..30,
        )
    ) {
        let a = Repo::memory(identity(1));
        let doc = main_doc(&a);
        let b = replica(&a, doc, 2);
        let c = replica(&a, doc, 3);
        sync_both(&a, &b, doc);
        sync_both(&a, &c, doc);
        let repos = [&a, &b, &c];
        for (who, edits, exchange) in &steps {
            apply_edits(repos[*who], doc, edits);
            if *exchange == 0 {
                sync(repos[*who], repos[(*who + 1) % 3], doc);
            }
        }
        for _ in 0..2 {
            sync_both(&a, &b, doc);
            sync_both(&b, &c, doc);
        }
        sync_both(&a, &c, doc);
        assert_same(&a, &b, doc);
        assert_same(&a, &c, doc);
        let heads = a.heads(doc).unwrap();
        let replayed = a.at(doc, &heads).unwrap();
        for key in ["todo", "done", "t"] {
            prop_assert_eq!(a.state(doc).get(key).unwrap(), replayed.state().get(key).unwrap());
        }
        // Every element is in at most one list.
        let s = a.state(doc);
        let mut ids: Vec<OpId> = [s.elements("todo").unwrap(), s.elements("done").unwrap()]
            .concat().iter().map(|e| e.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), n);
    }
}

/// The async stream of batches: pending until a commit, woken by it, and ended when the repo
/// drops.
#[test]
fn batches_come_as_an_async_stream() {
    use std::{
        pin::Pin,
        sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        },
        task::{Context, Poll, Wake, Waker},
    };

    use futures_core::Stream;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let woken = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);

    let repo = Repo::memory(identity(1));
    let doc = main_doc(&repo);
    let mut stream = repo.stream(Filter::all().prefix("todo"));
    assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
    let mut tx = repo.transaction(doc);
    tx.set("other", 1).unwrap();
    tx.commit().unwrap();
    assert_eq!(woken.0.load(Ordering::SeqCst), 0, "filtered out: no wake");
    let mut tx = repo.transaction(doc);
    tx.list_push("todo", "a").unwrap();
    tx.commit().unwrap();
    assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    let Poll::Ready(Some(batch)) = Pin::new(&mut stream).poll_next(&mut cx) else {
        panic!("a batch")
    };
    assert!(matches!(batch.diffs[0].diff, Diff::List { .. }));
    assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
    drop(repo);
    assert!(matches!(
        Pin::new(&mut stream).poll_next(&mut cx),
        Poll::Ready(None)
    ));
}

/// A view sees one state while another thread commits: the commit waits for the view.
#[test]
fn a_view_reads_one_state_while_another_thread_commits() {
    let repo = std::sync::Arc::new(Repo::memory(identity(1)));
    let doc = main_doc(&repo);
    let mut tx = repo.transaction(doc);
    tx.list_push("todo", "a").unwrap();
    tx.set("count", 1).unwrap();
    tx.commit().unwrap();
    let view = repo.view(doc);
    let heads = view.heads().unwrap().to_vec();
    let writer = {
        let repo = std::sync::Arc::clone(&repo);
        std::thread::spawn(move || {
            let mut tx = repo.transaction(doc);
            tx.list_push("todo", "b").unwrap();
            tx.set("count", 2).unwrap();
            tx.commit().unwrap();
        })
    };
    // However long the writer runs, the view's reads agree with each other and its heads.
    for _ in 0..50 {
        assert_eq!(view.state().get("count").unwrap(), Some(Value::Int(1)));
        assert_eq!(view.state().elements("todo").unwrap().len(), 1);
        assert_eq!(view.heads().unwrap(), heads.as_slice());
    }
    assert!(!writer.is_finished(), "the commit waits for the view");
    drop(view);
    writer.join().unwrap();
    assert_eq!(values(&repo, "todo"), strings(&["a", "b"]));
}

/// Lists and texts are snapshotted as they grow and when the repo closes, so that opening
/// reads them without replaying changes; fsck checks the snapshot against a replay, and a
/// damaged one is reported, never read as something else.
#[test]
fn lists_and_texts_open_from_a_snapshot() {
    use weft_dag::keys;
    let dir = tempfile::tempdir().unwrap();
    let id = Identity::from_seed([4; 32]);
    let options = || weft_dag::Options {
        identity: Some(id.clone()),
        ..Default::default()
    };
    let mut expected = String::new();
    let doc = {
        let repo = Repo::init(dir.path(), options()).unwrap();
        let doc = main_doc(&repo);
        for i in 0..800 {
            let mut tx = repo.transaction(doc);
            for j in 0..5 {
                let ch = char::from(b'a' + ((i + j) % 26) as u8);
                let at = (i * 7 + j) % (expected.chars().count() + 1);
                tx.text_insert("t", at, &ch.to_string()).unwrap();
                let byte = expected
                    .char_indices()
                    .nth(at)
                    .map_or(expected.len(), |(b, _)| b);
                expected.insert(byte, ch);
            }
            tx.list_push("l", i as i64).unwrap();
            tx.commit().unwrap();
        }
        let snap = repo
            .store()
            .get(keys::SEQ_SNAP, &keys::doc_key(&doc))
            .unwrap();
        assert!(snap.is_some(), "written once 4,096 ops gathered");
        doc
    };
    let repo = Repo::open(dir.path(), options()).unwrap();
    let tail = repo
        .store()
        .scan_prefix(keys::SEQ_TAIL, &doc.0.to_bytes())
        .count();
    assert_eq!(tail, 0, "closing wrote the rest into the snapshot");
    assert_eq!(repo.state(doc).text("t").unwrap().unwrap(), expected);
    assert_eq!(repo.state(doc).elements("l").unwrap().len(), 800);
    assert_fsck(&repo);
    // More edits after the snapshot are replayed from the tail.
    let mut tx = repo.transaction(doc);
    tx.text_insert("t", 0, "!").unwrap();
    tx.commit().unwrap();
    drop(repo);
    let repo = Repo::open(dir.path(), options()).unwrap();
    assert!(repo.state(doc).text("t").unwrap().unwrap().starts_with('!'));
    let text = repo.state(doc).text("t").unwrap().unwrap();
    // A snapshot of another version is not read: the changes are replayed instead.
    let mut batch = repo.store().batch();
    batch.put(keys::SEQ_SNAP, &keys::doc_key(&doc), b"\xffother");
    batch.commit().unwrap();
    drop(repo);
    let repo = Repo::open(dir.path(), options()).unwrap();
    assert_eq!(repo.state(doc).text("t").unwrap().unwrap(), text);
    assert_fsck(&repo);
    drop(repo);
    // ... and closing wrote a snapshot of this version again.
    let repo = Repo::open(dir.path(), options()).unwrap();
    let snap = repo
        .store()
        .get(keys::SEQ_SNAP, &keys::doc_key(&doc))
        .unwrap()
        .unwrap();
    assert_eq!(snap[0], 2);
    // A damaged snapshot.
    let mut batch = repo.store().batch();
    batch.put(keys::SEQ_SNAP, &keys::doc_key(&doc), b"\x02garbage");
    batch.commit().unwrap();
    drop(repo);
    let repo = Repo::open(dir.path(), options()).unwrap();
    let err = repo.state(doc).text("t").unwrap_err();
    assert_eq!(err.kind(), weft_dag::ErrorKind::Corrupt, "{err}");
    let report = repo.fsck().unwrap();
    assert!(
        report.problems.iter().any(|p| p.kind == "state-mismatch"),
        "{:?}",
        report.problems
    );
}

#[test]
fn deleting_rows_empties_their_lists_and_texts() {
    let repo = Repo::memory(identity(1));
    let doc = main_doc(&repo);
    let mut tx = repo.transaction(doc);
    tx.list_push("board/1/items", "a").unwrap();
    tx.list_push("board/1/items", "b").unwrap();
    tx.text_insert("board/1/title", 0, "Groceries").unwrap();
    tx.set("board/1/owner", "me").unwrap();
    tx.commit().unwrap();
    let mut tx = repo.transaction(doc);
    tx.del_rows("board/1").unwrap();
    tx.commit().unwrap();
    assert_eq!(
        repo.state(doc).rows("board").unwrap().to_json(),
        serde_json::json!({"1": {"items": [], "title": ""}})
    );
    assert_fsck(&repo);
}

/// What is typed in one transaction is one insert op, and backspacing one delete op; a
/// replica that applies them holds the same text.
#[test]
fn typing_in_one_transaction_is_one_op() {
    let a = Repo::memory(identity(1));
    let doc = main_doc(&a);
    let b = replica(&a, doc, 2);
    let mut tx = a.transaction(doc);
    tx.text_insert("t", 0, "[]").unwrap();
    tx.commit().unwrap();
    let mut tx = a.transaction(doc);
    for (i, ch) in "hello".chars().enumerate() {
        tx.text_insert("t", 1 + i, &ch.to_string()).unwrap();
    }
    for i in (4..6).rev() {
        tx.text_delete("t", i, 1).unwrap();
    }
    tx.text_insert("t", 4, "p!").unwrap();
    let c = tx.commit().unwrap().unwrap();
    let names: Vec<&str> = c.change.ops.iter().map(Op::name).collect();
    assert_eq!(names, ["tins", "tdel", "tins"], "{:?}", c.change.ops);
    assert_eq!(a.state(doc).text("t").unwrap().as_deref(), Some("[help!]"));
    sync(&a, &b, doc);
    assert_same(&a, &b, doc);
}
