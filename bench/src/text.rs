//! `text-trace`: replay a real editing trace (the `automerge-paper` trace: 259,778
//! single-character edits of one LaTeX file) into weft, Automerge and Loro, paired run by run.
//!
//! Each system runs in a child process (this binary, `text-apply SYSTEM ...`) measured by the
//! `__measure` helper (see `proc.rs`), so that its peak RSS is its own. The child applies the
//! edits, committing every `--per` edits, persists (weft: `flush`; Automerge: `save()`, Loro:
//! a snapshot export, each written to a file and `fsync`ed), and prints its timings as JSON.
//! Then the document is opened and its text read, in fresh processes (`open-text SYSTEM PATH`),
//! several times, interleaved.

use std::{
    ffi::OsString,
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{bail, ensure, Context, Result};
use automerge::{
    transaction::Transactable, AutoCommit, LoadOptions, ObjType, ReadDoc, TextEncoding, ROOT,
};
use loro::{ExportMode, LoroDoc};
use serde_json::{json, Value as Json};
use weft_dag::{Durability, Identity, Options, Repo};

use crate::{dir_size, fmt_int, machine, median, print_machine, proc, weft_options};

/// The trace, relative to the bench crate.
pub const TRACE: &str = "../dag/tests/data/editing-traces/automerge-paper.json.gz";
/// The key (weft) / object name (Automerge, Loro) of the text.
pub const KEY: &str = "text";

pub const SYSTEMS: [&str; 3] = ["weft", "automerge", "loro"];

/// One edit: at `pos` (Unicode code points), delete `del` characters, then insert `ins`.
#[derive(Debug, Clone)]
pub struct Edit {
    pub pos: usize,
    pub del: usize,
    pub ins: String,
}

pub struct Trace {
    pub start: String,
    pub end: String,
    pub edits: Vec<Edit>,
    /// Transactions of the trace, and the most patches any one holds.
    pub txns: usize,
    pub max_patches_per_txn: usize,
}

pub fn load_trace(path: &Path) -> Result<Trace> {
    let f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut s = String::new();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut s)
        .with_context(|| format!("decompressing {}", path.display()))?;
    let j: Json = serde_json::from_str(&s).context("parsing the trace")?;
    let start = j["startContent"]
        .as_str()
        .context("no startContent")?
        .to_string();
    let end = j["endContent"]
        .as_str()
        .context("no endContent")?
        .to_string();
    let txns = j["txns"].as_array().context("no txns")?;
    let mut edits = Vec::new();
    let mut max_patches = 0;
    for t in txns {
        let patches = t["patches"].as_array().context("txn without patches")?;
        max_patches = max_patches.max(patches.len());
        for p in patches {
            let (pos, del, ins) = (
                p[0].as_u64().context("patch pos")? as usize,
                p[1].as_u64().context("patch del")? as usize,
                p[2].as_str().context("patch text")?.to_string(),
            );
            edits.push(Edit { pos, del, ins });
        }
    }
    Ok(Trace {
        start,
        end,
        edits,
        txns: txns.len(),
        max_patches_per_txn: max_patches,
    })
}

/// The text after the first `limit` edits, by a plain vector of chars (the reference).
fn reference(trace: &Trace, limit: usize) -> String {
    let mut v: Vec<char> = trace.start.chars().collect();
    for e in &trace.edits[..limit] {
        v.drain(e.pos..e.pos + e.del);
        v.splice(e.pos..e.pos, e.ins.chars());
    }
    v.into_iter().collect()
}

