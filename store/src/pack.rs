//! Pack files: the block log on disk.
//!
//! Blocks are appended to the *open* pack, `packs/pack-<FIRST>.pack`, where `FIRST` is the
//! position of its first record as 16 hex digits. Once it holds [`SEAL_BYTES`] it is *sealed*:
//! synced, given a sorted index `pack-<FIRST>.idx` (CID -> record, as git's `.idx`), and the
//! next record starts a new pack. A sealed pack is never written again. The open pack has no
//! index file: its index is rebuilt in memory by reading it, from the start when a lookup first
//! needs it, and from the last checkpoint at open (the layer above replays those records).
//!
//! # Pack file
//! ```text
//! pack    = header record*
//! header  = "WEFTPACK" version:u32be(1) first:u64be                       (20 bytes)
//! record  = len:u32be ordinal:u32be flags:u8 cid:36 note_len:u16be note hcrc:u32be
//!           block bcrc:u32be
//! ```
//! - `len`: the bytes after `len` itself, up to and including `bcrc`;
//! - `ordinal`: the record's number within the pack (its position is `first + ordinal`), so a
//!   reader that skips a damaged record still knows where the next one belongs;
//! - `flags`: 0 (the block is stored as is; other values are refused). Blocks are not
//!   compressed: a change block is a few hundred bytes, most of them signature, key and digests,
//!   and zstd on one record alone made 1,000 change blocks of the 100,000-change benchmark 1.9 %
//!   *larger*, even at level 19. A dictionary trained on them saved 45 %, but only because every
//!   block of that benchmark has the same author and near-identical keys, and it would have to be
//!   trained, stored and versioned and paid for on every read. Where compression pays, it runs
//!   across many blocks: the sync stream (protocol version 2). A nonzero flag is free for
//!   compressed records later;
//! - `cid`: the block's binary CID; `note`: at most [`MAX_NOTE`] bytes from the layer above;
//! - `hcrc`: CRC-32 (IEEE) of `len` through `note`; `bcrc`: CRC-32 of `block`.
//!
//! The block's bytes hash to its CID (checked before it is appended, and by `fsck`); the CRCs
//! catch a damaged file on every read without hashing. A record whose header or block does not
//! check out at the end of the last pack is a torn write (a crash mid-append), cut off at open.
//! Anywhere else it is damage: reading it fails with an error that names the pack, the offset
//! and, when the header is intact, the CID; the records after it are still found (by their
//! ordinals, or by the index of a sealed pack).
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
    fs::{File, OpenOptions},
    io::{self, ErrorKind},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use crate::{
    cid::{Cid, Codec, CID_LEN, DIGEST_LEN},
    log::{BlockLog, LogError, Pos, Record, Resume, MAX_NOTE},
    CidMap,
};

/// A pack is sealed once it holds this many bytes (the default).
pub const SEAL_BYTES: u64 = 8 << 20;

const PACK_MAGIC: &[u8; 8] = b"WEFTPACK";
const IDX_MAGIC: &[u8; 8] = b"WEFTIDX\0";
const VERSION: u32 = 1;
/// How many bytes a read of one record asks for first (most records are shorter).
const READ_AHEAD: usize = 1024;
/// Bytes of a pack file's header.
pub const PACK_HEADER: u64 = 20;
/// Bytes of a record before its note: len, ordinal, flags, cid, note_len.
const HEAD_FIXED: usize = 4 + 4 + 1 + CID_LEN + 2;
/// Bytes of a record around its note and block: the fixed head, hcrc and bcrc.
const RECORD_OVERHEAD: usize = HEAD_FIXED + 4 + 4;
const IDX_HEADER: usize = 8 + 4 + 8 + 4 + 4 + 8;
const FANOUT: usize = 256 * 4;
const ENTRY: usize = DIGEST_LEN + 1 + 4;

/// The name of the pack whose first record is at `first`.
fn pack_name(first: u64) -> String {
    format!("pack-{first:016x}.pack")
}

fn idx_name(first: u64) -> String {
    format!("pack-{first:016x}.idx")
}

fn io_err<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> LogError + 'p {
    move |error| LogError::Io {
        op,
        path: path.to_path_buf(),
        error,
    }
}

fn corrupt(cid: Option<Cid>, what: String) -> LogError {
    LogError::Corrupt { cid, what }
}

/// Encodes one record with its ordinal in the pack.
fn encode_record(out: &mut Vec<u8>, ordinal: u32, r: &Record) {
    let start = out.len();
    let len = (RECORD_OVERHEAD - 4 + r.note.len() + r.block.len()) as u32;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&ordinal.to_be_bytes());
    out.push(0);
    out.extend_from_slice(&r.cid.to_bytes());
    out.extend_from_slice(&(r.note.len() as u16).to_be_bytes());
    out.extend_from_slice(&r.note);
    let hcrc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&hcrc.to_be_bytes());
    out.extend_from_slice(&r.block);
    out.extend_from_slice(&crc32fast::hash(&r.block).to_be_bytes());
}

/// What the head of a record says, once its CRC checked out.
#[derive(Debug, Clone, Copy)]
struct Head {
    /// Total record length, `len` included.
    total: u64,
    ordinal: u32,
    cid: Cid,
    note_len: usize,
}

