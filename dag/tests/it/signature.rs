//! Signatures: one rule (ZIP-215 and weft's key rule) whether a change is checked alone or in a
//! batch, and keys that gain no right: small-order and non-canonically encoded keys as authors,
//! genesis owners and grant targets.

use curve25519_dalek::{constants::EIGHT_TORSION, edwards::CompressedEdwardsY};
use weft_dag::{
    change::{self, VerifyError},
    Author, Change, Cid, Codec, DocId, EncodedChange, Error, Op, Repo, Role, Value,
};

use weft_testkit::identity;

/// Every encoding of a point of small order (8 canonical, 6 not).
fn small_order() -> Vec<[u8; 32]> {
    let mut out: Vec<[u8; 32]> = EIGHT_TORSION
        .iter()
        .map(|p| p.compress().to_bytes())
        .collect();
    for b in past_p()
        .into_iter()
        .chain(out.clone().into_iter().map(|mut c| {
            c[31] ^= 0x80;
            c
        }))
    {
        if !out.contains(&b)
            && CompressedEdwardsY(b)
                .decompress()
                .is_some_and(|p| p.is_small_order())
        {
            out.push(b);
        }
    }
    assert_eq!(out.len(), 14);
    out
}

/// y + p for y < 19, either sign: the encodings past the field.
fn past_p() -> Vec<[u8; 32]> {
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    (0u8..19)
        .flat_map(|y| {
            [0u8, 0x80].map(|sign| {
                let mut b = p;
                b[0] += y;
                b[31] |= sign;
                b
            })
        })
        .collect()
}

/// Non-canonical encodings of points that are not of small order.
fn non_canonical() -> Vec<[u8; 32]> {
    let out: Vec<[u8; 32]> = past_p()
        .into_iter()
        .filter(|b| {
            CompressedEdwardsY(*b)
                .decompress()
                .is_some_and(|p| !p.is_small_order())
        })
        .collect();
    assert!(!out.is_empty());
    out
}

/// The identity point's canonical encoding: with it as R and S = 0, ZIP-215 accepts any message
/// under any key of small order.
const IDENTITY_POINT: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};

fn replace_after(bytes: &mut [u8], marker: &[u8], with: &[u8]) {
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("marker")
        + marker.len();
    bytes[at..at + with.len()].copy_from_slice(with);
}

/// `enc` with its author (and genesis owner) replaced by `key`, and a signature that ZIP-215
/// accepts for it if `key` is of small order: R the identity point, S = 0.
fn forge(enc: &EncodedChange, key: [u8; 32]) -> (Cid, Vec<u8>) {
    let mut bytes = enc.bytes.clone();
    replace_after(&mut bytes, b"fauthor\x58\x20", &key);
    if enc.change.is_genesis() {
        replace_after(&mut bytes, b"eowner\x58\x20", &key);
    }
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&IDENTITY_POINT);
    replace_after(&mut bytes, b"csig\x58\x40", &sig);
    (Cid::hash(Codec::DagCbor, &bytes), bytes)
}

fn flip_signature(enc: &EncodedChange) -> (Cid, Vec<u8>) {
    let bytes = weft_testkit::flip_signature(&enc.bytes, 40, 0x04);
    (Cid::hash(Codec::DagCbor, &bytes), bytes)
}

fn genesis(seed: u8, nonce: u8) -> EncodedChange {
    let id = identity(seed);
    Change {
        doc: None,
        parents: vec![],
        author: id.author(),
        seq: 1,
        height: 1,
        time: 1_700_000_000_000,
        ops: vec![Op::Genesis {
            owner: id.author(),
            nonce: [nonce; 16],
        }],
        sig: [0; 64],
    }
    .sign(&id)
}

fn child(seed: u8, g: &EncodedChange, ops: Vec<Op>) -> EncodedChange {
    let id = identity(seed);
    Change {
        doc: Some(DocId(g.cid)),
        parents: vec![g.cid],
        author: id.author(),
        seq: 1,
        height: 2,
        time: 1_700_000_000_001,
        ops,
        sig: [0; 64],
    }
    .sign(&id)
}

fn set(key: &str, v: i64) -> Op {
    Op::Set {
        key: key.into(),
        value: Value::Int(v),
        pred: vec![],
    }
}

