//! [`Repo`]: the API that applications embed, a thin facade over the parts of a replica.
//!
//! | part | module |
//! |---|---|
//! | the store: blocks in a log, keyspaces in a database | `weft_store` |
//! | the write path (staging, committing, replay after a crash) | [`crate::write`] |
//! | the DAG index (nodes, presence, heads, ancestry) | [`crate::graph`] |
//! | documents and their names | `docs` |
//! | membership and its cache | [`crate::acl`], `acl_cache` |
//! | history (log, blame, time travel, arrivals) | `history` |
//! | `fsck` | `fsck` |
//! | subscribers | `events` |
//! | transactions, imports | `transaction`, `import` |
//! | the keyspaces of the layers above (`Repo::layer`) | `layer` |

use std::{
    path::{Path, PathBuf},
    sync::{mpsc, Arc},
};

use weft_store::{Cid, Store};

use crate::{
    acl::{self, Member},
    change::{Change, EncodedChange, StoredChange},
    diff::{Before, Diffs},
    docs,
    error::Error,
    events::{Batch, Batches, ChangeInfo, Event, Events, Filter, OnChange, Subscription},
    fsck::{self, FsckReport},
    graph::{ChangeMeta, Node},
    history::{self, Arrival, BlameLine, Snapshot},
    id::DocId,
    identity::{Author, Identity},
    keys, migrate, open,
    role::Role,
    state::State,
    verified::VerifiedCache,
    write::{Clock, Writer},
};

/// The directory that marks a repo root; the store lives in it.
pub const WEFT_DIR: &str = ".weft";
/// The database directory inside [`WEFT_DIR`].
pub const DB_DIR: &str = weft_store::layout::DB_DIR;
/// The author key file inside [`WEFT_DIR`].
pub const KEY_FILE: &str = "key";
/// The document that `init` creates and commands use by default.
pub const DEFAULT_DOC: &str = "main";

/// When writes become durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit and every import group is durable (its log records synced) before it
    /// returns, and before any reader can see it (the safe default).
    #[default]
    EveryCommit,
    /// Only when the caller calls [`Repo::flush`].
    Manual,
}

/// A consistent view of one document (see [`Repo::view`]).
#[derive(Debug)]
pub struct View<'r> {
    state: State<'r>,
    heads: std::cell::OnceCell<Vec<Cid>>,
    repo: &'r Repo,
    _guard: std::sync::MutexGuard<'r, ()>,
}

impl<'r> View<'r> {
    /// The document's state, as of when the view was taken.
    pub fn state(&self) -> &State<'r> {
        &self.state
    }

    /// The heads of that state.
    pub fn heads(&self) -> Result<&[Cid], Error> {
        if self.heads.get().is_none() {
            let heads = self.repo.heads(self.state.doc())?;
            let _ = self.heads.set(heads);
        }
        Ok(self.heads.get().map_or(&[], Vec::as_slice))
    }
}

/// Knobs for [`Repo::init`] and [`Repo::open`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Sign with this identity instead of the repo's key file. `init` then writes no key file.
    pub identity: Option<Identity>,
    /// When writes are flushed.
    pub durability: Durability,
    /// Store options (block size limit, cache, checkpoints). Its `sync_commits` follows
    /// `durability`.
    pub store: weft_store::Options,
}

/// A replica: blocks, indexes, heads and materialized state of many documents, in one store.
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
    pub(crate) writer: Writer,
    pub(crate) identity: Identity,
    root: Option<PathBuf>,
    pub(crate) events: Events,
    /// How many log records opening the repo replayed (after a crash).
    replayed: u64,
}

impl Repo {
    /// Creates a repo in `root/.weft`, with a new author key (mode 0600) unless `options` gives
    /// one, and a document named `main`.
    pub fn init(root: &Path, options: Options) -> Result<Repo, open::Error> {
        Repo::init_with(root, options, true)
    }

    /// Like [`Repo::init`], but without the `main` document: for a repo that will receive its
    /// documents from elsewhere (a clone).
    pub fn init_empty(root: &Path, options: Options) -> Result<Repo, open::Error> {
        Repo::init_with(root, options, false)
    }

