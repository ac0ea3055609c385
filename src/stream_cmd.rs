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
    events: u64,
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
}
