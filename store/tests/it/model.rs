//! Model test: random op sequences run against a [`Store`] and against a `BTreeMap` model, in the
//! style of sled's `prop_tree_matches_btreemap`. Every read is compared with the model, and after
//! every reopen or crash (and at the end) every keyspace is compared whole.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use proptest::prelude::*;
use tempfile::TempDir;
use weft_store::{
    layout::{FORMAT_VERSION, META_FORMAT_VERSION},
    Cid, Codec, Error, Keyspace, MemoryBackend, Options, Store,
};

/// `(keyspace tag, key) -> value`, exactly what the store should hold.
type Model = BTreeMap<(u8, Vec<u8>), Vec<u8>>;

/// The keyspaces that ops write with `put` and `delete`: two adjacent tags (a scan of one must not
/// leak into the other), one further on, and the last one. `META` holds the format version and
/// `BLOCKS` only takes verified blocks, so neither is written here.
const WRITABLE: [Keyspace; 4] = [
    Keyspace::HEADS,
    Keyspace::BY_HEIGHT,
    Keyspace::AUTHOR_SEQ,
    Keyspace::TOMBSTONE,
];

/// The keyspaces that ops read: the writable ones, `META` (holding only the format version),
/// `BLOCKS`, and `CHANGES`, which nothing writes and so must stay empty.
const READABLE: [Keyspace; 7] = [
    Keyspace::HEADS,
    Keyspace::BY_HEIGHT,
    Keyspace::AUTHOR_SEQ,
    Keyspace::TOMBSTONE,
    Keyspace::META,
    Keyspace::BLOCKS,
    Keyspace::CHANGES,
];

/// A small block size limit, so that the ops hit `BlockTooLarge` as well.
const MAX_BLOCK_SIZE: usize = 4;

fn options() -> Options {
    Options {
        max_block_size: MAX_BLOCK_SIZE,
        ..Options::default()
    }
}

/// What a freshly opened store holds: its format version stamp.
fn fresh_model() -> Model {
    let mut m = Model::new();
    m.insert(
        (Keyspace::META.tag, META_FORMAT_VERSION.to_vec()),
        FORMAT_VERSION.to_be_bytes().to_vec(),
    );
    m
}

/// One write (or read) inside a batch.
#[derive(Debug, Clone)]
enum Write {
    Put(Keyspace, Vec<u8>, Vec<u8>),
    Delete(Keyspace, Vec<u8>),
    /// A block with its true CID.
    PutBlock(Codec, Vec<u8>),
    /// The CID of `data` offered with `data ++ suffix` (a non-empty suffix), which must be refused.
    PutBadBlock(Codec, Vec<u8>, Vec<u8>),
    /// Reads through the batch: must see the batch's own pending writes.
    Get(Keyspace, Vec<u8>),
}

#[derive(Debug, Clone)]
enum Op {
    Put(Keyspace, Vec<u8>, Vec<u8>),
    Delete(Keyspace, Vec<u8>),
    PutBlock(Codec, Vec<u8>),
    PutBadBlock(Codec, Vec<u8>, Vec<u8>),
    /// Writes committed together.
    Batch(Vec<Write>),
    /// Writes staged and then dropped without commit: the store must not change.
    DroppedBatch(Vec<Write>),
    Get(Keyspace, Vec<u8>),
    GetBlock(Codec, Vec<u8>),
    /// `scan_prefix` (or `scan_prefix_rev` when the flag is set).
    Scan(Keyspace, Vec<u8>, bool),
    Flush,
    Reopen,
    /// Memory only: lose every batch since the last flush, then reopen.
    Crash,
}

/// Keys over a three-letter alphabet that includes `0x00` and `0xff` (the edges of prefix
/// scans), up to three bytes long: 40 keys per keyspace, so keys collide often.
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![0x00u8, 0x01, 0xff]), 0..=3)
}

fn prefix() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![0x00u8, 0x01, 0xff]), 0..=2)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..4)
}

fn writable() -> impl Strategy<Value = Keyspace> {
    prop::sample::select(WRITABLE.to_vec())
}

fn readable() -> impl Strategy<Value = Keyspace> {
    prop::sample::select(READABLE.to_vec())
}

fn codec() -> impl Strategy<Value = Codec> {
    prop_oneof![Just(Codec::DagCbor), Just(Codec::Raw)]
}

/// Block contents from a tiny alphabet so the same block is written more than once; up to six
/// bytes, so some are over [`MAX_BLOCK_SIZE`].
fn block_data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..3, 0..=6)
}

fn suffix() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..=2)
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        6 => (writable(), key(), value()).prop_map(|(ks, k, v)| Write::Put(ks, k, v)),
        3 => (writable(), key()).prop_map(|(ks, k)| Write::Delete(ks, k)),
        2 => (codec(), block_data()).prop_map(|(c, d)| Write::PutBlock(c, d)),
        1 => (codec(), block_data(), suffix()).prop_map(|(c, d, s)| Write::PutBadBlock(c, d, s)),
        2 => (writable(), key()).prop_map(|(ks, k)| Write::Get(ks, k)),
    ]
}

