//! Reconcile steps against a mocked API server: an "API server verifier"
//! (after kube-rs/controller-rs) plays each scenario and asserts method,
//! path and body of every Kubernetes call the reconcile makes. An object's
//! own reconcile (finalizer, orphans) makes its calls in a fixed order and
//! is verified call by call; an account's reconcile writes the statuses of
//! its objects concurrently, so those scenarios record every call and
//! assert on what was sent.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use kube::api::ObjectMeta;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde_json::{Value, json};

use secgroup_controller::cloud::{CloudProvider, Credentials};
use secgroup_controller::controller::testing::{
    Context, EventRecorder, FINALIZER, Fence, Metrics, ProviderFactory, Settings, Stores, Timing,
    reconcile_account, reconcile_object,
};
use secgroup_controller::crd::{
    CloudAccount, CloudAccountSpec, LocalObjectRef, PortSecurityGroups, Provider, SecurityGroup,
    SecurityGroupMembership, SecurityGroupSpec, SecurityGroupStatus,
};
use secgroup_controller::plan::PlanOptions;
use secgroup_test_support::emulator::fake_cloud::{FakeCloud, FakeFactory};

const NS: &str = "prod";

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

trait Fixture: Sized {
    fn meta_mut(&mut self) -> &mut ObjectMeta;

    fn finalized(mut self) -> Self {
        self.meta_mut().finalizers = Some(vec![FINALIZER.to_string()]);
        self
    }

    fn deleting(mut self) -> Self {
        self.meta_mut().deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-01-01T00:00:00Z".parse().unwrap(),
            ));
        self
    }
}

impl Fixture for SecurityGroup {
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(NS.into()),
        uid: Some(format!("uid-{name}")),
        resource_version: Some("1".into()),
        generation: Some(1),
        ..ObjectMeta::default()
    }
}

fn security_group(name: &str) -> SecurityGroup {
    SecurityGroup {
        metadata: meta(name),
        spec: SecurityGroupSpec {
            account_ref: LocalObjectRef::new("acct"),
            group_id: None,
            name: None,
            description: None,
            vpc_id: Some("vpc-1".into()),
            rules: None,
            deletion_policy: None,
            rules_policy: None,
        },
        status: None,
    }
}

fn account() -> CloudAccount {
    CloudAccount {
        metadata: meta("acct"),
        spec: CloudAccountSpec {
            provider: Provider::Huawei,
            region: "cn-north-4".into(),
            project_id: Some("proj1".into()),
            endpoint: Some("http://127.0.0.1:1".into()),
            credentials_secret_ref: LocalObjectRef::new("creds"),
            max_requests_per_second: None,
            node_identity: None,
        },
        status: None,
    }
}

/// The account's Secret as the API serves it.
fn secret() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "creds", "namespace": NS, "resourceVersion": "7"},
        "data": {"accessKey": "QUstVEVTVA==", "secretKey": "c2VjcmV0"}
    })
}

/// A factory that must not be reached in these scenarios.
struct NoClients;

impl ProviderFactory for NoClients {
    fn build(&self, _: &CloudAccount, _: Credentials) -> Result<Arc<dyn CloudProvider>, String> {
        Err("no cloud in this test".into())
    }
}

fn store_of<K>(objects: Vec<K>) -> (Store<K>, Writer<K>)
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let (store, mut writer) = reflector::store();
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(o));
    }
    (store, writer)
}

/// The objects the stores hold; `groups` can be changed later.
struct World {
    accounts: Vec<CloudAccount>,
    groups: Vec<SecurityGroup>,
}

fn context(client: Client, world: World) -> Arc<Context> {
    context_with(client, world, Arc::new(NoClients)).0
}

