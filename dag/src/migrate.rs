//! Numbered migrations of the dag's data from older formats.
//!
//! **Format 1 -> 2.** Format 1 kept every block and index in one sled tree (`weft/v1`): blocks
//! under tag `0x01`, a change index (`0x02`), changes by height (`0x04`), arrival records
//! (`0x0b`), and the rest. Format 2 keeps blocks in the store's log and indexes them by
//! position (see [`crate::keys`]). The migration stages every change again, document by
//! document in `(height, cid)` order (parents first), through the one write path, with the
//! arrival time and source the old `arrivals` keyspace recorded as its note, so every index,
//! the state, the void set and the tombstones come out as a replica that received the same
//! changes would hold them. Document names are copied; entries of keyspaces that belong to
//! other layers (tag `0x08`, the sync layer's per-peer state, whose layout did not change) are
//! copied as they are. Blocks that are not changes are copied into the log. The old tree is
//! dropped only once everything is flushed; a migration that does not finish starts over from
//! the old tree at the next open.

use std::{collections::HashMap, ops::Bound, sync::Arc};

use weft_store::{Backend, Cid, Codec, Keyspace, CID_LEN};

use crate::{
    change::{Change, EncodedChange},
    error::Error,
    id::DocId,
    keys,
    write::{Stage, Writer},
};
use weft_store::sync_util::lock;

/// The tags of format 1.
mod v1 {
    pub const BLOCKS: u8 = 0x01;
    pub const BY_HEIGHT: u8 = 0x04;
    pub const DOC_NAMES: u8 = 0x05;
    pub const DOC_IDS: u8 = 0x06;
    pub const ARRIVALS: u8 = 0x0b;
    /// Tags that format 1 gave the dag; entries under any other tag belong to another layer.
    pub const DAG: [u8; 19] = [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09, 0x0a, 0x0b, 0x10, 0x11, 0x12, 0x13,
        0x14, 0x15, 0x16, 0x17,
    ];
}

/// How many changes the migration stages per batch.
const GROUP: usize = 1024;

fn legacy_err(e: weft_store::BackendError) -> Error {
    Error::Store(weft_store::Error::Backend {
        op: "reading the format-1 tree",
        error: e,
    })
}

fn scan(
    legacy: &dyn Backend,
    tag: u8,
) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + 'static {
    let upper = if tag == u8::MAX {
        Bound::Unbounded
    } else {
        Bound::Excluded(vec![tag + 1])
    };
    legacy
        .scan(Bound::Included(vec![tag]), upper, false)
        .map(|r| r.map(|(mut k, v)| (k.split_off(1), v)).map_err(legacy_err))
}

/// Migrates a store that still holds a format-1 tree, then drops that tree. Returns how many
/// changes were migrated (`None` if there was nothing to migrate).
pub(crate) fn run(writer: &Writer) -> Result<Option<usize>, Error> {
    let Some(legacy) = writer.store.legacy() else {
        return Ok(None);
    };
    let legacy = legacy.as_ref();
    if let Some(e) = writer.store.read_only_error() {
        return Err(Error::Store(e));
    }
    tracing::info!("migrating the store from format 1 to format 2");
    // When and from whom each change arrived.
    let mut notes: HashMap<Cid, Vec<u8>> = HashMap::new();
    for r in scan(legacy, v1::ARRIVALS) {
        let (k, v) = r?;
        let bad = || crate::graph::corrupt("arrivals (format 1)", "a damaged key");
        let arrived = u64::from_be_bytes(
            k.get(CID_LEN..CID_LEN + 8)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        let cid = Cid::from_bytes(k.get(CID_LEN + 8..).ok_or_else(bad)?).map_err(|_| bad())?;
        let source = String::from_utf8_lossy(&v);
        notes
            .entry(cid)
            .or_insert_with(|| keys::encode_note(arrived, &source));
    }
    // The changes, document by document, parents first.
    let mut order: Vec<Cid> = Vec::new();
    for r in scan(legacy, v1::BY_HEIGHT) {
        let (k, _) = r?;
        let cid = Cid::from_bytes(k.get(CID_LEN + 8..).unwrap_or_default())
            .map_err(|_| crate::graph::corrupt("by_height (format 1)", "a damaged key"))?;
        order.push(cid);
    }
    let mut n = 0;
    let mut rest = order.into_iter().peekable();
    while rest.peek().is_some() {
        // Groups as an import makes them: a membership change in a batch of its own, followed
        // by the recomputation it triggers, so the changes after it are judged by it.
        let guard = lock(&writer.lock);
        let mut batch = writer.store.batch();
        let mut ctx = Stage::default();
        let mut group: Vec<EncodedChange> = Vec::new();
        let mut staged = Vec::new();
        while let Some(cid) = rest.peek().copied() {
            let bytes = legacy
                .get(&[&[v1::BLOCKS][..], &cid.to_bytes()].concat())
                .map_err(legacy_err)?
                .ok_or(Error::UnknownCid { cid })?;
            // Format 1 trusted its own blocks; the log stages them unhashed, so check here.
            cid.verify(&bytes)?;
            let change = Change::decode(&cid, &bytes)?;
            let membership = change.is_membership();
            if membership && !group.is_empty() {
                break;
            }
            rest.next();
            let enc = EncodedChange {
                cid,
                change: Arc::new(change),
                bytes,
            };
            let note = notes.remove(&cid).unwrap_or_default();
            staged.push(writer.stage(&mut batch, &mut ctx, &enc, &note)?);
            group.push(enc);
            if membership || group.len() >= GROUP {
                break;
            }
        }
        writer.commit(batch, group.iter().zip(&staged))?;
        drop(guard);
        let applied: Vec<(DocId, EncodedChange)> =
            staged.iter().map(|s| s.doc).zip(group).collect();
        n += applied.len();
        writer.after_commit(&applied)?;
    }
    // Blocks that are not changes.
    let mut batch = writer.store.batch();
    for r in scan(legacy, v1::BLOCKS) {
        let (k, v) = r?;
        let cid = Cid::from_bytes(&k)
            .map_err(|_| crate::graph::corrupt("blocks (format 1)", "a damaged key"))?;
        if cid.codec() != Codec::DagCbor {
            batch.put_block(&cid, &v, &[])?;
        }
    }
    // Names, and what other layers keep.
    for (tag, ks) in [
        (v1::DOC_NAMES, keys::DOC_NAMES),
        (v1::DOC_IDS, keys::DOC_IDS),
    ] {
        for r in scan(legacy, tag) {
            let (k, v) = r?;
            batch.put(ks, &k, &v);
        }
    }
    for r in legacy.scan(Bound::Unbounded, Bound::Unbounded, false) {
        let (k, v) = r.map_err(legacy_err)?;
        let Some(&tag) = k.first() else { continue };
        if !v1::DAG.contains(&tag) {
            batch.put(Keyspace::kept(tag, "foreign"), &k[1..], &v);
        }
    }
    batch.commit()?;
    writer.store.flush()?;
    writer.store.checkpoint_now()?;
    writer.store.finish_migration()?;
    tracing::info!(changes = n, "migrated the store to format 2");
    Ok(Some(n))
}
