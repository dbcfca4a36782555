//! A small in-process Kubernetes API emulator for end-to-end controller
//! tests: an axum server on 127.0.0.1:0 that kube-rs talks to like a
//! cluster, with the state inspectable from the test.
//!
//! # Why not kmock
//!
//! The issue prefers the PyPI package `kmock` (0.8). It was tried first: it
//! runs standalone (`KubernetesEmulator` + `Server` on a port), but against
//! kube-rs nearly every stateful path needed replacing, not patching:
//! - the JSON-patch `test` of a missing `/metadata/finalizers` against null
//!   fails with a 500 `JsonPatchTestFailed`, so kube-rs `finalizer()` can
//!   never add its finalizer;
//! - `PUT` is not routed at all (404 "Endpoint Not Found"), so Lease-based
//!   leader election (replace with a resourceVersion precondition) cannot
//!   work;
//! - objects get no `resourceVersion`, `uid`, `generation` or
//!   `creationTimestamp`; lists answer `resourceVersion: "..."` and a watch
//!   ignores its `resourceVersion` and replays every object; so there is no
//!   optimistic concurrency, no `observedGeneration`, no resumable watch;
//! - the status subresource is not isolated (a status patch may change the
//!   spec and the other way round); no-op writes still emit events;
//! - error reasons are `Object Not Found` / `Object Already Exists`, not
//!   `NotFound` / `AlreadyExists`.
//!
//! A shim fixing all of that would have overridden every handler of its
//! `KubernetesEmulator`, keeping only aiohttp's HTTP server, while adding a
//! Python virtualenv and a child process to every test. This emulator is
//! the same amount of code, in-process, and needs nothing installed.
//!
//! # What it models
//!
//! - Paths `/api/v1/...` and `/apis/{group}/{version}/...`, namespaced and
//!   cluster-scoped; any resource name (no discovery, no schema).
//! - get, list (label selectors `k=v`, `k==v`, `k!=v`, `k`, `!k`; field
//!   selectors `metadata.name`, `metadata.namespace`), create
//!   (`generateName` too), replace (PUT, with a `resourceVersion`
//!   precondition → 409 Conflict), delete.
//! - One global, increasing `resourceVersion`; `uid`, `generation` (bumped
//!   when anything outside `metadata` and `status` changes),
//!   `creationTimestamp`; the namespace comes from the URL.
//! - Status subresource: writes to `/status` change only `status`, other
//!   writes never change it; create drops any `status` (but a Node's, as
//!   the API server keeps what a registering kubelet sends).
//! - Patches: JSON merge patch; strategic merge patch approximated as merge
//!   patch; JSON patch (RFC 6902) where `test` of a missing path against
//!   null passes, as on a real API server; server-side apply approximated
//!   for a single field manager: each top-level section named by the apply
//!   (`spec`, `status`, ...) is replaced whole, labels and annotations are
//!   merged, a missing object is created. Field ownership and apply
//!   conflicts are not modelled (`force` is accepted and ignored).
//! - Finalizers: delete of an object with finalizers sets
//!   `deletionTimestamp`; the write that removes the last finalizer deletes
//!   it.
//! - Watch: `?watch=true` streams `ADDED`/`MODIFIED`/`DELETED` after the
//!   given `resourceVersion` (all current objects as `ADDED` for none or
//!   `0`), honours `timeoutSeconds`, filters by namespace and selectors.
//!   A write that changes nothing emits no event and keeps the version.
//!
//! # What it does not model
//!
//! Authentication and RBAC; admission, defaulting, OpenAPI/CEL validation;
//! discovery (`/apis` lists nothing); namespaces as objects (any namespace
//! exists); owner references and garbage collection; `deletecollection`;
//! `in`/`notin` selectors; watch bookmarks, `410 Gone` (the event log is
//! never compacted); a watch whose object stops matching a label selector
//! does not see a synthetic `DELETED`; strategic-merge list semantics
//! (`$patch`, merge keys); protobuf and tables; pagination (`limit` is
//! ignored, lists are complete).

