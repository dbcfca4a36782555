//! `-o json`: the one document `plan` and `apply` print on stdout, errors
//! included. Its shape is versioned by [`API_VERSION`] and described by
//! `docs/cli-output.schema.json`; the types here are the CLI's own, so a
//! change to the domain model cannot change the output by accident.
//!
//! Every key is camelCase. A field this version adds later is optional;
//! renaming or removing one, or changing its meaning, makes a new version.

use std::collections::BTreeMap;

use serde::Serialize;

use super::manifest::ManifestError;
use super::render::{self, AccountHeader};
use crate::model::text::printable;
use crate::model::{
    self, Direction, Ethertype, GroupHandle, ObjectKey, Operation as ModelOperation, Ports,
    Protocol, Remote, Step as ModelStep,
};
use crate::plan::{ObjectReport, PlanOutcome, Withheld as ModelWithheld};
use crate::reconcile::ExecuteReport;

/// The document's `apiVersion`.
pub const API_VERSION: &str = "cli.secgroup.io/v1";

/// Which command printed the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// `plan`: what applying would change.
    PlanResult,
    /// `apply`: the plan, what each step did, and the verification.
    ApplyResult,
}

/// The whole document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub api_version: &'static str,
    pub kind: Kind,
    /// No error: the exit code is 0 (or 2 for `plan --detailed-exitcode`
    /// with changes pending).
    pub success: bool,
    /// `plan`: the cloud differs from the manifests (withheld changes
    /// included). `apply`: it still differs after applying, or could not
    /// be verified.
    pub changes_pending: bool,
    /// One per `CloudAccount` that was planned; empty when the run stopped
    /// before reading any cloud.
    pub accounts: Vec<Account>,
    /// Every error, in the order the text output lists them.
    pub errors: Vec<Error>,
}

/// One error: `message` is the whole line the text output prints after
/// `error: `; the other fields say where, when known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Error {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based document within `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// `Kind namespace/name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// JSON path of the field inside the object, e.g. `spec.portId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Error {
    /// An error known only by its text.
    pub fn text(message: impl std::fmt::Display) -> Self {
        Self {
            message: printable(&message.to_string()).into_owned(),
            file: None,
            document: None,
            object: None,
            field: None,
        }
    }
}

impl From<&ManifestError> for Error {
    fn from(e: &ManifestError) -> Self {
        Self {
            message: printable(&e.to_string()).into_owned(),
            file: e.origin.as_ref().map(|o| o.file.display().to_string()),
            document: e.origin.as_ref().map(|o| o.document).filter(|d| *d > 0),
            object: e.object.clone(),
            field: e.field.clone().filter(|f| !f.is_empty()),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One account: its plan, and for `apply` what happened.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub account: AccountHeader,
    /// The plan as shown has steps, or withholds changes.
    pub changes_pending: bool,
    /// Steps by operation kind.
    pub summary: BTreeMap<&'static str, usize>,
    pub steps: Vec<Step>,
    pub objects: Vec<Object>,
    /// Only in `ApplyResult`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
}

impl Account {
    pub fn new(header: &AccountHeader, outcome: &PlanOutcome) -> Self {
        Self {
            account: header.clone(),
            changes_pending: render::has_changes(outcome),
            summary: outcome.plan.summary(),
            steps: outcome
                .plan
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| Step::new(i, s))
                .collect(),
            objects: outcome
                .reports
                .iter()
                .map(|(k, r)| Object::new(k, r))
                .collect(),
            applied: None,
        }
    }
}

/// What `apply` did for one account.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// Each step's fate, pass by pass.
    pub results: Vec<StepResult>,
    /// Every step succeeded and a fresh read plans nothing more (and
    /// withholds nothing for the blast-radius guard).
    pub converged: bool,
    /// Steps the fresh read still plans; absent when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_steps: Option<usize>,
    /// Why the fresh read failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_error: Option<String>,
}

