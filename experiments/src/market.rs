//! The deadline part of a report: how a stream sweep's SpeQuloS runs met their BoTs'
//! deadlines, with what credits, and on which Cloud market (`bots.csv`, one row per run and
//! BoT).
//!
//! Per group and strategy, over its SpeQuloS runs: the BoTs with a deadline and the share of
//! them met, the mean credits a run spent, the share of Cloud workers bought spot and the
//! workers revoked per run. A group run on the spot market (`cloud.market.market=spot` or
//! `adaptive` in its name) is set beside its on-demand twin, the group of the same name with
//! `on-demand`: the credits it saved and the deadlines it missed more (percentage points).
//! Written to `market.csv` and a table in `report.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::report::{ReportError, RunsView};

/// One SpeQuloS run's BoTs, summed.
#[derive(Debug, Clone, Copy, Default)]
struct RunBots {
    with_deadline: u32,
    met: u32,
    credits: f64,
    started: f64,
    spot: f64,
    revoked: f64,
}

/// A group and strategy's figures over its runs.
#[derive(Debug, Clone)]
pub struct GroupMarket {
    pub group: String,
    pub strategy: String,
    pub runs: usize,
    pub deadlines: u32,
    /// Of the BoTs with a deadline, the share met.
    pub met: f64,
    pub credits_spent: f64,
    pub spot_share: f64,
    pub revoked: f64,
    /// Against the on-demand twin group: 1 − credits / its credits, and its met share minus
    /// this one's (NaN without a twin).
    pub credits_saved: f64,
    pub more_missed: f64,
}

pub struct Section {
    pub table: Vec<GroupMarket>,
    pub files: Vec<PathBuf>,
    pub markdown: String,
}

