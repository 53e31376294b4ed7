//! Integration tests of weft-dag, built as one test binary (`it`) so that the crate and its
//! dependencies are linked once.
//!
//! - [`acl`]: write access control: what is rejected (`Unauthorized`, `Equivocation`, revokes
//!   of the owner) with nothing stored, what is stored but void (changes concurrent with a
//!   revoke, backdated changes, the cascade of a voided grant) in every delivery order, and
//!   random grants, revokes, writes and syncs checked against a model of the rules;
//! - [`crashers`]: the saved fuzz inputs of `change_decode` and `value_parser` replayed without
//!   a panic;
//! - [`convergence`]: random concurrent edits on several replicas with random, partial,
//!   reordered and duplicated exchanges; all replicas converge to the answer of a separate
//!   reference model;
//! - [`events`]: batch events: one per import group with its diffs, registers, counters, sets,
//!   filters, unsubscribing by drop, callbacks that read and write the repo;
//! - [`golden`]: the exact bytes and CID of a genesis change and one child;
//! - [`import`]: `Repo::import` after failures, and imports racing on the same changes;
//! - [`missing`]: `Repo::missing` against a naive model on random DAGs;
//! - [`repo`]: behaviour of the `Repo` API (CRDT semantics, errors, time travel, log, blame,
//!   subscriptions, `apply_changes` rejections, fsck, reopening, locking, crashes);
//! - [`seq`]: lists and texts through the `Repo`: moves between lists, concurrent moves and
//!   deletes, typing without interleaving, persistence, time travel, undo, batched diffs, and
//!   random concurrent edits on three replicas converging to a replay of the DAG;
//! - [`signature`]: checking changes in a batch answers what checking each alone does (also
//!   through an import), and small-order or non-canonical keys gain no right (author, genesis
//!   owner, grant target);
//! - [`traces`]: the public editing traces replayed through `seq::Text`: the sequential ones
//!   reach their final text, the concurrent one converges to it on every replica;
//! - [`typed`]: typed access through serde and rows read, typed and deleted under a prefix;
//! - [`undo`]: undo and redo of the author's own changes, which leave a peer's later writes
//!   alone and sync like any edit.

#![allow(clippy::unwrap_used)]

mod acl;
mod convergence;
mod crashers;
mod events;
mod golden;
mod hostile;
mod import;
mod missing;
mod repo;
mod seq;
mod signature;
mod traces;
mod typed;
mod undo;
