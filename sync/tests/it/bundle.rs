//! Offline bundles (CAR v1): round trips, incremental bundles, and damaged or hostile files.
//!
//! The bundles are parsed here with a small CAR reader of their own (not the one in
//! `weft_sync::bundle`), so the tests also pin the byte format.

#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};

use ipld_core::ipld::Ipld;
use weft_dag::{Cid, DocId, Identity, Repo, Value};
use weft_store::Store;
use weft_sync::{
    bundle::{self, BundleStats},
    Error,
};

const PATH: &str = "test.car";

fn identity(seed: u8) -> Identity {
    Identity::from_seed([seed; 32])
}

/// A repo with no document.
fn empty(seed: u8) -> Repo {
    Repo::with_store(Store::memory(), identity(seed)).unwrap()
}

/// `n` commits on `doc`, each with a register write, a counter increment and a set add.
fn edit(repo: &Repo, doc: DocId, tag: &str, n: usize) {
    for i in 0..n {
        let mut tx = repo.transaction(doc);
        tx.set(tag, Value::from(format!("{tag} {i}"))).unwrap();
        tx.incr(&format!("{tag}/n"), 1).unwrap();
        tx.add(&format!("{tag}/set"), Value::from(i as i64))
            .unwrap();
        tx.commit().unwrap().unwrap();
    }
}

fn create(repo: &Repo, docs: &[DocId], since: &[Cid]) -> (Vec<u8>, BundleStats) {
    let mut out = Vec::new();
    let stats = bundle::create(repo, docs, since, &mut out).unwrap();
    assert_eq!(stats.bytes, out.len() as u64);
    (out, stats)
}

fn apply(repo: &Repo, bytes: &[u8]) -> Result<BundleStats, Error> {
    bundle::apply(repo, bytes, PATH)
}

/// Every change of every document of `repo`.
fn all_changes(repo: &Repo) -> BTreeSet<Cid> {
    let mut out = BTreeSet::new();
    for doc in repo.doc_ids().unwrap() {
        for entry in repo.log(doc) {
            out.insert(entry.unwrap().cid);
        }
    }
    out
}

fn assert_fsck(repo: &Repo) {
    let report = repo.fsck().unwrap();
    assert!(report.is_ok(), "fsck: {:?}", report.problems);
}

/// Same heads and state of `doc` on both sides.
fn assert_same(a: &Repo, b: &Repo, doc: DocId) {
    assert!(!a.heads(doc).unwrap().is_empty());
    assert_eq!(
        a.heads(doc).unwrap(),
        b.heads(doc).unwrap(),
        "heads of {doc}"
    );
    assert_eq!(
        a.state(doc).entries("").unwrap(),
        b.state(doc).entries("").unwrap(),
        "state of {doc}"
    );
}

// ----- an independent CAR reader and writer -----

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = bytes[*at];
        *at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return n;
        }
    }
    panic!("varint too long");
}

/// A parsed bundle: the header, and each section's CID, data and end offset.
struct Car {
    header: BTreeMap<String, Ipld>,
    sections: Vec<(Cid, Vec<u8>, usize)>,
}

impl Car {
    fn parse(bytes: &[u8]) -> Car {
        let mut at = 0;
        let len = read_varint(bytes, &mut at) as usize;
        let header = match serde_ipld_dagcbor::from_slice(&bytes[at..at + len]).unwrap() {
            Ipld::Map(m) => m,
            other => panic!("header {other:?}"),
        };
        at += len;
        let mut sections = Vec::new();
        while at < bytes.len() {
            let len = read_varint(bytes, &mut at) as usize;
            let cid = Cid::from_bytes(&bytes[at..at + 36]).unwrap();
            sections.push((cid, bytes[at + 36..at + len].to_vec(), at + len));
            at += len;
        }
        assert_eq!(at, bytes.len());
        Car { header, sections }
    }

    fn roots(&self) -> Vec<Cid> {
        match &self.header["roots"] {
            Ipld::List(l) => l
                .iter()
                .map(|r| match r {
                    Ipld::Link(c) => Cid::try_from(*c).unwrap(),
                    other => panic!("root {other:?}"),
                })
                .collect(),
            other => panic!("roots {other:?}"),
        }
    }

