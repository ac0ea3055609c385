//! CSV outputs of `spequlos sim --out`: `runs.csv` (one row per run, every parameter a
//! column), `timeline.csv` (one row per Scheduler tick) and `tasks.csv` (one row per task).
//! Floats are written with Rust's shortest round-trip formatting, so equal runs give equal
//! bytes.

use std::fmt::Write as _;

use crate::run::PairOutput;
use crate::scenario::{Middleware, Scenario};
use crate::world::RunOutput;

pub const RUNS_HEADER: &str =
    "run,trace,hosts,days,trace_seed,offset,middleware,workload,strategy,seed,\
tick,cost_per_tick,cloud_speed_factor,credits_ordered,credits_spent,workers_started,deployed_at,\
completion_time,t_ideal,tail_duration,tail_slowdown,speedup,tre,ops_executed,ops_cloud,cloud_share,\
pred25,pred50,pred75,pred90,err25,err50,err75,err90,hit25,hit50,hit75,hit90,events";

/// Rows of `runs.csv` for one pair (baseline first), without the header.
pub fn runs_rows(sc: &Scenario, out: &PairOutput) -> String {
    let mut s = String::new();
    row(&mut s, "baseline", sc, &out.baseline, None);
    if let (Some(r), Some(p)) = (&out.speq, &out.pair) {
        row(&mut s, "speq", sc, r, Some((p.speedup, p.tre)));
    }
    s
}

fn row(s: &mut String, kind: &str, sc: &Scenario, r: &RunOutput, pair: Option<(f64, f64)>) {
    let m = &r.metrics;
    let strategy = if kind == "baseline" {
        "none".to_string()
    } else {
        sc.strategy.to_string()
    };
    let (speedup, tre) = pair.unwrap_or((f64::NAN, f64::NAN));
    let _ = write!(
        s,
        "{kind},{},{},{},{},{},{},{},{strategy},{},{},{},{},{},{},{},{},{},{},{},{},{speedup},{tre},{},{},{}",
        csv_field(&sc.trace.label()),
        sc.trace.hosts,
        sc.trace.days,
        sc.trace.seed,
        sc.trace.offset,
        sc.middleware.name(),
        csv_field(&sc.workload.label()),
        sc.seed,
        sc.qos.tick,
        sc.qos.cost_per_tick,
        sc.cloud.speed_factor,
        m.credits_ordered,
        m.credits_spent,
        m.workers_started,
        m.deployed_at,
        m.completion_time,
        m.t_ideal,
        m.tail_duration,
        m.tail_slowdown,
        m.ops_executed,
        m.ops_cloud,
        m.cloud_share,
    );
    let at = |ratio: f64| m.predictions.iter().find(|p| p.ratio == ratio);
    let points = spequlos_core::metrics::PREDICTION_POINTS;
    for p in points {
        let _ = write!(
            s,
            ",{}",
            at(p).map_or(f64::NAN, |c| c.prediction.completion)
        );
    }
    for p in points {
        let _ = write!(s, ",{}", at(p).map_or(f64::NAN, |c| c.error));
    }
    for p in points {
        let _ = write!(s, ",{}", at(p).map_or(String::new(), |c| c.hit.to_string()));
    }
    let _ = writeln!(s, ",{}", r.events);
}

pub const TIMELINE_HEADER: &str =
    "run,t,total,completed,assigned,running,volunteers_online,cloud_workers\n";

/// `timeline.csv` rows of one run (`run` is `baseline` or `speq`).
pub fn timeline(run: &str, r: &RunOutput) -> String {
    let mut s = String::new();
    for x in r.progress.samples() {
        let _ = writeln!(
            s,
            "{run},{},{},{},{},{},{},{}",
            x.t, x.total, x.completed, x.assigned, x.running, x.volunteers_online, x.cloud_workers
        );
    }
    s
}

pub const TASKS_HEADER: &str =
    "run,task,submit,first_assignment,completion,completed_on,executions\n";

/// `tasks.csv` rows of one run.
pub fn tasks(run: &str, r: &RunOutput) -> String {
    let mut s = String::new();
    for (i, t) in r.tasks.iter().enumerate() {
        let place = if t.completion.is_nan() {
            ""
        } else if t.on_cloud {
            "cloud"
        } else {
            "volunteer"
        };
        let _ = writeln!(
            s,
            "{run},{i},{},{},{},{place},{}",
            t.submit, t.first_assign, t.completion, t.executions
        );
    }
    s
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// A middleware's parameters as `key=value` pairs, for summaries.
pub fn middleware_params(m: &Middleware) -> String {
    match m {
        Middleware::Boinc(b) => format!(
            "target_nresults={} min_quorum={} delay_bound={} buffer_per_core={}",
            b.target_nresults, b.min_quorum, b.delay_bound, b.buffer_per_core
        ),
        Middleware::Xwhep(x) => format!("keepalive={} timeout={}", x.keepalive, x.timeout),
    }
}
