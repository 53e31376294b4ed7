//! Two devices, each with its own data directory, paired over loopback tcp: the worker
//! threads commit, live sync carries the changes, and snapshots show them.

use std::time::Duration;

use weft_dag::Role;
use weft_todo::{App, Command, Options, Session, Start};

use crate::util::wait_until;

/// A device in `dir`, serving on a free loopback port.
pub fn device(dir: &std::path::Path, peers: Vec<String>, name: &str) -> App {
    let mut options = Options::new(dir);
    options.listen = Some("127.0.0.1:0".into());
    options.interval = Duration::from_millis(100);
    let make_board = peers.is_empty();
    options.peers = peers;
    let session = Session::start(&options).unwrap();
    let start = Start {
        make_board,
        name: Some(name.into()),
        ..Start::default()
    };
    App::new(weft_todo::spawn(session, start, || {}).unwrap())
}

/// Alice makes a board, Bob joins with Alice as his peer and Alice grants him; returns both
/// once Bob shows the board.
pub fn pair(a_dir: &std::path::Path, b_dir: &std::path::Path) -> (App, App) {
    let mut alice = device(a_dir, Vec::new(), "alice");
    wait_until(&mut alice, "alice has a board", |a| {
        a.snapshot().board.is_some()
    });
    let a_url = alice.snapshot().url.clone().unwrap();
    let mut bob = device(b_dir, vec![a_url], "bob");
    wait_until(&mut bob, "bob knows his key", |b| b.snapshot().me.is_some());
    assert!(bob.snapshot().board.is_none(), "bob waits for a board");
    let b_key = bob.snapshot().me.unwrap();
    alice.send(Command::Grant {
        who: b_key.to_string(),
        role: Role::Writer,
    });
    alice
        .handle()
        .add_peer(bob.snapshot().url.as_deref().unwrap());
    wait_until(&mut bob, "bob shows alice's board", |b| {
        b.snapshot()
            .board
            .as_ref()
            .is_some_and(|b| b.lists.len() == 2)
    });
    (alice, bob)
}

#[test]
fn two_devices_pair_and_see_each_others_edits_live() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut alice, mut bob) = pair(a_dir.path(), b_dir.path());
    let a_key = alice.snapshot().me.unwrap();
    let b_key = bob.snapshot().me.unwrap();

    // Alice adds an item: it shows on Bob's board, marked as Alice's.
    let todo = alice.snapshot().board.as_ref().unwrap().lists[0].id.clone();
    alice.send(Command::AddItem {
        list: todo,
        title: "buy milk".into(),
    });
    wait_until(&mut bob, "bob shows alice's item, marked", |b| {
        let s = b.snapshot();
        let Some(board) = &s.board else { return false };
        board.lists[0]
            .items
            .iter()
            .any(|i| i.title == "buy milk" && s.marks.get(&i.id) == Some(&a_key))
            && board.name_of(&a_key) == "alice"
    });

    // Bob edits the title and ticks it: Alice sees both, marked as Bob's, with his name.
    let item = bob.snapshot().board.as_ref().unwrap().lists[0].items[0]
        .id
        .clone();
    bob.send(Command::EditTitle {
        item: item.clone(),
        index: 8,
        deleted: 0,
        inserted: " (oat)".into(),
    });
    bob.send(Command::SetDone {
        item: item.clone(),
        done: true,
    });
    wait_until(&mut alice, "alice shows bob's edit", |a| {
        let s = a.snapshot();
        let Some(board) = &s.board else { return false };
        board
            .item(&item)
            .is_some_and(|(_, i)| i.title == "buy milk (oat)" && i.done)
            && s.marks.get(&item) == Some(&b_key)
            && board.name_of(&b_key) == "bob"
    });

    // Members and roles, the history with authors, and the sync status per peer.
    let s = alice.snapshot();
    let roles: Vec<(weft_dag::Author, Role)> =
        s.members.iter().map(|m| (m.author, m.role)).collect();
    assert!(
        roles.contains(&(a_key, Role::Owner)) && roles.contains(&(b_key, Role::Writer)),
        "{roles:?}"
    );
    assert!(
        s.history
            .iter()
            .any(|h| h.author == b_key && h.summary.contains("buy milk (oat)")),
        "{:?}",
        s.history
    );
    wait_until(&mut bob, "bob is converged with alice", |b| {
        b.snapshot()
            .peers
            .iter()
            .any(|p| p.converged && p.last_sync.is_some() && p.last_error.is_none())
    });

    // The history slider: the board as it was before the item was added.
    let n = alice.snapshot().n_changes;
    let before_item = alice
        .snapshot()
        .history
        .iter()
        .position(|h| h.summary.contains("added"))
        .map(|k| n - k - 1)
        .unwrap();
    alice.handle().view_at(Some(before_item));
    wait_until(&mut alice, "alice shows the past", |a| {
        a.snapshot().past.as_ref().is_some_and(|p| {
            p.at == before_item && p.board.lists.len() == 2 && p.board.lists[0].items.is_empty()
        })
    });
    alice.handle().view_at(None);
    wait_until(&mut alice, "alice shows now", |a| {
        a.snapshot().past.is_none()
    });

    // Undo is Bob's own: his tick goes, Alice's item stays.
    bob.send(Command::Undo);
    wait_until(&mut alice, "alice shows bob's undo", |a| {
        a.snapshot()
            .board
            .as_ref()
            .and_then(|b| b.item(&item))
            .is_some_and(|(_, i)| !i.done && i.title == "buy milk (oat)")
    });
}

