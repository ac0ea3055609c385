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
    /// Group (trace/middleware/workload/strategy) → mean speedup.
    pub group_speedup: BTreeMap<String, f64>,
    pub oracle_success_50: Vec<f64>,
}

fn mean(xs: &[f64]) -> f64 {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Mean TRE of usage `usage` (`F`, `R` or `D`) over the trigger–sizing pairs that the sweep
/// ran with all three usages, so each usage is judged on the same deployments.
fn usage_mean(p: &Pooled, usage: char) -> f64 {
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
    let all: Vec<f64> = complete
        .iter()
        .flat_map(|pre| p.tre[&format!("{pre}-{usage}")].iter().copied())
        .collect();
    mean(&all)
}
/// The HPDC'12 findings, each with its measured figure.
pub fn findings(p: &Pooled) -> Vec<Finding> {
    let mut out = Vec::new();
    let slow = mean(&p.baseline_tail_slowdown);
    let share_tail = p
        .baseline_tail_slowdown
        .iter()
        .filter(|s| **s > 1.2)
        .count() as f64
        / p.baseline_tail_slowdown.len().max(1) as f64;
    out.push(Finding {
        claim: "BoT executions show a tail (baseline tail slowdown well above 1)",
        holds: slow.is_finite().then_some(slow > 1.2),
        measured: format!(
            "mean baseline tail slowdown {slow:.2}; {:.0} % of executions above 1.2",
            share_tail * 100.0
        ),
    });
    let (d, r, f) = (usage_mean(p, 'D'), usage_mean(p, 'R'), usage_mean(p, 'F'));
    out.push(Finding {
        claim: "Cloud Duplication removes more of the tail than Reschedule, which beats Flat (same triggers and sizings)",holds: (d.is_finite() && r.is_finite() && f.is_finite()).then_some(d > r && r > f),
        measured: format!("mean TRE: D {d:.3}, R {r:.3}, F {f:.3}"),
    });
    let best = p.group_speedup.iter().max_by(|a, b| a.1.total_cmp(b.1));
    out.push(Finding {
        claim: "in the best cases SpeQuloS speeds executions up by more than 2",
        holds: best.map(|(_, s)| *s > 2.0),
        measured: best.map_or("no SpeQuloS run".into(), |(g, s)| {
            format!("best mean speedup {s:.2} ({g})")
        }),
    });
    let share = mean(&p.cloud_share);
    out.push(Finding {
        claim: "less than 2.5 % of the workload is offloaded to the Cloud",
        holds: share.is_finite().then_some(share < 0.025),
        measured: format!(
            "mean Cloud share of executed work {:.2} % over all SpeQuloS runs",
            share * 100.0
        ),
    });
    let oracle = mean(&p.oracle_success_50);
    out.push(Finding {
        claim: "the Oracle predicts completion times accurately (success rate, ±20 % at 50 % completion)",
        holds: oracle.is_finite().then_some(oracle >= 0.8),
        measured: format!("mean leave-one-out success rate {:.0} %", oracle * 100.0),
    });
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
        assert!(f[1].measured.contains("D 0.850"));
        let empty = findings(&Pooled::default());
        assert!(empty.iter().all(|x| x.holds.is_none()), "{empty:?}");
    }
}
