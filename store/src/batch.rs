//! [`Batch`]: writes across keyspaces and new blocks that land together or not at all. How a
//! commit lands, and what replay asks of a batch: see [`crate::store`].

use std::{
    collections::{HashMap, HashSet},
    sync::MutexGuard,
};

use crate::{
    cid::{Cid, CidMap},
    error::Error,
    layout::{Keyspace, Kind},
    log::{LogError, Pos, Record, MAX_NOTE},
    memtable::Slot,
    store::{full_key, Store, Writer},
    sync_util::{lock, read, write},
};

impl Store {
    /// Starts an atomic batch of writes. It holds the store's writer lock until it commits or
    /// drops: do not start a second batch on the same thread meanwhile.
    pub fn batch(&self) -> Batch<'_> {
        self.batch_with_capacity(0)
    }

    /// Starts a batch with room for about `writes` writes before it grows.
    pub fn batch_with_capacity(&self, writes: usize) -> Batch<'_> {
        let writer = lock(&self.inner.writer);
        let base = self.inner.log.end();
        Batch {
            store: self,
            writer,
            writes: HashMap::with_capacity_and_hasher(writes, Default::default()),
            put_tags: [0; 4],
            fresh: Default::default(),
            kept: false,
            base,
            new: Vec::new(),
            new_ids: CidMap::default(),
            replayed: 0,
        }
    }
}

/// Writes across keyspaces and new blocks that land together or not at all; see the
/// [module docs](self).
///
/// Reads through the batch see its own pending writes, so a layer above can build a batch step by
/// step. Dropping a batch without [`commit`](Batch::commit) discards it.
pub struct Batch<'a> {
    store: &'a Store,
    writer: MutexGuard<'a, Writer>,
    /// Pending keyspace writes by full key (a hash map: a batch is read by key, never in order).
    writes: HashMap<Vec<u8>, Slot, foldhash::fast::RandomState>,
    /// The keyspace tags that have had a put staged, one bit each: lets
    /// [`staged_keys`](Batch::staged_keys) answer at once for a keyspace this batch never put to.
    put_tags: [u64; 4],
    /// The keys put with [`Batch::put_new`].
    fresh: HashSet<Vec<u8>, foldhash::fast::RandomState>,
    /// Whether a kept keyspace is written.
    kept: bool,
    /// The log's end when the batch started: the first new block gets this position.
    base: Pos,
    new: Vec<Record>,
    new_ids: CidMap<Pos>,
    /// How many records of the replay range this batch stages again.
    replayed: u64,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("writes", &self.writes.len())
            .field("new_blocks", &self.new.len())
            .field("replayed", &self.replayed)
            .finish_non_exhaustive()
    }
}

