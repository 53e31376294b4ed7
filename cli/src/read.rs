//! The read commands: `id`, `doc ls`, `heads`, `get` (and `get --rows`), `ls`, `members`, `block get` and
//! `block stat`. Each reads the repo (at a past change with `--at`), prints, and returns what it
//! found; none writes.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value as Json;
use weft_dag::{Cid, DocId, Entry, Repo, State, Value};

use crate::out::{emit, Outcome, Output};

/// The state of a document now, or as it was at a change (`--at`).
pub(crate) enum Reader<'r> {
    Live(State<'r>),
    Past(weft_dag::Snapshot),
}

impl Reader<'_> {
    /// The state of `doc` at `at` (a change of it), or now.
    pub(crate) fn open(repo: &Repo, doc: DocId, at: Option<Vec<Cid>>) -> Result<Reader<'_>> {
        Ok(match at {
            None => Reader::Live(repo.state(doc)),
            Some(heads) => Reader::Past(repo.at(doc, &heads)?),
        })
    }

    pub(crate) fn state(&self) -> State<'_> {
        match self {
            Reader::Live(s) => s.clone(),
            Reader::Past(snap) => snap.state(),
        }
    }
}

/// `weft id`: the key this repo writes with.
#[derive(Debug, Serialize)]
pub(crate) struct Id {
    /// 64 hex digits.
    pub author: String,
}

impl Outcome for Id {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        Ok(writeln!(out, "{}", self.author)?)
    }
}

/// A named document.
#[derive(Debug, Serialize)]
pub(crate) struct DocName {
    /// `None` for a document that arrived by sync and was never named (`doc name`).
    pub name: Option<String>,
    pub id: String,
}

/// `weft doc ls`.
#[derive(Debug, Serialize)]
pub(crate) struct Docs {
    pub docs: Vec<DocName>,
}

impl Outcome for Docs {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        for d in &self.docs {
            // An unnamed document: an empty name column, then its id.
            writeln!(out, "{}\t{}", d.name.as_deref().unwrap_or(""), d.id)?;
        }
        Ok(())
    }
}

/// `weft heads`.
#[derive(Debug, Serialize)]
pub(crate) struct Heads {
    pub heads: Vec<String>,
}

impl Outcome for Heads {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        for h in &self.heads {
            writeln!(out, "{h}")?;
        }
        Ok(())
    }
}

/// `weft get KEY`.
#[derive(Debug, Serialize)]
pub(crate) struct Got {
    pub key: String,
    /// `register`, `counter` or `set`.
    pub kind: &'static str,
    /// The value (of a register with concurrent values, the one every replica picks).
    pub value: Json,
    /// Every concurrent value.
    pub values: Vec<Json>,
    /// The key holds more than one value: concurrent register values, or concurrent writes of
    /// different kinds (`others`).
    pub conflict: bool,
    /// The kinds the key also holds, which a read does not show (concurrent writes of
    /// different kinds): `{"kind", "value"}` each.
    pub others: Vec<OtherKind>,
    /// The same, as text for people.
    #[serde(skip)]
    text: Vec<String>,
    /// `--all`: print every concurrent value.
    #[serde(skip)]
    all: bool,
}

/// Another kind a key holds beside the one `get` shows.
#[derive(Debug, Serialize)]
pub(crate) struct OtherKind {
    pub kind: &'static str,
    pub value: Json,
}

impl Got {
    /// The line to print on stderr when the key holds values `get` does not show.
    pub(crate) fn conflict_note(&self) -> Option<String> {
        let n = self.text.len() - 1;
        (self.conflict && !self.all).then(|| {
            format!(
                "{key} has {n} concurrent values; `weft get {key} --all` shows them",
                key = self.key
            )
        })
    }
}

impl Outcome for Got {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        let shown = if self.all {
            &self.text[1..]
        } else {
            &self.text[..1]
        };
        for t in shown {
            writeln!(out, "{t}")?;
        }
        Ok(())
    }
}

/// `weft get PREFIX --rows`.
#[derive(Debug, Serialize)]
pub(crate) struct Rows {
    /// The prefix read, with its trailing `/`.
    pub key: String,
    /// The keys under it as one object (see `State::rows`).
    pub rows: Json,
}

impl Outcome for Rows {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        Ok(writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&self.rows)?
        )?)
    }
}

