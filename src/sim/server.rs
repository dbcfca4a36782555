//! The HTTP side: the hyper accept loop (so a fault can close a connection
//! with no response), the axum router with the admin endpoints, and the
//! pipeline every cloud call goes through: classify, authenticate, faults,
//! idempotency, handle, log, render.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::engine::{
    ApiError, Call, EndpointCount, RefusedRequest, Reply, RequestLogEntry, World, bd_time,
    hw_request_id, hw_time,
};
use super::faults::{DropWhen, FaultEngine, Faults};
use super::ops::{Op, Route, classify, provider_of_path};
use super::sign;
use super::state::{Account, Provider, SimState};
use super::{SimClock, baidu, huawei};

/// Largest request body accepted (the clouds' own limits are lower).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// Everything the server shares between connections.
pub(crate) struct Inner {
    pub state: Mutex<SimState>,
    pub faults: Mutex<FaultEngine>,
    pub logs: Mutex<Logs>,
    pub clock: Mutex<SimClock>,
    tokens: Mutex<HashMap<TokenKey, StoredReply>>,
    /// Required on `/_sim/` (but `/_sim/health`) when set.
    admin_token: Option<String>,
    /// How long a connection may take to send a request's headers (also
    /// how long an idle keep-alive connection stays open) and its body.
    read_timeout: Duration,
}

#[derive(Default)]
pub(crate) struct Logs {
    pub requests: Vec<RequestLogEntry>,
    pub calls: BTreeMap<String, u64>,
    /// Calls per cloud, account (access key; empty when the signature was
    /// not verified), method and path template.
    pub endpoints: BTreeMap<EndpointKey, u64>,
    pub refused: Vec<RefusedRequest>,
    seq: u64,
}

/// (cloud, account, method, path template, read)
pub(crate) type EndpointKey = (&'static str, String, String, String, bool);

impl Logs {
    pub fn endpoint_counts(&self) -> Vec<EndpointCount> {
        self.endpoints
            .iter()
            .map(
                |((cloud, account, method, path, read), count)| EndpointCount {
                    cloud: (*cloud).to_string(),
                    account: account.clone(),
                    method: method.clone(),
                    path: path.clone(),
                    read: *read,
                    count: *count,
                },
            )
            .collect()
    }
}

/// Idempotency scope: account, operation, token.
type TokenKey = (String, &'static str, String);

#[derive(Clone)]
struct StoredReply {
    fingerprint: String,
    reply: Reply,
}

/// Lock, recovering from a poisoned mutex (a panicking handler must not
/// take the whole simulator down with it).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    pub fn new(
        state: SimState,
        faults: Faults,
        clock: SimClock,
        admin_token: Option<String>,
        read_timeout: Duration,
    ) -> Self {
        let inner = Self {
            state: Mutex::new(SimState::default()),
            faults: Mutex::new(FaultEngine::new(faults)),
            logs: Mutex::new(Logs::default()),
            clock: Mutex::new(clock),
            tokens: Mutex::new(HashMap::new()),
            admin_token,
            read_timeout,
        };
        inner.set_state(state);
        inner
    }

    /// Install `state`, giving seeded objects without times the clock's
    /// time in each cloud's format.
    pub fn set_state(&self, mut state: SimState) {
        let now = self.now();
        state.fill_missing_times(&hw_time(now), &bd_time(now));
        *lock(&self.state) = state;
    }

    fn now(&self) -> jiff::Timestamp {
        match *lock(&self.clock) {
            SimClock::System => jiff::Timestamp::now(),
            SimClock::Fixed(t) => t,
        }
    }

    fn log(&self, mut entry: RequestLogEntry) {
        let mut logs = lock(&self.logs);
        logs.seq += 1;
        entry.seq = logs.seq;
        logs.requests.push(entry);
    }

    pub fn reset_logs(&self) {
        let mut logs = lock(&self.logs);
        logs.requests.clear();
        logs.calls.clear();
        logs.endpoints.clear();
        logs.refused.clear();
    }
}

/// Marks a response whose connection must be closed instead of answered.
#[derive(Clone, Copy)]
struct DropConnectionMarker;

#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
struct DroppedConnection;

