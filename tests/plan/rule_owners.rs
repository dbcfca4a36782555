//! Table tests of rules owned by several objects: a `SecurityGroup`'s own
//! `spec.rules` and every `SecurityGroupRules` naming its group, under
//! `Authoritative` and `Additive`; what each owner's recorded rules let be
//! revoked; conflicts between owners; the guard and the batches across
//! owners.

use secgroup_test_support::plans;

use plans::*;
use secgroup_controller::model::{
    DesiredRuleSet, GroupHandle, Mode, Operation, ProviderKind, Rule, RulesPolicy,
};
use secgroup_controller::plan::{self, PlanOptions, Withheld};

const HW: ProviderKind = ProviderKind::Huawei;
const BD: ProviderKind = ProviderKind::Baidu;

fn creates(out: &plan::PlanOutcome) -> Vec<Vec<Rule>> {
    ops(out)
        .into_iter()
        .filter_map(|op| match op {
            Operation::CreateRules { rules, .. } => Some(rules),
            _ => None,
        })
        .collect()
}

fn deleted(out: &plan::PlanOutcome) -> Vec<Rule> {
    ops(out)
        .into_iter()
        .filter_map(|op| match op {
            Operation::DeleteRule { rule, .. } => Some(rule),
            _ => None,
        })
        .collect()
}

fn sgr(name: &str) -> secgroup_controller::model::ObjectKey {
    key("SecurityGroupRules", name)
}

#[test]
fn authoritative_holds_the_union_of_its_owners_and_revokes_the_rest() {
    let (r22, r80, r443, r9100) = (tcp(HW, 22), tcp(HW, 80), tcp(HW, 443), tcp(HW, 9100));
    let mut d = desired(HW);
    d.groups.push(sg("web", "sg-1", Some(vec![r80.clone()])));
    d.rule_sets
        .push(rule_set("monitoring", "sg-1", vec![r9100.clone()], &[]));
    d.rule_sets.push(rule_set(
        "tls",
        "sg-1",
        vec![r443.clone(), r80.clone()],
        &[],
    ));
    let mut o = observed(&[], &[]);
    o.groups
        .insert("sg-1".into(), group("sg-1", &[r22.clone(), r80.clone()]));
    let out = plan_ok(&d, &o);
    // One call carries the rules of both objects; the shared 80 is kept.
    assert_eq!(creates(&out), vec![vec![r9100, r443]]);
    assert_eq!(
        out.plan.steps[0].owners,
        vec![sgr("monitoring"), sgr("tls")]
    );
    assert_eq!(deleted(&out), vec![r22]);
    assert_eq!(
        out.plan.steps[1].owners,
        vec![key("SecurityGroup", "web")],
        "revoked on behalf of the authoritative group"
    );
    assert_converges(&d, &o);
}

#[test]
fn additive_revokes_only_what_an_owner_let_go_of() {
    let (r22, r80, r443) = (tcp(HW, 22), tcp(HW, 80), tcp(HW, 443));
    let mut d = desired(HW);
    // No spec.rules: Additive by default.
    d.groups.push(sg("web", "sg-1", None));
    assert_eq!(d.groups[0].rules_policy, RulesPolicy::Additive);
    // It owned 443 and now wants 80 only; 22 was never anyone's.
    d.rule_sets
        .push(rule_set("tls", "sg-1", vec![r80.clone()], &[&r443, &r80]));
    let mut o = observed(&[], &[]);
    o.groups.insert(
        "sg-1".into(),
        group("sg-1", &[r22.clone(), r443.clone(), r80.clone()]),
    );
    let out = plan::plan(&d, &o, &permissive()).expect("valid");
    assert_eq!(creates(&out), Vec::<Vec<Rule>>::new());
    assert_eq!(deleted(&out), vec![r443]);
    assert_eq!(out.plan.steps[0].owners, vec![sgr("tls")]);
}

fn permissive() -> PlanOptions {
    PlanOptions {
        max_revoke_fraction: 1.0,
        ..PlanOptions::default()
    }
}

