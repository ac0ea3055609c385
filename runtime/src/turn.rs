//! One Scheduler turn for one BoT, with the decision as data.
//!
//! A turn is observe → decide → carry out → commit. The service observes (it asks the DG and
//! the Cloud driver) and hands what it saw to [`decide`], which is pure: it updates the BoT's
//! state from the observation, runs the core's controller and usage policy on a scratch
//! ledger, and returns a [`Plan`]. The service carries the plan out (workers, aborts, copies
//! batches), reports each outcome back through the `*_done` functions here, and commits the
//! state with the ledger in one transaction. Keeping `decide` free of I/O is what lets every
//! rule of a turn be tested without a DG, a driver or a clock.

use std::collections::BTreeSet;

use spequlos_core::usage::{self, Rotation};
use spequlos_core::{Activity, BotProgress, Decision, Ledger, Sample, Usage, WorkerReport};

use crate::information::{JobTable, Observation};
use crate::service::{BotState, Copies};

/// What the DG said this turn.
#[derive(Debug, Clone, PartialEq)]
pub enum DgSeen {
    Read(Observation),
    /// The DG failed recently and was not asked again (its back-off has not passed).
    BackingOff,
    /// The DG could not be read; the message says why.
    Failed(String),
}

/// What a turn observed: the DG's answer, and each running worker as the Cloud driver sees it
/// (`held[i]`: how many tasks `workers[i]` holds, if the driver can tell).
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub dg: DgSeen,
    pub workers: Vec<WorkerReport>,
    pub held: Vec<Option<u32>>,
}

/// Copies of some of the BoT's jobs to submit, targeted to the Cloud account.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyPlan {
    /// The batch's name (before the attempt suffix).
    pub batch: String,
    /// The jobs to copy (their original names), in the batch's order.
    pub jobs: Vec<String>,
    pub kind: CopyKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CopyKind {
    /// Cloud Duplication: every incomplete job, once.
    Duplicate,
    /// A Reschedule round: where the rotation stands once the round is on the DG.
    Round { rotation: Rotation },
}

/// What a turn decided. The controller's decisions are kept whole for the record, but their
/// effect on the BoT's state ([`Decision::DuplicateIncomplete`], [`Decision::Finished`]) is
/// already applied: what is left to carry out is the workers' starts, stops and reports, the
/// aborts and the copies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub decisions: Vec<Decision>,
    /// Originals or copies to cancel because the other finished first.
    pub abort: Vec<String>,
    pub copies: Option<CopyPlan>,
    /// What the turn has to say in the service log.
    pub notes: Vec<String>,
}

/// Decides a turn for `st` at BoT-relative time `rel`, from what was `seen`, charging
/// `ledger` (the BoT's scratch ledger). Pure: `st` and `ledger` are the only things changed.
pub fn decide(st: &mut BotState, seen: Seen, rel: f64, ledger: &mut Ledger) -> Plan {
    let mut plan = Plan::default();
    let table = match seen.dg {
        DgSeen::Read(o) => {
            plan.abort.clone_from(&o.to_abort);
            Some(absorb(st, o, rel))
        }
        DgSeen::BackingOff => None,
        DgSeen::Failed(msg) => {
            plan.notes.push(format!("DG query failed: {msg}"));
            st.last_error = Some(msg);
            None
        }
    };
    if st.progress.total() == 0 {
        // Nothing known yet: no decision can be made.
        return plan;
    }
    let mut reports = seen.workers;
    // Open copies that no running worker holds keep idle workers for them (the core's
    // rule); what the driver cannot tell decides nothing.
    spequlos_core::wait_for_open_copies(&mut reports, &seen.held, st.copies_open);
    let round = match &table {
        Some(t) if st.usage() == Some(Usage::Reschedule) => {
            reschedule(st, t, &mut reports, &seen.held)
        }
        _ => None,
    };
    st.progress.record_sample(Sample {
        t: rel,
        total: st.progress.total(),
        completed: st.progress.completed(),
        assigned: st.progress.assigned(),
        running: 0,
        volunteers_online: 0,
        cloud_workers: reports
            .iter()
            .filter(|r| !matches!(r.activity, Activity::Idle | Activity::Lost))
            .count() as u32,
    });
    let deployed_before = st.controller.first_deployment().is_some();
    plan.decisions = st.controller.tick(rel, &st.progress, &reports, ledger);
    if !deployed_before && st.controller.first_deployment().is_some() {
        plan.notes.extend(crate::service::hoarding_warning(st));
    }
    apply(st, &plan.decisions, rel, &mut plan.notes);
    plan.copies = if st.finished {
        None
    } else if st.duplicate_pending && st.copies.is_none() {
        table.as_ref().and_then(|t| duplicate(st, t))
    } else {
        round
    };
    plan
}

