//! The service end to end against the testbed, with scripted hosts (exact control over who
//! holds what) and a fake Cloud of shell commands: the HTTP API's error handling, and a BoT
//! that completes although the BOINC server answers HTTP 500 and malformed XML, another DG is
//! unreachable, and the Cloud refuses the first worker start.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use spequlos_core::ledger::EntryKind;
use spequlos_core::QosParams;
use spequlos_runtime::adapter::{BoincAdapter, BoincDg, DgAdapter};
use spequlos_runtime::api::Api;
use spequlos_runtime::boinc::JobSpec;
use spequlos_runtime::service::{CloudConfig, Service, ServiceConfig};
use spequlos_runtime::store::{self, Store};
use spequlos_runtime::testbed::{Fault, ScriptedHost, Testbed, TestbedConfig};

const ADMIN: &str = "admin-token-123";

fn dg(name: &str, url: &str) -> BoincDg {
    BoincDg {
        name: name.into(),
        url: url.into(),
        authenticator: "submitter_key".into(),
        app_name: "spqapp".into(),
        cloud_user_id: 2,
        cloud_authenticator: "cloud_key".into(),
        timeout: 2.0,
    }
}

/// A fake Cloud: `running` lists the workers; the first `fail` starts are refused.
fn fake_cloud(dir: &Path, fail: u32) -> CloudConfig {
    let s = dir.join("running").display().to_string();
    let n = dir.join("failures").display().to_string();
    std::fs::write(&s, "").unwrap();
    std::fs::write(&n, "0").unwrap();
    CloudConfig::Command {
        start: format!(
            "f=$(cat {n}); if [ \"$f\" -lt {fail} ]; then echo $((f+1)) > {n}; echo quota exceeded >&2; exit 1; fi; echo {{name}} >> {s}"
        ),
        stop: format!("grep -vx {{name}} {s} > {s}.tmp || true; mv {s}.tmp {s}"),
        list: format!("cat {s}"),
    }
}

fn config(dir: &Path, dgs: Vec<BoincDg>, cloud: CloudConfig, tick: f64) -> ServiceConfig {
    ServiceConfig {
        db: dir.join("state.sqlite"),
        listen: "127.0.0.1:0".into(),
        admin_token: ADMIN.into(),
        params: QosParams {
            tick,
            ..Default::default()
        },
        default_strategy: "9A-G-D".into(),
        oracle: Default::default(),
        poll: 0.5,
        max_backoff: 2.0,
        boinc: dgs,
        cloud,
    }
}

struct Http {
    base: String,
    agent: ureq::Agent,
}

