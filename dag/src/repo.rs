//! [`Repo`]: the API that applications embed.

use std::{
    collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, AtomicU8, Ordering},
        mpsc, Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use smallvec::SmallVec;
use weft_store::{Batch, Cid, CidMap, CidSet, Keyspace, Store};

use crate::{
    acl::{self, AclDoc, Member, Role},
    change::{validate_key, Change, EncodedChange, Op, OpId, MAX_OPS, MAX_PARENTS, MAX_PRED},
    identity::{Author, Identity},
    layout::{self, ChangeMeta},
    state::{self, Entry, Kind, State},
    value::Value,
    DocId, Error,
};

/// The directory that marks a repo root.
pub const WEFT_DIR: &str = ".weft";
/// The database directory inside [`WEFT_DIR`].
pub const DB_DIR: &str = "db";
/// The author key file inside [`WEFT_DIR`].
pub const KEY_FILE: &str = "key";
/// The document that `init` creates and commands use by default.
pub const DEFAULT_DOC: &str = "main";

/// When writes become durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Flush after every commit and every `apply_changes` call (the safe default).
    #[default]
    EveryCommit,
    /// Only when the caller calls [`Repo::flush`] (and when sled's background flush runs).
    Manual,
}

/// Knobs for [`Repo::init`] and [`Repo::open`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Sign with this identity instead of the repo's key file. `init` then writes no key file.
    pub identity: Option<Identity>,
    /// When writes are flushed.
    pub durability: Durability,
    /// Store options (block size limit, cache).
    pub store: weft_store::Options,
}

/// What a subscriber hears about each applied change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The document.
    pub doc: DocId,
    /// The change.
    pub cid: Cid,
    /// Its author.
    pub author: Author,
    /// Its height.
    pub height: u64,
    /// The keys it touched.
    pub keys: Vec<String>,
    /// Whether it was written by this repo (`false` for changes that arrived from elsewhere).
    pub local: bool,
}

/// One subscriber: told of every change, it says whether it still listens.
type Subscriber = Box<dyn FnMut(&Event) -> bool + Send>;

/// The subscribers of a repo.
#[derive(Default)]
struct Subscribers(Vec<Subscriber>);

impl std::fmt::Debug for Subscribers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} subscribers", self.0.len())
    }
}

/// A stream of [`Event`]s. Iterating blocks until the next event; it ends when the repo drops.
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<Event>,
}

impl Subscription {
    /// The next event if one is waiting.
    pub fn try_next(&self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Waits up to `timeout` for the next event.
    pub fn next_timeout(&self, timeout: Duration) -> Option<Event> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl Iterator for Subscription {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.rx.recv().ok()
    }
}

/// When a change was first stored here, and who delivered it (see [`Repo::arrivals`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The change.
    pub cid: Cid,
    /// Its author.
    pub author: Author,
    /// The author's timestamp in the change (ms since the Unix epoch; the author's clock).
    pub authored: u64,
    /// This replica's time when the change was first stored (ms since the Unix epoch).
    pub arrived: u64,
    /// Who delivered it: a remote's name or URL; `None` for a change written here.
    pub source: Option<String>,
}

impl Arrival {
    /// How long the change took to get here: arrival minus the author's timestamp, in ms
    /// (0 if the clocks disagree so much that it arrived "before" it was written).
    pub fn delay_ms(&self) -> u64 {
        self.arrived.saturating_sub(self.authored)
    }
}

/// A change that a transaction committed.
#[derive(Debug, Clone)]
pub struct Committed {
    /// Its CID.
    pub cid: Cid,
    /// The change.
    pub change: Change,
}

/// What [`Repo::apply_changes`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Changes applied, in the order they were applied.
    pub applied: Vec<Cid>,
    /// Changes that were already present.
    pub n_duplicates: usize,
}

/// One line of `log`.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// The change's CID.
    pub cid: Cid,
    /// The change.
    pub change: Change,
}

/// One op behind a key's current value.
#[derive(Debug, Clone, PartialEq)]
pub struct BlameLine {
    /// The op.
    pub op: OpId,
    /// What it contributes: the register value, the counter delta, or the set member.
    pub value: Value,
    /// Its change's author.
    pub author: Author,
    /// Its change's time (ms).
    pub time: u64,
    /// Its change's height.
    pub height: u64,
}

/// One problem `fsck` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The block or change concerned, if any.
    pub cid: Option<Cid>,
    /// A short machine-readable kind (`corrupt-block`, `bad-signature`, ...).
    pub kind: &'static str,
    /// What is wrong.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cid {
            Some(cid) => write!(f, "{}: {cid}: {}", self.kind, self.detail),
            None => write!(f, "{}: {}", self.kind, self.detail),
        }
    }
}

/// What `fsck` checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Blocks re-hashed.
    pub n_blocks: usize,
    /// Changes whose signatures were checked.
    pub n_changes: usize,
    /// Documents whose heads were walked.
    pub n_docs: usize,
    /// Everything wrong; empty when the repo is sound.
    pub problems: Vec<Problem>,
}

impl FsckReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The state of a document at some past heads, replayed from the DAG.
#[derive(Debug)]
pub struct Snapshot {
    store: Store,
    doc: DocId,
}

impl Snapshot {
    /// The read view.
    pub fn state(&self) -> State<'_> {
        State {
            store: &self.store,
            doc: self.doc,
        }
    }
}

/// A replica: blocks, indexes, heads and materialized state of many documents, in one database.
///
/// A `Repo` is `Send + Sync`: share it with an `Arc` between the UI thread, a sync task and
/// subscribers. Writes are serialized internally.
///
/// ```
/// use weft_dag::{Identity, Repo, Value};
///
/// let repo = Repo::memory(Identity::generate());
/// let doc = repo.doc("main")?;
/// let mut tx = repo.transaction(doc);
/// tx.set("todo/1", Value::parse_cli(r#"{"title":"milk"}"#)?)?;
/// tx.incr("visits", 1)?;
/// tx.commit()?;
/// assert_eq!(repo.state(doc).get("visits")?, Some(Value::Int(1)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Repo {
    store: Store,
    identity: Identity,
    root: Option<PathBuf>,
    durability: Durability,
    pub(crate) write: Mutex<()>,
    subscribers: Mutex<Subscribers>,
    /// Loaded membership changes per document (dropped when one is committed).
    /// Each entry is tagged with the [`Repo::acl_epoch`] it was loaded in: a membership commit
    /// bumps the epoch, so an entry loaded before that commit is never used after it.
    acl: Mutex<HashMap<DocId, (u64, Arc<AclDoc>)>>,
    acl_epoch: AtomicU64,
    /// Where "now" comes from (the wall clock unless [`Repo::with_clock`] set one).
    clock: Option<Clock>,
    /// Changes whose signature was checked, shared with other repos (see
    /// [`Repo::with_verified`]).
    verified: Option<Arc<VerifiedCache>>,
    /// DAG nodes, perhaps shared with other repos (see [`NodeTable`]).
    nodes: Arc<RwLock<NodeTable>>,
    /// The changes known to be stored here (see [`Presence`]).
    present: Mutex<Presence>,
    /// Whether a tombstone may exist (see [`Repo::may_have_tombstones`]).
    tombstones: AtomicU8,
}

/// [`Repo::tombstones`]: not looked at yet.
const TOMBSTONES_UNKNOWN: u8 = 0;
/// [`Repo::tombstones`]: none stored, none staged.
const TOMBSTONES_NONE: u8 = 1;
/// [`Repo::tombstones`]: some may be stored or staged.
const TOMBSTONES_MAYBE: u8 = 2;

/// How many entries each in-memory table of a repo holds before it is cleared: the DAG nodes
/// of its [`NodeTable`] (about 150 bytes each, one table for the repos that share a
/// [`VerifiedCache`]) and the CIDs of its [`Presence`] set.
pub const NODE_CACHE_ENTRIES: usize = 1 << 18;

/// What a walk of the DAG needs of a stored change: its document, height and parents (the rest
/// of its index entry, [`ChangeMeta`], is read from the store when asked for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The document.
    pub doc: DocId,
    /// Height in the DAG.
    pub height: u64,
    parents: SmallVec<[Cid; 2]>,
}

impl Node {
    /// The parents, sorted.
    pub fn parents(&self) -> &[Cid] {
        &self.parents
    }
}

/// DAG nodes by CID: walks of the DAG (what a peer lacks, ancestry) visit the same ones over
/// and over, and staging a change reads its parents'. A node is a function of its CID (a change
/// is named by its content and never removed), so it never goes stale, and repos of one process
/// that share a [`VerifiedCache`] share one table (`weft lab` keeps hundreds of replicas of the
/// same DAG). Which changes a repo holds is its own [`Presence`]. Lean on purpose: one slot per
/// change, with its document and membership frontier as indexes into short lists and up to two
/// parents inline. Cleared when full.
#[derive(Debug, Default)]
pub(crate) struct NodeTable {
    slots: CidMap<Slot>,
    /// The documents the slots name, by index.
    docs: Interned<DocId>,
    /// The membership frontiers the slots name, by index (a document has few: one per
    /// membership change).
    frontiers: Interned<Vec<Cid>>,
}