/// Accept connections until `shutdown` flips; each connection is served by
/// hyper with the router as its service.
pub(crate) async fn serve(
    listener: TcpListener,
    inner: Arc<Inner>,
    mut shutdown: watch::Receiver<bool>,
) {
    let read_timeout = inner.read_timeout;
    let router = router(inner);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let router = router.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let router = router.clone();
                        async move {
                            let resp = match router.oneshot(req.map(Body::new)).await {
                                Ok(r) => r,
                                Err(never) => match never {},
                            };
                            if resp.extensions().get::<DropConnectionMarker>().is_some() {
                                Err(DroppedConnection)
                            } else {
                                Ok(resp)
                            }
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    // Errors here are client disconnects, injected drops and
                    // header-read timeouts (a half-open or idle connection).
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(read_timeout)
                        .serve_connection(io, service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

fn router(inner: Arc<Inner>) -> Router {
    let admin = Router::new()
        .route("/_sim/state", get(admin_state_get).put(admin_state_put))
        .route("/_sim/faults", get(admin_faults_get).put(admin_faults_put))
        .route("/_sim/log", get(admin_log))
        .route("/_sim/calls", get(admin_calls))
        .route("/_sim/endpoint-calls", get(admin_endpoint_calls))
        .route("/_sim/refused", get(admin_refused))
        .route("/_sim/reset-log", post(admin_reset_log))
        .route_layer(axum::middleware::from_fn_with_state(
            inner.clone(),
            admin_guard,
        ));
    Router::new()
        .route("/_sim/health", get(|| async { "ok" }))
        .merge(admin)
        .fallback(cloud)
        .with_state(inner)
}

// ------------------------------------------------------------------ admin

/// The admin token sent as `Authorization: Bearer TOKEN` or
/// `X-Sim-Admin-Token: TOKEN`.
fn sent_admin_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(t) = headers
        .get("x-sim-admin-token")
        .and_then(|v| v.to_str().ok())
    {
        return Some(t.trim());
    }
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(str::trim)
}

async fn admin_guard(
    State(inner): State<Arc<Inner>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(expected) = &inner.admin_token {
        let ok =
            sent_admin_token(req.headers()).is_some_and(|t| sign::signatures_equal(t, expected));
        if !ok {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({
                    "error": "the simulator's admin API needs its admin token (printed at start) as `Authorization: Bearer TOKEN` or `X-Sim-Admin-Token: TOKEN`"
                })),
            )
                .into_response();
        }
    }
    next.run(req).await
}

fn redacted(mut state: SimState) -> SimState {
    for a in &mut state.accounts {
        a.secret_key = "<redacted>".into();
    }
    state
}

async fn admin_state_get(State(inner): State<Arc<Inner>>) -> Response {
    let state = redacted(lock(&inner.state).clone());
    axum::Json(state).into_response()
}

async fn admin_state_put(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let parsed = std::str::from_utf8(&body)
        .map_err(|e| e.to_string())
        .and_then(|t| SimState::from_str_any(t).map_err(|e| e.to_string()))
        .and_then(|s| s.validate().map(|_| s).map_err(|e| e.to_string()));
    match parsed {
        Ok(s) => {
            inner.set_state(s);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": e }))).into_response(),
    }
}

async fn admin_faults_get(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(lock(&inner.faults).faults().clone()).into_response()
}

async fn admin_faults_put(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            lock(&inner.faults).set(f);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": format!("faults: {e}") })),
        )
            .into_response(),
    }
}

async fn admin_log(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(lock(&inner.logs).requests.clone()).into_response()
}

async fn admin_calls(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(lock(&inner.logs).calls.clone()).into_response()
}

async fn admin_endpoint_calls(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(lock(&inner.logs).endpoint_counts()).into_response()
}

async fn admin_refused(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(lock(&inner.logs).refused.clone()).into_response()
}

async fn admin_reset_log(State(inner): State<Arc<Inner>>) -> Response {
    inner.reset_logs();
    StatusCode::NO_CONTENT.into_response()
}

// ------------------------------------------------------------------ cloud

/// How an error body is shaped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    HuaweiV3,
    HuaweiOld,
    Baidu,
}

