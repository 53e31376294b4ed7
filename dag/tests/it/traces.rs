//! The public editing traces (`tests/data/editing-traces`, see the README there for their
//! source and licence) replayed through `seq::Text`: the two sequential ones must end with
//! their `endContent`, and the concurrent one must converge to it on every replica.

use std::{collections::HashSet, io::Read, path::Path};

use flate2::read::GzDecoder;
use serde::Deserialize;
use weft_dag::{
    seq::{Text, TextOp},
    Cid, Codec, OpId,
};

#[derive(Debug, Deserialize)]
struct Trace {
    #[serde(default, rename = "startContent")]
    start_content: String,
    #[serde(rename = "endContent")]
    end_content: String,
    txns: Vec<Txn>,
}

#[derive(Debug, Deserialize)]
struct Txn {
    #[serde(default)]
    agent: usize,
    #[serde(default)]
    parents: Vec<usize>,
    /// `[position, characters deleted, string inserted]`, positions in code points.
    patches: Vec<(usize, usize, String)>,
}

fn load(name: &str) -> Trace {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/editing-traces")
        .join(name);
    let gz = std::fs::read(&path).unwrap();
    let mut json = String::new();
    GzDecoder::new(&gz[..]).read_to_string(&mut json).unwrap();
    serde_json::from_str(&json).unwrap()
}

/// The op id of patch `patch` of transaction `txn`: a change CID per transaction (no real
/// change has it: the digest is the transaction's number).
fn op_id(txn: usize, patch: usize) -> OpId {
    let mut digest = [0xAB; 32];
    digest[..8].copy_from_slice(&(txn as u64).to_be_bytes());
    OpId {
        change: Cid::from_digest(Codec::Raw, digest),
        index: patch as u32,
    }
}

/// Applies a transaction's patches at the replica's current state; returns the ops made.
fn edit(text: &mut Text, txn: usize, patches: &[(usize, usize, String)]) -> Vec<TextOp> {
    let mut ops = Vec::new();
    for (i, (pos, deleted, inserted)) in patches.iter().enumerate() {
        if *deleted > 0 {
            ops.push(text.delete(*pos, *deleted).unwrap());
        }
        if !inserted.is_empty() {
            ops.push(text.insert(op_id(txn, i), *pos, inserted).unwrap());
        }
    }
    ops
}

/// Replays a sequential trace; returns the replica and every op made.
fn replay_sequential(name: &str) -> (Trace, Text, Vec<TextOp>) {
    let trace = load(name);
    let mut text = Text::new();
    let mut ops = Vec::new();
    if !trace.start_content.is_empty() {
        ops.push(
            text.insert(op_id(usize::MAX, 0), 0, &trace.start_content)
                .unwrap(),
        );
    }
    for (t, txn) in trace.txns.iter().enumerate() {
        ops.extend(edit(&mut text, t, &txn.patches));
    }
    (trace, text, ops)
}

fn check_sequential(name: &str) {
    let (trace, text, ops) = replay_sequential(name);
    assert_eq!(text.len(), trace.end_content.chars().count());
    assert!(text.to_string() == trace.end_content, "{name} differs");
    // Another replica that receives the ops reaches the same text, and so does one opened
    // from its snapshot halfway that receives only the ops after it.
    let mut other = Text::new();
    let (before, after) = ops.split_at(ops.len() / 2);
    for op in before {
        other.apply(op).unwrap();
    }
    let mut resumed = Text::decode(&other.encode()).unwrap();
    for op in after {
        other.apply(op).unwrap();
        resumed.apply(op).unwrap();
    }
    assert!(other.to_string() == trace.end_content);
    assert!(resumed.to_string() == trace.end_content);
    // A snapshot rebuilds the replica: the same text, the same bytes again, and the same
    // result for an edit after.
    let bytes = text.encode();
    let mut back = Text::decode(&bytes).unwrap();
    assert!(back.to_string() == trace.end_content);
    assert!(Text::decode_string(&bytes).unwrap() == trace.end_content);
    assert!(back.encode() == bytes);
    let mut text = text;
    let mid = text.len() / 2;
    let op = text
        .insert(op_id(usize::MAX - 1, 0), mid, "snapshot")
        .unwrap();
    back.apply(&op).unwrap();
    assert!(back.to_string() == text.to_string());
    assert_eq!(back.origins_at(mid + 3), text.origins_at(mid + 3));
    // Reads by index agree with the string.
    let chars: Vec<char> = trace.end_content.chars().collect();
    for index in (0..chars.len()).step_by(997) {
        let span = text.spans(index, 1).unwrap()[0];
        assert_eq!(text.index_of(span.start), Some(index));
    }
}

