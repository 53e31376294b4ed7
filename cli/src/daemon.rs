//! Daemon routing: whoever holds the repo serves it.
//!
//! sled gives one process the repo at a time. A process that holds it for long (`weft serve`,
//! `weft watch`, `weft ui`) starts a [`Daemon`]: it listens on the Unix domain socket `.weft/weft.sock` and
//! runs the commands of other `weft` processes in-process, on its open [`Repo`], with the same
//! code path as a command run locally (`crate::run_on_repo`). A `weft` command first looks for a
//! daemon, then tries to open the repo itself ([`open_or_connect`]); while neither works (a short
//! command holds the lock, or a daemon is still starting) it retries with a small backoff for up
//! to [`LOCKED_WAIT`], then fails with the usual "open in another weft process" (exit 6).
//!
//! # Protocol
//!
//! Every message is a frame: `kind: u8`, `len: u32` big-endian, then `len` payload bytes, with
//! `len` at most 1 MiB (`MAX_FRAME`). A connection goes:
//!
//! 1. server → `HELLO` (0x10): `"weft-rpc"`, protocol version `u16` BE (1), the 32-byte author
//!    key the server signs with. A client that sees the connection close before `HELLO` knows
//!    nothing ran and may retry.
//! 2. client → `REQUEST` (0x01): version `u16` BE, a count `u32` BE, then that many byte strings
//!    (`u32` BE length + bytes): the client's current directory, then its arguments without
//!    `argv[0]` (raw bytes, so non-UTF-8 paths survive). The server parses them with the same
//!    clap definitions but runs the command on **its** repo: `-C`/`WEFT_DIR` only served to find
//!    this socket, and relative paths (`dag -o FILE`) are resolved against the client's
//!    directory. The client checks `--identity`/`WEFT_IDENTITY` itself against the `HELLO`
//!    author and refuses (exit 6) a command that would sign with another key.
//!    Or client → `SYNC` (0x04, empty): the rest of the connection is one session of the sync
//!    protocol (`weft_sync`), answered on the served repo. `weft serve --stdio` does this when
//!    another process holds the repo, so ssh and path remotes work while `weft serve` runs.
//! 3. client → `STDIN` (0x02) data frames and one `STDIN_EOF` (0x03, empty). Only `batch` reads
//!    stdin: its client forwards its stdin as `STDIN` frames and then `STDIN_EOF`, and the server
//!    feeds them to the command (a connection that closes before `STDIN_EOF` is an input that
//!    broke off, not its end). For every other command clients send `STDIN_EOF` at once and never
//!    touch their stdin (a proxied command must not swallow input meant for a script), and the
//!    server discards `STDIN` data.
//! 4. server → `STDOUT` (0x11) and `STDERR` (0x12) data frames (at most 64 KiB each, frame
//!    boundaries mean nothing), in the order written, then one `EXIT` (0x13) with the exit code
//!    as one byte. The server then shuts down its sending side and reads until the client
//!    closes the connection.
//!
//! The client keeps the connection open until `EXIT`; closing it earlier (killed, or its stdout
//! closed) stops a streaming command such as `watch`. A malformed request gets a one-line
//! `STDERR` error and `EXIT` 2; a stalled one is dropped after 30 s (`REQUEST_TIMEOUT`). Each
//! connection has its own thread (at most 256 at once), so one slow or hostile client never
//! stalls the others, and nothing a client sends can panic the server.
//!
//! When the daemon stops (dropped: `serve` got SIGTERM or EOF on stdin, `watch` is done), it
//! stops accepting, removes the socket file, ends proxied `watch`es with an error ("the weft
//! process serving the repo stopped", exit 1: they would miss changes otherwise), lets other
//! running commands finish for up to 2 s, then cuts what is left.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;
use weft_dag::{Options, Repo, WEFT_DIR};

pub use imp::{Client, Daemon};

/// The socket file inside `.weft`.
pub const SOCKET_FILE: &str = "weft.sock";

/// How long a command waits for a repo that another process holds without serving it.
pub const LOCKED_WAIT: Duration = Duration::from_secs(5);