impl Batch<'_> {
    /// Verifies `bytes` against `cid` and the size limit, then stages the block with `note`,
    /// and returns its position. A block already stored (or staged) is not stored again: its
    /// position is returned. The next record of the replay range is staged again without being
    /// appended (see the module docs).
    pub fn put_block(&mut self, cid: &Cid, bytes: &[u8], note: &[u8]) -> Result<Pos, Error> {
        self.stage_block(cid, bytes, note, true)
    }

    fn stage_block(
        &mut self,
        cid: &Cid,
        bytes: &[u8],
        note: &[u8],
        hash: bool,
    ) -> Result<Pos, Error> {
        let max = self.store.inner.options.max_block_size;
        if bytes.len() > max {
            return Err(Error::BlockTooLarge {
                cid: *cid,
                size: bytes.len(),
                max,
            });
        }
        if note.len() > MAX_NOTE {
            return Err(Error::NoteTooLarge { size: note.len() });
        }
        if hash {
            cid.verify(bytes)?;
        }
        if let Some(&pos) = self.new_ids.get(cid) {
            return Ok(pos);
        }
        let replay = *lock(&self.store.inner.replay);
        if let Some(pos) = self.store.inner.log.lookup(cid)? {
            if pos >= replay.next && pos < replay.end {
                let expected = Pos(replay.next.0 + self.replayed);
                if pos != expected {
                    return Err(Error::NotReplayed);
                }
                self.replayed += 1;
                self.new_ids.insert(*cid, pos);
            }
            return Ok(pos);
        }
        if replay.next < replay.end {
            return Err(Error::NotReplayed);
        }
        let pos = Pos(self.base.0 + self.new.len() as u64);
        self.new.push(Record {
            cid: *cid,
            note: note.to_vec(),
            block: bytes.to_vec(),
        });
        self.new_ids.insert(*cid, pos);
        Ok(pos)
    }

    /// Stages a block whose bytes the caller has already checked against `cid` (the dag hashes
    /// every block the moment it arrives): as [`put_block`](Batch::put_block), without hashing
    /// it again.
    pub fn put_checked_block(
        &mut self,
        cid: &Cid,
        bytes: &[u8],
        note: &[u8],
    ) -> Result<Pos, Error> {
        self.stage_block(cid, bytes, note, false)
    }

    /// Whether a block is staged in this batch (not looking in the store).
    pub fn is_staged(&self, cid: &Cid) -> bool {
        self.new_ids.contains_key(cid)
    }

    /// Whether a block is stored or staged in this batch.
    pub fn has_block(&self, cid: &Cid) -> Result<bool, Error> {
        Ok(self.new_ids.contains_key(cid) || self.store.has_block(cid)?)
    }

    /// The position of a block stored or staged in this batch.
    pub fn block_pos(&self, cid: &Cid) -> Result<Option<Pos>, Error> {
        match self.new_ids.get(cid) {
            Some(&pos) => Ok(Some(pos)),
            None => self.store.block_pos(cid),
        }
    }

    /// A block stored or staged in this batch.
    pub fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, Error> {
        if let Some(&pos) = self.new_ids.get(cid) {
            if let Some(r) = self.staged_record(pos) {
                return Ok(Some(r.block.clone()));
            }
            return Ok(Some(self.store.inner.log.read(pos)?.block));
        }
        self.store.get_block(cid)
    }

    /// The CID of the record at `pos`, stored or staged in this batch.
    pub fn cid_at(&self, pos: Pos) -> Result<Cid, Error> {
        match self.staged_record(pos) {
            Some(r) => Ok(r.cid),
            None => self.store.cid_at(pos),
        }
    }

    fn staged_record(&self, pos: Pos) -> Option<&Record> {
        pos.0
            .checked_sub(self.base.0)
            .and_then(|i| self.new.get(i as usize))
    }

    /// The store this batch writes to (reads through it do not see the pending writes).
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Stages a write.
    pub fn put(&mut self, ks: Keyspace, key: &[u8], value: &[u8]) {
        self.mark(ks);
        let t = ks.tag as usize;
        self.put_tags[t / 64] |= 1 << (t % 64);
        self.writes
            .insert(full_key(ks, key), Some(value.to_vec().into_boxed_slice()));
    }

    /// Stages the write of a key that was never written before and never will be again once
    /// deleted (its name is unique, as a key holding an op id is): a deletion of it before the
    /// next checkpoint then leaves nothing behind, without asking the database whether it holds
    /// the key. Wrong if the key was ever written: use [`put`](Batch::put) then.
    pub fn put_new(&mut self, ks: Keyspace, key: &[u8], value: &[u8]) {
        self.put(ks, key, value);
        self.fresh.insert(full_key(ks, key));
    }

    fn mark(&mut self, ks: Keyspace) {
        if ks.kind == Kind::Kept {
            self.kept = true;
        }
    }

    fn has_puts(&self, ks: Keyspace) -> bool {
        let t = ks.tag as usize;
        self.put_tags[t / 64] & (1 << (t % 64)) != 0
    }

    /// Stages a removal.
    pub fn delete(&mut self, ks: Keyspace, key: &[u8]) {
        self.mark(ks);
        self.writes.insert(full_key(ks, key), None);
    }

    /// Appends `bytes` to the value under `key` (an absent value counts as empty): for
    /// append-only lists kept in chunks.
    pub fn append(&mut self, ks: Keyspace, key: &[u8], bytes: &[u8]) -> Result<(), Error> {
        let k = full_key(ks, key);
        if let Some(Some(v)) = self.writes.get_mut(&k) {
            let mut grown = std::mem::take(v).into_vec();
            grown.extend_from_slice(bytes);
            *v = grown.into_boxed_slice();
            return Ok(());
        }
        let mut value = self.get(ks, key)?.unwrap_or_default();
        value.extend_from_slice(bytes);
        self.put(ks, key, &value);
        Ok(())
    }

    /// Reads a value as it will be after this batch commits.
    pub fn get(&self, ks: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let k = full_key(ks, key);
        match self.writes.get(&k) {
            Some(pending) => Ok(pending.as_ref().map(|v| v.to_vec())),
            None => self.store.get(ks, key),
        }
    }

    /// Whether the key will be present after this batch commits.
    pub fn contains(&self, ks: Keyspace, key: &[u8]) -> Result<bool, Error> {
        let k = full_key(ks, key);
        match self.writes.get(&k) {
            Some(pending) => Ok(pending.is_some()),
            None => self.store.contains(ks, key),
        }
    }

    /// The keys of `ks` under `prefix` that this batch puts, without the keyspace tag, in no
    /// particular order (a scan of the store does not see them before the batch commits).
    ///
    /// Free for a keyspace this batch never put to; otherwise it looks at every staged write.
    pub fn staged_keys(&self, ks: Keyspace, prefix: &[u8]) -> Vec<Vec<u8>> {
        if !self.has_puts(ks) {
            return Vec::new();
        }
        let start = full_key(ks, prefix);
        self.writes
            .iter()
            .filter(|(k, v)| v.is_some() && k.starts_with(&start))
            .map(|(k, _)| k[1..].to_vec())
            .collect()
    }

    /// The number of staged keyspace writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.new.is_empty() && self.replayed == 0
    }

    /// Applies everything staged atomically (see the module docs for what that takes).
    pub fn commit(self) -> Result<(), Error> {
        let Batch {
            store,
            mut writer,
            writes,
            fresh,
            kept,
            base,
            new,
            replayed,
            ..
        } = self;
        if writes.is_empty() && new.is_empty() && replayed == 0 {
            return Ok(());
        }
        let inner = &store.inner;
        if let Some(e) = store.read_only_error() {
            return Err(e);
        }
        if let Some(reason) = &writer.failed {
            return Err(Error::Failed {
                reason: reason.clone(),
            });
        }
        let log = &inner.log;
        if !new.is_empty() {
            let first = log.append(&new)?;
            if first != base {
                // Someone appended without the writer lock: cannot happen through this API.
                let _ = log.truncate(first);
                return Err(Error::Log(LogError::Corrupt {
                    cid: None,
                    what: format!("the log moved from {base} to {first} during a batch"),
                }));
            }
            if inner.options.sync_commits {
                if let Err(e) = log.sync() {
                    if let Err(cut) = log.truncate(base) {
                        writer.failed = Some(cut.to_string());
                    }
                    return Err(e.into());
                }
            }
        }
        let n_new = new.len() as u64;
        let cut_back = |writer: &mut Writer| {
            if n_new > 0 {
                if let Err(cut) = log.truncate(base) {
                    writer.failed = Some(cut.to_string());
                }
            }
        };
        if kept && !inner.volatile {
            // Kept writes reach the database before the commit returns, with everything before.
            let writes: Vec<(Vec<u8>, Slot)> = writes.into_iter().collect();
            if let Err(e) = store.checkpoint_with(&mut writer, writes) {
                cut_back(&mut writer);
                return Err(e);
            }
            if inner.options.sync_commits {
                store.flush_backend(&mut writer)?;
            }
        } else {
            // A key put since the last checkpoint and deleted again need not leave a deletion
            // behind if the database never had it: those would pile up (every commit replaces
            // a head) and every scan over them would pay for them.
            let backend = store.backend();
            let mut mem = write(&inner.mem);
            for (k, v) in writes {
                if v.is_none() && matches!(mem.get(&k), Some(Some(_))) {
                    let gone = mem.is_fresh(&k) || matches!(backend.contains(&k), Ok(false));
                    if gone {
                        mem.remove(&k);
                        continue;
                    }
                }
                let new = v.is_some() && fresh.contains(&k);
                mem.insert(k, v, new);
            }
        }
        {
            let mut replay = lock(&inner.replay);
            replay.next.0 += replayed;
            if n_new > 0 {
                // New blocks are only staged once the replay is done: they are applied.
                replay.next = log.end();
                replay.end = log.end();
            }
        }
        writer.records_since += n_new + replayed;
        let due = writer.records_since >= inner.options.checkpoint_records
            || read(&inner.mem).bytes() >= inner.options.checkpoint_bytes
            || writer.last_checkpoint.elapsed() >= inner.options.checkpoint_interval;
        let replay = *lock(&inner.replay);
        if due && replay.next == replay.end && writer.failed.is_none() {
            // A checkpoint that fails loses nothing the commit did: the log holds it.
            if let Err(e) = store.checkpoint(&mut writer) {
                tracing::debug!("checkpoint failed: {e}");
            }
        }
        Ok(())
    }
}
