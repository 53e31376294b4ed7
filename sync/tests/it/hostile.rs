//! Hostile or broken peers: a hand-driven endpoint fed crafted frames, or a fake peer. Every
//! case must end in a typed error (never a panic), store nothing the peer should not have got
//! in, and leave the victim passing fsck.

use std::io::Cursor;

use weft_dag::{change::DecodeError, change::VerifyError, Cid, Codec, DocId, Repo};
use weft_sync::{
    frame::{DocAd, DocRep, Frame, Hello, Reply, Request, MAX_FRAME},
    run, zblocks, Direction, Endpoint, Error, Initiator, Responder, MAX_ROUNDS,
};

use crate::{assert_fsck, edit, empty, opts, writer_clone};

/// A peer's HELLO: version 1, some replica id, and the documents (a responder's) or none.
fn hello(docs: Option<Vec<DocAd>>) -> Frame {
    hello_v(&[1], docs)
}

/// A peer's HELLO speaking `versions`.
fn hello_v(versions: &[u32], docs: Option<Vec<DocAd>>) -> Frame {
    Frame::Hello(Hello {
        removed: None,
        versions: versions.to_vec(),
        replica: vec![7; 16],
        docs,
    })
}

/// Hands `victim` one frame (as its body), after taking whatever it had to send.
fn give(victim: &mut dyn Endpoint, frame: &Frame) -> Result<Vec<Frame>, Error> {
    let out = drain(victim)?;
    victim.handle(&frame.encode()[4..])?;
    Ok(out)
}

/// Every frame `victim` has to send now, decoded.
fn drain(victim: &mut dyn Endpoint) -> Result<Vec<Frame>, Error> {
    let mut out = Vec::new();
    while let Some(f) = victim.poll_transmit()? {
        out.push(Frame::decode(&f[4..]).unwrap());
    }
    Ok(out)
}

/// Hands `victim` the frames in order; the first error ends it (and aborts the victim, as the
/// drivers do).
fn feed(victim: &mut dyn Endpoint, frames: &[Frame]) -> Result<(), Error> {
    let result = frames.iter().try_for_each(|f| give(victim, f).map(|_| ()));
    if result.is_err() {
        victim.abort();
    }
    result
}

/// A repo with a document `main` and `n` changes after its genesis.
fn source(n: usize) -> (Repo, DocId) {
    let repo = empty(1);
    let doc = repo.create_doc("main").unwrap();
    edit(&repo, doc, "k", n);
    (repo, doc)
}

/// The changes of `doc`, parents first, as `(cid, bytes)`.
fn blocks(repo: &Repo, doc: DocId) -> Vec<(Cid, Vec<u8>)> {
    let heads = repo.heads(doc).unwrap();
    repo.ancestors(&heads)
        .unwrap()
        .into_iter()
        .map(|(_, c)| (c, repo.block(&c).unwrap()))
        .collect()
}

/// A request that pushes `doc` with the given heads.
fn push_request(doc: DocId, heads: Vec<Cid>) -> Frame {
    Frame::Request(Request {
        docs: vec![weft_sync::frame::DocReq {
            doc: doc.0,
            name: None,
            heads,
            have: vec![],
            base: vec![],
            samples: vec![],
            want: false,
            push: true,
            bloom: None,
        }],
        need: vec![],
    })
}

fn malformed_to_both(body: &[u8]) -> Vec<Error> {
    let repo = empty(2);
    let mut errors = Vec::new();
    let mut r = Responder::new(&repo).unwrap();
    errors.push(r.handle(body).unwrap_err());
    let mut i = Initiator::new(&repo, opts(Direction::Both)).unwrap();
    errors.push(i.handle(body).unwrap_err());
    // And in the middle of a session.
    let mut r = Responder::new(&repo).unwrap();
    give(&mut r, &hello(None)).unwrap();
    errors.push(r.handle(body).unwrap_err());
    r.abort();
    assert_fsck(&repo);
    errors
}

#[test]
fn garbage_bytes_are_malformed() {
    for body in [
        &b"\x00"[..],
        b"\xff\xfe\xfd garbage",
        b"\x01not cbor at all",
        b"\x02\xa1\x61x\x01",
        b"\x03\x80",
        b"\x05trailing",
        b"\x06\x00",
    ] {
        for e in malformed_to_both(body) {
            assert!(matches!(e, Error::Malformed { .. }), "{body:?}: {e:?}");
            assert!(e.is_peer_fault());
        }
    }
}

