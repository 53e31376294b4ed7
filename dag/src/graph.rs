//! The DAG index: which changes a repo holds, their nodes (document, height, parents), the heads,
//! the changes by height, and the walks over ancestry that sync and history need.
//!
//! Everything here is read from the store (the blocks in its log, the `heads` and `heights`
//! keyspaces) and cached in memory: a node is a function of its CID, so it never goes stale.

use std::{
    collections::{BTreeSet, BinaryHeap, HashMap},
    sync::{Arc, Mutex, RwLock},
};

use smallvec::SmallVec;
use weft_store::{Cid, CidMap, CidSet, Store};

use crate::{
    change::Change,
    error::Error,
    id::DocId,
    identity::Author,
    keys::{self, HeightEntry},
};
use weft_store::sync_util::{lock, read, write};

/// How many entries each in-memory table of a repo holds before it is cleared: the DAG nodes
/// of its [`NodeTable`] (about 150 bytes each, one table for the repos that share a
/// [`VerifiedCache`](crate::VerifiedCache)) and the CIDs of its [`Presence`] set.
pub const NODE_CACHE_ENTRIES: usize = 1 << 18;

/// What a walk of the DAG needs of a stored change: its document, height and parents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The document.
    pub doc: DocId,
    /// Height in the DAG.
    pub height: u64,
    pub(crate) parents: SmallVec<[Cid; 2]>,
}

impl Node {
    /// The parents, sorted.
    pub fn parents(&self) -> &[Cid] {
        &self.parents
    }
}

/// What a change says about itself, besides its ops and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeMeta {
    /// The document.
    pub doc: DocId,
    /// Height in the DAG.
    pub height: u64,
    /// Author sequence number.
    pub seq: u64,
    /// Author's wall-clock time (ms).
    pub time: u64,
    /// The author.
    pub author: Author,
    /// Number of ops.
    pub n_ops: u32,
    /// Parents, sorted.
    pub parents: Vec<Cid>,
}

impl ChangeMeta {
    /// The meta of `change`, whose CID is `cid`.
    pub fn of(cid: &Cid, change: &Change) -> ChangeMeta {
        ChangeMeta {
            doc: change.doc.unwrap_or(DocId(*cid)),
            height: change.height,
            seq: change.seq,
            time: change.time,
            author: change.author,
            n_ops: change.ops.len() as u32,
            parents: change.parents.clone(),
        }
    }
}

/// DAG nodes by CID: walks of the DAG (what a peer lacks, ancestry) visit the same ones over
/// and over, and staging a change reads its parents'. Repos of one process that share a
/// [`VerifiedCache`](crate::VerifiedCache) share one table (`weft lab` keeps hundreds of replicas
/// of the same DAG); which changes a repo holds is its own [`Presence`]. Lean on purpose: one slot
/// per change, with its document and membership frontier as indexes into short lists and up to
/// two parents inline. Cleared when full.
#[derive(Debug, Default)]
pub struct NodeTable {
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
    /// An index into `frontiers`, or [`UNKNOWN_FRONTIER`] for a node read back from a block.
    frontier: u32,
    parents: SmallVec<[Cid; 2]>,
}

const UNKNOWN_FRONTIER: u32 = u32::MAX;

/// What staging a change needs of a parent: its document, height and membership frontier (if
/// known).
pub(crate) type ParentInfo = (DocId, u64, Option<Vec<Cid>>);

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

    pub(crate) fn insert(
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
pub(crate) struct Presence {
    pub(crate) set: CidSet,
    /// Whether every stored change is in `set`, so that a miss means "absent": true for a repo
    /// that was empty when opened, until the set is first cleared. Changes are added by
    /// [`Graph::commit_and_remember`], which holds the set locked while their batch lands, so no
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

    pub(crate) fn insert(&mut self, cid: Cid) {
        if self.set.len() >= NODE_CACHE_ENTRIES {
            self.set.clear();
            self.complete = false;
        }
        self.set.insert(cid);
    }
}

pub(crate) fn corrupt(keyspace: &'static str, reason: &str) -> Error {
    Error::Store(weft_store::Error::CorruptEntry {
        keyspace,
        reason: reason.to_string(),
    })
}

/// The DAG index of one repo; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Graph {
    store: Store,
    /// DAG nodes, perhaps shared with other repos.
    pub(crate) nodes: Arc<RwLock<NodeTable>>,
    /// The changes known to be stored here.
    pub(crate) present: Mutex<Presence>,
}

