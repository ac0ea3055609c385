//! Desktop-grid adapters: how the service reads a BoT's progress and duplicates its tail.
//!
//! [`DgAdapter`] is the boundary (XWHEP or HTCondor adapters would implement it too);
//! [`BoincAdapter`] speaks BOINC's remote job submission RPC over HTTP: a POST of the form field
//! `request=<xml>` to `PROJECT_URL/submit_rpc_handler.php`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::boinc::{self, BatchInfo, JobSpec, RpcError};

#[derive(Debug, thiserror::Error)]
pub enum DgError {
    #[error("{url}: {why}")]
    Transport { url: String, why: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {err}")]
    Rpc { url: String, err: RpcError },
}

/// Whose DG account a call is made with. A real BOINC server answers queries and aborts
/// only to the account that submitted the batch, so a user's batch is read and its jobs
/// aborted with the key of the account the user linked; the copies batch belongs to the
/// service's own submitting account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As<'a> {
    /// The service's submitting account (`authenticator` in the DG's configuration).
    Service,
    /// The account with this key.
    Owner(&'a str),
}

/// A desktop grid as the Information and Scheduler modules see it.
pub trait DgAdapter: Send {
    /// The batch's jobs and their status.
    fn query(&mut self, who: As<'_>, batch_id: i64) -> Result<BatchInfo, DgError>;
    /// The batch named `name`, if the DG has one.
    fn find(&mut self, who: As<'_>, name: &str) -> Result<Option<BatchInfo>, DgError>;
    /// Submits `jobs` (copies of unfinished jobs, targeted to the Cloud account) as a new
    /// batch named `name` of the service's account; returns its id.
    fn submit(&mut self, name: &str, jobs: &[JobSpec]) -> Result<i64, DgError>;
    fn abort_jobs(&mut self, who: As<'_>, names: &[&str]) -> Result<(), DgError>;
    /// Retires a batch of the service's account.
    fn retire(&mut self, batch_id: i64) -> Result<(), DgError>;
    /// Checks that `authenticator` is a key the DG accepts for job submission.
    fn check_account(&mut self, authenticator: &str) -> Result<(), DgError>;
    /// The user id Cloud workers attach with (copies are targeted to it).
    fn cloud_user(&self) -> i64;
}

/// A BOINC project, as configured for the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoincDg {
    /// The name BoTs use for this DG (`dg` in orders).
    pub name: String,
    /// The project URL, with its trailing slash.
    pub url: String,
    /// Account key of the submitting account (job-submission rights, owner of the batches).
    pub authenticator: String,
    /// The application the batches use.
    pub app_name: String,
    /// User id and account key of the Cloud account: copies are targeted to this user and
    /// Cloud workers attach with its key.
    pub cloud_user_id: i64,
    pub cloud_authenticator: String,
    /// Seconds before an RPC is abandoned; a submission gets [`SUBMIT_SECS_PER_JOB`] more
    /// per job (a real server creates its jobs one by one).
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Seconds a Cloud worker has to return a copy before the server sends it to another
    /// Cloud worker (the copies batch's `<job_params><delay_bound>`): a copy lost with its
    /// worker is computed again after at most this long. 0 leaves the application
    /// template's value. 0 or [10, 2592000] s; default 3600.
    #[serde(default = "default_copy_delay_bound")]
    pub copy_delay_bound: f64,
}

fn default_copy_delay_bound() -> f64 {
    3600.0
}

/// Extra seconds a `submit_batch` may take per job: a real BOINC 1.6.2 server took about
/// 7.7 ms per job (1000 jobs: 7.7 s), so a timeout fixed for queries would abandon big
/// submissions the server then completes.
pub const SUBMIT_SECS_PER_JOB: f64 = 0.03;

fn default_timeout() -> f64 {
    10.0
}

pub struct BoincAdapter {
    dg: BoincDg,
    agent: ureq::Agent,
}

impl BoincAdapter {
    pub fn new(dg: BoincDg) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs_f64(dg.timeout.max(0.1))))
            .http_status_as_error(false)
            .build()
            .into();
        BoincAdapter { dg, agent }
    }

    fn endpoint(&self) -> String {
        let sep = if self.dg.url.ends_with('/') { "" } else { "/" };
        format!("{}{sep}submit_rpc_handler.php", self.dg.url)
    }

    fn rpc(&self, request: &str) -> Result<String, DgError> {
        self.rpc_within(request, self.dg.timeout)
    }

    fn rpc_within(&self, request: &str, timeout: f64) -> Result<String, DgError> {
        let url = self.endpoint();
        let mut resp = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(Duration::from_secs_f64(timeout.max(0.1))))
            .build()
            .send_form([("request", request)])
            .map_err(|e| DgError::Transport {
                url: url.clone(),
                why: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(DgError::Status { url, status });
        }
        resp.body_mut()
            .read_to_string()
            .map_err(|e| DgError::Transport {
                url,
                why: e.to_string(),
            })
    }

    fn rpc_err(&self, err: RpcError) -> DgError {
        DgError::Rpc {
            url: self.endpoint(),
            err,
        }
    }
}

impl BoincAdapter {
    fn key<'a>(&'a self, who: As<'a>) -> &'a str {
        match who {
            As::Service => &self.dg.authenticator,
            As::Owner(k) => k,
        }
    }
}

impl DgAdapter for BoincAdapter {
    fn query(&mut self, who: As<'_>, batch_id: i64) -> Result<BatchInfo, DgError> {
        let xml = self.rpc(&boinc::query_batch(self.key(who), batch_id, true))?;
        boinc::parse_query_batch(&xml).map_err(|e| self.rpc_err(e))
    }

    fn find(&mut self, who: As<'_>, name: &str) -> Result<Option<BatchInfo>, DgError> {
        let xml = self.rpc(&boinc::query_batch_named(self.key(who), name))?;
        match boinc::parse_query_batch(&xml) {
            Ok(b) => Ok(Some(b)),
            Err(RpcError::Server { msg, .. }) if msg.contains("no such batch") => Ok(None),
            Err(e) => Err(self.rpc_err(e)),
        }
    }

    fn submit(&mut self, name: &str, jobs: &[JobSpec]) -> Result<i64, DgError> {
        let timeout = self.dg.timeout + SUBMIT_SECS_PER_JOB * jobs.len() as f64;
        let xml = self.rpc_within(
            &boinc::submit_batch(
                &self.dg.authenticator,
                &self.dg.app_name,
                name,
                jobs,
                Some(self.dg.copy_delay_bound).filter(|&d| d > 0.0),
            ),
            timeout,
        )?;
        boinc::parse_batch_id(&xml, "submit_batch").map_err(|e| self.rpc_err(e))
    }

    fn abort_jobs(&mut self, who: As<'_>, names: &[&str]) -> Result<(), DgError> {
        let xml = self.rpc(&boinc::abort_jobs(self.key(who), names))?;
        boinc::parse_success(&xml, "abort_jobs").map_err(|e| self.rpc_err(e))
    }

    fn retire(&mut self, batch_id: i64) -> Result<(), DgError> {
        let xml = self.rpc(&boinc::retire_batch(&self.dg.authenticator, batch_id))?;
        boinc::parse_success(&xml, "retire_batch").map_err(|e| self.rpc_err(e))
    }

    fn check_account(&mut self, authenticator: &str) -> Result<(), DgError> {
        let xml = self.rpc(&boinc::query_batches(authenticator))?;
        boinc::parse_query_batches(&xml)
            .map(|_| ())
            .map_err(|e| self.rpc_err(e))
    }

    fn cloud_user(&self) -> i64 {
        self.dg.cloud_user_id
    }
}
