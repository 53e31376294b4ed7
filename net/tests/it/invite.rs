//! Invites: redemption checks each hostile JOIN (replayed, by another key, altered, not issued
//! here, another key's, malformed, oversized) and refuses it in words without granting; uses
//! are counted once under concurrency; a join over real `tcp://` redeems and clones on one link.

use std::{
    net::TcpListener,
    sync::{Arc, Barrier},
    thread,
    time::Duration,
};

use weft_dag::{DocId, Identity, Repo, Role};
use weft_net::{
    invite::{self, Options},
    server::{self, ServeOptions},
};
use weft_sync::{
    frame::{Frame, JOIN, MAX_FRAME},
    invite::{Invite, InviteId, Join, Ticket, MAX_JOIN},
    refusal::Reason,
};

use crate::{identity, noise::as_key};

/// A repo of seed 1 with `main` (its owner) holding `k`.
fn inviter() -> (Repo, DocId) {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    let mut tx = repo.transaction(doc);
    tx.set("k", weft_dag::Value::from(1)).unwrap();
    tx.commit().unwrap();
    (repo, doc)
}

fn options(doc: DocId, role: Role, uses: u64) -> Options {
    Options {
        role,
        docs: vec![doc],
        ttl: Duration::from_secs(3600),
        uses,
        peers: vec!["tcp://127.0.0.1:1".into()],
        name: None,
    }
}

const LINK: [u8; 32] = [4; 32];

#[test]
fn a_join_is_granted_once_and_every_hostile_variant_is_refused() {
    let (repo, doc) = inviter();
    let ticket = invite::create(&repo, &identity(1), &options(doc, Role::Writer, 1)).unwrap();
    let joiner = identity(2).author();
    let stranger = identity(3).author();
    let join = Join::new(&ticket, &LINK, &joiner);
    let now = invite::now_secs();

    // Replayed on another link, or presented by another key: the proof does not hold.
    let e = invite::redeem(&repo, joiner, &[5; 32], &join, now).unwrap_err();
    assert!(e.to_string().contains("proof"), "{e}");
    let e = invite::redeem(&repo, stranger, &LINK, &join, now).unwrap_err();
    assert!(e.to_string().contains("proof"), "{e}");
    // An altered role: the inviter's signature no longer holds.
    let mut altered = join.clone();
    altered.invite.role = Role::Admin;
    let e = invite::redeem(&repo, joiner, &LINK, &altered, now).unwrap_err();
    assert!(e.to_string().contains("does not verify"), "{e}");
    // Past its expiry.
    let e = invite::redeem(&repo, joiner, &LINK, &join, now + 7200).unwrap_err();
    assert!(e.to_string().contains("expired at"), "{e}");
    assert_eq!(
        repo.role(doc, &joiner).unwrap(),
        None,
        "nothing granted yet"
    );

    let joined = invite::redeem(&repo, joiner, &LINK, &join, now).unwrap();
    assert_eq!(joined.role, Role::Writer);
    assert_eq!(joined.docs, vec![doc]);
    assert_eq!(repo.role(doc, &joiner).unwrap(), Some(Role::Writer));
    // The same JOIN again (single use).
    let e = invite::redeem(&repo, joiner, &LINK, &join, now).unwrap_err();
    assert!(e.to_string().contains("already used (1 of 1 uses)"), "{e}");
    assert_eq!(invite::list(&repo).unwrap()[0].used, 1);
}

