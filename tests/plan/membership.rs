//! Table tests for port membership: votes, conflicts, batching and its
//! lower bounds, Huawei order, modes and the guard.

use secgroup_test_support::plans;

use plans::*;
use secgroup_controller::model::{Mode, Operation, ProviderKind, Selection};
use secgroup_controller::plan::{self, PlanOptions, Withheld};

const HW: ProviderKind = ProviderKind::Huawei;
const BD: ProviderKind = ProviderKind::Baidu;

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `n` ports named `p000..`, each holding `groups`.
fn ports_holding<'a>(ids: &'a [String], groups: &'a [&'a str]) -> Vec<(&'a str, &'a [&'a str])> {
    ids.iter().map(|p| (p.as_str(), groups)).collect()
}

#[test]
fn one_port_leaving_three_groups_is_one_call() {
    for provider in [HW, BD] {
        let mut d = desired(provider);
        d.ports.push(psg("p1", "p1", &["A"]));
        let o = observed(&["A", "B", "C", "D"], &[("p1", &["A", "B", "C", "D"])]);
        let out = plan_ok(&d, &o);
        assert_eq!(ops(&out), vec![remove_groups("p1", &["B", "C", "D"])]);
        assert_eq!(
            out.plan.steps[0].owners,
            vec![key("PortSecurityGroups", "p1")]
        );
        assert_converges(&d, &o);
    }
}

#[test]
fn n_ports_joining_a_group_take_ceil_n_over_20_calls() {
    for n in [1usize, 19, 20, 21, 40, 45] {
        let ids = port_ids("p", n);
        let mut d = desired(HW);
        d.memberships.push(additive("m", "G", &strs(&ids), &[]));
        let o = observed(&["A", "G"], &ports_holding(&ids, &["A"]));
        let out = plan_ok(&d, &o);
        assert_eq!(out.plan.steps.len(), n.div_ceil(20), "n = {n}");
        assert_converges(&d, &o);
        if n == 45 {
            let refs = strs(&ids);
            assert_eq!(
                ops(&out),
                vec![
                    attach("G", &refs[..20]),
                    attach("G", &refs[20..40]),
                    attach("G", &refs[40..]),
                ]
            );
            let report = &out.reports[&key("SecurityGroupMembership", "m")];
            assert_eq!(report.changes.get("attachPorts"), Some(&3));
        }
    }
}

#[test]
fn k_ports_moving_from_a_to_b_take_two_ceil_k_over_20_calls() {
    for provider in [HW, BD] {
        for k in [1usize, 20, 25, 60] {
            let ids = port_ids("p", k);
            let mut d = desired(provider);
            for p in &ids {
                d.ports.push(psg(p, p, &["B"]));
            }
            let o = observed(&["A", "B"], &ports_holding(&ids, &["A"]));
            let out = plan_ok(&d, &o);
            assert_eq!(out.plan.steps.len(), 2 * k.div_ceil(20), "k = {k}");
            if k == 25 {
                let refs = strs(&ids);
                assert_eq!(
                    ops(&out),
                    vec![
                        attach("B", &refs[..20]),
                        attach("B", &refs[20..]),
                        detach("A", &refs[..20]),
                        detach("A", &refs[20..]),
                    ]
                );
            }
            let state = assert_converges(&d, &o);
            assert!(ids.iter().all(|p| groups_of(&state, p) == ["B"]));
        }
    }
}

#[test]
fn twenty_ports_leaving_the_same_three_groups_take_three_calls() {
    let ids = port_ids("p", 20);
    let mut d = desired(HW);
    for p in &ids {
        d.ports.push(psg(p, p, &["A"]));
    }
    let o = observed(
        &["A", "B", "C", "D"],
        &ports_holding(&ids, &["A", "B", "C", "D"]),
    );
    let out = plan_ok(&d, &o);
    let refs = strs(&ids);
    assert_eq!(
        ops(&out),
        vec![detach("B", &refs), detach("C", &refs), detach("D", &refs)]
    );
    assert_converges(&d, &o);
}

#[test]
fn a_port_with_many_removals_takes_its_own_call_others_batch() {
    // 21 ports leave G; p020 also leaves H, I: one batch of 20 + one port call.
    let ids = port_ids("p", 21);
    let mut d = desired(HW);
    for p in &ids {
        d.ports.push(psg(p, p, &["A"]));
    }
    let mut o = observed(&["A", "G", "H", "I"], &ports_holding(&ids, &["A", "G"]));
    o.ports.get_mut("p020").expect("port").groups =
        vec!["A".into(), "G".into(), "H".into(), "I".into()];
    let out = plan_ok(&d, &o);
    let refs = strs(&ids);
    assert_eq!(
        ops(&out),
        vec![
            remove_groups("p020", &["G", "H", "I"]),
            detach("G", &refs[..20])
        ]
    );
    assert_converges(&d, &o);
}

#[test]
fn additive_adds_listed_removes_dropped_and_leaves_others_alone() {
    let mut d = desired(HW);
    d.memberships
        .push(additive("m", "G", &["p1"], &["p1", "p2"]));
    let o = observed(
        &["A", "G"],
        &[("p1", &["A"]), ("p2", &["A", "G"]), ("p3", &["A", "G"])],
    );
    let out = plan_ok(&d, &o);
    assert_eq!(ops(&out), vec![attach("G", &["p1"]), detach("G", &["p2"])]);
    let state = assert_converges(&d, &o);
    assert_eq!(groups_of(&state, "p3"), ["A", "G"]);
}

#[test]
fn exclusive_holds_exactly_its_ports() {
    let mut d = desired(BD);
    // p3 is in G but the reader did not list it in current_members: the
    // observed ports still show it, so it leaves too.
    d.memberships.push(exclusive("m", "G", &["p1"], &["p2"]));
    let o = observed(
        &["A", "G"],
        &[("p1", &["A"]), ("p2", &["A", "G"]), ("p3", &["G", "A"])],
    );
    let out = plan_ok(&d, &o);
    assert_eq!(
        ops(&out),
        vec![attach("G", &["p1"]), detach("G", &["p2", "p3"])]
    );
    assert_converges(&d, &o);
}

#[test]
fn port_centric_and_membership_conflict_without_flapping() {
    for p1_groups in [&["A"][..], &["A", "G"][..]] {
        let mut d = desired(HW);
        d.ports.push(psg("p1", "p1", &["A"]));
        d.memberships.push(additive("m", "G", &["p1"], &[]));
        let o = observed(&["A", "G"], &[("p1", p1_groups)]);
        let out = plan_ok(&d, &o);
        assert!(out.plan.is_empty(), "{:#?}", out.plan);
        let psg_report = &out.reports[&key("PortSecurityGroups", "p1")];
        let m_report = &out.reports[&key("SecurityGroupMembership", "m")];
        assert_eq!(psg_report.conflicts.len(), 1);
        assert_eq!(psg_report.conflicts[0].port, "p1");
        assert_eq!(psg_report.conflicts[0].group, "G");
        assert_eq!(
            psg_report.conflicts[0].with,
            key("SecurityGroupMembership", "m")
        );
        assert_eq!(m_report.conflicts.len(), 1);
        assert_eq!(m_report.conflicts[0].with, key("PortSecurityGroups", "p1"));
        // Stable: the same answer again.
        assert_eq!(plan_ok(&d, &o), out);
    }
}

#[test]
fn exclusive_membership_excluding_a_listed_port_conflicts_other_pairs_proceed() {
    let mut d = desired(HW);
    d.ports.push(psg("p1", "p1", &["A", "G"]));
    d.memberships.push(exclusive("m", "G", &["p2"], &[]));
    let o = observed(&["A", "G"], &[("p1", &["A", "G"]), ("p2", &["A"])]);
    let out = plan_ok(&d, &o);
    assert_eq!(ops(&out), vec![attach("G", &["p2"])]);
    let m = &out.reports[&key("SecurityGroupMembership", "m")];
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(
        (m.conflicts[0].port.as_str(), m.conflicts[0].group.as_str()),
        ("p1", "G")
    );
    let (next, state) = apply(&d, &o, &out);
    let again = plan_ok(&next, &state);
    assert!(again.plan.is_empty());
    assert_eq!(
        again.reports[&key("SecurityGroupMembership", "m")].conflicts,
        m.conflicts
    );
}

#[test]
fn two_memberships_of_one_group_disagreeing_conflict() {
    let mut d = desired(HW);
    d.memberships.push(additive("keep", "G", &["p1"], &["p1"]));
    d.memberships.push(additive("drop", "G", &[], &["p1"]));
    let o = observed(&["A", "G"], &[("p1", &["A", "G"])]);
    let out = plan_ok(&d, &o);
    assert!(out.plan.is_empty());
    assert_eq!(
        out.reports[&key("SecurityGroupMembership", "keep")]
            .conflicts
            .len(),
        1
    );
    assert_eq!(
        out.reports[&key("SecurityGroupMembership", "drop")]
            .conflicts
            .len(),
        1
    );
}

#[test]
fn a_port_left_with_no_groups_is_a_field_error() {
    let mut d = desired(HW);
    d.ports.push(psg("p1", "p1", &[]));
    let errors = plan::plan(
        &d,
        &observed(&["A"], &[("p1", &["A"])]),
        &PlanOptions::default(),
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "spec.securityGroups");
    assert!(
        errors[0].message.contains("no security groups"),
        "{}",
        errors[0]
    );

    let mut d = desired(HW);
    d.memberships.push(exclusive("m", "G", &[], &["p1"]));
    let errors = plan::plan(
        &d,
        &observed(&["G"], &[("p1", &["G"])]),
        &PlanOptions::default(),
    )
    .unwrap_err();
    assert_eq!(errors[0].field, "spec.ports");
    assert_eq!(errors[0].object, Some(key("SecurityGroupMembership", "m")));
}

#[test]
fn a_selected_port_that_would_keep_no_group_is_held_not_refused() {
    // A Node left a NodeSecurityGroups (an Additive release with a
    // selection): its port holds only that object's group.
    let mut d = desired(HW);
    let mut release = additive("nsg", "G", &[], &["p1", "p2"]);
    release.selection = Some(Selection::default());
    d.memberships.push(release);
    let o = observed(&["A", "G"], &[("p1", &["G"]), ("p2", &["A", "G"])]);
    let out = plan_ok(&d, &o);
    // p2 keeps A, so it leaves G; p1 would keep nothing, so it waits.
    assert_eq!(ops(&out), vec![detach("G", &["p2"])]);
    let report = &out.reports[&key("SecurityGroupMembership", "nsg")];
    assert_eq!(report.held, vec!["p1".to_string()]);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("port p1 keeps its groups")),
        "{:?}",
        report.warnings
    );
    // Planning the result again holds the same port: no steps, no flap.
    let (next, after) = apply(&d, &o, &out);
    let again = plan_ok(&next, &after);
    assert!(again.plan.is_empty(), "{:#?}", again.plan);
    assert_eq!(
        again.reports[&key("SecurityGroupMembership", "nsg")].held,
        vec!["p1".to_string()]
    );

    // Once the port holds another group, it leaves.
    let later = observed(&["A", "G"], &[("p1", &["A", "G"])]);
    let out = plan_ok(&d, &later);
    assert_eq!(ops(&out), vec![detach("G", &["p1"])]);
    assert!(
        out.reports[&key("SecurityGroupMembership", "nsg")]
            .held
            .is_empty()
    );

    // Without a selection the same release is the spec's error.
    let mut d = desired(HW);
    d.memberships.push(additive("m", "G", &[], &["p1"]));
    let errors = plan::plan(&d, &o, &PlanOptions::default()).unwrap_err();
    assert_eq!(errors[0].field, "spec.ports");
}

