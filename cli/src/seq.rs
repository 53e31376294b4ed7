//! The list and text commands: `list push/insert/move/rm/set/ls` and `text insert/delete/edit`.
//! Each write is a [`SeqWrite`], which `batch` parses from its lines too; each commits one
//! change. `text edit` runs the editor in this process and the rest through `weft text show`
//! and `weft text apply` (so that it works while another weft process holds the repo).

use std::{
    ffi::OsString,
    io::Write,
    path::Path,
    process::{Command as Process, Stdio},
};

use anyhow::{anyhow, bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use weft_dag::{Cid, DocId, OpId, Place, Repo, Transaction, Value};

use crate::{
    args::{ListCommand, TextCommand},
    out::{emit, usage, Outcome, Output},
    parse,
    read::Reader,
};

/// A list element's id: `CID/INDEX`, as `weft list push` and `weft list ls` print it; the CID
/// may be a unique prefix, as `weft log` prints (resolved on `repo`; without one, only the
/// form is checked and the id returned names nothing).
pub(crate) fn element(repo: Option<&weft_dag::Repo>, s: &str) -> Result<OpId> {
    let bad = || {
        usage(format!(
            "invalid element id {}: expected CID/INDEX, as `weft list ls` prints",
            weft_dag::clip(s)
        ))
    };
    let (cid, index) = s.rsplit_once('/').ok_or_else(bad)?;
    let index = index.parse().map_err(|_| bad())?;
    let change = match repo {
        Some(repo) => crate::rev::cid(repo, cid)?,
        None => {
            crate::rev::check_cid(cid)?;
            Cid::from_digest(weft_dag::Codec::Raw, [0; 32])
        }
    };
    Ok(OpId { change, index })
}

/// Where `list move` puts an element.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Before(OpId),
    After(OpId),
    To(String, Option<usize>),
}

/// One list or text write, from the command line or a `batch` line.
#[derive(Debug, Clone)]
pub(crate) enum SeqWrite {
    Push {
        key: String,
        value: Value,
        next_to: Option<(OpId, bool)>,
    },
    Insert {
        key: String,
        index: usize,
        value: Value,
    },
    Move {
        key: String,
        id: OpId,
        target: Target,
    },
    Rm {
        key: String,
        id: OpId,
    },
    Set {
        key: String,
        id: OpId,
        value: Value,
    },
    TextInsert {
        key: String,
        pos: usize,
        string: String,
    },
    TextDelete {
        key: String,
        pos: usize,
        len: usize,
    },
}

impl SeqWrite {
    /// The write a `list` command asks for; `None` for `list ls`.
    /// Element ids are resolved on `repo` (CID prefixes); without one only their form is
    /// checked.
    pub(crate) fn from_list(cmd: &ListCommand, repo: Option<&Repo>) -> Result<Option<SeqWrite>> {
        let element = |s: &str| self::element(repo, s);
        Ok(Some(match cmd {
            ListCommand::Push {
                key,
                value,
                before,
                after,
            } => SeqWrite::Push {
                key: key.clone(),
                value: parse::value(value)?,
                next_to: match (before, after) {
                    (Some(b), _) => Some((element(b)?, false)),
                    (_, Some(a)) => Some((element(a)?, true)),
                    _ => None,
                },
            },
            ListCommand::Insert { key, index, value } => SeqWrite::Insert {
                key: key.clone(),
                index: *index,
                value: parse::value(value)?,
            },
            ListCommand::Move {
                key,
                id,
                before,
                after,
                to,
                index,
            } => SeqWrite::Move {
                key: key.clone(),
                id: element(id)?,
                target: match (before, after, to) {
                    (Some(b), _, _) => Target::Before(element(b)?),
                    (_, Some(a), _) => Target::After(element(a)?),
                    (_, _, Some(to)) => Target::To(to.clone(), *index),
                    _ => return Err(usage("`list move` needs --before, --after or --to")),
                },
            },
            ListCommand::Rm { key, id } => SeqWrite::Rm {
                key: key.clone(),
                id: element(id)?,
            },
            ListCommand::Set { key, id, value } => SeqWrite::Set {
                key: key.clone(),
                id: element(id)?,
                value: parse::value(value)?,
            },
            ListCommand::Ls { .. } => return Ok(None),
        }))
    }

