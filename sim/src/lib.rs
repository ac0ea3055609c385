//! Discrete-event simulator of desktop-grid middleware replaying availability traces.
//!
//! Calls `spequlos-core` exactly as the live runtime does. The engine lands with the
//! core + simulator issue.