/// A context whose account has `groups` and reaches `cloud`.
fn with_cloud(
    client: Client,
    groups: Vec<SecurityGroup>,
    cloud: &Arc<FakeCloud>,
) -> (Arc<Context>, Writer<SecurityGroup>) {
    context_with(
        client,
        World {
            accounts: vec![account()],
            groups,
        },
        Arc::new(FakeFactory {
            cloud: cloud.clone(),
            access_key: "AK-TEST".into(),
        }),
    )
}

fn context_with(
    client: Client,
    world: World,
    providers: Arc<dyn ProviderFactory>,
) -> (Arc<Context>, Writer<SecurityGroup>) {
    let recorder = EventRecorder::new(client.clone(), "secgroup-controller", "test");
    let (groups, writer) = store_of(world.groups);
    let stores = Stores {
        accounts: store_of(world.accounts).0,
        groups,
        ports: store_of(Vec::<PortSecurityGroups>::new()).0,
        memberships: store_of(Vec::<SecurityGroupMembership>::new()).0,
        node_groups: store_of(Vec::<secgroup_controller::crd::NodeSecurityGroups>::new()).0,
        rule_sets: store_of(Vec::<secgroup_controller::crd::SecurityGroupRules>::new()).0,
        nodes: store_of(Vec::<k8s_openapi::api::core::v1::Node>::new()).0,
    };
    let settings = Settings {
        plan_options: PlanOptions::default(),
        timing: Timing {
            resync: Duration::from_secs(600),
            max_backoff: Duration::from_secs(300),
        },
        coalesce_window: Duration::ZERO,
    };
    let ctx = Context::new(
        client,
        recorder,
        providers,
        stores,
        Metrics::new(),
        Fence::open(),
        settings,
    );
    (Arc::new(ctx), writer)
}

// ---------------------------------------------------------------------------
// The verifier
// ---------------------------------------------------------------------------

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One expected call: method, path (query ignored), and the answer.
struct Expect {
    method: &'static str,
    path: String,
    status: u16,
    reply: Value,
}

impl Expect {
    fn new(method: &'static str, path: impl Into<String>, status: u16, reply: Value) -> Self {
        Self {
            method,
            path: path.into(),
            status,
            reply,
        }
    }
}

/// Serve `expected` in order; return the bodies received (JSON or null)
/// and the query strings.
async fn verify(mut handle: Handle, expected: Vec<Expect>) -> Vec<(Value, String)> {
    let mut seen = Vec::new();
    for e in expected {
        let (request, send) = handle
            .next_request()
            .await
            .unwrap_or_else(|| panic!("expected {} {} but no call came", e.method, e.path));
        assert_eq!(request.method().as_str(), e.method, "method of {}", e.path);
        assert_eq!(request.uri().path(), e.path);
        let query = request.uri().query().unwrap_or("").to_string();
        let bytes = request.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        send.send_response(
            Response::builder()
                .status(e.status)
                .body(Body::from(serde_json::to_vec(&e.reply).unwrap()))
                .unwrap(),
        );
        seen.push((body, query));
    }
    seen
}

fn not_found(what: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
           "reason": "NotFound", "code": 404, "message": format!("{what} not found")})
}

const SG_PATH: &str = "/apis/secgroup.io/v1alpha1/namespaces/prod/securitygroups/web";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/prod/events";

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

/// Every call an account reconcile made: method, path, body.
#[derive(Debug)]
struct Call {
    method: String,
    path: String,
    body: Value,
}