/// Parses and checks the head of a record from `buf` (which starts at the record). `None` if
/// the bytes are not a whole, intact head.
fn parse_head(buf: &[u8]) -> Option<Head> {
    let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    if len < RECORD_OVERHEAD - 4 {
        return None;
    }
    let ordinal = u32::from_be_bytes(buf.get(4..8)?.try_into().ok()?);
    if *buf.get(8)? != 0 {
        return None;
    }
    let cid = Cid::from_bytes(buf.get(9..9 + CID_LEN)?).ok()?;
    let note_len =
        u16::from_be_bytes(buf.get(HEAD_FIXED - 2..HEAD_FIXED)?.try_into().ok()?) as usize;
    if note_len > MAX_NOTE || HEAD_FIXED + note_len + 8 > len + 4 {
        return None;
    }
    let hcrc_at = HEAD_FIXED + note_len;
    let hcrc = u32::from_be_bytes(buf.get(hcrc_at..hcrc_at + 4)?.try_into().ok()?);
    if crc32fast::hash(&buf[..hcrc_at]) != hcrc {
        return None;
    }
    Some(Head {
        total: 4 + len as u64,
        ordinal,
        cid,
        note_len,
    })
}

/// Splits a whole record (as located by `head`) into its note and checked block.
fn parse_body(head: &Head, buf: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let note = buf.get(HEAD_FIXED..HEAD_FIXED + head.note_len)?.to_vec();
    let block_at = HEAD_FIXED + head.note_len + 4;
    let end = head.total as usize;
    let block = buf.get(block_at..end - 4)?;
    let bcrc = u32::from_be_bytes(buf.get(end - 4..end)?.try_into().ok()?);
    (crc32fast::hash(block) == bcrc).then(|| (note, block.to_vec()))
}

/// One record found by [`scan`].
#[derive(Debug, Clone, Copy)]
struct Found {
    offset: u64,
    ordinal: u32,
    cid: Cid,
    /// Whether its block checks out too (its header always does).
    intact: bool,
}

/// What reading a pack from some offset found.
#[derive(Debug, Default)]
struct Scan {
    /// The records whose header checks out, in file order.
    records: Vec<Found>,
    /// Where the records end: the pack length if nothing is wrong at its end, else where a
    /// torn write starts.
    end: u64,
    /// Damaged stretches `(from, to)` followed by records (not a torn tail).
    damaged: Vec<(u64, u64)>,
}

/// Reads `file` (of length `len`) from `from`, record by record. After bytes that are not a
/// record header it looks for the next one byte by byte. When the range may end in a torn
/// write (`torn`: it reaches past the last checkpoint), whatever follows the last intact record
/// is one: `end` is where it starts. Otherwise it is damage like any other.
fn scan(file: &File, path: &Path, from: u64, len: u64, torn: bool) -> Result<Scan, LogError> {
    let mut buf = vec![0u8; (len - from.min(len)) as usize];
    file.read_exact_at(&mut buf, from)
        .map_err(io_err("reading", path))?;
    let mut out = Scan::default();
    let mut at = 0usize;
    let mut bad_from: Option<usize> = None;
    while at < buf.len() {
        let head = parse_head(&buf[at..]).filter(|h| at + h.total as usize <= buf.len());
        match head {
            Some(h) => {
                if let Some(b) = bad_from.take() {
                    out.damaged.push((from + b as u64, from + at as u64));
                }
                let body = &buf[at..at + h.total as usize];
                out.records.push(Found {
                    offset: from + at as u64,
                    ordinal: h.ordinal,
                    cid: h.cid,
                    intact: parse_body(&h, body).is_some(),
                });
                at += h.total as usize;
            }
            None => {
                bad_from.get_or_insert(at);
                at += 1;
            }
        }
    }
    if !torn {
        if let Some(b) = bad_from {
            out.damaged.push((from + b as u64, len));
        }
        out.end = len;
        return Ok(out);
    }
    // A torn write: trailing garbage, and trailing records whose block is not whole.
    let mut end = from + bad_from.unwrap_or(at) as u64;
    while let Some(last) = out.records.last() {
        if last.intact {
            break;
        }
        end = last.offset;
        out.records.pop();
    }
    if let Some(&(from, _)) = out.damaged.last() {
        if out.records.last().is_none_or(|r| r.offset < from) {
            out.damaged.pop();
        }
    }
    out.end = end;
    Ok(out)
}

/// A sealed pack's index, read whole into memory.
#[derive(Debug)]
struct Idx {
    bytes: Vec<u8>,
    /// Records in the pack.
    count: u32,
    /// Index entries (intact records).
    entries: u32,
    /// Entry of each ordinal (`u32::MAX` for a lost record), built when first needed.
    by_ordinal: std::sync::OnceLock<Vec<u32>>,
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

    fn offset(&self, ordinal: u32) -> Option<u64> {
        if ordinal >= self.count {
            return None;
        }
        let at = IDX_HEADER + FANOUT + self.entries as usize * ENTRY + ordinal as usize * 4;
        let offset = u32::from_be_bytes(self.bytes.get(at..at + 4)?.try_into().ok()?);
        (offset != 0).then_some(u64::from(offset))
    }

