//! `protocol`: weft's sync protocol and Automerge's, in process, on the same scenarios: round
//! trips and bytes, and weft's wire bytes against the block bytes it had to carry.

// Store errors carry CIDs; boxing them for a benchmark would gain nothing.
#![allow(clippy::result_large_err)]

use anyhow::{Context, Result};
use serde_json::{json, Value as Json};
use weft_dag::{DocId, Identity, Repo, Role, Value};
use weft_store::Cid;
use weft_sync::{peer, pump, Direction, Endpoint, Initiator, Responder, SyncOptions};

fn commits(repo: &Repo, doc: DocId, tag: &str, n: u64) -> Result<()> {
    for i in 0..n {
        let mut tx = repo.transaction(doc);
        tx.set(&format!("{tag}{}", i % 1000), Value::Int(i as i64))?;
        tx.commit()?;
    }
    Ok(())
}

fn memory(seed: u8) -> Result<Repo> {
    Ok(Repo::with_store(
        weft_store::Store::memory(),
        Identity::from_seed([seed; 32]),
    )?)
}

/// Forgets every per-peer sync state, so the next session starts fresh.
fn forget_peers(repo: &Repo) -> Result<()> {
    peer::forget_bases(repo)?;
    Ok(())
}

fn session(initiator: &Repo, responder: &Repo, direction: Direction) -> Result<weft_sync::Stats> {
    let mut i = Initiator::new(
        initiator,
        SyncOptions {
            direction,
            docs: None,
        },
    )?;
    let mut r = Responder::new(responder)?;
    pump(&mut i, &mut r, None)?;
    Ok(i.stats().clone())
}

/// Bytes of the blocks `from` has beyond `heads`.
fn block_bytes(from: &Repo, doc: DocId, heads: &[Cid]) -> Result<u64> {
    let mut total = 0;
    for (_, c) in from.missing(doc, heads)? {
        total += from.block(&c)?.len() as u64;
    }
    Ok(total)
}

fn row(name: &str, s: &weft_sync::Stats, blocks: u64) -> Json {
    let wire = s.bytes_in + s.bytes_out;
    json!({
        "scenario": name,
        "round_trips": s.round_trips,
        "bytes_in": s.bytes_in,
        "bytes_out": s.bytes_out,
        "changes_in": s.changes_in,
        "changes_out": s.changes_out,
        "redundant": s.redundant_in + s.redundant_out,
        "block_bytes": blocks,
        "overhead": if blocks > 0 { wire as f64 / blocks as f64 - 1.0 } else { f64::NAN },
    })
}

/// Runs the scenarios on a document of `n` changes with `ff` new changes (on each side for the
/// divergence).
pub fn weft_protocol_bench(n: u64, ff: u64) -> Result<Json> {
    eprintln!("weft: building a document of {n} single-op changes in memory ...");
    let a = memory(1)?;
    let b = memory(2)?;
    let doc = a.create_doc("main")?;
    // b writes in the divergence scenarios: a grants it the writer role first (one more change
    // in the clone).
    let mut tx = a.transaction(doc);
    tx.grant(b.author(), Role::Writer)?;
    tx.commit()?;
    commits(&a, doc, "k", n)?;
    let mut out = Vec::new();

    // Clone: an empty replica pulls everything.
    let blocks = block_bytes(&a, doc, &[])?;
    let s = session(&b, &a, Direction::Pull)?;
    out.push(row("clone", &s, blocks));

    // Fast-forward: a adds ff, b pulls; fresh (no per-peer state) and resumed.
    for resumed in [false, true] {
        let before = b.heads(doc)?;
        commits(&a, doc, "f", ff)?;
        let blocks = block_bytes(&a, doc, &before)?;
        if !resumed {
            forget_peers(&a)?;
            forget_peers(&b)?;
        }
        let s = session(&b, &a, Direction::Pull)?;
        let name = if resumed {
            "fast-forward, resumed"
        } else {
            "fast-forward, fresh"
        };
        out.push(row(name, &s, blocks));
    }

    // Divergence: both add ff different changes, b syncs both ways.
    for resumed in [false, true] {
        let (ha, hb) = (a.heads(doc)?, b.heads(doc)?);
        commits(&a, doc, "a", ff)?;
        commits(&b, doc, "b", ff)?;
        let blocks = block_bytes(&a, doc, &hb)? + block_bytes(&b, doc, &ha)?;
        if !resumed {
            forget_peers(&a)?;
            forget_peers(&b)?;
        }
        let s = session(&b, &a, Direction::Both)?;
        anyhow::ensure!(
            a.heads(doc)? == b.heads(doc)?,
            "the replicas did not converge"
        );
        let name = if resumed {
            "diverge, resumed"
        } else {
            "diverge, fresh"
        };
        out.push(row(name, &s, blocks));
    }
    Ok(json!({ "bench": "weft-protocol", "n": n, "ff": ff, "scenarios": out }))
}

/// Prints weft's rows and Automerge's side by side.
pub fn print_protocol(weft: &Json, automerge: &Json) {
    println!(
        "protocol: N = {}, ff = {}; in process; RTs = request/reply exchanges (Automerge: \
         ceil(messages / 2))",
        weft["n"], weft["ff"]
    );
    println!(
        "  {:<24} {:>8} {:>8} {:>13} {:>13} {:>13} {:>9} {:>10}",
        "scenario",
        "weft RTs",
        "AM RTs",
        "weft wire B",
        "AM wire B",
        "weft blocks",
        "overhead",
        "redundant"
    );
    let am: Vec<&Json> = automerge["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for w in weft["scenarios"].as_array().into_iter().flatten() {
        let name = w["scenario"].as_str().unwrap_or("");
        let am_name = match name {
            "fast-forward, fresh" => "fast-forward",
            "diverge, fresh" => "diverge",
            other => other,
        };
        let a = am.iter().find(|s| s["scenario"].as_str() == Some(am_name));
        let wire = w["bytes_in"].as_f64().unwrap_or(0.0) + w["bytes_out"].as_f64().unwrap_or(0.0);
        // serde_json's Display ignores widths: format each cell as a string first.
        let cell = |v: &Json| match v.as_f64() {
            Some(x) => crate::fmt_int(x),
            None => "-".to_string(),
        };
        println!(
            "  {:<24} {:>8} {:>8} {:>13} {:>13} {:>13} {:>8.1}% {:>10}",
            name,
            cell(&w["round_trips"]),
            cell(&a.map_or(Json::Null, |s| s["round_trips"].clone())),
            crate::fmt_int(wire),
            cell(&a.map_or(Json::Null, |s| s["bytes_total"]["median"].clone())),
            cell(&w["block_bytes"]),
            w["overhead"].as_f64().unwrap_or(f64::NAN) * 100.0,
            cell(&w["redundant"]),
        );
    }
}

/// Both, for the `protocol` subcommand.
pub fn protocol_bench(n: u64, ff: u64) -> Result<(Json, Json)> {
    let weft = weft_protocol_bench(n, ff).context("weft protocol scenarios")?;
    let am = crate::sync::automerge_sync_bench(n, ff, 1)?;
    Ok((weft, am))
}
