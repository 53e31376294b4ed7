//! Parameter sweeps: many seeded runs per point, written as CSV and drawn as SVG charts.
//!
//! Each sweep varies one parameter of a base [`Config`] and runs every point with `runs`
//! seeds; the CSV has one row per run, the charts show the median over runs with a p10..p90
//! band. [`fit_log`] and [`fit_linear`] fit the scaling laws that `docs/convergence.md` states.

use std::{fmt::Write as _, path::Path};

use serde::Serialize;

use crate::{
    plot::{self, HeatMap, LineChart, Series},
    report, sim, Config, Error, Latency, Report, Topology,
};

/// How big a sweep is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Seeded runs per point.
    pub runs: u64,
    /// Peer counts for the peers sweep.
    pub peers: Vec<usize>,
    /// Topologies for the peers sweep.
    pub topologies: Vec<Topology>,
    /// One-way latencies (ms) for the latency sweep.
    pub latencies: Vec<f64>,
    /// Key counts for the elements sweep.
    pub keys: Vec<usize>,
    /// Write rates (changes/s) for the heat map.
    pub rates: Vec<f64>,
    /// Sync intervals (s) for the heat map.
    pub intervals: Vec<f64>,
    /// The configuration every point starts from.
    pub base: Config,
}

impl Plan {
    /// The sweep behind `docs/convergence.md`.
    pub fn full() -> Plan {
        Plan {
            runs: 5,
            peers: vec![10, 20, 50, 100, 200, 500],
            topologies: vec![
                Topology::Mesh,
                Topology::Regular(4),
                Topology::Star,
                Topology::Ring,
            ],
            latencies: vec![1.0, 5.0, 20.0, 50.0, 100.0, 200.0, 500.0],
            keys: vec![1, 10, 100, 1_000, 10_000],
            rates: vec![1.0, 10.0, 100.0, 1_000.0],
            intervals: vec![0.1, 0.3, 1.0, 3.0, 10.0],
            base: Config {
                peers: 100,
                changes: 200,
                writers: 5,
                write_rate: 100.0,
                keys: 100,
                ..Config::default()
            },
        }
    }

    /// A small sweep that finishes in seconds (for tests and a first look).
    pub fn quick() -> Plan {
        Plan {
            runs: 2,
            peers: vec![5, 10, 20],
            topologies: vec![Topology::Mesh, Topology::Ring],
            latencies: vec![5.0, 50.0],
            keys: vec![1, 100],
            rates: vec![10.0, 100.0],
            intervals: vec![0.3, 1.0],
            base: Config {
                peers: 10,
                changes: 40,
                writers: 3,
                write_rate: 100.0,
                keys: 20,
                ..Config::default()
            },
        }
    }
}

/// One run's row in a CSV.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Which sweep.
    pub sweep: &'static str,
    /// The varied parameter's value (for the heat map: the write rate).
    pub x: f64,
    /// The second parameter (heat map: the interval; peers sweep: the topology).
    pub series: String,
    /// The seed.
    pub seed: u64,
    /// See [`Report`].
    pub converged: bool,
    /// Convergence time after the last write, s (NaN if it never converged).
    pub convergence: f64,
    /// Median write-to-arrival delay, s.
    pub delivery_median: f64,
    /// p99 write-to-arrival delay, s.
    pub delivery_p99: f64,
    /// Mean over time of the mean number of changes a peer lacks, while writes go on.
    pub mean_staleness: f64,
    /// Mean bytes per peer (sent + received).
    pub bytes_per_peer: f64,
    /// Mean messages per peer.
    pub messages_per_peer: f64,
    /// Bytes per peer per second of virtual time.
    pub bytes_per_peer_per_s: f64,
    /// Bytes per peer per change written: what spreading one change costs each peer.
    pub bytes_per_change: f64,
    /// Sessions that failed.
    pub failed_sessions: u64,
    /// Real seconds the run took.
    pub wall_seconds: f64,
}

impl Row {
    fn of(sweep: &'static str, x: f64, series: String, r: &Report) -> Row {
        let writing: Vec<f64> = r
            .staleness
            .iter()
            .filter(|s| s.t <= r.last_write)
            .map(|s| s.mean_missing)
            .collect();
        let span = r.staleness.last().map_or(0.0, |s| s.t).max(1e-9);
        Row {
            sweep,
            x,
            series,
            seed: r.config.seed,
            converged: r.converged,
            convergence: r.convergence.unwrap_or(f64::NAN),
            delivery_median: r.delivery.median,
            delivery_p99: r.delivery.p99,
            mean_staleness: if writing.is_empty() {
                0.0
            } else {
                writing.iter().sum::<f64>() / writing.len() as f64
            },
            bytes_per_peer: r.bytes_per_peer.mean,
            messages_per_peer: r.messages_per_peer.mean,
            bytes_per_peer_per_s: r.bytes_per_peer.mean / span,
            bytes_per_change: r.bytes_per_peer.mean / r.config.changes.max(1) as f64,
            failed_sessions: r.failed_sessions,
            wall_seconds: r.wall_seconds,
        }
    }
}