    /// The write a `text insert` or `text delete` asks for.
    pub(crate) fn from_text(cmd: &TextCommand) -> Option<SeqWrite> {
        match cmd {
            TextCommand::Insert { key, pos, string } => Some(SeqWrite::TextInsert {
                key: key.clone(),
                pos: *pos,
                string: string.clone(),
            }),
            TextCommand::Delete { key, pos, len } => Some(SeqWrite::TextDelete {
                key: key.clone(),
                pos: *pos,
                len: *len,
            }),
            _ => None,
        }
    }

    /// The list or text written.
    pub(crate) fn key(&self) -> &str {
        match self {
            SeqWrite::Push { key, .. }
            | SeqWrite::Insert { key, .. }
            | SeqWrite::Move { key, .. }
            | SeqWrite::Rm { key, .. }
            | SeqWrite::Set { key, .. }
            | SeqWrite::TextInsert { key, .. }
            | SeqWrite::TextDelete { key, .. } => key,
        }
    }

    /// Stages the write; returns the new element's (pending) id for `push` and `insert`.
    pub(crate) fn stage(&self, tx: &mut Transaction<'_>) -> Result<Option<OpId>> {
        match self {
            SeqWrite::Push {
                key,
                value,
                next_to: None,
            } => return Ok(Some(tx.list_push(key, value.clone())?)),
            SeqWrite::Push {
                key,
                value,
                next_to: Some((other, after)),
            } => {
                in_list(tx, key, *other)?;
                return Ok(Some(tx.list_insert_next_to(
                    *other,
                    *after,
                    value.clone(),
                )?));
            }
            SeqWrite::Insert { key, index, value } => {
                return Ok(Some(tx.list_insert(key, *index, value.clone())?))
            }
            SeqWrite::Move { key, id, target } => {
                in_list(tx, key, *id)?;
                let place = match target {
                    Target::Before(o) => Place::Before(*o),
                    Target::After(o) => Place::After(*o),
                    Target::To(to, index) => {
                        let index = match index {
                            Some(i) => *i,
                            None => tx.list_len(to)?,
                        };
                        Place::At(to.clone(), index)
                    }
                };
                tx.list_move(*id, place)?;
            }
            SeqWrite::Rm { key, id } => {
                in_list(tx, key, *id)?;
                tx.list_delete(*id)?;
            }
            SeqWrite::Set { key, id, value } => {
                in_list(tx, key, *id)?;
                tx.list_set(*id, value.clone())?;
            }
            SeqWrite::TextInsert { key, pos, string } => {
                if !string.is_empty() {
                    tx.text_insert(key, *pos, string)?;
                }
            }
            SeqWrite::TextDelete { key, pos, len } => {
                tx.text_delete(key, *pos, *len)?;
            }
        }
        Ok(None)
    }
}

