//! Reliability under injected faults: with 20% of calls answered 5xx,
//! 429 bursts with `Retry-After`, added latency, and (Huawei) partial
//! batch failures, every scenario converges through repeated sync rounds
//! (at most 30); no group or rule is created twice (checked on the
//! simulator's own state); no port ever holds zero groups (checked after
//! every executed step); and the simulator's log of refused unsafe
//! requests stays empty.
//!
//! Scenarios run concurrently, each against its own simulator, so the
//! `Retry-After` waits overlap.

mod reliability_common;

use std::sync::{Arc, Mutex};

use futures::future::join_all;
use reliability_common::{ClientOptions, Cloud, Scenario};
use secgroup_controller::cloud::retry::RetryPolicy;
use secgroup_controller::model::ProviderKind;
use secgroup_controller::reconcile::ExecEvent;
use secgroup_controller::sim::{Faults, PortFailure, RateLimit};

const MAX_ROUNDS: usize = 30;

fn scenarios(kind: ProviderKind) -> Vec<Scenario> {
    vec![
        reliability_common::join(kind, 45),
        reliability_common::move_ports(kind, 25),
        reliability_common::leave(kind, 21, 2),
        reliability_common::rules_change(kind, 30, 10, 10),
        reliability_common::create_and_join(kind, 25, 5),
        reliability_common::spread(kind, 60, 3, true),
    ]
}

fn faults(seed: u64) -> Faults {
    Faults {
        latency_ms: 2,
        error_rate: 0.2,
        seed,
        // The client runs far faster than 30 calls a second against a
        // local simulator, so every busy second ends in a 429 burst.
        rate_limit: Some(RateLimit {
            requests: 30,
            per_seconds: 1,
        }),
        ..Faults::default()
    }
}

/// What went wrong in one scenario, as text (empty: all good).
async fn run(s: Scenario, seed: u64) -> Vec<String> {
    let label = format!("{} {} (seed {seed})", s.kind, s.name);
    let cloud = Cloud::start(
        s.kind,
        s.state.clone(),
        Faults::default(),
        ClientOptions {
            rate: None,
            // Three attempts: enough 5xx get through the retries to break
            // rounds, so convergence by re-planning is tested too.
            retry: Some(RetryPolicy {
                max_attempts: 3,
                ..reliability_common::fast_retry()
            }),
        },
    )
    .await;
    reliability_common::prepare(&cloud, &s).await;

    // Partial batch failures (Huawei's batch call reports per-port
    // failures inside a 200): two of the ports fail in the first round.
    let mut first = faults(seed);
    if s.kind == ProviderKind::Huawei {
        first.port_failures = cloud
            .all_ports()
            .into_keys()
            .take(2)
            .map(|port_id| PortFailure {
                port_id,
                error_code: "VPC.0608".into(),
                error_msg: "injected".into(),
            })
            .collect();
    }
    cloud.sim.set_faults(first);

    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut on_event = {
        let violations = violations.clone();
        let cloud = &cloud;
        move |e: ExecEvent<'_>| {
            if let ExecEvent::Finished { step, .. } = e {
                let empty = reliability_common::groupless(cloud);
                if !empty.is_empty() {
                    violations
                        .lock()
                        .expect("not poisoned")
                        .push(format!("after {}: groupless {empty:?}", step.op.kind()));
                }
            }
        }
    };

    let mut problems = Vec::new();
    // Round 1 with the partial failures, then the rest without them.
    let first_round = reliability_common::sync_once(&cloud, &s.desired, &mut on_event).await;
    let first_failed = match &first_round {
        Ok(out) => out.execution.as_ref().is_some_and(|x| !x.complete()),
        Err(_) => true,
    };
    cloud.sim.set_faults(faults(seed + 1));
    match reliability_common::converge(&cloud, &s.desired, MAX_ROUNDS, &mut on_event).await {
        Ok(r) => {
            // The faults must have bitten, or the test proves nothing.
            let log = cloud.sim.request_log();
            let injected = log.iter().filter(|e| e.status >= 500).count();
            let throttled = log.iter().filter(|e| e.status == 429).count();
            eprintln!(
                "{label}: first round {}, then converged in {} rounds ({} failed), {} calls, {injected} 5xx, {throttled} 429",
                if first_failed { "failed" } else { "ok" },
                r.rounds,
                r.failed_rounds,
                log.len()
            );
            if injected == 0 && !first_failed && r.failed_rounds == 0 {
                problems.push(format!("{label}: no fault was ever hit"));
            }
        }
        Err(r) => problems.push(format!(
            "{label}: not converged in {MAX_ROUNDS} rounds; last errors {:?}",
            r.errors.iter().rev().take(3).collect::<Vec<_>>()
        )),
    }
    cloud.sim.set_faults(Faults::default());
    for p in reliability_common::check_end_state(&cloud, &s) {
        problems.push(format!("{label}: {p}"));
    }
    for v in violations.lock().expect("not poisoned").iter() {
        problems.push(format!("{label}: {v}"));
    }
    let refused = cloud.sim.refused_log();
    if !refused.is_empty() {
        problems.push(format!("{label}: refused unsafe requests {refused:?}"));
    }
    cloud.sim.shutdown().await;
    problems
}

