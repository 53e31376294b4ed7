//! Batch events: one per applied batch and document, with the diff of every key whose visible
//! state changed; filters, unsubscribing by drop, and callbacks that read and write the repo.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    mpsc, Arc,
};

use weft_dag::{Batch, Diff, DocId, Filter, Repo, Value, GROUP_CHANGES};

use weft_testkit::{all_changes, chain, empty, identity, replica, sync};

fn write(
    repo: &Repo,
    doc: DocId,
    ops: impl FnOnce(&mut weft_dag::Transaction<'_>) -> Result<(), weft_dag::Error>,
) {
    let mut tx = repo.transaction(doc);
    ops(&mut tx).unwrap();
    tx.commit().unwrap();
}

fn drain(sub: &weft_dag::Batches) -> Vec<Batch> {
    std::iter::from_fn(|| sub.try_next()).collect()
}

fn text(s: &str) -> Value {
    Value::String(s.into())
}

/// The one batch a commit delivers.
fn one(sub: &weft_dag::Batches) -> Batch {
    let mut batches = drain(sub);
    assert_eq!(batches.len(), 1, "{batches:?}");
    batches.remove(0)
}

/// An import of 1,001 changes (a genesis and 1,000 commits) in one call: one batch per import
/// group, ceil(1001 / 1024) = 1, carrying every change and the diffs of the whole group.
#[test]
fn an_import_of_a_thousand_changes_is_one_batch() {
    let src = Repo::memory(identity(1));
    let doc = src.doc("main").unwrap();
    chain(&src, doc, 1000, |tx, i| {
        tx.set("title", Value::Int(i as i64))?;
        tx.incr(&format!("n/{}", i % 20), 1)?;
        tx.add("tags", Value::Int((i % 50) as i64))?;
        Ok(())
    });
    let mut changes = all_changes(&src, doc);
    changes.reverse();
    assert_eq!(changes.len(), 1001);

    let dst = empty(2);
    let sub = dst.subscribe_filtered(Filter::all());
    let events = dst.subscribe();
    let stats = dst.apply_changes(changes.clone()).unwrap();
    assert_eq!(stats.applied.len(), 1001);

    let batches = drain(&sub);
    assert_eq!(batches.len(), 1001usize.div_ceil(GROUP_CHANGES));
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(batch.doc, doc);
    let cids: Vec<_> = batch.changes.iter().map(|c| c.cid).collect();
    assert_eq!(cids, changes.iter().map(|(c, _)| *c).collect::<Vec<_>>());
    assert!(batch.changes.iter().all(|c| !c.local));
    // The per-change form still hears every change.
    assert_eq!(std::iter::from_fn(|| events.try_next()).count(), 1001);

    assert_eq!(batch.diffs.len(), 1 + 20 + 1, "{:?}", batch.diffs);
    assert_eq!(
        batch.diff("title"),
        Some(&Diff::Register {
            old: None,
            new: Value::Int(999),
            conflict: false
        })
    );
    for k in 0..20 {
        assert_eq!(
            batch.diff(&format!("n/{k}")),
            Some(&Diff::Counter {
                delta: 50,
                value: 50
            })
        );
    }
    assert_eq!(
        batch.diff("tags"),
        Some(&Diff::Set {
            added: (0..50).map(Value::Int).collect(),
            removed: vec![]
        })
    );
}

#[test]
fn register_old_new_and_conflicts() {
    let a = Repo::memory(identity(1));
    let doc = a.doc("main").unwrap();
    let sub = a.subscribe_filtered(Filter::all());
    write(&a, doc, |t| t.set("x", "one").map(drop));
    let b1 = one(&sub);
    assert!(b1.changes[0].local);
    assert_eq!(
        b1.diffs,
        vec![weft_dag::KeyDiff {
            key: "x".into(),
            diff: Diff::Register {
                old: None,
                new: text("one"),
                conflict: false
            }
        }]
    );
    write(&a, doc, |t| t.set("x", "two").map(drop));
    assert_eq!(
        one(&sub).diff("x"),
        Some(&Diff::Register {
            old: Some(text("one")),
            new: text("two"),
            conflict: false
        })
    );
    // Setting the value it holds changes nothing visible: the change, no diff.
    write(&a, doc, |t| t.set("x", "two").map(drop));
    let same = one(&sub);
    assert_eq!(same.changes.len(), 1);
    assert!(same.diffs.is_empty());

    // A concurrent write arrives: the register now holds two values.
    let b = replica(&a, doc, 2);
    drain(&sub);
    write(&b, doc, |t| t.set("x", "bee").map(drop));
    write(&a, doc, |t| t.set("x", "ay").map(drop));
    drain(&sub);
    sync(&b, &a, doc);
    let merged = one(&sub);
    let winner = a.state(doc).get("x").unwrap().unwrap();
    assert_eq!(
        merged.diff("x"),
        Some(&Diff::Register {
            old: Some(text("ay")),
            new: winner.clone(),
            conflict: true
        })
    );

    // Deleting the key.
    write(&a, doc, |t| t.del("x").map(drop));
    assert_eq!(one(&sub).diff("x"), Some(&Diff::Deleted { old: winner }));
}

#[test]
fn counter_deltas_and_set_members() {
    let a = Repo::memory(identity(1));
    let doc = a.doc("main").unwrap();
    let sub = a.subscribe_filtered(Filter::all());
    write(&a, doc, |t| t.incr("c", 5).map(drop));
    assert_eq!(
        one(&sub).diff("c"),
        Some(&Diff::Counter { delta: 5, value: 5 })
    );
    let mut tx = a.transaction(doc);
    tx.incr("c", -3).unwrap().incr("c", 1).unwrap();
    tx.add("s", "a").unwrap().add("s", "b").unwrap();
    tx.commit().unwrap();
    let b = one(&sub);
    assert_eq!(
        b.diff("c"),
        Some(&Diff::Counter {
            delta: -2,
            value: 3
        })
    );
    assert_eq!(
        b.diff("s"),
        Some(&Diff::Set {
            added: vec![text("a"), text("b")],
            removed: vec![]
        })
    );
    let mut tx = a.transaction(doc);
    tx.remove("s", "a").unwrap().add("s", "c").unwrap();
    tx.commit().unwrap();
    assert_eq!(
        one(&sub).diff("s"),
        Some(&Diff::Set {
            added: vec![text("c")],
            removed: vec![text("a")]
        })
    );
}

#[test]
fn filters_by_document_and_prefix() {
    let a = Repo::memory(identity(1));
    let main = a.doc("main").unwrap();
    let other = a.create_doc("other").unwrap();
    let by_doc = a.subscribe_filtered(Filter::all().doc(other));
    let by_prefix = a.subscribe_filtered(Filter::all().prefix("todo/"));
    let both = a.subscribe_filtered(Filter::all().doc(main).prefix("todo/"));

    let mut tx = a.transaction(main);
    tx.set("todo/1", "milk")
        .unwrap()
        .set("title", "list")
        .unwrap();
    tx.commit().unwrap();
    write(&a, main, |t| t.set("title", "x").map(drop));
    write(&a, other, |t| t.set("todo/2", "eggs").map(drop));

    let docs: Vec<DocId> = drain(&by_doc).iter().map(|b| b.doc).collect();
    assert_eq!(docs, vec![other]);

    let prefixed = drain(&by_prefix);
    assert_eq!(prefixed.len(), 2);
    let keys: Vec<Vec<&str>> = prefixed
        .iter()
        .map(|b| b.diffs.iter().map(|d| d.key.as_str()).collect())
        .collect();
    assert_eq!(keys, vec![vec!["todo/1"], vec!["todo/2"]]);

    let narrow = drain(&both);
    assert_eq!(narrow.len(), 1);
    assert_eq!(narrow[0].doc, main);
    assert_eq!(narrow[0].diffs.len(), 1);
}

/// Dropping a subscription or a callback guard unsubscribes, even one whose filter lets
/// nothing through (so it is never sent anything that could fail).
#[test]
fn dropping_unsubscribes() {
    let a = Repo::memory(identity(1));
    let doc = a.doc("main").unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let guard = a.on_change(Filter::all(), move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let never = a.subscribe_filtered(Filter::all().prefix("nothing/"));
    let events = a.subscribe();
    assert!(format!("{a:?}").contains("3 subscribers"), "{a:?}");

    write(&a, doc, |t| t.set("x", 1).map(drop));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    drop(guard);
    drop(never);
    drop(events);
    write(&a, doc, |t| t.set("x", 2).map(drop));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(format!("{a:?}").contains("0 subscribers"), "{a:?}");
}

/// A callback runs with no lock of the repo held: it reads the repo, and even writes to it
/// (that batch is delivered once the callback returns).
#[test]
fn a_callback_reads_and_writes_the_repo() {
    let repo = Arc::new(Repo::memory(identity(1)));
    let doc = repo.doc("main").unwrap();
    let (tx, rx) = mpsc::channel();
    let weak = Arc::downgrade(&repo);
    let _guard = repo.on_change(Filter::all().doc(doc), move |batch| {
        let Some(repo) = weak.upgrade() else { return };
        let x = repo.state(batch.doc).get("x").unwrap();
        tx.send((batch.diffs.clone(), x)).unwrap();
        if batch.diff("x").is_some() {
            let mut t = repo.transaction(batch.doc);
            t.incr("seen", 1).unwrap();
            t.commit().unwrap();
        }
    });
    let worker = {
        let repo = Arc::clone(&repo);
        std::thread::spawn(move || {
            write(&repo, doc, |t| t.set("x", "hi").map(drop));
        })
    };
    worker.join().unwrap();
    let (diffs, x) = rx.recv().unwrap();
    assert_eq!(x, Some(text("hi")));
    assert_eq!(diffs[0].key, "x");
    let (diffs, _) = rx.recv().unwrap();
    assert_eq!(diffs[0].key, "seen");
    assert_eq!(repo.state(doc).get("seen").unwrap(), Some(Value::Int(1)));
}
