//! `iroh://` through the library, on loopback without relays: `IrohServer` and `connect`, the
//! endpoint ids being the author keys, the silence timeout both ways, and `Cancel`. No test
//! sleeps: a stall is detected by a short silence timeout.

use std::{io::Read, sync::Arc, time::Duration};

use weft_dag::{Identity, Value};
use weft_net::{
    iroh::{IrohOptions, IrohServer, Relays},
    server::ServeOptions,
    transport::{self, Cancel, ConnectOptions, Remote},
};
use weft_sync::Direction;

use crate::{assert_same, empty, identity, opts};

const LONG: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_millis(500);

/// Serves a repo `main` (owner: seed 1) with a value, letting `allow` read it, with silence
/// timeout `timeout`; returns the server and a copy of the repo to compare with.
fn serve(timeout: Duration, allow: Vec<weft_dag::Author>) -> (IrohServer, weft_dag::Repo) {
    let repo = empty(1);
    let doc = repo.create_doc("main").unwrap();
    let mut tx = repo.transaction(doc);
    tx.set("k", Value::from("v")).unwrap();
    tx.commit().unwrap();
    let reference = empty(9);
    crate::sync(&reference, &repo, Direction::Pull);
    let server = IrohServer::start(
        Arc::new(repo),
        identity(1),
        IrohOptions {
            serve: ServeOptions {
                timeout,
                allow,
                ..ServeOptions::default()
            },
            relays: Relays::Disabled,
            bind: Some("127.0.0.1:0".parse().unwrap()),
        },
    )
    .unwrap();
    (server, reference)
}

fn client(id: &Identity, timeout: Duration) -> ConnectOptions {
    ConnectOptions {
        identity: Some(id.clone()),
        relays: Relays::Disabled,
        timeout,
        ..ConnectOptions::default()
    }
}

/// Reads until the link ends (whatever the server said before it closed): the end comes from
/// the other side, not from our own silence timeout.
fn assert_ends(reader: &mut dyn Read) {
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                assert_ne!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
                return;
            }
        }
    }
}

#[test]
fn a_pull_over_iroh_proves_the_servers_author_key() {
    let me = identity(3);
    let (server, reference) = serve(LONG, vec![me.author()]);
    let url = server.url().clone();
    assert_eq!(
        url.key,
        identity(1).author(),
        "the endpoint id is the author key"
    );
    assert!(url.relays.is_empty());
    assert!(url.addrs.iter().all(|a| a.ip().is_loopback()), "{url}");
    let remote = Remote::Iroh(url);
    assert_eq!(Remote::parse(&remote.to_string()).unwrap(), remote);

    let repo = empty(3);
    let synced = transport::sync(
        &repo,
        &remote,
        &client(&me, LONG),
        opts(Direction::Pull),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(synced.peer_key, Some(identity(1).author()));
    assert_same(&reference, &repo, repo.doc("main").unwrap());

    // A key that may read nothing is refused, with the reason.
    let stranger = empty(4);
    let err = transport::sync(
        &stranger,
        &remote,
        &client(&identity(4), LONG),
        opts(Direction::Pull),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, weft_sync::Error::Refused { .. }), "{err}");
}

#[test]
fn a_silent_client_is_dropped_and_a_silent_server_times_out() {
    let me = identity(3);
    // The server gives up on a client that says nothing: our read ends (we would wait LONG).
    let (server, _) = serve(SHORT, vec![me.author()]);
    let remote = Remote::Iroh(server.url().clone());
    let mut conn = transport::connect(&remote, &client(&me, LONG)).unwrap();
    assert_eq!(conn.peer_key(), Some(identity(1).author()));
    let mut buf = [0u8; 64];
    assert_ends(&mut conn.reader);

    // A server that waits for our hello sends nothing: our silence timeout ends the read.
    let (server, _) = serve(LONG, vec![me.author()]);
    let remote = Remote::Iroh(server.url().clone());
    let mut conn = transport::connect(&remote, &client(&me, SHORT)).unwrap();
    let err = conn.reader.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
}

#[test]
fn cancel_closes_an_iroh_link_at_once() {
    let me = identity(3);
    let (server, _) = serve(LONG, vec![me.author()]);
    let remote = Remote::Iroh(server.url().clone());
    let cancel = Cancel::new();
    let copts = ConnectOptions {
        cancel: Some(cancel.clone()),
        ..client(&me, LONG)
    };
    let mut conn = transport::connect(&remote, &copts).unwrap();
    cancel.cancel();
    assert_ends(&mut conn.reader);
    // And no new link is opened with it.
    let err = transport::connect(&remote, &copts).unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
}
