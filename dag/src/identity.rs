//! Author identities: ed25519 key pairs and the key file that holds one, and the one rule by
//! which weft checks a signature.
//!
//! The key file is text: the 32-byte secret seed as 64 lowercase hex digits and a newline. It is
//! created with mode 0600.
//!
//! # Signatures: ZIP-215 and weft's key rule
//! Signing is RFC 8032 ed25519 (`ed25519-dalek`). Verification follows
//! [ZIP-215](https://zips.z.cash/zip-0215) (`ed25519-zebra`): the cofactored equation
//! `[8][S]B = [8]R + [8][k]A`, encodings of `A` and `R` accepted whether canonical or not, `S`
//! required to be canonical (below the group order). Under that rule one signature verified
//! alone and the same signature verified in a batch get the same answer, which is what lets an
//! import check hundreds of signatures with one multiscalar multiplication ([`verify_many`]).
//!
//! ZIP-215 lets anyone make a valid signature for a public key of small order (with `S = 0` and
//! `R` of small order, the equation holds for every message). So weft adds its own **key rule**:
//! a key gains a right (is a change's author, a genesis owner, the `who` of a grant, a Noise
//! identity) only if it is the canonical encoding of a point that is not of small order
//! ([`Author::is_usable`]). Every replica applies the same rule, so every replica accepts the
//! same changes.
//!
//! A key that passes the rule is decompressed once and kept in a process-wide cache (a key's
//! decompressed form is a function of its bytes, and the replicas of one process share their
//! authors), so verifying the hundredth change of an author does not decompress its key again.

use std::{
    collections::HashMap,
    fmt,
    io::Write as _,
    path::{Path, PathBuf},
    str::FromStr,
    sync::{LazyLock, Mutex},
};

use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::{Signer as _, SigningKey};
use ed25519_zebra::{batch, Signature, VerificationKey, VerificationKeyBytes};
use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, SeedableRng as _};
use weft_store::{sync_util::lock, ErrorKind};

/// An author: the 32-byte ed25519 public key that signs changes. Text form: 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Author(pub [u8; 32]);

impl Author {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether weft accepts this key where a key gains a right (see the [module docs](self)):
    /// the canonical encoding of a curve point that is not of small order.
    pub fn is_usable(&self) -> bool {
        self.usable_key().is_some()
    }

    /// The decompressed key, if it is usable (from the cache when it was seen before).
    fn usable_key(&self) -> Option<VerificationKey> {
        if let Some(key) = lock(&KEYS).get(&self.0) {
            return Some(*key);
        }
        if !passes_key_rule(&self.0) {
            return None;
        }
        // The rule leaves one thing to decompression: whether the bytes are a point at all.
        let key = VerificationKey::try_from(self.0).ok()?;
        let mut keys = lock(&KEYS);
        if keys.len() >= KEY_CACHE_ENTRIES {
            keys.clear();
        }
        keys.insert(self.0, key);
        Some(key)
    }

    /// Checks `sig` over `msg` by this author: the key rule, then ZIP-215.
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> Result<(), SignatureError> {
        let key = self.usable_key().ok_or(SignatureError::UnusableKey)?;
        key.verify(&Signature::from_bytes(sig), msg)
            .map_err(|_| SignatureError::BadSignature)
    }

    /// A short form for humans: the first 8 hex digits.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Author({})", self.short())
    }
}

impl FromStr for Author {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Author, IdentityError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).map_err(|_| IdentityError::BadPublicKey {
            input: s.to_string(),
        })?;
        Ok(Author(out))
    }
}

/// Why [`Author::verify`] refused a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The key breaks weft's key rule (a point of small order, not canonically encoded), or is
    /// not a curve point at all.
    #[error("not a usable ed25519 public key")]
    UnusableKey,
    /// The signature does not verify under ZIP-215.
    #[error("the signature does not verify")]
    BadSignature,
}

/// How many decompressed keys the process keeps (about 200 bytes each). Cleared when full: a
/// peer that sends changes by ever new keys costs a decompression per change, as it would
/// without the cache, and evicts nothing that a lookup could not rebuild.
const KEY_CACHE_ENTRIES: usize = 4096;

