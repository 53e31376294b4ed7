//! Model test: random op sequences run against a [`Store`] and against a model (a `BTreeMap` of
//! keyspace entries and a list of blocks), in the style of sled's `prop_tree_matches_btreemap`.
//! Every read is compared with the model, and after every reopen, checkpoint or crash (and at the
//! end) every keyspace and every block is compared whole.
//!
//! The test plays the layer above the store: each block it stores gets a derived entry
//! ([`BLOCK_INDEX`]: CID -> position), and after a reopen it replays the records the last
//! checkpoint does not cover, as `weft-dag` does. Checkpoints by threshold are off, so the model
//! knows exactly which checkpoint a crash falls back to.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use proptest::prelude::*;
use tempfile::TempDir;
use weft_store::{
    layout::{FORMAT_VERSION, META_CHECKPOINT, META_FORMAT_VERSION},
    Batch, Cid, Codec, Error, Keyspace, Options, Pos, Store,
};
use weft_testkit::Disk;

use crate::{AUTHOR_SEQ, BLOCK_INDEX, BY_HEIGHT, EMPTY, HEADS, NAMES, TOMBSTONE};

/// `(keyspace tag, key) -> value`, exactly what the keyspaces should hold (but the checkpoint
/// position, which the store writes itself).
type Model = BTreeMap<(u8, Vec<u8>), Vec<u8>>;

/// Everything the store should hold.
#[derive(Debug, Clone, Default)]
struct State {
    kv: Model,
    /// The blocks, in log order (a block's index is its position).
    blocks: Vec<(Cid, Vec<u8>)>,
}

/// The keyspaces that ops write with `put` and `delete`: two adjacent tags (a scan of one must not
/// leak into the other), one further on, the last one, and one kept keyspace.
const WRITABLE: [Keyspace; 5] = [HEADS, BY_HEIGHT, AUTHOR_SEQ, TOMBSTONE, NAMES];

/// The keyspaces that ops read: the writable ones, the block index, and one nothing writes.
const READABLE: [Keyspace; 7] = [
    HEADS,
    BY_HEIGHT,
    AUTHOR_SEQ,
    TOMBSTONE,
    NAMES,
    BLOCK_INDEX,
    EMPTY,
];

/// A small block size limit, so that the ops hit `BlockTooLarge` as well.
const MAX_BLOCK_SIZE: usize = 4;

fn options(sync_commits: bool) -> Options {
    Options {
        max_block_size: MAX_BLOCK_SIZE,
        sync_commits,
        checkpoint_records: u64::MAX,
        checkpoint_bytes: usize::MAX,
        checkpoint_interval: Duration::MAX,
        ..Options::default()
    }
}

/// What a freshly opened store holds: its format version stamp.
fn fresh_model() -> State {
    let mut m = State::default();
    m.kv.insert(
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
    /// A block with its true CID (and its derived index entry).
    PutBlock(Codec, Vec<u8>),
    /// The CID of `data` offered with `data ++ suffix` (a non-empty suffix), which must be refused.
    PutBadBlock(Codec, Vec<u8>, Vec<u8>),
    /// Reads through the batch: must see the batch's own pending writes.
    Get(Keyspace, Vec<u8>),
}

#[derive(Debug, Clone)]
enum Op {
    /// Writes committed together.
    Batch(Vec<Write>),
    /// Writes staged and then dropped without commit: the store must not change.
    DroppedBatch(Vec<Write>),
    Get(Keyspace, Vec<u8>),
    GetBlock(Codec, Vec<u8>),
    /// `scan_prefix` (or `scan_prefix_rev` when the flag is set).
    Scan(Keyspace, Vec<u8>, bool),
    Flush,
    Checkpoint,
    Reopen,
    /// Memory only: lose everything not durable, then reopen and replay.
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
        3 => (codec(), block_data()).prop_map(|(c, d)| Write::PutBlock(c, d)),
        1 => (codec(), block_data(), suffix()).prop_map(|(c, d, s)| Write::PutBadBlock(c, d, s)),
        2 => (writable(), key()).prop_map(|(ks, k)| Write::Get(ks, k)),
    ]
}