pub mod fake_cloud;
pub mod harness;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// One change, as a watch sends it.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub rv: u64,
    pub resource: String,
    pub namespace: Option<String>,
    pub kind: &'static str,
    pub object: Value,
}

/// A request the emulator served (for assertions on traffic).
#[derive(Clone, Debug)]
pub struct Served {
    pub method: Method,
    pub path: String,
    pub status: u16,
}

#[derive(Default)]
struct Store {
    rv: u64,
    /// resource key (`group/plural`) → (namespace, name) → object.
    objects: BTreeMap<String, BTreeMap<(String, String), Value>>,
    /// resource key → apiVersion and kind of its objects (for list kinds).
    types: BTreeMap<String, (String, String)>,
    log: Vec<WatchEvent>,
    served: Vec<Served>,
    /// Refuse every write that adds a finalizer, as an admission webhook
    /// or missing RBAC on a real API server would.
    refuse_finalizers: bool,
}

struct Shared {
    store: Mutex<Store>,
    events: broadcast::Sender<WatchEvent>,
}

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Emulator {
    pub async fn start() -> Emulator {
        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            events,
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        // Test start-up: failing to bind loopback is a broken machine.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Emulator {
            url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kube client talking to this emulator (default namespace `default`).
    pub fn client(&self) -> kube::Client {
        client_at(&self.url)
    }

    /// The emulator's address, for a proxy in front of it.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.url
            .trim_start_matches("http://")
            .parse()
            .expect("emulator address")
    }

    /// The stored object, if any. `resource` is `group/plural` (`/plural`
    /// for the core group), e.g. `secgroup.io/securitygroups`.
    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let store = self.shared.store.lock().unwrap();
        store
            .objects
            .get(resource)
            .and_then(|m| m.get(&(namespace.to_string(), name.to_string())))
            .cloned()
    }

    /// All stored objects of a resource.
    pub fn objects(&self, resource: &str) -> Vec<Value> {
        let store = self.shared.store.lock().unwrap();
        store
            .objects
            .get(resource)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every change so far (the watch log).
    pub fn changes(&self) -> Vec<WatchEvent> {
        self.shared.store.lock().unwrap().log.clone()
    }

    /// From now on refuse (403) every write that adds a finalizer.
    pub fn refuse_finalizers(&self, refuse: bool) {
        self.shared.store.lock().unwrap().refuse_finalizers = refuse;
    }

    /// Every request served so far.
    pub fn served(&self) -> Vec<Served> {
        self.shared.store.lock().unwrap().served.clone()
    }

    /// The requests served after the first `from` (the benchmarks poll
    /// this while tens of thousands have been served).
    pub fn served_since(&self, from: usize) -> Vec<Served> {
        let store = self.shared.store.lock().unwrap();
        store.served.get(from..).unwrap_or_default().to_vec()
    }

    /// How many requests have been served so far.
    pub fn served_count(&self) -> usize {
        self.shared.store.lock().unwrap().served.len()
    }
}

/// A kube client talking to `url` (the emulator, or a proxy in front of
/// it), default namespace `default`.
pub fn client_at(url: &str) -> kube::Client {
    let url = url.parse().expect("emulator url");
    let config = kube::Config::new(url);
    kube::Client::try_from(config).expect("client for the emulator")
}

// ---------------------------------------------------------------------------
// Request routing
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Target {
    group: String,
    version: String,
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

impl Target {
    fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] => (String::new(), version.to_string(), rest),
        ["apis", group, version, rest @ ..] => (group.to_string(), version.to_string(), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (plural, None, None),
        [plural, name] => (plural, Some(name.to_string()), None),
        [plural, name, sub] => (plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return None,
    };
    Some(Target {
        group,
        version,
        plural: plural.to_string(),
        namespace,
        name,
        subresource,
    })
}

fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    url_decode_pairs(query.unwrap_or(""))
}

fn url_decode_pairs(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = query_map(req.uri().query());
    let headers = req.headers().clone();
    let body = match axum::body::to_bytes(req.into_body(), 16 << 20).await {
        Ok(b) => b,
        Err(e) => return status_error(400, "BadRequest", &format!("cannot read body: {e}")),
    };
    let response = match parse_path(&path) {
        None => status_error(404, "NotFound", &format!("no route for {path}")),
        Some(target) => dispatch(&shared, &method, &target, &query, &headers, &body).await,
    };
    shared.store.lock().unwrap().served.push(Served {
        method,
        path,
        status: response.status().as_u16(),
    });
    response
}

