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

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use serde_json::{json, Value};
use spequlos_core::admission::Admission;
use spequlos_core::ledger::LedgerError;
use spequlos_core::{BotKey, Credits};
use tokio::sync::{oneshot, Semaphore};

use crate::adapter::BoincDg;
use crate::service::{check_account, clip, BatchCheck, JobDesc, OrderError, Owner, Shared};
use crate::store::{StoreError, User, WorkerState};

/// Largest request body accepted (413 beyond).
pub const MAX_BODY: usize = 4 << 20;
/// Time a client has to send its request line and headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time one request may take from its headers to the answer, body upload included (408).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests served at once; more are answered 503 at once instead of queueing.
pub const MAX_IN_FLIGHT: usize = 64;
/// Open connections; more are closed at accept. Idle connections cost a few KiB each.
pub const MAX_CONNECTIONS: usize = 1024;
/// A connection is closed after this long, keep-alive or not.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// The API server: hyper on a small tokio runtime of its own, so slow or idle clients cost a
/// task, not a thread. The token is checked from the headers before any body is read; the
/// body is read under a size limit and a per-request deadline; requests beyond
/// [`MAX_IN_FLIGHT`] get 503. Handlers that touch the shared state run on the blocking pool.
pub struct Api {
    addr: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Api {
    pub fn start(shared: Arc<Mutex<Shared>>, listen: &str) -> anyhow::Result<Api> {
        let listener = std::net::TcpListener::bind(listen)
            .map_err(|e| anyhow::anyhow!("API: cannot listen on {listen}: {e}"))?;
        listener.set_nonblocking(true)?;
        let local: SocketAddr = listener.local_addr()?;
        let host = listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
        let addr = format!("{host}:{}", local.port());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(MAX_IN_FLIGHT + 8)
            .enable_all()
            .thread_name("spequlos-api")
            .build()?;
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("spequlos-api".into())
            .spawn(move || {
                runtime.block_on(serve(listener, shared, rx));
                // Blocking handlers still running are not waited for long.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(Api {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `host:port` the API listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop();
    }
}

struct ApiState {
    shared: Arc<Mutex<Shared>>,
    in_flight: Semaphore,
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Mutex<Shared>>,
    mut stop: oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let state = Arc::new(ApiState {
        shared,
        in_flight: Semaphore::new(MAX_IN_FLIGHT),
    });
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&state, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
            drop(permit);
        });
    }
}

/// An API answer: status and body.
struct Reply {
    status: u16,
    body: String,
    html: bool,
}

impl Reply {
    fn into_response(self) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(Bytes::from(self.body)));
        *r.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(if self.html {
                "text/html; charset=utf-8"
            } else {
                "application/json"
            }),
        );
        r
    }
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

