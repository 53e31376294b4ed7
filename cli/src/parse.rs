//! Command-line words as weft's types: CIDs, author keys and values. A word that does not parse
//! is a [`UsageError`](crate::out::UsageError) (exit 2). It uses only `out`.

use anyhow::Result;
use weft_dag::{Cid, Value};

use crate::out::usage;

/// A CID as `weft log` prints it.
pub(crate) fn cid(s: &str) -> Result<Cid> {
    s.parse::<Cid>().map_err(|e| usage(e.to_string()))
}

/// A value as `weft set` takes it.
pub(crate) fn value(s: &str) -> Result<Value> {
    Value::parse_cli(s).map_err(|e| usage(format!("invalid value {}: {e}", weft_dag::clip(s))))
}

/// Several values (`sadd`, `srem`).
pub(crate) fn values(inputs: &[String]) -> Result<Vec<Value>> {
    inputs.iter().map(|s| value(s)).collect()
}

/// A counter delta (`incr KEY DELTA`): an integer that fits in i64, which a float or a word is
/// not.
pub(crate) fn delta(s: &str) -> Result<i64, String> {
    s.trim().parse::<i64>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            format!("the delta {s} does not fit in a 64-bit integer")
        }
        _ => format!(
            "the delta must be an integer (such as 3 or -2), not {}",
            weft_dag::clip(s)
        ),
    })
}