async fn dispatch(
    shared: &Arc<Shared>,
    method: &Method,
    t: &Target,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let result = match (method.clone(), &t.name) {
        (Method::GET, None) if query.get("watch").map(String::as_str) == Some("true") => {
            return watch(shared, t, query);
        }
        (Method::GET, None) => list(shared, t, query),
        (Method::GET, Some(name)) => get(shared, t, name),
        (Method::POST, None) => parse_json(body).and_then(|obj| create(shared, t, obj)),
        (Method::PUT, Some(name)) => {
            parse_json(body).and_then(|obj| update(shared, t, name, Write::Replace(obj)))
        }
        (Method::PATCH, Some(name)) => {
            let ctype = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            parse_json(body).and_then(|patch| patch_object(shared, t, name, &ctype, patch))
        }
        (Method::DELETE, Some(name)) => delete(shared, t, name),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on this path"),
        )),
    };
    match result {
        Ok((code, value)) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
            [(header::CONTENT_TYPE, "application/json")],
            value.to_string(),
        )
            .into_response(),
        Err(e) => status_error(e.code, e.reason, &e.message),
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
        }
    }

    fn not_found(t: &Target, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{}.{} \"{name}\" not found", t.plural, t.group),
        )
    }
}

fn status_error(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

type ApiResult = Result<(u16, Value), ApiError>;

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, "BadRequest", format!("body is not JSON: {e}")))
}

// ---------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

fn meta(obj: &Value) -> &Value {
    &obj["metadata"]
}

fn labels_match(obj: &Value, selector: &str) -> bool {
    let labels = meta(obj)["labels"].as_object();
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                get(k.trim()) != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                get(k.trim()) == Some(v.trim())
            } else if let Some(k) = term.strip_prefix('!') {
                get(k.trim()).is_none()
            } else {
                get(term).is_some()
            }
        })
}

fn fields_match(obj: &Value, selector: &str) -> bool {
    selector
        .split(',')
        .filter(|s| !s.is_empty())
        .all(|term| match term.split_once('=') {
            Some(("metadata.name", v)) => meta(obj)["name"].as_str() == Some(v),
            Some(("metadata.namespace", v)) => meta(obj)["namespace"].as_str() == Some(v),
            _ => true,
        })
}

fn selected(obj: &Value, t: &Target, query: &BTreeMap<String, String>) -> bool {
    let ns_ok = match &t.namespace {
        Some(ns) => meta(obj)["namespace"].as_str() == Some(ns.as_str()),
        None => true,
    };
    ns_ok
        && query
            .get("labelSelector")
            .is_none_or(|s| labels_match(obj, s))
        && query
            .get("fieldSelector")
            .is_none_or(|s| fields_match(obj, s))
}

fn list_kind(store: &Store, t: &Target) -> String {
    match store.types.get(&t.key()) {
        Some((_, kind)) => format!("{kind}List"),
        None => "List".to_string(),
    }
}