impl Http {
    fn new(api: &Api) -> Self {
        Http {
            base: format!("http://{}", api.addr()),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut resp = if method == "GET" {
            let mut r = self.agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call().unwrap()
        } else {
            let mut r = self.agent.post(&url).content_type("application/json");
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send(body.as_bytes()).unwrap()
        };
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    }

    fn json(&self, method: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
        let (s, b) = self.call(method, path, Some(token), &body.to_string());
        (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
    }
}

#[test]
fn api_refuses_bad_requests_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let tb = Testbed::start(TestbedConfig::default(), "127.0.0.1:0").unwrap();
    let cfg = config(
        dir.path(),
        vec![dg("tb", tb.url())],
        fake_cloud(dir.path(), 0),
        240.0,
    );
    let service = Service::open(cfg, Box::new(|_| {})).unwrap();
    let api = Api::start(service.shared(), "127.0.0.1:0").unwrap();
    let h = Http::new(&api);
    assert_eq!(h.call("GET", "/api/health", None, "").0, 200);
    assert_eq!(h.call("GET", "/api/credits", None, "").0, 401);
    assert_eq!(
        h.call("GET", "/api/credits", Some("wrong-token"), "").0,
        401
    );
    let (s, b) = h.call("POST", "/api/users", Some(ADMIN), "{not json");
    assert_eq!(s, 400);
    assert!(b.contains("malformed JSON body"), "{b}");
    let (s, b) = h.json("POST", "/api/users", ADMIN, json!({"name": "alice"}));
    assert_eq!(s, 400, "missing field");
    assert!(b.to_string().contains("token"), "{b}");
    let (s, _) = h.json(
        "POST",
        "/api/users",
        ADMIN,
        json!({"name": "alice", "token": "alice-token"}),
    );
    assert_eq!(s, 201);
    assert_eq!(
        h.json(
            "POST",
            "/api/users",
            ADMIN,
            json!({"name": "alice", "token": "other-token"})
        )
        .0,
        409
    );
    assert_eq!(
        h.json(
            "POST",
            "/api/users",
            "alice-token",
            json!({"name": "eve", "token": "eve-token1"})
        )
        .0,
        403,
        "only the admin creates users"
    );
    let (s, b) = h.json(
        "POST",
        "/api/users/alice/credits",
        ADMIN,
        json!({"amount": 100}),
    );
    assert_eq!((s, &b["balance"]), (200, &json!(100)));
    // An order larger than the balance is refused and changes nothing.
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        "alice-token",
        json!({"batch": "1", "dg": "tb", "credits": 500, "strategy": "9A-G-F"}),
    );
    assert_eq!(s, 402, "{b}");
    assert!(b["error"].as_str().unwrap().contains("balance 100"), "{b}");
    let (_, b) = h.json("GET", "/api/credits", "alice-token", json!(null));
    assert_eq!(b["balance"], json!(100));
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        "alice-token",
        json!({"batch": "1", "dg": "nope", "credits": 5}),
    );
    assert_eq!(s, 400);
    assert!(b["error"].as_str().unwrap().contains("unknown DG"), "{b}");
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        "alice-token",
        json!({"batch": "1", "dg": "tb", "credits": 5, "strategy": "9A-G-D"}),
    );
    assert_eq!(s, 400, "duplication needs job descriptions: {b}");
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        "alice-token",
        json!({"batch": "1", "dg": "tb", "credits": 5, "strategy": "bogus"}),
    );
    assert_eq!(s, 400);
    assert!(b["error"].as_str().unwrap().starts_with("strategy"), "{b}");
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        "alice-token",
        json!({"batch": "1", "dg": "tb", "credits": 30, "strategy": "9A-G-F", "extra": 1}),
    );
    assert_eq!(s, 400, "unknown fields are named: {b}");
    assert!(b["error"].as_str().unwrap().contains("extra"));
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        "alice-token",
        json!({"batch": "1", "dg": "tb", "credits": 30, "strategy": "9A-G-F"}),
    );
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["credits_ordered"], json!(30));
    // Another user cannot top up (and so take over) alice's order.
    h.json(
        "POST",
        "/api/users",
        ADMIN,
        json!({"name": "bob", "token": "bob-token-1"}),
    );
    h.json(
        "POST",
        "/api/users/bob/credits",
        ADMIN,
        json!({"amount": 10}),
    );
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        "bob-token-1",
        json!({"batch": "1", "dg": "tb", "credits": 5, "strategy": "9A-G-F"}),
    );
    assert_eq!(s, 403, "{b}");
    // The portal's scripts, with their parameter names.
    let (s, b) = h.call(
        "GET",
        "/credit/get_credits.py?qosuser_id=alice&token=alice-token",
        None,
        "",
    );
    assert_eq!((s, b.as_str()), (200, "<div class=\"qos\">70</div>\n"));
    let (_, b) = h.call(
        "GET",
        "/credit/get_credits.py?batch_id=1&dg_id=tb",
        Some("alice-token"),
        "",
    );
    assert_eq!(b, "<div class=\"qos\">30</div>\n");
    let (_, b) = h.call(
        "GET",
        "/credit/order.py?batch_id=2&dg_id=tb&qosuser_id=alice&credit=10&strategy=9C-F2-F",
        Some("alice-token"),
        "",
    );
    assert_eq!(b, "<div class=\"qos\">order_true</div>\n");
    let (_, b) = h.call(
        "GET",
        "/credit/order.py?batch_id=3&dg_id=tb&qosuser_id=alice&credit=1000&strategy=9C-F2-F",
        Some("alice-token"),
        "",
    );
    assert!(b.starts_with("<div class=\"qos\">order_false"), "{b}");
    let (_, b) = h.call(
        "GET",
        "/credit/get_qosorders.py?qosuser_id=alice",
        Some("alice-token"),
        "",
    );
    assert_eq!(
        b,
        "<div class=\"qos\">1 tb alice 30</div>\n<div class=\"qos\">2 tb alice 10</div>\n"
    );
    let (_, b) = h.call(
        "GET",
        "/oracle/get_completion_info.py?batch_id=1&dg_id=tb",
        Some("alice-token"),
        "",
    );
    assert!(
        b.starts_with("<div class=\"qos\">") && b.contains(" 0.0000<"),
        "{b}"
    );
    let (_, b) = h.call(
        "GET",
        "/oracle/predict.py?batch_id=1&dg_id=tb",
        Some("alice-token"),
        "",
    );
    assert!(
        b.starts_with("<div class=\"qos\">None"),
        "no completion yet: {b}"
    );
    let (s, _) = h.call("GET", "/api/bots/tb/1", Some("alice-token"), "");
    assert_eq!(s, 200);
    assert_eq!(
        h.call("GET", "/api/bots/tb/999", Some("alice-token"), "").0,
        404
    );
    assert_eq!(
        h.call("GET", "/api/workers", Some("alice-token"), "").0,
        403
    );
    assert_eq!(h.call("GET", "/api/workers", Some(ADMIN), "").0, 200);
    assert_eq!(h.call("GET", "/api/nothing", Some(ADMIN), "").0, 404);
    drop(api);
    // Everything above is durable: a reopened store has the same ledger.
    drop(service);
    let audit = store::verify(&dir.path().join("state.sqlite")).unwrap();
    assert_eq!(audit.orders, 2);
}

