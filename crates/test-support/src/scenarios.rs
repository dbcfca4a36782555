//! Shared by the reliability suite (`tests/reliability/`) and the
//! benchmark binaries (`benches/api_calls.rs`, `benches/convergence.rs`,
//! `benches/controller.rs`): structured scenarios (a simulator
//! state, a desired state, the planner's documented lower bound and what
//! one call per port or rule would cost), a simulator with a real client in
//! front of it, sync loops, and checks of the simulator's end state.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use secgroup_controller::cloud::baidu::BaiduClient;
use secgroup_controller::cloud::http::{HttpOptions, build_http_client};
use secgroup_controller::cloud::huawei::HuaweiClient;
use secgroup_controller::cloud::ratelimit::AccountLimiter;
use secgroup_controller::cloud::retry::RetryPolicy;
use secgroup_controller::cloud::{
    CloudError, CloudProvider, Credentials, OWNER_TAG, ProviderSettings, connect,
};
use secgroup_controller::model::{
    Action, DesiredGroup, DesiredMembership, DesiredPortGroups, DesiredRuleSet, DesiredState,
    Direction, Ethertype, GroupHandle, Intent, MembershipPolicy, Mode, ObjectKey, ObservedGroup,
    ObservedPort, PortRange, Ports, Protocol, ProviderKind, Remote, Rule,
};
use secgroup_controller::plan::{PlanOptions, PlanOutcome};
use secgroup_controller::reconcile::{ExecEvent, ExecuteReport, Session};
use secgroup_controller::sim::{self, Account, Faults, Provider, SimHandle, SimOptions, SimState};

pub const HW_AK: &str = "RELIABILITYHWAK0001";
pub const HW_SK: &str = "hw-reliability-secret-never-in-logs";
pub const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub const BD_AK: &str = "reliabilitybdak00000000000000001";
pub const BD_SK: &str = "bd-reliability-secret-never-in-logs";

pub const BATCH: usize = ProviderKind::MAX_BATCH_PORTS;

pub fn kinds() -> [ProviderKind; 2] {
    [ProviderKind::Huawei, ProviderKind::Baidu]
}

/// A group id of the cloud's shape (Huawei wants UUIDs).
pub fn group_id(kind: ProviderKind, n: usize) -> String {
    match kind {
        ProviderKind::Huawei => format!("00000000-0000-4000-8000-{n:012}"),
        ProviderKind::Baidu => format!("g-{n:08}"),
    }
}

/// A port (Huawei) or instance (Baidu) id.
pub fn port_id(kind: ProviderKind, n: usize) -> String {
    match kind {
        ProviderKind::Huawei => format!("00000000-0000-4000-9000-{n:012}"),
        ProviderKind::Baidu => format!("i-{n:08}"),
    }
}

pub fn secret(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Huawei => HW_SK,
        ProviderKind::Baidu => BD_SK,
    }
}

/// A simulator state with the account of `kind`, groups `1..=groups`
/// (named `g1`...), and no ports.
pub fn base_state(kind: ProviderKind, groups: usize) -> SimState {
    let mut s = SimState::new();
    s = match kind {
        ProviderKind::Huawei => s.with_account(Account::huawei(HW_AK, HW_SK, PROJECT)),
        ProviderKind::Baidu => s.with_account(Account::baidu(BD_AK, BD_SK)),
    };
    for g in 1..=groups {
        s = add_group(s, kind, g);
    }
    s
}

pub fn add_group(s: SimState, kind: ProviderKind, g: usize) -> SimState {
    let id = group_id(kind, g);
    match kind {
        ProviderKind::Huawei => s.with_huawei_group(PROJECT, &id, &format!("g{g}")),
        ProviderKind::Baidu => s.with_baidu_group(&id, &format!("g{g}"), "vpc-1"),
    }
}

/// Add a port holding groups (by number) in order.
pub fn add_port(s: SimState, kind: ProviderKind, p: usize, groups: &[usize]) -> SimState {
    let ids: Vec<String> = groups.iter().map(|g| group_id(kind, *g)).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    match kind {
        ProviderKind::Huawei => s.with_huawei_port(PROJECT, &port_id(kind, p), &refs),
        ProviderKind::Baidu => s.with_baidu_instance(&port_id(kind, p), &refs),
    }
}

/// The shared HTTP client (built at start-up in the binary too).
pub fn http() -> reqwest::Client {
    build_http_client(&HttpOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
    })
    .expect("the HTTP client builds")
}

/// Retries quick enough for tests; the logic is the production one.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
        ..RetryPolicy::default()
    }
}

/// How the client in front of the simulator is built.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Client-side requests per second; `None` unlimited.
    pub rate: Option<u32>,
    /// `None`: the production client from `cloud::connect` (default retry
    /// policy); `Some`: the concrete client with this policy.
    pub retry: Option<RetryPolicy>,
}

