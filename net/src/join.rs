//! Joining with a ticket: the joiner's side of pairing ([`crate::invite`] is the inviter's).
//! [`join`] presents a ticket on a link to the inviting replica (a JOIN frame, proving the
//! ticket's secret over the link's transcript) and clones what it was granted, on that one
//! link; [`join_new`] makes the repo in a new directory first, and removes it if the join fails.

use std::{io::Write, path::Path};

use weft_dag::{Author, Repo};
use weft_sync::{
    frame::{read_frame, Frame},
    invite::{Join, Joined, Ticket},
    Direction, Endpoint, SyncOptions,
};

use crate::{
    invite::Error,
    transport::{connect, sync_over, ConnectOptions, Remote, Synced},
};

/// What [`join`] did.
#[derive(Debug, Clone)]
pub struct Redeemed {
    /// The URL that led to the inviting replica (with its key), to remember as a remote.
    pub remote: Remote,
    /// The key the inviting replica proved it holds.
    pub server_key: Author,
    /// What was granted.
    pub joined: Joined,
    /// The clone's session.
    pub synced: Synced,
    /// URLs of the ticket tried first that did not lead anywhere, with why.
    pub skipped: Vec<(String, String)>,
}

/// Redeems `ticket` with `opts.identity`'s key (the key of `repo`, new and empty: it is the
/// key the grant names) and clones the documents granted into `repo`, on one link: the URLs of
/// the ticket are tried in order, skipping those this build cannot use (another transport) and
/// those that cannot be reached. `progress` is called now and then during the clone.
pub fn join(
    repo: &Repo,
    ticket: &Ticket,
    opts: &ConnectOptions,
    progress: &mut dyn FnMut(&dyn Endpoint),
) -> Result<Redeemed, Error> {
    let identity = opts
        .identity
        .clone()
        .ok_or_else(|| Error::BadOptions("joining needs the key to be granted".into()))?;
    if identity.author() != repo.author() {
        return Err(Error::BadOptions(
            "the key joining is not the key of the repo joined into".into(),
        ));
    }
    let mut skipped = Vec::new();
    for url in &ticket.peers {
        let remote = match Remote::parse(url) {
            Ok(r @ (Remote::Tcp { .. } | Remote::Iroh(_))) => r,
            Ok(_) => {
                skipped.push((url.clone(), "not a network URL".to_string()));
                continue;
            }
            Err(e) => {
                skipped.push((url.clone(), e.to_string()));
                continue;
            }
        };
        let mut copts = opts.clone();
        // The inviter's key is the server's when the URL pins none.
        copts.expected_key = copts.expected_key.or(Some(ticket.invite.inviter));
        let mut conn = match connect(&remote, &copts) {
            Ok(c) => c,
            Err(e) if e.kind() == weft_dag::ErrorKind::Network => {
                skipped.push((url.clone(), e.to_string()));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let (Some(transcript), Some(server_key)) = (conn.transcript(), conn.peer_key()) else {
            skipped.push((url.clone(), "not an authenticated link".to_string()));
            continue;
        };
        let joined = present(
            &mut conn,
            ticket,
            &transcript,
            &identity.author(),
            opts.timeout.as_secs(),
        )?;
        let source = opts.source.clone().unwrap_or_else(|| remote.to_string());
        let synced = sync_over(
            repo,
            conn,
            &source,
            opts.timeout,
            SyncOptions {
                direction: Direction::Pull,
                docs: None,
            },
            progress,
        )?;
        let remote = match remote {
            Remote::Tcp { host, port, .. } => Remote::Tcp {
                host,
                port,
                key: Some(server_key),
            },
            other => other,
        };
        return Ok(Redeemed {
            remote,
            server_key,
            joined,
            synced,
            skipped,
        });
    }
    let tried = skipped
        .iter()
        .map(|(u, why)| format!("{u}: {why}"))
        .collect::<Vec<_>>()
        .join("; ");
    Err(Error::NoPeer(tried))
}

/// [`join`] into a new repo at `dir` (made with `opts.identity`, which the app keeps: the repo
/// writes no key file), which it returns with what was done. A failure leaves nothing behind:
/// the repo is removed, and `dir` too if this call made it. The app remembers
/// [`Redeemed::remote`] to sync with later.
pub fn join_new(
    dir: &Path,
    ticket: &Ticket,
    opts: &ConnectOptions,
    progress: &mut dyn FnMut(&dyn Endpoint),
) -> Result<(Repo, Redeemed), Error> {
    let identity = opts
        .identity
        .clone()
        .ok_or_else(|| Error::BadOptions("joining needs the key to be granted".into()))?;
    let made_dir = !dir.exists();
    let repo = Repo::init_empty(
        dir,
        weft_dag::Options {
            identity: Some(identity),
            ..weft_dag::Options::default()
        },
    )?;
    match join(&repo, ticket, opts, progress) {
        Ok(done) => Ok((repo, done)),
        Err(e) => {
            drop(repo);
            let _ = std::fs::remove_dir_all(dir.join(weft_dag::WEFT_DIR));
            if made_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            Err(e)
        }
    }
}

/// Sends the JOIN and reads the answer.
fn present(
    conn: &mut crate::Connection,
    ticket: &Ticket,
    transcript: &[u8; 32],
    joiner: &Author,
    timeout_secs: u64,
) -> Result<Joined, Error> {
    let name = conn.name().to_string();
    let secs = timeout_secs;
    let io = |e: std::io::Error| weft_sync::link_error(&name, e, secs);
    let join = Join::new(ticket, transcript, joiner);
    conn.writer
        .write_all(&Frame::Join(join).encode())
        .and_then(|()| conn.writer.flush())
        .map_err(io)?;
    let mut body = Vec::new();
    if !read_frame(&mut conn.reader, &mut body).map_err(io)? {
        return Err(weft_sync::Error::Closed {
            during: "before answering the invite",
        }
        .into());
    }
    match Frame::decode(&body)? {
        Frame::Joined(j) => Ok(j),
        Frame::Refuse(reason) => Err(weft_sync::Error::Refused { reason }.into()),
        Frame::Error(msg) => Err(weft_sync::Error::Peer(msg).into()),
        _ => Err(weft_sync::Error::Protocol(
            "the inviting replica answered a JOIN with something else than JOINED or REFUSE".into(),
        )
        .into()),
    }
}
