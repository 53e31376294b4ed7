//! Verifying a change on its own: its signature and the rules of its shape ([`Change::verify`],
//! [`verify_batch`]), and why one fails ([`VerifyError`], [`ShapeError`], [`KeyError`]).

use weft_store::{Cid, ErrorKind};

use super::{canonical, Change, EncodedChange, Op, MAX_KEY_LEN, SIGNING_DOMAIN};
use crate::{
    identity::{self, Author, SignatureError},
    role::Role,
};

/// Why a document key cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The empty string.
    #[error("a key cannot be empty")]
    Empty,
    /// More than [`MAX_KEY_LEN`] bytes.
    #[error("a key is at most {MAX_KEY_LEN} bytes")]
    TooLong,
    /// A NUL character.
    #[error("a key cannot contain NUL")]
    Nul,
}

/// Checks a document key: 1..=1024 bytes of UTF-8 without NUL.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong);
    }
    if key.contains('\0') {
        return Err(KeyError::Nul);
    }
    Ok(())
}

/// The rule of a change's shape that it breaks (see [`Change::verify`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// `seq` is 0.
    #[error("seq starts at 1")]
    SeqZero,
    /// `height` is 0.
    #[error("height starts at 1")]
    HeightZero,
    /// No op.
    #[error("a change needs at least one op")]
    NoOps,
    /// Parents out of order, or one twice.
    #[error("parents must be sorted and distinct")]
    UnsortedParents,
    /// A genesis change with parents.
    #[error("a genesis change has no parents")]
    GenesisParents,
    /// A genesis change of a height other than 1.
    #[error("a genesis change has height 1")]
    GenesisHeight,
    /// A genesis owner that is not a usable key (see [`Author::is_usable`]).
    #[error(
        "the genesis owner {owner} is not a usable ed25519 key (small order, or not canonically \
         encoded)"
    )]
    UnusableOwner {
        /// The owner named.
        owner: Author,
    },
    /// A genesis change signed by another key than its owner's.
    #[error("the genesis owner must be its author")]
    OwnerNotAuthor,
    /// A genesis change without exactly one op, a genesis op.
    #[error("a genesis change holds exactly one genesis op")]
    GenesisOps,
    /// A change other than a genesis without parents.
    #[error("only a genesis change has no parents (set `doc` only on others)")]
    NoParents,
    /// A genesis op in a change other than a genesis.
    #[error("a genesis op may only appear in a genesis change")]
    MisplacedGenesis,
    /// A grant of the owner role.
    #[error("the owner role cannot be granted")]
    OwnerGranted,
    /// An op on a key that cannot be used.
    #[error("op {op}: {reason}")]
    Key {
        /// The op's index.
        op: usize,
        /// What is wrong with its key.
        reason: KeyError,
    },
    /// A list or text op naming an op of its own change that does not come before it.
    #[error("op {op} names op {named} of its own change, which does not come before it")]
    ForwardRef {
        /// The op's index.
        op: usize,
        /// The index it names.
        named: u32,
    },
    /// A grant to a key that is not usable (see [`Author::is_usable`]).
    #[error(
        "op {op}: a role cannot be granted to {who}, which is not a usable ed25519 key (small \
         order, or not canonically encoded)"
    )]
    UnusableGrantee {
        /// The op's index.
        op: usize,
        /// The key.
        who: Author,
    },
}

/// Why a change's signature or shape is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature does not verify under the author key.
    #[error("change {cid} has a bad signature for author {author}")]
    BadSignature {
        /// The change.
        cid: Cid,
        /// Its claimed author.
        author: Author,
    },
    /// The author key is not a usable ed25519 key.
    #[error("change {cid} names author {author}, which is not a valid ed25519 key")]
    BadAuthorKey {
        /// The change.
        cid: Cid,
        /// The key.
        author: Author,
    },
    /// The change breaks a structural rule.
    #[error("change {cid} is invalid: {reason}")]
    Invalid {
        /// The change.
        cid: Cid,
        /// The rule it breaks.
        reason: ShapeError,
    },
}

impl VerifyError {
    /// Always [`ErrorKind::Corrupt`]: the change is not one an honest author signs.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Corrupt
    }
}

impl Change {
    /// Checks the signature and the rules that need no other change: sorted parents, genesis
    /// shape, valid keys, sequence and height from 1, usable keys for the author, the genesis
    /// owner and grants. The signed message is encoded from the fields (a change built or
    /// changed in memory); a change decoded from a block is checked faster by
    /// [`Change::verify_decoded`].
    pub fn verify(&self, cid: &Cid) -> Result<(), VerifyError> {
        self.check_shape()
            .map_err(|reason| VerifyError::Invalid { cid: *cid, reason })?;
        self.author
            .verify(&self.signing_bytes(), &self.sig)
            .map_err(|e| self.signature_error(cid, e))
    }

    /// [`Change::verify`] for a change decoded from `bytes` (which must be that block): the
    /// signed message is cut out of the bytes rather than encoded again.
    pub fn verify_decoded(&self, cid: &Cid, bytes: &[u8]) -> Result<(), VerifyError> {
        self.check_shape()
            .map_err(|reason| VerifyError::Invalid { cid: *cid, reason })?;
        self.author
            .verify(&self.message_in(bytes), &self.sig)
            .map_err(|e| self.signature_error(cid, e))
    }

