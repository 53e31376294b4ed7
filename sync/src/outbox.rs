//! The frames one side of a session has to send, in order.

use std::collections::VecDeque;

use weft_dag::Repo;
use weft_store::Cid;

use crate::{frame::Frame, session::Stats, zblocks, Error};

/// Frames waiting to go out: control frames first, then blocks read from the store one at a
/// time (so a clone streams instead of being built in memory), then the END of the turn.
///
/// Under protocol version 2 (`compress`) the blocks go through the session's zstd stream: a
/// ZBLOCKS frame whenever [`zblocks::CHUNK`] bytes are pending, and one with the rest before
/// END, so the peer can decode everything of the turn.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) frames: VecDeque<Vec<u8>>,
    blocks: VecDeque<Cid>,
    end: bool,
    pub(crate) compress: bool,
    /// The compressing side of the stream, from the first block on.
    encoder: Option<zblocks::Encoder>,
}

impl Outbox {
    pub(crate) fn turn(&mut self, msg: Frame, blocks: Vec<Cid>) {
        self.frames.push_back(msg.encode());
        self.blocks = blocks.into();
        self.end = true;
    }

    /// The next ZBLOCKS frame: blocks from the store into the stream until a chunk is pending
    /// or the turn's blocks are all in, then a flush. A frame inflates to less than a chunk
    /// plus one record, within [`zblocks::MAX_INFLATED`] for any block the store takes (1 MiB
    /// by default); a store set up for blocks of nearly 8 MiB would send frames the peer
    /// refuses, as version 1 would send it BLOCK frames over the frame limit.
    fn compressed(&mut self, repo: &Repo, stats: &mut Stats) -> Result<Vec<u8>, Error> {
        let encoder = match &mut self.encoder {
            Some(e) => e,
            None => self.encoder.insert(zblocks::Encoder::new()?),
        };
        while let Some(cid) = self.blocks.pop_front() {
            encoder.push(&repo.block(&cid)?)?;
            stats.changes_out += 1;
            if encoder.pending() >= zblocks::CHUNK {
                break;
            }
        }
        encoder.frame()?.ok_or_else(|| Error::Compression {
            reason: "a frame with no block".into(),
        })
    }

    pub(crate) fn poll(
        &mut self,
        repo: &Repo,
        stats: &mut Stats,
    ) -> Result<Option<Vec<u8>>, Error> {
        let frame = if let Some(f) = self.frames.pop_front() {
            f
        } else if self.compress && !self.blocks.is_empty() {
            self.compressed(repo, stats)?
        } else if let Some(cid) = self.blocks.pop_front() {
            stats.changes_out += 1;
            Frame::Block(repo.block(&cid)?).encode()
        } else if self.end {
            self.end = false;
            Frame::End.encode()
        } else {
            return Ok(None);
        };
        stats.bytes_out += frame.len() as u64;
        Ok(Some(frame))
    }
}
