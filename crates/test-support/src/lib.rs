//! What the integration tests (`tests/<area>/`) and the benchmarks share.
//!
//! - [`emulator`]: an in-process Kubernetes API server for controller
//!   tests, with a fake cloud ([`emulator::fake_cloud`]) and end-to-end
//!   scenarios ([`emulator::harness`]).
//! - [`wire`]: independent test signers and raw requests to the simulator.
//! - [`clients`]: the real cloud clients pointed at an in-process simulator.
//! - [`scenarios`]: structured change scenarios with their call lower
//!   bounds, sync loops and end-state checks (reliability suite, benches).
//! - [`plans`]: desired/observed state builders for planner tests.
//! - [`cli_harness`]: `plan`/`apply` run in-process with captured output.
//! - [`fuzz`]: the proptest configuration of the fuzz targets.
//! - [`netcut`]: a TCP proxy that can partition one client off.
//! - [`recording`]: cloud clients that record who wrote when.

pub mod cli_harness;
pub mod clients;
pub mod emulator;
pub mod fuzz;
pub mod json_schema;
pub mod netcut;
pub mod plans;
pub mod recording;
pub mod scenarios;
pub mod wire;

use std::path::{Path, PathBuf};

/// The repository's top folder (where `examples/`, `deploy/` and `crds/`
/// are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Nanoseconds this thread has run on a CPU (Linux), if the kernel says:
/// the benchmarks' figure on a shared machine, where wall time includes
/// waiting for a core.
pub fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `target/bench/<bench>.jsonl` (under `CARGO_TARGET_DIR` when set),
/// emptied for this run: where a benchmark writes one JSON object per
/// scenario.
pub fn bench_jsonl(bench: &str) -> std::fs::File {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let dir = target.join("bench");
    std::fs::create_dir_all(&dir).expect("target/bench can be created");
    std::fs::File::create(dir.join(format!("{bench}.jsonl")))
        .expect("the JSONL file can be written")
}