/// FNV-1a 64 of a string, with its length: how children report the text they read.
pub fn text_digest(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{}:{h:016x}", s.len())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

// ----- the children -----

/// Writes the trace's start text and first `limit` edits to `path` in a compact form for the
/// children (so that their peak RSS is not the JSON parser's): `u32 len, start bytes`, then per
/// edit `u32 pos, u32 del, u32 len, inserted bytes` (little endian).
fn write_edits(trace: &Trace, limit: usize, path: &Path) -> Result<()> {
    let mut b = Vec::new();
    let put = |b: &mut Vec<u8>, x: usize| b.extend_from_slice(&(x as u32).to_le_bytes());
    put(&mut b, trace.start.len());
    b.extend_from_slice(trace.start.as_bytes());
    for e in &trace.edits[..limit] {
        put(&mut b, e.pos);
        put(&mut b, e.del);
        put(&mut b, e.ins.len());
        b.extend_from_slice(e.ins.as_bytes());
    }
    fs::write(path, b)?;
    Ok(())
}

/// The start text and the edits of a file [`write_edits`] wrote, read in place.
struct Edits {
    buf: Vec<u8>,
    start_end: usize,
}

impl Edits {
    fn read(path: &Path) -> Result<Edits> {
        let buf = fs::read(path)?;
        ensure!(buf.len() >= 4, "edits file too short");
        let start_end = 4 + u32::from_le_bytes(buf[..4].try_into()?) as usize;
        ensure!(buf.len() >= start_end, "edits file too short");
        std::str::from_utf8(&buf[4..start_end])?;
        Ok(Edits { buf, start_end })
    }

    fn start(&self) -> &str {
        std::str::from_utf8(&self.buf[4..self.start_end]).unwrap_or("")
    }

    fn iter(&self) -> impl Iterator<Item = (usize, usize, &str)> + '_ {
        let mut at = self.start_end;
        let b = &self.buf;
        std::iter::from_fn(move || {
            if at + 12 > b.len() {
                return None;
            }
            let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
            let (pos, del, len) = (u(at), u(at + 4), u(at + 8));
            let ins = std::str::from_utf8(&b[at + 12..at + 12 + len]).unwrap_or("");
            at += 12 + len;
            Some((pos, del, ins))
        })
    }
}

/// `text-apply SYSTEM PER EDITS OUT`: applies the edits of the file EDITS (see
/// [`write_edits`]), committing every PER, persists into OUT (weft: a repo root; others: a
/// file), prints JSON.
pub fn apply_main(system: &str, per: usize, edits: &Path, out: &Path) -> Result<()> {
    ensure!(per > 0, "--per must be positive");
    let edits = Edits::read(edits)?;
    let j = match system {
        "weft" => apply_weft(&edits, per, out)?,
        "automerge" => apply_automerge(&edits, per, out)?,
        "loro" => apply_loro(&edits, per, out)?,
        other => bail!("unknown system {other}"),
    };
    println!("{j}");
    Ok(())
}

fn apply_weft(edits: &Edits, per: usize, out: &Path) -> Result<Json> {
    let start = edits.start();
    let repo = Repo::init(out, weft_options(Durability::Manual))?;
    let doc = repo.doc("main")?;
    let t0 = Instant::now();
    // Where the time goes: the first edit of each transaction (it copies the document's
    // lists and texts into the transaction's working copy), the other edits, the commits.
    let (mut first_s, mut rest_s, mut commit_s) = (0.0, 0.0, 0.0);
    let mut changes = 0u64;
    if !start.is_empty() {
        let mut tx = repo.transaction(doc);
        tx.text_insert(KEY, 0, start)?;
        tx.commit()?;
        changes += 1;
    }
    let mut it = edits.iter().peekable();
    while it.peek().is_some() {
        let mut tx = repo.transaction(doc);
        for (i, (pos, del, ins)) in it.by_ref().take(per).enumerate() {
            let t = Instant::now();
            tx.text_splice(KEY, pos, del, ins)?;
            let d = t.elapsed().as_secs_f64();
            if i == 0 {
                first_s += d;
            } else {
                rest_s += d;
            }
        }
        let t = Instant::now();
        tx.commit()?;
        commit_s += t.elapsed().as_secs_f64();
        changes += 1;
    }
    let t = Instant::now();
    repo.flush()?;
    let flush_s = t.elapsed().as_secs_f64();
    let secs = t0.elapsed().as_secs_f64();
    let text = repo.state(doc).text(KEY)?.unwrap_or_default();
    let (blocks, block_bytes) = crate::log_blocks(repo.store())?;
    let size_on_disk = repo.size_on_disk()?;
    let t = Instant::now();
    drop(repo);
    let close_s = t.elapsed().as_secs_f64();
    Ok(json!({
        "secs": secs,
        "changes": changes,
        "digest": text_digest(&text),
        "blocks": blocks,
        "block_bytes": block_bytes,
        "size_on_disk": size_on_disk,
        "close_secs": close_s,
        "parts": {
            "first_edit_of_tx_secs": first_s,
            "other_edits_secs": rest_s,
            "commit_secs": commit_s,
            "flush_secs": flush_s,
        },
    }))
}

