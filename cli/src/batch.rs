//! `weft batch`: many writes in one process. Reads commands from stdin, one per line, commits
//! each line as its own change, and reports each change only once it is durable.
//!
//! A line is `set KEY VALUE`, `rm KEY`, `incr KEY [DELTA]`, `sadd KEY MEMBER...`,
//! `srem KEY MEMBER...`, or a `list` or `text` write (`list push KEY [--before ID | --after ID]
//! VALUE`, `list insert KEY INDEX VALUE`, `list move KEY ID (--before ID | --after ID | --to
//! KEY2 [--index N])`, `list rm KEY ID`, `list set KEY ID VALUE`, `text insert KEY POS STRING`,
//! `text delete KEY POS LEN`), the same as the write commands take on the command line, split on
//! whitespace; `list push`, `list insert` and `list set` take the rest of the line as VALUE, and
//! `text insert` takes it as STRING (or, if it starts with `"`, a JSON string). `set`'s VALUE is the rest of the line (so JSON with spaces needs no quoting); it
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
    seq::{SeqWrite, Target},
};

/// One write, parsed from a line.
#[derive(Debug)]
enum Write1 {
    Set(String, Value),
    Rm(String),
    Incr(String, i64),
    Sadd(String, Vec<Value>),
    Srem(String, Vec<Value>),
    Seq(SeqWrite),
}

