//! [`Value`]: the JSON-like data a register or a set member holds.
//!
//! Values are stored as DAG-CBOR. Their JSON form follows DAG-JSON: a link is `{"/": "b..."}` and
//! bytes are `{"/": {"bytes": "<base64, no padding>"}}`.
//!
//! Typed access goes through serde: [`Value::from_serde`] makes a value from any `Serialize`
//! type and [`Value::to_serde`] reads one back as any `Deserialize` type, without JSON in
//! between, so an integer stays [`Value::Int`], a float [`Value::Float`], `serde_bytes` bytes
//! [`Value::Bytes`] and a [`Cid`] a [`Value::Link`] (the rules are in `ser.rs` and `de.rs`).

use std::{collections::BTreeMap, fmt};

use base64::Engine as _;
use ipld_core::ipld::Ipld;
use weft_store::{Cid, ErrorKind};

mod de;
mod ser;

pub use ser::Serializer;

/// A JSON-like value: null, bool, i64, finite f64, string, bytes, CID link, arrays and maps.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A finite 64-bit float.
    Float(f64),
    /// UTF-8 text.
    String(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A link to a block.
    Link(Cid),
    /// An ordered list.
    Array(Vec<Value>),
    /// A map with string keys.
    Map(BTreeMap<String, Value>),
}

/// A value that weft cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// NaN or an infinity.
    #[error("floats must be finite, got {0}")]
    NonFinite(String),
    /// An integer outside i64.
    #[error("integer {0} does not fit in 64 bits")]
    IntOutOfRange(String),
    /// A link to a CID weft does not use.
    #[error("unsupported link: {0}")]
    Link(String),
    /// Bytes that are not valid DAG-CBOR for a value.
    #[error("not a DAG-CBOR value: {0}")]
    Decode(String),
    /// A malformed DAG-JSON special form.
    #[error("bad DAG-JSON {0}")]
    DagJson(String),
    /// A map key that is not a string (typed access only; the key is shown as DAG-JSON).
    #[error("map keys must be strings, got {0}")]
    MapKey(String),
    /// A Rust type that does not match the value, or a `Serialize` impl that failed.
    #[error("{0}")]
    Serde(String),
    /// Arrays and maps nested deeper than [`MAX_DEPTH`] (or JSON deeper than its parser reads).
    #[error("arrays and maps may be nested at most {max} deep")]
    TooDeep {
        /// [`MAX_DEPTH`].
        max: usize,
    },
}

/// How deep a value may nest arrays and maps (`[1]` is 1 deep, `{"a": [1]}` 2). The DAG-CBOR
/// decoder (serde_ipld_dagcbor, on cbor4ii's reader) allows 256 steps in, and takes two per
/// array or map, so 128 levels decode; a change puts three of them above each value (its own
/// map, the `ops` list, the op's map). A deeper value would make a change that no replica,
/// this one included, could decode again, so [`Value::validate`] refuses it.
pub const MAX_DEPTH: usize = 125;

impl ValueError {
    /// Always [`ErrorKind::InvalidInput`]: the value came from the caller.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

impl Value {
    /// Makes a value from any `Serialize` type: integers become [`Value::Int`] (an unsigned or
    /// 128-bit integer outside i64 is [`ValueError::IntOutOfRange`]), floats [`Value::Float`]
    /// (NaN and infinities are [`ValueError::NonFinite`]), `serde_bytes` bytes
    /// [`Value::Bytes`], a [`Cid`] a [`Value::Link`], `None` and `()` [`Value::Null`], structs and
    /// maps [`Value::Map`] (a key that is not a string is [`ValueError::MapKey`]), sequences and
    /// tuples [`Value::Array`]. Enums are externally tagged, as serde_json does. The result
    /// always passes [`Value::validate`].
    pub fn from_serde<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
        value.serialize(Serializer)
    }

    /// Reads the value as any `Deserialize` type, the inverse of [`Value::from_serde`]. An
    /// [`Value::Int`] also reads as a float; a [`Value::Float`] never reads as an integer. A
    /// mismatch is [`ValueError::Serde`].
    pub fn to_serde<T: serde::de::DeserializeOwned>(&self) -> Result<T, ValueError> {
        T::deserialize(self)
    }

    /// Converts from the IPLD data model.
    pub fn from_ipld(ipld: Ipld) -> Result<Value, ValueError> {
        Ok(match ipld {
            Ipld::Null => Value::Null,
            Ipld::Bool(b) => Value::Bool(b),
            Ipld::Integer(i) => {
                Value::Int(i64::try_from(i).map_err(|_| ValueError::IntOutOfRange(i.to_string()))?)
            }
            Ipld::Float(f) if f.is_finite() => Value::Float(f),
            Ipld::Float(f) => return Err(ValueError::NonFinite(f.to_string())),
            Ipld::String(s) => Value::String(s),
            Ipld::Bytes(b) => Value::Bytes(b),
            Ipld::List(l) => Value::Array(
                l.into_iter()
                    .map(Value::from_ipld)
                    .collect::<Result<_, _>>()?,
            ),
            Ipld::Map(m) => Value::Map(
                m.into_iter()
                    .map(|(k, v)| Ok((k, Value::from_ipld(v)?)))
                    .collect::<Result<_, ValueError>>()?,
            ),
            Ipld::Link(c) => {
                Value::Link(Cid::try_from(c).map_err(|e| ValueError::Link(e.to_string()))?)
            }
        })
    }