/// One key of `weft ls`.
#[derive(Debug, Serialize)]
pub(crate) struct Listed {
    pub key: String,
    pub kind: &'static str,
    /// Null when it cannot be read (`error` says why).
    pub value: Json,
    /// A register with concurrent values.
    pub conflict: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The value as text for people, or the error.
    #[serde(skip)]
    text: String,
    /// How many concurrent values a register has.
    #[serde(skip)]
    n_values: usize,
}

/// `weft ls [PREFIX]`.
#[derive(Debug, Serialize)]
pub(crate) struct Listing {
    pub entries: Vec<Listed>,
}

impl Outcome for Listing {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        for e in &self.entries {
            match (&e.error, e.conflict) {
                (Some(err), _) => writeln!(out, "{}\t<{err}>", e.key)?,
                (None, true) => writeln!(
                    out,
                    "{}\t{}\t({} concurrent values)",
                    e.key, e.text, e.n_values
                )?,
                (None, false) => writeln!(out, "{}\t{}", e.key, e.text)?,
            }
        }
        Ok(())
    }
}

/// A member of a document.
#[derive(Debug, Serialize)]
pub(crate) struct Member {
    pub key: String,
    pub role: &'static str,
    /// Its petname here (`weft member name`), if it has one.
    pub name: Option<String>,
}

/// `weft members`, the owner first.
#[derive(Debug, Serialize)]
pub(crate) struct Members {
    pub members: Vec<Member>,
}

impl Outcome for Members {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        for m in &self.members {
            match &m.name {
                Some(n) => writeln!(out, "{}\t{}\t{n}", m.key, m.role)?,
                None => writeln!(out, "{}\t{}", m.key, m.role)?,
            }
        }
        Ok(())
    }
}

/// `weft block stat CID`.
#[derive(Debug, Serialize)]
pub(crate) struct BlockStat {
    pub cid: String,
    pub size: u64,
    pub codec: &'static str,
    /// Whether the block's bytes hash to its CID.
    pub valid: bool,
    #[serde(skip)]
    codec_text: String,
}

impl Outcome for BlockStat {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        let corrupt = if self.valid { "" } else { "\tCORRUPT" };
        Ok(writeln!(
            out,
            "{}\t{} bytes\t{}{corrupt}",
            self.cid, self.size, self.codec_text
        )?)
    }
}

/// `weft id`.
pub(crate) fn id(repo: &Repo, out: &mut dyn Write, output: Output) -> Result<Id> {
    author_id(repo.author(), out, output)
}

