//! `Repo::import`: what a failure leaves behind, and imports racing on the same changes.

use std::sync::Arc;

use weft_dag::{change::VerifyError, Change, Cid, DocId, EncodedChange, Error, Op, Repo, Value};

use weft_testkit::{all_changes, chain, empty, flip_signature, identity};

/// A source repo whose `main` has `n` single-increment commits after its genesis; returns the
/// repo, the document and its changes parents first.
fn source(n: usize) -> (Repo, DocId, Vec<(Cid, Vec<u8>)>) {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    chain(&repo, doc, n, |tx, _| {
        tx.incr("n", 1)?;
        Ok(())
    });
    let mut changes = all_changes(&repo, doc);
    changes.reverse();
    (repo, doc, changes)
}

/// A correctly signed change that claims a height its parents do not give it: only staging
/// (which sees the parents) can refuse it.
fn wrong_height(doc: DocId, parent: Cid) -> EncodedChange {
    let id = identity(7);
    Change {
        doc: Some(doc),
        parents: vec![parent],
        author: id.author(),
        seq: 1,
        height: 9,
        time: 1_700_000_000_000,
        ops: vec![Op::Incr {
            key: "n".into(),
            delta: 100,
        }],
        sig: [0; 64],
    }
    .sign(&id)
}

fn counter(repo: &Repo, doc: DocId) -> Option<Value> {
    repo.state(doc).get("n").unwrap()
}

/// A change with a bad signature among good ones: refused with its CID; the good ones before
/// and after it (those that do not build on it) are kept.
#[test]
fn commit_after_a_bad_signature_keeps_what_verified() {
    let (src, doc, changes) = source(4);
    let other = src.create_doc("other").unwrap();
    let other_genesis = src.block(&other.0).unwrap();
    let dst = empty(2);
    let bad = flip_signature(&changes[2].1, 3, 0x20);
    let bad_cid = Cid::hash(weft_dag::Codec::DagCbor, &bad);

    let mut import = dst.import();
    import.push(changes[0].1.clone()).unwrap();
    import.push(changes[1].1.clone()).unwrap();
    // The signature is checked when the push is verified: now, or at the latest by `commit`.
    let failure = match import.push(bad) {
        Err(e) => e,
        Ok(_) => {
            // Verified together with the bad one: independent of it, so it must not be lost.
            import.push(other_genesis).unwrap();
            import.commit().unwrap_err()
        }
    };
    match failure {
        Error::Verify(VerifyError::BadSignature { cid, .. }) => assert_eq!(cid, bad_cid),
        e => panic!("{e:?}"),
    }
    import.commit().unwrap();
    assert!(dst.has_change(&changes[0].0).unwrap());
    assert!(dst.has_change(&changes[1].0).unwrap());
    assert!(!dst.has_change(&bad_cid).unwrap());
    assert_eq!(dst.heads(doc).unwrap(), vec![changes[1].0]);
    assert!(dst.has_change(&other.0).unwrap());
    // The import goes on with the good version and the rest.
    for (_, bytes) in &changes[2..] {
        import.push(bytes.clone()).unwrap();
    }
    let stats = import.finish().unwrap();
    let mut applied: Vec<Cid> = changes.iter().map(|(c, _)| *c).collect();
    applied.push(other.0);
    applied.sort();
    let mut got = stats.applied.clone();
    got.sort();
    assert_eq!(got, applied);
    assert_eq!(dst.heads(doc).unwrap(), src.heads(doc).unwrap());
    assert_eq!(counter(&dst, doc), counter(&src, doc));
    assert!(dst.fsck().unwrap().is_ok());
}

/// A change that fails staging in the middle of a group: the changes before it land with the
/// failed commit; the verified changes after it that do not depend on it land with the next
/// commit; those that build on it are orphans at the end.
#[test]
fn commit_after_a_staging_failure_keeps_the_rest_of_the_group() {
    let (src, doc, changes) = source(3);
    let dst = empty(2);
    let bad = wrong_height(doc, changes[0].0);
    let id = identity(8);
    let on_bad = Change {
        doc: Some(doc),
        parents: vec![bad.cid],
        author: id.author(),
        seq: 1,
        height: 10,
        time: 1_700_000_000_000,
        ops: vec![Op::Incr {
            key: "n".into(),
            delta: 1000,
        }],
        sig: [0; 64],
    }
    .sign(&id);

    let mut import = dst.import();
    import.push(changes[0].1.clone()).unwrap();
    import.push(changes[1].1.clone()).unwrap();
    import.push(bad.bytes.clone()).unwrap();
    import.push(on_bad.bytes.clone()).unwrap();
    import.push(changes[2].1.clone()).unwrap();
    import.push(changes[3].1.clone()).unwrap();
    match import.commit().unwrap_err() {
        Error::InvalidChange { cid, reason } => {
            assert_eq!(cid, bad.cid);
            assert!(reason.to_string().contains("height"), "{reason}");
        }
        e => panic!("{e:?}"),
    }
    assert!(dst.has_change(&changes[1].0).unwrap());
    import.commit().unwrap();
    for (cid, _) in &changes {
        assert!(dst.has_change(cid).unwrap(), "{cid}");
    }
    assert!(!dst.has_change(&bad.cid).unwrap());
    assert!(!dst.has_change(&on_bad.cid).unwrap());
    assert_eq!(dst.heads(doc).unwrap(), src.heads(doc).unwrap());
    assert_eq!(counter(&dst, doc), counter(&src, doc));
    match import.finish().unwrap_err() {
        Error::Orphans {
            cid,
            missing,
            n_orphans,
            ..
        } => assert_eq!((cid, missing, n_orphans), (on_bad.cid, bad.cid, 1)),
        e => panic!("{e:?}"),
    }
    assert!(dst.fsck().unwrap().is_ok());
}

