//! What the user asks of the board, and how each request becomes one commit.
//!
//! [`apply`] runs on the worker thread, never on the UI's: each [`Command`] is one
//! transaction (so one undo step), checked against the document as it is when it runs, since a
//! peer may have moved or deleted what the UI showed.

use weft_dag::{Author, DocId, OpId, Place, Repo, Role, Value};

use crate::{
    board::{self, Board},
    error::Error,
};

/// Where a moved item goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Right before this item (element id), in its list.
    Before(OpId),
    /// At the end of this list (list id).
    End(String),
}

/// One request from the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Adds a list at the end of the board.
    AddList {
        /// Its name.
        name: String,
    },
    /// Renames a list (also settles a conflict on its name).
    RenameList {
        /// The list's id.
        list: String,
        /// The new name.
        name: String,
    },
    /// Adds an item at the end of a list.
    AddItem {
        /// The list's id.
        list: String,
        /// Its title.
        title: String,
    },
    /// Replaces `deleted` characters of an item's title at `index` with `inserted` (a text
    /// edit, which merges with concurrent typing).
    EditTitle {
        /// The item's id.
        item: String,
        /// Where, in characters.
        index: usize,
        /// How many characters go.
        deleted: usize,
        /// What comes in.
        inserted: String,
    },
    /// Ticks or unticks an item (also settles a conflict on it).
    SetDone {
        /// The item's id.
        item: String,
        /// Ticked.
        done: bool,
    },
    /// Deletes an item.
    Delete {
        /// The item's element id.
        elem: OpId,
    },
    /// Moves an item within its list or to another list.
    Move {
        /// The item's element id.
        elem: OpId,
        /// Where it goes.
        to: Target,
    },
    /// Undoes this device's newest change not yet undone.
    Undo,
    /// Redoes the last undo.
    Redo,
    /// Sets the name of this device (`people/KEY/name`).
    SetMyName {
        /// The name.
        name: String,
    },
    /// Grants a role to a key, or to the one key with that name.
    Grant {
        /// A key (64 hex digits) or a name.
        who: String,
        /// The role.
        role: Role,
    },
    /// Revokes a key's role.
    Revoke {
        /// The key.
        who: Author,
    },
}

/// What applying a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// One change was committed.
    Committed,
    /// Nothing was left to do (an empty edit, nothing to undo).
    Nothing,
}

/// The key `who` names: 64 hex digits, or the name of exactly one person of `board`.
pub fn resolve_person(board: &Board, who: &str) -> Result<Author, Error> {
    let who = who.trim();
    if let Ok(key) = who.parse::<Author>() {
        if key.is_usable() {
            return Ok(key);
        }
    }
    match board.keys_named(who).as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::UnknownPerson { who: who.into() }),
        _ => Err(Error::AmbiguousName { name: who.into() }),
    }
}

/// Runs `command` on `doc` of `repo`: one commit, or nothing.
pub fn apply(repo: &Repo, doc: DocId, command: &Command) -> Result<Outcome, Error> {
    let board = Board::read(repo.view(doc).state())?;
    let mut tx = repo.transaction(doc);
    match command {
        Command::AddList { name } => {
            let id = board::new_id();
            tx.list_push(board::LISTS, id.as_str())?;
            tx.set(&board::list_name_key(&id), name.trim())?;
        }
        Command::RenameList { list, name } => {
            board
                .list(list)
                .ok_or_else(|| Error::NoSuchList { id: list.clone() })?;
            tx.set(&board::list_name_key(list), name.trim())?;
        }
        Command::AddItem { list, title } => {
            board
                .list(list)
                .ok_or_else(|| Error::NoSuchList { id: list.clone() })?;
            let title = title.trim();
            if title.is_empty() {
                return Ok(Outcome::Nothing);
            }
            let id = board::new_id();
            tx.list_push(&board::items_key(list), id.as_str())?;
            tx.text_insert(&board::title_key(&id), 0, title)?;
            tx.set(&board::done_key(&id), false)?;
        }
        Command::EditTitle {
            item,
            index,
            deleted,
            inserted,
        } => {
            let (_, it) = board
                .item(item)
                .ok_or_else(|| Error::NoSuchItem { id: item.clone() })?;
            // The UI's text may be older than the document's: clamp to what is there now.
            let len = it.title.chars().count();
            let index = (*index).min(len);
            let deleted = (*deleted).min(len - index);
            if deleted == 0 && inserted.is_empty() {
                return Ok(Outcome::Nothing);
            }
            tx.text_splice(&board::title_key(item), index, deleted, inserted)?;
        }
        Command::SetDone { item, done } => {
            board
                .item(item)
                .ok_or_else(|| Error::NoSuchItem { id: item.clone() })?;
            tx.set(&board::done_key(item), *done)?;
        }
        Command::Delete { elem } => {
            tx.list_delete(*elem)?;
        }
        Command::Move { elem, to } => {
            let place = match to {
                Target::Before(other) if other == elem => return Ok(Outcome::Nothing),
                Target::Before(other) => Place::Before(*other),
                Target::End(list) => {
                    let l = board
                        .list(list)
                        .ok_or_else(|| Error::NoSuchList { id: list.clone() })?;
                    // The index counts the list as it is, the item itself included.
                    Place::At(board::items_key(list), l.items.len())
                }
            };
            tx.list_move(*elem, place)?;
        }
        Command::Undo => {
            drop(tx);
            return Ok(match repo.undo(doc)? {
                Some(_) => Outcome::Committed,
                None => Outcome::Nothing,
            });
        }
        Command::Redo => {
            drop(tx);
            return Ok(match repo.redo(doc)? {
                Some(_) => Outcome::Committed,
                None => Outcome::Nothing,
            });
        }
        Command::SetMyName { name } => {
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::EmptyName);
            }
            tx.set(&board::person_key(&repo.author()), name)?;
        }
        Command::Grant { who, role } => {
            let key = resolve_person(&board, who)?;
            tx.grant(key, *role)?;
        }
        Command::Revoke { who } => {
            tx.revoke(*who)?;
        }
    }
    Ok(match tx.commit()? {
        Some(_) => Outcome::Committed,
        None => Outcome::Nothing,
    })
}

/// Makes a new board in `doc`: the lists "Todo" and "Done", and this device's name.
pub fn seed(repo: &Repo, doc: DocId, my_name: &str) -> Result<(), Error> {
    let mut tx = repo.transaction(doc);
    for name in ["Todo", "Done"] {
        let id = board::new_id();
        tx.list_push(board::LISTS, id.as_str())?;
        tx.set(&board::list_name_key(&id), name)?;
    }
    tx.set(&board::person_key(&repo.author()), Value::from(my_name))?;
    tx.commit()?;
    Ok(())
}
