//! Behaviour of the `Repo` API: CRDT semantics across replicas, errors, time travel, log, blame,
//! subscriptions, what `apply_changes` rejects, fsck, reopening, locking and crashes.

use std::collections::BTreeSet;

use weft_dag::change::VerifyError;
use weft_dag::{
    open, Cid, Codec, DocId, Durability, Entry, Error, Event, Kind, Options, Repo, StoredChange,
    Transaction, Value,
};
use weft_testkit::{all_changes, damage_in_packs, identity, replica, sync, sync_both, Disk};

/// What a transaction body returns (boxed: `Error` is large).
type TxResult = Result<(), Box<Error>>;

/// Runs `f` in one transaction and commits it; it must write something.
fn commit(
    repo: &Repo,
    doc: DocId,
    f: impl FnOnce(&mut Transaction<'_>) -> TxResult,
) -> StoredChange {
    let mut tx = repo.transaction(doc);
    f(&mut tx).unwrap();
    tx.commit().unwrap().expect("the transaction wrote nothing")
}

/// An origin replica and a second replica of its `main` document.
fn pair() -> (Repo, Repo, DocId) {
    let a = Repo::memory(identity(1));
    let doc = a.doc("main").unwrap();
    let b = replica(&a, doc, 2);
    (a, b, doc)
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle not found")
}

fn drain(sub: &weft_dag::Subscription) -> Vec<Event> {
    std::iter::from_fn(|| sub.try_next()).collect()
}

// ----- CRDT semantics -----

#[test]
fn concurrent_register_writes_are_all_kept_and_one_wins_everywhere() {
    let (a, b, doc) = pair();
    let ca = commit(&a, doc, |tx| {
        tx.set("k", "from-a")?;
        Ok(())
    });
    let cb = commit(&b, doc, |tx| {
        tx.set("k", "from-b")?;
        Ok(())
    });
    assert_eq!(ca.change.height, cb.change.height);
    sync_both(&a, &b, doc);

    // Same height: the greater author wins.
    let (winner, loser, winner_cid) = if a.author() > b.author() {
        ("from-a", "from-b", ca.cid)
    } else {
        ("from-b", "from-a", cb.cid)
    };
    for r in [&a, &b] {
        let state = r.state(doc);
        assert_eq!(state.get("k").unwrap(), Some(Value::from(winner)));
        assert_eq!(
            state.get_all("k").unwrap(),
            vec![Value::from(winner), Value::from(loser)]
        );
        let Some(Entry::Register(vals)) = state.entry("k").unwrap() else {
            panic!("not a register")
        };
        assert_eq!(vals[0].op.change, winner_cid);
        assert_eq!(vals.len(), 2);
        assert_eq!(r.heads(doc).unwrap().len(), 2);
    }

    // A taller write wins whatever its author: let the smaller author write twice.
    let (low, high) = if a.author() < b.author() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    commit(low, doc, |tx| {
        tx.set("h", "low-1")?;
        Ok(())
    });
    let tall = commit(low, doc, |tx| {
        tx.set("h", "low-2")?;
        Ok(())
    });
    let short = commit(high, doc, |tx| {
        tx.set("h", "high")?;
        Ok(())
    });
    assert!(tall.change.height > short.change.height);
    sync_both(&a, &b, doc);
    for r in [&a, &b] {
        assert_eq!(r.state(doc).get("h").unwrap(), Some(Value::from("low-2")));
        assert_eq!(
            r.state(doc).get_all("h").unwrap(),
            vec![Value::from("low-2"), Value::from("high")]
        );
    }

    // A write that saw both values replaces both.
    commit(&a, doc, |tx| {
        tx.set("k", "merged")?;
        Ok(())
    });
    sync_both(&a, &b, doc);
    for r in [&a, &b] {
        assert_eq!(
            r.state(doc).get_all("k").unwrap(),
            vec![Value::from("merged")]
        );
    }
    assert!(a.fsck().unwrap().is_ok());
    assert!(b.fsck().unwrap().is_ok());
}

#[test]
fn a_delete_only_removes_the_values_it_saw() {
    let (a, b, doc) = pair();
    commit(&a, doc, |tx| {
        tx.set("k", 1i64)?;
        Ok(())
    });
    sync(&a, &b, doc);
    commit(&a, doc, |tx| {
        tx.set("k", 2i64)?;
        Ok(())
    }); // concurrent with the delete
    commit(&b, doc, |tx| {
        tx.del("k")?;
        Ok(())
    });
    assert_eq!(b.state(doc).get("k").unwrap(), None);
    assert_eq!(b.state(doc).list("").unwrap().len(), 0);
    sync_both(&a, &b, doc);
    for r in [&a, &b] {
        assert_eq!(r.state(doc).get_all("k").unwrap(), vec![Value::Int(2)]);
    }
    // A delete that saw everything removes the key everywhere.
    commit(&b, doc, |tx| {
        tx.del("k")?;
        Ok(())
    });
    sync_both(&a, &b, doc);
    for r in [&a, &b] {
        assert_eq!(r.state(doc).get("k").unwrap(), None);
        assert_eq!(r.state(doc).get_all("k").unwrap(), Vec::<Value>::new());
        assert!(!r.state(doc).list("").unwrap().contains_key("k"));
        assert!(r.fsck().unwrap().is_ok());
    }
}

#[test]
fn a_concurrent_add_survives_a_remove() {
    let (a, b, doc) = pair();
    commit(&a, doc, |tx| {
        tx.add("s", "x")?.add("s", "y")?;
        Ok(())
    });
    sync(&a, &b, doc);
    commit(&b, doc, |tx| {
        tx.remove("s", "x")?.remove("s", "y")?;
        Ok(())
    });
    let again = commit(&a, doc, |tx| {
        tx.add("s", "x")?;
        Ok(())
    }); // concurrent re-add
        // A set whose members were all removed holds nothing.
    assert_eq!(b.state(doc).get("s").unwrap(), None);
    sync_both(&a, &b, doc);
    for r in [&a, &b] {
        let state = r.state(doc);
        assert_eq!(
            state.get("s").unwrap(),
            Some(Value::Array(vec![Value::from("x")]))
        );
        let Some(Entry::Set(members)) = state.entry("s").unwrap() else {
            panic!("not a set")
        };
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].1.len(), 1, "only the unseen add's tag is live");
        assert_eq!(members[0].1[0].change, again.cid);
    }
    // Removing an absent member of an existing set is a no-op.
    let mut tx = a.transaction(doc);
    tx.remove("s", "never-added").unwrap();
    assert!(tx.commit().unwrap().is_none());
    // On a set created earlier in the same transaction, removing another member is a no-op too.
    let mut tx = a.transaction(doc);
    tx.add("new-set", "a").unwrap();
    tx.remove("new-set", "b").unwrap();
    assert_eq!(tx.ops().len(), 1);
    tx.commit().unwrap().unwrap();
    assert_eq!(
        a.state(doc).get("new-set").unwrap(),
        Some(Value::Array(vec![Value::from("a")]))
    );
    // An add and a remove of the same member in one transaction cancel out.
    let mut tx = a.transaction(doc);
    tx.add("s", "z").unwrap().remove("s", "z").unwrap();
    assert!(tx.ops().is_empty());
    assert!(tx.commit().unwrap().is_none());
}

