//! The driver: runs an [`Endpoint`] over any byte stream, and how the failures of a link read
//! as sync errors. A transport (`weft-net`'s, or an app's own) opens the link; this module only
//! reads and writes it.

use std::io::{self, BufReader, BufWriter, Read, Write};

use crate::{
    frame::{read_frame, FrameSize, MAX_FRAME},
    session::Endpoint,
    Error,
};

/// The marker inside the `InvalidData` io error of a message of a secure link that fails
/// authentication (`weft-net`'s Noise channel wraps it so); [`link_error`] reads it as
/// [`Error::Tampered`].
#[derive(Debug, thiserror::Error)]
#[error("a Noise transport message failed authentication")]
pub struct Tampered;

/// The marker inside the `TimedOut` io error of a write that the peer did not take for the
/// whole silence timeout (it stopped reading; `weft-net`'s writers wrap it so); [`link_error`]
/// reads it as [`Error::WriteTimeout`].
#[derive(Debug, thiserror::Error)]
#[error("the peer stopped reading")]
pub struct Stalled;

/// Maps an IO failure on the link to `peer` to a sync error: a timeout, a link closed inside a
/// frame, a frame length out of range, a message that fails authentication ([`Tampered`]), or
/// any other IO failure. `timeout_secs` words a timeout.
pub fn link_error(peer: &str, e: io::Error, timeout_secs: u64) -> Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            if e.get_ref()
                .is_some_and(|i| i.downcast_ref::<Stalled>().is_some()) =>
        {
            Error::WriteTimeout { secs: timeout_secs }
        }
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            Error::Timeout { secs: timeout_secs }
        }
        io::ErrorKind::UnexpectedEof => Error::Closed {
            during: "in the middle of a frame",
        },
        io::ErrorKind::InvalidData => match e.get_ref().and_then(|i| i.downcast_ref::<FrameSize>())
        {
            Some(f) if f.len == 0 => Error::Malformed {
                what: "frame",
                reason: "a frame of length 0".into(),
            },
            Some(f) => Error::FrameTooLarge {
                len: f.len,
                max: MAX_FRAME as u64,
            },
            None if e
                .get_ref()
                .is_some_and(|i| i.downcast_ref::<Tampered>().is_some()) =>
            {
                Error::Tampered {
                    peer: peer.to_string(),
                }
            }
            None => Error::Io {
                peer: peer.to_string(),
                source: e,
            },
        },
        _ => Error::Io {
            peer: peer.to_string(),
            source: e,
        },
    }
}

/// Runs `endpoint` over `reader`/`writer` until its session is over. `peer` names the other
/// side in errors; `timeout_secs` is only used to word a timeout (the transport sets it).
///
/// On failure the endpoint keeps every change it verified, tells the peer why in an ERROR frame
/// (best effort), and the error is returned.
pub fn run(
    endpoint: &mut dyn Endpoint,
    reader: impl Read,
    writer: impl Write,
    peer: &str,
    timeout_secs: u64,
    progress: &mut dyn FnMut(&dyn Endpoint),
) -> Result<(), Error> {
    let mut reader = BufReader::with_capacity(256 << 10, reader);
    let mut writer = BufWriter::with_capacity(256 << 10, writer);
    let result = (|| {
        let mut buf = Vec::new();
        let mut n = 0u64;
        let mut reported = 0u64;
        loop {
            while let Some(frame) = endpoint.poll_transmit()? {
                writer
                    .write_all(&frame)
                    .map_err(|e| link_error(peer, e, timeout_secs))?;
            }
            writer
                .flush()
                .map_err(|e| link_error(peer, e, timeout_secs))?;
            if endpoint.is_done() {
                return Ok(());
            }
            match read_frame(&mut reader, &mut buf) {
                Ok(true) => endpoint.handle(&buf)?,
                Ok(false) => return endpoint.handle_eof(),
                Err(e) => return Err(link_error(peer, e, timeout_secs)),
            }
            // Every 256 frames, or 256 changes (a ZBLOCKS frame carries hundreds).
            n += 1;
            let changes = endpoint.stats().changes_in;
            if n.is_multiple_of(256) || changes >= reported + 256 {
                reported = changes;
                progress(endpoint);
            }
        }
    })();
    if let Err(e) = &result {
        endpoint.abort();
        // Nothing to tell a peer that is gone, or that already said why it ends the session.
        if !matches!(
            e,
            Error::Io { .. }
                | Error::Closed { .. }
                | Error::Peer(_)
                | Error::Refused { .. }
                | Error::WriteTimeout { .. }
        ) {
            let msg = crate::frame::Frame::Error(e.to_string()).encode();
            let _ = writer.write_all(&msg).and_then(|()| writer.flush());
        }
    }
    progress(endpoint);
    result
}
