//! The format version in `meta/format_version`, checked on every open.

use std::path::Path;

use weft_store::{
    layout::{FORMAT_VERSION, META_FORMAT_VERSION},
    migrate, Cid, Codec, Error, Keyspace, OpenError, Options, Store,
};
use weft_testkit::Disk;

fn set_version(store: &Store, bytes: &[u8]) {
    let mut b = store.batch();
    b.put(Keyspace::META, META_FORMAT_VERSION, bytes);
    b.commit().unwrap();
}

fn assert_unsupported(result: Result<Store, OpenError>, path: &Path, version: u32) {
    match result {
        Err(err @ OpenError::UnsupportedFormat { .. }) => {
            let msg = err.to_string();
            let OpenError::UnsupportedFormat {
                path: p,
                found,
                supported,
            } = err
            else {
                unreachable!()
            };
            assert_eq!(p, path);
            assert_eq!(found, version);
            assert_eq!(supported, FORMAT_VERSION);
            assert!(msg.contains(&format!("format version {version}")), "{msg}");
            assert!(msg.contains("upgrade weft"), "{msg}");
        }
        Err(other) => panic!("expected UnsupportedFormat, got {other:?}"),
        Ok(_) => panic!("opened a store at format version {version}"),
    }
}

#[test]
fn fresh_store_is_stamped_with_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        store.get(Keyspace::META, META_FORMAT_VERSION).unwrap(),
        Some(FORMAT_VERSION.to_be_bytes().to_vec())
    );
    assert_eq!(
        migrate::stored_version(&store).unwrap(),
        Some(FORMAT_VERSION)
    );
}

#[test]
fn sled_store_from_a_newer_weft_is_refused() {
    let _no_spawn = crate::no_spawn();
    for newer in [FORMAT_VERSION + 1, u32::MAX] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        {
            let store = Store::open(path, Options::default()).unwrap();
            set_version(&store, &newer.to_be_bytes());
            let mut b = store.batch();
            b.put(crate::HEADS, b"data", b"kept");
            b.commit().unwrap();
        }
        assert_unsupported(Store::open(path, Options::default()), path, newer);
        // The refused open released the lock and changed nothing: refused again, not `Locked`.
        assert_unsupported(Store::open(path, Options::default()), path, newer);
    }
}

#[test]
fn memory_store_from_a_newer_weft_is_refused_and_left_alone() {
    let disk = Disk::new();
    let store = disk.open(Options::default()).unwrap();
    let newer = FORMAT_VERSION + 1;
    set_version(&store, &newer.to_be_bytes());
    assert_unsupported(disk.open(Options::default()), Path::new(""), newer);
    // The refused open did not "downgrade" the stamp.
    assert_eq!(migrate::stored_version(&store).unwrap(), Some(newer));
    // Back at the current version, it opens.
    set_version(&store, &FORMAT_VERSION.to_be_bytes());
    disk.open(Options::default()).unwrap();
}

#[test]
fn older_version_without_a_migration_is_refused() {
    let disk = Disk::new();
    let store = disk.open(Options::default()).unwrap();
    set_version(&store, &0u32.to_be_bytes());
    match disk.open(Options::default()) {
        Err(OpenError::Migration { from, error, .. }) => {
            assert_eq!(from, 0);
            assert!(matches!(*error, Error::CorruptEntry { .. }), "{error:?}");
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
}

#[test]
fn malformed_version_is_reported() {
    let disk = Disk::new();
    let store = disk.open(Options::default()).unwrap();
    for bad in [&[][..], &[1][..], &[0, 0, 0, 0, 1][..]] {
        set_version(&store, bad);
        match disk.open(Options::default()) {
            Err(OpenError::Migration { error, .. }) => match *error {
                Error::CorruptEntry { keyspace, reason } => {
                    assert_eq!(keyspace, Keyspace::META.name);
                    assert!(reason.contains(&format!("{} bytes", bad.len())), "{reason}");
                }
                other => panic!("expected CorruptEntry, got {other:?}"),
            },
            other => panic!("expected a migration error for {bad:?}, got {other:?}"),
        }
    }
}

#[test]
fn missing_version_with_blocks_is_corrupt() {
    let _no_spawn = crate::no_spawn();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    {
        let store = Store::open(path, Options::default()).unwrap();
        let bytes = b"block";
        let mut b = store.batch();
        b.put_block(&Cid::hash(Codec::Raw, bytes), bytes, b"")
            .unwrap();
        b.delete(Keyspace::META, META_FORMAT_VERSION);
        b.commit().unwrap();
    }
    match Store::open(path, Options::default()) {
        Err(OpenError::Corrupt { path: p, reason }) => {
            assert_eq!(p, path);
            assert!(reason.contains("format version is missing"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
