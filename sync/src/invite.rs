//! Invites and tickets: the formats of pairing, and the JOIN step that redeems an invite.
//!
//! An **invite** is an offer, signed by the inviting replica's author key, of one role in some
//! documents, until a time and for a number of uses. A **ticket** is what the inviter hands
//! over: the invite, the URLs of the replica that redeems it, and the invite's *secret*, an
//! ed25519 seed whose public key is the invite's id. Whoever holds the ticket proves it by
//! signing with that secret; the inviting replica keeps only the id, never the secret. The
//! bookkeeping (uses counted, revocation) is `weft-net`'s `invite` module.
//!
//! # Ticket text
//! `weftinvite1` then the DAG-CBOR [`Ticket`] map in RFC 4648 base32, lowercase, no padding
//! (case-insensitive on input, and a double click selects all of it). The `1` is the ticket
//! version; the map says it again in `v`. At most [`MAX_TICKET`] characters.
//!
//! ```text
//! ticket = {"v": 1, "name": text?, "peers": [text], "invite": invite, "secret": bytes(32)}
//! invite = {"v": 1, "id": bytes(32), "sig": bytes(64), "docs": [link], "role": text,
//!           "uses": int, "expires": int, "inviter": bytes(32)}
//! ```
//!
//! Maps are canonical DAG-CBOR (keys sorted length-first, then bytewise; the order above).
//! - `peers`: URLs of the inviting replica, tried in order (1 to [`MAX_PEERS`], each at most
//!   [`MAX_URL`] bytes): `tcp://KEY@host:port` today; a URL of a scheme this build does not
//!   speak is skipped, so a ticket may list transports added later without a new format.
//! - `name`: a hint for the joiner's directory (the inviter's, at most [`MAX_NAME`] bytes).
//! - `id`: the invite's public key; `secret` is its ed25519 seed.
//! - `role`: `reader`, `writer` or `admin`; `docs`: the document ids (1 to [`MAX_DOCS`]);
//!   `expires`: Unix time in seconds; `uses`: how many joins it allows (at least 1).
//! - `sig`: ed25519 by `inviter` over [`INVITE_DOMAIN`] ++ the DAG-CBOR of the invite map
//!   without `sig`, checked under weft's signature rule ([`Author::verify`]).
//!
//! # JOIN
//! On an authenticated link (`tcp://`: the Noise handshake has proved the joiner's author key
//! and gives a transcript hash), before any HELLO, the joiner sends a JOIN frame (tag `0x0a`,
//! payload at most [`MAX_JOIN`] bytes) and waits for the answer:
//!
//! ```text
//! join   = {"v": 1, "proof": bytes(64), "invite": invite}
//! proof  = ed25519(secret, "weft join v1\n" ++ transcript:32 ++ joiner key:32)
//! joined = {"docs": [link], "role": text}           JOINED frame, tag 0x0b
//! ```
//!
//! The responder checks the invite's signature, that it issued it, that it is neither expired,
//! revoked nor used up, and the proof against the invite's id, this link's transcript and the
//! key the handshake proved; so a JOIN replayed on another link, or by another key, fails.
//! Then it grants the role and answers JOINED, and the session goes on as any other (HELLO
//! both ways) with the joiner's new rights. A refused JOIN is answered with a REFUSE frame
//! (its reason in words) and the link closes.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use weft_dag::{Author, DocId, Identity, Role};
use weft_store::Cid;

/// What every ticket's text starts with: the format and its version.
pub const TICKET_PREFIX: &str = "weftinvite";
/// The ticket and invite version this build writes and reads.
pub const VERSION: u64 = 1;
/// What an invite's signature covers, before the invite's DAG-CBOR.
pub const INVITE_DOMAIN: &[u8] = b"weft invite v1\n";
/// What a JOIN's proof covers, before the transcript hash and the joiner's key.
pub const JOIN_DOMAIN: &[u8] = b"weft join v1\n";
/// The longest ticket text accepted, in characters.
pub const MAX_TICKET: usize = 8192;
/// The most peer URLs a ticket lists.
pub const MAX_PEERS: usize = 16;
/// The longest peer URL, in bytes.
pub const MAX_URL: usize = 512;
/// The most documents one invite covers.
pub const MAX_DOCS: usize = 256;
/// The longest directory hint, in bytes.
pub const MAX_NAME: usize = 64;
/// The largest JOIN payload.
pub const MAX_JOIN: usize = 16 << 10;

