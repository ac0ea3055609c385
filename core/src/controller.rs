//! The Scheduler's per-BoT decision procedure, run every tick.
//!
//! One call to [`QosController::tick`] is one Scheduler turn for one BoT, as in the original:
//! 1. a complete BoT stops all its Cloud workers and its order is closed (refund);
//! 2. otherwise, if the BoT has credits, has not been served yet (or redeployment is allowed)
//!    and the trigger fires, workers are started, sized by the strategy; under Cloud
//!    Duplication the incomplete tasks are copied first;
//! 3. every running worker is stopped if it is idle (asked for work and got none) or if its
//!    tick cannot be paid; otherwise it is charged. A worker is charged at the tick it starts.
//!
//! The controller owns the worker ids it hands out; the driver (simulator or live runtime)
//! reports their activity and carries the decisions out.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ledger::{BotKey, Credits, Ledger};
use crate::market::{self, MarketView, Purchase};
use crate::params::QosParams;
use crate::progress::BotProgress;
use crate::strategy::{Sizing, Strategy, Usage};
use crate::trigger;

pub type WorkerId = u32;

/// What a Cloud worker is doing, as the driver sees it at the tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activity {
    /// Started, not yet asking for work.
    Booting,
    /// Holds at least one task.
    Busy,
    /// Asked for work since it ran out, and holds none.
    Idle,
    /// Holds nothing but has not asked for work since it ran out (a BOINC client waits for
    /// the server's request delay): told to ask now, stopped only once it asked in vain.
    Asking,
    /// Computes nothing but holds finished results the server has not been told of yet
    /// (uploading, or uploaded and waiting for the client's next scheduler request). Stopping
    /// it now would lose them: on a real BOINC server such a result stays in progress until
    /// its deadline.
    Owing,
    /// Holds nothing and asked in vain, but the middleware has open copies that no running
    /// worker holds (not sent yet, or held by a worker that died, which come back when their
    /// deadline passes): kept for them, and told to ask again.
    Waiting,
    /// The driver no longer finds it (its machine died, the provider revoked it): what it
    /// held is lost. It is no longer charged and is replaced if the order can pay.
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerReport {
    pub id: WorkerId,
    pub activity: Activity,
}

