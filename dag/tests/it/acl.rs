//! Write access control (see `weft_dag::acl`): what is rejected outright (`Unauthorized`,
//! `Equivocation`, `InvalidChange`) with nothing of it stored, and what is stored but void
//! (changes concurrent with a revoke of their author, backdated changes, and everything that
//! rests on a voided grant), on every replica and in every delivery order. A property test runs
//! random grants, revokes, writes and partial syncs on three replicas and checks every replica,
//! after every step, against a separate model of the rules written from the module docs.

// The helpers return `weft_dag::Error` unboxed, as the crate does, so that the tests match on
// its variants.
#![allow(clippy::result_large_err)]

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    fmt::Debug,
};

use proptest::prelude::*;
use weft_dag::{
    Author, Change, Cid, DocId, EncodedChange, Error, ImportStats, Member, Op, OpId, Repo, Role,
    StoredChange, Value,
};

use weft_testkit::{all_changes, grant, identity, replica, sync, sync_both, Rng};

// ----- helpers -----

/// A fresh repo of the owner (key 1) and its `main` document.
fn owned() -> (Repo, DocId) {
    let a = Repo::memory(identity(1));
    let doc = a.doc("main").unwrap();
    (a, doc)
}

/// A replica of `doc` with the key of `seed`, which nobody granted anything. It holds what
/// `origin` holds.
fn stranger(origin: &Repo, doc: DocId, seed: u8) -> Repo {
    let repo = Repo::memory(identity(seed));
    sync(origin, &repo, doc);
    assert_eq!(repo.role(doc, &repo.author()).unwrap(), None);
    repo
}

fn set(repo: &Repo, doc: DocId, key: &str, value: impl Into<Value>) -> Result<StoredChange, Error> {
    let mut tx = repo.transaction(doc);
    tx.set(key, value)?;
    Ok(tx.commit()?.expect("a set writes something"))
}

fn try_grant(by: &Repo, doc: DocId, who: Author, role: Role) -> Result<Cid, Error> {
    let mut tx = by.transaction(doc);
    tx.grant(who, role)?;
    Ok(tx.commit()?.expect("a grant writes something").cid)
}

fn try_revoke(by: &Repo, doc: DocId, who: Author) -> Result<Cid, Error> {
    let mut tx = by.transaction(doc);
    tx.revoke(who)?;
    Ok(tx.commit()?.expect("a revoke writes something").cid)
}

fn revoke(by: &Repo, doc: DocId, who: Author) -> Cid {
    try_revoke(by, doc, who).unwrap()
}

fn set_op(key: &str, value: impl Into<Value>) -> Op {
    Op::Set {
        key: key.into(),
        value: value.into(),
        pred: vec![],
    }
}

/// 1 + the greatest height of `parents`, which `repo` holds.
fn next_height(repo: &Repo, parents: &[Cid]) -> u64 {
    parents
        .iter()
        .map(|p| repo.change_meta(p).unwrap().unwrap().height)
        .max()
        .unwrap()
        + 1
}

/// A change built and signed by hand with the key of `seed`.
fn hand(
    doc: DocId,
    mut parents: Vec<Cid>,
    height: u64,
    seed: u8,
    seq: u64,
    ops: Vec<Op>,
) -> EncodedChange {
    let id = identity(seed);
    parents.sort();
    Change {
        doc: Some(doc),
        parents,
        author: id.author(),
        seq,
        height,
        time: 1_700_000_000_000,
        ops,
        sig: [0; 64],
    }
    .sign(&id)
}

fn apply(repo: &Repo, enc: &EncodedChange) -> Result<ImportStats, Error> {
    repo.apply_changes([(enc.cid, enc.bytes.clone())])
}

fn block(repo: &Repo, cid: Cid) -> (Cid, Vec<u8>) {
    (cid, repo.block(&cid).unwrap())
}