    fn init_with(root: &Path, options: Options, main: bool) -> Result<Repo, open::Error> {
        let dir = root.join(WEFT_DIR);
        if dir.exists() {
            return Err(open::Error::AlreadyExists {
                path: root.to_path_buf(),
            });
        }
        std::fs::create_dir_all(&dir).map_err(|source| open::Error::Io {
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
            let repo = Repo::from_parts(store, identity, Some(root.to_path_buf()), None)?;
            if let Some(e) = repo.writer.store.read_only_error() {
                return Err(Error::Store(e).into());
            }
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

    /// Opens the repo whose root (the directory holding `.weft`) is `root`. A store of an older
    /// format is migrated; records the last checkpoint does not cover (after a crash) are
    /// replayed. On a file system that cannot be written the repo opens read-only: reads work,
    /// writes fail with [`weft_store::Error::ReadOnly`].
    pub fn open(root: &Path, options: Options) -> Result<Repo, open::Error> {
        let dir = root.join(WEFT_DIR);
        if !dir.join(DB_DIR).is_dir() {
            return Err(open::Error::NotARepo {
                path: root.to_path_buf(),
            });
        }
        let identity = match options.identity.clone() {
            Some(id) => id,
            None => {
                let key = dir.join(KEY_FILE);
                if !key.exists() {
                    return Err(open::Error::NoIdentity {
                        path: root.to_path_buf(),
                        key,
                    });
                }
                Identity::load(&key)?
            }
        };
        let store = Repo::open_store(root, &options)?;
        Ok(Repo::from_parts(
            store,
            identity,
            Some(root.to_path_buf()),
            None,
        )?)
    }

    fn open_store(root: &Path, options: &Options) -> Result<Store, open::Error> {
        let mut store_options = options.store.clone();
        store_options.sync_commits = options.durability == Durability::EveryCommit;
        Store::open(&root.join(WEFT_DIR), store_options).map_err(|e| match e {
            weft_store::OpenError::Locked { .. } => open::Error::Locked {
                path: root.to_path_buf(),
            },
            other => open::Error::Store(other),
        })
    }

    /// An in-memory repo with a `main` document, for tests and ephemeral use.
    pub fn memory(identity: Identity) -> Repo {
        let repo = Repo::from_parts(Store::memory(), identity, None, None)
            .and_then(|repo| repo.create_doc(DEFAULT_DOC).map(|_| repo));
        match repo {
            Ok(repo) => repo,
            Err(e) => unreachable!("a fresh memory repo accepts its first document: {e}"),
        }
    }

    /// A repo over an existing store (for example one on a [`weft_store::MemoryBackend`] and
    /// [`weft_store::MemoryLog`] whose crashes a test simulates). Creates no document; migrates
    /// an older store and replays the records its last checkpoint does not cover. The store's
    /// own options decide durability ([`weft_store::Options::sync_commits`]).
    ///
    /// The repo must be the only writer of the store while it lives: it keeps in memory which
    /// changes the store holds and whether it holds a tombstone, and a second `Repo` writing to
    /// the same store would leave those stale.
    pub fn with_store(store: Store, identity: Identity) -> Result<Repo, Error> {
        Repo::from_parts(store, identity, None, None)
    }

    fn from_parts(
        store: Store,
        identity: Identity,
        root: Option<PathBuf>,
        verified: Option<Arc<VerifiedCache>>,
    ) -> Result<Repo, Error> {
        let mut writer = Writer::new(store, verified);
        writer.snapshot_on_drop = true;
        let mut repo = Repo {
            writer,
            identity,
            root,
            events: Events::default(),
            replayed: 0,
        };
        if !repo.writer.store.is_read_only() {
            migrate::run(&repo.writer)?;
            repo.replayed = repo.writer.replay()?;
            // A crash between a membership change and the recomputation it triggers leaves the
            // document marked; finish the work now.
            for doc in acl::dirty_docs(&repo.writer.store)? {
                repo.writer.reauthorize(doc)?;
            }
        } else if repo.writer.store.legacy().is_some() {
            // A store of format 1 is migrated before it is used, which needs to write.
            if let Some(e) = repo.writer.store.read_only_error() {
                return Err(Error::Store(e));
            }
        }
        Ok(repo)
    }

    /// Takes the time for new changes and for arrival records from `clock` instead of the wall
    /// clock.
    pub fn with_clock(mut self, clock: Clock) -> Repo {
        self.writer.set_clock(clock);
        self
    }

    /// Shares one cache of verified changes with other repos of this process: a change that
    /// one of them decoded and verified is neither decoded nor verified again (its hash still
    /// is checked). Call it on a repo that holds no change yet (a fresh replica).
    pub fn with_verified(self, cache: Arc<VerifiedCache>) -> Repo {
        let Repo {
            writer,
            identity,
            root,
            events,
            replayed,
        } = self;
        let clock = writer.clock();
        let mut writer = Writer::new(writer.store.clone(), Some(cache));
        writer.snapshot_on_drop = true;
        if let Some(clock) = clock {
            writer.set_clock(clock);
        }
        Repo {
            writer,
            identity,
            root,
            events,
            replayed,
        }
    }

    /// The repo's time now (ms since the Unix epoch).
    pub fn now(&self) -> u64 {
        self.writer.now()
    }

    /// The repo root, for an on-disk repo.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The underlying store, for diagnostics. A layer above keeps its own data through
    /// [`Repo::layer`].
    pub fn store(&self) -> &Store {
        &self.writer.store
    }

    /// The largest block the store takes, in bytes: a larger change is refused.
    pub fn max_block_size(&self) -> usize {
        self.writer.store.options().max_block_size
    }

    /// The key this repo signs with.
    pub fn author(&self) -> Author {
        self.identity.author()
    }

    /// Whether the repo was opened read-only (its files cannot be written).
    pub fn is_read_only(&self) -> bool {
        self.writer.store.is_read_only()
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), Error> {
        let result = self.writer.store.flush().map_err(Error::from);
        self.after_failure(result)
    }

    /// Bytes the repo's store uses on disk.
    pub fn size_on_disk(&self) -> Result<u64, Error> {
        Ok(self.writer.store.size_on_disk()?)
    }

    /// If an earlier write failed in a way that may have left writes visible that are not
    /// durable, returns the repo to its last durable state first (see
    /// [`Repo::recover`]).
    pub(crate) fn ensure_writable(&self) -> Result<(), Error> {
        if self.writer.store.is_failed() {
            self.recover()?;
        }
        Ok(())
    }

    /// Passes `result` on; if it is a failure that left the store failed, recovers first (a
    /// recovery that fails too is tried again at the next write).
    pub(crate) fn after_failure<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_err() && self.writer.store.is_failed() {
            if let Err(e) = self.recover() {
                tracing::debug!("recovery after a failed write failed too: {e}");
            }
        }
        result
    }

    /// Returns the repo to its last durable state, as a reopen would, without closing it: what a
    /// failed write (a full disk) may have left visible is dropped, and the log records after the
    /// last durable checkpoint are replayed. A long-running process (`weft serve`) calls this
    /// by itself when a write fails, and so recovers once space is freed.
    pub fn recover(&self) -> Result<(), Error> {
        self.writer.store.recover()?;
        self.writer.forget();
        self.writer.replay()?;
        Ok(())
    }

    // ----- documents -----

    /// Creates a document with a new genesis change and gives it a local name.
    pub fn create_doc(&self, name: &str) -> Result<DocId, Error> {
        self.ensure_writable()?;
        let (doc, genesis) =
            self.after_failure(docs::create(&self.writer, &self.identity, name))?;
        self.applied(&[(doc, genesis)], true)?;
        Ok(doc)
    }

    /// Gives a local name to a document that is already in the repo (for example one that
    /// arrived by sync).
    pub fn name_doc(&self, name: &str, doc: DocId) -> Result<(), Error> {
        self.ensure_writable()?;
        self.after_failure(docs::name(&self.writer, name, doc))
    }

    /// Removes a document from this replica (`weft doc rm`): it loses its local name and is
    /// left out of [`Repo::doc_ids`], lookups by id and every sync from then on. Its changes
    /// stay in the append-only log; [`Repo::name_doc`] brings it back as it was.
    pub fn remove_doc(&self, doc: DocId) -> Result<(), Error> {
        self.ensure_writable()?;
        self.after_failure(docs::remove(&self.writer, doc))
    }

    /// Whether `doc` was removed here ([`Repo::remove_doc`]).
    pub fn is_removed(&self, doc: DocId) -> Result<bool, Error> {
        docs::is_removed(&self.writer.store, doc)
    }

    /// The documents removed here ([`Repo::remove_doc`]).
    pub fn removed_docs(&self) -> Result<Vec<DocId>, Error> {
        docs::removed(&self.writer.store)
    }

    /// The named documents, sorted by name.
    pub fn docs(&self) -> Result<Vec<(String, DocId)>, Error> {
        docs::list(&self.writer.store)
    }

    /// The document with a local name, or whose id (genesis CID) is `name_or_id`.
    pub fn doc(&self, name_or_id: &str) -> Result<DocId, Error> {
        docs::find(&self.writer, name_or_id)
    }

    /// Every document present, named or not, but those removed here.
    pub fn doc_ids(&self) -> Result<Vec<DocId>, Error> {
        docs::ids(&self.writer.store)
    }

    /// The local name of a document, if it has one.
    pub fn doc_name(&self, doc: DocId) -> Result<Option<String>, Error> {
        docs::name_of(&self.writer.store, doc)
    }

    /// The members of `doc` and their roles, as this replica sees them now (owner first).
    pub fn members(&self, doc: DocId) -> Result<Vec<Member>, Error> {
        if !self.has_change(&doc.0)? {
            return Err(Error::UnknownDoc {
                name: doc.to_string(),
            });
        }
        Ok(self.writer.acl_doc(None, doc)?.members())
    }

    /// Whether `who` was revoked in `doc`: a revoke names it and it holds no role now (a later
    /// grant gives the role back). Its changes that the revoke did not see no longer count.
    /// False for a document this repo does not have.
    pub fn is_revoked(&self, doc: DocId, who: &Author) -> Result<bool, Error> {
        if !self.has_change(&doc.0)? {
            return Ok(false);
        }
        let acl = self.writer.acl_doc(None, doc)?;
        Ok(acl.revoke_names(who) && !acl.members().iter().any(|m| m.author == *who))
    }

    /// The role `who` holds in `doc` now, if any.
    pub fn role(&self, doc: DocId, who: &Author) -> Result<Option<Role>, Error> {
        Ok(self
            .members(doc)?
            .into_iter()
            .find(|m| m.author == *who)
            .map(|m| m.role))
    }

    /// Whether change `cid` is stored but does not count: its author lacked the right in the
    /// view of the whole DAG (see [`crate::acl`]). Its ops are not in the state.
    pub fn is_void(&self, cid: &Cid) -> Result<bool, Error> {
        let Some(meta) = self.change_meta(cid)? else {
            return Err(Error::UnknownCid { cid: *cid });
        };
        Ok(self
            .writer
            .store
            .contains(keys::VOID, &keys::cid_key(&meta.doc, cid))?)
    }

    /// The void changes of `doc` (see [`Repo::is_void`]), in one scan: for a reader that
    /// marks them among the whole history.
    pub fn void_changes(&self, doc: DocId) -> Result<Vec<Cid>, Error> {
        let mut void = Vec::new();
        for r in self.writer.store.scan_prefix(keys::VOID, &doc.0.to_bytes()) {
            let (k, _) = r?;
            let (_, cid) = keys::parse_cid_key(&k)
                .ok_or_else(|| crate::graph::corrupt("void", "damaged key"))?;
            void.push(cid);
        }
        Ok(void)
    }

    // ----- reads -----

    /// The newest `limit` arrival records of `doc`, newest first: when each change was first
    /// stored here and who delivered it. Changes stored before arrivals were recorded have none.
    pub fn arrivals(&self, doc: DocId, limit: usize) -> Result<Vec<Arrival>, Error> {
        history::arrivals(&self.writer.store, doc, limit)
    }

    /// How many changes of `doc` are stored: the sum over authors of the highest sequence
    /// number (one read per author, not per change). Exact when each author's changes form a
    /// chain, as weft writes them; it overcounts when a replica holds an author's seq N
    /// without N-1, which needs a change that could not name all heads as parents (more than
    /// `MAX_PARENTS`) or a client that skips its own changes.
    pub fn change_count(&self, doc: DocId) -> Result<u64, Error> {
        let mut n = 0u64;
        for entry in self
            .writer
            .store
            .scan_prefix(keys::AUTHOR_SEQ, &doc.0.to_bytes())
        {
            let (_, v) = entry?;
            n += keys::decode_author_seq(&v)
                .ok_or_else(|| crate::graph::corrupt("author_seq", "value"))?;
        }
        Ok(n)
    }

    /// The live state of a document.
    pub fn state(&self, doc: DocId) -> State<'_> {
        State {
            store: &self.writer.store,
            seq: &self.writer.seq,
            doc,
        }
    }

    /// A consistent view of a document: every read through it sees one state, whatever a sync
    /// or another thread commits meanwhile, as a render that reads many keys needs. It holds
    /// the repo's write lock until dropped: commits (local or from a sync) wait for it, so keep
    /// it for one render, and do not write from the thread that holds it (it would wait
    /// forever).
    pub fn view(&self, doc: DocId) -> View<'_> {
        View {
            state: self.state(doc),
            heads: std::cell::OnceCell::new(),
            repo: self,
            _guard: weft_store::sync_util::lock(&self.writer.lock),
        }
    }

