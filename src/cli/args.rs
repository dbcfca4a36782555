//! Flags of `plan` and `apply`.

use std::path::PathBuf;
use std::time::Duration;

use crate::cloud::retry::{RetryObserver, RetryPolicy};
use crate::plan::PlanOptions;

/// Where the cloud calls go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CloudTarget {
    /// Each account's endpoint (its `spec.endpoint`, else the provider's
    /// public endpoint for the region).
    #[default]
    Real,
    /// The embedded simulator, started in this process from its local
    /// state file (see `--sim-state`); every account's calls go to it,
    /// with the keys found exactly as for `real`.
    Sim,
}

/// How the plan is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table for people.
    #[default]
    Table,
    /// One JSON document on stdout (progress lines go to stderr).
    Json,
}

/// Flags shared by `plan` and `apply`.
#[derive(Clone, Debug, clap::Args)]
pub struct ManifestArgs {
    /// Manifest files or directories (searched recursively for .yaml, .yml
    /// and .json), as `kubectl apply -f` takes them. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,

    /// Namespace of objects whose manifest names none.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,

    /// `real` calls each account's cloud; `sim` runs everything against the
    /// embedded simulator (no cloud account needed).
    #[arg(long, value_enum, default_value_t = CloudTarget::Real)]
    pub cloud: CloudTarget,

    /// The simulator's state file (JSON or YAML, the format of `sim
    /// --state`): read at the start, written back after `apply`, so runs
    /// see what earlier runs applied. When it does not exist yet, the run
    /// starts from the built-in `examples/sim-state.yaml`. Default
    /// `.secgroup-sim/state.json` in the working directory. Implies
    /// `--cloud sim`.
    #[arg(long, value_name = "FILE")]
    pub sim_state: Option<PathBuf>,

    /// Start from the built-in seed instead of the state file (`apply`
    /// then overwrites the file with the result). Implies `--cloud sim`.
    #[arg(long)]
    pub sim_reset: bool,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Blast-radius guard: withhold an object's changes that would revoke
    /// more than this fraction of a group's rules (unless the object has
    /// `secgroup.io/allow-mass-change: "true"`).
    #[arg(long, default_value_t = 0.5, value_parser = parse_fraction)]
    pub max_revoke_fraction: f64,

    /// Blast-radius guard: withhold an object's changes that would remove
    /// more than this many memberships.
    #[arg(long, default_value_t = 20)]
    pub max_membership_removals: usize,

    /// Reads the cloud answers with 5xx or 429, or whose connection fails,
    /// are retried with backoff until this long after their first try
    /// (`30s`, `2m`, `500ms`; `0s` gives reads 4 tries, as writes get).
    /// Writes keep their own rules: a call is sent again only when that
    /// is safe.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub read_retry_budget: Duration,

    /// Delay before the first retry; each further one doubles, up to
    /// `--retry-max-delay`, the upper half jittered.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = parse_duration)]
    pub retry_base_delay: Duration,

    /// Longest delay between two tries.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub retry_max_delay: Duration,
}

impl ManifestArgs {
    /// The simulator is used when asked for, or when its state is named
    /// or reset.
    pub fn uses_sim(&self) -> bool {
        self.cloud == CloudTarget::Sim || self.sim_state.is_some() || self.sim_reset
    }

    /// The clients' retry policy: the default's write rules, the delays and
    /// read budget given, and `observer` told of every retry.
    pub fn retry_policy(&self, observer: RetryObserver) -> RetryPolicy {
        RetryPolicy {
            base_delay: self.retry_base_delay,
            max_delay: self.retry_max_delay.max(self.retry_base_delay),
            read_budget: Some(self.read_retry_budget).filter(|b| !b.is_zero()),
            on_retry: Some(observer),
            ..RetryPolicy::default()
        }
    }

    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            max_revoke_fraction: self.max_revoke_fraction,
            max_membership_removals: self.max_membership_removals,
        }
    }
}

/// `500ms`, `30s`, `2m`: a whole number and a unit.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 30s, 2m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(format!("{s:?}: give a unit, ms, s or m (e.g. 30s)")),
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

/// `plan`: show what `apply` would do, changing nothing.
#[derive(Clone, Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,

    /// Exit 0 when there are no changes, 2 when changes are pending, 1 on
    /// error (for CI checks). Without it, a successful plan exits 0.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// `apply`: plan, then execute the plan, then plan again to verify.
#[derive(Clone, Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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

    #[test]
    fn flags_parse_like_kubectl() {
        let cli = Cli::try_parse_from([
            "x",
            "plan",
            "-f",
            "a.yaml",
            "--filename",
            "dir",
            "-o",
            "json",
            "--detailed-exitcode",
            "--sim-state",
            "s.yaml",
        ])
        .unwrap();
        let Cmd::Plan(p) = cli.cmd else {
            panic!("not plan")
        };
        assert_eq!(
            p.manifests.files,
            [PathBuf::from("a.yaml"), PathBuf::from("dir")]
        );
        assert!(p.detailed_exitcode);
        assert_eq!(p.manifests.output, OutputFormat::Json);
        assert!(p.manifests.uses_sim());
        assert_eq!(p.manifests.namespace, "default");
        assert_eq!(p.manifests.plan_options(), PlanOptions::default());
    }

    #[test]
    fn files_are_required_and_fraction_checked() {
        assert!(Cli::try_parse_from(["x", "apply"]).is_err());
        assert!(
            Cli::try_parse_from(["x", "apply", "-f", "a", "--max-revoke-fraction", "1.5"]).is_err()
        );
        let cli = Cli::try_parse_from(["x", "apply", "-f", "a", "--cloud", "sim"]).unwrap();
        let Cmd::Apply(a) = cli.cmd else {
            panic!("not apply")
        };
        assert!(a.manifests.uses_sim());
    }

    #[test]
    fn retry_flags_make_the_clients_policy() {
        let cli = Cli::try_parse_from(["x", "plan", "-f", "a"]).unwrap();
        let Cmd::Plan(p) = cli.cmd else {
            panic!("not plan")
        };
        let observer = RetryObserver::new(|_| {});
        let policy = p.manifests.retry_policy(observer.clone());
        assert_eq!(policy.read_budget, Some(Duration::from_secs(60)));
        assert_eq!(policy.base_delay, Duration::from_millis(200));
        assert_eq!(policy.max_delay, Duration::from_secs(5));
        assert_eq!(policy.max_attempts, RetryPolicy::default().max_attempts);
        assert_eq!(policy.on_retry, Some(observer.clone()));

        let cli = Cli::try_parse_from([
            "x",
            "apply",
            "-f",
            "a",
            "--read-retry-budget",
            "0s",
            "--retry-base-delay",
            "2ms",
            "--retry-max-delay",
            "1m",
        ])
        .unwrap();
        let Cmd::Apply(a) = cli.cmd else {
            panic!("not apply")
        };
        let policy = a.manifests.retry_policy(observer);
        assert_eq!(policy.read_budget, None, "0s: reads count attempts");
        assert_eq!(policy.base_delay, Duration::from_millis(2));
        assert_eq!(policy.max_delay, Duration::from_secs(60));
        for bad in ["30", "s", "1h", "-1s", "1.5s"] {
            assert!(
                Cli::try_parse_from(["x", "plan", "-f", "a", "--read-retry-budget", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
