//! `spequlos stream`: writes a synthetic stream of BoTs (Poisson arrivals, BoT sizes, a share
//! with deadlines) as a stream file for `sim --workload stream:FILE` and sweeps.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use spequlos_sim::stream::{self, StreamGen};

use crate::sim_cmd::bad;
use crate::units::parse_duration;

#[derive(Args, Debug)]
pub struct StreamArgs {
    /// How many BoTs.
    #[arg(long, default_value_t = 100)]
    bots: usize,
    /// How many users (`u1`, `u2`, ...), each BoT's drawn uniformly.
    #[arg(long, default_value_t = 10)]
    users: u32,
    /// Mean time between arrivals (Poisson): seconds or a duration (30m, 2h); 0 puts every BoT
    /// at t = 0.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    gap: i64,
    /// Tasks per BoT, `MIN:MAX`, drawn uniformly (log-uniformly with --log-sizes).
    #[arg(long, default_value = "100:1000")]
    tasks: String,
    #[arg(long)]
    log_sizes: bool,
    /// Operations per task (3.6e6: an hour at 1000 ops/s).
    #[arg(long, default_value_t = 3.6e6)]
    ops: f64,
    /// Deadlines `MIN:MAX` after arrival (durations), drawn uniformly...
    #[arg(long, default_value = "6h:48h")]
    deadline: String,
    /// ...for this share of the BoTs, in [0, 1].
    #[arg(long, default_value_t = 0.0)]
    deadline_share: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write here (refused if the file exists, unless --force); standard output otherwise.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    force: bool,
}

fn pair<T>(text: &str, flag: &str, parse: impl Fn(&str) -> Option<T>) -> Result<(T, T)> {
    let parsed = text
        .split_once(':')
        .and_then(|(a, b)| Some((parse(a)?, parse(b)?)));
    parsed.ok_or_else(|| bad(format!("--{flag}: expected MIN:MAX, found `{text}`")))
}

pub fn run(a: StreamArgs) -> Result<()> {
    let tasks = pair(&a.tasks, "tasks", |s| s.trim().parse::<u32>().ok())?;
    let deadline = pair(&a.deadline, "deadline", |s| parse_duration(s).ok())?;
    let g = StreamGen {
        bots: a.bots,
        users: a.users,
        mean_gap: a.gap as f64,
        tasks,
        log_sizes: a.log_sizes,
        ops: a.ops,
        deadline: (deadline.0 as f64, deadline.1 as f64),
        deadline_share: a.deadline_share,
        seed: a.seed,
    };
    let bots = g
        .generate()
        .map_err(|e| bad(format!("--{}", e.to_string().replace('_', "-"))))?;
    let header = format!(
        "spequlos stream --bots {} --users {} --gap {} --tasks {}{} --ops {:e} --deadline {} --deadline-share {} --seed {}\n\
         {} BoTs from {} users, Poisson arrivals every {} s on average.",
        a.bots,
        a.users,
        a.gap,
        a.tasks,
        if a.log_sizes { " --log-sizes" } else { "" },
        a.ops,
        a.deadline,
        a.deadline_share,
        a.seed,
        a.bots,
        a.users,
        a.gap
    );
    let text = stream::format(&bots, &header);
    match &a.out {
        Some(path) => {
            if path.exists() && !a.force {
                return Err(bad(format!(
                    "{}: exists; --force replaces it",
                    path.display()
                )));
            }
            spequlos_traces::write_atomic(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