/// Asserts that `result` is `Unauthorized` for `author`, which needed `needed` and held
/// `held`; returns the CID of the rejected change.
#[track_caller]
fn unauthorized<T: Debug>(
    result: Result<T, Error>,
    author: Author,
    needed: Role,
    held: Option<Role>,
) -> Cid {
    match result {
        Err(Error::Unauthorized {
            cid,
            author: who,
            needed: n,
            held: h,
        }) => {
            assert_eq!((who, n, h), (author, needed, held));
            cid
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

/// Asserts that nothing of change `cid` is stored in `repo`.
#[track_caller]
fn not_stored(repo: &Repo, cid: &Cid) {
    assert!(!repo.has_change(cid).unwrap(), "{cid} is indexed");
    assert!(!repo.store().has_block(cid).unwrap(), "{cid} has a block");
    assert!(matches!(repo.is_void(cid), Err(Error::UnknownCid { .. })));
}

#[track_caller]
fn fsck_ok(repo: &Repo) {
    let report = repo.fsck().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// The CIDs of every change of `doc` in `repo`.
fn change_set(repo: &Repo, doc: DocId) -> BTreeSet<Cid> {
    repo.log(doc).map(|e| e.unwrap().cid).collect()
}

/// The changes of `doc` in `repo` that are void (one by one, and in one scan: the same).
fn void_set(repo: &Repo, doc: DocId) -> BTreeSet<Cid> {
    let void: BTreeSet<Cid> = change_set(repo, doc)
        .into_iter()
        .filter(|c| repo.is_void(c).unwrap())
        .collect();
    let scanned: BTreeSet<Cid> = repo.void_changes(doc).unwrap().into_iter().collect();
    assert_eq!(scanned, void);
    void
}

/// The member list `Repo::members` must return: the owner first, then the others by key.
fn members(owner: Author, others: &[(Author, Role)]) -> Vec<Member> {
    let mut others = others.to_vec();
    others.sort();
    std::iter::once((owner, Role::Owner))
        .chain(others)
        .map(|(author, role)| Member { author, role })
        .collect()
}

/// Every repo holds the same changes, heads, members, state and void set, and passes fsck.
#[track_caller]
fn assert_converged(repos: &[&Repo], doc: DocId) {
    let first = repos[0];
    for r in repos {
        assert_eq!(change_set(r, doc), change_set(first, doc));
        assert_eq!(r.heads(doc).unwrap(), first.heads(doc).unwrap());
        assert_eq!(r.members(doc).unwrap(), first.members(doc).unwrap());
        assert_eq!(
            r.state(doc).entries("").unwrap(),
            first.state(doc).entries("").unwrap()
        );
        assert_eq!(void_set(r, doc), void_set(first, doc));
        fsck_ok(r);
    }
}

// ----- rejected outright -----

#[test]
fn a_non_members_change_is_rejected_and_nothing_of_it_is_stored() {
    let (a, doc) = owned();
    set(&a, doc, "x", 1i64).unwrap();
    let heads = a.heads(doc).unwrap();
    let entries = a.state(doc).entries("").unwrap();
    let n_blocks = a.fsck().unwrap().n_blocks;
    let sub = a.subscribe();
    let outsider = identity(2).author();

    let c = hand(
        doc,
        heads.clone(),
        next_height(&a, &heads),
        2,
        1,
        vec![set_op("x", 2i64), set_op("y", 3i64)],
    );
    let err = apply(&a, &c).unwrap_err();
    let msg = err.to_string();
    assert_eq!(
        unauthorized(Err::<(), _>(err), outsider, Role::Writer, None),
        c.cid
    );
    assert!(msg.contains(&c.cid.to_string()), "{msg}");
    assert!(msg.contains(&outsider.to_string()), "{msg}");
    not_stored(&a, &c.cid);
    assert_eq!(a.heads(doc).unwrap(), heads);
    assert_eq!(a.state(doc).entries("").unwrap(), entries);
    assert_eq!(a.state(doc).get("x").unwrap(), Some(Value::Int(1)));
    assert!(sub.try_next().is_none(), "a rejected change was announced");
    assert_eq!(a.members(doc).unwrap(), members(a.author(), &[]));
    let report = a.fsck().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.n_blocks, n_blocks);

    // A change built on the rejected one, sent along with it, is not stored either.
    let child = hand(
        doc,
        vec![c.cid],
        c.change.height + 1,
        2,
        2,
        vec![set_op("y", 4i64)],
    );
    let both = [(c.cid, c.bytes.clone()), (child.cid, child.bytes.clone())];
    unauthorized(a.apply_changes(both), outsider, Role::Writer, None);
    not_stored(&a, &c.cid);
    not_stored(&a, &child.cid);

    // A reader is no writer.
    grant(&a, doc, outsider, Role::Reader);
    let heads = a.heads(doc).unwrap();
    let r = hand(
        doc,
        heads.clone(),
        next_height(&a, &heads),
        2,
        1,
        vec![set_op("y", 5i64)],
    );
    let cid = unauthorized(apply(&a, &r), outsider, Role::Writer, Some(Role::Reader));
    assert_eq!(cid, r.cid);
    not_stored(&a, &r.cid);

    // Acceptance depends only on the change's own past: granting the key now does not let in
    // the change made without the grant.
    grant(&a, doc, outsider, Role::Writer);
    unauthorized(apply(&a, &c), outsider, Role::Writer, None);
    not_stored(&a, &c.cid);
    // The same key's change on the grant is accepted, with the seq of the rejected ones: they
    // left no trace in the sequence index either.
    let heads = a.heads(doc).unwrap();
    let ok = hand(
        doc,
        heads.clone(),
        next_height(&a, &heads),
        2,
        1,
        vec![set_op("y", 6i64)],
    );
    assert_eq!(apply(&a, &ok).unwrap().applied, vec![ok.cid]);
    assert!(!a.is_void(&ok.cid).unwrap());
    assert_eq!(a.state(doc).get("y").unwrap(), Some(Value::Int(6)));
    fsck_ok(&a);
}

#[test]
fn a_replica_that_was_never_granted_cannot_write_locally() {
    let (a, doc) = owned();
    set(&a, doc, "x", 1i64).unwrap();
    let b = stranger(&a, doc, 2);
    let heads = b.heads(doc).unwrap();
    let entries = b.state(doc).entries("").unwrap();
    assert_eq!(b.state(doc).get("x").unwrap(), Some(Value::Int(1)));

    let cid = unauthorized(set(&b, doc, "x", 2i64), b.author(), Role::Writer, None);
    not_stored(&b, &cid);
    // Nor grant (itself or others) or revoke.
    let other = identity(3).author();
    for who in [b.author(), other] {
        let cid = unauthorized(
            try_grant(&b, doc, who, Role::Writer),
            b.author(),
            Role::Admin,
            None,
        );
        not_stored(&b, &cid);
    }
    unauthorized(try_revoke(&b, doc, other), b.author(), Role::Admin, None);
    assert_eq!(b.heads(doc).unwrap(), heads);
    assert_eq!(b.state(doc).entries("").unwrap(), entries);
    assert_eq!(b.members(doc).unwrap(), members(a.author(), &[]));
    fsck_ok(&b);

    // Once granted, it writes; its first change has seq 1 (the refusals used up nothing).
    grant(&a, doc, b.author(), Role::Writer);
    sync(&a, &b, doc);
    let c = set(&b, doc, "x", 2i64).unwrap();
    assert_eq!(c.change.seq, 1);
    sync(&b, &a, doc);
    for r in [&a, &b] {
        assert!(!r.is_void(&c.cid).unwrap());
        assert_eq!(r.state(doc).get("x").unwrap(), Some(Value::Int(2)));
    }
    assert_converged(&[&a, &b], doc);
}

#[test]
fn writers_write_admins_grant_writers_and_only_the_owner_grants_admins() {
    let (a, doc) = owned();
    let b = replica(&a, doc, 2);
    let (c, d) = (identity(3).author(), identity(4).author());

    // A writer writes, but grants and revokes nothing.
    let w = set(&b, doc, "x", 1i64).unwrap();
    assert!(!b.is_void(&w.cid).unwrap());
    let heads = b.heads(doc).unwrap();
    for role in [Role::Reader, Role::Writer, Role::Admin] {
        let needed = if role == Role::Admin {
            Role::Owner
        } else {
            Role::Admin
        };
        let cid = unauthorized(
            try_grant(&b, doc, c, role),
            b.author(),
            needed,
            Some(Role::Writer),
        );
        not_stored(&b, &cid);
    }
    unauthorized(
        try_revoke(&b, doc, c),
        b.author(),
        Role::Admin,
        Some(Role::Writer),
    );
    assert_eq!(b.heads(doc).unwrap(), heads);

    // An admin grants and revokes writers, but neither grants nor revokes admins.
    grant(&a, doc, b.author(), Role::Admin);
    grant(&a, doc, d, Role::Admin);
    sync_both(&a, &b, doc);
    assert_eq!(b.role(doc, &b.author()).unwrap(), Some(Role::Admin));
    let gc = try_grant(&b, doc, c, Role::Writer).unwrap();
    assert!(!b.is_void(&gc).unwrap());
    assert_eq!(b.role(doc, &c).unwrap(), Some(Role::Writer));
    let heads = b.heads(doc).unwrap();
    unauthorized(
        try_grant(&b, doc, c, Role::Admin),
        b.author(),
        Role::Owner,
        Some(Role::Admin),
    );
    unauthorized(
        try_revoke(&b, doc, d),
        b.author(),
        Role::Owner,
        Some(Role::Admin),
    );
    assert_eq!(b.heads(doc).unwrap(), heads);
    let rc = revoke(&b, doc, c);
    assert!(!b.is_void(&rc).unwrap());
    assert_eq!(b.role(doc, &c).unwrap(), None);
    assert_eq!(b.role(doc, &d).unwrap(), Some(Role::Admin));

    // Nobody revokes the owner: not the owner, an admin or a writer.
    let e = replica(&a, doc, 5);
    sync_both(&a, &b, doc);
    sync(&a, &e, doc);
    for r in [&a, &b, &e] {
        let heads = r.heads(doc).unwrap();
        match try_revoke(r, doc, a.author()) {
            Err(Error::InvalidChange { cid, reason }) => {
                assert!(reason.to_string().contains("owner"), "{reason}");
                not_stored(r, &cid);
            }
            other => panic!("expected InvalidChange, got {other:?}"),
        }
        assert_eq!(r.heads(doc).unwrap(), heads);
    }
    // Not from elsewhere either: the owner's own revoke of itself, built by hand.
    let heads = b.heads(doc).unwrap();
    let rv = hand(
        doc,
        heads.clone(),
        next_height(&b, &heads),
        1,
        1000,
        vec![Op::Revoke { who: a.author() }],
    );
    match apply(&b, &rv) {
        Err(Error::InvalidChange { cid, reason }) => {
            assert_eq!(cid, rv.cid);
            assert!(reason.to_string().contains("owner"), "{reason}");
        }
        other => panic!("expected InvalidChange, got {other:?}"),
    }
    not_stored(&b, &rv.cid);
    // And the owner role is granted to nobody.
    let mut tx = a.transaction(doc);
    assert!(matches!(tx.grant(c, Role::Owner), Err(Error::OwnerGrant)));
    drop(tx);

    sync_both(&a, &b, doc);
    sync_both(&a, &e, doc);
    let want = members(
        a.author(),
        &[
            (b.author(), Role::Admin),
            (d, Role::Admin),
            (e.author(), Role::Writer),
        ],
    );
    assert_eq!(a.members(doc).unwrap(), want);
    assert_converged(&[&a, &b, &e], doc);
}

#[test]
fn a_revoked_key_cannot_write_on_the_revoke() {
    let (a, doc) = owned();
    let b = replica(&a, doc, 2);
    let before = set(&b, doc, "x", 1i64).unwrap();
    sync(&b, &a, doc);
    let r = revoke(&a, doc, b.author());
    sync(&a, &b, doc);
    // What the revoke saw still counts.
    for repo in [&a, &b] {
        assert!(!repo.is_void(&before.cid).unwrap());
        assert!(!repo.is_void(&r).unwrap());
        assert_eq!(repo.state(doc).get("x").unwrap(), Some(Value::Int(1)));
        assert_eq!(repo.role(doc, &b.author()).unwrap(), None);
        assert_eq!(repo.members(doc).unwrap(), members(a.author(), &[]));
    }

    // Locally.
    assert_eq!(b.heads(doc).unwrap(), vec![r]);
    let cid = unauthorized(set(&b, doc, "y", 2i64), b.author(), Role::Writer, None);
    not_stored(&b, &cid);
    assert_eq!(b.heads(doc).unwrap(), vec![r]);

    // By hand, on the revoke, sent to the owner.
    let late = hand(
        doc,
        vec![r],
        next_height(&a, &[r]),
        2,
        before.change.seq + 1,
        vec![set_op("y", 2i64)],
    );
    let cid = unauthorized(apply(&a, &late), b.author(), Role::Writer, None);
    assert_eq!(cid, late.cid);
    not_stored(&a, &late.cid);
    assert_eq!(a.heads(doc).unwrap(), vec![r]);
    assert_eq!(a.state(doc).get("y").unwrap(), None);
    assert_converged(&[&a, &b], doc);
}

// ----- stored but void -----

#[test]
fn a_change_concurrent_with_the_revoke_of_its_author_is_void_everywhere() {
    for revoke_first in [true, false] {
        let (a, doc) = owned();
        let b = replica(&a, doc, 2);
        let seen = set(&b, doc, "x", 1i64).unwrap().cid;
        sync(&b, &a, doc);
        // A bystander, which will get the revoke and the concurrent changes in either order.
        let c = stranger(&a, doc, 3);
        let r = revoke(&a, doc, b.author());
        // b has not seen the revoke: it writes twice, on its own heads.
        let w1 = set(&b, doc, "y", 2i64).unwrap().cid;
        let w2 = set(&b, doc, "z", 3i64).unwrap().cid;
        assert!(!b.is_void(&w1).unwrap());
        assert_eq!(b.state(doc).get("y").unwrap(), Some(Value::Int(2)));

        let revoke_block = block(&a, r);
        let writes = [block(&b, w1), block(&b, w2)];
        if revoke_first {
            c.apply_changes([revoke_block]).unwrap();
            assert_eq!(c.apply_changes(writes).unwrap().applied, vec![w1, w2]);
            // a hears of the writes after its revoke, b of the revoke after its writes.
            sync(&b, &a, doc);
            sync(&a, &b, doc);
        } else {
            c.apply_changes(writes).unwrap();
            assert_eq!(c.state(doc).get("y").unwrap(), Some(Value::Int(2)));
            assert!(!c.is_void(&w1).unwrap());
            c.apply_changes([revoke_block]).unwrap();
            sync(&a, &b, doc);
            sync(&b, &a, doc);
        }
        for repo in [&a, &b, &c] {
            for w in [w1, w2] {
                assert!(repo.has_change(&w).unwrap());
                assert!(repo.is_void(&w).unwrap(), "revoke_first {revoke_first}");
            }
            assert!(!repo.is_void(&seen).unwrap());
            assert!(!repo.is_void(&r).unwrap());
            let state = repo.state(doc);
            assert_eq!(state.get("y").unwrap(), None, "revoke_first {revoke_first}");
            assert_eq!(state.get("z").unwrap(), None, "revoke_first {revoke_first}");
            assert_eq!(state.get("x").unwrap(), Some(Value::Int(1)));
            assert_eq!(repo.members(doc).unwrap(), members(a.author(), &[]));
            assert_eq!(void_set(repo, doc), BTreeSet::from([w1, w2]));
        }
        assert_converged(&[&a, &b, &c], doc);
    }
}

#[test]
fn a_backdated_change_of_a_revoked_key_is_accepted_but_void() {
    let (a, doc) = owned();
    let b = replica(&a, doc, 2);
    let old = set(&b, doc, "x", 1i64).unwrap();
    sync(&b, &a, doc);
    // A bystander that has `old` but not the revoke.
    let c = stranger(&a, doc, 3);
    let r = revoke(&a, doc, b.author());
    sync(&a, &b, doc);
    unauthorized(set(&b, doc, "y", 1i64), b.author(), Role::Writer, None);

    // b's key signs a change on `old`, from before the revoke, where it still held the role.
    // It writes y and overwrites x.
    let back = hand(
        doc,
        vec![old.cid],
        old.change.height + 1,
        2,
        old.change.seq + 1,
        vec![
            set_op("y", "backdated"),
            Op::Set {
                key: "x".into(),
                value: "backdated".into(),
                pred: vec![OpId {
                    change: old.cid,
                    index: 0,
                }],
            },
        ],
    );
    for repo in [&a, &b] {
        assert_eq!(apply(repo, &back).unwrap().applied, vec![back.cid]);
        assert!(repo.is_void(&back.cid).unwrap());
        let state = repo.state(doc);
        assert_eq!(state.get("y").unwrap(), None);
        assert_eq!(state.get_all("x").unwrap(), vec![Value::Int(1)]);
    }
    // The bystander gets both in one call, the backdated change first.
    c.apply_changes([block(&a, back.cid), block(&a, r)])
        .unwrap();
    assert!(c.is_void(&back.cid).unwrap());
    assert_eq!(c.state(doc).get("y").unwrap(), None);
    assert_eq!(c.state(doc).get_all("x").unwrap(), vec![Value::Int(1)]);

    // Building on it does not launder it: the owner merges it, and b's key builds on it.
    let merge = set(&a, doc, "z", 1i64).unwrap();
    assert!(merge.change.parents.contains(&back.cid));
    assert!(!a.is_void(&merge.cid).unwrap());
    let back2 = hand(
        doc,
        vec![back.cid],
        back.change.height + 1,
        2,
        back.change.seq + 1,
        vec![set_op("y", "again")],
    );
    assert_eq!(apply(&a, &back2).unwrap().applied, vec![back2.cid]);
    sync_both(&a, &b, doc);
    sync_both(&a, &c, doc);
    for repo in [&a, &b, &c] {
        assert_eq!(void_set(repo, doc), BTreeSet::from([back.cid, back2.cid]));
        let state = repo.state(doc);
        assert_eq!(state.get("y").unwrap(), None);
        assert_eq!(state.get_all("x").unwrap(), vec![Value::Int(1)]);
        assert_eq!(state.get("z").unwrap(), Some(Value::Int(1)));
        assert_eq!(repo.members(doc).unwrap(), members(a.author(), &[]));
    }
    assert_converged(&[&a, &b, &c], doc);
}

#[test]
fn a_grant_after_a_revoke_restores_writing() {
    let (a, doc) = owned();
    let b = replica(&a, doc, 2);
    revoke(&a, doc, b.author());
    sync(&a, &b, doc);
    unauthorized(set(&b, doc, "x", 0i64), b.author(), Role::Writer, None);

    grant(&a, doc, b.author(), Role::Writer);
    sync(&a, &b, doc);
    let w = set(&b, doc, "x", 1i64).unwrap().cid;
    sync(&b, &a, doc);
    for repo in [&a, &b] {
        assert!(!repo.is_void(&w).unwrap());
        assert_eq!(repo.state(doc).get("x").unwrap(), Some(Value::Int(1)));
        assert_eq!(
            repo.members(doc).unwrap(),
            members(a.author(), &[(b.author(), Role::Writer)])
        );
    }

    // A revoke and a grant in one change demote: admin to writer.
    grant(&a, doc, b.author(), Role::Admin);
    assert_eq!(a.role(doc, &b.author()).unwrap(), Some(Role::Admin));
    let mut tx = a.transaction(doc);
    tx.revoke(b.author()).unwrap();
    tx.grant(b.author(), Role::Writer).unwrap();
    tx.commit().unwrap().unwrap();
    assert_eq!(a.role(doc, &b.author()).unwrap(), Some(Role::Writer));
    sync(&a, &b, doc);
    let w2 = set(&b, doc, "x", 2i64).unwrap().cid;
    unauthorized(
        try_grant(&b, doc, identity(3).author(), Role::Writer),
        b.author(),
        Role::Admin,
        Some(Role::Writer),
    );
    sync(&b, &a, doc);
    assert!(!a.is_void(&w2).unwrap());
    assert_eq!(a.state(doc).get("x").unwrap(), Some(Value::Int(2)));
    assert_converged(&[&a, &b], doc);
}

#[test]
fn revoking_an_admin_voids_its_concurrent_grants_and_what_they_allowed() {
    for owner_first in [true, false] {
        let (a, doc) = owned();
        let b = replica(&a, doc, 2);
        grant(&a, doc, b.author(), Role::Admin);
        sync(&a, &b, doc);
        // A grant b made before the revoke, which the revoke sees: it stays.
        let d = Repo::memory(identity(4));
        let gd = grant(&b, doc, d.author(), Role::Writer);
        sync(&b, &a, doc);
        sync(&a, &d, doc);

        // The owner revokes b; concurrently b grants c, which writes on that grant, and b
        // writes too.
        let r = revoke(&a, doc, b.author());
        let c = Repo::memory(identity(3));
        let gc = grant(&b, doc, c.author(), Role::Writer);
        sync(&b, &c, doc);
        let wc = set(&c, doc, "z", 1i64).unwrap().cid;
        let wb = set(&b, doc, "y", 1i64).unwrap().cid;
        assert_eq!(c.state(doc).get("z").unwrap(), Some(Value::Int(1)));
        assert_eq!(c.role(doc, &c.author()).unwrap(), Some(Role::Writer));

        // d hears of both sides, in either order; then everyone meets.
        if owner_first {
            sync(&a, &d, doc);
            sync(&c, &d, doc);
        } else {
            sync(&c, &d, doc);
            assert_eq!(d.state(doc).get("z").unwrap(), Some(Value::Int(1)));
            sync(&a, &d, doc);
        }
        let all = [&a, &b, &c, &d];
        for _ in 0..2 {
            for x in all {
                for y in all {
                    sync(x, y, doc);
                }
            }
        }
        for repo in all {
            for v in [gc, wc, wb] {
                assert!(repo.is_void(&v).unwrap(), "owner_first {owner_first}");
            }
            assert!(!repo.is_void(&gd).unwrap());
            assert!(!repo.is_void(&r).unwrap());
            assert_eq!(repo.state(doc).get("z").unwrap(), None);
            assert_eq!(repo.state(doc).get("y").unwrap(), None);
            assert_eq!(
                repo.members(doc).unwrap(),
                members(a.author(), &[(d.author(), Role::Writer)])
            );
            assert_eq!(repo.role(doc, &c.author()).unwrap(), None);
        }
        assert_converged(&all, doc);
        // Now that c knows, it cannot write; d still can.
        unauthorized(set(&c, doc, "z", 2i64), c.author(), Role::Writer, None);
        let wd = set(&d, doc, "w", 1i64).unwrap().cid;
        sync(&d, &a, doc);
        assert!(!a.is_void(&wd).unwrap());
        assert_eq!(a.state(doc).get("w").unwrap(), Some(Value::Int(1)));
    }
}

// ----- equivocation -----

#[test]
fn two_changes_with_one_seq_are_equivocation() {
    let (a, doc) = owned();
    let b = replica(&a, doc, 2);
    // Holds the genesis and b's grant only.
    let late = stranger(&a, doc, 3);
    let first = set(&b, doc, "x", 1i64).unwrap();
    sync(&b, &a, doc);
    let twin = Change {
        ops: vec![set_op("x", 2i64)],
        sig: [0; 64],
        ..first.change.clone()
    }
    .sign(&identity(2));
    assert_ne!(twin.cid, first.cid);
    assert_eq!(twin.change.seq, first.change.seq);

    let check = |err: Error| {
        let msg = err.to_string();
        match err {
            Error::Equivocation {
                author,
                seq,
                first: one,
                second,
            } => {
                assert_eq!(
                    (author, seq, one, second),
                    (b.author(), first.change.seq, first.cid, twin.cid)
                );
                assert!(msg.contains(&first.cid.to_string()), "{msg}");
                assert!(msg.contains(&twin.cid.to_string()), "{msg}");
            }
            other => panic!("expected Equivocation, got {other:?}"),
        }
    };
    for repo in [&a, &b] {
        let heads = repo.heads(doc).unwrap();
        check(apply(repo, &twin).unwrap_err());
        not_stored(repo, &twin.cid);
        assert_eq!(repo.heads(doc).unwrap(), heads);
        assert_eq!(repo.state(doc).get_all("x").unwrap(), vec![Value::Int(1)]);
        fsck_ok(repo);
    }
    // Both in one call, to a replica that had neither: the first is stored, the twin is not.
    check(
        late.apply_changes([block(&b, first.cid), (twin.cid, twin.bytes.clone())])
            .unwrap_err(),
    );
    assert!(late.has_change(&first.cid).unwrap());
    not_stored(&late, &twin.cid);
    assert_eq!(late.state(doc).get_all("x").unwrap(), vec![Value::Int(1)]);

    // The author's next change goes on as usual.
    let next = set(&b, doc, "x", 3i64).unwrap();
    assert_eq!(next.change.seq, first.change.seq + 1);
    sync(&b, &a, doc);
    sync(&b, &late, doc);
    assert_eq!(a.state(doc).get("x").unwrap(), Some(Value::Int(3)));
    assert_converged(&[&a, &b, &late], doc);
}

// ----- the property test -----

/// The replicas of the property test; replica `i` has the key of seed `i + 1`, and replica 0
/// is the owner's.
const N: usize = 3;

#[derive(Debug, Clone, Copy)]
enum Write {
    Set(i64),
    Del,
    Incr(i64),
    Add(i64),
    Remove(i64),
}

#[derive(Debug, Clone)]
enum Action {
    /// Replica `by` grants the key of replica `who` a role.
    Grant { by: usize, who: usize, role: Role },
    /// Replica `by` revokes the key of replica `who`.
    Revoke { by: usize, who: usize },
    /// Replica `at` writes (a refusal must be what the model says).
    Write { at: usize, write: Write },
    /// A random subset of `from`'s changes, shuffled, in one `apply_changes` to `to`.
    Sync {
        from: usize,
        to: usize,
        all: bool,
        seed: u64,
    },
}

/// Who grants or revokes: the owner half of the time, else B or C (refused unless an admin).
fn actor() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 1 => 1..N]
}

fn action() -> impl Strategy<Value = Action> {
    let role = prop_oneof![
        3 => Just(Role::Writer),
        2 => Just(Role::Admin),
        1 => Just(Role::Reader),
    ];
    let write = prop_oneof![
        3 => (-3i64..4).prop_map(Write::Set),
        1 => Just(Write::Del),
        2 => (-3i64..4).prop_map(Write::Incr),
        2 => (0i64..3).prop_map(Write::Add),
        1 => (0i64..3).prop_map(Write::Remove),
    ];
    prop_oneof![
        3 => (actor(), 1..N, role).prop_map(|(by, who, role)| Action::Grant { by, who, role }),
        2 => (actor(), 1..N).prop_map(|(by, who)| Action::Revoke { by, who }),
        6 => (0..N, write).prop_map(|(at, write)| Action::Write { at, write }),
        5 => (0..N, 0..N, prop::bool::weighted(0.6), any::<u64>())
            .prop_map(|(from, to, all, seed)| Action::Sync { from, to, all, seed }),
    ]
}

/// The rules of `weft_dag::acl`, written again from its docs, over the changes a replica holds.
struct Model {
    owner: Author,
    genesis: Cid,
    changes: BTreeMap<Cid, Change>,
    /// Every change's strict ancestors.
    anc: BTreeMap<Cid, BTreeSet<Cid>>,
    /// Every grant op: (change, who, role).
    grants: Vec<(Cid, Author, Role)>,
    /// Every revoke op: (change, who), the owner's first, then by height (the order does not
    /// change any answer; the owner's revokes count without recursion, so they go first).
    revokes: Vec<(Cid, Author)>,
}

/// The point a role is judged at: its strict ancestors, and the change itself unless it is a
/// change not made yet.
struct At<'a> {
    anc: &'a BTreeSet<Cid>,
    me: Option<Cid>,
}

