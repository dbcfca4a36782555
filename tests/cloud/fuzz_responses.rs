//! Fuzz target (proptest) for the clients' response parsing.
//!
//! A loopback server answers every request with one generated response:
//! any status, a `Retry-After` in any form, and a body that is arbitrary
//! bytes, arbitrary JSON, or (mostly) a real answer of either cloud with
//! one part replaced by something else. Every call of both clients must
//! come back (no panic, no hang) and:
//! - a non-2xx answer is an error (except "not found", which some calls
//!   treat as done or absent), carrying the answer's status;
//! - a 429 is `Throttled`, with `Retry-After` read when it is a number
//!   (Baidu: unless the body says `VersionMismatch`).
//!
//! CI runs a modest number of cases; a long run:
//! `PROPTEST_CASES=20000 cargo test --release --test cloud fuzz_responses`.

use secgroup_test_support::clients;
use secgroup_test_support::fuzz;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use secgroup_controller::cloud::baidu::BaiduClient;
use secgroup_controller::cloud::huawei::HuaweiClient;
use secgroup_controller::cloud::retry::RetryPolicy;
use secgroup_controller::cloud::{
    BatchOutcome, CloudError, CloudProvider, Credentials, NewGroup, OWNER_TAG,
};
use secgroup_controller::model::{
    Action, Direction, Ethertype, PortRange, Ports, Protocol, Remote, Rule,
};
use serde_json::{Value, json};

// ------------------------------------------------------------ the server

/// What the server answers with.
#[derive(Clone, Debug, Default)]
struct Canned {
    status: u16,
    retry_after: Option<String>,
    body: Vec<u8>,
}

async fn answer(State(canned): State<Arc<Mutex<Canned>>>) -> Response {
    let c = canned.lock().expect("not poisoned").clone();
    let mut builder = Response::builder()
        .status(c.status)
        .header("content-type", "application/json")
        .header("x-request-id", "fuzz-request")
        .header("x-bce-request-id", "fuzz-request");
    if let Some(v) = &c.retry_after {
        builder = builder.header("retry-after", v.as_str());
    }
    builder
        .body(Body::from(c.body))
        .expect("status and headers are valid by construction")
}

