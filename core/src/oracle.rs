//! The Oracle: completion-time prediction learned from past executions.
//!
//! At completion ratio r reached after t(r) seconds, the prediction is t_p = α·t(r)/r, where α
//! sums up t_final·r / t(r) over past runs of the same key (DG, middleware, strategy): their
//! median by default, their mean as the paper has it (`estimator`). The announced interval is
//! [t_p(1−δ), t_p(1+δ)], δ being the `target_success` quantile of the leave-one-out relative
//! errors of past runs at that r, so that about that share of runs falls inside. With too
//! little history, α = 1 (linear extrapolation) and δ takes its default.
//!
//! Why the median: a key's runs are often of two kinds, those whose tail the Cloud removed
//! and a few whose credits ran out first (or whose trigger came too late); the mean lands
//! between the two and misses both, the median predicts the common kind. On the HPDC'12 grid
//! it raises leave-one-out success within ±20 % at 50 % completion, for strategies that
//! remove the tail, from 72 % to 80 % (docs/metrics.md).
//!
//! Histories are kept per [`OracleKey`]; [`Oracle::leave_one_out`] judges a key's history
//! through [`Oracle::predict`] itself, which is how reports measure the Oracle a service ships.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use spequlos_check::{self as check, Checked, FieldError};

use crate::progress::BotProgress;
use crate::strategy::Strategy;

/// Completion ratios at which α is learned: 5 %, 10 %, ..., 95 %.
pub const GRID: usize = 19;

/// The `i`-th ratio of the learning grid (0 → 5 %, 18 → 95 %).
pub fn grid_ratio(i: usize) -> f64 {
    (i + 1) as f64 * 0.05
}

/// Whose past runs a prediction draws on: one desktop grid (with its middleware), optionally
/// one kind of BoT on it, and one strategy. Every driver builds its keys here, so a history
/// written by one (a live service, a simulation, a report) is read the same way by another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OracleKey {
    /// The desktop grid: a live service's DG name, or `trace/middleware` in simulation.
    pub grid: String,
    /// The kind of BoT when one grid runs several (a workload label); `None` pools them.
    pub bots: Option<String>,
    pub strategy: String,
}

impl OracleKey {
    pub fn new(grid: impl Into<String>, strategy: Strategy) -> Self {
        OracleKey {
            grid: grid.into(),
            bots: None,
            strategy: strategy.to_string(),
        }
    }

    /// The same key restricted to one kind of BoT.
    pub fn for_bots(mut self, bots: impl Into<String>) -> Self {
        self.bots = Some(bots.into());
        self
    }
}

/// `grid[/bots]/strategy`: the form histories are stored under.
impl fmt::Display for OracleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.grid)?;
        if let Some(b) = &self.bots {
            write!(f, "/{b}")?;
        }
        write!(f, "/{}", self.strategy)
    }
}

fn grid_index(r: f64) -> usize {
    ((r / 0.05).round() as usize).clamp(1, GRID) - 1
}

/// How past runs' α values are summed up into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Estimator {
    /// The middle value: robust to the few runs that kept their tail.
    #[default]
    Median,
    /// The average, as the SpeQuloS paper defines α.
    Mean,
}

impl Estimator {
    /// α of `sorted` (ascending, non-empty).
    fn of(self, sorted: &[f64]) -> f64 {
        match self {
            Estimator::Mean => sorted.iter().sum::<f64>() / sorted.len() as f64,
            Estimator::Median => {
                let m = sorted.len() / 2;
                if sorted.len() % 2 == 1 {
                    sorted[m]
                } else {
                    (sorted[m - 1] + sorted[m]) / 2.0
                }
            }
        }
    }

    /// α of `sorted` without its `j`-th value (`sorted.len() ≥ 2`), in O(1).
    fn without(self, sorted: &[f64], j: usize, sum: f64) -> f64 {
        let n = sorted.len();
        match self {
            Estimator::Mean => (sum - sorted[j]) / (n - 1) as f64,
            Estimator::Median => {
                // The k-th value of the others.
                let at = |k: usize| if k < j { sorted[k] } else { sorted[k + 1] };
                let m = (n - 1) / 2;
                if (n - 1) % 2 == 1 {
                    at(m)
                } else {
                    (at(m - 1) + at(m)) / 2.0
                }
            }
        }
    }
}

