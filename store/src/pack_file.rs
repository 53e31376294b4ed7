//! One pack file: its header, the format of its records, and reading them back (one record, or
//! a scan that finds damage and torn writes), and the open pack with its index in memory. The
//! packs as a log: [`crate::pack`].
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

use std::{
    fs::File,
    io::{self, ErrorKind},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
};

use crate::{
    cid::{Cid, CidMap, Codec, CID_LEN, DIGEST_LEN},
    log::{LogError, Record, MAX_NOTE},
    sync_util::lock,
};

pub(crate) const PACK_MAGIC: &[u8; 8] = b"WEFTPACK";
/// The version of the pack and index formats.
pub(crate) const VERSION: u32 = 1;
/// How many bytes a read of one record asks for first (most records are shorter).
const READ_AHEAD: usize = 1024;
/// Bytes of a pack file's header.
pub const PACK_HEADER: u64 = 20;
/// Bytes of a record before its note: len, ordinal, flags, cid, note_len.
pub(crate) const HEAD_FIXED: usize = 4 + 4 + 1 + CID_LEN + 2;
/// Bytes of a record around its note and block: the fixed head, hcrc and bcrc.
pub(crate) const RECORD_OVERHEAD: usize = HEAD_FIXED + 4 + 4;

/// The name of the pack whose first record is at `first`.
pub(crate) fn pack_name(first: u64) -> String {
    format!("pack-{first:016x}.pack")
}

pub(crate) fn parse_pack_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("pack-")?.strip_suffix(".pack")?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

pub(crate) fn io_err<'p>(
    op: &'static str,
    path: &'p Path,
) -> impl FnOnce(io::Error) -> LogError + 'p {
    move |error| LogError::Io {
        op,
        path: path.to_path_buf(),
        error,
    }
}

pub(crate) fn corrupt(cid: Option<Cid>, what: String) -> LogError {
    LogError::Corrupt { cid, what }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", dir))
}

/// Encodes one record with its ordinal in the pack.
pub(crate) fn encode_record(out: &mut Vec<u8>, ordinal: u32, r: &Record) {
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
pub(crate) struct Head {
    /// Total record length, `len` included.
    pub(crate) total: u64,
    pub(crate) ordinal: u32,
    pub(crate) cid: Cid,
    pub(crate) note_len: usize,
}

/// Parses and checks the head of a record from `buf` (which starts at the record). `None` if
/// the bytes are not a whole, intact head.
pub(crate) fn parse_head(buf: &[u8]) -> Option<Head> {
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
pub(crate) fn parse_body(head: &Head, buf: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let note = buf.get(HEAD_FIXED..HEAD_FIXED + head.note_len)?.to_vec();
    let block_at = HEAD_FIXED + head.note_len + 4;
    let end = head.total as usize;
    let block = buf.get(block_at..end - 4)?;
    let bcrc = u32::from_be_bytes(buf.get(end - 4..end)?.try_into().ok()?);
    (crc32fast::hash(block) == bcrc).then(|| (note, block.to_vec()))
}

/// One record found by [`scan`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub(crate) offset: u64,
    pub(crate) ordinal: u32,
    pub(crate) cid: Cid,
    /// Whether its block checks out too (its header always does).
    pub(crate) intact: bool,
}

/// What reading a pack from some offset found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The records whose header checks out, in file order.
    pub(crate) records: Vec<Found>,
    /// Where the records end: the pack length if nothing is wrong at its end, else where a
    /// torn write starts.
    pub(crate) end: u64,
    /// Damaged stretches `(from, to)` followed by records (not a torn tail).
    pub(crate) damaged: Vec<(u64, u64)>,
}

/// Reads `file` (of length `len`) from `from`, record by record. After bytes that are not a
/// record header it looks for the next one byte by byte. When the range may end in a torn
/// write (`torn`: it reaches past the last checkpoint), whatever follows the last intact record
/// is one: `end` is where it starts. Otherwise it is damage like any other.
pub(crate) fn scan(
    file: &File,
    path: &Path,
    from: u64,
    len: u64,
    torn: bool,
) -> Result<Scan, LogError> {
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

pub(crate) fn read_head_at(file: &File, offset: u64, len: u64) -> Option<Head> {
    let n = (len.saturating_sub(offset)).min((HEAD_FIXED + MAX_NOTE + 4) as u64) as usize;
    let mut buf = vec![0u8; n];
    file.read_exact_at(&mut buf, offset).ok()?;
    parse_head(&buf)
}

pub(crate) fn write_header(file: &File, path: &Path, first: u64) -> Result<(), LogError> {
    let mut header = Vec::with_capacity(PACK_HEADER as usize);
    header.extend_from_slice(PACK_MAGIC);
    header.extend_from_slice(&VERSION.to_be_bytes());
    header.extend_from_slice(&first.to_be_bytes());
    file.write_all_at(&header, 0)
        .and_then(|()| file.sync_all())
        .map_err(io_err("writing", path))
}

/// Reads the record at `offset` of a pack file, checking it is record `ordinal`.
pub(crate) fn read_record(
    file: &File,
    path: &Path,
    offset: u64,
    ordinal: u32,
    known: Option<Cid>,
) -> Result<Record, LogError> {
    let (record, intact) = read_record_lossy(file, path, offset, ordinal, known)?;
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
pub(crate) fn read_record_lossy(
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

/// The index of the open pack: records from ordinal `base` on. Records before `base` (those the
/// last checkpoint covers) are indexed the first time one is needed.
#[derive(Debug, Default)]
pub(crate) struct OpenIndex {
    pub(crate) base: u32,
    /// Byte offset of record `base + i`.
    pub(crate) offsets: Vec<u64>,
    /// CID of record `base + i` (meaningless where the offset is `u64::MAX`).
    pub(crate) cids: Vec<Cid>,
    /// CID -> ordinal, for ordinals from `base` on.
    pub(crate) map: CidMap<u32>,
}

/// The pack being appended to.
#[derive(Debug)]
pub(crate) struct OpenPack {
    pub(crate) first: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) len: u64,
    pub(crate) index: Mutex<OpenIndex>,
}

impl OpenPack {
    pub(crate) fn count(&self, index: &OpenIndex) -> u32 {
        index.base + index.offsets.len() as u32
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, OpenIndex> {
        lock(&self.index)
    }

    /// Makes the index cover the whole pack, reading the records before `base`.
    pub(crate) fn complete(&self, index: &mut OpenIndex) -> Result<(), LogError> {
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
