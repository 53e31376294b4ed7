//! What can go wrong in the app, each with what it was about.

use std::path::PathBuf;

/// An error of the app's library: opening the data directory, starting sync, or applying a
/// command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repo refused or failed an operation.
    #[error(transparent)]
    Dag(#[from] weft_dag::Error),
    /// The data directory could not be opened or made a repo.
    #[error("cannot open the data directory {path}: {source}")]
    Open {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: weft_dag::open::Error,
    },
    /// The device's key could not be read.
    #[error("cannot read this device's key {path}: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: weft_dag::identity::IdentityError,
    },
    /// The address to listen on could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A peer's URL is not one weft can sync with.
    #[error("bad peer URL {url:?}: {reason}")]
    BadPeer {
        /// The URL.
        url: String,
        /// Why, in words.
        reason: String,
    },
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
    /// No list has this id (a peer may have deleted it).
    #[error("no list {id} on the board")]
    NoSuchList {
        /// The list's id.
        id: String,
    },
    /// No item has this id (a peer may have deleted it).
    #[error("no item {id} on the board")]
    NoSuchItem {
        /// The item's id.
        id: String,
    },
    /// Neither a key nor the name of anyone on the board.
    #[error("{who:?} is neither a key (64 hex digits) nor the name of anyone on the board")]
    UnknownPerson {
        /// What was typed.
        who: String,
    },
    /// Several people have this name: a key is needed.
    #[error("several people are named {name:?}: give a key")]
    AmbiguousName {
        /// The name.
        name: String,
    },
    /// A device's name may not be empty.
    #[error("a name may not be empty")]
    EmptyName,
    /// Pairing failed: the invite could not be made, the ticket is bad, or joining failed.
    #[error(transparent)]
    Invite(#[from] weft_net::invite::Error),
    /// Inviting needs a URL for the joiner to reach this device.
    #[error("this device serves no peers: start it with --listen to invite")]
    NotServing,
    /// There is no board yet (it has not arrived from a peer).
    #[error("there is no board yet")]
    NoBoard,
}
