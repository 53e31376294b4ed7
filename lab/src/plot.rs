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
//!
//! The inputs and the common style are in [`crate::chart`]; drawing each kind, in
//! [`crate::line_chart`] and [`crate::heat_map`].

use std::path::Path;

pub use crate::chart::{HeatMap, LineChart, PlotError, Series};
use crate::{
    chart::{render, HEAT_SIZE, LINE_SIZE},
    heat_map::{check_grid, draw_heat_map, ColorScale},
    line_chart::{draw_line_chart, Axis, Bounds, Prepared},
};

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

#[cfg(test)]
mod tests;
