//! `weft demo`: the main job in one command, in a temporary directory.
//!
//! Two replicas of one document make concurrent edits (register, counter, set), exchange their
//! changes, and converge; the register conflict stays visible through `get --all`.

use std::io::Write;

use anyhow::{Context as _, Result};
use weft_dag::{Options, Repo, Value};

use crate::graph::{Lanes, Row};

fn exchange(from: &Repo, to: &Repo, doc: weft_dag::DocId) -> Result<usize> {
    let mut blocks = Vec::new();
    for entry in from.log(doc) {
        let entry = entry?;
        if !to.has_change(&entry.cid)? {
            blocks.push((entry.cid, from.block(&entry.cid)?));
        }
    }
    // Oldest first: parents before children.
    blocks.reverse();
    Ok(to.apply_changes(blocks)?.applied.len())
}

/// Runs the demo, writing a narrated transcript to `out`.
pub fn run(out: &mut dyn Write) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("weft-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    run_in(tmp.path(), out)
}

fn run_in(tmp: &std::path::Path, out: &mut dyn Write) -> Result<()> {
    let (dir_a, dir_b) = (tmp.join("laptop"), tmp.join("phone"));
    std::fs::create_dir_all(&dir_a)
        .with_context(|| format!("cannot create {}", dir_a.display()))?;
    std::fs::create_dir_all(&dir_b)
        .with_context(|| format!("cannot create {}", dir_b.display()))?;
    let a = Repo::init(&dir_a, Options::default())?;
    let doc = a.doc("main")?;
    writeln!(out, "# two replicas of document {doc}")?;
    writeln!(
        out,
        "laptop  {}  author {}",
        dir_a.display(),
        a.author().short()
    )?;
    let b = Repo::init(&dir_b, Options::default())?;
    writeln!(
        out,
        "phone   {}  author {}",
        dir_b.display(),
        b.author().short()
    )?;

    let mut tx = a.transaction(doc);
    tx.set("todo/1", Value::parse_cli(r#"{"title":"milk"}"#)?)?;
    tx.incr("visits", 1)?;
    tx.add("tags", "home")?;
    tx.commit()?;
    let n = exchange(&a, &b, doc)?;
    b.name_doc("shared", doc)?;
    writeln!(out, "\n# laptop writes, phone receives {n} change(s)")?;

    writeln!(out, "\n# offline, both edit the same keys concurrently")?;
    let mut tx = a.transaction(doc);
    tx.set("todo/1", Value::parse_cli(r#"{"title":"oat milk"}"#)?)?;
    tx.incr("visits", 2)?;
    tx.add("tags", "urgent")?;
    tx.commit()?;
    writeln!(
        out,
        "laptop: set todo/1 = {{\"title\":\"oat milk\"}}, incr visits 2, sadd tags urgent"
    )?;
    let mut tx = b.transaction(doc);
    tx.set("todo/1", Value::parse_cli(r#"{"title":"soy milk"}"#)?)?;
    tx.incr("visits", 5)?;
    tx.remove("tags", "home")?;
    tx.commit()?;
    writeln!(
        out,
        "phone:  set todo/1 = {{\"title\":\"soy milk\"}}, incr visits 5, srem tags home"
    )?;

    let to_b = exchange(&a, &b, doc)?;
    let to_a = exchange(&b, &a, doc)?;
    writeln!(
        out,
        "\n# exchange: laptop -> phone {to_b} change(s), phone -> laptop {to_a} change(s)"
    )?;

    for (name, repo) in [("laptop", &a), ("phone", &b)] {
        writeln!(out, "\n# {name}: weft ls")?;
        for (k, v) in repo.state(doc).list("")? {
            writeln!(out, "{k}\t{v}")?;
        }
    }
    writeln!(
        out,
        "\n# the concurrent writes to todo/1 both survive: weft get todo/1 --all"
    )?;
    for v in a.state(doc).get_all("todo/1")? {
        writeln!(out, "{v}")?;
    }
    let same = a.heads(doc)? == b.heads(doc)? && a.state(doc).list("")? == b.state(doc).list("")?;
    writeln!(
        out,
        "\nconverged: {}",
        if same {
            "yes (same heads, same state)"
        } else {
            "NO"
        }
    )?;

    writeln!(out, "\n# weft log --graph")?;
    let mut lanes = Lanes::new();
    for entry in a.log(doc) {
        let entry = entry?;
        for row in lanes.push(entry.cid, &entry.change.parents) {
            match row {
                Row::Commit(g, cid) => {
                    let text = cid.to_string();
                    let keys = entry.change.keys().join(", ");
                    writeln!(
                        out,
                        "{g} {}  {}  {}",
                        &text[text.len() - 8..],
                        entry.change.author.short(),
                        if keys.is_empty() {
                            "genesis".to_string()
                        } else {
                            keys
                        }
                    )?
                }
                Row::Edge(g) => writeln!(out, "{g}")?,
            }
        }
    }
    if !same {
        anyhow::bail!("the replicas did not converge");
    }
    Ok(())
}
