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

use secgroup_test_support::scenarios;

use std::sync::{Arc, Mutex};

use futures::future::join_all;
use scenarios::{ClientOptions, Cloud, Path, Scenario};
use secgroup_controller::cloud::retry::RetryPolicy;
use secgroup_controller::model::ProviderKind;
use secgroup_controller::reconcile::ExecEvent;
use secgroup_controller::sim::{Faults, PortFailure, RateLimit};

const MAX_ROUNDS: usize = 30;

fn scenarios(kind: ProviderKind) -> Vec<Scenario> {
    vec![
        scenarios::join(kind, 45),
        scenarios::move_ports(kind, 25),
        scenarios::leave(kind, 21, 2),
        scenarios::rules_change(kind, 30, 10, 10),
        scenarios::create_and_join(kind, 25, 5),
        scenarios::spread(kind, 60, 3, true),
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

/// What went wrong in one scenario, as text (empty: all good), and
/// whether any injected fault bit.
async fn run(s: Scenario, seed: u64, path: Path) -> (Vec<String>, bool) {
    let label = format!("{} {} (seed {seed}, {path:?})", s.kind, s.name);
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
                ..scenarios::fast_retry()
            }),
        },
    )
    .await;
    scenarios::prepare(&cloud, &s).await;

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
                let empty = scenarios::groupless(cloud);
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
    let mut hit = false;
    // Round 1 with the partial failures, then the rest without them.
    let first_round = scenarios::sync_once(&cloud, &s.desired, &mut on_event).await;
    let first_failed = match &first_round {
        Ok(out) => out.execution.as_ref().is_some_and(|x| !x.complete()),
        Err(_) => true,
    };
    cloud.sim.set_faults(faults(seed + 1));
    match scenarios::converge_on(&cloud, &s.desired, MAX_ROUNDS, path, &mut on_event).await {
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
            hit = injected > 0 || first_failed || r.failed_rounds > 0;
        }
        Err(r) => problems.push(format!(
            "{label}: not converged in {MAX_ROUNDS} rounds; last errors {:?}",
            r.errors.iter().rev().take(3).collect::<Vec<_>>()
        )),
    }
    cloud.sim.set_faults(Faults::default());
    for p in scenarios::check_end_state(&cloud, &s) {
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
    (problems, hit)
}

/// Each scenario twice: every round reading everything, and one session
/// whose later rounds read only what earlier ones wrote.
async fn run_all(kind: ProviderKind) {
    let runs = [Path::Full, Path::Incremental]
        .into_iter()
        .flat_map(|path| {
            scenarios(kind)
                .into_iter()
                .enumerate()
                .map(move |(i, s)| run(s, 1000 + i as u64, path))
        });
    let results = join_all(runs).await;
    // The faults must bite, or the test proves nothing. Batched reads make
    // some scenarios a handful of calls, which a 20% rate can miss.
    let hits = results.iter().filter(|(_, hit)| *hit).count();
    assert!(
        hits * 2 >= results.len(),
        "faults bit in only {hits} of {} runs",
        results.len()
    );
    let problems: Vec<String> = results.into_iter().flat_map(|(p, _)| p).collect();
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
    for kind in scenarios::kinds() {
        let s = scenarios::create_and_join(kind, 3, 2);
        let cloud = Cloud::start(
            kind,
            s.state.clone(),
            Faults::default(),
            ClientOptions::default(),
        )
        .await;
        let problems = scenarios::check_end_state(&cloud, &s);
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
                let rule = scenarios::rule(kind, 1);
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
        let dups = scenarios::duplicates(&state, kind);
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

/// The one-shot CLI against a cloud failing half its calls with 5xx.
/// Writes keep their safe-retry rules, so `apply` may stop at a failed
/// write and is run again (groups it created are found by their owner
/// tag) until it exits 0. Then the cloud matches, and what is left is
/// reading it: with a read budget every read gets through, so five
/// `plan --detailed-exitcode` runs in a row exit 0 with no changes. (With
/// four tries per read, about one read in 16 failed outright and each run
/// of some 25 reads exited 1 four times in five.) Retries are reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exits_0_with_half_the_calls_failing() {
    use secgroup_controller::cli::Exit;
    use secgroup_test_support::cli_harness::{example, example_sim, run_sim};

    let sim = example_sim().await;
    sim.set_faults(Faults {
        error_rate: 0.5,
        seed: 7,
        ..Faults::default()
    });
    let dir = example("huawei");
    // A short budget and fast backoff keep the test quick; the logic is
    // the production one.
    let fast = [
        "--read-retry-budget",
        "20s",
        "--retry-base-delay",
        "1ms",
        "--retry-max-delay",
        "10ms",
    ];
    let args = |cmd: &'static str, extra: &[&'static str]| -> Vec<String> {
        [cmd, "-f", dir.as_str(), "--cloud", "sim"]
            .iter()
            .chain(extra)
            .chain(fast.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let mut applies = 0;
    loop {
        applies += 1;
        let a = args("apply", &[]);
        let r = run_sim(&a.iter().map(String::as_str).collect::<Vec<_>>(), &sim).await;
        if r.exit == Exit::Success {
            break;
        }
        assert!(applies < 40, "apply never exited 0:\n{}", r.all());
    }
    let mut retried = false;
    for i in 0..5 {
        let a = args("plan", &["--detailed-exitcode"]);
        let r = run_sim(&a.iter().map(String::as_str).collect::<Vec<_>>(), &sim).await;
        assert_eq!(
            r.exit,
            Exit::Success,
            "plan {i} after convergence:\n{}",
            r.all()
        );
        assert!(r.out.contains("No changes"), "{}", r.out);
        retried |= r
            .err
            .lines()
            .any(|l| l.trim_start().starts_with("retrying ") && l.contains("read budget used"));
    }
    assert!(retried, "retries of reads are reported");
    let log = sim.request_log();
    let failed = log.iter().filter(|e| e.status >= 500).count();
    assert!(
        failed * 3 > log.len(),
        "the faults bit: {failed} of {} calls failed",
        log.len()
    );
    eprintln!(
        "converged after {applies} applies; {failed} of {} calls answered 5xx",
        log.len()
    );
    sim.shutdown().await;
}
