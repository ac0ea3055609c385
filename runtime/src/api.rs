//! The service's HTTP API: JSON under `/api/`, plus the original SpeQuloS portal scripts
//! (`/credit/get_credits.py`, `/credit/order.py`, `/credit/get_qosorders.py`,
//! `/oracle/get_completion_info.py`, `/oracle/predict.py`, also without the module path or
//! `.py`) answering `<div class="qos">…</div>` lines as the EDGI portlet reads them.
//!
//! Authentication: `Authorization: Bearer TOKEN` (or `?token=TOKEN`). The admin token (from
//! the config) manages users and credits. Errors are JSON `{"error": "..."}` with 400 (bad
//! request, naming the field), 401 (no or wrong token), 403 (not allowed), 404, 402 (order
//! larger than the balance) or 409 (already exists / finished).
//! The route table is in docs/boinc.md.

use std::io::Read;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{json, Value};
use spequlos_core::ledger::LedgerError;
use spequlos_core::{BotKey, Credits};

use crate::http::{respond, HttpServer};
use crate::service::{unix_now, JobDesc, OrderError, Shared};
use crate::store::{StoreError, User, WorkerState};
use crate::testbed::form_value;

const MAX_BODY: usize = 4 << 20;

pub struct Api {
    http: HttpServer,
    addr: String,
}

impl Api {
    pub fn start(shared: Arc<Mutex<Shared>>, listen: &str) -> anyhow::Result<Api> {
        let http = HttpServer::start("API", listen, 2, move |req| handle(&shared, req))?;
        let host = listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
        let addr = format!("{host}:{}", http.port());
        Ok(Api { http, addr })
    }

    /// `host:port` the API listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn stop(&mut self) {
        self.http.stop();
    }
}

/// An API answer: status and body.
struct Reply {
    status: u16,
    body: String,
    html: bool,
}

fn ok(v: Value) -> Reply {
    Reply {
        status: 200,
        body: v.to_string(),
        html: false,
    }
}

fn err(status: u16, msg: impl std::fmt::Display) -> Reply {
    Reply {
        status,
        body: json!({ "error": msg.to_string() }).to_string(),
        html: false,
    }
}

fn qos(values: &[String]) -> Reply {
    Reply {
        status: 200,
        body: values
            .iter()
            .map(|v| format!("<div class=\"qos\">{v}</div>\n"))
            .collect(),
        html: true,
    }
}

fn handle(shared: &Arc<Mutex<Shared>>, mut req: tiny_http::Request) {
    let mut body = Vec::new();
    let read = req
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body);
    let reply = if read.is_err() {
        err(400, "unreadable body")
    } else if body.len() > MAX_BODY {
        err(413, format!("body larger than {MAX_BODY} bytes"))
    } else {
        let token = req
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .and_then(|h| h.value.as_str().strip_prefix("Bearer ").map(str::to_string));
        let url = req.url().to_string();
        let method = req.method().to_string();
        let mut g = shared.lock().unwrap_or_else(|p| p.into_inner());
        route(&mut g, &method, &url, token, &body)
    };
    let ctype = if reply.html {
        "text/html; charset=utf-8"
    } else {
        "application/json"
    };
    respond(req, reply.status, ctype, reply.body.into_bytes());
}

enum Caller {
    Admin,
    User(User),
}

impl Caller {
    fn may_act_for(&self, user: &str) -> bool {
        match self {
            Caller::Admin => true,
            Caller::User(u) => u.admin || u.name == user,
        }
    }
    fn name(&self) -> Option<&str> {
        match self {
            Caller::Admin => None,
            Caller::User(u) => Some(&u.name),
        }
    }
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body).map_err(|e| err(400, format!("malformed JSON body: {e}")))
}

fn store_err(e: StoreError) -> Reply {
    match e {
        StoreError::Refused(LedgerError::Insufficient {
            balance, wanted, ..
        }) => err(
            402,
            format!("insufficient credits: balance {balance}, {wanted} wanted"),
        ),
        StoreError::Refused(e) => err(409, e),
        StoreError::UserExists(u) => err(409, format!("user `{u}` already exists")),
        e => err(500, e),
    }
}

fn order_err(e: OrderError) -> Reply {
    match e {
        OrderError::Store(s) => store_err(s),
        OrderError::Finished(..) => err(409, e),
        OrderError::NotOwner(..) => err(403, e),
        e => err(400, e),
    }
}

