//! The HTTP API under attack: slow clients, garbage, oversized and overflowing requests. The
//! service must keep answering everyone else, refuse each bad request with the right 4xx, and
//! never write a movement that would break its ledger.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use spequlos_core::ledger::MAX_CREDITS;
use spequlos_runtime::api::{Api, REQUEST_TIMEOUT};
use spequlos_runtime::cloud::CommandConfig;
use spequlos_runtime::service::{CloudConfig, Service, ServiceConfig};
use spequlos_runtime::store;

const ADMIN: &str = "admin-token-123";
const ALICE: &str = "alice-token-1";

fn config(dir: &Path) -> ServiceConfig {
    ServiceConfig {
        db: dir.join("state.sqlite"),
        listen: "127.0.0.1:0".into(),
        admin_token: ADMIN.into(),
        params: Default::default(),
        default_strategy: "9A-G-D".into(),
        oracle: Default::default(),
        poll: 0.5,
        max_backoff: 2.0,
        boinc: Vec::new(),
        cloud: CloudConfig::Command(CommandConfig {
            start: "true".into(),
            stop: "true".into(),
            list: "true".into(),
            tasks: None,
            report: None,
            boot_grace: 45.0,
            ask_grace: 15.0,
        }),
    }
}

fn start(dir: &Path) -> (Service, Api) {
    let service = Service::open(config(dir), Box::new(|_| {})).unwrap();
    let api = Api::start(service.shared(), "127.0.0.1:0").unwrap();
    (service, api)
}

/// One HTTP/1.1 request on a fresh connection; `None` if the server closed it without an
/// answer.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> Option<(u16, String)> {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).ok()?;
    // A server refusing early (401, 413) may close before the body is all sent.
    let _ = c.write_all(body);
    read_answer(&mut c)
}

fn read_answer(c: &mut TcpStream) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    // Read until the peer closes or resets; what arrived before a reset still counts.
    while let Ok(n) = c.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Some((status, body))
}

