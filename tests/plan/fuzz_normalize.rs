//! Fuzz targets (proptest) for spec normalization.
//!
//! - Arbitrary strings in every rule field never make the parsers, the
//!   rule normalizer or spec validation panic, and every error names a
//!   field.
//! - Normalization is idempotent: a normalized rule written back out as
//!   the strings a manifest or a cloud would hold, and parsed again, is the
//!   same rule (otherwise the planner would see an endless diff).
//! - The same holds through the wire: a rule the real client writes to the
//!   simulator and reads back is the rule it wrote.
//!
//! CI runs a modest number of cases; a long run:
//! `PROPTEST_CASES=100000 cargo test --release --test plan fuzz_normalize`.

use secgroup_test_support::clients;
use secgroup_test_support::fuzz;

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use secgroup_controller::cloud::{CloudError, CloudProvider};
use secgroup_controller::crd::validate::{normalize_rules, validate_security_group};
use secgroup_controller::crd::{
    LocalObjectRef, RuleAction, RuleDirection, RuleEthertype, RuleSpec, SecurityGroup,
    SecurityGroupSpec,
};
use secgroup_controller::model::{
    Action, Direction, Ethertype, GroupHandle, ObjectKey, Protocol, ProviderKind, Remote, Rule,
};
use secgroup_controller::plan::normalize::{
    RawRule, normalize_rule, parse_action, parse_cidr, parse_direction, parse_ethertype,
    parse_ports, parse_protocol, wire_ports, wire_protocol,
};
use secgroup_controller::sim::SimState;

// ------------------------------------------------------------ strategies

fn junk() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[ -~]{0,16}"]
}

fn direction() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ingress".to_string()),
        Just("EGRESS".to_string()),
        Just(" Ingress ".to_string()),
        junk(),
    ]
}

fn protocol() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        prop::sample::select(vec![
            "tcp",
            "UDP",
            "icmp",
            "icmpv6",
            "ipv6-icmp",
            "6",
            "17",
            "1",
            "58",
            "47",
            "0",
            "255",
            "256",
            "all",
            "",
            "*",
            "-1",
            "any",
        ])
        .prop_map(str::to_string),
        "[0-9]{1,4}",
        junk(),
    ])
}

fn ports() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        prop::sample::select(vec![
            "80",
            "1-65535",
            "0-65535",
            "22,80,443",
            "8000-9000",
            "80, 81,82",
            "443,80,80",
            "1-100,50-200",
            "9-8",
            "0",
            "65536",
            "",
            "all",
        ])
        .prop_map(str::to_string),
        (1u16..=65535, 1u16..=65535).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        prop::collection::vec(1u16..=65535, 1..5).prop_map(|ps| ps
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")),
        "[0-9,\\- ]{0,20}",
        junk(),
    ])
}

fn cidr() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "10.0.0.1",
            "10.0.0.7/24",
            "0.0.0.0/0",
            "::/0",
            "2001:DB8::0:1",
            "2001:db8::/32",
            "any",
            "10.0.0.300",
            "10.0.0.0/33",
            "fe80::1%eth0",
        ])
        .prop_map(str::to_string),
        (any::<[u8; 4]>(), prop::option::of(0u8..=32)).prop_map(|(a, p)| {
            let ip = Ipv4Addr::from(a);
            p.map_or(ip.to_string(), |p| format!("{ip}/{p}"))
        }),
        (any::<u128>(), prop::option::of(0u8..=128)).prop_map(|(a, p)| {
            let ip = Ipv6Addr::from(a);
            p.map_or(ip.to_string(), |p| format!("{ip}/{p}"))
        }),
        junk(),
    ]
}

fn ethertype() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        prop::sample::select(vec!["IPv4", "ipv6", "4", "6", ""]).prop_map(str::to_string),
        junk(),
    ])
}

fn action() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        prop::sample::select(vec!["allow", "deny", "DENY", ""]).prop_map(str::to_string),
        junk(),
    ])
}

fn description() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        "[ -~]{0,40}",
        any::<String>(),
        Just("<b>".to_string()),
        "[a-z]{256}",
    ])
}

fn provider() -> impl Strategy<Value = ProviderKind> {
    prop_oneof![Just(ProviderKind::Huawei), Just(ProviderKind::Baidu)]
}

/// The owned strings behind a `RawRule`.
#[derive(Clone, Debug)]
struct RawStrings {
    direction: String,
    ethertype: Option<String>,
    protocol: Option<String>,
    ports: Option<String>,
    remote_ip_prefix: Option<String>,
    remote_group: Option<String>,
    remote_address_group_id: Option<String>,
    action: Option<String>,
    priority: Option<i64>,
    description: Option<String>,
}

