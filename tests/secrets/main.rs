//! Secrets: with trace-level logging captured (every crate, `log` records
//! included), a sync under faults, a client with a wrong secret, and the
//! CLI's `plan` and `apply` (table and JSON, simulator keys and keys read
//! from a Secret manifest) leave no secret key, in plain or base64 form,
//! and no Authorization value in the logs, in any error text (Display and
//! Debug), in plan output (JSON, Debug, CLI output), in the clients' Debug
//! output, or in the simulator's request log; and the controller (`run`
//! with the real clients, the API emulator and the simulator, one account
//! with good keys and one with a wrong secret key) writes none into any
//! object's status or any Event it publishes.

use secgroup_test_support::emulator;
use secgroup_test_support::scenarios;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use clap::Parser;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use scenarios::{ClientOptions, Cloud};
use secgroup_controller::cli::{self, ApplyArgs, Io, PlanArgs};
use secgroup_controller::cloud::huawei::HuaweiClient;
use secgroup_controller::cloud::{Credentials, ProviderSettings, connect};
use secgroup_controller::crd::{CloudAccount, PortSecurityGroups, SecurityGroup};
use secgroup_controller::model::ProviderKind;
use secgroup_controller::sim::{
    self, DropConnection, DropWhen, FailNext, Faults, SimOptions, SimState,
};
use serde_json::json;

/// Everything the global subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        // Global, so the server tasks and every crate's events (and `log`
        // records, bridged by try_init) are captured too.
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("the only subscriber of this test binary");
        logs
    })
}

const WRONG_SECRET: &str = "wrong-secret-that-must-not-leak-42";

/// Every secret this test uses, plain and base64.
fn secrets() -> Vec<String> {
    let encode = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let sim_state = SimState::from_str_any(cli::SIM_STATE).expect("example state");
    let mut plain: Vec<String> = vec![
        scenarios::HW_SK.into(),
        scenarios::BD_SK.into(),
        WRONG_SECRET.into(),
    ];
    plain.extend(sim_state.accounts.iter().map(|a| a.secret_key.clone()));
    let mut all = plain.clone();
    all.extend(plain.iter().map(|s| encode(s.as_bytes())));
    all
}

/// Texts to search, with where each came from.
#[derive(Default)]
struct Texts(Vec<(String, String)>);

impl Texts {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.0.push((what.into(), text.into()));
    }
}

async fn sync_under_faults(kind: ProviderKind, texts: &mut Texts) {
    let s = scenarios::create_and_join(kind, 25, 3);
    let cloud = Cloud::start(
        kind,
        s.state.clone(),
        Faults::default(),
        ClientOptions {
            rate: None,
            retry: Some(scenarios::fast_retry()),
        },
    )
    .await;
    cloud.sim.set_faults(Faults {
        latency_ms: 1,
        error_rate: 0.3,
        seed: 7,
        drop_connections: vec![DropConnection {
            operation: "*".into(),
            when: DropWhen::After,
            count: 2,
        }],
        fail_next: vec![FailNext {
            operation: "*".into(),
            count: 3,
            status: 429,
            code: "APIG.0308".into(),
            message: "throttled".into(),
        }],
        ..Faults::default()
    });
    for round in 0..15 {
        match scenarios::sync_once(&cloud, &s.desired, &mut |e| {
            if let secgroup_controller::reconcile::ExecEvent::Finished { result: Err(e), .. } = e {
                // Progress lines as the CLI and controller would print them.
                let _ = format!("{e} {e:?}");
            }
        })
        .await
        {
            Ok(out) => {
                // PlanOutcome's report map is keyed by ObjectKey, which JSON
                // maps cannot hold: serialize the plan and reports apart.
                let reports: Vec<_> = out.outcome.reports.iter().collect();
                texts.add(
                    format!("{kind} plan json {round}"),
                    serde_json::to_string(&(&out.outcome.plan, reports)).expect("serializes"),
                );
                texts.add(
                    format!("{kind} plan debug {round}"),
                    format!("{:?}", out.outcome),
                );
                if let Some(exec) = &out.execution {
                    texts.add(format!("{kind} execution {round}"), format!("{exec:?}"));
                    for r in &exec.results {
                        if let Err(e) = &r.result {
                            texts.add(format!("{kind} step error {round}"), format!("{e} | {e:?}"));
                        }
                    }
                }
                if out.outcome.plan.is_empty() {
                    break;
                }
            }
            Err(e) => texts.add(format!("{kind} sync error {round}"), format!("{e} | {e:?}")),
        }
    }
    texts.add(
        format!("{kind} request log"),
        format!("{:?}", cloud.sim.request_log()),
    );
    cloud.sim.shutdown().await;
}

