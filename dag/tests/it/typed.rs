//! Typed access and rows: Rust types to and from `Value` through serde (ints stay ints, floats
//! floats, bytes bytes, CIDs links), `State::get_as`, `Transaction::set_as`, and `State::rows`,
//! `rows_as` and `Transaction::del_rows`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weft_dag::{Cid, Codec, Error, Kind, Repo, Value, ValueError, ROW_SELF};
use weft_testkit::identity;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Status {
    Open,
    Blocked(String),
    Moved { to: i64, why: Option<String> },
    Pair(i32, bool),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Todo {
    title: String,
    done: bool,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Everything {
    small: i32,
    min: i64,
    max: i64,
    unsigned: u64,
    ratio: f64,
    whole_float: f64,
    name: String,
    letter: char,
    #[serde(with = "serde_bytes")]
    blob: Vec<u8>,
    link: Cid,
    maybe: Option<Cid>,
    none: Option<u8>,
    list: Vec<Vec<i64>>,
    map: BTreeMap<String, BTreeMap<String, u8>>,
    statuses: Vec<Status>,
    tuple: (u8, String),
    unit: (),
    raw: Value,
}

fn cid(data: &[u8]) -> Cid {
    Cid::hash(Codec::Raw, data)
}

fn everything() -> Everything {
    Everything {
        small: -7,
        min: i64::MIN,
        max: i64::MAX,
        unsigned: i64::MAX as u64,
        ratio: 0.25,
        whole_float: 3.0,
        name: "milk".into(),
        letter: 'λ',
        blob: vec![0, 1, 255],
        link: cid(b"a"),
        maybe: Some(cid(b"b")),
        none: None,
        list: vec![vec![], vec![1, 2]],
        map: BTreeMap::from([("x".into(), BTreeMap::from([("y".into(), 9)]))]),
        statuses: vec![
            Status::Open,
            Status::Blocked("rain".into()),
            Status::Moved { to: 4, why: None },
            Status::Pair(-1, true),
        ],
        tuple: (1, "one".into()),
        unit: (),
        raw: Value::Array(vec![Value::Link(cid(b"c")), Value::Bytes(vec![7])]),
    }
}

#[test]
fn round_trip_keeps_every_kind() {
    let e = everything();
    let v = Value::from_serde(&e).unwrap();
    v.validate().unwrap();
    let Value::Map(m) = &v else {
        panic!("a struct is a map: {v:?}")
    };
    assert_eq!(m["small"], Value::Int(-7));
    assert_eq!(m["min"], Value::Int(i64::MIN));
    assert_eq!(m["max"], Value::Int(i64::MAX));
    assert_eq!(m["unsigned"], Value::Int(i64::MAX));
    assert_eq!(m["ratio"], Value::Float(0.25));
    assert_eq!(m["whole_float"], Value::Float(3.0), "a float stays a float");
    assert_eq!(m["letter"], Value::from("λ"));
    assert_eq!(m["blob"], Value::Bytes(vec![0, 1, 255]));
    assert_eq!(m["link"], Value::Link(cid(b"a")));
    assert_eq!(m["maybe"], Value::Link(cid(b"b")));
    assert_eq!(m["none"], Value::Null);
    assert_eq!(m["unit"], Value::Null);
    assert_eq!(m["tuple"], Value::Array(vec![Value::Int(1), "one".into()]));
    assert_eq!(
        m["statuses"].to_json(),
        serde_json::json!(["Open", {"Blocked": "rain"}, {"Moved": {"to": 4, "why": null}},
            {"Pair": [-1, true]}])
    );
    assert_eq!(m["raw"], e.raw);
    // Through DAG-CBOR and back, then into the type again.
    let stored = Value::from_dag_cbor(&v.to_dag_cbor().unwrap()).unwrap();
    assert_eq!(stored, v);
    assert_eq!(stored.to_serde::<Everything>().unwrap(), e);
    // A Value reads as itself.
    assert_eq!(v.to_serde::<Value>().unwrap(), v);
    assert_eq!(Value::from_serde(&v).unwrap(), v);
}

#[test]
fn ints_and_floats_stay_apart() {
    assert_eq!(Value::from_serde(&1u8).unwrap(), Value::Int(1));
    assert_eq!(Value::from_serde(&1.0f64).unwrap(), Value::Float(1.0));
    assert_eq!(Value::from_serde(&1.5f32).unwrap(), Value::Float(1.5));
    // An integer reads as a float; a float never as an integer.
    assert_eq!(Value::Int(3).to_serde::<f64>().unwrap(), 3.0);
    assert!(matches!(
        Value::Float(3.0).to_serde::<i64>(),
        Err(ValueError::Serde(_))
    ));
    assert_eq!(Value::Int(-1).to_serde::<i8>().unwrap(), -1);
    assert!(Value::Int(300).to_serde::<u8>().is_err());
    assert!(Value::Int(-1).to_serde::<u64>().is_err());
    assert_eq!(
        Value::Int(i64::MAX).to_serde::<u64>().unwrap(),
        i64::MAX as u64
    );
    assert_eq!(
        Value::Int(i64::MIN).to_serde::<i128>().unwrap(),
        i128::from(i64::MIN)
    );
}

#[test]
fn what_cannot_be_a_value_is_an_error() {
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(matches!(
            Value::from_serde(&f),
            Err(ValueError::NonFinite(_))
        ));
        assert!(matches!(
            Value::from_serde(&vec![1.0, f]),
            Err(ValueError::NonFinite(_))
        ));
    }
    assert!(matches!(
        Value::from_serde(&u64::MAX),
        Err(ValueError::IntOutOfRange(_))
    ));
    assert!(matches!(
        Value::from_serde(&(i128::from(i64::MIN) - 1)),
        Err(ValueError::IntOutOfRange(_))
    ));
    let int_keys = BTreeMap::from([(1u32, "one")]);
    let err = Value::from_serde(&int_keys).unwrap_err();
    assert!(matches!(err, ValueError::MapKey(_)), "{err:?}");
    assert_eq!(err.to_string(), "map keys must be strings, got 1");
    // Char keys are strings.
    assert_eq!(
        Value::from_serde(&BTreeMap::from([('k', 1)])).unwrap(),
        Value::Map(BTreeMap::from([("k".into(), Value::Int(1))]))
    );
}

#[test]
fn mismatches_say_what_they_found() {
    let v = Value::from_serde(&BTreeMap::from([("title", "milk")])).unwrap();
    let err = v.to_serde::<Todo>().unwrap_err();
    assert!(err.to_string().contains("done"), "{err}");
    assert!(Value::from("x").to_serde::<Cid>().is_err());
    assert!(Value::from("Nope").to_serde::<Status>().is_err());
    assert!(Value::Int(1).to_serde::<Status>().is_err());
    assert_eq!(Value::Null.to_serde::<Option<Todo>>().unwrap(), None);
    // Bytes read as a byte buffer and as an array of numbers.
    let bytes = Value::Bytes(vec![1, 2]);
    assert_eq!(
        bytes.to_serde::<serde_bytes::ByteBuf>().unwrap().into_vec(),
        vec![1, 2]
    );
    assert_eq!(
        Value::Array(vec![Value::Int(1), Value::Int(2)])
            .to_serde::<serde_bytes::ByteBuf>()
            .unwrap()
            .into_vec(),
        vec![1, 2]
    );
}

#[test]
fn from_the_common_types() {
    assert_eq!(Value::from(7i32), Value::Int(7));
    assert_eq!(Value::from(7u32), Value::Int(7));
    assert_eq!(Value::from(0.5), Value::Float(0.5));
    assert_eq!(Value::from(vec![1u8, 2]), Value::Bytes(vec![1, 2]));
    assert_eq!(Value::from(&b"ab"[..]), Value::Bytes(b"ab".to_vec()));
    assert_eq!(
        Value::from(vec![Value::Int(1)]),
        Value::Array(vec![Value::Int(1)])
    );
    assert_eq!(Value::from(cid(b"x")), Value::Link(cid(b"x")));
    assert_eq!(Value::from(BTreeMap::new()), Value::Map(BTreeMap::new()));
    assert_eq!(Value::from(None::<i64>), Value::Null);
    assert_eq!(Value::from(Some("a")), Value::from("a"));
}

#[test]
fn typed_reads_and_writes() {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    let todo = Todo {
        title: "milk".into(),
        done: false,
        note: Some("2%".into()),
    };
    let mut tx = repo.transaction(doc);
    tx.set_as("todo", &todo).unwrap();
    tx.set_as("n", &5u16).unwrap();
    assert!(matches!(
        tx.set_as("bad", &f64::NAN),
        Err(Error::InvalidValue(ValueError::NonFinite(_)))
    ));
    tx.commit().unwrap();
    let state = repo.state(doc);
    assert_eq!(state.get_as::<Todo>("todo").unwrap(), Some(todo));
    assert_eq!(state.get_as::<u16>("n").unwrap(), Some(5));
    assert_eq!(state.get_as::<Todo>("absent").unwrap(), None);
    let err = state.get_as::<Todo>("n").unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { ref key, .. } if key == "n"));
    assert_eq!(err.kind(), weft_dag::ErrorKind::WrongType);
}

