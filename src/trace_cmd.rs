//! `spequlos trace gen|stats|convert|presets`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use spequlos_check::Limits;
use spequlos_traces::gen::{self, GeneratorConfig, SpeedModel};
use spequlos_traces::{presets, stats, Format, ReadOptions, Trace};

use crate::progress::Bar;
use crate::units::{format_epoch, parse_duration, Window, WindowStart};
use crate::BadInput;

#[derive(Debug, Subcommand)]
pub enum TraceCmd {
    /// Generate a synthetic availability trace from a preset or a config file.
    Gen(GenArgs),
    /// Print statistics of a trace: availability, interval quantiles, MTBF/MTTR, hosts online.
    Stats(StatsArgs),
    /// Convert a trace to another format, optionally windowed and subset.
    Convert(ConvertArgs),
    /// List the generator presets with their sources and assumptions.
    Presets,
}

/// Output formats (FTA is read-only).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutFormat {
    Csv,
    Simgrid,
    Tr,
    /// One binary file, `trace.bin`: the fastest to load.
    Bin,
}

impl From<OutFormat> for Format {
    fn from(f: OutFormat) -> Format {
        match f {
            OutFormat::Csv => Format::Csv,
            OutFormat::Simgrid => Format::Simgrid,
            OutFormat::Tr => Format::Tr,
            OutFormat::Bin => Format::Bin,
        }
    }
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Named preset (see `spequlos trace presets`).
    #[arg(long, conflicts_with = "config", required_unless_present = "config")]
    preset: Option<String>,
    /// Generator configuration file (TOML; start from `--print-config`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Number of hosts.
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// Length of the trace in days.
    #[arg(long, default_value_t = 7.0)]
    days: f64,
    /// Seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory.
    #[arg(short, long, required_unless_present = "print_config")]
    out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: OutFormat,
    /// Draw host speeds from this file (one number of operations/s per line) instead of the
    /// preset's speed model.
    #[arg(long)]
    speed_file: Option<PathBuf>,
    /// Print the configuration as TOML and exit (edit it and pass it with --config).
    #[arg(long)]
    print_config: bool,
    /// Replace the output directory if it exists (by default a non-empty one is refused).
    #[arg(long)]
    force: bool,
}

/// Which trace to read and which part of it to keep.
#[derive(Debug, Args)]
pub struct Selection {
    /// Force the input format instead of detecting it.
    #[arg(long, value_parser = parse_format)]
    format: Option<Format>,
    /// Reject overlapping intervals instead of merging them.
    #[arg(long)]
    strict: bool,
    /// Trace span when the input does not give it (e.g. looping SimGrid profiles): 7d, 36h...
    #[arg(long, value_parser = parse_duration)]
    span: Option<i64>,
    /// Keep only `START:LEN` (durations like 2d:7d; `@EPOCH:LEN` for an absolute start).
    #[arg(long)]
    window: Option<Window>,
    /// Keep the first N hosts.
    #[arg(long, conflicts_with_all = ["sample", "ids"])]
    hosts: Option<usize>,
    /// Keep N hosts drawn at random with --seed.
    #[arg(long, conflicts_with = "ids")]
    sample: Option<usize>,
    /// Keep the hosts with these ids (comma-separated), in that order.
    #[arg(long, value_delimiter = ',')]
    ids: Option<Vec<u64>>,
    /// Seed for --sample.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Trace file or directory.
    path: PathBuf,
    #[command(flatten)]
    sel: Selection,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input trace file or directory.
    input: PathBuf,
    /// Output directory.
    output: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    to: OutFormat,
    #[command(flatten)]
    sel: Selection,
    /// Replace the output directory if it exists (by default a non-empty one is refused).
    #[arg(long)]
    force: bool,
}

/// Writes `trace` into a new directory, or replaces it with `force`.
fn write_out(trace: &Trace, out: &Path, format: Format, force: bool) -> Result<()> {
    if force {
        spequlos_traces::write_replacing(trace, out, format)?;
    } else {
        spequlos_traces::write(trace, out, format)?;
    }
    Ok(())
}

fn parse_format(s: &str) -> Result<Format, spequlos_traces::io::UnknownFormat> {
    s.parse()
}

pub fn run(cmd: TraceCmd, quiet: bool, limits: &Limits) -> Result<()> {
    match cmd {
        TraceCmd::Gen(a) => gen_cmd(a, quiet, limits),
        TraceCmd::Stats(a) => stats_cmd(a, quiet, limits),
        TraceCmd::Convert(a) => convert_cmd(a, quiet, limits),
        TraceCmd::Presets => {
            for p in presets::all() {
                println!(
                    "{}\n  {}\n  {}\n",
                    p.name,
                    p.summary,
                    textwrap(p.provenance, 96, "  ")
                );
            }
            Ok(())
        }
    }
}