const CSV_HEADER: &str = "sweep,x,series,seed,converged,convergence_s,delivery_median_s,\
delivery_p99_s,mean_staleness,bytes_per_peer,messages_per_peer,bytes_per_peer_per_s,\
bytes_per_change,failed_sessions,wall_s";

/// Rows as CSV text, header included.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:.4},{:.4},{:.4},{:.2},{:.0},{:.1},{:.0},{:.0},{},{:.3}",
            r.sweep,
            r.x,
            r.series,
            r.seed,
            r.converged,
            r.convergence,
            r.delivery_median,
            r.delivery_p99,
            r.mean_staleness,
            r.bytes_per_peer,
            r.messages_per_peer,
            r.bytes_per_peer_per_s,
            r.bytes_per_change,
            r.failed_sessions,
            r.wall_seconds
        );
    }
    out
}

/// A least-squares fit `y = a + b * f(x)`, with its coefficient of determination.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fit {
    /// Intercept.
    pub a: f64,
    /// Slope.
    pub b: f64,
    /// R².
    pub r2: f64,
}

fn fit(points: &[(f64, f64)], f: impl Fn(f64) -> f64) -> Option<Fit> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|&(x, y)| (f(x), y))
        .collect();
    if pts.len() < 2 {
        return None;
    }
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let b = sxy / sxx;
    let a = my - b * mx;
    let ss_tot: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    let ss_res: f64 = pts.iter().map(|p| (p.1 - a - b * p.0).powi(2)).sum();
    Some(Fit {
        a,
        b,
        r2: if ss_tot == 0.0 {
            1.0
        } else {
            1.0 - ss_res / ss_tot
        },
    })
}

/// Fits `y = a + b log2(x)`.
pub fn fit_log(points: &[(f64, f64)]) -> Option<Fit> {
    fit(points, f64::log2)
}

/// Fits `y = a + b x`.
pub fn fit_linear(points: &[(f64, f64)]) -> Option<Fit> {
    fit(points, |x| x)
}

/// The quantile `q` of the finite values of `v` (sorted in place); NaN if none.
fn quantile(v: &mut Vec<f64>, q: f64) -> f64 {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    report::quantile(v, q).unwrap_or(f64::NAN)
}

/// Median and p10..p90 of `metric` per `(series, x)`, in first-seen order.
fn aggregate(rows: &[Row], sweep: &str, metric: impl Fn(&Row) -> f64) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    let mut keys: Vec<(String, Vec<f64>)> = Vec::new();
    for r in rows.iter().filter(|r| r.sweep == sweep) {
        match keys.iter_mut().find(|(s, _)| *s == r.series) {
            Some((_, xs)) if !xs.contains(&r.x) => xs.push(r.x),
            Some(_) => {}
            None => keys.push((r.series.clone(), vec![r.x])),
        }
    }
    for (name, xs) in keys {
        let mut points = Vec::new();
        let mut band = Vec::new();
        for x in xs {
            let mut v: Vec<f64> = rows
                .iter()
                .filter(|r| r.sweep == sweep && r.series == name && r.x == x)
                .map(&metric)
                .collect();
            let med = quantile(&mut v, 0.5);
            if med.is_finite() {
                points.push((x, med));
                band.push((quantile(&mut v, 0.1), quantile(&mut v, 0.9)));
            }
        }
        out.push(Series {
            name,
            points,
            band: Some(band),
        });
    }
    out
}

/// What a sweep found, for the summary and the docs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Findings {
    /// Per topology of the peers sweep: the log2 fit of the median convergence time.
    pub log_fits: Vec<(String, Fit)>,
    /// The same data fitted linearly in n.
    pub linear_fits: Vec<(String, Fit)>,
    /// Runs in all.
    pub runs: usize,
    /// Runs that did not converge before `max_time`.
    pub not_converged: usize,
}

