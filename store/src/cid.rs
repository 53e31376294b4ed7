//! The one content identifier of weft.
//!
//! A [`Cid`] is always a CIDv1 whose multihash is BLAKE3-256 (multihash code `0x1e`, 32-byte
//! digest) and whose codec is either dag-cbor (`0x71`, structured blocks) or raw (`0x55`, blob
//! chunks). Every other CID is rejected at the boundary, so the rest of weft never has to ask.
//!
//! Forms, pinned by golden tests below:
//! - **text**: multibase base32 lower, `b` followed by 58 characters (`bafyr4i...` for dag-cbor);
//! - **binary**: 36 bytes, `0x01 <codec> 0x1e 0x20 <32-byte digest>`;
//! - **DAG-CBOR**: tag 42 around the binary form prefixed by a zero byte (the IPLD link form).

use std::{fmt, str::FromStr};

use multihash::Multihash;

use crate::error_kind::ErrorKind;

/// Multihash code of BLAKE3-256.
pub const BLAKE3_CODE: u64 = 0x1e;
/// Length of a BLAKE3-256 digest.
pub const DIGEST_LEN: usize = 32;
/// Length of the binary form of every weft CID.
pub const CID_LEN: usize = 36;

/// The codec of a block: how its bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Codec {
    /// DAG-CBOR (`0x71`): changes and other structured blocks.
    DagCbor,
    /// Raw bytes (`0x55`): blob chunks.
    Raw,
}

impl Codec {
    /// The multicodec code.
    pub const fn code(self) -> u64 {
        match self {
            Codec::DagCbor => 0x71,
            Codec::Raw => 0x55,
        }
    }

    /// The codec for a multicodec code, if weft supports it.
    pub const fn from_code(code: u64) -> Option<Codec> {
        match code {
            0x71 => Some(Codec::DagCbor),
            0x55 => Some(Codec::Raw),
            _ => None,
        }
    }

    /// The multicodec name (`dag-cbor` or `raw`).
    pub const fn name(self) -> &'static str {
        match self {
            Codec::DagCbor => "dag-cbor",
            Codec::Raw => "raw",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A hash map keyed by CIDs, with a fast hasher. DAG walks and imports look CIDs up millions of
/// times. foldhash is not a keyed cryptographic hash and claims no strong HashDoS resistance;
/// what stands between a hostile peer and a flood of colliding keys is that a CID is a BLAKE3
/// digest (a peer can only pick it by grinding blocks) and that the hasher's seed is random per
/// map, so the peer cannot see which digests would collide.
pub type CidMap<V> = std::collections::HashMap<Cid, V, foldhash::fast::RandomState>;

/// A hash set of CIDs, with the hasher of [`CidMap`].
pub type CidSet = std::collections::HashSet<Cid, foldhash::fast::RandomState>;

/// A CIDv1 naming a block by the BLAKE3-256 hash of its bytes.
///
/// Only the parts that vary are stored: the codec byte and the digest. Every other byte of the
/// binary form is fixed, so the derived ordering (codec, then digest) is the byte order of the
/// binary form, and sorted lists of CIDs (such as a change's parents) are canonical.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cid {
    /// The multicodec code, `0x71` or `0x55` (checked by every constructor).
    code: u8,
    /// The BLAKE3-256 digest.
    digest: [u8; DIGEST_LEN],
}

/// The two header bytes of the binary form that follow the codec byte.
const MH_HEADER: [u8; 2] = [BLAKE3_CODE as u8, DIGEST_LEN as u8];

impl Cid {
    /// Hashes `bytes` and names them under `codec`.
    pub fn hash(codec: Codec, bytes: &[u8]) -> Cid {
        let digest = blake3::hash(bytes);
        Cid::from_digest(codec, *digest.as_bytes())
    }

    /// Builds a CID from a BLAKE3-256 digest that the caller already computed.
    pub fn from_digest(codec: Codec, digest: [u8; DIGEST_LEN]) -> Cid {
        Cid {
            code: codec.code() as u8,
            digest,
        }
    }

    /// The codec of the named block.
    pub fn codec(&self) -> Codec {
        // Every constructor checks the codec.
        Codec::from_code(u64::from(self.code)).unwrap_or(Codec::Raw)
    }

    /// The 32-byte BLAKE3 digest.
    pub fn digest(&self) -> [u8; DIGEST_LEN] {
        self.digest
    }

