//! The controller end to end: the real `secgroup-controller run` binary as
//! a child process, watching the in-process Kubernetes API emulator
//! (`tests/emulator`) through a kubeconfig, and calling the simulator
//! through the real clients (each `CloudAccount.spec.endpoint` points at
//! it, keys come from a Secret).
//!
//! - `converge`: 1,000 `PortSecurityGroups` whose ports join, or move
//!   among, 10 groups; the simulator limited to 10 requests/s with 50 ms
//!   per call; wall time from controller start to every object Ready,
//!   against the floor (calls / rate), and the writes (whether objects
//!   changing the same group share batches).
//! - `footprint`: 10,000 objects (10 `SecurityGroup`s with rules, 9,990
//!   `PortSecurityGroups`); the controller's resident memory
//!   (`/proc/PID/status` VmRSS and VmHWM) once all are Ready and after a
//!   quiet spell, and the latency from a change of one object to the
//!   first cloud call, the first write, and Ready again.
//!
//! Run: `cargo bench --bench controller` (both parts, about 8 minutes), or
//! `cargo bench --bench controller -- converge` / `-- footprint`.

use secgroup_test_support::emulator;
use secgroup_test_support::scenarios as support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emulator::Emulator;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use secgroup_controller::crd::{CloudAccount, PortSecurityGroups, SecurityGroup};
use secgroup_controller::model::ProviderKind;
use secgroup_controller::sim::{Faults, RateLimit, SimHandle};
use serde_json::{Value, json};

const NS: &str = "bench";
const PSG: &str = "secgroup.io/portsecuritygroups";
const SG: &str = "secgroup.io/securitygroups";

fn b64(s: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s)
}

/// The account, its Secret, pointed at `sim`.
async fn create_account(
    client: &kube::Client,
    kind: ProviderKind,
    sim: &SimHandle,
    rate: Option<u32>,
) {
    let (ak, sk) = match kind {
        ProviderKind::Huawei => (support::HW_AK, support::HW_SK),
        ProviderKind::Baidu => (support::BD_AK, support::BD_SK),
    };
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "creds"},
        "data": {"accessKey": b64(ak), "secretKey": b64(sk)}
    }))
    .expect("a Secret");
    Api::<Secret>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the Secret");
    let mut spec = json!({
        "provider": kind.to_string(),
        "region": "r1",
        "endpoint": sim.url(),
        "credentialsSecretRef": {"name": "creds"},
    });
    if kind == ProviderKind::Huawei {
        spec["projectId"] = json!(support::PROJECT);
    }
    if let Some(r) = rate {
        spec["maxRequestsPerSecond"] = json!(r);
    }
    let account: CloudAccount = serde_json::from_value(json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "CloudAccount",
        "metadata": {"name": "acct"},
        "spec": spec,
    }))
    .expect("a CloudAccount");
    Api::<CloudAccount>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &account)
        .await
        .expect("create the CloudAccount");
}

