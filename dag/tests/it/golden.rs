//! Golden bytes: the exact DAG-CBOR block and CID of a genesis change and one child.
//!
//! ed25519 signing is deterministic, so a fixed key, time and nonce give fixed bytes. If these
//! tests fail, the change format changed: every existing CID and signature would change with it.

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;
use weft_dag::{
    change::{self, SIGNING_DOMAIN},
    Change, Cid, Codec, DocId, EncodedChange, Identity, Op, Repo, Value,
};

const TIME: u64 = 1_700_000_000_000;

const GENESIS_HEX: &str = concat!(
    "a8636f707381a3626f706767656e65736973656e6f6e636550424242424242424242424242424242",
    "42656f776e657258208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f",
    "5c637365710163736967584027ae36ae31d7eb370de9c43f4791b5e4e93861ef637b0262817b660f",
    "470543bb90dacdd05973599603c7981a14150c736af44aadba5911786e5c55cd1ec942006474696d",
    "651b0000018bcfe5680066617574686f7258208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d",
    "94121bf3748801b40f6f5c666865696768740167706172656e7473806776657273696f6e01",
);
const GENESIS_CID: &str = "bafyr4ibwkkyp7uconyycshqnerm7zdrmlaljcambhvg3rzamagtggielde";
const CHILD_HEX: &str = concat!(
    "a963646f63d82a58250001711e203652b0ffd04e6e30291e0d2459fc8e2c58169101813d4db8e40c",
    "01a663208b19636f707383a4626f7063736574636b657966746f646f2f316470726564806576616c",
    "7565a8637174790263726177430001ff64646f6e65f4646e6f7465f6647461677382616120657072",
    "696365fb3ff8000000000000657469746c65646d696c6b666f726967696ed82a58250001711e2036",
    "52b0ffd04e6e30291e0d2459fc8e2c58169101813d4db8e40c01a663208b19a3626f7064696e6372",
    "636b6579667669736974736564656c746122a3626f7063616464636b6579666c6162656c73666d65",
    "6d62657264686f6d65637365710263736967584013b0c64c0ad1e27609fc271edaab3ea64eb3319f",
    "9acad0e2b9211b75926c7e73a579cb55386d6f7875ee129828662a5f9503b185976483c1668b6c5a",
    "5861c50b6474696d651b0000018bcfe5680166617574686f7258208a88e3dd7409f195fd52db2d3c",
    "ba5d72ca6709bf1d94121bf3748801b40f6f5c666865696768740267706172656e747381d82a5825",
    "0001711e203652b0ffd04e6e30291e0d2459fc8e2c58169101813d4db8e40c01a663208b19677665",
    "7273696f6e01",
);
const CHILD_CID: &str = "bafyr4iaynfyshwjyxpmvwhssbmcthqac7yezmzqgv7vaoma2dgtywtsixu";

fn id() -> Identity {
    Identity::from_seed([1; 32])
}

fn genesis() -> EncodedChange {
    let id = id();
    Change {
        doc: None,
        parents: vec![],
        author: id.author(),
        seq: 1,
        height: 1,
        time: TIME,
        ops: vec![Op::Genesis {
            owner: id.author(),
            nonce: [0x42; 16],
        }],
        sig: [0; 64],
    }
    .sign(&id)
}

fn child(g: &EncodedChange) -> EncodedChange {
    let id = id();
    let mut map = BTreeMap::new();
    map.insert("title".to_string(), Value::from("milk"));
    map.insert("qty".to_string(), Value::Int(2));
    map.insert("price".to_string(), Value::Float(1.5));
    map.insert("done".to_string(), Value::Bool(false));
    map.insert("note".to_string(), Value::Null);
    map.insert("raw".to_string(), Value::Bytes(vec![0, 1, 0xff]));
    map.insert("origin".to_string(), Value::Link(g.cid));
    map.insert(
        "tags".to_string(),
        Value::Array(vec![Value::from("a"), Value::Int(-1)]),
    );
    Change {
        doc: Some(DocId(g.cid)),
        parents: vec![g.cid],
        author: id.author(),
        seq: 2,
        height: 2,
        time: TIME + 1,
        ops: vec![
            Op::Set {
                key: "todo/1".into(),
                value: Value::Map(map),
                pred: vec![],
            },
            Op::Incr {
                key: "visits".into(),
                delta: -3,
            },
            Op::Add {
                key: "labels".into(),
                member: Value::from("home"),
            },
        ],
        sig: [0; 64],
    }
    .sign(&id)
}

