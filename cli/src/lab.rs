//! `weft lab`: the convergence simulation (`weft_lab`) from the command line.

use std::{io::Write, path::PathBuf, time::Duration};

use anyhow::Result;
use clap::{Args, Subcommand};
use weft_lab::{sweep, Config, Latency, Partition, Report, Topology};

use crate::{
    cmd::{write_json, UsageError},
    live::parse_duration,
};

/// `weft lab ...`
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Simulate one network (or several seeds of it) and print what it measured.
    Run(RunArgs),
    /// Sweep peers, latency, keys, and write rate against sync interval; write runs.csv and
    /// SVG charts into --out.
    Sweep(SweepArgs),
}

/// The parameters of one simulated network.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Replicas.
    #[arg(long, default_value_t = 50)]
    pub peers: usize,
    /// mesh (random gossip over all peers), ring, star (peer 0 is the server) or regular:K.
    #[arg(long, default_value = "mesh", value_parser = parse_topology)]
    pub topology: Topology,
    /// One-way latency per link: 20ms, uniform:10ms..100ms, or lognormal:50ms:0.5 (median and
    /// shape); drawn once per link.
    #[arg(long, default_value = "20ms", value_parser = parse_latency)]
    pub latency: Latency,
    /// Bytes per second per link (0: unlimited).
    #[arg(long, default_value_t = 0.0)]
    pub bandwidth: f64,
    /// Probability that a message is lost; its session then times out and aborts.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// A partition that heals: START..END (durations from the start of the run), optionally
    /// :FRACTION of the peers on one side (default 0.5), e.g. 2s..10s:0.3.
    #[arg(long, value_parser = parse_partition)]
    pub partition: Option<Partition>,
    /// How many peers write (chosen at random).
    #[arg(long, default_value_t = 5)]
    pub writers: usize,
    /// Changes per second over all writers.
    #[arg(long, default_value_t = 50.0)]
    pub write_rate: f64,
    /// Changes written in all.
    #[arg(long, default_value_t = 1_000)]
    pub changes: usize,
    /// Distinct keys the writes spread over.
    #[arg(long, default_value_t = 100)]
    pub keys: usize,
    /// How often each peer syncs with one random neighbour.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// After a local write, also sync at once with this many random neighbours (0: off).
    #[arg(long, default_value_t = 0)]
    pub push_fanout: usize,
    /// Seed of every random choice; a run is reproducible from it.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run this many seeds (seed, seed+1, ...) and report the distribution.
    #[arg(long, default_value_t = 1)]
    pub runs: u64,
    /// Give up after this much simulated time.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub max_time: Duration,
}

/// `weft lab sweep` options.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Where runs.csv and the charts go.
    #[arg(long, default_value = "lab-out")]
    pub out: PathBuf,
    /// Seeded runs per point (default: 5, or 2 with --quick).
    #[arg(long)]
    pub runs: Option<u64>,
    /// A small sweep that takes seconds, for a first look.
    #[arg(long)]
    pub quick: bool,
}

fn parse_topology(s: &str) -> Result<Topology, String> {
    s.parse()
}

fn ms(s: &str) -> Result<f64, String> {
    parse_duration(s).map(|d| d.as_secs_f64() * 1e3)
}

fn parse_latency(s: &str) -> Result<Latency, String> {
    if let Some(range) = s.strip_prefix("uniform:") {
        let (lo, hi) = range
            .split_once("..")
            .ok_or_else(|| format!("{s:?}: use uniform:LOW..HIGH"))?;
        let (lo, hi) = (ms(lo)?, ms(hi)?);
        if hi < lo {
            return Err(format!("{s:?}: the upper bound is below the lower one"));
        }
        return Ok(Latency::Uniform(lo, hi));
    }
    if let Some(rest) = s.strip_prefix("lognormal:") {
        let (median, sigma) = rest
            .split_once(':')
            .ok_or_else(|| format!("{s:?}: use lognormal:MEDIAN:SIGMA"))?;
        let sigma: f64 = sigma
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| format!("{s:?}: SIGMA must be a number >= 0"))?;
        return Ok(Latency::LogNormal {
            median: ms(median)?,
            sigma,
        });
    }
    ms(s).map(Latency::Fixed)
}

fn parse_partition(s: &str) -> Result<Partition, String> {
    let (span, fraction) = match s.rsplit_once(':') {
        Some((span, f)) => (
            span,
            f.parse::<f64>()
                .ok()
                .filter(|f| *f > 0.0 && *f < 1.0)
                .ok_or_else(|| format!("{s:?}: FRACTION must be between 0 and 1"))?,
        ),
        None => (s, 0.5),
    };
    let (start, end) = span
        .split_once("..")
        .ok_or_else(|| format!("{s:?}: use START..END[:FRACTION], e.g. 2s..10s"))?;
    let (start, end) = (ms(start)? / 1e3, ms(end)? / 1e3);
    if end <= start {
        return Err(format!("{s:?}: the partition must end after it starts"));
    }
    Ok(Partition {
        start,
        end,
        fraction,
    })
}