/// Decides the turn that cancels `st`'s order at BoT-relative time `rel`: its workers stop
/// and what is left of the order is refunded on `ledger`.
pub fn cancel(st: &mut BotState, rel: f64, ledger: &mut Ledger) -> Plan {
    let mut plan = Plan {
        decisions: st.controller.cancel(rel, ledger),
        ..Plan::default()
    };
    st.cancelled = true;
    apply(st, &plan.decisions, rel, &mut plan.notes);
    st.finished = true;
    plan
}

/// The aborts of a plan were carried out: they are not asked for again.
pub fn aborted(st: &mut BotState, names: Vec<String>) {
    if let Some(c) = st.copies.as_mut() {
        c.aborted.extend(names);
    }
}

/// The copies of `plan` are on the DG as batch `batch_id` (`n` copies).
pub fn copies_submitted(st: &mut BotState, plan: &CopyPlan, batch_id: i64, n: usize) {
    match plan.kind {
        CopyKind::Duplicate => {
            st.copies = Some(Copies::new(batch_id, st.copy_attempt));
            st.duplicate_pending = false;
        }
        CopyKind::Round { rotation } => {
            st.rotation = rotation;
            match st.copies.as_mut() {
                Some(c) => c.more.push(batch_id),
                None => st.copies = Some(Copies::new(batch_id, st.copy_attempt)),
            }
            st.copies_open += n as u32;
        }
    }
}

/// Records what the DG says in the BoT's progress; returns the task table the usage policy
/// reads.
fn absorb(st: &mut BotState, o: Observation, rel: f64) -> JobTable {
    st.last_error = None;
    st.copies_open = o.copies_open;
    // The batch's size is known from the DG; until anything was recorded the job list given
    // with the order may differ (or be absent).
    if st.progress.total() != o.njobs && st.seen_assigned == 0 {
        st.progress = BotProgress::new(o.njobs);
    }
    if o.assigned > st.seen_assigned {
        st.progress
            .record_assigned(rel, o.assigned - st.seen_assigned);
        st.seen_assigned = o.assigned;
    }
    if o.completed > st.seen_completed {
        st.progress
            .record_completed(rel, o.completed - st.seen_completed);
        st.seen_completed = o.completed;
    }
    // A job the order does not describe cannot be copied: to the usage policy it is as good
    // as copied already.
    let mut jobs = o.jobs;
    let described: BTreeSet<&str> = st.jobs.iter().map(|j| j.name.as_str()).collect();
    for (name, v) in jobs.names.iter().zip(jobs.views.iter_mut()) {
        if !described.contains(name.as_str()) {
            v.copied = true;
            v.on_cloud = 1;
        }
    }
    jobs
}

