//! The per-key diffs of an applied batch: the touched keys' state read before staging and
//! again after the commit, under the write lock, so the cost is two reads per key the batch's
//! ops name, whatever the size of the document.

use std::collections::BTreeMap;

use weft_store::Store;

use crate::{
    change::Change,
    events::{Diff, KeyDiff},
    id::DocId,
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
    pub(crate) fn read<'c>(store: &Store, changes: impl IntoIterator<Item = &'c Change>) -> Before {
        let mut before = BTreeMap::new();
        for change in changes {
            let Some(doc) = change.doc else { continue };
            for key in change.keys() {
                if before.contains_key(&(doc, key.clone())) {
                    continue;
                }
                match read_entry(store, &doc, &key) {
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
    pub(crate) fn after(self, store: &Store) -> Diffs {
        let mut diffs = Diffs::new();
        for ((doc, key), old) in self.0 {
            let new = match read_entry(store, &doc, &key) {
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

/// What changed from `old` to `new`, or `None` if nothing visible did.
pub(crate) fn diff(key: &str, old: Option<&Entry>, new: Option<&Entry>) -> Option<Diff> {
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
    }
}
