//! Lists and texts in the corners a review found: an op naming an item outside its change's
//! past (in either delivery order), a commit on more heads than a change can name, a pending
//! id kept from an earlier transaction, a refused hostile insert, the undo of deletes joined
//! into one op, and a delete or set of an element that moved.

use weft_dag::{Change, Cid, DocId, EncodedChange, ItemRef, Op, OpId, OpRef, Repo, Role, Value};
use weft_testkit::identity;

fn change(
    doc: DocId,
    parents: Vec<Cid>,
    seed: u8,
    seq: u64,
    height: u64,
    ops: Vec<Op>,
) -> EncodedChange {
    let id = identity(seed);
    Change {
        doc: Some(doc),
        parents,
        author: id.author(),
        seq,
        height,
        time: 1_700_000_000_000,
        ops,
        sig: [0; 64],
    }
    .sign(&id)
}

/// An op naming an item of a change outside its causal past waits for that change: replicas
/// that get the two in either order hold the same text, and fsck agrees with a replay.
#[test]
fn an_op_naming_an_item_outside_its_past_gives_one_state_in_either_order() {
    let origin = Repo::memory(identity(1));
    let doc = origin.doc("main").unwrap();
    let mut tx = origin.transaction(doc);
    tx.grant(identity(2).author(), Role::Writer).unwrap();
    tx.grant(identity(3).author(), Role::Writer).unwrap();
    tx.commit().unwrap().unwrap();
    let mut tx = origin.transaction(doc);
    tx.text_insert("t", 0, "abc").unwrap();
    let base = tx.commit().unwrap().unwrap(); // height 3
    let base_cid = base.cid;
    // A: author 3, height 4, inserts "X" at the end.
    let a = change(
        doc,
        vec![base_cid],
        3,
        2,
        4,
        vec![Op::TextInsert {
            key: "t".into(),
            left: Some(ItemRef {
                op: OpRef::There(OpId {
                    change: base_cid,
                    index: 0,
                }),
                offset: 2,
            }),
            right: None,
            text: "X".into(),
        }],
    );
    // B: author 2, concurrent with A (parent: base only), names A's character.
    let b = change(
        doc,
        vec![base_cid],
        2,
        2,
        4,
        vec![Op::TextInsert {
            key: "t".into(),
            left: Some(ItemRef {
                op: OpRef::There(OpId {
                    change: a.cid,
                    index: 0,
                }),
                offset: 0,
            }),
            right: None,
            text: "Y".into(),
        }],
    );
    let hist = weft_testkit::all_changes(&origin, doc);
    let mut texts = Vec::new();
    for order in [[&a, &b], [&b, &a]] {
        let r = Repo::with_store(weft_store::Store::memory(), identity(9)).unwrap();
        for (cid, bytes) in hist.iter().rev() {
            let _ = r.apply_changes(vec![(*cid, bytes.clone())]);
        }
        r.apply_changes(hist.clone()).unwrap();
        // The replica has read the text once (an app showing it): the doc is cached.
        assert_eq!(r.state(doc).text("t").unwrap().as_deref(), Some("abc"));
        for c in order {
            r.apply_changes(vec![(c.cid, c.bytes.clone())]).unwrap();
        }
        let t = r.state(doc).text("t").unwrap();
        weft_testkit::assert_fsck(&r);
        texts.push(t);
    }
    assert_eq!(texts[0], texts[1], "replicas diverge");
    assert_eq!(texts[0].as_deref(), Some("abcXY"));
}

/// A pending id returned by an earlier transaction names nothing in a later one.
#[test]
fn a_pending_id_of_an_earlier_transaction_names_nothing() {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    let mut tx = repo.transaction(doc);
    let x = tx.list_push("l", "x").unwrap();
    tx.commit().unwrap();
    let mut tx = repo.transaction(doc);
    tx.list_push("l", "y").unwrap();
    // The caller meant to delete "x" (forgot StoredChange::resolve).
    assert!(matches!(
        tx.list_delete(x),
        Err(weft_dag::Error::UnknownElement { .. })
    ));
    tx.commit().unwrap();
    let vals: Vec<Value> = repo
        .state(doc)
        .elements("l")
        .unwrap()
        .into_iter()
        .map(|e| e.value)
        .collect();
    assert_eq!(
        vals,
        vec![Value::from("x"), Value::from("y")],
        "deleted the wrong element"
    );
}

