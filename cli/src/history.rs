//! The history commands: `log` (JSON Lines, or text with `--graph` lanes), `show`, `blame` and
//! `dag`. A change prints as [`ChangeOut`], its ops as [`OpOut`]: the schema the README
//! documents for `log --json` and `show --json`.

use std::{collections::BTreeSet, io::Write, path::Path};

use anyhow::{Context as _, Result};
use serde::Serialize;
use serde_json::Value as Json;
use weft_dag::{change::Op, Change, Cid, DocId, ItemRef, OpId, OpRef, Repo, Snapshot};

use crate::{
    args::{DagFormat, LogArgs},
    graph::{self, Lanes, Row},
    out::{emit, summary, summary_with, time_str, write_json, Format, Outcome, Output},
    people::{self, Names},
    rev,
};

/// An op of a change, tagged by `"op"`. Op ids are `"<cid>/<index>"`.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(crate) enum OpOut {
    Genesis {
        owner: String,
        /// Hex.
        nonce: String,
    },
    Set {
        key: String,
        value: serde_json::Value,
        pred: Vec<String>,
    },
    Del {
        key: String,
        pred: Vec<String>,
    },
    Incr {
        key: String,
        delta: i64,
    },
    Add {
        key: String,
        member: serde_json::Value,
    },
    Remove {
        key: String,
        member: serde_json::Value,
        tags: Vec<String>,
    },
    Lins {
        key: String,
        left: Option<String>,
        right: Option<String>,
        value: serde_json::Value,
    },
    Lmov {
        key: String,
        elem: String,
        left: Option<String>,
        right: Option<String>,
    },
    Ldel {
        key: String,
        elem: String,
    },
    Lset {
        key: String,
        elem: String,
        value: serde_json::Value,
    },
    Tins {
        key: String,
        left: Option<String>,
        right: Option<String>,
        text: String,
    },
    Tdel {
        key: String,
        /// `"op:offset+len"` each.
        spans: Vec<String>,
    },
    Grant {
        who: String,
        role: &'static str,
    },
    Revoke {
        who: String,
    },
}

/// An op named by a list or text op: `CID/INDEX`, or `INDEX` for an op of the same change.
fn op_ref(r: OpRef) -> String {
    match r {
        OpRef::Here(i) => i.to_string(),
        OpRef::There(id) => id.to_string(),
    }
}

/// An item: its op and, after a colon, its offset in the op's run.
fn item(i: ItemRef) -> String {
    format!("{}:{}", op_ref(i.op), i.offset)
}

impl From<&Op> for OpOut {
    fn from(op: &Op) -> OpOut {
        let ids = |ids: &[OpId]| ids.iter().map(ToString::to_string).collect();
        match op {
            Op::Genesis { owner, nonce } => OpOut::Genesis {
                owner: owner.to_string(),
                nonce: hex::encode(nonce),
            },
            Op::Set { key, value, pred } => OpOut::Set {
                key: key.clone(),
                value: value.to_json(),
                pred: ids(pred),
            },
            Op::Del { key, pred } => OpOut::Del {
                key: key.clone(),
                pred: ids(pred),
            },
            Op::Incr { key, delta } => OpOut::Incr {
                key: key.clone(),
                delta: *delta,
            },
            Op::Add { key, member } => OpOut::Add {
                key: key.clone(),
                member: member.to_json(),
            },
            Op::Remove { key, member, tags } => OpOut::Remove {
                key: key.clone(),
                member: member.to_json(),
                tags: ids(tags),
            },
            Op::ListInsert {
                key,
                left,
                right,
                value,
            } => OpOut::Lins {
                key: key.clone(),
                left: left.map(item),
                right: right.map(item),
                value: value.to_json(),
            },
            Op::ListMove {
                key,
                elem,
                left,
                right,
            } => OpOut::Lmov {
                key: key.clone(),
                elem: op_ref(*elem),
                left: left.map(item),
                right: right.map(item),
            },
            Op::ListDelete { key, elem } => OpOut::Ldel {
                key: key.clone(),
                elem: op_ref(*elem),
            },
            Op::ListSet { key, elem, value } => OpOut::Lset {
                key: key.clone(),
                elem: op_ref(*elem),
                value: value.to_json(),
            },
            Op::TextInsert {
                key,
                left,
                right,
                text,
            } => OpOut::Tins {
                key: key.clone(),
                left: left.map(item),
                right: right.map(item),
                text: text.clone(),
            },
            Op::TextDelete { key, spans } => OpOut::Tdel {
                key: key.clone(),
                spans: spans
                    .iter()
                    .map(|(s, len)| format!("{}+{len}", item(*s)))
                    .collect(),
            },
            Op::Grant { who, role } => OpOut::Grant {
                who: who.to_string(),
                role: role.name(),
            },
            Op::Revoke { who } => OpOut::Revoke {
                who: who.to_string(),
            },
        }
    }
}