impl Style {
    fn of(provider: Provider, op: Option<Op>) -> Self {
        match provider {
            Provider::Baidu => Style::Baidu,
            Provider::Huawei if op.is_some_and(Op::old_style_errors) => Style::HuaweiOld,
            Provider::Huawei => Style::HuaweiV3,
        }
    }

    fn provider(self) -> Provider {
        match self {
            Style::Baidu => Provider::Baidu,
            _ => Provider::Huawei,
        }
    }
}

fn new_request_id(provider: Provider) -> String {
    match provider {
        Provider::Huawei => hw_request_id(),
        Provider::Baidu => uuid::Uuid::new_v4().to_string(),
    }
}

fn with_headers(mut resp: Response, provider: Provider, request_id: &str) -> Response {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        match provider {
            Provider::Huawei => h.insert("x-request-id", v),
            Provider::Baidu => h.insert("x-bce-request-id", v),
        };
    }
    let ct = match provider {
        Provider::Huawei => "application/json",
        Provider::Baidu => "application/json;charset=UTF-8",
    };
    h.insert("content-type", HeaderValue::from_static(ct));
    resp
}

fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn render_error(style: Style, request_id: &str, err: &ApiError) -> Response {
    let body = match style {
        Style::HuaweiV3 => json!({
            "request_id": request_id,
            "error_code": err.code,
            "error_msg": err.message,
        }),
        Style::HuaweiOld => json!({ "code": err.code, "message": err.message }),
        Style::Baidu => json!({
            "requestId": request_id,
            "code": err.code,
            "message": err.message,
        }),
    };
    let resp = (status_of(err.status), body.to_string()).into_response();
    with_headers(resp, style.provider(), request_id)
}

fn render_reply(provider: Provider, request_id: &str, reply: &Reply) -> Response {
    let body = match &reply.body {
        Some(v) => Body::from(v.to_string()),
        None => Body::empty(),
    };
    let resp = (status_of(reply.status), body).into_response();
    with_headers(resp, provider, request_id)
}

fn dropped() -> Response {
    let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    resp.extensions_mut().insert(DropConnectionMarker);
    resp
}

/// Lowercase name and value of every header (non-UTF-8 values dropped).
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect()
}

fn header<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

struct Incoming {
    method: http::Method,
    raw_path: String,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Incoming {
    /// Path and query for the request log, with the value of every
    /// `authorization` query parameter (a bce-auth-v1 signature sent in
    /// the URL) replaced by `<redacted>`.
    fn path_and_query(&self) -> String {
        if self.raw_query.is_empty() {
            return self.raw_path.clone();
        }
        let query = redact_query(&self.raw_query);
        format!("{}?{}", self.raw_path, query)
    }
}

/// A raw query with `authorization` values (any case, percent-encoded or
/// not) replaced by `<redacted>`.
pub(crate) fn redact_query(raw: &str) -> String {
    raw.split('&')
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            if sign::percent_decode(key).eq_ignore_ascii_case("authorization") {
                format!("{key}=<redacted>")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn cloud(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let provider = provider_of_path(&raw_path);
    let body = match tokio::time::timeout(inner.read_timeout, axum::body::to_bytes(body, MAX_BODY))
        .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(
                    json!({ "error": format!("request body unreadable or over {MAX_BODY} bytes") }),
                ),
            )
                .into_response();
        }
        Err(_) => {
            let mut resp = (
                StatusCode::REQUEST_TIMEOUT,
                axum::Json(json!({ "error": "request body not received in time" })),
            )
                .into_response();
            resp.headers_mut()
                .insert("connection", HeaderValue::from_static("close"));
            return resp;
        }
    };
    let incoming = Incoming {
        method: parts.method,
        raw_path,
        raw_query,
        headers: header_pairs(&parts.headers),
        body,
    };
    let Some(provider) = provider else {
        // Not a cloud path: logged, but no cloud's call.
        inner.log(RequestLogEntry {
            seq: 0,
            operation: "unknown".into(),
            method: incoming.method.to_string(),
            path: incoming.path_and_query(),
            status: 404,
            access_key: None,
            outcome: "error".into(),
        });
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "no such path on this simulator" })),
        )
            .into_response();
    };
    let (status, op, access_key, outcome, resp) = pipeline(&inner, provider, &incoming).await;
    {
        let mut logs = lock(&inner.logs);
        *logs
            .calls
            .entry(op.map(Op::name).unwrap_or("unknown").to_string())
            .or_insert(0) += 1;
        let (method, path, read) = match op {
            Some(op) => {
                let (m, p) = op.endpoint();
                (m.to_string(), p.to_string(), op.is_read())
            }
            None => (
                incoming.method.to_string(),
                "(no such operation)".to_string(),
                incoming.method == http::Method::GET,
            ),
        };
        let key = (
            provider.as_str(),
            access_key.clone().unwrap_or_default(),
            method,
            path,
            read,
        );
        *logs.endpoints.entry(key).or_insert(0) += 1;
    }
    inner.log(RequestLogEntry {
        seq: 0,
        operation: op.map(Op::name).unwrap_or("unknown").into(),
        method: incoming.method.to_string(),
        path: incoming.path_and_query(),
        status,
        access_key,
        outcome: outcome.into(),
    });
    resp
}

