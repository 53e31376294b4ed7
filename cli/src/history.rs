//! The history commands: `log` (JSON Lines, or text with `--graph` lanes), `show`, `blame` and
//! `dag`. A change prints as [`ChangeOut`], its ops as [`OpOut`]: the schema the README
//! documents for `log --json` and `show --json`.

use std::{io::Write, path::Path};

use anyhow::{Context as _, Result};
use serde::Serialize;
use weft_dag::{change::Op, Change, Cid, DocId, ItemRef, OpId, OpRef, Repo};

use crate::{
    args::DagFormat,
    graph::{self, Lanes, Row},
    out::{emit, summary, time_str, write_json, Format, Outcome, Output},
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

/// `weft log [--graph] [-n N]`, newest first: one line per change as it is read (JSON Lines of
/// [`Logged`] with `--json`). Returns how many it printed.
pub(crate) fn log(
    repo: &Repo,
    doc: DocId,
    graph: bool,
    n: Option<usize>,
    out: &mut dyn Write,
    format: Format,
) -> Result<usize> {
    let mut lanes = Lanes::new();
    let mut printed = 0;
    for entry in repo.log(doc).take(n.unwrap_or(usize::MAX)) {
        let entry = entry?;
        let c = &entry.change;
        let void = repo.is_void(&entry.cid)?;
        printed += 1;
        if format == Format::Json {
            let line = Logged {
                change: ChangeOut::new(&entry.cid, doc, c),
                void,
            };
            write_json(out, &line)?;
            continue;
        }
        let text = format!(
            "{} {} {} {}{}",
            entry.cid,
            c.author.short(),
            time_str(c.time),
            summary(c),
            if void {
                " [void: its author lacked the role]"
            } else {
                ""
            }
        );
        if !graph {
            writeln!(out, "{text}")?;
            continue;
        }
        for row in lanes.push(entry.cid, &c.parents) {
            match row {
                Row::Commit(g, _) => writeln!(out, "{g} {text}")?,
                Row::Edge(g) => writeln!(out, "{g}")?,
            }
        }
    }
    Ok(printed)
}

/// `weft show CID`: a change, whether its signature holds, and whether it counts.
pub(crate) fn show(repo: &Repo, cid: &Cid, out: &mut dyn Write, output: Output) -> Result<Shown> {
    let bytes = repo.block(cid)?;
    cid.verify(&bytes)?;
    let change = Change::decode(cid, &bytes)?;
    let verified = change.verify_decoded(cid, &bytes);
    let doc = change.doc.unwrap_or(DocId(*cid));
    let outcome = Shown {
        change: ChangeOut::new(cid, doc, &change),
        signature: hex::encode(change.sig),
        signature_valid: verified.is_ok(),
        size: bytes.len(),
        void: repo.is_void(cid).unwrap_or(false),
        invalid: verified.err().map(|e| e.to_string()),
        time_text: time_str(change.time),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft blame KEY`: the ops behind a key's current value.
pub(crate) fn blame(
    repo: &Repo,
    doc: DocId,
    key: &str,
    out: &mut dyn Write,
    output: Output,
) -> Result<Blame> {
    let lines = repo
        .blame(doc, key)?
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
                l.author.short(),
                time_str(l.time),
                l.value
            ),
        })
        .collect();
    let outcome = Blame {
        key: key.to_string(),
        lines,
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
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
