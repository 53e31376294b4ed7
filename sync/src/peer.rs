//! Per-peer sync state, persisted in the `sync_peers` keyspace (see [`crate::keys`]).
//!
//! For each peer replica and document, the heads both sides had at the end of the last sync.
//! The next sync offers them as `base`: everything below them is known to be common, so the
//! summary covers only what changed since.

use weft_dag::{DocId, Repo};
use weft_store::{Cid, CID_LEN};

use crate::Error;

/// A replica id: 16 random bytes, created with the first sync.
pub type ReplicaId = [u8; 16];

const REPLICA_KEY: &[u8] = b"\x00replica";

fn peer_key(peer: &ReplicaId, doc: &DocId) -> Vec<u8> {
    let mut k = vec![0x01];
    k.extend_from_slice(peer);
    k.extend_from_slice(&doc.0.to_bytes());
    k
}

/// This repo's replica id, created (and stored) on first use.
pub fn replica_id(repo: &Repo) -> Result<ReplicaId, Error> {
    let store = repo.store();
    if let Some(v) = store.get(crate::keys::SYNC_PEERS, REPLICA_KEY)? {
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
    let mut b = store.batch();
    b.put(crate::keys::SYNC_PEERS, REPLICA_KEY, &id);
    b.commit()?;
    Ok(id)
}

/// Sets this repo's replica id (a seeded simulation names its replicas itself; a real repo
/// takes the random one [`replica_id`] creates).
pub fn set_replica_id(repo: &Repo, id: ReplicaId) -> Result<(), Error> {
    let mut b = repo.store().batch();
    b.put(crate::keys::SYNC_PEERS, REPLICA_KEY, &id);
    b.commit()?;
    Ok(())
}

/// The heads both sides had at the end of the last sync with `peer` on `doc` (empty if none, or
/// if the entry is damaged: the state is only an optimisation).
pub fn load_base(repo: &Repo, peer: &ReplicaId, doc: &DocId) -> Result<Vec<Cid>, Error> {
    let Some(v) = repo
        .store()
        .get(crate::keys::SYNC_PEERS, &peer_key(peer, doc))?
    else {
        return Ok(Vec::new());
    };
    Ok(v.chunks(CID_LEN)
        .map(Cid::from_bytes)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default())
}

/// Records the heads both sides have after a sync with `peer` on `doc`.
pub fn save_base(repo: &Repo, peer: &ReplicaId, doc: &DocId, heads: &[Cid]) -> Result<(), Error> {
    if repo.is_read_only() {
        // The state is only an optimisation.
        return Ok(());
    }
    let mut v = Vec::with_capacity(heads.len() * CID_LEN);
    for h in heads {
        v.extend_from_slice(&h.to_bytes());
    }
    let mut b = repo.store().batch();
    b.put(crate::keys::SYNC_PEERS, &peer_key(peer, doc), &v);
    b.commit()?;
    Ok(())
}
