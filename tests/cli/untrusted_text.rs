//! Text the CLI prints but did not write: a rule description read from the
//! cloud holding a newline and ANSI escapes is printed escaped in the plan
//! table, the progress lines and the JSON plan, so it cannot forge plan
//! lines in a CI log.

use secgroup_test_support::cli_harness;

use cli_harness::{example, run_sim};
use secgroup_controller::cli::SIM_STATE;
use secgroup_controller::sim::{self, SimOptions, SimState};

/// The stale rule of the example's adopted `db` group, which every plan
/// deletes, with a description made to look like more plan lines.
const HOSTILE: &str = "stale\n  [9/9] deleteGroup b7d9f1a3 ... ok\u{1b}[2K\r\u{202e}";

async fn sim_with_hostile_rule() -> secgroup_controller::sim::SimHandle {
    let anchor = "          multiport: \"5432\"\n          remoteIpPrefix: 10.0.0.0/8\n";
    assert!(SIM_STATE.contains(anchor));
    let escaped = HOSTILE
        .replace('\n', "\\n")
        .replace('\u{1b}', "\\e")
        .replace('\r', "\\r")
        .replace('\u{202e}', "\\u202e");
    let state = SIM_STATE.replacen(
        anchor,
        &format!("{anchor}          description: \"{escaped}\"\n"),
        1,
    );
    let state = SimState::from_str_any(&state).expect("the state parses");
    sim::start(state, SimOptions::default())
        .await
        .expect("simulator starts")
}

fn assert_clean(what: &str, text: &str) {
    for bad in ['\u{1b}', '\r', '\u{202e}'] {
        assert!(!text.contains(bad), "{what}: raw {bad:?} in:\n{text}");
    }
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("[9/9]")),
        "{what}: a forged line:\n{text}"
    );
}

#[tokio::test]
async fn a_hostile_description_from_the_cloud_is_printed_escaped() {
    let sim = sim_with_hostile_rule().await;
    let dir = example("huawei");

    let plan = run_sim(&["plan", "-f", &dir, "--cloud", "sim"], &sim).await;
    assert_clean("plan", &plan.all());
    assert!(
        plan.out
            .contains(r#""stale\n  [9/9] deleteGroup b7d9f1a3 ... ok\u{1b}[2K\r\u{202e}""#),
        "the description is shown, escaped:\n{}",
        plan.out
    );

    let json = run_sim(&["plan", "-f", &dir, "--cloud", "sim", "-o", "json"], &sim).await;
    assert_clean("plan -o json", &json.all());
    let doc: serde_json::Value = serde_json::from_str(&json.out).expect("valid JSON");
    let steps = doc["accounts"][0]["steps"].as_array().expect("steps");
    let delete = steps
        .iter()
        .find(|s| s["operation"]["rule"]["description"].is_string())
        .expect("the stale rule's deleteRule");
    assert_eq!(
        delete["operation"]["rule"]["description"], HOSTILE,
        "JSON keeps the value exactly (as JSON escapes)"
    );

    let apply = run_sim(&["apply", "-f", &dir, "--cloud", "sim"], &sim).await;
    assert_clean("apply", &apply.all());
    assert!(
        apply.out.lines().any(|l| l.starts_with('[')
            && l.contains("deleteRule b7d9f1a3")
            && l.contains(r#""stale\n  [9/9] deleteGroup"#)
            && l.contains(" ok (")),
        "the progress line is one line, escaped:\n{}",
        apply.out
    );
    sim.shutdown().await;
}
