//! The attacker over real TCP: one real `weft serve --listen 127.0.0.1:0` process, and test code
//! that completes the Noise handshake with keys of its own (`weft_net::noise`, as a client
//! does) and then speaks the sync protocol (`weft_sync::frame`) with hostile content.
//!
//! Every case asserts
//! - (a) what the attacker is told: an ERROR frame whose text names the problem, then the
//!   connection closed (or, where the attack is harmless, a clean end);
//! - (b) that nothing of the bad data is stored: `weft fsck --json` on the server (proxied to
//!   the serving process) finds no problem and exactly the changes that should be there, and
//!   the bad CIDs are unknown to the server;
//! - (c) that the server's peak resident memory during the case (VmHWM from `/proc`, reset
//!   before each case) stays under [`MEMORY_BOUND`];
//! - (d) that an honest granted replica syncing meanwhile (`weft set`, `push`, `pull` from
//!   another process) succeeds, and reaches the server's heads.
//!
//! The one server serves the whole suite, and must still be alive at its end and then exit
//! cleanly. No test sleeps: the stalled peer is dropped by the server's `--timeout`, and the
//! attacker waits for that by reading the socket with a generous deadline.

use std::{
    fs,
    io::{self, Write},
    net::{SocketAddr, TcpStream},
    sync::{mpsc, Mutex},
    thread,
    time::{Duration, Instant},
};

use weft_dag::{Author, Change, Cid, Codec, DocId, EncodedChange, Identity, Op, OpId, Value};
use weft_net::noise::{self, NoiseReader, NoiseWriter};
use weft_sync::frame::{read_frame, DocReq, Frame, Hello, Reply, Request, MAX_FRAME};
use weft_testkit::{flip_signature, identity};

use crate::util::{Dir, Proc};

/// The peak resident memory (MiB) the server may reach during any case.
const MEMORY_BOUND: u64 = 256;

/// The server's silence timeout (`weft serve --timeout`), in seconds: what the stalled peer of
/// case 9 costs.
const SERVER_TIMEOUT: u64 = 3;

/// How long the attacker waits for the server to answer or close: a deadline that only a hung
/// server reaches.
const PATIENCE: Duration = Duration::from_secs(60);

/// The largest block a server stores (the store's default limit).
const MAX_BLOCK: usize = 1 << 20;

/// A deterministic stream of pseudo-random bytes (xorshift64*), for garbage.
struct Noise(u64);

impl Noise {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }
}

