//! Frames: the unit of the wire format, and the messages they carry.
//!
//! ```text
//! frame   = length:u32be body            (1 <= length <= MAX_FRAME)
//! body    = tag:u8 payload
//! tag     = 0x01 HELLO   payload: DAG-CBOR Hello
//!         | 0x02 REQUEST payload: DAG-CBOR Request   (initiator -> responder)
//!         | 0x03 REPLY   payload: DAG-CBOR Reply     (responder -> initiator)
//!         | 0x04 BLOCK   payload: the raw bytes of one change block             (version 1)
//!         | 0x05 END     payload: empty; ends a turn (a REQUEST or REPLY and its blocks)
//!         | 0x06 DONE    payload: empty; the initiator ends the session
//!         | 0x07 ERROR   payload: UTF-8 text; the sender gives up and closes
//!         | 0x08 ZBLOCKS payload: size:u32be zstd; change blocks, compressed   (version 2 on)
//!         | 0x09 REFUSE  payload: DAG-CBOR Refusal; the responder refuses the key (version 3 on)
//!         | 0x0a JOIN    payload: DAG-CBOR Join; redeems an invite, before HELLO (see crate::invite)
//!         | 0x0b JOINED  payload: DAG-CBOR Joined; the responder granted what the invite offers
//! ```
//!
//! A turn is `REQUEST (BLOCK* | ZBLOCKS*) END` from the initiator and `REPLY (BLOCK* | ZBLOCKS*)
//! END` from the responder: BLOCK frames in a session of protocol version 1, ZBLOCKS frames in
//! one of version 2 or 3 (the highest version both HELLOs list); the other kind is a protocol
//! violation. A REPLY's `n_blocks` counts blocks, whichever frames carry them.
//!
//! A REFUSE is a refusal: the responder does not serve this peer's key (nothing readable, or a
//! push where it may not write), and says why in a typed [`Refusal`] (the payload's layout is in
//! [`crate::refusal`]). The initiator reports it as [`Error::Refused`], not as a protocol
//! failure. A responder sends it in place of its HELLO (after reading the initiator's, which
//! says which versions the peer reads) or in place of a REPLY. To a peer of version 1 or 2,
//! which has no REFUSE, it sends an ERROR whose text is the refusal's words, starting with
//! [`REFUSED`] (`"access refused: "`); an initiator takes such an ERROR, from a responder that
//! has not shown it speaks version 3, as a refusal in words.
//!
//! A BLOCK carries no CID: the receiver computes it from the bytes, so a block cannot arrive
//! under a wrong name, and the wire spends 5 bytes per change on framing instead of 41. Nor do
//! the records of a ZBLOCKS frame.
//!
//! # ZBLOCKS (protocol version 2)
//!
//! ```text
//! payload  = size:u32be zstd             (1 <= size <= MAX_FRAME)
//! zstd     = the next bytes of the sender's zstd stream (RFC 8878) for this session and this
//!            direction, up to a flush: with every earlier ZBLOCKS frame of the direction, they
//!            inflate to everything sent so far
//! inflated = record+                     (exactly `size` bytes: the frame ends on a record)
//! record   = length:u32be block          (1 <= length; the block's raw bytes, as in BLOCK)
//! ```
//!
//! The stream is one zstd frame that the sender's first ZBLOCKS frame of the session starts
//! (magic `28 b5 2f fd`) and that is never ended: a frame header without content size, checksum
//! or dictionary, then zstd blocks; each flush ends a zstd block, so every ZBLOCKS frame ends on
//! a zstd block boundary and later blocks may refer to anything within the window before them,
//! in this frame or an earlier one. This build sends a window of 2 MiB (window descriptor `58`)
//! at level 2, closes a ZBLOCKS frame once 256 KiB of records are in it, and flushes the rest
//! before END. A receiver accepts any valid stream within its bounds (raw, RLE or compressed
//! blocks, further zstd frames, skippable frames), windows up to 8 MiB
//! ([`crate::zblocks::MAX_WINDOW_LOG`]); a frame that does not inflate to exactly `size`
//! bytes of whole records is an error: more is a decompression bomb ([`Error::Inflate`]), less,
//! a length that does not fit what is left, or bytes that are not zstd are
//! [`Error::Malformed`]. `frame::tests::zblocks_frames_golden_stream` walks through the bytes of
//! a first and a second frame.

