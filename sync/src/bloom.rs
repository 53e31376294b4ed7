//! A Bloom filter over CIDs, the compact summary of "changes I have that you may lack".
//!
//! 15 bits and 10 hash functions per item give a false-positive rate near 0.07 %. Positions come
//! from BLAKE3 keyed with a random per-filter salt, so nobody can craft a change that is a false
//! positive in every filter (and so never offered). A false positive only means a change is not
//! sent in that turn; the receiver sees the gap as a missing parent and asks for it by CID.

use serde::{Deserialize, Serialize};
use weft_store::Cid;

/// Bits per item.
pub const BITS_PER_ITEM: usize = 15;
/// Hash functions per item.
pub const HASHES: u8 = 10;
/// Largest filter accepted, in bytes.
pub const MAX_BYTES: usize = 4 << 20;

/// See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bloom {
    #[serde(with = "serde_bytes")]
    salt: Vec<u8>,
    k: u8,
    #[serde(with = "serde_bytes")]
    bits: Vec<u8>,
}

impl Bloom {
    /// An empty filter sized for `n` items, with a random salt.
    pub fn with_capacity(n: usize) -> Bloom {
        let mut salt = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
        Bloom::with_salt(n, salt)
    }

    /// An empty filter sized for `n` items, with the given salt (a seeded simulation picks its
    /// salts so that a run is reproducible).
    pub fn with_salt(n: usize, salt: [u8; 32]) -> Bloom {
        let bytes = (n * BITS_PER_ITEM).div_ceil(8).clamp(8, MAX_BYTES);
        Bloom {
            salt: salt.to_vec(),
            k: HASHES,
            bits: vec![0; bytes],
        }
    }

    /// A filter holding `items`, with a random salt.
    pub fn from_items<'a>(items: impl ExactSizeIterator<Item = &'a Cid>) -> Bloom {
        let mut salt = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
        Bloom::from_items_salted(items, salt)
    }

    /// A filter holding `items`, with the given salt.
    pub fn from_items_salted<'a>(
        items: impl ExactSizeIterator<Item = &'a Cid>,
        salt: [u8; 32],
    ) -> Bloom {
        let mut b = Bloom::with_salt(items.len(), salt);
        for c in items {
            b.insert(c);
        }
        b
    }

    fn positions(&self, cid: &Cid) -> impl Iterator<Item = usize> {
        let key: [u8; 32] = self.salt.as_slice().try_into().unwrap_or([0; 32]);
        let h = blake3::keyed_hash(&key, &cid.to_bytes());
        let h = h.as_bytes();
        let h1 = u64::from_le_bytes(h[..8].try_into().unwrap_or_default());
        let h2 = u64::from_le_bytes(h[8..16].try_into().unwrap_or_default()) | 1;
        let m = (self.bits.len() * 8) as u64;
        (0..u64::from(self.k)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    /// Adds a CID.
    pub fn insert(&mut self, cid: &Cid) {
        let pos: Vec<usize> = self.positions(cid).collect();
        for p in pos {
            self.bits[p / 8] |= 1 << (p % 8);
        }
    }

    /// Whether the CID may be in the filter (false positives happen; false negatives do not).
    pub fn contains(&self, cid: &Cid) -> bool {
        self.positions(cid)
            .all(|p| self.bits[p / 8] & (1 << (p % 8)) != 0)
    }

    /// Size on the wire, roughly.
    pub fn len_bytes(&self) -> usize {
        self.bits.len() + self.salt.len() + 8
    }

    /// Checks a filter received from a peer.
    pub fn check(&self) -> Result<(), String> {
        if self.salt.len() != 32 {
            return Err("bloom salt must be 32 bytes".into());
        }
        if self.k == 0 || self.k > 32 {
            return Err(format!("bloom filter with {} hash functions", self.k));
        }
        if self.bits.is_empty() || self.bits.len() > MAX_BYTES {
            return Err(format!("bloom filter of {} bytes", self.bits.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use weft_store::Codec;

    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let items: Vec<Cid> = (0..5_000u32)
            .map(|i| Cid::hash(Codec::Raw, &i.to_be_bytes()))
            .collect();
        let b = Bloom::from_items(items.iter());
        assert!(items.iter().all(|c| b.contains(c)));
        let fp = (5_000..105_000u32)
            .filter(|i| b.contains(&Cid::hash(Codec::Raw, &i.to_be_bytes())))
            .count();
        // Expected about 0.07 % of 100,000; a broken filter gives thousands.
        assert!(fp < 300, "{fp} false positives");
        assert!(b.check().is_ok());
    }
}