    /// The 36-byte binary form.
    pub fn to_bytes(&self) -> [u8; CID_LEN] {
        let mut out = [0u8; CID_LEN];
        out[0] = 0x01;
        out[1] = self.code;
        out[2..4].copy_from_slice(&MH_HEADER);
        out[4..].copy_from_slice(&self.digest);
        out
    }

    /// Parses the binary form, rejecting anything that is not a weft CID.
    pub fn from_bytes(bytes: &[u8]) -> Result<Cid, ParseError> {
        if let Some(c) = Cid::from_weft_bytes(bytes) {
            return Ok(c);
        }
        // Not a weft CID: let the general parser say what it is instead.
        let inner = cid::Cid::try_from(bytes).map_err(|e| ParseError::Malformed {
            input: hex_preview(bytes),
            reason: e.to_string(),
        })?;
        if inner.to_bytes().len() != bytes.len() {
            return Err(ParseError::Malformed {
                input: hex_preview(bytes),
                reason: "trailing bytes after the CID".into(),
            });
        }
        Cid::try_from(inner)
    }

    /// The binary form of a weft CID read directly, or `None` for anything else.
    fn from_weft_bytes(bytes: &[u8]) -> Option<Cid> {
        let &[version, code, hash, len, ref digest @ ..] =
            <&[u8; CID_LEN]>::try_from(bytes).ok()?;
        if version != 0x01 || [hash, len] != MH_HEADER {
            return None;
        }
        let codec = Codec::from_code(u64::from(code))?;
        Some(Cid::from_digest(codec, *digest))
    }

    /// Checks that `bytes` hash to this CID.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), HashMismatch> {
        let actual = Cid::hash(self.codec(), bytes);
        if actual == *self {
            Ok(())
        } else {
            Err(HashMismatch {
                expected: *self,
                actual,
            })
        }
    }

    /// The same CID as a `cid::Cid`, for interop with IPLD libraries.
    pub fn to_cid(&self) -> cid::Cid {
        // A 32-byte digest always fits the 64-byte multihash; `wrap` cannot fail here.
        let mh = match Multihash::<64>::wrap(BLAKE3_CODE, &self.digest) {
            Ok(mh) => mh,
            Err(_) => unreachable_digest(),
        };
        cid::Cid::new_v1(u64::from(self.code), mh)
    }
}

#[cold]
fn unreachable_digest() -> ! {
    // 32 <= 64: a BLAKE3-256 digest always fits a Multihash<64>.
    unreachable!("a 32-byte digest fits a 64-byte multihash")
}

fn hex_preview(bytes: &[u8]) -> String {
    let mut s: String = bytes.iter().take(48).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 48 {
        s.push_str("...");
    }
    s
}

impl TryFrom<cid::Cid> for Cid {
    type Error = ParseError;

    fn try_from(inner: cid::Cid) -> Result<Cid, ParseError> {
        if inner.version() != cid::Version::V1 {
            return Err(ParseError::NotV1 {
                input: inner.to_string(),
            });
        }
        let Some(codec) = Codec::from_code(inner.codec()) else {
            return Err(ParseError::UnsupportedCodec {
                input: inner.to_string(),
                code: inner.codec(),
            });
        };
        let mh = inner.hash();
        match <[u8; DIGEST_LEN]>::try_from(mh.digest()) {
            Ok(digest) if mh.code() == BLAKE3_CODE => Ok(Cid::from_digest(codec, digest)),
            Err(_) if mh.code() == BLAKE3_CODE => Err(ParseError::DigestLength {
                input: inner.to_string(),
                len: mh.digest().len(),
            }),
            _ => Err(ParseError::UnsupportedHash {
                input: inner.to_string(),
                code: mh.code(),
            }),
        }
    }
}

impl From<Cid> for cid::Cid {
    fn from(c: Cid) -> cid::Cid {
        c.to_cid()
    }
}

/// The first `bits` bits of a digest, for looking CIDs up by prefix (`weft show bafyr4iabcd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestPrefix {
    /// The bits, from the first byte's high bit on; bits past `bits` are zero.
    bytes: Vec<u8>,
    bits: usize,
}

impl DigestPrefix {
    /// The first `bits` bits of `bytes` (at most the digest's 256).
    pub fn new(bytes: &[u8], bits: usize) -> DigestPrefix {
        let bits = bits.min(DIGEST_LEN * 8).min(bytes.len() * 8);
        let mut bytes = bytes[..bits.div_ceil(8)].to_vec();
        if !bits.is_multiple_of(8) {
            if let Some(last) = bytes.last_mut() {
                *last &= 0xffu8 << (8 - bits % 8);
            }
        }
        DigestPrefix { bytes, bits }
    }