#[test]
fn an_exclusive_selection_leaves_spared_ports_alone() {
    // Ports p1, p2 and p3 are in G; p2's Node is gone (spared), p3 is a
    // stray no one names. Exclusive removes the stray only, whether the
    // reader listed the members (`current_members`) or only the ports.
    for current in [&["p1", "p2", "p3"][..], &[]] {
        let mut d = desired(HW);
        let mut m = exclusive("m", "G", &["p1"], current);
        m.selection = Some(Selection {
            spared: set(&["p2"]),
        });
        d.memberships.push(m);
        let o = observed(
            &["A", "G"],
            &[
                ("p1", &["A", "G"]),
                ("p2", &["A", "G"]),
                ("p3", &["A", "G"]),
            ],
        );
        let out = plan_ok(&d, &o);
        assert_eq!(ops(&out), vec![detach("G", &["p3"])], "{current:?}");
        assert_converges(&d, &o);
    }
}

#[test]
fn more_groups_than_the_provider_allows_is_a_field_error() {
    let groups: Vec<String> = (0..11).map(|i| format!("g{i:02}")).collect();
    let refs = strs(&groups);
    let mut d = desired(BD);
    d.ports.push(psg("p1", "p1", &refs));
    let errors = plan::plan(
        &d,
        &observed(&refs, &[("p1", &["g00"])]),
        &PlanOptions::default(),
    )
    .unwrap_err();
    assert!(errors.iter().all(|e| e.field == "spec.securityGroups"));
    assert!(errors[0].message.contains("at most 10"), "{}", errors[0]);

    // A membership pushing a full port over the limit.
    let mut d = desired(BD);
    d.memberships.push(additive("m", "g10", &["p1"], &[]));
    let errors = plan::plan(
        &d,
        &observed(&refs, &[("p1", &refs[..10])]),
        &PlanOptions::default(),
    )
    .unwrap_err();
    assert_eq!(errors[0].field, "spec.ports");
}

