//! Durable state of the live service, in SQLite.
//!
//! The ledger table is the log of every credit movement; account balances and orders are not
//! stored separately but rebuilt by replaying the log through the core [`Ledger`], so they can
//! never disagree with it, and opening a store *is* an audit. Each movement is validated by the
//! core first (no negative balance, no charge on a closed order) and then written in its own
//! transaction: a crash leaves either the whole movement or nothing.
//!
//! Users authenticate with bearer tokens, stored as SHA-256 digests only.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use spequlos_core::ledger::{Entry, EntryKind, LedgerError};
use spequlos_core::{BotKey, Credits, Ledger};

const SCHEMA_VERSION: i64 = 4;

const SAVE_ORACLE: &str = "INSERT INTO oracle (id, history) VALUES (1, ?1) \
                           ON CONFLICT (id) DO UPDATE SET history = excluded.history";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    admin INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('deposit', 'order', 'charge', 'refund')),
    user TEXT,
    batch TEXT,
    dg TEXT,
    worker INTEGER,
    amount INTEGER NOT NULL CHECK (amount >= 0)
);
";

/// Version 2: Cloud workers, recorded before they are started.
const SCHEMA_V2: &str = "
CREATE TABLE IF NOT EXISTS workers (
    name TEXT PRIMARY KEY,
    batch TEXT NOT NULL,
    dg TEXT NOT NULL,
    worker INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('starting', 'running', 'stopped', 'lost', 'failed')),
    updated REAL NOT NULL
);
";

/// Version 3: the service's per-BoT state (controller, progress, copies; JSON written in the
/// same transaction as the tick's ledger entries) and the Oracle's history.
const SCHEMA_V3: &str = "
CREATE TABLE IF NOT EXISTS bots (
    batch TEXT NOT NULL,
    dg TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (batch, dg)
);
CREATE TABLE IF NOT EXISTS oracle (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    history TEXT NOT NULL
);
";

/// Version 4: the BOINC accounts users linked (their key, sent to the DG to prove they own a
/// batch and to query it), and cancellations the Scheduler has yet to carry out.
const SCHEMA_V4: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    user TEXT NOT NULL,
    dg TEXT NOT NULL,
    authenticator TEXT NOT NULL,
    PRIMARY KEY (user, dg)
);
CREATE TABLE IF NOT EXISTS cancels (
    batch TEXT NOT NULL,
    dg TEXT NOT NULL,
    t REAL NOT NULL,
    PRIMARY KEY (batch, dg)
);
";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {err}", path.display())]
    Db { path: PathBuf, err: rusqlite::Error },
    #[error("{}: {}", .0.display(), .1)]
    Schema(PathBuf, String),
    /// A movement the core refuses (insufficient credits, closed order...): nothing written.
    #[error(transparent)]
    Refused(#[from] LedgerError),
    /// The stored log does not replay: the file was changed outside spequlos or is corrupt.
    #[error("{}: ledger entry {seq}: {why}", path.display())]
    Audit {
        path: PathBuf,
        seq: i64,
        why: String,
    },
    #[error("user `{0}` already exists")]
    UserExists(String),
    /// Tokens identify users, so two users cannot share one.
    #[error("that token is already in use")]
    TokenTaken,
}

/// A user as the API sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub admin: bool,
}

