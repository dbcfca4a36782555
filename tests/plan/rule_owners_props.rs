//! Property test of rules owned by several objects. A random history of
//! owners (a group's own `spec.rules` and up to four `SecurityGroupRules`)
//! being added, edited and deleted, in random order, against one group
//! whose cloud starts with some of the pool's rules and some rules nobody
//! owns. After each change the controller's cycle is played: plan, apply
//! step by step with the cloud model, record what each owner now owns (as
//! the status does), finish deletions. Checked at every step:
//!
//! - every step is one the cloud model accepts; creates come before any
//!   revoke, and a group's creates take the fewest calls (ceil(n/200) on
//!   Huawei, one a rule on Baidu) whoever owns them;
//! - no rule is ever missing while some owner wants it: a wanted rule that
//!   was in the cloud stays there through every intermediate state;
//! - the cloud ends with exactly the union of what the owners want
//!   (`Authoritative`), or that union plus the rules nobody ever owned
//!   (`Additive`);
//! - re-planning after applying gives no steps.
//!
//! Case count: `PROPTEST_CASES` (default 64).

use std::collections::{BTreeMap, BTreeSet};

use secgroup_test_support::plans::*;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::subsequence;
use secgroup_controller::model::{
    DesiredRuleSet, DesiredState, ObservedState, Operation, ProviderKind, Rule, RulesPolicy,
};
use secgroup_controller::plan::{self, PlanOptions, simulate};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig::with_cases(cases)
}

/// Rules owners choose from (ports 1..=POOL) and rules only the cloud has
/// at the start (ports 1001..=1000+FOREIGN), which no owner ever wants.
const POOL: u16 = 8;
const FOREIGN: u16 = 3;
/// `SecurityGroupRules` objects, `R0..`.
const OWNERS: usize = 4;

#[derive(Clone, Debug)]
enum Event {
    /// Create or edit an owner's rules (owner `OWNERS` is the group's own
    /// `spec.rules`).
    Set(usize, Vec<u16>),
    /// Delete a `SecurityGroupRules` (its finalizer runs a cycle first).
    Delete(usize),
}

#[derive(Clone, Debug)]
struct Case {
    provider: ProviderKind,
    /// `None`: no `SecurityGroup` object, the group is adopted by id
    /// through `SecurityGroupRules` only (Additive).
    policy: Option<RulesPolicy>,
    initial: Vec<u16>,
    events: Vec<Event>,
}

fn case() -> impl Strategy<Value = Case> {
    let pool: Vec<u16> = (1..=POOL).collect();
    let foreign: Vec<u16> = (1001..=1000 + FOREIGN).collect();
    let rules = subsequence(pool.clone(), 0..=pool.len());
    let event = prop_oneof![
        4 => (0..=OWNERS, rules).prop_map(|(o, r)| Event::Set(o, r)),
        1 => (0..OWNERS).prop_map(Event::Delete),
    ];
    (
        prop_oneof![Just(ProviderKind::Huawei), Just(ProviderKind::Baidu)],
        prop_oneof![
            Just(Some(RulesPolicy::Authoritative)),
            Just(Some(RulesPolicy::Additive)),
            Just(None)
        ],
        subsequence(pool, 0..=POOL as usize),
        subsequence(foreign, 0..=FOREIGN as usize),
        vec(event, 1..=10),
    )
        .prop_map(|(provider, policy, mut initial, foreign, events)| {
            initial.extend(foreign);
            Case {
                provider,
                policy,
                initial,
                events,
            }
        })
}

/// An owner as the controller knows it: its spec and its status.
#[derive(Clone, Debug, Default)]
struct Owner {
    rules: Vec<Rule>,
    /// Identities recorded on its status.
    managed: BTreeSet<String>,
    /// Being deleted: its rules are let go, its record still counts.
    deleting: bool,
}

struct World {
    provider: ProviderKind,
    policy: Option<RulesPolicy>,
    own: Owner,
    sets: BTreeMap<usize, Owner>,
    cloud: ObservedState,
    /// Identities any owner has ever recorded.
    ever_owned: BTreeSet<String>,
    initial: BTreeSet<Rule>,
}

impl World {
    fn desired(&self) -> DesiredState {
        let mut d = desired(self.provider);
        if let Some(policy) = self.policy {
            let mut g = sg("web", "sg-1", Some(self.own.rules.clone()));
            g.rules_policy = policy;
            g.managed_rules = self.own.managed.clone();
            d.groups.push(g);
        }
        for (i, o) in &self.sets {
            d.rule_sets.push(DesiredRuleSet {
                managed_rules: o.managed.clone(),
                ..rule_set(&format!("R{i}"), "sg-1", o.rules.clone(), &[])
            });
        }
        d
    }

    /// Every rule some owner that is not being deleted wants.
    fn wanted(&self) -> BTreeSet<Rule> {
        let own = self.policy.is_some().then_some(&self.own);
        own.into_iter()
            .chain(self.sets.values())
            .filter(|o| !o.deleting)
            .flat_map(|o| o.rules.iter().cloned())
            .collect()
    }

