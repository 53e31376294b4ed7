//! `weft invite` (make a ticket, `ls`, `revoke`) and `weft join TICKET [DIR]`: pairing devices
//! without copying keys. The work is `weft_net::invite`'s; this module finds the addresses to
//! put in a ticket, makes the joiner's repo and prints.

use std::{
    fs,
    io::Write,
    net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result};
use serde::Serialize;
use weft_dag::{Author, DocId, Identity, Options, Repo, Role, KEY_FILE, WEFT_DIR};
use weft_net::invite::{self, Record, State};
use weft_sync::invite::Ticket;

use crate::{
    args::NetArgs,
    net::{self, ORIGIN},
    out::{emit, plural, usage, Outcome, Output},
};

/// No `weft serve --listen` or `--iroh` in this process: a ticket would have nowhere to send
/// the joiner.
const NO_SERVER: &str = "no `weft serve --listen` or `weft serve --iroh` holds this repo, so a \
     ticket would have no address to reach it at: start one (`weft serve --listen 0.0.0.0:PORT`, \
     or `weft serve --iroh` to be reached anywhere) and run `weft invite` again";

/// What `weft invite` is asked for.
#[derive(Debug)]
pub(crate) struct InviteCall {
    /// The role granted.
    pub role: String,
    /// `--expires`.
    pub expires: String,
    /// `--uses`.
    pub uses: u64,
    /// The documents covered.
    pub docs: Vec<DocId>,
    /// `--addr`.
    pub addrs: Vec<String>,
    /// The key that signs the invite (the repo's).
    pub identity: Identity,
}

/// `weft invite`: the ticket, and what it offers (`--json`).
#[derive(Debug, Serialize)]
pub(crate) struct Invited {
    pub ticket: String,
    pub id: String,
    pub role: String,
    pub docs: Vec<String>,
    pub uses: u64,
    /// Unix seconds.
    pub expires: u64,
    pub peers: Vec<String>,
}

impl Outcome for Invited {
    /// The ticket alone, so that `$(weft invite)` is the ticket.
    fn human(&self, out: &mut dyn Write, _quiet: bool) -> Result<()> {
        writeln!(out, "{}", self.ticket)?;
        Ok(())
    }
}

/// The addresses of this machine a peer may reach a server listening on `addr` at: `addr`
/// itself, or for an unspecified address the one outgoing traffic leaves from, then loopback.
fn reachable(addr: SocketAddr) -> Vec<SocketAddr> {
    if !addr.ip().is_unspecified() {
        return vec![addr];
    }
    let mut v = Vec::new();
    // Connecting a UDP socket sends nothing; it only picks the route's source address.
    let routed = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).map(|()| s))
        .and_then(|s| s.local_addr());
    if let Ok(local) = routed {
        if !local.ip().is_loopback() && !local.ip().is_unspecified() {
            v.push(SocketAddr::new(local.ip(), addr.port()));
        }
    }
    v.push(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        addr.port(),
    ));
    v
}

/// The URLs to put in a ticket: those `weft serve --iroh` serves on, then the `--addr`s, else
/// those of the `weft serve --listen` server(s).
fn peers(addrs: &[String], key: Author) -> Result<Vec<String>> {
    let listening = net::listening();
    // iroh:// first: it crosses NATs, and tries the direct addresses it carries too.
    let mut urls = net::listening_iroh();
    if listening.is_empty() && urls.is_empty() {
        return Err(usage(NO_SERVER));
    }
    if addrs.is_empty() {
        for (addr, server_key) in listening {
            for a in reachable(addr) {
                urls.push(format!("tcp://{server_key}@{a}"));
            }
        }
    } else {
        for a in addrs {
            let url = format!("tcp://{key}@{a}");
            weft_net::Remote::parse(&url).map_err(|e| usage(format!("--addr {a}: {e}")))?;
            urls.push(url);
        }
    }
    urls.dedup();
    urls.truncate(weft_sync::invite::MAX_PEERS);
    Ok(urls)
}

