//! The command-line value parser, `Value::parse_cli`, on any UTF-8 input.
//!
//! Invariants: nothing panics; a parsed value is storable (finite floats), its DAG-CBOR
//! encoding decodes back to it and is canonical (re-encoding gives the same bytes), and its
//! DAG-JSON form reads back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_dag::Value;

fuzz_target!(|input: &str| {
    let Ok(value) = Value::parse_cli(input) else {
        return;
    };
    assert_eq!(value.validate(), Ok(()), "{input:?} parsed to {value:?}");
    let cbor = value
        .to_dag_cbor()
        .unwrap_or_else(|e| panic!("{input:?} parsed to {value:?}, which does not encode: {e}"));
    let back = Value::from_dag_cbor(&cbor)
        .unwrap_or_else(|e| panic!("{value:?} encodes to bytes that do not decode: {e}"));
    assert_eq!(back, value, "DAG-CBOR round trip of {input:?}");
    assert_eq!(
        back.to_dag_cbor().as_ref(),
        Ok(&cbor),
        "one encoding per value"
    );
    assert_eq!(
        Value::from_json(&value.to_json()).as_ref(),
        Ok(&value),
        "DAG-JSON round trip of {input:?}"
    );
    let _ = value.to_string();
});
