//! [`ErrorKind`]: what a caller does about an error, the same few kinds for the errors of every
//! weft crate. It uses no other module of the crate.

/// What a caller acts on when an operation fails. Every public error type of weft's crates has
/// a `kind()` method that says which of these it is, so that a caller (a command-line tool
/// choosing its exit code, an application choosing what to show or whether to retry) needs no
/// match on the variants of each crate's errors. Match it with a wildcard arm: kinds may be
/// added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller asked for something that cannot be done as asked: an invalid value, key,
    /// document name, CID or URL, or a write too large for one change.
    InvalidInput,
    /// No repo where one was expected.
    NotARepo,
    /// Nothing has that name: an unknown key, document, change or block.
    NotFound,
    /// The key holds another CRDT kind than the operation needs.
    WrongType,
    /// The repo or its database is held by another process.
    Busy,
    /// Data that fails verification: a bad hash, signature or encoding, a change that
    /// contradicts its past, a damaged store.
    Corrupt,
    /// The network: the peer cannot be reached, the connection broke, or the peer went silent.
    Network,
    /// The peer broke the sync protocol.
    Peer,
    /// Not allowed: a role the author does not hold, access refused, or authentication that
    /// failed.
    Denied,
    /// The store's files cannot be written: no space left on the device, a read-only file
    /// system, no permission, a device error, or an earlier such failure.
    Storage,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Every kind, in the order above.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::InvalidInput,
        ErrorKind::NotARepo,
        ErrorKind::NotFound,
        ErrorKind::WrongType,
        ErrorKind::Busy,
        ErrorKind::Corrupt,
        ErrorKind::Network,
        ErrorKind::Peer,
        ErrorKind::Denied,
        ErrorKind::Storage,
        ErrorKind::Other,
    ];
}