    fn cloud_rules(&self) -> BTreeSet<Rule> {
        self.cloud.groups["sg-1"]
            .rules
            .iter()
            .map(|r| r.rule.clone())
            .collect()
    }

    /// One cycle: plan, apply each step (checking what must hold between
    /// steps), then the statuses and deletions the controller writes.
    fn cycle(&mut self) -> Result<(), TestCaseError> {
        let d = self.desired();
        let out = plan::plan(&d, &self.cloud, &permissive())
            .map_err(|e| TestCaseError::fail(format!("field errors: {e:?}")))?;
        let wanted = self.wanted();
        let before = self.cloud_rules();
        let kept: BTreeSet<&Rule> = wanted.intersection(&before).collect();
        let mut revoked = false;
        let mut create_calls = 0;
        let mut created = 0;
        for step in &out.plan.steps {
            match &step.op {
                Operation::CreateRules { rules, .. } => {
                    prop_assert!(!revoked, "a create after a revoke: {:#?}", out.plan);
                    create_calls += 1;
                    created += rules.len();
                }
                Operation::DeleteRule { rule, .. } => {
                    prop_assert!(!wanted.contains(rule), "revoked a wanted rule {rule}");
                    revoked = true;
                }
                // Baidu: one rule becomes another in one atomic call.
                Operation::UpdateRule { from, to, .. } => {
                    prop_assert!(self.provider.updates_rules(), "{:#?}", out.plan);
                    prop_assert!(!wanted.contains(from), "updated away a wanted rule {from}");
                    prop_assert!(wanted.contains(to), "updated to an unwanted rule {to}");
                }
                other => prop_assert!(false, "unexpected step {other:?}"),
            }
            simulate::apply_step(&mut self.cloud, step, self.provider)
                .map_err(|e| TestCaseError::fail(format!("the cloud refused: {e}")))?;
            let now = self.cloud_rules();
            for r in &kept {
                prop_assert!(now.contains(*r), "{r} went missing while wanted");
            }
        }
        let per_call = self.provider.max_rules_per_create();
        prop_assert_eq!(create_calls, created.div_ceil(per_call));
        prop_assert!(out.reports.values().all(|r| r.withheld.is_none()));

        // Statuses: every owner records what it wants (the cycle
        // converged); deleted objects lose their finalizer and go.
        let record = |o: &mut Owner, ever: &mut BTreeSet<String>| {
            o.managed = o.rules.iter().map(Rule::identity).collect();
            ever.extend(o.managed.iter().cloned());
        };
        if self.policy.is_some() {
            record(&mut self.own, &mut self.ever_owned);
        }
        self.sets.retain(|_, o| !o.deleting);
        for o in self.sets.values_mut() {
            record(o, &mut self.ever_owned);
        }

        // Where the cloud must be now, and no perpetual diff.
        let now = self.cloud_rules();
        let mut expected = self.wanted();
        let additive = self.policy != Some(RulesPolicy::Authoritative);
        if additive {
            expected.extend(
                self.initial
                    .iter()
                    .filter(|r| !self.ever_owned.contains(&r.identity()))
                    .cloned(),
            );
        }
        prop_assert_eq!(&now, &expected, "policy {:?}", self.policy);
        let again = plan::plan(&self.desired(), &self.cloud, &permissive())
            .map_err(|e| TestCaseError::fail(format!("field errors: {e:?}")))?;
        prop_assert!(again.plan.is_empty(), "re-plan: {:#?}", again.plan);
        Ok(())
    }
}

fn permissive() -> PlanOptions {
    PlanOptions {
        max_revoke_fraction: 1.0,
        ..PlanOptions::default()
    }
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let rule = |p: u16| tcp(case.provider, p);
    let initial: Vec<Rule> = case.initial.iter().map(|&p| rule(p)).collect();
    let mut cloud = observed(&[], &[]);
    cloud.groups.insert("sg-1".into(), group("sg-1", &initial));
    let mut world = World {
        provider: case.provider,
        policy: case.policy,
        own: Owner::default(),
        sets: BTreeMap::new(),
        cloud,
        ever_owned: BTreeSet::new(),
        initial: initial.into_iter().collect(),
    };
    // The group's object exists from the start; its first cycle.
    world.cycle()?;
    for event in &case.events {
        match event {
            Event::Set(o, ports) => {
                let rules = ports.iter().map(|&p| rule(p)).collect();
                if *o == OWNERS {
                    world.own.rules = rules;
                } else {
                    world.sets.entry(*o).or_default().rules = rules;
                }
            }
            Event::Delete(o) => match world.sets.get_mut(o) {
                Some(owner) => {
                    owner.deleting = true;
                    owner.rules.clear();
                }
                None => continue,
            },
        }
        world.cycle()?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn owners_added_edited_and_deleted_keep_the_group_exact(case in case()) {
        run(&case)?;
    }
}
