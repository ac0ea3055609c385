//! The Information module: what a DG's answers say about a BoT under QoS.
//!
//! [`resolve`] turns a `query_batch` reply for the BoT and one for its copies batch into the
//! progress the core records, and decides which duplicate to cancel: when a job and its Cloud
//! copy both exist, the first to finish wins and the other is aborted. [`Backoff`] spaces the
//! queries to a DG that fails. Both are pure; the service does the I/O.

use std::collections::{BTreeMap, BTreeSet};

use crate::boinc::{BatchInfo, JobStatus};

/// The name of the Cloud copy of job `job` in duplication attempt `attempt`: `JOB__spq`,
/// then `JOB__spq1`, `JOB__spq2`... when an earlier attempt left jobs of that name behind (a
/// real server keeps the jobs of a failed submission, so their names cannot be reused).
pub fn copy_name(job: &str, attempt: u32) -> String {
    if attempt == 0 {
        format!("{job}__spq")
    } else {
        format!("{job}__spq{attempt}")
    }
}

/// Whether `job` is the name of a Cloud copy.
pub fn is_copy(job: &str) -> bool {
    job.rfind("__spq")
        .is_some_and(|i| job[i + 5..].bytes().all(|b| b.is_ascii_digit()))
}

/// What one poll says about a BoT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub njobs: u32,
    /// Jobs sent to a host at least once (or finished by their copy).
    pub assigned: u32,
    /// Jobs finished, by themselves or by their copy.
    pub completed: u32,
    /// Jobs not finished either way, in the batch's order.
    pub incomplete: Vec<String>,
    /// Originals or copies to cancel because the other finished first.
    pub to_abort: Vec<String>,
    /// Copies of unfinished jobs that are neither finished nor cancelled: in progress on a
    /// Cloud worker, or waiting for one (never sent, or sent again after a deadline).
    pub copies_open: u32,
}

/// Reads the BoT's batch and its copies batch; `aborted` lists what was already cancelled.
pub fn resolve(
    orig: &BatchInfo,
    copies: Option<(&BatchInfo, u32)>,
    aborted: &BTreeSet<String>,
) -> Observation {
    let attempt = copies.map_or(0, |c| c.1);
    let copy_status: BTreeMap<&str, JobStatus> = copies
        .map(|(c, _)| c.jobs.iter().map(|j| (j.name.as_str(), j.status)).collect())
        .unwrap_or_default();
    let mut o = Observation {
        njobs: orig.njobs as u32,
        assigned: 0,
        completed: 0,
        incomplete: Vec::new(),
        to_abort: Vec::new(),
        copies_open: 0,
    };
    for j in &orig.jobs {
        let cname = copy_name(&j.name, attempt);
        let copy = copy_status.get(cname.as_str()).copied();
        let orig_done = j.status == JobStatus::Done;
        let copy_done = copy == Some(JobStatus::Done);
        if orig_done && copy.is_some() && !copy_done && !aborted.contains(&cname) {
            o.to_abort.push(cname);
        }
        if copy_done && !orig_done && !aborted.contains(&j.name) {
            o.to_abort.push(j.name.clone());
        }
        if orig_done || copy_done {
            o.completed += 1;
        } else {
            o.incomplete.push(j.name.clone());
            if matches!(copy, Some(JobStatus::InProgress | JobStatus::Unsent))
                && !aborted.contains(&copy_name(&j.name, attempt))
            {
                o.copies_open += 1;
            }
        }
        if !matches!(j.status, JobStatus::Unsent | JobStatus::Unknown) || copy_done {
            o.assigned += 1;
        }
    }
    o
}

/// Exponential back-off per DG: 1 s after the first failure, doubling up to `max`.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    max: f64,
    /// Per DG: (next attempt, current delay).
    state: BTreeMap<String, (f64, f64)>,
}

impl Backoff {
    pub fn new(max: f64) -> Self {
        Backoff {
            max,
            state: BTreeMap::new(),
        }
    }

    /// Whether `dg` may be queried at `now`.
    pub fn ready(&self, dg: &str, now: f64) -> bool {
        self.state.get(dg).is_none_or(|&(next, _)| now >= next)
    }

    /// Records a failure; returns the delay before the next attempt.
    pub fn failed(&mut self, dg: &str, now: f64) -> f64 {
        let delay = self
            .state
            .get(dg)
            .map_or(1.0, |&(_, d)| (d * 2.0).min(self.max));
        self.state.insert(dg.to_string(), (now + delay, delay));
        delay
    }

    pub fn succeeded(&mut self, dg: &str) {
        self.state.remove(dg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boinc::{BatchState, JobInfo};

    fn batch(jobs: &[(&str, JobStatus)]) -> BatchInfo {
        BatchInfo {
            id: 1,
            state: BatchState::InProgress,
            njobs: jobs.len() as u64,
            nerror_jobs: 0,
            fraction_done: 0.0,
            jobs: jobs
                .iter()
                .map(|&(n, s)| JobInfo {
                    id: None,
                    name: n.into(),
                    status: s,
                })
                .collect(),
        }
    }

    #[test]
    fn the_first_finished_of_a_job_and_its_copy_wins() {
        use JobStatus::*;
        let orig = batch(&[
            ("a", Done),
            ("b", InProgress),
            ("c", InProgress),
            ("d", Unsent),
        ]);
        let copies = batch(&[("a__spq", InProgress), ("b__spq", Done), ("c__spq", Unsent)]);
        let o = resolve(&orig, Some((&copies, 0)), &BTreeSet::new());
        assert_eq!(o.completed, 2, "a by itself, b by its copy");
        assert_eq!(o.assigned, 3, "d was never sent");
        assert_eq!(o.incomplete, vec!["c".to_string(), "d".to_string()]);
        assert_eq!(o.to_abort, vec!["a__spq".to_string(), "b".to_string()]);
        assert_eq!(
            o.copies_open, 1,
            "c's, unsent; a's is to be aborted, b's won"
        );
        // Already aborted: not again.
        let done: BTreeSet<String> = o.to_abort.iter().cloned().collect();
        assert!(resolve(&orig, Some((&copies, 0)), &done)
            .to_abort
            .is_empty());
        // Without copies, nothing to abort.
        let o = resolve(&orig, None, &BTreeSet::new());
        assert_eq!((o.completed, o.to_abort.len()), (1, 0));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::new(5.0);
        assert!(b.ready("x", 0.0));
        assert_eq!(b.failed("x", 0.0), 1.0);
        assert!(!b.ready("x", 0.5) && b.ready("x", 1.0));
        assert_eq!(b.failed("x", 1.0), 2.0);
        assert_eq!(b.failed("x", 3.0), 4.0);
        assert_eq!(b.failed("x", 7.0), 5.0, "capped");
        assert!(b.ready("y", 7.0), "per DG");
        b.succeeded("x");
        assert!(b.ready("x", 7.0));
        assert_eq!(b.failed("x", 7.0), 1.0);
    }
}
