//! From checked documents to one desired state per `CloudAccount`: the CRD
//! schema (CEL included) as the API server would apply it, the typed
//! objects, every reference among them, and the controller's own checks.
//! Any problem is an error naming the file, the object and the field; the
//! caller stops before any cloud call.

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;

use super::manifest::{API_VERSION, Document, ManifestError, Origin};
use k8s_openapi::api::core::v1::Node;

use crate::crd::resolve::{
    AccountSettings, Objects, UnresolvedReason, account_settings, node_instances, resolve_objects,
    selects_nodes,
};
use crate::crd::schema_check::check_against_schema;
use crate::crd::validate::object_key;
use crate::crd::{
    CloudAccount, NodeSecurityGroups, PortSecurityGroups, SecurityGroup, SecurityGroupMembership,
    SecurityGroupRules,
};
use crate::model::{DesiredState, FieldError, ObjectKey};
use crate::plan::nodes::InstancePorts;

/// Most `CloudAccount`s one run plans. Each account is resolved against
/// every object of its namespace, so this keeps the work linear in the
/// number of objects (and each account reads its cloud).
pub const MAX_ACCOUNTS: usize = 100;

/// The typed objects of each namespace, by reference.
struct ByNamespace<'a> {
    groups: BTreeMap<String, Vec<&'a SecurityGroup>>,
    ports: BTreeMap<String, Vec<&'a PortSecurityGroups>>,
    memberships: BTreeMap<String, Vec<&'a SecurityGroupMembership>>,
    node_groups: BTreeMap<String, Vec<&'a NodeSecurityGroups>>,
    rule_sets: BTreeMap<String, Vec<&'a SecurityGroupRules>>,
}

impl<'a> ByNamespace<'a> {
    fn of(typed: &'a Typed) -> Self {
        fn split<K: ResourceExt>(objects: &[K]) -> BTreeMap<String, Vec<&K>> {
            let mut out: BTreeMap<String, Vec<&K>> = BTreeMap::new();
            for o in objects {
                out.entry(o.namespace().unwrap_or_default())
                    .or_default()
                    .push(o);
            }
            out
        }
        Self {
            groups: split(&typed.groups),
            ports: split(&typed.ports),
            memberships: split(&typed.memberships),
            node_groups: split(&typed.node_groups),
            rule_sets: split(&typed.rule_sets),
        }
    }

