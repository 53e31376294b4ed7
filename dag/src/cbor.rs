//! [`describe`]: a DAG-CBOR decoding error (serde_ipld_dagcbor's, whose `Display` is its
//! `Debug`, such as `UnorderedKey` or `Unsupported { name: "any", found: 250 }`) in words, for
//! every message that reports one. It uses no other module of the crate.

use std::fmt::Debug;

use serde_ipld_dagcbor::DecodeError;

/// `e` in words: what is wrong with the bytes, without the decoder's type names.
pub fn describe<E: Debug>(e: &DecodeError<E>) -> String {
    match e {
        DecodeError::Msg(m) => m.clone(),
        DecodeError::Read(e) => format!("cannot read the data: {e:?}"),
        DecodeError::Eof { name, .. } => format!("the data ends inside {}", what(name)),
        DecodeError::Mismatch { name, found } => {
            format!(
                "unexpected CBOR item (initial byte 0x{found:02x}) where {} belongs",
                what(name)
            )
        }
        DecodeError::Unsupported { found, .. } => format!(
            "a CBOR item that DAG-CBOR does not allow (initial byte 0x{found:02x}{})",
            match found {
                0xf9 | 0xfa => ": only 64-bit floats are allowed",
                0x1c..=0x1f | 0x3c..=0x3f | 0x5c..=0x5f | 0x7c..=0x7f =>
                    ": a reserved or indefinite length",
                0x9f | 0xbf => ": only definite lengths are allowed",
                _ => "",
            }
        ),
        DecodeError::RequireLength { name, .. } | DecodeError::LengthOverflow { name, .. } => {
            format!("a length too large for {}", what(name))
        }
        DecodeError::RequireBorrowed { name } => format!("{} cannot be read in place", what(name)),
        DecodeError::RequireUtf8 { name } => format!("{} is not valid UTF-8", what(name)),
        DecodeError::CastOverflow { name } | DecodeError::ArithmeticOverflow { name, .. } => {
            format!("a number too large for {}", what(name))
        }
        DecodeError::DepthOverflow { .. } => {
            "arrays and maps nested deeper than the decoder reads (128 levels)".into()
        }
        DecodeError::LengthMismatch { expect, value, .. } => {
            format!("{value} entries where {expect} were expected")
        }
        DecodeError::TrailingData => "bytes after the end of the data".into(),
        DecodeError::IndefiniteSize => {
            "an indefinite-length item (DAG-CBOR allows only definite lengths)".into()
        }
        DecodeError::NonMinimal { name, .. } => {
            format!("{} is not minimally encoded", what(name))
        }
        DecodeError::UnorderedKey => {
            "map keys out of DAG-CBOR's order (shorter keys first, then bytewise)".into()
        }
    }
}

/// The decoder's name for what it was reading, in words.
fn what(name: &str) -> String {
    match name {
        "any" => "a value".into(),
        "str" | "string" => "a text string".into(),
        "bytes" => "a byte string".into(),
        "array" | "seq" => "an array".into(),
        "map" => "a map".into(),
        "tag" => "a tag".into(),
        other => format!("a {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_errors_read_as_words() {
        let e: DecodeError<std::convert::Infallible> = DecodeError::Unsupported {
            name: "any",
            found: 250,
        };
        assert_eq!(
            describe(&e),
            "a CBOR item that DAG-CBOR does not allow (initial byte 0xfa: only 64-bit floats are allowed)"
        );
        let e: DecodeError<std::convert::Infallible> = DecodeError::UnorderedKey;
        assert!(!describe(&e).contains("Unordered"));
    }
}
