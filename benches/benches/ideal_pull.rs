//! The `ideal-pull` engine on the inputs of `benches/compare.sh`: seti-simple traces of 1k, 10k
//! and 100k hosts (30 days, seed 1) and 1k, 10k and 100k tasks of 3.6e5 operations, the trace
//! already in memory. Prints the makespan, events and events/s of one run per case (compare the
//! makespans with the README table), then lets criterion time the runs.
//!
//! Run: `cargo bench -p spequlos-benches --bench ideal_pull`
//! Profile: `cargo bench -p spequlos-benches --bench ideal_pull -- --profile-time 10 100000/100000`

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spequlos_sim::ideal;
use spequlos_sim::workload::TaskSpec;
use spequlos_traces::gen::generate_quiet;
use spequlos_traces::presets;

fn ideal_pull(c: &mut Criterion) {
    let cfg = presets::get("seti-simple").expect("preset exists");
    let mut g = c.benchmark_group("ideal_pull");
    g.sample_size(20);
    for hosts in [1_000usize, 10_000, 100_000] {
        let trace = generate_quiet(&cfg, hosts, 30 * 86_400, 1).expect("valid preset");
        for m in [1_000usize, 10_000, 100_000] {
            let tasks = vec![
                TaskSpec {
                    submit: 0.0,
                    ops: 360_000.0
                };
                m
            ];
            let start = Instant::now();
            let out = ideal::run(&trace, 0, &tasks).expect("fits");
            let s = start.elapsed().as_secs_f64();
            eprintln!(
                "{hosts} hosts, {m} tasks: makespan {}, {} events in {:.2} ms ({:.1} M events/s)",
                out.makespan,
                out.events,
                s * 1e3,
                out.events as f64 / s / 1e6
            );
            g.throughput(Throughput::Elements(out.events));
            g.bench_with_input(
                BenchmarkId::from_parameter(format!("{hosts}/{m}")),
                &tasks,
                |b, tasks| b.iter(|| ideal::run(&trace, 0, tasks).expect("fits").events),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, ideal_pull);
criterion_main!(benches);
