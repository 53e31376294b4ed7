//! Round trips per scenario, asserted exactly where the protocol promises a number.
//!
//! Bloom summaries have random salts, so about 0.07 % of the time the first change of a branch
//! is a false positive and costs one more round; [`Transcript::assert_rounds`] allows one
//! round per false positive it can see in the transcript, and none otherwise.
//!
//! [`Transcript::assert_rounds`]: crate::Transcript::assert_rounds

use weft_dag::{Cid, DocId, Repo, Role};
use weft_sync::{
    bloom::Bloom,
    frame::{Reply, Request},
    Direction::{Both, Pull, Push},
};

use crate::{
    assert_fsck, assert_same, edit, empty, grant, identity, state, sync, sync_observed,
    sync_tampered, writer_clone,
};

#[test]
fn fresh_clone_is_one_round_trip() {
    let a = Repo::memory(identity(1));
    let main = a.doc("main").unwrap();
    edit(&a, main, "k", 300);
    let b = empty(2);
    let (s, r) = sync(&b, &a, Pull);
    assert_eq!(s.round_trips, 1);
    assert_eq!(s.changes_in, 301);
    assert_eq!(s.redundant_in, 0);
    assert_eq!(s.changes_out, 0);
    assert_eq!(r.changes_out, 301);
    assert_eq!(b.doc("main").unwrap(), main);
    assert_same(&a, &b, main);
}

#[test]
fn fresh_clone_of_several_documents_is_one_round_trip() {
    let a = Repo::memory(identity(1));
    let main = a.doc("main").unwrap();
    let notes = a.create_doc("notes").unwrap();
    let todo = a.create_doc("todo").unwrap();
    edit(&a, main, "k", 40);
    edit(&a, notes, "n", 25);
    edit(&a, todo, "t", 1);
    let b = empty(2);
    let (s, _) = sync(&b, &a, Pull);
    assert_eq!(s.round_trips, 1);
    assert_eq!(s.docs, 3);
    assert_eq!(s.changes_in, 41 + 26 + 2);
    assert_eq!(s.redundant_in, 0);
    for (name, doc) in [("main", main), ("notes", notes), ("todo", todo)] {
        assert_eq!(b.doc(name).unwrap(), doc, "{name}");
        assert_same(&a, &b, doc);
    }
}

/// A fresh `Repo::memory` already has a `main` of its own (another genesis), so a cloned `main`
/// cannot take that name: it arrives unnamed and is reachable by id, and the local `main` is
/// left alone (a pull does not push it).
#[test]
fn clone_into_a_repo_with_its_own_main_keeps_both_apart() {
    let a = Repo::memory(identity(1));
    let theirs = a.doc("main").unwrap();
    edit(&a, theirs, "k", 10);
    let b = Repo::memory(identity(2));
    let ours = b.doc("main").unwrap();
    assert_ne!(ours, theirs);
    let (s, _) = sync(&b, &a, Pull);
    assert_eq!(s.round_trips, 1);
    assert_eq!(s.changes_in, 11);
    assert_same(&a, &b, theirs);
    assert_eq!(b.doc("main").unwrap(), ours);
    assert_eq!(b.doc_name(theirs).unwrap(), None);
    assert_eq!(b.doc(&theirs.to_string()).unwrap(), theirs);
    assert!(!a.has_change(&ours.0).unwrap());
    // Naming it by hand works.
    b.name_doc("upstream", theirs).unwrap();
    assert_eq!(b.doc("upstream").unwrap(), theirs);
}

/// `b` as a clone of `a`'s `main` (so the two have a persisted sync history), made a writer by
/// `a` before the clone (the grant is part of the common history).
fn cloned_pair() -> (Repo, Repo, DocId) {
    let a = empty(1);
    let doc = a.create_doc("main").unwrap();
    edit(&a, doc, "base", 20);
    let b = writer_clone(&a, doc, 2);
    assert_same(&a, &b, doc);
    (a, b, doc)
}

