//! `disk`: what a repository takes on disk against the bytes it holds. weft's `.weft` after the
//! workload of N single-op changes, over the bytes of the blocks in its log; git's repository
//! of the same shape after `git gc`, over the bytes of its objects; and the todo shape (each
//! item one change of three keys) in weft beside Automerge's `save()`.

use std::{fs, path::Path, time::Instant};

use anyhow::{ensure, Result};
use automerge::{transaction::Transactable, AutoCommit, ReadDoc, ROOT};
use serde_json::{json, Value as Json};
use weft_dag::{Durability, Repo, Value};

use crate::{
    build_repo, dir_size, fmt_int, git, log_blocks, machine, max, median, min, print_machine,
    weft_options,
};

fn tempdir(tmp: Option<&Path>) -> Result<tempfile::TempDir> {
    Ok(match tmp {
        Some(t) => tempfile::Builder::new()
            .prefix("weft-bench-disk")
            .tempdir_in(t)?,
        None => tempfile::Builder::new()
            .prefix("weft-bench-disk")
            .tempdir()?,
    })
}

fn stats(xs: &[f64]) -> Json {
    json!({ "median": median(xs), "min": min(xs), "max": max(xs), "samples": xs })
}

/// Sizes of one weft repo after it was closed.
struct WeftDisk {
    dir_len: u64,
    dir_alloc: u64,
    packs_len: u64,
    db_len: u64,
    blocks: u64,
    block_bytes: u64,
    build_secs: f64,
}

/// Sizes of the closed repo at `root`; opens it again to count the blocks in its log.
fn weft_sizes(root: &Path, build_secs: f64) -> Result<WeftDisk> {
    let dot = root.join(weft_dag::WEFT_DIR);
    let (dir_len, dir_alloc) = dir_size(&dot)?;
    let (packs_len, _) = dir_size(&dot.join(weft_store::layout::PACKS_DIR))?;
    let (db_len, _) = dir_size(&dot.join(weft_dag::DB_DIR))?;
    let (blocks, block_bytes) = {
        let repo = Repo::open(root, weft_options(Durability::Manual))?;
        log_blocks(repo.store())?
    };
    Ok(WeftDisk {
        dir_len,
        dir_alloc,
        packs_len,
        db_len,
        blocks,
        block_bytes,
        build_secs,
    })
}

/// The workload (change i sets `k/{i % 1000}`), built and closed, then measured.
fn weft_workload_disk(d: &Path, n: u64, r: usize) -> Result<WeftDisk> {
    let root = d.join(format!("weft-{r}"));
    fs::create_dir_all(&root)?;
    let secs = build_repo(&root, n)?;
    let out = weft_sizes(&root, secs);
    crate::rm_rf(&root);
    out
}

fn todo_title(i: u64) -> String {
    format!("Buy item number {i}")
}

fn todo_list(i: u64) -> String {
    ["inbox", "groceries", "work", "home"][(i % 4) as usize].to_string()
}

