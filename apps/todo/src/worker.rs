//! The worker thread: the one place that writes to the repo and reads it for the UI.
//!
//! The UI sends [`Command`]s and never waits: the worker commits them, and takes in what
//! arrives meanwhile (batches applied by live sync, live sync's events). After each round of
//! messages (everything that was waiting, handled at once) it reads one [`Snapshot`], sends it
//! over a channel and calls the `notify` callback (the UI's repaint request).

use std::{
    collections::BTreeMap,
    sync::{
        mpsc::{self, Receiver, Sender},
        Arc,
    },
    thread::{self, JoinHandle},
};

use weft_dag::{Author, Batch, Cid, Diff, DocId, Filter};

use crate::{
    board::{self, Board},
    command::{self, Command, Outcome},
    error::Error,
    session::Session,
    snapshot::{self, Past, PeerStatus, Snapshot},
};

/// The local name of the board's document.
pub const BOARD_DOC: &str = "todo";

/// What the worker is sent.
#[derive(Debug)]
enum Msg {
    Command(Command),
    Batch(Batch),
    Live,
    ViewAt(Option<usize>),
    AddPeer(String),
    NewBoard,
    Invite(weft_dag::Role),
    Join(String),
    Stop,
}

/// The UI's end: sends requests, receives snapshots. Dropping it stops the worker.
#[derive(Debug)]
pub struct Handle {
    tx: Sender<Msg>,
    /// Snapshots, newest last.
    pub snapshots: Receiver<Arc<Snapshot>>,
    sent: u64,
    thread: Option<JoinHandle<()>>,
}

impl Handle {
    /// Sends `command`; returns how many commands were sent so far (a snapshot whose
    /// [`Snapshot::handled`] reaches it has this one in).
    pub fn send(&mut self, command: Command) -> u64 {
        if self.tx.send(Msg::Command(command)).is_ok() {
            self.sent += 1;
        }
        self.sent
    }

    /// How many commands were sent.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Shows the board after the first `at` changes of its history (`None`: now).
    pub fn view_at(&self, at: Option<usize>) {
        let _ = self.tx.send(Msg::ViewAt(at));
    }

    /// Live-syncs with one more peer.
    pub fn add_peer(&self, url: &str) {
        let _ = self.tx.send(Msg::AddPeer(url.to_string()));
    }

    /// Issues an invite to the board (its ticket comes in [`Snapshot::ticket`]).
    pub fn invite(&self, role: weft_dag::Role) {
        let _ = self.tx.send(Msg::Invite(role));
    }

    /// Joins the board of the device that issued `ticket`.
    pub fn join(&self, ticket: &str) {
        let _ = self.tx.send(Msg::Join(ticket.to_string()));
    }

