//! Port sources to ports: which cloud ports a label selector's matches
//! stand for. Pure: the caller has matched the selector, read each
//! source's instance id, and listed the cloud's ports per instance (Huawei
//! list ports by `device_id`, many servers a call; Baidu's bulk instance
//! read, where the instance itself is the member).
//!
//! A source is anything that runs on one cloud instance and knows its own
//! addresses: a Kubernetes Node today. A Pod with its own network
//! interface would be one more [`SourceKind`] whose port is found by its
//! address the same way.
//!
//! A source that resolves to nothing (no instance id, an instance the
//! account's region does not have, no port with its address) is reported
//! and contributes no port: it changes nothing in the cloud.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::ProviderKind;

/// What kind of object a source is, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    Node,
}

/// One selected source, without Kubernetes types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSource {
    pub kind: SourceKind,
    pub name: String,
    /// The cloud instance it runs on, or why that is not known.
    pub instance: Result<String, String>,
    /// Its own addresses (a Node's `InternalIP`s), to tell its port among
    /// the server's.
    pub addresses: Vec<String>,
}

/// Which of a server's ports a source stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PortChoice {
    /// The port holding one of the source's addresses. Huawei marks no
    /// port of a server as its primary one, so the address is what tells.
    #[default]
    Primary,
    /// Every port of the server.
    All,
}

/// A port of an instance as listed by the cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstancePort {
    pub id: String,
    /// Its fixed addresses (Huawei `private_ips[].ip_address`).
    pub addresses: Vec<String>,
}

/// What the cloud has per instance id: only instances that exist in the
/// account's region appear.
pub type InstancePorts = BTreeMap<String, Vec<InstancePort>>;

/// One source that resolved to no port, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unresolved {
    pub name: String,
    pub reason: String,
}

/// The ports a set of sources stands for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expansion {
    /// Sources the selector matched.
    pub matched: usize,
    pub ports: BTreeSet<String>,
    /// Sorted by name.
    pub unresolved: Vec<Unresolved>,
}

/// The instance ids to read for `sources` (each once).
pub fn instances<'a>(sources: impl IntoIterator<Item = &'a PortSource>) -> BTreeSet<String> {
    sources
        .into_iter()
        .filter_map(|s| s.instance.as_ref().ok().cloned())
        .collect()
}

/// The ports `sources` stand for, given what the cloud listed. On Baidu
/// the instance is the member, so `choice` changes nothing there.
pub fn expand(
    provider: ProviderKind,
    sources: &[PortSource],
    choice: PortChoice,
    cloud: &InstancePorts,
) -> Expansion {
    let mut out = Expansion {
        matched: sources.len(),
        ..Expansion::default()
    };
    for source in sources {
        match ports_of(provider, source, choice, cloud) {
            Ok(ports) => out.ports.extend(ports),
            Err(reason) => out.unresolved.push(Unresolved {
                name: source.name.clone(),
                reason,
            }),
        }
    }
    out.unresolved.sort();
    out
}

/// Every port (Huawei) or instance (Baidu) of the instances `sources` run
/// on, whichever ports a selection would choose: what a Node still in the
/// cluster holds, so a port of a Node that is gone is told from one whose
/// Node stopped matching.
pub fn instance_port_ids<'a>(
    provider: ProviderKind,
    sources: impl IntoIterator<Item = &'a PortSource>,
    cloud: &InstancePorts,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for source in sources {
        let Ok(instance) = &source.instance else {
            continue;
        };
        let Some(ports) = cloud.get(instance) else {
            continue;
        };
        match provider {
            ProviderKind::Baidu => {
                out.insert(instance.clone());
            }
            ProviderKind::Huawei => out.extend(ports.iter().map(|p| p.id.clone())),
        }
    }
    out
}

