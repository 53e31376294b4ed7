//! [`VerifiedCache`]: changes decoded and verified once per process.

use std::sync::{Arc, RwLock};

use weft_store::{Cid, CidMap};

use crate::{change::Change, graph::NodeTable};
use weft_store::sync_util::{read, write};

/// Changes that were decoded and whose signature was verified, shared between repos in one
/// process (see [`Repo::with_verified`](crate::Repo::with_verified)). A CID names exact bytes, so
/// bytes that hash to a CID in the cache decode to the same change and carry the same valid
/// signature: many replicas in one process (a simulation) decode and check each change once, not
/// once each. The repos sharing it also share one table of DAG nodes.
#[derive(Debug, Default)]
pub struct VerifiedCache {
    changes: RwLock<CidMap<Arc<Change>>>,
    pub(crate) nodes: Arc<RwLock<NodeTable>>,
}

impl VerifiedCache {
    /// An empty cache.
    pub fn new() -> VerifiedCache {
        VerifiedCache::default()
    }

    pub(crate) fn contains(&self, cid: &Cid) -> bool {
        read(&self.changes).contains_key(cid)
    }

    /// The decoded change, if its signature was verified.
    pub(crate) fn get(&self, cid: &Cid) -> Option<Arc<Change>> {
        read(&self.changes).get(cid).cloned()
    }

    pub(crate) fn insert(&self, cid: Cid, change: Arc<Change>) {
        write(&self.changes).insert(cid, change);
    }
}