/// Good changes by several authors and every kind of bad one, as `(cid, bytes)`.
fn mixed() -> Vec<(Cid, Vec<u8>)> {
    let g = genesis(1, 0);
    let mut out: Vec<(Cid, Vec<u8>)> = vec![(g.cid, g.bytes.clone())];
    for i in 0..6u8 {
        let c = child(1 + i % 3, &g, vec![set("k", i.into())]);
        out.push((c.cid, c.bytes.clone()));
    }
    let victim = child(2, &g, vec![set("v", 1)]);
    out.push(flip_signature(&victim));
    for key in small_order() {
        out.push(forge(&victim, key));
        out.push(forge(&genesis(3, 9), key));
        let grant = child(
            1,
            &g,
            vec![Op::Grant {
                who: Author(key),
                role: Role::Writer,
            }],
        );
        out.push((grant.cid, grant.bytes.clone()));
    }
    for key in non_canonical() {
        out.push(forge(&victim, key));
        let grant = child(
            1,
            &g,
            vec![Op::Grant {
                who: Author(key),
                role: Role::Reader,
            }],
        );
        out.push((grant.cid, grant.bytes.clone()));
    }
    let empty = child(2, &g, vec![]);
    out.push((empty.cid, empty.bytes.clone()));
    for i in 0..4u8 {
        let c = child(3, &g, vec![set("after", i.into())]);
        out.push((c.cid, c.bytes.clone()));
    }
    out
}

#[test]
fn batch_and_single_verification_of_changes_agree() {
    let blocks = mixed();
    let changes: Vec<Change> = blocks
        .iter()
        .map(|(cid, bytes)| Change::decode(cid, bytes).unwrap())
        .collect();
    let items: Vec<(&Cid, &Change, &[u8])> = blocks
        .iter()
        .zip(&changes)
        .map(|((cid, bytes), c)| (cid, c, bytes.as_slice()))
        .collect();
    let batch = change::verify_batch(&items);
    let (mut ok, mut bad_sig, mut bad_key, mut invalid) = (0, 0, 0, 0);
    for (i, ((cid, bytes), c)) in blocks.iter().zip(&changes).enumerate() {
        let alone = c.verify_decoded(cid, bytes);
        assert_eq!(batch[i], alone, "change {i}");
        assert_eq!(c.verify(cid), alone, "change {i}, message encoded");
        match alone {
            Ok(()) => ok += 1,
            Err(VerifyError::BadSignature { cid: c, .. }) => {
                assert_eq!(c, *cid);
                bad_sig += 1;
            }
            Err(VerifyError::BadAuthorKey { cid: c, .. }) => {
                assert_eq!(c, *cid);
                bad_key += 1;
            }
            Err(VerifyError::Invalid { cid: c, .. }) => {
                assert_eq!(c, *cid);
                invalid += 1;
            }
            Err(e) => panic!("{e}"),
        }
        // A batch of one, and the same change among others, answer the same.
        assert_eq!(change::verify_batch(&[items[i]]), vec![alone.clone()]);
    }
    let n_small = small_order().len();
    let n_non_canonical = non_canonical().len();
    assert_eq!(ok, 1 + 6 + 4);
    assert_eq!(bad_sig, 1);
    assert_eq!(bad_key, n_small + n_non_canonical);
    // Forged geneses (owner), grants to unusable keys, and the change without ops.
    assert_eq!(invalid, 2 * n_small + n_non_canonical + 1);
}

#[test]
fn a_batch_with_one_bad_signature_names_exactly_that_one() {
    let g = genesis(1, 0);
    let mut blocks: Vec<(Cid, Vec<u8>)> = (0..64u8)
        .map(|i| {
            let c = child(1 + i % 4, &g, vec![set("k", i.into())]);
            (c.cid, c.bytes.clone())
        })
        .collect();
    let victim = child(2, &g, vec![set("victim", 0)]);
    let bad = flip_signature(&victim);
    blocks.insert(40, bad.clone());
    let changes: Vec<Change> = blocks
        .iter()
        .map(|(cid, bytes)| Change::decode(cid, bytes).unwrap())
        .collect();
    let items: Vec<(&Cid, &Change, &[u8])> = blocks
        .iter()
        .zip(&changes)
        .map(|((cid, bytes), c)| (cid, c, bytes.as_slice()))
        .collect();
    for (i, r) in change::verify_batch(&items).into_iter().enumerate() {
        if i == 40 {
            assert_eq!(
                r,
                Err(VerifyError::BadSignature {
                    cid: bad.0,
                    author: identity(2).author()
                })
            );
        } else {
            assert_eq!(r, Ok(()), "change {i}");
        }
    }
}