/// Answer every call (the Secret from `secret`, or 404 without one;
/// status patches and finalizer patches with an object; Events with `{}`)
/// and record each, until the client is dropped.
async fn answer_all(mut handle: Handle, secret: Option<Value>) -> Vec<Call> {
    let mut seen = Vec::new();
    while let Some((request, send)) = handle.next_request().await {
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let bytes = request.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let (status, reply) = if path.ends_with("/secrets/creds") {
            match &secret {
                Some(s) => (200, s.clone()),
                None => (404, not_found("secrets \"creds\"")),
            }
        } else if path.contains("/apis/secgroup.io/") {
            // Patches answer with the object; enough of one.
            let name = path
                .trim_end_matches("/status")
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let kind = if path.contains("/cloudaccounts/") {
                "CloudAccount"
            } else {
                "SecurityGroup"
            };
            (
                200,
                json!({"apiVersion": "secgroup.io/v1alpha1", "kind": kind,
                       "metadata": {"name": name, "namespace": NS},
                       "spec": {"accountRef": {"name": "acct"}, "groupId": "x",
                                "provider": "huawei", "region": "r",
                                "credentialsSecretRef": {"name": "creds"}},
                       "status": body.get("status").cloned().unwrap_or(Value::Null)}),
            )
        } else {
            (201, json!({}))
        };
        send.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                .unwrap(),
        );
        seen.push(Call { method, path, body });
    }
    seen
}

fn status_patches<'a>(calls: &'a [Call], path: &str) -> Vec<&'a Value> {
    let path = format!("{path}/status");
    calls
        .iter()
        .filter(|c| c.method == "PATCH" && c.path == path)
        .map(|c| &c.body["status"])
        .collect()
}

fn events_about<'a>(calls: &'a [Call], name: &str) -> Vec<&'a Value> {
    calls
        .iter()
        .filter(|c| {
            c.method == "POST" && c.path == EVENTS_PATH && c.body["regarding"]["name"] == name
        })
        .map(|c| &c.body)
        .collect()
}

const ACCOUNT_PATH: &str = "/apis/secgroup.io/v1alpha1/namespaces/prod/cloudaccounts/acct";

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_object_with_an_account_leaves_everything_to_the_accounts_cycle() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let sg = security_group("web");
    let ctx = context(
        client,
        World {
            accounts: vec![account()],
            groups: vec![sg.clone()],
        },
    );
    let server = tokio::spawn(answer_all(handle, None));
    let action = reconcile_object(Arc::new(sg), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    drop(ctx);
    let calls = server.await.unwrap();
    assert!(calls.is_empty(), "{calls:?}");
}

#[tokio::test]
async fn the_accounts_cycle_adds_the_finalizer_before_anything_else() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let sg = security_group("web");
    let ctx = context(
        client,
        World {
            accounts: vec![account()],
            groups: vec![sg],
        },
    );
    let server = tokio::spawn(answer_all(handle, None));
    reconcile_account(Arc::new(account()), ctx.clone())
        .await
        .unwrap();
    drop(ctx);
    let calls = server.await.unwrap();
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("PATCH", SG_PATH),
        "{calls:?}"
    );
    assert_eq!(
        calls[0].body,
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}
        ])
    );
    assert_eq!(calls[1].path, "/api/v1/namespaces/prod/secrets/creds");
}

#[tokio::test]
async fn missing_account_is_reported_in_status_without_cloud_calls() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let sg = security_group("web").finalized();
    let ctx = context(
        client,
        World {
            accounts: vec![],
            groups: vec![sg.clone()],
        },
    );
    let server = tokio::spawn(verify(
        handle,
        vec![Expect::new(
            "PATCH",
            format!("{SG_PATH}/status"),
            200,
            serde_json::to_value(&sg).unwrap(),
        )],
    ));
    let action = reconcile_object(Arc::new(sg), ctx).await.unwrap();
    assert!(action != Action::await_change(), "resyncs as a safety net");
    let seen = server.await.unwrap();
    let (body, query) = &seen[0];
    assert!(
        query.contains("fieldManager=secgroup-controller"),
        "{query}"
    );
    assert!(query.contains("force=true"), "{query}");
    assert_eq!(body["apiVersion"], "secgroup.io/v1alpha1");
    assert_eq!(body["kind"], "SecurityGroup");
    let status = &body["status"];
    assert_eq!(status["observedGeneration"], 1);
    let ready = condition(status, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "AccountNotFound");
    assert!(ready["message"].as_str().unwrap().contains("prod/acct"));
    assert_eq!(condition(status, "Reconciling")["status"], "True");
    assert_eq!(condition(status, "Stalled")["status"], "False");
}

