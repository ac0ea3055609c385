//! The Information module: what a DG's answers say about a BoT under QoS.
//!
//! [`resolve`] turns a `query_batch` reply for the BoT and those for its copies batches into
//! the progress the core records and the task table the core's usage policy reads, and applies
//! its first-result-wins rule: when a job and its Cloud copy both exist, the first to finish
//! wins and the other is aborted. [`Backoff`] spaces the queries to a DG that fails. Both are
//! pure; the service does the I/O.

use std::collections::{BTreeMap, BTreeSet};

use spequlos_core::usage::{self, LosingCopies, TaskTable, TaskView};

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
    original_of(job).is_some()
}

/// The job a Cloud copy copies (`JOB` for `JOB__spq` or `JOB__spq2`); `None` for a name that
/// is not a copy's.
pub fn original_of(copy: &str) -> Option<&str> {
    let i = copy.rfind("__spq")?;
    copy[i + 5..]
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then_some(&copy[..i])
}

/// A BoT's jobs, in the batch's order, as the core's usage policy sees them.
///
/// A job's status on the DG does not say which host holds it, so an original in progress
/// counts as held by a volunteer even when a Cloud worker took it from the normal queue (Flat
/// and Reschedule): Reschedule may then copy it once to another Cloud worker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobTable {
    pub names: Vec<String>,
    pub views: Vec<TaskView>,
}

impl TaskTable for JobTable {
    fn task_count(&self) -> u32 {
        self.views.len() as u32
    }

    fn view(&self, task: u32) -> TaskView {
        self.views[task as usize]
    }
}

impl JobTable {
    /// Jobs finished neither by themselves nor by a copy.
    pub fn incomplete(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .zip(&self.views)
            .filter(|(_, v)| v.open)
            .map(|(n, _)| n.as_str())
    }
}

/// What one poll says about a BoT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub njobs: u32,
    /// Jobs sent to a host at least once (or finished by their copy).
    pub assigned: u32,
    /// Jobs finished, by themselves or by their copy.
    pub completed: u32,
    /// Every job, open or not, with its copy if it has one.
    pub jobs: JobTable,
    /// Originals or copies to cancel because the other finished first.
    pub to_abort: Vec<String>,
    /// Copies of unfinished jobs that are neither finished nor cancelled: in progress on a
    /// Cloud worker, or waiting for one (never sent, or sent again after a deadline).
    pub copies_open: u32,
}

/// Reads the BoT's batch and its copies batches (Cloud Duplication's one, or Reschedule's
/// rounds); `aborted` lists what was already cancelled.
pub fn resolve(
    orig: &BatchInfo,
    copies: &[BatchInfo],
    aborted: &BTreeSet<String>,
    losing: LosingCopies,
) -> Observation {
    // Each job has at most one copy in the batches the BoT keeps; a finished one is preferred
    // should a name ever appear twice.
    let mut copy_of: BTreeMap<&str, (&str, JobStatus)> = BTreeMap::new();
    for j in copies.iter().flat_map(|c| &c.jobs) {
        if let Some(o) = original_of(&j.name) {
            let e = copy_of.entry(o).or_insert((&j.name, j.status));
            if j.status == JobStatus::Done {
                *e = (&j.name, j.status);
            }
        }
    }
    let mut o = Observation {
        njobs: orig.njobs as u32,
        assigned: 0,
        completed: 0,
        jobs: JobTable::default(),
        to_abort: Vec::new(),
        copies_open: 0,
    };
    for j in &orig.jobs {
        let copy = copy_of.get(j.name.as_str()).copied();
        let orig_done = j.status == JobStatus::Done;
        let copy_done = copy.is_some_and(|c| c.1 == JobStatus::Done);
        let complete = orig_done || copy_done;
        // First result wins (the core's rule): what is still open of a complete job goes.
        let open = [
            (!orig_done).then_some(j.name.as_str()),
            copy.filter(|c| c.1 != JobStatus::Done).map(|c| c.0),
        ];
        let open = open.into_iter().flatten().filter(|n| !aborted.contains(*n));
        o.to_abort.extend(
            usage::to_cancel(complete, losing, open)
                .into_iter()
                .map(String::from),
        );
        if complete {
            o.completed += 1;
        } else if let Some((name, JobStatus::InProgress | JobStatus::Unsent)) = copy {
            if !aborted.contains(name) {
                o.copies_open += 1;
            }
        }
        if !matches!(j.status, JobStatus::Unsent | JobStatus::Unknown) || copy_done {
            o.assigned += 1;
        }
        o.jobs.names.push(j.name.clone());
        o.jobs.views.push(TaskView {
            open: !complete,
            on_volunteers: u32::from(j.status == JobStatus::InProgress),
            on_cloud: u32::from(copy.is_some()),
            // A copy is a workunit of its own that one result completes.
            needed: 1,
            copied: copy.is_some(),
        });
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
        let o = resolve(
            &orig,
            std::slice::from_ref(&copies),
            &BTreeSet::new(),
            LosingCopies::Cancel,
        );
        assert_eq!(o.completed, 2, "a by itself, b by its copy");
        assert_eq!(o.assigned, 3, "d was never sent");
        assert_eq!(o.jobs.incomplete().collect::<Vec<_>>(), ["c", "d"]);
        assert_eq!(o.to_abort, vec!["a__spq".to_string(), "b".to_string()]);
        assert_eq!(
            o.copies_open, 1,
            "c's, unsent; a's is to be aborted, b's won"
        );
        // Already aborted: not again.
        let done: BTreeSet<String> = o.to_abort.iter().cloned().collect();
        assert!(resolve(
            &orig,
            std::slice::from_ref(&copies),
            &done,
            LosingCopies::Cancel
        )
        .to_abort
        .is_empty());
        // Without copies, nothing to abort.
        let o = resolve(&orig, &[], &BTreeSet::new(), LosingCopies::Cancel);
        assert_eq!((o.completed, o.to_abort.len()), (1, 0));
    }

    #[test]
    fn copies_are_found_in_every_round_whatever_their_attempt() {
        use JobStatus::*;
        let orig = batch(&[
            ("a", InProgress),
            ("b", InProgress),
            ("c", InProgress),
            ("d", Unsent),
        ]);
        let round1 = batch(&[("a__spq", InProgress)]);
        let round2 = batch(&[("b__spq2", Done), ("x__spqz", Done)]);
        let o = resolve(
            &orig,
            &[round1, round2],
            &BTreeSet::new(),
            LosingCopies::Cancel,
        );
        assert_eq!(o.completed, 1, "b by its copy; x__spqz is no copy");
        assert_eq!(o.to_abort, ["b"]);
        assert_eq!(o.copies_open, 1, "a's");
        let v = |i: usize| o.jobs.views[i];
        assert!(v(0).open && v(0).on_volunteers == 1 && v(0).on_cloud == 1 && v(0).copied);
        assert!(!v(1).open, "done by its copy");
        assert!(v(2).open && v(2).on_volunteers == 1 && v(2).on_cloud == 0 && !v(2).copied);
        assert!(v(3).open && v(3).on_volunteers == 0, "never sent");
        assert_eq!(original_of("k1__spq12"), Some("k1"));
        assert_eq!(original_of("k1__spq1x"), None);
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