/// A failure of ours: the client learns nothing of paths or SQL; the detail goes to the
/// service's standard error.
fn internal(e: impl std::fmt::Display) -> Reply {
    eprintln!("API: internal error: {e}");
    err(500, "internal error")
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

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

async fn answer(state: &Arc<ApiState>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() == "/api/health" {
        return ok(json!({"status": "ok"})).into_response();
    }
    let Ok(_slot) = state.in_flight.try_acquire() else {
        return err(503, "busy; try again").into_response();
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, handle(state, req)).await {
        Ok(reply) => reply.into_response(),
        Err(_) => err(408, "request not received in time").into_response(),
    }
}

async fn handle(state: &Arc<ApiState>, req: Request<Incoming>) -> Reply {
    let (parts, body) = req.into_parts();
    let url = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let method = parts.method.as_str().to_string();
    // Who is asking is settled from the headers, before a byte of the body is read.
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| form_value(query.as_bytes(), "token"));
    let Some(token) = token else {
        return err(401, "missing token (Authorization: Bearer TOKEN)");
    };
    let shared = state.shared.clone();
    let caller =
        match tokio::task::spawn_blocking(move || authenticate(&lock(&shared), &token)).await {
            Ok(Ok(c)) => c,
            Ok(Err(reply)) => return reply,
            Err(e) => return internal(e),
        };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return err(413, format!("body larger than {MAX_BODY} bytes"));
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return err(413, format!("body larger than {MAX_BODY} bytes"))
        }
        Err(_) => return err(400, "unreadable body"),
    };
    let shared = state.shared.clone();
    let routed = tokio::task::spawn_blocking(move || {
        route(&mut lock(&shared), &caller, &method, &url, &body)
    })
    .await;
    match routed {
        Ok(Routed::Done(reply)) => reply,
        Ok(Routed::Order(p)) => {
            // The DG is asked on the blocking pool without the lock: a slow DG delays this
            // request only, never the Scheduler or the other clients.
            let check = p.check.clone();
            let checked = tokio::task::spawn_blocking(move || match check {
                Some(c) => c.run(|m| eprintln!("API: {m}")),
                None => Ok(Owner::Service),
            })
            .await;
            let shared = state.shared.clone();
            match checked {
                Ok(Ok(owner)) => tokio::task::spawn_blocking(move || {
                    let mut g = lock(&shared);
                    let now = g.clock.now();
                    let placed = g.order(
                        now,
                        &p.user,
                        &p.key,
                        p.credits,
                        p.strategy.as_deref(),
                        p.jobs.clone(),
                        owner,
                        p.deadline,
                    );
                    order_reply(&g, &p, placed)
                })
                .await
                .unwrap_or_else(internal),
                Ok(Err(e)) => {
                    let g = lock(&state.shared);
                    order_reply(&g, &p, Err(e))
                }
                Err(e) => internal(e),
            }
        }
        Ok(Routed::Link {
            user,
            dg,
            authenticator,
        }) => {
            let key = authenticator.clone();
            let d = dg.clone();
            let checked = tokio::task::spawn_blocking(move || {
                check_account(&d, &key, |m| eprintln!("API: {m}"))
            })
            .await;
            match checked {
                Ok(Ok(())) => {
                    let shared = state.shared.clone();
                    tokio::task::spawn_blocking(move || {
                        let g = lock(&shared);
                        match g.store.link_account(&user, &dg.name, &authenticator) {
                            Ok(()) => ok(json!({"user": user, "dg": dg.name, "linked": true})),
                            Err(e) => store_err(e),
                        }
                    })
                    .await
                    .unwrap_or_else(internal)
                }
                Ok(Err(e)) => order_err(e),
                Err(e) => internal(e),
            }
        }
        Err(e) => internal(e),
    }
}

/// What a routed request still needs.
enum Routed {
    Done(Reply),
    /// An order: the DG checks the batch (for a new BoT), then it is placed.
    Order(PendingOrder),
    /// A BOINC account to link once the DG accepts its key.
    Link {
        user: String,
        dg: BoincDg,
        authenticator: String,
    },
}

impl From<Reply> for Routed {
    fn from(r: Reply) -> Self {
        Routed::Done(r)
    }
}

struct PendingOrder {
    user: String,
    key: BotKey,
    credits: Credits,
    strategy: Option<String>,
    jobs: Vec<JobDesc>,
    check: Option<BatchCheck>,
    /// Seconds after the BoT's first order by which it must be complete.
    deadline: Option<f64>,
    /// What admission control said of the deadline.
    admission: Option<Admission>,
    /// Asked through the portal's `order` script (answered in its format).
    portal: bool,
}

/// Plans an order: refused at once, or waiting for its DG check.
fn plan(g: &Shared, caller: &Caller, p: PendingOrder) -> Routed {
    let by_admin = matches!(caller, Caller::Admin) || matches!(caller, Caller::User(u) if u.admin);
    match g.plan_order(&p.user, &p.key, p.strategy.as_deref(), &p.jobs, by_admin) {
        Ok(check) => {
            let admission = p
                .deadline
                .map(|d| g.admission(&p.key, p.strategy.as_deref(), &p.jobs, p.credits, d));
            if let Some(a) = admission.filter(|a| !a.admitted()) {
                let mut v = json!({
                    "error": format!(
                        "refused: similar BoTs on `{}` missed a deadline of {} s with these credits",
                        p.key.dg,
                        p.deadline.unwrap_or_default()
                    ),
                });
                v["admission"] = json!(a);
                return Routed::Done(Reply {
                    status: 409,
                    ..ok(v)
                });
            }
            Routed::Order(PendingOrder {
                check,
                admission,
                ..p
            })
        }
        Err(e) => Routed::Done(order_reply(g, &p, Err(e))),
    }
}

