//! The board's commands on in-memory repos: each is one commit, and concurrent edits merge.

use weft_dag::Value;
use weft_todo::{
    board::Board,
    command::{apply, Command, Outcome, Target},
    Error,
};

use crate::util::{board, exchange, repo_with_board, writer_of};

fn add(repo: &weft_dag::Repo, doc: weft_dag::DocId, list: usize, title: &str) -> String {
    let list = board(repo, doc).lists[list].id.clone();
    let before = board(repo, doc);
    apply(
        repo,
        doc,
        &Command::AddItem {
            list: list.clone(),
            title: title.into(),
        },
    )
    .unwrap();
    let after = board(repo, doc);
    let l = after.list(&list).unwrap();
    let new = l
        .items
        .iter()
        .find(|i| before.item(&i.id).is_none())
        .unwrap();
    new.id.clone()
}

fn titles(b: &Board, list: usize) -> Vec<String> {
    b.lists[list]
        .items
        .iter()
        .map(|i| i.title.clone())
        .collect()
}

#[test]
fn a_new_board_has_two_lists_and_the_device_name() {
    let (repo, doc) = repo_with_board("alice");
    let b = board(&repo, doc);
    let names: Vec<&str> = b.lists.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["Todo", "Done"]);
    assert_eq!(b.name_of(&repo.author()), "alice");
}

#[test]
fn items_are_added_edited_ticked_moved_and_deleted() {
    let (repo, doc) = repo_with_board("alice");
    let beer = add(&repo, doc, 0, "beer");
    let meet = add(&repo, doc, 0, "reject.js");
    assert_eq!(titles(&board(&repo, doc), 0), ["beer", "reject.js"]);

    // todo.before(meet, drnk)
    let b = board(&repo, doc);
    let (meet_elem, beer_elem) = (b.item(&meet).unwrap().1.elem, b.item(&beer).unwrap().1.elem);
    apply(
        &repo,
        doc,
        &Command::Move {
            elem: meet_elem,
            to: Target::Before(beer_elem),
        },
    )
    .unwrap();
    assert_eq!(titles(&board(&repo, doc), 0), ["reject.js", "beer"]);
    // Dragged to the end of its own list.
    let todo = b.lists[0].id.clone();
    apply(
        &repo,
        doc,
        &Command::Move {
            elem: meet_elem,
            to: Target::End(todo),
        },
    )
    .unwrap();
    assert_eq!(titles(&board(&repo, doc), 0), ["beer", "reject.js"]);

    apply(
        &repo,
        doc,
        &Command::EditTitle {
            item: meet.clone(),
            index: 9,
            deleted: 0,
            inserted: " talk".into(),
        },
    )
    .unwrap();
    apply(
        &repo,
        doc,
        &Command::SetDone {
            item: meet.clone(),
            done: true,
        },
    )
    .unwrap();
    // done.push(meet): the same element, now in Done, title and tick kept.
    let done = b.lists[1].id.clone();
    apply(
        &repo,
        doc,
        &Command::Move {
            elem: meet_elem,
            to: Target::End(done),
        },
    )
    .unwrap();
    let b = board(&repo, doc);
    assert_eq!(titles(&b, 0), ["beer"]);
    assert_eq!(titles(&b, 1), ["reject.js talk"]);
    let (list, item) = b.item(&meet).unwrap();
    assert_eq!(
        (list.name.as_str(), item.done, item.elem),
        ("Done", true, meet_elem)
    );

    apply(&repo, doc, &Command::Delete { elem: beer_elem }).unwrap();
    assert!(board(&repo, doc).lists[0].items.is_empty());
}

#[test]
fn undo_and_redo_take_back_the_users_own_edits() {
    let (repo, doc) = repo_with_board("alice");
    let milk = add(&repo, doc, 0, "milk");
    apply(
        &repo,
        doc,
        &Command::SetDone {
            item: milk.clone(),
            done: true,
        },
    )
    .unwrap();
    assert_eq!(
        apply(&repo, doc, &Command::Undo).unwrap(),
        Outcome::Committed
    );
    assert!(!board(&repo, doc).item(&milk).unwrap().1.done);
    assert_eq!(
        apply(&repo, doc, &Command::Redo).unwrap(),
        Outcome::Committed
    );
    assert!(board(&repo, doc).item(&milk).unwrap().1.done);
    assert_eq!(apply(&repo, doc, &Command::Redo).unwrap(), Outcome::Nothing);
}

#[test]
fn two_people_typing_in_one_title_merge() {
    let (alice, doc) = repo_with_board("alice");
    let item = add(&alice, doc, 0, "milk");
    let bob = writer_of(&alice, doc);
    apply(
        &alice,
        doc,
        &Command::EditTitle {
            item: item.clone(),
            index: 0,
            deleted: 0,
            inserted: "oat ".into(),
        },
    )
    .unwrap();
    apply(
        &bob,
        doc,
        &Command::EditTitle {
            item: item.clone(),
            index: 4,
            deleted: 0,
            inserted: ", 2 l".into(),
        },
    )
    .unwrap();
    exchange(&alice, &bob, doc);
    exchange(&bob, &alice, doc);
    for r in [&alice, &bob] {
        assert_eq!(board(r, doc).item(&item).unwrap().1.title, "oat milk, 2 l");
    }
}

