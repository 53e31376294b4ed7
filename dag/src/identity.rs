//! Author identities: ed25519 key pairs and the key file that holds one.
//!
//! The key file is text: the 32-byte secret seed as 64 lowercase hex digits and a newline. It is
//! created with mode 0600.

use std::{
    fmt,
    io::Write as _,
    path::{Path, PathBuf},
    str::FromStr,
};

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

/// An author: the 32-byte ed25519 public key that signs changes. Text form: 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Author(pub [u8; 32]);

impl Author {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The ed25519 verifying key, if the bytes are a valid curve point.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
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