fn apply_automerge(edits: &Edits, per: usize, out: &Path) -> Result<Json> {
    let start = edits.start();
    let t0 = Instant::now();
    let mut doc = AutoCommit::new_with_encoding(TextEncoding::UnicodeCodePoint);
    let text = doc.put_object(ROOT, KEY, ObjType::Text)?;
    if !start.is_empty() {
        doc.splice_text(&text, 0, 0, start)?;
    }
    doc.commit();
    let mut changes = 1u64;
    let mut it = edits.iter().peekable();
    while it.peek().is_some() {
        for (pos, del, ins) in it.by_ref().take(per) {
            doc.splice_text(&text, pos, del as isize, ins)?;
        }
        doc.commit();
        changes += 1;
    }
    let t = Instant::now();
    let bytes = doc.save();
    write_synced(out, &bytes)?;
    let save_s = t.elapsed().as_secs_f64();
    let secs = t0.elapsed().as_secs_f64();
    let s = doc.text(&text)?;
    Ok(json!({
        "secs": secs,
        "changes": changes,
        "digest": text_digest(&s),
        "save_secs": save_s,
    }))
}

fn apply_loro(edits: &Edits, per: usize, out: &Path) -> Result<Json> {
    let start = edits.start();
    let t0 = Instant::now();
    let doc = LoroDoc::new();
    let text = doc.get_text(KEY);
    let mut changes = 0u64;
    if !start.is_empty() {
        text.insert(0, start)?;
        doc.commit();
        changes += 1;
    }
    let mut it = edits.iter().peekable();
    while it.peek().is_some() {
        for (pos, del, ins) in it.by_ref().take(per) {
            if del > 0 {
                text.delete(pos, del)?;
            }
            if !ins.is_empty() {
                text.insert(pos, ins)?;
            }
        }
        doc.commit();
        changes += 1;
    }
    let t = Instant::now();
    let bytes = doc.export(ExportMode::Snapshot)?;
    write_synced(out, &bytes)?;
    let save_s = t.elapsed().as_secs_f64();
    let secs = t0.elapsed().as_secs_f64();
    Ok(json!({
        "secs": secs,
        "changes": changes,
        "digest": text_digest(&text.to_string()),
        "save_secs": save_s,
    }))
}

/// `open-text SYSTEM PATH [KEY]`: opens the document and reads the text; prints JSON with the
/// in-process times and the text's digest.
pub fn open_main(system: &str, path: &Path, key: &str) -> Result<()> {
    let t0 = Instant::now();
    let (open_s, text) = match system {
        "weft" => {
            let repo = Repo::open(path, Options::default())?;
            let doc = repo.doc("main")?;
            let o = t0.elapsed().as_secs_f64();
            (o, repo.state(doc).text(key)?.context("no text")?)
        }
        "automerge" => {
            let bytes = fs::read(path)?;
            let doc = AutoCommit::load_with_options(
                &bytes,
                LoadOptions::new().text_encoding(TextEncoding::UnicodeCodePoint),
            )?;
            let o = t0.elapsed().as_secs_f64();
            let (_, obj) = doc.get(ROOT, key)?.context("no text")?;
            (o, doc.text(&obj)?)
        }
        "loro" => {
            let bytes = fs::read(path)?;
            let doc = LoroDoc::from_snapshot(&bytes)?;
            let o = t0.elapsed().as_secs_f64();
            (o, doc.get_text(key).to_string())
        }
        other => bail!("unknown system {other}"),
    };
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"secs": secs, "open_secs": open_s, "read_secs": secs - open_s, "digest": text_digest(&text)})
    );
    Ok(())
}

