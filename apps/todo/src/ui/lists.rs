//! The board: one column per list, items you tick, edit, drag, move and delete.

use egui::{Color32, RichText};
use weft_dag::{OpId, Value};

use super::{App, Editing};
use crate::{
    board::{text_edit, Board, Item, List, Register},
    command::{Command, Target},
    snapshot::Snapshot,
};

/// What an item's drag carries.
#[derive(Debug, Clone, Copy)]
struct Dragged(OpId);

/// Height of one item row.
const ROW: f32 = 26.0;
/// Width of a list's column.
const COLUMN: f32 = 340.0;

impl App {
    pub(super) fn board_view(&mut self, ui: &mut egui::Ui) {
        let snap = std::sync::Arc::clone(&self.snap);
        if let Some(past) = &snap.past {
            ui.label(
                RichText::new(format!(
                    "The board after {} of {} changes (read-only; move the history slider to the end to edit)",
                    past.at, snap.n_changes
                ))
                .strong(),
            );
            egui::ScrollArea::horizontal().show(ui, |ui| {
                ui.horizontal_top(|ui| {
                    for list in &past.board.lists {
                        Self::past_column(ui, &past.board, list);
                    }
                });
            });
            return;
        }
        let Some(board) = &snap.board else {
            ui.label("No board yet. Paste a ticket from a device that invites this one:");
            self.join_field(ui);
            ui.label("or wait until a peer adds this device's key (see People).");
            if ui.button("Start a new board here").clicked() {
                self.handle.new_board();
            }
            return;
        };
        egui::ScrollArea::horizontal().show(ui, |ui| {
            ui.horizontal_top(|ui| {
                for list in &board.lists {
                    self.column(ui, &snap, board, list);
                }
                ui.vertical(|ui| {
                    ui.set_width(200.0);
                    let r = ui
                        .add(egui::TextEdit::singleline(&mut self.new_list).hint_text("New list"));
                    let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    if (ui.button("Add list").clicked() || enter)
                        && !self.new_list.trim().is_empty()
                    {
                        let name = std::mem::take(&mut self.new_list);
                        self.handle.send(Command::AddList { name });
                    }
                });
            });
        });
    }

    fn past_column(ui: &mut egui::Ui, board: &Board, list: &List) {
        ui.vertical(|ui| {
            ui.set_width(COLUMN);
            ui.heading(&list.name);
            for item in &list.items {
                let mark = if item.done { "☑" } else { "☐" };
                ui.label(format!("{mark} {}", item.title));
            }
            let _ = board;
        });
    }

    fn column(&mut self, ui: &mut egui::Ui, snap: &Snapshot, board: &Board, list: &List) {
        ui.vertical(|ui| {
            ui.set_width(COLUMN);
            ui.horizontal(|ui| {
                ui.heading(&list.name);
                if let Some(who) = snap.marks.get(&list.id) {
                    ui.label(
                        RichText::new(format!("by {}", board.name_of(who)))
                            .color(Color32::from_rgb(200, 120, 0)),
                    );
                }
            });
            if list.name_register.is_conflict() {
                self.conflict(ui, board, &list.name_register, |v| Command::RenameList {
                    list: list.id.clone(),
                    name: text_of(v),
                });
            }
            let new = self.new_items.entry(list.id.clone()).or_default();
            let mut add = false;
            ui.horizontal(|ui| {
                let r = ui.add(
                    egui::TextEdit::singleline(new)
                        .hint_text(format!("New item in {}", list.name))
                        .desired_width(COLUMN - 60.0),
                );
                add = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                add |= ui.button(format!("Add to {}", list.name)).clicked();
            });
            if add && !new.trim().is_empty() {
                let title = std::mem::take(new);
                self.handle.send(Command::AddItem {
                    list: list.id.clone(),
                    title,
                });
            }
            // Only the rows in sight are laid out: a list of thousands costs what a screenful does.
            egui::ScrollArea::vertical()
                .id_salt(("items", &list.id))
                .max_height(ui.available_height() - 40.0)
                .show_rows(ui, ROW, list.items.len(), |ui, rows| {
                    for item in &list.items[rows] {
                        self.row(ui, snap, board, list, item);
                    }
                });
            // Dropped below the last item: to the end of this list.
            let (rect, _) = ui.allocate_exact_size(egui::vec2(COLUMN, 30.0), egui::Sense::hover());
            let end = ui.interact(rect, ui.id().with(("end", &list.id)), egui::Sense::hover());
            if end.dnd_hover_payload::<Dragged>().is_some() {
                ui.painter().rect_stroke(
                    rect,
                    4.0,
                    (1.0, Color32::LIGHT_BLUE),
                    egui::StrokeKind::Inside,
                );
            }
            if let Some(d) = end.dnd_release_payload::<Dragged>() {
                self.handle.send(Command::Move {
                    elem: d.0,
                    to: Target::End(list.id.clone()),
                });
            }
        });
    }

