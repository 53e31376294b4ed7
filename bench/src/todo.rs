//! `todo`: a todo list of `--items` items (default 10,000) in weft, Automerge and Loro, paired
//! run by run: push every item, move `--moves` of them to the front, then read the whole list
//! many times.
//!
//! Item `i` is `{"title": "item i", "done": false}`. Move `k` (0-based) moves the item pushed
//! `10k + 5`th to index 0; that item is then at index `10k + 5` (the items moved before it are
//! all in front of it, as are the ones that stayed), so every system moves the same item by the
//! same index. A read is the application getting all `(title, done)` pairs in order into its
//! own vector.

use std::{collections::BTreeMap, path::Path, time::Instant};

use anyhow::{bail, ensure, Context, Result};
use automerge::{transaction::Transactable, AutoCommit, ObjType, ReadDoc, ROOT};
use loro::{ExportMode, LoroDoc, LoroValue};
use serde_json::{json, Value as Json};
use weft_dag::{Durability, Place, Repo, Value};

use crate::{dir_size, fmt_int, machine, median, print_machine, weft_options};

const LIST: &str = "todo";
const SYSTEMS: [&str; 3] = ["weft", "automerge", "loro"];

fn title(i: usize) -> String {
    format!("item {i}")
}

/// The item moved by move `k`, and its index when it is moved.
fn moved(k: usize) -> usize {
    10 * k + 5
}

/// The titles in order after `moves` moves of `items` items.
fn expected(items: usize, moves: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..moves).rev().map(|k| title(moved(k))).collect();
    let set: std::collections::HashSet<usize> = (0..moves).map(moved).collect();
    v.extend((0..items).filter(|i| !set.contains(i)).map(title));
    v
}

type Items = Vec<(String, bool)>;

#[derive(Debug, Default)]
struct Run {
    push_secs: f64,
    move_secs: f64,
    reads: Vec<f64>,
    first_read: f64,
    size: u64,
}

fn time_reads(reads: usize, mut read: impl FnMut() -> Result<Items>) -> Result<(Vec<f64>, Items)> {
    let mut v = Vec::with_capacity(reads);
    let mut last = Vec::new();
    for _ in 0..reads {
        let t = Instant::now();
        let items = read()?;
        v.push(t.elapsed().as_secs_f64());
        last = std::hint::black_box(items);
    }
    Ok((v, last))
}

fn check(got: &Items, want: &[String], what: &str) -> Result<()> {
    ensure!(
        got.len() == want.len(),
        "{what}: {} items, not {}",
        got.len(),
        want.len()
    );
    for (i, ((t, d), w)) in got.iter().zip(want).enumerate() {
        ensure!(
            t == w && !d,
            "{what}: item {i} is ({t}, {d}), not ({w}, false)"
        );
    }
    Ok(())
}

fn weft_item(i: usize) -> Value {
    let mut m = BTreeMap::new();
    m.insert("title".to_string(), Value::String(title(i)));
    m.insert("done".to_string(), Value::Bool(false));
    Value::Map(m)
}

fn weft_read(repo: &Repo, doc: weft_dag::DocId) -> Result<Items> {
    let els = repo.state(doc).elements(LIST)?;
    els.into_iter()
        .map(|e| match e.value {
            Value::Map(mut m) => {
                let t = match m.remove("title") {
                    Some(Value::String(s)) => s,
                    other => bail!("title {other:?}"),
                };
                let d = matches!(m.get("done"), Some(Value::Bool(true)));
                Ok((t, d))
            }
            other => bail!("element {other:?}"),
        })
        .collect()
}

