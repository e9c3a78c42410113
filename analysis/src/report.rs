//! `report.md` for one scenario: our summary, the report's published numbers next to ours, and
//! one line per finding saying whether it reproduced.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::published::{self, Check, Finding, Metric, PublishedScenario, Role};
use crate::records::ScenarioData;
use crate::stats::{client_stats, node_totals};

/// Whether a finding reproduced.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Reproduced,
    NotReproduced,
    /// The data needed is missing (file absent, strategy not in the run, no offloads, …).
    NotEvaluated(String),
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "NOT reproduced",
            Verdict::NotEvaluated(_) => "not evaluated",
        }
    }
}

/// One finding judged against our run.
#[derive(Clone, Debug, PartialEq)]
pub struct FindingResult {
    pub finding: Finding,
    /// The report's value(s), formatted.
    pub report: String,
    /// Our value(s), formatted.
    pub ours: String,
    pub verdict: Verdict,
}

/// Maps the report's roles to our strategy names: `overrides` first, then exact aliases, then
/// a strategy whose name contains an alias; a strategy plays at most one role. With a single
/// strategy in the run, it plays the one role a scenario needs (e.g. the failure scenarios).
pub fn resolve_roles(
    roles: &[Role],
    strategies: &[String],
    overrides: &BTreeMap<Role, String>,
) -> BTreeMap<Role, String> {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['-', ' '], "_");
    let mut out: BTreeMap<Role, String> = BTreeMap::new();
    for role in roles {
        if let Some(s) = overrides.get(role) {
            out.insert(*role, s.clone());
        }
    }
    let taken = |out: &BTreeMap<Role, String>, s: &str| out.values().any(|v| v == s);
    // exact aliases, in alias priority
    for role in roles {
        if out.contains_key(role) {
            continue;
        }
        let found = role.aliases().iter().find_map(|a| {
            strategies
                .iter()
                .find(|s| norm(s) == *a && !taken(&out, s))
                .cloned()
        });
        if let Some(s) = found {
            out.insert(*role, s);
        }
    }
    for role in roles {
        if out.contains_key(role) {
            continue;
        }
        let found = role.aliases().iter().find_map(|a| {
            strategies
                .iter()
                .find(|s| norm(s).contains(a) && !taken(&out, s))
                .cloned()
        });
        if let Some(s) = found {
            out.insert(*role, s);
        }
    }
    if roles.len() == 1 && strategies.len() == 1 && out.is_empty() {
        out.insert(roles[0], strategies[0].clone());
    }
    out
}

fn roles_of(p: &PublishedScenario) -> Vec<Role> {
    let mut v: Vec<Role> = Vec::new();
    for f in &p.findings {
        let rs: Vec<Role> = match f.check {
            Check::Greater { a, b, .. } | Check::Less { a, b, .. } => vec![a, b],
            Check::Near { role, .. } | Check::AtLeast { role, .. } | Check::AtMost { role, .. } => {
                vec![role]
            }
            Check::Convergence { .. } => vec![],
        };
        for r in rs {
            if !v.contains(&r) {
                v.push(r);
            }
        }
    }
    v
}