#[test]
fn an_empty_body_is_malformed() {
    for e in malformed_to_both(b"") {
        assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
    }
}

#[test]
fn an_unknown_tag_is_malformed_and_named() {
    for e in malformed_to_both(b"\x42") {
        match e {
            Error::Malformed { reason, .. } => assert!(reason.contains("0x42"), "{reason}"),
            e => panic!("{e:?}"),
        }
    }
}

/// A frame length over the limit is refused from the header alone, before reading (or
/// allocating) the body; the driver tells the peer why in an ERROR frame.
#[test]
fn a_frame_over_the_limit_is_refused_by_the_driver() {
    let repo = empty(2);
    for len in [MAX_FRAME as u32 + 1, u32::MAX] {
        let mut r = Responder::new(&repo).unwrap();
        let mut out = Vec::new();
        let input = Cursor::new(len.to_be_bytes().to_vec());
        let e = run(&mut r, input, &mut out, "test peer", 30, &mut |_| {}).unwrap_err();
        match e {
            Error::FrameTooLarge { len: l, max } => {
                assert_eq!((l, max), (u64::from(len), MAX_FRAME as u64));
            }
            e => panic!("{e:?}"),
        }
        // Our HELLO went out, then an ERROR naming the problem.
        let mut frames = Vec::new();
        let mut cursor = Cursor::new(out);
        let mut buf = Vec::new();
        while weft_sync::frame::read_frame(&mut cursor, &mut buf).unwrap() {
            frames.push(Frame::decode(&buf).unwrap());
        }
        assert!(matches!(frames[0], Frame::Hello(_)));
        match frames.last().unwrap() {
            Frame::Error(msg) => assert!(msg.contains("frame of"), "{msg}"),
            f => panic!("{f:?}"),
        }
    }
    // A frame of exactly the limit is read (and then judged on its content).
    let mut r = Responder::new(&repo).unwrap();
    let mut input = (MAX_FRAME as u32).to_be_bytes().to_vec();
    input.push(0x42);
    input.resize(4 + MAX_FRAME, 0);
    let e = run(
        &mut r,
        Cursor::new(input),
        Vec::new(),
        "test peer",
        30,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
    assert_fsck(&repo);
}

#[test]
fn a_stream_cut_inside_a_frame_is_a_closed_link() {
    let repo = empty(2);
    let mut r = Responder::new(&repo).unwrap();
    let mut input = 100u32.to_be_bytes().to_vec();
    input.extend_from_slice(b"\x01only a part");
    let e = run(
        &mut r,
        Cursor::new(input),
        Vec::new(),
        "test peer",
        30,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, Error::Closed { .. }), "{e:?}");
    assert_fsck(&repo);
}

#[test]
fn a_block_that_is_not_a_change_is_refused() {
    let repo = empty(2);
    let (src, doc) = source(0);
    let mut r = Responder::new(&repo).unwrap();
    let junk = b"\xa1\x61x\x01".to_vec();
    let e = feed(
        &mut r,
        &[
            hello(None),
            push_request(doc, src.heads(doc).unwrap()),
            Frame::Block(junk.clone()),
            Frame::End,
        ],
    )
    .unwrap_err();
    let cid = Cid::hash(Codec::DagCbor, &junk);
    match &e {
        Error::Repo(weft_dag::Error::Decode(DecodeError::Malformed { cid: c, .. })) => {
            assert_eq!(*c, cid);
        }
        e => panic!("{e:?}"),
    }
    assert!(e.is_peer_fault());
    assert!(!repo.has_change(&cid).unwrap());
    assert!(repo.doc_ids().unwrap().is_empty());
    assert_fsck(&repo);
}

