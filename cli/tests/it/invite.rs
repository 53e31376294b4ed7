//! Pairing with `weft invite` and `weft join`, with the real `weft serve --listen` and real
//! joiners: a ticket is redeemed once per allowed use, not after it expired or was revoked, not
//! when altered; a refusal is one line and exit 10, a bad ticket string one line and exit 2.

use std::process::Stdio;

use serde_json::Value as Json;
use weft_dag::Role;
use weft_sync::invite::Ticket;

use crate::util::{s, Dir, Proc};

/// A repo with `k = 1`, served on TCP.
fn inviter() -> (Dir, Proc) {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let (p, _) = a.serve_tcp();
    (a, p)
}

/// `weft invite ARGS` in `a`: the ticket, checked to be all of stdout.
fn invite(a: &Dir, args: &[&str]) -> String {
    let mut cmd = a.cmd(&["invite"]);
    cmd.args(args);
    let out = cmd.run().success().stdout();
    assert_eq!(out.lines().count(), 1, "{out}");
    let ticket = out.trim().to_string();
    assert!(ticket.starts_with("weftinvite1"), "{ticket}");
    ticket
}

/// `weft join TICKET . --json` in a new directory.
fn join(ticket: &str) -> (Dir, Json) {
    let b = Dir::new();
    let report = b
        .cmd(&["join", ticket, ".", "--json"])
        .run()
        .success()
        .json();
    (b, report)
}

/// `weft join TICKET sub` in a new directory, which must fail with `code`: the error line. The
/// directory it was to make is not left behind.
fn join_fails(ticket: &str, code: i32) -> String {
    let b = Dir::new();
    let err = b.cmd(&["join", ticket, "sub"]).run().fails(code);
    assert!(!b.join("sub").exists(), "a failed join left its directory");
    err
}

#[test]
fn a_joiner_gets_a_clone_it_may_write_to_and_its_writes_reach_the_inviter() {
    let (a, _server) = inviter();
    let ticket = invite(&a, &[]);
    let (b, report) = join(&ticket);
    assert_eq!(report["role"], "writer");
    assert_eq!(report["docs"].as_array().unwrap().len(), 1);
    assert!(s(&report, "remote").starts_with("tcp://"));
    assert_eq!(b.ok(&["get", "k"]), "1\n");
    let b_key = b.ok(&["id"]).trim().to_string();
    assert_ne!(
        b_key,
        a.ok(&["id"]).trim(),
        "the joiner has a key of its own"
    );
    // The grant is in the document: the inviter lists the joiner as a writer.
    let members = a.ok(&["members"]);
    assert!(
        members
            .lines()
            .any(|l| l.contains(&b_key[..8]) && l.contains("writer")),
        "{members}"
    );
    b.ok(&["set", "k", "2"]);
    b.ok(&["push"]);
    assert_eq!(a.ok(&["get", "k"]), "2\n");
    // Its origin is the inviting replica, its key pinned.
    assert!(b.ok(&["remote", "ls"]).contains(s(&report, "remote")));
}

#[test]
fn a_single_use_ticket_is_refused_the_second_time() {
    let (a, _server) = inviter();
    let ticket = invite(&a, &[]);
    join(&ticket);
    let err = join_fails(&ticket, 10);
    assert!(err.contains("already used (1 of 1 uses)"), "{err}");
    let ls = a.json(&["invite", "ls", "--all", "--json"]);
    assert_eq!(ls["invites"][0]["state"], "used");
    assert_eq!(ls["invites"][0]["used"], 1);
    assert_eq!(
        a.json(&["invite", "ls", "--json"])["invites"],
        Json::Array(vec![])
    );
}

#[test]
fn uses_2_allows_exactly_two_joins() {
    let (a, _server) = inviter();
    let ticket = invite(&a, &["--uses", "2"]);
    let (b, _) = join(&ticket);
    let (c, _) = join(&ticket);
    assert_ne!(b.ok(&["id"]), c.ok(&["id"]));
    let err = join_fails(&ticket, 10);
    assert!(err.contains("already used (2 of 2 uses)"), "{err}");
}