/// Why a ticket, an invite or a JOIN is not accepted as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

fn bad(reason: impl Into<String>) -> FormatError {
    FormatError(reason.into())
}

/// An invite's id: the public half of its key. Text: 64 hex digits; [`InviteId::short`] the
/// first 8, which is how commands show and take it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InviteId(pub [u8; 32]);

impl InviteId {
    /// The first 8 hex digits.
    pub fn short(&self) -> String {
        self.to_string()[..8].to_string()
    }
}

impl fmt::Display for InviteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for InviteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InviteId({})", self.short())
    }
}

/// A signed invite (see the [module docs](self) for its fields and signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// Its id, the public key of its secret.
    pub id: InviteId,
    /// The role it grants.
    pub role: Role,
    /// The documents it covers.
    pub docs: Vec<DocId>,
    /// When it expires, in Unix seconds.
    pub expires: u64,
    /// How many joins it allows.
    pub uses: u64,
    /// The key that signed it.
    pub inviter: Author,
    /// The inviter's signature.
    pub sig: [u8; 64],
}

/// The invite map on the wire; its fields in canonical order.
#[derive(Serialize, Deserialize)]
struct WireInvite {
    v: u64,
    id: ByteBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sig: Option<ByteBuf>,
    docs: Vec<Cid>,
    role: String,
    uses: u64,
    expires: u64,
    inviter: ByteBuf,
}

fn cbor<T: Serialize>(v: &T) -> Vec<u8> {
    match serde_ipld_dagcbor::to_vec(v) {
        Ok(b) => b,
        // Plain data: integers, text, bytes and CIDs.
        Err(e) => unreachable!("an invite always encodes: {e}"),
    }
}

fn array<const N: usize>(what: &str, b: &[u8]) -> Result<[u8; N], FormatError> {
    b.try_into()
        .map_err(|_| bad(format!("{what} of {} bytes (expected {N})", b.len())))
}

impl Invite {
    /// An invite signed by `inviter`.
    pub fn sign(
        inviter: &Identity,
        id: InviteId,
        role: Role,
        docs: Vec<DocId>,
        expires: u64,
        uses: u64,
    ) -> Invite {
        let mut invite = Invite {
            id,
            role,
            docs,
            expires,
            uses,
            inviter: inviter.author(),
            sig: [0; 64],
        };
        invite.sig = inviter.sign(&invite.signed_bytes());
        invite
    }

    fn wire(&self, with_sig: bool) -> WireInvite {
        WireInvite {
            v: VERSION,
            id: ByteBuf::from(self.id.0.to_vec()),
            sig: with_sig.then(|| ByteBuf::from(self.sig.to_vec())),
            docs: self.docs.iter().map(|d| d.0).collect(),
            role: self.role.to_string(),
            uses: self.uses,
            expires: self.expires,
            inviter: ByteBuf::from(self.inviter.0.to_vec()),
        }
    }

    /// What the signature covers.
    fn signed_bytes(&self) -> Vec<u8> {
        let mut m = INVITE_DOMAIN.to_vec();
        m.extend_from_slice(&cbor(&self.wire(false)));
        m
    }

    fn from_wire(w: WireInvite) -> Result<Invite, FormatError> {
        if w.v != VERSION {
            return Err(bad(format!(
                "invite version {} (this build reads {VERSION})",
                w.v
            )));
        }
        let role: Role = w.role.parse().map_err(|_| {
            bad(format!(
                "role {:?} (expected reader, writer or admin)",
                crate::text::printable(&w.role.chars().take(20).collect::<String>())
            ))
        })?;
        if role == Role::Owner {
            return Err(bad("an invite cannot make an owner"));
        }
        if w.docs.is_empty() || w.docs.len() > MAX_DOCS {
            return Err(bad(format!(
                "{} documents (an invite covers 1 to {MAX_DOCS})",
                w.docs.len()
            )));
        }
        if w.uses == 0 {
            return Err(bad("an invite of 0 uses"));
        }
        let sig = w.sig.ok_or_else(|| bad("the invite is not signed"))?;
        Ok(Invite {
            id: InviteId(array("an invite id", &w.id)?),
            role,
            docs: w.docs.into_iter().map(DocId).collect(),
            expires: w.expires,
            uses: w.uses,
            inviter: Author(array("an inviter key", &w.inviter)?),
            sig: array("a signature", &sig)?,
        })
    }

