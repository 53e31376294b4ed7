//! Unit tests of the charts: rendering, bad input, extreme values, ticks and numbers.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::{chart::compact, line_chart::log_ticks};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn assert_svg(svg: &str) {
    assert!(
        svg.trim_start().starts_with("<svg"),
        "not an SVG: {svg:.80}"
    );
    assert!(svg.trim_end().ends_with("</svg>"));
}

fn sweep(name: &str, scale: f64) -> Series {
    let points: Vec<(f64, f64)> = [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]
        .iter()
        .map(|&n: &f64| (n, scale * n.log2() + 0.3))
        .collect();
    let band = points.iter().map(|&(_, y)| (y * 0.8, y * 1.3)).collect();
    Series {
        name: name.to_owned(),
        points,
        band: Some(band),
    }
}

#[test]
fn compact_numbers() {
    let cases = [
        (0.05, "0.05"),
        (1.0, "1"),
        (20.0, "20"),
        (1000.0, "1k"),
        (10_000.0, "10k"),
        (1500.0, "1.5k"),
        (999.9, "1k"),
        (2_000_000.0, "2M"),
        (0.0, "0"),
        (-0.25, "-0.25"),
        (0.30000000000000004, "0.3"),
        (1.23456, "1.23"),
        (0.000_012, "1.2e-5"),
    ];
    for (v, want) in cases {
        assert_eq!(compact(v, 3), want, "{v}");
    }
    assert_eq!(compact(1002.0, 4), "1.002k");
    assert_eq!(compact(f64::NAN, 3), "NaN");
}

#[test]
fn log_ticks_cover_short_ranges() {
    assert_eq!(
        log_ticks(1.0, 1000.0, 5, false),
        vec![1.0, 10.0, 100.0, 1000.0]
    );
    assert_eq!(
        log_ticks(2.0, 1100.0, 10, false),
        vec![2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
    );
    // less than a decade still gets ticks
    assert_eq!(
        log_ticks(2.0, 9.0, 10, false),
        vec![2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    );
    assert!(log_ticks(1e-10, 1e10, 5, false).len() <= 5);
    assert!(log_ticks(0.0, 1.0, 5, false).is_empty());
}

#[test]
fn line_chart_renders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lines.svg");
    let series = [sweep("loss 0%", 1.0), sweep("loss 5%", 1.6)];
    let reference = Series {
        name: "c·log2(n)".to_owned(),
        points: (1..=7)
            .map(|k| (2f64.powi(k), 1.2 * f64::from(k)))
            .collect(),
        band: None,
    };
    let chart = LineChart {
        title: "Convergence vs replicas",
        x_label: "replicas",
        y_label: "convergence time (s)",
        log_x: true,
        log_y: false,
        series: &series,
        reference: Some(&reference),
    };
    line_chart(&path, &chart).unwrap();
    let svg = read(&path);
    assert_svg(&svg);
    for needle in [
        "Convergence vs replicas",
        "replicas",
        "convergence time (s)",
        "loss 0%",
        "loss 5%",
        "c·log2(n)",
        "<text",
    ] {
        assert!(svg.contains(needle), "missing {needle:?}");
    }
}

#[test]
fn line_chart_log_log_skips_non_positive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loglog.svg");
    let series = [Series {
        name: "only".to_owned(),
        points: vec![
            (0.0, 1.0),
            (1.0, 0.0),
            (-1.0, 5.0),
            (10.0, 3.0),
            (100.0, 30.0),
        ],
        band: Some(vec![(0.5, 1.0); 5]),
    }];
    let chart = LineChart {
        title: "log-log",
        x_label: "x",
        y_label: "y",
        log_x: true,
        log_y: true,
        series: &series,
        reference: None,
    };
    line_chart(&path, &chart).unwrap();
    let svg = read(&path);
    assert_svg(&svg);
    assert!(svg.contains("log-log"));
    // a single series gets no legend
    assert!(!svg.contains(">\nonly\n<") && !svg.contains(">only<"));
}

#[test]
fn line_chart_rejects_empty_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.svg");
    let base = LineChart {
        title: "empty",
        x_label: "x",
        y_label: "y",
        log_x: false,
        log_y: false,
        series: &[],
        reference: None,
    };
    assert!(matches!(line_chart(&path, &base), Err(PlotError::Empty(_))));

    let no_points = [Series::default()];
    let chart = LineChart {
        series: &no_points,
        ..base
    };
    assert!(matches!(
        line_chart(&path, &chart),
        Err(PlotError::Empty(_))
    ));

    // nothing positive on a log axis
    let negative = [Series {
        name: "neg".to_owned(),
        points: vec![(1.0, -1.0), (2.0, 0.0)],
        band: None,
    }];
    let chart = LineChart {
        series: &negative,
        log_y: true,
        ..base
    };
    assert!(matches!(
        line_chart(&path, &chart),
        Err(PlotError::Empty(_))
    ));

    let bad_band = [Series {
        name: "bad".to_owned(),
        points: vec![(1.0, 1.0), (2.0, 2.0)],
        band: Some(vec![(0.0, 1.0)]),
    }];
    let chart = LineChart {
        series: &bad_band,
        ..base
    };
    assert!(matches!(
        line_chart(&path, &chart),
        Err(PlotError::Invalid(_))
    ));
    assert!(!path.exists());
}

#[test]
fn write_errors_are_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("x.svg");
    let series = [sweep("s", 1.0)];
    let chart = LineChart {
        title: "t",
        x_label: "x",
        y_label: "y",
        log_x: false,
        log_y: false,
        series: &series,
        reference: None,
    };
    assert!(matches!(
        line_chart(&path, &chart),
        Err(PlotError::Io { .. })
    ));
}

