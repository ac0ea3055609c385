//! The SpeQuloS side of a run: the Scheduler's ticks (observe, let the core decide, carry the
//! decisions out), the Cloud workers it starts and stops, what they compute under the core's
//! usage policy, and the Oracle's predictions checked at completion points.

use rand_distr::{Distribution, Normal};
use spequlos_core::metrics::PREDICTION_POINTS;
use spequlos_core::usage::{self, Source, TaskTable, TaskView};
use spequlos_core::{Activity, Decision, QosController, Sample, WorkerReport};

use crate::middleware::Model;
use crate::world::{Event, ExecKind, Worker, World, NONE};

/// The task table as the core's usage policy sees it, for the Cloud worker `worker` asking
/// (`NONE`: the Scheduler).
struct Asking<'w, 'a, M: Model> {
    world: &'w World<'a, M>,
    worker: u32,
}

impl<M: Model> TaskTable for Asking<'_, '_, M> {
    fn task_count(&self) -> u32 {
        self.world.tasks.len() as u32
    }

    fn open_from(&self, start: u32) -> impl Iterator<Item = u32> + '_ {
        let open = &self.world.open;
        open.range(start, u32::MAX).chain(open.range(0, start))
    }

    fn view(&self, task: u32) -> TaskView {
        let wd = self.world;
        let tk = &wd.tasks[task as usize];
        if !tk.submitted || !tk.done_at.is_nan() {
            // Nothing else matters to the policy (and the rotation passes most tasks).
            return TaskView::default();
        }
        TaskView {
            open: true,
            on_volunteers: M::volunteer_copies(wd, task, self.worker),
            on_cloud: tk
                .execs
                .iter()
                .filter(|&&e| wd.execs[e as usize].on_cloud)
                .count() as u32,
            needed: M::results_needed(wd, task),
            copied: tk.has_copy,
        }
    }
}

