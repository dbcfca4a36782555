//! examples/ci/github-actions/secgroup-plan.yaml: the workflow parses, its
//! shell steps are valid bash that use no `${{ }}` expansion, and its Plan
//! and Render steps, run as GitHub would run them (bash -eo pipefail, with
//! GITHUB_OUTPUT) with a stand-in `docker` that runs the binary built here
//! against the embedded simulator, turn exit codes 2 and 1 into the
//! right output and comment. The jq that renders the table is also run on
//! a plan with no changes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secgroup_test_support::cli_harness;
use serde_json::Value;

use super::tools;

const SIM_AK: &str = "AKSIMHUAWEIEXAMPLE01";
const SIM_SK: &str = "sim-huawei-secret-key-not-a-real-key-001";

fn workflow() -> Value {
    let path = tools::repo().join("examples/ci/github-actions/secgroup-plan.yaml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).expect("workflow YAML")
}

fn steps(w: &Value) -> &Vec<Value> {
    w["jobs"]["plan"]["steps"].as_array().expect("steps")
}

fn step<'a>(w: &'a Value, name: &str) -> &'a Value {
    steps(w)
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name:?}"))
}

fn run_script(w: &Value, name: &str) -> String {
    step(w, name)["run"]
        .as_str()
        .unwrap_or_else(|| panic!("step {name:?} has no run"))
        .to_string()
}

#[test]
fn workflow_is_shaped_for_pull_requests() {
    let w = workflow();
    assert!(
        w["on"].get("pull_request").is_some(),
        "runs on pull requests"
    );
    assert_eq!(w["permissions"]["pull-requests"], "write");
    assert_eq!(w["permissions"]["contents"], "read");
    let plan = run_script(&w, "Plan");
    for flag in ["plan -f", "--detailed-exitcode", "-o json"] {
        assert!(plan.contains(flag), "Plan step lacks {flag}");
    }
    let fail = step(&w, "Fail on a plan error");
    assert_eq!(
        fail["if"],
        "steps.plan.outputs.exitcode != '0' && steps.plan.outputs.exitcode != '2'"
    );
    assert!(
        step(&w, "Comment on the pull request")["uses"]
            .as_str()
            .unwrap()
            .starts_with("actions/github-script@")
    );
    // Keys only through env, from secrets.
    let env = step(&w, "Plan")["env"].as_object().unwrap();
    for key in ["CLOUD_SDK_AK", "CLOUD_SDK_SK"] {
        assert!(env[key].as_str().unwrap().contains("secrets."), "{key}");
    }
}

