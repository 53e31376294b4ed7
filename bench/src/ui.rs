//! `ui`: the history browser (`weft ui`) in headless Chromium, driven over W3C WebDriver
//! (chromedriver), on a repo of N changes by two authors with merges; paired run by run with
//! `git log --graph --oneline` on a git repository of the same DAG.
//!
//! What is timed is the page `weft ui` serves, in the browser: the time from navigation start
//! until the graph is first drawn, the page's own fetch and layout figures, and the frames while
//! the page is scrolled through the whole history and zoomed with its own buttons.

// Store errors carry CIDs; boxing them for a benchmark would gain nothing.
#![allow(clippy::result_large_err)]

use std::{
    ffi::OsStr,
    fs,
    io::{BufRead, BufReader, BufWriter, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value as Json};
use weft_dag::{DocId, Durability, Identity, Repo, Role, Value};

use crate::{fmt_int, git, machine, max, median, print_machine, weft_options};

/// What the `ui` subcommand is given.
pub struct UiOpts {
    pub changes: u64,
    pub runs: usize,
    pub weft: PathBuf,
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
    pub git: bool,
    pub tmp: Option<PathBuf>,
}

// ----- the repo: two authors, concurrent runs of changes, merged at every exchange -----

/// A small deterministic generator (xorshift64*), so that every invocation builds the same
/// shape.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// The blocks `from` has beyond `to`'s heads, applied to `to`. Returns how many.
fn exchange(from: &Repo, to: &Repo, doc: DocId) -> Result<usize> {
    let heads = to.heads(doc).unwrap_or_default();
    let mut blocks = Vec::new();
    for (_, cid) in from.missing(doc, &heads)? {
        blocks.push((cid, from.block(&cid)?));
    }
    let n = blocks.len();
    if n > 0 {
        to.apply_changes(blocks)?;
    }
    Ok(n)
}

fn commit(repo: &Repo, doc: DocId, i: u64) -> Result<()> {
    let mut tx = repo.transaction(doc);
    tx.set(&crate::key(i), Value::Int(i as i64))?;
    tx.commit()?;
    Ok(())
}

/// Builds at `root` a repo whose document `main` holds exactly `n` changes: `a` (the repo's own
/// key) grants `b` (a second key, in memory) the writer role, then both write runs of 1 to 16
/// changes (the workload's `set k/{i % 1000} i`) concurrently, exchanging what they wrote after
/// every pair of runs, so that each one's next change merges the two branches. One last change of
/// `a` merges everything: one head. Returns the seconds it took, and the merges.
fn build(root: &Path, n: u64) -> Result<(f64, u64)> {
    let start = Instant::now();
    let a = Repo::init(root, weft_options(Durability::Manual))?;
    let doc = a.doc("main")?;
    let b = Repo::with_store(weft_store::Store::memory(), Identity::from_seed([0x5b; 32]))?;
    let mut tx = a.transaction(doc);
    tx.grant(b.author(), Role::Writer)?;
    tx.commit()?;
    exchange(&a, &b, doc)?;
    let have = a.change_count(doc)?;
    ensure!(n >= have + 2, "--changes must be at least {}", have + 2);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut left = n - have - 1;
    let mut i = 0u64;
    while left > 0 {
        for repo in [&a, &b] {
            let run = (1 + rng.below(16)).min(left);
            for _ in 0..run {
                commit(repo, doc, i)?;
                i += 1;
            }
            left -= run;
        }
        exchange(&b, &a, doc)?;
        exchange(&a, &b, doc)?;
    }
    commit(&a, doc, i)?;
    a.flush()?;
    let got = a.change_count(doc)?;
    ensure!(got == n, "built {got} changes, wanted {n}");
    ensure!(
        a.heads(doc)?.len() == 1,
        "the repo should end with one head"
    );
    let mut merges = 0;
    for c in a.log(doc) {
        if c?.change.parents.len() > 1 {
            merges += 1;
        }
    }
    drop(a);
    Ok((start.elapsed().as_secs_f64(), merges))
}

// ----- HTTP/1.1, just enough for chromedriver and weft ui -----

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk")?;
        let size = std::str::from_utf8(&body[..eol])?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        ensure!(body.len() >= size + 2, "short chunk");
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// One request (`Connection: close`); the status and the body.
fn http(method: &str, url: &str, body: Option<&Json>) -> Result<(u16, Vec<u8>)> {
    let rest = url.strip_prefix("http://").context("not an http:// URL")?;
    let (host, path) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{p}")),
        None => (rest, "/".to_string()),
    };
    let mut s = TcpStream::connect(host).with_context(|| format!("connecting to {host}"))?;
    s.set_read_timeout(Some(Duration::from_secs(1800)))?;
    let body = body.map(Json::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    // Read the headers, then as much body as they announce (a server may keep the connection
    // open whatever we asked).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1 << 16];
    let end = loop {
        if let Some(e) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break e;
        }
        let k = s.read(&mut chunk)?;
        ensure!(k > 0, "connection closed before the end of headers");
        buf.extend_from_slice(&chunk[..k]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let body = &buf[end + 4..];
        let complete = match length {
            Some(n) => body.len() >= n,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if complete {
            break;
        }
        let k = s.read(&mut chunk)?;
        if k == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..k]);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status")?;
    let payload = &buf[end + 4..];
    let payload = if chunked {
        dechunk(payload)?
    } else {
        payload.to_vec()
    };
    Ok((status, payload))
}

// ----- processes this bench starts, ended when dropped -----

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first (weft ui removes its socket), then make sure.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `weft -C root ui --listen 127.0.0.1:0 --json`; the page's URL.
fn start_ui(weft: &Path, root: &Path, scratch: &Path) -> Result<(Proc, String)> {
    let mut child = Command::new(weft)
        .arg("-C")
        .arg(root)
        .args(["--json", "ui", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(scratch.join("ui.err"))?)
        .spawn()
        .with_context(|| format!("running {}", weft.display()))?;
    let out = child.stdout.take().context("no stdout")?;
    let proc = Proc(child);
    let mut lines = BufReader::new(out).lines();
    let url = loop {
        let Some(line) = lines.next() else {
            let err = fs::read_to_string(scratch.join("ui.err")).unwrap_or_default();
            bail!(
                "weft ui ended without serving: {}",
                crate::proc::first_line(&err)
            );
        };
        if let Some(u) = serde_json::from_str::<Json>(&line?)
            .ok()
            .and_then(|v| v["url"].as_str().map(String::from))
        {
            break u;
        }
    };
    Ok((proc, url))
}

/// chromedriver, and the base URL of its W3C WebDriver API.
struct Driver {
    _proc: Proc,
    base: String,
}

impl Driver {
    fn start(chromedriver: &Path) -> Result<Driver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("running {}", chromedriver.display()))?;
        let d = Driver {
            _proc: Proc(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http("GET", &format!("{}/status", d.base), None)
                .ok()
                .and_then(|(_, b)| serde_json::from_slice::<Json>(&b).ok())
                .is_some_and(|s| s["value"]["ready"] == true);
            if ready {
                return Ok(d);
            }
            ensure!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn call(&self, method: &str, path: &str, body: Json) -> Result<Json> {
        let (status, b) = http(method, &format!("{}{path}", self.base), Some(&body))?;
        let v: Json = serde_json::from_slice(&b).context("chromedriver's answer")?;
        ensure!(status == 200, "WebDriver {method} {path}: {status} {v}");
        Ok(v["value"].clone())
    }
}

/// One browser session with a fresh profile, closed when dropped.
struct Session<'d> {
    d: &'d Driver,
    id: String,
    _profile: tempfile::TempDir,
}

impl<'d> Session<'d> {
    fn new(d: &'d Driver, chromium: &Path) -> Result<Session<'d>> {
        let profile = tempfile::tempdir()?;
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let v = d.call("POST", "/session", caps)?;
        let id = v["sessionId"]
            .as_str()
            .context("no session id")?
            .to_string();
        let s = Session {
            d,
            id,
            _profile: profile,
        };
        s.call(
            "POST",
            "/timeouts",
            json!({"script": 1_800_000, "pageLoad": 600_000}),
        )?;
        Ok(s)
    }

    fn call(&self, method: &str, path: &str, body: Json) -> Result<Json> {
        self.d
            .call(method, &format!("/session/{}{path}", self.id), body)
    }

    fn script(&self, js: &str) -> Result<Json> {
        self.call("POST", "/execute/sync", json!({"script": js, "args": []}))
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = http(
            "DELETE",
            &format!("{}/session/{}", self.d.base, self.id),
            None,
        );
    }
}

/// Installed before any script of the page: records long tasks (over 50 ms on the main thread)
/// and the moment the canvas first records a drawing of the graph (`data-nodes`, set at the end
/// of the page's `draw()` once it has a graph).
const EARLY_JS: &str = r#"
window.__bench = {longTasks: [], ready: null};
try {
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) window.__bench.longTasks.push([e.startTime, e.duration]);
  }).observe({type: 'longtask', buffered: true});
} catch (e) { window.__bench.noLongTasks = String(e); }
new MutationObserver(() => {
  const c = document.getElementById('graph');
  if (window.__bench.ready === null && c && c.dataset.nodes !== undefined) {
    window.__bench.ready = performance.now();
  }
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-nodes']});
"#;

/// What the page recorded about its load.
const LOAD_JS: &str = r#"
const S = window.weftUi.state;
const g = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/graph'));
const c = document.getElementById('graph');
return {
  ready: window.__bench.ready, n: S.n, lanes: S.lanes, edges: S.nEdges, rowH: S.rowH,
  fetchMs: S.timings.fetchMs, layoutMs: S.timings.layoutMs,
  graph: g.map((e) => ({start: e.startTime, responseStart: e.responseStart, end: e.responseEnd,
    encoded: e.encodedBodySize, decoded: e.decodedBodySize})),
  canvas: [c.clientWidth, c.clientHeight], nodes: Number(c.dataset.nodes),
  heap: performance.memory ? performance.memory.usedJSHeapSize : null,
  longTasks: window.__bench.longTasks, noLongTasks: window.__bench.noLongTasks || null,
};
"#;

/// Scrolls through the whole history one screen a frame, zooms out and in with the page's
/// buttons, then scrolls through it again zoomed out. Each step registers a frame callback,
/// acts (sets `scrollTop`, or clicks a zoom button), and in that frame's callback takes t0: the
/// page's own frame callback (its queued `draw()`) runs after it in the same frame. t1 is taken
/// in the first task after that frame was rendered. `work` = t1 - t0: the page's draw plus the
/// browser's style, layout and paint of that frame. `stale` counts frames after which the
/// canvas does not show the rows the scroll position asks for (0: every frame was drawn).
/// `draw` times the page's `draw()` alone (`weftUi.redraw()`), every other frame; `interval`
/// is the time between the t0 of consecutive frames, when no such extra draw ran in between.
const SCROLL_JS: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  const sc = document.getElementById('graph-scroll');
  const cv = document.getElementById('graph');
  const S = window.weftUi.state;
  const raf = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
  const task = () => new Promise((r) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => r(performance.now());
    ch.port2.postMessage(0);
  });
  const series = () => ({work: [], interval: [], draw: [], stale: 0, frames: 0});
  let last = null, extra = false;
  async function frame(out, act) {
    const p = raf();
    act();
    const t0 = await p;
    const t1 = await task();
    if (last !== null && !extra) out.interval.push(t0 - last);
    last = t0;
    out.work.push(t1 - t0);
    out.frames++;
    if (cv.dataset.first !== String(Math.max(0, Math.floor(sc.scrollTop / S.rowH)))) out.stale++;
    extra = out.frames % 2 === 0;
    if (extra) {
      const d0 = performance.now();
      window.weftUi.redraw();
      out.draw.push(performance.now() - d0);
    }
  }
  const maxTop = () => sc.scrollHeight - sc.clientHeight;
  async function through(out) {
    await frame(series(), () => { sc.scrollTop = 0; });
    last = null;
    const step = sc.clientHeight;
    for (let y = step; ; y += step) {
      const to = Math.min(y, maxTop());
      await frame(out, () => { sc.scrollTop = to; });
      if (to >= maxTop()) break;
    }
    out.rowH = S.rowH;
    out.screen = sc.clientHeight;
  }
  const t = performance.now();
  const out = {};
  out.scroll = series();
  await through(out.scroll);
  await frame(series(), () => { sc.scrollTop = maxTop() / 2; });
  last = null;
  out.zoom = series();
  const zin = document.getElementById('zoom-in'), zout = document.getElementById('zoom-out');
  while (S.rowH > 4) await frame(out.zoom, () => zout.click());
  while (S.rowH < 40) await frame(out.zoom, () => zin.click());
  while (S.rowH > 4) await frame(out.zoom, () => zout.click());
  out.scrollOut = series();
  await through(out.scrollOut);
  out.start = t;
  out.end = performance.now();
  out.longTasks = window.__bench.longTasks.filter((x) => x[0] >= t);
  done(out);
})().catch((e) => done({error: String((e && e.stack) || e)}));
"#;