/// Refuses an element that is not in the list the command names.
fn in_list(tx: &mut Transaction<'_>, key: &str, id: OpId) -> Result<()> {
    if tx.list_elements(key)?.iter().any(|e| e.id == id) {
        return Ok(());
    }
    match tx.element_list(id) {
        Ok(other) => Err(usage(format!(
            "element {id} is in list {other:?}, not in {key:?}"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// A list or text written.
#[derive(Debug, Serialize)]
pub(crate) struct SeqWritten {
    /// The change committed; `None` when nothing changed.
    pub cid: Option<String>,
    pub key: String,
    /// `list push` and `list insert`: the new element's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The list (an array) or the text (a string) after the write.
    pub value: Option<Json>,
}

impl Outcome for SeqWritten {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        match (&self.id, &self.cid, quiet) {
            (Some(id), _, _) => writeln!(out, "{id}")?,
            (None, _, true) => {}
            (None, Some(cid), false) => writeln!(out, "{cid}")?,
            (None, None, false) => writeln!(out, "nothing to change")?,
        }
        Ok(())
    }
}

/// Commits one list or text write and prints it.
pub(crate) fn write(
    repo: &Repo,
    doc: DocId,
    w: &SeqWrite,
    out: &mut dyn Write,
    output: Output,
) -> Result<SeqWritten> {
    let mut tx = repo.transaction(doc);
    let made = w.stage(&mut tx)?;
    let committed = tx.commit()?;
    let id = match (&committed, made) {
        (Some(c), Some(id)) => Some(c.resolve(id).to_string()),
        _ => None,
    };
    let outcome = SeqWritten {
        cid: committed.map(|c| c.cid.to_string()),
        key: w.key().to_string(),
        id,
        value: repo.state(doc).get(w.key())?.as_ref().map(Value::to_json),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// One element in `list ls`.
#[derive(Debug, Serialize)]
pub(crate) struct ListedElement {
    pub id: String,
    pub value: Json,
}

/// `weft list ls KEY`.
#[derive(Debug, Serialize)]
pub(crate) struct ListListed {
    pub key: String,
    pub elements: Vec<ListedElement>,
}

impl Outcome for ListListed {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        for e in &self.elements {
            writeln!(out, "{}\t{}", e.id, e.value)?;
        }
        Ok(())
    }
}

/// `weft list ls KEY [--at CID]`. A key that holds no list is not found.
pub(crate) fn ls(
    repo: &Repo,
    doc: DocId,
    key: &str,
    at: Option<Vec<Cid>>,
    out: &mut dyn Write,
    output: Output,
) -> Result<ListListed> {
    let reader = Reader::open(repo, doc, at)?;
    let state = reader.state();
    match state.kind(key)? {
        Some(weft_dag::Kind::List) => {}
        Some(found) => {
            return Err(weft_dag::Error::WrongType {
                key: key.into(),
                expected: weft_dag::Kind::List,
                found,
            }
            .into())
        }
        None => return Err(weft_dag::Error::KeyNotFound { key: key.into() }.into()),
    }
    let outcome = ListListed {
        key: key.to_string(),
        elements: state
            .elements(key)?
            .into_iter()
            .map(|e| ListedElement {
                id: e.id.to_string(),
                value: e.value.to_json(),
            })
            .collect(),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft text show KEY`: `text edit`'s first step.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TextShown {
    pub key: String,
    /// The text; empty if the key holds none yet.
    pub text: String,
    /// The heads it was read at.
    pub heads: Vec<String>,
}

impl Outcome for TextShown {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        writeln!(out, "{}", self.text)?;
        Ok(())
    }
}

/// `weft text show KEY`. The text and the heads are read in one view, so they agree.
pub(crate) fn show(
    repo: &Repo,
    doc: DocId,
    key: &str,
    out: &mut dyn Write,
    output: Output,
) -> Result<TextShown> {
    let view = repo.view(doc);
    let state = view.state();
    match state.kind(key)? {
        None | Some(weft_dag::Kind::Text) => {}
        Some(found) => {
            return Err(weft_dag::Error::WrongType {
                key: key.into(),
                expected: weft_dag::Kind::Text,
                found,
            }
            .into())
        }
    }
    let text = state.text(key)?.unwrap_or_default();
    let heads = view.heads()?.to_vec();
    drop(view);
    let outcome = TextShown {
        key: key.to_string(),
        text,
        heads: heads.iter().map(ToString::to_string).collect(),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft text apply KEY OLD NEW --base HEADS`: commits the difference from OLD to NEW, placed by
/// the characters of the text at BASE (which must read OLD).
pub(crate) fn apply(
    repo: &Repo,
    doc: DocId,
    key: &str,
    files: (&Path, &Path),
    base: &[Cid],
    out: &mut dyn Write,
    output: Output,
) -> Result<SeqWritten> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let (old, new) = (read(files.0)?, read(files.1)?);
    let snapshot = repo.at(doc, base)?;
    let was = snapshot.state().text(key)?.unwrap_or_default();
    if was != old {
        bail!(
            "the text {key:?} at the heads given is not the one in {}",
            files.0.display()
        );
    }
    let old_chars: Vec<char> = old.chars().collect();
    let new_chars: Vec<char> = new.chars().collect();
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &old_chars, &new_chars);
    let mut tx = repo.transaction(doc);
    let base_state = snapshot.state();
    for op in ops {
        let (at, delete, insert) = match op {
            similar::DiffOp::Equal { .. } => continue,
            similar::DiffOp::Delete {
                old_index, old_len, ..
            } => (old_index, old_len, 0..0),
            similar::DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => (old_index, 0, new_index..new_index + new_len),
            similar::DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (old_index, old_len, new_index..new_index + new_len),
        };
        let insert: String = new_chars[insert].iter().collect();
        tx.text_splice_from(key, &base_state, at, delete, &insert)?;
    }
    let committed = tx.commit()?;
    let outcome = SeqWritten {
        cid: committed.map(|c| c.cid.to_string()),
        key: key.to_string(),
        id: None,
        value: repo.state(doc).get(key)?.as_ref().map(Value::to_json),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// The arguments that make a `weft` child process use the same repo, document and key.
fn child_args(cli: &crate::args::Cli) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(dir) = &cli.chdir {
        args.push("-C".into());
        args.push(dir.into());
    }
    if let Some(doc) = &cli.doc {
        args.push("-d".into());
        args.push(doc.into());
    }
    if let Some(id) = &cli.identity {
        args.push("--identity".into());
        args.push(id.into());
    }
    args
}

/// `weft text edit KEY`: reads the text (`weft text show`), lets the user edit it in
/// `$VISUAL`/`$EDITOR`, and commits the difference (`weft text apply`). Returns the exit code of
/// the last step (which printed its own outcome or error).
pub(crate) fn edit(cli: &crate::args::Cli, key: &str, out: &mut dyn Write) -> Result<u8> {
    let exe = std::env::current_exe().context("cannot find the weft executable")?;
    let shown = Process::new(&exe)
        .args(child_args(cli))
        .args(["--json", "text", "show", "--", key])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run weft text show")?;
    if !shown.status.success() {
        return Ok(shown.status.code().map_or(1, |c| c as u8));
    }
    let shown: TextShown =
        serde_json::from_slice(&shown.stdout).context("weft text show printed no text")?;
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let old = dir.path().join("base.txt");
    let new = dir.path().join(edit_file_name(key));
    std::fs::write(&old, &shown.text).context("cannot write a temporary file")?;
    std::fs::write(&new, &shown.text).context("cannot write a temporary file")?;
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    let status = Process::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&new)
        .status()
        .with_context(|| format!("cannot run the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} failed ({status}); nothing was committed");
    }
    let saved = std::fs::read_to_string(&new)
        .with_context(|| format!("cannot read the edited text in {}", new.display()))?;
    if saved == shown.text {
        if !cli.quiet && !cli.json {
            writeln!(out, "nothing to change")?;
        } else if cli.json {
            crate::out::write_json(
                out,
                &SeqWritten {
                    cid: None,
                    key: key.to_string(),
                    id: None,
                    value: Some(Json::String(saved)),
                },
            )?;
        }
        return Ok(0);
    }
    let mut apply = Process::new(&exe);
    apply.args(child_args(cli));
    if cli.json {
        apply.arg("--json");
    }
    if cli.quiet {
        apply.arg("--quiet");
    }
    let status = apply
        .args(["text", "apply", "--base"])
        .args(&shown.heads)
        .arg("--")
        .arg(key)
        .arg(&old)
        .arg(&new)
        .stdin(Stdio::null())
        .status()
        .context("cannot run weft text apply")?;
    status
        .code()
        .map(|c| c as u8)
        .ok_or_else(|| anyhow!("weft text apply was killed ({status})"))
}

/// A file name for the editor: the key's last segment, made safe, with `.txt`.
fn edit_file_name(key: &str) -> String {
    let last = key.rsplit('/').next().unwrap_or(key);
    let safe: String = last
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("{}.txt", if safe.is_empty() { "text" } else { &safe })
}
