//! The secure channel of `tcp://`: a Noise handshake that authenticates both sides by their
//! weft author keys, then the sync byte stream inside Noise transport messages.
//!
//! # Handshake
//! Pattern `Noise_XX_25519_ChaChaPoly_BLAKE2s` ([`PATTERN`]), prologue [`PROLOGUE`]. The Noise
//! static X25519 key is fresh for every connection; it is bound to the weft identity the way
//! libp2p does it: each side's handshake payload is its ed25519 author key and an ed25519
//! signature over [`IDENTITY_DOMAIN`] followed by its own 32-byte Noise static public key. Each
//! side checks that signature against the remote static key the handshake itself authenticated,
//! so a payload replayed from another session, or relayed by a man in the middle with its own
//! static key, fails. The check is weft's one signature rule ([`Author::verify`]): ZIP-215, and
//! a key of small order or not canonically encoded is refused whatever it signed (under ZIP-215
//! anyone can sign for a key of small order).
//!
//! ```text
//! message  = length:u16be bytes                      (the length of what follows)
//! 1. I -> R   e                                      32 bytes, empty payload
//! 2. R -> I   e, ee, s, es + payload                 192 bytes: 32 + (32+16) + (96+16)
//! 3. I -> R   s, se + payload                        160 bytes: (32+16) + (96+16)
//! payload  = author:32 (ed25519 public key) ++ sig:64
//! sig      = ed25519(author's secret, "weft noise static v1\n" ++ sender's Noise static key)
//! ```
//!
//! Any other length is rejected before any cryptography (a peer that does not speak this is
//! [`Error::Malformed`]); a message that does not decrypt or a signature that does not verify is
//! [`Error::Handshake`]. The initiator checks the responder's key against the one it expects
//! *before* it sends message 3, so a wrong server never learns who the client is
//! ([`Error::WrongPeerKey`]).
//!
//! A server too busy to run the handshake may instead send one plaintext sync ERROR frame
//! (`length:u32be ++ 0x07 ++ text`, whose first two bytes are zero, which no handshake message
//! length is); the client reports its text, unauthenticated, as [`Error::Unreachable`].
//!
//! # Transport
//! After the handshake each direction is a sequence of `length:u16be ++ ciphertext` messages,
//! `16 <= length <= 65535`, each a ChaCha20-Poly1305 encryption (nonce: 0, 1, 2, ... per
//! direction) of up to [`MAX_PLAINTEXT`] bytes of the sync byte stream (its frames are cut
//! anywhere and reassembled). A message that fails authentication is [`Error::Tampered`]; a
//! stream that ends inside a message is [`Error::Closed`].

use std::{
    fmt,
    io::{self, Read, Write},
    sync::Arc,
};

use snow::{Builder, HandshakeState, StatelessTransportState};
use weft_dag::{identity::SignatureError, Author, Identity};

use weft_sync::{frame::ERROR, link_error, Error};

/// The Noise protocol name.
pub const PATTERN: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";

/// The prologue both sides mix into the handshake: a session of another protocol, or another
/// version of this one, fails.
pub const PROLOGUE: &[u8] = b"weft sync over noise v1";

/// What an identity signature covers, before the signer's Noise static key.
pub const IDENTITY_DOMAIN: &[u8] = b"weft noise static v1\n";

/// The largest Noise message (the Noise limit).
pub const MAX_MESSAGE: usize = 65535;

/// The authentication tag of every encrypted message.
pub const TAG_LEN: usize = 16;

/// The most stream bytes one transport message carries.
pub const MAX_PLAINTEXT: usize = MAX_MESSAGE - TAG_LEN;

/// An identity payload: author key and signature.
const PAYLOAD_LEN: usize = 32 + 64;
const MSG1_LEN: usize = 32;
const MSG2_LEN: usize = 32 + (32 + TAG_LEN) + (PAYLOAD_LEN + TAG_LEN);
const MSG3_LEN: usize = (32 + TAG_LEN) + (PAYLOAD_LEN + TAG_LEN);

pub use weft_sync::Tampered;