/// The effect of the controller's decisions on the BoT's own state.
fn apply(st: &mut BotState, decisions: &[Decision], rel: f64, notes: &mut Vec<String>) {
    for d in decisions {
        match *d {
            Decision::DuplicateIncomplete => st.duplicate_pending = true,
            Decision::Finished { refund } => {
                st.finished = true;
                st.completed_at = if st.cancelled {
                    None
                } else {
                    st.progress.time_at(1.0).or(Some(rel))
                };
                let how = if st.cancelled {
                    "cancelled"
                } else {
                    "complete"
                };
                notes.push(format!("{how}; {refund} credits refunded"));
            }
            Decision::StartWorker { .. }
            | Decision::StopWorker { .. }
            | Decision::Report { .. } => {}
        }
    }
}

/// Cloud Duplication: the core's copy set (every incomplete job), as one batch.
fn duplicate(st: &mut BotState, table: &JobTable) -> Option<CopyPlan> {
    let tasks = usage::copy_set(table);
    if tasks.is_empty() {
        st.duplicate_pending = false;
        return None;
    }
    Some(CopyPlan {
        batch: format!("spq-copies-{}", st.key.batch),
        jobs: names(table, &tasks),
        kind: CopyKind::Duplicate,
    })
}

/// Reschedule, as the BOINC submit RPC allows it: Cloud workers attach like volunteers and
/// take never-sent jobs from the normal queue; each one idle after that (it asked in vain,
/// holds nothing, and no open copy waits for it) gets a copy of the next job the core's
/// rotation gives (in progress, no copy yet), targeted to the Cloud account. One round per
/// turn, one batch per round. The idle workers served are marked waiting, so the controller
/// tells them to ask again instead of stopping them; should the round fail to reach the DG,
/// they wait one turn and the round is tried again. Each job is copied at most once: a copy
/// lost with its worker is sent again by the server after its deadline.
fn reschedule(
    st: &BotState,
    table: &JobTable,
    reports: &mut [WorkerReport],
    held: &[Option<u32>],
) -> Option<CopyPlan> {
    let idle: Vec<usize> = (0..reports.len())
        .filter(|&i| reports[i].activity == Activity::Idle && held.get(i) == Some(&Some(0)))
        .collect();
    if idle.is_empty() {
        return None;
    }
    // The rotation moves only once the round is on the DG (`copies_submitted`).
    let mut rotation = st.rotation;
    let rule = st.controller.params().reschedule_copies;
    let tasks = rotation.take(table, rule, idle.len() as u32);
    if tasks.is_empty() {
        return None;
    }
    for &i in idle.iter().take(tasks.len()) {
        reports[i].activity = Activity::Waiting;
    }
    let round = st.copies.as_ref().map_or(0, |c| c.more.len() + 1);
    Some(CopyPlan {
        batch: format!("spq-copies-{}-r{round}", st.key.batch),
        jobs: names(table, &tasks),
        kind: CopyKind::Round { rotation },
    })
}

