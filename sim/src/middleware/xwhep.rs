//! XtremWeb-HEP: one task per core; a worker asks at once when it comes on and when a core
//! frees, and after an empty answer waits 2×, 4×... the base period (capped). Work in progress
//! is lost when the host goes off; the server re-queues the task when the worker comes back,
//! or when it has been silent `timeout` s after its last keep-alive (computed, not simulated).

use super::Model;
use crate::scenario::XwhepParams;
use crate::world::{Event, ExecKind, Ids, Worker, World, NONE};

#[derive(Debug, Clone, Copy)]
pub enum XwhepEvent {
    /// The server gives up on a silent worker (stale if the worker's epoch changed).
    Timeout { w: u32, epoch: u32 },
}

#[derive(Clone)]
pub struct Xwhep {
    p: XwhepParams,
    /// Per task: the worker the server believes holds it through the normal queue.
    holder: Vec<u32>,
    /// Per volunteer: tasks the server still believes it runs (it went off with them).
    stale: Vec<Vec<u32>>,
}

impl Xwhep {
    /// The server puts back the tasks it believed `worker` was running.
    fn requeue_stale(w: &mut World<'_, Self>, worker: u32) {
        for task in std::mem::take(&mut w.m.stale[worker as usize]) {
            if w.tasks[task as usize].done_at.is_nan() && w.m.holder[task as usize] == worker {
                w.m.holder[task as usize] = NONE;
                w.pending.insert(task);
                w.redesignate = true;
            }
        }
    }
}

impl Model for Xwhep {
    type Event = XwhepEvent;
    type Params = XwhepParams;

    fn new(params: &XwhepParams, tasks: usize, hosts: usize) -> Self {
        Xwhep {
            p: params.clone(),
            holder: vec![NONE; tasks],
            stale: vec![Vec::new(); hosts],
        }
    }

    fn backoff_bounds(&self) -> (f64, f64) {
        (self.p.backoff_min, self.p.backoff_max)
    }

    fn backoff_survives_off(&self) -> bool {
        self.p.backoff_survives_off
    }

    fn submitted(&mut self, _task: u32) {}

    fn host_on(w: &mut World<'_, Self>, h: u32, _t: f64) {
        Self::requeue_stale(w, h);
    }

    fn host_off(w: &mut World<'_, Self>, h: u32, held: Ids, t: f64) {
        // Work in progress is lost; the server keeps believing the worker runs it.
        for e in held {
            let task = w.execs[e as usize].task;
            w.kill_exec(e, t);
            if w.m.holder[task as usize] == h {
                w.m.stale[h as usize].push(task);
            }
        }
        let wk = &w.workers[h as usize];
        let (keepalive, timeout) = (w.m.p.keepalive, w.m.p.timeout);
        let since_on = t - wk.came_on;
        let last_keepalive = wk.came_on + (since_on / keepalive).floor() * keepalive;
        let epoch = wk.epoch;
        w.q.push(
            last_keepalive + timeout,
            Event::Server(XwhepEvent::Timeout { w: h, epoch }),
        );
    }

    fn server_event(w: &mut World<'_, Self>, ev: XwhepEvent, _t: f64) {
        match ev {
            XwhepEvent::Timeout { w: h, epoch } => {
                if w.workers[h as usize].epoch == epoch {
                    Self::requeue_stale(w, h);
                }
            }
        }
    }

    fn wants_work(&self, wk: &Worker) -> bool {
        (wk.held.len() as u32) < wk.cores
    }

    fn request_size(&self, wk: &Worker) -> u32 {
        wk.cores - wk.held.len() as u32
    }

    fn eligible(w: &World<'_, Self>, _worker: u32) -> bool {
        !w.pending.is_empty()
    }

    /// The first waiting task.
    fn take_normal(w: &mut World<'_, Self>, worker: u32, t: f64, span: (u32, u32)) -> Option<u32> {
        let task = w.pending.range(span.0, span.1).next()?;
        w.pending.remove(task);
        w.m.holder[task as usize] = worker;
        Some(w.new_exec(task, worker, ExecKind::Normal, t))
    }

    fn volunteer_copies(w: &World<'_, Self>, task: u32, _worker: u32) -> u32 {
        let h = w.m.holder[task as usize];
        u32::from(h != NONE && !w.workers[h as usize].is_cloud())
    }

    fn duplicated(&mut self, _task: u32, _worker: u32) {}

    fn exec_done(w: &mut World<'_, Self>, task: u32, _kind: ExecKind, on_cloud: bool, t: f64) {
        w.complete_task(task, on_cloud, t);
    }

    fn cloud_stopped(w: &mut World<'_, Self>, task: u32, worker: u32, _kind: ExecKind) {
        if w.m.holder[task as usize] == worker {
            w.m.holder[task as usize] = NONE;
            w.pending.insert(task);
            w.redesignate = true;
        }
    }
}