    /// Makes a new board here (instead of waiting for one from a peer).
    pub fn new_board(&self) {
        let _ = self.tx.send(Msg::NewBoard);
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How the worker starts.
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// Make a board at once if there is none (else wait for one from a peer).
    pub make_board: bool,
    /// This device's name, set on a board it makes or joins if it has none there.
    pub name: Option<String>,
    /// Keys (or names) to make writers of the board once there is one.
    pub grants: Vec<String>,
    /// A ticket to join a board with (see [`Handle::join`]).
    pub join: Option<String>,
}

struct Worker {
    session: Session,
    doc: Option<DocId>,
    name: Option<String>,
    marks: BTreeMap<String, Author>,
    ticket: Option<String>,
    past_at: Option<usize>,
    handled: u64,
    error: Option<String>,
}

/// Starts the worker over `session`; `notify` is called after every snapshot sent.
pub fn spawn(
    session: Session,
    start: Start,
    notify: impl Fn() + Send + 'static,
) -> Result<Handle, Error> {
    let (tx, rx) = mpsc::channel();
    let (snap_tx, snapshots) = mpsc::channel();
    // Batches and live events come in through the same channel as commands.
    let batches = session.repo.subscribe_filtered(Filter::all());
    let fwd = tx.clone();
    thread::Builder::new()
        .name("weft-todo-batches".into())
        .spawn(move || {
            for b in batches {
                if fwd.send(Msg::Batch(b)).is_err() {
                    break;
                }
            }
        })
        .map_err(Error::Thread)?;
    let events = session.live().subscribe();
    let fwd = tx.clone();
    thread::Builder::new()
        .name("weft-todo-live".into())
        .spawn(move || {
            // Every event changes the status the UI shows.
            for _ in events {
                if fwd.send(Msg::Live).is_err() {
                    break;
                }
            }
        })
        .map_err(Error::Thread)?;
    let tx_self = tx.clone();
    let mut worker = Worker {
        session,
        doc: None,
        name: start.name,
        marks: BTreeMap::new(),
        ticket: None,
        past_at: None,
        handled: 0,
        error: None,
    };
    let thread = thread::Builder::new()
        .name("weft-todo-worker".into())
        .spawn(move || {
            worker.find_board(start.make_board);
            if let Some(ticket) = start.join {
                let _ = tx_self.send(Msg::Join(ticket));
            }
            for who in start.grants {
                let grant = Command::Grant {
                    who,
                    role: weft_dag::Role::Writer,
                };
                let _ = tx_self.send(Msg::Command(grant));
            }
            worker.run(&rx, &snap_tx, &notify);
        })
        .map_err(Error::Thread)?;
    Ok(Handle {
        tx,
        snapshots,
        sent: 0,
        thread: Some(thread),
    })
}

impl Worker {
    fn run(&mut self, rx: &Receiver<Msg>, out: &Sender<Arc<Snapshot>>, notify: &dyn Fn()) {
        self.publish(out, notify);
        while let Ok(first) = rx.recv() {
            let mut msgs = vec![first];
            msgs.extend(rx.try_iter());
            for m in msgs {
                if matches!(m, Msg::Stop) {
                    return;
                }
                self.handle(m);
            }
            self.publish(out, notify);
        }
    }