#[test]
fn a_stolen_ticket_used_twice_at_once_grants_once() {
    let (a, _server) = inviter();
    let ticket = invite(&a, &[]);
    let dirs = [Dir::new(), Dir::new()];
    let mut procs: Vec<Proc> = dirs
        .iter()
        .map(|d| Proc::spawn_with_stdin(&mut d.cmd(&["join", &ticket, "."]), Stdio::null()))
        .collect();
    let codes: Vec<Option<i32>> = procs.iter_mut().map(|p| p.finish().code()).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, vec![Some(0), Some(10)], "{codes:?}");
    let ls = a.json(&["invite", "ls", "--all", "--json"]);
    assert_eq!(ls["invites"][0]["used"], 1);
}

#[test]
fn an_expired_invite_is_refused() {
    let (a, _server) = inviter();
    // A lifetime of zero: expired as soon as it is made.
    let ticket = invite(&a, &["--expires", "0s"]);
    let err = join_fails(&ticket, 10);
    assert!(err.contains("expired at"), "{err}");
}

#[test]
fn a_revoked_invite_is_refused_and_no_longer_listed() {
    let (a, _server) = inviter();
    let made = a.json(&["invite", "--json"]);
    let id = s(&made, "id").to_string();
    let ticket = s(&made, "ticket").to_string();
    let ls = a.json(&["invite", "ls", "--json"]);
    assert_eq!(ls["invites"][0]["id"], id.as_str());
    assert_eq!(ls["invites"][0]["state"], "open");
    let out = a.ok(&["invite", "revoke", &id[..8]]);
    assert!(
        out.starts_with(&format!("revoked invite {}", &id[..8])),
        "{out}"
    );
    assert_eq!(
        a.json(&["invite", "ls", "--json"])["invites"],
        Json::Array(vec![])
    );
    assert_eq!(
        a.json(&["invite", "ls", "--all", "--json"])["invites"][0]["state"],
        "revoked"
    );
    let err = join_fails(&ticket, 10);
    assert!(err.contains("revoked"), "{err}");
    // An id no invite has, and one that is not an id.
    assert!(a
        .run(&["invite", "revoke", "0000"])
        .fails(4)
        .contains("no invite 0000"));
    assert!(a
        .run(&["invite", "revoke", "xyz"])
        .fails(2)
        .contains("not an invite id"));
}

#[test]
fn an_altered_ticket_is_refused() {
    let (a, _server) = inviter();
    let ticket = invite(&a, &["--role", "reader"]);
    let mut t = Ticket::decode(&ticket).unwrap();
    t.invite.role = Role::Admin;
    let err = join_fails(&t.encode(), 2);
    assert!(err.contains("does not verify"), "{err}");
    let mut t = Ticket::decode(&ticket).unwrap();
    t.invite.sig[5] ^= 0x20;
    let err = join_fails(&t.encode(), 2);
    assert!(err.contains("does not verify"), "{err}");
    // The genuine ticket still works: nothing was used by the altered ones.
    let (_b, report) = join(&ticket);
    assert_eq!(report["role"], "reader");
}

#[test]
fn a_reader_may_pull_but_not_push() {
    let (a, _server) = inviter();
    let ticket = invite(&a, &["--role", "reader"]);
    let (b, report) = join(&ticket);
    assert_eq!(report["role"], "reader");
    a.ok(&["set", "k", "3"]);
    b.ok(&["pull"]);
    assert_eq!(b.ok(&["get", "k"]), "3\n");
    // A reader cannot even commit locally: its role is in the document it cloned.
    let err = b.run(&["set", "k", "4"]).fails(10);
    assert!(err.contains("reader") || err.contains("role"), "{err}");
    assert_eq!(a.ok(&["get", "k"]), "3\n");
    // What it may write (a document of its own) the inviter refuses to take.
    b.ok(&["doc", "new", "mine"]);
    b.ok(&["-d", "mine", "set", "x", "1"]);
    let err = b.run(&["-d", "mine", "push"]).fails(10);
    assert!(err.contains("access refused"), "{err}");
}