fn list(shared: &Shared, t: &Target, query: &BTreeMap<String, String>) -> ApiResult {
    let store = shared.store.lock().unwrap();
    let items: Vec<Value> = store
        .objects
        .get(&t.key())
        .map(|m| {
            m.values()
                .filter(|o| selected(o, t, query))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Ok((
        200,
        json!({
            "apiVersion": t.api_version(),
            "kind": list_kind(&store, t),
            "metadata": {"resourceVersion": store.rv.to_string()},
            "items": items,
        }),
    ))
}

fn get(shared: &Shared, t: &Target, name: &str) -> ApiResult {
    let store = shared.store.lock().unwrap();
    let ns = t.namespace.clone().unwrap_or_default();
    store
        .objects
        .get(&t.key())
        .and_then(|m| m.get(&(ns, name.to_string())))
        .map(|o| (200, o.clone()))
        .ok_or_else(|| ApiError::not_found(t, name))
}

fn watch(shared: &Arc<Shared>, t: &Target, query: &BTreeMap<String, String>) -> Response {
    let since: Option<u64> = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0);
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(300));
    let key = t.key();
    let (backlog, rx, mut last) = {
        let store = shared.store.lock().unwrap();
        // Subscribe while holding the lock: nothing can be logged between
        // the backlog and the live stream.
        let rx = shared.events.subscribe();
        let backlog: Vec<Value> = match since {
            Some(since) => store
                .log
                .iter()
                .filter(|e| e.rv > since && e.resource == key && selected(&e.object, t, query))
                .map(|e| json!({"type": e.kind, "object": e.object}))
                .collect(),
            None => store
                .objects
                .get(&key)
                .map(|m| {
                    m.values()
                        .filter(|o| selected(o, t, query))
                        .map(|o| json!({"type": "ADDED", "object": o}))
                        .collect()
                })
                .unwrap_or_default(),
        };
        (backlog, rx, store.rv)
    };
    let t = t.clone();
    let query = query.clone();
    let live = futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(ev) => Some((Some(ev), rx)),
            // A lagging watcher ends; the client re-watches from its last
            // version and gets the rest from the log.
            Err(_) => None,
        }
    })
    .filter_map(move |ev| {
        let out = ev.and_then(|ev| {
            if ev.rv <= last || ev.resource != key || !selected(&ev.object, &t, &query) {
                return None;
            }
            last = ev.rv;
            Some(json!({"type": ev.kind, "object": ev.object}))
        });
        std::future::ready(out)
    });
    let events = futures::stream::iter(backlog)
        .chain(live)
        .map(|v| Ok::<_, std::convert::Infallible>(Bytes::from(format!("{v}\n"))));
    let deadline = tokio::time::Instant::now() + timeout;
    let events = events.take_until(tokio::time::sleep_until(deadline));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(events),
    )
        .into_response()
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

fn record(shared: &Shared, store: &mut Store, t: &Target, kind: &'static str, object: &Value) {
    let ev = WatchEvent {
        rv: store.rv,
        resource: t.key(),
        namespace: t.namespace.clone(),
        kind,
        object: object.clone(),
    };
    store.log.push(ev.clone());
    // No receivers is fine.
    let _ = shared.events.send(ev);
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..5].to_string()
}

fn create(shared: &Shared, t: &Target, mut obj: Value) -> ApiResult {
    if !obj.is_object() {
        return Err(ApiError::new(400, "BadRequest", "body must be an object"));
    }
    let mut store = shared.store.lock().unwrap();
    let ns = t.namespace.clone().unwrap_or_default();
    let name = match meta(&obj)["name"].as_str() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => match meta(&obj)["generateName"].as_str() {
            Some(prefix) => format!("{prefix}{}", random_suffix()),
            None => {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    "metadata.name: Required value",
                ));
            }
        },
    };
    let exists = store
        .objects
        .get(&t.key())
        .is_some_and(|m| m.contains_key(&(ns.clone(), name.clone())));
    if exists {
        return Err(ApiError::new(
            409,
            "AlreadyExists",
            format!("{}.{} \"{name}\" already exists", t.plural, t.group),
        ));
    }
    store.rv += 1;
    let rv = store.rv;
    let m = obj["metadata"].as_object_mut();
    let Some(m) = m else {
        return Err(ApiError::new(422, "Invalid", "metadata: Required value"));
    };
    m.insert("name".into(), json!(name));
    if t.namespace.is_some() {
        m.insert("namespace".into(), json!(ns));
    }
    m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    m.insert("resourceVersion".into(), json!(rv.to_string()));
    m.insert("generation".into(), json!(1));
    m.insert("creationTimestamp".into(), json!(now()));
    m.remove("deletionTimestamp");
    if let Some(o) = obj.as_object_mut() {
        // As the API server's Node strategy: a kubelet registers its Node
        // with its status (addresses) in the create; every other kind's
        // create drops status.
        if !(t.group.is_empty() && t.plural == "nodes") {
            o.remove("status");
        }
        o.entry("apiVersion").or_insert(json!(t.api_version()));
    }
    if let Some(kind) = obj["kind"].as_str() {
        store
            .types
            .entry(t.key())
            .or_insert((t.api_version(), kind.to_string()));
    }
    store
        .objects
        .entry(t.key())
        .or_default()
        .insert((ns, name), obj.clone());
    record(shared, &mut store, t, "ADDED", &obj);
    Ok((201, obj))
}

