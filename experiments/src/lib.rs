//! Parameter sweeps over spequlos simulations, and their aggregation.
//!
//! - [`spec`]: sweep specifications and their expansion into runs;
//! - [`runner`]: parallel, resumable, shardable execution into `runs.csv`, and shard merging.
//!
//! Heavy crates (polars, plotters) live here and nowhere else.

pub mod runner;
pub mod spec;