fn weft_run(
    items: usize,
    moves: usize,
    per: usize,
    reads: usize,
    tmp: Option<&Path>,
    want: &[String],
) -> Result<Run> {
    let dir = match tmp {
        Some(t) => tempfile::tempdir_in(t)?,
        None => tempfile::tempdir()?,
    };
    let repo = Repo::init(dir.path(), weft_options(Durability::Manual))?;
    let doc = repo.doc("main")?;
    let t = Instant::now();
    let mut ids = Vec::with_capacity(items);
    let all: Vec<usize> = (0..items).collect();
    for chunk in all.chunks(per) {
        let mut tx = repo.transaction(doc);
        let mut pending = Vec::with_capacity(chunk.len());
        for &i in chunk {
            pending.push(tx.list_push(LIST, weft_item(i))?);
        }
        let stored = tx.commit()?.context("empty commit")?;
        ids.extend(pending.into_iter().map(|p| stored.resolve(p)));
    }
    repo.flush()?;
    let push_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let ks: Vec<usize> = (0..moves).collect();
    for chunk in ks.chunks(per) {
        let mut tx = repo.transaction(doc);
        for &k in chunk {
            tx.list_move(ids[moved(k)], Place::At(LIST.to_string(), 0))?;
        }
        tx.commit()?;
    }
    repo.flush()?;
    let move_secs = t.elapsed().as_secs_f64();
    let (reads_v, last) = time_reads(reads, || weft_read(&repo, doc))?;
    check(&last, want, "weft")?;
    drop(repo);
    // The first read of a freshly opened repo (the list is loaded from the store).
    let t = Instant::now();
    let repo = Repo::open(dir.path(), weft_options(Durability::Manual))?;
    let doc = repo.doc("main")?;
    let first = weft_read(&repo, doc)?;
    let first_read = t.elapsed().as_secs_f64();
    check(&first, want, "weft (reopened)")?;
    drop(repo);
    let (size, _) = dir_size(&dir.path().join(weft_dag::WEFT_DIR))?;
    Ok(Run {
        push_secs,
        move_secs,
        reads: reads_v,
        first_read,
        size,
    })
}

fn am_item(
    doc: &mut AutoCommit,
    list: &automerge::ObjId,
    at: usize,
    t: &str,
    d: bool,
) -> Result<()> {
    let m = doc.insert_object(list, at, ObjType::Map)?;
    doc.put(&m, "title", t)?;
    doc.put(&m, "done", d)?;
    Ok(())
}

fn am_read(doc: &AutoCommit, list: &automerge::ObjId) -> Result<Items> {
    let mut out = Vec::with_capacity(doc.length(list));
    for item in doc.list_range(list, ..) {
        let t = match doc.get(&item.id, "title")? {
            Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
                automerge::ScalarValue::Str(s) => s.to_string(),
                other => bail!("title {other:?}"),
            },
            other => bail!("title {other:?}"),
        };
        let d = matches!(
            doc.get(&item.id, "done")?,
            Some((automerge::Value::Scalar(s), _)) if matches!(s.as_ref(), automerge::ScalarValue::Boolean(true))
        );
        out.push((t, d));
    }
    Ok(out)
}

fn automerge_run(
    items: usize,
    moves: usize,
    per: usize,
    reads: usize,
    want: &[String],
) -> Result<Run> {
    let t = Instant::now();
    let mut doc = AutoCommit::new();
    let list = doc.put_object(ROOT, LIST, ObjType::List)?;
    for i in 0..items {
        am_item(&mut doc, &list, i, &title(i), false)?;
        if (i + 1) % per == 0 || i + 1 == items {
            doc.commit();
        }
    }
    let _ = doc.save();
    let push_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for k in 0..moves {
        // A move in Automerge: delete, and insert a copy.
        let at = moved(k);
        let (_, obj) = doc.get(&list, at)?.context("no item")?;
        let tt = match doc.get(&obj, "title")? {
            Some((v, _)) => v
                .into_string()
                .map_err(|v| anyhow::anyhow!("title {v:?}"))?,
            None => bail!("no title"),
        };
        let d = matches!(doc.get(&obj, "done")?, Some((v, _)) if v.to_bool() == Some(true));
        doc.delete(&list, at)?;
        am_item(&mut doc, &list, 0, &tt, d)?;
        if (k + 1) % per == 0 || k + 1 == moves {
            doc.commit();
        }
    }
    let saved = doc.save();
    let move_secs = t.elapsed().as_secs_f64();
    let (reads_v, last) = time_reads(reads, || am_read(&doc, &list))?;
    check(&last, want, "automerge")?;
    let t = Instant::now();
    let doc2 = AutoCommit::load(&saved)?;
    let (_, list2) = doc2.get(ROOT, LIST)?.context("no list")?;
    let first = am_read(&doc2, &list2)?;
    let first_read = t.elapsed().as_secs_f64();
    check(&first, want, "automerge (loaded)")?;
    Ok(Run {
        push_secs,
        move_secs,
        reads: reads_v,
        first_read,
        size: saved.len() as u64,
    })
}