/// Usable keys by their bytes, shared by every repo and session of the process. A std
/// `HashMap` (randomly keyed SipHash): authors are bytes a peer chooses freely. The lock is held
/// for a lookup or an insert only, never while a signature is checked.
static KEYS: LazyLock<Mutex<HashMap<[u8; 32], VerificationKey>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The y coordinates of the eight points of small order (sign bit clear): 1 (the identity),
/// -1 (order 2), 0 (the two points of order 4), and two values for the four points of order 8.
/// Both signs of each are of small order.
static SMALL_ORDER_YS: LazyLock<[[u8; 32]; 8]> = LazyLock::new(|| {
    EIGHT_TORSION.map(|p| {
        let mut y = p.compress().to_bytes();
        y[31] &= 0x7f;
        y
    })
});

/// Weft's key rule on the bytes alone: the y coordinate is below p = 2^255 - 19 (canonical),
/// and is not that of a point of small order. For bytes that decompress to a point, this holds
/// exactly when the point is not of small order and its encoding is canonical (a point's only
/// other encodings are y + p, and the set sign bit of x = 0, whose points, y = 1 and y = -1,
/// are of small order). Whether the bytes decompress at all is left to the caller.
pub(crate) fn passes_key_rule(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    // y >= p exactly when it is 2^255 - 19 ..= 2^255 - 1: bytes ed..ff, then 30 x ff, then 7f.
    let reduced = y[0] >= 0xed && y[1..31].iter().all(|&b| b == 0xff) && y[31] == 0x7f;
    !reduced && !SMALL_ORDER_YS.contains(&y)
}

/// Checks many signatures, each `(author, message, signature)`, and answers for each exactly
/// what [`Author::verify`] answers for it alone. The keys that pass the key rule go into one
/// ZIP-215 batch (which adds up the terms of each distinct key, so many changes by one author
/// cost little more than their `R` points); only if the batch fails is each signature checked
/// alone, to name the bad ones.
pub fn verify_many(items: &[(&Author, &[u8], &[u8; 64])]) -> Vec<Result<(), SignatureError>> {
    let mut out: Vec<Result<(), SignatureError>> = items
        .iter()
        .map(|(author, _, _)| {
            if passes_key_rule(&author.0) {
                Ok(())
            } else {
                Err(SignatureError::UnusableKey)
            }
        })
        .collect();
    let queued: Vec<usize> = (0..items.len()).filter(|&i| out[i].is_ok()).collect();
    if queued.len() > 1 && batch_verifies(queued.iter().map(|&i| items[i])) {
        return out;
    }
    for i in queued {
        let (author, msg, sig) = items[i];
        out[i] = author.verify(msg, sig);
    }
    out
}

/// One ZIP-215 batch over the items: true if every signature verifies. A batch needs random
/// coefficients; without the OS's random source it answers false, and the caller checks each
/// signature alone (which needs none).
fn batch_verifies<'a>(items: impl Iterator<Item = (&'a Author, &'a [u8], &'a [u8; 64])>) -> bool {
    let Ok(rng) = ChaCha20Rng::from_rng(OsRng) else {
        return false;
    };
    let mut batch = batch::Verifier::new();
    for (author, msg, sig) in items {
        batch.queue((
            VerificationKeyBytes::from(author.0),
            Signature::from_bytes(sig),
            msg,
        ));
    }
    batch.verify(rng).is_ok()
}

/// A secret signing key with its author.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.author().short())
    }
}

/// Errors reading or writing an identity.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The key file cannot be read or written.
    #[error("cannot access key file {}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The key file does not hold a key.
    #[error("key file {} is not a weft key (expected 64 hex digits)", path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
    },
    /// A public key string that is not 64 hex digits.
    #[error("invalid public key {}: expected 64 hex digits", weft_store::clip(.input))]
    BadPublicKey {
        /// What was given.
        input: String,
    },
}

impl IdentityError {
    /// What the caller acts on: [`ErrorKind::InvalidInput`] for a public key string that does
    /// not parse, [`ErrorKind::Other`] for a key file that cannot be read or holds no key.
    pub fn kind(&self) -> ErrorKind {
        match self {
            IdentityError::BadPublicKey { .. } => ErrorKind::InvalidInput,
            IdentityError::Io { .. } | IdentityError::Malformed { .. } => ErrorKind::Other,
        }
    }
}

impl Identity {
    /// A new random identity from the OS's random source.
    pub fn generate() -> Identity {
        Identity {
            key: SigningKey::generate(&mut rand_core::OsRng),
        }
    }

