//! CIDs from untrusted input: parsing never panics, accepts only canonical weft CIDs, and every
//! weft CID round-trips through its binary, text and DAG-CBOR forms.

use ::cid::multihash::Multihash;
use proptest::prelude::*;
use weft_store::{Cid, Codec, BLAKE3_CODE, CID_LEN, DIGEST_LEN};

fn codec() -> impl Strategy<Value = Codec> {
    prop_oneof![Just(Codec::DagCbor), Just(Codec::Raw)]
}

/// A byte that is often one of the values a weft CID header uses.
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(vec![0x00u8, 0x01, 0x12, 0x1e, 0x20, 0x55, 0x70, 0x71, 0x80]),
        1 => any::<u8>(),
    ]
}

/// Bytes that start like a CID (four header bytes near the real ones) with a tail of any length
/// around the 32 a digest takes, so parsing gets past the header as often as not.
fn cid_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(header_byte(), 0..=5),
        prop::collection::vec(any::<u8>(), 28..=36),
    )
        .prop_map(|(mut head, tail)| {
            head.extend(tail);
            head
        })
}

/// The base32 lower alphabet of multibase, and a few characters outside it.
fn base32ish_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => prop::sample::select("abcdefghijklmnopqrstuvwxyz234567".chars().collect::<Vec<_>>()),
        1 => prop::sample::select("AZ0189=-_ é\u{0}".chars().collect::<Vec<_>>()),
    ]
}

/// Strings shaped like a weft CID's text form: `b` and about 58 base32 characters.
fn cid_like_string() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["b", "bafyr4i", "bafkr4i", "B", "z", ""]),
        prop::collection::vec(base32ish_char(), 0..=64),
    )
        .prop_map(|(head, tail)| {
            let mut s = head.to_string();
            s.extend(tail);
            s
        })
}

/// Whatever `from_bytes` accepts is a weft CID whose binary form is exactly the input.
fn check_from_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(c) = Cid::from_bytes(bytes) {
        prop_assert_eq!(&c.to_bytes()[..], bytes);
        prop_assert_eq!(bytes.len(), CID_LEN);
        prop_assert_eq!(bytes[0], 0x01);
        prop_assert_eq!(u64::from(bytes[1]), c.codec().code());
        prop_assert_eq!(u64::from(bytes[2]), BLAKE3_CODE);
        prop_assert_eq!(usize::from(bytes[3]), DIGEST_LEN);
        prop_assert_eq!(&c.digest()[..], &bytes[4..]);
    }
    Ok(())
}

