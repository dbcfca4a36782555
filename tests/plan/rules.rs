//! Table tests for the planner's group and rule rules: create/delete diff,
//! make before break, batch sizes, group create/update/delete.

use secgroup_test_support::plans;

use plans::*;
use secgroup_controller::cloud::OWNER_TAG;
use secgroup_controller::model::{
    Action, Direction, Ethertype, GroupHandle, Mode, ObservedGroup, Operation, Ports, Protocol,
    ProviderKind, Remote, Rule, UnmanagedFields,
};
use secgroup_controller::plan::{self, PlanOptions, Withheld};

const HW: ProviderKind = ProviderKind::Huawei;
const BD: ProviderKind = ProviderKind::Baidu;

fn delete_rule(group: &str, i: usize, rule: &Rule) -> Operation {
    Operation::DeleteRule {
        group: group.to_string(),
        rule_id: format!("{group}-r{i}"),
        rule: rule.clone(),
    }
}

#[test]
fn creates_missing_and_deletes_extra_rules_creates_first() {
    let (r22, r80, r443) = (tcp(HW, 22), tcp(HW, 80), tcp(HW, 443));
    let mut d = desired(HW);
    d.groups
        .push(sg("web", "sg-1", Some(vec![r80.clone(), r443.clone()])));
    let mut o = observed(&[], &[]);
    o.groups
        .insert("sg-1".into(), group("sg-1", &[r22.clone(), r80.clone()]));
    let out = plan_ok(&d, &o);
    assert_eq!(
        ops(&out),
        vec![
            Operation::CreateRules {
                group: existing("sg-1"),
                rules: vec![r443]
            },
            delete_rule("sg-1", 0, &r22),
        ]
    );
    assert_eq!(out.plan.steps[0].owners, vec![key("SecurityGroup", "web")]);
    let report = &out.reports[&key("SecurityGroup", "web")];
    assert_eq!(report.changes.get("createRules"), Some(&1));
    assert_eq!(report.changes.get("deleteRule"), Some(&1));
    assert_converges(&d, &o);
}

#[test]
fn a_rule_disabled_in_the_cloud_is_deleted_then_created_again_enabled() {
    let (r22, r80, r443) = (tcp(HW, 22), tcp(HW, 80), tcp(HW, 443));
    let mut d = desired(HW);
    d.groups
        .push(sg("web", "sg-1", Some(vec![r80.clone(), r443.clone()])));
    let mut o = observed(&[], &[]);
    let mut g = group("sg-1", &[r22.clone(), r80.clone(), r443.clone()]);
    // r22 is not wanted (disabled or not); r80 is wanted but disabled.
    g.rules[0].enabled = false;
    g.rules[1].enabled = false;
    o.groups.insert("sg-1".into(), g);
    let out = plan_ok(&d, &o);
    assert_eq!(
        ops(&out),
        vec![
            delete_rule("sg-1", 1, &r80),
            Operation::CreateRules {
                group: existing("sg-1"),
                rules: vec![r80.clone()]
            },
            delete_rule("sg-1", 0, &r22),
        ]
    );
    let report = &out.reports[&key("SecurityGroup", "web")];
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("disabled in the cloud") && w.contains("tcp 80")),
        "{:?}",
        report.warnings
    );
    let after = assert_converges(&d, &o);
    assert!(after.groups["sg-1"].rules.iter().all(|r| r.enabled));

    // A disabled copy beside an enabled one changes nothing: the rule is
    // in force. Without spec.rules, rules are not managed at all.
    let mut g = group("sg-1", &[r80.clone(), r80.clone(), r443.clone()]);
    g.rules[1].enabled = false;
    o.groups.insert("sg-1".into(), g.clone());
    assert!(plan_ok(&d, &o).plan.is_empty());
    let mut unmanaged = desired(HW);
    unmanaged.groups.push(sg("web", "sg-1", None));
    g.rules[0].enabled = false;
    o.groups.insert("sg-1".into(), g);
    assert!(plan_ok(&unmanaged, &o).plan.is_empty());
}

