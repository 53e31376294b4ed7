//! The errors of sync sessions, bundles, and the transports that carry sessions.
//!
//! One type for every layer of a sync, so that an application reads one table whatever moved
//! its bytes: the protocol's own failures, the link's (produced by [`crate::run`] and by any
//! transport), and the secure channel's (produced by a transport that authenticates peers, as
//! `weft-net`'s Noise channel does). A storage failure arrives by one route, inside the dag's
//! error ([`Error::Repo`] with [`weft_dag::Error::Store`]): the sync layer reads and writes its
//! own keyspace through the dag (see [`crate::peer`]).

use weft_dag::Author;
use weft_store::{Cid, ErrorKind};

use crate::refusal::Refusal;

/// Everything a sync can fail with. Each variant says what was wrong and, where there is one,
/// names the CID.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading from or writing to the peer failed.
    #[error("connection to {peer} failed")]
    Io {
        /// The peer, as the user named it.
        peer: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The peer could not be reached at all.
    #[error("cannot reach {peer}: {reason}")]
    Unreachable {
        /// The peer, as the user named it.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The peer closed the connection before the session was over.
    #[error("the peer closed the connection {during}")]
    Closed {
        /// What the session was doing.
        during: &'static str,
    },
    /// The peer sent nothing for too long.
    #[error("the peer sent nothing for {secs} s; giving up")]
    Timeout {
        /// The limit that passed.
        secs: u64,
    },
    /// The peer took nothing we wrote for too long (it stopped reading).
    #[error("the peer read nothing for {secs} s; giving up")]
    WriteTimeout {
        /// The limit that passed.
        secs: u64,
    },
    /// A frame announced a size over the limit.
    #[error("the peer sent a frame of {len} bytes (the limit is {max})")]
    FrameTooLarge {
        /// The announced size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Bytes that are not a valid frame or message.
    #[error("the peer sent a malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// Compressed blocks (a ZBLOCKS frame, protocol version 2) that inflate past the size their
    /// frame declares or past the limit of a frame: a decompression bomb. Nothing beyond `max`
    /// bytes (and one more, to find out) is inflated.
    #[error(
        "the peer sent compressed blocks that inflate past {max} bytes (a decompression bomb)"
    )]
    Inflate {
        /// The most the frame could inflate to: its declared size, or the limit.
        max: u64,
    },
    /// Compressing our own blocks failed (zstd could not allocate its context, or a block too
    /// large to frame).
    #[error("compressing the blocks to send failed: {reason}")]
    Compression {
        /// zstd's words.
        reason: String,
    },
    /// A valid frame at a point where the protocol does not allow it, or a message that breaks a
    /// rule of the protocol.
    #[error("protocol violation by the peer: {0}")]
    Protocol(String),
    /// No protocol version in common.
    #[error("no common protocol version (we speak {ours:?}, the peer speaks {theirs:?})")]
    Version {
        /// What we speak.
        ours: Vec<u32>,
        /// What the peer speaks.
        theirs: Vec<u32>,
    },
    /// The peer reported an error and ended the session.
    #[error("the peer reported: {0}")]
    Peer(String),
    /// The sync went on for more rounds than any honest peer needs: as the initiator, the peer
    /// kept withholding changes; as the responder, the peer kept sending requests.
    #[error(
        "no convergence after {rounds} rounds; the peer keeps withholding changes or asking again"
    )]
    NoProgress {
        /// Rounds run.
        rounds: u32,
    },
    /// A document asked for is neither here nor on the peer.
    #[error("unknown document {}: neither this repo nor the peer has it", weft_dag::clip(.name))]
    UnknownDoc {
        /// The name or id asked for.
        name: String,
    },
    /// A URL that names no transport weft knows.
    #[error("bad remote URL {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A bundle file that is not a valid weft bundle.
    #[error("bad bundle {path}: {reason}")]
    BadBundle {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A block in a bundle does not hash to the CID it is stored under.
    #[error("bundle {path}: block {cid} does not match its hash")]
    BundleHashMismatch {
        /// The file.
        path: String,
        /// The CID it claimed.
        cid: Cid,
    },
    /// An incremental bundle builds on changes this repo does not have (it was made `--since`
    /// heads this repo never held): the changes that need them are not applied.
    #[error(
        "bundle {path} builds on {} this repo does not have ({}), so {n_orphans} of its \
         changes cannot be applied: apply the bundle that holds them first (an earlier one), \
         or get one made --since heads this repo has",
        plural_changes(missing.len()),
        list_cids(missing)
    )]
    BundleBase {
        /// The file.
        path: String,
        /// The changes it builds on that this repo lacks.
        missing: Vec<Cid>,
        /// How many of its changes wait for them.
        n_orphans: usize,
    },
    /// Verifying or applying a change failed (bad signature, bad encoding, missing parents,
    /// ...; the error names the change), or the repo's storage failed ([`weft_dag::Error::Store`],
    /// also for the sync layer's own keyspace).
    #[error(transparent)]
    Repo(#[from] weft_dag::Error),
    /// The secure (Noise) handshake failed: a message that does not decrypt, or a peer whose
    /// identity signature does not cover the key the handshake authenticated.
    #[error("secure handshake with {peer} failed: {reason}")]
    Handshake {
        /// The peer, as the user named it.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The peer authenticated with another key than the one expected (pinned in the URL, or
    /// remembered from an earlier connection).
    #[error(
        "{addr} presented key {presented}, but key {expected} was expected: the server's key \
         changed, or someone is intercepting the connection"
    )]
    WrongPeerKey {
        /// The address, `host:port`.
        addr: String,
        /// The key that was expected.
        expected: Author,
        /// The key the peer proved it holds.
        presented: Author,
    },
    /// A message on an encrypted link failed authentication: it was altered or corrupted on
    /// the way, or not sent by the peer the handshake authenticated.
    #[error("a message from {peer} failed authentication: the connection was tampered with or corrupted")]
    Tampered {
        /// The peer, as the user named it.
        peer: String,
    },
    /// The peer refused access to this key (or we refused the peer): a REFUSE frame, or from a
    /// peer of protocol version 1 or 2 an ERROR in words (see [`crate::refusal`]). It displays
    /// as `access refused: ...`, naming the key.
    #[error("{reason}")]
    Refused {
        /// Why.
        reason: Refusal,
    },
}