#[test]
fn a_conflict_shows_both_values_and_picking_one_settles_it() {
    let (alice, doc) = repo_with_board("alice");
    let item = add(&alice, doc, 0, "milk");
    let bob = writer_of(&alice, doc);
    apply(&bob, doc, &Command::SetMyName { name: "bob".into() }).unwrap();
    apply(
        &alice,
        doc,
        &Command::SetDone {
            item: item.clone(),
            done: true,
        },
    )
    .unwrap();
    apply(
        &bob,
        doc,
        &Command::SetDone {
            item: item.clone(),
            done: false,
        },
    )
    .unwrap();
    exchange(&alice, &bob, doc);
    exchange(&bob, &alice, doc);
    let b = board(&alice, doc);
    let reg = &b.item(&item).unwrap().1.done_register;
    assert!(reg.is_conflict());
    let mut seen: Vec<(String, Value)> = reg
        .candidates
        .iter()
        .map(|c| (b.name_of(&c.author), c.value.clone()))
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            ("alice".into(), Value::Bool(true)),
            ("bob".into(), Value::Bool(false))
        ]
    );
    // Alice keeps Bob's value.
    apply(
        &alice,
        doc,
        &Command::SetDone {
            item: item.clone(),
            done: false,
        },
    )
    .unwrap();
    exchange(&alice, &bob, doc);
    for r in [&alice, &bob] {
        let b = board(r, doc);
        let reg = &b.item(&item).unwrap().1.done_register;
        assert!(!reg.is_conflict());
        assert_eq!(reg.value, Some(Value::Bool(false)));
    }
}

#[test]
fn concurrent_move_and_rename_keep_one_element() {
    let (alice, doc) = repo_with_board("alice");
    let meet = add(&alice, doc, 0, "reject.js");
    let bob = writer_of(&alice, doc);
    let b = board(&alice, doc);
    let elem = b.item(&meet).unwrap().1.elem;
    apply(
        &alice,
        doc,
        &Command::Move {
            elem,
            to: Target::End(b.lists[1].id.clone()),
        },
    )
    .unwrap();
    apply(
        &bob,
        doc,
        &Command::EditTitle {
            item: meet.clone(),
            index: 9,
            deleted: 0,
            inserted: " talk".into(),
        },
    )
    .unwrap();
    exchange(&alice, &bob, doc);
    exchange(&bob, &alice, doc);
    for r in [&alice, &bob] {
        let b = board(r, doc);
        assert!(b.lists[0].items.is_empty());
        assert_eq!(titles(&b, 1), ["reject.js talk"]);
    }
}

#[test]
fn people_are_granted_by_key_or_name_and_revoked() {
    let (alice, doc) = repo_with_board("alice");
    let bob = writer_of(&alice, doc);
    apply(&bob, doc, &Command::SetMyName { name: "bob".into() }).unwrap();
    exchange(&bob, &alice, doc);
    apply(
        &alice,
        doc,
        &Command::Grant {
            who: "bob".into(),
            role: weft_dag::Role::Admin,
        },
    )
    .unwrap();
    assert_eq!(
        alice.role(doc, &bob.author()).unwrap(),
        Some(weft_dag::Role::Admin)
    );
    apply(&alice, doc, &Command::Revoke { who: bob.author() }).unwrap();
    assert_eq!(alice.role(doc, &bob.author()).unwrap(), None);
    let carol = weft_dag::Identity::generate().author();
    apply(
        &alice,
        doc,
        &Command::Grant {
            who: carol.to_string(),
            role: weft_dag::Role::Reader,
        },
    )
    .unwrap();
    assert_eq!(
        alice.role(doc, &carol).unwrap(),
        Some(weft_dag::Role::Reader)
    );
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let (alice, doc) = repo_with_board("alice");
    let before = alice.heads(doc).unwrap();
    let cases = [
        Command::AddItem {
            list: "nope".into(),
            title: "x".into(),
        },
        Command::SetDone {
            item: "nope".into(),
            done: true,
        },
        Command::EditTitle {
            item: "nope".into(),
            index: 0,
            deleted: 0,
            inserted: "x".into(),
        },
        Command::Grant {
            who: "nobody".into(),
            role: weft_dag::Role::Writer,
        },
        Command::SetMyName { name: "  ".into() },
    ];
    let errors: Vec<Error> = cases
        .iter()
        .map(|c| apply(&alice, doc, c).unwrap_err())
        .collect();
    assert!(
        matches!(errors[0], Error::NoSuchList { .. }),
        "{:?}",
        errors[0]
    );
    assert!(matches!(errors[1], Error::NoSuchItem { .. }));
    assert!(matches!(errors[2], Error::NoSuchItem { .. }));
    assert!(matches!(errors[3], Error::UnknownPerson { .. }));
    assert!(matches!(errors[4], Error::EmptyName));
    // An empty title adds nothing; an edit past the end is clamped.
    let todo = board(&alice, doc).lists[0].id.clone();
    let empty = Command::AddItem {
        list: todo,
        title: " ".into(),
    };
    assert_eq!(apply(&alice, doc, &empty).unwrap(), Outcome::Nothing);
    assert_eq!(alice.heads(doc).unwrap(), before);
    let milk = add(&alice, doc, 0, "milk");
    apply(
        &alice,
        doc,
        &Command::EditTitle {
            item: milk.clone(),
            index: 99,
            deleted: 5,
            inserted: "!".into(),
        },
    )
    .unwrap();
    assert_eq!(board(&alice, doc).item(&milk).unwrap().1.title, "milk!");
}
