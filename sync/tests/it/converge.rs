//! Convergence over the protocol: several replicas edit concurrently and sync in random pairs,
//! in random directions, some sessions cut off midway. After a final round of syncs between every
//! pair, every replica holds the same documents, names, heads and state, and passes fsck.
//!
//! Replica 0 owns both documents and makes every other replica a writer of each, before any
//! clone; a replica edits a document once it holds the document and its grant.

use std::collections::BTreeSet;

use proptest::prelude::*;
use weft_dag::{DocId, Repo, Role, Value};
use weft_sync::{pump, Direction, Endpoint, Error, Initiator, Responder};

use crate::{assert_fsck, empty, grant, opts, state, sync};

const REPLICAS: usize = 5;
/// Replicas `1..CLONED` start as clones of replica 0; the others start empty and get the
/// documents by sync.
const CLONED: usize = 4;
const DOCS: [&str; 2] = ["main", "aux"];

#[derive(Debug, Clone)]
enum OpSpec {
    Set(&'static str, i64),
    Del(&'static str),
    Incr(&'static str, i64),
    Add(&'static str, &'static str),
    Remove(&'static str, &'static str),
}

#[derive(Debug, Clone)]
enum Action {
    /// One transaction on one replica (skipped if it lacks the document or the grant that lets
    /// it write there: a session cut off early may bring the genesis without it).
    Edit {
        replica: usize,
        doc: usize,
        ops: Vec<OpSpec>,
    },
    /// One session; `cut` cuts the link after that many frames.
    Sync {
        initiator: usize,
        responder: usize,
        direction: Direction,
        cut: Option<usize>,
    },
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    let register = prop::sample::select(vec!["r1", "r2"]);
    let counter = prop::sample::select(vec!["c1", "c2"]);
    let set = prop::sample::select(vec!["s1", "s2"]);
    let member = prop::sample::select(vec!["x", "y", "z"]);
    prop_oneof![
        4 => (register.clone(), -3i64..3).prop_map(|(k, v)| OpSpec::Set(k, v)),
        1 => register.prop_map(OpSpec::Del),
        3 => (counter, -50i64..50).prop_map(|(k, d)| OpSpec::Incr(k, d)),
        3 => (set.clone(), member.clone()).prop_map(|(k, m)| OpSpec::Add(k, m)),
        2 => (set, member).prop_map(|(k, m)| OpSpec::Remove(k, m)),
    ]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::Pull),
        Just(Direction::Push),
        Just(Direction::Both)
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..REPLICAS, prop_oneof![3 => Just(0usize), 1 => Just(1usize)],
              prop::collection::vec(op_spec(), 1..4))
            .prop_map(|(replica, doc, ops)| Action::Edit { replica, doc, ops }),
        2 => (0..REPLICAS, 0..REPLICAS, direction(),
              prop_oneof![2 => Just(None), 1 => (1usize..16).prop_map(Some)])
            .prop_map(|(initiator, responder, direction, cut)| Action::Sync {
                initiator,
                responder,
                direction,
                cut,
            }),
    ]
}

/// Applies one transaction; ops refused locally (a `del` of an absent key, a `remove` from an
/// absent set) are skipped.
fn edit(repo: &Repo, doc: DocId, ops: &[OpSpec]) {
    let mut tx = repo.transaction(doc);
    for op in ops {
        let _ = match op {
            OpSpec::Set(k, v) => tx.set(k, *v).map(|_| ()),
            OpSpec::Del(k) => tx.del(k).map(|_| ()),
            OpSpec::Incr(k, d) => tx.incr(k, *d).map(|_| ()),
            OpSpec::Add(k, m) => tx.add(k, Value::from(*m)).map(|_| ()),
            OpSpec::Remove(k, m) => tx.remove(k, Value::from(*m)).map(|_| ()),
        };
    }
    tx.commit().unwrap();
}

/// Changes of `from` that `to` lacks, over every document of `from`.
fn lacking(from: &Repo, to: &Repo) -> BTreeSet<weft_dag::Cid> {
    let mut out = BTreeSet::new();
    for doc in from.doc_ids().unwrap() {
        for (_, cid) in from.ancestors(&from.heads(doc).unwrap()).unwrap() {
            if !to.has_change(&cid).unwrap() {
                out.insert(cid);
            }
        }
    }
    out
}

