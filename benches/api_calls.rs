//! API calls per scenario: structured changes run through
//! `reconcile::prepare`/`reconcile::execute` and the real clients against the simulator. For each,
//! the writes and reads the simulator counted, the planner's documented
//! lower bound on writes, their ratio (target 1.00), and what one call per
//! port or per rule (how the peers' tools work) would cost. Then full
//! observations: the bulk reads a resync makes for an account (groups
//! with their rules, every port holding them, named ports outside them),
//! with the lower bound on reads those calls allow.
//!
//! Run: `cargo bench --bench api_calls` (prints Markdown tables; the
//! figures are call counts, so they do not depend on the machine). An
//! argument filters scenarios by substring, e.g.
//! `cargo bench --bench api_calls -- huawei` or `-- observation`. Each
//! scenario run is also written as one JSON object a line to
//! `target/bench/api_calls.jsonl` (`cloud`, `scenario`, `reads`, `writes`,
//! `reads_bound`, `writes_bound`, ...; `null` where a scenario states no
//! bound), counted from the simulator's per-endpoint counts.

use secgroup_test_support::scenarios as support;

use std::io::Write;
use std::time::Instant;

use secgroup_controller::model::ProviderKind;
use secgroup_controller::sim::Faults;
use serde_json::json;
use support::{ClientOptions, Cloud, Observation, Scenario};

fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for kind in support::kinds() {
        for n in [1, 20, 45, 1000] {
            out.push(support::join(kind, n));
        }
        for k in [1, 20, 45, 1000] {
            out.push(support::move_ports(kind, k));
        }
        for (n, l) in [(1, 3), (20, 3), (21, 2), (45, 3), (1000, 3)] {
            out.push(support::leave(kind, n, l));
        }
        // Baidu holds 50 rules per direction, and rules are created before
        // the old ones go: keep have + replaced within 50.
        out.push(support::rules_change(kind, 0, 0, 40));
        out.push(support::rules_change(kind, 30, 20, 0));
        out.push(support::rules_change(kind, 30, 10, 10));
        if kind == ProviderKind::Huawei {
            out.push(support::rules_change(kind, 0, 0, 1000));
            out.push(support::rules_change(kind, 400, 200, 0));
            // Rules of several SecurityGroupRules share the batch calls.
            out.push(support::rule_owners(kind, 10, 40));
        } else {
            // Within Baidu's 50 rules per direction.
            out.push(support::rule_owners(kind, 10, 4));
        }
        out.push(support::spread(kind, 1000, 10, false));
        out.push(support::spread(kind, 1000, 10, true));
        out.push(support::create_and_join(kind, 45, 10));
    }
    out
}

