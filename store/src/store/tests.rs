//! Unit tests of the store: batches, scans, replay, crashes and failures.

use super::*;
use crate::{log::MAX_NOTE, scan::prefix_end, Codec, MemoryLog};

const HEADS: Keyspace = Keyspace::derived(0x03, "heads");
const BY_HEIGHT: Keyspace = Keyspace::derived(0x04, "by_height");
const NAMES: Keyspace = Keyspace::kept(0x05, "names");

fn crashable() -> (MemoryBackend, MemoryLog, Store) {
    let backend = MemoryBackend::new();
    let log = MemoryLog::new();
    let store = Store::with_backend(
        Arc::new(backend.clone()),
        Arc::new(log.clone()),
        Options::default(),
    )
    .unwrap();
    (backend, log, store)
}

fn reopen(backend: &MemoryBackend, log: &MemoryLog) -> Store {
    Store::with_backend(
        Arc::new(backend.clone()),
        Arc::new(log.clone()),
        Options::default(),
    )
    .unwrap()
}

#[test]
fn prefix_end_handles_ff() {
    assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
    assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
    assert_eq!(prefix_end(&[0xff, 0xff]), None);
}

#[test]
fn put_block_verifies_hash_size_and_note() {
    let store = Store::memory();
    let cid = Cid::hash(Codec::Raw, b"good");
    let mut b = store.batch();
    assert!(matches!(
        b.put_block(&cid, b"evil", b""),
        Err(Error::HashMismatch(_))
    ));
    assert!(matches!(
        b.put_block(&cid, b"good", &[0; MAX_NOTE + 1]),
        Err(Error::NoteTooLarge { .. })
    ));
    drop(b);
    assert!(!store.has_block(&cid).unwrap());
    let mut b = store.batch();
    assert_eq!(b.put_block(&cid, b"good", b"n").unwrap(), Pos(0));
    assert_eq!(b.put_block(&cid, b"good", b"n").unwrap(), Pos(0));
    assert!(b.has_block(&cid).unwrap());
    assert!(!store.has_block(&cid).unwrap());
    b.commit().unwrap();
    assert_eq!(
        store.get_block(&cid).unwrap().as_deref(),
        Some(&b"good"[..])
    );
    assert_eq!(store.record(Pos(0)).unwrap().note, b"n");

    let big = vec![7u8; DEFAULT_MAX_BLOCK_SIZE + 1];
    let big_cid = Cid::hash(Codec::Raw, &big);
    assert!(matches!(
        store.batch().put_block(&big_cid, &big, b""),
        Err(Error::BlockTooLarge { .. })
    ));
    assert!(!store.has_block(&big_cid).unwrap());
}

#[test]
fn batch_is_atomic_and_reads_its_writes() {
    let store = Store::memory();
    let mut b = store.batch();
    b.put(HEADS, b"a", b"1");
    assert_eq!(b.get(HEADS, b"a").unwrap().as_deref(), Some(&b"1"[..]));
    drop(b);
    assert_eq!(store.get(HEADS, b"a").unwrap(), None);
    let mut b = store.batch();
    b.put(HEADS, b"a", b"1");
    b.commit().unwrap();
    assert_eq!(store.get(HEADS, b"a").unwrap().as_deref(), Some(&b"1"[..]));
    let mut b = store.batch();
    b.delete(HEADS, b"a");
    drop(b);
    assert!(store.contains(HEADS, b"a").unwrap());
}

#[test]
fn a_fresh_key_deleted_before_a_checkpoint_leaves_nothing() {
    let (_backend, _log, store) = crashable();
    let mut b = store.batch();
    b.put_new(HEADS, b"op1", b"v");
    b.put(HEADS, b"plain", b"v");
    b.commit().unwrap();
    let mut b = store.batch();
    b.delete(HEADS, b"op1");
    b.delete(HEADS, b"plain");
    b.commit().unwrap();
    // Neither needs a deletion kept: the database never had them.
    assert!(read(&store.inner.mem).is_empty());
    // Once checkpointed, a fresh key is in the database like any other.
    let mut b = store.batch();
    b.put_new(HEADS, b"op2", b"v");
    b.commit().unwrap();
    store.checkpoint_now().unwrap();
    let mut b = store.batch();
    b.delete(HEADS, b"op2");
    b.commit().unwrap();
    assert_eq!(store.get(HEADS, b"op2").unwrap(), None);
    store.checkpoint_now().unwrap();
    assert_eq!(store.get(HEADS, b"op2").unwrap(), None);
}

#[test]
fn append_grows_a_value() {
    let store = Store::memory();
    let mut b = store.batch();
    b.append(HEADS, b"list", b"ab").unwrap();
    b.append(HEADS, b"list", b"c").unwrap();
    b.commit().unwrap();
    let mut b = store.batch();
    b.append(HEADS, b"list", b"d").unwrap();
    b.commit().unwrap();
    assert_eq!(
        store.get(HEADS, b"list").unwrap().as_deref(),
        Some(&b"abcd"[..])
    );
}

