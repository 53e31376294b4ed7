//! How an error ends the process: [`CODES`], the one table from an error's [`ErrorKind`] to the
//! exit code (which `--help` prints, see [`help`]), and the command-line [`advice`] added to a
//! library's message. It uses no other module of the crate.

use std::error::Error;

use weft_dag::ErrorKind;

/// One exit code: the kind of error it stands for (`None`: success) and its line in `--help`.
#[derive(Debug)]
pub(crate) struct Code {
    pub code: u8,
    pub kind: Option<ErrorKind>,
    /// For `--help`: lines after the first are indented under it.
    pub help: &'static str,
}

/// Every exit code. The README's "Exit codes" says the same at more length.
pub(crate) const CODES: [Code; 12] = [
    Code {
        code: 0,
        kind: None,
        help: "success",
    },
    Code {
        code: 1,
        kind: Some(ErrorKind::Other),
        help: "any other error",
    },
    Code {
        code: 2,
        kind: Some(ErrorKind::InvalidInput),
        help: "bad usage: unknown flag, invalid CID string or revision, a CID or key prefix that\n\
               several match, invalid value or key, bad remote URL, bad invite ticket, `weft invite`\n\
               without a listening server",
    },
    Code {
        code: 3,
        kind: Some(ErrorKind::NotARepo),
        help: "not a weft repo (no .weft here or in any parent)",
    },
    Code {
        code: 4,
        kind: Some(ErrorKind::NotFound),
        help: "not found: unknown key, CID (or a prefix no change has), document or remote name, a\n\
               document removed here, or the changes an incremental bundle builds on",
    },
    Code {
        code: 5,
        kind: Some(ErrorKind::WrongType),
        help: "wrong type: the key holds another CRDT kind (register, counter, set)",
    },
    Code {
        code: 6,
        kind: Some(ErrorKind::Busy),
        help: "the repo is open in another weft process that does not serve it (after waiting 5 s),\n\
               `weft serve` on a repo already served, or a command that would sign with another key\n\
               than the process serving the repo",
    },
    Code {
        code: 7,
        kind: Some(ErrorKind::Corrupt),
        help: "corrupt data: a block fails verification (from a peer or bundle too: bad hash,\n\
               signature or encoding, parents that never arrive), a bad bundle, or fsck found problems",
    },
    Code {
        code: 8,
        kind: Some(ErrorKind::Network),
        help: "network: the remote cannot be reached, the connection broke, the peer went silent,\n\
               or the address to listen on is taken",
    },
    Code {
        code: 9,
        kind: Some(ErrorKind::Peer),
        help: "the peer broke the sync protocol (garbage, oversized frames, withheld changes)",
    },
    Code {
        code: 10,
        kind: Some(ErrorKind::Denied),
        help: "access denied: a write or grant the key's role does not allow (also one received from a\n\
               peer), a peer that refused this key, a peer whose key is not the one expected, or a\n\
               tcp:// link that fails authentication (the secure handshake, or a tampered message),\n\
               or an invite refused (used up, expired, revoked)",
    },
    Code {
        code: 11,
        kind: Some(ErrorKind::Storage),
        help: "the repo's files cannot be written: no space left on the device, a read-only file\n\
               system, no permission, or an earlier such failure (nothing of the command was written;\n\
               commands that only read still work)",
    },
];

/// The exit code for an error of `kind`; a kind the table does not name exits as
/// [`ErrorKind::Other`].
pub(crate) fn code(kind: ErrorKind) -> u8 {
    let find = |k| CODES.iter().find(|c| c.kind == Some(k));
    find(kind)
        .or_else(|| find(ErrorKind::Other))
        .map_or(1, |c| c.code)
}

/// The exit codes as `--help` lists them, one entry a code.
pub(crate) fn help() -> String {
    let mut text = String::from("Exit codes:");
    for c in &CODES {
        let mut lines = c.help.lines();
        text.push_str(&format!(
            "\n  {:<2} {}",
            c.code,
            lines.next().unwrap_or_default()
        ));
        for line in lines {
            text.push_str(&format!("\n     {line}"));
        }
    }
    text
}

/// What the command line adds to a library error's message (`cause` is one error of a chain):
/// the command or option that helps, as text to append, with its leading space. The libraries
/// describe their own situation only; an application embedding them gives its own advice.
pub(crate) fn advice(cause: &(dyn Error + 'static)) -> Option<String> {
    use weft_dag::open::Error as Open;
    if let Some(e) = cause.downcast_ref::<Open>() {
        return match e {
            Open::NotARepo { .. } => Some(" (run `weft init` to create one)".into()),
            Open::Locked { .. } => Some(
                " that does not serve it (wait for it, or run the long-lived one as `weft serve`)"
                    .into(),
            ),
            Open::NoIdentity { .. } => Some(" (or pass --identity / WEFT_IDENTITY)".into()),
            Open::Prepare(e) => repo_advice(e),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<weft_dag::Error>() {
        return repo_advice(e);
    }
    match cause.downcast_ref::<weft_sync::Error>() {
        Some(weft_sync::Error::Repo(e)) => repo_advice(e),
        _ => None,
    }
}

fn repo_advice(e: &weft_dag::Error) -> Option<String> {
    use weft_dag::Error as E;
    match e {
        E::UnknownDoc { .. } => Some(" (see `weft doc ls`)".into()),
        E::RemovedDoc { name } => Some(format!(
            " (`weft doc rm` removed it; `weft doc name {} NAME` brings it back)",
            weft_store::clip(name)
        )),
        E::Unauthorized { author, needed, .. } => Some(format!(
            " (a member with the admin role grants it with `weft grant {author} --role {needed}`)"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_code() {
        let mut codes: Vec<u8> = ErrorKind::ALL.iter().map(|k| code(*k)).collect();
        for kind in ErrorKind::ALL {
            assert!(
                CODES.iter().any(|c| c.kind == Some(kind)),
                "{kind:?} has no exit code"
            );
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
        // The codes are 0, 1, 2, ... in order, each listed once.
        for (i, c) in CODES.iter().enumerate() {
            assert_eq!(usize::from(c.code), i);
        }
    }
}
