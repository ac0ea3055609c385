//! `spequlos sweep` and `spequlos merge`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::progress::Bar;
use anyhow::Result;
use clap::Args;
use spequlos_check::Limits;
use spequlos_experiments::runner::{self, Options, SweepError};
use spequlos_experiments::spec::{self, SweepSpec};

use crate::BadInput;

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Sweep specification (TOML).
    spec: PathBuf,
    /// Output directory (runs.csv, sweep.toml, sweep.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Worker threads (default: all cores). The output does not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
    /// Continue a sweep in --out, skipping the runs it already holds.
    #[arg(long)]
    resume: bool,
    /// Run only the k-th of n disjoint slices (1-based), e.g. --shard 2/8; join the outputs with
    /// `spequlos merge`.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u32, u32)>,
    /// Print the run count and the axes, run nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Output directory for the merged sweep.
    out: PathBuf,
    /// Shard output directories.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
}

fn parse_shard(s: &str) -> anyhow::Result<(u32, u32)> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("`{s}` is not k/n (e.g. 2/8)"))?;
    let number = |x: &str| {
        x.parse::<u32>()
            .map_err(|_| anyhow::anyhow!("`{x}` is not a number"))
    };
    let (k, n) = (number(k)?, number(n)?);
    anyhow::ensure!(n > 0 && k > 0 && k <= n, "shard {k}/{n}: need 1 <= k <= n");
    Ok((k, n))
}

fn sweep_error(e: SweepError) -> anyhow::Error {
    match e {
        SweepError::Input(m) => BadInput::new(m).into(),
        other => other.into(),
    }
}

pub fn sweep(a: SweepArgs, quiet: bool, limits: &Limits) -> Result<()> {
    let text = std::fs::read_to_string(&a.spec)
        .map_err(|e| BadInput::new(format!("{}: {e}", a.spec.display())))?;
    let spec: SweepSpec =
        toml::from_str(&text).map_err(|e| BadInput::new(format!("{}: {e}", a.spec.display())))?;
    let plan = spec::expand_within(&spec, limits)
        .map_err(|e| BadInput::new(format!("{}: {e}", a.spec.display())))?;
    if a.dry_run {
        runner::check_inputs(&plan).map_err(sweep_error)?;
        let baselines = plan.jobs.len();
        println!(
            "{}: {} runs ({} baselines, {} SpeQuloS runs)",
            spec.name,
            plan.runs,
            baselines,
            plan.runs as usize - baselines
        );
        for (name, values) in &plan.axes {
            println!("  {name:<12} {} × [{}]", values.len(), values.join(", "));
        }
        return Ok(());
    }
    let out = a
        .out
        .ok_or_else(|| BadInput::new("--out DIR is required (or use --dry-run)"))?;
    let threads = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C while draining kills the process the usual way.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let total: u64 = plan
        .jobs
        .iter()
        .filter(|j| runner::in_shard(j, a.shard))
        .map(|j| j.runs.len() as u64)
        .sum();
    let bar = Bar::runs(quiet, &spec.name, total);
    let started = Instant::now();
    let progress = |n: u64| bar.inc(n);
    let opts = Options {
        threads,
        resume: a.resume,
        shard: a.shard,
        progress: &progress,
        stop: &stop,
        limits: *limits,
    };
    let summary = runner::run(&text, &spec, &plan, &out, &opts).map_err(sweep_error)?;
    bar.finish();
    let secs = started.elapsed().as_secs_f64();
    if !quiet {
        eprintln!(
            "{}: {} runs simulated, {} already done, in {:.1} s ({:.1} runs/s, {} threads) -> {}",
            spec.name,
            summary.simulated,
            summary.skipped,
            secs,
            summary.simulated as f64 / secs.max(1e-9),
            threads,
            out.join("runs.csv").display()
        );
    }
    if summary.interrupted {
        eprintln!("interrupted: runs.csv holds every finished run; continue with --resume");
        std::process::exit(130);
    }
    Ok(())
}

pub fn merge(a: MergeArgs, quiet: bool) -> Result<()> {
    let n = runner::merge(&a.out, &a.dirs).map_err(sweep_error)?;
    if !quiet {
        eprintln!(
            "merged {n} runs from {} directories into {}",
            a.dirs.len(),
            a.out.display()
        );
    }
    Ok(())
}