/// Undoing deletes joined into one span across another insert's character puts each deleted
/// character back where it was.
#[test]
fn undoing_joined_deletes_puts_each_character_back() {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    let mut tx = repo.transaction(doc);
    tx.text_insert("t", 0, "abcd").unwrap();
    tx.commit().unwrap();
    let mut tx = repo.transaction(doc);
    tx.text_insert("t", 2, "Z").unwrap();
    tx.commit().unwrap();
    assert_eq!(repo.state(doc).text("t").unwrap().as_deref(), Some("abZcd"));
    let mut tx = repo.transaction(doc);
    tx.text_delete("t", 3, 2).unwrap(); // "cd"
    tx.text_delete("t", 0, 2).unwrap(); // "ab" (joins: one span (X,0,4))
    tx.commit().unwrap().unwrap();
    assert_eq!(repo.state(doc).text("t").unwrap().as_deref(), Some("Z"));
    repo.undo(doc).unwrap().unwrap();
    assert_eq!(repo.state(doc).text("t").unwrap().as_deref(), Some("abZcd"));
}

/// A hostile list insert into a text key that cannot apply leaves no empty list to hide the
/// text behind.
#[test]
fn a_refused_hostile_list_insert_leaves_the_text_alone() {
    let origin = Repo::memory(identity(1));
    let doc = origin.doc("main").unwrap();
    let mut tx = origin.transaction(doc);
    tx.grant(identity(2).author(), Role::Writer).unwrap();
    tx.commit().unwrap().unwrap();
    let mut tx = origin.transaction(doc);
    tx.text_insert("t", 0, "abc").unwrap();
    let base = tx.commit().unwrap().unwrap();
    let nowhere = OpId {
        change: Cid::hash(weft_dag::Codec::DagCbor, b"none"),
        index: 0,
    };
    let bad = change(
        doc,
        vec![base.cid],
        2,
        2,
        4,
        vec![Op::ListInsert {
            key: "t".into(),
            left: Some(ItemRef {
                op: OpRef::There(nowhere),
                offset: 0,
            }),
            right: None,
            value: Value::from("bad"),
        }],
    );
    origin
        .apply_changes(vec![(bad.cid, bad.bytes.clone())])
        .unwrap();
    let v = origin.state(doc).get("t").unwrap();
    assert_eq!(v, Some(Value::from("abc")));
    assert_eq!(
        origin.state(doc).kind("t").unwrap(),
        Some(weft_dag::Kind::Text)
    );
    weft_testkit::assert_fsck(&origin);
    let mut tx = origin.transaction(doc);
    tx.text_insert("t", 3, "d").unwrap();
    tx.commit().unwrap();
    assert_eq!(
        origin.state(doc).text("t").unwrap().as_deref(),
        Some("abcd")
    );
}