fn read_bots(path: &Path) -> Result<BTreeMap<u32, RunBots>, ReportError> {
    let text = fs::read_to_string(path).map_err(|err| ReportError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let find = |name: &str| header.iter().position(|h| *h == name);
    let col = |name: &str| {
        find(name).ok_or_else(|| {
            ReportError::Input(format!("{}: column `{name}` is missing", path.display()))
        })
    };
    let (id, run, spent, started, revoked, met) = (
        col("run_id")?,
        col("run")?,
        col("credits_spent")?,
        col("workers_started")?,
        col("workers_revoked")?,
        col("deadline_met")?,
    );
    // Written since the Cloud sells spot workers; none before.
    let spot = find("workers_spot");
    let mut out: BTreeMap<u32, RunBots> = BTreeMap::new();
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
        let r = out.entry(f[id].parse().map_err(|_| bad())?).or_default();
        r.credits += num(spent)?;
        r.started += num(started)?;
        r.revoked += num(revoked)?;
        if let Some(k) = spot {
            r.spot += num(k)?;
        }
        match f[met] {
            "true" => {
                r.with_deadline += 1;
                r.met += 1;
            }
            "false" => r.with_deadline += 1,
            "" => {}
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The on-demand twin of a group name run on another market.
fn twin(group: &str) -> Option<String> {
    ["spot", "adaptive"].iter().find_map(|m| {
        let from = format!("cloud.market.market={m}");
        group
            .contains(&from)
            .then(|| group.replace(&from, "cloud.market.market=on-demand"))
    })
}

/// The deadline and market table of the stream sweep in `dir`, if its `bots.csv` has BoTs
/// with a deadline or workers bought spot. Writes `market.csv`.
pub fn market(dir: &Path, v: &RunsView) -> Result<Option<Section>, ReportError> {
    let path = dir.join("bots.csv");
    if !path.is_file() {
        return Ok(None);
    }
    let bots = read_bots(&path)?;
    if bots.values().all(|r| r.with_deadline == 0 && r.spot == 0.0) {
        return Ok(None);
    }
    let mut groups: BTreeMap<(String, String), Vec<RunBots>> = BTreeMap::new();
    for i in 0..v.run.len() {
        if v.run[i] != "speq" {
            continue;
        }
        if let Some(r) = bots.get(&(v.run_id[i] as u32)) {
            groups
                .entry((v.group[i].clone(), v.strategy[i].clone()))
                .or_default()
                .push(*r);
        }
    }
    let mut table: Vec<GroupMarket> = groups
        .iter()
        .map(|((group, strategy), runs)| {
            let deadlines: u32 = runs.iter().map(|r| r.with_deadline).sum();
            let met: u32 = runs.iter().map(|r| r.met).sum();
            let started: f64 = runs.iter().map(|r| r.started).sum();
            GroupMarket {
                group: group.clone(),
                strategy: strategy.clone(),
                runs: runs.len(),
                deadlines,
                met: if deadlines > 0 {
                    f64::from(met) / f64::from(deadlines)
                } else {
                    f64::NAN
                },
                credits_spent: mean(runs.iter().map(|r| r.credits)),
                spot_share: if started > 0.0 {
                    runs.iter().map(|r| r.spot).sum::<f64>() / started
                } else {
                    f64::NAN
                },
                revoked: mean(runs.iter().map(|r| r.revoked)),
                credits_saved: f64::NAN,
                more_missed: f64::NAN,
            }
        })
        .collect();
    let by_name: BTreeMap<(String, String), (f64, f64)> = table
        .iter()
        .map(|g| {
            (
                (g.group.clone(), g.strategy.clone()),
                (g.credits_spent, g.met),
            )
        })
        .collect();
    for g in &mut table {
        if let Some(&(credits, met)) =
            twin(&g.group).and_then(|t| by_name.get(&(t, g.strategy.clone())))
        {
            g.credits_saved = 1.0 - g.credits_spent / credits;
            g.more_missed = met - g.met;
        }
    }
    let mut csv = String::from(
        "group,strategy,runs,deadlines,met,credits_spent,spot_share,revoked,credits_saved,more_missed\n",
    );
    let mut md = String::from(
        "\n## Deadlines and the Cloud market\n\nPer group and strategy, over its SpeQuloS runs: \
         the BoTs with a deadline and the share met, the mean credits a run spent, the share \
         of Cloud workers bought spot, the workers revoked per run; a group on the spot \
         market beside its on-demand twin: the credits saved and the deadlines missed more \
         (percentage points) (`market.csv`).\n\n| group | strategy | runs | deadlines | met \
         | credits | spot | revoked | saved | missed more |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let pct = |x: f64| {
        if x.is_finite() {
            format!("{:.1} %", 100.0 * x)
        } else {
            String::new()
        }
    };
    for g in &table {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            crate::report::csv_field(&g.group),
            g.strategy,
            g.runs,
            g.deadlines,
            g.met,
            g.credits_spent,
            g.spot_share,
            g.revoked,
            g.credits_saved,
            g.more_missed
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.0} | {} | {:.1} | {} | {} |",
            g.group,
            g.strategy,
            g.runs,
            g.deadlines,
            pct(g.met),
            g.credits_spent,
            pct(g.spot_share),
            g.revoked,
            pct(g.credits_saved),
            if g.more_missed.is_finite() {
                format!("{:+.1}", 100.0 * g.more_missed)
            } else {
                String::new()
            }
        );
    }
    let csv_path = dir.join("market.csv");
    fs::write(&csv_path, csv).map_err(|err| ReportError::Io {
        path: csv_path.clone(),
        err,
    })?;
    Ok(Some(Section {
        table,
        files: vec![csv_path],
        markdown: md,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spot_group_is_set_beside_its_on_demand_twin() {
        assert_eq!(
            twin("seti/boinc/s cloud.market.market=adaptive cloud.cap=5").as_deref(),
            Some("seti/boinc/s cloud.market.market=on-demand cloud.cap=5")
        );
        assert_eq!(twin("seti/boinc/s cloud.market.market=on-demand"), None);
    }

    #[test]
    fn bots_are_summed_per_run_and_a_bad_row_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bots.csv");
        let header =
            "run_id,run,credits_spent,workers_started,workers_revoked,deadline_met,workers_spot";
        fs::write(
            &p,
            format!("{header}\n1,speq,10,4,1,true,2\n1,speq,5,2,0,false,2\n1,speq,1,1,0,,0\n0,baseline,0,0,0,false,0\n"),
        )
        .unwrap();
        let b = read_bots(&p).unwrap();
        assert_eq!(b.len(), 1, "baselines are not summed");
        let r = b[&1];
        assert_eq!((r.with_deadline, r.met), (2, 1));
        assert_eq!(
            (r.credits, r.started, r.spot, r.revoked),
            (16.0, 7.0, 4.0, 1.0)
        );
        fs::write(&p, format!("{header}\n1,speq,10,4,1,maybe,2\n")).unwrap();
        let e = read_bots(&p).unwrap_err().to_string();
        assert!(e.contains("bots.csv:2"), "{e}");
    }
}
