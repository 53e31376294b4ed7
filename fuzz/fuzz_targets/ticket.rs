//! Invite tickets: the input as a ticket's text (`Ticket::decode`), and as the payload of a
//! JOIN frame (`Join::decode`).
//!
//! Invariants: nothing panics; a ticket that decodes encodes to text that decodes to the same
//! ticket; a JOIN that decodes encodes to a payload that decodes to the same JOIN.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_sync::invite::{Join, Ticket};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(ticket) = Ticket::decode(text) {
            assert_eq!(Ticket::decode(&ticket.encode()).ok(), Some(ticket));
        }
    }
    if let Ok(join) = Join::decode(data) {
        assert_eq!(Join::decode(&join.encode()).ok(), Some(join));
    }
});