#[test]
fn counters_sum_negative_deltas_and_refuse_overflow() {
    let (a, b, doc) = pair();
    commit(&a, doc, |tx| {
        tx.incr("n", 10)?.incr("n", -3)?;
        Ok(())
    });
    commit(&a, doc, |tx| {
        tx.incr("n", -20)?;
        Ok(())
    });
    commit(&b, doc, |tx| {
        tx.incr("n", 5)?;
        Ok(())
    });
    assert_eq!(a.state(doc).get("n").unwrap(), Some(Value::Int(-13)));
    sync_both(&a, &b, doc);
    for r in [&a, &b] {
        assert_eq!(r.state(doc).get("n").unwrap(), Some(Value::Int(-8)));
        assert_eq!(r.state(doc).get_all("n").unwrap(), vec![Value::Int(-8)]);
    }

    // Local overflow, across transactions and within one.
    commit(&a, doc, |tx| {
        tx.incr("big", i64::MAX)?;
        Ok(())
    });
    let mut tx = a.transaction(doc);
    assert!(matches!(
        tx.incr("big", 1),
        Err(Error::CounterOverflow { key }) if key == "big"
    ));
    tx.incr("big", -1).unwrap();
    assert!(matches!(
        tx.incr("big", 2),
        Err(Error::CounterOverflow { .. })
    ));
    tx.commit().unwrap().unwrap();
    assert_eq!(
        a.state(doc).get("big").unwrap(),
        Some(Value::Int(i64::MAX - 1))
    );
    let mut tx = a.transaction(doc);
    tx.incr("neg", i64::MIN).unwrap();
    assert!(matches!(
        tx.incr("neg", -1),
        Err(Error::CounterOverflow { .. })
    ));
    drop(tx);
    assert_eq!(
        a.state(doc).get("neg").unwrap(),
        None,
        "dropped, not committed"
    );
}

/// Two replicas that each stay in range can overflow together: the value saturates at
/// `i64::MAX` (or `i64::MIN`) on both, reads and fsck agree, and a later increment counts from
/// the exact sum.
#[test]
fn concurrent_increments_past_i64_saturate_on_every_replica() {
    let (a, b, doc) = pair();
    for (key, delta) in [("c", i64::MAX), ("row/m", i64::MIN)] {
        for r in [&a, &b] {
            commit(r, doc, |tx| {
                tx.incr(key, delta)?;
                Ok(())
            });
        }
    }
    sync_both(&a, &b, doc);
    for r in [&a, &b] {
        assert_eq!(r.state(doc).get("c").unwrap(), Some(Value::Int(i64::MAX)));
        assert_eq!(
            r.state(doc).get_all("c").unwrap(),
            vec![Value::Int(i64::MAX)]
        );
        assert_eq!(
            r.state(doc).get("row/m").unwrap(),
            Some(Value::Int(i64::MIN))
        );
        assert!(r.fsck().unwrap().is_ok());
    }
    // Further out is refused locally; back towards the range is not, and counts from the exact
    // sum (2 * MAX - MAX - 1 = MAX - 1).
    let mut tx = a.transaction(doc);
    assert!(matches!(
        tx.incr("c", 1),
        Err(Error::CounterOverflow { key }) if key == "c"
    ));
    drop(tx);
    commit(&a, doc, |tx| {
        tx.incr("c", -i64::MAX)?.incr("c", -1)?;
        Ok(())
    });
    // A third replica, which never saw the overflow as a write of its own, agrees.
    let c = replica(&a, doc, 9);
    sync_both(&a, &b, doc);
    for r in [&a, &b, &c] {
        assert_eq!(
            r.state(doc).get("c").unwrap(),
            Some(Value::Int(i64::MAX - 1))
        );
        assert!(r.fsck().unwrap().is_ok());
    }
    assert_eq!(
        c.state(doc).get("row/m").unwrap(),
        Some(Value::Int(i64::MIN))
    );
    // Deleting the rows brings a saturated counter back to 0, from its exact sum.
    commit(&b, doc, |tx| {
        tx.del_rows("row")?;
        Ok(())
    });
    sync_both(&a, &b, doc);
    for r in [&a, &b] {
        assert_eq!(r.state(doc).get("row/m").unwrap(), Some(Value::Int(0)));
        assert!(r.fsck().unwrap().is_ok());
    }
}

