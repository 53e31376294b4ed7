//! The history browser's HTTP endpoints (listed in docs/ui.md). Each JSON answer is what the
//! matching `--json` command prints, built by the function that command prints it with; an
//! error is `{"error": LINE}` with the command's one-line message, and a status from its exit
//! code (2: 400, 3 and 4: 404, 10: 403, others: 500).

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    path::PathBuf,
    sync::{mpsc, Arc},
};

use anyhow::Result;
use axum::{
    extract::{Path, Query, Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::{self, Next},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::{get, post},
    Router,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, oneshot};
use weft_dag::{change::Op, Cid, DocId, ErrorKind, Repo};

use super::Job;
use crate::{
    exit, fix, history,
    live::{delays, status_out},
    out::{summary, usage, Format, Output},
    people::Names,
    read, rev,
};

/// What the handlers share.
pub(super) struct Api {
    /// Requests for the repo, for the worker threads.
    pub jobs: mpsc::Sender<Job>,
    /// The change feed (see `feed_lines`); gone once the server stops.
    pub feed: broadcast::WeakSender<Arc<str>>,
    /// The document shown.
    pub doc: DocId,
    /// `--write`.
    pub write: bool,
    /// The `Host` values requests may carry; `None` (with `--public`): any.
    pub hosts: Option<Vec<String>>,
    pub weft_dir: PathBuf,
}

/// The `Host` headers that name the page's own address `local`.
pub(super) fn hosts(local: SocketAddr) -> Vec<String> {
    let port = local.port();
    vec![
        local.to_string(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ]
}

/// The page, its script and its style, compiled in.
const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");

/// Every route.
pub(super) fn router(api: Api) -> Router {
    let api = Arc::new(api);
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/page.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/page.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/api/info", get(info))
        .route("/api/graph", get(graph))
        .route("/api/show/{cid}", get(show))
        .route("/api/ls", get(ls))
        .route("/api/blame", get(blame))
        .route("/api/diff", get(diff))
        .route("/api/members", get(members))
        .route("/api/status", get(status))
        .route("/api/convergence", get(convergence))
        .route("/api/events", get(events))
        .route("/api/revert/{cid}", post(revert))
        .route("/api/resolve", post(resolve))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&api), guard))
        .with_state(api)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// An error answer: `{"error": msg}`.
fn failure(status: StatusCode, msg: impl Into<String>) -> Response {
    #[derive(Serialize)]
    struct Failure {
        error: String,
    }
    (status, axum::Json(Failure { error: msg.into() })).into_response()
}

