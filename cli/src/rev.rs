//! Revisions, resolved against an open repo: CIDs and unique prefixes of them, `@` (this
//! replica's heads), a remote's name (the heads it had at the last sync), `REV~N` (N
//! generations back along the first parent), comma lists (a point with several heads) and
//! ranges `A..B` (what B reaches and A does not), as `log`, `show`, `diff`, `get --at` and the
//! others take them.
//!
//! Every change CID of weft starts with the same seven characters, [`HEADER`] (`b`, then the
//! CIDv1, dag-cbor, BLAKE3 and length bytes in base32); a prefix must have at least
//! [`MIN_PREFIX`] characters after it. `log` prints [`SHORT`] characters after it, more when
//! two changes share them.

use std::collections::BTreeSet;

use anyhow::Result;
use weft_dag::{Cid, DocId, Repo};
use weft_store::DigestPrefix;

use crate::out::{usage, NotFound};

/// The characters every change CID starts with.
pub(crate) const HEADER: &str = "bafyr4i";
/// The fewest characters a CID prefix has after [`HEADER`].
pub(crate) const MIN_PREFIX: usize = 4;
/// The characters after [`HEADER`] of the short CIDs `log` prints.
pub(crate) const SHORT: usize = 12;
/// The length of a whole CID in text.
const CID_TEXT_LEN: usize = 59;

/// Whether `s` is meant as a CID or a prefix of one (as opposed to `@` or a remote's name).
pub(crate) fn looks_like_cid(s: &str) -> bool {
    s.starts_with("bafy") || s.starts_with("bafk") || s.len() == CID_TEXT_LEN
}

/// Checks the form of a CID or CID prefix, without the repo: a usage error (exit 2) if it
/// cannot be one.
pub(crate) fn check_cid(s: &str) -> Result<()> {
    if s.len() == CID_TEXT_LEN {
        return crate::parse::cid(s).map(drop);
    }
    let base32 = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    if s.starts_with(HEADER)
        && s.len() >= HEADER.len() + MIN_PREFIX
        && s.len() < CID_TEXT_LEN
        && base32
    {
        return Ok(());
    }
    // Not a prefix of a weft CID: if it reads as a CID of another kind, what is wrong with it.
    if s.starts_with('b') && base32 && !s.starts_with(HEADER) {
        crate::parse::cid(s)?;
    }
    Err(usage(format!(
        "invalid CID {}: expected a CID, or a prefix of one with at least {MIN_PREFIX} \
         characters after {HEADER:?}, as `weft log` prints",
        weft_dag::clip(s)
    )))
}

/// Checks the form of a revision without the repo (exit 2 if it cannot be one).
pub(crate) fn check(s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(usage("an empty revision"));
    }
    for part in s.split(',') {
        let (base, _) = split_steps(part)?;
        if base == "@" {
            continue;
        }
        if base.is_empty() || looks_like_cid(base) || !is_name(base) {
            check_cid(base)?;
        }
    }
    Ok(())
}

/// Checks the form of a revision that names one change (`show`): a CID, a prefix or `@`,
/// with `~N`.
pub(crate) fn check_one(s: &str) -> Result<()> {
    if s.contains(',') {
        return Err(usage(format!("{s:?} names several changes: give one")));
    }
    let (base, _) = split_steps(s)?;
    if base == "@" {
        return Ok(());
    }
    check_cid(base)
}