    fn publish(&mut self, out: &Sender<Arc<Snapshot>>, notify: &dyn Fn()) {
        let snap = match self.snapshot() {
            Ok(s) => s,
            Err(e) => Snapshot {
                error: Some(e.to_string()),
                handled: self.handled,
                ..Snapshot::default()
            },
        };
        if out.send(Arc::new(snap)).is_ok() {
            notify();
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Command(c) => {
                self.handled += 1;
                self.error = match self.command(&c) {
                    Ok(_) => None,
                    Err(e) => Some(e.to_string()),
                };
            }
            Msg::Batch(b) => self.batch(&b),
            Msg::ViewAt(at) => self.past_at = at,
            Msg::AddPeer(url) => {
                self.error = self.session.add_peer(&url).err().map(|e| e.to_string());
            }
            Msg::NewBoard => {
                if self.doc.is_none() {
                    self.find_board(true);
                }
            }
            Msg::Invite(role) => {
                let ticket = self
                    .doc
                    .ok_or(Error::NoBoard)
                    .and_then(|doc| self.session.invite(doc, role));
                match ticket {
                    Ok(t) => {
                        self.ticket = Some(t);
                        self.error = None;
                    }
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
            Msg::Join(ticket) => match self.session.join(&ticket) {
                Ok(()) => {
                    self.error = None;
                    if self.doc.is_none() {
                        self.find_board(false);
                    }
                }
                Err(e) => self.error = Some(format!("cannot join: {e}")),
            },
            Msg::Live | Msg::Stop => {}
        }
    }

    fn command(&mut self, c: &Command) -> Result<Outcome, Error> {
        let doc = self.doc.ok_or(Error::NoBoard)?;
        let outcome = command::apply(&self.session.repo, doc, c)?;
        // What this device changed itself is no longer marked as a peer's.
        match c {
            Command::EditTitle { item, .. } | Command::SetDone { item, .. } => {
                self.marks.remove(item);
            }
            Command::RenameList { list, .. } => {
                self.marks.remove(list);
            }
            _ => {}
        }
        Ok(outcome)
    }

    /// Finds the board: the document named [`BOARD_DOC`], else one that arrived from a peer
    /// (which gets that name), else, with `make`, a new one.
    fn find_board(&mut self, make: bool) {
        let repo = &self.session.repo;
        let found = match repo.doc(BOARD_DOC) {
            Ok(doc) => Some(doc),
            Err(_) => repo.doc_ids().ok().and_then(|ids| ids.first().copied()),
        };
        let result = match found {
            Some(doc) => repo
                .name_doc(BOARD_DOC, doc)
                .map(|()| Some(doc))
                .map_err(Error::from),
            None if make => repo
                .create_doc(BOARD_DOC)
                .map_err(Error::from)
                .and_then(|doc| {
                    let name = self.name.clone().unwrap_or_else(|| repo.author().short());
                    command::seed(repo, doc, &name).map(|()| Some(doc))
                }),
            None => Ok(None),
        };
        match result {
            Ok(doc) => self.doc = doc,
            Err(e) => self.error = Some(e.to_string()),
        }
        if let (Some(doc), Some(name)) = (self.doc, self.name.clone()) {
            // A board joined: say who this device is, unless it did already, once it may
            // write (the grant may arrive after the board).
            let known = repo
                .state(doc)
                .get(&board::person_key(&repo.author()))
                .ok()
                .flatten()
                .is_some();
            let may_write = repo
                .role(doc, &repo.author())
                .ok()
                .flatten()
                .is_some_and(|r| r >= weft_dag::Role::Writer);
            if known {
                self.name = None;
            } else if may_write {
                self.name = None;
                if let Err(e) = command::apply(repo, doc, &Command::SetMyName { name }) {
                    self.error = Some(e.to_string());
                }
            }
        }
    }

    fn batch(&mut self, b: &Batch) {
        if self.doc.is_none() || self.name.is_some() {
            self.find_board(false);
        }
        if Some(b.doc) != self.doc {
            return;
        }
        let Some(who) = b.changes.iter().rev().find(|c| !c.local).map(|c| c.author) else {
            return;
        };
        for d in &b.diffs {
            if let Diff::List {
                inserted,
                moved,
                updated,
                ..
            } = &d.diff
            {
                if d.key.starts_with("items/") {
                    for e in inserted.iter().chain(moved).chain(updated) {
                        if let weft_dag::Value::String(id) = &e.value {
                            self.marks.insert(id.clone(), who);
                        }
                    }
                    continue;
                }
            }
            if d.key.starts_with("item/") || d.key.starts_with("list/") {
                if let Some(id) = board::subject_of(&d.key) {
                    self.marks.insert(id.to_string(), who);
                }
            }
        }
    }

    fn snapshot(&mut self) -> Result<Snapshot, Error> {
        let repo = &self.session.repo;
        let mut snap = Snapshot {
            me: Some(repo.author()),
            url: self.session.url().map(str::to_string),
            handled: self.handled,
            error: self.error.clone(),
            peer_urls: self.session.peer_urls(),
            ticket: self.ticket.clone(),
            ..Snapshot::default()
        };
        snap.peers = self
            .session
            .live()
            .status()
            .map(|s| s.iter().map(PeerStatus::from_record).collect())
            .unwrap_or_default();
        let Some(doc) = self.doc else {
            return Ok(snap);
        };
        let board = Board::read(repo.view(doc).state())?;
        let (history, log) = snapshot::history(repo, doc, &board)?;
        snap.n_changes = log.len();
        if let Some(at) = self.past_at.filter(|at| *at < log.len()) {
            let heads: Vec<Cid> = snapshot::heads_of_prefix(&log, at);
            let board = if heads.is_empty() {
                Board::default()
            } else {
                Board::read(&repo.at(doc, &heads)?.state())?
            };
            snap.past = Some(Past { at, board });
        }
        snap.members = repo.members(doc)?;
        snap.history = history;
        snap.doc = Some(doc);
        snap.marks = self.marks.clone();
        snap.board = Some(board);
        Ok(snap)
    }
}