#[test]
fn every_op_of_the_wrong_kind_is_refused() {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    commit(&repo, doc, |tx| {
        tx.set("reg", 1i64)?.incr("ctr", 1)?.add("set", "m")?;
        Ok(())
    });
    let before = repo.state(doc).entries("").unwrap();
    let mut tx = repo.transaction(doc);
    type Attempt = fn(&mut Transaction<'_>, &str) -> TxResult;
    let ops: [(Kind, &str, Attempt); 5] = [
        (Kind::Register, "set", |tx, k| {
            tx.set(k, 2i64)?;
            Ok(())
        }),
        (Kind::Register, "del", |tx, k| {
            tx.del(k)?;
            Ok(())
        }),
        (Kind::Counter, "incr", |tx, k| {
            tx.incr(k, 1)?;
            Ok(())
        }),
        (Kind::Set, "add", |tx, k| {
            tx.add(k, "m")?;
            Ok(())
        }),
        (Kind::Set, "remove", |tx, k| {
            tx.remove(k, "m")?;
            Ok(())
        }),
    ];
    let keys = [
        ("reg", Kind::Register),
        ("ctr", Kind::Counter),
        ("set", Kind::Set),
    ];
    let mut n_refused = 0;
    for (key, held) in keys {
        for (wants, name, op) in &ops {
            if *wants == held {
                continue;
            }
            match op(&mut tx, key).map_err(|e| *e) {
                Err(Error::WrongType {
                    key: k,
                    expected,
                    found,
                }) => {
                    assert_eq!(k, key);
                    assert_eq!(expected, *wants, "{name} on {key}");
                    assert_eq!(found, held, "{name} on {key}");
                }
                other => panic!("{name} on {key}: expected WrongType, got {other:?}"),
            }
            n_refused += 1;
        }
    }
    assert_eq!(n_refused, 10);
    assert!(tx.ops().is_empty(), "a refused op leaves nothing behind");

    // A key's kind is also fixed by an earlier op of the same transaction.
    tx.set("fresh", "v").unwrap();
    assert!(matches!(
        tx.incr("fresh", 1),
        Err(Error::WrongType {
            expected: Kind::Counter,
            found: Kind::Register,
            ..
        })
    ));
    tx.add("fresh-set", 1i64).unwrap();
    assert!(matches!(
        tx.set("fresh-set", 1i64),
        Err(Error::WrongType {
            expected: Kind::Register,
            found: Kind::Set,
            ..
        })
    ));
    // The transaction is still usable.
    tx.commit().unwrap().unwrap();
    let after = repo.state(doc).entries("").unwrap();
    for (k, e) in &before {
        assert_eq!(after.get(k), Some(e));
    }
    assert_eq!(
        repo.state(doc).get("fresh").unwrap(),
        Some(Value::from("v"))
    );
}

#[test]
fn invalid_and_missing_keys() {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    let long = "x".repeat(1025);
    let mut tx = repo.transaction(doc);
    for key in ["", "a\0b", "\0", long.as_str()] {
        let results = [
            tx.set(key, 1i64).map(drop),
            tx.del(key).map(drop),
            tx.incr(key, 1).map(drop),
            tx.add(key, 1i64).map(drop),
            tx.remove(key, 1i64).map(drop),
        ];
        for r in results {
            assert!(
                matches!(&r, Err(Error::InvalidKey { key: k, .. }) if k == key),
                "{key:?}: {r:?}"
            );
        }
    }
    assert!(tx.ops().is_empty());
    // The longest key allowed, and non-ASCII keys, are fine.
    tx.set(&"x".repeat(1024), 1i64).unwrap();
    tx.set("ключ/ü", 2i64).unwrap();
    tx.commit().unwrap().unwrap();
    assert_eq!(repo.state(doc).list("").unwrap().len(), 2);

    let mut tx = repo.transaction(doc);
    assert!(matches!(tx.del("nope"), Err(Error::KeyNotFound { key }) if key == "nope"));
    assert!(matches!(
        tx.remove("nope", 1i64),
        Err(Error::KeyNotFound { .. })
    ));
    // A delete of a value set earlier in the same transaction is fine.
    tx.set("tmp", 1i64).unwrap().del("tmp").unwrap();
    assert!(tx.ops().is_empty());
    drop(tx);
    assert!(matches!(
        repo.blame(doc, "nope"),
        Err(Error::KeyNotFound { .. })
    ));
    assert_eq!(repo.state(doc).get("nope").unwrap(), None);
    assert_eq!(
        repo.state(doc).get_all("nope").unwrap(),
        Vec::<Value>::new()
    );
    assert!(matches!(
        repo.doc("no-such-doc"),
        Err(Error::UnknownDoc { .. })
    ));
    assert!(matches!(
        repo.create_doc("main"),
        Err(Error::DocExists { .. })
    ));
    assert!(matches!(
        repo.create_doc("has space"),
        Err(Error::InvalidDocName { .. })
    ));
}

// ----- history -----

#[test]
fn time_travel_shows_old_values() {
    let (a, b, doc) = pair();
    let c1 = commit(&a, doc, |tx| {
        tx.set("todo/1", "milk")?.incr("n", 1)?;
        Ok(())
    });
    let c2 = commit(&a, doc, |tx| {
        tx.set("todo/1", "eggs")?
            .set("todo/2", "tea")?
            .add("tags", "x")?;
        Ok(())
    });
    let c3 = commit(&a, doc, |tx| {
        tx.del("todo/1")?.incr("n", 41)?;
        Ok(())
    });

    let at1 = a.at(doc, &[c1.cid]).unwrap();
    assert_eq!(
        at1.state().get("todo/1").unwrap(),
        Some(Value::from("milk"))
    );
    let list1 = at1.state().list("").unwrap();
    assert_eq!(
        list1.into_iter().collect::<Vec<_>>(),
        vec![
            ("n".to_string(), Value::Int(1)),
            ("todo/1".to_string(), Value::from("milk")),
        ]
    );
    let at2 = a.at(doc, &[c2.cid]).unwrap();
    assert_eq!(
        at2.state().get("todo/1").unwrap(),
        Some(Value::from("eggs"))
    );
    assert_eq!(
        at2.state()
            .list("todo/")
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["todo/1", "todo/2"]
    );
    assert_eq!(at2.state().get("n").unwrap(), Some(Value::Int(1)));
    let now = a.state(doc);
    assert_eq!(now.get("todo/1").unwrap(), None);
    assert_eq!(now.get("n").unwrap(), Some(Value::Int(42)));
    assert_eq!(
        a.at(doc, &[c3.cid]).unwrap().state().entries("").unwrap(),
        now.entries("").unwrap()
    );
    // At the genesis, the document is empty.
    assert!(a
        .at(doc, &[doc.0])
        .unwrap()
        .state()
        .list("")
        .unwrap()
        .is_empty());

    // Concurrent heads: each alone, and merged.
    sync(&a, &b, doc);
    let cb = commit(&b, doc, |tx| {
        tx.set("todo/3", "jam")?;
        Ok(())
    });
    let ca = commit(&a, doc, |tx| {
        tx.set("todo/4", "oil")?;
        Ok(())
    });
    sync_both(&a, &b, doc);
    let only_b = a.at(doc, &[cb.cid]).unwrap();
    assert!(only_b.state().get("todo/3").unwrap().is_some());
    assert!(only_b.state().get("todo/4").unwrap().is_none());
    let both = a.at(doc, &[ca.cid, cb.cid]).unwrap();
    assert_eq!(
        both.state().entries("").unwrap(),
        a.state(doc).entries("").unwrap()
    );

    // Heads that are unknown or belong to another document.
    let unknown = Cid::hash(Codec::DagCbor, b"nothing");
    assert!(matches!(a.at(doc, &[unknown]), Err(Error::UnknownCid { cid }) if cid == unknown));
    let other = a.create_doc("other").unwrap();
    assert!(matches!(
        a.at(doc, &[other.0]),
        Err(Error::WrongDoc { expected, actual, .. }) if expected == doc.0 && actual == other.0
    ));
}

#[test]
fn blame_names_the_changes_and_authors_behind_a_value() {
    let (a, b, doc) = pair();
    commit(&a, doc, |tx| {
        tx.set("k", "old")?;
        Ok(())
    });
    sync(&a, &b, doc);
    let cb = commit(&b, doc, |tx| {
        tx.set("k", "new")?;
        Ok(())
    });
    sync(&b, &a, doc);
    let lines = a.blame(doc, "k").unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].op.change, cb.cid);
    assert_eq!(lines[0].op.index, 0);
    assert_eq!(lines[0].author, b.author());
    assert_eq!(lines[0].value, Value::from("new"));
    assert_eq!(lines[0].time, cb.change.time);
    // genesis (1), the grant of b's key (2), "old" (3), "new" (4).
    assert_eq!(lines[0].height, 4);

    // A counter: one line per increment, newest first.
    let ca = commit(&a, doc, |tx| {
        tx.incr("n", 2)?;
        Ok(())
    });
    let cb2 = commit(&b, doc, |tx| {
        tx.set("other", 0i64)?.incr("n", -5)?;
        Ok(())
    });
    commit(&b, doc, |tx| {
        tx.incr("n", 7)?;
        Ok(())
    });
    sync_both(&a, &b, doc);
    let lines = a.blame(doc, "n").unwrap();
    assert_eq!(lines, b.blame(doc, "n").unwrap());
    assert_eq!(lines.len(), 3);
    assert!(lines.windows(2).all(|w| w[0].height >= w[1].height));
    assert_eq!(lines[0].value, Value::Int(7));
    assert_eq!(lines[0].author, b.author());
    let from_a = lines.iter().find(|l| l.op.change == ca.cid).unwrap();
    assert_eq!(
        (from_a.author, from_a.value.clone()),
        (a.author(), Value::Int(2))
    );
    let from_b = lines.iter().find(|l| l.op.change == cb2.cid).unwrap();
    assert_eq!(from_b.op.index, 1, "the second op of its change");
    assert_eq!(from_b.value, Value::Int(-5));
    let sum: i64 = lines
        .iter()
        .map(|l| match l.value {
            Value::Int(d) => d,
            _ => unreachable!(),
        })
        .sum();
    assert_eq!(a.state(doc).get("n").unwrap(), Some(Value::Int(sum)));

    // A set: one line per live tag.
    commit(&a, doc, |tx| {
        tx.add("s", "x")?;
        Ok(())
    });
    commit(&b, doc, |tx| {
        tx.add("s", "x")?;
        Ok(())
    });
    sync_both(&a, &b, doc);
    let lines = a.blame(doc, "s").unwrap();
    assert_eq!(
        lines.iter().map(|l| l.author).collect::<BTreeSet<_>>(),
        [a.author(), b.author()].into_iter().collect()
    );
    assert!(lines.iter().all(|l| l.value == Value::from("x")));
}