impl Model {
    fn of(repo: &Repo, doc: DocId) -> Model {
        let mut changes: Vec<(Cid, Change)> = repo
            .log(doc)
            .map(|e| {
                let e = e.unwrap();
                (e.cid, e.change)
            })
            .collect();
        changes.sort_by_key(|(cid, c)| (c.height, *cid));
        let mut anc: BTreeMap<Cid, BTreeSet<Cid>> = BTreeMap::new();
        let (mut grants, mut revokes) = (Vec::new(), Vec::new());
        let owner = changes[0].1.author;
        for (cid, c) in &changes {
            let mut a = BTreeSet::new();
            for p in &c.parents {
                a.insert(*p);
                a.extend(anc[p].iter().copied());
            }
            anc.insert(*cid, a);
            for op in &c.ops {
                match op {
                    Op::Grant { who, role } => grants.push((*cid, *who, *role)),
                    Op::Revoke { who } => revokes.push((c.author != owner, c.height, *cid, *who)),
                    _ => {}
                }
            }
        }
        revokes.sort();
        assert!(changes[0].1.is_genesis());
        Model {
            owner,
            genesis: changes[0].0,
            anc,
            grants,
            revokes: revokes.into_iter().map(|(_, _, c, w)| (c, w)).collect(),
            changes: changes.into_iter().collect(),
        }
    }

