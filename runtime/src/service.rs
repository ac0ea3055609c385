//! The SpeQuloS service (`spequlos serve`): Information, Credit System, Oracle and Scheduler in
//! one process, around the core's [`QosController`].
//!
//! Every tick, for every BoT under QoS: the Information module queries the DG (through a
//! [`DgAdapter`]), resolves duplicated jobs (first finished copy wins, the other is aborted)
//! and the Scheduler decides the turn ([`crate::turn::decide`], pure: progress recorded, the
//! core's controller and usage policy run on a copy of the BoT's state and a scratch ledger,
//! `Ledger::scratch`, holding the BoT's order only), carries the plan out through the Cloud
//! driver and the adapter, and commits the ledger movements together with the BoT's new state
//! (and the Oracle's history, when the BoT completed) in one transaction. A worker whose
//! start fails is dropped from that commit (never charged) and started again at the next
//! tick.
//!
//! The core works in BoT-relative seconds (0 = the order); the ledger keeps Unix times.
//! A DG that fails (unreachable, HTTP error, malformed reply) is retried with exponential
//! back-off; meanwhile running workers keep being charged and stopped on the last known state.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use spequlos_core::admission::{self, Admission};
use spequlos_core::check::{int, real, real_above, Checked, FieldError};
use spequlos_core::usage::Rotation;
use spequlos_core::{
    BotKey, BotProgress, Credits, Decision, Oracle, OracleKey, OracleParams, Prediction,
    QosController, QosParams, Strategy, Trigger, Usage, WorkerId, WorkerReport,
};

use crate::adapter::{As, BoincAdapter, BoincDg, DgAdapter, DgError};
use crate::boinc::{BatchState, InputFile, JobSpec, RpcError};
use crate::cloud::{self, CloudDriver, CommandConfig, CommandDriver};
use crate::information::{self, copy_name, Backoff, Observation};
use crate::local::{LocalConfig, LocalDriver};
use crate::store::{Store, StoreError};
use crate::turn::{self, CopyKind, CopyPlan, DgSeen, Plan, Seen};

fn default_db() -> PathBuf {
    PathBuf::from("spequlos.sqlite")
}
fn default_listen() -> String {
    "127.0.0.1:8765".into()
}
fn default_strategy() -> String {
    "9A-G-D".into()
}
fn default_poll() -> f64 {
    2.0
}
fn default_max_backoff() -> f64 {
    60.0
}

/// `spequlos serve --config FILE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(default = "default_db")]
    pub db: PathBuf,
    /// Address of the HTTP API (loopback by default).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Bearer token of the administrator (user and credit management).
    pub admin_token: String,
    /// Strategy constants; `params.tick` is the Scheduler period in seconds.
    #[serde(default)]
    pub params: QosParams,
    /// Strategy of orders that name none.
    #[serde(default = "default_strategy")]
    pub default_strategy: String,
    #[serde(default)]
    pub oracle: OracleParams,
    /// Seconds between the driver's maintenance calls.
    #[serde(default = "default_poll")]
    pub poll: f64,
    /// A failing DG is retried after 1 s, then twice as long each time, up to this many seconds.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: f64,
    #[serde(default)]
    pub boinc: Vec<BoincDg>,
    pub cloud: CloudConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "snake_case", deny_unknown_fields)]
pub enum CloudConfig {
    /// Cloud workers are boinc-client processes on this machine.
    Local(LocalConfig),
    /// Cloud workers are started, stopped and listed by command lines.
    Command(CommandConfig),
}

impl ServiceConfig {
    pub fn load(path: &std::path::Path) -> anyhow::Result<ServiceConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        // toml's messages give the line and column.
        let cfg: ServiceConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        cfg.validate()
            .map_err(|e| anyhow::Error::new(e).context(path.display().to_string()))?;
        Ok(cfg)
    }

    /// Checks every field against its range: `params` as [`QosParams::validate`], `poll` in
    /// (0, 3600] s, `max_backoff` in [1, 86400] s, `listen` an IP address and port,
    /// `admin_token` 8 to 512 printable characters, `default_strategy` a strategy; per DG
    /// (`boinc[i]`): `name` 1 to 64 characters of letters, digits, `-`, `_` and `.` (it is a
    /// path segment of the API) and unique, `url` http(s), `timeout` in (0, 600] s,
    /// `cloud_user_id` ≥ 1, keys 1 to 256 printable characters; the `local` driver's
    /// `boot_grace` and `ask_grace` in [0, 3600] s and `stop_grace` in [0, 600] s; the `command` driver's
    /// command lines non-empty.
    pub fn validate(&self) -> Checked {
        self.params.validate().map_err(|e| e.within("params"))?;
        real_above("poll", self.poll, 0.0, 3600.0, "s")?;
        real("max_backoff", self.max_backoff, 1.0, 86400.0, "s")?;
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(FieldError::new(
                "listen",
                format!("{:?}", clip(&self.listen)),
                "an IP address and port, such as 127.0.0.1:8765",
            ));
        }
        key("admin_token", &self.admin_token, 8, 512)?;
        if self.default_strategy.parse::<Strategy>().is_err() {
            return Err(FieldError::new(
                "default_strategy",
                format!("{:?}", clip(&self.default_strategy)),
                "a strategy such as 9A-G-D or none",
            ));
        }
        let mut names = BTreeSet::new();
        for (i, d) in self.boinc.iter().enumerate() {
            let within = |e: FieldError| e.within(&format!("boinc[{i}]"));
            let name_ok = (1..=64).contains(&d.name.len())
                && d.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !name_ok {
                return Err(within(FieldError::new(
                    "name",
                    format!("{:?}", clip(&d.name)),
                    "1 to 64 letters, digits, `-`, `_` or `.`",
                )));
            }
            if !names.insert(&d.name) {
                return Err(within(FieldError::new(
                    "name",
                    &d.name,
                    "unique (this DG is configured twice)",
                )));
            }
            if !(d.url.starts_with("http://") || d.url.starts_with("https://"))
                || d.url.len() > 2048
            {
                return Err(within(FieldError::new(
                    "url",
                    format!("{:?}", clip(&d.url)),
                    "an http:// or https:// URL",
                )));
            }
            real_above("timeout", d.timeout, 0.0, 600.0, "s").map_err(within)?;
            if d.copy_delay_bound != 0.0 {
                real(
                    "copy_delay_bound",
                    d.copy_delay_bound,
                    10.0,
                    2_592_000.0,
                    "s",
                )
                .map_err(within)?;
            }
            int(
                "cloud_user_id",
                d.cloud_user_id.max(0) as u64,
                1,
                i64::MAX as u64,
            )
            .map_err(within)?;
            key("authenticator", &d.authenticator, 1, 256).map_err(within)?;
            key("cloud_authenticator", &d.cloud_authenticator, 1, 256).map_err(within)?;
        }
        match &self.cloud {
            CloudConfig::Local(l) => {
                let within = |e: FieldError| e.within("cloud");
                real("boot_grace", l.boot_grace, 0.0, 3600.0, "s").map_err(within)?;
                real("stop_grace", l.stop_grace, 0.0, 600.0, "s").map_err(within)?;
                real("ask_grace", l.ask_grace, 0.0, 3600.0, "s").map_err(within)?;
            }
            CloudConfig::Command(c) => c.validate().map_err(|e| e.within("cloud"))?,
        }
        Ok(())
    }
}

