//! Convergence: several replicas make random concurrent edits and exchange random subsets of
//! their changes (closed under ancestry or not, in causal or fully random order, with
//! duplicates). After every step each replica's state must equal what a separate reference
//! model computes from the set of changes it holds, and after a final all-to-all exchange every
//! replica must hold the same heads and the same state.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use weft_dag::{Author, Change, Cid, DocId, Entry, Error, Op, OpId, RegisterValue, Repo, Value};

use weft_testkit::{all_changes, identity, replica, Rng};

/// Keys that only get register ops (locally; see [`MIXED`]).
const REGISTER_KEYS: [&str; 2] = ["r", "c/1"];
/// Keys that only get counter ops.
const COUNTER_KEYS: [&str; 2] = ["n", "c/2"];
/// Keys that only get set ops.
const SET_KEYS: [&str; 2] = ["s", "c/3"];
/// A key that every kind of op targets: locally the first kind wins and the others fail with
/// `WrongType`, but replicas that have not seen each other can pick different kinds.
const MIXED: &str = "m";

fn all_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = REGISTER_KEYS
        .iter()
        .chain(&COUNTER_KEYS)
        .chain(&SET_KEYS)
        .copied()
        .collect();
    keys.push(MIXED);
    keys
}

// ----- the random program -----

#[derive(Debug, Clone)]
enum OpSpec {
    Set(&'static str, Value),
    Del(&'static str),
    Incr(&'static str, i64),
    Add(&'static str, Value),
    Remove(&'static str, Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// Every change the sender has.
    All,
    /// A random subset, closed under ancestry.
    Closed,
    /// A random subset, not closed: some changes may be orphans.
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// A random topological order: parents before children.
    Causal,
    /// A uniformly random order.
    Shuffled,
}

#[derive(Debug, Clone)]
enum Action {
    /// One transaction on one replica.
    Edit { replica: usize, ops: Vec<OpSpec> },
    /// One `apply_changes` call from one replica to another.
    Send {
        from: usize,
        to: usize,
        pick: Pick,
        order: Order,
        dups: bool,
        seed: u64,
    },
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(Value::Int),
        prop::sample::select(vec![0.5, -1.25, 2.0, 1e10, -3.75e-3, 1.0 / 3.0])
            .prop_map(Value::Float),
        prop::sample::select(vec!["", "x", "milk", "ünïcode"]).prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["k", "title", "n"]).prop_map(String::from),
                inner,
                0..3,
            )
            .prop_map(Value::Map),
        ]
    })
}

fn member() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..3).prop_map(Value::Int),
        prop::sample::select(vec!["x", "y"]).prop_map(Value::from),
        Just(Value::Float(0.5)),
        Just(Value::Array(vec![Value::Int(1)])),
    ]
}

