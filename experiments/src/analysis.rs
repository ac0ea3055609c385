//! Analyses that are not group-by statistics: the Oracle's success rate, evaluated
//! leave-one-out so that it does not depend on the order runs finished in, and the checks of
//! the HPDC'12 findings.

use std::collections::BTreeMap;

use spequlos_core::metrics::PREDICTION_POINTS;

/// What the Oracle evaluation needs of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunTimes {
    /// The Oracle's history key: runs of one (trace, middleware, workload, strategy).
    pub key: String,
    pub completion: f64,
    /// Times at which completion reached 25, 50, 75 and 90 %.
    pub at: [f64; 4],
}

/// One leave-one-out prediction: at `ratio`, for a run that completed at `actual`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LooPrediction {
    pub ratio: f64,
    pub predicted: f64,
    pub actual: f64,
}

impl LooPrediction {
    pub fn hit(&self, tolerance: f64) -> bool {
        (self.predicted - self.actual).abs() <= tolerance * self.actual
    }
}

/// For every run of every key and every completion point: the prediction α·t(r)/r with α the
/// mean of t_final·r/t(r) over the *other* runs of the key (the Oracle learning from every
/// execution but the one it predicts). Keys with fewer than two complete runs are skipped.
pub fn loo_predictions(runs: &[RunTimes]) -> BTreeMap<String, Vec<LooPrediction>> {
    let mut by_key: BTreeMap<&str, Vec<&RunTimes>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.completion.is_finite()) {
        by_key.entry(&r.key).or_default().push(r);
    }
    let mut out = BTreeMap::new();
    for (key, rs) in by_key {
        let mut preds = Vec::new();
        for (k, &ratio) in PREDICTION_POINTS.iter().enumerate() {
            let alphas: Vec<Option<f64>> = rs
                .iter()
                .map(|r| {
                    (r.at[k] > 0.0 && r.at[k].is_finite()).then(|| r.completion * ratio / r.at[k])
                })
                .collect();
            let (sum, n) = alphas
                .iter()
                .flatten()
                .fold((0.0, 0usize), |(s, n), a| (s + a, n + 1));
            if n < 2 {
                continue;
            }
            for (r, a) in rs.iter().zip(&alphas) {
                let Some(a) = a else { continue };
                let others = (sum - a) / (n - 1) as f64;
                preds.push(LooPrediction {
                    ratio,
                    predicted: others * r.at[k] / ratio,
                    actual: r.completion,
                });
            }
        }
        if !preds.is_empty() {
            out.insert(key.to_string(), preds);
        }
    }
    out
}

/// Share of predictions at `ratio` within `tolerance` of the actual completion time.
pub fn success_rate(preds: &[LooPrediction], ratio: f64, tolerance: f64) -> f64 {
    let at: Vec<&LooPrediction> = preds.iter().filter(|p| p.ratio == ratio).collect();
    if at.is_empty() {
        return f64::NAN;
    }
    at.iter().filter(|p| p.hit(tolerance)).count() as f64 / at.len() as f64
}

/// One statement of the paper, checked against this sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub claim: &'static str,
    /// None when the sweep cannot tell (e.g. the strategies needed are not in it).
    pub holds: Option<bool>,
    pub measured: String,
}

/// Per-strategy means pooled over groups, as the findings need them.
#[derive(Debug, Clone, Default)]
pub struct Pooled {
    pub baseline_tail_slowdown: Vec<f64>,
    /// strategy → TRE of each of its runs.
    pub tre: BTreeMap<String, Vec<f64>>,
    /// strategy → speedups.
    pub speedup: BTreeMap<String, Vec<f64>>,
    pub cloud_share: Vec<f64>,
    /// Group (`trace/middleware/workload settings/strategy`) → median speedup.
    pub group_speedup: BTreeMap<String, f64>,
    pub oracle_success_50: Vec<f64>,
}

