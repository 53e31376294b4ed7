//! Integration tests of the sync protocol over the in-memory transport.
#![allow(clippy::unwrap_used)]

mod rounds;
