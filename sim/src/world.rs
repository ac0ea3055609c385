//! The simulated desktop grid: volunteers replaying a trace, Cloud workers, and the BOINC or
//! XWHEP server, with the SpeQuloS core deciding at every Scheduler tick.
//!
//! Model rules (defaults; see `scenario` for the parameters):
//! - Volunteers follow the trace exactly: a host is online during its availability intervals.
//!   Each host has one cursor into its intervals and at most one pending on/off event, so the
//!   queue holds O(hosts) trace events, never the whole trace.
//! - XWHEP: one task per core; a worker asks at once when it comes on and when a core frees,
//!   and after an empty answer waits 2×, 4×... the base period (capped). Work in progress is
//!   lost when the host goes off; the server re-queues the task when the worker comes back or
//!   when it has been silent `timeout` s after its last keep-alive (computed, not simulated).
//! - BOINC: workunits with `target_nresults` replicas, validated at `min_quorum` results,
//!   at most one replica per host per workunit, ever. A client asks for `buffer_per_core` ×
//!   cores tasks when it has none queued and a free core; an off host keeps its tasks and
//!   resumes from where it stopped (checkpoint); a replica not returned within `delay_bound`
//!   is re-issued to another host.
//! - Cloud workers boot, never fail, run at `speed_factor` × the mean volunteer speed, and
//!   are served according to the strategy's usage mode (Flat, Reschedule, Duplicate).
//! - When a task completes, every other copy of it is cancelled (first result wins).
//! - Ties: at the same instant, host, server and Scheduler events run first, in the order they
//!   were scheduled (at t = 0: host events, then task submissions, then the first tick); then
//!   work requests, in worker order.
//!
//! Idle polling shortcut: a volunteer whose request fails is *parked* with its back-off
//! schedule instead of polling. A failed poll changes nothing but the schedule, and work only
//! becomes assignable through a few events (submission, re-queue, re-issue, a stopped Cloud
//! worker), so at any time only the parked volunteer with the earliest eligible poll (time,
//! then index) needs a real event: it is *designated*, and chosen again whenever work appears,
//! it polls, or it goes off. Schedules advance with the same arithmetic as real polls, so the
//! results are those of polling one event at a time (`model.naive_polling`; a test compares).

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use spequlos_core::metrics::{self, PredictionCheck, PREDICTION_POINTS};
use spequlos_core::usage::{self, Rotation, Source, TaskTable, TaskView};
use spequlos_core::{
    Activity, BotKey, BotProgress, Decision, Ledger, Oracle, QosController, RunMetrics, Sample,
    WorkerReport,
};
use spequlos_traces::Trace;

use crate::engine::Queue;
use crate::scenario::{BoincParams, Middleware, Scenario, XwhepParams};
use crate::workload::TaskSpec;

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
enum Event {
    HostOn(u32),
    HostOff(u32),
    /// Worker asks for work; stale if the worker's epoch or request token changed.
    Request {
        w: u32,
        epoch: u32,
        token: u32,
    },
    /// An execution finishes; stale if the execution was paused or cancelled since.
    Done {
        exec: u32,
        epoch: u32,
    },
    /// BOINC: a replica's deadline.
    Deadline {
        exec: u32,
    },
    /// XWHEP: the server gives up on a silent worker.
    Timeout {
        w: u32,
        epoch: u32,
    },
    CloudUp {
        w: u32,
    },
    /// The Cloud provider takes worker `w` back (revocation model).
    Revoke {
        w: u32,
    },
    Submit {
        task: u32,
    },
    Tick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExecKind {
    /// From the normal queue.
    Normal,
    /// Reschedule: a Cloud duplicate of a task held by a volunteer.
    Duplicate,
    /// Cloud Duplication: from the Cloud-only queue.
    Copy,
}

#[derive(Debug, Clone)]
struct Exec {
    task: u32,
    worker: u32,
    kind: ExecKind,
    remaining: f64,
    /// Start of the current running stretch; NaN while queued or paused.
    since: f64,
    /// Bumped at every start, pause and cancellation; a `Done` event is valid only for the
    /// epoch it was scheduled in.
    epoch: u32,
    alive: bool,
    /// BOINC: was running when its host went off; resumes when the host comes back.
    paused: bool,
}

#[derive(Debug, Clone)]
struct Worker {
    cloud_id: u32,
    speed: f64,
    cores: u32,
    online: bool,
    /// Bumped whenever pending requests and timeouts must be forgotten (off, on, stop).
    epoch: u32,
    /// Executions held, running or queued, in the order received; `running` counts the
    /// running ones.
    held: Vec<u32>,
    running: u32,
    backoff: f64,
    /// Once the back-off reaches its maximum at the failed poll at `anchor`, the next polls are
    /// at `anchor + k * max` for k = 1, 2, ... (`capped` is the k of the next one): one
    /// rounding per poll time, so a parked volunteer's schedule can jump ahead in one step and
    /// still give exactly the times of polling one by one.
    anchor: f64,
    capped: u64,
    request_pending: bool,
    /// Last request got nothing and nothing has arrived since.
    idle: bool,
    came_on: f64,
    /// XWHEP: tasks the server still believes this worker runs (it went off with them).
    stale: Vec<u32>,
    /// Trace cursor: index of the next interval (volunteers only).
    cursor: usize,
    stopped: bool,
    /// Parked (idle shortcut): `next_poll` is its next poll on its back-off schedule.
    parked: bool,
    next_poll: f64,
    /// Bumped to cancel a designated poll.
    token: u32,
}
impl Worker {
    fn new(cloud_id: u32, speed: f64, cores: u32, came_on: f64) -> Worker {
        Worker {
            cloud_id,
            speed,
            cores,
            online: false,
            epoch: 0,
            held: Vec::new(),
            running: 0,
            backoff: 0.0,
            anchor: 0.0,
            capped: 0,
            request_pending: false,
            idle: false,
            came_on,
            stale: Vec::new(),
            cursor: 0,
            stopped: false,
            parked: false,
            next_poll: 0.0,
            token: 0,
        }
    }

