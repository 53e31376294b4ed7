//! The invites a replica issued, in its `invites` keyspace.
//!
//! | tag | name | kind | key | value |
//! |---|---|---|---|---|
//! | `0x20` | `invites` | kept | `0x01 ++ id:32` | `used:u64 created:u64 revoked:u8 invite` |
//!
//! `id` is the invite's id (its public key), `used` how many joins it granted, `created` the
//! Unix time in seconds it was made, `revoked` 1 once revoked (else 0), and `invite` the
//! signed invite's DAG-CBOR ([`Invite::to_bytes`]). It is *kept*: a count that fell back after
//! a crash would let a used invite be used again, so every write reaches the database at once.

use weft_dag::Repo;
use weft_store::Keyspace;
use weft_sync::invite::{Invite, InviteId};

/// The invites this replica issued.
pub const INVITES: Keyspace = Keyspace::kept(0x20, "invites");

/// The first byte of every record's key.
const RECORD: u8 = 0x01;

/// The bytes before the invite in a value.
const HEAD: usize = 8 + 8 + 1;

/// One issued invite and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The invite as issued.
    pub invite: Invite,
    /// How many joins it granted.
    pub used: u64,
    /// When it was made (Unix seconds).
    pub created: u64,
    /// Whether it was revoked.
    pub revoked: bool,
}

fn key(id: &InviteId) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(RECORD);
    k.extend_from_slice(&id.0);
    k
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEAD + 256);
        v.extend_from_slice(&self.used.to_be_bytes());
        v.extend_from_slice(&self.created.to_be_bytes());
        v.push(u8::from(self.revoked));
        v.extend_from_slice(&self.invite.to_bytes());
        v
    }

    /// `None` for a damaged value.
    fn decode(v: &[u8]) -> Option<Record> {
        let (used, rest) = v.split_first_chunk::<8>()?;
        let (created, rest) = rest.split_first_chunk::<8>()?;
        let (&revoked, invite) = rest.split_first()?;
        Some(Record {
            invite: Invite::from_bytes(invite).ok()?,
            used: u64::from_be_bytes(*used),
            created: u64::from_be_bytes(*created),
            revoked: revoked == 1,
        })
    }
}

/// The record of invite `id`, if this replica issued it (a damaged one reads as absent).
pub(super) fn get(repo: &Repo, id: &InviteId) -> Result<Option<Record>, weft_dag::Error> {
    Ok(repo
        .layer(INVITES)
        .get(&key(id))?
        .and_then(|v| Record::decode(&v)))
}

/// Writes `record`, in a batch of its own.
pub(super) fn put(repo: &Repo, record: &Record) -> Result<(), weft_dag::Error> {
    repo.layer(INVITES)
        .put(&key(&record.invite.id), &record.encode())
}

/// Every record, by id.
pub(super) fn all(repo: &Repo) -> Result<Vec<Record>, weft_dag::Error> {
    let mut v = Vec::new();
    for entry in repo.layer(INVITES).scan_prefix(&[RECORD]) {
        if let Some(r) = Record::decode(&entry?.1) {
            v.push(r);
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_dag::{DocId, Identity, Role};
    use weft_store::{Cid, Codec};

    #[test]
    fn a_record_round_trips_and_damage_reads_as_absent() {
        let inviter = Identity::from_seed([3; 32]);
        let doc = DocId(Cid::hash(Codec::DagCbor, b"d"));
        let invite = Invite::sign(&inviter, InviteId([5; 32]), Role::Writer, vec![doc], 9, 2);
        let r = Record {
            invite,
            used: 1,
            created: 4,
            revoked: true,
        };
        let bytes = r.encode();
        assert_eq!(
            &bytes[..HEAD],
            &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4, 1]
        );
        assert_eq!(Record::decode(&bytes), Some(r));
        assert_eq!(Record::decode(&bytes[..10]), None);
        assert_eq!(Record::decode(&bytes[..HEAD + 3]), None);
    }
}
