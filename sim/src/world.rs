//! The simulated desktop grid: volunteers replaying a trace, Cloud workers, and a middleware
//! server, with the SpeQuloS core deciding at every Scheduler tick.
//!
//! The event loop, the trace replay and the execution accounting are here; what differs
//! between middlewares is in [`crate::middleware`] (one file per model, the world generic over
//! it), the idle-polling shortcut in `polling.rs`, the Scheduler, the Cloud workers and
//! their usage in `cloud.rs`.
//!
//! Model rules (defaults; see `scenario` for the parameters, and each middleware's file):
//! - Volunteers follow the trace exactly: a host is online during its availability intervals.
//!   Each host has one cursor into its intervals and at most one pending on/off event, so the
//!   queue holds O(hosts) trace events, never the whole trace.
//! - Cloud workers boot, never fail, run at `speed_factor` × the mean volunteer speed, and
//!   are served according to the strategy's usage mode (Flat, Reschedule, Duplicate).
//! - When a task completes, every other copy of it is cancelled (first result wins).
//! - Ties: at the same instant, host, server and Scheduler events run first, in the order they
//!   were scheduled (at t = 0: host events, then task submissions, then the first tick); then
//!   work requests, in worker order.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spequlos_core::admission::{Admission, Past};
use spequlos_core::metrics::{self, PredictionCheck};
use spequlos_core::usage::{self, Rotation};
use spequlos_core::{BotKey, BotProgress, Ledger, Oracle, OracleKey, QosController, RunMetrics};
use spequlos_traces::Trace;

use crate::engine::Queue;
use crate::fork::place_order;
use crate::middleware::{Boinc, Model, Xwhep};
use crate::scenario::{Middleware, Scenario};
use crate::stream::BotSpec;
use crate::taskset::TaskSet;
use crate::workload::TaskSpec;

pub(crate) const NONE: u32 = u32::MAX;

/// A short list of execution (or host) indices kept inline: a worker holds a few tasks, a
/// task has a few copies, so the list is read where its owner is, without another cache miss.
pub(crate) type Ids = smallvec::SmallVec<[u32; 4]>;