/// A valid change with one byte of its signature flipped: refused with the CID it arrived
/// under; the valid changes before it are kept, nothing after.
#[test]
fn a_bad_signature_is_refused_and_named() {
    let repo = empty(2);
    let (src, doc) = source(3);
    let all = blocks(&src, doc);
    assert_eq!(all.len(), 4);
    let (_, mut bad) = all[2].clone();
    let at = bad
        .windows(6)
        .position(|w| w == b"csig\x58\x40")
        .expect("sig field")
        + 6
        + 10;
    bad[at] ^= 0x01;
    let bad_cid = Cid::hash(Codec::DagCbor, &bad);

    let mut r = Responder::new(&repo).unwrap();
    let mut frames = vec![hello(None), push_request(doc, src.heads(doc).unwrap())];
    frames.push(Frame::Block(all[0].1.clone()));
    frames.push(Frame::Block(all[1].1.clone()));
    frames.push(Frame::Block(bad));
    frames.push(Frame::Block(all[3].1.clone()));
    frames.push(Frame::End);
    let e = feed(&mut r, &frames).unwrap_err();
    match &e {
        Error::Repo(weft_dag::Error::Verify(VerifyError::BadSignature { cid, .. })) => {
            assert_eq!(*cid, bad_cid);
        }
        e => panic!("{e:?}"),
    }
    assert!(e.is_peer_fault());
    assert!(e.to_string().contains(&bad_cid.to_string()));
    assert!(!repo.has_change(&bad_cid).unwrap());
    assert!(!repo.has_change(&all[2].0).unwrap());
    assert!(!repo.has_change(&all[3].0).unwrap());
    // What came before it verified and stays.
    assert!(repo.has_change(&all[0].0).unwrap());
    assert!(repo.has_change(&all[1].0).unwrap());
    assert_eq!(repo.heads(doc).unwrap(), vec![all[1].0]);
    assert_fsck(&repo);
}

/// A change whose parent never comes: kept waiting during the session, refused as an orphan
/// when the session ends, and nothing of it is stored.
#[test]
fn a_change_whose_parent_never_arrives_is_an_orphan() {
    let repo = empty(2);
    let (src, doc) = source(2);
    let all = blocks(&src, doc);
    let mut r = Responder::new(&repo).unwrap();
    let e = feed(
        &mut r,
        &[
            hello(None),
            push_request(doc, src.heads(doc).unwrap()),
            Frame::Block(all[0].1.clone()),
            Frame::Block(all[2].1.clone()),
            Frame::End,
            Frame::Done,
        ],
    )
    .unwrap_err();
    match &e {
        Error::Repo(weft_dag::Error::Orphans {
            cid,
            missing,
            n_orphans,
            ..
        }) => {
            assert_eq!((*cid, *missing, *n_orphans), (all[2].0, all[1].0, 1));
        }
        e => panic!("{e:?}"),
    }
    assert!(e.is_peer_fault());
    assert!(repo.has_change(&all[0].0).unwrap());
    assert!(!repo.has_change(&all[2].0).unwrap());
    assert_eq!(repo.heads(doc).unwrap(), vec![all[0].0]);
    assert_fsck(&repo);
}

#[test]
fn a_reply_before_hello_is_a_protocol_violation() {
    let repo = empty(2);
    let reply = Frame::Reply(Reply {
        docs: vec![],
        redundant: 0,
        n_blocks: 0,
    });
    let mut i = Initiator::new(&repo, opts(Direction::Pull)).unwrap();
    let e = feed(&mut i, std::slice::from_ref(&reply)).unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    // A responder never takes a REPLY, nor a BLOCK outside a request, nor a second HELLO.
    for frames in [
        vec![reply.clone()],
        vec![hello(None), reply],
        vec![hello(None), Frame::Block(vec![1, 2, 3])],
        vec![hello(None), hello(None)],
        vec![hello(None), Frame::End],
    ] {
        let mut r = Responder::new(&repo).unwrap();
        let e = feed(&mut r, &frames).unwrap_err();
        assert!(matches!(e, Error::Protocol(_)), "{frames:?}: {e:?}");
        assert!(e.is_peer_fault());
    }
    assert_fsck(&repo);
}

