//! A BOINC-protocol test server (`spequlos testbed`): what the real boinc-client and the
//! service's BOINC adapter talk to in tests and in the demo, since no BOINC server can be
//! installed here. It speaks the real wire formats (../shared/research/boinc.md §1, §3):
//!
//! - `GET /`: the master page, with the scheduler URL in both forms clients look for;
//! - `POST /cgi`: the scheduler RPC (raw XML body): host ids, reports and acks, aborts of
//!   instances whose job is over, and work: targeted jobs first (BOINC's assignment), untargeted
//!   jobs unless the user runs "only my jobs on my computers"; one instance per host per job;
//!   an instance not reported by its deadline times out and the job is sent again;
//! - `GET /download/NAME` and `POST /file_upload_handler` (with `get_file_size`);
//! - `POST /submit_rpc_handler.php` (form field `request`): `submit_batch` (inline and staged
//!   inputs, `target_user`, `priority`), `query_batch`, `query_batch2`, `abort_jobs` (with
//!   BOINC's malformed `<aborted NAME>` lines), `retire_batch`, `query_batches`, `ping`;
//! - `POST /testbed/fault?mode=http500|malformed|lost_submit_reply|none&count=N`: the next N
//!   submit RPCs fail that way (`lost_submit_reply`: the next N submissions are made, their
//!   replies lost) for reliability tests; `GET /testbed/state`: a JSON summary.
//!
//! By default it also reproduces the real server's quirks listed in [`Quirks`].
//!
//! Replication is one instance per job (quorum 1); no validation, no credit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use spequlos_runtime::api::form_value;
use spequlos_runtime::boinc::{escape, parse, unescape, Element};

use crate::http::{respond, HttpServer};

/// A user account of the test project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestUser {
    pub id: i64,
    pub name: String,
    pub authenticator: String,
    /// May use the submit RPC.
    #[serde(default)]
    pub submit: bool,
    /// BOINC ≥ 1.6.1's "only run my jobs on my computers": hosts of this user get only jobs
    /// targeted to it (the Cloud account).
    #[serde(default)]
    pub only_own_jobs: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestbedConfig {
    pub project_name: String,
    pub app_name: String,
    /// Seconds an instance has before it times out and its job is sent again, unless the
    /// batch's `<job_params><delay_bound>` says otherwise.
    pub delay_bound: f64,
    /// Seconds every scheduler reply tells the client to wait before its next RPC
    /// (`<request_delay>`; a project made by make_project says 7).
    pub request_delay: f64,
    /// A host asking for work within this many seconds of its previous RPC gets none and is
    /// told to wait (BOINC's `min_sendwork_interval`; make_project sets 6; 0 = off).
    pub min_sendwork_interval: f64,
    /// Jobs a host may hold at once, per CPU it reports (`max_wus_in_progress`; 0 = no
    /// limit, as on a project nobody configured).
    pub max_wus_in_progress: u32,
    /// Jobs sent in one reply, per CPU the host reports (`max_wus_to_send`; make_project
    /// sets 50; 0 = no limit).
    pub max_wus_to_send: u32,
    /// Seconds between the validator daemon's passes (its `sleep_interval`, 5 by default):
    /// a successful report is validated at the next pass, and until then the job has no
    /// canonical instance and shows `queued`. 0 = at once.
    pub validator_period: f64,
    pub users: Vec<TestUser>,
    /// How the real BOINC server (1.6.2) differs from a tidy one; each is on by default.
    pub quirks: Quirks,
}

/// Behaviours of the real BOINC server that the service must survive (measured on
/// `server_release/1.6/1.6.2`; see docs/boinc.md). Each is on by default and can be switched
/// off to test against a tidy server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quirks {
    /// `submit_batch` creates the batch, then its jobs one by one: a failure (a job name in
    /// use) leaves the batch and the jobs before it, and the error quotes the SQL.
    pub non_atomic_submit: bool,
    /// `query_batch`, `query_batches` and `retire_batch` replies carry PHP deprecation
    /// warnings as HTML inside the XML.
    pub php_warnings: bool,
    /// `retire_batch` deletes the batch's outputs (the real one removes `results/<id>/`).
    pub retire_deletes_outputs: bool,
    /// A per-job `<rsc_fpops_est>` is ignored; the batch-level `<job_params>` one (or the
    /// template's, 1e9) is used.
    pub per_job_estimate_ignored: bool,
    /// Aborting a job that has finished marks it as an error; it keeps its canonical
    /// instance (the finished-then-cancelled race).
    pub abort_marks_finished_jobs: bool,
    /// A work request is filled from the jobs' runtime estimates (`rsc_fpops_est` over the
    /// host's `p_fpops`) up to the seconds the client asked for, so one host can take a
    /// whole small batch in one reply; off, a request gets at most one job.
    pub hoard_by_estimate: bool,
    /// A batch's state is brought up to date only when it is queried: its
    /// `completion_time` is the time of the first query that found it complete, not of its
    /// last job.
    pub lazy_batch_state: bool,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            non_atomic_submit: true,
            php_warnings: true,
            retire_deletes_outputs: true,
            per_job_estimate_ignored: true,
            abort_marks_finished_jobs: true,
            hoard_by_estimate: true,
            lazy_batch_state: true,
        }
    }
}

impl Quirks {
    /// A tidy server: none of the real one's quirks.
    pub fn none() -> Quirks {
        Quirks {
            non_atomic_submit: false,
            php_warnings: false,
            retire_deletes_outputs: false,
            per_job_estimate_ignored: false,
            abort_marks_finished_jobs: false,
            hoard_by_estimate: false,
            lazy_batch_state: false,
        }
    }
}

impl TestbedConfig {
    /// A tidy, quick server: none of the real one's quirks, a 1 s request delay, no
    /// minimum interval between work requests, one job per host, validation at once.
    pub fn tidy() -> TestbedConfig {
        TestbedConfig {
            request_delay: 1.0,
            min_sendwork_interval: 0.0,
            max_wus_in_progress: 1,
            validator_period: 0.0,
            quirks: Quirks::none(),
            ..TestbedConfig::default()
        }
    }
}

/// What a default PHP 8.2 project prints inside submit-RPC replies.
const PHP_WARNING: &str = "<br />\n<b>Deprecated</b>:  Creation of dynamic property BoincBatch::$njobs_success is deprecated in <b>/home/boincadm/projects/test/html/inc/submit_util.inc</b> on line <b>250</b><br />\n";