    fn cids(&self) -> Vec<Cid> {
        self.sections.iter().map(|(c, _, _)| *c).collect()
    }
}

/// A CAR file from a header value and raw sections (CID bytes, data).
fn car(header: &Ipld, sections: &[(&[u8], &[u8])]) -> Vec<u8> {
    let h = serde_ipld_dagcbor::to_vec(header).unwrap();
    let mut out = varint(h.len() as u64);
    out.extend_from_slice(&h);
    for (cid, data) in sections {
        out.extend(varint((cid.len() + data.len()) as u64));
        out.extend_from_slice(cid);
        out.extend_from_slice(data);
    }
    out
}

fn header(version: i128, roots: &[Cid]) -> Ipld {
    Ipld::Map(BTreeMap::from([
        ("version".to_string(), Ipld::Integer(version)),
        (
            "roots".to_string(),
            Ipld::List(roots.iter().map(|c| Ipld::Link(c.to_cid())).collect()),
        ),
    ]))
}

/// `a` with two documents: `main` (genesis + 3 changes) and `notes` (genesis + 2 changes).
fn two_docs() -> (Repo, DocId, DocId) {
    let a = Repo::memory(identity(1));
    let main = a.doc("main").unwrap();
    edit(&a, main, "k", 3);
    let notes = a.create_doc("notes").unwrap();
    edit(&a, notes, "n", 2);
    (a, main, notes)
}

fn bad_reason(result: Result<BundleStats, Error>) -> String {
    match result {
        Err(Error::BadBundle { path, reason }) => {
            assert_eq!(path, PATH);
            let msg = Error::BadBundle {
                path: path.clone(),
                reason: reason.clone(),
            }
            .to_string();
            assert!(!msg.contains('\n'), "one line: {msg}");
            reason
        }
        other => panic!("expected BadBundle, got {other:?}"),
    }
}

// ----- round trips -----

#[test]
fn full_round_trip_between_two_replicas() {
    let (a, main, notes) = two_docs();
    let (bytes, made) = create(&a, &[main, notes], &[]);
    assert_eq!(made.changes, 7);
    let mut roots = a.heads(main).unwrap();
    roots.extend(a.heads(notes).unwrap());
    assert_eq!(made.roots, roots);

    // The format: header {"roots", "version": 1}, one section per change, parents first.
    let parsed = Car::parse(&bytes);
    assert_eq!(parsed.header.len(), 2);
    assert_eq!(parsed.header["version"], Ipld::Integer(1));
    assert_eq!(parsed.roots(), roots);
    let mut seen = BTreeSet::new();
    for (cid, data, _) in &parsed.sections {
        assert_eq!(Cid::hash(weft_dag::Codec::DagCbor, data), *cid);
        assert_eq!(&a.block(cid).unwrap(), data);
        let change = a.change(cid).unwrap();
        assert!(
            change.parents.iter().all(|p| seen.contains(p)),
            "{cid} before a parent"
        );
        seen.insert(*cid);
    }
    assert_eq!(seen, all_changes(&a));

    let b = Repo::memory(identity(2));
    let got = apply(&b, &bytes).unwrap();
    assert_eq!(
        got,
        BundleStats {
            changes: 7,
            applied: 7,
            duplicates: 0,
            bytes: bytes.len() as u64,
            roots,
        }
    );
    assert_same(&a, &b, main);
    assert_same(&a, &b, notes);
    assert_fsck(&a);
    assert_fsck(&b);
    // b's own document is untouched, a's documents arrive unnamed.
    assert_eq!(b.doc_ids().unwrap().len(), 3);
}