#[test]
fn bad_greetings_are_refused() {
    let repo = empty(2);
    let mut r = Responder::new(&repo).unwrap();
    let e = feed(
        &mut r,
        &[Frame::Hello(Hello {
            removed: None,
            versions: vec![7, 8],
            replica: vec![7; 16],
            docs: None,
        })],
    )
    .unwrap_err();
    assert!(matches!(e, Error::Version { .. }), "{e:?}");
    let mut r = Responder::new(&repo).unwrap();
    let e = feed(
        &mut r,
        &[Frame::Hello(Hello {
            removed: None,
            versions: vec![1],
            replica: vec![7; 3],
            docs: None,
        })],
    )
    .unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    // A responder's HELLO must list its documents.
    let mut i = Initiator::new(&repo, opts(Direction::Pull)).unwrap();
    let e = feed(&mut i, &[hello(None)]).unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    // The peer's ERROR frame ends the session with its reason.
    let mut i = Initiator::new(&repo, opts(Direction::Pull)).unwrap();
    let e = feed(&mut i, &[Frame::Error("go away".into())]).unwrap_err();
    assert!(matches!(&e, Error::Peer(m) if m == "go away"), "{e:?}");
    assert_fsck(&repo);
}

/// A fake responder that announces `heads` for `doc` and answers every request with them and
/// nothing else (plus `want_summary` if asked to). Returns the initiator's error.
fn withholding(victim: &Repo, doc: DocId, heads: Vec<Cid>, want_summary: bool) -> (Error, u32) {
    let mut i = Initiator::new(victim, opts(Direction::Pull)).unwrap();
    let ad = DocAd {
        doc: doc.0,
        name: Some("main".into()),
        heads: heads.clone(),
    };
    let mut inbox = vec![hello(Some(vec![ad]))];
    let mut requests = 0;
    let result = (|| loop {
        for f in std::mem::take(&mut inbox) {
            i.handle(&f.encode()[4..])?;
        }
        if i.is_done() {
            return Ok::<(), Error>(());
        }
        for sent in drain(&mut i)? {
            if let Frame::Request(req) = sent {
                requests += 1;
                assert!(requests <= MAX_ROUNDS, "the initiator never gives up");
                let docs = req
                    .docs
                    .iter()
                    .map(|d| DocRep {
                        doc: d.doc,
                        heads: heads.clone(),
                        have: vec![],
                        base_ok: false,
                        bloom: None,
                        want_summary,
                        count: None,
                    })
                    .collect();
                inbox = vec![
                    Frame::Reply(Reply {
                        docs,
                        redundant: 0,
                        n_blocks: 0,
                    }),
                    Frame::End,
                ];
            }
        }
        assert!(!inbox.is_empty(), "the initiator sent no request");
    })();
    i.abort();
    (result.unwrap_err(), i.stats().round_trips)
}

/// A responder that announces changes and never sends them: the initiator gives up after one
/// retry (the retry is what an honest false positive on a lone head needs).
#[test]
fn a_responder_that_withholds_changes_gets_no_progress() {
    let (src, doc) = source(5);
    let victim = empty(2);
    let (e, rounds) = withholding(&victim, doc, src.heads(doc).unwrap(), false);
    assert!(matches!(e, Error::NoProgress { rounds: 2 }), "{e:?}");
    assert_eq!(rounds, 2);
    assert!(e.is_peer_fault());
    assert!(victim.doc_ids().unwrap().is_empty());
    assert_fsck(&victim);

    // Same with a victim that has part of the document.
    let victim = empty(3);
    let first = blocks(&src, doc).into_iter().take(3);
    victim.apply_changes(first).unwrap();
    let before = victim.heads(doc).unwrap();
    let (e, _) = withholding(&victim, doc, src.heads(doc).unwrap(), false);
    assert!(matches!(e, Error::NoProgress { .. }), "{e:?}");
    assert_eq!(victim.heads(doc).unwrap(), before);
    assert_fsck(&victim);
}

/// A responder that keeps asking for a summary and never sends anything is cut off at
/// `MAX_ROUNDS`.
#[test]
fn a_responder_that_stalls_forever_is_cut_off_at_max_rounds() {
    let (src, doc) = source(5);
    // The victim needs changes of its own for a summary to make sense (so it is a writer).
    let victim = writer_clone(&src, doc, 2);
    edit(&victim, doc, "mine", 2);
    edit(&src, doc, "theirs", 2);
    let (e, rounds) = withholding(&victim, doc, src.heads(doc).unwrap(), true);
    assert!(
        matches!(e, Error::NoProgress { rounds } if rounds == MAX_ROUNDS),
        "{e:?}"
    );
    assert_eq!(rounds, MAX_ROUNDS);
    assert_fsck(&victim);
}

