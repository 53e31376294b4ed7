//! The per-key diffs of an applied batch: the touched keys' state read before staging and
//! again after the commit, under the write lock, so the cost is two reads per key the batch's
//! ops name, whatever the size of the document.

use std::collections::{BTreeMap, HashMap, HashSet};

use weft_store::Store;

use crate::{
    change::{Change, Op, OpId, OpRef},
    events::{Diff, ElementDiff, KeyDiff},
    id::DocId,
    seqdoc::{Element, SeqCache},
    state::{read_entry, Entry},
    value::Value,
};

/// The state of the keys a batch names, read before it is staged.
#[derive(Debug, Default)]
pub(crate) struct Before(BTreeMap<(DocId, String), Option<Entry>>);

/// The diffs of a committed batch, by document, each sorted by key.
pub(crate) type Diffs = BTreeMap<DocId, Vec<KeyDiff>>;

impl Before {
    /// Reads the state of every key that `changes` name (a key read once however many changes
    /// name it). A key whose state cannot be read is left out of the diffs.
    pub(crate) fn read<'c>(
        store: &Store,
        seq: &SeqCache,
        changes: impl IntoIterator<Item = &'c Change>,
    ) -> Before {
        let mut before = BTreeMap::new();
        for change in changes {
            let Some(doc) = change.doc else { continue };
            let mut keys = change.keys();
            // A move takes its element out of the list it is in now, and a delete or a set acts
            // there too, whatever list its author saw it in.
            for op in &change.ops {
                if let Op::ListMove {
                    elem: OpRef::There(elem),
                    ..
                }
                | Op::ListDelete {
                    elem: OpRef::There(elem),
                    ..
                }
                | Op::ListSet {
                    elem: OpRef::There(elem),
                    ..
                } = op
                {
                    match seq.get(store, &doc) {
                        Ok(d) => keys.extend(d.lists.find(*elem).map(|(k, _)| k.clone())),
                        Err(e) => tracing::debug!("no diff for a move: {e}"),
                    }
                }
            }
            for key in keys {
                if before.contains_key(&(doc, key.clone())) {
                    continue;
                }
                match read_entry(store, seq, &doc, &key) {
                    Ok(entry) => {
                        before.insert((doc, key), entry);
                    }
                    Err(e) => tracing::debug!("no diff for {key}: {e}"),
                }
            }
        }
        Before(before)
    }

    /// Reads the same keys again, after the commit, and compares.
    pub(crate) fn after(self, store: &Store, seq: &SeqCache) -> Diffs {
        let mut diffs = Diffs::new();
        for ((doc, key), old) in self.0 {
            let new = match read_entry(store, seq, &doc, &key) {
                Ok(new) => new,
                Err(e) => {
                    tracing::debug!("no diff for {key}: {e}");
                    continue;
                }
            };
            if let Some(diff) = diff(&key, old.as_ref(), new.as_ref()) {
                diffs.entry(doc).or_default().push(KeyDiff { key, diff });
            }
        }
        diffs
    }
}