/// A change as `log --json` and `show --json` print it.
#[derive(Debug, Serialize)]
pub(crate) struct ChangeOut {
    pub cid: String,
    pub doc: String,
    /// 64 hex digits.
    pub author: String,
    pub parents: Vec<String>,
    pub height: u64,
    pub seq: u64,
    /// Milliseconds since the Unix epoch, as the author's clock said.
    pub time: u64,
    pub ops: Vec<OpOut>,
}

impl ChangeOut {
    fn new(cid: &Cid, doc: DocId, c: &Change) -> ChangeOut {
        ChangeOut {
            cid: cid.to_string(),
            doc: doc.to_string(),
            author: c.author.to_string(),
            parents: c.parents.iter().map(ToString::to_string).collect(),
            height: c.height,
            seq: c.seq,
            time: c.time,
            ops: c.ops.iter().map(OpOut::from).collect(),
        }
    }
}

/// One line of `weft log --json`.
#[derive(Debug, Serialize)]
pub(crate) struct Logged {
    #[serde(flatten)]
    pub change: ChangeOut,
    /// The change does not count: its author lacked the role.
    pub void: bool,
    /// With `-p`: each op's old and new value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diffs: Option<Vec<OpDiff>>,
}

/// What one op of a change did to its key: the value it replaced and the one it left (`null`:
/// none). A register op's old value is the winner among the values it overwrote (its `pred`);
/// for the other kinds both are the key's value just before the change (at its parents) and
/// just after it (at the change itself, concurrent changes left out).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OpDiff {
    /// The op's index in the change.
    pub op: u32,
    pub key: String,
    pub old: Json,
    pub new: Json,
}

impl OpDiff {
    fn text(&self) -> String {
        format!("{}: {} \u{2192} {}", self.key, self.old, self.new)
    }
}

/// Reads what each op of one change did (see [`OpDiff`]), replaying the state before and after
/// it only when an op needs them.
struct Differ<'r> {
    repo: &'r Repo,
    doc: DocId,
    cid: Cid,
    parents: Vec<Cid>,
    before: Option<Snapshot>,
    after: Option<Snapshot>,
}

impl<'r> Differ<'r> {
    fn new(repo: &'r Repo, doc: DocId, cid: Cid, change: &Change) -> Differ<'r> {
        Differ {
            repo,
            doc,
            cid,
            parents: change.parents.clone(),
            before: None,
            after: None,
        }
    }

    fn value(snapshot: &Snapshot, key: &str) -> Json {
        let state = snapshot.state();
        match state.entry(key) {
            Ok(Some(e)) => e.value(key).map(|v| v.to_json()).unwrap_or(Json::Null),
            _ => Json::Null,
        }
    }

    fn before(&mut self, key: &str) -> Result<Json> {
        if self.before.is_none() {
            self.before = Some(self.repo.at(self.doc, &self.parents)?);
        }
        Ok(Self::value(self.before.as_ref().expect("set"), key))
    }

    fn after(&mut self, key: &str) -> Result<Json> {
        if self.after.is_none() {
            self.after = Some(self.repo.at(self.doc, &[self.cid])?);
        }
        Ok(Self::value(self.after.as_ref().expect("set"), key))
    }

    /// The winner among the register values `pred` names: greatest (height, author, op id).
    fn overwritten(&self, pred: &[OpId]) -> Result<Json> {
        let mut best: Option<((u64, weft_dag::Author, OpId), Json)> = None;
        for p in pred {
            let Ok(change) = self.repo.change(&p.change) else {
                continue;
            };
            let Some(Op::Set { value, .. }) = change.ops.get(p.index as usize) else {
                continue;
            };
            let rank = (change.height, change.author, *p);
            if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                best = Some((rank, value.to_json()));
            }
        }
        Ok(best.map_or(Json::Null, |(_, v)| v))
    }