async fn run_all(kind: ProviderKind) {
    let runs = scenarios(kind)
        .into_iter()
        .enumerate()
        .map(|(i, s)| run(s, 1000 + i as u64));
    let problems: Vec<String> = join_all(runs).await.into_iter().flatten().collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_scenarios_converge_under_faults() {
    run_all(ProviderKind::Huawei).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baidu_scenarios_converge_under_faults() {
    run_all(ProviderKind::Baidu).await;
}

/// The checks above can fail: an unsynced cloud misses its expectations,
/// and a second group with the same owner tag or a repeated rule is seen.
#[tokio::test]
async fn the_checks_see_unconverged_and_duplicated_state() {
    for kind in reliability_common::kinds() {
        let s = reliability_common::create_and_join(kind, 3, 2);
        let cloud = Cloud::start(
            kind,
            s.state.clone(),
            Faults::default(),
            ClientOptions::default(),
        )
        .await;
        let problems = reliability_common::check_end_state(&cloud, &s);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("0 groups carry owner tag")),
            "{problems:?}"
        );
        // Create the group twice by hand, with a rule twice.
        let group = secgroup_controller::cloud::NewGroup {
            name: "fresh".into(),
            description: String::new(),
            vpc_id: Some("vpc-1".into()),
            tags: vec![(
                secgroup_controller::cloud::OWNER_TAG.into(),
                "uid-fresh".into(),
            )],
        };
        let a = cloud.client.create_group(&group).await.expect("create");
        cloud
            .client
            .create_group(&group)
            .await
            .expect("create again");
        let mut state = cloud.sim.snapshot();
        match kind {
            ProviderKind::Huawei => {
                let g = state
                    .huawei
                    .security_groups
                    .iter_mut()
                    .find(|g| g.id == a)
                    .expect("created");
                let r = g.rules.first().cloned().expect("Huawei adds default rules");
                g.rules.push(r);
            }
            ProviderKind::Baidu => {
                let rule = reliability_common::rule(kind, 1);
                cloud
                    .client
                    .create_rules(&a, &[rule], None)
                    .await
                    .expect("rule");
                state = cloud.sim.snapshot();
                let g = state
                    .baidu
                    .security_groups
                    .iter_mut()
                    .find(|g| g.id == a)
                    .expect("created");
                let mut r = g.rules[0].clone();
                r.security_group_rule_id.push('x');
                g.rules.push(r);
            }
        }
        let dups = reliability_common::duplicates(&state, kind);
        assert!(
            dups.iter()
                .any(|d| d.contains("2 groups carry owner tag uid-fresh")),
            "{dups:?}"
        );
        assert!(
            dups.iter().any(|d| d.contains("duplicate rule")),
            "{dups:?}"
        );
        cloud.sim.shutdown().await;
    }
}