/// Whatever `parse` accepts is a weft CID whose canonical text form is exactly the input.
fn check_parse(s: &str) -> Result<(), TestCaseError> {
    if let Ok(c) = s.parse::<Cid>() {
        prop_assert_eq!(c.to_string(), s);
        prop_assert_eq!(Cid::from_bytes(&c.to_bytes()), Ok(c));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn from_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        check_from_bytes(&bytes)?;
    }

    #[test]
    fn from_bytes_of_cid_like_bytes_never_panics(bytes in cid_like_bytes()) {
        check_from_bytes(&bytes)?;
    }

    #[test]
    fn parse_never_panics(s in any::<String>()) {
        check_parse(&s)?;
    }

    #[test]
    fn parse_of_cid_like_strings_never_panics(s in cid_like_string()) {
        check_parse(&s)?;
    }

    /// Random DAG-CBOR, and a tag-42 link around random bytes, never decode to a foreign CID.
    #[test]
    fn dag_cbor_decoding_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        link in cid_like_bytes(),
    ) {
        if let Ok(c) = serde_ipld_dagcbor::from_slice::<Cid>(&bytes) {
            prop_assert_eq!(Cid::from_bytes(&c.to_bytes()), Ok(c));
        }
        let mut enc = vec![0xd8, 0x2a, 0x58, (link.len() + 1) as u8, 0x00];
        enc.extend_from_slice(&link);
        let decoded = serde_ipld_dagcbor::from_slice::<Cid>(&enc);
        if let Ok(c) = decoded {
            // Only a real weft CID decodes, and it is the one the link holds.
            prop_assert_eq!(Cid::from_bytes(&link), Ok(c));
        }
    }

    /// Every single-byte change, truncation or extension of a valid CID's binary form is either
    /// refused or parses to a different weft CID that round-trips.
    #[test]
    fn mutated_binary_cids_are_refused_or_exact(
        codec in codec(),
        data in prop::collection::vec(any::<u8>(), 0..16),
        index in 0..CID_LEN,
        byte in any::<u8>(),
        cut in 0..CID_LEN,
        extra in prop::collection::vec(any::<u8>(), 1..4),
    ) {
        let c = Cid::hash(codec, &data);
        let bytes = c.to_bytes();

        let mut flipped = bytes;
        flipped[index] = byte;
        match Cid::from_bytes(&flipped) {
            Ok(d) => {
                prop_assert_eq!(d.to_bytes(), flipped);
                prop_assert_eq!(d == c, byte == bytes[index]);
            }
            // Only the digest may change freely; a changed header byte can still name the other
            // weft codec, but nothing else.
            Err(_) => prop_assert!(index < 4 && byte != bytes[index]),
        }

        prop_assert!(Cid::from_bytes(&bytes[..cut]).is_err());
        let mut longer = bytes.to_vec();
        longer.extend_from_slice(&extra);
        prop_assert!(Cid::from_bytes(&longer).is_err());
    }

    /// Changing one character of a CID's text form is refused or yields its exact text again.
    #[test]
    fn mutated_text_cids_are_refused_or_exact(
        codec in codec(),
        data in prop::collection::vec(any::<u8>(), 0..16),
        index in 0..59usize,
        ch in base32ish_char(),
    ) {
        let text = Cid::hash(codec, &data).to_string();
        prop_assert_eq!(text.len(), 59);
        let mut chars: Vec<char> = text.chars().collect();
        chars[index] = ch;
        let mutated: String = chars.into_iter().collect();
        check_parse(&mutated)?;
        let mut shorter = mutated.clone();
        shorter.pop();
        prop_assert!(shorter.parse::<Cid>().is_err());
    }

    /// A weft CID round-trips through every form and names exactly its bytes.
    #[test]
    fn valid_cids_round_trip(
        codec in codec(),
        data in prop::collection::vec(any::<u8>(), 0..256),
        other in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let c = Cid::hash(codec, &data);
        prop_assert_eq!(c.codec(), codec);
        let digest = *blake3::hash(&data).as_bytes();
        prop_assert_eq!(c.digest(), digest);
        prop_assert_eq!(Cid::from_digest(codec, digest), c);

        let bytes = c.to_bytes();
        prop_assert_eq!(&bytes[..4], &[0x01, codec.code() as u8, BLAKE3_CODE as u8, DIGEST_LEN as u8][..]);
        prop_assert_eq!(Cid::from_bytes(&bytes), Ok(c));
        prop_assert_eq!(&c.to_cid().to_bytes()[..], &bytes[..]);

        let text = c.to_string();
        let expected_prefix = match codec {
            Codec::DagCbor => "bafyr4i",
            Codec::Raw => "bafkr4i",
        };
        prop_assert!(text.starts_with(expected_prefix), "{}", text);
        prop_assert_eq!(text.parse::<Cid>(), Ok(c));

        let enc = serde_ipld_dagcbor::to_vec(&c).unwrap();
        prop_assert_eq!(&enc[..5], &[0xd8, 0x2a, 0x58, 0x25, 0x00][..]);
        prop_assert_eq!(serde_ipld_dagcbor::from_slice::<Cid>(&enc).unwrap(), c);

        prop_assert!(c.verify(&data).is_ok());
        let mismatch = c.verify(&other);
        prop_assert_eq!(mismatch.is_ok(), other == data);
        if let Err(e) = mismatch {
            prop_assert_eq!(e.expected, c);
            prop_assert_eq!(e.actual, Cid::hash(codec, &other));
        }
    }

    /// `Cid` order is the byte order of the binary form.
    #[test]
    fn order_is_binary_order(
        a in (codec(), prop::collection::vec(any::<u8>(), 0..8)),
        b in (codec(), prop::collection::vec(any::<u8>(), 0..8)),
    ) {
        let a = Cid::hash(a.0, &a.1);
        let b = Cid::hash(b.0, &b.1);
        prop_assert_eq!(a.cmp(&b), a.to_bytes().cmp(&b.to_bytes()));
    }

    /// Conversion from a general `cid::Cid` accepts exactly CIDv1, dag-cbor or raw, BLAKE3-256.
    #[test]
    fn foreign_cids_are_refused(
        codec_code in prop::sample::select(vec![0x55u64, 0x70, 0x71, 0x72, 0x0129]),
        hash_code in prop::sample::select(vec![0x1eu64, 0x12, 0x13, 0xb220]),
        digest in prop::collection::vec(any::<u8>(), 0..=64),
    ) {
        let mh = Multihash::<64>::wrap(hash_code, &digest).unwrap();
        let v1 = ::cid::Cid::new_v1(codec_code, mh);
        let ok = (codec_code == 0x55 || codec_code == 0x71)
            && hash_code == BLAKE3_CODE
            && digest.len() == DIGEST_LEN;
        let converted = Cid::try_from(v1);
        prop_assert_eq!(converted.is_ok(), ok);
        prop_assert_eq!(Cid::from_bytes(&v1.to_bytes()).is_ok(), ok);
        prop_assert_eq!(v1.to_string().parse::<Cid>().is_ok(), ok);
        if let Ok(c) = converted {
            prop_assert_eq!(::cid::Cid::from(c), v1);
        }
        // A CIDv0 (sha2-256 dag-pb) is never a weft CID, in any form.
        if hash_code == 0x12 && digest.len() == 32 {
            let v0 = ::cid::Cid::new_v0(mh).unwrap();
            prop_assert!(Cid::try_from(v0).is_err());
            prop_assert!(Cid::from_bytes(&v0.to_bytes()).is_err());
            prop_assert!(v0.to_string().parse::<Cid>().is_err());
        }
    }
}