    fn row(&mut self, ui: &mut egui::Ui, snap: &Snapshot, board: &Board, list: &List, item: &Item) {
        let row = ui.horizontal(|ui| {
            ui.set_height(ROW);
            ui.dnd_drag_source(
                egui::Id::new(("drag", &item.id)),
                Dragged(item.elem),
                |ui| {
                    ui.label("☰");
                },
            );
            let mut done = item.done;
            if ui.checkbox(&mut done, "").changed() {
                self.handle.send(Command::SetDone {
                    item: item.id.clone(),
                    done,
                });
            }
            self.title(ui, item);
            if let Some(who) = snap.marks.get(&item.id) {
                ui.label(
                    RichText::new(format!("by {}", board.name_of(who)))
                        .color(Color32::from_rgb(200, 120, 0)),
                )
                .on_hover_text("changed last by this peer");
            }
            if item.done_register.is_conflict() {
                self.conflict(ui, board, &item.done_register, |v| Command::SetDone {
                    item: item.id.clone(),
                    done: matches!(v, Value::Bool(true)),
                });
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.small_button("Delete").clicked() {
                    self.handle.send(Command::Delete { elem: item.elem });
                }
                egui::ComboBox::from_id_salt(("move", &item.id))
                    .selected_text("Move")
                    .width(50.0)
                    .show_ui(ui, |ui| {
                        for other in board.lists.iter().filter(|l| l.id != list.id) {
                            if ui
                                .selectable_label(false, format!("Move to {}", other.name))
                                .clicked()
                            {
                                self.handle.send(Command::Move {
                                    elem: item.elem,
                                    to: Target::End(other.id.clone()),
                                });
                            }
                        }
                    });
            });
        });
        // Dropped on a row: before it.
        let target = ui.interact(
            row.response.rect,
            ui.id().with(("row", &item.id)),
            egui::Sense::hover(),
        );
        if target
            .dnd_hover_payload::<Dragged>()
            .is_some_and(|d| d.0 != item.elem)
        {
            let r = row.response.rect;
            ui.painter()
                .hline(r.x_range(), r.top(), (2.0, Color32::LIGHT_BLUE));
        }
        if let Some(d) = target.dnd_release_payload::<Dragged>() {
            self.handle.send(Command::Move {
                elem: d.0,
                to: Target::Before(item.elem),
            });
        }
    }

    /// The title: a label, or the field while it is being edited; every keystroke goes out
    /// as a text edit.
    fn title(&mut self, ui: &mut egui::Ui, item: &Item) {
        let editing = self.editing.as_ref().is_some_and(|e| e.item == item.id);
        if !editing {
            let text = if item.done {
                RichText::new(&item.title).strikethrough()
            } else {
                RichText::new(&item.title)
            };
            let r = ui.add(egui::Label::new(text).sense(egui::Sense::click()));
            if r.on_hover_text("Click to edit").clicked() {
                self.editing = Some(Editing {
                    item: item.id.clone(),
                    buffer: item.title.clone(),
                    sent: item.title.clone(),
                    seq: 0,
                });
            }
            return;
        }
        let Some(e) = self.editing.as_mut() else {
            return;
        };
        let r = ui.add(
            egui::TextEdit::singleline(&mut e.buffer)
                .hint_text("Title")
                .desired_width(150.0),
        );
        if !r.has_focus() && !r.lost_focus() && e.seq == 0 {
            r.request_focus();
        }
        if r.changed() {
            if let Some((index, deleted, inserted)) = text_edit(&e.sent, &e.buffer) {
                e.sent = e.buffer.clone();
                e.seq = self.handle.send(Command::EditTitle {
                    item: item.id.clone(),
                    index,
                    deleted,
                    inserted,
                });
            }
        }
        if r.lost_focus() {
            self.editing = None;
        }
    }

    /// Concurrent values of a register, each with its author, and a button to keep one.
    fn conflict(
        &mut self,
        ui: &mut egui::Ui,
        board: &Board,
        register: &Register,
        pick: impl Fn(&Value) -> Command,
    ) {
        ui.horizontal(|ui| {
            ui.label(RichText::new("⚠ conflict:").color(ui.visuals().warn_fg_color));
            for c in &register.candidates {
                let label = format!(
                    "keep {} ({})",
                    short_value(&c.value),
                    board.name_of(&c.author)
                );
                if ui.small_button(label).clicked() {
                    self.handle.send(pick(&c.value));
                }
            }
        });
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn short_value(v: &Value) -> String {
    match v {
        Value::Bool(true) => "done".into(),
        Value::Bool(false) => "not done".into(),
        other => text_of(other),
    }
}