async fn wrong_secret(kind: ProviderKind, texts: &mut Texts) {
    let sim = scenarios::start(scenarios::base_state(kind, 1), Faults::default()).await;
    let ak = match kind {
        ProviderKind::Huawei => scenarios::HW_AK,
        ProviderKind::Baidu => scenarios::BD_AK,
    };
    let client = connect(
        &ProviderSettings {
            kind,
            region: String::new(),
            project_id: Some(scenarios::PROJECT.into()),
            endpoint: Some(sim.url()),
            max_requests_per_second: None,
        },
        Credentials::new(ak, WRONG_SECRET),
        scenarios::http(),
    )
    .expect("settings are fine");
    let e = client
        .get_group(&scenarios::group_id(kind, 1))
        .await
        .expect_err("a wrong secret is refused");
    assert_eq!(e.reason(), "Unauthorized", "{e:?}");
    texts.add(format!("{kind} unauthorized"), format!("{e} | {e:?}"));
    let s = scenarios::join(kind, 3);
    let err =
        secgroup_controller::reconcile::prepare(client.as_ref(), s.desired, &Default::default())
            .await
            .expect_err("cannot read");
    texts.add(
        format!("{kind} unauthorized sync"),
        format!("{err} | {err:?}"),
    );
    sim.shutdown().await;
}

/// `run`'s flags (the test's global subscriber already logs at TRACE).
#[derive(Parser)]
struct RunCli {
    #[command(flatten)]
    run: secgroup_controller::controller::RunArgs,
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    Plan(PlanArgs),
    Apply(ApplyArgs),
}

async fn cli_runs(texts: &mut Texts) {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let state = SimState::from_str_any(cli::SIM_STATE).expect("example state");
    for cloud in ["huawei", "baidu"] {
        let sim = sim::start(state.clone(), SimOptions::default())
            .await
            .expect("starts");
        // A batch call that keeps failing, so `apply` prints an error too.
        sim.set_faults(Faults {
            fail_next: vec![FailNext {
                operation: format!(
                    "{cloud}.{}",
                    if cloud == "huawei" {
                        "batchInstanceAction"
                    } else {
                        "batchBind"
                    }
                ),
                count: 100,
                status: 500,
                code: if cloud == "huawei" {
                    "VPC.0500"
                } else {
                    "InternalError"
                }
                .into(),
                message: "injected".into(),
            }],
            ..Faults::default()
        });
        // Keys from the Secret manifest, calls to the simulator: the
        // account's endpoint points at it and `--cloud real` is used.
        let dir = tempfile::tempdir().expect("temporary directory");
        for entry in std::fs::read_dir(examples.join(cloud)).expect("examples") {
            let p = entry.expect("readable").path();
            let mut text = std::fs::read_to_string(&p).expect("readable");
            if text.contains("kind: CloudAccount") {
                text = text.replace("spec:\n", &format!("spec:\n  endpoint: {}\n", sim.url()));
                // The example's client-side limit would only slow the test.
                text = text.replace("maxRequestsPerSecond: 20", "maxRequestsPerSecond: 10000");
            }
            std::fs::write(dir.path().join(p.file_name().expect("file")), text).expect("write");
        }
        let d = dir.path().display().to_string();
        for args in [
            vec!["plan", "-f", &d, "--cloud", "sim"],
            vec!["plan", "-f", &d, "-o", "json"],
            vec!["apply", "-f", &d],
        ] {
            let parsed = Cli::try_parse_from(
                std::iter::once("secgroup-controller").chain(args.iter().copied()),
            )
            .expect("arguments parse");
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let env = |_: &str| None;
            let exit = {
                let mut io = Io {
                    out: &mut out,
                    err: &mut err,
                    env: &env,
                    sim: Some(&sim),
                };
                match &parsed.cmd {
                    Cmd::Plan(a) => cli::run_plan(a, &mut io).await,
                    Cmd::Apply(a) => cli::run_apply(a, &mut io).await,
                }
            };
            let label = format!("cli {cloud} {:?} ({exit:?})", &args[..1]);
            texts.add(format!("{label} stdout"), String::from_utf8_lossy(&out));
            texts.add(format!("{label} stderr"), String::from_utf8_lossy(&err));
        }
        sim.shutdown().await;
    }
}

