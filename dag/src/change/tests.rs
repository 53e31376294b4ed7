//! Unit tests of the change format: encoding, decoding, signatures and shape rules.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::{role::Role, value::Value};

fn genesis(id: &Identity) -> EncodedChange {
    Change {
        doc: None,
        parents: vec![],
        author: id.author(),
        seq: 1,
        height: 1,
        time: 1_700_000_000_000,
        ops: vec![Op::Genesis {
            owner: id.author(),
            nonce: [9; 16],
        }],
        sig: [0; 64],
    }
    .sign(id)
}

fn child(id: &Identity, g: &EncodedChange) -> EncodedChange {
    Change {
        doc: Some(DocId(g.cid)),
        parents: vec![g.cid],
        author: id.author(),
        seq: 2,
        height: 2,
        time: 1_700_000_000_001,
        ops: vec![Op::Set {
            key: "todo/1".into(),
            value: Value::parse_cli(r#"{"title":"milk"}"#).unwrap(),
            pred: vec![],
        }],
        sig: [0; 64],
    }
    .sign(id)
}

#[test]
fn sign_decode_verify_round_trip() {
    let id = Identity::from_seed([1; 32]);
    let g = genesis(&id);
    let c = child(&id, &g);
    for e in [&g, &c] {
        let back = Change::decode(&e.cid, &e.bytes).unwrap();
        assert_eq!(back, *e.change);
        back.verify(&e.cid).unwrap();
    }
}

#[test]
fn tampering_is_caught() {
    let id = Identity::from_seed([1; 32]);
    let g = genesis(&id);
    let mut c = Change::clone(&child(&id, &g).change);
    c.time += 1; // changed after signing
    assert!(matches!(
        c.verify(&g.cid),
        Err(VerifyError::BadSignature { .. })
    ));
    // A signature by another key.
    let other = Identity::from_seed([2; 32]);
    let mut forged = Change::clone(&child(&other, &g).change);
    forged.author = id.author();
    assert!(forged.verify(&g.cid).is_err());
}

/// The decoder as it was: decode, then encode the change again and compare bytes. Kept to
/// check that the pass over the bytes accepts exactly what this accepted.
fn decode_by_re_encoding(cid: &Cid, bytes: &[u8]) -> Result<Change, DecodeError> {
    if cid.codec() != Codec::DagCbor {
        return Err(DecodeError::NotDagCbor {
            cid: *cid,
            codec: cid.codec(),
        });
    }
    let malformed = |reason: String| DecodeError::Malformed { cid: *cid, reason };
    let wire: Wire =
        serde_ipld_dagcbor::from_slice(bytes).map_err(|e| malformed(crate::cbor::describe(&e)))?;
    if wire.version != CHANGE_VERSION {
        return Err(malformed(format!(
            "unsupported change version {}",
            wire.version
        )));
    }
    let author: [u8; 32] = wire
        .author
        .as_slice()
        .try_into()
        .map_err(|_| malformed("`author` must be 32 bytes".into()))?;
    let sig: [u8; 64] = wire
        .sig
        .as_ref()
        .ok_or_else(|| malformed("missing `sig`".into()))?
        .as_slice()
        .try_into()
        .map_err(|_| malformed("`sig` must be 64 bytes".into()))?;
    if wire.ops.len() > MAX_OPS {
        return Err(malformed(format!("more than {MAX_OPS} ops")));
    }
    if wire.parents.len() > MAX_PARENTS {
        return Err(malformed(format!("more than {MAX_PARENTS} parents")));
    }
    let ops = wire
        .ops
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, op)| Op::from_ipld(op).map_err(|e| malformed(format!("op {i}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let change = Change {
        doc: wire.doc.map(DocId),
        parents: wire.parents.clone(),
        author: Author(author),
        seq: wire.seq,
        height: wire.height,
        time: wire.time,
        ops,
        sig,
    };
    if encode(&change, true) != bytes {
        return Err(DecodeError::NonCanonical { cid: *cid });
    }
    Ok(change)
}

/// The encoder's bytes for a change, with or without `sig`.
fn encode(change: &Change, with_sig: bool) -> Vec<u8> {
    let mut out = Vec::new();
    Change::encode_wire_into(&change.to_wire(with_sig), &mut out);
    out
}

/// Decodes `bytes` both ways and checks that the answers are the same; returns it.
fn decode_both(bytes: &[u8]) -> Result<Change, DecodeError> {
    let cid = Cid::hash(Codec::DagCbor, bytes);
    let new = Change::decode(&cid, bytes);
    assert_eq!(new, decode_by_re_encoding(&cid, bytes), "{bytes:02x?}");
    new
}

/// A change that has a bit of everything the encoder writes: a link in an op id, a float,
/// nested maps.
fn rich(id: &Identity, g: &EncodedChange) -> EncodedChange {
    let mut value = BTreeMap::new();
    value.insert("price".to_string(), Value::Float(1.5));
    value.insert("tags".to_string(), Value::Array(vec![Value::Bool(true)]));
    Change {
        doc: Some(DocId(g.cid)),
        parents: vec![g.cid],
        author: id.author(),
        seq: 2,
        height: 2,
        time: 1_700_000_000_001,
        ops: vec![Op::Set {
            key: "k".into(),
            value: Value::Map(value),
            pred: vec![OpId {
                change: g.cid,
                index: 0,
            }],
        }],
        sig: [0; 64],
    }
    .sign(id)
}

fn splice(bytes: &[u8], at: usize, cut: usize, with: &[u8]) -> Vec<u8> {
    [&bytes[..at], with, &bytes[at + cut..]].concat()
}

fn find(bytes: &[u8], what: &[u8]) -> usize {
    bytes.windows(what.len()).position(|w| w == what).unwrap()
}

#[test]
fn non_canonical_encodings_are_rejected() {
    let id = Identity::from_seed([1; 32]);
    let g = genesis(&id);
    // Re-encode the same map with keys in declaration (non-canonical) order, via Ipld with a
    // doubled-up field order trick: an explicit `doc: null` decodes to None but re-encodes
    // without the field.
    let mut ipld: Ipld = serde_ipld_dagcbor::from_slice(&g.bytes).unwrap();
    if let Ipld::Map(m) = &mut ipld {
        m.insert("doc".into(), Ipld::Null);
    }
    let bytes = serde_ipld_dagcbor::to_vec(&ipld).unwrap();
    let cid = Cid::hash(Codec::DagCbor, &bytes);
    let err = Change::decode(&cid, &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::NonCanonical { .. } | DecodeError::Malformed { .. }
        ),
        "{err}"
    );
    assert_eq!(decode_both(&bytes), Err(err));

    let c = rich(&id, &g);
    assert_eq!(decode_both(&c.bytes).unwrap(), *c.change);
    let bad: Vec<(&str, Vec<u8>)> = vec![
        // The cid crate reads a link's CID and ignores what follows it, so only the pass
        // over the bytes sees this one (an op id's link with a byte after the CID).
        ("link with trailing byte", {
            let at = find(&c.bytes, b"dpred\x81\x82\xd8\x2a") + 9;
            splice(&c.bytes, at, 2, b"\x58\x26")
                .into_iter()
                .take(at + 2 + 37)
                .chain([0x00])
                .chain(c.bytes[at + 2 + 37..].iter().copied())
                .collect()
        }),
        // seq 2 as 0x18 0x02
        ("non-minimal integer", {
            let at = find(&c.bytes, b"cseq") + 4;
            splice(&c.bytes, at, 1, b"\x18\x02")
        }),
        // the map header of the whole change as 0xb8 0x09
        (
            "non-minimal map length",
            splice(&c.bytes, 0, 1, b"\xb8\x09"),
        ),
        ("indefinite list of ops", {
            let at = find(&c.bytes, b"cops") + 4;
            let end = find(&c.bytes, b"cseq");
            [
                &c.bytes[..at],
                b"\x9f",
                &c.bytes[at + 1..end],
                b"\xff",
                &c.bytes[end..],
            ]
            .concat()
        }),
        ("float written as f32", {
            let at = find(&c.bytes, &[0xfb, 0x3f, 0xf8]);
            splice(&c.bytes, at, 9, &[0xfa, 0x3f, 0xc0, 0x00, 0x00])
        }),
        ("negative zero", {
            let at = find(&c.bytes, &[0xfb, 0x3f, 0xf8]);
            splice(&c.bytes, at, 9, &[0xfb, 0x80, 0, 0, 0, 0, 0, 0, 0])
        }),
        ("swapped entries", {
            // `seq 2` and `sig ...` (70 bytes) change places.
            let at = find(&c.bytes, b"cseq");
            let seq = c.bytes[at..at + 5].to_vec();
            let sig = c.bytes[at + 5..at + 5 + 70].to_vec();
            splice(&c.bytes, at, 75, &[sig, seq].concat())
        }),
        ("repeated key", {
            let at = find(&c.bytes, b"cseq");
            [&[0xaa][..], &c.bytes[1..at + 5], &c.bytes[at..]].concat()
        }),
        ("key written as bytes", {
            let at = find(&c.bytes, b"cseq");
            splice(&c.bytes, at, 1, b"\x43")
        }),
        ("undefined for true", {
            let at = find(&c.bytes, b"dtags\x81\xf5") + 6;
            splice(&c.bytes, at, 1, b"\xf7")
        }),
        ("byte after the map", [&c.bytes[..], b"\x00"].concat()),
    ];
    for (what, bytes) in bad {
        assert!(decode_both(&bytes).is_err(), "{what} was accepted");
    }
    // The first one is the pass's to find.
    let at = find(&c.bytes, b"dpred\x81\x82\xd8\x2a") + 9;
    let trailing: Vec<u8> = [
        &c.bytes[..at],
        b"\x58\x26",
        &c.bytes[at + 2..at + 2 + 37],
        b"\x00",
        &c.bytes[at + 2 + 37..],
    ]
    .concat();
    assert!(matches!(
        decode_both(&trailing),
        Err(DecodeError::NonCanonical { .. })
    ));
}

fn cid() -> impl Strategy<Value = Cid> {
    (any::<bool>(), any::<[u8; 32]>())
        .prop_map(|(raw, d)| Cid::from_digest(if raw { Codec::Raw } else { Codec::DagCbor }, d))
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        ".{0,20}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
        cid().prop_map(Value::Link),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,8}", inner, 0..4).prop_map(Value::Map),
        ]
    })
}