/// A session cut off after `cut` frames: it either finished within the budget or failed with
/// the cut-off, and both sides stay sound. A cut transfer keeps what arrived and the next
/// session in the same direction moves exactly the rest (it resumes; it does not start over).
fn cut_sync(a: &Repo, b: &Repo, direction: Direction, cut: usize) {
    let pulls = direction != Direction::Push;
    let pushes = direction != Direction::Pull;
    let lacked_by_a = lacking(b, a);
    let lacked_by_b = lacking(a, b);
    let mut i = Initiator::new(a, opts(direction)).unwrap();
    let mut r = Responder::new(b).unwrap();
    let result = pump(&mut i, &mut r, Some(cut));
    match &result {
        Ok(()) => {}
        Err(Error::Closed { during }) => assert!(during.contains("cut-off"), "{during}"),
        Err(e) => panic!("a cut-off session failed with {e:?}"),
    }
    assert_fsck(a);
    assert_fsck(b);
    if result.is_ok() {
        return;
    }
    // What each side kept came in this session (a received change is dropped only if a
    // parent it waited for never came: a Bloom false positive held it back).
    let kept_by_a = lacked_by_a.len() - lacking(b, a).len();
    let kept_by_b = lacked_by_b.len() - lacking(a, b).len();
    assert!(lacking(b, a).is_subset(&lacked_by_a));
    assert!(lacking(a, b).is_subset(&lacked_by_b));
    assert!(kept_by_a as u64 <= i.stats().changes_in - i.stats().redundant_in);
    assert!(kept_by_b as u64 <= r.stats().changes_in - r.stats().redundant_in);
    // The next session in the same direction resumes: what it moves plus what was kept is
    // what was missing, nothing twice.
    let (s, _) = sync(a, b, direction);
    if pulls {
        assert_eq!(
            s.changes_in as usize + kept_by_a,
            lacked_by_a.len(),
            "{s:?}"
        );
        assert!(lacking(b, a).is_empty());
    }
    if pushes {
        assert_eq!(
            s.changes_out as usize + kept_by_b,
            lacked_by_b.len(),
            "{s:?}"
        );
        assert!(lacking(a, b).is_empty());
    }
    assert_eq!((s.redundant_in, s.redundant_out), (0, 0), "{s:?}");
}

fn run(actions: &[Action]) {
    let repos: Vec<Repo> = (0..REPLICAS).map(|i| empty(i as u8 + 1)).collect();
    for name in DOCS {
        repos[0].create_doc(name).unwrap();
    }
    let docs: Vec<DocId> = DOCS.iter().map(|n| repos[0].doc(n).unwrap()).collect();
    for &doc in &docs {
        for r in &repos[1..] {
            grant(&repos[0], doc, r.author(), Role::Writer);
        }
    }
    for r in &repos[1..CLONED] {
        sync(r, &repos[0], Direction::Pull);
    }
    for action in actions {
        match action {
            Action::Edit { replica, doc, ops } => {
                let repo = &repos[*replica];
                let doc = docs[*doc];
                if !repo.heads(doc).unwrap().is_empty()
                    && repo.role(doc, &repo.author()).unwrap() >= Some(Role::Writer)
                {
                    edit(repo, doc, ops);
                }
            }
            Action::Sync {
                initiator,
                responder,
                direction,
                cut,
            } => {
                if initiator == responder {
                    continue;
                }
                let (a, b) = (&repos[*initiator], &repos[*responder]);
                match cut {
                    Some(cut) => cut_sync(a, b, *direction, *cut),
                    None => {
                        sync(a, b, *direction);
                    }
                }
            }
        }
    }
    // Sync every pair until a whole pass moves nothing.
    let mut quiet = false;
    for _ in 0..4 {
        let mut moved = 0;
        for i in 0..REPLICAS {
            for j in i + 1..REPLICAS {
                let (s, _) = sync(&repos[i], &repos[j], Direction::Both);
                moved += s.changes_in + s.changes_out;
            }
        }
        if moved == 0 {
            quiet = true;
            break;
        }
    }
    assert!(quiet, "still moving changes after 4 passes");
    let first = &repos[0];
    let ids = first.doc_ids().unwrap();
    assert_eq!(ids.len(), DOCS.len());
    for (k, r) in repos.iter().enumerate() {
        assert_eq!(r.doc_ids().unwrap(), ids, "documents of replica {k}");
        for name in DOCS {
            assert_eq!(
                r.doc(name).unwrap(),
                first.doc(name).unwrap(),
                "{name} on {k}"
            );
        }
        for doc in &ids {
            assert_eq!(r.heads(*doc).unwrap(), first.heads(*doc).unwrap());
            assert_eq!(state(r, *doc), state(first, *doc), "state on replica {k}");
        }
        assert_fsck(r);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_over_sync(actions in prop::collection::vec(action(), 1..60)) {
        run(&actions);
    }
}
