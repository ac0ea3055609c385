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
use spequlos_core::oracle::{OracleKey, RunRecord};
use spequlos_core::QosParams;
use spequlos_runtime::adapter::{BoincAdapter, BoincDg, DgAdapter};
use spequlos_runtime::api::Api;
use spequlos_runtime::boinc::JobSpec;
use spequlos_runtime::cloud::CommandConfig;
use spequlos_runtime::service::{Clock, CloudConfig, ManualClock, Owner, Service, ServiceConfig};
use spequlos_runtime::store::{self, Store};
use spequlos_testbed::{Fault, ScriptedHost, Testbed, TestbedConfig};

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
        copy_delay_bound: 0.0,
    }
}

/// A fake Cloud: `running` lists the workers; the first `fail` starts are refused.
fn fake_cloud(dir: &Path, fail: u32) -> CloudConfig {
    let s = dir.join("running").display().to_string();
    let n = dir.join("failures").display().to_string();
    std::fs::write(&s, "").unwrap();
    std::fs::write(&n, "0").unwrap();
    CloudConfig::Command(CommandConfig::new(
        format!(
            "f=$(cat {n}); if [ \"$f\" -lt {fail} ]; then echo $((f+1)) > {n}; echo quota exceeded >&2; exit 1; fi; echo {{name}} >> {s}"
        ),
        format!("grep -vx {{name}} {s} > {s}.tmp || true; mv {s}.tmp {s}"),
        format!("cat {s}"),
    ))
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
        let a = auth.as_deref().unwrap_or("");
        let mut resp = match method {
            "GET" => self.agent.get(&url).header("Authorization", a).call(),
            "DELETE" => self.agent.delete(&url).header("Authorization", a).call(),
            "PUT" => self
                .agent
                .put(&url)
                .header("Authorization", a)
                .content_type("application/json")
                .send(body.as_bytes()),
            _ => self
                .agent
                .post(&url)
                .header("Authorization", a)
                .content_type("application/json")
                .send(body.as_bytes()),
        }
        .unwrap();
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
    let mut service = Service::open(cfg, Box::new(|_| {})).unwrap();
    let shared = service.shared();
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
    // Batches on the testbed: three of alice's own account, one of the service's.
    let next_job = std::cell::Cell::new(0);
    let submit = |key: &str, n: usize| {
        let jobs: Vec<JobSpec> = (0..n)
            .map(|_| JobSpec {
                name: format!("job{}", next_job.replace(next_job.get() + 1)),
                rsc_fpops_est: 1e9,
                command_line: String::new(),
                target_user: None,
                priority: None,
                inputs: Vec::new(),
            })
            .collect();
        BoincAdapter::new(BoincDg {
            authenticator: key.into(),
            ..dg("tb", tb.url())
        })
        .submit("b", &jobs)
        .unwrap()
        .to_string()
    };
    let (b1, b2, b3) = (
        submit("scientist_key", 2),
        submit("scientist_key", 2),
        submit("scientist_key", 2),
    );
    let service_batch = submit("submitter_key", 2);
    let order = |token: &str, batch: &str, credits: u64| {
        h.json(
            "POST",
            "/api/orders",
            token,
            json!({"batch": batch, "dg": "tb", "credits": credits, "strategy": "9A-G-F"}),
        )
    };
    // Without a linked BOINC account, a user cannot order: nothing proves the batch is hers.
    let (s, b) = order("alice-token", &b1, 30);
    assert_eq!(s, 403, "{b}");
    assert!(b["error"].as_str().unwrap().contains("link"), "{b}");
    // Linking checks the key with the DG.
    let link = |token: &str, user: &str, key: &str| {
        h.json(
            "PUT",
            &format!("/api/users/{user}/accounts/tb"),
            token,
            json!({ "authenticator": key }),
        )
    };
    let (s, b) = link("alice-token", "alice", "not-a-key");
    assert_eq!(s, 403, "a key the DG refuses: {b}");
    assert!(
        b["error"].as_str().unwrap().contains("bad authenticator"),
        "{b}"
    );
    assert_eq!(link("alice-token", "alice", "bad key\n").0, 400);
    assert_eq!(link("alice-token", "bob", "scientist_key").0, 403);
    assert_eq!(link(ADMIN, "nobody", "scientist_key").0, 404);
    assert_eq!(
        h.json(
            "PUT",
            "/api/users/alice/accounts/nope",
            "alice-token",
            json!({"authenticator": "scientist_key"})
        )
        .0,
        400
    );
    let (s, b) = link("alice-token", "alice", "scientist_key");
    assert_eq!(s, 200, "{b}");
    // An order larger than the balance is refused and changes nothing.
    let (s, b) = order("alice-token", &b1, 500);
    assert_eq!(s, 402, "{b}");
    assert!(b["error"].as_str().unwrap().contains("balance 100"), "{b}");
    let (_, b) = h.json("GET", "/api/credits", "alice-token", json!(null));
    assert_eq!(b["balance"], json!(100));
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        "alice-token",
        json!({"batch": b1, "dg": "nope", "credits": 5}),
    );
    assert_eq!(s, 400);
    assert!(b["error"].as_str().unwrap().contains("unknown DG"), "{b}");
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        "alice-token",
        json!({"batch": b1, "dg": "tb", "credits": 5, "strategy": "9A-G-D"}),
    );
    assert_eq!(s, 400, "duplication needs job descriptions: {b}");
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        "alice-token",
        json!({"batch": b1, "dg": "tb", "credits": 5, "strategy": "bogus"}),
    );
    assert_eq!(s, 400);
    assert!(b["error"].as_str().unwrap().starts_with("strategy"), "{b}");
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        "alice-token",
        json!({"batch": b1, "dg": "tb", "credits": 30, "strategy": "9A-G-F", "extra": 1}),
    );
    assert_eq!(s, 400, "unknown fields are named: {b}");
    assert!(b["error"].as_str().unwrap().contains("extra"));
    // The DG decides: a batch it does not have, or of another account, is refused.
    let (s, b) = order("alice-token", "424242", 5);
    assert_eq!(s, 404, "{b}");
    let (s, b) = order("alice-token", &service_batch, 5);
    assert_eq!(s, 403, "the service's batch is not alice's: {b}");
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains("another BOINC account"),
        "{b}"
    );
    let (s, b) = order("alice-token", &b1, 30);
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["credits_ordered"], json!(30));
    // Another user cannot top up (and so take over) alice's order, nor order on her
    // batches with an account of his own.
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
    assert_eq!(order("bob-token-1", &b1, 5).0, 403);
    assert_eq!(link("bob-token-1", "bob", "submitter_key").0, 200);
    let (s, b) = order("bob-token-1", &b3, 5);
    assert_eq!(s, 403, "alice's batch, bob's account: {b}");
    // The admin may vouch for a batch of the service's own account.
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        ADMIN,
        json!({"batch": service_batch, "dg": "tb", "credits": 4, "strategy": "9A-G-F", "user": "bob"}),
    );
    assert_eq!(s, 201, "{b}");
    // Cancelling: only the owner (or the admin); the refund comes at the Scheduler's turn.
    assert_eq!(
        h.call(
            "DELETE",
            &format!("/api/orders/tb/{service_batch}"),
            Some("alice-token"),
            ""
        )
        .0,
        403
    );
    assert_eq!(
        h.call("DELETE", "/api/orders/tb/999999", Some("bob-token-1"), "")
            .0,
        404
    );
    let (s, b) = h.call(
        "DELETE",
        &format!("/api/orders/tb/{service_batch}"),
        Some("bob-token-1"),
        "",
    );
    assert_eq!(s, 202, "{b}");
    assert!(b.contains("\"cancelling\":true"), "{b}");
    let (s, b) = h.json(
        "POST",
        "/api/orders",
        ADMIN,
        json!({"batch": service_batch, "dg": "tb", "credits": 1, "user": "bob"}),
    );
    assert_eq!(s, 409, "no top-up of an order being cancelled: {b}");
    let (_, b) = h.json("GET", "/api/credits", "bob-token-1", json!(null));
    assert_eq!(
        b["balance"],
        json!(6),
        "not refunded before the Scheduler's turn"
    );
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
        &format!("/credit/get_credits.py?batch_id={b1}&dg_id=tb"),
        Some("alice-token"),
        "",
    );
    assert_eq!(b, "<div class=\"qos\">30</div>\n");
    let (_, b) = h.call(
        "GET",
        &format!(
            "/credit/order.py?batch_id={b2}&dg_id=tb&qosuser_id=alice&credit=10&strategy=9C-F2-F"
        ),
        Some("alice-token"),
        "",
    );
    assert_eq!(b, "<div class=\"qos\">order_true</div>\n");
    let (_, b) = h.call(
        "GET",
        &format!(
            "/credit/order.py?batch_id={b3}&dg_id=tb&qosuser_id=alice&credit=1000&strategy=9C-F2-F"
        ),
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
        format!("<div class=\"qos\">{b1} tb alice 30</div>\n<div class=\"qos\">{b2} tb alice 10</div>\n")
    );
    let (_, b) = h.call(
        "GET",
        &format!("/oracle/get_completion_info.py?batch_id={b1}&dg_id=tb"),
        Some("alice-token"),
        "",
    );
    assert!(
        b.starts_with("<div class=\"qos\">") && b.contains(" 0.0000<"),
        "{b}"
    );
    let (_, b) = h.call(
        "GET",
        &format!("/oracle/predict.py?batch_id={b1}&dg_id=tb"),
        Some("alice-token"),
        "",
    );
    assert!(
        b.starts_with("<div class=\"qos\">None"),
        "no completion yet: {b}"
    );
    let (s, _) = h.call(
        "GET",
        &format!("/api/bots/tb/{b1}"),
        Some("alice-token"),
        "",
    );
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
    // The Scheduler's turn carries the cancellation out: refund, order closed, BoT finished.
    service.tick(spequlos_runtime::service::unix_now());
    let (_, b) = h.json("GET", "/api/credits", "bob-token-1", json!(null));
    assert_eq!(b["balance"], json!(10), "the 4 credits came back");
    let (s, b) = h.json(
        "GET",
        &format!("/api/bots/tb/{service_batch}"),
        ADMIN,
        json!(null),
    );
    assert_eq!(s, 200);
    assert_eq!(
        (
            &b["finished"],
            &b["cancelled"],
            &b["cancelling"],
            &b["open"]
        ),
        (&json!(true), &json!(true), &json!(false), &json!(false)),
        "{b}"
    );
    assert_eq!(
        h.call(
            "DELETE",
            &format!("/api/orders/tb/{service_batch}"),
            Some("bob-token-1"),
            ""
        )
        .0,
        409,
        "nothing left to cancel"
    );
    // Deadline orders: judged from the DG's history under the strategy. Three past BoTs
    // given 10 credits took two hours, twelve given 50 took under one.
    {
        let mut g = shared.lock().unwrap();
        let key = OracleKey::new("tb", "9A-G-F".parse().unwrap());
        for (credits, completion, n) in [(10, 7200.0, 3), (50, 3000.0, 12)] {
            for _ in 0..n {
                g.oracle.learn_record(
                    &key,
                    RunRecord {
                        alphas: Vec::new(),
                        credits_spent: credits,
                        completion: Some(completion),
                        tasks: Some(2),
                    },
                );
            }
        }
    }
    let deadline_order = |credits: u64, deadline: Value| {
        h.json(
            "POST",
            "/api/orders",
            "alice-token",
            json!({"batch": b3, "dg": "tb", "credits": credits, "strategy": "9A-G-F",
                   "deadline": deadline}),
        )
    };
    for bad in [json!(-1.0), json!(0), json!(1e12)] {
        let (s, b) = deadline_order(10, bad.clone());
        assert_eq!(s, 400, "deadline {bad}: {b}");
        assert!(b["error"].as_str().unwrap().contains("deadline"), "{b}");
    }
    assert_eq!(deadline_order(10, json!("soon")).0, 400);
    let (s, b) = deadline_order(10, json!(3600.0));
    assert_eq!(s, 409, "10 credits never made an hour: {b}");
    assert_eq!(b["admission"]["verdict"], json!("refuse"), "{b}");
    assert_eq!(b["admission"]["predicted"], json!(7200.0), "{b}");
    assert_eq!(b["admission"]["credits_needed"], json!(50), "{b}");
    let (_, b) = h.json("GET", "/api/credits", "alice-token", json!(null));
    assert_eq!(b["balance"], json!(60), "a refused order costs nothing");
    let (s, b) = deadline_order(50, json!(3600.0));
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["admission"]["verdict"], json!("admit"), "{b}");
    assert_eq!(b["credits_ordered"], json!(50));
    assert_eq!(b["deadline"], json!(3600.0));
    let (_, b) = h.json(
        "GET",
        &format!("/api/bots/tb/{b3}"),
        "alice-token",
        json!(null),
    );
    assert_eq!(b["deadline"], json!(3600.0), "kept with the BoT: {b}");
    assert_eq!(b["deadline_met"], json!(null), "not complete yet: {b}");
    let (s, b) = order("alice-token", &b2, 1);
    assert_eq!(s, 201, "an order without a deadline is not judged");
    assert!(b.get("admission").is_none(), "{b}");
    drop(api);
    // Everything above is durable: a reopened store has the same ledger.
    drop(service);
    let audit = store::verify(&dir.path().join("state.sqlite")).unwrap();
    assert_eq!(audit.orders, 4);
}