// ----- the parent -----

fn parse_child(m: &proc::Measured, what: &str) -> Result<Json> {
    m.check(what)?;
    let line = m.stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).with_context(|| format!("`{what}` printed {line:?}"))
}

fn ms(x: f64) -> f64 {
    x * 1e3
}

pub struct TextOpts {
    pub pers: Vec<usize>,
    pub limit: Option<usize>,
    pub runs: usize,
    pub open_runs: usize,
    pub trace: PathBuf,
    pub tmp: Option<PathBuf>,
    pub sign_floor: bool,
}

pub fn text_trace_bench(o: &TextOpts, as_json: bool) -> Result<Json> {
    ensure!(
        o.runs > 0 && !o.pers.is_empty(),
        "--runs and --per must be positive"
    );
    let trace = load_trace(&o.trace)?;
    let total = trace.edits.len();
    let limit = o.limit.map_or(total, |l| l.min(total));
    let expected = if limit == total {
        text_digest(&trace.end)
    } else {
        text_digest(&reference(&trace, limit))
    };
    if limit == total {
        ensure!(
            text_digest(&reference(&trace, limit)) == expected,
            "the trace's edits do not give its endContent"
        );
    }
    let exe = std::env::current_exe()?;
    let tmp_dir = o.tmp.clone().unwrap_or_else(std::env::temp_dir);
    let mut per_reports = Vec::new();
    let mut weft_bytes_per_change = None;
    let edits_dir = match &o.tmp {
        Some(t) => tempfile::tempdir_in(t)?,
        None => tempfile::tempdir()?,
    };
    let edits_file = edits_dir.path().join("edits.bin");
    write_edits(&trace, limit, &edits_file)?;
    for &per in &o.pers {
        ensure!(per > 0, "--per must be positive");
        // samples[system] = per-run JSON
        let mut runs: Vec<[Json; 3]> = Vec::new();
        for r in 0..o.runs {
            let dir = match &o.tmp {
                Some(t) => tempfile::tempdir_in(t)?,
                None => tempfile::tempdir()?,
            };
            let paths: Vec<PathBuf> = vec![
                dir.path().join("weft"),
                dir.path().join("automerge.bin"),
                dir.path().join("loro.bin"),
            ];
            let mut order = vec![0usize, 1, 2];
            order.rotate_left(r % 3);
            let mut res: [Json; 3] = [Json::Null, Json::Null, Json::Null];
            for &s in &order {
                if s == 0 {
                    fs::create_dir_all(&paths[0])?;
                }
                let args: Vec<OsString> = vec![
                    "text-apply".into(),
                    SYSTEMS[s].into(),
                    per.to_string().into(),
                    edits_file.clone().into(),
                    paths[s].clone().into(),
                ];
                let m = proc::run_measured(exe.as_os_str(), &args, None, &[], dir.path())?;
                let what = format!("text-apply {} --per {per}", SYSTEMS[s]);
                let mut j = parse_child(&m, &what)?;
                ensure!(
                    j["digest"].as_str() == Some(&expected),
                    "{what}: the final text differs from the trace's ({} vs {expected})",
                    j["digest"]
                );
                j["wall_secs"] = json!(m.secs);
                j["maxrss_kb"] = json!(m.maxrss_kb);
                j["size_bytes"] = json!(if s == 0 {
                    let (len, alloc) = dir_size(&paths[0].join(weft_dag::WEFT_DIR))?;
                    j["dir_allocated_bytes"] = json!(alloc);
                    len
                } else {
                    fs::metadata(&paths[s])?.len()
                });
                if !as_json {
                    eprintln!(
                        "per {per} run {}/{}: {} apply+persist {:.3} s, {} bytes, peak RSS {} MiB",
                        r + 1,
                        o.runs,
                        SYSTEMS[s],
                        j["secs"].as_f64().unwrap_or(f64::NAN),
                        fmt_int(j["size_bytes"].as_f64().unwrap_or(0.0)),
                        m.maxrss_kb / 1024
                    );
                }
                res[s] = j;
            }
            // Open and read, in fresh processes, interleaved.
            let mut opens: [Vec<(f64, f64, f64, u64)>; 3] = Default::default();
            for i in 0..o.open_runs {
                let mut order = vec![0usize, 1, 2];
                order.rotate_left(i % 3);
                for &s in &order {
                    let args: Vec<OsString> = vec![
                        "open-text".into(),
                        SYSTEMS[s].into(),
                        paths[s].clone().into(),
                        KEY.into(),
                    ];
                    let m = proc::run_measured(exe.as_os_str(), &args, None, &[], dir.path())?;
                    let what = format!("open-text {}", SYSTEMS[s]);
                    let j = parse_child(&m, &what)?;
                    ensure!(
                        j["digest"].as_str() == Some(&expected),
                        "{what}: the text read differs from the trace's"
                    );
                    opens[s].push((
                        m.secs,
                        j["secs"].as_f64().unwrap_or(f64::NAN),
                        j["open_secs"].as_f64().unwrap_or(f64::NAN),
                        m.maxrss_kb,
                    ));
                }
            }
            for s in 0..3 {
                let v = &opens[s];
                let col =
                    |f: fn(&(f64, f64, f64, u64)) -> f64| -> Vec<f64> { v.iter().map(f).collect() };
                res[s]["open"] = json!({
                    "process_secs_median": median(&col(|x| x.0)),
                    "in_process_secs_median": median(&col(|x| x.1)),
                    "in_process_open_secs_median": median(&col(|x| x.2)),
                    "maxrss_kb_median": median(&col(|x| x.3 as f64)),
                    "process_secs": col(|x| x.0),
                    "in_process_secs": col(|x| x.1),
                });
            }
            if !as_json {
                eprintln!(
                    "per {per} run {}/{}: open+read (fresh process, median of {}): weft {:.1} ms, automerge {:.1} ms, loro {:.1} ms",
                    r + 1,
                    o.runs,
                    o.open_runs,
                    ms(res[0]["open"]["process_secs_median"].as_f64().unwrap_or(f64::NAN)),
                    ms(res[1]["open"]["process_secs_median"].as_f64().unwrap_or(f64::NAN)),
                    ms(res[2]["open"]["process_secs_median"].as_f64().unwrap_or(f64::NAN)),
                );
            }
            if per == 1 {
                let (b, n) = (res[0]["block_bytes"].as_f64(), res[0]["blocks"].as_f64());
                if let (Some(b), Some(n)) = (b, n) {
                    weft_bytes_per_change = Some((b / n).round() as usize);
                }
            }
            runs.push(res);
        }
        per_reports.push(summarize(per, limit, total, &runs));
    }
    let sign = match (o.sign_floor && o.pers.contains(&1), weft_bytes_per_change) {
        (true, Some(len)) => Some(sign_floor(total, len)),
        _ => None,
    };
    let report = json!({
        "bench": "text-trace",
        "trace": o.trace.to_string_lossy(),
        "trace_edits": total,
        "trace_txns": trace.txns,
        "max_patches_per_txn": trace.max_patches_per_txn,
        "edits_replayed": limit,
        "prefix": limit < total,
        "final_chars": trace.end.chars().count(),
        "runs": o.runs,
        "open_runs": o.open_runs,
        "machine": machine(&tmp_dir),
        "automerge": "0.6",
        "loro": "1.x (Cargo.lock)",
        "per": per_reports,
        "sign_floor": sign,
    });
    if !as_json {
        print_text(&report);
    }
    Ok(report)
}