#[test]
fn repairing_every_disabled_rule_is_not_a_mass_change() {
    let rules: Vec<Rule> = (1..=10).map(|p| tcp(HW, p)).collect();
    let mut d = desired(HW);
    d.groups.push(sg("web", "sg-1", Some(rules.clone())));
    let mut o = observed(&[], &[]);
    let mut g = group("sg-1", &rules);
    for r in &mut g.rules {
        r.enabled = false;
    }
    o.groups.insert("sg-1".into(), g);
    let out = plan_ok(&d, &o);
    let report = &out.reports[&key("SecurityGroup", "web")];
    assert_eq!(report.withheld, None);
    assert_eq!(report.changes.get("deleteRule"), Some(&10));
    assert_eq!(report.changes.get("createRules"), Some(&1), "one batch");
    assert_converges(&d, &o);
}

/// Baidu: a rule to delete and one to create that are the same rule with
/// another port, remark or peer become one in-place update; unrelated
/// rules are still created, then revoked. Huawei has no update.
#[test]
fn baidu_changes_a_recognisable_rule_in_place() {
    let old = tcp(BD, 443);
    let cidr = |c: &str| Remote::Cidr(c.parse().unwrap());
    let mut other_port = tcp(BD, 8443);
    other_port.description = "https-alt".into();
    let mut other_peer = old.clone();
    other_peer.remote = cidr("10.0.0.0/8");
    let mut remark = old.clone();
    remark.description = "tls".into();
    let mut egress = old.clone();
    egress.direction = Direction::Egress;
    let mut unrelated = tcp(BD, 22);
    unrelated.remote = cidr("10.0.0.0/8");
    let mut to_group = old.clone();
    to_group.remote = Remote::Group(existing("g-2"));
    let cases: [(&str, &Rule, bool); 6] = [
        ("port and remark", &other_port, true),
        ("peer", &other_peer, true),
        ("remark", &remark, true),
        ("direction", &egress, false),
        ("port and peer", &unrelated, false),
        ("a group for an address", &to_group, false),
    ];
    for (what, new, in_place) in cases {
        let mut d = desired(BD);
        d.groups.push(sg("web", "g-1", Some(vec![new.clone()])));
        // One rule of one: past the guard either way.
        d.groups[0].intent.allow_mass_change = true;
        let mut o = observed(&[], &[]);
        o.groups
            .insert("g-1".into(), group("g-1", std::slice::from_ref(&old)));
        o.groups.insert("g-2".into(), group("g-2", &[]));
        let out = plan_ok(&d, &o);
        let expected = if in_place {
            vec![Operation::UpdateRule {
                group: "g-1".into(),
                rule_id: "g-1-r0".into(),
                from: old.clone(),
                to: new.clone(),
            }]
        } else {
            vec![
                Operation::CreateRules {
                    group: existing("g-1"),
                    rules: vec![new.clone()],
                },
                delete_rule("g-1", 0, &old),
            ]
        };
        assert_eq!(ops(&out), expected, "{what}");
        assert_converges(&d, &o);
    }

    // Huawei: never an update.
    let mut d = desired(HW);
    let mut new = tcp(HW, 443);
    new.description = "tls".into();
    d.groups.push(sg("web", "sg-1", Some(vec![new.clone()])));
    d.groups[0].intent.allow_mass_change = true;
    let mut o = observed(&[], &[]);
    o.groups
        .insert("sg-1".into(), group("sg-1", &[tcp(HW, 443)]));
    let kinds: Vec<&str> = ops(&plan_ok(&d, &o)).iter().map(|op| op.kind()).collect();
    assert_eq!(kinds, ["createRules", "deleteRule"]);
}