/// Distinct values, each named by its index.
#[derive(Debug)]
struct Interned<T> {
    list: Vec<T>,
    index: HashMap<T, u32>,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Interned {
            list: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T: Clone + Eq + std::hash::Hash> Interned<T> {
    fn get(&self, i: u32) -> Option<&T> {
        self.list.get(i as usize)
    }

    /// The index of `item`, adding it if it is new.
    fn intern<Q>(&mut self, item: &Q) -> u32
    where
        T: std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ToOwned<Owned = T> + ?Sized,
    {
        if let Some(&i) = self.index.get(item) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(item.to_owned());
        self.index.insert(item.to_owned(), i);
        i
    }

    fn clear(&mut self) {
        self.list.clear();
        self.index.clear();
    }
}

#[derive(Debug)]
struct Slot {
    height: u64,
    doc: u32,
    /// An index into `frontiers`, or [`UNKNOWN_FRONTIER`] for a node read back from the store.
    frontier: u32,
    parents: SmallVec<[Cid; 2]>,
}

const UNKNOWN_FRONTIER: u32 = u32::MAX;

/// What staging a change needs of a parent: its document, height and membership frontier (if
/// known).
type ParentInfo = (DocId, u64, Option<Vec<Cid>>);

impl NodeTable {
    fn get(&self, cid: &Cid) -> Option<Node> {
        self.slots.get(cid).map(|s| Node {
            doc: self.docs.list[s.doc as usize],
            height: s.height,
            parents: s.parents.clone(),
        })
    }

    fn parent(&self, cid: &Cid) -> Option<ParentInfo> {
        self.slots.get(cid).map(|s| {
            let frontier = self.frontiers.get(s.frontier).cloned();
            (self.docs.list[s.doc as usize], s.height, frontier)
        })
    }

    /// Whether the slot of `cid` is there with its frontier.
    fn has_whole(&self, cid: &Cid) -> bool {
        self.slots
            .get(cid)
            .is_some_and(|s| s.frontier != UNKNOWN_FRONTIER)
    }

    fn insert(
        &mut self,
        cid: Cid,
        doc: DocId,
        height: u64,
        parents: &[Cid],
        frontier: Option<&[Cid]>,
    ) {
        if self.slots.len() >= NODE_CACHE_ENTRIES {
            self.slots.clear();
            self.docs.clear();
            self.frontiers.clear();
        }
        let doc = self.docs.intern(&doc);
        let frontier = match frontier {
            Some(f) => self.frontiers.intern(f),
            None => UNKNOWN_FRONTIER,
        };
        self.slots.insert(
            cid,
            Slot {
                height,
                doc,
                frontier,
                parents: SmallVec::from_slice(parents),
            },
        );
    }
}

/// Which changes a repo is known to hold: those it stored, or found stored, lately. Only
/// stored changes get in, so a hit answers "present". Cleared when full.
#[derive(Debug, Default)]
struct Presence {
    set: CidSet,
    /// Whether every stored change is in `set`, so that a miss means "absent": true for a repo
    /// that was empty when opened, until the set is first cleared. Changes are added by
    /// [`Repo::commit_and_remember`], which holds the set locked while their batch lands, so no
    /// reader sees them in the store and not here.
    complete: bool,
}

impl Presence {
    /// Whether a change is stored: `Some` when the set knows.
    fn stored(&self, cid: &Cid) -> Option<bool> {
        if self.set.contains(cid) {
            Some(true)
        } else if self.complete {
            Some(false)
        } else {
            None
        }
    }

    fn insert(&mut self, cid: Cid) {
        if self.set.len() >= NODE_CACHE_ENTRIES {
            self.set.clear();
            self.complete = false;
        }
        self.set.insert(cid);
    }
}

/// What staging a change found out, for the node cache once it is committed.
#[derive(Debug)]
pub(crate) struct Staged {
    /// The change's document.
    pub(crate) doc: DocId,
    /// Its membership frontier (its `by_height` value).
    frontier: Vec<Cid>,
}

/// A source of time in milliseconds since the Unix epoch, for [`Repo::with_clock`]: a
/// simulation gives every replica its virtual clock.
#[derive(Clone)]
pub struct Clock(Arc<ClockFn>);

type ClockFn = dyn Fn() -> u64 + Send + Sync;

impl Clock {
    /// A clock that calls `f` for the time.
    pub fn new(f: impl Fn() -> u64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    /// The time now, in ms.
    pub fn now(&self) -> u64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// Changes that were decoded and whose signature was verified, shared between repos in one
/// process (see [`Repo::with_verified`]). A CID names exact bytes, so bytes that hash to a CID
/// in the cache decode to the same change and carry the same valid signature: many replicas in
/// one process (a simulation) decode and check each change once, not once each.
#[derive(Debug, Default)]
pub struct VerifiedCache {
    changes: RwLock<CidMap<Arc<Change>>>,
    /// The DAG nodes of the repos that share this cache (see [`NodeTable`]).
    nodes: Arc<RwLock<NodeTable>>,
}

impl VerifiedCache {
    /// An empty cache.
    pub fn new() -> VerifiedCache {
        VerifiedCache::default()
    }

    pub(crate) fn contains(&self, cid: &Cid) -> bool {
        self.changes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(cid)
    }

    /// The decoded change, if its signature was verified.
    pub(crate) fn get(&self, cid: &Cid) -> Option<Arc<Change>> {
        self.changes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(cid)
            .cloned()
    }

    pub(crate) fn insert(&self, cid: Cid, change: Arc<Change>) {
        self.changes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cid, change);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // As for `lock`: the tables behind these locks are consistent after every single insert.
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these mutexes is always left consistent (a unit, or a Vec we only push to
    // and retain), so a poisoned lock is safe to use.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Repo {
    /// Creates a repo in `root/.weft`, with a new author key (mode 0600) unless `options` gives
    /// one, and a document named `main`.
    pub fn init(root: &Path, options: Options) -> Result<Repo, Error> {
        Repo::init_with(root, options, true)
    }

    /// Like [`Repo::init`], but without the `main` document: for a repo that will receive its
    /// documents from elsewhere (a clone).
    pub fn init_empty(root: &Path, options: Options) -> Result<Repo, Error> {
        Repo::init_with(root, options, false)
    }

    fn init_with(root: &Path, options: Options, main: bool) -> Result<Repo, Error> {
        let dir = root.join(WEFT_DIR);
        if dir.exists() {
            return Err(Error::AlreadyExists {
                path: root.to_path_buf(),
            });
        }
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let result = (|| {
            let identity = match options.identity.clone() {
                Some(id) => id,
                None => {
                    let id = Identity::generate();
                    id.save(&dir.join(KEY_FILE))?;
                    id
                }
            };
            let store = Repo::open_store(root, &options)?;
            let repo = Repo::from_parts(
                store,
                identity,
                Some(root.to_path_buf()),
                options.durability,
            );
            if main {
                repo.create_doc(DEFAULT_DOC)?;
            }
            repo.flush()?;
            Ok(repo)
        })();
        if result.is_err() {
            // Leave nothing half-made behind.
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    /// Opens the repo whose root (the directory holding `.weft`) is `root`.
    pub fn open(root: &Path, options: Options) -> Result<Repo, Error> {
        let dir = root.join(WEFT_DIR);
        if !dir.join(DB_DIR).is_dir() {
            return Err(Error::NotARepo {
                path: root.to_path_buf(),
            });
        }
        let identity = match options.identity.clone() {
            Some(id) => id,
            None => {
                let key = dir.join(KEY_FILE);
                if !key.exists() {
                    return Err(Error::NoIdentity {
                        path: root.to_path_buf(),
                        key,
                    });
                }
                Identity::load(&key)?
            }
        };
        let store = Repo::open_store(root, &options)?;
        let repo = Repo::from_parts(
            store,
            identity,
            Some(root.to_path_buf()),
            options.durability,
        );
        // A crash between a membership change and the recomputation it triggers leaves the
        // document marked; finish the work now.
        for doc in acl::dirty_docs(&repo.store)? {
            repo.reauthorize(doc)?;
        }
        Ok(repo)
    }

    /// Stages and commits one change on its own, then does what a commit of it triggers: for
    /// replays into a scratch repo.
    fn apply_one(&self, enc: EncodedChange) -> Result<(), Error> {
        let guard = lock(&self.write);
        let mut batch = self.store.batch();
        let staged = self.stage(&mut batch, &enc, "")?;
        self.commit_and_remember(batch, [(&enc, &staged)])?;
        drop(guard);
        self.after_commit(&[(staged.doc, enc)], false)
    }

    fn open_store(root: &Path, options: &Options) -> Result<Store, Error> {
        Store::open(&root.join(WEFT_DIR).join(DB_DIR), options.store.clone()).map_err(|e| match e {
            weft_store::OpenError::Locked { .. } => Error::Locked {
                path: root.to_path_buf(),
            },
            other => Error::Open(other),
        })
    }

    /// An in-memory repo with a `main` document, for tests and ephemeral use.
    pub fn memory(identity: Identity) -> Repo {
        let repo = Repo::from_parts(Store::memory(), identity, None, Durability::EveryCommit);
        match repo.create_doc(DEFAULT_DOC) {
            Ok(_) => repo,
            Err(e) => unreachable!("a fresh memory repo accepts its first document: {e}"),
        }
    }

    /// A repo over an existing store (for example one on a [`weft_store::MemoryBackend`] whose
    /// crashes a test simulates). Creates no document.
    ///
    /// The repo must be the only writer of the store while it lives: it keeps in memory which
    /// changes the store holds and whether it holds a tombstone, and a second `Repo` writing to
    /// the same store (through a clone of its backend) would leave those stale, and so would a
    /// simulated crash ([`weft_store::MemoryBackend::crash`]) under a live repo: drop the repo
    /// first, then open a new one on the crashed store.
    pub fn with_store(store: Store, identity: Identity, durability: Durability) -> Repo {
        Repo::from_parts(store, identity, None, durability)
    }

    fn from_parts(
        store: Store,
        identity: Identity,
        root: Option<PathBuf>,
        durability: Durability,
    ) -> Repo {
        // A repo that holds no change yet will cache every one it stores.
        let empty = store.scan_prefix(Keyspace::CHANGES, &[]).next().is_none();
        Repo {
            store,
            identity,
            root,
            durability,
            write: Mutex::new(()),
            acl: Mutex::new(HashMap::new()),
            acl_epoch: AtomicU64::new(0),
            subscribers: Mutex::new(Subscribers::default()),
            clock: None,
            verified: None,
            nodes: Arc::default(),
            present: Mutex::new(Presence {
                set: CidSet::default(),
                complete: empty,
            }),
            tombstones: AtomicU8::new(TOMBSTONES_UNKNOWN),
        }
    }

    /// Takes the time for new changes and for arrival records from `clock` instead of the wall
    /// clock.
    pub fn with_clock(mut self, clock: Clock) -> Repo {
        self.clock = Some(clock);
        self
    }

    /// Shares one cache of verified changes with other repos of this process: a change that
    /// one of them decoded and verified is neither decoded nor verified again (its hash still
    /// is checked).
    pub fn with_verified(mut self, cache: Arc<VerifiedCache>) -> Repo {
        self.nodes = cache.nodes.clone();
        self.verified = Some(cache);
        self
    }

    /// The repo's time now (ms since the Unix epoch).
    pub fn now(&self) -> u64 {
        self.clock.as_ref().map_or_else(now_ms, Clock::now)
    }

    pub(crate) fn verified_cache(&self) -> Option<&VerifiedCache> {
        self.verified.as_deref()
    }

    /// The repo root, for an on-disk repo.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The underlying store (for the sync layer and diagnostics).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The key this repo signs with.
    pub fn author(&self) -> Author {
        self.identity.author()
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), Error> {
        Ok(self.store.flush()?)
    }

    /// Bytes the database uses on disk.
    pub fn size_on_disk(&self) -> Result<u64, Error> {
        Ok(self.store.size_on_disk()?)
    }

    // ----- documents -----

    /// Creates a document with a new genesis change and gives it a local name.
    pub fn create_doc(&self, name: &str) -> Result<DocId, Error> {
        validate_doc_name(name)?;
        let guard = lock(&self.write);
        if self.store.contains(Keyspace::DOC_NAMES, name.as_bytes())? {
            return Err(Error::DocExists { name: name.into() });
        }
        let mut nonce = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
        let change = Change {
            doc: None,
            parents: vec![],
            author: self.author(),
            seq: 1,
            height: 1,
            time: self.now(),
            ops: vec![Op::Genesis {
                owner: self.author(),
                nonce,
            }],
            sig: [0; 64],
        }
        .sign(&self.identity);
        let doc = DocId(change.cid);
        let mut batch = self.store.batch();
        let staged = self.stage(&mut batch, &change, "")?;
        batch.put(Keyspace::DOC_NAMES, name.as_bytes(), &doc.0.to_bytes());
        batch.put(Keyspace::DOC_IDS, &doc.0.to_bytes(), name.as_bytes());
        self.commit_and_remember(batch, [(&change, &staged)])?;
        drop(guard);
        self.after_commit(&[(doc, change)], true)?;
        Ok(doc)
    }

    /// Gives a local name to a document that is already in the repo (for example one that
    /// arrived by sync).
    pub fn name_doc(&self, name: &str, doc: DocId) -> Result<(), Error> {
        validate_doc_name(name)?;
        let _guard = lock(&self.write);
        if let Some(existing) = self.store.get(Keyspace::DOC_NAMES, name.as_bytes())? {
            if existing == doc.0.to_bytes() {
                return Ok(());
            }
            return Err(Error::DocExists { name: name.into() });
        }
        // Only a genesis change (whose document is itself) names a document.
        match self.change_meta(&doc.0)? {
            Some(meta) if meta.doc == doc => {}
            _ => {
                return Err(Error::UnknownDoc {
                    name: doc.to_string(),
                })
            }
        }
        let mut batch = self.store.batch();
        if let Some(old) = self.store.get(Keyspace::DOC_IDS, &doc.0.to_bytes())? {
            batch.delete(Keyspace::DOC_NAMES, &old);
        }
        batch.put(Keyspace::DOC_NAMES, name.as_bytes(), &doc.0.to_bytes());
        batch.put(Keyspace::DOC_IDS, &doc.0.to_bytes(), name.as_bytes());
        batch.commit()?;
        self.maybe_flush()
    }

    /// The named documents, sorted by name.
    pub fn docs(&self) -> Result<Vec<(String, DocId)>, Error> {
        self.store
            .scan_prefix(Keyspace::DOC_NAMES, &[])
            .map(|r| {
                let (k, v) = r?;
                let name =
                    String::from_utf8(k).map_err(|_| corrupt("doc_names", "name is not UTF-8"))?;
                let cid = Cid::from_bytes(&v).map_err(|e| corrupt("doc_names", &e.to_string()))?;
                Ok((name, DocId(cid)))
            })
            .collect()
    }

    /// The document with a local name, or whose id (genesis CID) is `name_or_id`.
    pub fn doc(&self, name_or_id: &str) -> Result<DocId, Error> {
        if let Some(v) = self.store.get(Keyspace::DOC_NAMES, name_or_id.as_bytes())? {
            let cid = Cid::from_bytes(&v).map_err(|e| corrupt("doc_names", &e.to_string()))?;
            return Ok(DocId(cid));
        }
        if let Ok(cid) = name_or_id.parse::<Cid>() {
            if let Some(meta) = self.change_meta(&cid)? {
                if meta.doc.0 == cid {
                    return Ok(DocId(cid));
                }
            }
        }
        Err(Error::UnknownDoc {
            name: name_or_id.into(),
        })
    }

    /// Every document present, named or not.
    pub fn doc_ids(&self) -> Result<Vec<DocId>, Error> {
        // A genesis change is the only change of height 1 whose doc is itself; scanning heads
        // finds every document that has at least one change.
        let mut docs = BTreeSet::new();
        for r in self.store.scan_prefix(Keyspace::HEADS, &[]) {
            let (k, _) = r?;
            let cid = k
                .get(..weft_store::CID_LEN)
                .and_then(|b| Cid::from_bytes(b).ok())
                .ok_or_else(|| corrupt("heads", "damaged key"))?;
            docs.insert(DocId(cid));
        }
        Ok(docs.into_iter().collect())
    }

    /// The local name of a document, if it has one.
    pub fn doc_name(&self, doc: DocId) -> Result<Option<String>, Error> {
        Ok(self
            .store
            .get(Keyspace::DOC_IDS, &doc.0.to_bytes())?
            .and_then(|v| String::from_utf8(v).ok()))
    }

    /// The members of `doc` and their roles, as this replica sees them now (owner first).
    pub fn members(&self, doc: DocId) -> Result<Vec<Member>, Error> {
        if !self.has_change(&doc.0)? {
            return Err(Error::UnknownDoc {
                name: doc.to_string(),
            });
        }
        Ok(self.acl_doc(doc)?.members())
    }

    /// Whether change `cid` is stored but does not count: its author lacked the right in the
    /// view of the whole DAG (see [`crate::acl`]). Its ops are not in the state.
    pub fn is_void(&self, cid: &Cid) -> Result<bool, Error> {
        let Some(meta) = self.change_meta(cid)? else {
            return Err(Error::UnknownCid { cid: *cid });
        };
        Ok(self
            .store
            .contains(Keyspace::VOID, &layout::head_key(&meta.doc, cid))?)
    }

    /// The membership changes of `doc`, loaded once and kept until one is committed.
    pub(crate) fn acl_doc(&self, doc: DocId) -> Result<Arc<AclDoc>, Error> {
        self.acl_doc_in(&self.store.batch(), doc)
    }

    /// [`Repo::acl_doc`], reading the genesis through `batch`.
    fn acl_doc_in(&self, batch: &Batch<'_>, doc: DocId) -> Result<Arc<AclDoc>, Error> {
        let epoch = self.acl_epoch.load(Ordering::SeqCst);
        if let Some((e, a)) = lock(&self.acl).get(&doc) {
            if *e == epoch {
                return Ok(a.clone());
            }
        }
        let a = Arc::new(AclDoc::load(batch, doc)?);
        lock(&self.acl).insert(doc, (epoch, a.clone()));
        Ok(a)
    }

    /// Forgets every loaded [`AclDoc`]: called when a membership change is staged and again
    /// once it is committed, before the write lock is released.
    pub(crate) fn acl_changed(&self) {
        self.acl_epoch.fetch_add(1, Ordering::SeqCst);
        lock(&self.acl).clear();
    }

    /// Recomputes which changes of `doc` are void and, if that changed, rebuilds its state from
    /// the DAG, in one atomic batch; then clears the document's dirty mark. Runs after every
    /// committed membership change, and on open for a document left dirty by a crash.
    pub(crate) fn reauthorize(&self, doc: DocId) -> Result<(), Error> {
        let _guard = lock(&self.write);
        self.acl_changed();
        let acl = self.acl_doc(doc)?;
        let mut rows = Vec::new();
        for r in self
            .store
            .scan_prefix(Keyspace::BY_HEIGHT, &doc.0.to_bytes())
        {
            let (k, v) = r?;
            let (_, cid) =
                layout::parse_height_key(&k).ok_or_else(|| corrupt("by_height", "damaged key"))?;
            let frontier =
                acl::decode_cids(&v).ok_or_else(|| corrupt("by_height", "damaged frontier"))?;
            let meta = self
                .change_meta(&cid)?
                .ok_or_else(|| corrupt("changes", "a change in by_height is not indexed"))?;
            rows.push(acl::Row {
                cid,
                author: meta.author,
                parents: meta.parents,
                frontier,
                data: !acl.contains(&cid) || self.change(&cid)?.has_data(),
            });
        }
        let void = acl::void_set(&acl, &rows);
        let mut stored = CidSet::default();
        for r in self.store.scan_prefix(Keyspace::VOID, &doc.0.to_bytes()) {
            let (k, _) = r?;
            stored.insert(
                Cid::from_bytes(&k[weft_store::CID_LEN..])
                    .map_err(|_| corrupt("void", "damaged key"))?,
            );
        }
        let mut batch = self.store.batch();
        if void != stored {
            for c in stored.difference(&void) {
                batch.delete(Keyspace::VOID, &layout::head_key(&doc, c));
            }
            for c in void.difference(&stored) {
                batch.put(Keyspace::VOID, &layout::head_key(&doc, c), &[]);
            }
            for ks in [
                Keyspace::REGISTER,
                Keyspace::COUNTER,
                Keyspace::SET,
                Keyspace::TOMBSTONE,
            ] {
                for r in self.store.scan_prefix(ks, &doc.0.to_bytes()) {
                    batch.delete(ks, &r?.0);
                }
            }
            // The state is rebuilt from nothing: assume tombstones, as kills of changes that
            // never arrived leave them again.
            self.tombstones.store(TOMBSTONES_MAYBE, Ordering::SeqCst);
            let mut known = state::Known {
                stored: &|_| false,
                tombstones: true,
            };
            for row in &rows {
                if !void.contains(&row.cid) {
                    let change = self.change(&row.cid)?;
                    state::apply_ops(&mut batch, &doc, &row.cid, &change, &mut known)?;
                }
            }
        }
        batch.delete(Keyspace::META, &acl::dirty_key(&doc));
        batch.commit()?;
        self.maybe_flush()
    }

    /// The role `who` holds in `doc` now, if any.
    pub fn role(&self, doc: DocId, who: &Author) -> Result<Option<Role>, Error> {
        Ok(self
            .members(doc)?
            .into_iter()
            .find(|m| m.author == *who)
            .map(|m| m.role))
    }

    // ----- reads -----

    /// The newest `limit` arrival records of `doc`, newest first: when each change was first
    /// stored here and who delivered it. Changes stored before arrivals were recorded have none.
    pub fn arrivals(&self, doc: DocId, limit: usize) -> Result<Vec<Arrival>, Error> {
        let mut out = Vec::new();
        for entry in self
            .store
            .scan_prefix_rev(Keyspace::ARRIVALS, &doc.0.to_bytes())
        {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry?;
            let (arrived, cid) =
                layout::parse_arrival_key(&k).ok_or_else(|| corrupt("arrivals", "damaged key"))?;
            let Some(meta) = self.change_meta(&cid)? else {
                continue;
            };
            out.push(Arrival {
                cid,
                author: meta.author,
                authored: meta.time,
                arrived,
                source: (!v.is_empty()).then(|| String::from_utf8_lossy(&v).into_owned()),
            });
        }
        Ok(out)
    }

    /// How many changes of `doc` are stored: the sum over authors of the highest sequence
    /// number (one read per author, not per change). Exact when each author's changes form a
    /// chain, as weft writes them; it overcounts when a replica holds an author's seq N
    /// without N-1, which needs a change that could not name all heads as parents (more than
    /// `MAX_PARENTS`) or a client that skips its own changes.
    pub fn change_count(&self, doc: DocId) -> Result<u64, Error> {
        let mut n = 0u64;
        for entry in self
            .store
            .scan_prefix(Keyspace::AUTHOR_SEQ, &doc.0.to_bytes())
        {
            let (_, v) = entry?;
            let seq: [u8; 8] = v
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("author_seq", "value"))?;
            n += u64::from_be_bytes(seq);
        }
        Ok(n)
    }

    /// The live state of a document.
    pub fn state(&self, doc: DocId) -> State<'_> {
        State {
            store: &self.store,
            doc,
        }
    }

    /// The current heads of a document, sorted.
    pub fn heads(&self, doc: DocId) -> Result<Vec<Cid>, Error> {
        Ok(self
            .heads_with_height(doc)?
            .into_iter()
            .map(|(c, _)| c)
            .collect())
    }

    fn heads_with_height(&self, doc: DocId) -> Result<Vec<(Cid, u64)>, Error> {
        self.store
            .scan_prefix(Keyspace::HEADS, &doc.0.to_bytes())
            .map(|r| {
                let (k, v) = r?;
                let cid = Cid::from_bytes(&k[weft_store::CID_LEN..])
                    .map_err(|e| corrupt("heads", &e.to_string()))?;
                let h = u64::from_be_bytes(
                    v.as_slice()
                        .try_into()
                        .map_err(|_| corrupt("heads", "height"))?,
                );
                Ok((cid, h))
            })
            .collect()
    }

    /// The index entry of a change, if it is present, read from the store.
    pub fn change_meta(&self, cid: &Cid) -> Result<Option<ChangeMeta>, Error> {
        match self.store.get(Keyspace::CHANGES, &cid.to_bytes())? {
            None => Ok(None),
            Some(v) => ChangeMeta::decode(&v)
                .map(Some)
                .ok_or_else(|| corrupt("changes", "damaged change index entry")),
        }
    }

    /// The document, height and parents of a change, if it is present: what a walk of the DAG
    /// needs, from memory when it was read or stored lately.
    pub fn node(&self, cid: &Cid) -> Result<Option<Node>, Error> {
        // The table may hold nodes of changes that other repos of this process have.
        if !self.has_change(cid)? {
            return Ok(None);
        }
        if let Some(node) = read(&self.nodes).get(cid) {
            return Ok(Some(node));
        }
        let node = self.node_from_store(cid)?;
        if let Some(node) = &node {
            write(&self.nodes).insert(*cid, node.doc, node.height, &node.parents, None);
        }
        Ok(node)
    }

    /// The node of a change that is present (a walk follows parents, which are), from `nodes`
    /// or else the store, in which case it joins `read_back` to be cached after the walk.
    fn walk_node(
        &self,
        nodes: &NodeTable,
        cid: &Cid,
        read_back: &mut Vec<(Cid, Node)>,
    ) -> Result<Option<Node>, Error> {
        if let Some(node) = nodes.get(cid) {
            return Ok(Some(node));
        }
        let node = self.node_from_store(cid)?;
        if let Some(node) = &node {
            read_back.push((*cid, node.clone()));
        }
        Ok(node)
    }

    fn node_from_store(&self, cid: &Cid) -> Result<Option<Node>, Error> {
        Ok(self.change_meta(cid)?.map(|meta| Node {
            doc: meta.doc,
            height: meta.height,
            parents: SmallVec::from_vec(meta.parents),
        }))
    }

    /// Caches nodes a walk read from the store.
    fn cache_read_back(&self, read_back: Vec<(Cid, Node)>) {
        if read_back.is_empty() {
            return;
        }
        let mut nodes = write(&self.nodes);
        for (cid, node) in read_back {
            nodes.insert(cid, node.doc, node.height, &node.parents, None);
        }
    }

    /// Whether a change is present.
    pub fn has_change(&self, cid: &Cid) -> Result<bool, Error> {
        if let Some(known) = lock(&self.present).stored(cid) {
            return Ok(known);
        }
        let stored = self.store.contains(Keyspace::CHANGES, &cid.to_bytes())?;
        if stored {
            lock(&self.present).insert(*cid);
        }
        Ok(stored)
    }

    /// Whether a change is stored or staged in `batch` (under the write lock).
    pub(crate) fn has_change_in(&self, batch: &Batch<'_>, cid: &Cid) -> Result<bool, Error> {
        if lock(&self.present).set.contains(cid) {
            return Ok(true);
        }
        Ok(batch.contains(Keyspace::CHANGES, &cid.to_bytes())?)
    }

    /// Commits `batch`, which stages `committed`, and records them: present here, and their
    /// nodes. Called under the write lock. The presence set stays locked from before the batch
    /// lands until the changes are in it, so a reader that found one of them in the store (a
    /// head, say) and then asks whether it is present never gets "absent" from a complete set.
    pub(crate) fn commit_and_remember<'e>(
        &self,
        batch: Batch<'_>,
        committed: impl IntoIterator<Item = (&'e EncodedChange, &'e Staged)> + Clone,
    ) -> Result<(), Error> {
        {
            let mut present = lock(&self.present);
            batch.commit()?;
            for (enc, _) in committed.clone() {
                present.insert(enc.cid);
            }
        }
        // Replicas sharing the table mostly find the nodes there already: look before locking
        // it for writing.
        let new: Vec<_> = {
            let nodes = read(&self.nodes);
            committed
                .into_iter()
                .filter(|(enc, _)| !nodes.has_whole(&enc.cid))
                .collect()
        };
        if new.is_empty() {
            return Ok(());
        }
        let mut nodes = write(&self.nodes);
        for (enc, staged) in new {
            nodes.insert(
                enc.cid,
                staged.doc,
                enc.change.height,
                &enc.change.parents,
                Some(&staged.frontier),
            );
        }
        Ok(())
    }

    /// The raw bytes of a block.
    pub fn block(&self, cid: &Cid) -> Result<Vec<u8>, Error> {
        self.store
            .get_block(cid)?
            .ok_or(Error::UnknownCid { cid: *cid })
    }

    /// Decodes a stored change. The signature is not checked here; see [`Change::verify`].
    pub fn change(&self, cid: &Cid) -> Result<Change, Error> {
        let bytes = self.block(cid)?;
        Ok(Change::decode(cid, &bytes)?)
    }

    /// The changes of a document, newest first, in topological order (every change before its
    /// parents). Streams from the height index; nothing is loaded up front.
    pub fn log(&self, doc: DocId) -> impl Iterator<Item = Result<LogEntry, Error>> + '_ {
        self.store
            .scan_prefix_rev(Keyspace::BY_HEIGHT, &doc.0.to_bytes())
            .map(move |r| {
                let (k, _) = r?;
                let (_, cid) =
                    layout::parse_height_key(&k).ok_or_else(|| corrupt("by_height", "key"))?;
                let change = self.change(&cid)?;
                Ok(LogEntry { cid, change })
            })
    }

    /// The ops behind the current value of `key`, newest first.
    pub fn blame(&self, doc: DocId, key: &str) -> Result<Vec<BlameLine>, Error> {
        let entry = self
            .state(doc)
            .entry(key)?
            .ok_or_else(|| Error::KeyNotFound { key: key.into() })?;
        let mut lines = Vec::new();
        let mut add = |op: OpId, value: Value| -> Result<(), Error> {
            let meta = self
                .change_meta(&op.change)?
                .ok_or(Error::UnknownCid { cid: op.change })?;
            lines.push(BlameLine {
                op,
                value,
                author: meta.author,
                time: meta.time,
                height: meta.height,
            });
            Ok(())
        };
        match entry {
            Entry::Register(vals) => vals.into_iter().try_for_each(|v| add(v.op, v.value))?,
            Entry::Counter(incs) => incs
                .into_iter()
                .try_for_each(|(op, d)| add(op, Value::Int(d)))?,
            Entry::Set(members) => members
                .into_iter()
                .try_for_each(|(m, tags)| tags.into_iter().try_for_each(|t| add(t, m.clone())))?,
        }
        lines.sort_by_key(|l| std::cmp::Reverse((l.height, l.op)));
        Ok(lines)
    }

    /// Every change in the ancestry of `heads` (heads included), sorted by `(height, cid)`, so
    /// parents come before children.
    pub fn ancestors(&self, heads: &[Cid]) -> Result<Vec<(u64, Cid)>, Error> {
        let mut seen: BTreeSet<Cid> = BTreeSet::new();
        let mut out = Vec::new();
        let mut stack: Vec<Cid> = heads.to_vec();
        while let Some(cid) = stack.pop() {
            if !seen.insert(cid) {
                continue;
            }
            let node = self.node(&cid)?.ok_or(Error::UnknownCid { cid })?;
            out.push((node.height, cid));
            stack.extend(node.parents.iter().filter(|p| !seen.contains(p)));
        }
        out.sort();
        Ok(out)
    }

    /// Every change of `doc` in `(height, cid)` order, parents before children, streamed from
    /// the height index.
    pub fn changes_by_height(
        &self,
        doc: DocId,
    ) -> impl Iterator<Item = Result<(u64, Cid), Error>> + '_ {
        self.store
            .scan_prefix(Keyspace::BY_HEIGHT, &doc.0.to_bytes())
            .map(|r| {
                let (k, _) = r?;
                layout::parse_height_key(&k).ok_or_else(|| corrupt("by_height", "key"))
            })
    }

    /// The changes of `doc` that are not ancestors of `base` (nor in it), sorted by
    /// `(height, cid)` so parents come before children: what a peer that has `base` lacks.
    ///
    /// CIDs of `base` that are unknown here or belong to another document are ignored. The walk
    /// goes down from the heads by height, painting what `base` reaches, and stops as soon as
    /// only painted changes are left, so its cost follows the size of the answer, not of the
    /// history. With an empty `base` the answer is the whole document.
    pub fn missing(&self, doc: DocId, base: &[Cid]) -> Result<Vec<(u64, Cid)>, Error> {
        Ok(self
            .missing_limited(doc, base, usize::MAX)?
            .unwrap_or_default())
    }

    /// Like [`missing`](Repo::missing), but gives up (`None`) as soon as the answer has more
    /// than `limit` changes, so a caller that has no use for a long answer does not pay for it.
    pub fn missing_at_most(
        &self,
        doc: DocId,
        base: &[Cid],
        limit: usize,
    ) -> Result<Option<Vec<(u64, Cid)>>, Error> {
        self.missing_limited(doc, base, limit)
    }

    fn missing_limited(
        &self,
        doc: DocId,
        base: &[Cid],
        limit: usize,
    ) -> Result<Option<Vec<(u64, Cid)>>, Error> {
        // cid -> (reached from base, its entry), for changes queued in `heap`.
        let mut queued: CidMap<(bool, Node)> = CidMap::default();
        let mut heap: BinaryHeap<(u64, Cid)> = BinaryHeap::new();
        let mut unpainted = 0usize;
        let mut any_base = false;
        for b in base {
            let Some(meta) = self.node(b)? else {
                continue;
            };
            if meta.doc != doc {
                continue;
            }
            any_base = true;
            let height = meta.height;
            if queued.insert(*b, (true, meta)).is_none() {
                heap.push((height, *b));
            }
        }
        if !any_base {
            let all: Vec<(u64, Cid)> = self
                .changes_by_height(doc)
                .take(limit.saturating_add(1))
                .collect::<Result<_, _>>()?;
            return Ok((all.len() <= limit).then_some(all));
        }
        for (head, _) in self.heads_with_height(doc)? {
            if queued.contains_key(&head) {
                continue;
            }
            let meta = self.node(&head)?.ok_or(Error::UnknownCid { cid: head })?;
            heap.push((meta.height, head));
            queued.insert(head, (false, meta));
            unpainted += 1;
        }
        let mut out = Vec::new();
        let mut read_back = Vec::new();
        let nodes = read(&self.nodes);
        while unpainted > 0 {
            let Some((height, cid)) = heap.pop() else {
                break;
            };
            let Some((painted, meta)) = queued.remove(&cid) else {
                continue;
            };
            if !painted {
                unpainted -= 1;
                out.push((height, cid));
                if out.len() > limit {
                    return Ok(None);
                }
            }
            for &p in &meta.parents {
                match queued.get_mut(&p) {
                    Some(entry) => {
                        if painted && !entry.0 {
                            entry.0 = true;
                            unpainted -= 1;
                        }
                    }
                    None => {
                        let parent = self
                            .walk_node(&nodes, &p, &mut read_back)?
                            .ok_or(Error::UnknownCid { cid: p })?;
                        heap.push((parent.height, p));
                        queued.insert(p, (painted, parent));
                        if !painted {
                            unpainted += 1;
                        }
                    }
                }
            }
        }
        drop(nodes);
        self.cache_read_back(read_back);
        out.sort_unstable();
        Ok(Some(out))
    }

    /// The state of `doc` as it was at `heads`, replayed from the DAG into memory.
    pub fn at(&self, doc: DocId, heads: &[Cid]) -> Result<Snapshot, Error> {
        for h in heads {
            let meta = self.change_meta(h)?.ok_or(Error::UnknownCid { cid: *h })?;
            if meta.doc != doc {
                return Err(Error::WrongDoc {
                    cid: *h,
                    expected: doc.0,
                    actual: meta.doc.0,
                });
            }
        }
        let store = Store::memory();
        let replica = Repo::with_store(store, self.identity.clone(), Durability::Manual);
        for (_, cid) in self.ancestors(heads)? {
            let bytes = self.block(&cid)?;
            let change = Change::decode(&cid, &bytes)?;
            replica.apply_one(EncodedChange {
                cid,
                bytes,
                change: Arc::new(change),
            })?;
        }
        Ok(Snapshot {
            store: replica.store,
            doc,
        })
    }

    // ----- writes -----

    /// Starts a transaction on `doc`: its ops become one signed change on [`commit`].
    ///
    /// The transaction holds the repo's write lock until it is committed or dropped, so the same
    /// thread must not call another writing method (`create_doc`, `apply_changes`, a second
    /// `transaction`) meanwhile: it would wait forever.
    ///
    /// [`commit`]: Transaction::commit
    pub fn transaction(&self, doc: DocId) -> Transaction<'_> {
        Transaction {
            repo: self,
            doc,
            ops: Vec::new(),
            _guard: lock(&self.write),
        }
    }

    /// Subscribes to every change applied from now on, local or remote.
    pub fn subscribe(&self) -> Subscription {
        let (tx, rx) = mpsc::channel();
        self.subscribe_with(tx, |e| Some(e.clone()));
        Subscription { rx }
    }

    /// Subscribes a channel of the caller's own message type: every change applied from now on
    /// is passed to `map`, and what it returns (if anything) is sent on `tx`. So a thread that
    /// also waits for other messages (a stop request, a timer) can wait on one channel. The
    /// subscription ends when the receiver of `tx` is dropped (noticed at the next change).
    /// `map` runs on the committing thread, right after the commit: keep it short.
    pub fn subscribe_with<T: Send + 'static>(
        &self,
        tx: mpsc::Sender<T>,
        map: impl Fn(&Event) -> Option<T> + Send + 'static,
    ) {
        lock(&self.subscribers)
            .0
            .push(Box::new(move |e: &Event| match map(e) {
                Some(m) => tx.send(m).is_ok(),
                None => true,
            }));
    }

