//! weft-todo: a desktop todo app on weft. Several lists shared between devices, which sync
//! live over tcp; titles are texts (two people typing in one title merge), ticks are registers
//! (a conflict shows, and the user keeps one value), items move between lists keeping their
//! identity.
//!
//! - [`board`]: how lists and items sit in one document, and [`board::Board`], what is drawn;
//! - [`command`]: what the user asks, each one commit ([`command::apply`]);
//! - [`session`]: a device: the repo in its data directory, its tcp server and live sync;
//! - [`worker`]: the thread that commits and reads, and sends [`snapshot::Snapshot`]s;
//! - [`snapshot`]: what the UI draws: board, history, people, sync status;
//! - [`ui`]: the egui app, which only reads snapshots and sends commands.
//!
//! The UI thread never waits for a commit, a sync or a flush: the worker does those, and
//! wakes the UI (a repaint request) when a snapshot is out.

#![allow(clippy::result_large_err)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod board;
pub mod command;
pub mod error;
pub mod session;
pub mod snapshot;
pub mod ui;
pub mod worker;

pub use crate::{
    command::{Command, Target},
    error::Error,
    session::{Options, Session},
    ui::App,
    worker::{spawn, Handle, Start},
};
