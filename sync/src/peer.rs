//! Per-peer sync state, persisted in the `sync_peers` keyspace (see [`crate::keys`], which
//! encodes every key and value), read and written through [`Repo::layer`].
//!
//! - This replica's id, created with the first sync.
//! - For each peer replica and document, the heads both sides had at the end of the last sync.
//!   The next sync offers them as `base`: everything below them is known to be common, so the
//!   summary covers only what changed since.
//! - Per named remote, the status record of the last sync attempt: bytes whose format belongs
//!   to the application that records them (`weft-live`'s `status` module).

use weft_dag::{DocId, LayerSpace, Repo};
use weft_store::Cid;

use crate::{keys, Error};

/// A replica id: 16 random bytes, created with the first sync.
pub type ReplicaId = [u8; 16];

fn space(repo: &Repo) -> LayerSpace<'_> {
    repo.layer(keys::SYNC_PEERS)
}

/// This repo's replica id, created (and stored) on first use.
pub fn replica_id(repo: &Repo) -> Result<ReplicaId, Error> {
    if let Some(v) = space(repo).get(keys::REPLICA)? {
        if let Ok(id) = v.as_slice().try_into() {
            return Ok(id);
        }
    }
    let mut id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
    if repo.is_read_only() {
        // A repo that cannot be written still serves: under an id of this session only.
        return Ok(id);
    }
    space(repo).put(keys::REPLICA, &id)?;
    Ok(id)
}

/// Sets this repo's replica id (a seeded simulation names its replicas itself; a real repo
/// takes the random one [`replica_id`] creates).
pub fn set_replica_id(repo: &Repo, id: ReplicaId) -> Result<(), Error> {
    space(repo).put(keys::REPLICA, &id)?;
    Ok(())
}

/// The heads both sides had at the end of the last sync with `peer` on `doc` (empty if none, or
/// if the entry is damaged: the state is only an optimisation).
pub fn load_base(repo: &Repo, peer: &ReplicaId, doc: &DocId) -> Result<Vec<Cid>, Error> {
    let Some(v) = space(repo).get(&keys::base_key(peer, doc))? else {
        return Ok(Vec::new());
    };
    Ok(keys::decode_base(&v).unwrap_or_default())
}

/// Records the heads both sides have after a sync with `peer` on `doc`.
pub fn save_base(repo: &Repo, peer: &ReplicaId, doc: &DocId, heads: &[Cid]) -> Result<(), Error> {
    if repo.is_read_only() {
        // The state is only an optimisation.
        return Ok(());
    }
    space(repo).put(&keys::base_key(peer, doc), &keys::encode_base(heads))?;
    Ok(())
}

/// Forgets every per-peer base, so that the next sync with any peer starts from none (as with
/// a peer never met; a benchmark measures that case). Returns how many there were.
pub fn forget_bases(repo: &Repo) -> Result<usize, Error> {
    Ok(space(repo).delete_prefix(&[keys::BASE])?)
}

/// The status record of `remote`, as last saved.
pub fn load_status(repo: &Repo, remote: &str) -> Result<Option<Vec<u8>>, Error> {
    Ok(space(repo).get(&keys::status_key(remote))?)
}

/// Saves the status record of `remote`.
pub fn save_status(repo: &Repo, remote: &str, record: &[u8]) -> Result<(), Error> {
    space(repo).put(&keys::status_key(remote), record)?;
    Ok(())
}

/// Deletes the status record of `remote`; whether there was one.
pub fn forget_status(repo: &Repo, remote: &str) -> Result<bool, Error> {
    let key = keys::status_key(remote);
    let space = space(repo);
    if space.get(&key)?.is_none() {
        return Ok(false);
    }
    space.delete(&key)?;
    Ok(true)
}

/// Every status record, by remote name (records under a name that is not UTF-8 are skipped).
pub fn statuses(repo: &Repo) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    for entry in space(repo).scan_prefix(&[keys::STATUS]) {
        let (k, v) = entry?;
        if let Some(name) = keys::status_remote(&k) {
            out.push((name.to_string(), v));
        }
    }
    Ok(out)
}
