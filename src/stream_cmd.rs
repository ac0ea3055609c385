//! `spequlos sim --workload stream:FILE`: several users' BoTs on one grid, simulated without
//! and with SpeQuloS; a table per user (or JSON), `bots.csv` and `users.csv` with `--out`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use spequlos_check::Limits;
use spequlos_core::Oracle;
use spequlos_sim::output;
use spequlos_sim::run::{self, StreamPair, UserTotals};
use spequlos_sim::world::StreamOutput;
use spequlos_sim::Scenario;
use spequlos_traces::Trace;

use crate::sim_cmd::{bad, sim_error, SimArgs};

/// What `--out` writes for a stream.
pub const OUT_FILES: [&str; 2] = ["bots.csv", "users.csv"];

#[derive(Serialize)]
struct Summary {
    trace: String,
    hosts: usize,
    middleware: &'static str,
    workload: String,
    strategy: String,
    seed: u64,
    bots: usize,
    tasks: usize,
    /// The last BoT's completion, seconds from the start (NaN if one did not finish).
    baseline_makespan: f64,
    speq_makespan: Option<f64>,
    baseline_users: Vec<UserTotals>,
    speq_users: Option<Vec<UserTotals>>,
    /// With `cloud.admission`: how the deadline orders fared.
    admission: Option<AdmissionTotals>,
    /// The SpeQuloS run's Cloud workers and deadlines.
    cloud: Option<CloudTotals>,
    events: u64,
}

/// What the SpeQuloS run bought and whether its deadlines held.
#[derive(Serialize)]
struct CloudTotals {
    market: &'static str,
    workers_started: u32,
    /// Of them, bought on the spot market; and those the provider took back.
    spot: u32,
    revoked: u32,
    credits_spent: u64,
    deadlines: u32,
    deadlines_met: u32,
}

fn cloud_totals(sc: &Scenario, r: &StreamOutput) -> CloudTotals {
    let b = &r.bots;
    CloudTotals {
        market: sc.cloud.market.market.name(),
        workers_started: b.iter().map(|b| b.metrics.workers_started).sum(),
        spot: b.iter().map(|b| b.spot).sum(),
        revoked: b.iter().map(|b| b.revoked).sum(),
        credits_spent: b.iter().map(|b| b.metrics.credits_spent).sum(),
        deadlines: b.iter().filter(|b| b.deadline_met().is_some()).count() as u32,
        deadlines_met: b.iter().filter(|b| b.deadline_met() == Some(true)).count() as u32,
    }
}

/// Admission control over a stream's deadline orders, against the same stream with every
/// order admitted (which says whether a refused order could have met its deadline).
#[derive(Serialize)]
struct AdmissionTotals {
    orders: u32,
    admitted: u32,
    /// Of the admitted, those admitted with a warning.
    warned: u32,
    /// Admitted orders whose BoT completed by its deadline.
    admitted_met: u32,
    refused: u32,
    /// Refused orders whose BoT met its deadline in the run that admitted every order.
    refused_feasible: u32,
}

fn admission_totals(judged: &StreamOutput, all_in: &StreamOutput) -> AdmissionTotals {
    let mut t = AdmissionTotals {
        orders: 0,
        admitted: 0,
        warned: 0,
        admitted_met: 0,
        refused: 0,
        refused_feasible: 0,
    };
    for (b, free) in judged.bots.iter().zip(&all_in.bots) {
        let Some(a) = b.admission else { continue };
        t.orders += 1;
        if a.admitted() {
            t.admitted += 1;
            t.warned += u32::from(a.name() == "warn");
            t.admitted_met += u32::from(b.deadline_met() == Some(true));
        } else {
            t.refused += 1;
            t.refused_feasible += u32::from(free.deadline_met() == Some(true));
        }
    }
    t
}

