//! BOINC: workunits with `target_nresults` replicas, validated at `min_quorum` results, at
//! most one replica of a workunit per host, ever. A client asks for `buffer_per_core` × cores
//! tasks when it has none queued and a free core; an off host keeps its tasks and resumes from
//! where it stopped (checkpoint); a replica not returned within `delay_bound` is re-issued to
//! another host. A Cloud Duplication copy needs one result. Once a workunit is validated, its
//! replicas still on volunteers are aborted, run or cancelled as `done_replicas` says.

use super::Model;
use crate::scenario::{BoincParams, DoneReplicas};
use crate::world::{Event, ExecKind, Ids, Worker, World};

/// The server's replica counts for one workunit, and the hosts that ever got one.
#[derive(Debug, Clone, Default)]
struct Workunit {
    unsent: u32,
    in_progress: u32,
    results: u32,
    sent_to: Ids,
}

#[derive(Debug, Clone, Copy)]
pub enum BoincEvent {
    /// A replica's deadline: execution slot `exec` in generation `gen`.
    Deadline { exec: u32, gen: u32 },
}

#[derive(Clone)]
pub struct Boinc {
    p: BoincParams,
    wus: Vec<Workunit>,
}

impl Boinc {
    fn send_replica(w: &mut World<'_, Self>, task: u32, worker: u32) {
        let wu = &mut w.m.wus[task as usize];
        wu.unsent -= 1;
        wu.in_progress += 1;
        wu.sent_to.push(worker);
        if wu.unsent == 0 {
            w.pending.remove(task);
        }
    }

    /// A replica not returned in time is re-issued to another host.
    fn deadline(w: &mut World<'_, Self>, e: u32, gen: u32, t: f64) {
        let ex = &w.execs[e as usize];
        if !ex.alive || ex.gen != gen {
            return;
        }
        let (task, worker) = (ex.task, ex.worker);
        w.kill_exec(e, t);
        if w.tasks[task as usize].done_at.is_nan() {
            let wu = &mut w.m.wus[task as usize];
            wu.in_progress -= 1;
            wu.unsent += 1;
            w.pending.insert(task);
            w.redesignate = true;
        }
        w.after_free(worker, t);
    }
}

impl Model for Boinc {
    type Event = BoincEvent;
    type Params = BoincParams;

    fn new(params: &BoincParams, tasks: usize, _hosts: usize) -> Self {
        Boinc {
            p: params.clone(),
            wus: vec![Workunit::default(); tasks],
        }
    }

    fn backoff_bounds(&self) -> (f64, f64) {
        (self.p.backoff_min, self.p.backoff_max)
    }

    fn backoff_survives_off(&self) -> bool {
        self.p.backoff_survives_off
    }

    fn submitted(&mut self, task: u32) {
        self.wus[task as usize].unsent = self.p.target_nresults;
    }

    fn host_on(w: &mut World<'_, Self>, h: u32, t: f64) {
        // Resume checkpointed work, then start queued tasks on the other cores.
        for e in w.workers[h as usize].held.clone() {
            if w.execs[e as usize].paused {
                w.execs[e as usize].paused = false;
                w.run_exec(e, t);
            }
        }
        w.fill_cores(h, t);
    }

    fn host_off(w: &mut World<'_, Self>, h: u32, held: Ids, t: f64) {
        for e in held {
            if w.account(e, t) {
                let ex = &mut w.execs[e as usize];
                ex.epoch += 1;
                ex.paused = true;
            }
        }
        w.workers[h as usize].running = 0;
    }

    fn server_event(w: &mut World<'_, Self>, ev: BoincEvent, t: f64) {
        match ev {
            BoincEvent::Deadline { exec, gen } => Self::deadline(w, exec, gen, t),
        }
    }

    fn wants_work(&self, wk: &Worker) -> bool {
        let queued = wk.held.len() as u32 - wk.running;
        queued == 0 && wk.running < wk.cores
    }

    fn request_size(&self, wk: &Worker) -> u32 {
        (self.p.buffer_per_core * wk.cores).saturating_sub(wk.held.len() as u32)
    }

    fn eligible(w: &World<'_, Self>, worker: u32) -> bool {
        w.pending
            .iter()
            .any(|t| !w.m.wus[t as usize].sent_to.contains(&worker))
    }

    /// The first workunit with an unsent replica that `worker` never had.
    fn take_normal(w: &mut World<'_, Self>, worker: u32, t: f64, span: (u32, u32)) -> Option<u32> {
        let task = w
            .pending
            .range(span.0, span.1)
            .find(|&task| !w.m.wus[task as usize].sent_to.contains(&worker))?;
        Self::send_replica(w, task, worker);
        let e = w.new_exec(task, worker, ExecKind::Normal, t);
        let at = t + w.m.p.delay_bound;
        let gen = w.execs[e as usize].gen;
        // Sent now, due a constant delay later: deadlines come due in the order they are set.
        w.q.push_in_order(at, Event::Server(BoincEvent::Deadline { exec: e, gen }));
        Some(e)
    }

    fn volunteer_copies(w: &World<'_, Self>, task: u32, worker: u32) -> u32 {
        if w.m.wus[task as usize].sent_to.contains(&worker) {
            return 0;
        }
        // Every replica the server counts in progress has its execution (a deadline or an
        // abort ends both at once).
        w.tasks[task as usize]
            .execs
            .iter()
            .filter(|&&e| !w.execs[e as usize].on_cloud)
            .count() as u32
    }

    fn results_needed(w: &World<'_, Self>, task: u32) -> u32 {
        w.m.p
            .min_quorum
            .saturating_sub(w.m.wus[task as usize].results)
    }

    fn duplicated(&mut self, task: u32, worker: u32) {
        let wu = &mut self.wus[task as usize];
        wu.in_progress += 1;
        wu.sent_to.push(worker);
    }

    fn exec_done(w: &mut World<'_, Self>, task: u32, kind: ExecKind, on_cloud: bool, t: f64) {
        if kind != ExecKind::Copy {
            let wu = &mut w.m.wus[task as usize];
            wu.in_progress -= 1;
            wu.results += 1;
        }
        if kind == ExecKind::Copy || w.m.wus[task as usize].results >= w.m.p.min_quorum {
            w.complete_task(task, on_cloud, t);
        }
    }

    fn keeps_replicas(&self) -> Option<bool> {
        Some(self.p.done_replicas != DoneReplicas::Cancel)
    }

    fn contact(w: &mut World<'_, Self>, worker: u32, t: f64) {
        if w.m.p.done_replicas != DoneReplicas::AbortUnstarted {
            return;
        }
        // Replicas of validated workunits that never started: `result_abort_if_not_started`.
        // An online host's unstarted executions are the ones not running (paused ones are
        // only off): none is the usual case, known without reading them.
        let wk = &w.workers[worker as usize];
        if wk.held.len() as u32 == wk.running {
            return;
        }
        let unstarted: Vec<u32> = w.workers[worker as usize]
            .held
            .iter()
            .copied()
            .filter(|&e| {
                let ex = &w.execs[e as usize];
                ex.since.is_nan() && !ex.paused && ex.outdated
            })
            .collect();
        for e in unstarted {
            w.kill_exec(e, t);
        }
    }

    fn cloud_stopped(w: &mut World<'_, Self>, task: u32, _worker: u32, kind: ExecKind) {
        let wu = &mut w.m.wus[task as usize];
        wu.in_progress -= 1;
        if kind == ExecKind::Normal {
            wu.unsent += 1;
            w.pending.insert(task);
            w.redesignate = true;
        }
    }
}
