//! Tests of lists and text: convergence against a naive model under random concurrent edits
//! and delivery orders, non-interleaving, moves, runs.

mod naive;
mod snapshot;

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;

use super::{Anchor, Id, ListOp, Lists, SeqError, Stamp, Text, TextOp};
use crate::{Author, Cid, Codec, OpId};

/// A distinct op id per `n`; ids sort in no relation to `n`.
fn op(n: u64) -> OpId {
    OpId {
        change: Cid::hash(Codec::DagCbor, &n.to_be_bytes()),
        index: (n % 3) as u32,
    }
}

fn stamp(height: u64, author: u8, n: u64) -> Stamp {
    Stamp {
        height,
        author: Author([author; 32]),
        op: op(n),
    }
}

/// A replica of a shared op log: what it applied, in order.
#[derive(Debug, Default)]
struct Log {
    applied: Vec<usize>,
    seen: HashSet<usize>,
    height: u64,
}

impl Log {
    /// The ops of `from` this one lacks, the first `limit` of them, in `from`'s order (a
    /// causal order, since `from` applied them so).
    fn missing(&self, from: &Log, limit: usize) -> Vec<usize> {
        from.applied
            .iter()
            .copied()
            .filter(|i| !self.seen.contains(i))
            .take(limit)
            .collect()
    }

    fn record(&mut self, i: usize, height: u64) {
        self.applied.push(i);
        self.seen.insert(i);
        self.height = self.height.max(height);
    }
}

/// One random step: `(replica, kind, a, b, c)`.
type Step = (usize, u8, u16, u16, u8);

fn steps(replicas: usize) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            0..replicas,
            0u8..10,
            any::<u16>(),
            any::<u16>(),
            any::<u8>(),
        ),
        1..60,
    )
}

const REPLICAS: usize = 3;

fn run_text(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut texts: Vec<Text> = (0..REPLICAS).map(|_| Text::new()).collect();
    let mut logs: Vec<Log> = (0..REPLICAS).map(|_| Log::default()).collect();
    let mut ops: Vec<(TextOp, u64)> = Vec::new();
    for &(r, kind, a, b, c) in steps {
        let len = texts[r].len();
        let made = match kind {
            0..=4 => {
                let n = 1 + usize::from(c % 4);
                let base = [b'a', b'A', b'0'][r];
                let s: String = (0..n)
                    .map(|i| char::from(base + ((c as usize + i) % 10) as u8))
                    .collect();
                let s = if c % 7 == 0 { format!("é{s}😀") } else { s };
                let at = usize::from(a) % (len + 1);
                let mut want: Vec<char> = texts[r].to_string().chars().collect();
                want.splice(at..at, s.chars());
                let made = texts[r].insert(op(ops.len() as u64), at, &s);
                prop_assert_eq!(texts[r].to_string(), want.into_iter().collect::<String>());
                Some(made)
            }
            5 | 6 if len > 0 => {
                let at = usize::from(a) % len;
                let n = 1 + usize::from(b) % (len - at).min(4);
                let mut want: Vec<char> = texts[r].to_string().chars().collect();
                want.drain(at..at + n);
                let made = texts[r].delete(at, n);
                prop_assert_eq!(texts[r].to_string(), want.into_iter().collect::<String>());
                Some(made)
            }
            5 | 6 => None,
            _ => {
                let from = usize::from(c) % REPLICAS;
                for i in logs[r].missing(&logs[from], 1 + usize::from(b % 8)) {
                    texts[r]
                        .apply(&ops[i].0)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    logs[r].record(i, ops[i].1);
                }
                None
            }
        };
        texts[r].check_index().map_err(TestCaseError::fail)?;
        if let Some(made) = made {
            let made = made.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let height = logs[r].height + 1;
            ops.push((made, height));
            logs[r].record(ops.len() - 1, height);
        }
    }
    for r in 0..REPLICAS {
        for from in 0..REPLICAS {
            for i in logs[r].missing(&logs[from], usize::MAX) {
                texts[r]
                    .apply(&ops[i].0)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                logs[r].record(i, ops[i].1);
            }
        }
    }
    let all: Vec<TextOp> = ops.into_iter().map(|(o, _)| o).collect();
    let model = naive::text(&all);
    for t in &texts {
        t.check_index().map_err(TestCaseError::fail)?;
        prop_assert_eq!(t.to_string(), model.clone());
        prop_assert_eq!(t.len(), model.chars().count());
    }
    Ok(())
}