#[test]
fn missing_ports_and_groups_are_warnings_without_steps() {
    let mut d = desired(HW);
    d.ports.push(psg("p9", "p9", &["A"]));
    d.memberships.push(additive("m", "sg-x", &["p1"], &[]));
    let out = plan_ok(&d, &observed(&["A"], &[("p1", &["A"])]));
    assert!(out.plan.is_empty());
    assert_eq!(
        out.reports[&key("PortSecurityGroups", "p9")].warnings,
        vec!["port p9 not found".to_string()]
    );
    assert_eq!(
        out.reports[&key("SecurityGroupMembership", "m")].warnings,
        vec!["port p1: group sg-x not found".to_string()]
    );
}

#[test]
fn removals_wait_when_the_replacement_group_is_unavailable() {
    let mut d = desired(HW);
    d.ports.push(psg("p1", "p1", &["sg-x"]));
    let out = plan_ok(&d, &observed(&["A"], &[("p1", &["A"])]));
    assert!(out.plan.is_empty(), "{:#?}", out.plan);
    let w = &out.reports[&key("PortSecurityGroups", "p1")].warnings;
    assert!(w.iter().any(|w| w.contains("sg-x not found")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("keeps its groups")), "{w:?}");
}

#[test]
fn huawei_inserts_in_front_and_in_the_middle_at_an_index() {
    let mut d = desired(HW);
    d.ports.push(psg("p1", "p1", &["B", "A"]));
    d.ports.push(psg("p2", "p2", &["A", "B", "C"]));
    let o = observed(&["A", "B", "C"], &[("p1", &["A"]), ("p2", &["A", "C"])]);
    let out = plan_ok(&d, &o);
    assert_eq!(
        ops(&out),
        vec![
            add_groups("p1", &["B"], Some(0)),
            add_groups("p2", &["B"], Some(1))
        ]
    );
    let state = assert_converges(&d, &o);
    assert_eq!(groups_of(&state, "p1"), ["B", "A"]);
    assert_eq!(groups_of(&state, "p2"), ["A", "B", "C"]);
}

