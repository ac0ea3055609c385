//! `spequlos live --demo`: the whole live stack on this machine, twice.
//!
//! A testbed BOINC server, real boinc-client volunteers whose availability replays a
//! time-scaled synthetic trace (suspended and resumed through boinccmd), the service with its
//! HTTP API and the `local` Cloud driver, and a BoT submitted through BOINC's submit RPC. The
//! BoT runs once with strategy `none` (the service only watches) and once with SpeQuloS;
//! both runs see the same volunteers, trace and jobs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::json;
use spequlos_core::metrics::{pair, run_metrics};
use spequlos_core::{BotProgress, QosParams};

use crate::server::{Testbed, TestbedConfig};
use spequlos_runtime::adapter::{BoincAdapter, BoincDg, DgAdapter};
use spequlos_runtime::api::Api;
use spequlos_runtime::boinc::{InputFile, JobSpec};
use spequlos_runtime::client::{self, Client, ClientSpec};
use spequlos_runtime::local::LocalConfig;
use spequlos_runtime::service::{unix_now, CloudConfig, JobDesc, Service, ServiceConfig};

#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub dir: PathBuf,
    pub volunteers: usize,
    pub jobs: usize,
    /// Job lengths are drawn uniformly in this range, seconds.
    pub job_seconds: (u32, u32),
    pub strategy: String,
    /// Scheduler tick, seconds.
    pub tick: f64,
    /// Seconds an instance has before BOINC sends the job again.
    pub delay_bound: f64,
    /// Mean length of a volunteer's availability interval once time-scaled, seconds.
    pub mean_on: f64,
    pub seed: u64,
    /// Gives up on a run after this many seconds.
    pub run_timeout: f64,
    /// Set (by Ctrl-C) to stop early; every process started is still stopped.
    pub interrupted: Arc<AtomicBool>,
}