type Outcome = (u16, Option<Op>, Option<String>, &'static str, Response);

async fn pipeline(inner: &Inner, provider: Provider, req: &Incoming) -> Outcome {
    let query = sign::parse_query(&req.raw_query);
    let route = classify(&req.method, &req.raw_path, &query);
    let op = route.as_ref().map(|r| r.op);
    let style = Style::of(provider, op);
    let request_id = new_request_id(provider);
    let fail = |err: ApiError, ak: Option<String>, outcome: &'static str| -> Outcome {
        (
            err.status,
            op,
            ak,
            outcome,
            render_error(style, &request_id, &err),
        )
    };

    let Some(route) = route else {
        let err = match provider {
            Provider::Huawei => ApiError::new(
                404,
                "APIG.0101",
                "The API does not exist or has not been published in the environment.",
            ),
            Provider::Baidu => {
                ApiError::new(400, "InvalidURI", "Could not parse the specified URI.")
            }
        };
        return fail(err, None, "error");
    };

    let now = inner.now();
    let account = {
        let state = lock(&inner.state);
        match provider {
            Provider::Huawei => authenticate_huawei(&state, req, &query, now),
            Provider::Baidu => authenticate_baidu(&state, req, &query, now),
        }
    };
    let account = match account {
        Ok(a) => a,
        Err(e) => {
            let style = if provider == Provider::Huawei {
                Style::HuaweiV3
            } else {
                Style::Baidu
            };
            return (
                e.status,
                op,
                None,
                "error",
                render_error(style, &request_id, &e),
            );
        }
    };
    let ak = Some(account.access_key.clone());

    if provider == Provider::Huawei {
        let project = account.project_id.as_deref().unwrap_or("");
        let header_project = header(&req.headers, "x-project-id");
        if route.project.as_deref() != Some(project) || header_project.is_some_and(|h| h != project)
        {
            return fail(
                ApiError::new(400, "VPC.0007", "urlTenantId is not equal tokenTenantId"),
                ak,
                "error",
            );
        }
    }

    // Faults, in a fixed order: rate limit, latency, fail-next, random 5xx.
    let (throttled, latency) = {
        let mut f = lock(&inner.faults);
        (f.throttle(&account.access_key, Instant::now()), f.latency())
    };
    if let Some(retry_after) = throttled {
        let err = match provider {
            Provider::Huawei => ApiError::new(
                429,
                "APIG.0308",
                "The throttling threshold has been reached: policy user over ratelimit",
            ),
            Provider::Baidu => ApiError::new(
                429,
                "RequestRateLimitExceeded",
                "Request rate limit exceeded, please try again later.",
            ),
        };
        let (status, op, ak, outcome, mut resp) = fail(err, ak, "throttled");
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            resp.headers_mut().insert("retry-after", v);
        }
        return (status, op, ak, outcome, resp);
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (injected, random) = {
        let mut f = lock(&inner.faults);
        match f.take_fail_next(route.op.name()) {
            Some(x) => (Some(x), false),
            None => (None, f.random_error()),
        }
    };
    if let Some(x) = injected {
        let msg = if x.message.is_empty() {
            format!("Injected failure of {}", route.op.name())
        } else {
            x.message
        };
        return fail(ApiError::new(x.status, &x.code, msg), ak, "injected");
    }
    if random {
        let err = match provider {
            Provider::Huawei => ApiError::new(500, "VPC.0500", "Internal server error."),
            Provider::Baidu => ApiError::new(
                500,
                "InternalError",
                "We encountered an internal error. Please try again.",
            ),
        };
        return fail(err, ak, "injected");
    }

    // Baidu idempotency: a repeated clientToken replays the first result.
    let token_key = match client_token(&route, &account, &query) {
        Ok(k) => k,
        Err(e) => return fail(e, ak, "error"),
    };
    let fingerprint = format!(
        "{} {}?{}\n{}",
        req.method,
        req.raw_path,
        canonical_without_token(&query),
        String::from_utf8_lossy(&req.body)
    );
    if let Some(key) = &token_key
        && let Some(stored) = lock(&inner.tokens).get(key).cloned()
    {
        if stored.fingerprint != fingerprint {
            return fail(
                ApiError::new(
                    403,
                    "IdempotentParameterMismatch",
                    "The request uses the same client token as a previous, but non-identical request.",
                ),
                ak,
                "error",
            );
        }
        let resp = render_reply(provider, &request_id, &stored.reply);
        return (stored.reply.status, op, ak, "replayed", resp);
    }

    if lock(&inner.faults).take_drop(route.op.name(), DropWhen::Before) {
        return (0, op, ak, "dropped-before", dropped());
    }

    let result = {
        let mut state = lock(&inner.state);
        let faults = lock(&inner.faults);
        let mut refused = Vec::new();
        let call = Call {
            route: &route,
            account: &account,
            query: &query,
            body: &req.body,
            now,
            request_id: &request_id,
        };
        let mut world = World {
            state: &mut state,
            refused: &mut refused,
            faults: &faults,
        };
        let result = match provider {
            Provider::Huawei => huawei::handle(&call, &mut world),
            Provider::Baidu => baidu::handle(&call, &mut world),
        };
        if !refused.is_empty() {
            lock(&inner.logs).refused.extend(refused);
        }
        result
    };
    let reply = match result {
        Ok(r) => r,
        Err(e) => return fail(e, ak, "error"),
    };
    if let Some(key) = token_key {
        lock(&inner.tokens).insert(
            key,
            StoredReply {
                fingerprint,
                reply: reply.clone(),
            },
        );
    }
    if lock(&inner.faults).take_drop(route.op.name(), DropWhen::After) {
        return (0, op, ak, "dropped-after", dropped());
    }
    let resp = render_reply(provider, &request_id, &reply);
    (reply.status, op, ak, "ok", resp)
}