impl Default for TestbedConfig {
    fn default() -> Self {
        TestbedConfig {
            project_name: "spequlos testbed".into(),
            app_name: "spqapp".into(),
            delay_bound: 60.0,
            request_delay: 7.0,
            min_sendwork_interval: 6.0,
            max_wus_in_progress: 0,
            max_wus_to_send: 50,
            validator_period: 5.0,
            quirks: Quirks::default(),
            users: vec![
                TestUser {
                    id: 1,
                    name: "submitter".into(),
                    authenticator: "submitter_key".into(),
                    submit: true,
                    only_own_jobs: false,
                },
                TestUser {
                    id: 2,
                    name: "spequlos-cloud".into(),
                    authenticator: "cloud_key".into(),
                    submit: true,
                    only_own_jobs: true,
                },
                TestUser {
                    id: 3,
                    name: "volunteer".into(),
                    authenticator: "volunteer_key".into(),
                    submit: false,
                    only_own_jobs: false,
                },
                // A researcher with an account of her own: her batches are hers, and the
                // service reads them with her key once she linked it.
                TestUser {
                    id: 4,
                    name: "scientist".into(),
                    authenticator: "scientist_key".into(),
                    submit: true,
                    only_own_jobs: false,
                },
            ],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum InstState {
    InProgress,
    Success,
    Error,
    TimedOut,
    Aborted,
}

#[derive(Debug, Clone)]
struct Instance {
    name: String,
    job: usize,
    host: i64,
    deadline: f64,
    state: InstState,
    out_file: String,
}

#[derive(Debug, Clone)]
struct Job {
    id: i64,
    name: String,
    batch: usize,
    command_line: String,
    fpops: f64,
    /// (physical name, open name)
    inputs: Vec<(String, String)>,
    target_user: Option<i64>,
    priority: i64,
    canonical: Option<usize>,
    /// A successful instance waiting for the validator.
    validating: Option<usize>,
    cancelled: bool,
    /// Seconds an instance of this job has before it times out.
    delay_bound: f64,
    instances: Vec<usize>,
    mod_time: f64,
    /// When the job first went to a host and when it got its canonical instance.
    first_sent: Option<f64>,
    done_at: Option<f64>,
}

impl Job {
    fn over(&self) -> bool {
        self.canonical.is_some() || self.cancelled
    }
}

#[derive(Debug, Clone)]
struct Batch {
    id: i64,
    name: String,
    user: i64,
    create_time: f64,
    retired: bool,
    jobs: Vec<usize>,
    /// When a query first found every job over (the real server's lazy batch state).
    completed_at: Option<f64>,
}

#[derive(Debug, Clone)]
struct Host {
    user: i64,
    last_rpc: f64,
}

/// Fault injection for the submit RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    None,
    Http500,
    Malformed,
    /// The next `submit_batch` is carried out, but its reply is lost (HTTP 500), as when the
    /// client times out after the server made the jobs.
    LostSubmitReply,
}

struct Inner {
    cfg: TestbedConfig,
    url: String,
    files: BTreeMap<String, Vec<u8>>,
    uploads: BTreeMap<String, Vec<u8>>,
    batches: Vec<Batch>,
    jobs: Vec<Job>,
    job_by_name: HashMap<String, usize>,
    instances: Vec<Instance>,
    inst_by_name: HashMap<String, usize>,
    hosts: BTreeMap<i64, Host>,
    fault: (Fault, u32),
    rpcs: u64,
    /// Successful instances the validator will pass, with the time it will.
    to_validate: Vec<(f64, usize)>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A running test server; stopped on drop.
pub struct Testbed {
    inner: Arc<Mutex<Inner>>,
    http: HttpServer,
    url: String,
}

/// What the testbed knows about a batch's jobs, for timelines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobTimes {
    pub name: String,
    pub first_sent: Option<f64>,
    pub done_at: Option<f64>,
    pub cancelled: bool,
    /// Hosts (user id) the successful instance ran on.
    pub done_by_user: Option<i64>,
}

impl Testbed {
    /// Starts serving on `addr` (`127.0.0.1:0` picks a free port).
    pub fn start(cfg: TestbedConfig, addr: &str) -> anyhow::Result<Testbed> {
        // The URL is known once the port is: the state is filled in before any request.
        let inner = Arc::new(Mutex::new(Inner::new(cfg, String::new())));
        let shared = inner.clone();
        let http = HttpServer::start("testbed", addr, 4, move |req| handle(&shared, req))?;
        let url = format!("http://127.0.0.1:{}/", http.port());
        inner.lock().unwrap_or_else(|p| p.into_inner()).url = url.clone();
        Ok(Testbed { inner, http, url })
    }

    /// A test server on a free loopback port with the default accounts and quirks,
    /// `delay_bound` seconds before an unreported instance is sent again, and one job per
    /// host per CPU at a time (`max_wus_in_progress` = 1, as docs/boinc.md asks operators).
    pub fn local(delay_bound: f64) -> anyhow::Result<Testbed> {
        Testbed::start(
            TestbedConfig {
                delay_bound,
                max_wus_in_progress: 1,
                ..Default::default()
            },
            "127.0.0.1:0",
        )
    }

    /// As [`Testbed::local`], for scripted hosts that make their RPCs back to back and
    /// tests that tick the service by hand: no minimum interval between work requests and
    /// validation at once (real clients wait out the request delay; the tests with real
    /// clients keep both). Every other quirk stays on.
    pub fn scripted(delay_bound: f64) -> anyhow::Result<Testbed> {
        Testbed::start(
            TestbedConfig {
                delay_bound,
                max_wus_in_progress: 1,
                min_sendwork_interval: 0.0,
                validator_period: 0.0,
                ..Default::default()
            },
            "127.0.0.1:0",
        )
    }

    /// The project URL (master page), with its trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn config(&self) -> TestbedConfig {
        self.lock().cfg.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_fault(&self, fault: Fault, count: u32) {
        self.lock().fault = (fault, count);
    }

    /// Per-job times of batch `batch_id`, by job id.
    pub fn job_times(&self, batch_id: i64) -> Vec<JobTimes> {
        let mut g = self.lock();
        g.validate(now());
        let Some(b) = g.batches.iter().find(|b| b.id == batch_id) else {
            return Vec::new();
        };
        b.jobs
            .iter()
            .map(|&j| {
                let job = &g.jobs[j];
                JobTimes {
                    name: job.name.clone(),
                    first_sent: job.first_sent,
                    done_at: job.done_at,
                    cancelled: job.cancelled,
                    done_by_user: job
                        .canonical
                        .and_then(|i| g.hosts.get(&g.instances[i].host))
                        .map(|h| h.user),
                }
            })
            .collect()
    }

    /// The uploaded output of a job's canonical instance.
    pub fn output(&self, job_name: &str) -> Option<Vec<u8>> {
        let mut g = self.lock();
        g.validate(now());
        let j = &g.jobs[*g.job_by_name.get(job_name)?];
        let inst = &g.instances[j.canonical?];
        g.uploads.get(&inst.out_file).cloned()
    }

    /// Hosts that have made a scheduler RPC.
    pub fn hosts(&self) -> usize {
        self.lock().hosts.len()
    }

    pub fn scheduler_rpcs(&self) -> u64 {
        self.lock().rpcs
    }

    pub fn stop(&mut self) {
        self.http.stop();
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.stop();
    }
}

fn handle(inner: &Arc<Mutex<Inner>>, mut req: tiny_http::Request) {
    let mut body = Vec::new();
    if req.as_reader().read_to_end(&mut body).is_err() {
        return respond(req, 400, "text/plain", b"unreadable body".to_vec());
    }
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let method = req.method().clone();
    let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
    use tiny_http::Method::{Get, Post};
    let (status, ctype, out): (u16, &str, Vec<u8>) = match (&method, path) {
        (Get, "/") | (Get, "/index.html") => (200, "text/html", g.master_page().into_bytes()),
        (Post, "/cgi") => {
            g.rpcs += 1;
            let reply = g.scheduler(&String::from_utf8_lossy(&body));
            (200, "text/xml", reply.into_bytes())
        }
        (Get, p) if p.starts_with("/download/") => match g.files.get(&p["/download/".len()..]) {
            Some(data) => (200, "application/octet-stream", data.clone()),
            None => (404, "text/plain", b"no such file".to_vec()),
        },
        (Post, "/file_upload_handler") => (200, "text/xml", g.upload(&body).into_bytes()),
        (Post, "/submit_rpc_handler.php") => g.submit_rpc(&body),
        (Post, "/testbed/fault") => {
            let mode = form_value(query.as_bytes(), "mode").unwrap_or_default();
            let count = form_value(query.as_bytes(), "count")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let fault = match mode.as_str() {
                "http500" => Some(Fault::Http500),
                "malformed" => Some(Fault::Malformed),
                "lost_submit_reply" => Some(Fault::LostSubmitReply),
                "none" => Some(Fault::None),
                _ => None,
            };
            match fault {
                Some(f) => {
                    g.fault = (f, count);
                    (200, "text/plain", b"ok\n".to_vec())
                }
                None => (
                    400,
                    "text/plain",
                    b"mode must be http500, malformed, lost_submit_reply or none\n".to_vec(),
                ),
            }
        }
        (Get, "/testbed/state") => {
            g.validate(now());
            (200, "application/json", g.state_json().into_bytes())
        }
        _ => (404, "text/plain", b"not found\n".to_vec()),
    };
    drop(g);
    respond(req, status, ctype, out);
}

fn xml_error(op: &str, msg: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<{op}>\n<error>\n    <error_num>-1</error_num>\n    <error_msg>{}</error_msg>\n</error>\n</{op}>\n",
        escape(msg)
    )
}

impl Inner {
    fn new(cfg: TestbedConfig, url: String) -> Inner {
        Inner {
            cfg,
            url,
            files: BTreeMap::new(),
            uploads: BTreeMap::new(),
            batches: Vec::new(),
            jobs: Vec::new(),
            job_by_name: HashMap::new(),
            instances: Vec::new(),
            inst_by_name: HashMap::new(),
            hosts: BTreeMap::new(),
            fault: (Fault::None, 0),
            rpcs: 0,
            to_validate: Vec::new(),
        }
    }

