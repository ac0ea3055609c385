//! What the Information module knows about one BoT: when its tasks were first assigned and
//! completed, and periodic samples of its state and of the workers online.
//!
//! The simulator feeds exact event times; the live runtime feeds what each poll of the
//! middleware reveals (several tasks at the poll time). The triggers read only this.

use serde::{Deserialize, Serialize};

/// One observation of a BoT and its infrastructure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub t: f64,
    pub total: u32,
    pub completed: u32,
    /// Tasks assigned to a worker at least once.
    pub assigned: u32,
    /// Task executions in progress.
    pub running: u32,
    pub volunteers_online: u32,
    pub cloud_workers: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BotProgress {
    total: u32,
    /// `assign_times[n]`: when the (n+1)-th task was first assigned.
    assign_times: Vec<f64>,
    /// `complete_times[n]`: when the (n+1)-th task completed.
    complete_times: Vec<f64>,
    samples: Vec<Sample>,
    /// Running maxima of assign-to-complete delays, first and second half (variance trigger).
    first_half_max: f64,
    second_half_max: f64,
}

impl BotProgress {
    pub fn new(total: u32) -> Self {
        BotProgress {
            total,
            ..Default::default()
        }
    }

    pub fn total(&self) -> u32 {
        self.total
    }

    /// `n` more tasks got their first assignment at `t`.
    pub fn record_assigned(&mut self, t: f64, n: u32) {
        self.assign_times.extend(std::iter::repeat_n(t, n as usize));
    }

    /// `n` more tasks completed at `t`.
    pub fn record_completed(&mut self, t: f64, n: u32) {
        for _ in 0..n {
            let k = self.complete_times.len();
            self.complete_times.push(t);
            // ac[k] pairs the k-th completion with the k-th first assignment, as the authors do.
            let delay = self.assign_times.get(k).map_or(0.0, |a| t - a);
            if (k + 1) as f64 <= 0.5 * self.total as f64 {
                self.first_half_max = self.first_half_max.max(delay);
            } else {
                self.second_half_max = self.second_half_max.max(delay);
            }
        }
    }

    pub fn record_sample(&mut self, s: Sample) {
        self.samples.push(s);
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    pub fn completed(&self) -> u32 {
        self.complete_times.len() as u32
    }

    pub fn assigned(&self) -> u32 {
        self.assign_times.len() as u32
    }

    pub fn completion(&self) -> f64 {
        ratio(self.completed(), self.total)
    }

    pub fn assignment(&self) -> f64 {
        ratio(self.assigned(), self.total)
    }

    pub fn is_complete(&self) -> bool {
        self.total > 0 && self.completed() >= self.total
    }

    pub fn completion_times(&self) -> &[f64] {
        &self.complete_times
    }

    /// When completion first reached `fraction` (the ⌈fraction·N⌉-th completion).
    pub fn time_at(&self, fraction: f64) -> Option<f64> {
        // 0.15 × 100 is 15.000000000000002 in floating point: a product that is a whole
        // number up to rounding must not ask for one more completion.
        let x = fraction * self.total as f64;
        let whole = x.round();
        let k = if (x - whole).abs() <= 1e-9 * whole.max(1.0) {
            whole
        } else {
            x.ceil()
        };
        let n = k.max(1.0) as usize;
        self.complete_times.get(n - 1).copied()
    }

    /// Tasks completed at or before `t`.
    pub fn completed_at(&self, t: f64) -> u32 {
        self.complete_times.partition_point(|&c| c <= t) as u32
    }

    /// The maxima the variance trigger compares: (first half, second half).
    pub fn delay_maxima(&self) -> (f64, f64) {
        (self.first_half_max, self.second_half_max)
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_and_times() {
        let mut p = BotProgress::new(4);
        p.record_assigned(0.0, 4);
        for (i, t) in [10.0, 20.0, 30.0, 100.0].into_iter().enumerate() {
            p.record_completed(t, 1);
            assert_eq!(p.completed(), i as u32 + 1);
        }
        assert!(p.is_complete());
        assert_eq!(p.time_at(0.5), Some(20.0));
        assert_eq!(p.time_at(0.75), Some(30.0));
        assert_eq!(p.time_at(0.9), Some(100.0));
        assert_eq!(p.completed_at(25.0), 2);
        assert_eq!(p.delay_maxima(), (20.0, 100.0));
    }

    #[test]
    fn fractions_that_round_badly_take_the_right_completion() {
        let mut p = BotProgress::new(100);
        p.record_assigned(0.0, 100);
        for i in 1..=100 {
            p.record_completed(f64::from(i), 1);
        }
        // 0.15 × 100 and 0.7000000000000001 × 100 are whole numbers only up to rounding.
        assert_eq!(p.time_at(0.15), Some(15.0));
        assert_eq!(p.time_at(3.0 * 0.05), Some(15.0));
        assert_eq!(p.time_at(14.0 * 0.05), Some(70.0));
        assert_eq!(p.time_at(0.151), Some(16.0));
    }
}
