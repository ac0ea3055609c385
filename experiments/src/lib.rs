//! Parameter sweeps over spequlos simulations, and their aggregation.
//!
//! - [`spec`]: sweep specifications and their expansion into runs;
//! - [`runner`]: parallel, resumable, shardable execution into `runs.csv`, and shard merging;
//! - [`analysis`]: the Oracle's leave-one-out evaluation and the HPDC'12 findings;
//! - [`validation`]: the cross-validation with the authors' early simulator;
//! - `report` and `figures` (feature `report`): polars aggregation and plotters figures;
//!   `fairness`: a shared-grid sweep's per-user table and figures; `market`: its deadlines,
//!   credits and spot workers.
//!
//! Heavy crates (polars, plotters) live here, behind the `report` feature, and nowhere else.

pub mod analysis;
#[cfg(feature = "report")]
pub mod fairness;
#[cfg(feature = "report")]
pub mod figures;
#[cfg(feature = "report")]
pub mod market;
#[cfg(feature = "report")]
pub mod report;
pub mod runner;
pub mod spec;
pub mod validation;