/// `weft invite`.
pub(crate) fn create(
    repo: &Repo,
    call: InviteCall,
    output: Output,
    out: &mut dyn Write,
) -> Result<()> {
    let ttl = humantime::parse_duration(call.expires.trim())
        .map_err(|e| usage(format!("--expires {:?}: {e}", call.expires)))?;
    let role: Role = call.role.parse().map_err(usage)?;
    let peers = peers(&call.addrs, call.identity.author())?;
    let name = repo
        .root()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.len() <= weft_sync::invite::MAX_NAME);
    let ticket = invite::create(
        repo,
        &call.identity,
        &invite::Options {
            role,
            docs: call.docs,
            ttl,
            uses: call.uses,
            peers,
            name,
        },
    )?;
    let i = &ticket.invite;
    emit(
        out,
        output,
        &Invited {
            ticket: ticket.encode(),
            id: i.id.to_string(),
            role: i.role.to_string(),
            docs: i.docs.iter().map(ToString::to_string).collect(),
            uses: i.uses,
            expires: i.expires,
            peers: ticket.peers.clone(),
        },
    )
}

/// One invite in `weft invite ls`.
#[derive(Debug, Serialize)]
pub(crate) struct Listed {
    pub id: String,
    /// `open`, `used`, `expired` or `revoked`.
    pub state: &'static str,
    pub role: String,
    pub used: u64,
    pub uses: u64,
    /// Unix seconds.
    pub expires: u64,
    /// Unix seconds.
    pub created: u64,
    pub docs: Vec<String>,
}

/// `weft invite ls`.
#[derive(Debug, Serialize)]
pub(crate) struct Invites {
    pub invites: Vec<Listed>,
}

impl Outcome for Invites {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        if self.invites.is_empty() && !quiet {
            writeln!(out, "no open invites")?;
        }
        for i in &self.invites {
            writeln!(
                out,
                "{}  {:<7}  {:<6}  {}/{} used  expires {}  {}",
                &i.id[..8],
                i.state,
                i.role,
                i.used,
                i.uses,
                invite::format_time(i.expires),
                plural(i.docs.len() as u64, "document")
            )?;
        }
        Ok(())
    }
}

fn listed(r: &Record, now: u64) -> Listed {
    Listed {
        id: r.invite.id.to_string(),
        state: r.state(now).as_str(),
        role: r.invite.role.to_string(),
        used: r.used,
        uses: r.invite.uses,
        expires: r.invite.expires,
        created: r.created,
        docs: r.invite.docs.iter().map(ToString::to_string).collect(),
    }
}

/// `weft invite ls [--all]`.
pub(crate) fn ls(repo: &Repo, all: bool, output: Output, out: &mut dyn Write) -> Result<()> {
    let now = invite::now_secs();
    let invites = invite::list(repo)?
        .iter()
        .filter(|r| all || r.state(now) == State::Open)
        .map(|r| listed(r, now))
        .collect();
    emit(out, output, &Invites { invites })
}

/// `weft invite revoke ID`.
#[derive(Debug, Serialize)]
pub(crate) struct Revoked {
    pub id: String,
    pub used: u64,
    pub uses: u64,
}

impl Outcome for Revoked {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        if !quiet {
            writeln!(
                out,
                "revoked invite {} ({} of {} uses were made)",
                &self.id[..8],
                self.used,
                self.uses
            )?;
        }
        Ok(())
    }
}

/// `weft invite revoke ID`.
pub(crate) fn revoke(repo: &Repo, id: &str, output: Output, out: &mut dyn Write) -> Result<()> {
    let r = invite::revoke(repo, id)?;
    emit(
        out,
        output,
        &Revoked {
            id: r.invite.id.to_string(),
            used: r.used,
            uses: r.invite.uses,
        },
    )
}

/// What `weft join` is asked to do.
#[derive(Debug)]
pub(crate) struct JoinCall<'a> {
    /// The ticket's text.
    pub ticket: &'a str,
    /// Where to make the repo.
    pub dir: Option<&'a Path>,
    /// The directory relative paths start from.
    pub start: &'a Path,
    /// Options of the new repo (its key, if `--identity` names one).
    pub options: Options,
    /// The key file `--identity` names.
    pub identity_path: Option<PathBuf>,
    /// Network options.
    pub net: &'a NetArgs,
    /// `--json` and `--quiet`.
    pub output: Output,
}