/// `a` and `b` each cloned `origin` (with `common` changes after the genesis, then two grants
/// that make `a` and `b` writers) and never synced with each other. Both grants come before
/// either clone, so the common history is the same on both sides.
fn siblings(common: usize) -> (Repo, Repo, DocId) {
    let origin = empty(9);
    let doc = origin.create_doc("main").unwrap();
    edit(&origin, doc, "base", common);
    let a = empty(1);
    let b = empty(2);
    grant(&origin, doc, a.author(), Role::Writer);
    grant(&origin, doc, b.author(), Role::Writer);
    sync(&a, &origin, Pull);
    sync(&b, &origin, Pull);
    (a, b, doc)
}

#[test]
fn fast_forward_pull_is_one_round_trip() {
    let (a, b, doc) = cloned_pair();
    edit(&a, doc, "a", 1000);
    let (s, r) = sync(&b, &a, Pull);
    assert_eq!(s.round_trips, 1);
    assert_eq!(s.changes_in, 1000);
    assert_eq!(s.redundant_in, 0);
    assert_eq!(s.changes_out, 0);
    assert_eq!(r.changes_in, 0);
    assert_same(&a, &b, doc);
}

#[test]
fn fast_forward_push_is_one_round_trip() {
    let (a, b, doc) = cloned_pair();
    edit(&b, doc, "b", 1000);
    let (s, r) = sync(&b, &a, Push);
    assert_eq!(s.round_trips, 1);
    assert_eq!(s.changes_out, 1000);
    assert_eq!(s.redundant_out, 0);
    assert_eq!(s.changes_in, 0);
    assert_eq!(r.changes_in, 1000);
    assert_eq!(r.redundant_in, 0);
    assert_same(&a, &b, doc);
}

#[test]
fn divergence_after_a_sync_takes_two_round_trips() {
    let (a, b, doc) = cloned_pair();
    edit(&a, doc, "a", 100);
    edit(&b, doc, "b", 70);
    let (s, r, t) = sync_observed(&b, &a, Both);
    t.assert_rounds(&s, 2, &[]);
    assert_eq!(s.changes_in, 100);
    assert_eq!(s.changes_out, 70);
    assert_eq!(r.changes_in, 70);
    assert_eq!((s.redundant_in, s.redundant_out), (0, 0));
    // The persisted base was offered and accepted, so no samples were needed.
    assert!(!t.requests[0].docs[0].base.is_empty());
    assert!(t.requests[0].docs[0].samples.is_empty());
    assert!(t.replies[0].docs[0].base_ok);
    assert_same(&a, &b, doc);
}

/// One direction after a divergence: a pull is answered at once (the summary goes out
/// speculatively); a push needs the responder's summary first, so it takes two.
#[test]
fn one_way_after_a_divergence() {
    let (a, b, doc) = cloned_pair();
    edit(&a, doc, "a", 30);
    edit(&b, doc, "b", 20);
    let (a_heads, b_heads) = (a.heads(doc).unwrap(), b.heads(doc).unwrap());

    let (s, r, t) = sync_observed(&b, &a, Push);
    t.assert_rounds(&s, 2, &[]);
    assert_eq!((s.changes_out, r.changes_in, s.changes_in), (20, 20, 0));
    assert_eq!(s.redundant_out, 0);
    let mut both = [a_heads, b_heads].concat();
    both.sort();
    assert_eq!(a.heads(doc).unwrap(), both);
    assert_eq!(b.heads(doc).unwrap().len(), 1);

    edit(&a, doc, "a", 5);
    let (s, _, t) = sync_observed(&b, &a, Pull);
    t.assert_rounds(&s, 1, &[]);
    assert_eq!((s.changes_in, s.redundant_in, s.changes_out), (35, 0, 0));
    assert_same(&a, &b, doc);
}

#[test]
fn divergence_without_sync_history_takes_two_round_trips() {
    let (a, b, doc) = siblings(500);
    edit(&a, doc, "a", 30);
    edit(&b, doc, "b", 40);
    let (s, r, t) = sync_observed(&a, &b, Both);
    assert!(t.requests[0].docs[0].base.is_empty());
    assert!(!t.requests[0].docs[0].samples.is_empty());
    t.assert_rounds(&s, 2, &[]);
    assert!(s.round_trips <= 3, "{s:?}");
    assert_eq!(s.changes_in, 40);
    assert_eq!(s.changes_out, 30);
    assert_eq!(r.changes_in, 30);
    assert_eq!((s.redundant_in, s.redundant_out), (0, 0));
    assert_same(&a, &b, doc);
}

