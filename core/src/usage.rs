//! Cloud usage: what a Cloud worker computes under Flat, Reschedule and Duplicate.
//!
//! The policy is the core's; the task table is the driver's. A driver shows the policy a small
//! view of each task ([`TaskView`], through [`TaskTable`]) and carries out its answers: the
//! simulator creates executions, the live service submits copies through the desktop grid's
//! submission interface.
//!
//! - [`sources`]: where a Cloud worker looks for work, in order. Flat: the normal queue, like
//!   any volunteer. Reschedule: the normal queue (never-assigned tasks first), then a Cloud
//!   duplicate of a task running on volunteers only, taken in [`Rotation`]. Duplicate: only the
//!   Cloud-only queue filled with the [`copy_set`].
//! - [`copy_set`]: the tasks Cloud Duplication copies when the trigger fires.
//! - [`to_cancel`]: first result wins; once a task is complete, every other copy of it is
//!   cancelled.

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

/// What the policy needs to know about one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskView {
    /// Submitted and not completed.
    pub open: bool,
    /// Held by at least one volunteer (as far as the middleware knows) and duplicable by the
    /// asking worker under the middleware's rules (BOINC: never one replica of a workunit
    /// twice on one host).
    pub on_volunteer: bool,
    /// Held by a Cloud worker (a copy, a duplicate or a normal replica).
    pub on_cloud: bool,
    /// Already has a Cloud Duplication copy.
    pub copied: bool,
}

/// A driver's task table, task ids `0..task_count()` in submission order.
pub trait TaskTable {
    fn task_count(&self) -> u32;
    /// Task `task` as seen by the Cloud worker asking (or by the Scheduler, for the copy set).
    fn view(&self, task: u32) -> TaskView;
}

/// Reschedule's rotation over the tasks: each Cloud duplicate is the first eligible task after
/// the one duplicated last, wrapping, so duplicates spread over the running tasks instead of
/// piling on the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rotation {
    next: u32,
}

impl Rotation {
    /// The next task to duplicate on a Cloud worker: open, on a volunteer, on no Cloud worker.
    /// The rotation moves past it.
    pub fn next(&mut self, table: &impl TaskTable) -> Option<u32> {
        let n = table.task_count();
        for k in 0..n {
            let task = (self.next % n + k) % n;
            let v = table.view(task);
            if v.open && v.on_volunteer && !v.on_cloud {
                self.next = (task + 1) % n;
                return Some(task);
            }
        }
        None
    }

    /// Up to `count` distinct tasks to duplicate at once (for `count` idle Cloud workers);
    /// each counts as on a Cloud worker for the ones after it.
    pub fn take(&mut self, table: &impl TaskTable, count: u32) -> Vec<u32> {
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
                v.on_cloud |= self.taken.contains(&task);
                v
            }
        }
        let mut out = Vec::new();
        while (out.len() as u32) < count {
            let t = Taken { table, taken: &out };
            match self.next(&t) {
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
/// copy of it still open (`open`: not finished, not cancelled yet) is cancelled.
pub fn to_cancel<I>(complete: bool, open: impl IntoIterator<Item = I>) -> Vec<I> {
    if complete {
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
        on_volunteer: true,
        on_cloud: false,
        copied: false,
    };

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
        t.0[2].on_cloud = true;
        t.0[3].on_volunteer = false;
        let mut r = Rotation::default();
        assert_eq!(r.next(&t), Some(0));
        assert_eq!(r.next(&t), Some(4), "1 done, 2 on a Cloud worker, 3 unsent");
        assert_eq!(r.next(&t), Some(0), "wraps");
        t.0[0].on_cloud = true;
        t.0[4].on_cloud = true;
        assert_eq!(r.next(&t), None);
        assert_eq!(Rotation::default().next(&Table(vec![])), None);
    }

    #[test]
    fn taking_several_gives_distinct_tasks_in_rotation_order() {
        let t = Table(vec![RUNNING; 4]);
        let mut r = Rotation::default();
        assert_eq!(r.next(&t), Some(0));
        assert_eq!(r.take(&t, 3), vec![1, 2, 3]);
        assert_eq!(
            r.take(&t, 9),
            vec![0, 1, 2, 3],
            "no task twice in one round"
        );
        assert_eq!(r.take(&t, 0), Vec::<u32>::new());
    }

    #[test]
    fn the_copy_set_is_every_open_task_not_copied_yet() {
        let mut t = Table(vec![RUNNING; 4]);
        t.0[0].open = false;
        t.0[2].copied = true;
        t.0[3].on_volunteer = false;
        assert_eq!(copy_set(&t), vec![1, 3], "held or not");
    }

    #[test]
    fn a_complete_task_cancels_its_open_copies() {
        assert!(to_cancel(false, ["a", "b"]).is_empty());
        assert_eq!(to_cancel(true, ["a", "c"]), ["a", "c"]);
        assert!(to_cancel(true, Vec::<u8>::new()).is_empty());
    }
}