    fn maybe_flush(&self) -> Result<(), Error> {
        if self.durability == Durability::EveryCommit {
            self.flush()?;
        }
        Ok(())
    }

    pub(crate) fn after_commit(
        &self,
        applied: &[(DocId, EncodedChange)],
        local: bool,
    ) -> Result<(), Error> {
        if applied.is_empty() {
            return Ok(());
        }
        for (doc, enc) in applied {
            if enc.change.is_membership() {
                self.reauthorize(*doc)?;
            }
        }
        self.maybe_flush()?;
        let mut subs = lock(&self.subscribers);
        let subs = &mut subs.0;
        if subs.is_empty() {
            return Ok(());
        }
        for (doc, enc) in applied {
            let event = Event {
                doc: *doc,
                cid: enc.cid,
                author: enc.change.author,
                height: enc.change.height,
                keys: enc.change.keys(),
                local,
            };
            subs.retain_mut(|s| s(&event));
        }
        Ok(())
    }

    /// Stages one verified change: block, index, heads, author sequence, arrival record (`from`
    /// delivered it; empty for a change written here) and state. Its parents must be present (in
    /// the store or earlier in the batch).
    pub(crate) fn stage(
        &self,
        batch: &mut Batch<'_>,
        enc: &EncodedChange,
        from: &str,
    ) -> Result<Staged, Error> {
        let cid = enc.cid;
        let c = &enc.change;
        let doc = c.doc.unwrap_or(DocId(cid));
        let mut max_height = 0;
        let mut missing = Vec::new();
        let mut frontiers = Vec::new();
        for p in &c.parents {
            // A parent is committed (so most likely cached) or staged earlier in this batch.
            let present = lock(&self.present).set.contains(p);
            let cached = if present {
                read(&self.nodes).parent(p)
            } else {
                None
            };
            let parent = match cached {
                Some(found) => Some(found),
                None => match batch.get(Keyspace::CHANGES, &p.to_bytes())? {
                    None => None,
                    Some(v) => ChangeMeta::decode(&v)
                        .map(|m| (m.doc, m.height, None))
                        .map(Some)
                        .ok_or_else(|| corrupt("changes", "damaged entry"))?,
                },
            };
            match parent {
                None => missing.push(*p),
                Some((parent_doc, height, frontier)) => {
                    if parent_doc != doc {
                        return Err(Error::InvalidChange {
                            cid,
                            reason: format!("parent {p} belongs to document {parent_doc}"),
                        });
                    }
                    max_height = max_height.max(height);
                    match frontier {
                        Some(f) => frontiers.extend(f),
                        None => frontiers.extend(acl::frontier_of(batch, &doc, height, p)?),
                    }
                }
            }
        }
        if let Some(first) = missing.first() {
            return Err(Error::Orphans {
                cid,
                missing: *first,
                n_orphans: 1,
                n_applied: 0,
            });
        }
        if !c.is_genesis() && c.height != max_height + 1 {
            return Err(Error::InvalidChange {
                cid,
                reason: format!(
                    "height is {} but its parents make it {}",
                    c.height,
                    max_height + 1
                ),
            });
        }
        // Write access (see `acl`): rejected unless its author held the role in its own past;
        // stored but void unless it also counts in the view of the whole DAG.
        let mut frontier = Vec::new();
        let mut void = false;
        // The highest seq stored for this author: every `seqs` entry of theirs is at most that,
        // so a change beyond it (an honest author's next one) cannot equivocate.
        let author_key = layout::author_seq_key(&doc, &c.author);
        let old_seq = match batch.get(Keyspace::AUTHOR_SEQ, &author_key)? {
            Some(v) => u64::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| corrupt("author_seq", "value"))?,
            ),
            None => 0,
        };
        if !c.is_genesis() {
            let acl = self.acl_doc_in(batch, doc)?;
            frontier = acl.reduce(frontiers);
            let past = acl.closure(&frontier);
            acl.accept(&cid, c, &past)?;
            void = !acl.counts_new(c, &frontier, &past);
            let seq_key = layout::seq_key(&doc, &c.author, c.seq);
            let first = if c.seq <= old_seq {
                batch.get(Keyspace::SEQS, &seq_key)?
            } else {
                None
            };
            match first {
                Some(v) if v != cid.to_bytes() => {
                    return Err(Error::Equivocation {
                        author: c.author,
                        seq: c.seq,
                        first: Cid::from_bytes(&v).map_err(|_| corrupt("seqs", "damaged value"))?,
                        second: cid,
                    })
                }
                _ => batch.put(Keyspace::SEQS, &seq_key, &cid.to_bytes()),
            }
            if c.is_membership() {
                batch.put(
                    Keyspace::ACL,
                    &acl::acl_key(&doc, &cid),
                    &[&c.height.to_be_bytes()[..], &acl::encode_cids(&past)].concat(),
                );
                batch.put(Keyspace::META, &acl::dirty_key(&doc), &[]);
                frontier = vec![cid];
                self.acl_changed();
            }
        }
        batch.put_block(&cid, &enc.bytes)?;
        batch.put(
            Keyspace::CHANGES,
            &cid.to_bytes(),
            &ChangeMeta::of(doc, c).encode(),
        );
        batch.put(
            Keyspace::ARRIVALS,
            &layout::arrival_key(&doc, self.now(), &cid),
            from.as_bytes(),
        );
        batch.put(
            Keyspace::BY_HEIGHT,
            &layout::height_key(&doc, c.height, &cid),
            &acl::encode_cids(&frontier),
        );
        for p in &c.parents {
            batch.delete(Keyspace::HEADS, &layout::head_key(&doc, p));
        }
        batch.put(
            Keyspace::HEADS,
            &layout::head_key(&doc, &cid),
            &c.height.to_be_bytes(),
        );
        if c.seq > old_seq {
            batch.put(Keyspace::AUTHOR_SEQ, &author_key, &c.seq.to_be_bytes());
        }
        if void {
            batch.put(Keyspace::VOID, &layout::head_key(&doc, &cid), &[]);
        } else {
            let mut known = state::Known {
                stored: &|p| lock(&self.present).set.contains(p),
                tombstones: self.may_have_tombstones(batch)?,
            };
            state::apply_ops(batch, &doc, &cid, c, &mut known)?;
            if known.tombstones {
                self.tombstones.store(TOMBSTONES_MAYBE, Ordering::SeqCst);
            }
        }
        Ok(Staged { doc, frontier })
    }

    /// Whether a tombstone may be stored or staged. Honest writers never make one, so this is
    /// almost always `false`, which spares two lookups per change applied. Looked up once, then
    /// kept: a batch that stages one sets it (under the write lock), and it is never unset.
    fn may_have_tombstones(&self, batch: &Batch<'_>) -> Result<bool, Error> {
        match self.tombstones.load(Ordering::SeqCst) {
            TOMBSTONES_NONE => Ok(false),
            TOMBSTONES_MAYBE => Ok(true),
            _ => {
                let any = batch
                    .store()
                    .scan_prefix(Keyspace::TOMBSTONE, &[])
                    .next()
                    .transpose()?
                    .is_some();
                let now = if any {
                    TOMBSTONES_MAYBE
                } else {
                    TOMBSTONES_NONE
                };
                self.tombstones.store(now, Ordering::SeqCst);
                Ok(any)
            }
        }
    }

    /// Verifies and applies changes that came from elsewhere, in any order.
    ///
    /// Each block is checked (hash, size, canonical encoding, signature, shape) before anything
    /// is written; a failure stops the call with an error naming the CID. A change is applied
    /// once all its parents are present, so changes may arrive in any order within one call;
    /// applied changes are committed in atomic groups (see [`Repo::import`], which this wraps).
    /// Changes already present are counted and skipped. Changes whose parents are still missing
    /// at the end are rejected with [`Error::Orphans`]; everything verified before a failure
    /// stays applied.
    pub fn apply_changes<I>(&self, blocks: I) -> Result<ApplyOutcome, Error>
    where
        I: IntoIterator<Item = (Cid, Vec<u8>)>,
    {
        let mut import = self.import();
        let pushed = blocks
            .into_iter()
            .try_for_each(|(cid, bytes)| import.push_claimed(cid, bytes).map(|_| ()));
        if let Err(e) = pushed {
            import.finish_partial()?;
            return Err(e);
        }
        let stats = import.finish()?;
        Ok(ApplyOutcome {
            applied: stats.applied,
            n_duplicates: stats.n_duplicates,
        })
    }

    /// Checks everything: re-hashes every block, verifies every change's signature and shape,
    /// checks the change index, walks every document's heads down to its genesis, and compares
    /// the persisted state with a fresh replay of the DAG.
    pub fn fsck(&self) -> Result<FsckReport, Error> {
        let mut report = FsckReport::default();
        let mut good: Vec<(u64, EncodedChange)> = Vec::new();
        let problem =
            |report: &mut FsckReport, cid: Option<Cid>, kind: &'static str, detail: String| {
                report.problems.push(Problem { cid, kind, detail });
            };
        for r in self.store.blocks() {
            let (cid, bytes) = r?;
            report.n_blocks += 1;
            if let Err(e) = cid.verify(&bytes) {
                problem(&mut report, Some(cid), "corrupt-block", e.to_string());
                continue;
            }
            if cid.codec() != weft_store::Codec::DagCbor {
                continue;
            }
            let change = match Change::decode(&cid, &bytes) {
                Ok(c) => c,
                Err(e) => {
                    problem(&mut report, Some(cid), "undecodable", e.to_string());
                    continue;
                }
            };
            report.n_changes += 1;
            if let Err(e) = change.verify_decoded(&cid, &bytes) {
                problem(&mut report, Some(cid), "bad-signature", e.to_string());
                continue;
            }
            match self.change_meta(&cid)? {
                None => problem(
                    &mut report,
                    Some(cid),
                    "unindexed",
                    "block is not in the change index".into(),
                ),
                Some(meta) => {
                    if meta.height != change.height
                        || meta.parents != change.parents
                        || meta.author != change.author
                    {
                        problem(
                            &mut report,
                            Some(cid),
                            "index-mismatch",
                            "change index disagrees with the block".into(),
                        );
                    }
                }
            }
            good.push((
                change.height,
                EncodedChange {
                    cid,
                    bytes,
                    change: Arc::new(change),
                },
            ));
        }
        for r in self.store.scan_prefix(Keyspace::CHANGES, &[]) {
            let (k, _) = r?;
            let cid = Cid::from_bytes(&k).map_err(|e| corrupt("changes", &e.to_string()))?;
            if !self.store.has_block(&cid)? {
                problem(
                    &mut report,
                    Some(cid),
                    "missing-block",
                    "indexed change has no block".into(),
                );
            }
        }
        let docs = self.doc_ids()?;
        report.n_docs = docs.len();
        for doc in &docs {
            let heads = self.heads(*doc)?;
            let mut seen = BTreeSet::new();
            let mut stack = heads.clone();
            while let Some(cid) = stack.pop() {
                if !seen.insert(cid) {
                    continue;
                }
                match self.change_meta(&cid)? {
                    None => problem(
                        &mut report,
                        Some(cid),
                        "incomplete-ancestry",
                        format!("ancestor of a head of document {doc} is missing"),
                    ),
                    Some(meta) => stack.extend(meta.parents),
                }
            }
            if !seen.contains(&doc.0) {
                problem(
                    &mut report,
                    Some(doc.0),
                    "incomplete-ancestry",
                    "the heads do not reach the genesis".into(),
                );
            }
        }
        // Replay the verified changes into memory and compare the state.
        good.sort_by_key(|(height, enc)| (*height, enc.cid));
        let replica = Repo::with_store(Store::memory(), self.identity.clone(), Durability::Manual);
        for (_, enc) in good {
            let cid = enc.cid;
            match replica.apply_one(enc) {
                Ok(()) => {}
                Err(e @ Error::Unauthorized { .. }) => {
                    problem(&mut report, Some(cid), "unauthorized", e.to_string())
                }
                Err(e @ Error::Equivocation { .. }) => {
                    problem(&mut report, Some(cid), "equivocation", e.to_string())
                }
                Err(e) => problem(&mut report, Some(cid), "replay-failed", e.to_string()),
            }
        }
        for ks in Keyspace::STATE {
            let ours: BTreeMap<Vec<u8>, Vec<u8>> =
                self.store.scan_prefix(ks, &[]).collect::<Result<_, _>>()?;
            let fresh: BTreeMap<Vec<u8>, Vec<u8>> = replica
                .store
                .scan_prefix(ks, &[])
                .collect::<Result<_, _>>()?;
            if ours != fresh {
                let n_diff = ours
                    .iter()
                    .filter(|(k, v)| fresh.get(*k) != Some(v))
                    .count()
                    + fresh.keys().filter(|k| !ours.contains_key(*k)).count();
                problem(
                    &mut report,
                    None,
                    "state-mismatch",
                    format!(
                        "{n_diff} {} entries differ from a replay of the DAG",
                        ks.name
                    ),
                );
            }
        }
        Ok(report)
    }
}

