//! Both clients under injected faults: retries of 5xx and 429 (with
//! `Retry-After`), what is never retried, lost answers (the connection
//! dropped after the change was applied), and the client-side rate limit.

use secgroup_test_support::clients;

use clients::*;
use secgroup_controller::cloud::{
    CloudError, CloudProvider, Credentials, NewGroup, OWNER_TAG, ProviderSettings, connect,
};
use secgroup_controller::model::{ProviderKind, Rule};
use secgroup_controller::plan::normalize::{RawRule, normalize_rule};
use secgroup_controller::sim::{
    Account, DropConnection, DropWhen, FailNext, Faults, RateLimit, SimHandle, SimState,
};

fn state() -> SimState {
    SimState::new()
        .with_account(huawei_account())
        .with_account(baidu_account())
        .with_account(Account::baidu(BD_AK2, BD_SK2))
        .with_huawei_group(PROJECT, &uid(1), "one")
        .with_huawei_group(PROJECT, &uid(2), "two")
        .with_huawei_port(PROJECT, &uid(101), &[&uid(1)])
        .with_baidu_group("g-one", "one", "vpc-1")
        .with_baidu_group("g-two", "two", "vpc-1")
        .with_baidu_instance("i-a", &["g-one"])
        .with_baidu_instance("i-b", &["g-one"])
}

const BD_AK2: &str = "bdtestaccesskey00000000000000002";
const BD_SK2: &str = "bd-second-secret";

fn fail_next(operation: &str, count: u32, status: u16, code: &str) -> Faults {
    Faults {
        fail_next: vec![FailNext {
            operation: operation.into(),
            count,
            status,
            code: code.into(),
            message: String::new(),
        }],
        ..Faults::default()
    }
}

fn drop_after(operation: &str) -> Faults {
    Faults {
        drop_connections: vec![DropConnection {
            operation: operation.into(),
            when: DropWhen::After,
            count: 1,
        }],
        ..Faults::default()
    }
}

fn outcomes(sim: &SimHandle, operation: &str) -> Vec<String> {
    sim.request_log()
        .into_iter()
        .filter(|e| e.operation == operation)
        .map(|e| e.outcome)
        .collect()
}

fn hw_group(name: &str, owner: &str) -> NewGroup {
    NewGroup {
        name: name.into(),
        description: String::new(),
        vpc_id: Some("vpc-1".into()),
        tags: vec![(OWNER_TAG.into(), owner.into())],
    }
}

fn baidu_rule() -> Rule {
    normalize_rule(
        &RawRule {
            direction: "ingress",
            protocol: Some("tcp"),
            ports: Some("443"),
            remote_ip_prefix: Some("10.0.0.0/8"),
            description: Some("https"),
            ..Default::default()
        },
        ProviderKind::Baidu,
    )
    .unwrap()
}

// -- 5xx ---------------------------------------------------------------------