#[test]
fn a_rule_two_objects_own_stays_until_neither_does() {
    let (r80, r443) = (tcp(HW, 80), tcp(HW, 443));
    let mut o = observed(&[], &[]);
    o.groups
        .insert("sg-1".into(), group("sg-1", &[r80.clone(), r443.clone()]));
    // a lets go of 443; b still owns it.
    let mut d = desired(HW);
    d.rule_sets
        .push(rule_set("a", "sg-1", vec![r80.clone()], &[&r80, &r443]));
    d.rule_sets
        .push(rule_set("b", "sg-1", vec![r443.clone()], &[&r443]));
    let out = plan::plan(&d, &o, &permissive()).expect("valid");
    assert!(out.plan.is_empty(), "{:#?}", out.plan);
    // b is deleted (no rules, its record left): now 443 goes, 80 stays.
    d.rule_sets[1].rules.clear();
    let out = plan::plan(&d, &o, &permissive()).expect("valid");
    assert_eq!(deleted(&out), vec![r443]);
    assert_eq!(out.plan.steps[0].owners, vec![sgr("a"), sgr("b")]);
}

#[test]
fn a_group_adopted_by_id_through_rules_only_is_additive() {
    let (r22, r80) = (tcp(HW, 22), tcp(HW, 80));
    let mut d = desired(HW);
    d.rule_sets
        .push(rule_set("a", "sg-1", vec![r80.clone()], &[]));
    let mut o = observed(&[], &[]);
    o.groups
        .insert("sg-1".into(), group("sg-1", std::slice::from_ref(&r22)));
    let out = plan_ok(&d, &o);
    assert_eq!(creates(&out), vec![vec![r80]]);
    assert_eq!(deleted(&out), Vec::<Rule>::new(), "22 is nobody's");
    assert_converges(&d, &o);
}

#[test]
fn owners_wanting_one_rule_with_different_attributes_conflict_without_flapping() {
    let r = tcp(HW, 8080);
    let mut prio50 = r.clone();
    prio50.priority = Some(50);
    let mut deny = r.clone();
    deny.action = secgroup_controller::model::Action::Deny;
    for (theirs, cloud) in [
        (prio50.clone(), vec![]),
        (prio50.clone(), vec![prio50.clone()]),
        (deny.clone(), vec![r.clone()]),
    ] {
        let mut d = desired(HW);
        d.groups.push(sg("web", "sg-1", Some(vec![r.clone()])));
        d.rule_sets
            .push(rule_set("metrics", "sg-1", vec![theirs.clone()], &[]));
        let mut o = observed(&[], &[]);
        o.groups.insert("sg-1".into(), group("sg-1", &cloud));
        let out = plan::plan(&d, &o, &permissive()).expect("valid");
        assert!(
            out.plan.is_empty(),
            "neither variant, no revoke: {:#?}",
            out.plan
        );
        let mine = &out.reports[&key("SecurityGroup", "web")].rule_conflicts;
        let other = &out.reports[&sgr("metrics")].rule_conflicts;
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(mine[0].with, sgr("metrics"));
        assert_eq!(other[0].with, key("SecurityGroup", "web"));
        assert!(other[0].message.contains("prio") || other[0].message.contains("deny"));
        assert!(out.reports[&sgr("metrics")].has_conflicts());
        // The same answer every time.
        assert_eq!(plan::plan(&d, &o, &permissive()).expect("valid"), out);
    }
}

#[test]
fn owners_agreeing_on_a_rule_do_not_conflict() {
    let r = tcp(HW, 8080);
    let mut d = desired(HW);
    d.groups.push(sg("web", "sg-1", Some(vec![r.clone()])));
    d.rule_sets
        .push(rule_set("metrics", "sg-1", vec![r.clone()], &[]));
    let o = observed(&["sg-1"], &[]);
    let out = plan_ok(&d, &o);
    assert!(out.reports.values().all(|r| !r.has_conflicts()));
    assert_eq!(creates(&out), vec![vec![r]]);
    assert_eq!(
        out.plan.steps[0].owners,
        vec![key("SecurityGroup", "web"), sgr("metrics")]
    );
}

