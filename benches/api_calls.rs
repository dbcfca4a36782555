//! API calls per scenario: structured changes run through
//! `reconcile::sync` and the real clients against the simulator. For each,
//! the writes and reads the simulator counted, the planner's documented
//! lower bound on writes, their ratio (target 1.00), and what one call per
//! port or per rule (how the peers' tools work) would cost.
//!
//! Run: `cargo bench --bench api_calls` (prints a Markdown table; the
//! figures are call counts, so they do not depend on the machine). An
//! argument filters scenarios by substring, e.g.
//! `cargo bench --bench api_calls -- huawei`.

#[path = "../tests/reliability_common/mod.rs"]
mod common;

use std::time::Instant;

use common::{ClientOptions, Cloud, Scenario};
use secgroup_controller::model::ProviderKind;
use secgroup_controller::sim::Faults;

fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for kind in common::kinds() {
        for n in [1, 20, 45, 1000] {
            out.push(common::join(kind, n));
        }
        for k in [1, 20, 45, 1000] {
            out.push(common::move_ports(kind, k));
        }
        for (n, l) in [(1, 3), (20, 3), (21, 2), (45, 3), (1000, 3)] {
            out.push(common::leave(kind, n, l));
        }
        // Baidu holds 50 rules per direction, and rules are created before
        // the old ones go: keep have + replaced within 50.
        out.push(common::rules_change(kind, 0, 0, 40));
        out.push(common::rules_change(kind, 30, 20, 0));
        out.push(common::rules_change(kind, 30, 10, 10));
        if kind == ProviderKind::Huawei {
            out.push(common::rules_change(kind, 0, 0, 1000));
            out.push(common::rules_change(kind, 400, 200, 0));
        }
        out.push(common::spread(kind, 1000, 10, false));
        out.push(common::spread(kind, 1000, 10, true));
        out.push(common::create_and_join(kind, 45, 10));
    }
    out
}

struct Row {
    cloud: ProviderKind,
    name: String,
    writes: u64,
    reads: u64,
    passes: usize,
    bound: u64,
    bound_formula: String,
    per_item: u64,
    per_item_formula: String,
    millis: u128,
    problems: Vec<String>,
}

async fn run(s: Scenario) -> Row {
    let cloud = Cloud::start(
        s.kind,
        s.state.clone(),
        Faults::default(),
        ClientOptions::default(),
    )
    .await;
    common::prepare(&cloud, &s).await;
    let started = Instant::now();
    let rounds = common::converge(&cloud, &s.desired, 5, &mut |_| {}).await;
    let millis = started.elapsed().as_millis();
    let (reads, writes) = cloud.calls();
    let mut problems = common::check_end_state(&cloud, &s);
    let passes = match rounds {
        Ok(r) => r.rounds,
        Err(r) => {
            problems.push(format!(
                "not converged after {} passes: {:?}",
                r.rounds, r.errors
            ));
            r.rounds
        }
    };
    if !cloud.sim.refused_log().is_empty() {
        problems.push(format!("refused: {:?}", cloud.sim.refused_log()));
    }
    cloud.sim.shutdown().await;
    Row {
        cloud: s.kind,
        name: s.name,
        writes,
        reads,
        passes,
        bound: s.bound,
        bound_formula: s.bound_formula,
        per_item: s.per_item,
        per_item_formula: s.per_item_formula,
        millis,
        problems,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    println!(
        "| cloud | scenario | writes | lower bound | writes/bound | one call per port/rule | reads | passes | ms |"
    );
    println!("|---|---|---:|---|---:|---|---:|---:|---:|");
    let mut failed = 0;
    for s in scenarios() {
        let label = format!("{} {}", s.kind, s.name);
        if !filter.is_empty() && !filter.iter().any(|f| label.contains(f.as_str())) {
            continue;
        }
        let r = run(s).await;
        let ratio = if r.bound == 0 {
            "-".to_string()
        } else {
            format!("{:.2}", r.writes as f64 / r.bound as f64)
        };
        println!(
            "| {} | {} | {} | {} = {} | {} | {} ({}) | {} | {} | {} |",
            r.cloud,
            r.name,
            r.writes,
            r.bound_formula,
            r.bound,
            ratio,
            r.per_item,
            r.per_item_formula,
            r.reads,
            r.passes,
            r.millis
        );
        if !r.problems.is_empty() {
            failed += 1;
            for p in r.problems.iter().take(5) {
                eprintln!("  {}: {}: {p}", r.cloud, r.name);
            }
        }
    }
    println!();
    println!(
        "writes and reads: the simulator's call counts over every pass until a pass planned nothing (the last pass only reads)."
    );
    if failed > 0 {
        eprintln!("{failed} scenario(s) did not end as desired");
        std::process::exit(1);
    }
}
