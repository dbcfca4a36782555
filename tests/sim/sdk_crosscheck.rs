//! Optional cross-check against the vendors' official Python SDKs (they sign
//! with their own signers). Ignored by default because it needs a venv with
//! `huaweicloudsdkcore huaweicloudsdkvpc bce-python-sdk`; see
//! `tests/fixtures/sim/sdk_crosscheck.py` for the command.

use std::path::Path;

use secgroup_controller::sim::{self, Account, SimClock, SimOptions, SimSettings, SimState};

#[tokio::test]
#[ignore = "needs SIM_SDK_PYTHON pointing at a venv with the official SDKs"]
async fn official_sdks_sign_and_parse_against_the_simulator() {
    let python = std::env::var("SIM_SDK_PYTHON").expect("set SIM_SDK_PYTHON to the venv's python");
    let project = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
    let group = "1d8b19c7-7c56-48f7-a99b-4b40eb390967";
    let port = "99fd0c77-56b4-4bf6-8365-df352e45d5fc";
    let state = SimState::new()
        .with_account(Account::huawei(
            "SDKHWAK0000000000001",
            "sdk-hw-secret",
            project,
        ))
        .with_account(Account::baidu(
            "sdkbdak000000000000000000000001",
            "sdk-bd-secret",
        ))
        .with_settings(SimSettings::default())
        .with_huawei_group(project, group, "base")
        .with_huawei_port(project, port, &[group])
        .with_baidu_group("g-a", "ga", "vpc-1")
        .with_baidu_instance("i-1", &["g-a"]);
    // The SDKs stamp requests with the real time.
    let opts = SimOptions {
        clock: SimClock::System,
        ..SimOptions::default()
    };
    let handle = sim::start(state, opts).await.expect("simulator starts");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sim/sdk_crosscheck.py");
    let url = handle.url();
    let out = tokio::process::Command::new(python)
        .arg(script)
        .args([
            url.as_str(),
            "SDKHWAK0000000000001",
            "sdk-hw-secret",
            project,
            "sdkbdak000000000000000000000001",
            "sdk-bd-secret",
            group,
            port,
        ])
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "SDK cross-check failed");
    assert!(stdout.contains("all SDK cross-checks passed"));
    // Every SDK-signed request passed signature verification.
    assert!(handle.request_log().iter().all(|e| e.status != 401));
    handle.shutdown().await;
}