#[test]
fn log_is_topological_and_newest_first() {
    let a = Repo::memory(identity(1));
    let doc = a.doc("main").unwrap();
    let b = replica(&a, doc, 2);
    let c = replica(&a, doc, 3);
    for round in 0..4i64 {
        commit(&a, doc, |tx| {
            tx.set("a", round)?;
            Ok(())
        });
        commit(&b, doc, |tx| {
            tx.incr("b", round)?;
            Ok(())
        });
        commit(&b, doc, |tx| {
            tx.add("s", round)?;
            Ok(())
        });
        commit(&c, doc, |tx| {
            tx.set("c", round)?;
            Ok(())
        });
        if round % 2 == 0 {
            sync_both(&a, &b, doc);
        } else {
            sync_both(&b, &c, doc);
        }
    }
    sync_both(&a, &c, doc);
    sync_both(&a, &b, doc);

    let log: Vec<_> = a.log(doc).map(Result::unwrap).collect();
    let pos: std::collections::HashMap<Cid, usize> =
        log.iter().enumerate().map(|(i, e)| (e.cid, i)).collect();
    assert_eq!(pos.len(), log.len(), "no change twice");
    // The genesis, the grants of b's and c's keys, and 4 rounds of 4 commits.
    assert_eq!(log.len(), 1 + 2 + 4 * 4);
    for (i, e) in log.iter().enumerate() {
        for p in &e.change.parents {
            assert!(pos[p] > i, "{} listed before its child {}", p, e.cid);
        }
    }
    assert!(log
        .windows(2)
        .all(|w| w[0].change.height >= w[1].change.height));
    assert_eq!(log.last().unwrap().cid, doc.0, "the genesis comes last");
    assert!(a.heads(doc).unwrap().contains(&log[0].cid));
    let ancestors: BTreeSet<Cid> = a
        .ancestors(&a.heads(doc).unwrap())
        .unwrap()
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    assert_eq!(ancestors, pos.keys().copied().collect());
    // The log is a stream: the newest change comes first without reading the rest.
    let first = a.log(doc).next().unwrap().unwrap();
    assert_eq!(first.cid, log[0].cid);
    // Every replica lists the same changes.
    let set =
        |r: &Repo| -> BTreeSet<Cid> { all_changes(r, doc).into_iter().map(|(c, _)| c).collect() };
    assert_eq!(set(&a), set(&b));
    assert_eq!(set(&a), set(&c));
    // Other documents do not show up.
    let other = a.create_doc("other").unwrap();
    assert_eq!(a.log(doc).count(), log.len());
    assert_eq!(a.log(other).count(), 1);
}

