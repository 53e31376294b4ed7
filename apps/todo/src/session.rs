//! A running device: its repo in the data directory, its key, the tcp server peers sync with,
//! and live sync with the peers it knows.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use weft_dag::{Identity, Repo, KEY_FILE, WEFT_DIR};
use weft_live::{Live, LiveOptions, Peer, Peers};
use weft_net::{ConnectOptions, ServeOptions};

use crate::error::Error;

/// How to start a device.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data directory (the repo's root; made on first start).
    pub data: PathBuf,
    /// Where to serve peers over tcp (`127.0.0.1:0` picks a free port); `None`: not at all.
    pub listen: Option<String>,
    /// Peers to live-sync with (`tcp://KEY@HOST:PORT`).
    pub peers: Vec<String>,
    /// Time between two gossip rounds with a peer.
    pub interval: Duration,
}

impl Options {
    /// A device in `data`, serving nobody and syncing with nobody.
    pub fn new(data: impl Into<PathBuf>) -> Options {
        Options {
            data: data.into(),
            listen: None,
            peers: Vec::new(),
            interval: Duration::from_secs(2),
        }
    }
}

/// The peers live sync asks for before every round: the app adds to them while it runs.
#[derive(Debug, Clone, Default)]
struct SharedPeers(Arc<Mutex<Vec<Peer>>>);

impl Peers for SharedPeers {
    fn peers(&mut self) -> Result<Vec<Peer>, String> {
        match self.0.lock() {
            Ok(p) => Ok(p.clone()),
            Err(_) => Err("the list of peers is unusable".into()),
        }
    }
}

/// A device: the repo, its key, its server and live sync. Dropping it stops live sync; the
/// server thread serves until the process ends.
#[derive(Debug)]
pub struct Session {
    /// The repo.
    pub repo: Arc<Repo>,
    identity: Identity,
    url: Option<String>,
    peers: SharedPeers,
    live: Live,
}

/// Opens the repo in `dir`, making it (without documents: the board is made or arrives
/// later) on first start, and reads the device's key.
fn open_repo(dir: &Path) -> Result<(Repo, Identity), Error> {
    let open_err = |source| Error::Open {
        path: dir.to_path_buf(),
        source,
    };
    let repo = if dir.join(WEFT_DIR).exists() {
        Repo::open(dir, weft_dag::Options::default()).map_err(open_err)?
    } else {
        std::fs::create_dir_all(dir).map_err(|e| {
            open_err(weft_dag::open::Error::Io {
                path: dir.to_path_buf(),
                source: e,
            })
        })?;
        Repo::init_empty(dir, weft_dag::Options::default()).map_err(open_err)?
    };
    let key = dir.join(WEFT_DIR).join(KEY_FILE);
    let identity = Identity::load(&key).map_err(|source| Error::Key { path: key, source })?;
    Ok((repo, identity))
}

impl Session {
    /// Opens the data directory, starts the server (`listen`) and live sync with `peers`.
    pub fn start(options: &Options) -> Result<Session, Error> {
        // Bad URLs are refused before anything is made.
        for url in &options.peers {
            weft_net::Remote::parse(url.trim()).map_err(|e| Error::BadPeer {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        }
        let (repo, identity) = open_repo(&options.data)?;
        let repo = Arc::new(repo);
        let peers = SharedPeers::default();
        let mut url = None;
        if let Some(addr) = &options.listen {
            let listener = TcpListener::bind(addr).map_err(|source| Error::Listen {
                addr: addr.clone(),
                source,
            })?;
            let local = listener.local_addr().map_err(|source| Error::Listen {
                addr: addr.clone(),
                source,
            })?;
            url = Some(format!("tcp://{}@{local}", identity.author()));
            let (served, id) = (Arc::clone(&repo), identity.clone());
            thread::Builder::new()
                .name("weft-todo-serve".into())
                .spawn(move || weft_net::serve_tcp(served, listener, id, ServeOptions::default()))
                .map_err(Error::Thread)?;
        }
        let live = Live::start(
            Arc::clone(&repo),
            peers.clone(),
            LiveOptions {
                interval: options.interval,
                debounce: Duration::from_millis(20),
                ..LiveOptions::default()
            },
        )
        .map_err(Error::Thread)?;
        let session = Session {
            repo,
            identity,
            url,
            peers,
            live,
        };
        for p in &options.peers {
            session.add_peer(p)?;
        }
        Ok(session)
    }

    /// The URL peers reach this device at, when it serves.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The live sync.
    pub fn live(&self) -> &Live {
        &self.live
    }

    /// Live-syncs with `url` from now on (a URL already known is left as it is).
    pub fn add_peer(&self, url: &str) -> Result<(), Error> {
        let url = url.trim();
        let peer = Peer::new(
            url,
            ConnectOptions {
                identity: Some(self.identity.clone()),
                ..ConnectOptions::default()
            },
        )
        .map_err(|e| Error::BadPeer {
            url: url.into(),
            reason: e.to_string(),
        })?;
        if let Ok(mut peers) = self.peers.0.lock() {
            if !peers.iter().any(|p| p.url == peer.url) {
                peers.push(peer);
            }
        }
        self.live.sync_now();
        Ok(())
    }

    /// Issues a single-use invite to `doc` with `role`, reaching this device at its URL, and
    /// returns its ticket as text.
    pub fn invite(&self, doc: weft_dag::DocId, role: weft_dag::Role) -> Result<String, Error> {
        let url = self.url.clone().ok_or(Error::NotServing)?;
        let ticket = weft_net::invite::create(
            &self.repo,
            &self.identity,
            &weft_net::invite::Options {
                role,
                docs: vec![doc],
                ttl: weft_net::invite::DEFAULT_TTL,
                uses: 1,
                peers: vec![url],
                name: Some("todo".into()),
            },
        )?;
        Ok(ticket.encode())
    }

    /// Redeems a ticket: the inviting device grants this one's key and sends the board, which
    /// is cloned here; then it is a peer to live-sync with.
    pub fn join(&self, ticket: &str) -> Result<(), Error> {
        let ticket: weft_sync::invite::Ticket = ticket
            .trim()
            .parse()
            .map_err(weft_net::invite::Error::from)?;
        let redeemed = weft_net::join::join(
            &self.repo,
            &ticket,
            &ConnectOptions {
                identity: Some(self.identity.clone()),
                ..ConnectOptions::default()
            },
            &mut |_| {},
        )?;
        self.add_peer(&redeemed.remote.to_string())
    }

    /// The URLs of the peers.
    pub fn peer_urls(&self) -> Vec<String> {
        self.peers
            .0
            .lock()
            .map(|p| p.iter().map(|p| p.url.clone()).collect())
            .unwrap_or_default()
    }
}
