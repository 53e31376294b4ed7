//! Snapshots: a decoded replica is the replica (same order, same bytes again, same result for
//! every op after), and damaged or hostile bytes are refused without a panic.

use proptest::prelude::*;

use super::{op, stamp};
use crate::seq::{ListOp, Lists, SeqError, Text, TextOp};

/// One random step: `(replica, kind, a, b)`.
type Step = (usize, u8, u16, u16);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((0..2usize, 0u8..10, any::<u16>(), any::<u16>()), 1..80)
}

fn fail(e: SeqError) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Two text replicas edit and exchange ops; halfway, replica 0 is snapshotted and from then
/// on the decoded copy receives every op replica 0 makes or receives. Returns the last
/// snapshot of replica 0.
fn run_text(steps: &[Step]) -> Result<Vec<u8>, TestCaseError> {
    let mut reps = [Text::new(), Text::new()];
    let mut made: [Vec<TextOp>; 2] = [Vec::new(), Vec::new()];
    let mut had = [0usize; 2];
    let mut copy: Option<Text> = None;
    for (i, &(r, kind, a, b)) in steps.iter().enumerate() {
        if i == steps.len() / 2 {
            let bytes = reps[0].encode();
            let decoded = Text::decode(&bytes).map_err(fail)?;
            prop_assert_eq!(decoded.to_string(), reps[0].to_string());
            prop_assert_eq!(Text::decode_string(&bytes), Ok(reps[0].to_string()));
            prop_assert_eq!(decoded.runs(), reps[0].runs());
            prop_assert_eq!(decoded.encode(), bytes);
            decoded.check_index().map_err(TestCaseError::fail)?;
            copy = Some(decoded);
        }
        let len = reps[r].len();
        let new = match kind {
            0..=4 => {
                let s = if b % 5 == 0 { "é😀x" } else { "ab" };
                let s: String = s.chars().take(if b % 3 == 0 { 1 } else { 3 }).collect();
                let n = (made[0].len() + made[1].len()) as u64 + 7;
                Some(reps[r].insert(op(n), usize::from(a) % (len + 1), &s))
            }
            5 | 6 if len > 0 => {
                let at = usize::from(a) % len;
                Some(reps[r].delete(at, 1 + usize::from(b) % (len - at).min(3)))
            }
            5 | 6 => None,
            _ => {
                // Receive the other replica's ops not yet received.
                let o = 1 - r;
                for x in &made[o][had[r]..] {
                    reps[r].apply(x).map_err(fail)?;
                    if r == 0 {
                        if let Some(c) = &mut copy {
                            c.apply(x).map_err(fail)?;
                        }
                    }
                }
                had[r] = made[o].len();
                None
            }
        };
        if let Some(new) = new {
            let new = new.map_err(fail)?;
            if r == 0 {
                if let Some(c) = &mut copy {
                    c.apply(&new).map_err(fail)?;
                }
            }
            made[r].push(new);
        }
        if let Some(c) = &copy {
            prop_assert_eq!(c.to_string(), reps[0].to_string());
            for index in [0, reps[0].len() / 2, reps[0].len()] {
                prop_assert_eq!(c.origins_at(index), reps[0].origins_at(index));
            }
        }
    }
    let bytes = reps[0].encode();
    if let Some(c) = &copy {
        prop_assert_eq!(c.encode(), bytes.clone());
    }
    Ok(bytes)
}

const LISTS: [&str; 2] = ["a", "b"];

/// As [`run_text`], for lists of elements with moves and deletes.
fn run_lists(steps: &[Step]) -> Result<Vec<u8>, TestCaseError> {
    let mut reps: [Lists<String>; 2] = [Lists::new(), Lists::new()];
    let mut made: [Vec<ListOp<String>>; 2] = [Vec::new(), Vec::new()];
    let mut had = [0usize; 2];
    let mut copy: Option<Lists<String>> = None;
    let mut height = 0;
    let mut all = Vec::new();
    for (i, &(r, kind, a, b)) in steps.iter().enumerate() {
        if i == steps.len() / 2 {
            let bytes = reps[0].encode();
            let decoded = Lists::<String>::decode(&bytes).map_err(fail)?;
            prop_assert_eq!(decoded.encode(), bytes);
            decoded.check_index().map_err(TestCaseError::fail)?;
            copy = Some(decoded);
        }
        height += 1;
        let n = (made[0].len() + made[1].len()) as u64 + 7;
        let st = stamp(height, r as u8 + 1, n);
        let list = LISTS[usize::from(b) % 2].to_string();
        let visible: Vec<_> = LISTS
            .iter()
            .flat_map(|l| reps[r].elements(&l.to_string()))
            .collect();
        let new = match kind {
            0..=3 => {
                all.push(st.op);
                let index = usize::from(a) % (reps[r].len(&list) + 1);
                Some(reps[r].insert_at(st, list, index))
            }
            4 | 5 if !visible.is_empty() => {
                let e = visible[usize::from(a) % visible.len()];
                let index = usize::from(b / 2) % (reps[r].len(&list) + 1);
                Some(reps[r].move_to(st, e, list, index))
            }
            6 if !visible.is_empty() => {
                Some(reps[r].delete(visible[usize::from(a) % visible.len()]))
            }
            4..=6 => None,
            _ => {
                let o = 1 - r;
                for x in &made[o][had[r]..] {
                    reps[r].apply(x).map_err(fail)?;
                    if r == 0 {
                        if let Some(c) = &mut copy {
                            c.apply(x).map_err(fail)?;
                        }
                    }
                }
                had[r] = made[o].len();
                None
            }
        };
        if let Some(new) = new {
            let new = new.map_err(fail)?;
            if r == 0 {
                if let Some(c) = &mut copy {
                    c.apply(&new).map_err(fail)?;
                }
            }
            made[r].push(new);
        }
        if let Some(c) = &copy {
            for l in LISTS {
                let l = l.to_string();
                prop_assert_eq!(c.elements(&l), reps[0].elements(&l));
                prop_assert_eq!(c.origins_at(&l, 0), reps[0].origins_at(&l, 0));
            }
            for &e in &all {
                prop_assert_eq!(c.find(e), reps[0].find(e));
                prop_assert_eq!(c.winner(e), reps[0].winner(e));
                prop_assert_eq!(c.is_deleted(e), reps[0].is_deleted(e));
            }
        }
    }
    let bytes = reps[0].encode();
    if let Some(c) = &copy {
        prop_assert_eq!(c.encode(), bytes.clone());
    }
    Ok(bytes)
}