    /// The objects of `namespace`, and every Node among the manifests.
    fn objects(&self, namespace: &str, nodes: &'a [Node]) -> Objects<'a> {
        let (groups, ports, memberships) = self.get(namespace);
        Objects {
            groups: groups.to_vec(),
            ports: ports.to_vec(),
            memberships: memberships.to_vec(),
            node_groups: self.node_groups.get(namespace).cloned().unwrap_or_default(),
            rule_sets: self.rule_sets.get(namespace).cloned().unwrap_or_default(),
            nodes: nodes.iter().collect(),
            instances: None,
        }
    }

    #[allow(clippy::type_complexity)]
    fn get(
        &self,
        namespace: &str,
    ) -> (
        &[&'a SecurityGroup],
        &[&'a PortSecurityGroups],
        &[&'a SecurityGroupMembership],
    ) {
        (
            self.groups.get(namespace).map_or(&[], Vec::as_slice),
            self.ports.get(namespace).map_or(&[], Vec::as_slice),
            self.memberships.get(namespace).map_or(&[], Vec::as_slice),
        )
    }
}

/// One account, resolved, with no problems left.
#[derive(Debug)]
pub struct ResolvedAccount {
    pub namespace: String,
    pub name: String,
    pub settings: AccountSettings,
    pub desired: DesiredState,
    /// Where the account's manifest came from.
    pub origin: Origin,
    /// When an object of the account selects Nodes: what resolving again
    /// takes once the Nodes' instances are read.
    pub nodes: Option<NodeInputs>,
}

/// An account's objects and the Nodes among the manifests, owned, to
/// resolve the account again with its Nodes' ports (the CLI has no
/// cluster: only `kind: Node` manifests are Nodes).
#[derive(Debug)]
pub struct NodeInputs {
    account: CloudAccount,
    groups: Vec<SecurityGroup>,
    ports: Vec<PortSecurityGroups>,
    memberships: Vec<SecurityGroupMembership>,
    node_groups: Vec<NodeSecurityGroups>,
    rule_sets: Vec<SecurityGroupRules>,
    nodes: Vec<Node>,
}

impl NodeInputs {
    fn objects<'a>(&'a self, instances: Option<&'a InstancePorts>) -> Objects<'a> {
        Objects {
            groups: self.groups.iter().collect(),
            ports: self.ports.iter().collect(),
            memberships: self.memberships.iter().collect(),
            node_groups: self.node_groups.iter().collect(),
            rule_sets: self.rule_sets.iter().collect(),
            nodes: self.nodes.iter().collect(),
            instances,
        }
    }

    /// The cloud instances of the Nodes among the manifests.
    pub fn instances(&self) -> BTreeSet<String> {
        node_instances(&self.account, &self.objects(None))
    }

    /// The account's desired state with each node selector expanded
    /// against `cloud`, and per object what to warn about: a selector
    /// that matched no Node (and why that may be), Nodes that did not
    /// resolve.
    pub fn resolve(
        &self,
        cloud: &InstancePorts,
    ) -> (DesiredState, BTreeMap<ObjectKey, Vec<String>>) {
        let resolution = resolve_objects(&self.account, &self.objects(Some(cloud)));
        let mut warnings: BTreeMap<ObjectKey, Vec<String>> = BTreeMap::new();
        for (key, e) in &resolution.node_selections {
            let list = warnings.entry(key.clone()).or_default();
            if e.matched == 0 {
                list.push(if self.nodes.is_empty() {
                    "nodeSelector matched no Node: there are no `kind: Node` manifests in the \
                     input (the CLI reads no cluster; add the cluster's Nodes, e.g. \
                     `kubectl get nodes -o yaml`, to preview)"
                        .to_string()
                } else {
                    format!(
                        "nodeSelector matched none of the {} Node(s) among the manifests",
                        self.nodes.len()
                    )
                });
            }
            for u in &e.unresolved {
                list.push(format!("Node {:?} changes nothing: {}", u.name, u.reason));
            }
        }
        warnings.retain(|_, w| !w.is_empty());
        (resolution.desired, warnings)
    }
}

/// The typed custom resources among the documents.
#[derive(Default)]
struct Typed {
    accounts: Vec<CloudAccount>,
    groups: Vec<SecurityGroup>,
    ports: Vec<PortSecurityGroups>,
    memberships: Vec<SecurityGroupMembership>,
    node_groups: Vec<NodeSecurityGroups>,
    rule_sets: Vec<SecurityGroupRules>,
    nodes: Vec<Node>,
}

pub(crate) fn key_of(doc: &Document) -> ObjectKey {
    ObjectKey::new(&doc.kind, &doc.namespace, &doc.name)
}

/// Split `path: message` as the schema checker writes it.
fn split_field(problem: &str) -> (String, String) {
    match problem.split_once(": ") {
        Some((field, message)) if !field.contains(' ') || field.starts_with("spec") => {
            (field.to_string(), message.to_string())
        }
        _ => (String::new(), problem.to_string()),
    }
}

/// Check, type and resolve every custom resource in `docs`.
pub fn resolve_documents(docs: &[Document]) -> Result<Vec<ResolvedAccount>, Vec<ManifestError>> {
    let by_key: BTreeMap<ObjectKey, &Document> = docs.iter().map(|d| (key_of(d), d)).collect();
    let mut errors = Vec::new();
    let mut typed = Typed::default();

    // 1. Schema and CEL, then serde into the typed objects.
    for doc in docs.iter().filter(|d| d.api_version == API_VERSION) {
        let problems = check_against_schema(doc.body());
        if !problems.is_empty() {
            for p in problems {
                let (field, message) = split_field(&p);
                errors.push(doc.error(field, message));
            }
            continue;
        }
        let result = match doc.kind.as_str() {
            "CloudAccount" => doc.typed().map(|o| typed.accounts.push(o)),
            "SecurityGroup" => doc.typed().map(|o| typed.groups.push(o)),
            "PortSecurityGroups" => doc.typed().map(|o| typed.ports.push(o)),
            "SecurityGroupMembership" => doc.typed().map(|o| typed.memberships.push(o)),
            "NodeSecurityGroups" => doc.typed().map(|o| typed.node_groups.push(o)),
            "SecurityGroupRules" => doc.typed().map(|o| typed.rule_sets.push(o)),
            // The envelope check admits no other kind of this group.
            _ => Ok(()),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    // Nodes, for node selectors to match (cluster-scoped: no namespace).
    for doc in docs
        .iter()
        .filter(|d| d.api_version == "v1" && d.kind == "Node")
    {
        match doc.typed::<Node>() {
            Ok(mut node) => {
                node.metadata.namespace = None;
                typed.nodes.push(node);
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if typed.accounts.len() > MAX_ACCOUNTS {
        let doc = typed.accounts.get(MAX_ACCOUNTS).and_then(|a| {
            by_key.get(&ObjectKey::new(
                "CloudAccount",
                &a.namespace().unwrap_or_default(),
                &a.name_any(),
            ))
        });
        let message = format!(
            "{} CloudAccounts; one run plans at most {MAX_ACCOUNTS} (split the manifests)",
            typed.accounts.len()
        );
        return Err(vec![match doc {
            Some(doc) => doc.error("", message),
            None => ManifestError {
                origin: None,
                object: None,
                field: None,
                message,
            },
        }]);
    }

    // 2. Every accountRef names an account of its namespace.
    let accounts: BTreeSet<(String, String)> = typed
        .accounts
        .iter()
        .map(|a| (a.namespace().unwrap_or_default(), a.name_any()))
        .collect();
    let mut check_account = |key: ObjectKey, name: &str| {
        if !accounts.contains(&(key.namespace.clone(), name.to_string()))
            && let Some(doc) = by_key.get(&key)
        {
            errors.push(doc.error(
                "spec.accountRef.name",
                format!(
                    "no CloudAccount {name:?} in namespace {:?} among the manifests",
                    key.namespace
                ),
            ));
        }
    };
    for g in &typed.groups {
        check_account(object_key(g), &g.spec.account_ref.name);
    }
    for p in &typed.ports {
        check_account(object_key(p), &p.spec.account_ref.name);
    }
    for n in &typed.node_groups {
        check_account(object_key(n), &n.spec.account_ref.name);
    }
    for r in &typed.rule_sets {
        if let Some(account) = &r.spec.account_ref {
            check_account(object_key(r), &account.name);
        }
    }
    for m in &typed.memberships {
        if let Some(account) = &m.spec.account_ref {
            check_account(object_key(m), &account.name);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // 3. Resolve each account against the objects of its namespace.
    let mut resolved = Vec::new();
    // Errors that only follow from another object's errors are listed
    // after the root causes, so the first line is the one to fix.
    let mut cascades: Vec<ManifestError> = Vec::new();
    let mut belongs: BTreeSet<ObjectKey> = BTreeSet::new();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut push = |errors: &mut Vec<ManifestError>, e: ManifestError| {
        // A membership whose group is missing is reported by every account.
        if reported.insert(e.to_string()) {
            errors.push(e);
        }
    };
    // Each namespace's objects, once: an account is resolved against the
    // objects of its namespace only, by reference.
    let by_namespace = ByNamespace::of(&typed);
    for account in &typed.accounts {
        let ns = account.namespace().unwrap_or_default();
        let name = account.name_any();
        let account_key = ObjectKey::new("CloudAccount", &ns, &name);
        let objects = by_namespace.objects(&ns, &typed.nodes);
        let settings = match account_settings(account) {
            Ok(s) => Some(s),
            Err(field_errors) => {
                for fe in field_errors {
                    push(&mut errors, field_error(&by_key, &account_key, fe));
                }
                None
            }
        };
        let resolution = resolve_objects(account, &objects);
        belongs.extend(resolution.objects.iter().cloned());
        for (key, problems) in &resolution.problems {
            for fe in &problems.errors {
                push(&mut errors, field_error(&by_key, key, fe.clone()));
            }
            for u in &problems.unresolved {
                let message = match u.reason {
                    UnresolvedReason::NotFound => format!(
                        "no {} {:?} in namespace {:?} among the manifests",
                        u.kind, u.name, key.namespace
                    ),
                    UnresolvedReason::NoGroupIdYet => format!(
                        "{} {:?} cannot be used until its own errors are fixed",
                        u.kind, u.name
                    ),
                };
                let e = match by_key.get(key) {
                    Some(doc) => doc.error(u.field.clone(), message),
                    None => ManifestError {
                        origin: None,
                        object: Some(key.to_string()),
                        field: Some(u.field.clone()),
                        message,
                    },
                };
                if u.reason == UnresolvedReason::NoGroupIdYet {
                    push(&mut cascades, e);
                } else {
                    push(&mut errors, e);
                }
            }
        }
        if let (Some(settings), Some(doc)) = (settings, by_key.get(&account_key)) {
            let nodes = selects_nodes(&objects).then(|| NodeInputs {
                account: account.clone(),
                groups: objects.groups.iter().map(|o| (*o).clone()).collect(),
                ports: objects.ports.iter().map(|o| (*o).clone()).collect(),
                memberships: objects.memberships.iter().map(|o| (*o).clone()).collect(),
                node_groups: objects.node_groups.iter().map(|o| (*o).clone()).collect(),
                rule_sets: objects.rule_sets.iter().map(|o| (*o).clone()).collect(),
                nodes: typed.nodes.clone(),
            });
            resolved.push(ResolvedAccount {
                namespace: ns,
                name,
                settings,
                desired: resolution.desired,
                origin: doc.origin.clone(),
                nodes,
            });
        }
    }

    // 4. Anything that belongs to no account (e.g. a membership whose
    // group reference resolves nowhere) would silently do nothing.
    for doc in docs.iter().filter(|d| d.api_version == API_VERSION) {
        let key = key_of(doc);
        if doc.kind != "CloudAccount" && !belongs.contains(&key) {
            let by_group_ref = doc.kind == "SecurityGroupMembership"
                || (doc.kind == "SecurityGroupRules"
                    && doc.body().pointer("/spec/securityGroupRef").is_some());
            let field = if by_group_ref {
                "spec.securityGroupRef.name"
            } else {
                "spec.accountRef.name"
            };
            push(
                &mut errors,
                doc.error(
                    field,
                    "does not lead to any CloudAccount among the manifests",
                ),
            );
        }
    }

    errors.extend(cascades);
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

fn field_error(
    by_key: &BTreeMap<ObjectKey, &Document>,
    fallback: &ObjectKey,
    fe: FieldError,
) -> ManifestError {
    let key = fe.object.clone().unwrap_or_else(|| fallback.clone());
    match by_key.get(&key) {
        Some(doc) => doc.error(fe.field, fe.message),
        None => ManifestError {
            origin: None,
            object: Some(key.to_string()),
            field: Some(fe.field).filter(|f| !f.is_empty()),
            message: fe.message,
        },
    }
}