pub struct Store {
    path: PathBuf,
    conn: Connection,
    ledger: Ledger,
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// Opens (creating if needed) the store at `path` and replays its ledger.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = |err| StoreError::Db {
            path: path.to_path_buf(),
            err,
        };
        let conn = Connection::open(path).map_err(db)?;
        // WAL keeps readers off the writer's back; FULL sync makes each commit durable.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db)?;
        match version {
            0..=3 => {
                // Migrations run in order; each is idempotent.
                let tx = conn.unchecked_transaction().map_err(db)?;
                tx.execute_batch(SCHEMA).map_err(db)?;
                tx.execute_batch(SCHEMA_V2).map_err(db)?;
                tx.execute_batch(SCHEMA_V3).map_err(db)?;
                tx.execute_batch(SCHEMA_V4).map_err(db)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(db)?;
                tx.commit().map_err(db)?;
            }
            SCHEMA_VERSION => {}
            v => {
                return Err(StoreError::Schema(
                    path.to_path_buf(),
                    format!("schema version {v}, this spequlos knows {SCHEMA_VERSION}"),
                ))
            }
        }
        let ledger = replay(&conn, path)?;
        Ok(Store {
            path: path.to_path_buf(),
            conn,
            ledger,
        })
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |err| StoreError::Db {
            path: self.path.clone(),
            err,
        }
    }

    /// Adds a user who will authenticate with `token` (only its digest is kept).
    pub fn add_user(&self, name: &str, token: &str, admin: bool) -> Result<(), StoreError> {
        let exists: Option<String> = self
            .conn
            .query_row("SELECT name FROM users WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.db())?;
        if exists.is_some() {
            return Err(StoreError::UserExists(name.to_string()));
        }
        if self.authenticate(token)?.is_some() {
            return Err(StoreError::TokenTaken);
        }
        self.conn
            .execute(
                "INSERT INTO users (name, token_sha256, admin) VALUES (?1, ?2, ?3)",
                params![name, digest(token), admin],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The user a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>, StoreError> {
        self.conn
            .query_row(
                "SELECT name, admin FROM users WHERE token_sha256 = ?1",
                [digest(token)],
                |r| {
                    Ok(User {
                        name: r.get(0)?,
                        admin: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(self.db())
    }

    /// Applies a movement in memory (the core validates it), then writes the entry it made in
    /// one transaction. If the write fails, memory is rebuilt from the database.
    fn commit(
        &mut self,
        apply: impl FnOnce(&mut Ledger) -> Result<(), LedgerError>,
    ) -> Result<(), StoreError> {
        self.commit_with(apply, None, false, None)
    }

    /// Applies `apply` to the ledger and writes the entries it made, with a BoT's state if
    /// given (and, if `cancelled`, the removal of its cancellation request), in one
    /// transaction; on any failure nothing is written and memory is restored.
    fn commit_with(
        &mut self,
        apply: impl FnOnce(&mut Ledger) -> Result<(), LedgerError>,
        bot_state: Option<(&BotKey, &str)>,
        cancelled: bool,
        oracle: Option<&str>,
    ) -> Result<(), StoreError> {
        let first = self.ledger.entries().len();
        if let Err(e) = apply(&mut self.ledger) {
            // A refused movement may follow accepted ones: rebuild memory from the database
            // (the rare path; cloning the ledger on every movement would cost more).
            if self.ledger.entries().len() != first {
                self.ledger = replay(&self.conn, &self.path)?;
            }
            return Err(e.into());
        }
        let new: Vec<Entry> = self.ledger.entries()[first..].to_vec();
        let written = (|| -> rusqlite::Result<()> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for e in &new {
                insert(&tx, e)?;
            }
            if let Some((bot, state)) = bot_state {
                tx.execute(
                    "INSERT INTO bots (batch, dg, state) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (batch, dg) DO UPDATE SET state = excluded.state",
                    params![bot.batch, bot.dg, state],
                )?;
                if cancelled {
                    tx.execute(
                        "DELETE FROM cancels WHERE batch = ?1 AND dg = ?2",
                        params![bot.batch, bot.dg],
                    )?;
                }
            }
            if let Some(history) = oracle {
                tx.execute(SAVE_ORACLE, [history])?;
            }
            tx.commit()
        })();
        if let Err(err) = written {
            self.ledger = replay(&self.conn, &self.path)?;
            return Err(StoreError::Db {
                path: self.path.clone(),
                err,
            });
        }
        Ok(())
    }

    pub fn deposit(&mut self, t: f64, user: &str, amount: Credits) -> Result<(), StoreError> {
        self.commit(|l| l.deposit(t, user, amount))
    }

    pub fn order(
        &mut self,
        t: f64,
        user: &str,
        bot: &BotKey,
        amount: Credits,
    ) -> Result<(), StoreError> {
        self.commit(|l| l.order(t, user, bot, amount))
    }

    pub fn charge(
        &mut self,
        t: f64,
        bot: &BotKey,
        worker: u32,
        amount: Credits,
    ) -> Result<(), StoreError> {
        self.commit(|l| l.charge(t, bot, worker, amount))
    }

    /// Closes a finished BoT's order; returns the refund.
    pub fn close(&mut self, t: f64, bot: &BotKey) -> Result<Credits, StoreError> {
        let mut refund = 0;
        self.commit(|l| {
            refund = l.close(t, bot)?;
            Ok(())
        })?;
        Ok(refund)
    }
}

/// What one Scheduler turn of one BoT writes: its ledger movements and its new state.
impl Store {
    /// Applies `entries` (made by the core on a copy of the ledger) to the ledger, and writes
    /// them together with the BoT's serialized state in one transaction: after a crash the
    /// ledger and the Scheduler's state agree. Refused movements write nothing. A turn that
    /// carried out the BoT's cancellation (`cancelled`) removes the request in the same
    /// transaction, so a crash either redoes the whole cancellation or none of it.
    pub fn commit_tick(
        &mut self,
        entries: &[Entry],
        bot: &BotKey,
        state: &str,
        cancelled: bool,
        oracle: Option<&str>,
    ) -> Result<(), StoreError> {
        self.commit_with(
            |l| entries.iter().try_for_each(|e| l.apply(e)),
            Some((bot, state)),
            cancelled,
            oracle,
        )
    }

    /// Places (or tops up) an order and writes the BoT's state with it, in one transaction.
    pub fn order_with_state(
        &mut self,
        t: f64,
        user: &str,
        bot: &BotKey,
        amount: Credits,
        state: &str,
    ) -> Result<(), StoreError> {
        self.commit_with(
            |l| l.order(t, user, bot, amount),
            Some((bot, state)),
            false,
            None,
        )
    }

    /// Links `user` to the BOINC account with key `authenticator` on DG `dg` (replacing an
    /// earlier link).
    pub fn link_account(
        &self,
        user: &str,
        dg: &str,
        authenticator: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO accounts (user, dg, authenticator) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (user, dg) DO UPDATE SET authenticator = excluded.authenticator",
                params![user, dg, authenticator],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The key of the BOINC account `user` linked on `dg`.
    pub fn account(&self, user: &str, dg: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT authenticator FROM accounts WHERE user = ?1 AND dg = ?2",
                params![user, dg],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db())
    }

    /// Whether `name` is a user of the service.
    pub fn user_exists(&self, name: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT 1 FROM users WHERE name = ?1", [name], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(self.db())
    }

    /// Records that the order of `bot` is to be cancelled (kept if already requested).
    pub fn request_cancel(&self, t: f64, bot: &BotKey) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO cancels (batch, dg, t) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (batch, dg) DO NOTHING",
                params![bot.batch, bot.dg, t],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Cancellations not carried out yet.
    pub fn cancel_requests(&self) -> Result<Vec<BotKey>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT batch, dg FROM cancels ORDER BY dg, batch")
            .map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(BotKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db())
    }

    /// Every BoT's stored state, by key.
    pub fn bots(&self) -> Result<Vec<(BotKey, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT batch, dg, state FROM bots ORDER BY dg, batch")
            .map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    BotKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db())
    }

    pub fn oracle(&self) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT history FROM oracle WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(self.db())
    }

    /// The highest worker id ever recorded for `bot` (ids are never reused after a crash).
    pub fn max_worker_id(&self, bot: &BotKey) -> Result<Option<u32>, StoreError> {
        self.conn
            .query_row(
                "SELECT MAX(worker) FROM workers WHERE batch = ?1 AND dg = ?2",
                params![bot.batch, bot.dg],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|v| v.map(|w| w as u32))
            .map_err(self.db())
    }
}

fn insert(conn: &Connection, e: &Entry) -> rusqlite::Result<()> {
    let (kind, user, bot, worker): (&str, Option<&str>, Option<&BotKey>, Option<u32>) =
        match &e.kind {
            EntryKind::Deposit { user } => ("deposit", Some(user), None, None),
            EntryKind::Order { user, bot } => ("order", Some(user), Some(bot), None),
            EntryKind::Charge { bot, worker } => ("charge", None, Some(bot), Some(*worker)),
            EntryKind::Refund { user, bot } => ("refund", Some(user), Some(bot), None),
        };
    conn.execute(
        "INSERT INTO ledger (seq, t, kind, user, batch, dg, worker, amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            e.seq as i64,
            e.t,
            kind,
            user,
            bot.map(|b| b.batch.as_str()),
            bot.map(|b| b.dg.as_str()),
            worker,
            e.amount as i64
        ],
    )?;
    Ok(())
}

/// Rebuilds the ledger by replaying every stored entry through the core; any entry the core
/// refuses, or that replays to a different entry, is reported with its sequence number.
fn replay(conn: &Connection, path: &Path) -> Result<Ledger, StoreError> {
    let db = |err| StoreError::Db {
        path: path.to_path_buf(),
        err,
    };
    let mut stmt = conn
        .prepare("SELECT seq, t, kind, user, batch, dg, worker, amount FROM ledger ORDER BY seq")
        .map_err(db)?;
    type Row = (
        i64,
        f64,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        i64,
    );
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .map_err(db)?;
    let mut ledger = Ledger::default();
    for row in rows {
        let (seq, t, kind, user, batch, dg, worker, amount): Row = row.map_err(db)?;
        let audit = |why: String| StoreError::Audit {
            path: path.to_path_buf(),
            seq,
            why,
        };
        if seq != ledger.entries().len() as i64 {
            return Err(audit(format!(
                "expected sequence {}",
                ledger.entries().len()
            )));
        }
        let need = |v: Option<String>, what: &str| {
            v.ok_or_else(|| audit(format!("{kind} entry without {what}")))
        };
        let amount =
            Credits::try_from(amount).map_err(|_| audit(format!("negative amount {amount}")))?;
        let bot = || {
            Ok::<_, StoreError>(BotKey::new(
                need(batch.clone(), "batch")?,
                need(dg.clone(), "dg")?,
            ))
        };
        let kind = match kind.as_str() {
            "deposit" => EntryKind::Deposit {
                user: need(user, "user")?,
            },
            "order" => EntryKind::Order {
                user: need(user, "user")?,
                bot: bot()?,
            },
            "charge" => EntryKind::Charge {
                bot: bot()?,
                worker: worker
                    .and_then(|w| u32::try_from(w).ok())
                    .ok_or_else(|| audit("charge without worker".into()))?,
            },
            "refund" => EntryKind::Refund {
                user: need(user, "user")?,
                bot: bot()?,
            },
            other => return Err(audit(format!("unknown kind `{other}`"))),
        };
        let result = ledger.apply(&Entry {
            seq: seq as u64,
            t,
            kind,
            amount,
        });
        result.map_err(|e| audit(e.to_string()))?;
    }
    ledger.verify().map_err(|e| StoreError::Audit {
        path: path.to_path_buf(),
        seq: -1,
        why: e.to_string(),
    })?;
    Ok(ledger)
}

/// A Cloud worker as the store knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRecord {
    pub name: String,
    pub bot: BotKey,
    pub worker: u32,
    pub state: WorkerState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Recorded, start requested; the process may have died before knowing the outcome.
    Starting,
    Running,
    Stopped,
    /// Found gone at reconciliation.
    Lost,
    /// Its start did not happen.
    Failed,
}