    /// The signed message, cut from `bytes` if they are this change's block (checked by the
    /// signature they hold), else encoded from the fields.
    fn message_in(&self, bytes: &[u8]) -> Vec<u8> {
        let mut msg = SIGNING_DOMAIN.to_vec();
        match canonical::cut_sig(bytes, &mut msg) {
            Some(sig) if sig == self.sig => msg,
            _ => self.signing_bytes(),
        }
    }

    fn signature_error(&self, cid: &Cid, e: SignatureError) -> VerifyError {
        match e {
            SignatureError::UnusableKey => VerifyError::BadAuthorKey {
                cid: *cid,
                author: self.author,
            },
            _ => VerifyError::BadSignature {
                cid: *cid,
                author: self.author,
            },
        }
    }

    fn check_shape(&self) -> Result<(), ShapeError> {
        if self.seq == 0 {
            return Err(ShapeError::SeqZero);
        }
        if self.height == 0 {
            return Err(ShapeError::HeightZero);
        }
        if self.ops.is_empty() {
            return Err(ShapeError::NoOps);
        }
        if !self.parents.windows(2).all(|w| w[0] < w[1]) {
            return Err(ShapeError::UnsortedParents);
        }
        match self.doc {
            None => {
                if !self.parents.is_empty() {
                    return Err(ShapeError::GenesisParents);
                }
                if self.height != 1 {
                    return Err(ShapeError::GenesisHeight);
                }
                match self.ops.as_slice() {
                    [Op::Genesis { owner, .. }] if !owner.is_usable() => {
                        return Err(ShapeError::UnusableOwner { owner: *owner })
                    }
                    [Op::Genesis { owner, .. }] if *owner == self.author => {}
                    [Op::Genesis { .. }] => return Err(ShapeError::OwnerNotAuthor),
                    _ => return Err(ShapeError::GenesisOps),
                }
            }
            Some(_) => {
                if self.parents.is_empty() {
                    return Err(ShapeError::NoParents);
                }
                if self.ops.iter().any(|op| matches!(op, Op::Genesis { .. })) {
                    return Err(ShapeError::MisplacedGenesis);
                }
                if self.ops.iter().any(|op| {
                    matches!(
                        op,
                        Op::Grant {
                            role: Role::Owner,
                            ..
                        }
                    )
                }) {
                    return Err(ShapeError::OwnerGranted);
                }
            }
        }
        for (i, op) in self.ops.iter().enumerate() {
            if let Some(key) = op.key() {
                validate_key(key).map_err(|reason| ShapeError::Key { op: i, reason })?;
            }
            if let Some(named) = op.refs_here().into_iter().find(|n| *n as usize >= i) {
                return Err(ShapeError::ForwardRef { op: i, named });
            }
            if let Op::Grant { who, .. } = op {
                if !who.is_usable() {
                    return Err(ShapeError::UnusableGrantee { op: i, who: *who });
                }
            }
        }
        Ok(())
    }
}

impl EncodedChange {
    /// [`Change::verify_decoded`] on the change and its bytes.
    pub fn verify(&self) -> Result<(), VerifyError> {
        self.change.verify_decoded(&self.cid, &self.bytes)
    }
}

/// The message the signature of a change covers ([`SIGNING_DOMAIN`] ++ the map without `sig`),
/// cut out of its block; `None` if the bytes are not a change in canonical form with a `sig`.
/// Equal to [`Change::signing_bytes`] of the decoded change, without encoding anything.
pub fn signed_message(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut msg = SIGNING_DOMAIN.to_vec();
    canonical::cut_sig(bytes, &mut msg).map(|_| msg)
}

/// [`Change::verify_decoded`] for many changes at once, each `(cid, change, the block it was
/// decoded from)`: the answers are exactly those of checking each alone, in order. The shapes
/// are checked first, then every signature that is left goes into one ZIP-215 batch
/// ([`identity::verify_many`]); only if that batch fails is each signature checked alone, to
/// name the bad ones.
pub fn verify_batch(items: &[(&Cid, &Change, &[u8])]) -> Vec<Result<(), VerifyError>> {
    let mut out: Vec<Result<(), VerifyError>> = Vec::with_capacity(items.len());
    let mut messages: Vec<(usize, Vec<u8>)> = Vec::with_capacity(items.len());
    for (i, &(cid, change, bytes)) in items.iter().enumerate() {
        match change.check_shape() {
            Ok(()) => {
                out.push(Ok(()));
                messages.push((i, change.message_in(bytes)));
            }
            Err(reason) => out.push(Err(VerifyError::Invalid { cid: *cid, reason })),
        }
    }
    let signatures: Vec<(&Author, &[u8], &[u8; 64])> = messages
        .iter()
        .map(|(i, msg)| (&items[*i].1.author, msg.as_slice(), &items[*i].1.sig))
        .collect();
    let verdicts = identity::verify_many(&signatures);
    for ((i, _), verdict) in messages.iter().zip(verdicts) {
        let (cid, change, _) = items[*i];
        out[*i] = verdict.map_err(|e| change.signature_error(cid, e));
    }
    out
}
