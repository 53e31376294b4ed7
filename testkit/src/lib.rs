//! weft-testkit: the helpers that the tests of several weft crates would otherwise each write
//! again. A dev-dependency only; nothing here is for production.
//!
//! - [`repo`]: identities from a one-byte seed, repos with no document, grants, every change of
//!   a document, copying changes between repos, writer clones, chains of commits;
//! - [`disk`]: [`Disk`], an in-memory store that can crash (losing what was not durable);
//! - [`rng`]: [`Rng`], a seeded SplitMix64 generator;
//! - [`damage`]: a block damaged in its pack file, a change with a flipped signature bit;
//! - [`fuzz`]: the saved inputs of a fuzz target, and their replay in an ordinary test;
//! - [`layout`]: [`check_unique`], that the keyspaces of the layers share no tag.

pub mod damage;
pub mod disk;
pub mod fuzz;
pub mod layout;
pub mod repo;
pub mod rng;

pub use crate::{
    damage::{damage_in_packs, flip_signature},
    disk::Disk,
    fuzz::{crashers, replay},
    layout::check_unique,
    repo::{
        all_changes, assert_fsck, assert_same, chain, edit, empty, grant, identity, replica, state,
        sync, sync_both,
    },
    rng::Rng,
};