/// Median of the finite values (NaN if none).
fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn mean(xs: &[f64]) -> f64 {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// TRE values of usage `usage` (`F`, `R` or `D`) over the trigger–sizing pairs that the sweep
/// ran with all three usages, so each usage is judged on the same deployments.
fn usage_tre(p: &Pooled, usage: char) -> Vec<f64> {
    let prefix_of = |s: &str| s.rsplit_once('-').map(|(a, _)| a.to_string());
    let complete: Vec<String> = p
        .tre
        .keys()
        .filter_map(|s| prefix_of(s))
        .filter(|pre| {
            ['F', 'R', 'D']
                .iter()
                .all(|u| p.tre.contains_key(&format!("{pre}-{u}")))
        })
        .collect();
    complete
        .iter()
        .flat_map(|pre| p.tre[&format!("{pre}-{usage}")].iter().copied())
        .collect()
}

/// The figures of a finding the sweep cannot check: what it would need.
fn needs(claim: &'static str, what: &str) -> Finding {
    Finding {
        claim,
        holds: None,
        measured: format!("needs {what}"),
    }
}
/// The HPDC'12 findings, each with its measured figure; one the sweep cannot check says what
/// it would need. Verdicts are on medians (TRE has long tails both ways); means are shown.
pub fn findings(p: &Pooled) -> Vec<Finding> {
    let mut out = Vec::new();
    let claim = "BoT executions show a tail (baseline tail slowdown well above 1)";
    let slow = median(&p.baseline_tail_slowdown);
    if slow.is_finite() {
        let finite: Vec<f64> = p
            .baseline_tail_slowdown
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        let share_tail = finite.iter().filter(|s| **s > 1.2).count() as f64 / finite.len() as f64;
        out.push(Finding {
            claim,
            holds: Some(slow > 1.2),
            measured: format!(
                "median baseline tail slowdown {slow:.2} (mean {:.2}); {:.0} % of executions above 1.2",
                mean(&finite),
                share_tail * 100.0
            ),
        });
    } else {
        out.push(needs(claim, "completed baseline runs"));
    }
    let claim = "Cloud Duplication removes more of the tail than Reschedule, which beats Flat (same triggers and sizings)";
    let (d, r, f) = (usage_tre(p, 'D'), usage_tre(p, 'R'), usage_tre(p, 'F'));
    let (md, mr, mf) = (median(&d), median(&r), median(&f));
    if md.is_finite() && mr.is_finite() && mf.is_finite() {
        out.push(Finding {
            claim,
            holds: Some(md > mr && mr > mf),
            measured: format!(
                "median TRE: D {md:.3}, R {mr:.3}, F {mf:.3} (means {:.3}, {:.3}, {:.3})",
                mean(&d),
                mean(&r),
                mean(&f)
            ),
        });
    } else {
        out.push(needs(
            claim,
            "strategies X-F, X-R and X-D for one trigger and sizing X, with baselines that have a tail",
        ));
    }
    let claim = "in the best cases SpeQuloS speeds executions up by more than 2";
    let best = p
        .group_speedup
        .iter()
        .filter(|(_, s)| s.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1));
    match best {
        Some((g, s)) => out.push(Finding {
            claim,
            holds: Some(*s > 2.0),
            measured: format!("best median speedup {s:.2} ({g})"),
        }),
        None => out.push(needs(claim, "completed SpeQuloS runs")),
    }
    let claim = "less than 2.5 % of the workload is offloaded to the Cloud";
    let share = mean(&p.cloud_share);
    if share.is_finite() {
        out.push(Finding {
            claim,
            holds: Some(share < 0.025),
            measured: format!(
                "mean Cloud share of executed work {:.2} % over all SpeQuloS runs (median {:.2} %)",
                share * 100.0,
                median(&p.cloud_share) * 100.0
            ),
        });
    } else {
        out.push(needs(claim, "SpeQuloS runs"));
    }
    let claim =
        "the Oracle predicts completion times accurately (success rate, ±20 % at 50 % completion)";
    let oracle = mean(&p.oracle_success_50);
    if oracle.is_finite() {
        out.push(Finding {
            claim,
            holds: Some(oracle >= 0.8),
            measured: format!(
                "mean leave-one-out success rate {:.0} % over {} groups",
                oracle * 100.0,
                p.oracle_success_50.iter().filter(|x| x.is_finite()).count()
            ),
        });
    } else {
        out.push(needs(
            claim,
            "two or more completed runs per group and strategy",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(key: &str, completion: f64, half: f64) -> RunTimes {
        RunTimes {
            key: key.into(),
            completion,
            at: [half / 2.0, half, half * 1.5, half * 1.8],
        }
    }

    #[test]
    fn leave_one_out_uses_only_the_other_runs() {
        // α at 50 % is completion × 0.5 / t50: 1.0, 1.0, 2.0.
        let runs = vec![
            run("k", 100.0, 50.0),
            run("k", 200.0, 100.0),
            run("k", 200.0, 50.0),
            run("other", 5.0, 1.0),
        ];
        let p = loo_predictions(&runs);
        assert!(!p.contains_key("other"), "one run is no history");
        let at50: Vec<&LooPrediction> = p["k"].iter().filter(|x| x.ratio == 0.5).collect();
        // Run 0: α of the others = 1.5, prediction 1.5 × 50 / 0.5 = 150 for an actual 100.
        assert_eq!(at50[0].predicted, 150.0);
        assert_eq!(at50[2].predicted, 100.0, "run 2 predicted with α = 1");
        assert_eq!(success_rate(&p["k"], 0.5, 0.2), 0.0);
        assert_eq!(success_rate(&p["k"], 0.5, 0.6), 1.0);
    }

    #[test]
    fn findings_report_figures_and_verdicts() {
        let mut p = Pooled {
            baseline_tail_slowdown: vec![3.0, 1.1],
            cloud_share: vec![0.01, 0.02],
            ..Pooled::default()
        };
        p.tre.insert("9C-G-D".into(), vec![0.9, 0.8]);
        p.tre.insert("9C-G-R".into(), vec![0.7]);
        p.tre.insert("9C-G-F".into(), vec![0.0]);
        // Without its R and F counterparts, 9A-G-D does not enter the comparison.
        p.tre.insert("9A-G-D".into(), vec![0.0, 0.0, 0.0]);
        p.group_speedup
            .insert("seti/boinc/small/9C-G-D".into(), 2.5);
        p.oracle_success_50 = vec![0.9];
        let f = findings(&p);
        assert_eq!(f.len(), 5);
        assert!(f.iter().all(|x| x.holds == Some(true)), "{f:?}");
        assert!(f[1].measured.contains("D 0.850"), "{}", f[1].measured);
        let empty = findings(&Pooled::default());
        assert!(empty.iter().all(|x| x.holds.is_none()), "{empty:?}");
        assert!(
            empty
                .iter()
                .all(|x| x.measured.starts_with("needs ") && !x.measured.contains("NaN")),
            "{empty:?}"
        );
        // Verdicts on medians: one wild run does not decide.
        p.tre.insert("9C-G-R".into(), vec![0.7, 0.7, 9.0]);
        p.tre.insert("9C-G-D".into(), vec![0.9, 0.8, f64::NAN]);
        let f = findings(&p);
        assert_eq!(f[1].holds, Some(true), "{}", f[1].measured);
    }
}