/// A running simulator and a real client pointed at it.
pub struct Cloud {
    pub kind: ProviderKind,
    pub sim: SimHandle,
    pub client: Arc<dyn CloudProvider>,
}

pub async fn start(state: SimState, faults: Faults) -> SimHandle {
    sim::start(
        state,
        SimOptions {
            faults,
            ..SimOptions::default()
        },
    )
    .await
    .expect("the simulator starts on an ephemeral port")
}

pub fn client_for(
    kind: ProviderKind,
    sim: &SimHandle,
    opts: &ClientOptions,
) -> Arc<dyn CloudProvider> {
    let (ak, sk) = match kind {
        ProviderKind::Huawei => (HW_AK, HW_SK),
        ProviderKind::Baidu => (BD_AK, BD_SK),
    };
    let creds = Credentials::new(ak, sk);
    match &opts.retry {
        None => connect(
            &ProviderSettings {
                kind,
                region: String::new(),
                project_id: Some(PROJECT.into()),
                endpoint: Some(sim.url()),
                max_requests_per_second: opts.rate,
            },
            creds,
            http(),
        )
        .expect("valid settings"),
        Some(retry) => {
            let limiter = opts
                .rate
                .and_then(NonZeroU32::new)
                .map(|r| Arc::new(AccountLimiter::per_second(r)));
            match kind {
                ProviderKind::Huawei => {
                    let mut c = HuaweiClient::new(&sim.url(), PROJECT, creds, http())
                        .expect("valid settings")
                        .with_retry_policy(retry.clone());
                    if let Some(l) = limiter {
                        c = c.with_rate_limit(l);
                    }
                    Arc::new(c)
                }
                ProviderKind::Baidu => {
                    let mut c = BaiduClient::new(&sim.url(), creds, http())
                        .expect("valid settings")
                        .with_retry_policy(retry.clone());
                    if let Some(l) = limiter {
                        c = c.with_rate_limit(l);
                    }
                    Arc::new(c)
                }
            }
        }
    }
}

impl Cloud {
    pub async fn start(
        kind: ProviderKind,
        state: SimState,
        faults: Faults,
        opts: ClientOptions,
    ) -> Self {
        let sim = start(state, faults).await;
        let client = client_for(kind, &sim, &opts);
        Cloud { kind, sim, client }
    }

    /// A port's groups as the simulator has them.
    pub fn port_groups(&self, port: &str) -> Option<Vec<String>> {
        match self.kind {
            ProviderKind::Huawei => self.sim.huawei_port_groups(port),
            ProviderKind::Baidu => self.sim.baidu_instance_groups(port),
        }
    }

    /// Every port and its groups.
    pub fn all_ports(&self) -> BTreeMap<String, Vec<String>> {
        let s = self.sim.snapshot();
        match self.kind {
            ProviderKind::Huawei => s
                .huawei
                .ports
                .iter()
                .map(|p| (p.id.clone(), p.security_groups.clone()))
                .collect(),
            ProviderKind::Baidu => s
                .baidu
                .instances
                .iter()
                .map(|i| (i.id.clone(), i.security_group_ids.clone()))
                .collect(),
        }
    }

    /// Calls since the last reset, split into (reads, writes).
    pub fn calls(&self) -> (u64, u64) {
        split_calls(&self.sim.call_counts())
    }

    /// Calls since the last reset, as the simulator counts them per
    /// endpoint (each endpoint documented as a read or a write), split
    /// into (reads, writes).
    pub fn endpoint_reads_writes(&self) -> (u64, u64) {
        self.sim.read_write_counts(match self.kind {
            ProviderKind::Huawei => Provider::Huawei,
            ProviderKind::Baidu => Provider::Baidu,
        })
    }
}

/// Whether an operation name is a read.
pub fn is_read(op: &str) -> bool {
    let name = op.rsplit('.').next().unwrap_or(op);
    name.starts_with("show") || name.starts_with("list") || name.starts_with("get")
}

pub fn split_calls(counts: &BTreeMap<String, u64>) -> (u64, u64) {
    let mut reads = 0;
    let mut writes = 0;
    for (op, n) in counts {
        if is_read(op) {
            reads += n;
        } else {
            writes += n;
        }
    }
    (reads, writes)
}

// ------------------------------------------------------------------ rules

/// A distinct tcp rule per `n` (port 1000+n from 10.0.0.0/8).
pub fn rule(kind: ProviderKind, n: usize) -> Rule {
    let port = u16::try_from(1000 + n).expect("small n");
    Rule {
        direction: Direction::Ingress,
        ethertype: Ethertype::IPv4,
        protocol: Protocol::Tcp,
        ports: Ports::Ranges(vec![PortRange {
            first: port,
            last: port,
        }]),
        remote: Remote::Cidr("10.0.0.0/8".parse().expect("a valid CIDR")),
        action: Action::Allow,
        priority: (kind == ProviderKind::Huawei).then_some(1),
        description: String::new(),
    }
}

