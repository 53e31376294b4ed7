//! `weft lab`: the convergence simulation (`weft_lab`) from the command line. Its arguments
//! ([`LabCommand`]) are in `args.rs`; here they become a [`Config`] and the results are printed.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use weft_lab::{sweep, Config, Report, Summary};

use crate::{
    args::{LabCommand, RunArgs, SweepArgs},
    out::{write_json, Output, UsageError},
};

/// `weft lab run --json`: every run's report, and the convergence times over the runs.
#[derive(Debug, Serialize)]
struct Runs<'a> {
    runs: &'a [Report],
    convergence: Summary,
    /// Runs that converged.
    converged_runs: usize,
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
pub fn run(cmd: &LabCommand, output: Output, out: &mut dyn Write) -> Result<()> {
    match cmd {
        LabCommand::Run(args) => run_runs(args, output, out),
        LabCommand::Sweep(args) => run_sweep(args, output, out),
    }
}

fn run_runs(args: &RunArgs, output: Output, out: &mut dyn Write) -> Result<()> {
    if args.runs == 0 {
        return Err(UsageError("--runs must be at least 1".into()).into());
    }
    let mut reports = Vec::new();
    for i in 0..args.runs {
        let report = weft_lab::run(&args.config(args.seed.wrapping_add(i))).map_err(lab_error)?;
        if !output.json() {
            print_report(&report, out)?;
        }
        reports.push(report);
    }
    let mut times: Vec<f64> = reports.iter().filter_map(|r| r.convergence).collect();
    let dist = weft_lab::Summary::of(&mut times);
    if output.json() {
        let v = Runs {
            runs: &reports,
            convergence: dist,
            converged_runs: times.len(),
        };
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

fn run_sweep(args: &SweepArgs, output: Output, out: &mut dyn Write) -> Result<()> {
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
    if output.json() {
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