    /// How many bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Whether `digest` starts with these bits.
    pub fn matches(&self, digest: &[u8]) -> bool {
        let whole = self.bits / 8;
        if digest.len() < self.bytes.len() || digest[..whole] != self.bytes[..whole] {
            return false;
        }
        match self.bits % 8 {
            0 => true,
            r => (digest[whole] & (0xffu8 << (8 - r))) == self.bytes[whole],
        }
    }

    /// The smallest digest with these bits, as a lower bound for a sorted search.
    pub fn lower(&self) -> [u8; DIGEST_LEN] {
        let mut d = [0u8; DIGEST_LEN];
        d[..self.bytes.len()].copy_from_slice(&self.bytes);
        d
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // CIDv1 text form defaults to multibase base32 lower.
        fmt::Display::fmt(&self.to_cid(), f)
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({self})")
    }
}

impl FromStr for Cid {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Cid, ParseError> {
        if !s.starts_with('b') {
            return Err(ParseError::Malformed {
                input: s.to_string(),
                reason: "a weft CID is base32 lower and starts with 'b'".into(),
            });
        }
        let inner = cid::Cid::from_str(s).map_err(|e| ParseError::Malformed {
            input: s.to_string(),
            reason: e.to_string(),
        })?;
        let c = Cid::try_from(inner)?;
        if c.to_string() != s {
            return Err(ParseError::Malformed {
                input: s.to_string(),
                reason: "not in canonical base32 lower form".into(),
            });
        }
        Ok(c)
    }
}

impl serde::Serialize for Cid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The IPLD link newtype around the binary form, exactly as `cid::Cid` writes it.
        s.serialize_newtype_struct(
            cid::serde::CID_SERDE_PRIVATE_IDENTIFIER,
            serde_bytes::Bytes::new(&self.to_bytes()),
        )
    }
}

impl<'de> serde::Deserialize<'de> for Cid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cid, D::Error> {
        // Not `cid::Cid::deserialize`: it ignores bytes after the CID, so one link would have
        // many encodings. `Cid::from_bytes` refuses them, as it does everywhere else.
        d.deserialize_newtype_struct(cid::serde::CID_SERDE_PRIVATE_IDENTIFIER, LinkVisitor)
    }
}

/// Visits the newtype that IPLD serde formats use to mark a CID (as `cid::Cid` does).
struct LinkVisitor;

impl<'de> serde::de::Visitor<'de> for LinkVisitor {
    type Value = Cid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a weft CID")
    }

    fn visit_newtype_struct<D: serde::Deserializer<'de>>(self, d: D) -> Result<Cid, D::Error> {
        d.deserialize_bytes(LinkBytesVisitor)
    }
}

/// Visits the binary form inside the CID newtype.
struct LinkBytesVisitor;

impl<'de> serde::de::Visitor<'de> for LinkBytesVisitor {
    type Value = Cid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the binary form of a weft CID")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Cid, E> {
        Cid::from_bytes(v).map_err(E::custom)
    }

    /// Formats without a bytes type (such as JSON) give a sequence of numbers.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Cid, A::Error> {
        let mut bytes = Vec::with_capacity(CID_LEN);
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        Cid::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

/// A string or byte slice that is not a weft CID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not a CID at all.
    #[error("invalid CID {}: {reason}", crate::clip(.input))]
    Malformed {
        /// What was given (hex for binary input).
        input: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A CIDv0.
    #[error("invalid CID {}: weft uses CIDv1 only", crate::clip(.input))]
    NotV1 {
        /// What was given.
        input: String,
    },
    /// A codec other than dag-cbor or raw.
    #[error("invalid CID {}: codec 0x{code:x} is not dag-cbor (0x71) or raw (0x55)", crate::clip(.input))]
    UnsupportedCodec {
        /// What was given.
        input: String,
        /// The multicodec code found.
        code: u64,
    },
    /// A hash other than BLAKE3-256.
    #[error("invalid CID {}: hash 0x{code:x} is not BLAKE3-256 (0x1e)", crate::clip(.input))]
    UnsupportedHash {
        /// What was given.
        input: String,
        /// The multihash code found.
        code: u64,
    },
    /// A BLAKE3 hash whose digest is not 32 bytes long.
    #[error("invalid CID {}: its BLAKE3 digest is {len} bytes, not 32", crate::clip(.input))]
    DigestLength {
        /// What was given.
        input: String,
        /// The digest's length.
        len: usize,
    },
}