enum Write {
    /// PUT: the whole object (spec side, or status on `/status`).
    Replace(Value),
    /// A patch already applied to a copy of the current object.
    Patched(Value),
}

fn without(obj: &Value, keys: &[&str]) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        for k in keys {
            m.remove(*k);
        }
    }
    o
}

/// Store `candidate` as the new state of an existing object: keep what the
/// server owns, isolate the status subresource, bump generation and
/// version only on real change, finish deletion when finalizers are gone.
fn update(shared: &Shared, t: &Target, name: &str, write: Write) -> ApiResult {
    let mut store = shared.store.lock().unwrap();
    let ns = t.namespace.clone().unwrap_or_default();
    let key = (ns.clone(), name.to_string());
    let Some(current) = store
        .objects
        .get(&t.key())
        .and_then(|m| m.get(&key))
        .cloned()
    else {
        return Err(ApiError::not_found(t, name));
    };
    let (candidate, precondition) = match write {
        Write::Replace(v) => {
            let rv = meta(&v)["resourceVersion"].as_str().map(str::to_string);
            (v, rv)
        }
        Write::Patched(v) => (v, None),
    };
    if let Some(rv) = precondition
        && !rv.is_empty()
        && meta(&current)["resourceVersion"].as_str() != Some(rv.as_str())
    {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {}.{} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                t.plural, t.group
            ),
        ));
    }

    let status_only = t.subresource.as_deref() == Some("status");
    let finalizers = |v: &Value| -> Vec<Value> {
        meta(v)["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    if store.refuse_finalizers && !status_only {
        let before = finalizers(&current);
        if finalizers(&candidate).iter().any(|f| !before.contains(f)) {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "admission webhook \"deny-finalizers.test\" denied the request: \
                     finalizers may not be added to {}.{} \"{name}\"",
                    t.plural, t.group
                ),
            ));
        }
    }
    let mut next = if status_only {
        let mut next = current.clone();
        match candidate.get("status") {
            Some(s) if !s.is_null() => next["status"] = s.clone(),
            _ => {
                if let Some(m) = next.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        next
    } else {
        let mut next = candidate;
        if !next.is_object() {
            return Err(ApiError::new(400, "BadRequest", "body must be an object"));
        }
        match current.get("status") {
            Some(s) => next["status"] = s.clone(),
            None => {
                if let Some(m) = next.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        // Server-owned metadata survives whatever the client sent.
        let mut m = next["metadata"].as_object().cloned().unwrap_or_default();
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "resourceVersion",
        ] {
            match current["metadata"].get(k) {
                Some(v) => {
                    m.insert(k.to_string(), v.clone());
                }
                None => {
                    m.remove(k);
                }
            }
        }
        next["metadata"] = Value::Object(m);
        next
    };

    if next == current {
        return Ok((200, current));
    }
    let spec_changed =
        without(&next, &["metadata", "status"]) != without(&current, &["metadata", "status"]);
    store.rv += 1;
    let rv = store.rv;
    {
        let m = next["metadata"].as_object_mut().expect("metadata object");
        m.insert("resourceVersion".into(), json!(rv.to_string()));
        if spec_changed {
            let g = m.get("generation").and_then(Value::as_i64).unwrap_or(1);
            m.insert("generation".into(), json!(g + 1));
        }
    }
    let deleting = !meta(&next)["deletionTimestamp"].is_null();
    let finalizers_left = meta(&next)["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if deleting && !finalizers_left {
        if let Some(m) = store.objects.get_mut(&t.key()) {
            m.remove(&key);
        }
        record(shared, &mut store, t, "DELETED", &next);
    } else {
        store
            .objects
            .entry(t.key())
            .or_default()
            .insert(key, next.clone());
        record(shared, &mut store, t, "MODIFIED", &next);
    }
    Ok((200, next))
}

/// RFC 6902 with the API server's leniency: `test` of a missing path
/// against `null` passes.
fn json_patch(doc: &mut Value, patch: Value) -> Result<(), ApiError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::new(400, "BadRequest", "a JSON patch must be an array"))?;
    let mut kept = Vec::new();
    for op in ops {
        let is_null_test = op["op"] == "test" && op.get("value").is_none_or(Value::is_null);
        if is_null_test {
            let path = op["path"].as_str().unwrap_or("");
            if doc.pointer(path).is_none_or(Value::is_null) {
                continue;
            }
            return Err(ApiError::new(
                422,
                "Invalid",
                format!(
                    "the server rejected our request due to an error in our request: test failed at {path}"
                ),
            ));
        }
        kept.push(op.clone());
    }
    let ops: json_patch::Patch = serde_json::from_value(Value::Array(kept))
        .map_err(|e| ApiError::new(400, "BadRequest", format!("bad JSON patch: {e}")))?;
    json_patch::patch(doc, &ops).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    })
}