    fn master_page(&self) -> String {
        let sched = format!("{}cgi", self.url);
        format!(
            "<html><head><title>{name}</title>\n<link rel=\"boinc_scheduler\" href=\"{sched}\">\n</head><body>\n\
             <!-- <scheduler>{sched}</scheduler> -->\n<h1>{name}</h1>\n</body></html>\n",
            name = escape(&self.cfg.project_name)
        )
    }

    fn user_by_auth(&self, auth: &str) -> Option<TestUser> {
        self.cfg
            .users
            .iter()
            .find(|u| u.authenticator == auth)
            .cloned()
    }

    /// Instances past their deadline time out; their job goes back to the queue.
    fn expire(&mut self, t: f64) {
        for i in 0..self.instances.len() {
            let inst = &mut self.instances[i];
            if inst.state == InstState::InProgress && inst.deadline < t {
                inst.state = InstState::TimedOut;
                let j = inst.job;
                self.jobs[j].mod_time = t;
            }
        }
    }

    /// The validator's passes up to `t`: each waiting success becomes its job's canonical
    /// instance. On the real server a job cancelled meanwhile is still passed (it then shows
    /// `error` with a canonical instance: the finished-then-cancelled race).
    fn validate(&mut self, t: f64) {
        let keep_cancelled = self.cfg.quirks.abort_marks_finished_jobs;
        let (due, later): (Vec<_>, Vec<_>) = self.to_validate.iter().partition(|&&(at, _)| at <= t);
        self.to_validate = later;
        for (at, i) in due {
            let job = &mut self.jobs[self.instances[i].job];
            job.validating = None;
            if job.canonical.is_none() && (!job.cancelled || keep_cancelled) {
                job.canonical = Some(i);
                job.done_at = Some(at);
                job.mod_time = at;
            }
        }
    }

    fn needs_instance(&self, j: usize) -> bool {
        let job = &self.jobs[j];
        !job.over()
            && job.validating.is_none()
            && !self.batches[job.batch].retired
            && !job
                .instances
                .iter()
                .any(|&i| self.instances[i].state == InstState::InProgress)
    }

    fn scheduler(&mut self, body: &str) -> String {
        let t = now();
        let doc = parse(body);
        let Some(req) = doc.child("scheduler_request") else {
            return "<scheduler_reply>\n<message priority=\"notice\">Malformed scheduler request</message>\n<request_delay>10</request_delay>\n</scheduler_reply>\n".into();
        };
        let mut out =
            String::from("<scheduler_reply>\n<scheduler_version>800</scheduler_version>\n");
        let _ = writeln!(
            out,
            "<project_name>{}</project_name>\n<master_url>{}</master_url>",
            escape(&self.cfg.project_name),
            self.url,
        );
        let Some(user) = self.user_by_auth(req.text_of("authenticator").unwrap_or("")) else {
            let _ = write!(
                out,
                "<message priority=\"notice\">Invalid or missing account key.</message>\n<request_delay>{}</request_delay>\n</scheduler_reply>\n",
                self.cfg.request_delay
            );
            return out;
        };
        let _ = writeln!(
            out,
            "<userid>{}</userid>\n<user_name>{}</user_name>",
            user.id,
            escape(&user.name)
        );
        let mut host_id: i64 = req
            .text_of("hostid")
            .and_then(|h| h.parse().ok())
            .unwrap_or(0);
        if self.hosts.get(&host_id).is_none_or(|h| h.user != user.id) {
            host_id = self.hosts.keys().next_back().map_or(1, |k| k + 1);
            self.hosts.insert(
                host_id,
                Host {
                    user: user.id,
                    last_rpc: f64::NEG_INFINITY,
                },
            );
            let _ = writeln!(out, "<hostid>{host_id}</hostid>");
        }
        let since_last = t - std::mem::replace(
            &mut self.hosts.get_mut(&host_id).expect("inserted").last_rpc,
            t,
        );
        let mut delay = self.cfg.request_delay;
        self.expire(t);
        self.validate(t);

        // Reports: ack every one, even unknown names, or the client reports them forever.
        let mut reported = HashSet::new();
        for r in req.children_named("result") {
            let name = r.text_of("name").unwrap_or("").to_string();
            if let Some(&i) = self.inst_by_name.get(&name) {
                let ok = r.text_of("exit_status") == Some("0") && r.text_of("state") == Some("5");
                let inst = &mut self.instances[i];
                if matches!(
                    inst.state,
                    InstState::InProgress | InstState::TimedOut | InstState::Aborted
                ) {
                    let was_aborted = inst.state == InstState::Aborted;
                    inst.state = if ok {
                        InstState::Success
                    } else {
                        InstState::Error
                    };
                    let j = inst.job;
                    let job = &mut self.jobs[j];
                    job.mod_time = t;
                    if ok && !job.over() && !was_aborted && job.validating.is_none() {
                        job.validating = Some(i);
                        let p = self.cfg.validator_period;
                        let at = if p > 0.0 { (t / p).floor() * p + p } else { t };
                        self.to_validate.push((at, i));
                    }
                }
            }
            let _ = writeln!(
                out,
                "<result_ack>\n    <name>{}</name>\n</result_ack>",
                escape(&name)
            );
            reported.insert(name);
        }
        // With no validator period, reports are validated at once.
        self.validate(t);
        // Instances the client still holds; ours that it no longer has are lost.
        let held: HashSet<String> = req
            .child("other_results")
            .into_iter()
            .flat_map(|o| o.children_named("other_result"))
            .filter_map(|o| o.text_of("name").map(str::to_string))
            .collect();
        let mut holding = 0u32;
        for i in 0..self.instances.len() {
            let inst = &self.instances[i];
            if inst.host != host_id || reported.contains(&inst.name) {
                continue;
            }
            let job_over = self.jobs[inst.job].over();
            let active = matches!(inst.state, InstState::InProgress | InstState::TimedOut);
            if job_over && active && held.contains(&inst.name) {
                let _ = writeln!(
                    out,
                    "<result_abort>\n    <name>{}</name>\n</result_abort>",
                    escape(&inst.name)
                );
                self.instances[i].state = InstState::Aborted;
            } else if !job_over && active {
                // A client that lost an instance (not listed as held) still blocks a slot
                // until the deadline, as on a real server.
                holding += 1;
            }
        }

        let num = |e: Option<&Element>, tag: &str| {
            e.and_then(|e| e.text_of(tag))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v > 0.0)
        };
        // 7.x clients ask per resource (`cpu_req_secs`) as well as in total.
        let asked = num(Some(req), "work_req_seconds")
            .unwrap_or(0.0)
            .max(num(Some(req), "cpu_req_secs").unwrap_or(0.0));
        let host_info = req.child("host_info");
        let ncpus = num(host_info, "p_ncpus").map_or(1, |n| n.clamp(1.0, 256.0) as u32);
        let flops = num(host_info, "p_fpops").unwrap_or(1e9);
        let per_cpu = |limit: u32| {
            if limit == 0 {
                u32::MAX
            } else {
                limit.saturating_mul(ncpus)
            }
        };
        let mut room = per_cpu(self.cfg.max_wus_in_progress)
            .saturating_sub(holding)
            .min(per_cpu(self.cfg.max_wus_to_send));
        if !self.cfg.quirks.hoard_by_estimate {
            room = room.min(1);
        }
        let mut wants = req.text_of("dont_send_work") != Some("1") && asked > 0.0;
        if wants && since_last < self.cfg.min_sendwork_interval {
            wants = false;
            let _ = writeln!(
                out,
                "<message priority=\"low\">Not sending work. Last request too recent. Please wait {} seconds.</message>",
                (self.cfg.min_sendwork_interval - since_last) as i64
            );
            delay = delay.max(1.01 * self.cfg.min_sendwork_interval);
        }
        if wants && room > 0 {
            let app = self.cfg.app_name.clone();
            let version = req
                .child("app_versions")
                .into_iter()
                .flat_map(|a| a.children_named("app_version"))
                .find(|v| v.text_of("app_name") == Some(app.as_str()))
                .map(|v| {
                    (
                        v.text_of("platform")
                            .unwrap_or("x86_64-pc-linux-gnu")
                            .to_string(),
                        v.text_of("version_num").unwrap_or("100").to_string(),
                    )
                });
            match version {
                None => {
                    let _ = writeln!(
                        out,
                        "<message priority=\"notice\">This project needs the anonymous platform: install {} with app_info.xml</message>",
                        escape(&app)
                    );
                }
                Some((platform, version_num)) => {
                    // Jobs are sent until their estimated runtimes fill the request: at
                    // least one, then while the asked seconds are not covered.
                    let mut filled = 0.0;
                    for j in self.pick(&user, host_id, room as usize) {
                        if filled >= asked && self.cfg.quirks.hoard_by_estimate {
                            break;
                        }
                        filled += self.jobs[j].fpops / flops;
                        self.send(&mut out, j, host_id, t, &platform, &version_num);
                    }
                }
            }
        }
        let _ = writeln!(out, "<request_delay>{delay}</request_delay>");
        out.push_str("</scheduler_reply>\n");
        out
    }