/// A job of 1e9 operations (one second at the testbed's default speed), no input.
fn job(name: &str) -> JobSpec {
    JobSpec {
        name: name.into(),
        rsc_fpops_est: 1e9,
        command_line: String::new(),
        target_user: None,
        priority: None,
        inputs: Vec::new(),
    }
}

fn one_second_jobs(n: usize) -> Vec<JobSpec> {
    (0..n).map(|i| job(&format!("j{i}"))).collect()
}

/// Alice, 1000 credits, her testbed account (`scientist_key`) linked; the order's job
/// descriptions for `jobs`.
fn alice_with_her_account(
    g: &mut spequlos_runtime::service::Shared,
    jobs: &[JobSpec],
) -> Vec<spequlos_runtime::service::JobDesc> {
    g.store.add_user("alice", "alice-token", false).unwrap();
    g.store.deposit(0.0, "alice", 1000).unwrap();
    g.store
        .link_account("alice", "tb", "scientist_key")
        .unwrap();
    jobs.iter()
        .map(|j| spequlos_runtime::service::JobDesc {
            name: j.name.clone(),
            command_line: String::new(),
            inputs: Vec::new(),
            rsc_fpops_est: 1e9,
        })
        .collect()
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
    let tb = Testbed::scripted(3600.0).unwrap();
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
    let jobs = one_second_jobs(12);
    // Alice's own BOINC account submits the batch: the service must read it and abort its
    // jobs with her key, and handle the copies with its own.
    let batch = BoincAdapter::new(BoincDg {
        authenticator: "scientist_key".into(),
        ..dg("tb", tb.url())
    })
    .submit("b", &jobs)
    .unwrap();
    {
        let mut g = shared.lock().unwrap();
        let descs = alice_with_her_account(&mut g, &jobs);
        let now = spequlos_runtime::service::unix_now();
        g.order(
            now,
            "alice",
            &spequlos_core::BotKey::new(batch.to_string(), "tb"),
            100,
            Some("9A-F2-D"),
            descs,
            Owner::User,
            None,
        )
        .unwrap();
        g.order(
            now,
            "alice",
            &spequlos_core::BotKey::new("7", "dead"),
            10,
            Some("9A-F1-F"),
            Vec::new(),
            Owner::Service,
            None,
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

/// The service on `tb` with the fake Cloud, 240-s ticks the test makes itself at `clock`'s
/// time, and its log.
fn ticked_by_hand(
    dir: &Path,
    tb: &Testbed,
    clock: &ManualClock,
) -> (Service, Arc<Mutex<Vec<String>>>) {
    let cfg = config(dir, vec![dg("tb", tb.url())], fake_cloud(dir, 0), 240.0);
    let logs = Arc::new(Mutex::new(Vec::<String>::new()));
    let l2 = logs.clone();
    let service = Service::open_with_clock(
        cfg,
        Box::new(move |m| l2.lock().unwrap().push(m.to_string())),
        Arc::new(clock.clone()),
    )
    .unwrap();
    (service, logs)
}

/// Duplication against the real server's non-atomic `submit_batch` (the testbed's default):
/// a first try that fails on a job name already in use leaves an empty batch, which is
/// cleaned up and the copies submitted again under new names; that submission is made but
/// its reply lost, so the next tick finds and adopts it instead of submitting twice.
#[test]
fn a_failed_or_unanswered_duplication_is_cleaned_up_or_adopted_never_made_twice() {
    let dir = tempfile::tempdir().unwrap();
    let tb = Testbed::scripted(3600.0).unwrap();
    // The service's clock moves one tick (240 s) per turn: no waiting.
    let clock = ManualClock::at(spequlos_runtime::service::unix_now());
    let (mut service, logs) = ticked_by_hand(dir.path(), &tb, &clock);
    let shared = service.shared();
    let jobs: Vec<JobSpec> = ["d0", "d1", "d2"].iter().map(|n| job(n)).collect();
    let batch = BoincAdapter::new(BoincDg {
        authenticator: "scientist_key".into(),
        ..dg("tb", tb.url())
    })
    .submit("b", &jobs)
    .unwrap();
    // Someone else's job already has the name of the straggler's first copy.
    let squat = BoincAdapter::new(dg("tb", tb.url()))
        .submit("squat", &[job("d0__spq")])
        .unwrap();
    let key = spequlos_core::BotKey::new(batch.to_string(), "tb");
    {
        let mut g = shared.lock().unwrap();
        let descs = alice_with_her_account(&mut g, &jobs);
        g.order(
            clock.now(),
            "alice",
            &key,
            100,
            Some("9A-F1-D"),
            descs,
            Owner::User,
            None,
        )
        .unwrap();
    }
    let mut hosts = Hosts::new(tb.url());
    let tick = |service: &mut Service, hosts: &mut Hosts, cloud: bool| {
        hosts.step(cloud);
        service.tick(clock.advance(240.0));
    };
    // The straggler (d0) and the others sent; 9A fires; the copies batch fails on d0__spq.
    for _ in 0..2 {
        tick(&mut service, &mut hosts, false);
    }
    let log = || logs.lock().unwrap().join("\n");
    assert!(
        log().contains("duplication failed, retried next tick"),
        "{}",
        log()
    );
    // Its empty batch is found, retired, and the next attempt's submission made but unanswered.
    tb.set_fault(Fault::LostSubmitReply, 1);
    tick(&mut service, &mut hosts, false);
    assert!(
        log().contains("cleaned up; retried as attempt 1"),
        "{}",
        log()
    );
    tick(&mut service, &mut hosts, false);
    tick(&mut service, &mut hosts, false);
    assert!(log().contains("adopted batch"), "{}", log());
    let copies = shared.lock().unwrap().bots[&key].copies.clone().unwrap();
    assert_eq!(copies.attempt, 1);
    // The Cloud host runs the adopted copy; the BoT completes through it.
    for _ in 0..6 {
        tick(&mut service, &mut hosts, true);
        if shared.lock().unwrap().bots[&key].finished {
            break;
        }
    }
    let g = shared.lock().unwrap();
    let b = &g.bots[&key];
    assert!(b.finished, "{}", log());
    assert_eq!(
        b.copies.as_ref().unwrap().won().collect::<Vec<_>>(),
        vec!["d0"]
    );
    let times = tb.job_times(copies.batch_id);
    assert_eq!(times.len(), 1, "one copies batch of one copy: {times:?}");
    // The other account's job of the same name was never touched.
    assert!(!tb.job_times(squat)[0].cancelled);
    let submitted = log().matches("duplicated 1 jobs as batch").count();
    assert_eq!(submitted, 1, "{}", log());
}

#[test]
fn one_host_hoarding_the_batch_fires_9a_at_once_and_the_service_says_why() {
    let dir = tempfile::tempdir().unwrap();
    // An untuned project: no max_wus_in_progress, so a host takes what its request covers.
    let tb = Testbed::start(
        TestbedConfig {
            min_sendwork_interval: 0.0,
            validator_period: 0.0,
            ..Default::default()
        },
        "127.0.0.1:0",
    )
    .unwrap();
    let clock = ManualClock::at(spequlos_runtime::service::unix_now());
    let (mut service, logs) = ticked_by_hand(dir.path(), &tb, &clock);
    let jobs = one_second_jobs(6);
    let batch = BoincAdapter::new(BoincDg {
        authenticator: "scientist_key".into(),
        ..dg("tb", tb.url())
    })
    .submit("b", &jobs)
    .unwrap();
    let key = spequlos_core::BotKey::new(batch.to_string(), "tb");
    {
        let shared = service.shared();
        let mut g = shared.lock().unwrap();
        let descs = alice_with_her_account(&mut g, &jobs);
        g.order(
            clock.now(),
            "alice",
            &key,
            100,
            Some("9A-F1-D"),
            descs,
            Owner::User,
            None,
        )
        .unwrap();
    }
    let mut host = ScriptedHost::new(tb.url(), "volunteer_key", "spqapp");
    let (got, _) = host.rpc(&[], true).unwrap();
    assert_eq!(got.len(), 6, "one request of 100 s takes every 1 s job");
    service.tick(clock.advance(240.0));
    let log = logs.lock().unwrap().join("\n");
    assert!(log.contains("started"), "{log}");
    assert!(
        log.contains("9A fired before any job completed (6 of 6 jobs sent)"),
        "{log}"
    );
}
