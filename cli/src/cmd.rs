//! The dispatch: [`Ctx::check_args`], [`Ctx::run`] (a command on an open repo) and
//! [`Ctx::run_standalone`] (one that needs none). Each command family has its module (`read`,
//! `write`, `history`, `repo`, `serve`, `batch`, `demo`, `lab`, the sync commands in `net`,
//! `status` and `convergence` in `live`, `invite` and `join` in `invite`): a function over `out` and an [`Output`] that prints and
//! returns a typed outcome, whose serialization is the command's `--json` output. None prints on
//! its own; errors go back to `main` to become one line and an exit code.

use std::{io::Write, path::PathBuf};

use anyhow::{Context as _, Result};
use weft_dag::{DocId, Repo, Role, Transaction, WEFT_DIR};
use weft_sync::Direction;

use crate::{
    args::{
        BlockCommand, BundleCommand, Command, DocCommand, InviteArgs, InviteCommand, KeyCommand,
        ListCommand, MemberCommand, RemoteCommand, SyncArgs, TextCommand,
    },
    ctx::Ctx,
    fix, history, invite, net,
    out::usage,
    parse, people, read, repo, rev,
    seq::{self, SeqWrite},
    write,
};

impl Ctx<'_> {
    fn doc(&self, repo: &Repo) -> Result<DocId> {
        Ok(repo.doc(self.cli.doc.as_deref().unwrap_or(weft_dag::DEFAULT_DOC))?)
    }

    /// Checks the arguments that parse without a repo (CIDs, values), so that bad usage is
    /// reported as such (exit 2) before the repo is looked for, opened or asked for.
    pub fn check_args(&self) -> Result<()> {
        match &self.cli.command {
            Command::Show { cid } => rev::check_one(cid),
            Command::Ui(args) => crate::ui::listen_addr(args).map(drop),
            Command::Invite(InviteArgs {
                command: None,
                expires,
                ..
            }) => invite::check_expires(expires).map(drop),
            Command::Revert { cid } | Command::Resolve { take: cid, .. } => rev::check_cid(cid),
            Command::Diff { from, to } => from.iter().chain(to).try_for_each(|r| rev::check(r)),
            Command::Block(BlockCommand::Get { cid } | BlockCommand::Stat { cid }) => {
                rev::check_cid(cid)
            }
            Command::Get { at, .. }
            | Command::Ls { at, .. }
            | Command::Blame { at, .. }
            | Command::List(ListCommand::Ls { at, .. }) => {
                at.iter().try_for_each(|r| rev::check(r))
            }
            Command::Bundle(BundleCommand::Create { since, .. }) => {
                since.iter().try_for_each(|c| rev::check_cid(c))
            }
            Command::Set { value, .. } => parse::value(value).map(drop),
            Command::Sadd { members, .. } | Command::Srem { members, .. } => {
                parse::values(members).map(drop)
            }
            Command::List(cmd) => SeqWrite::from_list(cmd, None).map(drop),
            Command::Text(TextCommand::Apply { base, .. }) => {
                base.iter().try_for_each(|c| parse::cid(c).map(drop))
            }
            _ => Ok(()),
        }
    }

    /// Runs a command that needs no open repo (`init`, `demo`, `lab`, `clone`).
    pub fn run_standalone(&self, out: &mut dyn Write) -> Result<bool> {
        match &self.cli.command {
            Command::Init { dir } => {
                let start = self.start_dir()?;
                let root = match dir {
                    Some(d) => start.join(d),
                    None => start,
                };
                repo::init(
                    &root,
                    self.options()?,
                    self.identity_path().as_deref(),
                    out,
                    self.output(),
                )
                .map(drop)?
            }
            Command::Demo => crate::demo::run(out)?,
            Command::Key(KeyCommand::New { file }) => {
                people::key_new(&self.resolve(file)?, out, self.output()).map(drop)?
            }
            Command::Id { key: Some(file) } => {
                let identity = weft_dag::Identity::load(&self.resolve(file)?)?;
                read::author_id(identity.author(), out, self.output()).map(drop)?
            }
            Command::Lab(lab) => crate::lab::run(lab, self.output(), out)?,
            Command::Clone { url, dir, net } => net::clone(
                net::CloneCall {
                    url,
                    dir: dir.as_deref(),
                    start: &self.start_dir()?,
                    options: self.options()?,
                    identity_path: self.identity_path(),
                    docs: self.cli.doc.clone().map(|d| vec![d]),
                    net,
                    output: self.output(),
                },
                out,
            )?,
            Command::Join { ticket, dir, net } => invite::join(
                invite::JoinCall {
                    ticket,
                    dir: dir.as_deref(),
                    start: &self.start_dir()?,
                    options: self.options()?,
                    identity_path: self.identity_path(),
                    net,
                    output: self.output(),
                },
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
        let o = self.output();
        match &self.cli.command {
            Command::Init { .. } | Command::Demo | Command::Lab(_) | Command::Serve(_) => {
                Err(usage(format!(
                    "`weft {}` cannot run in the weft process that holds the repo",
                    self.cli.command.name()
                )))
            }
            Command::Id { key: None } => read::id(repo, out, o).map(drop),
            Command::Id { key: Some(_) } | Command::Key(_) => Err(usage(format!(
                "`weft {}` needs no repo",
                self.cli.command.name()
            ))),
            Command::Member(MemberCommand::Name { key, name }) => {
                people::name(repo, self.doc(repo)?, key, name, out, o).map(drop)
            }
            Command::Doc(DocCommand::New { name }) => write::doc_new(repo, name, out, o).map(drop),
            Command::Doc(DocCommand::Ls) => read::docs(repo, out, o).map(drop),
            Command::Doc(DocCommand::Rm { doc }) => write::doc_rm(repo, doc, out, o).map(drop),
            Command::Doc(DocCommand::Name { doc, name }) => {
                write::doc_name(repo, doc, name, out, o).map(drop)
            }
            Command::Set { key, value } => {
                let value = parse::value(value)?;
                let f = |tx: &mut Transaction<'_>| -> Result<()> {
                    tx.set(key, value)?;
                    Ok(())
                };
                write::write(repo, self.doc(repo)?, key, f, out, o).map(drop)
            }
            Command::Rm { key, rows: true } => {
                write::rm_rows(repo, self.doc(repo)?, key, out, o).map(drop)
            }
            Command::Rm { key, rows: false } => {
                let f = |tx: &mut Transaction<'_>| -> Result<()> {
                    tx.del(key)?;
                    Ok(())
                };
                write::write(repo, self.doc(repo)?, key, f, out, o).map(drop)
            }
            Command::Incr { key, delta } => {
                let f = |tx: &mut Transaction<'_>| -> Result<()> {
                    tx.incr(key, *delta)?;
                    Ok(())
                };
                write::write(repo, self.doc(repo)?, key, f, out, o).map(drop)
            }
            Command::Sadd { key, members } => {
                let members = parse::values(members)?;
                let f = |tx: &mut Transaction<'_>| -> Result<()> {
                    for m in members {
                        tx.add(key, m)?;
                    }
                    Ok(())
                };
                write::write(repo, self.doc(repo)?, key, f, out, o).map(drop)
            }
            Command::Srem { key, members } => {
                let members = parse::values(members)?;
                let f = |tx: &mut Transaction<'_>| -> Result<()> {
                    for m in members {
                        tx.remove(key, m)?;
                    }
                    Ok(())
                };
                write::write(repo, self.doc(repo)?, key, f, out, o).map(drop)
            }
            Command::List(ListCommand::Ls { key, at }) => {
                let doc = self.doc(repo)?;
                let at = rev::points(repo, doc, at)?;
                seq::ls(repo, doc, key, at, out, o).map(drop)
            }
            Command::List(cmd) => match SeqWrite::from_list(cmd, Some(repo))? {
                Some(w) => seq::write(repo, self.doc(repo)?, &w, out, o).map(drop),
                None => Ok(()),
            },
            Command::Text(TextCommand::Show { key }) => {
                seq::show(repo, self.doc(repo)?, key, out, o).map(drop)
            }
            Command::Text(TextCommand::Apply {
                key,
                old,
                new,
                base,
            }) => {
                let base = base
                    .iter()
                    .map(|c| parse::cid(c))
                    .collect::<Result<Vec<_>>>()?;
                let files = (self.resolve(old)?, self.resolve(new)?);
                seq::apply(
                    repo,
                    self.doc(repo)?,
                    key,
                    (&files.0, &files.1),
                    &base,
                    out,
                    o,
                )
                .map(drop)
            }
            Command::Text(TextCommand::Edit { .. }) => Err(usage(
                "`weft text edit` cannot run in the weft process that holds the repo".to_string(),
            )),
            Command::Text(cmd) => match SeqWrite::from_text(cmd) {
                Some(w) => seq::write(repo, self.doc(repo)?, &w, out, o).map(drop),
                None => Ok(()),
            },
            Command::Undo => write::undo(repo, self.doc(repo)?, false, out, o).map(drop),
            Command::Redo => write::undo(repo, self.doc(repo)?, true, out, o).map(drop),
            Command::Get {
                key,
                rows: true,
                at,
                ..
            } => {
                let doc = self.doc(repo)?;
                let at = rev::points(repo, doc, at)?;
                read::rows(repo, doc, key, at, out, o).map(drop)
            }
            Command::Get { key, all, at, .. } => {
                let doc = self.doc(repo)?;
                let at = rev::points(repo, doc, at)?;
                let got = read::get(repo, doc, key, *all, at, out, o)?;
                if !o.json() {
                    got.conflict_note().into_iter().for_each(|n| self.note(n));
                }
                Ok(())
            }
            Command::Ls { prefix, at } => {
                let doc = self.doc(repo)?;
                let at = rev::points(repo, doc, at)?;
                let prefix = prefix.as_deref().unwrap_or("");
                read::ls(repo, doc, prefix, at, out, o).map(drop)
            }
            Command::Log(args) => {
                history::log(repo, self.doc(repo)?, args, out, self.format).map(drop)
            }
            Command::Show { cid } => {
                let cid = if rev::looks_like_cid(cid) && !cid.contains('~') {
                    rev::cid(repo, cid)?
                } else {
                    rev::single(repo, self.doc(repo)?, cid)?
                };
                history::show(repo, &cid, out, o).map(drop)
            }
            Command::Heads => read::heads(repo, self.doc(repo)?, out, o).map(drop),
            Command::Diff { from, to } => {
                let doc = self.doc(repo)?;
                let from = match from {
                    Some(r) => rev::point(repo, doc, r)?,
                    None if weft_live::status::remote(repo, net::ORIGIN)?.is_none() => {
                        return Err(usage(
                            "no sync with origin is recorded: give the point to compare, as in \
                             `weft diff @~3`",
                        ))
                    }
                    None => rev::remote_heads(repo, doc, net::ORIGIN)?,
                };
                let to = match to {
                    Some(r) => rev::point(repo, doc, r)?,
                    None => repo.heads(doc)?,
                };
                fix::diff(repo, doc, &from, &to, out, o).map(drop)
            }
            Command::Revert { cid } => {
                let cid = rev::cid(repo, cid)?;
                fix::revert(repo, self.doc(repo)?, &cid, out, o).map(drop)
            }
            Command::Resolve { key, take } => {
                let take = rev::cid(repo, take)?;
                fix::resolve(repo, self.doc(repo)?, key, &take, out, o).map(drop)
            }
            Command::Blame { key, at } => {
                let doc = self.doc(repo)?;
                let at = rev::points(repo, doc, at)?;
                history::blame(repo, doc, key, at.as_deref(), out, o).map(drop)
            }
            Command::Dag(args) => {
                let file = match &args.output {
                    Some(path) => Some(self.resolve(path)?),
                    None => None,
                };
                history::dag(repo, self.doc(repo)?, args.format, file.as_deref(), out)
            }
            Command::Block(BlockCommand::Get { cid }) => {
                read::block_get(repo, &rev::cid(repo, cid)?, out)
            }
            Command::Block(BlockCommand::Stat { cid }) => {
                read::block_stat(repo, &rev::cid(repo, cid)?, out, o).map(drop)
            }
            Command::Fsck => return Ok(repo::fsck(repo, out, o)?.ok),
            Command::Grant { key, role } => {
                let who = people::key(
                    repo,
                    &people::Names::load(repo)?,
                    Some(self.doc(repo)?),
                    key,
                )?;
                let role: Role = role.parse().map_err(usage)?;
                let f = |tx: &mut Transaction<'_>| -> Result<()> {
                    tx.grant(who, role)?;
                    Ok(())
                };
                write::membership(repo, self.doc(repo)?, f, out, o).map(drop)
            }
            Command::Revoke { key } => {
                let who = people::key(
                    repo,
                    &people::Names::load(repo)?,
                    Some(self.doc(repo)?),
                    key,
                )?;
                let f = |tx: &mut Transaction<'_>| -> Result<()> {
                    tx.revoke(who)?;
                    Ok(())
                };
                write::membership(repo, self.doc(repo)?, f, out, o).map(drop)
            }
            Command::Members => read::members(repo, self.doc(repo)?, out, o).map(drop),
            Command::Watch(args) => self.watch(repo, out, args),
            Command::Clone { .. } | Command::Join { .. } => Err(usage(format!(
                "`weft {}` cannot run in the weft process that holds the repo",
                self.cli.command.name()
            ))),
            Command::Invite(args) => match &args.command {
                None => {
                    let root = self.repo_root(repo)?;
                    let identity = net::client_identity(
                        self.signing_identity(&root)?.as_ref(),
                        &root.join(WEFT_DIR),
                    )?;
                    let docs = if args.all {
                        let me = repo.author();
                        let mut docs = Vec::new();
                        for doc in repo.doc_ids()? {
                            if repo.role(doc, &me)?.is_some_and(|r| r >= Role::Admin) {
                                docs.push(doc);
                            }
                        }
                        if docs.is_empty() {
                            return Err(usage("this key administers no document"));
                        }
                        docs
                    } else {
                        vec![self.doc(repo)?]
                    };
                    let call = invite::InviteCall {
                        role: args.role.clone(),
                        expires: args.expires.clone(),
                        uses: args.uses,
                        docs,
                        addrs: args.addr.clone(),
                        identity,
                    };
                    invite::create(repo, call, o, out)
                }
                Some(InviteCommand::Ls { all }) => invite::ls(repo, *all, o, out),
                Some(InviteCommand::Revoke { id }) => invite::revoke(repo, id, o, out),
            },
            Command::Remote(cmd) => {
                net::remote(&self.weft_dir(repo)?, cmd, o, out)?;
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
            Command::Ui(args) => crate::ui::run(self, repo, args, out),
            Command::Status => {
                crate::live::status(repo, &self.weft_dir(repo)?, self.only_doc(repo)?, o, out)
            }
            Command::Convergence { n } => {
                crate::live::convergence(repo, self.only_doc(repo)?, *n, o, out)
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
        Ok(self.repo_root(repo)?.join(WEFT_DIR))
    }

    pub(crate) fn repo_root(&self, repo: &Repo) -> Result<PathBuf> {
        Ok(repo
            .root()
            .context("internal error: the repo is not on disk")?
            .to_path_buf())
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
            output: self.output(),
            identity: self.signing_identity(&self.repo_root(repo)?)?,
        };
        let notes = net::sync(repo, &self.weft_dir(repo)?, &self.start_dir()?, &call, out)?;
        notes.into_iter().for_each(|n| self.note(n));
        Ok(())
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
                    .map(|c| rev::cid(repo, c))
                    .collect::<Result<Vec<_>>>()?;
                net::bundle_create(
                    repo,
                    &docs,
                    &since,
                    &self.resolve(file)?,
                    self.output(),
                    out,
                )
            }
            BundleCommand::Apply { file } => {
                net::bundle_apply(repo, &self.resolve(file)?, self.output(), out)
            }
        }
    }
}
