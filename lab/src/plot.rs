//! SVG charts for the lab's parameter sweeps.
//!
//! Two chart kinds, both rendered with plotters' [`SVGBackend`] and written as standalone SVG
//! files:
//!
//! - [`line_chart`]: one or more series (with optional p10..p90-style error bands), optional
//!   log axes and an optional dashed reference curve such as a `c·log2(n)` fit;
//! - [`heat_map`]: a categorical grid of values (e.g. convergence time over loss rate ×
//!   replica count) with a colour bar, optional per-cell annotations and hatched "no data" cells.
//!
//! No font files and no external tools are needed: without plotters' `ttf` feature, text
//! layout uses a built-in size estimate and the SVG backend emits every string as a `<text>`
//! element, so the viewer's own sans-serif font renders it.
//!
//! Nothing here panics on bad input: empty or inconsistent input is reported as a
//! [`PlotError`].

use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, KeyPointWeight};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Everything that can go wrong while rendering a chart.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// There is nothing to draw (no series, no plottable points, an empty grid).
    #[error("nothing to plot: {0}")]
    Empty(String),
    /// The input is inconsistent (e.g. a band or row whose length does not match).
    #[error("invalid plot input: {0}")]
    Invalid(String),
    /// plotters failed while drawing (its error, as text).
    #[error("drawing failed: {0}")]
    Drawing(String),
    /// The SVG file could not be written.
    #[error("cannot write {}", path.display())]
    Io {
        /// The file that could not be written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError::Drawing(e.to_string())
    }
}

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// `(x, y)` points; drawn in ascending `x` order. Non-finite points (and, on a log axis,
    /// points with a non-positive coordinate) are skipped.
    pub points: Vec<(f64, f64)>,
    /// optional error band per point (low, high), e.g. p10..p90
    ///
    /// Must have the same length as `points` (band `i` belongs to `points[i]`).
    pub band: Option<Vec<(f64, f64)>>,
}

/// A line chart: one or more [`Series`] over shared axes.
#[derive(Debug, Clone, Copy)]
pub struct LineChart<'a> {
    /// Title above the chart.
    pub title: &'a str,
    /// Label of the horizontal axis.
    pub x_label: &'a str,
    /// Label of the vertical axis.
    pub y_label: &'a str,
    /// Logarithmic horizontal axis (points with `x <= 0` are skipped).
    pub log_x: bool,
    /// Logarithmic vertical axis (points and band ends with `y <= 0` are skipped).
    pub log_y: bool,
    /// The lines; at least one. A legend is drawn when there is more than one line
    /// (counting the reference curve).
    pub series: &'a [Series],
    /// optional reference curve (e.g. "c·log2(n)" fit), drawn dashed
    ///
    /// It counts towards the axis ranges; its `band` is ignored.
    pub reference: Option<&'a Series>,
}

/// A categorical heat map: cell `(i, j)` shows `values[j][i]` for `xs[i]`, `ys[j]`.
#[derive(Debug, Clone, Copy)]
pub struct HeatMap<'a> {
    /// Title above the chart.
    pub title: &'a str,
    /// Label of the horizontal axis.
    pub x_label: &'a str,
    /// Label of the vertical axis.
    pub y_label: &'a str,
    /// Column values, left to right (shown as axis labels).
    pub xs: &'a [f64],
    /// Row values, bottom to top (shown as axis labels).
    pub ys: &'a [f64],
    /// `values[j][i]` for `ys[j]`, `xs[i]`; `None` (or a non-finite value) = no data, drawn
    /// as a hatched grey cell.
    pub values: &'a [Vec<Option<f64>>],
    /// Colour bar label, e.g. "convergence time (s)".
    pub value_label: &'a str,
    /// Optional text inside each cell (same shape as `values`), e.g. "1.2 MB".
    pub annotations: Option<&'a [Vec<Option<String>>]>,
    /// Colour scale on log10 of the value. Non-positive values then get the lowest colour;
    /// if no value is positive the scale falls back to linear.
    pub log_color: bool,
}