#[test]
fn huawei_reorders_by_removing_and_reinserting_after_all_adds() {
    let mut d = desired(HW);
    d.ports.push(psg("p1", "p1", &["B", "A"]));
    d.ports.push(psg("p2", "p2", &["N", "A", "B", "C"]));
    let o = observed(
        &["A", "B", "C", "N", "X"],
        &[("p1", &["A", "B"]), ("p2", &["X", "C", "A", "B"])],
    );
    let out = plan_ok(&d, &o);
    // p1: B stays, A leaves and comes back after it.
    // p2: N inserted in front of A (add phase); X leaves and C (out of
    // order) leaves then comes back at the end.
    assert_eq!(
        ops(&out),
        vec![
            add_groups("p2", &["N"], Some(2)),
            remove_groups("p2", &["X", "C"]),
            detach("A", &["p1"]),
            add_groups("p1", &["A"], None),
            add_groups("p2", &["C"], None),
        ]
    );
    let state = assert_converges(&d, &o);
    assert_eq!(groups_of(&state, "p1"), ["B", "A"]);
    assert_eq!(groups_of(&state, "p2"), ["N", "A", "B", "C"]);
}

#[test]
fn huawei_appends_by_batch_when_the_order_allows() {
    let ids = port_ids("p", 25);
    let mut d = desired(HW);
    for p in &ids {
        d.ports.push(psg(p, p, &["A", "B", "C"]));
    }
    let o = observed(&["A", "B", "C"], &ports_holding(&ids, &["A"]));
    let out = plan_ok(&d, &o);
    let refs = strs(&ids);
    assert_eq!(
        ops(&out),
        vec![
            attach("B", &refs[..20]),
            attach("B", &refs[20..]),
            attach("C", &refs[..20]),
            attach("C", &refs[20..]),
        ]
    );
    let state = assert_converges(&d, &o);
    assert!(ids.iter().all(|p| groups_of(&state, p) == ["A", "B", "C"]));
}

