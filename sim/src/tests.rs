//! Hand-computed golden cases and model invariants.

use proptest::prelude::*;
use spequlos_core::{Oracle, Strategy};
use spequlos_traces::{Host, SourceFormat, Trace, TraceBuilder, TraceMeta};

use crate::middleware::{Boinc, Model, Xwhep};
use crate::run::{run_one, run_pair};
use crate::scenario::{BoincParams, DoneReplicas, Middleware, Scenario, XwhepParams};
use crate::workload::{TaskSpec, WorkloadSpec};
use crate::world::World;

/// A broken invariant of the world, as `World::check_invariants` found it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Broken(pub String);

/// A trace of one-core hosts given as (speed, intervals); shared by the crate's tests.
pub(crate) fn trace(hosts: &[(f64, &[(i64, i64)])], span: i64) -> Trace {
    let mut b = TraceBuilder::new("test");
    for (i, (speed, ivs)) in hosts.iter().enumerate() {
        let h = b.add_host(Host {
            id: i as u64,
            name: format!("h{i}"),
            speed: *speed,
            cores: 1,
        });
        for &(s, e) in ivs.iter() {
            b.push(h, s, e);
        }
    }
    let meta = TraceMeta {
        name: "test".into(),
        source: SourceFormat::Generated,
        origin: None,
        span,
    };
    b.finish(meta, false).unwrap().0
}

fn scenario(middleware: Middleware, count: u32, ops: f64) -> Scenario {
    Scenario {
        middleware,
        workload: WorkloadSpec::Uniform { count, ops },
        strategy: Strategy::None,
        ..Scenario::default()
    }
}

fn boinc(target: u32, quorum: u32) -> Middleware {
    Middleware::Boinc(BoincParams {
        target_nresults: target,
        min_quorum: quorum,
        ..BoincParams::default()
    })
}

fn xwhep() -> Middleware {
    Middleware::Xwhep(XwhepParams::default())
}

fn completion(sc: &Scenario, t: &Trace) -> f64 {
    let tasks = crate::run::tasks(sc).unwrap();
    run_one(sc, t, &tasks, &Oracle::default(), sc.strategy)
        .metrics
        .completion_time
}

#[test]
fn two_always_on_hosts_four_equal_tasks() {
    let t = trace(
        &[(1000.0, &[(0, 100_000)]), (1000.0, &[(0, 100_000)])],
        100_000,
    );
    // XWHEP: two tasks at a time, 3.6 s each.
    assert_eq!(completion(&scenario(xwhep(), 4, 3600.0), &t), 7.2);
    // BOINC, one replica: host 0 buffers tasks 0-2, host 1 task 3; host 0 ends at 3 × 3.6 s.
    assert_eq!(completion(&scenario(boinc(1, 1), 4, 3600.0), &t), 10.8);
    // BOINC, 3 replicas / quorum 2: each host runs one replica of every workunit (never two of
    // one), so both hosts run four tasks: 4 × 3.6 s.
    assert_eq!(completion(&scenario(boinc(3, 2), 4, 3600.0), &t), 14.4);
}

#[test]
fn xwhep_restarts_and_boinc_resumes_after_an_outage() {
    // One host, off from 100 to 200 s; one task of 300 s.
    let t = trace(&[(1.0, &[(0, 100), (200, 10_000)])], 10_000);
    // XWHEP: the 100 s done are lost; back on at 200, the server re-queues the task at once and
    // the worker takes it again: 200 + 300.
    assert_eq!(completion(&scenario(xwhep(), 1, 300.0), &t), 500.0);
    // BOINC: the client resumes its checkpoint: 200 + 200.
    assert_eq!(completion(&scenario(boinc(1, 1), 1, 300.0), &t), 400.0);
}

#[test]
fn original_fidelity_options() {
    let t = trace(&[(1.0, &[(0, 10_000)])], 10_000);
    let mut sc = scenario(xwhep(), 1, 300.0);
    sc.model.uniform_speed = Some(2.0);
    assert_eq!(
        completion(&sc, &t),
        150.0,
        "every volunteer at the uniform speed"
    );
    // ON jitter delays the first request by at most min(300, interval length - 1) s.
    sc.model.on_jitter = true;
    let c = completion(&sc, &t);
    assert!((150.0..=450.0).contains(&c), "{c}");
    assert_eq!(c, completion(&sc, &t), "jitter comes from the run seed");
}