const LINE_SIZE: (u32, u32) = (800, 500);
const HEAT_SIZE: (u32, u32) = (900, 600);
const FONT: &str = "sans-serif";
// plotters' SVG backend writes `font-size = size / 1.24`, so these are ~21, 14.5 and 12.9 px.
const TITLE_SIZE: f64 = 26.0;
const DESC_SIZE: f64 = 18.0;
const LABEL_SIZE: f64 = 16.0;

/// Tableau 10: distinguishable, and readable on white.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const REFERENCE_COLOR: RGBColor = RGBColor(60, 60, 60);
const NO_DATA_FILL: RGBColor = RGBColor(225, 225, 225);
const NO_DATA_HATCH: RGBColor = RGBColor(160, 160, 160);
const GRID_COLOR: RGBColor = RGBColor(235, 235, 235);
const AXIS_GRID_BOLD: RGBColor = RGBColor(215, 215, 215);

/// Renders `chart` as an 800×500 SVG file at `path`.
///
/// Errors: [`PlotError::Empty`] when there is no series or no plottable point,
/// [`PlotError::Invalid`] when a band's length differs from its series',
/// [`PlotError::Drawing`] / [`PlotError::Io`] when rendering or writing fails.
pub fn line_chart(path: &Path, chart: &LineChart<'_>) -> Result<(), PlotError> {
    if chart.series.is_empty() {
        return Err(PlotError::Empty(format!(
            "line chart {:?} has no series",
            chart.title
        )));
    }
    let prepared: Vec<Prepared> = chart
        .series
        .iter()
        .map(|s| Prepared::new(s, chart.log_x, chart.log_y))
        .collect::<Result<_, _>>()?;
    let reference = chart
        .reference
        .map(|s| Prepared::new(s, chart.log_x, chart.log_y))
        .transpose()?
        .map(|mut r| {
            // a reference curve is a line, not a measurement: no band
            r.band.clear();
            r
        });

    let mut xs = Bounds::default();
    let mut ys = Bounds::default();
    for p in prepared.iter().chain(reference.iter()) {
        for &(x, y) in &p.points {
            xs.add(x);
            ys.add(y);
        }
        for &(x, lo, hi) in &p.band {
            xs.add(x);
            ys.add(lo);
            ys.add(hi);
        }
    }
    let (Some(x_range), Some(y_range)) = (xs.range(chart.log_x)?, ys.range(chart.log_y)?) else {
        return Err(PlotError::Empty(format!(
            "line chart {:?} has no plottable points{}",
            chart.title,
            if chart.log_x || chart.log_y {
                " (non-positive values cannot go on a log axis)"
            } else {
                ""
            }
        )));
    };
    let x_axis = Axis::new(x_range, chart.log_x);
    let y_axis = Axis::new(y_range, chart.log_y);

    render(path, LINE_SIZE, |root| {
        draw_line_chart(root, chart, &prepared, reference.as_ref(), x_axis, y_axis)
    })
}

/// Renders `map` as a 900×600 SVG file at `path`.
///
/// Errors: [`PlotError::Empty`] when `xs` or `ys` is empty, [`PlotError::Invalid`] when
/// `values` (or `annotations`) is not `ys.len()` rows of `xs.len()` entries,
/// [`PlotError::Drawing`] / [`PlotError::Io`] when rendering or writing fails.
pub fn heat_map(path: &Path, map: &HeatMap<'_>) -> Result<(), PlotError> {
    if map.xs.is_empty() || map.ys.is_empty() {
        return Err(PlotError::Empty(format!(
            "heat map {:?} has {} columns and {} rows",
            map.title,
            map.xs.len(),
            map.ys.len()
        )));
    }
    check_grid("values", map.values, map.xs.len(), map.ys.len())?;
    if let Some(annotations) = map.annotations {
        check_grid("annotations", annotations, map.xs.len(), map.ys.len())?;
    }
    let scale = ColorScale::new(map.values, map.log_color);
    render(path, HEAT_SIZE, |root| draw_heat_map(root, map, scale))
}

// ---------------------------------------------------------------------------------------------
// shared plumbing

type Root<'b> = DrawingArea<SVGBackend<'b>, plotters::coord::Shift>;