/// A DAG-CBOR link must hold exactly one CID: `Cid::from_bytes` refuses trailing bytes, and
/// decoding a link must too, or two different blocks could decode to the same link.
#[test]
fn dag_cbor_link_with_trailing_bytes_is_refused() {
    let c = Cid::hash(Codec::DagCbor, b"parent");
    let canonical = serde_ipld_dagcbor::to_vec(&c).unwrap();
    assert_eq!(
        serde_ipld_dagcbor::from_slice::<Cid>(&canonical).unwrap(),
        c
    );
    for trailing in [&[0u8][..], &[0xff, 0xff][..]] {
        let mut link = vec![0x00];
        link.extend_from_slice(&c.to_bytes());
        link.extend_from_slice(trailing);
        let mut enc = vec![0xd8, 0x2a, 0x58, link.len() as u8];
        enc.extend_from_slice(&link);
        let decoded = serde_ipld_dagcbor::from_slice::<Cid>(&enc);
        assert!(
            decoded.is_err(),
            "a link with trailing bytes {trailing:02x?} decoded to {decoded:?}"
        );
    }
}

/// `Store::blocks_with_prefix` finds every block whose digest starts with the bits asked for,
/// in sealed packs (their sorted indexes), the open pack and memory, and nothing else.
#[test]
fn blocks_are_found_by_digest_prefix() {
    use weft_store::{DigestPrefix, Options, Store};
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        seal_bytes: 2_000,
        ..Options::default()
    };
    for store in [Store::open(dir.path(), options).unwrap(), Store::memory()] {
        let mut cids = Vec::new();
        for i in 0..300u32 {
            let bytes = format!("block {i}").into_bytes();
            let codec = if i % 3 == 0 {
                Codec::Raw
            } else {
                Codec::DagCbor
            };
            let cid = Cid::hash(codec, &bytes);
            let mut batch = store.batch();
            batch.put_block(&cid, &bytes, b"").unwrap();
            batch.commit().unwrap();
            cids.push(cid);
        }
        if store.path().is_some() {
            let sealed = std::fs::read_dir(dir.path().join("packs"))
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension() == Some("idx".as_ref()))
                .count();
            assert!(sealed > 1, "only {sealed} sealed packs");
        }
        for bits in [0usize, 1, 3, 5, 8, 11, 16, 58, 256] {
            for probe in cids.iter().step_by(37) {
                let prefix = DigestPrefix::new(&probe.digest(), bits);
                let mut want: Vec<Cid> = cids
                    .iter()
                    .filter(|c| prefix.matches(&c.digest()))
                    .copied()
                    .collect();
                want.sort();
                assert!(want.contains(probe));
                assert_eq!(
                    store.blocks_with_prefix(&prefix).unwrap(),
                    want,
                    "{bits} bits"
                );
            }
        }
    }
}