    /// The judge of the whole DAG.
    fn all(&self) -> Judge<'_> {
        Judge {
            m: self,
            view: None,
            memo: RefCell::new(BTreeMap::new()),
        }
    }

    /// Whether a new change of `author` with `ops` on `heads` is accepted: `Err((needed, held))`
    /// if not.
    fn accepts(
        &self,
        heads: &[Cid],
        author: Author,
        ops: &[Op],
    ) -> Result<(), (Role, Option<Role>)> {
        let mut past = BTreeSet::new();
        for h in heads {
            past.insert(*h);
            past.extend(self.anc[h].iter().copied());
        }
        let judge = Judge {
            m: self,
            view: Some(past.clone()),
            memo: RefCell::new(BTreeMap::new()),
        };
        let at = At {
            anc: &past,
            me: None,
        };
        let need = judge
            .needs(ops, &at, 0)
            .expect("nobody revokes the owner here");
        let held = judge.role(author, &at, None, 0);
        if held >= Some(need) {
            Ok(())
        } else {
            Err((need, held))
        }
    }

    /// The live op ids of every key, for the changes that are not void.
    fn state(&self, void: &BTreeSet<Cid>) -> BTreeMap<String, Vec<OpId>> {
        let mut writes = Vec::new();
        let mut killed = BTreeSet::new();
        for (cid, c) in &self.changes {
            if void.contains(cid) {
                continue;
            }
            for (i, op) in c.ops.iter().enumerate() {
                let id = OpId {
                    change: *cid,
                    index: i as u32,
                };
                match op {
                    Op::Set { key, pred, .. } => {
                        writes.push((key.clone(), id));
                        killed.extend(pred.iter().map(|p| (key.clone(), *p)));
                    }
                    Op::Del { key, pred } => killed.extend(pred.iter().map(|p| (key.clone(), *p))),
                    Op::Incr { key, .. } | Op::Add { key, .. } => writes.push((key.clone(), id)),
                    Op::Remove { key, tags, .. } => {
                        killed.extend(tags.iter().map(|p| (key.clone(), *p)))
                    }
                    // This model covers registers, counters and sets.
                    _ => {}
                }
            }
        }
        let mut out: BTreeMap<String, Vec<OpId>> = BTreeMap::new();
        for (key, id) in writes {
            if !killed.contains(&(key.clone(), id)) {
                out.entry(key).or_default().push(id);
            }
        }
        for ids in out.values_mut() {
            ids.sort();
        }
        out
    }
}