impl RawStrings {
    fn raw(&self) -> RawRule<'_> {
        RawRule {
            direction: &self.direction,
            ethertype: self.ethertype.as_deref(),
            protocol: self.protocol.as_deref(),
            ports: self.ports.as_deref(),
            remote_ip_prefix: self.remote_ip_prefix.as_deref(),
            remote_group: self.remote_group.clone().map(GroupHandle::Existing),
            remote_address_group_id: self.remote_address_group_id.as_deref(),
            action: self.action.as_deref(),
            priority: self.priority,
            description: self.description.as_deref(),
        }
    }
}

fn raw_rule() -> impl Strategy<Value = RawStrings> {
    // Mostly one remote (so many rules normalize), sometimes several.
    let remote = prop_oneof![
        6 => cidr().prop_map(|c| (Some(c), None, None)),
        1 => junk().prop_map(|g| (None, Some(g), None)),
        1 => junk().prop_map(|a| (None, None, Some(a))),
        1 => Just((None, None, None)),
        1 => (cidr(), junk(), junk()).prop_map(|(c, g, a)| (Some(c), Some(g), Some(a))),
    ];
    (
        direction(),
        ethertype(),
        protocol(),
        ports(),
        remote,
        action(),
        prop::option::of(-5i64..200),
        description(),
    )
        .prop_map(
            |(
                direction,
                ethertype,
                protocol,
                ports,
                (ip, group, address),
                action,
                priority,
                description,
            )| RawStrings {
                direction,
                ethertype,
                protocol,
                ports,
                remote_ip_prefix: ip,
                remote_group: group,
                remote_address_group_id: address,
                action,
                priority,
                description,
            },
        )
}