/// The repo is taken by a weft process that serves it, in a way the command cannot share: it
/// must hold the repo itself (`serve`), or would sign with another key. Exit code 6, as for a
/// repo held by a process that does not serve it ([`weft_dag::open::Error::Locked`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Busy(pub String);

impl Busy {
    /// [`weft_dag::ErrorKind::Busy`].
    pub fn kind(&self) -> weft_dag::ErrorKind {
        weft_dag::ErrorKind::Busy
    }
}

/// Where a command runs.
#[derive(Debug)]
pub enum Route {
    /// This process opened the repo.
    Local(Box<Repo>),
    /// Another weft process holds the repo and will run the command.
    Remote(Client),
}

/// Opens the repo at `root`, or, while another weft process holds it, connects to that
/// process's daemon if `proxy` is true (for a command that must hold the repo itself, a daemon
/// means the repo is taken: [`weft_dag::open::Error::Locked`]). Retries for up to [`LOCKED_WAIT`]
/// while neither works.
pub fn open_or_connect(root: &Path, options: &Options, proxy: bool) -> Result<Route> {
    let socket = root.join(WEFT_DIR).join(SOCKET_FILE);
    let deadline = Instant::now() + LOCKED_WAIT;
    let mut pause = Duration::from_millis(5);
    loop {
        // The socket first: when a daemon runs, this skips the lock attempt (which itself waits
        // a little for a lock that is just being released).
        if let Some(client) = Client::connect(&socket)? {
            if proxy {
                return Ok(Route::Remote(client));
            }
            return Err(Busy(format!(
                "another weft process (`weft serve` or `weft watch`) already serves the repo at {} \
                 (stop it first; other commands run inside it)",
                root.display()
            ))
            .into());
        }
        match Repo::open(root, options.clone()) {
            Ok(repo) => return Ok(Route::Local(Box::new(repo))),
            Err(weft_dag::open::Error::Locked { .. }) if Instant::now() < deadline => {
                tracing::debug!("repo locked and not served; retrying in {pause:?}");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(unix)]
mod imp {
    use std::{
        ffi::{OsStr, OsString},
        io::{self, BufWriter, Read, Write},
        os::unix::{
            ffi::{OsStrExt as _, OsStringExt as _},
            fs::{MetadataExt as _, PermissionsExt as _},
            io::AsRawFd as _,
            net::{UnixListener, UnixStream},
        },
        path::{Path, PathBuf},
        sync::{
            atomic::{AtomicBool, Ordering},
            mpsc, Arc, Mutex,
        },
        thread::JoinHandle,
        time::{Duration, Instant},
    };

    use anyhow::{bail, Context as _, Result};
    use clap::Parser as _;
    use weft_dag::{identity::Author, Repo};
    use weft_store::sync_util::lock;

    use super::SOCKET_FILE;
    use crate::{
        args::{Cli, Command},
        ctx::{Ctx, Input},
        stop::Stop,
    };

    /// The largest frame payload either side accepts.
    const MAX_FRAME: usize = 1 << 20;
    /// How long the server waits for a client's request before dropping the connection.
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    const MAGIC: &[u8; 8] = b"weft-rpc";
    const VERSION: u16 = 1;
    /// Output is sent in frames of at most this many bytes.
    const CHUNK: usize = 64 * 1024;
    /// `STDIN` frames a server buffers for a command that reads them before it stops reading.
    const INPUT_FRAMES: usize = 16;
    /// Connections served at once; more are closed before `HELLO` (their clients retry).
    const MAX_CONNECTIONS: usize = 256;
    /// How long a stopping daemon lets running commands finish before cutting their sockets.
    const DRAIN_WAIT: Duration = Duration::from_secs(2);
    /// How long a client waits for `HELLO` from a socket that accepted it.
    const HELLO_WAIT: Duration = Duration::from_secs(5);

    mod kind {
        pub const REQUEST: u8 = 0x01;
        pub const STDIN: u8 = 0x02;
        pub const STDIN_EOF: u8 = 0x03;
        pub const SYNC: u8 = 0x04;
        pub const HELLO: u8 = 0x10;
        pub const STDOUT: u8 = 0x11;
        pub const STDERR: u8 = 0x12;
        pub const EXIT: u8 = 0x13;
    }

    /// A Unix socket address holds a path of at most about 100 bytes (108 on Linux, 104 on the
    /// BSDs, with its terminating NUL). A longer socket path (a repo deep in the file system)
    /// is reached through its directory instead: on Linux that directory is held open and named
    /// `/proc/self/fd/N`, so the address is `/proc/self/fd/N/weft.sock`, which always fits,
    /// while the socket file stays `.weft/weft.sock`. Returns the path to bind or connect to
    /// and the open directory, to keep until then.
    fn socket_address(path: &Path) -> io::Result<(PathBuf, Option<std::fs::File>)> {
        const FITS: usize = 100;
        if path.as_os_str().len() < FITS || !cfg!(target_os = "linux") {
            return Ok((path.to_path_buf(), None));
        }
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok((path.to_path_buf(), None));
        };
        let dir = std::fs::File::open(dir)?;
        let short = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
        Ok((short, Some(dir)))
    }

    /// Listens on the socket file `path`, however long it is (see [`socket_address`]).
    fn bind(path: &Path) -> io::Result<UnixListener> {
        let (address, _dir) = socket_address(path)?;
        UnixListener::bind(address)
    }

    /// Connects to the socket file `path`, however long it is (see [`socket_address`]).
    fn connect(path: &Path) -> io::Result<UnixStream> {
        let (address, _dir) = socket_address(path)?;
        UnixStream::connect(address)
    }

    fn invalid(msg: impl Into<String>) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, msg.into())
    }

    fn write_frame(mut w: impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&l| l as usize <= MAX_FRAME)
            .ok_or_else(|| invalid("frame too large"))?;
        let mut buf = Vec::with_capacity(5 + payload.len());
        buf.push(kind);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(payload);
        w.write_all(&buf)
    }

    /// The next frame; `None` at a clean end of stream (between frames).
    fn read_frame(mut r: impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
        let mut kind = [0u8; 1];
        loop {
            match r.read(&mut kind) {
                Ok(0) => return Ok(None),
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME {
            return Err(invalid(format!(
                "frame of {len} bytes is over the {MAX_FRAME}-byte limit"
            )));
        }
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload)?;
        Ok(Some((kind[0], payload)))
    }

    /// Reads length-prefixed byte strings from a request payload.
    struct Cursor<'a>(&'a [u8]);

    impl<'a> Cursor<'a> {
        fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
            if self.0.len() < n {
                return Err(invalid("truncated request"));
            }
            let (head, rest) = self.0.split_at(n);
            self.0 = rest;
            Ok(head)
        }

        fn u16(&mut self) -> io::Result<u16> {
            let b = self.take(2)?;
            Ok(u16::from_be_bytes([b[0], b[1]]))
        }

        fn u32(&mut self) -> io::Result<usize> {
            let b = self.take(4)?;
            Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        }
    }

    /// A decoded `REQUEST`.
    #[derive(Debug)]
    struct Request {
        cwd: PathBuf,
        args: Vec<OsString>,
    }

    fn encode_request(cwd: &Path, args: &[OsString]) -> Vec<u8> {
        let strings: Vec<&[u8]> = std::iter::once(cwd.as_os_str())
            .chain(args.iter().map(OsString::as_os_str))
            .map(OsStr::as_bytes)
            .collect();
        let mut buf = Vec::new();
        buf.extend_from_slice(&VERSION.to_be_bytes());
        buf.extend_from_slice(&(strings.len() as u32).to_be_bytes());
        for s in strings {
            buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
            buf.extend_from_slice(s);
        }
        buf
    }

    fn decode_request(payload: &[u8]) -> io::Result<Request> {
        let mut c = Cursor(payload);
        let version = c.u16()?;
        if version != VERSION {
            return Err(invalid(format!(
                "protocol version {version}, this weft speaks {VERSION}"
            )));
        }
        let n = c.u32()?;
        if n == 0 {
            return Err(invalid("no working directory"));
        }
        // Every string takes at least its 4-byte length, which bounds `n` by the payload.
        if n > c.0.len() / 4 {
            return Err(invalid("truncated request"));
        }
        let mut strings = Vec::with_capacity(n);
        for _ in 0..n {
            let len = c.u32()?;
            strings.push(OsString::from_vec(c.take(len)?.to_vec()));
        }
        if !c.0.is_empty() {
            return Err(invalid("trailing bytes after the request"));
        }
        let cwd = PathBuf::from(strings.remove(0));
        if !cwd.is_absolute() {
            return Err(invalid("the working directory is not absolute"));
        }
        Ok(Request { cwd, args: strings })
    }

    /// A `Write` that sends everything as frames of one kind.
    struct FrameWriter<'a> {
        stream: &'a UnixStream,
        kind: u8,
    }

    impl Write for FrameWriter<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.is_empty() {
                return Ok(0);
            }
            let n = buf.len().min(CHUNK);
            write_frame(self.stream, self.kind, &buf[..n])?;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    // ----- server -----

    /// A connection being served.
    #[derive(Debug)]
    struct Conn {
        stop: Arc<Stop>,
        stream: UnixStream,
        thread: JoinHandle<()>,
    }

    #[derive(Debug)]
    struct Shared {
        stopping: AtomicBool,
        conns: Mutex<Vec<Conn>>,
    }

    /// Serves the repo on `.weft/weft.sock` until dropped. See the module docs.
    #[derive(Debug)]
    pub struct Daemon {
        path: PathBuf,
        /// `(dev, ino)` of the socket file we bound, so that drop removes only ours.
        file_id: (u64, u64),
        shared: Arc<Shared>,
        accept: Option<JoinHandle<()>>,
    }

    impl Daemon {
        /// Listens on `weft_dir/weft.sock` and serves every connection on its own thread,
        /// running commands on `repo`. A socket file left by a process that died is replaced;
        /// one that answers is an error.
        pub fn start(repo: Arc<Repo>, weft_dir: &Path) -> Result<Daemon> {
            let path = weft_dir.join(SOCKET_FILE);
            if std::fs::symlink_metadata(&path).is_ok() {
                if connect(&path).is_ok() {
                    bail!("another weft process already listens on {}", path.display());
                }
                match std::fs::remove_file(&path) {
                    Ok(()) => tracing::debug!("removed stale socket {}", path.display()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("cannot remove the stale socket {}", path.display())
                        })
                    }
                }
            }
            let listener =
                bind(&path).with_context(|| format!("cannot listen on {}", path.display()))?;
            let meta = std::fs::symlink_metadata(&path)
                .with_context(|| format!("cannot stat {}", path.display()))?;
            let file_id = (meta.dev(), meta.ino());
            // Only this user may run commands here (the repo's key signs them).
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
            let shared = Arc::new(Shared {
                stopping: AtomicBool::new(false),
                conns: Mutex::new(Vec::new()),
            });
            let accept = {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name("weft-daemon".into())
                    .spawn(move || accept_loop(&listener, &repo, &shared))
            };
            let mut daemon = Daemon {
                path,
                file_id,
                shared,
                accept: None,
            };
            // On failure `daemon` drops here and removes the socket.
            daemon.accept = Some(accept.context("cannot start the daemon thread")?);
            Ok(daemon)
        }

        fn remove_socket_file(&self) {
            let ours = std::fs::symlink_metadata(&self.path)
                .is_ok_and(|m| (m.dev(), m.ino()) == self.file_id);
            if ours {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }

    impl Drop for Daemon {
        fn drop(&mut self) {
            self.shared.stopping.store(true, Ordering::SeqCst);
            if let Some(accept) = self.accept.take() {
                // Wake the accept loop; it sees `stopping`, exits and closes the listener. If
                // the socket file is gone, nobody can reach the listener anyway: leave it.
                if connect(&self.path).is_ok() {
                    let _ = accept.join();
                }
            }
            self.remove_socket_file();
            // Running commands: stop the streaming ones, let the others finish for a moment,
            // then cut the sockets of whatever is left (a client that stopped reading).
            let conns = std::mem::take(&mut *lock(&self.shared.conns));
            for c in &conns {
                c.stop.fail("the weft process serving the repo stopped");
            }
            let deadline = Instant::now() + DRAIN_WAIT;
            while Instant::now() < deadline && conns.iter().any(|c| !c.thread.is_finished()) {
                std::thread::sleep(Duration::from_millis(10));
            }
            for c in conns {
                let _ = c.stream.shutdown(std::net::Shutdown::Both);
                let _ = c.thread.join();
            }
        }
    }

    fn accept_loop(listener: &UnixListener, repo: &Arc<Repo>, shared: &Shared) {
        for stream in listener.incoming() {
            if shared.stopping.load(Ordering::SeqCst) {
                break;
            }
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    // Out of descriptors and the like: do not spin.
                    tracing::warn!("daemon: accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let mut conns = lock(&shared.conns);
            conns.retain(|c| !c.thread.is_finished());
            if conns.len() >= MAX_CONNECTIONS {
                tracing::warn!("daemon: {MAX_CONNECTIONS} connections open; refusing one");
                continue;
            }
            let Ok(handle) = stream.try_clone() else {
                continue;
            };
            let stop = Stop::new();
            let thread = {
                let (repo, stop) = (Arc::clone(repo), Arc::clone(&stop));
                std::thread::Builder::new()
                    .name("weft-daemon-conn".into())
                    .spawn(move || serve_connection(&repo, &stream, &stop))
            };
            match thread {
                Ok(thread) => conns.push(Conn {
                    stop,
                    stream: handle,
                    thread,
                }),
                Err(e) => tracing::warn!("daemon: cannot start a connection thread: {e}"),
            }
        }
    }

    fn serve_connection(repo: &Repo, stream: &UnixStream, stop: &Arc<Stop>) {
        if let Err(e) = handle_connection(repo, stream, stop) {
            tracing::debug!("daemon: connection ended: {e}");
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }

    fn hello(author: &Author) -> Vec<u8> {
        let mut p = MAGIC.to_vec();
        p.extend_from_slice(&VERSION.to_be_bytes());
        p.extend_from_slice(author.as_bytes());
        p
    }

    fn handle_connection(repo: &Repo, stream: &UnixStream, stop: &Arc<Stop>) -> io::Result<()> {
        write_frame(stream, kind::HELLO, &hello(&repo.author()))?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        let request = match read_frame(stream) {
            Ok(None) => return Ok(()),
            Ok(Some((kind::SYNC, _))) => {
                // From here on the connection is one sync session (`weft serve --stdio` run by
                // another process while this one holds the repo).
                stream.set_read_timeout(Some(weft_net::transport::DEFAULT_TIMEOUT))?;
                // A client that stops reading is dropped after as long.
                stream.set_write_timeout(Some(weft_net::transport::DEFAULT_TIMEOUT))?;
                let reader = stream.try_clone()?;
                match weft_net::server::serve_stream(
                    repo,
                    reader,
                    stream,
                    "a local client",
                    "local",
                    weft_net::transport::DEFAULT_TIMEOUT,
                    // The socket is mode 0600: whoever reaches it has the repo anyway.
                    &weft_sync::Access::trusted(),
                ) {
                    Ok(_) => tracing::debug!("daemon: sync session done"),
                    Err(e) => tracing::warn!("daemon: sync session failed: {e}"),
                }
                return Ok(());
            }
            Ok(Some((kind::REQUEST, payload))) => decode_request(&payload),
            Ok(Some((k, _))) => Err(invalid(format!(
                "expected a request frame, got kind {k:#04x}"
            ))),
            Err(e) => Err(e),
        };
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("weft: error: bad request from a weft client: {e}\n");
                write_frame(stream, kind::STDERR, msg.as_bytes())?;
                return write_frame(
                    stream,
                    kind::EXIT,
                    &[crate::exit::code(weft_dag::ErrorKind::InvalidInput)],
                );
            }
        };
        stream.set_read_timeout(None)?;
        let argv = std::iter::once(OsString::from("weft")).chain(request.args.iter().cloned());
        let cli = Cli::try_parse_from(argv);
        // `batch` reads the client's stdin: its `STDIN` frames, `None` for `STDIN_EOF`.
        let (feed, input) = match &cli {
            Ok(cli) if matches!(cli.command, Command::Batch) => {
                let (tx, rx) = mpsc::sync_channel(INPUT_FRAMES);
                (Some(tx), Some(rx))
            }
            _ => (None, None),
        };

        // Watch the client: when it goes away, a streaming command stops (and `batch` sees its
        // input break off).
        let reader = {
            let (mut r, stop) = (stream.try_clone()?, Arc::clone(stop));
            std::thread::Builder::new()
                .name("weft-daemon-read".into())
                .spawn(move || {
                    let mut feed: Option<mpsc::SyncSender<Option<Vec<u8>>>> = feed;
                    loop {
                        match read_frame(&mut r) {
                            Ok(Some((kind::STDIN, data))) => {
                                // A command that stopped reading: discard the rest.
                                if feed.as_ref().is_some_and(|f| f.send(Some(data)).is_err()) {
                                    feed = None;
                                }
                            }
                            Ok(Some((kind::STDIN_EOF, _))) => {
                                if let Some(f) = feed.take() {
                                    let _ = f.send(None);
                                }
                            }
                            _ => break,
                        }
                    }
                    // Stop first, so that a `batch` reading on sees why its input ended.
                    stop.trigger();
                    drop(feed);
                })?
        };
        let code = run_request(repo, &request, cli, input, stream, stop);
        let sent = write_frame(stream, kind::EXIT, &[code]);
        // Only our half: the reader keeps draining the client's frames until it closes, so that
        // no unread data turns the client's end into a connection reset.
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let _ = reader.join();
        sent
    }

    /// The input a client forwards (`STDIN` frames) as a `Read`: `None` from the channel is
    /// `STDIN_EOF`, the end; the channel closing before it means the client went away.
    struct FrameInput {
        rx: mpsc::Receiver<Option<Vec<u8>>>,
        buf: Vec<u8>,
        pos: usize,
        eof: bool,
    }

    impl Read for FrameInput {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            while self.pos == self.buf.len() {
                if self.eof {
                    return Ok(0);
                }
                match self.rx.recv() {
                    Ok(Some(data)) => (self.buf, self.pos) = (data, 0),
                    Ok(None) => self.eof = true,
                    Err(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the client went away before the end of its input",
                        ))
                    }
                }
            }
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// Runs one proxied command and returns its exit code; its output goes to the client.
    /// `input`: the client's stdin, for a command that reads it.
    fn run_request(
        repo: &Repo,
        request: &Request,
        cli: Result<Cli, clap::Error>,
        input: Option<mpsc::Receiver<Option<Vec<u8>>>>,
        stream: &UnixStream,
        stop: &Arc<Stop>,
    ) -> u8 {
        let mut out = BufWriter::with_capacity(
            CHUNK,
            FrameWriter {
                stream,
                kind: kind::STDOUT,
            },
        );
        // Line-buffered: an error line goes out as one frame.
        let mut err = io::LineWriter::new(FrameWriter {
            stream,
            kind: kind::STDERR,
        });
        let cli = match cli {
            Ok(cli) => cli,
            Err(e) if e.use_stderr() => {
                let _ = writeln!(err, "weft: error: {}", crate::usage_error_line(&e));
                return crate::exit::code(weft_dag::ErrorKind::InvalidInput);
            }
            Err(e) => {
                // Help and version (the client handles those itself, but be complete).
                let _ = write!(out, "{}", e.render());
                return match out.flush() {
                    Ok(()) => 0,
                    Err(_) => crate::exit::code(weft_dag::ErrorKind::Other),
                };
            }
        };
        let mut ctx = Ctx::new(&cli)
            .with_cwd(request.cwd.clone())
            .with_stop(Arc::clone(stop));
        if let Some(rx) = input {
            ctx = ctx.with_input(Input::new(io::BufReader::new(FrameInput {
                rx,
                buf: Vec::new(),
                pos: 0,
                eof: false,
            })));
        }
        let run =
            std::panic::AssertUnwindSafe(|| crate::run_on_repo(&ctx, repo, &mut out, &mut err));
        let code = match std::panic::catch_unwind(run) {
            Ok(code) => code,
            Err(_) => {
                // The panic hook already reported it on the server's stderr.
                let _ = writeln!(
                    err,
                    "weft: error: internal error in the weft process serving the repo (a bug in \
                     weft, please report it)"
                );
                crate::exit::code(weft_dag::ErrorKind::Other)
            }
        };
        let _ = err.flush();
        code
    }

    // ----- client -----

    /// Sends our stdin as `STDIN` frames, then `STDIN_EOF`. If stdin fails, the input ends
    /// without `STDIN_EOF` (the server then sees it broke off); if the server is gone, stops.
    fn send_stdin(to_server: &UnixStream) {
        let mut stdin = io::stdin().lock();
        let mut buf = vec![0u8; CHUNK];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => {
                    let _ = write_frame(to_server, kind::STDIN_EOF, &[]);
                    return;
                }
                Ok(n) => {
                    if write_frame(to_server, kind::STDIN, &buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!("cannot read stdin: {e}");
                    let _ = to_server.shutdown(std::net::Shutdown::Write);
                    return;
                }
            }
        }
    }

    /// A connection to the daemon of the process that holds the repo, after its `HELLO`.
    #[derive(Debug)]
    pub struct Client {
        stream: UnixStream,
        author: Author,
    }

    impl Client {
        /// Connects to the daemon listening on `socket`. `Ok(None)` if nobody serves there (no
        /// socket file, a stale one, or a server that closed before greeting).
        pub fn connect(socket: &Path) -> Result<Option<Client>> {
            if std::fs::symlink_metadata(socket).is_err() {
                return Ok(None);
            }
            let Ok(stream) = connect(socket) else {
                return Ok(None);
            };
            stream.set_read_timeout(Some(HELLO_WAIT))?;
            let payload = match read_frame(&stream) {
                Ok(Some((kind::HELLO, payload))) => payload,
                Ok(Some((k, _))) => bail!(
                    "unexpected frame {k:#04x} from the weft process serving the repo ({})",
                    socket.display()
                ),
                Ok(None) | Err(_) => return Ok(None),
            };
            let ok = payload.len() == MAGIC.len() + 2 + 32 && payload.starts_with(MAGIC);
            if !ok {
                bail!("{} does not speak the weft protocol", socket.display());
            }
            let version = u16::from_be_bytes([payload[8], payload[9]]);
            if version != VERSION {
                bail!(
                    "the weft process serving the repo speaks protocol version {version}, this \
                     weft speaks {VERSION}: restart it with this weft"
                );
            }
            let mut author = [0u8; 32];
            author.copy_from_slice(&payload[10..]);
            stream.set_read_timeout(None)?;
            Ok(Some(Client {
                stream,
                author: Author(author),
            }))
        }

        /// The author key the serving process signs with.
        pub fn author(&self) -> Author {
            self.author
        }

        /// Turns this connection into a sync session answered by the serving process, and
        /// carries it between our stdin/stdout and the socket until either side ends.
        /// A client that stops reading our stdout for `timeout` ends the splice (the daemon
        /// then sees the session cut).
        pub fn splice_sync(self, timeout: Duration) -> Result<()> {
            write_frame(&self.stream, kind::SYNC, &[])?;
            let mut to_server = self.stream.try_clone()?;
            std::thread::Builder::new()
                .name("weft-splice".into())
                .spawn(move || {
                    let _ = io::copy(&mut io::stdin().lock(), &mut to_server);
                    let _ = to_server.shutdown(std::net::Shutdown::Write);
                })?;
            // Stdout is line-buffered and the protocol is binary: flush every chunk.
            let mut stdout =
                weft_net::transport::TimeoutWriter::new(crate::net::raw_stdout()?, timeout);
            let mut from_server = &self.stream;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match from_server.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                };
                stdout.write_all(&buf[..n])?;
                stdout.flush()?;
            }
        }

        /// Sends the command line (`args` without `argv[0]`, run as if from `cwd`), relays its
        /// output to `out` and `err`, and returns its exit code. `stdin`: the command reads our
        /// stdin, so send it along (else the server gets `STDIN_EOF` at once).
        pub fn forward(
            self,
            args: &[OsString],
            cwd: &Path,
            stdin: bool,
            out: &mut dyn Write,
            err: &mut dyn Write,
        ) -> Result<u8> {
            let request = encode_request(cwd, args);
            if request.len() > MAX_FRAME {
                return Err(anyhow::Error::new(crate::out::UsageError(
                    "the command line is too long to pass to the weft process serving the repo"
                        .into(),
                )));
            }
            let gone = || {
                anyhow::anyhow!(
                    "the weft process serving the repo stopped before the command finished \
                     (a write may or may not have been applied)"
                )
            };
            // One write for the request and the end of stdin. Should it fail (the server
            // already answered and left), its reply is still there to read.
            let mut frames = Vec::new();
            write_frame(&mut frames, kind::REQUEST, &request)?;
            if !stdin {
                write_frame(&mut frames, kind::STDIN_EOF, &[])?;
            }
            if let Err(e) = (&self.stream).write_all(&frames) {
                tracing::debug!("cannot send the request: {e}");
            }
            if stdin {
                let to_server = self.stream.try_clone()?;
                std::thread::Builder::new()
                    .name("weft-stdin".into())
                    .spawn(move || send_stdin(&to_server))?;
            }
            loop {
                match read_frame(&self.stream) {
                    Ok(Some((kind::STDOUT, data))) => {
                        // Flush per frame so that streams (`watch`) arrive line by line. A
                        // closed stdout ends the command as it would locally (exit 0); closing
                        // the connection tells the server.
                        out.write_all(&data)?;
                        out.flush()?;
                    }
                    Ok(Some((kind::STDERR, data))) => {
                        out.flush()?;
                        let _ = err.write_all(&data);
                    }
                    Ok(Some((kind::EXIT, code))) if code.len() == 1 => return Ok(code[0]),
                    Ok(Some((k, _))) => {
                        bail!("unexpected frame {k:#04x} from the weft process serving the repo")
                    }
                    Ok(None) | Err(_) => return Err(gone()),
                }
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use std::{ffi::OsString, io::Write, path::Path, sync::Arc, time::Duration};

    use anyhow::{bail, Result};
    use weft_dag::{identity::Author, Repo};

    /// Serving a repo to other processes needs Unix domain sockets.
    #[derive(Debug)]
    pub struct Daemon;

    impl Daemon {
        /// Always an error on this platform.
        pub fn start(_repo: Arc<Repo>, _weft_dir: &Path) -> Result<Daemon> {
            bail!("serving a repo to other weft processes needs Unix domain sockets")
        }
    }

    /// Never constructed on this platform.
    #[derive(Debug)]
    pub enum Client {}

    impl Client {
        /// Nobody serves on this platform.
        pub fn connect(_socket: &Path) -> Result<Option<Client>> {
            Ok(None)
        }

        /// Unreachable: no `Client` exists.
        pub fn author(&self) -> Author {
            match *self {}
        }

        /// Unreachable: no `Client` exists.
        pub fn forward(
            self,
            _args: &[OsString],
            _cwd: &Path,
            _stdin: bool,
            _out: &mut dyn Write,
            _err: &mut dyn Write,
        ) -> Result<u8> {
            match self {}
        }

        /// Unreachable: no `Client` exists.
        pub fn splice_sync(self, _timeout: Duration) -> Result<()> {
            match self {}
        }
    }
}
