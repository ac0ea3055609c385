//! Test servers and demos for the live service — not production code, so not in the runtime
//! crate:
//!
//! - [`server`]: `spequlos testbed`, a BOINC-protocol test server that by default behaves as
//!   a real BOINC 1.6.2 server where that differs from a tidy one ([`Quirks`]), and
//!   [`ScriptedHost`], a scheduler-RPC client under a test's exact control;
//! - [`demo`]: `spequlos live --demo`, one BoT on the test server with real boinc-client
//!   volunteers replaying a time-scaled trace, without and with SpeQuloS.

pub mod demo;
mod http;
pub mod server;

pub use server::{Fault, JobTimes, Quirks, ScriptedHost, TestUser, Testbed, TestbedConfig};
