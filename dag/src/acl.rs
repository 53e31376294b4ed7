//! Who may write and who may read a document, computed by every replica from the signed DAG.
//!
//! # Roles
//! The genesis change names the document's **owner** (its author). Other keys get a role from
//! signed membership ops: `grant {who, role}` and `revoke {who}` (see [`crate::change`]).
//!
//! | role | may |
//! |---|---|
//! | reader | be served the document by a replica that enforces read access |
//! | writer | also write data ops |
//! | admin | also grant and revoke readers and writers |
//! | owner | also grant and revoke admins; can never be revoked |
//!
//! Only the owner grants or revokes the admin role, so authority is stratified: whether an
//! admin's op counts depends only on the owner's ops, never on another admin's. That rules out
//! cycles such as two admins revoking each other concurrently.
//!
//! # Acceptance (on apply and on receive)
//! A change is *accepted* only if its author held the role it needs **in the change's own past**
//! (the DAG below its parents): writer for data ops, admin for grants and revokes of readers and
//! writers, owner for anything about an admin. Acceptance depends only on the change and its
//! ancestry, so every replica accepts exactly the same changes. A change that fails is rejected
//! with [`Error::Unauthorized`](crate::Error::Unauthorized) naming its author and CID, and
//! nothing of it is stored.
//!
//! # Revocation: a revoke wins over everything it did not see
//! In the past of a change, a key holds a role if a grant of it is in that past and every
//! revoke of the key in that past was seen by the grant (is in the grant's own past, or in the
//! same change). A revoke therefore beats a concurrent grant, and a re-grant made after a revoke
//! restores the role.
//!
//! Acceptance alone would let a revoked key keep writing by *backdating*: signing new changes
//! onto old parents from before its revoke, where it still held the role. So a stored change
//! also has to *count*: a change counts only if its author holds the role in the view of the
//! **whole** DAG, in which a revoke applies to every change of the revoked key that the revoke
//! did not see (is not in the revoke's past). Concretely, for the revoke `R` of key `K`:
//! - changes of `K` in `R`'s past still count;
//! - changes of `K` concurrent with `R` (made before `K` heard of it, or backdated after) do
//!   not count, on every replica, once `R` arrives;
//! - changes of `K` after `R` are rejected outright, unless a later grant restored `K`.
//!
//! A change that does not count stays in the DAG (other changes may build on it, and peers
//! need it to sync) but is marked *void*: its ops are not in the state. The void set is a
//! function of the set of changes, so replicas that hold the same changes hold the same state
//! and the same member list, whatever the delivery order. When a grant or revoke arrives, the
//! document's void set is recomputed and, if it changed, its state is rebuilt from the DAG: a
//! membership change costs one pass over the document's history.
//!
//! # Storage
//! Each change's *membership frontier* (the newest membership changes in its past) is kept with
//! its entry in the `heights` keyspace, and each membership change's whole membership past is in
//! the `acl` keyspace, so the checks above never walk the DAG for an ordinary change.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
};

use weft_store::{Cid, CidMap, CidSet, Store, CID_LEN};

use crate::{
    change::{Change, Op},
    error::{Error, InvalidReason},
    id::DocId,
    identity::Author,
    keys::{self, decode_cids},
    role::Role,
};

/// One member of a document and its role, as this replica sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The key.
    pub author: Author,
    /// What it may do.
    pub role: Role,
}

/// How deep the role rules may recurse (owner -> admin -> writer needs 3).
const MAX_DEPTH: u32 = 6;

/// One membership change of a document.
#[derive(Debug)]
struct Mc {
    cid: Cid,
    author: Author,
    /// Every membership change in its past (the genesis implied).
    past: CidSet,
    grants: Vec<(Author, Role)>,
    revokes: Vec<Author>,
    /// Whether it also holds data ops.
    data: bool,
}

/// Which membership changes a judgement may look at.
#[derive(Clone, Copy)]
enum View<'a> {
    /// The whole DAG.
    All,
    /// Only these (a change's own past).
    Past(&'a CidSet),
}

impl View<'_> {
    fn has(&self, cid: &Cid) -> bool {
        match self {
            View::All => true,
            View::Past(s) => s.contains(cid),
        }
    }
}

/// The change being judged: its membership past, and which revokes saw it.
struct Point<'a> {
    past: &'a CidSet,
    seen_by: &'a dyn Fn(usize) -> bool,
}

fn never(_: usize) -> bool {
    false
}

