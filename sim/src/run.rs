//! One scenario = a SpeQuloS run paired with its baseline on the same trace window, workload
//! and seed. TRE and speedup come from the pair.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use spequlos_core::metrics::{self, PairMetrics};
use spequlos_core::{Oracle, Strategy};
use spequlos_traces::gen::generate_quiet;
use spequlos_traces::{presets, Format, ReadOptions, Trace, TraceError};

use crate::scenario::{Scenario, TraceSpec};
use crate::workload::TaskSpec;
use crate::world::{RunOutput, World};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("{0}")]
    Input(String),
}

/// Reads or generates the trace a scenario names.
pub fn load_trace(spec: &TraceSpec) -> Result<Trace, SimError> {
    let trace = match &spec.file {
        Some(file) => {
            let format = spec
                .format
                .as_deref()
                .map(str::parse::<Format>)
                .transpose()
                .map_err(|e| SimError::Input(format!("trace.format: {e}")))?;
            let opts = ReadOptions {
                format,
                span: spec.span,
                ..ReadOptions::default()
            };
            let (t, _) = spequlos_traces::read(Path::new(file), &opts)?;
            if spec.hosts > 0 {
                t.first_hosts(spec.hosts)
            } else {
                t
            }
        }
        None => {
            let cfg = presets::get(&spec.preset).ok_or_else(|| {
                SimError::Input(format!(
                    "trace.preset: unknown preset `{}` (known: {})",
                    spec.preset,
                    presets::names().join(", ")
                ))
            })?;
            if !(spec.days > 0.0 && spec.days.is_finite()) || spec.hosts == 0 {
                return Err(SimError::Input("trace: hosts and days must be > 0".into()));
            }
            generate_quiet(
                &cfg,
                spec.hosts,
                (spec.days * 86400.0).round() as i64,
                spec.seed,
            )
            .map_err(SimError::Input)?
        }
    };
    if spec.offset >= trace.meta.span as f64 {
        return Err(SimError::Input(format!(
            "trace.offset {} s is past the end of the trace ({} s)",
            spec.offset, trace.meta.span
        )));
    }
    Ok(trace)
}

/// The BoT's tasks, drawn from the run seed's workload stream.
pub fn tasks(sc: &Scenario) -> Result<Vec<TaskSpec>, SimError> {
    let mut rng = ChaCha8Rng::seed_from_u64(sc.seed);
    rng.set_stream(2);
    sc.workload.tasks(&mut rng).map_err(SimError::Input)
}

/// The Oracle's history key: one per (DG, middleware, strategy).
pub fn oracle_key(sc: &Scenario, strategy: Strategy) -> String {
    format!("{}/{}/{}", sc.trace.label(), sc.middleware.name(), strategy)
}

/// Simulates `sc` with `strategy` in place of its own.
pub fn run_one(
    sc: &Scenario,
    trace: &Trace,
    tasks: &[TaskSpec],
    oracle: &Oracle,
    strategy: Strategy,
) -> RunOutput {
    let mut s = sc.clone();
    s.strategy = strategy;
    let key = oracle_key(&s, strategy);
    World::new(&s, trace, tasks, oracle, key).run()
}

/// A baseline run and, unless the strategy is `none`, the SpeQuloS run it is compared with.
#[derive(Debug, Clone)]
pub struct PairOutput {
    pub baseline: RunOutput,
    pub speq: Option<RunOutput>,
    pub pair: Option<PairMetrics>,
}

pub fn run_pair(sc: &Scenario, trace: &Trace, oracle: &Oracle) -> Result<PairOutput, SimError> {
    sc.validate().map_err(SimError::Input)?;
    let tasks = tasks(sc)?;
    let baseline = run_one(sc, trace, &tasks, oracle, Strategy::None);
    let speq = (!sc.strategy.is_none()).then(|| run_one(sc, trace, &tasks, oracle, sc.strategy));
    let pair = speq
        .as_ref()
        .map(|s| metrics::pair(&baseline.metrics, &s.metrics));
    Ok(PairOutput {
        baseline,
        speq,
        pair,
    })
}
