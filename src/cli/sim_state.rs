//! The embedded simulator's local state for `--cloud sim`, kept between
//! runs the way Terraform keeps local state: read at the start of each
//! run, written back after `apply`, so applying, planning again and then
//! applying a change behave as they would against a real cloud.
//!
//! The file is the simulator's own state format (`sim --state FILE` serves
//! the same file). When it does not exist yet, or `--sim-reset` is given,
//! the run starts from the built-in seed ([`super::SIM_STATE`]).

use std::path::{Path, PathBuf};

use crate::sim::SimState;

/// Where the state lives when `--sim-state` names no file: relative to the
/// working directory, like Terraform's `terraform.tfstate`.
pub const DEFAULT_PATH: &str = ".secgroup-sim/state.json";

/// The state a run starts from, and the file it is kept in.
pub struct LocalState {
    pub path: PathBuf,
    pub state: SimState,
}

/// Read `path` (or [`DEFAULT_PATH`]); the built-in seed when the file does
/// not exist yet or `reset` is set. The error names the file.
pub fn load(path: Option<&Path>, reset: bool) -> Result<LocalState, String> {
    let path = path.map_or_else(|| PathBuf::from(DEFAULT_PATH), Path::to_path_buf);
    let state = if reset || !path.exists() {
        SimState::from_str_any(super::SIM_STATE).map_err(|e| format!("the built-in seed: {e}"))?
    } else {
        SimState::from_path(&path).map_err(|e| format!("--sim-state: {e}"))?
    };
    Ok(LocalState { path, state })
}

/// Write `state` to `path` whole: to a file beside it, then renamed over
/// it, so an interrupted run leaves the previous state rather than half
/// of a new one.
pub fn save(path: &Path, state: &SimState) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| {
        format!(
            "saving the simulator state to {}: {what}: {e}",
            path.display()
        )
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail("creating its directory", e))?;
    }
    let text = serde_json::to_string_pretty(state)
        .map_err(|e| fail("encoding", std::io::Error::other(e)))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text + "\n").map_err(|e| fail("writing", e))?;
    std::fs::rename(&tmp, path).map_err(|e| fail("replacing", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_is_read_back_and_reset_returns_to_the_seed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/state.json");
        let fresh = load(Some(&path), false).expect("the seed");
        assert_eq!(
            fresh.state,
            SimState::from_str_any(super::super::SIM_STATE).expect("seed")
        );
        let mut changed = fresh.state.clone();
        changed.huawei.ports.truncate(1);
        save(&path, &changed).expect("saved");
        assert_eq!(load(Some(&path), false).expect("read").state, changed);
        assert_eq!(load(Some(&path), true).expect("reset").state, fresh.state);
        std::fs::write(&path, "{ not json").expect("write");
        let e = load(Some(&path), false).err().unwrap_or_default();
        assert!(e.contains("state.json"), "{e}");
    }
}
