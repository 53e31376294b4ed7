//! Change and block decoding: a block as a change (`Change::decode`, then `verify`), as a
//! DAG-CBOR value, and as a CID in binary and text form.
//!
//! Invariants: nothing panics; a decoded change re-encodes to exactly the input (decoding
//! rejects every non-canonical form, so a change has one encoding and one CID: the message cut
//! out of the block is the one encoded from the change); verifying from the fields, from the
//! block and in a batch give one answer; a parsed CID prints back to the exact input; a decoded
//! value re-encodes to bytes that decode to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_dag::{Change, Value};
use weft_store::{Cid, Codec};

fuzz_target!(|data: &[u8]| {
    let cid = Cid::hash(Codec::DagCbor, data);
    assert!(cid.verify(data).is_ok());
    if let Ok(change) = Change::decode(&cid, data) {
        // `signing_bytes` is the map without `sig`, encoded from the decoded fields; the same
        // bytes cut out of the block mean the block is exactly what encoding the change gives
        // (decoding checks that by a pass over the bytes, without encoding).
        let signing = change.signing_bytes();
        assert!(signing.len() < data.len() + weft_dag::change::SIGNING_DOMAIN.len());
        assert_eq!(
            weft_dag::change::signed_message(data).as_ref(),
            Some(&signing),
            "a decoded change is its one encoding"
        );
        let _ = change.keys();
        let _ = change.is_genesis();
        // One rule, however the message is found and however many are checked at once.
        let verified = change.verify(&cid);
        assert_eq!(change.verify_decoded(&cid, data), verified);
        assert_eq!(
            weft_dag::change::verify_batch(&[(&cid, &change, data)]),
            vec![verified]
        );
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