#[test]
fn incremental_bundle_holds_exactly_the_new_changes() {
    let (a, main, notes) = two_docs();
    let b = empty(2);
    apply(&b, &create(&a, &[main, notes], &[]).0).unwrap();
    let before = all_changes(&a);

    // New changes on one document only, including a merge of two branches.
    edit(&a, main, "k", 2);
    let c = empty(3);
    // c may write `main`: one more new change, the grant.
    let mut tx = a.transaction(main);
    tx.grant(c.author(), weft_dag::Role::Writer).unwrap();
    tx.commit().unwrap();
    apply(&c, &create(&a, &[main], &[]).0).unwrap();
    edit(&c, main, "c", 1);
    edit(&a, main, "k", 1);
    apply(&a, &create(&c, &[main], &a.heads(main).unwrap()).0).unwrap();
    edit(&a, main, "k", 1);
    let new: BTreeSet<Cid> = all_changes(&a).difference(&before).copied().collect();
    assert_eq!(new.len(), 6);

    let mut since = b.heads(main).unwrap();
    since.extend(b.heads(notes).unwrap());
    let (bytes, made) = create(&a, &[main, notes], &since);
    let parsed = Car::parse(&bytes);
    assert_eq!(made.changes, 6);
    assert_eq!(parsed.cids().into_iter().collect::<BTreeSet<_>>(), new);
    // Parents first, in (height, CID) order.
    let keys: Vec<(u64, Cid)> = parsed
        .cids()
        .iter()
        .map(|c| (a.change(c).unwrap().height, *c))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);

    let got = apply(&b, &bytes).unwrap();
    assert_eq!((got.changes, got.applied, got.duplicates), (6, 6, 0));
    assert_same(&a, &b, main);
    assert_same(&a, &b, notes);
    assert_fsck(&b);
}

#[test]
fn nothing_new_gives_a_valid_bundle_with_roots_and_no_blocks() {
    let (a, main, notes) = two_docs();
    let b = empty(2);
    apply(&b, &create(&a, &[main, notes], &[]).0).unwrap();
    let mut since = b.heads(main).unwrap();
    since.extend(b.heads(notes).unwrap());
    let (bytes, made) = create(&a, &[main, notes], &since);
    assert_eq!(made.changes, 0);
    let parsed = Car::parse(&bytes);
    assert!(parsed.sections.is_empty());
    assert_eq!(parsed.roots(), since);
    let got = apply(&b, &bytes).unwrap();
    assert_eq!((got.changes, got.applied, got.roots), (0, 0, since));
    // A receiver that lacks the roots is told which one.
    let reason = bad_reason(apply(&empty(3), &bytes));
    assert!(reason.contains(&made.roots[0].to_string()), "{reason}");
}

#[test]
fn applying_twice_is_harmless() {
    let (a, main, notes) = two_docs();
    let (bytes, _) = create(&a, &[main, notes], &[]);
    let b = empty(2);
    let first = apply(&b, &bytes).unwrap();
    assert_eq!((first.applied, first.duplicates), (7, 0));
    let second = apply(&b, &bytes).unwrap();
    assert_eq!(
        (second.changes, second.applied, second.duplicates),
        (7, 0, 7)
    );
    assert_same(&a, &b, main);
    assert_fsck(&b);
}

/// Hands out one byte per read, and fails every other read with `Interrupted`.
struct Trickle<'a> {
    bytes: &'a [u8],
    interrupt: bool,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = self.bytes.len().min(buf.len()).min(1);
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

#[test]
fn short_and_interrupted_reads_are_fine() {
    let (a, main, notes) = two_docs();
    let (bytes, _) = create(&a, &[main, notes], &[]);
    let b = empty(2);
    let input = Trickle {
        bytes: &bytes,
        interrupt: false,
    };
    let got = bundle::apply(&b, input, PATH).unwrap();
    assert_eq!((got.applied, got.bytes), (7, bytes.len() as u64));
    assert_same(&a, &b, main);
    assert_same(&a, &b, notes);
}

#[test]
fn duplicate_documents_and_unknown_since_are_ignored() {
    let (a, main, _) = two_docs();
    let stranger = Repo::memory(identity(9));
    let foreign = stranger.heads(stranger.doc("main").unwrap()).unwrap();
    let (bytes, made) = create(&a, &[main, main], &foreign);
    assert_eq!(made.changes, 4);
    assert_eq!(made.roots, a.heads(main).unwrap());
    let b = empty(2);
    apply(&b, &bytes).unwrap();
    assert_same(&a, &b, main);
}

#[test]
fn unknown_document_is_refused() {
    let a = Repo::memory(identity(1));
    let other = Repo::memory(identity(2));
    let doc = other.doc("main").unwrap();
    let err = bundle::create(&a, &[doc], &[], Vec::new()).unwrap_err();
    assert!(matches!(err, Error::UnknownDoc { .. }), "{err}");
}