fn is_name(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `REV~N` as `(REV, N)` (`REV~` is `REV~1`).
fn split_steps(s: &str) -> Result<(&str, usize)> {
    match s.split_once('~') {
        None => Ok((s, 0)),
        Some((base, "")) => Ok((base, 1)),
        Some((base, n)) => {
            let n = n.parse::<usize>().map_err(|_| {
                usage(format!(
                    "invalid revision {s:?}: after `~` a number of generations, as in @~2"
                ))
            })?;
            Ok((base, n))
        }
    }
}

/// The digest bits a prefix of a dag-cbor CID's text names: after [`HEADER`], the first
/// character holds 2 bits of the header (always 0) and 3 of the digest, each next one 5 of the
/// digest. `None` if no CID can start so.
fn digest_prefix(s: &str) -> Option<DigestPrefix> {
    let rest = s.strip_prefix(HEADER)?;
    let mut bytes = vec![0u8; rest.len() * 5 / 8 + 2];
    let mut bits = 0usize;
    for (i, ch) in rest.bytes().enumerate() {
        let v = match ch {
            b'a'..=b'z' => ch - b'a',
            b'2'..=b'7' => ch - b'2' + 26,
            _ => return None,
        };
        let (v, n) = if i == 0 {
            if v >= 8 {
                return None;
            }
            (v, 3)
        } else {
            (v, 5)
        };
        for k in (0..n).rev() {
            if v >> k & 1 == 1 {
                bytes[bits / 8] |= 0x80 >> (bits % 8);
            }
            bits += 1;
        }
    }
    Some(DigestPrefix::new(&bytes, bits))
}

/// The changes (dag-cbor blocks) whose CID's text starts with `s`, sorted.
fn with_prefix(repo: &Repo, s: &str) -> Result<Vec<Cid>> {
    let Some(prefix) = digest_prefix(s) else {
        return Ok(Vec::new());
    };
    Ok(repo
        .store()
        .blocks_with_prefix(&prefix)?
        .into_iter()
        .filter(|c| c.codec() == weft_dag::Codec::DagCbor && c.to_string().starts_with(s))
        .collect())
}

/// A CID, or the one change whose CID starts with the prefix `s`. No such change is not found
/// (exit 4); several are a usage error (exit 2) that lists them. A lookup in the pack indexes,
/// sorted by digest: it costs a few binary searches, not a walk of the history.
pub(crate) fn cid(repo: &Repo, s: &str) -> Result<Cid> {
    check_cid(s)?;
    if s.len() == CID_TEXT_LEN {
        return crate::parse::cid(s);
    }
    let found = with_prefix(repo, s)?;
    match found.len() {
        0 => Err(NotFound(format!("no change here has a CID starting with {s}")).into()),
        1 => Ok(found[0]),
        n => {
            let mut names: Vec<String> = found.iter().map(ToString::to_string).collect();
            names.sort();
            let more = if n > 10 {
                format!(" and {} more", n - 10)
            } else {
                String::new()
            };
            names.truncate(10);
            Err(usage(format!(
                "the CID prefix {s} is ambiguous: {n} changes start with it: {}{more}",
                names.join(", ")
            )))
        }
    }
}

/// Short CIDs, unique among the changes here.
pub(crate) struct Shortener<'r> {
    repo: &'r Repo,
}