/// Above `SPECULATIVE_SUMMARY` candidates the first turn carries no summary: the responder asks
/// for one, and the samples it confirmed in the first turn must still bound what it sends in
/// the second (the initiator's summary leaves out everything below them).
#[test]
fn pull_without_sync_history_above_the_speculative_limit() {
    let (a, b, doc) = siblings(weft_sync::SPECULATIVE_SUMMARY + 100);
    edit(&a, doc, "a", 5);
    edit(&b, doc, "b", 20);
    let (s, _, t) = sync_observed(&a, &b, Pull);
    assert!(t.requests[0].docs[0].bloom.is_none());
    assert!(t.replies[0].docs[0].want_summary);
    assert!(!t.replies[0].docs[0].have.is_empty());
    t.assert_rounds(&s, 2, &[]);
    assert_eq!((s.changes_in, s.redundant_in, s.changes_out), (20, 0, 0));
    for h in b.heads(doc).unwrap() {
        assert!(a.has_change(&h).unwrap());
    }
    assert_fsck(&a);
}

/// 10,000 changes on each side of a fork, no sync history between the two. The rounds do not
/// depend on the depth: the initiator's first-turn summary covers every change it has (it
/// knows of nothing common yet), so the responder sends exactly its branch; then the initiator
/// has the responder's heads and pushes exactly what they lack. Nothing is sent twice: a
/// change crosses only if the receiver's summary (which holds all it has) does not claim it,
/// or if the receiver's heads prove it lacks it.
#[test]
fn deep_divergence_takes_a_handful_of_rounds() {
    const DEPTH: usize = 10_000;
    let (a, b, doc) = siblings(100);
    edit(&a, doc, "a", DEPTH);
    edit(&b, doc, "b", DEPTH);
    let (s, r, t) = sync_observed(&a, &b, Both);
    assert!(s.round_trips <= 4, "{s:?}");
    t.assert_rounds(&s, 2, &[]);
    assert_eq!(s.changes_in, DEPTH as u64);
    assert_eq!(s.changes_out, DEPTH as u64);
    assert_eq!(r.changes_in, DEPTH as u64);
    assert_eq!(
        s.redundant_in + s.redundant_out + r.redundant_in,
        0,
        "{s:?}"
    );
    assert_same(&a, &b, doc);
    assert_eq!(a.heads(doc).unwrap().len(), 2);
}

/// The per-peer state (the heads both had at the end of the last sync) bounds the summary of
/// the next sync to what changed since. Without it, the first turn's summary covers every
/// change the initiator has (1,513 here: the genesis, 1,500 common changes, the two grants of
/// [`siblings`] and 10 new ones; under `SPECULATIVE_SUMMARY`, so it goes out at once).
#[test]
fn second_sync_sends_a_smaller_summary() {
    let (a, b, doc) = siblings(1500);
    edit(&a, doc, "a", 10);
    edit(&b, doc, "b", 10);
    let (first, _, t1) = sync_observed(&a, &b, Both);
    edit(&a, doc, "a", 10);
    edit(&b, doc, "b", 10);
    let (second, _, t2) = sync_observed(&a, &b, Both);
    assert_eq!((first.changes_out, second.changes_out), (10, 10));
    assert_eq!((first.changes_in, second.changes_in), (10, 10));
    // Bytes of the initiator's summaries over the session.
    let summary = |t: &crate::Transcript| -> usize {
        t.requests
            .iter()
            .flat_map(|r| &r.docs)
            .filter_map(|d| d.bloom.as_ref())
            .map(|b| b.len_bytes())
            .sum()
    };
    assert!(t1.requests[0].docs[0].base.is_empty());
    // Under the limit, the first summary went out at once.
    assert!(t1.requests[0].docs[0].bloom.is_some());
    assert!(!t2.requests[0].docs[0].base.is_empty());
    // 1,513 candidates the first time, 10 the second.
    assert!(
        summary(&t2) * 20 < summary(&t1),
        "{} vs {}",
        summary(&t2),
        summary(&t1)
    );
    assert!(second.bytes_out < first.bytes_out);
    assert_same(&a, &b, doc);
}