    fn diffs(&mut self, change: &Change) -> Result<Vec<OpDiff>> {
        let mut diffs = Vec::new();
        for (i, op) in change.ops.iter().enumerate() {
            let Some(key) = op.key() else { continue };
            let key = key.to_string();
            let (old, new) = match op {
                Op::Set { value, pred, .. } => (self.overwritten(pred)?, value.to_json()),
                Op::Del { pred, .. } => (self.overwritten(pred)?, Json::Null),
                _ => (self.before(&key)?, self.after(&key)?),
            };
            diffs.push(OpDiff {
                op: i as u32,
                key,
                old,
                new,
            });
        }
        Ok(diffs)
    }
}

/// `weft show CID`.
#[derive(Debug, Serialize)]
pub(crate) struct Shown {
    #[serde(flatten)]
    pub change: ChangeOut,
    /// Hex.
    pub signature: String,
    pub signature_valid: bool,
    /// Bytes of the block.
    pub size: usize,
    pub void: bool,
    /// What each op did: its key's old and new value.
    pub diffs: Vec<OpDiff>,
    /// Why the signature is not valid.
    #[serde(skip)]
    invalid: Option<String>,
    #[serde(skip)]
    time_text: String,
}

impl Outcome for Shown {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        let c = &self.change;
        writeln!(out, "change    {}", c.cid)?;
        writeln!(out, "document  {}", c.doc)?;
        writeln!(out, "author    {}", c.author)?;
        writeln!(out, "time      {}", self.time_text)?;
        writeln!(out, "height    {}", c.height)?;
        writeln!(out, "seq       {}", c.seq)?;
        for p in &c.parents {
            writeln!(out, "parent    {p}")?;
        }
        match &self.invalid {
            None => writeln!(out, "signature valid")?,
            Some(e) => writeln!(out, "signature INVALID: {e}")?,
        }
        if self.void {
            writeln!(
                out,
                "void      its author lacked the role in the whole DAG (revoked); its ops do not count"
            )?;
        }
        writeln!(out, "ops")?;
        for (i, op) in c.ops.iter().enumerate() {
            // Through a JSON value, whose keys are sorted: one stable text per op.
            writeln!(out, "  {i}: {}", serde_json::to_value(op)?)?;
            for d in self.diffs.iter().filter(|d| d.op as usize == i) {
                writeln!(out, "     {}", d.text())?;
            }
        }
        Ok(())
    }
}

/// One op behind a key's value.
#[derive(Debug, Serialize)]
pub(crate) struct Blamed {
    /// The change that holds the op.
    pub change: String,
    /// The op's index in it.
    pub op: u32,
    pub author: String,
    pub time: u64,
    pub height: u64,
    pub value: serde_json::Value,
    #[serde(skip)]
    text: String,
}

/// `weft blame KEY`.
#[derive(Debug, Serialize)]
pub(crate) struct Blame {
    pub key: String,
    pub lines: Vec<Blamed>,
}

impl Outcome for Blame {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        for l in &self.lines {
            writeln!(out, "{}", l.text)?;
        }
        Ok(())
    }
}

/// A node of `weft dag --format json`.
#[derive(Debug, Serialize)]
pub(crate) struct DagNode {
    pub cid: String,
    pub parents: Vec<String>,
    /// The author's key, 64 hex digits.
    pub author: String,
    pub height: u64,
    pub summary: String,
}

/// `weft dag --format json`.
#[derive(Debug, Serialize)]
pub(crate) struct Dag {
    pub doc: String,
    pub heads: Vec<String>,
    pub nodes: Vec<DagNode>,
}

