//! `ideal-pull`: the plain master–worker model used to compare speed with other simulators
//! (SimGrid), where both must compute the same schedule.
//!
//! Rules:
//! - hosts are online exactly during their trace intervals and run one task at a time at their
//!   speed;
//! - the master keeps a FIFO of waiting tasks; an idle online host takes the first one at once
//!   (no request delay, no back-off, no network);
//! - a host that goes off loses the work of its task, which returns to the *front* of the FIFO
//!   and is handed at once to an idle host if there is one;
//! - idle hosts are served in the order they became idle;
//! - the makespan is the last completion.
//!
//! Simultaneous events run in the order they were scheduled (host events first at t = 0). No
//! SpeQuloS here: it is the baseline of a comparison, not a strategy experiment.

use std::collections::VecDeque;

use spequlos_traces::Trace;

use crate::engine::Queue;
use crate::workload::TaskSpec;

#[derive(Debug, Clone, Copy)]
enum Event {
    On(u32),
    Off(u32),
    /// Host finished its task; stale if the host went off since (epoch changed).
    Done {
        host: u32,
        epoch: u32,
    },
    Submit(u32),
}

#[derive(Debug, Clone, Copy, Default)]
struct Host {
    online: bool,
    idle: bool,
    task: Option<u32>,
    epoch: u32,
    cursor: usize,
}

/// Outcome of an `ideal-pull` run.
#[derive(Debug, Clone, PartialEq)]
pub struct IdealOutput {
    /// Last completion, seconds; NaN if some task never completed within the trace.
    pub makespan: f64,
    /// Completion time of each task (NaN if it never completed).
    pub completions: Vec<f64>,
    pub events: u64,
    /// Tasks started and then lost to a host going off.
    pub restarts: u64,
}