/// Create `manifest` (with `apiVersion`, `kind`, `metadata.name`) in NS.
async fn create(client: &kube::Client, resource: ApiResource, manifest: serde_json::Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), CTL_NS, &resource);
    let obj: DynamicObject = serde_json::from_value(manifest).expect("an object");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("created");
}

const CTL_NS: &str = "secrets-test";

/// The controller with the real clients against the emulator and the
/// simulator: account `good` creates a group with a rule and puts a port
/// in it; account `bad` has a wrong secret key and is refused. Every
/// status the controller wrote (the watch log) and every Event it published
/// are texts to search.
async fn controller_run(texts: &mut Texts) {
    use scenarios::{HW_AK, HW_SK, PROJECT, add_port, base_state, group_id, port_id};
    let kind = ProviderKind::Huawei;
    let sim = scenarios::start(
        add_port(base_state(kind, 1), kind, 1, &[1]),
        Faults::default(),
    )
    .await;
    let emu = emulator::Emulator::start().await;
    let client = emu.client();
    let encode = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    for (name, sk) in [("good", HW_SK), ("bad", WRONG_SECRET)] {
        create(
            &client,
            ApiResource::erase::<Secret>(&()),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                   "data": {"accessKey": encode(HW_AK), "secretKey": encode(sk)}}),
        )
        .await;
        create(
            &client,
            ApiResource::erase::<CloudAccount>(&()),
            json!({"apiVersion": "secgroup.io/v1alpha1", "kind": "CloudAccount",
                   "metadata": {"name": name},
                   "spec": {"provider": "huawei", "region": "r1", "projectId": PROJECT,
                            "endpoint": sim.url(), "credentialsSecretRef": {"name": name}}}),
        )
        .await;
        create(
            &client,
            ApiResource::erase::<SecurityGroup>(&()),
            json!({"apiVersion": "secgroup.io/v1alpha1", "kind": "SecurityGroup",
                   "metadata": {"name": format!("web-{name}")},
                   "spec": {"accountRef": {"name": name}, "name": format!("web-{name}"),
                            "rules": [{"direction": "ingress", "protocol": "tcp", "ports": "443",
                                       "remoteIpPrefix": "10.0.0.0/8"}]}}),
        )
        .await;
    }
    create(
        &client,
        ApiResource::erase::<PortSecurityGroups>(&()),
        json!({"apiVersion": "secgroup.io/v1alpha1", "kind": "PortSecurityGroups",
               "metadata": {"name": "port-1"},
               "spec": {"accountRef": {"name": "good"}, "portId": port_id(kind, 1),
                        "securityGroups": [{"id": group_id(kind, 1)}, {"name": "web-good"}]}}),
    )
    .await;

    let args = RunCli::parse_from([
        "run",
        "--disable-leader-election",
        "--metrics-addr",
        "127.0.0.1:0",
        "--namespace",
        CTL_NS,
    ])
    .run;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(secgroup_controller::controller::run_with(
        args,
        client,
        async {
            let _ = stopped.await;
        },
    ));
    // Wait for both outcomes: the good port Ready with both groups, the
    // bad group stalled on its credentials (each with its Event).
    let reason = |resource: &str, name: &str| {
        emu.object(resource, CTL_NS, name).and_then(|o| {
            o["status"]["conditions"].as_array().and_then(|cs| {
                cs.iter()
                    .find(|c| c["type"] == "Ready")
                    .and_then(|c| c["reason"].as_str().map(String::from))
            })
        })
    };
    let start = std::time::Instant::now();
    loop {
        let good = reason("secgroup.io/portsecuritygroups", "port-1");
        let bad = reason("secgroup.io/securitygroups", "web-bad");
        let events = emu.objects("events.k8s.io/events").len();
        if good.as_deref() == Some("Synced")
            && bad.as_deref() == Some("CredentialsInvalid")
            && events >= 2
        {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "controller outcomes not reached: port-1 {good:?}, web-bad {bad:?}, {events} events; {:?}",
            emu.changes()
                .iter()
                .filter(|c| !c.resource.ends_with("/secrets"))
                .map(|c| c.object.to_string())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    task.await
        .expect("joins")
        .expect("the controller stops cleanly");

    // Every version of every object the controller wrote, but the Secrets
    // (which hold the keys by design).
    for change in emu
        .changes()
        .iter()
        .filter(|c| !c.resource.ends_with("/secrets"))
    {
        texts.add(
            format!(
                "controller {} {}",
                change.resource, change.object["metadata"]["name"]
            ),
            change.object.to_string(),
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_logs_errors_or_plan_output() {
    let logs = captured();
    let mut texts = Texts::default();
    for kind in scenarios::kinds() {
        sync_under_faults(kind, &mut texts).await;
        wrong_secret(kind, &mut texts).await;
    }
    cli_runs(&mut texts).await;
    controller_run(&mut texts).await;
    let client = HuaweiClient::new(
        "http://127.0.0.1:9",
        scenarios::PROJECT,
        Credentials::new(scenarios::HW_AK, scenarios::HW_SK),
        scenarios::http(),
    )
    .expect("valid");
    texts.add("client debug", format!("{client:?}"));

    let log_text = String::from_utf8_lossy(&logs.0.lock().expect("not poisoned")).into_owned();
    // The capture works and saw what matters: calls, errors, the CLI.
    for needle in ["cloud call", "TRACE", "huawei", "baidu"] {
        assert!(
            log_text.contains(needle),
            "the logs lack {needle:?}: capture is broken"
        );
    }
    assert!(
        texts
            .0
            .iter()
            .any(|(w, t)| w.contains("error") && !t.is_empty()),
        "no error text was produced"
    );
    assert!(
        texts
            .0
            .iter()
            .any(|(w, t)| w.contains("controller secgroup.io/securitygroups")
                && t.contains("CredentialsInvalid")),
        "no status of the refused account was captured"
    );
    assert!(
        texts
            .0
            .iter()
            .any(|(w, _)| w.contains("controller events.k8s.io/events")),
        "no controller Event was captured"
    );
    assert!(
        texts
            .0
            .iter()
            .any(|(w, t)| w.contains("stdout") && t.contains("Plan")),
        "no CLI plan was printed"
    );
    assert!(
        texts
            .0
            .iter()
            .any(|(w, t)| w.contains("apply") && w.contains("Error") && t.contains("error")),
        "no CLI apply printed an error"
    );
    texts.add("logs", log_text);

    let mut leaks = Vec::new();
    for (what, text) in &texts.0 {
        for secret in secrets() {
            if text.contains(&secret) {
                leaks.push(format!("{what} holds a secret key ({}...)", &secret[..4]));
            }
        }
        // The Authorization value signs the request for minutes: a bearer.
        for marker in ["SDK-HMAC-SHA256 Access=", "bce-auth-v1/"] {
            if text.contains(marker) {
                leaks.push(format!("{what} holds an Authorization value ({marker})"));
            }
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
