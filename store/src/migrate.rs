//! Format versions and numbered migrations.
//!
//! The format version lives in `meta/format_version`. Opening a store:
//! - an empty store is stamped with [`FORMAT_VERSION`] (a store of format 1, whose data is all in
//!   the sled tree `weft/v1`, opens as an empty format-2 store plus [`Store::legacy`], which the
//!   layer above migrates);
//! - a store at an older version runs each migration from its version up, one atomic batch each;
//! - a store at a newer version is refused with [`OpenError::UnsupportedFormat`].

use crate::{
    batch::Batch,
    error::{Error, OpenError},
    layout::{Keyspace, FORMAT_VERSION, META_FORMAT_VERSION},
    store::Store,
};

/// A step from format `from` to `from + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version this migration upgrades from.
    pub from: u32,
    /// What it does, for logs.
    pub description: &'static str,
    /// Stages the rewrite into the batch.
    pub apply: fn(&Store, &mut Batch<'_>) -> Result<(), Error>,
}

/// Every migration of the keyspaces, ordered by `from`. Format 2 is the first format with packs
/// (format 1 is migrated by the layer above, from [`Store::legacy`]), so there are none yet; the
/// next change to the layout adds `Migration { from: 2, .. }` here and bumps [`FORMAT_VERSION`].
pub const MIGRATIONS: &[Migration] = &[];

fn path_of(store: &Store) -> std::path::PathBuf {
    store.path().map(|p| p.to_path_buf()).unwrap_or_default()
}

/// Reads the stored format version; `None` for an empty store.
pub fn stored_version(store: &Store) -> Result<Option<u32>, Error> {
    match store.get(Keyspace::META, META_FORMAT_VERSION)? {
        None => Ok(None),
        Some(v) => {
            let bytes: [u8; 4] = v.as_slice().try_into().map_err(|_| Error::CorruptEntry {
                keyspace: Keyspace::META.name,
                reason: format!("format_version is {} bytes, expected 4", v.len()),
            })?;
            Ok(Some(u32::from_be_bytes(bytes)))
        }
    }
}

/// Brings `store` to the newest version that `migrations` reach.
pub fn run(store: &Store, migrations: &[Migration]) -> Result<(), OpenError> {
    let target = migrations
        .iter()
        .map(|m| m.from + 1)
        .max()
        .unwrap_or(FORMAT_VERSION)
        .max(FORMAT_VERSION);
    let wrap = |from: u32| {
        move |e: Error| OpenError::Migration {
            path: path_of(store),
            from,
            error: Box::new(e),
        }
    };
    let current = match stored_version(store).map_err(wrap(0))? {
        Some(v) => v,
        None => {
            let is_empty = store.log_end().0 == 0;
            if is_empty && store.is_read_only() {
                return Ok(());
            }
            if is_empty {
                let mut b = store.batch();
                b.put(Keyspace::META, META_FORMAT_VERSION, &target.to_be_bytes());
                b.commit().map_err(wrap(0))?;
                // The stamp is durable before anything is written under it.
                store.checkpoint_now().map_err(wrap(0))?;
                return Ok(());
            }
            return Err(OpenError::Corrupt {
                path: path_of(store),
                reason: "blocks are present but the format version is missing".into(),
            });
        }
    };
    if current > target {
        return Err(OpenError::UnsupportedFormat {
            path: path_of(store),
            found: current,
            supported: target,
        });
    }
    let mut version = current;
    while version < target {
        let Some(m) = migrations.iter().find(|m| m.from == version) else {
            return Err(OpenError::Migration {
                path: path_of(store),
                from: version,
                error: Box::new(Error::CorruptEntry {
                    keyspace: Keyspace::META.name,
                    reason: format!("no migration from format {version}"),
                }),
            });
        };
        tracing::info!(from = version, "{}", m.description);
        let mut b = store.batch();
        (m.apply)(store, &mut b).map_err(wrap(version))?;
        b.put(
            Keyspace::META,
            META_FORMAT_VERSION,
            &(version + 1).to_be_bytes(),
        );
        b.commit().map_err(wrap(version))?;
        store.checkpoint_now().map_err(wrap(version))?;
        version += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{MemoryBackend, MemoryLog, Options};

    const HEADS: Keyspace = Keyspace::derived(0x03, "heads");

    fn rename_heads(store: &Store, b: &mut Batch<'_>) -> Result<(), Error> {
        for r in store.scan_prefix(HEADS, b"old/") {
            let (k, v) = r?;
            b.delete(HEADS, &k);
            let mut nk = b"new/".to_vec();
            nk.extend_from_slice(&k[4..]);
            b.put(HEADS, &nk, &v);
        }
        Ok(())
    }

    #[test]
    fn fresh_store_is_stamped_and_reopens() {
        let backend = MemoryBackend::new();
        let log = MemoryLog::new();
        let store = Store::with_backend(
            Arc::new(backend.clone()),
            Arc::new(log.clone()),
            Options::default(),
        )
        .unwrap();
        assert_eq!(stored_version(&store).unwrap(), Some(FORMAT_VERSION));
        Store::with_backend(Arc::new(backend), Arc::new(log), Options::default()).unwrap();
    }

    #[test]
    fn migrations_run_in_order_once() {
        let backend = MemoryBackend::new();
        let log = MemoryLog::new();
        let store = Store::with_backend(
            Arc::new(backend.clone()),
            Arc::new(log.clone()),
            Options::default(),
        )
        .unwrap();
        let mut b = store.batch();
        b.put(HEADS, b"old/a", b"1");
        b.commit().unwrap();
        let migrations = [Migration {
            from: FORMAT_VERSION,
            description: "rename heads",
            apply: rename_heads,
        }];
        run(&store, &migrations).unwrap();
        assert_eq!(stored_version(&store).unwrap(), Some(FORMAT_VERSION + 1));
        assert!(store.contains(HEADS, b"new/a").unwrap());
        assert!(!store.contains(HEADS, b"old/a").unwrap());
        // Running again is a no-op.
        run(&store, &migrations).unwrap();
        // This build (without the migration) refuses the newer store.
        let err =
            Store::with_backend(Arc::new(backend), Arc::new(log), Options::default()).unwrap_err();
        assert!(
            matches!(err, OpenError::UnsupportedFormat { found, .. } if found == FORMAT_VERSION + 1)
        );
    }
}
