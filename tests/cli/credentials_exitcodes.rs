//! Credentials (Secret manifests, the environment, never printed) and the
//! exit codes of `plan --detailed-exitcode` and `apply`.

use secgroup_test_support::cli_harness;

use std::collections::BTreeMap;
use std::path::Path;

use cli_harness::{example, example_sim, examples, run, run_sim};
use secgroup_controller::cli::Exit;
use secgroup_controller::sim::{FailNext, SimHandle};

const HW_SK: &str = "sim-huawei-secret-key-not-a-real-key-001";
const HW_AK: &str = "AKSIMHUAWEIEXAMPLE01";

/// examples/huawei with the account's endpoint pointed at `sim`, for
/// `--cloud real` runs that use the manifests' own credentials. The Secret
/// is kept, dropped, or given a wrong key.
fn real_workspace(sim: &SimHandle, secret: SecretCase) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(examples().join("huawei")).unwrap() {
        let p = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&p).unwrap();
        if p.file_name().unwrap() == "account.yaml" {
            text = text.replace(
                "  maxRequestsPerSecond: 20\n",
                &format!("  maxRequestsPerSecond: 20\n  endpoint: {}\n", sim.url()),
            );
            // Drop the Secret document (the first one) or break its key.
            match secret {
                SecretCase::Keep => {}
                SecretCase::Drop => {
                    let i = text.find("---\n").unwrap();
                    text = text[i + 4..].to_string();
                }
                SecretCase::WrongKey => {
                    text = text.replace(HW_SK, "sim-huawei-secret-key-WRONG-000000000000");
                }
            }
        }
        std::fs::write(dir.path().join(p.file_name().unwrap()), text).unwrap();
    }
    dir
}

#[derive(Clone, Copy)]
enum SecretCase {
    Keep,
    Drop,
    WrongKey,
}

fn d(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test]
async fn detailed_exitcode_is_2_with_changes_0_without_1_on_error() {
    let sim = example_sim().await;
    let huawei = example("huawei");
    let r = run_sim(
        &[
            "plan",
            "-f",
            &huawei,
            "--cloud",
            "sim",
            "--detailed-exitcode",
        ],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Changes, "{}", r.all());
    // Without the flag a successful plan is 0 even with changes.
    let r = run_sim(&["plan", "-f", &huawei, "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());

    let r = run_sim(&["apply", "-f", &huawei, "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    let r = run_sim(
        &[
            "plan",
            "-f",
            &huawei,
            "--cloud",
            "sim",
            "--detailed-exitcode",
        ],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert!(r.out.contains("No changes"), "{}", r.out);

    let r = run_sim(
        &[
            "plan",
            "-f",
            "/nonexistent/manifests",
            "--cloud",
            "sim",
            "--detailed-exitcode",
        ],
        &sim,
    )
    .await;
    assert_eq!(r.exit, Exit::Error, "{}", r.all());
    assert_eq!(
        std::process::ExitCode::from(Exit::Changes),
        std::process::ExitCode::from(2)
    );
}

#[tokio::test]
async fn apply_exits_1_naming_the_failed_operation() {
    let sim = example_sim().await;
    // The first batch attach of the run is refused (400: not retried).
    let mut faults = sim.faults();
    faults.fail_next.push(FailNext {
        operation: "huawei.batchInstanceAction".into(),
        count: 1,
        status: 400,
        code: "VPC.0606".into(),
        message: "injected failure".into(),
    });
    sim.set_faults(faults);
    let r = run_sim(&["apply", "-f", &example("huawei"), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Error, "{}", r.all());
    assert!(r.out.contains("FAILED ["), "{}", r.out);
    assert!(r.out.contains("VPC.0606"), "{}", r.out);
    assert!(r.out.contains("not run:"), "{}", r.out);
    assert!(
        r.err
            .contains("CloudAccount default/huawei-prod: apply failed"),
        "{}",
        r.err
    );
    assert!(sim.refused_log().is_empty());
    // Applying again continues from where the cloud is and converges.
    let r = run_sim(&["apply", "-f", &example("huawei"), "--cloud", "sim"], &sim).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
}

#[tokio::test]
async fn secret_manifest_keys_are_used_and_never_printed() {
    let sim = example_sim().await;
    let dir = real_workspace(&sim, SecretCase::Keep);
    for args in [
        vec!["plan", "-f", &d(dir.path())],
        vec!["plan", "-f", &d(dir.path()), "-o", "json"],
        vec!["apply", "-f", &d(dir.path()), "-o", "json"],
        vec!["apply", "-f", &d(dir.path())],
    ] {
        let r = run(&args, &BTreeMap::new(), None).await;
        assert_eq!(r.exit, Exit::Success, "{args:?}: {}", r.all());
        assert!(
            r.out.contains("Secret default/huawei-credentials"),
            "{}",
            r.out
        );
        assert!(!r.all().contains(HW_SK), "{args:?} printed the secret key");
    }
    // The simulator saw the manifests' access key.
    assert!(
        sim.request_log()
            .iter()
            .all(|e| e.access_key.as_deref() == Some(HW_AK))
    );
}

#[tokio::test]
async fn environment_keys_when_the_secret_is_not_given() {
    let sim = example_sim().await;
    let dir = real_workspace(&sim, SecretCase::Drop);
    let env = BTreeMap::from([
        ("CLOUD_SDK_AK".to_string(), HW_AK.to_string()),
        ("CLOUD_SDK_SK".to_string(), HW_SK.to_string()),
    ]);
    let r = run(&["plan", "-f", &d(dir.path())], &env, None).await;
    assert_eq!(r.exit, Exit::Success, "{}", r.all());
    assert!(
        r.out
            .contains("credentials from environment CLOUD_SDK_AK/CLOUD_SDK_SK"),
        "{}",
        r.out
    );
    assert!(!r.all().contains(HW_SK));

    // Neither Secret nor environment: an error naming the field, no call.
    sim.reset_logs();
    let r = run(&["plan", "-f", &d(dir.path())], &BTreeMap::new(), None).await;
    assert_eq!(r.exit, Exit::Error, "{}", r.all());
    assert!(r.err.contains("account.yaml (document 1): CloudAccount default/huawei-prod: spec.credentialsSecretRef.name"), "{}", r.err);
    assert!(
        r.err.contains("CLOUD_SDK_AK/CLOUD_SDK_SK are not set"),
        "{}",
        r.err
    );
    assert!(sim.call_counts().values().all(|n| *n == 0));
}

#[tokio::test]
async fn a_wrong_key_is_a_cloud_error_that_does_not_echo_it() {
    let sim = example_sim().await;
    let dir = real_workspace(&sim, SecretCase::WrongKey);
    let r = run(&["apply", "-f", &d(dir.path())], &BTreeMap::new(), None).await;
    assert_eq!(r.exit, Exit::Error, "{}", r.all());
    assert!(r.err.contains("unauthorized"), "{}", r.err);
    assert!(
        r.err
            .contains("Nothing was applied: the cloud was only read."),
        "{}",
        r.err
    );
    assert!(!r.all().contains("WRONG"), "{}", r.all());
    // Reads only: nothing was written with the refused key.
    assert!(cli_harness::write_calls(&sim).values().all(|n| *n == 0));
}