impl Write1 {
    fn key(&self) -> &str {
        match self {
            Write1::Set(k, _)
            | Write1::Rm(k)
            | Write1::Incr(k, _)
            | Write1::Sadd(k, _)
            | Write1::Srem(k, _) => k,
            Write1::Seq(w) => w.key(),
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
    Value::parse_cli(s).map_err(|e| format!("invalid value {}: {e}", weft_dag::clip(s)))
}

/// Parses one line; `Ok(None)` for a blank line or a comment.
fn parse(repo: &Repo, line: &str) -> Result<Option<Write1>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let usage = "expected `set KEY VALUE`, `rm KEY`, `incr KEY [DELTA]`, `sadd KEY MEMBER...`, \
                 `srem KEY MEMBER...`, `list push|insert|move|rm|set ...` or \
                 `text insert|delete ...`";
    let Some((cmd, rest)) = word(line) else {
        return Ok(None);
    };
    if cmd == "list" || cmd == "text" {
        return seq_line(repo, cmd, rest).map(|w| Some(Write1::Seq(w)));
    }
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

/// Parses the rest of a `list ...` or `text ...` line.
fn seq_line(repo: &Repo, family: &str, rest: &str) -> Result<SeqWrite, String> {
    let usage = match family {
        "list" => {
            "expected `list push KEY [--before ID | --after ID] VALUE`, `list insert KEY INDEX \
             VALUE`, `list move KEY ID (--before ID | --after ID | --to KEY2 [--index N])`, \
             `list rm KEY ID` or `list set KEY ID VALUE`"
        }
        _ => "expected `text insert KEY POS STRING` or `text delete KEY POS LEN`",
    };
    fn need<'a>(
        w: Option<(&'a str, &'a str)>,
        family: &str,
        what: &str,
        usage: &str,
    ) -> Result<(&'a str, &'a str), String> {
        w.ok_or_else(|| format!("`{family}` needs {what} ({usage})"))
    }
    let (cmd, rest) = need(word(rest), family, "a command", usage)?;
    let (key, rest) = need(word(rest), family, "a KEY", usage)?;
    let key = key.to_string();
    let id = |s: &str| crate::seq::element(Some(repo), s).map_err(|e| e.to_string());
    let number = |s: &str, what: &str| {
        s.parse::<usize>().map_err(|_| {
            format!(
                "invalid {what} {}: expected a whole number",
                weft_dag::clip(s)
            )
        })
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    Ok(match (family, cmd) {
        ("list", "push") => {
            let (next_to, value) = match word(rest) {
                Some(("--before", r)) | Some(("--after", r)) => {
                    let (other, value) = need(word(r), family, "an ID", usage)?;
                    (Some((id(other)?, rest.starts_with("--after"))), value)
                }
                _ => (None, rest),
            };
            if value.is_empty() {
                return Err(format!("`list push` needs a VALUE ({usage})"));
            }
            SeqWrite::Push {
                key,
                value: self::value(value)?,
                next_to,
            }
        }
        ("list", "insert") => {
            let (index, value) = need(word(rest), family, "an INDEX", usage)?;
            if value.is_empty() {
                return Err(format!("`list insert` needs a VALUE ({usage})"));
            }
            SeqWrite::Insert {
                key,
                index: number(index, "INDEX")?,
                value: self::value(value)?,
            }
        }
        ("list", "move") => {
            let target = match words.as_slice() {
                [_, "--before", o] => Target::Before(id(o)?),
                [_, "--after", o] => Target::After(id(o)?),
                [_, "--to", to] => Target::To(to.to_string(), None),
                [_, "--to", to, "--index", n] => Target::To(to.to_string(), Some(number(n, "N")?)),
                _ => return Err(format!("wrong arguments for `list move` ({usage})")),
            };
            SeqWrite::Move {
                key,
                id: id(words[0])?,
                target,
            }
        }
        ("list", "rm") => match words.as_slice() {
            [e] => SeqWrite::Rm { key, id: id(e)? },
            _ => return Err(format!("wrong arguments for `list rm` ({usage})")),
        },
        ("list", "set") => {
            let (e, value) = need(word(rest), family, "an ID", usage)?;
            if value.is_empty() {
                return Err(format!("`list set` needs a VALUE ({usage})"));
            }
            SeqWrite::Set {
                key,
                id: id(e)?,
                value: self::value(value)?,
            }
        }
        ("text", "insert") => {
            let (pos, string) = need(word(rest), family, "a POS", usage)?;
            // A JSON string may hold what a line cannot: newlines, leading or trailing spaces.
            let string = if string.starts_with('"') {
                serde_json::from_str::<String>(string)
                    .map_err(|e| format!("invalid JSON string {string:?}: {e}"))?
            } else {
                string.to_string()
            };
            SeqWrite::TextInsert {
                key,
                pos: number(pos, "POS")?,
                string,
            }
        }
        ("text", "delete") => match words.as_slice() {
            [pos, len] => SeqWrite::TextDelete {
                key,
                pos: number(pos, "POS")?,
                len: number(len, "LEN")?,
            },
            _ => return Err(format!("wrong arguments for `text delete` ({usage})")),
        },
        _ => return Err(format!("unknown command `{family} {cmd}` ({usage})")),
    })
}

/// One line of `weft batch --json`: a line committed.
#[derive(Debug, Serialize)]
struct Line<'a> {
    /// Its number in the input, from 1.
    line: u64,
    /// The change; `None` when nothing changed.
    cid: Option<String>,
    key: &'a str,
    /// `list push` and `list insert`: the new element's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
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
        let write = match parse(repo, line) {
            Ok(Some(w)) => w,
            Ok(None) => continue,
            Err(msg) => return Err(UsageError(format!("line {n}: {msg}")).into()),
        };
        let (committed, made) = (|| -> Result<_> {
            let mut tx = repo.transaction(doc);
            let mut made = None;
            match &write {
                Write1::Seq(w) => made = w.stage(&mut tx)?,
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
            Ok((committed, made))
        })()
        .with_context(|| format!("line {n}"))?;
        let id = match (&committed, made) {
            (Some(c), Some(id)) => Some(c.resolve(id).to_string()),
            _ => None,
        };
        if cli.json {
            write_json(
                out,
                &Line {
                    line: n,
                    cid: committed.as_ref().map(|c| c.cid.to_string()),
                    key: write.key(),
                    id,
                },
            )?;
        } else if let Some(id) = id {
            writeln!(out, "{id}")?;
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
        let repo = Repo::memory(weft_dag::Identity::generate());
        let parse = |line: &str| super::parse(&repo, line);
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
