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
    /// Host comes on until `end` (trace time): read with the interval's start, so that the
    /// trace, far too large for the cache at 10^5 hosts, is touched once per interval.
    On {
        host: u32,
        end: i64,
    },
    Off(u32),
    /// Host finished its task; stale if the host went off since (epoch changed).
    Done {
        host: u32,
        epoch: u32,
    },
    Submit(u32),
}

/// No task.
const NONE: u32 = u32::MAX;

/// 16 bytes, four to a cache line: at 10^5 hosts this array is the event loop's working set.
#[derive(Debug, Clone, Copy)]
struct Host {
    /// Running task, or [`NONE`]. An online host without a task is idle.
    task: u32,
    /// Incremented when the host goes on and when it goes off: odd while online.
    epoch: u32,
    /// The host's next interval, an index for [`Trace::interval`].
    next: u32,
    /// One past the host's last interval.
    stop: u32,
}

impl Host {
    fn online(&self) -> bool {
        self.epoch & 1 == 1
    }

    fn idle(&self) -> bool {
        self.online() && self.task == NONE
    }
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

/// A run beyond what the ideal-pull engine's 32-bit records can index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "ideal-pull handles at most 4294967295 intervals and as many tasks (this run: {intervals} \
     intervals, {tasks} tasks)"
)]
pub struct TooBig {
    pub intervals: usize,
    pub tasks: usize,
}

/// Runs `tasks` on `trace` from trace time `offset`. Refuses (with the reason) a trace of more
/// than 2^32 − 1 intervals or tasks, which its compact host records cannot index.
pub fn run(trace: &Trace, offset: i64, tasks: &[TaskSpec]) -> Result<IdealOutput, TooBig> {
    if u32::try_from(trace.interval_count()).is_err() || u32::try_from(tasks.len()).is_err() {
        return Err(TooBig {
            intervals: trace.interval_count(),
            tasks: tasks.len(),
        });
    }
    let n = trace.host_count();
    let mut q: Queue<Event> = Queue::with_capacity(n + tasks.len());
    let speed: Vec<f64> = trace.hosts().iter().map(|h| h.speed).collect();
    let horizon = (trace.meta.span - offset).max(0) as f64;
    let mut hosts = Vec::with_capacity(n);
    // Each host's first interval, gathered a block of hosts at a time in a loop of independent
    // loads: at 10^5 hosts each one misses the cache, and this way the misses overlap.
    const BLOCK: usize = 64;
    let mut firsts = [None; BLOCK];
    for block in (0..n).step_by(BLOCK) {
        let end = (block + BLOCK).min(n);
        for (f, h) in firsts.iter_mut().zip(block..end) {
            let r = trace.interval_range(h);
            *f = (r.start < r.end).then(|| trace.interval(r.start));
        }
        for (&first, h) in firsts.iter().zip(block..end) {
            let range = trace.interval_range(h);
            let (next, interval) = match first {
                // At offset 0 (the usual case) the first interval is the one; no search.
                Some((s, e)) if e > offset => (range.start, Some((s, e))),
                _ => {
                    let i = range.start + trace.intervals(h).1.partition_point(|&e| e <= offset);
                    (i, (i < range.end).then(|| trace.interval(i)))
                }
            };
            if let Some((s, end)) = interval {
                q.push(
                    (s - offset).max(0) as f64,
                    Event::On {
                        host: h as u32,
                        end,
                    },
                );
            }
            hosts.push(Host {
                task: NONE,
                epoch: 0,
                next: next as u32,
                stop: range.end as u32,
            });
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
        host.task = task;
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
            if hosts[h as usize].idle() {
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
            Event::On { host: h, end } => {
                q.push((end - offset) as f64, Event::Off(h));
                hosts[h as usize].epoch += 1;
                match waiting.pop_front() {
                    Some(task) => start(&mut q, &mut hosts, h, task, t),
                    None => idle.push_back(h),
                }
            }
            Event::Off(h) => {
                let host = &mut hosts[h as usize];
                host.epoch += 1;
                host.next += 1;
                let next = (host.next < host.stop).then(|| trace.interval(host.next as usize));
                let lost = std::mem::replace(&mut host.task, NONE);
                if lost != NONE {
                    restarts += 1;
                    waiting.push_front(lost);
                    dispatch(&mut q, &mut hosts, &mut waiting, &mut idle, t);
                }
                if let Some((s, end)) = next {
                    q.push((s - offset) as f64, Event::On { host: h, end });
                }
            }
            Event::Done { host: h, epoch } => {
                let host = &mut hosts[h as usize];
                // Same epoch: still in the interval the task started in, so online.
                if host.epoch != epoch {
                    continue;
                }
                let task = std::mem::replace(&mut host.task, NONE);
                debug_assert!(task != NONE, "a running host has a task");
                completions[task as usize] = t;
                done += 1;
                match waiting.pop_front() {
                    Some(next) => start(&mut q, &mut hosts, h, next, t),
                    None => idle.push_back(h),
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
    Ok(IdealOutput {
        makespan,
        completions,
        events: q.popped(),
        restarts,
    })
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
        let out = run(&t, 0, &tasks(4, 10.0)).unwrap();
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
        let out = run(&t, 0, &specs).unwrap();
        // Host 1: task 1 [0, 2], task 2 [2, 3], idle; at 5 task 0 returns: [5, 15].
        assert_eq!(out.completions, vec![15.0, 2.0, 3.0]);
        assert_eq!(out.restarts, 1);
    }

    #[test]
    fn unfinished_work_gives_nan() {
        let t = trace(&[(1.0, &[(0, 5)])], 10);
        assert!(run(&t, 0, &tasks(1, 100.0)).unwrap().makespan.is_nan());
    }
}