/// The HTTP status of a command's error, from its exit code.
fn status_of(e: &anyhow::Error) -> StatusCode {
    let code = crate::exit_code(e);
    if code == exit::code(ErrorKind::InvalidInput) || code == exit::code(ErrorKind::WrongType) {
        StatusCode::BAD_REQUEST
    } else if code == exit::code(ErrorKind::NotFound) || code == exit::code(ErrorKind::NotARepo) {
        StatusCode::NOT_FOUND
    } else if code == exit::code(ErrorKind::Denied) {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl Api {
    /// Runs `f` on the repo on a worker thread; its outcome is the JSON answer.
    async fn ask<T: Serialize>(
        &self,
        f: impl FnOnce(&Repo) -> Result<T> + Send + 'static,
    ) -> Response {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |repo| {
            let run =
                std::panic::AssertUnwindSafe(|| f(repo).and_then(|v| Ok(serde_json::to_vec(&v)?)));
            let answer = match std::panic::catch_unwind(run) {
                Ok(Ok(body)) => Ok(body),
                Ok(Err(e)) => Err((status_of(&e), crate::error_line(&e))),
                // The panic hook already reported it on stderr.
                Err(_) => Err((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error (a bug in weft, please report it)".to_string(),
                )),
            };
            let _ = tx.send(answer);
        });
        if self.jobs.send(job).is_err() {
            return stopping();
        }
        match rx.await {
            Ok(Ok(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Ok(Err((status, msg))) => failure(status, msg),
            Err(_) => stopping(),
        }
    }
}

fn stopping() -> Response {
    failure(
        StatusCode::SERVICE_UNAVAILABLE,
        "the history browser is stopping",
    )
}

/// Refuses a request whose `Host` is not the page's own address (another site's page that
/// reached it through a name of its own; any host with `--public`), and a write from a page of
/// another origin than the one it is sent to.
async fn guard(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if api
        .hosts
        .as_ref()
        .is_some_and(|hosts| !hosts.iter().any(|h| h == host))
    {
        return failure(
            StatusCode::FORBIDDEN,
            format!(
                "refused: the request names the host {:?}, not this history browser's address",
                weft_sync::printable(host)
            ),
        );
    }
    if req.method() != Method::GET {
        let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
        if origin.is_some_and(|o| o != format!("http://{host}")) {
            return failure(
                StatusCode::FORBIDDEN,
                "refused: a write from a page of another site",
            );
        }
    }
    next.run(req).await
}

async fn not_found(req: Request) -> Response {
    failure(
        StatusCode::NOT_FOUND,
        format!(
            "no such page: {} (see docs/ui.md for the endpoints)",
            weft_sync::printable(req.uri().path())
        ),
    )
}

/// `GET /api/info`: what the page shows.
#[derive(Debug, Serialize)]
struct Info {
    doc: String,
    /// The document's local name, if it has one.
    name: Option<String>,
    /// The key this repo signs with (the page's writes, with `--write`).
    author: String,
    /// Whether the page may write (`--write`).
    write: bool,
}

async fn info(State(api): State<Arc<Api>>) -> Response {
    let (doc, write) = (api.doc, api.write);
    api.ask(move |repo| {
        Ok(Info {
            doc: doc.to_string(),
            name: repo.doc_name(doc)?,
            author: repo.author().to_string(),
            write,
        })
    })
    .await
}

/// `GET /api/graph`: the whole DAG in a compact form, newest first (every change before its
/// parents): one array per field, parents and authors by index. With `?since=REV`, only the
/// changes REV does not reach (what arrived after the page loaded REV's heads).
#[derive(Debug, Serialize)]
struct Graph {
    doc: String,
    heads: Vec<String>,
    /// The authors, 64 hex digits each, in order of first appearance.
    authors: Vec<String>,
    /// Their petnames here, `null` for none.
    names: Vec<Option<String>>,
    cids: Vec<String>,
    /// Per change, its parents: indexes into `cids`, then (from `cids.len()` on) into `known`.
    parents: Vec<Vec<u32>>,
    /// Parents outside the answer (with `since`: changes the caller has).
    known: Vec<String>,
    /// Per change, its author's index in `authors`.
    author: Vec<u32>,
    /// Per change, its time (ms since the Unix epoch, by its author's clock).
    time: Vec<u64>,
    height: Vec<u64>,
    /// The indexes of the void changes (their author lacked the role).
    void: Vec<u32>,
    /// Per change, its ops in a few words, as `weft log` prints them.
    summary: Vec<String>,
    /// Some change of the answer grants or revokes: with `since`, changes outside it may have
    /// become void or stopped being so, and a caller reloads the whole graph.
    membership: bool,
}

/// The compact graph of `changes` (newest first).
fn graph_of(
    repo: &Repo,
    doc: DocId,
    changes: impl Iterator<Item = Result<(Cid, weft_dag::Change)>>,
) -> Result<Graph> {
    let names = Names::load(repo)?;
    let mut g = Graph {
        doc: doc.to_string(),
        heads: repo.heads(doc)?.iter().map(ToString::to_string).collect(),
        authors: Vec::new(),
        names: Vec::new(),
        cids: Vec::new(),
        parents: Vec::new(),
        known: Vec::new(),
        author: Vec::new(),
        time: Vec::new(),
        height: Vec::new(),
        void: Vec::new(),
        summary: Vec::new(),
        membership: false,
    };
    let mut index: HashMap<Cid, u32> = HashMap::new();
    let mut authors: HashMap<weft_dag::Author, u32> = HashMap::new();
    let mut parents: Vec<Vec<Cid>> = Vec::new();
    for change in changes {
        let (cid, c) = change?;
        let i = g.cids.len() as u32;
        index.insert(cid, i);
        let a = *authors.entry(c.author).or_insert_with(|| {
            g.authors.push(c.author.to_string());
            g.names.push(names.name(&c.author).map(str::to_string));
            (g.authors.len() - 1) as u32
        });
        g.membership |= c
            .ops
            .iter()
            .any(|op| matches!(op, Op::Grant { .. } | Op::Revoke { .. }));
        g.cids.push(cid.to_string());
        g.author.push(a);
        g.time.push(c.time);
        g.height.push(c.height);
        g.summary.push(summary(&c));
        parents.push(c.parents);
    }
    g.void = repo
        .void_changes(doc)?
        .iter()
        .filter_map(|c| index.get(c).copied())
        .collect();
    g.void.sort_unstable();
    let mut known: HashMap<Cid, u32> = HashMap::new();
    let n = g.cids.len() as u32;
    g.parents = parents
        .iter()
        .map(|ps| {
            ps.iter()
                .map(|p| match index.get(p) {
                    Some(&i) => i,
                    None => *known.entry(*p).or_insert_with(|| {
                        g.known.push(p.to_string());
                        n + g.known.len() as u32 - 1
                    }),
                })
                .collect()
        })
        .collect();
    Ok(g)
}

#[derive(Debug, Deserialize)]
struct GraphQuery {
    since: Option<String>,
}

async fn graph(State(api): State<Arc<Api>>, Query(q): Query<GraphQuery>) -> Response {
    let doc = api.doc;
    api.ask(move |repo| match q.since.filter(|s| !s.is_empty()) {
        None => graph_of(
            repo,
            doc,
            repo.log(doc).map(|e| Ok(e.map(|e| (e.cid, e.change))?)),
        ),
        Some(since) => {
            let base = rev::point(repo, doc, &since)?;
            let mut new = repo.missing(doc, &base)?;
            // Newest first.
            new.reverse();
            let changes = new
                .into_iter()
                .map(|(_, cid)| Ok((cid, repo.change(&cid)?)));
            graph_of(repo, doc, changes)
        }
    })
    .await
}

/// The point a revision names (`--at`), `None` for none or an empty one.
fn at(repo: &Repo, doc: DocId, rev: Option<&str>) -> Result<Option<Vec<Cid>>> {
    match rev.filter(|r| !r.is_empty()) {
        Some(r) => rev::points(repo, doc, &[r.to_string()]),
        None => Ok(None),
    }
}

/// The one change `s` names, as `weft show` reads it.
fn change(repo: &Repo, doc: DocId, s: &str) -> Result<Cid> {
    rev::check_one(s)?;
    if rev::looks_like_cid(s) && !s.contains('~') {
        rev::cid(repo, s)
    } else {
        rev::single(repo, doc, s)
    }
}

/// `GET /api/show/CID`: `weft show --json CID`.
async fn show(State(api): State<Arc<Api>>, Path(cid): Path<String>) -> Response {
    let doc = api.doc;
    api.ask(move |repo| history::shown(repo, &change(repo, doc, &cid)?))
        .await
}

#[derive(Debug, Deserialize)]
struct LsQuery {
    prefix: Option<String>,
    at: Option<String>,
}

/// `GET /api/ls?prefix=P&at=REV`: `weft ls --json [P] [--at REV]`.
async fn ls(State(api): State<Arc<Api>>, Query(q): Query<LsQuery>) -> Response {
    let doc = api.doc;
    api.ask(move |repo| {
        let point = at(repo, doc, q.at.as_deref())?;
        read::listing(repo, doc, q.prefix.as_deref().unwrap_or(""), point)
    })
    .await
}

#[derive(Debug, Deserialize)]
struct BlameQuery {
    key: Option<String>,
    at: Option<String>,
}

/// `GET /api/blame?key=K&at=REV`: `weft blame --json K [--at REV]`.
async fn blame(State(api): State<Arc<Api>>, Query(q): Query<BlameQuery>) -> Response {
    let doc = api.doc;
    api.ask(move |repo| {
        let key = q.key.ok_or_else(|| usage("blame needs a key (?key=K)"))?;
        let point = at(repo, doc, q.at.as_deref())?;
        history::blamed(repo, doc, &key, point.as_deref())
    })
    .await
}

#[derive(Debug, Deserialize)]
struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /api/diff?from=A&to=B`: `weft diff --json A [B]` (B: the heads now).
async fn diff(State(api): State<Arc<Api>>, Query(q): Query<DiffQuery>) -> Response {
    let doc = api.doc;
    api.ask(move |repo| {
        let from = q
            .from
            .filter(|f| !f.is_empty())
            .ok_or_else(|| usage("diff needs the point to compare (?from=REV)"))?;
        let from = rev::point(repo, doc, &from)?;
        let to = match q.to.filter(|t| !t.is_empty()) {
            Some(t) => rev::point(repo, doc, &t)?,
            None => repo.heads(doc)?,
        };
        fix::differences(repo, doc, &from, &to)
    })
    .await
}

/// `GET /api/members`: `weft members --json`.
async fn members(State(api): State<Arc<Api>>) -> Response {
    let doc = api.doc;
    api.ask(move |repo| read::member_list(repo, doc)).await
}

/// `GET /api/status`: `weft status --json`.
async fn status(State(api): State<Arc<Api>>) -> Response {
    let weft_dir = api.weft_dir.clone();
    api.ask(move |repo| status_out(repo, &weft_dir, None)).await
}

#[derive(Debug, Deserialize)]
struct ConvergenceQuery {
    n: Option<u64>,
}

/// `GET /api/convergence?n=N`: `weft convergence --json [-n N]`.
async fn convergence(State(api): State<Arc<Api>>, Query(q): Query<ConvergenceQuery>) -> Response {
    api.ask(move |repo| delays(repo, None, q.n.unwrap_or(1000).max(1)))
        .await
}

/// `GET /api/events`: server-sent events, one `weft watch` line per batch of changes applied
/// to the document. The first event, `ready`, says the feed is in place: no change applied
/// after it is missed; `lagged` says some were (a page too slow to read them), so reload.
async fn events(State(api): State<Arc<Api>>) -> Response {
    let Some(rx) = api.feed.upgrade().map(|feed| feed.subscribe()) else {
        return stopping();
    };
    let ready = futures_util::stream::once(async {
        Ok::<_, Infallible>(Event::default().event("ready").data("ready"))
    });
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(line) => Event::default().data(&*line),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(event), rx))
    });
    Sse::new(futures_util::StreamExt::chain(ready, lines))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The answer to a write the page may not make.
fn read_only() -> Response {
    failure(
        StatusCode::FORBIDDEN,
        "this history browser is read-only: start it with `weft ui --write` to write from the page",
    )
}

/// How the write endpoints run their command: for its outcome, printing nothing.
const SILENT: Output = Output {
    format: Format::Json,
    quiet: true,
};

/// `POST /api/revert/CID` (with `--write`): `weft revert --json CID`.
async fn revert(State(api): State<Arc<Api>>, Path(cid): Path<String>) -> Response {
    if !api.write {
        return read_only();
    }
    let doc = api.doc;
    api.ask(move |repo| {
        let cid = rev::cid(repo, &cid)?;
        fix::revert(repo, doc, &cid, &mut std::io::sink(), SILENT)
    })
    .await
}

#[derive(Debug, Deserialize)]
struct ResolveQuery {
    key: Option<String>,
    take: Option<String>,
}

/// `POST /api/resolve?key=K&take=CID` (with `--write`): `weft resolve --json K --take CID`.
async fn resolve(State(api): State<Arc<Api>>, Query(q): Query<ResolveQuery>) -> Response {
    if !api.write {
        return read_only();
    }
    let doc = api.doc;
    api.ask(move |repo| {
        let (Some(key), Some(take)) = (q.key, q.take) else {
            return Err(usage("resolve needs a key and a change (?key=K&take=CID)"));
        };
        let take = rev::cid(repo, &take)?;
        fix::resolve(repo, doc, &key, &take, &mut std::io::sink(), SILENT)
    })
    .await
}
