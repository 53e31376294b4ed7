//! Access over `tcp://` ([`weft_sync::access`] behind the Noise handshake): `--allow` reads
//! everything, a reader its documents, and a stranger is refused with the reason. What a key
//! may read and push is tested through the session in `weft-sync`'s tests.

use weft_dag::{Author, DocId, Repo, Role, Value};
use weft_net::transport;
use weft_sync::{Direction, Error};

use crate::{
    assert_same, empty, identity,
    noise::{as_key, remote, serve},
    opts,
};

/// The owner (seed 1) of `main` and `secret`; `main` has a reader (seed 3) and a writer (seed
/// 4). Returns the repo and the two documents.
fn owner() -> (Repo, DocId, DocId) {
    let repo = empty(1);
    let main = repo.create_doc("main").unwrap();
    let secret = repo.create_doc("secret").unwrap();
    for (doc, key) in [(main, "m"), (secret, "s")] {
        let mut tx = repo.transaction(doc);
        tx.set(key, Value::from("v")).unwrap();
        tx.commit().unwrap();
    }
    let mut tx = repo.transaction(main);
    tx.grant(identity(3).author(), Role::Reader).unwrap();
    tx.grant(identity(4).author(), Role::Writer).unwrap();
    tx.commit().unwrap();
    (repo, main, secret)
}

fn stranger() -> Author {
    identity(5).author()
}

#[test]
fn over_tcp_allow_reads_and_a_stranger_is_refused() {
    let (server, main, secret) = owner();
    let server_key = identity(1).author();
    let reference = empty(8);
    crate::sync(&reference, &server, Direction::Pull);
    let allowed = identity(6);
    let addr = serve(server, identity(1), vec![allowed.author()]);
    let url = remote(addr, Some(server_key));

    // --allow: every document.
    let client = empty(6);
    transport::sync(
        &client,
        &url,
        &as_key(&allowed),
        opts(Direction::Pull),
        &mut |_| {},
    )
    .unwrap();
    assert_same(&reference, &client, main);
    assert_same(&reference, &client, secret);

    // A reader: its document only.
    let client = empty(3);
    transport::sync(
        &client,
        &url,
        &as_key(&identity(3)),
        opts(Direction::Pull),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(client.doc_ids().unwrap(), vec![main]);

    // A stranger: refused, with the reason, and nothing.
    let client = empty(5);
    let e = transport::sync(
        &client,
        &url,
        &as_key(&identity(5)),
        opts(Direction::Pull),
        &mut |_| {},
    )
    .unwrap_err();
    match &e {
        Error::Refused { reason } => {
            let words = reason.to_string();
            assert!(words.contains("may read no document here"), "{reason}");
            assert!(words.contains(&stranger().to_string()), "{reason}");
            // Both sides speak version 3: the refusal came typed.
            assert_eq!(reason.reason, weft_sync::refusal::Reason::NothingReadable);
        }
        e => panic!("{e:?}"),
    }
    assert!(client.doc_ids().unwrap().is_empty());
    // A throwaway key (no identity given) is a stranger too.
    let e = transport::sync(
        &empty(5),
        &url,
        &transport::ConnectOptions::default(),
        opts(Direction::Pull),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
}