#[test]
fn bad_ticket_strings_are_one_line_and_exit_2() {
    let (a, _server) = inviter();
    let ticket = invite(&a, &[]);
    let long = "x".repeat(20_000);
    for bad in [
        "",
        "garbage",
        "weftinvite2abc",
        &ticket[..ticket.len() / 2],
        &format!("{ticket}!"),
        &long,
    ] {
        let err = join_fails(bad, 2);
        assert!(err.starts_with("weft: error: bad ticket: "), "{err}");
    }
    // None of them used the invite.
    join(&ticket);
}

#[test]
fn invite_without_a_listening_server_says_so() {
    let a = Dir::init();
    let err = a.run(&["invite"]).fails(2);
    assert!(
        err.contains("no `weft serve --listen` or `weft serve --iroh` holds this repo"),
        "{err}"
    );
    // `weft serve` without --listen holds the repo but has no address either.
    let _p = a.serve();
    let err = a.run(&["invite"]).fails(2);
    assert!(
        err.contains("no `weft serve --listen` or `weft serve --iroh` holds this repo"),
        "{err}"
    );
    let err = a.run(&["invite", "--expires", "soon"]).fails(2);
    assert!(err.contains("--expires"), "{err}");
    assert_eq!(
        a.json(&["invite", "ls", "--json"])["invites"],
        Json::Array(vec![])
    );
}

#[test]
fn join_with_identity_signs_with_that_key_file() {
    let (a, _server) = inviter();
    let ticket = invite(&a, &[]);
    let keys = Dir::new();
    let key = keys.ok(&["key", "new", "mine.key"]).trim().to_string();
    let b = Dir::new();
    let report = b
        .cmd(&["join", &ticket, ".", "--json", "--identity"])
        .args(&[keys.join("mine.key")])
        .run()
        .success()
        .json();
    assert_eq!(report["author"], key.as_str());
    assert!(
        !b.join(".weft/key").exists(),
        "the key file is remembered, not copied"
    );
    assert_eq!(b.ok(&["id"]).trim(), key);
    b.ok(&["set", "k", "5"]);
    b.ok(&["push"]);
    assert_eq!(a.ok(&["get", "k"]), "5\n");
}

#[test]
fn the_ticket_names_reachable_addresses() {
    let a = Dir::init();
    let mut server = Proc::spawn(&mut a.cmd(&["serve", "--listen", "0.0.0.0:0"]));
    let line = server.line();
    let port = line.rsplit(':').next().unwrap().to_string();
    assert_eq!(server.line(), format!("serving {}", a.path().display()));
    let key = a.ok(&["id"]).trim().to_string();
    // Listening on every address: the one outgoing traffic leaves from (if any), then loopback.
    let made = a.json(&["invite", "--json"]);
    let peers: Vec<&str> = made["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        peers.last().copied(),
        Some(format!("tcp://{key}@127.0.0.1:{port}").as_str()),
        "{peers:?}"
    );
    assert!(peers.iter().all(|p| !p.contains("0.0.0.0")), "{peers:?}");
    let (b, _) = join(s(&made, "ticket"));
    assert_eq!(b.ok(&["heads"]), a.ok(&["heads"]));
    // --addr replaces them; a bad one is bad usage.
    let made = a.json(&["invite", "--json", "--addr", "example.org:7000"]);
    assert_eq!(
        made["peers"],
        serde_json::json!([format!("tcp://{key}@example.org:7000")])
    );
    let err = a.run(&["invite", "--addr", "no-port"]).fails(2);
    assert!(err.contains("--addr no-port"), "{err}");
}

#[test]
fn no_reachable_inviter_is_a_network_error_and_a_writer_cannot_invite() {
    let (a, mut server) = inviter();
    let ticket = invite(&a, &["--uses", "2"]);
    let (b, _) = join(&ticket);
    // A writer may not hand out roles: the invite needs an admin's key.
    let (_b_server, _) = b.serve_tcp();
    let err = b.run(&["invite"]).fails(10);
    assert!(err.contains("is not an admin there"), "{err}");
    // The inviting replica is gone: every address of the ticket is tried, and named.
    server.kill();
    let err = join_fails(&ticket, 8);
    assert!(
        err.contains("cannot reach the inviting replica: tcp://"),
        "{err}"
    );
}
