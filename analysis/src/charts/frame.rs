//! Figure descriptions (data) and the code that draws them on any plotters backend.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub(crate) type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 26;
const CAPTION_SIZE: u32 = 19;
const DESC_SIZE: u32 = 17;
const TICK_SIZE: u32 = 14;
const LEGEND_SIZE: u32 = 15;
const NOTE_SIZE: u32 = 13;
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
    Dot(RGBColor),
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

/// Splits off the title and the legend strip; returns the area left for panels.
fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    legend: &[LegendEntry],
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let body = root.titled(title, font(TITLE_SIZE))?;
    if legend.is_empty() {
        return Ok(body);
    }
    let (w, _) = body.dim_in_pixel();
    let text_w = legend
        .iter()
        .map(|e| {
            body.estimate_text_size(&e.label, &font(LEGEND_SIZE))
                .map(|(tw, _)| tw)
                .unwrap_or(100)
        })
        .max()
        .unwrap_or(100);
    let strip = (text_w + 60).clamp(120, w / 3);
    let (plots, strip_area) = body.split_horizontally(w - strip);
    draw_legend(&strip_area, legend)?;
    Ok(plots)
}

fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, entries: &[LegendEntry]) -> DrawResult<DB> {
    let row = 26;
    let top = 40;
    let h = top + row * entries.len() as i32 + 6;
    let (w, _) = area.dim_in_pixel();
    area.draw(&Rectangle::new(
        [(4, top - 18), (w as i32 - 8, h - 6)],
        ShapeStyle::from(&RGBColor(0xb0, 0xb0, 0xb0)).stroke_width(1),
    ))?;
    for (i, e) in entries.iter().enumerate() {
        let y = top + row * i as i32;
        let x0 = 14;
        match e.mark {
            LegendMark::Line(c) => {
                area.draw(&PathElement::new([(x0, y), (x0 + 32, y)], c.stroke_width(3)))?;
            }
            LegendMark::Dashed(c) => {
                for k in 0..3 {
                    let a = x0 + k * 12;
                    area.draw(&PathElement::new([(a, y), (a + 7, y)], c.stroke_width(3)))?;
                }
            }
            LegendMark::Box(c) => {
                area.draw(&Rectangle::new([(x0 + 4, y - 8), (x0 + 26, y + 8)], c.filled()))?;
            }
            LegendMark::Cross(c) => {
                area.draw(&Cross::new((x0 + 16, y), 7, c.stroke_width(3)))?;
            }
            LegendMark::Dot(c) => {
                area.draw(&Circle::new((x0 + 16, y), 6, c.filled()))?;
            }
        }
        area.draw(&Text::new(
            e.label.clone(),
            (x0 + 44, y),
            font(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

fn split_grid<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, grid: (usize, usize)) -> Vec<DrawingArea<DB, Shift>> {
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
            SeriesStyle::Points => {}
        }
        // Dots make isolated windows visible and show the sampling when points are few.
        let dots = s.style == SeriesStyle::Points || seg.len() == 1 || (total_points <= 40 && s.style != SeriesStyle::Step);
        if dots {
            let r = if s.style == SeriesStyle::Points { 6 } else { 3 };
            chart.draw_series(seg.iter().map(|&p| Circle::new(p, r, s.color.filled())))?;
        }
    }
    Ok(())
}

fn draw_hline<DB: DrawingBackend>(chart: &mut Chart2d<'_, '_, DB>, h: &HLine, xr: &Range<f64>) -> DrawResult<DB> {
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

/// Vertical dashed lines with labels at the top; labels of nearby markers are staggered so they
/// do not overlap, and a label near the right edge is put left of its line.
fn draw_markers<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, '_, DB>,
    markers: &[Marker],
    xr: &Range<f64>,
    yr: &Range<f64>,
) -> DrawResult<DB> {
    let span = xr.end - xr.start;
    let mut level = 0i32;
    let mut last_x = f64::NEG_INFINITY;
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
        level = if m.x - last_x < span * 0.12 { (level + 1) % 4 } else { 0 };
        last_x = m.x;
        let right_edge = m.x > xr.start + span * 0.85;
        let (dx, hpos) = if right_edge { (-5, HPos::Right) } else { (5, HPos::Left) };
        chart.draw_series(std::iter::once(
            EmptyElement::at((m.x, yr.end))
                + Text::new(
                    m.label.clone(),
                    (dx, 4 + level * 17),
                    font(NOTE_SIZE).color(&m.color).pos(Pos::new(hpos, VPos::Top)),
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

fn draw_bar_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &BarPanel) -> DrawResult<DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(8)
        .margin_right(16)
        .x_label_area_size(52)
        .y_label_area_size(72);
    if let Some(c) = &p.caption {
        builder.caption(c, font(CAPTION_SIZE));
    }
    let y_max = if p.y_max > 0.0 { p.y_max } else { 1.0 };
    let mut chart = builder.build_cartesian_2d(Categories { n: p.categories.len() }, 0.0..y_max)?;
    let names = p.categories.clone();
    let xf = move |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-9 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let yf = move |v: &f64| tick(*v, y_max);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .x_desc(p.x_desc.as_str())
        .y_desc(p.y_desc.as_str())
        .axis_desc_style(font(DESC_SIZE))
        .label_style(font(TICK_SIZE))
        .y_labels(8)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .draw()?;

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
                chart.draw_series(std::iter::once(Rectangle::new([(x0, y), (x1, y + v)], c.filled())))?;
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
                    font(NOTE_SIZE).color(&h.color).pos(Pos::new(HPos::Right, VPos::Bottom)),
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