fn key_of(keys: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    // The mixed key one time in four.
    prop_oneof![
        3 => prop::sample::select(keys),
        1 => Just(MIXED),
    ]
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    let delta = prop_oneof![
        -1000i64..1000,
        Just(i64::from(i32::MAX)),
        Just(-i64::from(i32::MAX)),
    ];
    prop_oneof![
        4 => (key_of(&REGISTER_KEYS), value()).prop_map(|(k, v)| OpSpec::Set(k, v)),
        1 => key_of(&REGISTER_KEYS).prop_map(OpSpec::Del),
        3 => (key_of(&COUNTER_KEYS), delta).prop_map(|(k, d)| OpSpec::Incr(k, d)),
        3 => (key_of(&SET_KEYS), member()).prop_map(|(k, m)| OpSpec::Add(k, m)),
        2 => (key_of(&SET_KEYS), member()).prop_map(|(k, m)| OpSpec::Remove(k, m)),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    let pick = prop_oneof![Just(Pick::All), Just(Pick::Closed), Just(Pick::Open)];
    let order = prop_oneof![Just(Order::Causal), Just(Order::Shuffled)];
    prop_oneof![
        3 => (0..5usize, prop::collection::vec(op_spec(), 1..5))
            .prop_map(|(replica, ops)| Action::Edit { replica, ops }),
        2 => (0..5usize, 0..5usize, pick, order, any::<bool>(), any::<u64>()).prop_map(
            |(from, to, pick, order, dups, seed)| Action::Send {
                from,
                to,
                pick,
                order,
                dups,
                seed
            }
        ),
    ]
}

// ----- running it -----

/// One change as the test sees it.
struct Info {
    bytes: Vec<u8>,
    change: Change,
}

/// Every change a replica holds, by CID (from its log and blocks).
fn changes_of(repo: &Repo, doc: DocId) -> BTreeMap<Cid, Info> {
    all_changes(repo, doc)
        .into_iter()
        .map(|(cid, bytes)| {
            let change = Change::decode(&cid, &bytes).unwrap();
            (cid, Info { bytes, change })
        })
        .collect()
}

fn edit(repo: &Repo, doc: DocId, ops: &[OpSpec]) {
    let mut tx = repo.transaction(doc);
    for op in ops {
        let result = match op {
            OpSpec::Set(k, v) => tx.set(k, v.clone()).map(drop),
            OpSpec::Del(k) => tx.del(k).map(drop),
            OpSpec::Incr(k, d) => tx.incr(k, *d).map(drop),
            OpSpec::Add(k, m) => tx.add(k, m.clone()).map(drop),
            OpSpec::Remove(k, m) => tx.remove(k, m.clone()).map(drop),
        };
        match result {
            Ok(()) => {}
            // A key holds one kind locally; deleting or removing from nothing is an error.
            Err(Error::WrongType { key, .. }) | Err(Error::KeyNotFound { key }) => {
                assert_eq!(key, op_key(op));
            }
            Err(e) => panic!("{op:?} failed: {e}"),
        }
    }
    let n_ops = tx.ops().len();
    let committed = tx.commit().unwrap();
    assert_eq!(committed.is_some(), n_ops > 0);
    if let Some(c) = committed {
        assert_eq!(repo.heads(doc).unwrap(), vec![c.cid]);
        assert_eq!(c.change.ops.len(), n_ops);
    }
}

fn op_key(op: &OpSpec) -> &'static str {
    match op {
        OpSpec::Set(k, _)
        | OpSpec::Del(k)
        | OpSpec::Incr(k, _)
        | OpSpec::Add(k, _)
        | OpSpec::Remove(k, _) => k,
    }
}

