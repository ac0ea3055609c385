//! Runs that share a prefix.
//!
//! A job's baseline and its SpeQuloS runs are the same run until a strategy's controller
//! first decides something: before that no Cloud worker exists, so nothing the strategy,
//! the Cloud or the order sets has been read; the Cloud's random streams (boot times,
//! revocations) are first drawn at a deployment; and the Oracle's predictions are made from
//! the completion points' times at the end (`World::crossings`). So the baseline runs once,
//! every SpeQuloS controller (a `Branch`) is ticked beside its own and with the same
//! observations, and at the first turn where one decides anything the world is cloned, the
//! branch takes the clone's controller, order and Cloud, and the clone runs on alone. Each
//! output is the one its whole run gives (a test in `tests.rs` compares).
//!
//! Only scenarios equal to the baseline's in everything the world reads before a deployment
//! branch (see [`shares_prefix`]); [`crate::run::run_family`] runs the others whole.

use spequlos_core::{BotKey, Ledger, OracleKey, QosController, QosParams};

use crate::middleware::Model;
use crate::scenario::Scenario;
use crate::world::{Event, RunOutput, World};

/// A SpeQuloS run waiting to leave the baseline: its scenario, its Oracle key, and the
/// controller and order it would have had from the start.
#[derive(Debug, Clone)]
pub(crate) struct Branch<'a> {
    pub(crate) sc: &'a Scenario,
    pub(crate) oracle_key: OracleKey,
    pub(crate) controller: QosController,
    pub(crate) ledger: Ledger,
    pub(crate) cloud_speed: f64,
}

impl<'a> Branch<'a> {
    /// The controller and order `sc` starts with on a grid of volunteers of `mean_speed`
    /// for a BoT of `total_ops` operations (the same for a whole run and a branch).
    pub(crate) fn new(
        sc: &'a Scenario,
        oracle_key: OracleKey,
        trace_name: &str,
        mean_speed: f64,
        total_ops: f64,
    ) -> Self {
        let bot = BotKey::new("bot-0", trace_name.to_string());
        let mut ledger = Ledger::default();
        let controller = place_order(sc, &mut ledger, bot, "user", 0.0, mean_speed, total_ops);
        Branch {
            sc,
            oracle_key,
            controller,
            ledger,
            cloud_speed: sc.cloud.speed_factor * mean_speed,
        }
    }
}

/// `user` orders at `at` the credits `sc` gives a BoT of `ops` operations on volunteers of
/// `mean_speed` (the scenario's `cloud.credits`, or its default order), deposited first;
/// returns the BoT's controller.
pub(crate) fn place_order(
    sc: &Scenario,
    ledger: &mut Ledger,
    bot: BotKey,
    user: &str,
    at: f64,
    mean_speed: f64,
    ops: f64,
) -> QosController {
    let credits = sc.cloud.credits.unwrap_or_else(|| {
        let priced_at = sc
            .cloud
            .credit_speed_factor
            .unwrap_or(crate::scenario::DEFAULT_CLOUD_SPEED)
            * mean_speed;
        sc.qos
            .default_order(ops, priced_at, sc.cloud.credit_fraction)
    });
    // Scenarios are validated (credits <= MAX_CREDITS) and the default order is clamped.
    let credits = credits.min(spequlos_core::ledger::MAX_CREDITS);
    ledger
        .deposit(at, user, credits)
        .expect("the scenario's credits fit in a ledger");
    ledger
        .order(at, user, &bot, credits)
        .expect("deposit covers the order");
    QosController::new(sc.strategy, sc.qos.clone(), bot, at)
}