#[test]
fn on_baidu_a_different_remark_is_a_different_rule() {
    let r = tcp(BD, 8080);
    let mut remarked = r.clone();
    remarked.description = "metrics".into();
    let mut d = desired(BD);
    d.rule_sets
        .push(rule_set("a", "sg-1", vec![r.clone()], &[]));
    d.rule_sets
        .push(rule_set("b", "sg-1", vec![remarked.clone()], &[]));
    let o = observed(&["sg-1"], &[]);
    let out = plan_ok(&d, &o);
    assert!(out.reports.values().all(|r| !r.has_conflicts()));
    // Baidu authorizes one rule a call.
    assert_eq!(creates(&out), vec![vec![r], vec![remarked]]);
    // On Huawei the description is an attribute: the same two conflict.
    let mut hw = d.clone();
    hw.provider = HW;
    for s in &mut hw.rule_sets {
        for rule in &mut s.rules {
            rule.priority = Some(1);
        }
    }
    let out = plan_ok(&hw, &o);
    assert!(out.reports[&sgr("a")].has_conflicts());
    assert!(out.plan.is_empty());
}

#[test]
fn the_guard_counts_a_groups_deletions_over_all_its_owners() {
    // Ten rules; a and b each let go of three (30% each, 60% together).
    let rules: Vec<Rule> = (1..=10).map(|p| tcp(HW, p)).collect();
    let mut o = observed(&[], &[]);
    o.groups.insert("sg-1".into(), group("sg-1", &rules));
    fn managed(r: &[Rule]) -> Vec<&Rule> {
        r.iter().collect()
    }
    let mut d = desired(HW);
    d.rule_sets.push(rule_set(
        "a",
        "sg-1",
        rules[3..5].to_vec(),
        &managed(&rules[0..5]),
    ));
    d.rule_sets.push(rule_set(
        "b",
        "sg-1",
        rules[8..10].to_vec(),
        &managed(&rules[5..10]),
    ));
    let out = plan_ok(&d, &o);
    assert!(out.plan.is_empty(), "{:#?}", out.plan);
    for name in ["a", "b"] {
        let w = &out.reports[&sgr(name)].withheld;
        assert!(
            matches!(w, Some(Withheld::MassChange(m)) if m.contains("6 of the 10")),
            "{name}: {w:?}"
        );
    }
    // One alone stays under the fraction and goes ahead.
    d.rule_sets[1].managed_rules = rules[8..10].iter().map(Rule::identity).collect();
    let out = plan_ok(&d, &o);
    assert_eq!(deleted(&out).len(), 3);
    assert!(out.reports[&sgr("a")].withheld.is_none());
}

#[test]
fn ten_owners_of_forty_rules_each_share_two_huawei_creates() {
    let mut d = desired(HW);
    for owner in 0..10u16 {
        let rules = (0..40u16).map(|i| tcp(HW, 1000 + owner * 40 + i)).collect();
        d.rule_sets
            .push(rule_set(&format!("team-{owner}"), "sg-1", rules, &[]));
    }
    let o = observed(&["sg-1"], &[]);
    let out = plan_ok(&d, &o);
    // The lower bound: ceil(400 / 200) = 2.
    assert_eq!(
        creates(&out).iter().map(Vec::len).collect::<Vec<_>>(),
        [200, 200]
    );
    assert_eq!(out.plan.steps.len(), 2);
    assert_converges(&d, &o);
}

#[test]
fn rules_for_a_group_that_is_not_created_yet_wait() {
    let mut d = desired(HW);
    let mut web = new_sg("web", Some(vec![tcp(HW, 80)]));
    web.intent = with_mode(web.intent, Mode::Paused);
    d.groups.push(web);
    d.rule_sets.push(DesiredRuleSet {
        group: GroupHandle::New(key("SecurityGroup", "web")),
        ..rule_set("a", "unused", vec![tcp(HW, 9100)], &[])
    });
    let o = observed(&[], &[]);
    let out = plan_ok(&d, &o);
    assert!(out.plan.is_empty(), "{:#?}", out.plan);
    let warnings = &out.reports[&sgr("a")].warnings;
    assert!(
        warnings.iter().any(|w| w.contains("paused")),
        "{warnings:?}"
    );
}

#[test]
fn rules_for_a_group_the_plan_creates_ride_in_its_create_calls() {
    let mut d = desired(HW);
    d.groups.push(new_sg("web", Some(vec![tcp(HW, 80)])));
    d.rule_sets.push(DesiredRuleSet {
        group: GroupHandle::New(key("SecurityGroup", "web")),
        ..rule_set("a", "unused", vec![tcp(HW, 9100)], &[])
    });
    let o = observed(&[], &[]);
    let out = plan_ok(&d, &o);
    assert_eq!(creates(&out), vec![vec![tcp(HW, 80), tcp(HW, 9100)]]);
    assert_converges(&d, &o);
}
