//! Damaged pack files, as a failing disk or a careless hand leaves them: each is detected when
//! the repo opens or by `fsck`, repaired where the pack allows it, and reported otherwise (by
//! CID where the record says which block it held), never with a panic.
//! (A damaged block: `errors::corrupt_block_is_7`; records the last checkpoint does not cover
//! and indexes cut short by a kill: `crash`.)

use std::path::PathBuf;

use crate::util::Dir;

/// A repo whose packs are sealed every few kilobytes, with `n` changes.
fn repo_with_packs(n: usize) -> Dir {
    let dir = Dir::new().with_env("WEFT_PACK_SIZE", "2048");
    dir.ok(&["init"]);
    let lines: String = (0..n).map(|i| format!("set k{i} {i}\n")).collect();
    let input = dir.join("input");
    std::fs::write(&input, lines).unwrap();
    let status = dir
        .cmd(&["batch", "-q"])
        .command()
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    dir
}

fn packs(dir: &Dir, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join(".weft/packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn a_missing_or_stale_pack_index_is_rebuilt() {
    let dir = repo_with_packs(40);
    let idx = packs(&dir, "idx");
    assert!(idx.len() >= 3, "{idx:?}");
    let ls = dir.ok(&["ls"]);
    // One index gone, another one of a different pack in its place.
    std::fs::remove_file(&idx[0]).unwrap();
    std::fs::copy(&idx[2], &idx[1]).unwrap();
    let fsck = dir.json(&["fsck", "--json"]);
    assert_eq!(fsck["ok"], true, "{fsck}");
    let repaired: Vec<&str> = fsck["repaired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(repaired.len(), 2, "{repaired:?}");
    assert!(repaired[0..2].iter().any(|r| r.contains("missing index")));
    assert!(repaired.iter().any(|r| r.contains("describes the pack at")));
    // Rebuilt for good, and every change still reads.
    assert!(idx[0].exists());
    assert_eq!(dir.ok(&["ls"]), ls);
    let again = dir.json(&["fsck", "--json"]);
    assert_eq!(again["repaired"].as_array().unwrap().len(), 0, "{again}");
}

#[test]
fn a_pack_cut_short_is_refused_with_what_is_missing() {
    let dir = repo_with_packs(40);
    let pack = packs(&dir, "pack").remove(0);
    let len = std::fs::metadata(&pack).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&pack)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    // The records of the cut are gone for good: every command says so, in one line, exit 7.
    for args in [&["get", "k1"][..], &["fsck"], &["log"]] {
        let err = dir.fails(7, args);
        assert!(err.contains("damaged") || err.contains("missing"), "{err}");
        assert!(err.contains("packs"), "{err}");
    }
}

#[test]
fn a_garbled_pack_index_or_pack_header_never_panics() {
    let dir = repo_with_packs(40);
    let idx = packs(&dir, "idx");
    std::fs::write(&idx[0], b"WEFTIDX\0 not really").unwrap();
    let fsck = dir.json(&["fsck", "--json"]);
    assert_eq!(fsck["ok"], true, "{fsck}");
    let pack = packs(&dir, "pack").remove(1);
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&pack, bytes).unwrap();
    let err = dir.fails(7, &["fsck"]);
    assert!(
        err.contains("does not start with a weft pack header"),
        "{err}"
    );
}
