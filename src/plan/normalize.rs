//! Normalization: every spelling of a rule field, from a manifest or from
//! either cloud, parsed into one canonical [`Rule`] so equal rules compare
//! equal and the planner never produces an endless diff.
//!
//! - CIDRs: `10.0.0.1` = `10.0.0.1/32`; host bits cleared (`10.0.0.7/24` =
//!   `10.0.0.0/24`); IPv6 in any spelling (`2001:DB8::0:1` = `2001:db8::1/128`).
//! - Protocols: case-insensitive; `""`, `all`, `any`, `*`, `-1` mean all;
//!   numbers 1/6/17/58 are icmp/tcp/udp/icmpv6.
//! - Ports: `""`, `all`, `any`, `*`, `-1`, `1-65535`, `0-65535` mean all;
//!   lists are sets (sorted, de-duplicated, adjacent ranges merged).
//! - Defaults: ethertype IPv4; Huawei action allow and priority 1 (the
//!   controller always sends the priority explicitly, so the cloud's own
//!   defaults never matter); Baidu rules carry no action or priority.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::{
    Action, Direction, Ethertype, GroupHandle, PortRange, Ports, Protocol, ProviderKind, Remote,
    Rule,
};

/// Priority given to Huawei rules that do not set one.
pub const DEFAULT_PRIORITY: u8 = 1;

fn is_all_word(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "" | "all" | "any" | "*" | "-1"
    )
}

/// Parse a protocol name or number.
pub fn parse_protocol(s: &str) -> Result<Protocol, String> {
    let t = s.trim();
    if is_all_word(t) {
        return Ok(Protocol::All);
    }
    match t.to_ascii_lowercase().as_str() {
        "tcp" => return Ok(Protocol::Tcp),
        "udp" => return Ok(Protocol::Udp),
        "icmp" => return Ok(Protocol::Icmp),
        "icmpv6" | "ipv6-icmp" => return Ok(Protocol::Icmpv6),
        _ => {}
    }
    match t.parse::<u16>() {
        Ok(1) => Ok(Protocol::Icmp),
        Ok(6) => Ok(Protocol::Tcp),
        Ok(17) => Ok(Protocol::Udp),
        Ok(58) => Ok(Protocol::Icmpv6),
        Ok(n) if n <= 255 => Ok(Protocol::Number(n as u8)),
        _ => Err(format!(
            "{s:?} is not a protocol (tcp, udp, icmp, icmpv6, all, or a number 0-255)"
        )),
    }
}

fn parse_port(s: &str, whole: &str) -> Result<u16, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Ok(_) => Err(format!("{whole:?}: port {s:?} is outside 1-65535")),
        Err(_) => Err(format!("{whole:?}: {s:?} is not a port number")),
    }
}

/// Parse a port spec: one port, one range, or (when `allow_list`) a
/// comma-separated list of ports and ranges.
pub fn parse_ports(s: &str, allow_list: bool) -> Result<Ports, String> {
    let t = s.trim();
    if is_all_word(t) || t == "1-65535" || t == "0-65535" {
        return Ok(Ports::All);
    }
    let parts: Vec<&str> = t.split(',').collect();
    if parts.len() > 1 && !allow_list {
        return Err(format!(
            "{s:?}: a list of ports is not supported here; use one port or one range"
        ));
    }
    let mut ranges = Vec::with_capacity(parts.len());
    for part in parts {
        let part = part.trim();
        let range = match part.split_once('-') {
            Some((a, b)) => {
                let (first, last) = (parse_port(a, s)?, parse_port(b, s)?);
                if first > last {
                    return Err(format!(
                        "{s:?}: range {part:?} starts after it ends (write it low-high)"
                    ));
                }
                PortRange { first, last }
            }
            None => {
                let p = parse_port(part, s)?;
                PortRange { first: p, last: p }
            }
        };
        ranges.push(range);
    }
    Ok(merge_ranges(ranges))
}

/// Sort, merge overlapping and adjacent ranges, and fold full coverage to
/// `Ports::All`.
pub fn merge_ranges(mut ranges: Vec<PortRange>) -> Ports {
    ranges.sort();
    let mut merged: Vec<PortRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if u32::from(r.first) <= u32::from(last.last) + 1 => {
                last.last = last.last.max(r.last);
            }
            _ => merged.push(r),
        }
    }
    if merged.len() == 1 && merged[0].first == 1 && merged[0].last == 65535 {
        Ports::All
    } else {
        Ports::Ranges(merged)
    }
}