/// An update needs both sides allowed: the owner revoking the old rule and
/// the owner wanting the new one. With one side withheld, only the other
/// side's half is made.
#[test]
fn baidu_update_with_one_side_withheld_makes_only_the_other_half() {
    let old = tcp(BD, 443);
    let new = tcp(BD, 8443);
    let base = || {
        let mut d = desired(BD);
        // `web` owns every rule (Authoritative, wants none itself); `team`
        // adds the new one.
        d.groups.push(sg("web", "g-1", Some(vec![])));
        d.groups[0].intent.allow_mass_change = true;
        d.rule_sets
            .push(rule_set("team", "g-1", vec![new.clone()], &[]));
        d
    };
    let mut o = observed(&[], &[]);
    o.groups
        .insert("g-1".into(), group("g-1", std::slice::from_ref(&old)));
    let kinds = |d: &secgroup_controller::model::DesiredState| -> Vec<&'static str> {
        ops(&plan_ok(d, &o)).iter().map(|op| op.kind()).collect()
    };
    assert_eq!(kinds(&base()), ["updateRule"]);
    let mut d = base();
    d.groups[0].intent = with_mode(d.groups[0].intent.clone(), Mode::Paused);
    assert_eq!(kinds(&d), ["createRules"], "the revoking owner is paused");
    let mut d = base();
    d.rule_sets[0].intent = with_mode(d.rule_sets[0].intent.clone(), Mode::Paused);
    assert_eq!(kinds(&d), ["deleteRule"], "the wanting owner is paused");
}

/// Each rule to delete takes at most one rule to create, and the guard
/// counts an update as a rule revoked.
#[test]
fn baidu_updates_pair_one_to_one_and_count_for_the_guard() {
    let olds: Vec<Rule> = (1..=4).map(|p| tcp(BD, p)).collect();
    let news: Vec<Rule> = (11..=13).map(|p| tcp(BD, p)).collect();
    let mut d = desired(BD);
    d.groups.push(sg("web", "g-1", Some(news.clone())));
    let mut o = observed(&[], &[]);
    o.groups.insert("g-1".into(), group("g-1", &olds));
    let out = plan_ok(&d, &o);
    let report = &out.reports[&key("SecurityGroup", "web")];
    // 3 updates + 1 delete of 4 rules: over the guard's half.
    let Some(Withheld::MassChange(why)) = &report.withheld else {
        panic!("{report:#?}")
    };
    assert!(
        why.starts_with("would delete or change 4 of the 4 rules"),
        "{why}"
    );
    let mut d = d.clone();
    d.groups[0].intent.allow_mass_change = true;
    let out = plan_ok(&d, &o);
    let kinds: Vec<&str> = ops(&out).iter().map(|op| op.kind()).collect();
    assert_eq!(
        kinds,
        ["updateRule", "updateRule", "updateRule", "deleteRule"]
    );
    assert_converges(&d, &o);
}

#[test]
fn a_changed_rule_is_created_before_the_old_one_is_deleted() {
    let old = tcp(HW, 80);
    let mut new = old.clone();
    new.priority = Some(5);
    let mut d = desired(HW);
    d.groups.push(sg("web", "sg-1", Some(vec![new.clone()])));
    let mut o = observed(&[], &[]);
    o.groups
        .insert("sg-1".into(), group("sg-1", std::slice::from_ref(&old)));
    let opts = PlanOptions {
        max_revoke_fraction: 1.0,
        ..PlanOptions::default()
    };
    let out = plan::plan(&d, &o, &opts).expect("valid");
    assert_eq!(
        out.plan
            .steps
            .iter()
            .map(|s| s.op.clone())
            .collect::<Vec<_>>(),
        vec![
            Operation::CreateRules {
                group: existing("sg-1"),
                rules: vec![new]
            },
            delete_rule("sg-1", 0, &old),
        ]
    );
}

#[test]
fn huawei_batches_creates_by_200_and_meets_the_lower_bound() {
    let want: Vec<Rule> = (1..=450).map(|p| tcp(HW, p)).collect();
    let extra: Vec<Rule> = (1000..1003).map(|p| tcp(HW, p)).collect();
    let mut keep_and_extra = want[..10].to_vec();
    keep_and_extra.extend(extra.iter().cloned());
    let mut d = desired(HW);
    d.groups.push(sg("web", "sg-1", Some(want.clone())));
    d.groups[0].intent.allow_mass_change = true;
    let mut o = observed(&[], &[]);
    o.groups
        .insert("sg-1".into(), group("sg-1", &keep_and_extra));
    let out = plan_ok(&d, &o);
    let sizes: Vec<usize> = out
        .plan
        .steps
        .iter()
        .filter_map(|s| match &s.op {
            Operation::CreateRules { rules, .. } => Some(rules.len()),
            _ => None,
        })
        .collect();
    // 440 creates: ceil(440/200) = 3 calls, + 3 deletes.
    assert_eq!(sizes, vec![200, 200, 40]);
    assert_eq!(out.plan.steps.len(), 3 + 3);
    assert!(matches!(out.plan.steps[3].op, Operation::DeleteRule { .. }));
    assert_converges(&d, &o);
}

