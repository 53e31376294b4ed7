//! The board: how the app's lists and items are laid out in one weft document, and the
//! immutable [`Board`] the UI draws, read in one consistent view.
//!
//! Keys of the document:
//! - `lists`: a list whose elements are the lists' ids (random, made here), in board order;
//! - `list/ID/name`: a register, the list's name;
//! - `items/ID`: a list whose elements are item ids, the items of list `ID` in order. An item
//!   moved to another list keeps its element id and its item id (`done.push(meet)`);
//! - `item/ID/title`: a text, so that two people typing in one title merge;
//! - `item/ID/done`: a register (`true` or `false`), which two replicas may set concurrently;
//! - `people/KEY/name`: a register, the name that the key's owner gave its device.

use std::collections::BTreeMap;

use weft_dag::{Author, Entry, OpId, State, Value};

/// The list of lists.
pub const LISTS: &str = "lists";

/// The key of the list holding list `list`'s items.
pub fn items_key(list: &str) -> String {
    format!("items/{list}")
}

/// The key of list `list`'s name.
pub fn list_name_key(list: &str) -> String {
    format!("list/{list}/name")
}

/// The key of item `item`'s title (a text).
pub fn title_key(item: &str) -> String {
    format!("item/{item}/title")
}

/// The key of item `item`'s done flag (a register).
pub fn done_key(item: &str) -> String {
    format!("item/{item}/done")
}

/// The key of the name that `who` gave itself.
pub fn person_key(who: &Author) -> String {
    format!("people/{who}/name")
}

/// The item or list id that key `key` is about, if any.
pub fn subject_of(key: &str) -> Option<&str> {
    let rest = key
        .strip_prefix("item/")
        .or_else(|| key.strip_prefix("items/"))
        .or_else(|| key.strip_prefix("list/"))?;
    rest.split('/').next().filter(|id| !id.is_empty())
}

/// A new id for a list or an item: 16 random hex digits.
pub fn new_id() -> String {
    let mut bytes = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One of concurrent register values, and who wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The value.
    pub value: Value,
    /// Its author.
    pub author: Author,
}

/// A register as the UI shows it: the winner, and every concurrent value when there are
/// several (a conflict, which the user may settle by picking one).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Register {
    /// The value a read returns (`None` when unset).
    pub value: Option<Value>,
    /// Every live value, winner first; more than one is a conflict.
    pub candidates: Vec<Candidate>,
}

impl Register {
    fn read(state: &State<'_>, key: &str) -> Result<Register, weft_dag::Error> {
        match state.entry(key)? {
            Some(Entry::Register(values)) => Ok(Register {
                value: values.first().map(|v| v.value.clone()),
                candidates: values
                    .into_iter()
                    .map(|v| Candidate {
                        value: v.value,
                        author: v.author,
                    })
                    .collect(),
            }),
            _ => Ok(Register::default()),
        }
    }

    /// Whether concurrent values are live.
    pub fn is_conflict(&self) -> bool {
        self.candidates.len() > 1
    }
}

/// One item of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The element's id in its list (kept when it moves).
    pub elem: OpId,
    /// The item's own id, which its keys name.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Ticked.
    pub done: bool,
    /// The done flag's register, with its concurrent values.
    pub done_register: Register,
}

/// One list of the board.
#[derive(Debug, Clone, PartialEq)]
pub struct List {
    /// The element's id in `lists`.
    pub elem: OpId,
    /// The list's id, which its keys name.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The name's register, with its concurrent values.
    pub name_register: Register,
    /// Its items, in order.
    pub items: Vec<Item>,
}

/// The whole board, as one view of the document saw it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Board {
    /// The lists, in order.
    pub lists: Vec<List>,
    /// The names people gave their devices, by key.
    pub names: BTreeMap<Author, String>,
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Board {
    /// Reads the board from `state` (one view: every read sees the same state).
    pub fn read(state: &State<'_>) -> Result<Board, weft_dag::Error> {
        let mut lists = Vec::new();
        for l in state.elements(LISTS)? {
            let id = as_text(&l.value);
            let name_register = Register::read(state, &list_name_key(&id))?;
            let name = name_register
                .value
                .as_ref()
                .map(as_text)
                .unwrap_or_default();
            let mut items = Vec::new();
            for e in state.elements(&items_key(&id))? {
                let item = as_text(&e.value);
                let done_register = Register::read(state, &done_key(&item))?;
                items.push(Item {
                    elem: e.id,
                    title: state.text(&title_key(&item))?.unwrap_or_default(),
                    done: matches!(done_register.value, Some(Value::Bool(true))),
                    done_register,
                    id: item,
                });
            }
            lists.push(List {
                elem: l.id,
                id,
                name,
                name_register,
                items,
            });
        }
        let mut names = BTreeMap::new();
        for (key, value) in state.list("people/")? {
            let who = key
                .strip_prefix("people/")
                .and_then(|k| k.strip_suffix("/name"))
                .and_then(|k| k.parse::<Author>().ok());
            if let Some(who) = who {
                names.insert(who, as_text(&value));
            }
        }
        Ok(Board { lists, names })
    }

    /// The list with id `id`.
    pub fn list(&self, id: &str) -> Option<&List> {
        self.lists.iter().find(|l| l.id == id)
    }

    /// The item with id `id`, and the list that holds it.
    pub fn item(&self, id: &str) -> Option<(&List, &Item)> {
        self.lists
            .iter()
            .find_map(|l| l.items.iter().find(|i| i.id == id).map(|i| (l, i)))
    }

    /// What to call `who`: the name it gave itself, else its short key.
    pub fn name_of(&self, who: &Author) -> String {
        self.names.get(who).cloned().unwrap_or_else(|| who.short())
    }

    /// The keys whose name is `name` (names are not unique).
    pub fn keys_named(&self, name: &str) -> Vec<Author> {
        self.names
            .iter()
            .filter(|(_, n)| n.as_str() == name)
            .map(|(a, _)| *a)
            .collect()
    }
}

/// The edit that turns `old` into `new`: `(index, deleted, inserted)` in characters, the
/// common prefix and suffix left alone; `None` if they are equal.
pub fn text_edit(old: &str, new: &str) -> Option<(usize, usize, String)> {
    if old == new {
        return None;
    }
    let a: Vec<char> = old.chars().collect();
    let b: Vec<char> = new.chars().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let deleted = a.len() - prefix - suffix;
    let inserted: String = b[prefix..b.len() - suffix].iter().collect();
    Some((prefix, deleted, inserted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_edit_keeps_the_common_prefix_and_suffix() {
        assert_eq!(text_edit("milk", "milk"), None);
        assert_eq!(text_edit("milk", "soy milk"), Some((0, 0, "soy ".into())));
        assert_eq!(text_edit("milk", "mink"), Some((2, 1, "n".into())));
        assert_eq!(text_edit("héllo", "hello"), Some((1, 1, "e".into())));
        assert_eq!(text_edit("aaa", "aa"), Some((2, 1, String::new())));
        assert_eq!(text_edit("", "x"), Some((0, 0, "x".into())));
    }

    #[test]
    fn keys_name_their_subject() {
        assert_eq!(subject_of(&title_key("ab12")), Some("ab12"));
        assert_eq!(subject_of(&items_key("ff")), Some("ff"));
        assert_eq!(subject_of(&list_name_key("l1")), Some("l1"));
        assert_eq!(subject_of("people/x/name"), None);
        assert_eq!(subject_of("item/"), None);
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }
}