/// Parse an address or CIDR; a bare address is a host route (/32 or /128),
/// host bits are cleared.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let t = s.trim();
    let net = if t.contains('/') {
        t.parse::<IpNet>()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR"))?
    } else {
        let addr = t
            .parse::<IpAddr>()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR"))?;
        IpNet::from(addr)
    };
    Ok(net.trunc())
}

/// The "any address" network of an ethertype.
pub fn any_network(ethertype: Ethertype) -> IpNet {
    match ethertype {
        Ethertype::IPv4 => IpNet::V4(ipnet::Ipv4Net::default()),
        Ethertype::IPv6 => IpNet::V6(ipnet::Ipv6Net::default()),
    }
}

/// Parse `IPv4` / `IPv6` (case-insensitive; `4`/`6` accepted). Empty means IPv4.
pub fn parse_ethertype(s: &str) -> Result<Ethertype, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "ipv4" | "4" => Ok(Ethertype::IPv4),
        "ipv6" | "6" => Ok(Ethertype::IPv6),
        _ => Err(format!("{s:?} is not an ethertype (IPv4 or IPv6)")),
    }
}

pub fn parse_direction(s: &str) -> Result<Direction, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "ingress" => Ok(Direction::Ingress),
        "egress" => Ok(Direction::Egress),
        _ => Err(format!("{s:?} is not a direction (ingress or egress)")),
    }
}

pub fn parse_action(s: &str) -> Result<Action, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "allow" => Ok(Action::Allow),
        "deny" => Ok(Action::Deny),
        _ => Err(format!("{s:?} is not an action (allow or deny)")),
    }
}

/// A rule as written somewhere (a manifest or a cloud's JSON), fields still
/// strings. Field names in errors are the manifest's (`remoteIpPrefix`, ...);
/// callers reading cloud JSON prefix them as they see fit.
#[derive(Clone, Debug, Default)]
pub struct RawRule<'a> {
    pub direction: &'a str,
    pub ethertype: Option<&'a str>,
    pub protocol: Option<&'a str>,
    pub ports: Option<&'a str>,
    pub remote_ip_prefix: Option<&'a str>,
    pub remote_group: Option<GroupHandle>,
    pub remote_address_group_id: Option<&'a str>,
    pub action: Option<&'a str>,
    pub priority: Option<i64>,
    pub description: Option<&'a str>,
}