#[test]
fn staged_keys_lists_the_puts_of_one_keyspace_and_prefix() {
    let store = Store::memory();
    let mut b = store.batch();
    assert!(b.staged_keys(HEADS, b"").is_empty());
    b.put(HEADS, b"ab1", b"");
    b.put(HEADS, b"ab2", b"");
    b.put(HEADS, b"ac", b"");
    b.put(BY_HEIGHT, b"ab3", b"");
    b.delete(HEADS, b"ab4");
    let mut got = b.staged_keys(HEADS, b"ab");
    got.sort();
    assert_eq!(got, vec![b"ab1".to_vec(), b"ab2".to_vec()]);
    b.delete(HEADS, b"ab1");
    assert_eq!(b.staged_keys(HEADS, b"ab"), vec![b"ab2".to_vec()]);
}

#[test]
fn scans_merge_the_memtable_and_the_database_and_stay_in_their_keyspace() {
    let (_backend, _log, store) = crashable();
    let mut b = store.batch();
    for k in [&b"x1"[..], b"x3", b"x5", b"y"] {
        b.put(HEADS, k, b"old");
    }
    b.put(BY_HEIGHT, b"x3", b"");
    b.commit().unwrap();
    store.checkpoint_now().unwrap();
    let mut b = store.batch();
    b.put(HEADS, b"x2", b"new");
    b.put(HEADS, b"x3", b"new");
    b.delete(HEADS, b"x5");
    b.commit().unwrap();
    let all: Vec<(Vec<u8>, Vec<u8>)> = store.scan_prefix(HEADS, b"x").map(|r| r.unwrap()).collect();
    assert_eq!(
        all,
        vec![
            (b"x1".to_vec(), b"old".to_vec()),
            (b"x2".to_vec(), b"new".to_vec()),
            (b"x3".to_vec(), b"new".to_vec()),
        ]
    );
    let rev: Vec<Vec<u8>> = store
        .scan_prefix_rev(HEADS, b"")
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(
        rev,
        vec![
            b"y".to_vec(),
            b"x3".to_vec(),
            b"x2".to_vec(),
            b"x1".to_vec()
        ]
    );
}

#[test]
fn a_scan_survives_a_checkpoint_in_the_middle() {
    let (_backend, _log, store) = crashable();
    let mut b = store.batch();
    for i in 0..300u16 {
        b.put(HEADS, &i.to_be_bytes(), b"v");
    }
    b.commit().unwrap();
    let mut scan = store.scan_prefix(HEADS, b"");
    let first: Vec<_> = scan.by_ref().take(100).map(|r| r.unwrap().0).collect();
    store.checkpoint_now().unwrap();
    let rest: Vec<_> = scan.map(|r| r.unwrap().0).collect();
    assert_eq!(first.len() + rest.len(), 300);
    let all: Vec<_> = first.into_iter().chain(rest).collect();
    let want: Vec<_> = (0..300u16).map(|i| i.to_be_bytes().to_vec()).collect();
    assert_eq!(all, want);
}

#[test]
fn a_crash_keeps_synced_records_and_replays_them() {
    let (backend, log, store) = crashable();
    let cid = Cid::hash(Codec::Raw, b"one");
    let mut b = store.batch();
    b.put_block(&cid, b"one", b"").unwrap();
    b.put(HEADS, b"h", b"1");
    b.commit().unwrap();
    // Durable in the log (sync_commits), not checkpointed: a crash loses the memtable.
    std::mem::forget(store);
    backend.crash();
    let store = reopen(&backend, &log);
    assert_eq!(store.replay_range(), (Pos(0), Pos(1)));
    assert!(!store.has_block(&cid).unwrap());
    assert_eq!(store.get(HEADS, b"h").unwrap(), None);
    // A new block must wait for the replay.
    let other = Cid::hash(Codec::Raw, b"two");
    assert!(matches!(
        store.batch().put_block(&other, b"two", b""),
        Err(Error::NotReplayed)
    ));
    let mut b = store.batch();
    assert_eq!(b.put_block(&cid, b"one", b"").unwrap(), Pos(0));
    b.put(HEADS, b"h", b"1");
    b.commit().unwrap();
    assert_eq!(store.replay_range(), (Pos(1), Pos(1)));
    assert!(store.has_block(&cid).unwrap());
    assert_eq!(log.len(), 1, "replay appends nothing");
}

#[test]
fn kept_writes_are_in_the_database_when_the_commit_returns() {
    let (backend, log, store) = crashable();
    let mut b = store.batch();
    b.put(HEADS, b"derived", b"1");
    b.commit().unwrap();
    let mut b = store.batch();
    b.put(NAMES, b"main", b"doc");
    b.commit().unwrap();
    std::mem::forget(store);
    backend.crash();
    log.crash();
    let store = reopen(&backend, &log);
    assert_eq!(
        store.get(NAMES, b"main").unwrap().as_deref(),
        Some(&b"doc"[..])
    );
    assert_eq!(
        store.get(HEADS, b"derived").unwrap().as_deref(),
        Some(&b"1"[..])
    );
}

#[test]
fn a_failed_flush_fails_the_store_until_it_recovers() {
    let (_backend, log, store) = crashable();
    store.inner.writer.lock().unwrap().failed = Some("disk gone".into());
    let mut b = store.batch();
    b.put(HEADS, b"x", b"1");
    assert!(matches!(b.commit(), Err(Error::Failed { .. })));
    assert!(store.is_failed());
    store.recover().unwrap();
    assert!(!store.is_failed());
    let mut b = store.batch();
    b.put(HEADS, b"x", b"1");
    b.commit().unwrap();
    assert_eq!(log.len(), 0);
}