fn f(j: &Json) -> f64 {
    j.as_f64().unwrap_or(f64::NAN)
}

fn summarize(per: usize, limit: usize, total: usize, runs: &[[Json; 3]]) -> Json {
    let col = |s: usize, get: &dyn Fn(&Json) -> f64| -> Vec<f64> {
        runs.iter().map(|r| get(&r[s])).collect()
    };
    let ratio = |s: usize, get: &dyn Fn(&Json) -> f64| -> Vec<f64> {
        runs.iter().map(|r| get(&r[0]) / get(&r[s])).collect()
    };
    #[allow(clippy::type_complexity)]
    let getters: Vec<(&str, Box<dyn Fn(&Json) -> f64>)> = vec![
        ("apply_persist_secs", Box::new(|j: &Json| f(&j["secs"]))),
        ("size_bytes", Box::new(|j: &Json| f(&j["size_bytes"]))),
        ("maxrss_kb", Box::new(|j: &Json| f(&j["maxrss_kb"]))),
        (
            "open_read_process_secs",
            Box::new(|j: &Json| f(&j["open"]["process_secs_median"])),
        ),
        (
            "open_read_in_process_secs",
            Box::new(|j: &Json| f(&j["open"]["in_process_secs_median"])),
        ),
        (
            "open_maxrss_kb",
            Box::new(|j: &Json| f(&j["open"]["maxrss_kb_median"])),
        ),
    ];
    let mut systems = serde_json::Map::new();
    for (s, name) in SYSTEMS.iter().enumerate() {
        let mut m = serde_json::Map::new();
        for (k, g) in &getters {
            m.insert(format!("{k}_median"), json!(median(&col(s, g.as_ref()))));
            m.insert(k.to_string(), json!(col(s, g.as_ref())));
        }
        m.insert("changes".into(), runs[0][s]["changes"].clone());
        m.insert(
            "runs".into(),
            json!(runs.iter().map(|r| r[s].clone()).collect::<Vec<_>>()),
        );
        systems.insert(name.to_string(), Json::Object(m));
    }
    let mut ratios = serde_json::Map::new();
    for (s, name) in SYSTEMS.iter().enumerate().skip(1) {
        let mut m = serde_json::Map::new();
        for (k, g) in &getters {
            let r = ratio(s, g.as_ref());
            m.insert(format!("{k}_median"), json!(median(&r)));
            m.insert(k.to_string(), json!(r));
        }
        ratios.insert(format!("weft_over_{name}"), Json::Object(m));
    }
    // weft's parts, medians.
    let part = |k: &str| median(&col(0, &|j: &Json| f(&j["parts"][k])));
    json!({
        "per": per,
        "edits": limit,
        "prefix": limit < total,
        "systems": systems,
        "ratios": ratios,
        "weft_parts_median": {
            "first_edit_of_tx_secs": part("first_edit_of_tx_secs"),
            "other_edits_secs": part("other_edits_secs"),
            "commit_secs": part("commit_secs"),
            "flush_secs": part("flush_secs"),
            "close_secs": median(&col(0, &|j: &Json| f(&j["close_secs"]))),
        },
        "weft_blocks": runs[0][0]["blocks"].clone(),
        "weft_block_bytes": runs[0][0]["block_bytes"].clone(),
    })
}

