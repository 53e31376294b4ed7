//! The window: the board's lists as columns, and the history, people and sync panels.
//!
//! [`App::show`] draws one frame from the newest [`Snapshot`] the worker sent; it never
//! touches the repo. Edits go to the worker as [`Command`]s; the snapshot that has them in
//! arrives later over the channel (with a repaint request).

mod lists;
mod panels;

use std::{sync::Arc, time::Duration};

use weft_dag::Role;

use crate::{command::Command, snapshot::Snapshot, worker::Handle};

/// A title being edited: what the field holds, and what the worker was last sent.
#[derive(Debug, Clone)]
struct Editing {
    item: String,
    buffer: String,
    sent: String,
    /// The count of commands sent when the last edit went out.
    seq: u64,
}

/// Which side panels are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Open {
    history: bool,
    people: bool,
    sync: bool,
}

/// The app's UI state. Holds the worker's handle; everything shown comes from `snap`.
#[derive(Debug)]
pub struct App {
    handle: Handle,
    snap: Arc<Snapshot>,
    open: Open,
    editing: Option<Editing>,
    new_items: std::collections::HashMap<String, String>,
    new_list: String,
    /// The history slider: how many changes, oldest first; `None`: now.
    history_at: Option<usize>,
    my_name: String,
    grant_who: String,
    grant_role: Role,
    peer_url: String,
    ticket: String,
    invite_role: Role,
}

impl App {
    /// A UI over the worker behind `handle`.
    pub fn new(handle: Handle) -> App {
        App {
            handle,
            snap: Arc::new(Snapshot::default()),
            open: Open {
                history: false,
                people: false,
                sync: true,
            },
            editing: None,
            new_items: Default::default(),
            new_list: String::new(),
            history_at: None,
            my_name: String::new(),
            grant_who: String::new(),
            grant_role: Role::Writer,
            peer_url: String::new(),
            ticket: String::new(),
            invite_role: Role::Writer,
        }
    }

    /// The snapshot shown.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// The worker's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Opens or closes the side panels.
    pub fn set_panels(&mut self, history: bool, people: bool, sync: bool) {
        self.open = Open {
            history,
            people,
            sync,
        };
    }

    /// Sends `command` to the worker (as the UI does).
    pub fn send(&mut self, command: Command) -> u64 {
        self.handle.send(command)
    }

    /// Takes the newest snapshot waiting, if any; whether one was.
    pub fn poll(&mut self) -> bool {
        let Some(snap) = self.handle.snapshots.try_iter().last() else {
            return false;
        };
        self.take(snap);
        true
    }

    /// Waits up to `timeout` for the next snapshot and takes it (with any after it); whether
    /// one came. For tests and benchmarks: the UI itself never waits.
    pub fn wait_for_snapshot(&mut self, timeout: Duration) -> bool {
        match self.handle.snapshots.recv_timeout(timeout) {
            Ok(snap) => {
                self.take(snap);
                self.poll();
                true
            }
            Err(_) => false,
        }
    }

    fn take(&mut self, snap: Arc<Snapshot>) {
        // A title being edited follows the document once every edit sent is in: then a
        // peer's concurrent typing shows up merged in the field.
        if let (Some(e), Some(board)) = (&mut self.editing, &snap.board) {
            if snap.handled >= e.seq {
                if let Some((_, item)) = board.item(&e.item) {
                    if item.title != e.sent {
                        e.buffer = item.title.clone();
                        e.sent = item.title.clone();
                    }
                }
            }
        }
        if self.my_name.is_empty() {
            if let (Some(me), Some(board)) = (snap.me, &snap.board) {
                if let Some(n) = board.names.get(&me) {
                    self.my_name = n.clone();
                }
            }
        }
        self.snap = snap;
    }

    /// Draws one frame (takes the newest snapshot first).
    pub fn show(&mut self, ctx: &egui::Context) {
        self.poll();
        self.shortcuts(ctx);
        egui::TopBottomPanel::top("top").show(ctx, |ui| self.top_bar(ui));
        if self.open.history {
            egui::SidePanel::right("history")
                .default_width(320.0)
                .show(ctx, |ui| self.history_panel(ui));
        }
        if self.open.people || self.open.sync {
            egui::SidePanel::left("people")
                .default_width(300.0)
                .show(ctx, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        if self.open.people {
                            self.people_panel(ui);
                        }
                        if self.open.sync {
                            ui.separator();
                            self.sync_panel(ui);
                        }
                    });
                });
        }
        egui::CentralPanel::default().show(ctx, |ui| self.board_view(ui));
        // "N s ago" in the sync panel ages without new snapshots.
        ctx.request_repaint_after(Duration::from_secs(1));
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.wants_keyboard_input() {
            return;
        }
        let (undo, redo) = ctx.input_mut(|i| {
            let redo = i.consume_key(
                egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
                egui::Key::Z,
            ) || i.consume_key(egui::Modifiers::COMMAND, egui::Key::Y);
            let undo = i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z);
            (undo, redo)
        });
        if undo {
            self.handle.send(Command::Undo);
        }
        if redo {
            self.handle.send(Command::Redo);
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("weft todo");
            ui.separator();
            if ui.button("Undo").clicked() {
                self.handle.send(Command::Undo);
            }
            if ui.button("Redo").clicked() {
                self.handle.send(Command::Redo);
            }
            ui.separator();
            ui.toggle_value(&mut self.open.history, "History");
            ui.toggle_value(&mut self.open.people, "People");
            ui.toggle_value(&mut self.open.sync, "Sync");
            if let Some(err) = &self.snap.error {
                ui.separator();
                ui.colored_label(ui.visuals().error_fg_color, err);
            }
        });
    }
}

impl eframe::App for App {
    fn update(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.show(ctx);
    }
}

/// "12 s ago" for a time in ms since the Unix epoch.
fn ago(ms: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let s = now.saturating_sub(ms) / 1000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}