/// Why a finding could not be evaluated on our results.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmeasured {
    #[error("{0} is missing")]
    MissingFile(&'static str),
    #[error("strategy `{0}` is not in summary.csv")]
    NoStrategy(String),
    #[error("no {what} for `{strategy}`")]
    Nothing {
        what: &'static str,
        strategy: String,
    },
    #[error("no strategy plays the report's `{role}` role (have: {have})")]
    NoRole { role: &'static str, have: String },
}

/// Our value of `metric` for `strategy`, or why there is none.
pub fn metric_value(
    data: &ScenarioData,
    strategy: &str,
    metric: Metric,
) -> std::result::Result<f64, Unmeasured> {
    let summary = || {
        data.summary
            .as_deref()
            .ok_or(Unmeasured::MissingFile("summary.csv"))?
            .iter()
            .find(|r| r.strategy == strategy)
            .ok_or_else(|| Unmeasured::NoStrategy(strategy.to_string()))
    };
    let client = || {
        let rows = data
            .client_windows
            .as_deref()
            .ok_or(Unmeasured::MissingFile("client_windows.csv"))?;
        Ok::<_, Unmeasured>(client_stats(rows, strategy))
    };
    let none = |what: &'static str| Unmeasured::Nothing {
        what,
        strategy: strategy.to_string(),
    };
    match metric {
        Metric::AvgWindowSuccessPct => client()?
            .avg_window_success_pct
            .ok_or_else(|| none("client window with ended requests")),
        Metric::LatestWindowSuccessPct => client()?
            .latest_window_success_pct
            .ok_or_else(|| none("client window with ended requests")),
        Metric::MaxWindowLatencyMs => client()?
            .max_window_latency_ms
            .ok_or_else(|| none("successful request")),
        Metric::ZeroSuccessWindows => {
            let c = client()?;
            if c.windows_with_requests == 0 {
                Err(none("client window with ended requests"))
            } else {
                Ok(c.zero_success_windows as f64)
            }
        }
        Metric::SuccessRatePct => Ok(summary()?.success_rate * 100.0),
        Metric::AttemptSuccessPct => summary()?
            .attempt_success_pct
            .ok_or_else(|| none("client attempt")),
        Metric::Succeeded => Ok(summary()?.succeeded as f64),
        Metric::SameZoneOffloadPct => summary()?
            .same_zone_offload_share()
            .map(|s| s * 100.0)
            .ok_or_else(|| none("offload")),
        Metric::CrossZoneResponsePct => {
            let rows = data
                .node_windows
                .as_deref()
                .ok_or(Unmeasured::MissingFile("node_windows.csv"))?;
            let t = node_totals(rows, strategy);
            let cross: u64 = t.iter().map(|n| n.responses_cross_zone).sum();
            let all: u64 = t
                .iter()
                .map(|n| n.responses_same_zone + n.responses_cross_zone)
                .sum();
            if all == 0 {
                Err(none("response"))
            } else {
                Ok(100.0 * cross as f64 / all as f64)
            }
        }
    }
}

fn is_pct(metric: Metric) -> bool {
    matches!(
        metric,
        Metric::AvgWindowSuccessPct
            | Metric::LatestWindowSuccessPct
            | Metric::SuccessRatePct
            | Metric::AttemptSuccessPct
            | Metric::SameZoneOffloadPct
            | Metric::CrossZoneResponsePct
    )
}

/// The smallest difference that counts as one strategy beating another: 2 percentage points
/// for percentages, 5 % of the larger value otherwise. Smaller gaps are noise for single runs.
fn min_gap(metric: Metric, a: f64, b: f64) -> f64 {
    if is_pct(metric) {
        2.0
    } else {
        0.05 * a.abs().max(b.abs())
    }
}

fn fmt_gap(metric: Metric, gap: f64) -> String {
    if is_pct(metric) {
        format!("{gap:.1} points")
    } else {
        fmt(metric, gap)
    }
}

fn fmt(metric: Metric, v: f64) -> String {
    if v.is_nan() {
        return "—".to_string();
    }
    match metric {
        Metric::AvgWindowSuccessPct
        | Metric::LatestWindowSuccessPct
        | Metric::SuccessRatePct
        | Metric::AttemptSuccessPct
        | Metric::SameZoneOffloadPct
        | Metric::CrossZoneResponsePct => format!("{v:.1}%"),
        Metric::Succeeded | Metric::ZeroSuccessWindows => format!("{v:.0}"),
        Metric::MaxWindowLatencyMs => format!("{v:.0} ms"),
    }
}

