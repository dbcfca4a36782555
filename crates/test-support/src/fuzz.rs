//! Shared set-up for the proptest fuzz targets (`tests/cloud/fuzz_*.rs`, `tests/plan/fuzz_normalize.rs`).
//!
//! CI runs each target with a modest number of cases; a long run sets
//! `PROPTEST_CASES`, e.g.
//! `PROPTEST_CASES=100000 cargo test --release --test cloud fuzz_signing`.

use proptest::test_runner::Config;

/// The proptest configuration of a target: `ci_cases` unless
/// `PROPTEST_CASES` says otherwise. Failure persistence is off: the
/// failing input is printed, and the tests keep no files in the tree.
pub fn config(ci_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(ci_cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}
