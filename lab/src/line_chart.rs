//! Drawing a line chart: series reduced to their plottable points, axis ranges and ticks
//! (linear or log), bands, the dashed reference curve and a legend placed where it hides least.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, KeyPointWeight};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::chart::{
    compact, text_style, LineChart, PlotError, Root, Series, AXIS_GRID_BOLD, DESC_SIZE, GRID_COLOR,
    LABEL_SIZE, PALETTE, REFERENCE_COLOR, TITLE_SIZE,
};

/// A series reduced to what can be drawn on the chosen axes, sorted by x.
pub(crate) struct Prepared<'s> {
    pub(crate) name: &'s str,
    pub(crate) points: Vec<(f64, f64)>,
    /// `(x, low, high)`
    pub(crate) band: Vec<(f64, f64, f64)>,
}

impl<'s> Prepared<'s> {
    pub(crate) fn new(s: &'s Series, log_x: bool, log_y: bool) -> Result<Self, PlotError> {
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
pub(crate) struct Bounds(Option<(f64, f64)>);

impl Bounds {
    pub(crate) fn add(&mut self, v: f64) {
        self.0 = Some(match self.0 {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }

    /// The axis range: the data range with a little padding. `Ok(None)` without data; an
    /// error when the range cannot be drawn (its span overflows `f64`).
    pub(crate) fn range(&self, log: bool) -> Result<Option<Range<f64>>, PlotError> {
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
pub(crate) enum Axis {
    Linear(RangedCoordf64),
    Log(LogCoord<f64>, Range<f64>),
}

impl Axis {
    pub(crate) fn new(range: Range<f64>, log: bool) -> Self {
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
pub(crate) fn linear_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
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
pub(crate) fn log_ticks(lo: f64, hi: f64, max: usize, light: bool) -> Vec<f64> {
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

pub(crate) fn draw_line_chart(
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
pub(crate) fn legend_position(
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
