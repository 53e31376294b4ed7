//! Protocol frames and messages, then whole sessions.
//!
//! Input: one mode byte, then a stream of frames (`length:u32be ++ tag ++ payload`). Every frame
//! the reader yields is decoded as a message; then the same stream is fed, through the production
//! driver `weft_sync::run`, to a session endpoint over an in-memory repo:
//! - mode bit 0: 0 a `Responder`, 1 an `Initiator`;
//! - mode bits 1-2: the initiator's direction (0 pull, 1 push, else both);
//! - mode bit 3: an empty repo instead of the base history.
//!
//! Invariants: nothing panics; a decoded message re-encodes to a frame that decodes to the same
//! message; after the session, whatever its outcome, the repo is consistent (`fsck`).
#![no_main]

use std::io::{self, Cursor};

use libfuzzer_sys::fuzz_target;
use weft_sync::{
    frame::{read_frame, Frame},
    Direction, Endpoint, Initiator, Responder, SyncOptions,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };

    // Frames and messages on their own.
    let mut r = Cursor::new(stream);
    let mut body = Vec::new();
    while let Ok(true) = read_frame(&mut r, &mut body) {
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
    let mut endpoint: Box<dyn Endpoint + '_> = if mode & 1 == 0 {
        match Responder::new(&repo) {
            Ok(r) => Box::new(r),
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
            Ok(i) => Box::new(i),
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