    fn lookup(&self, cid: &Cid) -> Option<u32> {
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

    /// The CID of record `ordinal`, if it is intact.
    fn cid_of(&self, ordinal: u32) -> Option<Cid> {
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
    fn build(first: u64, pack_len: u64, records: &[Found]) -> Vec<u8> {
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
    fn parse(bytes: Vec<u8>, first: u64, pack_len: u64) -> Result<Idx, String> {
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
struct Sealed {
    first: u64,
    count: u32,
    path: PathBuf,
    file: File,
    idx: Arc<Idx>,
}

/// The index of the open pack: records from ordinal `base` on. Records before `base` (those the
/// last checkpoint covers) are indexed the first time one is needed.
#[derive(Debug, Default)]
struct OpenIndex {
    base: u32,
    /// Byte offset of record `base + i`.
    offsets: Vec<u64>,
    /// CID of record `base + i` (meaningless where the offset is `u64::MAX`).
    cids: Vec<Cid>,
    /// CID -> ordinal, for ordinals from `base` on.
    map: CidMap<u32>,
}

/// The pack being appended to.
#[derive(Debug)]
struct OpenPack {
    first: u64,
    path: PathBuf,
    file: File,
    len: u64,
    index: Mutex<OpenIndex>,
}

impl OpenPack {
    fn count(&self, index: &OpenIndex) -> u32 {
        index.base + index.offsets.len() as u32
    }

    fn lock(&self) -> MutexGuard<'_, OpenIndex> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the index cover the whole pack, reading the records before `base`.
    fn complete(&self, index: &mut OpenIndex) -> Result<(), LogError> {
        if index.base == 0 {
            return Ok(());
        }
        let until = index.offsets.first().copied().unwrap_or(self.len);
        let found = scan(&self.file, &self.path, PACK_HEADER, until, false)?;
        let mut offsets = vec![u64::MAX; index.base as usize];
        let mut cids = vec![Cid::from_digest(Codec::Raw, [0; DIGEST_LEN]); index.base as usize];
        for f in &found.records {
            if let Some(slot) = offsets.get_mut(f.ordinal as usize) {
                *slot = f.offset;
                cids[f.ordinal as usize] = f.cid;
                index.map.insert(f.cid, f.ordinal);
            }
        }
        offsets.extend_from_slice(&index.offsets);
        cids.extend_from_slice(&index.cids);
        index.offsets = offsets;
        index.cids = cids;
        index.base = 0;
        Ok(())
    }
}

#[derive(Debug)]
struct State {
    sealed: Vec<Sealed>,
    open: Option<OpenPack>,
    end: u64,
    synced: u64,
}

/// Damage and repairs that opening the packs found, for the layer above to report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// What was repaired (a torn tail cut off, an index rebuilt), one line each.
    pub repaired: Vec<String>,
    /// Damage that could not be repaired: the records there cannot be read.
    pub damaged: Vec<String>,
}

/// The block log as pack files; see the [module docs](self).
#[derive(Debug)]
pub struct PackLog {
    dir: PathBuf,
    read_only: bool,
    seal_bytes: u64,
    state: RwLock<State>,
}

fn parse_pack_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("pack-")?.strip_suffix(".pack")?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", dir))
}

impl PackLog {
    /// Opens (creating if needed and allowed) the packs in `dir`; a pack is sealed once it
    /// holds `seal_bytes`.
    ///
    /// `resume` is where the last checkpoint ended. The open pack is read from there (or from its start if the offset does not hold the record
    /// it should), a torn record at its end is cut off, and a sealed pack without a valid index
    /// gets a new one. Opened `read_only`, it writes nothing and refuses appends.
    pub fn open(
        dir: &Path,
        read_only: bool,
        resume: Option<Resume>,
        seal_bytes: u64,
    ) -> Result<(PackLog, OpenReport), LogError> {
        if !read_only {
            std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        }
        let mut report = OpenReport::default();
        let mut firsts = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for e in entries {
                    let e = e.map_err(io_err("listing", dir))?;
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    if let Some(first) = parse_pack_name(&name) {
                        firsts.push(first);
                    } else if name.ends_with(".tmp") && !read_only {
                        // An index being written when the process died.
                        if std::fs::remove_file(e.path()).is_ok() {
                            report.repaired.push(format!(
                                "removed {}, an index being written when a process died",
                                e.path().display()
                            ));
                        }
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound && read_only => {}
            Err(e) => return Err(io_err("listing", dir)(e)),
        }
        firsts.sort_unstable();
        let mut sealed: Vec<Sealed> = Vec::new();
        let mut open = None;
        let mut expected = 0u64;
        for (i, &first) in firsts.iter().enumerate() {
            let path = dir.join(pack_name(first));
            if first != expected {
                let what = if first == expected + 1 {
                    format!("record #{expected} is missing: no pack holds it")
                } else {
                    format!(
                        "records #{expected} to #{} are missing: no pack holds them",
                        first.saturating_sub(1)
                    )
                };
                return Err(corrupt(
                    None,
                    format!("{what} (the next pack is {})", path.display()),
                ));
            }
            let file = OpenOptions::new()
                .read(true)
                .write(!read_only)
                .open(&path)
                .map_err(io_err("opening", &path))?;
            let len = file.metadata().map_err(io_err("reading", &path))?.len();
            let mut header = [0u8; PACK_HEADER as usize];
            let head_ok = len >= PACK_HEADER
                && file.read_exact_at(&mut header, 0).is_ok()
                && &header[..8] == PACK_MAGIC
                && header[8..12] == VERSION.to_be_bytes()
                && header[12..20] == first.to_be_bytes();
            let last = i + 1 == firsts.len();
            if !head_ok {
                if last && len < PACK_HEADER {
                    // Created, but its header never made it to disk: an empty open pack.
                    if !read_only {
                        write_header(&file, &path, first)?;
                    }
                    open = Some(OpenPack {
                        first,
                        path,
                        file,
                        len: PACK_HEADER,
                        index: Mutex::default(),
                    });
                    break;
                }
                return Err(corrupt(
                    None,
                    format!("{} does not start with a weft pack header", path.display()),
                ));
            }
            let idx_path = dir.join(idx_name(first));
            let idx = match std::fs::read(&idx_path) {
                Ok(bytes) => match Idx::parse(bytes, first, len) {
                    Ok(idx) => Some(idx),
                    Err(why) => {
                        report
                            .repaired
                            .push(format!("rebuilt {}: it {why}", idx_path.display()));
                        None
                    }
                },
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    if !last {
                        report
                            .repaired
                            .push(format!("rebuilt the missing index {}", idx_path.display()));
                    }
                    None
                }
                Err(e) => return Err(io_err("reading", &idx_path)(e)),
            };
            let idx = match (idx, last) {
                (Some(idx), _) => Some(idx),
                (None, false) => {
                    // A sealed pack that lost its index: rebuild it from the pack.
                    let found = scan(&file, &path, PACK_HEADER, len, false)?;
                    if !found.damaged.is_empty() || found.records.iter().any(|r| !r.intact) {
                        report.damaged.push(format!(
                            "{} has damaged records: {} intact",
                            path.display(),
                            found.records.len()
                        ));
                    }
                    let bytes = Idx::build(first, len, &found.records);
                    if !read_only {
                        write_idx(dir, &idx_path, &bytes)?;
                    }
                    Some(Idx::parse(bytes, first, len).map_err(|why| {
                        corrupt(None, format!("rebuilding {}: {why}", idx_path.display()))
                    })?)
                }
                (None, true) => None,
            };
            match idx {
                Some(idx) => {
                    expected = first + u64::from(idx.count);
                    sealed.push(Sealed {
                        first,
                        count: idx.count,
                        path,
                        file,
                        idx: Arc::new(idx),
                    });
                }
                None => {
                    // The open pack: read it from the checkpoint on.
                    let (base, from) = match resume {
                        Some(r) if r.pack == first && r.pos.0 > first && r.offset > PACK_HEADER => {
                            let at_offset = r.offset == len
                                || read_head_at(&file, r.offset, len)
                                    .is_some_and(|h| u64::from(h.ordinal) == r.pos.0 - first);
                            if at_offset && r.offset <= len {
                                ((r.pos.0 - first) as u32, r.offset)
                            } else {
                                (0, PACK_HEADER)
                            }
                        }
                        _ => (0, PACK_HEADER),
                    };
                    let found = scan(&file, &path, from, len, true)?;
                    let mut index = OpenIndex {
                        base,
                        ..OpenIndex::default()
                    };
                    for f in &found.records {
                        let next = base + index.offsets.len() as u32;
                        if f.ordinal < next {
                            return Err(corrupt(
                                Some(f.cid),
                                format!(
                                    "{} holds record {} at offset {}, after record {}",
                                    path.display(),
                                    f.ordinal,
                                    f.offset,
                                    next.saturating_sub(1)
                                ),
                            ));
                        }
                        // Records lost to damage keep their positions, unreadable.
                        let at = (f.ordinal - base) as usize;
                        index.offsets.resize(at, u64::MAX);
                        index
                            .cids
                            .resize(at, Cid::from_digest(Codec::Raw, [0; DIGEST_LEN]));
                        index.offsets.push(f.offset);
                        index.cids.push(f.cid);
                        index.map.insert(f.cid, f.ordinal);
                    }
                    for (from, to) in &found.damaged {
                        report.damaged.push(format!(
                            "{} has damaged bytes at offsets {from} to {to}",
                            path.display()
                        ));
                    }
                    let mut len = len;
                    if found.end < len {
                        report.repaired.push(format!(
                            "cut a torn record off the end of {} (offset {}, {} bytes)",
                            path.display(),
                            found.end,
                            len - found.end
                        ));
                        if !read_only {
                            file.set_len(found.end)
                                .and_then(|()| file.sync_all())
                                .map_err(io_err("truncating", &path))?;
                        }
                        len = found.end;
                    }
                    expected = first + u64::from(index.base) + index.offsets.len() as u64;
                    open = Some(OpenPack {
                        first,
                        path,
                        file,
                        len,
                        index: Mutex::new(index),
                    });
                }
            }
        }
        let state = State {
            sealed,
            open,
            end: expected,
            synced: expected,
        };
        Ok((
            PackLog {
                dir: dir.to_path_buf(),
                read_only,
                seal_bytes,
                state: RwLock::new(state),
            },
            report,
        ))
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_only_error(&self) -> LogError {
        LogError::Io {
            op: "writing to",
            path: self.dir.clone(),
            error: io::Error::from(ErrorKind::ReadOnlyFilesystem),
        }
    }

    /// Seals the open pack: syncs it, writes its index, and leaves no pack open.
    fn seal(&self, state: &mut State) -> Result<(), LogError> {
        let Some(open) = state.open.take() else {
            return Ok(());
        };
        let result = (|| {
            open.file
                .sync_data()
                .map_err(io_err("syncing", &open.path))?;
            let records = {
                let mut index = open.lock();
                open.complete(&mut index)?;
                let mut records = Vec::with_capacity(index.offsets.len());
                for (&cid, &ordinal) in &index.map {
                    records.push(Found {
                        offset: index.offsets[ordinal as usize],
                        ordinal,
                        cid,
                        intact: true,
                    });
                }
                records
            };
            let bytes = Idx::build(open.first, open.len, &records);
            let idx_path = self.dir.join(idx_name(open.first));
            write_idx(&self.dir, &idx_path, &bytes)?;
            Idx::parse(bytes, open.first, open.len)
                .map_err(|why| corrupt(None, format!("sealing {}: {why}", open.path.display())))
        })();
        match result {
            Ok(idx) => {
                state.sealed.push(Sealed {
                    first: open.first,
                    count: idx.count,
                    path: open.path,
                    file: open.file,
                    idx: Arc::new(idx),
                });
                state.synced = state.synced.max(state.end);
                Ok(())
            }
            Err(e) => {
                state.open = Some(open);
                Err(e)
            }
        }
    }

    /// The open pack, created if there is none.
    fn open_pack<'s>(&self, state: &'s mut State) -> Result<&'s mut OpenPack, LogError> {
        if state.open.is_none() {
            let first = state.end;
            let path = self.dir.join(pack_name(first));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(io_err("creating", &path))?;
            write_header(&file, &path, first)?;
            sync_dir(&self.dir)?;
            state.open = Some(OpenPack {
                first,
                path,
                file,
                len: PACK_HEADER,
                index: Mutex::default(),
            });
        }
        state
            .open
            .as_mut()
            .ok_or_else(|| corrupt(None, "no open pack".into()))
    }

    /// The sealed pack holding `pos`, if a sealed pack does.
    fn sealed_for(state: &State, pos: u64) -> Option<&Sealed> {
        let i = state.sealed.partition_point(|s| s.first <= pos);
        let s = state.sealed.get(i.checked_sub(1)?)?;
        (pos < s.first + u64::from(s.count)).then_some(s)
    }

    /// Reads the record at `offset` of a pack file, checking it is record `ordinal`.
    fn read_record(
        file: &File,
        path: &Path,
        offset: u64,
        ordinal: u32,
        known: Option<Cid>,
    ) -> Result<Record, LogError> {
        let (record, intact) = PackLog::read_record_lossy(file, path, offset, ordinal, known)?;
        if intact {
            return Ok(record);
        }
        Err(corrupt(
            Some(record.cid),
            format!(
                "{} is damaged at offset {offset} (record {ordinal}): the block {} fails its checksum",
                path.display(),
                record.cid
            ),
        ))
    }

    /// Reads the record at `offset`, its block even if that fails its checksum (and says so).
    fn read_record_lossy(
        file: &File,
        path: &Path,
        offset: u64,
        ordinal: u32,
        known: Option<Cid>,
    ) -> Result<(Record, bool), LogError> {
        let damaged = |what: &str| {
            corrupt(
                known,
                format!(
                    "{} is damaged at offset {offset} (record {ordinal}{}): {what}",
                    path.display(),
                    known.map(|c| format!(", block {c}")).unwrap_or_default()
                ),
            )
        };
        // One read of a size most records fit in, a second only for a longer one.
        let mut buf = vec![0u8; READ_AHEAD];
        let mut got = 0;
        while got < 4 {
            match file.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => return Err(damaged("the file ends there")),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("reading", path)(e)),
            }
        }
        let total = 4 + u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if total > (64 << 20) {
            return Err(damaged("its length is implausible"));
        }
        buf.resize(total, 0);
        if got < total {
            let from = got.min(total);
            file.read_exact_at(&mut buf[from..], offset + from as u64)
                .map_err(|e| match e.kind() {
                    ErrorKind::UnexpectedEof => damaged("the file ends inside it"),
                    _ => io_err("reading", path)(e),
                })?;
        }
        let head = parse_head(&buf).ok_or_else(|| damaged("its header fails its checksum"))?;
        if head.ordinal != ordinal {
            return Err(damaged("it holds another record"));
        }
        let intact = parse_body(&head, &buf).is_some();
        let note = buf[HEAD_FIXED..HEAD_FIXED + head.note_len].to_vec();
        let block_at = HEAD_FIXED + head.note_len + 4;
        let block = buf[block_at..buf.len() - 4].to_vec();
        Ok((
            Record {
                cid: head.cid,
                note,
                block,
            },
            intact,
        ))
    }
}