/// Draws into an in-memory SVG and writes it to `path` in one go, so that write errors surface
/// as [`PlotError::Io`] (plotters' file target would only report them on drop).
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Root<'_>) -> Result<(), PlotError>,
) -> Result<(), PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    std::fs::write(path, svg).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn text_style(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

/// Formats a number compactly with at most `sig` significant digits: `0.05`, `1`, `20`,
/// `1.5k`, `10k`, `2M`.
fn compact(v: f64, sig: i32) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    let round_sig = |v: f64| -> f64 {
        let mag = v.abs().log10().floor() as i32;
        let factor = 10f64.powi(sig - 1 - mag);
        (v * factor).round() / factor
    };
    let rounded = round_sig(v);
    // (subnormal magnitudes overflow the rounding factor)
    let v = if rounded.is_finite() { rounded } else { v };
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e12 {
        (v / 1e12, "T")
    } else if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let a = scaled.abs();
    if !(1e-4..1e15).contains(&a) {
        // far outside the suffix range: scientific, e.g. "1.5e-7"
        let s = format!("{:.*e}", (sig - 1).max(0) as usize, scaled);
        return match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim_zeros(m)),
            None => s,
        };
    }
    let mag = a.log10().floor() as i32;
    let decimals = (sig - 1 - mag).max(0) as usize;
    format!("{}{suffix}", trim_zeros(&format!("{scaled:.decimals$}")))
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------------
// line chart

/// A series reduced to what can be drawn on the chosen axes, sorted by x.
struct Prepared<'s> {
    name: &'s str,
    points: Vec<(f64, f64)>,
    /// `(x, low, high)`
    band: Vec<(f64, f64, f64)>,
}

impl<'s> Prepared<'s> {
    fn new(s: &'s Series, log_x: bool, log_y: bool) -> Result<Self, PlotError> {
        let ok_x = |x: f64| x.is_finite() && (!log_x || x > 0.0);
        let ok_y = |y: f64| y.is_finite() && (!log_y || y > 0.0);
        let mut points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|&(x, y)| ok_x(x) && ok_y(y))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut band = Vec::new();
        if let Some(b) = &s.band {
            if b.len() != s.points.len() {
                return Err(PlotError::Invalid(format!(
                    "series {:?} has {} points but {} band entries",
                    s.name,
                    s.points.len(),
                    b.len()
                )));
            }
            band = s
                .points
                .iter()
                .zip(b)
                .map(|(&(x, _), &(lo, hi))| (x, lo.min(hi), lo.max(hi)))
                .filter(|&(x, lo, hi)| ok_x(x) && ok_y(lo) && ok_y(hi))
                .collect();
            band.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        Ok(Prepared {
            name: &s.name,
            points,
            band,
        })
    }
}

#[derive(Default)]
struct Bounds(Option<(f64, f64)>);