/// Judges every finding of `published` against `data`.
pub fn evaluate(
    published: &PublishedScenario,
    data: &ScenarioData,
    overrides: &BTreeMap<Role, String>,
) -> Vec<FindingResult> {
    let roles = resolve_roles(&roles_of(published), &data.strategies(), overrides);
    let value = |role: Role, metric: Metric| -> std::result::Result<(String, f64), Unmeasured> {
        let s = roles.get(&role).ok_or_else(|| Unmeasured::NoRole {
            role: role.as_str(),
            have: data.strategies().join(", "),
        })?;
        metric_value(data, s, metric).map(|v| (s.clone(), v))
    };
    published
        .findings
        .iter()
        .map(|f| {
            let (report, ours, verdict) = match f.check {
                Check::Greater {
                    metric,
                    a,
                    b,
                    report_a,
                    report_b,
                }
                | Check::Less {
                    metric,
                    a,
                    b,
                    report_a,
                    report_b,
                } => {
                    let greater = matches!(f.check, Check::Greater { .. });
                    let report = format!(
                        "{} {} vs {} {}",
                        a.as_str(),
                        fmt(metric, report_a),
                        b.as_str(),
                        fmt(metric, report_b)
                    );
                    match (value(a, metric), value(b, metric)) {
                        (Ok((sa, va)), Ok((sb, vb))) => {
                            let gap = min_gap(metric, va, vb);
                            let wins = if greater { va > vb } else { va < vb };
                            let tie = (va - vb).abs() < gap;
                            let mut ours =
                                format!("{sa} {} vs {sb} {}", fmt(metric, va), fmt(metric, vb));
                            if tie {
                                let _ =
                                    write!(ours, " (closer than {}: a tie)", fmt_gap(metric, gap));
                            }
                            (
                                report,
                                ours,
                                if wins && !tie {
                                    Verdict::Reproduced
                                } else {
                                    Verdict::NotReproduced
                                },
                            )
                        }
                        (Err(e), _) | (_, Err(e)) => (
                            report,
                            "—".to_string(),
                            Verdict::NotEvaluated(e.to_string()),
                        ),
                    }
                }
                Check::Near {
                    metric,
                    role,
                    report,
                    tolerance,
                } => {
                    let rep = format!("{} {}", role.as_str(), fmt(metric, report));
                    match value(role, metric) {
                        Ok((s, v)) => (
                            rep,
                            format!("{s} {}", fmt(metric, v)),
                            if (v - report).abs() <= tolerance {
                                Verdict::Reproduced
                            } else {
                                Verdict::NotReproduced
                            },
                        ),
                        Err(e) => (rep, "—".to_string(), Verdict::NotEvaluated(e.to_string())),
                    }
                }
                Check::AtLeast {
                    metric,
                    role,
                    report,
                    min: bound,
                }
                | Check::AtMost {
                    metric,
                    role,
                    report,
                    max: bound,
                } => {
                    let at_least = matches!(f.check, Check::AtLeast { .. });
                    let rep = if report.is_nan() {
                        format!("{}: qualitative (see finding)", role.as_str())
                    } else {
                        format!("{} {}", role.as_str(), fmt(metric, report))
                    };
                    match value(role, metric) {
                        Ok((s, v)) => {
                            let ok = if at_least { v >= bound } else { v <= bound };
                            (
                                rep,
                                format!(
                                    "{s} {} (needs {} {})",
                                    fmt(metric, v),
                                    if at_least { "≥" } else { "≤" },
                                    fmt(metric, bound)
                                ),
                                if ok {
                                    Verdict::Reproduced
                                } else {
                                    Verdict::NotReproduced
                                },
                            )
                        }
                        Err(e) => (rep, "—".to_string(), Verdict::NotEvaluated(e.to_string())),
                    }
                }
                Check::Convergence { max_rounds, max_s } => {
                    let rep = format!("all nodes in 2–{max_rounds} cycles, ≤ {max_s:.1} s");
                    match data.convergence.as_deref().filter(|r| !r.is_empty()) {
                        None => (
                            rep,
                            "—".to_string(),
                            Verdict::NotEvaluated(
                                "convergence.csv is missing or empty".to_string(),
                            ),
                        ),
                        Some(rows) => {
                            let never: Vec<String> = rows
                                .iter()
                                .filter(|r| r.time_to_full_view_ms.is_none() || r.rounds.is_none())
                                .map(|r| format!("{}/{}", r.strategy, r.node))
                                .collect();
                            let rounds: Vec<u64> = rows.iter().filter_map(|r| r.rounds).collect();
                            let times: Vec<u64> =
                                rows.iter().filter_map(|r| r.time_to_full_view_ms).collect();
                            let max_t = times
                                .iter()
                                .max()
                                .map(|t| *t as f64 / 1000.0)
                                .unwrap_or(0.0);
                            let min_t = times
                                .iter()
                                .min()
                                .map(|t| *t as f64 / 1000.0)
                                .unwrap_or(0.0);
                            let ours = if rounds.is_empty() {
                                "no node reached a full view".to_string()
                            } else {
                                let (lo, hi) =
                                    (rounds.iter().min().unwrap(), rounds.iter().max().unwrap());
                                format!(
                                    "{} rounds, {min_t:.2}–{max_t:.2} s{}",
                                    if lo == hi {
                                        lo.to_string()
                                    } else {
                                        format!("{lo}–{hi}")
                                    },
                                    if never.is_empty() {
                                        String::new()
                                    } else {
                                        format!("; never: {}", never.join(", "))
                                    }
                                )
                            };
                            let ok = never.is_empty()
                                && !rounds.is_empty()
                                && rounds.iter().all(|r| *r <= max_rounds)
                                && max_t <= max_s;
                            (
                                rep,
                                ours,
                                if ok {
                                    Verdict::Reproduced
                                } else {
                                    Verdict::NotReproduced
                                },
                            )
                        }
                    }
                }
            };
            FindingResult {
                finding: f.clone(),
                report,
                ours,
                verdict,
            }
        })
        .collect()
}