/// Scripted volunteers: the first holds its first task forever (a host gone with its task),
/// the others finish each task at their next RPC. A scripted Cloud host runs when told.
struct Hosts {
    volunteers: Vec<ScriptedHost>,
    cloud: ScriptedHost,
}

impl Hosts {
    fn new(url: &str) -> Self {
        Hosts {
            volunteers: (0..3)
                .map(|_| ScriptedHost::new(url, "volunteer_key", "spqapp"))
                .collect(),
            cloud: ScriptedHost::new(url, "cloud_key", "spqapp"),
        }
    }

    fn step(&mut self, cloud_running: bool) {
        for (i, v) in self.volunteers.iter_mut().enumerate() {
            let finished: Vec<String> = if i == 0 { Vec::new() } else { v.held.clone() };
            // The slow host never asks for more once it holds a task.
            let want = i != 0 || v.held.is_empty();
            let _ = v.rpc(&finished, want);
        }
        if cloud_running {
            let finished = self.cloud.held.clone();
            let _ = self.cloud.rpc(&finished, true);
        }
    }
}

#[test]
fn a_bot_completes_through_server_errors_an_unreachable_dg_and_a_failed_cloud_start() {
    let dir = tempfile::tempdir().unwrap();
    let tb = Testbed::local(3600.0).unwrap();
    // A DG nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let cfg = config(
        dir.path(),
        vec![dg("tb", tb.url()), dg("dead", &dead_url)],
        fake_cloud(dir.path(), 1),
        0.3,
    );
    let logs = Arc::new(Mutex::new(Vec::<String>::new()));
    let l2 = logs.clone();
    let t0 = Instant::now();
    let mut service = Service::open(
        cfg,
        Box::new(move |m| {
            eprintln!("{:.2} {m}", t0.elapsed().as_secs_f64());
            l2.lock().unwrap().push(m.to_string())
        }),
    )
    .unwrap();
    let shared = service.shared();
    let jobs: Vec<JobSpec> = (0..12)
        .map(|i| JobSpec {
            name: format!("j{i}"),
            rsc_fpops_est: 1e9,
            command_line: String::new(),
            target_user: None,
            priority: None,
            inputs: Vec::new(),
        })
        .collect();
    let batch = BoincAdapter::new(dg("tb", tb.url()))
        .submit("b", &jobs)
        .unwrap();
    {
        let mut g = shared.lock().unwrap();
        g.store.add_user("alice", "alice-token", false).unwrap();
        g.store.deposit(0.0, "alice", 1000).unwrap();
        let descs = jobs
            .iter()
            .map(|j| spequlos_runtime::service::JobDesc {
                name: j.name.clone(),
                command_line: String::new(),
                inputs: Vec::new(),
                rsc_fpops_est: 1e9,
            })
            .collect();
        let now = spequlos_runtime::service::unix_now();
        g.order(
            now,
            "alice",
            &spequlos_core::BotKey::new(batch.to_string(), "tb"),
            100,
            Some("9A-F2-D"),
            descs,
        )
        .unwrap();
        g.order(
            now,
            "alice",
            &spequlos_core::BotKey::new("7", "dead"),
            10,
            Some("9A-F1-F"),
            Vec::new(),
        )
        .unwrap();
    }
    let stop = AtomicBool::new(false);
    let running_file = dir.path().join("running");
    let mut hosts = Hosts::new(tb.url());
    let key = spequlos_core::BotKey::new(batch.to_string(), "tb");
    std::thread::scope(|s| {
        s.spawn(|| service.run(&stop));
        let start = Instant::now();
        let mut faults_injected = false;
        loop {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the BoT did not complete; log: {:#?}",
                logs.lock().unwrap()
            );
            // One job is left when 9A fires, so sizing starts one worker (F2 is capped by the
            // work left); its start fails, and the Cloud host works only once a worker runs:
            // the replacement is needed for the BoT to complete.
            let cloud_running = std::fs::read_to_string(&running_file)
                .unwrap()
                .lines()
                .count()
                >= 1;
            hosts.step(cloud_running);
            let (finished, completed) = {
                let g = shared.lock().unwrap();
                let b = &g.bots[&key];
                (b.finished, b.progress.completed())
            };
            if completed >= 3 && !faults_injected {
                // The server fails for a while: 3 HTTP 500, then 3 malformed replies.
                tb.set_fault(Fault::Http500, 3);
                std::thread::sleep(Duration::from_millis(1500));
                tb.set_fault(Fault::Malformed, 3);
                faults_injected = true;
            }
            if finished {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::SeqCst);
    });
    let log = logs.lock().unwrap().join("\n");
    assert!(log.contains("HTTP 500"), "{log}");
    assert!(log.contains("malformed reply"), "{log}");
    assert!(
        log.contains("[dead/7] DG query failed") && log.contains("retry in"),
        "{log}"
    );
    assert!(log.contains("did not start, retried next tick"), "{log}");
    assert!(log.contains("duplicated"), "{log}");
    // The tail job held by the slow host was finished by its copy on the Cloud.
    let times = tb.job_times(batch);
    assert!(
        times.iter().any(|j| j.cancelled),
        "the original of the copied straggler is aborted"
    );
    // Every worker is stopped; the failed start was never charged.
    assert_eq!(std::fs::read_to_string(&running_file).unwrap().trim(), "");
    drop(service);
    let audit = store::verify(&dir.path().join("state.sqlite")).unwrap();
    let s = Store::open(&dir.path().join("state.sqlite")).unwrap();
    let mut charges: BTreeMap<u32, u64> = BTreeMap::new();
    for e in s.ledger().entries() {
        if let EntryKind::Charge { bot, worker } = &e.kind {
            assert_eq!(bot, &key);
            assert_eq!(e.amount, 1, "one credit per worker per tick");
            *charges.entry(*worker).or_default() += 1;
        }
    }
    assert!(
        !charges.contains_key(&0),
        "worker 0 failed to start and must not be charged: {charges:?}"
    );
    assert_eq!(
        charges.keys().copied().collect::<Vec<_>>(),
        vec![1],
        "one worker (F2 capped by the one job left), 0 replaced by 1"
    );
    assert_eq!(audit.credits_charged, charges.values().sum::<u64>());
    let o = s.ledger().order_of(&key).unwrap();
    assert!(!o.open, "the order is closed at completion");
    assert_eq!(
        s.ledger().balance("alice"),
        1000 - 100 - 10 + (100 - o.spent)
    );
}
