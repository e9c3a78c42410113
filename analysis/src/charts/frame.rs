//! Figure descriptions (data) and the code that draws them on any plotters backend.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub(crate) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

const FONT: &str = "sans-serif";
// Even sizes only: plotters' ab_glyph backend truncates half the font size when it places each
// glyph, so at odd sizes short glyphs (".", ",") land a pixel above the baseline.
const TITLE_SIZE: u32 = 26;
const CAPTION_SIZE: u32 = 20;
const DESC_SIZE: u32 = 18;
const TICK_SIZE: u32 = 14;
const LEGEND_SIZE: u32 = 16;
const NOTE_SIZE: u32 = 14;
const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
const TEXT: RGBColor = RGBColor(0x20, 0x20, 0x20);

/// Anything that draws itself on a drawing area.
pub(crate) trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

#[derive(Clone, Debug)]
pub(crate) enum LegendMark {
    Line(RGBColor),
    Dashed(RGBColor),
    Box(RGBColor),
    Cross(RGBColor),
}

#[derive(Clone, Debug)]
pub(crate) struct LegendEntry {
    pub label: String,
    pub mark: LegendMark,
}

impl LegendEntry {
    pub fn new(label: impl Into<String>, mark: LegendMark) -> Self {
        LegendEntry {
            label: label.into(),
            mark,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum SeriesStyle {
    Line,
    Dashed,
    /// A step function: the value holds until the next point.
    Step,
    Points,
    /// Vertical error bars: `points` come in triples (x, low), (x, mean), (x, high), one per
    /// bar; a dot marks the mean.
    ErrorBars,
}

/// One line of an x/y panel; `None` points break the line.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub color: RGBColor,
    pub style: SeriesStyle,
    pub points: Vec<Option<(f64, f64)>>,
}

/// A vertical line with a label (fault instants, timeouts).
#[derive(Clone, Debug)]
pub(crate) struct Marker {
    pub x: f64,
    pub label: String,
    pub color: RGBColor,
}

/// A horizontal reference line with a label.
#[derive(Clone, Debug)]
pub(crate) struct HLine {
    pub y: f64,
    pub label: String,
    pub color: RGBColor,
}

#[derive(Clone, Debug)]
pub(crate) struct XyPanel {
    pub caption: Option<String>,
    pub x_desc: String,
    pub y_desc: String,
    pub x_range: Range<f64>,
    pub y_range: Range<f64>,
    pub series: Vec<Series>,
    pub markers: Vec<Marker>,
    pub hlines: Vec<HLine>,
    /// Shown in the middle of the panel when it has nothing to plot.
    pub empty_note: Option<String>,
}

/// Panels on a grid sharing one title and one legend.
#[derive(Clone, Debug)]
pub(crate) struct XyFigure {
    pub title: String,
    pub panels: Vec<XyPanel>,
    pub grid: (usize, usize),
    pub legend: Vec<LegendEntry>,
}

/// One bar: a stack of segments at a slot within a category.
#[derive(Clone, Debug)]
pub(crate) struct Bar {
    pub category: usize,
    pub slot: usize,
    pub stack: Vec<(f64, RGBColor)>,
    /// Text above the bar (usually its total).
    pub label: Option<String>,
    /// A confidence interval drawn as an error bar.
    pub error: Option<(f64, f64)>,
    /// The value does not exist (never converged, never detected): drawn as a red cross + note.
    pub missing: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct BarPanel {
    pub caption: Option<String>,
    pub x_desc: String,
    pub y_desc: String,
    pub categories: Vec<String>,
    /// Bars per category side by side.
    pub slots: usize,
    pub y_max: f64,
    pub bars: Vec<Bar>,
    pub hlines: Vec<HLine>,
    /// Counts: ticks only at whole numbers.
    pub integer_y: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct BarFigure {
    pub title: String,
    pub panels: Vec<BarPanel>,
    pub grid: (usize, usize),
    pub legend: Vec<LegendEntry>,
}

/// A grid with about as many columns as rows for `n` panels, wider than tall.
pub(crate) fn grid_for(n: usize) -> (usize, usize) {
    match n {
        0 | 1 => (1, 1),
        2 => (1, 2),
        3 => (1, 3),
        4 => (2, 2),
        n => {
            let cols = (n as f64).sqrt().ceil() as usize;
            (n.div_ceil(cols), cols)
        }
    }
}

fn font(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&TEXT)
}

/// Splits off the title and the legend; returns the area left for panels. The legend flows
/// left to right under the title and wraps, so panels keep the full width.
fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    legend: &[LegendEntry],
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    // A long title (scenario prefix + description) shrinks rather than running off the edge.
    let (root_w, _) = root.dim_in_pixel();
    let mut size = TITLE_SIZE;
    while size > 16
        && root
            .estimate_text_size(title, &font(size))
            .is_ok_and(|(w, _)| w + 24 > root_w)
    {
        size -= 2;
    }
    let body = root.titled(title, font(size))?;
    if legend.is_empty() {
        return Ok(body);
    }
    let (w, _) = body.dim_in_pixel();
    let layout = legend_layout(&body, legend, w as i32);
    let rows = layout.iter().map(|(_, y)| *y).max().unwrap_or(0) + 1;
    let height = LEGEND_ROW * rows + 8;
    let (strip, plots) = body.split_vertically(height as u32);
    for (e, (x, row)) in legend.iter().zip(&layout) {
        draw_legend_entry(&strip, e, *x, LEGEND_ROW * row + LEGEND_ROW / 2 + 2)?;
    }
    Ok(plots)
}

const LEGEND_ROW: i32 = 24;
const MARK_W: i32 = 34;

/// (x, row) of each legend entry, centred rows.
fn legend_layout<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    legend: &[LegendEntry],
    width: i32,
) -> Vec<(i32, i32)> {
    let widths: Vec<i32> = legend
        .iter()
        .map(|e| {
            let tw = area
                .estimate_text_size(&e.label, &font(LEGEND_SIZE))
                .map(|(tw, _)| tw as i32)
                .unwrap_or(100);
            MARK_W + 8 + tw + 28
        })
        .collect();
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0;
    for (i, w) in widths.iter().enumerate() {
        if used + w > width - 40 && !rows.last().unwrap().is_empty() {
            rows.push(Vec::new());
            used = 0;
        }
        rows.last_mut().unwrap().push(i);
        used += w;
    }
    let mut out = vec![(0, 0); legend.len()];
    for (r, row) in rows.iter().enumerate() {
        let total: i32 = row.iter().map(|&i| widths[i]).sum();
        let mut x = ((width - total) / 2).max(0);
        for &i in row {
            out[i] = (x, r as i32);
            x += widths[i];
        }
    }
    out
}

fn draw_legend_entry<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    e: &LegendEntry,
    x0: i32,
    y: i32,
) -> DrawResult<DB> {
    match e.mark {
        LegendMark::Line(c) => {
            area.draw(&PathElement::new(
                [(x0, y), (x0 + MARK_W, y)],
                c.stroke_width(3),
            ))?;
        }
        LegendMark::Dashed(c) => {
            for k in 0..3 {
                let a = x0 + k * 13;
                area.draw(&PathElement::new([(a, y), (a + 8, y)], c.stroke_width(3)))?;
            }
        }
        LegendMark::Box(c) => {
            area.draw(&Rectangle::new(
                [(x0 + 6, y - 8), (x0 + MARK_W - 6, y + 8)],
                c.filled(),
            ))?;
        }
        LegendMark::Cross(c) => {
            area.draw(&Cross::new((x0 + MARK_W / 2, y), 7, c.stroke_width(3)))?;
        }
    }
    area.draw(&Text::new(
        e.label.clone(),
        (x0 + MARK_W + 8, y),
        font(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    Ok(())
}

fn split_grid<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    grid: (usize, usize),
) -> Vec<DrawingArea<DB, Shift>> {
    area.split_evenly(grid)
}

impl Figure for XyFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = frame(root, &self.title, &self.legend)?;
        for (panel, area) in self.panels.iter().zip(split_grid(&body, self.grid)) {
            draw_xy_panel(&area, panel)?;
        }
        Ok(())
    }
}

