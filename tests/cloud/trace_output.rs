//! Every call is traced with provider, operation, status, latency and
//! request id, and no trace ever carries a secret or a signature.

use secgroup_test_support::clients;

use std::io::Write;
use std::sync::{Arc, Mutex};

use clients::*;
use secgroup_controller::cloud::baidu::BaiduClient;
use secgroup_controller::cloud::huawei::HuaweiClient;
use secgroup_controller::cloud::{CloudProvider, Credentials};
use secgroup_controller::model::ProviderKind;
use secgroup_controller::plan::normalize::{RawRule, normalize_rule};
use secgroup_controller::sim::SimState;
use tracing_subscriber::EnvFilter;

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn calls_are_traced_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("secgroup_controller::cloud=trace"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // Thread-local: the test runtime is single-threaded, so every client
    // future is polled under it.
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = start(
        SimState::new()
            .with_account(huawei_account())
            .with_account(baidu_account())
            .with_huawei_group(PROJECT, &uid(1), "one")
            .with_huawei_group(PROJECT, &uid(2), "two")
            .with_huawei_port(PROJECT, &uid(101), &[&uid(1)])
            .with_baidu_group("g-one", "one", "vpc-1"),
    )
    .await;
    // Other tests of this binary, on other threads and with no subscriber,
    // may have registered the client's callsites while this one was being
    // set up, caching "never" for them; ask every callsite again now.
    tracing::callsite::rebuild_interest_cache();
    let hw = huawei(&sim);
    hw.get_port(&uid(101)).await.unwrap();
    hw.add_port_groups(&uid(101), &[uid(2)], None)
        .await
        .unwrap();
    let bd = baidu(&sim);
    let rule = normalize_rule(
        &RawRule {
            direction: "ingress",
            protocol: Some("tcp"),
            ports: Some("22"),
            ..Default::default()
        },
        ProviderKind::Baidu,
    )
    .unwrap();
    bd.create_rules("g-one", &[rule], Some(0)).await.unwrap();
    // Failures too: a wrong secret on each cloud.
    let wrong_hw = HuaweiClient::new(
        &sim.url(),
        PROJECT,
        Credentials::new(HW_AK, "wrong-hw-secret"),
        http(),
    )
    .unwrap();
    assert!(wrong_hw.get_port(&uid(101)).await.is_err());
    let wrong_bd = BaiduClient::new(
        &sim.url(),
        Credentials::new(BD_AK, "wrong-bd-secret"),
        http(),
    )
    .unwrap();
    assert!(wrong_bd.get_group("g-one").await.is_err());
    sim.shutdown().await;

    let text = captured.text();
    // What each call says.
    for needle in [
        "provider=\"huawei\"",
        "provider=\"baidu\"",
        "operation=\"showPort\"",
        "operation=\"insertSecurityGroups\"",
        "operation=\"authorizeRule\"",
        "operation=\"getSecurityGroupDetail\"",
        "status=200",
        "status=401",
        "latency_ms=",
        "request_id=",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    // Request ids are filled in.
    assert!(!text.contains("request_id=\"\" "), "{text}");
    // And nothing secret.
    for secret in [
        HW_SK,
        BD_SK,
        "wrong-hw-secret",
        "wrong-bd-secret",
        "Signature=",
        "bce-auth-v1",
        "SDK-HMAC-SHA256",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into traces");
    }
}