#[test]
fn nothing_to_do_takes_no_round_trip() {
    let (a, b, doc) = cloned_pair();
    edit(&a, doc, "a", 5);
    edit(&b, doc, "b", 5);
    sync(&b, &a, Both);
    let before = state(&a, doc);
    for dir in [Pull, Push, Both] {
        let (s, r) = sync(&b, &a, dir);
        assert!(s.round_trips <= 1);
        assert_eq!(s.round_trips, 0);
        assert_eq!(r.round_trips, 0);
        assert_eq!((s.changes_in, s.changes_out), (0, 0));
    }
    assert_eq!(state(&a, doc), before);
    assert_same(&a, &b, doc);
}

// ----- false positives, forced -----

/// Every change of `doc`.
fn cids_of(repo: &Repo, doc: DocId) -> Vec<Cid> {
    let heads = repo.heads(doc).unwrap();
    repo.ancestors(&heads)
        .unwrap()
        .into_iter()
        .map(|(_, c)| c)
        .collect()
}

/// A summary with one false positive: everything `holder` has, plus `fake`. It replaces the
/// first summary it is given.
struct Claim {
    items: Vec<Cid>,
    done: bool,
}

impl Claim {
    fn new(holder: &Repo, doc: DocId, fake: Cid) -> Claim {
        let mut items = cids_of(holder, doc);
        items.push(fake);
        Claim { items, done: false }
    }

    fn apply(&mut self, slot: &mut Option<Bloom>) -> bool {
        if self.done || slot.is_none() {
            return false;
        }
        *slot = Some(Bloom::from_items(self.items.iter()));
        self.done = true;
        true
    }
}

/// Pushing `n` new changes: the responder's summary claims the first (the only one when `n` is
/// 1). The initiator must see from the reply that the responder still lacks its heads and
/// send that change in one more round, instead of ending the session with the responder
/// holding orphans (or, for a lone change, giving up as if the peer withheld something).
fn push_with_a_false_positive(n: usize) {
    let (a, b, doc) = cloned_pair();
    edit(&a, doc, "a", 30);
    let base = b.heads(doc).unwrap();
    edit(&b, doc, "b", n);
    let first = b.missing(doc, &base).unwrap()[0].1;
    let mut claim = Claim::new(&a, doc, first);
    let (s, r, t) = sync_tampered(&b, &a, Push, &mut |_| false, &mut |rep: &mut Reply| {
        claim.apply(&mut rep.docs[0].bloom)
    })
    .unwrap();
    assert!(claim.done);
    t.assert_rounds(&s, 3, &[first]);
    assert_eq!((s.changes_out, r.changes_in), (n as u64, n as u64));
    assert_eq!(s.redundant_out, 0);
    for h in b.heads(doc).unwrap() {
        assert!(a.has_change(&h).unwrap());
    }
    assert_fsck(&a);
    // Nothing is left for the next push.
    let (s, _) = sync(&b, &a, Push);
    assert_eq!((s.round_trips, s.changes_out), (0, 0));
}

#[test]
fn a_false_positive_when_pushing_a_branch_costs_one_round() {
    push_with_a_false_positive(20);
}

#[test]
fn a_false_positive_when_pushing_a_lone_change_costs_one_round() {
    push_with_a_false_positive(1);
}