    /// The invite's DAG-CBOR map, as a ticket and a JOIN carry it.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor(&self.wire(true))
    }

    /// Decodes what [`Invite::to_bytes`] writes (the signature is not checked here).
    pub fn from_bytes(bytes: &[u8]) -> Result<Invite, FormatError> {
        let w: WireInvite =
            serde_ipld_dagcbor::from_slice(bytes).map_err(|e| bad(weft_dag::cbor::describe(&e)))?;
        Invite::from_wire(w)
    }

    /// Checks the inviter's signature (weft's signature rule, [`Author::verify`]).
    pub fn verify(&self) -> Result<(), FormatError> {
        self.inviter
            .verify(&self.signed_bytes(), &self.sig)
            .map_err(|_| {
                bad(format!(
                    "the signature of invite {} does not verify (the ticket was altered or damaged)",
                    self.id.short()
                ))
            })
    }
}

/// What a joiner holds: where to go, the invite, and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    /// A hint for the joiner's directory name.
    pub name: Option<String>,
    /// The inviting replica's URLs, in the order to try them.
    pub peers: Vec<String>,
    /// The invite.
    pub invite: Invite,
    /// The seed of the invite's key.
    secret: [u8; 32],
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("name", &self.name)
            .field("peers", &self.peers)
            .field("invite", &self.invite)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct WireTicket {
    v: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    peers: Vec<String>,
    invite: WireInvite,
    secret: ByteBuf,
}

impl Ticket {
    /// A new invite key: its id and its secret seed, from the OS's random source.
    pub fn new_key() -> (InviteId, [u8; 32]) {
        let mut seed = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
        let id = InviteId(Identity::from_seed(seed).author().0);
        (id, seed)
    }

    /// A ticket for `invite`, whose key's seed is `secret`. Checks what parsing checks.
    pub fn new(
        name: Option<String>,
        peers: Vec<String>,
        invite: Invite,
        secret: [u8; 32],
    ) -> Result<Ticket, FormatError> {
        let t = Ticket {
            name,
            peers,
            invite,
            secret,
        };
        t.check()?;
        Ok(t)
    }

    fn check(&self) -> Result<(), FormatError> {
        if self.peers.is_empty() || self.peers.len() > MAX_PEERS {
            return Err(bad(format!(
                "{} peer URLs (a ticket lists 1 to {MAX_PEERS})",
                self.peers.len()
            )));
        }
        if let Some(u) = self
            .peers
            .iter()
            .find(|u| u.is_empty() || u.len() > MAX_URL)
        {
            return Err(bad(format!(
                "a peer URL of {} bytes (1 to {MAX_URL})",
                u.len()
            )));
        }
        if self.name.as_ref().is_some_and(|n| n.len() > MAX_NAME) {
            return Err(bad(format!("a name longer than {MAX_NAME} bytes")));
        }
        if Identity::from_seed(self.secret).author().0 != self.invite.id.0 {
            return Err(bad(
                "its secret is not the key of its invite (the ticket was altered or damaged)",
            ));
        }
        self.invite.verify()
    }

    /// The proof of a JOIN on a link with transcript hash `transcript`, by `joiner`.
    pub fn proof(&self, transcript: &[u8; 32], joiner: &Author) -> [u8; 64] {
        Identity::from_seed(self.secret).sign(&join_message(transcript, joiner))
    }

    /// The ticket's text form (see the [module docs](self)).
    pub fn encode(&self) -> String {
        let wire = WireTicket {
            v: VERSION,
            name: self.name.clone(),
            peers: self.peers.clone(),
            invite: self.invite.wire(true),
            secret: ByteBuf::from(self.secret.to_vec()),
        };
        format!(
            "{TICKET_PREFIX}{VERSION}{}",
            multibase::Base::Base32Lower.encode(cbor(&wire))
        )
    }