#[tokio::test]
async fn missing_secret_stalls_the_account_and_its_objects_with_warning_events() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let sg = security_group("web").finalized();
    let ctx = context(
        client,
        World {
            accounts: vec![account()],
            groups: vec![sg.clone()],
        },
    );
    let server = tokio::spawn(answer_all(handle, None));
    let action = reconcile_account(Arc::new(account()), ctx.clone())
        .await
        .unwrap();
    assert!(
        action != Action::await_change(),
        "retried: the Secret may appear"
    );
    let text = ctx.metrics.encode();
    drop(ctx);
    let calls = server.await.unwrap();
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("GET", "/api/v1/namespaces/prod/secrets/creds"),
        "the Secret is read first: {calls:?}"
    );
    for path in [SG_PATH, ACCOUNT_PATH] {
        let patches = status_patches(&calls, path);
        assert_eq!(patches.len(), 1, "{path}: {calls:?}");
        let ready = condition(patches[0], "Ready");
        assert_eq!(ready["reason"], "CredentialsInvalid");
        assert_eq!(ready["message"], "credentials Secret prod/creds not found");
        assert_eq!(condition(patches[0], "Stalled")["status"], "True");
    }
    let events = events_about(&calls, "web");
    assert_eq!(events.len(), 1, "{calls:?}");
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["reason"], "Blocked");
    assert!(
        events[0]["note"]
            .as_str()
            .unwrap()
            .contains("Secret prod/creds")
    );
    // The failure is counted by kind and reason.
    assert!(
        text.contains(
            r#"secgroup_reconcile_failures_total{kind="SecurityGroup",reason="CredentialsInvalid"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn cleanup_without_an_account_releases_the_object_and_says_so() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let sg = security_group("web").finalized().deleting();
    let ctx = context(
        client,
        World {
            accounts: vec![],
            groups: vec![sg.clone()],
        },
    );
    let mut released = sg.clone();
    released.metadata.finalizers = None;
    let server = tokio::spawn(verify(
        handle,
        vec![
            Expect::new("POST", EVENTS_PATH, 201, json!({})),
            Expect::new(
                "PATCH",
                SG_PATH,
                200,
                serde_json::to_value(&released).unwrap(),
            ),
        ],
    ));
    reconcile_object(Arc::new(sg), ctx).await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen[0].0["reason"], "CleanupSkipped");
    assert_eq!(
        seen[1].0,
        json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ])
    );
}

#[tokio::test]
async fn cleanup_deletes_the_group_publishes_it_and_releases_the_object() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let cloud = FakeCloud::new();
    cloud.add_group("sg-1");
    let mut sg = security_group("web").finalized().deleting();
    sg.status = Some(SecurityGroupStatus {
        group_id: Some("sg-1".into()),
        ..SecurityGroupStatus::default()
    });
    let (ctx, _groups) = with_cloud(client, vec![sg.clone()], &cloud);
    let server = tokio::spawn(answer_all(handle, Some(secret())));
    reconcile_account(Arc::new(account()), ctx.clone())
        .await
        .unwrap();
    drop(ctx);
    let calls = server.await.unwrap();
    assert!(cloud.group("sg-1").is_none(), "group deleted in the cloud");
    assert_eq!(cloud.calls("deleteGroup"), 1);
    let events = events_about(&calls, "web");
    assert_eq!(events.len(), 1, "{calls:?}");
    assert_eq!(events[0]["reason"], "Deleted");
    assert_eq!(events[0]["note"], "deleted security group sg-1");
    assert!(
        status_patches(&calls, SG_PATH).is_empty(),
        "no status for an object that goes"
    );
    let release: Vec<&Call> = calls
        .iter()
        .filter(|c| c.method == "PATCH" && c.path == SG_PATH)
        .collect();
    assert_eq!(release.len(), 1, "{calls:?}");
    assert_eq!(
        release[0].body,
        json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ])
    );
}

