//! The index file of a sealed pack, and a sealed pack with its index.
//!
//! # Index file
//! ```text
//! idx     = "WEFTIDX\0" version:u32be(1) first:u64be count:u32be entries:u32be pack_len:u64be
//!           fanout:[u32be; 256] entry*entries offset*count crc:u32be
//! entry   = digest:32 codec:u8 ordinal:u32be     (sorted by digest, then codec)
//! offset  = u32be                                 (the byte offset of record `ordinal`; 0 if lost)
//! ```
//! `count` is the number of records (ordinals) in the pack and `entries` the number of them
//! intact (fewer only for a pack that was damaged before its index was rebuilt);
//! `fanout[b]` is the number of entries whose digest starts with a byte `<= b`; `pack_len` is
//! the length of the pack file it describes and `crc` the CRC-32 of everything before it, so a
//! stale or damaged index is noticed and rebuilt from its pack.

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::{
    cid::{Cid, Codec, DIGEST_LEN},
    log::LogError,
    pack_file::{io_err, sync_dir, Found, VERSION},
};

const IDX_MAGIC: &[u8; 8] = b"WEFTIDX\0";
const IDX_HEADER: usize = 8 + 4 + 8 + 4 + 4 + 8;
const FANOUT: usize = 256 * 4;
const ENTRY: usize = DIGEST_LEN + 1 + 4;

pub(crate) fn idx_name(first: u64) -> String {
    format!("pack-{first:016x}.idx")
}

/// A sealed pack's index, read whole into memory.
#[derive(Debug)]
pub(crate) struct Idx {
    pub(crate) bytes: Vec<u8>,
    /// Records in the pack.
    pub(crate) count: u32,
    /// Index entries (intact records).
    pub(crate) entries: u32,
    /// Entry of each ordinal (`u32::MAX` for a lost record), built when first needed.
    pub(crate) by_ordinal: std::sync::OnceLock<Vec<u32>>,
}

impl Idx {
    fn fanout(&self, b: usize) -> u32 {
        let at = IDX_HEADER + b * 4;
        u32::from_be_bytes(self.bytes[at..at + 4].try_into().unwrap_or([0; 4]))
    }

    fn entry(&self, i: u32) -> &[u8] {
        let at = IDX_HEADER + FANOUT + i as usize * ENTRY;
        &self.bytes[at..at + ENTRY]
    }

    pub(crate) fn offset(&self, ordinal: u32) -> Option<u64> {
        if ordinal >= self.count {
            return None;
        }
        let at = IDX_HEADER + FANOUT + self.entries as usize * ENTRY + ordinal as usize * 4;
        let offset = u32::from_be_bytes(self.bytes.get(at..at + 4)?.try_into().ok()?);
        (offset != 0).then_some(u64::from(offset))
    }

