//! The controller end to end: the real `secgroup-controller run` binary as
//! a child process, watching the in-process Kubernetes API emulator
//! (`tests/emulator`) through a kubeconfig, and calling the simulator
//! through the real clients (each `CloudAccount.spec.endpoint` points at
//! it, keys come from a Secret). Both clouds.
//!
//! - `converge`: 1,000 `PortSecurityGroups` whose ports join, or move
//!   among, 10 groups; the simulator limited to 10 requests/s with 50 ms
//!   per call; wall time from controller start to every object Ready,
//!   against the floor (calls / rate), and the writes (whether objects
//!   changing the same group share batches).
//! - 10,000 objects watched (10 `SecurityGroup`s with rules, 9,990
//!   `PortSecurityGroups`), one run per cloud, in three parts:
//!   - `footprint`: start to all Ready (no rate limit), the controller's
//!     resident memory (`/proc/PID/status` VmRSS and VmHWM);
//!   - `resync`: the next resync (`--resync-period 45s`) of the objects,
//!     all in sync: its reads and the status writes it causes (the
//!     emulator's count of status patches);
//!   - `changes`: with the simulator at 10 requests/s and 50 ms a call,
//!     five single-object changes (a port moves from one group to
//!     another): the time from the patch to the first cloud call, the
//!     first write and Ready again, and each change's reads and writes.
//!
//! - `nodes`: 1,000 Kubernetes Nodes (`BENCH_NODES`) created at once and
//!   joining a group through one `SecurityGroupMembership` node selector,
//!   the simulator at 10 requests/s and 50 ms a call: reads (each new
//!   Node's instance, then its port) and writes against their bounds, and
//!   per Node the time from its creation to its port's membership.
//!
//! Reads and writes are the simulator's per-endpoint counts (any outcome;
//! 429s are counted apart and left out of the floor). Each scenario is
//! also written as one JSON object a line to
//! `target/bench/controller.jsonl` (`cloud`, `scenario`, `reads`,
//! `writes`, `reads_bound`, `writes_bound`, `wall_s`, `floor_s`,
//! `status_writes`, `max_rss_mib`, `change_to_first_write_ms`, ...;
//! `null` where a scenario has no such figure).
//!
//! Run: `cargo bench --bench controller` (every part, about 6 minutes once
//! built), or a part: `-- converge`, `-- footprint`, `-- resync`,
//! `-- changes`, `-- nodes`, narrowed to a cloud with e.g. `-- "changes baidu"`;
//! `-- huawei` runs every part of one cloud.

use secgroup_test_support::emulator;
use secgroup_test_support::scenarios as support;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emulator::Emulator;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use secgroup_controller::crd::{CloudAccount, PortSecurityGroups, SecurityGroup};
use secgroup_controller::model::ProviderKind;
use secgroup_controller::sim::{Faults, Provider, RateLimit, SimHandle};
use serde_json::{Value, json};

const NS: &str = "bench";
const PSG: &str = "secgroup.io/portsecuritygroups";
const SG: &str = "secgroup.io/securitygroups";
const SGM: &str = "secgroup.io/securitygroupmemberships";

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

