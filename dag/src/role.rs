//! [`Role`]: what a key may do in a document (see [`crate::acl`]).

use std::{fmt, str::FromStr};

/// What a key may do in a document. Ordered: each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// May read the document (be served it by a replica that enforces read access).
    Reader = 1,
    /// May also write data ops.
    Writer = 2,
    /// May also grant and revoke readers and writers.
    Admin = 3,
    /// The key named by the genesis change: may do everything, and cannot be revoked.
    Owner = 4,
}

impl Role {
    /// The role's name on the wire and in the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "reader" => Ok(Role::Reader),
            "writer" => Ok(Role::Writer),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            _ => Err(format!(
                "unknown role {} (expected reader, writer or admin)",
                weft_store::clip(s)
            )),
        }
    }
}