    /// An identity from a 32-byte seed (deterministic; for tests and benchmarks).
    pub fn from_seed(seed: [u8; 32]) -> Identity {
        Identity {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The 32-byte secret seed (what [`Identity::from_seed`] takes and the key file holds in
    /// hex), for a transport that authenticates with the same ed25519 key (an iroh endpoint,
    /// whose id is then this identity's [`Author`]). It is the secret: never log or send it.
    pub fn to_seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// This identity's public key.
    pub fn author(&self) -> Author {
        Author(self.key.verifying_key().to_bytes())
    }

    /// Signs a message.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Identity, IdentityError> {
        let text = std::fs::read_to_string(path).map_err(|source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| IdentityError::Malformed {
            path: path.to_path_buf(),
        })?;
        Ok(Identity::from_seed(seed))
    }

    /// Writes a new key file with mode 0600; fails if the file exists.
    pub fn save(&self, path: &Path) -> Result<(), IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut file = opts.open(path).map_err(io)?;
        writeln!(file, "{}", hex::encode(self.key.to_bytes())).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(())
    }
}

/// Keys and signatures at the edges of the rule, for tests here and elsewhere in the crate.
#[cfg(test)]
pub(crate) mod edge {
    use curve25519_dalek::edwards::CompressedEdwardsY;

    use super::*;

    /// p = 2^255 - 19, little-endian.
    pub(crate) const P: [u8; 32] = {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        p
    };

    /// The group order l = 2^252 + 27742317777372353535851937790883648493, little-endian.
    pub(crate) const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    /// Little-endian a + b (mod 2^256).
    pub(crate) fn add(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
            out[i] = sum as u8;
            carry = sum >> 8;
        }
        out
    }

    /// The encodings y + p (y < 19, past the field) with either sign bit: every non-canonical
    /// encoding there is, but for the set sign bit of x = 0.
    fn past_p() -> Vec<[u8; 32]> {
        (0u8..19)
            .flat_map(|y| {
                [0u8, 0x80].map(|sign| {
                    let mut b = P;
                    b[0] += y;
                    b[31] |= sign;
                    b
                })
            })
            .collect()
    }

    /// The reference the key rule must agree with: a point, not of small order, encoded
    /// canonically.
    pub(crate) fn reference_usable(bytes: &[u8; 32]) -> bool {
        CompressedEdwardsY(*bytes)
            .decompress()
            .is_some_and(|p| !p.is_small_order() && p.compress().to_bytes() == *bytes)
    }

    /// Every encoding of a point of small order: the 8 canonical ones, then the 6 others (ZIP-215
    /// counts 14).
    pub(crate) fn small_order() -> Vec<[u8; 32]> {
        let mut out: Vec<[u8; 32]> = EIGHT_TORSION
            .iter()
            .map(|p| p.compress().to_bytes())
            .collect();
        let canonical = out.clone();
        let sign_flipped = canonical.iter().map(|c| {
            let mut b = *c;
            b[31] ^= 0x80;
            b
        });
        for b in past_p().into_iter().chain(sign_flipped) {
            if !out.contains(&b)
                && CompressedEdwardsY(b)
                    .decompress()
                    .is_some_and(|p| p.is_small_order())
            {
                out.push(b);
            }
        }
        out
    }

    /// Non-canonical encodings (y + p) of points that are not of small order.
    pub(crate) fn non_canonical() -> Vec<[u8; 32]> {
        past_p()
            .into_iter()
            .filter(|b| {
                CompressedEdwardsY(*b)
                    .decompress()
                    .is_some_and(|p| !p.is_small_order())
            })
            .collect()
    }

    /// Bytes that are no curve point at all.
    pub(crate) fn not_a_point() -> [u8; 32] {
        (2u8..)
            .map(|y| {
                let mut b = [0u8; 32];
                b[0] = y;
                b
            })
            .find(|b| CompressedEdwardsY(*b).decompress().is_none())
            .unwrap()
    }

