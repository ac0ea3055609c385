//! The SpeQuloS side of a run: the Scheduler's ticks (observe, let the core decide, carry the
//! decisions out), the Cloud workers it starts and stops, what they compute under the core's
//! usage policy, and the Oracle's predictions checked at completion points.

use rand_distr::{Distribution, Normal};
use spequlos_core::admission;
use spequlos_core::market::{self, MarketView, Purchase};
use spequlos_core::metrics::PREDICTION_POINTS;
use spequlos_core::share::{self, Claim};
use spequlos_core::usage::{self, Source, TaskTable, TaskView};
use spequlos_core::{Activity, Decision, QosController, Sample, Strategy, WorkerReport};

use crate::middleware::Model;
use crate::world::{Event, ExecKind, Worker, World, NONE};

/// One BoT's task table as the core's usage policy sees it, for the Cloud worker `worker`
/// asking (`NONE`: the Scheduler): its tasks `first..end`, numbered from 0 as the core
/// numbers a BoT's tasks.
struct Asking<'w, 'a, M: Model> {
    world: &'w World<'a, M>,
    worker: u32,
    first: u32,
    end: u32,
}

impl<'w, 'a, M: Model> Asking<'w, 'a, M> {
    fn new(world: &'w World<'a, M>, bot: u32, worker: u32) -> Self {
        let (first, end) = world.bots[bot as usize].span();
        Asking {
            world,
            worker,
            first,
            end,
        }
    }
}

impl<M: Model> TaskTable for Asking<'_, '_, M> {
    fn task_count(&self) -> u32 {
        self.end - self.first
    }

