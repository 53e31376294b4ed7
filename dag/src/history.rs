//! History: the log of a document, blame, time travel (`at`) and arrival records.

use std::sync::Arc;

use weft_store::{Cid, Pos, Store};

use crate::{
    change::{Change, EncodedChange, OpId, StoredChange},
    error::Error,
    graph::{corrupt, Graph},
    id::DocId,
    identity::Author,
    keys,
    seqdoc::SeqCache,
    state::{Entry, State},
    value::Value,
    write::Writer,
};

/// One op behind a key's current value.
#[derive(Debug, Clone, PartialEq)]
pub struct BlameLine {
    /// The op.
    pub op: OpId,
    /// What it contributes: the register value, the counter delta, or the set member.
    pub value: Value,
    /// Its change's author.
    pub author: Author,
    /// Its change's time (ms).
    pub time: u64,
    /// Its change's height.
    pub height: u64,
}

/// When a change was first stored here, and who delivered it (see
/// [`Repo::arrivals`](crate::Repo::arrivals)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The change.
    pub cid: Cid,
    /// Its author.
    pub author: Author,
    /// The author's timestamp in the change (ms since the Unix epoch; the author's clock).
    pub authored: u64,
    /// This replica's time when the change was first stored (ms since the Unix epoch).
    pub arrived: u64,
    /// Who delivered it: a remote's name or URL; `None` for a change written here.
    pub source: Option<String>,
}

impl Arrival {
    /// How long the change took to get here: arrival minus the author's timestamp, in ms
    /// (0 if the clocks disagree so much that it arrived "before" it was written).
    pub fn delay_ms(&self) -> u64 {
        self.arrived.saturating_sub(self.authored)
    }
}

/// The state of a document at some past heads, replayed from the DAG.
#[derive(Debug)]
pub struct Snapshot {
    store: Store,
    seq: Arc<SeqCache>,
    doc: DocId,
}

impl Snapshot {
    /// The read view.
    pub fn state(&self) -> State<'_> {
        State {
            store: &self.store,
            seq: &self.seq,
            doc: self.doc,
        }
    }
}

/// The changes of `doc`, newest first, in topological order (every change before its parents):
/// by height, then by the order they were stored here. Streams from the `heights` chunks.
pub(crate) fn log(
    graph: &Graph,
    store: &Store,
    doc: DocId,
) -> impl Iterator<Item = Result<StoredChange, Error>> + 'static {
    let store = store.clone();
    graph.entries(doc, true).map(move |e| {
        let rec = store.record(e?.pos)?;
        let change = Change::decode(&rec.cid, &rec.block)?;
        Ok(StoredChange {
            cid: rec.cid,
            change,
        })
    })
}

/// The ops behind the current value of `key`, newest first.
pub(crate) fn blame(graph: &Graph, state: State<'_>, key: &str) -> Result<Vec<BlameLine>, Error> {
    let entry = state
        .entry(key)?
        .ok_or_else(|| Error::KeyNotFound { key: key.into() })?;
    let mut lines = Vec::new();
    let mut add = |op: OpId, value: Value| -> Result<(), Error> {
        let meta = graph
            .change_meta(&op.change)?
            .ok_or(Error::UnknownCid { cid: op.change })?;
        lines.push(BlameLine {
            op,
            value,
            author: meta.author,
            time: meta.time,
            height: meta.height,
        });
        Ok(())
    };
    match entry {
        Entry::Register(vals) => vals.into_iter().try_for_each(|v| add(v.op, v.value))?,
        Entry::Counter(incs) => incs
            .into_iter()
            .try_for_each(|(op, d)| add(op, Value::Int(d)))?,
        Entry::Set(members) => members
            .into_iter()
            .try_for_each(|(m, tags)| tags.into_iter().try_for_each(|t| add(t, m.clone())))?,
        Entry::List(elements) => elements.into_iter().try_for_each(|e| add(e.id, e.value))?,
        // A text has no per-op lines yet: its runs are many and small.
        Entry::Text(_) => {}
    }
    lines.sort_by_key(|l| std::cmp::Reverse((l.height, l.op)));
    Ok(lines)
}

/// The state of `doc` as it was at `heads`, replayed from the DAG into memory.
pub(crate) fn at(writer: &Writer, doc: DocId, heads: &[Cid]) -> Result<Snapshot, Error> {
    for h in heads {
        let meta = writer
            .graph
            .change_meta(h)?
            .ok_or(Error::UnknownCid { cid: *h })?;
        if meta.doc != doc {
            return Err(Error::WrongDoc {
                cid: *h,
                expected: doc.0,
                actual: meta.doc.0,
            });
        }
    }
    let scratch = Writer::new(Store::memory(), None);
    for (_, cid) in writer.graph.ancestors(heads)? {
        let bytes = writer
            .store
            .get_block(&cid)?
            .ok_or(Error::UnknownCid { cid })?;
        let change = Change::decode(&cid, &bytes)?;
        scratch.apply_one(
            EncodedChange {
                cid,
                bytes,
                change: Arc::new(change),
            },
            &[],
        )?;
    }
    Ok(Snapshot {
        store: scratch.store.clone(),
        seq: scratch.seq.clone(),
        doc,
    })
}

/// The newest `limit` arrival records of `doc`, newest first.
pub(crate) fn arrivals(store: &Store, doc: DocId, limit: usize) -> Result<Vec<Arrival>, Error> {
    let mut out = Vec::new();
    for entry in store.scan_prefix_rev(keys::ARRIVALS, &doc.0.to_bytes()) {
        let (k, v) = entry?;
        let positions =
            keys::decode_arrivals(&k, &v).ok_or_else(|| corrupt("arrivals", "a damaged chunk"))?;
        for pos in positions.into_iter().rev() {
            if out.len() >= limit {
                return Ok(out);
            }
            if let Some(a) = arrival(store, pos)? {
                out.push(a);
            }
        }
    }
    Ok(out)
}

fn arrival(store: &Store, pos: Pos) -> Result<Option<Arrival>, Error> {
    let rec = store.record(pos)?;
    let Some((arrived, source)) = keys::decode_note(&rec.note) else {
        // Stored before arrivals were recorded.
        return Ok(None);
    };
    let change = Change::decode(&rec.cid, &rec.block)?;
    Ok(Some(Arrival {
        cid: rec.cid,
        author: change.author,
        authored: change.time,
        arrived,
        source: (!source.is_empty()).then_some(source),
    }))
}
