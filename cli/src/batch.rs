//! `weft batch`: many writes in one process. Reads commands from stdin, one per line, commits
//! each line as its own change, and reports each change only once it is durable.
//!
//! A line is `set KEY VALUE`, `rm KEY`, `incr KEY [DELTA]`, `sadd KEY MEMBER...` or
//! `srem KEY MEMBER...`, the same as the write commands take on the command line, split on
//! whitespace. `set`'s VALUE is the rest of the line (so JSON with spaces needs no quoting); it
//! and every MEMBER are parsed as `weft set` parses them ([`Value::parse_cli`]). Blank lines and
//! lines starting with `#` are skipped.
//!
//! Each committed line prints its change's CID (or `nothing to change`; with `--json`
//! `{"line", "cid", "key"}`), flushed, after the commit is on disk: the CLI opens repos with
//! [`weft_dag::Durability::EveryCommit`], so `commit` returns only after the store is flushed, and
//! we flush once more so that the report never depends on that setting. The first bad line
//! (unparsable, or refused by the repo) ends the batch with its error, prefixed by `line N:`; the
//! lines before it stay committed.
//!
//! Input comes from our stdin, or, when another weft process holds the repo and runs the batch
//! for us, from the `STDIN` frames our process forwards to it ([`Input`], see `daemon.rs`).

use std::io::{BufRead, Write};

use anyhow::{Context as _, Result};
use serde::Serialize;
use weft_dag::{Repo, Value};

use crate::{
    ctx::{Ctx, Input},
    out::{write_json, UsageError},
};

/// One write, parsed from a line.
#[derive(Debug)]
enum Write1 {
    Set(String, Value),
    Rm(String),
    Incr(String, i64),
    Sadd(String, Vec<Value>),
    Srem(String, Vec<Value>),
}

impl Write1 {
    fn key(&self) -> &str {
        match self {
            Write1::Set(k, _)
            | Write1::Rm(k)
            | Write1::Incr(k, _)
            | Write1::Sadd(k, _)
            | Write1::Srem(k, _) => k,
        }
    }
}

/// The first whitespace-separated word of `s` and the rest after it (leading space removed).
fn word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], s[end..].trim_start()))
}

fn value(s: &str) -> Result<Value, String> {
    Value::parse_cli(s).map_err(|e| format!("invalid value {s:?}: {e}"))
}

/// Parses one line; `Ok(None)` for a blank line or a comment.
fn parse(line: &str) -> Result<Option<Write1>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let usage = "expected `set KEY VALUE`, `rm KEY`, `incr KEY [DELTA]`, `sadd KEY MEMBER...` \
                 or `srem KEY MEMBER...`";
    let Some((cmd, rest)) = word(line) else {
        return Ok(None);
    };
    if !["set", "rm", "incr", "sadd", "srem"].contains(&cmd) {
        return Err(format!("unknown command {cmd:?} ({usage})"));
    }
    let Some((key, rest)) = word(rest) else {
        return Err(format!("`{cmd}` needs a KEY ({usage})"));
    };
    let key = key.to_string();
    let args: Vec<&str> = rest.split_whitespace().collect();
    Ok(Some(match (cmd, args.as_slice()) {
        ("set", [_, ..]) => Write1::Set(key, value(rest)?),
        ("rm", []) => Write1::Rm(key),
        ("incr", []) => Write1::Incr(key, 1),
        ("incr", [delta]) => Write1::Incr(key, crate::parse::delta(delta)?),
        ("sadd", [_, ..]) => Write1::Sadd(
            key,
            args.iter().map(|m| value(m)).collect::<Result<_, _>>()?,
        ),
        ("srem", [_, ..]) => Write1::Srem(
            key,
            args.iter().map(|m| value(m)).collect::<Result<_, _>>()?,
        ),
        _ => return Err(format!("wrong number of arguments for `{cmd}` ({usage})")),
    }))
}

/// One line of `weft batch --json`: a line committed.
#[derive(Debug, Serialize)]
struct Line<'a> {
    /// Its number in the input, from 1.
    line: u64,
    /// The change; `None` when nothing changed.
    cid: Option<String>,
    key: &'a str,
}