/// Whether a change passes `log`'s filters.
struct LogFilter {
    /// Only these changes (a revision or range), if given.
    only: Option<BTreeSet<Cid>>,
    keys: Vec<String>,
    author: Option<weft_dag::Author>,
    since: Option<u64>,
    until: Option<u64>,
}

impl LogFilter {
    fn new(repo: &Repo, doc: DocId, names: &Names, args: &LogArgs) -> Result<LogFilter> {
        let mut only: Option<BTreeSet<Cid>> = None;
        let mut keys = args.keys.clone();
        for w in &args.words {
            if keys.len() == args.keys.len() && only.is_none() && rev::is_revision(repo, w)? {
                only = Some(rev::selection(repo, doc, w)?);
            } else {
                keys.push(w.clone());
            }
        }
        let author = match &args.author {
            Some(a) => Some(people::key(repo, names, Some(doc), a)?),
            None => None,
        };
        Ok(LogFilter {
            only,
            keys,
            author,
            since: args.since,
            until: args.until,
        })
    }

    fn passes(&self, cid: &Cid, c: &Change) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(cid))
            && (self.keys.is_empty()
                || c.ops.iter().any(|op| {
                    op.key()
                        .is_some_and(|k| self.keys.iter().any(|p| k.starts_with(p.as_str())))
                }))
            && self.author.is_none_or(|a| c.author == a)
            && self.since.is_none_or(|t| c.time >= t)
            && self.until.is_none_or(|t| c.time <= t)
    }
}

/// `weft log [--graph] [-n N] [REV|RANGE] [KEY...]`, newest first: one line per change as it is
/// read (JSON Lines of [`Logged`] with `--json`). Returns how many it printed.
pub(crate) fn log(
    repo: &Repo,
    doc: DocId,
    args: &LogArgs,
    out: &mut dyn Write,
    format: Format,
) -> Result<usize> {
    let names = Names::load(repo)?;
    let filter = LogFilter::new(repo, doc, &names, args)?;
    let shortener = if args.full || format == Format::Json {
        None
    } else {
        Some(rev::Shortener::new(repo))
    };
    let name_cid = |c: &Cid| -> Result<String> {
        Ok(match &shortener {
            Some(s) => s.short(c)?,
            None => c.to_string(),
        })
    };
    let mut lanes = Lanes::new();
    let mut printed = 0;
    let limit = args.n.unwrap_or(usize::MAX);
    for entry in repo.log(doc) {
        if printed >= limit {
            break;
        }
        let entry = entry?;
        let c = &entry.change;
        if !filter.passes(&entry.cid, c) {
            continue;
        }
        let void = repo.is_void(&entry.cid)?;
        printed += 1;
        let diffs = if args.patch {
            Some(Differ::new(repo, doc, entry.cid, c).diffs(c)?)
        } else {
            None
        };
        if format == Format::Json {
            let line = Logged {
                change: ChangeOut::new(&entry.cid, doc, c),
                void,
                diffs,
            };
            write_json(out, &line)?;
            continue;
        }
        let text = format!(
            "{} {} {} {}{}",
            name_cid(&entry.cid)?,
            names.label(&c.author),
            time_str(c.time),
            summary_with(c, &|k| names.label(k)),
            if void {
                " [void: its author lacked the role]"
            } else {
                ""
            }
        );
        let patch: Vec<String> = diffs
            .iter()
            .flatten()
            .map(|d| format!("    {}", d.text()))
            .collect();
        // With filters, a lane whose change is left out stays open, as git draws a boundary.
        if !args.graph {
            writeln!(out, "{text}")?;
            for p in &patch {
                writeln!(out, "{p}")?;
            }
            continue;
        }
        for row in lanes.push(entry.cid, &c.parents) {
            match row {
                Row::Commit(g, _) => writeln!(out, "{g} {text}")?,
                Row::Edge(g) => writeln!(out, "{g}")?,
            }
        }
        for p in &patch {
            writeln!(out, "{p}")?;
        }
    }
    Ok(printed)
}

