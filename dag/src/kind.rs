//! [`Kind`]: the CRDT kind of a key.

/// The CRDT kind of a key (see [`crate::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Multi-value register (`set`, `del`).
    Register,
    /// PN counter (`incr`).
    Counter,
    /// Add-wins set (`add`, `remove`).
    Set,
    /// List of movable elements (`lins`, `lmov`, `ldel`, `lset`).
    List,
    /// Text (`tins`, `tdel`).
    Text,
}

impl Kind {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Register => "register",
            Kind::Counter => "counter",
            Kind::Set => "set",
            Kind::List => "list",
            Kind::Text => "text",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