/// Sends some of `from`'s changes to `to` in one `apply_changes` call and checks exactly what
/// was applied, counted as duplicate, or rejected as orphan.
fn send(
    from: &Repo,
    to: &Repo,
    doc: DocId,
    pick: Pick,
    order: Order,
    dups: bool,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut rng = Rng::new(seed);
    let src = changes_of(from, doc);
    let before: BTreeSet<Cid> = changes_of(to, doc).keys().copied().collect();
    let mut chosen: BTreeSet<Cid> = match pick {
        Pick::All => src.keys().copied().collect(),
        Pick::Closed | Pick::Open => src.keys().copied().filter(|_| rng.coin()).collect(),
    };
    if pick == Pick::Closed {
        let mut stack: Vec<Cid> = chosen.iter().copied().collect();
        while let Some(c) = stack.pop() {
            for p in &src[&c].change.parents {
                if chosen.insert(*p) {
                    stack.push(*p);
                }
            }
        }
    }
    let mut list: Vec<Cid> = match order {
        Order::Shuffled => {
            let mut v: Vec<Cid> = chosen.iter().copied().collect();
            rng.shuffle(&mut v);
            v
        }
        Order::Causal => {
            let mut remaining: Vec<Cid> = chosen.iter().copied().collect();
            let mut emitted = BTreeSet::new();
            let mut out = Vec::new();
            while !remaining.is_empty() {
                let ready: Vec<usize> = (0..remaining.len())
                    .filter(|&i| {
                        src[&remaining[i]]
                            .change
                            .parents
                            .iter()
                            .all(|p| !chosen.contains(p) || emitted.contains(p))
                    })
                    .collect();
                let i = ready[rng.below(ready.len())];
                let c = remaining.swap_remove(i);
                emitted.insert(c);
                out.push(c);
            }
            out
        }
    };
    if dups && !list.is_empty() {
        for _ in 0..1 + rng.below(3) {
            // A copy later than the original, so a causal order stays causal.
            let i = rng.below(list.len());
            let pos = i + 1 + rng.below(list.len() - i);
            list.insert(pos, list[i]);
        }
    }

    // What must happen: a change is applied iff all its parents end up present.
    let mut applicable: BTreeSet<Cid> = BTreeSet::new();
    loop {
        let grew: Vec<Cid> = chosen
            .iter()
            .filter(|c| !before.contains(c) && !applicable.contains(c))
            .filter(|c| {
                src[c]
                    .change
                    .parents
                    .iter()
                    .all(|p| before.contains(p) || applicable.contains(p))
            })
            .copied()
            .collect();
        if grew.is_empty() {
            break;
        }
        applicable.extend(grew);
    }
    let orphans: BTreeSet<Cid> = chosen
        .iter()
        .filter(|c| !before.contains(c) && !applicable.contains(c))
        .copied()
        .collect();

    let sub = to.subscribe();
    let result = to.apply_changes(list.iter().map(|c| (*c, src[c].bytes.clone())));
    let after: BTreeSet<Cid> = changes_of(to, doc).keys().copied().collect();
    let expected_after: BTreeSet<Cid> = before.union(&applicable).copied().collect();
    prop_assert_eq!(&after, &expected_after);
    let events: Vec<Cid> = std::iter::from_fn(|| sub.try_next())
        .map(|e| {
            assert!(!e.local);
            assert_eq!(e.doc, doc);
            e.cid
        })
        .collect();
    prop_assert_eq!(
        events.iter().copied().collect::<BTreeSet<_>>(),
        applicable.clone()
    );
    prop_assert_eq!(events.len(), applicable.len());
    match result {
        Ok(out) => {
            prop_assert!(orphans.is_empty(), "orphans {:?} went unreported", orphans);
            prop_assert_eq!(&out.applied, &events);
            prop_assert_eq!(out.applied.len(), applicable.len());
            prop_assert_eq!(
                out.applied.iter().copied().collect::<BTreeSet<_>>(),
                applicable.clone()
            );
            // Applied in causal order.
            let mut present = before.clone();
            for c in &out.applied {
                for p in &src[c].change.parents {
                    prop_assert!(present.contains(p), "{} applied before its parent {}", c, p);
                }
                present.insert(*c);
            }
            prop_assert_eq!(out.n_duplicates, list.len() - applicable.len());
        }
        Err(Error::Orphans {
            cid,
            missing,
            n_orphans,
            n_applied,
        }) => {
            prop_assert!(orphans.contains(&cid), "{} is not an orphan", cid);
            prop_assert!(src[&cid].change.parents.contains(&missing));
            prop_assert!(!after.contains(&missing));
            prop_assert!(
                !chosen.contains(&missing),
                "the reported missing parent {} was sent in the same call",
                missing
            );
            prop_assert_eq!(n_orphans, orphans.len());
            prop_assert_eq!(n_applied, applicable.len());
        }
        Err(e) => return Err(TestCaseError::fail(format!("apply_changes failed: {e}"))),
    }
    Ok(())
}

// ----- the reference model -----

