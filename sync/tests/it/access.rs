//! Read and write access ([`weft_sync::access`]): a key sees and is served only the documents
//! where it holds a role (or everything, with `--allow`), pushes only where it is a writer, and
//! an unauthorised key learns nothing, not even a document id.

use weft_dag::{Author, Cid, DocId, Repo, Role, Value};
use weft_sync::{
    frame::{DocReq, Frame, Hello, Request, REFUSED},
    pump,
    refusal::Reason,
    Access, Direction, Endpoint, Error, Initiator, Responder,
};

use crate::{assert_fsck, empty, identity, opts};

/// The owner (seed 1) of `main` and `secret`; `main` has a reader (seed 3) and a writer (seed
/// 4). Returns the repo and the two documents.
fn owner() -> (Repo, DocId, DocId) {
    let repo = empty(1);
    let main = repo.create_doc("main").unwrap();
    let secret = repo.create_doc("secret").unwrap();
    for (doc, key) in [(main, "m"), (secret, "s")] {
        let mut tx = repo.transaction(doc);
        tx.set(key, Value::from("v")).unwrap();
        tx.commit().unwrap();
    }
    let mut tx = repo.transaction(main);
    tx.grant(reader(), Role::Reader).unwrap();
    tx.grant(writer(), Role::Writer).unwrap();
    tx.commit().unwrap();
    (repo, main, secret)
}

fn reader() -> Author {
    identity(3).author()
}

fn writer() -> Author {
    identity(4).author()
}

fn stranger() -> Author {
    identity(5).author()
}

/// Every frame `r` has to send now.
fn drain(r: &mut dyn Endpoint) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while let Some(f) = r.poll_transmit().unwrap() {
        v.push(f);
    }
    v
}

