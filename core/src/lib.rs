//! The SpeQuloS strategy core.
//!
//! Pure by construction: no I/O, no wall clock, no global RNG. Time and observations come in,
//! decisions go out, so the simulator and the live runtime drive exactly the same logic.
//!
//! - [`strategy`]: strategy names (`9A-G-D`, ...);
//! - [`progress`]: what the Information module records about a BoT;
//! - [`trigger`]: when to deploy Cloud workers;
//! - [`controller`]: the Scheduler turn (deploy, size, stop, charge);
//! - [`usage`]: what a Cloud worker computes (Flat, Reschedule, Duplicate; first result wins);
//! - [`ledger`]: the Credit System;
//! - [`share`]: who gets a capped Cloud's free workers when several BoTs ask at once;
//! - [`oracle`]: completion-time prediction; [`admission`]: admitting deadline orders;
//! - [`metrics`]: completion, tail, TRE, speedup, Cloud share, prediction checks.

/// The configuration ranges every crate checks its files with (re-exported so the live
/// runtime depends on the core alone).
pub use spequlos_check as check;

pub mod admission;
pub mod controller;
pub mod ledger;
pub mod market;
pub mod metrics;
pub mod oracle;
pub mod params;
pub mod progress;
pub mod share;
pub mod strategy;
pub mod trigger;
pub mod usage;

pub use controller::{
    wait_for_open_copies, Activity, Decision, QosController, StopReason, WorkerId, WorkerReport,
};
pub use ledger::{BotKey, Credits, Ledger};
pub use metrics::{PairMetrics, RunMetrics};
pub use oracle::{Estimator, Oracle, OracleKey, OracleParams, Prediction};
pub use params::QosParams;
pub use progress::{BotProgress, Sample};
pub use share::SharePolicy;
pub use strategy::{Sizing, Strategy, Trigger, Usage};