    /// Converts to the IPLD data model.
    pub fn to_ipld(&self) -> Ipld {
        match self {
            Value::Null => Ipld::Null,
            Value::Bool(b) => Ipld::Bool(*b),
            Value::Int(i) => Ipld::Integer(i128::from(*i)),
            Value::Float(f) => Ipld::Float(*f),
            Value::String(s) => Ipld::String(s.clone()),
            Value::Bytes(b) => Ipld::Bytes(b.clone()),
            Value::Link(c) => Ipld::Link(c.to_cid()),
            Value::Array(a) => Ipld::List(a.iter().map(Value::to_ipld).collect()),
            Value::Map(m) => Ipld::Map(m.iter().map(|(k, v)| (k.clone(), v.to_ipld())).collect()),
        }
    }

    /// Checks that the value can be stored: floats finite, all the way down, and arrays and maps
    /// nested at most [`MAX_DEPTH`] deep.
    pub fn validate(&self) -> Result<(), ValueError> {
        self.validate_at(0)
    }

    /// [`Value::validate`] of a value inside `depth` arrays and maps.
    fn validate_at(&self, depth: usize) -> Result<(), ValueError> {
        let inner = depth + 1;
        if matches!(self, Value::Array(_) | Value::Map(_)) && inner > MAX_DEPTH {
            return Err(ValueError::TooDeep { max: MAX_DEPTH });
        }
        match self {
            Value::Float(f) if !f.is_finite() => Err(ValueError::NonFinite(f.to_string())),
            Value::Array(a) => a.iter().try_for_each(|v| v.validate_at(inner)),
            Value::Map(m) => m.values().try_for_each(|v| v.validate_at(inner)),
            _ => Ok(()),
        }
    }

    /// The canonical DAG-CBOR encoding.
    pub fn to_dag_cbor(&self) -> Result<Vec<u8>, ValueError> {
        self.validate()?;
        serde_ipld_dagcbor::to_vec(&self.to_ipld()).map_err(|e| ValueError::Decode(e.to_string()))
    }

    /// Decodes canonical DAG-CBOR.
    pub fn from_dag_cbor(bytes: &[u8]) -> Result<Value, ValueError> {
        let ipld: Ipld = serde_ipld_dagcbor::from_slice(bytes)
            .map_err(|e| ValueError::Decode(crate::cbor::describe(&e)))?;
        Value::from_ipld(ipld)
    }

    /// The DAG-JSON form as a `serde_json::Value`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Bytes(b) => {
                let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(b);
                serde_json::json!({"/": {"bytes": b64}})
            }
            Value::Link(c) => serde_json::json!({"/": c.to_string()}),
            Value::Array(a) => J::Array(a.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// Reads the DAG-JSON form.
    pub fn from_json(json: &serde_json::Value) -> Result<Value, ValueError> {
        use serde_json::Value as J;
        Ok(match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if n.is_u64() {
                    return Err(ValueError::IntOutOfRange(n.to_string()));
                } else {
                    match n.as_f64() {
                        Some(f) if f.is_finite() => Value::Float(f),
                        _ => return Err(ValueError::NonFinite(n.to_string())),
                    }
                }
            }
            J::String(s) => Value::String(s.clone()),
            J::Array(a) => Value::Array(a.iter().map(Value::from_json).collect::<Result<_, _>>()?),
            J::Object(m) => {
                if let Some(special) = m.get("/").filter(|_| m.len() == 1) {
                    return match special {
                        J::String(s) => s
                            .parse::<Cid>()
                            .map(Value::Link)
                            .map_err(|e| ValueError::DagJson(format!("link: {e}"))),
                        J::Object(inner) if inner.len() == 1 => match inner.get("bytes") {
                            Some(J::String(b64)) => {
                                base64::engine::general_purpose::STANDARD_NO_PAD
                                    .decode(b64.trim_end_matches('='))
                                    .map(Value::Bytes)
                                    .map_err(|e| ValueError::DagJson(format!("bytes: {e}")))
                            }
                            _ => Err(ValueError::DagJson(
                                "`{\"/\": {...}}` must be {\"/\": {\"bytes\": \"<base64>\"}}"
                                    .into(),
                            )),
                        },
                        _ => Err(ValueError::DagJson(
                            "`{\"/\": ...}` must hold a CID string or {\"bytes\": ...}".into(),
                        )),
                    };
                }
                Value::Map(
                    m.iter()
                        .map(|(k, v)| Ok((k.clone(), Value::from_json(v)?)))
                        .collect::<Result<_, ValueError>>()?,
                )
            }
        })
    }

    /// Parses a command-line value: JSON (DAG-JSON) if it parses as JSON, else a plain string.
    pub fn parse_cli(input: &str) -> Result<Value, ValueError> {
        let t = input.trim();
        let integer_like = number_like(t) && t.bytes().all(|b| b == b'-' || b.is_ascii_digit());
        if integer_like && t.parse::<i64>().is_err() {
            // serde_json would turn it into a lossy float; refuse instead of guessing.
            return Err(ValueError::IntOutOfRange(t.to_string()));
        }
        match serde_json::from_str::<serde_json::Value>(input) {
            Ok(json) => {
                let value = Value::from_json(&json)?;
                value.validate()?;
                Ok(value)
            }
            // Deeper than serde_json reads (128): JSON, but deeper than a value may be.
            Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
                Err(ValueError::TooDeep { max: MAX_DEPTH })
            }
            Err(_) if number_like(t) => Err(ValueError::NonFinite(t.to_string())),
            Err(_) => Ok(Value::String(input.to_string())),
        }
    }
}

