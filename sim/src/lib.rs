//! Deterministic discrete-event simulator of desktop grids (BOINC, XWHEP) replaying host
//! availability traces, with SpeQuloS deciding through `spequlos-core` exactly as the live
//! runtime does.
//!
//! - [`engine`]: the event queue and its ordering contract;
//! - [`scenario`]: typed scenario files;
//! - [`workload`]: BoT workloads; [`stream`]: several users' BoTs arriving on one grid;
//! - [`world`]: the event loop, volunteers replaying their trace, executions;
//! - [`middleware`]: one model per middleware server ([`middleware::boinc`],
//!   [`middleware::xwhep`]);
//! - `polling`: the idle-polling shortcut; `cloud`: the Scheduler and the Cloud workers;
//! - [`fork`]: a baseline and its SpeQuloS runs simulated once up to where they part;
//! - [`run`]: a SpeQuloS run paired with its baseline, and the figures that compare them.

mod cloud;
pub mod engine;
pub mod fork;
pub mod ideal;
pub mod middleware;
pub mod output;
mod polling;
pub mod run;
pub mod scenario;
pub mod stream;
mod taskset;
pub mod workload;
pub mod world;

pub use run::{run_pair, PairOutput};
pub use scenario::Scenario;

#[cfg(test)]
mod tests;
