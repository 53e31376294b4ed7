//! The commands: [`Ctx::check_args`], the dispatchers [`Ctx::run`] (a command on an open repo)
//! and [`Ctx::run_standalone`] (one that needs none), and a method of [`Ctx`] for each command
//! that has no module of its own; the others (`batch`, `demo`, `lab`, the sync commands in
//! `net`, `status` and `convergence` in `live`) are called from here. Each writes to `out` in the
//! chosen [`Format`] and returns an error for the caller to turn into an exit code; none of them
//! prints on its own.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context as _, Result};
use serde_json::{json, Value as Json};
use weft_dag::{
    change::Op, BlameLine, Change, Cid, DocId, Entry, Repo, Role, State, Value, WEFT_DIR,
};
use weft_sync::Direction;

use crate::{
    args::{
        BlockCommand, BundleCommand, Command, DagArgs, DagFormat, DocCommand, RemoteCommand,
        ServeArgs, SyncArgs, WatchArgs,
    },
    ctx::Ctx,
    graph::{self, Lanes, Row},
    net,
    out::{summary, time_str, usage, write_json, Format},
    stop::Stop,
};

fn parse_cid(s: &str) -> Result<Cid> {
    s.parse::<Cid>().map_err(|e| usage(e.to_string()))
}

fn parse_author(s: &str) -> Result<weft_dag::Author> {
    s.parse().map_err(|_| {
        usage(format!(
            "invalid key {s:?}: expected 64 hex digits, as `weft id` prints"
        ))
    })
}

fn parse_value(s: &str) -> Result<Value> {
    Value::parse_cli(s).map_err(|e| usage(format!("invalid value {s:?}: {e}")))
}

fn parse_values(inputs: &[String]) -> Result<Vec<Value>> {
    inputs.iter().map(|s| parse_value(s)).collect()
}

fn op_json(op: &Op) -> Json {
    let ids = |ids: &[weft_dag::OpId]| -> Vec<Json> {
        ids.iter().map(|i| json!(i.to_string())).collect()
    };
    match op {
        Op::Genesis { owner, nonce } => {
            json!({"op": "genesis", "owner": owner.to_string(), "nonce": hex::encode(nonce)})
        }
        Op::Set { key, value, pred } => {
            json!({"op": "set", "key": key, "value": value.to_json(), "pred": ids(pred)})
        }
        Op::Del { key, pred } => json!({"op": "del", "key": key, "pred": ids(pred)}),
        Op::Incr { key, delta } => json!({"op": "incr", "key": key, "delta": delta}),
        Op::Add { key, member } => json!({"op": "add", "key": key, "member": member.to_json()}),
        Op::Remove { key, member, tags } => {
            json!({"op": "remove", "key": key, "member": member.to_json(), "tags": ids(tags)})
        }
        Op::Grant { who, role } => {
            json!({"op": "grant", "who": who.to_string(), "role": role.name()})
        }
        Op::Revoke { who } => json!({"op": "revoke", "who": who.to_string()}),
    }
}

fn change_json(cid: &Cid, doc: DocId, c: &Change) -> Json {
    json!({
        "cid": cid.to_string(),
        "doc": doc.to_string(),
        "author": c.author.to_string(),
        "parents": c.parents.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "height": c.height,
        "seq": c.seq,
        "time": c.time,
        "ops": c.ops.iter().map(op_json).collect::<Vec<_>>(),
    })
}

