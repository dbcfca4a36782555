//! Signature acceptance and rejection for both clouds, with an independent
//! test-only signer (`secgroup_test_support::wire`). The published vectors are checked
//! stage by stage in `src/sim/sign.rs`'s unit tests.

use secgroup_test_support::wire;

use serde_json::json;
use wire::*;

use secgroup_controller::sim::{Account, SimSettings, SimState};

fn state() -> SimState {
    SimState::new()
        .with_account(Account::huawei(HW_AK, HW_SK, HW_PROJECT))
        .with_account(Account::baidu(BD_AK, BD_SK))
        .with_settings(SimSettings {
            huawei_default_rules: false,
            ..SimSettings::default()
        })
        .with_huawei_group(HW_PROJECT, &uuid(1), "g1")
        .with_baidu_group("g-a", "ga", "vpc-1")
}

fn minutes(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_mins(n)
}

#[tokio::test]
async fn huawei_accepts_valid_and_encodes_query() {
    let sim = start(state()).await;
    let hw = Hw::new(&sim);
    let a = hw
        .get(
            "/v3/{p}/vpc/security-groups",
            &[("name", "a b/c~d"), ("limit", "5")],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // a signed body (POST) verifies too
    let a = hw
        .call(
            "POST",
            "/v3/{p}/vpc/security-groups",
            &[],
            Some(json!({"security_group": {"name": "signed"}})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_rejects_bad_signature_unknown_key_and_skew() {
    let sim = start(state()).await;
    let expect_401 = |a: &Answer, needle: &str| {
        assert_eq!(a.status, 401, "{}", a.body);
        assert_eq!(a.code(), "APIG.0301");
        let msg = a.body["error_msg"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{msg}");
        assert!(a.header("x-request-id").is_some());
    };

    let mut hw = Hw::new(&sim);
    hw.signer.sk = "wrong-secret".into();
    expect_401(
        &hw.get("/v3/{p}/vpc/security-groups", &[]).await,
        "verify aksk signature fail",
    );

    let mut hw = Hw::new(&sim);
    hw.signer.ak = "UNKNOWNAK".into();
    expect_401(
        &hw.get("/v3/{p}/vpc/security-groups", &[]).await,
        "Get secretKey failed",
    );

    // a Baidu key is not a Huawei key
    let mut hw = Hw::new(&sim);
    hw.signer.ak = BD_AK.into();
    hw.signer.sk = BD_SK.into();
    expect_401(
        &hw.get("/v3/{p}/vpc/security-groups", &[]).await,
        "Get secretKey failed",
    );

    for skew in [16, -16] {
        let mut hw = Hw::new(&sim);
        hw.signer.date = now() + minutes(skew);
        expect_401(
            &hw.get("/v3/{p}/vpc/security-groups", &[]).await,
            "15 minutes",
        );
    }
    for skew in [14, -14] {
        let mut hw = Hw::new(&sim);
        hw.signer.date = now() + minutes(skew);
        assert_eq!(hw.get("/v3/{p}/vpc/security-groups", &[]).await.status, 200);
    }

    let mut hw = Hw::new(&sim);
    hw.signer.sign_date = false;
    expect_401(
        &hw.get("/v3/{p}/vpc/security-groups", &[]).await,
        "x-sdk-date",
    );

    let raw = http()
        .get(format!(
            "{}/v3/{}/vpc/security-groups",
            sim.url(),
            HW_PROJECT
        ))
        .send()
        .await
        .expect("reaches");
    assert_eq!(raw.status().as_u16(), 401);
    let raw = http()
        .get(format!(
            "{}/v3/{}/vpc/security-groups",
            sim.url(),
            HW_PROJECT
        ))
        .header("x-sdk-date", "20260301T120000Z")
        .header(
            "authorization",
            format!(
                "SDK-HMAC-SHA256 Access={HW_AK}, SignedHeaders=host;x-sdk-date, Signature={}",
                "0".repeat(64)
            ),
        )
        .send()
        .await
        .expect("reaches");
    assert_eq!(raw.status().as_u16(), 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_accepts_listed_and_default_signed_headers() {
    let sim = start(state()).await;
    let mut bd = Bd::new(&sim);
    let a = bd
        .call(
            "GET",
            "/v2/securityGroup",
            &[("marker", Some("g-a")), ("maxKeys", Some("10"))],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    bd.signer.signed_headers = Vec::new(); // default set, empty field
    let a = bd
        .call(
            "PUT",
            "/v2/securityGroup/g-a",
            &[("authorizeRule", None), ("clientToken", Some("t:1"))],
            Some(json!({"rule": {"direction": "ingress", "protocol": "tcp", "portRange": "22"}})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_rejects_bad_signature_unknown_key_and_expired() {
    let sim = start(state()).await;
    let check = |a: &Answer, status: u16, code: &str| {
        assert_eq!((a.status, a.code().as_str()), (status, code), "{}", a.body);
        assert!(a.header("x-bce-request-id").is_some());
        assert_eq!(
            a.body["requestId"],
            serde_json::json!(a.header("x-bce-request-id").expect("id"))
        );
    };

    let mut bd = Bd::new(&sim);
    bd.signer.sk = "wrong".into();
    check(
        &bd.call("GET", "/v2/securityGroup", &[], None).await,
        400,
        "SignatureDoesNotMatch",
    );

    let mut bd = Bd::new(&sim);
    bd.signer.ak = "nobody".into();
    check(
        &bd.call("GET", "/v2/securityGroup", &[], None).await,
        403,
        "InvalidAccessKeyId",
    );

    let mut bd = Bd::new(&sim);
    bd.signer.ak = HW_AK.into();
    bd.signer.sk = HW_SK.into();
    check(
        &bd.call("GET", "/v2/securityGroup", &[], None).await,
        403,
        "InvalidAccessKeyId",
    );

    // signed 31 minutes ago with the default 1800 s expiration: expired;
    // 29 minutes ago: fine; an hour ago with 3600 s plus a bit: expired
    let mut bd = Bd::new(&sim);
    bd.signer.date = now() - minutes(31);
    check(
        &bd.call("GET", "/v2/securityGroup", &[], None).await,
        400,
        "RequestExpired",
    );
    bd.signer.date = now() - minutes(29);
    assert_eq!(
        bd.call("GET", "/v2/securityGroup", &[], None).await.status,
        200
    );
    bd.signer.date = now() - minutes(61);
    bd.signer.expiration = 3600;
    check(
        &bd.call("GET", "/v2/securityGroup", &[], None).await,
        400,
        "RequestExpired",
    );
    bd.signer.date = now() + minutes(20);
    check(
        &bd.call("GET", "/v2/securityGroup", &[], None).await,
        400,
        "RequestExpired",
    );

    let raw = http()
        .get(format!("{}/v2/securityGroup", sim.url()))
        .send()
        .await
        .expect("reaches");
    assert_eq!(raw.status().as_u16(), 403);
    let raw = http()
        .get(format!("{}/v2/securityGroup", sim.url()))
        .header("authorization", "bce-auth-v1/broken")
        .send()
        .await
        .expect("reaches");
    assert_eq!(raw.status().as_u16(), 400);
    let body: serde_json::Value = raw.json().await.expect("json");
    assert_eq!(body["code"], "InvalidHTTPAuthHeader");
    sim.shutdown().await;
}

#[tokio::test]
async fn clock_is_injectable_at_runtime() {
    let sim = start(state()).await;
    let bd = Bd::new(&sim); // signs at now()
    assert_eq!(
        bd.call("GET", "/v2/securityGroup", &[], None).await.status,
        200
    );
    sim.set_clock(secgroup_controller::sim::SimClock::Fixed(
        now() + minutes(45),
    ));
    let a = bd.call("GET", "/v2/securityGroup", &[], None).await;
    assert_eq!(a.code(), "RequestExpired");
    sim.shutdown().await;
}