/// One planned cloud call.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// 1-based, in execution order.
    pub index: usize,
    pub kind: &'static str,
    pub target: String,
    pub detail: Vec<String>,
    pub owners: Vec<ObjectKey>,
    pub operation: Operation,
}

impl Step {
    fn new(index: usize, step: &ModelStep) -> Self {
        Self {
            index: index + 1,
            kind: step.op.kind(),
            target: render::target(&step.op),
            detail: render::detail(&step.op),
            owners: step.owners.clone(),
            operation: Operation::from(&step.op),
        }
    }
}

/// A group: an existing one by id, or one this plan creates for an object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum GroupRef {
    Id(String),
    New(ObjectKey),
}

impl From<&GroupHandle> for GroupRef {
    fn from(h: &GroupHandle) -> Self {
        match h {
            GroupHandle::Existing(id) => Self::Id(id.clone()),
            GroupHandle::New(owner) => Self::New(owner.clone()),
        }
    }
}

/// The operation itself, with `op` naming it (the same word as `kind`).
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Operation {
    CreateGroup {
        owner: ObjectKey,
        owner_uid: String,
        name: String,
        description: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        vpc_id: Option<String>,
    },
    UpdateGroup {
        group: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    DeleteGroup {
        group: String,
    },
    CreateRules {
        group: GroupRef,
        rules: Vec<Rule>,
    },
    /// Baidu: the rule `ruleId` changes from `from` to `to` in one call.
    UpdateRule {
        group: String,
        rule_id: String,
        from: Rule,
        to: Rule,
    },
    DeleteRule {
        group: String,
        rule_id: String,
        rule: Rule,
    },
    AddPortGroups {
        port: String,
        groups: Vec<GroupRef>,
        /// 0-based position in the port's list, when it matters.
        #[serde(skip_serializing_if = "Option::is_none")]
        index: Option<u32>,
    },
    RemovePortGroups {
        port: String,
        groups: Vec<String>,
    },
    AttachPorts {
        group: GroupRef,
        ports: Vec<String>,
    },
    DetachPorts {
        group: String,
        ports: Vec<String>,
    },
}

impl From<&ModelOperation> for Operation {
    fn from(op: &ModelOperation) -> Self {
        let groups = |gs: &[GroupHandle]| gs.iter().map(GroupRef::from).collect();
        match op {
            ModelOperation::CreateGroup {
                owner,
                owner_uid,
                name,
                description,
                vpc_id,
            } => Self::CreateGroup {
                owner: owner.clone(),
                owner_uid: owner_uid.clone(),
                name: name.clone(),
                description: description.clone(),
                vpc_id: vpc_id.clone(),
            },
            ModelOperation::UpdateGroup {
                group,
                name,
                description,
            } => Self::UpdateGroup {
                group: group.clone(),
                name: name.clone(),
                description: description.clone(),
            },
            ModelOperation::DeleteGroup { group } => Self::DeleteGroup {
                group: group.clone(),
            },
            ModelOperation::CreateRules { group, rules } => Self::CreateRules {
                group: group.into(),
                rules: rules.iter().map(Rule::from).collect(),
            },
            ModelOperation::UpdateRule {
                group,
                rule_id,
                from,
                to,
            } => Self::UpdateRule {
                group: group.clone(),
                rule_id: rule_id.clone(),
                from: from.into(),
                to: to.into(),
            },
            ModelOperation::DeleteRule {
                group,
                rule_id,
                rule,
            } => Self::DeleteRule {
                group: group.clone(),
                rule_id: rule_id.clone(),
                rule: rule.into(),
            },
            ModelOperation::AddPortGroups {
                port,
                groups: gs,
                index,
            } => Self::AddPortGroups {
                port: port.clone(),
                groups: groups(gs),
                index: *index,
            },
            ModelOperation::RemovePortGroups { port, groups } => Self::RemovePortGroups {
                port: port.clone(),
                groups: groups.clone(),
            },
            ModelOperation::AttachPorts { group, ports } => Self::AttachPorts {
                group: group.into(),
                ports: ports.clone(),
            },
            ModelOperation::DetachPorts { group, ports } => Self::DetachPorts {
                group: group.clone(),
                ports: ports.clone(),
            },
        }
    }
}

/// A port range, both ends included.
#[derive(Debug, Serialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// The other end of a rule.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RuleRemote {
    Cidr(String),
    Group(GroupRef),
    AddressGroup(String),
}

