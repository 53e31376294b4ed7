//! Refusals: a responder that does not serve a peer's key says why, typed.
//!
//! From protocol version 3 on, a refusal travels in a REFUSE frame (tag `0x09`, see
//! [`crate::frame`]) whose payload is DAG-CBOR:
//!
//! ```text
//! {"reason": text, "key": bytes(32)?, "doc": link?, "text": text?}
//! reason = "nothing-readable"   the key may read no document here          (key)
//!        | "read-only"          a push into a document it may only read    (key, doc)
//!        | "not-shared"         a push into a document not shared with it  (key, doc)
//!        | "revoked"            the key was revoked in a document here     (key, doc)
//!        | "removed"            the document was removed here (`doc rm`)   (doc)
//!        | "other"              anything else, in words                    (text)
//! ```
//!
//! Absent fields are left out of the map. A reason this build does not know reads as
//! [`Reason::Other`] (a later version may add reasons without a new frame).
//!
//! Versions 1 and 2 have no REFUSE frame: a responder refuses a peer of those versions with an
//! ERROR frame whose text is the refusal's words, which start with [`REFUSED`], and an initiator
//! takes such an ERROR from a responder that has not shown version 3 as a refusal in words
//! ([`Reason::Other`]). The words are the same in every version: a refusal displays as
//! `access refused: ...`, however it travelled.

use std::fmt;

use serde::{Deserialize, Serialize};
use weft_dag::{Author, DocId};
use weft_store::Cid;

/// How the words of every refusal start: the ERROR text of a refusal in versions 1 and 2.
pub const REFUSED: &str = "access refused: ";

/// The first protocol version with the REFUSE frame.
pub const REFUSE_VERSION: u32 = 3;

/// The longest text of a [`Reason::Other`] kept from the wire, in characters (as for the text
/// of an ERROR frame).
pub const MAX_TEXT: usize = 500;

/// Why a key is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The key may read no document here: it is refused at its greeting, before it learns
    /// anything.
    NothingReadable,
    /// The key pushed into a document it may read but not write.
    ReadOnly,
    /// The key pushed into a document that is not shared with it: one it may not read, or one
    /// that is not here (the same words, so that a refusal tells nothing about which).
    NotShared,
    /// The key may read no document here, and was revoked in one (the document named): told so
    /// that a replica whose key was revoked learns it, though it can no longer pull the revoke.
    Revoked,
    /// A push into a document that was removed here (`weft doc rm`), whoever pushes it.
    Removed,
    /// A refusal in words only (the text after [`REFUSED`]): from a peer of protocol version 1
    /// or 2, or for a reason this build does not know.
    Other(String),
}

impl Reason {
    /// The reason's name on the wire.
    fn code(&self) -> &'static str {
        match self {
            Reason::NothingReadable => "nothing-readable",
            Reason::ReadOnly => "read-only",
            Reason::NotShared => "not-shared",
            Reason::Revoked => "revoked",
            Reason::Removed => "removed",
            Reason::Other(_) => "other",
        }
    }
}

/// A refusal: why, of which key, and for which document if it was about one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub reason: Reason,
    /// The key refused (absent from a refusal in words).
    pub key: Option<Author>,
    /// The document of a refused push.
    pub doc: Option<DocId>,
}

/// The payload of a REFUSE frame.
#[derive(Serialize, Deserialize)]
struct Wire {
    reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<serde_bytes::ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    doc: Option<Cid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

impl Refusal {
    /// A refusal of `key` for `reason`, about `doc` if given.
    pub fn new(reason: Reason, key: Option<Author>, doc: Option<DocId>) -> Refusal {
        Refusal { reason, key, doc }
    }

    /// A refusal in words, as an ERROR frame of version 1 or 2 carries it (with or without the
    /// leading [`REFUSED`]).
    pub fn in_words(text: &str) -> Refusal {
        let text = text.strip_prefix(REFUSED).unwrap_or(text);
        Refusal::new(Reason::Other(text.to_string()), None, None)
    }

    /// The payload of a REFUSE frame (DAG-CBOR, see the [module docs](self)).
    pub fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            reason: self.reason.code().to_string(),
            key: self.key.map(|k| serde_bytes::ByteBuf::from(k.0.to_vec())),
            doc: self.doc.map(|d| d.0),
            text: match &self.reason {
                Reason::Other(t) => Some(t.clone()),
                _ => None,
            },
        };
        match serde_ipld_dagcbor::to_vec(&wire) {
            Ok(b) => b,
            // Text, bytes and a CID always encode.
            Err(e) => unreachable!("a refusal always encodes: {e}"),
        }
    }

    /// Decodes the payload of a REFUSE frame; the error says what is wrong with it.
    pub fn decode(payload: &[u8]) -> Result<Refusal, String> {
        let wire: Wire =
            serde_ipld_dagcbor::from_slice(payload).map_err(|e| weft_dag::cbor::describe(&e))?;
        let key = match wire.key {
            Some(k) => Some(Author(
                k.as_slice()
                    .try_into()
                    .map_err(|_| format!("a key of {} bytes", k.len()))?,
            )),
            None => None,
        };
        let text = || {
            let t = wire.text.as_deref().unwrap_or_default();
            crate::text::printable(&t.chars().take(MAX_TEXT).collect::<String>())
        };
        let reason = match wire.reason.as_str() {
            "nothing-readable" => Reason::NothingReadable,
            "read-only" => Reason::ReadOnly,
            "not-shared" => Reason::NotShared,
            "revoked" => Reason::Revoked,
            "removed" => Reason::Removed,
            "other" => Reason::Other(text()),
            unknown => {
                let code: String = unknown.chars().take(64).collect();
                Reason::Other(format!("for a reason this build does not know ({code:?})"))
            }
        };
        Ok(Refusal::new(reason, key, wire.doc.map(DocId)))
    }
}

/// A refusal in words (see [`Refusal::in_words`]).
impl From<&str> for Refusal {
    fn from(text: &str) -> Refusal {
        Refusal::in_words(text)
    }
}

/// A refusal in words (see [`Refusal::in_words`]).
impl From<String> for Refusal {
    fn from(text: String) -> Refusal {
        Refusal::in_words(&text)
    }
}

/// The words: `access refused: ` and the reason, naming the key and the document.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.key.map(|k| k.to_string()).unwrap_or_default();
        let doc = self.doc.map(|d| d.to_string()).unwrap_or_default();
        f.write_str(REFUSED)?;
        match &self.reason {
            Reason::NothingReadable => write!(
                f,
                "key {key} may read no document here (ask the owner to grant it a role, or to \
                 serve with --allow {key})"
            ),
            Reason::ReadOnly => write!(f, "key {key} may read but not write document {doc}"),
            Reason::NotShared => write!(f, "no document {doc} is shared with key {key}"),
            Reason::Revoked => write!(
                f,
                "key {key} was revoked in document {doc} there, and may read no document (its \
                 changes that the revoke did not see no longer count; an admin can grant it a \
                 role again)"
            ),
            Reason::Removed => write!(f, "document {doc} was removed from that replica"),
            Reason::Other(text) => f.write_str(text),
        }
    }
}