use std::io::{self, Read};

use serde::{Deserialize, Serialize};
use weft_store::Cid;

use crate::{
    bloom::Bloom,
    invite::{Join, Joined},
    refusal::Refusal,
    Error,
};

pub use crate::refusal::REFUSED;

/// The largest frame body accepted: a 1 MiB block or a message listing every head, CID and Bloom
/// filter of a large repo fits with room to spare.
pub const MAX_FRAME: usize = 8 << 20;

/// The most one ZBLOCKS frame may inflate to (see [`crate::zblocks`]): the limit of any frame
/// body.
pub const MAX_INFLATED: usize = MAX_FRAME;

/// The largest number of entries a list in a message may have.
pub const MAX_LIST: usize = 100_000;

/// The tag of a HELLO frame.
pub const HELLO: u8 = 0x01;
/// The tag of a REQUEST frame.
pub const REQUEST: u8 = 0x02;
/// The tag of a REPLY frame.
pub const REPLY: u8 = 0x03;
/// The tag of a BLOCK frame (version 1).
pub const BLOCK: u8 = 0x04;
/// The tag of an END frame.
pub const END: u8 = 0x05;
/// The tag of a DONE frame.
pub const DONE: u8 = 0x06;
/// The tag of an ERROR frame.
pub const ERROR: u8 = 0x07;
/// The tag of a ZBLOCKS frame (version 2 on).
pub const ZBLOCKS: u8 = 0x08;
/// The tag of a REFUSE frame (version 3 on).
pub const REFUSE: u8 = 0x09;
/// The tag of a JOIN frame (see [`crate::invite`]).
pub const JOIN: u8 = 0x0a;
/// The tag of a JOINED frame (see [`crate::invite`]).
pub const JOINED: u8 = 0x0b;

/// The first message of each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol versions spoken, ascending.
    pub versions: Vec<u32>,
    /// The sender's replica id (random, 16 bytes), the key of the per-peer sync state.
    #[serde(with = "serde_bytes")]
    pub replica: Vec<u8>,
    /// The responder's documents with their names and heads (absent from the initiator's).
    pub docs: Option<Vec<DocAd>>,
    /// Documents removed on the responder (`weft doc rm`), told only to a peer that may push
    /// every document (a trusted link), so that it leaves them out instead of being refused.
    /// Absent from the wire when `None`; a peer that does not know the field ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Vec<Cid>>,
}

/// One document a responder serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocAd {
    /// The document id.
    pub doc: Cid,
    /// Its local name on the responder.
    pub name: Option<String>,
    /// Its heads.
    pub heads: Vec<Cid>,
}

/// One turn of the initiator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Per document.
    pub docs: Vec<DocReq>,
    /// Changes the initiator needs by CID: parents of changes it received that did not come.
    pub need: Vec<Cid>,
}

/// The initiator's view of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocReq {
    /// The document.
    pub doc: Cid,
    /// The initiator's name for it.
    pub name: Option<String>,
    /// The initiator's heads (empty if it does not have the document).
    pub heads: Vec<Cid>,
    /// The responder's heads that the initiator has.
    pub have: Vec<Cid>,
    /// The heads both sides had at the end of their last sync (from the per-peer state).
    pub base: Vec<Cid>,
    /// Ancestors of the initiator's heads at exponentially spaced heights; the responder says
    /// which it has, which bounds the common history without walking it.
    pub samples: Vec<Cid>,
    /// Whether the initiator wants the responder's changes.
    pub want: bool,
    /// Whether the initiator is sending (or will send) its changes.
    pub push: bool,
    /// A summary of the initiator's changes the responder may lack.
    pub bloom: Option<Bloom>,
}

/// One turn of the responder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Per document of the request, in the same order.
    pub docs: Vec<DocRep>,
    /// How many of the blocks the initiator sent this turn were already here.
    pub redundant: u64,
    /// How many BLOCK frames follow this reply.
    pub n_blocks: u64,
}

