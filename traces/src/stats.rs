//! Summary statistics of a trace, as printed by `spequlos trace stats`.
//!
//! Interval statistics use only *uncensored* intervals: an up interval touching time 0 or the
//! end of the span, and the down time before a host's first or after its last up interval, were
//! cut by the observation window and would bias lengths downwards. Availability fractions and
//! host counts use the whole span.

use serde::Serialize;

use crate::model::{Seconds, Trace};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStats {
    pub name: String,
    pub source: &'static str,
    pub origin: Option<i64>,
    pub span_s: Seconds,
    pub span_days: f64,
    pub hosts: usize,
    pub intervals: usize,
    pub total_cores: u64,
    pub mean_speed: f64,
    /// Per-host fraction of the span spent available.
    pub availability: Summary,
    /// Uncensored availability intervals, hours.
    pub up_hours: Summary,
    /// Uncensored unavailability intervals, hours.
    pub down_hours: Summary,
    /// Mean time between failures (mean uncensored up interval), hours.
    pub mtbf_h: f64,
    /// Mean time to repair (mean uncensored down interval), hours.
    pub mttr_h: f64,
    /// Number of hosts available over time.
    pub hosts_available: Range,
}

/// Count, mean and quantiles of a sample (NaN where the sample is empty).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub p10: f64,
    pub median: f64,
    pub p90: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Range {
    /// Time-weighted mean.
    pub mean: f64,
    pub min: usize,
    pub max: usize,
}

impl Summary {
    /// Sorts `xs` in place.
    pub fn of(xs: &mut [f64]) -> Summary {
        xs.sort_unstable_by(f64::total_cmp);
        let count = xs.len();
        let mean = if count == 0 {
            f64::NAN
        } else {
            xs.iter().sum::<f64>() / count as f64
        };
        Summary {
            count,
            mean,
            p10: quantile_sorted(xs, 0.1),
            median: quantile_sorted(xs, 0.5),
            p90: quantile_sorted(xs, 0.9),
        }
    }
}

/// Linear-interpolation quantile (type 7) of sorted data.
pub fn quantile_sorted(xs: &[f64], q: f64) -> f64 {
    match xs.len() {
        0 => f64::NAN,
        1 => xs[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let (i, frac) = (pos.floor() as usize, pos.fract());
            if i + 1 < n {
                xs[i] + frac * (xs[i + 1] - xs[i])
            } else {
                xs[n - 1]
            }
        }
    }
}

pub fn compute(trace: &Trace) -> TraceStats {
    let span = trace.meta.span;
    let n = trace.host_count();
    // One large temporary at a time: the host-count sweep, then up lengths, then down lengths.
    let hosts_available = hosts_available(trace);
    let mut avail: Vec<f64> = (0..n)
        .map(|h| trace.uptime(h) as f64 / span as f64)
        .collect();
    let mut ups: Vec<f64> = (0..n)
        .flat_map(|h| trace.iter_intervals(h))
        .filter(|&(s, e)| s > 0 && e < span)
        .map(|(s, e)| (e - s) as f64 / 3600.0)
        .collect();
    let up_hours = Summary::of(&mut ups);
    drop(ups);
    let mut downs: Vec<f64> = (0..n)
        .flat_map(|h| {
            let (starts, ends) = trace.intervals(h);
            starts
                .iter()
                .skip(1)
                .zip(ends)
                .map(|(s, e)| (s - e) as f64 / 3600.0)
        })
        .collect();
    let down_hours = Summary::of(&mut downs);
    drop(downs);
    let hosts = trace.hosts();
    TraceStats {
        name: trace.meta.name.clone(),
        source: trace.meta.source.as_str(),
        origin: trace.meta.origin,
        span_s: span,
        span_days: span as f64 / 86400.0,
        hosts: n,
        intervals: trace.interval_count(),
        total_cores: hosts.iter().map(|h| h.cores as u64).sum(),
        mean_speed: hosts.iter().map(|h| h.speed).sum::<f64>() / n.max(1) as f64,
        mtbf_h: up_hours.mean,
        mttr_h: down_hours.mean,
        availability: Summary::of(&mut avail),
        up_hours,
        down_hours,
        hosts_available,
    }
}