/// One side of an established channel: what the peer proved it is, and the two halves.
pub struct Secured<R, W: Write> {
    /// The peer's author key, proved by the handshake.
    pub remote: Author,
    /// The handshake hash (Noise's `h` at the end of the handshake): the same on both sides
    /// of this link and no other, so a signature over it cannot be replayed elsewhere.
    pub transcript: [u8; 32],
    /// Decrypted bytes from the peer.
    pub reader: NoiseReader<R>,
    /// Bytes to the peer, encrypted.
    pub writer: NoiseWriter<W>,
}

impl<R, W: Write> fmt::Debug for Secured<R, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secured")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// What a handshake needs to word its errors.
struct Link<'a> {
    peer: &'a str,
    timeout_secs: u64,
}

impl Link<'_> {
    fn handshake(&self, reason: impl Into<String>) -> Error {
        Error::Handshake {
            peer: self.peer.to_string(),
            reason: reason.into(),
        }
    }

    fn io(&self, e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::Closed {
                during: "during the secure handshake",
            },
            _ => link_error(self.peer, e, self.timeout_secs),
        }
    }

    fn snow(&self, what: &str, e: snow::Error) -> Error {
        self.handshake(format!("{what}: {e}"))
    }

    fn send(&self, w: &mut impl Write, msg: &[u8]) -> Result<(), Error> {
        let mut out = Vec::with_capacity(2 + msg.len());
        out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        out.extend_from_slice(msg);
        w.write_all(&out)
            .and_then(|()| w.flush())
            .map_err(|e| self.io(e))
    }

    /// Reads handshake message `n`, which must be `len` bytes long.
    fn recv(&self, r: &mut impl Read, n: u8, len: usize) -> Result<Vec<u8>, Error> {
        let mut header = [0u8; 2];
        match read_full(r, &mut header) {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::Closed {
                    during: "before the secure handshake",
                })
            }
            Err(e) => return Err(self.io(e)),
        }
        let got = u16::from_be_bytes(header) as usize;
        if got == 0 && n == 2 {
            return Err(self.plaintext_error(r));
        }
        if got != len {
            return Err(Error::Malformed {
                what: "secure handshake",
                reason: format!(
                    "message {n} of {got} bytes, expected {len} (does the peer speak weft over \
                     Noise?)"
                ),
            });
        }
        let mut msg = vec![0u8; len];
        r.read_exact(&mut msg).map_err(|e| self.io(e))?;
        Ok(msg)
    }

    /// Two zero bytes where message 2 should start: a server that answered with a plaintext
    /// sync ERROR frame (too busy, say) instead of a handshake.
    fn plaintext_error(&self, r: &mut impl Read) -> Error {
        let not_weft = Error::Malformed {
            what: "secure handshake",
            reason: "a message of 0 bytes".into(),
        };
        let mut header = [0u8; 3];
        if r.read_exact(&mut header).is_err() || header[2] != ERROR {
            return not_weft;
        }
        let len = u16::from_be_bytes([header[0], header[1]]) as usize;
        let mut text = vec![0u8; len.saturating_sub(1).min(4096)];
        if r.read_exact(&mut text).is_err() {
            return not_weft;
        }
        Error::Unreachable {
            peer: self.peer.to_string(),
            reason: format!(
                "the server says (unauthenticated): {}",
                String::from_utf8_lossy(&text)
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(500)
                    .collect::<String>()
            ),
        }
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on a clean end of stream before the first.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn builder() -> Builder<'static> {
    match PATTERN.parse() {
        Ok(params) => Builder::new(params),
        Err(e) => unreachable!("{PATTERN} is a valid Noise protocol name: {e}"),
    }
}

/// A fresh Noise state with a fresh static key, and that key's public half.
fn start(link: &Link<'_>, initiator: bool) -> Result<(HandshakeState, Vec<u8>), Error> {
    let b = builder();
    let keys = b
        .generate_keypair()
        .map_err(|e| link.snow("cannot make a key", e))?;
    let b = b
        .local_private_key(&keys.private)
        .and_then(|b| b.prologue(PROLOGUE))
        .map_err(|e| link.snow("cannot set up", e))?;
    let hs = if initiator {
        b.build_initiator()
    } else {
        b.build_responder()
    }
    .map_err(|e| link.snow("cannot set up", e))?;
    Ok((hs, keys.public))
}