/// One op; `Crash` only when the backend can simulate one.
fn op(crash: bool) -> BoxedStrategy<Op> {
    let others = prop_oneof![
        10 => (writable(), key(), value()).prop_map(|(ks, k, v)| Op::Put(ks, k, v)),
        4 => (writable(), key()).prop_map(|(ks, k)| Op::Delete(ks, k)),
        3 => (codec(), block_data()).prop_map(|(c, d)| Op::PutBlock(c, d)),
        1 => (codec(), block_data(), suffix()).prop_map(|(c, d, s)| Op::PutBadBlock(c, d, s)),
        3 => prop::collection::vec(write(), 0..8).prop_map(Op::Batch),
        1 => prop::collection::vec(write(), 0..8).prop_map(Op::DroppedBatch),
        5 => (readable(), key()).prop_map(|(ks, k)| Op::Get(ks, k)),
        2 => (codec(), block_data()).prop_map(|(c, d)| Op::GetBlock(c, d)),
        4 => (readable(), prefix(), any::<bool>()).prop_map(|(ks, p, rev)| Op::Scan(ks, p, rev)),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ];
    if crash {
        // The weights above sum to 35: a crash is as likely as a flush or a reopen.
        prop_oneof![35 => others, 1 => Just(Op::Crash)].boxed()
    } else {
        others.boxed()
    }
}

fn ops(crash: bool) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(crash), 1..48)
}

/// The store under test, and how to reopen or crash it.
trait Subject {
    fn store(&self) -> &Store;
    /// Closes and reopens the store; every committed batch must survive.
    fn reopen(&mut self);
    /// Loses every batch since the last flush and reopens.
    fn crash(&mut self);
}

struct Memory {
    backend: MemoryBackend,
    store: Store,
}

impl Memory {
    fn new() -> Memory {
        let backend = MemoryBackend::new();
        let store = Store::with_backend(Arc::new(backend.clone()), options()).unwrap();
        Memory { backend, store }
    }
}

impl Subject for Memory {
    fn store(&self) -> &Store {
        &self.store
    }

    fn reopen(&mut self) {
        self.store = Store::with_backend(Arc::new(self.backend.clone()), options()).unwrap();
    }

    fn crash(&mut self) {
        self.backend.crash();
        self.reopen();
    }
}

struct Sled {
    // Declared before `dir` so the store is dropped before the directory is removed.
    store: Option<Store>,
    dir: TempDir,
}

impl Sled {
    fn new() -> Sled {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), options()).unwrap();
        Sled {
            store: Some(store),
            dir,
        }
    }
}

impl Subject for Sled {
    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    /// Drops the store *without* flushing and opens the directory again. This relies on sled
    /// flushing its page cache when the last handle on a tree is dropped (sled 0.34's
    /// `impl Drop for TreeInner`); the model checks that no committed batch is lost.
    fn reopen(&mut self) {
        let _no_spawn = crate::no_spawn();
        drop(self.store.take());
        self.store = Some(Store::open(self.dir.path(), options()).unwrap());
    }

    fn crash(&mut self) {
        unreachable!("crashes are only simulated on the memory backend")
    }
}

fn block_key(cid: &Cid) -> (u8, Vec<u8>) {
    (Keyspace::BLOCKS.tag, cid.to_bytes().to_vec())
}

/// The model's entries of `ks` under `prefix`, keys without the tag, ascending.
fn model_scan(model: &Model, ks: Keyspace, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .range((ks.tag, prefix.to_vec())..)
        .take_while(|((tag, k), _)| *tag == ks.tag && k.starts_with(prefix))
        .map(|((_, k), v)| (k.clone(), v.clone()))
        .collect()
}

fn store_scan(store: &Store, ks: Keyspace, prefix: &[u8], rev: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    if rev {
        store
            .scan_prefix_rev(ks, prefix)
            .map(|r| r.unwrap())
            .collect()
    } else {
        store.scan_prefix(ks, prefix).map(|r| r.unwrap()).collect()
    }
}