#[test]
fn invites_not_issued_here_are_refused() {
    let (repo, doc) = inviter();
    let joiner = identity(2).author();
    let now = invite::now_secs();
    // Signed by this repo's key but never recorded (made elsewhere, or its record lost).
    let (id, secret) = Ticket::new_key();
    let invite = Invite::sign(&identity(1), id, Role::Writer, vec![doc], now + 60, 1);
    let ticket = Ticket::new(None, vec!["tcp://h:1".into()], invite, secret).unwrap();
    let e = invite::redeem(
        &repo,
        joiner,
        &LINK,
        &Join::new(&ticket, &LINK, &joiner),
        now,
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown here"), "{e}");
    // Signed by another key.
    let (id, secret) = Ticket::new_key();
    let invite = Invite::sign(&identity(9), id, Role::Writer, vec![doc], now + 60, 1);
    let ticket = Ticket::new(None, vec!["tcp://h:1".into()], invite, secret).unwrap();
    let e = invite::redeem(
        &repo,
        joiner,
        &LINK,
        &Join::new(&ticket, &LINK, &joiner),
        now,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("not issued by this replica's key"),
        "{e}"
    );
    assert_eq!(repo.role(doc, &joiner).unwrap(), None);
}

#[test]
fn malformed_and_oversized_joins_are_refused_with_a_refuse_frame() {
    let (repo, _) = inviter();
    let joiner = identity(2).author();
    let mut oversized = vec![JOIN];
    oversized.extend(vec![0xa1; MAX_JOIN + 1]);
    for body in [
        vec![JOIN],
        vec![JOIN, 0xff, 0x00],
        oversized,
        vec![0x01, 0xa0],
    ] {
        let mut wire = Vec::new();
        let e = invite::answer(&repo, joiner, &LINK, &body, &mut wire).unwrap_err();
        assert!(matches!(e, invite::Refused::Malformed(_)), "{e}");
        let len = u32::from_be_bytes(wire[..4].try_into().unwrap()) as usize;
        assert!(len <= MAX_FRAME);
        match Frame::decode(&wire[4..4 + len]).unwrap() {
            Frame::Refuse(r) => assert_eq!(r.reason, Reason::Other(e.to_string())),
            other => panic!("not a refusal: {other:?}"),
        }
    }
}

#[test]
fn an_invite_never_lowers_a_role_and_cannot_be_made_without_admin() {
    let (repo, doc) = inviter();
    let admin = identity(2);
    weft_testkit::grant(&repo, doc, admin.author(), Role::Admin);
    let ticket = invite::create(&repo, &identity(1), &options(doc, Role::Reader, 1)).unwrap();
    let join = Join::new(&ticket, &LINK, &admin.author());
    invite::redeem(&repo, admin.author(), &LINK, &join, invite::now_secs()).unwrap();
    assert_eq!(repo.role(doc, &admin.author()).unwrap(), Some(Role::Admin));

    // A key that administers nothing, and options that make no sense.
    let other = Repo::memory(identity(5));
    let e = invite::create(&other, &identity(5), &options(doc, Role::Writer, 1)).unwrap_err();
    assert_eq!(e.kind(), weft_dag::ErrorKind::NotFound, "{e}");
    let e = invite::create(&repo, &identity(1), &options(doc, Role::Owner, 1)).unwrap_err();
    assert!(e.to_string().contains("owner"), "{e}");
    let e = invite::create(&repo, &identity(1), &options(doc, Role::Writer, 0)).unwrap_err();
    assert!(e.to_string().contains("at least 1 use"), "{e}");
    let e = invite::create(&repo, &identity(9), &options(doc, Role::Writer, 1)).unwrap_err();
    assert!(
        e.to_string().contains("not the key this repo signs with"),
        "{e}"
    );
}

#[test]
fn concurrent_redemptions_are_counted_once_each() {
    let (repo, doc) = inviter();
    let repo = Arc::new(repo);
    let ticket = invite::create(&repo, &identity(1), &options(doc, Role::Writer, 3)).unwrap();
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let repo = Arc::clone(&repo);
            let ticket = ticket.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let joiner = identity(10 + i as u8).author();
                let join = Join::new(&ticket, &LINK, &joiner);
                barrier.wait();
                invite::redeem(&repo, joiner, &LINK, &join, invite::now_secs()).is_ok()
            })
        })
        .collect();
    let granted = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(granted, 3);
    assert_eq!(invite::list(&repo).unwrap()[0].used, 3);
    let writers = repo
        .members(doc)
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::Writer)
        .count();
    assert_eq!(writers, 3);
}

