//! The side panels: history (the log and a slider back in time), people (this device's key
//! and name, members and roles, grant and revoke) and sync (status per peer).

use egui::RichText;
use weft_dag::Role;

use super::{ago, App};
use crate::command::Command;

impl App {
    pub(super) fn history_panel(&mut self, ui: &mut egui::Ui) {
        let snap = std::sync::Arc::clone(&self.snap);
        ui.heading("History");
        let n = snap.n_changes;
        let mut at = self.history_at.unwrap_or(n).min(n);
        let r = ui.add(egui::Slider::new(&mut at, 0..=n).text("changes"));
        if r.changed() {
            self.history_at = (at < n).then_some(at);
            self.handle.view_at(self.history_at);
        }
        if self.history_at.is_some() && ui.button("Back to now").clicked() {
            self.history_at = None;
            self.handle.view_at(None);
        }
        ui.separator();
        let names = snap.board.as_ref();
        egui::ScrollArea::vertical().show_rows(ui, 36.0, snap.history.len(), |ui, rows| {
            for (i, e) in snap.history[rows.clone()].iter().enumerate() {
                // Newest first: entry k is the board after n - k changes.
                let k = rows.start + i;
                let who = names.map_or_else(|| e.author.short(), |b| b.name_of(&e.author));
                let shown = self.history_at == Some(n - k);
                ui.horizontal(|ui| {
                    let text = format!("{who}: {}", e.summary);
                    if ui.selectable_label(shown, text).clicked() {
                        self.history_at = Some(n - k).filter(|at| *at < n);
                        self.handle.view_at(self.history_at);
                    }
                });
                ui.label(
                    RichText::new(format!("{} · {}", ago(e.time), &e.cid.to_string()[..12]))
                        .small()
                        .weak(),
                );
            }
        });
    }

    pub(super) fn people_panel(&mut self, ui: &mut egui::Ui) {
        let snap = std::sync::Arc::clone(&self.snap);
        ui.heading("People");
        if let Some(me) = snap.me {
            ui.label("This device's key:");
            let mut key = me.to_string();
            ui.add(egui::TextEdit::singleline(&mut key).desired_width(f32::INFINITY));
            ui.horizontal(|ui| {
                ui.label("Name:");
                ui.text_edit_singleline(&mut self.my_name);
                if ui.button("Save name").clicked() {
                    let name = self.my_name.clone();
                    self.handle.send(Command::SetMyName { name });
                }
            });
        }
        if let Some(url) = &snap.url {
            ui.label("Peers reach this device at:");
            let mut url = url.clone();
            ui.add(egui::TextEdit::singleline(&mut url).desired_width(f32::INFINITY));
        }
        ui.separator();
        ui.label(RichText::new("Members").strong());
        let Some(board) = &snap.board else {
            ui.label("(no board yet)");
            return;
        };
        egui::Grid::new("members").striped(true).show(ui, |ui| {
            for m in &snap.members {
                let me = snap.me == Some(m.author);
                let name = board.name_of(&m.author);
                ui.label(if me {
                    format!("{name} (this device)")
                } else {
                    name.clone()
                })
                .on_hover_text(m.author.to_string());
                ui.label(m.role.name());
                if m.role != Role::Owner
                    && !me
                    && ui.small_button(format!("Revoke {name}")).clicked()
                {
                    self.handle.send(Command::Revoke { who: m.author });
                }
                ui.end_row();
            }
        });
        ui.separator();
        ui.label("Add someone (their key, or their name on this board):");
        ui.add(
            egui::TextEdit::singleline(&mut self.grant_who)
                .hint_text("Key or name")
                .desired_width(f32::INFINITY),
        );
        ui.horizontal(|ui| {
            egui::ComboBox::from_id_salt("role")
                .selected_text(self.grant_role.name())
                .show_ui(ui, |ui| {
                    for r in [Role::Reader, Role::Writer, Role::Admin] {
                        ui.selectable_value(&mut self.grant_role, r, r.name());
                    }
                });
            if ui.button("Grant").clicked() && !self.grant_who.trim().is_empty() {
                let who = std::mem::take(&mut self.grant_who);
                self.handle.send(Command::Grant {
                    who,
                    role: self.grant_role,
                });
            }
        });
        ui.separator();
        ui.label(RichText::new("Invite a device").strong());
        ui.horizontal(|ui| {
            egui::ComboBox::from_id_salt("invite role")
                .selected_text(self.invite_role.name())
                .show_ui(ui, |ui| {
                    for r in [Role::Reader, Role::Writer, Role::Admin] {
                        ui.selectable_value(&mut self.invite_role, r, r.name());
                    }
                });
            if ui.button("Create invite").clicked() {
                self.handle.invite(self.invite_role);
            }
        });
        if let Some(ticket) = &snap.ticket {
            ui.label("Ticket (single use; paste it on the other device):");
            let mut t = ticket.clone();
            ui.add(
                egui::TextEdit::multiline(&mut t)
                    .desired_rows(3)
                    .desired_width(f32::INFINITY),
            );
            if ui.button("Copy ticket").clicked() {
                ui.ctx().copy_text(ticket.clone());
            }
        }
        ui.label(RichText::new("Join a board").strong());
        self.join_field(ui);
        ui.label(
            RichText::new(
                "Or pair by hand: grant the other device's key here, and add this device's URL as a peer there.",
            )
            .small()
            .weak(),
        );
    }

    /// A field to paste a ticket into, and its Join button.
    pub(super) fn join_field(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.ticket)
                    .hint_text("Ticket")
                    .desired_width(220.0),
            );
            if ui.button("Join").clicked() && !self.ticket.trim().is_empty() {
                let ticket = std::mem::take(&mut self.ticket);
                self.handle.join(&ticket);
            }
        });
    }

    pub(super) fn sync_panel(&mut self, ui: &mut egui::Ui) {
        let snap = std::sync::Arc::clone(&self.snap);
        ui.heading("Sync");
        if snap.peer_urls.is_empty() {
            ui.label("No peers.");
        }
        for url in &snap.peer_urls {
            let status = snap.peers.iter().find(|p| &p.name == url);
            ui.label(RichText::new(short_url(url)).monospace())
                .on_hover_text(url.as_str());
            let line = match status {
                None => "not synced yet".to_string(),
                Some(p) => {
                    let state = if p.converged {
                        "converged".to_string()
                    } else {
                        match p.behind {
                            Some(0) | None if p.ahead > 0 => format!("ahead by {}", p.ahead),
                            Some(b) => format!("behind by {b}"),
                            None => "not converged".to_string(),
                        }
                    };
                    let last = p.last_sync.map_or("never".to_string(), ago);
                    format!("{state}, last sync {last}")
                }
            };
            ui.label(line);
            if let Some(err) = status.and_then(|p| p.last_error.as_ref()) {
                ui.colored_label(ui.visuals().warn_fg_color, err);
            }
        }
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.peer_url)
                    .hint_text("tcp://KEY@HOST:PORT")
                    .desired_width(200.0),
            );
            if ui.button("Add peer").clicked() && !self.peer_url.trim().is_empty() {
                let url = std::mem::take(&mut self.peer_url);
                self.handle.add_peer(&url);
            }
        });
    }
}

/// `tcp://1234abcd…@127.0.0.1:7001` for a URL with a full key.
fn short_url(url: &str) -> String {
    match url.strip_prefix("tcp://").and_then(|r| r.split_once('@')) {
        Some((key, addr)) if key.len() > 8 => format!("tcp://{}…@{addr}", &key[..8]),
        _ => url.to_string(),
    }
}