/// Scripts get no `${{ }}` (an injection risk, and it would keep them
/// from running here) and pass `bash -n`.
#[test]
fn run_scripts_are_plain_bash() {
    let w = workflow();
    for s in steps(&w) {
        let Some(script) = s["run"].as_str() else {
            continue;
        };
        assert!(
            !script.contains("${{"),
            "step {}: ${{{{ }}}} in run",
            s["name"]
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("step.sh");
        std::fs::write(&file, script).unwrap();
        let Some(out) = tools::run("bash", ["-n".as_ref(), file.as_os_str()], None, "bash -n")
        else {
            return;
        };
        tools::stdout("bash", &out);
    }
}

/// A workspace like a checkout: the workflow's MANIFESTS directory copied
/// from the repository (edited by `edit`), and a `docker` on PATH that
/// runs the binary built here with the arguments after the image.
struct Workspace {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Workspace {
    fn new(w: &Value, edit: impl Fn(&str, String) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let manifests = w["env"]["MANIFESTS"].as_str().unwrap();
        let target = dir.path().join("checkout").join(manifests);
        std::fs::create_dir_all(&target).unwrap();
        for e in std::fs::read_dir(tools::repo().join(manifests)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            let text = edit(&name, std::fs::read_to_string(&p).unwrap());
            std::fs::write(target.join(&name), text).unwrap();
        }
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let docker = bin.join("docker");
        std::fs::write(
            &docker,
            "#!/bin/sh\n# docker run [options] IMAGE ARGS...: the local binary with ARGS\n\
             while [ $# -gt 0 ] && [ \"$1\" != \"$SECGROUP_IMAGE\" ]; do shift; done\nshift\n\
             cd \"$GITHUB_WORKSPACE\" && exec \"$SECGROUP_BIN\" \"$@\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();

        let mut env: BTreeMap<String, String> = w["env"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        // The simulator instead of the cloud, with its keys in the
        // variables the real keys would be in.
        env.insert("PLAN_ARGS".into(), "--cloud sim".into());
        env.insert("CLOUD_SDK_AK".into(), SIM_AK.into());
        env.insert("CLOUD_SDK_SK".into(), SIM_SK.into());
        env.insert(
            "SECGROUP_BIN".into(),
            env!("CARGO_BIN_EXE_secgroup-controller").into(),
        );
        let path = std::env::var("PATH").unwrap_or_default();
        env.insert("PATH".into(), format!("{}:{path}", bin.display()));
        Self { dir, env }
    }

    fn checkout(&self) -> PathBuf {
        self.dir.path().join("checkout")
    }

    /// Run one step's script as GitHub does; its outputs as a map.
    fn run_step(&self, w: &Value, name: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let output = self.dir.path().join(format!("{name}.output"));
        std::fs::write(&output, "").unwrap();
        let script = self.dir.path().join(format!("{name}.sh"));
        std::fs::write(&script, run_script(w, name)).unwrap();
        let mut cmd = std::process::Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(self.checkout())
            .env_clear()
            .envs(&self.env)
            .env("GITHUB_WORKSPACE", self.checkout())
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", self.dir.path().join("summary.md"));
        // The step's own env, but for `${{ }}` values (secrets, outputs),
        // which the test provides.
        for (k, v) in step(w, name)["env"].as_object().into_iter().flatten() {
            if let Some(v) = v.as_str().filter(|v| !v.contains("${{")) {
                cmd.env(k, v);
            }
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("bash runs");
        assert!(
            out.status.success(),
            "step {name:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(&output)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.checkout().join(name)).unwrap_or_default()
    }
}

fn have_jq() -> bool {
    tools::run(
        "jq",
        ["--version"],
        None,
        "the workflow's plan rendering (jq)",
    )
    .is_some()
}

#[test]
fn plan_with_changes_exits_2_and_comments_one_row_per_call() {
    if !have_jq() {
        return;
    }
    let w = workflow();
    let ws = Workspace::new(&w, |_, t| t);
    let outputs = ws.run_step(&w, "Plan", &[]);
    assert_eq!(
        outputs.get("exitcode").map(String::as_str),
        Some("2"),
        "{}",
        ws.file("plan.log")
    );
    let exit = &outputs["exitcode"];
    ws.run_step(&w, "Render the plan as Markdown", &[("EXITCODE", exit)]);
    let plan: Value = serde_json::from_str(&ws.file("plan.json")).expect("plan.json");
    let comment = ws.file("comment.md");
    assert!(comment.starts_with("<!-- secgroup-plan -->\n"), "{comment}");
    assert!(comment.contains(": changes pending."), "{comment}");
    assert!(
        comment.contains("### CloudAccount team-a/huawei-prod (huawei cn-north-4)"),
        "{comment}"
    );
    let rows: Vec<&str> = comment
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .collect();
    let steps = plan["accounts"][0]["steps"].as_array().expect("steps");
    assert!(!steps.is_empty());
    assert_eq!(rows.len(), steps.len(), "{comment}");
    for (row, s) in rows.iter().zip(steps) {
        let cells: Vec<&str> = row.split(" | ").collect();
        assert_eq!(cells[1], s["kind"].as_str().unwrap(), "{row}");
    }
    // `<new team-a-web>` must not read as an HTML tag on GitHub.
    assert!(comment.contains("&lt;new team-a-web&gt;"), "{comment}");
}

#[test]
fn plan_error_exits_1_and_comments_the_error() {
    if !have_jq() {
        return;
    }
    let w = workflow();
    let ws = Workspace::new(&w, |name, t| {
        if name == "security-groups.yaml" {
            t.replace("10.0.0.0/8", "10.0.0.300/8")
        } else {
            t
        }
    });
    let outputs = ws.run_step(&w, "Plan", &[]);
    assert_eq!(outputs.get("exitcode").map(String::as_str), Some("1"));
    ws.run_step(&w, "Render the plan as Markdown", &[("EXITCODE", "1")]);
    let comment = ws.file("comment.md");
    assert!(comment.contains("failed (exit code 1)"), "{comment}");
    assert!(
        comment.contains("10.0.0.300/8"),
        "the error is quoted:\n{comment}"
    );
    assert!(!comment.contains(SIM_SK), "no key in the comment");
}

/// The render program on a real plan with nothing to do.
#[tokio::test]
async fn render_says_no_changes_for_a_converged_account() {
    if !have_jq() {
        return;
    }
    let w = workflow();
    let program = step(&w, "Render the plan as Markdown")["env"]["RENDER_JQ"]
        .as_str()
        .unwrap()
        .to_string();
    let sim = cli_harness::example_sim().await;
    let dir = tools::repo().join(w["env"]["MANIFESTS"].as_str().unwrap());
    let dir = dir.display().to_string();
    let env = BTreeMap::from([
        ("CLOUD_SDK_AK".to_string(), SIM_AK.to_string()),
        ("CLOUD_SDK_SK".to_string(), SIM_SK.to_string()),
    ]);
    let applied =
        cli_harness::run(&["apply", "-f", &dir, "--cloud", "sim"], &env, Some(&sim)).await;
    assert!(applied.all().contains("Verified"), "{}", applied.all());
    let planned = cli_harness::run(
        &[
            "plan",
            "-f",
            &dir,
            "--cloud",
            "sim",
            "-o",
            "json",
            "--detailed-exitcode",
        ],
        &env,
        Some(&sim),
    )
    .await;
    let json = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(json.path(), &planned.out).unwrap();
    let out = tools::run(
        "jq",
        ["-r".as_ref(), program.as_ref(), json.path().as_os_str()],
        None,
        "the workflow's plan rendering (jq)",
    )
    .expect("jq ran above");
    let text = tools::stdout("jq", &out);
    assert!(
        text.contains("### CloudAccount team-a/huawei-prod"),
        "{text}"
    );
    assert!(
        text.contains("\nNo changes.\n"),
        "{text}\n{}",
        planned.all()
    );
    assert!(!text.contains("| # |"), "{text}");
}