/// Whatever `Text::decode` accepts can be read and edited without a panic.
fn use_text(bytes: &[u8]) {
    if let Ok(t) = Text::decode(bytes) {
        let s = t.to_string();
        let mut t2 = t.clone();
        let _ = t.spans(0, t.len());
        let _ = t2.insert(op(1 << 40), t.len() / 2, "z");
        let _ = t2.delete(0, t2.len().min(2));
        assert!(s.chars().count() == t.len());
    }
}

/// Whatever `Lists::decode` accepts can be read and edited without a panic.
fn use_lists(bytes: &[u8]) {
    if let Ok(mut l) = Lists::<String>::decode(bytes) {
        for name in l.lists().cloned().collect::<Vec<_>>() {
            let els = l.elements(&name);
            assert_eq!(els.len(), l.len(&name));
            let _ = l.insert_at(stamp(1 << 20, 9, 1 << 40), name.clone(), 0);
            if let Some(&e) = els.first() {
                let _ = l.move_to(stamp(1 << 21, 9, 1 << 41), e, name.clone(), 1);
                let _ = l.delete(e);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn a_decoded_text_is_the_replica(steps in steps()) {
        run_text(&steps)?;
    }

    #[test]
    fn decoded_lists_are_the_replica(steps in steps()) {
        run_lists(&steps)?;
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn damaged_snapshots_are_refused_without_a_panic(
        steps in steps(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        for bytes in [run_text(&steps)?, run_lists(&steps)?] {
            // Every strict prefix is refused.
            for cut in 0..bytes.len() {
                prop_assert!(Text::decode(&bytes[..cut]).is_err());
                prop_assert!(Lists::<String>::decode(&bytes[..cut]).is_err());
            }
            let mut damaged = bytes.clone();
            for (at, x) in &flips {
                let i = at.index(damaged.len());
                damaged[i] ^= x;
            }
            use_text(&damaged);
            use_lists(&damaged);
        }
    }

    #[test]
    fn random_bytes_are_refused_without_a_panic(
        kind in prop::sample::select(vec![b'T', b'L']),
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = vec![2, kind];
        bytes.extend(body);
        use_text(&bytes);
        use_lists(&bytes);
        if !matches!(bytes.get(2), Some(&1 | &2)) {
            prop_assert!(Text::decode(&bytes[2..]).is_err());
        }
    }
}

#[test]
fn a_snapshot_names_its_version_and_kind() {
    let mut t = Text::new();
    t.insert(op(1), 0, "hello").unwrap();
    let bytes = t.encode();
    assert_eq!(&bytes[..2], &[2, b'T']);
    assert_eq!(Text::decode(&bytes).unwrap().to_string(), "hello");
    // Version 1: the same without the text first.
    let mut v1 = vec![1, b'T'];
    v1.extend(&bytes[2 + 1 + 5..]);
    assert_eq!(Text::decode(&v1).unwrap().to_string(), "hello");
    assert_eq!(Text::decode_string(&v1).unwrap(), "hello");
    let mut other = bytes.clone();
    other[0] = 3;
    assert!(matches!(
        Text::decode(&other),
        Err(SeqError::BadSnapshot(_))
    ));
    assert!(matches!(
        Lists::<String>::decode(&bytes),
        Err(SeqError::BadSnapshot(_))
    ));
    // The text read first must be the runs' text.
    let mut lying = bytes.clone();
    lying[3] = b'j';
    assert_eq!(Text::decode_string(&lying).unwrap(), "jello");
    assert!(matches!(
        Text::decode(&lying),
        Err(SeqError::BadSnapshot(_))
    ));
    let mut longer = bytes;
    longer.push(0);
    assert!(Text::decode(&longer).is_err());
    assert_eq!(Text::decode(&Text::new().encode()).unwrap().to_string(), "");
}