/// The responder's view of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocRep {
    /// The document.
    pub doc: Cid,
    /// The responder's heads, after applying what the initiator sent this turn.
    pub heads: Vec<Cid>,
    /// Which of the initiator's heads and samples the responder has.
    pub have: Vec<Cid>,
    /// Whether the responder has every CID of the request's `base`.
    pub base_ok: bool,
    /// A summary of the responder's changes the initiator may lack (sent when the initiator
    /// pushes but the responder does not have all its heads).
    pub bloom: Option<Bloom>,
    /// The responder could not tell what to send without a summary: include one next turn.
    pub want_summary: bool,
    /// How many changes of the document the responder holds, after this turn (absent from
    /// older peers): with the heads, it tells how far behind the initiator is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// A decoded frame body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// See [`Hello`].
    Hello(Hello),
    /// See [`Request`].
    Request(Request),
    /// See [`Reply`].
    Reply(Reply),
    /// One change block.
    Block(Vec<u8>),
    /// End of a turn.
    End,
    /// End of the session.
    Done,
    /// The sender gives up.
    Error(String),
    /// Change blocks through the session's zstd stream (protocol version 2 on); see
    /// [`crate::zblocks`].
    Zblocks {
        /// The number of bytes `data` inflates to: whole records `length:u32be ++ block`.
        size: u32,
        /// The next bytes of the sender's zstd stream, up to a flush.
        data: Vec<u8>,
    },
    /// The responder refuses the peer's key (protocol version 3 on); see [`crate::refusal`].
    Refuse(Refusal),
    /// An invite redeemed, before the session's HELLO (see [`crate::invite`]).
    Join(Join),
    /// The answer to a JOIN that was granted.
    Joined(Joined),
}

fn cbor<T: Serialize>(v: &T) -> Vec<u8> {
    match serde_ipld_dagcbor::to_vec(v) {
        Ok(b) => b,
        // Messages are plain data (CIDs, bytes, strings, integers, booleans).
        Err(e) => unreachable!("a message always encodes: {e}"),
    }
}

fn with_header(tag: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() + 1;
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.push(tag);
    out.extend_from_slice(payload);
    out
}

impl Frame {
    /// Encodes the frame, length header included.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Frame::Hello(m) => with_header(HELLO, &cbor(m)),
            Frame::Request(m) => with_header(REQUEST, &cbor(m)),
            Frame::Reply(m) => with_header(REPLY, &cbor(m)),
            Frame::Block(b) => with_header(BLOCK, b),
            Frame::End => with_header(END, &[]),
            Frame::Done => with_header(DONE, &[]),
            Frame::Error(s) => with_header(ERROR, s.as_bytes()),
            Frame::Zblocks { size, data } => {
                let mut payload = Vec::with_capacity(4 + data.len());
                payload.extend_from_slice(&size.to_be_bytes());
                payload.extend_from_slice(data);
                with_header(ZBLOCKS, &payload)
            }
            Frame::Refuse(r) => with_header(REFUSE, &r.encode()),
            Frame::Join(j) => with_header(JOIN, &j.encode()),
            Frame::Joined(j) => with_header(JOINED, &j.encode()),
        }
    }

    /// Decodes a frame body (without the length header).
    pub fn decode(body: &[u8]) -> Result<Frame, Error> {
        let Some((&tag, payload)) = body.split_first() else {
            return Err(malformed("frame", "empty frame".into()));
        };
        Ok(match tag {
            HELLO => {
                let m: Hello = decode_msg("hello", payload)?;
                if let Some(docs) = &m.docs {
                    check_len("hello", docs.len())?;
                    for d in docs {
                        check_len("hello", d.heads.len())?;
                    }
                }
                Frame::Hello(m)
            }
            REQUEST => {
                let m: Request = decode_msg("request", payload)?;
                check_len("request", m.docs.len())?;
                check_len("request", m.need.len())?;
                for d in &m.docs {
                    for l in [&d.heads, &d.have, &d.base, &d.samples] {
                        check_len("request", l.len())?;
                    }
                    if let Some(b) = &d.bloom {
                        b.check().map_err(|r| malformed("request", r))?;
                    }
                }
                Frame::Request(m)
            }
            REPLY => {
                let m: Reply = decode_msg("reply", payload)?;
                check_len("reply", m.docs.len())?;
                for d in &m.docs {
                    check_len("reply", d.heads.len())?;
                    check_len("reply", d.have.len())?;
                    if let Some(b) = &d.bloom {
                        b.check().map_err(|r| malformed("reply", r))?;
                    }
                }
                Frame::Reply(m)
            }
            BLOCK => Frame::Block(payload.to_vec()),
            END | DONE if !payload.is_empty() => {
                return Err(malformed("frame", "END/DONE frames are empty".into()))
            }
            END => Frame::End,
            DONE => Frame::Done,
            ERROR => Frame::Error(crate::text::printable(
                &String::from_utf8_lossy(payload)
                    .chars()
                    .take(500)
                    .collect::<String>(),
            )),
            ZBLOCKS => {
                let Some((size, data)) = payload.split_first_chunk::<4>() else {
                    return Err(malformed("ZBLOCKS frame", "no inflated size".into()));
                };
                let size = u32::from_be_bytes(*size);
                if size == 0 {
                    return Err(malformed("ZBLOCKS frame", "an inflated size of 0".into()));
                }
                if size as usize > MAX_INFLATED {
                    return Err(Error::Inflate {
                        max: MAX_INFLATED as u64,
                    });
                }
                Frame::Zblocks {
                    size,
                    data: data.to_vec(),
                }
            }
            REFUSE => Frame::Refuse(Refusal::decode(payload).map_err(|r| malformed("refusal", r))?),
            JOIN => Frame::Join(Join::decode(payload).map_err(|e| malformed("join", e.0))?),
            JOINED => Frame::Joined(Joined::decode(payload).map_err(|e| malformed("joined", e.0))?),
            t => return Err(malformed("frame", format!("unknown frame tag 0x{t:02x}"))),
        })
    }
}