/// RFC 4648 base32, lowercase, no padding (the multibase `b` alphabet).
fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The CID of a dag-cbor block, computed by hand: CIDv1, codec 0x71, multihash BLAKE3-256.
fn cid_by_hand(bytes: &[u8]) -> ([u8; 36], String) {
    let digest = blake3::hash(bytes);
    let mut bin = [0u8; 36];
    bin[..4].copy_from_slice(&[0x01, 0x71, 0x1e, 0x20]);
    bin[4..].copy_from_slice(digest.as_bytes());
    let text = format!("b{}", base32_lower(&bin));
    (bin, text)
}

/// A minimal CBOR reader: the keys of the top-level map, in the order they are encoded.
fn top_level_keys(bytes: &[u8]) -> Vec<String> {
    struct Reader<'a> {
        b: &'a [u8],
        pos: usize,
    }
    impl Reader<'_> {
        fn byte(&mut self) -> u8 {
            let b = self.b[self.pos];
            self.pos += 1;
            b
        }
        fn head(&mut self) -> (u8, u64) {
            let first = self.byte();
            let major = first >> 5;
            let info = first & 31;
            let arg = match info {
                0..=23 => u64::from(info),
                24..=27 => {
                    let n = 1usize << (info - 24);
                    let mut v = 0u64;
                    for _ in 0..n {
                        v = (v << 8) | u64::from(self.byte());
                    }
                    v
                }
                _ => panic!("indefinite lengths are not DAG-CBOR (byte {first:#x})"),
            };
            (major, arg)
        }
        fn skip(&mut self) {
            let (major, arg) = self.head();
            match major {
                0 | 1 | 7 => {}
                2 | 3 => self.pos += arg as usize,
                4 => (0..arg).for_each(|_| self.skip()),
                5 => (0..2 * arg).for_each(|_| self.skip()),
                6 => {
                    assert_eq!(arg, 42, "the only DAG-CBOR tag is 42 (a link)");
                    self.skip();
                }
                _ => unreachable!(),
            }
        }
        fn text(&mut self) -> String {
            let (major, len) = self.head();
            assert_eq!(major, 3, "map keys must be text strings");
            let s = std::str::from_utf8(&self.b[self.pos..self.pos + len as usize])
                .unwrap()
                .to_string();
            self.pos += len as usize;
            s
        }
    }
    let mut r = Reader { b: bytes, pos: 0 };
    let (major, n) = r.head();
    assert_eq!(major, 5, "a change is a CBOR map");
    let mut keys = Vec::new();
    for _ in 0..n {
        keys.push(r.text());
        r.skip();
    }
    assert_eq!(r.pos, bytes.len(), "trailing bytes after the change map");
    keys
}

