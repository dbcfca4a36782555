//! Reconcile steps against a mocked API server: an "API server verifier"
//! (after kube-rs/controller-rs) plays each scenario and asserts method,
//! path and body of every Kubernetes call the reconcile makes.

mod emulator;

use std::sync::Arc;
use std::time::{Duration, Instant};

use emulator::fake_cloud::{FakeCloud, FakeFactory};

use http::{Request, Response};
use http_body_util::BodyExt;
use kube::api::ObjectMeta;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Client, Resource};
use secgroup_controller::controller::events::EventRecorder;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use secgroup_controller::cloud::{CloudProvider, Credentials};
use secgroup_controller::controller::cycle::{ProviderFactory, crd_resolver};
use secgroup_controller::controller::metrics::Metrics;
use secgroup_controller::controller::reconciler::{Context, Requeuers, Stores, reconcile};
use secgroup_controller::crd::{
    CloudAccount, CloudAccountSpec, LocalObjectRef, PortSecurityGroups, Provider, SecurityGroup,
    SecurityGroupMembership, SecurityGroupSpec, SecurityGroupStatus,
};
use secgroup_controller::plan::PlanOptions;

const FINALIZER: &str = "secgroup.io/cleanup";
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
        },
        status: None,
    }
}

/// A context whose account has `groups` and reaches `cloud`.
fn with_cloud(client: Client, groups: Vec<SecurityGroup>, cloud: &Arc<FakeCloud>) -> Arc<Context> {
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

fn store_of<K>(objects: Vec<K>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let (store, mut writer) = reflector::store();
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(o));
    }
    store
}

struct World {
    accounts: Vec<CloudAccount>,
    groups: Vec<SecurityGroup>,
}

fn context(client: Client, world: World) -> Arc<Context> {
    context_with(client, world, Arc::new(NoClients))
}

fn context_with(client: Client, world: World, providers: Arc<dyn ProviderFactory>) -> Arc<Context> {
    let recorder = EventRecorder::new(client.clone(), "secgroup-controller", "test");
    let stores = Stores {
        accounts: store_of(world.accounts),
        groups: store_of(world.groups),
        ports: store_of(Vec::<PortSecurityGroups>::new()),
        memberships: store_of(Vec::<SecurityGroupMembership>::new()),
    };
    let requeue = Requeuers {
        accounts: mpsc::unbounded_channel().0,
        groups: mpsc::unbounded_channel().0,
        ports: mpsc::unbounded_channel().0,
        memberships: mpsc::unbounded_channel().0,
    };
    Arc::new(Context::new(
        client,
        Metrics::new(),
        recorder,
        providers,
        crd_resolver(),
        PlanOptions::default(),
        Duration::from_secs(600),
        Duration::from_secs(300),
        stores,
        requeue,
    ))
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

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

#[tokio::test]
async fn first_reconcile_adds_the_finalizer_and_nothing_else() {
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
    let finalized = serde_json::to_value(sg.clone().finalized()).unwrap();
    let server = tokio::spawn(verify(
        handle,
        vec![Expect::new("PATCH", SG_PATH, 200, finalized)],
    ));
    let action = reconcile(Arc::new(sg), ctx).await.unwrap();
    assert_eq!(action, Action::await_change());
    let seen = server.await.unwrap();
    assert_eq!(
        seen[0].0,
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}
        ])
    );
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
    let action = reconcile(Arc::new(sg), ctx).await.unwrap();
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
async fn missing_secret_stalls_the_object_with_a_warning_event() {
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
    let server = tokio::spawn(verify(
        handle,
        vec![
            Expect::new(
                "GET",
                "/api/v1/namespaces/prod/secrets/creds",
                404,
                not_found("secrets \"creds\""),
            ),
            Expect::new(
                "PATCH",
                format!("{SG_PATH}/status"),
                200,
                serde_json::to_value(&sg).unwrap(),
            ),
            Expect::new("POST", EVENTS_PATH, 201, json!({})),
        ],
    ));
    let obj = Arc::new(sg);
    let action = reconcile(obj.clone(), ctx.clone()).await.unwrap();
    assert!(
        action != Action::await_change(),
        "retried: the Secret may appear"
    );
    let seen = server.await.unwrap();
    let ready = condition(&seen[1].0["status"], "Ready");
    assert_eq!(ready["reason"], "CredentialsInvalid");
    assert_eq!(ready["message"], "credentials Secret prod/creds not found");
    assert_eq!(condition(&seen[1].0["status"], "Stalled")["status"], "True");
    let event = &seen[2].0;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], "Blocked");
    assert_eq!(event["regarding"]["name"], "web");
    assert!(
        event["note"]
            .as_str()
            .unwrap()
            .contains("Secret prod/creds")
    );
    // The failure is counted by kind and reason.
    let text = ctx.metrics.encode();
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
    reconcile(Arc::new(sg), ctx).await.unwrap();
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
    let ctx = with_cloud(client, vec![sg.clone()], &cloud);
    let secret = secret();
    let mut released = sg.clone();
    released.metadata.finalizers = None;
    let server = tokio::spawn(verify(
        handle,
        vec![
            Expect::new("GET", "/api/v1/namespaces/prod/secrets/creds", 200, secret),
            Expect::new("POST", EVENTS_PATH, 201, json!({})),
            Expect::new(
                "PATCH",
                SG_PATH,
                200,
                serde_json::to_value(&released).unwrap(),
            ),
        ],
    ));
    reconcile(Arc::new(sg), ctx).await.unwrap();
    let seen = server.await.unwrap();
    assert!(cloud.group("sg-1").is_none(), "group deleted in the cloud");
    assert_eq!(cloud.calls("deleteGroup"), 1);
    assert_eq!(seen[1].0["reason"], "Deleted");
    assert_eq!(seen[1].0["note"], "deleted security group sg-1");
    assert_eq!(
        seen[2].0,
        json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ])
    );
}