#[tokio::test]
async fn reads_and_safe_writes_are_retried_through_5xx() {
    let sim = start(state()).await;
    let hw = huawei(&sim);
    sim.set_faults(fail_next("huawei.showPort", 2, 503, "VPC.0500"));
    let port = hw.get_port(&uid(101)).await.unwrap().unwrap();
    assert_eq!(port.groups, [uid(1)]);
    assert_eq!(
        outcomes(&sim, "huawei.showPort"),
        ["injected", "injected", "ok"]
    );

    sim.set_faults(fail_next("huawei.insertSecurityGroups", 1, 500, "VPC.0500"));
    let port = hw
        .add_port_groups(&uid(101), &[uid(2)], Some(0))
        .await
        .unwrap();
    assert_eq!(port.groups, [uid(2), uid(1)]);

    let bd = baidu(&sim);
    sim.set_faults(fail_next("baidu.authorizeRule", 1, 500, "InternalError"));
    bd.create_rules("g-one", &[baidu_rule()], Some(0))
        .await
        .unwrap();
    assert_eq!(sim.baidu_group("g-one").unwrap().sg_version, 1);
    assert_eq!(outcomes(&sim, "baidu.authorizeRule"), ["injected", "ok"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn retries_stop_at_the_attempt_limit() {
    let sim = start(state()).await;
    let hw = huawei(&sim);
    sim.set_faults(fail_next("huawei.showPort", 10, 502, "VPC.0500"));
    let err = hw.get_port(&uid(101)).await.unwrap_err();
    assert!(matches!(err, CloudError::Server(_)), "{err:?}");
    assert_eq!(err.detail().unwrap().status, 502);
    assert_eq!(
        sim.call_count("huawei.showPort"),
        4,
        "fast_retry() allows 4 attempts"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_that_retrying_cannot_fix_are_not_retried() {
    let sim = start(state()).await;
    let hw = huawei(&sim);
    sim.set_faults(fail_next("huawei.showSecurityGroup", 1, 400, "VPC.0602"));
    let err = hw.get_group(&uid(1)).await.unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest(_)), "{err:?}");
    assert_eq!(sim.call_count("huawei.showSecurityGroup"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_create_without_a_token_is_not_retried_after_a_5xx() {
    let sim = start(state()).await;
    let hw = huawei(&sim);
    sim.set_faults(fail_next("huawei.createSecurityGroup", 1, 500, "VPC.0500"));
    let err = hw
        .create_group(&hw_group("web", "uid-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Server(_)), "{err:?}");
    assert_eq!(sim.call_count("huawei.createSecurityGroup"), 1);
    sim.shutdown().await;
}

// -- 429 ---------------------------------------------------------------------

#[tokio::test]
async fn throttling_waits_out_retry_after() {
    let sim = start(state()).await;
    let hw = huawei(&sim);
    sim.set_faults(Faults {
        rate_limit: Some(RateLimit {
            requests: 1,
            per_seconds: 1,
        }),
        ..Faults::default()
    });
    hw.get_port(&uid(101)).await.unwrap();
    // Over the rate: 429 APIG.0308 with Retry-After, waited out, then served.
    let port = hw.get_port(&uid(101)).await.unwrap().unwrap();
    assert_eq!(port.groups, [uid(1)]);
    let log = outcomes(&sim, "huawei.showPort");
    assert_eq!(log.first().map(String::as_str), Some("ok"));
    assert_eq!(log.last().map(String::as_str), Some("ok"));
    assert!(log.iter().any(|o| o == "throttled"), "{log:?}");
    let throttled = sim
        .request_log()
        .into_iter()
        .find(|e| e.outcome == "throttled")
        .unwrap();
    assert_eq!(throttled.status, 429);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_create_is_retried_after_429_since_the_gateway_refused_it() {
    let sim = start(state()).await;
    let hw = huawei(&sim);
    sim.set_faults(fail_next("huawei.createSecurityGroup", 1, 429, "APIG.0308"));
    let id = hw.create_group(&hw_group("web", "uid-1")).await.unwrap();
    assert_eq!(
        outcomes(&sim, "huawei.createSecurityGroup"),
        ["injected", "ok"]
    );
    let found = hw.find_groups_by_tag(OWNER_TAG, "uid-1").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, id);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_waits_goes_back_to_the_caller() {
    let sim = start(state()).await;
    let bd = baidu(&sim);
    sim.set_faults(Faults {
        rate_limit: Some(RateLimit {
            requests: 1,
            per_seconds: 60,
        }),
        ..Faults::default()
    });
    bd.get_group("g-one").await.unwrap();
    let err = bd.get_group("g-one").await.unwrap_err();
    let CloudError::Throttled {
        detail,
        retry_after,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(detail.code, "RequestRateLimitExceeded");
    let after = retry_after.expect("the server's Retry-After is kept");
    assert!(after.as_secs() > 5 && after.as_secs() <= 60, "{after:?}");
    assert_eq!(sim.call_count("baidu.getSecurityGroup"), 2, "not retried");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_client_side_limit_keeps_the_account_under_the_cloud_limit() {
    let sim = start(state()).await;
    sim.set_faults(Faults {
        rate_limit: Some(RateLimit {
            requests: 3,
            per_seconds: 1,
        }),
        ..Faults::default()
    });
    let settings = |rate| ProviderSettings {
        kind: ProviderKind::Baidu,
        region: "bj".into(),
        project_id: None,
        endpoint: Some(sim.url()),
        max_requests_per_second: rate,
    };

    let by_key = |key: &str| -> Vec<String> {
        sim.request_log()
            .into_iter()
            .filter(|e| e.access_key.as_deref() == Some(key))
            .map(|e| e.outcome)
            .collect()
    };

    // Control, on its own account (the cloud counts per access key):
    // unlimited, 8 calls in a row overrun the cloud's 3 a second.
    let unlimited = connect(&settings(None), Credentials::new(BD_AK2, BD_SK2), http()).unwrap();
    for _ in 0..8 {
        let _ = unlimited.get_group("g-one").await;
    }
    assert!(
        by_key(BD_AK2).iter().any(|o| o == "throttled"),
        "without a client limit the cloud throttles"
    );

    // At 2 a second, evenly paced, no second ever sees more than 3.
    let limited = connect(&settings(Some(2)), Credentials::new(BD_AK, BD_SK), http()).unwrap();
    for _ in 0..7 {
        limited.get_group("g-one").await.unwrap();
    }
    let log = by_key(BD_AK);
    assert_eq!(log.len(), 7, "{log:?}");
    assert!(log.iter().all(|o| o == "ok"), "{log:?}");
    sim.shutdown().await;
}

// -- lost answers ------------------------------------------------------------

#[tokio::test]
async fn baidu_rule_change_whose_answer_was_lost_is_applied_once() {
    let sim = start(state()).await;
    let bd = baidu(&sim);
    sim.set_faults(drop_after("baidu.authorizeRule"));
    bd.create_rules("g-one", &[baidu_rule()], Some(0))
        .await
        .unwrap();
    assert_eq!(
        outcomes(&sim, "baidu.authorizeRule"),
        ["dropped-after", "replayed"],
        "the retry carried the same clientToken"
    );
    assert_eq!(
        sim.baidu_group("g-one").unwrap().sg_version,
        1,
        "one change"
    );
    assert_eq!(sim.baidu_group_rules("g-one").unwrap().len(), 1);

    // The same for a revoke.
    sim.set_faults(drop_after("baidu.revokeRule"));
    bd.delete_rule("g-one", "", &baidu_rule(), Some(1))
        .await
        .unwrap();
    assert_eq!(
        outcomes(&sim, "baidu.revokeRule"),
        ["dropped-after", "replayed"]
    );
    assert_eq!(sim.baidu_group("g-one").unwrap().sg_version, 2);
    assert!(sim.baidu_group_rules("g-one").unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_create_and_batch_bind_whose_answers_were_lost_act_once() {
    let sim = start(state()).await;
    let bd = baidu(&sim);

    sim.set_faults(drop_after("baidu.createSecurityGroup"));
    let id = bd.create_group(&hw_group("web", "uid-web")).await.unwrap();
    assert_eq!(
        outcomes(&sim, "baidu.createSecurityGroup"),
        ["dropped-after", "replayed"]
    );
    let found = bd.find_groups_by_tag(OWNER_TAG, "uid-web").await.unwrap();
    assert_eq!(found.len(), 1, "one group, not two");
    assert_eq!(found[0].id, id);

    sim.set_faults(drop_after("baidu.batchBind"));
    let outcome = bd
        .attach_ports(&id, &["i-a".into(), "i-b".into()])
        .await
        .unwrap();
    assert!(outcome.failed.is_empty());
    assert_eq!(
        outcomes(&sim, "baidu.batchBind"),
        ["dropped-after", "replayed"]
    );
    assert_eq!(
        sim.baidu_instance_groups("i-a").unwrap(),
        ["g-one", id.as_str()]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_port_change_whose_answer_was_lost_is_retried_safely() {
    let sim = start(state()).await;
    let hw = huawei(&sim);
    sim.set_faults(drop_after("huawei.insertSecurityGroups"));
    let port = hw
        .add_port_groups(&uid(101), &[uid(2)], Some(0))
        .await
        .unwrap();
    assert_eq!(port.groups, [uid(2), uid(1)]);
    assert_eq!(
        outcomes(&sim, "huawei.insertSecurityGroups"),
        ["dropped-after", "ok"]
    );

    sim.set_faults(drop_after("huawei.batchInstanceAction"));
    let outcome = hw.detach_ports(&uid(2), &[uid(101)]).await.unwrap();
    assert!(outcome.failed.is_empty());
    assert_eq!(sim.huawei_port_groups(&uid(101)).unwrap(), [uid(1)]);
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_create_whose_answer_was_lost_is_not_repeated() {
    let sim = start(state()).await;
    let hw = huawei(&sim);
    sim.set_faults(drop_after("huawei.createSecurityGroup"));
    let err = hw
        .create_group(&hw_group("web", "uid-lost"))
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Transport(_)), "{err:?}");
    assert_eq!(
        sim.call_count("huawei.createSecurityGroup"),
        1,
        "not sent again"
    );
    // The group was made; its owner tag finds it, so the caller does not
    // create a second one.
    let found = hw.find_groups_by_tag(OWNER_TAG, "uid-lost").await.unwrap();
    assert_eq!(found.len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_connection_that_never_opens_is_a_transport_error() {
    let sim = start(state()).await;
    let url = sim.url();
    sim.shutdown().await;
    let hw = secgroup_controller::cloud::huawei::HuaweiClient::new(
        &url,
        PROJECT,
        Credentials::new(HW_AK, HW_SK),
        http(),
    )
    .unwrap()
    .with_retry_policy(fast_retry());
    let err = hw.get_port(&uid(101)).await.unwrap_err();
    assert!(matches!(err, CloudError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(!err.to_string().contains(HW_SK));
}

// -- answers that cannot be understood ---------------------------------------

#[tokio::test]
async fn an_answer_of_the_wrong_shape_is_a_decode_error() {
    let sim = start(state()).await;
    let hw = huawei(&sim);
    // A 200 whose body is not a port.
    sim.set_faults(fail_next("huawei.showPort", 1, 200, "VPC.0000"));
    let err = hw.get_port(&uid(101)).await.unwrap_err();
    assert!(matches!(err, CloudError::Decode(_)), "{err:?}");
    assert!(err.to_string().contains("showPort"), "{err}");
    assert!(!err.is_retryable());

    // A dry run the cloud answered 200 (as if it had applied it) is not
    // taken for a passed check.
    sim.set_faults(fail_next("huawei.updateSecurityGroup", 1, 200, "VPC.0000"));
    let err = hw
        .update_group_dry_run(&uid(1), Some("x"), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("instead of 202"), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn baidu_validation_errors_are_invalid_requests_and_not_retried() {
    let sim = start(state()).await;
    let bd = baidu(&sim);
    sim.set_faults(fail_next(
        "baidu.authorizeRule",
        1,
        400,
        "SecurityGroup.RulePortRangeInvalid",
    ));
    let err = bd
        .create_rules("g-one", &[baidu_rule()], Some(0))
        .await
        .unwrap_err();
    let CloudError::InvalidRequest(d) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(d.code, "SecurityGroup.RulePortRangeInvalid");
    assert!(d.request_id.is_some());
    assert_eq!(sim.call_count("baidu.authorizeRule"), 1);
    assert_eq!(sim.baidu_group("g-one").unwrap().sg_version, 0);
    sim.shutdown().await;
}