/// `weft show CID`: a change, whether its signature holds, and whether it counts.
pub(crate) fn show(repo: &Repo, cid: &Cid, out: &mut dyn Write, output: Output) -> Result<Shown> {
    let outcome = shown(repo, cid)?;
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// What `weft show CID` prints (also the history browser's `/api/show/CID`).
pub(crate) fn shown(repo: &Repo, cid: &Cid) -> Result<Shown> {
    let bytes = repo.block(cid)?;
    cid.verify(&bytes)?;
    let change = Change::decode(cid, &bytes)?;
    let verified = change.verify_decoded(cid, &bytes);
    let doc = change.doc.unwrap_or(DocId(*cid));
    // A change whose past cannot be replayed here still shows.
    let diffs = Differ::new(repo, doc, *cid, &change)
        .diffs(&change)
        .unwrap_or_default();
    let outcome = Shown {
        diffs,
        change: ChangeOut::new(cid, doc, &change),
        signature: hex::encode(change.sig),
        signature_valid: verified.is_ok(),
        size: bytes.len(),
        void: repo.is_void(cid).unwrap_or(false),
        invalid: verified.err().map(|e| e.to_string()),
        time_text: time_str(change.time),
    };
    Ok(outcome)
}

/// `weft blame KEY [--at REV]`: the ops behind a key's current value (or its value then).
pub(crate) fn blame(
    repo: &Repo,
    doc: DocId,
    key: &str,
    at: Option<&[Cid]>,
    out: &mut dyn Write,
    output: Output,
) -> Result<Blame> {
    let outcome = blamed(repo, doc, key, at)?;
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// What `weft blame KEY [--at REV]` prints (also the history browser's `/api/blame`).
pub(crate) fn blamed(repo: &Repo, doc: DocId, key: &str, at: Option<&[Cid]>) -> Result<Blame> {
    let names = Names::load(repo)?;
    let blamed = match at {
        Some(heads) => repo.blame_at(doc, heads, key)?,
        None => repo.blame(doc, key)?,
    };
    let lines = blamed
        .iter()
        .map(|l| Blamed {
            change: l.op.change.to_string(),
            op: l.op.index,
            author: l.author.to_string(),
            time: l.time,
            height: l.height,
            value: l.value.to_json(),
            text: format!(
                "{} {} {} {}",
                l.op.change,
                names.label(&l.author),
                time_str(l.time),
                l.value
            ),
        })
        .collect();
    Ok(Blame {
        key: key.to_string(),
        lines,
    })
}

/// `weft dag [--format dot|json] [-o FILE]`: the whole DAG of `doc`, to `file` or `out`.
pub(crate) fn dag(
    repo: &Repo,
    doc: DocId,
    format: DagFormat,
    file: Option<&Path>,
    out: &mut dyn Write,
) -> Result<()> {
    let heads = repo.heads(doc)?;
    let mut nodes = Vec::new();
    // JSON names authors in full (64 hex digits), as `log --json` does; DOT labels are short.
    let mut authors = Vec::new();
    for entry in repo.log(doc) {
        let entry = entry?;
        authors.push(entry.change.author.to_string());
        nodes.push(graph::Node {
            cid: entry.cid,
            parents: entry.change.parents.clone(),
            author: entry.change.author.short(),
            summary: summary(&entry.change),
            height: entry.change.height,
        });
    }
    let text = match format {
        DagFormat::Dot => graph::to_dot(&nodes, &heads),
        DagFormat::Json => {
            let dag = Dag {
                doc: doc.to_string(),
                heads: heads.iter().map(ToString::to_string).collect(),
                nodes: nodes
                    .iter()
                    .zip(authors)
                    .map(|(n, author)| DagNode {
                        cid: n.cid.to_string(),
                        parents: n.parents.iter().map(ToString::to_string).collect(),
                        author,
                        height: n.height,
                        summary: n.summary.clone(),
                    })
                    .collect(),
            };
            format!("{}\n", serde_json::to_string(&dag)?)
        }
    };
    match file {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out.write_all(text.as_bytes())?,
    }
    Ok(())
}