#[test]
fn replicas_of_a_validated_workunit_are_aborted_run_or_cancelled_as_configured() {
    // Two replicas per workunit, the first result validates. Fast host A (on for 8 s) and
    // slow host B (10× slower) each buffer a replica of the three workunits at t = 0. A
    // validates WU0 at 3.6 s and WU1 at 7.2 s, then leaves; only B can finish WU2.
    let t = trace(&[(1000.0, &[(0, 8)]), (100.0, &[(0, 100_000)])], 100_000);
    let with = |done_replicas| {
        let mw = Middleware::Boinc(BoincParams {
            target_nresults: 2,
            min_quorum: 1,
            done_replicas,
            ..BoincParams::default()
        });
        completion(&scenario(mw, 3, 3600.0), &t)
    };
    // Cancelled at once: B drops WU0 at 3.6 s and WU1 at 7.2 s, runs WU2 from 7.2 s: 36 s.
    assert!((with(DoneReplicas::Cancel) - 43.2).abs() < 1e-9);
    // Real BOINC: B's started WU0 replica runs to 36 s; reporting it, B is told to abort the
    // unstarted WU1 replica, and runs WU2 from 36 s.
    assert!((with(DoneReplicas::AbortUnstarted) - 72.0).abs() < 1e-9);
    // The authors' simulator: B computes all three, 36 s each.
    assert!((with(DoneReplicas::Run) - 108.0).abs() < 1e-9);
}

#[test]
fn xwhep_timeout_requeues_to_another_worker() {
    // Host 0 takes the task at 0 and leaves at 100 for good; its last keep-alive was at 60, so
    // the server re-queues at 960. Host 1 comes on at 500 and has been polling with back-off:
    // asks at 500 (nothing), 560, 680, 920, 1220: it gets the task at 1220, done at 1520.
    let t = trace(&[(1.0, &[(0, 100)]), (1.0, &[(500, 10_000)])], 10_000);
    assert_eq!(completion(&scenario(xwhep(), 1, 300.0), &t), 1520.0);
}

#[test]
fn on_jitter_starts_the_whole_client_late_buffered_work_included() {
    // One BOINC host, on [0, 10) and from 100; one 20 s task. Without jitter it runs 10 s,
    // resumes at 100 and ends at 110. The original starts the client d1 ≤ 9 s into the first
    // interval and d2 ≤ 300 s into the second, the checkpointed task too: 110 + d1 + d2.
    // Starting only the requests late would end by 119 (the task resumes at 100).
    let t = trace(&[(1000.0, &[(0, 10), (100, 100_000)])], 100_000);
    let mut sc = scenario(boinc(1, 1), 1, 20_000.0);
    assert_eq!(completion(&sc, &t), 110.0);
    sc.model.on_jitter = true;
    let late = completion(&sc, &t);
    assert!(late > 119.0 && late <= 110.0 + 9.0 + 300.0, "{late}");
}

#[test]
fn boinc_deadline_reissues_a_replica() {
    // Host 0 takes the only replica at 0 and leaves; host 1 can only get it after the
    // 86400 s deadline, at its next poll (every 300 s once backed off).
    let t = trace(&[(1.0, &[(0, 10)]), (1.0, &[(0, 200_000)])], 200_000);
    let c = completion(&scenario(boinc(1, 1), 1, 300.0), &t);
    assert!(c > 86_400.0 + 300.0 && c <= 86_400.0 + 300.0 + 300.0, "{c}");
}

#[test]
fn cloud_duplication_finishes_the_straggler() {
    // Ten 1000 s tasks; host 9 is slow (0.01 ops/s): its task would take ~28 h. 9C deploys
    // Cloud workers at the tick after 90 % completion; they copy the straggler and finish it.
    let mut hosts: Vec<(f64, &[(i64, i64)])> = vec![(1.0, &[(0, 1_000_000)]); 9];
    hosts.push((0.01, &[(0, 1_000_000)]));
    let t = trace(&hosts, 1_000_000);
    let mut sc = scenario(xwhep(), 10, 1000.0);
    sc.strategy = "9C-G-D".parse().unwrap();
    sc.cloud.credits = Some(30);
    let out = run_pair(&sc, &t, &Oracle::default()).unwrap();
    assert_eq!(out.baseline.metrics.completion_time, 100_000.0);
    let s = out.speq.unwrap();
    // Tick at 1200 sees 9/10; a worker boots in [75, 300] s and runs at 3 × mean speed.
    assert!(
        s.metrics.completion_time < 1200.0 + 300.0 + 1000.0 / (3.0 * 0.901) + 1.0,
        "{:?}",
        s.metrics
    );
    assert!(s.metrics.workers_started >= 1 && s.metrics.credits_spent >= 1);
    let pair = out.pair.unwrap();
    assert!(pair.tre > 0.9 && pair.speedup > 10.0, "{pair:?}");
    assert!(s.tasks.iter().filter(|t| t.on_cloud).count() == 1);
    s.ledger.verify().unwrap();
}

