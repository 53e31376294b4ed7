//! Unit tests of the pack log: reopening, sealing, torn tails, damage and stale indexes.

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