fn canonical_without_token(query: &[(String, String)]) -> String {
    let rest: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k != "clientToken")
        .cloned()
        .collect();
    sign::baidu_canonical_query(&rest)
}

fn client_token(
    route: &Route,
    account: &Account,
    query: &[(String, String)],
) -> Result<Option<TokenKey>, ApiError> {
    if !route.op.takes_client_token() {
        return Ok(None);
    }
    let Some(token) = query
        .iter()
        .rev()
        .find(|(k, _)| k == "clientToken")
        .map(|(_, v)| v.as_str())
        .filter(|t| !t.is_empty())
    else {
        return Ok(None);
    };
    if token.len() > 64 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "Invalid clientToken: must be at most 64 printable ASCII characters",
        ));
    }
    Ok(Some((
        account.baidu_scope().to_string(),
        route.op.name(),
        token.to_string(),
    )))
}

// ---------------------------------------------------------- authentication

fn apig(msg: &str) -> ApiError {
    ApiError::new(
        401,
        "APIG.0301",
        format!("Incorrect IAM authentication information: {msg}"),
    )
}

fn authenticate_huawei(
    state: &SimState,
    req: &Incoming,
    query: &[(String, String)],
    now: jiff::Timestamp,
) -> Result<Account, ApiError> {
    let Some(auth) = header(&req.headers, "authorization") else {
        return Err(apig("Authorization header not found"));
    };
    let Some(auth) = sign::parse_huawei_authorization(auth) else {
        return Err(apig("Authorization header is malformed"));
    };
    let Some(account) = state
        .accounts
        .iter()
        .find(|a| a.provider == Provider::Huawei && a.access_key == auth.access_key)
    else {
        return Err(apig("Get secretKey failed"));
    };
    if !auth.signed_headers.iter().any(|h| h == "x-sdk-date") {
        return Err(apig("x-sdk-date must be a signed header"));
    }
    let Some(date_text) = header(&req.headers, "x-sdk-date") else {
        return Err(apig("x-sdk-date header not found"));
    };
    let Some(date) = sign::parse_sdk_date(date_text) else {
        return Err(apig("x-sdk-date is not in the format YYYYMMDDTHHMMSSZ"));
    };
    let skew = (now.as_second() - date.as_second()).abs();
    if skew > state.settings.max_clock_skew_seconds {
        return Err(apig(
            "x-sdk-date is more than 15 minutes off the server clock",
        ));
    }
    let payload_hash = sign::huawei_payload_hash(
        &req.body,
        header(&req.headers, "content-type"),
        header(&req.headers, "x-sdk-content-sha256"),
        &auth.signed_headers,
    );
    let canonical = sign::huawei_canonical_request(
        req.method.as_str(),
        &sign::huawei_canonical_uri(&req.raw_path),
        &sign::huawei_canonical_query(query),
        &sign::huawei_canonical_headers(&auth.signed_headers, |h| header(&req.headers, h)),
        &auth.signed_headers,
        &payload_hash,
    );
    let expected = sign::huawei_signature(
        &account.secret_key,
        &sign::huawei_string_to_sign(date_text.trim(), &canonical),
    );
    if !sign::signatures_equal(&expected, &auth.signature) {
        return Err(apig("verify aksk signature fail"));
    }
    Ok(account.clone())
}