/// One op; `Crash` only when the store can simulate one.
fn op(crash: bool) -> BoxedStrategy<Op> {
    let others = prop_oneof![
        12 => prop::collection::vec(write(), 1..2).prop_map(Op::Batch),
        6 => prop::collection::vec(write(), 0..8).prop_map(Op::Batch),
        1 => prop::collection::vec(write(), 0..8).prop_map(Op::DroppedBatch),
        5 => (readable(), key()).prop_map(|(ks, k)| Op::Get(ks, k)),
        2 => (codec(), block_data()).prop_map(|(c, d)| Op::GetBlock(c, d)),
        4 => (readable(), prefix(), any::<bool>()).prop_map(|(ks, p, rev)| Op::Scan(ks, p, rev)),
        1 => Just(Op::Flush),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
    ];
    if crash {
        // The weights above sum to 33: a crash is about as likely as a flush or a reopen.
        prop_oneof![33 => others, 2 => Just(Op::Crash)].boxed()
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
    /// Loses whatever is not durable and reopens.
    fn crash(&mut self);
    fn sync_commits(&self) -> bool;
}

struct Memory {
    disk: Disk,
    store: Option<Store>,
    sync_commits: bool,
}

impl Memory {
    fn new(sync_commits: bool) -> Memory {
        let mut memory = Memory {
            disk: Disk::new(),
            store: None,
            sync_commits,
        };
        memory.open();
        memory
    }

    fn open(&mut self) {
        self.store = Some(self.disk.open(options(self.sync_commits)).unwrap());
    }
}

impl Subject for Memory {
    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    fn reopen(&mut self) {
        drop(self.store.take());
        self.open();
    }

    fn crash(&mut self) {
        // The process dies: no checkpoint at close.
        self.disk.crash(self.store.take());
        self.open();
    }

    fn sync_commits(&self) -> bool {
        self.sync_commits
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
        let store = Store::open(dir.path(), options(true)).unwrap();
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

    fn reopen(&mut self) {
        let _no_spawn = crate::no_spawn();
        drop(self.store.take());
        self.store = Some(Store::open(self.dir.path(), options(true)).unwrap());
    }

    fn crash(&mut self) {
        unreachable!("crashes are only simulated in memory")
    }

    fn sync_commits(&self) -> bool {
        true
    }
}

fn index_key(cid: &Cid) -> (u8, Vec<u8>) {
    (BLOCK_INDEX.tag, cid.to_bytes().to_vec())
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

/// Compares every keyspace whole, both directions, and every block.
fn check_all(store: &Store, model: &State) {
    for ks in READABLE {
        let expected = model_scan(&model.kv, ks, &[]);
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
    let meta: Vec<_> = store_scan(store, Keyspace::META, &[], false)
        .into_iter()
        .filter(|(k, _)| k != META_CHECKPOINT)
        .collect();
    assert_eq!(meta, model_scan(&model.kv, Keyspace::META, &[]));
    assert_eq!(store.log_end(), Pos(model.blocks.len() as u64));
    assert_eq!(store.replay_range().0, store.log_end());
    let records: Vec<(Cid, Vec<u8>)> = store
        .records(Pos(0))
        .map(|r| {
            let (_, rec) = r.unwrap();
            (rec.cid, rec.block)
        })
        .collect();
    assert_eq!(records, model.blocks);
    for (pos, (cid, bytes)) in model.blocks.iter().enumerate() {
        cid.verify(bytes).unwrap();
        assert_eq!(store.block_pos(cid).unwrap(), Some(Pos(pos as u64)));
        assert_eq!(store.get_block(cid).unwrap().as_deref(), Some(&bytes[..]));
    }
    assert!(store.check_log().is_empty());
}

/// Checks the result of offering a good block; returns whether it must have been staged.
fn check_put_block(result: &Result<Pos, Error>, data: &[u8]) -> bool {
    if data.len() > MAX_BLOCK_SIZE {
        assert!(
            matches!(result, Err(Error::BlockTooLarge { size, max, .. }) if *size == data.len() && *max == MAX_BLOCK_SIZE),
            "{result:?}"
        );
        false
    } else {
        assert!(result.is_ok(), "{result:?}");
        true
    }
}

/// Checks the result of offering the CID of `data` with the bytes `bad`: it must always fail.
fn check_put_bad_block(result: Result<Pos, Error>, cid: &Cid, codec: Codec, bad: &[u8]) {
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
/// plus the batch so far) and reads outside it against the unchanged `model`. Returns the batch,
/// the model as it will be, and whether the batch writes a kept keyspace.
fn stage<'s>(store: &'s Store, model: &State, writes: &[Write]) -> (Batch<'s>, State, bool) {
    let mut batch = store.batch();
    let mut pending = model.clone();
    let mut staged = BTreeSet::new();
    let mut kept = false;
    for w in writes {
        match w {
            Write::Put(ks, k, v) => {
                batch.put(*ks, k, v);
                pending.kv.insert((ks.tag, k.clone()), v.clone());
                staged.insert((ks.tag, k.clone()));
                kept |= *ks == NAMES;
            }
            Write::Delete(ks, k) => {
                batch.delete(*ks, k);
                pending.kv.remove(&(ks.tag, k.clone()));
                staged.insert((ks.tag, k.clone()));
                kept |= *ks == NAMES;
            }
            Write::PutBlock(codec, data) => {
                let cid = Cid::hash(*codec, data);
                let result = batch.put_block(&cid, data, b"note");
                if check_put_block(&result, data) {
                    let pos = result.unwrap();
                    let known = pending.blocks.iter().position(|(c, _)| *c == cid);
                    match known {
                        Some(at) => assert_eq!(pos, Pos(at as u64)),
                        None => {
                            assert_eq!(pos, Pos(pending.blocks.len() as u64));
                            pending.blocks.push((cid, data.clone()));
                        }
                    }
                    batch.put(BLOCK_INDEX, &cid.to_bytes(), &pos.0.to_be_bytes());
                    pending
                        .kv
                        .insert(index_key(&cid), pos.0.to_be_bytes().to_vec());
                    staged.insert(index_key(&cid));
                }
            }
            Write::PutBadBlock(codec, data, suffix) => {
                let cid = Cid::hash(*codec, data);
                let bad = bad_bytes(data, suffix);
                check_put_bad_block(batch.put_block(&cid, &bad, b""), &cid, *codec, &bad);
            }
            Write::Get(ks, k) => {
                let key = (ks.tag, k.clone());
                assert_eq!(batch.get(*ks, k).unwrap(), pending.kv.get(&key).cloned());
                assert_eq!(
                    batch.contains(*ks, k).unwrap(),
                    pending.kv.contains_key(&key)
                );
                // Nothing is visible outside the batch before it commits.
                assert_eq!(store.get(*ks, k).unwrap(), model.kv.get(&key).cloned());
            }
        }
        // A refused block stages nothing; a rewritten key counts once.
        assert_eq!(batch.len(), staged.len());
    }
    (batch, pending, kept)
}

/// Replays the records the last checkpoint does not cover, as the layer above does on open:
/// each block with its derived entry.
fn replay(store: &Store) {
    let (next, end) = store.replay_range();
    for p in next.0..end.0 {
        let rec = store.record(Pos(p)).unwrap();
        let mut b = store.batch();
        assert_eq!(
            b.put_block(&rec.cid, &rec.block, &rec.note).unwrap(),
            Pos(p)
        );
        b.put(BLOCK_INDEX, &rec.cid.to_bytes(), &p.to_be_bytes());
        b.commit().unwrap();
    }
}

/// What survives a crash, as the model sees it.
#[derive(Debug, Clone)]
struct Durable {
    /// The keyspaces at the last checkpoint.
    checkpointed: Model,
    /// The keyspaces at the last checkpoint that was flushed to the database.
    flushed: Model,
    /// How many blocks the log has synced.
    synced: usize,
}

/// Runs `ops` against `subject` and the model, asserting that they agree throughout.
fn run(subject: &mut impl Subject, ops: &[Op]) {
    let mut model = fresh_model();
    let mut durable = Durable {
        checkpointed: model.kv.clone(),
        flushed: model.kv.clone(),
        synced: 0,
    };
    let sync_commits = subject.sync_commits();
    check_all(subject.store(), &model);
    for op in ops {
        let store = subject.store();
        match op {
            Op::Batch(writes) => {
                let (batch, pending, kept) = stage(store, &model, writes);
                let new_blocks = pending.blocks.len() > model.blocks.len();
                batch.commit().unwrap();
                model = pending;
                if sync_commits && new_blocks {
                    durable.synced = model.blocks.len();
                }
                if kept {
                    // A kept write checkpoints everything, syncing the log first.
                    durable.checkpointed = model.kv.clone();
                    durable.synced = model.blocks.len();
                    if sync_commits {
                        durable.flushed = durable.checkpointed.clone();
                    }
                }
            }
            Op::DroppedBatch(writes) => {
                let (batch, _, _) = stage(store, &model, writes);
                drop(batch);
                check_all(store, &model);
            }
            Op::Get(ks, k) => {
                let key = (ks.tag, k.clone());
                assert_eq!(store.get(*ks, k).unwrap(), model.kv.get(&key).cloned());
                assert_eq!(store.contains(*ks, k).unwrap(), model.kv.contains_key(&key));
            }
            Op::GetBlock(codec, data) => {
                let cid = Cid::hash(*codec, data);
                let expected = model
                    .blocks
                    .iter()
                    .find(|(c, _)| *c == cid)
                    .map(|(_, b)| b.clone());
                assert_eq!(store.get_block(&cid).unwrap(), expected);
                assert_eq!(store.has_block(&cid).unwrap(), expected.is_some());
            }
            Op::Scan(ks, prefix, rev) => {
                let mut expected = model_scan(&model.kv, *ks, prefix);
                if *rev {
                    expected.reverse();
                }
                assert_eq!(store_scan(store, *ks, prefix, *rev), expected);
            }
            Op::Flush => {
                store.flush().unwrap();
                durable.synced = model.blocks.len();
                durable.flushed = durable.checkpointed.clone();
            }
            Op::Checkpoint => {
                store.checkpoint_now().unwrap();
                durable.synced = model.blocks.len();
                durable.checkpointed = model.kv.clone();
                durable.flushed = model.kv.clone();
                check_all(store, &model);
            }
            Op::Reopen => {
                subject.reopen();
                replay(subject.store());
                durable = Durable {
                    checkpointed: model.kv.clone(),
                    flushed: model.kv.clone(),
                    synced: model.blocks.len(),
                };
                check_all(subject.store(), &model);
            }
            Op::Crash => {
                subject.crash();
                replay(subject.store());
                // The database as last flushed, the log as last synced, and the derived entries
                // of the surviving blocks written again by the replay.
                model.blocks.truncate(durable.synced);
                model.kv = durable.flushed.clone();
                for (pos, (cid, _)) in model.blocks.iter().enumerate() {
                    model
                        .kv
                        .insert(index_key(cid), (pos as u64).to_be_bytes().to_vec());
                }
                durable.checkpointed = durable.flushed.clone();
                check_all(subject.store(), &model);
            }
        }
    }
    check_all(subject.store(), &model);
}

#[test]
fn op_keyspaces_are_distinct_layers_keyspaces() {
    weft_testkit::check_unique(&READABLE).unwrap();
    assert!(!WRITABLE.contains(&BLOCK_INDEX));
    assert!(!WRITABLE.contains(&EMPTY));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memory_store_with_durable_commits_matches_the_model(ops in ops(true)) {
        run(&mut Memory::new(true), &ops);
    }

    #[test]
    fn memory_store_with_manual_flushes_matches_the_model(ops in ops(true)) {
        run(&mut Memory::new(false), &ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sled_store_matches_the_model(ops in ops(false)) {
        run(&mut Sled::new(), &ops);
    }
}

/// Both backends scan keys at the `0xff` edge (where the end of a prefix carries into the tag)
/// exactly, without leaking into the next keyspace, in the memtable and in the database.
#[test]
fn scan_at_the_ff_edge() {
    let mut model = fresh_model();
    let mut memory = Memory::new(true);
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
            b.put(HEADS, k, k);
            // The neighbouring keyspace must not leak into scans of HEADS.
            b.put(BY_HEIGHT, k, b"other");
        }
        b.commit().unwrap();
    }
    for k in keys {
        model.kv.insert((HEADS.tag, k.to_vec()), k.to_vec());
        model
            .kv
            .insert((BY_HEIGHT.tag, k.to_vec()), b"other".to_vec());
    }
    for subject in [&mut memory as &mut dyn Subject, &mut sled] {
        for round in 0..2 {
            for prefix in [&b""[..], b"\xff", b"\xff\xff", b"\x01"] {
                let expected = model_scan(&model.kv, HEADS, prefix);
                assert!(expected.iter().all(|(k, _)| k.starts_with(prefix)));
                assert_eq!(store_scan(subject.store(), HEADS, prefix, false), expected);
            }
            let ff = store_scan(subject.store(), HEADS, b"\xff", true);
            assert_eq!(
                ff.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
                vec![
                    b"\xff\xff\x00".to_vec(),
                    b"\xff\xff".to_vec(),
                    b"\xff".to_vec()
                ]
            );
            if round == 0 {
                // The same from the database instead of the memtable.
                subject.reopen();
            }
        }
        check_all(subject.store(), &model);
    }
}