fn todos(repo: &Repo) -> weft_dag::DocId {
    let doc = repo.doc("main").unwrap();
    let mut tx = repo.transaction(doc);
    tx.set("todo/1/title", "milk").unwrap();
    tx.set("todo/1/done", false).unwrap();
    tx.set("todo/2/title", "eggs").unwrap();
    tx.set("todo/2/done", true).unwrap();
    tx.set("todo/2/note", Value::Null).unwrap();
    tx.set("todos", "not a row").unwrap();
    tx.set("other", 1i64).unwrap();
    tx.commit().unwrap();
    doc
}

#[test]
fn rows_nest_by_path() {
    let repo = Repo::memory(identity(1));
    let doc = todos(&repo);
    let state = repo.state(doc);
    let rows = state.rows("todo/").unwrap();
    assert_eq!(
        rows.to_json(),
        serde_json::json!({
            "1": {"title": "milk", "done": false},
            "2": {"title": "eggs", "done": true, "note": null},
        })
    );
    // Without the slash the same rows; `todos` is not among them.
    assert_eq!(state.rows("todo").unwrap(), rows);
    let typed: BTreeMap<String, Todo> = state.rows_as("todo").unwrap();
    assert_eq!(typed["1"].title, "milk");
    assert!(typed["2"].done);
    assert_eq!(
        state.rows_as::<Todo>("todo/1").unwrap(),
        Todo {
            title: "milk".into(),
            done: false,
            note: None
        }
    );
    // The whole document, and nothing under a prefix without keys.
    let all = state.rows("").unwrap();
    assert_eq!(all.to_json()["todos"], serde_json::json!("not a row"));
    assert_eq!(state.rows("none/").unwrap(), Value::Map(BTreeMap::new()));
    let err = state.rows_as::<Vec<Todo>>("todo/").unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { ref key, .. } if key == "todo/"));
}