impl Graph {
    /// The index of `store`, whose presence set is complete if the store holds no change yet.
    pub(crate) fn new(store: Store, nodes: Arc<RwLock<NodeTable>>) -> Graph {
        let (next, _) = store.replay_range();
        let empty = next.0 == 0;
        Graph {
            store,
            nodes,
            present: Mutex::new(Presence {
                set: CidSet::default(),
                complete: empty,
            }),
        }
    }

    /// Forgets which changes are present (after a recovery, the store may hold fewer).
    pub(crate) fn forget(&self) {
        let mut present = lock(&self.present);
        present.set.clear();
        present.complete = false;
    }

    /// Whether a change is present.
    pub(crate) fn has_change(&self, cid: &Cid) -> Result<bool, Error> {
        if let Some(known) = lock(&self.present).stored(cid) {
            return Ok(known);
        }
        let stored = cid.codec() == weft_store::Codec::DagCbor && self.store.has_block(cid)?;
        if stored {
            lock(&self.present).insert(*cid);
        }
        Ok(stored)
    }

    /// Whether the presence set holds `cid` (no store read).
    pub(crate) fn known_present(&self, cid: &Cid) -> bool {
        lock(&self.present).set.contains(cid)
    }

    /// What staging a child needs of a committed parent, from the table if it has it.
    pub(crate) fn cached_parent(&self, cid: &Cid) -> Option<ParentInfo> {
        if !self.known_present(cid) {
            return None;
        }
        read(&self.nodes).parent(cid)
    }