    /// The next poll of a worker whose poll at `t` got nothing. The back-off doubles first, then
    /// waits: 60, 120, 240, 300, 300... with the defaults; capped polls are `anchor + k * max`.
    fn failed_poll(&mut self, t: f64, min: f64, max: f64) -> f64 {
        if self.backoff < max {
            self.backoff = if self.backoff == 0.0 {
                min * 2.0
            } else {
                self.backoff * 2.0
            }
            .min(max);
            if self.backoff < max {
                return t + self.backoff;
            }
            self.anchor = t;
            self.capped = 0;
        } else if t != self.anchor + self.capped as f64 * max {
            // A poll off the schedule (none is known to happen) starts a new one.
            self.anchor = t;
            self.capped = 0;
        }
        self.capped += 1;
        self.anchor + self.capped as f64 * max
    }

    fn is_cloud(&self) -> bool {
        self.cloud_id != NONE
    }
}

#[derive(Debug, Clone)]
struct Task {
    ops: f64,
    submit: f64,
    submitted: bool,
    first_assign: f64,
    done_at: f64,
    done_on_cloud: bool,
    /// Live executions.
    execs: Vec<u32>,
    /// XWHEP: the worker the server believes holds it through the normal queue.
    holder: u32,
    /// BOINC replica counts and the hosts that ever got one.
    unsent: u32,
    in_progress: u32,
    results: u32,
    sent_to: Vec<u32>,
    has_copy: bool,
    executions: u32,
}

/// The task table as the core's usage policy sees it, for the Cloud worker `worker` asking
/// (`NONE`: the Scheduler).
struct Asking<'w, 'a> {
    world: &'w World<'a>,
    worker: u32,
}

impl TaskTable for Asking<'_, '_> {
    fn task_count(&self) -> u32 {
        self.world.tasks.len() as u32
    }

    fn view(&self, task: u32) -> TaskView {
        let wd = self.world;
        let tk = &wd.tasks[task as usize];
        let is_cloud = |w: u32| wd.workers[w as usize].is_cloud();
        if !tk.submitted || !tk.done_at.is_nan() {
            // Nothing else matters to the policy (and the rotation passes most tasks).
            return TaskView::default();
        }
        TaskView {
            open: true,
            on_volunteer: match &wd.sc.middleware {
                Middleware::Xwhep(_) => tk.holder != NONE && !is_cloud(tk.holder),
                Middleware::Boinc(_) => tk.in_progress > 0 && !tk.sent_to.contains(&self.worker),
            },
            on_cloud: tk
                .execs
                .iter()
                .any(|&e| is_cloud(wd.execs[e as usize].worker)),
            copied: tk.has_copy,
        }
    }
}

/// Everything a run produces.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub metrics: RunMetrics,
    pub progress: BotProgress,
    pub tasks: Vec<TaskRecord>,
    pub ledger: Ledger,
    pub events: u64,
    /// Simulated time at which the run stopped.
    pub end: f64,
    /// Cloud workers the provider revoked.
    pub revoked: u32,
    /// Cloud workers still running when the run stopped (0 once the Scheduler closed the BoT).
    pub cloud_running_at_end: u32,
}
/// Per-task outcome for `tasks.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskRecord {
    pub submit: f64,
    pub first_assign: f64,
    pub completion: f64,
    pub on_cloud: bool,
    pub executions: u32,
}