/// Whether a run of `run` is a run of `base` until its controller first decides: the two
/// differ at most in the strategy, the Cloud, the Oracle's parameters and the parameters
/// of the QoS controller (which the branch brings). A parameter not named here is compared,
/// so one the world comes to read is never skipped by mistake.
pub fn shares_prefix(base: &Scenario, run: &Scenario) -> bool {
    let b = &base.qos;
    if base.workload.is_stream() {
        // A branch carries one BoT's controller and order.
        return false;
    }
    if run.cloud.market.market != spequlos_core::market::Market::OnDemand {
        // A branch is ticked without the market's view.
        return false;
    }
    let mut r = run.clone();
    r.strategy = base.strategy;
    r.cloud = base.cloud.clone();
    r.oracle = base.oracle.clone();
    r.qos = QosParams {
        // Read only by the controller and by Cloud workers.
        cost_per_tick: b.cost_per_tick,
        variance_min_completion: b.variance_min_completion,
        kappa: b.kappa,
        rho: b.rho,
        tail_window: b.tail_window,
        min_remaining_hours: b.min_remaining_hours,
        redeploy: b.redeploy,
        cap_at_unfinished: b.cap_at_unfinished,
        reschedule_copies: b.reschedule_copies,
        // The rest (when turns happen, what a result cancels) the world reads from the start.
        ..run.qos.clone()
    };
    r == *base
}

impl<'a, M: Model> World<'a, M> {
    /// The branch of `sc` (which [`shares_prefix`] with this world's scenario).
    pub(crate) fn branch(&self, sc: &'a Scenario, oracle_key: OracleKey) -> Branch<'a> {
        Branch::new(
            sc,
            oracle_key,
            &self.trace.meta.name,
            self.mean_speed,
            self.total_ops,
        )
    }

    /// Runs this world to its end and each branch from the turn it leaves it; returns this
    /// world's output and the branches' in their order.
    pub(crate) fn run_branches(mut self, branches: Vec<Branch<'a>>) -> (RunOutput, Vec<RunOutput>) {
        assert_eq!(self.bots.len(), 1, "only one-BoT runs branch");
        let mut outs: Vec<Option<RunOutput>> = vec![None; branches.len()];
        let mut waiting: Vec<(usize, Branch<'a>)> = branches.into_iter().enumerate().collect();
        while let Some((t, ev)) = self.q.pop() {
            if t > self.horizon && !self.finished {
                break;
            }
            if !matches!(ev, Event::Tick) || waiting.is_empty() {
                self.handle(t, ev);
            } else {
                self.observe(0, t);
                let reports = self.reports(0, &self.bots[0].controller);
                let bot = &mut self.bots[0];
                let own = bot
                    .controller
                    .tick(t, &bot.progress, &reports, &mut self.ledger);
                let mut i = 0;
                while i < waiting.len() {
                    let b = &mut waiting[i].1;
                    let reports = self.reports(0, &b.controller);
                    let progress = &self.bots[0].progress;
                    let decisions = b.controller.tick(t, progress, &reports, &mut b.ledger);
                    // Any decision of either side ends the common part (the baseline's only
                    // one closes the BoT).
                    if decisions.is_empty() && own.is_empty() {
                        i += 1;
                        continue;
                    }
                    let (k, b) = waiting.remove(i);
                    let mut w = self.clone();
                    w.adopt(b);
                    w.carry_out(0, decisions, t);
                    w.settle(t);
                    outs[k] = Some(if w.finished { w.finish() } else { w.run() });
                }
                self.carry_out(0, own, t);
                self.settle(t);
            }
            if self.finished {
                break;
            }
        }
        // Never decided anything: ended with this world.
        for (k, b) in waiting {
            let mut w = self.clone();
            w.adopt(b);
            outs[k] = Some(w.finish());
        }
        let outs = outs
            .into_iter()
            .map(|o| o.expect("every branch ran"))
            .collect();
        (self.finish(), outs)
    }

    fn adopt(&mut self, b: Branch<'a>) {
        self.sc = b.sc;
        self.oracle_key = b.oracle_key;
        self.bots[0].controller = b.controller;
        self.ledger = b.ledger;
        self.cloud_speed = b.cloud_speed;
        self.shared_events = self.q.popped();
    }
}
