//! Pairing with invites: the inviting replica issues a ticket ([`create`]), lists and revokes
//! what it issued ([`list`], [`revoke`]), and redeems a ticket presented on a `tcp://` or `iroh://` link
//! ([`redeem`], which [`crate::server`] runs on a JOIN frame); the joiner redeems a ticket into
//! its (new, empty) repo and clones what it was granted, in one call ([`crate::join`]).
//!
//! The formats (ticket text, invite, JOIN) are [`weft_sync::invite`]'s; the records of issued
//! invites are kept in this replica's store (the `invites` keyspace, see [`records`]).
//!
//! Redemption is counted under one lock per process, and only one process holds a repo, so
//! two joins with one single-use ticket grant once, however close together they come: the use
//! is counted (and written through to the database) before the grant is committed, and given
//! back if the grant fails. What redemption checks, in order: the invite's signature, that
//! this replica's key signed it, the proof (the ticket's secret signed this link's transcript
//! and the joiner's key), that this replica issued it, that it is not revoked, expired or
//! used up, and that no document of it was removed here since (`doc rm`). The joiner is then granted the role in each document of the invite, unless it
//! holds as much or more there already (an invite never lowers a role).
//!
//! # Example
//! ```no_run
//! use std::path::Path;
//! use weft_dag::{Identity, Repo, Role};
//! use weft_net::{invite, join, ConnectOptions};
//!
//! // On the device that has the repo, served by `serve_tcp` at 192.0.2.7:7000:
//! let key = Identity::generate();
//! let repo = Repo::memory(key.clone());
//! let ticket = invite::create(&repo, &key, &invite::Options {
//!     role: Role::Writer,
//!     docs: vec![repo.doc("main")?],
//!     ttl: invite::DEFAULT_TTL,
//!     uses: 1,
//!     peers: vec![format!("tcp://{}@192.0.2.7:7000", key.author())],
//!     name: None,
//! })?;
//! let text = ticket.encode(); // shown as text, or as a QR code
//!
//! // On the new device, with a key of its own that the app keeps:
//! let ticket: weft_sync::invite::Ticket = text.parse()?;
//! let opts = ConnectOptions { identity: Some(Identity::generate()), ..Default::default() };
//! let (notes, joined) = join::join_new(Path::new("notes"), &ticket, &opts, &mut |_| {})?;
//! assert_eq!(joined.joined.role, Role::Writer);
//! # drop(notes);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod records;

