//! `weft lab`: the simulation through the real binary.

use crate::util::Dir;

#[test]
fn a_run_is_reproducible_and_reports_convergence() {
    let d = Dir::new();
    let args = [
        "--json",
        "lab",
        "run",
        "--peers",
        "12",
        "--changes",
        "60",
        "--writers",
        "3",
        "--topology",
        "regular:3",
        "--latency",
        "uniform:5ms..50ms",
        "--loss",
        "0.05",
        "--partition",
        "500ms..2s:0.25",
        "--runs",
        "2",
    ];
    let strip = |mut v: serde_json::Value| {
        for r in v["runs"].as_array_mut().unwrap() {
            r["wall_seconds"] = serde_json::Value::Null;
        }
        v
    };
    let a = strip(d.json(&args));
    let b = strip(d.json(&args));
    assert_eq!(a, b, "the same seeds give the same runs");
    assert_eq!(a["converged_runs"], 2);
    let run = &a["runs"][0];
    assert_eq!(run["converged"], true);
    assert_eq!(run["config"]["peers"], 12);
    assert!(run["convergence"].as_f64().unwrap() >= 0.0);
    assert!(run["bytes_per_peer"]["median"].as_f64().unwrap() > 0.0);
    let text = d.ok(&["lab", "run", "--peers", "5", "--changes", "10"]);
    assert!(text.contains("every peer has identical heads"), "{text}");
}

#[test]
fn a_quick_sweep_writes_csv_and_charts() {
    let d = Dir::new();
    let out = d.join("sweep");
    let text = d.ok(&[
        "lab",
        "sweep",
        "--quick",
        "--runs",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(text.contains("runs (0 did not converge)"), "{text}");
    let csv = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert!(csv.lines().count() > 10);
    for chart in [
        "peers.svg",
        "latency.svg",
        "elements.svg",
        "rate_interval_delay.svg",
    ] {
        let svg = std::fs::read_to_string(out.join(chart)).unwrap();
        assert!(svg.starts_with("<svg"), "{chart}");
    }
}

#[test]
fn bad_lab_parameters_are_usage_errors() {
    let d = Dir::new();
    for (args, says) in [
        (vec!["lab", "run", "--peers", "1"], "at least 2 peers"),
        (vec!["lab", "run", "--writers", "0"], "writers"),
        (vec!["lab", "run", "--loss", "1"], "loss"),
        (vec!["lab", "run", "--topology", "cube"], "unknown topology"),
        (vec!["lab", "run", "--latency", "fast"], "--latency"),
        (
            vec!["lab", "run", "--partition", "5s..1s"],
            "end after it starts",
        ),
        (vec!["lab", "run", "--interval", "0s"], "interval"),
        (vec!["lab", "run", "--runs", "0"], "--runs"),
    ] {
        let err = d.fails(2, &args);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
    }
}