    /// The current heads of a document, sorted.
    pub fn heads(&self, doc: DocId) -> Result<Vec<Cid>, Error> {
        Ok(self
            .writer
            .graph
            .heads_with_height(doc)?
            .into_iter()
            .map(|(c, _)| c)
            .collect())
    }

    /// What a stored change says about itself (everything but its ops and signature).
    pub fn change_meta(&self, cid: &Cid) -> Result<Option<ChangeMeta>, Error> {
        if !self.has_change(cid)? {
            return Ok(None);
        }
        self.writer.graph.change_meta(cid)
    }

    /// The document, height and parents of a change, if it is present: what a walk of the DAG
    /// needs, from memory when it was read or stored lately.
    pub fn node(&self, cid: &Cid) -> Result<Option<Node>, Error> {
        self.writer.graph.node(cid)
    }

    /// Whether a change is present.
    pub fn has_change(&self, cid: &Cid) -> Result<bool, Error> {
        self.writer.graph.has_change(cid)
    }

    /// The raw bytes of a block.
    pub fn block(&self, cid: &Cid) -> Result<Vec<u8>, Error> {
        self.writer
            .store
            .get_block(cid)?
            .ok_or(Error::UnknownCid { cid: *cid })
    }

    /// The size of a stored block and whether it is sound (reads back whole and hashes to its
    /// CID), without failing on a damaged one.
    pub fn block_stat(&self, cid: &Cid) -> Result<(usize, bool), Error> {
        self.writer
            .store
            .block_stat(cid)?
            .ok_or(Error::UnknownCid { cid: *cid })
    }