use std::{
    io::Write,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use weft_dag::{Author, DocId, Identity, Repo, Role};
use weft_sync::{
    frame::Frame,
    invite::{FormatError, Invite, InviteId, Join, Joined, Ticket},
    refusal::{Reason, Refusal},
};

pub use records::Record;

/// The default lifetime of an invite.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest lifetime an invite may be given.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// Errors of pairing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ticket that does not parse or whose invite does not verify.
    #[error("bad ticket: {0}")]
    BadTicket(#[from] FormatError),
    /// An invite asked for that cannot be made as asked.
    #[error("cannot make the invite: {0}")]
    BadOptions(String),
    /// The inviting key may not grant in a document of the invite.
    #[error("cannot invite to document {doc}: key {key} is not an admin there")]
    NotAdmin {
        /// The document.
        doc: DocId,
        /// The key that would sign the invite.
        key: Author,
    },
    /// No invite this replica issued has that id (or prefix).
    #[error("no invite {0} here (see the list of invites)")]
    UnknownInvite(String),
    /// An id prefix that several invites share.
    #[error("invite prefix {0} matches several invites; give more digits")]
    Ambiguous(String),
    /// No URL of the ticket led to the inviting replica.
    #[error("cannot reach the inviting replica: {0}")]
    NoPeer(String),
    /// The link or the session failed, or the inviting replica refused the invite.
    #[error(transparent)]
    Sync(#[from] weft_sync::Error),
    /// The repo failed.
    #[error(transparent)]
    Repo(#[from] weft_dag::Error),
    /// The new repo could not be made.
    #[error(transparent)]
    Open(#[from] weft_dag::open::Error),
}

impl Error {
    /// What the caller acts on.
    pub fn kind(&self) -> weft_dag::ErrorKind {
        use weft_dag::ErrorKind as K;
        match self {
            Error::BadTicket(_) | Error::BadOptions(_) | Error::Ambiguous(_) => K::InvalidInput,
            Error::NotAdmin { .. } => K::Denied,
            Error::UnknownInvite(_) => K::NotFound,
            Error::NoPeer(_) => K::Network,
            Error::Sync(e) => e.kind(),
            Error::Repo(e) => e.kind(),
            Error::Open(e) => e.kind(),
        }
    }
}

/// The seconds since the Unix epoch now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A Unix time in seconds as RFC 3339 (UTC).
pub fn format_time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// What [`create`] makes.
#[derive(Debug, Clone)]
pub struct Options {
    /// The role it grants (reader, writer or admin).
    pub role: Role,
    /// The documents it covers (at least one).
    pub docs: Vec<DocId>,
    /// How long it is valid, from now (at most [`MAX_TTL`]; zero gives an invite already
    /// expired).
    pub ttl: Duration,
    /// How many joins it allows (at least 1).
    pub uses: u64,
    /// The URLs the joiner reaches this replica at, in the order to try them.
    pub peers: Vec<String>,
    /// A hint for the joiner's directory name.
    pub name: Option<String>,
}

/// Issues an invite signed by `inviter` (the repo's own key, an admin of every document in
/// `opts.docs`), records it, and returns its ticket.
pub fn create(repo: &Repo, inviter: &Identity, opts: &Options) -> Result<Ticket, Error> {
    let key = inviter.author();
    if key != repo.author() {
        return Err(Error::BadOptions(format!(
            "key {key} is not the key this repo signs with ({})",
            repo.author()
        )));
    }
    if opts.role == Role::Owner {
        return Err(Error::BadOptions("an invite cannot make an owner".into()));
    }
    if opts.uses == 0 {
        return Err(Error::BadOptions("an invite allows at least 1 use".into()));
    }
    if opts.ttl > MAX_TTL {
        return Err(Error::BadOptions(format!(
            "an invite lasts at most {} days",
            MAX_TTL.as_secs() / 86_400
        )));
    }
    if opts.peers.is_empty() {
        return Err(Error::BadOptions(
            "no URL to reach this replica at (a listening server)".into(),
        ));
    }
    let mut docs = opts.docs.clone();
    docs.sort();
    docs.dedup();
    for doc in &docs {
        if repo.role(*doc, &key)?.is_none_or(|r| r < Role::Admin) {
            return Err(Error::NotAdmin { doc: *doc, key });
        }
    }
    let now = now_secs();
    let (id, secret) = Ticket::new_key();
    let invite = Invite::sign(
        inviter,
        id,
        opts.role,
        docs,
        now.saturating_add(opts.ttl.as_secs()),
        opts.uses,
    );
    // The ticket's limits (documents, URLs, the name) are the options' to respect.
    let ticket = Ticket::new(
        opts.name.clone(),
        opts.peers.clone(),
        invite.clone(),
        secret,
    )
    .map_err(|e| Error::BadOptions(e.0))?;
    records::put(
        repo,
        &Record {
            invite,
            used: 0,
            created: now,
            revoked: false,
        },
    )?;
    Ok(ticket)
}

/// What became of an invite, at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// It may still be used.
    Open,
    /// Revoked.
    Revoked,
    /// Past its expiry.
    Expired,
    /// Every use granted.
    UsedUp,
}

impl State {
    /// Its name in lists: `open`, `revoked`, `expired`, `used`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Revoked => "revoked",
            State::Expired => "expired",
            State::UsedUp => "used",
        }
    }
}

impl Record {
    /// What became of the invite, at Unix time `now`.
    pub fn state(&self, now: u64) -> State {
        if self.revoked {
            State::Revoked
        } else if self.used >= self.invite.uses {
            State::UsedUp
        } else if now >= self.invite.expires {
            State::Expired
        } else {
            State::Open
        }
    }
}

/// Every invite this replica issued, oldest first.
pub fn list(repo: &Repo) -> Result<Vec<Record>, Error> {
    let mut v = records::all(repo)?;
    v.sort_by_key(|r| (r.created, r.invite.id));
    Ok(v)
}

/// One revocation or redemption at a time in this process.
static LOCK: Mutex<()> = Mutex::new(());

/// Revokes the invite whose id starts with `prefix` (hex digits, at least 4): it can no
/// longer be used. Returns its record.
pub fn revoke(repo: &Repo, prefix: &str) -> Result<Record, Error> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < 4 || prefix.len() > 64 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::BadOptions(format!(
            "{:?} is not an invite id (4 to 64 hex digits)",
            weft_sync::printable(&prefix.chars().take(70).collect::<String>())
        )));
    }
    let _guard = weft_store::sync_util::lock(&LOCK);
    let found: Vec<Record> = records::all(repo)?
        .into_iter()
        .filter(|r| r.invite.id.to_string().starts_with(&prefix))
        .collect();
    let mut record = match <[Record; 1]>::try_from(found) {
        Ok([r]) => r,
        Err(v) if v.is_empty() => return Err(Error::UnknownInvite(prefix)),
        Err(_) => return Err(Error::Ambiguous(prefix)),
    };
    record.revoked = true;
    records::put(repo, &record)?;
    Ok(record)
}

