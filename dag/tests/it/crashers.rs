//! The saved inputs of the fuzz targets whose decoders are this crate's (`fuzz/crashers/`, see
//! `fuzz/README.md`), replayed through the entry points the targets call: every call returns,
//! `Ok` or `Err`, and none panics.

use weft_dag::{change, Change, DocId, Value};
use weft_store::{Cid, Codec};
use weft_testkit::replay;

/// `change_decode`: the input as a change block (decoded, then verified alone, from the block
/// and in a batch), under a raw CID, as a DAG-CBOR value, and as a CID and a document id in
/// binary and text form.
#[test]
fn change_decode_crashers_return() {
    replay("change_decode", |data| {
        let cid = Cid::hash(Codec::DagCbor, data);
        if let Ok(decoded) = Change::decode(&cid, data) {
            let _ = change::signed_message(data);
            let _ = decoded.signing_bytes();
            let _ = decoded.keys();
            let _ = decoded.verify(&cid);
            let _ = decoded.verify_decoded(&cid, data);
            let _ = change::verify_batch(&[(&cid, &decoded, data)]);
        }
        let _ = Change::decode(&Cid::hash(Codec::Raw, data), data);
        if let Ok(value) = Value::from_dag_cbor(data) {
            let _ = value.to_dag_cbor();
        }
        let _ = Cid::from_bytes(data);
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = text.parse::<Cid>();
            let _ = text.parse::<DocId>();
        }
    });
}

/// `value_parser`: the input (if UTF-8, as libFuzzer hands the target a `&str` only then)
/// through `Value::parse_cli`, and a parsed value through its encodings.
#[test]
fn value_parser_crashers_return() {
    replay("value_parser", |data| {
        let Ok(input) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(value) = Value::parse_cli(input) {
            let _ = value.validate();
            if let Ok(cbor) = value.to_dag_cbor() {
                let _ = Value::from_dag_cbor(&cbor);
            }
            let _ = Value::from_json(&value.to_json());
            let _ = value.to_string();
        }
    });
}