/// What a check measures, for the table.
fn measure(check: &Check) -> String {
    match check {
        Check::Greater { metric, .. }
        | Check::Less { metric, .. }
        | Check::Near { metric, .. }
        | Check::AtLeast { metric, .. }
        | Check::AtMost { metric, .. } => metric.describe().to_string(),
        Check::Convergence { .. } => "gossip rounds and time to a full view".to_string(),
    }
}

/// Escapes `|` so a value cannot break a Markdown table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The Markdown of `report.md` for `scenario`.
pub fn render_report(
    scenario: &str,
    data: &ScenarioData,
    overrides: &BTreeMap<Role, String>,
) -> String {
    let mut md = String::new();
    let published = published::for_scenario(scenario);
    let _ = writeln!(md, "# `{scenario}`: our run next to the report\n");
    match &published {
        Some(p) => {
            let _ = writeln!(
                md,
                "The report's experiment: **{}** ({}). Source: *Decentralized Video Transcoding with \
                 Adaptive Offloading and Gossip-Driven Peer Discovery* (CS 553 project report, \
                 Spring 2025). Its numbers are single live runs; ours come from this folder's CSVs.\n",
                p.title, p.citation
            );
            let roles = resolve_roles(&roles_of(p), &data.strategies(), overrides);
            if !roles.is_empty() {
                let list: Vec<String> = roles
                    .iter()
                    .map(|(r, s)| format!("{} → `{s}`", r.as_str()))
                    .collect();
                let _ = writeln!(
                    md,
                    "Strategies standing for the report's: {}.\n",
                    list.join(", ")
                );
            }
        }
        None => {
            let _ = writeln!(
                md,
                "The report published no numbers for this scenario; only our results follow.\n"
            );
        }
    }

    let _ = writeln!(md, "## Our results\n");
    match data.summary.as_deref() {
        Some(rows) if !rows.is_empty() => {
            let _ = writeln!(
                md,
                "| strategy | requests | succeeded | success rate | avg window success | timeouts | rejected | failed | goodput (req/s) | latency mean / p50 / p95 (s) | offloads same / cross zone |"
            );
            let _ = writeln!(
                md,
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for r in rows {
                let avg = data
                    .client_windows
                    .as_deref()
                    .and_then(|cw| client_stats(cw, &r.strategy).avg_window_success_pct)
                    .map(|v| format!("{v:.1}%"))
                    .unwrap_or_else(|| "—".to_string());
                let s = |v: Option<f64>| {
                    v.map(|v| format!("{:.2}", v / 1000.0))
                        .unwrap_or_else(|| "—".to_string())
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {:.1}% | {} | {} | {} | {} | {:.3} | {} / {} / {} | {} / {} |",
                    cell(&r.strategy),
                    r.requests,
                    r.succeeded,
                    r.success_rate * 100.0,
                    avg,
                    r.timeouts,
                    r.rejected,
                    r.failed,
                    r.goodput_per_s,
                    s(r.latency_mean_ms),
                    s(r.latency_p50_ms),
                    s(r.latency_p95_ms),
                    r.offloads_same_zone,
                    r.offloads_cross_zone
                );
            }
            md.push('\n');
        }
        _ => {
            let _ = writeln!(md, "summary.csv is missing or empty.\n");
        }
    }

    if let Some(p) = &published {
        let results = evaluate(p, data, overrides);
        let _ = writeln!(md, "## The report's findings next to ours\n");
        let _ = writeln!(
            md,
            "| finding | report source | measure | report | ours | verdict |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for r in &results {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                cell(r.finding.claim),
                cell(r.finding.citation),
                cell(&measure(&r.finding.check)),
                cell(&r.report),
                cell(&r.ours),
                r.verdict.word()
            );
        }
        md.push('\n');
        let _ = writeln!(md, "## Verdicts\n");
        for r in &results {
            let why = match &r.verdict {
                Verdict::NotEvaluated(e) => format!(" ({e})"),
                _ => format!(": report {}; ours {}", r.report, r.ours),
            };
            let _ = writeln!(
                md,
                "- **{}** — {} [{}]{why}.",
                r.verdict.word(),
                r.finding.claim,
                r.finding.citation
            );
        }
        let n = results.len();
        let yes = results
            .iter()
            .filter(|r| r.verdict == Verdict::Reproduced)
            .count();
        let skipped = results
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::NotEvaluated(_)))
            .count();
        let _ = writeln!(
            md,
            "\n{yes} of {n} findings reproduced, {} not reproduced, {skipped} not evaluated.\n",
            n - yes - skipped
        );
    }

    let charts: Vec<&str> = CHART_TITLES
        .iter()
        .filter(|(stem, _)| data.dir.join(format!("{stem}.png")).exists())
        .map(|(stem, _)| *stem)
        .collect();
    if !charts.is_empty() {
        let _ = writeln!(md, "## Charts\n");
        for stem in charts {
            let title = CHART_TITLES
                .iter()
                .find(|(s, _)| *s == stem)
                .map(|(_, t)| *t)
                .unwrap_or(stem);
            let _ = writeln!(md, "### {title}\n\n![{title}]({stem}.png)\n");
        }
    }
    md
}