/// One `PortSecurityGroups` per port, holding `groups` (by number).
async fn create_port_objects(
    client: &kube::Client,
    kind: ProviderKind,
    ports: Vec<(usize, Vec<usize>)>,
) {
    let api: Api<PortSecurityGroups> = Api::namespaced(client.clone(), NS);
    futures::stream::iter(ports)
        .map(|(p, groups)| {
            let api = api.clone();
            async move {
                let obj: PortSecurityGroups = serde_json::from_value(json!({
                    "apiVersion": "secgroup.io/v1alpha1",
                    "kind": "PortSecurityGroups",
                    "metadata": {"name": format!("port-{p}")},
                    "spec": {
                        "accountRef": {"name": "acct"},
                        "portId": support::port_id(kind, p),
                        "securityGroups": groups.iter().map(|g| json!({"id": support::group_id(kind, *g)})).collect::<Vec<_>>(),
                    }
                }))
                .expect("a PortSecurityGroups");
                api.create(&PostParams::default(), &obj).await.expect("create");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

fn kubeconfig(emu: &Emulator) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: emu
  cluster:
    server: {}
users:
- name: emu
  user: {{}}
contexts:
- name: emu
  context:
    cluster: emu
    user: emu
    namespace: {NS}
current-context: emu
",
        emu.url()
    );
    std::fs::write(file.path(), text).expect("write the kubeconfig");
    file
}

fn start_controller(config: &tempfile::NamedTempFile) -> Child {
    let binary = env!("CARGO_BIN_EXE_secgroup-controller");
    // BENCH_WRAP runs the controller under a profiler, e.g.
    // `BENCH_WRAP="heaptrack -o /tmp/ctl"` (figures are then not comparable,
    // and the resident memory read is the wrapper's). At the end only the
    // wrapper is killed: stop the controller with
    // `pkill -TERM -f "secgroup-controller run"` to let the profiler write.
    let mut command = match std::env::var("BENCH_WRAP") {
        Ok(wrap) if !wrap.trim().is_empty() => {
            let mut words = wrap.split_whitespace();
            let mut command = Command::new(words.next().unwrap_or_default());
            command.args(words).arg(binary);
            command
        }
        _ => Command::new(binary),
    };
    command
        .args([
            "run",
            "--disable-leader-election",
            "--namespace",
            NS,
            "--metrics-addr",
            "127.0.0.1:0",
            "--log-filter",
            &std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        ])
        .env("KUBECONFIG", config.path())
        .stdout(match std::env::var_os("BENCH_CONTROLLER_OUT") {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("create the log file")),
            None => Stdio::null(),
        })
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the controller binary starts")
}

fn ready(obj: &Value) -> bool {
    let generation = obj["metadata"]["generation"].as_i64();
    obj["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            c["type"] == "Ready"
                && c["status"] == "True"
                && (generation.is_none()
                    || c["observedGeneration"].as_i64() == generation
                    || obj["status"]["observedGeneration"].as_i64() == generation)
        })
    })
}

fn count_ready(emu: &Emulator, resource: &str) -> (usize, usize) {
    let objs = emu.objects(resource);
    (objs.iter().filter(|o| ready(o)).count(), objs.len())
}

