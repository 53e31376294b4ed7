//! The compressed block stream of protocol version 2: the change blocks one side sends in a
//! session go through one zstd stream, cut into ZBLOCKS frames (see [`crate::frame`] for the
//! bytes).
//!
//! Most of a change repeats the change before it (the author key, the document id, the field
//! names, the key strings) or an older one (an op id in `pred` names a change whose CID came
//! earlier as a parent). Compressing each block alone finds none of that; one stream per
//! direction, whose window reaches back across blocks and turns, finds all of it within the
//! window. A clone of single-op changes sends about a third of the bytes of version 1.
//!
//! [`Encoder`] is the sending half: each block goes in as a record (`length:u32be ++ block`);
//! [`Encoder::frame`] flushes the stream, so that everything pushed so far can be decoded from
//! what was sent, and returns the ZBLOCKS frame. A session asks for a frame once
//! [`CHUNK`] bytes are pending and at the end of each turn, before END.
//!
//! [`Decoder`] is the receiving half. Its memory is bounded whatever the peer sends: the zstd
//! window at most 2^[`MAX_WINDOW_LOG`] bytes (a stream that asks for more is refused), one
//! frame inflates to at most the size it declares, and that at most [`MAX_INFLATED`] bytes (a
//! decompression bomb ends the session with [`Error::Inflate`] once it inflates one byte past
//! that), and a block is handed on as soon as it is whole.

use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, DParameter, InBuffer, OutBuffer};

use crate::{frame::ZBLOCKS, Error};

/// The zstd level the sender uses. Measured on clones of single-op changes (see
/// docs/sync.md): level 2 made the smallest stream of levels 1 to 6 and is
/// among the fastest (about 350 MB/s here); higher levels gain at most 2 % for many times the
/// time and memory.
pub const LEVEL: i32 = 2;

/// log2 of the sender's window (2 MiB): a change can refer back to about 6,000 changes of a few
/// hundred bytes, enough to reach the earlier write of the same key in a document with a few
/// thousand keys in turn. The receiver needs a buffer of this size per session.
pub const WINDOW_LOG: u32 = 21;

/// log2 of the largest window a receiver accepts (8 MiB): its memory bound per session. A
/// stream that asks for more fails to decode.
pub const MAX_WINDOW_LOG: u32 = 23;

/// Inflated bytes after which the sender closes a ZBLOCKS frame (and flushes the stream), so
/// that blocks reach the receiver's import while the rest is being compressed.
pub const CHUNK: usize = 256 << 10;

pub use crate::frame::MAX_INFLATED;

/// Bytes in front of the compressed data in an encoded ZBLOCKS frame: the frame length, the
/// tag and the inflated size.
const HEADER: usize = 4 + 1 + 4;

fn zstd_error(code: zstd_safe::ErrorCode) -> String {
    zstd_safe::get_error_name(code).to_string()
}

fn compression(code: zstd_safe::ErrorCode) -> Error {
    Error::Compression {
        reason: zstd_error(code),
    }
}

fn malformed(reason: String) -> Error {
    Error::Malformed {
        what: "ZBLOCKS frame",
        reason,
    }
}

/// Room made in the output for each call to zstd. zstd keeps what does not fit for the next
/// call, so a little is enough: a frame of a few blocks (most of them, in the lab) does not
/// take a buffer of zstd's block size (128 KiB), and a large one grows as a `Vec` does.
const OUT_STEP: usize = 4 << 10;

/// Makes room for at least `n` more bytes.
fn room(buf: &mut Vec<u8>, n: usize) {
    if buf.capacity() - buf.len() < n {
        buf.reserve(n);
    }
}

/// The sending half of a session's compressed block stream.
pub struct Encoder {
    cctx: CCtx<'static>,
    /// The frame being built: [`HEADER`] bytes to fill in, then the compressed data so far.
    out: Vec<u8>,
    /// Inflated bytes pushed into the current frame.
    pending: usize,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("pending", &self.pending)
            .field("compressed", &(self.out.len() - HEADER))
            .finish()
    }
}

impl Encoder {
    /// A new stream ([`LEVEL`], a window of 2^[`WINDOW_LOG`] bytes, no checksum: the link
    /// carries its own integrity where it needs one, and every block is hash-checked anyway).
    pub fn new() -> Result<Encoder, Error> {
        let mut cctx = CCtx::try_create().ok_or_else(|| Error::Compression {
            reason: "cannot allocate a zstd context".into(),
        })?;
        for p in [
            CParameter::CompressionLevel(LEVEL),
            CParameter::WindowLog(WINDOW_LOG),
            CParameter::ChecksumFlag(false),
            CParameter::ContentSizeFlag(false),
            CParameter::DictIdFlag(false),
        ] {
            cctx.set_parameter(p).map_err(compression)?;
        }
        Ok(Encoder {
            cctx,
            out: vec![0; HEADER],
            pending: 0,
        })
    }