    /// Decodes a stored change. The signature is not checked here; see [`Change::verify`].
    pub fn change(&self, cid: &Cid) -> Result<Change, Error> {
        self.writer.graph.change(cid)
    }

    /// The changes of a document, newest first, in topological order (every change before its
    /// parents): by height, then by the order they were stored here. Streams from the height
    /// index; nothing is loaded up front.
    pub fn log(&self, doc: DocId) -> impl Iterator<Item = Result<StoredChange, Error>> + '_ {
        history::log(&self.writer.graph, &self.writer.store, doc)
    }

    /// The ops behind the current value of `key`, newest first.
    pub fn blame(&self, doc: DocId, key: &str) -> Result<Vec<BlameLine>, Error> {
        history::blame(&self.writer.graph, self.state(doc), key)
    }

    /// The ops behind the value `key` had at `heads` (time travel, as [`Repo::at`]), newest
    /// first.
    pub fn blame_at(&self, doc: DocId, heads: &[Cid], key: &str) -> Result<Vec<BlameLine>, Error> {
        let snapshot = self.at(doc, heads)?;
        history::blame(&self.writer.graph, snapshot.state(), key)
    }

    /// Every change in the ancestry of `heads` (heads included), sorted by `(height, cid)`, so
    /// parents come before children.
    pub fn ancestors(&self, heads: &[Cid]) -> Result<Vec<(u64, Cid)>, Error> {
        self.writer.graph.ancestors(heads)
    }

    /// Every change of `doc`, parents before children (by height), streamed from the height
    /// index.
    pub fn changes_by_height(
        &self,
        doc: DocId,
    ) -> impl Iterator<Item = Result<(u64, Cid), Error>> + '_ {
        self.writer.graph.changes_by_height(doc)
    }

    /// The changes of `doc` at `height`, sorted.
    pub fn changes_at_height(&self, doc: DocId, height: u64) -> Result<Vec<Cid>, Error> {
        self.writer.graph.changes_at_height(doc, height)
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
            .writer
            .graph
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
        self.writer.graph.missing_limited(doc, base, limit)
    }

    /// The state of `doc` as it was at `heads`, replayed from the DAG into memory.
    pub fn at(&self, doc: DocId, heads: &[Cid]) -> Result<Snapshot, Error> {
        history::at(&self.writer, doc, heads)
    }

    // ----- events -----

    /// Subscribes to every change applied from now on, local or remote, one [`Event`] per
    /// change. Dropping the subscription unsubscribes.
    pub fn subscribe(&self) -> Subscription {
        let (tx, rx) = mpsc::channel();
        let guard = self.events.subscribe_with(tx, |e| Some(e.clone()));
        Subscription { rx, _guard: guard }
    }

    /// Subscribes a channel of the caller's own message type: every change applied from now on
    /// is passed to `map`, and what it returns (if anything) is sent on `tx`. So a thread that
    /// also waits for other messages (a stop request, a timer) can wait on one channel. The
    /// subscription ends when the receiver of `tx` is dropped (noticed at the next change).
    /// `map` runs right after the commit, with no lock of the repo held: keep it short.
    pub fn subscribe_with<T: Send + 'static>(
        &self,
        tx: mpsc::Sender<T>,
        map: impl Fn(&Event) -> Option<T> + Send + 'static,
    ) {
        self.events.subscribe_with(tx, map).detach();
    }

    /// Subscribes to the [`Batch`]es that pass `filter`, applied from now on: one per
    /// document per applied batch (a commit, an import group of up to
    /// [`GROUP_CHANGES`](crate::GROUP_CHANGES) changes), with the diff of every key whose
    /// visible state changed. Dropping the returned stream unsubscribes (from the next batch
    /// on).
    pub fn subscribe_filtered(&self, filter: Filter) -> Batches {
        let (tx, rx) = mpsc::channel();
        let guard = self
            .events
            .add(filter, true, move |b: &Batch| tx.send(b.clone()).is_ok());
        Batches { rx, _guard: guard }
    }

    /// Calls `f` with every [`Batch`] that passes `filter`, applied from now on, until the
    /// returned guard is dropped. `f` runs on the thread that applied the batch (or on one
    /// delivering earlier batches), after the write path released the repo's locks: it may
    /// read the repo, and a write it makes is delivered once it returns. Batches are delivered
    /// one at a time, in the order they were applied.
    pub fn on_change(
        &self,
        filter: Filter,
        mut f: impl FnMut(&Batch) + Send + 'static,
    ) -> OnChange {
        OnChange {
            _guard: self.events.add(filter, true, move |b: &Batch| {
                f(b);
                true
            }),
        }
    }

    /// The state of the keys `changes` name, for their diffs; `None` (and no reads) if no
    /// subscriber reads diffs. Call it with the write lock held, before staging, and
    /// [`Before::after`] once committed, still holding it.
    pub(crate) fn diffs_before<'c>(
        &self,
        changes: impl IntoIterator<Item = &'c Change>,
    ) -> Option<Before> {
        if !self.events.wants_diffs() {
            return None;
        }
        Some(Before::read(&self.writer.store, &self.writer.seq, changes))
    }

    /// What a commit of `applied` triggers (see [`Writer::after_commit`]), then tells the
    /// subscribers, without diffs.
    pub(crate) fn applied(
        &self,
        applied: &[(DocId, EncodedChange)],
        local: bool,
    ) -> Result<(), Error> {
        self.applied_with(applied, local, None)
    }

    /// What a commit of `applied` triggers (see [`Writer::after_commit`]), then tells the
    /// subscribers: one [`Batch`] per document, with `diffs`. Call it with no lock held.
    pub(crate) fn applied_with(
        &self,
        applied: &[(DocId, EncodedChange)],
        local: bool,
        diffs: Option<Diffs>,
    ) -> Result<(), Error> {
        if applied.is_empty() {
            return Ok(());
        }
        let result = self.writer.after_commit(applied);
        self.after_failure(result)?;
        if self.events.is_empty() {
            return Ok(());
        }
        let mut diffs = diffs.unwrap_or_default();
        let mut batches: Vec<Batch> = Vec::new();
        for (doc, enc) in applied {
            let info = ChangeInfo {
                cid: enc.cid,
                author: enc.change.author,
                height: enc.change.height,
                keys: enc.change.keys(),
                local,
            };
            match batches.iter_mut().find(|b| b.doc == *doc) {
                Some(b) => b.changes.push(info),
                None => batches.push(Batch {
                    doc: *doc,
                    changes: vec![info],
                    diffs: diffs.remove(doc).unwrap_or_default(),
                }),
            }
        }
        self.events.emit(batches);
        Ok(())
    }

    // ----- checks -----

    /// Checks everything: the pack files and their indexes, re-hashes every block, verifies
    /// every change's signature and shape, checks the indexes of every change, walks every
    /// document's heads down to its genesis, and compares the persisted state with a fresh
    /// replay of the DAG.
    pub fn fsck(&self) -> Result<FsckReport, Error> {
        fsck::fsck(&self.writer, self.replayed)
    }
}