impl Error {
    /// What the caller acts on: [`ErrorKind::Network`] for a peer that cannot be reached or a
    /// connection that broke, [`ErrorKind::Peer`] for a peer that broke the protocol,
    /// [`ErrorKind::Denied`] for authentication and access, [`ErrorKind::Corrupt`] for a bad
    /// bundle, and the repo's kind for its failures (storage failures included: they come
    /// through the dag, see [`Error::Repo`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. }
            | Error::Unreachable { .. }
            | Error::Closed { .. }
            | Error::Timeout { .. }
            | Error::WriteTimeout { .. } => ErrorKind::Network,
            Error::FrameTooLarge { .. }
            | Error::Inflate { .. }
            | Error::Malformed { .. }
            | Error::Protocol(_)
            | Error::Version { .. }
            | Error::Peer(_)
            | Error::NoProgress { .. } => ErrorKind::Peer,
            Error::UnknownDoc { .. } | Error::BundleBase { .. } => ErrorKind::NotFound,
            Error::BadUrl { .. } => ErrorKind::InvalidInput,
            Error::BadBundle { .. } | Error::BundleHashMismatch { .. } => ErrorKind::Corrupt,
            Error::Handshake { .. }
            | Error::WrongPeerKey { .. }
            | Error::Tampered { .. }
            | Error::Refused { .. } => ErrorKind::Denied,
            Error::Repo(e) => e.kind(),
            Error::Compression { .. } => ErrorKind::Other,
        }
    }

    /// Whether the error is about what the peer sent (as opposed to our side or the network).
    pub fn is_peer_fault(&self) -> bool {
        use weft_dag::Error as D;
        match self {
            Error::FrameTooLarge { .. }
            | Error::Inflate { .. }
            | Error::Malformed { .. }
            | Error::Protocol(_)
            | Error::NoProgress { .. }
            | Error::Handshake { .. } => true,
            Error::Repo(e) => matches!(
                e,
                D::Decode(_)
                    | D::Verify(_)
                    | D::InvalidChange { .. }
                    | D::Orphans { .. }
                    | D::HashMismatch(_)
            ),
            _ => false,
        }
    }
}

fn plural_changes(n: usize) -> String {
    if n == 1 {
        "1 change".to_string()
    } else {
        format!("{n} changes")
    }
}

/// Up to three CIDs, and how many more.
fn list_cids(cids: &[Cid]) -> String {
    let mut text = cids
        .iter()
        .take(3)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if cids.len() > 3 {
        text.push_str(&format!(" and {} more", cids.len() - 3));
    }
    text
}
