//! Helpers: repos with a board, exchange of changes, bounded waits on real events.

use std::time::{Duration, Instant};

use weft_dag::{Cid, DocId, Identity, Repo, Role};
use weft_todo::{board::Board, command, App};

/// How long any wait may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(60);

/// A memory repo with a board (lists "Todo" and "Done") named `name`.
pub fn repo_with_board(name: &str) -> (Repo, DocId) {
    let repo = Repo::memory(Identity::generate());
    let doc = repo.create_doc("todo").unwrap();
    command::seed(&repo, doc, name).unwrap();
    (repo, doc)
}

/// An empty repo that `owner` lets write `doc`, with `doc` copied over.
pub fn writer_of(owner: &Repo, doc: DocId) -> Repo {
    let repo = Repo::with_store(weft_store::Store::memory(), Identity::generate()).unwrap();
    let mut tx = owner.transaction(doc);
    tx.grant(repo.author(), Role::Writer).unwrap();
    tx.commit().unwrap();
    exchange(owner, &repo, doc);
    repo
}

/// Sends `from`'s changes of `doc` that `to` lacks.
pub fn exchange(from: &Repo, to: &Repo, doc: DocId) {
    let base = to.heads(doc).unwrap_or_default();
    let missing: Vec<(u64, Cid)> = from.missing(doc, &base).unwrap();
    let blocks: Vec<(Cid, Vec<u8>)> = missing
        .into_iter()
        .map(|(_, cid)| (cid, from.block(&cid).unwrap()))
        .collect();
    to.apply_changes(blocks).unwrap();
}

/// The board of `doc` now.
pub fn board(repo: &Repo, doc: DocId) -> Board {
    Board::read(repo.view(doc).state()).unwrap()
}

/// Takes snapshots into `app` until `done` holds; fails after [`LIMIT`].
pub fn wait_until(app: &mut App, what: &str, done: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done(app) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero() && app.wait_for_snapshot(left),
            "no snapshot came in which {what}"
        );
    }
}