fn authenticate_baidu(
    state: &SimState,
    req: &Incoming,
    query: &[(String, String)],
    now: jiff::Timestamp,
) -> Result<Account, ApiError> {
    let value = header(&req.headers, "authorization")
        .map(str::to_string)
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.clone())
        });
    let Some(value) = value else {
        return Err(ApiError::new(403, "AccessDenied", "Access denied."));
    };
    let Some(auth) = sign::parse_baidu_authorization(&value) else {
        return Err(ApiError::new(
            400,
            "InvalidHTTPAuthHeader",
            "The HTTP authorization header is invalid. Consult the service documentation for details.",
        ));
    };
    let Some(account) = state
        .accounts
        .iter()
        .find(|a| a.provider == Provider::Baidu && a.access_key == auth.access_key)
    else {
        return Err(ApiError::new(
            403,
            "InvalidAccessKeyId",
            "The Access Key ID you provided does not exist in our records.",
        ));
    };
    let max_expiration = state.settings.baidu_max_expiration_seconds;
    if auth.expiration_seconds == 0 || auth.expiration_seconds > max_expiration {
        return Err(ApiError::new(
            400,
            "InvalidHTTPAuthHeader",
            format!(
                "The HTTP authorization header is invalid: expirationPeriodInSeconds must be 1 to {max_expiration}."
            ),
        ));
    }
    // Checked: a bound set in a state file could still be huge.
    let expires = i64::try_from(auth.expiration_seconds)
        .ok()
        .and_then(|e| auth.timestamp.as_second().checked_add(e));
    if expires.is_none_or(|e| now.as_second() > e) {
        return Err(ApiError::new(
            400,
            "RequestExpired",
            format!(
                "Request has expired. Timestamp date is {}.",
                auth.timestamp_text
            ),
        ));
    }
    if auth.timestamp.as_second().saturating_sub(now.as_second())
        > state.settings.max_clock_skew_seconds
    {
        return Err(ApiError::new(
            400,
            "RequestExpired",
            format!(
                "Request timestamp {} is too far in the future.",
                auth.timestamp_text
            ),
        ));
    }
    let key = sign::baidu_signing_key(&account.secret_key, &auth.prefix());
    let canonical = sign::baidu_canonical_request(
        req.method.as_str(),
        &sign::baidu_canonical_uri(&req.raw_path),
        &sign::baidu_canonical_query(query),
        &sign::baidu_canonical_headers(&req.headers, &auth.signed_headers),
    );
    let expected = sign::baidu_signature(&key, &canonical);
    if !sign::signatures_equal(&expected, &auth.signature) {
        return Err(ApiError::new(
            400,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(account.clone())
}
