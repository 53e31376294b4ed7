//! Drawing a heat map: categorical cells coloured on a viridis scale (linear or log), their
//! annotations, hatched cells without data, and the colour bar.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::chart::{
    compact, text_style, HeatMap, PlotError, Root, DESC_SIZE, FONT, LABEL_SIZE, NO_DATA_FILL,
    NO_DATA_HATCH, TITLE_SIZE,
};

pub(crate) fn check_grid<T>(
    what: &str,
    grid: &[Vec<T>],
    nx: usize,
    ny: usize,
) -> Result<(), PlotError> {
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
pub(crate) struct Cells(usize);

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
pub(crate) fn cell_label(values: &[f64], v: f64) -> String {
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
pub(crate) struct ColorScale {
    /// `(min, max)` of the finite values (positive ones only on a log scale), if any.
    pub(crate) range: Option<(f64, f64)>,
    pub(crate) log: bool,
}

impl ColorScale {
    pub(crate) fn new(values: &[Vec<Option<f64>>], log: bool) -> Self {
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
    pub(crate) fn fraction(&self, v: f64) -> f64 {
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
    pub(crate) fn value_at(&self, t: f64) -> Option<f64> {
        let (lo, hi) = self.range?;
        Some(if self.log {
            10f64.powf(lo.log10() + t * (hi.log10() - lo.log10()))
        } else {
            lo * (1.0 - t) + hi * t
        })
    }
}

/// Viridis (plotters' map) at `t`, clamped to 0..=1 (a non-finite `t` is 0).
pub(crate) fn viridis(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    ViridisRGB::get_color(t)
}

/// Black or white, whichever contrasts more with `bg` (WCAG relative luminance).
pub(crate) fn text_color_on(bg: RGBColor) -> RGBColor {
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
pub(crate) fn hatched(
    area: &Root<'_>,
    (x0, y0): (i32, i32),
    (x1, y1): (i32, i32),
) -> Result<(), PlotError> {
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

pub(crate) fn draw_heat_map(
    root: &Root<'_>,
    map: &HeatMap<'_>,
    scale: ColorScale,
) -> Result<(), PlotError> {
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
pub(crate) fn draw_color_bar(
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
