//! vidmesh-analysis: reads the CSVs `sim run` and `sim live` write (docs/metrics.md), draws them
//! as PNG and SVG charts, aggregates seed sweeps with confidence intervals, writes a `report.md`
//! that sets the original report's published numbers next to ours, and compares a simulated run
//! with a live one.

pub mod chaos;
pub mod charts;
pub mod compare;
pub mod csvio;
pub mod error;
pub mod published;
pub mod records;
pub mod report;
pub mod stats;
pub mod sweep;

pub use charts::{render_all, render_scenario, ChartOptions};
pub use compare::{compare, write_comparison, Comparison};
pub use csvio::{parse_csv, read_csv, Record};
pub use error::{Error, Result};
pub use records::{
    ClientWindowRow, ConvergenceRow, EventKind, EventRow, FailureDetectionRow, NodeWindowRow,
    Outcome, RequestRow, ScenarioData, SummaryRow,
};
pub use report::{write_report, write_report_for};
pub use sweep::{aggregate_sweep, write_sweep, write_sweep_csv, SweepRow};