/// Normalize a raw rule for `provider`. Errors name the field
/// (`protocol`, `ports`, ...) and say what is wrong; all problems are
/// reported, not just the first.
pub fn normalize_rule(
    raw: &RawRule<'_>,
    provider: ProviderKind,
) -> Result<Rule, Vec<(String, String)>> {
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut err = |field: &str, msg: String| errors.push((field.to_string(), msg));

    let direction = parse_direction(raw.direction).unwrap_or_else(|e| {
        err("direction", e);
        Direction::Ingress
    });
    let protocol = parse_protocol(raw.protocol.unwrap_or("")).unwrap_or_else(|e| {
        err("protocol", e);
        Protocol::All
    });

    // The remote decides the ethertype when the rule does not say it.
    let remote_net = match raw.remote_ip_prefix {
        Some(s) if !is_all_word(s) => match parse_cidr(s) {
            Ok(net) => Some(net),
            Err(e) => {
                err("remoteIpPrefix", e);
                None
            }
        },
        _ => None,
    };
    let ethertype = match raw.ethertype {
        Some(s) => parse_ethertype(s).unwrap_or_else(|e| {
            err("ethertype", e);
            Ethertype::IPv4
        }),
        None => match remote_net {
            Some(IpNet::V6(_)) => Ethertype::IPv6,
            _ => match protocol {
                Protocol::Icmpv6 => Ethertype::IPv6,
                _ => Ethertype::IPv4,
            },
        },
    };
    match (protocol, ethertype) {
        (Protocol::Icmp, Ethertype::IPv6) => err(
            "protocol",
            "icmp needs ethertype IPv4 (use icmpv6 for IPv6)".into(),
        ),
        (Protocol::Icmpv6, Ethertype::IPv4) => err(
            "protocol",
            "icmpv6 needs ethertype IPv6 (use icmp for IPv4)".into(),
        ),
        _ => {}
    }
    if let Some(net) = remote_net {
        let matches = matches!(
            (net, ethertype),
            (IpNet::V4(_), Ethertype::IPv4) | (IpNet::V6(_), Ethertype::IPv6)
        );
        if !matches {
            err(
                "remoteIpPrefix",
                format!("{net} does not match ethertype {ethertype:?}"),
            );
        }
    }

    let ports = match raw.ports {
        None => Ports::All,
        Some(s) => {
            let allow_list = provider == ProviderKind::Huawei;
            match parse_ports(s, allow_list) {
                Ok(Ports::Ranges(r)) if !protocol.has_ports() => {
                    err(
                        "ports",
                        format!(
                            "{s:?}: ports only apply to tcp and udp, not {protocol}; leave ports empty"
                        ),
                    );
                    Ports::Ranges(r)
                }
                Ok(p) => p,
                Err(e) => {
                    err("ports", e);
                    Ports::All
                }
            }
        }
    };

    let remotes_given = usize::from(remote_net.is_some() || raw.remote_ip_prefix.is_some())
        + usize::from(raw.remote_group.is_some())
        + usize::from(raw.remote_address_group_id.is_some());
    if remotes_given > 1 {
        err(
            "remote",
            "give exactly one of remoteIpPrefix, remoteGroupRef, remoteGroupId, remoteAddressGroupId".into(),
        );
    }
    let remote = if let Some(g) = &raw.remote_group {
        Remote::Group(g.clone())
    } else if let Some(id) = raw.remote_address_group_id {
        if provider == ProviderKind::Baidu {
            err(
                "remoteAddressGroupId",
                "address groups are a Huawei feature; Baidu rules cannot use them".into(),
            );
        }
        Remote::AddressGroup(id.to_string())
    } else {
        Remote::Cidr(remote_net.unwrap_or_else(|| any_network(ethertype)))
    };

    let (action, priority) = match provider {
        ProviderKind::Huawei => {
            let action = parse_action(raw.action.unwrap_or("")).unwrap_or_else(|e| {
                err("action", e);
                Action::Allow
            });
            let priority = match raw.priority {
                None => DEFAULT_PRIORITY,
                Some(p) if (1..=100).contains(&p) => p as u8,
                Some(p) => {
                    err("priority", format!("{p} is outside 1-100"));
                    DEFAULT_PRIORITY
                }
            };
            (action, Some(priority))
        }
        ProviderKind::Baidu => {
            if !matches!(
                protocol,
                Protocol::All | Protocol::Tcp | Protocol::Udp | Protocol::Icmp
            ) {
                err(
                    "protocol",
                    format!("Baidu rules take tcp, udp, icmp or all, not {protocol}"),
                );
            }
            if matches!(
                raw.action.map(parse_action),
                Some(Ok(Action::Deny)) | Some(Err(_))
            ) {
                err("action", "Baidu rules can only allow".into());
            }
            if raw.priority.is_some() {
                err("priority", "Baidu rules have no priority".into());
            }
            (Action::Allow, None)
        }
    };

    let description = raw.description.unwrap_or("").to_string();
    if description.chars().count() > 255 {
        err("description", "longer than 255 characters".into());
    }
    if description.contains(['<', '>']) {
        err("description", "must not contain '<' or '>'".into());
    }

    if errors.is_empty() {
        Ok(Rule {
            direction,
            ethertype,
            protocol,
            ports,
            remote,
            action,
            priority,
            description,
        })
    } else {
        Err(errors)
    }
}

/// The protocol as both clouds spell it on the wire (`""` for all).
pub fn wire_protocol(p: Protocol) -> String {
    match p {
        Protocol::All => String::new(),
        other => other.to_string(),
    }
}

