//! The vendor-neutral, normalized security-group rule.
//!
//! Every rule the controller compares — from a manifest or from either cloud —
//! is first brought into this form, so two rules that mean the same thing are
//! `==` (see `crate::plan::normalize` for the parsers that build it).

use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::GroupHandle;

/// Traffic direction, from the group's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

/// IP version of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Ethertype {
    IPv4,
    IPv6,
}

/// IP protocol. Well-known numbers are folded into their names
/// (6 → `Tcp`, 17 → `Udp`, 1 → `Icmp`, 58 → `Icmpv6`), so `Number` only
/// holds protocols without a name here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    All,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Number(u8),
}

impl Protocol {
    /// Whether the protocol carries port numbers (so `ports` is meaningful).
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

/// An inclusive port range, `first <= last`, both in 1..=65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// The ports a rule covers. `Ranges` is sorted, non-overlapping and
/// non-adjacent (normalization merges `80,81` into `80-81`), and never
/// covers 1-65535 (that is `All`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Ports {
    All,
    Ranges(Vec<PortRange>),
}

/// The other end of a rule. A rule with no remote in the cloud means "any
/// address" and is normalized to `Cidr(0.0.0.0/0)` or `Cidr(::/0)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Remote {
    /// Network address with host bits cleared (`10.0.0.1` → `10.0.0.1/32`).
    Cidr(IpNet),
    /// Another security group.
    Group(GroupHandle),
    /// A Huawei IP address group.
    AddressGroup(String),
}

/// Allow or deny (Huawei). Baidu rules are always `Allow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

/// A normalized rule. Equality is rule identity: two rules that differ in any
/// field are different rules (neither cloud can update a rule in place, so a
/// change is always create-new then delete-old).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    pub direction: Direction,
    pub ethertype: Ethertype,
    pub protocol: Protocol,
    pub ports: Ports,
    pub remote: Remote,
    pub action: Action,
    /// Huawei priority 1..=100 (1 highest). `None` on Baidu, which has none.
    pub priority: Option<u8>,
    /// Huawei description / Baidu remark. Empty when unset.
    pub description: String,
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ports::All => f.write_str("all"),
            Ports::Ranges(ranges) => {
                for (i, r) in ranges.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    if r.first == r.last {
                        write!(f, "{}", r.first)?;
                    } else {
                        write!(f, "{}-{}", r.first, r.last)?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::All => f.write_str("all"),
            Protocol::Tcp => f.write_str("tcp"),
            Protocol::Udp => f.write_str("udp"),
            Protocol::Icmp => f.write_str("icmp"),
            Protocol::Icmpv6 => f.write_str("icmpv6"),
            Protocol::Number(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Cidr(net) => write!(f, "{net}"),
            Remote::Group(g) => write!(f, "group {g}"),
            Remote::AddressGroup(id) => write!(f, "address-group {id}"),
        }
    }
}

impl fmt::Display for Rule {
    /// One line for plan tables and events, e.g.
    /// `ingress IPv4 tcp 80,443 from 10.0.0.0/8 allow prio 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        let from_to = match self.direction {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        };
        let eth = match self.ethertype {
            Ethertype::IPv4 => "IPv4",
            Ethertype::IPv6 => "IPv6",
        };
        write!(
            f,
            "{dir} {eth} {} {} {from_to} {}",
            self.protocol, self.ports, self.remote
        )?;
        if self.action == Action::Deny {
            f.write_str(" deny")?;
        }
        if let Some(p) = self.priority {
            write!(f, " prio {p}")?;
        }
        if !self.description.is_empty() {
            // A description read from the cloud may hold anything.
            write!(f, " \"{}\"", super::text::printable(&self.description))?;
        }
        Ok(())
    }
}

impl Rule {
    /// The rule's identity as text, as statuses record the rules an object
    /// owns (`status.managedRules`): every field, `allow` and no priority
    /// spelled out, the description JSON-quoted, so two rules have the same
    /// identity exactly when they are `==` (for rules whose remote group is
    /// an existing id; a group this plan creates has no id to record yet).
    pub fn identity(&self) -> String {
        let dir = match self.direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        let eth = match self.ethertype {
            Ethertype::IPv4 => "IPv4",
            Ethertype::IPv6 => "IPv6",
        };
        let action = match self.action {
            Action::Allow => "allow",
            Action::Deny => "deny",
        };
        let prio = self
            .priority
            .map_or_else(|| "-".to_string(), |p| p.to_string());
        // A JSON string cannot fail to serialize.
        let description = serde_json::to_string(&self.description).unwrap_or_default();
        format!(
            "{dir} {eth} {} {} {} {action} prio {prio} {description}",
            self.protocol, self.ports, self.remote
        )
    }

    /// What two owners of one group must agree on: the rule without the
    /// attributes that are not part of its identity in the cloud. Huawei
    /// matches a rule by direction, ethertype, protocol, ports and remote
    /// (action, priority and description ride along); on Baidu the remark is
    /// part of the rule's identity (it has no action or priority).
    pub fn slot(&self, baidu: bool) -> Rule {
        Rule {
            action: Action::Allow,
            priority: None,
            description: if baidu {
                self.description.clone()
            } else {
                String::new()
            },
            ..self.clone()
        }
    }
}
