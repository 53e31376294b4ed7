//! Integration tests of the `weft` command-line tool: every test runs the real binary against
//! real repos in temporary directories.

#![allow(clippy::unwrap_used)]

// Reads the server's memory from /proc.
#[cfg(target_os = "linux")]
mod attack;
mod batch;
mod concurrent;
#[cfg(unix)]
mod crash;
#[cfg(unix)]
mod daemon;
#[cfg(target_os = "linux")]
mod disconnect;
mod env;
mod errors;
mod exit;
#[cfg(target_os = "linux")]
mod faults;
mod history;
mod hostile;
#[cfg(unix)]
mod invite;
mod json;
mod lab;
#[cfg(unix)]
mod live;
mod migrate;
mod modules;
mod output;
mod packs;
mod repo;
mod revs;
#[cfg(unix)]
mod seq;
#[cfg(unix)]
mod sync;
#[cfg(unix)]
mod tcp;
#[cfg(unix)]
mod ui;
#[cfg(unix)]
mod ui_browser;
mod undo;
mod util;
mod values;
#[cfg(unix)]
mod watch;
