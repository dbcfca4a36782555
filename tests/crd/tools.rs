//! External tools the manifest tests run (kubectl, lua5.1, promtool, jq).
//! scripts/test.sh installs them; under `CI=true` a missing tool fails the
//! test, elsewhere the test says what it did not check and returns.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output};

fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Run `program` with `args` in `dir` (the repository when `None`). `None`
/// when the program is not installed and this is not CI; `checks` says what
/// goes unchecked then.
pub fn run<I, S>(program: &str, args: I, dir: Option<&Path>, checks: &str) -> Option<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd.current_dir(dir.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR"))));
    match cmd.output() {
        Ok(out) => Some(out),
        Err(e) if !in_ci() => {
            eprintln!("{program} not runnable here ({e}); {checks} not checked");
            None
        }
        Err(e) => panic!("{program} is required under CI ({checks}): {e}"),
    }
}

/// stdout of a run that must succeed; the failure shows stderr.
pub fn stdout(program: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{program} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `to` relative to `from` (both absolute): kustomize refuses absolute
/// paths to components and bases.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// Every document of a multi-document YAML text, empty ones skipped.
pub fn documents(text: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple::<serde_json::Value>(text)
        .expect("valid YAML")
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// Every `.yaml`/`.yml` file under `dir`, recursively, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.expect("directory entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// `kubectl kustomize TARGET` run in `dir`, as parsed documents; `None`
/// when kubectl is missing outside CI.
pub fn kustomize(target: &str, dir: Option<&Path>) -> Option<Vec<serde_json::Value>> {
    let checks = format!("kubectl kustomize {target}");
    let out = run("kubectl", ["kustomize", target], dir, &checks)?;
    Some(documents(&stdout("kubectl", &out)))
}
