//! Keys and the people behind them: petnames (`weft member name KEY NAME`), local to this repo
//! and never synced, kept in `.weft/names` (one `KEY NAME` line each, KEY in 64 hex digits);
//! and the words that name a key (`grant`, `revoke`, `log --author`): 64 hex digits, a petname,
//! or a unique prefix of a key this repo knows (a member's, a named one, its own).

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};
use serde::Serialize;
use weft_dag::{Author, DocId, Identity, Repo, WEFT_DIR};

use crate::out::{emit, usage, NotFound, Outcome, Output};

/// The file of petnames in `.weft`.
pub(crate) const NAMES_FILE: &str = "names";
/// The fewest hex digits a key prefix has.
pub(crate) const MIN_KEY_PREFIX: usize = 4;

/// The petnames of a repo.
#[derive(Debug, Default)]
pub(crate) struct Names {
    by_key: BTreeMap<Author, String>,
}

fn names_path(repo: &Repo) -> Option<PathBuf> {
    repo.root().map(|r| r.join(WEFT_DIR).join(NAMES_FILE))
}

impl Names {
    /// The petnames of `repo` (none if it keeps none, or is not on disk).
    pub(crate) fn load(repo: &Repo) -> Result<Names> {
        let Some(path) = names_path(repo) else {
            return Ok(Names::default());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Names::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut by_key = BTreeMap::new();
        for line in text.lines() {
            let Some((key, name)) = line.trim().split_once(' ') else {
                continue;
            };
            if let Ok(key) = key.parse::<Author>() {
                by_key.insert(key, name.trim().to_string());
            }
        }
        Ok(Names { by_key })
    }

    fn save(&self, path: &Path) -> Result<()> {
        let mut text = String::new();
        for (k, n) in &self.by_key {
            text.push_str(&format!("{k} {n}\n"));
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// The petname of `key`, if it has one.
    pub(crate) fn name(&self, key: &Author) -> Option<&str> {
        self.by_key.get(key).map(String::as_str)
    }

    /// The petname of `key`, else its first hex digits.
    pub(crate) fn label(&self, key: &Author) -> String {
        self.name(key).map_or_else(|| key.short(), str::to_string)
    }

    /// The key named `name`.
    fn key_of(&self, name: &str) -> Option<Author> {
        self.by_key
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(k, _)| *k)
    }
}

/// The key a word names: 64 hex digits, a petname, or a unique prefix (at least
/// [`MIN_KEY_PREFIX`] hex digits) of a key this repo knows in `doc`. A prefix of no known key is
/// not found (exit 4); of several, a usage error listing them (exit 2).
pub(crate) fn key(repo: &Repo, names: &Names, doc: Option<DocId>, s: &str) -> Result<Author> {
    if let Ok(k) = s.parse::<Author>() {
        return Ok(k);
    }
    if let Some(k) = names.key_of(s) {
        return Ok(k);
    }
    let hex = s.len() >= MIN_KEY_PREFIX && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex {
        return Err(usage(format!(
            "invalid key {s:?}: expected 64 hex digits (as `weft id` prints), a unique prefix \
             of at least {MIN_KEY_PREFIX} of them, or a petname (`weft member name`)"
        )));
    }
    let prefix = s.to_ascii_lowercase();
    let mut known: Vec<Author> = names.by_key.keys().copied().collect();
    known.push(repo.author());
    let docs = match doc {
        Some(d) => vec![d],
        None => repo.doc_ids()?,
    };
    for d in docs {
        known.extend(repo.members(d)?.into_iter().map(|m| m.author));
    }
    known.sort();
    known.dedup();
    let found: Vec<Author> = known
        .into_iter()
        .filter(|k| k.to_string().starts_with(&prefix))
        .collect();
    match found.as_slice() {
        [] => Err(NotFound(format!(
            "no key known here starts with {s} (give all 64 hex digits)"
        ))
        .into()),
        [one] => Ok(*one),
        many => Err(usage(format!(
            "the key prefix {s} is ambiguous: {}",
            many.iter()
                .map(|k| match names.name(k) {
                    Some(n) => format!("{k} ({n})"),
                    None => k.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `weft member name KEY NAME`.
#[derive(Debug, Serialize)]
pub(crate) struct Named {
    /// 64 hex digits.
    pub key: String,
    pub name: String,
}

impl Outcome for Named {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        if !quiet {
            writeln!(out, "{} is now {}", self.key, self.name)?;
        }
        Ok(())
    }
}

/// Whether `name` can be a petname: it may not be a key, a key prefix, or hold spaces.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| !c.is_whitespace() && !c.is_control())
        && !name.bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "invalid petname {name:?}: one word of at most 64 bytes, not only hex digits (it \
             would read as a key)"
        )))
    }
}

/// `weft member name KEY NAME`: gives KEY the petname NAME here (replacing its old one; a
/// name another key had moves to this one).
pub(crate) fn name(
    repo: &Repo,
    doc: DocId,
    key_word: &str,
    name: &str,
    out: &mut dyn Write,
    output: Output,
) -> Result<Named> {
    check_name(name)?;
    let mut names = Names::load(repo)?;
    let key = key(repo, &names, Some(doc), key_word)?;
    let path = names_path(repo).context("internal error: the repo is not on disk")?;
    names.by_key.retain(|_, n| n != name);
    names.by_key.insert(key, name.to_string());
    names.save(&path)?;
    let outcome = Named {
        key: key.to_string(),
        name: name.to_string(),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}

/// `weft key new FILE`.
#[derive(Debug, Serialize)]
pub(crate) struct NewKey {
    /// The file written.
    pub file: String,
    /// Its public key, 64 hex digits.
    pub author: String,
}

impl Outcome for NewKey {
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        Ok(writeln!(out, "{}", self.author)?)
    }
}

/// `weft key new FILE`: a new key file, mode 0600; an existing file is never overwritten.
pub(crate) fn key_new(path: &Path, out: &mut dyn Write, output: Output) -> Result<NewKey> {
    if path.exists() {
        return Err(usage(format!(
            "{} exists: weft never overwrites a key file",
            path.display()
        )));
    }
    let identity = Identity::generate();
    identity.save(path)?;
    let outcome = NewKey {
        file: path.display().to_string(),
        author: identity.author().to_string(),
    };
    emit(out, output, &outcome)?;
    Ok(outcome)
}
