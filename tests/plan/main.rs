//! The pure planner: rule and membership tables, rules owned by several objects, properties over random states, and normalization fuzzing.

mod fuzz_normalize;
mod membership;
mod props;
mod rule_owners;
mod rule_owners_props;
mod rules;
