//! `Repo::missing(doc, base)` against a naive model: every change of the document minus the
//! ancestors of the part of `base` that is in the document (computed with `Repo::ancestors`),
//! on random DAGs grown by replicas that edit and exchange changes.

use std::collections::BTreeSet;

use proptest::prelude::*;
use weft_dag::{Cid, DocId, Repo};

use weft_testkit::{chain, identity, replica, sync};

#[derive(Debug, Clone)]
enum Step {
    /// One commit of `ops` increments on replica `at`.
    Edit { at: usize, ops: usize },
    /// Every change of `from` to `to`.
    Send { from: usize, to: usize },
}

fn step(replicas: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..replicas, 1..3usize).prop_map(|(at, ops)| Step::Edit { at, ops }),
        1 => (0..replicas, 0..replicas).prop_map(|(from, to)| Step::Send { from, to }),
    ]
}

/// The model: all changes of `doc` in `repo`, minus the ancestors of the CIDs of `base` that
/// are changes of `doc` here; `None` base parts are ignored the same way `missing` ignores them.
fn model(repo: &Repo, doc: DocId, base: &[Cid]) -> Vec<(u64, Cid)> {
    let all = repo.ancestors(&repo.heads(doc).unwrap()).unwrap();
    let known: Vec<Cid> = base
        .iter()
        .copied()
        .filter(|c| repo.change_meta(c).unwrap().is_some_and(|m| m.doc == doc))
        .collect();
    let below: BTreeSet<Cid> = repo
        .ancestors(&known)
        .unwrap()
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    all.into_iter()
        .filter(|(_, c)| !below.contains(c))
        .collect()
}

fn run(n: usize, steps: &[Step], picks: &[prop::sample::Index], extra: u8) {
    let origin = Repo::memory(identity(1));
    let doc = origin.doc("main").unwrap();
    let mut repos = vec![origin];
    for i in 1..n {
        repos.push(replica(&repos[0], doc, i as u8 + 1));
    }
    for s in steps {
        match *s {
            Step::Edit { at, ops } => {
                let mut tx = repos[at].transaction(doc);
                for k in 0..ops {
                    tx.incr(&format!("k{k}"), 1).unwrap();
                }
                tx.commit().unwrap();
            }
            Step::Send { from, to } if from != to => sync(&repos[from], &repos[to], doc),
            Step::Send { .. } => {}
        }
    }
    // Everything anyone has, to draw base CIDs from (some unknown to a given replica).
    let everyone = Repo::memory(identity(9));
    let other_doc = everyone.doc("main").unwrap();
    for r in &repos {
        let genesis = repos[0].block(&doc.0).unwrap();
        everyone.apply_changes([(doc.0, genesis)]).unwrap();
        sync(r, &everyone, doc);
    }
    let pool: Vec<Cid> = everyone
        .ancestors(&everyone.heads(doc).unwrap())
        .unwrap()
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let mut base: Vec<Cid> = picks.iter().map(|i| *i.get(&pool)).collect();
    // A CID of another document and one of nothing at all: both ignored.
    if extra & 1 == 1 {
        base.push(other_doc.0);
    }
    if extra & 2 == 2 {
        base.push(Cid::hash(weft_dag::Codec::DagCbor, b"no such change"));
    }
    for repo in repos.iter().chain([&everyone]) {
        let got = repo.missing(doc, &base).unwrap();
        let want = model(repo, doc, &base);
        assert_eq!(got, want, "base {base:?}");
        // Sorted by (height, cid): parents before children, and heights are the real ones.
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        for (h, c) in &got {
            assert_eq!(repo.change_meta(c).unwrap().unwrap().height, *h);
        }
        // The heads themselves as base: nothing is missing.
        assert!(repo
            .missing(doc, &repo.heads(doc).unwrap())
            .unwrap()
            .is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn missing_matches_the_model(
        n in 2usize..=3,
        steps in prop::collection::vec(step(3), 0..30),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        extra in 0u8..4,
    ) {
        let steps: Vec<Step> = steps
            .into_iter()
            .map(|s| match s {
                Step::Edit { at, ops } => Step::Edit { at: at % n, ops },
                Step::Send { from, to } => Step::Send { from: from % n, to: to % n },
            })
            .collect();
        run(n, &steps, &picks, extra);
    }
}

#[test]
fn missing_with_no_usable_base_is_the_whole_document() {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    chain(&repo, doc, 5, |tx, i| {
        tx.incr("n", i as i64)?;
        Ok(())
    });
    let all = repo.ancestors(&repo.heads(doc).unwrap()).unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(repo.missing(doc, &[]).unwrap(), all);
    let stranger = Cid::hash(weft_dag::Codec::DagCbor, b"nothing");
    assert_eq!(repo.missing(doc, &[stranger]).unwrap(), all);
    // The genesis as base: everything after it.
    assert_eq!(repo.missing(doc, &[doc.0]).unwrap(), all[1..].to_vec());
}