impl WorkerState {
    fn as_str(self) -> &'static str {
        match self {
            WorkerState::Starting => "starting",
            WorkerState::Running => "running",
            WorkerState::Stopped => "stopped",
            WorkerState::Lost => "lost",
            WorkerState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<WorkerState> {
        [
            WorkerState::Starting,
            WorkerState::Running,
            WorkerState::Stopped,
            WorkerState::Lost,
            WorkerState::Failed,
        ]
        .into_iter()
        .find(|w| w.as_str() == s)
    }
}

impl Store {
    /// Records a worker about to be started (before the Cloud is asked, so that a crash in
    /// between leaves a trace to reconcile).
    pub fn record_worker(
        &self,
        t: f64,
        name: &str,
        bot: &BotKey,
        worker: u32,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO workers (name, batch, dg, worker, state, updated) VALUES (?1, ?2, ?3, ?4, 'starting', ?5)",
                params![name, bot.batch, bot.dg, worker, t],
            )
            .map_err(self.db())?;
        Ok(())
    }

    pub fn set_worker_state(
        &self,
        t: f64,
        name: &str,
        state: WorkerState,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE workers SET state = ?2, updated = ?3 WHERE name = ?1",
                params![name, state.as_str(), t],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Workers in one of `states`, by name.
    pub fn workers(&self, states: &[WorkerState]) -> Result<Vec<WorkerRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, batch, dg, worker, state FROM workers ORDER BY name")
            .map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(self.db())?;
        let mut out = Vec::new();
        for row in rows {
            let (name, batch, dg, worker, state) = row.map_err(self.db())?;
            let state = WorkerState::parse(&state).ok_or_else(|| {
                StoreError::Schema(
                    self.path.clone(),
                    format!("worker `{name}` has unknown state `{state}`"),
                )
            })?;
            if states.contains(&state) {
                out.push(WorkerRecord {
                    name,
                    bot: BotKey::new(batch, dg),
                    worker: worker as u32,
                    state,
                });
            }
        }
        Ok(out)
    }
}

