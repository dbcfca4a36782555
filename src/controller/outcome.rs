//! The controller's shared vocabulary: why an object stands where it
//! stands ([`Reason`]), how it stands ([`Verdict`]), and what one account
//! cycle means for each object ([`ObjectOutcome`], [`CycleResult`]).
//!
//! A leaf: it imports nothing else of the controller, so every other file
//! can use it without a circle.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::cloud::{CloudError, ErrorKind};
pub use crate::model::ChangeCounts;
use crate::model::ObjectKey;

/// Why an object is in its state: the `reason` of its conditions, the
/// label of its failure metrics. A closed set; code matches on variants,
/// conditions and metrics carry [`Reason::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The cloud matches the spec.
    Synced,
    /// `secgroup.io/paused: "true"`.
    Paused,
    /// `secgroup.io/mode: observe`.
    Observing,
    /// Waiting for an earlier step of the account to succeed.
    Pending,
    /// A named `SecurityGroup` (or its cloud id) does not exist yet.
    ReferenceNotFound,
    /// The named `CloudAccount` does not exist.
    AccountNotFound,
    /// A field of the spec is invalid.
    InvalidSpec,
    /// The `CloudAccount` is invalid, or its client cannot be built.
    AccountInvalid,
    /// The Secret is missing or unusable, or the cloud refused its keys.
    CredentialsInvalid,
    /// Two objects disagree about a port/group pair.
    Conflict,
    /// The blast-radius guard holds the change back.
    MassChangeBlocked,
    /// A port this object lets go would be left with no security group:
    /// it keeps its groups until it holds another.
    PortHeld,
    /// The planner refused the account's desired state as a whole.
    PlanFailed,
    /// A step failed without a cloud error behind it.
    ApplyFailed,
    /// A Kubernetes API call failed.
    KubernetesAPI,
    /// A group to delete is still used by ports.
    GroupInUse,
    /// The finalizer could not be added, so the object may not change the
    /// cloud yet (deleting it could leave cloud state behind).
    FinalizerMissing,
    /// This replica's leadership could not be confirmed in time: it stopped
    /// writing to the cloud.
    NotLeader,
    /// A cloud call failed, by the kind of failure.
    Cloud(ErrorKind),
}

impl Reason {
    /// The stable text conditions and metrics carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Synced => "Synced",
            Reason::Paused => "Paused",
            Reason::Observing => "Observing",
            Reason::Pending => "Pending",
            Reason::ReferenceNotFound => "ReferenceNotFound",
            Reason::AccountNotFound => "AccountNotFound",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::AccountInvalid => "AccountInvalid",
            Reason::CredentialsInvalid => "CredentialsInvalid",
            Reason::Conflict => "Conflict",
            Reason::MassChangeBlocked => "MassChangeBlocked",
            Reason::PortHeld => "PortHeld",
            Reason::PlanFailed => "PlanFailed",
            Reason::ApplyFailed => "ApplyFailed",
            Reason::KubernetesAPI => "KubernetesAPI",
            Reason::GroupInUse => "GroupInUse",
            Reason::FinalizerMissing => "FinalizerMissing",
            Reason::NotLeader => "NotLeader",
            Reason::Cloud(kind) => kind.as_str(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one object stands after a cycle.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Converged, or deliberately not changing (paused, observing).
    Ready { reason: Reason, message: String },
    /// Waiting for something that will come by itself (a reference, an
    /// earlier step of another object); `retry` says whether to poll.
    Progressing {
        reason: Reason,
        message: String,
        retry: bool,
    },
    /// Needs someone to act: invalid spec, conflict, withheld mass change,
    /// rejected credentials.
    Stalled { reason: Reason, message: String },
    /// A call failed; retried with backoff (or after `retry_after`).
    Failed {
        reason: Reason,
        message: String,
        retry_after: Option<Duration>,
    },
}

impl Verdict {
    pub fn ready(reason: Reason, message: impl Into<String>) -> Self {
        Verdict::Ready {
            reason,
            message: message.into(),
        }
    }

