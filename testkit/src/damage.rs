//! Damage, as a failing disk or a forger would do it.

use std::path::Path;

/// Flips a bit in the middle of `block` where it is stored in the pack files of the repo at
/// `root` (the directory holding `.weft`), as a failing disk would. Panics if no pack holds it.
pub fn damage_in_packs(root: &Path, block: &[u8]) {
    let packs = root
        .join(weft_dag::WEFT_DIR)
        .join(weft_store::layout::PACKS_DIR);
    let entries =
        std::fs::read_dir(&packs).unwrap_or_else(|e| panic!("listing {}: {e}", packs.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("listing {}: {e}", packs.display()))
            .path();
        if path.extension().is_some_and(|e| e == "pack") {
            let mut data =
                std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            if let Some(at) = data.windows(block.len()).position(|w| w == block) {
                data[at + block.len() / 2] ^= 0x01;
                std::fs::write(&path, data)
                    .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
                return;
            }
        }
    }
    panic!("the block is in no pack of {}", root.display());
}

/// The encoded change `block` with the bits `mask` of byte `at` of its 64-byte signature
/// flipped: the same change, no longer signed by its author.
pub fn flip_signature(block: &[u8], at: usize, mask: u8) -> Vec<u8> {
    assert!(at < 64, "a signature has 64 bytes");
    let mut bad = block.to_vec();
    // The `sig` entry: the text key "sig", then a 64-byte byte string.
    let sig = bad
        .windows(6)
        .position(|w| w == b"csig\x58\x40")
        .expect("the block of a change has a signature")
        + 6;
    bad[sig + at] ^= mask;
    bad
}