/// `weft id` answered without the repo: the key it signs with is known here.
pub(crate) fn author_id(
    author: weft_dag::Author,
    out: &mut dyn Write,
    output: Output,
) -> Result<Id> {
    let outcome = Id {
        author: author.to_string(),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft doc ls`.
pub(crate) fn docs(repo: &Repo, out: &mut dyn Write, output: Output) -> Result<Docs> {
    let named = repo.docs()?;
    let mut docs: Vec<DocName> = named
        .iter()
        .map(|(name, id)| DocName {
            name: Some(name.clone()),
            id: id.to_string(),
        })
        .collect();
    // Then those without a name (arrived by sync), by id.
    for id in repo.doc_ids()? {
        if !named.iter().any(|(_, d)| *d == id) {
            docs.push(DocName {
                name: None,
                id: id.to_string(),
            });
        }
    }
    let outcome = Docs { docs };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft heads`.
pub(crate) fn heads(repo: &Repo, doc: DocId, out: &mut dyn Write, output: Output) -> Result<Heads> {
    let heads = repo.heads(doc)?.iter().map(ToString::to_string).collect();
    let outcome = Heads { heads };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft get KEY [--all] [--at CID]`.
pub(crate) fn get(
    repo: &Repo,
    doc: DocId,
    key: &str,
    all: bool,
    at: Option<Vec<Cid>>,
    out: &mut dyn Write,
    output: Output,
) -> Result<Got> {
    let reader = Reader::open(repo, doc, at)?;
    let state = reader.state();
    let entry = state
        .entry(key)?
        .ok_or_else(|| weft_dag::Error::KeyNotFound { key: key.into() })?;
    let value = entry.value(key)?;
    let values = entry.values(key)?;
    // Concurrent writes of different kinds leave one kind shown and the others behind it.
    let mut others = Vec::new();
    for e in state.entries_of(key)? {
        if e.kind() != entry.kind() {
            others.push((e.kind().name(), e.value(key)?));
        }
    }
    let mut text = vec![value.to_string()];
    if others.is_empty() {
        text.extend(values.iter().map(ToString::to_string));
    } else {
        // Every kind, each line naming its own.
        let kind = entry.kind().name();
        text.extend(values.iter().map(|v| format!("{kind}: {v}")));
        text.extend(others.iter().map(|(k, v)| format!("{k}: {v}")));
    }
    let outcome = Got {
        key: key.to_string(),
        kind: entry.kind().name(),
        value: value.to_json(),
        values: values.iter().map(Value::to_json).collect(),
        conflict: values.len() + others.len() > 1,
        others: others
            .iter()
            .map(|(kind, v)| OtherKind {
                kind,
                value: v.to_json(),
            })
            .collect(),
        text,
        all,
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft get PREFIX --rows [--at CID]`. No key under the prefix is not found.
pub(crate) fn rows(
    repo: &Repo,
    doc: DocId,
    prefix: &str,
    at: Option<Vec<Cid>>,
    out: &mut dyn Write,
    output: Output,
) -> Result<Rows> {
    let reader = Reader::open(repo, doc, at)?;
    let prefix = weft_dag::row_prefix(prefix);
    let rows = reader.state().rows(&prefix)?;
    if matches!(&rows, Value::Map(m) if m.is_empty()) {
        return Err(weft_dag::Error::KeyNotFound { key: prefix }.into());
    }
    let outcome = Rows {
        key: prefix,
        rows: rows.to_json(),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft ls [PREFIX] [--at CID]`. One key that cannot be read (a counter that overflows) is
/// listed with its error and does not hide the others.
pub(crate) fn ls(
    repo: &Repo,
    doc: DocId,
    prefix: &str,
    at: Option<Vec<Cid>>,
    out: &mut dyn Write,
    output: Output,
) -> Result<Listing> {
    let outcome = listing(repo, doc, prefix, at)?;
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// What `weft ls [PREFIX] [--at REV]` prints (also the history browser's `/api/ls`).
pub(crate) fn listing(
    repo: &Repo,
    doc: DocId,
    prefix: &str,
    at: Option<Vec<Cid>>,
) -> Result<Listing> {
    let reader = Reader::open(repo, doc, at)?;
    let entries = reader
        .state()
        .entries(prefix)?
        .iter()
        .map(|(k, e)| {
            let n_values = match e {
                Entry::Register(v) => v.len(),
                _ => 1,
            };
            let (value, text, error) = match e.value(k) {
                Ok(v) => (v.to_json(), v.to_string(), None),
                Err(err) => (Json::Null, String::new(), Some(err.to_string())),
            };
            Listed {
                key: k.clone(),
                kind: e.kind().name(),
                value,
                conflict: n_values > 1,
                error,
                text,
                n_values,
            }
        })
        .collect();
    Ok(Listing { entries })
}

/// `weft members`.
pub(crate) fn members(
    repo: &Repo,
    doc: DocId,
    out: &mut dyn Write,
    output: Output,
) -> Result<Members> {
    let outcome = member_list(repo, doc)?;
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// What `weft members` prints (also the history browser's `/api/members`).
pub(crate) fn member_list(repo: &Repo, doc: DocId) -> Result<Members> {
    let names = crate::people::Names::load(repo)?;
    let members = repo
        .members(doc)?
        .iter()
        .map(|m| Member {
            key: m.author.to_string(),
            role: m.role.name(),
            name: names.name(&m.author).map(str::to_string),
        })
        .collect();
    Ok(Members { members })
}

/// `weft block get CID`: the block's raw bytes, once they check against the CID.
pub(crate) fn block_get(repo: &Repo, cid: &Cid, out: &mut dyn Write) -> Result<()> {
    let bytes = repo.block(cid)?;
    cid.verify(&bytes)?;
    out.write_all(&bytes)?;
    Ok(())
}

/// `weft block stat CID`.
pub(crate) fn block_stat(
    repo: &Repo,
    cid: &Cid,
    out: &mut dyn Write,
    output: Output,
) -> Result<BlockStat> {
    let (size, valid) = repo.block_stat(cid)?;
    let outcome = BlockStat {
        cid: cid.to_string(),
        size: size as u64,
        codec: cid.codec().name(),
        valid,
        codec_text: cid.codec().to_string(),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}
