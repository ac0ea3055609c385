//! The live mode end to end with real boinc-clients: the testbed's protocols against the real
//! client, `spequlos live --demo`, and `spequlos serve` killed with SIGKILL while Cloud
//! workers run, then restarted. Every process started is stopped by pid, even when an
//! assertion fails. The three tests mostly wait on clients, so scripts/test runs them at once.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::s;
use serde_json::{json, Value};
use spequlos_runtime::adapter::{BoincAdapter, BoincDg, DgAdapter};
use spequlos_runtime::boinc::{self, InputFile, JobSpec};
use spequlos_runtime::client;
use spequlos_testbed::{ScriptedHost, Testbed, TestbedConfig};

/// Kills, when dropped, the child and every process left in `dir`.
struct Cleanup {
    child: Option<Child>,
    dir: PathBuf,
}

impl Cleanup {
    fn kill_child(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.kill_child();
        for _ in 0..3 {
            for pid in client::processes_under(&self.dir) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn boinc_processes_in(dir: &Path) -> Vec<u32> {
    client::processes_under(dir)
}

#[test]
fn live_demo_runs_the_bot_with_and_without_spequlos() {
    assert!(
        client::installed(),
        "boinc-client is not installed (scripts/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let guard = Cleanup {
        child: None,
        dir: dir.path().to_path_buf(),
    };
    // No wall-clock assertion: the demo paces real clients in real time, and its own per-run
    // timeout bounds it; how long it takes is reported in the issue notes, not tested.
    let out = Command::new(env!("CARGO_BIN_EXE_spequlos"))
        .args(["live", "--demo", "--dir", s(dir.path())])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Both runs finished, both timelines and the comparison are printed.
    assert!(
        stderr.contains("[none] batch 1: 40 jobs submitted"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[9A-G-D] batch 1: 40 jobs submitted"),
        "{stderr}"
    );
    for needle in [
        "none |",
        "9A-G-D |",
        "100 % of jobs done",
        "Cloud workers",
        "credits spent",
        "tail removal efficiency (TRE)",
    ] {
        assert!(stdout.contains(needle), "`{needle}` missing:\n{stdout}");
    }
    let workers: Vec<u32> = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Cloud workers"))
        .unwrap()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(workers[0], 0, "no Cloud worker without SpeQuloS");
    assert!(workers[1] > 0, "SpeQuloS started Cloud workers:\n{stdout}");
    assert!(
        boinc_processes_in(dir.path()).is_empty(),
        "the demo left processes behind"
    );
    drop(guard);
}

fn http(agent: &ureq::Agent, method: &str, url: &str, token: &str, body: Value) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let mut resp = if method == "GET" {
        agent
            .get(url)
            .header("Authorization", &auth)
            .call()
            .unwrap()
    } else if method == "PUT" {
        agent
            .put(url)
            .header("Authorization", &auth)
            .send_json(&body)
            .unwrap()
    } else {
        agent
            .post(url)
            .header("Authorization", &auth)
            .send_json(&body)
            .unwrap()
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The API's base URL and a client with a `timeout` (seconds), once the service answers.
fn api_client(port: u16, timeout: u64) -> (String, ureq::Agent) {
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(timeout)))
        .build()
        .into();
    let deadline = Instant::now() + Duration::from_secs(20);
    while agent.get(format!("{base}/api/health")).call().is_err() {
        assert!(Instant::now() < deadline, "the service did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    (base, agent)
}

fn serve(cfg: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_spequlos"))
        .args(["serve", "--config", s(cfg)])
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .spawn()
        .unwrap()
}

/// A job of the test application: `seconds` of work, one inline input, 1e9 operations.
fn app_job(name: String, seconds: u32, target_user: Option<i64>, input: String) -> JobSpec {
    JobSpec {
        name,
        rsc_fpops_est: 1e9,
        command_line: format!("--seconds {seconds}"),
        target_user,
        priority: None,
        inputs: vec![InputFile::Inline { content: input }],
    }
}

/// A testbed, `spequlos serve` with the `local` Cloud driver on it, user bob with credits,
/// and a batch of `n` jobs of `seconds` each ordered for him under `strategy`; a Cloud worker
/// with no task yet counts as booting for `boot_grace` seconds.
struct Live {
    dir: tempfile::TempDir,
    cloud_dir: PathBuf,
    guard: Cleanup,
    tb: Testbed,
    cfg: PathBuf,
    log: PathBuf,
    base: String,
    agent: ureq::Agent,
    batch: i64,
}

const ADMIN: &str = "live-admin-token";

impl Live {
    fn start(n: usize, seconds: u32, strategy: &str, dg_extra: &str, boot_grace: f64) -> Live {
        assert!(
            client::installed(),
            "boinc-client is not installed (scripts/test installs it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let cloud_dir = dir.path().join("cloud");
        let mut guard = Cleanup {
            child: None,
            dir: dir.path().to_path_buf(),
        };
        let tb = Testbed::local(3600.0).unwrap();
        let port = client::free_port().unwrap();
        let cfg = dir.path().join("serve.toml");
        std::fs::write(
            &cfg,
            format!(
                r#"db = "{db}"
listen = "127.0.0.1:{port}"
admin_token = "{ADMIN}"
poll = 1.0
max_backoff = 4.0

[params]
tick = 2.0

[[boinc]]
name = "tb"
url = "{url}"
authenticator = "submitter_key"
app_name = "spqapp"
cloud_user_id = 2
cloud_authenticator = "cloud_key"
{dg_extra}

[cloud]
driver = "local"
dir = "{cloud}"
boot_grace = {boot_grace}
stop_grace = 3.0
"#,
                db = s(&dir.path().join("state.sqlite")),
                url = tb.url(),
                cloud = s(&cloud_dir),
            ),
        )
        .unwrap();
        let log = dir.path().join("serve.log");
        guard.child = Some(serve(&cfg, &log));
        let (base, agent) = api_client(port, 10);
        for (url, body) in [
            (
                format!("{base}/api/users"),
                json!({"name": "bob", "token": "bob-token"}),
            ),
            (
                format!("{base}/api/users/bob/credits"),
                json!({"amount": 500}),
            ),
        ] {
            let (st, b) = http(&agent, "POST", &url, ADMIN, body);
            assert!(st == 200 || st == 201, "{url}: {st} {b}");
        }
        let jobs: Vec<JobSpec> = (0..n)
            .map(|i| app_job(format!("k{i}"), seconds, None, format!("k{i}\n")))
            .collect();
        let batch = BoincAdapter::new(BoincDg {
            name: "tb".into(),
            url: tb.url().into(),
            authenticator: "submitter_key".into(),
            app_name: "spqapp".into(),
            cloud_user_id: 2,
            cloud_authenticator: "cloud_key".into(),
            timeout: 10.0,
            copy_delay_bound: 0.0,
        })
        .submit("k", &jobs)
        .unwrap();
        let descs: Vec<Value> = jobs
            .iter()
            .map(|j| json!({"name": j.name, "command_line": j.command_line, "inputs": j.inputs}))
            .collect();
        let (st, b) = http(
            &agent,
            "POST",
            &format!("{base}/api/orders"),
            // A batch of the service's own account: the admin vouches for it on bob's behalf.
            ADMIN,
            json!({"batch": batch.to_string(), "dg": "tb", "credits": 200, "strategy": strategy, "jobs": descs, "user": "bob"}),
        );
        assert_eq!(st, 201, "{b}");
        Live {
            dir,
            cloud_dir,
            guard,
            tb,
            cfg,
            log,
            base,
            agent,
            batch,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The BoT as the API shows it; `null` while the service does not answer (restarting).
    fn bot(&self) -> Value {
        let url = format!("{}/api/bots/tb/{}", self.base, self.batch);
        let Ok(mut r) = self
            .agent
            .get(&url)
            .header("Authorization", "Bearer bob-token")
            .call()
        else {
            return Value::Null;
        };
        serde_json::from_str(&r.body_mut().read_to_string().unwrap_or_default())
            .unwrap_or(Value::Null)
    }

    /// Names of the Cloud workers the service counts as running.
    fn running(&self) -> Vec<String> {
        let url = format!("{}/api/workers", self.base);
        let (_, w) = http(&self.agent, "GET", &url, ADMIN, json!(null));
        w.as_array()
            .map(|a| {
                a.iter()
                    .filter(|w| w["state"] == "running")
                    .map(|w| w["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Pids of the Cloud workers' clients, by worker directory.
    fn worker_pids(&self) -> Vec<(String, u32)> {
        let mut out: Vec<(String, u32)> = std::fs::read_dir(&self.cloud_dir)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let e = e.ok()?;
                let pid = std::fs::read_to_string(e.path().join("client.pid")).ok()?;
                Some((
                    e.file_name().to_string_lossy().into_owned(),
                    pid.trim().parse().ok()?,
                ))
            })
            .collect();
        out.sort();
        out
    }

    /// The ledger replays, every charge is one credit for one worker tick, and they add up
    /// to what the BoT says it spent. Returns the number of charges.
    fn check_ledger(&self, info: &Value) -> i64 {
        let db = self.dir.path().join("state.sqlite");
        let out = common::ok(&["ledger", "verify", "--db", s(&db)]);
        assert!(out.starts_with("ledger OK"), "{out}");
        let spent = info["credits_spent"].as_u64().unwrap();
        let conn = spequlos_runtime::store::raw_connection(&db).unwrap();
        let (n, sum): (i64, i64) = conn
            .query_row(
                "SELECT COUNT(*), SUM(amount) FROM ledger WHERE kind = 'charge'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(sum as u64, spent);
        assert_eq!(sum, n, "charges = worker ticks × 1 credit");
        n
    }

    /// After the BoT finished: no Cloud worker is counted or left running once the service is
    /// stopped, and the ledger replays. Shows the service's log with `SPQ_SHOW_LOG` set.
    fn ends_clean(&mut self, info: &Value, log: &str) {
        assert_eq!(info["cloud_workers_running"], json!(0));
        assert!(self.running().is_empty(), "every worker is stopped");
        self.guard.kill_child();
        assert!(
            boinc_processes_in(self.dir.path()).is_empty(),
            "no orphan process"
        );
        self.check_ledger(info);
        if std::env::var_os("SPQ_SHOW_LOG").is_some() {
            eprintln!("{log}");
        }
    }

    /// Waits for the BoT to finish, stepping the scripted volunteers.
    fn wait_finished(&self, secs: u64, mut step: impl FnMut()) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            assert!(
                Instant::now() < deadline,
                "the BoT did not complete; log:\n{}",
                self.log_text()
            );
            step();
            let v = self.bot();
            if v["finished"] == json!(true) {
                return v;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Scripted volunteers: the first `stragglers` keep their first task forever, the others
/// finish theirs at each RPC, so the tail needs the Cloud copies.
fn volunteers(tb: &Testbed, n: usize, stragglers: usize) -> impl FnMut() {
    let mut vols: Vec<ScriptedHost> = (0..n)
        .map(|_| ScriptedHost::new(tb.url(), "volunteer_key", "spqapp").paced())
        .collect();
    move || {
        for (i, v) in vols.iter_mut().enumerate() {
            let straggler = i < stragglers;
            let done = if straggler {
                Vec::new()
            } else {
                v.held.clone()
            };
            let want = !straggler || v.held.is_empty();
            let _ = v.rpc(&done, want);
        }
    }
}

#[test]
fn killed_service_restarts_adopts_its_workers_and_the_ledger_balances() {
    let mut live = Live::start(6, 4, "9A-F2-D", "", 40.0);
    // Two stragglers, so that sizing, capped by the work left, starts both workers.
    let mut step = volunteers(&live.tb, 3, 2);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "no Cloud workers started; log:\n{}",
            live.log_text()
        );
        step();
        // Kill once the tick that started them is committed (the BoT's state counts them):
        // workers started by a tick that never committed are stopped at restart, not adopted.
        if live.bot()["cloud_workers_running"] == json!(2) && live.running().len() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    // SIGKILL mid-run: the Cloud workers (real boinc clients) keep running.
    live.guard.kill_child();
    let pids: Vec<u32> = live.worker_pids().into_iter().map(|(_, p)| p).collect();
    assert_eq!(pids.len(), 2);
    assert!(
        pids.iter().all(|&p| client::alive(p)),
        "workers survive the service"
    );
    std::thread::sleep(Duration::from_secs(1));
    live.guard.child = Some(serve(&live.cfg, &live.log));
    let info = live.wait_finished(150, &mut step);
    let logtext = live.log_text();
    assert!(
        logtext.contains("adopted [\""),
        "the restarted service adopts its workers:\n{logtext}"
    );
    assert_eq!(info["cloud_workers_running"], json!(0));
    assert!(live.running().is_empty(), "every worker is stopped");
    // The stragglers were finished by their copies on Cloud workers.
    let times = live.tb.job_times(live.batch);
    assert!(times.iter().all(|j| j.done_at.is_some() || j.cancelled));
    live.guard.kill_child();
    for p in &pids {
        assert!(!client::alive(*p), "worker {p} still runs");
    }
    assert!(
        boinc_processes_in(live.dir.path()).is_empty(),
        "no orphan process"
    );
    let n = live.check_ledger(&info);
    assert!(
        n >= 2,
        "both workers were charged at least their start tick"
    );
}

#[test]
fn a_cloud_worker_killed_with_its_copy_is_replaced_and_the_copy_computed_again() {
    // Copies not returned within 45 s go to another Cloud worker: longer than the
    // replacement takes to boot (10 s of grace), ask in vain and pass its ask_grace (15 s),
    // so it would be stopped as idle unless kept for the copy the dead worker held.
    let mut live = Live::start(4, 12, "9A-F1-D", "copy_delay_bound = 45.0", 10.0);
    let mut step = volunteers(&live.tb, 3, 1);
    let copies = |live: &Live| -> Option<i64> { live.bot()["copies_batch"].as_i64() };
    // Wait until the first Cloud worker computes the straggler's copy.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (first, pid) = loop {
        assert!(
            Instant::now() < deadline,
            "no Cloud worker took the copy; log:\n{}",
            live.log_text()
        );
        step();
        let sent = copies(&live)
            .is_some_and(|c| live.tb.job_times(c).iter().any(|j| j.first_sent.is_some()));
        if let (true, [(name, pid)]) = (sent, live.worker_pids().as_slice()) {
            break (name.clone(), *pid);
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    // Its machine dies with the copy half done.
    std::thread::sleep(Duration::from_secs(3));
    assert!(Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let info = live.wait_finished(150, &mut step);
    let log = live.log_text();
    assert!(log.contains(&format!("stopped {first} (Lost)")), "{log}");
    let workers = live.worker_pids();
    assert!(
        workers.len() >= 2,
        "a replacement was started: {workers:?}\n{log}"
    );
    // The straggler (its original cancelled) was finished by its copy, sent again once
    // the dead worker's instance passed its 45 s deadline, on the replacement.
    let times = live.tb.job_times(live.batch);
    assert!(
        times.iter().all(|j| j.done_at.is_some() || j.cancelled),
        "{times:?}"
    );
    let straggler = times.iter().find(|j| j.cancelled).expect("won by its copy");
    let copy = live.tb.job_times(copies(&live).unwrap());
    let c = copy
        .iter()
        .find(|j| j.name == format!("{}__spq", straggler.name))
        .expect("the straggler's copy");
    assert_eq!(c.done_by_user, Some(2), "{copy:?}\n{log}");
    assert!(
        c.done_at.unwrap() - c.first_sent.unwrap() >= 45.0,
        "computed again after the deadline: {c:?}"
    );
    live.ends_clean(&info, &log);
}

#[test]
fn reschedule_copies_the_stragglers_to_cloud_workers_idle_after_the_normal_queue() {
    // Two stragglers keep their job forever; once every job is out (9A), the two Cloud
    // workers find the normal queue empty, go idle, and are each given a copy of a job in
    // progress, in rotation: the stragglers' jobs are finished by the Cloud.
    let mut live = Live::start(6, 6, "9A-F2-R", "", 10.0);
    let mut step = volunteers(&live.tb, 3, 2);
    let info = live.wait_finished(150, &mut step);
    let log = live.log_text();
    assert!(log.contains("rescheduled [\""), "{log}");
    let batches: Vec<i64> = info["copies_batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_i64().unwrap())
        .collect();
    assert!(!batches.is_empty(), "{info}");
    let copies: Vec<_> = batches.iter().flat_map(|&b| live.tb.job_times(b)).collect();
    let mut originals: Vec<&str> = copies
        .iter()
        .map(|c| c.name.strip_suffix("__spq").expect("copy names"))
        .collect();
    originals.sort();
    let n = originals.len();
    originals.dedup();
    assert_eq!(originals.len(), n, "one copy per job at most: {copies:?}");
    let times = live.tb.job_times(live.batch);
    assert!(
        times.iter().all(|j| j.done_at.is_some() || j.cancelled),
        "{times:?}"
    );
    // The stragglers' jobs are the ones the volunteers never return: won by their copies.
    let won: Vec<&str> = times
        .iter()
        .filter(|j| j.cancelled)
        .map(|j| j.name.as_str())
        .collect();
    assert!(won.len() >= 2, "{times:?}\n{log}");
    for w in &won {
        let c = copies
            .iter()
            .find(|c| c.name == format!("{w}__spq"))
            .expect("the straggler's copy");
        assert_eq!(c.done_by_user, Some(2), "computed by a Cloud worker: {c:?}");
    }
    live.ends_clean(&info, &log);
}

/// Stops the clients when dropped, even during a panic.
struct Clients(Vec<spequlos_runtime::client::Client>);

impl Drop for Clients {
    fn drop(&mut self) {
        for c in &self.0 {
            c.stop(Duration::from_secs(5));
        }
    }
}

fn submit_rpc(url: &str, xml: &str) -> String {
    ureq::post(format!("{url}submit_rpc_handler.php"))
        .send_form([("request", xml)])
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn spec(dir: &std::path::Path, tb: &Testbed, auth: &str) -> spequlos_runtime::client::ClientSpec {
    spequlos_runtime::client::ClientSpec {
        dir: dir.to_path_buf(),
        gui_port: client::free_port().unwrap(),
        password: "pw".into(),
        project_url: tb.url().to_string(),
        authenticator: auth.into(),
        app: client::test_app(),
        ncpus: 1,
        fetch_when_idle: false,
    }
}

fn wait_until(what: &str, secs: u64, clients: &Clients, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        for c in &clients.0 {
            let _ = c.update();
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
}

#[test]
fn cloud_workers_take_one_copy_each_where_the_server_lets_hosts_hoard() {
    assert!(
        client::installed(),
        "boinc-client is not installed (scripts/test installs it)"
    );
    let tmp = tempfile::tempdir().unwrap();
    // No max_wus_in_progress: a request is filled from the estimates, as on a project
    // nobody tuned.
    let tb = Testbed::start(TestbedConfig::default(), "127.0.0.1:0").unwrap();
    let copy = |name: String| app_job(name, 30, Some(2), "copy\n".into());
    let submit = |tag: &str| {
        let jobs: Vec<JobSpec> = (0..4).map(|i| copy(format!("{tag}{i}"))).collect();
        let r = submit_rpc(
            tb.url(),
            &boinc::submit_batch("submitter_key", "spqapp", tag, &jobs, None),
        );
        boinc::parse_batch_id(&r, "submit_batch").unwrap()
    };
    let sent = |batch: i64| {
        tb.job_times(batch)
            .iter()
            .filter(|j| j.first_sent.is_some())
            .count()
    };
    // An ordinary client takes the whole batch in one reply.
    let hoarder = submit("h");
    let mut spec_h = spec(&tmp.path().join("hoarder"), &tb, "cloud_key");
    spec_h.fetch_when_idle = false;
    let clients = Clients(vec![client::start(&spec_h).unwrap()]);
    wait_until("the client to take work", 60, &clients, || {
        sent(hoarder) > 0
    });
    assert_eq!(sent(hoarder), 4, "one host hoards every copy");
    drop(clients);
    // Cloud workers as the local driver makes them ask only when a CPU is idle.
    let spread = submit("s");
    let mut specs = Vec::new();
    for i in 0..2 {
        let mut sp = spec(&tmp.path().join(format!("cloud{i}")), &tb, "cloud_key");
        sp.fetch_when_idle = true;
        specs.push(sp);
    }
    let clients = Clients(specs.iter().map(|sp| client::start(sp).unwrap()).collect());
    // Left to themselves: a forced RPC of a busy client asks for a second of work, which a
    // server fills (the drivers force RPCs only of workers that hold nothing).
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent(spread) < 2 {
        assert!(Instant::now() < deadline, "the workers took no copies");
        std::thread::sleep(Duration::from_millis(500));
    }
    for _ in 0..10 {
        assert_eq!(sent(spread), 2, "one copy per worker, the others wait");
        std::thread::sleep(Duration::from_secs(1));
    }
    for c in &clients.0 {
        assert_eq!(c.active_tasks().unwrap().len(), 1);
    }
}

#[test]
fn real_clients_run_jobs_and_copies_reach_only_the_cloud_account() {
    assert!(
        client::installed(),
        "boinc-client is not installed (scripts/test installs it)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let tb = Testbed::local(120.0).unwrap();
    let mut clients = Clients(Vec::new());
    let job = |name: &str, target: Option<i64>, secs: u32| {
        app_job(name.into(), secs, target, format!("input of {name}\n"))
    };
    // One long job goes to the volunteer; its copy, targeted, only to the Cloud worker.
    let r = submit_rpc(
        tb.url(),
        &boinc::submit_batch(
            "submitter_key",
            "spqapp",
            "b1",
            &[job("long", None, 200), job("short", None, 2)],
            None,
        ),
    );
    let batch = boinc::parse_batch_id(&r, "submit_batch").unwrap();
    clients
        .0
        .push(client::start(&spec(&tmp.path().join("volunteer"), &tb, "volunteer_key")).unwrap());
    let done = |name: &str| {
        tb.job_times(batch)
            .iter()
            .any(|j| j.name == name && j.done_at.is_some())
    };
    wait_until("the volunteer to take a job", 60, &clients, || {
        tb.job_times(batch).iter().any(|j| j.first_sent.is_some())
    });
    let r = submit_rpc(
        tb.url(),
        &boinc::submit_batch(
            "submitter_key",
            "spqapp",
            "b1-copies",
            &[job("long__copy", Some(2), 2)],
            None,
        ),
    );
    let copies = boinc::parse_batch_id(&r, "submit_batch").unwrap();
    clients
        .0
        .push(client::start(&spec(&tmp.path().join("cloud"), &tb, "cloud_key")).unwrap());
    wait_until(
        "the copy to finish on the Cloud worker",
        90,
        &clients,
        || {
            tb.job_times(copies)
                .iter()
                .any(|j| j.done_at.is_some() && j.done_by_user == Some(2))
        },
    );
    // The output is the input followed by a line naming the host.
    let out = tb.output("long__copy").unwrap();
    assert!(
        out.starts_with(b"input of long__copy\ndone by "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // The copy won: abort the original; the volunteer is told to abort its instance.
    let r = submit_rpc(tb.url(), &boinc::abort_jobs("submitter_key", &["long"]));
    boinc::parse_success(&r, "abort_jobs").unwrap();
    let vol = clients.0[0].clone();
    wait_until(
        "the volunteer to drop the aborted task",
        60,
        &clients,
        || {
            vol.active_tasks()
                .is_ok_and(|t| !t.iter().any(|n| n.starts_with("long_")))
        },
    );
    wait_until("the short job", 60, &clients, || done("short"));
    let q = boinc::parse_query_batch(&submit_rpc(
        tb.url(),
        &boinc::query_batch("submitter_key", batch, true),
    ))
    .unwrap();
    assert_eq!(q.fraction_done, 1.0);
    assert_eq!(q.state, boinc::BatchState::Complete);
    // The Cloud worker never got an untargeted job.
    assert!(tb
        .job_times(batch)
        .iter()
        .all(|j| j.done_by_user != Some(2)));
    let dirs: Vec<_> = clients.0.iter().map(|c| c.dir.clone()).collect();
    drop(clients);
    for d in dirs {
        assert!(
            client::processes_under(&d).is_empty(),
            "left processes in {}",
            d.display()
        );
    }
}

/// A setting of the real-server tier (scripts/test-real-boinc exports them).
fn real(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/test-real-boinc"))
}

/// The real-server tier, run by scripts/test-real-boinc against a BOINC server it built and
/// started (never in the ordinary test command): a BoT of six jobs on two real volunteers,
/// one of which takes a job and vanishes; `spequlos serve` with real Cloud workers must finish
/// the BoT through the straggler's copy, with every job's output on the server afterwards,
/// a ledger that replays and nothing left running.
#[test]
#[ignore = "needs a real BOINC server: scripts/test-real-boinc SRC_DIR"]
fn real_boinc_server_bot_completes_through_the_copy_and_keeps_every_output() {
    let t0 = Instant::now();
    let url = real("SPQ_RB_URL");
    let project = PathBuf::from(real("SPQ_RB_PROJECT"));
    let (service_key, scientist_key) = (real("SPQ_RB_SERVICE_KEY"), real("SPQ_RB_SCIENTIST_KEY"));
    let (cloud_key, volunteer_key) = (real("SPQ_RB_CLOUD_KEY"), real("SPQ_RB_VOLUNTEER_KEY"));
    let cloud_id: i64 = real("SPQ_RB_CLOUD_ID").parse().unwrap();
    let run = std::env::var("SPQ_RB_RUN").unwrap_or_else(|_| "0".into());
    let dir = tempfile::tempdir().unwrap();
    let mut guard = Cleanup {
        child: None,
        dir: dir.path().to_path_buf(),
    };
    let vspec = |i: usize| client::ClientSpec {
        dir: dir.path().join(format!("volunteer{i}")),
        gui_port: client::free_port().unwrap(),
        password: "pw".into(),
        project_url: url.clone(),
        authenticator: volunteer_key.clone(),
        app: client::test_app(),
        ncpus: 1,
        fetch_when_idle: false,
    };
    let vols = Clients(vec![
        client::start(&vspec(0)).unwrap(),
        client::start(&vspec(1)).unwrap(),
    ]);
    // The BoT: six jobs of 3 s, each with its own input, under the scientist's own account.
    let dg = BoincDg {
        name: "real".into(),
        url: url.clone(),
        authenticator: service_key.clone(),
        app_name: "spqapp".into(),
        cloud_user_id: cloud_id,
        cloud_authenticator: cloud_key.clone(),
        timeout: 20.0,
        copy_delay_bound: 0.0,
    };
    let jobs: Vec<JobSpec> = (0..6)
        .map(|i| {
            let name = format!("rb{run}_{}_j{i}", std::process::id());
            app_job(name, 3, None, format!("input {i}\n"))
        })
        .collect();
    let batch = BoincAdapter::new(BoincDg {
        authenticator: scientist_key.clone(),
        ..dg.clone()
    })
    .submit(&format!("rb{run}_{}", std::process::id()), &jobs)
    .unwrap();
    // Odd runs: another batch of the service's account already holds every first copy name
    // (its jobs targeted to nobody), so the first duplication fails on the real server's
    // non-atomic submit_batch and must be cleaned up and made again under new names.
    let squat = run.parse::<u32>().unwrap_or(0) % 2 == 1;
    // Runs 2 and 3 of every 4 reschedule (-R) instead of duplicating (-D): copies made round
    // by round for idle Cloud workers, each round a batch of its own.
    let strategy = if run.parse::<u32>().unwrap_or(0) % 4 >= 2 {
        "9A-F1-R"
    } else {
        "9A-F1-D"
    };
    if squat {
        let taken: Vec<JobSpec> = jobs
            .iter()
            .map(|j| JobSpec {
                name: format!("{}__spq", j.name),
                target_user: Some(999_999),
                ..j.clone()
            })
            .collect();
        BoincAdapter::new(dg.clone())
            .submit(&format!("squat-{run}-{}", std::process::id()), &taken)
            .unwrap();
    }
    // The service, with real Cloud workers (boinc-client processes) on this machine.
    let port = client::free_port().unwrap();
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"db = "{db}"
listen = "127.0.0.1:{port}"
admin_token = "real-admin-token"
poll = 1.0
max_backoff = 4.0

[params]
tick = 3.0

[[boinc]]
name = "real"
url = "{url}"
authenticator = "{service_key}"
app_name = "spqapp"
cloud_user_id = {cloud_id}
cloud_authenticator = "{cloud_key}"
timeout = 20.0

[cloud]
driver = "local"
dir = "{cloud}"
boot_grace = 60.0
stop_grace = 3.0
"#,
            db = s(&dir.path().join("state.sqlite")),
            cloud = s(&dir.path().join("cloud")),
        ),
    )
    .unwrap();
    let log = dir.path().join("serve.log");
    guard.child = Some(serve(&cfg, &log));
    let (base, agent) = api_client(port, 20);
    let admin = "real-admin-token";
    let call = |method: &str, path: &str, token: &str, body: Value| {
        http(&agent, method, &format!("{base}{path}"), token, body)
    };
    assert_eq!(
        call(
            "POST",
            "/api/users",
            admin,
            json!({"name": "alice", "token": "alice-token"})
        )
        .0,
        201
    );
    call(
        "POST",
        "/api/users/alice/credits",
        admin,
        json!({"amount": 1000}),
    );
    let (st, b) = call(
        "PUT",
        "/api/users/alice/accounts/real",
        "alice-token",
        json!({ "authenticator": scientist_key }),
    );
    assert_eq!(st, 200, "the real server accepts her key: {b}");
    let descs: Vec<Value> = jobs
        .iter()
        .map(|j| json!({"name": j.name, "command_line": j.command_line, "inputs": j.inputs}))
        .collect();
    let (st, b) = call(
        "POST",
        "/api/orders",
        "alice-token",
        json!({"batch": batch.to_string(), "dg": "real", "credits": 200, "strategy": strategy, "jobs": descs}),
    );
    assert_eq!(st, 201, "{b}");
    // Volunteer 0 takes one job and vanishes with it: the straggler.
    let straggler = loop {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no volunteer got a job"
        );
        for c in &vols.0 {
            let _ = c.update();
        }
        if let Ok(t) = vols.0[0].active_tasks() {
            if let Some(name) = t.first() {
                vols.0[0].set_available(false).unwrap();
                break name.clone();
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let bot_url = format!("/api/bots/real/{batch}");
    let info = loop {
        assert!(
            t0.elapsed() < Duration::from_secs(480),
            "the BoT did not complete; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let _ = vols.0[1].update();
        let (_, v) = call("GET", &bot_url, "alice-token", json!(null));
        if v["finished"] == json!(true) {
            break v;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let done_s = t0.elapsed().as_secs_f64();
    let logtext = std::fs::read_to_string(&log).unwrap_or_default();
    let won: Vec<String> = info["copies_won"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let straggler_job = jobs
        .iter()
        .find(|j| straggler.starts_with(&j.name))
        .map(|j| j.name.clone())
        .unwrap();
    assert!(
        won.contains(&straggler_job),
        "the straggler {straggler_job} is finished by its copy: won {won:?}; log:\n{logtext}"
    );
    info["copies_batch"].as_i64().expect("a copies batch");
    let all_copies: Vec<i64> = info["copies_batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_i64().unwrap())
        .collect();
    if squat {
        assert!(
            logtext.contains("cleaned up; retried as attempt 1"),
            "the failed first duplication is cleaned up and made again; log:\n{logtext}"
        );
    }
    // Every job's output is on the server, after the service finished and retired what it
    // could (the assimilator runs a little after validation).
    // sample_assimilator writes results/<batch>/<job>__file_<name>; a copy is JOB__spq or,
    // after a failed duplication attempt, JOB__spqN.
    let output = |b: i64, prefix: &str| {
        std::fs::read_dir(project.join("results").join(b.to_string()))
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(prefix) && n.contains("__file")
            })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let missing = loop {
        let missing: Vec<&str> = jobs
            .iter()
            .map(|j| j.name.as_str())
            .filter(|j| {
                let by_copy = won.iter().any(|w| w == j)
                    && all_copies.iter().any(|&b| output(b, &format!("{j}__spq")));
                !(output(batch, &format!("{j}__file")) || by_copy)
            })
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(
        missing.is_empty(),
        "outputs missing for {missing:?}; log:\n{logtext}"
    );
    // Stopping the service stops nothing else: every Cloud worker is already gone.
    assert_eq!(info["cloud_workers_running"], json!(0));
    guard.kill_child();
    drop(vols);
    let left = boinc_processes_in(dir.path());
    assert!(left.is_empty(), "processes left: {left:?}");
    let out = common::ok(&[
        "ledger",
        "verify",
        "--db",
        s(&dir.path().join("state.sqlite")),
    ]);
    assert!(out.starts_with("ledger OK"), "{out}");
    println!("service log:\n{logtext}");
    println!(
        "real-boinc run {run} ({strategy}): batch {batch}, straggler {straggler_job} finished \
         by its copy (copies batches {all_copies:?}, kept{}), {} outputs present, completed in \
         {done_s:.0} s, credits spent {}, {out}",
        if squat {
            "; first duplication failed on taken names, cleaned up, attempt 1 adopted"
        } else {
            ""
        },
        jobs.len(),
        info["credits_spent"]
    );
}
