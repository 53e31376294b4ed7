//! [`AclCache`]: the membership changes of each document, loaded once and kept until one is
//! committed.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use weft_store::Store;

use crate::{acl::AclDoc, error::Error, id::DocId};
use weft_store::sync_util::lock;

/// Loaded [`AclDoc`]s by document. Each entry is tagged with the epoch it was loaded in: a
/// membership change staged or committed bumps the epoch, so an entry loaded before it is never
/// used after it.
#[derive(Debug, Default)]
pub(crate) struct AclCache {
    docs: Mutex<HashMap<DocId, (u64, Arc<AclDoc>)>>,
    epoch: AtomicU64,
}

impl AclCache {
    /// The membership changes of `doc`, whose genesis is `genesis` (its bytes, which may be
    /// staged and not yet in the store).
    pub(crate) fn get(
        &self,
        store: &Store,
        doc: DocId,
        genesis: impl FnOnce() -> Result<Option<Vec<u8>>, Error>,
    ) -> Result<Arc<AclDoc>, Error> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        if let Some((e, a)) = lock(&self.docs).get(&doc) {
            if *e == epoch {
                return Ok(a.clone());
            }
        }
        let a = Arc::new(AclDoc::load(store, doc, genesis)?);
        lock(&self.docs).insert(doc, (epoch, a.clone()));
        Ok(a)
    }

    /// Forgets every loaded document: called when a membership change is staged and again once
    /// it is committed, before the write lock is released.
    pub(crate) fn changed(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        lock(&self.docs).clear();
    }
}