    pub fn synced(message: impl Into<String>) -> Self {
        Self::ready(Reason::Synced, message)
    }

    pub fn waiting(reason: Reason, message: impl Into<String>, retry: bool) -> Self {
        Verdict::Progressing {
            reason,
            message: message.into(),
            retry,
        }
    }

    pub fn stalled(reason: Reason, message: impl Into<String>) -> Self {
        Verdict::Stalled {
            reason,
            message: message.into(),
        }
    }

    pub fn failed(
        reason: Reason,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        Verdict::Failed {
            reason,
            message: message.into(),
            retry_after,
        }
    }

    /// A failed cloud call: rejected credentials stall (someone must fix
    /// the Secret), everything else is retried.
    pub fn from_cloud(e: &CloudError, context: &str) -> Self {
        match e {
            CloudError::Unauthorized(_) => Self::stalled(
                Reason::CredentialsInvalid,
                format!("the cloud rejected the credentials of this account: {context}: {e}"),
            ),
            _ => Self::failed(
                Reason::Cloud(e.kind()),
                format!("{context}: {e}"),
                e.retry_after(),
            ),
        }
    }

    pub fn reason(&self) -> Reason {
        match self {
            Verdict::Ready { reason, .. }
            | Verdict::Progressing { reason, .. }
            | Verdict::Stalled { reason, .. }
            | Verdict::Failed { reason, .. } => *reason,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Verdict::Ready { message, .. }
            | Verdict::Progressing { message, .. }
            | Verdict::Stalled { message, .. }
            | Verdict::Failed { message, .. } => message,
        }
    }

    /// In sync with its spec (not paused, observing or waiting).
    pub fn is_synced(&self) -> bool {
        matches!(
            self,
            Verdict::Ready {
                reason: Reason::Synced,
                ..
            }
        )
    }

    /// Whether the account should be looked at again soon for this object
    /// (a failure, or a wait that polls).
    pub fn wants_retry(&self) -> bool {
        matches!(
            self,
            Verdict::Failed { .. } | Verdict::Progressing { retry: true, .. }
        )
    }
}

/// Group ids as an outcome keeps them: one allocation per list, each id
/// shared by the cycle's outcomes ([`Interner`]). Ports in sync list the
/// same ids twice (wanted and current) and share the list. As `String`s,
/// 10,000 ports' ids were ~3 MB of a kept cycle result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ids(Arc<[Arc<str>]>);

impl Ids {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|id| &**id)
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
}

/// Each distinct id of a cycle, once.
#[derive(Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub fn ids<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) -> Ids {
        Ids(ids.into_iter().map(|id| self.one(id)).collect())
    }

    fn one(&mut self, id: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(id) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(id);
        self.0.insert(shared.clone());
        shared
    }
}

/// What a cycle learned about an object's cloud state, by kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Facts {
    /// Nothing kind-specific (the account; an object not planned).
    #[default]
    None,
    /// A `SecurityGroup`: its cloud id and how many rules it has after the
    /// cycle.
    Group {
        group_id: Option<String>,
        rule_count: Option<u32>,
        /// Identities of the rules it owns or owned and has not seen
        /// revoked; `None` leaves the status's list as it is.
        managed_rules: Option<Vec<String>>,
    },
    /// A `SecurityGroupRules`: its group's id, how many rules it owns, and
    /// the identities of the rules it owns or owned and has not seen
    /// revoked.
    Rules {
        group_id: Option<String>,
        rule_count: u32,
        managed_rules: Vec<String>,
    },
    /// A `PortSecurityGroups`: the ids `spec.securityGroups` resolved to,
    /// and the port's groups after the cycle.
    Port { wanted: Ids, current: Ids },
    /// A `SecurityGroupMembership`: its group's id and the ports it
    /// manages (listed and not yet removed).
    Membership {
        group_id: Option<String>,
        managed_ports: Vec<String>,
        /// With `nodeSelector`: what it matched.
        nodes: Option<NodeFacts>,
    },
    /// A `NodeSecurityGroups`: the ids `spec.securityGroups` resolved to,
    /// the ports it gave them and has not released, and what its selector
    /// matched.
    NodeGroups {
        wanted: Ids,
        managed_ports: Vec<String>,
        nodes: NodeFacts,
    },
}