#[test]
fn revoke_takes_a_unique_prefix() {
    let (repo, doc) = inviter();
    let t = invite::create(&repo, &identity(1), &options(doc, Role::Writer, 1)).unwrap();
    let id: InviteId = t.invite.id;
    assert!(matches!(
        invite::revoke(&repo, "zz"),
        Err(invite::Error::BadOptions(_))
    ));
    assert!(matches!(
        invite::revoke(&repo, &"0".repeat(64)),
        Err(invite::Error::UnknownInvite(_))
    ));
    let r = invite::revoke(&repo, &id.short()).unwrap();
    assert!(r.revoked);
    let join = Join::new(&t, &LINK, &identity(2).author());
    let e = invite::redeem(
        &repo,
        identity(2).author(),
        &LINK,
        &join,
        invite::now_secs(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
}

#[test]
fn join_over_tcp_redeems_and_clones_on_one_link() {
    let (repo, doc) = inviter();
    let repo = Arc::new(repo);
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served_at = |a: std::net::SocketAddr| format!("tcp://{}@{a}", identity(1).author());
    let mut opts = options(doc, Role::Writer, 1);
    // A URL of a transport this build does not speak, and one where nobody listens, come
    // first: both are skipped.
    opts.peers = vec!["iroh://nodeid".into(), served_at(closed), served_at(addr)];
    let ticket = invite::create(&repo, &identity(1), &opts).unwrap();
    let served = Arc::clone(&repo);
    thread::spawn(move || {
        server::serve_tcp(served, listener, identity(1), ServeOptions::default())
    });

    let joiner = identity(2);
    let b = Repo::memory(joiner.clone());
    let done = invite::join(&b, &ticket, &as_key(&joiner), &mut |_| {}).unwrap();
    assert_eq!(done.server_key, identity(1).author());
    assert_eq!(done.joined.role, Role::Writer);
    assert_eq!(done.skipped.len(), 2, "{:?}", done.skipped);
    assert!(
        done.skipped[0].1.contains("unknown scheme"),
        "{:?}",
        done.skipped
    );
    assert_eq!(b.heads(doc).unwrap(), repo.heads(doc).unwrap());
    assert_eq!(
        repo.role(doc, &joiner.author()).unwrap(),
        Some(Role::Writer)
    );
    // Used up: the second join, into a new directory, is refused by the server, in words, and
    // leaves no directory behind.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let e = invite::join_new(&dir, &ticket, &as_key(&identity(3)), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");
    assert_eq!(e.kind(), weft_dag::ErrorKind::Denied);
    assert!(!dir.exists());
    assert_eq!(repo.role(doc, &identity(3).author()).unwrap(), None);
}

#[test]
fn keyspace_tags_are_unique_across_layers() {
    let mut all = weft_dag::keys::ALL.to_vec();
    all.push(weft_sync::keys::SYNC_PEERS);
    all.push(weft_net::invite::records::INVITES);
    weft_testkit::check_unique(&all).unwrap();
}

#[test]
fn a_ticket_of_no_usable_url_says_what_was_tried() {
    let (repo, doc) = inviter();
    let mut opts = options(doc, Role::Writer, 1);
    opts.peers = vec!["iroh://x".into()];
    let ticket = invite::create(&repo, &identity(1), &opts).unwrap();
    let j = Identity::generate();
    let e = invite::join(&Repo::memory(j.clone()), &ticket, &as_key(&j), &mut |_| {}).unwrap_err();
    assert_eq!(e.kind(), weft_dag::ErrorKind::Network);
    assert!(e.to_string().contains("iroh://x"), "{e}");
}

/// The invites' keyspace shares no tag with the store's, the dag's or sync's.
#[test]
fn the_invites_keyspace_is_its_own() {
    let mut all = weft_dag::keys::ALL.to_vec();
    all.push(weft_sync::keys::SYNC_PEERS);
    all.push(weft_net::invite::records::INVITES);
    weft_testkit::check_unique(&all).unwrap();
}
