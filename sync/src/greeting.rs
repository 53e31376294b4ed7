//! The greeting (HELLO) of each side, version negotiation, and the errors of a frame out of
//! place.

use std::collections::HashMap;

use weft_dag::{DocId, Repo};

use crate::{
    frame::{DocAd, Frame, Hello},
    peer::ReplicaId,
    session::{Stats, VERSIONS},
    Error,
};

/// The greeting (its versions are filled in when it is sent); the responder's lists
/// `advertise`, the documents the peer may read.
pub(crate) fn hello(
    repo: &Repo,
    me: ReplicaId,
    advertise: Option<&[DocId]>,
) -> Result<Hello, Error> {
    let docs = if let Some(docs) = advertise {
        let names: HashMap<DocId, String> = repo.docs()?.into_iter().map(|(n, d)| (d, n)).collect();
        let mut v = Vec::new();
        for &doc in docs {
            v.push(DocAd {
                doc: doc.0,
                name: names.get(&doc).cloned(),
                heads: repo.heads(doc)?,
            });
        }
        Some(v)
    } else {
        None
    };
    Ok(Hello {
        removed: None,
        versions: VERSIONS.to_vec(),
        replica: me.to_vec(),
        docs,
    })
}

/// The greeting as it goes out, speaking `versions`.
pub(crate) fn greet(
    greeting: &mut Option<Hello>,
    versions: &[u32],
    stats: &mut Stats,
) -> Option<Vec<u8>> {
    let mut hello = greeting.take()?;
    hello.versions = versions.to_vec();
    let frame = Frame::Hello(hello).encode();
    stats.bytes_out += frame.len() as u64;
    Some(frame)
}

/// The versions of [`VERSIONS`] up to `max`.
pub(crate) fn versions_up_to(max: u32) -> Vec<u32> {
    VERSIONS.iter().copied().filter(|v| *v <= max).collect()
}

/// Checks the peer's hello against the versions we speak; returns its replica id and the
/// session's version, the highest both speak.
pub(crate) fn negotiate(h: &Hello, ours: &[u32]) -> Result<(ReplicaId, u32), Error> {
    let Some(version) = ours
        .iter()
        .copied()
        .filter(|v| h.versions.contains(v))
        .max()
    else {
        return Err(Error::Version {
            ours: ours.to_vec(),
            theirs: h.versions.clone(),
        });
    };
    let replica = h
        .replica
        .as_slice()
        .try_into()
        .map_err(|_| Error::Protocol("a replica id must be 16 bytes".into()))?;
    Ok((replica, version))
}

/// A block frame that does not belong to the session's version.
pub(crate) fn wrong_version(frame: &Frame, version: Option<u32>) -> Error {
    let what = match frame {
        Frame::Zblocks { .. } => "a ZBLOCKS frame",
        _ => "a BLOCK frame",
    };
    match version {
        Some(v) => Error::Protocol(format!("{what} in a session of protocol version {v}")),
        None => Error::Protocol(format!("{what} before the greeting")),
    }
}

pub(crate) fn unexpected(frame: &Frame, state: &str) -> Error {
    let what = match frame {
        Frame::Hello(_) => "HELLO",
        Frame::Request(_) => "REQUEST",
        Frame::Reply(_) => "REPLY",
        Frame::Block(_) => "BLOCK",
        Frame::End => "END",
        Frame::Done => "DONE",
        Frame::Error(_) => "ERROR",
        Frame::Zblocks { .. } => "ZBLOCKS",
        Frame::Refuse(_) => "REFUSE",
        Frame::Join(_) => "JOIN",
        Frame::Joined(_) => "JOINED",
    };
    Error::Protocol(format!("unexpected {what} frame while {state}"))
}