/// What a node selector matched, as a status shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeFacts {
    pub matched: u32,
    /// Ports (Huawei) or instances (Baidu) the matching Nodes resolved to.
    pub resolved: u32,
    /// Matching Nodes that changed nothing: (name, why), by name.
    pub unresolved: Vec<(String, String)>,
}

impl Facts {
    /// The group id a group or membership outcome names.
    pub fn group_id(&self) -> Option<&str> {
        match self {
            Facts::Group { group_id, .. }
            | Facts::Membership { group_id, .. }
            | Facts::Rules { group_id, .. } => group_id.as_deref(),
            _ => None,
        }
    }
}

/// What a cycle means for one object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectOutcome {
    pub key: ObjectKey,
    pub verdict: Verdict,
    /// Changes the plan had for this object, whether applied or not.
    pub planned: ChangeCounts,
    /// Changes applied successfully in this cycle.
    pub applied: ChangeCounts,
    pub facts: Facts,
    /// A deleting object: everything its deletion policy asks is done.
    pub cleanup_done: bool,
}

impl ObjectOutcome {
    /// An outcome with nothing planned or applied and no cloud facts.
    pub fn new(key: ObjectKey, verdict: Verdict) -> Self {
        Self {
            key,
            verdict,
            planned: ChangeCounts::new(),
            applied: ChangeCounts::new(),
            facts: Facts::None,
            cleanup_done: false,
        }
    }

    pub fn applied_total(&self) -> u32 {
        self.applied.values().sum()
    }
}

/// The outcomes of a cycle's objects, sorted by key in one allocation.
/// An account's latest result is kept until its next cycle; a map keeps
/// about half its node space empty (10,000 objects: ~2 MB).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcomes(Vec<ObjectOutcome>);

impl Outcomes {
    pub fn get(&self, key: &ObjectKey) -> Option<&ObjectOutcome> {
        let i = self.0.binary_search_by(|o| o.key.cmp(key)).ok()?;
        self.0.get(i)
    }

    pub fn get_mut(&mut self, key: &ObjectKey) -> Option<&mut ObjectOutcome> {
        let i = self.0.binary_search_by(|o| o.key.cmp(key)).ok()?;
        self.0.get_mut(i)
    }

