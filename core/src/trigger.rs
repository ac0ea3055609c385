//! Deployment triggers: should Cloud workers start now?

use crate::params::QosParams;
use crate::progress::BotProgress;
use crate::strategy::Trigger;

/// Whether `trigger` fires at time `now` for a BoT in state `p`.
pub fn fires(trigger: Trigger, p: &BotProgress, params: &QosParams, now: f64) -> bool {
    if p.total() == 0 || p.is_complete() {
        return false;
    }
    match trigger {
        Trigger::Completion { percent } => p.completion() >= percent as f64 / 100.0,
        Trigger::Assignment { percent } => p.assignment() >= percent as f64 / 100.0,
        Trigger::Variance => {
            let (first, second) = p.delay_maxima();
            p.completion() >= params.variance_min_completion && second > params.kappa * first
        }
        Trigger::TailRate => tail_rate_fires(p, params, now),
    }
}

fn tail_rate_fires(p: &BotProgress, params: &QosParams, now: f64) -> bool {
    let (Some(t10), Some(t50)) = (p.time_at(0.1), p.time_at(0.5)) else {
        return false;
    };
    // The window must lie after the reference period, or it would measure the reference itself.
    if now - params.tail_window < t50 {
        return false;
    }
    let n = p.total() as f64;
    let reference = if t50 > t10 {
        (p.completed_at(t50) - p.completed_at(t10)) as f64 / (t50 - t10)
    } else {
        // Everything up to 50 % finished at one instant: any later slowdown is a tail.
        f64::INFINITY
    };
    let recent = (p.completed_at(now) - p.completed_at(now - params.tail_window)) as f64
        / params.tail_window;
    recent < params.rho * reference && n > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(total: u32, assigned: &[f64], completed: &[f64]) -> BotProgress {
        let mut p = BotProgress::new(total);
        for &t in assigned {
            p.record_assigned(t, 1);
        }
        for &t in completed {
            p.record_completed(t, 1);
        }
        p
    }

    #[test]
    fn thresholds() {
        let params = QosParams::default();
        let p = progress(10, &[0.0; 9], &[1.0; 8]);
        assert!(fires(Trigger::Assignment { percent: 90 }, &p, &params, 5.0));
        assert!(!fires(
            Trigger::Completion { percent: 90 },
            &p,
            &params,
            5.0
        ));
        assert!(fires(Trigger::Completion { percent: 80 }, &p, &params, 5.0));
    }

    #[test]
    fn variance_needs_three_quarters_and_a_slow_second_half() {
        let params = QosParams::default();
        // First half: delays up to 10; second half: 12 (< 1.5 × 10), then 40.
        let assigned = [0.0; 8];
        let p = progress(8, &assigned, &[5.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
        assert!(
            !fires(Trigger::Variance, &p, &params, 12.0),
            "0.75 reached but 12 < 15"
        );
        let p = progress(8, &assigned, &[5.0, 8.0, 9.0, 10.0, 11.0, 40.0]);
        assert!(fires(Trigger::Variance, &p, &params, 40.0));
        let p = progress(8, &assigned, &[5.0, 8.0, 9.0, 10.0, 40.0]);
        assert!(
            !fires(Trigger::Variance, &p, &params, 40.0),
            "only 5/8 complete"
        );
    }

    #[test]
    fn tail_rate_compares_recent_rate_with_the_reference() {
        let params = QosParams {
            tail_window: 100.0,
            rho: 0.5,
            ..QosParams::default()
        };
        // 10 tasks: 1 per 10 s up to 60 % (reference 0.1/s), then nothing.
        let done: Vec<f64> = (1..=6).map(|i| i as f64 * 10.0).collect();
        let p = progress(10, &[0.0; 10], &done);
        assert!(
            !fires(Trigger::TailRate, &p, &params, 120.0),
            "window overlaps the reference"
        );
        assert!(
            fires(Trigger::TailRate, &p, &params, 200.0),
            "no completion in the last 100 s"
        );
        let busy: Vec<f64> = (1..=9).map(|i| i as f64 * 20.0).collect();
        let p = progress(10, &[0.0; 10], &busy);
        assert!(!fires(Trigger::TailRate, &p, &params, 180.0), "steady rate");
    }
}