/// An import checks its blocks in batches, on several threads: it reports the first failure in
/// arrival order, exactly the one checking each block alone would, and keeps every good one.
#[test]
fn an_import_reports_what_checking_one_by_one_would() {
    let mut blocks: Vec<(Cid, Vec<u8>)> = (0..200u8)
        .map(|i| {
            let g = genesis(1 + i % 5, i);
            (g.cid, g.bytes.clone())
        })
        .collect();
    blocks[90] = flip_signature(&genesis(2, 90));
    blocks[150] = {
        let garbage = b"\xa1\x61a\x01".to_vec();
        (Cid::hash(Codec::DagCbor, &garbage), garbage)
    };
    blocks[170] = forge(&genesis(3, 170), small_order()[3]);
    let first_failure = blocks
        .iter()
        .find_map(|(cid, bytes)| {
            let err: Error = match Change::decode(cid, bytes) {
                Err(e) => e.into(),
                Ok(c) => c.verify_decoded(cid, bytes).err()?.into(),
            };
            Some(err.to_string())
        })
        .unwrap();
    assert!(first_failure.contains(&blocks[90].0.to_string()));

    let repo = Repo::with_store(weft_store::Store::memory(), identity(9)).unwrap();
    let mut import = repo.import();
    for (cid, bytes) in &blocks {
        import.push_claimed(*cid, bytes.clone()).unwrap();
    }
    let err = import.commit().unwrap_err();
    assert_eq!(err.to_string(), first_failure);
    for (i, (cid, _)) in blocks.iter().enumerate() {
        let bad = [90, 150, 170].contains(&i);
        assert_eq!(repo.has_change(cid).unwrap(), !bad, "block {i}");
    }
    assert!(repo.fsck().unwrap().is_ok());
}

#[test]
fn small_order_and_non_canonical_keys_gain_no_right() {
    let owner = Repo::memory(identity(1));
    let doc = owner.create_doc("d").unwrap();
    let g_bytes = owner.block(&doc.0).unwrap();
    let g = EncodedChange {
        cid: doc.0,
        change: std::sync::Arc::new(Change::decode(&doc.0, &g_bytes).unwrap()),
        bytes: g_bytes,
    };
    let other = Repo::memory(identity(2));
    other.apply_changes([(g.cid, g.bytes.clone())]).unwrap();
    let mut unusable = small_order();
    unusable.extend(non_canonical());
    for key in unusable {
        let hex = hex::encode(key);
        // As an author: the signature ZIP-215 accepts for a key of small order does not help.
        let (cid, bytes) = forge(&child(1, &g, vec![set("k", 1)]), key);
        match other.apply_changes([(cid, bytes)]) {
            Err(Error::Verify(VerifyError::BadAuthorKey { cid: c, author })) => {
                assert_eq!((c, author), (cid, Author(key)), "{hex}");
            }
            other => panic!("{hex}: {other:?}"),
        }
        // As a genesis owner.
        let (cid, bytes) = forge(&genesis(1, 5), key);
        match other.apply_changes([(cid, bytes)]) {
            Err(Error::Verify(VerifyError::Invalid { cid: c, reason })) => {
                assert_eq!(c, cid);
                assert!(reason.to_string().contains("genesis owner"), "{reason}");
            }
            other => panic!("{hex}: {other:?}"),
        }
        // As the target of a grant: refused up front by a transaction...
        let mut tx = owner.transaction(doc);
        match tx.grant(Author(key), Role::Writer) {
            Err(e @ Error::UnusableGrantee { .. }) => assert!(e.to_string().contains(&hex), "{e}"),
            Err(e) => panic!("{hex}: {e}"),
            Ok(_) => panic!("{hex}: granted"),
        }
        drop(tx);
        // ... and by every replica, however the change was made.
        let grant = child(
            1,
            &g,
            vec![Op::Grant {
                who: Author(key),
                role: Role::Admin,
            }],
        );
        match other.apply_changes([(grant.cid, grant.bytes.clone())]) {
            Err(Error::Verify(VerifyError::Invalid { cid, reason })) => {
                assert_eq!(cid, grant.cid);
                assert!(reason.to_string().contains("cannot be granted"), "{reason}");
            }
            other => panic!("{hex}: {other:?}"),
        }
        assert!(!Author(key).is_usable());
    }
    // A usable key may be granted, and revoking an unusable one is harmless.
    let mut tx = owner.transaction(doc);
    tx.grant(identity(3).author(), Role::Writer).unwrap();
    tx.revoke(Author(small_order()[0])).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        owner.role(doc, &identity(3).author()).unwrap(),
        Some(Role::Writer)
    );
    assert!(owner.fsck().unwrap().is_ok());
    assert_eq!(other.change_count(doc).unwrap(), 1);
}

/// The rule did not change for keys and signatures made by weft: a key from a seed is usable,
/// and its signatures verify alone and in a batch.
#[test]
fn honest_keys_are_usable() {
    for seed in 0..=255u8 {
        assert!(identity(seed).author().is_usable());
    }
    let g = genesis(4, 4);
    g.verify().unwrap();
    let items = [(&g.cid, &*g.change, g.bytes.as_slice())];
    assert_eq!(change::verify_batch(&items), vec![Ok(())]);
}