// -------------------------------------------------------------- scenarios

fn intent(kind: &str, name: &str) -> Intent {
    Intent {
        owner: ObjectKey::new(kind, "bench", name),
        mode: Mode::Apply,
        // The benches measure calls, not the blast-radius guard.
        allow_mass_change: true,
    }
}

fn empty_desired(kind: ProviderKind) -> DesiredState {
    DesiredState {
        provider: kind,
        groups: Vec::new(),
        ports: Vec::new(),
        memberships: Vec::new(),
        deletions: Vec::new(),
        rule_sets: Vec::new(),
    }
}

pub fn port_groups(kind: ProviderKind, p: usize, groups: &[usize]) -> DesiredPortGroups {
    DesiredPortGroups {
        intent: intent("PortSecurityGroups", &format!("port-{p}")),
        port_id: port_id(kind, p),
        groups: groups
            .iter()
            .map(|g| GroupHandle::Existing(group_id(kind, *g)))
            .collect(),
    }
}

pub fn managed_group(kind: ProviderKind, g: usize, rules: Vec<Rule>) -> DesiredGroup {
    DesiredGroup {
        intent: intent("SecurityGroup", &format!("g{g}")),
        handle: GroupHandle::Existing(group_id(kind, g)),
        owner_uid: format!("uid-g{g}"),
        name: format!("g{g}"),
        description: String::new(),
        unmanaged: Default::default(),
        vpc_id: Some("vpc-1".into()),
        rules: Some(rules),
        rules_policy: secgroup_controller::model::RulesPolicy::Authoritative,
        managed_rules: Default::default(),
    }
}

/// An end-state expectation checked against the simulator.
#[derive(Clone, Debug)]
pub enum Expect {
    /// The port holds exactly these groups (in this order on Huawei).
    Port { port: String, groups: Vec<String> },
    /// The port holds at least this group.
    Member { port: String, group: String },
    /// The group's rules, normalized, are exactly these many distinct ones.
    RuleCount { group: String, rules: usize },
    /// One group carries this owner tag.
    CreatedOnce { owner_uid: String },
}

/// A structured scenario: where the cloud starts, what is desired, and
/// the planner's documented lower bound on the writes.
pub struct Scenario {
    pub name: String,
    pub kind: ProviderKind,
    pub state: SimState,
    /// Rules put in groups through the client before anything is measured.
    pub setup_rules: Vec<(String, Vec<Rule>)>,
    pub desired: DesiredState,
    pub bound: u64,
    pub bound_formula: String,
    /// What one call per port (membership) or per rule would cost.
    pub per_item: u64,
    pub per_item_formula: String,
    pub expect: Vec<Expect>,
}

fn div_ceil(a: usize, b: usize) -> u64 {
    a.div_ceil(b) as u64
}

/// `n` ports (in group 1) joining group 2 through one Additive membership.
pub fn join(kind: ProviderKind, n: usize) -> Scenario {
    let mut state = base_state(kind, 2);
    for p in 1..=n {
        state = add_port(state, kind, p, &[1]);
    }
    let mut desired = empty_desired(kind);
    desired.memberships.push(DesiredMembership {
        intent: intent("SecurityGroupMembership", "join"),
        group: GroupHandle::Existing(group_id(kind, 2)),
        policy: MembershipPolicy::Additive,
        ports: (1..=n).map(|p| port_id(kind, p)).collect(),
        managed_ports: BTreeSet::new(),
        current_members: BTreeSet::new(),
        selection: None,
    });
    Scenario {
        name: format!("{n} ports join a group"),
        kind,
        state,
        setup_rules: Vec::new(),
        desired,
        bound: div_ceil(n, BATCH),
        bound_formula: format!("ceil({n}/20)"),
        per_item: n as u64,
        per_item_formula: format!("{n} ports x 1"),
        expect: (1..=n)
            .map(|p| Expect::Port {
                port: port_id(kind, p),
                groups: vec![group_id(kind, 1), group_id(kind, 2)],
            })
            .collect(),
    }
}

/// `k` ports moving from group 1 to group 2 (one PortSecurityGroups each).
pub fn move_ports(kind: ProviderKind, k: usize) -> Scenario {
    let mut state = base_state(kind, 2);
    for p in 1..=k {
        state = add_port(state, kind, p, &[1]);
    }
    let mut desired = empty_desired(kind);
    desired.ports = (1..=k).map(|p| port_groups(kind, p, &[2])).collect();
    Scenario {
        name: format!("{k} ports move between groups"),
        kind,
        state,
        setup_rules: Vec::new(),
        desired,
        bound: 2 * div_ceil(k, BATCH),
        bound_formula: format!("2*ceil({k}/20)"),
        per_item: 2 * k as u64,
        per_item_formula: format!("{k} ports x (add + remove)"),
        expect: (1..=k)
            .map(|p| Expect::Port {
                port: port_id(kind, p),
                groups: vec![group_id(kind, 2)],
            })
            .collect(),
    }
}

