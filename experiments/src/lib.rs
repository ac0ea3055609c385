//! Parameter sweeps, aggregation and figures. Heavy crates (polars, plotters) will live here
//! and nowhere else. Lands with the sweeps issue.
