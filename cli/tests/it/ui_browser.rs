//! The history browser in a real browser: headless Chromium, driven through chromedriver's W3C
//! WebDriver HTTP API, reads the page `weft ui` serves for a repo with concurrent branches,
//! clicks a change, moves the time slider, and sees a write from outside arrive without a
//! reload. A screenshot lands in `target/ui-screenshots/`.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` the test says it was skipped and
//! passes, unless `WEFT_REQUIRE_BROWSER` is set (as CI sets it): then it fails.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine as _;
use serde_json::{json, Value as Json};

use crate::{
    ui::{agent, branches, log, Ui},
    util::{weft_bin, Dir},
};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long to wait for the page to show something.
const BOUND: Duration = Duration::from_secs(30);

/// Whether the browser is here; if not, fails when `WEFT_REQUIRE_BROWSER` is set, else says
/// why the test is skipped.
#[allow(clippy::print_stderr)]
fn browser_present() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "{} missing (Debian packages chromium and chromium-driver)",
        missing.join(" and ")
    );
    assert!(
        std::env::var_os("WEFT_REQUIRE_BROWSER").is_none(),
        "WEFT_REQUIRE_BROWSER is set but the browser test cannot run: {why}"
    );
    eprintln!("ui browser test skipped: {why}");
    false
}

/// A chromedriver process and one browser session.
struct Driver {
    child: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: Dir,
}

