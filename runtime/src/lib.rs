//! The live SpeQuloS service (Information, Credit System, Oracle, Scheduler) beside a real
//! desktop grid.
//!
//! - [`store`]: durable state in SQLite; the credit ledger is replayed through the core on
//!   open, so every start is an audit.
//!
//! The service loop, the BOINC adapter, the Cloud drivers and the HTTP API are still to come
//! (live-mode issue).

pub mod store;