#[test]
fn a_leaf_that_is_also_a_prefix_goes_under_row_self() {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    let mut tx = repo.transaction(doc);
    tx.set("t/1", "the row itself").unwrap();
    tx.set("t/1/title", "milk").unwrap();
    tx.set("t/1/a/b", 1i64).unwrap();
    tx.set(
        "t/1/a",
        Value::Map(BTreeMap::from([("b".into(), 2.into())])),
    )
    .unwrap();
    tx.set("t/2/", "empty segment").unwrap();
    tx.incr("t/3/votes", 4).unwrap();
    tx.add("t/3/tags", "x").unwrap();
    tx.add("t/3/tags", "y").unwrap();
    tx.commit().unwrap();
    assert_eq!(ROW_SELF, "/");
    assert_eq!(
        repo.state(doc).rows("t").unwrap(),
        Value::from_serde(&serde_json::json!({
            "1": {"/": "the row itself", "title": "milk", "a": {"/": {"b": 2}, "b": 1}},
            "2": {"": "empty segment"},
            "3": {"votes": 4, "tags": ["x", "y"]},
        }))
        .unwrap()
    );
}

#[test]
fn del_rows_deletes_a_row_in_one_change() {
    let repo = Repo::memory(identity(1));
    let doc = todos(&repo);
    let mut tx = repo.transaction(doc);
    tx.incr("todo/1/votes", 3).unwrap();
    tx.add("todo/1/tags", "home").unwrap();
    tx.commit().unwrap();
    let mut tx = repo.transaction(doc);
    tx.set("todo/1/pending", 1i64).unwrap();
    tx.add("todo/1/tags", "new").unwrap();
    tx.del_rows("todo/1").unwrap();
    let change = tx.commit().unwrap().expect("a change");
    // Two register deletes, the counter's decrement, the stored tag's remove; the pending set
    // and add are dropped from the transaction.
    assert_eq!(change.change.ops.len(), 4, "{:?}", change.change.ops);
    let state = repo.state(doc);
    // The counter has no delete: it is back to 0 and stays; everything else is gone.
    assert_eq!(
        state.rows("todo/1").unwrap().to_json(),
        serde_json::json!({"votes": 0})
    );
    assert_eq!(
        state.rows("todo").unwrap().to_json()["2"]["title"],
        serde_json::json!("eggs")
    );
    assert_eq!(state.get("todos").unwrap(), Some("not a row".into()));
    // A prefix with no key.
    let mut tx = repo.transaction(doc);
    let err = tx.del_rows("none").unwrap_err();
    assert!(matches!(err, Error::KeyNotFound { ref key } if key == "none/"));
    drop(tx);
    // A counter at i64::MIN goes back to 0 too; a key of the wrong kind is untouched.
    let mut tx = repo.transaction(doc);
    tx.incr("c/low", i64::MIN).unwrap();
    tx.commit().unwrap();
    let mut tx = repo.transaction(doc);
    tx.del_rows("c").unwrap();
    tx.commit().unwrap();
    assert_eq!(repo.state(doc).get("c/low").unwrap(), Some(Value::Int(0)));
    assert_eq!(
        repo.state(doc).entry("c/low").unwrap().unwrap().kind(),
        Kind::Counter
    );
}

