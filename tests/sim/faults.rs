//! Fault injection (latency, random 5xx, rate limit, fail-next, partial batch
//! failures, dropped connections), the admin endpoints, logs and call
//! counts, and loading the example state file.

use secgroup_test_support::wire;

use std::path::Path;

use serde_json::{Value, json};
use wire::*;

use secgroup_controller::sim::{
    Account, DropConnection, DropWhen, FailNext, Faults, PortFailure, RateLimit, SimOptions,
    SimSettings, SimState,
};

fn state() -> SimState {
    SimState::new()
        .with_account(Account::huawei(HW_AK, HW_SK, HW_PROJECT))
        .with_account(Account::baidu(BD_AK, BD_SK))
        .with_account(Account::baidu("bdsecondak", "bdsecondsk"))
        .with_settings(SimSettings {
            huawei_default_rules: false,
            ..SimSettings::default()
        })
        .with_huawei_group(HW_PROJECT, &uuid(1), "g1")
        .with_huawei_group(HW_PROJECT, &uuid(2), "g2")
        .with_huawei_port(HW_PROJECT, &uuid(11), &[&uuid(1)])
        .with_huawei_port(HW_PROJECT, &uuid(12), &[&uuid(1)])
        .with_baidu_group("g-a", "ga", "vpc-1")
        .with_baidu_instance("i-1", &["g-a"])
}

fn ssh() -> Value {
    json!({"rule": {"remark": "ssh", "direction": "ingress", "protocol": "tcp", "portRange": "22"}})
}

#[tokio::test(start_paused = true)]
async fn latency_delays_each_call() {
    let sim = start_with(
        state(),
        SimOptions {
            faults: Faults {
                latency_ms: 1500,
                ..Faults::default()
            },
            ..SimOptions::default()
        },
    )
    .await;
    let bd = Bd::new(&sim);
    // Virtual time: the runtime's clock only moves by the simulator's sleep.
    let t0 = tokio::time::Instant::now();
    let a = bd.call("GET", "/v2/securityGroup", &[], None).await;
    assert_eq!(a.status, 200);
    assert!(
        t0.elapsed() >= std::time::Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    // Admin endpoints are never delayed.
    let t1 = tokio::time::Instant::now();
    let r = http()
        .get(format!("{}/_sim/health", sim.url()))
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status().as_u16(), 200);
    assert!(t1.elapsed() < std::time::Duration::from_millis(1500));
    sim.shutdown().await;
}

#[tokio::test]
async fn error_rate_is_seeded_and_shaped_per_cloud() {
    let sim = start(state()).await;
    let bd = Bd::new(&sim);
    let hw = Hw::new(&sim);
    sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let a = bd.call("GET", "/v2/securityGroup", &[], None).await;
    assert_eq!((a.status, a.code().as_str()), (500, "InternalError"));
    let a = hw.get("/v3/{p}/ports", &[]).await;
    assert_eq!((a.status, a.code().as_str()), (500, "VPC.0500"));

    let run = || async {
        sim.set_faults(Faults {
            error_rate: 0.5,
            seed: 1234,
            ..Faults::default()
        });
        let mut out = Vec::new();
        for _ in 0..24 {
            out.push(bd.call("GET", "/v2/securityGroup", &[], None).await.status);
        }
        out
    };
    let first = run().await;
    let second = run().await;
    assert_eq!(first, second, "same seed, same failures");
    assert!(first.contains(&500) && first.contains(&200), "{first:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_per_account_with_retry_after() {
    let sim = start(state()).await;
    sim.set_faults(Faults {
        rate_limit: Some(RateLimit {
            requests: 2,
            per_seconds: 60,
        }),
        ..Faults::default()
    });
    let bd = Bd::new(&sim);
    for _ in 0..2 {
        assert_eq!(
            bd.call("GET", "/v2/securityGroup", &[], None).await.status,
            200
        );
    }
    let a = bd.call("GET", "/v2/securityGroup", &[], None).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (429, "RequestRateLimitExceeded")
    );
    let retry: u64 = a
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry));
    // another account has its own budget
    let mut other = Bd::new(&sim);
    other.signer.ak = "bdsecondak".into();
    other.signer.sk = "bdsecondsk".into();
    assert_eq!(
        other
            .call("GET", "/v2/securityGroup", &[], None)
            .await
            .status,
        200
    );
    let hw = Hw::new(&sim);
    hw.get("/v3/{p}/ports", &[]).await;
    hw.get("/v3/{p}/ports", &[]).await;
    let a = hw.get("/v3/{p}/ports", &[]).await;
    assert_eq!((a.status, a.code().as_str()), (429, "APIG.0308"));
    assert!(a.header("retry-after").is_some());
    assert!(sim.request_log().iter().any(|e| e.outcome == "throttled"));
    sim.shutdown().await;
}

