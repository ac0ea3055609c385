//! The `spequlos` command line.
//!
//! Exit codes: 0 success, 2 bad input (malformed file, unknown option or value, impossible
//! request), 1 anything else (a full disk, a permission problem).

mod ledger_cmd;
mod live_cmd;
mod progress;
mod report_cmd;
mod scenario_doc;
mod sim_cmd;
mod stream_cmd;
mod stream_gen_cmd;
mod sweep_cmd;
mod trace_cmd;
mod units;
mod validate_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Quality of Service for Bag-of-Tasks on best-effort infrastructures: trace tools, simulator,
/// experiments and the live service.
#[derive(Debug, Parser)]
#[command(name = "spequlos", version, about, propagate_version = true)]
struct Cli {
    /// No progress bars and no notes on standard error.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Raise (or lower) a resource limit checked before work starts: host_days (hosts × days
    /// of trace, default 1e9), tasks (per BoT, 1e7), runs (per sweep, 1e7), intervals (of one
    /// trace, 5e8). Repeatable.
    #[arg(long = "limit", global = true, value_name = "NAME=VALUE")]
    limits: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Host availability traces: generate, inspect, convert.
    #[command(subcommand)]
    Trace(trace_cmd::TraceCmd),
    /// Simulate a BoT on a desktop grid, with and without SpeQuloS.
    Sim(sim_cmd::SimArgs),
    /// Write a synthetic stream of BoTs (Poisson arrivals, sizes, deadlines) for
    /// `sim --workload stream:FILE`.
    Stream(stream_gen_cmd::StreamArgs),
    /// Run a parameter sweep (many simulations, in parallel) into runs.csv.
    Sweep(sweep_cmd::SweepArgs),
    /// Join the outputs of sharded sweeps (`sweep --shard k/n`).
    Merge(sweep_cmd::MergeArgs),
    /// Aggregate a sweep: summary.csv, report.md and figures (needs --features report).
    Report(report_cmd::ReportArgs),
    /// Cross-validation with the authors' early simulator: regenerates the shared inputs,
    /// runs the original-mode scenarios over seeds and prints both programs' figures.
    Validate(validate_cmd::ValidateArgs),
    /// Figures of single runs (needs --features report).
    #[command(subcommand)]
    Plot(report_cmd::PlotCmd),
    /// The live service's credit ledger.
    #[command(subcommand)]
    Ledger(ledger_cmd::LedgerCmd),
    /// Run the SpeQuloS service beside BOINC projects (HTTP API, Scheduler, Cloud workers).
    Serve(live_cmd::ServeArgs),
    /// A BOINC-protocol test server (scheduler, files, submit RPC) for tests and demos.
    Testbed(live_cmd::TestbedArgs),
    /// The live stack end to end on real boinc-clients (`--demo`).
    Live(live_cmd::LiveArgs),
}

/// An error caused by what the user gave us; exits with code 2.
#[derive(Debug)]
pub struct BadInput(String);

impl BadInput {
    pub fn new(msg: impl Into<String>) -> BadInput {
        BadInput(msg.into())
    }
}

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<BadInput>()
            || cause.is::<spequlos_check::FieldError>()
            || cause.is::<spequlos_check::LimitError>()
        {
            return 2;
        }
        if let Some(t) = cause.downcast_ref::<spequlos_traces::TraceError>() {
            return if t.is_bad_input() { 2 } else { 1 };
        }
    }
    1
}

/// Commands that write their results to standard output end quietly when the reader goes
/// away (`spequlos sim | head`), as other Unix tools do: the default SIGPIPE action, which
/// Rust's runtime replaces with an error on every write. The servers keep ignoring it, so a
/// client closing its connection cannot kill them.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at start, before any thread exists; it only resets a signal action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(
        cli.command,
        Command::Serve(_) | Command::Testbed(_) | Command::Live(_)
    ) {
        default_sigpipe();
    }
    let mut limits = spequlos_check::Limits::default();
    for l in &cli.limits {
        if let Err(e) = limits.set(l) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Trace(cmd) => trace_cmd::run(cmd, cli.quiet, &limits),
        Command::Sim(args) => sim_cmd::run(args, cli.quiet, &limits),
        Command::Stream(args) => stream_gen_cmd::run(args),
        Command::Sweep(args) => sweep_cmd::sweep(args, cli.quiet, &limits),
        Command::Merge(args) => sweep_cmd::merge(args, cli.quiet),
        Command::Report(args) => report_cmd::report(args, cli.quiet),
        Command::Plot(cmd) => report_cmd::plot(cmd, cli.quiet),
        Command::Validate(args) => validate_cmd::run(args, cli.quiet, &limits),
        Command::Ledger(cmd) => ledger_cmd::run(cmd),
        Command::Serve(args) => live_cmd::serve(args, cli.quiet),
        Command::Testbed(args) => live_cmd::testbed(args, cli.quiet),
        Command::Live(args) => live_cmd::live(args, cli.quiet),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}