// ----- subscriptions -----

#[test]
fn subscribers_hear_local_and_remote_changes() {
    let (a, b, doc) = pair();
    let sub = a.subscribe();
    let sub2 = a.subscribe();
    let dropped = a.subscribe();
    drop(dropped);
    assert!(sub.try_next().is_none());

    let c1 = commit(&a, doc, |tx| {
        tx.set("x", 1i64)?
            .incr("y", 1)?
            .set("x", 2i64)?
            .add("s", "m")?;
        Ok(())
    });
    let events = drain(&sub);
    assert_eq!(
        events,
        vec![Event {
            doc,
            cid: c1.cid,
            author: a.author(),
            // On the grant of b's key (height 2).
            height: 3,
            keys: vec!["y".into(), "x".into(), "s".into()],
            local: true,
        }]
    );
    assert_eq!(drain(&sub2), events);

    let cb1 = commit(&b, doc, |tx| {
        tx.set("from-b", true)?;
        Ok(())
    });
    let cb2 = commit(&b, doc, |tx| {
        tx.incr("y", 3)?;
        Ok(())
    });
    sync(&b, &a, doc);
    let events = drain(&sub);
    assert_eq!(
        events.iter().map(|e| e.cid).collect::<Vec<_>>(),
        vec![cb1.cid, cb2.cid]
    );
    assert!(events
        .iter()
        .all(|e| !e.local && e.author == b.author() && e.doc == doc));
    assert_eq!(events[0].keys, vec!["from-b".to_string()]);
    assert_eq!(events[1].keys, vec!["y".to_string()]);

    // Duplicates are not announced again; a transaction that writes nothing is silent.
    sync(&b, &a, doc);
    let tx = a.transaction(doc);
    assert!(tx.commit().unwrap().is_none());
    assert!(sub.try_next().is_none());

    // A new document announces its genesis, which touches no key.
    let other = a.create_doc("other").unwrap();
    let e = sub.try_next().unwrap();
    assert_eq!((e.doc, e.cid, e.local), (other, other.0, true));
    assert!(e.keys.is_empty());
    assert_eq!(drain(&sub2).len(), 3);
}

// ----- apply_changes -----

