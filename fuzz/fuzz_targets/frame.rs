//! Protocol frames and messages, then whole sessions.
//!
//! Input: one mode byte, then a stream of frames (`length:u32be ++ tag ++ payload`). Every frame
//! the reader yields is decoded as a message, and the ZBLOCKS frames among them are inflated
//! through one compressed block stream (as a version-2 session reads them); then the same stream
//! is fed, through the production driver `weft_sync::run`, to a session endpoint over an
//! in-memory repo:
//! - mode bit 0: 0 a `Responder`, 1 an `Initiator`;
//! - mode bits 1-2: the initiator's direction (0 pull, 1 push, else both);
//! - mode bit 3: an empty repo instead of the base history;
//! - mode bit 4: the endpoint speaks protocol version 1 only (else 1 and 2, and the stream's
//!   HELLO decides).
//!
//! Invariants: nothing panics; a decoded message re-encodes to a frame that decodes to the same
//! message; the blocks a ZBLOCKS frame yields are never empty and, with their 4-byte lengths,
//! fill no more than the size the frame declares, and exactly that size when it decodes; after
//! the session, whatever its outcome, the repo is consistent (`fsck`).
#![no_main]

use std::io::{self, Cursor};

use libfuzzer_sys::fuzz_target;
use weft_sync::{
    frame::{read_frame, Frame},
    zblocks, Direction, Endpoint, Initiator, Responder, SyncOptions,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };

    // Frames and messages on their own; compressed blocks through one stream until it fails.
    let mut r = Cursor::new(stream);
    let mut body = Vec::new();
    let mut inflating = match zblocks::Decoder::new() {
        Ok(d) => Some(d),
        Err(e) => panic!("a decoder starts: {e}"),
    };
    while let Ok(true) = read_frame(&mut r, &mut body) {
        if let (Ok(Frame::Zblocks { size, data }), Some(decoder)) =
            (Frame::decode(&body), inflating.as_mut())
        {
            let mut filled = 0u64;
            let result = decoder.decode(size, &data, &mut |block| {
                assert!(!block.is_empty(), "an empty block");
                filled += 4 + block.len() as u64;
                assert!(filled <= u64::from(size), "blocks past the declared size");
                Ok(())
            });
            match result {
                Ok(()) => assert_eq!(filled, u64::from(size), "a frame of whole records"),
                // A stream that failed once is not read further (nor is a session's).
                Err(_) => inflating = None,
            }
        }
        assert!(!body.is_empty() && body.len() <= weft_sync::frame::MAX_FRAME);
        if let Ok(frame) = Frame::decode(&body) {
            let encoded = frame.encode();
            let len = u32::from_be_bytes([encoded[0], encoded[1], encoded[2], encoded[3]]);
            assert_eq!(len as usize, encoded.len() - 4);
            assert_eq!(
                Frame::decode(&encoded[4..]).as_ref().ok(),
                Some(&frame),
                "re-encoded frame decodes to the same message"
            );
        }
    }

    // A session fed with the stream.
    let repo = if mode & 8 == 0 {
        weft_fuzz::base_repo()
    } else {
        weft_fuzz::empty_repo()
    };
    let max_version = if mode & 16 == 0 { u32::MAX } else { 1 };
    let mut endpoint: Box<dyn Endpoint + '_> = if mode & 1 == 0 {
        match Responder::new(&repo) {
            Ok(r) => Box::new(r.max_version(max_version)),
            Err(e) => panic!("a responder starts: {e}"),
        }
    } else {
        let direction = match (mode >> 1) & 3 {
            0 => Direction::Pull,
            1 => Direction::Push,
            _ => Direction::Both,
        };
        let opts = SyncOptions {
            direction,
            docs: None,
        };
        match Initiator::new(&repo, opts) {
            Ok(i) => Box::new(i.max_version(max_version)),
            Err(e) => panic!("an initiator starts: {e}"),
        }
    };
    let before = weft_fuzz::n_blocks(&repo);
    let result = weft_sync::run(
        endpoint.as_mut(),
        Cursor::new(stream),
        io::sink(),
        "fuzz",
        60,
        &mut |_| {},
    );
    drop(endpoint);
    // Checking costs a signature check per change: only when the session stored something.
    if weft_fuzz::n_blocks(&repo) != before {
        weft_fuzz::assert_fsck(&repo, &result);
    }
});