    /// Jobs for a host of `user`: targeted to the user first, then (unless the user takes
    /// only its own jobs) untargeted ones; by priority, then age. Never a second instance
    /// of a job on the same host.
    fn pick(&self, user: &TestUser, host: i64, n: usize) -> Vec<usize> {
        let eligible = |j: usize, targeted: bool| {
            let job = &self.jobs[j];
            let for_us = if targeted {
                job.target_user == Some(user.id)
            } else {
                job.target_user.is_none() && !user.only_own_jobs
            };
            for_us
                && self.needs_instance(j)
                && !job
                    .instances
                    .iter()
                    .any(|&i| self.instances[i].host == host)
        };
        let mut out = Vec::new();
        for targeted in [true, false] {
            let mut c: Vec<usize> = (0..self.jobs.len())
                .filter(|&j| eligible(j, targeted))
                .collect();
            c.sort_by_key(|&j| (std::cmp::Reverse(self.jobs[j].priority), j));
            out.extend(c);
        }
        out.truncate(n);
        out
    }

    fn send(
        &mut self,
        out: &mut String,
        j: usize,
        host: i64,
        t: f64,
        platform: &str,
        version: &str,
    ) {
        let k = self.jobs[j].instances.len();
        let name = format!("{}_{k}", self.jobs[j].name);
        let out_file = format!("{name}_r{}_out", self.instances.len());
        let deadline = t + self.jobs[j].delay_bound;
        let idx = self.instances.len();
        self.instances.push(Instance {
            name: name.clone(),
            job: j,
            host,
            deadline,
            state: InstState::InProgress,
            out_file: out_file.clone(),
        });
        self.inst_by_name.insert(name.clone(), idx);
        let job = &mut self.jobs[j];
        job.instances.push(idx);
        job.mod_time = t;
        job.first_sent.get_or_insert(t);
        let mut refs = String::new();
        for (phys, open) in &job.inputs {
            let data = &self.files[phys];
            let _ = writeln!(
                out,
                "<file_info>\n    <name>{p}</name>\n    <url>{u}download/{p}</url>\n    <nbytes>{}</nbytes>\n    <md5_cksum>{}</md5_cksum>\n</file_info>",
                data.len(),
                md5_hex(data),
                p = escape(phys),
                u = self.url
            );
            let _ = write!(
                refs,
                "    <file_ref>\n        <file_name>{}</file_name>\n        <open_name>{}</open_name>\n        <copy_file/>\n    </file_ref>\n",
                escape(phys),
                escape(open)
            );
        }
        let _ = writeln!(
            out,
            "<workunit>\n    <name>{w}</name>\n    <app_name>{a}</app_name>\n    <version_num>{version}</version_num>\n    <command_line>{c}</command_line>\n    <rsc_fpops_est>{f}</rsc_fpops_est>\n    <rsc_fpops_bound>{fb}</rsc_fpops_bound>\n    <rsc_memory_bound>1e8</rsc_memory_bound>\n    <rsc_disk_bound>1e8</rsc_disk_bound>\n{refs}</workunit>",
            w = escape(&job.name),
            a = escape(&self.cfg.app_name),
            c = escape(&job.command_line),
            f = job.fpops,
            fb = job.fpops * 1000.0,
        );
        let _ = writeln!(
            out,
            "<file_info>\n    <name>{o}</name>\n    <generated_locally/>\n    <upload_when_present/>\n    <max_nbytes>1000000</max_nbytes>\n    <url>{u}file_upload_handler</url>\n</file_info>",
            o = escape(&out_file),
            u = self.url
        );
        let _ = writeln!(
            out,
            "<result>\n    <name>{n}</name>\n    <wu_name>{w}</wu_name>\n    <report_deadline>{d}</report_deadline>\n    <platform>{platform}</platform>\n    <version_num>{version}</version_num>\n    <file_ref>\n        <file_name>{o}</file_name>\n        <open_name>out</open_name>\n        <copy_file/>\n    </file_ref>\n</result>",
            n = escape(&name),
            w = escape(&job.name),
            d = deadline.ceil() as i64,
            o = escape(&out_file),
        );
    }

    /// `file_upload_handler`: an XML header, then the raw bytes after `<data>\n`.
    fn upload(&mut self, body: &[u8]) -> String {
        // A `<message>` makes the client log an error, so only failures carry one.
        let reply = |status: i32, msg: &str| {
            let msg = if msg.is_empty() {
                String::new()
            } else {
                format!("    <message>{}</message>\n", escape(msg))
            };
            format!(
                "<data_server_reply>\n    <status>{status}</status>\n{msg}</data_server_reply>\n"
            )
        };
        let marker = b"<data>\n";
        let split = body.windows(marker.len()).position(|w| w == marker);
        let header = String::from_utf8_lossy(&body[..split.unwrap_or(body.len())]).into_owned();
        let doc = parse(&header);
        let Some(req) = doc.child("data_server_request") else {
            return reply(-1, "no data_server_request");
        };
        if let Some(name) = req.text_of("get_file_size") {
            let size = self.uploads.get(name).map_or(0, Vec::len);
            return format!("<data_server_reply>\n    <status>0</status>\n    <file_size>{size}</file_size>\n</data_server_reply>\n");
        }
        let Some(up) = req.child("file_upload") else {
            return reply(-1, "no file_upload");
        };
        let Some(split) = split else {
            return reply(-1, "no <data>");
        };
        let name = up
            .find("name")
            .map(|n| n.text.trim().to_string())
            .unwrap_or_default();
        let data = &body[split + marker.len()..];
        let offset: usize = up
            .text_of("offset")
            .and_then(|o| o.parse::<f64>().ok())
            .unwrap_or(0.0) as usize;
        let nbytes = up.text_of("nbytes").and_then(|n| n.parse::<f64>().ok());
        if name.is_empty() {
            return reply(-1, "no file name");
        }
        let file = self.uploads.entry(name).or_default();
        file.truncate(offset);
        file.extend_from_slice(data);
        if let (Some(n), Some(md5)) = (nbytes, up.text_of("md5_cksum")) {
            if file.len() as f64 == n && md5_hex(file) != md5 {
                return reply(-1, "md5 mismatch");
            }
        }
        reply(0, "")
    }

