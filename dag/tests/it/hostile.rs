//! Hostile kills: `pred`/`tags` that name ops which are not ancestors, or not of the kind, key or
//! member they claim. Every delivery order must give byte-identical state, and fsck must pass.
//!
//! The hand-built changes are signed by keys that the document's owner made writers first (in
//! one grant change at height 2), so they are accepted and count: what is under test is what
//! their ops do, not who may write.

use weft_dag::{Change, Cid, DocId, EncodedChange, Op, OpId, Repo, Role, Value};

use weft_testkit::{chain, identity};

/// A change by the key of `seed` on `parents` (the grant change at height 2).
fn change(doc: DocId, parents: Vec<Cid>, seed: u8, ops: Vec<Op>) -> EncodedChange {
    let id = identity(seed);
    Change {
        doc: Some(doc),
        parents,
        author: id.author(),
        seq: 2,
        height: 3,
        time: 1_700_000_000_000,
        ops,
        sig: [0; 64],
    }
    .sign(&id)
}

/// Every state entry as `(keyspace tag, key, value)`.
type StateBytes = Vec<(u8, Vec<u8>, Vec<u8>)>;

/// `origin` (the owner) makes the keys of `seeds` writers of `doc` in one change, whose CID
/// is returned.
fn grant_writers(origin: &Repo, doc: DocId, seeds: &[u8]) -> Cid {
    let mut tx = origin.transaction(doc);
    for &seed in seeds {
        tx.grant(identity(seed).author(), Role::Writer).unwrap();
    }
    let committed = tx.commit().unwrap().unwrap();
    assert_eq!(committed.change.height, 2);
    committed.cid
}

fn state_bytes(repo: &Repo) -> StateBytes {
    let mut out = Vec::new();
    for ks in weft_dag::keys::STATE {
        for r in repo.store().scan_prefix(ks, &[]) {
            let (k, v) = r.unwrap();
            out.push((ks.tag, k, v));
        }
    }
    out
}

fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for (i, &x) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, x);
            out.push(p);
        }
    }
    out
}

#[test]
fn hostile_kills_give_identical_state_in_every_order() {
    hostile_kills_in_every_order(false);
}

/// The same changes arriving together, so each order stages them in one batch: a tombstone
/// staged by one must be seen, and cleared, by the change it names later in the batch.
#[test]
fn hostile_kills_in_one_batch_give_identical_state_in_every_order() {
    hostile_kills_in_every_order(true);
}

fn hostile_kills_in_every_order(together: bool) {
    let origin = Repo::memory(identity(1));
    let doc = origin.doc("main").unwrap();
    let genesis = (doc.0, origin.block(&doc.0).unwrap());
    let granted = grant_writers(&origin, doc, &[2, 3, 4]);
    let grant = (granted, origin.block(&granted).unwrap());
    let g = vec![granted];
    let s = |k: &str| k.to_string();

    // C writes y and adds m to s.
    let c = change(
        doc,
        g.clone(),
        2,
        vec![
            Op::Set {
                key: s("y"),
                value: Value::Int(1),
                pred: vec![],
            },
            Op::Add {
                key: s("s"),
                member: Value::from("m"),
            },
        ],
    );
    let c0 = OpId {
        change: c.cid,
        index: 0,
    };
    let c1 = OpId {
        change: c.cid,
        index: 1,
    };
    // D is concurrent with C and kills C's ops under the wrong keys, kinds and members.
    let d = change(
        doc,
        g.clone(),
        3,
        vec![
            Op::Del {
                key: s("x"),
                pred: vec![c0],
            },
            Op::Set {
                key: s("z"),
                value: Value::Int(2),
                pred: vec![c0, c1],
            },
            Op::Remove {
                key: s("s"),
                member: Value::from("other"),
                tags: vec![c1],
            },
        ],
    );
    // E is concurrent with C too, and kills C's ops under their true slots.
    let e = change(
        doc,
        g,
        4,
        vec![
            Op::Del {
                key: s("y"),
                pred: vec![c0],
            },
            Op::Remove {
                key: s("s"),
                member: Value::from("m"),
                tags: vec![c1],
            },
        ],
    );
    let changes = [c, d, e];

    let mut reference: Option<StateBytes> = None;
    for order in permutations(&[0, 1, 2]) {
        let repo = Repo::with_store(weft_store::Store::memory(), identity(9)).unwrap();
        repo.apply_changes([genesis.clone(), grant.clone()])
            .unwrap();
        let blocks = order
            .iter()
            .map(|&i| (changes[i].cid, changes[i].bytes.clone()));
        if together {
            repo.apply_changes(blocks).unwrap();
        } else {
            for block in blocks {
                repo.apply_changes([block]).unwrap();
            }
        }
        let report = repo.fsck().unwrap();
        assert!(report.is_ok(), "order {order:?}: {:?}", report.problems);
        let state = repo.state(doc);
        // E killed C's value of y and C's tag of m; D's wrong-slot kills did nothing.
        assert_eq!(state.get("y").unwrap(), None, "order {order:?}");
        assert_eq!(state.get("s").unwrap(), None, "order {order:?}");
        assert_eq!(
            state.get("z").unwrap(),
            Some(Value::Int(2)),
            "order {order:?}"
        );
        let bytes = state_bytes(&repo);
        assert!(
            !bytes
                .iter()
                .any(|(tag, _, _)| *tag == weft_dag::keys::TOMBSTONE.tag),
            "order {order:?}: a tombstone outlived the change it names"
        );
        match &reference {
            None => reference = Some(bytes),
            Some(r) => assert_eq!(r, &bytes, "order {order:?} stored different state"),
        }
    }
}

