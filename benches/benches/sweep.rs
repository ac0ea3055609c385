//! Sweep throughput (runs/s) on a quick.toml-like grid, with one and two threads.
//!
//! Run: `cargo bench -p spequlos-benches --bench sweep`

use std::sync::atomic::AtomicBool;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spequlos_experiments::runner::{self, Options};
use spequlos_experiments::spec::{self, SweepSpec};

const SPEC: &str = r#"
name = "bench"
[base.trace]
hosts = 1000
days = 14
[axes]
trace = ["seti", "nd"]
middleware = ["boinc", "xwhep"]
strategy = ["none", "9A-G-D", "9C-G-R", "9C-G-D"]
offset_count = 5
"#;

fn sweep(c: &mut Criterion) {
    let spec: SweepSpec = toml::from_str(SPEC).expect("valid spec");
    let plan = spec::expand(&spec).expect("expands");
    let mut g = c.benchmark_group("sweep");
    g.sample_size(10);
    g.throughput(Throughput::Elements(plan.runs as u64));
    for threads in [1usize, 2] {
        g.bench_function(format!("threads-{threads}"), |b| {
            b.iter(|| {
                let dir = tempfile::tempdir().expect("temp dir");
                let stop = AtomicBool::new(false);
                let opts = Options {
                    threads,
                    resume: false,
                    shard: None,
                    progress: &|_| {},
                    stop: &stop,
                    limits: Default::default(),
                };
                runner::run(SPEC, &spec, &plan, &dir.path().join("out"), &opts)
                    .expect("runs")
                    .simulated
            })
        });
    }
    g.finish();
}

criterion_group!(benches, sweep);
criterion_main!(benches);
