//! Serving: answer sessions on stdio (for ssh and local paths) or on a TCP listener.
//!
//! The TCP server gives each client its own thread and its own silence timeout, so a slow or
//! broken client stalls nobody else; a client that sends garbage is dropped with an ERROR frame
//! and the server goes on. Changes pushed by clients are verified like any other.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use weft_dag::Repo;

use crate::{frame::Frame, run, transport::DEFAULT_TIMEOUT, Endpoint, Error, Responder, Stats};

/// How a server behaves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A client silent for this long is dropped.
    pub timeout: Duration,
    /// Clients served at once; more are told the server is busy.
    pub max_clients: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            timeout: DEFAULT_TIMEOUT,
            max_clients: 64,
        }
    }
}

/// Answers one session on a byte stream.
pub fn serve_stream(
    repo: &Repo,
    reader: impl Read,
    writer: impl Write,
    peer: &str,
    timeout: Duration,
) -> Result<Stats, Error> {
    let mut session = Responder::new(repo)?;
    run(
        &mut session,
        reader,
        writer,
        peer,
        timeout.as_secs(),
        &mut |_| {},
    )?;
    Ok(session.stats().clone())
}

fn serve_client(repo: &Repo, stream: TcpStream, peer: SocketAddr, timeout: Duration) {
    let name = peer.to_string();
    let setup = (|| {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.try_clone()
    })();
    let reader = match setup {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(peer = %name, "cannot set up the connection: {e}");
            return;
        }
    };
    match serve_stream(repo, reader, &stream, &name, timeout) {
        Ok(s) => tracing::info!(
            peer = %name,
            rounds = s.round_trips,
            changes_in = s.changes_in,
            changes_out = s.changes_out,
            "session done"
        ),
        Err(e) => tracing::warn!(peer = %name, "session failed: {e}"),
    }
}

/// Serves sessions on `listener` until accepting fails; each client gets a thread.
pub fn serve_tcp(repo: Arc<Repo>, listener: TcpListener, opts: ServeOptions) -> ! {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let (mut stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Out of file descriptors and the like: say so, back off, keep serving.
                tracing::warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.load(Ordering::SeqCst) >= opts.max_clients {
            let busy = Frame::Error(format!(
                "server busy ({} clients); try again later",
                opts.max_clients
            ));
            let _ = stream.write_all(&busy.encode());
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let repo = Arc::clone(&repo);
        let active_here = Arc::clone(&active);
        let timeout = opts.timeout;
        let spawned = thread::Builder::new()
            .name(format!("weft-sync {peer}"))
            .spawn(move || {
                serve_client(&repo, stream, peer, timeout);
                active_here.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            active.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!("cannot start a thread for {peer}: {e}");
        }
    }
}