/// A group adopted by id, named as the cloud names it (nothing to update).
fn adopted(name: &str, id: &str) -> SecurityGroup {
    let mut sg = security_group(name).finalized();
    sg.spec.group_id = Some(id.into());
    sg.spec.name = Some(id.into());
    sg.spec.description = Some(String::new());
    sg
}

#[tokio::test]
async fn an_accounts_cycle_answers_until_an_object_changes() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let cloud = FakeCloud::new();
    cloud.add_group("sg-1");
    cloud.add_group("sg-2");
    let (web, db) = (adopted("web", "sg-1"), adopted("db", "sg-2"));
    let (ctx, mut groups) = with_cloud(client, vec![web.clone(), db.clone()], &cloud);
    let server = tokio::spawn(answer_all(handle, Some(secret())));
    let account = Arc::new(account());

    // One cycle reads both groups of the account.
    let first = reconcile_account(account.clone(), ctx.clone())
        .await
        .unwrap();
    assert_eq!(cloud.calls("getGroup"), 2, "one cycle reads both groups");
    // Nothing changed: the cycle's result answers, no cloud call, and the
    // account comes back at its resync (600 s plus up to 10% jitter).
    let again = reconcile_account(account.clone(), ctx.clone())
        .await
        .unwrap();
    assert_eq!(cloud.calls("getGroup"), 2, "answered without reading");
    for action in [&first, &again] {
        let wait = requeue_of(action);
        assert!(
            wait > Duration::from_secs(590) && wait <= Duration::from_secs(660),
            "{action:?}"
        );
    }
    // A changed spec is a new input: the next reconcile runs a new cycle,
    // which reads only what the changed object touches (its group).
    let mut db2 = db.clone();
    db2.metadata.generation = Some(2);
    groups.apply_watcher_event(&watcher::Event::Apply(db2));
    reconcile_account(account, ctx.clone()).await.unwrap();
    assert_eq!(
        cloud.calls("getGroup"),
        3,
        "a new generation reads db's group only"
    );

    let text = ctx.metrics.encode();
    assert!(text.contains("secgroup_account_cycles_total 2"), "{text}");
    assert!(
        text.contains("secgroup_account_full_reads_total 1"),
        "{text}"
    );
    drop(ctx);
    let calls = server.await.unwrap();
    let secret_reads = calls
        .iter()
        .filter(|c| c.path.ends_with("/secrets/creds"))
        .count();
    assert_eq!(secret_reads, 2, "one Secret read per cycle: {calls:?}");
    let writes = |path: &str| status_patches(&calls, path).len();
    assert_eq!(
        writes(ACCOUNT_PATH),
        2,
        "the account says when it last read the cloud"
    );
    assert_eq!(writes(SG_PATH), 1, "web stays in sync: written once");
    let db_path = SG_PATH.replace("/web", "/db");
    let db_writes = status_patches(&calls, &db_path);
    assert_eq!(db_writes.len(), 2, "db's new generation is observed");
    assert_eq!(db_writes[1]["observedGeneration"], 2);
}

fn requeue_of(action: &Action) -> Duration {
    let debug = format!("{action:?}");
    // `Action` keeps its delay private; its Debug shows it.
    let secs = debug
        .split("requeue_after: Some(")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_default()
        .to_string();
    parse_debug_duration(&secs)
}

fn parse_debug_duration(s: &str) -> Duration {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("ms") {
        Duration::from_secs_f64(v.parse::<f64>().unwrap_or(0.0) / 1000.0)
    } else if let Some(v) = s.strip_suffix("µs") {
        Duration::from_secs_f64(v.parse::<f64>().unwrap_or(0.0) / 1e6)
    } else if let Some(v) = s.strip_suffix('s') {
        Duration::from_secs_f64(v.parse().unwrap_or(0.0))
    } else {
        Duration::ZERO
    }
}
