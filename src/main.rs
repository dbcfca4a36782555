//! Command-line entry point: `run` (the controller), `plan` / `apply`
//! (one-shot from manifests), `sim` (the cloud simulator), `crdgen`.
//! Argument parsing lives here and in each area's `Args` struct; the work
//! lives in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secgroup_controller::{cli, controller, sim};

#[derive(Parser)]
#[command(name = "secgroup-controller", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Watch the four kinds and keep the cloud converged (the controller).
    Run(controller::RunArgs),
    /// Serve the Huawei VPC and Baidu BCC simulator.
    Sim(sim::SimArgs),
    /// Show what applying the manifests would change (like `terraform plan`).
    Plan(cli::PlanArgs),
    /// Apply the manifests to the cloud once, then verify convergence.
    Apply(cli::ApplyArgs),
    /// Print the CustomResourceDefinitions as multi-document YAML.
    Crdgen,
}

fn init_plain_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// plan/apply print their own output; logs only say what went wrong
/// (RUST_LOG overrides).
fn init_quiet_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,secgroup_controller::cloud=error")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// jemalloc, not glibc's malloc: the controller builds a cycle's state on
/// whichever tokio worker runs it, and glibc kept each worker's arena at
/// its peak (with 10,000 objects two arenas held 114 MiB resident for a
/// 47 MB heap; docs/benchmarks.md, footprint).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: pages freed go back to the
/// system at once (`dirty_decay_ms:0`), and one arena keeps the workers
/// from each holding their own peak. With a decay of one second the pages
/// a cycle freed were still resident when the next step of the same cycle
/// (or the status writes after it) took new ones, and the high-water mark
/// watching 10,000 objects was 4 to 5 MiB higher (docs/benchmarks.md,
/// footprint).
#[cfg(feature = "jemalloc")]
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_CONF: Option<&'static std::ffi::c_char> = Some(unsafe {
    // SAFETY: a pointer to the first byte of a 'static, NUL-terminated
    // literal, which is what jemalloc's `malloc_conf` must be.
    &*c"background_thread:true,dirty_decay_ms:0,muzzy_decay_ms:0,narenas:1".as_ptr()
});

/// Print a parse error (or `--help`, `--version`) as clap would, but exit
/// 1 on a usage error rather than clap's 2: `plan --detailed-exitcode`
/// exits 2 for "changes pending", and a mistyped flag in a CI job must
/// not read as that.
fn usage_error(e: &clap::Error) -> ExitCode {
    // Printing to a closed stream is not worth a different exit code.
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match cli.command {
        // `run` sets up its own logging (--log-format, --log-filter).
        Command::Run(args) => match controller::run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Plan(args) => {
            init_quiet_logging();
            cli::plan(args).await
        }
        Command::Apply(args) => {
            init_quiet_logging();
            cli::apply(args).await
        }
        Command::Crdgen => {
            print!("{}", secgroup_controller::crd::crds_yaml());
            ExitCode::SUCCESS
        }
        Command::Sim(args) => {
            init_plain_logging();
            match sim::run(args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
