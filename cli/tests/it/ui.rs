//! `weft ui`: its endpoints answer what the `--json` commands print, refuse writes without
//! `--write`, unknown paths and bad CIDs; bad addresses and a locked repo fail with one line;
//! the live feed sees local writes and pushes, whether `weft ui` holds the repo or `weft serve`
//! does. (The page itself is driven in a real browser in `ui_browser.rs`.)

use std::{
    io::{BufRead as _, BufReader},
    time::{Duration, Instant},
};

use serde_json::Value as Json;

use crate::util::{Dir, Proc};

/// How long a test waits for something the server should do at once.
const BOUND: Duration = Duration::from_secs(30);

/// A running `weft ui`.
pub struct Ui {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base: String,
    agent: ureq::Agent,
}

impl Ui {
    /// Starts `weft ui --listen 127.0.0.1:0 ARGS` in `dir` and reads the URL it prints.
    pub fn start(dir: &Dir, args: &[&str]) -> Ui {
        let mut cmd = dir.cmd(&["ui", "--listen", "127.0.0.1:0"]);
        cmd.args(args);
        let mut proc = Proc::spawn(&mut cmd);
        let line = proc.line();
        let url = line
            .strip_prefix("serving the history browser on ")
            .unwrap_or_else(|| panic!("not a serving line: {line:?}"))
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
            "{url}"
        );
        Ui {
            proc,
            base: url.trim_end_matches('/').to_string(),
            agent: agent(),
        }
    }

    /// GET `path`: the status and the body as JSON.
    pub fn get(&self, path: &str) -> (u16, Json) {
        answer(self.agent.get(format!("{}{path}", self.base)).call())
    }

    /// GET `path`, which must succeed.
    pub fn json(&self, path: &str) -> Json {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// POST `path` with no body.
    pub fn post(&self, path: &str) -> (u16, Json) {
        answer(self.agent.post(format!("{}{path}", self.base)).send_empty())
    }
}

/// An HTTP client that returns error statuses as answers, and gives up on a silent server.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(BOUND))
        .build()
        .into()
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Json) {
    let mut r = r.unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    (status, body)
}

/// `{"error": LINE}`, one line.
fn error_of(body: &Json) -> String {
    let e = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"));
    assert!(!e.is_empty() && !e.contains('\n'), "{e:?}");
    e.to_string()
}

/// Two replicas that write, sync, write, sync: concurrent branches, merges, and a register
/// (`title`) left with two concurrent values. Returns A, B and B's key.
pub fn branches() -> (Dir, Dir) {
    let a = Dir::init();
    a.ok(&["set", "title", "draft"]);
    let (b, _) = Dir::clone_of(a.path().to_str().unwrap());
    a.ok(&["grant", b.ok(&["id"]).trim(), "--role", "writer"]);
    b.ok(&["pull"]);
    a.ok(&["set", "title", "from a"]);
    a.ok(&["incr", "visits", "2"]);
    b.ok(&["set", "title", "from b"]);
    b.ok(&["sadd", "tags", "x"]);
    b.ok(&["sync"]);
    a.ok(&["set", "done", "false"]);
    b.ok(&["incr", "visits", "1"]);
    b.ok(&["sync"]);
    a.ok(&["remote", "add", "b", b.path().to_str().unwrap()]);
    a.ok(&["pull", "b"]);
    a.ok(&["set", "done", "true"]);
    (a, b)
}

/// `weft log --json`'s lines in `dir`.
pub fn log(dir: &Dir) -> Vec<Json> {
    dir.run(&["log", "--json"]).success().json_lines()
}

/// The status line without the one field that changes as time passes.
fn timeless(mut status: Json) -> Json {
    for r in status["remotes"].as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("last_success_age_ms");
    }
    status
}

