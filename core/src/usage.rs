//! Cloud usage: what a Cloud worker computes under Flat, Reschedule and Duplicate.
//!
//! The policy is the core's; the task table is the driver's. A driver shows the policy a small
//! view of each task ([`TaskView`], through [`TaskTable`]) and carries out its answers: the
//! simulator creates executions, the live service submits copies through the desktop grid's
//! submission interface.
//!
//! - [`sources`]: where a Cloud worker looks for work, in order. Flat: the normal queue, like
//!   any volunteer. Reschedule: the normal queue (never-assigned tasks first), then a Cloud
//!   duplicate of a task running on volunteers, taken in [`Rotation`] as long as the Cloud
//!   holds fewer copies of it than [`RescheduleCopies`] allows; at most
//!   [`DUPLICATES_PER_REQUEST`] per request. Duplicate: only the Cloud-only queue filled with
//!   the [`copy_set`].
//! - [`copy_set`]: the tasks Cloud Duplication copies when the trigger fires.
//! - [`to_cancel`]: first result wins; once a task is complete, the other copies of it are
//!   cancelled, or left to run as [`LosingCopies`] says.

use serde::{Deserialize, Serialize};

use crate::strategy::Usage;

/// Where a Cloud worker takes its next task from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The middleware's normal queue, as a volunteer would be served.
    Queue,
    /// The Cloud-only queue of copies (Cloud Duplication).
    CloudQueue,
    /// A Cloud duplicate of a task running on volunteers only, in rotation (Reschedule).
    Rotation,
}

/// The sources a worker draws from, in order: a volunteer (`usage` = `None`, or no QoS) and a
/// Flat Cloud worker only from the normal queue.
pub fn sources(usage: Option<Usage>) -> &'static [Source] {
    match usage {
        None | Some(Usage::Flat) => &[Source::Queue],
        Some(Usage::Reschedule) => &[Source::Queue, Source::Rotation],
        Some(Usage::Duplicate) => &[Source::CloudQueue],
    }
}

/// A worker takes at most this many Reschedule duplicates per request. A BOINC Cloud client
/// asks for a buffer of three tasks: three duplicates queued on one worker would run one after
/// another while the other workers, finding the rotation empty, are stopped as idle (the live
/// service gives one per idle worker, [`Rotation::take`]).
pub const DUPLICATES_PER_REQUEST: u32 = 1;

/// How many Cloud copies Reschedule makes of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RescheduleCopies {
    /// As many as the results it still needs (XWHEP one; BOINC with a quorum of 2 and no
    /// result yet, two), so that the Cloud alone can complete it.
    #[default]
    Needed,
    /// One per copy volunteers hold: each Cloud duplicate takes over one volunteer's replica
    /// (the authors' early simulator's BOINC Reschedule).
    PerVolunteerCopy,
}

/// What becomes of the other copies of a task once it is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LosingCopies {
    /// Cancelled: SpeQuloS aborts them (a Cloud worker at once), so a Cloud worker is free for
    /// other work or stopped as idle.
    #[default]
    Cancel,
    /// Left to run to their end, their results ignored, a Cloud worker paid meanwhile (the
    /// authors' early simulator). BOINC volunteer replicas follow the middleware's own rule
    /// in either case.
    Run,
}

/// What the policy needs to know about one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskView {
    /// Submitted and not completed.
    pub open: bool,
    /// Copies of it volunteers hold (as far as the middleware knows) that the asking worker
    /// may duplicate under the middleware's rules (BOINC: never one replica of a workunit
    /// twice on one host); 0 when it may not.
    pub on_volunteers: u32,
    /// Copies of it on Cloud workers (copies, duplicates or normal replicas).
    pub on_cloud: u32,
    /// Results it still needs to complete: 1, or on BOINC the quorum less the results in.
    pub needed: u32,
    /// Already has a Cloud Duplication copy.
    pub copied: bool,
}