/// Time-weighted mean, minimum and maximum number of hosts available over `[0, span)`.
fn hosts_available(trace: &Trace) -> Range {
    let span = trace.meta.span;
    let total: i64 = (0..trace.host_count()).map(|h| trace.uptime(h)).sum();
    // Two sorted columns merged, rather than one array of tagged events: half the memory.
    let mut starts: Vec<Seconds> = Vec::with_capacity(trace.interval_count());
    let mut ends: Vec<Seconds> = Vec::with_capacity(trace.interval_count());
    for h in 0..trace.host_count() {
        let (s, e) = trace.intervals(h);
        starts.extend_from_slice(s);
        ends.extend_from_slice(e);
    }
    starts.sort_unstable();
    ends.sort_unstable();
    let (mut i, mut j) = (0, 0);
    let mut count: i64 = 0;
    let (mut min, mut max) = (i64::MAX, 0i64);
    // The count holds from time t until the next event time; check it where that stretch is
    // non-empty and inside the span.
    let mut t = 0;
    loop {
        while i < starts.len() && starts[i] == t {
            count += 1;
            i += 1;
        }
        while j < ends.len() && ends[j] == t {
            count -= 1;
            j += 1;
        }
        let next = starts
            .get(i)
            .copied()
            .unwrap_or(span)
            .min(ends.get(j).copied().unwrap_or(span));
        if t < span && next > t {
            min = min.min(count);
            max = max.max(count);
        }
        if next >= span || (i == starts.len() && j == ends.len()) {
            if next > t && t < span {
                min = min.min(count);
            }
            break;
        }
        t = next;
    }
    Range {
        mean: total as f64 / span as f64,
        min: min.max(0) as usize,
        max: max as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Host, SourceFormat, TraceBuilder, TraceMeta};

    fn trace(rows: &[(usize, Seconds, Seconds)], hosts: usize, span: Seconds) -> Trace {
        let mut b = TraceBuilder::new("mem");
        for i in 0..hosts {
            b.add_host(Host {
                id: i as u64,
                name: format!("h{i}"),
                speed: 1000.0 + i as f64,
                cores: 2,
            });
        }
        for &(h, s, e) in rows {
            b.push(h, s, e);
        }
        let meta = TraceMeta {
            name: "t".into(),
            source: SourceFormat::Csv,
            origin: None,
            span,
        };
        b.finish(meta, false).unwrap().0
    }

    #[test]
    fn hand_computed_figures() {
        // h0: up [0,3600) censored, down 3600..7200 (1 h), up [7200, 10800) (1 h), down to end censored.
        // h1: up [1800, 14400) touches the end: censored.
        let t = trace(
            &[(0, 0, 3600), (0, 7200, 10800), (1, 1800, 14400)],
            2,
            14400,
        );
        let s = compute(&t);
        assert_eq!(s.hosts, 2);
        assert_eq!(s.intervals, 3);
        assert_eq!(s.total_cores, 4);
        assert_eq!(s.mean_speed, 1000.5);
        assert_eq!(s.up_hours.count, 1);
        assert_eq!(s.mtbf_h, 1.0);
        assert_eq!(s.down_hours.count, 1);
        assert_eq!(s.mttr_h, 1.0);
        assert_eq!(s.availability.mean, (0.5 + 0.875) / 2.0);
        // Counts: [0,1800)=1, [1800,3600)=2, [3600,7200)=1, [7200,10800)=2, [10800,14400)=1.
        assert_eq!(s.hosts_available.min, 1);
        assert_eq!(s.hosts_available.max, 2);
        assert_eq!(s.hosts_available.mean, (7200.0 + 12600.0) / 14400.0);
    }

    #[test]
    fn empty_stretches_count_as_zero() {
        let t = trace(&[(0, 100, 200)], 1, 1000);
        let s = compute(&t);
        assert_eq!((s.hosts_available.min, s.hosts_available.max), (0, 1));
    }

    #[test]
    fn quantiles_interpolate() {
        let mut xs = vec![4.0, 1.0, 3.0, 2.0, 5.0];
        let s = Summary::of(&mut xs);
        assert_eq!((s.p10, s.median, s.p90, s.mean), (1.4, 3.0, 4.6, 3.0));
        assert!(Summary::of(&mut []).mean.is_nan());
    }
}
