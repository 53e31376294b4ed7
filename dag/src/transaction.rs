//! [`Transaction`]: ops gathered into one signed change.

use std::sync::MutexGuard;

use crate::{
    change::{validate_key, Change, Op, OpId, StoredChange, MAX_OPS, MAX_PARENTS, MAX_PRED},
    error::Error,
    graph::corrupt,
    id::DocId,
    identity::Author,
    keys,
    kind::Kind,
    repo::Repo,
    role::Role,
    seqdoc::{op_kind, renumber, Work},
    state::{row_prefix, Entry},
    value::Value,
    write::Stage,
};
use weft_store::sync_util::lock;

impl Repo {
    /// Starts a transaction on `doc`: its ops become one signed change on [`commit`].
    ///
    /// The transaction holds the repo's write lock until it is committed or dropped, so the same
    /// thread must not call another writing method (`create_doc`, `apply_changes`, a second
    /// `transaction`) meanwhile: it would wait forever.
    ///
    /// [`commit`]: Transaction::commit
    pub fn transaction(&self, doc: DocId) -> Transaction<'_> {
        Transaction {
            repo: self,
            doc,
            ops: Vec::new(),
            work: None,
            _guard: lock(&self.writer.lock),
        }
    }
}

/// Ops being gathered into one change. See [`Repo::transaction`].
#[derive(Debug)]
pub struct Transaction<'r> {
    pub(crate) repo: &'r Repo,
    pub(crate) doc: DocId,
    pub(crate) ops: Vec<Op>,
    /// The working copy of the document's lists and texts, once an edit of one needs it.
    pub(crate) work: Option<Work>,
    _guard: MutexGuard<'r, ()>,
}

