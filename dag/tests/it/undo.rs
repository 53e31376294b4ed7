//! `Repo::undo` and `Repo::redo`: new changes that invert this replica's author's own changes,
//! sync like any edit, and leave what a peer wrote over them alone.

use weft_dag::{DocId, Entry, Repo, Value};
use weft_testkit::{identity, replica, sync, sync_both};

fn repo() -> (Repo, DocId) {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    (repo, doc)
}

fn set(repo: &Repo, doc: DocId, key: &str, value: &str) {
    let mut tx = repo.transaction(doc);
    tx.set(key, value).unwrap();
    tx.commit().unwrap().unwrap();
}

fn get(repo: &Repo, doc: DocId, key: &str) -> Option<Value> {
    repo.state(doc).get(key).unwrap()
}

fn members(repo: &Repo, doc: DocId, key: &str) -> Vec<Value> {
    match repo.state(doc).entry(key).unwrap() {
        Some(Entry::Set(members)) => members.into_iter().map(|(m, _)| m).collect(),
        _ => Vec::new(),
    }
}

fn counter(repo: &Repo, doc: DocId, key: &str) -> Option<Value> {
    get(repo, doc, key)
}

#[test]
fn undo_restores_the_value_a_set_overwrote() {
    let (repo, doc) = repo();
    set(&repo, doc, "title", "draft");
    set(&repo, doc, "title", "final");
    let last = repo.heads(doc).unwrap()[0];
    let undo = repo.undo(doc).unwrap().unwrap();
    assert_eq!(undo.target, last);
    assert_eq!(get(&repo, doc, "title"), Some(Value::from("draft")));
    assert_eq!(undo.committed.change.author, repo.author());
    assert_eq!(repo.heads(doc).unwrap(), vec![undo.committed.cid]);
    // The next undo goes on to the first set, which had nothing before it.
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(get(&repo, doc, "title"), None);
}

#[test]
fn undo_of_a_first_set_deletes_the_key_and_redo_brings_it_back() {
    let (repo, doc) = repo();
    set(&repo, doc, "k", "v");
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(get(&repo, doc, "k"), None);
    assert!(repo.state(doc).entry("k").unwrap().is_none());
    repo.redo(doc).unwrap().unwrap();
    assert_eq!(get(&repo, doc, "k"), Some(Value::from("v")));
    assert!(repo.redo(doc).unwrap().is_none(), "one undo, one redo");
}

#[test]
fn undo_of_a_delete_sets_the_value_back() {
    let (repo, doc) = repo();
    set(&repo, doc, "k", "v");
    let mut tx = repo.transaction(doc);
    tx.del("k").unwrap();
    tx.commit().unwrap().unwrap();
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(get(&repo, doc, "k"), Some(Value::from("v")));
}

#[test]
fn undo_of_incr_subtracts_it() {
    let (repo, doc) = repo();
    for d in [5, 3] {
        let mut tx = repo.transaction(doc);
        tx.incr("n", d).unwrap();
        tx.commit().unwrap().unwrap();
    }
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(counter(&repo, doc, "n"), Some(Value::from(5i64)));
    repo.redo(doc).unwrap().unwrap();
    assert_eq!(counter(&repo, doc, "n"), Some(Value::from(8i64)));
}

#[test]
fn undo_of_set_add_and_remove() {
    let (repo, doc) = repo();
    let mut tx = repo.transaction(doc);
    tx.add("tags", "a").unwrap();
    tx.commit().unwrap().unwrap();
    let mut tx = repo.transaction(doc);
    tx.add("tags", "b").unwrap();
    tx.commit().unwrap().unwrap();
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(members(&repo, doc, "tags"), vec![Value::from("a")]);

    let mut tx = repo.transaction(doc);
    tx.remove("tags", "a").unwrap();
    tx.commit().unwrap().unwrap();
    assert!(members(&repo, doc, "tags").is_empty());
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(members(&repo, doc, "tags"), vec![Value::from("a")]);
}

#[test]
fn undo_then_redo_then_undo_again() {
    let (repo, doc) = repo();
    set(&repo, doc, "k", "old");
    set(&repo, doc, "k", "new");
    let undo = repo.undo(doc).unwrap().unwrap();
    assert_eq!(get(&repo, doc, "k"), Some(Value::from("old")));
    let redo = repo.redo(doc).unwrap().unwrap();
    assert_eq!(
        redo.target, undo.target,
        "the change whose effect comes back"
    );
    assert_eq!(get(&repo, doc, "k"), Some(Value::from("new")));
    // A redo is an edit like any other: the next undo takes it back.
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(get(&repo, doc, "k"), Some(Value::from("old")));
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(get(&repo, doc, "k"), None);
    assert!(repo.undo(doc).unwrap().is_none(), "nothing left to undo");
    repo.redo(doc).unwrap().unwrap();
    repo.redo(doc).unwrap().unwrap();
    assert_eq!(get(&repo, doc, "k"), Some(Value::from("new")));
    assert!(repo.redo(doc).unwrap().is_none());
}

