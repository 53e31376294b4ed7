//! weft-net: the transports of weft sync, and the blocking drivers that run a session over them.
//!
//! It is a crate of its own so that an app with its own transport depends on the protocol
//! (`weft-sync`) alone and the lab needs no network code: everything here opens sockets,
//! starts processes and threads, or speaks Noise, and nothing in `weft-sync` does.
//!
//! - [`transport`]: the URLs that name peers ([`Remote`]), [`connect`] (a local
//!   `weft serve --stdio` child, the same over ssh, or `tcp://`), the silence timeout, [`Cancel`],
//!   and [`sync`], the blocking driver: one session as the initiator over a link it opens, in
//!   the direction its [`weft_sync::SyncOptions`] give (pull, push, both; a clone is a pull
//!   into an empty repo).
//! - [`noise`]: the secure channel of `tcp://`, a Noise XX handshake that proves both sides'
//!   author keys, then the byte stream in encrypted messages.
//! - [`timeout`]: [`timeout::TimeoutReader`] and [`timeout::TimeoutWriter`], the silence
//!   timeout of a link in each direction (also re-exported from [`transport`]).
//! - [`invite`]: pairing: issue, list and revoke invites, redeem one on the server's side
//!   of a link (a JOIN frame before the session), and join with a ticket (redeem and clone).
//! - [`server`]: [`serve_stream`] answers one session on any byte stream (stdio, the daemon's
//!   socket), [`serve_tcp`] serves a TCP listener, one thread per client.
//!
//! Errors are [`weft_sync::Error`]: the link's and the secure channel's failures have their
//! variants there, so that an app reads one table whatever moved its bytes.

#![allow(clippy::result_large_err)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod invite;
pub mod noise;
pub mod server;
pub mod timeout;
pub mod transport;

pub use crate::{
    server::{serve_stream, serve_tcp, ServeOptions},
    transport::{
        connect, sync, sync_over, Cancel, ConnectOptions, Connection, Remote, Synced,
        DEFAULT_TIMEOUT,
    },
};