#[test]
fn the_default_order_is_priced_at_one_cloud_speed_whatever_the_cloud_runs_at() {
    let hosts: Vec<(f64, &[(i64, i64)])> = vec![(1000.0, &[(0, 1_000_000)]); 10];
    let t = trace(&hosts, 1_000_000);
    let ordered = |speed: f64, priced_at: Option<f64>| {
        let mut sc = scenario(xwhep(), 100, 3.6e6);
        sc.strategy = "9C-G-D".parse().unwrap();
        sc.cloud.speed_factor = speed;
        sc.cloud.credit_speed_factor = priced_at;
        let tasks = crate::run::tasks(&sc).unwrap();
        run_one(&sc, &t, &tasks, &Oracle::default(), sc.strategy)
            .metrics
            .credits_ordered
    };
    // 10 % of 100 h of work at 3 × 1000 ops/s: 3.33 worker-hours, 15 credits each.
    assert_eq!(ordered(3.0, None), 50);
    assert_eq!(
        ordered(1.0, None),
        50,
        "a slower Cloud does not get a bigger budget"
    );
    assert_eq!(ordered(5.0, None), 50);
    assert_eq!(ordered(5.0, Some(1.0)), 150, "priced at speed 1 when asked");
}

#[test]
fn revoked_cloud_workers_are_not_charged_and_are_replaced_while_the_order_pays() {
    let mut hosts: Vec<(f64, &[(i64, i64)])> = vec![(1.0, &[(0, 1_000_000)]); 9];
    hosts.push((0.01, &[(0, 1_000_000)]));
    let t = trace(&hosts, 1_000_000);
    let mut sc = scenario(xwhep(), 10, 1000.0);
    sc.strategy = "9C-F5-D".parse().unwrap();
    sc.cloud.credits = Some(100);
    // Workers live about 36 s: far too short for a 370 s task.
    sc.cloud.revocation_mean_hours = Some(0.01);
    let out = run_pair(&sc, &t, &Oracle::default()).unwrap();
    let s = out.speq.unwrap();
    // F5 asks for five, but one task is left: sizing starts one; each revoked worker is
    // replaced at the next tick until the credits run out.
    assert!(s.revoked > 1, "replacements were revoked too");
    assert_eq!(
        s.metrics.workers_started,
        s.revoked + s.cloud_running_at_end
    );
    assert!(
        s.metrics.credits_spent >= u64::from(s.metrics.workers_started),
        "each charged at least its start tick"
    );
    assert!(s.metrics.credits_spent <= 100);
    assert_eq!(
        s.metrics.completion_time, out.baseline.metrics.completion_time,
        "no Cloud help"
    );
    s.ledger.verify().unwrap();
}

fn random_trace(seed: u64, hosts: usize) -> Trace {
    let cfg = spequlos_traces::presets::get("seti-simple").unwrap();
    spequlos_traces::gen::generate_quiet(&cfg, hosts, 20 * 86400, seed).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random small scenarios: invariants at every step, and conservation at the end.
    #[test]
    fn invariants_hold(seed in 0u64..1000, hosts in 5usize..40, count in 1u32..60, mw in 0usize..2,
                       strategy in prop::sample::select(vec!["none", "9A-G-D", "9C-G-F", "9A-C-R", "D-G-D", "T-F3-R", "9C-F2-D"])) {
        let t = random_trace(seed, hosts);
        let mut sc = scenario(if mw == 0 { xwhep() } else { boinc(3, 2) }, count, 3.6e5 + seed as f64);
        sc.strategy = strategy.parse().unwrap();
        sc.seed = seed;
        sc.trace.offset = (seed % 5) as f64 * 86400.0;
        sc.model.on_jitter = seed % 2 == 0;
        if seed % 3 == 0 {
            sc.cloud.revocation_mean_hours = Some(0.05);
        }
        // The default order of so small a BoT rarely pays for a tick: give Cloud workers work.
        if seed % 4 != 0 {
            sc.cloud.credits = Some(60 + seed % 200);
        }
        let tasks: Vec<TaskSpec> = crate::run::tasks(&sc).unwrap();
        let oracle = Oracle::default();
        fn stepped<M: Model>(sc: &Scenario, p: &M::Params, t: &Trace, tasks: &[TaskSpec], oracle: &Oracle) -> Result<(), Broken> {
            let bot = [crate::stream::BotSpec::whole(tasks.len())];
            let mut w = World::<M>::new(sc, p, t, tasks, &bot, oracle, crate::run::oracle_key(sc, sc.strategy));
            while w.step() {
                w.check_invariants()?;
            }
            Ok(())
        }
        match &sc.middleware {
            Middleware::Boinc(p) => stepped::<Boinc>(&sc, p, &t, &tasks, &oracle),
            Middleware::Xwhep(p) => stepped::<Xwhep>(&sc, p, &t, &tasks, &oracle),
        }
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let out = run_one(&sc, &t, &tasks, &oracle, sc.strategy);
        let m = &out.metrics;
        // Every task completes at most once, and completions are counted once.
        prop_assert!(out.progress.completed() <= count);
        let done = out.tasks.iter().filter(|x| !x.completion.is_nan()).count() as u32;
        prop_assert_eq!(done, out.progress.completed());
        if m.completed() {
            prop_assert_eq!(done, count);
            // Work conservation: at least one full execution of every task was performed.
            prop_assert!(m.ops_executed + 1e-6 >= tasks.iter().map(|t| t.ops).sum::<f64>());
        }
        // Credits never negative, the ledger balances, spending within the order.
        out.ledger.verify().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(m.credits_spent <= m.credits_ordered);
        // A finished run stops every Cloud worker.
        if m.completed() {
            prop_assert_eq!(out.cloud_running_at_end, 0);let last = out.progress.samples().last().unwrap();
            prop_assert!(out.ledger.orders().all(|(_, o)| !o.open), "order closed at the end: {:?}", last);
        }
    }
}

