//! Timeouts on blocking byte streams: [`TimeoutReader`] gives up on a source silent for too
//! long, [`TimeoutWriter`] on a sink that takes nothing for too long (a peer that stopped
//! reading). Each does its blocking IO on a thread of its own.

use std::{
    io::{self, Read, Write},
    sync::{
        mpsc::{self, Receiver, RecvTimeoutError},
        Arc, Condvar, Mutex, MutexGuard,
    },
    thread,
    time::{Duration, Instant},
};

/// The default silence timeout of a link.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A reader whose `read` fails with `TimedOut` when the source stays silent for `timeout`.
/// A thread does the blocking reads; it ends when the source ends or this reader is dropped.
#[derive(Debug)]
pub struct TimeoutReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    pending: Vec<u8>,
    pos: usize,
    timeout: Duration,
    eof: bool,
}

impl TimeoutReader {
    /// Wraps `source`.
    pub fn new(mut source: impl Read + Send + 'static, timeout: Duration) -> TimeoutReader {
        let (tx, rx) = mpsc::sync_channel(8);
        thread::spawn(move || {
            let mut buf = vec![0u8; 256 << 10];
            loop {
                match source.read(&mut buf) {
                    Ok(0) => {
                        let _ = tx.send(Ok(Vec::new()));
                        return;
                    }
                    Ok(n) => {
                        if tx.send(Ok(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        TimeoutReader {
            rx,
            pending: Vec::new(),
            pos: 0,
            timeout,
            eof: false,
        }
    }
}

impl Read for TimeoutReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.pending.len() {
            if self.eof {
                return Ok(0);
            }
            match self.rx.recv_timeout(self.timeout) {
                Ok(Ok(chunk)) if chunk.is_empty() => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(Ok(chunk)) => {
                    self.pending = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Timeout) => return Err(io::ErrorKind::TimedOut.into()),
                Err(RecvTimeoutError::Disconnected) => {
                    self.eof = true;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.pending.len() - self.pos);
        out[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A writer whose writes fail with `TimedOut` (wrapping [`weft_sync::Stalled`], which
/// [`weft_sync::link_error`] reads as [`Error::WriteTimeout`]) when the sink takes nothing for
/// `timeout`: a peer that stopped reading. A thread does the blocking writes, from a queue of at
/// most [`TimeoutWriter::QUEUE`] bytes; `flush` waits until the sink took everything. Once a
/// write timed out or failed, every later one fails at once. Dropping the writer lets the
/// thread write what is queued, then close the sink (the peer sees the end of the stream).
#[derive(Debug)]
pub struct TimeoutWriter {
    shared: Arc<(Mutex<WriteState>, Condvar)>,
    timeout: Duration,
}

#[derive(Debug, Default)]
struct WriteState {
    queue: Vec<u8>,
    /// The thread is writing a chunk.
    busy: bool,
    /// No more writes come (the writer was dropped).
    closed: bool,
    /// A write failed or timed out: the link is dead.
    failed: Option<io::ErrorKind>,
}

impl TimeoutWriter {
    /// Bytes queued at most before `write` waits for the sink.
    pub const QUEUE: usize = 256 << 10;

    /// Wraps `sink`.
    pub fn new(mut sink: impl Write + Send + 'static, timeout: Duration) -> TimeoutWriter {
        let shared = Arc::new((Mutex::new(WriteState::default()), Condvar::new()));
        let theirs = Arc::clone(&shared);
        thread::spawn(move || {
            let (state, cvar) = &*theirs;
            loop {
                let chunk = {
                    let mut st = weft_store::sync_util::lock(state);
                    while st.queue.is_empty() && !st.closed {
                        st = cvar.wait(st).unwrap_or_else(|e| e.into_inner());
                    }
                    if st.queue.is_empty() {
                        // Closed and all written: dropping `sink` ends the stream.
                        return;
                    }
                    st.busy = true;
                    std::mem::take(&mut st.queue)
                };
                cvar.notify_all();
                let result = sink.write_all(&chunk).and_then(|()| sink.flush());
                let mut st = weft_store::sync_util::lock(state);
                st.busy = false;
                if let Err(e) = result {
                    st.failed.get_or_insert(e.kind());
                    st.queue.clear();
                    cvar.notify_all();
                    return;
                }
                cvar.notify_all();
            }
        });
        TimeoutWriter { shared, timeout }
    }

    /// Waits until `ready` holds, the link failed, or `timeout` passed without the sink taking
    /// anything.
    fn wait_for(
        &self,
        ready: impl Fn(&WriteState) -> bool,
    ) -> io::Result<MutexGuard<'_, WriteState>> {
        let (state, cvar) = &*self.shared;
        let mut st = weft_store::sync_util::lock(state);
        let mut deadline = Instant::now() + self.timeout;
        let mut pending = st.queue.len();
        loop {
            if let Some(kind) = st.failed {
                return Err(if kind == io::ErrorKind::TimedOut {
                    stalled()
                } else {
                    io::Error::from(kind)
                });
            }
            if ready(&st) {
                return Ok(st);
            }
            // The sink took something: the peer is reading, the clock starts again.
            if st.queue.len() < pending {
                deadline = Instant::now() + self.timeout;
            }
            pending = st.queue.len();
            let now = Instant::now();
            if now >= deadline {
                st.failed = Some(io::ErrorKind::TimedOut);
                return Err(stalled());
            }
            st = cvar
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

fn stalled() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, weft_sync::Stalled)
}

impl Write for TimeoutWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = self.wait_for(|s| s.queue.len() < TimeoutWriter::QUEUE)?;
        let n = buf.len().min(TimeoutWriter::QUEUE - st.queue.len());
        st.queue.extend_from_slice(&buf[..n]);
        drop(st);
        self.shared.1.notify_all();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.wait_for(|s| s.queue.is_empty() && !s.busy).map(drop)
    }
}

impl Drop for TimeoutWriter {
    fn drop(&mut self) {
        let (state, cvar) = &*self.shared;
        weft_store::sync_util::lock(state).closed = true;
        cvar.notify_all();
    }
}