#[test]
fn stats_serialize_roots_as_text() {
    let (a, main, _) = two_docs();
    let (_, made) = create(&a, &[main], &[]);
    let json = serde_json::to_value(&made).unwrap();
    assert_eq!(json["changes"], 4);
    assert_eq!(json["roots"][0], made.roots[0].to_string());
}

// ----- damaged files -----

#[test]
fn truncated_at_every_offset_is_an_error_and_keeps_only_verified_changes() {
    // Small, but with two documents: genesis + 2 changes, and a genesis alone.
    let a = Repo::memory(identity(1));
    let main = a.doc("main").unwrap();
    edit(&a, main, "k", 2);
    let notes = a.create_doc("notes").unwrap();
    let (bytes, _) = create(&a, &[main, notes], &[]);
    let parsed = Car::parse(&bytes);
    assert_eq!(parsed.sections.len(), 4);
    for cut in 0..bytes.len() {
        let b = empty(2);
        let reason = bad_reason(apply(&b, &bytes[..cut]));
        assert!(
            reason.contains("truncated") || reason.contains("empty") || reason.contains("root"),
            "cut at {cut}: {reason}"
        );
        // Exactly the sections that were complete before the cut are applied.
        let complete: BTreeSet<Cid> = parsed
            .sections
            .iter()
            .filter(|(_, _, end)| *end <= cut)
            .map(|(c, _, _)| *c)
            .collect();
        assert_eq!(all_changes(&b), complete, "cut at {cut}");
        assert_fsck(&b);
    }
    // The whole file applies, and a receiver that got a truncated copy then the whole completes.
    let b = empty(2);
    let _ = apply(&b, &bytes[..bytes.len() / 2]);
    let got = apply(&b, &bytes).unwrap();
    assert_eq!(got.applied + got.duplicates, 4);
    assert_same(&a, &b, main);
    assert_same(&a, &b, notes);
}