impl DemoConfig {
    pub fn new(dir: PathBuf) -> Self {
        DemoConfig {
            dir,
            volunteers: 6,
            jobs: 40,
            job_seconds: (2, 5),
            strategy: "9A-G-D".into(),
            tick: 3.0,
            delay_bound: 45.0,
            mean_on: 40.0,
            seed: 7,
            run_timeout: 200.0,
            interrupted: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// One run of the BoT.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub strategy: String,
    /// Completion time of each job, seconds after submission, sorted.
    pub completions: Vec<f64>,
    pub makespan: f64,
    pub cloud_workers: u32,
    pub credits_spent: u64,
    pub jobs_done_by_cloud: usize,
}

#[derive(Debug, Clone)]
pub struct DemoReport {
    pub baseline: RunReport,
    pub speq: RunReport,
    pub tre: f64,
    pub speedup: f64,
}

/// Availability of each volunteer: (start, end) ON intervals in demo seconds.
///
/// The volunteers are the first hosts of a 60-host synthetic SETI@home trace (the `seti`
/// preset) that are online one day into the trace (a BoT is submitted to hosts that are up),
/// followed from there; time is scaled so that their mean availability interval lasts
/// `mean_on` seconds. SETI@home hosts stay away much longer than they stay up, so a host that
/// leaves with a task usually keeps it until BOINC's deadline: the tail.
fn schedule(cfg: &DemoConfig) -> anyhow::Result<Vec<Vec<(f64, f64)>>> {
    let gen = spequlos_traces::presets::get("seti").expect("built-in preset");
    let (t0, span) = (86_400, 120 * 86_400);
    let pool = (cfg.volunteers * 10).max(60);
    let trace = spequlos_traces::gen::generate_quiet(&gen, pool, span, cfg.seed)
        .map_err(|e| anyhow::anyhow!("demo trace: {e}"))?;
    let chosen: Vec<usize> = (0..trace.host_count())
        .filter(|&h| trace.is_available(h, t0))
        .take(cfg.volunteers)
        .collect();
    anyhow::ensure!(
        chosen.len() == cfg.volunteers,
        "demo trace: only {} of {pool} hosts are online at the start",
        chosen.len()
    );
    let (mut on, mut n) = (0.0, 0usize);
    for &h in &chosen {
        for (s, e) in trace.iter_intervals(h) {
            on += (e - s) as f64;
            n += 1;
        }
    }
    let scale = (on / n.max(1) as f64) / cfg.mean_on;
    Ok(chosen
        .iter()
        .map(|&h| {
            trace
                .iter_intervals(h)
                .filter(|&(_, e)| e > t0)
                .map(|(s, e)| ((s.max(t0) - t0) as f64 / scale, (e - t0) as f64 / scale))
                .collect()
        })
        .collect())
}

fn available(intervals: &[(f64, f64)], t: f64) -> bool {
    intervals.iter().any(|&(s, e)| s <= t && t < e)
}

/// Stops every client it holds when dropped, even on error.
struct Volunteers(Vec<Client>);

impl Drop for Volunteers {
    fn drop(&mut self) {
        std::thread::scope(|s| {
            for c in &self.0 {
                s.spawn(|| c.stop(Duration::from_secs(3)));
            }
        });
    }
}

/// A call to the service's API: a GET when `body` is null, else a POST of `body`.
fn http(
    agent: &ureq::Agent,
    url: &str,
    token: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    http_with(agent, "POST", url, token, body)
}

/// `method` is GET (with a null body), POST or PUT.
fn http_with(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let auth = format!("Bearer {token}");
    let mut resp = if body.is_null() {
        agent.get(url).header("Authorization", &auth).call()?
    } else if method == "PUT" {
        agent
            .put(url)
            .header("Authorization", &auth)
            .send_json(&body)?
    } else {
        agent
            .post(url)
            .header("Authorization", &auth)
            .send_json(&body)?
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string()?;
    if !(200..300).contains(&status) {
        anyhow::bail!("{url}: HTTP {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

fn run_once(
    cfg: &DemoConfig,
    strategy: &str,
    avail: &[Vec<(f64, f64)>],
    say: &mut dyn FnMut(&str),
) -> anyhow::Result<RunReport> {
    let dir = cfg.dir.join(if strategy == "none" {
        "baseline"
    } else {
        "spequlos"
    });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let tb = Testbed::start(
        TestbedConfig {
            delay_bound: cfg.delay_bound,
            max_wus_in_progress: 2,
            ..Default::default()
        },
        "127.0.0.1:0",
    )?;
    let tcfg = tb.config();
    let user = |name: &str| {
        tcfg.users
            .iter()
            .find(|u| u.name == name)
            .expect("default user")
            .clone()
    };
    let (submitter, cloud, volunteer, scientist) = (
        user("submitter"),
        user("spequlos-cloud"),
        user("volunteer"),
        user("scientist"),
    );
    say(&format!(
        "[{strategy}] testbed at {}; starting {} volunteers",
        tb.url(),
        cfg.volunteers
    ));
    let specs: Vec<ClientSpec> = (0..cfg.volunteers)
        .map(|i| {
            Ok(ClientSpec {
                dir: dir.join(format!("volunteer{i}")),
                gui_port: client::free_port()?,
                password: format!("vol{i}pw"),
                project_url: tb.url().to_string(),
                authenticator: volunteer.authenticator.clone(),
                app: client::test_app(),
                ncpus: 1,
                fetch_when_idle: false,
            })
        })
        .collect::<std::io::Result<_>>()?;
    let mut vols = Volunteers(Vec::new());
    let started: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = specs
            .iter()
            .map(|sp| s.spawn(|| client::start(sp)))
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("start thread"))
            .collect()
    });
    for c in started {
        vols.0.push(c?);
    }
    // Wait until every volunteer has made its first scheduler RPC, so that the BoT's clock
    // does not include the clients' start-up.
    let deadline = Instant::now() + Duration::from_secs(60);
    while tb.hosts() < cfg.volunteers && !cfg.interrupted.load(Ordering::SeqCst) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "[{strategy}] volunteers did not contact the testbed within 60 s"
        );
        for c in &vols.0 {
            let _ = c.update();
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    // The service, with its API, the local Cloud driver and a fresh store.
    let dg = BoincDg {
        name: "testbed".into(),
        url: tb.url().to_string(),
        authenticator: submitter.authenticator.clone(),
        app_name: tcfg.app_name.clone(),
        cloud_user_id: cloud.id,
        cloud_authenticator: cloud.authenticator.clone(),
        timeout: 10.0,
        copy_delay_bound: 0.0,
    };
    let admin = "demo-admin-token";
    let scfg = ServiceConfig {
        db: dir.join("spequlos.sqlite"),
        listen: "127.0.0.1:0".into(),
        admin_token: admin.into(),
        params: QosParams {
            tick: cfg.tick,
            ..Default::default()
        },
        default_strategy: "9A-G-D".into(),
        oracle: Default::default(),
        poll: 2.0,
        max_backoff: 10.0,
        boinc: vec![dg.clone()],
        cloud: CloudConfig::Local(LocalConfig {
            dir: dir.join("cloud"),
            boot_grace: 30.0,
            stop_grace: 3.0,
            // The testbed's request delay is 1 s.
            ask_grace: 3.0,
        }),
    };
    let mut service = Service::open(scfg, Box::new(|_| {}))?;
    let api = Api::start(service.shared(), "127.0.0.1:0")?;
    let base = format!("http://{}", api.addr());
    let stop = Arc::new(AtomicBool::new(false));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();

    // The BoT: jobs of a few seconds, drawn with the demo's seed (the same in both runs).
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let jobs: Vec<JobDesc> = (0..cfg.jobs)
        .map(|i| JobDesc {
            name: format!("demo_j{i:03}"),
            command_line: format!(
                "--seconds {}",
                rng.random_range(cfg.job_seconds.0..=cfg.job_seconds.1)
            ),
            inputs: vec![InputFile::Inline {
                content: format!("job {i}\n"),
            }],
            rsc_fpops_est: 1e9,
        })
        .collect();
    let specs: Vec<JobSpec> = jobs
        .iter()
        .map(|j| JobSpec {
            name: j.name.clone(),
            rsc_fpops_est: j.rsc_fpops_est,
            command_line: j.command_line.clone(),
            target_user: None,
            priority: None,
            inputs: j.inputs.clone(),
        })
        .collect();

    let result = (|| -> anyhow::Result<RunReport> {
        http(
            &agent,
            &format!("{base}/api/users"),
            admin,
            json!({"name": "alice", "token": "alice-token"}),
        )?;
        http(
            &agent,
            &format!("{base}/api/users/alice/credits"),
            admin,
            json!({"amount": 10_000}),
        )?;
        // Alice submits with her own BOINC account and links it, so the service can check
        // that the batch she orders for is hers.
        http_with(
            &agent,
            "PUT",
            &format!("{base}/api/users/alice/accounts/testbed"),
            "alice-token",
            json!({"authenticator": scientist.authenticator}),
        )?;
        let t0 = unix_now();
        let batch = BoincAdapter::new(BoincDg {
            authenticator: scientist.authenticator.clone(),
            ..dg.clone()
        })
        .submit("demo", &specs)?;
        let credits = if strategy == "none" { 0 } else { 4800 };
        http(
            &agent,
            &format!("{base}/api/orders"),
            "alice-token",
            json!({"batch": batch.to_string(), "dg": "testbed", "credits": credits, "strategy": strategy, "jobs": jobs}),
        )?;
        say(&format!(
            "[{strategy}] batch {batch}: {} jobs submitted, {credits} credits ordered",
            cfg.jobs
        ));
        let svc_stop = stop.clone();
        let done_info = std::thread::scope(|s| -> anyhow::Result<serde_json::Value> {
            let svc = s.spawn(|| service.run(&svc_stop));
            let r = (|| {
                let start = Instant::now();
                let mut state: Vec<Option<bool>> = vec![None; vols.0.len()];
                let mut last_poke = Instant::now();
                let mut last_say = 0.0;
                loop {
                    let t = start.elapsed().as_secs_f64();
                    for (i, c) in vols.0.iter().enumerate() {
                        let on = available(&avail[i], t);
                        if state[i] != Some(on) {
                            let _ = c.set_available(on);
                            state[i] = Some(on);
                        }
                    }
                    if last_poke.elapsed() > Duration::from_secs(2) {
                        for (i, c) in vols.0.iter().enumerate() {
                            if state[i] == Some(true) {
                                let _ = c.update();
                            }
                        }
                        last_poke = Instant::now();
                    }
                    let info = http(
                        &agent,
                        &format!("{base}/api/bots/testbed/{batch}"),
                        "alice-token",
                        json!(null),
                    )?;
                    if t - last_say >= 10.0 {
                        let online = state.iter().filter(|s| **s == Some(true)).count();
                        say(&format!(
                            "[{strategy}] t={t:>4.0} s  completed {:>2}/{}  volunteers online {online}/{}  Cloud workers {}",
                            info["completed"], cfg.jobs, vols.0.len(), info["cloud_workers_running"]
                        ));
                        last_say = t;
                    }
                    if info["finished"] == json!(true) {
                        return Ok(info);
                    }
                    if cfg.interrupted.load(Ordering::SeqCst) {
                        anyhow::bail!("interrupted");
                    }
                    if t > cfg.run_timeout {
                        anyhow::bail!(
                            "[{strategy}] the BoT did not finish within {} s",
                            cfg.run_timeout
                        );
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            })();
            svc_stop.store(true, Ordering::SeqCst);
            svc.join().expect("service thread");
            r
        })?;
        let times = tb.job_times(batch);
        let mut completions: Vec<f64> = times
            .iter()
            .filter_map(|j| j.done_at.map(|d| d - t0))
            .collect();
        // Jobs finished by their copy: the copy's time.
        let copies = done_info["copies_batch"].as_i64();
        let mut by_cloud = 0;
        if let Some(cb) = copies {
            for c in tb.job_times(cb) {
                if let Some(d) = c.done_at {
                    let orig = c.name.trim_end_matches("__spq");
                    if times
                        .iter()
                        .any(|j| j.name == orig && j.done_at.is_none_or(|od| od > d))
                    {
                        completions.push(d - t0);
                        by_cloud += 1;
                    }
                }
            }
        }
        completions.sort_by(f64::total_cmp);
        completions.truncate(cfg.jobs);
        let makespan = completions.last().copied().unwrap_or(f64::NAN);
        Ok(RunReport {
            strategy: strategy.to_string(),
            completions,
            makespan,
            cloud_workers: done_info["cloud_workers_started"].as_u64().unwrap_or(0) as u32,
            credits_spent: done_info["credits_spent"].as_u64().unwrap_or(0),
            jobs_done_by_cloud: by_cloud,
        })
    })();
    stop.store(true, Ordering::SeqCst);
    service.stop_all_workers();
    drop(api);
    drop(vols);
    result
}

fn progress_of(r: &RunReport) -> BotProgress {
    let mut p = BotProgress::new(r.completions.len() as u32);
    p.record_assigned(0.0, r.completions.len() as u32);
    for &c in &r.completions {
        p.record_completed(c, 1);
    }
    p
}

/// Runs both executions and compares them.
pub fn run(cfg: &DemoConfig, say: &mut dyn FnMut(&str)) -> anyhow::Result<DemoReport> {
    anyhow::ensure!(
        client::installed(),
        "the demo needs the real BOINC client: apt-get install boinc-client"
    );
    std::fs::create_dir_all(&cfg.dir)?;
    let avail = schedule(cfg)?;
    let baseline = run_once(cfg, "none", &avail, say)?;
    let speq = run_once(cfg, &cfg.strategy, &avail, say)?;
    let mb = run_metrics(&progress_of(&baseline), 0.0, 0.9);
    let ms = run_metrics(&progress_of(&speq), 0.0, 0.9);
    let p = pair(&mb, &ms);
    Ok(DemoReport {
        baseline,
        speq,
        tre: p.tre,
        speedup: p.speedup,
    })
}

/// The text the demo prints: both timelines, Cloud use, credits, TRE.
pub fn render(r: &DemoReport) -> String {
    let mut s = String::new();
    let span = r.baseline.makespan.max(r.speq.makespan);
    let step = (span / 20.0).max(1.0);
    s.push_str("\ncompleted jobs over time (one column per step)\n");
    for run in [&r.baseline, &r.speq] {
        let n = run.completions.len().max(1);
        let mut line = String::new();
        let mut t = step;
        while t < span + step {
            let done = run.completions.iter().filter(|&&c| c <= t).count();
            line.push([' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'][(done * 8 / n).min(8)]);
            t += step;
        }
        s.push_str(&format!(
            "  {:>8} |{line}| {:>5.0} s\n",
            run.strategy, run.makespan
        ));
    }
    s.push_str(&format!("  (step {step:.0} s)\n\n"));
    s.push_str("                        baseline   SpeQuloS\n");
    let q = |r: &RunReport, f: f64| progress_of(r).time_at(f).unwrap_or(f64::NAN);
    for f in [0.5, 0.9, 1.0] {
        s.push_str(&format!(
            "  {:>3.0} % of jobs done    {:>6.0} s   {:>6.0} s\n",
            f * 100.0,
            q(&r.baseline, f),
            q(&r.speq, f)
        ));
    }
    s.push_str(&format!(
        "  Cloud workers             {:>4}       {:>4}\n  jobs finished by Cloud    {:>4}       {:>4}\n  credits spent             {:>4}       {:>4}\n",
        r.baseline.cloud_workers,
        r.speq.cloud_workers,
        r.baseline.jobs_done_by_cloud,
        r.speq.jobs_done_by_cloud,
        r.baseline.credits_spent,
        r.speq.credits_spent
    ));
    s.push_str(&format!(
        "\nstrategy {}: speedup {:.2}, tail removal efficiency (TRE) {:.2}\n",
        r.speq.strategy, r.speedup, r.tre
    ));
    s
}

/// Removes a demo directory's leftovers.
pub fn clean(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