impl fmt::Display for Estimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Estimator::Median => "median",
            Estimator::Mean => "mean",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OracleParams {
    /// How past runs' α are summed up: `median` or `mean` (the paper's).
    pub estimator: Estimator,
    /// Share of runs the interval should contain; (0, 1].
    pub target_success: f64,
    /// Half-width of the interval, relative, while history is too short; [0, 1).
    pub default_delta: f64,
    /// Runs of a key needed before α and δ are learned; [2, 10^6] (δ is judged leave-one-out,
    /// which needs two runs).
    pub min_history: usize,
}

impl OracleParams {
    pub fn validate(&self) -> Checked {
        check::real_above("target_success", self.target_success, 0.0, 1.0, "")?;
        if !(self.default_delta >= 0.0 && self.default_delta < 1.0) {
            return Err(FieldError::new(
                "default_delta",
                self.default_delta,
                "a number in [0, 1)",
            ));
        }
        check::int("min_history", self.min_history as u64, 2, 1_000_000)
    }
}

impl Default for OracleParams {
    fn default() -> Self {
        OracleParams {
            estimator: Estimator::Median,
            target_success: 0.8,
            default_delta: 0.25,
            min_history: 3,
        }
    }
}

/// One finished execution as the Oracle remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// α at each grid ratio (None where the run never reached it).
    pub alphas: Vec<Option<f64>>,
    pub credits_spent: u64,
    /// Seconds from submission to completion, and the BoT's task count: what admission
    /// control judges deadline orders from (absent in histories written before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<u32>,
}

impl RunRecord {
    /// A run that completed at `t_final`, having reached grid ratio `i` at `time_at(i)`
    /// seconds after submission (`None` where it is not known).
    pub fn from_times(
        time_at: impl Fn(usize) -> Option<f64>,
        t_final: f64,
        credits_spent: u64,
    ) -> Self {
        let alphas = (0..GRID)
            .map(|i| {
                time_at(i)
                    .filter(|&t| t > 0.0 && t.is_finite() && t_final.is_finite())
                    .map(|t| t_final * grid_ratio(i) / t)
            })
            .collect();
        RunRecord {
            alphas,
            credits_spent,
            completion: t_final.is_finite().then_some(t_final),
            tasks: None,
        }
    }
}

/// One leave-one-out judgement: a past run predicted by the Oracle taught every other run of
/// its key. Values are relative to the run's actual completion time (1 = exact), since the
/// prediction scales with the elapsed time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    /// Grid index of the completion ratio the prediction was made at.
    pub point: usize,
    /// Index of the judged run in the key's history.
    pub run: usize,
    pub predicted: f64,
    pub low: f64,
    pub high: f64,
    pub calibrated: bool,
}

impl Judged {
    /// Whether the prediction lies within `tolerance` (relative) of the actual time.
    pub fn hit(&self, tolerance: f64) -> bool {
        (self.predicted - 1.0).abs() <= tolerance
    }

