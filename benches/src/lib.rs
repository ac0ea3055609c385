//! Inputs shared by the benchmarks in `benches/benches/`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use spequlos_traces::gen::{generate_quiet, AvailabilityModel};
use spequlos_traces::{presets, Trace};

/// A seti-simple trace with about `intervals` availability intervals (10 days per host).
pub fn seti_trace(intervals: usize) -> Trace {
    let cfg = presets::get("seti-simple").expect("preset exists");
    let AvailabilityModel::Renewal { classes, .. } = &cfg.availability else {
        unreachable!("seti-simple is a renewal model")
    };
    // One up interval per mean up+down cycle.
    let cycle_h = classes[0].up.mean() + classes[0].down.mean();
    let days = 10.0;
    let hosts = (intervals as f64 * cycle_h / (days * 24.0)).ceil() as usize;
    generate_quiet(&cfg, hosts.max(1), (days * 86400.0) as i64, 1).expect("valid preset")
}

/// Writes `trace` as an FTA `event_trace.tab`, with the format's mixed tab/space padding, both
/// available and unavailable rows, and epoch times.
pub fn write_fta(trace: &Trace, path: &Path) -> std::io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    writeln!(
        w,
        "event_id  component_id node_id  platform_id   node_name     event_type   event_start_time     event_stop_time  event_end_reason"
    )?;
    let origin = 1_104_537_600i64;
    for (h, host) in trace.hosts().iter().enumerate() {
        let mut id = 0;
        let mut t = 0;
        let mut row = |w: &mut BufWriter<File>, ty: u8, s: i64, e: i64| {
            id += 1;
            writeln!(
                w,
                "{id:>6}\t   0\t  {}\t  7\t    {}\t {ty}\t\t{}\t\t{}\t  1019",
                host.id,
                host.name,
                origin + s,
                origin + e
            )
        };
        for (s, e) in trace.iter_intervals(h) {
            if s > t {
                row(&mut w, 0, t, s)?;
            }
            row(&mut w, 1, s, e)?;
            t = e;
        }
    }
    w.flush()
}