fn nums(v: &Json) -> Vec<f64> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_f64)
        .collect()
}

fn series_stats(s: &Json) -> Json {
    let work = nums(&s["work"]);
    let draw = nums(&s["draw"]);
    let interval = nums(&s["interval"]);
    json!({
        "frames": s["frames"],
        "stale": s["stale"],
        "work_median_ms": median(&work),
        "work_max_ms": max(&work),
        "work_over_50ms": work.iter().filter(|x| **x > 50.0).count(),
        "draw_median_ms": median(&draw),
        "draw_max_ms": max(&draw),
        "interval_median_ms": median(&interval),
        "interval_max_ms": max(&interval),
        "row_height": s["rowH"],
    })
}

/// One page load and the scrolling and zooming, in a fresh browser session.
fn page_run(d: &Driver, chromium: &Path, url: &str, n: u64) -> Result<Json> {
    let s = Session::new(d, chromium)?;
    s.call(
        "POST",
        "/goog/cdp/execute",
        json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": EARLY_JS}}),
    )?;
    s.call("POST", "/url", json!({ "url": url }))?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while s
        .script("return window.__bench && window.__bench.ready;")?
        .is_null()
    {
        ensure!(Instant::now() < deadline, "the page never drew the graph");
        std::thread::sleep(Duration::from_millis(20));
    }
    let load = s.script(LOAD_JS)?;
    ensure!(
        load["n"].as_u64() == Some(n),
        "the page shows {} changes, not {n}",
        load["n"]
    );
    ensure!(
        load["graph"].as_array().is_some_and(|g| !g.is_empty()),
        "no /api/graph in the page's resource timing"
    );
    let ready = load["ready"].as_f64().unwrap_or(f64::NAN);
    let g = &load["graph"][0];
    let long_load: Vec<f64> = load["longTasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t[0].as_f64().unwrap_or(0.0) <= ready)
        .filter_map(|t| t[1].as_f64())
        .collect();
    let sc = s.call(
        "POST",
        "/execute/async",
        json!({"script": SCROLL_JS, "args": []}),
    )?;
    if let Some(e) = sc["error"].as_str() {
        bail!("the scrolling script failed: {e}");
    }
    let mut all_work = Vec::new();
    for k in ["scroll", "zoom", "scrollOut"] {
        all_work.extend(nums(&sc[k]["work"]));
    }
    let long_scroll = nums(
        &sc["longTasks"]
            .as_array()
            .map(|a| a.iter().map(|t| t[1].clone()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into(),
    );
    Ok(json!({
        "ready_ms": ready,
        "graph_request_to_last_byte_ms": f(&g["end"]) - f(&g["start"]),
        "graph_request_to_first_byte_ms": f(&g["responseStart"]) - f(&g["start"]),
        "graph_request_start_ms": g["start"],
        "graph_bytes": g["decoded"],
        "page_fetch_and_parse_ms": load["fetchMs"],
        "page_layout_ms": load["layoutMs"],
        "lanes": load["lanes"],
        "edges": load["edges"],
        "canvas": load["canvas"],
        "js_heap_bytes": load["heap"],
        "long_tasks_load_ms": long_load,
        "long_tasks_load_max_ms": max(&long_load),
        "long_task_api": load["noLongTasks"].is_null(),
        "scroll": series_stats(&sc["scroll"]),
        "zoom": series_stats(&sc["zoom"]),
        "scroll_zoomed_out": series_stats(&sc["scrollOut"]),
        "interaction_secs": (f(&sc["end"]) - f(&sc["start"])) / 1e3,
        "worst_frame_ms": max(&all_work),
        "frames_over_50ms": all_work.iter().filter(|x| **x > 50.0).count(),
        "long_tasks_interaction_ms": long_scroll,
    }))
}

fn f(v: &Json) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

// ----- the rival: git log --graph --oneline on the same DAG -----

/// A bare git repository with one commit per change of `graph` (the page's `/api/graph`), with
/// the same parents (a merge where the change has several), author and summary; no files.
fn git_from_graph(graph: &Json, repo: &Path, scratch: &Path) -> Result<u64> {
    git::init_bare(repo)?;
    let cids = graph["cids"].as_array().context("no cids")?;
    let n = cids.len();
    let err_p = scratch.join("fast-import.err");
    let mut child = git::git_cmd()
        .arg("-C")
        .arg(repo)
        .args(["fast-import", "--quiet", "--done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err_p)?)
        .spawn()
        .context("running git fast-import")?;
    let stdin = child.stdin.take().context("no stdin pipe")?;
    let mut w = BufWriter::with_capacity(1 << 20, stdin);
    let write = (|| -> Result<()> {
        for i in (0..n).rev() {
            let who = graph["author"][i].as_u64().unwrap_or(0);
            let secs = graph["time"][i].as_u64().unwrap_or(0) / 1000;
            let msg = format!("{}\n", graph["summary"][i].as_str().unwrap_or(""));
            writeln!(w, "commit refs/heads/main\nmark :{}", i + 1)?;
            writeln!(
                w,
                "committer author{who} <author{who}@example.invalid> {secs} +0000"
            )?;
            write!(w, "data {}\n{msg}", msg.len())?;
            let parents = graph["parents"][i].as_array().context("no parents")?;
            for (k, p) in parents.iter().enumerate() {
                let p = p.as_u64().context("a parent")? as usize;
                ensure!(p < n && p > i, "parent {p} of {i} is not an older change");
                writeln!(w, "{} :{}", if k == 0 { "from" } else { "merge" }, p + 1)?;
            }
            writeln!(w)?;
        }
        writeln!(w, "done")?;
        w.flush()?;
        Ok(())
    })();
    drop(w);
    let status = child.wait()?;
    if !status.success() {
        let err = fs::read_to_string(&err_p).unwrap_or_default();
        bail!(
            "`git fast-import` failed ({status}): {}",
            crate::proc::first_line(&err)
        );
    }
    write?;
    // As a maintained repository is (gc writes the commit-graph file `log --graph` uses).
    git::git(&[
        OsStr::new("-C"),
        repo.as_os_str(),
        OsStr::new("gc"),
        OsStr::new("-q"),
    ])?;
    let count = git::commit_count(repo)?;
    ensure!(count == n as u64, "git has {count} commits, wanted {n}");
    Ok(count)
}

/// `git -C repo log --graph --oneline`, its output read through a pipe: milliseconds from spawn
/// to exit, lines, and lines with a commit (`*`).
fn git_log_graph(repo: &Path) -> Result<(f64, u64, u64)> {
    let start = Instant::now();
    let mut child = git::git_cmd()
        .arg("-C")
        .arg(repo)
        .args(["log", "--graph", "--oneline", "main"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("running git log")?;
    let out = child.stdout.take().context("no stdout")?;
    let (mut lines, mut commits) = (0u64, 0u64);
    for line in BufReader::with_capacity(1 << 16, out).split(b'\n') {
        let line = line?;
        lines += 1;
        if line.contains(&b'*') {
            commits += 1;
        }
    }
    let status = child.wait()?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    ensure!(status.success(), "git log --graph failed ({status})");
    Ok((ms, lines, commits))
}

// ----- the benchmark -----

pub fn ui_bench(o: &UiOpts) -> Result<Json> {
    for (what, p) in [
        ("weft", &o.weft),
        ("chromium", &o.chromium),
        ("chromedriver", &o.chromedriver),
    ] {
        ensure!(p.exists(), "{what} not found at {}", p.display());
    }
    let dir = match &o.tmp {
        Some(t) => tempfile::tempdir_in(t)?,
        None => tempfile::tempdir()?,
    };
    let root = dir.path().join("weft");
    fs::create_dir_all(&root)?;
    eprintln!(
        "weft: building a repo of {} changes by two authors with merges ...",
        o.changes
    );
    let (build_secs, merges) = build(&root, o.changes)?;
    eprintln!("  {build_secs:.1} s, {merges} merges");
    let (ui, url) = start_ui(&o.weft, &root, dir.path())?;
    // The graph once, untimed: its size, its authors, and the DAG for git.
    let (status, body) = http(
        "GET",
        &format!("{}/api/graph", url.trim_end_matches('/')),
        None,
    )?;
    ensure!(status == 200, "GET /api/graph: {status}");
    let graph: Json = serde_json::from_slice(&body)?;
    let authors = graph["authors"].as_array().map_or(0, Vec::len);
    let git_repo = dir.path().join("git.git");
    let git_version = if o.git {
        eprintln!("git: the same DAG through fast-import ...");
        git_from_graph(&graph, &git_repo, dir.path())?;
        // Untimed once: checks it and warms the page cache.
        let (_, _, commits) = git_log_graph(&git_repo)?;
        ensure!(
            commits == o.changes,
            "git log --graph shows {commits} commits"
        );
        Some(git::version()?)
    } else {
        None
    };
    drop(graph);
    let driver = Driver::start(&o.chromedriver)?;
    let mut runs = Vec::new();
    for r in 0..o.runs {
        let git_first = o.git && r % 2 == 1;
        let mut git_run = None;
        if git_first {
            git_run = Some(git_log_graph(&git_repo)?);
        }
        eprintln!("run {}/{}: the page ...", r + 1, o.runs);
        let page = page_run(&driver, &o.chromium, &url, o.changes)?;
        if o.git && !git_first {
            git_run = Some(git_log_graph(&git_repo)?);
        }
        let mut run = page;
        if let Some((ms, lines, commits)) = git_run {
            run["git_log_graph_ms"] = json!(ms);
            run["git_log_graph_lines"] = json!(lines);
            run["git_log_graph_commits"] = json!(commits);
            run["ready_over_git"] = json!(f(&run["ready_ms"]) / ms);
            run["git_first"] = json!(git_first);
        }
        eprintln!(
            "  ready {:.0} ms, worst frame {:.1} ms",
            f(&run["ready_ms"]),
            f(&run["worst_frame_ms"])
        );
        runs.push(run);
    }
    drop(driver);
    drop(ui);
    let col = |k: &[&str]| -> Vec<f64> {
        runs.iter()
            .map(|r| k.iter().fold(r, |v, k| &v[*k]))
            .map(f)
            .collect()
    };
    let med = |k: &[&str]| median(&col(k));
    let stale: f64 = ["scroll", "zoom", "scroll_zoomed_out"]
        .iter()
        .map(|k| col(&[k, "stale"]).iter().sum::<f64>())
        .sum();
    let long_tasks: usize = runs
        .iter()
        .map(|r| {
            r["long_tasks_interaction_ms"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .sum();
    let summary = json!({
        "ready_ms": med(&["ready_ms"]),
        "graph_request_to_last_byte_ms": med(&["graph_request_to_last_byte_ms"]),
        "page_fetch_and_parse_ms": med(&["page_fetch_and_parse_ms"]),
        "page_layout_ms": med(&["page_layout_ms"]),
        "long_tasks_load_max_ms": med(&["long_tasks_load_max_ms"]),
        "scroll_work_median_ms": med(&["scroll", "work_median_ms"]),
        "scroll_work_max_ms": max(&col(&["scroll", "work_max_ms"])),
        "scroll_draw_median_ms": med(&["scroll", "draw_median_ms"]),
        "scroll_interval_median_ms": med(&["scroll", "interval_median_ms"]),
        "zoom_work_median_ms": med(&["zoom", "work_median_ms"]),
        "zoom_work_max_ms": max(&col(&["zoom", "work_max_ms"])),
        "scroll_zoomed_out_work_median_ms": med(&["scroll_zoomed_out", "work_median_ms"]),
        "scroll_zoomed_out_work_max_ms": max(&col(&["scroll_zoomed_out", "work_max_ms"])),
        "scroll_zoomed_out_draw_median_ms": med(&["scroll_zoomed_out", "draw_median_ms"]),
        "worst_frame_ms": max(&col(&["worst_frame_ms"])),
        "frames_over_50ms": col(&["frames_over_50ms"]).iter().sum::<f64>(),
        "stale_frames": stale,
        "long_tasks_interaction": long_tasks,
        "git_log_graph_ms": if o.git { json!(med(&["git_log_graph_ms"])) } else { Json::Null },
        "ready_over_git": if o.git { json!(med(&["ready_over_git"])) } else { Json::Null },
    });
    Ok(json!({
        "machine": machine(dir.path()),
        "chromium": crate::run_text(&o.chromium.to_string_lossy(), &["--version"]),
        "git": git_version,
        "changes": o.changes,
        "authors": authors,
        "merges": merges,
        "graph_bytes": body.len(),
        "build_secs": build_secs,
        "runs": runs,
        "summary": summary,
    }))
}

pub fn print_ui(r: &Json) {
    print_machine(&r["machine"]);
    println!(
        "browser: {} (headless, --disable-gpu); git: {}",
        r["chromium"].as_str().unwrap_or("?"),
        r["git"].as_str().unwrap_or("none")
    );
    let s = &r["summary"];
    let run0 = &r["runs"][0];
    println!();
    println!(
        "weft ui: {} changes, {} authors, {} merges, {} lanes; /api/graph {} bytes; canvas {}; {} runs",
        fmt_int(f(&r["changes"])),
        r["authors"],
        fmt_int(f(&r["merges"])),
        run0["lanes"],
        fmt_int(f(&r["graph_bytes"])),
        run0["canvas"],
        r["runs"].as_array().map_or(0, Vec::len)
    );
    let ms = |v: &Json| format!("{:.1}", f(v));
    let per_run = |k: &[&str]| -> String {
        r["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|run| ms(k.iter().fold(run, |v, k| &v[*k])))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!("{:<58} {:>10}   per run", "", "median");
    let rows: [(&str, &str, &[&str]); 16] = [
        (
            "page ready: navigation start to graph drawn (ms)",
            "ready_ms",
            &["ready_ms"],
        ),
        (
            "/api/graph: request to last byte (ms)",
            "graph_request_to_last_byte_ms",
            &["graph_request_to_last_byte_ms"],
        ),
        (
            "/api/graph: fetch + JSON parse, the page's figure (ms)",
            "page_fetch_and_parse_ms",
            &["page_fetch_and_parse_ms"],
        ),
        (
            "lane layout, the page's figure (ms)",
            "page_layout_ms",
            &["page_layout_ms"],
        ),
        (
            "longest main-thread task while loading (ms)",
            "long_tasks_load_max_ms",
            &["long_tasks_load_max_ms"],
        ),
        (
            "scroll, one screen a frame: frame work median (ms)",
            "scroll_work_median_ms",
            &["scroll", "work_median_ms"],
        ),
        (
            "  worst frame (ms)",
            "scroll_work_max_ms",
            &["scroll", "work_max_ms"],
        ),
        (
            "  draw() alone, median (ms)",
            "scroll_draw_median_ms",
            &["scroll", "draw_median_ms"],
        ),
        (
            "  frame interval, median (ms)",
            "scroll_interval_median_ms",
            &["scroll", "interval_median_ms"],
        ),
        (
            "zoom out and in, buttons: frame work median (ms)",
            "zoom_work_median_ms",
            &["zoom", "work_median_ms"],
        ),
        (
            "  worst frame (ms)",
            "zoom_work_max_ms",
            &["zoom", "work_max_ms"],
        ),
        (
            "scroll zoomed out (4 px rows): frame work median (ms)",
            "scroll_zoomed_out_work_median_ms",
            &["scroll_zoomed_out", "work_median_ms"],
        ),
        (
            "  worst frame (ms)",
            "scroll_zoomed_out_work_max_ms",
            &["scroll_zoomed_out", "work_max_ms"],
        ),
        (
            "worst frame of all (ms; max over runs)",
            "worst_frame_ms",
            &["worst_frame_ms"],
        ),
        (
            "git log --graph --oneline, spawn to exit (ms)",
            "git_log_graph_ms",
            &["git_log_graph_ms"],
        ),
        (
            "ratio page ready / git log --graph (median of runs)",
            "ready_over_git",
            &["ready_over_git"],
        ),
    ];
    for (label, k, path) in rows {
        if s[k].is_null() {
            continue;
        }
        println!("{label:<58} {:>10}   {}", ms(&s[k]), per_run(path));
    }
    println!(
        "frames: {} scrolling, {} zooming, {} scrolling zoomed out per run; over 50 ms: {}; \
         not showing the scroll position: {}; long tasks while scrolling and zooming: {}",
        run0["scroll"]["frames"],
        run0["zoom"]["frames"],
        run0["scroll_zoomed_out"]["frames"],
        s["frames_over_50ms"],
        s["stale_frames"],
        s["long_tasks_interaction"]
    );
    if run0["long_task_api"] == false {
        println!("note: this browser did not report long tasks");
    }
}