impl Bounds {
    fn add(&mut self, v: f64) {
        self.0 = Some(match self.0 {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }

    /// The axis range: the data range with a little padding. `Ok(None)` without data; an
    /// error when the range cannot be drawn (its span overflows `f64`).
    fn range(&self, log: bool) -> Result<Option<Range<f64>>, PlotError> {
        let Some((lo, hi)) = self.0 else {
            return Ok(None);
        };
        let range = if log {
            // lo > 0 is guaranteed by the filtering in `Prepared::new`
            if hi / lo < 1.000_001 {
                lo / 2.0..hi * 2.0
            } else {
                let pad = (hi / lo).powf(0.04);
                lo / pad..hi * pad
            }
        } else {
            let span = hi - lo;
            let pad = if span > 0.0 {
                span * 0.05
            } else if hi != 0.0 {
                hi.abs() * 0.1
            } else {
                1.0
            };
            // don't push an all-non-negative axis below zero
            let start = if lo >= 0.0 {
                (lo - pad).max(0.0)
            } else {
                lo - pad
            };
            start..hi + pad
        };
        let drawable = range.start.is_finite()
            && range.end.is_finite()
            && range.end > range.start
            && (range.end - range.start).is_finite()
            && (!log || (range.start > 0.0 && (range.end / range.start).is_finite()));
        if drawable {
            Ok(Some(range))
        } else {
            Err(PlotError::Invalid(format!(
                "values from {lo:e} to {hi:e} span too wide a range to plot"
            )))
        }
    }
}

/// A linear or logarithmic `f64` axis, so one chart type serves all four axis combinations.
///
/// Both variants map through plotters' own coordinates (the log one is `(a..b).log_scale()`)
/// but pick their own tick values: plotters' log ticks are powers of ten only, which leaves a
/// sub-decade range (say 2..9) without any label, and its linear ticks assert on NaN and can
/// spin on extreme ranges.
enum Axis {
    Linear(RangedCoordf64),
    Log(LogCoord<f64>, Range<f64>),
}

impl Axis {
    fn new(range: Range<f64>, log: bool) -> Self {
        if log {
            Axis::Log(range.clone().log_scale().into(), range)
        } else {
            Axis::Linear(range.into())
        }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        match self {
            Axis::Linear(a) => a.map(value, limit),
            Axis::Log(a, _) => a.map(value, limit),
        }
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match self {
            Axis::Linear(a) => {
                let r = a.range();
                linear_ticks(r.start, r.end, hint.max_num_points())
            }
            Axis::Log(_, r) => {
                let light = matches!(hint.weight(), KeyPointWeight::Any);
                log_ticks(r.start, r.end, hint.max_num_points(), light)
            }
        }
    }

    fn range(&self) -> Range<f64> {
        match self {
            Axis::Linear(a) => a.range(),
            Axis::Log(_, r) => r.clone(),
        }
    }
}

/// Tick values for a linear axis over `lo..hi`: multiples of a 1-2-5 step, at most about
/// `max` of them, none for a degenerate or non-finite range.
fn linear_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let span = hi - lo;
    if max == 0 || !(span.is_finite() && span > 0.0) {
        return Vec::new();
    }
    let raw = span / max as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let (first, last) = ((lo / step).ceil(), (hi / step).floor());
    let count = last - first + 1.0;
    if !(step > 0.0 && count.is_finite() && count >= 1.0 && count <= max as f64 + 2.0) {
        return Vec::new();
    }
    (0..count as usize)
        .map(|k| (first + k as f64) * step)
        // no "-0" or "1e-17" for the zero tick
        .map(|v| if v.abs() < step * 1e-9 { 0.0 } else { v })
        .collect()
}

/// Tick values for a log axis over `lo..hi` (both > 0), at most `max` of them: powers of ten
/// (every k-th decade if there are too many), densified to 1-2-5 per decade when that fits,
/// and to 1..9 per decade when that fits and there are fewer than three powers of ten in range
/// (or always, for `light` grid lines).
fn log_ticks(lo: f64, hi: f64, max: usize, light: bool) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) || max == 0 {
        return Vec::new();
    }
    let first = lo.log10().floor() as i32;
    let last = hi.log10().ceil() as i32;
    let ticks_with = |mantissas: &[f64], step: usize| -> Vec<f64> {
        (first..=last)
            .filter(|e| ((e - first) as usize).is_multiple_of(step))
            .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|v| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9))
            .collect()
    };
    let mut step = 1;
    let mut ticks = ticks_with(&[1.0], step);
    let decades = (last - first) as usize;
    while ticks.len() > max && step <= decades {
        step += 1;
        ticks = ticks_with(&[1.0], step);
    }
    if step == 1 {
        let powers = ticks.len();
        for mantissas in [
            &[1.0, 2.0, 5.0][..],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        ] {
            let denser = ticks_with(mantissas, 1);
            if denser.len() > max || (!light && powers >= 3 && mantissas.len() > 3) {
                break;
            }
            ticks = denser;
        }
    }
    ticks
}

