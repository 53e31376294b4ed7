//! Read and write access of a peer on an authenticated link (such as `weft-net`'s `tcp://`,
//! whose Noise handshake proves the peer's key).
//!
//! The policy, applied by the [`Responder`](crate::Responder):
//! - a **trusted** link (`weft serve --stdio`, which path and ssh remotes run, and the daemon
//!   socket) may read and write everything: whoever can run weft on the repo's account owns it;
//! - a peer that authenticates with the served repo's **own key** is trusted the same way (it
//!   holds the secret the repo signs with);
//! - any other peer may **read** a document iff its role there is at least
//!   [`Role::Reader`](weft_dag::Role), or its key is in the server's `--allow` list; and may
//!   **push** changes into a document only if its role there is at least
//!   [`Role::Writer`](weft_dag::Role). A document the server does not have gives no role, so
//!   such a peer cannot create documents on the server.
//!
//! An unauthorised peer learns nothing: the responder's HELLO lists only readable documents, a
//! request about any other document is answered exactly as for a document that does not exist,
//! a change asked for by CID is sent only if its document is readable, and a peer that may read
//! nothing at all is refused at its greeting. Refusals are typed ([`Refusal`]).

use weft_dag::{Author, DocId, Repo, Role};

use crate::{
    refusal::{Reason, Refusal},
    Error,
};

/// Who is on the other side of a link, and what the server lets everyone read.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The authenticated key; `None` for a trusted local link.
    peer: Option<Author>,
    /// Keys that may read every document (`weft serve --allow`).
    allow: Vec<Author>,
}

/// What one peer may do with one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Perm {
    /// May be served the document.
    pub read: bool,
    /// May push changes into it.
    pub write: bool,
}

impl Access {
    /// A trusted local link: everything is readable and writable.
    pub fn trusted() -> Access {
        Access::default()
    }

    /// A peer that proved it holds `key`; every key in `allow` may read every document.
    pub fn peer(key: Author, allow: &[Author]) -> Access {
        Access {
            peer: Some(key),
            allow: allow.to_vec(),
        }
    }

    /// The authenticated key, if the link has one.
    pub fn key(&self) -> Option<Author> {
        self.peer
    }

    /// The key a restricted peer holds on `repo`: `None` when it may do everything (a trusted
    /// link, or the repo's own key).
    pub(crate) fn restricted(&self, repo: &Repo) -> Option<Author> {
        self.peer.filter(|k| *k != repo.author())
    }

    /// What the peer may do with `doc`.
    pub(crate) fn perm(&self, repo: &Repo, doc: DocId) -> Result<Perm, Error> {
        let Some(key) = self.restricted(repo) else {
            return Ok(Perm {
                read: true,
                write: true,
            });
        };
        // A document that is not here gives no right, whatever `allow` says.
        if !is_doc_here(repo, doc)? {
            return Ok(Perm {
                read: false,
                write: false,
            });
        }
        let role = repo.role(doc, &key)?;
        Ok(Perm {
            read: role.is_some_and(|r| r >= Role::Reader) || self.allow.contains(&key),
            write: role.is_some_and(|r| r >= Role::Writer),
        })
    }

    /// Whether the peer may be served `doc`.
    pub fn may_read(&self, repo: &Repo, doc: DocId) -> Result<bool, Error> {
        Ok(self.perm(repo, doc)?.read)
    }

    /// Whether the peer may push changes into `doc`.
    pub fn may_write(&self, repo: &Repo, doc: DocId) -> Result<bool, Error> {
        Ok(self.perm(repo, doc)?.write)
    }

    /// The documents of `repo` the peer may read.
    pub fn readable(&self, repo: &Repo) -> Result<Vec<DocId>, Error> {
        let mut v = Vec::new();
        for doc in repo.doc_ids()? {
            if self.may_read(repo, doc)? {
                v.push(doc);
            }
        }
        Ok(v)
    }

    /// The refusal of a peer that may read no document here, if it may not.
    pub fn refusal(&self, repo: &Repo) -> Result<Option<Refusal>, Error> {
        if self.restricted(repo).is_none() {
            return Ok(None);
        }
        for doc in repo.doc_ids()? {
            if self.may_read(repo, doc)? {
                return Ok(None);
            }
        }
        self.nothing_readable(repo).map(Some)
    }

    /// The refusal of a peer that may read nothing: [`Reason::Revoked`], naming the document,
    /// if its key was revoked in one here.
    pub(crate) fn nothing_readable(&self, repo: &Repo) -> Result<Refusal, Error> {
        if let Some(key) = self.peer {
            for doc in repo.doc_ids()? {
                if repo.is_revoked(doc, &key)? {
                    return Ok(Refusal::new(Reason::Revoked, Some(key), Some(doc)));
                }
            }
        }
        Ok(Refusal::new(Reason::NothingReadable, self.peer, None))
    }

    /// The refusal of a push into `doc`, the same whether `doc` is unreadable or absent.
    pub(crate) fn push_refusal(
        &self,
        repo: &Repo,
        doc: DocId,
        perm: Perm,
    ) -> Result<Refusal, Error> {
        // Whoever pushes into a removed document may be told so: only a replica that has it
        // names it, and the push was refused anyway.
        if repo.is_removed(doc)? {
            return Ok(Refusal::new(Reason::Removed, self.peer, Some(doc)));
        }
        let reason = if perm.read {
            Reason::ReadOnly
        } else {
            Reason::NotShared
        };
        Ok(Refusal::new(reason, self.peer, Some(doc)))
    }
}

/// Whether `doc` is a document here: its id names a genesis change of its own.
fn is_doc_here(repo: &Repo, doc: DocId) -> Result<bool, Error> {
    Ok(repo.node(&doc.0)?.is_some_and(|m| m.doc == doc))
}