/// `weft batch` on `repo`: reads `input` (or stdin when `None`) to its end.
pub fn run(ctx: &Ctx<'_>, repo: &Repo, input: Option<&Input>, out: &mut dyn Write) -> Result<()> {
    match input {
        Some(Input(r)) => {
            let mut r = weft_store::sync_util::lock(r);
            run_on(ctx, repo, &mut *r, out)
        }
        None => run_on(ctx, repo, &mut std::io::stdin().lock(), out),
    }
}

fn run_on(ctx: &Ctx<'_>, repo: &Repo, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<()> {
    let cli = ctx.cli();
    let doc = repo.doc(cli.doc.as_deref().unwrap_or(weft_dag::DEFAULT_DOC))?;
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        n += 1;
        if input
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("line {n}: cannot read the input"))?
            == 0
        {
            return Ok(());
        }
        // A proxied batch whose client went away (or whose server is stopping) ends here,
        // before it commits anything its client will not hear about.
        if ctx.stopped() {
            anyhow::bail!(
                "line {n}: stopped before the end of the input (the client went away, or the \
                 weft process serving the repo is stopping)"
            );
        }
        let line =
            std::str::from_utf8(&buf).map_err(|_| UsageError(format!("line {n}: not UTF-8")))?;
        let write = match parse(line) {
            Ok(Some(w)) => w,
            Ok(None) => continue,
            Err(msg) => return Err(UsageError(format!("line {n}: {msg}")).into()),
        };
        let committed = (|| -> Result<_> {
            let mut tx = repo.transaction(doc);
            match &write {
                Write1::Set(k, v) => tx.set(k, v.clone()).map(drop)?,
                Write1::Rm(k) => tx.del(k).map(drop)?,
                Write1::Incr(k, d) => tx.incr(k, *d).map(drop)?,
                Write1::Sadd(k, ms) => {
                    for m in ms {
                        tx.add(k, m.clone())?;
                    }
                }
                Write1::Srem(k, ms) => {
                    for m in ms {
                        tx.remove(k, m.clone())?;
                    }
                }
            }
            let committed = tx.commit()?;
            // Durable before it is reported (see the module docs).
            repo.flush()?;
            Ok(committed)
        })()
        .with_context(|| format!("line {n}"))?;
        if cli.json {
            write_json(
                out,
                &Line {
                    line: n,
                    cid: committed.as_ref().map(|c| c.cid.to_string()),
                    key: write.key(),
                },
            )?;
        } else if !cli.quiet {
            match &committed {
                Some(c) => writeln!(out, "{}", c.cid)?,
                None => writeln!(out, "nothing to change")?,
            }
        }
        out.flush()?;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_like_the_write_commands() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("   \t").unwrap().is_none());
        assert!(parse("# set a 1").unwrap().is_none());
        assert!(matches!(
            parse("set a {\"x\": [1, 2]}").unwrap(),
            Some(Write1::Set(k, Value::Map(_))) if k == "a"
        ));
        assert!(matches!(
            parse("  set greeting hello world ").unwrap(),
            Some(Write1::Set(_, Value::String(s))) if s == "hello world"
        ));
        assert!(matches!(parse("rm a").unwrap(), Some(Write1::Rm(_))));
        assert!(matches!(parse("incr n").unwrap(), Some(Write1::Incr(_, 1))));
        assert!(matches!(
            parse("incr n -3").unwrap(),
            Some(Write1::Incr(_, -3))
        ));
        assert!(matches!(
            parse("sadd s x 7").unwrap(),
            Some(Write1::Sadd(_, m)) if m == vec![Value::String("x".into()), Value::Int(7)]
        ));
        assert!(matches!(parse("srem s x").unwrap(), Some(Write1::Srem(_, m)) if m.len() == 1));
        for bad in [
            "set a",
            "rm",
            "rm a b",
            "incr n x",
            "incr n 1 2",
            "sadd s",
            "srem s",
            "get a",
            "set n 99999999999999999999",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