/// Compares every keyspace whole, both directions, and the typed block iterator.
fn check_all(store: &Store, model: &Model) {
    for ks in Keyspace::ALL {
        let expected = model_scan(model, ks, &[]);
        assert_eq!(
            store_scan(store, ks, &[], false),
            expected,
            "keyspace {}",
            ks.name
        );
        let mut rev = expected;
        rev.reverse();
        assert_eq!(
            store_scan(store, ks, &[], true),
            rev,
            "keyspace {} reversed",
            ks.name
        );
    }
    // Every stored key has a keyspace in `Keyspace::ALL`, so this covers the whole model.
    assert!(model
        .keys()
        .all(|(tag, _)| Keyspace::ALL.iter().any(|ks| ks.tag == *tag)));
    let blocks: Vec<(Cid, Vec<u8>)> = store.blocks().map(|r| r.unwrap()).collect();
    let expected: Vec<(Cid, Vec<u8>)> = model_scan(model, Keyspace::BLOCKS, &[])
        .into_iter()
        .map(|(k, v)| (Cid::from_bytes(&k).unwrap(), v))
        .collect();
    assert_eq!(blocks, expected);
    for (cid, bytes) in &blocks {
        cid.verify(bytes).unwrap();
    }
}

/// Checks the result of offering a good block; returns whether it must have been stored.
fn check_put_block(result: Result<(), Error>, data: &[u8]) -> bool {
    if data.len() > MAX_BLOCK_SIZE {
        assert!(
            matches!(result, Err(Error::BlockTooLarge { size, max, .. }) if size == data.len() && max == MAX_BLOCK_SIZE),
            "{result:?}"
        );
        false
    } else {
        result.unwrap();
        true
    }
}

/// Checks the result of offering the CID of `data` with the bytes `bad`: it must always fail.
fn check_put_bad_block(result: Result<(), Error>, cid: &Cid, codec: Codec, bad: &[u8]) {
    if bad.len() > MAX_BLOCK_SIZE {
        assert!(
            matches!(result, Err(Error::BlockTooLarge { cid: c, size, .. }) if c == *cid && size == bad.len()),
            "{result:?}"
        );
    } else {
        match result {
            Err(Error::HashMismatch(e)) => {
                assert_eq!(e.expected, *cid);
                assert_eq!(e.actual, Cid::hash(codec, bad));
            }
            other => panic!("a block that does not match its CID was not refused: {other:?}"),
        }
    }
}

fn bad_bytes(data: &[u8], suffix: &[u8]) -> Vec<u8> {
    let mut bad = data.to_vec();
    bad.extend_from_slice(suffix);
    bad
}

/// Stages `writes` in a new batch, checking reads through the batch against `pending` (the model
/// plus the batch so far) and reads outside it against the unchanged `model`.
fn stage<'s>(store: &'s Store, model: &Model, writes: &[Write]) -> (weft_store::Batch<'s>, Model) {
    let mut batch = store.batch();
    let mut pending = model.clone();
    let mut staged = BTreeSet::new();
    for w in writes {
        match w {
            Write::Put(ks, k, v) => {
                batch.put(*ks, k, v);
                pending.insert((ks.tag, k.clone()), v.clone());
                staged.insert((ks.tag, k.clone()));
            }
            Write::Delete(ks, k) => {
                batch.delete(*ks, k);
                pending.remove(&(ks.tag, k.clone()));
                staged.insert((ks.tag, k.clone()));
            }
            Write::PutBlock(codec, data) => {
                let cid = Cid::hash(*codec, data);
                if check_put_block(batch.put_block(&cid, data), data) {
                    pending.insert(block_key(&cid), data.clone());
                    staged.insert(block_key(&cid));
                }
            }
            Write::PutBadBlock(codec, data, suffix) => {
                let cid = Cid::hash(*codec, data);
                let bad = bad_bytes(data, suffix);
                check_put_bad_block(batch.put_block(&cid, &bad), &cid, *codec, &bad);
            }
            Write::Get(ks, k) => {
                let key = (ks.tag, k.clone());
                assert_eq!(batch.get(*ks, k).unwrap(), pending.get(&key).cloned());
                assert_eq!(batch.contains(*ks, k).unwrap(), pending.contains_key(&key));
                // Nothing is visible outside the batch before it commits.
                assert_eq!(store.get(*ks, k).unwrap(), model.get(&key).cloned());
            }
        }
        // A refused block stages nothing; a rewritten key counts once.
        assert_eq!(batch.len(), staged.len());
        assert_eq!(batch.is_empty(), staged.is_empty());
    }
    (batch, pending)
}

