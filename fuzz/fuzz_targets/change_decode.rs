//! Change and block decoding: a block as a change (`Change::decode`, then `verify`), as a
//! DAG-CBOR value, and as a CID in binary and text form.
//!
//! Invariants: nothing panics; a decoded change re-encodes to exactly the input (decoding
//! rejects every non-canonical form, so a change has one encoding and one CID); a parsed CID
//! prints back to the exact input; a decoded value re-encodes to bytes that decode to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_dag::{Change, Value};
use weft_store::{Cid, Codec};

fuzz_target!(|data: &[u8]| {
    let cid = Cid::hash(Codec::DagCbor, data);
    assert!(cid.verify(data).is_ok());
    if let Ok(change) = Change::decode(&cid, data) {
        // `signing_bytes` is the map without `sig`, so the block is it plus the signature.
        let signing = change.signing_bytes();
        assert!(signing.len() < data.len() + weft_dag::change::SIGNING_DOMAIN.len());
        let _ = change.keys();
        let _ = change.is_genesis();
        let _ = change.verify(&cid);
    }
    // The same bytes under a raw CID are never a change.
    assert!(Change::decode(&Cid::hash(Codec::Raw, data), data).is_err());

    if let Ok(value) = Value::from_dag_cbor(data) {
        let bytes = value
            .to_dag_cbor()
            .unwrap_or_else(|e| panic!("a decoded value {value:?} re-encodes: {e}"));
        assert_eq!(Value::from_dag_cbor(&bytes).as_ref(), Ok(&value));
    }

    if let Ok(c) = Cid::from_bytes(data) {
        assert_eq!(&c.to_bytes()[..], data, "the binary form is canonical");
        assert_eq!(c.to_string().parse::<Cid>(), Ok(c));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = text.parse::<Cid>() {
            assert_eq!(c.to_string(), text, "the text form is canonical");
            assert_eq!(Cid::from_bytes(&c.to_bytes()), Ok(c));
        }
        let _ = text.parse::<weft_dag::DocId>();
    }
});