async fn serve(canned: Arc<Mutex<Canned>>) -> String {
    let app = axum::Router::new().fallback(answer).with_state(canned);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral loopback port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

// ------------------------------------------------------------ bodies

fn hw_rule() -> Value {
    json!({"id": "r-1", "security_group_id": "g-1", "direction": "ingress", "protocol": "tcp",
        "ethertype": "IPv4", "multiport": "80,443", "action": "allow", "priority": 1,
        "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": null,
        "remote_address_group_id": null, "description": "web"})
}

fn hw_group() -> Value {
    json!({"id": "g-1", "name": "web", "description": "d", "enterprise_project_id": "0",
        "tags": [{"key": OWNER_TAG, "value": "uid-1"}], "security_group_rules": [hw_rule()]})
}

fn bd_rule() -> Value {
    json!({"securityGroupRuleId": "r-1", "remark": "web", "direction": "ingress",
        "ethertype": "IPv4", "portRange": "80", "protocol": "tcp", "sourceIp": "10.0.0.0/8",
        "sourceGroupId": ""})
}

fn bd_group() -> Value {
    json!({"id": "g-1", "name": "web", "desc": "", "vpcId": "vpc-1", "sgVersion": 3,
        "rules": [bd_rule()], "tags": [{"tagKey": OWNER_TAG, "tagValue": "uid-1"}]})
}

/// Real answers of both clouds (success and error shapes).
fn templates() -> Vec<Value> {
    vec![
        json!({"port": {"id": "p-1", "security_groups": ["g-1", "g-2"]}, "request_id": "r"}),
        json!({"ports": [{"id": "p-1", "security_groups": ["g-1"]}],
            "page_info": {"next_marker": "p-1", "current_count": 1}, "request_id": "r"}),
        json!({"security_group": hw_group(), "request_id": "r"}),
        json!({"security_groups": [hw_group()], "page_info": {"next_marker": null}}),
        json!({"security_group_rules": [hw_rule()], "page_info": {}}),
        json!({"security_group_rules": [hw_rule(), hw_rule()], "request_id": "r"}),
        json!({"fail": [{"id": "p-1", "error_code": "VPC.0607", "error_msg": "m"}]}),
        json!({"request_id": "r", "error_code": "VPC.9904", "error_msg": "not found"}),
        json!({"code": "VPC.0606", "message": "bad"}),
        json!({"securityGroups": [bd_group()], "isTruncated": true, "nextMarker": "g-2",
            "marker": "", "maxKeys": 1000}),
        json!({"securityGroup": bd_group()}),
        bd_group(),
        json!({"instances": [{"id": "i-1"}], "isTruncated": false}),
        json!({"securityGroupId": "g-1"}),
        json!({"requestId": "r", "code": "NoSuchObject", "message": "m"}),
        json!({"requestId": "r", "code": "VersionMismatch", "message": "The sgVersion is mismatch."}),
    ]
}

const KEYS: &[&str] = &[
    "id",
    "port",
    "ports",
    "security_groups",
    "security_group",
    "security_group_rules",
    "page_info",
    "next_marker",
    "fail",
    "error_code",
    "error_msg",
    "code",
    "message",
    "request_id",
    "requestId",
    "securityGroups",
    "securityGroup",
    "isTruncated",
    "nextMarker",
    "rules",
    "sgVersion",
    "instances",
    "securityGroupId",
    "priority",
    "multiport",
    "portRange",
    "protocol",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,12}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec![
            "", "all", "-1", "1-65535", "80", "ingress", "IPv6", "VPC.0607", "g-1"
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        let key = prop_oneof![
            prop::sample::select(KEYS.to_vec()).prop_map(str::to_string),
            "[a-zA-Z_]{1,10}"
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Replace the `n`-th node (pre-order) with `with`; `drop` removes it from
/// its object or array instead.
fn mutate(v: &mut Value, n: &mut usize, with: &Value, drop: bool) -> bool {
    if *n == 0 {
        *v = with.clone();
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(items) => {
            for i in 0..items.len() {
                if *n == 0 && drop {
                    items.remove(i);
                    return true;
                }
                if mutate(&mut items[i], n, with, drop) {
                    return true;
                }
            }
            false
        }
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if *n == 0 && drop {
                    map.remove(&k);
                    return true;
                }
                if let Some(child) = map.get_mut(&k)
                    && mutate(child, n, with, drop)
                {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let mutated = (
        prop::sample::select(templates()),
        prop::collection::vec((any::<usize>(), json_value(), any::<bool>()), 1..4),
    )
        .prop_map(|(mut t, edits)| {
            for (at, with, drop) in edits {
                let mut n = at % count_nodes(&t);
                // The root itself is only replaced, never dropped.
                let drop = drop && n > 0;
                mutate(&mut t, &mut n, &with, drop);
            }
            serde_json::to_vec(&t).expect("a Value always serializes")
        });
    prop_oneof![
        6 => mutated,
        2 => prop::sample::select(templates()).prop_map(|t| t.to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => Just(Vec::new()),
    ]
}

fn answers() -> impl Strategy<Value = Canned> {
    let status = prop_oneof![
        4 => prop::sample::select(vec![200u16, 201, 202, 204]),
        4 => prop::sample::select(vec![400u16, 401, 403, 404, 409, 413, 429, 500, 502, 503]),
        2 => 200u16..=599,
        1 => 600u16..=999,
    ];
    let retry_after = prop::option::of(prop_oneof![
        (0u32..100_000).prop_map(|n| n.to_string()),
        Just("Wed, 21 Oct 2015 07:28:00 GMT".to_string()),
        "[ -~]{0,12}",
    ]);
    (status, retry_after, body()).prop_map(|(status, retry_after, body)| Canned {
        status,
        retry_after,
        body,
    })
}

// ------------------------------------------------------------ the calls

fn rule() -> Rule {
    Rule {
        direction: Direction::Ingress,
        ethertype: Ethertype::IPv4,
        protocol: Protocol::Tcp,
        ports: Ports::Ranges(vec![PortRange {
            first: 80,
            last: 80,
        }]),
        remote: Remote::Cidr("10.0.0.0/8".parse().expect("a valid CIDR")),
        action: Action::Allow,
        priority: Some(1),
        description: String::new(),
    }
}

/// A call's result: `Ok(true)` when the call succeeded but reported ports
/// that failed (batch calls), `Ok(false)` for plain success.
type Outcome = (&'static str, Result<bool, CloudError>);

async fn within<T>(
    what: &'static str,
    f: impl Future<Output = Result<T, CloudError>>,
) -> Result<Outcome, String> {
    match tokio::time::timeout(Duration::from_secs(10), f).await {
        Ok(r) => Ok((what, r.map(|_| false))),
        Err(_) => Err(format!("{what} did not come back within 10 s")),
    }
}

async fn batch(
    what: &'static str,
    f: impl Future<Output = Result<BatchOutcome, CloudError>>,
) -> Result<Outcome, String> {
    match tokio::time::timeout(Duration::from_secs(10), f).await {
        Ok(r) => Ok((what, r.map(|o| !o.failed.is_empty()))),
        Err(_) => Err(format!("{what} did not come back within 10 s")),
    }
}

/// Every call of the trait, once.
async fn every_call(c: &dyn CloudProvider) -> Result<Vec<Outcome>, String> {
    let ids = ["p-1".to_string(), "p-2".to_string()];
    let groups = ["g-1".to_string()];
    let new_group = NewGroup {
        name: "web".into(),
        description: String::new(),
        vpc_id: Some("vpc-1".into()),
        tags: vec![(OWNER_TAG.into(), "uid-1".into())],
    };
    Ok(vec![
        within("get_group", c.get_group("g-1")).await?,
        within(
            "find_groups_by_tag",
            c.find_groups_by_tag(OWNER_TAG, "uid-1"),
        )
        .await?,
        within("get_port", c.get_port("p-1")).await?,
        within("get_ports", c.get_ports(&ids)).await?,
        within("list_group_ports", c.list_group_ports("g-1")).await?,
        within("create_group", c.create_group(&new_group)).await?,
        within("delete_group", c.delete_group("g-1")).await?,
        within("create_rules", c.create_rules("g-1", &[rule()], Some(3))).await?,
        within("delete_rule", c.delete_rule("g-1", "r-1", &rule(), Some(3))).await?,
        within(
            "add_port_groups",
            c.add_port_groups("p-1", &groups, Some(0)),
        )
        .await?,
        within("remove_port_groups", c.remove_port_groups("p-1", &groups)).await?,
        batch("attach_ports", c.attach_ports("g-1", &ids)).await?,
        batch("detach_ports", c.detach_ports("g-1", &ids)).await?,
    ])
}

fn check(provider: &str, canned: &Canned, outcomes: &[Outcome]) -> Result<(), TestCaseError> {
    let status = canned.status;
    let body = String::from_utf8_lossy(&canned.body);
    // Codes either client reads as "not found", whatever the status.
    let not_found = status == 404
        || [
            "VPC.9904",
            "VPC.0608",
            "NoSuchObject",
            "SecurityGroup.RuleNotExist",
        ]
        .iter()
        .any(|c| body.contains(c));
    for (what, result) in outcomes {
        let ctx = || format!("{provider} {what} on HTTP {status}: {result:?}");
        if !(200..300).contains(&status) && !not_found {
            // Batch calls may instead report every port as failed.
            prop_assert!(!matches!(result, Ok(false)), "{}", ctx());
        }
        if let Err(e) = result {
            if let Some(d) = e.detail() {
                // Client-side refusals (status 0) are not answers.
                prop_assert!(d.status == status || d.status == 0, "{}", ctx());
            }
            // Baidu reads a `VersionMismatch` code before the status (the
            // only code that wins over 429; a re-read and re-plan follows,
            // which is as safe as waiting).
            if status == 429
                && !(provider == "baidu" && matches!(e, CloudError::VersionMismatch(_)))
            {
                let CloudError::Throttled { retry_after, .. } = e else {
                    return Err(TestCaseError::fail(format!("not Throttled: {}", ctx())));
                };
                let want = canned
                    .retry_after
                    .as_deref()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                prop_assert_eq!(*retry_after, want, "{}", ctx());
            }
        }
    }
    Ok(())
}

#[test]
fn any_answer_maps_to_a_result_or_a_cloud_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the test");
    let canned = Arc::new(Mutex::new(Canned::default()));
    let url = rt.block_on(serve(canned.clone()));
    let creds = || Credentials::new(clients::HW_AK, clients::HW_SK);
    let hw = HuaweiClient::new(&url, clients::PROJECT, creds(), clients::http())
        .expect("valid settings")
        .with_retry_policy(RetryPolicy::none());
    let bd = BaiduClient::new(&url, creds(), clients::http())
        .expect("valid settings")
        .with_retry_policy(RetryPolicy::none());
    let mut runner = TestRunner::new(fuzz::config(64));
    let result = runner.run(&answers(), |c| {
        *canned.lock().expect("not poisoned") = c.clone();
        for (name, client) in [
            ("huawei", &hw as &dyn CloudProvider),
            ("baidu", &bd as &dyn CloudProvider),
        ] {
            let outcomes = rt
                .block_on(every_call(client))
                .map_err(TestCaseError::fail)?;
            check(name, &c, &outcomes)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