/// Judges roles in one view: the whole DAG, or a new change's own past.
struct Judge<'m> {
    m: &'m Model,
    /// The changes it may look at; `None`: all.
    view: Option<BTreeSet<Cid>>,
    /// Whether each membership change counts; `None` while it is being judged.
    memo: RefCell<BTreeMap<Cid, Option<bool>>>,
}

impl Judge<'_> {
    fn sees(&self, cid: &Cid) -> bool {
        self.view.as_ref().is_none_or(|v| v.contains(cid))
    }

    /// The best role `who` holds at `at`, considering only grants of at least `min`.
    fn role(&self, who: Author, at: &At<'_>, min: Option<Role>, depth: u32) -> Option<Role> {
        assert!(depth < 200, "the rules recurse without end");
        if who == self.m.owner {
            return Some(Role::Owner);
        }
        let mut best = None;
        for &(g, k, role) in &self.m.grants {
            if k != who
                || !at.anc.contains(&g)
                || !self.sees(&g)
                || Some(role) <= best
                || Some(role) < min
                || !self.counts(g, depth + 1)
            {
                continue;
            }
            // Revoked by a counting revoke that the grant did not see and that did not see the
            // point (a revoke in the same change as the grant does not count against it).
            let revoked = self.m.revokes.iter().any(|&(r, k)| {
                k == who
                    && r != g
                    && self.sees(&r)
                    && !self.m.anc[&g].contains(&r)
                    && !at
                        .me
                        .is_some_and(|me| me == r || self.m.anc[&r].contains(&me))
                    && self.counts(r, depth + 1)
            });
            if !revoked {
                best = Some(role);
            }
        }
        best
    }

    /// The role `ops` need from their author at `at`; `None` for a revoke of the owner.
    fn needs(&self, ops: &[Op], at: &At<'_>, depth: u32) -> Option<Role> {
        let mut need = Role::Reader;
        for op in ops {
            let n = match op {
                Op::Genesis { .. } => Role::Owner,
                Op::Grant {
                    role: Role::Admin, ..
                } => Role::Owner,
                Op::Grant { .. } => Role::Admin,
                Op::Revoke { who } if *who == self.m.owner => return None,
                Op::Revoke { who } => {
                    if self.role(*who, at, Some(Role::Admin), depth + 1) >= Some(Role::Admin) {
                        Role::Owner
                    } else {
                        Role::Admin
                    }
                }
                _ => Role::Writer,
            };
            need = need.max(n);
        }
        Some(need)
    }

    /// Whether stored change `cid` counts in this view.
    fn counts(&self, cid: Cid, depth: u32) -> bool {
        match self.memo.borrow().get(&cid) {
            Some(Some(v)) => return *v,
            Some(None) => panic!("whether {cid} counts depends on itself"),
            None => {}
        }
        let c = &self.m.changes[&cid];
        if c.author == self.m.owner {
            return true;
        }
        self.memo.borrow_mut().insert(cid, None);
        let at = At {
            anc: &self.m.anc[&cid],
            me: Some(cid),
        };
        let v = self
            .needs(&c.ops, &at, depth)
            .is_some_and(|need| self.role(c.author, &at, None, depth) >= Some(need));
        self.memo.borrow_mut().insert(cid, Some(v));
        v
    }

    fn void(&self, cid: Cid) -> bool {
        cid != self.m.genesis && !self.counts(cid, 0)
    }

    /// The members now: the owner first, then the others by key.
    fn members(&self) -> Vec<Member> {
        let everything: BTreeSet<Cid> = self.m.changes.keys().copied().collect();
        let now = At {
            anc: &everything,
            me: None,
        };
        let keys: BTreeSet<Author> = self.m.grants.iter().map(|(_, k, _)| *k).collect();
        let others: Vec<(Author, Role)> = keys
            .into_iter()
            .filter(|k| *k != self.m.owner)
            .filter_map(|k| self.role(k, &now, None, 0).map(|r| (k, r)))
            .collect();
        members(self.m.owner, &others)
    }
}