fn read_head_at(file: &File, offset: u64, len: u64) -> Option<Head> {
    let n = (len.saturating_sub(offset)).min((HEAD_FIXED + MAX_NOTE + 4) as u64) as usize;
    let mut buf = vec![0u8; n];
    file.read_exact_at(&mut buf, offset).ok()?;
    parse_head(&buf)
}

fn write_header(file: &File, path: &Path, first: u64) -> Result<(), LogError> {
    let mut header = Vec::with_capacity(PACK_HEADER as usize);
    header.extend_from_slice(PACK_MAGIC);
    header.extend_from_slice(&VERSION.to_be_bytes());
    header.extend_from_slice(&first.to_be_bytes());
    file.write_all_at(&header, 0)
        .and_then(|()| file.sync_all())
        .map_err(io_err("writing", path))
}

/// Writes an index next to its pack: to a temporary file, synced, then renamed into place.
fn write_idx(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), LogError> {
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

impl BlockLog for PackLog {
    fn append(&self, records: &[Record]) -> Result<Pos, LogError> {
        if self.read_only {
            return Err(self.read_only_error());
        }
        let mut state = self.write_state();
        let first_pos = state.end;
        if records.is_empty() {
            return Ok(Pos(first_pos));
        }
        let needs_seal = state
            .open
            .as_ref()
            .is_some_and(|o| o.len >= self.seal_bytes);
        if needs_seal {
            self.seal(&mut state)?;
        }
        let end = state.end;
        let open = self.open_pack(&mut state)?;
        let first_ordinal = (end - open.first) as u32;
        let mut buf = Vec::with_capacity(
            records
                .iter()
                .map(|r| RECORD_OVERHEAD + r.note.len() + r.block.len())
                .sum(),
        );
        let mut offsets = Vec::with_capacity(records.len());
        for (ordinal, r) in (first_ordinal..).zip(records) {
            offsets.push(open.len + buf.len() as u64);
            encode_record(&mut buf, ordinal, r);
        }
        if open.len + buf.len() as u64 > u64::from(u32::MAX) {
            return Err(corrupt(
                None,
                format!("{} would grow past 4 GiB", open.path.display()),
            ));
        }
        if let Err(e) = open.file.write_all_at(&buf, open.len) {
            // Cut off whatever part of it reached the file.
            let _ = open.file.set_len(open.len);
            return Err(io_err("writing", &open.path)(e));
        }
        open.len += buf.len() as u64;
        let mut index = open.lock();
        for (r, offset) in records.iter().zip(offsets) {
            let ordinal = open.count(&index);
            index.offsets.push(offset);
            index.cids.push(r.cid);
            index.map.insert(r.cid, ordinal);
        }
        drop(index);
        state.end += records.len() as u64;
        Ok(Pos(first_pos))
    }

    fn sync(&self) -> Result<(), LogError> {
        let mut state = self.write_state();
        if state.synced == state.end {
            return Ok(());
        }
        if let Some(open) = &state.open {
            open.file
                .sync_data()
                .map_err(io_err("syncing", &open.path))?;
        }
        state.synced = state.end;
        Ok(())
    }

    fn end(&self) -> Pos {
        Pos(self.read_state().end)
    }

    fn resume_point(&self) -> Resume {
        let state = self.read_state();
        match &state.open {
            Some(open) => Resume {
                pos: Pos(state.end),
                pack: open.first,
                offset: open.len,
            },
            None => Resume {
                pos: Pos(state.end),
                pack: state.end,
                offset: PACK_HEADER,
            },
        }
    }

    fn synced(&self) -> Pos {
        Pos(self.read_state().synced)
    }

    fn truncate(&self, to: Pos) -> Result<(), LogError> {
        let mut state = self.write_state();
        if to.0 >= state.end {
            return Ok(());
        }
        let Some(open) = state.open.as_mut() else {
            return Err(corrupt(None, "cannot cut records off a sealed pack".into()));
        };
        if to.0 < open.first {
            return Err(corrupt(None, "cannot cut records off a sealed pack".into()));
        }
        let mut index = open.lock();
        open.complete(&mut index)?;
        let keep = (to.0 - open.first) as usize;
        let cut_at = index.offsets.get(keep).copied().unwrap_or(open.len);
        open.file
            .set_len(cut_at)
            .map_err(io_err("truncating", &open.path))?;
        index.offsets.truncate(keep);
        index.cids.truncate(keep);
        index.map.retain(|_, o| (*o as usize) < keep);
        drop(index);
        open.len = cut_at;
        state.end = to.0;
        state.synced = state.synced.min(to.0);
        Ok(())
    }

    fn lookup(&self, cid: &Cid) -> Result<Option<Pos>, LogError> {
        let state = self.read_state();
        if let Some(open) = &state.open {
            let mut index = open.lock();
            if let Some(&o) = index.map.get(cid) {
                return Ok(Some(Pos(open.first + u64::from(o))));
            }
            if index.base > 0 {
                open.complete(&mut index)?;
                if let Some(&o) = index.map.get(cid) {
                    return Ok(Some(Pos(open.first + u64::from(o))));
                }
            }
        }
        for s in state.sealed.iter().rev() {
            if let Some(o) = s.idx.lookup(cid) {
                return Ok(Some(Pos(s.first + u64::from(o))));
            }
        }
        Ok(None)
    }

    fn read(&self, pos: Pos) -> Result<Record, LogError> {
        let state = self.read_state();
        if pos.0 >= state.end {
            return Err(LogError::OutOfRange {
                pos,
                end: Pos(state.end),
            });
        }
        if let Some(s) = PackLog::sealed_for(&state, pos.0) {
            let ordinal = (pos.0 - s.first) as u32;
            let offset = s.idx.offset(ordinal).ok_or_else(|| {
                corrupt(
                    None,
                    format!("the index of {} has no record {ordinal}", s.path.display()),
                )
            })?;
            return PackLog::read_record(&s.file, &s.path, offset, ordinal, None).map_err(
                |e| match e {
                    LogError::Corrupt { cid: None, what } => LogError::Corrupt {
                        cid: s.idx.cid_of(ordinal),
                        what,
                    },
                    e => e,
                },
            );
        }
        let open = state
            .open
            .as_ref()
            .ok_or_else(|| corrupt(None, format!("no pack holds record {pos}")))?;
        let ordinal = (pos.0 - open.first) as u32;
        let (offset, cid) = {
            let mut index = open.lock();
            if ordinal < index.base {
                open.complete(&mut index)?;
            }
            let offset = index
                .offsets
                .get((ordinal - index.base) as usize)
                .copied()
                .filter(|&o| o != u64::MAX)
                .ok_or_else(|| {
                    corrupt(
                        None,
                        format!("record {ordinal} of {} is damaged", open.path.display()),
                    )
                })?;
            (offset, None)
        };
        PackLog::read_record(&open.file, &open.path, offset, ordinal, cid)
    }

    fn cid_at(&self, pos: Pos) -> Result<Cid, LogError> {
        let state = self.read_state();
        if pos.0 >= state.end {
            return Err(LogError::OutOfRange {
                pos,
                end: Pos(state.end),
            });
        }
        if let Some(s) = PackLog::sealed_for(&state, pos.0) {
            let ordinal = (pos.0 - s.first) as u32;
            return s.idx.cid_of(ordinal).ok_or_else(|| {
                corrupt(
                    None,
                    format!("record {ordinal} of {} is lost", s.path.display()),
                )
            });
        }
        let open = state
            .open
            .as_ref()
            .ok_or_else(|| corrupt(None, format!("no pack holds record {pos}")))?;
        let ordinal = (pos.0 - open.first) as u32;
        let mut index = open.lock();
        if ordinal < index.base {
            open.complete(&mut index)?;
        }
        let at = (ordinal - index.base) as usize;
        match (index.offsets.get(at), index.cids.get(at)) {
            (Some(&o), Some(&cid)) if o != u64::MAX => Ok(cid),
            _ => Err(corrupt(
                None,
                format!("record {ordinal} of {} is lost", open.path.display()),
            )),
        }
    }

    fn read_lossy(&self, pos: Pos) -> Result<(Record, bool), LogError> {
        let (file, path, offset, ordinal) = {
            let state = self.read_state();
            if pos.0 >= state.end {
                return Err(LogError::OutOfRange {
                    pos,
                    end: Pos(state.end),
                });
            }
            match PackLog::sealed_for(&state, pos.0) {
                Some(s) => {
                    let ordinal = (pos.0 - s.first) as u32;
                    let offset = s.idx.offset(ordinal).ok_or_else(|| {
                        corrupt(
                            None,
                            format!("record {ordinal} of {} is lost", s.path.display()),
                        )
                    })?;
                    (s.file.try_clone(), s.path.clone(), offset, ordinal)
                }
                None => {
                    let open = state
                        .open
                        .as_ref()
                        .ok_or_else(|| corrupt(None, format!("no pack holds record {pos}")))?;
                    let ordinal = (pos.0 - open.first) as u32;
                    let mut index = open.lock();
                    if ordinal < index.base {
                        open.complete(&mut index)?;
                    }
                    let offset = index
                        .offsets
                        .get((ordinal - index.base) as usize)
                        .copied()
                        .filter(|&o| o != u64::MAX)
                        .ok_or_else(|| {
                            corrupt(
                                None,
                                format!("record {ordinal} of {} is lost", open.path.display()),
                            )
                        })?;
                    (open.file.try_clone(), open.path.clone(), offset, ordinal)
                }
            }
        };
        let file = file.map_err(io_err("reading", &path))?;
        PackLog::read_record_lossy(&file, &path, offset, ordinal, None)
    }

    fn size_on_disk(&self) -> Result<u64, LogError> {
        let mut total = 0;
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err("listing", &self.dir)(e)),
        };
        for e in entries {
            let e = e.map_err(io_err("listing", &self.dir))?;
            total += e.metadata().map_err(io_err("reading", &e.path()))?.len();
        }
        Ok(total)
    }

    fn check(&self) -> Vec<LogError> {
        let state = self.read_state();
        let mut problems = Vec::new();
        let mut check_pack = |file: &File, path: &Path, len: u64, count: u64| match scan(
            file,
            path,
            PACK_HEADER,
            len,
            false,
        ) {
            Err(e) => problems.push(e),
            Ok(found) => {
                for (from, to) in &found.damaged {
                    problems.push(corrupt(
                        None,
                        format!(
                            "{} has damaged bytes at offsets {from} to {to}",
                            path.display()
                        ),
                    ));
                }
                if found.end != len {
                    problems.push(corrupt(
                        None,
                        format!(
                            "{} has damaged bytes from offset {} to its end",
                            path.display(),
                            found.end
                        ),
                    ));
                }
                for r in found.records.iter().filter(|r| !r.intact) {
                    problems.push(corrupt(
                            Some(r.cid),
                            format!(
                                "{} is damaged at offset {} (record {}): the block {} fails its checksum",
                                path.display(),
                                r.offset,
                                r.ordinal,
                                r.cid
                            ),
                        ));
                }
                if found.records.len() as u64 != count {
                    problems.push(corrupt(
                        None,
                        format!(
                            "{} holds {} readable records of {count}",
                            path.display(),
                            found.records.len()
                        ),
                    ));
                }
            }
        };
        for s in &state.sealed {
            let len = s.file.metadata().map(|m| m.len()).unwrap_or(0);
            check_pack(&s.file, &s.path, len, u64::from(s.count));
        }
        if let Some(open) = &state.open {
            check_pack(&open.file, &open.path, open.len, state.end - open.first);
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u32) -> Record {
        let block = format!("block number {i}").into_bytes();
        Record {
            cid: Cid::hash(Codec::Raw, &block),
            note: i.to_be_bytes().to_vec(),
            block,
        }
    }

    fn open(dir: &Path, resume: Option<Resume>) -> (PackLog, OpenReport) {
        PackLog::open(dir, false, resume, SEAL_BYTES).unwrap()
    }

    #[test]
    fn records_read_back_after_reopen_and_sealing() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path(), None);
        assert_eq!(log.append(&[rec(0), rec(1)]).unwrap(), Pos(0));
        log.sync().unwrap();
        let resume = log.resume_point();
        {
            let mut state = log.write_state();
            log.seal(&mut state).unwrap();
        }
        assert_eq!(log.append(&[rec(2)]).unwrap(), Pos(2));
        log.sync().unwrap();
        for i in 0..3 {
            assert_eq!(log.read(Pos(i)).unwrap(), rec(i as u32));
            assert_eq!(log.lookup(&rec(i as u32).cid).unwrap(), Some(Pos(i)));
        }
        drop(log);
        let (log, report) = open(dir.path(), Some(resume));
        assert!(report.repaired.is_empty(), "{report:?}");
        assert_eq!(log.end(), Pos(3));
        for i in 0..3 {
            assert_eq!(log.read(Pos(i)).unwrap(), rec(i as u32));
            assert_eq!(log.lookup(&rec(i as u32).cid).unwrap(), Some(Pos(i)));
        }
        assert_eq!(log.lookup(&rec(9).cid).unwrap(), None);
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_a_missing_index_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path(), None);
        log.append(&[rec(0)]).unwrap();
        {
            let mut state = log.write_state();
            log.seal(&mut state).unwrap();
        }
        log.append(&[rec(1), rec(2)]).unwrap();
        drop(log);
        // Half of record 2 reached the disk.
        let open_pack = dir.path().join(pack_name(1));
        let len = std::fs::metadata(&open_pack).unwrap().len();
        let f = OpenOptions::new().write(true).open(&open_pack).unwrap();
        f.set_len(len - 10).unwrap();
        std::fs::remove_file(dir.path().join(idx_name(0))).unwrap();
        let (log, report) = open(dir.path(), None);
        assert_eq!(report.repaired.len(), 2, "{report:?}");
        assert_eq!(log.end(), Pos(2));
        assert_eq!(log.read(Pos(1)).unwrap(), rec(1));
        assert_eq!(log.lookup(&rec(0).cid).unwrap(), Some(Pos(0)));
        assert!(dir.path().join(idx_name(0)).exists());
        // The next record goes where the torn one was.
        assert_eq!(log.append(&[rec(3)]).unwrap(), Pos(2));
        assert_eq!(log.read(Pos(2)).unwrap(), rec(3));
    }

    #[test]
    fn a_damaged_record_is_reported_and_the_others_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path(), None);
        log.append(&[rec(0), rec(1), rec(2)]).unwrap();
        let offset = log.read_state().open.as_ref().unwrap().lock().offsets[1];
        {
            let mut state = log.write_state();
            log.seal(&mut state).unwrap();
        }
        drop(log);
        let pack = dir.path().join(pack_name(0));
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&pack)
            .unwrap();
        // A flipped byte inside record 1's block.
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, offset + 60).unwrap();
        f.write_all_at(&[b[0] ^ 0xff], offset + 60).unwrap();
        let (log, _) = open(dir.path(), None);
        assert_eq!(log.read(Pos(0)).unwrap(), rec(0));
        assert_eq!(log.read(Pos(2)).unwrap(), rec(2));
        match log.read(Pos(1)) {
            Err(LogError::Corrupt { cid, what }) => {
                assert_eq!(cid, Some(rec(1).cid));
                assert!(what.contains("damaged"), "{what}");
            }
            other => panic!("expected a corrupt record, got {other:?}"),
        }
        let problems = log.check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(matches!(&problems[0], LogError::Corrupt { cid: Some(c), .. } if *c == rec(1).cid));
    }

    #[test]
    fn truncate_forgets_unsynced_records() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path(), None);
        log.append(&[rec(0)]).unwrap();
        log.sync().unwrap();
        log.append(&[rec(1)]).unwrap();
        log.truncate(Pos(1)).unwrap();
        assert_eq!(log.end(), Pos(1));
        assert_eq!(log.lookup(&rec(1).cid).unwrap(), None);
        drop(log);
        let (log, report) = open(dir.path(), None);
        assert!(report.repaired.is_empty());
        assert_eq!(log.end(), Pos(1));
    }

    #[test]
    fn a_stale_index_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path(), None);
        log.append(&[rec(0), rec(1)]).unwrap();
        {
            let mut state = log.write_state();
            log.seal(&mut state).unwrap();
        }
        log.append(&[rec(2)]).unwrap();
        drop(log);
        // An index of the first record only, as if written for a shorter pack.
        let pack = dir.path().join(pack_name(0));
        let file = File::open(&pack).unwrap();
        let len = file.metadata().unwrap().len();
        let found = scan(&file, &pack, PACK_HEADER, len, false).unwrap();
        let stale = Idx::build(0, len - 1, &found.records[..1]);
        std::fs::write(dir.path().join(idx_name(0)), stale).unwrap();
        let (log, report) = open(dir.path(), None);
        assert_eq!(report.repaired.len(), 1, "{report:?}");
        assert_eq!(log.lookup(&rec(1).cid).unwrap(), Some(Pos(1)));
        assert_eq!(log.end(), Pos(3));
    }
}