    fn state_json(&self) -> String {
        #[derive(Serialize)]
        struct S<'a> {
            url: &'a str,
            hosts: usize,
            rpcs: u64,
            batches: Vec<serde_json::Value>,
        }
        let batches = self
            .batches
            .iter()
            .map(|b| {
                let done = b.jobs.iter().filter(|&&j| self.jobs[j].canonical.is_some()).count();
                serde_json::json!({"id": b.id, "name": b.name, "njobs": b.jobs.len(), "done": done, "retired": b.retired})
            })
            .collect();
        serde_json::to_string_pretty(&S {
            url: &self.url,
            hosts: self.hosts.len(),
            rpcs: self.rpcs,
            batches,
        })
        .unwrap_or_default()
    }

    fn submit_rpc(&mut self, body: &[u8]) -> (u16, &'static str, Vec<u8>) {
        let (fault, left) = self.fault;
        if !matches!(fault, Fault::None | Fault::LostSubmitReply) && left > 0 {
            self.fault.1 -= 1;
            return match fault {
                Fault::Http500 => (
                    500,
                    "text/html",
                    b"<html><body>Internal Server Error</body></html>".to_vec(),
                ),
                _ => (
                    200,
                    "text/xml",
                    b"<?xml version=\"1.0\" ?>\n<query_batch><id>1</id><state>".to_vec(),
                ),
            };
        }
        let xml = if body.first() == Some(&b'<') {
            String::from_utf8_lossy(body).into_owned()
        } else {
            match form_value(body, "request") {
                Some(x) => x,
                None => {
                    return (
                        200,
                        "text/xml",
                        xml_error("error", "no request").into_bytes(),
                    )
                }
            }
        };
        let doc = parse(&xml);
        let Some(req) = doc.children.iter().find(|c| !c.name.starts_with('?')) else {
            return (
                200,
                "text/xml",
                xml_error("error", "empty request").into_bytes(),
            );
        };
        let op = req.name.clone();
        let reply = match self.submit_op(req) {
            Ok(body) => {
                format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<{op}>\n{body}</{op}>\n")
            }
            Err(Refusal(msg)) => xml_error(&op, &msg),
        };
        if op == "submit_batch" && fault == Fault::LostSubmitReply && left > 0 {
            self.fault.1 -= 1;
            return (
                500,
                "text/html",
                b"<html><body>Gateway Timeout</body></html>".to_vec(),
            );
        }
        (200, "text/xml", reply.into_bytes())
    }

    fn batch_index(&self, req: &Element, user: &TestUser) -> Result<usize, Refusal> {
        let b = if let Some(id) = req.text_of("batch_id") {
            let id: i64 = id.parse().map_err(|_| format!("bad batch_id `{id}`"))?;
            self.batches.iter().position(|b| b.id == id)
        } else if let Some(name) = req.text_of("batch_name") {
            self.batches.iter().position(|b| b.name == name)
        } else {
            return Err("no batch_id or batch_name".into());
        };
        let b = b.ok_or("no such batch")?;
        if self.batches[b].user != user.id {
            return Err("not owner of batch".into());
        }
        Ok(b)
    }

    fn submit_op(&mut self, req: &Element) -> Result<String, Refusal> {
        let auth = req.text_of("authenticator").ok_or("no authenticator")?;
        let user = self.user_by_auth(auth).ok_or("bad authenticator")?;
        if !user.submit {
            return Err("no submit access".into());
        }
        let t = now();
        self.validate(t);
        match req.name.as_str() {
            "ping" => Ok("<success>1</success>\n".into()),
            "submit_batch" => self.submit_batch(req, &user, t),
            "query_batch" => {
                let b = self.batch_index(req, &user)?;
                self.settle(b, t);
                let details = req.text_of("get_job_details") == Some("1");
                Ok(format!(
                    "{}{}",
                    self.php_warning(),
                    self.query_batch(b, details)
                ))
            }
            "query_batches" => {
                // As BOINC's handler: the caller's batches that are not retired, each with
                // the fields of query_batch and no jobs.
                for b in 0..self.batches.len() {
                    if self.batches[b].user == user.id {
                        self.settle(b, t);
                    }
                }
                let mut s = String::new();
                for (b, batch) in self.batches.iter().enumerate() {
                    if batch.user == user.id && !batch.retired {
                        let fields = self.query_batch(b, false);
                        let head = fields.split("<job>").next().unwrap_or("");
                        let _ = write!(s, "<batch>\n{head}</batch>\n");
                    }
                }
                Ok(format!("{}{s}", self.php_warning()))
            }
            "query_batch2" => {
                let min_mod: f64 = req
                    .text_of("min_mod_time")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0.0);
                let mut s = format!("<server_time>{t}</server_time>\n");
                for name in req.children_named("batch_name") {
                    let b = self
                        .batches
                        .iter()
                        .position(|b| b.name == name.text.trim() && b.user == user.id)
                        .ok_or_else(|| format!("no batch named {}", name.text.trim()))?;
                    let _ = writeln!(s, "<batch_size>{}</batch_size>", self.batches[b].jobs.len());
                    for &j in &self.batches[b].jobs {
                        let job = &self.jobs[j];
                        if job.mod_time >= min_mod {
                            let _ = writeln!(
                                s,
                                "<job>\n    <job_name>{}</job_name>\n    <status>{}</status>\n</job>",
                                escape(&job.name),
                                self.status(j).to_ascii_uppercase()
                            );
                        }
                    }
                }
                Ok(s)
            }
            "abort_jobs" => {
                let mut s = String::new();
                for name in req.children_named("job_name") {
                    let n = name.text.trim();
                    let j = *self
                        .job_by_name
                        .get(n)
                        .ok_or_else(|| format!("no such job: {n}"))?;
                    if self.batches[self.jobs[j].batch].user != user.id {
                        return Err("not owner".into());
                    }
                    let marks_done = self.cfg.quirks.abort_marks_finished_jobs;
                    let job = &mut self.jobs[j];
                    if !job.over() || (marks_done && job.canonical.is_some()) {
                        job.cancelled = true;
                        job.mod_time = t;
                    }
                    // BOINC prints these lines unclosed; clients must cope.
                    let _ = writeln!(s, "<aborted {}>", escape(n));
                }
                s.push_str("<success>1</success>\n");
                Ok(s)
            }
            "retire_batch" | "abort_batch" => {
                let b = self.batch_index(req, &user)?;
                for &j in &self.batches[b].jobs.clone() {
                    let job = &mut self.jobs[j];
                    if !job.over() {
                        job.cancelled = true;
                        job.mod_time = t;
                    }
                }
                if req.name == "retire_batch" {
                    self.batches[b].retired = true;
                    if self.cfg.quirks.retire_deletes_outputs {
                        for &j in &self.batches[b].jobs.clone() {
                            for &i in &self.jobs[j].instances.clone() {
                                let out = self.instances[i].out_file.clone();
                                self.uploads.remove(&out);
                            }
                        }
                    }
                    return Ok(format!("{}<success>1</success>\n", self.php_warning()));
                }
                Ok("<success>1</success>\n".into())
            }
            other => Err(Refusal(format!("unknown operation {other}"))),
        }
    }

    /// A query's look at batch `b`: the first to find every job over records the time.
    fn settle(&mut self, b: usize, t: f64) {
        let batch = &self.batches[b];
        if batch.completed_at.is_none()
            && !batch.jobs.is_empty()
            && batch.jobs.iter().all(|&j| self.jobs[j].over())
        {
            self.batches[b].completed_at = Some(t);
        }
    }

    fn php_warning(&self) -> &'static str {
        if self.cfg.quirks.php_warnings {
            PHP_WARNING
        } else {
            ""
        }
    }

    /// As the real handler decides: the error mask first, then the canonical instance, then
    /// an instance in progress; anything else (never sent, timed out, reported but not yet
    /// validated) is `queued`.
    fn status(&self, j: usize) -> &'static str {
        let job = &self.jobs[j];
        if job.cancelled {
            "error"
        } else if job.canonical.is_some() {
            "done"
        } else if job
            .instances
            .iter()
            .any(|&i| self.instances[i].state == InstState::InProgress)
        {
            "in_progress"
        } else {
            "queued"
        }
    }

    fn query_batch(&self, b: usize, details: bool) -> String {
        let batch = &self.batches[b];
        let n = batch.jobs.len();
        let done = batch
            .jobs
            .iter()
            .filter(|&&j| self.jobs[j].canonical.is_some())
            .count();
        let errors = batch
            .jobs
            .iter()
            .filter(|&&j| self.jobs[j].canonical.is_none() && self.jobs[j].cancelled)
            .count();
        let complete = done + errors == n;
        let completion_time = match (complete, self.cfg.quirks.lazy_batch_state) {
            (false, _) => 0.0,
            (true, true) => batch.completed_at.unwrap_or(0.0).floor(),
            (true, false) => batch
                .jobs
                .iter()
                .filter_map(|&j| self.jobs[j].done_at.or(Some(self.jobs[j].mod_time)))
                .fold(0.0, f64::max),
        };
        let state = if batch.retired {
            4
        } else if n == 0 {
            // Jobs never made (a failed submission): still in INIT.
            0
        } else if complete {
            2
        } else {
            1
        };
        let mut s = format!(
            "<id>{}</id>\n<create_time>{}</create_time>\n<expire_time>0</expire_time>\n<est_completion_time>0</est_completion_time>\n\
             <njobs>{n}</njobs>\n<fraction_done>{}</fraction_done>\n<nerror_jobs>{errors}</nerror_jobs>\n<state>{state}</state>\n\
             <completion_time>{completion_time}</completion_time>\n<credit_estimate>0</credit_estimate>\n<credit_canonical>0</credit_canonical>\n\
             <name>{}</name>\n<app_name>{}</app_name>\n",
            batch.id,
            batch.create_time as i64,
            if n == 0 { 0.0 } else { (done + errors) as f64 / n as f64 },
            escape(&batch.name),
            escape(&self.cfg.app_name)
        );
        for &j in &batch.jobs {
            let job = &self.jobs[j];
            let canonical = job.canonical.map_or(0, |i| i as i64 + 1);
            let _ = write!(s, "<job>\n    <id>{}</id>\n    <name>{}</name>\n    <canonical_instance_id>{canonical}</canonical_instance_id>\n", job.id, escape(&job.name));
            if details {
                if job.cancelled && job.canonical.is_none() {
                    s.push_str("    <error>cancelled</error>\n");
                }
                let _ = writeln!(s, "    <status>{}</status>", self.status(j));
            }
            s.push_str("</job>\n");
        }
        s
    }

    fn submit_batch(&mut self, req: &Element, user: &TestUser, t: f64) -> Result<String, Refusal> {
        let batch = req.child("batch").ok_or("no <batch>")?;
        let app = batch.text_of("app_name").ok_or("no app_name")?;
        if app != self.cfg.app_name {
            return Err(Refusal(format!("no such app {app}")));
        }
        let batch_priority: i64 = batch
            .text_of("priority")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let id = self.batches.len() as i64 + 1;
        let name = batch
            .text_of("batch_name")
            .map_or_else(|| format!("batch_{id}"), str::to_string);
        let param = |tag: &str| {
            batch
                .child("job_params")
                .and_then(|p| p.text_of(tag))
                .and_then(|f| f.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v > 0.0)
        };
        let batch_fpops = param("rsc_fpops_est").unwrap_or(1e9);
        let delay_bound = param("delay_bound").unwrap_or(self.cfg.delay_bound);
        // Validate everything before changing anything (unless the real server's
        // non-atomic submission is reproduced).
        let mut new_jobs = Vec::new();
        let mut names = HashSet::new();
        let mut staged: Vec<(String, Vec<u8>)> = Vec::new();
        for (k, j) in batch.children_named("job").enumerate() {
            let jname = j
                .text_of("name")
                .map_or_else(|| format!("{name}_{k}"), str::to_string);
            if self.job_by_name.contains_key(&jname) || !names.insert(jname.clone()) {
                if self.cfg.quirks.non_atomic_submit {
                    // The batch and the jobs before this one were made; the reply quotes
                    // the failed insert.
                    self.commit_batch(id, name, user.id, t, new_jobs, staged);
                    return Err(Refusal(format!(
                        "create_work failed: create_work: database error: Duplicate entry \
                         '{jname}' for key 'name' (INSERT INTO workunit SET ... name='{jname}' ...)"
                    )));
                }
                return Err(Refusal(format!(
                    "create_work failed: job name {jname} in use"
                )));
            }
            let mut inputs = Vec::new();
            for (f, input) in j.children_named("input_file").enumerate() {
                let open = if f == 0 {
                    "in".to_string()
                } else {
                    format!("in{f}")
                };
                match input.text_of("mode") {
                    Some("inline") => {
                        let phys = format!("{jname}_in{f}");
                        let content = input
                            .child("source")
                            .map(|s| unescape(&s.text))
                            .unwrap_or_default();
                        staged.push((phys.clone(), content.into_bytes()));
                        inputs.push((phys, open));
                    }
                    Some("local_staged") => {
                        let src = input
                            .text_of("source")
                            .ok_or("local_staged input without source")?;
                        if !self.files.contains_key(src) {
                            return Err(Refusal(format!("no file access: {src} is not staged")));
                        }
                        inputs.push((src.to_string(), open));
                    }
                    Some(m) => {
                        return Err(Refusal(format!(
                            "input mode {m} is not supported by the testbed"
                        )))
                    }
                    None => return Err("input_file without mode".into()),
                }
            }
            let target_user = match j.text_of("target_user") {
                Some(u) => Some(
                    u.parse::<i64>()
                        .map_err(|_| format!("bad target_user `{u}`"))?,
                ),
                None => None,
            };
            new_jobs.push(Job {
                id: 0,
                name: jname,
                batch: self.batches.len(),
                command_line: j.text_of("command_line").unwrap_or("").to_string(),
                fpops: if self.cfg.quirks.per_job_estimate_ignored {
                    batch_fpops
                } else {
                    j.text_of("rsc_fpops_est")
                        .and_then(|f| f.parse().ok())
                        .unwrap_or(batch_fpops)
                },
                inputs,
                target_user,
                priority: j
                    .text_of("priority")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(batch_priority),
                canonical: None,
                validating: None,
                cancelled: false,
                delay_bound,
                instances: Vec::new(),
                mod_time: t,
                first_sent: None,
                done_at: None,
            });
        }
        if new_jobs.is_empty() {
            return Err("batch has no jobs".into());
        }
        self.commit_batch(id, name, user.id, t, new_jobs, staged);
        Ok(format!("<batch_id>{id}</batch_id>\n"))
    }

    fn commit_batch(
        &mut self,
        id: i64,
        name: String,
        user: i64,
        t: f64,
        jobs: Vec<Job>,
        staged: Vec<(String, Vec<u8>)>,
    ) {
        for (phys, data) in staged {
            self.files.insert(phys, data);
        }
        let mut idx = Vec::new();
        for mut job in jobs {
            job.id = self.jobs.len() as i64 + 1;
            self.job_by_name.insert(job.name.clone(), self.jobs.len());
            idx.push(self.jobs.len());
            self.jobs.push(job);
        }
        self.batches.push(Batch {
            id,
            name,
            user,
            create_time: t,
            retired: false,
            jobs: idx,
            completed_at: None,
        });
    }
}

