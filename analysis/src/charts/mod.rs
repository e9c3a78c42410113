//! Charts of one scenario's CSVs, drawn with plotters to PNG and SVG.
//!
//! Text is rendered with an embedded DejaVu Sans through plotters' `ab_glyph` backend, so charts
//! draw on a machine without fontconfig or freetype. Each chart is described as data first
//! ([`frame::XyFigure`], [`frame::BarFigure`]) and then drawn once per backend, so the PNG and
//! the SVG always show the same thing.

mod frame;
mod load_curve;
mod scenario;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::error::{Error, Result};

pub(crate) use frame::{
    headroom, Bar, BarFigure, BarPanel, Figure, HLine, LegendEntry, LegendMark, Marker, Series,
    SeriesStyle, XyFigure, XyPanel,
};
pub use load_curve::{render_load_curve, render_load_curve_ci, LoadCiPoint, LoadPoint, MeanCi};
pub(crate) use scenario::{client_series, event_markers};
pub use scenario::{render_all, render_scenario};

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// How charts are drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartOptions {
    /// Pixel size of every chart (the SVG uses the same user units).
    pub width: u32,
    pub height: u32,
    pub png: bool,
    pub svg: bool,
    /// Client timeout marked on the latency CDF; when `None` it is inferred from the latencies of
    /// requests that ended in `timeout`, if any.
    pub client_timeout_ms: Option<u64>,
    /// Put in front of every chart title, e.g. the scenario's name.
    pub title_prefix: Option<String>,
}

impl Default for ChartOptions {
    fn default() -> Self {
        ChartOptions {
            width: 1200,
            height: 700,
            png: true,
            svg: true,
            client_timeout_ms: None,
            title_prefix: None,
        }
    }
}

impl ChartOptions {
    pub(crate) fn title(&self, title: &str) -> String {
        match &self.title_prefix {
            Some(p) if !p.is_empty() => format!("{p}: {title}"),
            _ => title.to_string(),
        }
    }
}

/// Registers the embedded font under the family names plotters' defaults use.
fn ensure_fonts() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        ["sans-serif", "serif", "monospace"].iter().all(|family| {
            plotters::style::register_font(family, FontStyle::Normal, DEJAVU_SANS).is_ok()
        })
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(
            "the embedded DejaVu Sans font could not be loaded".to_string(),
        ))
    }
}

/// Draws `figure` as `<dir>/<stem>.png` and `<dir>/<stem>.svg` (as `opts` asks) and returns the
/// files written.
pub(crate) fn render_figure<F: Figure>(
    figure: &F,
    dir: &Path,
    stem: &str,
    opts: &ChartOptions,
) -> Result<Vec<PathBuf>> {
    ensure_fonts()?;
    if opts.width < 200 || opts.height < 150 {
        return Err(Error::Invalid(format!(
            "chart size {}x{} is too small (minimum 200x150)",
            opts.width, opts.height
        )));
    }
    let size = (opts.width, opts.height);
    let mut written = Vec::new();
    if opts.png {
        let path = dir.join(format!("{stem}.png"));
        let fail = |message: String| Error::Chart {
            path: path.clone(),
            message,
        };
        {
            let root = BitMapBackend::new(&path, size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
            figure.draw(&root).map_err(|e| fail(e.to_string()))?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        written.push(path);
    }
    if opts.svg {
        let path = dir.join(format!("{stem}.svg"));
        let fail = |message: String| Error::Chart {
            path: path.clone(),
            message,
        };
        {
            let root = SVGBackend::new(&path, size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
            figure.draw(&root).map_err(|e| fail(e.to_string()))?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        written.push(path);
    }
    Ok(written)
}

/// Colours for strategies (Tableau 10), in the scenario's strategy order.
pub(crate) fn strategy_color(i: usize) -> RGBColor {
    const P: [RGBColor; 10] = [
        RGBColor(0x4e, 0x79, 0xa7),
        RGBColor(0xf2, 0x8e, 0x2b),
        RGBColor(0x59, 0xa1, 0x4f),
        RGBColor(0xb0, 0x7a, 0xa1),
        RGBColor(0x9c, 0x75, 0x5f),
        RGBColor(0x76, 0xb7, 0xb2),
        RGBColor(0xed, 0xc9, 0x48),
        RGBColor(0xff, 0x9d, 0xa7),
        RGBColor(0xba, 0xb0, 0xac),
        RGBColor(0xe1, 0x57, 0x59),
    ];
    P[i % P.len()]
}

/// Colours for nodes, distinct from each other and readable on white.
pub(crate) fn node_color(i: usize) -> RGBColor {
    const P: [RGBColor; 10] = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x94, 0x67, 0xbd),
        RGBColor(0x8c, 0x56, 0x4b),
        RGBColor(0xe3, 0x77, 0xc2),
        RGBColor(0x7f, 0x7f, 0x7f),
        RGBColor(0xbc, 0xbd, 0x22),
        RGBColor(0x17, 0xbe, 0xcf),
    ];
    P[i % P.len()]
}

pub(crate) const SAME_ZONE: RGBColor = RGBColor(0x4e, 0x79, 0xa7);
pub(crate) const CROSS_ZONE: RGBColor = RGBColor(0xf2, 0x8e, 0x2b);