fn order_reply(g: &Shared, p: &PendingOrder, placed: Result<(), OrderError>) -> Reply {
    match (placed, p.portal) {
        (Ok(()), false) => {
            let mut v = order_json(g, &p.key);
            if let Some(a) = p.admission {
                v["admission"] = json!(a);
            }
            Reply {
                status: 201,
                ..ok(v)
            }
        }
        (Ok(()), true) => qos(&["order_true".into()]),
        (Err(e), false) => order_err(e),
        (Err(e), true) => qos(&[format!("order_false {e}")]),
    }
}

fn authenticate(g: &Shared, token: &str) -> Result<Caller, Reply> {
    if token == g.cfg.admin_token {
        return Ok(Caller::Admin);
    }
    match g.store.authenticate(token) {
        Ok(Some(u)) => Ok(Caller::User(u)),
        Ok(None) => Err(err(401, "invalid token")),
        Err(e) => Err(internal(e)),
    }
}

#[derive(Clone)]
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
        StoreError::Refused(e @ LedgerError::Overflow { .. }) => {
            err(400, format!("field `amount`: {e}"))
        }
        StoreError::Refused(e) => err(409, e),
        StoreError::UserExists(u) => err(409, format!("user `{u}` already exists")),
        StoreError::TokenTaken => err(409, "that token is already in use; choose another"),
        e => internal(e),
    }
}

fn order_err(e: OrderError) -> Reply {
    match e {
        OrderError::Store(s) => store_err(s),
        OrderError::Finished(..) | OrderError::Cancelling(..) | OrderError::BatchOver(..) => {
            err(409, e)
        }
        OrderError::NotOwner(..)
        | OrderError::NoAccount(..)
        | OrderError::NotBatchOwner(..)
        | OrderError::AccountRefused(..) => err(403, e),
        OrderError::NoSuchBatch(..) => err(404, e),
        OrderError::DgUnavailable(..) => err(503, e),
        e => err(400, e),
    }
}

/// Ten years: a deadline beyond is a unit mistake.
const MAX_DEADLINE: f64 = 10.0 * 365.0 * 86_400.0;