/// `n` ports each leaving the same `l` groups (keeping group 1).
pub fn leave(kind: ProviderKind, n: usize, l: usize) -> Scenario {
    let mut state = base_state(kind, 1 + l);
    let all: Vec<usize> = (1..=1 + l).collect();
    for p in 1..=n {
        state = add_port(state, kind, p, &all);
    }
    let mut desired = empty_desired(kind);
    desired.ports = (1..=n).map(|p| port_groups(kind, p, &[1])).collect();
    let bound = (n / BATCH * l + l.min(n % BATCH)) as u64;
    Scenario {
        name: format!("{n} ports leave {l} groups"),
        kind,
        state,
        setup_rules: Vec::new(),
        desired,
        bound,
        bound_formula: format!("floor({n}/20)*{l} + min({l}, {n} mod 20)"),
        per_item: (n * l) as u64,
        per_item_formula: format!("{n} ports x {l} removals"),
        expect: (1..=n)
            .map(|p| Expect::Port {
                port: port_id(kind, p),
                groups: vec![group_id(kind, 1)],
            })
            .collect(),
    }
}

/// A group of `have` rules whose set changes: `replace` of them replaced
/// by new ones and `add` more added (on Huawei the creates batch by 200,
/// deletes are one call each; Baidu is one call per rule either way).
pub fn rules_change(kind: ProviderKind, have: usize, replace: usize, add: usize) -> Scenario {
    let state = base_state(kind, 1);
    let gid = group_id(kind, 1);
    let before: Vec<Rule> = (0..have).map(|i| rule(kind, i)).collect();
    let after: Vec<Rule> = (replace..have)
        .chain(have..have + replace + add)
        .map(|i| rule(kind, i))
        .collect();
    let creates = replace + add;
    let deletes = replace;
    let bound = match kind {
        ProviderKind::Huawei => div_ceil(creates, 200) + deletes as u64,
        ProviderKind::Baidu => (creates + deletes) as u64,
    };
    let formula = match kind {
        ProviderKind::Huawei => format!("ceil({creates}/200) + {deletes}"),
        ProviderKind::Baidu => format!("{creates} + {deletes}"),
    };
    let mut desired = empty_desired(kind);
    let n_after = after.len();
    desired.groups.push(managed_group(kind, 1, after));
    Scenario {
        name: format!("rules: {have} -> {n_after} ({replace} replaced, {add} added)"),
        kind,
        state,
        setup_rules: if before.is_empty() {
            Vec::new()
        } else {
            vec![(gid.clone(), before)]
        },
        desired,
        bound,
        bound_formula: formula,
        per_item: (creates + deletes) as u64,
        per_item_formula: format!("{creates} creates + {deletes} deletes"),
        expect: vec![Expect::RuleCount {
            group: gid,
            rules: n_after,
        }],
    }
}

/// `owners` `SecurityGroupRules` objects each adding `per_owner` distinct
/// rules to one group nobody else manages: their rules share the create
/// calls, so the bound is the one of a single rule set of that size.
pub fn rule_owners(kind: ProviderKind, owners: usize, per_owner: usize) -> Scenario {
    let state = base_state(kind, 1);
    let gid = group_id(kind, 1);
    let mut desired = empty_desired(kind);
    for o in 0..owners {
        desired.rule_sets.push(DesiredRuleSet {
            intent: intent("SecurityGroupRules", &format!("team-{o}")),
            group: GroupHandle::Existing(gid.clone()),
            rules: (o * per_owner..(o + 1) * per_owner)
                .map(|i| rule(kind, i))
                .collect(),
            managed_rules: Default::default(),
        });
    }
    let creates = owners * per_owner;
    let per_call = kind.max_rules_per_create();
    Scenario {
        name: format!("rules: {owners} owners add {per_owner} each to one group"),
        kind,
        state,
        setup_rules: Vec::new(),
        desired,
        bound: div_ceil(creates, per_call),
        bound_formula: format!("ceil({creates}/{per_call})"),
        per_item: creates as u64,
        per_item_formula: format!("{creates} creates"),
        expect: vec![Expect::RuleCount {
            group: gid,
            rules: creates,
        }],
    }
}