impl Ctx<'_> {
    fn doc(&self, repo: &Repo) -> Result<DocId> {
        Ok(repo.doc(self.cli.doc.as_deref().unwrap_or(weft_dag::DEFAULT_DOC))?)
    }

    /// Checks the arguments that parse without a repo (CIDs, values), so that bad usage is
    /// reported as such (exit 2) before the repo is looked for, opened or asked for.
    pub fn check_args(&self) -> Result<()> {
        match &self.cli.command {
            Command::Show { cid }
            | Command::Block(BlockCommand::Get { cid } | BlockCommand::Stat { cid })
            | Command::Get { at: Some(cid), .. }
            | Command::Ls { at: Some(cid), .. } => parse_cid(cid).map(drop),
            Command::Set { value, .. } => parse_value(value).map(drop),
            Command::Sadd { members, .. } | Command::Srem { members, .. } => {
                parse_values(members).map(drop)
            }
            _ => Ok(()),
        }
    }

    /// Runs a command that needs no open repo (`init`, `demo`).
    pub fn run_standalone(&self, out: &mut dyn Write) -> Result<bool> {
        match &self.cli.command {
            Command::Init { dir } => self.init(dir.as_deref(), out)?,
            Command::Demo => crate::demo::run(out)?,
            Command::Lab(lab) => crate::lab::run(lab, self.json(), out)?,
            Command::Clone { url, dir, net } => net::clone(
                url,
                dir.as_deref(),
                &self.start_dir()?,
                self.options()?,
                self.cli.doc.clone().map(|d| vec![d]),
                net,
                self.json(),
                self.cli.quiet,
                out,
            )?,
            other => {
                return Err(anyhow::anyhow!(
                    "internal error: `weft {}` needs an open repo",
                    other.name()
                ))
            }
        }
        Ok(true)
    }

    /// Runs the command on `repo`, already open in this process (opened for this command, or
    /// held by `serve`/`watch` that runs it for another process). `Ok(false)` means it ran but
    /// found problems (fsck).
    pub fn run(&self, repo: &Repo, out: &mut dyn Write) -> Result<bool> {
        match &self.cli.command {
            Command::Init { .. } | Command::Demo | Command::Lab(_) | Command::Serve(_) => {
                Err(usage(format!(
                    "`weft {}` cannot run in the weft process that holds the repo",
                    self.cli.command.name()
                )))
            }
            Command::Id => match self.format {
                Format::Json => write_json(out, &json!({"author": repo.author().to_string()})),
                Format::Human => Ok(writeln!(out, "{}", repo.author())?),
            },
            Command::Doc(DocCommand::New { name }) => {
                let id = repo.create_doc(name)?;
                match self.format {
                    Format::Json => write_json(out, &json!({"name": name, "id": id.to_string()})),
                    Format::Human if self.cli.quiet => Ok(()),
                    Format::Human => Ok(writeln!(out, "{name}\t{id}")?),
                }
            }
            Command::Doc(DocCommand::Ls) => {
                let docs = repo.docs()?;
                match self.format {
                    Format::Json => write_json(
                        out,
                        &json!({"docs": docs.iter().map(|(n, id)| json!({"name": n, "id": id.to_string()})).collect::<Vec<_>>()}),
                    ),
                    Format::Human => {
                        for (n, id) in docs {
                            writeln!(out, "{n}\t{id}")?;
                        }
                        Ok(())
                    }
                }
            }
            Command::Set { key, value } => {
                let value = parse_value(value)?;
                self.write(repo, out, key, |tx| {
                    tx.set(key, value)?;
                    Ok(())
                })
            }
            Command::Rm { key } => self.write(repo, out, key, |tx| {
                tx.del(key)?;
                Ok(())
            }),
            Command::Incr { key, delta } => self.write(repo, out, key, |tx| {
                tx.incr(key, *delta)?;
                Ok(())
            }),
            Command::Sadd { key, members } => {
                let members = parse_values(members)?;
                self.write(repo, out, key, |tx| {
                    for m in members {
                        tx.add(key, m)?;
                    }
                    Ok(())
                })
            }
            Command::Srem { key, members } => {
                let members = parse_values(members)?;
                self.write(repo, out, key, |tx| {
                    for m in members {
                        tx.remove(key, m)?;
                    }
                    Ok(())
                })
            }
            Command::Get { key, all, at } => self.get(repo, out, key, *all, at.as_deref()),
            Command::Ls { prefix, at } => {
                self.ls(repo, out, prefix.as_deref().unwrap_or(""), at.as_deref())
            }
            Command::Log { graph, n } => self.log(repo, out, *graph, *n),
            Command::Show { cid } => self.show(repo, out, cid),
            Command::Heads => {
                let heads = repo.heads(self.doc(repo)?)?;
                match self.format {
                    Format::Json => write_json(
                        out,
                        &json!({"heads": heads.iter().map(|h| h.to_string()).collect::<Vec<_>>()}),
                    ),
                    Format::Human => {
                        for h in heads {
                            writeln!(out, "{h}")?;
                        }
                        Ok(())
                    }
                }
            }
            Command::Blame { key } => self.blame(repo, out, key),
            Command::Dag(args) => self.dag(repo, out, args),
            Command::Block(BlockCommand::Get { cid }) => {
                let cid = parse_cid(cid)?;
                let bytes = repo.block(&cid)?;
                cid.verify(&bytes)?;
                out.write_all(&bytes)?;
                Ok(())
            }
            Command::Block(BlockCommand::Stat { cid }) => {
                let cid = parse_cid(cid)?;
                let (size, valid) = repo.block_stat(&cid)?;
                match self.format {
                    Format::Json => write_json(
                        out,
                        &json!({"cid": cid.to_string(), "size": size, "codec": cid.codec().name(), "valid": valid}),
                    ),
                    Format::Human => Ok(writeln!(
                        out,
                        "{cid}\t{} bytes\t{}{}",
                        size,
                        cid.codec(),
                        if valid { "" } else { "\tCORRUPT" }
                    )?),
                }
            }
            Command::Fsck => return self.fsck(repo, out),
            Command::Grant { key, role } => {
                let who = parse_author(key)?;
                let role: Role = role.parse().map_err(usage)?;
                self.membership(repo, out, |tx| {
                    tx.grant(who, role)?;
                    Ok(())
                })
            }
            Command::Revoke { key } => {
                let who = parse_author(key)?;
                self.membership(repo, out, |tx| {
                    tx.revoke(who)?;
                    Ok(())
                })
            }
            Command::Members => {
                let members = repo.members(self.doc(repo)?)?;
                match self.format {
                    Format::Json => write_json(
                        out,
                        &json!({"members": members.iter().map(|m| json!({"key": m.author.to_string(), "role": m.role.name()})).collect::<Vec<_>>()}),
                    ),
                    Format::Human => {
                        for m in members {
                            writeln!(out, "{}\t{}", m.author, m.role)?;
                        }
                        Ok(())
                    }
                }
            }
            Command::Watch(args) => self.watch(repo, out, args),
            Command::Clone { .. } => Err(usage(
                "`weft clone` cannot run in the weft process that holds the repo".to_string(),
            )),
            Command::Remote(cmd) => {
                net::remote(&self.weft_dir(repo)?, cmd, self.json(), out)?;
                // A removed remote's sync status goes with it.
                if let RemoteCommand::Rm { name } = cmd {
                    weft_live::status::forget(repo, name)?;
                }
                Ok(())
            }
            Command::Pull(args) => self.sync(repo, args, Direction::Pull, out),
            Command::Push(args) => self.sync(repo, args, Direction::Push, out),
            Command::Sync(args) => self.sync(repo, args, Direction::Both, out),
            Command::Bundle(cmd) => self.bundle(repo, cmd, out),
            Command::Batch => crate::batch::run(self, repo, self.input.as_ref(), out),
            Command::Status => crate::live::status(
                repo,
                &self.weft_dir(repo)?,
                self.only_doc(repo)?,
                self.json(),
                out,
            ),
            Command::Convergence { n } => {
                crate::live::convergence(repo, self.only_doc(repo)?, *n, self.json(), out)
            }
        }?;
        Ok(true)
    }

    /// The document `-d` names, if it names one (for commands that default to every document).
    fn only_doc(&self, repo: &Repo) -> Result<Option<DocId>> {
        Ok(match &self.cli.doc {
            Some(d) => Some(repo.doc(d)?),
            None => None,
        })
    }

    fn weft_dir(&self, repo: &Repo) -> Result<PathBuf> {
        Ok(repo
            .root()
            .context("internal error: the repo is not on disk")?
            .join(WEFT_DIR))
    }

    /// `weft pull|push|sync`.
    fn sync(
        &self,
        repo: &Repo,
        args: &SyncArgs,
        direction: Direction,
        out: &mut dyn Write,
    ) -> Result<()> {
        let call = net::SyncCall {
            remote: args.remote.as_deref(),
            docs: self.cli.doc.clone().map(|d| vec![d]),
            direction,
            net: &args.net,
            json: self.json(),
            quiet: self.cli.quiet,
            identity: self.options()?.identity,
        };
        net::sync(repo, &self.weft_dir(repo)?, &self.start_dir()?, &call, out)
    }

    /// `weft bundle create|apply`.
    fn bundle(&self, repo: &Repo, cmd: &BundleCommand, out: &mut dyn Write) -> Result<()> {
        let docs = match &self.cli.doc {
            Some(d) => vec![repo.doc(d)?],
            None => repo.doc_ids()?,
        };
        match cmd {
            BundleCommand::Create { file, since } => {
                let since = since
                    .iter()
                    .map(|c| parse_cid(c))
                    .collect::<Result<Vec<_>>>()?;
                net::bundle_create(
                    repo,
                    &docs,
                    &since,
                    &self.resolve(file)?,
                    self.json(),
                    self.cli.quiet,
                    out,
                )
            }
            BundleCommand::Apply { file } => {
                net::bundle_apply(repo, &self.resolve(file)?, self.json(), self.cli.quiet, out)
            }
        }
    }

    /// `weft serve`: serves `repo` (open in this process) until SIGINT/SIGTERM/SIGHUP or, when
    /// stdin is a pipe, its EOF; then removes the socket and returns.
    ///
    /// `stop` must already be wired to the signals, so that no signal can end the process
    /// between the socket's creation and the wait (which would leave the socket file behind).
    pub fn serve(
        &self,
        repo: Arc<Repo>,
        args: &ServeArgs,
        stop: Arc<Stop>,
        out: &mut dyn Write,
    ) -> Result<()> {
        let root = repo
            .root()
            .map(Path::to_path_buf)
            .context("internal error: serving a repo that is not on disk")?;
        // Live sync (`--peer`, `--interval`): its arguments are checked before anything starts.
        let live = match crate::live::options(args)? {
            Some(opts) => Some((
                opts,
                crate::live::CliPeers::new(
                    &root.join(WEFT_DIR),
                    &self.start_dir()?,
                    self.options()?.identity,
                    &args.net,
                    &args.peer,
                )?,
            )),
            None => None,
        };
        // Local commands: whoever holds the repo serves it (see daemon.rs). A repo that cannot
        // be written is held by nobody: every process opens it to read, side by side.
        let daemon = if repo.is_read_only() {
            None
        } else {
            Some(crate::daemon::Daemon::start(
                Arc::clone(&repo),
                &root.join(WEFT_DIR),
            )?)
        };

        // Network sync, sharing `repo` with the daemon. With `--stdio`, stdin and stdout carry
        // one session and nothing else is printed; the server ends with it.
        if args.stdio {
            let result = net::serve_stdio(&repo, &args.net);
            drop(daemon);
            return result;
        }
        if let Some(addr) = &args.listen {
            net::serve_listen(
                Arc::clone(&repo),
                addr,
                &args.net,
                &args.allow,
                self.options()?.identity.as_ref(),
                self.json(),
                out,
            )?;
        }
        // Syncs in the background until the server stops (dropping it ends its thread).
        let live = match live {
            Some((opts, peers)) => Some(
                weft_live::live::Live::start(Arc::clone(&repo), peers, opts)
                    .context("cannot start live sync")?,
            ),
            None => None,
        };

        // A supervisor that holds a pipe to our stdin stops us by closing it. A terminal or
        // /dev/null is left alone: reading a terminal from the background would suspend us
        // (SIGTTIN), and a script's `weft serve &` gets /dev/null, which must not end it at once.
        if stdin_is_pipe() {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("weft-serve-stdin".into())
                .spawn(move || {
                    let mut sink = std::io::sink();
                    // Ends at EOF or on a read error; either way the server stops.
                    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut sink);
                    stop.trigger();
                })
                .context("cannot start a thread")?;
        }

        // The readiness line: once it is out, other weft commands on this repo run here.
        match self.format {
            Format::Json => write_json(out, &json!({"root": root.display().to_string()}))?,
            Format::Human => writeln!(out, "serving {}", root.display())?,
        }
        out.flush()?;
        stop.wait();
        drop(live);
        drop(daemon);
        Ok(())
    }

    /// `weft watch`: one JSON line per change applied to `repo` from now on, until `--count`
    /// lines were printed, stdout is closed, or the stop flag is set.
    fn watch(&self, repo: &Repo, out: &mut dyn Write, args: &WatchArgs) -> Result<()> {
        let changes = repo.subscribe();
        if args.ready {
            write_json(out, &json!({"ready": true}))?;
            out.flush()?;
        }
        let prefix = args.prefix.as_deref().unwrap_or("");
        let mut printed = 0u64;
        while args.count.is_none_or(|n| printed < n) && !self.stopped() {
            // The subscription cannot be woken by the stop flag, so poll it.
            let Some(event) = changes.next_timeout(Duration::from_millis(100)) else {
                continue;
            };
            if !prefix.is_empty() && !event.keys.iter().any(|k| k.starts_with(prefix)) {
                continue;
            }
            let line = json!({
                "doc": event.doc.to_string(),
                "doc_name": repo.doc_name(event.doc)?,
                "cid": event.cid.to_string(),
                "author": event.author.to_string(),
                "height": event.height,
                "keys": event.keys,
                "local": event.local,
            });
            write_json(out, &line)?;
            out.flush()?;
            printed += 1;
        }
        match self.stop.as_ref().and_then(|s| s.error()) {
            Some(msg) => Err(anyhow::anyhow!(msg)),
            None => Ok(()),
        }
    }

    fn init(&self, dir: Option<&Path>, out: &mut dyn Write) -> Result<()> {
        let start = self.start_dir()?;
        let root = match dir {
            Some(d) => start.join(d),
            None => start,
        };
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        let repo = Repo::init(&root, self.options()?)?;
        let doc = repo.doc(weft_dag::DEFAULT_DOC)?;
        match self.format {
            Format::Json => write_json(
                out,
                &json!({"root": root.display().to_string(), "author": repo.author().to_string(), "doc": doc.to_string()}),
            ),
            Format::Human if self.cli.quiet => Ok(()),
            Format::Human => Ok(writeln!(
                out,
                "Initialized weft repo in {}\nauthor {}\ndocument main {doc}",
                root.join(WEFT_DIR).display(),
                repo.author()
            )?),
        }
    }

    /// Commits a grant or revoke and prints its CID.
    fn membership(
        &self,
        repo: &Repo,
        out: &mut dyn Write,
        f: impl FnOnce(&mut weft_dag::Transaction<'_>) -> Result<()>,
    ) -> Result<()> {
        let doc = self.doc(repo)?;
        let mut tx = repo.transaction(doc);
        f(&mut tx)?;
        let cid = tx.commit()?.map(|c| c.cid.to_string()).unwrap_or_default();
        match self.format {
            Format::Json => write_json(out, &json!({"cid": cid})),
            Format::Human if self.cli.quiet => Ok(()),
            Format::Human => Ok(writeln!(out, "{cid}")?),
        }
    }

    fn write(
        &self,
        repo: &Repo,
        out: &mut dyn Write,
        key: &str,
        f: impl FnOnce(&mut weft_dag::Transaction<'_>) -> Result<()>,
    ) -> Result<()> {
        let doc = self.doc(repo)?;
        let mut tx = repo.transaction(doc);
        f(&mut tx)?;
        let committed = tx.commit()?;
        let value = repo.state(doc).get(key)?;
        match self.format {
            Format::Json => write_json(
                out,
                &json!({
                    "cid": committed.as_ref().map(|c| c.cid.to_string()),
                    "key": key,
                    "value": value.as_ref().map(Value::to_json),
                }),
            ),
            Format::Human if self.cli.quiet => Ok(()),
            Format::Human => match committed {
                Some(c) => Ok(writeln!(out, "{}", c.cid)?),
                None => Ok(writeln!(out, "nothing to change")?),
            },
        }
    }

    fn state_at<'r>(&self, repo: &'r Repo, doc: DocId, at: Option<&str>) -> Result<Reader<'r>> {
        Ok(match at {
            None => Reader::Live(repo.state(doc)),
            Some(cid) => Reader::Past(repo.at(doc, &[parse_cid(cid)?])?),
        })
    }

    fn get(
        &self,
        repo: &Repo,
        out: &mut dyn Write,
        key: &str,
        all: bool,
        at: Option<&str>,
    ) -> Result<()> {
        let doc = self.doc(repo)?;
        let reader = self.state_at(repo, doc, at)?;
        let state = reader.state();
        let entry = state
            .entry(key)?
            .ok_or_else(|| weft_dag::Error::KeyNotFound { key: key.into() })?;
        let values = entry.values(key)?;
        match self.format {
            Format::Json => write_json(
                out,
                &json!({
                    "key": key,
                    "kind": entry.kind().name(),
                    "value": entry.value(key)?.to_json(),
                    "values": values.iter().map(Value::to_json).collect::<Vec<_>>(),
                }),
            ),
            Format::Human => {
                if all {
                    for v in values {
                        writeln!(out, "{v}")?;
                    }
                } else {
                    writeln!(out, "{}", entry.value(key)?)?;
                }
                Ok(())
            }
        }
    }

    fn ls(&self, repo: &Repo, out: &mut dyn Write, prefix: &str, at: Option<&str>) -> Result<()> {
        let doc = self.doc(repo)?;
        let reader = self.state_at(repo, doc, at)?;
        let entries = reader.state().entries(prefix)?;
        match self.format {
            Format::Json => {
                let list: Vec<Json> = entries
                    .iter()
                    .map(|(k, e)| {
                        let (value, error) = match e.value(k) {
                            Ok(v) => (v.to_json(), None),
                            Err(err) => (Json::Null, Some(err.to_string())),
                        };
                        let mut o = json!({
                            "key": k,
                            "kind": e.kind().name(),
                            "value": value,
                            "conflict": matches!(e, Entry::Register(v) if v.len() > 1),
                        });
                        if let Some(err) = error {
                            o["error"] = json!(err);
                        }
                        Ok(o)
                    })
                    .collect::<Result<_>>()?;
                write_json(out, &json!({"entries": list}))
            }
            Format::Human => {
                for (k, e) in &entries {
                    let conflict = match e {
                        Entry::Register(v) if v.len() > 1 => {
                            format!("\t({} concurrent values)", v.len())
                        }
                        _ => String::new(),
                    };
                    // One bad key (an overflowing counter) must not hide the others.
                    match e.value(k) {
                        Ok(v) => writeln!(out, "{k}\t{v}{conflict}")?,
                        Err(err) => writeln!(out, "{k}\t<{err}>")?,
                    }
                }
                Ok(())
            }
        }
    }

    fn log(&self, repo: &Repo, out: &mut dyn Write, graph: bool, n: Option<usize>) -> Result<()> {
        let doc = self.doc(repo)?;
        let mut lanes = Lanes::new();
        for entry in repo.log(doc).take(n.unwrap_or(usize::MAX)) {
            let entry = entry?;
            let c = &entry.change;
            let void = repo.is_void(&entry.cid)?;
            if self.format == Format::Json {
                let mut v = change_json(&entry.cid, doc, c);
                v["void"] = json!(void);
                write_json(out, &v)?;
                continue;
            }
            let text = format!(
                "{} {} {} {}{}",
                entry.cid,
                c.author.short(),
                time_str(c.time),
                summary(c),
                if void {
                    " [void: its author lacked the role]"
                } else {
                    ""
                }
            );
            if !graph {
                writeln!(out, "{text}")?;
                continue;
            }
            for row in lanes.push(entry.cid, &c.parents) {
                match row {
                    Row::Commit(g, _) => writeln!(out, "{g} {text}")?,
                    Row::Edge(g) => writeln!(out, "{g}")?,
                }
            }
        }
        Ok(())
    }

    fn show(&self, repo: &Repo, out: &mut dyn Write, cid: &str) -> Result<()> {
        let cid = parse_cid(cid)?;
        let bytes = repo.block(&cid)?;
        cid.verify(&bytes)?;
        let change = Change::decode(&cid, &bytes)?;
        let verified = change.verify_decoded(&cid, &bytes);
        let doc = change.doc.unwrap_or(DocId(cid));
        match self.format {
            Format::Json => {
                let mut v = change_json(&cid, doc, &change);
                v["signature"] = json!(hex::encode(change.sig));
                v["signature_valid"] = json!(verified.is_ok());
                v["size"] = json!(bytes.len());
                v["void"] = json!(repo.is_void(&cid).unwrap_or(false));
                write_json(out, &v)
            }
            Format::Human => {
                writeln!(out, "change    {cid}")?;
                writeln!(out, "document  {doc}")?;
                writeln!(out, "author    {}", change.author)?;
                writeln!(out, "time      {}", time_str(change.time))?;
                writeln!(out, "height    {}", change.height)?;
                writeln!(out, "seq       {}", change.seq)?;
                for p in &change.parents {
                    writeln!(out, "parent    {p}")?;
                }
                match &verified {
                    Ok(()) => writeln!(out, "signature valid")?,
                    Err(e) => writeln!(out, "signature INVALID: {e}")?,
                }
                if repo.is_void(&cid).unwrap_or(false) {
                    writeln!(
                        out,
                        "void      its author lacked the role in the whole DAG (revoked); its ops do not count"
                    )?;
                }
                writeln!(out, "ops")?;
                for (i, op) in change.ops.iter().enumerate() {
                    writeln!(out, "  {i}: {}", op_json(op))?;
                }
                Ok(())
            }
        }
    }

    fn blame(&self, repo: &Repo, out: &mut dyn Write, key: &str) -> Result<()> {
        let doc = self.doc(repo)?;
        let lines = repo.blame(doc, key)?;
        let line_json = |l: &BlameLine| {
            json!({
                "change": l.op.change.to_string(),
                "op": l.op.index,
                "author": l.author.to_string(),
                "time": l.time,
                "height": l.height,
                "value": l.value.to_json(),
            })
        };
        match self.format {
            Format::Json => write_json(
                out,
                &json!({"key": key, "lines": lines.iter().map(line_json).collect::<Vec<_>>()}),
            ),
            Format::Human => {
                for l in &lines {
                    writeln!(
                        out,
                        "{} {} {} {}",
                        l.op.change,
                        l.author.short(),
                        time_str(l.time),
                        l.value
                    )?;
                }
                Ok(())
            }
        }
    }

    fn dag(&self, repo: &Repo, out: &mut dyn Write, args: &DagArgs) -> Result<()> {
        let doc = self.doc(repo)?;
        let heads = repo.heads(doc)?;
        let mut nodes = Vec::new();
        for entry in repo.log(doc) {
            let entry = entry?;
            nodes.push(graph::Node {
                cid: entry.cid,
                parents: entry.change.parents.clone(),
                author: entry.change.author.short(),
                summary: summary(&entry.change),
                height: entry.change.height,
            });
        }
        let text = match args.format {
            DagFormat::Dot => graph::to_dot(&nodes, &heads),
            DagFormat::Json => {
                let v = json!({
                    "doc": doc.to_string(),
                    "heads": heads.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
                    "nodes": nodes.iter().map(|n| json!({
                        "cid": n.cid.to_string(),
                        "parents": n.parents.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                        "author": n.author,
                        "height": n.height,
                        "summary": n.summary,
                    })).collect::<Vec<_>>(),
                });
                format!("{v}\n")
            }
        };
        match &args.output {
            Some(path) => {
                let path = self.resolve(path)?;
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?
            }
            None => out.write_all(text.as_bytes())?,
        }
        Ok(())
    }

    fn fsck(&self, repo: &Repo, out: &mut dyn Write) -> Result<bool> {
        let report = repo.fsck()?;
        match self.format {
            Format::Json => write_json(
                out,
                &json!({
                    "ok": report.is_ok(),
                    "n_blocks": report.n_blocks,
                    "n_changes": report.n_changes,
                    "n_docs": report.n_docs,
                    "repaired": report.repaired,
                    "problems": report.problems.iter().map(|p| json!({
                        "kind": p.kind,
                        "cid": p.cid.map(|c| c.to_string()),
                        "detail": p.detail,
                    })).collect::<Vec<_>>(),
                }),
            )?,
            Format::Human => {
                if !self.cli.quiet {
                    for r in &report.repaired {
                        writeln!(out, "repaired: {r}")?;
                    }
                }
                for p in &report.problems {
                    writeln!(out, "{p}")?;
                }
                if !self.cli.quiet || !report.is_ok() {
                    writeln!(
                        out,
                        "checked {} blocks, {} changes, {} documents: {}",
                        report.n_blocks,
                        report.n_changes,
                        report.n_docs,
                        if report.is_ok() {
                            "ok".to_string()
                        } else {
                            format!("{} problem(s)", report.problems.len())
                        }
                    )?;
                }
            }
        }
        Ok(report.is_ok())
    }
}

/// Whether stdin is a pipe or a socket (so that its EOF means "stop").
fn stdin_is_pipe() -> bool {
    #[cfg(unix)]
    {
        use std::os::{fd::AsFd as _, unix::fs::FileTypeExt as _};
        let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
            return false;
        };
        std::fs::File::from(fd).metadata().is_ok_and(|m| {
            let t = m.file_type();
            t.is_fifo() || t.is_socket()
        })
    }
    #[cfg(not(unix))]
    {
        use std::io::IsTerminal as _;
        !std::io::stdin().is_terminal()
    }
}

/// Live state or a replayed snapshot.
enum Reader<'r> {
    Live(State<'r>),
    Past(weft_dag::Snapshot),
}

impl Reader<'_> {
    fn state(&self) -> State<'_> {
        match self {
            Reader::Live(s) => s.clone(),
            Reader::Past(snap) => snap.state(),
        }
    }
}