/// The floor that signing `n` changes sets: `Identity::sign` over `n` distinct messages of
/// `len` bytes (a typical change's signed bytes), timed in this process.
fn sign_floor(n: usize, len: usize) -> Json {
    let id = Identity::generate();
    let mut msg = vec![0x5au8; len.max(16)];
    let t = Instant::now();
    let mut acc = 0u8;
    for i in 0..n {
        msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
        acc ^= id.sign(&msg)[0];
    }
    let secs = t.elapsed().as_secs_f64();
    std::hint::black_box(acc);
    json!({"signatures": n, "message_bytes": len, "secs": secs, "us_per_signature": secs * 1e6 / n as f64})
}

fn print_text(r: &Json) {
    print_machine(&r["machine"]);
    println!();
    println!(
        "trace: {} ({} edits in {} transactions, at most {} patch(es) per transaction){}",
        r["trace"].as_str().unwrap_or("?"),
        fmt_int(f(&r["trace_edits"])),
        fmt_int(f(&r["trace_txns"])),
        r["max_patches_per_txn"],
        if r["prefix"].as_bool() == Some(true) {
            format!(
                "; PREFIX: only the first {} edits replayed",
                fmt_int(f(&r["edits_replayed"]))
            )
        } else {
            String::new()
        }
    );
    println!(
        "runs: {} (paired, rotating order); open+read: {} fresh processes per system per run, interleaved",
        r["runs"], r["open_runs"]
    );
    for p in r["per"].as_array().into_iter().flatten() {
        println!();
        println!(
            "--per {} ({} edits per change; weft {} changes, {} blocks):",
            p["per"],
            p["per"],
            fmt_int(f(&p["systems"]["weft"]["changes"])),
            fmt_int(f(&p["weft_blocks"])),
        );
        println!(
            "{:<34} {:>12} {:>12} {:>12} {:>9} {:>9}",
            "median", "weft", "automerge", "loro", "w/am", "w/loro"
        );
        let rows: [(&str, &str, f64, &str); 6] = [
            ("apply + persist (s)", "apply_persist_secs", 1.0, "{:.3}"),
            ("saved size (bytes)", "size_bytes", 1.0, "int"),
            ("peak RSS, apply (MiB)", "maxrss_kb", 1.0 / 1024.0, "{:.1}"),
            (
                "open + read, fresh process (ms)",
                "open_read_process_secs",
                1e3,
                "{:.2}",
            ),
            (
                "open + read, in that process (ms)",
                "open_read_in_process_secs",
                1e3,
                "{:.2}",
            ),
            (
                "peak RSS, open + read (MiB)",
                "open_maxrss_kb",
                1.0 / 1024.0,
                "{:.1}",
            ),
        ];
        for (label, k, scale, fmt) in rows {
            let v = |s: &str| f(&p["systems"][s][format!("{k}_median")]) * scale;
            let show = |x: f64| {
                if fmt == "int" {
                    fmt_int(x)
                } else if fmt == "{:.3}" {
                    format!("{x:.3}")
                } else if fmt == "{:.2}" {
                    format!("{x:.2}")
                } else {
                    format!("{x:.1}")
                }
            };
            let ra = |s: &str| f(&p["ratios"][format!("weft_over_{s}")][format!("{k}_median")]);
            println!(
                "{:<34} {:>12} {:>12} {:>12} {:>9.2} {:>9.2}",
                label,
                show(v("weft")),
                show(v("automerge")),
                show(v("loro")),
                ra("automerge"),
                ra("loro")
            );
        }
        let wp = &p["weft_parts_median"];
        println!(
            "weft parts (s): first edit of each tx {:.3}, other edits {:.3}, commit {:.3}, flush {:.3}; close (not timed above) {:.3}",
            f(&wp["first_edit_of_tx_secs"]),
            f(&wp["other_edits_secs"]),
            f(&wp["commit_secs"]),
            f(&wp["flush_secs"]),
            f(&wp["close_secs"]),
        );
    }
    if let Some(s) = r["sign_floor"].as_object() {
        println!();
        println!(
            "signing floor: {} ed25519 signatures (Identity::sign) of {}-byte messages: {:.3} s ({:.1} µs each)",
            fmt_int(f(&s["signatures"])),
            s["message_bytes"],
            f(&s["secs"]),
            f(&s["us_per_signature"])
        );
    }
}