fn draw_line_chart(
    root: &Root<'_>,
    chart: &LineChart<'_>,
    series: &[Prepared<'_>],
    reference: Option<&Prepared<'_>>,
    x_axis: Axis,
    y_axis: Axis,
) -> Result<(), PlotError> {
    let mut ctx = ChartBuilder::on(root)
        .caption(chart.title, text_style(TITLE_SIZE))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(75)
        .build_cartesian_2d(x_axis, y_axis)?;

    let fmt = |v: &f64| compact(*v, 4);
    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .axis_desc_style(text_style(DESC_SIZE))
        .label_style(text_style(LABEL_SIZE))
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .x_labels(10)
        .y_labels(8)
        .bold_line_style(AXIS_GRID_BOLD.stroke_width(1))
        .light_line_style(GRID_COLOR.stroke_width(1))
        .max_light_lines(4)
        .draw()?;

    // bands first, so lines and markers stay on top
    for (i, s) in series.iter().enumerate() {
        if s.band.len() >= 2 {
            let color = PALETTE[i % PALETTE.len()];
            let outline: Vec<(f64, f64)> = s
                .band
                .iter()
                .map(|&(x, _, hi)| (x, hi))
                .chain(s.band.iter().rev().map(|&(x, lo, _)| (x, lo)))
                .collect();
            ctx.draw_series(std::iter::once(Polygon::new(
                outline,
                color.mix(0.18).filled(),
            )))?;
        }
    }

    let legend = series.len() + usize::from(reference.is_some()) > 1;

    if let Some(r) = reference {
        let style = REFERENCE_COLOR.stroke_width(2);
        let anno = ctx.draw_series(DashedLineSeries::new(r.points.clone(), 8, 5, style))?;
        if legend {
            anno.label(r.name).legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (8, 0)], style)
                    + PathElement::new(vec![(12, 0), (20, 0)], style)
            });
        }
    }

    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        ctx.draw_series(LineSeries::new(
            s.points.iter().copied(),
            color.stroke_width(2),
        ))?;
        // Marker shapes cycle per series, so lines stay distinguishable without colour. The
        // legend entry hangs off the markers: a short line with the series' marker on it.
        let style = color.filled();
        let points = s.points.iter().copied();
        let line = move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (20, 0)], color.stroke_width(2))
        };
        match i % 4 {
            0 => {
                let anno = ctx.draw_series(points.map(|p| Circle::new(p, 4, style)))?;
                if legend {
                    anno.label(s.name)
                        .legend(move |c| line(c) + Circle::new((10, 0), 4, style));
                }
            }
            1 => {
                let anno = ctx.draw_series(
                    points.map(|p| EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], style)),
                )?;
                if legend {
                    anno.label(s.name)
                        .legend(move |c| line(c) + Rectangle::new([(6, -4), (14, 4)], style));
                }
            }
            2 => {
                let anno = ctx.draw_series(points.map(|p| TriangleMarker::new(p, 6, style)))?;
                if legend {
                    anno.label(s.name)
                        .legend(move |c| line(c) + TriangleMarker::new((10, 0), 6, style));
                }
            }
            _ => {
                let diamond = |cx: i32| vec![(cx, -5), (cx + 5, 0), (cx, 5), (cx - 5, 0)];
                let anno = ctx.draw_series(
                    points.map(|p| EmptyElement::at(p) + Polygon::new(diamond(0), style)),
                )?;
                if legend {
                    anno.label(s.name)
                        .legend(move |c| line(c) + Polygon::new(diamond(10), style));
                }
            }
        }
    }

    if legend {
        let entries: Vec<&Prepared<'_>> = reference.into_iter().chain(series).collect();
        let position = legend_position(&ctx, &entries);
        ctx.configure_series_labels()
            .position(position)
            .margin(12)
            .legend_area_size(28)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font(text_style(LABEL_SIZE))
            .draw()?;
    }
    Ok(())
}