/// Answer every call (Secret, status patches, Events) and record
/// `METHOD path` of each, until the client is dropped.
async fn answer_all(mut handle: Handle, secret: Value) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some((request, send)) = handle.next_request().await {
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let bytes = request.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let reply = if path.ends_with("/secrets/creds") {
            secret.clone()
        } else if path.ends_with("/status") {
            // Server-side apply answers with the object; enough of one.
            let name = path.rsplit('/').nth(1).unwrap_or_default();
            json!({"apiVersion": body["apiVersion"], "kind": body["kind"],
                   "metadata": {"name": name, "namespace": NS},
                   "spec": {"accountRef": {"name": "acct"}, "groupId": "x"},
                   "status": body["status"]})
        } else {
            json!({})
        };
        send.send_response(
            Response::builder()
                .status(200)
                .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                .unwrap(),
        );
        seen.push(format!("{method} {path}"));
    }
    seen
}

fn adopted(name: &str, id: &str) -> SecurityGroup {
    let mut sg = security_group(name).finalized();
    sg.spec.group_id = Some(id.into());
    sg
}

#[tokio::test]
async fn objects_of_an_account_share_its_latest_cycle() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let cloud = FakeCloud::new();
    cloud.add_group("sg-1");
    cloud.add_group("sg-2");
    let (web, db) = (adopted("web", "sg-1"), adopted("db", "sg-2"));
    let ctx = with_cloud(client, vec![web.clone(), db.clone()], &cloud);
    let secret = secret();
    let server = tokio::spawn(answer_all(handle, secret));

    // `web` runs a cycle: it reads both groups of the account.
    reconcile(Arc::new(web.clone()), ctx.clone()).await.unwrap();
    assert_eq!(cloud.calls("getGroup"), 2, "one cycle reads both groups");
    // `db` is answered by that cycle: no cloud call. Twice (a requeue
    // racing a watch event): still none, and the same requeue.
    let first = reconcile(Arc::new(db.clone()), ctx.clone()).await.unwrap();
    let again = reconcile(Arc::new(db.clone()), ctx.clone()).await.unwrap();
    assert_eq!(cloud.calls("getGroup"), 2, "db took web's cycle");
    // Neither holds a timer of its own: the account's resync brings both
    // back together, once the period (plus up to 10% jitter) has passed.
    assert_eq!(
        (first, again),
        (Action::await_change(), Action::await_change())
    );
    let resync = Duration::from_secs(600);
    let now = Instant::now();
    assert!(
        ctx.accounts
            .take_resyncs(now + resync / 2, resync)
            .is_empty()
    );
    let mut due: Vec<String> = ctx
        .accounts
        .take_resyncs(now + resync.mul_f64(1.1) + Duration::from_secs(1), resync)
        .iter()
        .map(|k| k.to_string())
        .collect();
    due.sort();
    assert_eq!(due.len(), 2, "{due:?}");
    assert!(due[0].contains("db") && due[1].contains("web"), "{due:?}");
    // A changed spec is a new input: the next reconcile runs a new cycle.
    let mut db2 = db.clone();
    db2.metadata.generation = Some(2);
    reconcile(Arc::new(db2), ctx.clone()).await.unwrap();
    assert_eq!(cloud.calls("getGroup"), 4, "a new generation runs a cycle");

    let text = ctx.metrics.encode();
    assert!(text.contains("secgroup_account_cycles_total 2"), "{text}");
    assert!(text.contains("secgroup_shared_answers_total 2"), "{text}");
    drop(ctx);
    let seen = server.await.unwrap();
    let secret_reads = seen
        .iter()
        .filter(|s| s.ends_with("/secrets/creds"))
        .count();
    assert_eq!(secret_reads, 2, "one Secret read per cycle: {seen:?}");
    let status_writes = seen.iter().filter(|s| s.ends_with("/status")).count();
    assert_eq!(status_writes, 4, "every pass writes its status: {seen:?}");
}
