//! Deterministic discrete-event simulator of desktop grids (BOINC, XWHEP) replaying host
//! availability traces, with SpeQuloS deciding through `spequlos-core` exactly as the live
//! runtime does.
//!
//! - [`engine`]: the event queue and its ordering contract;
//! - [`scenario`]: typed scenario files;
//! - [`workload`]: BoT workloads;
//! - [`world`]: the middleware and volunteer models;
//! - [`run`]: a SpeQuloS run paired with its baseline, and the figures that compare them.

pub mod engine;
pub mod ideal;
pub mod output;
pub mod run;
pub mod scenario;
pub mod workload;
pub mod world;

pub use run::{run_pair, PairOutput};
pub use scenario::Scenario;

#[cfg(test)]
mod tests;
