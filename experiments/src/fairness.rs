//! The shared-grid part of a report: how a stream sweep's SpeQuloS runs treated their users
//! (`users.csv`, one row per run and user), per group and strategy as the rest of the report.
//!
//! Per run: the mean over users of each user's mean speedup (baseline completion over
//! SpeQuloS completion of its BoTs), the lowest of them (the worst-served user), Jain's
//! fairness index of them (1 when every user gains alike, 1/n when one gains all), the lowest
//! speedup of any BoT, and the credits spent. Per group: their means over the runs (trace
//! offsets, seeds). Written to `fairness.csv`, a table in `report.md`, and one figure per
//! share policy (`figures/fairness_<policy>`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::report::{ReportError, RunsView};

/// One SpeQuloS run's treatment of its users.
#[derive(Debug, Clone, Copy)]
struct RunFairness {
    mean_user_speedup: f64,
    worst_user_speedup: f64,
    jain: f64,
    worst_bot_speedup: f64,
    credits_spent: f64,
}

/// A group and strategy's figures over its runs.
#[derive(Debug, Clone)]
pub struct GroupFairness {
    pub group: String,
    pub strategy: String,
    pub runs: usize,
    pub mean_user_speedup: f64,
    pub worst_user_speedup: f64,
    pub jain: f64,
    pub worst_bot_speedup: f64,
    pub credits_spent: f64,
}

/// What the shared-grid part of a report adds.
pub struct Section {
    pub table: Vec<GroupFairness>,
    pub files: Vec<PathBuf>,
    pub markdown: String,
}

/// Per run id: its users' (mean speedup, worst BoT speedup, credits spent).
type Users = BTreeMap<u32, Vec<(f64, f64, f64)>>;

fn read_users(path: &Path) -> Result<Users, ReportError> {
    let text = fs::read_to_string(path).map_err(|err| ReportError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            ReportError::Input(format!("{}: column `{name}` is missing", path.display()))
        })
    };
    let (id, run, mean, worst, spent) = (
        col("run_id")?,
        col("run")?,
        col("mean_speedup")?,
        col("worst_speedup")?,
        col("credits_spent")?,
    );
    let mut users = Users::new();
    for (i, l) in lines.enumerate() {
        let f: Vec<&str> = l.split(',').collect();
        let bad = || ReportError::Input(format!("{}:{}: malformed row", path.display(), i + 2));
        if f.len() != header.len() {
            return Err(bad());
        }
        if f[run] != "speq" {
            continue;
        }
        let num = |k: usize| f[k].parse::<f64>().map_err(|_| bad());
        let run_id: u32 = f[id].parse().map_err(|_| bad())?;
        users
            .entry(run_id)
            .or_default()
            .push((num(mean)?, num(worst)?, num(spent)?));
    }
    Ok(users)
}

fn of_run(users: &[(f64, f64, f64)]) -> RunFairness {
    let sp: Vec<f64> = users
        .iter()
        .map(|u| u.0)
        .filter(|x| x.is_finite())
        .collect();
    let n = sp.len() as f64;
    let sum: f64 = sp.iter().sum();
    let squares: f64 = sp.iter().map(|x| x * x).sum();
    RunFairness {
        mean_user_speedup: if sp.is_empty() { f64::NAN } else { sum / n },
        worst_user_speedup: sp.iter().copied().fold(f64::NAN, f64::min),
        jain: if squares > 0.0 {
            sum * sum / (n * squares)
        } else {
            f64::NAN
        },
        worst_bot_speedup: users
            .iter()
            .map(|u| u.1)
            .filter(|x| x.is_finite())
            .fold(f64::NAN, f64::min),
        credits_spent: users.iter().map(|u| u.2).sum(),
    }
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The fairness table of the sweep in `dir`, if it has a `users.csv`; `policy[i]` is run
/// `i`'s `cloud.share` (for the figures). Writes `fairness.csv` and the figures.
pub fn fairness(
    dir: &Path,
    v: &RunsView,
    policy: &[String],
    figures: Option<&Path>,
) -> Result<Option<Section>, ReportError> {
    let path = dir.join("users.csv");
    if !path.is_file() {
        return Ok(None);
    }
    let users = read_users(&path)?;
    let mut groups: BTreeMap<(String, String), Vec<RunFairness>> = BTreeMap::new();
    let mut cdf: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for (i, share) in policy.iter().enumerate().take(v.run.len()) {
        if v.run[i] != "speq" {
            continue;
        }
        let Some(u) = users.get(&(v.run_id[i] as u32)) else {
            continue;
        };
        groups
            .entry((v.group[i].clone(), v.strategy[i].clone()))
            .or_default()
            .push(of_run(u));
        cdf.entry(share.clone())
            .or_default()
            .entry(format!("{} / {}", v.group[i], v.strategy[i]))
            .or_default()
            .extend(u.iter().map(|x| x.0));
    }
    let table: Vec<GroupFairness> = groups
        .into_iter()
        .map(|((group, strategy), runs)| GroupFairness {
            group,
            strategy,
            runs: runs.len(),
            mean_user_speedup: mean(runs.iter().map(|r| r.mean_user_speedup)),
            worst_user_speedup: mean(runs.iter().map(|r| r.worst_user_speedup)),
            jain: mean(runs.iter().map(|r| r.jain)),
            worst_bot_speedup: mean(runs.iter().map(|r| r.worst_bot_speedup)),
            credits_spent: mean(runs.iter().map(|r| r.credits_spent)),
        })
        .collect();
    let mut csv = String::from(
        "group,strategy,runs,mean_user_speedup,worst_user_speedup,jain,worst_bot_speedup,credits_spent\n",
    );
    let mut md = String::from(
        "\n## Shared grid: how the users fared\n\nPer SpeQuloS run, over its users: the mean \
         and the lowest of their mean speedups, Jain's fairness index of them, the lowest \
         speedup of any BoT, the credits spent; the means of these over the group's runs \
         (`fairness.csv`).\n\n| group | strategy | runs | mean user speedup | worst user \
         | Jain | worst BoT | credits |\n|---|---|---|---|---|---|---|---|\n",
    );
    for g in &table {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{}",
            crate::report::csv_field(&g.group),
            g.strategy,
            g.runs,
            g.mean_user_speedup,
            g.worst_user_speedup,
            g.jain,
            g.worst_bot_speedup,
            g.credits_spent
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} |",
            g.group,
            g.strategy,
            g.runs,
            g.mean_user_speedup,
            g.worst_user_speedup,
            g.jain,
            g.worst_bot_speedup,
            g.credits_spent
        );
    }
    let csv_path = dir.join("fairness.csv");
    fs::write(&csv_path, csv).map_err(|err| ReportError::Io {
        path: csv_path.clone(),
        err,
    })?;
    let mut files = vec![csv_path];
    if let Some(fig) = figures {
        let figs = crate::figures::fairness_figures(fig, &cdf)?;
        for f in figs
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "png"))
        {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            let _ = writeln!(md, "\n![{name}](figures/{name})");
        }
        files.extend(figs);
    }
    Ok(Some(Section {
        table,
        files,
        markdown: md,
    }))
}