/// Ports as Huawei `multiport` (`None` for all) or Baidu `portRange`
/// (`""` for all; Baidu takes one range only, which validation ensures).
pub fn wire_ports(p: &Ports) -> Option<String> {
    match p {
        Ports::All => None,
        ranges => Some(ranges.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(direction: &str) -> RawRule<'_> {
        RawRule {
            direction,
            ..Default::default()
        }
    }

    #[test]
    fn protocol_spellings() {
        for all in ["", "all", "ALL", "any", "*", "-1"] {
            assert_eq!(parse_protocol(all), Ok(Protocol::All), "{all:?}");
        }
        assert_eq!(parse_protocol("TCP"), Ok(Protocol::Tcp));
        assert_eq!(parse_protocol("6"), Ok(Protocol::Tcp));
        assert_eq!(parse_protocol("17"), Ok(Protocol::Udp));
        assert_eq!(parse_protocol("1"), Ok(Protocol::Icmp));
        assert_eq!(parse_protocol("58"), Ok(Protocol::Icmpv6));
        assert_eq!(parse_protocol("47"), Ok(Protocol::Number(47)));
        assert!(parse_protocol("256").is_err());
        assert!(parse_protocol("tcpx").is_err());
    }

    #[test]
    fn port_spellings() {
        for all in ["", "all", "any", "*", "-1", "1-65535", "0-65535"] {
            assert_eq!(parse_ports(all, true), Ok(Ports::All), "{all:?}");
        }
        let r = |a, b| PortRange { first: a, last: b };
        assert_eq!(parse_ports("80", false), Ok(Ports::Ranges(vec![r(80, 80)])));
        assert_eq!(
            parse_ports("443,22,80,81", true),
            Ok(Ports::Ranges(vec![r(22, 22), r(80, 81), r(443, 443)]))
        );
        assert_eq!(
            parse_ports("8000-9000,8500-9500", true),
            Ok(Ports::Ranges(vec![r(8000, 9500)]))
        );
        assert_eq!(parse_ports("1-100,101-65535", true), Ok(Ports::All));
        assert!(
            parse_ports("9000-8000", true)
                .unwrap_err()
                .contains("starts after")
        );
        assert!(parse_ports("0", true).unwrap_err().contains("outside"));
        assert!(parse_ports("70000", true).is_err());
        assert!(parse_ports("http", true).is_err());
        assert!(parse_ports("22,80", false).unwrap_err().contains("list"));
    }

    #[test]
    fn cidr_spellings() {
        assert_eq!(parse_cidr("10.0.0.1"), parse_cidr("10.0.0.1/32"));
        assert_eq!(parse_cidr("10.0.0.7/24"), parse_cidr("10.0.0.0/24"));
        assert_eq!(parse_cidr("2001:DB8::0:1"), parse_cidr("2001:db8::1/128"));
        assert_eq!(
            parse_cidr("2001:db8:0:0::5/64"),
            parse_cidr("2001:db8::/64")
        );
        assert!(parse_cidr("10.0.0.300").is_err());
        assert!(parse_cidr("10.0.0.0/33").is_err());
    }

    #[test]
    fn equal_rules_normalize_equal() {
        let a = RawRule {
            protocol: Some("TCP"),
            ports: Some("443,80"),
            remote_ip_prefix: Some("10.0.0.1"),
            ..raw("ingress")
        };
        let b = RawRule {
            protocol: Some("6"),
            ports: Some("80,443"),
            remote_ip_prefix: Some("10.0.0.1/32"),
            ethertype: Some("ipv4"),
            action: Some("allow"),
            priority: Some(1),
            ..raw("Ingress")
        };
        assert_eq!(
            normalize_rule(&a, ProviderKind::Huawei),
            normalize_rule(&b, ProviderKind::Huawei)
        );
        // No remote at all means any address of the ethertype.
        let open = normalize_rule(&raw("egress"), ProviderKind::Baidu).unwrap();
        let explicit = normalize_rule(
            &RawRule {
                remote_ip_prefix: Some("0.0.0.0/0"),
                ports: Some(""),
                ..raw("egress")
            },
            ProviderKind::Baidu,
        )
        .unwrap();
        assert_eq!(open, explicit);
    }

    #[test]
    fn errors_name_fields() {
        let bad = RawRule {
            protocol: Some("icmp"),
            ethertype: Some("IPv6"),
            ports: Some("80"),
            remote_ip_prefix: Some("10.0.0.0/8"),
            remote_address_group_id: Some("ag-1"),
            priority: Some(101),
            description: Some("<b>"),
            ..raw("sideways")
        };
        let errs = normalize_rule(&bad, ProviderKind::Huawei).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        for f in [
            "direction",
            "protocol",
            "ports",
            "remoteIpPrefix",
            "remote",
            "priority",
            "description",
        ] {
            assert!(fields.contains(&f), "missing {f} in {errs:?}");
        }
    }

    #[test]
    fn baidu_takes_only_tcp_udp_icmp_or_all() {
        for (protocol, ok) in [
            ("tcp", true),
            ("6", true),
            ("icmp", true),
            ("", true),
            ("47", false),
            ("icmpv6", false),
        ] {
            let rule = RawRule {
                protocol: Some(protocol),
                ethertype: (protocol == "icmpv6").then_some("IPv6"),
                ..raw("ingress")
            };
            let result = normalize_rule(&rule, ProviderKind::Baidu);
            assert_eq!(result.is_ok(), ok, "{protocol:?}: {result:?}");
            if let Err(errs) = result {
                assert_eq!(errs[0].0, "protocol");
            }
            // Huawei takes them all.
            assert!(
                normalize_rule(&rule, ProviderKind::Huawei).is_ok(),
                "{protocol:?}"
            );
        }
    }

    #[test]
    fn baidu_restrictions() {
        let errs = normalize_rule(
            &RawRule {
                protocol: Some("tcp"),
                ports: Some("22,80"),
                action: Some("deny"),
                priority: Some(5),
                ..raw("ingress")
            },
            ProviderKind::Baidu,
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["ports", "action", "priority"]);
    }
}
