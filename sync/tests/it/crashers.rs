//! The saved inputs of the fuzz targets whose decoders are this crate's (`fuzz/crashers/frame`,
//! `fuzz/crashers/car` and `fuzz/crashers/ticket`, see `fuzz/README.md`), replayed through the entry points the
//! targets call: every call returns, `Ok` or `Err`, and none panics.

use std::io::{self, Cursor};

use weft_sync::{
    bundle,
    frame::{read_frame, Frame},
    invite::{Join, Ticket},
    zblocks, Direction, Endpoint, Initiator, Responder, SyncOptions,
};
use weft_testkit::{empty, replay};

/// `frame`: the input as a stream of frames (each decoded, compressed blocks inflated), then as
/// what a peer sends to a responder and to an initiator of each direction, on an empty repo.
#[test]
fn frame_crashers_return() {
    replay("frame", |data| {
        let stream = data.get(1..).unwrap_or_default();
        let mut r = Cursor::new(stream);
        let mut body = Vec::new();
        let mut decoder = zblocks::Decoder::new().ok();
        while let Ok(true) = read_frame(&mut r, &mut body) {
            if let (Ok(Frame::Zblocks { size, data }), Some(d)) =
                (Frame::decode(&body), decoder.as_mut())
            {
                if d.decode(size, &data, &mut |_| Ok(())).is_err() {
                    decoder = None;
                }
            }
            if let Ok(frame) = Frame::decode(&body) {
                let _ = Frame::decode(&frame.encode()[4..]);
            }
        }
        let repo = empty(1);
        let mut endpoints: Vec<Box<dyn Endpoint + '_>> = Vec::new();
        if let Ok(r) = Responder::new(&repo) {
            endpoints.push(Box::new(r));
        }
        for direction in [Direction::Pull, Direction::Push, Direction::Both] {
            let opts = SyncOptions {
                direction,
                docs: None,
            };
            if let Ok(i) = Initiator::new(&repo, opts) {
                endpoints.push(Box::new(i));
            }
        }
        for mut endpoint in endpoints {
            let _ = weft_sync::run(
                endpoint.as_mut(),
                Cursor::new(stream),
                io::sink(),
                "crasher",
                60,
                &mut |_| {},
            );
        }
    });
}

/// `car`: the input (after the target's first byte) as a bundle applied to an empty repo.
#[test]
fn car_crashers_return() {
    replay("car", |data| {
        let car = data.get(1..).unwrap_or_default();
        let _ = bundle::apply(&empty(1), car, "crasher.car");
    });
}

/// `ticket`: the input as a ticket's text and as a JOIN payload.
#[test]
fn ticket_crashers_return() {
    replay("ticket", |data| {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(t) = Ticket::decode(text) {
                let _ = Ticket::decode(&t.encode());
            }
        }
        if let Ok(j) = Join::decode(data) {
            let _ = Join::decode(&j.encode());
        }
    });
}