fn apply(doc: &mut Value, applied: &Value, status_only: bool) {
    let Some(fields) = applied.as_object() else {
        return;
    };
    for (k, v) in fields {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" if !status_only => {
                for section in ["labels", "annotations"] {
                    if let Some(m) = v.get(section).and_then(Value::as_object) {
                        for (lk, lv) in m {
                            doc["metadata"][section][lk] = lv.clone();
                        }
                    }
                }
                if let Some(f) = v.get("finalizers") {
                    doc["metadata"]["finalizers"] = f.clone();
                }
            }
            "metadata" => {}
            _ => doc[k] = v.clone(),
        }
    }
}

fn patch_object(shared: &Shared, t: &Target, name: &str, ctype: &str, patch: Value) -> ApiResult {
    let current = {
        let store = shared.store.lock().unwrap();
        let ns = t.namespace.clone().unwrap_or_default();
        store
            .objects
            .get(&t.key())
            .and_then(|m| m.get(&(ns, name.to_string())))
            .cloned()
    };
    let ctype = ctype.split(';').next().unwrap_or("").trim();
    let status_only = t.subresource.as_deref() == Some("status");
    let Some(mut doc) = current else {
        if ctype == "application/apply-patch+yaml" && !status_only {
            let mut obj = patch;
            obj["metadata"]["name"] = json!(name);
            return create(shared, t, obj);
        }
        return Err(ApiError::not_found(t, name));
    };
    match ctype {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            json_patch::merge(&mut doc, &patch);
        }
        "application/json-patch+json" => json_patch(&mut doc, patch)?,
        "application/apply-patch+yaml" => apply(&mut doc, &patch, status_only),
        other => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("the body of the request was in an unknown format: {other}"),
            ));
        }
    }
    update(shared, t, name, Write::Patched(doc))
}

fn delete(shared: &Shared, t: &Target, name: &str) -> ApiResult {
    let mut store = shared.store.lock().unwrap();
    let ns = t.namespace.clone().unwrap_or_default();
    let key = (ns, name.to_string());
    let Some(mut obj) = store
        .objects
        .get(&t.key())
        .and_then(|m| m.get(&key))
        .cloned()
    else {
        return Err(ApiError::not_found(t, name));
    };
    let has_finalizers = meta(&obj)["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if !meta(&obj)["deletionTimestamp"].is_null() {
            return Ok((200, obj));
        }
        store.rv += 1;
        obj["metadata"]["deletionTimestamp"] = json!(now());
        obj["metadata"]["resourceVersion"] = json!(store.rv.to_string());
        store
            .objects
            .entry(t.key())
            .or_default()
            .insert(key, obj.clone());
        record(shared, &mut store, t, "MODIFIED", &obj);
        return Ok((200, obj));
    }
    store.rv += 1;
    obj["metadata"]["resourceVersion"] = json!(store.rv.to_string());
    if let Some(m) = store.objects.get_mut(&t.key()) {
        m.remove(&key);
    }
    record(shared, &mut store, t, "DELETED", &obj);
    Ok((200, obj))
}
