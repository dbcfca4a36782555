//! Kubernetes Nodes for node selectors: one cluster-wide watch, each Node
//! stripped to what resolution reads before it is stored, and which
//! account cycles a Node's change triggers.
//!
//! Why a full watch and not a metadata-only one: a Node's cloud instance
//! is in `spec.providerID` and its primary port is told by the
//! `InternalIP` of `status.addresses`; a metadata watch carries neither.
//! So full Nodes are watched and, before the store, cut to labels,
//! annotations (an account's `nodeIdentity` may name one),
//! `spec.providerID` and the `InternalIP` addresses. The rest of a Node
//! (images, conditions, capacity, nodeInfo, managed fields) is most of
//! its 10-30 KiB; what is kept is a few hundred bytes.
//!
//! A kubelet updates its Node's status every few seconds (heartbeats); a
//! Node triggers the cycles only when what is kept changed, or when it is
//! deleted (shared reflector streams do not carry deletions, so this
//! watch sends its own triggers).

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use futures::StreamExt;
use futures::channel::mpsc;
use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus};
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

use kube::runtime::reflector::Store;

use crate::crd::{CloudAccount, NodeSecurityGroups, SecurityGroup, SecurityGroupMembership};

use super::objects::{Managed, slim};

/// Cut `node` to what resolution reads (see the module docs).
pub fn slim_node(node: &mut Node) {
    slim(node);
    node.metadata.owner_references = None;
    let provider_id = node.spec.as_ref().and_then(|s| s.provider_id.clone());
    node.spec = Some(NodeSpec {
        provider_id,
        ..NodeSpec::default()
    });
    let addresses: Vec<_> = crate::crd::nodes::internal_addresses(node)
        .cloned()
        .collect();
    node.status = Some(NodeStatus {
        addresses: (!addresses.is_empty()).then_some(addresses),
        ..NodeStatus::default()
    });
}

/// A hash of what resolution reads of a (slim) Node: a heartbeat hashes
/// the same.
pub fn node_input(node: &Node) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    node.metadata.uid.hash(&mut h);
    node.metadata.name.hash(&mut h);
    node.metadata.labels.hash(&mut h);
    node.metadata.annotations.hash(&mut h);
    node.spec
        .as_ref()
        .and_then(|s| s.provider_id.as_ref())
        .hash(&mut h);
    for a in node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
    {
        (&a.type_, &a.address).hash(&mut h);
    }
    h.finish()
}

/// The stores that tell which accounts select Nodes.
#[derive(Clone)]
pub struct Selectors {
    pub groups: Store<SecurityGroup>,
    pub memberships: Store<SecurityGroupMembership>,
    pub node_groups: Store<NodeSecurityGroups>,
}

/// The accounts with an object that selects Nodes.
pub fn selecting_accounts(stores: &Selectors) -> HashSet<ObjectRef<CloudAccount>> {
    let mut out = HashSet::new();
    for m in stores.memberships.state() {
        if m.spec.node_selector.is_some()
            && let (Some(ns), Some(name)) = (m.namespace(), m.account_name(&stores.groups))
        {
            out.insert(ObjectRef::new(&name).within(&ns));
        }
    }
    for n in stores.node_groups.state() {
        if let Some(ns) = n.namespace() {
            out.insert(ObjectRef::new(&n.spec.account_ref.name).within(&ns));
        }
    }
    out
}

/// Run the Node watch into `writer`;
/// returns its triggers: the accounts to run each time a Node's kept
/// fields change or it goes.
pub fn watch_nodes(
    client: &Client,
    writer: reflector::store::Writer<Node>,
    stores: Selectors,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> mpsc::UnboundedReceiver<ObjectRef<CloudAccount>> {
    let (tx, rx) = mpsc::unbounded();
    let api: Api<Node> = Api::all(client.clone());
    let mut seen: HashMap<String, u64> = HashMap::new();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(slim_node)
        .reflect(writer)
        .for_each(move |event| {
            let changed = match &event {
                Ok(watcher::Event::Apply(node)) | Ok(watcher::Event::InitApply(node)) => {
                    let input = node_input(node);
                    seen.insert(node.name_any(), input) != Some(input)
                }
                Ok(watcher::Event::Delete(node)) => seen.remove(&node.name_any()).is_some(),
                Ok(watcher::Event::Init) => false,
                Ok(watcher::Event::InitDone) => true,
                Err(e) => {
                    tracing::warn!(kind = "Node", error = %e, "watch failed; retrying");
                    false
                }
            };
            // During the initial list every Node is new; the accounts run
            // once at its end (InitDone) rather than once per Node.
            let listing = matches!(event, Ok(watcher::Event::InitApply(_)));
            if changed && !listing {
                for account in selecting_accounts(&stores) {
                    let _ = tx.unbounded_send(account);
                }
            }
            std::future::ready(())
        });
    tasks.push(tokio::spawn(stream));
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::objects::LAST_APPLIED;

    fn node(conditions: &str) -> Node {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "n1",
                "labels": {"pool": "a"},
                "annotations": {LAST_APPLIED: "{}", "example.com/server": "srv-1"},
                "managedFields": [{"manager": "kubelet"}]
            },
            "spec": {"providerID": "cce://i-AAAABBBB", "podCIDR": "10.0.1.0/24",
                     "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                              {"type": "Hostname", "address": "n1"}],
                "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": conditions}],
                "images": [{"names": ["registry/app:1"], "sizeBytes": 1}],
                "capacity": {"cpu": "4"}
            }
        }))
        .expect("a Node")
    }

    #[test]
    fn a_slim_node_keeps_what_resolution_reads() {
        let mut n = node("2026-01-01T00:00:00Z");
        slim_node(&mut n);
        assert_eq!(n.metadata.managed_fields, None);
        assert_eq!(
            n.annotations().keys().collect::<Vec<_>>(),
            ["example.com/server"]
        );
        assert_eq!(n.labels().get("pool").map(String::as_str), Some("a"));
        let spec = n.spec.as_ref().expect("spec");
        assert_eq!(spec.provider_id.as_deref(), Some("cce://i-AAAABBBB"));
        assert_eq!(spec.pod_cidr, None);
        assert_eq!(spec.taints, None);
        let status = n.status.as_ref().expect("status");
        let addresses: Vec<&str> = status
            .addresses
            .iter()
            .flatten()
            .map(|a| a.address.as_str())
            .collect();
        assert_eq!(addresses, ["10.0.0.1"]);
        assert!(status.conditions.is_none() && status.images.is_none());
        assert!(status.capacity.is_none());
    }

    #[test]
    fn heartbeats_hash_the_same_and_labels_do_not() {
        let slim = |mut n: Node| {
            slim_node(&mut n);
            n
        };
        let a = slim(node("2026-01-01T00:00:00Z"));
        let b = slim(node("2026-01-01T00:00:10Z"));
        assert_eq!(node_input(&a), node_input(&b));
        let mut relabeled = a.clone();
        relabeled.labels_mut().insert("pool".into(), "b".into());
        assert_ne!(node_input(&a), node_input(&relabeled));
        let mut moved = a.clone();
        if let Some(s) = moved.status.as_mut().and_then(|s| s.addresses.as_mut()) {
            s[0].address = "10.0.0.2".into();
        }
        assert_ne!(node_input(&a), node_input(&moved));
    }
}