fn observations() -> Vec<Observation> {
    support::kinds()
        .into_iter()
        // 10,000 ports in 10 groups of 5 rules; 20 named ports outside
        // them; on Baidu 10 instances with an elastic NIC.
        .map(|kind| support::full_observation(kind, 10_000, 10, 5, 20, 10))
        .collect()
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

/// The simulator seeded with `state` and the production client for it.
async fn start(kind: ProviderKind, state: &secgroup_controller::sim::SimState) -> Cloud {
    Cloud::start(
        kind,
        state.clone(),
        Faults::default(),
        ClientOptions::default(),
    )
    .await
}

async fn run(s: Scenario) -> Row {
    let cloud = start(s.kind, &s.state).await;
    support::prepare(&cloud, &s).await;
    let started = Instant::now();
    let rounds = support::converge(&cloud, &s.desired, 5, &mut |_| {}).await;
    let millis = started.elapsed().as_millis();
    let (reads, writes) = cloud.endpoint_reads_writes();
    let mut problems = support::check_end_state(&cloud, &s);
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

struct ObservationRow {
    cloud: ProviderKind,
    name: String,
    reads: u64,
    writes: u64,
    bound: u64,
    bound_formula: String,
    per_item: u64,
    per_item_formula: String,
    millis: u128,
    problems: Vec<String>,
}

async fn observe(o: Observation) -> ObservationRow {
    let cloud = start(o.kind, &o.state).await;
    support::prepare_observation(&cloud, &o).await;
    let started = Instant::now();
    let read = support::observe_fully(cloud.client.as_ref(), &o.groups, &o.named_ports).await;
    let millis = started.elapsed().as_millis();
    let (reads, writes) = cloud.endpoint_reads_writes();
    let problems = match &read {
        Ok((groups, ports)) => support::check_observation(&cloud, &o, groups, ports),
        Err(e) => vec![format!("the observation failed: {e}")],
    };
    cloud.sim.shutdown().await;
    ObservationRow {
        cloud: o.kind,
        name: o.name,
        reads,
        writes,
        bound: o.reads_bound,
        bound_formula: o.reads_bound_formula,
        per_item: o.per_item,
        per_item_formula: o.per_item_formula,
        millis,
        problems,
    }
}

/// Print the first problems of a scenario; whether it had any.
fn report_problems(cloud: ProviderKind, name: &str, problems: &[String]) -> bool {
    for p in problems.iter().take(5) {
        eprintln!("  {cloud}: {name}: {p}");
    }
    !problems.is_empty()
}

fn write_line(out: &mut std::fs::File, value: &serde_json::Value) {
    writeln!(out, "{value}").expect("the JSONL file can be written");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |kind: ProviderKind, name: &str| {
        let label = format!("{kind} {name}");
        filter.is_empty() || filter.iter().any(|f| label.contains(f.as_str()))
    };
    let mut out = secgroup_test_support::bench_jsonl("api_calls");
    let mut failed = 0;
    let changes: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|s| wanted(s.kind, &s.name))
        .collect();
    if !changes.is_empty() {
        failed += run_changes(changes, &mut out).await;
    }
    let observed: Vec<Observation> = observations()
        .into_iter()
        .filter(|o| wanted(o.kind, &o.name))
        .collect();
    if !observed.is_empty() {
        failed += run_observations(observed, &mut out).await;
    }
    if failed > 0 {
        eprintln!("{failed} scenario(s) did not end as desired");
        std::process::exit(1);
    }
}

async fn run_observations(observed: Vec<Observation>, out: &mut std::fs::File) -> usize {
    println!(
        "| cloud | scenario | reads | read lower bound | reads/bound | one read per group and port | writes | ms |"
    );
    println!("|---|---|---:|---|---:|---|---:|---:|");
    let mut failed = 0;
    for o in observed {
        let r = observe(o).await;
        println!(
            "| {} | {} | {} | {} = {} | {:.2} | {} ({}) | {} | {} |",
            r.cloud,
            r.name,
            r.reads,
            r.bound_formula,
            r.bound,
            r.reads as f64 / r.bound.max(1) as f64,
            r.per_item,
            r.per_item_formula,
            r.writes,
            r.millis
        );
        write_line(
            out,
            &json!({
                "cloud": r.cloud.to_string(),
                "scenario": r.name,
                "reads": r.reads,
                "writes": r.writes,
                "reads_bound": r.bound,
                "reads_bound_formula": r.bound_formula,
                "writes_bound": 0,
                "per_item": r.per_item,
                "ms": r.millis,
                "ok": r.problems.is_empty(),
            }),
        );
        failed += usize::from(report_problems(r.cloud, &r.name, &r.problems));
    }
    println!();
    println!(
        "reads and writes: the simulator's per-endpoint counts for one full observation (get_groups + ports_in_groups of the groups, then get_ports of the named ports not found)."
    );
    failed
}

async fn run_changes(changes: Vec<Scenario>, out: &mut std::fs::File) -> usize {
    println!(
        "| cloud | scenario | writes | lower bound | writes/bound | one call per port/rule | reads | passes | ms |"
    );
    println!("|---|---|---:|---|---:|---|---:|---:|---:|");
    let mut failed = 0;
    for s in changes {
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
        write_line(
            out,
            &json!({
                "cloud": r.cloud.to_string(),
                "scenario": r.name,
                "reads": r.reads,
                "writes": r.writes,
                // These scenarios state the planner's bound on writes only.
                "reads_bound": null,
                "writes_bound": r.bound,
                "writes_bound_formula": r.bound_formula,
                "per_item": r.per_item,
                "passes": r.passes,
                "ms": r.millis,
                "ok": r.problems.is_empty(),
            }),
        );
        failed += usize::from(report_problems(r.cloud, &r.name, &r.problems));
    }
    println!();
    println!(
        "writes and reads: the simulator's per-endpoint call counts over every pass until a pass planned nothing (the last pass only reads)."
    );
    println!();
    failed
}