/// Runs `tasks` on `trace` from trace time `offset`.
pub fn run(trace: &Trace, offset: i64, tasks: &[TaskSpec]) -> IdealOutput {
    let n = trace.host_count();
    let mut q: Queue<Event> = Queue::with_capacity(n + tasks.len());
    let mut hosts = vec![Host::default(); n];
    let speed: Vec<f64> = trace.hosts().iter().map(|h| h.speed).collect();
    let horizon = (trace.meta.span - offset).max(0) as f64;
    for (h, host) in hosts.iter_mut().enumerate() {
        let ends = trace.intervals(h).1;
        host.cursor = ends.partition_point(|&e| e <= offset);
        if let Some(&s) = trace.intervals(h).0.get(host.cursor) {
            q.push((s - offset).max(0) as f64, Event::On(h as u32));
        }
    }
    for (i, t) in tasks.iter().enumerate() {
        q.push(t.submit, Event::Submit(i as u32));
    }
    let mut waiting: VecDeque<u32> = VecDeque::new();
    let mut idle: VecDeque<u32> = VecDeque::new();
    let mut completions = vec![f64::NAN; tasks.len()];
    let (mut done, mut restarts) = (0usize, 0u64);

    let start = |q: &mut Queue<Event>, hosts: &mut [Host], h: u32, task: u32, t: f64| {
        let host = &mut hosts[h as usize];
        host.task = Some(task);
        host.idle = false;
        q.push(
            t + tasks[task as usize].ops / speed[h as usize],
            Event::Done {
                host: h,
                epoch: host.epoch,
            },
        );
    };
    // Hands waiting tasks to idle hosts, longest idle first.
    let dispatch = |q: &mut Queue<Event>,
                    hosts: &mut [Host],
                    waiting: &mut VecDeque<u32>,
                    idle: &mut VecDeque<u32>,
                    t: f64| {
        while !waiting.is_empty() {
            let Some(h) = idle.pop_front() else { break };
            // Entries of hosts that went off while idle are dropped here.
            if hosts[h as usize].idle {
                let task = waiting.pop_front().expect("not empty");
                start(q, hosts, h, task, t);
            }
        }
    };

    while let Some((t, ev)) = q.pop() {
        if t > horizon {
            break;
        }
        match ev {
            Event::On(h) => {
                let end = trace.intervals(h as usize).1[hosts[h as usize].cursor];
                q.push((end - offset) as f64, Event::Off(h));
                let host = &mut hosts[h as usize];
                host.online = true;
                host.epoch += 1;
                match waiting.pop_front() {
                    Some(task) => start(&mut q, &mut hosts, h, task, t),
                    None => {
                        hosts[h as usize].idle = true;
                        idle.push_back(h);
                    }
                }
            }
            Event::Off(h) => {
                let host = &mut hosts[h as usize];
                host.online = false;
                host.idle = false;
                host.epoch += 1;
                host.cursor += 1;
                if let Some(task) = host.task.take() {
                    restarts += 1;
                    waiting.push_front(task);
                    dispatch(&mut q, &mut hosts, &mut waiting, &mut idle, t);
                }
                if let Some(&s) = trace.intervals(h as usize).0.get(hosts[h as usize].cursor) {
                    q.push((s - offset) as f64, Event::On(h));
                }
            }
            Event::Done { host: h, epoch } => {
                let host = &mut hosts[h as usize];
                if host.epoch != epoch || !host.online {
                    continue;
                }
                let task = host.task.take().expect("a running host has a task");
                completions[task as usize] = t;
                done += 1;
                match waiting.pop_front() {
                    Some(next) => start(&mut q, &mut hosts, h, next, t),
                    None => {
                        hosts[h as usize].idle = true;
                        idle.push_back(h);
                    }
                }
                if done == tasks.len() {
                    break;
                }
            }
            Event::Submit(task) => {
                waiting.push_back(task);
                dispatch(&mut q, &mut hosts, &mut waiting, &mut idle, t);
            }
        }
    }
    let makespan = if done == tasks.len() {
        completions.iter().copied().fold(0.0, f64::max)
    } else {
        f64::NAN
    };
    IdealOutput {
        makespan,
        completions,
        events: q.popped(),
        restarts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::trace;

    fn tasks(n: usize, ops: f64) -> Vec<TaskSpec> {
        vec![TaskSpec { submit: 0.0, ops }; n]
    }

    #[test]
    fn two_hosts_four_tasks() {
        let t = trace(&[(1.0, &[(0, 1000)]), (2.0, &[(0, 1000)])], 1000);
        let out = run(&t, 0, &tasks(4, 10.0));
        // Host 0 (speed 1) takes task 0, host 1 (speed 2) task 1 (done at 5), then task 2 (done
        // at 10). At 10 host 0's completion was scheduled first, so host 0 takes task 3: 20.
        assert_eq!(out.completions, vec![10.0, 5.0, 10.0, 20.0]);
        assert_eq!(out.makespan, 20.0);
        assert_eq!(out.restarts, 0);
    }

    #[test]
    fn lost_work_goes_to_the_front_and_to_an_idle_host_at_once() {
        // Host 0 runs task 0 and fails at 5; host 1, idle since it finished tasks 1 and 2 at 3,
        // takes task 0 back at once.
        let t = trace(&[(1.0, &[(0, 5), (100, 200)]), (1.0, &[(0, 200)])], 200);
        let specs = vec![
            TaskSpec {
                submit: 0.0,
                ops: 10.0,
            },
            TaskSpec {
                submit: 0.0,
                ops: 2.0,
            },
            TaskSpec {
                submit: 0.0,
                ops: 1.0,
            },
        ];
        let out = run(&t, 0, &specs);
        // Host 1: task 1 [0, 2], task 2 [2, 3], idle; at 5 task 0 returns: [5, 15].
        assert_eq!(out.completions, vec![15.0, 2.0, 3.0]);
        assert_eq!(out.restarts, 1);
    }

    #[test]
    fn unfinished_work_gives_nan() {
        let t = trace(&[(1.0, &[(0, 5)])], 10);
        assert!(run(&t, 0, &tasks(1, 100.0)).makespan.is_nan());
    }
}