/// Runs `ops` against `subject` and the model, asserting that they agree throughout.
fn run(subject: &mut impl Subject, ops: &[Op]) {
    let mut model = fresh_model();
    // The state at the last flush: what a crash reverts to. A crash before the first flush loses
    // the format version stamp too, and the reopen stamps the empty store again.
    let mut durable = fresh_model();
    check_all(subject.store(), &model);
    for op in ops {
        let store = subject.store();
        match op {
            Op::Put(ks, k, v) => {
                let mut b = store.batch();
                b.put(*ks, k, v);
                b.commit().unwrap();
                model.insert((ks.tag, k.clone()), v.clone());
            }
            Op::Delete(ks, k) => {
                let mut b = store.batch();
                b.delete(*ks, k);
                b.commit().unwrap();
                model.remove(&(ks.tag, k.clone()));
            }
            Op::PutBlock(codec, data) => {
                let cid = Cid::hash(*codec, data);
                if check_put_block(store.put_block(&cid, data), data) {
                    model.insert(block_key(&cid), data.clone());
                }
                assert_eq!(
                    store.has_block(&cid).unwrap(),
                    model.contains_key(&block_key(&cid))
                );
            }
            Op::PutBadBlock(codec, data, suffix) => {
                let cid = Cid::hash(*codec, data);
                let bad = bad_bytes(data, suffix);
                check_put_bad_block(store.put_block(&cid, &bad), &cid, *codec, &bad);
                // Whatever was stored under the CID before (the good block or nothing) stays.
                assert_eq!(
                    store.get_block(&cid).unwrap(),
                    model.get(&block_key(&cid)).cloned()
                );
            }
            Op::Batch(writes) => {
                let (batch, pending) = stage(store, &model, writes);
                batch.commit().unwrap();
                model = pending;
            }
            Op::DroppedBatch(writes) => {
                let (batch, _) = stage(store, &model, writes);
                drop(batch);
                check_all(store, &model);
            }
            Op::Get(ks, k) => {
                let key = (ks.tag, k.clone());
                assert_eq!(store.get(*ks, k).unwrap(), model.get(&key).cloned());
                assert_eq!(store.contains(*ks, k).unwrap(), model.contains_key(&key));
            }
            Op::GetBlock(codec, data) => {
                let cid = Cid::hash(*codec, data);
                assert_eq!(
                    store.get_block(&cid).unwrap(),
                    model.get(&block_key(&cid)).cloned()
                );
            }
            Op::Scan(ks, prefix, rev) => {
                let mut expected = model_scan(&model, *ks, prefix);
                if *rev {
                    expected.reverse();
                }
                assert_eq!(store_scan(store, *ks, prefix, *rev), expected);
            }
            Op::Flush => {
                store.flush().unwrap();
                durable = model.clone();
            }
            Op::Reopen => {
                subject.reopen();
                check_all(subject.store(), &model);
            }
            Op::Crash => {
                subject.crash();
                model = durable.clone();
                check_all(subject.store(), &model);
            }
        }
    }
    check_all(subject.store(), &model);
}

#[test]
fn op_keyspaces_are_registered() {
    for ks in WRITABLE.iter().chain(READABLE.iter()) {
        assert!(
            Keyspace::ALL.contains(ks),
            "{} is not in Keyspace::ALL",
            ks.name
        );
    }
    assert!(!WRITABLE.contains(&Keyspace::BLOCKS));
    assert!(!WRITABLE.contains(&Keyspace::META));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memory_store_matches_btreemap(ops in ops(true)) {
        run(&mut Memory::new(), &ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sled_store_matches_btreemap(ops in ops(false)) {
        run(&mut Sled::new(), &ops);
    }
}

/// Both backends scan keys at the `0xff` edge (where the end of a prefix carries into the tag)
/// exactly, without leaking into the next keyspace.
#[test]
fn scan_at_the_ff_edge() {
    let mut model = fresh_model();
    let mut memory = Memory::new();
    let mut sled = Sled::new();
    let keys: [&[u8]; 6] = [
        b"",
        b"\x00",
        b"\xff",
        b"\xff\xff",
        b"\xff\xff\x00",
        b"\x01\xff",
    ];
    for subject in [&mut memory as &mut dyn Subject, &mut sled] {
        let mut b = subject.store().batch();
        for k in keys {
            b.put(Keyspace::HEADS, k, k);
            // The neighbouring keyspace must not leak into scans of HEADS.
            b.put(Keyspace::BY_HEIGHT, k, b"other");
        }
        b.commit().unwrap();
    }
    for k in keys {
        model.insert((Keyspace::HEADS.tag, k.to_vec()), k.to_vec());
        model.insert((Keyspace::BY_HEIGHT.tag, k.to_vec()), b"other".to_vec());
    }
    for subject in [&mut memory as &mut dyn Subject, &mut sled] {
        for prefix in [&b""[..], b"\xff", b"\xff\xff", b"\x01"] {
            let expected = model_scan(&model, Keyspace::HEADS, prefix);
            assert!(expected.iter().all(|(k, _)| k.starts_with(prefix)));
            assert_eq!(
                store_scan(subject.store(), Keyspace::HEADS, prefix, false),
                expected
            );
        }
        let ff = store_scan(subject.store(), Keyspace::HEADS, b"\xff", true);
        assert_eq!(
            ff.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
            vec![
                b"\xff\xff\x00".to_vec(),
                b"\xff\xff".to_vec(),
                b"\xff".to_vec()
            ]
        );
        subject.reopen();
        check_all(subject.store(), &model);
    }
}