/// Whether `t` is a number by JSON's grammar (`-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`),
/// for telling an out-of-range number from a plain string such as `02139`.
fn number_like(t: &str) -> bool {
    let t = t.strip_prefix('-').unwrap_or(t);
    let mut chars = t.chars().peekable();
    let mut digits = 0;
    let leading_zero = chars.peek() == Some(&'0');
    while chars.peek().is_some_and(char::is_ascii_digit) {
        chars.next();
        digits += 1;
    }
    if digits == 0 || (leading_zero && digits > 1) {
        return false;
    }
    if chars.peek() == Some(&'.') {
        chars.next();
        while chars.peek().is_some_and(char::is_ascii_digit) {
            chars.next();
        }
    }
    if matches!(chars.peek(), Some('e' | 'E')) {
        chars.next();
        if matches!(chars.peek(), Some('+' | '-')) {
            chars.next();
        }
        while chars.peek().is_some_and(char::is_ascii_digit) {
            chars.next();
        }
    }
    chars.next().is_none()
}

impl fmt::Display for Value {
    /// Compact DAG-JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Value {
        Value::Int(i.into())
    }
}

impl From<u32> for Value {
    fn from(i: u32) -> Value {
        Value::Int(i.into())
    }
}

/// A float as it is: a NaN or infinity is refused where the value is written
/// ([`Value::validate`]).
impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

/// Bytes, not an array: `Vec<Value>` makes an array.
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Bytes(b)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Value {
        Value::Bytes(b.to_vec())
    }
}

impl From<Cid> for Value {
    fn from(c: Cid) -> Value {
        Value::Link(c)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Value {
        Value::Array(a)
    }
}

impl From<BTreeMap<String, Value>> for Value {
    fn from(m: BTreeMap<String, Value>) -> Value {
        Value::Map(m)
    }
}

/// `None` is [`Value::Null`].
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Value {
        o.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_values() {
        assert_eq!(Value::parse_cli("42").unwrap(), Value::Int(42));
        assert_eq!(Value::parse_cli("milk").unwrap(), Value::from("milk"));
        assert_eq!(Value::parse_cli("\"42\"").unwrap(), Value::from("42"));
        assert_eq!(Value::parse_cli("1.5").unwrap(), Value::Float(1.5));
        assert!(matches!(
            Value::parse_cli("18446744073709551615"),
            Err(ValueError::IntOutOfRange(_))
        ));
        let v = Value::parse_cli(r#"{"title":"milk","n":[1,null,true]}"#).unwrap();
        assert_eq!(
            v.to_json(),
            serde_json::json!({"title":"milk","n":[1,null,true]})
        );
        let c = Cid::hash(weft_store::Codec::Raw, b"x");
        let link = Value::parse_cli(&format!(r#"{{"/":"{c}"}}"#)).unwrap();
        assert_eq!(link, Value::Link(c));
        let bytes = Value::parse_cli(r#"{"/":{"bytes":"aGk"}}"#).unwrap();
        assert_eq!(bytes, Value::Bytes(b"hi".to_vec()));
        assert!(Value::parse_cli(r#"{"/":"nope"}"#).is_err());
        assert!(matches!(
            Value::parse_cli("18446744073709551616"),
            Err(ValueError::IntOutOfRange(_))
        ));
        assert!(matches!(
            Value::parse_cli("1e400"),
            Err(ValueError::NonFinite(_))
        ));
        assert_eq!(Value::parse_cli("1e3").unwrap(), Value::Float(1000.0));
        assert_eq!(Value::parse_cli("12abc").unwrap(), Value::from("12abc"));
        assert_eq!(Value::parse_cli("NaN").unwrap(), Value::from("NaN"));
        assert_eq!(Value::parse_cli("02139").unwrap(), Value::from("02139"));
        assert_eq!(
            Value::parse_cli("012345678901234567890123").unwrap(),
            Value::from("012345678901234567890123")
        );
    }

    #[test]
    fn dag_cbor_round_trip() {
        let v =
            Value::parse_cli(r#"{"b":1.5,"a":[1,"x",null],"aa":{"/":{"bytes":"AAE"}}}"#).unwrap();
        let bytes = v.to_dag_cbor().unwrap();
        assert_eq!(Value::from_dag_cbor(&bytes).unwrap(), v);
        assert!(Value::Float(f64::NAN).to_dag_cbor().is_err());
    }
}