/// `ports` ports spread over `groups` groups (port p in group p mod
/// groups) either joining their group (they start in a base group) or
/// moving to the next one.
pub fn spread(kind: ProviderKind, ports: usize, groups: usize, moving: bool) -> Scenario {
    // Group 1 is the base group; the spread groups are 2..=groups+1.
    let mut state = base_state(kind, groups + 1);
    let home = |p: usize| 2 + p % groups;
    let next = |p: usize| 2 + (p + 1) % groups;
    for p in 1..=ports {
        let start = if moving { vec![home(p)] } else { vec![1] };
        state = add_port(state, kind, p, &start);
    }
    let mut desired = empty_desired(kind);
    let mut expect = Vec::new();
    for p in 1..=ports {
        let end = if moving {
            vec![next(p)]
        } else {
            vec![1, home(p)]
        };
        desired.ports.push(port_groups(kind, p, &end));
        expect.push(Expect::Port {
            port: port_id(kind, p),
            groups: end.iter().map(|g| group_id(kind, *g)).collect(),
        });
    }
    let per_group = ports.div_ceil(groups);
    let bound = groups as u64 * div_ceil(per_group, BATCH) * if moving { 2 } else { 1 };
    Scenario {
        name: format!(
            "{ports} ports {} {groups} groups",
            if moving { "move among" } else { "join" }
        ),
        kind,
        state,
        setup_rules: Vec::new(),
        desired,
        bound,
        bound_formula: format!(
            "{}{groups}*ceil({per_group}/20)",
            if moving { "2*" } else { "" }
        ),
        per_item: (ports * if moving { 2 } else { 1 }) as u64,
        per_item_formula: format!(
            "{ports} ports x {}",
            if moving { "(add + remove)" } else { "1" }
        ),
        expect,
    }
}

/// A group to create (with rules), that ports then join: the scenario
/// where a crash between create and status write could duplicate it.
pub fn create_and_join(kind: ProviderKind, ports: usize, rules: usize) -> Scenario {
    let mut state = base_state(kind, 1);
    for p in 1..=ports {
        state = add_port(state, kind, p, &[1]);
    }
    let owner = ObjectKey::new("SecurityGroup", "bench", "fresh");
    let handle = GroupHandle::New(owner.clone());
    let mut desired = empty_desired(kind);
    desired.groups.push(DesiredGroup {
        intent: Intent {
            owner: owner.clone(),
            mode: Mode::Apply,
            allow_mass_change: true,
        },
        handle: handle.clone(),
        owner_uid: "uid-fresh".into(),
        name: "fresh".into(),
        description: "created by the reliability suite".into(),
        unmanaged: Default::default(),
        vpc_id: Some("vpc-1".into()),
        rules: Some((0..rules).map(|i| rule(kind, i)).collect()),
        rules_policy: secgroup_controller::model::RulesPolicy::Authoritative,
        managed_rules: Default::default(),
    });
    desired.memberships.push(DesiredMembership {
        intent: intent("SecurityGroupMembership", "fresh-members"),
        group: handle,
        policy: MembershipPolicy::Additive,
        ports: (1..=ports).map(|p| port_id(kind, p)).collect(),
        managed_ports: BTreeSet::new(),
        current_members: BTreeSet::new(),
        selection: None,
    });
    let rule_calls = match kind {
        ProviderKind::Huawei => div_ceil(rules, 200),
        ProviderKind::Baidu => rules as u64,
    };
    // A new Huawei group comes with the cloud's four default rules, which
    // the authoritative rule list then deletes (one call each, in the pass
    // after the create: the first plan could not know them).
    let defaults = match kind {
        ProviderKind::Huawei => 4,
        ProviderKind::Baidu => 0,
    };
    Scenario {
        name: format!("create a group with {rules} rules, {ports} ports join"),
        kind,
        state,
        setup_rules: Vec::new(),
        desired,
        bound: 1 + rule_calls + div_ceil(ports, BATCH) + defaults,
        bound_formula: match kind {
            ProviderKind::Huawei => {
                format!("1 + ceil({rules}/200) + ceil({ports}/20) + 4 defaults")
            }
            ProviderKind::Baidu => format!("1 + {rules} + ceil({ports}/20)"),
        },
        per_item: 1 + rules as u64 + ports as u64,
        per_item_formula: "1 + rules + ports".into(),
        expect: vec![Expect::CreatedOnce {
            owner_uid: "uid-fresh".into(),
        }],
    }
}

// ------------------------------------------------------------ running

/// Put the scenario's setup rules in place through the client, then clear
/// the simulator's logs so only the scenario's calls are counted.
pub async fn prepare(cloud: &Cloud, scenario: &Scenario) {
    put_rules(cloud, &scenario.setup_rules).await;
    cloud.sim.reset_logs();
}

/// Create `setup` rules through the client, as many a call as it takes.
async fn put_rules(cloud: &Cloud, setup: &[(String, Vec<Rule>)]) {
    for (group, rules) in setup {
        for chunk in rules.chunks(cloud.kind.max_rules_per_create()) {
            cloud
                .client
                .create_rules(group, chunk, None)
                .await
                .expect("setup rules are accepted");
        }
    }
}