/// Why a JOIN was refused. Its words are what the joiner reads (the REFUSE frame's text, whose
/// reason is `other`) and what the server logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// The frame is not a JOIN that decodes (or is over [`weft_sync::invite::MAX_JOIN`]).
    #[error("a JOIN that does not decode: {0}")]
    Malformed(String),
    /// The inviter's signature does not hold: the invite was altered.
    #[error("{0}")]
    BadSignature(FormatError),
    /// Signed by another key than the served repo's.
    #[error("invite {}: not issued by this replica's key", .0.short())]
    OtherInviter(InviteId),
    /// The proof is not the invite key's signature of this link and key.
    #[error("invite {}: the proof does not match this link and key (a replayed or forged JOIN)", .0.short())]
    BadProof(InviteId),
    /// This replica has no record of it.
    #[error("invite {}: unknown here (not issued by this replica)", .0.short())]
    Unknown(InviteId),
    /// A record of that id holds another invite.
    #[error("invite {}: does not match the invite this replica issued", .0.short())]
    Mismatch(InviteId),
    /// Revoked.
    #[error("invite {}: revoked", .0.short())]
    Revoked(InviteId),
    /// Every use was granted.
    #[error("invite {}: already used ({used} of {uses} uses)", .id.short())]
    UsedUp {
        /// The invite.
        id: InviteId,
        /// Joins granted.
        used: u64,
        /// Joins it allows.
        uses: u64,
    },
    /// Past its expiry.
    #[error("invite {}: expired at {}", .id.short(), format_time(*.at))]
    Expired {
        /// The invite.
        id: InviteId,
        /// Its expiry, Unix seconds.
        at: u64,
    },
    /// This replica's key no longer administers a document of the invite.
    #[error("invite {}: this replica may no longer grant in document {doc}", .id.short())]
    NotAdmin {
        /// The invite.
        id: InviteId,
        /// The document.
        doc: DocId,
    },
    /// A document of the invite was removed here since (`doc rm`): it is neither served nor
    /// written any more.
    #[error("invite {}: document {doc} was removed from this replica", .id.short())]
    RemovedDoc {
        /// The invite.
        id: InviteId,
        /// The document.
        doc: DocId,
    },
    /// The store failed while redeeming it (nothing was granted).
    #[error("invite {}: cannot be redeemed here: {reason}", .id.short())]
    Failed {
        /// The invite.
        id: InviteId,
        /// The failure.
        reason: String,
    },
}

