//! The keyspaces of the layers above the dag (the sync layer's per-peer state, `sync_peers`).
//!
//! A layer defines its keyspace and encodes its keys in a `keys` module of its own, as the dag
//! does in [`crate::keys`]; it reads and writes them through [`Repo::layer`], never through the
//! store beneath. So its writes take the dag's path after a failure (a write that leaves the
//! store failed is recovered from like one of the dag's, see [`Repo::recover`]), and its errors
//! are the dag's ([`Error::Store`]): a storage failure reaches an application by one route.

use weft_store::Keyspace;

use crate::{error::Error, keys, repo::Repo};

/// One keyspace of a layer above the dag (from [`Repo::layer`]), read and written through the
/// repo: the layer encodes its keys in a `keys` module of its own, its writes recover after a
/// failure as the dag's do, and its errors are the dag's. Each [`put`](LayerSpace::put),
/// [`delete`](LayerSpace::delete) and [`delete_prefix`](LayerSpace::delete_prefix) is one
/// atomic batch.
#[derive(Debug, Clone, Copy)]
pub struct LayerSpace<'r> {
    repo: &'r Repo,
    ks: Keyspace,
}

/// Whether `ks` belongs to the store (`meta`) or the dag: no layer above may write those.
pub(crate) fn is_reserved(ks: Keyspace) -> bool {
    ks.tag == Keyspace::META.tag || keys::ALL.iter().any(|k| k.tag == ks.tag)
}

impl Repo {
    /// Keyspace `ks` of a layer above the dag, to read and write (see [`LayerSpace`]).
    ///
    /// # Panics
    /// If `ks` has the tag of the store's keyspace or of one of the dag's ([`crate::keys::ALL`]):
    /// a bug in the layer that asks, which a unit test of its `keys` module should catch.
    pub fn layer(&self, ks: Keyspace) -> LayerSpace<'_> {
        assert!(
            !is_reserved(ks),
            "keyspace {} (tag 0x{:02x}) belongs to the store or the dag, not to a layer above",
            ks.name,
            ks.tag
        );
        LayerSpace { repo: self, ks }
    }
}

impl<'r> LayerSpace<'r> {
    /// The value under `key`, if any.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.repo.store().get(self.ks, key)?)
    }

    /// Writes `value` under `key`, in a batch of its own.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.write(|b| b.put(self.ks, key, value))
    }

    /// Deletes `key` (nothing happens if it is absent), in a batch of its own.
    pub fn delete(&self, key: &[u8]) -> Result<(), Error> {
        self.write(|b| b.delete(self.ks, key))
    }

    /// Deletes every key that starts with `prefix`, in one batch; how many there were.
    pub fn delete_prefix(&self, prefix: &[u8]) -> Result<usize, Error> {
        let mut keys = Vec::new();
        for entry in self.scan_prefix(prefix) {
            keys.push(entry?.0);
        }
        if !keys.is_empty() {
            self.write(|b| {
                for k in &keys {
                    b.delete(self.ks, k);
                }
            })?;
        }
        Ok(keys.len())
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub fn scan_prefix(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>> + 'r {
        self.repo
            .store()
            .scan_prefix(self.ks, prefix)
            .map(|r| r.map_err(Error::from))
    }

    fn write(&self, f: impl FnOnce(&mut weft_store::Batch<'_>)) -> Result<(), Error> {
        self.repo.ensure_writable()?;
        let mut batch = self.repo.store().batch();
        f(&mut batch);
        let result = batch.commit().map_err(Error::from);
        self.repo.after_failure(result)
    }
}