/// What one round planned and did.
#[derive(Debug)]
pub struct RoundOutcome {
    pub outcome: PlanOutcome,
    /// `None` when the plan was empty.
    pub execution: Option<ExecuteReport>,
}

/// One round of `session`: read (all the first time and whenever the
/// session says so; else what earlier rounds wrote), plan, execute.
pub async fn round(
    cloud: &Cloud,
    desired: &DesiredState,
    session: &mut Session,
    on_event: &mut (dyn FnMut(ExecEvent<'_>) + Send),
) -> Result<RoundOutcome, String> {
    let client = cloud.client.as_ref();
    let scope = session.scope(BTreeSet::new(), None);
    let planned = session
        .prepare(client, desired.clone(), scope, &PlanOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let execution = if planned.outcome.plan.is_empty() {
        None
    } else {
        let report = session.execute(client, &planned, &|| true, on_event).await;
        session.settle(&planned, &report);
        Some(report)
    };
    Ok(RoundOutcome {
        outcome: planned.outcome,
        execution,
    })
}

/// One round that reads everything, as a restarted controller would.
pub async fn sync_once(
    cloud: &Cloud,
    desired: &DesiredState,
    on_event: &mut (dyn FnMut(ExecEvent<'_>) + Send),
) -> Result<RoundOutcome, String> {
    round(cloud, desired, &mut Session::new(), on_event).await
}

/// How a convergence loop reads the cloud between rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Every round reads everything (a restarted controller each time).
    Full,
    /// One session: after its first full read, a round reads only what
    /// earlier rounds wrote, or everything when a failure says what it
    /// knew is wrong (the controller between resyncs).
    Incremental,
}

/// What a convergence loop did.
#[derive(Debug, Default)]
pub struct Rounds {
    /// Sync rounds run, the final empty one included.
    pub rounds: usize,
    /// Rounds that failed to read or whose execution stopped early.
    pub failed_rounds: usize,
    pub errors: Vec<String>,
}

/// Sync until a round plans nothing (converged) or `max_rounds` pass,
/// reading everything each round.
pub async fn converge(
    cloud: &Cloud,
    desired: &DesiredState,
    max_rounds: usize,
    on_event: &mut (dyn FnMut(ExecEvent<'_>) + Send),
) -> Result<Rounds, Rounds> {
    converge_on(cloud, desired, max_rounds, Path::Full, on_event).await
}

/// Sync until a round plans nothing or `max_rounds` pass, reading as
/// `path` says. Each round starts from the original desired state (groups
/// created earlier are found by their owner tag or the session).
pub async fn converge_on(
    cloud: &Cloud,
    desired: &DesiredState,
    max_rounds: usize,
    path: Path,
    on_event: &mut (dyn FnMut(ExecEvent<'_>) + Send),
) -> Result<Rounds, Rounds> {
    let mut r = Rounds::default();
    let mut session = Session::new();
    while r.rounds < max_rounds {
        r.rounds += 1;
        if path == Path::Full {
            session.reset();
        }
        match round(cloud, desired, &mut session, on_event).await {
            Ok(out) => {
                if out.outcome.plan.is_empty() {
                    return Ok(r);
                }
                if let Some(exec) = &out.execution
                    && let Some(failed) = exec.failed()
                {
                    r.failed_rounds += 1;
                    if let Err(e) = &failed.result {
                        r.errors.push(format!("{}: {e}", failed.step.op.kind()));
                    }
                }
            }
            Err(e) => {
                r.failed_rounds += 1;
                r.errors.push(e);
            }
        }
    }
    Err(r)
}

/// Check the simulator against the scenario's expectations; every problem
/// found, as text.
pub fn check_end_state(cloud: &Cloud, scenario: &Scenario) -> Vec<String> {
    let mut problems = Vec::new();
    let snapshot = cloud.sim.snapshot();
    for e in &scenario.expect {
        match e {
            Expect::Port { port, groups } => {
                let have = cloud.port_groups(port).unwrap_or_default();
                let ok = match cloud.kind {
                    ProviderKind::Huawei => &have == groups,
                    ProviderKind::Baidu => {
                        have.iter().collect::<BTreeSet<_>>() == groups.iter().collect()
                    }
                };
                if !ok {
                    problems.push(format!("port {port}: has {have:?}, wants {groups:?}"));
                }
            }
            Expect::Member { port, group } => {
                let have = cloud.port_groups(port).unwrap_or_default();
                if !have.contains(group) {
                    problems.push(format!("port {port}: has {have:?}, lacks {group}"));
                }
            }
            Expect::RuleCount { group, rules } => {
                let n = match cloud.kind {
                    ProviderKind::Huawei => cloud.sim.huawei_group_rules(group).map(|r| r.len()),
                    ProviderKind::Baidu => cloud.sim.baidu_group_rules(group).map(|r| r.len()),
                };
                if n != Some(*rules) {
                    problems.push(format!("group {group}: {n:?} rules, wants {rules}"));
                }
            }
            Expect::CreatedOnce { owner_uid } => {
                let n = owner_tagged(&snapshot, cloud.kind, owner_uid).len();
                if n != 1 {
                    problems.push(format!("{n} groups carry owner tag {owner_uid}"));
                }
            }
        }
    }
    problems.extend(duplicates(&snapshot, cloud.kind));
    problems
}

/// Groups carrying the owner tag `uid`.
pub fn owner_tagged(s: &SimState, kind: ProviderKind, uid: &str) -> Vec<String> {
    match kind {
        ProviderKind::Huawei => s
            .huawei
            .security_groups
            .iter()
            .filter(|g| g.tags.iter().any(|t| t.key == OWNER_TAG && t.value == uid))
            .map(|g| g.id.clone())
            .collect(),
        ProviderKind::Baidu => s
            .baidu
            .security_groups
            .iter()
            .filter(|g| {
                g.tags
                    .iter()
                    .any(|t| t.tag_key == OWNER_TAG && t.tag_value == uid)
            })
            .map(|g| g.id.clone())
            .collect(),
    }
}

/// Duplicate groups (two carrying one owner tag) and duplicate rules (two
/// equal rules in one group), as text.
pub fn duplicates(s: &SimState, kind: ProviderKind) -> Vec<String> {
    let mut out = Vec::new();
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    match kind {
        ProviderKind::Huawei => {
            for g in &s.huawei.security_groups {
                for t in g.tags.iter().filter(|t| t.key == OWNER_TAG) {
                    *owners.entry(t.value.clone()).or_default() += 1;
                }
                let mut seen = BTreeSet::new();
                for r in &g.rules {
                    let key = (
                        &r.direction,
                        &r.protocol,
                        &r.ethertype,
                        &r.multiport,
                        &r.action,
                        r.priority,
                        &r.remote_ip_prefix,
                        &r.remote_group_id,
                        &r.remote_address_group_id,
                        &r.description,
                    );
                    if !seen.insert(format!("{key:?}")) {
                        out.push(format!("group {}: duplicate rule {key:?}", g.id));
                    }
                }
            }
        }
        ProviderKind::Baidu => {
            for g in &s.baidu.security_groups {
                for t in g.tags.iter().filter(|t| t.tag_key == OWNER_TAG) {
                    *owners.entry(t.tag_value.clone()).or_default() += 1;
                }
                let mut seen = BTreeSet::new();
                for r in &g.rules {
                    let key = (
                        &r.remark,
                        &r.direction,
                        &r.ethertype,
                        &r.port_range,
                        &r.protocol,
                        &r.source_ip,
                        &r.source_group_id,
                        &r.dest_ip,
                        &r.dest_group_id,
                    );
                    if !seen.insert(format!("{key:?}")) {
                        out.push(format!("group {}: duplicate rule {key:?}", g.id));
                    }
                }
            }
        }
    }
    for (uid, n) in owners {
        if n > 1 {
            out.push(format!("{n} groups carry owner tag {uid}"));
        }
    }
    out
}

/// Ports or instances that hold no group at all.
pub fn groupless(cloud: &Cloud) -> Vec<String> {
    cloud
        .all_ports()
        .into_iter()
        .filter(|(_, g)| g.is_empty())
        .map(|(p, _)| p)
        .collect()
}

// ------------------------------------------------------- full observation

/// A full observation of one account: the groups its objects name, every
/// port holding them, and the named ports outside them, read the way a
/// resync reads them ([`observe_fully`]), with the lower bound on reads
/// the bulk calls allow.
pub struct Observation {
    pub name: String,
    pub kind: ProviderKind,
    pub state: SimState,
    /// Rules put in groups through the client before anything is counted.
    pub setup_rules: Vec<(String, Vec<Rule>)>,
    /// The groups observed.
    pub groups: Vec<String>,
    /// Every port the objects name (members of the groups and others).
    pub named_ports: Vec<String>,
    pub reads_bound: u64,
    pub reads_bound_formula: String,
    /// What one read per group and per port costs.
    pub per_item: u64,
    pub per_item_formula: String,
}

/// `ports` ports spread evenly over `groups` groups (port p in group
/// 1 + p mod groups), each group with `rules` rules, plus `outside` named
/// ports that hold only another group; on Baidu the first `enis` ports
/// also have an elastic NIC (in that other group).
pub fn full_observation(
    kind: ProviderKind,
    ports: usize,
    groups: usize,
    rules: usize,
    outside: usize,
    enis: usize,
) -> Observation {
    let other = groups + 1;
    let mut state = base_state(kind, other);
    for p in 1..=ports {
        state = add_port(state, kind, p, &[1 + p % groups]);
    }
    for p in ports + 1..=ports + outside {
        state = add_port(state, kind, p, &[other]);
    }
    let enis = if kind == ProviderKind::Baidu { enis } else { 0 };
    let other_id = group_id(kind, other);
    for p in 1..=enis {
        state = state.with_baidu_eni(&port_id(kind, p), &format!("eni-{p:08}"), &[&other_id]);
    }
    let group_ids: Vec<String> = (1..=groups).map(|g| group_id(kind, g)).collect();
    let setup_rules = group_ids
        .iter()
        .enumerate()
        .map(|(g, id)| {
            let first = g * rules;
            (
                id.clone(),
                (first..first + rules).map(|n| rule(kind, n)).collect(),
            )
        })
        .collect();
    let (bound, formula) = full_read_bound(kind, groups, rules * groups, ports, enis, outside);
    Observation {
        name: format!("full observation of {ports} ports in {groups} groups"),
        kind,
        state,
        setup_rules,
        groups: group_ids,
        named_ports: (1..=ports + outside).map(|p| port_id(kind, p)).collect(),
        reads_bound: bound,
        reads_bound_formula: formula,
        per_item: (groups + ports + outside) as u64,
        per_item_formula: format!("{groups} groups + {} ports, one read each", ports + outside),
    }
}

/// The lower bound on the reads of a full observation of `groups` groups
/// holding `rules` rules in all and `ports` member ports, with `enis`
/// instances that have an elastic NIC (Baidu) and `outside` named ports
/// that hold none of the groups; with its formula.
pub fn full_read_bound(
    kind: ProviderKind,
    groups: usize,
    rules: usize,
    ports: usize,
    enis: usize,
    outside: usize,
) -> (u64, String) {
    match kind {
        ProviderKind::Huawei => {
            // Groups by id and rules by group id, 50 ids a call; ports
            // by group 50 groups a call, 2000 a page; named ports outside
            // by id, 50 a call.
            let chunks = groups.div_ceil(50);
            let rule_pages = rules.div_ceil(2000).max(1);
            let bound = chunks + chunks * rule_pages + ports.div_ceil(2000) + outside.div_ceil(50);
            (
                bound as u64,
                format!(
                    "ceil({groups}/50) group pages + ceil({rules}/2000) rule pages + ceil({ports}/2000) port pages + ceil({outside}/50) by id"
                ),
            )
        }
        ProviderKind::Baidu => {
            // One detail per group (only it carries sgVersion); instances
            // by group 100 groups a call, 1000 a page; one exact read per
            // instance with an elastic NIC; named instances outside by id,
            // 100 a call.
            let bound = groups + ports.div_ceil(1000) + enis + outside.div_ceil(100);
            (
                bound as u64,
                format!(
                    "{groups} group details + ceil({ports}/1000) instance pages + {enis} elastic-NIC instances read exactly + ceil({outside}/100) by id"
                ),
            )
        }
    }
}

/// Read `groups` with their rules, every port holding them, then the
/// `named_ports` not found among those: what a full observation of an
/// account reads.
pub async fn observe_fully(
    client: &dyn CloudProvider,
    groups: &[String],
    named_ports: &[String],
) -> Result<
    (
        BTreeMap<String, ObservedGroup>,
        BTreeMap<String, ObservedPort>,
    ),
    CloudError,
> {
    let found = client.get_groups(groups).await?;
    let mut ports = client.ports_in_groups(groups).await?;
    let missing: Vec<String> = named_ports
        .iter()
        .filter(|p| !ports.contains_key(*p))
        .cloned()
        .collect();
    ports.extend(client.get_ports(&missing).await?);
    Ok((found, ports))
}

/// Put the observation's rules in place through the client, then clear
/// the simulator's logs so only the observation's calls are counted.
pub async fn prepare_observation(cloud: &Cloud, observation: &Observation) {
    put_rules(cloud, &observation.setup_rules).await;
    cloud.sim.reset_logs();
}

/// What an observation read, checked against the simulator: every group
/// with its rules, every named port with exactly its groups (Baidu: the
/// primary NIC's). Problems as text.
pub fn check_observation(
    cloud: &Cloud,
    observation: &Observation,
    groups: &BTreeMap<String, ObservedGroup>,
    ports: &BTreeMap<String, ObservedPort>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, rules) in &observation.setup_rules {
        match groups.get(id) {
            None => problems.push(format!("group {id} not read")),
            Some(g) if g.rules.len() != rules.len() => problems.push(format!(
                "group {id}: {} rules read, {} there",
                g.rules.len(),
                rules.len()
            )),
            Some(_) => {}
        }
    }
    for p in &observation.named_ports {
        let want = cloud.port_groups(p);
        let got = ports.get(p).map(|o| o.groups.clone());
        if got != want {
            problems.push(format!("port {p}: read {got:?}, the cloud has {want:?}"));
        }
    }
    problems
}