/// Redeems `join`, presented by `joiner` on a link whose transcript hash is `transcript`, at
/// Unix time `now`: checks it (see the [module docs](self)), counts the use and grants the
/// role. Nothing is granted or counted when it is refused.
pub fn redeem(
    repo: &Repo,
    joiner: Author,
    transcript: &[u8; 32],
    join: &Join,
    now: u64,
) -> Result<Joined, Refused> {
    let invite = &join.invite;
    let id = invite.id;
    invite.verify().map_err(Refused::BadSignature)?;
    if invite.inviter != repo.author() {
        return Err(Refused::OtherInviter(id));
    }
    if !join.proves(transcript, &joiner) {
        return Err(Refused::BadProof(id));
    }
    let failed = |e: weft_dag::Error| Refused::Failed {
        id,
        reason: e.to_string(),
    };
    let _guard = weft_store::sync_util::lock(&LOCK);
    let Some(mut record) = records::get(repo, &id).map_err(failed)? else {
        return Err(Refused::Unknown(id));
    };
    if record.invite != *invite {
        return Err(Refused::Mismatch(id));
    }
    match record.state(now) {
        State::Open => {}
        State::Revoked => return Err(Refused::Revoked(id)),
        State::UsedUp => {
            return Err(Refused::UsedUp {
                id,
                used: record.used,
                uses: record.invite.uses,
            })
        }
        State::Expired => {
            return Err(Refused::Expired {
                id,
                at: record.invite.expires,
            })
        }
    }
    // Every grant must be possible before any is made, so that a refusal grants nothing.
    let me = repo.author();
    for doc in &invite.docs {
        if repo.is_removed(*doc).map_err(failed)? {
            return Err(Refused::RemovedDoc { id, doc: *doc });
        }
        if repo
            .role(*doc, &me)
            .map_err(failed)?
            .is_none_or(|r| r < Role::Admin)
        {
            return Err(Refused::NotAdmin { id, doc: *doc });
        }
    }
    record.used += 1;
    records::put(repo, &record).map_err(failed)?;
    if let Err(e) = grant(repo, joiner, invite) {
        record.used -= 1;
        let _ = records::put(repo, &record);
        return Err(failed(e));
    }
    tracing::info!(
        invite = %id.short(),
        key = %joiner,
        role = %invite.role,
        "invite redeemed ({} of {} uses)",
        record.used,
        record.invite.uses
    );
    Ok(Joined {
        docs: invite.docs.clone(),
        role: invite.role,
    })
}

/// Grants `invite.role` to `who` in each document of the invite where it holds less.
fn grant(repo: &Repo, who: Author, invite: &Invite) -> Result<(), weft_dag::Error> {
    for doc in &invite.docs {
        if repo.role(*doc, &who)?.is_some_and(|r| r >= invite.role) {
            continue;
        }
        let mut tx = repo.transaction(*doc);
        tx.grant(who, invite.role)?;
        tx.commit()?;
    }
    Ok(())
}

/// The server's side of a JOIN frame (`body`, read by the caller) from `joiner`: redeems it and
/// answers JOINED, or REFUSE with the reason's words. `Err` with the reason when refused.
pub fn answer(
    repo: &Repo,
    joiner: Author,
    transcript: &[u8; 32],
    body: &[u8],
    writer: &mut impl Write,
) -> Result<Joined, Refused> {
    let result = match Frame::decode(body) {
        Ok(Frame::Join(join)) => redeem(repo, joiner, transcript, &join, now_secs()),
        Ok(_) => Err(Refused::Malformed("not a JOIN frame".to_string())),
        Err(e) => Err(Refused::Malformed(e.to_string())),
    };
    let frame = match &result {
        Ok(joined) => Frame::Joined(joined.clone()),
        Err(why) => Frame::Refuse(Refusal::new(
            Reason::Other(why.to_string()),
            Some(joiner),
            None,
        )),
    };
    // The peer may be gone already; what matters is what was decided.
    let _ = writer
        .write_all(&frame.encode())
        .and_then(|()| writer.flush());
    result
}
