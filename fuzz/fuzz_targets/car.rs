//! CAR v1 bundles: `bundle::apply` into an in-memory repo, empty or holding the base history.
//!
//! Invariants: nothing panics; whatever the outcome, the repo stays consistent (`fsck` finds
//! nothing wrong), and on success every root is a change of the repo.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the repo: odd, the base history; even, an empty repo.
    let Some((&pick, car)) = data.split_first() else {
        return;
    };
    let repo = if pick & 1 == 1 {
        weft_fuzz::base_repo()
    } else {
        weft_fuzz::empty_repo()
    };
    let before = weft_fuzz::n_blocks(&repo);
    let result = weft_sync::bundle::apply(&repo, car, "fuzz.car");
    if let Ok(stats) = &result {
        for root in &stats.roots {
            assert_eq!(repo.has_change(root).ok(), Some(true), "root {root}");
        }
        assert!(stats.applied + stats.duplicates <= stats.changes);
    }
    // Checking costs a signature check per change: only when the input stored something
    // (a failed bundle keeps the changes verified before the failure).
    if weft_fuzz::n_blocks(&repo) != before {
        weft_fuzz::assert_fsck(&repo, &result);
    }
});