/// Runs `plan`, writing `runs.csv` and the charts into `out`. `progress` hears each run.
pub fn sweep(
    plan: &Plan,
    out: &Path,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<Findings, Error> {
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let mut jobs: Vec<(&'static str, f64, String, Config)> = Vec::new();
    for &t in &plan.topologies {
        for &n in &plan.peers {
            // A ring needs about n/2 rounds; past 100 peers it says nothing new and costs much.
            if t == Topology::Ring && n > 100 {
                continue;
            }
            if let Topology::Regular(k) = t {
                if k >= n {
                    continue;
                }
            }
            let c = Config {
                peers: n,
                topology: t,
                writers: plan.base.writers.min(n),
                ..plan.base.clone()
            };
            jobs.push(("peers", n as f64, t.to_string(), c));
        }
    }
    for &ms in &plan.latencies {
        let c = Config {
            latency: Latency::Fixed(ms),
            ..plan.base.clone()
        };
        jobs.push(("latency", ms, "mesh".into(), c));
    }
    for &k in &plan.keys {
        let c = Config {
            keys: k,
            ..plan.base.clone()
        };
        jobs.push(("elements", k as f64, "mesh".into(), c));
    }
    let heat_base = Config {
        peers: plan.base.peers.min(50),
        ..plan.base.clone()
    };
    for &rate in &plan.rates {
        for &interval in &plan.intervals {
            // Enough changes for a steady state: at least 10 s of writes, at most 1,000.
            let changes = ((rate * 10.0) as usize).clamp(20, 1_000);
            let c = Config {
                write_rate: rate,
                interval,
                changes,
                ..heat_base.clone()
            };
            jobs.push(("rate_interval", rate, format!("{interval}"), c));
        }
    }
    let total = jobs.len() * plan.runs as usize;
    let mut rows = Vec::with_capacity(total);
    let mut done = 0;
    for (sweep, x, series, c) in jobs {
        for seed in 1..=plan.runs {
            let cfg = Config {
                seed: c.seed.wrapping_add(seed),
                ..c.clone()
            };
            let report = sim::run(&cfg)?;
            rows.push(Row::of(sweep, x, series.clone(), &report));
            done += 1;
            progress(sweep, done, total);
        }
    }
    let path = out.join("runs.csv");
    std::fs::write(&path, csv(&rows)).map_err(|e| io(&path, e))?;
    staleness(plan, out)?;
    draw(plan, &rows, out)
}

/// Staleness over time for one seed of three ways to spread changes: gossip on a mesh, gossip
/// plus an immediate push to two neighbours, and a ring.
fn staleness(plan: &Plan, out: &Path) -> Result<(), Error> {
    let base = Config {
        sample_every: 0.1,
        ..plan.base.clone()
    };
    let mut series = Vec::new();
    for (name, cfg) in [
        ("mesh gossip", base.clone()),
        (
            "mesh gossip + push to 2",
            Config {
                push_fanout: 2,
                ..base.clone()
            },
        ),
        (
            "ring",
            Config {
                topology: Topology::Ring,
                ..base.clone()
            },
        ),
    ] {
        let r = sim::run(&cfg)?;
        series.push(Series {
            name: name.into(),
            points: r.staleness.iter().map(|s| (s.t, s.mean_missing)).collect(),
            band: None,
        });
    }
    chart(
        out,
        "staleness.svg",
        &LineChart {
            title: "Staleness over time: changes written but not yet held, mean over peers",
            x_label: "time (s)",
            y_label: "changes missing per peer (mean)",
            log_x: false,
            log_y: false,
            series: &series,
            reference: None,
        },
    )
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn draw(plan: &Plan, rows: &[Row], out: &Path) -> Result<Findings, Error> {
    let conv = |r: &Row| r.convergence;
    let peers = aggregate(rows, "peers", conv);
    let mut log_fits = Vec::new();
    let mut linear_fits = Vec::new();
    for s in &peers {
        if let Some(f) = fit_log(&s.points) {
            log_fits.push((s.name.clone(), f));
        }
        if let Some(f) = fit_linear(&s.points) {
            linear_fits.push((s.name.clone(), f));
        }
    }
    let reference = log_fits.iter().find(|(n, _)| n == "mesh").map(|(_, f)| {
        let xs: Vec<f64> = plan.peers.iter().map(|&n| n as f64).collect();
        Series {
            name: format!("{:.2} + {:.2}·log2(n)", f.a, f.b),
            points: xs.iter().map(|&x| (x, f.a + f.b * x.log2())).collect(),
            band: None,
        }
    });
    chart(
        out,
        "peers.svg",
        &LineChart {
            title: "Convergence time vs number of peers",
            x_label: "peers",
            y_label: "seconds from the last write until all heads agree",
            log_x: true,
            log_y: true,
            series: &peers,
            reference: reference.as_ref(),
        },
    )?;
    let latency = aggregate(rows, "latency", conv);
    chart(
        out,
        "latency.svg",
        &LineChart {
            title: "Convergence time vs link latency (mesh gossip)",
            x_label: "one-way latency (ms)",
            y_label: "convergence time (s)",
            log_x: true,
            log_y: false,
            series: &latency,
            reference: None,
        },
    )?;
    let elements = aggregate(rows, "elements", conv);
    chart(
        out,
        "elements.svg",
        &LineChart {
            title: "Convergence time vs number of keys written",
            x_label: "distinct keys",
            y_label: "convergence time (s)",
            log_x: true,
            log_y: false,
            series: &elements,
            reference: None,
        },
    )?;
    heat(plan, rows, out)?;
    Ok(Findings {
        log_fits,
        linear_fits,
        runs: rows.len(),
        not_converged: rows.iter().filter(|r| !r.converged).count(),
    })
}

fn chart(out: &Path, name: &str, c: &LineChart<'_>) -> Result<(), Error> {
    Ok(plot::line_chart(&out.join(name), c)?)
}

fn heat(plan: &Plan, rows: &[Row], out: &Path) -> Result<(), Error> {
    let cell = |rate: f64, interval: f64, metric: &dyn Fn(&Row) -> f64| {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|r| {
                r.sweep == "rate_interval" && r.x == rate && r.series == format!("{interval}")
            })
            .map(metric)
            .collect();
        let q = quantile(&mut v, 0.5);
        q.is_finite().then_some(q)
    };
    let grid = |metric: &dyn Fn(&Row) -> f64| -> Vec<Vec<Option<f64>>> {
        plan.intervals
            .iter()
            .map(|&i| plan.rates.iter().map(|&r| cell(r, i, metric)).collect())
            .collect()
    };
    let delay = grid(&|r| r.delivery_median);
    let bytes = grid(&|r| r.bytes_per_change);
    let label = |g: &Vec<Vec<Option<f64>>>, f: &dyn Fn(f64) -> String| {
        g.iter()
            .map(|row| row.iter().map(|v| v.map(f)).collect())
            .collect::<Vec<Vec<Option<String>>>>()
    };
    let bytes_text = label(&bytes, &human_bytes);
    let delay_text = label(&delay, &|s| format!("{s:.2} s"));
    for (name, title, values, value_label, text) in [
        (
            "rate_interval_delay.svg",
            "Write rate vs sync interval: median delay until a change reaches a peer",
            &delay,
            "median delivery delay (s)",
            &bytes_text,
        ),
        (
            "rate_interval_bytes.svg",
            "Write rate vs sync interval: bytes each peer moves per change written",
            &bytes,
            "bytes per peer per change",
            &delay_text,
        ),
    ] {
        plot::heat_map(
            &out.join(name),
            &HeatMap {
                title,
                x_label: "write rate (changes/s, all writers)",
                y_label: "sync interval (s)",
                xs: &plan.rates,
                ys: &plan.intervals,
                values,
                value_label,
                annotations: Some(text),
                log_color: true,
            },
        )?;
    }
    Ok(())
}

fn human_bytes(b: f64) -> String {
    if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_recover_known_laws() {
        let pts: Vec<(f64, f64)> = [10.0, 20.0, 50.0, 100.0, 500.0]
            .iter()
            .map(|&n: &f64| (n, 0.5 + 1.5 * n.log2()))
            .collect();
        let f = fit_log(&pts).unwrap();
        assert!((f.a - 0.5).abs() < 1e-9 && (f.b - 1.5).abs() < 1e-9);
        assert!(f.r2 > 0.999_999);
        let lin = fit_linear(&pts).unwrap();
        assert!(lin.r2 < f.r2);
        assert!(fit_log(&[(1.0, 1.0)]).is_none());
    }

    #[test]
    fn quick_sweep_writes_csv_and_charts() {
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan {
            runs: 1,
            peers: vec![4, 8],
            topologies: vec![Topology::Mesh],
            latencies: vec![5.0],
            keys: vec![10],
            rates: vec![50.0],
            intervals: vec![0.5],
            base: Config {
                peers: 6,
                changes: 10,
                writers: 2,
                ..Config::default()
            },
        };
        let mut seen = 0;
        let f = sweep(&plan, dir.path(), |_, done, _| seen = done).unwrap();
        assert_eq!(f.runs, 5);
        assert_eq!(seen, 5);
        assert_eq!(f.not_converged, 0);
        let text = std::fs::read_to_string(dir.path().join("runs.csv")).unwrap();
        assert_eq!(text.lines().count(), 6);
        assert!(text.starts_with("sweep,x,series,seed,converged"));
        for name in [
            "staleness.svg",
            "peers.svg",
            "latency.svg",
            "elements.svg",
            "rate_interval_delay.svg",
            "rate_interval_bytes.svg",
        ] {
            let svg = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(svg.starts_with("<svg"), "{name}");
        }
    }
}
