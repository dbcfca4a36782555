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
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8900")]
    pub listen: SocketAddr,
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
    let handle = start(
        state,
        SimOptions {
            listen: Some(args.listen),
            faults,
            clock: super::SimClock::System,
        },
    )
    .await?;
    tracing::info!(address = %handle.addr(), url = %handle.url(), "cloud simulator listening");
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
    }
}