/// Checks everything about one encoded change that does not depend on the pinned constants.
fn check_structure(enc: &EncodedChange, parent: Option<&EncodedChange>) {
    // The CID, rebuilt by hand from a BLAKE3 hash of the bytes.
    let (bin, text) = cid_by_hand(&enc.bytes);
    assert_eq!(enc.cid.to_bytes(), bin);
    assert_eq!(enc.cid.to_string(), text);
    assert_eq!(enc.cid.codec(), Codec::DagCbor);
    assert_eq!(Cid::hash(Codec::DagCbor, &enc.bytes), enc.cid);

    // The top-level keys, in canonical order (length first, then bytewise).
    let keys = top_level_keys(&enc.bytes);
    let mut expected = vec![
        "doc", "ops", "seq", "sig", "time", "author", "height", "parents", "version",
    ];
    if parent.is_none() {
        expected.remove(0);
    }
    assert_eq!(keys, expected);
    assert!(keys
        .windows(2)
        .all(|w| (w[0].len(), w[0].as_bytes()) < (w[1].len(), w[1].as_bytes())));

    // The generic IPLD view of the block.
    let ipld: Ipld = serde_ipld_dagcbor::from_slice(&enc.bytes).unwrap();
    let Ipld::Map(map) = &ipld else {
        panic!("not a map: {ipld:?}")
    };
    let mut sorted: Vec<&str> = expected.clone();
    sorted.sort();
    assert_eq!(map.keys().map(String::as_str).collect::<Vec<_>>(), sorted);
    let c = &enc.change;
    assert_eq!(map["version"], Ipld::Integer(1));
    assert_eq!(map["seq"], Ipld::Integer(c.seq.into()));
    assert_eq!(map["height"], Ipld::Integer(c.height.into()));
    assert_eq!(map["time"], Ipld::Integer(c.time.into()));
    assert_eq!(map["author"], Ipld::Bytes(id().author().0.to_vec()));
    assert_eq!(map["sig"], Ipld::Bytes(c.sig.to_vec()));
    let Ipld::List(ops) = &map["ops"] else {
        panic!("ops is not a list")
    };
    assert_eq!(ops.len(), c.ops.len());
    match parent {
        None => {
            assert_eq!(map["parents"], Ipld::List(vec![]));
            let Ipld::Map(op) = &ops[0] else {
                panic!("op is not a map")
            };
            assert_eq!(op["op"], Ipld::String("genesis".into()));
            assert_eq!(op["owner"], Ipld::Bytes(id().author().0.to_vec()));
            assert_eq!(op["nonce"], Ipld::Bytes(vec![0x42; 16]));
        }
        Some(p) => {
            assert_eq!(map["doc"], Ipld::Link(p.cid.to_cid()));
            assert_eq!(map["parents"], Ipld::List(vec![Ipld::Link(p.cid.to_cid())]));
            let names: Vec<&Ipld> = ops
                .iter()
                .map(|op| match op {
                    Ipld::Map(m) => &m["op"],
                    other => panic!("op is not a map: {other:?}"),
                })
                .collect();
            let want = ["set", "incr", "add"].map(|s| Ipld::String(s.into()));
            assert_eq!(names, want.iter().collect::<Vec<_>>());
        }
    }
    // DAG-CBOR is canonical: the generic view re-encodes to the same bytes.
    assert_eq!(serde_ipld_dagcbor::to_vec(&ipld).unwrap(), enc.bytes);

    // The signature, checked by hand: ed25519 over the domain and the map without `sig`.
    let mut unsigned = map.clone();
    unsigned.remove("sig");
    let mut msg = b"weft change v1\n".to_vec();
    assert_eq!(SIGNING_DOMAIN, &msg[..]);
    msg.extend_from_slice(&serde_ipld_dagcbor::to_vec(&Ipld::Map(unsigned)).unwrap());
    assert_eq!(c.signing_bytes(), msg);
    // The same message cut out of the block (the `sig` entry removed, the map count one less).
    assert_eq!(change::signed_message(&enc.bytes), Some(msg.clone()));
    // A signature weft makes verifies under any rule: RFC 8032 strict and ZIP-215.
    let key = ed25519_dalek::VerifyingKey::from_bytes(&id().author().0).unwrap();
    key.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&c.sig))
        .unwrap();
    let key = ed25519_zebra::VerificationKey::try_from(id().author().0).unwrap();
    key.verify(&ed25519_zebra::Signature::from_bytes(&c.sig), &msg)
        .unwrap();

    // And the crate's own decoder agrees.
    let back = Change::decode(&enc.cid, &enc.bytes).unwrap();
    assert_eq!(&back, &**c);
    back.verify(&enc.cid).unwrap();
    back.verify_decoded(&enc.cid, &enc.bytes).unwrap();
    enc.verify().unwrap();
}

#[test]
fn genesis_golden_bytes() {
    let g = genesis();
    assert_eq!(hex::encode(&g.bytes), GENESIS_HEX);
    assert_eq!(g.cid.to_string(), GENESIS_CID);
    assert_eq!(g.cid.to_string().parse::<Cid>().unwrap(), g.cid);
    check_structure(&g, None);
}

#[test]
fn child_golden_bytes() {
    let g = genesis();
    let c = child(&g);
    assert_eq!(hex::encode(&c.bytes), CHILD_HEX);
    assert_eq!(c.cid.to_string(), CHILD_CID);
    check_structure(&c, Some(&g));
}

#[test]
fn signing_is_deterministic() {
    let a = child(&genesis());
    let b = child(&genesis());
    assert_eq!(a.bytes, b.bytes);
    assert_eq!(a.cid, b.cid);
    // Any field change gives another CID.
    let mut other = Change::clone(&a.change);
    other.time += 1;
    let other = other.sign(&id());
    assert_ne!(other.cid, a.cid);
    assert_ne!(other.change.sig, a.change.sig);
}

#[test]
fn golden_changes_apply_on_another_replica() {
    let g = genesis();
    let c = child(&g);
    let repo = Repo::memory(Identity::from_seed([9; 32]));
    let out = repo
        .apply_changes([(c.cid, c.bytes.clone()), (g.cid, g.bytes.clone())])
        .unwrap();
    assert_eq!(out.applied, vec![g.cid, c.cid]);
    let doc = DocId(g.cid);
    assert_eq!(repo.heads(doc).unwrap(), vec![c.cid]);
    let state = repo.state(doc);
    assert_eq!(state.get("visits").unwrap(), Some(Value::Int(-3)));
    assert_eq!(
        state.get("labels").unwrap(),
        Some(Value::Array(vec![Value::from("home")]))
    );
    let Some(Value::Map(todo)) = state.get("todo/1").unwrap() else {
        panic!("todo/1 is not a map")
    };
    assert_eq!(todo["price"], Value::Float(1.5));
    assert_eq!(todo["origin"], Value::Link(g.cid));
    assert_eq!(repo.block(&c.cid).unwrap(), c.bytes);
    assert!(repo.fsck().unwrap().is_ok());
}