type Grid = Vec<Vec<Option<f64>>>;
type Annotations = Vec<Vec<Option<String>>>;

/// xs (loss), ys (replicas), values, annotations; two cells without data.
fn grid() -> (Vec<f64>, Vec<f64>, Grid, Annotations) {
    let xs = vec![0.0, 0.01, 0.05, 0.1, 0.2];
    let ys = vec![4.0, 16.0, 64.0, 256.0, 1000.0, 10_000.0];
    let values: Grid = ys
        .iter()
        .map(|&n: &f64| {
            xs.iter()
                .map(|&loss| {
                    if loss >= 0.2 && n >= 1000.0 {
                        None
                    } else {
                        Some(n.log2() * (1.0 + 10.0 * loss) * 0.1)
                    }
                })
                .collect()
        })
        .collect();
    let annotations = values
        .iter()
        .map(|row| row.iter().map(|v| v.map(|v| format!("{v:.1} s"))).collect())
        .collect();
    (xs, ys, values, annotations)
}

#[test]
fn heat_map_renders() {
    let dir = tempfile::tempdir().unwrap();
    let (xs, ys, values, annotations) = grid();
    for log_color in [false, true] {
        let path = dir.path().join(format!("heat-{log_color}.svg"));
        let map = HeatMap {
            title: "Convergence time by loss and size",
            x_label: "packet loss",
            y_label: "replicas",
            xs: &xs,
            ys: &ys,
            values: &values,
            value_label: "convergence time (s)",
            annotations: Some(&annotations),
            log_color,
        };
        heat_map(&path, &map).unwrap();
        let svg = read(&path);
        assert_svg(&svg);
        for needle in [
            "Convergence time by loss and size",
            "packet loss",
            "replicas",
            "convergence time (s)",
            "0.05",
            "1k",
            "10k",
            "no data",
            "0.2 s",
        ] {
            assert!(svg.contains(needle), "missing {needle:?}");
        }
    }
}

#[test]
fn heat_map_handles_degenerate_grids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("degenerate.svg");
    // every cell missing, and a log scale with nothing positive: still a picture
    let all_missing = vec![vec![None, None]];
    let map = HeatMap {
        title: "nothing converged",
        x_label: "x",
        y_label: "y",
        xs: &[1.0, 2.0],
        ys: &[1.0],
        values: &all_missing,
        value_label: "v",
        annotations: None,
        log_color: true,
    };
    heat_map(&path, &map).unwrap();
    assert_svg(&read(&path));
    let zeros = vec![vec![Some(0.0), Some(-1.0)]];
    heat_map(
        &path,
        &HeatMap {
            values: &zeros,
            ..map
        },
    )
    .unwrap();
    assert_svg(&read(&path));
}

#[test]
fn heat_map_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.svg");
    let map = HeatMap {
        title: "bad",
        x_label: "x",
        y_label: "y",
        xs: &[],
        ys: &[],
        values: &[],
        value_label: "v",
        annotations: None,
        log_color: false,
    };
    assert!(matches!(heat_map(&path, &map), Err(PlotError::Empty(_))));

    let short_row = vec![vec![Some(1.0)]];
    let map = HeatMap {
        xs: &[1.0, 2.0],
        ys: &[1.0],
        values: &short_row,
        ..map
    };
    assert!(matches!(heat_map(&path, &map), Err(PlotError::Invalid(_))));

    let ok_row = vec![vec![Some(1.0), Some(2.0)]];
    let no_annotations: Vec<Vec<Option<String>>> = vec![];
    let map = HeatMap {
        values: &ok_row,
        annotations: Some(&no_annotations),
        ..map
    };
    assert!(matches!(heat_map(&path, &map), Err(PlotError::Invalid(_))));
    assert!(!path.exists());
}
#[test]
fn extreme_values_neither_panic_nor_hang() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("extreme.svg");
    for points in [
        vec![(0.0, -1e308), (1.0, 1e308)],
        vec![(f64::MAX, 1.0), (-f64::MAX, 2.0)],
        vec![(1e-300, 1e-300), (2e-300, 3e-300)],
        vec![(1.0, 1.0), (1.0, 1.0)],
        vec![(5e-324, 5e-324), (1e308, 1e308)],
        vec![(f64::NAN, 1.0), (1.0, f64::INFINITY), (2.0, 2.0)],
    ] {
        for log in [false, true] {
            let series = [Series {
                name: "s".to_owned(),
                points: points.clone(),
                band: None,
            }];
            let chart = LineChart {
                title: "",
                x_label: "",
                y_label: "",
                log_x: log,
                log_y: log,
                series: &series,
                reference: None,
            };
            match line_chart(&path, &chart) {
                Ok(()) => assert_svg(&read(&path)),
                Err(e) => assert!(matches!(e, PlotError::Invalid(_)), "{points:?}: {e}"),
            }
        }
    }
    let values = vec![vec![Some(f64::MAX), Some(-f64::MAX), Some(f64::NAN)]];
    for log_color in [false, true] {
        let map = HeatMap {
            title: "",
            x_label: "",
            y_label: "",
            xs: &[f64::NAN, f64::INFINITY, -1e-9],
            ys: &[0.0],
            values: &values,
            value_label: "",
            annotations: None,
            log_color,
        };
        heat_map(&path, &map).unwrap();
        assert_svg(&read(&path));
    }
}