fn run_lists(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut reps: Vec<Lists<u8>> = (0..REPLICAS).map(|_| Lists::new()).collect();
    let mut logs: Vec<Log> = (0..REPLICAS).map(|_| Log::default()).collect();
    let mut ops: Vec<(ListOp<u8>, u64)> = Vec::new();
    for &(r, kind, a, b, c) in steps {
        let n = ops.len() as u64;
        let height = logs[r].height + 1;
        let st = stamp(height, r as u8 + 1, n);
        let list = c % 2;
        let visible: Vec<OpId> = (0..2u8).flat_map(|l| reps[r].elements(&l)).collect();
        let made = match kind {
            0..=3 => {
                let index = usize::from(a) % (reps[r].len(&list) + 1);
                let made = reps[r].insert_at(st, list, index);
                prop_assert_eq!(reps[r].find(st.op), Some((&list, index)));
                Some(made)
            }
            4 | 5 if !visible.is_empty() => {
                let e = visible[usize::from(a) % visible.len()];
                let index = usize::from(b) % (reps[r].len(&list) + 1);
                let before = reps[r].find(e).map(|(l, i)| (*l, i));
                let made = reps[r].move_to(st, e, list, index);
                let want = match before {
                    Some((l, i)) if l == list && i < index => index - 1,
                    _ => index,
                };
                prop_assert_eq!(reps[r].find(e), Some((&list, want)));
                Some(made)
            }
            6 if !visible.is_empty() => {
                Some(reps[r].delete(visible[usize::from(a) % visible.len()]))
            }
            4..=6 => None,
            _ => {
                let from = usize::from(c) % REPLICAS;
                for i in logs[r].missing(&logs[from], 1 + usize::from(b % 8)) {
                    reps[r]
                        .apply(&ops[i].0)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    logs[r].record(i, ops[i].1);
                }
                None
            }
        };
        reps[r].check_index().map_err(TestCaseError::fail)?;
        if let Some(made) = made {
            let made = made.map_err(|e| TestCaseError::fail(e.to_string()))?;
            ops.push((made, height));
            logs[r].record(ops.len() - 1, height);
        }
    }
    for r in 0..REPLICAS {
        for from in 0..REPLICAS {
            for i in logs[r].missing(&logs[from], usize::MAX) {
                reps[r]
                    .apply(&ops[i].0)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                logs[r].record(i, ops[i].1);
            }
        }
    }
    let all: Vec<ListOp<u8>> = ops.into_iter().map(|(o, _)| o).collect();
    let model = naive::lists(&all);
    for rep in &reps {
        rep.check_index().map_err(TestCaseError::fail)?;
        let got: BTreeMap<u8, Vec<OpId>> = rep.lists().map(|&l| (l, rep.elements(&l))).collect();
        prop_assert_eq!(&got, &model);
        // Every element not deleted is in exactly one place.
        let mut placed: Vec<OpId> = got.values().flatten().copied().collect();
        let count = placed.len();
        placed.sort();
        placed.dedup();
        prop_assert_eq!(placed.len(), count);
        for op in &all {
            if let ListOp::Insert { stamp, .. } = op {
                let gone = rep.is_deleted(stamp.op) == Some(true);
                prop_assert_eq!(rep.find(stamp.op).is_none(), gone);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn text_replicas_converge_to_the_model(steps in steps(REPLICAS)) {
        run_text(&steps)?;
    }

    #[test]
    fn lists_replicas_converge_to_the_model(steps in steps(REPLICAS)) {
        run_lists(&steps)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    /// Longer sessions, checking after every step that the order index gives what a walk of
    /// the tree gives (`run_text` checks it).
    #[test]
    fn the_order_index_matches_the_walk(
        steps in prop::collection::vec(
            (0..2usize, 0u8..10, any::<u16>(), any::<u16>(), any::<u8>()),
            60..200,
        )
    ) {
        run_text(&steps)?;
    }
}

/// Two replicas type `a` and `b` concurrently between `X` and `Y`, one op per character,
/// forward (appending) or backward (each character before the last one typed).
fn type_concurrently(a: &str, b: &str, backward: bool) -> Vec<String> {
    let mut base = Text::new();
    let first = base.insert(op(1000), 0, "XY").unwrap();
    let mut reps = [base.clone(), base];
    let mut sent: [Vec<TextOp>; 2] = [vec![first.clone()], vec![first]];
    for (r, s) in [a, b].iter().enumerate() {
        for (i, ch) in s.chars().enumerate() {
            let at = if backward { 1 } else { 1 + i };
            let o = reps[r]
                .insert(op(2000 * (r as u64 + 1) + i as u64), at, &ch.to_string())
                .unwrap();
            sent[r].push(o);
        }
    }
    let [s0, s1] = sent;
    for o in &s1[1..] {
        reps[0].apply(o).unwrap();
    }
    for o in &s0[1..] {
        reps[1].apply(o).unwrap();
    }
    reps.iter().map(|t| t.to_string()).collect()
}

#[test]
fn concurrent_runs_do_not_interleave() {
    for backward in [false, true] {
        let out = type_concurrently("hello", "WORLD", backward);
        assert_eq!(out[0], out[1]);
        let (a, b) = if backward {
            ("olleh", "DLROW")
        } else {
            ("hello", "WORLD")
        };
        assert!(
            out[0] == format!("X{a}{b}Y") || out[0] == format!("X{b}{a}Y"),
            "interleaved: {}",
            out[0]
        );
    }
}

#[test]
fn concurrent_string_inserts_do_not_interleave() {
    let mut a = Text::new();
    let base = a.insert(op(1), 0, "ab").unwrap();
    let mut b = a.clone();
    // Each replica types at position 1, in three bursts; the other's bursts arrive after.
    let mut sa = Vec::new();
    let mut sb = Vec::new();
    for (i, w) in ["one ", "two ", "three "].iter().enumerate() {
        let at = 1 + a.len() - 2;
        sa.push(a.insert(op(10 + i as u64), at, w).unwrap());
        let at = 1 + b.len() - 2;
        sb.push(b.insert(op(20 + i as u64), at, &w.to_uppercase()).unwrap());
    }
    for o in &sb {
        a.apply(o).unwrap();
    }
    for o in &sa {
        b.apply(o).unwrap();
    }
    assert_eq!(a.to_string(), b.to_string());
    let s = a.to_string();
    assert!(
        s == "aone two three ONE TWO THREE b" || s == "aONE TWO THREE one two three b",
        "{s}"
    );
    assert_eq!(
        naive::text(&[base].into_iter().chain(sa).chain(sb).collect::<Vec<_>>()),
        s
    );
}

#[test]
fn list_elements_typed_concurrently_do_not_interleave() {
    let mut a: Lists<u8> = Lists::new();
    let mut b = a.clone();
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    for i in 0..4u64 {
        sa.push(
            a.insert_at(stamp(i + 1, 1, 100 + i), 0, i as usize)
                .unwrap(),
        );
        sb.push(
            b.insert_at(stamp(i + 1, 2, 200 + i), 0, i as usize)
                .unwrap(),
        );
    }
    for o in &sb {
        a.apply(o).unwrap();
    }
    for o in &sa {
        b.apply(o).unwrap();
    }
    let got = a.elements(&0);
    assert_eq!(got, b.elements(&0));
    let ours: Vec<OpId> = (0..4).map(|i| op(100 + i)).collect();
    let theirs: Vec<OpId> = (0..4).map(|i| op(200 + i)).collect();
    assert!(got == [ours.clone(), theirs.clone()].concat() || got == [theirs, ours].concat());
}

/// Applies `ops` to a copy of `base` in the order `order`.
fn deliver(base: &Lists<u8>, ops: &[ListOp<u8>], order: &[usize]) -> Lists<u8> {
    let mut rep = base.clone();
    for &i in order {
        rep.apply(&ops[i]).unwrap();
    }
    rep
}

fn snapshot(rep: &Lists<u8>) -> Vec<Vec<OpId>> {
    vec![rep.elements(&0), rep.elements(&1)]
}

#[test]
fn concurrent_moves_leave_exactly_one_copy() {
    let mut base: Lists<u8> = Lists::new();
    for i in 0..4u64 {
        base.insert_at(stamp(1 + i, 1, i), 0, i as usize).unwrap();
    }
    let e = op(1);
    // Three replicas move the same element concurrently: to the other list, within its list,
    // to the other list's end; then the winner is the greatest (height, author, op).
    let mut ops = Vec::new();
    for (r, (list, index)) in [(1u8, 0usize), (0, 4), (1, 0)].into_iter().enumerate() {
        let mut rep = base.clone();
        ops.push(
            rep.move_to(stamp(5, r as u8 + 2, 50 + r as u64), e, list, index)
                .unwrap(),
        );
    }
    let mut results = Vec::new();
    for order in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        let rep = deliver(&base, &ops, &order);
        let all: Vec<OpId> = snapshot(&rep).concat();
        assert_eq!(all.iter().filter(|&&x| x == e).count(), 1);
        assert_eq!(all.len(), 4);
        assert_eq!(rep.winner(e), Some(stamp(5, 4, 52)));
        assert_eq!(rep.find(e), Some((&1, 0)));
        results.push(snapshot(&rep));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn move_against_delete_the_delete_wins_in_both_orders() {
    let mut base: Lists<u8> = Lists::new();
    let x = base.insert_at(stamp(1, 1, 1), 0, 0).unwrap();
    base.insert_at(stamp(2, 1, 2), 0, 1).unwrap();
    let e = op(1);
    let mv = base.clone().move_to(stamp(3, 2, 3), e, 1, 0).unwrap();
    let del = base.clone().delete(e).unwrap();
    let ops = [mv, del];
    let one = deliver(&base, &ops, &[0, 1]);
    let two = deliver(&base, &ops, &[1, 0]);
    for rep in [&one, &two] {
        assert_eq!(snapshot(rep), vec![vec![op(2)], vec![]]);
        assert_eq!(rep.find(e), None);
        assert_eq!(rep.is_deleted(e), Some(true));
    }
    // A later move of the deleted element brings nothing back.
    let mut three = two.clone();
    three.move_to(stamp(9, 3, 9), e, 0, 0).unwrap();
    assert_eq!(snapshot(&three), vec![vec![op(2)], vec![]]);
    // The deleted element's positions stay usable as origins.
    let ListOp::Insert { .. } = x else { panic!() };
    let (list, l, r) = three.origins_after(e).unwrap();
    three
        .apply(&ListOp::Insert {
            stamp: stamp(10, 3, 10),
            list,
            left: l,
            right: r,
        })
        .unwrap();
    assert_eq!(three.elements(&0), vec![op(10), op(2)]);
}

#[test]
fn an_element_moves_from_one_list_to_another() {
    let (todo, done) = (0u8, 1u8);
    let mut a: Lists<u8> = Lists::new();
    for i in 0..3u64 {
        a.insert_at(stamp(1 + i, 1, i), todo, i as usize).unwrap();
    }
    let mut b = a.clone();
    let mv = a.move_to(stamp(4, 1, 10), op(1), done, 0).unwrap();
    assert_eq!(a.elements(&todo), vec![op(0), op(2)]);
    assert_eq!(a.elements(&done), vec![op(1)]);
    assert_eq!(a.find(op(1)), Some((&done, 0)));
    // Concurrently, b inserts right after the element, at its old place in `todo`.
    let (list, l, r) = b.origins_after(op(1)).unwrap();
    let ins = ListOp::Insert {
        stamp: stamp(4, 2, 11),
        list,
        left: l,
        right: r,
    };
    b.apply(&ins).unwrap();
    b.apply(&mv).unwrap();
    a.apply(&ins).unwrap();
    for rep in [&a, &b] {
        assert_eq!(rep.elements(&todo), vec![op(0), op(11), op(2)]);
        assert_eq!(rep.elements(&done), vec![op(1)]);
    }
    // Moving it back puts it where asked.
    a.move_to(stamp(5, 1, 12), op(1), todo, 3).unwrap();
    assert_eq!(a.elements(&todo), vec![op(0), op(11), op(2), op(1)]);
    assert!(a.elements(&done).is_empty());
}

#[test]
fn insert_before_and_after_an_element() {
    let mut l: Lists<u8> = Lists::new();
    l.insert_at(stamp(1, 1, 1), 0, 0).unwrap();
    l.insert_at(stamp(2, 1, 2), 0, 1).unwrap();
    let (list, left, right) = l.origins_before(op(2)).unwrap();
    l.apply(&ListOp::Insert {
        stamp: stamp(3, 1, 3),
        list,
        left,
        right,
    })
    .unwrap();
    let (list, left, right) = l.origins_after(op(1)).unwrap();
    l.apply(&ListOp::Insert {
        stamp: stamp(4, 1, 4),
        list,
        left,
        right,
    })
    .unwrap();
    assert_eq!(l.elements(&0), vec![op(1), op(4), op(3), op(2)]);
    assert_eq!(l.find(op(3)), Some((&0, 2)));
}

#[test]
fn text_is_kept_as_runs() {
    let mut t = Text::new();
    let long: String = "lorem ipsum ".repeat(100);
    t.insert(op(1), 0, &long).unwrap();
    assert_eq!(t.runs(), 1);
    t.insert(op(2), 600, "XYZ").unwrap();
    assert_eq!(t.runs(), 3);
    t.delete(100, 50).unwrap();
    assert_eq!(t.runs(), 5);
    let mut want = long.clone();
    want.insert_str(600, "XYZ");
    want.replace_range(100..150, "");
    assert_eq!(t.to_string(), want);
    assert_eq!(t.len(), want.chars().count());
    // A deleted character stays an origin: an insert after it lands where it was.
    let mut u = t.clone();
    let ins = TextOp::Insert {
        op: op(3),
        left: Anchor::At(Id {
            op: op(1),
            offset: 120,
        }),
        right: Anchor::At(Id {
            op: op(1),
            offset: 121,
        }),
        text: "!".into(),
    };
    u.apply(&ins).unwrap();
    want.insert(100, '!');
    assert_eq!(u.to_string(), want);
    assert_eq!(u.index_of(Id::of(op(3))), Some(100));
}

#[test]
fn text_inserts_before_and_after_a_character() {
    let mut t = Text::new();
    t.insert(op(1), 0, "abcd").unwrap();
    t.delete(1, 2).unwrap();
    let c = Id {
        op: op(1),
        offset: 2,
    };
    // After the deleted 'c': between 'b' and 'd', where it was.
    let (left, right) = t.origins_after(c).unwrap();
    t.apply(&TextOp::Insert {
        op: op(2),
        left,
        right,
        text: "X".into(),
    })
    .unwrap();
    // Before the deleted 'b'.
    let (left, right) = t
        .origins_before(Id {
            op: op(1),
            offset: 1,
        })
        .unwrap();
    t.apply(&TextOp::Insert {
        op: op(3),
        left,
        right,
        text: "Y".into(),
    })
    .unwrap();
    // Before the first character: at the start.
    let (left, right) = t.origins_before(Id::of(op(1))).unwrap();
    assert_eq!(left, Anchor::Start);
    t.apply(&TextOp::Insert {
        op: op(4),
        left,
        right,
        text: "<".into(),
    })
    .unwrap();
    assert_eq!(t.to_string(), "<aYXd");
    assert_eq!(
        t.origins_at(0).unwrap(),
        (Anchor::Start, Anchor::At(Id::of(op(4))))
    );
    assert_eq!(t.spans(1, 3).unwrap().len(), 3);
}

#[test]
fn refused_ops_change_nothing() {
    let mut t = Text::new();
    let first = t.insert(op(1), 0, "abc").unwrap();
    let before = t.to_string();
    assert_eq!(t.apply(&first), Err(SeqError::Duplicate(Id::of(op(1)))));
    let unknown = Anchor::At(Id::of(op(9)));
    let bad = TextOp::Insert {
        op: op(2),
        left: unknown,
        right: Anchor::End,
        text: "x".into(),
    };
    assert_eq!(t.apply(&bad), Err(SeqError::UnknownId(Id::of(op(9)))));
    let bad = TextOp::Insert {
        op: op(2),
        left: Anchor::End,
        right: Anchor::End,
        text: "x".into(),
    };
    assert_eq!(t.apply(&bad), Err(SeqError::BadAnchor));
    assert!(matches!(t.delete(2, 5), Err(SeqError::OutOfRange { .. })));
    assert_eq!(t.to_string(), before);
    let mut l: Lists<u8> = Lists::new();
    assert_eq!(l.delete(op(5)), Err(SeqError::UnknownElement(op(5))));
}

/// A seeded random typing session, as an editing trace would be: every edit is replayed on a
/// `String` too, and a second replica that receives the ops reaches the same text.
#[test]
fn a_long_editing_session_matches_a_string() {
    let mut t = Text::new();
    let mut other = Text::new();
    let mut s: Vec<char> = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut cursor = 0usize;
    for i in 0..3000u64 {
        let r = next();
        if r % 10 == 0 {
            cursor = (next() as usize) % (s.len() + 1);
        }
        let o = if r % 4 == 0 && cursor > 0 {
            let n = 1 + (next() as usize % 3).min(cursor - 1);
            cursor -= n;
            s.drain(cursor..cursor + n);
            t.delete(cursor, n).unwrap()
        } else {
            let ch = char::from(b'a' + (r % 26) as u8);
            s.insert(cursor, ch);
            cursor += 1;
            t.insert(op(i), cursor - 1, &ch.to_string()).unwrap()
        };
        other.apply(&o).unwrap();
    }
    let want: String = s.into_iter().collect();
    assert_eq!(t.to_string(), want);
    assert_eq!(other.to_string(), want);
}

/// Types `s` into `t` at `at`: char by char forward, char by char backward (each before the
/// one typed last) or as one op; `next` gives op numbers.
fn type_run(t: &mut Text, at: usize, s: &str, mode: u8, next: &mut u64) -> Vec<TextOp> {
    let mut out = Vec::new();
    let mut op_id = || {
        *next += 1;
        op(*next)
    };
    match mode {
        0 => {
            for (i, ch) in s.chars().enumerate() {
                out.push(t.insert(op_id(), at + i, &ch.to_string()).unwrap());
            }
        }
        1 => {
            for ch in s.chars().rev() {
                out.push(t.insert(op_id(), at, &ch.to_string()).unwrap());
            }
        }
        _ => out.push(t.insert(op_id(), at, s).unwrap()),
    }
    out
}

/// Whether the characters of `run` appear in `text` as one block, in `run`'s order.
fn contiguous(text: &str, run: &str) -> bool {
    text.contains(run)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Two replicas type a run at the same place concurrently (forward, backward or as one
    /// op) into a text with tombstones; after merging, each run is one block.
    #[test]
    fn concurrent_runs_never_interleave(
        base in "[0-9]{0,8}",
        dels in prop::collection::vec(any::<u16>(), 0..4),
        at in any::<u16>(),
        a in "[a-z]{1,6}",
        b in "[A-Z]{1,6}",
        modes in (0u8..3, 0u8..3),
    ) {
        let mut t = Text::new();
        let mut n = 0u64;
        if !base.is_empty() {
            type_run(&mut t, 0, &base, 2, &mut n);
        }
        for d in dels {
            if !t.is_empty() {
                t.delete(usize::from(d) % t.len(), 1).unwrap();
            }
        }
        let at = usize::from(at) % (t.len() + 1);
        let (mut ta, mut tb) = (t.clone(), t);
        let mut na = 1000;
        let mut nb = 2000;
        let oa = type_run(&mut ta, at, &a, modes.0, &mut na);
        let ob = type_run(&mut tb, at, &b, modes.1, &mut nb);
        for o in &ob {
            ta.apply(o).unwrap();
        }
        for o in &oa {
            tb.apply(o).unwrap();
        }
        let merged = ta.to_string();
        prop_assert_eq!(&merged, &tb.to_string());
        prop_assert!(contiguous(&merged, &a), "{} interleaves {}", merged, a);
        prop_assert!(contiguous(&merged, &b), "{} interleaves {}", merged, b);
    }
}

/// An op id whose order is that of `k`.
fn ordered_op(k: u8) -> OpId {
    OpId {
        change: Cid::from_digest(Codec::DagCbor, [k; 32]),
        index: 0,
    }
}

/// The FugueMax sibling rule itself: two right children of one item, made concurrently with
/// different right origins, are ordered by their right origins (the one further right
/// first), whatever their ids; plain Fugue would order them by id.
#[test]
fn right_siblings_follow_their_right_origins() {
    for y in [20u8, 70] {
        let mut base = Text::new();
        let q = base.insert(ordered_op(50), 0, "q").unwrap();
        let mut a = base.clone();
        let p = a.insert(ordered_op(10), 0, "p").unwrap();
        let mut c = base.clone();
        let u = c.insert(ordered_op(60), 0, "u").unwrap();
        // d has seen q, p and u: "puq"; it types x after p, so x's right origin is u.
        let mut d = base.clone();
        d.apply(&p).unwrap();
        d.apply(&u).unwrap();
        assert_eq!(d.to_string(), "puq");
        let x = d.insert(ordered_op(30), 1, "x").unwrap();
        // b has seen q and p: "pq"; it types y after p, so y's right origin is q.
        let mut b = a.clone();
        let yy = b.insert(ordered_op(y), 1, "y").unwrap();
        let ops = [q, p, u, x, yy];
        for order in [[0, 1, 2, 3, 4], [0, 1, 4, 2, 3], [0, 2, 1, 4, 3]] {
            let mut t = Text::new();
            for i in order {
                t.apply(&ops[i]).unwrap();
            }
            assert_eq!(t.to_string(), "pyxuq", "y id {y}, order {order:?}");
        }
        assert_eq!(naive::text(&ops), "pyxuq");
    }
}