fn malformed(what: &'static str, reason: String) -> Error {
    Error::Malformed { what, reason }
}

fn decode_msg<T: for<'de> Deserialize<'de>>(what: &'static str, p: &[u8]) -> Result<T, Error> {
    serde_ipld_dagcbor::from_slice(p).map_err(|e| malformed(what, weft_dag::cbor::describe(&e)))
}

fn check_len(what: &'static str, n: usize) -> Result<(), Error> {
    if n > MAX_LIST {
        return Err(malformed(
            what,
            format!("a list of {n} entries (limit {MAX_LIST})"),
        ));
    }
    Ok(())
}

/// Reads one frame body into `buf`. Returns `Ok(false)` on a clean end of stream before the
/// first byte of a frame.
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> Result<bool, io::Error> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            FrameSize { len: len as u64 },
        ));
    }
    buf.clear();
    buf.resize(len, 0);
    r.read_exact(buf)?;
    Ok(true)
}

/// The error [`read_frame`] wraps in an `InvalidData` io error when the length is out of range.
#[derive(Debug, thiserror::Error)]
#[error("frame length {len} out of range")]
pub struct FrameSize {
    /// The announced length.
    pub len: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zblocks::{Decoder, Encoder};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Every block `data` (a ZBLOCKS payload after its size) carries, through a fresh stream.
    fn inflate(size: u32, data: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let mut blocks = Vec::new();
        Decoder::new()?.decode(size, data, &mut |b| {
            blocks.push(b);
            Ok(())
        })?;
        Ok(blocks)
    }

    /// The envelope: `length:u32be ++ 0x08 ++ size:u32be ++ zstd bytes`.
    #[test]
    fn zblocks_frame_golden_envelope() {
        let f = Frame::Zblocks {
            size: 21,
            data: vec![0xaa, 0xbb],
        };
        let bytes = f.encode();
        assert_eq!(hex(&bytes), ["00000007", "08", "00000015", "aabb"].concat());
        assert_eq!(Frame::decode(&bytes[4..]).unwrap(), f);
    }