#[test]
fn endpoints_answer_what_the_json_commands_print() {
    let (a, _b) = branches();
    let ui = Ui::start(&a, &[]);
    // The commands run in the `weft ui` process meanwhile (it holds the repo).
    let lines = log(&a);
    let merge = lines
        .iter()
        .find(|l| l["parents"].as_array().unwrap().len() > 1)
        .expect("a merge");
    let merge = merge["cid"].as_str().unwrap();
    let oldest = lines.last().unwrap()["cid"].as_str().unwrap();
    let cli = |args: &[&str]| a.json(args);

    assert_eq!(
        ui.json(&format!("/api/show/{merge}")),
        cli(&["show", "--json", merge])
    );
    // A prefix, as the command line takes one.
    assert_eq!(
        ui.json(&format!("/api/show/{}", &merge[..20])),
        cli(&["show", "--json", merge])
    );
    assert_eq!(ui.json("/api/ls"), cli(&["ls", "--json"]));
    assert_eq!(
        ui.json(&format!("/api/ls?at={merge}")),
        cli(&["ls", "--json", "--at", merge])
    );
    assert_eq!(
        ui.json("/api/ls?prefix=ti&at=@~1"),
        cli(&["ls", "ti", "--json", "--at", "@~1"])
    );
    let blame = ui.json("/api/blame?key=title");
    assert_eq!(blame, cli(&["blame", "--json", "title"]));
    assert_eq!(blame["lines"].as_array().unwrap().len(), 2, "{blame}");
    assert_eq!(
        ui.json(&format!("/api/diff?from={oldest}&to={merge}")),
        cli(&["diff", "--json", oldest, merge])
    );
    assert_eq!(
        ui.json(&format!("/api/diff?from={oldest}")),
        cli(&["diff", "--json", oldest, "@"])
    );
    assert_eq!(ui.json("/api/members"), cli(&["members", "--json"]));
    let status = ui.json("/api/status");
    assert_eq!(status["remotes"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(timeless(status), timeless(cli(&["status", "--json"])));
    assert_eq!(ui.json("/api/convergence"), cli(&["convergence", "--json"]));
    let ls = ui.json("/api/ls");
    let title = ls["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "title")
        .unwrap();
    assert_eq!(title["conflict"], true, "{title}");

    // The graph: every change of `log`, in its order, parents by index.
    let g = ui.json("/api/graph");
    let cids: Vec<&str> = lines.iter().map(|l| l["cid"].as_str().unwrap()).collect();
    let gcids: Vec<&str> = g["cids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(gcids, cids);
    for (i, l) in lines.iter().enumerate() {
        let parents: Vec<&str> = g["parents"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| cids[p.as_u64().unwrap() as usize])
            .collect();
        let expected: Vec<&str> = l["parents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(parents, expected, "parents of {}", cids[i]);
        let author = &g["authors"][g["author"][i].as_u64().unwrap() as usize];
        assert_eq!(author, &l["author"]);
        assert_eq!(g["time"][i], l["time"]);
    }
    assert_eq!(g["authors"].as_array().unwrap().len(), 2);
    assert_eq!(g["void"], serde_json::json!([]));
    assert_eq!(
        g["heads"],
        serde_json::to_value(a.heads()).unwrap(),
        "{}",
        g["heads"]
    );
    let info = ui.json("/api/info");
    assert_eq!(info["write"], false);
    assert_eq!(info["name"], "main");
    assert_eq!(info["author"].as_str().unwrap(), a.ok(&["id"]).trim());
}

#[test]
fn the_graph_marks_void_changes() {
    // B writes while A revokes it: B's change counts nowhere once both are known.
    let a = Dir::init();
    let (b, _) = Dir::clone_of(a.path().to_str().unwrap());
    let key = b.ok(&["id"]).trim().to_string();
    a.ok(&["grant", &key, "--role", "writer"]);
    b.ok(&["pull"]);
    let voided = b.ok(&["set", "x", "from b"]).trim().to_string();
    let before = a.heads();
    a.ok(&["revoke", &key]);
    a.ok(&["pull", b.path().to_str().unwrap()]);
    let lines = log(&a);
    let expected: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i]["void"] == true)
        .collect();
    assert!(
        expected.iter().any(|&i| lines[i]["cid"] == voided.as_str()),
        "the change is not void: {lines:?}"
    );
    let ui = Ui::start(&a, &[]);
    let g = ui.json("/api/graph");
    assert_eq!(g["void"], serde_json::json!(expected));
    assert_eq!(g["known"], serde_json::json!([]));
    // What arrived since carries a revoke: a page reloads all (void marks may have moved).
    let new = ui.json(&format!("/api/graph?since={}", before.join(",")));
    assert_eq!(new["membership"], true, "{new}");
    assert_eq!(new["cids"].as_array().unwrap().len(), 2, "{new}");
    let void = new["void"].as_array().unwrap();
    assert_eq!(void.len(), 1, "{new}");
    assert_eq!(
        new["cids"][void[0].as_u64().unwrap() as usize],
        voided.as_str()
    );
}

#[test]
fn the_page_and_its_files_are_served_and_unknown_paths_are_404() {
    let a = Dir::init();
    let ui = Ui::start(&a, &[]);
    let agent = agent();
    for (path, kind) in [
        ("/", "text/html"),
        ("/page.js", "text/javascript"),
        ("/page.css", "text/css"),
    ] {
        let mut r = agent.get(format!("{}{path}", ui.base)).call().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        let body = r.body_mut().read_to_string().unwrap();
        // Nothing is fetched from elsewhere.
        assert!(
            !body.contains("https://") && !body.contains("http://"),
            "{path}"
        );
    }
    for path in ["/nope", "/api/nope", "/api/show", "/api/show/a/b"] {
        let (status, body) = ui.get(path);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(error_of(&body).contains("no such page"), "{body}");
    }
}

#[test]
fn bad_cids_and_revisions_are_400_and_unknown_ones_404() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let ui = Ui::start(&a, &[]);
    for path in [
        "/api/show/not-a-cid",
        "/api/show/bafyr4i",
        "/api/ls?at=not-a-cid!",
        "/api/blame?key=k&at=@~x",
        "/api/diff?from=%01",
        "/api/diff",
        "/api/blame",
    ] {
        let (status, body) = ui.get(path);
        assert_eq!(status, 400, "{path}: {body}");
        let line = error_of(&body);
        // The same line the command prints.
        if path == "/api/show/not-a-cid" {
            let cli = a.fails(2, &["show", "not-a-cid"]);
            assert_eq!(format!("weft: error: {line}"), cli);
        }
    }
    for path in [
        "/api/show/bafyr4iaaaaaaaaaaaa",
        "/api/blame?key=missing",
        "/api/ls?at=bafyr4iaaaaaaaaaaaa",
    ] {
        let (status, body) = ui.get(path);
        assert_eq!(status, 404, "{path}: {body}");
        error_of(&body);
    }
    // The server is still there, and answers.
    assert_eq!(ui.json("/api/ls")["entries"][0]["key"], "k");
}

#[test]
fn writes_are_refused_without_write_and_work_with_it() {
    let (a, _b) = branches();
    let heads = a.heads();
    let blame = a.json(&["blame", "--json", "title"]);
    let take = blame["lines"][0]["change"].as_str().unwrap().to_string();
    {
        let ui = Ui::start(&a, &[]);
        for path in [
            format!("/api/revert/{take}"),
            format!("/api/resolve?key=title&take={take}"),
        ] {
            let (status, body) = ui.post(&path);
            assert_eq!(status, 403, "{path}: {body}");
            assert!(error_of(&body).contains("weft ui --write"), "{body}");
        }
        // Reads are no writes.
        let (status, _) = ui.get("/api/ls");
        assert_eq!(status, 200);
        assert_eq!(a.heads(), heads, "a refused write wrote");
    }
    let ui = Ui::start(&a, &["--write"]);
    assert_eq!(ui.json("/api/info")["write"], true);
    // A write from another site's page is refused even so.
    let (status, body) = answer(
        agent()
            .post(format!("{}/api/resolve?key=title&take={take}", ui.base))
            .header("Origin", "http://evil.example")
            .send_empty(),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(a.heads(), heads);
    // Bad input to a write is 400, and writes nothing.
    let (status, body) = ui.post("/api/resolve?key=title&take=nope");
    assert_eq!(status, 400, "{body}");
    assert_eq!(a.heads(), heads);
    let (status, body) = ui.post(&format!("/api/resolve?key=title&take={take}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key"], "title");
    assert_eq!(body["value"], blame["lines"][0]["value"]);
    let written = body["cid"].as_str().unwrap().to_string();
    assert_eq!(a.heads(), vec![written.clone()]);
    let ls = ui.json("/api/ls");
    assert!(
        ls["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["conflict"] == false),
        "{ls}"
    );
    let (status, body) = ui.post(&format!("/api/revert/{written}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reverted"], written.as_str());
    assert_eq!(a.heads(), vec![body["cid"].as_str().unwrap().to_string()]);
}

#[test]
fn a_request_for_another_host_is_refused() {
    let a = Dir::init();
    let ui = Ui::start(&a, &[]);
    let (status, body) = answer(
        agent()
            .get(format!("{}/api/members", ui.base))
            .header("Host", "attacker.example:80")
            .call(),
    );
    assert_eq!(status, 403, "{body}");
    assert!(error_of(&body).contains("host"), "{body}");
    let (status, _) = answer(
        agent()
            .get(format!("{}/api/members", ui.base))
            .header(
                "Host",
                format!("localhost:{}", ui.base.rsplit(':').next().unwrap()),
            )
            .call(),
    );
    assert_eq!(status, 200);
}

#[test]
fn bad_addresses_are_one_line_errors() {
    let a = Dir::init();
    for (addr, says) in [
        ("nonsense", "cannot listen on nonsense"),
        ("127.0.0.1:99999", "cannot listen on 127.0.0.1:99999"),
        ("0.0.0.0:0", "not a loopback address"),
    ] {
        let err = a.fails(2, &["ui", "--listen", addr]);
        assert!(err.contains(says), "{addr}: {err}");
    }
    // --public allows another address (here checked only as far as the address goes).
    let err = a.fails(2, &["ui", "--public", "--listen", "nonsense"]);
    assert!(err.contains("cannot listen on nonsense"), "{err}");
    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = a.fails(8, &["ui", "--listen", &addr]);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    // Nothing was left holding the repo.
    a.ok(&["set", "k", "1"]);
}

#[test]
fn a_repo_held_by_a_process_that_does_not_serve_it_is_6() {
    let a = Dir::init();
    let repo = a.open();
    let err = a.fails(6, &["ui", "--listen", "127.0.0.1:0"]);
    assert!(err.contains("open in another weft process"), "{err}");
    drop(repo);
}

/// The server-sent events of `base`: yields the `data` of each event named `name`.
pub struct Events {
    reader: BufReader<Box<dyn std::io::Read + Send>>,
}

impl Events {
    /// Connects and waits for the `ready` event: no change applied after it is missed.
    pub fn open(base: &str) -> Events {
        let r = agent().get(format!("{base}/api/events")).call().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let reader: Box<dyn std::io::Read + Send> = Box::new(r.into_body().into_reader());
        let mut events = Events {
            reader: BufReader::new(reader),
        };
        assert_eq!(events.next().0, "ready");
        events
    }

    /// The next event: its name (`message` if it has none) and data. Blocks on the stream; the
    /// agent's timeout bounds the wait.
    pub fn next(&mut self) -> (String, String) {
        let (mut name, mut data) = ("message".to_string(), String::new());
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).unwrap();
            assert!(n > 0, "the event stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !data.is_empty() || name != "message" {
                    return (name, data);
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    }

    /// The next change line (skipping keep-alive comments).
    pub fn change(&mut self) -> Json {
        let (name, data) = self.next();
        assert_eq!(name, "message", "{data}");
        serde_json::from_str(&data).unwrap()
    }
}

#[test]
fn the_feed_sees_local_writes_and_pushes() {
    let (a, b) = branches();
    let ui = Ui::start(&a, &[]);
    let mut events = Events::open(&ui.base);
    let before = a.heads();
    // A command on the same repo (run inside `weft ui`).
    let cid = a.ok(&["set", "live", "1"]).trim().to_string();
    let line = events.change();
    assert_eq!(line["cid"], cid.as_str());
    assert_eq!(line["keys"], serde_json::json!(["live"]));
    assert_eq!(line["local"], true);
    // A push from the other replica.
    let pushed = b.ok(&["set", "from", "b"]).trim().to_string();
    b.ok(&["push"]);
    let line = events.change();
    assert_eq!(line["local"], false);
    assert!(
        line["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == pushed.as_str()),
        "{line}"
    );
    let all = ui.json("/api/graph");
    assert!(all["cids"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == pushed.as_str()));
    // What arrived after the page loaded `before`: the two changes, newest first, their
    // parents among them or among what the page has.
    let new = ui.json(&format!("/api/graph?since={}", before.join(",")));
    let cids: Vec<&str> = new["cids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cids.len(), 2, "{new}");
    assert!(cids.contains(&cid.as_str()) && cids.contains(&pushed.as_str()));
    assert_eq!(new["heads"], all["heads"]);
    assert_eq!(new["membership"], false);
    for (i, c) in cids.iter().enumerate() {
        let shown = ui.json(&format!("/api/show/{c}"));
        let parents: Vec<&str> = new["parents"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let p = p.as_u64().unwrap() as usize;
                match cids.get(p) {
                    Some(c) => *c,
                    None => new["known"][p - cids.len()].as_str().unwrap(),
                }
            })
            .collect();
        assert_eq!(serde_json::json!(parents), shown["parents"], "{c}");
    }
    // Nothing arrived after the heads now.
    let none = ui.json(&format!("/api/graph?since={}", before_now(&all)));
    assert_eq!(none["cids"], serde_json::json!([]));
}

/// The heads of a graph answer, as a revision.
fn before_now(graph: &Json) -> String {
    let heads: Vec<&str> = graph["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    heads.join(",")
}

#[test]
fn ui_runs_inside_serve_while_serve_holds_the_repo() {
    let a = Dir::init();
    a.ok(&["set", "k", "1"]);
    let _server = a.serve();
    let ui = Ui::start(&a, &[]);
    assert_eq!(ui.json("/api/ls"), a.json(&["ls", "--json"]));
    let mut events = Events::open(&ui.base);
    let cid = a.ok(&["set", "k", "2"]).trim().to_string();
    assert_eq!(events.change()["cid"], cid.as_str());
    // Ending `weft ui` ends the page the serving process served for it.
    ui.proc.term();
    let deadline = Instant::now() + BOUND;
    loop {
        match agent().get(format!("{}/api/info", ui.base)).call() {
            Err(_) => break,
            Ok(_) => {
                assert!(Instant::now() < deadline, "the page outlived `weft ui`");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    // The server still serves the repo.
    assert_eq!(a.ok(&["get", "k"]), "2\n");
}

#[test]
fn ui_json_prints_its_url_and_sigterm_ends_it_cleanly() {
    let a = Dir::init();
    let mut p = Proc::spawn(&mut a.cmd(&["ui", "--json", "--listen", "127.0.0.1:0"]));
    let line = p.json_line();
    // `{"url"}`, as the README says.
    assert_eq!(line.as_object().unwrap().len(), 1, "{line}");
    let url = line["url"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    // It holds the repo for the other commands meanwhile.
    assert!(a.socket().exists());
    let (status, info) = answer(agent().get(format!("{url}/api/info")).call());
    assert_eq!(status, 200, "{info}");
    // An open event stream does not keep it from stopping.
    let _events = Events::open(&url);
    p.term();
    let out = p.finish();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    assert!(out.stderr().is_empty(), "{}", out.report());
    assert!(!a.socket().exists(), "weft ui left its socket behind");
    a.ok(&["set", "k", "1"]);
}
