//! Trace parsing throughput on a generated file of about one million availability intervals:
//! native CSV, FTA and the binary format (no parse: a read and a validation pass), reported both
//! in bytes/s and in intervals/s.
//!
//! Run: `cargo bench -p spequlos-benches --bench trace_parse`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spequlos_benches::{seti_trace, write_fta};
use spequlos_traces::{read, write, Format, ReadOptions};

fn parse(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = seti_trace(1_000_000);
    let csv_dir = dir.path().join("csv");
    write(&trace, &csv_dir, Format::Csv).expect("write csv");
    let fta = dir.path().join("event_trace.tab");
    write_fta(&trace, &fta).expect("write fta");
    let csv_bytes = std::fs::metadata(csv_dir.join("intervals.csv"))
        .unwrap()
        .len()
        + std::fs::metadata(csv_dir.join("hosts.csv")).unwrap().len();
    let fta_bytes = std::fs::metadata(&fta).unwrap().len();
    let bin_dir = dir.path().join("bin");
    write(&trace, &bin_dir, Format::Bin).expect("write bin");
    let bin_bytes = std::fs::metadata(bin_dir.join("trace.bin")).unwrap().len();
    let intervals = trace.interval_count() as u64;
    eprintln!(
        "input: {intervals} intervals, {} hosts; csv {:.1} MB, fta {:.1} MB, bin {:.1} MB",
        trace.host_count(),
        csv_bytes as f64 / 1e6,
        fta_bytes as f64 / 1e6,
        bin_bytes as f64 / 1e6
    );

    for (unit, csv_tp, fta_tp, bin_tp) in [
        (
            "bytes",
            Throughput::Bytes(csv_bytes),
            Throughput::Bytes(fta_bytes),
            Throughput::Bytes(bin_bytes),
        ),
        (
            "intervals",
            Throughput::Elements(intervals),
            Throughput::Elements(intervals),
            Throughput::Elements(intervals),
        ),
    ] {
        let mut g = c.benchmark_group(format!("parse_{unit}"));
        g.sample_size(10);
        g.throughput(csv_tp);
        g.bench_function("csv", |b| {
            b.iter(|| {
                read(&csv_dir, &ReadOptions::default())
                    .expect("csv reads")
                    .0
                    .interval_count()
            })
        });
        g.throughput(fta_tp);
        g.bench_function("fta", |b| {
            b.iter(|| {
                read(&fta, &ReadOptions::default())
                    .expect("fta reads")
                    .0
                    .interval_count()
            })
        });
        g.throughput(bin_tp);
        g.bench_function("bin", |b| {
            b.iter(|| {
                read(&bin_dir, &ReadOptions::default())
                    .expect("bin reads")
                    .0
                    .interval_count()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