/// A reply about other documents than were asked about.
#[test]
fn a_reply_about_the_wrong_documents_is_a_protocol_violation() {
    let (src, doc) = source(2);
    let victim = empty(2);
    let mut i = Initiator::new(&victim, opts(Direction::Pull)).unwrap();
    let ad = DocAd {
        doc: doc.0,
        name: None,
        heads: src.heads(doc).unwrap(),
    };
    give(&mut i, &hello(Some(vec![ad]))).unwrap();
    let other = Cid::hash(Codec::DagCbor, b"another document");
    for docs in [
        vec![],
        vec![DocRep {
            doc: other,
            heads: vec![],
            have: vec![],
            base_ok: true,
            bloom: None,
            want_summary: false,
            count: None,
        }],
    ] {
        let mut i = Initiator::new(&victim, opts(Direction::Pull)).unwrap();
        let ad = DocAd {
            doc: doc.0,
            name: None,
            heads: src.heads(doc).unwrap(),
        };
        let e = feed(
            &mut i,
            &[
                hello(Some(vec![ad])),
                Frame::Reply(Reply {
                    docs,
                    redundant: 0,
                    n_blocks: 0,
                }),
            ],
        )
        .unwrap_err();
        assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    }
    assert_fsck(&victim);
}

// --- Protocol version 2: compressed blocks ----------------------------------------------------

/// ZBLOCKS frames carrying `groups` of blocks, one frame per group, through one stream (as an
/// honest sender makes them).
fn zblocks_frames(groups: &[&[Vec<u8>]]) -> Vec<Frame> {
    let mut stream = zblocks::Encoder::new().unwrap();
    groups
        .iter()
        .map(|blocks| {
            for b in *blocks {
                stream.push(b).unwrap();
            }
            let f = stream.frame().unwrap().unwrap();
            Frame::decode(&f[4..]).unwrap()
        })
        .collect()
}

/// The start of a zstd stream (2 MiB window) whose first block holds `content` as it is: the
/// inflated bytes of a frame, chosen byte by byte.
fn raw_zstd(content: &[u8]) -> Vec<u8> {
    assert!(content.len() < 128 << 10);
    let mut data = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58];
    data.extend_from_slice(&((content.len() as u32) << 3).to_le_bytes()[..3]);
    data.extend_from_slice(content);
    data
}

/// Feeds a responder that speaks version 2 a version-2 greeting, a request pushing `doc`, and
/// `frames`; returns its error.
fn push_v2(victim: &Repo, src: &Repo, doc: DocId, frames: Vec<Frame>) -> Error {
    let mut r = Responder::new(victim).unwrap();
    let mut all = vec![
        hello_v(&[1, 2], None),
        push_request(doc, src.heads(doc).unwrap()),
    ];
    all.extend(frames);
    all.push(Frame::End);
    let e = feed(&mut r, &all).unwrap_err();
    assert_eq!(r.version(), Some(2));
    assert!(e.is_peer_fault(), "{e:?}");
    e
}

/// Feeds an initiator (pulling, speaking `versions` of its own build) a greeting from a
/// responder speaking `theirs` that announces `doc` with `heads`, a reply announcing blocks,
/// and `frames`; returns its error.
fn pull_fed(
    victim: &Repo,
    theirs: &[u32],
    doc: DocId,
    heads: Vec<Cid>,
    frames: Vec<Frame>,
) -> Error {
    let mut i = Initiator::new(victim, opts(Direction::Pull)).unwrap();
    let ad = DocAd {
        doc: doc.0,
        name: None,
        heads: heads.clone(),
    };
    let reply = Frame::Reply(Reply {
        docs: vec![DocRep {
            doc: doc.0,
            heads,
            have: vec![],
            base_ok: false,
            bloom: None,
            want_summary: false,
            count: None,
        }],
        redundant: 0,
        n_blocks: 1,
    });
    let mut all = vec![hello_v(theirs, Some(vec![ad])), reply];
    all.extend(frames);
    all.push(Frame::End);
    let e = feed(&mut i, &all).unwrap_err();
    assert!(e.is_peer_fault(), "{e:?}");
    e
}

fn is_malformed_zblocks(e: &Error) -> bool {
    matches!(
        e,
        Error::Malformed {
            what: "ZBLOCKS frame",
            ..
        }
    )
}