/// The plot corner where the legend covers the least data.
fn legend_position(
    ctx: &ChartContext<'_, SVGBackend<'_>, Cartesian2d<Axis, Axis>>,
    entries: &[&Prepared<'_>],
) -> SeriesLabelPosition {
    let (w, h) = ctx.plotting_area().dim_in_pixel();
    let longest = entries
        .iter()
        .map(|e| e.name.chars().count())
        .max()
        .unwrap_or(0);
    // rough legend box, as a fraction of the plotting area
    let box_w = (longest as f64 * 7.5 + 75.0) / f64::from(w.max(1));
    let box_h = (entries.len() as f64 * 20.0 + 30.0) / f64::from(h.max(1));

    let (rx, ry) = ctx.plotting_area().get_pixel_range();
    let frac = |(x, y): (f64, f64)| {
        let (px, py) = ctx.backend_coord(&(x, y));
        (
            f64::from(px - rx.start) / f64::from(w.max(1)),
            f64::from(ry.end - py) / f64::from(h.max(1)),
        )
    };
    // sample the lines (not just their points) and the band edges
    let mut samples = Vec::new();
    for e in entries {
        let lines = [
            e.points.clone(),
            e.band.iter().map(|&(x, lo, _)| (x, lo)).collect(),
            e.band.iter().map(|&(x, _, hi)| (x, hi)).collect(),
        ];
        for line in lines {
            let pixels: Vec<(f64, f64)> = line.into_iter().map(frac).collect();
            samples.extend(pixels.first().copied());
            for pair in pixels.windows(2) {
                let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
                samples.extend((1..=16).map(|k| {
                    let t = f64::from(k) / 16.0;
                    (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t)
                }));
            }
        }
    }
    let covered = |left: bool, upper: bool| {
        samples
            .iter()
            .filter(|&&(x, y)| {
                (if left { x <= box_w } else { x >= 1.0 - box_w })
                    && (if upper { y >= 1.0 - box_h } else { y <= box_h })
            })
            .count()
    };
    [
        (SeriesLabelPosition::UpperLeft, covered(true, true)),
        (SeriesLabelPosition::UpperRight, covered(false, true)),
        (SeriesLabelPosition::LowerRight, covered(false, false)),
        (SeriesLabelPosition::LowerLeft, covered(true, false)),
    ]
    .into_iter()
    .min_by_key(|&(_, n)| n)
    .map_or(SeriesLabelPosition::UpperLeft, |(p, _)| p)
}

// ---------------------------------------------------------------------------------------------
// heat map

fn check_grid<T>(what: &str, grid: &[Vec<T>], nx: usize, ny: usize) -> Result<(), PlotError> {
    if grid.len() != ny {
        return Err(PlotError::Invalid(format!(
            "heat map {what} has {} rows, expected one per y value ({ny})",
            grid.len()
        )));
    }
    if let Some((j, row)) = grid.iter().enumerate().find(|(_, row)| row.len() != nx) {
        return Err(PlotError::Invalid(format!(
            "heat map {what} row {j} has {} entries, expected one per x value ({nx})",
            row.len()
        )));
    }
    Ok(())
}

/// Categorical axis of `n` unit-wide cells `[i, i+1)`, with ticks at the cell centres.
#[derive(Clone, Copy)]
struct Cells(usize);

impl Ranged for Cells {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let n = self.0.max(1) as f64;
        let span = f64::from(limit.1) - f64::from(limit.0);
        (f64::from(limit.0) + span * value / n).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max = hint.max_num_points().max(1);
        let step = self.0.div_ceil(max).max(1);
        (0..self.0).step_by(step).map(|i| i as f64 + 0.5).collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.0 as f64
    }
}

/// The category label of the cell whose centre is `v`.
fn cell_label(values: &[f64], v: f64) -> String {
    if v < 0.0 {
        return String::new();
    }
    values
        .get(v.floor() as usize)
        .map(|x| compact(*x, 3))
        .unwrap_or_default()
}

/// Maps values to colours (viridis).
#[derive(Clone, Copy)]
struct ColorScale {
    /// `(min, max)` of the finite values (positive ones only on a log scale), if any.
    range: Option<(f64, f64)>,
    log: bool,
}

impl ColorScale {
    fn new(values: &[Vec<Option<f64>>], log: bool) -> Self {
        let finite = || {
            values
                .iter()
                .flatten()
                .flatten()
                .copied()
                .filter(|v| v.is_finite())
        };
        let bounds = |it: &mut dyn Iterator<Item = f64>| {
            it.fold(None, |acc: Option<(f64, f64)>, v| {
                Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
            })
        };
        if log {
            if let Some(range) = bounds(&mut finite().filter(|v| *v > 0.0)) {
                return ColorScale {
                    range: Some(range),
                    log: true,
                };
            }
        }
        ColorScale {
            range: bounds(&mut finite()),
            log: false,
        }
    }

    /// Position of `v` on the scale, 0..=1.
    fn fraction(&self, v: f64) -> f64 {
        let Some((lo, hi)) = self.range else {
            return 0.0;
        };
        let t = if self.log {
            if v <= 0.0 {
                return 0.0;
            }
            let (l, h) = (lo.log10(), hi.log10());
            if h > l {
                (v.log10() - l) / (h - l)
            } else {
                0.5
            }
        } else if hi > lo {
            (v - lo) / (hi - lo)
        } else {
            0.5
        };
        t.clamp(0.0, 1.0)
    }

