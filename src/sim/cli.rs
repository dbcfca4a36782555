//! The `sim` subcommand: arguments and the serve-until-Ctrl-C loop. The
//! lead wires [`SimArgs`] and [`run`] into `main.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::faults::{Faults, RateLimit};
use super::state::SimState;
use super::{SimError, SimOptions, start};

/// Run the Huawei VPC / Baidu BCC security-group API simulator.
#[derive(Clone, Debug, clap::Args)]
pub struct SimArgs {
    /// Address to listen on. Loopback unless --allow-non-loopback.
    #[arg(long, default_value = "127.0.0.1:8900")]
    pub listen: SocketAddr,
    /// Allow a --listen address that is not loopback (the fake accounts'
    /// keys are in the state; the admin API then requires a token).
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Token the admin API (`/_sim/`) requires; one is made and printed
    /// when listening beyond loopback without it.
    #[arg(long, env = "SIM_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// State file (JSON or YAML): accounts, ports/instances, groups, rules.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Added latency per cloud call, in milliseconds.
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Fraction (0.0-1.0) of cloud calls answered with a 500.
    #[arg(long)]
    pub error_rate: Option<f64>,
    /// Requests per second allowed per access key (429 beyond).
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Seed for the error-rate generator.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl SimArgs {
    /// The state file's faults with the flags laid over them.
    fn faults(&self, from_state: Option<Faults>) -> Result<Faults, SimError> {
        let mut f = from_state.unwrap_or_default();
        if let Some(ms) = self.latency_ms {
            f.latency_ms = ms;
        }
        if let Some(rate) = self.error_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(SimError::State(format!(
                    "--error-rate must be from 0.0 to 1.0, got {rate}"
                )));
            }
            f.error_rate = rate;
        }
        if let Some(n) = self.rate_limit {
            f.rate_limit = Some(RateLimit {
                requests: n,
                per_seconds: 1,
            });
        }
        if let Some(seed) = self.seed {
            f.seed = seed;
        }
        Ok(f)
    }
}

/// Serve until Ctrl-C, logging the listening address.
pub async fn run(args: SimArgs) -> Result<(), SimError> {
    let mut state = match &args.state {
        Some(path) => SimState::from_path(path)?,
        None => SimState::new(),
    };
    let faults = args.faults(state.faults.take())?;
    let loopback = args.listen.ip().is_loopback();
    let handle = start(
        state,
        SimOptions {
            listen: Some(args.listen),
            faults,
            clock: super::SimClock::System,
            allow_non_loopback: args.allow_non_loopback,
            admin_token: args.admin_token.clone(),
            read_timeout: None,
        },
    )
    .await?;
    if !loopback {
        tracing::warn!(
            address = %handle.addr(),
            "the cloud simulator listens beyond loopback: anyone who can reach it can call it with the state's fake keys; its admin API requires the token"
        );
    }
    tracing::info!(address = %handle.addr(), url = %handle.url(), "cloud simulator listening");
    // Printed once, on stdout and not in the log, so the one who started
    // the simulator can use the admin API.
    if let Some(token) = handle.admin_token()
        && args.admin_token.is_none()
    {
        println!("simulator admin token (send as `Authorization: Bearer TOKEN`): {token}");
    }
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutting down the cloud simulator");
    handle.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn flags_override_state_faults() {
        let cli = Cli::parse_from(["x", "--latency-ms", "5", "--rate-limit", "3", "--seed", "9"]);
        assert_eq!(cli.sim.listen.to_string(), "127.0.0.1:8900");
        let f = cli
            .sim
            .faults(Some(Faults {
                error_rate: 0.5,
                ..Faults::default()
            }))
            .expect("valid");
        assert_eq!(f.latency_ms, 5);
        assert_eq!(f.error_rate, 0.5);
        assert_eq!(f.seed, 9);
        assert_eq!(f.rate_limit.map(|r| r.requests), Some(3));
        let bad = Cli::parse_from(["x", "--error-rate", "2"]);
        assert!(bad.sim.faults(None).is_err());
        assert!(!cli.sim.allow_non_loopback);
    }

    #[tokio::test]
    async fn a_listener_beyond_loopback_is_refused_unless_allowed() {
        let addr: SocketAddr = "0.0.0.0:0".parse().expect("valid address");
        let refused = start(
            SimState::new(),
            SimOptions {
                listen: Some(addr),
                ..SimOptions::default()
            },
        )
        .await;
        assert!(
            matches!(refused, Err(SimError::NotLoopback { .. })),
            "not refused"
        );
    }
}
