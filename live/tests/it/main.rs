//! Integration tests of live sync and the sync status.
//!
//! - [`live`]: live sync (`weft_live::live`, and the example that shows it), the sync status,
//!   arrival delays, and the bytes of a sync with nothing new.

#![allow(clippy::unwrap_used, clippy::result_large_err)]

mod live;

use weft_dag::{DocId, Repo, Role};
use weft_sync::{pump, Direction, Initiator, Responder, SyncOptions};
pub use weft_testkit::{empty, grant, identity};

/// A clone of `origin` (an [`empty`] repo from `seed` that pulled everything) whose key
/// `origin` made a writer of `doc` first, so the clone holds the grant and may write `doc`.
pub fn writer_clone(origin: &Repo, doc: DocId, seed: u8) -> Repo {
    let repo = empty(seed);
    grant(origin, doc, repo.author(), Role::Writer);
    let mut i = Initiator::new(&repo, opts(Direction::Pull)).unwrap();
    pump(&mut i, &mut Responder::new(origin).unwrap(), None).unwrap();
    assert_eq!(repo.role(doc, &repo.author()).unwrap(), Some(Role::Writer));
    repo
}

/// Options for every document, in one direction.
pub fn opts(direction: Direction) -> SyncOptions {
    SyncOptions {
        direction,
        docs: None,
    }
}
