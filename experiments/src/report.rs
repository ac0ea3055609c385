//! `spequlos report DIR`: statistics per trace × middleware × workload × strategy, the
//! baseline tails, the best strategy per group, the HPDC'12 findings, and the figures.
//!
//! Outputs in DIR: `summary.csv` (one row per group and strategy), `baselines.csv` (tail
//! statistics per group), `report.md`, `figures/*.png|svg`, and with `--parquet`
//! `runs.parquet` and `summary.parquet`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::analysis::{self, Finding, LooPrediction, Pooled, RunTimes};
use crate::figures;

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

fn stats(names: &[&str]) -> Vec<Expr> {
    let mut out = vec![col("run_id").count().alias("n")];
    for n in names {
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
    pub group: Vec<String>,
    pub trace: Vec<String>,
    pub middleware: Vec<String>,
    pub completion: Vec<f64>,
    pub tail_slowdown: Vec<f64>,
    pub tre: Vec<f64>,
    pub speedup: Vec<f64>,
    pub credits_spent: Vec<f64>,
    pub cloud_share: Vec<f64>,
    pub at: Vec<[f64; 4]>,
    pub run_id: Vec<f64>,
}

fn view(df: &DataFrame) -> Result<RunsView, ReportError> {
    let trace = strs(df, "trace_label")?;
    let middleware = strs(df, "middleware.kind")?;
    let workload = strs(df, "workload_label")?;
    let group = (0..df.height())
        .map(|i| format!("{}/{}/{}", trace[i], middleware[i], workload[i]))
        .collect();
    let (t25, t50, t75, t90) = (
        f64s(df, "t25")?,
        f64s(df, "t50")?,
        f64s(df, "t75")?,
        f64s(df, "t90")?,
    );
    Ok(RunsView {
        run: strs(df, "run")?,
        strategy: strs(df, "strategy")?,
        group,
        trace,
        middleware,
        completion: f64s(df, "completion_time")?,
        tail_slowdown: f64s(df, "tail_slowdown")?,
        tre: f64s(df, "tre")?,
        speedup: f64s(df, "speedup")?,
        credits_spent: f64s(df, "credits_spent")?,
        cloud_share: f64s(df, "cloud_share")?,
        at: (0..df.height())
            .map(|i| [t25[i], t50[i], t75[i], t90[i]])
            .collect(),
        run_id: f64s(df, "run_id")?,
    })
}

pub fn report(dir: &Path, opts: &ReportOptions) -> Result<ReportSummary, ReportError> {
    let mut runs = read_runs(dir)?;
    let v = view(&runs)?;
    let mut files = Vec::new();

    // Oracle, leave-one-out, per (group, strategy).
    let times: Vec<RunTimes> = (0..v.run.len())
        .map(|i| RunTimes {
            key: format!("{}/{}", v.group[i], v.strategy[i]),
            completion: v.completion[i],
            at: v.at[i],
        })
        .collect();
    let loo = analysis::loo_predictions(&times);

    let lazy = runs.clone().lazy();
    let mut summary = lazy
        .clone()
        .filter(col("run").eq(lit("speq")))
        .group_by([col(GROUP[0]), col(GROUP[1]), col(GROUP[2]), col("strategy")])
        .agg(stats(&[
            "tre",
            "tail_slowdown",
            "speedup",
            "credits_spent",
            "cloud_share",
            "completion_time",
        ]))
        .sort(
            [
                "trace_label",
                "middleware.kind",
                "workload_label",
                "strategy",
            ],
            SortMultipleOptions::default(),
        )
        .collect()?;
    let mut baselines = lazy
        .filter(col("run").eq(lit("baseline")))
        .group_by([col(GROUP[0]), col(GROUP[1]), col(GROUP[2])])
        .agg(stats(&["tail_slowdown", "completion_time", "t_ideal"]))
        .sort(
            ["trace_label", "middleware.kind", "workload_label"],
            SortMultipleOptions::default(),
        )
        .collect()?;

    // Oracle success columns, at each completion point.
    let keys: Vec<String> = {
        let t = strs(&summary, "trace_label")?;
        let m = strs(&summary, "middleware.kind")?;
        let w = strs(&summary, "workload_label")?;
        let s = strs(&summary, "strategy")?;
        (0..summary.height())
            .map(|i| format!("{}/{}/{}/{}", t[i], m[i], w[i], s[i]))
            .collect()
    };
    for (k, ratio) in spequlos_core::metrics::PREDICTION_POINTS.iter().enumerate() {
        let rates: Vec<f64> = keys
            .iter()
            .map(|key| {
                loo.get(key)
                    .map_or(f64::NAN, |p| analysis::success_rate(p, *ratio, 0.2))
            })
            .collect();
        let name = format!("oracle_success_{}", [25, 50, 75, 90][k]);
        summary.with_column(Column::new(name.into(), rates))?;
    }

    let summary_path = dir.join("summary.csv");
    write_csv(&mut summary, &summary_path)?;
    files.push(summary_path);
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
    let speed_mean = f64s(&summary, "speedup_mean")?;
    for (k, s) in sum_keys.iter().zip(speed_mean) {
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
        let all_loo: Vec<LooPrediction> = loo.values().flatten().copied().collect();
        figure_files =
            figures::report_figures(dir, &fig_dir, &v, &all_loo).map_err(ReportError::Figure)?;
        files.extend(figure_files.iter().cloned());
    }

    let md = markdown(
        dir,
        &summary,
        &baselines,
        &findings,
        &figure_files,
        v.run.len(),
    )?;
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

fn fmt(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "–".into()
    }
}

fn markdown(
    dir: &Path,
    summary: &DataFrame,
    baselines: &DataFrame,
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
    let _ = writeln!(md, "{runs} runs. Statistics over runs; p10/p90 are linear-interpolation quantiles. TRE = (t_baseline − t_speq) / (t_baseline − t_ideal_baseline). Oracle success: leave-one-out prediction at 50 % completion within ±20 % of the actual completion time.\n");

    let _ = writeln!(md, "## Findings of the SpeQuloS paper (HPDC'12), checked\n");
    let _ = writeln!(md, "| finding | holds here | measured |\n|---|---|---|");
    for f in findings {
        let verdict = match f.holds {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not evaluable",
        };
        let _ = writeln!(md, "| {} | {verdict} | {} |", f.claim, f.measured);
    }

    let _ = writeln!(md, "\n## Baseline tails\n");
    let _ = writeln!(md, "| trace | middleware | workload | runs | tail slowdown mean | median | p90 | completion mean (h) |\n|---|---|---|---|---|---|---|---|");
    let (bt, bm, bw) = (
        strs(baselines, GROUP[0])?,
        strs(baselines, GROUP[1])?,
        strs(baselines, GROUP[2])?,
    );
    let bn = f64s(baselines, "n")?;
    let (sm, smed, sp90) = (
        f64s(baselines, "tail_slowdown_mean")?,
        f64s(baselines, "tail_slowdown_median")?,
        f64s(baselines, "tail_slowdown_p90")?,
    );
    let cm = f64s(baselines, "completion_time_mean")?;
    for i in 0..baselines.height() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            bt[i],
            bm[i],
            bw[i],
            bn[i],
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
    let tre = f64s(summary, "tre_mean")?;
    let tre_med = f64s(summary, "tre_median")?;
    let sp = f64s(summary, "speedup_mean")?;
    let cr = f64s(summary, "credits_spent_mean")?;
    let cs = f64s(summary, "cloud_share_mean")?;
    let or = f64s(summary, "oracle_success_50")?;
    let mut best: BTreeMap<String, (String, f64, f64)> = BTreeMap::new();
    for i in 0..summary.height() {
        let g = format!("{} / {} / {}", t[i], m[i], w[i]);
        let e = best.entry(g).or_insert((s[i].clone(), tre[i], cr[i]));
        // Highest mean TRE; fewer credits break ties.
        if tre[i] > e.1 || (tre[i] == e.1 && cr[i] < e.2) {
            *e = (s[i].clone(), tre[i], cr[i]);
        }
    }
    let _ = writeln!(md, "\n## Best strategy per group (highest mean TRE)\n");
    let _ = writeln!(
        md,
        "| trace / middleware / workload | strategy | mean TRE | mean credits |\n|---|---|---|---|"
    );
    for (g, (st, tr, c)) in &best {
        let _ = writeln!(md, "| {g} | {st} | {} | {} |", fmt(*tr, 3), fmt(*c, 0));
    }

    let _ = writeln!(md, "\n## Strategies\n");
    let _ = writeln!(md, "| trace | middleware | workload | strategy | runs | TRE mean | TRE median | speedup | credits spent | Cloud share | Oracle success |\n|---|---|---|---|---|---|---|---|---|---|---|");
    for i in 0..summary.height() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} % | {} % |",
            t[i],
            m[i],
            w[i],
            s[i],
            n[i],
            fmt(tre[i], 3),
            fmt(tre_med[i], 3),
            fmt(sp[i], 2),
            fmt(cr[i], 0),
            fmt(cs[i] * 100.0, 2),
            fmt(or[i] * 100.0, 0)
        );
    }
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
    let _ = writeln!(md, "\nFull statistics: `summary.csv` (mean, median, p10, p90 of every metric), `baselines.csv`.");
    Ok(md)
}
