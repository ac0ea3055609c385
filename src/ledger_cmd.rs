//! `spequlos ledger verify`: audits the credit ledger of a service's state file.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use spequlos_runtime::store::{self, StoreError};

use crate::BadInput;

#[derive(Debug, Subcommand)]
pub enum LedgerCmd {
    /// Replay every credit movement through the strategy core and check every balance.
    Verify {
        /// The service's SQLite state file.
        #[arg(long)]
        db: PathBuf,
    },
}

pub fn run(cmd: LedgerCmd) -> Result<()> {
    match cmd {
        LedgerCmd::Verify { db } => match store::verify(&db) {
            Ok(a) => {
                println!(
                    "ledger OK: {} entries, {} orders ({} open), {} credits charged",
                    a.entries, a.orders, a.open_orders, a.credits_charged
                );
                Ok(())
            }
            Err(e @ StoreError::Schema(..)) => Err(BadInput::new(e.to_string()).into()),
            Err(e) => Err(e.into()),
        },
    }
}