    pub(crate) fn lookup(&self, cid: &Cid) -> Option<u32> {
        let digest = cid.digest();
        let b = digest[0] as usize;
        let mut lo = if b == 0 { 0 } else { self.fanout(b - 1) };
        let mut hi = self.fanout(b);
        let key = (digest, cid.codec().code() as u8);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = self.entry(mid);
            let here = (&e[..DIGEST_LEN], e[DIGEST_LEN]);
            match here.cmp(&(&key.0[..], key.1)) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    return Some(u32::from_be_bytes(
                        e[DIGEST_LEN + 1..].try_into().unwrap_or([0; 4]),
                    ))
                }
            }
        }
        None
    }

    /// The entries whose digest starts with `prefix`: `(cid, ordinal)`.
    pub(crate) fn with_prefix(&self, prefix: &crate::cid::DigestPrefix) -> Vec<(Cid, u32)> {
        let lower = prefix.lower();
        let b = lower[0] as usize;
        let mut lo = if b == 0 { 0 } else { self.fanout(b - 1) };
        let mut hi = self.entries;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)[..DIGEST_LEN] < lower[..] {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut found = Vec::new();
        let mut i = lo;
        while i < self.entries {
            let e = self.entry(i);
            if !prefix.matches(&e[..DIGEST_LEN]) {
                break;
            }
            let codec = Codec::from_code(u64::from(e[DIGEST_LEN]));
            let digest: Option<[u8; DIGEST_LEN]> = e[..DIGEST_LEN].try_into().ok();
            if let (Some(codec), Some(digest)) = (codec, digest) {
                let ordinal = u32::from_be_bytes(e[DIGEST_LEN + 1..].try_into().unwrap_or([0; 4]));
                found.push((Cid::from_digest(codec, digest), ordinal));
            }
            i += 1;
        }
        found
    }

    /// The CID of record `ordinal`, if it is intact.
    pub(crate) fn cid_of(&self, ordinal: u32) -> Option<Cid> {
        let by_ordinal = self.by_ordinal.get_or_init(|| {
            let mut v = vec![u32::MAX; self.count as usize];
            for i in 0..self.entries {
                let e = self.entry(i);
                let o = u32::from_be_bytes(e[DIGEST_LEN + 1..].try_into().unwrap_or([0xff; 4]));
                if let Some(slot) = v.get_mut(o as usize) {
                    *slot = i;
                }
            }
            v
        });
        let i = *by_ordinal.get(ordinal as usize)?;
        let e = (i != u32::MAX).then(|| self.entry(i))?;
        let codec = Codec::from_code(u64::from(e[DIGEST_LEN]))?;
        Some(Cid::from_digest(codec, e[..DIGEST_LEN].try_into().ok()?))
    }

    /// Builds the index of a pack from its intact records (each present once).
    pub(crate) fn build(first: u64, pack_len: u64, records: &[Found]) -> Vec<u8> {
        let count = records
            .iter()
            .map(|f| f.ordinal as usize + 1)
            .max()
            .unwrap_or(0);
        let mut entries: Vec<([u8; DIGEST_LEN], u8, u32)> = records
            .iter()
            .map(|f| (f.cid.digest(), f.cid.codec().code() as u8, f.ordinal))
            .collect();
        entries.sort_unstable();
        let mut out =
            Vec::with_capacity(IDX_HEADER + FANOUT + entries.len() * ENTRY + count * 4 + 4);
        out.extend_from_slice(IDX_MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&first.to_be_bytes());
        out.extend_from_slice(&(count as u32).to_be_bytes());
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&pack_len.to_be_bytes());
        let mut fanout = [0u32; 256];
        for (d, _, _) in &entries {
            fanout[d[0] as usize] += 1;
        }
        let mut sum = 0;
        for f in fanout {
            sum += f;
            out.extend_from_slice(&sum.to_be_bytes());
        }
        for (d, codec, ordinal) in &entries {
            out.extend_from_slice(d);
            out.push(*codec);
            out.extend_from_slice(&ordinal.to_be_bytes());
        }
        let mut offsets = vec![0u32; count];
        for f in records {
            if let Some(slot) = offsets.get_mut(f.ordinal as usize) {
                *slot = f.offset as u32;
            }
        }
        for o in offsets {
            out.extend_from_slice(&o.to_be_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Checks an index read from disk against the pack it belongs to.
    pub(crate) fn parse(bytes: Vec<u8>, first: u64, pack_len: u64) -> Result<Idx, String> {
        if bytes.len() < IDX_HEADER + FANOUT + 4 {
            return Err(format!("is {} bytes, too short", bytes.len()));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_be_bytes() != crc {
            return Err("fails its checksum".into());
        }
        if &bytes[..8] != IDX_MAGIC || bytes[8..12] != VERSION.to_be_bytes() {
            return Err("is not a weft pack index of version 1".into());
        }
        let u64_at = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        if u64_at(12) != first {
            return Err(format!(
                "describes the pack at #{}, not #{first}",
                u64_at(12)
            ));
        }
        let count = u32::from_be_bytes(bytes[20..24].try_into().unwrap_or([0; 4]));
        let entries = u32::from_be_bytes(bytes[24..28].try_into().unwrap_or([0; 4]));
        if u64_at(28) != pack_len {
            return Err(format!(
                "describes a pack of {} bytes, but the pack has {pack_len}",
                u64_at(28)
            ));
        }
        if entries > count
            || bytes.len()
                != IDX_HEADER + FANOUT + entries as usize * ENTRY + count as usize * 4 + 4
        {
            return Err("has the wrong length for its count".into());
        }
        let idx = Idx {
            bytes,
            count,
            entries,
            by_ordinal: std::sync::OnceLock::new(),
        };
        if idx.fanout(255) != entries {
            return Err("has a fanout table that does not add up".into());
        }
        Ok(idx)
    }
}

/// A pack that will not be written again.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub(crate) first: u64,
    pub(crate) count: u32,
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) idx: Arc<Idx>,
}

/// Writes an index next to its pack: to a temporary file, synced, then renamed into place.
pub(crate) fn write_idx(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let tmp = path.with_extension("idx.tmp");
    let result = std::fs::write(&tmp, bytes)
        .and_then(|()| File::open(&tmp)?.sync_all())
        .map_err(io_err("writing", &tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(io_err("renaming", &tmp)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dir)
}