#[test]
fn baidu_creates_one_rule_per_call() {
    let want = vec![tcp(BD, 22), tcp(BD, 80), tcp(BD, 443)];
    let mut d = desired(BD);
    d.groups.push(sg("web", "sg-1", Some(want.clone())));
    let o = observed(&["sg-1"], &[]);
    let out = plan_ok(&d, &o);
    assert_eq!(
        ops(&out),
        want.iter()
            .map(|r| Operation::CreateRules {
                group: existing("sg-1"),
                rules: vec![r.clone()]
            })
            .collect::<Vec<_>>()
    );
    assert_converges(&d, &o);
}

#[test]
fn duplicate_desired_rules_count_once_and_equal_rules_never_differ() {
    let r = tcp(HW, 80);
    let mut d = desired(HW);
    d.groups.push(sg(
        "web",
        "sg-1",
        Some(vec![r.clone(), r.clone(), tcp(HW, 22)]),
    ));
    let mut o = observed(&[], &[]);
    o.groups
        .insert("sg-1".into(), group("sg-1", std::slice::from_ref(&r)));
    let out = plan_ok(&d, &o);
    assert_eq!(
        ops(&out),
        vec![Operation::CreateRules {
            group: existing("sg-1"),
            rules: vec![tcp(HW, 22)]
        }]
    );
}

#[test]
fn unmanaged_rules_are_left_alone() {
    let mut d = desired(HW);
    d.groups.push(sg("web", "sg-1", None));
    let mut o = observed(&[], &[]);
    o.groups
        .insert("sg-1".into(), group("sg-1", &[tcp(HW, 22)]));
    assert!(plan_ok(&d, &o).plan.is_empty());
}

#[test]
fn a_new_group_is_created_then_filled_and_rules_may_name_it() {
    let mut self_ref = tcp(HW, 5432);
    self_ref.remote = Remote::Group(GroupHandle::New(key("SecurityGroup", "db")));
    let mut d = desired(HW);
    d.groups
        .push(sg("app", "sg-app", Some(vec![self_ref.clone()])));
    d.groups
        .push(new_sg("db", Some(vec![tcp(HW, 22), self_ref.clone()])));
    let o = observed(&["sg-app"], &[]);
    let out = plan_ok(&d, &o);
    let db = GroupHandle::New(key("SecurityGroup", "db"));
    assert_eq!(
        ops(&out),
        vec![
            Operation::CreateGroup {
                owner: key("SecurityGroup", "db"),
                owner_uid: "uid-db".into(),
                name: "db".into(),
                description: String::new(),
                vpc_id: Some("vpc-1".into()),
            },
            Operation::CreateRules {
                group: existing("sg-app"),
                rules: vec![self_ref.clone()]
            },
            Operation::CreateRules {
                group: db,
                rules: vec![tcp(HW, 22), self_ref]
            },
        ]
    );
    let state = assert_converges(&d, &o);
    assert_eq!(state.groups["new-db"].rules.len(), 2);
}

