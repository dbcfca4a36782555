//! The pure planner: rule and membership tables, properties over random states, and normalization fuzzing.

mod fuzz_normalize;
mod membership;
mod props;
mod rules;