    /// Inflated bytes pushed since the last frame.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Adds one block (as `length:u32be ++ block`) to the stream.
    pub fn push(&mut self, block: &[u8]) -> Result<(), Error> {
        let len = u32::try_from(block.len()).map_err(|_| Error::Compression {
            reason: format!("a block of {} bytes", block.len()),
        })?;
        self.feed(&len.to_be_bytes())?;
        self.feed(block)?;
        self.pending += 4 + block.len();
        Ok(())
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), Error> {
        let mut input = InBuffer::around(data);
        while input.pos() < data.len() {
            room(&mut self.out, OUT_STEP);
            let pos = self.out.len();
            let mut out = OutBuffer::around_pos(&mut self.out, pos);
            self.cctx
                .compress_stream(&mut out, &mut input)
                .map_err(compression)?;
        }
        Ok(())
    }

    /// Flushes the stream and returns the ZBLOCKS frame (length header included) that carries
    /// every block pushed since the last one. Nothing was pushed: `None`.
    pub fn frame(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if self.pending == 0 {
            return Ok(None);
        }
        loop {
            room(&mut self.out, OUT_STEP);
            let pos = self.out.len();
            let mut out = OutBuffer::around_pos(&mut self.out, pos);
            if self.cctx.flush_stream(&mut out).map_err(compression)? == 0 {
                break;
            }
        }
        let mut frame = std::mem::replace(&mut self.out, vec![0; HEADER]);
        let size = std::mem::take(&mut self.pending);
        let (len, size) = match (u32::try_from(frame.len() - 4), u32::try_from(size)) {
            (Ok(len), Ok(size)) => (len, size),
            _ => {
                return Err(Error::Compression {
                    reason: format!("a frame of {size} bytes"),
                })
            }
        };
        frame[..4].copy_from_slice(&len.to_be_bytes());
        frame[4] = ZBLOCKS;
        frame[5..HEADER].copy_from_slice(&size.to_be_bytes());
        Ok(Some(frame))
    }
}

/// The receiving half of a session's compressed block stream.
pub struct Decoder {
    dctx: DCtx<'static>,
    /// Inflated bytes, a slice at a time.
    buf: Vec<u8>,
    /// The length header of the record being read, as far as it came.
    header: [u8; 4],
    header_len: usize,
    /// The block being read (once its length is known) and its length.
    block: Vec<u8>,
    block_len: Option<usize>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("block_len", &self.block_len)
            .finish()
    }
}

/// Inflated bytes taken from zstd per call.
const SLICE: usize = 64 << 10;

impl Decoder {
    /// A new stream, refusing windows over 2^[`MAX_WINDOW_LOG`] bytes.
    pub fn new() -> Result<Decoder, Error> {
        let mut dctx = DCtx::try_create().ok_or_else(|| Error::Compression {
            reason: "cannot allocate a zstd context".into(),
        })?;
        dctx.set_parameter(DParameter::WindowLogMax(MAX_WINDOW_LOG))
            .map_err(compression)?;
        Ok(Decoder {
            dctx,
            buf: vec![0; SLICE],
            header: [0; 4],
            header_len: 0,
            block: Vec::new(),
            block_len: None,
        })
    }

