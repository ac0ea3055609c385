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

    let inputs = [
        ("csv", csv_dir.as_path(), csv_bytes),
        ("fta", fta.as_path(), fta_bytes),
        ("bin", bin_dir.as_path(), bin_bytes),
    ];
    for unit in ["bytes", "intervals"] {
        let mut g = c.benchmark_group(format!("parse_{unit}"));
        g.sample_size(10);
        for (name, path, bytes) in inputs {
            g.throughput(match unit {
                "bytes" => Throughput::Bytes(bytes),
                _ => Throughput::Elements(intervals),
            });
            g.bench_function(name, |b| {
                b.iter(|| {
                    read(path, &ReadOptions::default())
                        .expect("the trace reads")
                        .0
                        .interval_count()
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