/// The payload proving that `identity` owns the Noise static key `static_public`.
fn identity_payload(identity: &Identity, static_public: &[u8]) -> Vec<u8> {
    let mut signed = IDENTITY_DOMAIN.to_vec();
    signed.extend_from_slice(static_public);
    let mut p = identity.author().as_bytes().to_vec();
    p.extend_from_slice(&identity.sign(&signed));
    p
}

/// Checks the peer's identity payload against the static key the handshake authenticated.
fn verify_payload(link: &Link<'_>, payload: &[u8], hs: &HandshakeState) -> Result<Author, Error> {
    let remote_static = hs
        .get_remote_static()
        .ok_or_else(|| link.handshake("the peer sent no static key"))?;
    let (Some(key), Some(sig)) = (payload.get(..32), payload.get(32..PAYLOAD_LEN)) else {
        return Err(link.handshake("an identity payload of the wrong size"));
    };
    if payload.len() != PAYLOAD_LEN {
        return Err(link.handshake("an identity payload of the wrong size"));
    }
    let mut author = [0u8; 32];
    author.copy_from_slice(key);
    let author = Author(author);
    let mut sig_bytes = [0u8; 64];
    sig_bytes.copy_from_slice(sig);
    let mut signed = IDENTITY_DOMAIN.to_vec();
    signed.extend_from_slice(remote_static);
    // weft's one signature rule: the key rule (no small-order or non-canonical key), then
    // ZIP-215, as for changes.
    author.verify(&signed, &sig_bytes).map_err(|e| match e {
        SignatureError::UnusableKey => link.handshake(format!(
            "key {author} is not a usable ed25519 key (small order, or not canonically \
                 encoded)"
        )),
        _ => link.handshake(format!(
            "key {author} did not sign the key this handshake authenticated"
        )),
    })?;
    Ok(author)
}

fn secured<R, W: Write>(
    link: &Link<'_>,
    hs: HandshakeState,
    remote: Author,
    reader: R,
    writer: W,
) -> Result<Secured<R, W>, Error> {
    let mut transcript = [0u8; 32];
    let hash = hs.get_handshake_hash();
    if hash.len() != 32 {
        return Err(link.handshake("a handshake hash that is not 32 bytes"));
    }
    transcript.copy_from_slice(hash);
    let state = Arc::new(
        hs.into_stateless_transport_mode()
            .map_err(|e| link.snow("cannot finish", e))?,
    );
    Ok(Secured {
        remote,
        transcript,
        reader: NoiseReader {
            inner: reader,
            state: Arc::clone(&state),
            nonce: 0,
            cipher: Vec::new(),
            plain: Vec::new(),
            pos: 0,
        },
        writer: NoiseWriter {
            inner: writer,
            state,
            nonce: 0,
            plain: Vec::new(),
            out: Vec::new(),
        },
    })
}

/// Runs the handshake as the client (the side that connected). `expected`: the key the server
/// must prove it holds, checked before the client reveals its own. `peer` names the server in
/// errors (and `WrongPeerKey` names it as `addr`); the reader's timeout (the caller sets it) is
/// worded as `timeout_secs`.
pub fn initiate<R: Read, W: Write>(
    mut reader: R,
    mut writer: W,
    identity: &Identity,
    expected: Option<&Author>,
    peer: &str,
    timeout_secs: u64,
) -> Result<Secured<R, W>, Error> {
    let link = Link { peer, timeout_secs };
    let (mut hs, static_public) = start(&link, true)?;
    let mut buf = [0u8; 256];

    let n = hs
        .write_message(&[], &mut buf)
        .map_err(|e| link.snow("message 1", e))?;
    link.send(&mut writer, &buf[..n])?;

    let msg = link.recv(&mut reader, 2, MSG2_LEN)?;
    let mut payload = [0u8; 256];
    let n = hs
        .read_message(&msg, &mut payload)
        .map_err(|e| link.snow("message 2 does not decrypt", e))?;
    let remote = verify_payload(&link, &payload[..n], &hs)?;
    if let Some(expected) = expected {
        if *expected != remote {
            return Err(Error::WrongPeerKey {
                addr: peer.to_string(),
                expected: *expected,
                presented: remote,
            });
        }
    }

    let n = hs
        .write_message(&identity_payload(identity, &static_public), &mut buf)
        .map_err(|e| link.snow("message 3", e))?;
    link.send(&mut writer, &buf[..n])?;
    secured(&link, hs, remote, reader, writer)
}