    /// Parses and checks a ticket's text: its form, its limits, that its secret is its
    /// invite's key, and the invite's signature.
    pub fn decode(text: &str) -> Result<Ticket, FormatError> {
        let text = text.trim();
        if text.len() > MAX_TICKET {
            return Err(bad(format!(
                "{} characters (a ticket has at most {MAX_TICKET})",
                text.len()
            )));
        }
        let lower = text.to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix(TICKET_PREFIX) else {
            return Err(bad(format!("it does not start with {TICKET_PREFIX:?}")));
        };
        let Some(body) = rest.strip_prefix(&VERSION.to_string()) else {
            let v: String = rest.chars().take_while(char::is_ascii_digit).collect();
            return Err(bad(if v.is_empty() {
                "no version after the prefix".to_string()
            } else {
                format!("ticket version {v} (this build reads {VERSION})")
            }));
        };
        let bytes = multibase::Base::Base32Lower
            .decode(body)
            .map_err(|_| bad("it is not base32 (cut short, or a character changed?)"))?;
        let w: WireTicket = serde_ipld_dagcbor::from_slice(&bytes)
            .map_err(|e| bad(format!("its contents: {}", weft_dag::cbor::describe(&e))))?;
        if w.v != VERSION {
            return Err(bad(format!(
                "ticket version {} (this build reads {VERSION})",
                w.v
            )));
        }
        let t = Ticket {
            name: w.name,
            peers: w.peers,
            invite: Invite::from_wire(w.invite)?,
            secret: array("a secret", &w.secret)?,
        };
        t.check()?;
        Ok(t)
    }
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for Ticket {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Ticket, FormatError> {
        Ticket::decode(s)
    }
}

fn join_message(transcript: &[u8; 32], joiner: &Author) -> Vec<u8> {
    let mut m = JOIN_DOMAIN.to_vec();
    m.extend_from_slice(transcript);
    m.extend_from_slice(&joiner.0);
    m
}

/// A JOIN frame's message: the invite and the proof that the sender holds its ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// The invite presented.
    pub invite: Invite,
    /// See [`Ticket::proof`].
    pub proof: [u8; 64],
}

#[derive(Serialize, Deserialize)]
struct WireJoin {
    v: u64,
    proof: ByteBuf,
    invite: WireInvite,
}

impl Join {
    /// The JOIN a ticket's holder `joiner` sends on a link with transcript hash `transcript`.
    pub fn new(ticket: &Ticket, transcript: &[u8; 32], joiner: &Author) -> Join {
        Join {
            invite: ticket.invite.clone(),
            proof: ticket.proof(transcript, joiner),
        }
    }

    /// Whether the proof is the invite key's signature for this link and `joiner`.
    pub fn proves(&self, transcript: &[u8; 32], joiner: &Author) -> bool {
        Author(self.invite.id.0)
            .verify(&join_message(transcript, joiner), &self.proof)
            .is_ok()
    }

    /// The frame payload.
    pub fn encode(&self) -> Vec<u8> {
        cbor(&WireJoin {
            v: VERSION,
            proof: ByteBuf::from(self.proof.to_vec()),
            invite: self.invite.wire(true),
        })
    }

    /// Decodes a frame payload (the signature is not checked here).
    pub fn decode(payload: &[u8]) -> Result<Join, FormatError> {
        if payload.len() > MAX_JOIN {
            return Err(bad(format!(
                "a JOIN of {} bytes (limit {MAX_JOIN})",
                payload.len()
            )));
        }
        let w: WireJoin = serde_ipld_dagcbor::from_slice(payload)
            .map_err(|e| bad(weft_dag::cbor::describe(&e)))?;
        if w.v != VERSION {
            return Err(bad(format!(
                "JOIN version {} (this build reads {VERSION})",
                w.v
            )));
        }
        Ok(Join {
            invite: Invite::from_wire(w.invite)?,
            proof: array("a proof", &w.proof)?,
        })
    }
}

/// A JOINED frame's message: what the joiner was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The documents.
    pub docs: Vec<DocId>,
    /// The role in each.
    pub role: Role,
}

#[derive(Serialize, Deserialize)]
struct WireJoined {
    docs: Vec<Cid>,
    role: String,
}

impl Joined {
    /// The frame payload.
    pub fn encode(&self) -> Vec<u8> {
        cbor(&WireJoined {
            docs: self.docs.iter().map(|d| d.0).collect(),
            role: self.role.to_string(),
        })
    }