/// A normalized rule.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// `ingress` or `egress`.
    pub direction: &'static str,
    /// `IPv4` or `IPv6`.
    pub ethertype: &'static str,
    /// `all`, `tcp`, `udp`, `icmp`, `icmpv6`, or a protocol number.
    pub protocol: String,
    /// Empty: every port (or the protocol has none).
    pub ports: Vec<PortRange>,
    pub remote: RuleRemote,
    /// `allow` or `deny`.
    pub action: &'static str,
    /// Huawei only (1 highest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    pub description: String,
}

impl From<&model::Rule> for Rule {
    fn from(r: &model::Rule) -> Self {
        Self {
            direction: match r.direction {
                Direction::Ingress => "ingress",
                Direction::Egress => "egress",
            },
            ethertype: match r.ethertype {
                Ethertype::IPv4 => "IPv4",
                Ethertype::IPv6 => "IPv6",
            },
            protocol: match r.protocol {
                Protocol::Number(n) => n.to_string(),
                p => p.to_string(),
            },
            ports: match &r.ports {
                Ports::All => Vec::new(),
                Ports::Ranges(rs) => rs
                    .iter()
                    .map(|p| PortRange {
                        first: p.first,
                        last: p.last,
                    })
                    .collect(),
            },
            remote: match &r.remote {
                Remote::Cidr(net) => RuleRemote::Cidr(net.to_string()),
                Remote::Group(g) => RuleRemote::Group(g.into()),
                Remote::AddressGroup(id) => RuleRemote::AddressGroup(id.clone()),
            },
            action: match r.action {
                model::Action::Allow => "allow",
                model::Action::Deny => "deny",
            },
            priority: r.priority,
            description: r.description.clone(),
        }
    }
}

/// What the plan means for one object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    pub object: ObjectKey,
    /// Changes by operation kind, planned or withheld.
    pub changes: BTreeMap<String, usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld: Option<Withheld>,
    pub conflicts: Vec<Conflict>,
    /// Owners of one group wanting a rule with different attributes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rule_conflicts: Vec<RuleConflict>,
    pub warnings: Vec<String>,
}

impl Object {
    fn new(key: &ObjectKey, r: &ObjectReport) -> Self {
        Self {
            object: key.clone(),
            changes: r
                .changes
                .iter()
                .map(|(k, n)| (k.to_string(), *n as usize))
                .collect(),
            withheld: r.withheld.as_ref().map(Withheld::from),
            conflicts: r
                .conflicts
                .iter()
                .map(|c| Conflict {
                    port: c.port.clone(),
                    group: c.group.clone(),
                    with: c.with.clone(),
                    message: c.message.clone(),
                })
                .collect(),
            rule_conflicts: r
                .rule_conflicts
                .iter()
                .map(|c| RuleConflict {
                    group: c.group.clone(),
                    rule: c.rule.clone(),
                    with: c.with.clone(),
                    message: c.message.clone(),
                })
                .collect(),
            warnings: r.warnings.clone(),
        }
    }
}

/// Why an object's changes are not in the plan.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Withheld {
    /// `paused`, `observe` or `massChange` (the blast-radius guard).
    pub reason: &'static str,
    pub message: String,
}

