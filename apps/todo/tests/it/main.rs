//! weft-todo's tests: the board and its commands on in-memory repos, the worker and two
//! devices syncing over loopback tcp, and the UI drawn headless.

#![allow(clippy::unwrap_used, clippy::result_large_err)]

mod binary;
mod commands;
mod devices;
mod ui;
mod util;
