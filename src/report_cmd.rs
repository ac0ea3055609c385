//! `spequlos report` and `spequlos plot`: available when built with `--features report`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

#[cfg(not(feature = "report"))]
use crate::BadInput;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A sweep output directory (holding runs.csv).
    dir: PathBuf,
    /// Also write runs.parquet and summary.parquet.
    #[arg(long)]
    parquet: bool,
    /// Skip the figures.
    #[arg(long)]
    no_figures: bool,
}

#[derive(Debug, Subcommand)]
pub enum PlotCmd {
    /// Completion curves of a `spequlos sim --out` directory (timeline.png and .svg).
    Timeline {
        /// The directory `spequlos sim --out` wrote.
        dir: PathBuf,
    },
}

#[cfg(not(feature = "report"))]
fn unavailable() -> anyhow::Error {
    BadInput::new(
        "this spequlos was built without report support (polars, plotters); \
         rebuild with `cargo build --release --features report`",
    )
    .into()
}

#[cfg(feature = "report")]
pub fn report(a: ReportArgs, quiet: bool) -> Result<()> {
    use spequlos_experiments::report::{self, ReportError, ReportOptions};
    let opts = ReportOptions {
        parquet: a.parquet,
        figures: !a.no_figures,
    };
    let s = report::report(&a.dir, &opts).map_err(|e| match e {
        ReportError::Input(m) => crate::BadInput::new(m).into(),
        other => anyhow::Error::from(other),
    })?;
    if !quiet {
        eprintln!("{} runs in {} groups; wrote:", s.runs, s.groups);
        for f in &s.files {
            eprintln!("  {}", f.display());
        }
    }
    for f in &s.findings {
        let verdict = match f.holds {
            Some(true) => "holds",
            Some(false) => "does NOT hold",
            None => "not evaluable",
        };
        println!("{verdict:>14}: {} — {}", f.claim, f.measured);
    }
    Ok(())
}

#[cfg(not(feature = "report"))]
pub fn report(_: ReportArgs, _: bool) -> Result<()> {
    Err(unavailable())
}

#[cfg(feature = "report")]
pub fn plot(cmd: PlotCmd, quiet: bool) -> Result<()> {
    match cmd {
        PlotCmd::Timeline { dir } => {
            let files = spequlos_experiments::figures::timeline_figure(&dir)
                .map_err(|e| crate::BadInput::new(e.to_string()))?;
            if !quiet {
                for f in files {
                    eprintln!("wrote {}", f.display());
                }
            }
            Ok(())
        }
    }
}

#[cfg(not(feature = "report"))]
pub fn plot(_: PlotCmd, _: bool) -> Result<()> {
    Err(unavailable())
}