impl Figure for BarFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = frame(root, &self.title, &self.legend)?;
        for (panel, area) in self.panels.iter().zip(split_grid(&body, self.grid)) {
            draw_bar_panel(&area, panel)?;
        }
        Ok(())
    }
}

/// Tick label for an axis value: no decimals for large ranges, some for small ones.
fn tick(v: f64, span: f64) -> String {
    if span >= 20.0 {
        format!("{v:.0}")
    } else if span >= 2.0 {
        let s = format!("{v:.1}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    } else {
        format!("{v:.2}")
    }
}

fn draw_xy_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &XyPanel) -> DrawResult<DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(8)
        .margin_right(22)
        .x_label_area_size(48)
        .y_label_area_size(72);
    if let Some(c) = &p.caption {
        builder.caption(c, font(CAPTION_SIZE));
    }
    let mut chart = builder.build_cartesian_2d(p.x_range.clone(), p.y_range.clone())?;
    let xs = p.x_range.end - p.x_range.start;
    let ys = p.y_range.end - p.y_range.start;
    let xf = move |v: &f64| tick(*v, xs);
    let yf = move |v: &f64| tick(*v, ys);
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .x_desc(p.x_desc.as_str())
        .y_desc(p.y_desc.as_str())
        .axis_desc_style(font(DESC_SIZE))
        .label_style(font(TICK_SIZE))
        .x_labels(10)
        .y_labels(8)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .draw()?;

    for h in &p.hlines {
        draw_hline(&mut chart, h, &p.x_range)?;
    }
    draw_markers(&mut chart, &p.markers, &p.x_range, &p.y_range)?;

    for s in &p.series {
        draw_series(&mut chart, s)?;
    }
    if let Some(note) = &p.empty_note {
        let x = (p.x_range.start + p.x_range.end) / 2.0;
        let y = (p.y_range.start + p.y_range.end) / 2.0;
        chart.draw_series(std::iter::once(Text::new(
            note.clone(),
            (x, y),
            font(DESC_SIZE).pos(Pos::new(HPos::Center, VPos::Center)),
        )))?;
    }
    Ok(())
}