/// The state of every key, computed from a set of changes by the rules of the CRDTs, without
/// the repo's storage, tombstones or indexes:
/// - register: the `set` ops not named in any `pred` of a `set` or `del` on the same key; the
///   winner is the greatest `(height, author, op id)`;
/// - counter: every `incr`, summed;
/// - set: per member, the `add` tags not named in the `tags` of a `remove` of that member;
/// - a read shows the register if a value is live, else the counter, else the set.
fn model(changes: &BTreeMap<Cid, Info>) -> BTreeMap<String, Entry> {
    let mut writes: Vec<(String, RegisterValue)> = Vec::new();
    let mut killed: BTreeSet<(String, OpId)> = BTreeSet::new();
    let mut incrs: BTreeMap<String, Vec<(OpId, i64)>> = BTreeMap::new();
    let mut adds: Vec<(String, Value, OpId)> = Vec::new();
    let mut removed: BTreeSet<(String, Vec<u8>, OpId)> = BTreeSet::new();
    for (cid, info) in changes {
        let c = &info.change;
        for (i, op) in c.ops.iter().enumerate() {
            let id = OpId {
                change: *cid,
                index: i as u32,
            };
            match op {
                // This model covers registers, counters and sets (lists and texts: `seq.rs`).
                Op::Genesis { .. }
                | Op::Grant { .. }
                | Op::Revoke { .. }
                | Op::ListInsert { .. }
                | Op::ListMove { .. }
                | Op::ListDelete { .. }
                | Op::ListSet { .. }
                | Op::TextInsert { .. }
                | Op::TextDelete { .. } => {}
                Op::Set { key, value, pred } => {
                    killed.extend(pred.iter().map(|p| (key.clone(), *p)));
                    writes.push((
                        key.clone(),
                        RegisterValue {
                            value: value.clone(),
                            op: id,
                            height: c.height,
                            author: c.author,
                        },
                    ));
                }
                Op::Del { key, pred } => killed.extend(pred.iter().map(|p| (key.clone(), *p))),
                Op::Incr { key, delta } => incrs.entry(key.clone()).or_default().push((id, *delta)),
                Op::Add { key, member } => adds.push((key.clone(), member.clone(), id)),
                Op::Remove { key, member, tags } => {
                    let m = member.to_dag_cbor().unwrap();
                    removed.extend(tags.iter().map(|t| (key.clone(), m.clone(), *t)));
                }
            }
        }
    }
    let mut regs: BTreeMap<String, Vec<RegisterValue>> = BTreeMap::new();
    for (key, rv) in writes {
        if !killed.contains(&(key.clone(), rv.op)) {
            regs.entry(key).or_default().push(rv);
        }
    }
    let rank = |v: &RegisterValue| (v.height, v.author.0, v.op.to_bytes());
    for vals in regs.values_mut() {
        vals.sort_by_key(|v| std::cmp::Reverse(rank(v)));
    }
    let mut members: BTreeMap<String, Members> = BTreeMap::new();
    for (key, member, tag) in adds {
        let m = member.to_dag_cbor().unwrap();
        if !removed.contains(&(key.clone(), m.clone(), tag)) {
            members
                .entry(key)
                .or_default()
                .entry(m)
                .or_insert_with(|| (member, Vec::new()))
                .1
                .push(tag);
        }
    }
    let mut out = BTreeMap::new();
    let keys: BTreeSet<String> = regs
        .keys()
        .chain(incrs.keys())
        .chain(members.keys())
        .cloned()
        .collect();
    for key in keys {
        let entry = if let Some(vals) = regs.remove(&key) {
            Entry::Register(vals)
        } else if let Some(mut incs) = incrs.remove(&key) {
            incs.sort_by_key(|(op, _)| op.to_bytes());
            Entry::Counter(incs)
        } else if let Some(ms) = members.remove(&key) {
            Entry::Set(
                ms.into_values()
                    .map(|(m, mut tags)| {
                        tags.sort_by_key(OpId::to_bytes);
                        (m, tags)
                    })
                    .collect(),
            )
        } else {
            continue;
        };
        out.insert(key, entry);
    }
    out
}

