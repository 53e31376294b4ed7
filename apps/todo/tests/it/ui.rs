//! The app drawn headless by egui's test harness: two instances, each with its own data
//! directory, live-syncing over loopback tcp. Widgets are found through the AccessKit tree
//! by label, clicked and typed into, as a person would.

use egui::accesskit::Role;
use egui_kittest::{kittest::Queryable as _, Harness};
use weft_todo::App;

use crate::{devices::pair, util::LIMIT};

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size(egui::vec2(1400.0, 800.0))
        .build_state(|ctx, app: &mut App| app.show(ctx), app)
}

/// The text field whose placeholder is `hint`.
fn field<'t>(h: &'t Harness<'_, App>, hint: &'t str) -> egui_kittest::Node<'t> {
    h.get_by(|n| n.role() == Role::TextInput && n.placeholder() == Some(hint))
}

/// The text field that has the keyboard focus (a focused field shows no placeholder).
fn focused<'t>(h: &'t Harness<'_, App>) -> egui_kittest::Node<'t> {
    h.get_by(|n| n.role() == Role::TextInput && n.is_focused())
}

/// Runs frames of `h`, taking each snapshot as it comes, until `label` is drawn; fails after
/// `LIMIT` without one.
fn until_drawn(h: &mut Harness<'_, App>, label: &str) {
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        h.run();
        if h.query_all_by_label_contains(label).next().is_some() {
            return;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero() && h.state_mut().wait_for_snapshot(left),
            "{label:?} never drawn"
        );
    }
}

#[test]
fn an_item_added_in_one_window_is_drawn_in_the_other() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (alice, bob) = pair(a_dir.path(), b_dir.path());
    let (mut a, mut b) = (harness(alice), harness(bob));
    a.run();
    b.run();

    // Alice types an item and clicks "Add to Todo".
    field(&a, "New item in Todo").click();
    a.run();
    focused(&a).type_text("buy milk");
    a.run();
    assert_eq!(focused(&a).value().as_deref(), Some("buy milk"));
    a.get_by_label("Add to Todo").click();
    until_drawn(&mut a, "buy milk");

    // Bob's window draws it, marked with who added it.
    until_drawn(&mut b, "buy milk");
    until_drawn(&mut b, "by alice");

    // Bob ticks it; Alice's window shows the tick.
    b.get_by(|n| n.role() == Role::CheckBox).click();
    b.run();
    let ticked = |h: &Harness<'_, App>| {
        h.state()
            .snapshot()
            .board
            .as_ref()
            .is_some_and(|board| board.lists[0].items.first().is_some_and(|i| i.done))
    };
    let deadline = std::time::Instant::now() + LIMIT;
    while !ticked(&a) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero() && a.state_mut().wait_for_snapshot(left),
            "never ticked"
        );
        a.run();
    }
    until_drawn(&mut a, "by bob");

    // The sync panel reports the peer.
    until_drawn(&mut b, "converged");
    // The people panel lists the members with their roles.
    a.get_by_label("People").click();
    a.run();
    assert!(a.query_by_label("bob").is_some());
    assert!(a.query_by_label("writer").is_some());
    assert!(a.query_by_label("owner").is_some());
}
