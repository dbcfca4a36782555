//! Shared set-up for the client integration tests: accounts, ids, the
//! shared HTTP client, and clients pointed at an in-process simulator with
//! short retry delays.

use std::time::Duration;

use secgroup_controller::cloud::Credentials;
use secgroup_controller::cloud::baidu::BaiduClient;
use secgroup_controller::cloud::http::{HttpOptions, build_http_client};
use secgroup_controller::cloud::huawei::HuaweiClient;
use secgroup_controller::cloud::retry::RetryPolicy;
use secgroup_controller::sim::{self, Account, SimHandle, SimOptions, SimState};

pub const HW_AK: &str = "HWTESTACCESSKEY0001";
pub const HW_SK: &str = "hw-secret-key-that-must-never-be-logged";
pub const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub const BD_AK: &str = "bdtestaccesskey00000000000000001";
pub const BD_SK: &str = "bd-secret-key-that-must-never-be-logged";

/// A Huawei-style id (the simulator wants UUIDs): `uid(7)` is
/// `00000000-0000-4000-8000-000000000007`.
pub fn uid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

pub fn http() -> reqwest::Client {
    build_http_client(&HttpOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
    })
    .expect("the HTTP client builds")
}

/// Retries quick enough for tests; the logic is the production one.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
        ..RetryPolicy::default()
    }
}

pub fn huawei_account() -> Account {
    Account::huawei(HW_AK, HW_SK, PROJECT)
}

pub fn baidu_account() -> Account {
    Account::baidu(BD_AK, BD_SK)
}

pub async fn start(state: SimState) -> SimHandle {
    sim::start(state, SimOptions::default())
        .await
        .expect("the simulator starts on an ephemeral port")
}

pub fn huawei(sim: &SimHandle) -> HuaweiClient {
    HuaweiClient::new(&sim.url(), PROJECT, Credentials::new(HW_AK, HW_SK), http())
        .expect("valid settings")
        .with_retry_policy(fast_retry())
}

pub fn baidu(sim: &SimHandle) -> BaiduClient {
    BaiduClient::new(&sim.url(), Credentials::new(BD_AK, BD_SK), http())
        .expect("valid settings")
        .with_retry_policy(fast_retry())
}

/// The simulator's request log as `operation status outcome` lines.
pub fn log_lines(sim: &SimHandle) -> Vec<String> {
    sim.request_log()
        .iter()
        .map(|e| format!("{} {} {}", e.operation, e.status, e.outcome))
        .collect()
}