impl RunArgs {
    fn config(&self, seed: u64) -> Config {
        Config {
            seed,
            peers: self.peers,
            topology: self.topology,
            latency: self.latency,
            bandwidth: self.bandwidth,
            loss: self.loss,
            partition: self.partition,
            writers: self.writers,
            write_rate: self.write_rate,
            changes: self.changes,
            keys: self.keys,
            interval: self.interval.as_secs_f64(),
            push_fanout: self.push_fanout,
            max_time: self.max_time.as_secs_f64(),
            ..Config::default()
        }
    }
}

/// A bad parameter is a usage error (exit 2), named as the simulation names it.
fn lab_error(e: weft_lab::Error) -> anyhow::Error {
    match e {
        weft_lab::Error::Config(msg) => UsageError(format!("invalid lab parameters: {msg}")).into(),
        other => other.into(),
    }
}

/// Runs `weft lab`.
pub fn run(cmd: &LabCommand, json: bool, out: &mut dyn Write) -> Result<()> {
    match cmd {
        LabCommand::Run(args) => run_runs(args, json, out),
        LabCommand::Sweep(args) => run_sweep(args, json, out),
    }
}

fn run_runs(args: &RunArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    if args.runs == 0 {
        return Err(UsageError("--runs must be at least 1".into()).into());
    }
    let mut reports = Vec::new();
    for i in 0..args.runs {
        let report = weft_lab::run(&args.config(args.seed.wrapping_add(i))).map_err(lab_error)?;
        if !json {
            print_report(&report, out)?;
        }
        reports.push(report);
    }
    let mut times: Vec<f64> = reports.iter().filter_map(|r| r.convergence).collect();
    let dist = weft_lab::Summary::of(&mut times);
    if json {
        let v = serde_json::json!({
            "runs": reports,
            "convergence": dist,
            "converged_runs": times.len(),
        });
        return write_json(out, &v);
    }
    if args.runs > 1 {
        writeln!(
            out,
            "over {} runs: {} converged; convergence time min {:.3} s, median {:.3} s, p99 {:.3} s, max {:.3} s",
            reports.len(),
            times.len(),
            dist.min,
            dist.median,
            dist.p99,
            dist.max
        )?;
    }
    Ok(())
}

fn print_report(r: &Report, out: &mut dyn Write) -> Result<()> {
    let c = &r.config;
    writeln!(
        out,
        "seed {}: {} peers, {}, {} changes by {} writers at {}/s, sync every {} s",
        c.seed, c.peers, c.topology, c.changes, c.writers, c.write_rate, c.interval
    )?;
    match r.convergence {
        Some(t) => writeln!(
            out,
            "  converged {t:.3} s after the last write (at {:.3} s): every peer has identical heads",
            r.last_write
        )?,
        None => writeln!(
            out,
            "  did NOT converge within {} s of simulated time",
            c.max_time
        )?,
    }
    writeln!(
        out,
        "  write-to-arrival delay: min {:.3} s, median {:.3} s, p99 {:.3} s",
        r.delivery.min, r.delivery.median, r.delivery.p99
    )?;
    writeln!(
        out,
        "  per peer: {:.0} messages, {:.1} kB sent+received (median); {} sessions, {} failed; {} redundant blocks",
        r.messages_per_peer.median,
        r.bytes_per_peer.median / 1e3,
        r.sessions,
        r.failed_sessions,
        r.redundant_blocks
    )?;
    for (why, n) in &r.failures {
        writeln!(out, "  failed {n}x: {why}")?;
    }
    writeln!(out, "  simulated in {:.2} s", r.wall_seconds)?;
    Ok(())
}

fn run_sweep(args: &SweepArgs, json: bool, out: &mut dyn Write) -> Result<()> {
    let mut plan = if args.quick {
        sweep::Plan::quick()
    } else {
        sweep::Plan::full()
    };
    if let Some(runs) = args.runs {
        if runs == 0 {
            return Err(UsageError("--runs must be at least 1".into()).into());
        }
        plan.runs = runs;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len} runs, {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let findings = sweep::sweep(&plan, &args.out, |what, done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(what.to_string());
    })
    .map_err(lab_error)?;
    bar.finish_and_clear();
    if json {
        return write_json(out, &serde_json::to_value(&findings)?);
    }
    writeln!(
        out,
        "{} runs ({} did not converge); wrote {}",
        findings.runs,
        findings.not_converged,
        args.out.join("runs.csv").display()
    )?;
    for ((name, log), (_, lin)) in findings.log_fits.iter().zip(&findings.linear_fits) {
        writeln!(
            out,
            "  {name}: convergence ≈ {:.3} + {:.3}·log2(n) s (R² {:.3}); linear in n: R² {:.3}",
            log.a, log.b, log.r2, lin.r2
        )?;
    }
    Ok(())
}
