//! One `small` BoT (1000 tasks) on 1,000-, 10,000- and 100,000-host `seti` traces: BOINC and
//! XWHEP, baseline alone and the baseline + `9A-G-D` pair. Prints events and events/s once per
//! case, then lets criterion time the runs.
//!
//! Run: `cargo bench -p spequlos-benches --bench sim_pair`

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use spequlos_core::{Oracle, Strategy};
use spequlos_sim::run::{load_trace, run_one, run_pair, tasks};
use spequlos_sim::scenario::{Middleware, Scenario};

fn sim(c: &mut Criterion) {
    let oracle = Oracle::default();
    let mut g = c.benchmark_group("sim_small_seti");
    g.sample_size(10);
    for hosts in [1_000usize, 10_000, 100_000] {
        let mut sc = Scenario::default();
        sc.trace.hosts = hosts;
        // Two weeks are plenty for one BoT and keep the 100k-host trace quick to generate.
        sc.trace.days = 14.0;
        let trace = load_trace(&sc.trace).expect("trace");
        for mw in ["boinc", "xwhep"] {
            sc.middleware = Middleware::by_name(mw).expect("known");
            sc.strategy = "9A-G-D".parse().expect("valid");
            let t = tasks(&sc).expect("tasks");
            let start = Instant::now();
            let base = run_one(&sc, &trace, &t, &oracle, Strategy::None);
            let base_s = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let pair = run_pair(&sc, &trace, &oracle).expect("runs");
            let pair_s = start.elapsed().as_secs_f64();
            let events = pair.baseline.events + pair.speq.as_ref().map_or(0, |r| r.events);
            eprintln!(
                "{hosts} hosts, {mw}: baseline {} events in {:.1} ms ({:.1} M events/s); pair {} events in {:.1} ms ({:.1} M events/s)",
                base.events,
                base_s * 1e3,
                base.events as f64 / base_s / 1e6,
                events,
                pair_s * 1e3,
                events as f64 / pair_s / 1e6
            );
            g.bench_function(format!("{hosts}/{mw}/baseline"), |b| {
                b.iter(|| run_one(&sc, &trace, &t, &oracle, Strategy::None).events)
            });
            g.bench_function(format!("{hosts}/{mw}/pair-9A-G-D"), |b| {
                b.iter(|| run_pair(&sc, &trace, &oracle).expect("runs").pair)
            });
        }
    }
    g.finish();
}

criterion_group!(benches, sim);
criterion_main!(benches);