/// `weft join`.
#[derive(Debug, Serialize)]
pub(crate) struct Joined {
    /// The new repo's directory.
    pub root: String,
    /// The URL remembered as "origin".
    pub remote: String,
    /// The joiner's key.
    pub author: String,
    pub role: String,
    pub docs: Vec<String>,
    pub changes_in: u64,
}

impl Outcome for Joined {
    fn human(&self, out: &mut dyn Write, quiet: bool) -> Result<()> {
        if !quiet {
            writeln!(
                out,
                "joined {} as {} of {} into {}: {}",
                self.remote,
                self.role,
                plural(self.docs.len() as u64, "document"),
                self.root,
                plural(self.changes_in, "change")
            )?;
        }
        Ok(())
    }
}

/// The directory a ticket's name hint gives: its letters, digits, `.`, `_` and `-`, not
/// starting with a dot; else `weft`.
fn default_dir(ticket: &Ticket) -> PathBuf {
    let name = ticket.name.as_deref().unwrap_or_default();
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !name.is_empty() && name.chars().all(plain) && !name.starts_with('.') {
        PathBuf::from(name)
    } else {
        PathBuf::from("weft")
    }
}

/// `weft join TICKET [DIR]`: a new repo, granted by the inviting replica, with a clone of what
/// it granted. A failure leaves nothing behind.
pub(crate) fn join(call: JoinCall<'_>, out: &mut dyn Write) -> Result<()> {
    let ticket = Ticket::decode(call.ticket).map_err(invite::Error::BadTicket)?;
    let dir = call.start.join(
        call.dir
            .map_or_else(|| default_dir(&ticket), Path::to_path_buf),
    );
    if dir.join(WEFT_DIR).exists() {
        return Err(weft_dag::open::Error::AlreadyExists { path: dir }.into());
    }
    let created_dir = !dir.exists();
    let mut copts = net::connect_options(call.net)?;
    let mut options = call.options;
    let own_key = match &options.identity {
        Some(_) => None,
        None => Some(Identity::generate()),
    };
    if let Some(id) = &own_key {
        options.identity = Some(id.clone());
    }
    let identity = options.identity.clone();
    let result = (|| -> Result<Joined> {
        let repo = Repo::init_empty(&dir, options)?;
        let weft_dir = dir.join(WEFT_DIR);
        if let Some(key) = &call.identity_path {
            crate::ctx::remember_identity(&weft_dir, key)?;
        }
        if let Some(id) = &own_key {
            id.save(&weft_dir.join(KEY_FILE))?;
        }
        copts.identity = identity;
        copts.source = Some(ORIGIN.to_string());
        let progress = net::Progress::new(!call.output.json() && !call.output.quiet);
        let redeemed = weft_net::join::join(&repo, &ticket, &copts, &mut |s| progress.update(s));
        progress.finish();
        let redeemed = redeemed?;
        let url = redeemed.remote.to_string();
        net::save_remotes(&weft_dir, &[(ORIGIN.to_string(), url.clone())])?;
        if let Some(addr) = redeemed.remote.tcp_addr() {
            net::remember_peer(&weft_dir, &addr, redeemed.server_key)?;
        }
        weft_live::status::record(&repo, ORIGIN, &url, Ok(&redeemed.synced))?;
        repo.flush()?;
        Ok(Joined {
            root: dir.display().to_string(),
            remote: url,
            author: repo.author().to_string(),
            role: redeemed.joined.role.to_string(),
            docs: redeemed
                .joined
                .docs
                .iter()
                .map(ToString::to_string)
                .collect(),
            changes_in: redeemed.synced.stats.changes_in,
        })
    })();
    match result {
        Ok(joined) => emit(out, call.output, &joined),
        Err(e) => {
            let _ = fs::remove_dir_all(dir.join(WEFT_DIR));
            if created_dir {
                let _ = fs::remove_dir_all(&dir);
            }
            Err(e).context("cannot join")
        }
    }
}

/// `--expires` as a duration, for checks before the repo is opened.
pub(crate) fn check_expires(text: &str) -> Result<Duration> {
    humantime::parse_duration(text.trim()).map_err(|e| usage(format!("--expires {text:?}: {e}")))
}