impl Driver {
    fn start() -> Driver {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let agent = agent();
        let deadline = Instant::now() + BOUND;
        loop {
            let ready = agent
                .get(format!("{base}/status"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Json>().ok())
                .is_some_and(|s| s["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = Dir::new();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1400",
        ]
        .into_iter()
        .map(String::from)
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let mut driver = Driver {
            child,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let v = driver.call("POST", "/session", caps);
        driver.session = v["sessionId"].as_str().unwrap().to_string();
        driver
    }

    /// One WebDriver command; its `value`.
    fn call(&self, method: &str, path: &str, body: Json) -> Json {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let r = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self.agent.post(&url).send_json(&body),
        };
        let mut r = r.unwrap();
        let status = r.status().as_u16();
        let v: Json = r.body_mut().read_json().unwrap();
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn script(&self, js: &str, args: Json) -> Json {
        self.call("POST", "/execute/sync", json!({"script": js, "args": args}))
    }

    /// Runs `js` until it returns something other than null or false; returns that.
    fn wait_for(&self, what: &str, js: &str, args: Json) -> Json {
        let deadline = Instant::now() + BOUND;
        loop {
            let v = self.script(js, args.clone());
            if !v.is_null() && v != false {
                return v;
            }
            if Instant::now() >= deadline {
                let seen = self.script(
                    "return {body: {...document.body.dataset}, \
                       canvas: {...document.getElementById('graph').dataset}, \
                       state: {...document.getElementById('state').dataset}, \
                       error: document.getElementById('error').textContent};",
                    json!([]),
                );
                panic!("the page never showed {what}; it shows {seen}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// A real mouse click at (`x`, `y`) from the centre of the element, with Shift held if
    /// `shift`.
    fn click_at(&self, element: &str, (x, y): (i64, i64), shift: bool) {
        let pointer = json!({
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pause", "duration": 0},
                {"type": "pointerMove", "duration": 0, "origin": {ELEMENT: element}, "x": x, "y": y},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerUp", "button": 0},
            ],
        });
        let mut sources = vec![pointer];
        if shift {
            let shift = "\u{E008}";
            sources.push(json!({
                "type": "key", "id": "keyboard",
                "actions": [
                    {"type": "keyDown", "value": shift},
                    {"type": "pause", "duration": 0},
                    {"type": "pause", "duration": 0},
                    {"type": "pause", "duration": 0},
                    {"type": "keyUp", "value": shift},
                ],
            }));
        }
        self.call("POST", "/actions", json!({ "actions": sources }));
    }

    /// Where the node of `cid` is, from the centre of the canvas (scrolled into view).
    fn node(&self, cid: &str) -> (i64, i64) {
        let at = self.script(
            "return window.weftUi.nodeOffset(arguments[0]);",
            json!([cid]),
        );
        (at["x"].as_i64().unwrap(), at["y"].as_i64().unwrap())
    }

    fn keys(&self, element: &str, text: &str) {
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    fn attr(&self, css: &str, name: &str) -> String {
        let v = self.script(
            "return document.querySelector(arguments[0]).getAttribute(arguments[1]);",
            json!([css, name]),
        );
        v.as_str().unwrap_or_default().to_string()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/ui-screenshots`, next to the binary under test.
fn screenshot_dir() -> PathBuf {
    let bin = Path::new(weft_bin());
    let target = bin
        .parent()
        .and_then(Path::parent)
        .expect("the binary is in target/PROFILE/");
    target.join("ui-screenshots")
}

#[test]
fn the_page_draws_the_dag_shows_changes_and_updates_live() {
    if !browser_present() {
        return;
    }
    let (a, b) = branches();
    let ui = Ui::start(&a, &[]);
    let lines = log(&a);
    let n = lines.len();
    let edges: usize = lines
        .iter()
        .map(|l| l["parents"].as_array().unwrap().len())
        .sum();
    assert!(
        lines
            .iter()
            .any(|l| l["parents"].as_array().unwrap().len() > 1),
        "the repo has no merge"
    );

    let d = Driver::start();
    d.call("POST", "/url", json!({"url": format!("{}/", ui.base)}));
    d.wait_for(
        "the whole graph, live",
        "return document.body.dataset.live === 'open' \
           && document.body.dataset.changes === String(arguments[0]) \
           && document.getElementById('graph').dataset.nodes === String(arguments[0]);",
        json!([n]),
    );
    // Every change and every parent link is drawn (all of them fit in the window).
    assert_eq!(d.attr("#graph", "data-nodes"), n.to_string());
    assert_eq!(d.attr("#graph", "data-edges"), edges.to_string());

    // Click the merge's node: the panel shows that change.
    let merge = lines
        .iter()
        .find(|l| l["parents"].as_array().unwrap().len() > 1)
        .unwrap();
    let cid = merge["cid"].as_str().unwrap();
    let canvas = d.element("#graph");
    d.click_at(&canvas, d.node(cid), false);
    d.wait_for(
        "the clicked change",
        "return document.getElementById('detail').dataset.cid === arguments[0];",
        json!([cid]),
    );
    let text = d
        .script(
            "return document.getElementById('detail').innerText;",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains(cid), "{text}");
    assert!(text.contains(merge["author"].as_str().unwrap()), "{text}");
    assert!(text.contains("valid"), "{text}");
    for op in merge["ops"].as_array().unwrap() {
        assert!(text.contains(op["key"].as_str().unwrap()), "{op} in {text}");
    }
    // ops old -> new
    assert!(text.contains("->"), "{text}");

    // Shift-click another change: the diff from the selected one to it.
    let genesis = lines[n - 1]["cid"].as_str().unwrap();
    d.click_at(&canvas, d.node(genesis), true);
    let expected = a.json(&["diff", "--json", cid, genesis])["keys"]
        .as_array()
        .unwrap()
        .len();
    assert!(expected > 0);
    d.wait_for(
        "the diff of the two changes",
        "return document.getElementById('diff').dataset.keys === String(arguments[0]);",
        json!([expected]),
    );
    // The selection stayed on the merge.
    assert_eq!(d.attr("#detail", "data-cid"), cid);

    // The time slider: back to the first change (the genesis: no keys), then two steps on.
    let slider = d.element("#slider");
    d.keys(&slider, "\u{E011}");
    d.wait_for(
        "the state at the genesis",
        "const s = document.getElementById('state'); \
         return s.dataset.at === arguments[0] && s.dataset.keys === '0';",
        json!([genesis]),
    );
    d.keys(&slider, "\u{E014}\u{E014}");
    let third = lines[n - 3]["cid"].as_str().unwrap();
    let expected = a.json(&["ls", "--json", "--at", third])["entries"]
        .as_array()
        .unwrap()
        .len();
    assert!(expected > 0);
    d.wait_for(
        "the state two changes on",
        "const s = document.getElementById('state'); \
         return s.dataset.at === arguments[0] && s.dataset.keys === String(arguments[1]);",
        json!([third, expected]),
    );
    // And back to now, where `title` is in conflict.
    d.keys(&slider, "\u{E010}");
    d.wait_for(
        "the state now, with its conflict",
        "const s = document.getElementById('state'); \
         return s.dataset.at === '@' && s.dataset.conflicts === '1' \
           && !!s.querySelector('tr.conflict[data-key=\"title\"]');",
        json!([]),
    );

    // Writes from outside arrive without a reload: a command on the repo, then a push.
    d.script("window.weftMarker = 42;", json!([]));
    a.ok(&["set", "live", "1"]);
    b.ok(&["set", "pushed", "1"]);
    b.ok(&["push"]);
    d.wait_for(
        "the two new changes",
        "return document.body.dataset.changes === String(arguments[0]) \
           && document.getElementById('graph').dataset.nodes === String(arguments[0]);",
        json!([n + 2]),
    );
    assert_eq!(d.script("return window.weftMarker;", json!([])), 42);
    // Merged into what the page had, every change and parent link is there.
    let now = log(&a);
    assert_eq!(now.len(), n + 2);
    let edges: usize = now
        .iter()
        .map(|l| l["parents"].as_array().unwrap().len())
        .sum();
    d.wait_for(
        "every parent link",
        "return document.getElementById('graph').dataset.edges === String(arguments[0]);",
        json!([edges]),
    );
    let keys = d.wait_for(
        "the new keys in the state",
        "const s = document.getElementById('state'); \
         return s.querySelector('tr[data-key=\"pushed\"]') && s.dataset.keys;",
        json!([]),
    );
    assert_eq!(
        keys.as_str().unwrap(),
        a.json(&["ls", "--json"])["entries"]
            .as_array()
            .unwrap()
            .len()
            .to_string()
    );

    // The picture, for a person to look at.
    let png = d.call("GET", "/screenshot", json!(null));
    let png = base64::engine::general_purpose::STANDARD
        .decode(png.as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("history.png"), &png).unwrap();
}
