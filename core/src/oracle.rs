//! The Oracle: completion-time prediction learned from past executions.
//!
//! At completion ratio r reached after t(r) seconds, the prediction is t_p = α·t(r)/r, where α
//! is the mean over past runs of the same key (DG, middleware, strategy) of t_final·r / t(r).
//! The announced interval is [t_p(1−δ), t_p(1+δ)], δ being the `target_success` quantile of the
//! leave-one-out relative errors of past runs at that r, so that about that share of runs falls
//! inside. With too little history, α = 1 (linear extrapolation) and δ takes its default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spequlos_check::{self as check, Checked, FieldError};

use crate::progress::BotProgress;

/// Completion ratios at which α is learned: 5 %, 10 %, ..., 95 %.
const GRID: usize = 19;

fn grid_ratio(i: usize) -> f64 {
    (i + 1) as f64 * 0.05
}

fn grid_index(r: f64) -> usize {
    ((r / 0.05).round() as usize).clamp(1, GRID) - 1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OracleParams {
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

    pub fn history(&self, key: &str) -> &[RunRecord] {
        self.history.get(key).map_or(&[], Vec::as_slice)
    }

    /// Learns from a finished run.
    pub fn learn(&mut self, key: &str, progress: &BotProgress, t_final: f64, credits_spent: u64) {
        let alphas = (0..GRID)
            .map(|i| {
                let r = grid_ratio(i);
                progress
                    .time_at(r)
                    .filter(|&t| t > 0.0)
                    .map(|t| t_final * r / t)
            })
            .collect();
        self.history
            .entry(key.to_string())
            .or_default()
            .push(RunRecord {
                alphas,
                credits_spent,
            });
    }

    /// Predicts the completion of a BoT of `key` that reached ratio `r` after `elapsed` seconds.
    pub fn predict(&self, key: &str, r: f64, elapsed: f64) -> Option<Prediction> {
        if !(r > 0.0 && elapsed > 0.0) {
            return None;
        }
        let i = grid_index(r);
        let past: Vec<f64> = self
            .history(key)
            .iter()
            .filter_map(|h| h.alphas.get(i).copied().flatten())
            .filter(|a| a.is_finite() && *a > 0.0)
            .collect();
        let linear = elapsed / r;
        // Leave-one-out needs two runs, whatever the parameters say.
        let (alpha, delta, calibrated) = if past.len() >= self.params.min_history.max(2) {
            let mean = past.iter().sum::<f64>() / past.len() as f64;
            let n = past.len() as f64;
            // Leave-one-out: each run is judged by the mean of the others.
            let mut errors: Vec<f64> = past
                .iter()
                .map(|a| {
                    let others = (mean * n - a) / (n - 1.0);
                    (a / others - 1.0).abs()
                })
                .collect();
            errors.sort_by(f64::total_cmp);
            let target = self.params.target_success.clamp(0.0, 1.0);
            let k = ((target * (n + 1.0)).ceil() as usize).clamp(1, errors.len()) - 1;
            (mean, errors[k], true)
        } else {
            (1.0, self.params.default_delta, false)
        };
        let completion = alpha * linear;
        let credits = {
            let h = self.history(key);
            (!h.is_empty())
                .then(|| h.iter().map(|r| r.credits_spent as f64).sum::<f64>() / h.len() as f64)
        };
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
        let p = o.predict("k", 0.5, 100.0).unwrap();
        assert_eq!(p.completion, 200.0);
        assert!(!p.calibrated);
        assert_eq!((p.low, p.high), (150.0, 250.0));
        assert!(o.predict("k", 0.0, 10.0).is_none());
    }

    #[test]
    fn alpha_learns_the_tail() {
        let mut o = Oracle::default();
        // Each run: 99 % of tasks linear over 1000 s, then a 1000 s tail: t_final = 2000 s.
        for tail in [900.0, 1000.0, 1100.0, 1000.0] {
            let p = run(100, 1000.0, tail);
            let t_final = *p.completion_times().last().unwrap();
            o.learn("seti/boinc/none", &p, t_final, 0);
        }
        // At 50 %, t(r) ≈ 505 s; the linear estimate ≈ 1010 s; α ≈ 2.
        let pred = o.predict("seti/boinc/none", 0.5, 505.0).unwrap();
        assert!(pred.calibrated);
        assert!((pred.completion - 2000.0).abs() < 60.0, "{pred:?}");
        assert!(pred.delta > 0.0 && pred.delta < 0.1, "{pred:?}");
        assert!(o
            .predict("other", 0.5, 505.0)
            .is_some_and(|p| !p.calibrated));
    }

    #[test]
    fn a_hostile_history_is_refused_and_never_panics() {
        let mut o = Oracle::default();
        for _ in 0..3 {
            o.learn("k", &run(10, 100.0, 10.0), 110.0, 0);
        }
        o.validate().unwrap();
        // A history file edited by hand: a short alpha list, a negative alpha, bad parameters.
        let mut short = o.clone();
        short.history.get_mut("k").unwrap()[1].alphas.truncate(3);
        let e = short.validate().unwrap_err();
        assert_eq!(e.field, "history.k[1].alphas", "{e}");
        assert!(
            short.predict("k", 0.9, 90.0).is_some(),
            "predict copes anyway"
        );
        let mut neg = o.clone();
        neg.history.get_mut("k").unwrap()[0].alphas[0] = Some(-1.0);
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
            assert!(o.predict("k", 0.5, 50.0).is_some());
        }
    }
}