#[test]
fn a_new_edit_clears_the_redo_stack() {
    let (repo, doc) = repo();
    set(&repo, doc, "k", "a");
    set(&repo, doc, "k", "b");
    repo.undo(doc).unwrap().unwrap();
    set(&repo, doc, "other", "x");
    assert!(repo.redo(doc).unwrap().is_none());
    assert_eq!(get(&repo, doc, "k"), Some(Value::from("a")));
    // Undo still walks back: first the new edit, then the first set (the second is undone).
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(get(&repo, doc, "other"), None);
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(get(&repo, doc, "k"), None);
}

#[test]
fn nothing_to_undo_in_a_fresh_document() {
    let (repo, doc) = repo();
    assert!(repo.undo(doc).unwrap().is_none());
    assert!(repo.redo(doc).unwrap().is_none());
}

#[test]
fn a_peers_later_overwrite_is_not_undone_and_the_undo_syncs() {
    let (a, doc) = repo();
    let b = replica(&a, doc, 2);
    let mut tx = a.transaction(doc);
    tx.set("title", "ours").unwrap();
    tx.set("body", "ours").unwrap();
    tx.commit().unwrap().unwrap();
    sync(&a, &b, doc);
    set(&b, doc, "title", "theirs");
    sync(&b, &a, doc);

    let undo = a.undo(doc).unwrap().unwrap().committed;
    assert_eq!(
        undo.change.ops.len(),
        1,
        "only body is still ours: {undo:?}"
    );
    assert_eq!(get(&a, doc, "title"), Some(Value::from("theirs")));
    assert_eq!(get(&a, doc, "body"), None);

    sync_both(&a, &b, doc);
    for r in [&a, &b] {
        assert_eq!(get(r, doc, "title"), Some(Value::from("theirs")));
        assert_eq!(get(r, doc, "body"), None);
    }
    assert_eq!(a.heads(doc).unwrap(), b.heads(doc).unwrap());
    // The peer's undo stack is its own: it has nothing undone to redo, and its undo takes back
    // its own write only.
    assert!(b.redo(doc).unwrap().is_none());
    b.undo(doc).unwrap().unwrap();
    assert_eq!(get(&b, doc, "title"), Some(Value::from("ours")));
}

#[test]
fn a_concurrent_value_survives_the_undo() {
    let (a, doc) = repo();
    let b = replica(&a, doc, 2);
    set(&a, doc, "k", "a");
    set(&b, doc, "k", "b");
    sync_both(&a, &b, doc);
    assert_eq!(a.state(doc).get_all("k").unwrap().len(), 2);
    a.undo(doc).unwrap().unwrap();
    assert_eq!(a.state(doc).get_all("k").unwrap(), vec![Value::from("b")]);
}

#[test]
fn undo_of_a_change_written_over_changes_nothing() {
    let (a, doc) = repo();
    let b = replica(&a, doc, 2);
    set(&a, doc, "k", "first");
    set(&a, doc, "k", "ours");
    sync(&a, &b, doc);
    let mut tx = b.transaction(doc);
    tx.del("k").unwrap();
    tx.commit().unwrap().unwrap();
    sync(&b, &a, doc);
    let heads = a.heads(doc).unwrap();
    assert!(a.undo(doc).unwrap().is_none());
    assert_eq!(a.heads(doc).unwrap(), heads, "nothing committed");
    assert!(a.redo(doc).unwrap().is_none());
    // That change counts as undone: the next undo goes on to the one before, whose value is
    // gone too, so it changes nothing either.
    assert!(a.undo(doc).unwrap().is_none());
    assert!(a.undo(doc).unwrap().is_none());
    assert_eq!(get(&a, doc, "k"), None);
}

#[test]
fn revert_takes_back_a_peers_change_and_leaves_later_writes() {
    let (a, doc) = repo();
    let b = replica(&a, doc, 2);
    // B's change: a set, an increment and an add.
    let mut tx = b.transaction(doc);
    tx.set("k", "from b").unwrap();
    tx.incr("n", 5).unwrap();
    tx.add("tags", "x").unwrap();
    let theirs = tx.commit().unwrap().unwrap().cid;
    sync(&b, &a, doc);
    // A reverts it, though it is not A's own (undo would not touch it).
    let reverted = a.revert(doc, &theirs).unwrap().unwrap();
    assert_eq!(reverted.change.author, a.author());
    assert_eq!(get(&a, doc, "k"), None);
    assert_eq!(counter(&a, doc, "n"), Some(Value::Int(0)));
    assert!(members(&a, doc, "tags").is_empty());
    // Reverting again finds the set and the add no longer in effect; an increment is always
    // inverted (counters keep no trace of which increments were taken back).
    let again = a.revert(doc, &theirs).unwrap().unwrap();
    assert_eq!(again.change.ops.len(), 1);
    assert_eq!(counter(&a, doc, "n"), Some(Value::Int(-5)));

    // A value written over since is left alone.
    set(&a, doc, "t", "first");
    let first = a.heads(doc).unwrap()[0];
    set(&a, doc, "t", "second");
    assert!(a.revert(doc, &first).unwrap().is_none());
    assert_eq!(get(&a, doc, "t"), Some(Value::from("second")));

    // The revert syncs like any change.
    sync_both(&a, &b, doc);
    assert_eq!(get(&b, doc, "k"), None);
    // An unknown change is not found.
    let absent = weft_dag::Cid::hash(weft_dag::Codec::DagCbor, b"absent");
    assert_eq!(
        a.revert(doc, &absent).unwrap_err().kind(),
        weft_dag::ErrorKind::NotFound
    );
}