    /// Whether the announced interval contains the actual time.
    pub fn covered(&self) -> bool {
        self.low <= 1.0 && 1.0 <= self.high
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Predicted completion time, seconds since submission.
    pub completion: f64,
    pub low: f64,
    pub high: f64,
    /// Relative half-width of the interval.
    pub delta: f64,
    /// Whether α and δ come from enough history (otherwise defaults).
    pub calibrated: bool,
    /// Credits the key's past runs spent on average, when known.
    pub credits: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Oracle {
    pub params: OracleParams,
    history: BTreeMap<String, Vec<RunRecord>>,
}

impl Oracle {
    pub fn new(params: OracleParams) -> Self {
        Oracle {
            params,
            history: BTreeMap::new(),
        }
    }

    /// Checks a history read from a file: its parameters, one α per grid point for each run,
    /// every α a positive number. The error names the key and the run.
    pub fn validate(&self) -> Checked {
        self.params.validate().map_err(|e| e.within("params"))?;
        for (key, runs) in &self.history {
            for (i, r) in runs.iter().enumerate() {
                let field = format!("history.{key}[{i}].alphas");
                if r.alphas.len() != GRID {
                    return Err(FieldError::new(
                        &field,
                        format!("{} values", r.alphas.len()),
                        format!("{GRID} values (one per 5 % of completion)"),
                    ));
                }
                if let Some(a) = r
                    .alphas
                    .iter()
                    .flatten()
                    .find(|a| !(a.is_finite() && **a > 0.0))
                {
                    return Err(FieldError::new(&field, a, "positive numbers or null"));
                }
            }
        }
        Ok(())
    }

    pub fn history(&self, key: &OracleKey) -> &[RunRecord] {
        self.history
            .get(&key.to_string())
            .map_or(&[], Vec::as_slice)
    }

    /// Learns from a finished run.
    pub fn learn(
        &mut self,
        key: &OracleKey,
        progress: &BotProgress,
        t_final: f64,
        credits_spent: u64,
    ) {
        let mut record =
            RunRecord::from_times(|i| progress.time_at(grid_ratio(i)), t_final, credits_spent);
        record.tasks = Some(progress.total());
        self.learn_record(key, record);
    }

    /// Learns a run already reduced to its record (e.g. rebuilt from a sweep's `runs.csv`).
    pub fn learn_record(&mut self, key: &OracleKey, record: RunRecord) {
        self.history
            .entry(key.to_string())
            .or_default()
            .push(record);
    }

    /// The completed runs of `key` admission control compares an order of `tasks` tasks with:
    /// those of a size within a factor of 2 (all of them when `tasks` is unknown), with how
    /// long they took and the credits they spent.
    pub fn past(&self, key: &OracleKey, tasks: Option<u32>) -> Vec<crate::admission::Past> {
        let runs = self.history(key).iter().filter_map(|r| {
            let past = crate::admission::Past {
                completion: r.completion?,
                credits: r.credits_spent,
            };
            Some((r.tasks, past))
        });
        crate::admission::similar(tasks, runs)
    }

    /// Predicts the completion of a BoT of `key` that reached ratio `r` after `elapsed` seconds.
    pub fn predict(&self, key: &OracleKey, r: f64, elapsed: f64) -> Option<Prediction> {
        self.predict_from(self.history(key), None, r, elapsed)
    }

    /// Every run of `key` predicted, at every grid ratio it reached, by this Oracle taught all
    /// the key's other runs: what its users would have been told, judged against what came.
    pub fn leave_one_out(&self, key: &OracleKey) -> Vec<Judged> {
        let runs = self.history(key);
        let mut out = Vec::new();
        for (j, run) in runs.iter().enumerate() {
            for (i, a) in run.alphas.iter().enumerate() {
                let Some(a) = a.filter(|a| a.is_finite() && *a > 0.0) else {
                    continue;
                };
                // The run reached ratio r at t(r) = t_final·r/α; predicting with elapsed = r/α
                // gives the prediction in units of its t_final.
                let r = grid_ratio(i);
                if let Some(p) = self.predict_from(runs, Some(j), r, r / a) {
                    out.push(Judged {
                        point: i,
                        run: j,
                        predicted: p.completion,
                        low: p.low,
                        high: p.high,
                        calibrated: p.calibrated,
                    });
                }
            }
        }
        out
    }

    /// The prediction from `history` without its run `skip` (leave-one-out).
    fn predict_from(
        &self,
        history: &[RunRecord],
        skip: Option<usize>,
        r: f64,
        elapsed: f64,
    ) -> Option<Prediction> {
        if !(r > 0.0 && elapsed > 0.0) {
            return None;
        }
        let i = grid_index(r);
        let kept = || {
            history
                .iter()
                .enumerate()
                .filter(move |&(k, _)| Some(k) != skip)
                .map(|(_, h)| h)
        };
        let mut past: Vec<f64> = kept()
            .filter_map(|h| h.alphas.get(i).copied().flatten())
            .filter(|a| a.is_finite() && *a > 0.0)
            .collect();
        let linear = elapsed / r;
        // Leave-one-out needs two runs, whatever the parameters say.
        let (alpha, delta, calibrated) = if past.len() >= self.params.min_history.max(2) {
            past.sort_by(f64::total_cmp);
            let est = self.params.estimator;
            let sum: f64 = past.iter().sum();
            let n = past.len() as f64;
            // Leave-one-out: each run is judged by the α of the others.
            let mut errors: Vec<f64> = (0..past.len())
                .map(|j| (past[j] / est.without(&past, j, sum) - 1.0).abs())
                .collect();
            errors.sort_by(f64::total_cmp);
            let target = self.params.target_success.clamp(0.0, 1.0);
            let k = ((target * (n + 1.0)).ceil() as usize).clamp(1, errors.len()) - 1;
            (est.of(&past), errors[k], true)
        } else {
            (1.0, self.params.default_delta, false)
        };
        let completion = alpha * linear;
        let n_kept = kept().count();
        let credits = (n_kept > 0)
            .then(|| kept().map(|r| r.credits_spent as f64).sum::<f64>() / n_kept as f64);
        Some(Prediction {
            completion,
            low: completion * (1.0 - delta),
            high: completion * (1.0 + delta),
            delta,
            calibrated,
            credits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(grid: &str) -> OracleKey {
        OracleKey::new(grid, Strategy::None)
    }

    /// A run whose completion curve is linear until `knee` and then takes `tail` more seconds.
    fn run(total: u32, knee: f64, tail: f64) -> BotProgress {
        let mut p = BotProgress::new(total);
        p.record_assigned(0.0, total);
        for i in 1..total {
            p.record_completed(knee * i as f64 / (total - 1) as f64, 1);
        }
        p.record_completed(knee + tail, 1);
        p
    }

    #[test]
    fn linear_extrapolation_without_history() {
        let o = Oracle::default();
        let p = o.predict(&key("k"), 0.5, 100.0).unwrap();
        assert_eq!(p.completion, 200.0);
        assert!(!p.calibrated);
        assert_eq!((p.low, p.high), (150.0, 250.0));
        assert!(o.predict(&key("k"), 0.0, 10.0).is_none());
    }

    #[test]
    fn alpha_learns_the_tail() {
        let mut o = Oracle::default();
        // Each run: 99 % of tasks linear over 1000 s, then a 1000 s tail: t_final = 2000 s.
        for tail in [900.0, 1000.0, 1100.0, 1000.0] {
            let p = run(100, 1000.0, tail);
            let t_final = *p.completion_times().last().unwrap();
            o.learn(&key("seti/boinc"), &p, t_final, 0);
        }
        // At 50 %, t(r) ≈ 505 s; the linear estimate ≈ 1010 s; α ≈ 2.
        let pred = o.predict(&key("seti/boinc"), 0.5, 505.0).unwrap();
        assert!(pred.calibrated);
        assert!((pred.completion - 2000.0).abs() < 60.0, "{pred:?}");
        assert!(pred.delta > 0.0 && pred.delta < 0.1, "{pred:?}");
        assert!(o
            .predict(&key("other"), 0.5, 505.0)
            .is_some_and(|p| !p.calibrated));
    }

    #[test]
    fn a_hostile_history_is_refused_and_never_panics() {
        let mut o = Oracle::default();
        for _ in 0..3 {
            o.learn(&key("k"), &run(10, 100.0, 10.0), 110.0, 0);
        }
        o.validate().unwrap();
        // A history file edited by hand: a short alpha list, a negative alpha, bad parameters.
        let mut short = o.clone();
        short.history.get_mut("k/none").unwrap()[1]
            .alphas
            .truncate(3);
        let e = short.validate().unwrap_err();
        assert_eq!(e.field, "history.k/none[1].alphas", "{e}");
        assert!(
            short.predict(&key("k"), 0.9, 90.0).is_some(),
            "predict copes anyway"
        );
        let mut neg = o.clone();
        neg.history.get_mut("k/none").unwrap()[0].alphas[0] = Some(-1.0);
        assert!(neg.validate().is_err());
        for params in [
            OracleParams {
                min_history: 0,
                ..OracleParams::default()
            },
            OracleParams {
                target_success: f64::NAN,
                ..OracleParams::default()
            },
            OracleParams {
                default_delta: -5.0,
                ..OracleParams::default()
            },
        ] {
            assert!(params.validate().is_err(), "{params:?}");
            let o = Oracle {
                params,
                ..o.clone()
            };
            assert!(o.predict(&key("k"), 0.5, 50.0).is_some());
        }
    }

    #[test]
    fn keys_print_as_histories_are_stored() {
        let s: Strategy = "9C-G-D".parse().unwrap();
        assert_eq!(
            OracleKey::new("seti/boinc", s).to_string(),
            "seti/boinc/9C-G-D"
        );
        assert_eq!(
            OracleKey::new("edges", Strategy::None)
                .for_bots("small")
                .to_string(),
            "edges/small/none"
        );
    }

    #[test]
    fn leave_one_out_is_predict_without_the_run() {
        let mut o = Oracle::default();
        let k = key("g");
        let tails = [900.0, 1000.0, 1100.0, 1300.0];
        for tail in tails {
            let p = run(100, 1000.0, tail);
            let t_final = *p.completion_times().last().unwrap();
            o.learn(&k, &p, t_final, 0);
        }
        let judged = o.leave_one_out(&k);
        assert_eq!(judged.len(), tails.len() * GRID, "every run at every point");
        // Run 3 at 50 %, by hand: an Oracle that learnt runs 0–2 only, asked at that run's t(r).
        let p3 = run(100, 1000.0, 1300.0);
        let t3 = *p3.completion_times().last().unwrap();
        let mut without = Oracle::default();
        for tail in &tails[..3] {
            let p = run(100, 1000.0, *tail);
            without.learn(&k, &p, *p.completion_times().last().unwrap(), 0);
        }
        let by_hand = without.predict(&k, 0.5, p3.time_at(0.5).unwrap()).unwrap();
        let j = judged.iter().find(|j| j.run == 3 && j.point == 9).unwrap();
        assert!(
            (j.predicted - by_hand.completion / t3).abs() < 1e-12,
            "{j:?} {by_hand:?}"
        );
        assert!((j.high - by_hand.high / t3).abs() < 1e-12);
        // The longest tail is underestimated: α of the others is smaller than its own.
        assert!(j.predicted < 1.0 && !j.hit(0.01));
        // With one run there is nothing to learn from: judged uncalibrated.
        let mut one = Oracle::default();
        one.learn(&k, &run(10, 100.0, 10.0), 110.0, 0);
        assert!(one.leave_one_out(&k).iter().all(|j| !j.calibrated));
        assert!(Oracle::default().leave_one_out(&k).is_empty());
    }

    #[test]
    fn leaving_one_out_of_a_median_or_mean_matches_recomputing_it() {
        let v = [1.0, 1.5, 2.0, 4.0, 9.0];
        for n in 2..=v.len() {
            let sorted = &v[..n];
            let sum: f64 = sorted.iter().sum();
            for est in [Estimator::Median, Estimator::Mean] {
                for j in 0..n {
                    let mut others = sorted.to_vec();
                    others.remove(j);
                    assert_eq!(
                        est.without(sorted, j, sum),
                        est.of(&others),
                        "{est} {n} {j}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_median_predicts_the_common_kind_of_run() {
        // Four runs whose tail was removed (α ≈ 1.1) and one that kept it (α = 3).
        let mut o = Oracle::default();
        let k = key("g");
        for tail in [100.0, 110.0, 90.0, 105.0, 2000.0] {
            let p = run(100, 1000.0, tail);
            o.learn(&k, &p, *p.completion_times().last().unwrap(), 0);
        }
        let t50 = run(100, 1000.0, 100.0).time_at(0.5).unwrap();
        let median = o.predict(&k, 0.5, t50).unwrap();
        assert!(
            (median.completion / 1100.0 - 1.0).abs() < 0.05,
            "{median:?}"
        );
        o.params.estimator = Estimator::Mean;
        let mean = o.predict(&k, 0.5, t50).unwrap();
        assert!(mean.completion > 1.3 * 1100.0, "{mean:?}");
    }
}
