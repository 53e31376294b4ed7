//! The database lock: one live `Store` per sled directory, reported as `OpenError::Locked`.

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
};

use weft_store::{sled_backend::LOCK_FILE, Cid, Codec, OpenError, Options, Store};

fn assert_locked(result: Result<Store, OpenError>, path: &Path) {
    match result {
        Err(err @ OpenError::Locked { .. }) => {
            let OpenError::Locked { path: locked } = &err else {
                unreachable!()
            };
            assert_eq!(locked, path);
            let msg = err.to_string();
            assert!(
                msg.contains("open in another process"),
                "message does not say why: {msg}"
            );
            assert!(
                msg.contains(&path.display().to_string()),
                "message does not name the path: {msg}"
            );
        }
        Err(other) => panic!("expected OpenError::Locked, got {other:?}"),
        Ok(_) => panic!("opened {} while it was locked", path.display()),
    }
}

#[test]
fn second_open_while_alive_is_locked() {
    let _no_spawn = crate::no_spawn();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let first = Store::open(&path, Options::default()).unwrap();
    assert!(path.join("db").join(LOCK_FILE).is_file());
    assert_locked(Store::open(&path, Options::default()), &path);
    // A refused open leaves the holder working.
    let mut b = first.batch();
    b.put(crate::HEADS, b"k", b"v");
    b.commit().unwrap();
    assert_eq!(
        first.get(crate::HEADS, b"k").unwrap().as_deref(),
        Some(&b"v"[..])
    );
    drop(first);
    let second = Store::open(&path, Options::default()).unwrap();
    assert_eq!(second.path(), Some(path.as_path()));
    assert_eq!(
        second.get(crate::HEADS, b"k").unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

#[test]
fn opens_again_after_the_holder_is_dropped() {
    let _no_spawn = crate::no_spawn();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    for round in 0u8..4 {
        let store = Store::open(path, Options::default()).unwrap();
        // Clones share the backend, so the lock is held until the last clone is gone.
        let clone = store.clone();
        drop(store);
        assert_locked(Store::open(path, Options::default()), path);
        let mut b = clone.batch();
        b.put(crate::HEADS, &[round], &[round]);
        b.commit().unwrap();
        drop(clone);
    }
    let store = Store::open(path, Options::default()).unwrap();
    let keys: Vec<Vec<u8>> = store
        .scan_prefix(crate::HEADS, &[])
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(keys, vec![vec![0], vec![1], vec![2], vec![3]]);
}

#[test]
fn data_survives_reopen() {
    let _no_spawn = crate::no_spawn();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let block = b"a block";
    let cid = Cid::hash(Codec::Raw, block);
    {
        let store = Store::open(path, Options::default()).unwrap();
        let mut b = store.batch();
        b.put_block(&cid, block, b"").unwrap();
        b.put(crate::HEADS, b"flushed", b"1");
        b.commit().unwrap();
        store.flush().unwrap();
        // Committed but never flushed: sled flushes when the last handle is dropped.
        let mut b = store.batch();
        b.put(crate::REGISTER, b"unflushed", b"2");
        b.delete(crate::HEADS, b"missing");
        b.commit().unwrap();
        // Staged but never committed: must not appear.
        let mut b = store.batch();
        b.put(crate::REGISTER, b"dropped", b"3");
        drop(b);
        assert!(store.size_on_disk().unwrap() > 0);
    }
    let store = Store::open(path, Options::default()).unwrap();
    assert_eq!(store.get_block(&cid).unwrap().as_deref(), Some(&block[..]));
    assert_eq!(
        store.get(crate::HEADS, b"flushed").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        store.get(crate::REGISTER, b"unflushed").unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(store.get(crate::REGISTER, b"dropped").unwrap(), None);
    let blocks: Vec<(Cid, Vec<u8>)> = store
        .records(weft_store::Pos(0))
        .map(|r| {
            let (_, rec) = r.unwrap();
            (rec.cid, rec.block)
        })
        .collect();
    assert_eq!(blocks, vec![(cid, block.to_vec())]);
}

/// Something other than weft holding sled's own lock on its `db` file (but not [`LOCK_FILE`]) is
/// reported as `Locked` too, after `open` has waited a bounded time for it, and the refused open
/// releases [`LOCK_FILE`] again.
#[test]
fn sled_lock_held_outside_weft_is_locked() {
    let _no_spawn = crate::no_spawn();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::create_dir_all(path.join("db")).unwrap();
    let sled_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path.join("db").join("db"))
        .unwrap();
    sled_file.try_lock().unwrap();
    assert_locked(Store::open(path, Options::default()), path);
    drop(sled_file);
    let store = Store::open(path, Options::default()).unwrap();
    let mut b = store.batch();
    b.put(crate::HEADS, b"k", b"v");
    b.commit().unwrap();
    assert!(store.contains(crate::HEADS, b"k").unwrap());
}

/// Set in the child process of [`held_by_another_process`] to the directory it must hold.
const HOLDER_ENV: &str = "WEFT_STORE_IT_LOCK_HOLDER";
/// The line the child writes once it holds the lock.
const HOLDING: &str = "weft-store-it: holding the lock";

/// Runs in two roles. As the parent it starts this same test binary, filtered to this test, with
/// [`HOLDER_ENV`] set; the child opens the store, says so on stdout and holds it until its stdin
/// closes. The parent's open must then fail with `Locked`, and succeed once the child exits.
/// The two synchronize through the pipes only, with no sleeps.
#[test]
fn held_by_another_process() {
    if let Some(dir) = std::env::var_os(HOLDER_ENV) {
        let store = Store::open(Path::new(&dir), Options::default()).unwrap();
        let mut out = std::io::stdout().lock();
        writeln!(out, "{HOLDING}").unwrap();
        out.flush().unwrap();
        drop(out);
        // Block until the parent closes our stdin.
        let mut rest = String::new();
        std::io::stdin().read_line(&mut rest).unwrap();
        drop(store);
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let spawning = crate::spawning();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lock::held_by_another_process",
            "--test-threads=1",
        ])
        .env(HOLDER_ENV, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(spawning);
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let holding = loop {
        match lines.next() {
            Some(line) => {
                let line = line.unwrap();
                // The harness may have written `test ... ` on the same line first.
                if line.ends_with(HOLDING) {
                    break true;
                }
                seen.push(line);
            }
            None => break false,
        }
    };
    if !holding {
        let output = child.wait_with_output().unwrap();
        panic!(
            "the child never took the lock; stdout: {seen:?}; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    assert_locked(Store::open(&path, Options::default()), &path);

    // Closing the child's stdin lets it drop the store and exit.
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The lock died with the child.
    let store = Store::open(&path, Options::default()).unwrap();
    assert_eq!(store.path(), Some(path.as_path()));
}