/// Bytes that are not zstd, to either side: malformed, with zstd's reason, nothing stored.
#[test]
fn garbage_compressed_data_is_malformed() {
    let (src, doc) = source(2);
    let garbage = Frame::Zblocks {
        size: 400,
        data: b"\xff\xfe this is not a zstd stream".to_vec(),
    };
    let victim = empty(2);
    let e = push_v2(&victim, &src, doc, vec![garbage.clone()]);
    assert!(is_malformed_zblocks(&e), "{e:?}");
    assert!(e.to_string().contains("zstd"), "{e}");
    let e = pull_fed(
        &victim,
        &[1, 2],
        doc,
        src.heads(doc).unwrap(),
        vec![garbage],
    );
    assert!(is_malformed_zblocks(&e), "{e:?}");
    assert!(victim.doc_ids().unwrap().is_empty());
    assert_fsck(&victim);
}

/// Records that do not fit their frame: a block of length 0, one longer than what the frame
/// has left (which must not be allocated), a frame that ends inside a length, one that
/// inflates to less or more than it declares, bytes after the end of the zstd stream.
#[test]
fn bad_records_in_a_compressed_frame_are_malformed() {
    let (src, doc) = source(1);
    let genesis = blocks(&src, doc).remove(0).1;
    let good = [&(genesis.len() as u32).to_be_bytes()[..], &genesis].concat();
    let n = good.len() as u32;
    // A stream whose one block is the last: the zstd frame ends, and junk follows.
    let mut ended = raw_zstd(&good);
    ended[6] |= 1;
    ended.extend_from_slice(b"junk");
    // (declared size, zstd bytes, the reason, or None for a bomb)
    let cases: Vec<(u32, Vec<u8>, Option<&str>)> = vec![
        (
            n + 4,
            raw_zstd(&[&good[..], &[0, 0, 0, 0]].concat()),
            Some("a block of 0 bytes"),
        ),
        (
            8,
            raw_zstd(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]),
            Some("a block of 4294967295 bytes where 4 are left"),
        ),
        (
            n + 2,
            raw_zstd(&[&good[..], &[0, 0]].concat()),
            Some("ends inside a block"),
        ),
        (n + 1, raw_zstd(&good), Some("a truncated stream")),
        (n - 1, raw_zstd(&good), None),
        (n, ended, Some("zstd: ")),
    ];
    for (k, (size, data, reason)) in cases.into_iter().enumerate() {
        let victim = empty(2);
        let e = push_v2(&victim, &src, doc, vec![Frame::Zblocks { size, data }]);
        match reason {
            None => assert!(
                matches!(e, Error::Inflate { max } if max == u64::from(size)),
                "case {k}: {e:?}"
            ),
            Some(reason) => assert!(
                matches!(&e, Error::Malformed { what: "ZBLOCKS frame", reason: r } if r.contains(reason)),
                "case {k}: {e:?}"
            ),
        }
        assert_fsck(&victim);
    }
    // The same frame with the right size is taken.
    let victim = empty(2);
    let mut r = Responder::new(&victim).unwrap();
    let frames = [
        hello_v(&[1, 2], None),
        push_request(doc, src.heads(doc).unwrap()),
        Frame::Zblocks {
            size: n,
            data: raw_zstd(&good),
        },
        Frame::End,
    ];
    feed(&mut r, &frames).unwrap();
    assert!(victim.has_change(&doc.0).unwrap());
}

/// A compressed frame cut short, at several points: malformed; the blocks of the frame
/// before it, which arrived whole, are kept; nothing of the cut one is.
#[test]
fn a_truncated_compressed_stream_is_malformed_and_keeps_what_came_before() {
    let (src, doc) = source(5);
    let all = blocks(&src, doc);
    let bytes: Vec<Vec<u8>> = all.iter().map(|(_, b)| b.clone()).collect();
    let frames = zblocks_frames(&[&bytes[..2], &bytes[2..]]);
    let Frame::Zblocks { size, data } = &frames[1] else {
        unreachable!("zblocks_frames makes ZBLOCKS frames")
    };
    for cut in [data.len() - 1, data.len() / 2, 3, 0] {
        let victim = empty(2);
        let truncated = Frame::Zblocks {
            size: *size,
            data: data[..cut].to_vec(),
        };
        let e = push_v2(&victim, &src, doc, vec![frames[0].clone(), truncated]);
        assert!(is_malformed_zblocks(&e), "cut at {cut}: {e:?}");
        assert_eq!(victim.heads(doc).unwrap(), vec![all[1].0], "cut at {cut}");
        assert!(!victim.has_change(&all[2].0).unwrap());
        assert_fsck(&victim);
    }
    // Whole, the same frames deliver everything.
    let victim = empty(2);
    let mut r = Responder::new(&victim).unwrap();
    let mut session = vec![
        hello_v(&[1, 2], None),
        push_request(doc, src.heads(doc).unwrap()),
    ];
    session.extend(frames);
    session.extend([Frame::End, Frame::Done]);
    feed(&mut r, &session).unwrap();
    assert_eq!(victim.heads(doc).unwrap(), src.heads(doc).unwrap());
}