#[test]
fn del_rows_past_the_op_limit_fails_on_commit() {
    let repo = Repo::memory(identity(1));
    let doc = repo.doc("main").unwrap();
    let half = weft_dag::change::MAX_OPS / 2 + 1;
    for part in 0..2 {
        let mut tx = repo.transaction(doc);
        for i in 0..half {
            tx.set(&format!("big/{part}/{i}"), 1i64).unwrap();
        }
        tx.commit().unwrap();
    }
    let mut tx = repo.transaction(doc);
    tx.del_rows("big").unwrap();
    assert!(matches!(
        tx.commit(),
        Err(Error::ChangeTooLarge { ops, .. }) if ops == 2 * half
    ));
    // One part at a time fits.
    for part in ["big/0", "big/1"] {
        let mut tx = repo.transaction(doc);
        tx.set(&format!("{part}/extra"), 1i64).unwrap();
        tx.del_rows(part).unwrap();
        tx.commit().unwrap();
    }
    assert_eq!(
        repo.state(doc).rows("big").unwrap(),
        Value::Map(BTreeMap::new())
    );
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
enum Tagged {
    Note { text: String, at: i64 },
    Attachment { link: Cid, size: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Loose {
    Int(i64),
    Float(f64),
    Link(Cid),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flat {
    id: u32,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// Internally tagged, untagged and flattened types go through serde's buffering, which sees
/// each kind of value as `deserialize_any` presents it.
#[test]
fn buffered_representations_round_trip() {
    for t in [
        Tagged::Note {
            text: "hi".into(),
            at: i64::MIN,
        },
        Tagged::Attachment {
            link: cid(b"file"),
            size: 7,
        },
    ] {
        let v = Value::from_serde(&t).unwrap();
        assert_eq!(v.to_serde::<Tagged>().unwrap(), t);
    }
    for l in [
        Loose::Int(-3),
        Loose::Float(2.5),
        Loose::Link(cid(b"x")),
        Loose::Text("t".into()),
    ] {
        let v = Value::from_serde(&l).unwrap();
        assert_eq!(v.to_serde::<Loose>().unwrap(), l);
    }
    let flat = Flat {
        id: 1,
        rest: BTreeMap::from([
            ("blob".into(), Value::Bytes(vec![1])),
            ("link".into(), Value::Link(cid(b"y"))),
            ("n".into(), Value::Int(i64::MAX)),
        ]),
    };
    let v = Value::from_serde(&flat).unwrap();
    assert_eq!(v.to_serde::<Flat>().unwrap(), flat);
}