#[test]
fn a_rule_naming_a_paused_new_group_waits_with_a_warning() {
    let mut r = tcp(HW, 5432);
    r.remote = Remote::Group(GroupHandle::New(key("SecurityGroup", "db")));
    let mut d = desired(HW);
    d.groups.push(sg("app", "sg-app", Some(vec![r])));
    let mut db = new_sg("db", None);
    db.intent = with_mode(db.intent, secgroup_controller::model::Mode::Paused);
    d.groups.push(db);
    let o = observed(&["sg-app"], &[]);
    let out = plan_ok(&d, &o);
    assert!(out.plan.is_empty(), "{:#?}", out.plan);
    let app = &out.reports[&key("SecurityGroup", "app")];
    assert!(
        app.warnings.iter().any(|w| w.contains("not created yet")),
        "{app:?}"
    );
    let db = &out.reports[&key("SecurityGroup", "db")];
    assert_eq!(db.withheld, Some(Withheld::Paused));
    assert_eq!(db.changes.get("createGroup"), Some(&1));
}

#[test]
fn renames_on_huawei_and_warns_on_baidu() {
    for provider in [HW, BD] {
        let mut d = desired(provider);
        let mut g = sg("web", "sg-1", None);
        g.name = "web".into();
        g.description = "front end".into();
        d.groups.push(g);
        let o = observed(&["sg-1"], &[]);
        let out = plan_ok(&d, &o);
        let report = &out.reports[&key("SecurityGroup", "web")];
        match provider {
            ProviderKind::Huawei => {
                assert_eq!(
                    ops(&out),
                    vec![Operation::UpdateGroup {
                        group: "sg-1".into(),
                        name: Some("web".into()),
                        description: Some("front end".into()),
                    }]
                );
                assert_converges(&d, &o);
            }
            ProviderKind::Baidu => {
                assert!(out.plan.is_empty());
                assert!(
                    report.warnings.iter().any(|w| w.contains("cannot rename")),
                    "{report:?}"
                );
            }
        }
    }
}

/// Adopting a group by id without `description` (or `name`) planned
/// `updateGroup description -> ""`, blanking another team's group: for an
/// adopted group, a field the spec leaves out is not managed.
#[test]
fn an_adopted_groups_fields_the_spec_leaves_out_are_left_alone() {
    for provider in [HW, BD] {
        let mut o = observed(&["sg-1"], &[]);
        if let Some(g) = o.groups.get_mut("sg-1") {
            g.name = "their-name".into();
            g.description = "Their team's group".into();
        }
        let mut d = desired(provider);
        let mut g = sg("web", "sg-1", None);
        g.name = "web".into();
        g.description = String::new();
        g.unmanaged = UnmanagedFields {
            name: true,
            description: true,
        };
        d.groups.push(g.clone());
        let out = plan_ok(&d, &o);
        assert!(out.plan.is_empty(), "{provider}: {:?}", ops(&out));
        assert_eq!(
            out.reports[&key("SecurityGroup", "web")].warnings,
            Vec::<String>::new()
        );

        // A field the spec does give is still applied (Huawei), alone.
        g.unmanaged.name = false;
        d.groups[0] = g;
        let out = plan_ok(&d, &o);
        if provider == HW {
            assert_eq!(
                ops(&out),
                vec![Operation::UpdateGroup {
                    group: "sg-1".into(),
                    name: Some("web".into()),
                    description: None,
                }]
            );
        } else {
            assert!(out.plan.is_empty());
        }
    }
}

#[test]
fn a_group_missing_from_the_cloud_is_a_warning() {
    let mut d = desired(HW);
    d.groups.push(sg("web", "sg-gone", Some(vec![tcp(HW, 80)])));
    let out = plan_ok(&d, &observed(&[], &[]));
    assert!(out.plan.is_empty());
    assert_eq!(
        out.reports[&key("SecurityGroup", "web")].warnings,
        vec!["group sg-gone not found".to_string()]
    );
}

#[test]
fn baidu_needs_a_vpc_to_create() {
    let mut d = desired(BD);
    let mut g = new_sg("web", None);
    g.vpc_id = None;
    d.groups.push(g);
    let errors = plan::plan(&d, &observed(&[], &[]), &PlanOptions::default()).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "spec.vpcId");
    assert_eq!(errors[0].object, Some(key("SecurityGroup", "web")));
}