impl<M: Model> World<'_, M> {
    /// Gives one task to worker `w`, from the sources its usage mode gives it, in order;
    /// `duplicates` counts the Reschedule duplicates this request gave already. Returns where
    /// the task came from.
    pub(crate) fn pick(&mut self, w: u32, t: f64, duplicates: u32) -> Option<Source> {
        let usage = if self.workers[w as usize].is_cloud() {
            self.controller.strategy().usage()
        } else {
            None
        };
        usage::sources(usage).iter().find_map(|&src| {
            let given = match src {
                Source::CloudQueue => self
                    .cloud_queue
                    .pop_first()
                    .map(|task| self.new_exec(task, w, ExecKind::Copy, t)),
                Source::Queue => M::take_normal(self, w, t),
                Source::Rotation if duplicates < usage::DUPLICATES_PER_REQUEST => {
                    self.reschedule(w, t)
                }
                Source::Rotation => None,
            };
            given.map(|_| src)
        })
    }

    /// Reschedule: duplicates on Cloud worker `w` the task the core's rotation gives.
    fn reschedule(&mut self, w: u32, t: f64) -> Option<u32> {
        let mut rotation = self.rotation;
        let task = rotation.next(
            &Asking {
                world: self,
                worker: w,
            },
            self.sc.qos.reschedule_copies,
        )?;
        self.rotation = rotation;
        self.m.duplicated(task, w);
        Some(self.new_exec(task, w, ExecKind::Duplicate, t))
    }

    /// Notes the completion points the BoT just reached (see `World::crossings`).
    pub(crate) fn check_prediction(&mut self, t: f64) {
        let r = self.progress.completion();
        while self.next_point < PREDICTION_POINTS.len() && r >= PREDICTION_POINTS[self.next_point] {
            self.crossings.push((PREDICTION_POINTS[self.next_point], t));
            self.next_point += 1;
        }
    }

    // ---------------------------------------------------------------- Scheduler

    /// One Scheduler turn: observe, let the core decide, carry the decisions out.
    pub(crate) fn tick(&mut self, t: f64) {
        self.observe(t);
        let reports = self.reports(&self.controller);
        let decisions = self
            .controller
            .tick(t, &self.progress, &reports, &mut self.ledger);
        self.carry_out(decisions, t);
    }

    /// Samples the BoT's progress, as the Scheduler sees it at every turn.
    pub(crate) fn observe(&mut self, t: f64) {
        self.progress.record_sample(Sample {
            t,
            total: self.progress.total(),
            completed: self.progress.completed(),
            assigned: self.progress.assigned(),
            running: self.running_execs,
            volunteers_online: self.online_volunteers,
            cloud_workers: self.cloud_online,
        });
    }

    /// The activity of the Cloud workers `controller` runs.
    pub(crate) fn reports(&self, controller: &QosController) -> Vec<WorkerReport> {
        controller
            .running()
            .map(|id| {
                let w = &self.workers[(self.n_volunteers + id) as usize];
                let activity = if !w.online {
                    Activity::Booting
                } else if w.held.is_empty() && w.idle {
                    Activity::Idle
                } else {
                    Activity::Busy
                };
                WorkerReport { id, activity }
            })
            .collect()
    }

    /// Carries out one turn's decisions and schedules the next turn unless the BoT is closed.
    pub(crate) fn carry_out(&mut self, decisions: Vec<Decision>, t: f64) {
        for d in decisions {
            match d {
                Decision::DuplicateIncomplete => {
                    let copies = usage::copy_set(&Asking {
                        world: self,
                        worker: NONE,
                    });
                    for task in copies {
                        self.tasks[task as usize].has_copy = true;
                        self.cloud_queue.insert(task);
                    }
                }
                Decision::StartWorker { id } => self.start_cloud_worker(id, t),
                Decision::StopWorker { id, .. } => self.stop_cloud_worker(id, t),
                // Simulated workers report a result the moment it is computed: never owing.
                Decision::Report { .. } => {}
                Decision::Finished { .. } => self.finished = true,
            }
        }
        if !self.finished {
            self.q.push(t + self.sc.qos.tick, Event::Tick);
        }
    }

    fn start_cloud_worker(&mut self, id: u32, t: f64) {
        let c = &self.sc.cloud;
        let boot = if c.boot_sd > 0.0 {
            Normal::new(c.boot_mean, c.boot_sd)
                .expect("validated")
                .sample(&mut self.boot_rng)
        } else {
            c.boot_mean
        }
        .clamp(c.boot_min, c.boot_max);
        let w = self.workers.len() as u32;
        debug_assert_eq!(w, self.n_volunteers + id);
        self.workers.push(Worker::new(id, self.cloud_speed, 1, t));
        self.q.push(t + boot, Event::CloudUp { w });
    }

    pub(crate) fn cloud_up(&mut self, w: u32, t: f64) {
        let wk = &mut self.workers[w as usize];
        if !wk.stopped {
            wk.online = true;
            wk.came_on = t;
            self.cloud_online += 1;
            if let Some(mean_h) = self.sc.cloud.revocation_mean_hours {
                let life = rand_distr::Exp::new(1.0 / (mean_h * 3600.0))
                    .expect("validated")
                    .sample(&mut self.revoke_rng);
                self.q.push(t + life, Event::Revoke { w });
            }
            self.ask_at(w, t);
        }
    }

    pub(crate) fn revoke(&mut self, w: u32, t: f64) {
        if !self.workers[w as usize].stopped {
            let id = self.workers[w as usize].cloud_id;
            self.stop_cloud_worker(id, t);
            self.controller.worker_lost(id);
            self.revoked += 1;
        }
    }

    fn stop_cloud_worker(&mut self, id: u32, t: f64) {
        let w = self.n_volunteers + id;
        let wk = &mut self.workers[w as usize];
        if wk.online {
            self.cloud_online -= 1;
        }
        wk.online = false;
        wk.stopped = true;
        wk.epoch += 1;
        for e in self.workers[w as usize].held.clone() {
            let (task, kind) = (self.execs[e as usize].task, self.execs[e as usize].kind);
            self.kill_exec(e, t);
            if !self.tasks[task as usize].done_at.is_nan() {
                continue;
            }
            match kind {
                ExecKind::Copy => {
                    self.cloud_queue.insert(task);
                }
                ExecKind::Normal | ExecKind::Duplicate => M::cloud_stopped(self, task, w, kind),
            }
        }
    }
}
