//! Pack files: the block log on disk.
//!
//! Blocks are appended to the *open* pack, `packs/pack-<FIRST>.pack`, where `FIRST` is the
//! position of its first record as 16 hex digits. Once it holds [`SEAL_BYTES`] it is *sealed*:
//! synced, given a sorted index `pack-<FIRST>.idx` (CID -> record, as git's `.idx`), and the
//! next record starts a new pack. A sealed pack is never written again. The open pack has no
//! index file: its index is rebuilt in memory by reading it, from the start when a lookup first
//! needs it, and from the last checkpoint at open (the layer above replays those records).
//!
//! The format of a pack and its records is in [`crate::pack_file`], that of an index in
//! [`crate::pack_index`].

use std::{
    fs::{File, OpenOptions},
    io::{self, ErrorKind},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use crate::{
    cid::{Cid, Codec, DIGEST_LEN},
    log::{BlockLog, LogError, Pos, Record, Resume},
    pack_file::{
        corrupt, encode_record, io_err, pack_name, parse_pack_name, read_head_at, read_record,
        read_record_lossy, scan, sync_dir, write_header, Found, OpenIndex, OpenPack, PACK_MAGIC,
        RECORD_OVERHEAD, VERSION,
    },
    pack_index::{idx_name, write_idx, Idx, Sealed},
    sync_util::{read, write},
};

pub use crate::pack_file::PACK_HEADER;

/// A pack is sealed once it holds this many bytes (the default).
pub const SEAL_BYTES: u64 = 8 << 20;

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
        read(&self.state)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        write(&self.state)
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

    fn with_prefix(&self, prefix: &crate::cid::DigestPrefix) -> Result<Vec<(Cid, Pos)>, LogError> {
        let state = self.read_state();
        let mut found = Vec::new();
        if let Some(open) = &state.open {
            let mut index = open.lock();
            open.complete(&mut index)?;
            for (cid, &o) in &index.map {
                if prefix.matches(&cid.digest()) {
                    found.push((*cid, Pos(open.first + u64::from(o))));
                }
            }
        }
        for s in &state.sealed {
            for (cid, o) in s.idx.with_prefix(prefix) {
                found.push((cid, Pos(s.first + u64::from(o))));
            }
        }
        Ok(found)
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
            return read_record(&s.file, &s.path, offset, ordinal, None).map_err(|e| match e {
                LogError::Corrupt { cid: None, what } => LogError::Corrupt {
                    cid: s.idx.cid_of(ordinal),
                    what,
                },
                e => e,
            });
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
        read_record(&open.file, &open.path, offset, ordinal, cid)
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
        read_record_lossy(&file, &path, offset, ordinal, None)
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
mod tests;