fn op_ids() -> impl Strategy<Value = Vec<OpId>> {
    proptest::collection::vec(
        (cid(), any::<u32>()).prop_map(|(change, index)| OpId { change, index }),
        0..3,
    )
}

fn op_ref() -> impl Strategy<Value = OpRef> {
    prop_oneof![
        any::<u32>().prop_map(OpRef::Here),
        (cid(), any::<u32>()).prop_map(|(change, index)| OpRef::There(OpId { change, index })),
    ]
}

fn item() -> impl Strategy<Value = Option<ItemRef>> {
    proptest::option::of((op_ref(), any::<u32>()).prop_map(|(op, offset)| ItemRef { op, offset }))
}

fn seq_op() -> impl Strategy<Value = Op> {
    let key = || "[a-z/]{1,8}";
    prop_oneof![
        (key(), item(), item(), value()).prop_map(|(key, left, right, value)| Op::ListInsert {
            key,
            left,
            right,
            value
        }),
        (key(), op_ref(), item(), item()).prop_map(|(key, elem, left, right)| Op::ListMove {
            key,
            elem,
            left,
            right
        }),
        (key(), op_ref()).prop_map(|(key, elem)| Op::ListDelete { key, elem }),
        (key(), op_ref(), value()).prop_map(|(key, elem, value)| Op::ListSet { key, elem, value }),
        (key(), item(), item(), ".{1,12}").prop_map(|(key, left, right, text)| Op::TextInsert {
            key,
            left,
            right,
            text
        }),
        (
            key(),
            proptest::collection::vec(
                ((op_ref(), any::<u32>()), 1..u32::MAX)
                    .prop_map(|((op, offset), len)| (ItemRef { op, offset }, len)),
                1..4
            )
        )
            .prop_map(|(key, spans)| Op::TextDelete { key, spans }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let key = || prop_oneof![".{0,8}", "[a-z/]{1,8}"];
    let role = prop_oneof![
        Just(Role::Reader),
        Just(Role::Writer),
        Just(Role::Admin),
        Just(Role::Owner)
    ];
    prop_oneof![
        (any::<[u8; 32]>(), any::<[u8; 16]>()).prop_map(|(o, nonce)| Op::Genesis {
            owner: Author(o),
            nonce
        }),
        (key(), value(), op_ids()).prop_map(|(key, value, pred)| Op::Set { key, value, pred }),
        (key(), op_ids()).prop_map(|(key, pred)| Op::Del { key, pred }),
        (key(), any::<i64>()).prop_map(|(key, delta)| Op::Incr { key, delta }),
        (key(), value()).prop_map(|(key, member)| Op::Add { key, member }),
        (key(), value(), op_ids()).prop_map(|(key, member, tags)| Op::Remove { key, member, tags }),
        (any::<[u8; 32]>(), role).prop_map(|(w, role)| Op::Grant {
            who: Author(w),
            role
        }),
        any::<[u8; 32]>().prop_map(|w| Op::Revoke { who: Author(w) }),
        seq_op(),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    (
        proptest::option::of(cid()),
        proptest::collection::vec(cid(), 0..3),
        any::<[u8; 32]>(),
        (any::<u64>(), any::<u64>(), any::<u64>()),
        proptest::collection::vec(op(), 0..4),
        proptest::collection::vec(any::<u8>(), 64),
    )
        .prop_map(
            |(doc, parents, author, (seq, height, time), ops, sig)| Change {
                doc: doc.map(DocId),
                parents,
                author: Author(author),
                seq,
                height,
                time,
                ops,
                sig: sig.try_into().unwrap(),
            },
        )
}

proptest! {
    /// Decoding with the pass over the bytes answers exactly what decoding and encoding
    /// again answered (the same change, or the same error), on random changes of every op
    /// kind and on random mutations of their bytes.
    #[test]
    fn the_pass_decodes_exactly_what_re_encoding_did(
        change in change(),
        mutations in proptest::collection::vec(
            (0..canonical::mutate::KINDS, any::<usize>(), any::<u8>()),
            1..32,
        ),
    ) {
        let bytes = encode(&change, true);
        let _ = decode_both(&bytes);
        for (kind, a, b) in mutations {
            if let Some(m) = canonical::mutate::mutate(&bytes, kind, a, b) {
                let _ = decode_both(&m);
            }
        }
    }

    /// Signing encodes once and puts `sig` in: the bytes are those of encoding the whole
    /// change, and the signed message cut back out of them is the map without `sig`.
    #[test]
    fn the_sig_entry_goes_in_and_comes_out_where_encoding_puts_it(change in change()) {
        let without = encode(&change, false);
        let with = encode(&change, true);
        prop_assert_eq!(&canonical::splice_sig(&without, &change.sig).unwrap(), &with);
        let mut msg = SIGNING_DOMAIN.to_vec();
        msg.extend_from_slice(&without);
        prop_assert_eq!(signed_message(&with), Some(msg.clone()));
        prop_assert_eq!(change.signing_bytes(), msg);
    }
}

#[test]
fn garbage_never_panics() {
    let cid = Cid::hash(Codec::DagCbor, b"x");
    for bytes in [&b""[..], b"\xff", b"\xa0", b"\x80", b"\xa1\x61a\x01"] {
        assert!(Change::decode(&cid, bytes).is_err());
    }
    let raw = Cid::hash(Codec::Raw, b"x");
    assert!(matches!(
        Change::decode(&raw, b"x"),
        Err(DecodeError::NotDagCbor { .. })
    ));
}

#[test]
fn shape_rules() {
    let id = Identity::from_seed([1; 32]);
    let g = genesis(&id);
    let mut bad = Change::clone(&child(&id, &g).change);
    bad.ops.clear();
    let e = bad.sign(&id);
    assert!(matches!(
        e.change.verify(&e.cid),
        Err(VerifyError::Invalid { .. })
    ));
    let mut bad = Change::clone(&child(&id, &g).change);
    bad.ops = vec![Op::Set {
        key: "a\0b".into(),
        value: Value::Null,
        pred: vec![],
    }];
    let e = bad.sign(&id);
    assert!(e.change.verify(&e.cid).is_err());
    let mut bad = Change::clone(&genesis(&id).change);
    bad.ops = vec![Op::Genesis {
        owner: Identity::from_seed([3; 32]).author(),
        nonce: [0; 16],
    }];
    let e = bad.sign(&id);
    assert!(e.change.verify(&e.cid).is_err());
}

#[test]
fn list_and_text_ops_have_one_wire_form() {
    let id = Identity::from_seed([1; 32]);
    let g = genesis(&id);
    let there = OpId {
        change: g.cid,
        index: 0,
    };
    let mut c = Change::clone(&child(&id, &g).change);
    c.ops = vec![
        Op::TextInsert {
            key: "t".into(),
            left: None,
            right: Some(ItemRef {
                op: OpRef::There(there),
                offset: 2,
            }),
            text: "hé".into(),
        },
        Op::TextDelete {
            key: "t".into(),
            spans: vec![(
                ItemRef {
                    op: OpRef::Here(0),
                    offset: 1,
                },
                1,
            )],
        },
    ];
    let e = c.sign(&id);
    assert!(e.verify().is_ok());
    assert_eq!(Change::decode(&e.cid, &e.bytes).unwrap(), *e.change);
    // The ops as a generic reader sees them: `[link, index, offset]` for another change's
    // item, `[index, offset, len]` for a span of this change, null for the start.
    let ipld: ipld_core::ipld::Ipld = serde_ipld_dagcbor::from_slice(&e.bytes).unwrap();
    let ipld_core::ipld::Ipld::Map(m) = ipld else {
        panic!("a map")
    };
    let ipld_core::ipld::Ipld::List(ops) = &m["ops"] else {
        panic!("a list")
    };
    let ipld_core::ipld::Ipld::Map(ins) = &ops[0] else {
        panic!("a map")
    };
    assert_eq!(ins["op"], ipld_core::ipld::Ipld::String("tins".into()));
    assert_eq!(ins["left"], ipld_core::ipld::Ipld::Null);
    assert_eq!(
        ins["right"],
        ipld_core::ipld::Ipld::List(vec![
            ipld_core::ipld::Ipld::Link(g.cid.to_cid()),
            ipld_core::ipld::Ipld::Integer(0),
            ipld_core::ipld::Ipld::Integer(2),
        ])
    );
    let ipld_core::ipld::Ipld::Map(del) = &ops[1] else {
        panic!("a map")
    };
    assert_eq!(
        del["spans"],
        ipld_core::ipld::Ipld::List(vec![ipld_core::ipld::Ipld::List(vec![
            ipld_core::ipld::Ipld::Integer(0),
            ipld_core::ipld::Ipld::Integer(1),
            ipld_core::ipld::Ipld::Integer(1),
        ])])
    );
}

#[test]
fn list_and_text_ops_that_name_a_later_op_of_their_change_are_refused() {
    let id = Identity::from_seed([1; 32]);
    let g = genesis(&id);
    let mut c = Change::clone(&child(&id, &g).change);
    c.ops = vec![Op::ListDelete {
        key: "l".into(),
        elem: OpRef::Here(0),
    }];
    let e = c.sign(&id);
    assert!(matches!(
        e.verify(),
        Err(VerifyError::Invalid {
            reason: ShapeError::ForwardRef { op: 0, named: 0 },
            ..
        })
    ));
    // Empty text, a span of length 0, and a wrong-length ref do not decode.
    for bad in [
        Op::TextInsert {
            key: "t".into(),
            left: None,
            right: None,
            text: String::new(),
        },
        Op::TextDelete {
            key: "t".into(),
            spans: vec![(
                ItemRef {
                    op: OpRef::Here(0),
                    offset: 0,
                },
                0,
            )],
        },
    ] {
        let mut c = Change::clone(&child(&id, &g).change);
        c.ops = vec![bad];
        let e = c.sign(&id);
        assert!(matches!(
            Change::decode(&e.cid, &e.bytes),
            Err(DecodeError::Malformed { .. })
        ));
    }
}
