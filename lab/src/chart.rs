//! What the lab's charts are made of: their inputs ([`LineChart`], [`Series`], [`HeatMap`]),
//! [`PlotError`], the common style (size, font, colours), and the plumbing both kinds share: an
//! SVG drawn in memory and written in one go, text, compact numbers.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

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

pub(crate) const LINE_SIZE: (u32, u32) = (800, 500);
pub(crate) const HEAT_SIZE: (u32, u32) = (900, 600);
pub(crate) const FONT: &str = "sans-serif";
// plotters' SVG backend writes `font-size = size / 1.24`, so these are ~21, 14.5 and 12.9 px.
pub(crate) const TITLE_SIZE: f64 = 26.0;
pub(crate) const DESC_SIZE: f64 = 18.0;
pub(crate) const LABEL_SIZE: f64 = 16.0;

/// Tableau 10: distinguishable, and readable on white.
pub(crate) const PALETTE: [RGBColor; 10] = [
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
pub(crate) const REFERENCE_COLOR: RGBColor = RGBColor(60, 60, 60);
pub(crate) const NO_DATA_FILL: RGBColor = RGBColor(225, 225, 225);
pub(crate) const NO_DATA_HATCH: RGBColor = RGBColor(160, 160, 160);
pub(crate) const GRID_COLOR: RGBColor = RGBColor(235, 235, 235);
pub(crate) const AXIS_GRID_BOLD: RGBColor = RGBColor(215, 215, 215);

pub(crate) type Root<'b> = DrawingArea<SVGBackend<'b>, plotters::coord::Shift>;

/// Draws into an in-memory SVG and writes it to `path` in one go, so that write errors surface
/// as [`PlotError::Io`] (plotters' file target would only report them on drop).
pub(crate) fn render(
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

pub(crate) fn text_style(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

/// Formats a number compactly with at most `sig` significant digits: `0.05`, `1`, `20`,
/// `1.5k`, `10k`, `2M`.
pub(crate) fn compact(v: f64, sig: i32) -> String {
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