fn json_call(addr: &str, method: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let (s, b) =
        request(addr, method, path, Some(token), body.to_string().as_bytes()).expect("an answer");
    (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
}

#[test]
fn slow_clients_do_not_stop_the_api_answering_others() {
    let dir = tempfile::tempdir().unwrap();
    let (_service, api) = start(dir.path());
    let addr = api.addr().to_string();
    let (s, _) = json_call(
        &addr,
        "POST",
        "/api/users",
        ADMIN,
        json!({"name": "alice", "token": ALICE}),
    );
    assert_eq!(s, 201);
    // Eight attackers: bodies sent a byte a second, with and without a valid token, and
    // headers sent a byte a second.
    let mut slow = Vec::new();
    for k in 0..8 {
        let mut c = TcpStream::connect(&addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = match k % 3 {
            0 => format!("POST /api/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\nContent-Length: 1000\r\n\r\n"),
            1 => "POST /api/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".to_string(),
            _ => String::new(),
        };
        c.write_all(head.as_bytes()).unwrap();
        slow.push((k % 3, c));
    }
    let started = Instant::now();
    let mut answered = 0;
    let mut worst = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(6) {
        for (_, c) in slow.iter_mut() {
            let _ = c.write_all(b"G");
        }
        for (path, token) in [("/api/health", None), ("/api/credits", Some(ALICE))] {
            let t = Instant::now();
            let (status, _) = request(&addr, "GET", path, token, b"").expect("an answer");
            assert_eq!(status, 200, "{path}");
            worst = worst.max(t.elapsed());
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(worst < Duration::from_secs(1), "slowest answer {worst:?}");
    assert!(answered >= 20, "{answered}");
    // The attackers: without a token, 401 before the body; with one, 408 at the deadline;
    // slow headers, dropped.
    for (kind, mut c) in slow {
        let got = read_answer(&mut c);
        match kind {
            0 => assert_eq!(got.map(|g| g.0), Some(408), "slow body with a token"),
            1 => assert_eq!(got.map(|g| g.0), Some(401), "slow body without a token"),
            _ if got.is_none() => {}
            _ => assert!(
                got.as_ref().is_some_and(|g| g.0 >= 400),
                "slow headers: {got:?}"
            ),
        }
    }
    assert!(started.elapsed() < REQUEST_TIMEOUT + Duration::from_secs(15));
}

#[test]
fn overflowing_deposits_are_refused_and_the_service_restarts_on_its_database() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_service, api) = start(dir.path());
        let addr = api.addr().to_string();
        json_call(
            &addr,
            "POST",
            "/api/users",
            ADMIN,
            json!({"name": "alice", "token": ALICE}),
        );
        let (s, v) = json_call(
            &addr,
            "POST",
            "/api/users/alice/credits",
            ADMIN,
            json!({"amount": 1000}),
        );
        assert_eq!((s, &v["balance"]), (200, &json!(1000)));
        for amount in [u64::MAX, u64::MAX - 1, MAX_CREDITS, MAX_CREDITS - 999] {
            let (s, v) = json_call(
                &addr,
                "POST",
                "/api/users/alice/credits",
                ADMIN,
                json!({"amount": amount}),
            );
            assert_eq!(s, 400, "{amount}: {v}");
            assert!(v["error"].as_str().unwrap().contains("amount"), "{v}");
        }
        // Up to the limit is fine.
        let (s, _) = json_call(
            &addr,
            "POST",
            "/api/users/alice/credits",
            ADMIN,
            json!({"amount": MAX_CREDITS - 1000}),
        );
        assert_eq!(s, 200);
        let (s, _) = json_call(
            &addr,
            "POST",
            "/api/users/alice/credits",
            ADMIN,
            json!({"amount": 1}),
        );
        assert_eq!(s, 400, "the limit is reached");
        let (_, v) = json_call(&addr, "GET", "/api/credits", ALICE, Value::Null);
        assert_eq!(v["balance"], json!(MAX_CREDITS));
    }
    // Restart on the same database: it opens, audits clean and keeps the balance.
    let report = store::verify(&dir.path().join("state.sqlite")).unwrap();
    assert_eq!(
        report.entries, 2,
        "two deposits and nothing of the refused ones"
    );
    let (_service, api) = start(dir.path());
    let (_, v) = json_call(api.addr(), "GET", "/api/credits", ALICE, Value::Null);
    assert_eq!(v["balance"], json!(MAX_CREDITS));
}

#[test]
fn garbage_oversized_and_impersonating_requests_get_4xx_and_the_api_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let (_service, api) = start(dir.path());
    let addr = api.addr().to_string();
    let mut cases = 0;
    // Raw garbage on the socket.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for size in [1usize, 10, 100, 5000, 70_000] {
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut c = TcpStream::connect(&addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = c.write_all(&bytes);
        let _ = c.shutdown(std::net::Shutdown::Write);
        let got = read_answer(&mut c);
        assert!(
            got.as_ref().is_none_or(|g| (400..500).contains(&g.0)),
            "{size}: {got:?}"
        );
        cases += 1;
    }
    let user = |name: &str, token: &str| {
        json_call(
            &addr,
            "POST",
            "/api/users",
            ADMIN,
            json!({"name": name, "token": token}),
        )
    };
    assert_eq!(user("alice", ALICE).0, 201);
    for (name, token, want) in [
        ("alice", "another-token", 409),
        ("bob", ALICE, 409),
        ("eve", ADMIN, 409),
        ("", "long-enough-token", 400),
        ("mallory", "short", 400),
    ] {
        let (s, v) = user(name, token);
        assert_eq!(s, want, "{name}/{token}: {v}");
        let e = v["error"].as_str().unwrap_or("");
        assert!(
            !e.contains("sqlite") && !e.contains('/'),
            "no internals: {e}"
        );
        cases += 1;
    }
    let huge_id = "9".repeat(1 << 20);
    for batch in ["1' OR '1'='1", "-3", "0", huge_id.as_str()] {
        let body = json!({"batch": batch, "dg": "nope", "credits": 1}).to_string();
        let got = request(&addr, "POST", "/api/orders", Some(ALICE), body.as_bytes());
        let s = got.map(|g| g.0);
        assert!(
            matches!(s, Some(400) | Some(413)),
            "{}: {s:?}",
            &batch[..batch.len().min(20)]
        );
        cases += 1;
    }
    let big = vec![b' '; 5 << 20];
    assert_eq!(
        request(&addr, "POST", "/api/orders", Some(ALICE), &big).map(|g| g.0),
        Some(413)
    );
    assert_eq!(
        request(&addr, "POST", "/api/orders", None, &big).map(|g| g.0),
        Some(401)
    );
    assert_eq!(
        request(&addr, "POST", "/api/orders", Some("wrong-token"), b"{}").map(|g| g.0),
        Some(401)
    );
    assert_eq!(
        request(&addr, "POST", "/api/orders", Some(ALICE), b"{\"batch\":").map(|g| g.0),
        Some(400)
    );
    assert_eq!(
        request(&addr, "DELETE", "/api/../../etc/passwd", Some(ALICE), b"").map(|g| g.0),
        Some(404)
    );
    cases += 5;
    // Linking and cancelling, with garbage.
    let huge_key = format!("{{\"authenticator\": \"{}\"}}", "k".repeat(100_000));
    let bob_key = json!({"authenticator": "x"}).to_string();
    for (method, path, token, body, want) in [
        (
            "PUT",
            "/api/users/alice/accounts/nope",
            Some(ALICE),
            r#"{"authenticator": "k"}"#,
            400,
        ),
        (
            "PUT",
            "/api/users/alice/accounts/nope",
            Some(ALICE),
            "{",
            400,
        ),
        (
            "PUT",
            "/api/users/alice/accounts/nope",
            Some(ALICE),
            r#"{"authenticator": 5}"#,
            400,
        ),
        (
            "PUT",
            "/api/users/bob/accounts/nope",
            Some(ALICE),
            bob_key.as_str(),
            403,
        ),
        ("PUT", "/api/users/alice/accounts/nope", None, "{}", 401),
        (
            "PUT",
            "/api/users/alice/accounts/nope",
            Some(ALICE),
            huge_key.as_str(),
            400,
        ),
        ("DELETE", "/api/orders/nope/1", Some(ALICE), "", 404),
        // Spaces break the request line itself: hyper refuses it.
        (
            "DELETE",
            "/api/orders/nope/1' OR '1'='1",
            Some(ALICE),
            "",
            400,
        ),
        (
            "DELETE",
            "/api/orders/nope/1'%20OR%20'1'%3D'1",
            Some(ALICE),
            "",
            404,
        ),
        ("DELETE", "/api/orders", Some(ALICE), "", 404),
        ("DELETE", "/api/orders/a/b/c", Some(ALICE), "", 404),
        ("DELETE", "/api/orders/nope/1", None, "", 401),
    ] {
        let got = request(&addr, method, path, token, body.as_bytes());
        assert_eq!(
            got.as_ref().map(|g| g.0),
            Some(want),
            "{method} {path}: {got:?}"
        );
        let e = got.map(|g| g.1).unwrap_or_default();
        assert!(
            !e.contains("sqlite") && !e.contains("/tmp"),
            "no internals: {e}"
        );
        cases += 1;
    }
    assert_eq!(
        request(&addr, "GET", "/api/health", None, b"").map(|g| g.0),
        Some(200)
    );
    assert!(cases >= 30);
}