impl TaskView {
    /// Whether Reschedule may put one more Cloud duplicate of it on the asking worker.
    pub fn duplicable(&self, rule: RescheduleCopies) -> bool {
        let limit = match rule {
            RescheduleCopies::Needed => self.needed.max(1),
            RescheduleCopies::PerVolunteerCopy => self.on_volunteers,
        };
        self.open && self.on_volunteers > 0 && self.on_cloud < limit
    }
}

/// A driver's task table, task ids `0..task_count()` in submission order.
pub trait TaskTable {
    fn task_count(&self) -> u32;
    /// Task `task` as seen by the Cloud worker asking (or by the Scheduler, for the copy set).
    fn view(&self, task: u32) -> TaskView;

    /// The tasks from `start` (`< task_count()`) up, then from 0 up to `start`, leaving out any
    /// that are not open: a table that knows its open tasks skips the rest (in a BoT's tail,
    /// nearly all), the default visits every task.
    fn open_from(&self, start: u32) -> impl Iterator<Item = u32> + '_ {
        (start..self.task_count()).chain(0..start)
    }
}

/// Reschedule's rotation over the tasks: each Cloud duplicate is the first eligible task after
/// the one duplicated last, wrapping, so duplicates spread over the running tasks instead of
/// piling on the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rotation {
    next: u32,
}

impl Rotation {
    /// The next task to duplicate on a Cloud worker: open, on a volunteer, with fewer Cloud
    /// copies than `rule` allows. The rotation moves past it.
    pub fn next(&mut self, table: &impl TaskTable, rule: RescheduleCopies) -> Option<u32> {
        let n = table.task_count();
        if n == 0 {
            return None;
        }
        let task = table
            .open_from(self.next % n)
            .find(|&task| table.view(task).duplicable(rule))?;
        self.next = (task + 1) % n;
        Some(task)
    }

    /// Up to `count` tasks to duplicate at once (for `count` idle Cloud workers); each counts
    /// as one more Cloud copy for the ones after it.
    pub fn take(&mut self, table: &impl TaskTable, rule: RescheduleCopies, count: u32) -> Vec<u32> {
        struct Taken<'a, T> {
            table: &'a T,
            taken: &'a [u32],
        }
        impl<T: TaskTable> TaskTable for Taken<'_, T> {
            fn task_count(&self) -> u32 {
                self.table.task_count()
            }
            fn view(&self, task: u32) -> TaskView {
                let mut v = self.table.view(task);
                v.on_cloud += self.taken.iter().filter(|&&t| t == task).count() as u32;
                v
            }
            fn open_from(&self, start: u32) -> impl Iterator<Item = u32> + '_ {
                self.table.open_from(start)
            }
        }
        let mut out = Vec::new();
        while (out.len() as u32) < count {
            let t = Taken { table, taken: &out };
            match self.next(&t, rule) {
                Some(task) => out.push(task),
                None => break,
            }
        }
        out
    }
}

/// Cloud Duplication's copy set: every open task without a copy yet, in submission order.
pub fn copy_set(table: &impl TaskTable) -> Vec<u32> {
    (0..table.task_count())
        .filter(|&t| {
            let v = table.view(t);
            v.open && !v.copied
        })
        .collect()
}