/// Poll until every object of `resources` is Ready; `Err` with the
/// counts after `limit`. Progress goes to stderr every 10 s.
async fn wait_all_ready(
    emu: &Emulator,
    sim: &SimHandle,
    resources: &[&str],
    limit: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut next_report = Duration::from_secs(10);
    loop {
        let counts: Vec<(usize, usize)> = resources.iter().map(|r| count_ready(emu, r)).collect();
        if start.elapsed() > next_report {
            next_report += Duration::from_secs(10);
            let (reads, writes) = support::split_calls(&sim.call_counts());
            eprintln!(
                "  {:>4.0} s: Ready {counts:?}; simulator calls: {reads} reads, {writes} writes",
                start.elapsed().as_secs_f64()
            );
        }
        if counts.iter().all(|(r, n)| r == n && *n > 0) {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            return Err(format!("not all Ready after {limit:?}: {counts:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long to wait for all Ready: `BENCH_LIMIT_S`, default 900 s.
fn limit() -> Duration {
    Duration::from_secs(
        std::env::var("BENCH_LIMIT_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(900),
    )
}

fn proc_status(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

// ------------------------------------------------------------ converge

async fn converge(kind: ProviderKind, moving: bool) {
    // `BENCH_PORTS`: another number of ports (default 1,000).
    let n = std::env::var("BENCH_PORTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let s = support::spread(kind, n, 10, moving);
    let sim = support::start(s.state.clone(), Faults::default()).await;
    let emu = Emulator::start().await;
    let client = emu.client();
    create_account(&client, kind, &sim, Some(10)).await;
    let ports: Vec<(usize, Vec<usize>)> = s
        .desired
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let groups = p
                .groups
                .iter()
                .filter_map(|g| g.existing_id())
                .map(|id| {
                    (1..=11)
                        .find(|n| support::group_id(kind, *n) == id)
                        .expect("a known group")
                })
                .collect();
            (i + 1, groups)
        })
        .collect();
    create_port_objects(&client, kind, ports).await;
    // `BENCH_UNLIMITED=1`: no rate limit and no latency (to count cycles
    // quickly).
    if std::env::var_os("BENCH_UNLIMITED").is_none() {
        sim.set_faults(Faults {
            latency_ms: 50,
            rate_limit: Some(RateLimit {
                requests: 10,
                per_seconds: 1,
            }),
            ..Faults::default()
        });
    }
    // Let the set-up's rate window expire before the clock starts.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sim.reset_logs();
    let config = kubeconfig(&emu);
    let child = start_controller(&config);
    let result = wait_all_ready(&emu, &sim, &[PSG], limit()).await;
    stop(child);
    let log = sim.request_log();
    let throttled = log.iter().filter(|e| e.outcome == "throttled").count();
    let (mut reads, mut writes) = (0u64, 0u64);
    for e in log.iter().filter(|e| e.outcome != "throttled") {
        if support::is_read(&e.operation) {
            reads += 1;
        } else {
            writes += 1;
        }
    }
    let cloud = support::Cloud {
        kind,
        client: support::client_for(kind, &sim, &support::ClientOptions::default()),
        sim,
    };
    let problems = support::check_end_state(&cloud, &s);
    let floor = (reads + writes) as f64 / 10.0;
    match result {
        Ok(wall) => println!(
            "| {kind} | {} | controller, paced at 10/s | {reads} | {writes} (bound {}) | {throttled} | {floor:.1} | {:.1} | {:.2} |",
            s.name,
            s.bound,
            wall.as_secs_f64(),
            wall.as_secs_f64() / floor
        ),
        Err(e) => println!(
            "| {kind} | {} | controller | {reads} | {writes} | {throttled} | {floor:.1} | {e} | - |",
            s.name
        ),
    }
    // Every account cycle reads each of the 10 groups once.
    let group_reads = log
        .iter()
        .filter(|e| {
            e.outcome != "throttled"
                && (e.operation.ends_with("showSecurityGroup")
                    || e.operation.ends_with("getSecurityGroup"))
        })
        .count();
    eprintln!(
        "  {kind} {}: about {} account cycles ({group_reads} group reads)",
        s.name,
        group_reads / 10
    );
    if !problems.is_empty() {
        eprintln!(
            "  {kind} {}: {:?}",
            s.name,
            &problems[..problems.len().min(3)]
        );
    }
    cloud.sim.shutdown().await;
}

// ------------------------------------------------------------ footprint

async fn footprint() {
    let kind = ProviderKind::Huawei;
    let groups = 10;
    let ports = 9_990;
    // Group 1 is every port's base group; groups 2..=11 are managed.
    let mut state = support::base_state(kind, groups + 1);
    for p in 1..=ports {
        state = support::add_port(state, kind, p, &[1]);
    }
    let sim = support::start(state, Faults::default()).await;
    let emu = Emulator::start().await;
    let client = emu.client();
    create_account(&client, kind, &sim, None).await;
    let sg_api: Api<SecurityGroup> = Api::namespaced(client.clone(), NS);
    for g in 2..=groups + 1 {
        let rules: Vec<Value> = (0..5)
            .map(|i| json!({"direction": "ingress", "protocol": "tcp", "ports": format!("{}", 8000 + i), "remoteIpPrefix": "10.0.0.0/8"}))
            .collect();
        let obj: SecurityGroup = serde_json::from_value(json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "SecurityGroup",
            "metadata": {"name": format!("g{g}")},
            "spec": {
                "accountRef": {"name": "acct"},
                "groupId": support::group_id(kind, g),
                "name": format!("g{g}"),
                "rules": rules,
            }
        }))
        .expect("a SecurityGroup");
        sg_api
            .create(&PostParams::default(), &obj)
            .await
            .expect("create");
    }
    let started = Instant::now();
    create_port_objects(
        &client,
        kind,
        (1..=ports).map(|p| (p, vec![1, 2 + p % groups])).collect(),
    )
    .await;
    eprintln!(
        "created {} objects in {:?}",
        groups + ports,
        started.elapsed()
    );
    let config = kubeconfig(&emu);
    let child = start_controller(&config);
    let pid = child.id();
    let converged = wait_all_ready(&emu, &sim, &[PSG, SG], limit()).await;
    let (rss_ready, hwm_ready) = proc_status(pid);
    let (reads, writes) = support::split_calls(&sim.call_counts());
    // Quiet spell: let status writes and handed-over outcomes drain.
    let mut last = sim.request_log().len();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = sim.request_log().len();
        if now == last {
            break;
        }
        last = now;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss_idle, hwm_idle) = proc_status(pid);

    // Reconcile latency: change one object, time the first cloud call,
    // the first write, and Ready again.
    let psg_api: Api<PortSecurityGroups> = Api::namespaced(client.clone(), NS);
    let mut samples = Vec::new();
    for i in 0..5usize {
        let p = 1 + i * 997;
        let before = sim.request_log().len();
        let new_group = 2 + (p + 1) % groups;
        let patch = json!({"spec": {"securityGroups": [
            {"id": support::group_id(kind, 1)},
            {"id": support::group_id(kind, new_group)}
        ]}});
        let t0 = Instant::now();
        psg_api
            .patch(
                &format!("port-{p}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .expect("patch");
        let (mut first_call, mut first_write, mut ready_at) = (None, None, None);
        while t0.elapsed() < Duration::from_secs(60) && ready_at.is_none() {
            let log = sim.request_log();
            if first_call.is_none() && log.len() > before {
                first_call = Some(t0.elapsed());
            }
            if first_write.is_none()
                && log[before.min(log.len())..]
                    .iter()
                    .any(|e| !support::is_read(&e.operation))
            {
                first_write = Some(t0.elapsed());
            }
            if first_write.is_some()
                && emu
                    .object(PSG, NS, &format!("port-{p}"))
                    .is_some_and(|o| ready(&o))
            {
                ready_at = Some(t0.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let calls = sim.request_log().len() - before;
        samples.push((first_call, first_write, ready_at, calls));
    }
    let (rss_after, hwm_after) = proc_status(pid);
    // And once the last cycle's transient memory had time to go back.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss_settled, hwm_settled) = proc_status(pid);
    stop(child);

    println!("| what | value |");
    println!("|---|---|");
    println!(
        "| objects | {} SecurityGroups (5 rules each) + {ports} PortSecurityGroups = {} |",
        groups,
        groups + ports
    );
    match converged {
        Ok(d) => println!(
            "| start to all Ready | {:.1} s ({reads} reads, {writes} writes) |",
            d.as_secs_f64()
        ),
        Err(e) => println!("| start to all Ready | {e} |"),
    }
    println!(
        "| VmRSS / VmHWM at all Ready | {:.1} MiB / {:.1} MiB |",
        rss_ready as f64 / 1024.0,
        hwm_ready as f64 / 1024.0
    );
    println!(
        "| VmRSS / VmHWM after 5 s idle | {:.1} MiB / {:.1} MiB |",
        rss_idle as f64 / 1024.0,
        hwm_idle as f64 / 1024.0
    );
    println!(
        "| VmRSS / VmHWM after 5 changes | {:.1} MiB / {:.1} MiB |",
        rss_after as f64 / 1024.0,
        hwm_after as f64 / 1024.0
    );
    println!(
        "| VmRSS / VmHWM 5 s after the changes | {:.1} MiB / {:.1} MiB |",
        rss_settled as f64 / 1024.0,
        hwm_settled as f64 / 1024.0
    );
    for (i, (call, write, ready_at, calls)) in samples.iter().enumerate() {
        let ms = |d: &Option<Duration>| {
            d.map_or("-".to_string(), |d| {
                format!("{:.0} ms", d.as_secs_f64() * 1000.0)
            })
        };
        println!(
            "| change {}: to first cloud call / first write / Ready | {} / {} / {} ({calls} calls) |",
            i + 1,
            ms(call),
            ms(write),
            ms(ready_at)
        );
    }
    sim.shutdown().await;
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`; this
    // one starts the controller binary and runs for minutes, so it only
    // measures under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("controller: measured only under `cargo bench --bench controller`");
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |what: &str| args.is_empty() || args.iter().any(|a| what.contains(a.as_str()));
    if want("converge huawei baidu") {
        println!(
            "| cloud | scenario | run | reads | writes | 429s | floor = calls/10 s | wall s | wall/floor |"
        );
        println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
        for kind in support::kinds() {
            if !want(&format!("converge {kind}")) {
                continue;
            }
            for moving in [false, true] {
                converge(kind, moving).await;
            }
        }
        println!();
    }
    if want("footprint") {
        footprint().await;
    }
}