/// The controller process and the address of its `/metrics`.
struct Controller {
    child: Child,
    metrics: String,
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Start the controller with `--resync-period resync`.
fn start_controller(config: &tempfile::NamedTempFile, resync: &str) -> Controller {
    let binary = env!("CARGO_BIN_EXE_secgroup-controller");
    let metrics_addr = format!("127.0.0.1:{}", free_port());
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
    let child = command
        .args([
            "run",
            "--disable-leader-election",
            "--namespace",
            NS,
            "--metrics-addr",
            &metrics_addr,
            "--resync-period",
            resync,
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
        .expect("the controller binary starts");
    Controller {
        child,
        metrics: format!("http://{metrics_addr}/metrics"),
    }
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
        // Counting 10,000 stored objects takes the bench a while: poll
        // less often then, leaving the cores to the controller.
        let total: usize = counts.iter().map(|(_, n)| n).sum();
        tokio::time::sleep(Duration::from_millis(20 * (total as u64 / 1000).max(1))).await;
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

fn stop(mut controller: Controller) {
    let _ = controller.child.kill();
    let _ = controller.child.wait();
}

/// The simulator as a rate-limited cloud: 10 requests a second (429
/// beyond) and 50 ms a call.
fn ten_a_second(sim: &SimHandle) {
    sim.set_faults(Faults {
        latency_ms: 50,
        rate_limit: Some(RateLimit {
            requests: 10,
            per_seconds: 1,
        }),
        ..Faults::default()
    });
}

/// The simulator's view of one cloud.
fn provider(kind: ProviderKind) -> Provider {
    match kind {
        ProviderKind::Huawei => Provider::Huawei,
        ProviderKind::Baidu => Provider::Baidu,
    }
}

/// Reads and writes since the simulator's logs were last reset, as its
/// per-endpoint counters have them.
fn calls(sim: &SimHandle, kind: ProviderKind) -> (u64, u64) {
    sim.read_write_counts(provider(kind))
}

/// Requests the simulator answered with 429 since its logs were reset.
fn throttled(sim: &SimHandle) -> u64 {
    sim.request_log()
        .iter()
        .filter(|e| e.outcome == "throttled")
        .count() as u64
}

/// Status patches the emulator served after its first `from` requests:
/// (of the account's objects, of `CloudAccount`s).
fn status_writes(emu: &Emulator, from: usize) -> (u64, u64) {
    let mut counts = (0, 0);
    for s in emu.served_since(from) {
        let write = s.method == http::Method::PATCH || s.method == http::Method::PUT;
        if !write || !s.path.ends_with("/status") {
            continue;
        }
        if s.path.contains("/cloudaccounts/") {
            counts.1 += 1;
        } else {
            counts.0 += 1;
        }
    }
    counts
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Wait until neither the simulator nor the emulator (writes) served a
/// request for `quiet`, at most a minute.
async fn settle(sim: &SimHandle, emu: &Emulator, quiet: Duration) {
    let activity = || {
        let cloud = sim.request_log().len();
        let writes = emu.served_count();
        (cloud, writes)
    };
    let start = Instant::now();
    let mut last = activity();
    let mut since = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = activity();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

/// A metric of the controller's `/metrics` (an unlabelled counter or
/// gauge), if it answers.
async fn metric(url: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    text.lines()
        .filter_map(|l| l.strip_prefix(name))
        .find_map(|rest| rest.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

struct Line<'a> {
    kind: ProviderKind,
    scenario: &'a str,
    reads: u64,
    writes: u64,
    reads_bound: Option<u64>,
    writes_bound: Option<u64>,
    wall_s: Option<f64>,
    floor_s: Option<f64>,
    status_writes: u64,
    max_rss_mib: f64,
    change_to_first_write_ms: Vec<u64>,
    /// Further fields of this scenario.
    extra: Value,
}

fn write_line(out: &mut std::fs::File, line: Line<'_>) {
    let mut value = json!({
        "cloud": line.kind.to_string(),
        "scenario": line.scenario,
        "reads": line.reads,
        "writes": line.writes,
        "reads_bound": line.reads_bound,
        "writes_bound": line.writes_bound,
        "wall_s": line.wall_s,
        "floor_s": line.floor_s,
        "status_writes": line.status_writes,
        "max_rss_mib": (line.max_rss_mib * 10.0).round() / 10.0,
        "change_to_first_write_ms": line.change_to_first_write_ms,
    });
    if let (Some(fields), Value::Object(extra)) = (value.as_object_mut(), line.extra) {
        fields.extend(extra);
    }
    writeln!(out, "{value}").expect("the JSONL file can be written");
}

// ------------------------------------------------------------ converge

async fn converge(kind: ProviderKind, moving: bool, out: &mut std::fs::File) {
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
        ten_a_second(&sim);
    }
    // Let the set-up's rate window expire before the clock starts.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sim.reset_logs();
    let served = emu.served_count();
    let config = kubeconfig(&emu);
    let controller = start_controller(&config, "10m");
    let result = wait_all_ready(&emu, &sim, &[PSG], limit()).await;
    let (_, hwm) = proc_status(controller.child.id());
    stop(controller);
    let (reads, writes) = calls(&sim, kind);
    let throttled = throttled(&sim);
    let (statuses, _) = status_writes(&emu, served);
    let cloud = support::Cloud {
        kind,
        client: support::client_for(kind, &sim, &support::ClientOptions::default()),
        sim,
    };
    let problems = support::check_end_state(&cloud, &s);
    let floor = (reads + writes - throttled) as f64 / 10.0;
    // One full read of the ports' groups (the base group too when joining)
    // and their members; the cycle after the writes reads again what they
    // changed.
    let groups = if moving { 10 } else { 11 };
    let (reads_bound, reads_formula) = support::full_read_bound(kind, groups, 0, n, 0, 0);
    let wall = result.as_ref().ok().map(Duration::as_secs_f64);
    match &result {
        Ok(wall) => println!(
            "| {kind} | {} | {reads} | {reads_bound} | {writes} ({}) | {throttled} | {statuses} | {floor:.1} | {:.1} | {:.2} | {:.1} |",
            s.name,
            s.bound,
            wall.as_secs_f64(),
            wall.as_secs_f64() / floor,
            mib(hwm),
        ),
        Err(e) => println!(
            "| {kind} | {} | {reads} | {reads_bound} | {writes} ({}) | {throttled} | {statuses} | {floor:.1} | {e} | - | {:.1} |",
            s.name,
            s.bound,
            mib(hwm),
        ),
    }
    if !problems.is_empty() {
        eprintln!(
            "  {kind} {}: {:?}",
            s.name,
            &problems[..problems.len().min(3)]
        );
    }
    write_line(
        out,
        Line {
            kind,
            scenario: &s.name,
            reads,
            writes,
            reads_bound: Some(reads_bound),
            writes_bound: Some(s.bound),
            wall_s: wall,
            floor_s: Some(floor),
            status_writes: statuses,
            max_rss_mib: mib(hwm),
            change_to_first_write_ms: Vec::new(),
            extra: json!({
                "part": "converge",
                "reads_bound_formula": format!("one full read: {reads_formula}"),
                "writes_bound_formula": s.bound_formula,
                "throttled": throttled,
                "wall_over_floor": wall.map(|w| w / floor),
                "target": "wall within 1.2x of the floor; writes at the lower bound",
                "ok": problems.is_empty() && result.is_ok(),
            }),
        },
    );
    cloud.sim.shutdown().await;
}

// --------------------------------------------------------------- nodes

/// Nodes joining a group through a node selector: `n` Nodes (default
/// 1,000, `BENCH_NODES`) created at once while the controller runs, one
/// `SecurityGroupMembership` selecting them, the simulator at 10
/// requests/s and 50 ms a call. Measures the reads (each new Node's
/// instance, then its port) and writes (ceil(n/20) batches) against their
/// bounds, and per Node the time from its creation to its port's
/// membership.
async fn nodes(kind: ProviderKind, out: &mut std::fs::File) {
    let n: usize = std::env::var("BENCH_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // Group 1 every port holds; group 2 the one the Nodes join.
    let mut state = support::base_state(kind, 2);
    for p in 1..=n {
        state = support::add_port(state, kind, p, &[1]);
        if kind == ProviderKind::Huawei
            && let Some(port) = state.huawei.ports.last_mut()
        {
            port.device_id = server_id(p);
            port.ip_address = node_ip(p);
        }
    }
    let sim = support::start(state, Faults::default()).await;
    let emu = Emulator::start().await;
    let client = emu.client();
    create_account(&client, kind, &sim, Some(10)).await;
    let membership: Value = json!({
        "apiVersion": "secgroup.io/v1alpha1",
        "kind": "SecurityGroupMembership",
        "metadata": {"name": "pool"},
        "spec": {
            "accountRef": {"name": "acct"},
            "securityGroupId": support::group_id(kind, 2),
            "nodeSelector": {"matchLabels": {"pool": "bench"}}
        }
    });
    let membership: secgroup_controller::crd::SecurityGroupMembership =
        serde_json::from_value(membership).expect("a membership");
    Api::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &membership)
        .await
        .expect("create the membership");
    ten_a_second(&sim);
    let config = kubeconfig(&emu);
    let controller = start_controller(&config, "10m");
    // The membership matches no Node yet: Ready once its first cycle ran.
    if let Err(e) = wait_all_ready(&emu, &sim, &[SGM], limit()).await {
        eprintln!("  {kind} nodes: the membership is not Ready: {e}");
    }
    settle(&sim, &emu, Duration::from_millis(1500)).await;
    sim.reset_logs();
    let cycles_before = metric(&controller.metrics, "secgroup_account_cycles_total")
        .await
        .map(|c| c as u64);

    let member = support::group_id(kind, 2);
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let started = Instant::now();
    let created: Vec<Duration> = futures::stream::iter(1..=n)
        .map(|p| {
            let nodes = nodes.clone();
            async move {
                let provider_id = match kind {
                    ProviderKind::Huawei => format!("huaweicloud://{}", server_id(p)),
                    ProviderKind::Baidu => format!("cce://{}", support::port_id(kind, p)),
                };
                let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": format!("node-{p}"), "labels": {"pool": "bench"}},
                    "spec": {"providerID": provider_id},
                    "status": {"addresses": [{"type": "InternalIP", "address": node_ip(p)}]}
                }))
                .expect("a Node");
                nodes
                    .create(&PostParams::default(), &node)
                    .await
                    .expect("create a Node");
                (p, started.elapsed())
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<(usize, Duration)>>()
        .await
        .into_iter()
        .fold(vec![Duration::ZERO; n + 1], |mut at, (p, t)| {
            at[p] = t;
            at
        });
    // Poll the cloud: when each port first holds the group.
    let mut joined: Vec<Option<Duration>> = vec![None; n + 1];
    let deadline = limit();
    while joined[1..].iter().any(Option::is_none) && started.elapsed() < deadline {
        let now = started.elapsed();
        for (p, at) in joined.iter_mut().enumerate().skip(1) {
            if at.is_some() {
                continue;
            }
            let groups = match kind {
                ProviderKind::Huawei => sim.huawei_port_groups(&support::port_id(kind, p)),
                ProviderKind::Baidu => sim.baidu_instance_groups(&support::port_id(kind, p)),
            };
            if groups.is_some_and(|g| g.contains(&member)) {
                *at = Some(now);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall = joined[1..].iter().copied().max().flatten();
    settle(&sim, &emu, Duration::from_millis(2000)).await;
    let (_, hwm) = proc_status(controller.child.id());
    // Account cycles after the membership's first (Nodes created over a
    // few seconds span several coalescing windows; each cycle may end
    // with one partial batch).
    let cycles = metric(&controller.metrics, "secgroup_account_cycles_total")
        .await
        .map(|c| c as u64);
    stop(controller);
    let (reads, writes) = calls(&sim, kind);
    let throttled = throttled(&sim);
    let mut latency_ms: Vec<u64> = (1..=n)
        .filter_map(|p| joined[p].map(|j| j.saturating_sub(created[p]).as_millis() as u64))
        .collect();
    latency_ms.sort_unstable();
    let pick = |q: f64| {
        latency_ms
            .get(((latency_ms.len() as f64 - 1.0) * q).round() as usize)
            .copied()
    };
    let (p50, p95, max) = (pick(0.5), pick(0.95), latency_ms.last().copied());
    let writes_bound = n.div_ceil(support::BATCH) as u64;
    // Each new Node's instance once, then its port once (both by id, 50
    // a call on Huawei, 100 on Baidu), and the group once (Huawei: the
    // group and its rules).
    let (per_call, group_reads) = match kind {
        ProviderKind::Huawei => (50, 2),
        ProviderKind::Baidu => (100, 1),
    };
    let reads_bound = (2 * n.div_ceil(per_call) + group_reads) as u64;
    let floor = (reads + writes - throttled) as f64 / 10.0;
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    let ms = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    println!(
        "| {kind} | {n} Nodes join | {} | {reads} | {reads_bound} | {writes} ({writes_bound}) | {throttled} | {floor:.1} | {} | {} | {} | {} | {:.1} |",
        ms(cycles.zip(cycles_before).map(|(a, b)| a.saturating_sub(b))),
        secs(wall).map_or("-".to_string(), |w| format!("{w:.1}")),
        ms(p50),
        ms(p95),
        ms(max),
        mib(hwm),
    );
    write_line(
        out,
        Line {
            kind,
            scenario: &format!("{n} Nodes join a group"),
            reads,
            writes,
            reads_bound: Some(reads_bound),
            writes_bound: Some(writes_bound),
            wall_s: secs(wall),
            floor_s: Some(floor),
            status_writes: 0,
            max_rss_mib: mib(hwm),
            change_to_first_write_ms: Vec::new(),
            extra: json!({
                "part": "nodes",
                "reads_bound_formula": format!(
                    "2 * ceil({n}/{per_call}) (instances, then ports, by id) + {group_reads} (the group)"
                ),
                "writes_bound_formula": format!("ceil({n}/20)"),
                "throttled": throttled,
                "node_to_member_ms_p50": p50,
                "node_to_member_ms_p95": p95,
                "node_to_member_ms_max": max,
                "joined": latency_ms.len(),
                "cycles": cycles.zip(cycles_before).map(|(a, b)| a.saturating_sub(b)),
                "target": "writes at ceil(n/20), plus at most one partial batch per cycle",
                "ok": latency_ms.len() == n
                    && cycles
                        .zip(cycles_before)
                        .is_some_and(|(a, b)| writes <= writes_bound + a.saturating_sub(b)),
            }),
        },
    );
    sim.shutdown().await;
}

/// The server a Node runs on (Huawei; on Baidu the instance is the port).
fn server_id(p: usize) -> String {
    format!("00000000-0000-4000-a000-{p:012}")
}

fn node_ip(p: usize) -> String {
    format!("10.{}.{}.{}", p / 62500, (p / 250) % 250, p % 250 + 1)
}

// ------------------------------------------------- 10,000 objects watched

/// Which parts of the 10,000-object run to measure (start to Ready and
/// memory are always measured: the other parts need them).
#[derive(Clone, Copy)]
struct Parts {
    resync: bool,
    changes: bool,
}

const GROUPS: usize = 10;
const PORTS: usize = 9_990;
const RULES: usize = 5;
/// Short enough that the bench sees a resync soon after all is Ready.
const RESYNC: &str = "45s";

async fn watched(kind: ProviderKind, parts: Parts, out: &mut std::fs::File) {
    // Group 1 is every port's base group; groups 2..=11 are managed.
    let mut state = support::base_state(kind, GROUPS + 1);
    for p in 1..=PORTS {
        state = support::add_port(state, kind, p, &[1]);
    }
    let sim = support::start(state, Faults::default()).await;
    let emu = Emulator::start().await;
    let client = emu.client();
    create_account(&client, kind, &sim, None).await;
    let sg_api: Api<SecurityGroup> = Api::namespaced(client.clone(), NS);
    for g in 2..=GROUPS + 1 {
        let rules: Vec<Value> = (0..RULES)
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
        (1..=PORTS).map(|p| (p, vec![1, 2 + p % GROUPS])).collect(),
    )
    .await;
    eprintln!(
        "  {kind}: created {} objects in {:.1} s",
        GROUPS + PORTS,
        started.elapsed().as_secs_f64()
    );
    sim.reset_logs();
    let served = emu.served_count();
    let config = kubeconfig(&emu);
    let controller = start_controller(&config, RESYNC);
    let pid = controller.child.id();
    let converged = wait_all_ready(&emu, &sim, &[PSG, SG], limit()).await;
    let (rss_ready, hwm_ready) = proc_status(pid);
    // The cycle after the writes reads again what they changed.
    settle(&sim, &emu, Duration::from_secs(1)).await;
    let (reads, writes) = calls(&sim, kind);
    let (statuses, _) = status_writes(&emu, served);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss_idle, hwm_idle) = proc_status(pid);
    // Every port joins one managed group of 999 ports, 20 a call; the
    // rules: one batch a group on Huawei, one call a rule on Baidu.
    let per_group = PORTS.div_ceil(GROUPS);
    let rule_writes = match kind {
        ProviderKind::Huawei => GROUPS,
        ProviderKind::Baidu => GROUPS * RULES,
    };
    let writes_bound = (GROUPS * per_group.div_ceil(20) + rule_writes) as u64;
    let wall = converged.as_ref().ok().map(Duration::as_secs_f64);
    println!("| {kind} | what | value |");
    println!("|---|---|---|");
    match &converged {
        Ok(d) => println!(
            "| {kind} | start to all Ready, {} objects, no rate limit | {:.1} s ({reads} reads, {writes} writes, bound {writes_bound}; {statuses} status writes) |",
            GROUPS + PORTS,
            d.as_secs_f64()
        ),
        Err(e) => println!("| {kind} | start to all Ready | {e} |"),
    }
    println!(
        "| {kind} | VmRSS / VmHWM at all Ready | {:.1} / {:.1} MiB |",
        mib(rss_ready),
        mib(hwm_ready)
    );
    println!(
        "| {kind} | VmRSS / VmHWM after 5 s idle | {:.1} / {:.1} MiB |",
        mib(rss_idle),
        mib(hwm_idle)
    );
    write_line(
        out,
        Line {
            kind,
            scenario: "10000 objects watched: start to all Ready",
            reads,
            writes,
            reads_bound: None,
            writes_bound: Some(writes_bound),
            wall_s: wall,
            floor_s: None,
            status_writes: statuses,
            max_rss_mib: mib(hwm_idle),
            change_to_first_write_ms: Vec::new(),
            extra: json!({
                "part": "footprint",
                "writes_bound_formula": format!("{GROUPS}*ceil({per_group}/20) + {rule_writes} rule writes"),
                "rss_ready_mib": mib(rss_ready),
                "rss_idle_mib": mib(rss_idle),
                "target": "max_rss_mib (VmHWM) under 64",
                "ok": converged.is_ok() && hwm_idle < 64 * 1024,
            }),
        },
    );

    if parts.resync {
        resync(kind, &sim, &emu, &controller, out).await;
    }
    if parts.changes {
        changes(kind, &sim, &emu, &client, pid, out).await;
    }
    let (rss_end, hwm_end) = proc_status(pid);
    println!(
        "| {kind} | VmRSS / VmHWM at the end | {:.1} / {:.1} MiB |",
        mib(rss_end),
        mib(hwm_end)
    );
    println!();
    stop(controller);
    sim.shutdown().await;
}

/// Wait for the next resync of the account (the controller's count of
/// full reads moves), then count what it read and wrote.
async fn resync(
    kind: ProviderKind,
    sim: &SimHandle,
    emu: &Emulator,
    controller: &Controller,
    out: &mut std::fs::File,
) {
    const FULL_READS: &str = "secgroup_account_full_reads_total";
    let before = metric(&controller.metrics, FULL_READS).await;
    sim.reset_logs();
    let served = emu.served_count();
    let waited = Instant::now();
    let mut began = None;
    while waited.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = metric(&controller.metrics, FULL_READS).await;
        if now.is_some() && before.is_some() && now > before {
            began = Some(Instant::now());
            break;
        }
    }
    settle(sim, emu, Duration::from_secs(1)).await;
    let took = began.map(|b| b.elapsed().as_secs_f64());
    let (reads, writes) = calls(sim, kind);
    let (statuses, account_statuses) = status_writes(emu, served);
    let (_, hwm) = proc_status(controller.child.id());
    let (reads_bound, formula) =
        support::full_read_bound(kind, GROUPS + 1, GROUPS * RULES, PORTS, 0, 0);
    match took {
        Some(_) => println!(
            "| {kind} | resync of {} objects in sync | {reads} reads (bound {reads_bound}), {writes} writes; {statuses} status writes (and {account_statuses} of the CloudAccount) |",
            GROUPS + PORTS
        ),
        None => println!(
            "| {kind} | resync | no full read within 120 s of waiting ({before:?} full reads) |"
        ),
    }
    write_line(
        out,
        Line {
            kind,
            scenario: "resync of 10000 in-sync objects",
            reads,
            writes,
            reads_bound: Some(reads_bound),
            writes_bound: Some(0),
            wall_s: None,
            floor_s: None,
            status_writes: statuses,
            max_rss_mib: mib(hwm),
            change_to_first_write_ms: Vec::new(),
            extra: json!({
                "part": "resync",
                "reads_bound_formula": formula,
                "account_status_writes": account_statuses,
                "target": "status_writes 0",
                "ok": took.is_some() && statuses == 0 && writes == 0,
            }),
        },
    );
}

/// Five single-object changes with the simulator at 10 requests/s and
/// 50 ms a call: port p moves from its managed group to the next.
async fn changes(
    kind: ProviderKind,
    sim: &SimHandle,
    emu: &Emulator,
    client: &kube::Client,
    pid: u32,
    out: &mut std::fs::File,
) {
    ten_a_second(sim);
    let psg_api: Api<PortSecurityGroups> = Api::namespaced(client.clone(), NS);
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
    let show = |d: Option<u64>| d.map_or("-".to_string(), |d| format!("{d} ms"));
    let mut samples = Vec::new();
    for i in 0..5usize {
        // Let the last change's rate window expire.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        sim.reset_logs();
        let served = emu.served_count();
        let p = 1 + i * 997;
        let name = format!("port-{p}");
        let patch = json!({"spec": {"securityGroups": [
            {"id": support::group_id(kind, 1)},
            {"id": support::group_id(kind, 2 + (p + 1) % GROUPS)}
        ]}});
        let t0 = Instant::now();
        psg_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch");
        let (mut first_call, mut first_write, mut ready_at) = (None, None, None);
        while t0.elapsed() < Duration::from_secs(60) && ready_at.is_none() {
            let (reads, writes) = calls(sim, kind);
            if first_call.is_none() && reads + writes > 0 {
                first_call = Some(t0.elapsed());
            }
            if first_write.is_none() && writes > 0 {
                first_write = Some(t0.elapsed());
            }
            if first_write.is_some() && emu.object(PSG, NS, &name).is_some_and(|o| ready(&o)) {
                ready_at = Some(t0.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The cycle after the writes reads again what they changed.
        settle(sim, emu, Duration::from_secs(1)).await;
        let (reads, writes) = calls(sim, kind);
        let (statuses, _) = status_writes(emu, served);
        samples.push(Sample {
            first_call: ms(first_call),
            first_write: ms(first_write),
            ready: ms(ready_at),
            reads,
            writes,
            statuses,
        });
    }
    let (rss, hwm) = proc_status(pid);
    for (i, c) in samples.iter().enumerate() {
        println!(
            "| {kind} | change {}: to first cloud call / first write / Ready | {} / {} / {} ({} reads, {} writes, {} status writes) |",
            i + 1,
            show(c.first_call),
            show(c.first_write),
            show(c.ready),
            c.reads,
            c.writes,
            c.statuses,
        );
    }
    println!(
        "| {kind} | VmRSS / VmHWM after the changes | {:.1} / {:.1} MiB |",
        mib(rss),
        mib(hwm)
    );
    let first = &samples[0];
    write_line(
        out,
        Line {
            kind,
            scenario: "one port moves between two groups, 10000 objects watched",
            reads: first.reads,
            writes: first.writes,
            reads_bound: Some(4),
            writes_bound: Some(2),
            wall_s: first.ready.map(|ms| ms as f64 / 1000.0),
            floor_s: Some((first.reads + first.writes) as f64 / 10.0),
            status_writes: first.statuses,
            max_rss_mib: mib(hwm),
            change_to_first_write_ms: first.first_write.into_iter().collect(),
            extra: json!({
                "part": "changes",
                "reads_bound_formula": "at most 4 (target)",
                "writes_bound_formula": "2*ceil(1/20): one add, one remove",
                "target": "reads at most 4, writes exactly 2",
                "ok": first.reads <= 4 && first.writes == 2,
            }),
        },
    );
    let firsts: Vec<u64> = samples.iter().filter_map(|c| c.first_write).collect();
    let sum = |f: fn(&Sample) -> u64| samples.iter().map(f).sum::<u64>();
    let list = |f: fn(&Sample) -> Option<u64>| samples.iter().map(f).collect::<Vec<_>>();
    write_line(
        out,
        Line {
            kind,
            scenario: "change to first write, 5 single-object changes, 10000 objects, simulator at 10 requests/s and 50 ms",
            reads: sum(|c| c.reads),
            writes: sum(|c| c.writes),
            reads_bound: Some(20),
            writes_bound: Some(10),
            wall_s: None,
            floor_s: None,
            status_writes: sum(|c| c.statuses),
            max_rss_mib: mib(hwm),
            change_to_first_write_ms: firsts.clone(),
            extra: json!({
                "part": "changes",
                "reads_bound_formula": "5 changes, at most 4 each (target)",
                "writes_bound_formula": "5 changes, 2 each",
                "change_to_first_call_ms": list(|c| c.first_call),
                "change_to_ready_ms": list(|c| c.ready),
                "reads_per_change": samples.iter().map(|c| c.reads).collect::<Vec<_>>(),
                "writes_per_change": samples.iter().map(|c| c.writes).collect::<Vec<_>>(),
                "target": "each change to first write under 1000 ms",
                "ok": firsts.len() == 5 && firsts.iter().all(|ms| *ms < 1000),
            }),
        },
    );
}

/// One change: milliseconds from the patch to the first cloud call, the
/// first write and Ready again; its calls and status writes.
struct Sample {
    first_call: Option<u64>,
    first_write: Option<u64>,
    ready: Option<u64>,
    reads: u64,
    writes: u64,
    statuses: u64,
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
    let mut out = secgroup_test_support::bench_jsonl("controller");
    if want("converge huawei baidu") {
        println!(
            "| cloud | scenario | reads | one full read, lower bound | writes (lower bound) | 429s | status writes | floor = calls/10 s | wall s | wall/floor | VmHWM MiB |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for kind in support::kinds() {
            if !want(&format!("converge {kind}")) {
                continue;
            }
            for moving in [false, true] {
                converge(kind, moving, &mut out).await;
            }
        }
        println!();
    }
    if want("nodes huawei baidu") {
        println!(
            "| cloud | scenario | cycles | reads | reads bound | writes (lower bound) | 429s | floor = calls/10 s | wall s | Node to member p50 ms | p95 ms | max ms | VmHWM MiB |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for kind in support::kinds() {
            if want(&format!("nodes {kind}")) {
                nodes(kind, &mut out).await;
            }
        }
        println!();
    }
    for kind in support::kinds() {
        let parts = Parts {
            resync: want(&format!("resync {kind}")),
            changes: want(&format!("changes {kind}")),
        };
        if want(&format!("footprint {kind}")) || parts.resync || parts.changes {
            watched(kind, parts, &mut out).await;
        }
    }
}