#[test]
fn apply_rejects_bytes_that_do_not_match_their_cid() {
    let (a, b, doc) = pair();
    let c1 = commit(&b, doc, |tx| {
        tx.set("k", "v")?;
        Ok(())
    });
    let c2 = commit(&b, doc, |tx| {
        tx.set("k", "w")?;
        Ok(())
    });
    let bytes2 = b.block(&c2.cid).unwrap();
    let heads = a.heads(doc).unwrap();
    let err = a.apply_changes([(c1.cid, bytes2.clone())]).unwrap_err();
    match err {
        Error::HashMismatch(m) => {
            assert_eq!(m.expected, c1.cid);
            assert_eq!(m.actual, c2.cid);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    let mut truncated = b.block(&c1.cid).unwrap();
    truncated.pop();
    assert!(matches!(
        a.apply_changes([(c1.cid, truncated)]),
        Err(Error::HashMismatch(_))
    ));
    for cid in [c1.cid, c2.cid] {
        assert!(!a.has_change(&cid).unwrap());
        assert!(!a.store().has_block(&cid).unwrap());
    }
    assert_eq!(a.heads(doc).unwrap(), heads);
    assert!(a.fsck().unwrap().is_ok());
}

#[test]
fn apply_rejects_bad_signatures() {
    let (a, b, doc) = pair();
    let c = commit(&b, doc, |tx| {
        tx.set("k", "milk")?;
        Ok(())
    });
    let good = b.block(&c.cid).unwrap();
    let sub = a.subscribe();
    // The genesis and the grant of b's key.
    let heads = a.heads(doc).unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(c.change.parents, heads);

    let mut tampered = Vec::new();
    // The value, changed after signing.
    let mut t = good.clone();
    let i = find(&t, b"milk");
    t[i + 3] = b'q';
    tampered.push(t);
    // The signature itself.
    let mut t = good.clone();
    let i = find(&t, &c.change.sig);
    t[i + 10] ^= 0x01;
    tampered.push(t);
    // Another author's key in place of the signer's.
    let mut t = good.clone();
    let i = find(&t, &b.author().0);
    t[i..i + 32].copy_from_slice(&a.author().0);
    tampered.push(t);

    for bytes in tampered {
        let cid = Cid::hash(Codec::DagCbor, &bytes);
        match a.apply_changes([(cid, bytes)]) {
            Err(Error::Verify(VerifyError::BadSignature { cid: bad, .. })) => assert_eq!(bad, cid),
            other => panic!("expected a bad signature, got {other:?}"),
        }
        assert!(!a.has_change(&cid).unwrap());
        assert!(!a.store().has_block(&cid).unwrap());
    }
    // Not a change at all.
    let junk = b"\xa1\x61a\x01".to_vec();
    let cid = Cid::hash(Codec::DagCbor, &junk);
    assert!(matches!(
        a.apply_changes([(cid, junk)]),
        Err(Error::Decode(_))
    ));
    assert!(!a.store().has_block(&cid).unwrap());

    assert!(sub.try_next().is_none());
    assert_eq!(a.heads(doc).unwrap(), heads);
    assert!(a.fsck().unwrap().is_ok());
    // The untampered change still applies.
    let out = a.apply_changes([(c.cid, good)]).unwrap();
    assert_eq!(out.applied, vec![c.cid]);
}

#[test]
fn orphans_are_rejected_and_everything_else_is_applied() {
    let (a, b, doc) = pair();
    let c1 = commit(&b, doc, |tx| {
        tx.set("k", 1i64)?;
        Ok(())
    });
    let c2 = commit(&b, doc, |tx| {
        tx.set("k", 2i64)?;
        Ok(())
    });
    let c3 = commit(&b, doc, |tx| {
        tx.set("k", 3i64)?;
        Ok(())
    });
    let c4 = commit(&b, doc, |tx| {
        tx.set("k", 4i64)?;
        Ok(())
    });
    let block = |c: &StoredChange| (c.cid, b.block(&c.cid).unwrap());

    // c3's parent c2 never arrives; c1 applies.
    match a.apply_changes([block(&c3), block(&c1)]) {
        Err(Error::Orphans {
            cid,
            missing,
            n_orphans,
            n_applied,
        }) => {
            assert_eq!((cid, missing, n_orphans, n_applied), (c3.cid, c2.cid, 1, 1));
        }
        other => panic!("expected Orphans, got {other:?}"),
    }
    assert!(a.has_change(&c1.cid).unwrap());
    assert!(!a.has_change(&c3.cid).unwrap());
    assert!(!a.store().has_block(&c3.cid).unwrap());
    assert_eq!(a.heads(doc).unwrap(), vec![c1.cid]);
    assert_eq!(a.state(doc).get("k").unwrap(), Some(Value::Int(1)));
    let msg = Error::Orphans {
        cid: c3.cid,
        missing: c2.cid,
        n_orphans: 1,
        n_applied: 1,
    }
    .to_string();
    assert!(msg.contains(&c2.cid.to_string()));

    // Out of order within one call is fine; duplicates are counted.
    let out = a
        .apply_changes([block(&c4), block(&c3), block(&c1), block(&c2), block(&c3)])
        .unwrap();
    assert_eq!(out.applied, vec![c2.cid, c3.cid, c4.cid]);
    assert_eq!(out.n_duplicates, 2);
    let out = a.apply_changes(all_changes(&b, doc)).unwrap();
    assert!(out.applied.is_empty());
    // The genesis, the grant of b's key, c1..c4.
    assert_eq!(out.n_duplicates, 6);
    assert_eq!(a.heads(doc).unwrap(), vec![c4.cid]);
    assert!(a.fsck().unwrap().is_ok());
}

#[test]
fn orphans_name_a_parent_that_never_arrived() {
    // c3 and c4 are both orphans when c2 is missing; the error must name c2 (which the caller
    // has to fetch), never c3 (which it sent). Repeated because hash map order varies per map.
    let (origin, b, doc) = pair();
    let c1 = commit(&b, doc, |tx| {
        tx.set("k", 1i64)?;
        Ok(())
    });
    let c2 = commit(&b, doc, |tx| {
        tx.set("k", 2i64)?;
        Ok(())
    });
    let c3 = commit(&b, doc, |tx| {
        tx.set("k", 3i64)?;
        Ok(())
    });
    let c4 = commit(&b, doc, |tx| {
        tx.set("k", 4i64)?;
        Ok(())
    });
    let block = |c: &StoredChange| (c.cid, b.block(&c.cid).unwrap());
    for i in 0..16u8 {
        // A fresh replica holding what origin holds (the genesis and the grant of b's key), so
        // that c1 is its only new head. It never writes, so it needs no grant of its own.
        let a = Repo::memory(identity(10 + i));
        sync(&origin, &a, doc);
        let blocks = if i % 2 == 0 {
            vec![block(&c1), block(&c4), block(&c3)]
        } else {
            vec![block(&c3), block(&c1), block(&c4)]
        };
        match a.apply_changes(blocks) {
            Err(Error::Orphans {
                cid,
                missing,
                n_orphans,
                n_applied,
            }) => {
                assert_eq!((cid, missing), (c3.cid, c2.cid));
                assert_eq!((n_orphans, n_applied), (2, 1));
            }
            other => panic!("expected Orphans, got {other:?}"),
        }
        assert_eq!(a.heads(doc).unwrap(), vec![c1.cid]);
    }
}

// ----- fsck -----

#[test]
fn fsck_finds_a_corrupt_block() {
    let (a, b, doc) = pair();
    commit(&b, doc, |tx| {
        tx.incr("n", 1)?;
        Ok(())
    });
    sync(&b, &a, doc);
    commit(&a, doc, |tx| {
        tx.set("k", "v")?;
        Ok(())
    });
    let report = a.fsck().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    // The genesis, the grant of b's key, and two commits.
    assert_eq!(report.n_changes, 4);
    assert_eq!(report.n_docs, 1);

    // On disk: a change's block damaged in its pack file, by a flipped byte.
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path(), Options::default()).unwrap();
    let main = repo.doc("main").unwrap();
    sync(&a, &repo, doc);
    let c = commit(&repo, main, |tx| {
        tx.set("k", "a value to find in the pack")?;
        Ok(())
    });
    let bytes = repo.block(&c.cid).unwrap();
    assert!(repo.fsck().unwrap().is_ok());
    drop(repo);
    damage_in_packs(dir.path(), &bytes);
    let repo = Repo::open(dir.path(), Options::default()).unwrap();
    let report = repo.fsck().unwrap();
    assert!(!report.is_ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.kind == "corrupt-block" && p.cid == Some(c.cid)),
        "{:?}",
        report.problems
    );
    let shown = report
        .problems
        .iter()
        .find(|p| p.kind == "corrupt-block")
        .unwrap()
        .to_string();
    assert!(shown.contains("corrupt-block"), "{shown}");
    assert!(shown.contains(&c.cid.to_string()), "{shown}");
    // Reading it fails with the same CID, and every other change still reads.
    assert!(repo.block(&c.cid).is_err());
    assert_eq!(
        repo.state(main).get("k").unwrap(),
        Some(Value::from("a value to find in the pack"))
    );
}