fn ports_of(
    provider: ProviderKind,
    source: &PortSource,
    choice: PortChoice,
    cloud: &InstancePorts,
) -> Result<Vec<String>, String> {
    let instance = source.instance.as_ref().map_err(Clone::clone)?;
    let Some(ports) = cloud.get(instance) else {
        return Err(format!(
            "instance {instance} not found in this account's region (another account or region?)"
        ));
    };
    if provider == ProviderKind::Baidu {
        return Ok(vec![instance.clone()]);
    }
    let chosen: Vec<String> = match choice {
        PortChoice::All => ports.iter().map(|p| p.id.clone()).collect(),
        PortChoice::Primary => {
            if source.addresses.is_empty() {
                return Err(format!(
                    "the {kind:?} reports no InternalIP address to find its primary port by",
                    kind = source.kind
                ));
            }
            ports
                .iter()
                .filter(|p| p.addresses.iter().any(|a| source.addresses.contains(a)))
                .map(|p| p.id.clone())
                .collect()
        }
    };
    if chosen.is_empty() {
        return Err(match choice {
            PortChoice::All => format!("server {instance} has no ports"),
            PortChoice::Primary => format!(
                "no port of server {instance} holds {}",
                source.addresses.join(", ")
            ),
        });
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, instance: Result<&str, &str>, addresses: &[&str]) -> PortSource {
        PortSource {
            kind: SourceKind::Node,
            name: name.into(),
            instance: instance.map(str::to_string).map_err(str::to_string),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn port(id: &str, addresses: &[&str]) -> InstancePort {
        InstancePort {
            id: id.into(),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn cloud() -> InstancePorts {
        BTreeMap::from([
            (
                "srv-1".to_string(),
                vec![port("p-1a", &["10.0.0.1"]), port("p-1b", &["10.1.0.1"])],
            ),
            ("srv-2".to_string(), vec![port("p-2a", &["10.0.0.2"])]),
            ("srv-3".to_string(), vec![]),
        ])
    }

    fn ids(e: &Expansion) -> Vec<&str> {
        e.ports.iter().map(String::as_str).collect()
    }

    #[test]
    fn primary_is_the_port_with_the_nodes_address() {
        let sources = [
            node("n1", Ok("srv-1"), &["10.0.0.1"]),
            node("n2", Ok("srv-2"), &["10.0.0.2", "fd00::2"]),
        ];
        let e = expand(
            ProviderKind::Huawei,
            &sources,
            PortChoice::Primary,
            &cloud(),
        );
        assert_eq!(ids(&e), ["p-1a", "p-2a"]);
        assert_eq!(e.matched, 2);
        assert!(e.unresolved.is_empty());
        let all = expand(ProviderKind::Huawei, &sources, PortChoice::All, &cloud());
        assert_eq!(ids(&all), ["p-1a", "p-1b", "p-2a"]);
    }

    #[test]
    fn unresolvable_sources_are_reported_and_add_nothing() {
        let sources = [
            node("gone", Ok("srv-9"), &["10.0.0.9"]),
            node("bare", Ok("srv-3"), &["10.0.0.3"]),
            node("moved", Ok("srv-1"), &["10.9.9.9"]),
            node("quiet", Ok("srv-2"), &[]),
            node("new", Err("the node has no spec.providerID yet"), &[]),
            node("ok", Ok("srv-2"), &["10.0.0.2"]),
        ];
        let e = expand(
            ProviderKind::Huawei,
            &sources,
            PortChoice::Primary,
            &cloud(),
        );
        assert_eq!(ids(&e), ["p-2a"]);
        assert_eq!(e.matched, 6);
        let reasons: Vec<(&str, &str)> = e
            .unresolved
            .iter()
            .map(|u| (u.name.as_str(), u.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("bare", "no port of server srv-3 holds 10.0.0.3"),
                (
                    "gone",
                    "instance srv-9 not found in this account's region (another account or region?)"
                ),
                ("moved", "no port of server srv-1 holds 10.9.9.9"),
                ("new", "the node has no spec.providerID yet"),
                (
                    "quiet",
                    "the Node reports no InternalIP address to find its primary port by"
                ),
            ]
        );
        let all = expand(
            ProviderKind::Huawei,
            &sources[1..2],
            PortChoice::All,
            &cloud(),
        );
        assert_eq!(all.unresolved[0].reason, "server srv-3 has no ports");
    }

    #[test]
    fn on_baidu_the_instance_is_the_member_whatever_the_choice() {
        let cloud = BTreeMap::from([("i-AAAABBBB".to_string(), vec![port("i-AAAABBBB", &[])])]);
        let sources = [
            node("n1", Ok("i-AAAABBBB"), &[]),
            node("n2", Ok("i-CCCCDDDD"), &["10.0.0.2"]),
        ];
        for choice in [PortChoice::Primary, PortChoice::All] {
            let e = expand(ProviderKind::Baidu, &sources, choice, &cloud);
            assert_eq!(ids(&e), ["i-AAAABBBB"], "{choice:?}");
            assert_eq!(e.unresolved.len(), 1);
            assert!(e.unresolved[0].reason.contains("i-CCCCDDDD not found"));
        }
    }

    #[test]
    fn each_instance_is_read_once() {
        let sources = [
            node("a", Ok("srv-1"), &[]),
            node("b", Ok("srv-1"), &[]),
            node("c", Err("no id"), &[]),
            node("d", Ok("srv-2"), &[]),
        ];
        let read: Vec<String> = instances(&sources).into_iter().collect();
        assert_eq!(read, ["srv-1", "srv-2"]);
    }
}