fn names(table: &JobTable, tasks: &[u32]) -> Vec<String> {
    tasks
        .iter()
        .map(|&t| table.names[t as usize].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use spequlos_core::usage::TaskView;
    use spequlos_core::{BotKey, QosParams, StopReason, WorkerId};

    use super::*;
    use crate::service::{JobDesc, Owner};

    const TICK: f64 = 240.0;

    fn bot(strategy: &str, jobs: u32) -> (BotState, Ledger) {
        let key = BotKey::new("7", "dg");
        let descs = (0..jobs)
            .map(|i| JobDesc {
                name: format!("j{i}"),
                command_line: String::new(),
                inputs: Vec::new(),
                rsc_fpops_est: 1e9,
            })
            .collect();
        let st = BotState::new(
            key.clone(),
            "alice",
            strategy,
            strategy.parse().unwrap(),
            QosParams::default(),
            1000.0,
            descs,
            Owner::Service,
        );
        let mut ledger = Ledger::default();
        ledger.deposit(0.0, "alice", 1000).unwrap();
        ledger.order(0.0, "alice", &key, 100).unwrap();
        (st, ledger)
    }

    /// `done` jobs finished, the next `running` in progress on volunteers, the rest unsent.
    fn seen(jobs: u32, done: u32, running: u32, workers: &[(WorkerId, Activity, u32)]) -> Seen {
        let mut table = JobTable::default();
        for i in 0..jobs {
            table.names.push(format!("j{i}"));
            table.views.push(TaskView {
                open: i >= done,
                on_volunteers: u32::from(i >= done && i < done + running),
                on_cloud: 0,
                needed: 1,
                copied: false,
            });
        }
        Seen {
            dg: DgSeen::Read(Observation {
                njobs: jobs,
                assigned: done + running,
                completed: done,
                jobs: table,
                to_abort: Vec::new(),
                copies_open: 0,
            }),
            workers: workers
                .iter()
                .map(|&(id, activity, _)| WorkerReport { id, activity })
                .collect(),
            held: workers.iter().map(|&(_, _, h)| Some(h)).collect(),
        }
    }

    fn starts(p: &Plan) -> usize {
        p.decisions
            .iter()
            .filter(|d| matches!(d, Decision::StartWorker { .. }))
            .count()
    }

    #[test]
    fn nothing_is_decided_before_the_batch_size_is_known() {
        let (mut st, mut ledger) = bot("9C-C-D", 0);
        let p = decide(
            &mut st,
            Seen {
                dg: DgSeen::Failed("connection refused".into()),
                workers: Vec::new(),
                held: Vec::new(),
            },
            0.0,
            &mut ledger,
        );
        assert!(p.decisions.is_empty() && p.copies.is_none());
        assert_eq!(p.notes, ["DG query failed: connection refused"]);
        assert_eq!(st.last_error.as_deref(), Some("connection refused"));
        assert!(st.progress.samples().is_empty());
    }

    #[test]
    fn the_tail_starts_workers_and_duplicates_the_incomplete_jobs_once() {
        let (mut st, mut ledger) = bot("9C-C-D", 10);
        let p = decide(&mut st, seen(10, 5, 5, &[]), 0.0, &mut ledger);
        assert_eq!(starts(&p), 0, "half done: no tail yet");
        let p = decide(&mut st, seen(10, 9, 1, &[]), TICK, &mut ledger);
        assert!(starts(&p) > 0, "{p:?}");
        assert!(st.duplicate_pending);
        let c = p.copies.as_ref().expect("a copies batch");
        assert_eq!(c.kind, CopyKind::Duplicate);
        assert_eq!(c.batch, "spq-copies-7");
        assert_eq!(c.jobs, ["j9"]);
        copies_submitted(&mut st, c, 42, 1);
        assert!(!st.duplicate_pending);
        assert_eq!(st.copies.as_ref().map(|c| c.batch_id), Some(42));
        let p = decide(&mut st, seen(10, 9, 1, &[]), 2.0 * TICK, &mut ledger);
        assert!(p.copies.is_none(), "duplicated once: {p:?}");
    }

    #[test]
    fn a_failed_submission_is_planned_again_next_turn() {
        let (mut st, mut ledger) = bot("9C-C-D", 10);
        decide(&mut st, seen(10, 9, 1, &[]), 0.0, &mut ledger);
        // Not carried out: nothing reported back.
        let p = decide(&mut st, seen(10, 9, 1, &[]), TICK, &mut ledger);
        assert_eq!(p.copies.map(|c| c.jobs), Some(vec!["j9".to_string()]));
    }

    #[test]
    fn idle_workers_get_a_reschedule_round_and_wait_for_it() {
        let (mut st, mut ledger) = bot("9C-C-R", 10);
        let p = decide(&mut st, seen(10, 9, 1, &[]), 0.0, &mut ledger);
        let ids: Vec<WorkerId> = p
            .decisions
            .iter()
            .filter_map(|d| match d {
                Decision::StartWorker { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        assert!(!ids.is_empty());
        assert!(p.copies.is_none(), "R never duplicates: {p:?}");
        // Up, idle and holding nothing: the first gets a copy of the straggler, the others
        // have nothing to copy and are stopped.
        let workers: Vec<_> = ids.iter().map(|&id| (id, Activity::Idle, 0)).collect();
        let p = decide(&mut st, seen(10, 9, 1, &workers), TICK, &mut ledger);
        let c = p.copies.clone().expect("a round");
        assert_eq!(c.batch, "spq-copies-7-r0");
        assert_eq!(c.jobs, ["j9"]);
        assert!(
            !p.decisions.contains(&Decision::StopWorker {
                id: ids[0],
                reason: StopReason::Idle
            }),
            "the worker the copy is for is kept: {p:?}"
        );
        assert!(p.decisions.contains(&Decision::Report { id: ids[0] }));
        // The rotation has not moved: the round is planned again until it is on the DG.
        let p2 = decide(
            &mut st,
            seen(10, 9, 1, &workers[..1]),
            2.0 * TICK,
            &mut ledger,
        );
        assert_eq!(p2.copies.as_ref().map(|c| &c.jobs), Some(&c.jobs));
        copies_submitted(&mut st, &c, 50, 1);
        assert_eq!(st.copies_open, 1);
        assert_eq!(st.copies.as_ref().map(|c| c.batch_id), Some(50));
    }

    #[test]
    fn a_finished_bot_plans_no_copies_and_says_what_was_refunded() {
        let (mut st, mut ledger) = bot("9C-C-R", 4);
        decide(&mut st, seen(4, 3, 1, &[]), 0.0, &mut ledger);
        let p = decide(&mut st, seen(4, 4, 0, &[]), TICK, &mut ledger);
        assert!(st.finished);
        assert_eq!(st.completed_at, Some(TICK));
        assert!(p.copies.is_none());
        assert!(p.notes.iter().any(|n| n.starts_with("complete; ")), "{p:?}");
    }

    #[test]
    fn a_cancelled_bot_stops_its_workers_and_is_not_complete() {
        let (mut st, mut ledger) = bot("9C-C-D", 10);
        let p = decide(&mut st, seen(10, 9, 1, &[]), 0.0, &mut ledger);
        let n = starts(&p);
        let p = cancel(&mut st, TICK, &mut ledger);
        let stops = p
            .decisions
            .iter()
            .filter(|d| matches!(d, Decision::StopWorker { .. }))
            .count();
        assert_eq!(stops, n);
        assert!(st.finished && st.cancelled && st.completed_at.is_none());
        assert!(
            p.notes.iter().any(|n| n.starts_with("cancelled; ")),
            "{p:?}"
        );
    }

    #[test]
    fn losers_to_abort_are_planned_and_remembered_once_done() {
        let (mut st, mut ledger) = bot("9C-C-D", 2);
        st.copies = Some(Copies::new(3, 0));
        let mut s = seen(2, 1, 1, &[]);
        if let DgSeen::Read(o) = &mut s.dg {
            o.to_abort = vec!["j0__spq".into()];
        }
        let p = decide(&mut st, s, 0.0, &mut ledger);
        assert_eq!(p.abort, ["j0__spq"]);
        aborted(&mut st, p.abort);
        assert!(st.copies.unwrap().aborted.contains("j0__spq"));
    }

    #[test]
    fn jobs_the_order_does_not_describe_are_never_copied() {
        // The order describes j0..j4; the straggler is j9.
        let (mut st, mut ledger) = bot("9C-C-D", 5);
        let p = decide(&mut st, seen(10, 9, 1, &[]), 0.0, &mut ledger);
        assert_eq!(st.progress.total(), 10, "size taken from the DG");
        assert!(starts(&p) > 0, "{p:?}");
        assert!(p.copies.is_none(), "{p:?}");
        assert!(!st.duplicate_pending, "nothing to copy: not asked again");
    }
}
