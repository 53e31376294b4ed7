//! Validly signed but unusual data from elsewhere, and oversized local writes: one line, the
//! documented code, never a panic.

use weft_dag::{Change, Op, Value};
use weft_testkit::identity;

use crate::util::Dir;

#[test]
fn a_change_from_the_far_future_still_prints() {
    let dir = Dir::init();
    let id = identity(42);
    // The far-future author is a writer, so its change is accepted: the grant is on top of
    // the genesis (height 1, 2 for the grant), and the change on top of the grant.
    dir.ok(&["grant", &id.author().to_string()]);
    let (cid, bytes) = {
        let repo = dir.open();
        let doc = repo.doc("main").unwrap();
        let enc = Change {
            doc: Some(doc),
            parents: repo.heads(doc).unwrap(),
            author: id.author(),
            seq: 1,
            height: 3,
            time: u64::MAX,
            ops: vec![Op::Set {
                key: "k".into(),
                value: Value::Int(1),
                pred: vec![],
            }],
            sig: [0; 64],
        }
        .sign(&id);
        (enc.cid, enc.bytes)
    };
    {
        let repo = dir.open();
        repo.apply_changes([(cid, bytes)]).unwrap();
    }
    let log = dir.ok(&["log"]);
    assert!(log.contains(&format!("{}ms", u64::MAX)), "{log}");
    dir.ok(&["log", "--graph"]);
    dir.ok(&["show", &cid.to_string()]);
    assert!(dir.ok(&["blame", "k"]).contains(&cid.to_string()));
    dir.ok(&["fsck"]);
}

#[test]
fn oversized_writes_are_refused_whole() {
    let dir = Dir::init();
    let members: Vec<String> = (0..10_001).map(|i| i.to_string()).collect();
    let mut args = vec!["sadd".to_string(), "s".to_string()];
    args.extend(members);
    let err = dir.fails(2, &args);
    assert!(err.contains("too large"), "{err}");
    // 6,000 members of 200 bytes: fewer ops than the limit, but a block over 1 MiB.
    let mut args = vec!["sadd".to_string(), "s".to_string()];
    args.extend((0..6_000).map(|i| format!("m{i:0>200}")));
    let err = dir.fails(2, &args);
    assert!(err.contains("limit"), "{err}");
    // Nothing of either landed: only the genesis is there.
    assert_eq!(dir.ok(&["log"]).lines().count(), 1);
    dir.ok(&["fsck"]);
}

#[test]
fn out_of_range_numbers_are_refused() {
    let dir = Dir::init();
    dir.fails(2, &["set", "k", "18446744073709551616"]);
    dir.fails(2, &["set", "k", "1e400"]);
    dir.ok(&["incr", "c", "9223372036854775807"]);
    let err = dir.fails(2, &["incr", "c"]);
    assert!(err.contains("overflow"), "{err}");
}