/// A decompression bomb: a frame that says it inflates to 1 MiB and would inflate to 12 MB
/// (one valid block over and over, a few kilobytes compressed) ends the session once it
/// inflates one byte past 1 MiB, to either side. One that says more than the limit of a frame
/// is refused before anything is inflated, and one whose window is larger than a receiver
/// holds (128 MiB) before any memory for it is taken.
#[test]
fn a_decompression_bomb_ends_the_session() {
    let (src, doc) = source(0);
    let (genesis, bytes) = blocks(&src, doc).remove(0);
    let mut stream = zblocks::Encoder::new().unwrap();
    while stream.pending() < 12_000_000 {
        stream.push(&bytes).unwrap();
    }
    let f = stream.frame().unwrap().unwrap();
    let data = f[9..].to_vec();
    assert!(data.len() < 12_000, "{} B", data.len());
    // It declares the whole records within 1 MiB (a record cut by the declared size is
    // malformed before it is inflated: the length in front of it says it does not fit).
    let record = 4 + bytes.len() as u32;
    let declared = (1 << 20) / record * record;
    let bomb = Frame::Zblocks {
        size: declared,
        data: data.clone(),
    };
    for pushed in [true, false] {
        let victim = empty(2);
        let e = if pushed {
            push_v2(&victim, &src, doc, vec![bomb.clone()])
        } else {
            pull_fed(&victim, &[2], doc, vec![genesis], vec![bomb.clone()])
        };
        assert!(
            matches!(e, Error::Inflate { max } if max == u64::from(declared)),
            "pushed {pushed}: {e:?}"
        );
        // What came whole before the limit is only the one block, stored once.
        assert!(victim.has_change(&genesis).unwrap());
        assert_eq!(victim.change_count(doc).unwrap(), 1);
        assert_fsck(&victim);
    }

    // Over the limit: refused from the frame's header.
    let mut body = vec![0x08];
    body.extend_from_slice(&(MAX_FRAME as u32 + 1).to_be_bytes());
    body.extend_from_slice(&data);
    let victim = empty(2);
    let mut r = Responder::new(&victim).unwrap();
    give(&mut r, &hello_v(&[1, 2], None)).unwrap();
    let e = r.handle(&body).unwrap_err();
    assert!(
        matches!(e, Error::Inflate { max } if max == MAX_FRAME as u64),
        "{e:?}"
    );

    // A window of 2^27 bytes: refused by zstd itself, as the frame header is read.
    use zstd::zstd_safe::{CCtx, CParameter, InBuffer, OutBuffer};
    let mut cctx = CCtx::create();
    cctx.set_parameter(CParameter::WindowLog(27)).unwrap();
    let record = [&(bytes.len() as u32).to_be_bytes()[..], &bytes].concat();
    let mut wide = Vec::with_capacity(4096);
    cctx.compress_stream(
        &mut OutBuffer::around(&mut wide),
        &mut InBuffer::around(&record),
    )
    .unwrap();
    let pos = wide.len();
    cctx.flush_stream(&mut OutBuffer::around_pos(&mut wide, pos))
        .unwrap();
    assert_eq!(wide[5] >> 3, 27 - 10, "the window descriptor says 2^27");
    let victim = empty(2);
    let e = push_v2(
        &victim,
        &src,
        doc,
        vec![Frame::Zblocks {
            size: record.len() as u32,
            data: wide,
        }],
    );
    assert!(is_malformed_zblocks(&e), "{e:?}");
    assert!(e.to_string().contains("memory"), "{e}");
    assert!(!victim.has_change(&genesis).unwrap());
}