/// What changed from `old` to `new` (a key's state, as [`State::entry`](crate::State::entry) reads
/// it), or `None` if nothing visible did: the diff a [`Batch`](crate::Batch) carries.
pub fn diff(key: &str, old: Option<&Entry>, new: Option<&Entry>) -> Option<Diff> {
    let visible = |e: &Entry| e.value(key).ok();
    match (old, new) {
        (_, None) => Some(Diff::Deleted {
            old: visible(old?)?,
        }),
        (_, Some(Entry::Register(vals))) => {
            let winner = vals.first()?.value.clone();
            let conflict = vals.len() > 1;
            let (old_value, was_conflict) = match old {
                Some(Entry::Register(o)) => (o.first().map(|v| v.value.clone()), o.len() > 1),
                _ => (None, false),
            };
            if old_value.as_ref() == Some(&winner) && was_conflict == conflict {
                return None;
            }
            Some(Diff::Register {
                old: old_value,
                new: winner,
                conflict,
            })
        }
        (_, Some(e @ Entry::Counter(_))) => {
            let sum = |e: Option<&Entry>| match e.and_then(visible) {
                Some(Value::Int(n)) => n,
                _ => 0,
            };
            let value = sum(Some(e));
            let before = match old {
                Some(o @ Entry::Counter(_)) => sum(Some(o)),
                _ => 0,
            };
            let delta = value.wrapping_sub(before);
            let was_counter = matches!(old, Some(Entry::Counter(_)));
            if delta == 0 && was_counter {
                return None;
            }
            Some(Diff::Counter { delta, value })
        }
        (_, Some(Entry::Set(members))) => {
            let before: &[(Value, _)] = match old {
                Some(Entry::Set(o)) => o,
                _ => &[],
            };
            let has = |list: &[(Value, _)], m: &Value| list.iter().any(|(v, _)| v == m);
            let added: Vec<Value> = members
                .iter()
                .filter(|(m, _)| !has(before, m))
                .map(|(m, _)| m.clone())
                .collect();
            let removed: Vec<Value> = before
                .iter()
                .filter(|(m, _)| !has(members, m))
                .map(|(m, _)| m.clone())
                .collect();
            if added.is_empty() && removed.is_empty() {
                return None;
            }
            Some(Diff::Set { added, removed })
        }
        (_, Some(Entry::List(after))) => {
            let before: &[Element] = match old {
                Some(Entry::List(o)) => o,
                _ => &[],
            };
            list_diff(before, after)
        }
        (_, Some(Entry::Text(after))) => {
            let before = match old {
                Some(Entry::Text(o)) => o.as_str(),
                _ => "",
            };
            text_diff(before, after)
        }
    }
}

fn list_diff(before: &[Element], after: &[Element]) -> Option<Diff> {
    let old_index: HashMap<OpId, usize> =
        before.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    let new_ids: HashSet<OpId> = after.iter().map(|e| e.id).collect();
    let at = |index: usize, e: &Element| ElementDiff {
        id: e.id,
        index,
        value: e.value.clone(),
    };
    let removed: Vec<ElementDiff> = before
        .iter()
        .enumerate()
        .filter(|(_, e)| !new_ids.contains(&e.id))
        .map(|(i, e)| at(i, e))
        .collect();
    let mut inserted = Vec::new();
    let mut updated = Vec::new();
    // The elements in both lists, by new index, with their old index.
    let mut kept: Vec<(usize, usize)> = Vec::new();
    for (i, e) in after.iter().enumerate() {
        match old_index.get(&e.id) {
            None => inserted.push(at(i, e)),
            Some(&o) => {
                if before[o].value != e.value {
                    updated.push(at(i, e));
                }
                kept.push((i, o));
            }
        }
    }
    // The kept elements that are not in a longest run of increasing old indexes moved.
    let stay = longest_increasing(&kept.iter().map(|(_, o)| *o).collect::<Vec<_>>());
    let moved: Vec<ElementDiff> = kept
        .iter()
        .enumerate()
        .filter(|(k, _)| !stay.contains(k))
        .map(|(_, (i, _))| at(*i, &after[*i]))
        .collect();
    if inserted.is_empty() && removed.is_empty() && moved.is_empty() && updated.is_empty() {
        return None;
    }
    Some(Diff::List {
        inserted,
        removed,
        moved,
        updated,
    })
}

/// The positions in `xs` of one longest strictly increasing subsequence (patience sorting,
/// `O(n log n)`).
fn longest_increasing(xs: &[usize]) -> HashSet<usize> {
    // tails[k]: the position of the smallest last value of an increasing run of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; xs.len()];
    for (p, x) in xs.iter().enumerate() {
        let k = tails.partition_point(|&t| xs[t] < *x);
        prev[p] = k.checked_sub(1).map(|j| tails[j]);
        if k == tails.len() {
            tails.push(p);
        } else {
            tails[k] = p;
        }
    }
    let mut out = HashSet::new();
    let mut at = tails.last().copied();
    while let Some(p) = at {
        out.insert(p);
        at = prev[p];
    }
    out
}

fn text_diff(before: &str, after: &str) -> Option<Diff> {
    if before == after {
        return None;
    }
    let b: Vec<char> = before.chars().collect();
    let a: Vec<char> = after.chars().collect();
    let prefix = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = b[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    Some(Diff::Text {
        index: prefix,
        deleted: b.len() - prefix - suffix,
        inserted: a[prefix..a.len() - suffix].iter().collect(),
    })
}