/// The membership changes of one document, loaded from the `acl` keyspace.
#[derive(Debug)]
pub(crate) struct AclDoc {
    pub(crate) genesis: Cid,
    pub(crate) owner: Author,
    list: Vec<Mc>,
    index: CidMap<usize>,
    grants_of: HashMap<Author, Vec<usize>>,
    revokes_of: HashMap<Author, Vec<usize>>,
    /// (author, frontier) -> whole-DAG role of a new change there; see [`AclDoc::counts_new`].
    memo: Mutex<HashMap<MemoKey, Option<Role>>>,
}

/// An author and a membership frontier.
type MemoKey = (Author, Vec<Cid>);

fn corrupt(reason: String) -> Error {
    Error::Store(weft_store::Error::CorruptEntry {
        keyspace: keys::ACL.name,
        reason,
    })
}

/// The documents whose dirty mark is set.
pub(crate) fn dirty_docs(store: &Store) -> Result<Vec<DocId>, Error> {
    let mut out = Vec::new();
    for r in store.scan_prefix(keys::DIRTY, &[]) {
        let (k, _) = r?;
        let cid = Cid::from_bytes(&k).map_err(|e| corrupt(format!("bad dirty mark: {e}")))?;
        out.push(DocId(cid));
    }
    Ok(out)
}

/// The role an op list needs from its author, judged at `point` in `view`.
fn needs(
    acl: &AclDoc,
    ops: &[Op],
    point: &Point<'_>,
    view: View<'_>,
) -> Result<Role, InvalidReason> {
    let mut floor = Role::Reader;
    let mut grants = Vec::new();
    let mut revokes = Vec::new();
    for op in ops {
        match op {
            Op::Genesis { .. } => floor = floor.max(Role::Owner),
            Op::Grant { role, .. } => grants.push(*role),
            Op::Revoke { who } => revokes.push(*who),
            _ => floor = floor.max(Role::Writer),
        }
    }
    acl.need(floor, &grants, &revokes, point, view, 1)
}

impl AclDoc {
    /// Loads the membership changes of `doc`: the genesis from `genesis` (it may be staged and
    /// not yet stored), the membership changes from the store (each is committed in a batch of
    /// its own).
    pub(crate) fn load(
        store: &Store,
        doc: DocId,
        genesis: impl FnOnce() -> Result<Option<Vec<u8>>, Error>,
    ) -> Result<AclDoc, Error> {
        let genesis_bytes = genesis()?.ok_or(Error::UnknownCid { cid: doc.0 })?;
        let genesis = Change::decode(&doc.0, &genesis_bytes)?;
        let owner = genesis
            .ops
            .iter()
            .find_map(|op| match op {
                Op::Genesis { owner, .. } => Some(*owner),
                _ => None,
            })
            .unwrap_or(genesis.author);
        let mut rows = Vec::new();
        for r in store.scan_prefix(keys::ACL, &doc.0.to_bytes()) {
            let (k, v) = r?;
            let cid =
                Cid::from_bytes(&k[CID_LEN..]).map_err(|e| corrupt(format!("bad key: {e}")))?;
            if v.len() < 8 {
                return Err(corrupt(format!("entry for {cid} is too short")));
            }
            let height = u64::from_be_bytes(v[..8].try_into().unwrap_or_default());
            let past = decode_cids(&v[8..])
                .ok_or_else(|| corrupt(format!("entry for {cid} is damaged")))?;
            let bytes = store
                .get_block(&cid)?
                .ok_or_else(|| corrupt(format!("membership change {cid} has no block")))?;
            let change = Change::decode(&cid, &bytes)?;
            rows.push((height, cid, past, change));
        }
        rows.sort_by_key(|(h, c, _, _)| (*h, *c));
        let mut acl = AclDoc {
            genesis: doc.0,
            owner,
            list: Vec::with_capacity(rows.len()),
            index: CidMap::default(),
            grants_of: HashMap::new(),
            revokes_of: HashMap::new(),
            memo: Mutex::new(HashMap::new()),
        };
        for (_, cid, past, change) in rows {
            let i = acl.list.len();
            let mut mc = Mc {
                cid,
                author: change.author,
                past: past.into_iter().collect(),
                grants: Vec::new(),
                revokes: Vec::new(),
                data: change.has_data(),
            };
            for op in &change.ops {
                match op {
                    Op::Grant { who, role } => {
                        mc.grants.push((*who, *role));
                        let v = acl.grants_of.entry(*who).or_default();
                        if v.last() != Some(&i) {
                            v.push(i);
                        }
                    }
                    Op::Revoke { who } => {
                        mc.revokes.push(*who);
                        let v = acl.revokes_of.entry(*who).or_default();
                        if v.last() != Some(&i) {
                            v.push(i);
                        }
                    }
                    _ => {}
                }
            }
            acl.index.insert(cid, i);
            acl.list.push(mc);
        }
        Ok(acl)
    }