pub fn run(
    a: &SimArgs,
    sc: &Scenario,
    trace: &Trace,
    limits: &Limits,
    load_started: Instant,
    quiet: bool,
) -> Result<()> {
    if a.oracle.is_some() || a.history.is_some_and(|h| h > 0) {
        return Err(bad(
            "--oracle and --history do not apply to a stream of BoTs yet (its BoTs' Oracle starts without history)",
        ));
    }
    let (tasks, bots) = run::bots_within(sc, limits).map_err(sim_error)?;
    let load_s = load_started.elapsed().as_secs_f64();
    let oracle = Oracle::new(sc.oracle.clone());
    let engine = Instant::now();
    let out = run::run_stream_pair(sc, trace, &oracle, &tasks, &bots).map_err(sim_error)?;
    let engine_s = engine.elapsed().as_secs_f64();
    if let Some(dir) = &a.out {
        write_outputs(dir, &out)?;
    }
    let base_users = run::user_totals(&out.baseline, &[]);
    let speq_users = out.speq.as_ref().map(|s| run::user_totals(s, &out.pairs));
    let admission = match &out.speq {
        Some(judged) if sc.cloud.admission => {
            let mut all_in = sc.clone();
            all_in.cloud.admission = false;
            let key = run::oracle_key(&all_in, all_in.strategy);
            let free =
                spequlos_sim::world::simulate_stream(&all_in, trace, &tasks, &bots, &oracle, key);
            Some(admission_totals(judged, &free))
        }
        _ => None,
    };
    let s = Summary {
        trace: sc.trace.label(),
        hosts: trace.host_count(),
        middleware: sc.middleware.name(),
        workload: sc.workload.label(),
        strategy: sc.strategy.to_string(),
        seed: sc.seed,
        bots: bots.len(),
        tasks: tasks.len(),
        baseline_makespan: run::makespan(&out.baseline),
        speq_makespan: out.speq.as_ref().map(run::makespan),
        baseline_users: base_users,
        speq_users,
        admission,
        cloud: out.speq.as_ref().map(|r| cloud_totals(sc, r)),
        events: out.baseline.events + out.speq.as_ref().map_or(0, |r| r.events),
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&s).context("serialising the summary")?
        );
    } else {
        print_table(&s);
    }
    if !quiet {
        if let Some(dir) = &a.out {
            eprintln!("wrote bots.csv and users.csv to {}", dir.display());
        }
    }
    if a.timing {
        crate::sim_cmd::timing(load_s, engine_s, s.events, 0);
    }
    Ok(())
}

fn write_outputs(dir: &Path, out: &StreamPair) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut bots = output::BOTS_HEADER.to_string();
    let mut users = output::USERS_HEADER.to_string();
    bots.push_str(&output::bots("baseline", &out.baseline, &[]));
    users.push_str(&output::users(
        "baseline",
        &run::user_totals(&out.baseline, &[]),
    ));
    if let Some(s) = &out.speq {
        bots.push_str(&output::bots("speq", s, &out.pairs));
        users.push_str(&output::users("speq", &run::user_totals(s, &out.pairs)));
    }
    for (name, text) in [("bots.csv", bots), ("users.csv", users)] {
        let p = dir.join(name);
        spequlos_traces::write_atomic(&p, text.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn hours(s: f64) -> String {
    if s.is_finite() {
        format!("{:.2} h", s / 3600.0)
    } else {
        "—".into()
    }
}

fn print_table(s: &Summary) {
    println!(
        "{} ({} hosts) · {} · {} ({} BoTs, {} tasks) · {} · seed {}",
        s.trace, s.hosts, s.middleware, s.workload, s.bots, s.tasks, s.strategy, s.seed
    );
    let speq = s
        .speq_makespan
        .map_or(String::new(), |m| format!(", with SpeQuloS {}", hours(m)));
    println!(
        "  makespan: without SpeQuloS {}{speq}",
        hours(s.baseline_makespan)
    );
    println!(
        "  {:<16} {:>5} {:>9} {:>12} {:>12} {:>10} {:>9} {:>9} {:>8}",
        "user", "BoTs", "done", "mean (none)", "mean (speq)", "credits", "speedup", "worst", "TRE"
    );
    for (i, b) in s.baseline_users.iter().enumerate() {
        let q = s.speq_users.as_ref().map(|u| &u[i]);
        let num = |v: Option<f64>, digits: usize| {
            v.filter(|v| v.is_finite())
                .map_or("—".to_string(), |v| format!("{v:.digits$}"))
        };
        println!(
            "  {:<16} {:>5} {:>9} {:>12} {:>12} {:>10} {:>9} {:>9} {:>8}",
            b.user,
            b.bots,
            format!("{}/{}", q.map_or(b.completed, |q| q.completed), b.bots),
            hours(b.mean_completion),
            q.map_or("—".into(), |q| hours(q.mean_completion)),
            q.map_or("—".into(), |q| format!(
                "{}/{}",
                q.credits_spent, q.credits_ordered
            )),
            num(q.map(|q| q.mean_speedup), 2),
            num(q.map(|q| q.worst_speedup), 2),
            num(q.map(|q| q.mean_tre), 2),
        );
    }
    if let Some(c) = &s.cloud {
        println!(
            "  cloud ({}): {} workers started, {} spot, {} revoked; {} credits spent; {} of {} deadlines met",
            c.market,
            c.workers_started,
            c.spot,
            c.revoked,
            c.credits_spent,
            c.deadlines_met,
            c.deadlines
        );
    }
    if let Some(a) = &s.admission {
        let pct = |n: u32, of: u32| {
            if of == 0 {
                "—".to_string()
            } else {
                format!("{:.0} %", 100.0 * f64::from(n) / f64::from(of))
            }
        };
        println!(
            "  admission: {} deadline orders; {} admitted ({} with a warning), {} of them met ({}); {} refused, {} of which would have met it admitted",
            a.orders,
            a.admitted,
            a.warned,
            a.admitted_met,
            pct(a.admitted_met, a.admitted),
            a.refused,
            a.refused_feasible
        );
    }
}