impl Transaction<'_> {
    /// The document this transaction writes.
    pub fn doc(&self) -> DocId {
        self.doc
    }

    /// The ops gathered so far.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    fn check(&self, key: &str, want: Kind) -> Result<Option<Entry>, Error> {
        validate_key(key).map_err(|reason| Error::InvalidKey {
            key: key.into(),
            reason,
        })?;
        let entry = self.entry_here(key)?;
        let mut found: Option<Kind> = entry.as_ref().map(Entry::kind);
        for op in &self.ops {
            if op.key() == Some(key) {
                found = found.or(match op {
                    Op::Del { .. } | Op::Remove { .. } => None,
                    op => op_kind(op),
                });
            }
        }
        match found {
            Some(k) if k != want => Err(Error::WrongType {
                key: key.into(),
                expected: want,
                found: k,
            }),
            _ => Ok(entry),
        }
    }

    fn register_pred(&mut self, key: &str, entry: &Option<Entry>) -> Vec<OpId> {
        // A second register write to the same key in one transaction replaces the first.
        if let Some(i) = self.ops.iter().position(
            |op| matches!(op, Op::Set { key: k, .. } | Op::Del { key: k, .. } if k == key),
        ) {
            let (Op::Set { pred, .. } | Op::Del { pred, .. }) = self.ops.remove(i) else {
                return Vec::new();
            };
            return pred;
        }
        match entry {
            Some(Entry::Register(vals)) => vals.iter().map(|v| v.op).collect(),
            _ => Vec::new(),
        }
    }

    /// Writes a register value, overwriting every value this replica sees.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> Result<&mut Self, Error> {
        let value = value.into();
        value.validate().map_err(Error::InvalidValue)?;
        let entry = self.check(key, Kind::Register)?;
        let mut pred = self.register_pred(key, &entry);
        pred.sort();
        // A change may name at most MAX_PRED op ids per op: kill the rest with extra deletes.
        let rest = pred.split_off(pred.len().min(MAX_PRED));
        self.ops.push(Op::Set {
            key: key.into(),
            value,
            pred,
        });
        for chunk in rest.chunks(MAX_PRED) {
            self.ops.push(Op::Del {
                key: key.into(),
                pred: chunk.to_vec(),
            });
        }
        Ok(self)
    }

    /// Writes any `Serialize` value to a register (see [`Value::from_serde`]); a value that
    /// cannot be stored is [`Error::InvalidValue`].
    pub fn set_as<T: serde::Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<&mut Self, Error> {
        let value = Value::from_serde(value).map_err(Error::InvalidValue)?;
        self.set(key, value)
    }

    /// Deletes the rows under `prefix`: every key [`crate::State::rows`] reads there, including
    /// keys written earlier in this transaction, in this one change. A register is deleted as
    /// [`Transaction::del`] does, a set loses every member this replica sees (as
    /// [`Transaction::remove`]; a concurrent add elsewhere survives), a list loses every element
    /// and a text every character this replica sees (a concurrent insert elsewhere survives).
    /// A counter has no delete in weft's data model: it is brought back to 0 and stays listed.
    /// Lists and texts stay listed too, empty. Fails with
    /// [`Error::KeyNotFound`] (naming the prefix) if no key is under it; a row needing more ops
    /// than one change holds fails on commit with [`Error::ChangeTooLarge`].
    pub fn del_rows(&mut self, prefix: &str) -> Result<&mut Self, Error> {
        let prefix = row_prefix(prefix);
        let mut keys: std::collections::BTreeMap<String, Option<Entry>> = self
            .repo
            .state(self.doc)
            .entries(&prefix)?
            .into_iter()
            .map(|(k, e)| (k, Some(e)))
            .collect();
        for op in &self.ops {
            if let Some(k) = op.key().filter(|k| k.starts_with(&prefix)) {
                keys.entry(k.to_string()).or_insert(None);
            }
        }
        if keys.is_empty() {
            return Err(Error::KeyNotFound { key: prefix });
        }
        for (key, entry) in keys {
            self.del_any(&key, entry)?;
        }
        Ok(self)
    }

    /// Deletes one key of any kind for [`Transaction::del_rows`].
    fn del_any(&mut self, key: &str, entry: Option<Entry>) -> Result<(), Error> {
        match self.kind_here(key)? {
            Some(Kind::List) => {
                for e in self.list_elements(key)? {
                    self.list_delete(e.id)?;
                }
                return Ok(());
            }
            Some(Kind::Text) => {
                let len = self.text(key)?.map_or(0, |t| t.chars().count());
                self.text_delete(key, 0, len)?;
                return Ok(());
            }
            _ => {}
        }
        let pending = self.ops.iter().filter(|op| op.key() == Some(key));
        let mut members: Vec<Value> = Vec::new();
        let mut sum: i128 = 0;
        let mut kind = entry.as_ref().map(Entry::kind);
        let mut pending_set = false;
        for op in pending {
            match op {
                Op::Set { .. } => pending_set = true,
                Op::Incr { delta, .. } => sum += i128::from(*delta),
                Op::Add { member, .. } => members.push(member.clone()),
                _ => {}
            }
            kind = kind.or(match op {
                Op::Set { .. } | Op::Del { .. } => Some(Kind::Register),
                Op::Incr { .. } => Some(Kind::Counter),
                Op::Add { .. } | Op::Remove { .. } => Some(Kind::Set),
                _ => None,
            });
        }
        match (kind, entry) {
            (Some(Kind::Register), entry) if entry.is_some() || pending_set => {
                self.del(key)?;
            }
            (Some(Kind::Counter), entry) => {
                if let Some(Entry::Counter(incs)) = entry {
                    sum += incs.iter().map(|(_, d)| i128::from(*d)).sum::<i128>();
                }
                // The exact sum, which concurrent increments may have taken out of i64 (and the
                // negation of i64::MIN is out of it too): as many steps as it takes.
                let mut rest = -sum;
                while rest != 0 {
                    let step = crate::state::saturate(rest);
                    self.incr(key, step)?;
                    rest -= i128::from(step);
                }
            }
            (Some(Kind::Set), entry) => {
                if let Some(Entry::Set(stored)) = entry {
                    members.extend(stored.into_iter().map(|(m, _)| m));
                }
                let mut seen: Vec<Value> = Vec::new();
                for m in members {
                    if !seen.contains(&m) {
                        self.remove(key, m.clone())?;
                        seen.push(m);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Deletes every register value this replica sees. Fails with [`Error::KeyNotFound`] if the
    /// key holds nothing.
    pub fn del(&mut self, key: &str) -> Result<&mut Self, Error> {
        let entry = self.check(key, Kind::Register)?;
        let pending = self
            .ops
            .iter()
            .any(|op| matches!(op, Op::Set { key: k, .. } if k == key));
        if entry.is_none() && !pending {
            return Err(Error::KeyNotFound { key: key.into() });
        }
        let mut pred = self.register_pred(key, &entry);
        pred.sort();
        for chunk in pred.chunks(MAX_PRED) {
            self.ops.push(Op::Del {
                key: key.into(),
                pred: chunk.to_vec(),
            });
        }
        Ok(self)
    }

    /// Adds `delta` to a counter.
    pub fn incr(&mut self, key: &str, delta: i64) -> Result<&mut Self, Error> {
        let entry = self.check(key, Kind::Counter)?;
        let mut sum: i128 = match &entry {
            Some(Entry::Counter(incs)) => incs.iter().map(|(_, d)| i128::from(*d)).sum(),
            _ => 0,
        };
        for op in &self.ops {
            if let Op::Incr { key: k, delta: d } = op {
                if k == key {
                    sum += i128::from(*d);
                }
            }
        }
        // Out of range is refused, unless concurrent increments already took the sum out and
        // this one brings it closer (the value saturates: see the `state` module docs).
        let excess = |s: i128| s - i128::from(crate::state::saturate(s));
        let after = sum + i128::from(delta);
        if excess(after) != 0 && excess(after).abs() >= excess(sum).abs().max(1) {
            return Err(Error::CounterOverflow { key: key.into() });
        }
        self.ops.push(Op::Incr {
            key: key.into(),
            delta,
        });
        Ok(self)
    }

    /// Adds a member to a set.
    pub fn add(&mut self, key: &str, member: impl Into<Value>) -> Result<&mut Self, Error> {
        let member = member.into();
        member.validate().map_err(Error::InvalidValue)?;
        self.check(key, Kind::Set)?;
        self.ops.push(Op::Add {
            key: key.into(),
            member,
        });
        Ok(self)
    }

    /// Removes a member from a set: every add of it this replica has seen. A concurrent add on
    /// another replica survives (add wins). Removing an absent member is a no-op.
    pub fn remove(&mut self, key: &str, member: impl Into<Value>) -> Result<&mut Self, Error> {
        let member = member.into();
        member.validate().map_err(Error::InvalidValue)?;
        let entry = self.check(key, Kind::Set)?;
        let before = self.ops.len();
        self.ops
            .retain(|op| !matches!(op, Op::Add { key: k, member: m } if k == key && *m == member));
        let dropped_pending = self.ops.len() != before;
        let mut tags: Vec<OpId> = match &entry {
            Some(Entry::Set(members)) => members
                .iter()
                .filter(|(m, _)| *m == member)
                .flat_map(|(_, t)| t.iter().copied())
                .collect(),
            _ => Vec::new(),
        };
        // A set made earlier in this transaction exists too (as in `del`).
        let pending_set = self
            .ops
            .iter()
            .any(|op| matches!(op, Op::Add { key: k, .. } if k == key));
        if entry.is_none() && !dropped_pending && !pending_set {
            return Err(Error::KeyNotFound { key: key.into() });
        }
        tags.sort();
        for chunk in tags.chunks(MAX_PRED) {
            self.ops.push(Op::Remove {
                key: key.into(),
                member: member.clone(),
                tags: chunk.to_vec(),
            });
        }
        Ok(self)
    }

    /// Gives `who` a role (reader, writer or admin) in the document. Needs the admin role, and
    /// the owner role to grant admin (see [`crate::acl`]). Granting a key a lower role than it
    /// holds does not demote it: revoke it first (in the same transaction).
    pub fn grant(&mut self, who: Author, role: Role) -> Result<&mut Self, Error> {
        if role == Role::Owner {
            return Err(Error::OwnerGrant);
        }
        if !who.is_usable() {
            // Every replica would refuse the change (a shape rule, see `change`).
            return Err(Error::UnusableGrantee { who });
        }
        self.ops.push(Op::Grant { who, role });
        Ok(self)
    }

    /// Takes every role away from `who`. Their changes that this replica has not seen when
    /// the revoke is made stop counting everywhere once it arrives (see [`crate::acl`]).
    pub fn revoke(&mut self, who: Author) -> Result<&mut Self, Error> {
        self.ops.push(Op::Revoke { who });
        Ok(self)
    }

    /// Adds an op as it is, for a caller in this crate that names its own `pred` or `tags`.
    pub(crate) fn push_op(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Signs the gathered ops as one change on the document's current heads, and applies it in
    /// one atomic batch. Returns `None` if there was nothing to write.
    pub fn commit(self) -> Result<Option<StoredChange>, Error> {
        self.commit_with(|_, _| {})
    }

    /// [`commit`](Transaction::commit), with `extra` adding writes (kept keyspaces) to the
    /// change's batch, given the change's CID; it is not called if there is nothing to write.
    pub(crate) fn commit_with(
        self,
        extra: impl FnOnce(&weft_store::Cid, &mut weft_store::Batch<'_>),
    ) -> Result<Option<StoredChange>, Error> {
        if self.ops.is_empty() {
            return Ok(None);
        }
        if self.ops.len() > MAX_OPS {
            return Err(Error::ChangeTooLarge {
                ops: self.ops.len(),
                max: MAX_OPS,
            });
        }
        let repo = self.repo;
        let doc = self.doc;
        let mut work = self.work;
        let mut ops = self.ops;
        renumber(&mut ops);
        repo.ensure_writable()?;
        let writer = &repo.writer;
        let mut heads = writer.graph.heads_with_height(doc)?;
        if heads.is_empty() {
            return Err(Error::UnknownDoc {
                name: doc.to_string(),
            });
        }
        heads.sort();
        // At most MAX_PARENTS heads can be merged at once; the next commit merges the rest.
        // The working copy of the lists and texts then holds changes outside the new change's
        // past, so it is not what applying the change gives: it is dropped (the change is
        // applied to the state when it is next read).
        let truncated = heads.len() > MAX_PARENTS;
        heads.truncate(MAX_PARENTS);
        let height = heads.iter().map(|(_, h)| *h).max().unwrap_or(0) + 1;
        let seq = match writer.store.get(
            keys::AUTHOR_SEQ,
            &keys::author_seq_key(&doc, &repo.author()),
        )? {
            Some(v) => keys::decode_author_seq(&v).ok_or_else(|| corrupt("author_seq", "value"))?,
            None => 0,
        } + 1;
        let change = Change {
            doc: Some(doc),
            parents: heads.into_iter().map(|(c, _)| c).collect(),
            author: repo.author(),
            seq,
            height,
            time: repo.now(),
            ops,
            sig: [0; 64],
        }
        .sign(&repo.identity);
        let note = keys::encode_note(repo.now(), "");
        let before = repo.diffs_before([&*change.change]);
        let mut batch = writer.store.batch();
        let staged = writer.stage(&mut batch, &mut Stage::default(), &change, &note)?;
        extra(&change.cid, &mut batch);
        // The working copy of the lists and texts becomes the state after the change (unless
        // the change is void, when the state is as before: loaded again when next read).
        let settled = work
            .take()
            .filter(|_| !truncated && (staged.seq || !crate::seqdoc::has_seq_ops(&change.change)))
            .map(|mut w| {
                w.doc.settle(w.pending, &change.cid, &change.change);
                (doc, w.doc)
            });
        let result = writer.commit_settled(batch, [(&change, &staged)], settled);
        let diffs = before
            .filter(|_| result.is_ok())
            .map(|b| b.after(&writer.store, &writer.seq));
        if change.change.is_membership() {
            writer.acl.changed();
        }
        drop(self._guard);
        repo.after_failure(result)?;
        let committed = StoredChange {
            cid: change.cid,
            change: Change::clone(&change.change),
        };
        repo.applied_with(&[(doc, change)], true, diffs)?;
        Ok(Some(committed))
    }
}