pub struct World<'a> {
    sc: &'a Scenario,
    trace: &'a Trace,
    offset: i64,
    horizon: f64,
    q: Queue<Event>,
    workers: Vec<Worker>,
    n_volunteers: u32,
    online_volunteers: u32,
    execs: Vec<Exec>,
    tasks: Vec<Task>,
    /// XWHEP waiting tasks / BOINC workunits with unsent replicas, by submission order.
    pending: BTreeSet<u32>,
    /// Cloud Duplication queue.
    cloud_queue: BTreeSet<u32>,
    rotation: Rotation,
    progress: BotProgress,
    controller: QosController,
    ledger: Ledger,
    oracle: &'a Oracle,
    oracle_key: String,
    predictions: Vec<PredictionCheck>,
    next_point: usize,
    cloud_speed: f64,
    boot_rng: ChaCha8Rng,
    revoke_rng: ChaCha8Rng,
    jitter_rng: ChaCha8Rng,
    ops_volunteer: f64,
    ops_cloud: f64,
    running_execs: u32,
    cloud_online: u32,
    revoked: u32,
    finished: bool,
    /// Parked volunteers by (next poll time bits, index): non-negative f64 bits sort as numbers.
    parked: BTreeSet<(u64, u32)>,
    designated: Option<u32>,
    /// Work may have become assignable, or the designated poller was lost: choose again.
    redesignate: bool,
    naive: bool,
}
impl<'a> World<'a> {
    /// Prepares a run of `tasks` on `trace` from `sc.trace.offset`, until the BoT is complete and
    /// the Scheduler has closed it, or the trace ends.
    pub fn new(
        sc: &'a Scenario,
        trace: &'a Trace,
        tasks: &[TaskSpec],
        oracle: &'a Oracle,
        oracle_key: String,
    ) -> Self {
        let offset = sc.trace.offset.round() as i64;
        let horizon = (trace.meta.span - offset).max(0) as f64;
        let speed_of = |h: &spequlos_traces::Host| sc.model.uniform_speed.unwrap_or(h.speed);
        let mean_speed =
            trace.hosts().iter().map(speed_of).sum::<f64>() / trace.host_count().max(1) as f64;
        let total_ops: f64 = tasks.iter().map(|t| t.ops).sum();
        let cloud_speed = sc.cloud.speed_factor * mean_speed;
        let bot = BotKey::new("bot-0", trace.meta.name.clone());
        let mut ledger = Ledger::default();
        let credits = sc.cloud.credits.unwrap_or_else(|| {
            sc.qos
                .default_order(total_ops, cloud_speed, sc.cloud.credit_fraction)
        });
        // Scenarios are validated (credits <= MAX_CREDITS) and the default order is clamped.
        let credits = credits.min(spequlos_core::ledger::MAX_CREDITS);
        ledger
            .deposit(0.0, "user", credits)
            .expect("a fresh ledger takes up to MAX_CREDITS");
        ledger
            .order(0.0, "user", &bot, credits)
            .expect("deposit covers the order");
        let controller = QosController::new(sc.strategy, sc.qos.clone(), bot, 0.0);
        let mut root = ChaCha8Rng::seed_from_u64(sc.seed);
        let mut boot_rng = root.clone();
        boot_rng.set_stream(1);
        let mut revoke_rng = root.clone();
        revoke_rng.set_stream(4);
        root.set_stream(3);
        let n = trace.host_count() as u32;
        let workers = trace
            .hosts()
            .iter()
            .map(|h| Worker::new(NONE, speed_of(h), h.cores.max(1), 0.0))
            .collect();
        let task_vec = tasks
            .iter()
            .map(|t| Task {
                ops: t.ops,
                submit: t.submit,
                submitted: false,
                first_assign: f64::NAN,
                done_at: f64::NAN,
                done_on_cloud: false,
                execs: Vec::new(),
                holder: NONE,
                unsent: 0,
                in_progress: 0,
                results: 0,
                sent_to: Vec::new(),
                has_copy: false,
                executions: 0,
            })
            .collect();
        let mut w = World {
            sc,
            trace,
            offset,
            horizon,
            q: Queue::with_capacity(trace.host_count() * 2 + tasks.len()),
            workers,
            n_volunteers: n,
            online_volunteers: 0,
            execs: Vec::new(),
            tasks: task_vec,
            pending: BTreeSet::new(),
            cloud_queue: BTreeSet::new(),
            rotation: Rotation::default(),
            progress: BotProgress::new(tasks.len() as u32),
            controller,
            ledger,
            oracle,
            oracle_key,
            predictions: Vec::new(),
            next_point: 0,
            cloud_speed,
            boot_rng,
            revoke_rng,
            jitter_rng: root,
            ops_volunteer: 0.0,
            ops_cloud: 0.0,
            running_execs: 0,
            cloud_online: 0,
            revoked: 0,
            finished: false,
            parked: BTreeSet::new(),
            designated: None,
            redesignate: false,
            naive: sc.model.naive_polling,
        };
        for h in 0..n {
            w.schedule_next_interval(h);
        }
        for (i, t) in tasks.iter().enumerate() {
            w.q.push(t.submit, Event::Submit { task: i as u32 });
        }
        w.q.push(0.0, Event::Tick);
        w
    }

