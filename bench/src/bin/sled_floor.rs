//! The floor under weft's commit rate: raw sled 0.34 `apply_batch` cost on this machine, with no
//! weft code at all. Run: `cargo run --release --bin sled_floor`.
//!
//! Each batch writes K keys of 32 bytes with 100-byte values, as one weft change writes about 8
//! small keys (block, indexes, heads, state).

use std::time::Instant;

#[allow(clippy::print_stdout)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(64 << 20)
        .mode(sled::Mode::HighThroughput)
        .open()?;
    let tree = db.open_tree("t")?;
    let n: u64 = 50_000;
    println!("raw sled apply_batch, {n} batches each, 100-byte values");
    for (label, keys, random) in [
        ("1 random key per batch", 1, true),
        ("8 random keys per batch", 8, true),
        ("8 sequential keys per batch", 8, false),
    ] {
        let start = Instant::now();
        for i in 0..n {
            let mut batch = sled::Batch::default();
            for j in 0..keys {
                let id = (i * 100 + j) ^ ((label.len() as u64) << 56);
                let key: Vec<u8> = if random {
                    blake3::hash(&id.to_le_bytes()).as_bytes().to_vec()
                } else {
                    let mut k = id.to_be_bytes().to_vec();
                    k.resize(32, 0);
                    k
                };
                batch.insert(key, vec![7u8; 100]);
            }
            tree.apply_batch(batch)?;
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!(
            "{label:<30} {us:>8.1} us/batch  ({:>7.0} batches/s)",
            1e6 / us
        );
    }
    db.flush()?;
    Ok(())
}