type Chart2d<'a, 'b, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn segments(points: &[Option<(f64, f64)>]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur = Vec::new();
    for p in points {
        match p {
            Some(p) => cur.push(*p),
            None => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn draw_series<DB: DrawingBackend>(chart: &mut Chart2d<'_, '_, DB>, s: &Series) -> DrawResult<DB> {
    let style = s.color.stroke_width(2);
    if s.style == SeriesStyle::ErrorBars {
        let bars = s.points.chunks_exact(3).filter_map(|t| match t {
            [Some((x, lo)), Some((_, mid)), Some((_, hi))] => Some(ErrorBar::new_vertical(
                *x,
                *lo,
                *mid,
                *hi,
                s.color.stroke_width(1),
                8,
            )),
            _ => None,
        });
        chart.draw_series(bars)?;
        return Ok(());
    }
    let total_points = s.points.iter().flatten().count();
    for seg in segments(&s.points) {
        match s.style {
            SeriesStyle::Line => {
                chart.draw_series(LineSeries::new(seg.iter().copied(), style))?;
            }
            SeriesStyle::Dashed => {
                chart.draw_series(DashedLineSeries::new(seg.iter().copied(), 9, 6, style))?;
            }
            SeriesStyle::Step => {
                let mut stepped = Vec::with_capacity(seg.len() * 2);
                for (i, &(x, y)) in seg.iter().enumerate() {
                    if i > 0 {
                        stepped.push((x, seg[i - 1].1));
                    }
                    stepped.push((x, y));
                }
                chart.draw_series(LineSeries::new(stepped, style))?;
            }
            SeriesStyle::Points | SeriesStyle::ErrorBars => {}
        }
        // Dots make isolated windows visible and show the sampling when points are few.
        let dots = s.style == SeriesStyle::Points
            || seg.len() == 1
            || (total_points <= 40 && s.style != SeriesStyle::Step);
        if dots {
            let r = if s.style == SeriesStyle::Points { 6 } else { 3 };
            chart.draw_series(seg.iter().map(|&p| Circle::new(p, r, s.color.filled())))?;
        }
    }
    Ok(())
}

fn draw_hline<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, '_, DB>,
    h: &HLine,
    xr: &Range<f64>,
) -> DrawResult<DB> {
    chart.draw_series(DashedLineSeries::new(
        [(xr.start, h.y), (xr.end, h.y)],
        6,
        5,
        h.color.stroke_width(1),
    ))?;
    chart.draw_series(std::iter::once(
        EmptyElement::at((xr.start, h.y))
            + Text::new(
                h.label.clone(),
                (6, -4),
                font(NOTE_SIZE)
                    .color(&h.color)
                    .pos(Pos::new(HPos::Left, VPos::Bottom)),
            ),
    ))?;
    Ok(())
}

/// Vertical dashed lines with labels at the top. Each label goes on the highest text row where
/// it does not overlap an earlier one (measured in pixels); a label that would run past the
/// right edge is put left of its line.
fn draw_markers<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, '_, DB>,
    markers: &[Marker],
    xr: &Range<f64>,
    yr: &Range<f64>,
) -> DrawResult<DB> {
    let (right_px, _) = chart.backend_coord(&(xr.end, yr.end));
    let mut rows: Vec<Vec<(i32, i32)>> = Vec::new();
    for m in markers {
        if m.x < xr.start || m.x > xr.end {
            continue;
        }
        chart.draw_series(DashedLineSeries::new(
            [(m.x, yr.start), (m.x, yr.end)],
            7,
            5,
            m.color.stroke_width(2),
        ))?;
        let style = font(NOTE_SIZE).color(&m.color);
        let w = chart
            .plotting_area()
            .estimate_text_size(&m.label, &style)
            .map(|(w, _)| w as i32)
            .unwrap_or(80);
        let (px, _) = chart.backend_coord(&(m.x, yr.end));
        let left_of_line = px + 5 + w > right_px;
        let span = if left_of_line {
            (px - 5 - w, px)
        } else {
            (px, px + 5 + w)
        };
        let row = (0..)
            .find(|&r| {
                rows.get(r).is_none_or(|used: &Vec<(i32, i32)>| {
                    used.iter().all(|&(a, b)| span.1 + 4 < a || span.0 > b + 4)
                })
            })
            .unwrap_or(0);
        if rows.len() <= row {
            rows.resize(row + 1, Vec::new());
        }
        rows[row].push(span);
        let (dx, hpos) = if left_of_line {
            (-5, HPos::Right)
        } else {
            (5, HPos::Left)
        };
        chart.draw_series(std::iter::once(
            EmptyElement::at((m.x, yr.end))
                + Text::new(
                    m.label.clone(),
                    (dx, 4 + row as i32 * 17),
                    style.pos(Pos::new(hpos, VPos::Top)),
                ),
        ))?;
    }
    Ok(())
}

/// An axis of named categories at 0, 1, …, n−1 with a tick (and label) at each.
#[derive(Clone)]
struct Categories {
    n: usize,
}

impl Ranged for Categories {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let lo = -0.5;
        let hi = self.n.max(1) as f64 - 0.5;
        let frac = (value - lo) / (hi - lo);
        limit.0 + (f64::from(limit.1 - limit.0) * frac).round() as i32
    }
    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        (0..self.n).map(|i| i as f64).collect()
    }
    fn range(&self) -> Range<f64> {
        -0.5..self.n.max(1) as f64 - 0.5
    }
}

