//! Tunable constants of the strategy core. Defaults are the authors' early simulator's values
//! (../shared/research/spequlos.md §2–§5) unless stated.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QosParams {
    /// Scheduler period, seconds.
    pub tick: f64,
    /// Credits charged per running Cloud worker per tick (1 per 240 s = 15 per worker-hour).
    pub cost_per_tick: u64,
    /// Variance trigger: fire once completion reaches this ratio...
    pub variance_min_completion: f64,
    /// ...and the second-half maximum assign-to-complete delay exceeds `kappa` × the first half's.
    pub kappa: f64,
    /// Tail-rate trigger: fire when the rate over `tail_window` s falls below `rho` × the rate
    /// between 10 % and 50 % completion (our addition; not in the papers).
    pub rho: f64,
    pub tail_window: f64,
    /// Conservative sizing never assumes less than this many hours remain.
    pub min_remaining_hours: f64,
    /// Allow more than one deployment per BoT (the early simulator deploys once).
    pub redeploy: bool,
}

impl Default for QosParams {
    fn default() -> Self {
        QosParams {
            tick: 240.0,
            cost_per_tick: 1,
            variance_min_completion: 0.75,
            kappa: 1.5,
            rho: 0.5,
            tail_window: 1800.0,
            min_remaining_hours: 1.0,
            redeploy: false,
        }
    }
}

impl QosParams {
    /// Credits one Cloud worker costs per hour.
    pub fn credits_per_worker_hour(&self) -> f64 {
        self.cost_per_tick as f64 * 3600.0 / self.tick
    }

    /// The default order for a BoT: what running `fraction` of its `total_ops` operations on
    /// Cloud workers of `cloud_speed` ops/s costs, rounded up to whole credits (the papers give
    /// each BoT the cost of 10 % of its workload).
    pub fn default_order(&self, total_ops: f64, cloud_speed: f64, fraction: f64) -> u64 {
        let hours = fraction * total_ops / cloud_speed / 3600.0;
        let credits = hours * self.credits_per_worker_hour();
        // A value that is a whole number but for floating-point error must not round up.
        let nearest = credits.round();
        if (credits - nearest).abs() <= 1e-9 * nearest.max(1.0) {
            nearest as u64
        } else {
            credits.ceil() as u64
        }
    }
    pub fn validate(&self) -> Result<(), String> {
        let pos = |n: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{n} must be > 0, got {v}"))
            }
        };
        pos("tick", self.tick)?;
        pos("kappa", self.kappa)?;
        pos("rho", self.rho)?;
        pos("tail_window", self.tail_window)?;
        if !(0.0..=1.0).contains(&self.variance_min_completion) {
            return Err("variance_min_completion must be within [0, 1]".into());
        }
        if self.cost_per_tick == 0 {
            return Err("cost_per_tick must be >= 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_order_is_ten_percent_of_the_work_in_cloud_time() {
        let p = QosParams::default();
        assert_eq!(p.credits_per_worker_hour(), 15.0);
        // 1000 tasks of 3.6e6 ops at 3000 ops/s: 333.3 h of Cloud time; 10 % is 33.3 h.
        assert_eq!(p.default_order(3.6e9, 3000.0, 0.1), 500);
        assert_eq!(
            p.default_order(3.6e9, 3000.0, 0.1001),
            501,
            "a real fraction of a credit rounds up"
        );
    }
}
