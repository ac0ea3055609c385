//! The live SpeQuloS service (Information, Credit System, Oracle, Scheduler) beside a real
//! desktop grid.
//!
//! - [`store`]: durable state in SQLite; the credit ledger is replayed through the core on
//!   open, so every start is an audit; Cloud workers are recorded before they are started;
//! - [`cloud`]: the Cloud-driver boundary, the `command` driver, and start-up reconciliation;
//! - [`boinc`]: BOINC's remote job submission RPC, request bodies and lenient reply parsing;
//! - [`adapter`]: the DG boundary and the BOINC adapter (submit RPC over HTTP);
//! - [`information`]: what a DG's answers say about a BoT (copy resolution, back-off);
//! - [`turn`]: one Scheduler turn for one BoT, decided as data (pure);
//! - [`service`]: the Scheduler loop around the core's controller, and the shared state;
//! - [`api`]: the HTTP API and the original portal's scripts;
//! - [`client`] and [`local`]: real boinc-client processes, and the `local` Cloud driver;
//!
//! The BOINC-protocol test server and the demo are not production code: they live in the
//! `spequlos-testbed` crate.

pub mod adapter;
pub mod api;
pub mod boinc;
pub mod client;
pub mod cloud;
pub mod information;
pub mod local;
pub mod service;
pub mod store;
pub mod turn;
