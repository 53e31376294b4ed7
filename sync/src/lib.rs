//! weft-sync: two replicas reach the same heads and state over any byte stream.
//!
//! This crate is the protocol alone, sans-IO: it opens no socket, starts no thread or process
//! and knows no cipher, so that an app that brings its own transport depends on it and nothing
//! more, and the lab runs it in process without network code. The transports (local and ssh
//! child processes, TCP secured with Noise, the server) are `weft-net`; live sync in the
//! background and the sync status per remote are `weft-live`. They are crates, not features,
//! so that the dependency graph says what needs what, and a test checks it (`layering` in this
//! crate's tests).
//!
//! # Goals
//! - As few round trips as possible: a fast-forward or a clone takes one round trip after the
//!   greeting, a typical divergence two, and the worst case never depends on the depth of the
//!   DAG (it is one more round per Bloom false positive on the edge of a branch, which is rare).
//! - Only missing changes cross the wire, each once, in topological order, verified and applied
//!   as they arrive, so a cut-off transfer keeps everything it verified and the next sync resumes.
//! - Sans-IO: [`Initiator`] and [`Responder`] are state machines fed with frames. [`pump`] runs
//!   one against the other in memory; [`run`] drives one over any `Read`/`Write`, the link a
//!   transport opened.
//! - Access on authenticated links: [`access`] decides what a key may read and push, and a
//!   refusal is a typed frame ([`refusal`]). Authenticating the key is the transport's job
//!   (`weft-net`'s Noise handshake proves both sides' author keys).
//!
//! Modules: [`frame`] the wire format; [`invite`] invites, tickets and the JOIN step; [`zblocks`] version 2's block stream; [`bloom`] the
//! summaries; [`refusal`] refusals; [`access`] who may read and push; [`peer`] the per-peer
//! state and [`keys`] its keyspace; [`bundle`] offline bundles (CAR files, over any
//! `Read`/`Write`). The session is cut along its seams: `session` (options, figures, the
//! [`Endpoint`] trait, [`pump`]), `greeting` (HELLO and version negotiation), `diff` (what to
//! send), `outbox` (the frames to send), `initiator`, `responder`, and `io` ([`run`]).
//!
//! Non-goals: partial replication inside a document.
//!
//! # Protocol (versions 1 to 3)
//! Frames are length-prefixed; see [`frame`] for the byte format. A session is:
//!
//! 0. **Pairing** (optional, on an authenticated link): before its HELLO the initiator may
//!    redeem an invite with a JOIN frame, which the responder answers with JOINED or REFUSE
//!    before the greeting (see [`invite`]).
//! 1. **Greeting.** Both sides send HELLO at once: protocol versions and a random replica id.
//!    The responder's HELLO also lists every document it serves with its name and heads.
//! 2. **Turns.** The initiator sends a REQUEST, then the blocks it pushes, then END. The
//!    responder applies the blocks, answers with a REPLY, the blocks the initiator lacks, then
//!    END. One request and its reply is one round trip. Blocks travel one per BLOCK frame in
//!    version 1, through a compressed stream in ZBLOCKS frames in version 2 (below).
//! 3. **End.** When every document is in sync the initiator sends DONE. Either side may send
//!    ERROR (a reason) and close. A responder that does not serve the peer's key sends REFUSE
//!    (version 3; an ERROR in words before) in place of its HELLO or of a REPLY, and closes.
//!
//! Per document, a request carries the initiator's heads, the responder's heads it has, the
//! *base* (the heads both had at the end of their last sync, from [`peer`] state), on the first
//! turn a few *samples* (ancestors at heights `top, top-1, top-3, top-7, ...`) and, when it wants
//! changes, a Bloom filter over its changes that are not below what it knows the responder has.
//!
//! The responder, per document:
//! - **fast path**: if it has every head of the initiator, it streams exactly the changes that
//!   are not their ancestors (found by walking down from its heads by height, not by walking the
//!   whole history), and the initiator is done;
//! - otherwise it lists which heads and samples it has, sends every candidate change the Bloom
//!   filter does not claim (and every descendant of one it sends), and, if the initiator pushes,
//!   a Bloom filter of its own candidates; without a filter to go by it asks for one.
//!
//! The initiator, per document, pushes exactly what the responder lacks when it has every head
//! the responder announced, and otherwise what the responder's filter does not claim. It stops
//! when it has the responder's heads (pull) and the responder has its heads (push). A parent
//! that a false positive held back shows up as missing: the next request asks for it by CID.
//!
//! So: fast-forward pull or clone, 1 round trip; fast-forward push, 1; divergence with a shared
//! base, 2; divergence with no sync history, 2 (the samples bound the common history in round
//! 1, the summaries follow in round 2). Range-based reconciliation was the alternative; it needs
//! `log n` rounds where this needs two, and the DAG structure (heads, heights, downward-closed
//! sets) gives the exact difference whenever one side has the other's heads. See
//! docs/sync.md for the comparison and the measured figures.
//!
//! # Versions
//! Each HELLO lists the versions its sender speaks, ascending ([`VERSIONS`]: `[1, 2, 3]` in
//! this build). A session uses the highest version both list; each side knows it once it has
//! read the other's HELLO, which is before either sends a block (the initiator's first turn
//! follows the responder's HELLO, the responder's turns follow requests) or a refusal (a
//! responder that refuses a key waits for the initiator's HELLO, which comes at once, and
//! answers it with the refusal). A peer that lists none in common is refused
//! ([`Error::Version`]). So a build that speaks `[1, 2, 3]` uses 3 with a peer that speaks 3,
//! 2 with one that speaks `[1, 2]`, and 1 with one that speaks only 1, either side.
//!
//! **Version 3** differs from version 2 in one thing: a responder refuses a key with a REFUSE
//! frame whose payload is a typed [`refusal::Refusal`] (a reason, the key, the document),
//! where version 2 (and 1) sends an ERROR whose text starts with `"access refused: "`. A
//! version-3 responder sends REFUSE only in a session of version 3, so an older peer gets the
//! ERROR it has always read; a version-3 initiator takes such an ERROR from a responder that
//! has not shown version 3 as a refusal in words. The words are the same either way.
//!
//! **Version 2** differs from version 1 in two things and nothing else (turns, messages,
//! summaries, access rules, limits and errors are the same):
//!
//! - **Compressed blocks.** The change blocks one side sends in a session go through one zstd
//!   stream (RFC 8878), for the whole session in that direction, and travel in ZBLOCKS frames
//!   in place of BLOCK frames. The stream is flushed at the end of each ZBLOCKS frame, and the
//!   sender closes a frame after 256 KiB of blocks and at the end of each turn, before END, so
//!   the peer can decode everything it has been sent. Later blocks refer back to earlier ones
//!   across frames and turns, within the sender's window (2 MiB; a receiver accepts windows up
//!   to 8 MiB and refuses larger ones). A frame declares how many bytes it inflates to (at most
//!   8 MiB): a frame that inflates to more is a decompression bomb ([`Error::Inflate`], found
//!   one byte past the declared size; nothing beyond that is inflated), one that inflates to
//!   less or is not zstd is malformed. Each block reaches the import as soon as it is whole,
//!   so a clone still streams and a session cut off keeps what it verified. A clone of
//!   single-op changes costs about 110 bytes per change instead of 334 (the 64-byte signature
//!   and the 32-byte digest of the parent are what does not compress). See [`zblocks`] and
//!   the byte layout in [`frame`].
//! - **Signature rule.** A version-2 replica checks change signatures under ZIP-215 (the
//!   ed25519 validity rule of Zcash's ZIP 215: `S` must be canonical, any encoding of `A` and
//!   `R` that decodes is taken, small-order points included, and the equation is the
//!   cofactored one), where version 1 checks them with ed25519-dalek's `verify_strict`, which
//!   also refuses small-order keys and `R` and uses the cofactorless equation. Every signature
//!   `verify_strict` accepts, ZIP-215 accepts too, and the two agree on every signature an
//!   honest signer produces; they differ only on signatures crafted on those edge cases, which
//!   ZIP-215 accepts and `verify_strict` refuses. A version-1
//!   peer is still served and still served from, over version-1 frames: everything it sends is
//!   checked as any change is, and if a version-2 replica holds a change whose signature only
//!   ZIP-215 accepts and serves it to a version-1 peer, that peer refuses it with a bad
//!   signature error naming the change ([`weft_dag::Error::Verify`]), keeping what it verified
//!   before, as it would any bad block. So replicas of the two versions may disagree only about
//!   changes a hostile signer made on the edge cases (and what is built on them), which
//!   version-1 replicas refuse; honest histories sync between them unchanged.
//!
//! Everything said of version 2 below holds for version 3.
//!
//! # Example
//! Two replicas in memory, each with a concurrent edit, converge:
//! ```
//! use weft_dag::{Identity, Repo, Role, Value};
//! use weft_sync::{pump, Direction, Initiator, Responder, SyncOptions};
//!
//! let a = Repo::memory(Identity::generate());
//! let b = Repo::memory(Identity::generate());
//! let doc = a.doc("main")?;
//! // a owns `main`: it lets b write, then b starts as a clone of a (grant included).
//! let mut tx = a.transaction(doc);
//! tx.grant(b.author(), Role::Writer)?;
//! tx.commit()?;
//! let opts = |direction| SyncOptions { direction, docs: None };
//! pump(&mut Initiator::new(&b, opts(Direction::Pull))?, &mut Responder::new(&a)?, None)?;
//!
//! for (repo, colour) in [(&a, "red"), (&b, "blue")] {
//!     let mut tx = repo.transaction(doc);
//!     tx.set("colour", Value::from(colour))?;
//!     tx.commit()?;
//! }
//!
//! let mut sync = Initiator::new(&b, opts(Direction::Both))?;
//! pump(&mut sync, &mut Responder::new(&a)?, None)?;
//! assert_eq!(a.heads(doc)?, b.heads(doc)?);
//! assert_eq!(a.state(doc).get_all("colour")?, b.state(doc).get_all("colour")?);
//! assert_eq!(weft_sync::Endpoint::stats(&sync).round_trips, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![allow(clippy::result_large_err)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod access;
pub mod bloom;
pub mod bundle;
mod diff;
mod error;
pub mod frame;
mod greeting;
mod initiator;
pub mod invite;
mod io;
pub mod keys;
mod outbox;
pub mod peer;
pub mod refusal;
mod responder;
mod session;
mod text;
pub mod zblocks;

pub use crate::{
    access::Access,
    error::Error,
    initiator::{DocOutcome, Initiator},
    io::{link_error, run, Stalled, Tampered},
    refusal::Refusal,
    responder::Responder,
    session::{
        pump, Direction, Endpoint, Stats, SyncOptions, MAX_ROUNDS, SPECULATIVE_SUMMARY, VERSIONS,
    },
    text::printable,
};
