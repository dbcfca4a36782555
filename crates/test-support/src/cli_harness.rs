//! Helpers for the CLI suites: run `plan` / `apply` in-process against a
//! simulator the test started (so it can read the simulator's calls and
//! state afterwards), capturing stdout and stderr.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use secgroup_controller::cli::{self, ApplyArgs, Exit, Io, PlanArgs};
use secgroup_controller::sim::{self, SimHandle, SimOptions, SimState};

/// What one command run produced.
pub struct Run {
    pub exit: Exit,
    pub out: String,
    pub err: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.out, self.err)
    }
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    Plan(PlanArgs),
    Apply(ApplyArgs),
}

pub fn examples() -> PathBuf {
    crate::repo_root().join("examples")
}

pub fn example(dir: &str) -> String {
    examples().join(dir).display().to_string()
}

/// A simulator seeded with the built-in example state.
pub async fn example_sim() -> SimHandle {
    let state = SimState::from_str_any(cli::SIM_STATE).expect("example state");
    sim::start(state, SimOptions::default())
        .await
        .expect("simulator starts")
}

/// Run `plan` or `apply` with `args` (without the program name), the given
/// environment, and `sim` serving `--cloud sim`.
pub async fn run(args: &[&str], env: &BTreeMap<String, String>, sim: Option<&SimHandle>) -> Run {
    let cli =
        Cli::try_parse_from(std::iter::once("secgroup-controller").chain(args.iter().copied()))
            .expect("arguments parse");
    let mut out = Vec::new();
    let mut err = Vec::new();
    let lookup = |k: &str| env.get(k).cloned();
    let exit = {
        let mut io = Io {
            out: &mut out,
            err: &mut err,
            env: &lookup,
            sim,
        };
        match &cli.cmd {
            Cmd::Plan(a) => cli::run_plan(a, &mut io).await,
            Cmd::Apply(a) => cli::run_apply(a, &mut io).await,
        }
    };
    Run {
        exit,
        out: String::from_utf8(out).expect("utf-8 output"),
        err: String::from_utf8(err).expect("utf-8 errors"),
    }
}

/// `run` with an empty environment.
pub async fn run_sim(args: &[&str], sim: &SimHandle) -> Run {
    run(args, &BTreeMap::new(), Some(sim)).await
}

/// Calls that change something, by operation name.
pub fn write_calls(sim: &SimHandle) -> BTreeMap<String, u64> {
    const READS: &[&str] = &[
        "huawei.showPort",
        "huawei.listPorts",
        "huawei.showSecurityGroup",
        "huawei.listSecurityGroups",
        "huawei.listSecurityGroupRules",
        "huawei.showSecurityGroupRule",
        "baidu.listSecurityGroups",
        "baidu.getSecurityGroup",
        "baidu.listInstances",
        "baidu.getInstance",
        // A POST that reads.
        "baidu.listInstancesByIds",
    ];
    sim.call_counts()
        .into_iter()
        .filter(|(op, _)| !READS.contains(&op.as_str()))
        .collect()
}