#[tokio::test]
async fn fail_next_n_calls_of_one_operation() {
    let sim = start(state()).await;
    sim.set_faults(Faults {
        fail_next: vec![FailNext {
            operation: "baidu.authorizeRule".into(),
            count: 2,
            status: 503,
            code: "ServiceUnavailable".into(),
            message: "try later".into(),
        }],
        ..Faults::default()
    });
    let bd = Bd::new(&sim);
    // other operations are unaffected
    assert_eq!(
        bd.call("GET", "/v2/securityGroup", &[], None).await.status,
        200
    );
    for left in [1, 0] {
        let a = bd
            .call(
                "PUT",
                "/v2/securityGroup/g-a",
                &[("authorizeRule", None)],
                Some(ssh()),
            )
            .await;
        assert_eq!((a.status, a.code().as_str()), (503, "ServiceUnavailable"));
        assert_eq!(a.body["message"], json!("try later"));
        assert_eq!(
            sim.faults().fail_next.iter().map(|f| f.count).sum::<u32>(),
            left
        );
    }
    assert_eq!(
        sim.baidu_group_rules("g-a").map(|r| r.len()),
        Some(0),
        "failed calls change nothing"
    );
    let a = bd
        .call(
            "PUT",
            "/v2/securityGroup/g-a",
            &[("authorizeRule", None)],
            Some(ssh()),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(sim.call_count("baidu.authorizeRule"), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn partial_batch_failures_name_ports() {
    let sim = start(state()).await;
    sim.set_faults(Faults {
        port_failures: vec![PortFailure {
            port_id: uuid(12),
            error_code: "VPC.0608".into(),
            error_msg: String::new(),
        }],
        ..Faults::default()
    });
    let hw = Hw::new(&sim);
    let a = hw
        .call(
            "POST",
            &format!("/v2.0/{{p}}/security-groups/{}/instance/action", uuid(2)),
            &[],
            Some(json!({"action": "add", "ports": [{"id": uuid(11)}, {"id": uuid(12)}]})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["fail"].as_array().map(Vec::len), Some(1));
    assert_eq!(a.body["fail"][0]["id"], json!(uuid(12)));
    assert_eq!(a.body["fail"][0]["error_code"], json!("VPC.0608"));
    assert_eq!(
        sim.huawei_port_groups(&uuid(11)),
        Some(vec![uuid(1), uuid(2)])
    );
    assert_eq!(sim.huawei_port_groups(&uuid(12)), Some(vec![uuid(1)]));
    sim.shutdown().await;
}

#[tokio::test]
async fn dropped_connection_before_applies_nothing() {
    let sim = start(state()).await;
    sim.set_faults(Faults {
        drop_connections: vec![DropConnection {
            operation: "huawei.insertSecurityGroups".into(),
            when: DropWhen::Before,
            count: 1,
        }],
        ..Faults::default()
    });
    let hw = Hw::new(&sim);
    let path = format!("/v3/{{p}}/ports/{}/insert-security-groups", uuid(11));
    let body = json!({"port": {"security_groups": [uuid(2)]}});
    let outcome = hw.try_call("PUT", &path, &[], Some(body.clone())).await;
    assert!(outcome.is_err(), "the connection closes without a response");
    assert_eq!(sim.huawei_port_groups(&uuid(11)), Some(vec![uuid(1)]));
    assert_eq!(
        sim.request_log()
            .last()
            .map(|e| (e.status, e.outcome.clone())),
        Some((0, "dropped-before".into()))
    );
    // the next call goes through
    let a = hw.call("PUT", &path, &[], Some(body)).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        sim.huawei_port_groups(&uuid(11)),
        Some(vec![uuid(1), uuid(2)])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn lost_response_after_change_then_client_token_retry() {
    let sim = start(state()).await;
    sim.set_faults(Faults {
        drop_connections: vec![DropConnection {
            operation: "baidu.authorizeRule".into(),
            when: DropWhen::After,
            count: 1,
        }],
        ..Faults::default()
    });
    let bd = Bd::new(&sim);
    let q = [
        ("authorizeRule", None),
        ("clientToken", Some("retry-me")),
        ("sgVersion", Some("0")),
    ];
    let first = bd
        .try_call("PUT", "/v2/securityGroup/g-a", &q, Some(ssh()))
        .await;
    assert!(first.is_err(), "the response is lost");
    // ...but the change happened
    assert_eq!(
        sim.baidu_group("g-a")
            .map(|g| (g.sg_version, g.rules.len())),
        Some((1, 1))
    );
    // the retry with the same token returns the first result and acts once
    let retry = bd
        .call("PUT", "/v2/securityGroup/g-a", &q, Some(ssh()))
        .await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(
        sim.baidu_group("g-a")
            .map(|g| (g.sg_version, g.rules.len())),
        Some((1, 1))
    );
    let outcomes: Vec<String> = sim
        .request_log()
        .iter()
        .map(|e| e.outcome.clone())
        .collect();
    assert_eq!(outcomes, vec!["dropped-after", "replayed"]);
    // without the token the retry would have been a duplicate (409)
    let plain = bd
        .call(
            "PUT",
            "/v2/securityGroup/g-a",
            &[("authorizeRule", None)],
            Some(ssh()),
        )
        .await;
    assert_eq!(plain.status, 409);
    sim.shutdown().await;
}

#[tokio::test]
async fn admin_endpoints() {
    let sim = start(state()).await;
    let web = http();
    let base = sim.url();

    let faults = json!({"latencyMs": 0, "failNext": [{"operation": "*", "count": 1, "status": 500, "code": "InternalError"}]});
    let r = web
        .put(format!("{base}/_sim/faults"))
        .body(faults.to_string())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status().as_u16(), 204);
    let got: Value = web
        .get(format!("{base}/_sim/faults"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["failNext"][0]["operation"], json!("*"));
    let r = web
        .put(format!("{base}/_sim/faults"))
        .body("{\"latencyMs\": \"slow\"}")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status().as_u16(), 400);

    let bd = Bd::new(&sim);
    assert_eq!(
        bd.call("GET", "/v2/securityGroup", &[], None).await.status,
        500
    );
    assert_eq!(
        bd.call("GET", "/v2/securityGroup", &[], None).await.status,
        200
    );
    let hw = Hw::new(&sim);
    hw.call(
        "PUT",
        &format!("/v3/{{p}}/ports/{}/remove-security-groups", uuid(11)),
        &[],
        Some(json!({"port": {"security_groups": [uuid(1)]}})),
    )
    .await;

    let log: Value = web
        .get(format!("{base}/_sim/log"))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    let log = log.as_array().expect("array");
    assert_eq!(log.len(), 3);
    assert_eq!(log[0]["operation"], json!("baidu.listSecurityGroups"));
    assert_eq!(log[0]["status"], json!(500));
    assert_eq!(log[0]["outcome"], json!("injected"));
    assert_eq!(log[2]["operation"], json!("huawei.removeSecurityGroups"));
    assert_eq!(log[2]["status"], json!(400));
    let calls: Value = web
        .get(format!("{base}/_sim/calls"))
        .send()
        .await
        .expect("calls")
        .json()
        .await
        .expect("json");
    assert_eq!(
        calls,
        json!({"baidu.listSecurityGroups": 2, "huawei.removeSecurityGroups": 1})
    );
    let refused: Value = web
        .get(format!("{base}/_sim/refused"))
        .send()
        .await
        .expect("refused")
        .json()
        .await
        .expect("json");
    assert_eq!(refused[0]["target"], json!(uuid(11)));
    assert_eq!(refused[0]["code"], json!("VPC.0607"));

    let r = web
        .post(format!("{base}/_sim/reset-log"))
        .send()
        .await
        .expect("reset");
    assert_eq!(r.status().as_u16(), 204);
    assert!(
        sim.request_log().is_empty()
            && sim.refused_log().is_empty()
            && sim.call_counts().is_empty()
    );

    // the state dump never shows secret keys; a replacement is validated
    let text = web
        .get(format!("{base}/_sim/state"))
        .send()
        .await
        .expect("state")
        .text()
        .await
        .expect("text");
    assert!(!text.contains(HW_SK) && !text.contains(BD_SK), "{text}");
    let dumped = SimState::from_str_any(&text).expect("dump parses");
    assert_eq!(dumped.huawei, sim.snapshot().huawei);
    let bad =
        "huawei:\n  ports:\n    - id: p\n      projectId: x\n      securityGroups: [missing]\n";
    let r = web
        .put(format!("{base}/_sim/state"))
        .body(bad)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("securityGroups"))
    );
    let good =
        serde_json::to_string(&state().with_baidu_group("g-new", "n", "vpc-1")).expect("ser");
    let r = web
        .put(format!("{base}/_sim/state"))
        .body(good)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status().as_u16(), 204);
    assert!(sim.baidu_group("g-new").is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn example_state_file_loads_and_serves_both_clouds() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sim/example-state.yaml");
    let mut state = SimState::from_path(&path).expect("example state loads");
    assert_eq!(
        state.faults.as_ref().map(|f| f.seed),
        Some(42),
        "faults come from the file"
    );
    // use the test keys so the test signer can sign
    state.accounts = vec![
        Account::huawei(HW_AK, HW_SK, HW_PROJECT),
        Account::baidu(BD_AK, BD_SK),
    ];
    let sim = start(state).await;
    assert_eq!(sim.faults().seed, 42);
    let hw = Hw::new(&sim);
    let a = hw
        .get("/v3/{p}/ports/99fd0c77-56b4-4bf6-8365-df352e45d5fc", &[])
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["port"]["security_groups"][0],
        json!("69c999ad-d9ef-4d79-94fd-35e6ceb75325")
    );
    let bd = Bd::new(&sim);
    let a = bd
        .call(
            "GET",
            "/v2/securityGroup",
            &[("instanceId", Some("i-web00001"))],
            None,
        )
        .await;
    assert_eq!(a.body["securityGroups"][0]["id"], json!("g-nky7qeom"));
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_state_is_refused_at_start() {
    let bad = SimState::new().with_baidu_instance("i-1", &["g-missing"]);
    let err = secgroup_controller::sim::start(bad, SimOptions::default())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .contains("baidu.instances[0].securityGroupIds"),
        "{err}"
    );
}
