//! `spequlos report DIR`: statistics per combination of every axis the sweep varies (trace,
//! middleware, workload, every scenario parameter that takes several values, strategy), the
//! baseline tails, the best strategy per group, the HPDC'12 findings the sweep can check, and
//! the figures. The metrics are defined in docs/metrics.md.
//!
//! Outputs in DIR: `summary.csv` (one row per group and strategy; for every metric its mean,
//! median, p10, p90 and `_n`, the runs where it is defined), `summary_long.csv` (the same,
//! one row per group, strategy and metric, with its unit), `baselines.csv` (tail statistics
//! per group), `report.md`, `figures/*.png|svg`, and with `--parquet` `runs.parquet` and
//! `summary.parquet`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use spequlos_core::oracle::GRID;
use spequlos_core::{OracleKey, OracleParams, Strategy};

use crate::analysis::{self, Finding, OracleRun, Pooled};
use crate::figures;

/// Completion points (percent) at which the report scores the Oracle.
const ORACLE_POINTS: [u32; 4] = [25, 50, 75, 90];
/// Index of 50 % in [`ORACLE_POINTS`], where the target is stated.
const AT_50: usize = 1;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Input(String),
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{0}")]
    Polars(#[from] PolarsError),
    #[error("figure: {0}")]
    Figure(#[from] crate::figures::FigureError),
}

pub struct ReportOptions {
    pub parquet: bool,
    pub figures: bool,
}

/// What the report wrote.
#[derive(Debug, Clone)]
pub struct ReportSummary {
    pub runs: usize,
    pub groups: usize,
    pub files: Vec<PathBuf>,
    pub findings: Vec<Finding>,
}

const GROUP: [&str; 3] = ["trace_label", "middleware.kind", "workload_label"];

/// What differs between the runs of one group and strategy on purpose: their statistics are
/// taken over these.
const REPLICATES: [&str; 2] = ["trace.offset", "seed"];

/// Parameters only SpeQuloS reads: a baseline is shared by runs that differ in them.
fn speq_only(param: &str) -> bool {
    ["cloud.", "qos.", "oracle."]
        .iter()
        .any(|p| param.starts_with(p))
}

/// A strategy is ranked in its group only on at least this many runs with a TRE.
const MIN_TRE_RUNS: f64 = 5.0;

/// The metrics of the summaries, with their units (docs/metrics.md).
const METRICS: [(&str, &str); 7] = [
    ("tre", "fraction"),
    ("tail_slowdown", "ratio"),
    ("speedup", "ratio"),
    ("credits_spent", "credits"),
    ("credits_ordered", "credits"),
    ("cloud_share", "fraction"),
    ("completion_time", "s"),
];

/// The scenario parameters (besides trace, middleware and workload) that take more than one
/// value among the runs of one trace × middleware × workload, replicates aside: an
/// `[axes.params]` axis, or anything else that varies. Each becomes a column of the
/// summaries, so that no statistic pools runs of different settings.
fn factors(df: &DataFrame) -> Result<Vec<String>, ReportError> {
    let base: Vec<Vec<String>> = GROUP
        .iter()
        .map(|c| strs(df, c))
        .collect::<Result<_, _>>()?;
    let skip: Vec<&str> = GROUP
        .iter()
        .chain(REPLICATES.iter())
        .copied()
        .chain(["strategy"])
        .collect();
    let mut out = Vec::new();
    for c in spequlos_sim::scenario::Scenario::param_columns() {
        if skip.contains(&c.as_str()) || df.column(c).is_err() {
            continue;
        }
        let v = strs(df, c)?;
        let mut seen: BTreeMap<(&str, &str, &str), &str> = BTreeMap::new();
        let varies = (0..df.height()).any(|i| {
            let k = (
                base[0][i].as_str(),
                base[1][i].as_str(),
                base[2][i].as_str(),
            );
            *seen.entry(k).or_insert(v[i].as_str()) != v[i]
        });
        if varies {
            out.push(c.clone());
        }
    }
    Ok(out)
}

/// `col=value` pairs naming a run's settings of the `factors`, in their order.
fn factor_label(factors: &[String], values: &[Vec<String>], i: usize) -> String {
    factors
        .iter()
        .zip(values)
        .map(|(f, v)| format!("{f}={}", v[i]))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Linear-interpolation quantile of the finite values of `name`.
fn stat(name: &str, what: &str) -> Expr {
    let x = col(name).filter(col(name).is_not_nan());
    let e = match what {
        "mean" => x.mean(),
        "median" => x.median(),
        "p10" => x.quantile(lit(0.1), QuantileMethod::Linear),
        "p90" => x.quantile(lit(0.9), QuantileMethod::Linear),
        _ => unreachable!("known statistic"),
    };
    e.alias(format!("{name}_{what}"))
}

/// Runs, then for each metric its runs where it is defined (`_n`) and its statistics over
/// them: an undefined value (NaN) never enters a mean.
fn stats(names: &[&str]) -> Vec<Expr> {
    let mut out = vec![col("run_id").count().alias("n")];
    for n in names {
        out.push(
            col(*n)
                .filter(col(*n).is_not_nan())
                .count()
                .alias(format!("{n}_n")),
        );
        for w in ["mean", "median", "p10", "p90"] {
            out.push(stat(n, w));
        }
    }
    out
}

fn read_runs(dir: &Path) -> Result<DataFrame, ReportError> {
    let path = dir.join("runs.csv");
    if !path.is_file() {
        return Err(ReportError::Input(format!(
            "{}: no runs.csv (run `spequlos sweep` first)",
            dir.display()
        )));
    }
    let text = path.to_string_lossy().into_owned();
    let df = LazyCsvReader::new(PlRefPath::from(text.as_str()))
        .with_has_header(true)
        .with_infer_schema_length(None)
        .finish()?
        .collect()
        .map_err(|e| ReportError::Input(format!("{}: {e}", path.display())))?;
    for c in [
        "run_id",
        "run",
        "strategy",
        "trace_label",
        "middleware.kind",
        "workload_label",
        "tre",
        "completion_time",
    ] {
        if df.column(c).is_err() {
            return Err(ReportError::Input(format!(
                "{}: column `{c}` is missing",
                path.display()
            )));
        }
    }
    if df.height() == 0 {
        return Err(ReportError::Input(format!("{}: no run", path.display())));
    }
    Ok(df)
}

fn f64s(df: &DataFrame, name: &str) -> Result<Vec<f64>, ReportError> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn strs(df: &DataFrame, name: &str) -> Result<Vec<String>, ReportError> {
    let c = df.column(name)?.cast(&DataType::String)?;
    Ok(c.str()?
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect())
}

fn write_csv(df: &mut DataFrame, path: &Path) -> Result<(), ReportError> {
    let mut f = File::create(path).map_err(|err| ReportError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    CsvWriter::new(&mut f).include_header(true).finish(df)?;
    Ok(())
}

fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<(), ReportError> {
    let f = File::create(path).map_err(|err| ReportError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    ParquetWriter::new(f).finish(df)?;
    Ok(())
}

/// Per-run data the Oracle evaluation and the figures need.
pub struct RunsView {
    pub run: Vec<String>,
    pub strategy: Vec<String>,
    /// trace/middleware/workload, then the run's settings of every other varied parameter.
    pub group: Vec<String>,
    /// The run's settings of the varied parameters (`factor=value ...`), empty without any.
    pub settings: Vec<String>,
    pub workload: Vec<String>,
    pub trace: Vec<String>,
    pub middleware: Vec<String>,
    pub completion: Vec<f64>,
    pub tail_slowdown: Vec<f64>,
    pub tre: Vec<f64>,
    pub speedup: Vec<f64>,
    pub credits_spent: Vec<f64>,
    pub cloud_share: Vec<f64>,
    /// When completion reached each 5 % (the Oracle's grid), seconds.
    pub at: Vec<[f64; GRID]>,
    pub run_id: Vec<f64>,
    /// The run's history key and Oracle settings.
    pub oracle_key: Vec<OracleKey>,
    pub oracle_params: Vec<OracleParams>,
}

fn view(df: &DataFrame, factors: &[String]) -> Result<RunsView, ReportError> {
    let trace = strs(df, "trace_label")?;
    let middleware = strs(df, "middleware.kind")?;
    let workload = strs(df, "workload_label")?;
    let fv: Vec<Vec<String>> = factors
        .iter()
        .map(|f| strs(df, f))
        .collect::<Result<_, _>>()?;
    let run = strs(df, "run")?;
    // A baseline serves every setting of the parameters only SpeQuloS reads.
    let (bf, bv): (Vec<String>, Vec<Vec<String>>) = factors
        .iter()
        .cloned()
        .zip(fv.iter().cloned())
        .filter(|(f, _)| !speq_only(f))
        .unzip();
    let (mut group, mut settings) = (Vec::new(), Vec::new());
    for i in 0..df.height() {
        let (f, v) = if run[i] == "baseline" {
            (&bf, &bv)
        } else {
            (&factors.to_vec(), &fv)
        };
        group.push(group_name(&trace[i], &middleware[i], &workload[i], f, v, i));
        settings.push(factor_label(f, v, i));
    }
    let grid_cols: Vec<Vec<f64>> = (0..GRID)
        .map(|i| {
            let name = format!("t{:02}", analysis::point_percent(i));
            if df.column(&name).is_err() {
                return Err(ReportError::Input(format!(
                    "runs.csv has no column `{name}` (completion times at each 5 %): it was \
                     written by an older spequlos; run the sweep again into a new directory"
                )));
            }
            f64s(df, &name)
        })
        .collect::<Result<_, _>>()?;
    let strategy = strs(df, "strategy")?;
    let mut oracle_key = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let parsed: Strategy = strategy[i].parse().map_err(|e| {
            ReportError::Input(format!("runs.csv row {}: column strategy: {e}", i + 2))
        })?;
        let bots = group[i]
            .strip_prefix(&format!("{}/{}/", trace[i], middleware[i]))
            .unwrap_or(&group[i])
            .to_string();
        oracle_key
            .push(OracleKey::new(format!("{}/{}", trace[i], middleware[i]), parsed).for_bots(bots));
    }
    // Each run's Oracle settings, from its `oracle.*` columns through OracleParams' own serde
    // form (defaults for what a column lacks, the field named when a value is refused).
    let oracle_cols: Vec<(String, Vec<String>)> = df
        .get_column_names()
        .iter()
        .filter_map(|c| {
            c.strip_prefix("oracle.")
                .map(|f| (c.to_string(), f.to_string()))
        })
        .map(|(c, f)| strs(df, &c).map(|v| (f, v)))
        .collect::<Result<_, _>>()?;
    let oracle_params = (0..df.height())
        .map(|i| {
            let fields: serde_json::Map<String, serde_json::Value> = oracle_cols
                .iter()
                .filter(|(_, v)| !v[i].is_empty())
                .map(|(f, v)| (f.clone(), csv_value(&v[i])))
                .collect();
            serde_json::from_value::<OracleParams>(fields.into())
                .map_err(|e| ReportError::Input(format!("runs.csv row {}: oracle.*: {e}", i + 2)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RunsView {
        run,
        strategy,
        group,
        settings,
        workload,
        trace,
        middleware,
        completion: f64s(df, "completion_time")?,
        tail_slowdown: f64s(df, "tail_slowdown")?,
        tre: f64s(df, "tre")?,
        speedup: f64s(df, "speedup")?,
        credits_spent: f64s(df, "credits_spent")?,
        cloud_share: f64s(df, "cloud_share")?,
        at: (0..df.height())
            .map(|i| std::array::from_fn(|k| grid_cols[k][i]))
            .collect(),
        run_id: f64s(df, "run_id")?,
        oracle_key,
        oracle_params,
    })
}

/// A CSV cell as the JSON value serde reads: an integer, a number, or text.
fn csv_value(cell: &str) -> serde_json::Value {
    if let Ok(n) = cell.parse::<i64>() {
        n.into()
    } else if let Ok(x) = cell.parse::<f64>() {
        x.into()
    } else {
        cell.into()
    }
}

/// A group's name: `trace/middleware/workload`, then its `factor=value` settings.
fn group_name(
    trace: &str,
    middleware: &str,
    workload: &str,
    factors: &[String],
    values: &[Vec<String>],
    i: usize,
) -> String {
    let mut g = format!("{trace}/{middleware}/{workload}");
    if !factors.is_empty() {
        g.push(' ');
        g.push_str(&factor_label(factors, values, i));
    }
    g
}

pub fn report(dir: &Path, opts: &ReportOptions) -> Result<ReportSummary, ReportError> {
    let mut runs = read_runs(dir)?;
    let factors = factors(&runs)?;
    let v = view(&runs, &factors)?;
    let mut files = Vec::new();

    // The core's Oracle, leave-one-out, per (group, strategy).
    let times: Vec<OracleRun> = (0..v.run.len())
        .map(|i| OracleRun {
            key: v.oracle_key[i].clone(),
            params: v.oracle_params[i].clone(),
            completion: v.completion[i],
            at: v.at[i],
            credits_spent: v.credits_spent[i].max(0.0) as u64,
        })
        .collect();
    let loo = analysis::oracle_loo(&times);

    let lazy = runs.clone().lazy();
    let mut by: Vec<String> = GROUP.iter().map(|c| c.to_string()).collect();
    by.extend(factors.iter().cloned());
    let mut base_by = by.clone();
    base_by.retain(|c| !speq_only(c));
    by.push("strategy".into());
    let metric_names: Vec<&str> = METRICS.iter().map(|m| m.0).collect();
    let mut summary = lazy
        .clone()
        .filter(col("run").eq(lit("speq")))
        .group_by(by.iter().map(|c| col(c.as_str())).collect::<Vec<_>>())
        .agg(stats(&metric_names))
        .sort(by.clone(), SortMultipleOptions::default())
        .collect()?;
    let mut base_stats = stats(&["tail_slowdown", "completion_time", "t_ideal"]);
    if runs.column("has_tail").is_ok() {
        // Baselines with a tail, per group: TRE is defined only for runs paired with one.
        // (runs.csv files written before `has_tail` existed go without.)
        base_stats.push(
            col("has_tail")
                .cast(DataType::UInt32)
                .sum()
                .alias("with_tail"),
        );
    }
    let mut baselines = lazy
        .filter(col("run").eq(lit("baseline")))
        .group_by(base_by.iter().map(|c| col(c.as_str())).collect::<Vec<_>>())
        .agg(base_stats)
        .sort(base_by.clone(), SortMultipleOptions::default())
        .collect()?;

    // Oracle success columns, at each completion point.
    let keys: Vec<String> = {
        let t = strs(&summary, "trace_label")?;
        let m = strs(&summary, "middleware.kind")?;
        let w = strs(&summary, "workload_label")?;
        let s = strs(&summary, "strategy")?;
        let fv: Vec<Vec<String>> = factors
            .iter()
            .map(|f| strs(&summary, f))
            .collect::<Result<_, _>>()?;
        (0..summary.height())
            .map(|i| {
                format!(
                    "{}/{}",
                    group_name(&t[i], &m[i], &w[i], &factors, &fv, i),
                    s[i]
                )
            })
            .collect()
    };
    for percent in ORACLE_POINTS {
        let scores: Vec<Option<analysis::PointScore>> = keys
            .iter()
            .map(|key| {
                loo.get(key)
                    .and_then(|k| k.score(analysis::point_index(percent)))
            })
            .collect();
        // Empty, not NaN, where a group has no calibrated prediction (too few runs).
        let col_of = |f: fn(&analysis::PointScore) -> f64| -> Vec<Option<f64>> {
            scores
                .iter()
                .map(|s| s.as_ref().map(f).filter(|x| x.is_finite()))
                .collect()
        };
        for (name, values) in [
            ("oracle_success", col_of(|s| s.success)),
            ("oracle_coverage", col_of(|s| s.coverage)),
            ("oracle_delta", col_of(|s| s.delta)),
            ("oracle_best_alpha", col_of(|s| s.best_alpha)),
        ] {
            let name = format!("{name}_{percent}");
            summary.with_column(Column::new(name.into(), values))?;
        }
    }

    let summary_path = dir.join("summary.csv");
    write_csv(&mut summary, &summary_path)?;
    files.push(summary_path);
    let long_path = dir.join("summary_long.csv");
    let long = long_summary(&summary, &by)?;
    fs::write(&long_path, long).map_err(|err| ReportError::Io {
        path: long_path.clone(),
        err,
    })?;
    files.push(long_path);
    let baselines_path = dir.join("baselines.csv");
    write_csv(&mut baselines, &baselines_path)?;
    files.push(baselines_path);
    if opts.parquet {
        for (df, name) in [
            (&mut runs, "runs.parquet"),
            (&mut summary, "summary.parquet"),
        ] {
            let p = dir.join(name);
            write_parquet(df, &p)?;
            files.push(p);
        }
    }

    // Findings.
    let mut pooled = Pooled::default();
    for i in 0..v.run.len() {
        if v.run[i] == "baseline" {
            pooled.baseline_tail_slowdown.push(v.tail_slowdown[i]);
        } else {
            pooled
                .tre
                .entry(v.strategy[i].clone())
                .or_default()
                .push(v.tre[i]);
            pooled
                .speedup
                .entry(v.strategy[i].clone())
                .or_default()
                .push(v.speedup[i]);
            pooled.cloud_share.push(v.cloud_share[i]);
        }
    }
    let sum_keys = keys.clone();
    let speed = f64s(&summary, "speedup_median")?;
    for (k, s) in sum_keys.iter().zip(speed) {
        pooled.group_speedup.insert(k.clone(), s);
    }
    pooled.oracle_success_50 = f64s(&summary, "oracle_success_50")?;
    let findings = analysis::findings(&pooled);

    // Figures.
    let fig_dir = dir.join("figures");
    let mut figure_files = Vec::new();
    if opts.figures {
        fs::create_dir_all(&fig_dir).map_err(|err| ReportError::Io {
            path: fig_dir.clone(),
            err,
        })?;
        figure_files =
            figures::report_figures(dir, &fig_dir, &v, &loo).map_err(ReportError::Figure)?;
        files.extend(figure_files.iter().cloned());
    }

    // A stream sweep: how its users fared, per share policy.
    let policy = match runs.column("cloud.share") {
        Ok(_) => strs(&runs, "cloud.share")?,
        Err(_) => vec![String::new(); v.run.len()],
    };
    let policy: Vec<String> = policy
        .into_iter()
        .map(|p| if p.is_empty() { "first-come".into() } else { p })
        .collect();
    let shared =
        crate::fairness::fairness(dir, &v, &policy, opts.figures.then_some(fig_dir.as_path()))?;
    let deadlines = crate::market::market(dir, &v)?;

    let base_factors: Vec<String> = factors.iter().filter(|f| !speq_only(f)).cloned().collect();
    let md = markdown(
        dir,
        &summary,
        &baselines,
        &factors,
        &base_factors,
        &findings,
        &figure_files,
        v.run.len(),
    )?;
    let mut md = md;
    if let Some(section) = shared {
        md.push_str(&section.markdown);
        files.extend(section.files);
    }
    if let Some(section) = deadlines {
        md.push_str(&section.markdown);
        files.extend(section.files);
    }
    let md_path = dir.join("report.md");
    fs::write(&md_path, md).map_err(|err| ReportError::Io {
        path: md_path.clone(),
        err,
    })?;
    files.push(md_path);
    Ok(ReportSummary {
        runs: v.run.len(),
        groups: summary.height(),
        files,
        findings,
    })
}

/// A CSV field, quoted when it must be.
pub(crate) fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// `summary.csv` reshaped long (tidy): one row per group, strategy and metric, with the
/// metric's unit; an undefined statistic is an empty field.
fn long_summary(summary: &DataFrame, by: &[String]) -> Result<String, ReportError> {
    let keys: Vec<Vec<String>> = by
        .iter()
        .map(|c| strs(summary, c))
        .collect::<Result<_, _>>()?;
    let mut out: Vec<String> = by.iter().map(|c| csv_field(c)).collect();
    out.extend(
        [
            "metric", "unit", "n", "n_valid", "mean", "median", "p10", "p90",
        ]
        .map(String::from),
    );
    let mut text = out.join(",");
    text.push('\n');
    let n = f64s(summary, "n")?;
    let mut cols = Vec::new();
    for (m, unit) in METRICS {
        let mut c = vec![f64s(summary, &format!("{m}_n"))?];
        for w in ["mean", "median", "p10", "p90"] {
            c.push(f64s(summary, &format!("{m}_{w}"))?);
        }
        cols.push((m, unit, c));
    }
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x}")
        } else {
            String::new()
        }
    };
    for i in 0..summary.height() {
        for (m, unit, c) in &cols {
            let mut row: Vec<String> = keys.iter().map(|k| csv_field(&k[i])).collect();
            row.push((*m).to_string());
            row.push((*unit).to_string());
            row.push(num(n[i]));
            row.extend(c.iter().map(|v| num(v[i])));
            text.push_str(&row.join(","));
            text.push('\n');
        }
    }
    Ok(text)
}

fn fmt(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "–".into()
    }
}

/// Strategies whose Cloud workers take the tail's tasks (usage R or D): the Oracle's target
/// is stated for them.
fn removes_tail(strategy: &str) -> bool {
    strategy.ends_with("-R") || strategy.ends_with("-D")
}

/// The Oracle's leave-one-out record for the strategies that remove the tail, per trace ×
/// middleware: success within ±20 % at each point (mean over groups, and how many reach
/// 90 %), the interval's coverage against its target and its median half-width, and for the
/// groups below 90 % at 50 % whether any single α could have reached it. Then the groups
/// that miss, worst first, with what their runs did.
fn oracle_table(
    md: &mut String,
    summary: &DataFrame,
    factors: &[String],
    trace: &[String],
    middleware: &[String],
    strategy: &[String],
) -> Result<(), ReportError> {
    let col = |name: &str, p: u32| f64s(summary, &format!("{name}_{p}"));
    let success: Vec<Vec<f64>> = ORACLE_POINTS
        .iter()
        .map(|&p| col("oracle_success", p))
        .collect::<Result<_, _>>()?;
    let (cover50, delta50, best50) = (
        col("oracle_coverage", 50)?,
        col("oracle_delta", 50)?,
        col("oracle_best_alpha", 50)?,
    );
    let target = f64s(summary, "oracle.target_success")
        .ok()
        .and_then(|t| t.into_iter().find(|x| x.is_finite()))
        .unwrap_or(OracleParams::default().target_success);
    #[derive(Default)]
    struct Row {
        sum: [f64; 4],
        n: [u32; 4],
        hi: [u32; 4],
        cover: Vec<f64>,
        delta: Vec<f64>,
        unreachable: u32,
        missed: u32,
    }
    let mut by: BTreeMap<(String, String), Row> = BTreeMap::new();
    let mut all = Row::default();
    let mut below: Vec<usize> = Vec::new();
    let tally = |e: &mut Row, i: usize| {
        for (k, r) in success.iter().enumerate() {
            if r[i].is_finite() {
                e.sum[k] += r[i];
                e.n[k] += 1;
                e.hi[k] += u32::from(r[i] >= 0.9);
            }
        }
        e.cover.push(cover50[i]);
        e.delta.push(delta50[i]);
        if success[AT_50][i].is_finite() && success[AT_50][i] < 0.9 {
            if best50[i] < 0.9 {
                e.unreachable += 1;
            } else {
                e.missed += 1;
            }
        }
    };
    for i in 0..summary.height() {
        if !removes_tail(&strategy[i]) {
            continue;
        }
        tally(
            by.entry((trace[i].clone(), middleware[i].clone()))
                .or_default(),
            i,
        );
        tally(&mut all, i);
        if success[AT_50][i].is_finite() && success[AT_50][i] < 0.9 {
            below.push(i);
        }
    }
    if by.is_empty() {
        return Ok(());
    }
    let _ = writeln!(md, "\n## Oracle success per completion point\n");
    let _ = writeln!(
        md,
        "The Oracle of the service (`spequlos_core::Oracle`), taught every other run of a \
         group and strategy and asked at each completion point of the run it predicts \
         (leave-one-out), for the strategies that remove the tail (usage R or D). Success: \
         prediction within ±20 % of the actual completion time, mean over the groups of each \
         trace × middleware, with how many groups reach 90 %. Coverage: share of runs inside \
         the announced interval [t(1−δ), t(1+δ)], whose target is {:.0} %; δ: its median \
         relative half-width. Below 90 % at 50 %: groups no single α could bring to 90 % \
         (their completion times at equal progress spread wider than ±20 %) and groups one \
         could (the α learnt is not the best one).\n",
        target * 100.0
    );
    let _ = writeln!(
        md,
        "| trace | middleware | at 25 % | at 50 % | at 75 % | at 90 % | coverage at 50 % | δ at 50 % | below 90 % at 50 %: unreachable / missed |\n|---|---|---|---|---|---|---|---|---|"
    );
    let all_label = ("**all**".to_string(), String::new());
    for ((t, m), e) in by.iter().chain([(&all_label, &all)]) {
        let cells: Vec<String> = (0..4)
            .map(|k| {
                if e.n[k] == 0 {
                    "–".into()
                } else {
                    format!(
                        "{:.0} % ({}/{} ≥ 90 %)",
                        e.sum[k] / f64::from(e.n[k]) * 100.0,
                        e.hi[k],
                        e.n[k]
                    )
                }
            })
            .collect();
        let _ = writeln!(
            md,
            "| {t} | {m} | {} | {} | {} | {} / {} |",
            cells.join(" | "),
            pct_or_dash(analysis::median(&e.cover)),
            pct_or_dash(analysis::median(&e.delta)),
            e.unreachable,
            e.missed
        );
    }
    if below.is_empty() {
        return Ok(());
    }
    below.sort_by(|&a, &b| {
        success[AT_50][a]
            .total_cmp(&success[AT_50][b])
            .then(best50[a].total_cmp(&best50[b]))
    });
    let workload = strs(summary, "workload_label")?;
    let (c10, c90) = (
        f64s(summary, "completion_time_p10")?,
        f64s(summary, "completion_time_p90")?,
    );
    let tre10 = f64s(summary, "tre_p10")?;
    const SHOWN: usize = 12;
    let _ = writeln!(
        md,
        "\n{} groups below 90 % at 50 %; the worst {}: best α is the success the best single α \
         would have had, chosen in hindsight; a wide completion range with a low TRE p10 means \
         the strategy left the tail in place in some runs (credits spent before the tail, or a \
         trigger that fired too early or too late), so progress at 50 % cannot tell which \
         kind of run it is.\n",
        below.len(),
        below.len().min(SHOWN)
    );
    let _ = writeln!(
        md,
        "| group | settings | strategy | success at 50 % | best α at 50 % | completion p10–p90 (h) | TRE p10 |\n|---|---|---|---|---|---|---|"
    );
    for &i in below.iter().take(SHOWN) {
        let _ = writeln!(
            md,
            "| {}/{}/{} | {} | {} | {} | {} | {:.2}–{:.2} | {} |",
            trace[i],
            middleware[i],
            workload[i],
            settings(summary, factors, i)?,
            strategy[i],
            pct_or_dash(success[AT_50][i]),
            pct_or_dash(best50[i]),
            c10[i] / 3600.0,
            c90[i] / 3600.0,
            fmt(tre10[i], 2)
        );
    }
    Ok(())
}

fn pct_or_dash(x: f64) -> String {
    if x.is_finite() {
        format!("{:.0} %", x * 100.0)
    } else {
        "–".into()
    }
}

/// The settings of `factors` in row `i` of `df`, or `–` without any.
fn settings(df: &DataFrame, factors: &[String], i: usize) -> Result<String, ReportError> {
    if factors.is_empty() {
        return Ok("–".into());
    }
    let v: Vec<Vec<String>> = factors
        .iter()
        .map(|f| strs(df, f))
        .collect::<Result<_, _>>()?;
    Ok(factor_label(factors, &v, i))
}

#[allow(clippy::too_many_arguments)]
fn markdown(
    dir: &Path,
    summary: &DataFrame,
    baselines: &DataFrame,
    factors: &[String],
    base_factors: &[String],
    findings: &[Finding],
    figures: &[PathBuf],
    runs: usize,
) -> Result<String, ReportError> {
    let mut md = String::new();
    let name = crate::runner::read_meta(dir)
        .ok()
        .flatten()
        .map_or_else(|| dir.display().to_string(), |m| m.name);
    let _ = writeln!(md, "# Sweep report: {name}\n");
    let _ = writeln!(
        md,
        "{runs} runs. A group is one trace × middleware × workload{}; statistics are over its \
         trace offsets and seeds. Metrics as defined in docs/metrics.md: TRE = (t_baseline − \
         t_speq) / (t_baseline − t_ideal_baseline), defined only when the baseline has a tail \
         (at least 5 % of its t_ideal), so its statistics are over `TRE n` of the `runs`; p10 \
         and p90 are linear-interpolation quantiles; no undefined value enters a statistic. \
         Oracle success: leave-one-out prediction at 50 % completion within ±20 % of the \
         actual completion time.\n",
        if factors.is_empty() {
            String::new()
        } else {
            format!(" × {}", factors.join(" × "))
        }
    );

    let (evaluable, not): (Vec<&Finding>, Vec<&Finding>) =
        findings.iter().partition(|f| f.holds.is_some());
    if !evaluable.is_empty() {
        let _ = writeln!(md, "## Findings of the SpeQuloS paper (HPDC'12), checked\n");
        let _ = writeln!(md, "| finding | holds here | measured |\n|---|---|---|");
        for f in &evaluable {
            let verdict = if f.holds == Some(true) {
                "yes"
            } else {
                "**no**"
            };
            let _ = writeln!(md, "| {} | {verdict} | {} |", f.claim, f.measured);
        }
    }
    if !not.is_empty() {
        let _ = writeln!(md, "\nNot checked by this sweep:\n");
        for f in &not {
            let _ = writeln!(md, "- {}: {}", f.claim, f.measured);
        }
    }

    let _ = writeln!(md, "\n## Baseline tails\n");
    let has_with = baselines.column("with_tail").is_ok();
    let _ = writeln!(
        md,
        "| trace | middleware | workload | settings | runs |{} tail slowdown mean | median | p90 | completion mean (h) |\n|---|---|---|---|---|{}---|---|---|---|",
        if has_with { " with a tail |" } else { "" },
        if has_with { "---|" } else { "" }
    );
    let (bt, bm, bw) = (
        strs(baselines, GROUP[0])?,
        strs(baselines, GROUP[1])?,
        strs(baselines, GROUP[2])?,
    );
    let bn = f64s(baselines, "n")?;
    let with = if has_with {
        f64s(baselines, "with_tail")?
    } else {
        Vec::new()
    };
    let (sm, smed, sp90) = (
        f64s(baselines, "tail_slowdown_mean")?,
        f64s(baselines, "tail_slowdown_median")?,
        f64s(baselines, "tail_slowdown_p90")?,
    );
    let cm = f64s(baselines, "completion_time_mean")?;
    for i in 0..baselines.height() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |{} {} | {} | {} | {} |",
            bt[i],
            bm[i],
            bw[i],
            settings(baselines, base_factors, i)?,
            bn[i],
            with.get(i).map_or(String::new(), |w| format!(" {w} |")),
            fmt(sm[i], 2),
            fmt(smed[i], 2),
            fmt(sp90[i], 2),
            fmt(cm[i] / 3600.0, 2)
        );
    }

    let (t, m, w, s) = (
        strs(summary, GROUP[0])?,
        strs(summary, GROUP[1])?,
        strs(summary, GROUP[2])?,
        strs(summary, "strategy")?,
    );
    let n = f64s(summary, "n")?;
    let tre_n = f64s(summary, "tre_n")?;
    let tre = f64s(summary, "tre_mean")?;
    let tre_med = f64s(summary, "tre_median")?;
    let sp = f64s(summary, "speedup_median")?;
    let cr = f64s(summary, "credits_spent_mean")?;
    let co = f64s(summary, "credits_ordered_mean")?;
    let cs = f64s(summary, "cloud_share_mean")?;
    let or = f64s(summary, "oracle_success_50")?;
    let mut best: BTreeMap<String, (String, f64, f64, f64, f64)> = BTreeMap::new();
    let mut no_tre: BTreeMap<String, ()> = BTreeMap::new();
    for i in 0..summary.height() {
        let g = format!(
            "{} / {} / {}{}",
            t[i],
            m[i],
            w[i],
            if factors.is_empty() {
                String::new()
            } else {
                format!(" / {}", settings(summary, factors, i)?)
            }
        );
        if !tre_med[i].is_finite() || tre_n[i] < MIN_TRE_RUNS {
            no_tre.insert(g, ());
            continue;
        }
        no_tre.remove(&g);
        let e = best
            .entry(g)
            .or_insert((s[i].clone(), tre_med[i], cr[i], tre_n[i], n[i]));
        // Highest median TRE; fewer credits break ties.
        if tre_med[i] > e.1 || (tre_med[i] == e.1 && cr[i] < e.2) {
            *e = (s[i].clone(), tre_med[i], cr[i], tre_n[i], n[i]);
        }
    }
    let _ = writeln!(md, "\n## Best strategy per group (highest median TRE)\n");
    let _ = writeln!(
        md,
        "Ranked on the runs whose baseline has a tail, and only with at least {MIN_TRE_RUNS} of them.\n"
    );
    let _ = writeln!(
        md,
        "| group | strategy | median TRE | TRE n / runs | mean credits |\n|---|---|---|---|---|"
    );
    for (g, (st, tr, c, k, nn)) in &best {
        let _ = writeln!(
            md,
            "| {g} | {st} | {} | {k} / {nn} | {} |",
            fmt(*tr, 3),
            fmt(*c, 0)
        );
    }
    for g in no_tre.keys().filter(|g| !best.contains_key(*g)) {
        let _ = writeln!(
            md,
            "| {g} | – (fewer than {MIN_TRE_RUNS} runs whose baseline has a tail) | – | – | – |"
        );
    }

    let _ = writeln!(md, "\n## Strategies\n");
    let _ = writeln!(md, "| trace | middleware | workload | settings | strategy | runs | TRE n | TRE median | TRE mean | speedup median | credits spent / ordered (mean) | Cloud share | Oracle success |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for i in 0..summary.height() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} % | {} % |",
            t[i],
            m[i],
            w[i],
            settings(summary, factors, i)?,
            s[i],
            n[i],
            tre_n[i],
            fmt(tre_med[i], 3),
            fmt(tre[i], 3),
            fmt(sp[i], 2),
            fmt(cr[i], 0),
            fmt(co[i], 0),
            fmt(cs[i] * 100.0, 2),
            fmt(or[i] * 100.0, 0)
        );
    }
    oracle_table(&mut md, summary, factors, &t, &m, &s)?;
    if !figures.is_empty() {
        let _ = writeln!(md, "\n## Figures\n");
        for f in figures
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "png"))
        {
            let rel = f.strip_prefix(dir).unwrap_or(f);
            let _ = writeln!(md, "![{}]({})\n", rel.display(), rel.display());
        }
    }
    let _ = writeln!(md, "\nFull statistics: `summary.csv` (for every metric: `_n` runs where it is defined, mean, median, p10, p90), `summary_long.csv` (the same, one row per metric, with units), `baselines.csv`.");
    Ok(md)
}
