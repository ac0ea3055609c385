//! Admission control for deadline orders.
//!
//! An order may say when its BoT must be complete. Before taking it, the service looks at how
//! long similar BoTs took on the same DG under the same strategy (its own history) and
//! admits the order, admits it with a warning, or refuses it with what it predicts and, when
//! its history knows one, the credits that met such a deadline before.
//!
//! The prediction at submission has no progress to scale from: it is the history itself. The
//! order is admitted when the `target_success` quantile of past completion times (of runs
//! given no more credits than this order) meets the deadline, admitted with a warning when
//! only their median does, and refused otherwise. With fewer than `min_history` similar runs
//! nothing can be said and the order is admitted with a warning.

use serde::{Deserialize, Serialize};

use crate::ledger::Credits;

/// A similar BoT the service ran before: how long it took, with how many credits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Past {
    pub completion: f64,
    pub credits: Credits,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Admission {
    /// The deadline is met with the target confidence.
    Admit { predicted: f64, likely: f64 },
    /// Taken, but the deadline is at risk (or the history too short to tell).
    Warn { predicted: f64, likely: f64 },
    /// Refused: even the median past run missed the deadline. `credits_needed`: the fewest
    /// credits with which past runs met it at the target confidence, if any did.
    Refuse {
        predicted: f64,
        likely: f64,
        credits_needed: Option<Credits>,
    },
}

impl Admission {
    pub fn name(&self) -> &'static str {
        match self {
            Admission::Admit { .. } => "admit",
            Admission::Warn { .. } => "warn",
            Admission::Refuse { .. } => "refuse",
        }
    }

    pub fn admitted(&self) -> bool {
        !matches!(self, Admission::Refuse { .. })
    }

    /// The median past completion (seconds from submission; NaN without history).
    pub fn predicted(&self) -> f64 {
        match *self {
            Admission::Admit { predicted, .. }
            | Admission::Warn { predicted, .. }
            | Admission::Refuse { predicted, .. } => predicted,
        }
    }
}

/// The `q` quantile (nearest rank, upper) of sorted `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    let k = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[k]
}

/// The verdict on an order of `credits` due within `deadline` seconds, from the similar runs
/// `past`: `target` in (0, 1) is the confidence asked for (the Oracle's `target_success`),
/// `min_history` the runs needed to say anything.
pub fn judge(
    past: &[Past],
    credits: Credits,
    deadline: f64,
    target: f64,
    min_history: usize,
) -> Admission {
    let times = |max_credits: Credits| {
        let mut v: Vec<f64> = past
            .iter()
            .filter(|p| p.credits <= max_credits && p.completion.is_finite())
            .map(|p| p.completion)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let mine = times(credits);
    if mine.len() < min_history.max(1) {
        let predicted = if mine.is_empty() {
            f64::NAN
        } else {
            quantile(&mine, 0.5)
        };
        return Admission::Warn {
            predicted,
            likely: f64::NAN,
        };
    }
    let (predicted, likely) = (quantile(&mine, 0.5), quantile(&mine, target));
    if likely <= deadline {
        Admission::Admit { predicted, likely }
    } else if predicted <= deadline {
        Admission::Warn { predicted, likely }
    } else {
        // The fewest credits some past runs had with which enough of the runs given no more
        // met the deadline.
        let mut levels: Vec<Credits> = past.iter().map(|p| p.credits).collect();
        levels.sort_unstable();
        levels.dedup();
        let credits_needed = levels.into_iter().filter(|&c| c > credits).find(|&c| {
            let v = times(c);
            v.len() >= min_history.max(1) && quantile(&v, target) <= deadline
        });
        Admission::Refuse {
            predicted,
            likely,
            credits_needed,
        }
    }
}

/// The runs an order of `tasks` tasks is compared with: those of a size within a factor of 2
/// of it (every run when the order does not say its size; none of unknown size otherwise).
/// The simulator and the live service both judge from this one rule.
pub fn similar(
    tasks: Option<u32>,
    runs: impl IntoIterator<Item = (Option<u32>, Past)>,
) -> Vec<Past> {
    runs.into_iter()
        .filter(|(m, _)| match (tasks, m) {
            (Some(n), Some(m)) => (0.5..=2.0).contains(&(f64::from(*m) / f64::from(n.max(1)))),
            (Some(_), None) => false,
            (None, _) => true,
        })
        .map(|(_, p)| p)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn past(runs: &[(f64, Credits)]) -> Vec<Past> {
        runs.iter()
            .map(|&(completion, credits)| Past {
                completion,
                credits,
            })
            .collect()
    }

    #[test]
    fn admits_warns_and_refuses_by_the_history() {
        // Ten runs with 100 credits: 10, 11, ..., 19 hours.
        let h = past(
            &(0..10)
                .map(|i| (3600.0 * (10 + i) as f64, 100))
                .collect::<Vec<_>>(),
        );
        // 80 % of them within 18 h.
        assert!(matches!(
            judge(&h, 100, 18.0 * 3600.0, 0.8, 3),
            Admission::Admit { .. }
        ));
        // The median (14 h) meets 15 h, the 80 % quantile does not.
        assert!(matches!(
            judge(&h, 100, 15.0 * 3600.0, 0.8, 3),
            Admission::Warn { .. }
        ));
        let r = judge(&h, 100, 12.0 * 3600.0, 0.8, 3);
        assert_eq!(r.name(), "refuse");
        assert_eq!(r.predicted(), 14.0 * 3600.0);
    }

    #[test]
    fn a_refusal_names_the_credits_that_met_the_deadline_before() {
        let mut runs: Vec<(f64, Credits)> =
            (0..5).map(|i| (3600.0 * (20 + i) as f64, 50)).collect();
        runs.extend((0..5).map(|i| (3600.0 * (8 + i) as f64, 400)));
        let h = past(&runs);
        // With 50 credits: median 22 h, 80 % within 23 h. Counting the runs given up to 400
        // credits (all ten), 80 % are within 22 h: no level meets 13 h at 80 %.
        let r = judge(&h, 50, 13.0 * 3600.0, 0.8, 3);
        assert_eq!(
            r,
            Admission::Refuse {
                predicted: 22.0 * 3600.0,
                likely: 23.0 * 3600.0,
                credits_needed: None
            }
        );
        // A 30 h deadline is met by the 50-credit runs.
        assert!(judge(&h, 50, 30.0 * 3600.0, 0.8, 3).admitted());
        // Where more credits helped: with 10, the median is 31 s; counting the runs given up
        // to 90, half are within 8 s.
        let h = past(&[
            (30.0, 10),
            (31.0, 10),
            (32.0, 10),
            (5.0, 90),
            (6.0, 90),
            (7.0, 90),
            (8.0, 90),
        ]);
        let r = judge(&h, 10, 20.0, 0.5, 3);
        assert_eq!(
            r,
            Admission::Refuse {
                predicted: 31.0,
                likely: 31.0,
                credits_needed: Some(90)
            }
        );
    }

    #[test]
    fn too_little_history_is_a_warning() {
        let h = past(&[(100.0, 10), (200.0, 10)]);
        let r = judge(&h, 10, 50.0, 0.8, 3);
        assert_eq!(r.name(), "warn");
        assert_eq!(r.predicted(), 100.0);
        assert!(judge(&[], 10, 50.0, 0.8, 3).predicted().is_nan());
        // Runs given more credits than the order do not count for it.
        let h = past(&[(100.0, 500), (110.0, 500), (120.0, 500)]);
        assert_eq!(judge(&h, 10, 50.0, 0.8, 3).name(), "warn");
    }
}