    /// Whether the document has membership changes besides its genesis.
    pub(crate) fn is_trivial(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether `cid` is a membership change of this document.
    pub(crate) fn contains(&self, cid: &Cid) -> bool {
        self.index.contains_key(cid)
    }

    /// The frontier of a change with these parent frontiers: the newest of them.
    pub(crate) fn reduce(&self, mut union: Vec<Cid>) -> Vec<Cid> {
        union.sort();
        union.dedup();
        if union.len() <= 1 {
            return union;
        }
        let keep: Vec<Cid> = union
            .iter()
            .filter(|f| {
                !union.iter().any(|g| {
                    g != *f
                        && self
                            .index
                            .get(g)
                            .is_some_and(|&gi| self.list[gi].past.contains(f))
                })
            })
            .copied()
            .collect();
        keep
    }

    /// Every membership change in the past of a change with frontier `frontier`.
    pub(crate) fn closure(&self, frontier: &[Cid]) -> CidSet {
        let mut out = CidSet::default();
        for f in frontier {
            out.insert(*f);
            if let Some(&i) = self.index.get(f) {
                out.extend(self.list[i].past.iter().copied());
            }
        }
        out
    }

    /// The best role `who` holds at `point`, judged in `view`.
    fn role_at(&self, who: &Author, point: &Point<'_>, view: View<'_>, depth: u32) -> Option<Role> {
        if *who == self.owner {
            return Some(Role::Owner);
        }
        if depth > MAX_DEPTH {
            return None;
        }
        let mut best: Option<Role> = None;
        for &gi in self.grants_of.get(who).into_iter().flatten() {
            let g = &self.list[gi];
            if !point.past.contains(&g.cid) || !view.has(&g.cid) {
                continue;
            }
            let role = g
                .grants
                .iter()
                .filter(|(w, _)| w == who)
                .map(|(_, r)| *r)
                .max();
            if role <= best || !self.counts(gi, view, depth + 1) {
                continue;
            }
            let revoked = self.revokes_of.get(who).into_iter().flatten().any(|&ri| {
                let r = &self.list[ri];
                ri != gi
                    && view.has(&r.cid)
                    && !g.past.contains(&r.cid)
                    && !(point.seen_by)(ri)
                    && self.counts(ri, view, depth + 1)
            });
            if !revoked {
                best = role;
            }
        }
        best
    }

    /// Whether membership change `i` counts in `view`.
    fn counts(&self, i: usize, view: View<'_>, depth: u32) -> bool {
        let m = &self.list[i];
        if m.author == self.owner {
            return true;
        }
        let this = m.cid;
        let seen_by = |ri: usize| ri == i || self.list[ri].past.contains(&this);
        let point = Point {
            past: &m.past,
            seen_by: &seen_by,
        };
        let floor = if m.data { Role::Writer } else { Role::Reader };
        let roles: Vec<Role> = m.grants.iter().map(|(_, r)| *r).collect();
        // A revoke of the owner was refused on arrival; should one be stored, only the owner's
        // own change could count.
        let need = self
            .need(floor, &roles, &m.revokes, &point, view, depth + 1)
            .unwrap_or(Role::Owner);
        self.role_at(&m.author, &point, view, depth) >= Some(need)
    }

    /// The role a change needs: at least `floor` (writer for data ops), admin for grants and
    /// revokes, owner for granting admin or revoking a key that is an admin at `point`. A revoke
    /// of the owner is an error.
    fn need(
        &self,
        floor: Role,
        grants: &[Role],
        revokes: &[Author],
        point: &Point<'_>,
        view: View<'_>,
        depth: u32,
    ) -> Result<Role, InvalidReason> {
        let mut need = floor;
        for role in grants {
            need = need.max(if *role == Role::Admin {
                Role::Owner
            } else {
                Role::Admin
            });
        }
        for who in revokes {
            if *who == self.owner {
                return Err(InvalidReason::RevokesOwner);
            }
            need = need.max(
                if self.role_at(who, point, view, depth) >= Some(Role::Admin) {
                    Role::Owner
                } else {
                    Role::Admin
                },
            );
        }
        Ok(need)
    }

    /// Acceptance: may `change` (not stored yet, with membership past `past`) be stored?
    pub(crate) fn accept(&self, cid: &Cid, change: &Change, past: &CidSet) -> Result<(), Error> {
        let point = Point {
            past,
            seen_by: &never,
        };
        let view = View::Past(past);
        let need = needs(self, &change.ops, &point, view)
            .map_err(|reason| Error::InvalidChange { cid: *cid, reason })?;
        let has = self.role_at(&change.author, &point, view, 0);
        if has >= Some(need) {
            Ok(())
        } else {
            Err(Error::Unauthorized {
                cid: *cid,
                author: change.author,
                needed: need,
                held: has,
            })
        }
    }

    /// Whether a new change (accepted, with frontier `frontier`) counts in the whole DAG as
    /// stored now. No stored revoke can have seen it, since it is new.
    pub(crate) fn counts_new(&self, change: &Change, frontier: &[Cid], past: &CidSet) -> bool {
        if change.author == self.owner {
            return true;
        }
        let point = Point {
            past,
            seen_by: &never,
        };
        let Ok(need) = needs(self, &change.ops, &point, View::All) else {
            return false;
        };
        if change.is_membership() {
            return self.role_at(&change.author, &point, View::All, 0) >= Some(need);
        }
        let key = (change.author, frontier.to_vec());
        let mut memo = weft_store::sync_util::lock(&self.memo);
        let role = *memo
            .entry(key)
            .or_insert_with(|| self.role_at(&change.author, &point, View::All, 0));
        role >= Some(need)
    }

    /// Whether some revoke names `who` (whatever role it holds now).
    pub(crate) fn revoke_names(&self, who: &Author) -> bool {
        self.list.iter().any(|m| m.revokes.contains(who))
    }

    /// The members as of now, in the whole DAG: owner first, then by key.
    pub(crate) fn members(&self) -> Vec<Member> {
        let everything: CidSet = self.list.iter().map(|m| m.cid).collect();
        let now = Point {
            past: &everything,
            seen_by: &never,
        };
        let mut out = vec![Member {
            author: self.owner,
            role: Role::Owner,
        }];
        let mut keys: Vec<&Author> = self.grants_of.keys().collect();
        keys.sort();
        for who in keys {
            if *who == self.owner {
                continue;
            }
            if let Some(role) = self.role_at(who, &now, View::All, 0) {
                out.push(Member { author: *who, role });
            }
        }
        out
    }
}

/// One stored change, as [`void_set`] needs it.
pub(crate) struct Row {
    pub(crate) cid: Cid,
    pub(crate) author: Author,
    pub(crate) parents: Vec<Cid>,
    pub(crate) frontier: Vec<Cid>,
    pub(crate) data: bool,
}

/// The changes of a document that do not count in the whole DAG. `rows` are all its changes in
/// (height, cid) order.
pub(crate) fn void_set(acl: &AclDoc, rows: &[Row]) -> CidSet {
    let mut void = CidSet::default();
    if acl.is_trivial() {
        for r in rows {
            if r.author != acl.owner && r.cid != acl.genesis {
                void.insert(r.cid);
            }
        }
        return void;
    }
    // For every revoke, the changes of the keys it revokes that it saw (are in its past).
    let position: CidMap<usize> = rows.iter().enumerate().map(|(i, r)| (r.cid, i)).collect();
    let targets: HashSet<Author> = acl.revokes_of.keys().copied().collect();
    let mut saw: HashMap<usize, CidSet> = HashMap::new();
    for (ri, m) in acl.list.iter().enumerate() {
        if m.revokes.is_empty() {
            continue;
        }
        let mut seen = CidSet::default();
        let mut visited = CidSet::default();
        let mut stack = vec![m.cid];
        while let Some(c) = stack.pop() {
            if !visited.insert(c) {
                continue;
            }
            if let Some(&i) = position.get(&c) {
                let row = &rows[i];
                if m.revokes.contains(&row.author) {
                    seen.insert(c);
                }
                stack.extend(row.parents.iter().copied());
            }
        }
        saw.insert(ri, seen);
    }
    for r in rows {
        if r.cid == acl.genesis || r.author == acl.owner {
            continue;
        }
        let counts = match acl.index.get(&r.cid) {
            Some(&i) => acl.counts(i, View::All, 0),
            None => {
                let past = acl.closure(&r.frontier);
                let cid = r.cid;
                let seen_by = |ri: usize| saw.get(&ri).is_some_and(|s| s.contains(&cid));
                let point = Point {
                    past: &past,
                    seen_by: if targets.contains(&r.author) {
                        &seen_by
                    } else {
                        &never
                    },
                };
                let need = if r.data { Role::Writer } else { Role::Reader };
                acl.role_at(&r.author, &point, View::All, 0) >= Some(need)
            }
        };
        if !counts {
            void.insert(r.cid);
        }
    }
    void
}