    /// In key order.
    pub fn values(&self) -> std::slice::Iter<'_, ObjectOutcome> {
        self.0.iter()
    }

    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, ObjectOutcome> {
        self.0.iter_mut()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Sorted by key; of two outcomes for one key the last wins.
impl FromIterator<ObjectOutcome> for Outcomes {
    fn from_iter<I: IntoIterator<Item = ObjectOutcome>>(iter: I) -> Self {
        let mut all: Vec<ObjectOutcome> = iter.into_iter().collect();
        // A cycle gives its outcomes in key order already; sorting them
        // anyway took a buffer of half of them.
        if !all.windows(2).all(|w| w[0].key < w[1].key) {
            all.reverse();
            // Stable: among equal keys the last given comes first, and stays.
            all.sort_by(|a, b| a.key.cmp(&b.key));
            all.dedup_by(|later, kept| later.key == kept.key);
        }
        all.shrink_to_fit();
        Self(all)
    }
}

/// The result of one cycle for the whole account.
#[derive(Clone, Debug, PartialEq)]
pub struct CycleResult {
    /// The `CloudAccount`'s own outcome.
    pub account: ObjectOutcome,
    pub objects: Outcomes,
    /// Counts of the whole plan by operation kind.
    pub plan_summary: ChangeCounts,
}

impl CycleResult {
    /// Every object gets the same verdict (a failure before planning).
    pub fn all(account: ObjectKey, objects: &[ObjectKey], verdict: Verdict) -> Self {
        Self {
            objects: objects
                .iter()
                .map(|k| ObjectOutcome::new(k.clone(), verdict.clone()))
                .collect(),
            account: ObjectOutcome::new(account, verdict),
            plan_summary: ChangeCounts::new(),
        }
    }

    /// The outcome of `key` (the account's own for the account).
    pub fn outcome(&self, key: &ObjectKey) -> Option<&ObjectOutcome> {
        if *key == self.account.key {
            Some(&self.account)
        } else {
            self.objects.get(key)
        }
    }

    /// The account's outcome, then every object's.
    pub fn iter(&self) -> impl Iterator<Item = &ObjectOutcome> {
        std::iter::once(&self.account).chain(self.objects.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::ApiErrorDetail;

    fn outcome(name: &str, message: &str) -> ObjectOutcome {
        ObjectOutcome::new(
            ObjectKey::new("PortSecurityGroups", "ns", name),
            Verdict::synced(message),
        )
    }

    #[test]
    fn reasons_keep_their_condition_strings() {
        let cases = [
            (Reason::Synced, "Synced"),
            (Reason::MassChangeBlocked, "MassChangeBlocked"),
            (Reason::PortHeld, "PortHeld"),
            (Reason::KubernetesAPI, "KubernetesAPI"),
            (Reason::Cloud(ErrorKind::Server), "ServerError"),
            (Reason::Cloud(ErrorKind::Throttled), "Throttled"),
            (Reason::Cloud(ErrorKind::Conflict), "Conflict"),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.as_str(), text);
            assert_eq!(reason.to_string(), text);
        }
    }

    #[test]
    fn cloud_failures_stall_only_on_rejected_credentials() {
        let detail = ApiErrorDetail {
            status: 401,
            code: "APIG.0301".into(),
            message: "bad signature".into(),
            request_id: None,
        };
        let v = Verdict::from_cloud(&CloudError::Unauthorized(detail.clone()), "reading");
        assert_eq!(v.reason(), Reason::CredentialsInvalid);
        assert!(matches!(v, Verdict::Stalled { .. }));
        let throttled = CloudError::Throttled {
            detail,
            retry_after: Some(Duration::from_secs(3)),
        };
        let v = Verdict::from_cloud(&throttled, "attachPorts");
        assert_eq!(
            v,
            Verdict::failed(
                Reason::Cloud(ErrorKind::Throttled),
                format!("attachPorts: {throttled}"),
                Some(Duration::from_secs(3))
            )
        );
        assert!(v.wants_retry());
        assert!(!Verdict::synced("in sync").wants_retry());
        assert!(!Verdict::waiting(Reason::ReferenceNotFound, "", false).wants_retry());
        assert!(Verdict::waiting(Reason::Pending, "", true).wants_retry());
    }

    #[test]
    fn a_cycles_ids_are_kept_once() {
        let mut interner = Interner::default();
        let wanted = interner.ids(["sg-1", "sg-2"]);
        let current = interner.ids(["sg-2".to_string().as_str()]);
        assert_eq!(wanted.to_strings(), ["sg-1", "sg-2"]);
        assert_eq!(current.iter().collect::<Vec<_>>(), ["sg-2"]);
        assert!(Arc::ptr_eq(&wanted.0[1], &current.0[0]), "one copy of sg-2");
        assert_eq!(wanted, Interner::default().ids(["sg-1", "sg-2"]));
    }

    #[test]
    fn outcomes_are_found_by_key_in_order_and_the_last_of_a_key_wins() {
        let mut all: Outcomes = [
            outcome("c", "1"),
            outcome("a", "2"),
            outcome("b", "3"),
            outcome("a", "4"),
        ]
        .into_iter()
        .collect();
        let names: Vec<&str> = all.values().map(|o| o.key.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let a = ObjectKey::new("PortSecurityGroups", "ns", "a");
        assert_eq!(all.get(&a).map(|o| o.verdict.message()), Some("4"));
        assert!(
            all.get(&ObjectKey::new("SecurityGroup", "ns", "a"))
                .is_none()
        );
        if let Some(o) = all.get_mut(&a) {
            o.cleanup_done = true;
        }
        assert!(all.get(&a).is_some_and(|o| o.cleanup_done));
        assert_eq!(all.len(), 3);
    }
}
