//! Writes `data/base.car` (the history the session targets answer from) and the seed corpora
//! under `seeds/<target>/`.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds -- [--base]
//! ```
//!
//! With `--base` it only rewrites `data/base.car` (the history the targets embed); run it again
//! without `--base` to write the seeds, which are sessions and bundles against that history (the
//! second run compiles the new file in). Changes carry the wall-clock time and random nonces, so
//! each run writes different bytes; that is fine, but after a new base the old `frame` and `car`
//! corpora no longer match it.

use std::{fs, path::Path};

use weft_dag::{Cid, Codec, DocId, Identity, Repo, Value};
use weft_sync::{bundle, pump, Direction, Endpoint, Initiator, Responder, Stats, SyncOptions};

/// Passes frames to `inner` and records each one (header included).
struct Tap<E> {
    inner: E,
    got: Vec<u8>,
}

impl<E: Endpoint> Endpoint for Tap<E> {
    fn poll_transmit(&mut self) -> Result<Option<Vec<u8>>, weft_sync::Error> {
        self.inner.poll_transmit()
    }
    fn handle(&mut self, body: &[u8]) -> Result<(), weft_sync::Error> {
        self.got
            .extend_from_slice(&(body.len() as u32).to_be_bytes());
        self.got.extend_from_slice(body);
        self.inner.handle(body)
    }
    fn is_done(&self) -> bool {
        self.inner.is_done()
    }
    fn handle_eof(&mut self) -> Result<(), weft_sync::Error> {
        self.inner.handle_eof()
    }
    fn abort(&mut self) {
        self.inner.abort()
    }
    fn stats(&self) -> &Stats {
        self.inner.stats()
    }
}