fn draw_bar_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &BarPanel,
) -> DrawResult<DB> {
    let lines = p
        .categories
        .iter()
        .map(|c| c.lines().count())
        .max()
        .unwrap_or(1) as u32;
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(8)
        .margin_right(16)
        .x_label_area_size(40 + 17 * lines)
        .y_label_area_size(72);
    if let Some(c) = &p.caption {
        builder.caption(c, font(CAPTION_SIZE));
    }
    let y_max = if p.y_max > 0.0 { p.y_max } else { 1.0 };
    let mut chart = builder.build_cartesian_2d(
        Categories {
            n: p.categories.len(),
        },
        0.0..y_max,
    )?;
    // Category names are drawn below (two lines: node, zone), not by the mesh.
    let xf = |_: &f64| String::new();
    let integer_y = p.integer_y;
    let yf = move |v: &f64| {
        if integer_y {
            format!("{v:.0}")
        } else {
            tick(*v, y_max)
        }
    };
    let y_labels = if integer_y {
        (y_max.floor() as usize + 1).clamp(2, 8)
    } else {
        8
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .x_desc(p.x_desc.as_str())
        .y_desc(p.y_desc.as_str())
        .axis_desc_style(font(DESC_SIZE))
        .label_style(font(TICK_SIZE))
        .y_labels(y_labels)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .draw()?;

    let base = area.get_base_pixel();
    for (i, name) in p.categories.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64, 0.0));
        for (k, line) in name.split('\n').enumerate() {
            area.draw(&Text::new(
                line.to_string(),
                (px - base.0, py - base.1 + 9 + 17 * k as i32),
                font(TICK_SIZE).pos(Pos::new(HPos::Center, VPos::Top)),
            ))?;
        }
    }

    let slots = p.slots.max(1) as f64;
    let group_w = 0.8;
    let slot_w = group_w / slots;
    let gap = slot_w * 0.08;
    for b in &p.bars {
        let x0 = b.category as f64 - group_w / 2.0 + b.slot as f64 * slot_w + gap;
        let x1 = x0 + slot_w - 2.0 * gap;
        let xm = (x0 + x1) / 2.0;
        if let Some(note) = &b.missing {
            chart.draw_series(std::iter::once(
                EmptyElement::at((xm, 0.0))
                    + Cross::new((0, -8), 7, RGBColor(0xd6, 0x27, 0x28).stroke_width(3))
                    + Text::new(
                        note.clone(),
                        (0, -20),
                        font(NOTE_SIZE).pos(Pos::new(HPos::Center, VPos::Bottom)),
                    ),
            ))?;
            continue;
        }
        let mut y = 0.0;
        for &(v, c) in &b.stack {
            if v > 0.0 {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, y), (x1, y + v)],
                    c.filled(),
                )))?;
            }
            y += v;
        }
        let mut top = y;
        if let Some((lo, hi)) = b.error {
            chart.draw_series(std::iter::once(ErrorBar::new_vertical(
                xm,
                lo,
                y,
                hi,
                BLACK.stroke_width(2),
                12,
            )))?;
            top = top.max(hi);
        }
        if let Some(label) = &b.label {
            chart.draw_series(std::iter::once(
                EmptyElement::at((xm, top))
                    + Text::new(
                        label.clone(),
                        (0, -4),
                        font(NOTE_SIZE).pos(Pos::new(HPos::Center, VPos::Bottom)),
                    ),
            ))?;
        }
    }
    for h in &p.hlines {
        let xr = -0.5..p.categories.len().max(1) as f64 - 0.5;
        chart.draw_series(DashedLineSeries::new(
            [(xr.start, h.y), (xr.end, h.y)],
            6,
            5,
            h.color.stroke_width(2),
        ))?;
        chart.draw_series(std::iter::once(
            EmptyElement::at((xr.end, h.y))
                + Text::new(
                    h.label.clone(),
                    (-6, -4),
                    font(NOTE_SIZE)
                        .color(&h.color)
                        .pos(Pos::new(HPos::Right, VPos::Bottom)),
                ),
        ))?;
    }
    Ok(())
}

/// A y-axis upper bound with headroom for labels above bars.
pub(crate) fn headroom(max: f64) -> f64 {
    if max <= 0.0 {
        1.0
    } else {
        max * 1.15
    }
}
