//! Flags and environment of the `run` subcommand.

use std::net::SocketAddr;
use std::time::Duration;

use crate::plan::PlanOptions;

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

/// `secgroup-controller run`: watch the four kinds and keep the cloud
/// converged. Every flag has an environment fallback so the Deployment can
/// set them either way.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// Namespace to watch. All namespaces when not set.
    #[arg(long, env = "SECGROUP_NAMESPACE")]
    pub namespace: Option<String>,

    /// Label selector limiting the objects this instance handles (sharding),
    /// e.g. `shard=a`. Applies to all four kinds.
    #[arg(long, env = "SECGROUP_LABEL_SELECTOR")]
    pub label_selector: Option<String>,

    /// How often a converged object is checked again, so drift made outside
    /// Kubernetes is found. An account's objects resync together (one
    /// cycle), each account with its own jitter of up to 10%.
    #[arg(long, env = "SECGROUP_RESYNC_PERIOD", default_value = "10m", value_parser = parse_duration)]
    pub resync_period: Duration,

    /// Most reconciles running at once per kind (accounts are still
    /// reconciled one at a time each).
    #[arg(long, env = "SECGROUP_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,

    /// Address of the `/metrics`, `/healthz` and `/readyz` server.
    #[arg(long, env = "SECGROUP_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Log format.
    #[arg(long, env = "SECGROUP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter in `tracing` syntax (e.g. `info,secgroup_controller=debug`).
    #[arg(long, env = "SECGROUP_LOG", default_value = "info")]
    pub log_filter: String,

    /// Run without leader election (a single replica, or tests).
    #[arg(long, env = "SECGROUP_DISABLE_LEADER_ELECTION")]
    pub disable_leader_election: bool,

    /// Name of the `coordination.k8s.io/v1` Lease used for leader election.
    #[arg(
        long,
        env = "SECGROUP_LEASE_NAME",
        default_value = "secgroup-controller"
    )]
    pub lease_name: String,

    /// Namespace of the Lease; the pod's own namespace in a Deployment.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,

    /// This replica's identity in the Lease; the pod name in a Deployment.
    /// A random id when not set.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// How long a Lease stays valid without renewal.
    #[arg(long, env = "SECGROUP_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// How often the leader renews (and a standby retries) the Lease.
    #[arg(long, env = "SECGROUP_LEASE_RENEW_PERIOD", default_value = "5s", value_parser = parse_duration)]
    pub lease_renew_period: Duration,

    /// A leader that has not renewed its Lease for this long stops writing
    /// to the cloud and steps down. Shorter than the lease duration: the
    /// difference is the margin for a write already sent.
    #[arg(long, env = "SECGROUP_LEASE_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub lease_renew_deadline: Duration,

    /// How long a cycle waits after a change before reading the objects, so
    /// changes made together (one `kubectl apply` of many objects) share
    /// one cycle and its batches.
    #[arg(long, env = "SECGROUP_COALESCE_WINDOW", default_value = "200ms", value_parser = parse_duration)]
    pub coalesce_window: Duration,

    /// Blast-radius guard: withhold a plan revoking more than this fraction
    /// of one group's rules (unless `secgroup.io/allow-mass-change`).
    #[arg(long, env = "SECGROUP_MAX_REVOKE_FRACTION", default_value_t = 0.5, value_parser = parse_fraction)]
    pub max_revoke_fraction: f64,

    /// Blast-radius guard: withhold a plan removing more than this many
    /// memberships for one object.
    #[arg(long, env = "SECGROUP_MAX_MEMBERSHIP_REMOVALS", default_value_t = 20)]
    pub max_membership_removals: usize,

    /// Longest wait between retries of a failing object.
    #[arg(long, env = "SECGROUP_MAX_BACKOFF", default_value = "5m", value_parser = parse_duration)]
    pub max_backoff: Duration,
}

impl RunArgs {
    /// Refuse timings that would let two leaders write at once.
    pub fn check(&self) -> Result<(), String> {
        if self.disable_leader_election {
            return Ok(());
        }
        if self.lease_renew_period >= self.lease_renew_deadline {
            return Err(format!(
                "--lease-renew-period ({:?}) must be shorter than --lease-renew-deadline ({:?})",
                self.lease_renew_period, self.lease_renew_deadline
            ));
        }
        if self.lease_renew_deadline >= self.lease_duration {
            return Err(format!(
                "--lease-renew-deadline ({:?}) must be shorter than --lease-duration ({:?}): \
                 the difference is the margin a stopped leader's last write needs",
                self.lease_renew_deadline, self.lease_duration
            ));
        }
        Ok(())
    }

    /// The planner's guard thresholds.
    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            max_revoke_fraction: self.max_revoke_fraction,
            max_membership_removals: self.max_membership_removals,
        }
    }
}

/// Parses `10m`, `90s`, `1h 30m` (and ISO 8601 `PT10M`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let signed: jiff::SignedDuration = s
        .trim()
        .parse()
        .map_err(|e| format!("{s:?} is not a duration like 30s, 10m or 1h: {e}"))?;
    Duration::try_from(signed).map_err(|_| format!("{s:?}: a duration must not be negative"))
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?} must be between 0 and 1"))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let mut argv = vec!["prog"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(|c| c.run)
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.namespace, None);
        assert_eq!(a.resync_period, Duration::from_secs(600));
        assert_eq!(a.max_revoke_fraction, 0.5);
        assert_eq!(a.max_membership_removals, 20);
        assert_eq!(a.log_format, LogFormat::Text);
        assert_eq!(a.lease_duration, Duration::from_secs(15));
        assert_eq!(a.lease_renew_deadline, Duration::from_secs(10));
        assert_eq!(a.coalesce_window, Duration::from_millis(200));
        assert!(a.check().is_ok());
        assert!(!a.disable_leader_election);
        assert_eq!(a.plan_options(), PlanOptions::default());
    }

    #[test]
    fn flags_override_defaults() {
        let a = parse(&[
            "--namespace",
            "prod",
            "--label-selector",
            "shard=a",
            "--resync-period",
            "1h 30m",
            "--log-format",
            "json",
            "--max-revoke-fraction",
            "0.25",
            "--max-membership-removals",
            "5",
            "--metrics-addr",
            "127.0.0.1:9000",
        ])
        .unwrap();
        assert_eq!(a.namespace.as_deref(), Some("prod"));
        assert_eq!(a.label_selector.as_deref(), Some("shard=a"));
        assert_eq!(a.resync_period, Duration::from_secs(5400));
        assert_eq!(a.log_format, LogFormat::Json);
        assert_eq!(a.plan_options().max_revoke_fraction, 0.25);
        assert_eq!(a.plan_options().max_membership_removals, 5);
        assert_eq!(a.metrics_addr.port(), 9000);
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err = parse(&["--resync-period", "soon"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("--resync-period"), "{err}");
        let err = parse(&["--max-revoke-fraction", "2"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("between 0 and 1"), "{err}");
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn lease_timings_must_leave_a_margin() {
        let a = parse(&["--lease-renew-deadline", "15s"]).unwrap();
        let err = a.check().unwrap_err();
        assert!(
            err.contains("--lease-renew-deadline") && err.contains("margin"),
            "{err}"
        );
        let a = parse(&["--lease-renew-period", "10s"]).unwrap();
        assert!(a.check().unwrap_err().contains("--lease-renew-period"));
        let a = parse(&["--lease-renew-deadline", "15s", "--disable-leader-election"]).unwrap();
        assert!(a.check().is_ok(), "one replica: no Lease, no fence");
    }
}
