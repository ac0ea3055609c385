//! Tunable constants of the strategy core. Defaults are the authors' early simulator's values
//! (../shared/research/spequlos.md §2–§5) unless stated.

use serde::{Deserialize, Serialize};
use spequlos_check::{self as check, Checked};

use crate::ledger::MAX_CREDITS;
use crate::usage::{LosingCopies, RescheduleCopies};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QosParams {
    /// Scheduler period, seconds; [1, 86400].
    pub tick: f64,
    /// Credits charged per running Cloud worker per tick (1 per 240 s = 15 per worker-hour); [1, 10^6].
    pub cost_per_tick: u64,
    /// Variance trigger: fire once completion reaches this ratio ([0, 1])...
    pub variance_min_completion: f64,
    /// ...and the second-half maximum assign-to-complete delay exceeds `kappa` × the first half's; (0, 10^6].
    pub kappa: f64,
    /// Tail-rate trigger: fire when the rate over `tail_window` s falls below `rho` × the rate
    /// between 10 % and 50 % completion (our addition; not in the papers). `rho` in (0, 10^6],
    /// `tail_window` in [1, 10^9] s.
    pub rho: f64,
    pub tail_window: f64,
    /// Conservative sizing never assumes less than this many hours remain; [0, 10^6].
    pub min_remaining_hours: f64,
    /// Allow more than one deployment per BoT (the early simulator deploys once).
    pub redeploy: bool,
    /// Never start more Cloud workers than the BoT has unfinished tasks: one beyond them could
    /// only idle, paid for one tick. `false` starts what the sizing says, up to the BoT's size
    /// (the authors' early simulator: 1500 credits start 100 workers, however few tasks are left).
    pub cap_at_unfinished: bool,
    /// Reschedule: how many Cloud duplicates one task may have at once.
    pub reschedule_copies: RescheduleCopies,
    /// What becomes of a task's other copies once its result is in.
    pub losing_copies: LosingCopies,
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
            cap_at_unfinished: true,
            reschedule_copies: RescheduleCopies::Needed,
            losing_copies: LosingCopies::Cancel,
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
    /// each BoT the cost of 10 % of its workload). At most [`MAX_CREDITS`].
    pub fn default_order(&self, total_ops: f64, cloud_speed: f64, fraction: f64) -> u64 {
        let hours = fraction * total_ops / cloud_speed / 3600.0;
        let credits = hours * self.credits_per_worker_hour();
        if credits.is_nan() || credits >= MAX_CREDITS as f64 {
            return MAX_CREDITS;
        }
        // A value that is a whole number but for floating-point error must not round up.
        let nearest = credits.round();
        if (credits - nearest).abs() <= 1e-9 * nearest.max(1.0) {
            nearest as u64
        } else {
            credits.ceil() as u64
        }
    }
    /// Checks every field against its documented range (see the field docs below).
    pub fn validate(&self) -> Checked {
        check::real("tick", self.tick, 1.0, 86400.0, "s")?;
        check::int("cost_per_tick", self.cost_per_tick, 1, 1_000_000)?;
        check::real(
            "variance_min_completion",
            self.variance_min_completion,
            0.0,
            1.0,
            "",
        )?;
        check::real_above("kappa", self.kappa, 0.0, 1e6, "")?;
        check::real_above("rho", self.rho, 0.0, 1e6, "")?;
        check::real("tail_window", self.tail_window, 1.0, 1e9, "s")?;
        check::real(
            "min_remaining_hours",
            self.min_remaining_hours,
            0.0,
            1e6,
            "h",
        )?;
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