#[test]
fn a_kill_of_a_change_that_never_arrives_leaves_one_tombstone() {
    let origin = Repo::memory(identity(1));
    let doc = origin.doc("main").unwrap();
    let ghost = OpId {
        change: weft_dag::Cid::hash(weft_dag::Codec::DagCbor, b"never sent"),
        index: 0,
    };
    let granted = grant_writers(&origin, doc, &[3]);
    let d = change(
        doc,
        vec![granted],
        3,
        vec![Op::Del {
            key: "x".into(),
            pred: vec![ghost],
        }],
    );
    origin.apply_changes([(d.cid, d.bytes.clone())]).unwrap();
    let tombs = origin
        .store()
        .scan_prefix(weft_dag::keys::TOMBSTONE, &[])
        .count();
    assert_eq!(tombs, 1);
    assert!(origin.fsck().unwrap().is_ok());
}

#[test]
fn a_remove_of_many_tags_is_split_to_fit_the_limits() {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    let n = weft_dag::change::MAX_PRED + 10;
    chain(&repo, doc, n, |tx, _| {
        tx.add("s", "x")?;
        Ok(())
    });
    let mut tx = repo.transaction(doc);
    tx.remove("s", "x").unwrap();
    let committed = tx.commit().unwrap().unwrap();
    assert_eq!(
        committed.change.ops.len(),
        2,
        "two remove ops of at most MAX_PRED tags"
    );
    assert_eq!(repo.state(doc).get("s").unwrap(), None);
    // The change decodes and verifies, so any replica accepts it.
    let other = Repo::memory(identity(2));
    weft_testkit::sync(&repo, &other, doc);
    assert_eq!(other.heads(doc).unwrap(), repo.heads(doc).unwrap());
    assert!(repo.fsck().unwrap().is_ok());
}

/// List and text ops that name items no replica has (ids of another key, of an op that made
/// nothing, of a change that does not exist, spans past a run's end, an element never
/// inserted) are stored and change nothing, in every delivery order; the honest ops beside them
/// still apply, and fsck agrees.
#[test]
fn list_and_text_ops_naming_absent_items_change_nothing() {
    use weft_dag::{ItemRef, OpRef};
    let origin = Repo::memory(identity(1));
    let doc = origin.doc("main").unwrap();
    grant_writers(&origin, doc, &[2, 3]);
    let mut tx = origin.transaction(doc);
    tx.text_insert("t", 0, "abc").unwrap();
    let x = tx.list_push("l", "x").unwrap();
    let base = tx.commit().unwrap().unwrap();
    let x = base.resolve(x);
    let text_op = OpId {
        change: base.cid,
        index: 0,
    };
    let nowhere = OpId {
        change: Cid::hash(weft_dag::Codec::DagCbor, b"no such change"),
        index: 0,
    };
    let item = |op: OpId, offset: u32| {
        Some(ItemRef {
            op: OpRef::There(op),
            offset,
        })
    };
    let hostile = vec![
        // A list insert anchored on a text character, a text insert on a list position.
        Op::ListInsert {
            key: "l".into(),
            left: item(text_op, 1),
            right: None,
            value: Value::from("bad"),
        },
        Op::TextInsert {
            key: "t".into(),
            left: item(x, 0),
            right: None,
            text: "bad".into(),
        },
        // Items of a change that does not exist; a span past the run's end.
        Op::TextInsert {
            key: "t".into(),
            left: item(nowhere, 0),
            right: None,
            text: "bad".into(),
        },
        Op::TextDelete {
            key: "t".into(),
            spans: vec![(
                ItemRef {
                    op: OpRef::There(text_op),
                    offset: 2,
                },
                5,
            )],
        },
        // An element never inserted (a text op's id), moved and set.
        Op::ListMove {
            key: "l".into(),
            elem: OpRef::There(text_op),
            left: None,
            right: None,
        },
        Op::ListSet {
            key: "l".into(),
            elem: OpRef::There(nowhere),
            value: Value::from("bad"),
        },
        // An honest op beside them.
        Op::ListInsert {
            key: "l".into(),
            left: None,
            right: None,
            value: Value::from("ok"),
        },
    ];
    let mut bad = Change::clone(&change(doc, vec![base.cid], 2, hostile).change);
    bad.height = 4;
    let bad = bad.sign(&identity(2));
    let mut honest_tx = origin.transaction(doc);
    honest_tx.text_insert("t", 3, "d").unwrap();
    honest_tx.commit().unwrap();
    let mut states = Vec::new();
    for order in [[0, 1], [1, 0]] {
        let r = Repo::with_store(weft_store::Store::memory(), identity(9)).unwrap();
        let mut blocks: Vec<(Cid, Vec<u8>)> = weft_testkit::all_changes(&origin, doc);
        blocks.reverse();
        let extra = [(bad.cid, bad.bytes.clone())];
        let all: Vec<Vec<(Cid, Vec<u8>)>> = vec![blocks, extra.to_vec()];
        for i in order {
            // Parents first: the honest history before the hostile change in either order
            // of delivery calls; a hostile change before its parent waits for it.
            let _ = r.apply_changes(all[i].clone());
        }
        r.apply_changes(all[0].clone()).unwrap();
        r.apply_changes(all[1].clone()).unwrap();
        assert_eq!(r.state(doc).text("t").unwrap().as_deref(), Some("abcd"));
        let values: Vec<Value> = r
            .state(doc)
            .elements("l")
            .unwrap()
            .into_iter()
            .map(|e| e.value)
            .collect();
        assert_eq!(values.len(), 2);
        assert!(values.contains(&Value::from("ok")) && values.contains(&Value::from("x")));
        weft_testkit::assert_fsck(&r);
        states.push(state_bytes(&r));
    }
    assert_eq!(states[0], states[1]);
}