/// Bytes that do not hash to the CID they were offered under.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block {expected} fails verification: its bytes hash to {actual}")]
pub struct HashMismatch {
    /// The CID the block was offered under.
    pub expected: Cid,
    /// The CID its bytes actually have.
    pub actual: Cid,
}

impl ParseError {
    /// Always [`ErrorKind::InvalidInput`]: the string or bytes came from the caller.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

impl HashMismatch {
    /// Always [`ErrorKind::Corrupt`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Corrupt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_text_and_binary_forms() {
        // Expected values computed independently (Python: base32 of 01 71 1e 20 + blake3).
        let c = Cid::hash(Codec::DagCbor, b"hello weft");
        let digest = blake3::hash(b"hello weft");
        let mut expected_bin = vec![0x01, 0x71, 0x1e, 0x20];
        expected_bin.extend_from_slice(digest.as_bytes());
        assert_eq!(c.to_bytes().to_vec(), expected_bin);
        assert_eq!(
            c.to_string(),
            "bafyr4iapsfufihuendrxnffcp7k7h76pg6k4t64p72dpc3hmblrq37x26i"
        );
        let raw = Cid::hash(Codec::Raw, b"");
        assert_eq!(
            hex(&raw.to_bytes()),
            "01551e20af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            raw.to_string(),
            "bafkr4ifpcne3t5pzugtkaqcn5i3nzskjtpfslsnnyejlpte2spfoihzsmi"
        );
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn text_and_binary_round_trip() {
        let c = Cid::hash(Codec::DagCbor, b"x");
        assert_eq!(c.to_string().parse::<Cid>(), Ok(c));
        assert_eq!(Cid::from_bytes(&c.to_bytes()), Ok(c));
        assert_eq!(c.codec(), Codec::DagCbor);
    }

    #[test]
    fn rejects_foreign_cids() {
        // sha2-256 dag-cbor (the common IPFS form).
        let sha = "bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqmqqme5yje";
        assert!(matches!(
            sha.parse::<Cid>(),
            Err(ParseError::UnsupportedHash { code: 0x12, .. })
        ));
        // CIDv0.
        let v0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG";
        assert!(v0.parse::<Cid>().is_err());
        assert!("".parse::<Cid>().is_err());
        assert!("bnot-a-cid".parse::<Cid>().is_err());
        let mut bytes = Cid::hash(Codec::Raw, b"x").to_bytes().to_vec();
        bytes.push(0);
        assert!(Cid::from_bytes(&bytes).is_err());
        assert!(Cid::from_bytes(&[0x01, 0x71]).is_err());
        // Uppercase base32 is the same CID but not the canonical text form.
        let c = Cid::hash(Codec::Raw, b"x").to_string();
        assert!(c.to_uppercase().parse::<Cid>().is_err());
    }

    #[test]
    fn verify_detects_tampering() {
        let c = Cid::hash(Codec::Raw, b"abc");
        assert!(c.verify(b"abc").is_ok());
        let err = c.verify(b"abd").unwrap_err();
        assert_eq!(err.expected, c);
    }

    #[test]
    fn order_is_byte_order() {
        let mut cids: Vec<Cid> = (0u8..50).map(|i| Cid::hash(Codec::DagCbor, &[i])).collect();
        cids.push(Cid::hash(Codec::Raw, b"r"));
        let mut by_bytes = cids.clone();
        by_bytes.sort_by_key(|c| c.to_bytes());
        cids.sort();
        assert_eq!(cids, by_bytes);
    }

    #[test]
    fn dag_cbor_link_form() {
        let c = Cid::hash(Codec::Raw, b"");
        let enc = serde_ipld_dagcbor::to_vec(&c).unwrap();
        // tag 42, bytes(37), 0x00 prefix, binary CID
        assert_eq!(&enc[..4], &[0xd8, 0x2a, 0x58, 0x25]);
        assert_eq!(enc[4], 0x00);
        assert_eq!(&enc[5..], &c.to_bytes());
        let back: Cid = serde_ipld_dagcbor::from_slice(&enc).unwrap();
        assert_eq!(back, c);
    }
}