/// At most 64 characters of a value, to echo it in an error.
pub(crate) fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A secret: `lo` to `hi` printable ASCII characters. The error never shows it.
fn key(field: &str, v: &str, lo: usize, hi: usize) -> Checked {
    if (lo..=hi).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("({} characters, not shown)", v.chars().count()),
            format!("{lo} to {hi} printable ASCII characters without spaces"),
        ))
    }
}

/// A job as the submitter described it, kept so Cloud Duplication can copy it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDesc {
    pub name: String,
    #[serde(default)]
    pub command_line: String,
    #[serde(default)]
    pub inputs: Vec<InputFile>,
    #[serde(default = "default_fpops")]
    pub rsc_fpops_est: f64,
}

fn default_fpops() -> f64 {
    1e9
}

/// The Cloud copies of a BoT's jobs: Cloud Duplication's one batch, or one batch per
/// Reschedule round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Copies {
    /// The copies batch, or the first round's.
    pub batch_id: i64,
    /// Reschedule: the batches of the later rounds.
    #[serde(default)]
    pub more: Vec<i64>,
    /// Jobs (originals or copies) aborted because the other one finished first.
    pub aborted: BTreeSet<String>,
    /// The duplication attempt that made the batch (it names the copies, see
    /// [`copy_name`]).
    #[serde(default)]
    pub attempt: u32,
}

impl Copies {
    /// The copies of a BoT whose first batch is `batch_id`, made in duplication `attempt`.
    pub fn new(batch_id: i64, attempt: u32) -> Copies {
        Copies {
            batch_id,
            more: Vec::new(),
            aborted: BTreeSet::new(),
            attempt,
        }
    }

    /// Every batch of copies, the first first.
    pub fn batches(&self) -> impl Iterator<Item = i64> + '_ {
        std::iter::once(self.batch_id).chain(self.more.iter().copied())
    }

    /// Original jobs whose copy finished first (so only the copies batch has their output).
    pub fn won(&self) -> impl Iterator<Item = &str> {
        self.aborted
            .iter()
            .map(String::as_str)
            .filter(|n| !information::is_copy(n))
    }
}

/// Everything the service knows about one BoT; stored as JSON, written with the tick's
/// ledger movements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotState {
    pub key: BotKey,
    pub user: String,
    pub strategy: String,
    /// Unix time of the order: the BoT's time origin.
    pub submitted_at: f64,
    pub controller: QosController,
    pub progress: BotProgress,
    pub jobs: Vec<JobDesc>,
    pub copies: Option<Copies>,
    pub duplicate_pending: bool,
    pub seen_assigned: u32,
    pub seen_completed: u32,
    /// BoT-relative completion time.
    pub completed_at: Option<f64>,
    pub finished: bool,
    pub last_error: Option<String>,
    /// The Oracle's prediction at the last tick (BoT-relative seconds).
    #[serde(default)]
    pub prediction: Option<Prediction>,
    /// The DG account the batch belongs to, whose key reads it and aborts its jobs.
    #[serde(default)]
    pub owner: Owner,
    /// The next duplication attempt: a submission that left jobs behind is cleaned up and
    /// made again under new names.
    #[serde(default)]
    pub copy_attempt: u32,
    /// Open copies at the last successful observation (kept while the DG cannot be read, so
    /// a worker waiting for a lost copy is not stopped meanwhile).
    #[serde(default)]
    pub copies_open: u32,
    /// The order was cancelled (and its remaining credits refunded) before completion.
    #[serde(default)]
    pub cancelled: bool,
    /// Reschedule: where the core's rotation over the running jobs stands.
    #[serde(default)]
    pub rotation: Rotation,
    /// BoT-relative seconds by which the user asked it complete (the last order's deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<f64>,
}

/// Who owns a BoT's batch on its DG. See docs/boinc.md, "Who may order for a batch".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// The service's submitting account (the operator submitted it; the admin ordered).
    #[default]
    Service,
    /// The BOINC account the ordering user linked on that DG.
    User,
}