fn decode(f: &[u8]) -> Frame {
    Frame::decode(&f[4..]).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A pull by `client` from `server` as `key`.
fn pull_as(client: &Repo, server: &Repo, key: Author, allow: &[Author]) -> Result<(), Error> {
    let mut i = Initiator::new(client, opts(Direction::Pull)).unwrap();
    let mut r = Responder::with_access(server, Access::peer(key, allow)).unwrap();
    pump(&mut i, &mut r, None)
}

#[test]
fn a_key_with_no_role_is_refused_and_learns_no_document_id() {
    let (server, main, secret) = owner();
    let words = format!(
        "{REFUSED}key {} may read no document here (ask the owner to grant it a role, or to \
         serve with --allow {})",
        stranger(),
        stranger()
    );
    // The refusal answers the peer's HELLO: a REFUSE frame to a peer that speaks version 3, an
    // ERROR in words to one that speaks only 1 and 2.
    for (versions, typed) in [(vec![1, 2], false), (vec![1, 2, 3], true)] {
        let mut r = Responder::with_access(&server, Access::peer(stranger(), &[])).unwrap();
        assert!(drain(&mut r).is_empty(), "nothing before the peer's HELLO");
        assert!(r.refusal().is_some());
        let hello = Hello {
            removed: None,
            versions,
            replica: vec![7; 16],
            docs: None,
        };
        r.handle(&Frame::Hello(hello).encode()[4..]).unwrap();
        let frames = drain(&mut r);
        assert_eq!(frames.len(), 1, "only the refusal, no HELLO");
        assert!(r.is_done());
        let msg = match decode(&frames[0]) {
            Frame::Error(msg) if !typed => msg,
            Frame::Refuse(refusal) if typed => {
                assert_eq!(refusal.reason, Reason::NothingReadable);
                assert_eq!((refusal.key, refusal.doc), (Some(stranger()), None));
                refusal.to_string()
            }
            f => panic!("{f:?}"),
        };
        assert_eq!(msg, words);
        for doc in [main, secret] {
            assert!(!contains(&frames[0], &doc.0.to_bytes()));
            assert!(!msg.contains(&doc.to_string()));
        }
    }

    // Through a session: the initiator gets a typed refusal, and nothing.
    let client = empty(5);
    let e = pull_as(&client, &server, stranger(), &[]).unwrap_err();
    match &e {
        Error::Refused { reason } => {
            assert_eq!(reason.reason, Reason::NothingReadable);
            assert!(reason.to_string().starts_with(REFUSED), "{reason}");
            assert!(
                reason.to_string().contains(&stranger().to_string()),
                "{reason}"
            );
            assert_eq!(reason.to_string(), words);
        }
        e => panic!("{e:?}"),
    }
    // An initiator of version 2 gets the same words, from an ERROR frame.
    let mut i = Initiator::new(&client, opts(Direction::Pull))
        .unwrap()
        .max_version(2);
    let mut r = Responder::with_access(&server, Access::peer(stranger(), &[])).unwrap();
    match pump(&mut i, &mut r, None).unwrap_err() {
        Error::Refused { reason } => {
            assert_eq!(
                reason.reason,
                Reason::Other(words[REFUSED.len()..].to_string())
            );
            assert_eq!(reason.to_string(), words);
        }
        e => panic!("{e:?}"),
    }
    assert!(client.doc_ids().unwrap().is_empty());
    // The access policy says the same.
    let access = Access::peer(stranger(), &[]);
    assert!(access.readable(&server).unwrap().is_empty());
    assert!(access.refusal(&server).unwrap().is_some());
    assert!(!access.may_read(&server, main).unwrap());
}

#[test]
fn a_reader_is_served_only_its_documents() {
    let (server, main, secret) = owner();
    let client = empty(3);
    pull_as(&client, &server, reader(), &[]).unwrap();
    assert_eq!(client.doc_ids().unwrap(), vec![main]);
    assert!(client.heads(secret).unwrap().is_empty());
    assert_eq!(client.heads(main).unwrap(), server.heads(main).unwrap());
    assert_eq!(client.doc("main").unwrap(), main);
    assert!(client.doc("secret").is_err(), "not even its name");
    assert_fsck(&client);

    // The HELLO lists only `main`; no byte of it names `secret`.
    let mut r = Responder::with_access(&server, Access::peer(reader(), &[])).unwrap();
    let frames = drain(&mut r);
    let Frame::Hello(Hello {
        docs: Some(docs), ..
    }) = decode(&frames[0])
    else {
        panic!()
    };
    assert_eq!(docs.iter().map(|d| d.doc).collect::<Vec<_>>(), vec![main.0]);
    assert!(!contains(&frames[0], &secret.0.to_bytes()));
    assert!(!contains(&frames[0], b"secret"));
}

/// A request of the initiator about `docs`, wanting their changes, with `need`.
fn request(docs: Vec<DocReq>, need: Vec<Cid>) -> Frame {
    Frame::Request(Request { docs, need })
}

fn want(doc: Cid, heads: Vec<Cid>, samples: Vec<Cid>, base: Vec<Cid>) -> DocReq {
    DocReq {
        doc,
        name: Some("x".into()),
        heads,
        have: vec![],
        base,
        samples,
        want: true,
        push: false,
        bloom: None,
    }
}

#[test]
fn a_document_the_key_may_not_read_is_answered_as_one_that_is_not_there() {
    let (server, main, secret) = owner();
    let secret_heads = server.heads(secret).unwrap();
    // A document id that exists nowhere, and CIDs that exist nowhere.
    let nowhere = empty(9);
    let absent = nowhere.create_doc("x").unwrap();
    let mut tx = nowhere.transaction(absent);
    tx.set("k", Value::from(1)).unwrap();
    let absent_head = tx.commit().unwrap().unwrap().cid;

    // The same questions about `secret` (naming its real changes) and about `absent`; and
    // `need` asks for the genesis of `secret` by CID.
    let req = request(
        vec![
            want(
                secret.0,
                secret_heads.clone(),
                secret_heads.clone(),
                secret_heads.clone(),
            ),
            want(
                absent.0,
                vec![absent_head],
                vec![absent_head],
                vec![absent_head],
            ),
            // About `main`, naming changes of `secret` as if they were `main`'s.
            want(main.0, secret_heads.clone(), secret_heads.clone(), vec![]),
        ],
        vec![secret.0],
    );
    let answer = |access: Access| -> Vec<Frame> {
        let mut r = Responder::with_access(&server, access).unwrap();
        drain(&mut r);
        let hello = Hello {
            removed: None,
            versions: vec![1],
            replica: vec![7; 16],
            docs: None,
        };
        for f in [Frame::Hello(hello), req.clone(), Frame::End] {
            r.handle(&f.encode()[4..]).unwrap();
        }
        drain(&mut r).iter().map(|f| decode(f)).collect()
    };
    let restricted = answer(Access::peer(reader(), &[]));
    let trusted = answer(Access::trusted());
    let (Frame::Reply(reply), Frame::Reply(full)) = (&restricted[0], &trusted[0]) else {
        panic!("{restricted:?}")
    };
    let view = |d: &weft_sync::frame::DocRep| {
        (
            d.heads.clone(),
            d.have.clone(),
            d.base_ok,
            d.bloom.clone(),
            d.want_summary,
        )
    };
    // To the reader, `secret` is exactly what an absent document is to anyone.
    assert_eq!(view(&reply.docs[0]), view(&full.docs[1]));
    assert_eq!(view(&reply.docs[1]), view(&full.docs[1]));
    assert!(reply.docs[0].heads.is_empty() && !reply.docs[0].base_ok);
    // While a trusted peer is told the truth (so the comparison above could fail).
    assert_eq!(full.docs[0].heads, secret_heads);
    assert!(full.docs[0].base_ok);
    // Changes of `secret` named under `main` are not confirmed either.
    assert!(reply.docs[2].have.is_empty());
    assert!(!full.docs[2].have.is_empty());
    // Nothing is sent: not the change asked for by CID, which a trusted peer gets.
    assert_eq!(reply.n_blocks, 0);
    assert!(matches!(&restricted[1..], [Frame::End]), "{restricted:?}");
    assert!(trusted.iter().any(|f| matches!(
        f,
        Frame::Block(b) if Cid::hash(weft_dag::Codec::DagCbor, b) == secret.0
    )));
    let _ = main;
}

/// `relay` (seed 3, a reader of main) holds a change of the writer (seed 4) that the server
/// lacks.
fn relay_with_news() -> (Repo, Repo, DocId, Cid) {
    let (server, main, _) = owner();
    let w = empty(4);
    crate::sync(&w, &server, Direction::Pull);
    let mut tx = w.transaction(main);
    tx.set("m", Value::from("from the writer")).unwrap();
    let news = tx.commit().unwrap().unwrap().cid;
    // The relay has `main` only (as a reader it could not have got `secret` from the server).
    let relay = empty(3);
    let only_main = weft_sync::SyncOptions {
        direction: Direction::Pull,
        docs: Some(vec!["main".into()]),
    };
    let mut i = Initiator::new(&relay, only_main).unwrap();
    pump(&mut i, &mut Responder::new(&w).unwrap(), None).unwrap();
    assert!(relay.has_change(&news).unwrap());
    (server, relay, main, news)
}

#[test]
fn a_reader_cannot_push() {
    let (server, relay, main, news) = relay_with_news();
    let mut i = Initiator::new(&relay, opts(Direction::Push)).unwrap();
    let mut r = Responder::with_access(&server, Access::peer(reader(), &[])).unwrap();
    let e = pump(&mut i, &mut r, None).unwrap_err();
    match &e {
        Error::Refused { reason } => {
            assert_eq!(
                reason.to_string(),
                format!(
                    "{REFUSED}key {} may read but not write document {main}",
                    reader()
                )
            );
            assert_eq!(
                (&reason.reason, reason.key, reason.doc),
                (&Reason::ReadOnly, Some(reader()), Some(main))
            );
        }
        e => panic!("{e:?}"),
    }
    assert!(
        !server.has_change(&news).unwrap(),
        "nothing of the push landed"
    );
    assert_eq!(r.refusal().map(ToString::to_string), Some(e.to_string()));
    // An --allow key reads, but cannot push either.
    let mut i = Initiator::new(&relay, opts(Direction::Both)).unwrap();
    let mut r = Responder::with_access(&server, Access::peer(stranger(), &[stranger()])).unwrap();
    let e = pump(&mut i, &mut r, None).unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert!(!server.has_change(&news).unwrap());

    // The writer may.
    let mut i = Initiator::new(&relay, opts(Direction::Push)).unwrap();
    let mut r = Responder::with_access(&server, Access::peer(writer(), &[])).unwrap();
    pump(&mut i, &mut r, None).unwrap();
    assert!(server.has_change(&news).unwrap());
    assert_fsck(&server);
}

#[test]
fn a_block_smuggled_without_a_push_is_refused_and_not_applied() {
    let (server, relay, main, news) = relay_with_news();
    let mut r = Responder::with_access(&server, Access::peer(reader(), &[])).unwrap();
    drain(&mut r);
    let hello = Hello {
        removed: None,
        versions: vec![1],
        replica: vec![7; 16],
        docs: None,
    };
    r.handle(&Frame::Hello(hello).encode()[4..]).unwrap();
    // A request that claims not to push, then the block anyway.
    let req = request(vec![want(main.0, vec![], vec![], vec![])], vec![]);
    r.handle(&req.encode()[4..]).unwrap();
    r.handle(&Frame::Block(relay.block(&news).unwrap()).encode()[4..])
        .unwrap();
    let frames: Vec<Frame> = drain(&mut r).iter().map(|f| decode(f)).collect();
    assert!(
        matches!(&frames[..], [Frame::Error(m)] if m.contains("may read but not write")),
        "{frames:?}"
    );
    // The rest of the turn is read and dropped; the session is over at its end.
    r.handle(&Frame::Block(vec![1, 2, 3]).encode()[4..])
        .unwrap();
    r.handle(&Frame::End.encode()[4..]).unwrap();
    assert!(r.is_done());
    assert!(!server.has_change(&news).unwrap());
    assert_fsck(&server);
}

#[test]
fn a_key_cannot_create_a_document_on_the_server() {
    let (server, _, _) = owner();
    let client = empty(4);
    crate::sync(&client, &server, Direction::Pull);
    let mine = client.create_doc("mine").unwrap();
    // Offered without a name, as `weft push` does by default over TCP, it is not offered: the
    // push of everything else goes through (it is in sync already).
    let mut i = Initiator::new(&client, opts(Direction::Both))
        .unwrap()
        .only_announced();
    let mut r = Responder::with_access(&server, Access::peer(writer(), &[])).unwrap();
    pump(&mut i, &mut r, None).unwrap();
    assert_eq!(i.stats().changes_out, 0);
    // Named, it is refused.
    let named = weft_sync::SyncOptions {
        direction: Direction::Push,
        docs: Some(vec!["mine".into()]),
    };
    let mut i = Initiator::new(&client, named.clone()).unwrap();
    let mut r = Responder::with_access(&server, Access::peer(writer(), &[])).unwrap();
    let e = pump(&mut i, &mut r, None).unwrap_err();
    match &e {
        // Worded as for a document the key may not read: nothing leaks.
        Error::Refused { reason } => {
            assert_eq!(
                reason.to_string(),
                format!(
                    "{REFUSED}no document {mine} is shared with key {}",
                    writer()
                )
            );
            assert_eq!(reason.reason, Reason::NotShared);
        }
        e => panic!("{e:?}"),
    }
    assert!(server.heads(mine).unwrap().is_empty());
    // The same for a key that --allow lets read everything: everything that is here.
    let mut i = Initiator::new(&client, named.clone()).unwrap();
    let mut r = Responder::with_access(&server, Access::peer(writer(), &[writer()])).unwrap();
    let e = pump(&mut i, &mut r, None).unwrap_err();
    assert!(
        matches!(&e, Error::Refused { reason } if reason.to_string().contains("no document")),
        "{e:?}"
    );
    assert!(server.heads(mine).unwrap().is_empty());
}
