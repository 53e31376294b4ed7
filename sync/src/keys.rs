//! The sync layer's keyspace.
//!
//! | tag | name | kind | key | value |
//! |---|---|---|---|---|
//! | `0x08` | `sync_peers` | derived | `0x00 "replica"` | this replica's random 16-byte id |
//! | | | | `0x01 ++ replica:16 ++ doc:cid` | the heads both sides had at the end of the last sync with that peer: `cid*` (see [`crate::peer`]) |
//! | | | | `0x02 ++ remote` | the status of the last sync with a named remote, DAG-CBOR (see [`crate::status`]) |
//!
//! It is *derived* in the store's sense (written to the database at checkpoints) although the
//! log cannot give it back: everything in it may fall back to an earlier checkpoint after a
//! crash without harm. An older base is still common history (a replica never loses changes),
//! a lost replica id is replaced by a new one (its peers then start from no base), and a lost
//! status is the status of an earlier attempt.

use weft_store::Keyspace;

/// Per-peer sync state.
pub const SYNC_PEERS: Keyspace = Keyspace::derived(0x08, "sync_peers");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_layers_share_a_tag() {
        let mut all = weft_dag::keys::ALL.to_vec();
        all.push(SYNC_PEERS);
        weft_store::layout::check_unique(&all).unwrap();
    }
}