/// A set's members by encoded member: the value and its live tags.
type Members = BTreeMap<Vec<u8>, (Value, Vec<OpId>)>;

/// What `get` and `get_all` must return for a model entry.
fn model_read(entry: Option<&Entry>) -> (Option<Value>, Vec<Value>) {
    match entry {
        None => (None, vec![]),
        Some(Entry::Register(vals)) => (
            Some(vals[0].value.clone()),
            vals.iter().map(|v| v.value.clone()).collect(),
        ),
        Some(Entry::Counter(incs)) => {
            let sum: i128 = incs.iter().map(|(_, d)| i128::from(*d)).sum();
            let v = Value::Int(i64::try_from(sum).unwrap());
            (Some(v.clone()), vec![v])
        }
        Some(Entry::Set(ms)) => {
            let v = Value::Array(ms.iter().map(|(m, _)| m.clone()).collect());
            (Some(v.clone()), vec![v])
        }
        Some(e @ (Entry::List(_) | Entry::Text(_))) => {
            let v = e.value("").unwrap();
            (Some(v.clone()), vec![v])
        }
    }
}

/// Checks a replica's heads and state against the model of the changes it holds.
fn check_model(repo: &Repo, doc: DocId) -> Result<(), TestCaseError> {
    let changes = changes_of(repo, doc);
    // Heads: the changes that no other change names as a parent.
    let parents: BTreeSet<Cid> = changes
        .values()
        .flat_map(|i| i.change.parents.iter().copied())
        .collect();
    let heads: Vec<Cid> = changes
        .keys()
        .filter(|c| !parents.contains(c))
        .copied()
        .collect();
    prop_assert_eq!(repo.heads(doc).unwrap(), heads);

    let want = model(&changes);
    let state = repo.state(doc);
    prop_assert_eq!(&state.entries("").unwrap(), &want);
    for key in all_keys() {
        let (get, get_all) = model_read(want.get(key));
        prop_assert_eq!(state.get(key).unwrap(), get, "get {}", key);
        prop_assert_eq!(state.get_all(key).unwrap(), get_all, "get_all {}", key);
    }
    let listed: BTreeMap<String, Value> = want
        .iter()
        .filter(|(k, _)| k.starts_with("c/"))
        .map(|(k, e)| (k.clone(), model_read(Some(e)).0.unwrap()))
        .collect();
    prop_assert_eq!(state.list("c/").unwrap(), listed);
    // Every change's parents were present when it arrived, so no tombstone is ever needed.
    prop_assert_eq!(
        repo.store()
            .scan_prefix(weft_dag::keys::TOMBSTONE, &doc.0.to_bytes())
            .count(),
        0
    );
    Ok(())
}