/// A DG that accepts connections and never answers: the order waiting for its check gets
/// 503 within the check's deadline, and nobody else waits meanwhile.
#[test]
fn a_silent_dg_delays_only_the_order_that_asks_it() {
    let dir = tempfile::tempdir().unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let mut cfg = config(dir.path());
    cfg.boinc = vec![spequlos_runtime::adapter::BoincDg {
        name: "silent".into(),
        url,
        authenticator: "service-key".into(),
        app_name: "app".into(),
        cloud_user_id: 2,
        cloud_authenticator: "cloud-key".into(),
        timeout: 30.0,
        copy_delay_bound: 0.0,
    }];
    let service = Service::open(cfg, Box::new(|_| {})).unwrap();
    let api = Api::start(service.shared(), "127.0.0.1:0").unwrap();
    let addr = api.addr().to_string();
    json_call(
        &addr,
        "POST",
        "/api/users",
        ADMIN,
        json!({"name": "alice", "token": ALICE}),
    );
    json_call(
        &addr,
        "POST",
        "/api/users/alice/credits",
        ADMIN,
        json!({"amount": 10}),
    );
    let t0 = Instant::now();
    let order = std::thread::spawn({
        let addr = addr.clone();
        move || {
            json_call(
                &addr,
                "POST",
                "/api/orders",
                ADMIN,
                json!({"batch": "7", "dg": "silent", "credits": 5, "strategy": "9A-G-F", "user": "alice"}),
            )
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        let t = Instant::now();
        let (s, v) = json_call(&addr, "GET", "/api/credits", ALICE, json!(null));
        assert_eq!((s, &v["balance"]), (200, &json!(10)));
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    let (s, v) = order.join().unwrap();
    let waited = t0.elapsed();
    assert_eq!(s, 503, "{v}");
    assert!(
        !v["error"].as_str().unwrap().contains("127.0.0.1"),
        "no internals: {v}"
    );
    assert!(
        waited >= Duration::from_secs(4) && waited < REQUEST_TIMEOUT,
        "{waited:?}"
    );
    // Nothing was ordered.
    let (_, v) = json_call(&addr, "GET", "/api/credits", ALICE, json!(null));
    assert_eq!(v["balance"], json!(10));
    drop(silent);
}