/// Everything a run reports, as text (NaN-safe equality).
fn fingerprint(out: &crate::world::RunOutput) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        out.metrics,
        out.tasks,
        out.progress.samples(),
        out.ledger.entries()
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The idle-polling shortcut changes the event count, never the results.
    #[test]
    fn polling_shortcut_is_exact(seed in 0u64..10_000, hosts in 5usize..60, count in 1u32..120, mw in 0usize..2,
                                 cores in 1u32..3, jitter: bool, peer: bool,
                                 strategy in prop::sample::select(vec!["none", "9A-G-D", "9C-G-F", "9A-C-R", "D-G-D", "9C-F2-R"])) {
        let mut t = random_trace(seed, hosts);
        if cores > 1 {
            // Multi-core hosts exercise partial requests.
            let mut b = TraceBuilder::new("mc");
            for h in 0..t.host_count() {
                let mut host = t.hosts()[h].clone();
                host.cores = 1 + (h as u32 % cores);
                let i = b.add_host(host);
                for (s, e) in t.iter_intervals(h) {
                    b.push(i, s, e);
                }
            }
            t = b.finish(t.meta.clone(), false).unwrap().0;
        }
        let mut sc = scenario(if mw == 0 { xwhep() } else { boinc(3, 2) }, count, 2.0e5 + (seed % 7) as f64 * 1.0e5);
        sc.strategy = strategy.parse().unwrap();
        sc.seed = seed;
        sc.model.on_jitter = jitter;
        sc.trace.offset = (seed % 4) as f64 * 43200.0;
        if peer {
            // The authors' simulator's options, the back-off surviving off spells among them.
            match &mut sc.middleware {
                Middleware::Boinc(p) => p.backoff_survives_off = true,
                Middleware::Xwhep(p) => p.backoff_survives_off = true,
            }
            sc.qos.cap_at_unfinished = false;
            sc.qos.reschedule_copies = spequlos_core::usage::RescheduleCopies::PerVolunteerCopy;
            sc.qos.losing_copies = spequlos_core::usage::LosingCopies::Run;
        }
        let tasks = crate::run::tasks(&sc).unwrap();
        let oracle = Oracle::default();
        let fast = run_one(&sc, &t, &tasks, &oracle, sc.strategy);
        sc.model.naive_polling = true;
        let naive = run_one(&sc, &t, &tasks, &oracle, sc.strategy);
        prop_assert_eq!(fingerprint(&fast), fingerprint(&naive));
        prop_assert!(fast.events <= naive.events);
    }
}

#[test]
fn polling_shortcut_is_exact_on_the_default_scenario() {
    for mw in ["boinc", "xwhep"] {
        let mut sc = Scenario {
            middleware: Middleware::by_name(mw).unwrap(),
            ..Scenario::default()
        };
        sc.trace.hosts = 500;
        let t = crate::run::load_trace(&sc.trace).unwrap();
        let tasks = crate::run::tasks(&sc).unwrap();
        let oracle = Oracle::default();
        for strategy in ["none", "9A-G-D", "9C-G-R"] {
            sc.strategy = strategy.parse().unwrap();
            sc.model.naive_polling = false;
            let fast = run_one(&sc, &t, &tasks, &oracle, sc.strategy);
            sc.model.naive_polling = true;
            let naive = run_one(&sc, &t, &tasks, &oracle, sc.strategy);
            assert_eq!(fingerprint(&fast), fingerprint(&naive), "{mw} {strategy}");
            assert!(
                fast.events < naive.events,
                "{mw} {strategy}: {} vs {} events",
                fast.events,
                naive.events
            );
        }
    }
}