impl BotState {
    /// A BoT just ordered: `user` ordered `strategy` (named `name`) at Unix time
    /// `submitted_at`, describing `jobs` (what Reschedule and Duplication copy).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: BotKey,
        user: &str,
        name: &str,
        strategy: Strategy,
        params: QosParams,
        submitted_at: f64,
        jobs: Vec<JobDesc>,
        owner: Owner,
    ) -> BotState {
        BotState {
            controller: QosController::new(strategy, params, key.clone(), 0.0),
            key,
            user: user.to_string(),
            strategy: name.to_string(),
            submitted_at,
            progress: BotProgress::new(jobs.len() as u32),
            jobs,
            copies: None,
            duplicate_pending: false,
            seen_assigned: 0,
            seen_completed: 0,
            completed_at: None,
            finished: false,
            last_error: None,
            prediction: None,
            owner,
            cancelled: false,
            copy_attempt: 0,
            copies_open: 0,
            rotation: Rotation::default(),
            deadline: None,
        }
    }

    /// How the strategy uses Cloud workers (`None` without QoS).
    pub fn usage(&self) -> Option<Usage> {
        self.controller.strategy().usage()
    }

    /// The DG's history for this strategy: `dg/strategy`, the string stores already hold.
    pub fn oracle_key(&self) -> OracleKey {
        OracleKey::new(self.key.dg.clone(), self.controller.strategy())
    }

    /// The Oracle's prediction now (`now` in Unix seconds).
    pub fn predict(&self, oracle: &Oracle, now: f64) -> Option<Prediction> {
        let r = self.progress.completion();
        oracle.predict(&self.oracle_key(), r, now - self.submitted_at)
    }
}