fn corrupt(keyspace: &'static str, reason: &str) -> Error {
    Error::Store(weft_store::Error::CorruptEntry {
        keyspace,
        reason: reason.to_string(),
    })
}

fn validate_doc_name(name: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidDocName {
            name: name.into(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 256 {
        return bad("it is longer than 256 bytes");
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("it contains whitespace or control characters");
    }
    if name.starts_with('b') && name.parse::<Cid>().is_ok() {
        return bad("it looks like a CID");
    }
    Ok(())
}

/// Ops being gathered into one change. See [`Repo::transaction`].
#[derive(Debug)]
pub struct Transaction<'r> {
    repo: &'r Repo,
    doc: DocId,
    ops: Vec<Op>,
    _guard: MutexGuard<'r, ()>,
}

impl Transaction<'_> {
    /// The document this transaction writes.
    pub fn doc(&self) -> DocId {
        self.doc
    }

    /// The ops gathered so far.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    fn check(&self, key: &str, want: Kind) -> Result<Option<Entry>, Error> {
        validate_key(key).map_err(|reason| Error::InvalidKey {
            key: key.into(),
            reason,
        })?;
        let entry = self.repo.state(self.doc).entry(key)?;
        let mut found: Option<Kind> = entry.as_ref().map(Entry::kind);
        for op in &self.ops {
            if op.key() == Some(key) {
                found = found.or(match op {
                    Op::Set { .. } => Some(Kind::Register),
                    Op::Incr { .. } => Some(Kind::Counter),
                    Op::Add { .. } => Some(Kind::Set),
                    _ => None,
                });
            }
        }
        match found {
            Some(k) if k != want => Err(Error::WrongType {
                key: key.into(),
                expected: want,
                found: k,
            }),
            _ => Ok(entry),
        }
    }

    fn register_pred(&mut self, key: &str, entry: &Option<Entry>) -> Vec<OpId> {
        // A second register write to the same key in one transaction replaces the first.
        if let Some(i) = self.ops.iter().position(
            |op| matches!(op, Op::Set { key: k, .. } | Op::Del { key: k, .. } if k == key),
        ) {
            let (Op::Set { pred, .. } | Op::Del { pred, .. }) = self.ops.remove(i) else {
                return Vec::new();
            };
            return pred;
        }
        match entry {
            Some(Entry::Register(vals)) => vals.iter().map(|v| v.op).collect(),
            _ => Vec::new(),
        }
    }

    /// Writes a register value, overwriting every value this replica sees.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> Result<&mut Self, Error> {
        let value = value.into();
        value
            .validate()
            .map_err(|e| Error::InvalidValue(e.to_string()))?;
        let entry = self.check(key, Kind::Register)?;
        let mut pred = self.register_pred(key, &entry);
        pred.sort();
        // A change may name at most MAX_PRED op ids per op: kill the rest with extra deletes.
        let rest = pred.split_off(pred.len().min(MAX_PRED));
        self.ops.push(Op::Set {
            key: key.into(),
            value,
            pred,
        });
        for chunk in rest.chunks(MAX_PRED) {
            self.ops.push(Op::Del {
                key: key.into(),
                pred: chunk.to_vec(),
            });
        }
        Ok(self)
    }

    /// Deletes every register value this replica sees. Fails with [`Error::KeyNotFound`] if the
    /// key holds nothing.
    pub fn del(&mut self, key: &str) -> Result<&mut Self, Error> {
        let entry = self.check(key, Kind::Register)?;
        let pending = self
            .ops
            .iter()
            .any(|op| matches!(op, Op::Set { key: k, .. } if k == key));
        if entry.is_none() && !pending {
            return Err(Error::KeyNotFound { key: key.into() });
        }
        let mut pred = self.register_pred(key, &entry);
        pred.sort();
        for chunk in pred.chunks(MAX_PRED) {
            self.ops.push(Op::Del {
                key: key.into(),
                pred: chunk.to_vec(),
            });
        }
        Ok(self)
    }

    /// Adds `delta` to a counter.
    pub fn incr(&mut self, key: &str, delta: i64) -> Result<&mut Self, Error> {
        let entry = self.check(key, Kind::Counter)?;
        let mut sum: i128 = match &entry {
            Some(Entry::Counter(incs)) => incs.iter().map(|(_, d)| i128::from(*d)).sum(),
            _ => 0,
        };
        for op in &self.ops {
            if let Op::Incr { key: k, delta: d } = op {
                if k == key {
                    sum += i128::from(*d);
                }
            }
        }
        if i64::try_from(sum + i128::from(delta)).is_err() {
            return Err(Error::CounterOverflow { key: key.into() });
        }
        self.ops.push(Op::Incr {
            key: key.into(),
            delta,
        });
        Ok(self)
    }

    /// Adds a member to a set.
    pub fn add(&mut self, key: &str, member: impl Into<Value>) -> Result<&mut Self, Error> {
        let member = member.into();
        member
            .validate()
            .map_err(|e| Error::InvalidValue(e.to_string()))?;
        self.check(key, Kind::Set)?;
        self.ops.push(Op::Add {
            key: key.into(),
            member,
        });
        Ok(self)
    }

    /// Removes a member from a set: every add of it this replica has seen. A concurrent add on
    /// another replica survives (add wins). Removing an absent member is a no-op.
    pub fn remove(&mut self, key: &str, member: impl Into<Value>) -> Result<&mut Self, Error> {
        let member = member.into();
        member
            .validate()
            .map_err(|e| Error::InvalidValue(e.to_string()))?;
        let entry = self.check(key, Kind::Set)?;
        let before = self.ops.len();
        self.ops
            .retain(|op| !matches!(op, Op::Add { key: k, member: m } if k == key && *m == member));
        let dropped_pending = self.ops.len() != before;
        let mut tags: Vec<OpId> = match &entry {
            Some(Entry::Set(members)) => members
                .iter()
                .filter(|(m, _)| *m == member)
                .flat_map(|(_, t)| t.iter().copied())
                .collect(),
            _ => Vec::new(),
        };
        // A set made earlier in this transaction exists too (as in `del`).
        let pending_set = self
            .ops
            .iter()
            .any(|op| matches!(op, Op::Add { key: k, .. } if k == key));
        if entry.is_none() && !dropped_pending && !pending_set {
            return Err(Error::KeyNotFound { key: key.into() });
        }
        tags.sort();
        for chunk in tags.chunks(MAX_PRED) {
            self.ops.push(Op::Remove {
                key: key.into(),
                member: member.clone(),
                tags: chunk.to_vec(),
            });
        }
        Ok(self)
    }

    /// Gives `who` a role (reader, writer or admin) in the document. Needs the admin role, and
    /// the owner role to grant admin (see [`crate::acl`]). Granting a key a lower role than it
    /// holds does not demote it: revoke it first (in the same transaction).
    pub fn grant(&mut self, who: Author, role: Role) -> Result<&mut Self, Error> {
        if role == Role::Owner {
            return Err(Error::InvalidValue(
                "the owner role cannot be granted: a document has one owner, its creator".into(),
            ));
        }
        if !who.is_usable() {
            // Every replica would refuse the change (a shape rule, see `change`).
            return Err(Error::InvalidValue(format!(
                "no role can be granted to {who}: it is not a usable ed25519 public key (a point \
                 of small order, or not canonically encoded), so anyone could sign as it"
            )));
        }
        self.ops.push(Op::Grant { who, role });
        Ok(self)
    }

    /// Takes every role away from `who`. Their changes that this replica has not seen when
    /// the revoke is made stop counting everywhere once it arrives (see [`crate::acl`]).
    pub fn revoke(&mut self, who: Author) -> Result<&mut Self, Error> {
        self.ops.push(Op::Revoke { who });
        Ok(self)
    }

    /// Signs the gathered ops as one change on the document's current heads, and applies it in
    /// one atomic batch. Returns `None` if there was nothing to write.
    pub fn commit(self) -> Result<Option<Committed>, Error> {
        if self.ops.is_empty() {
            return Ok(None);
        }
        if self.ops.len() > MAX_OPS {
            return Err(Error::ChangeTooLarge {
                reason: format!(
                    "{} ops, at most {MAX_OPS} fit in one change",
                    self.ops.len()
                ),
            });
        }
        let repo = self.repo;
        let doc = self.doc;
        let mut heads = repo.heads_with_height(doc)?;
        if heads.is_empty() {
            return Err(Error::UnknownDoc {
                name: doc.to_string(),
            });
        }
        heads.sort();
        // At most MAX_PARENTS heads can be merged at once; the next commit merges the rest.
        heads.truncate(MAX_PARENTS);
        let height = heads.iter().map(|(_, h)| *h).max().unwrap_or(0) + 1;
        let seq = match repo.store.get(
            Keyspace::AUTHOR_SEQ,
            &layout::author_seq_key(&doc, &repo.author()),
        )? {
            Some(v) => u64::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| corrupt("author_seq", "value"))?,
            ),
            None => 0,
        } + 1;
        let change = Change {
            doc: Some(doc),
            parents: heads.into_iter().map(|(c, _)| c).collect(),
            author: repo.author(),
            seq,
            height,
            time: repo.now(),
            ops: self.ops,
            sig: [0; 64],
        }
        .sign(&repo.identity);
        let mut batch = repo.store.batch();
        let staged = repo.stage(&mut batch, &change, "")?;
        repo.commit_and_remember(batch, [(&change, &staged)])?;
        if change.change.is_membership() {
            repo.acl_changed();
        }
        drop(self._guard);
        let committed = Committed {
            cid: change.cid,
            change: Change::clone(&change.change),
        };
        repo.after_commit(&[(doc, change)], true)?;
        Ok(Some(committed))
    }
}