fn gen_cmd(a: GenArgs, quiet: bool, limits: &Limits) -> Result<()> {
    let mut config: GeneratorConfig = match (&a.preset, &a.config) {
        (Some(name), _) => presets::get(name).ok_or_else(|| {
            BadInput::new(format!(
                "unknown preset `{name}` (known: {})",
                presets::names().join(", ")
            ))
        })?,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| BadInput::new(format!("{}: {e}", path.display())))?;
            toml::from_str(&text).map_err(|e| BadInput::new(format!("{}: {e}", path.display())))?
        }
        (None, None) => unreachable!("clap requires one of them"),
    };
    if let Some(path) = &a.speed_file {
        config.speed = SpeedModel::Empirical {
            values: read_speeds(path)?,
        };
    }
    if a.print_config {
        print!(
            "{}",
            toml::to_string_pretty(&config).context("serialising the configuration")?
        );
        return Ok(());
    }
    if !(a.days > 0.0 && a.days <= 36500.0) {
        return Err(BadInput::new(format!("--days must be in (0, 36500], got {}", a.days)).into());
    }
    let source = match (&a.preset, &a.config) {
        (Some(name), _) => format!("preset `{name}`"),
        (None, Some(path)) => path.display().to_string(),
        (None, None) => String::new(),
    };
    config.validate().with_context(|| source.clone())?;
    config.check_limits(
        &format!("trace gen ({} hosts, {} days)", a.hosts, a.days),
        a.hosts,
        a.days,
        limits,
    )?;
    let span = (a.days * 86400.0).round() as i64;
    let bar = Bar::items(quiet, "generating hosts");
    let trace = gen::generate(&config, a.hosts, span, a.seed, &bar).map_err(|e| match e {
        gen::GenError::Field(f) => anyhow::Error::new(f).context(source.clone()),
        gen::GenError::Trace(t) => anyhow::Error::new(t),
    })?;
    bar.finish();
    let out = a.out.expect("clap requires --out");
    write_out(&trace, &out, a.format.into(), a.force)?;
    if !quiet {
        eprintln!(
            "wrote {} hosts, {} intervals over {} days to {} ({})",
            trace.host_count(),
            trace.interval_count(),
            a.days,
            out.display(),
            Format::from(a.format)
        );
    }
    Ok(())
}

fn read_speeds(path: &Path) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BadInput::new(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match l.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => out.push(v),
            _ => {
                return Err(BadInput::new(format!(
                    "{}:{}: speed: expected a positive number of operations/s, found `{l}`",
                    path.display(),
                    i + 1
                ))
                .into())
            }
        }
    }
    if out.is_empty() {
        return Err(BadInput::new(format!("{}: no speed in the file", path.display())).into());
    }
    Ok(out)
}

/// Reads and selects, printing what the reader adjusted.
fn load(path: &Path, sel: &Selection, quiet: bool, limits: &Limits) -> Result<Trace> {
    let bar = Bar::bytes(quiet, "reading");
    let opts = ReadOptions {
        format: sel.format,
        strict: sel.strict,
        span: sel.span,
        max_intervals: limits.intervals,
        progress: &bar,
        ..Default::default()
    };
    let (mut trace, report) = spequlos_traces::read(path, &opts)?;
    bar.finish();
    if !quiet {
        for note in report.notes() {
            eprintln!("note: {}: {note}", path.display());
        }
    }
    if let Some(w) = sel.window {
        let start = match w.start {
            WindowStart::Relative(s) => s,
            WindowStart::Epoch(e) => match trace.meta.origin {
                Some(o) => e - o,
                None => {
                    return Err(BadInput::new(format!(
                    "--window @{e}: the trace has no known origin; give the start relative to it"
                ))
                    .into())
                }
            },
        };
        if start < 0 {
            bail!(BadInput::new(format!(
                "--window starts {} s before the trace origin",
                -start
            )));
        }
        trace = trace.window(start, w.len)?;
    }
    if let Some(n) = sel.hosts {
        trace = trace.first_hosts(n);
    } else if let Some(n) = sel.sample {
        trace = trace.sample_hosts(n, sel.seed);
    } else if let Some(ids) = &sel.ids {
        trace = trace.select_ids(ids)?;
    }
    if trace.host_count() == 0 {
        return Err(BadInput::new("the selection keeps no host").into());
    }
    Ok(trace)
}

fn stats_cmd(a: StatsArgs, quiet: bool, limits: &Limits) -> Result<()> {
    let trace = load(&a.path, &a.sel, quiet, limits)?;
    let s = stats::compute(&trace);
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&s).context("serialising statistics")?
        );
        return Ok(());
    }
    let origin = match s.origin {
        Some(o) => format!("{} (epoch {o})", format_epoch(o)),
        None => "relative times (no epoch origin)".into(),
    };
    let q = |x: &stats::Summary| {
        format!(
            "n {:<8} mean {:>8.2}  p10 {:>8.3}  p50 {:>8.3}  p90 {:>8.2}",
            x.count, x.mean, x.p10, x.median, x.p90
        )
    };
    println!("trace              {} ({})", s.name, s.source);
    println!("origin             {origin}");
    println!(
        "span               {:.2} days ({} s)",
        s.span_days, s.span_s
    );
    println!(
        "hosts              {} ({} cores, mean speed {:.0} ops/s)",
        s.hosts, s.total_cores, s.mean_speed
    );
    println!("intervals          {}", s.intervals);
    let av = &s.availability;
    println!(
        "availability       mean {:.3}  median {:.3}  p10 {:.3}  p90 {:.3}",
        av.mean, av.median, av.p10, av.p90
    );
    println!("up intervals (h)   {}", q(&s.up_hours));
    println!("down intervals (h) {}", q(&s.down_hours));
    println!(
        "MTBF / MTTR        {:.2} h / {:.2} h   (uncensored intervals only)",
        s.mtbf_h, s.mttr_h
    );
    let ha = &s.hosts_available;
    println!(
        "hosts available    mean {:.1}  min {}  max {}",
        ha.mean, ha.min, ha.max
    );
    Ok(())
}

fn convert_cmd(a: ConvertArgs, quiet: bool, limits: &Limits) -> Result<()> {
    let trace = load(&a.input, &a.sel, quiet, limits)?;
    write_out(&trace, &a.output, a.to.into(), a.force)?;
    if !quiet {
        eprintln!(
            "wrote {} hosts, {} intervals to {} ({})",
            trace.host_count(),
            trace.interval_count(),
            a.output.display(),
            Format::from(a.to)
        );
    }
    Ok(())
}

fn textwrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            out.push_str(indent);
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}