/// First result wins: once a task is complete (its first result is in, or its quorum), every
/// copy of it still open (`open`: not finished, not cancelled yet) is cancelled, unless
/// `rule` leaves them to run.
pub fn to_cancel<I>(
    complete: bool,
    rule: LosingCopies,
    open: impl IntoIterator<Item = I>,
) -> Vec<I> {
    if complete && rule == LosingCopies::Cancel {
        open.into_iter().collect()
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Table(Vec<TaskView>);
    impl TaskTable for Table {
        fn task_count(&self) -> u32 {
            self.0.len() as u32
        }
        fn view(&self, task: u32) -> TaskView {
            self.0[task as usize]
        }
    }
    const RUNNING: TaskView = TaskView {
        open: true,
        on_volunteers: 1,
        on_cloud: 0,
        needed: 1,
        copied: false,
    };
    const NEEDED: RescheduleCopies = RescheduleCopies::Needed;

    #[test]
    fn sources_follow_the_usage_mode() {
        assert_eq!(sources(None), &[Source::Queue]);
        assert_eq!(sources(Some(Usage::Flat)), &[Source::Queue]);
        assert_eq!(
            sources(Some(Usage::Reschedule)),
            &[Source::Queue, Source::Rotation]
        );
        assert_eq!(sources(Some(Usage::Duplicate)), &[Source::CloudQueue]);
    }

    #[test]
    fn the_rotation_skips_done_cloud_held_and_unheld_tasks_and_wraps() {
        let mut t = Table(vec![RUNNING; 5]);
        t.0[1].open = false;
        t.0[2].on_cloud = 1;
        t.0[3].on_volunteers = 0;
        let mut r = Rotation::default();
        assert_eq!(r.next(&t, NEEDED), Some(0));
        assert_eq!(
            r.next(&t, NEEDED),
            Some(4),
            "1 done, 2 on a Cloud worker, 3 unsent"
        );
        assert_eq!(r.next(&t, NEEDED), Some(0), "wraps");
        t.0[0].on_cloud = 1;
        t.0[4].on_cloud = 1;
        assert_eq!(r.next(&t, NEEDED), None);
        assert_eq!(Rotation::default().next(&Table(vec![]), NEEDED), None);
    }

    #[test]
    fn taking_several_gives_distinct_tasks_in_rotation_order() {
        let t = Table(vec![RUNNING; 4]);
        let mut r = Rotation::default();
        assert_eq!(r.next(&t, NEEDED), Some(0));
        assert_eq!(r.take(&t, NEEDED, 3), vec![1, 2, 3]);
        assert_eq!(
            r.take(&t, NEEDED, 9),
            vec![0, 1, 2, 3],
            "no task twice in one round when one result completes it"
        );
        assert_eq!(r.take(&t, NEEDED, 0), Vec::<u32>::new());
    }

    #[test]
    fn a_task_gets_as_many_cloud_copies_as_the_rule_allows() {
        // A BOINC workunit with no result yet (quorum 2), three replicas on volunteers.
        let wu = TaskView {
            needed: 2,
            on_volunteers: 3,
            ..RUNNING
        };
        let t = Table(vec![wu, RUNNING]);
        assert_eq!(Rotation::default().take(&t, NEEDED, 5), vec![0, 1, 0]);
        assert_eq!(
            Rotation::default().take(&t, RescheduleCopies::PerVolunteerCopy, 5),
            vec![0, 1, 0, 0],
            "one per volunteer replica"
        );
        let held = TaskView { on_cloud: 2, ..wu };
        assert!(!held.duplicable(NEEDED));
        assert!(held.duplicable(RescheduleCopies::PerVolunteerCopy));
        let gone = TaskView {
            on_volunteers: 0,
            ..wu
        };
        assert!(
            !gone.duplicable(NEEDED) && !gone.duplicable(RescheduleCopies::PerVolunteerCopy),
            "nothing on a volunteer: nothing to duplicate"
        );
    }

    #[test]
    fn the_copy_set_is_every_open_task_not_copied_yet() {
        let mut t = Table(vec![RUNNING; 4]);
        t.0[0].open = false;
        t.0[2].copied = true;
        t.0[3].on_volunteers = 0;
        assert_eq!(copy_set(&t), vec![1, 3], "held or not");
    }

    #[test]
    fn a_complete_task_cancels_its_open_copies_unless_they_run_on() {
        let c = LosingCopies::Cancel;
        assert!(to_cancel(false, c, ["a", "b"]).is_empty());
        assert_eq!(to_cancel(true, c, ["a", "c"]), ["a", "c"]);
        assert!(to_cancel(true, c, Vec::<u8>::new()).is_empty());
        assert!(to_cancel(true, LosingCopies::Run, ["a"]).is_empty());
    }
}