    /// Runs to the end and returns the outcome.
    pub fn run(mut self) -> RunOutput {
        while let Some((t, ev)) = self.q.pop() {
            if t > self.horizon && !self.finished {
                break;
            }
            self.handle(t, ev);
            if self.finished {
                break;
            }
        }
        self.finish()
    }

    fn handle(&mut self, t: f64, ev: Event) {
        self.dispatch(t, ev);
        if self.redesignate {
            self.redesignate = false;
            self.designate(t);
        }
    }

    fn dispatch(&mut self, t: f64, ev: Event) {
        match ev {
            Event::HostOn(h) => self.host_on(h, t),
            Event::HostOff(h) => self.host_off(h, t),
            Event::Request { w, epoch, token } => {
                let wk = &self.workers[w as usize];
                if wk.epoch == epoch && wk.token == token && wk.online {
                    self.workers[w as usize].request_pending = false;
                    if self.designated == Some(w) {
                        self.designated = None;
                        self.redesignate = true;
                    }
                    self.request(w, t);
                }
            }
            Event::Done { exec, epoch } => {
                let e = &self.execs[exec as usize];
                if e.alive && e.epoch == epoch {
                    self.exec_done(exec, t);
                }
            }
            Event::Deadline { exec } => self.deadline(exec, t),
            Event::Timeout { w, epoch } => {
                if self.workers[w as usize].epoch == epoch {
                    self.requeue_stale(w);
                }
            }
            Event::CloudUp { w } => {
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
            Event::Revoke { w } => {
                if !self.workers[w as usize].stopped {
                    let id = self.workers[w as usize].cloud_id;
                    self.stop_cloud_worker(id, t);
                    self.controller.worker_lost(id);
                    self.revoked += 1;
                }
            }
            Event::Submit { task } => self.submit(task, t),
            Event::Tick => self.tick(t),
        }
    }

    // ---------------------------------------------------------------- volunteers and trace

    /// Schedules host `h`'s next on (or its current interval, if already inside one at t = 0).
    fn schedule_next_interval(&mut self, h: u32) {
        let (starts, ends) = self.trace.intervals(h as usize);
        let cursor = &mut self.workers[h as usize].cursor;
        if *cursor == 0 {
            // First call: skip intervals that end before the offset.
            *cursor = ends.partition_point(|&e| e <= self.offset);
        }
        if let Some(&s) = starts.get(*cursor) {
            let start = (s - self.offset).max(0) as f64;
            self.q.push(start, Event::HostOn(h));
        }
    }

    fn host_on(&mut self, h: u32, t: f64) {
        let end = self.trace.intervals(h as usize).1[self.workers[h as usize].cursor];
        self.q.push((end - self.offset) as f64, Event::HostOff(h));
        self.online_volunteers += 1;
        let w = &mut self.workers[h as usize];
        w.online = true;
        w.epoch += 1;
        w.came_on = t;
        match &self.sc.middleware {
            Middleware::Xwhep(_) => self.requeue_stale(h),
            Middleware::Boinc(_) => {
                // Resume checkpointed work, then start queued tasks on the other cores.
                for e in self.workers[h as usize].held.clone() {
                    if self.execs[e as usize].paused {
                        self.execs[e as usize].paused = false;
                        self.run_exec(e, t);
                    }
                }
                self.fill_cores(h, t);
            }
        }
        let delay = if self.sc.model.on_jitter {
            let len = (end - self.offset) as f64 - t;
            self.jitter_rng
                .random_range(0.0..=(300f64).min((len - 1.0).max(0.0)))
        } else {
            0.0
        };
        self.workers[h as usize].backoff = 0.0;
        self.ask_at(h, t + delay);
    }

    fn host_off(&mut self, h: u32, t: f64) {
        self.online_volunteers -= 1;
        self.unpark(h);
        {
            let w = &mut self.workers[h as usize];
            w.online = false;
            w.epoch += 1;
            w.request_pending = false;
            w.cursor += 1;
        }
        let held = self.workers[h as usize].held.clone();
        match &self.sc.middleware {
            Middleware::Xwhep(x) => {
                // Work in progress is lost; the server keeps believing the worker runs it.
                for e in held {
                    let task = self.execs[e as usize].task;
                    self.kill_exec(e, t);
                    if self.tasks[task as usize].holder == h {
                        self.workers[h as usize].stale.push(task);
                    }
                }
                let w = &self.workers[h as usize];
                let since_on = t - w.came_on;
                let last_keepalive = w.came_on + (since_on / x.keepalive).floor() * x.keepalive;
                let epoch = w.epoch;
                self.q
                    .push(last_keepalive + x.timeout, Event::Timeout { w: h, epoch });
            }
            Middleware::Boinc(_) => {
                for e in held {
                    if self.account(e, t) {
                        let ex = &mut self.execs[e as usize];
                        ex.epoch += 1;
                        ex.paused = true;
                    }
                }
                self.workers[h as usize].running = 0;
            }
        }
        self.schedule_next_interval(h);
    }

    // ---------------------------------------------------------------- executions

    /// Books the operations `e` executed since it last started; returns whether it was
    /// running (it no longer is, as far as `running_execs` goes).
    fn account(&mut self, e: u32, t: f64) -> bool {
        let ex = &mut self.execs[e as usize];
        if ex.since.is_nan() {
            return false;
        }
        let w = &self.workers[ex.worker as usize];
        let ops = ((t - ex.since) * w.speed).min(ex.remaining);
        ex.remaining -= ops;
        ex.since = f64::NAN;
        if w.is_cloud() {
            self.ops_cloud += ops;
        } else {
            self.ops_volunteer += ops;
        }
        self.running_execs -= 1;
        true
    }

    /// Starts (or resumes) execution `e` on its worker at `t`.
    fn run_exec(&mut self, e: u32, t: f64) {
        let ex = &mut self.execs[e as usize];
        let w = &mut self.workers[ex.worker as usize];
        ex.since = t;
        ex.epoch += 1;
        w.running += 1;
        self.running_execs += 1;
        let done = t + ex.remaining / w.speed;
        self.q.push(
            done,
            Event::Done {
                exec: e,
                epoch: ex.epoch,
            },
        );
    }

    /// Removes execution `e` everywhere (its work so far counts as executed, then is lost).
    fn kill_exec(&mut self, e: u32, t: f64) {
        let was_running = self.account(e, t);
        let ex = &mut self.execs[e as usize];
        ex.alive = false;
        ex.epoch += 1;
        let (task, worker) = (ex.task, ex.worker);
        let w = &mut self.workers[worker as usize];
        w.held.retain(|&x| x != e);
        if was_running {
            w.running -= 1;
        }
        self.tasks[task as usize].execs.retain(|&x| x != e);
    }

    /// Creates an execution of `task` held by worker `w`.
    fn new_exec(&mut self, task: u32, w: u32, kind: ExecKind, t: f64) -> u32 {
        let e = self.execs.len() as u32;
        self.execs.push(Exec {
            task,
            worker: w,
            kind,
            remaining: self.tasks[task as usize].ops,
            since: f64::NAN,
            epoch: 0,
            alive: true,
            paused: false,
        });
        let tk = &mut self.tasks[task as usize];
        tk.execs.push(e);
        tk.executions += 1;
        if tk.first_assign.is_nan() {
            tk.first_assign = t;
            self.progress.record_assigned(t, 1);
        }
        self.workers[w as usize].held.push(e);
        e
    }

    /// Starts queued executions on free cores.
    fn fill_cores(&mut self, w: u32, t: f64) {
        let wk = &self.workers[w as usize];
        if !wk.online || wk.running >= wk.cores {
            return;
        }
        let queued: Vec<u32> = wk
            .held
            .iter()
            .copied()
            .filter(|&e| self.execs[e as usize].since.is_nan())
            .collect();
        for e in queued {
            let wk = &self.workers[w as usize];
            if wk.running >= wk.cores {
                break;
            }
            self.run_exec(e, t);
        }
    }

    fn exec_done(&mut self, e: u32, t: f64) {
        let (task, worker, kind) = {
            let ex = &self.execs[e as usize];
            (ex.task, ex.worker, ex.kind)
        };
        self.kill_exec(e, t);
        let on_cloud = self.workers[worker as usize].is_cloud();
        match &self.sc.middleware {
            Middleware::Xwhep(_) => self.complete_task(task, on_cloud, t),
            Middleware::Boinc(b) => {
                let tk = &mut self.tasks[task as usize];
                if tk.done_at.is_nan() {
                    if kind != ExecKind::Copy {
                        tk.in_progress -= 1;
                        tk.results += 1;
                    }
                    if kind == ExecKind::Copy || tk.results >= b.min_quorum {
                        self.complete_task(task, on_cloud, t);
                    }
                }
            }
        }
        self.after_free(worker, t);
    }

    /// A core freed on `w`: start queued work and ask for more when the model says so.
    fn after_free(&mut self, w: u32, t: f64) {
        if !self.workers[w as usize].online {
            return;
        }
        self.fill_cores(w, t);
        if self.wants_work(w) {
            self.workers[w as usize].backoff = 0.0;
            self.ask_at(w, t);
        }
    }

    fn wants_work(&self, w: u32) -> bool {
        let wk = &self.workers[w as usize];
        if !wk.online {
            return false;
        }
        match &self.sc.middleware {
            Middleware::Xwhep(_) => (wk.held.len() as u32) < wk.cores,
            Middleware::Boinc(_) => {
                let queued = wk.held.len() as u32 - wk.running;
                queued == 0 && wk.running < wk.cores
            }
        }
    }

    fn complete_task(&mut self, task: u32, on_cloud: bool, t: f64) {
        let tk = &mut self.tasks[task as usize];
        if !tk.done_at.is_nan() {
            return;
        }
        tk.done_at = t;
        tk.done_on_cloud = on_cloud;
        tk.holder = NONE;
        self.pending.remove(&task);
        self.cloud_queue.remove(&task);
        let open = std::mem::take(&mut self.tasks[task as usize].execs);
        for e in usage::to_cancel(true, open) {
            let w = self.execs[e as usize].worker;
            self.kill_exec(e, t);
            self.after_free(w, t);
        }
        self.progress.record_completed(t, 1);
        self.check_prediction(t);
    }

    fn check_prediction(&mut self, t: f64) {
        if self.controller.strategy().is_none() {
            return;
        }
        let r = self.progress.completion();
        while self.next_point < PREDICTION_POINTS.len() && r >= PREDICTION_POINTS[self.next_point] {
            let point = PREDICTION_POINTS[self.next_point];
            if let Some(p) = self.oracle.predict(&self.oracle_key, point, t) {
                self.predictions
                    .push(PredictionCheck::new(point, t, p, None));
            }
            self.next_point += 1;
        }
    }

    // ---------------------------------------------------------------- requests

    fn ask_at(&mut self, w: u32, t: f64) {
        let wk = &mut self.workers[w as usize];
        if wk.request_pending || !wk.online {
            return;
        }
        wk.request_pending = true;
        let (epoch, token) = (wk.epoch, wk.token);
        self.q
            .push_tied(t, w + 1, Event::Request { w, epoch, token });
    }

    // ---------------------------------------------------------------- idle polling shortcut

    /// Parks volunteer `w`, whose request just failed, until its poll at `next` (or later).
    fn park(&mut self, w: u32, next: f64) {
        let wk = &mut self.workers[w as usize];
        wk.parked = true;
        // Like a scheduled poll, a parked one keeps `ask_at` from scheduling another.
        wk.request_pending = true;
        wk.next_poll = next;
        self.parked.insert((next.to_bits(), w));
    }

    /// Forgets `w`'s parked or designated poll (it went off).
    fn unpark(&mut self, w: u32) {
        let wk = &mut self.workers[w as usize];
        if wk.parked {
            self.parked.remove(&(wk.next_poll.to_bits(), w));
            wk.parked = false;
        }
        if self.designated == Some(w) {
            self.designated = None;
            wk.token += 1;
            self.redesignate = true;
        }
    }

    /// Makes the failed polls of `w` before `now`, with the arithmetic of `request`.
    fn advance(&mut self, w: u32, now: f64) {
        let (min, max) = self.backoff_bounds();
        let wk = &mut self.workers[w as usize];
        while wk.next_poll < now && wk.backoff < max {
            wk.next_poll = wk.failed_poll(wk.next_poll, min, max);
        }
        if wk.next_poll < now {
            // Capped: the first k after the current one with anchor + k * max >= now. The
            // time is monotone in k, so the estimate is corrected by single steps.
            let at = |k: u64| wk.anchor + k as f64 * max;
            let mut k = (((now - wk.anchor) / max).ceil() as u64).max(wk.capped + 1);
            while at(k) < now {
                k += 1;
            }
            while k > wk.capped + 1 && at(k - 1) >= now {
                k -= 1;
            }
            wk.capped = k;
            wk.next_poll = at(k);
        }
    }

    fn backoff_bounds(&self) -> (f64, f64) {
        match &self.sc.middleware {
            Middleware::Xwhep(x) => (x.backoff_min, x.backoff_max),
            Middleware::Boinc(b) => (b.backoff_min, b.backoff_max),
        }
    }

    /// Whether a request by volunteer `w` now would get something.
    fn eligible(&self, w: u32) -> bool {
        match &self.sc.middleware {
            Middleware::Xwhep(_) => !self.pending.is_empty(),
            Middleware::Boinc(_) => self
                .pending
                .iter()
                .any(|&t| !self.tasks[t as usize].sent_to.contains(&w)),
        }
    }

    /// Gives a real poll event to the parked volunteer whose next poll would be the first to
    /// succeed, if it comes before the current designated one's.
    fn designate(&mut self, now: f64) {
        if self.pending.is_empty() || self.parked.is_empty() {
            return;
        }
        // Re-key the volunteers whose schedule fell behind `now`. After a quiet spell (no
        // pending work, no call) that is most of them: tens of thousands at 10^5 hosts, so the
        // set is then rebuilt in one sorted pass instead of by single removals and insertions.
        let ahead = self.parked.split_off(&(now.to_bits(), 0));
        let behind = std::mem::replace(&mut self.parked, ahead);
        if !behind.is_empty() {
            let mut moved: Vec<(u64, u32)> = Vec::with_capacity(behind.len());
            for (_, w) in behind {
                self.advance(w, now);
                moved.push((self.workers[w as usize].next_poll.to_bits(), w));
            }
            if moved.len() >= self.parked.len() / 8 {
                moved.extend(std::mem::take(&mut self.parked));
                moved.sort_unstable();
                self.parked = moved.into_iter().collect();
            } else {
                self.parked.extend(moved);
            }
        }
        let Some((bits, w)) = self.parked.iter().copied().find(|&(_, w)| self.eligible(w)) else {
            return;
        };
        if let Some(d) = self.designated {
            let dp = self.workers[d as usize].next_poll;
            if (dp.to_bits(), d) <= (bits, w) {
                return;
            }
            // The earlier poller takes over; the other goes back to its schedule.
            let dk = &mut self.workers[d as usize];
            dk.token += 1;
            dk.parked = true;
            self.parked.insert((dp.to_bits(), d));
        }
        self.parked.remove(&(bits, w));
        let wk = &mut self.workers[w as usize];
        wk.parked = false;
        wk.token += 1;
        let (epoch, token) = (wk.epoch, wk.token);
        self.designated = Some(w);
        self.q.push_tied(
            f64::from_bits(bits),
            w + 1,
            Event::Request { w, epoch, token },
        );
    }
    fn request(&mut self, w: u32, t: f64) {
        let (want, min, max) = {
            let wk = &self.workers[w as usize];
            match &self.sc.middleware {
                Middleware::Xwhep(XwhepParams {
                    backoff_min,
                    backoff_max,
                    ..
                }) => {
                    if !self.wants_work(w) {
                        return;
                    }
                    (wk.cores - wk.held.len() as u32, *backoff_min, *backoff_max)
                }
                Middleware::Boinc(BoincParams {
                    buffer_per_core,
                    backoff_min,
                    backoff_max,
                    ..
                }) => {
                    if !self.wants_work(w) {
                        return;
                    }
                    (
                        (buffer_per_core * wk.cores).saturating_sub(wk.held.len() as u32),
                        *backoff_min,
                        *backoff_max,
                    )
                }
            }
        };
        let mut got = 0;
        while got < want {
            match self.pick(w, t) {
                Some(_) => got += 1,
                None => break,
            }
        }
        let wk = &mut self.workers[w as usize];
        if got > 0 {
            wk.idle = false;
            wk.backoff = 0.0;
            self.fill_cores(w, t);
        } else {
            wk.idle = true;
            let next = wk.failed_poll(t, min, max);
            if self.naive || wk.is_cloud() {
                self.ask_at(w, next);
            } else {
                self.park(w, next);
            }
        }
    }

    /// Gives one task to worker `w`, from the sources its usage mode gives it, in order.
    fn pick(&mut self, w: u32, t: f64) -> Option<u32> {
        let usage = if self.workers[w as usize].is_cloud() {
            self.controller.strategy().usage()
        } else {
            None
        };
        usage::sources(usage).iter().find_map(|src| match src {
            Source::CloudQueue => {
                let task = self.cloud_queue.pop_first()?;
                Some(self.new_exec(task, w, ExecKind::Copy, t))
            }
            Source::Queue => self.take_normal(w, t),
            Source::Rotation => self.reschedule(w, t),
        })
    }

    /// The middleware's normal queue: the first waiting task (XWHEP), or the first workunit
    /// with an unsent replica that `w` never had (BOINC).
    fn take_normal(&mut self, w: u32, t: f64) -> Option<u32> {
        let task = match &self.sc.middleware {
            Middleware::Xwhep(_) => {
                let first = self.pending.pop_first()?;
                self.tasks[first as usize].holder = w;
                first
            }
            Middleware::Boinc(_) => {
                let found = self
                    .pending
                    .iter()
                    .copied()
                    .find(|&task| !self.tasks[task as usize].sent_to.contains(&w))?;
                self.send_replica(found, w);
                found
            }
        };
        let e = self.new_exec(task, w, ExecKind::Normal, t);
        if let Middleware::Boinc(b) = &self.sc.middleware {
            self.q.push(t + b.delay_bound, Event::Deadline { exec: e });
        }
        Some(e)
    }

    fn send_replica(&mut self, task: u32, w: u32) {
        let tk = &mut self.tasks[task as usize];
        tk.unsent -= 1;
        tk.in_progress += 1;
        tk.sent_to.push(w);
        if tk.unsent == 0 {
            self.pending.remove(&task);
        }
    }

    /// Reschedule: duplicates on Cloud worker `w` the task the core's rotation gives.
    fn reschedule(&mut self, w: u32, t: f64) -> Option<u32> {
        let mut rotation = self.rotation;
        let task = rotation.next(&Asking {
            world: self,
            worker: w,
        })?;
        self.rotation = rotation;
        if let Middleware::Boinc(_) = &self.sc.middleware {
            let tk = &mut self.tasks[task as usize];
            tk.in_progress += 1;
            tk.sent_to.push(w);
        }
        Some(self.new_exec(task, w, ExecKind::Duplicate, t))
    }

    // ---------------------------------------------------------------- server events

    fn submit(&mut self, task: u32, _t: f64) {
        let tk = &mut self.tasks[task as usize];
        tk.submitted = true;
        if let Middleware::Boinc(b) = &self.sc.middleware {
            tk.unsent = b.target_nresults;
        }
        self.pending.insert(task);
        self.redesignate = true;
    }

    fn deadline(&mut self, e: u32, t: f64) {
        let ex = &self.execs[e as usize];
        if !ex.alive {
            return;
        }
        let (task, w) = (ex.task, ex.worker);
        self.kill_exec(e, t);
        let tk = &mut self.tasks[task as usize];
        if tk.done_at.is_nan() {
            tk.in_progress -= 1;
            tk.unsent += 1;
            self.pending.insert(task);
            self.redesignate = true;
        }
        self.after_free(w, t);
    }

    /// XWHEP: the server puts back the tasks it believed `w` was running.
    fn requeue_stale(&mut self, w: u32) {
        for task in std::mem::take(&mut self.workers[w as usize].stale) {
            let tk = &mut self.tasks[task as usize];
            if tk.done_at.is_nan() && tk.holder == w {
                tk.holder = NONE;
                self.pending.insert(task);
                self.redesignate = true;
            }
        }
    }

    // ---------------------------------------------------------------- Scheduler

    fn tick(&mut self, t: f64) {
        self.progress.record_sample(Sample {
            t,
            total: self.progress.total(),
            completed: self.progress.completed(),
            assigned: self.progress.assigned(),
            running: self.running_execs,
            volunteers_online: self.online_volunteers,
            cloud_workers: self.cloud_online,
        });
        let reports: Vec<WorkerReport> = self
            .controller
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
            .collect();
        for d in self
            .controller
            .tick(t, &self.progress, &reports, &mut self.ledger)
        {
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
            let tk = &mut self.tasks[task as usize];
            if !tk.done_at.is_nan() {
                continue;
            }
            match kind {
                ExecKind::Copy => {
                    self.cloud_queue.insert(task);
                }
                ExecKind::Normal | ExecKind::Duplicate => match &self.sc.middleware {
                    Middleware::Xwhep(_) => {
                        if tk.holder == w {
                            tk.holder = NONE;
                            self.pending.insert(task);
                            self.redesignate = true;
                        }
                    }
                    Middleware::Boinc(_) => {
                        tk.in_progress -= 1;
                        if kind == ExecKind::Normal {
                            tk.unsent += 1;
                            self.pending.insert(task);
                            self.redesignate = true;
                        }
                    }
                },
            }
        }
    }

    // ---------------------------------------------------------------- results

    fn finish(self) -> RunOutput {
        let mut m = metrics::run_metrics(&self.progress, 0.0, self.sc.ideal_fraction);
        let actual = m.completed().then_some(m.completion_time);
        m.predictions = self
            .predictions
            .iter()
            .map(|p| PredictionCheck::new(p.ratio, p.at, p.prediction, actual))
            .collect();
        m.ops_executed = self.ops_volunteer + self.ops_cloud;
        m.ops_cloud = self.ops_cloud;
        m.cloud_share = if m.ops_executed > 0.0 {
            self.ops_cloud / m.ops_executed
        } else {
            0.0
        };
        let order = self
            .ledger
            .order_of(self.controller.bot())
            .expect("ordered at start");
        m.credits_ordered = order.ordered;
        m.credits_spent = order.spent;
        m.workers_started = self.controller.workers_started();
        m.deployed_at = self.controller.first_deployment().unwrap_or(f64::NAN);
        let tasks = self
            .tasks
            .iter()
            .map(|t| TaskRecord {
                submit: t.submit,
                first_assign: t.first_assign,
                completion: t.done_at,
                on_cloud: t.done_on_cloud,
                executions: t.executions,
            })
            .collect();
        RunOutput {
            metrics: m,
            progress: self.progress,
            tasks,
            ledger: self.ledger,
            events: self.q.popped(),
            end: self.q.now(),
            revoked: self.revoked,
            cloud_running_at_end: self.controller.running().count() as u32,
        }
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        for (i, w) in self.workers.iter().enumerate() {
            let running = w
                .held
                .iter()
                .filter(|&&e| !self.execs[e as usize].since.is_nan())
                .count() as u32;
            if running != w.running {
                return Err(format!(
                    "worker {i}: running {} but {running} execs run",
                    w.running
                ));
            }
            if !w.online && running > 0 {
                return Err(format!(
                    "worker {i} is offline and runs {running} executions"
                ));
            }
            if running > w.cores {
                return Err(format!("worker {i} runs {running} > {} cores", w.cores));
            }
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn step(&mut self) -> bool {
        match self.q.pop() {
            Some((t, ev)) if t <= self.horizon || self.finished => {
                self.handle(t, ev);
                !self.finished
            }
            _ => false,
        }
    }
}