    /// Inflates the payload of one ZBLOCKS frame (`size` and the compressed bytes after it)
    /// and hands each block to `on_block` as soon as it is whole. The payload must inflate to
    /// exactly `size` bytes of whole records; anything else is an error, and `on_block` has
    /// seen only the blocks before the fault.
    pub fn decode(
        &mut self,
        size: u32,
        data: &[u8],
        on_block: &mut dyn FnMut(Vec<u8>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let size = size as usize;
        if size > MAX_INFLATED {
            return Err(Error::Inflate {
                max: MAX_INFLATED as u64,
            });
        }
        let mut input = InBuffer::around(data);
        let mut inflated = 0usize;
        loop {
            // One byte past what is declared is enough to know the peer lied.
            let want = SLICE.min(size - inflated + 1);
            let before = input.pos();
            let mut out = OutBuffer::around(&mut self.buf[..want]);
            self.dctx
                .decompress_stream(&mut out, &mut input)
                .map_err(|c| malformed(format!("zstd: {}", zstd_error(c))))?;
            let n = out.pos();
            inflated += n;
            if inflated > size {
                return Err(Error::Inflate { max: size as u64 });
            }
            self.records(n, size - inflated, on_block)?;
            let consumed = input.pos() == data.len();
            if (consumed && n < want) || (n == 0 && input.pos() == before) {
                break;
            }
        }
        if inflated < size {
            return Err(malformed(format!(
                "it inflates to {inflated} bytes, not the {size} it declares (a truncated stream)"
            )));
        }
        if input.pos() < data.len() {
            return Err(malformed(format!(
                "{} bytes after the end of the stream",
                data.len() - input.pos()
            )));
        }
        if self.header_len > 0 || self.block_len.is_some() {
            return Err(malformed("it ends inside a block".into()));
        }
        Ok(())
    }

    /// Splits `self.buf[..n]` into records; `left` is what the frame has yet to inflate after
    /// these bytes, which bounds the length a record may announce.
    fn records(
        &mut self,
        n: usize,
        left: usize,
        on_block: &mut dyn FnMut(Vec<u8>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut at = 0;
        while at < n {
            match self.block_len {
                None => {
                    let k = (4 - self.header_len).min(n - at);
                    self.header[self.header_len..self.header_len + k]
                        .copy_from_slice(&self.buf[at..at + k]);
                    self.header_len += k;
                    at += k;
                    if self.header_len == 4 {
                        self.header_len = 0;
                        let len = u32::from_be_bytes(self.header) as usize;
                        // The rest of this slice and of the frame is all the block can be.
                        if len == 0 || len > (n - at) + left {
                            return Err(malformed(format!(
                                "a block of {len} bytes where {} are left",
                                (n - at) + left
                            )));
                        }
                        self.block = Vec::with_capacity(len);
                        self.block_len = Some(len);
                    }
                }
                Some(len) => {
                    let k = (len - self.block.len()).min(n - at);
                    self.block.extend_from_slice(&self.buf[at..at + k]);
                    at += k;
                    if self.block.len() == len {
                        self.block_len = None;
                        on_block(std::mem::take(&mut self.block))?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Blocks through an encoder, one frame per group: `(size, zstd bytes)` per frame.
    fn frames(groups: &[Vec<Vec<u8>>]) -> Vec<(u32, Vec<u8>)> {
        let mut e = Encoder::new().unwrap();
        groups
            .iter()
            .filter_map(|blocks| {
                for b in blocks {
                    e.push(b).unwrap();
                }
                let f = e.frame().unwrap()?;
                let size = u32::from_be_bytes([f[5], f[6], f[7], f[8]]);
                Some((size, f[HEADER..].to_vec()))
            })
            .collect()
    }

    fn block() -> impl Strategy<Value = Vec<u8>> {
        // Short, repetitive blocks (so that the stream has matches to damage) and a few long.
        prop_oneof![
            prop::collection::vec(prop::sample::select(b"weft ".to_vec()), 1..200),
            prop::collection::vec(any::<u8>(), 1..3000),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever a sender pushes, frame by frame, comes out the same, in order.
        #[test]
        fn blocks_round_trip(groups in prop::collection::vec(prop::collection::vec(block(), 1..20), 1..5)) {
            let mut d = Decoder::new().unwrap();
            let mut got = Vec::new();
            for (size, data) in frames(&groups) {
                d.decode(size, &data, &mut |b| { got.push(b); Ok(()) }).unwrap();
            }
            prop_assert_eq!(got, groups.concat());
        }

        /// A damaged stream (a byte changed, the data cut, a size changed) never panics; what
        /// comes out are non-empty blocks that fit the declared size, and a frame that decodes
        /// fills it exactly.
        #[test]
        fn damaged_streams_fail_cleanly(
            groups in prop::collection::vec(prop::collection::vec(block(), 1..10), 1..4),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
            delta in -3i64..3,
            which in 0u8..3,
        ) {
            let mut frames = frames(&groups);
            let last = frames.len() - 1;
            let (size, data) = &mut frames[last];
            match which {
                0 => { let i = at.index(data.len()); data[i] ^= byte.max(1); }
                1 => { let n = cut.index(data.len()); data.truncate(n); }
                _ => *size = (i64::from(*size) + delta).clamp(1, MAX_INFLATED as i64) as u32,
            }
            let mut d = Decoder::new().unwrap();
            for (k, (size, data)) in frames.iter().enumerate() {
                let mut filled = 0u64;
                let result = d.decode(*size, data, &mut |b| {
                    assert!(!b.is_empty());
                    filled += 4 + b.len() as u64;
                    assert!(filled <= u64::from(*size));
                    Ok(())
                });
                match result {
                    Ok(()) => prop_assert_eq!(filled, u64::from(*size)),
                    Err(e) => {
                        prop_assert_eq!(k, last, "an undamaged frame failed: {:?}", e);
                        prop_assert!(
                            matches!(e, Error::Malformed { .. } | Error::Inflate { .. }),
                            "{:?}", e
                        );
                    }
                }
            }
        }
    }
}