impl From<&ModelWithheld> for Withheld {
    fn from(w: &ModelWithheld) -> Self {
        Self {
            reason: match w {
                ModelWithheld::Paused => "paused",
                ModelWithheld::Observe => "observe",
                ModelWithheld::MassChange(_) => "massChange",
            },
            message: render::withheld_text(w),
        }
    }
}

/// Two objects disagree about whether `port` belongs to `group`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub port: String,
    pub group: String,
    pub with: ObjectKey,
    pub message: String,
}

/// Two owners of `group` want `rule` (as this object wants it) with
/// different attributes.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleConflict {
    pub group: String,
    pub rule: String,
    pub with: ObjectKey,
    pub message: String,
}

/// What happened to one step of an apply, as JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    /// 1 for the plan as shown; 2.. for passes that applied what the cloud
    /// still differed in afterwards.
    pub pass: usize,
    pub index: usize,
    pub kind: &'static str,
    pub target: String,
    /// `ok`, `failed` or `skipped`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every step's fate, in plan order.
pub fn results(pass: usize, report: &ExecuteReport) -> Vec<StepResult> {
    let ran = report.results.iter().map(|r| StepResult {
        pass,
        index: r.index + 1,
        kind: r.step.op.kind(),
        target: render::target(&r.step.op),
        status: if r.result.is_ok() { "ok" } else { "failed" },
        error: r
            .result
            .as_ref()
            .err()
            .map(|e| printable(&e.to_string()).into_owned()),
    });
    let first_skipped = report.results.len();
    let skipped = report.skipped.iter().enumerate().map(|(i, s)| StepResult {
        pass,
        index: first_skipped + i + 1,
        kind: s.op.kind(),
        target: render::target(&s.op),
        status: "skipped",
        error: None,
    });
    ran.chain(skipped).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Plan, ProviderKind, Step as PlanStep};

    #[test]
    fn an_account_plan_names_steps_and_objects_in_camel_case() {
        let web = ObjectKey::new("SecurityGroup", "default", "web");
        let header = AccountHeader {
            namespace: "default".into(),
            name: "hw".into(),
            provider: ProviderKind::Huawei,
            region: "cn-north-4".into(),
            endpoint: "http://127.0.0.1:1".into(),
            credentials: "Secret default/k".into(),
        };
        let ports: Vec<String> = (1..=7).map(|i| format!("port-{i}")).collect();
        let outcome = PlanOutcome {
            plan: Plan {
                steps: vec![
                    PlanStep {
                        op: ModelOperation::CreateGroup {
                            owner: web.clone(),
                            owner_uid: "uid".into(),
                            name: "web".into(),
                            description: String::new(),
                            vpc_id: None,
                        },
                        owners: vec![web.clone()],
                    },
                    PlanStep {
                        op: ModelOperation::AttachPorts {
                            group: GroupHandle::New(web.clone()),
                            ports,
                        },
                        owners: vec![web.clone()],
                    },
                ],
            },
            reports: BTreeMap::from([(web, ObjectReport::default())]),
        };
        let v = serde_json::to_value(Account::new(&header, &outcome)).unwrap_or_default();
        assert_eq!(v["account"]["provider"], "huawei");
        assert_eq!(v["changesPending"], true);
        assert_eq!(v["summary"]["attachPorts"], 1);
        assert_eq!(v["steps"][1]["index"], 2);
        assert_eq!(v["steps"][1]["kind"], "attachPorts");
        assert_eq!(
            v["steps"][1]["operation"]["ports"].as_array().map(Vec::len),
            Some(7)
        );
        assert_eq!(v["steps"][1]["operation"]["group"]["new"]["name"], "web");
        assert_eq!(v["objects"][0]["object"]["name"], "web");
        // Operation fields are camelCase like every other key.
        assert_eq!(v["steps"][0]["operation"]["ownerUid"], "uid");
        assert!(v["steps"][0]["operation"].get("owner_uid").is_none());
        assert!(v.get("results").is_none(), "a plan has no apply results");
    }
}