/// Open copies (of unfinished tasks, neither finished nor cancelled) that no running worker
/// holds are waiting to be sent, or were lost with their worker and come back to a Cloud
/// worker when their deadline passes: as many idle workers as there are such copies are
/// marked [`Activity::Waiting`], so they are kept (and told to ask again) for them. `held[i]`
/// is how many tasks `reports[i]`'s worker holds; nothing is marked when that is unknown for
/// a worker that is neither booting nor lost.
pub fn wait_for_open_copies(reports: &mut [WorkerReport], held: &[Option<u32>], open: u32) {
    let mut holding = 0u32;
    for (r, h) in reports.iter().zip(held) {
        match (r.activity, h) {
            (Activity::Lost, _) | (Activity::Booting, None) => {}
            (_, Some(n)) => holding = holding.saturating_add(*n),
            (_, None) => return,
        }
    }
    let mut orphans = open.saturating_sub(holding);
    for r in reports.iter_mut().filter(|r| r.activity == Activity::Idle) {
        if orphans == 0 {
            break;
        }
        r.activity = Activity::Waiting;
        orphans -= 1;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    BotComplete,
    Idle,
    CreditsExhausted,
    /// The user cancelled the order.
    Cancelled,
    /// The worker was lost (the driver releases what is left of it).
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    /// Copy every incomplete task to the Cloud-only queue (Cloud Duplication).
    DuplicateIncomplete,
    StartWorker {
        id: WorkerId,
        /// Spot or on-demand (`crate::market`); on-demand without a market.
        #[serde(default)]
        purchase: Purchase,
    },
    StopWorker {
        id: WorkerId,
        reason: StopReason,
    },
    /// Make the worker's client contact the server now: report what it has finished and
    /// ask for work (a BOINC client otherwise waits for the server's request delay).
    Report {
        id: WorkerId,
    },
    /// The BoT is complete and its order closed; `refund` credits went back to the user.
    Finished {
        refund: Credits,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QosController {
    strategy: Strategy,
    params: QosParams,
    bot: BotKey,
    submitted_at: f64,
    /// Running workers and the tick they started at.
    running: BTreeMap<WorkerId, f64>,
    next_id: WorkerId,
    deployments: u32,
    first_deployment: Option<f64>,
    finished: bool,
    /// Workers whose start failed, to be started again at the next tick.
    #[serde(default)]
    restarts: u32,
    /// Owing workers the credits could not pay another tick for: told to report, and
    /// stopped at the next tick whatever they say.
    #[serde(default)]
    draining: BTreeSet<WorkerId>,
    /// Running spot workers: their bid, and the thousandths of a credit their ticks cost
    /// that are not billed yet (the ledger counts whole credits).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    spot: BTreeMap<WorkerId, SpotWorker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct SpotWorker {
    bid: f64,
    unbilled_milli: u64,
}

impl QosController {
    pub fn new(strategy: Strategy, params: QosParams, bot: BotKey, submitted_at: f64) -> Self {
        QosController {
            strategy,
            params,
            bot,
            submitted_at,
            running: BTreeMap::new(),
            next_id: 0,
            deployments: 0,
            first_deployment: None,
            finished: false,
            restarts: 0,
            draining: BTreeSet::new(),
            spot: BTreeMap::new(),
        }
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    pub fn params(&self) -> &QosParams {
        &self.params
    }

    pub fn bot(&self) -> &BotKey {
        &self.bot
    }

    pub fn workers_started(&self) -> u32 {
        self.next_id
    }

    pub fn first_deployment(&self) -> Option<f64> {
        self.first_deployment
    }

    pub fn running(&self) -> impl Iterator<Item = WorkerId> + '_ {
        self.running.keys().copied()
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Forgets a worker the driver lost (a revoked instance, a dead machine): it is no
    /// longer charged, and the next tick starts a replacement if the order can pay for one.
    pub fn worker_lost(&mut self, id: WorkerId) {
        self.draining.remove(&id);
        self.spot.remove(&id);
        if self.running.remove(&id).is_some() {
            self.restarts += 1;
        }
    }

    /// The driver could not start worker `id` (a Cloud error) in the turn whose decisions
    /// it carries out on `ledger`. The charge that turn made for it is taken back (it never
    /// ran), it is forgotten, and the next tick starts a replacement if the order can still
    /// pay for one.
    pub fn start_failed(&mut self, id: WorkerId, ledger: &mut Ledger) {
        ledger.withdraw_charge(&self.bot, id);
        self.spot.remove(&id);
        if self.running.remove(&id).is_some() {
            self.restarts += 1;
        }
    }

    /// The user cancels the order at `now`: every running worker is stopped, the order is
    /// closed and what it has left goes back to the user. The charges already made stay (the
    /// worker hours they paid for were begun). A finished controller decides nothing.
    pub fn cancel(&mut self, now: f64, ledger: &mut Ledger) -> Vec<Decision> {
        if self.finished {
            return Vec::new();
        }
        let mut out: Vec<Decision> = std::mem::take(&mut self.running)
            .into_keys()
            .map(|id| Decision::StopWorker {
                id,
                reason: StopReason::Cancelled,
            })
            .collect();
        self.restarts = 0;
        self.draining.clear();
        self.spot.clear();
        let refund = ledger.close(now, &self.bot).unwrap_or(0);
        self.finished = true;
        out.push(Decision::Finished { refund });
        out
    }

    /// Makes the next worker ids start at `next` or above (after a crash, ids already handed
    /// to the Cloud must not be reused).
    pub fn skip_ids_below(&mut self, next: WorkerId) {
        self.next_id = self.next_id.max(next);
    }

    /// One Scheduler turn at `now`. `reports` gives the activity of running workers; a running
    /// worker missing from it counts as booting. Workers are bought on-demand.
    pub fn tick(
        &mut self,
        now: f64,
        p: &BotProgress,
        reports: &[WorkerReport],
        ledger: &mut Ledger,
    ) -> Vec<Decision> {
        self.tick_in(now, p, reports, ledger, None)
    }

    /// [`QosController::tick`] with a Cloud that sells spot workers too: `market` says the
    /// price and the policy, by which each worker started is bought and each spot worker
    /// billed.
    pub fn tick_in(
        &mut self,
        now: f64,
        p: &BotProgress,
        reports: &[WorkerReport],
        ledger: &mut Ledger,
        market: Option<&MarketView>,
    ) -> Vec<Decision> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        if p.is_complete() {
            self.draining.clear();
            self.spot.clear();
            for id in std::mem::take(&mut self.running).into_keys() {
                out.push(Decision::StopWorker {
                    id,
                    reason: StopReason::BotComplete,
                });
            }
            let refund = ledger.close(now, &self.bot).unwrap_or(0);
            self.finished = true;
            out.push(Decision::Finished { refund });
            return out;
        }
        let Strategy::Qos {
            trigger,
            sizing,
            usage,
        } = self.strategy
        else {
            return out;
        };
        let balance = ledger
            .order_of(&self.bot)
            .filter(|o| o.open)
            .map_or(0, |o| o.balance());
        let may_deploy = self.deployments == 0 || (self.params.redeploy && self.running.is_empty());
        if balance > 0 && may_deploy && trigger::fires(trigger, p, &self.params, now) {
            let n = self.size(sizing, balance, p, now);
            if n > 0 {
                if usage == Usage::Duplicate {
                    out.push(Decision::DuplicateIncomplete);
                }
                for _ in 0..n {
                    out.push(self.start(now, market));
                }
                self.deployments += 1;
                self.first_deployment.get_or_insert(now);
            }
        } else if self.restarts > 0 && balance > 0 {
            let n = self
                .restarts
                .min((balance / self.params.cost_per_tick).min(u32::MAX as u64) as u32);
            self.restarts = 0;
            for _ in 0..n {
                out.push(self.start(now, market));
            }
        }
        let activity: BTreeMap<WorkerId, Activity> =
            reports.iter().map(|r| (r.id, r.activity)).collect();
        let ids: Vec<WorkerId> = self.running.keys().copied().collect();
        for id in ids {
            let a = activity.get(&id).copied().unwrap_or(Activity::Booting);
            // When a worker may stop: never while it owes results (it is told to report
            // them), nor while it holds nothing but has not asked for more (it is told to
            // ask); an idle one at once; otherwise when the credits cannot pay its next tick.
            // An owing worker the credits cannot pay for gets one unpaid tick to report:
            // it computes nothing meanwhile.
            if a == Activity::Lost {
                self.worker_lost(id);
                out.push(Decision::StopWorker {
                    id,
                    reason: StopReason::Lost,
                });
                continue;
            }
            let reason = if self.draining.remove(&id) {
                Some(StopReason::CreditsExhausted)
            } else if a == Activity::Idle {
                Some(StopReason::Idle)
            } else if self.bill(now, id, market, ledger).is_err() {
                if a == Activity::Owing {
                    self.draining.insert(id);
                    None
                } else {
                    Some(StopReason::CreditsExhausted)
                }
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    self.running.remove(&id);
                    self.spot.remove(&id);
                    out.push(Decision::StopWorker { id, reason });
                }
                None if matches!(a, Activity::Owing | Activity::Asking | Activity::Waiting) => {
                    out.push(Decision::Report { id })
                }
                None => {}
            }
        }
        out
    }

    /// A new worker, bought as the market view says.
    fn start(&mut self, now: f64, market: Option<&MarketView>) -> Decision {
        let id = self.next_id;
        self.next_id += 1;
        self.running.insert(id, now);
        let purchase = market.map_or(Purchase::OnDemand, |m| market::choose(m, now));
        if let Purchase::Spot { bid } = purchase {
            self.spot.insert(
                id,
                SpotWorker {
                    bid,
                    unbilled_milli: 0,
                },
            );
        }
        Decision::StartWorker { id, purchase }
    }

    /// Charges worker `id`'s tick: on-demand in whole ticks, spot at the price now, in
    /// whole credits once its thousandths add up to one.
    fn bill(
        &mut self,
        now: f64,
        id: WorkerId,
        market: Option<&MarketView>,
        ledger: &mut Ledger,
    ) -> Result<(), crate::ledger::LedgerError> {
        let cost = self.params.cost_per_tick;
        let Some(s) = self.spot.get_mut(&id) else {
            return ledger.charge(now, &self.bot, id, cost);
        };
        let price = market.and_then(MarketView::price);
        let due =
            s.unbilled_milli + market::tick_cost_milli(Purchase::Spot { bid: s.bid }, price, cost);
        let whole = due / 1000;
        if whole > 0 {
            ledger.charge(now, &self.bot, id, whole)?;
        } else if ledger.order_of(&self.bot).is_none_or(|o| !o.open) {
            return Err(crate::ledger::LedgerError::Closed(self.bot.clone()));
        }
        s.unbilled_milli = due % 1000;
        Ok(())
    }

    /// Workers to start with `balance` credits.
    fn size(&self, sizing: Sizing, balance: Credits, p: &BotProgress, now: f64) -> u32 {
        let per_hour = self.params.credits_per_worker_hour();
        let n = match sizing {
            Sizing::Greedy => balance as f64 / per_hour,
            Sizing::Conservative => {
                let elapsed = now - self.submitted_at;
                let r = p.completion();
                let remaining_h = if r > 0.0 {
                    (elapsed / r - elapsed) / 3600.0
                } else {
                    f64::INFINITY
                };
                balance as f64 / (per_hour * remaining_h.max(self.params.min_remaining_hours))
            }
            Sizing::Fixed(n) => n as f64,
        };
        // Never more workers than one tick each can be paid for, nor than tasks left to run:
        // a worker beyond the unfinished tasks (which are also the copies under Duplication)
        // could only idle, paid for one tick. Without that cap, the BoT's size still bounds
        // the count, or a huge order would start millions.
        let tasks = if self.params.cap_at_unfinished {
            p.total().saturating_sub(p.completed())
        } else {
            p.total()
        };
        (n.floor() as u64)
            .min(balance / self.params.cost_per_tick)
            .min(u64::from(tasks))
            .min(u64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(strategy: &str, credits: Credits) -> (QosController, Ledger, BotKey) {
        let bot = BotKey::new("b", "dg");
        let mut l = Ledger::default();
        l.deposit(0.0, "u", credits).unwrap();
        l.order(0.0, "u", &bot, credits).unwrap();
        let c = QosController::new(
            strategy.parse().unwrap(),
            QosParams::default(),
            bot.clone(),
            0.0,
        );
        (c, l, bot)
    }

    fn progress(total: u32, assigned: u32, completed: u32) -> BotProgress {
        let mut p = BotProgress::new(total);
        p.record_assigned(0.0, assigned);
        p.record_completed(100.0, completed);
        p
    }

    #[test]
    fn sizing_stops_at_the_unfinished_tasks_unless_told_otherwise() {
        // Workers 1500 credits (100 one-hour workers) start, and credits spent, at a tick
        // with `completed` of `total` tasks done.
        let start = |cap: bool, total: u32, completed: u32| {
            let (mut c, mut l, bot) = setup("9A-G-D", 1500);
            c.params.cap_at_unfinished = cap;
            let d = c.tick(0.0, &progress(total, total, completed), &[], &mut l);
            let n = d
                .iter()
                .filter(|d| matches!(d, Decision::StartWorker { .. }))
                .count();
            (n, l.order_of(&bot).unwrap().spent)
        };
        assert_eq!(start(true, 20, 13).0, 7, "7 tasks of 20 are left");
        assert_eq!(
            start(false, 20, 13),
            (20, 20),
            "the BoT's size still bounds it"
        );
        assert_eq!(
            start(false, 1000, 930).0,
            100,
            "the authors' simulator: credits / 15"
        );
    }

    #[test]
    fn greedy_duplicate_deploys_once_and_charges_at_start() {
        let (mut c, mut l, bot) = setup("9A-G-D", 150);
        assert!(c.tick(0.0, &progress(20, 5, 0), &[], &mut l).is_empty());
        let d = c.tick(240.0, &progress(20, 18, 2), &[], &mut l);
        assert_eq!(d[0], Decision::DuplicateIncomplete);
        assert_eq!(
            d.iter()
                .filter(|d| matches!(d, Decision::StartWorker { .. }))
                .count(),
            10,
            "150 / 15 per hour"
        );
        assert_eq!(
            l.order_of(&bot).unwrap().spent,
            10,
            "charged at the tick they start"
        );
        // Next tick: no second deployment; one worker idle is stopped, the others charged.
        let reports: Vec<WorkerReport> = (0..10)
            .map(|id| WorkerReport {
                id,
                activity: if id == 3 {
                    Activity::Idle
                } else {
                    Activity::Busy
                },
            })
            .collect();
        let d = c.tick(480.0, &progress(20, 20, 5), &reports, &mut l);
        assert_eq!(
            d,
            vec![Decision::StopWorker {
                id: 3,
                reason: StopReason::Idle
            }]
        );
        assert_eq!(l.order_of(&bot).unwrap().spent, 19);
        // Completion stops everything and refunds the rest.
        let d = c.tick(720.0, &progress(20, 20, 20), &[], &mut l);
        assert_eq!(
            d.iter()
                .filter(|d| matches!(
                    d,
                    Decision::StopWorker {
                        reason: StopReason::BotComplete,
                        ..
                    }
                ))
                .count(),
            9
        );
        assert_eq!(d.last(), Some(&Decision::Finished { refund: 150 - 19 }));
        assert_eq!(l.balance("u"), 131);
        l.verify().unwrap();
        assert!(c.tick(960.0, &progress(20, 20, 20), &[], &mut l).is_empty());
    }

    #[test]
    fn credits_run_out() {
        let (mut c, mut l, _) = setup("9C-F3-F", 7);
        let d = c.tick(0.0, &progress(40, 40, 36), &[], &mut l);
        assert_eq!(d.len(), 3, "three workers, no duplication under Flat");
        let busy: Vec<WorkerReport> = (0..3)
            .map(|id| WorkerReport {
                id,
                activity: Activity::Busy,
            })
            .collect();
        assert!(c
            .tick(240.0, &progress(40, 40, 36), &busy, &mut l)
            .is_empty());
        // 1 credit left: one worker paid, two stopped.
        let d = c.tick(480.0, &progress(40, 40, 36), &busy, &mut l);
        assert_eq!(
            d.iter()
                .filter(|d| matches!(
                    d,
                    Decision::StopWorker {
                        reason: StopReason::CreditsExhausted,
                        ..
                    }
                ))
                .count(),
            2
        );
        assert_eq!(l.order_of(c.bot()).unwrap().balance(), 0);
    }

    #[test]
    fn conservative_sizes_by_predicted_remaining_time() {
        // 3 h elapsed at 50 %: 3 h remain, so 150 credits / (15 × 3) = 3 workers.
        let (mut c, mut l, _) = setup("5C-C-R", 150);
        let d = c.tick(3.0 * 3600.0, &progress(10, 10, 5), &[], &mut l);
        assert_eq!(
            d.iter()
                .filter(|d| matches!(d, Decision::StartWorker { .. }))
                .count(),
            3
        );
    }

    #[test]
    fn a_failed_start_is_retried_at_the_next_tick_with_a_new_id() {
        let (mut c, mut l, bot) = setup("9A-F2-D", 100);
        let d = c.tick(0.0, &progress(10, 10, 5), &[], &mut l);
        assert_eq!(d.len(), 3, "duplicate + 2 starts: {d:?}");
        // Worker 1 did not start: forgotten, and its start charge taken back.
        c.start_failed(1, &mut l);
        assert_eq!(c.running().collect::<Vec<_>>(), vec![0]);
        assert_eq!(l.order_of(&bot).unwrap().spent, 1);
        let d = c.tick(240.0, &progress(10, 10, 5), &[], &mut l);
        assert_eq!(
            d,
            vec![Decision::StartWorker {
                id: 2,
                purchase: Purchase::OnDemand
            }]
        );
        assert_eq!(c.running().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(l.order_of(&bot).unwrap().spent, 1 + 2);
        l.verify().unwrap();
        assert!(c.tick(480.0, &progress(10, 10, 5), &[], &mut l).is_empty());
    }

    #[test]
    fn sizing_never_exceeds_the_tasks_left() {
        for strategy in ["9A-G-F", "9A-G-D", "9A-F50-R", "9A-C-D"] {
            let (mut c, mut l, _) = setup(strategy, 10_000_000);
            let d = c.tick(3600.0, &progress(10, 10, 7), &[], &mut l);
            let starts = d
                .iter()
                .filter(|d| matches!(d, Decision::StartWorker { .. }))
                .count();
            assert_eq!(starts, 3, "{strategy}: 3 tasks left");
        }
    }

    #[test]
    fn baseline_never_acts_until_completion() {
        let (mut c, mut l, _) = setup("none", 100);
        assert!(c.tick(0.0, &progress(10, 10, 9), &[], &mut l).is_empty());
        assert_eq!(
            c.tick(1.0, &progress(10, 10, 10), &[], &mut l),
            vec![Decision::Finished { refund: 100 }]
        );
    }

    #[test]
    fn cancel_stops_every_worker_and_refunds_what_is_left() {
        let (mut c, mut l, bot) = setup("9A-G-F", 150);
        let d = c.tick(240.0, &progress(20, 18, 2), &[], &mut l);
        let started = d
            .iter()
            .filter(|d| matches!(d, Decision::StartWorker { .. }))
            .count();
        assert_eq!(started, 10);
        let d = c.cancel(300.0, &mut l);
        assert_eq!(d.len(), 11);
        assert!(d[..10].iter().all(|d| matches!(
            d,
            Decision::StopWorker {
                reason: StopReason::Cancelled,
                ..
            }
        )));
        assert_eq!(d[10], Decision::Finished { refund: 140 });
        assert_eq!(l.balance("u"), 140);
        assert!(!l.order_of(&bot).unwrap().open);
        assert_eq!(c.running().count(), 0);
        assert!(c.is_finished());
        // Nothing more: a second cancel or a tick decides nothing and moves no credit.
        assert!(c.cancel(301.0, &mut l).is_empty());
        assert!(c.tick(540.0, &progress(20, 20, 20), &[], &mut l).is_empty());
        l.verify().unwrap();
    }

    #[test]
    fn a_worker_that_owes_results_is_told_to_report_and_never_stopped_as_idle() {
        let (mut c, mut l, bot) = setup("9A-F1-F", 3);
        let d = c.tick(0.0, &progress(10, 10, 9), &[], &mut l);
        assert!(d.contains(&Decision::StartWorker {
            id: 0,
            purchase: Purchase::OnDemand
        }));
        assert_eq!(l.order_of(&bot).unwrap().spent, 1);
        let owing = [WorkerReport {
            id: 0,
            activity: Activity::Owing,
        }];
        // Owing: charged as any running worker, and told to report; not stopped.
        let d = c.tick(240.0, &progress(10, 10, 9), &owing, &mut l);
        assert_eq!(d, vec![Decision::Report { id: 0 }]);
        assert_eq!(l.order_of(&bot).unwrap().spent, 2);
        let d = c.tick(480.0, &progress(10, 10, 9), &owing, &mut l);
        assert_eq!(d, vec![Decision::Report { id: 0 }]);
        assert_eq!(l.order_of(&bot).unwrap().spent, 3, "the order is used up");
        // The credits cannot pay another tick: one unpaid tick to report, then stopped
        // whatever it says.
        let d = c.tick(720.0, &progress(10, 10, 9), &owing, &mut l);
        assert_eq!(d, vec![Decision::Report { id: 0 }]);
        assert_eq!(c.running().count(), 1);
        let d = c.tick(960.0, &progress(10, 10, 9), &owing, &mut l);
        assert_eq!(
            d,
            vec![Decision::StopWorker {
                id: 0,
                reason: StopReason::CreditsExhausted
            }]
        );
        assert_eq!(l.order_of(&bot).unwrap().spent, 3, "never overspent");
        l.verify().unwrap();
    }

    #[test]
    fn out_of_credits_a_busy_worker_stops_at_once_as_an_idle_one_does() {
        let (mut c, mut l, _) = setup("9A-F2-F", 2);
        c.tick(0.0, &progress(10, 10, 8), &[], &mut l);
        assert_eq!(c.running().count(), 2);
        let d = c.tick(
            240.0,
            &progress(10, 10, 8),
            &[
                WorkerReport {
                    id: 0,
                    activity: Activity::Busy,
                },
                WorkerReport {
                    id: 1,
                    activity: Activity::Idle,
                },
            ],
            &mut l,
        );
        assert_eq!(
            d,
            vec![
                Decision::StopWorker {
                    id: 0,
                    reason: StopReason::CreditsExhausted
                },
                Decision::StopWorker {
                    id: 1,
                    reason: StopReason::Idle
                },
            ]
        );
    }

    #[test]
    fn a_worker_that_has_not_asked_since_it_ran_out_is_told_to_ask_before_it_stops() {
        let (mut c, mut l, _) = setup("9A-F1-F", 10);
        c.tick(0.0, &progress(10, 10, 9), &[], &mut l);
        let report = |a| [WorkerReport { id: 0, activity: a }];
        assert_eq!(
            c.tick(
                240.0,
                &progress(10, 10, 9),
                &report(Activity::Asking),
                &mut l
            ),
            vec![Decision::Report { id: 0 }]
        );
        assert_eq!(
            c.tick(480.0, &progress(10, 10, 9), &report(Activity::Idle), &mut l),
            vec![Decision::StopWorker {
                id: 0,
                reason: StopReason::Idle
            }]
        );
    }

    #[test]
    fn a_lost_worker_is_released_and_replaced_and_a_waiting_one_is_kept() {
        let (mut c, mut l, bot) = setup("9A-F1-F", 5);
        c.tick(0.0, &progress(10, 10, 9), &[], &mut l);
        let report = |id, a| [WorkerReport { id, activity: a }];
        // Lost: not charged, released, and a replacement starts at the next tick.
        let d = c.tick(
            240.0,
            &progress(10, 10, 9),
            &report(0, Activity::Lost),
            &mut l,
        );
        assert_eq!(
            d,
            vec![Decision::StopWorker {
                id: 0,
                reason: StopReason::Lost
            }]
        );
        assert_eq!(l.order_of(&bot).unwrap().spent, 1);
        let d = c.tick(480.0, &progress(10, 10, 9), &[], &mut l);
        assert_eq!(
            d,
            vec![Decision::StartWorker {
                id: 1,
                purchase: Purchase::OnDemand
            }]
        );
        assert_eq!(l.order_of(&bot).unwrap().spent, 2);
        // Waiting for a copy the dead worker held: kept, charged, told to ask again.
        let d = c.tick(
            720.0,
            &progress(10, 10, 9),
            &report(1, Activity::Waiting),
            &mut l,
        );
        assert_eq!(d, vec![Decision::Report { id: 1 }]);
        assert_eq!(l.order_of(&bot).unwrap().spent, 3);
        // No replacement when the order cannot pay for one.
        let (mut c, mut l, _) = setup("9A-F1-F", 1);
        c.tick(0.0, &progress(10, 10, 9), &[], &mut l);
        c.tick(
            240.0,
            &progress(10, 10, 9),
            &report(0, Activity::Lost),
            &mut l,
        );
        assert!(c.tick(480.0, &progress(10, 10, 9), &[], &mut l).is_empty());
        l.verify().unwrap();
    }

    #[test]
    fn idle_workers_wait_for_open_copies_nobody_holds() {
        let reports = |a: &[Activity]| -> Vec<WorkerReport> {
            a.iter()
                .enumerate()
                .map(|(i, &activity)| WorkerReport {
                    id: i as WorkerId,
                    activity,
                })
                .collect()
        };
        use Activity::*;
        // Two open copies, one held by the busy worker: one idle worker waits for the other.
        let mut r = reports(&[Busy, Idle, Idle]);
        wait_for_open_copies(&mut r, &[Some(1), Some(0), Some(0)], 2);
        assert_eq!(
            r.iter().map(|r| r.activity).collect::<Vec<_>>(),
            [Busy, Waiting, Idle]
        );
        // A lost worker's holdings do not count; a booting one's unknown is fine.
        let mut r = reports(&[Lost, Booting, Idle]);
        wait_for_open_copies(&mut r, &[None, None, Some(0)], 1);
        assert_eq!(r[2].activity, Waiting);
        // Unknown holdings of a running worker: nothing is decided.
        let mut r = reports(&[Busy, Idle]);
        wait_for_open_copies(&mut r, &[None, Some(0)], 5);
        assert_eq!(r[1].activity, Idle);
    }
}