#[test]
fn flipped_byte_in_a_block_names_the_cid_and_the_file() {
    let (a, main, _) = two_docs();
    let (bytes, _) = create(&a, &[main], &[]);
    let parsed = Car::parse(&bytes);
    let (victim, data, end) = &parsed.sections[2];
    let mut damaged = bytes.clone();
    damaged[end - data.len() / 2] ^= 0x01;
    let b = empty(2);
    let err = apply(&b, &damaged).unwrap_err();
    match &err {
        Error::BundleHashMismatch { path, cid } => {
            assert_eq!(path, PATH);
            assert_eq!(cid, victim);
        }
        other => panic!("expected BundleHashMismatch, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&victim.to_string()) && msg.contains(PATH),
        "{msg}"
    );
    // The two changes before it were verified and stay; nothing after it is stored.
    assert_eq!(
        all_changes(&b),
        parsed.cids()[..2].iter().copied().collect()
    );
    assert_fsck(&b);
}

#[test]
fn block_whose_parent_is_absent_is_an_orphan() {
    let a = Repo::memory(identity(1));
    let main = a.doc("main").unwrap();
    edit(&a, main, "k", 4);
    let log: Vec<Cid> = a.log(main).map(|e| e.unwrap().cid).collect();
    // log is newest first: [c4, c3, c2, c1, genesis]. A bundle since c2 holds c3 and c4.
    let (bytes, made) = create(&a, &[main], &[log[2]]);
    assert_eq!(made.changes, 2);
    let b = empty(2);
    match apply(&b, &bytes) {
        Err(Error::BundleBase {
            path,
            missing,
            n_orphans,
        }) => {
            assert_eq!((path.as_str(), missing, n_orphans), (PATH, vec![log[2]], 2));
        }
        other => panic!("expected BundleBase, got {other:?}"),
    }
    assert!(all_changes(&b).is_empty());
    assert_fsck(&b);
}

#[test]
fn block_that_is_not_a_change_is_a_typed_error() {
    let (a, main, _) = two_docs();
    let roots = a.heads(main).unwrap();
    // Hashes correctly but is not a change (an empty DAG-CBOR map).
    let junk = Cid::hash(weft_dag::Codec::DagCbor, &[0xa0]);
    let file = car(&header(1, &roots), &[(&junk.to_bytes(), &[0xa0])]);
    let err = apply(&empty(2), &file).unwrap_err();
    assert!(matches!(err, Error::Repo(_)), "{err:?}");
    assert!(err.to_string().contains(&junk.to_string()), "{err}");
}

#[test]
fn garbage_empty_and_wrong_version_are_bad_bundles() {
    let (a, main, _) = two_docs();
    let (good, _) = create(&a, &[main], &[]);
    let roots = a.heads(main).unwrap();
    let genesis = a.block(&main.0).unwrap();
    let g = main.0.to_bytes();

    let mut trailing = good.clone();
    trailing.extend_from_slice(b"trailing garbage");
    let mut zero_section = good.clone();
    zero_section.push(0);
    let mut huge_section = good.clone();
    huge_section.extend(varint(1 << 40));
    let mut non_minimal = car(&header(1, &[]), &[]);
    non_minimal.extend([0x80, 0x00]);
    let sha256 = {
        // The same bytes named by a sha2-256 CID (the usual IPFS form).
        let mut c = vec![0x01, 0x71, 0x12, 0x20];
        c.extend_from_slice(&[7; 32]);
        c
    };
    let raw = weft_dag::Cid::hash(weft_dag::Codec::Raw, &genesis).to_bytes();
    let extra_field = Ipld::Map(BTreeMap::from([
        ("version".to_string(), Ipld::Integer(1)),
        ("roots".to_string(), Ipld::List(vec![])),
        ("extra".to_string(), Ipld::Bool(true)),
    ]));
    let string_root = Ipld::Map(BTreeMap::from([
        ("version".to_string(), Ipld::Integer(1)),
        (
            "roots".to_string(),
            Ipld::List(vec![Ipld::String("x".into())]),
        ),
    ]));

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty file", vec![], "empty"),
        (
            "text",
            b"hello, this is not a CAR file at all".to_vec(),
            "header",
        ),
        ("binary garbage", vec![0xff; 64], "varint"),
        ("zero header", vec![0x00, 0x01], "header is empty"),
        (
            "header not cbor",
            [vec![3], vec![0xff, 0xff, 0xff]].concat(),
            "DAG-CBOR",
        ),
        (
            "header not a map",
            car(&Ipld::List(vec![]), &[]),
            "not a map",
        ),
        ("version 2", car(&header(2, &roots), &[]), "version 2"),
        ("version 0", car(&header(0, &roots), &[]), "version 0"),
        (
            "CAR v2 pragma",
            vec![
                0x0a, 0xa1, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x02,
            ],
            "version 2",
        ),
        ("extra field", car(&extra_field, &[]), "extra"),
        ("string root", car(&string_root, &[]), "not a CID"),
        ("trailing garbage", trailing, "section 5"),
        ("zero-length section", zero_section, "too short"),
        ("huge section", huge_section, "limit"),
        ("non-minimal varint", non_minimal, "minimal"),
        (
            "foreign hash",
            car(&header(1, &roots), &[(&sha256, &genesis)]),
            "0x12",
        ),
        (
            "raw codec",
            car(&header(1, &roots), &[(&raw, &genesis)]),
            "raw",
        ),
        (
            "short cid",
            car(&header(1, &roots), &[(&g[..20], &[])]),
            "too short",
        ),
    ];
    for (name, file, expected) in cases {
        let b = empty(2);
        let reason = bad_reason(apply(&b, &file));
        assert!(
            reason.contains(expected),
            "{name}: {reason:?} lacks {expected:?}"
        );
        assert_fsck(&b);
    }
}

#[test]
fn arrivals_name_the_bundle_they_came_from() {
    let a = Repo::memory(identity(1));
    let doc = a.doc("main").unwrap();
    edit(&a, doc, "k", 3);
    let (bytes, _) = create(&a, &[doc], &[]);
    let b = empty(2);
    apply(&b, &bytes).unwrap();
    let arrivals = b.arrivals(doc, 100).unwrap();
    assert_eq!(arrivals.len(), 4, "the genesis and three edits");
    for a in arrivals {
        assert_eq!(a.source.as_deref(), Some(format!("bundle {PATH}").as_str()));
    }
}