#[derive(Debug, Clone, Copy)]
pub enum Event<E> {
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
    /// One of the middleware model's own events.
    Server(E),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecKind {
    /// From the normal queue.
    Normal,
    /// Reschedule: a Cloud duplicate of a task held by a volunteer.
    Duplicate,
    /// Cloud Duplication: from the Cloud-only queue.
    Copy,
}

#[derive(Debug, Clone)]
pub struct Exec {
    pub(crate) task: u32,
    /// Its task's BoT (read without touching the task).
    pub(crate) bot: u32,
    pub(crate) worker: u32,
    /// Whether `worker` is a Cloud worker (read without touching the worker).
    pub(crate) on_cloud: bool,
    pub(crate) kind: ExecKind,
    pub(crate) remaining: f64,
    /// Start of the current running stretch; NaN while queued or paused.
    pub(crate) since: f64,
    /// Bumped at every start, pause and cancellation; a `Done` event is valid only for the
    /// epoch it was scheduled in.
    pub(crate) epoch: u32,
    /// Bumped each time the slot is given to a new execution: an event that names an
    /// execution for its whole life (a BOINC deadline) is valid for one generation.
    pub(crate) gen: u32,
    pub(crate) alive: bool,
    /// BOINC: was running when its host went off; resumes when the host comes back.
    pub(crate) paused: bool,
    /// Its task completed and it went on running: its result is of no use.
    pub(crate) outdated: bool,
}

impl Exec {
    /// A slot about to be filled.
    fn new_slot() -> Exec {
        Exec {
            task: NONE,
            bot: 0,
            worker: NONE,
            on_cloud: false,
            kind: ExecKind::Normal,
            remaining: 0.0,
            since: f64::NAN,
            epoch: 0,
            gen: 0,
            alive: false,
            paused: false,
            outdated: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Worker {
    /// A Cloud worker's id in its BoT's controller and that BoT; `NONE` for a volunteer.
    pub(crate) cloud_id: u32,
    pub(crate) bot: u32,
    pub(crate) speed: f64,
    pub(crate) cores: u32,
    pub(crate) online: bool,
    /// Bumped whenever pending requests and timeouts must be forgotten (off, on, stop).
    pub(crate) epoch: u32,
    /// Executions held, running or queued, in the order received; `running` counts the
    /// running ones.
    pub(crate) held: Ids,
    pub(crate) running: u32,
    pub(crate) backoff: f64,
    /// Once the back-off reaches its maximum at the failed poll at `anchor`, the next polls are
    /// at `anchor + k * max` for k = 1, 2, ... (`capped` is the k of the next one): one
    /// rounding per poll time, so a parked volunteer's schedule can jump ahead in one step and
    /// still give exactly the times of polling one by one.
    pub(crate) anchor: f64,
    pub(crate) capped: u64,
    pub(crate) request_pending: bool,
    /// Last request got nothing and nothing has arrived since.
    pub(crate) idle: bool,
    pub(crate) came_on: f64,
    /// Trace cursor: index of the next interval (volunteers only).
    pub(crate) cursor: usize,
    pub(crate) stopped: bool,
    /// Parked (idle shortcut): `next_poll` is its next poll on its back-off schedule.
    pub(crate) parked: bool,
    pub(crate) next_poll: f64,
    /// Bumped at every park and unpark: which entry of the parked heap is this worker's.
    pub(crate) park_gen: u32,
    /// Bumped to cancel a designated poll.
    pub(crate) token: u32,
}
impl Worker {
    pub(crate) fn new(cloud_id: u32, bot: u32, speed: f64, cores: u32, came_on: f64) -> Worker {
        Worker {
            cloud_id,
            bot,
            speed,
            cores,
            online: false,
            epoch: 0,
            held: Ids::new(),
            running: 0,
            backoff: 0.0,
            anchor: 0.0,
            capped: 0,
            request_pending: false,
            idle: false,
            came_on,
            cursor: 0,
            stopped: false,
            parked: false,
            next_poll: 0.0,
            park_gen: 0,
            token: 0,
        }
    }

    pub(crate) fn is_cloud(&self) -> bool {
        self.cloud_id != NONE
    }
}

/// What every middleware knows of a task; the model keeps the rest.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) bot: u32,
    pub(crate) ops: f64,
    pub(crate) submit: f64,
    pub(crate) submitted: bool,
    pub(crate) first_assign: f64,
    pub(crate) done_at: f64,
    pub(crate) done_on_cloud: bool,
    /// Live executions.
    pub(crate) execs: Ids,
    pub(crate) has_copy: bool,
    pub(crate) executions: u32,
}

/// One BoT of the run, with its own order, controller and progress: `tasks[first..end]`.
/// Most runs have one; a stream of BoTs shares the grid (`workload::stream`).
#[derive(Debug, Clone)]
pub(crate) struct Bot {
    pub(crate) first: u32,
    pub(crate) end: u32,
    pub(crate) user: String,
    /// Its user among the run's, numbered in order of their first BoT.
    pub(crate) user_ix: u32,
    pub(crate) arrival: f64,
    /// When its user wants it complete (absolute).
    pub(crate) deadline: Option<f64>,
    pub(crate) progress: BotProgress,
    pub(crate) controller: QosController,
    /// The completion points reached, with when: the Oracle's predictions for them are
    /// made at the end, from the same immutable history, so a run forked from another's
    /// prefix under a new strategy gets its own.
    pub(crate) crossings: Vec<(f64, f64)>,
    pub(crate) next_point: usize,
    pub(crate) rotation: Rotation,
    /// Its Cloud workers' indices in `World::workers`, by controller id (`NONE`: an id whose
    /// start a capped Cloud refused).
    pub(crate) cloud: Vec<u32>,
    pub(crate) started: u32,
    pub(crate) first_start: f64,
    /// Its workers a capped Cloud took back for other BoTs (`cloud.preempt`).
    pub(crate) preempted: u32,
    /// Its order's verdict (`cloud.admission`, a deadline order), given at its first turn.
    pub(crate) admission: Option<Admission>,
    pub(crate) judged: bool,
    pub(crate) ops_volunteer: f64,
    pub(crate) ops_cloud: f64,
    pub(crate) running: u32,
    pub(crate) cloud_online: u32,
    pub(crate) revoked: u32,
    /// Its workers bought on the spot market.
    pub(crate) spot: u32,
    pub(crate) finished: bool,
}

impl Bot {
    pub(crate) fn span(&self) -> (u32, u32) {
        (self.first, self.end)
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
    /// Of `events`, the first ones simulated once for this run and its baseline (a run forked
    /// from the baseline's, `fork.rs`); 0 for a run simulated whole.
    pub shared_events: u64,
    /// Simulated time at which the run stopped.
    pub end: f64,
    /// Cloud workers the provider revoked.
    pub revoked: u32,
    /// Cloud workers still running when the run stopped (0 once the Scheduler closed the BoT).
    pub cloud_running_at_end: u32,
}
/// One BoT of a stream: its user, arrival and figures (times from its arrival).
#[derive(Debug, Clone)]
pub struct BotOutcome {
    pub user: String,
    pub arrival: f64,
    pub metrics: RunMetrics,
    pub progress: BotProgress,
    pub revoked: u32,
    /// Its workers a capped Cloud took back for other BoTs.
    pub preempted: u32,
    pub cloud_running_at_end: u32,
    /// Its workers bought on the spot market.
    pub spot: u32,
    /// Seconds after its arrival by which its user wanted it complete.
    pub deadline: Option<f64>,
    /// The verdict on its order (`cloud.admission`).
    pub admission: Option<Admission>,
}

impl BotOutcome {
    /// Whether it completed by its deadline, if it had one.
    pub fn deadline_met(&self) -> Option<bool> {
        self.deadline
            .map(|d| self.metrics.completed() && self.metrics.completion_time <= d)
    }
}

/// Everything a run of a stream of BoTs produces.
#[derive(Debug, Clone)]
pub struct StreamOutput {
    /// In arrival order.
    pub bots: Vec<BotOutcome>,
    /// Every BoT's tasks, in order.
    pub tasks: Vec<TaskRecord>,
    pub ledger: Ledger,
    pub events: u64,
    pub end: f64,
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

/// One run of a BoT on a desktop grid whose server follows model `M`. A clone goes on as an
/// independent run (`fork.rs`).
#[derive(Clone)]
pub struct World<'a, M: Model> {
    /// The middleware model, its state and parameters.
    pub(crate) m: M,
    pub(crate) sc: &'a Scenario,
    pub(crate) trace: &'a Trace,
    pub(crate) offset: i64,
    pub(crate) horizon: f64,
    pub(crate) q: Queue<Event<M::Event>>,
    pub(crate) workers: Vec<Worker>,
    pub(crate) online_volunteers: u32,
    /// Execution slots, live and dead; dead ones are reused (`free`), so the table stays as
    /// large as the executions alive at once, not as all the run's, and stays in cache.
    pub(crate) execs: Vec<Exec>,
    pub(crate) free: Vec<u32>,
    pub(crate) tasks: Vec<Task>,
    /// Tasks the normal queue can serve (XWHEP: waiting; BOINC: with unsent replicas), by
    /// submission order.
    pub(crate) pending: TaskSet,
    /// Cloud Duplication queue.
    pub(crate) cloud_queue: TaskSet,
    /// Submitted tasks not complete, for the Reschedule rotation to visit only them.
    pub(crate) open: TaskSet,
    pub(crate) bots: Vec<Bot>,
    /// One ledger for every user and BoT of the run.
    pub(crate) ledger: Ledger,
    pub(crate) oracle: &'a Oracle,
    pub(crate) oracle_key: OracleKey,
    pub(crate) cloud_speed: f64,
    /// The volunteers' mean speed and the BoT's operations: what the order and the Cloud
    /// workers' speed are priced from (`fork.rs`).
    pub(crate) mean_speed: f64,
    pub(crate) total_ops: f64,
    pub(crate) boot_rng: ChaCha8Rng,
    pub(crate) revoke_rng: ChaCha8Rng,
    pub(crate) jitter_rng: ChaCha8Rng,
    /// The spot price's steps `(second, × on-demand)` over the run (empty: on-demand only).
    pub(crate) prices: Vec<(f64, f64)>,
    pub(crate) running_execs: u32,
    /// Every BoT is closed (or the only one is).
    pub(crate) finished: bool,
    /// The BoTs completed so far: their size and how long they took with what credits (the
    /// history admission control judges from).
    pub(crate) past: Vec<(u32, Past)>,
    /// Parked volunteers, earliest next poll first (`polling.rs`).
    pub(crate) parked: crate::polling::Parked,
    pub(crate) designated: Option<u32>,
    /// Work may have become assignable, or the designated poller was lost: choose again.
    pub(crate) redesignate: bool,
    pub(crate) naive: bool,
    /// Events popped before this run forked from another (`RunOutput::shared_events`).
    pub(crate) shared_events: u64,
}

/// Runs `tasks` on `trace` under the scenario's middleware model; see [`World::new`].
pub fn simulate(
    sc: &Scenario,
    trace: &Trace,
    tasks: &[TaskSpec],
    oracle: &Oracle,
    oracle_key: OracleKey,
) -> RunOutput {
    let bot = [BotSpec::whole(tasks.len())];
    match &sc.middleware {
        Middleware::Boinc(p) => {
            World::<Boinc>::new(sc, p, trace, tasks, &bot, oracle, oracle_key).run()
        }
        Middleware::Xwhep(p) => {
            World::<Xwhep>::new(sc, p, trace, tasks, &bot, oracle, oracle_key).run()
        }
    }
}

/// Runs a stream of BoTs on one grid: `bots` split `tasks` (in order) into BoTs, each with
/// its user's order and a controller under the scenario's strategy.
pub fn simulate_stream(
    sc: &Scenario,
    trace: &Trace,
    tasks: &[TaskSpec],
    bots: &[BotSpec],
    oracle: &Oracle,
    oracle_key: OracleKey,
) -> StreamOutput {
    match &sc.middleware {
        Middleware::Boinc(p) => {
            World::<Boinc>::new(sc, p, trace, tasks, bots, oracle, oracle_key).run_stream()
        }
        Middleware::Xwhep(p) => {
            World::<Xwhep>::new(sc, p, trace, tasks, bots, oracle, oracle_key).run_stream()
        }
    }
}

/// Runs `tasks` on `trace` under `base`, and under each of `runs` (scenarios that
/// [`crate::fork::shares_prefix`] with `base`, each with its Oracle key) from where it
/// leaves `base`'s run; returns `base`'s output and theirs, in order.
pub fn simulate_family(
    base: &Scenario,
    runs: &[(&Scenario, OracleKey)],
    trace: &Trace,
    tasks: &[TaskSpec],
    oracle: &Oracle,
    oracle_key: OracleKey,
) -> (RunOutput, Vec<RunOutput>) {
    fn go<'a, M: Model>(
        w: World<'a, M>,
        runs: &[(&'a Scenario, OracleKey)],
    ) -> (RunOutput, Vec<RunOutput>) {
        let branches = runs
            .iter()
            .map(|(sc, key)| w.branch(sc, key.clone()))
            .collect();
        w.run_branches(branches)
    }
    let bot = [BotSpec::whole(tasks.len())];
    match &base.middleware {
        Middleware::Boinc(p) => go(
            World::<Boinc>::new(base, p, trace, tasks, &bot, oracle, oracle_key),
            runs,
        ),
        Middleware::Xwhep(p) => go(
            World::<Xwhep>::new(base, p, trace, tasks, &bot, oracle, oracle_key),
            runs,
        ),
    }
}

impl<'a, M: Model> World<'a, M> {
    /// Prepares a run of `tasks` (the BoTs `bots`, in order) on `trace` from
    /// `sc.trace.offset`, until every BoT is complete and the Scheduler has closed it, or the
    /// trace ends. Each BoT's order is placed in the ledger here, at its arrival time.
    pub fn new(
        sc: &'a Scenario,
        params: &M::Params,
        trace: &'a Trace,
        tasks: &[TaskSpec],
        bots: &[BotSpec],
        oracle: &'a Oracle,
        oracle_key: OracleKey,
    ) -> Self {
        let offset = sc.trace.offset.round() as i64;
        let horizon = (trace.meta.span - offset).max(0) as f64;
        let speed_of = |h: &spequlos_traces::Host| sc.model.uniform_speed.unwrap_or(h.speed);
        let mean_speed =
            trace.hosts().iter().map(speed_of).sum::<f64>() / trace.host_count().max(1) as f64;
        let total_ops: f64 = tasks.iter().map(|t| t.ops).sum();
        let cloud_speed = sc.cloud.speed_factor * mean_speed;
        let mut ledger = Ledger::default();
        let mut first = 0u32;
        let mut users: Vec<&str> = Vec::new();
        let bots: Vec<Bot> = bots
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let end = first + spec.tasks;
                let ops = tasks[first as usize..end as usize]
                    .iter()
                    .map(|t| t.ops)
                    .sum();
                let key = BotKey::new(format!("bot-{i}"), trace.meta.name.clone());
                let controller = place_order(
                    sc,
                    &mut ledger,
                    key,
                    &spec.user,
                    spec.arrival,
                    mean_speed,
                    ops,
                );
                let user_ix = match users.iter().position(|u| *u == spec.user) {
                    Some(k) => k,
                    None => {
                        users.push(&spec.user);
                        users.len() - 1
                    }
                } as u32;
                let bot = Bot {
                    first,
                    end,
                    user: spec.user.clone(),
                    user_ix,
                    arrival: spec.arrival,
                    deadline: spec.deadline.map(|d| spec.arrival + d),
                    progress: BotProgress::new(spec.tasks),
                    controller,
                    crossings: Vec::new(),
                    next_point: 0,
                    rotation: Rotation::default(),
                    cloud: Vec::new(),
                    started: 0,
                    first_start: f64::NAN,
                    preempted: 0,
                    admission: None,
                    judged: false,
                    ops_volunteer: 0.0,
                    ops_cloud: 0.0,
                    running: 0,
                    cloud_online: 0,
                    revoked: 0,
                    spot: 0,
                    finished: false,
                };
                first = end;
                bot
            })
            .collect();
        assert_eq!(first as usize, tasks.len(), "the BoTs split the tasks");
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
            .map(|h| Worker::new(NONE, NONE, speed_of(h), h.cores.max(1), 0.0))
            .collect();
        let task_vec = bots
            .iter()
            .enumerate()
            .flat_map(|(b, bot)| (bot.first..bot.end).map(move |i| (b as u32, i)))
            .map(|(bot, i)| (bot, &tasks[i as usize]))
            .map(|(bot, t)| Task {
                bot,
                ops: t.ops,
                submit: t.submit,
                submitted: false,
                first_assign: f64::NAN,
                done_at: f64::NAN,
                done_on_cloud: false,
                execs: Ids::new(),
                has_copy: false,
                executions: 0,
            })
            .collect();
        let mut w = World {
            m: M::new(params, tasks.len(), n as usize),
            sc,
            trace,
            offset,
            horizon,
            q: Queue::with_capacity(trace.host_count() * 2 + tasks.len()),
            workers,
            online_volunteers: 0,
            execs: Vec::new(),
            free: Vec::new(),
            tasks: task_vec,
            pending: TaskSet::new(tasks.len()),
            cloud_queue: TaskSet::new(tasks.len()),
            open: TaskSet::new(tasks.len()),
            bots,
            ledger,
            oracle,
            oracle_key,
            cloud_speed,
            mean_speed,
            total_ops,
            boot_rng,
            revoke_rng,
            jitter_rng: root,
            prices: if sc.cloud.market.market == spequlos_core::market::Market::OnDemand {
                Vec::new()
            } else {
                sc.cloud.spot.path(horizon, sc.seed)
            },
            running_execs: 0,
            finished: false,
            past: Vec::new(),
            parked: Default::default(),
            designated: None,
            redesignate: false,
            naive: sc.model.naive_polling,
            shared_events: 0,
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

    /// Runs a one-BoT world to the end and returns the outcome.
    pub fn run(mut self) -> RunOutput {
        self.run_to_end();
        self.finish()
    }

    /// Runs a stream's world to the end and returns every BoT's outcome.
    pub fn run_stream(mut self) -> StreamOutput {
        self.run_to_end();
        self.finish_stream()
    }

    fn run_to_end(&mut self) {
        while let Some((t, ev)) = self.q.pop() {
            if t > self.horizon && !self.finished {
                break;
            }
            self.handle(t, ev);
            if self.finished {
                break;
            }
        }
    }

    pub(crate) fn handle(&mut self, t: f64, ev: Event<M::Event>) {
        self.dispatch(t, ev);
        self.settle(t);
    }

    /// What every event ends with: choose a poller again if work may have appeared.
    pub(crate) fn settle(&mut self, t: f64) {
        if self.redesignate {
            self.redesignate = false;
            self.designate(t);
        }
    }
    fn dispatch(&mut self, t: f64, ev: Event<M::Event>) {
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
            Event::CloudUp { w } => self.cloud_up(w, t),
            Event::Revoke { w } => self.revoke(w, t),
            Event::Submit { task } => self.submit(task, t),
            Event::Tick => self.tick(t),
            Event::Server(e) => M::server_event(self, e, t),
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
            // The authors' simulator starts the whole client a random [0, min(300, len − 1)] s
            // into each ON interval: buffered work resumes late, not only the next request.
            let delay = if self.sc.model.on_jitter {
                let len = (ends[*cursor] - self.offset) as f64 - start;
                self.jitter_rng
                    .random_range(0.0..=(300f64).min((len - 1.0).max(0.0)))
            } else {
                0.0
            };
            self.q.push(start + delay, Event::HostOn(h));
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
        M::host_on(self, h, t);
        if !self.m.backoff_survives_off() {
            self.workers[h as usize].backoff = 0.0;
        }
        self.ask_at(h, t);
    }

    fn host_off(&mut self, h: u32, t: f64) {
        self.online_volunteers -= 1;
        self.unpark(h, t);
        {
            let w = &mut self.workers[h as usize];
            w.online = false;
            w.epoch += 1;
            w.request_pending = false;
            w.cursor += 1;
        }
        let held = self.workers[h as usize].held.clone();
        M::host_off(self, h, held, t);
        self.schedule_next_interval(h);
    }

    // ---------------------------------------------------------------- executions

    /// Books the operations `e` executed since it last started; returns whether it was
    /// running (it no longer is, as far as `running_execs` goes).
    pub(crate) fn account(&mut self, e: u32, t: f64) -> bool {
        let ex = &mut self.execs[e as usize];
        if ex.since.is_nan() {
            return false;
        }
        let w = &self.workers[ex.worker as usize];
        let ops = ((t - ex.since) * w.speed).min(ex.remaining);
        ex.remaining -= ops;
        ex.since = f64::NAN;
        let bot = &mut self.bots[ex.bot as usize];
        if ex.on_cloud {
            bot.ops_cloud += ops;
        } else {
            bot.ops_volunteer += ops;
        }
        bot.running -= 1;
        self.running_execs -= 1;
        true
    }

    /// Starts (or resumes) execution `e` on its worker at `t`.
    pub(crate) fn run_exec(&mut self, e: u32, t: f64) {
        let ex = &mut self.execs[e as usize];
        let w = &mut self.workers[ex.worker as usize];
        ex.since = t;
        ex.epoch += 1;
        w.running += 1;
        self.running_execs += 1;
        self.bots[ex.bot as usize].running += 1;
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
    pub(crate) fn kill_exec(&mut self, e: u32, t: f64) {
        let was_running = self.account(e, t);
        let ex = &mut self.execs[e as usize];
        ex.alive = false;
        ex.epoch += 1;
        let (task, worker) = (ex.task, ex.worker);
        let w = &mut self.workers[worker as usize];
        w.held.retain(|x| *x != e);
        if was_running {
            w.running -= 1;
        }
        self.tasks[task as usize].execs.retain(|x| *x != e);
        self.free.push(e);
    }

    /// Creates an execution of `task` held by worker `w`.
    pub(crate) fn new_exec(&mut self, task: u32, w: u32, kind: ExecKind, t: f64) -> u32 {
        // A reused slot's epoch goes on from the dead execution's, so its stale events stay
        // stale; its generation tells its deadline from the dead one's.
        let (e, epoch, gen) = match self.free.pop() {
            Some(e) => {
                let old = &self.execs[e as usize];
                (e, old.epoch, old.gen + 1)
            }
            None => {
                self.execs.push(Exec::new_slot());
                (self.execs.len() as u32 - 1, 0, 0)
            }
        };
        let bot = self.tasks[task as usize].bot;
        self.execs[e as usize] = Exec {
            task,
            bot,
            worker: w,
            on_cloud: self.workers[w as usize].is_cloud(),
            kind,
            remaining: self.tasks[task as usize].ops,
            since: f64::NAN,
            epoch,
            gen,
            alive: true,
            paused: false,
            outdated: false,
        };
        let tk = &mut self.tasks[task as usize];
        tk.execs.push(e);
        tk.executions += 1;
        if tk.first_assign.is_nan() {
            tk.first_assign = t;
            self.bots[bot as usize].progress.record_assigned(t, 1);
        }
        self.workers[w as usize].held.push(e);
        e
    }

    /// Starts queued executions on free cores, in the order they were received.
    pub(crate) fn fill_cores(&mut self, w: u32, t: f64) {
        if !self.workers[w as usize].online {
            return;
        }
        // Starting one changes neither the list nor its order.
        let mut i = 0;
        loop {
            let wk = &self.workers[w as usize];
            if wk.running >= wk.cores || i >= wk.held.len() {
                break;
            }
            let e = wk.held[i];
            if self.execs[e as usize].since.is_nan() {
                self.run_exec(e, t);
            }
            i += 1;
        }
    }

    fn exec_done(&mut self, e: u32, t: f64) {
        let (task, worker, kind) = {
            let ex = &self.execs[e as usize];
            (ex.task, ex.worker, ex.kind)
        };
        self.kill_exec(e, t);
        let on_cloud = self.workers[worker as usize].is_cloud();
        if self.tasks[task as usize].done_at.is_nan() {
            M::exec_done(self, task, kind, on_cloud, t);
        }
        if !on_cloud {
            // The host reports its result.
            M::contact(self, worker, t);
        }
        self.after_free(worker, t);
    }

    /// A core freed on `w`: start queued work and ask for more when the model says so.
    pub(crate) fn after_free(&mut self, w: u32, t: f64) {
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
        wk.online && self.m.wants_work(wk)
    }

    pub(crate) fn complete_task(&mut self, task: u32, on_cloud: bool, t: f64) {
        let tk = &mut self.tasks[task as usize];
        if !tk.done_at.is_nan() {
            return;
        }
        tk.done_at = t;
        tk.done_on_cloud = on_cloud;
        self.pending.remove(task);
        self.cloud_queue.remove(task);
        self.open.remove(task);
        let open = std::mem::take(&mut self.tasks[task as usize].execs);
        // BOINC's server cannot reach its hosts: what becomes of their replicas is the
        // middleware's rule. Every other copy follows the core's, first result wins.
        let middleware_rule = self.m.keeps_replicas();
        let is_volunteer = |w: &Self, e: u32| !w.execs[e as usize].on_cloud;
        let ours: Vec<u32> = open
            .iter()
            .copied()
            .filter(|&e| middleware_rule.is_none() || !is_volunteer(self, e))
            .collect();
        let cancelled = usage::to_cancel(true, self.sc.qos.losing_copies, ours);
        for e in open {
            let keep = match middleware_rule {
                Some(keep) if is_volunteer(self, e) => keep,
                _ => !cancelled.contains(&e),
            };
            if keep {
                // It goes on, its result of no use.
                self.execs[e as usize].outdated = true;
                self.tasks[task as usize].execs.push(e);
                continue;
            }
            let w = self.execs[e as usize].worker;
            self.kill_exec(e, t);
            self.after_free(w, t);
        }
        let bot = self.tasks[task as usize].bot;
        let b = &mut self.bots[bot as usize];
        b.progress.record_completed(t, 1);
        if b.progress.is_complete() {
            // Refused orders ran without credits.
            let credits = match b.admission {
                Some(a) if !a.admitted() => 0,
                _ => self
                    .ledger
                    .order_of(b.controller.bot())
                    .map_or(0, |o| o.ordered),
            };
            let past = Past {
                completion: t - b.arrival,
                credits,
            };
            self.past.push((b.progress.total(), past));
        }
        self.check_prediction(bot, t);
    }

    // ---------------------------------------------------------------- requests

    pub(crate) fn ask_at(&mut self, w: u32, t: f64) {
        let wk = &mut self.workers[w as usize];
        if wk.request_pending || !wk.online {
            return;
        }
        wk.request_pending = true;
        let (epoch, token) = (wk.epoch, wk.token);
        self.q
            .push_tied(t, w + 1, Event::Request { w, epoch, token });
    }

    fn request(&mut self, w: u32, t: f64) {
        if !self.wants_work(w) {
            return;
        }
        if !self.workers[w as usize].is_cloud() {
            M::contact(self, w, t);
        }
        let want = self.m.request_size(&self.workers[w as usize]);
        let (min, max) = self.m.backoff_bounds();
        let (mut got, mut duplicates) = (0, 0);
        while got < want {
            match self.pick(w, t, duplicates) {
                Some(src) => {
                    got += 1;
                    duplicates += u32::from(src == usage::Source::Rotation);
                }
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

    // ---------------------------------------------------------------- server events

    fn submit(&mut self, task: u32, _t: f64) {
        self.tasks[task as usize].submitted = true;
        self.open.insert(task);
        self.m.submitted(task);
        self.pending.insert(task);
        self.redesignate = true;
    }

    // ---------------------------------------------------------------- results

    /// BoT `b`'s figures, its times counted from its arrival.
    fn bot_metrics(&self, b: &Bot) -> RunMetrics {
        let mut m = metrics::run_metrics(&b.progress, b.arrival, self.sc.ideal_fraction);
        let actual = m.completed().then_some(m.completion_time);
        if !b.controller.strategy().is_none() {
            m.predictions = b
                .crossings
                .iter()
                .filter_map(|&(point, at)| {
                    let elapsed = at - b.arrival;
                    let p = self.oracle.predict(&self.oracle_key, point, elapsed)?;
                    Some(PredictionCheck::new(point, elapsed, p, actual))
                })
                .collect();
        }
        m.ops_executed = b.ops_volunteer + b.ops_cloud;
        m.ops_cloud = b.ops_cloud;
        m.cloud_share = if m.ops_executed > 0.0 {
            b.ops_cloud / m.ops_executed
        } else {
            0.0
        };
        let order = self
            .ledger
            .order_of(b.controller.bot())
            .expect("ordered at start");
        m.credits_ordered = order.ordered;
        m.credits_spent = order.spent;
        // The workers that did start (a capped Cloud may refuse some the controller decided),
        // and the first of them.
        m.workers_started = b.started;
        m.deployed_at = b.first_start - b.arrival;
        m
    }

    fn task_records(&self) -> Vec<TaskRecord> {
        self.tasks
            .iter()
            .map(|t| TaskRecord {
                submit: t.submit,
                first_assign: t.first_assign,
                completion: t.done_at,
                on_cloud: t.done_on_cloud,
                executions: t.executions,
            })
            .collect()
    }

    /// The outcome of a one-BoT world.
    pub(crate) fn finish(mut self) -> RunOutput {
        debug_assert_eq!(self.bots.len(), 1, "a stream ends with finish_stream");
        let metrics = self.bot_metrics(&self.bots[0]);
        let tasks = self.task_records();
        let b = self.bots.swap_remove(0);
        RunOutput {
            metrics,
            progress: b.progress,
            tasks,
            ledger: self.ledger,
            events: self.q.popped(),
            shared_events: self.shared_events,
            end: self.q.now(),
            revoked: b.revoked,
            cloud_running_at_end: b.controller.running().count() as u32,
        }
    }

    fn finish_stream(self) -> StreamOutput {
        let tasks = self.task_records();
        let bots = self
            .bots
            .iter()
            .map(|b| BotOutcome {
                user: b.user.clone(),
                arrival: b.arrival,
                metrics: self.bot_metrics(b),
                progress: b.progress.clone(),
                revoked: b.revoked,
                preempted: b.preempted,
                cloud_running_at_end: b.controller.running().count() as u32,
                spot: b.spot,
                deadline: b.deadline.map(|d| d - b.arrival),
                admission: b.admission,
            })
            .collect();
        StreamOutput {
            bots,
            tasks,
            ledger: self.ledger,
            events: self.q.popped(),
            end: self.q.now(),
        }
    }

    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), crate::tests::Broken> {
        let cloud = self
            .workers
            .iter()
            .filter(|w| w.is_cloud() && !w.stopped)
            .count() as u32;
        if let Some(cap) = self.sc.cloud.cap.filter(|&cap| cloud > cap) {
            return Err(crate::tests::Broken(format!(
                "{cloud} Cloud workers started or running, over the cap of {cap}"
            )));
        }
        for (i, w) in self.workers.iter().enumerate() {
            let running = w
                .held
                .iter()
                .filter(|&&e| !self.execs[e as usize].since.is_nan())
                .count() as u32;
            if running != w.running {
                return Err(crate::tests::Broken(format!(
                    "worker {i}: running {} but {running} execs run",
                    w.running
                )));
            }
            if !w.online && running > 0 {
                return Err(crate::tests::Broken(format!(
                    "worker {i} is offline and runs {running} executions"
                )));
            }
            if let Some(&e) = w
                .held
                .iter()
                .find(|&&e| w.is_cloud() && self.execs[e as usize].bot != w.bot)
            {
                return Err(crate::tests::Broken(format!(
                    "Cloud worker {i} of BoT {} holds a task of BoT {}",
                    w.bot, self.execs[e as usize].bot
                )));
            }
            if running > w.cores {
                return Err(crate::tests::Broken(format!(
                    "worker {i} runs {running} > {} cores",
                    w.cores
                )));
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