/// Runs the handshake as the server (the side that accepted).
pub fn respond<R: Read, W: Write>(
    mut reader: R,
    mut writer: W,
    identity: &Identity,
    peer: &str,
    timeout_secs: u64,
) -> Result<Secured<R, W>, Error> {
    let link = Link { peer, timeout_secs };
    let (mut hs, static_public) = start(&link, false)?;
    let mut buf = [0u8; 256];
    let mut payload = [0u8; 256];

    let msg = link.recv(&mut reader, 1, MSG1_LEN)?;
    let n = hs
        .read_message(&msg, &mut payload)
        .map_err(|e| link.snow("message 1", e))?;
    if n != 0 {
        return Err(link.handshake("message 1 carries a payload"));
    }

    let n = hs
        .write_message(&identity_payload(identity, &static_public), &mut buf)
        .map_err(|e| link.snow("message 2", e))?;
    link.send(&mut writer, &buf[..n])?;

    let msg = link.recv(&mut reader, 3, MSG3_LEN)?;
    let n = hs
        .read_message(&msg, &mut payload)
        .map_err(|e| link.snow("message 3 does not decrypt", e))?;
    let remote = verify_payload(&link, &payload[..n], &hs)?;
    secured(&link, hs, remote, reader, writer)
}

fn tampered() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Tampered)
}

/// The receiving half of a channel: a `Read` of the peer's decrypted byte stream.
pub struct NoiseReader<R> {
    inner: R,
    state: Arc<StatelessTransportState>,
    nonce: u64,
    cipher: Vec<u8>,
    plain: Vec<u8>,
    pos: usize,
}

impl<R> fmt::Debug for NoiseReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoiseReader")
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl<R: Read> NoiseReader<R> {
    /// Reads and decrypts the next message; `Ok(false)` at a clean end of stream.
    fn next_message(&mut self) -> io::Result<bool> {
        let mut header = [0u8; 2];
        if !read_full(&mut self.inner, &mut header)? {
            return Ok(false);
        }
        let len = u16::from_be_bytes(header) as usize;
        if len < TAG_LEN {
            return Err(tampered());
        }
        self.cipher.resize(len, 0);
        self.inner.read_exact(&mut self.cipher)?;
        self.plain.resize(len - TAG_LEN, 0);
        let n = self
            .state
            .read_message(self.nonce, &self.cipher, &mut self.plain)
            .map_err(|_| tampered())?;
        self.nonce += 1;
        self.plain.truncate(n);
        self.pos = 0;
        Ok(true)
    }
}

impl<R: Read> Read for NoiseReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        // An empty message carries no bytes, not the end of the stream.
        while self.pos == self.plain.len() {
            if !self.next_message()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.plain.len() - self.pos);
        out[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The sending half of a channel: bytes written are sent in messages of up to
/// [`MAX_PLAINTEXT`] bytes, when that much is buffered and on `flush`.
pub struct NoiseWriter<W: Write> {
    inner: W,
    state: Arc<StatelessTransportState>,
    nonce: u64,
    plain: Vec<u8>,
    out: Vec<u8>,
}

impl<W: Write> fmt::Debug for NoiseWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoiseWriter")
            .field("nonce", &self.nonce)
            .field("buffered", &self.plain.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write> NoiseWriter<W> {
    /// Encrypts and sends what is buffered as one message.
    fn seal(&mut self) -> io::Result<()> {
        self.out.resize(2 + self.plain.len() + TAG_LEN, 0);
        let n = self
            .state
            .write_message(self.nonce, &self.plain, &mut self.out[2..])
            .map_err(io::Error::other)?;
        self.nonce += 1;
        self.plain.clear();
        self.out[..2].copy_from_slice(&(n as u16).to_be_bytes());
        self.inner.write_all(&self.out[..2 + n])
    }
}

impl<W: Write> Write for NoiseWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.plain.len() == MAX_PLAINTEXT {
            self.seal()?;
        }
        let n = buf.len().min(MAX_PLAINTEXT - self.plain.len());
        self.plain.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.plain.is_empty() {
            self.seal()?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for NoiseWriter<W> {
    fn drop(&mut self) {
        // As `BufWriter` does: what was written goes out (best effort).
        if !self.plain.is_empty() {
            let _ = self.seal();
        }
    }
}