#[test]
fn deletion_comes_last_and_waits_while_ports_hold_the_group() {
    let mut d = desired(HW);
    d.groups.push(sg("web", "sg-1", Some(vec![tcp(HW, 80)])));
    d.deletions.push(deletion("old", "sg-old"));
    d.deletions.push(deletion("gone", "sg-gone"));
    let o = observed(&["sg-1", "sg-old"], &[]);
    let out = plan_ok(&d, &o);
    assert_eq!(
        ops(&out),
        vec![
            Operation::CreateRules {
                group: existing("sg-1"),
                rules: vec![tcp(HW, 80)]
            },
            Operation::DeleteGroup {
                group: "sg-old".into()
            },
        ]
    );
    assert_converges(&d, &o);

    // Still attached to a port nobody moves: no call, a warning.
    let o = observed(&["sg-old", "sg-1"], &[("p1", &["sg-old", "sg-1"])]);
    let mut d = desired(HW);
    d.deletions.push(deletion("old", "sg-old"));
    let out = plan_ok(&d, &o);
    assert!(out.plan.is_empty());
    assert!(
        out.reports[&key("SecurityGroup", "old")].warnings[0].contains("still attached to 1 port")
    );

    // The same plan moves the port off it: deleted after the move.
    d.ports.push(psg("p1", "p1", &["sg-1"]));
    let out = plan_ok(&d, &o);
    assert_eq!(
        ops(&out),
        vec![
            detach("sg-old", &["p1"]),
            Operation::DeleteGroup {
                group: "sg-old".into()
            }
        ]
    );
}

#[test]
fn guard_withholds_revoking_more_than_half_of_a_groups_rules() {
    let rules: Vec<Rule> = (1..=4).map(|p| tcp(HW, p)).collect();
    let mut d = desired(HW);
    d.groups.push(sg("web", "sg-1", Some(rules[..1].to_vec())));
    let mut o = observed(&[], &[]);
    o.groups.insert("sg-1".into(), group("sg-1", &rules));
    let out = plan_ok(&d, &o);
    assert!(out.plan.is_empty());
    let report = &out.reports[&key("SecurityGroup", "web")];
    match &report.withheld {
        Some(Withheld::MassChange(why)) => {
            assert!(why.contains("delete 3 of the 4 rules"), "{why}")
        }
        other => panic!("expected a mass-change hold, got {other:?}"),
    }
    assert_eq!(report.changes.get("deleteRule"), Some(&3));

    // Exactly half is allowed.
    d.groups[0].rules = Some(rules[..2].to_vec());
    assert_eq!(plan_ok(&d, &o).plan.steps.len(), 2);

    // The annotation lifts the guard.
    d.groups[0].rules = Some(rules[..1].to_vec());
    d.groups[0].intent.allow_mass_change = true;
    let out = plan_ok(&d, &o);
    assert_eq!(out.plan.steps.len(), 3);
    assert_eq!(out.reports[&key("SecurityGroup", "web")].withheld, None);
}

#[test]
fn two_objects_adopting_one_group_first_one_wins_with_warnings() {
    let mut d = desired(HW);
    d.groups.push(sg("a", "sg-1", Some(vec![tcp(HW, 80)])));
    d.groups.push(sg("b", "sg-1", Some(vec![tcp(HW, 22)])));
    let out = plan_ok(&d, &observed(&["sg-1"], &[]));
    assert_eq!(
        ops(&out),
        vec![Operation::CreateRules {
            group: existing("sg-1"),
            rules: vec![tcp(HW, 80)]
        }]
    );
    assert!(!out.reports[&key("SecurityGroup", "b")].warnings.is_empty());
    assert!(!out.reports[&key("SecurityGroup", "a")].warnings.is_empty());
}

/// Huawei's four default rules of a new group, as Huawei's API reference shows them.
fn cloud_defaults(group_id: &str) -> Vec<Rule> {
    let mut out = Vec::new();
    for (eth, any) in [(Ethertype::IPv4, "0.0.0.0/0"), (Ethertype::IPv6, "::/0")] {
        let base = Rule {
            direction: Direction::Egress,
            ethertype: eth,
            protocol: Protocol::All,
            ports: Ports::All,
            remote: Remote::Cidr(any.parse().unwrap()),
            action: Action::Allow,
            priority: Some(100),
            description: String::new(),
        };
        out.push(Rule {
            direction: Direction::Ingress,
            remote: Remote::Group(existing(group_id)),
            ..base.clone()
        });
        out.push(base);
    }
    out
}