/// Every strategy family and usage, the fixed and tail-rate ones among them.
const FORK_STRATEGIES: [&str; 21] = [
    "9C-G-F", "9C-G-R", "9C-G-D", "9C-C-F", "9C-C-R", "9C-C-D", "9A-G-F", "9A-G-R", "9A-G-D",
    "9A-C-F", "9A-C-R", "9A-C-D", "D-G-F", "D-G-R", "D-G-D", "D-C-F", "D-C-R", "D-C-D", "T-F3-R",
    "9C-F2-D", "none",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, ..ProptestConfig::default() })]

    /// A run forked from the baseline's prefix is the run simulated whole, to the last event
    /// and prediction, whatever each run's Cloud, order and controller parameters.
    #[test]
    fn forked_runs_equal_whole_runs(seed in 0u64..10_000, hosts in 5usize..40, count in 1u32..80,
                                    mw in 0usize..2, jitter: bool, revoke: bool, history: bool) {
        let t = random_trace(seed, hosts);
        let mut sc = scenario(if mw == 0 { xwhep() } else { boinc(3, 2) }, count, 2.0e5 + (seed % 5) as f64 * 1.0e5);
        sc.seed = seed;
        sc.model.on_jitter = jitter;
        sc.trace.offset = (seed % 3) as f64 * 43200.0;
        let runs: Vec<Scenario> = FORK_STRATEGIES
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut r = sc.clone();
                r.strategy = s.parse().unwrap();
                r.cloud.speed_factor = 1.0 + (i % 3) as f64;
                if i % 4 == 1 {
                    r.cloud.credits = Some(30 + 7 * i as u64);
                }
                if revoke && i % 2 == 0 {
                    r.cloud.revocation_mean_hours = Some(0.05);
                }
                r.qos.redeploy = i % 5 == 2;
                r.qos.kappa = 1.0 + (i % 4) as f64;
                r
            })
            .collect();
        let tasks = crate::run::tasks(&sc).unwrap();
        let mut oracle = Oracle::default();
        if history {
            // Predictions to check: one earlier BoT learnt per strategy.
            for r in &runs {
                crate::run::learn_history(r, &t, &tasks, &mut oracle, 1, 86400.0).unwrap();
            }
        }
        let refs: Vec<&Scenario> = runs.iter().collect();
        let (baseline, outs) = crate::run::run_family(&sc, &t, &tasks, &oracle, &refs);
        let unshared = |o: &crate::world::RunOutput| format!("{:?}", crate::world::RunOutput { shared_events: 0, ..o.clone() });
        for (r, out) in runs.iter().zip(&outs) {
            // A strategy with history predicts at every point a complete run passes.
            let known = !oracle.history(&crate::run::oracle_key(r, r.strategy)).is_empty();
            let predicts = known && !r.strategy.is_none() && out.metrics.completed();
            prop_assert!(!predicts || !out.metrics.predictions.is_empty(), "{}", r.strategy);
        }
        let whole = run_one(&sc, &t, &tasks, &oracle, Strategy::None);
        prop_assert_eq!(format!("{baseline:?}"), format!("{whole:?}"));
        for (r, out) in runs.iter().zip(&outs) {
            prop_assert!(crate::fork::shares_prefix(&sc, r));
            let whole = run_one(r, &t, &tasks, &oracle, r.strategy);
            prop_assert_eq!(unshared(out), format!("{whole:?}"), "{}", r.strategy);
            prop_assert!(out.shared_events <= out.events);
        }
    }
}

#[test]
fn only_runs_that_share_the_prefix_are_forked() {
    let base = scenario(boinc(3, 2), 40, 3.0e5);
    let with = |f: &dyn Fn(&mut Scenario)| {
        let mut r = base.clone();
        r.strategy = "9C-G-D".parse().unwrap();
        f(&mut r);
        r
    };
    let shared = [
        with(&|_| {}),
        with(&|r| r.cloud.speed_factor = 3.0),
        with(&|r| r.cloud.credits = Some(99)),
        with(&|r| r.qos.kappa = 4.0),
        with(&|r| r.qos.cost_per_tick = 3),
        with(&|r| r.oracle.target_success = 0.5),
    ];
    let apart = [
        with(&|r| r.qos.tick = 120.0),
        with(&|r| r.qos.losing_copies = spequlos_core::usage::LosingCopies::Run),
        with(&|r| r.seed = 2),
        with(&|r| r.trace.offset = 3600.0),
        with(&|r| r.model.on_jitter = !r.model.on_jitter),
        with(&|r| r.middleware = boinc(2, 2)),
        with(&|r| {
            r.workload = WorkloadSpec::Uniform {
                count: 41,
                ops: 3.0e5,
            }
        }),
    ];
    for r in &shared {
        assert!(crate::fork::shares_prefix(&base, r), "{r:?}");
    }
    for r in &apart {
        assert!(!crate::fork::shares_prefix(&base, r), "{r:?}");
    }
    // A family mixing both still gives every run its whole run's output.
    let t = random_trace(7, 30);
    let tasks = crate::run::tasks(&base).unwrap();
    let oracle = Oracle::default();
    let all: Vec<&Scenario> = shared.iter().chain(&apart[..2]).collect();
    let (_, outs) = crate::run::run_family(&base, &t, &tasks, &oracle, &all);
    for (i, (r, out)) in all.iter().zip(&outs).enumerate() {
        let whole = run_one(r, &t, &tasks, &oracle, r.strategy);
        let unshared = crate::world::RunOutput {
            shared_events: 0,
            ..out.clone()
        };
        assert_eq!(format!("{unshared:?}"), format!("{whole:?}"));
        // The first six fork, the last two run whole.
        assert_eq!(out.shared_events > 0, i < shared.len(), "run {i}");
    }
}