fn route(g: &mut Shared, method: &str, url: &str, token: Option<String>, body: &[u8]) -> Reply {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let q = |k: &str| form_value(query.as_bytes(), k);
    if path == "/api/health" {
        return ok(json!({"status": "ok"}));
    }
    let token = token.or_else(|| q("token"));
    let caller = match token {
        None => return err(401, "missing token (Authorization: Bearer TOKEN)"),
        Some(t) if t == g.cfg.admin_token => Caller::Admin,
        Some(t) => match g.store.authenticate(&t) {
            Ok(Some(u)) => Caller::User(u),
            Ok(None) => return err(401, "invalid token"),
            Err(e) => return err(500, e),
        },
    };
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let now = unix_now();
    match (method, segs.as_slice()) {
        ("POST", ["api", "users"]) => {
            if !matches!(caller, Caller::Admin) {
                return err(403, "only the admin creates users");
            }
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct NewUser {
                name: String,
                token: String,
                #[serde(default)]
                admin: bool,
            }
            let u: NewUser = match parse_body(body) {
                Ok(u) => u,
                Err(r) => return r,
            };
            if u.name.is_empty() || u.token.len() < 8 {
                return err(400, "name must not be empty and token needs 8+ characters");
            }
            match g.store.add_user(&u.name, &u.token, u.admin) {
                Ok(()) => Reply {
                    status: 201,
                    ..ok(json!({"name": u.name, "admin": u.admin}))
                },
                Err(e) => store_err(e),
            }
        }
        ("POST", ["api", "users", name, "credits"]) => {
            if !matches!(caller, Caller::Admin) {
                return err(403, "only the admin deposits credits");
            }
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Deposit {
                amount: Credits,
            }
            let d: Deposit = match parse_body(body) {
                Ok(d) => d,
                Err(r) => return r,
            };
            match g.store.deposit(now, name, d.amount) {
                Ok(()) => ok(json!({"user": name, "balance": g.store.ledger().balance(name)})),
                Err(e) => store_err(e),
            }
        }
        ("GET", ["api", "credits"]) => match caller.name() {
            Some(n) => ok(json!({"user": n, "balance": g.store.ledger().balance(n)})),
            None => err(400, "the admin has no account; use a user token"),
        },
        ("POST", ["api", "orders"]) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct NewOrder {
                batch: String,
                dg: String,
                credits: Credits,
                strategy: Option<String>,
                #[serde(default)]
                jobs: Vec<JobDesc>,
                /// The admin orders on behalf of a user.
                user: Option<String>,
            }
            let o: NewOrder = match parse_body(body) {
                Ok(o) => o,
                Err(r) => return r,
            };
            let Some(user) = o.user.as_deref().or(caller.name()).map(str::to_string) else {
                return err(400, "field `user`: the admin must say for whom");
            };
            if !caller.may_act_for(&user) {
                return err(403, "cannot order for another user");
            }
            let key = BotKey::new(o.batch, o.dg);
            match g.order(now, &user, &key, o.credits, o.strategy.as_deref(), o.jobs) {
                Ok(()) => Reply {
                    status: 201,
                    ..ok(order_json(g, &key))
                },
                Err(e) => order_err(e),
            }
        }
        ("GET", ["api", "orders"]) => {
            let list: Vec<Value> = g
                .bots
                .iter()
                .filter(|(_, b)| caller.may_act_for(&b.user))
                .map(|(k, _)| order_json(g, k))
                .collect();
            ok(json!(list))
        }
        ("GET", ["api", "bots", dg, batch]) => bot_info(g, &caller, &BotKey::new(*batch, *dg), now),
        ("GET", ["api", "bots", dg, batch, "prediction"]) => {
            let key = BotKey::new(*batch, *dg);
            match g.bots.get(&key) {
                Some(b) if caller.may_act_for(&b.user) => ok(prediction_json(g, &key, now)),
                Some(_) => err(403, "not your BoT"),
                None => err(404, format!("no order for batch `{batch}` on `{dg}`")),
            }
        }
        ("GET", ["api", "workers"]) => {
            if !matches!(caller, Caller::Admin) {
                return err(403, "only the admin lists Cloud workers");
            }
            match g.store.workers(&[
                WorkerState::Starting,
                WorkerState::Running,
                WorkerState::Stopped,
                WorkerState::Lost,
                WorkerState::Failed,
            ]) {
                Ok(ws) => ok(json!(ws
                    .iter()
                    .map(|w| json!({"name": w.name, "batch": w.bot.batch, "dg": w.bot.dg,
                                    "worker": w.worker, "state": format!("{:?}", w.state).to_lowercase()}))
                    .collect::<Vec<_>>())),
                Err(e) => err(500, e),
            }
        }
        // The original portal's scripts.
        ("GET", [.., script]) if script.trim_end_matches(".py") != *script || is_portal(script) => {
            portal(g, &caller, script.trim_end_matches(".py"), &q, now)
        }
        _ => err(404, format!("no route {method} {path}")),
    }
}

fn is_portal(s: &str) -> bool {
    matches!(
        s,
        "get_credits" | "order" | "get_qosorders" | "get_completion_info" | "predict"
    )
}

fn order_json(g: &Shared, key: &BotKey) -> Value {
    let b = &g.bots[key];
    let o = g.store.ledger().order_of(key);
    json!({
        "batch": key.batch, "dg": key.dg, "user": b.user, "strategy": b.strategy,
        "credits_ordered": o.map_or(0, |o| o.ordered), "credits_spent": o.map_or(0, |o| o.spent),
        "open": o.is_some_and(|o| o.open), "submitted_at": b.submitted_at,
    })
}