/// Each version's block frame in a session of the other version, to either side: a protocol
/// violation, nothing stored.
#[test]
fn a_block_frame_of_the_other_version_is_a_protocol_violation() {
    let (src, doc) = source(0);
    let (genesis, bytes) = blocks(&src, doc).remove(0);
    let compressed = zblocks_frames(&[std::slice::from_ref(&bytes)]).remove(0);
    let raw = Frame::Block(bytes);
    for (versions, frame) in [
        (&[1][..], &compressed),
        (&[1, 2][..], &raw),
        (&[2][..], &raw),
    ] {
        let victim = empty(2);
        let mut r = Responder::new(&victim).unwrap();
        let e = feed(
            &mut r,
            &[
                hello_v(versions, None),
                push_request(doc, src.heads(doc).unwrap()),
                frame.clone(),
            ],
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Protocol(m) if m.contains("protocol version")),
            "{versions:?}: {e:?}"
        );
        let e = pull_fed(&victim, versions, doc, vec![genesis], vec![frame.clone()]);
        assert!(
            matches!(&e, Error::Protocol(m) if m.contains("protocol version")),
            "{versions:?}: {e:?}"
        );
        assert!(!victim.has_change(&genesis).unwrap());
        assert_fsck(&victim);
    }
}

/// An initiator that sends request after request is answered for `MAX_ROUNDS` rounds, as an
/// initiator gives up after as many, and then cut off with a typed error.
#[test]
fn an_initiator_that_requests_forever_is_cut_off_at_max_rounds() {
    let (src, doc) = source(3);
    let mut r = Responder::new(&src).unwrap();
    give(&mut r, &hello(None)).unwrap();
    let request = Frame::Request(Request {
        docs: vec![weft_sync::frame::DocReq {
            doc: doc.0,
            name: None,
            heads: vec![],
            have: vec![],
            base: vec![],
            samples: vec![],
            want: false,
            push: false,
            bloom: None,
        }],
        need: vec![],
    });
    let mut answered = 0;
    let error = loop {
        if let Err(e) = give(&mut r, &request) {
            break e;
        }
        match give(&mut r, &Frame::End) {
            Ok(_) => answered += 1,
            Err(e) => break e,
        }
        assert!(
            answered <= MAX_ROUNDS + 1,
            "the responder never stops answering"
        );
    };
    assert_eq!(answered, MAX_ROUNDS, "{error:?}");
    assert!(
        matches!(error, Error::NoProgress { rounds } if rounds == MAX_ROUNDS),
        "{error:?}"
    );
    assert!(error.is_peer_fault());
}

/// The pairing step belongs before a session: a JOIN or JOINED inside one, on either side, is a
/// protocol violation (the transport that offers pairing reads a JOIN before the session
/// starts), and a JOIN that does not decode is malformed.
#[test]
fn join_frames_inside_a_session_are_protocol_violations() {
    use weft_dag::{Identity, Role};
    use weft_sync::invite::{Invite, Join, Joined, Ticket};

    let repo = empty(2);
    let (id, secret) = Ticket::new_key();
    let doc = DocId(Cid::hash(Codec::DagCbor, b"d"));
    let invite = Invite::sign(
        &Identity::from_seed([2; 32]),
        id,
        Role::Writer,
        vec![doc],
        9,
        1,
    );
    let ticket = Ticket::new(None, vec!["tcp://h:1".into()], invite, secret).unwrap();
    let join = Frame::Join(Join::new(&ticket, &[0; 32], &repo.author()));
    let joined = Frame::Joined(Joined {
        docs: vec![doc],
        role: Role::Writer,
    });
    for frames in [
        vec![join.clone()],
        vec![hello(None), join.clone()],
        vec![hello(None), joined.clone()],
    ] {
        let mut r = Responder::new(&repo).unwrap();
        let e = feed(&mut r, &frames).unwrap_err();
        assert!(matches!(e, Error::Protocol(_)), "{frames:?}: {e:?}");
    }
    let mut i = Initiator::new(&repo, opts(Direction::Pull)).unwrap();
    let e = feed(&mut i, &[joined]).unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    let e = Frame::decode(&[weft_sync::frame::JOIN, 0xa0]).unwrap_err();
    assert!(matches!(e, Error::Malformed { what: "join", .. }), "{e:?}");
    assert_fsck(&repo);
}