#[test]
fn automerge_paper_replays_to_its_end_content() {
    check_sequential("automerge-paper.json.gz");
}

#[test]
fn seph_blog1_replays_to_its_end_content() {
    check_sequential("seph-blog1.json.gz");
}

/// A replica of the concurrent trace: its text and the transactions it has applied (a set
/// closed under parents).
#[derive(Clone)]
struct Replica {
    text: Text,
    seen: Vec<bool>,
    /// The applied transactions none of whose children it has applied.
    frontier: Vec<usize>,
}

impl Replica {
    fn new(txns: usize) -> Self {
        Replica {
            text: Text::new(),
            seen: vec![false; txns],
            frontier: Vec::new(),
        }
    }

    /// Whether every transaction it applied is in `parents` or their past.
    fn within(&self, txns: &[Txn], parents: &[usize]) -> bool {
        self.frontier
            .iter()
            .all(|&x| parents.iter().any(|&p| reaches(txns, p, x)))
    }

    /// Applies, in a causal order, the transactions of `parents` and their past it lacks.
    fn catch_up(&mut self, txns: &[Txn], log: &[Vec<TextOp>], parents: &[usize]) {
        let mut todo: Vec<usize> = parents.to_vec();
        let mut missing = Vec::new();
        let mut queued: HashSet<usize> = HashSet::new();
        while let Some(t) = todo.pop() {
            if self.seen[t] || !queued.insert(t) {
                continue;
            }
            missing.push(t);
            todo.extend(&txns[t].parents);
        }
        // Transactions only name earlier ones: index order is causal.
        missing.sort_unstable();
        for &t in &missing {
            for op in &log[t] {
                self.text.apply(op).unwrap();
            }
            self.record(txns, t);
        }
    }

    fn record(&mut self, txns: &[Txn], t: usize) {
        self.seen[t] = true;
        self.frontier.retain(|f| !txns[t].parents.contains(f));
        self.frontier.push(t);
    }
}

/// Whether transaction `x` is `from` or in its past.
fn reaches(txns: &[Txn], from: usize, x: usize) -> bool {
    let mut todo = vec![from];
    let mut visited = HashSet::new();
    while let Some(t) = todo.pop() {
        if t == x {
            return true;
        }
        // Ancestors have smaller indexes: below `x`, `x` is out of reach.
        if t > x && visited.insert(t) {
            todo.extend(&txns[t].parents);
        }
    }
    false
}

#[test]
fn friendsforever_converges_to_its_end_content() {
    let trace = load("friendsforever.json.gz");
    let txns = &trace.txns;
    let agents = 1 + txns.iter().map(|t| t.agent).max().unwrap();
    // One replica per agent, and others made when a transaction's parents are behind every
    // replica (a branch that starts from an older state).
    let mut replicas: Vec<Replica> = (0..agents).map(|_| Replica::new(txns.len())).collect();
    let mut log: Vec<Vec<TextOp>> = Vec::with_capacity(txns.len());
    let mut extra = 0;
    for (t, txn) in txns.iter().enumerate() {
        assert!(txn.parents.iter().all(|&p| p < t));
        let r = if replicas[txn.agent].within(txns, &txn.parents) {
            txn.agent
        } else if let Some(r) =
            (0..replicas.len()).find(|&r| replicas[r].within(txns, &txn.parents))
        {
            r
        } else {
            extra += 1;
            replicas.push(Replica::new(txns.len()));
            replicas.len() - 1
        };
        let replica = &mut replicas[r];
        replica.catch_up(txns, &log, &txn.parents);
        log.push(edit(&mut replica.text, t, &txn.patches));
        replica.record(txns, t);
        // Keep at most a few branch replicas beyond the agents'.
        if replicas.len() > agents + 4 {
            replicas.remove(agents);
        }
    }
    assert!(extra <= txns.len());
    let all: Vec<usize> = (0..txns.len()).collect();
    for replica in &mut replicas {
        replica.catch_up(txns, &log, &all);
        assert!(replica.text.to_string() == trace.end_content);
    }
    // And a replica that receives every op in the log's order.
    let mut text = Text::new();
    for op in log.iter().flatten() {
        text.apply(op).unwrap();
    }
    assert!(text.to_string() == trace.end_content);
}
