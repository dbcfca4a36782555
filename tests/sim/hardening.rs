//! The simulator under hostile input: a Huawei body swapped under a captured
//! signature, Baidu signatures in the query string, absurd timestamps and
//! expirations, half-open connections, the admin API's token, and what
//! seeded objects look like.

use std::time::Duration;

use secgroup_test_support::wire;

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wire::*;

use secgroup_controller::sim::{self, Account, SimOptions, SimSettings, SimState};

const P: &str = HW_PROJECT;

fn state() -> SimState {
    SimState::new()
        .with_account(Account::huawei(HW_AK, HW_SK, P))
        .with_account(Account::baidu(BD_AK, BD_SK))
        .with_settings(SimSettings {
            huawei_default_rules: false,
            ..SimSettings::default()
        })
        .with_huawei_group(P, &uuid(1), "base")
        .with_baidu_group("g-a", "ga", "vpc-1")
}

fn create_body(name: &str) -> Vec<u8> {
    json!({"security_group": {"name": name, "description": "d"}})
        .to_string()
        .into_bytes()
}

fn group_names(sim: &sim::SimHandle) -> Vec<String> {
    sim.snapshot()
        .huawei
        .security_groups
        .iter()
        .map(|g| g.name.clone())
        .collect()
}

#[tokio::test]
async fn huawei_create_replayed_with_another_body_is_refused() {
    let sim = start(state()).await;
    let hw = Hw::new(&sim);
    let path = "/v3/{p}/vpc/security-groups";
    let original = create_body("web");
    let mut captured = hw.sign("POST", path, &[], original.clone(), &[], None);
    // The body's hash also travels, unsigned, in X-Sdk-Content-Sha256.
    captured.set_header(
        "x-sdk-content-sha256",
        &hex::encode(Sha256::digest(&original)),
    );
    let a = hw.send(&captured).await;
    assert_eq!(a.status, 201, "{}", a.body);

    let mut replay = captured.clone();
    replay.body = create_body("evil");
    let a = hw.send(&replay).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (401, "APIG.0301"),
        "{}",
        a.body
    );
    assert!(!group_names(&sim).contains(&"evil".to_string()));

    // A JSON body cannot be declared unsigned either, even with the claim
    // signed: the official signer only does that for non-JSON bodies.
    let claimed = hw.sign(
        "POST",
        path,
        &[],
        create_body("claimed"),
        &[("x-sdk-content-sha256", "UNSIGNED-PAYLOAD")],
        Some("UNSIGNED-PAYLOAD"),
    );
    let a = hw.send(&claimed).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (401, "APIG.0301"),
        "{}",
        a.body
    );
    assert!(!group_names(&sim).contains(&"claimed".to_string()));
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_unsigned_payload_is_accepted_only_as_the_sdk_sends_it() {
    let sim = start(state()).await;
    let hw = Hw::new(&sim);
    let path = "/v3/{p}/vpc/security-groups";
    // The SDK's case: a body that is not JSON, with Content-Type and the
    // UNSIGNED-PAYLOAD claim both signed.
    let sdk_like = hw.sign(
        "POST",
        path,
        &[],
        create_body("octets"),
        &[
            ("content-type", "application/octet-stream"),
            ("x-sdk-content-sha256", "UNSIGNED-PAYLOAD"),
        ],
        Some("UNSIGNED-PAYLOAD"),
    );
    let a = hw.send(&sdk_like).await;
    assert_eq!(a.status, 201, "{}", a.body);

    // The same claim sent but not signed does not count.
    let mut unsigned_claim = hw.sign(
        "POST",
        path,
        &[],
        create_body("sneaky"),
        &[("content-type", "application/octet-stream")],
        Some("UNSIGNED-PAYLOAD"),
    );
    unsigned_claim.set_header("x-sdk-content-sha256", "UNSIGNED-PAYLOAD");
    let a = hw.send(&unsigned_claim).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (401, "APIG.0301"),
        "{}",
        a.body
    );
    assert!(!group_names(&sim).contains(&"sneaky".to_string()));
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_query_string_signature_is_redacted_in_the_log() {
    let sim = start(state()).await;
    let bd = Bd::new(&sim);
    let signed = bd.sign("GET", "/v2/securityGroup", &[("maxKeys", Some("5"))], None);
    let signature = signed
        .header("authorization")
        .and_then(|a| a.rsplit('/').next())
        .expect("a signature")
        .to_string();
    let a = bd.send(&Bd::with_query_authorization(&signed)).await;
    assert_eq!(a.status, 200, "{}", a.body);

    let logged = sim.request_log();
    let entry = logged.last().expect("one entry");
    assert!(
        entry.path.contains("authorization=<redacted>"),
        "{}",
        entry.path
    );
    assert!(entry.path.contains("maxKeys=5"), "{}", entry.path);
    let served = admin_get(&sim, "/_sim/log").await;
    let text = served.to_string();
    assert!(!text.contains(&signature), "signature leaked: {text}");
    assert!(text.contains("<redacted>"));
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_expiration_is_bounded_and_never_overflows() {
    let sim = start(state()).await;
    let list = |bd: Bd| async move { bd.call("GET", "/v2/securityGroup", &[], None).await };

    // Signed at the epoch, valid for 4e9 s: refused.
    let mut bd = Bd::new(&sim);
    bd.signer.date = "1970-01-01T00:00:00Z".parse().expect("time");
    bd.signer.expiration = 4_000_000_000;
    let a = list(bd).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (400, "InvalidHTTPAuthHeader"),
        "{}",
        a.body
    );

    // i64::MAX and beyond u64: refused, and the server still answers.
    for exp in [i64::MAX as u64, u64::MAX] {
        let mut bd = Bd::new(&sim);
        bd.signer.expiration = exp;
        let a = list(bd).await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (400, "InvalidHTTPAuthHeader"),
            "{exp}"
        );
    }
    let raw = http()
        .get(format!("{}/v2/securityGroup", sim.url()))
        .header(
            "authorization",
            format!("bce-auth-v1/{BD_AK}/2026-03-01T12:00:00Z/18446744073709551616/host/00"),
        )
        .send()
        .await
        .expect("reaches");
    assert_eq!(raw.status().as_u16(), 400);

    // The bound itself (one day) is accepted, a second more is not.
    let mut bd = Bd::new(&sim);
    bd.signer.expiration = 86_400;
    assert_eq!(list(bd).await.status, 200);
    let mut bd = Bd::new(&sim);
    bd.signer.expiration = 86_401;
    assert_eq!(list(bd).await.code(), "InvalidHTTPAuthHeader");
    // A day-long signature made 25 hours ago has expired.
    let mut bd = Bd::new(&sim);
    bd.signer.expiration = 86_400;
    bd.signer.date = now() - jiff::SignedDuration::from_hours(25);
    assert_eq!(list(bd).await.code(), "RequestExpired");
    sim.shutdown().await;
}

