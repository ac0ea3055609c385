//! End-to-end tests of `spequlos report` and `spequlos plot` (built with `--features report`).
#![cfg(feature = "report")]

mod common;

use common::{ok, run, s};

use std::fs;
use std::path::Path;

fn is_png(p: &Path) -> bool {
    fs::read(p).is_ok_and(|b| b.len() > 5_000 && b.starts_with(b"\x89PNG\r\n\x1a\n"))
}

fn is_svg(p: &Path) -> bool {
    fs::read_to_string(p)
        .is_ok_and(|t| t.contains("<svg") && t.contains("</svg>") && t.contains("<text"))
}

#[test]
fn quick_sweep_report_has_tables_findings_and_five_figures() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    fs::write(
        &spec,
        r#"
name = "report-test"
[base.trace]
hosts = 300
days = 12
[axes]
trace = ["seti", "nd"]
middleware = ["boinc", "xwhep"]
strategy = ["none", "9C-G-F", "9C-G-R", "9C-G-D", "9A-G-D"]
offset_count = 5
[axes.params]
"cloud.speed_factor" = [2.0, 3.0]
"#,
    )
    .unwrap();
    let q = dir.path().join("q");
    ok(&["sweep", s(&spec), "--out", s(&q)]);
    let findings = ok(&["report", s(&q), "--parquet"]);
    assert_eq!(findings.lines().count(), 5, "{findings}");
    assert!(
        findings.contains("tail") && findings.contains("Oracle"),
        "{findings}"
    );
    for f in [
        "summary.csv",
        "summary_long.csv",
        "baselines.csv",
        "report.md",
        "runs.parquet",
        "summary.parquet",
    ] {
        assert!(q.join(f).is_file(), "{f}");
    }
    let summary = fs::read_to_string(q.join("summary.csv")).unwrap();
    let header = summary.lines().next().unwrap();
    for col in [
        "cloud.speed_factor",
        "tre_n",
        "tre_mean",
        "tre_median",
        "tre_p10",
        "tre_p90",
        "tail_slowdown_mean",
        "speedup_p90",
        "credits_spent_median",
        "cloud_share_mean",
        "oracle_success_50",
        "oracle_coverage_50",
        "oracle_delta_50",
        "oracle_best_alpha_90",
    ] {
        assert!(header.split(',').any(|c| c == col), "{col} in {header}");
    }
    // 2 traces × 2 middlewares × 1 workload × 2 Cloud speeds × 4 SpeQuloS strategies: the
    // swept parameter is a column, not pooled.
    assert_eq!(summary.lines().count(), 1 + 32);
    assert!(
        !summary.contains("NaN"),
        "no undefined value reaches a statistic"
    );
    let long = fs::read_to_string(q.join("summary_long.csv")).unwrap();
    assert!(long.starts_with(
        "trace_label,middleware.kind,workload_label,cloud.speed_factor,strategy,metric,unit,n,n_valid,mean,median,p10,p90\n"
    ));
    assert_eq!(long.lines().count(), 1 + 32 * 7);
    assert!(long.contains(",tre,fraction,") && long.contains(",completion_time,s,"));
    let md = fs::read_to_string(q.join("report.md")).unwrap();
    for part in [
        "## Findings",
        "## Baseline tails",
        "## Best strategy per group (highest median TRE)",
        "cloud.speed_factor=2.0",
        "## Strategies",
        "## Oracle success per completion point",
        "coverage at 50 %",
        "| **all** |",
        "![figures/completion.png]",
    ] {
        assert!(md.contains(part), "{part} in report.md");
    }
    for fig in [
        "completion",
        "tail_slowdown_cdf",
        "tre_by_strategy",
        "credits_vs_completion",
        "oracle",
    ] {
        assert!(is_png(&q.join(format!("figures/{fig}.png"))), "{fig}.png");
        assert!(is_svg(&q.join(format!("figures/{fig}.svg"))), "{fig}.svg");
    }
    // The report is a function of runs.csv.
    let first = fs::read(q.join("summary.csv")).unwrap();
    ok(&["report", s(&q), "--no-figures"]);
    assert_eq!(fs::read(q.join("summary.csv")).unwrap(), first);
}

#[test]
fn timeline_plot_of_a_sim_run_and_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    ok(&[
        "sim",
        "--hosts",
        "300",
        "--strategy",
        "9C-G-D",
        "--out",
        s(&d),
    ]);
    ok(&["plot", "timeline", s(&d)]);
    assert!(is_png(&d.join("timeline.png")) && is_svg(&d.join("timeline.svg")));
    let out = run(&["report", s(&dir.path().join("nothing"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs.csv"));
    let out = run(&["plot", "timeline", s(dir.path())]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_shared_grid_sweep_reports_how_users_fared_per_policy() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.txt");
    fs::write(
        &stream,
        "0 ann 80 3.6e6\n300 bob 60 3.6e6 40000\n600 ann 40 3.6e6\n900 cy 60 3.6e6 30000\n",
    )
    .unwrap();
    let spec = dir.path().join("spec.toml");
    fs::write(
        &spec,
        format!(
            r#"
name = "shared-test"
[base.trace]
hosts = 200
days = 12
[base.cloud]
cap = 4
credits = 200
[axes]
workload = ["stream:{}"]
strategy = ["none", "9C-G-R"]
offset_count = 4
[axes.params]
"cloud.share" = ["first-come", "credits", "max-min"]
"#,
            stream.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    ok(&["sweep", s(&spec), "--out", s(&out), "--quiet"]);
    ok(&["report", s(&out), "--quiet"]);
    let md = fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Shared grid: how the users fared"), "{md}");
    let fair = fs::read_to_string(out.join("fairness.csv")).unwrap();
    let rows: Vec<&str> = fair.lines().collect();
    assert!(rows[0].starts_with("group,strategy,runs,mean_user_speedup,worst_user_speedup,jain"));
    assert_eq!(rows.len(), 1 + 3, "one row per policy: {fair}");
    for row in &rows[1..] {
        let f: Vec<&str> = row.rsplitn(7, ',').collect();
        let jain: f64 = f[2].parse().unwrap();
        assert!((0.25..=1.0).contains(&jain), "{row}");
        assert!(row.contains(",9C-G-R,4,"), "{row}");
    }
    for policy in ["first-come", "credits", "max-min"] {
        let stem = out.join("figures").join(format!("fairness_{policy}"));
        assert!(is_png(&stem.with_extension("png")), "{policy}");
        assert!(is_svg(&stem.with_extension("svg")), "{policy}");
        assert!(md.contains(&format!("figures/fairness_{policy}.png")));
    }
}