/// A plain connection to a store file,for tools and tests that must bypass the store (for
/// instance to simulate tampering).
pub type RawConnection = Connection;

pub fn raw_connection(path: &Path) -> rusqlite::Result<RawConnection> {
    Connection::open(path)
}

/// What `spequlos ledger verify` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    pub entries: usize,
    pub orders: usize,
    pub open_orders: usize,
    pub credits_charged: Credits,
}

/// Replays the ledger of the store at `path` (read-only) and summarises it.
pub fn verify(path: &Path) -> Result<Audit, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Schema(
            path.to_path_buf(),
            "no such store".into(),
        ));
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|err| StoreError::Db {
            path: path.to_path_buf(),
            err,
        })?;
    let ledger = replay(&conn, path)?;
    Ok(Audit {
        entries: ledger.entries().len(),
        orders: ledger.orders().count(),
        open_orders: ledger.orders().filter(|(_, o)| o.open).count(),
        credits_charged: ledger.orders().map(|(_, o)| o.spent).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot(b: &str) -> BotKey {
        BotKey::new(b, "seti")
    }

    #[test]
    fn movements_survive_reopening_and_replay_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        {
            let mut s = Store::open(&path).unwrap();
            s.add_user("alice", "secret-token", false).unwrap();
            s.deposit(0.0, "alice", 100).unwrap();
            s.order(1.0, "alice", &bot("b1"), 60).unwrap();
            for w in 0..5 {
                s.charge(240.0, &bot("b1"), w, 1).unwrap();
            }
            assert_eq!(s.close(480.0, &bot("b1")).unwrap(), 55);
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.ledger().balance("alice"), 95);
        assert_eq!(s.ledger().entries().len(), 1 + 1 + 5 + 1);
        assert_eq!(
            s.authenticate("secret-token").unwrap(),
            Some(User {
                name: "alice".into(),
                admin: false
            })
        );
        assert_eq!(s.authenticate("wrong").unwrap(), None);
        let a = verify(&path).unwrap();
        assert_eq!(
            (a.entries, a.orders, a.open_orders, a.credits_charged),
            (8, 1, 0, 5)
        );
        // Only the digest of the token is stored.
        let raw: String = s
            .conn
            .query_row("SELECT token_sha256 FROM users", [], |r| r.get(0))
            .unwrap();
        assert_eq!(raw.len(), 64);
        assert!(!raw.contains("secret"));
    }

    #[test]
    fn refused_movements_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let mut s = Store::open(&path).unwrap();
        s.deposit(0.0, "bob", 10).unwrap();
        assert!(matches!(
            s.order(1.0, "bob", &bot("b"), 11),
            Err(StoreError::Refused(_))
        ));
        s.order(1.0, "bob", &bot("b"), 2).unwrap();
        s.charge(2.0, &bot("b"), 0, 2).unwrap();
        assert!(
            matches!(s.charge(3.0, &bot("b"), 0, 1), Err(StoreError::Refused(_))),
            "the order is empty"
        );
        assert!(matches!(
            s.charge(3.0, &bot("other"), 0, 1),
            Err(StoreError::Refused(_))
        ));
        drop(s);
        assert_eq!(verify(&path).unwrap().entries, 3);
        let s = Store::open(&path).unwrap();
        assert!(matches!(s.add_user("u", "t", true), Ok(())));
        assert!(matches!(
            s.add_user("u", "t2", false),
            Err(StoreError::UserExists(_))
        ));
    }

    #[test]
    fn a_version_1_store_is_migrated_with_its_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute("INSERT INTO ledger (seq, t, kind, user, amount) VALUES (0, 0.0, 'deposit', 'dave', 9)", [])
                .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.ledger().balance("dave"), 9);
        s.record_worker(0.0, "w", &bot("b"), 0).unwrap();
        assert_eq!(s.workers(&[WorkerState::Starting]).unwrap().len(), 1);
        let v: i64 = s
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[test]
    fn tampering_is_found_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        {
            let mut s = Store::open(&path).unwrap();
            s.deposit(0.0, "carol", 5).unwrap();
            s.order(0.0, "carol", &bot("b"), 5).unwrap();
            s.charge(1.0, &bot("b"), 0, 3).unwrap();
        }
        let conn = Connection::open(&path).unwrap();
        // Someone makes a charge bigger than the order.
        conn.execute("UPDATE ledger SET amount = 7 WHERE seq = 2", [])
            .unwrap();
        drop(conn);
        let err = verify(&path).unwrap_err().to_string();
        assert!(err.contains("s.sqlite") && err.contains("entry 2"), "{err}");
        assert!(
            Store::open(&path).is_err(),
            "a store that does not replay is not opened"
        );
    }

    #[test]
    fn a_cancellation_survives_reopening_until_the_tick_that_carries_it_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let b = bot("5");
        {
            let mut s = Store::open(&path).unwrap();
            s.deposit(1.0, "u", 10).unwrap();
            s.order_with_state(2.0, "u", &b, 4, "{}").unwrap();
            s.link_account("u", "dg", "key-1").unwrap();
            s.link_account("u", "dg", "key-2").unwrap();
            s.request_cancel(3.0, &b).unwrap();
            s.request_cancel(4.0, &b).unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.cancel_requests().unwrap(), vec![b.clone()]);
        assert_eq!(s.account("u", "dg").unwrap().as_deref(), Some("key-2"));
        assert_eq!(s.account("u", "other").unwrap(), None);
        // A turn that did not finish the BoT keeps the request; the one that did clears it
        // with its refund.
        s.commit_tick(&[], &b, "{}", false, None).unwrap();
        assert_eq!(s.cancel_requests().unwrap().len(), 1);
        let mut l = s.ledger().scratch(&b);
        l.close(5.0, &b).unwrap();
        let refund: Vec<Entry> = l.entries().to_vec();
        s.commit_tick(&refund, &b, "{\"done\":1}", true, Some("{\"h\":1}"))
            .unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        assert!(s.cancel_requests().unwrap().is_empty());
        assert_eq!(
            s.oracle().unwrap().as_deref(),
            Some("{\"h\":1}"),
            "the Oracle's history is in the turn's transaction"
        );
        assert_eq!(s.ledger().balance("u"), 10);
    }
}