    /// The value at position `t` (0..=1) of the scale.
    fn value_at(&self, t: f64) -> Option<f64> {
        let (lo, hi) = self.range?;
        Some(if self.log {
            10f64.powf(lo.log10() + t * (hi.log10() - lo.log10()))
        } else {
            lo * (1.0 - t) + hi * t
        })
    }
}

/// Viridis, sampled at 9 stops and interpolated linearly.
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (STOPS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(STOPS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Black or white, whichever contrasts more with `bg` (WCAG relative luminance).
fn text_color_on(bg: RGBColor) -> RGBColor {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * linear(bg.0) + 0.7152 * linear(bg.1) + 0.0722 * linear(bg.2);
    // (L + 0.05) / 0.05 > 1.05 / (L + 0.05)  <=>  L > ~0.179
    if luminance > 0.179 {
        BLACK
    } else {
        WHITE
    }
}

/// Grey fill with diagonal hatching, in pixel coordinates `[x0, x1] × [y0, y1]`.
fn hatched(area: &Root<'_>, (x0, y0): (i32, i32), (x1, y1): (i32, i32)) -> Result<(), PlotError> {
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], NO_DATA_FILL.filled()))?;
    let (w, h) = (x1 - x0, y1 - y0);
    let spacing = 8;
    // lines x - x0 + (y - y0) = d for d stepping through (0, w + h)
    let mut d = spacing;
    while d < w + h {
        let start = (x0 + d.min(w), y0 + (d - w).max(0));
        let end = (x0 + (d - h).max(0), y0 + d.min(h));
        area.draw(&PathElement::new(
            vec![start, end],
            NO_DATA_HATCH.stroke_width(1),
        ))?;
        d += spacing;
    }
    Ok(())
}

fn draw_heat_map(root: &Root<'_>, map: &HeatMap<'_>, scale: ColorScale) -> Result<(), PlotError> {
    let (nx, ny) = (map.xs.len(), map.ys.len());
    let body = root
        .margin(8, 0, 0, 0)
        .titled(map.title, text_style(TITLE_SIZE))?;
    let (main, side) = body.split_horizontally(body.dim_in_pixel().0.saturating_sub(150));

    let x_label_len = map
        .xs
        .iter()
        .map(|v| compact(*v, 3).len())
        .max()
        .unwrap_or(1);
    let y_label_len = map
        .ys
        .iter()
        .map(|v| compact(*v, 3).len())
        .max()
        .unwrap_or(1);
    let y_area = (y_label_len as u32 * 9 + 45).clamp(60, 140);

    let mut ctx = ChartBuilder::on(&main)
        .margin(12)
        .x_label_area_size(55)
        .y_label_area_size(y_area)
        .build_cartesian_2d(Cells(nx), Cells(ny))?;

    let (px, py) = ctx.plotting_area().get_pixel_range();
    let (plot_w, plot_h) = (px.end - px.start, py.end - py.start);
    // how many category labels fit without overlapping
    let x_fit = (plot_w.max(1) as usize / (x_label_len * 9 + 10)).max(1);
    let y_fit = (plot_h.max(1) as usize / 22).max(1);

    let fx = |v: &f64| cell_label(map.xs, *v);
    let fy = |v: &f64| cell_label(map.ys, *v);
    ctx.configure_mesh()
        .disable_mesh()
        .x_desc(map.x_label)
        .y_desc(map.y_label)
        .axis_desc_style(text_style(DESC_SIZE))
        .label_style(text_style(LABEL_SIZE))
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .x_labels(x_fit)
        .y_labels(y_fit)
        .draw()?;

    // cells, in pixel coordinates so that the hatching can be drawn at a fixed spacing
    let corner = |i: usize, j: usize| ctx.backend_coord(&(i as f64, j as f64));
    let mut any_missing = false;
    for (j, row) in map.values.iter().enumerate() {
        for (i, value) in row.iter().enumerate() {
            let (left, bottom) = corner(i, j);
            let (right, top) = corner(i + 1, j + 1);
            let (a, b) = ((left, top), (right - 1, bottom - 1));
            let fill = match value {
                Some(v) if v.is_finite() => {
                    let c = viridis(scale.fraction(*v));
                    root.draw(&Rectangle::new([a, b], c.filled()))?;
                    c
                }
                _ => {
                    any_missing = true;
                    hatched(root, a, b)?;
                    NO_DATA_FILL
                }
            };
            let text = map
                .annotations
                .and_then(|rows| rows.get(j))
                .and_then(|r| r.get(i))
                .and_then(|t| t.as_deref());
            if let Some(text) = text.filter(|t| !t.is_empty()) {
                // shrink to fit the cell; skip when it would be unreadable
                let (w, h) = (f64::from(right - left), f64::from(bottom - top));
                let chars = text.chars().count().max(1) as f64;
                let size = (LABEL_SIZE)
                    .min(w * 1.24 / (0.62 * chars + 0.8))
                    .min(h * 0.6);
                if size >= 9.0 {
                    let style = (FONT, size)
                        .into_font()
                        .color(&text_color_on(fill))
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    root.draw(&Text::new(
                        text.to_owned(),
                        ((left + right) / 2, (top + bottom) / 2),
                        style,
                    ))?;
                }
            }
        }
    }
    // a frame around the grid
    root.draw(&Rectangle::new(
        [(px.start, py.start), (px.end - 1, py.end - 1)],
        BLACK.stroke_width(1),
    ))?;

    draw_color_bar(root, &side, map, scale, py, any_missing)
}

