//! `spequlos validate`: the cross-validation with the authors' early simulator
//! (`spequlos_experiments::validation`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use spequlos_check::Limits;
use spequlos_experiments::validation::{self, Mode, ModelOption, Seeds};

use crate::progress::Bar;
use crate::BadInput;

/// Marks a directory as ours to rewrite.
const MARKER: &str = ".spequlos-peer-inputs";

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Where to write the shared inputs (1000 `.tr` traces in `tr/`, `jobs.txt`): a new
    /// directory, or one this command wrote before.
    #[arg(long, default_value = "peer-inputs")]
    inputs: PathBuf,
    /// Seeds per configuration where the Cloud decides the tail (R, D).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    seeds: u64,
    /// Seeds per configuration where the random ON offsets decide it (none, F): each run is
    /// one draw from a wide distribution, and the peer's one run is placed in ours.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    offset_seeds: u64,
}

pub fn run(a: ValidateArgs, quiet: bool, limits: &Limits) -> Result<()> {
    let dir = &a.inputs;
    if dir.exists() && !dir.join(MARKER).exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        if !empty {
            return Err(BadInput::new(format!(
                "{}: exists and was not written by `spequlos validate`; nothing was touched \
                 (give --inputs a new directory)",
                dir.display()
            ))
            .into());
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "inputs of `spequlos validate`\n")
        .with_context(|| format!("writing {}", dir.display()))?;
    let inputs = validation::write_inputs(dir, 1000, 1000)
        .with_context(|| format!("writing the inputs into {}", dir.display()))?;
    if !quiet {
        eprintln!(
            "inputs: {} hosts, {} ON intervals, mean availability {:.6} (gen_inputs.py: 108570, 0.700588), in {}",
            inputs.hosts,
            inputs.on_intervals,
            inputs.mean_availability,
            dir.display()
        );
    }
    let modes: Vec<Mode> = [Mode::Original, Mode::Default]
        .into_iter()
        .chain(ModelOption::ALL.map(Mode::Without))
        .collect();
    let seeds = Seeds {
        cloud: a.seeds,
        offsets: a.offset_seeds,
    };
    let bar = Bar::runs(quiet, "runs", modes.len() as u64 * seeds.runs());
    let mut tables = Vec::new();
    for mode in modes {
        tables.push(
            validation::run_all(&inputs, seeds, mode, limits, || bar.inc(1))
                .map_err(|e| BadInput::new(e.to_string()))?,
        );
    }
    bar.finish();
    println!("Original mode (`sim/scenarios/original*.toml`):\n");
    print!("{}", validation::table(&tables[0], true));
    println!("\nDefault mode (every model option at spequlos's default, same inputs):\n");
    print!("{}", validation::table(&tables[1], false));
    println!(
        "\nEach model option alone set back to its default, from original mode: change of mean \
         t_done / mean credits (– none):\n"
    );
    print!("{}", validation::ablation_table(&tables[0], &tables[2..]));
    Ok(())
}