    /// Records committed changes: present, with their nodes. The caller holds the presence
    /// set locked while their batch lands (see [`Presence::complete`]).
    pub(crate) fn remember_nodes<'e>(
        &self,
        nodes: impl IntoIterator<Item = (Cid, DocId, u64, &'e [Cid], &'e [Cid])>,
    ) {
        let new: Vec<_> = {
            let table = read(&self.nodes);
            nodes
                .into_iter()
                .filter(|(cid, ..)| !table.has_whole(cid))
                .collect()
        };
        if new.is_empty() {
            return;
        }
        let mut table = write(&self.nodes);
        for (cid, doc, height, parents, frontier) in new {
            table.insert(cid, doc, height, parents, Some(frontier));
        }
    }

    /// Reads and decodes a stored change.
    pub(crate) fn change(&self, cid: &Cid) -> Result<Change, Error> {
        let bytes = self
            .store
            .get_block(cid)?
            .ok_or(Error::UnknownCid { cid: *cid })?;
        Ok(Change::decode(cid, &bytes)?)
    }

    /// The meta of a change, if it is present, from its block.
    pub(crate) fn change_meta(&self, cid: &Cid) -> Result<Option<ChangeMeta>, Error> {
        if cid.codec() != weft_store::Codec::DagCbor {
            return Ok(None);
        }
        match self.store.get_block(cid)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(ChangeMeta::of(cid, &Change::decode(cid, &bytes)?))),
        }
    }

    /// The node of a change, if it is present: from memory when it was read or stored lately.
    pub(crate) fn node(&self, cid: &Cid) -> Result<Option<Node>, Error> {
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

    /// The node of a change that is present (a walk follows parents, which are), from `table`
    /// or else the store, in which case it joins `read_back` to be cached after the walk.
    fn walk_node(
        &self,
        table: &NodeTable,
        cid: &Cid,
        read_back: &mut Vec<(Cid, Node)>,
    ) -> Result<Option<Node>, Error> {
        if let Some(node) = table.get(cid) {
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
        let mut table = write(&self.nodes);
        for (cid, node) in read_back {
            table.insert(cid, node.doc, node.height, &node.parents, None);
        }
    }

    /// The current heads of a document with their heights, sorted by CID.
    pub(crate) fn heads_with_height(&self, doc: DocId) -> Result<Vec<(Cid, u64)>, Error> {
        match self.store.get(keys::HEADS, &keys::doc_key(&doc))? {
            None => Ok(Vec::new()),
            Some(v) => keys::decode_heads(&v).ok_or_else(|| corrupt("heads", "a damaged value")),
        }
    }

    /// The `heights` entries of one chunk of `doc` (the chunk holding `height`).
    pub(crate) fn height_chunk(&self, doc: &DocId, height: u64) -> Result<Vec<HeightEntry>, Error> {
        let key = keys::heights_key(doc, height);
        let first = height - height % keys::HEIGHTS_PER_CHUNK;
        match self.store.get(keys::HEIGHTS, &key)? {
            None => Ok(Vec::new()),
            Some(v) => {
                keys::decode_heights(first, &v).ok_or_else(|| corrupt("heights", "a damaged chunk"))
            }
        }
    }

    /// The membership frontier of a stored change of `doc` at `height`.
    pub(crate) fn frontier(&self, doc: &DocId, height: u64, cid: &Cid) -> Result<Vec<Cid>, Error> {
        let pos = self
            .store
            .block_pos(cid)?
            .ok_or(Error::UnknownCid { cid: *cid })?;
        self.height_chunk(doc, height)?
            .into_iter()
            .find(|e| e.pos == pos)
            .map(|e| e.frontier)
            .ok_or_else(|| corrupt("heights", &format!("change {cid} has no entry")))
    }

    /// The changes of `doc` at `height`, sorted by CID.
    pub(crate) fn changes_at_height(&self, doc: DocId, height: u64) -> Result<Vec<Cid>, Error> {
        let mut out = Vec::new();
        for e in self.height_chunk(&doc, height)? {
            if e.height == height {
                out.push(self.store.cid_at(e.pos)?);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every entry of `doc`, chunk by chunk in height order (descending when `reverse`), each
    /// chunk's entries sorted by `(height, position)` (reversed when `reverse`).
    pub(crate) fn entries(
        &self,
        doc: DocId,
        reverse: bool,
    ) -> impl Iterator<Item = Result<HeightEntry, Error>> + 'static {
        let prefix = doc.0.to_bytes();
        let scan = if reverse {
            Box::new(self.store.scan_prefix_rev(keys::HEIGHTS, &prefix))
                as Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), weft_store::Error>> + Send>
        } else {
            Box::new(self.store.scan_prefix(keys::HEIGHTS, &prefix))
        };
        scan.flat_map(move |r| {
            let chunk = r.map_err(Error::from).and_then(|(k, v)| {
                let first = keys::parse_heights_key(&k)
                    .ok_or_else(|| corrupt("heights", "a damaged key"))?;
                let mut entries = keys::decode_heights(first, &v)
                    .ok_or_else(|| corrupt("heights", "a damaged chunk"))?;
                entries.sort_by_key(|e| (e.height, e.pos));
                if reverse {
                    entries.reverse();
                }
                Ok(entries)
            });
            let out: Vec<Result<HeightEntry, Error>> = match chunk {
                Ok(entries) => entries.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            out
        })
    }

    /// Every change of `doc` in `(height, position)` order: parents before children.
    pub(crate) fn changes_by_height(
        &self,
        doc: DocId,
    ) -> impl Iterator<Item = Result<(u64, Cid), Error>> + 'static {
        let store = self.store.clone();
        self.entries(doc, false)
            .map(move |r| r.and_then(|e| Ok((e.height, store.cid_at(e.pos)?))))
    }

    /// Every change in the ancestry of `heads` (heads included), sorted by `(height, cid)`, so
    /// parents come before children.
    pub(crate) fn ancestors(&self, heads: &[Cid]) -> Result<Vec<(u64, Cid)>, Error> {
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

    /// The changes of `doc` that are not ancestors of `base` (nor in it), sorted by
    /// `(height, cid)`, or `None` as soon as there are more than `limit`; see
    /// [`Repo::missing`](crate::Repo::missing).
    pub(crate) fn missing_limited(
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
            let mut all: Vec<(u64, Cid)> = self
                .changes_by_height(doc)
                .take(limit.saturating_add(1))
                .collect::<Result<_, _>>()?;
            if all.len() > limit {
                return Ok(None);
            }
            all.sort_unstable();
            return Ok(Some(all));
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
        let table = read(&self.nodes);
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
                            .walk_node(&table, &p, &mut read_back)?
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
        drop(table);
        self.cache_read_back(read_back);
        out.sort_unstable();
        Ok(Some(out))
    }
}