/// A scripted BOINC client speaking the scheduler RPC, for tests that need volunteers or
/// Cloud workers under exact control (hold a task forever, finish on demand) rather than real
/// boinc-client processes.
pub struct ScriptedHost {
    url: String,
    authenticator: String,
    app_name: String,
    pub host_id: i64,
    /// Instances received and not yet reported.
    pub held: Vec<String>,
    agent: ureq::Agent,
    /// Wait out the server's `<request_delay>` between RPCs, as a real client does.
    paced: bool,
    next_rpc: std::time::Instant,
}

impl ScriptedHost {
    pub fn new(url: &str, authenticator: &str, app_name: &str) -> Self {
        ScriptedHost {
            url: url.to_string(),
            authenticator: authenticator.to_string(),
            app_name: app_name.to_string(),
            host_id: 0,
            held: Vec::new(),
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(std::time::Duration::from_secs(10)))
                .build()
                .into(),
            paced: false,
            next_rpc: std::time::Instant::now(),
        }
    }

    /// A host that, as a real client, makes no RPC before the delay the server's last reply
    /// asked for (a server with `min_sendwork_interval` sends no work to one that asks
    /// sooner).
    pub fn paced(mut self) -> Self {
        self.paced = true;
        self
    }

    /// One scheduler RPC: reports `finished` instances as successful, asks for work if
    /// `want_work`. Returns the new instances; instances the server aborts are dropped from
    /// `held` and returned second.
    pub fn rpc(
        &mut self,
        finished: &[String],
        want_work: bool,
    ) -> Result<(Vec<String>, Vec<String>), String> {
        if self.paced && std::time::Instant::now() < self.next_rpc {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut req = format!(
            "<scheduler_request>\n<authenticator>{}</authenticator>\n<hostid>{}</hostid>\n\
             <work_req_seconds>{}</work_req_seconds>\n<platform_name>anonymous</platform_name>\n\
             <app_versions><app_version><app_name>{}</app_name><version_num>100</version_num>\
             <platform>x86_64-pc-linux-gnu</platform></app_version></app_versions>\n",
            escape(&self.authenticator),
            self.host_id,
            if want_work { 100 } else { 0 },
            escape(&self.app_name)
        );
        for f in finished {
            let _ = writeln!(
                req,
                "<result><name>{}</name><exit_status>0</exit_status><state>5</state></result>",
                escape(f)
            );
        }
        req.push_str("<other_results>\n");
        for h in self.held.iter().filter(|h| !finished.contains(h)) {
            let _ = writeln!(
                req,
                "<other_result><name>{}</name></other_result>",
                escape(h)
            );
        }
        req.push_str("</other_results>\n</scheduler_request>\n");
        let body = self
            .agent
            .post(format!("{}cgi", self.url))
            .send(req.as_bytes())
            .map_err(|e| e.to_string())?
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let doc = parse(&body);
        let reply = doc.child("scheduler_reply").ok_or("no scheduler_reply")?;
        if let Some(h) = reply.text_of("hostid").and_then(|h| h.parse().ok()) {
            self.host_id = h;
        }
        if let Some(d) = reply
            .text_of("request_delay")
            .and_then(|d| d.trim().parse::<f64>().ok())
            .filter(|d| d.is_finite() && *d >= 0.0)
        {
            self.next_rpc =
                std::time::Instant::now() + std::time::Duration::from_secs_f64(d.min(3600.0));
        }
        self.held.retain(|h| !finished.contains(h));
        let new: Vec<String> = reply
            .children_named("result")
            .filter_map(|r| r.text_of("name").map(str::to_string))
            .collect();
        let aborted: Vec<String> = reply
            .children_named("result_abort")
            .filter_map(|r| r.text_of("name").map(str::to_string))
            .collect();
        self.held.extend(new.iter().cloned());
        self.held.retain(|h| !aborted.contains(h));
        Ok((new, aborted))
    }
}