fn route(g: &mut Shared, caller: &Caller, method: &str, url: &str, body: &[u8]) -> Routed {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let q = |k: &str| form_value(query.as_bytes(), k);
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
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
                /// Seconds after the BoT's first order by which it must be complete.
                deadline: Option<f64>,
            }
            let o: NewOrder = match parse_body(body) {
                Ok(o) => o,
                Err(r) => return r.into(),
            };
            let Some(user) = o.user.as_deref().or(caller.name()).map(str::to_string) else {
                return err(400, "field `user`: the admin must say for whom").into();
            };
            if !caller.may_act_for(&user) {
                return err(403, "cannot order for another user").into();
            }
            if let Some(d) = o
                .deadline
                .filter(|d| !(d.is_finite() && *d > 0.0 && *d <= MAX_DEADLINE))
            {
                return err(
                    400,
                    format!("field `deadline`: {d} is not in (0, {MAX_DEADLINE}] seconds"),
                )
                .into();
            }
            let p = PendingOrder {
                user,
                key: BotKey::new(o.batch, o.dg),
                credits: o.credits,
                strategy: o.strategy,
                jobs: o.jobs,
                check: None,
                deadline: o.deadline,
                admission: None,
                portal: false,
            };
            plan(g, caller, p)
        }
        ("DELETE", ["api", "orders", dg, batch]) => {
            let key = BotKey::new(*batch, *dg);
            match g.bots.get(&key) {
                Some(b) if !caller.may_act_for(&b.user) => err(403, "not your BoT"),
                None => err(404, format!("no order for batch `{batch}` on `{dg}`")),
                Some(_) => match g.cancel(g.clock.now(), &key) {
                    Ok(()) => {
                        let mut v = order_json(g, &key);
                        v["cancelling"] = json!(true);
                        Reply {
                            status: 202,
                            ..ok(v)
                        }
                    }
                    Err(e) => order_err(e),
                },
            }
            .into()
        }
        ("PUT", ["api", "users", name, "accounts", dg]) => {
            if !caller.may_act_for(name) {
                return err(403, "cannot link an account for another user").into();
            }
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Link {
                authenticator: String,
            }
            let l: Link = match parse_body(body) {
                Ok(l) => l,
                Err(r) => return r.into(),
            };
            match g.store.user_exists(name) {
                Ok(true) => {}
                Ok(false) => return err(404, format!("no user `{}`", clip(name))).into(),
                Err(e) => return store_err(e).into(),
            }
            let Some(d) = g.cfg.boinc.iter().find(|d| d.name == *dg) else {
                return err(400, format!("unknown DG `{}`", clip(dg))).into();
            };
            let a = &l.authenticator;
            if a.is_empty() || a.len() > 256 || !a.bytes().all(|b| b.is_ascii_graphic()) {
                return err(
                    400,
                    "field `authenticator`: 1 to 256 printable ASCII characters",
                )
                .into();
            }
            Routed::Link {
                user: name.to_string(),
                dg: d.clone(),
                authenticator: l.authenticator,
            }
        }
        ("GET", [.., script]) if script.trim_end_matches(".py") == "order" => {
            let none = |why: &str| Routed::Done(qos(&[format!("None {why}")]));
            let user = q("qosuser_id").or_else(|| caller.name().map(str::to_string));
            let (Some(b), Some(d), Some(u)) = (q("batch_id"), q("dg_id"), user) else {
                return none("batch_id, dg_id and qosuser_id are required");
            };
            let Some(credits) = q("credit").and_then(|c| c.parse::<Credits>().ok()) else {
                return none("credit must be a whole number");
            };
            if !caller.may_act_for(&u) {
                return none("not allowed");
            }
            let p = PendingOrder {
                user: u,
                key: BotKey::new(b, d),
                credits,
                strategy: q("strategy"),
                jobs: Vec::new(),
                check: None,
                deadline: None,
                admission: None,
                portal: true,
            };
            plan(g, caller, p)
        }
        _ => Routed::Done(route_reply(g, caller, method, url, body)),
    }
}

fn route_reply(g: &mut Shared, caller: &Caller, method: &str, url: &str, body: &[u8]) -> Reply {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let q = |k: &str| form_value(query.as_bytes(), k);
    let caller = caller.clone();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let now = g.clock.now();
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
            if u.name.is_empty() || u.name.len() > 200 || u.name.chars().any(char::is_control) {
                return err(
                    400,
                    "field `name`: 1 to 200 characters, no control characters",
                );
            }
            if u.token.len() < 8 || u.token.len() > 512 {
                return err(400, "field `token`: 8 to 512 characters");
            }
            if u.token == g.cfg.admin_token {
                return err(409, "that token is already in use; choose another");
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
                Err(e) => internal(e),
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
        "cancelled": b.cancelled, "cancelling": g.cancels.contains(key),
        "deadline": b.deadline,
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
    v["deadline_met"] = json!(b.deadline.and_then(|d| b.completed_at.map(|t| t <= d)));
    v["cloud_workers_running"] = json!(b.controller.running().count());
    v["cloud_workers_started"] = json!(b.controller.workers_started());
    v["copies_batch"] = json!(b.copies.as_ref().map(|c| c.batch_id));
    // Reschedule makes one batch per round.
    v["copies_batches"] = json!(b
        .copies
        .as_ref()
        .map(|c| c.batches().collect::<Vec<_>>())
        .unwrap_or_default());
    // Where the outputs are: these jobs' results are in the copies batch, under the copy's
    // name.
    v["copies_won"] = json!(b
        .copies
        .as_ref()
        .map(|c| c.won().collect::<Vec<_>>())
        .unwrap_or_default());
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

/// The value of `key` in an `application/x-www-form-urlencoded` body or query string.
pub fn form_value(body: &[u8], key: &str) -> Option<String> {
    let s = String::from_utf8_lossy(body);
    s.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