/// The todo shape in weft: item i is one change setting `todo/{i}/title`, `todo/{i}/done` and
/// `todo/{i}/list`; one flush at the end, then the repo is closed and measured.
fn weft_todo_disk(d: &Path, items: u64, r: usize) -> Result<WeftDisk> {
    let root = d.join(format!("weft-todo-{r}"));
    fs::create_dir_all(&root)?;
    let start = Instant::now();
    {
        let repo = Repo::init(&root, weft_options(Durability::Manual))?;
        let doc = repo.doc("main")?;
        for i in 0..items {
            let mut tx = repo.transaction(doc);
            tx.set(&format!("todo/{i}/title"), Value::String(todo_title(i)))?;
            tx.set(&format!("todo/{i}/done"), Value::Bool(i % 3 == 0))?;
            tx.set(&format!("todo/{i}/list"), Value::String(todo_list(i)))?;
            tx.commit()?;
        }
        repo.flush()?;
        if items > 0 {
            let got = repo.state(doc).get("todo/1/title")?;
            ensure!(
                got == Some(Value::String(todo_title(1))),
                "weft holds {got:?} for todo/1/title"
            );
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let out = weft_sizes(&root, secs);
    crate::rm_rf(&root);
    out
}

/// The todo shape in Automerge: one `commit` per item, `save()` at the end. Returns the saved
/// bytes and the seconds it took.
fn automerge_todo(items: u64) -> Result<(u64, f64)> {
    let start = Instant::now();
    let mut doc = AutoCommit::new();
    for i in 0..items {
        doc.put(ROOT, format!("todo/{i}/title"), todo_title(i))?;
        doc.put(ROOT, format!("todo/{i}/done"), i % 3 == 0)?;
        doc.put(ROOT, format!("todo/{i}/list"), todo_list(i))?;
        doc.commit();
    }
    let saved = doc.save();
    let secs = start.elapsed().as_secs_f64();
    if items > 1 {
        let got = doc.get(ROOT, "todo/1/title")?.map(|(v, _)| v.to_string());
        ensure!(
            got.as_deref().is_some_and(|s| s.contains(&todo_title(1))),
            "automerge holds {got:?} for todo/1/title"
        );
    }
    Ok((saved.len() as u64, secs))
}

/// git's repository of the workload's shape after `git gc`: its sizes and its objects'.
struct GitDisk {
    dir_len: u64,
    dir_alloc: u64,
    objects: u64,
    object_bytes: u64,
    build_secs: f64,
}

fn git_disk(d: &Path, n: u64, files: u64, r: usize) -> Result<GitDisk> {
    let path = d.join(format!("git-{r}.git"));
    let start = Instant::now();
    git::init_bare(&path)?;
    git::fast_import(&path, 0..n, files, false, d)?;
    git::git(&[
        std::ffi::OsStr::new("-C"),
        path.as_os_str(),
        std::ffi::OsStr::new("gc"),
        std::ffi::OsStr::new("-q"),
    ])?;
    let build_secs = start.elapsed().as_secs_f64();
    git::check_count(&path, n)?;
    let (dir_len, dir_alloc) = dir_size(&path)?;
    let (objects, object_bytes) = git::object_bytes(&path)?;
    crate::rm_rf(&path);
    Ok(GitDisk {
        dir_len,
        dir_alloc,
        objects,
        object_bytes,
        build_secs,
    })
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Weft,
    Git,
    WeftTodo,
    AutomergeTodo,
}

/// `disk`: see README.md.
pub fn disk_bench(n: u64, items: u64, files: u64, runs: usize, tmp: Option<&Path>) -> Result<Json> {
    ensure!(runs > 0, "--runs must be positive");
    let version = git::version()?;
    let dir = tempdir(tmp)?;
    let d = dir.path();
    let mut parts = Vec::new();
    if n > 0 {
        parts.extend([Part::Weft, Part::Git]);
    }
    if items > 0 {
        parts.extend([Part::WeftTodo, Part::AutomergeTodo]);
    }
    ensure!(
        !parts.is_empty(),
        "nothing to measure: --n and --items are both 0"
    );
    let (mut weft, mut gits, mut todo, mut am) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in 0..runs {
        let mut order = parts.clone();
        order.rotate_left(r % parts.len());
        for p in order {
            match p {
                Part::Weft => {
                    eprintln!("weft: {n} changes, run {}/{runs} ...", r + 1);
                    weft.push(weft_workload_disk(d, n, r)?);
                }
                Part::Git => {
                    eprintln!(
                        "git: {n} commits over {files} file(s), fast-import + gc, run {}/{runs} ...",
                        r + 1
                    );
                    gits.push(git_disk(d, n, files, r)?);
                }
                Part::WeftTodo => {
                    eprintln!("weft: todo of {items} items, run {}/{runs} ...", r + 1);
                    todo.push(weft_todo_disk(d, items, r)?);
                }
                Part::AutomergeTodo => {
                    eprintln!("automerge: todo of {items} items, run {}/{runs} ...", r + 1);
                    am.push(automerge_todo(items)?);
                }
            }
        }
    }
    let weft_json = |ws: &[WeftDisk], per: u64| -> Json {
        if ws.is_empty() {
            return Json::Null;
        }
        let g = |f: &dyn Fn(&WeftDisk) -> f64| -> Vec<f64> { ws.iter().map(f).collect() };
        json!({
            "dir_bytes": stats(&g(&|w| w.dir_len as f64)),
            "dir_allocated_bytes": stats(&g(&|w| w.dir_alloc as f64)),
            "packs_bytes": stats(&g(&|w| w.packs_len as f64)),
            "db_bytes": stats(&g(&|w| w.db_len as f64)),
            "blocks": ws[0].blocks,
            "block_bytes": stats(&g(&|w| w.block_bytes as f64)),
            "dir_over_blocks": stats(&g(&|w| w.dir_len as f64 / w.block_bytes as f64)),
            "allocated_over_blocks": stats(&g(&|w| w.dir_alloc as f64 / w.block_bytes as f64)),
            "dir_bytes_per_change": median(&g(&|w| w.dir_len as f64)) / per as f64,
            "build_secs": stats(&g(&|w| w.build_secs)),
        })
    };
    let git_json = if gits.is_empty() {
        Json::Null
    } else {
        let g = |f: &dyn Fn(&GitDisk) -> f64| -> Vec<f64> { gits.iter().map(f).collect() };
        json!({
            "files": files,
            "dir_bytes": stats(&g(&|x| x.dir_len as f64)),
            "dir_allocated_bytes": stats(&g(&|x| x.dir_alloc as f64)),
            "objects": gits[0].objects,
            "object_bytes": stats(&g(&|x| x.object_bytes as f64)),
            "dir_over_objects": stats(&g(&|x| x.dir_len as f64 / x.object_bytes as f64)),
            "allocated_over_objects": stats(&g(&|x| x.dir_alloc as f64 / x.object_bytes as f64)),
            "dir_bytes_per_commit": median(&g(&|x| x.dir_len as f64)) / n as f64,
            "build_secs": stats(&g(&|x| x.build_secs)),
        })
    };
    let per_run = |a: Vec<f64>, b: Vec<f64>| -> Json {
        if a.is_empty() || b.is_empty() {
            return Json::Null;
        }
        let r: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x / y).collect();
        stats(&r)
    };
    let todo_over_am = per_run(
        todo.iter().map(|w| w.dir_len as f64).collect(),
        am.iter().map(|a| a.0 as f64).collect(),
    );
    let weft_dir_per_change: Vec<f64> = weft.iter().map(|w| w.dir_len as f64 / n as f64).collect();
    let git_dir_per_commit: Vec<f64> = gits.iter().map(|x| x.dir_len as f64 / n as f64).collect();
    Ok(json!({
        "bench": "disk",
        "n": n,
        "items": items,
        "runs": runs,
        "git_version": version,
        "machine": machine(d),
        "order": "each run: weft, git, weft todo, Automerge todo back to back, rotating which goes first",
        "weft": weft_json(&weft, n),
        "git": git_json,
        "weft_over_git_dir_bytes": per_run(weft_dir_per_change, git_dir_per_commit),
        "todo": if items > 0 { json!({
            "weft": weft_json(&todo, items),
            "automerge_save_bytes": stats(&am.iter().map(|a| a.0 as f64).collect::<Vec<_>>()),
            "automerge_secs": stats(&am.iter().map(|a| a.1).collect::<Vec<_>>()),
            "weft_dir_over_automerge_save": todo_over_am,
        }) } else { Json::Null },
    }))
}

pub fn print_disk(r: &Json) {
    print_machine(&r["machine"]);
    println!();
    let f = |v: &Json| v.as_f64().unwrap_or(f64::NAN);
    let m = |v: &Json| f(&v["median"]);
    println!(
        "disk: {} runs (parts back to back, order rotating), medians; directories measured after \
         the repo was closed",
        r["runs"]
    );
    let w = &r["weft"];
    let g = &r["git"];
    if w.is_object() {
        println!(
            "N = {} single-op changes (weft: k/{{i % 1000}}; git: {} file(s), fast-import then gc, {})",
            fmt_int(f(&r["n"])),
            g["files"],
            r["git_version"].as_str().unwrap_or("?")
        );
        println!("  {:<44} {:>16} {:>16}", "", "weft .weft", "git repository");
        println!(
            "  {:<44} {:>16} {:>16}",
            "directory, sum of file lengths",
            fmt_int(m(&w["dir_bytes"])),
            fmt_int(m(&g["dir_bytes"]))
        );
        println!(
            "  {:<44} {:>16} {:>16}",
            "directory, allocated blocks",
            fmt_int(m(&w["dir_allocated_bytes"])),
            fmt_int(m(&g["dir_allocated_bytes"]))
        );
        println!(
            "  {:<44} {:>16} {:>16}",
            "  of which packs / sled database",
            format!(
                "{} / {}",
                fmt_int(m(&w["packs_bytes"])),
                fmt_int(m(&w["db_bytes"]))
            ),
            ""
        );
        println!(
            "  {:<44} {:>16} {:>16}",
            "content: block bytes / object bytes",
            fmt_int(m(&w["block_bytes"])),
            fmt_int(m(&g["object_bytes"]))
        );
        println!(
            "  {:<44} {:>16} {:>16}",
            "  blocks / objects",
            fmt_int(f(&w["blocks"])),
            fmt_int(f(&g["objects"]))
        );
        println!(
            "  {:<44} {:>16.3} {:>16.3}",
            "directory / content (target for weft: <= 1.5)",
            m(&w["dir_over_blocks"]),
            m(&g["dir_over_objects"])
        );
        println!(
            "  {:<44} {:>16.3} {:>16.3}",
            "allocated / content",
            m(&w["allocated_over_blocks"]),
            m(&g["allocated_over_objects"])
        );
        println!(
            "  {:<44} {:>16.1} {:>16.1}",
            "directory bytes per change / commit",
            f(&w["dir_bytes_per_change"]),
            f(&g["dir_bytes_per_commit"])
        );
        println!(
            "  {:<44} {:>16.2}",
            "ratio weft/git directory bytes (median of runs)",
            m(&r["weft_over_git_dir_bytes"])
        );
    }
    let t = &r["todo"];
    if t.is_object() {
        let tw = &t["weft"];
        println!(
            "todo: {} items, each one change of 3 keys (todo/{{i}}/title, done, list)",
            fmt_int(f(&r["items"]))
        );
        println!(
            "  {:<44} {:>16} (target < 10,000,000; packs {} / db {})",
            "weft .weft, sum of file lengths",
            fmt_int(m(&tw["dir_bytes"])),
            fmt_int(m(&tw["packs_bytes"])),
            fmt_int(m(&tw["db_bytes"]))
        );
        println!(
            "  {:<44} {:>16}",
            "weft .weft, allocated blocks",
            fmt_int(m(&tw["dir_allocated_bytes"]))
        );
        println!(
            "  {:<44} {:>16}   ({:.3}x)",
            "weft block bytes",
            fmt_int(m(&tw["block_bytes"])),
            m(&tw["dir_over_blocks"])
        );
        println!(
            "  {:<44} {:>16}",
            "Automerge save()",
            fmt_int(m(&t["automerge_save_bytes"]))
        );
        println!(
            "  {:<44} {:>16.1}",
            "ratio weft .weft / Automerge save() (median)",
            m(&t["weft_dir_over_automerge_save"])
        );
    }
}