/// A stream of `sizes` BoTs (arrival, tasks) from users `u0`, `u1`, ... in turn.
fn stream_of(sizes: &[(f64, u32)], users: usize) -> Vec<crate::stream::BotSpec> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &(arrival, tasks))| crate::stream::BotSpec {
            user: format!("u{}", i % users),
            arrival,
            tasks,
            deadline: (i % 2 == 1).then_some(20_000.0 * (1 + i % 3) as f64),
        })
        .collect()
}

fn stream_tasks(bots: &[crate::stream::BotSpec], ops: f64) -> Vec<TaskSpec> {
    bots.iter()
        .flat_map(|b| {
            std::iter::repeat_n(
                TaskSpec {
                    submit: b.arrival,
                    ops,
                },
                b.tasks as usize,
            )
        })
        .collect()
}

#[test]
fn a_stream_of_one_bot_is_the_plain_run() {
    for mw in [xwhep(), boinc(3, 2)] {
        for strategy in ["none", "9A-G-D", "9C-C-R", "D-G-F"] {
            let t = random_trace(11, 40);
            let mut sc = scenario(mw.clone(), 60, 4.0e5);
            sc.strategy = strategy.parse().unwrap();
            let tasks = crate::run::tasks(&sc).unwrap();
            let oracle = Oracle::default();
            let key = crate::run::oracle_key(&sc, sc.strategy);
            let plain = run_one(&sc, &t, &tasks, &oracle, sc.strategy);
            let bots = [crate::stream::BotSpec::whole(tasks.len())];
            let s = crate::world::simulate_stream(&sc, &t, &tasks, &bots, &oracle, key);
            let b = &s.bots[0];
            assert_eq!(format!("{:?}", b.metrics), format!("{:?}", plain.metrics));
            assert_eq!(b.progress, plain.progress, "{strategy}");
            assert_eq!(s.ledger, plain.ledger);
            assert_eq!((s.events, s.end), (plain.events, plain.end));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random streams: invariants at every step (a Cloud worker computes its own BoT's tasks
    /// only), and each BoT's accounts at the end.
    #[test]
    fn stream_invariants_hold(seed in 0u64..1000, hosts in 5usize..40, mw in 0usize..2,
                              sizes in prop::collection::vec((0u32..3, 1u32..120), 1..6), users in 1usize..4,
                              strategy in prop::sample::select(vec!["none", "9A-G-D", "9C-G-F", "9A-C-R", "D-G-D", "9C-F2-D"]),
                              cap in prop::option::of(1u32..8), policy in 0usize..4, preempt: bool) {
        let t = random_trace(seed, hosts);
        let mut sc = scenario(if mw == 0 { xwhep() } else { boinc(3, 2) }, 1, 1.0);
        sc.strategy = strategy.parse().unwrap();
        sc.seed = seed;
        if seed % 3 == 0 {
            sc.cloud.revocation_mean_hours = Some(0.05);
        }
        // Enough for every BoT to deploy (the default order of a small BoT may not pay a tick).
        sc.cloud.credits = Some(60 + seed % 200);
        sc.cloud.cap = cap;
        sc.cloud.share = spequlos_core::SharePolicy::ALL[policy];
        sc.cloud.preempt = preempt;
        // BoTs that overlap: one in its tail while the next still queues.
        let mut sizes: Vec<(f64, u32)> = sizes.iter().map(|&(h, n)| (f64::from(h) * 3600.0, n)).collect();
        sizes.sort_by(|a, b| a.0.total_cmp(&b.0));
        let bots = stream_of(&sizes, users);
        let tasks = stream_tasks(&bots, 3.0e5 + seed as f64);
        let oracle = Oracle::default();
        let key = crate::run::oracle_key(&sc, sc.strategy);
        fn stepped<M: Model>(sc: &Scenario, p: &M::Params, t: &Trace, tasks: &[TaskSpec],
                             bots: &[crate::stream::BotSpec], oracle: &Oracle) -> Result<(), Broken> {
            let key = crate::run::oracle_key(sc, sc.strategy);
            let mut w = World::<M>::new(sc, p, t, tasks, bots, oracle, key);
            while w.step() {
                w.check_invariants()?;
            }
            Ok(())
        }
        match &sc.middleware {
            Middleware::Boinc(p) => stepped::<Boinc>(&sc, p, &t, &tasks, &bots, &oracle),
            Middleware::Xwhep(p) => stepped::<Xwhep>(&sc, p, &t, &tasks, &bots, &oracle),
        }
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let out = crate::world::simulate_stream(&sc, &t, &tasks, &bots, &oracle, key);
        out.ledger.verify().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut first = 0;
        for (spec, b) in bots.iter().zip(&out.bots) {
            let mine = &out.tasks[first..first + spec.tasks as usize];
            first += spec.tasks as usize;
            let done = mine.iter().filter(|x| !x.completion.is_nan()).count() as u32;
            prop_assert_eq!(done, b.progress.completed());
            prop_assert!(mine.iter().all(|x| x.first_assign.is_nan() || x.first_assign >= spec.arrival));
            let m = &b.metrics;
            prop_assert!(m.credits_spent <= m.credits_ordered);
            if m.completed() {
                prop_assert_eq!(b.cloud_running_at_end, 0);
                prop_assert!(m.completion_time > 0.0, "timed from its arrival");
            }
        }
        let all_done = out.bots.iter().all(|b| b.metrics.completed());
        if all_done {
            prop_assert!(out.ledger.orders().all(|(_, o)| !o.open), "every order closed");
        }
        // Ordered once per BoT, by its user.
        prop_assert_eq!(out.ledger.orders().count(), bots.len());
    }
}

#[test]
fn a_cap_no_one_reaches_changes_nothing_and_a_tight_one_is_shared_by_the_policy() {
    let mut spec = Scenario::default().trace;
    spec.hosts = 200;
    let t = crate::run::load_trace(&spec).unwrap();
    for mw in [xwhep(), boinc(3, 2)] {
        let mut sc = scenario(mw, 1, 1.0);
        // Each BoT's order pays 20 workers for an hour, six at most run at once; the later
        // BoTs deploy while the first's workers still duplicate its stragglers.
        sc.strategy = "9A-G-R".parse().unwrap();
        sc.cloud.credits = Some(300);
        let bots = stream_of(&[(0.0, 100), (1200.0, 100), (1300.0, 100)], 3);
        let tasks = stream_tasks(&bots, 3.6e6);
        let oracle = Oracle::default();
        let key = crate::run::oracle_key(&sc, sc.strategy);
        let free = crate::world::simulate_stream(&sc, &t, &tasks, &bots, &oracle, key.clone());
        sc.cloud.cap = Some(1_000_000);
        sc.cloud.preempt = true;
        let roomy = crate::world::simulate_stream(&sc, &t, &tasks, &bots, &oracle, key.clone());
        assert_eq!(format!("{roomy:?}"), format!("{free:?}"));
        let mut outcomes = std::collections::BTreeSet::new();
        let mut taken_back = 0;
        for policy in spequlos_core::SharePolicy::ALL {
            for preempt in [false, true] {
                sc.cloud.cap = Some(6);
                sc.cloud.share = policy;
                sc.cloud.preempt = preempt;
                let tight =
                    crate::world::simulate_stream(&sc, &t, &tasks, &bots, &oracle, key.clone());
                tight.ledger.verify().unwrap();
                let preempted: u32 = tight.bots.iter().map(|b| b.preempted).sum();
                assert!(preempt || preempted == 0, "{policy:?}");
                taken_back += preempted;
                for b in &tight.bots {
                    assert!(b.metrics.completed(), "{policy:?} {preempt}");
                    assert!(b.metrics.credits_spent <= b.metrics.credits_ordered);
                }
                let done: Vec<String> = tight
                    .bots
                    .iter()
                    .map(|b| format!("{} {}", b.metrics.completion_time, b.preempted))
                    .collect();
                outcomes.insert(done);
            }
        }
        // Who gets the six workers, and whether some are taken back, is the policy's choice.
        assert!(outcomes.len() >= 4, "{outcomes:?}");
        assert!(
            taken_back > 0,
            "a later BoT's share was taken back from the first"
        );
    }
}

#[test]
fn admission_refuses_orders_the_history_says_are_late_and_they_run_without_the_cloud() {
    let mut spec = Scenario::default().trace;
    spec.hosts = 300;
    let t = crate::run::load_trace(&spec).unwrap();
    let mut sc = scenario(boinc(3, 2), 1, 1.0);
    sc.strategy = "9C-G-R".parse().unwrap();
    sc.cloud.credits = Some(100);
    // Twelve BoTs of 100 tasks, 2 h apart; from the fifth on, every other one asks for 1 h,
    // which none of the earlier ones came near.
    let bots: Vec<crate::stream::BotSpec> = (0..12)
        .map(|i| crate::stream::BotSpec {
            user: format!("u{}", i % 3),
            arrival: f64::from(i) * 7200.0,
            tasks: 100,
            deadline: (i >= 4).then_some(if i % 2 == 0 { 3600.0 } else { 1e6 }),
        })
        .collect();
    let tasks = stream_tasks(&bots, 3.6e6);
    let oracle = Oracle::default();
    let key = crate::run::oracle_key(&sc, sc.strategy);
    let open = crate::world::simulate_stream(&sc, &t, &tasks, &bots, &oracle, key.clone());
    sc.cloud.admission = true;
    let judged = crate::world::simulate_stream(&sc, &t, &tasks, &bots, &oracle, key.clone());
    judged.ledger.verify().unwrap();
    for (i, b) in judged.bots.iter().enumerate() {
        match (i, b.admission) {
            (0..4, None) => {}
            (_, Some(a)) if i % 2 == 0 => {
                assert_eq!(a.name(), "refuse", "BoT {i}: {a:?}");
                assert_eq!((b.metrics.workers_started, b.metrics.credits_spent), (0, 0));
                assert!(a.predicted() > 3600.0);
            }
            (_, Some(a)) => assert_eq!(a.name(), "admit", "BoT {i}: {a:?}"),
            other => panic!("BoT {i}: {other:?}"),
        }
    }
    // Nothing to judge without deadlines: the same run.
    let undated: Vec<crate::stream::BotSpec> = bots
        .iter()
        .map(|b| crate::stream::BotSpec {
            deadline: None,
            ..b.clone()
        })
        .collect();
    let a = crate::world::simulate_stream(&sc, &t, &tasks, &undated, &oracle, key.clone());
    sc.cloud.admission = false;
    let b = crate::world::simulate_stream(&sc, &t, &tasks, &undated, &oracle, key);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert!(open.bots.iter().all(|b| b.admission.is_none()));
}

#[test]
fn spot_workers_are_billed_at_the_price_refused_under_it_and_revoked_above_their_bid() {
    use spequlos_core::market::Market;
    let mut spec = Scenario::default().trace;
    spec.hosts = 200;
    let t = crate::run::load_trace(&spec).unwrap();
    let mut sc = scenario(xwhep(), 1, 1.0);
    sc.strategy = "9A-G-R".parse().unwrap();
    sc.cloud.credits = Some(100_000);
    // A flat spot price of a quarter of the on-demand one.
    sc.cloud.spot.volatility = 0.0;
    sc.cloud.spot.spike_prob = 0.0;
    sc.cloud.spot.base = sc.cloud.spot.on_demand / 4.0;
    let mut bots = stream_of(&[(0.0, 100), (3600.0, 100)], 2);
    let tasks = stream_tasks(&bots, 3.6e6);
    let oracle = Oracle::default();
    let key = crate::run::oracle_key(&sc, sc.strategy);
    let run = |sc: &Scenario, bots: &[crate::stream::BotSpec]| {
        let out = crate::world::simulate_stream(sc, &t, &tasks, bots, &oracle, key.clone());
        out.ledger.verify().unwrap();
        assert!(out.bots.iter().all(|b| b.metrics.completed()));
        out
    };
    let summary = |o: &crate::world::StreamOutput| {
        o.bots
            .iter()
            .map(|b| {
                let m = &b.metrics;
                (
                    m.completion_time,
                    m.workers_started,
                    m.credits_spent,
                    b.spot,
                    b.revoked,
                )
            })
            .collect::<Vec<_>>()
    };
    let on_demand = run(&sc, &bots);
    sc.cloud.market.market = Market::Spot;
    let spot = run(&sc, &bots);
    for (od, sp) in summary(&on_demand).iter().zip(summary(&spot)) {
        // The credits never ran short: the same Cloud work, at a quarter of the price
        // (each worker's last fraction of a credit unbilled).
        assert_eq!((od.0, od.1), (sp.0, sp.1), "the same run");
        assert!(od.1 > 0 && sp.3 == sp.1 && sp.4 == 0, "{sp:?}");
        assert!(
            sp.2 <= od.2 / 4 && sp.2 + u64::from(sp.1) >= od.2 / 4,
            "{od:?} {sp:?}"
        );
    }
    // Adaptive buys spot without a deadline, on-demand when none can be met.
    sc.cloud.market.market = Market::Adaptive;
    let undated: Vec<_> = bots
        .iter()
        .map(|b| crate::stream::BotSpec {
            deadline: None,
            ..b.clone()
        })
        .collect();
    assert_eq!(summary(&run(&sc, &undated)), summary(&spot));
    for b in &mut bots {
        b.deadline = Some(1.0);
    }
    let hopeless = run(&sc, &bots);
    assert_eq!(
        summary(&hopeless)
            .iter()
            .map(|s| (s.0, s.1, s.2))
            .collect::<Vec<_>>(),
        summary(&on_demand)
            .iter()
            .map(|s| (s.0, s.1, s.2))
            .collect::<Vec<_>>()
    );
    assert!(hopeless.bots.iter().all(|b| b.spot == 0));
    // Bid under the price: no spot worker ever starts, and nothing is charged.
    sc.cloud.market.market = Market::Spot;
    sc.cloud.market.bid = Some(0.2);
    let refused = run(&sc, &bots);
    assert!(refused
        .bots
        .iter()
        .all(|b| b.spot == 0 && b.metrics.credits_spent == 0));
    // Spikes to twice the on-demand price take back the workers bid at most at it; the
    // replacements finish the BoTs.
    sc.cloud.market.bid = None;
    sc.cloud.spot.spike_prob = 0.3;
    sc.cloud.spot.spike_factor = 8.0;
    sc.cloud.spot.change_hours = 0.2;
    let spiky = run(&sc, &bots);
    let revoked: u32 = spiky.bots.iter().map(|b| b.revoked).sum();
    assert!(revoked > 0, "{:?}", summary(&spiky));
}
