//! Convergence under rate limits: 1,000 ports joining, or moving among, 10
//! groups, with the simulator limited to 10 requests a second per account
//! (429 with `Retry-After` beyond that) and 50 ms added to every call.
//! Wall time from the first sync until the simulator holds the desired
//! state, against the floor (calls / rate).
//!
//! Two clients: one pacing itself at the gateway's rate
//! (`maxRequestsPerSecond: 10`), and one with no client-side limit that
//! learns the rate from 429s and `Retry-After` (the production retry
//! policy in both).
//!
//! Run: `cargo bench --bench convergence` (about 10 minutes: Baidu reads
//! each instance, 1,000 reads at 10/s). Arguments filter by substring,
//! e.g. `cargo bench --bench convergence -- huawei`.

use secgroup_test_support::scenarios as support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secgroup_controller::model::ProviderKind;
use secgroup_controller::reconcile::ExecEvent;
use secgroup_controller::sim::{Faults, RateLimit};
use support::{ClientOptions, Cloud};

const RATE: u32 = 10;
const LATENCY_MS: u64 = 50;

struct Row {
    label: String,
    wall: Duration,
    reads_phase: Duration,
    passes: usize,
    reads: u64,
    writes: u64,
    throttled: u64,
    problems: Vec<String>,
}

async fn run(kind: ProviderKind, moving: bool, client_rate: Option<u32>) -> Row {
    let s = support::spread(kind, 1000, 10, moving);
    let label = format!(
        "{kind} | {} | {}",
        s.name,
        match client_rate {
            Some(r) => format!("client paced at {r}/s"),
            None => "no client limit (429 + Retry-After)".into(),
        }
    );
    let cloud = Cloud::start(
        kind,
        s.state.clone(),
        Faults::default(),
        ClientOptions {
            rate: client_rate,
            retry: None,
        },
    )
    .await;
    support::prepare(&cloud, &s).await;
    // Let any rate window the set-up opened expire.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    cloud.sim.set_faults(Faults {
        latency_ms: LATENCY_MS,
        rate_limit: Some(RateLimit {
            requests: RATE,
            per_seconds: 1,
        }),
        ..Faults::default()
    });
    cloud.sim.reset_logs();

    let started = Instant::now();
    let first_write: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let mut passes = 0;
    let mut problems = Vec::new();
    loop {
        passes += 1;
        let fw = first_write.clone();
        let mut on_event = move |e: ExecEvent<'_>| {
            if let ExecEvent::Started { .. } = e {
                let mut fw = fw.lock().expect("not poisoned");
                fw.get_or_insert_with(Instant::now);
            }
        };
        if let Err(e) = support::sync_once(&cloud, &s.desired, &mut on_event).await {
            problems.push(format!("pass {passes}: {e}"));
        }
        let left = support::check_end_state(&cloud, &s);
        if left.is_empty() {
            break;
        }
        if passes == 5 {
            problems.push(format!(
                "not converged after 5 passes: {:?}",
                &left[..left.len().min(3)]
            ));
            break;
        }
    }
    let wall = started.elapsed();
    let reads_phase = first_write
        .lock()
        .expect("not poisoned")
        .map(|t| t - started)
        .unwrap_or_default();
    let log = cloud.sim.request_log();
    let throttled = log.iter().filter(|e| e.outcome == "throttled").count() as u64;
    let (mut reads, mut writes) = (0, 0);
    for e in log.iter().filter(|e| e.outcome != "throttled") {
        if support::is_read(&e.operation) {
            reads += 1;
        } else {
            writes += 1;
        }
    }
    if !cloud.sim.refused_log().is_empty() {
        problems.push(format!("refused: {:?}", cloud.sim.refused_log()));
    }
    cloud.sim.shutdown().await;
    Row {
        label,
        wall,
        reads_phase,
        passes,
        reads,
        writes,
        throttled,
        problems,
    }
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`; this
    // one takes minutes by design (it waits on a 10/s rate limit), so it
    // only measures under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("convergence: measured only under `cargo bench --bench convergence`");
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    println!(
        "| cloud | scenario | client | passes | reads | writes | 429s | floor = calls/{RATE} s | wall s | wall/floor | reading s |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut failed = 0;
    for kind in support::kinds() {
        for moving in [false, true] {
            for client_rate in [Some(RATE), None] {
                let probe = format!(
                    "{kind} {} {}",
                    if moving { "move" } else { "join" },
                    if client_rate.is_some() {
                        "paced"
                    } else {
                        "unpaced"
                    }
                );
                if !filter.is_empty() && !filter.iter().any(|f| probe.contains(f.as_str())) {
                    continue;
                }
                let r = run(kind, moving, client_rate).await;
                let floor = (r.reads + r.writes) as f64 / f64::from(RATE);
                let wall = r.wall.as_secs_f64();
                println!(
                    "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.1} |",
                    r.label,
                    r.passes,
                    r.reads,
                    r.writes,
                    r.throttled,
                    floor,
                    wall,
                    wall / floor,
                    r.reads_phase.as_secs_f64(),
                );
                if !r.problems.is_empty() {
                    failed += 1;
                    for p in &r.problems {
                        eprintln!("  {}: {p}", r.label);
                    }
                }
            }
        }
    }
    println!();
    println!(
        "Simulator: {RATE} requests/s per account (fixed 1 s windows, 429 + Retry-After beyond), {LATENCY_MS} ms added per call. \
         Calls exclude 429s; floor = (reads + writes) / {RATE}. \"reading s\": time until the first write (observe + plan)."
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