fn bot_info(g: &Shared, caller: &Caller, key: &BotKey, now: f64) -> Reply {
    let Some(b) = g.bots.get(key) else {
        return err(
            404,
            format!("no order for batch `{}` on `{}`", key.batch, key.dg),
        );
    };
    if !caller.may_act_for(&b.user) {
        return err(403, "not your BoT");
    }
    let mut v = order_json(g, key);
    let p = &b.progress;
    v["total"] = json!(p.total());
    v["assigned"] = json!(p.assigned());
    v["completed"] = json!(p.completed());
    v["completion"] = json!(p.completion());
    v["elapsed"] = json!(b.completed_at.unwrap_or(now - b.submitted_at));
    v["finished"] = json!(b.finished);
    v["completed_at"] = json!(b.completed_at.map(|t| t + b.submitted_at));
    v["cloud_workers_running"] = json!(b.controller.running().count());
    v["cloud_workers_started"] = json!(b.controller.workers_started());
    v["copies_batch"] = json!(b.copies.as_ref().map(|c| c.batch_id));
    v["last_error"] = json!(b.last_error);
    v["samples"] = json!(p
        .samples()
        .iter()
        .map(|s| json!([s.t, s.completed, s.assigned, s.cloud_workers]))
        .collect::<Vec<_>>());
    ok(v)
}

fn prediction_json(g: &Shared, key: &BotKey, now: f64) -> Value {
    let b = &g.bots[key];
    match b.predict(&g.oracle, now) {
        Some(p) => json!({
            "completion_time": b.submitted_at + p.completion,
            "elapsed_at_completion": p.completion,
            "low": p.low, "high": p.high, "delta": p.delta,
            "confidence": g.oracle.params.target_success,
            "calibrated": p.calibrated,
            "credits_to_spend": p.credits,
        }),
        None => json!({"completion_time": null, "why": "no task completed yet"}),
    }
}

/// The portal's scripts: values in `<div class="qos">` lines; `None` means failure.
fn portal(
    g: &mut Shared,
    caller: &Caller,
    script: &str,
    q: &dyn Fn(&str) -> Option<String>,
    now: f64,
) -> Reply {
    let none = |why: &str| qos(&[format!("None {why}")]);
    let user = q("qosuser_id").or_else(|| caller.name().map(str::to_string));
    let key = match (q("batch_id"), q("dg_id")) {
        (Some(b), Some(d)) => Some(BotKey::new(b, d)),
        _ => None,
    };
    match script {
        "get_credits" => {
            if let Some(inst) = q("institution_id") {
                if !caller.may_act_for(&inst) {
                    return none("not allowed");
                }
                return qos(&[g.store.ledger().balance(&inst).to_string()]);
            }
            match (&key, &user) {
                (Some(k), _) => match g.store.ledger().order_of(k) {
                    Some(o) if caller.may_act_for(&o.user) => qos(&[o.balance().to_string()]),
                    _ => none("no such order"),
                },
                (None, Some(u)) if caller.may_act_for(u) => {
                    qos(&[g.store.ledger().balance(u).to_string()])
                }
                _ => none("give qosuser_id, or batch_id and dg_id"),
            }
        }
        "order" => {
            let (Some(k), Some(u)) = (key, user) else {
                return none("batch_id, dg_id and qosuser_id are required");
            };
            let Some(credits) = q("credit").and_then(|c| c.parse::<Credits>().ok()) else {
                return none("credit must be a whole number");
            };
            if !caller.may_act_for(&u) {
                return none("not allowed");
            }
            match g.order(now, &u, &k, credits, q("strategy").as_deref(), Vec::new()) {
                Ok(()) => qos(&["order_true".into()]),
                Err(e) => qos(&[format!("order_false {e}")]),
            }
        }
        "get_qosorders" => {
            let Some(u) = user else {
                return none("qosuser_id is required");
            };
            if !caller.may_act_for(&u) {
                return none("not allowed");
            }
            let lines: Vec<String> = g
                .bots
                .iter()
                .filter(|(_, b)| b.user == u)
                .map(|(k, _)| {
                    let n = g.store.ledger().order_of(k).map_or(0, |o| o.ordered);
                    format!("{} {} {u} {n}", k.batch, k.dg)
                })
                .collect();
            qos(&lines)
        }
        "get_completion_info" | "predict" => {
            let Some(k) = key else {
                return none("batch_id and dg_id are required");
            };
            let Some(b) = g.bots.get(&k) else {
                return none("no such BoT");
            };
            if !caller.may_act_for(&b.user) {
                return none("not allowed");
            }
            if script == "get_completion_info" {
                let elapsed = b.completed_at.unwrap_or(now - b.submitted_at);
                qos(&[format!("{elapsed:.0} {:.4}", b.progress.completion())])
            } else {
                match b.predict(&g.oracle, now) {
                    Some(p) => qos(&[format!(
                        "{} {:.0} {}",
                        p.credits.map_or("None".into(), |c| format!("{c:.0}")),
                        b.submitted_at + p.completion,
                        g.oracle.params.target_success
                    )]),
                    None => none("no task completed yet"),
                }
            }
        }
        _ => err(404, format!("no portal script `{script}`")),
    }
}