/// A rule valid by construction for `provider`, in one of its many
/// spellings (case, numbers for names, bare addresses, host bits set,
/// unsorted and overlapping port lists).
fn spelled_rule(provider: ProviderKind) -> impl Strategy<Value = RawStrings> {
    let huawei = provider == ProviderKind::Huawei;
    (
        any::<bool>(),
        any::<bool>(),
        0usize..5,
        any::<bool>(),
        prop::collection::vec((1u16..=65535, 0u16..50), 1..4),
        0usize..3,
        (any::<u128>(), 0u8..=128, any::<bool>()),
        "[a-z0-9][a-z0-9-]{0,11}",
        (any::<bool>(), prop::option::of(1i64..=100)),
        "[ -;=?-~]{0,30}",
        any::<bool>(),
    )
        .prop_map(
            move |(
                egress,
                v6,
                proto,
                spell_number,
                ranges,
                remote_kind,
                (addr, prefix, bare),
                id,
                (deny, priority),
                description,
                say_ethertype,
            )| {
                // Baidu takes tcp, udp, icmp or all: no icmpv6, no numbers.
                let (name, number) = match (proto, v6) {
                    (0, _) => ("TCP", "6"),
                    (1, _) => ("udp", "17"),
                    (2, false) => ("ICMP", "1"),
                    (2, true) if huawei => ("icmpv6", "58"),
                    (3, _) if huawei => ("47", "47"),
                    _ => ("all", "-1"),
                };
                let protocol = if spell_number { number } else { name };
                let ports = (proto < 2).then(|| {
                    let take = if huawei { ranges.len() } else { 1 };
                    ranges[..take]
                        .iter()
                        .map(|&(a, len)| {
                            let b = a.saturating_add(len);
                            if a == b {
                                a.to_string()
                            } else {
                                format!("{a}-{b}")
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                });
                let cidr = if v6 {
                    let ip = Ipv6Addr::from(addr);
                    if bare {
                        ip.to_string()
                    } else {
                        format!("{ip}/{prefix}")
                    }
                } else {
                    let ip = Ipv4Addr::from((addr >> 96) as u32);
                    if bare {
                        ip.to_string()
                    } else {
                        format!("{ip}/{}", prefix % 33)
                    }
                };
                let (ip, group, address) = match remote_kind {
                    0 => (Some(cidr), None, None),
                    1 => (None, Some(id), None),
                    _ if huawei => (None, None, Some(id)),
                    _ => (Some(cidr), None, None),
                };
                RawStrings {
                    direction: if egress {
                        "Egress".into()
                    } else {
                        "INGRESS".into()
                    },
                    ethertype: say_ethertype
                        .then(|| if v6 { "ipv6".into() } else { "IPv4".into() }),
                    protocol: Some(protocol.to_string()),
                    ports,
                    remote_ip_prefix: ip,
                    remote_group: group,
                    remote_address_group_id: address,
                    action: huawei.then(|| if deny { "DENY".into() } else { "allow".into() }),
                    priority: if huawei { priority } else { None },
                    description: Some(description),
                }
            },
        )
}

/// Valid spellings mostly, arbitrary input sometimes.
fn any_rule() -> impl Strategy<Value = (RawStrings, ProviderKind, bool)> {
    provider().prop_flat_map(|p| {
        prop_oneof![
            3 => spelled_rule(p).prop_map(move |r| (r, p, true)),
            1 => raw_rule().prop_map(move |r| (r, p, false)),
        ]
    })
}

/// A normalized rule written back out as a manifest would say it.
fn written(rule: &Rule) -> RawStrings {
    let (ip, group, address) = match &rule.remote {
        Remote::Cidr(net) => (Some(net.to_string()), None, None),
        Remote::Group(GroupHandle::Existing(id)) => (None, Some(id.clone()), None),
        Remote::Group(GroupHandle::New(key)) => (None, Some(key.name.clone()), None),
        Remote::AddressGroup(id) => (None, None, Some(id.clone())),
    };
    RawStrings {
        direction: match rule.direction {
            Direction::Ingress => "ingress".into(),
            Direction::Egress => "egress".into(),
        },
        ethertype: Some(
            match rule.ethertype {
                Ethertype::IPv4 => "IPv4",
                Ethertype::IPv6 => "IPv6",
            }
            .into(),
        ),
        protocol: Some(wire_protocol(rule.protocol)),
        ports: wire_ports(&rule.ports),
        remote_ip_prefix: ip,
        remote_group: group,
        remote_address_group_id: address,
        action: rule.priority.map(|_| match rule.action {
            Action::Allow => "allow".to_string(),
            Action::Deny => "deny".to_string(),
        }),
        priority: rule.priority.map(i64::from),
        description: Some(rule.description.clone()),
    }
}

const FIELDS: &[&str] = &[
    "direction",
    "ethertype",
    "protocol",
    "ports",
    "remote",
    "remoteIpPrefix",
    "remoteAddressGroupId",
    "action",
    "priority",
    "description",
];

// ------------------------------------------------------------ properties

proptest! {
    #![proptest_config(fuzz::config(512))]

    #[test]
    fn field_parsers_never_panic(s in junk()) {
        let _ = parse_protocol(&s);
        let _ = parse_ports(&s, true);
        let _ = parse_ports(&s, false);
        let _ = parse_cidr(&s);
        let _ = parse_ethertype(&s);
        let _ = parse_direction(&s);
        let _ = parse_action(&s);
    }

    /// Never panics; errors name a known field; and a normalized rule,
    /// written out and parsed again, is the same rule.
    #[test]
    fn normalize_is_idempotent((raw, provider, valid) in any_rule()) {
        match normalize_rule(&raw.raw(), provider) {
            Err(errors) => {
                prop_assert!(!valid, "a valid spelling was refused: {:?} {:?}", raw, errors);
                prop_assert!(!errors.is_empty());
                for (field, message) in &errors {
                    prop_assert!(FIELDS.contains(&field.as_str()), "unknown field {field:?}: {message}");
                    prop_assert!(!message.is_empty());
                }
            }
            Ok(rule) => {
                let again = written(&rule);
                let reparsed = normalize_rule(&again.raw(), provider);
                prop_assert_eq!(reparsed.as_ref(), Ok(&rule), "written as {:?}", again);
                // Ports are canonical: sorted, merged, never all as ranges.
                if let secgroup_controller::model::Ports::Ranges(rs) = &rule.ports {
                    prop_assert!(!rs.is_empty());
                    for w in rs.windows(2) {
                        prop_assert!(u32::from(w[0].last) + 1 < u32::from(w[1].first), "{:?}", rs);
                    }
                }
                if let Remote::Cidr(net) = rule.remote {
                    prop_assert_eq!(net, net.trunc(), "host bits cleared");
                }
            }
        }
    }

    /// Spec validation on arbitrary field values: no panic, every error
    /// names a path under `spec`.
    #[test]
    fn spec_validation_never_panics(
        specs in prop::collection::vec((raw_rule(), any::<bool>(), prop::option::of(prop_oneof![Just(RuleAction::Allow), Just(RuleAction::Deny)])), 0..6),
        name in prop::option::of(junk()),
        group_id in prop::option::of(junk()),
        vpc_id in prop::option::of(junk()),
        account in junk(),
        desc in description(),
        provider in provider(),
    ) {
        let rules: Vec<RuleSpec> = specs.iter().map(|(r, v6, action)| RuleSpec {
            direction: if r.direction.len() % 2 == 0 { RuleDirection::Ingress } else { RuleDirection::Egress },
            protocol: r.protocol.clone(),
            ports: r.ports.clone(),
            ethertype: r.ethertype.as_ref().map(|_| if *v6 { RuleEthertype::IPv6 } else { RuleEthertype::IPv4 }),
            remote_ip_prefix: r.remote_ip_prefix.clone(),
            remote_group_ref: r.remote_group.clone().map(|name| LocalObjectRef { name }),
            remote_group_id: None,
            remote_address_group_id: r.remote_address_group_id.clone(),
            action: *action,
            priority: r.priority.map(|p| p as i32),
            description: r.description.clone(),
        }).collect();
        let key = ObjectKey::new("SecurityGroup", "default", "fuzz");
        if let Err(errors) = normalize_rules(&key, &rules, provider, |_, n| GroupHandle::Existing(n.to_string())) {
            for e in errors {
                prop_assert!(e.field.starts_with("spec.rules"), "{e}");
            }
        }
        let group = SecurityGroup::new("fuzz", SecurityGroupSpec {
            account_ref: LocalObjectRef { name: account },
            group_id,
            name,
            description: desc,
            vpc_id,
            rules: Some(rules),
            deletion_policy: None,
            rules_policy: None,
        });
        for e in validate_security_group(&group, provider) {
            prop_assert!(e.field.starts_with("spec"), "{e}");
            prop_assert!(!e.message.is_empty());
        }
    }
}

// ------------------------------------------------------------ through the wire

/// Rules the real clients write to the simulator read back as the same
/// rules. The only refusals allowed are the two known ones named below;
/// most rules must round-trip.
#[test]
fn rules_round_trip_through_the_clients() {
    let hw_group = clients::uid(1);
    let bd_group = "g-fuzz".to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the test");
    let sim = rt.block_on(clients::start(
        SimState::new()
            .with_account(clients::huawei_account())
            .with_account(clients::baidu_account())
            .with_huawei_group(clients::PROJECT, &hw_group, "fuzz")
            .with_baidu_group(&bd_group, "fuzz", "vpc-1"),
    ));
    let hw = clients::huawei(&sim);
    let bd = clients::baidu(&sim);
    let (written_ok, refused) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    let mut runner = TestRunner::new(fuzz::config(48));
    let outcome = runner.run(&any_rule(), |(raw, provider, _)| {
        let Ok(mut rule) = normalize_rule(&raw.raw(), provider) else {
            return Ok(());
        };
        let (client, group): (&dyn CloudProvider, &str) = match provider {
            ProviderKind::Huawei => (&hw, &hw_group),
            ProviderKind::Baidu => (&bd, &bd_group),
        };
        if let Remote::Group(_) = rule.remote {
            // A remote group must exist: use the group itself.
            rule.remote = Remote::Group(GroupHandle::Existing(group.to_string()));
        }
        rt.block_on(async {
            let before = client
                .get_group(group)
                .await
                .expect("read")
                .expect("exists");
            match client
                .create_rules(group, std::slice::from_ref(&rule), before.version)
                .await
            {
                Err(CloudError::InvalidRequest(d)) => {
                    // Two refusals are known and expected: Huawei address
                    // groups the simulator does not hold, and Baidu
                    // protocols other than tcp/udp/icmp/all (spec
                    // validation lets those through: see
                    // reliability_bad_input.rs).
                    let known = match provider {
                        ProviderKind::Huawei => matches!(rule.remote, Remote::AddressGroup(_)),
                        ProviderKind::Baidu => {
                            matches!(rule.protocol, Protocol::Number(_) | Protocol::Icmpv6)
                        }
                    };
                    prop_assert!(known, "{} {}: refused: {}", provider, rule, d);
                    refused.set(refused.get() + 1);
                    return Ok(());
                }
                Err(e) => prop_assert!(false, "{rule}: {e}"),
                Ok(()) => written_ok.set(written_ok.get() + 1),
            }
            let after = client
                .get_group(group)
                .await
                .expect("read")
                .expect("exists");
            let found: Vec<_> = after
                .rules
                .iter()
                .filter(|o| !before.rules.iter().any(|b| b.id == o.id))
                .collect();
            prop_assert_eq!(found.len(), 1, "{} new rules for {}", found.len(), rule);
            prop_assert_eq!(&found[0].rule, &rule, "read back differs");
            client
                .delete_rule(group, &found[0].id, &found[0].rule, after.version)
                .await
                .expect("delete");
            Ok(())
        })
    });
    rt.block_on(sim.shutdown());
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let (written_ok, refused) = (written_ok.get(), refused.get());
    eprintln!("{written_ok} rules round-tripped, {refused} refused as invalid");
    assert!(
        written_ok >= refused,
        "too few rules round-tripped ({written_ok} written, {refused} refused): the test would prove little"
    );
}