impl<'r> Shortener<'r> {
    /// Over every change of the repo.
    pub(crate) fn new(repo: &'r Repo) -> Shortener<'r> {
        Shortener { repo }
    }

    /// [`HEADER`] and [`SHORT`] characters of `cid`, or as many more as it takes to tell it
    /// from every other change here.
    pub(crate) fn short(&self, cid: &Cid) -> Result<String> {
        let s = cid.to_string();
        let mut len = (HEADER.len() + SHORT).min(s.len());
        loop {
            let others: Vec<Cid> = with_prefix(self.repo, &s[..len])?
                .into_iter()
                .filter(|c| c != cid)
                .collect();
            if others.is_empty() || len == s.len() {
                return Ok(s[..len].to_string());
            }
            let lcp = others
                .iter()
                .map(|o| {
                    s.bytes()
                        .zip(o.to_string().bytes())
                        .take_while(|(a, b)| a == b)
                        .count()
                })
                .max()
                .unwrap_or(0);
            len = (lcp + 1).max(len + 1).min(s.len());
        }
    }
}

/// A point of `doc`'s history: the heads a revision names (sorted, no duplicates).
pub(crate) fn point(repo: &Repo, doc: DocId, s: &str) -> Result<Vec<Cid>> {
    check(s)?;
    let mut heads = BTreeSet::new();
    for part in s.split(',') {
        heads.extend(one(repo, doc, part)?);
    }
    Ok(heads.into_iter().collect())
}

/// The point several `--at` words name together (each a revision or a comma list).
pub(crate) fn points(repo: &Repo, doc: DocId, words: &[String]) -> Result<Option<Vec<Cid>>> {
    if words.is_empty() {
        return Ok(None);
    }
    let mut heads = BTreeSet::new();
    for w in words {
        heads.extend(point(repo, doc, w)?);
    }
    Ok(Some(heads.into_iter().collect()))
}

/// The one change a revision names (`show`).
pub(crate) fn single(repo: &Repo, doc: DocId, s: &str) -> Result<Cid> {
    check_one(s)?;
    if looks_like_cid(s) && !s.contains('~') {
        return cid(repo, s);
    }
    let p = point(repo, doc, s)?;
    match p.as_slice() {
        [one] => Ok(*one),
        [] => Err(NotFound(format!("revision {s} names no change")).into()),
        many => Err(usage(format!(
            "revision {s} names {} changes (several heads): give one of {}",
            many.len(),
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn one(repo: &Repo, doc: DocId, s: &str) -> Result<Vec<Cid>> {
    let (base, steps) = split_steps(s)?;
    let mut at: Vec<Cid> = if base == "@" {
        repo.heads(doc)?
    } else if looks_like_cid(base) || !is_name(base) {
        vec![cid(repo, base)?]
    } else {
        remote_heads(repo, doc, base)?
    };
    for _ in 0..steps {
        // Past the first change there is nothing further back: `@~18446744073709551615` ends
        // here, not after as many empty steps.
        if at.is_empty() {
            break;
        }
        let mut back = BTreeSet::new();
        for c in &at {
            if let Some(p) = repo.change(c)?.parents.first() {
                back.insert(*p);
            }
        }
        at = back.into_iter().collect();
    }
    Ok(at)
}

/// The heads `remote` had at the last sync with it (those of them that are here; if none are,
/// the heads both sides had).
pub(crate) fn remote_heads(repo: &Repo, doc: DocId, remote: &str) -> Result<Vec<Cid>> {
    let Some(status) = weft_live::status::remote(repo, remote)? else {
        return Err(usage(format!(
            "unknown revision {remote:?}: not a CID, a CID prefix, `@` or the name of a remote \
             this repo synced with (a remote that never synced has no heads to name)"
        )));
    };
    let Some(d) = status.docs.iter().find(|d| d.doc == doc) else {
        return Err(NotFound(format!(
            "no sync of this document with {remote} is recorded"
        ))
        .into());
    };
    let mut heads = Vec::new();
    for h in &d.theirs {
        if repo.has_change(h)? {
            heads.push(*h);
        }
    }
    if heads.is_empty() {
        heads = d.common.clone();
    }
    Ok(heads)
}

/// A range `A..B`: the changes B reaches and A does not (`A` empty: from the start; `B` empty:
/// `@`). `None` if `s` is no range.
pub(crate) fn range(repo: &Repo, doc: DocId, s: &str) -> Result<Option<BTreeSet<Cid>>> {
    let Some((a, b)) = s.split_once("..") else {
        return Ok(None);
    };
    let b = if b.is_empty() {
        repo.heads(doc)?
    } else {
        point(repo, doc, b)?
    };
    let a = if a.is_empty() {
        Vec::new()
    } else {
        point(repo, doc, a)?
    };
    let below_a: BTreeSet<Cid> = repo.ancestors(&a)?.into_iter().map(|(_, c)| c).collect();
    Ok(Some(
        repo.ancestors(&b)?
            .into_iter()
            .map(|(_, c)| c)
            .filter(|c| !below_a.contains(c))
            .collect(),
    ))
}

/// The changes `log REV` shows: a range's, or every ancestor of a point.
pub(crate) fn selection(repo: &Repo, doc: DocId, s: &str) -> Result<BTreeSet<Cid>> {
    if let Some(r) = range(repo, doc, s)? {
        return Ok(r);
    }
    let p = point(repo, doc, s)?;
    Ok(repo.ancestors(&p)?.into_iter().map(|(_, c)| c).collect())
}

/// Whether the word is meant as a revision (for `log`'s positionals, which may also be keys):
/// `@`, a CID or prefix, a range, `~N`, a comma list or the name of a remote with a recorded
/// sync.
pub(crate) fn is_revision(repo: &Repo, s: &str) -> Result<bool> {
    if s.contains("..") || s.contains(',') {
        return Ok(true);
    }
    let base = s.split_once('~').map_or(s, |(b, _)| b);
    if base == "@" || base.starts_with(HEADER) {
        return Ok(true);
    }
    if !is_name(base) {
        return Ok(false);
    }
    if weft_live::status::remote(repo, base)?.is_some() {
        return Ok(true);
    }
    // A configured remote that never synced is one too (and says so when resolved).
    let configured = match repo.root() {
        Some(root) => crate::net::load_remotes(&root.join(weft_dag::WEFT_DIR))?
            .iter()
            .any(|(name, _)| name == base),
        None => false,
    };
    Ok(configured)
}