    /// Decodes a frame payload.
    pub fn decode(payload: &[u8]) -> Result<Joined, FormatError> {
        let w: WireJoined = serde_ipld_dagcbor::from_slice(payload)
            .map_err(|e| bad(weft_dag::cbor::describe(&e)))?;
        if w.docs.len() > MAX_DOCS {
            return Err(bad(format!(
                "{} documents (limit {MAX_DOCS})",
                w.docs.len()
            )));
        }
        let role = w.role.parse().map_err(|_| bad("an unknown role"))?;
        Ok(Joined {
            docs: w.docs.into_iter().map(DocId).collect(),
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(role: Role) -> Ticket {
        let inviter = Identity::from_seed([7; 32]);
        let (id, secret) = Ticket::new_key();
        let doc = DocId(Cid::hash(weft_store::Codec::DagCbor, b"doc"));
        let invite = Invite::sign(&inviter, id, role, vec![doc], 1_900_000_000, 1);
        Ticket::new(
            Some("notes".into()),
            vec!["tcp://127.0.0.1:7000".into(), "iroh://abc".into()],
            invite,
            secret,
        )
        .unwrap()
    }

    #[test]
    fn a_ticket_round_trips_through_its_text() {
        let t = ticket(Role::Writer);
        let text = t.encode();
        assert!(text.starts_with("weftinvite1"));
        assert!(text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_eq!(Ticket::decode(&text).unwrap(), t);
        assert_eq!(Ticket::decode(&text.to_uppercase()).unwrap(), t);
        assert_eq!(Ticket::decode(&format!("  {text}\n")).unwrap(), t);
    }

    #[test]
    fn a_changed_role_breaks_the_signature() {
        let mut t = ticket(Role::Reader);
        t.invite.role = Role::Admin;
        let text = t.encode();
        let e = Ticket::decode(&text).unwrap_err();
        assert!(e.0.contains("does not verify"), "{e}");
    }

    #[test]
    fn a_changed_signature_or_secret_is_refused() {
        let mut t = ticket(Role::Writer);
        t.invite.sig[0] ^= 1;
        assert!(Ticket::decode(&t.encode())
            .unwrap_err()
            .0
            .contains("does not verify"));
        let mut t = ticket(Role::Writer);
        t.secret[0] ^= 1;
        assert!(Ticket::decode(&t.encode())
            .unwrap_err()
            .0
            .contains("secret"));
    }

    #[test]
    fn bad_texts_are_refused_with_a_reason() {
        let text = ticket(Role::Writer).encode();
        for (input, words) in [
            ("", "does not start"),
            ("hello", "does not start"),
            ("weftinvite", "no version"),
            ("weftinvite9abc", "version 9"),
            ("weftinvite1!!!", "not base32"),
            ("weftinvite1aaaa", "contents"),
            (&text[..text.len() - 10], ""),
        ] {
            let e = Ticket::decode(input).unwrap_err();
            assert!(e.0.contains(words), "{input:?}: {e}");
        }
        let long = "a".repeat(MAX_TICKET + 1);
        assert!(Ticket::decode(&long).unwrap_err().0.contains("at most"));
    }

    #[test]
    fn a_proof_binds_the_link_and_the_key() {
        let t = ticket(Role::Writer);
        let joiner = Identity::from_seed([9; 32]).author();
        let other = Identity::from_seed([10; 32]).author();
        let join = Join::new(&t, &[1; 32], &joiner);
        let back = Join::decode(&join.encode()).unwrap();
        assert_eq!(back, join);
        assert!(back.proves(&[1; 32], &joiner));
        assert!(!back.proves(&[2; 32], &joiner));
        assert!(!back.proves(&[1; 32], &other));
        assert!(Join::decode(&[0xff; 10]).is_err());
        assert!(Join::decode(&vec![0; MAX_JOIN + 1])
            .unwrap_err()
            .0
            .contains("limit"));
    }

    #[test]
    fn joined_round_trips() {
        let j = Joined {
            docs: vec![DocId(Cid::hash(weft_store::Codec::DagCbor, b"x"))],
            role: Role::Reader,
        };
        assert_eq!(Joined::decode(&j.encode()).unwrap(), j);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;
    use weft_store::Codec;

    fn role() -> impl Strategy<Value = Role> {
        prop::sample::select(vec![Role::Reader, Role::Writer, Role::Admin])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any ticket within the limits reads back from its text as it was; one character
        /// changed in the text never panics and never reads back as another valid ticket with
        /// the same invite id but other terms.
        #[test]
        fn tickets_round_trip_and_damage_is_caught(
            role in role(),
            n_docs in 1..8usize,
            expires in any::<u64>(),
            uses in 1..u64::MAX,
            peers in prop::collection::vec("[a-z]{1,8}://[a-z0-9.:@]{1,40}", 1..4),
            name in prop::option::of("[a-zA-Z0-9._-]{1,20}"),
            seed in any::<[u8; 32]>(),
            at in any::<prop::sample::Index>(),
            to in prop::sample::select(b"abcdefghijklmnopqrstuvwxyz234567".to_vec()),
        ) {
            let inviter = Identity::from_seed(seed);
            let (id, secret) = Ticket::new_key();
            let docs = (0..n_docs)
                .map(|i| DocId(Cid::hash(Codec::DagCbor, &[i as u8])))
                .collect();
            let invite = Invite::sign(&inviter, id, role, docs, expires, uses);
            let t = Ticket::new(name, peers, invite, secret).unwrap();
            let text = t.encode();
            prop_assert_eq!(Ticket::decode(&text).unwrap(), t.clone());

            let i = TICKET_PREFIX.len() + 1 + at.index(text.len() - TICKET_PREFIX.len() - 1);
            let mut damaged = text.into_bytes();
            damaged[i] = to;
            let damaged = String::from_utf8(damaged).unwrap();
            if let Ok(d) = Ticket::decode(&damaged) {
                // Only a change that leaves the decoded ticket's signed terms alone may pass
                // (the last character's spare bits, the peers or the name hint).
                prop_assert_eq!(d.invite, t.invite);
            }
        }
    }
}

#[cfg(test)]
mod golden {
    use super::*;
    use weft_store::Codec;

    /// A ticket from fixed keys: ed25519 signatures are deterministic, so its bytes are too.
    pub(super) fn fixed() -> Ticket {
        let inviter = Identity::from_seed([7; 32]);
        let secret = [8; 32];
        let id = InviteId(Identity::from_seed(secret).author().0);
        let doc = DocId(Cid::hash(Codec::DagCbor, b"doc"));
        let invite = Invite::sign(&inviter, id, Role::Writer, vec![doc], 1_900_000_000, 2);
        Ticket::new(None, vec!["tcp://h:1".into()], invite, secret).unwrap()
    }

    /// The invite map, byte for byte: `a8` (8 entries) `v` 1, `id` bytes(32), `sig` bytes(64),
    /// `docs` [tag 42 link], `role` "writer", `uses` 2, `expires` 1900000000, `inviter`
    /// bytes(32), keys length-first then bytewise.
    const INVITE: [&str; 6] = [
        "a861760162696458201398f62c6d1a457c51ba6a4b5f3dbd2f69fca93216218dc8997e416bd17d93",
        "ca637369675840893c866210a5b9a3a46c7343a8bf46871eb9755d8279a29abf9b4fb7d2b309169a",
        "8158c08ac06778c3ab48be7c4cf10e55f5cacbd2331bf510b9f65d2c3db10f64646f637381d82a58",
        "250001711e202f51eab70c364451857e15a448cc0af5103de3a41790dd4e42feaed317606b636472",
        "6f6c656677726974657264757365730267657870697265731a713fb30067696e76697465725820ea",
        "4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c",
    ];

    /// The whole ticket's text.
    const TICKET: [&str; 7] = [
        "weftinvite1urqxmalfobswk4ttqfuxiy3qhixs62b2gftgs3twnf2glkdboyawe2lelaqbhghwfrwru",
        "rl4kg5gus27hw6s62p4vezbmimnzcmx4qll2f6zhstdonuwowcare6imyqquw42hjdmonb2rp2gq4pls",
        "5k5qj42fgv7tnh3puvtbeljvakyycfmaz3yyovurpt4jtyq4vpvzlf5emy36uilt5s5fq63cd3emrxwg",
        "44b3avfqjiaafyr4ibpkhvlodbwiriyk7qvuremycxvca66hjaxsdou4qx6v3jroydlmnshe33mmvtho",
        "4tjorsxezdvonsxgathmv4ha2lsmvzru4j7wmago2loozuxizlslaqoustmmprjyuqkx32va6ytf3c7t",
        "fkho2xl5pt3sjbb52tjcrdneldgonswg4tformcacaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaq",
        "caibaeaqcai",
    ];

    #[test]
    fn the_invite_and_ticket_bytes_are_pinned() {
        let t = fixed();
        let hex: String = t
            .invite
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, INVITE.concat());
        assert_eq!(t.encode(), TICKET.concat());
        assert_eq!(Ticket::decode(&TICKET.concat()).unwrap(), t);
    }
}