#[test]
fn huawei_ports_whose_append_order_disagrees_use_their_own_call() {
    let mut d = desired(HW);
    d.ports.push(psg("p1", "p1", &["A", "B", "C"]));
    d.ports.push(psg("p2", "p2", &["A", "C", "B"]));
    let o = observed(&["A", "B", "C"], &[("p1", &["A"]), ("p2", &["A"])]);
    let out = plan_ok(&d, &o);
    assert_eq!(
        ops(&out),
        vec![
            add_groups("p1", &["B", "C"], None),
            add_groups("p2", &["C", "B"], None)
        ]
    );
    let state = assert_converges(&d, &o);
    assert_eq!(groups_of(&state, "p2"), ["A", "C", "B"]);
}

#[test]
fn baidu_ignores_order() {
    let mut d = desired(BD);
    d.ports.push(psg("p1", "p1", &["B", "A"]));
    let out = plan_ok(&d, &observed(&["A", "B"], &[("p1", &["A", "B"])]));
    assert!(out.plan.is_empty());
}

#[test]
fn baidu_makes_room_at_the_quota_before_adding() {
    let groups: Vec<String> = (0..10).map(|i| format!("g{i}")).collect();
    let mut target = strs(&groups)[..9].to_vec();
    target.push("gX");
    let mut all = strs(&groups);
    all.push("gX");
    let mut d = desired(BD);
    d.ports.push(psg("p1", "p1", &target));
    let o = observed(&all, &[("p1", &strs(&groups))]);
    let out = plan_ok(&d, &o);
    assert_eq!(
        ops(&out),
        vec![remove_groups("p1", &["g9"]), attach("gX", &["p1"])]
    );
    assert_converges(&d, &o);
}

#[test]
fn paused_and_observed_objects_are_counted_not_planned() {
    for (mode, why) in [
        (Mode::Paused, Withheld::Paused),
        (Mode::Observe, Withheld::Observe),
    ] {
        let mut d = desired(HW);
        let mut p = psg("p1", "p1", &["B"]);
        p.intent = with_mode(p.intent, mode);
        d.ports.push(p);
        let out = plan_ok(&d, &observed(&["A", "B"], &[("p1", &["A"])]));
        assert!(out.plan.is_empty());
        let report = &out.reports[&key("PortSecurityGroups", "p1")];
        assert_eq!(report.withheld, Some(why));
        assert_eq!(report.changes.get("attachPorts"), Some(&1));
        assert_eq!(report.changes.get("detachPorts"), Some(&1));
    }
}

#[test]
fn a_withheld_change_never_rides_in_a_batch() {
    let mut d = desired(HW);
    d.memberships.push(additive("go", "G", &["p1", "p2"], &[]));
    let mut paused = additive("wait", "G", &["p3", "p4"], &[]);
    paused.intent = with_mode(paused.intent, Mode::Paused);
    d.memberships.push(paused);
    let o = observed(
        &["A", "G"],
        &[
            ("p1", &["A"]),
            ("p2", &["A"]),
            ("p3", &["A"]),
            ("p4", &["A"]),
        ],
    );
    let out = plan_ok(&d, &o);
    assert_eq!(ops(&out), vec![attach("G", &["p1", "p2"])]);
    assert_eq!(
        out.plan.steps[0].owners,
        vec![key("SecurityGroupMembership", "go")]
    );
    let wait = &out.reports[&key("SecurityGroupMembership", "wait")];
    assert_eq!(wait.changes.get("attachPorts"), Some(&1));
}

