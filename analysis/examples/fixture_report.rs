//! Writes a synthetic scenario folder (the test fixture), draws its charts and its report.md:
//! `cargo run -p vidmesh-analysis --example fixture_report -- OUT_DIR [SCENARIO]`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: fixture_report OUT_DIR [SCENARIO]")?,
    );
    let scenario = args.next().unwrap_or_else(|| "rr_vs_score".to_string());
    let dir = common::write_fixture(&out, &common::Fixture::default());
    let opts = vidmesh_analysis::ChartOptions {
        title_prefix: Some(scenario.clone()),
        ..Default::default()
    };
    for p in vidmesh_analysis::render_all(&dir, &opts)? {
        println!("{}", p.display());
    }
    println!(
        "{}",
        vidmesh_analysis::write_report(&dir, &scenario)?.display()
    );
    Ok(())
}