/// What the API thread and the Scheduler share.
pub struct Shared {
    pub store: Store,
    pub bots: BTreeMap<BotKey, BotState>,
    pub oracle: Oracle,
    pub cfg: ServiceConfig,
    /// Orders whose cancellation the Scheduler has yet to carry out (kept in the store too).
    pub cancels: BTreeSet<BotKey>,
    /// The service's time, for the Scheduler and the API alike.
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("unknown DG `{0}`")]
    UnknownDg(String),
    #[error("field `batch`: a BOINC batch id is a positive whole number")]
    BadBatch,
    #[error("strategy: {0}")]
    Strategy(String),
    #[error(
        "strategy {0} copies jobs to Cloud workers (R, D) but the order gives no `jobs` to copy"
    )]
    NoJobs(String),
    #[error("batch `{0}` on `{1}` is finished")]
    Finished(String, String),
    #[error("the order belongs to `{0}`")]
    NotOwner(String),
    #[error("the order for batch `{0}` on `{1}` is being cancelled")]
    Cancelling(String, String),
    #[error(
        "no BOINC account of yours is linked on `{0}`: link the account that submitted the \
         batch first (PUT /api/users/NAME/accounts/{0})"
    )]
    NoAccount(String),
    #[error("`{1}` has no batch `{0}` of yours")]
    NoSuchBatch(String, String),
    #[error("batch `{0}` on `{1}` belongs to another BOINC account")]
    NotBatchOwner(String, String),
    #[error("batch `{0}` on `{1}` is {2}: there is nothing left to speed up")]
    BatchOver(String, String, &'static str),
    #[error("`{0}` refuses the BOINC account: {1}")]
    AccountRefused(String, String),
    /// The DG did not answer (or answered garbage): the order may be retried.
    #[error("`{0}` cannot be reached to check the batch; try again later")]
    DgUnavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The DG call an order for a new BoT waits for: the batch must exist, be in progress and
/// belong to the account the order names. Run it without holding the [`Shared`] lock.
#[derive(Debug, Clone)]
pub struct BatchCheck {
    pub dg: BoincDg,
    pub batch_id: i64,
    pub owner: Owner,
    /// The key of the user's linked account (for [`Owner::User`]).
    pub key: Option<String>,
}

/// The longest an API request waits for a DG (the API's own request deadline is 10 s).
pub const DG_CHECK_TIMEOUT: f64 = 5.0;

impl BatchCheck {
    /// Asks the DG; a refusal is named (no such batch, not the owner, over), a failure to
    /// answer is [`OrderError::DgUnavailable`] and the detail goes to `log`.
    pub fn run(&self, log: impl FnOnce(&str)) -> Result<Owner, OrderError> {
        let mut dg = self.dg.clone();
        dg.timeout = dg.timeout.min(DG_CHECK_TIMEOUT);
        let mut a = BoincAdapter::new(dg);
        let who = match (&self.owner, &self.key) {
            (Owner::User, Some(k)) => As::Owner(k),
            _ => As::Service,
        };
        let (batch, name) = (self.batch_id.to_string(), self.dg.name.clone());
        match a.query(who, self.batch_id) {
            Ok(info) => match info.state {
                BatchState::Aborted => Err(OrderError::BatchOver(batch, name, "aborted")),
                BatchState::Retired => Err(OrderError::BatchOver(batch, name, "retired")),
                BatchState::Complete => Err(OrderError::BatchOver(batch, name, "complete")),
                _ => Ok(self.owner),
            },
            Err(e) => Err(dg_refusal(e, batch, name, log)),
        }
    }
}

/// What a DG's refusal means for an order or a link.
fn dg_refusal(e: DgError, batch: String, dg: String, log: impl FnOnce(&str)) -> OrderError {
    match e {
        DgError::Rpc {
            err: RpcError::Server { msg, .. },
            ..
        } => {
            let m = msg.to_ascii_lowercase();
            if m.contains("no such batch") {
                OrderError::NoSuchBatch(batch, dg)
            } else if m.contains("not owner") {
                OrderError::NotBatchOwner(batch, dg)
            } else if m.contains("authenticator") || m.contains("submit access") {
                // BOINC's own short messages; nothing of ours is in them.
                OrderError::AccountRefused(dg, msg.chars().take(80).collect())
            } else {
                log(&format!("DG `{dg}` refused a check: {msg}"));
                OrderError::DgUnavailable(dg)
            }
        }
        e => {
            log(&format!("DG `{dg}` check failed: {e}"));
            OrderError::DgUnavailable(dg)
        }
    }
}

/// Checks with the DG that `authenticator` is a key it accepts for job submission.
pub fn check_account(
    dg: &BoincDg,
    authenticator: &str,
    log: impl FnOnce(&str),
) -> Result<(), OrderError> {
    let mut dg = dg.clone();
    dg.timeout = dg.timeout.min(DG_CHECK_TIMEOUT);
    let name = dg.name.clone();
    BoincAdapter::new(dg)
        .check_account(authenticator)
        .map_err(|e| dg_refusal(e, String::new(), name, log))
}

/// A first deployment by an assignment trigger (`9A`) before any job completed: on a project
/// whose hosts hoard (no `max_wus_in_progress`), "sent" is not "running", so the trigger fired
/// as soon as one host took the batch (docs/boinc.md, "Bounded hoarding").
pub(crate) fn hoarding_warning(st: &BotState) -> Option<String> {
    let Strategy::Qos {
        trigger: trigger @ Trigger::Assignment { percent },
        ..
    } = st.controller.strategy()
    else {
        return None;
    };
    let completion = Trigger::Completion { percent };
    (st.progress.completed() == 0).then(|| {
        format!(
            "{trigger} fired before any job completed ({} of {} jobs sent): if the project's \
             hosts hoard jobs (no max_wus_in_progress), order a completion trigger ({completion}) instead",
            st.progress.assigned(),
            st.progress.total()
        )
    })
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Where the service reads the time (Unix seconds): the wall clock in production, a clock the
/// test moves ([`ManualClock`]) when ticks, charges and deadlines are checked without waiting.
pub trait Clock: Send + Sync {
    fn now(&self) -> f64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> f64 {
        unix_now()
    }
}

/// A clock that moves only when told; clones share the time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<Mutex<f64>>);

impl ManualClock {
    pub fn at(t: f64) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(t)))
    }

    /// Moves the clock `dt` seconds on; returns the new time.
    pub fn advance(&self, dt: f64) -> f64 {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *g += dt;
        *g
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Shared {
    fn dg(&self, name: &str) -> Result<&BoincDg, OrderError> {
        self.cfg
            .boinc
            .iter()
            .find(|d| d.name == name)
            // The name is echoed back: never a megabyte of it.
            .ok_or_else(|| OrderError::UnknownDg(clip(name)))
    }

    /// Everything about an order that needs no DG: the DG is configured, the batch id well
    /// formed, a top-up comes from the BoT's owner and the BoT is still open, a new BoT's
    /// strategy parses (and has jobs to copy if it duplicates). Returns the DG check a new
    /// BoT still needs; `None` for a top-up. `by_admin`: the admin orders for `user`.
    pub fn plan_order(
        &self,
        user: &str,
        key: &BotKey,
        strategy: Option<&str>,
        jobs: &[JobDesc],
        by_admin: bool,
    ) -> Result<Option<BatchCheck>, OrderError> {
        let dg = self.dg(&key.dg)?;
        let batch_id = match key.batch.parse::<i64>() {
            Ok(b) if b > 0 && key.batch.len() <= 20 => b,
            _ => return Err(OrderError::BadBatch),
        };
        if let Some(b) = self.bots.get(key) {
            if b.finished {
                return Err(OrderError::Finished(key.batch.clone(), key.dg.clone()));
            }
            if b.user != user {
                return Err(OrderError::NotOwner(b.user.clone()));
            }
            if self.cancels.contains(key) {
                return Err(OrderError::Cancelling(key.batch.clone(), key.dg.clone()));
            }
            return Ok(None);
        }
        let name = strategy.unwrap_or(&self.cfg.default_strategy);
        let s: Strategy =
            name.parse()
                .map_err(|e: spequlos_core::strategy::StrategyParseError| {
                    OrderError::Strategy(e.to_string())
                })?;
        if matches!(s.usage(), Some(Usage::Duplicate | Usage::Reschedule)) && jobs.is_empty() {
            return Err(OrderError::NoJobs(name.to_string()));
        }
        // A user's own linked account proves ownership; without one, only the admin may
        // vouch for a batch of the service's account.
        let (owner, key_) = match self.store.account(user, &key.dg)? {
            Some(k) => (Owner::User, Some(k)),
            None if by_admin => (Owner::Service, None),
            None => return Err(OrderError::NoAccount(key.dg.clone())),
        };
        Ok(Some(BatchCheck {
            dg: dg.clone(),
            batch_id,
            owner,
            key: key_,
        }))
    }

    /// Admission control for an order of `credits` more credits on `key`, due `deadline`
    /// seconds after the BoT's first order: judged from the DG's history under the BoT's
    /// strategy, of BoTs of a similar size when `jobs` says the size. Call after
    /// [`Shared::plan_order`] accepted the order.
    pub fn admission(
        &self,
        key: &BotKey,
        strategy: Option<&str>,
        jobs: &[JobDesc],
        credits: Credits,
        deadline: f64,
    ) -> Admission {
        let (okey, total, tasks) = match self.bots.get(key) {
            Some(b) => {
                let ordered = self.store.ledger().order_of(key).map_or(0, |o| o.ordered);
                let size = b.progress.total();
                (
                    b.oracle_key(),
                    ordered.saturating_add(credits),
                    (size > 0).then_some(size),
                )
            }
            None => {
                let name = strategy.unwrap_or(&self.cfg.default_strategy);
                let s = name.parse::<Strategy>().unwrap_or(Strategy::None);
                let tasks = (!jobs.is_empty()).then(|| jobs.len().min(u32::MAX as usize) as u32);
                (OracleKey::new(key.dg.clone(), s), credits, tasks)
            }
        };
        let p = &self.oracle.params;
        admission::judge(
            &self.oracle.past(&okey, tasks),
            total,
            deadline,
            p.target_success,
            p.min_history,
        )
    }

    /// Places (or tops up) the QoS order of `user` for batch `batch` on `dg`, once
    /// [`Shared::plan_order`] passed and its DG check (if any) said the batch belongs to
    /// `owner`. The plan is checked again: another request may have come in between. A
    /// `deadline` (BoT-relative seconds) replaces the BoT's previous one.
    #[allow(clippy::too_many_arguments)]
    pub fn order(
        &mut self,
        now: f64,
        user: &str,
        key: &BotKey,
        credits: Credits,
        strategy: Option<&str>,
        jobs: Vec<JobDesc>,
        owner: Owner,
        deadline: Option<f64>,
    ) -> Result<(), OrderError> {
        let by_admin = owner == Owner::Service;
        self.plan_order(user, key, strategy, &jobs, by_admin)?;
        let state = match self.bots.get(key) {
            Some(b) => b.clone(),
            None => {
                let name = strategy.unwrap_or(&self.cfg.default_strategy).to_string();
                let s: Strategy =
                    name.parse()
                        .map_err(|e: spequlos_core::strategy::StrategyParseError| {
                            OrderError::Strategy(e.to_string())
                        })?;
                BotState::new(
                    key.clone(),
                    user,
                    &name,
                    s,
                    self.cfg.params.clone(),
                    now,
                    jobs,
                    owner,
                )
            }
        };
        let state = BotState {
            deadline: deadline.or(state.deadline),
            ..state
        };
        let json = serde_json::to_string(&state).expect("state serializes");
        self.store
            .order_with_state(now, user, key, credits, &json)?;
        self.bots.insert(key.clone(), state);
        Ok(())
    }

    /// Asks for the order of `key` to be cancelled; the Scheduler stops its workers and
    /// refunds what is left at its next turn.
    pub fn cancel(&mut self, now: f64, key: &BotKey) -> Result<(), OrderError> {
        match self.bots.get(key) {
            Some(b) if b.finished => Err(OrderError::Finished(key.batch.clone(), key.dg.clone())),
            Some(_) => {
                self.store.request_cancel(now, key)?;
                self.cancels.insert(key.clone());
                Ok(())
            }
            None => Err(OrderError::NoSuchBatch(key.batch.clone(), key.dg.clone())),
        }
    }

    /// The key of the account that owns `st`'s batch.
    fn owner_key(&self, st: &BotState) -> Option<String> {
        match st.owner {
            Owner::Service => None,
            Owner::User => self.store.account(&st.user, &st.key.dg).ok().flatten(),
        }
    }
}

/// The Scheduler side: adapters and the Cloud driver, used only by the service loop.
pub struct Service {
    shared: Arc<Mutex<Shared>>,
    adapters: BTreeMap<String, Box<dyn DgAdapter>>,
    driver: Box<dyn CloudDriver + Send>,
    backoff: Backoff,
    log: Box<dyn FnMut(&str) + Send>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why a tick learnt nothing new about a BoT.
#[derive(Debug, thiserror::Error)]
enum ObserveError {
    /// The DG failed recently: not asked again before its back-off passes (not logged again).
    #[error("backing off")]
    BackingOff,
    #[error("unknown DG `{0}`")]
    UnknownDg(String),
    #[error("batch `{0}` is not a BOINC batch id")]
    NotABatchId(String),
    #[error("{err} (retry in {retry_in:.0} s)")]
    Dg { err: DgError, retry_in: f64 },
}

impl Service {
    /// Opens the store, restores every BoT and the Oracle, and reconciles the Cloud with the
    /// committed Scheduler state: workers it counts as running are adopted, the others stopped.
    pub fn open(cfg: ServiceConfig, log: Box<dyn FnMut(&str) + Send>) -> anyhow::Result<Service> {
        Service::open_with_clock(cfg, log, Arc::new(WallClock))
    }

    /// As [`Service::open`], reading the time from `clock`.
    pub fn open_with_clock(
        cfg: ServiceConfig,
        log: Box<dyn FnMut(&str) + Send>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Service> {
        let adapters: BTreeMap<String, Box<dyn DgAdapter>> = cfg
            .boinc
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    Box::new(BoincAdapter::new(d.clone())) as Box<dyn DgAdapter>,
                )
            })
            .collect();
        let driver: Box<dyn CloudDriver + Send> = match &cfg.cloud {
            CloudConfig::Local(l) => {
                let projects = cfg
                    .boinc
                    .iter()
                    .map(|d| {
                        (
                            d.name.clone(),
                            (d.url.clone(), d.cloud_authenticator.clone()),
                        )
                    })
                    .collect();
                Box::new(LocalDriver::new(l.clone(), projects)?)
            }
            CloudConfig::Command(c) => Box::new(CommandDriver::new(c.clone())),
        };
        Self::with_parts(cfg, adapters, driver, log, clock)
    }

    /// The part of [`Service::open`] after the adapters and the driver are built.
    fn with_parts(
        cfg: ServiceConfig,
        adapters: BTreeMap<String, Box<dyn DgAdapter>>,
        mut driver: Box<dyn CloudDriver + Send>,
        mut log: Box<dyn FnMut(&str) + Send>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Service> {
        let store = Store::open(&cfg.db)?;
        let mut bots = BTreeMap::new();
        for (key, json) in store.bots()? {
            let mut st: BotState = serde_json::from_str(&json).map_err(|e| {
                anyhow::anyhow!(
                    "{}: stored state of batch `{}` on `{}`: {e}",
                    cfg.db.display(),
                    key.batch,
                    key.dg
                )
            })?;
            if let Some(max) = store.max_worker_id(&key)? {
                st.controller.skip_ids_below(max + 1);
            }
            bots.insert(key, st);
        }
        let oracle = match store.oracle()? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| anyhow::anyhow!("{}: Oracle history: {e}", cfg.db.display()))?,
            None => Oracle::new(cfg.oracle.clone()),
        };
        let now = clock.now();
        let wanted = |k: &BotKey, w: WorkerId| {
            bots.get(k)
                .is_some_and(|b: &BotState| !b.finished && b.controller.running().any(|r| r == w))
        };
        let r = cloud::reconcile(&store, driver.as_mut(), now, &wanted)?;
        if r != Default::default() {
            log(&format!(
                "reconciled Cloud workers: adopted {:?}, lost {:?}, failed {:?}, stopped {:?}",
                r.adopted, r.lost, r.failed, r.orphans_stopped
            ));
        }
        // Workers the committed state counts as running but that are gone: lost (no more
        // charges); those that never came up are started again.
        for b in bots.values_mut() {
            let ids: Vec<WorkerId> = b.controller.running().collect();
            for id in ids {
                let name = cloud::worker_name(&b.key, id);
                if r.lost.contains(&name) {
                    b.controller.worker_lost(id);
                } else if r.failed.contains(&name) {
                    // Recorded as starting and never up: its charges were committed with
                    // ticks it was counted in; it is replaced as a lost one is.
                    b.controller.worker_lost(id);
                }
            }
        }
        let backoff = Backoff::new(cfg.max_backoff);
        let cancels = store.cancel_requests()?.into_iter().collect();
        Ok(Service {
            backoff,
            shared: Arc::new(Mutex::new(Shared {
                store,
                bots,
                oracle,
                cfg,
                cancels,
                clock,
            })),
            adapters,
            driver,
            log,
        })
    }

    pub fn shared(&self) -> Arc<Mutex<Shared>> {
        self.shared.clone()
    }

    /// Runs the Scheduler until `stop` is set: a tick every `params.tick` seconds, driver
    /// maintenance every `poll` seconds.
    pub fn run(&mut self, stop: &AtomicBool) {
        let (tick, poll, clock) = {
            let g = lock(&self.shared);
            (g.cfg.params.tick, g.cfg.poll, g.clock.clone())
        };
        let mut next_tick = clock.now();
        let mut next_poll = next_tick;
        while !stop.load(Ordering::SeqCst) {
            let now = clock.now();
            if now >= next_tick {
                self.tick(now);
                next_tick += tick * ((now - next_tick) / tick).floor().max(0.0) + tick;
            }
            if now >= next_poll {
                self.driver.maintain();
                next_poll = now + poll;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One Scheduler turn over every open BoT.
    pub fn tick(&mut self, now: f64) {
        let keys: Vec<BotKey> = lock(&self.shared)
            .bots
            .iter()
            .filter(|(_, b)| !b.finished)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.tick_bot(&key, now);
        }
    }

    fn note(&mut self, key: &BotKey, msg: String) {
        (self.log)(&format!("[{}/{}] {msg}", key.dg, key.batch));
    }

    /// Observes a BoT: its batch and copies batches on the DG (copies resolved), and its
    /// running workers as the Cloud driver sees them.
    fn observe(&mut self, st: &BotState, owner_key: Option<&str>, now: f64) -> Seen {
        let dg = match self.query(st, owner_key, now) {
            Ok(o) => DgSeen::Read(o),
            Err(ObserveError::BackingOff) => DgSeen::BackingOff,
            Err(e) => DgSeen::Failed(e.to_string()),
        };
        let workers: Vec<WorkerReport> = st
            .controller
            .running()
            .map(|id| WorkerReport {
                id,
                activity: self.driver.activity(&cloud::worker_name(&st.key, id)),
            })
            .collect();
        let held = workers
            .iter()
            .map(|r| self.driver.held(&cloud::worker_name(&st.key, r.id)))
            .collect();
        Seen { dg, workers, held }
    }

    /// Information: the batch (and its copies) on the DG, copies resolved.
    fn query(
        &mut self,
        st: &BotState,
        owner_key: Option<&str>,
        now: f64,
    ) -> Result<Observation, ObserveError> {
        let dg = st.key.dg.clone();
        if !self.backoff.ready(&dg, now) {
            return Err(ObserveError::BackingOff);
        }
        let adapter = self
            .adapters
            .get_mut(&dg)
            .ok_or_else(|| ObserveError::UnknownDg(dg.clone()))?;
        let batch_id: i64 = st
            .key
            .batch
            .parse()
            .map_err(|_| ObserveError::NotABatchId(st.key.batch.clone()))?;
        let owner = owner_key.map_or(As::Service, As::Owner);
        let result = (|| {
            let orig = adapter.query(owner, batch_id)?;
            let copies = match &st.copies {
                Some(c) => c
                    .batches()
                    .map(|id| adapter.query(As::Service, id))
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
            };
            Ok::<_, DgError>((orig, copies))
        })();
        match result {
            Ok((orig, copies)) => {
                self.backoff.succeeded(&dg);
                let no_aborts = BTreeSet::new();
                let aborted = st.copies.as_ref().map_or(&no_aborts, |c| &c.aborted);
                let losing = st.controller.params().losing_copies;
                Ok(information::resolve(&orig, &copies, aborted, losing))
            }
            Err(err) => {
                let retry_in = self.backoff.failed(&dg, now);
                Err(ObserveError::Dg { err, retry_in })
            }
        }
    }

    /// One turn for one BoT: observe, decide (pure, [`turn::decide`]), carry out, commit.
    /// The shared state is locked to begin the turn and to commit it, and by each worker start
    /// or stop (the store records a worker before the driver is asked).
    fn tick_bot(&mut self, key: &BotKey, now: f64) {
        let (mut st, owner_key, cancel, mut ledger) = {
            let g = lock(&self.shared);
            let Some(st) = g.bots.get(key).cloned() else {
                return;
            };
            let k = g.owner_key(&st);
            let ledger = g.store.ledger().scratch(key);
            (st, k, g.cancels.contains(key), ledger)
        };
        let rel = now - st.submitted_at;
        let plan = if cancel {
            turn::cancel(&mut st, rel, &mut ledger)
        } else {
            let seen = self.observe(&st, owner_key.as_deref(), now);
            turn::decide(&mut st, seen, rel, &mut ledger)
        };
        self.carry_out(&mut st, plan, owner_key.as_deref(), &mut ledger, now);
        if st.finished {
            self.finish(&mut st);
        }
        self.commit(st, &ledger, now);
    }

    /// Carries a plan out: workers started, stopped and told to report through the driver,
    /// losers aborted and copies submitted through the adapter; each outcome goes back to the
    /// BoT's state. A start that fails is handed back to the core, which takes its charge back
    /// from the turn's `ledger`.
    fn carry_out(
        &mut self,
        st: &mut BotState,
        plan: Plan,
        owner_key: Option<&str>,
        ledger: &mut spequlos_core::Ledger,
        now: f64,
    ) {
        let key = st.key.clone();
        let key = &key;
        for n in plan.notes {
            self.note(key, n);
        }
        for d in &plan.decisions {
            match *d {
                // Their effect on the state is the plan's already.
                Decision::DuplicateIncomplete | Decision::Finished { .. } => {}
                Decision::StartWorker { id, .. } => {
                    let started = {
                        let g = lock(&self.shared);
                        cloud::start_worker(&g.store, self.driver.as_mut(), now, key, id)
                    };
                    if let Err(e) = started {
                        self.note(
                            key,
                            format!("worker {id} did not start, retried next tick: {e}"),
                        );
                        st.controller.start_failed(id, ledger);
                    } else {
                        self.note(key, format!("started {}", cloud::worker_name(key, id)));
                    }
                }
                Decision::StopWorker { id, reason } => {
                    let name = cloud::worker_name(key, id);
                    let stopped = {
                        let g = lock(&self.shared);
                        cloud::stop_worker(
                            &g.store,
                            self.driver.as_mut(),
                            now,
                            &name,
                            reason == spequlos_core::StopReason::Lost,
                        )
                    };
                    match stopped {
                        Ok(()) => self.note(key, format!("stopped {name} ({reason:?})")),
                        Err(e) => self.note(key, format!("stopping {name} failed: {e}")),
                    }
                }
                Decision::Report { id } => {
                    let name = cloud::worker_name(key, id);
                    match self.driver.report(&name) {
                        Ok(false) => {}
                        Ok(true) => self.note(
                            key,
                            format!(
                                "{name} told to contact the server (to report, or to ask for work)"
                            ),
                        ),
                        Err(e) => self.note(key, format!("asking {name} to report failed: {e}")),
                    }
                }
            }
        }
        if !plan.abort.is_empty() {
            self.abort(st, plan.abort, owner_key);
        }
        if let Some(c) = plan.copies {
            if let Some((batch_id, n)) = self.submit_copies(st, &c) {
                turn::copies_submitted(st, &c, batch_id, n);
                let msg = match c.kind {
                    CopyKind::Duplicate => format!("duplicated {n} jobs as batch {batch_id}"),
                    CopyKind::Round { .. } => format!(
                        "rescheduled {:?} to Cloud workers as batch {batch_id}",
                        c.jobs
                    ),
                };
                self.note(key, msg);
            }
        }
    }

    /// First result wins: the losers are cancelled, originals as the batch's owner, copies as
    /// the service's account. Should either call fail, all are asked again next turn.
    fn abort(&mut self, st: &mut BotState, names: Vec<String>, owner_key: Option<&str>) {
        let Some(adapter) = self.adapters.get_mut(&st.key.dg) else {
            return;
        };
        let owner = owner_key.map_or(As::Service, As::Owner);
        let (copies, originals): (Vec<&str>, Vec<&str>) = names
            .iter()
            .map(String::as_str)
            .partition(|n| information::is_copy(n));
        let mut failed = None;
        for (who, names) in [(owner, originals), (As::Service, copies)] {
            if !names.is_empty() {
                if let Err(e) = adapter.abort_jobs(who, &names) {
                    failed = Some(e);
                }
            }
        }
        match failed {
            None => turn::aborted(st, names),
            Some(e) => {
                let key = st.key.clone();
                self.note(&key, format!("abort_jobs failed, retried next tick: {e}"));
            }
        }
    }

    /// A finished BoT's copies batches are retired (their unsent copies cancelled) unless a
    /// copy in it won a job: a real BOINC server's `retire_batch` deletes `results/<batch_id>/`,
    /// where the assimilator wrote that copy's output, so such a batch is left complete for
    /// the operator (docs/boinc.md, "Where the outputs are"). A cancelled BoT's unfinished
    /// copies are aborted first.
    fn finish(&mut self, st: &mut BotState) {
        let Some(c) = &st.copies else {
            return;
        };
        let key = st.key.clone();
        let won: BTreeSet<&str> = c.won().collect();
        let single = c.more.is_empty();
        let Some(a) = self.adapters.get_mut(&key.dg) else {
            return;
        };
        let mut msgs = Vec::new();
        for id in c.batches() {
            // One batch holds every won copy; of several, each is read to know its own.
            let mut won_here = if single { won.len() } else { 0 };
            if st.cancelled || !single {
                match a.query(As::Service, id) {
                    Ok(info) => {
                        let done = info
                            .jobs
                            .iter()
                            .filter(|j| j.status == crate::boinc::JobStatus::Done);
                        let mine = done
                            .clone()
                            .filter(|j| {
                                information::original_of(&j.name).is_some_and(|o| won.contains(o))
                            })
                            .count();
                        won_here = won_here.max(mine);
                        if st.cancelled {
                            won_here = won_here.max(done.count());
                            let open: Vec<&str> = info
                                .jobs
                                .iter()
                                .filter(|j| j.status != crate::boinc::JobStatus::Done)
                                .map(|j| j.name.as_str())
                                .collect();
                            if won_here > 0 && !open.is_empty() {
                                if let Err(e) = a.abort_jobs(As::Service, &open) {
                                    msgs.push(format!("aborting the copies left failed: {e}"));
                                }
                            }
                        }
                    }
                    Err(e) => {
                        msgs.push(format!("querying copies batch {id} failed: {e}"));
                        // Unknown: kept rather than risk deleting an output.
                        won_here = won_here.max(usize::from(!single));
                    }
                }
            }
            if won_here > 0 {
                msgs.push(format!(
                    "copies batch {id} kept (not retired): it holds the output of {won_here} job(s) its copies won"
                ));
            } else if let Err(e) = a.retire(id) {
                msgs.push(format!("retiring copies batch {id} failed: {e}"));
            }
        }
        for m in msgs {
            self.note(&key, m);
        }
    }

    /// Commits the turn: the ledger movements made on the scratch ledger (at Unix time) with
    /// the BoT's new state, in one transaction; a BoT that completed teaches the Oracle, whose
    /// history is written in the same transaction.
    fn commit(&mut self, mut st: BotState, ledger: &spequlos_core::Ledger, now: f64) {
        let key = st.key.clone();
        let entries: Vec<_> = ledger
            .entries()
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.t = now;
                e
            })
            .collect();
        let mut g = lock(&self.shared);
        st.prediction = if st.finished {
            None
        } else {
            st.predict(&g.oracle, now)
        };
        // Only open BoTs take turns, so a finished one finished in this turn; unless it was
        // cancelled, it completed and teaches the Oracle.
        let history = match st.completed_at.filter(|_| st.finished && !st.cancelled) {
            Some(t) => {
                // The scratch ledger's order already counts this turn's charges.
                let spent = ledger.order_of(&key).map_or(0, |o| o.spent);
                g.oracle.learn(&st.oracle_key(), &st.progress, t, spent);
                Some(serde_json::to_string(&g.oracle).expect("oracle serializes"))
            }
            None => None,
        };
        let json = serde_json::to_string(&st).expect("state serializes");
        // A finished BoT has nothing left to cancel, however it finished.
        let cancel_done = st.finished && g.cancels.contains(&key);
        match g
            .store
            .commit_tick(&entries, &key, &json, cancel_done, history.as_deref())
        {
            Ok(()) => {
                if cancel_done {
                    g.cancels.remove(&key);
                }
            }
            Err(e) => {
                drop(g);
                self.note(&key, format!("commit failed: {e}"));
                g = lock(&self.shared);
            }
        }
        g.bots.insert(key, st);
    }

    /// Submits the copies `plan` asks for as its batch (with the attempt appended after a
    /// failed try), targeted to the Cloud account; returns the batch id and the number of
    /// copies, or `None` (logged) to try again next tick.
    ///
    /// Idempotent: a real server's `submit_batch` is not atomic (the batch is created before
    /// its jobs, and a failure or a client timeout may leave an empty or partial batch, or a
    /// complete one whose reply was lost). So the batch of this attempt is looked for by name
    /// first: a complete one is adopted, an incomplete one is aborted and retired and the next
    /// tick submits again as a new attempt, with new copy names.
    fn submit_copies(&mut self, st: &mut BotState, plan: &CopyPlan) -> Option<(i64, usize)> {
        let adapter = self.adapters.get_mut(&st.key.dg)?;
        let cloud_user = adapter.cloud_user();
        let attempt = st.copy_attempt;
        let wanted: BTreeSet<&str> = plan.jobs.iter().map(String::as_str).collect();
        let jobs: Vec<JobSpec> = st
            .jobs
            .iter()
            .filter(|j| wanted.contains(j.name.as_str()))
            .map(|j| JobSpec {
                name: copy_name(&j.name, attempt),
                rsc_fpops_est: j.rsc_fpops_est,
                command_line: j.command_line.clone(),
                target_user: Some(cloud_user),
                priority: Some(100),
                inputs: j.inputs.clone(),
            })
            .collect();
        if jobs.is_empty() {
            // Not reached: the table marks jobs the order does not describe as copied.
            return None;
        }
        let name = if attempt == 0 {
            plan.batch.clone()
        } else {
            format!("{}-{attempt}", plan.batch)
        };
        let mut msgs = Vec::new();
        let found = adapter.find(As::Service, &name);
        let batch_id = match found {
            Err(e) => {
                msgs.push(format!(
                    "duplication: looking for batch {name} failed, retried next tick: {e}"
                ));
                None
            }
            Ok(Some(b)) => {
                let want: BTreeSet<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
                let have: BTreeSet<&str> = b.jobs.iter().map(|j| j.name.as_str()).collect();
                if have == want {
                    msgs.push(format!(
                        "duplication: adopted batch {} of an earlier try",
                        b.id
                    ));
                    Some(b.id)
                } else {
                    // Left by a failed try: its jobs are cancelled and the batch retired; the
                    // next tick submits under new names (these are taken).
                    let names: Vec<&str> = have.into_iter().collect();
                    let cleaned = (names.is_empty()
                        || adapter.abort_jobs(As::Service, &names).is_ok())
                        && adapter.retire(b.id).is_ok();
                    if cleaned {
                        st.copy_attempt += 1;
                        msgs.push(format!(
                            "duplication: batch {} left by a failed try ({} of {} jobs) cleaned up; retried as attempt {}",
                            b.id,
                            names.len(),
                            want.len(),
                            st.copy_attempt
                        ));
                    } else {
                        msgs.push(format!(
                            "duplication: cleaning up batch {} failed, retried next tick",
                            b.id
                        ));
                    }
                    None
                }
            }
            Ok(None) => match adapter.submit(&name, &jobs) {
                Ok(id) => Some(id),
                Err(e) => {
                    msgs.push(format!("duplication failed, retried next tick: {e}"));
                    None
                }
            },
        };
        let key = st.key.clone();
        for m in msgs {
            self.note(&key, m);
        }
        batch_id.map(|id| (id, jobs.len()))
    }

    /// Stops every worker the driver runs (the demo's cleanup; a normal shutdown leaves them
    /// to be adopted at restart).
    pub fn stop_all_workers(&mut self) {
        let now = lock(&self.shared).clock.now();
        if let Ok(names) = self.driver.list() {
            for n in names {
                let g = lock(&self.shared);
                let _ = cloud::stop_worker(&g.store, self.driver.as_mut(), now, &n, false);
            }
        }
    }
}