/// The colour bar: a strip of rectangles beside the grid, labelled with min, middle and max,
/// plus a "no data" swatch under it when some cells are missing.
fn draw_color_bar(
    root: &Root<'_>,
    side: &Root<'_>,
    map: &HeatMap<'_>,
    scale: ColorScale,
    py: Range<i32>,
    any_missing: bool,
) -> Result<(), PlotError> {
    let (sx, _) = side.get_pixel_range();
    let x0 = sx.start + 12;
    let x1 = x0 + 22;
    let (top, bottom) = (py.start, py.end);
    let label_style = text_style(LABEL_SIZE).pos(Pos::new(HPos::Left, VPos::Center));

    if scale.range.is_some() {
        let steps = 64;
        let height = f64::from(bottom - top);
        for k in 0..steps {
            // k = 0 is the bottom (minimum)
            let y_hi = bottom - (height * f64::from(k + 1) / f64::from(steps)).round() as i32;
            let y_lo = bottom - (height * f64::from(k) / f64::from(steps)).round() as i32;
            let t = (f64::from(k) + 0.5) / f64::from(steps);
            root.draw(&Rectangle::new(
                [(x0, y_hi), (x1, y_lo)],
                viridis(t).filled(),
            ))?;
        }
        root.draw(&Rectangle::new(
            [(x0, top), (x1, bottom)],
            BLACK.stroke_width(1),
        ))?;
        for t in [0.0, 0.5, 1.0] {
            let Some(v) = scale.value_at(t) else { continue };
            let y = bottom - (height * t).round() as i32;
            root.draw(&PathElement::new(
                vec![(x1, y), (x1 + 4, y)],
                BLACK.stroke_width(1),
            ))?;
            root.draw(&Text::new(compact(v, 3), (x1 + 7, y), label_style.clone()))?;
        }
    }

    // the value label, rotated, to the right of the tick labels
    let desc = text_style(DESC_SIZE)
        .pos(Pos::new(HPos::Center, VPos::Center))
        .transform(FontTransform::Rotate270);
    let desc_text = if scale.log && scale.range.is_some() {
        format!("{} (log scale)", map.value_label)
    } else {
        map.value_label.to_owned()
    };
    root.draw(&Text::new(
        desc_text,
        (sx.end - 22, (top + bottom) / 2),
        desc,
    ))?;

    if any_missing {
        let y = bottom + 14;
        hatched(root, (x0, y), (x1, y + 16))?;
        root.draw(&Rectangle::new(
            [(x0, y), (x1, y + 16)],
            BLACK.stroke_width(1),
        ))?;
        root.draw(&Text::new("no data", (x1 + 7, y + 8), label_style))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

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
}
