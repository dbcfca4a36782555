//! The shared I/O core: observe and execute against a recording test double
//! of `CloudProvider`. (End-to-end behaviour against the simulator and the
//! real clients is covered by the CLI and controller suites.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use secgroup_controller::cloud::{
    BatchOutcome, CloudError, CloudProvider, NewGroup, OWNER_TAG, PortFailure, PortFailureKind,
};
use secgroup_controller::model::*;
use secgroup_controller::reconcile::{ExecEvent, StepError, execute, observe};

/// Records every call as a line; fails the call whose 0-based number is
/// `fail_at` with a server error; ports in `refuse` fail inside batches.
#[derive(Default)]
struct Recorder {
    kind: Option<ProviderKind>,
    calls: Mutex<Vec<String>>,
    fail_at: Option<usize>,
    refuse: BTreeSet<String>,
    groups: BTreeMap<String, ObservedGroup>,
    ports: BTreeMap<String, ObservedPort>,
    members: BTreeMap<String, Vec<String>>,
}

impl Recorder {
    fn call(&self, line: String) -> Result<(), CloudError> {
        let mut calls = self.calls.lock().unwrap();
        let n = calls.len();
        calls.push(line);
        if self.fail_at == Some(n) {
            return Err(CloudError::Server(Default::default()));
        }
        Ok(())
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl CloudProvider for Recorder {
    fn kind(&self) -> ProviderKind {
        self.kind.unwrap_or(ProviderKind::Huawei)
    }
    async fn get_group(&self, id: &str) -> Result<Option<ObservedGroup>, CloudError> {
        self.call(format!("get_group {id}"))?;
        Ok(self.groups.get(id).cloned())
    }
    async fn find_groups_by_tag(&self, k: &str, v: &str) -> Result<Vec<ObservedGroup>, CloudError> {
        self.call(format!("find_groups_by_tag {k}={v}"))?;
        Ok(self
            .groups
            .values()
            .filter(|g| g.tags.get(k).map(String::as_str) == Some(v))
            .cloned()
            .collect())
    }
    async fn get_port(&self, id: &str) -> Result<Option<ObservedPort>, CloudError> {
        self.call(format!("get_port {id}"))?;
        Ok(self.ports.get(id).cloned())
    }
    async fn list_group_ports(&self, g: &str) -> Result<Vec<String>, CloudError> {
        self.call(format!("list_group_ports {g}"))?;
        Ok(self.members.get(g).cloned().unwrap_or_default())
    }
    async fn create_group(&self, g: &NewGroup) -> Result<String, CloudError> {
        self.call(format!("create_group {} tags={:?}", g.name, g.tags))?;
        Ok(format!("id-{}", g.name))
    }
    async fn update_group(
        &self,
        id: &str,
        n: Option<&str>,
        d: Option<&str>,
    ) -> Result<(), CloudError> {
        self.call(format!("update_group {id} {n:?} {d:?}"))
    }
    async fn delete_group(&self, id: &str) -> Result<(), CloudError> {
        self.call(format!("delete_group {id}"))
    }
    async fn create_rules(
        &self,
        g: &str,
        rules: &[Rule],
        v: Option<u64>,
    ) -> Result<(), CloudError> {
        let remotes: Vec<String> = rules.iter().map(|r| r.remote.to_string()).collect();
        self.call(format!("create_rules {g} {remotes:?} v={v:?}"))
    }
    async fn update_rule(
        &self,
        g: &str,
        id: &str,
        _r: &Rule,
        v: Option<u64>,
    ) -> Result<(), CloudError> {
        self.call(format!("update_rule {g} {id} v={v:?}"))
    }
    async fn delete_rule(
        &self,
        g: &str,
        id: &str,
        _r: &Rule,
        v: Option<u64>,
    ) -> Result<(), CloudError> {
        self.call(format!("delete_rule {g} {id} v={v:?}"))
    }
    async fn add_port_groups(
        &self,
        p: &str,
        gs: &[String],
        i: Option<u32>,
    ) -> Result<ObservedPort, CloudError> {
        self.call(format!("add_port_groups {p} {gs:?} {i:?}"))?;
        Ok(ObservedPort {
            id: p.into(),
            groups: gs.to_vec(),
        })
    }
    async fn remove_port_groups(&self, p: &str, gs: &[String]) -> Result<ObservedPort, CloudError> {
        self.call(format!("remove_port_groups {p} {gs:?}"))?;
        Ok(ObservedPort {
            id: p.into(),
            groups: vec![],
        })
    }
    async fn attach_ports(&self, g: &str, ps: &[String]) -> Result<BatchOutcome, CloudError> {
        self.call(format!("attach_ports {g} {ps:?}"))?;
        Ok(BatchOutcome {
            failed: ps
                .iter()
                .filter(|p| self.refuse.contains(*p))
                .map(|p| PortFailure {
                    port: p.clone(),
                    kind: PortFailureKind::NotFound,
                    code: "VPC.0608".into(),
                    message: "port not found".into(),
                })
                .collect(),
        })
    }
    async fn detach_ports(&self, g: &str, ps: &[String]) -> Result<BatchOutcome, CloudError> {
        self.call(format!("detach_ports {g} {ps:?}"))?;
        Ok(BatchOutcome::default())
    }
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("SecurityGroup", "default", name)
}

fn step(op: Operation) -> Step {
    Step {
        op,
        owners: vec![key("web")],
    }
}

fn any_rule(remote: Remote) -> Rule {
    Rule {
        direction: Direction::Ingress,
        ethertype: Ethertype::IPv4,
        protocol: Protocol::Tcp,
        ports: Ports::All,
        remote,
        action: Action::Allow,
        priority: Some(1),
        description: String::new(),
    }
}

fn group(id: &str, version: Option<u64>, tags: &[(&str, &str)]) -> ObservedGroup {
    ObservedGroup {
        id: id.into(),
        name: id.into(),
        description: String::new(),
        vpc_id: None,
        version,
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        rules: vec![],
    }
}

fn ports(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn intent(kind: &str, name: &str) -> Intent {
    Intent {
        owner: ObjectKey::new(kind, "default", name),
        mode: Mode::Apply,
        allow_mass_change: false,
    }
}

async fn run(
    cloud: &Recorder,
    plan: &Plan,
    observed: &ObservedState,
) -> (secgroup_controller::reconcile::ExecuteReport, Vec<String>) {
    let mut events = Vec::new();
    let report = execute(cloud, plan, observed, &mut |e| match e {
        ExecEvent::Started { index, .. } => events.push(format!("start {index}")),
        ExecEvent::Finished { index, result, .. } => {
            events.push(format!("end {index} ok={}", result.is_ok()))
        }
    })
    .await;
    (report, events)
}

#[tokio::test]
async fn created_group_ids_replace_new_handles_in_later_steps() {
    let cloud = Recorder::default();
    let new = GroupHandle::New(key("web"));
    let plan = Plan {
        steps: vec![
            step(Operation::CreateGroup {
                owner: key("web"),
                owner_uid: "uid-1".into(),
                name: "web".into(),
                description: "d".into(),
                vpc_id: None,
            }),
            step(Operation::CreateRules {
                group: new.clone(),
                rules: vec![any_rule(Remote::Group(new.clone()))],
            }),
            step(Operation::AttachPorts {
                group: new.clone(),
                ports: ports(&["p1", "p2"]),
            }),
            step(Operation::AddPortGroups {
                port: "p3".into(),
                groups: vec![new],
                index: Some(0),
            }),
        ],
    };
    let (report, events) = run(&cloud, &plan, &ObservedState::default()).await;
    assert!(report.complete(), "{report:?}");
    assert_eq!(
        report.created.get(&key("web")).map(String::as_str),
        Some("id-web")
    );
    assert_eq!(
        cloud.calls(),
        [
            format!("create_group web tags=[(\"{OWNER_TAG}\", \"uid-1\")]"),
            "create_rules id-web [\"group id-web\"] v=None".to_string(),
            "attach_ports id-web [\"p1\", \"p2\"]".to_string(),
            "add_port_groups p3 [\"id-web\"] Some(0)".to_string(),
        ]
    );
    assert_eq!(events.len(), 8);
    assert_eq!(events[0], "start 0");
    assert_eq!(events[7], "end 3 ok=true");
}

#[tokio::test]
async fn stops_at_the_first_failure_so_no_removal_follows_a_failed_add() {
    let cloud = Recorder {
        fail_at: Some(0),
        ..Default::default()
    };
    let plan = Plan {
        steps: vec![
            step(Operation::AttachPorts {
                group: GroupHandle::Existing("B".into()),
                ports: ports(&["p1"]),
            }),
            step(Operation::DetachPorts {
                group: "A".into(),
                ports: ports(&["p1"]),
            }),
        ],
    };
    let (report, _) = run(&cloud, &plan, &ObservedState::default()).await;
    assert!(!report.complete());
    assert_eq!(report.failed().map(|r| r.index), Some(0));
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(
        cloud.calls(),
        ["attach_ports B [\"p1\"]"],
        "the detach must never be sent"
    );
}

#[tokio::test]
async fn a_partial_batch_failure_stops_execution_and_names_the_ports() {
    let cloud = Recorder {
        refuse: ["p2".to_string()].into(),
        ..Default::default()
    };
    let plan = Plan {
        steps: vec![
            step(Operation::AttachPorts {
                group: GroupHandle::Existing("B".into()),
                ports: ports(&["p1", "p2"]),
            }),
            step(Operation::DetachPorts {
                group: "A".into(),
                ports: ports(&["p1", "p2"]),
            }),
        ],
    };
    let (report, _) = run(&cloud, &plan, &ObservedState::default()).await;
    let failed = report.failed().expect("the batch failed");
    match &failed.result {
        Err(StepError::PartialBatch(f)) => assert_eq!(f[0].port, "p2"),
        other => panic!("unexpected {other:?}"),
    }
    let text = failed.result.as_ref().unwrap_err().to_string();
    assert!(text.contains("p2") && text.contains("VPC.0608"), "{text}");
    assert_eq!(cloud.calls().len(), 1);
}

#[tokio::test]
async fn baidu_versions_advance_with_each_change() {
    let cloud = Recorder {
        kind: Some(ProviderKind::Baidu),
        ..Default::default()
    };
    let mut observed = ObservedState::default();
    observed
        .groups
        .insert("g-1".into(), group("g-1", Some(7), &[]));
    let cidr = Remote::Cidr("10.0.0.0/8".parse().unwrap());
    let plan = Plan {
        steps: vec![
            step(Operation::CreateRules {
                group: GroupHandle::Existing("g-1".into()),
                rules: vec![any_rule(cidr.clone())],
            }),
            step(Operation::CreateRules {
                group: GroupHandle::Existing("g-1".into()),
                rules: vec![any_rule(cidr.clone())],
            }),
            step(Operation::DeleteRule {
                group: "g-1".into(),
                rule_id: "r-1".into(),
                rule: any_rule(cidr),
            }),
        ],
    };
    let (report, _) = run(&cloud, &plan, &observed).await;
    assert!(report.complete());
    let calls = cloud.calls();
    assert!(calls[0].ends_with("v=Some(7)"), "{calls:?}");
    assert!(calls[1].ends_with("v=Some(8)"), "{calls:?}");
    assert!(calls[2].ends_with("v=Some(9)"), "{calls:?}");
}

#[tokio::test]
async fn observe_finds_a_group_created_before_a_crash_and_reads_what_is_named() {
    let mut cloud = Recorder::default();
    cloud.groups.insert(
        "sg-found".into(),
        group("sg-found", None, &[(OWNER_TAG, "uid-web")]),
    );
    cloud
        .groups
        .insert("sg-db".into(), group("sg-db", None, &[]));
    cloud.members.insert("sg-db".into(), ports(&["p9"]));
    for p in ["p1", "p2", "p9"] {
        cloud.ports.insert(
            p.into(),
            ObservedPort {
                id: p.into(),
                groups: vec!["sg-db".into()],
            },
        );
    }
    let web = key("web");
    let mut desired = DesiredState {
        provider: ProviderKind::Huawei,
        groups: vec![DesiredGroup {
            intent: intent("SecurityGroup", "web"),
            handle: GroupHandle::New(web.clone()),
            owner_uid: "uid-web".into(),
            name: "web".into(),
            description: String::new(),
            unmanaged: Default::default(),
            vpc_id: None,
            rules: None,
            rules_policy: secgroup_controller::model::RulesPolicy::Additive,
            managed_rules: Default::default(),
        }],
        ports: vec![DesiredPortGroups {
            intent: intent("PortSecurityGroups", "p1"),
            port_id: "p1".into(),
            groups: vec![GroupHandle::New(web.clone())],
        }],
        memberships: vec![DesiredMembership {
            intent: intent("SecurityGroupMembership", "db"),
            group: GroupHandle::Existing("sg-db".into()),
            policy: MembershipPolicy::Exclusive,
            ports: ["p2".to_string()].into(),
            managed_ports: Default::default(),
            current_members: Default::default(),
            selection: None,
        }],
        deletions: vec![],
        rule_sets: vec![],
    };
    let obs = observe(&cloud, &mut desired).await.unwrap();
    assert_eq!(
        obs.found_by_tag.get(&web).map(String::as_str),
        Some("sg-found")
    );
    assert_eq!(
        desired.groups[0].handle,
        GroupHandle::Existing("sg-found".into())
    );
    assert_eq!(
        desired.ports[0].groups,
        [GroupHandle::Existing("sg-found".into())]
    );
    assert_eq!(
        desired.memberships[0].current_members,
        ["p9".to_string()].into()
    );
    assert_eq!(
        obs.observed.groups.keys().collect::<Vec<_>>(),
        ["sg-db", "sg-found"]
    );
    assert_eq!(
        obs.observed.ports.keys().collect::<Vec<_>>(),
        ["p1", "p2", "p9"]
    );
}