#[test]
fn guard_does_not_count_the_default_rules_of_a_group_this_controller_created() {
    let wanted = vec![tcp(HW, 443)];
    let mut d = desired(HW);
    d.groups.push(sg("web", "sg-1", Some(wanted.clone())));
    let mut with_defaults = wanted.clone();
    with_defaults.extend(cloud_defaults("sg-1"));
    let mut o = observed(&[], &[]);
    o.groups
        .insert("sg-1".into(), group("sg-1", &with_defaults));

    // Not tagged as ours (adopted): removing 4 of 5 rules is a mass change.
    let out = plan_ok(&d, &o);
    assert!(out.plan.is_empty());
    assert!(matches!(
        out.reports[&key("SecurityGroup", "web")].withheld,
        Some(Withheld::MassChange(_))
    ));

    // Created by this controller (owner tag = the object's uid): the
    // defaults go without a hold.
    if let Some(g) = o.groups.get_mut("sg-1") {
        g.tags.insert(OWNER_TAG.into(), "uid-web".into());
    }
    let out = plan_ok(&d, &o);
    assert_eq!(out.reports[&key("SecurityGroup", "web")].withheld, None);
    assert_eq!(out.plan.steps.len(), 4);

    // Other rules of our own group still count: 4 defaults + 3 extra, keep 1.
    let mut extra = with_defaults.clone();
    extra.extend([tcp(HW, 1), tcp(HW, 2), tcp(HW, 3)]);
    if let Some(g) = o.groups.get_mut("sg-1") {
        *g = ObservedGroup {
            tags: g.tags.clone(),
            ..group("sg-1", &extra)
        };
    }
    let out = plan_ok(&d, &o);
    match &out.reports[&key("SecurityGroup", "web")].withheld {
        Some(Withheld::MassChange(why)) => {
            assert!(why.contains("delete 3 of the 4 rules"), "{why}")
        }
        other => panic!("expected a hold, got {other:?}"),
    }
}

/// The guard said "would delete 5 of the 5 rules" while the plan deleted
/// 6: a rule that looks like one of the cloud's defaults was left out of
/// the count. The message counts what the plan does; the fraction the
/// guard decides by still leaves the defaults of our own group out.
#[test]
fn the_guard_message_counts_every_rule_the_plan_deletes() {
    let mut d = desired(HW);
    d.groups.push(sg("web", "sg-1", Some(vec![])));
    let mut rules = vec![cloud_defaults("sg-1").remove(0)];
    rules.extend((1..=5).map(|p| tcp(HW, p)));
    let mut o = observed(&[], &[]);
    let mut g = group("sg-1", &rules);
    g.tags.insert(OWNER_TAG.into(), "uid-web".into());
    o.groups.insert("sg-1".into(), g);

    let out = plan_ok(&d, &o);
    let report = &out.reports[&key("SecurityGroup", "web")];
    let Some(Withheld::MassChange(why)) = &report.withheld else {
        panic!("expected a hold, got {report:?}");
    };
    assert!(
        why.starts_with("would delete 6 of the 6 rules of group sg-1 "),
        "{why}"
    );
    assert!(
        why.contains(
            "not counting the 1 default rule the cloud gave it, it would delete 5 of the 5 rules"
        ),
        "{why}"
    );
    assert_eq!(
        report.changes.get("deleteRule"),
        Some(&6),
        "what the plan would do"
    );

    // Without defaults the message is the plain count.
    let mut o = observed(&[], &[]);
    o.groups.insert("sg-1".into(), group("sg-1", &rules[1..]));
    let out = plan_ok(&d, &o);
    match &out.reports[&key("SecurityGroup", "web")].withheld {
        Some(Withheld::MassChange(why)) => assert!(
            why.starts_with("would delete 5 of the 5 rules of group sg-1 (more than 50%)"),
            "{why}"
        ),
        other => panic!("expected a hold, got {other:?}"),
    }
}