fn run(n_replicas: usize, actions: Vec<Action>) -> Result<(Vec<Repo>, DocId), TestCaseError> {
    let origin = Repo::memory(identity(1));
    let doc = origin.doc("main").unwrap();
    origin.name_doc("shared", doc).unwrap();
    let mut replicas = vec![origin];
    for i in 1..n_replicas {
        replicas.push(replica(&replicas[0], doc, i as u8 + 1));
    }
    for r in &replicas {
        prop_assert_eq!(r.doc("shared").unwrap(), doc);
    }

    for action in actions {
        match action {
            Action::Edit { replica, ops } => {
                let repo = &replicas[replica % n_replicas];
                edit(repo, doc, &ops);
                check_model(repo, doc)?;
            }
            Action::Send {
                from,
                to,
                pick,
                order,
                dups,
                seed,
            } => {
                let (from, mut to) = (from % n_replicas, to % n_replicas);
                if from == to {
                    to = (to + 1) % n_replicas;
                }
                send(&replicas[from], &replicas[to], doc, pick, order, dups, seed)?;
                check_model(&replicas[to], doc)?;
            }
        }
    }

    // Full all-to-all exchange: every replica sends every change it has to every other.
    for (i, from) in replicas.iter().enumerate() {
        for (j, to) in replicas.iter().enumerate() {
            if i != j {
                send(
                    from,
                    to,
                    doc,
                    Pick::All,
                    Order::Shuffled,
                    true,
                    (i * 7 + j) as u64,
                )?;
            }
        }
    }

    let first = &replicas[0];
    let changes: BTreeSet<Cid> = changes_of(first, doc).keys().copied().collect();
    let heads = first.heads(doc).unwrap();
    let entries = first.state(doc).entries("").unwrap();
    let authors: BTreeSet<Author> = changes_of(first, doc)
        .values()
        .map(|i| i.change.author)
        .collect();
    prop_assert!(authors.contains(&first.author()));
    for (i, r) in replicas.iter().enumerate() {
        prop_assert_eq!(
            &changes_of(r, doc).keys().copied().collect::<BTreeSet<_>>(),
            &changes
        );
        prop_assert_eq!(&r.heads(doc).unwrap(), &heads);
        prop_assert_eq!(&r.state(doc).entries("").unwrap(), &entries);
        for key in all_keys() {
            prop_assert_eq!(
                r.state(doc).get_all(key).unwrap(),
                first.state(doc).get_all(key).unwrap()
            );
            prop_assert_eq!(
                r.state(doc).get(key).unwrap(),
                first.state(doc).get(key).unwrap()
            );
        }
        check_model(r, doc)?;
        let report = r.fsck().unwrap();
        prop_assert!(report.is_ok(), "fsck: {:?}", report.problems);
        // Replicas other than the origin also hold the genesis of their own `main` document.
        let own_main = usize::from(i > 0);
        prop_assert_eq!(report.n_changes, changes.len() + own_main);
        prop_assert_eq!(report.n_docs, 1 + own_main);
    }
    Ok((replicas, doc))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_to_the_model(
        n_replicas in 3usize..=5,
        actions in prop::collection::vec(action(), 1..24),
    ) {
        run(n_replicas, actions)?;
    }
}

/// The property test's machinery, on one fixed scenario whose outcome is known by hand.
#[test]
fn fixed_scenario_converges() {
    let actions = vec![
        Action::Edit {
            replica: 0,
            ops: vec![OpSpec::Set("r", Value::Int(1)), OpSpec::Incr("n", 5)],
        },
        Action::Send {
            from: 0,
            to: 1,
            pick: Pick::All,
            order: Order::Shuffled,
            dups: true,
            seed: 1,
        },
        Action::Edit {
            replica: 0,
            ops: vec![
                OpSpec::Set("r", Value::Int(2)),
                OpSpec::Add("s", "x".into()),
            ],
        },
        Action::Edit {
            replica: 1,
            ops: vec![OpSpec::Set("r", Value::Int(3)), OpSpec::Incr("n", -7)],
        },
        Action::Edit {
            replica: 2,
            ops: vec![OpSpec::Incr(MIXED, 1)],
        },
        Action::Edit {
            replica: 1,
            ops: vec![OpSpec::Set(MIXED, Value::Float(0.5))],
        },
    ];
    let (replicas, doc) = run(3, actions).unwrap();
    for r in &replicas {
        let state = r.state(doc);
        // Concurrent writes of replicas 0 and 1, both at height 3: both stay live.
        let mut r_all = state.get_all("r").unwrap();
        r_all.sort_by_key(|v| format!("{v}"));
        assert_eq!(r_all, vec![Value::Int(2), Value::Int(3)]);
        assert_eq!(state.get("n").unwrap(), Some(Value::Int(-2)));
        assert_eq!(
            state.get("s").unwrap(),
            Some(Value::Array(vec!["x".into()]))
        );
        // A live register value shows before the concurrent counter.
        assert_eq!(state.get(MIXED).unwrap(), Some(Value::Float(0.5)));
        assert_eq!(r.heads(doc).unwrap().len(), 3);
    }
}