    /// `R || S`.
    pub(crate) fn sig(r: &[u8; 32], s: &[u8; 32]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(r);
        out[32..].copy_from_slice(s);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{edge::*, *};

    /// ZIP-215 alone, without weft's key rule.
    fn zip215_alone(a: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        VerificationKey::try_from(*a)
            .is_ok_and(|k| k.verify(&Signature::from_bytes(sig), msg).is_ok())
    }

    /// ZIP-215 as one batch, without weft's key rule.
    fn zip215_batch(items: &[(Author, &[u8], [u8; 64])]) -> bool {
        batch_verifies(items.iter().map(|(a, m, s)| (a, *m, s)))
    }

    fn signed(seed: u8, msg: &'static [u8]) -> (Author, &'static [u8], [u8; 64]) {
        let id = Identity::from_seed([seed; 32]);
        (id.author(), msg, id.sign(msg))
    }

    /// Good signatures to put any edge case among, in a batch.
    fn goods() -> Vec<(Author, &'static [u8], [u8; 64])> {
        vec![signed(1, b"one"), signed(2, b"two"), signed(1, b"three")]
    }

    #[test]
    fn the_edge_cases_are_what_zip_215_lists() {
        assert_eq!(small_order().len(), 14);
        assert!(!non_canonical().is_empty());
        assert!(small_order().iter().all(|b| !reference_usable(b)));
        assert!(non_canonical().iter().all(|b| !reference_usable(b)));
        assert!(reference_usable(&Identity::from_seed([1; 32]).author().0));
    }

    #[test]
    fn the_key_rule_is_the_curve_check() {
        let mut keys: Vec<[u8; 32]> = small_order();
        keys.extend(non_canonical());
        keys.push(not_a_point());
        keys.extend((0..=255u8).map(|i| Identity::from_seed([i; 32]).author().0));
        // Bytes of every shape: each small y, each y just below p, a few patterns.
        for y in 0..=255u8 {
            let mut low = [0u8; 32];
            low[0] = y;
            let mut high = P;
            high[0] = high[0].wrapping_sub(y);
            for sign in [0, 0x80] {
                let (mut l, mut h) = (low, high);
                l[31] |= sign;
                h[31] |= sign;
                keys.extend([l, h]);
            }
            keys.push([y; 32]);
        }
        for key in keys {
            assert_eq!(
                Author(key).is_usable(),
                reference_usable(&key),
                "{}",
                hex::encode(key)
            );
        }
    }

    #[test]
    fn alone_and_in_a_batch_agree_on_small_order_a_and_r() {
        let msg: &[u8] = b"weft edge cases";
        let real = signed(7, msg);
        let mut a_keys = small_order();
        a_keys.push(real.0 .0);
        let mut r_points = small_order();
        r_points.push(real.2[..32].try_into().unwrap());
        let one = {
            let mut s = [0u8; 32];
            s[0] = 1;
            s
        };
        let l_minus_one = {
            let mut s = L;
            s[0] -= 1;
            s
        };
        let other_s: [u8; 32] = real.2[32..].try_into().unwrap();
        let (mut accepted, mut refused) = (0, 0);
        for a in &a_keys {
            for r in &r_points {
                for s in [[0u8; 32], one, l_minus_one, other_s] {
                    let sig = sig(r, &s);
                    let alone = zip215_alone(a, msg, &sig);
                    let item = (Author(*a), msg, sig);
                    assert_eq!(zip215_batch(&[item]), alone, "{}", hex::encode(sig));
                    let mut batch = goods();
                    batch.insert(1, item);
                    assert_eq!(zip215_batch(&batch), alone, "{}", hex::encode(sig));
                    // The cofactored equation: with A and R of small order, S = 0 always
                    // verifies and any other S never does.
                    if small_order().contains(a) && small_order().contains(r) {
                        assert_eq!(
                            alone,
                            s == [0u8; 32],
                            "{} {}",
                            hex::encode(a),
                            hex::encode(r)
                        );
                    }
                    // And weft's rule agrees with itself, alone and in a batch.
                    let weft = Author(*a).verify(msg, &sig);
                    assert_eq!(verify_many(&[(&Author(*a), msg, &sig)]), vec![weft]);
                    if small_order().contains(a) {
                        assert_eq!(weft, Err(SignatureError::UnusableKey));
                    }
                    if alone {
                        accepted += 1;
                    } else {
                        refused += 1;
                    }
                }
            }
        }
        assert!(accepted >= 14 * 14 && refused > 0);
    }

    #[test]
    fn a_non_canonical_s_is_refused_alone_and_in_a_batch() {
        let (author, msg, good) = signed(3, b"s");
        let s: [u8; 32] = good[32..].try_into().unwrap();
        // S + l: the same scalar, not reduced.
        let bad = sig(&good[..32].try_into().unwrap(), &add(&s, &L));
        assert!(zip215_alone(&author.0, msg, &good));
        assert!(!zip215_alone(&author.0, msg, &bad));
        assert!(!zip215_batch(&[(author, msg, bad)]));
        let mut batch = goods();
        batch.push((author, msg, bad));
        assert!(!zip215_batch(&batch));
        assert_eq!(author.verify(msg, &bad), Err(SignatureError::BadSignature));
        // S = l with A and R of small order: the equation holds (l = 0 in the group), but S is
        // not canonical.
        let identity = small_order()[0];
        let s_is_l = sig(&identity, &L);
        assert!(zip215_alone(&identity, msg, &sig(&identity, &[0; 32])));
        assert!(!zip215_alone(&identity, msg, &s_is_l));
        assert!(!zip215_batch(&[(Author(identity), msg, s_is_l)]));
    }

    #[test]
    fn a_valid_signature_is_accepted_alone_and_in_a_batch() {
        let (author, msg, good) = signed(4, b"valid");
        assert!(zip215_alone(&author.0, msg, &good));
        assert!(zip215_batch(&[(author, msg, good)]));
        let mut batch = goods();
        batch.push((author, msg, good));
        assert!(zip215_batch(&batch));
        assert_eq!(author.verify(msg, &good), Ok(()));
        assert!(author.is_usable());
    }

    #[test]
    fn a_batch_names_exactly_the_bad_signatures() {
        let msgs: Vec<Vec<u8>> = (0..24u8).map(|i| vec![i; i as usize + 1]).collect();
        let ids: Vec<Identity> = (1..=3).map(|s| Identity::from_seed([s; 32])).collect();
        let mut items: Vec<(Author, Vec<u8>, [u8; 64])> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let id = &ids[i % 3];
                (id.author(), m.clone(), id.sign(m))
            })
            .collect();
        // A signature that does not verify.
        items[7].2[40] ^= 1;
        // A small-order key with a signature ZIP-215 accepts.
        let identity = small_order()[0];
        items[12] = (
            Author(identity),
            items[12].1.clone(),
            sig(&identity, &[0; 32]),
        );
        // Bytes that are no point (passes the rule on the bytes, fails decompression).
        items[15].0 = Author(not_a_point());
        // A non-canonical encoding of a point of large order.
        items[19].0 = Author(non_canonical()[0]);
        let borrowed: Vec<(&Author, &[u8], &[u8; 64])> =
            items.iter().map(|(a, m, s)| (a, m.as_slice(), s)).collect();
        let got = verify_many(&borrowed);
        let alone: Vec<Result<(), SignatureError>> =
            items.iter().map(|(a, m, s)| a.verify(m, s)).collect();
        assert_eq!(got, alone);
        for (i, r) in got.iter().enumerate() {
            let expected = match i {
                7 => Err(SignatureError::BadSignature),
                12 | 15 | 19 => Err(SignatureError::UnusableKey),
                _ => Ok(()),
            };
            assert_eq!(*r, expected, "item {i}");
        }
        // Without the bad ones, one batch says yes to all.
        let good: Vec<(&Author, &[u8], &[u8; 64])> = borrowed
            .iter()
            .enumerate()
            .filter(|(i, _)| ![7, 12, 15, 19].contains(i))
            .map(|(_, x)| *x)
            .collect();
        assert!(batch_verifies(good.iter().copied()));
        assert!(verify_many(&good).iter().all(Result::is_ok));
    }

    #[test]
    fn the_key_cache_is_bounded() {
        for i in 0..KEY_CACHE_ENTRIES + 8 {
            let seed: [u8; 32] = blake3::hash(&i.to_le_bytes()).into();
            let author = Identity::from_seed(seed).author();
            assert!(author.is_usable());
            assert!(lock(&KEYS).len() <= KEY_CACHE_ENTRIES);
        }
        // An unusable key is never cached.
        let identity = small_order()[0];
        assert!(!Author(identity).is_usable());
        assert!(!lock(&KEYS).contains_key(&identity));
    }

    #[test]
    fn key_file_round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let id = Identity::generate();
        id.save(&path).unwrap();
        assert_eq!(Identity::load(&path).unwrap().author(), id.author());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(id.save(&path).is_err(), "never overwrite a key");
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            Identity::load(&path),
            Err(IdentityError::Malformed { .. })
        ));
    }

    #[test]
    fn author_text_form() {
        let a = Identity::from_seed([7; 32]).author();
        assert_eq!(a.to_string().len(), 64);
        assert_eq!(a.to_string().parse::<Author>().unwrap(), a);
        assert!("xyz".parse::<Author>().is_err());
    }
}