fn edit(repo: &Repo, doc: DocId, f: impl FnOnce(&mut weft_dag::Transaction<'_>)) {
    let mut tx = repo.transaction(doc);
    f(&mut tx);
    tx.commit().unwrap();
}

fn opts(direction: Direction) -> SyncOptions {
    SyncOptions {
        direction,
        docs: None,
    }
}

fn all_docs(repo: &Repo) -> Vec<DocId> {
    repo.doc_ids().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

/// The base history: every op kind, two documents, one author (a second key needs a grant).
fn base() -> Vec<u8> {
    let a = Repo::memory(Identity::from_seed([1; 32]));
    let main = a.doc("main").unwrap();
    edit(&a, main, |tx| {
        tx.set("title", Value::from("hello")).unwrap();
        tx.set(
            "todo/1",
            Value::parse_cli(r#"{"title":"milk","done":false,"n":3,"f":1.5,"tags":["a",null]}"#)
                .unwrap(),
        )
        .unwrap();
        tx.incr("visits", 3).unwrap();
        tx.add("tags", Value::from("x")).unwrap();
        tx.add("tags", Value::Int(7)).unwrap();
    });
    edit(&a, main, |tx| {
        tx.del("title").unwrap();
        tx.remove("tags", Value::from("x")).unwrap();
        tx.incr("visits", -1).unwrap();
    });
    edit(&a, main, |tx| {
        tx.set("title", Value::from("again")).unwrap();
    });
    let notes = a.create_doc("notes").unwrap();
    edit(&a, notes, |tx| {
        tx.set("body", Value::from("one line")).unwrap();
        tx.set("bytes", Value::Bytes(vec![0, 1, 2])).unwrap();
        tx.set("link", Value::Link(Cid::hash(Codec::Raw, b"x")))
            .unwrap();
    });
    let mut out = Vec::new();
    bundle::create(&a, &all_docs(&a), &[], &mut out).unwrap();
    out
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = root.join("seeds");
    if std::env::args().any(|a| a == "--base") {
        write(&root.join("data"), "base.car", &base());
        println!("wrote data/base.car; run again without --base for the seeds");
        return;
    }

    // The fuzzed repo (base history), and a peer that diverged from it: more changes on one
    // document, a new document.
    let peer = Repo::memory(Identity::from_seed([1; 32]));
    bundle::apply(&peer, weft_fuzz::BASE_CAR, "base.car").unwrap();
    let docs = all_docs(&peer);
    edit(&peer, docs[0], |tx| {
        tx.set("peer", Value::Int(1)).unwrap();
        tx.incr("visits", 10).unwrap();
    });
    edit(&peer, docs[1], |tx| {
        tx.add("s", Value::from("m")).unwrap();
    });

    // ----- car: byte 0 picks the repo (odd: the base history, even: empty; see
    // fuzz_targets/car.rs), then the bundle: the base one, an incremental one, an empty one.
    let car = seeds.join("car");
    let prefixed = |mode: u8, bytes: &[u8]| [&[mode][..], bytes].concat();
    write(&car, "base", &prefixed(0, weft_fuzz::BASE_CAR));
    write(&car, "base-again", &prefixed(1, weft_fuzz::BASE_CAR));
    let base_heads: Vec<Cid> = docs
        .iter()
        .flat_map(|d| weft_fuzz::base_repo().heads(*d).unwrap())
        .collect();
    let mut inc = Vec::new();
    bundle::create(&peer, &all_docs(&peer), &base_heads, &mut inc).unwrap();
    write(&car, "incremental", &prefixed(1, &inc));
    let mut empty = Vec::new();
    bundle::create(&peer, &[], &[], &mut empty).unwrap();
    write(&car, "empty", &prefixed(1, &empty));

    // ----- change_decode: every block of the base bundle and of the peer's new changes, plus
    // a CID in binary and text form.
    let cd = seeds.join("change_decode");
    let base = weft_fuzz::base_repo();
    let mut n = 0;
    for doc in all_docs(&peer) {
        for (_, cid) in peer.missing(doc, &[]).unwrap() {
            let block = peer.block(&cid).unwrap();
            write(&cd, &format!("block-{n:02}"), &block);
            n += 1;
        }
    }
    let cid = base.heads(docs[0]).unwrap()[0];
    write(&cd, "cid-binary", &cid.to_bytes());
    write(&cd, "cid-text", cid.to_string().as_bytes());

    // ----- frame: byte 0 picks the fuzzed side and direction (see fuzz_targets/frame.rs), the
    // rest is what that side received in a real session against the base repo: under protocol
    // version 1 (`responder-0`, ...: raw BLOCK frames) and version 2 (`v2-responder-0`, ...:
    // ZBLOCKS frames).
    let fr = seeds.join("frame");
    for (version, prefix) in [(1, ""), (2, "v2-")] {
        for (i, direction) in [Direction::Pull, Direction::Push, Direction::Both]
            .into_iter()
            .enumerate()
        {
            // The fuzzed side answers: record what the peer's initiator sent it.
            let fuzzed = weft_fuzz::base_repo();
            let mut responder = Tap {
                inner: Responder::new(&fuzzed).unwrap(),
                got: vec![0],
            };
            let mut other = Initiator::new(&peer, opts(direction))
                .unwrap()
                .max_version(version);
            pump(&mut other, &mut responder, None).unwrap();
            write(&fr, &format!("{prefix}responder-{i}"), &responder.got);

            // The fuzzed side initiates: record what the peer's responder sent it.
            let fuzzed = weft_fuzz::base_repo();
            let mut initiator = Tap {
                inner: Initiator::new(&fuzzed, opts(direction)).unwrap(),
                got: vec![1 | (i as u8) << 1],
            };
            let mut other = Responder::new(&peer).unwrap().max_version(version);
            pump(&mut initiator, &mut other, None).unwrap();
            write(&fr, &format!("{prefix}initiator-{i}"), &initiator.got);
        }
        // A clone into an empty repo.
        let fresh = weft_fuzz::empty_repo();
        let mut clone = Tap {
            inner: Initiator::new(&fresh, opts(Direction::Pull)).unwrap(),
            got: vec![1 | 8],
        };
        let mut other = Responder::new(&peer).unwrap().max_version(version);
        pump(&mut clone, &mut other, None).unwrap();
        write(&fr, &format!("{prefix}initiator-clone"), &clone.got);
    }

    // ----- value_parser: command-line values of every kind.
    let vp = seeds.join("value_parser");
    for (i, v) in [
        "42",
        "-7",
        "milk",
        "\"42\"",
        "1.5",
        "1e3",
        "-0.0",
        "null",
        "true",
        "02139",
        "18446744073709551616",
        "1e400",
        r#"{"title":"milk","done":false,"n":[1,null,true],"f":2.5}"#,
        r#"{"/":{"bytes":"aGk"}}"#,
        &format!(r#"{{"/":"{cid}"}}"#),
        r#"[{"a":{"b":[]}},"x",{"/":{"bytes":""}}]"#,
    ]
    .iter()
    .enumerate()
    {
        write(&vp, &format!("v{i:02}"), v.as_bytes());
    }
    println!("seeds written under seeds/");
}