// ----- on disk -----

#[test]
fn reopening_gives_the_same_state_and_heads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (author, main, notes, heads, entries, docs) = {
        let repo = Repo::init(root, Options::default()).unwrap();
        assert!(root.join(".weft").join("key").is_file());
        assert_eq!(repo.root(), Some(root));
        let main = repo.doc("main").unwrap();
        commit(&repo, main, |tx| {
            tx.set(
                "todo/1",
                Value::parse_cli(r#"{"title":"milk","n":1.5}"#).unwrap(),
            )?
            .incr("visits", 3)?
            .add("tags", "home")?;
            Ok(())
        });
        commit(&repo, main, |tx| {
            tx.incr("visits", -1)?;
            Ok(())
        });
        let notes = repo.create_doc("notes").unwrap();
        commit(&repo, notes, |tx| {
            tx.set("n", "x")?;
            Ok(())
        });
        let heads = repo.heads(main).unwrap();
        let entries = repo.state(main).entries("").unwrap();
        let docs = repo.docs().unwrap();
        (repo.author(), main, notes, heads, entries, docs)
    };

    let repo = Repo::open(root, Options::default()).unwrap();
    assert_eq!(repo.author(), author);
    assert_eq!(repo.docs().unwrap(), docs);
    assert_eq!(repo.doc("main").unwrap(), main);
    assert_eq!(repo.doc(&main.to_string()).unwrap(), main);
    assert_eq!(repo.doc_name(notes).unwrap().as_deref(), Some("notes"));
    assert_eq!(repo.heads(main).unwrap(), heads);
    assert_eq!(repo.state(main).entries("").unwrap(), entries);
    assert_eq!(repo.state(main).get("visits").unwrap(), Some(Value::Int(2)));
    assert_eq!(repo.state(notes).get("n").unwrap(), Some(Value::from("x")));
    assert!(repo.fsck().unwrap().is_ok());
    // Writing goes on where it stopped: the author's seq continues.
    let c = commit(&repo, main, |tx| {
        tx.set("after", true)?;
        Ok(())
    });
    assert_eq!(c.change.seq, 4);
    assert_eq!(c.change.parents, heads);
}

#[test]
fn a_repo_open_twice_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = Repo::init(dir.path(), Options::default()).unwrap();
    match Repo::open(dir.path(), Options::default()) {
        Err(e @ open::Error::Locked { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("open in another weft process"), "{msg}");
            assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    // The holder keeps working.
    let doc = first.doc("main").unwrap();
    commit(&first, doc, |tx| {
        tx.set("k", 1i64)?;
        Ok(())
    });
    drop(first);
    let again = Repo::open(dir.path(), Options::default()).unwrap();
    assert_eq!(again.state(doc).get("k").unwrap(), Some(Value::Int(1)));
}

#[test]
fn open_and_init_refuse_the_wrong_directory() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Repo::open(dir.path(), Options::default()),
        Err(open::Error::NotARepo { path }) if path == dir.path()
    ));
    drop(Repo::init(dir.path(), Options::default()).unwrap());
    assert!(matches!(
        Repo::init(dir.path(), Options::default()),
        Err(open::Error::AlreadyExists { .. })
    ));
    // The failed init left the repo alone.
    assert!(Repo::open(dir.path(), Options::default()).is_ok());

    // A repo made with an explicit identity has no key file, so opening needs one.
    let dir = tempfile::tempdir().unwrap();
    let id = identity(5);
    let opts = Options {
        identity: Some(id.clone()),
        ..Options::default()
    };
    drop(Repo::init(dir.path(), opts.clone()).unwrap());
    assert!(!dir.path().join(".weft").join("key").exists());
    assert!(matches!(
        Repo::open(dir.path(), Options::default()),
        Err(open::Error::NoIdentity { .. })
    ));
    let repo = Repo::open(dir.path(), opts).unwrap();
    assert_eq!(repo.author(), id.author());
}

// ----- crashes -----

#[test]
fn every_commit_durability_survives_a_crash() {
    let disk = Disk::default();
    let id = identity(4);
    let repo = disk.repo(&id, Durability::EveryCommit);
    let doc = repo.create_doc("main").unwrap();
    let mut cids = vec![doc.0];
    for i in 0..3i64 {
        cids.push(
            commit(&repo, doc, |tx| {
                tx.set("k", i)?.incr("n", i)?.add("s", i)?;
                Ok(())
            })
            .cid,
        );
    }
    // A change from elsewhere, too.
    let other = replica(&repo, doc, 6);
    // The grant of other's key, made by `replica`, is the head of repo now.
    cids.extend(repo.heads(doc).unwrap());
    assert_eq!(cids.len(), 5);
    sync(&repo, &other, doc);
    let remote = commit(&other, doc, |tx| {
        tx.set("remote", true)?;
        Ok(())
    });
    sync(&other, &repo, doc);
    cids.push(remote.cid);
    let heads = repo.heads(doc).unwrap();
    let entries = repo.state(doc).entries("").unwrap();
    disk.crash(repo);
    let repo = disk.repo(&id, Durability::EveryCommit);
    assert_eq!(repo.doc("main").unwrap(), doc);
    for cid in &cids {
        assert!(repo.has_change(cid).unwrap(), "{cid} lost");
    }
    assert_eq!(repo.heads(doc).unwrap(), heads);
    assert_eq!(repo.state(doc).entries("").unwrap(), entries);
    let report = repo.fsck().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.n_changes, cids.len());
}