/// The live op ids of every key of `doc` in `repo`.
fn live_ops(repo: &Repo, doc: DocId) -> BTreeMap<String, Vec<OpId>> {
    repo.state(doc)
        .entries("")
        .unwrap()
        .into_iter()
        .map(|(k, e)| {
            let mut ops = e.ops();
            ops.sort();
            (k, ops)
        })
        .collect()
}

/// Checks a replica's void set, state and members against the model of the changes it holds.
fn check(repo: &Repo, doc: DocId) -> Result<(), TestCaseError> {
    let model = Model::of(repo, doc);
    let judge = model.all();
    let void: BTreeSet<Cid> = model
        .changes
        .keys()
        .copied()
        .filter(|c| judge.void(*c))
        .collect();
    let stored: BTreeSet<Cid> = model
        .changes
        .keys()
        .copied()
        .filter(|c| repo.is_void(c).unwrap())
        .collect();
    prop_assert_eq!(&stored, &void);
    prop_assert!(!void.iter().any(|c| model.changes[c].author == model.owner));
    prop_assert_eq!(live_ops(repo, doc), model.state(&void));
    prop_assert_eq!(repo.members(doc).unwrap(), judge.members());
    Ok(())
}

/// Runs one local transaction of `ops` on `repo` and checks that it is refused exactly when the
/// model says so, with the roles the model names.
fn local(
    repo: &Repo,
    doc: DocId,
    write: impl FnOnce(&mut weft_dag::Transaction<'_>) -> Result<(), Error>,
) -> Result<(), TestCaseError> {
    let model = Model::of(repo, doc);
    let heads = repo.heads(doc).unwrap();
    let mut tx = repo.transaction(doc);
    match write(&mut tx) {
        Ok(()) => {}
        // Deleting or removing what is not there.
        Err(Error::KeyNotFound { .. }) => return Ok(()),
        Err(e) => return Err(TestCaseError::fail(format!("building the change: {e}"))),
    }
    let ops = tx.ops().to_vec();
    if ops.is_empty() {
        return Ok(());
    }
    let expected = model.accepts(&heads, repo.author(), &ops);
    match tx.commit() {
        Ok(Some(c)) => {
            prop_assert_eq!(expected, Ok(()), "{:?} was accepted", ops);
            prop_assert_eq!(repo.heads(doc).unwrap(), vec![c.cid]);
            // Accepted on its own past, it counts here: nothing here has revoked its author
            // without its past knowing.
            prop_assert!(!repo.is_void(&c.cid).unwrap());
        }
        Err(Error::Unauthorized {
            author,
            needed,
            held,
            cid,
        }) => {
            prop_assert_eq!(author, repo.author());
            prop_assert_eq!(expected, Err((needed, held)), "{:?} was refused", ops);
            prop_assert!(!repo.has_change(&cid).unwrap());
            prop_assert_eq!(repo.heads(doc).unwrap(), heads);
        }
        other => return Err(TestCaseError::fail(format!("commit of {ops:?}: {other:?}"))),
    }
    check(repo, doc)
}

/// Three replicas: the owner's (0) and those of keys B (1) and C (2), which the owner first
/// gives the `initial` roles. After every action the replica it touched is checked against the
/// model; at the end, after full syncs and with a fresh fourth replica that gets everything in
/// one shuffled call, every replica must hold the same changes, heads, members, state and void
/// set, agree with the model, and pass fsck.
fn run(initial: [Option<Role>; N - 1], actions: Vec<Action>) -> Result<(), TestCaseError> {
    let origin = Repo::memory(identity(1));
    let doc = origin.doc("main").unwrap();
    let mut repos = vec![origin];
    for seed in 2..=N as u8 {
        let r = Repo::memory(identity(seed));
        sync(&repos[0], &r, doc);
        repos.push(r);
    }
    let keys: Vec<Author> = repos.iter().map(Repo::author).collect();
    // The roles the owner gives B and C first, synced to both.
    for (who, role) in initial.into_iter().enumerate() {
        if let Some(role) = role {
            grant(&repos[0], doc, keys[who + 1], role);
        }
    }
    for r in &repos[1..] {
        sync(&repos[0], r, doc);
    }

    for action in actions {
        match action {
            Action::Grant { by, who, role } => local(&repos[by], doc, |tx| {
                tx.grant(keys[who], role)?;
                Ok(())
            })?,
            Action::Revoke { by, who } => local(&repos[by], doc, |tx| {
                tx.revoke(keys[who])?;
                Ok(())
            })?,
            Action::Write { at, write } => local(&repos[at], doc, |tx| {
                match write {
                    Write::Set(v) => tx.set("r", v)?,
                    Write::Del => tx.del("r")?,
                    Write::Incr(d) => tx.incr("n", d)?,
                    Write::Add(m) => tx.add("s", m)?,
                    Write::Remove(m) => tx.remove("s", m)?,
                };
                Ok(())
            })?,
            Action::Sync {
                from,
                to,
                all,
                seed,
            } => {
                let to = if to == from { (to + 1) % N } else { to };
                let mut rng = Rng::new(seed);
                let mut blocks = all_changes(&repos[from], doc);
                if !all {
                    blocks.retain(|_| rng.coin());
                }
                rng.shuffle(&mut blocks);
                match repos[to].apply_changes(blocks) {
                    Ok(_) | Err(Error::Orphans { .. }) => {}
                    Err(e) => {
                        return Err(TestCaseError::fail(format!("sync {from} -> {to}: {e}")));
                    }
                }
                check(&repos[to], doc)?;
            }
        }
    }

    // Full syncs, then a fresh replica that gets everything in one shuffled call.
    for _ in 0..2 {
        for i in 0..N {
            for j in 0..N {
                if i != j {
                    sync(&repos[i], &repos[j], doc);
                }
            }
        }
    }
    let fresh = Repo::memory(identity(9));
    let mut blocks = all_changes(&repos[0], doc);
    Rng::new(blocks.len() as u64).shuffle(&mut blocks);
    fresh.apply_changes(blocks).unwrap();
    repos.push(fresh);

    let first = &repos[0];
    let changes = change_set(first, doc);
    let heads = first.heads(doc).unwrap();
    let members = first.members(doc).unwrap();
    let entries = first.state(doc).entries("").unwrap();
    let void = void_set(first, doc);
    for r in &repos {
        prop_assert_eq!(&change_set(r, doc), &changes);
        prop_assert_eq!(&r.heads(doc).unwrap(), &heads);
        prop_assert_eq!(&r.members(doc).unwrap(), &members);
        prop_assert_eq!(&r.state(doc).entries("").unwrap(), &entries);
        prop_assert_eq!(&void_set(r, doc), &void);
        for key in ["r", "n", "s"] {
            prop_assert_eq!(
                r.state(doc).get_all(key).unwrap(),
                first.state(doc).get_all(key).unwrap()
            );
        }
        check(r, doc)?;
        let report = r.fsck().unwrap();
        prop_assert!(report.is_ok(), "fsck: {:?}", report.problems);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random grants, revokes, writes and partial syncs converge, to what the model says.
    #[test]
    fn random_grants_revokes_writes_and_syncs_converge_to_the_model(
        initial in prop::array::uniform2(prop::option::weighted(
            0.8,
            prop_oneof![Just(Role::Writer), Just(Role::Admin)],
        )),
        actions in prop::collection::vec(action(), 1..40),
    ) {
        run(initial, actions)?;
    }
}

#[test]
fn a_refused_change_does_not_take_the_valid_changes_after_it_down() {
    let (a, doc) = owned();
    let b = replica(&a, doc, 2);
    let good = set(&b, doc, "from-b", 1i64).unwrap();
    let heads = a.heads(doc).unwrap();
    let bad = hand(
        doc,
        heads.clone(),
        next_height(&a, &heads),
        7,
        1,
        vec![set_op("x", 1i64)],
    );
    // The refused change comes first in the call; the valid one after it still lands.
    let result = a.apply_changes([(bad.cid, bad.bytes.clone()), block(&b, good.cid)]);
    unauthorized(result, identity(7).author(), Role::Writer, None);
    not_stored(&a, &bad.cid);
    assert!(a.has_change(&good.cid).unwrap());
    assert_eq!(a.state(doc).get("from-b").unwrap(), Some(Value::Int(1)));
    fsck_ok(&a);
}
