//! Per-run and per-pair figures of merit.
//!
//! - t_ideal: completion time had the pace up to `ideal_fraction` (90 %) continued:
//!   t(0.9) / 0.9, from the completion curve.
//! - tail duration t_complete − t_ideal, tail slowdown t_complete / t_ideal.
//! - speedup t_baseline / t_speq and Tail Removal Efficiency
//!   TRE = (t_baseline − t_speq) / (t_baseline − t_ideal_baseline): 1 when SpeQuloS removes the
//!   whole tail, 0 when it gains nothing, above 1 when it also beats the 90 % pace, below 0
//!   when the run with SpeQuloS ended later. Undefined (NaN) when the baseline has no tail
//!   ([`has_tail`]): a ratio over a tail of a few seconds says nothing about SpeQuloS.
//!
//! docs/metrics.md defines every metric the simulator and the reports print.

use serde::{Deserialize, Serialize};

use crate::oracle::Prediction;
use crate::progress::BotProgress;

/// A run has a tail when it ends at least this fraction of t_ideal after t_ideal (tail
/// slowdown ≥ 1.05). On the HPDC'12 grid, 16 % of the baselines fall below it, nearly all on
/// the spot-market traces, whose hosts seldom fail; their TRE ranged from −12 to 27 over tails
/// of a few minutes, against −4.9 to 2.3 once they are left out.
pub const MIN_TAIL: f64 = 0.05;

/// Whether a run with these figures has a tail: it completed, and its tail is at least
/// [`MIN_TAIL`] of its t_ideal.
pub fn has_tail(m: &RunMetrics) -> bool {
    m.tail_duration >= MIN_TAIL * m.t_ideal
}

/// Completion ratios at which predictions are checked.
pub const PREDICTION_POINTS: [f64; 4] = [0.25, 0.5, 0.75, 0.9];

/// The Oracle's announcement at one completion point, and how it turned out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PredictionCheck {
    pub ratio: f64,
    /// When the ratio was reached.
    pub at: f64,
    pub prediction: Prediction,
    /// (predicted − actual) / actual; NaN if the run did not complete.
    pub error: f64,
    pub hit: bool,
}

impl PredictionCheck {
    pub fn new(ratio: f64, at: f64, prediction: Prediction, actual: Option<f64>) -> Self {
        let (error, hit) = match actual {
            Some(t) if t > 0.0 => (
                (prediction.completion - t) / t,
                prediction.low <= t && t <= prediction.high,
            ),
            _ => (f64::NAN, false),
        };
        PredictionCheck {
            ratio,
            at,
            prediction,
            error,
            hit,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Seconds from submission to the last completion; NaN if the BoT did not complete.
    pub completion_time: f64,
    pub t_ideal: f64,
    pub tail_duration: f64,
    pub tail_slowdown: f64,
    /// Operations executed, counting duplicates and work lost to failures.
    pub ops_executed: f64,
    pub ops_cloud: f64,
    pub cloud_share: f64,
    pub credits_ordered: u64,
    pub credits_spent: u64,
    pub workers_started: u32,
    /// When Cloud workers were first requested (NaN if never).
    pub deployed_at: f64,
    pub predictions: Vec<PredictionCheck>,
}

impl RunMetrics {
    pub fn completed(&self) -> bool {
        self.completion_time.is_finite()
    }
}

/// t(fraction) / fraction, or NaN if the fraction was never reached.
pub fn ideal_time(p: &BotProgress, fraction: f64) -> f64 {
    p.time_at(fraction).map_or(f64::NAN, |t| t / fraction)
}

/// Completion-curve figures of a run; cost figures are filled by the caller.
pub fn run_metrics(p: &BotProgress, submitted_at: f64, ideal_fraction: f64) -> RunMetrics {
    let completion_time = if p.is_complete() {
        p.completion_times()
            .last()
            .map_or(f64::NAN, |t| t - submitted_at)
    } else {
        f64::NAN
    };
    let t_ideal = p
        .time_at(ideal_fraction)
        .map_or(f64::NAN, |t| (t - submitted_at) / ideal_fraction);
    RunMetrics {
        completion_time,
        t_ideal,
        tail_duration: completion_time - t_ideal,
        tail_slowdown: completion_time / t_ideal,
        ops_executed: 0.0,
        ops_cloud: 0.0,
        cloud_share: 0.0,
        credits_ordered: 0,
        credits_spent: 0,
        workers_started: 0,
        deployed_at: f64::NAN,
        predictions: Vec::new(),
    }
}

/// Figures that compare a SpeQuloS run with its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairMetrics {
    pub speedup: f64,
    pub tre: f64,
}

pub fn pair(baseline: &RunMetrics, speq: &RunMetrics) -> PairMetrics {
    let (b, s) = (baseline.completion_time, speq.completion_time);
    PairMetrics {
        speedup: b / s,
        tre: if has_tail(baseline) {
            (b - s) / baseline.tail_duration
        } else {
            f64::NAN
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_pair() {
        let mut base = BotProgress::new(10);
        base.record_assigned(0.0, 10);
        for i in 1..=9 {
            base.record_completed(i as f64 * 100.0, 1);
        }
        base.record_completed(3000.0, 1);
        let b = run_metrics(&base, 0.0, 0.9);
        assert_eq!(b.t_ideal, 1000.0);
        assert_eq!(b.completion_time, 3000.0);
        assert_eq!(b.tail_slowdown, 3.0);
        let mut s = b.clone();
        s.completion_time = 1500.0;
        let pm = pair(&b, &s);
        assert_eq!(pm.speedup, 2.0);
        assert_eq!(pm.tre, 0.75);
        // A tail under 5 % of t_ideal is none: no TRE.
        let mut short = b.clone();
        short.completion_time = 1040.0;
        short.tail_duration = 40.0;
        assert!(!has_tail(&short));
        assert!(pair(&short, &s).tre.is_nan());
        short.completion_time = 1050.0;
        short.tail_duration = 50.0;
        assert!(has_tail(&short));
        assert_eq!(pair(&short, &s).tre, (1050.0 - 1500.0) / 50.0);
        let mut unfinished = BotProgress::new(2);
        unfinished.record_completed(1.0, 1);
        let u = run_metrics(&unfinished, 0.0, 0.9);
        assert!(!u.completed());
        assert!(!has_tail(&u), "an unfinished run has no measured tail");
    }
}