fn loro_read(list: &loro::LoroMovableList) -> Result<Items> {
    let v = list.get_value();
    let LoroValue::List(l) = v else {
        bail!("not a list")
    };
    l.iter()
        .map(|x| match x {
            LoroValue::Map(m) => {
                let t = match m.get("title") {
                    Some(LoroValue::String(s)) => s.to_string(),
                    other => bail!("title {other:?}"),
                };
                let d = matches!(m.get("done"), Some(LoroValue::Bool(true)));
                Ok((t, d))
            }
            other => bail!("element {other:?}"),
        })
        .collect()
}

fn loro_run(items: usize, moves: usize, per: usize, reads: usize, want: &[String]) -> Result<Run> {
    let t = Instant::now();
    let doc = LoroDoc::new();
    let list = doc.get_movable_list(LIST);
    for i in 0..items {
        let m: loro::LoroMapValue = vec![
            ("title".to_string(), LoroValue::from(title(i))),
            ("done".to_string(), LoroValue::from(false)),
        ]
        .into();
        list.push(LoroValue::Map(m))?;
        if (i + 1) % per == 0 || i + 1 == items {
            doc.commit();
        }
    }
    let push_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for k in 0..moves {
        list.mov(moved(k), 0)?;
        if (k + 1) % per == 0 || k + 1 == moves {
            doc.commit();
        }
    }
    let saved = doc.export(ExportMode::Snapshot)?;
    let move_secs = t.elapsed().as_secs_f64();
    let (reads_v, last) = time_reads(reads, || loro_read(&list))?;
    check(&last, want, "loro")?;
    let t = Instant::now();
    let doc2 = LoroDoc::from_snapshot(&saved)?;
    let first = loro_read(&doc2.get_movable_list(LIST))?;
    let first_read = t.elapsed().as_secs_f64();
    check(&first, want, "loro (loaded)")?;
    Ok(Run {
        push_secs,
        move_secs,
        reads: reads_v,
        first_read,
        size: saved.len() as u64,
    })
}