/// A frame from raw parts: `length:u32be ++ body`, the length taken from `body` unless given.
fn raw_frame(len: Option<u32>, body: &[u8]) -> Vec<u8> {
    let mut out = len.unwrap_or(body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// The attacker's greeting.
fn hello() -> Frame {
    Frame::Hello(Hello {
        removed: None,
        versions: vec![1],
        replica: vec![0xAB; 16],
        docs: None,
    })
}

/// A request about `doc` that claims `heads`, and pushes if `push`.
fn request(doc: DocId, heads: Vec<Cid>, push: bool) -> Frame {
    Frame::Request(Request {
        docs: vec![DocReq {
            doc: doc.0,
            name: None,
            heads,
            have: vec![],
            base: vec![],
            samples: vec![],
            want: false,
            push,
            bloom: None,
        }],
        need: vec![],
    })
}

/// A whole first turn: HELLO, a request about `doc` claiming `heads`, `blocks`, END.
fn turn<'a>(
    doc: DocId,
    heads: Vec<Cid>,
    push: bool,
    blocks: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let mut out = hello().encode();
    out.extend(request(doc, heads, push).encode());
    for b in blocks {
        out.extend(Frame::Block(b.to_vec()).encode());
    }
    out.extend(Frame::End.encode());
    out
}

/// A block of the size limit that is not a change (distinct for each `i`).
fn junk(i: u64) -> Vec<u8> {
    let mut b = vec![0xFF; MAX_BLOCK];
    b[MAX_BLOCK - 8..].copy_from_slice(&i.to_be_bytes());
    b
}

/// A change signed by `id`.
fn signed(
    id: &Identity,
    doc: DocId,
    parents: Vec<Cid>,
    (height, seq): (u64, u64),
    ops: Vec<Op>,
) -> EncodedChange {
    let mut parents = parents;
    parents.sort();
    Change {
        doc: Some(doc),
        parents,
        author: id.author(),
        seq,
        height,
        time: 1_700_000_000_000 + seq,
        ops,
        sig: [0; 64],
    }
    .sign(id)
}

/// A register write.
fn set(key: &str, value: Value) -> Op {
    Op::Set {
        key: key.to_string(),
        value,
        pred: vec![],
    }
}

/// How a connection ended after the frames the attacker read.
#[derive(Debug)]
enum Ending {
    /// The server closed it (a clean end of stream).
    Closed,
    /// Reading failed (a reset, or the attacker's deadline: the server hung).
    Broken(io::Error),
}

/// One hostile client: a real TCP connection, secured with the attacker's own key.
struct Attacker {
    raw: TcpStream,
    reader: NoiseReader<TcpStream>,
    writer: NoiseWriter<TcpStream>,
}

impl Attacker {
    /// Connects to the server and completes the handshake as `id`.
    fn connect(server: &Suite, id: &Identity) -> Attacker {
        let raw = TcpStream::connect(server.addr).unwrap();
        raw.set_read_timeout(Some(PATIENCE)).unwrap();
        raw.set_write_timeout(Some(PATIENCE)).unwrap();
        let secured = noise::initiate(
            raw.try_clone().unwrap(),
            raw.try_clone().unwrap(),
            id,
            Some(&server.key),
            "the server",
            PATIENCE.as_secs(),
        )
        .unwrap();
        assert_eq!(secured.remote, server.key);
        Attacker {
            raw,
            reader: secured.reader,
            writer: secured.writer,
        }
    }

    /// Sends `bytes` of sync stream (in one Noise message when they fit in one).
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// The next frame from the server, or how the connection ended.
    fn next(&mut self) -> Result<Frame, Ending> {
        next_frame(&mut self.reader)
    }

    /// Every frame until the connection ends, and how it ended.
    fn rest(&mut self) -> (Vec<Frame>, Ending) {
        loop_frames(&mut self.reader)
    }

    /// Reads until the server's turn ends (its END), which must come after a REPLY.
    fn reply(&mut self) -> Reply {
        let mut reply = None;
        loop {
            match self.next() {
                Ok(Frame::Hello(_)) => {}
                Ok(Frame::Reply(r)) => reply = Some(r),
                Ok(Frame::End) => return reply.expect("an END without a REPLY"),
                Ok(f) => panic!("unexpected {f:?} before the server's END"),
                Err(end) => panic!("the connection ended ({end:?}) before the server's END"),
            }
        }
    }

    /// Whether the server still holds the connection open, with nothing more sent (without
    /// waiting).
    fn still_open(&self) -> bool {
        self.raw.set_nonblocking(true).unwrap();
        let open = matches!(
            self.raw.peek(&mut [0u8; 1]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        );
        self.raw.set_nonblocking(false).unwrap();
        open
    }
}

/// The next frame on `reader`, or how the connection ended.
fn next_frame(reader: &mut impl io::Read) -> Result<Frame, Ending> {
    let mut buf = Vec::new();
    match read_frame(reader, &mut buf) {
        Ok(true) => Ok(Frame::decode(&buf).unwrap()),
        Ok(false) => Err(Ending::Closed),
        Err(e) => Err(Ending::Broken(e)),
    }
}

/// Every frame on `reader` until the connection ends, and how it ended.
fn loop_frames(reader: &mut impl io::Read) -> (Vec<Frame>, Ending) {
    let mut frames = Vec::new();
    loop {
        match next_frame(reader) {
            Ok(f) => frames.push(f),
            Err(end) => return (frames, end),
        }
    }
}

/// Asserts that the server's frames end with an ERROR containing every part of `wants`, after
/// `before` other frames (HELLO, a REPLY turn), and that the server then closed the connection.
/// Returns the ERROR's text.
fn refused(frames: &[Frame], ending: &Ending, before: usize, wants: &[&str]) -> String {
    let Some(Frame::Error(text)) = frames.last() else {
        panic!("no ERROR from the server: {frames:?}, then {ending:?}");
    };
    assert_eq!(
        frames.len(),
        before + 1,
        "frames before the ERROR: {frames:?}"
    );
    if before > 0 {
        assert!(matches!(frames[0], Frame::Hello(_)), "{frames:?}");
    }
    for want in wants {
        assert!(
            text.contains(want),
            "{want:?} missing from the ERROR {text:?}"
        );
    }
    assert!(
        matches!(ending, Ending::Closed),
        "the server did not close the connection after its ERROR: {ending:?}"
    );
    text.clone()
}

/// What one case did, for the table printed at the end.
struct Row {
    case: &'static str,
    said: String,
    stored: String,
    peak_mib: u64,
    before_mib: u64,
    honest: String,
    /// Informational only (printed, never asserted).
    secs: f64,
}

/// What an attack reports: what the attacker was told, and CIDs the server must not have.
struct Outcome {
    said: String,
    absent: Vec<Cid>,
    /// What to say about the honest sync, if more than the usual.
    honest: Option<String>,
}

impl Outcome {
    /// The attacker was told `said`, and the server must not have `absent`.
    fn new(said: String, absent: Vec<Cid>) -> Outcome {
        Outcome {
            said,
            absent,
            honest: None,
        }
    }
}

/// Starts the honest replica's sync of a case, and waits for it to be done.
struct Go {
    start: Mutex<Option<mpsc::Sender<()>>>,
    done: Mutex<mpsc::Receiver<()>>,
}

impl Go {
    /// Lets the honest sync run now (once; later calls do nothing).
    fn start(&self) {
        if let Some(tx) = self.start.lock().unwrap().take() {
            let _ = tx.send(());
        }
    }

    /// Starts the honest sync if needed and waits until it is over.
    fn finish(&self) {
        self.start();
        self.done.lock().unwrap().recv_timeout(PATIENCE).unwrap();
    }
}

/// Reads a `kB` field of `/proc/PID/status`.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix(" kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// The server, its keys, the honest replica and the attackers' keys.
struct Suite {
    server: Dir,
    proc: Proc,
    pid: u32,
    addr: SocketAddr,
    key: Author,
    doc: DocId,
    honest: Dir,
    _honest_key: Dir,
    /// Granted the writer role by the owner.
    writer: Identity,
    /// Never granted anything.
    outsider: Identity,
    /// No role, but the server runs with `--allow` for it: it may read, not write.
    reader: Identity,
    rows: Vec<Row>,
}

impl Suite {
    fn start() -> Suite {
        let server = Dir::init();
        server.ok(&["set", "title", "the victim"]);
        server.ok(&["incr", "visits"]);
        let writer = identity(0xA1);
        let outsider = identity(0xA2);
        let reader = identity(0xA3);
        server.ok(&["grant", &writer.author().to_string(), "--role", "writer"]);
        let honest_key = Dir::init();
        let honest_id = honest_key.ok(&["id"]).trim().to_string();
        server.ok(&["grant", &honest_id, "--role", "writer"]);

        let mut proc = Proc::spawn(&mut server.cmd(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--timeout",
            &SERVER_TIMEOUT.to_string(),
            "--allow",
            &reader.author().to_string(),
        ]));
        let line = proc.line();
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
            .to_string();
        assert_eq!(proc.line(), format!("serving {}", server.path().display()));
        let (key, addr) = url
            .strip_prefix("tcp://")
            .and_then(|r| r.split_once('@'))
            .unwrap_or_else(|| panic!("not a pinnable URL: {url}"));
        let key: Author = key.parse().unwrap();
        let addr: SocketAddr = addr.parse().unwrap();

        // The honest replica: a clone made with its granted key, which it keeps signing with.
        let honest = Dir::new();
        let key_file = honest_key.join(".weft/key");
        honest
            .cmd(&["clone", &url, ".", "--identity"])
            .args(&[&key_file])
            .run()
            .success();
        fs::copy(&key_file, honest.join(".weft/key")).unwrap();

        let docs = server.json(&["doc", "ls", "--json"]);
        let doc = DocId(docs["docs"][0]["id"].as_str().unwrap().parse().unwrap());
        let pid = proc.pid();
        Suite {
            server,
            proc,
            pid,
            addr,
            key,
            doc,
            honest,
            _honest_key: honest_key,
            writer,
            outsider,
            reader,
            rows: Vec::new(),
        }
    }

    /// The server's heads and the greatest of their heights.
    fn tip(&self) -> (Vec<Cid>, u64) {
        let heads: Vec<Cid> = self
            .server
            .heads()
            .iter()
            .map(|h| h.parse().unwrap())
            .collect();
        let height = heads
            .iter()
            .map(|h| {
                let v = self.server.json(&["show", &h.to_string(), "--json"]);
                v["height"].as_u64().unwrap()
            })
            .max()
            .unwrap();
        (heads, height)
    }

    /// A change by the granted writer on the server's current heads.
    fn on_tip(&self, seq: u64, ops: Vec<Op>) -> EncodedChange {
        let (heads, height) = self.tip();
        signed(&self.writer, self.doc, heads, (height + 1, seq), ops)
    }

    /// `fsck --json` on the server: asserts it is clean; returns how many changes it holds.
    fn fsck(&self) -> u64 {
        let report = self.server.json(&["fsck", "--json"]);
        assert_eq!(report["ok"], true, "fsck: {report}");
        report["n_changes"].as_u64().unwrap()
    }

    /// Runs one attack with an honest sync alongside (started by the attack through [`Go`],
    /// or else when the attack is over) and checks (a) to (d); `added` is how many changes the
    /// attack legitimately adds, described by `stored`.
    fn case(
        &mut self,
        name: &'static str,
        added: u64,
        stored: &str,
        attack: impl FnOnce(&Suite, &Go) -> Outcome,
    ) {
        let n_before = self.fsck();
        // Resets the peak (VmHWM) to the current resident size; if the kernel does not allow
        // it, the peak since the server started is checked, which is stricter.
        let _ = fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
        let rss_before = status_kib(self.pid, "VmRSS");
        let started = Instant::now();
        let this = &*self;
        let outcome = thread::scope(|scope| {
            let (start_tx, start_rx) = mpsc::channel();
            let (done_tx, done_rx) = mpsc::channel();
            let honest = scope.spawn(move || {
                // Also runs if the attack panicked (the sender is gone): the scope waits.
                let _ = start_rx.recv();
                honest_round(&this.honest, name);
                let _ = done_tx.send(());
            });
            let go = Go {
                start: Mutex::new(Some(start_tx)),
                done: Mutex::new(done_rx),
            };
            let outcome = attack(this, &go);
            go.start();
            honest
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            outcome
        });
        // (d) After the attack, the honest replica reaches exactly the server's heads.
        self.honest.ok(&["pull"]);
        assert_eq!(
            self.honest.heads(),
            self.server.heads(),
            "{name}: the honest replica and the server differ"
        );
        // (b) Nothing else landed, and what is there is sound.
        let n_after = self.fsck();
        assert_eq!(
            n_after,
            n_before + 1 + added,
            "{name}: the server holds {n_after} changes, expected {n_before} + 1 (honest) + \
             {added}"
        );
        for cid in &outcome.absent {
            let err = self.server.fails(4, &["show", &cid.to_string()]);
            assert!(err.contains(&cid.to_string()), "{err}");
        }
        // (c) Memory.
        let peak = status_kib(self.pid, "VmHWM");
        assert!(
            peak < MEMORY_BOUND << 10,
            "{name}: the server's peak RSS reached {} MiB (bound {MEMORY_BOUND} MiB)",
            peak >> 10
        );
        self.rows.push(Row {
            case: name,
            said: outcome.said,
            stored: stored.to_string(),
            peak_mib: peak.div_ceil(1024),
            before_mib: rss_before.div_ceil(1024),
            honest: outcome.honest.unwrap_or_else(|| {
                "set, push, pull: exit 0 during the attack; same heads after".into()
            }),
            secs: started.elapsed().as_secs_f64(),
        });
    }
}

/// One honest sync, as a user would run it: a local write, a push, a pull (all exit 0).
fn honest_round(honest: &Dir, case: &str) {
    honest.ok(&["set", &format!("honest/{case}"), "1"]);
    honest.ok(&["push"]);
    honest.ok(&["pull"]);
}

#[test]
fn an_attacker_over_real_tcp_gets_nothing_in_and_honest_clients_carry_on() {
    let mut s = Suite::start();

    // 1. Garbage. (1a) A frame of random bytes under an unknown tag, straight after the
    // handshake.
    s.case("1a garbage frame", 0, "nothing", |s, go| {
        let mut a = Attacker::connect(s, &s.writer);
        go.start();
        let mut body = vec![0xEE];
        body.extend(Noise(1).bytes(63));
        a.send(&raw_frame(None, &body)).unwrap();
        let (frames, end) = a.rest();
        let said = refused(
            &frames,
            &end,
            1,
            &["malformed frame", "unknown frame tag 0xee"],
        );
        Outcome::new(said, vec![])
    });
    // (1b) A REQUEST whose payload is random bytes, after a proper HELLO.
    s.case("1b garbage request", 0, "nothing", |s, go| {
        let mut a = Attacker::connect(s, &s.writer);
        go.start();
        let mut body = vec![0x02];
        body.extend(Noise(2).bytes(200));
        let mut bytes = hello().encode();
        bytes.extend(raw_frame(None, &body));
        a.send(&bytes).unwrap();
        let (frames, end) = a.rest();
        let said = refused(&frames, &end, 1, &["malformed request"]);
        Outcome::new(said, vec![])
    });
    // (1c) Random bytes straight on the socket, outside the secure channel: a message length
    // of 1,000 and 1,000 random bytes (a whole message, so the server reads all it was sent).
    s.case("1c raw garbage on the socket", 0, "nothing", |s, go| {
        let mut a = Attacker::connect(s, &s.writer);
        go.start();
        let mut bytes = 1000u16.to_be_bytes().to_vec();
        bytes.extend(Noise(3).bytes(1000));
        a.raw.write_all(&bytes).unwrap();
        let (frames, end) = a.rest();
        let said = refused(&frames, &end, 1, &["failed authentication", "tampered"]);
        Outcome::new(said, vec![])
    });

    // 2. A frame one byte over the limit, followed by data (in the same Noise message, so the
    // server has read every byte it was sent when it closes: a clean close, not a reset).
    s.case("2 oversized frame", 0, "nothing", |s, go| {
        let mut a = Attacker::connect(s, &s.writer);
        go.start();
        let mut bytes = hello().encode();
        let mut body = vec![0x04];
        body.extend(Noise(4).bytes(60_000));
        bytes.extend(raw_frame(Some(MAX_FRAME as u32 + 1), &body));
        a.send(&bytes).unwrap();
        let (frames, end) = a.rest();
        let said = refused(
            &frames,
            &end,
            1,
            &[
                &format!("a frame of {} bytes", MAX_FRAME + 1),
                "the limit is",
            ],
        );
        Outcome::new(said, vec![])
    });

    // 3. A length of 4 GiB with nothing after it: refused from the header, never allocated
    // (the memory bound of the case would catch it).
    s.case("3 huge length prefix", 0, "nothing", |s, go| {
        let mut a = Attacker::connect(s, &s.writer);
        go.start();
        let mut bytes = hello().encode();
        bytes.extend(u32::MAX.to_be_bytes());
        a.send(&bytes).unwrap();
        let (frames, end) = a.rest();
        let said = refused(&frames, &end, 1, &["a frame of 4294967295 bytes"]);
        Outcome::new(said, vec![])
    });

    // 4. A wrong hash. BLOCK frames carry no CID: the server names every block by the hash of
    // its bytes. So the only way to announce a block under a CID is to name it elsewhere: in
    // the REQUEST's heads, or as a parent of another change. Here the writer builds P and its
    // child C, claims C as its head, and sends C with other bytes in P's place.
    // (4a) P's bytes with one byte of its value changed: the server names that block Q (not P),
    // whose signature does not verify; C waits for P, which never comes.
    s.case("4a tampered parent bytes", 0, "nothing", |s, go| {
        let marker = "a".repeat(32);
        let p = s.on_tip(10, vec![set("tampered", Value::from(marker.as_str()))]);
        let c = signed(
            &s.writer,
            s.doc,
            vec![p.cid],
            (p.change.height + 1, 11),
            vec![set("child", Value::Int(1))],
        );
        let mut other = p.bytes.clone();
        let at = other
            .windows(marker.len())
            .position(|w| w == marker.as_bytes())
            .unwrap();
        other[at] = b'b';
        let q = Cid::hash(Codec::DagCbor, &other);
        assert_ne!(q, p.cid);
        let mut a = Attacker::connect(s, &s.writer);
        go.start();
        let bytes = turn(s.doc, vec![c.cid], true, [&other[..], &c.bytes[..]]);
        a.send(&bytes).unwrap();
        let (frames, end) = a.rest();
        let said = refused(
            &frames,
            &end,
            1,
            &[&format!("change {q} has a bad signature")],
        );
        Outcome::new(said, vec![p.cid, q, c.cid])
    });
    // (4b) A change the server already has sent in P's place: it is taken for what it is (a
    // redundant block), never for P; C's parent never comes, and C is refused as an orphan
    // when the session ends.
    s.case("4b substituted parent bytes", 0, "nothing", |s, go| {
        let p = s.on_tip(12, vec![set("never-sent", Value::Int(1))]);
        let c = signed(
            &s.writer,
            s.doc,
            vec![p.cid],
            (p.change.height + 1, 13),
            vec![set("child", Value::Int(2))],
        );
        let (heads, _) = s.tip();
        let theirs = s.server.run(&["block", "get", &heads[0].to_string()]);
        let theirs = theirs.success().stdout_bytes().to_vec();
        let mut a = Attacker::connect(s, &s.writer);
        go.start();
        a.send(&turn(s.doc, vec![c.cid], true, [&theirs[..], &c.bytes[..]]))
            .unwrap();
        let reply = a.reply();
        assert_eq!(reply.redundant, 1, "{reply:?}");
        a.send(&Frame::Done.encode()).unwrap();
        let (frames, end) = a.rest();
        let said = refused(
            &frames,
            &end,
            0,
            &[&format!("change {} is missing its parent {}", c.cid, p.cid)],
        );
        Outcome::new(said, vec![p.cid, c.cid])
    });

    // 5. A bad signature: a valid change with one bit of its signature flipped.
    s.case("5 bad signature", 0, "nothing", |s, go| {
        let good = s.on_tip(20, vec![set("forged", Value::Int(1))]);
        let bad = flip_signature(&good.bytes, 10, 0x01);
        let bad_cid = Cid::hash(Codec::DagCbor, &bad);
        let mut a = Attacker::connect(s, &s.writer);
        go.start();
        a.send(&turn(s.doc, vec![bad_cid], true, [&bad[..]]))
            .unwrap();
        let (frames, end) = a.rest();
        let said = refused(
            &frames,
            &end,
            1,
            &[&format!(
                "change {bad_cid} has a bad signature for author {}",
                s.writer.author()
            )],
        );
        Outcome::new(said, vec![bad_cid, good.cid])
    });

    // 6. Valid signatures from keys that may not write.
    // (6a) A key the server never granted anything: refused in place of the server's HELLO,
    // before it learns even a document id; its push is read and dropped.
    s.case("6a ungranted key pushes", 0, "nothing", |s, go| {
        let (heads, height) = s.tip();
        let c = signed(
            &s.outsider,
            s.doc,
            heads,
            (height + 1, 1),
            vec![set("intruder", Value::Int(1))],
        );
        let mut a = Attacker::connect(s, &s.outsider);
        go.start();
        a.send(&turn(s.doc, vec![c.cid], true, [&c.bytes[..]]))
            .unwrap();
        let (frames, end) = a.rest();
        let said = refused(
            &frames,
            &end,
            0,
            &[&format!(
                "access refused: key {} may read no document here",
                s.outsider.author()
            )],
        );
        Outcome::new(said, vec![c.cid])
    });
    // (6b) A key that may read (`--allow`) but not write, sneaking a BLOCK of its own into a
    // request that does not even say it pushes.
    s.case("6b reader sneaks a block in", 0, "nothing", |s, go| {
        let (heads, height) = s.tip();
        let c = signed(
            &s.reader,
            s.doc,
            heads,
            (height + 1, 1),
            vec![set("intruder", Value::Int(2))],
        );
        let mut a = Attacker::connect(s, &s.reader);
        go.start();
        a.send(&turn(s.doc, vec![c.cid], false, [&c.bytes[..]]))
            .unwrap();
        let (frames, end) = a.rest();
        let said = refused(
            &frames,
            &end,
            1,
            &[&format!(
                "access refused: key {} may read but not write document {}",
                s.reader.author(),
                s.doc
            )],
        );
        Outcome::new(said, vec![c.cid])
    });
    // (6c) A granted writer relaying a change signed by the ungranted key: the server checks
    // the change's author, not the link's: Unauthorized, naming both.
    s.case(
        "6c writer relays an unauthorised change",
        0,
        "nothing",
        |s, go| {
            let (heads, height) = s.tip();
            let c = signed(
                &s.outsider,
                s.doc,
                heads,
                (height + 1, 2),
                vec![set("intruder", Value::Int(3))],
            );
            let mut a = Attacker::connect(s, &s.writer);
            go.start();
            a.send(&turn(s.doc, vec![c.cid], true, [&c.bytes[..]]))
                .unwrap();
            let (frames, end) = a.rest();
            let said = refused(
                &frames,
                &end,
                1,
                &[
                    &format!(
                        "change {} by {} is not allowed: it needs the writer role",
                        c.cid,
                        s.outsider.author()
                    ),
                    "had none",
                ],
            );
            Outcome::new(said, vec![c.cid])
        },
    );

    // 7. A granted writer floods 10,000 changes whose parents never come (each names a parent
    // of its own that exists nowhere). They wait, bounded (64 MiB of changes), and are refused
    // as orphans when the session ends.
    s.case("7a flood of 10,000 orphans", 0, "nothing", |s, go| {
        let n = 10_000u64;
        let per = n.div_ceil(4);
        let orphans: Vec<EncodedChange> = thread::scope(|scope| {
            let parts: Vec<_> = (0..4)
                .map(|t| {
                    scope.spawn(move || {
                        (t * per..((t + 1) * per).min(n))
                            .map(|i| {
                                let ghost =
                                    Cid::hash(Codec::DagCbor, format!("ghost {i}").as_bytes());
                                signed(
                                    &s.writer,
                                    s.doc,
                                    vec![ghost],
                                    (5, 1_000 + i),
                                    vec![set("orphan", Value::Int(i as i64))],
                                )
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts.into_iter().flat_map(|p| p.join().unwrap()).collect()
        });
        let bytes = turn(
            s.doc,
            vec![orphans[0].cid],
            true,
            orphans.iter().map(|c| &c.bytes[..]),
        );
        let mut a = Attacker::connect(s, &s.writer);
        go.start();
        a.send(&bytes).unwrap();
        let reply = a.reply();
        assert_eq!(reply.redundant, 0, "{reply:?}");
        a.send(&Frame::Done.encode()).unwrap();
        let (frames, end) = a.rest();
        let said = refused(
            &frames,
            &end,
            0,
            &[
                "is missing its parent",
                "(10000 change(s) rejected as orphans, 0 applied)",
            ],
        );
        Outcome::new(said, vec![orphans[0].cid, orphans[9_999].cid])
    });
    // (7b) A reader streams distinct blocks of 1 MiB (the block size limit) that are not
    // changes, in a request that does not say it pushes, and never ends its turn. A block that
    // does not decode names no document, so the access check leaves it to the import, which
    // refuses it when it verifies its queue: after 512 blocks or 4 MiB, whichever comes first.
    // (Without the byte bound the server held up to 512 of them, 512 MiB, in each session, and
    // here it would wait for more and drop the peer for its silence instead.)
    s.case(
        "7b reader streams 1 MiB junk blocks",
        0,
        "nothing",
        |s, go| {
            let first = Cid::hash(Codec::DagCbor, &junk(0));
            let mut a = Attacker::connect(s, &s.reader);
            go.start();
            let mut bytes = hello().encode();
            bytes.extend(request(s.doc, vec![], false).encode());
            a.send(&bytes).unwrap();
            // Twice the bound, written from another thread while this one reads the answer (the
            // server stops reading when it refuses, so the writes may then fail).
            let mut writer = a.writer;
            let sender = thread::spawn(move || {
                let mut sent = 0;
                while sent < 8 && writer.write_all(&Frame::Block(junk(sent)).encode()).is_ok() {
                    sent += 1;
                }
                let _ = writer.flush();
            });
            let (frames, end) = loop_frames(&mut a.reader);
            // Closing a socket with unread bytes in it sends a reset instead of an end of stream:
            // after the ERROR, that is the server closing a connection it stopped reading.
            let end = match end {
                Ending::Broken(e) if e.kind() == io::ErrorKind::ConnectionReset => Ending::Closed,
                end => end,
            };
            let _ = a.raw.shutdown(std::net::Shutdown::Both);
            sender.join().unwrap();
            let said = refused(
                &frames,
                &end,
                1,
                &[&format!("block {first} is not a valid change")],
            );
            Outcome::new(said, vec![first])
        },
    );

    // 9. A peer that stalls inside a frame: a header promising 1,000 bytes and 10 of them. The
    // honest replica syncs while the stalled connection is held open; the server drops the
    // staller after its --timeout, telling it why.
    s.case("9 stall mid-frame", 0, "nothing", |s, go| {
        let mut a = Attacker::connect(s, &s.writer);
        let mut bytes = hello().encode();
        let mut partial = vec![0x04];
        partial.extend(Noise(9).bytes(9));
        bytes.extend(raw_frame(Some(1_000), &partial));
        a.send(&bytes).unwrap();
        assert!(matches!(a.next(), Ok(Frame::Hello(_))));
        go.finish();
        let during = a.still_open();
        let (frames, end) = a.rest();
        let said = refused(
            &frames,
            &end,
            0,
            &[&format!("the peer sent nothing for {SERVER_TIMEOUT} s")],
        );
        let mut outcome = Outcome::new(said, vec![]);
        outcome.honest = Some(format!(
            "set, push, pull: exit 0 while the stalled connection was {} open; same heads after",
            if during { "still" } else { "no longer" }
        ));
        outcome
    });

    // 10. Equivocation: a granted writer signs two different changes with one sequence number.
    // The first lands (it is a valid change); the second is refused, naming both.
    s.case(
        "10 equivocation",
        1,
        "the first change only (a valid write)",
        |s, go| {
            let first = s.on_tip(30, vec![set("equivocate", Value::from("first"))]);
            let second = s.on_tip(30, vec![set("equivocate", Value::from("second"))]);
            let mut a = Attacker::connect(s, &s.writer);
            go.start();
            a.send(&turn(
                s.doc,
                vec![first.cid, second.cid],
                true,
                [&first.bytes[..], &second.bytes[..]],
            ))
            .unwrap();
            let (frames, end) = a.rest();
            let said = refused(
                &frames,
                &end,
                1,
                &[&format!(
                    "equivocation: author {} signed both {} and {} with seq 30; {} is rejected",
                    s.writer.author(),
                    first.cid,
                    second.cid,
                    second.cid
                )],
            );
            assert!(s
                .server
                .ok(&["show", &first.cid.to_string()])
                .contains("seq       30"));
            Outcome::new(said, vec![second.cid])
        },
    );

    // 11. A replay of every change the server has: accepted as redundant, nothing changes.
    s.case("11 replay of old changes", 0, "nothing new", |s, go| {
        let (heads, _) = s.tip();
        let history: Vec<Vec<u8>> = s
            .server
            .run(&["log", "--json"])
            .success()
            .json_lines()
            .iter()
            .map(|l| {
                s.server
                    .run(&["block", "get", l["cid"].as_str().unwrap()])
                    .success()
                    .stdout_bytes()
                    .to_vec()
            })
            .collect();
        assert!(history.len() > 10, "{} changes", history.len());
        let mut a = Attacker::connect(s, &s.writer);
        go.start();
        a.send(&turn(s.doc, heads, true, history.iter().map(|b| &b[..])))
            .unwrap();
        let reply = a.reply();
        assert_eq!(reply.redundant, history.len() as u64, "{reply:?}");
        a.send(&Frame::Done.encode()).unwrap();
        let (frames, end) = a.rest();
        assert!(frames.is_empty(), "{frames:?}");
        assert!(matches!(end, Ending::Closed), "{end:?}");
        Outcome::new(
            format!(
                "none: REPLY with redundant = {} (all of them), then a clean close",
                history.len()
            ),
            vec![],
        )
    });

    // 8. A very deep DAG: a chain of 10,000 changes by a granted writer, pushed in one session.
    // It is accepted (nothing on the way recurses on depth: the import, the state, fsck and the
    // honest replica's pull all walk iteratively; a recursion 10,000 deep would overflow a
    // 2 MiB thread stack in a debug build), and fsck stays clean. 10,000, not more: the
    // transfer (about 1 MB/s of ChaCha20-Poly1305 in debug builds, both ways), the honest pull
    // of the chain and fsck's replay make it the longest case. Last, because every later fsck
    // would replay it.
    let depth = 10_000u64;
    s.case(
        "8 chain of 10,000 changes",
        depth,
        "all 10,000 (accepted: a legitimate history)",
        |s, go| {
            let (heads, height) = s.tip();
            let mut chain: Vec<EncodedChange> = Vec::with_capacity(depth as usize);
            for i in 0..depth {
                let (parents, pred) = match chain.last() {
                    None => (heads.clone(), vec![]),
                    Some(prev) => (
                        vec![prev.cid],
                        vec![OpId {
                            change: prev.cid,
                            index: 0,
                        }],
                    ),
                };
                chain.push(signed(
                    &s.writer,
                    s.doc,
                    parents,
                    (height + 1 + i, 100_000 + i),
                    vec![Op::Set {
                        key: "depth".into(),
                        value: Value::Int(i as i64),
                        pred,
                    }],
                ));
            }
            let tip = chain.last().unwrap().cid;
            let bytes = turn(s.doc, vec![tip], true, chain.iter().map(|c| &c.bytes[..]));
            let mut a = Attacker::connect(s, &s.writer);
            go.start();
            a.send(&bytes).unwrap();
            let reply = a.reply();
            assert!(reply.docs[0].heads.contains(&tip), "{reply:?}");
            a.send(&Frame::Done.encode()).unwrap();
            let (frames, end) = a.rest();
            assert!(frames.is_empty(), "{frames:?}");
            assert!(matches!(end, Ending::Closed), "{end:?}");
            assert_eq!(
                s.server.ok(&["get", "depth"]).trim(),
                (depth - 1).to_string()
            );
            Outcome::new(
                "none: accepted (REPLY naming the new head), then a clean close".into(),
                vec![],
            )
        },
    );

    // The server is still alive and serving: one more honest round, then it exits cleanly
    // when told to (EOF on its stdin), and never panicked.
    let stat = fs::read_to_string(format!("/proc/{}/stat", s.pid)).unwrap();
    let state = stat.rsplit_once(") ").unwrap().1.chars().next().unwrap();
    assert!(!matches!(state, 'Z' | 'X'), "the server is gone: {stat}");
    honest_round(&s.honest, "after");
    assert_eq!(s.honest.heads(), s.server.heads());
    let out = s.proc.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    let log = out.stderr();
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("frame of 4294967295 bytes"), "{log}");

    print_table(&s.rows);
}

/// The cases as a Markdown table on stderr (`cargo test -- --nocapture` shows it).
#[allow(clippy::print_stderr)]
fn print_table(rows: &[Row]) {
    eprintln!("| case | attacker's error | stored? | server peak RSS | honest client | s |");
    eprintln!("|---|---|---|---|---|---|");
    for r in rows {
        eprintln!(
            "| {} | {} | {} | {} MiB (from {} MiB) | {} | {:.1} |",
            r.case, r.said, r.stored, r.peak_mib, r.before_mib, r.honest, r.secs
        );
    }
}
