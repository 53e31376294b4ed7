//! [`DocId`]: the name of a document.

use std::{fmt, str::FromStr};

use weft_store::Cid;

/// A document id: the CID of the document's genesis change.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(pub Cid);

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({})", self.0)
    }
}

impl FromStr for DocId {
    type Err = weft_store::ParseError;

    fn from_str(s: &str) -> Result<DocId, Self::Err> {
        s.parse().map(DocId)
    }
}