pub fn todo_bench(
    items: usize,
    moves: usize,
    pers: &[usize],
    runs: usize,
    reads: usize,
    tmp: Option<&Path>,
    as_json: bool,
) -> Result<Json> {
    ensure!(
        items > 0 && runs > 0 && reads > 0,
        "--items, --runs and --reads must be positive"
    );
    ensure!(
        moves == 0 || moved(moves - 1) < items,
        "--moves: move k moves item 10k+5, which must exist"
    );
    let want = expected(items, moves);
    let mut per_reports = Vec::new();
    for &per in pers {
        ensure!(per > 0, "--per must be positive");
        let mut all: Vec<[Run; 3]> = Vec::new();
        for r in 0..runs {
            let mut order = vec![0usize, 1, 2];
            order.rotate_left(r % 3);
            let mut res: [Run; 3] = Default::default();
            for &s in &order {
                res[s] = match s {
                    0 => weft_run(items, moves, per, reads, tmp, &want)?,
                    1 => automerge_run(items, moves, per, reads, &want)?,
                    _ => loro_run(items, moves, per, reads, &want)?,
                };
            }
            if !as_json {
                eprintln!(
                    "per {per} run {}/{runs}: read (median of {reads}) weft {:.3} ms, automerge {:.3} ms, loro {:.3} ms; push weft {:.2} s, automerge {:.2} s, loro {:.2} s",
                    r + 1,
                    median(&res[0].reads) * 1e3,
                    median(&res[1].reads) * 1e3,
                    median(&res[2].reads) * 1e3,
                    res[0].push_secs,
                    res[1].push_secs,
                    res[2].push_secs,
                );
            }
            all.push(res);
        }
        let col =
            |s: usize, g: fn(&Run) -> f64| -> Vec<f64> { all.iter().map(|r| g(&r[s])).collect() };
        #[allow(clippy::type_complexity)]
        let getters: [(&str, fn(&Run) -> f64); 5] = [
            ("push_secs", |r| r.push_secs),
            ("move_secs", |r| r.move_secs),
            ("read_secs", |r| median(&r.reads)),
            ("first_read_after_load_secs", |r| r.first_read),
            ("size_bytes", |r| r.size as f64),
        ];
        let mut systems = serde_json::Map::new();
        for (s, name) in SYSTEMS.iter().enumerate() {
            let mut m = serde_json::Map::new();
            for (k, g) in &getters {
                m.insert(format!("{k}_median"), json!(median(&col(s, *g))));
                m.insert(k.to_string(), json!(col(s, *g)));
            }
            m.insert(
                "reads_all".into(),
                json!(all.iter().map(|r| r[s].reads.clone()).collect::<Vec<_>>()),
            );
            systems.insert(name.to_string(), Json::Object(m));
        }
        let mut ratios = serde_json::Map::new();
        for (s, name) in SYSTEMS.iter().enumerate().skip(1) {
            let mut m = serde_json::Map::new();
            for (k, g) in &getters {
                let r: Vec<f64> = all.iter().map(|x| g(&x[0]) / g(&x[s])).collect();
                m.insert(format!("{k}_median"), json!(median(&r)));
                m.insert(k.to_string(), json!(r));
            }
            ratios.insert(format!("weft_over_{name}"), Json::Object(m));
        }
        per_reports.push(json!({
            "per": per,
            "changes_push": items.div_ceil(per),
            "changes_move": moves.div_ceil(per),
            "systems": systems,
            "ratios": ratios,
        }));
    }
    let tmp_dir = tmp
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let report = json!({
        "bench": "todo",
        "items": items,
        "moves": moves,
        "runs": runs,
        "reads": reads,
        "machine": machine(&tmp_dir),
        "per": per_reports,
    });
    if !as_json {
        print_todo(&report);
    }
    Ok(report)
}

fn f(j: &Json) -> f64 {
    j.as_f64().unwrap_or(f64::NAN)
}

fn print_todo(r: &Json) {
    print_machine(&r["machine"]);
    println!();
    println!(
        "todo: {} items pushed, {} moved to the front, all (title, done) read in order {} times per run; {} runs (paired, rotating order)",
        fmt_int(f(&r["items"])),
        fmt_int(f(&r["moves"])),
        r["reads"],
        r["runs"]
    );
    for p in r["per"].as_array().into_iter().flatten() {
        println!();
        println!(
            "--per {} ({} push changes, {} move changes):",
            p["per"],
            fmt_int(f(&p["changes_push"])),
            fmt_int(f(&p["changes_move"]))
        );
        println!(
            "{:<34} {:>12} {:>12} {:>12} {:>9} {:>9}",
            "median", "weft", "automerge", "loro", "w/am", "w/loro"
        );
        let rows: [(&str, &str, f64, usize); 5] = [
            ("push all (s)", "push_secs", 1.0, 3),
            ("move (s)", "move_secs", 1.0, 3),
            ("read all in order (ms)", "read_secs", 1e3, 3),
            (
                "open/load + first read (ms)",
                "first_read_after_load_secs",
                1e3,
                2,
            ),
            ("size (bytes)", "size_bytes", 1.0, 0),
        ];
        for (label, k, scale, prec) in rows {
            let v = |s: &str| f(&p["systems"][s][format!("{k}_median")]) * scale;
            let show = |x: f64| {
                if prec == 0 {
                    fmt_int(x)
                } else {
                    format!("{x:.prec$}")
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
    }
}