/// Pulling `n` new changes: the initiator's summary claims the responder's first. With more
/// after it, they come and the initiator asks for the missing parent by CID (and gets nothing
/// twice: its next summary holds what waits for that parent). Alone, nothing comes and
/// nothing is missing, so the initiator retries with a fresh summary (a new salt).
fn pull_with_a_false_positive(n: usize) {
    let (a, b, doc) = cloned_pair();
    let base = a.heads(doc).unwrap();
    edit(&a, doc, "a", n);
    edit(&b, doc, "b", 20);
    let first = a.missing(doc, &base).unwrap()[0].1;
    let mut claim = Claim::new(&b, doc, first);
    let (s, _, t) = sync_tampered(
        &b,
        &a,
        Pull,
        &mut |req: &mut Request| claim.apply(&mut req.docs[0].bloom),
        &mut |_| false,
    )
    .unwrap();
    assert!(claim.done);
    t.assert_rounds(&s, 2, &[first]);
    assert_eq!(t.replies[0].n_blocks, n as u64 - 1);
    if n > 1 {
        assert_eq!(t.requests[1].need, vec![first]);
    } else {
        assert!(t.requests[1].need.is_empty());
        assert!(t.requests[1].docs[0].bloom.is_some());
    }
    assert_eq!((s.changes_in, s.redundant_in), (n as u64, 0));
    for h in a.heads(doc).unwrap() {
        assert!(b.has_change(&h).unwrap());
    }
    assert_fsck(&b);
}

#[test]
fn a_false_positive_when_pulling_a_branch_costs_one_round() {
    pull_with_a_false_positive(30);
}

#[test]
fn a_false_positive_when_pulling_a_lone_change_costs_one_round() {
    pull_with_a_false_positive(1);
}

/// Both ways, the initiator's first summary claims the responder's first new change, so the
/// rest of that branch waits on the initiator's side. In the second round the initiator
/// pushes its own branch and asks for the missing parent; the responder then has every head
/// of the initiator and answers by the exact difference, which must leave out what the
/// initiator holds waiting (its summary says so) instead of sending the branch again.
#[test]
fn a_false_positive_when_syncing_both_ways_sends_nothing_twice() {
    let (a, b, doc) = cloned_pair();
    let base = a.heads(doc).unwrap();
    edit(&a, doc, "a", 12);
    edit(&b, doc, "b", 8);
    let first = a.missing(doc, &base).unwrap()[0].1;
    let mut claim = Claim::new(&b, doc, first);
    let (s, r, t) = sync_tampered(
        &b,
        &a,
        Both,
        &mut |req: &mut Request| claim.apply(&mut req.docs[0].bloom),
        &mut |_| false,
    )
    .unwrap();
    assert!(claim.done);
    t.assert_rounds(&s, 2, &[first]);
    assert_eq!(t.requests[1].need, vec![first]);
    assert_eq!((s.changes_in, s.redundant_in), (12, 0));
    assert_eq!((s.changes_out, r.redundant_in), (8, 0));
    assert_same(&a, &b, doc);
}

/// Both sides keep receiving changes from elsewhere while a session runs (a busy gossip
/// network): the session brings each side to the other's heads as they were when it started,
/// and ends, instead of chasing the newest heads round after round until it gives up.
#[test]
fn a_session_ends_while_both_sides_keep_changing() {
    use weft_sync::{Endpoint, Initiator, Responder};

    let a = Repo::memory(identity(1));
    let main = a.doc("main").unwrap();
    let b = writer_clone(&a, main, 2);
    edit(&a, main, "a", 20);
    edit(&b, main, "b", 20);
    let a_start = a.heads(main).unwrap();
    let b_start = b.heads(main).unwrap();
    let mut i = Initiator::new(&b, crate::opts(Both)).unwrap();
    let mut r = Responder::new(&a).unwrap();
    let mut turns = 0;
    while !i.is_done() {
        while let Some(f) = i.poll_transmit().unwrap() {
            r.handle(&f[4..]).unwrap();
        }
        while let Some(f) = r.poll_transmit().unwrap() {
            i.handle(&f[4..]).unwrap();
        }
        // Between turns, each side commits a change that came from somewhere else.
        edit(&a, main, &format!("a{turns}"), 1);
        edit(&b, main, &format!("b{turns}"), 1);
        turns += 1;
        assert!(turns < 10, "the session keeps chasing new heads");
    }
    assert!(i.stats().round_trips <= 3, "{:?}", i.stats());
    for h in a_start {
        assert!(b.has_change(&h).unwrap(), "b lacks a's head {h}");
    }
    for h in b_start {
        assert!(a.has_change(&h).unwrap(), "a lacks b's head {h}");
    }
}