async fn start_with_read_timeout(ms: u64) -> sim::SimHandle {
    start_with(
        state(),
        SimOptions {
            read_timeout: Some(Duration::from_millis(ms)),
            ..SimOptions::default()
        },
    )
    .await
}

/// Read until the server closes the connection; what it sent, or `None`
/// when it kept the connection open for 10 s.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn half_open_connections_are_closed() {
    let sim = start_with_read_timeout(300).await;
    // Nothing sent at all.
    let mut silent = tokio::net::TcpStream::connect(sim.addr())
        .await
        .expect("connects");
    assert!(read_until_closed(&mut silent).await.is_some(), "left open");

    // Half a header.
    let mut partial = tokio::net::TcpStream::connect(sim.addr())
        .await
        .expect("connects");
    partial
        .write_all(b"GET /_sim/health HTTP/1.1\r\nHost: sim\r\nX-Slow: ")
        .await
        .expect("writes");
    assert!(read_until_closed(&mut partial).await.is_some(), "left open");

    // Headers, then a body that never arrives in full: 408.
    let mut slow_body = tokio::net::TcpStream::connect(sim.addr())
        .await
        .expect("connects");
    slow_body
        .write_all(
            b"PUT /v2/securitygroup/bind HTTP/1.1\r\nHost: sim\r\nContent-Length: 100\r\n\r\n{\"instanceIds\"",
        )
        .await
        .expect("writes");
    let answer = read_until_closed(&mut slow_body).await.expect("closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A whole request is still served.
    let a = http()
        .get(format!("{}/_sim/health", sim.url()))
        .send()
        .await
        .expect("reaches");
    assert_eq!(a.status().as_u16(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn admin_api_requires_the_token_once_set() {
    let sim = start_with(
        state(),
        SimOptions {
            admin_token: Some("let-me-in".into()),
            ..SimOptions::default()
        },
    )
    .await;
    assert_eq!(sim.admin_token(), Some("let-me-in"));
    let url = format!("{}/_sim/state", sim.url());
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(http().get(&url).send().await.expect("reaches")), 401);
    let wrong = http().get(&url).bearer_auth("let-me-out").send().await;
    assert_eq!(status(wrong.expect("reaches")), 401);
    let bearer = http().get(&url).bearer_auth("let-me-in").send().await;
    assert_eq!(status(bearer.expect("reaches")), 200);
    let header = http()
        .get(format!("{}/_sim/endpoint-calls", sim.url()))
        .header("x-sim-admin-token", "let-me-in")
        .send()
        .await;
    assert_eq!(status(header.expect("reaches")), 200);
    let put = http()
        .put(format!("{}/_sim/faults", sim.url()))
        .body("{}")
        .send()
        .await;
    assert_eq!(status(put.expect("reaches")), 401);
    // Health stays open (readiness probes), and cloud calls need only
    // their signature.
    let health = http()
        .get(format!("{}/_sim/health", sim.url()))
        .send()
        .await;
    assert_eq!(status(health.expect("reaches")), 200);
    assert_eq!(Hw::new(&sim).get("/v3/{p}/ports", &[]).await.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn beyond_loopback_the_admin_api_gets_a_token_of_its_own() {
    let any: std::net::SocketAddr = "0.0.0.0:0".parse().expect("address");
    let refused = sim::start(
        state(),
        SimOptions {
            listen: Some(any),
            ..SimOptions::default()
        },
    )
    .await;
    assert!(matches!(refused, Err(sim::SimError::NotLoopback { .. })));

    let sim = sim::start(
        state(),
        SimOptions {
            listen: Some(any),
            allow_non_loopback: true,
            ..SimOptions::default()
        },
    )
    .await
    .expect("starts when allowed");
    let token = sim.admin_token().expect("a token is made").to_string();
    assert_eq!(token.len(), 32);
    // Reached over loopback here; the listener is the one that matters.
    let base = format!("http://127.0.0.1:{}", sim.addr().port());
    let log = format!("{base}/_sim/log");
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(http().get(&log).send().await.expect("reaches")), 401);
    let with = http().get(&log).bearer_auth(&token).send().await;
    assert_eq!(status(with.expect("reaches")), 200);
    sim.shutdown().await;

    // On loopback without a token the admin API stays open.
    let open = start(state()).await;
    assert_eq!(open.admin_token(), None);
    let r = http()
        .get(format!("{}/_sim/log", open.url()))
        .send()
        .await
        .expect("reaches");
    assert_eq!(status(r), 200);
    open.shutdown().await;
}

#[tokio::test]
async fn seeded_objects_get_documented_times_and_unbound_ports_say_so() {
    let mut seeded = state()
        .with_huawei_rule(&uuid(1), hw_rule(&uuid(9)))
        .with_huawei_port(P, &uuid(2), &[&uuid(1)])
        .with_huawei_port(P, &uuid(3), &[&uuid(1)])
        .with_baidu_instance("i-1", &["g-a"]);
    seeded.huawei.ports[1].device_id = uuid(50);
    seeded.huawei.security_groups[0].updated_at = "2024-01-02T03:04:05.000+00:00".into();
    let sim = start(seeded).await;
    let hw = Hw::new(&sim);
    let at = "2026-03-01T12:00:00.000+00:00";

    let unbound = hw.get(&format!("/v3/{{p}}/ports/{}", uuid(2)), &[]).await;
    let port = &unbound.body["port"];
    assert_eq!(port["created_at"], json!(at));
    assert_eq!(port["updated_at"], json!(at));
    assert_eq!(port["binding:vif_type"], json!("unbound"));
    assert_eq!(port["status"], json!("DOWN"));
    let bound = hw.get(&format!("/v3/{{p}}/ports/{}", uuid(3)), &[]).await;
    assert_eq!(bound.body["port"]["binding:vif_type"], json!("ovs"));
    assert_eq!(bound.body["port"]["status"], json!("ACTIVE"));

    let g = hw
        .get(&format!("/v3/{{p}}/vpc/security-groups/{}", uuid(1)), &[])
        .await;
    let group = &g.body["security_group"];
    assert_eq!(group["created_at"], json!(at));
    // A time the state gave is kept.
    assert_eq!(group["updated_at"], json!("2024-01-02T03:04:05.000+00:00"));
    assert_eq!(group["security_group_rules"][0]["created_at"], json!(at));

    let bd = Bd::new(&sim);
    let g = bd.call("GET", "/v2/securityGroup/g-a", &[], None).await;
    assert_eq!(g.body["createdTime"], json!("2026-03-01T12:00:00Z"));
    let i = bd.call("GET", "/v2/instance/i-1", &[], None).await;
    assert_eq!(
        i.body["instance"]["createTime"],
        json!("2026-03-01T12:00:00Z")
    );

    // A state put through the admin API gets the same treatment.
    let fresh = state().with_huawei_port(P, &uuid(4), &[&uuid(1)]);
    let put = http()
        .put(format!("{}/_sim/state", sim.url()))
        .body(serde_json::to_string(&fresh).expect("serializes"))
        .send()
        .await
        .expect("reaches");
    assert_eq!(put.status().as_u16(), 204);
    let p = hw.get(&format!("/v3/{{p}}/ports/{}", uuid(4)), &[]).await;
    assert_eq!(p.body["port"]["created_at"], json!(at));
    sim.shutdown().await;
}
