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
    sync::{LazyLock, Mutex, MutexGuard, PoisonError},
};

use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::{Signer as _, SigningKey};
use ed25519_zebra::{batch, Signature, VerificationKey, VerificationKeyBytes};
use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, SeedableRng as _};

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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The cache holds no invariant a panic could break half-way.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

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
    #[error("cannot access key file {}: {source}", path.display())]
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
    #[error("invalid public key {input:?}: expected 64 hex digits")]
    BadPublicKey {
        /// What was given.
        input: String,
    },
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

#[cfg(test)]
mod tests {
    use super::*;

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