/// With more than MAX_PARENTS heads, a transaction's change leaves some heads out of its
/// parents; the state it leaves here is what applying the signed change gives, as on a fresh
/// replica.
#[test]
fn a_commit_on_more_heads_than_a_change_names_applies_as_signed() {
    let origin = Repo::memory(identity(1));
    let doc = origin.doc("main").unwrap();
    let me = identity(1).author();
    let them = (2u8..40).find(|s| identity(*s).author() > me).unwrap();
    let mut tx = origin.transaction(doc);
    tx.grant(identity(2).author(), Role::Writer).unwrap();
    if them != 2 {
        tx.grant(identity(them).author(), Role::Writer).unwrap();
    }
    tx.commit().unwrap().unwrap();
    let mut tx = origin.transaction(doc);
    let x = tx.list_push("l", "x").unwrap();
    let base = tx.commit().unwrap().unwrap(); // height 3
    let x = base.resolve(x);
    let filler = if them == 2 { 3 } else { 2 };
    if filler == 3 {
        panic!("pick another seed");
    }
    let mut hs = Vec::new();
    for i in 0..1024u64 {
        hs.push(change(
            doc,
            vec![base.cid],
            filler,
            2 + i,
            4,
            vec![Op::Set {
                key: format!("h{i}"),
                value: Value::from(i as i64),
                pred: vec![],
            }],
        ));
    }
    let max_h = hs.iter().map(|h| h.cid).max().unwrap();
    let e = change(
        doc,
        vec![base.cid],
        them,
        2,
        4,
        vec![Op::Set {
            key: "e".into(),
            value: Value::from(1i64),
            pred: vec![],
        }],
    );
    // D: at height 5, sets x; ground so that its CID sorts after every other head (dropped).
    let mut t = 0u64;
    let d = loop {
        let id = identity(them);
        let c = Change {
            doc: Some(doc),
            parents: vec![e.cid],
            author: id.author(),
            seq: 3,
            height: 5,
            time: 1_700_000_000_000 + t,
            ops: vec![Op::ListSet {
                key: "l".into(),
                elem: OpRef::There(x),
                value: Value::from("theirs"),
            }],
            sig: [0; 64],
        }
        .sign(&id);
        if c.cid > max_h {
            break c;
        }
        t += 1;
    };
    let mut blocks: Vec<(Cid, Vec<u8>)> = hs.iter().map(|h| (h.cid, h.bytes.clone())).collect();
    blocks.push((e.cid, e.bytes.clone()));
    blocks.push((d.cid, d.bytes.clone()));
    origin.apply_changes(blocks).unwrap();
    assert_eq!(origin.heads(doc).unwrap().len(), 1025);
    let vals = |r: &Repo| {
        r.state(doc)
            .elements("l")
            .unwrap()
            .into_iter()
            .map(|e| e.value)
            .collect::<Vec<_>>()
    };
    assert_eq!(vals(&origin), vec![Value::from("theirs")]);
    let mut tx = origin.transaction(doc);
    tx.list_set(x, "mine").unwrap();
    let c = tx.commit().unwrap().unwrap();
    assert!(
        !c.change.parents.contains(&d.cid),
        "the dropped head is not a parent"
    );
    let local = vals(&origin);
    // A fresh replica of the same changes.
    let other = Repo::with_store(weft_store::Store::memory(), identity(9)).unwrap();
    let all = weft_testkit::all_changes(&origin, doc);
    for _ in 0..3 {
        let _ = other.apply_changes(all.clone());
    }
    let remote = vals(&other);
    weft_testkit::assert_fsck(&origin);
    assert_eq!(local, remote);
}

/// A peer deletes an element naming the list it saw it in; here it moved to another list
/// meanwhile: the diff is of the list it leaves.
#[test]
fn a_delete_of_a_moved_element_is_a_diff_of_its_list() {
    use weft_dag::Filter;
    use weft_dag::Place;
    use weft_testkit::{replica, sync};
    let a = Repo::memory(identity(1));
    let doc = a.doc("main").unwrap();
    let b = replica(&a, doc, 2);
    let mut tx = a.transaction(doc);
    let x = tx.list_push("a", "x").unwrap();
    let x = tx.commit().unwrap().unwrap().resolve(x);
    sync(&a, &b, doc);
    // a moves x to list "b"; b (concurrently) deletes x from "a".
    let mut tx = a.transaction(doc);
    tx.list_move(x, Place::At("b".into(), 0)).unwrap();
    tx.commit().unwrap();
    let mut tx = b.transaction(doc);
    tx.list_delete(x).unwrap();
    tx.commit().unwrap();
    let batches = a.subscribe_filtered(Filter::all().doc(doc));
    sync(&b, &a, doc);
    assert!(a.state(doc).elements("b").unwrap().is_empty());
    let batch = batches.try_next().expect("a batch");
    let keys: Vec<&str> = batch.diffs.iter().map(|d| d.key.as_str()).collect();
    assert!(keys.contains(&"b"), "x left list b without a diff");
}