#[test]
fn a_pair_wanted_by_a_paused_and_an_active_object_is_planned_for_the_active_one() {
    let mut d = desired(HW);
    let mut p = psg("p1", "p1", &["A", "G"]);
    p.intent = with_mode(p.intent, Mode::Paused);
    d.ports.push(p);
    d.memberships.push(additive("m", "G", &["p1"], &[]));
    let out = plan_ok(&d, &observed(&["A", "G"], &[("p1", &["A"])]));
    assert_eq!(ops(&out), vec![attach("G", &["p1"])]);
    assert_eq!(
        out.plan.steps[0].owners,
        vec![key("SecurityGroupMembership", "m")]
    );
}

#[test]
fn agreeing_objects_share_the_step() {
    let mut d = desired(HW);
    d.ports.push(psg("p1", "p1", &["A", "G"]));
    d.memberships.push(additive("m", "G", &["p1"], &[]));
    let out = plan_ok(&d, &observed(&["A", "G"], &[("p1", &["A"])]));
    assert_eq!(ops(&out), vec![attach("G", &["p1"])]);
    assert_eq!(
        out.plan.steps[0].owners,
        vec![
            key("PortSecurityGroups", "p1"),
            key("SecurityGroupMembership", "m")
        ]
    );
}

#[test]
fn guard_withholds_more_than_twenty_removals_unless_allowed() {
    let ids = port_ids("p", 25);
    let mut d = desired(HW);
    d.memberships.push(additive("m", "G", &[], &strs(&ids)));
    let o = observed(&["A", "G"], &ports_holding(&ids, &["A", "G"]));
    let out = plan_ok(&d, &o);
    assert!(out.plan.is_empty());
    let report = &out.reports[&key("SecurityGroupMembership", "m")];
    match &report.withheld {
        Some(Withheld::MassChange(why)) => assert!(
            why.contains("remove 25 port memberships (more than 20)"),
            "{why}"
        ),
        other => panic!("expected a mass-change hold, got {other:?}"),
    }
    assert_eq!(report.changes.get("detachPorts"), Some(&2));

    let opts = PlanOptions {
        max_membership_removals: 30,
        ..PlanOptions::default()
    };
    assert_eq!(
        plan::plan(&d, &o, &opts).expect("valid").plan.steps.len(),
        2
    );
    d.memberships[0].intent.allow_mass_change = true;
    let out = plan_ok(&d, &o);
    assert_eq!(out.plan.steps.len(), 2);
    assert_converges(&d, &o);
}

#[test]
fn adds_to_a_group_the_plan_creates() {
    let mut d = desired(HW);
    d.groups.push(new_sg("web", None));
    let mut m = additive("m", "unused", &["p1", "p2"], &[]);
    m.group = secgroup_controller::model::GroupHandle::New(key("SecurityGroup", "web"));
    d.memberships.push(m);
    let o = observed(&["A"], &[("p1", &["A"]), ("p2", &["A"])]);
    let out = plan_ok(&d, &o);
    assert!(matches!(
        out.plan.steps[0].op,
        Operation::CreateGroup { .. }
    ));
    assert!(matches!(
        &out.plan.steps[1].op,
        Operation::AttachPorts { ports, .. } if ports.len() == 2
    ));
    let state = assert_converges(&d, &o);
    assert_eq!(groups_of(&state, "p1"), ["A", "new-web"]);
}

#[test]
fn huawei_new_groups_join_before_removals_and_movers_go_back_around_them() {
    let mut d = desired(HW);
    d.ports.push(psg("p1", "p1", &["B", "N", "A"]));
    d.ports.push(psg("p2", "p2", &["B", "A", "N"]));
    let o = observed(
        &["A", "B", "N"],
        &[("p1", &["A", "B"]), ("p2", &["A", "B"])],
    );
    let out = plan_ok(&d, &o);
    // B stays; N is appended (add phase); A is out of order: it leaves and
    // goes back at the end (p1) or just before N (p2).
    assert_eq!(
        ops(&out),
        vec![
            attach("N", &["p1", "p2"]),
            detach("A", &["p1", "p2"]),
            add_groups("p1", &["A"], None),
            add_groups("p2", &["A"], Some(1)),
        ]
    );
    let state = assert_converges(&d, &o);
    assert_eq!(groups_of(&state, "p1"), ["B", "N", "A"]);
    assert_eq!(groups_of(&state, "p2"), ["B", "A", "N"]);
}