#[test]
fn manual_durability_loses_unflushed_changes_whole() {
    let disk = Disk::default();
    let id = identity(4);
    let repo = disk.repo(&id, Durability::Manual);
    let doc = repo.create_doc("main").unwrap();
    let c1 = commit(&repo, doc, |tx| {
        tx.set("k", 1i64)?;
        Ok(())
    });
    repo.flush().unwrap();
    let flushed = repo.state(doc).entries("").unwrap();
    let c2 = commit(&repo, doc, |tx| {
        tx.set("k", 2i64)?.incr("n", 1)?;
        Ok(())
    });
    let c3 = commit(&repo, doc, |tx| {
        tx.add("s", "x")?;
        Ok(())
    });
    assert_eq!(repo.heads(doc).unwrap(), vec![c3.cid]);
    disk.crash(repo);
    let repo = disk.repo(&id, Durability::Manual);
    assert_eq!(repo.heads(doc).unwrap(), vec![c1.cid]);
    for lost in [c2.cid, c3.cid] {
        assert!(!repo.has_change(&lost).unwrap());
        assert!(!repo.store().has_block(&lost).unwrap());
    }
    assert_eq!(repo.state(doc).entries("").unwrap(), flushed);
    let report = repo.fsck().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);

    // Writing goes on from the durable state, and a flush makes it stick.
    let c2b = commit(&repo, doc, |tx| {
        tx.set("k", 3i64)?;
        Ok(())
    });
    assert_eq!(c2b.change.parents, vec![c1.cid]);
    assert_eq!(c2b.change.seq, 3);
    repo.flush().unwrap();
    commit(&repo, doc, |tx| {
        tx.set("k", 4i64)?;
        Ok(())
    });
    disk.crash(repo);
    let repo = disk.repo(&id, Durability::Manual);
    assert_eq!(repo.heads(doc).unwrap(), vec![c2b.cid]);
    assert_eq!(repo.state(doc).get("k").unwrap(), Some(Value::Int(3)));
    assert!(repo.fsck().unwrap().is_ok());
}

#[test]
fn every_error_says_what_the_caller_acts_on() {
    use weft_dag::{ErrorKind, Role};
    let dir = tempfile::tempdir().unwrap();
    let kind = |r: Result<Repo, open::Error>| r.unwrap_err().kind();
    assert_eq!(
        kind(Repo::open(dir.path(), Options::default())),
        ErrorKind::NotARepo
    );
    let repo = Repo::init(dir.path(), Options::default()).unwrap();
    assert_eq!(
        kind(Repo::open(dir.path(), Options::default())),
        ErrorKind::Busy
    );
    let doc = repo.doc("main").unwrap();
    assert_eq!(repo.doc("nope").unwrap_err().kind(), ErrorKind::NotFound);
    commit(&repo, doc, |tx| {
        tx.incr("n", 1)?;
        Ok(())
    });
    let mut tx = repo.transaction(doc);
    assert_eq!(tx.set("n", 1i64).unwrap_err().kind(), ErrorKind::WrongType);
    assert_eq!(
        tx.set("", 1i64).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        tx.set("f", Value::Float(f64::NAN)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let owner = tx.grant(identity(2).author(), Role::Owner).unwrap_err();
    assert_eq!(owner.kind(), ErrorKind::InvalidInput);
    assert_eq!(tx.del("absent").unwrap_err().kind(), ErrorKind::NotFound);
}

/// A layer above the dag keeps its own keyspace through `Repo::layer`: each write one batch,
/// reads in key order, and no tag of the store's or the dag's.
#[test]
fn a_layer_keeps_its_own_keyspace_through_the_repo() {
    const MINE: weft_store::Keyspace = weft_store::Keyspace::derived(0x3f, "mine");
    let repo = Repo::memory(identity(1));
    let space = repo.layer(MINE);
    assert_eq!(space.get(b"a").unwrap(), None);
    for (k, v) in [(&b"b2"[..], &b"2"[..]), (b"a", b"0"), (b"b1", b"1")] {
        space.put(k, v).unwrap();
    }
    assert_eq!(space.get(b"a").unwrap().as_deref(), Some(&b"0"[..]));
    let under_b: Vec<(Vec<u8>, Vec<u8>)> = space.scan_prefix(b"b").map(Result::unwrap).collect();
    assert_eq!(
        under_b,
        [
            (b"b1".to_vec(), b"1".to_vec()),
            (b"b2".to_vec(), b"2".to_vec())
        ]
    );
    space.delete(b"a").unwrap();
    assert_eq!(space.get(b"a").unwrap(), None);
    assert_eq!(space.delete_prefix(b"b").unwrap(), 2);
    assert_eq!(space.scan_prefix(b"").count(), 0);
    // The dag's state is untouched, and passes fsck.
    assert!(repo.fsck().unwrap().is_ok());

    for reserved in [
        weft_store::Keyspace::META,
        weft_dag::keys::HEADS,
        weft_dag::keys::VOID,
    ] {
        let taken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = repo.layer(reserved);
        }));
        assert!(taken.is_err(), "{} was handed out", reserved.name);
    }
}

/// The dag's keyspaces share no tag with each other or with the store's `meta`.
#[test]
fn keyspaces_do_not_share_tags() {
    weft_testkit::check_unique(&weft_dag::keys::ALL).unwrap();
}