    /// What the sender emits for two turns, byte by byte (libzstd 1.6.0 at [`crate::zblocks`]'s
    /// level and window; another build of the library may choose other, equally valid, bytes,
    /// and the receiver takes any valid stream).
    ///
    /// First frame, blocks `"weft"` and `"weft weft"`: frame length 35, tag 0x08, inflated size
    /// 21 = (4 + 4) + (4 + 9); then the zstd stream begins: magic `28 b5 2f fd`, frame header
    /// descriptor `00` (no content size, no checksum, no dictionary, not single-segment),
    /// window descriptor `58` (exponent 11, mantissa 0: 2^(10+11) = 2 MiB), and one block up
    /// to the flush: header `a8 00 00` (24 bits little-endian: not last, type 0 raw, size 21)
    /// and the 21 record bytes as they are (too short to compress).
    ///
    /// Second frame, `"weft weft"` again: inflated size 13, and one compressed block (header
    /// `34 00 00`: not last, type 2 compressed, size 6): no literals (`00`), one sequence
    /// (`01`), predefined FSE tables (`00`), and 3 bytes of bitstream that say "copy 13 bytes
    /// from 13 back": the whole record is a reference into the first frame, which is why one
    /// stream per session, not one per frame.
    #[test]
    fn zblocks_frames_golden_stream() {
        let mut e = Encoder::new().unwrap();
        e.push(b"weft").unwrap();
        e.push(b"weft weft").unwrap();
        let first = e.frame().unwrap().unwrap();
        assert_eq!(e.frame().unwrap(), None, "nothing pending, no frame");
        e.push(b"weft weft").unwrap();
        let second = e.frame().unwrap().unwrap();
        assert_eq!(
            hex(&first),
            [
                "00000023",
                "08",
                "00000015",
                "28b52ffd",
                "00",
                "58",
                "a80000",
                "00000004",
                "77656674",
                "00000009",
                "776566742077656674",
            ]
            .concat()
        );
        assert_eq!(
            hex(&second),
            ["0000000e", "08", "0000000d", "340000", "00", "01", "00", "704c20"].concat()
        );

        // The receiver's stream gets the blocks back, frame by frame; the second frame alone
        // (without the first) does not decode.
        let mut d = Decoder::new().unwrap();
        let mut got = Vec::new();
        for f in [&first, &second] {
            let Frame::Zblocks { size, data } = Frame::decode(&f[4..]).unwrap() else {
                panic!("not a ZBLOCKS frame");
            };
            d.decode(size, &data, &mut |b| {
                got.push(b);
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(got, [&b"weft"[..], b"weft weft", b"weft weft"]);
        assert!(inflate(13, &second[9..]).is_err());
    }

    /// A stream written by hand from the format (RFC 8878) alone, with a raw block: what any
    /// zstd implementation may send, not only ours.
    #[test]
    fn zblocks_from_any_zstd_writer_decode() {
        let records = b"\x00\x00\x00\x03abc\x00\x00\x00\x01z";
        let mut data = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58];
        // Last block, raw, 12 bytes: 12 << 3 | 0 << 1 | 1.
        data.extend_from_slice(&(12u32 << 3 | 1).to_le_bytes()[..3]);
        data.extend_from_slice(records);
        let mut body = vec![ZBLOCKS];
        body.extend_from_slice(&12u32.to_be_bytes());
        body.extend_from_slice(&data);
        let Frame::Zblocks { size, data } = Frame::decode(&body).unwrap() else {
            panic!("not a ZBLOCKS frame");
        };
        assert_eq!(inflate(size, &data).unwrap(), [&b"abc"[..], b"z"]);
    }

    /// A REFUSE frame (version 3): `length:u32be ++ 0x09 ++ DAG-CBOR map`, its keys in
    /// DAG-CBOR order (shorter first): `{"key": bytes(32), "reason": "nothing-readable"}`.
    #[test]
    fn refuse_frame_golden_bytes() {
        use crate::refusal::{Reason, Refusal};
        use weft_dag::{Author, DocId};

        let key = Author([1; 32]);
        let f = Frame::Refuse(Refusal::new(Reason::NothingReadable, Some(key), None));
        let bytes = f.encode();
        assert_eq!(
            hex(&bytes),
            [
                "00000040",
                "09",
                "a2",
                "636b6579",
                "5820",
                &"01".repeat(32),
                "66726561736f6e",
                "70",
                "6e6f7468696e672d7265616461626c65",
            ]
            .concat()
        );
        assert_eq!(Frame::decode(&bytes[4..]).unwrap(), f);

        // With a document: `{"doc": link, "key": ..., "reason": "read-only"}`, the link as
        // DAG-CBOR tag 42 over `0x00 ++ binary CID`.
        let doc = DocId(Cid::hash(weft_store::Codec::DagCbor, b"doc"));
        let f = Frame::Refuse(Refusal::new(Reason::ReadOnly, Some(key), Some(doc)));
        let bytes = f.encode();
        assert_eq!(
            hex(&bytes[4..]),
            [
                "09",
                "a3",
                "63646f63",
                "d82a5825",
                "00",
                &hex(&doc.0.to_bytes()),
                "636b6579",
                "5820",
                &"01".repeat(32),
                "66726561736f6e",
                "69",
                "726561642d6f6e6c79",
            ]
            .concat()
        );
        assert_eq!(Frame::decode(&bytes[4..]).unwrap(), f);
        let Frame::Refuse(r) = f else { unreachable!() };
        assert_eq!(
            r.to_string(),
            format!("access refused: key {key} may read but not write document {doc}")
        );
    }

    /// Every reason goes through a REFUSE frame and back; a reason this build does not know
    /// reads as one in words; a payload that is not a refusal is malformed.
    #[test]
    fn refusals_round_trip_and_unknown_reasons_read_as_words() {
        use crate::refusal::{Reason, Refusal};
        use weft_dag::{Author, DocId};

        let key = Some(Author([2; 32]));
        let doc = Some(DocId(Cid::hash(weft_store::Codec::DagCbor, b"d")));
        for r in [
            Refusal::new(Reason::NothingReadable, key, None),
            Refusal::new(Reason::ReadOnly, key, doc),
            Refusal::new(Reason::NotShared, key, doc),
            Refusal::new(Reason::Revoked, key, doc),
            Refusal::new(Reason::Removed, None, doc),
            Refusal::new(Reason::Other("busy".into()), None, None),
            Refusal::in_words("access refused: key 01 may read no document here"),
        ] {
            let f = Frame::Refuse(r.clone());
            assert_eq!(Frame::decode(&f.encode()[4..]).unwrap(), f, "{r}");
        }
        // Words from a peer of version 1 or 2 display as they came.
        let words = "access refused: key 01 may read no document here";
        assert_eq!(Refusal::from(words).to_string(), words);

        let body = |payload: &[u8]| [&[REFUSE][..], payload].concat();
        let unknown =
            serde_ipld_dagcbor::to_vec(&std::collections::BTreeMap::from([("reason", "quota")]))
                .unwrap();
        let Frame::Refuse(r) = Frame::decode(&body(&unknown)).unwrap() else {
            panic!("not a refusal")
        };
        assert_eq!(
            r.to_string(),
            "access refused: for a reason this build does not know (\"quota\")"
        );
        for bad in [&b""[..], b"\xa0", b"\x01"] {
            let e = Frame::decode(&body(bad)).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Malformed {
                        what: "refusal",
                        ..
                    }
                ),
                "{bad:?}: {e:?}"
            );
        }
        // A key of the wrong length.
        let short_key = serde_ipld_dagcbor::to_vec(&std::collections::BTreeMap::from([
            ("reason", ipld_core::ipld::Ipld::String("read-only".into())),
            ("key", ipld_core::ipld::Ipld::Bytes(vec![1; 31])),
        ]))
        .unwrap();
        assert!(Frame::decode(&body(&short_key)).is_err());
    }

    #[test]
    fn zblocks_frames_that_do_not_decode() {
        // No room for the size; a size of 0.
        for body in [
            &b"\x08"[..],
            b"\x08\x00\x00\x01",
            b"\x08\x00\x00\x00\x00\x28",
        ] {
            let e = Frame::decode(body).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Malformed {
                        what: "ZBLOCKS frame",
                        ..
                    }
                ),
                "{body:?}: {e:?}"
            );
        }
        // A size over the limit is a bomb announced: refused before anything is inflated.
        let mut body = vec![ZBLOCKS];
        body.extend_from_slice(&(MAX_INFLATED as u32 + 1).to_be_bytes());
        let e = Frame::decode(&body).unwrap_err();
        assert!(
            matches!(e, Error::Inflate { max } if max == MAX_INFLATED as u64),
            "{e:?}"
        );
    }
}
