//! Host availability traces for desktop-grid simulation.
//!
//! - [`model`]: the compact trace model ([`Trace`], [`Host`], [`TraceBuilder`]);
//! - [`io`]: readers and writers for FTA, SimGrid profiles, the original simulator's `.tr`
//!   files and the native CSV layout;
//! - [`dist`] and [`gen`]: interval distributions and seeded synthetic generators, with the
//!   named [`presets`];
//! - [`stats`]: the figures `spequlos trace stats` prints.

pub mod dist;
pub mod error;
pub mod gen;
pub mod io;
pub mod model;
pub mod presets;
pub mod stats;

pub use error::{ReadReport, Result, TraceError};
pub use io::atomic::write_atomic;
pub use io::{read, write, write_replacing, Format, ReadOptions};
pub use model::{Host, Seconds, SourceFormat, Trace, TraceBuilder, TraceMeta};