/// The same changes pushed through two imports before either commits: the second commit finds
/// them stored and skips them, so their ops count once.
#[test]
fn a_change_committed_by_another_import_is_applied_once() {
    let (src, doc, changes) = source(3);
    let dst = empty(2);
    let mut first = dst.import();
    let mut second = dst.import();
    for (_, bytes) in &changes[..3] {
        assert!(first.push(bytes.clone()).unwrap().1);
        assert!(second.push(bytes.clone()).unwrap().1);
    }
    // The second also has one change the first does not.
    second.push(changes[3].1.clone()).unwrap();
    first.commit().unwrap();
    second.commit().unwrap();
    let a = first.finish().unwrap();
    let b = second.finish().unwrap();
    assert_eq!(a.applied.len(), 3);
    assert_eq!(b.applied, vec![changes[3].0]);
    assert_eq!(b.n_duplicates, 3);
    assert_eq!(dst.heads(doc).unwrap(), src.heads(doc).unwrap());
    assert_eq!(counter(&dst, doc), Some(Value::Int(3)));
    assert_eq!(counter(&dst, doc), counter(&src, doc));
    assert_eq!(
        dst.state(doc).entries("").unwrap(),
        src.state(doc).entries("").unwrap()
    );
    assert!(dst.fsck().unwrap().is_ok());
}

/// Imports of the same changes on several threads at once: every change counts once whatever
/// the interleaving.
#[test]
fn racing_imports_apply_each_change_once() {
    let (src, doc, changes) = source(300);
    let dst = Arc::new(empty(2));
    std::thread::scope(|s| {
        for t in 0..4 {
            let dst = Arc::clone(&dst);
            let changes = &changes;
            s.spawn(move || {
                let mut import = dst.import();
                for (k, (_, bytes)) in changes.iter().enumerate() {
                    import.push(bytes.clone()).unwrap();
                    // Commit at different points on each thread.
                    if k % (7 + t) == 0 {
                        import.commit().unwrap();
                    }
                }
                import.finish().unwrap();
            });
        }
    });
    assert_eq!(dst.heads(doc).unwrap(), src.heads(doc).unwrap());
    assert_eq!(counter(&dst, doc), Some(Value::Int(300)));
    assert_eq!(
        dst.state(doc).entries("").unwrap(),
        src.state(doc).entries("").unwrap()
    );
    assert!(dst.fsck().unwrap().is_ok());
}

/// A reader on another thread that finds a change in the store (as a head) always finds it
/// present, with its node, however its commit interleaves: a repo that started empty answers
/// "absent" from memory, so the memory must never lag behind the store.
#[test]
fn a_head_a_reader_sees_is_present_while_imports_commit() {
    let (_, doc, changes) = source(400);
    let dst = Arc::new(empty(3));
    dst.apply_changes(changes[..1].to_vec()).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let checked = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut checked = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                for head in dst.heads(doc).unwrap() {
                    assert!(dst.has_change(&head).unwrap(), "head {head} absent");
                    assert!(
                        dst.node(&head).unwrap().is_some(),
                        "head {head} has no node"
                    );
                    checked += 1;
                }
            }
            checked
        });
        for change in &changes[1..] {
            dst.apply_changes(vec![change.clone()]).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        reader.join().unwrap()
    });
    assert!(checked > 0);
    assert_eq!(counter(&dst, doc), Some(Value::Int(400)));
}

/// Two imports of one repo (two sync sessions): the first holds changes that wait for a
/// parent; the second commits that parent. The first must then commit its waiting changes (or
/// count them as duplicates), not end in orphans naming a parent the repo has.
#[test]
fn a_parent_committed_by_another_import_releases_waiting_changes() {
    let (_src, _doc, changes) = source(4);
    // changes: genesis, c1, c2, c3, c4 (each the parent of the next).
    let repo = empty(2);
    let mut first = repo.import();
    // c3 and c4 wait for c2.
    first
        .push_claimed(changes[3].0, changes[3].1.clone())
        .unwrap();
    first
        .push_claimed(changes[4].0, changes[4].1.clone())
        .unwrap();
    first.commit().unwrap();
    assert_eq!(first.n_waiting(), 2);
    // Another session brings genesis..c3.
    let mut second = repo.import();
    for (cid, bytes) in &changes[..4] {
        second.push_claimed(*cid, bytes.clone()).unwrap();
    }
    second.finish().unwrap();
    assert!(repo.has_change(&changes[3].0).unwrap());
    assert!(!repo.has_change(&changes[4].0).unwrap());
    // The first import now needs nothing: c3 is a duplicate, c4 lands.
    let stats = first.finish().unwrap();
    assert_eq!(stats.applied, vec![changes[4].0]);
    assert_eq!(stats.n_duplicates, 1);
    assert_eq!(repo.heads(DocId(changes[0].0)).unwrap(), vec![changes[4].0]);
    assert!(repo.fsck().unwrap().is_ok());
}