/// A submit RPC the server refuses: the text of its `<error_msg>`, worded as the real
/// server's (the service reads some of these words).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal(String);

impl From<&str> for Refusal {
    fn from(msg: &str) -> Refusal {
        Refusal(msg.to_string())
    }
}

impl From<String> for Refusal {
    fn from(msg: String) -> Refusal {
        Refusal(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tidy server: these tests check the protocol, the quirks have tests of their own.
    fn inner() -> Inner {
        Inner::new(TestbedConfig::tidy(), "http://127.0.0.1:1/".into())
    }

    fn real() -> Inner {
        Inner::new(TestbedConfig::default(), "http://127.0.0.1:1/".into())
    }

    fn sent(reply: &str) -> Vec<String> {
        let d = parse(reply);
        d.child("scheduler_reply")
            .unwrap()
            .children_named("result")
            .filter_map(|r| r.text_of("name").map(str::to_string))
            .collect()
    }

    fn batch_of(n: usize, params: &str) -> String {
        let jobs: String = (0..n)
            .map(|k| format!("<job><name>h{k}</name></job>"))
            .collect();
        format!("<submit_batch><authenticator>submitter_key</authenticator><batch><app_name>spqapp</app_name>{params}{jobs}</batch></submit_batch>")
    }

    fn sched_req(auth: &str, host: i64, extra: &str) -> String {
        format!(
            "<scheduler_request>\n<authenticator>{auth}</authenticator>\n<hostid>{host}</hostid>\n<work_req_seconds>100</work_req_seconds>\n\
             <platform_name>anonymous</platform_name>\n<app_versions><app_version><app_name>spqapp</app_name><version_num>100</version_num>\
             <platform>x86_64-pc-linux-gnu</platform></app_version></app_versions>\n{extra}</scheduler_request>\n"
        )
    }

    fn submit(g: &mut Inner, xml: &str) -> Element {
        let (status, _, body) = g.submit_rpc(
            format!(
                "request={}",
                xml.replace('%', "%25")
                    .replace('&', "%26")
                    .replace('+', "%2B")
            )
            .as_bytes(),
        );
        assert_eq!(status, 200);
        parse(&String::from_utf8(body).unwrap())
    }

    #[test]
    fn targeted_jobs_go_only_to_the_cloud_account_and_first() {
        let mut g = inner();
        let doc = submit(
            &mut g,
            "<submit_batch><authenticator>submitter_key</authenticator><batch><app_name>spqapp</app_name><batch_name>b</batch_name>\
             <job><name>j0</name><command_line>--seconds 1</command_line><input_file><mode>inline</mode><source>hello &amp; bye</source></input_file></job>\
             <job><name>j0_copy</name><target_user>2</target_user></job></batch></submit_batch>",
        );
        assert_eq!(doc.find("batch_id").unwrap().text.trim(), "1");
        // A volunteer gets the untargeted job, never the copy.
        let r = g.scheduler(&sched_req("volunteer_key", 0, ""));
        let d = parse(&r);
        let reply = d.child("scheduler_reply").unwrap();
        assert_eq!(reply.text_of("hostid"), Some("1"));
        assert_eq!(reply.child("workunit").unwrap().text_of("name"), Some("j0"));
        assert_eq!(
            reply.child("workunit").unwrap().text_of("command_line"),
            Some("--seconds 1")
        );
        assert_eq!(g.files["j0_in0"], b"hello & bye");
        // The Cloud account (only its own jobs) gets the copy.
        let r = g.scheduler(&sched_req("cloud_key", 0, ""));
        let d = parse(&r);
        assert_eq!(d.find("workunit").unwrap().text_of("name"), Some("j0_copy"));
        // The volunteer reports j0: the copy is not affected, the report is acked.
        let r = g.scheduler(&sched_req(
            "volunteer_key",
            1,
            "<result><name>j0_0</name><exit_status>0</exit_status><state>5</state></result>",
        ));
        assert!(r.contains("<result_ack>"), "{r}");
        let q = g.query_batch(0, true);
        assert!(
            q.contains("<status>done</status>") && q.contains("<status>in_progress</status>"),
            "{q}"
        );
        // The submitter aborts the copy: the Cloud host holding it is told to abort.
        let doc = submit(&mut g, "<abort_jobs><authenticator>submitter_key</authenticator><job_name>j0_copy</job_name></abort_jobs>");
        assert!(doc.find("success").is_some());
        let r = g.scheduler(&sched_req(
            "cloud_key",
            2,
            "<other_results><other_result><name>j0_copy_0</name></other_result></other_results>",
        ));
        assert!(
            r.contains("<result_abort>") && r.contains("j0_copy_0"),
            "{r}"
        );
    }

    #[test]
    fn an_instance_past_its_deadline_is_sent_again_elsewhere() {
        let mut g = inner();
        g.cfg.delay_bound = -1.0; // every instance is already late
        submit(&mut g, "<submit_batch><authenticator>submitter_key</authenticator><batch><app_name>spqapp</app_name><job><name>x</name></job></batch></submit_batch>");
        let a = g.scheduler(&sched_req("volunteer_key", 0, ""));
        assert!(a.contains("<name>x_0</name>"));
        let b = g.scheduler(&sched_req("volunteer_key", 0, ""));
        assert!(b.contains("<name>x_1</name>"), "{b}");
        // The late first instance still counts if it arrives first.
        g.scheduler(&sched_req(
            "volunteer_key",
            1,
            "<result><name>x_0</name><exit_status>0</exit_status><state>5</state></result>",
        ));
        assert_eq!(g.status(0), "done");
    }

    #[test]
    fn bad_requests_get_boinc_errors() {
        let mut g = inner();
        let d = submit(
            &mut g,
            "<query_batch><authenticator>nope</authenticator><batch_id>1</batch_id></query_batch>",
        );
        assert_eq!(
            d.find("error_msg").unwrap().text.trim(),
            "bad authenticator"
        );
        let d = submit(&mut g, "<query_batch><authenticator>submitter_key</authenticator><batch_id>9</batch_id></query_batch>");
        assert_eq!(d.find("error_msg").unwrap().text.trim(), "no such batch");
        let d = submit(
            &mut g,
            "<submit_batch><authenticator>volunteer_key</authenticator></submit_batch>",
        );
        assert_eq!(d.find("error_msg").unwrap().text.trim(), "no submit access");
        let r = g.scheduler("garbage");
        assert!(r.contains("Malformed"));
        let r = g.scheduler(&sched_req("nobody", 0, ""));
        assert!(r.contains("Invalid or missing account key"));
    }

    #[test]
    fn uploads_are_stored_and_checked() {
        let mut g = inner();
        let data = b"hello\n";
        let body = [
            format!("<data_server_request>\n<file_upload>\n<file_info>\n<name>f_out</name>\n</file_info>\n<nbytes>{}</nbytes>\n<md5_cksum>{}</md5_cksum>\n<offset>0</offset>\n<data>\n", data.len(), md5_hex(data)).into_bytes(),
            data.to_vec(),
        ]
        .concat();
        assert!(g.upload(&body).contains("<status>0</status>"));
        assert_eq!(g.uploads["f_out"], data);
        assert!(g
            .upload(
                b"<data_server_request><get_file_size>f_out</get_file_size></data_server_request>"
            )
            .contains("<file_size>6</file_size>"));
        assert!(g.upload(b"junk").contains("<status>-1</status>"));
    }

    #[test]
    fn a_host_asking_again_too_soon_gets_no_work_and_is_told_to_wait() {
        let mut g = real();
        g.cfg.max_wus_in_progress = 1;
        submit(&mut g, &batch_of(3, ""));
        let first = g.scheduler(&sched_req("volunteer_key", 0, ""));
        assert_eq!(sent(&first), ["h0_0"]);
        assert!(
            first.contains("<request_delay>7</request_delay>"),
            "{first}"
        );
        // It finishes at once and asks again: the report is taken, no work is sent.
        let again = g.scheduler(&sched_req(
            "volunteer_key",
            1,
            "<result><name>h0_0</name><exit_status>0</exit_status><state>5</state></result>",
        ));
        assert!(again.contains("<result_ack>"), "{again}");
        assert!(sent(&again).is_empty(), "{again}");
        assert!(again.contains("Last request too recent"), "{again}");
        assert!(
            again.contains("<request_delay>7</request_delay>"),
            "{again}"
        );
        // Six seconds later it would get work: pretend they passed.
        g.hosts.get_mut(&1).unwrap().last_rpc -= 6.5;
        assert_eq!(
            sent(&g.scheduler(&sched_req("volunteer_key", 1, ""))),
            ["h1_0"]
        );
    }

    #[test]
    fn a_request_is_filled_from_the_estimates_up_to_the_server_limits() {
        let ask = |g: &mut Inner, secs: u32, cpus: u32, host: i64| {
            let req = sched_req("volunteer_key", host, "")
                .replace("<work_req_seconds>100<", &format!("<work_req_seconds>{secs}<"))
                .replace(
                    "</scheduler_request>",
                    &format!("<host_info><p_ncpus>{cpus}</p_ncpus><p_fpops>1e9</p_fpops></host_info></scheduler_request>"),
                );
            sent(&g.scheduler(&req)).len()
        };
        // 1e9 flops per job at 1e9 flops: one second each; 180 s asked, 50 sent per CPU.
        let mut g = real();
        submit(&mut g, &batch_of(120, ""));
        assert_eq!(ask(&mut g, 180, 1, 0), 50, "max_wus_to_send");
        assert_eq!(
            ask(&mut g, 20, 2, 0),
            20,
            "stops once the asked seconds are filled"
        );
        // A batch-level estimate of 60 s: 180 s asked takes three jobs.
        let mut g = real();
        submit(
            &mut g,
            &batch_of(
                10,
                "<job_params><rsc_fpops_est>6e10</rsc_fpops_est></job_params>",
            ),
        );
        assert_eq!(ask(&mut g, 180, 1, 0), 3);
        assert_eq!(ask(&mut g, 1, 1, 0), 1, "at least one");
        // max_wus_in_progress counts per CPU and what the host holds.
        let mut g = real();
        g.cfg.max_wus_in_progress = 1;
        submit(&mut g, &batch_of(10, ""));
        assert_eq!(ask(&mut g, 180, 4, 0), 4);
        g.hosts.get_mut(&1).unwrap().last_rpc -= 10.0;
        assert_eq!(ask(&mut g, 180, 4, 1), 0, "holds four already");
        // Without the quirk a request gets one job.
        let mut g = real();
        g.cfg.quirks.hoard_by_estimate = false;
        submit(&mut g, &batch_of(10, ""));
        assert_eq!(ask(&mut g, 180, 4, 0), 1);
    }

    #[test]
    fn a_reported_job_is_queued_until_the_validator_passes_it_and_completion_is_seen_lazily() {
        let mut g = real();
        g.cfg.validator_period = 1e6; // the next pass is far away
        submit(
            &mut g,
            &batch_of(1, "<job_params><delay_bound>30</delay_bound></job_params>"),
        );
        let r = g.scheduler(&sched_req("volunteer_key", 0, ""));
        let deadline: f64 = parse(&r)
            .find("report_deadline")
            .unwrap()
            .text
            .trim()
            .parse()
            .unwrap();
        assert!(
            (deadline - now() - 30.0).abs() < 2.0,
            "the batch's delay_bound"
        );
        g.hosts.get_mut(&1).unwrap().last_rpc -= 10.0;
        g.scheduler(&sched_req(
            "volunteer_key",
            1,
            "<result><name>h0_0</name><exit_status>0</exit_status><state>5</state></result>",
        ));
        assert_eq!(g.status(0), "queued");
        assert_eq!(g.jobs[0].canonical, None);
        // Nobody else gets it meanwhile.
        assert!(sent(&g.scheduler(&sched_req("volunteer_key", 0, ""))).is_empty());
        let pass = g.to_validate[0].0;
        g.validate(pass);
        assert_eq!(g.status(0), "done");
        assert_eq!(g.jobs[0].done_at, Some(pass));
        // The batch is complete, with the time of the query that found it so.
        g.settle(0, pass + 42.0);
        let q = g.query_batch(0, false);
        assert!(q.contains("<state>2</state>"), "{q}");
        let expected = format!(
            "<completion_time>{}</completion_time>",
            (pass + 42.0).floor()
        );
        assert!(q.contains(&expected), "{q}");
    }

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(
            form_value(b"a=1&request=%3Cx%3E+y%25", "request").as_deref(),
            Some("<x> y%")
        );
        assert_eq!(form_value(b"request=%", "request").as_deref(), Some("%"));
        assert_eq!(form_value(b"request=%4", "request").as_deref(), Some("%4"));
        assert_eq!(form_value(b"x=1", "request"), None);
    }
}