#[test]
fn a_device_reopens_its_data_directory_with_its_board() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.interval = Duration::from_millis(100);
    let open = |start: Start| {
        App::new(weft_todo::spawn(Session::start(&options).unwrap(), start, || {}).unwrap())
    };
    let key = {
        let mut app = open(Start {
            make_board: true,
            name: Some("alice".into()),
            ..Start::default()
        });
        wait_until(&mut app, "a board", |a| a.snapshot().board.is_some());
        let todo = app.snapshot().board.as_ref().unwrap().lists[0].id.clone();
        let n = app.send(Command::AddItem {
            list: todo,
            title: "kept".into(),
        });
        wait_until(&mut app, "the item", |a| a.snapshot().handled >= n);
        app.snapshot().me.unwrap()
        // Dropping the app stops the worker and closes the repo.
    };
    let mut app = open(Start::default());
    wait_until(&mut app, "the board reopened", |a| {
        a.snapshot()
            .board
            .as_ref()
            .is_some_and(|b| b.lists[0].items.iter().any(|i| i.title == "kept"))
    });
    assert_eq!(app.snapshot().me, Some(key));
}

#[test]
fn a_bad_peer_url_or_address_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path());
    options.peers = vec!["tcp://".into()];
    let err = Session::start(&options).unwrap_err();
    assert!(matches!(err, weft_todo::Error::BadPeer { .. }), "{err}");
    let mut options = Options::new(dir.path().join("b"));
    options.listen = Some("not an address".into());
    let err = Session::start(&options).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot listen on not an address"),
        "{err}"
    );
}

#[test]
fn keys_given_at_start_become_writers() {
    let dir = tempfile::tempdir().unwrap();
    let carol = weft_dag::Identity::generate().author();
    let session = Session::start(&Options::new(dir.path())).unwrap();
    let start = Start {
        make_board: true,
        name: Some("alice".into()),
        grants: vec![carol.to_string()],
        ..Start::default()
    };
    let mut app = App::new(weft_todo::spawn(session, start, || {}).unwrap());
    wait_until(&mut app, "carol is a writer", |a| {
        a.snapshot()
            .members
            .iter()
            .any(|m| m.author == carol && m.role == Role::Writer)
    });
}

#[test]
fn a_device_joins_with_a_ticket_and_syncs_live() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut alice = device(a_dir.path(), Vec::new(), "alice");
    wait_until(&mut alice, "alice has a board", |a| {
        a.snapshot().board.is_some()
    });
    alice.handle().invite(Role::Writer);
    wait_until(&mut alice, "a ticket", |a| a.snapshot().ticket.is_some());
    let ticket = alice.snapshot().ticket.clone().unwrap();

    // Bob starts with no peer and no board, and pastes the ticket.
    let mut bob = device_waiting(b_dir.path(), "bob");
    bob.handle().join("not a ticket");
    wait_until(&mut bob, "a bad ticket refused", |b| {
        b.snapshot()
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("cannot join: bad ticket"))
    });
    assert!(bob.snapshot().board.is_none());
    bob.handle().join(&ticket);
    wait_until(&mut bob, "bob shows alice's board", |b| {
        b.snapshot()
            .board
            .as_ref()
            .is_some_and(|b| b.lists.len() == 2)
    });
    let b_key = bob.snapshot().me.unwrap();
    // The inviting device is now Bob's peer.
    let a_addr = alice.snapshot().url.clone().unwrap();
    let a_addr = a_addr.rsplit('@').next().unwrap().to_string();
    assert!(
        bob.snapshot()
            .peer_urls
            .iter()
            .any(|u| u.ends_with(&a_addr)),
        "{:?}",
        bob.snapshot().peer_urls
    );

    // From then on both write and see each other's edits; Bob's role is the invite's.
    let todo = alice.snapshot().board.as_ref().unwrap().lists[0].id.clone();
    alice.send(Command::AddItem {
        list: todo.clone(),
        title: "from alice".into(),
    });
    wait_until(&mut bob, "bob shows alice's item", |b| {
        b.snapshot()
            .board
            .as_ref()
            .is_some_and(|b| b.lists[0].items.iter().any(|i| i.title == "from alice"))
    });
    bob.send(Command::AddItem {
        list: todo,
        title: "from bob".into(),
    });
    wait_until(&mut alice, "alice shows bob's item and role", |a| {
        let s = a.snapshot();
        s.board
            .as_ref()
            .is_some_and(|b| b.lists[0].items.iter().any(|i| i.title == "from bob"))
            && s.members
                .iter()
                .any(|m| m.author == b_key && m.role == Role::Writer)
    });

    // The ticket was single use.
    let c_dir = tempfile::tempdir().unwrap();
    let mut carol = device_waiting(c_dir.path(), "carol");
    carol.handle().join(&ticket);
    wait_until(&mut carol, "a used ticket refused", |c| {
        c.snapshot()
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("cannot join"))
    });
    assert!(carol.snapshot().board.is_none());
}

/// A device that serves, has no peer and waits for a board.
fn device_waiting(dir: &std::path::Path, name: &str) -> App {
    let mut options = Options::new(dir);
    options.listen = Some("127.0.0.1:0".into());
    options.interval = Duration::from_millis(100);
    let start = Start {
        make_board: false,
        name: Some(name.into()),
        ..Start::default()
    };
    App::new(weft_todo::spawn(Session::start(&options).unwrap(), start, || {}).unwrap())
}