    fn open_from(&self, start: u32) -> impl Iterator<Item = u32> + '_ {
        let open = &self.world.open;
        let (first, end) = (self.first, self.end);
        let from = first + start;
        open.range(from, end)
            .chain(open.range(first, from))
            .map(move |task| task - first)
    }

    fn view(&self, local: u32) -> TaskView {
        let wd = self.world;
        let task = self.first + local;
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
    /// the task came from. A Cloud worker computes its own BoT's tasks only.
    pub(crate) fn pick(&mut self, w: u32, t: f64, duplicates: u32) -> Option<Source> {
        let wk = &self.workers[w as usize];
        let (usage, span) = if wk.is_cloud() {
            let bot = &self.bots[wk.bot as usize];
            (bot.controller.strategy().usage(), bot.span())
        } else {
            (None, (0, u32::MAX))
        };
        usage::sources(usage).iter().find_map(|&src| {
            let given = match src {
                Source::CloudQueue => {
                    let task = self.cloud_queue.range(span.0, span.1).next();
                    task.map(|task| {
                        self.cloud_queue.remove(task);
                        self.new_exec(task, w, ExecKind::Copy, t)
                    })
                }
                Source::Queue => M::take_normal(self, w, t, span),
                Source::Rotation if duplicates < usage::DUPLICATES_PER_REQUEST => {
                    self.reschedule(w, t)
                }
                Source::Rotation => None,
            };
            given.map(|_| src)
        })
    }

    /// Reschedule: duplicates on Cloud worker `w` the task its BoT's rotation gives.
    fn reschedule(&mut self, w: u32, t: f64) -> Option<u32> {
        let b = self.workers[w as usize].bot;
        let mut rotation = self.bots[b as usize].rotation;
        let local = rotation.next(&Asking::new(self, b, w), self.sc.qos.reschedule_copies)?;
        let bot = &mut self.bots[b as usize];
        bot.rotation = rotation;
        let task = bot.first + local;
        self.m.duplicated(task, w);
        Some(self.new_exec(task, w, ExecKind::Duplicate, t))
    }

    /// Notes the completion points BoT `b` just reached (see `Bot::crossings`).
    pub(crate) fn check_prediction(&mut self, b: u32, t: f64) {
        let bot = &mut self.bots[b as usize];
        let r = bot.progress.completion();
        while bot.next_point < PREDICTION_POINTS.len() && r >= PREDICTION_POINTS[bot.next_point] {
            bot.crossings.push((PREDICTION_POINTS[bot.next_point], t));
            bot.next_point += 1;
        }
    }

    // ---------------------------------------------------------------- Scheduler

    /// One Scheduler turn: for every BoT arrived and not closed, observe, let its controller
    /// decide, carry the decisions out; then the next turn, unless every BoT is closed.
    pub(crate) fn tick(&mut self, t: f64) {
        let capped = self.sc.cloud.cap.is_some();
        let mut turns = Vec::new();
        for b in 0..self.bots.len() as u32 {
            let bot = &self.bots[b as usize];
            if bot.finished || bot.arrival > t {
                continue;
            }
            if !self.bots[b as usize].judged {
                self.admit(b, t);
            }
            self.observe(b, t);
            let reports = self.reports(b, &self.bots[b as usize].controller);
            let decisions = self.decide(b, &reports, t);
            if capped {
                turns.push((b, decisions));
            } else {
                self.apply(b, decisions, t);
            }
        }
        if let Some(cap) = self.sc.cloud.cap {
            self.share(cap, &mut turns, t);
            for (b, decisions) in turns {
                self.apply(b, decisions, t);
            }
        }
        self.next_turn(t);
    }

    /// BoT `b`'s controller's turn, told the spot market's state when there is one: the
    /// prices so far and the Oracle's estimate of the time left (the pace so far, without
    /// history).
    fn decide(&mut self, b: u32, reports: &[WorkerReport], t: f64) -> Vec<Decision> {
        let bot = &mut self.bots[b as usize];
        if self.prices.is_empty() {
            return bot
                .controller
                .tick(t, &bot.progress, reports, &mut self.ledger);
        }
        let elapsed = t - bot.arrival;
        let r = bot.progress.completion();
        let remaining = self
            .oracle
            .predict(&self.oracle_key, r, elapsed)
            .map(|p| (p.completion - elapsed).max(0.0))
            .or_else(|| market::pace_remaining(r, elapsed));
        let view = MarketView {
            policy: &self.sc.cloud.market,
            prices: &self.prices[..self.prices.partition_point(|&(s, _)| s <= t)],
            remaining,
            deadline: bot.deadline,
        };
        bot.controller
            .tick_in(t, &bot.progress, reports, &mut self.ledger, Some(&view))
    }

    /// Admission control at BoT `b`'s first turn: a deadline order is judged from the BoTs of
    /// similar size (within a factor of 2) completed before; a refused one runs on without
    /// SpeQuloS, its order closed and its credits given back.
    fn admit(&mut self, b: u32, t: f64) {
        let bot = &mut self.bots[b as usize];
        bot.judged = true;
        let Some(deadline) = bot.deadline.filter(|_| self.sc.cloud.admission) else {
            return;
        };
        let runs = self.past.iter().map(|&(n, p)| (Some(n), p));
        let similar = admission::similar(Some(bot.progress.total()), runs);
        let key = bot.controller.bot().clone();
        let credits = self.ledger.order_of(&key).map_or(0, |o| o.ordered);
        let o = &self.sc.oracle;
        let verdict = admission::judge(
            &similar,
            credits,
            deadline - bot.arrival,
            o.target_success,
            o.min_history,
        );
        bot.admission = Some(verdict);
        if !verdict.admitted() {
            bot.controller = QosController::new(
                Strategy::None,
                self.sc.qos.clone(),
                key.clone(),
                bot.arrival,
            );
            // Whatever the ledger says of a closed order is the refund already made.
            let _ = self.ledger.close(t, &key);
        }
    }

    /// A capped Cloud: the workers this turn's controllers decided to start beyond what the
    /// cap leaves are refused as the share policy says (`spequlos_core::share`), and their
    /// controllers told so.
    fn share(&mut self, cap: u32, turns: &mut [(u32, Vec<Decision>)], t: f64) {
        let starts = |d: &[Decision]| {
            d.iter()
                .filter(|d| matches!(d, Decision::StartWorker { .. }))
                .count() as u32
        };
        let claims: Vec<Claim> = turns
            .iter()
            .map(|(b, d)| {
                let bot = &self.bots[*b as usize];
                let wants = starts(d);
                Claim {
                    user: bot.user_ix,
                    arrival: bot.arrival,
                    deadline: bot.deadline,
                    balance: self
                        .ledger
                        .order_of(bot.controller.bot())
                        .map_or(0, |o| o.balance()),
                    // The controller counts this turn's starts, and no longer its stops.
                    running: bot.controller.running().count() as u32 - wants,
                    wants,
                }
            })
            .collect();
        let policy = self.sc.cloud.share;
        let grants: Vec<u32> = if self.sc.cloud.preempt {
            let targets = share::targets(policy, cap, &claims);
            for ((b, decisions), (c, &target)) in turns.iter().zip(claims.iter().zip(&targets)) {
                if c.running > target {
                    self.take_back(*b, c.running - target, decisions, t);
                }
            }
            claims
                .iter()
                .zip(&targets)
                .map(|(c, &target)| target.saturating_sub(c.running).min(c.wants))
                .collect()
        } else {
            let in_use: u32 = claims.iter().map(|c| c.running).sum();
            share::allocate(policy, cap.saturating_sub(in_use), &claims)
        };
        for ((b, decisions), grant) in turns.iter_mut().zip(grants) {
            let controller = &mut self.bots[*b as usize].controller;
            let ledger = &mut self.ledger;
            let mut kept = 0;
            let mut refused = Vec::new();
            decisions.retain(|d| match d {
                Decision::StartWorker { id, .. } if kept >= grant => {
                    controller.start_failed(*id, ledger);
                    refused.push(*id);
                    false
                }
                Decision::StartWorker { .. } => {
                    kept += 1;
                    true
                }
                _ => true,
            });
            // A worker the same turn started and stopped (its first tick unpaid) was never
            // started: nothing to stop or tell.
            decisions.retain(|d| match d {
                Decision::StopWorker { id, .. } | Decision::Report { id } => !refused.contains(id),
                _ => true,
            });
        }
    }

    /// Samples BoT `b`'s progress, as the Scheduler sees it at every turn.
    pub(crate) fn observe(&mut self, b: u32, t: f64) {
        let online = self.online_volunteers;
        let bot = &mut self.bots[b as usize];
        bot.progress.record_sample(Sample {
            t,
            total: bot.progress.total(),
            completed: bot.progress.completed(),
            assigned: bot.progress.assigned(),
            running: bot.running,
            volunteers_online: online,
            cloud_workers: bot.cloud_online,
        });
    }

    /// The activity of the Cloud workers `controller` runs for BoT `b`.
    pub(crate) fn reports(&self, b: u32, controller: &QosController) -> Vec<WorkerReport> {
        let cloud = &self.bots[b as usize].cloud;
        controller
            .running()
            .map(|id| {
                let w = &self.workers[cloud[id as usize] as usize];
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

    /// Carries out one turn's decisions for a one-BoT world and schedules the next turn
    /// unless the BoT is closed.
    pub(crate) fn carry_out(&mut self, b: u32, decisions: Vec<Decision>, t: f64) {
        self.apply(b, decisions, t);
        self.next_turn(t);
    }

    fn next_turn(&mut self, t: f64) {
        self.finished = self.bots.iter().all(|b| b.finished);
        if !self.finished {
            self.q.push(t + self.sc.qos.tick, Event::Tick);
        }
    }

    fn apply(&mut self, b: u32, decisions: Vec<Decision>, t: f64) {
        // Spot starts the price refuses: nothing else of them to carry out.
        let mut refused: Vec<u32> = Vec::new();
        for d in decisions {
            match d {
                Decision::StopWorker { id, .. } | Decision::Report { id }
                    if refused.contains(&id) => {}
                Decision::DuplicateIncomplete => {
                    let first = self.bots[b as usize].first;
                    let copies = usage::copy_set(&Asking::new(self, b, NONE));
                    for local in copies {
                        let task = first + local;
                        self.tasks[task as usize].has_copy = true;
                        self.cloud_queue.insert(task);
                    }
                }
                Decision::StartWorker { id, purchase } => {
                    if !self.start_cloud_worker(b, id, purchase, t) {
                        refused.push(id);
                    }
                }
                Decision::StopWorker { id, .. } => self.stop_cloud_worker(b, id, t),
                // Simulated workers report a result the moment it is computed: never owing.
                Decision::Report { .. } => {}
                Decision::Finished { .. } => self.bots[b as usize].finished = true,
            }
        }
    }

    /// Preemption: stops BoT `b`'s `n` newest workers (not those its turn starts) and tells
    /// its controller they were lost.
    fn take_back(&mut self, b: u32, n: u32, turn: &[Decision], t: f64) {
        let new: Vec<u32> = turn
            .iter()
            .filter_map(|d| match d {
                Decision::StartWorker { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        let mut ids: Vec<u32> = self.bots[b as usize]
            .controller
            .running()
            .filter(|id| !new.contains(id))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        for id in ids.into_iter().take(n as usize) {
            self.stop_cloud_worker(b, id, t);
            let bot = &mut self.bots[b as usize];
            bot.controller.worker_lost(id);
            bot.preempted += 1;
        }
    }

    /// Starts BoT `b`'s worker `id`; false if it is a spot worker bid under the price now (its
    /// controller is told the start failed: uncharged, retried at the next turn).
    fn start_cloud_worker(&mut self, b: u32, id: u32, purchase: Purchase, t: f64) -> bool {
        let mut revoked_at = None;
        if let Purchase::Spot { bid } = purchase {
            let now = self.prices.partition_point(|&(s, _)| s <= t);
            if self.prices[..now].last().is_some_and(|&(_, p)| p > bid) {
                let bot = &mut self.bots[b as usize];
                bot.controller.start_failed(id, &mut self.ledger);
                return false;
            }
            // Taken back at the first later price above the bid.
            revoked_at = self.prices[now..]
                .iter()
                .find(|&&(_, p)| p > bid)
                .map(|&(s, _)| s);
            self.bots[b as usize].spot += 1;
        }
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
        let bot = &mut self.bots[b as usize];
        // Ids the cap refused leave holes.
        if bot.cloud.len() <= id as usize {
            bot.cloud.resize(id as usize + 1, NONE);
        }
        bot.cloud[id as usize] = w;
        bot.started += 1;
        if bot.first_start.is_nan() {
            bot.first_start = t;
        }
        self.workers
            .push(Worker::new(id, b, self.cloud_speed, 1, t));
        self.q.push(t + boot, Event::CloudUp { w });
        if let Some(at) = revoked_at {
            self.q.push(at, Event::Revoke { w });
        }
        true
    }

    pub(crate) fn cloud_up(&mut self, w: u32, t: f64) {
        let wk = &mut self.workers[w as usize];
        if !wk.stopped {
            wk.online = true;
            wk.came_on = t;
            self.bots[wk.bot as usize].cloud_online += 1;
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
        let wk = &self.workers[w as usize];
        if !wk.stopped {
            let (id, b) = (wk.cloud_id, wk.bot);
            self.stop_cloud_worker(b, id, t);
            let bot = &mut self.bots[b as usize];
            bot.controller.worker_lost(id);
            bot.revoked += 1;
        }
    }

    fn stop_cloud_worker(&mut self, b: u32, id: u32, t: f64) {
        let w = self.bots[b as usize].cloud[id as usize];
        let wk = &mut self.workers[w as usize];
        if wk.online {
            self.bots[b as usize].cloud_online -= 1;
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