const CHART_TITLES: &[(&str, &str)] = &[
    (
        "client_success_pct",
        "Client success % per window over time",
    ),
    (
        "client_attempt_success",
        "Successful attempts / attempts, cumulative (the report's \"throughput %\")",
    ),
    ("client_latency", "Client mean latency over time"),
    ("latency_cdf", "Latency CDF"),
    ("offloads_per_node", "Offloads per node"),
    ("responses_per_node", "Responses per node"),
    ("node_queue_len", "Queue length per node"),
    ("node_cpu_pct", "CPU per node"),
    ("gossip_convergence", "Gossip convergence"),
    ("failure_detection", "Failure detection"),
    ("sweep", "Seed sweep"),
];

/// Reads `dir`, writes `<dir>/report.md` for `scenario`, and returns its path.
pub fn write_report(dir: &Path, scenario: &str) -> Result<PathBuf> {
    let data = ScenarioData::load(dir)?;
    write_report_for(&data, scenario, &BTreeMap::new())
}

/// Writes `<data.dir>/report.md` from data already read, with explicit role assignments.
pub fn write_report_for(
    data: &ScenarioData,
    scenario: &str,
    overrides: &BTreeMap<Role, String>,
) -> Result<PathBuf> {
    if scenario.is_empty() {
        return Err(Error::Invalid("scenario name is empty".to_string()));
    }
    let path = data.dir.join("report.md");
    std::fs::write(&path, render_report(scenario, data, overrides))
        .map_err(|e| Error::io(&path, e))?;
    Ok(path)
}
