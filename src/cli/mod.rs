//! One-shot `plan` and `apply` from manifests.
//!
//! The same manifests `kubectl apply -f` takes are read ([`manifest`]),
//! checked against the CRD schemas and resolved per account ([`accounts`]),
//! given credentials ([`credentials`]), then planned, printed ([`render`])
//! and, for `apply`, executed and verified ([`run`]) with the reconcile core
//! the controller uses. Nothing touches a cloud until every manifest is
//! valid and every account has credentials.
//!
//! Entry points: [`plan`] / [`apply`] for `main` (process stdout, stderr
//! and environment), [`run_plan`] / [`run_apply`] for tests (any writers,
//! any environment, optionally an already running simulator).

pub mod accounts;
pub mod args;
pub mod credentials;
pub mod escape;
pub mod manifest;
pub mod render;
pub mod run;
pub mod yaml;

use std::io::Write;
use std::process::ExitCode;

pub use args::{ApplyArgs, CloudTarget, ManifestArgs, OutputFormat, PlanArgs};
pub use run::Exit;

use crate::cloud::retry::{RetryNotice, RetryObserver};
use crate::cloud::{self, Credentials, ProviderSettings};
use crate::model::ProviderKind;
use crate::model::text::printable;
use crate::sim::{self, SimHandle, SimOptions, SimState};
use credentials::{CredentialSource, SecretStore};
use escape::{PrintableWriter, Style};
use render::AccountHeader;
use run::{AccountRun, JsonApplyAccount, JsonApplyDocument, JsonPlanDocument, Planned};
use tokio::sync::mpsc::UnboundedReceiver;

/// The simulator seed for `--cloud sim`, built in so the binary works from
/// any directory.
pub const SIM_STATE: &str = include_str!("../../examples/sim-state.yaml");

/// Where a command writes, how it reads the environment, and (for tests) a
/// simulator already running to use for `--cloud sim` instead of starting
/// one, so the test can look at its calls and state afterwards.
pub struct Io<'a> {
    pub out: &'a mut (dyn Write + Send),
    pub err: &'a mut (dyn Write + Send),
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
    pub sim: Option<&'a SimHandle>,
}

/// `secgroup-controller plan`, on the process's stdout/stderr/environment.
pub async fn plan(args: PlanArgs) -> ExitCode {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let env = |k: &str| std::env::var(k).ok();
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        env: &env,
        sim: None,
    };
    run_plan(&args, &mut io).await.into()
}

/// `secgroup-controller apply`, on the process's stdout/stderr/environment.
pub async fn apply(args: ApplyArgs) -> ExitCode {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let env = |k: &str| std::env::var(k).ok();
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        env: &env,
        sim: None,
    };
    run_apply(&args, &mut io).await.into()
}

/// Everything ready to talk to the clouds.
struct Prepared {
    accounts: Vec<AccountRun>,
    /// A simulator this command started; stopped at the end.
    owned_sim: Option<SimHandle>,
    /// Retries the clients are waiting out, for progress lines.
    retries: UnboundedReceiver<RetryNotice>,
}

impl Prepared {
    async fn finish(self, exit: Exit) -> Exit {
        drop(self.accounts);
        if let Some(sim) = self.owned_sim {
            sim.shutdown().await;
        }
        exit
    }
}

/// Run `work`, printing each retry the clients report meanwhile on
/// `err` (a read waiting out a failing cloud is otherwise silent for up
/// to its whole budget).
async fn with_retry_notices<T>(
    retries: &mut UnboundedReceiver<RetryNotice>,
    err: &mut (dyn Write + Send),
    work: impl std::future::Future<Output = T>,
) -> T {
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => {
                while let Ok(n) = retries.try_recv() {
                    let _ = writeln!(err, "  {n}");
                }
                return out;
            }
            Some(n) = retries.recv() => {
                let _ = writeln!(err, "  {n}");
            }
        }
    }
}

/// One writer used from two places of one task in turn (progress lines
/// and retry notices on stderr).
struct SharedWriter<'a, 'w, 'o>(&'a std::sync::Mutex<&'w mut (dyn Write + Send + 'o)>);

impl Write for SharedWriter<'_, '_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut w = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        w.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut w = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        w.flush()
    }
}

/// Print errors found before any cloud call.
fn report_errors(io: &mut Io<'_>, errors: impl IntoIterator<Item = impl std::fmt::Display>) {
    report(io, errors, "Nothing was applied: no cloud was called.");
}

/// Print errors, then `note` (what did or did not happen) once. An error
/// may quote a manifest or a cloud answer: it is printed as one line.
fn report(io: &mut Io<'_>, errors: impl IntoIterator<Item = impl std::fmt::Display>, note: &str) {
    let mut n = 0;
    for e in errors {
        n += 1;
        let _ = writeln!(io.err, "error: {}", printable(&e.to_string()));
    }
    if n > 0 {
        let _ = writeln!(io.err, "{note}");
    }
}

/// What is true when reading or planning fails.
const READ_ONLY: &str = "Nothing was applied: the cloud was only read.";

/// The simulator's keys for an account of `provider` (and Huawei project).
fn sim_credentials(
    state: &SimState,
    provider: ProviderKind,
    project_id: Option<&str>,
) -> Option<Credentials> {
    state
        .accounts
        .iter()
        .find(|a| {
            a.provider.as_str() == provider.to_string()
                && (provider != ProviderKind::Huawei || a.project_id.as_deref() == project_id)
        })
        .map(|a| Credentials::new(a.access_key.clone(), a.secret_key.clone()))
}

/// Read, validate and resolve the manifests, find credentials, and connect.
/// Errors are printed; no cloud call has been made when this fails.
async fn prepare(m: &ManifestArgs, io: &mut Io<'_>) -> Result<Prepared, Exit> {
    let docs = manifest::load(&m.files, &m.namespace).map_err(|errors| {
        report_errors(io, &errors);
        Exit::Error
    })?;
    let resolved = accounts::resolve_documents(&docs).map_err(|errors| {
        report_errors(io, &errors);
        Exit::Error
    })?;
    if resolved.is_empty() {
        report_errors(io, ["no CloudAccount among the manifests: nothing to plan"]);
        return Err(Exit::Error);
    }
    let secrets = SecretStore::from_documents(&docs);

    // Credentials for every account before anything is started or called.
    let sim_seed = if m.uses_sim() && io.sim.is_none() {
        let state = match &m.sim_state {
            Some(path) => SimState::from_path(path),
            None => SimState::from_str_any(SIM_STATE),
        };
        match state {
            Ok(s) => Some(s),
            Err(e) => {
                report_errors(io, [format!("--sim-state: {e}")]);
                return Err(Exit::Error);
            }
        }
    } else {
        None
    };
    let sim_accounts = match (io.sim, &sim_seed) {
        (Some(handle), _) if m.uses_sim() => Some(handle.snapshot()),
        (_, Some(seed)) => Some(seed.clone()),
        _ => None,
    };
    let mut errors = Vec::new();
    let mut with_keys = Vec::new();
    for account in resolved {
        let s = &account.settings;
        let found: Result<(Credentials, CredentialSource), String> = match &sim_accounts {
            Some(state) => sim_credentials(state, s.provider, s.project_id.as_deref())
                .map(|c| (c, CredentialSource::Simulator))
                .ok_or_else(|| {
                    format!(
                        "CloudAccount {}/{}: the simulator has no {} account{}",
                        account.namespace,
                        account.name,
                        s.provider,
                        s.project_id
                            .as_deref()
                            .map(|p| format!(" for project {p}"))
                            .unwrap_or_default()
                    )
                }),
            None => match secrets.get(&s.namespace, &s.credentials_secret) {
                Some(Ok(c)) => Ok((
                    c,
                    CredentialSource::Secret(format!("{}/{}", s.namespace, s.credentials_secret)),
                )),
                Some(Err(e)) => Err(e.to_string()),
                None => match credentials::from_env(s.provider, io.env) {
                    Ok(Some(c)) => {
                        let (ak, sk) = credentials::env_names(s.provider);
                        Ok((c, CredentialSource::Environment(ak, sk)))
                    }
                    Ok(None) => {
                        let (ak, sk) = credentials::env_names(s.provider);
                        Err(format!(
                            "{}: CloudAccount {}/{}: spec.credentialsSecretRef.name: Secret {:?} is not among the manifests, and {ak}/{sk} are not set",
                            account.origin, account.namespace, account.name, s.credentials_secret
                        ))
                    }
                    Err(e) => Err(format!(
                        "CloudAccount {}/{}: credentials from the environment: {e}",
                        account.namespace, account.name
                    )),
                },
            },
        };
        match found {
            Ok((c, source)) => with_keys.push((account, c, source)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        report_errors(io, &errors);
        return Err(Exit::Error);
    }

    // Start the simulator only now that everything is known to be valid.
    let owned_sim = match sim_seed {
        Some(seed) => match sim::start(seed, SimOptions::default()).await {
            Ok(h) => Some(h),
            Err(e) => {
                report_errors(io, [format!("starting the simulator: {e}")]);
                return Err(Exit::Error);
            }
        },
        None => None,
    };
    let sim_url = match (&owned_sim, io.sim) {
        (Some(h), _) => Some(h.url()),
        (None, Some(h)) if m.uses_sim() => Some(h.url()),
        _ => None,
    };

    // Retries are reported as they happen (see `with_retry_notices`).
    let (notify, retries) = tokio::sync::mpsc::unbounded_channel();
    let retry = m.retry_policy(RetryObserver::new(move |n: &RetryNotice| {
        // The receiver lives as long as the command; a send cannot fail
        // before the clients are dropped.
        let _ = notify.send(n.clone());
    }));

    // One HTTP client for every account (connection reuse).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            report_errors(io, [format!("building the HTTP client: {e}")]);
            return Err(Exit::Error);
        }
    };
    let mut runs = Vec::new();
    for (account, creds, source) in with_keys {
        let s = &account.settings;
        let settings = ProviderSettings {
            kind: s.provider,
            region: s.region.clone(),
            project_id: s.project_id.clone(),
            endpoint: sim_url.clone().or_else(|| s.endpoint.clone()),
            max_requests_per_second: s.max_requests_per_second.map(|n| n.get()),
        };
        let endpoint = cloud::endpoint_for(&settings);
        let provider = cloud::connect_with_retry(&settings, creds, http.clone(), retry.clone());
        match (endpoint, provider) {
            (Ok(endpoint), Ok(provider)) => runs.push(AccountRun {
                header: AccountHeader {
                    namespace: account.namespace.clone(),
                    name: account.name.clone(),
                    provider: s.provider,
                    region: s.region.clone(),
                    endpoint: if sim_url.is_some() {
                        format!("simulator {endpoint}")
                    } else {
                        endpoint
                    },
                    credentials: source.to_string(),
                },
                desired: account.desired,
                provider,
            }),
            (Err(e), _) | (_, Err(e)) => errors.push(format!(
                "CloudAccount {}/{}: {e}",
                account.namespace, account.name
            )),
        }
    }
    let prepared = Prepared {
        accounts: runs,
        owned_sim,
        retries,
    };
    if !errors.is_empty() {
        report_errors(io, &errors);
        return Err(prepared.finish(Exit::Error).await);
    }
    Ok(prepared)
}

/// Run `f` with `io`'s writers escaping what is not printable (JSON on
/// stdout keeps JSON escapes).
async fn with_printable_output<F>(io: &mut Io<'_>, json: bool, f: F) -> Exit
where
    F: AsyncFnOnce(&mut Io<'_>) -> Exit,
{
    let style = if json { Style::Json } else { Style::Text };
    let mut out = PrintableWriter::new(&mut *io.out, style);
    let mut err = PrintableWriter::new(&mut *io.err, Style::Text);
    let mut safe = Io {
        out: &mut out,
        err: &mut err,
        env: io.env,
        sim: io.sim,
    };
    f(&mut safe).await
}

/// `plan` with explicit writers, environment and simulator.
pub async fn run_plan(args: &PlanArgs, io: &mut Io<'_>) -> Exit {
    let json = args.manifests.output == OutputFormat::Json;
    with_printable_output(io, json, async |io| plan_escaped(args, io).await).await
}

/// `apply` with explicit writers, environment and simulator.
pub async fn run_apply(args: &ApplyArgs, io: &mut Io<'_>) -> Exit {
    let json = args.manifests.output == OutputFormat::Json;
    with_printable_output(io, json, async |io| apply_escaped(args, io).await).await
}

async fn plan_escaped(args: &PlanArgs, io: &mut Io<'_>) -> Exit {
    let m = &args.manifests;
    let mut prepared = match prepare(m, io).await {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let accounts = std::mem::take(&mut prepared.accounts);
    let opts = m.plan_options();
    let reading = run::plan_all(accounts, &opts);
    let planned = match with_retry_notices(&mut prepared.retries, io.err, reading).await {
        Ok(p) => p,
        Err(errors) => {
            report(io, &errors, READ_ONLY);
            return prepared.finish(Exit::Error).await;
        }
    };
    let written = match m.output {
        OutputFormat::Table => run::print_plans(io.out, &planned),
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *io.out, &JsonPlanDocument::new(&planned))
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(io.out))
        }
    };
    if let Err(e) = written {
        let _ = writeln!(io.err, "error: writing the plan: {e}");
        return prepared.finish(Exit::Error).await;
    }
    let conflicts = run::conflict_errors(&planned);
    let exit = if !conflicts.is_empty() {
        for c in &conflicts {
            let _ = writeln!(io.err, "error: conflict: {}", printable(c));
        }
        Exit::Error
    } else if args.detailed_exitcode && planned.iter().any(|p| render::has_changes(&p.outcome)) {
        Exit::Changes
    } else {
        Exit::Success
    };
    prepared.finish(exit).await
}

async fn apply_escaped(args: &ApplyArgs, io: &mut Io<'_>) -> Exit {
    let m = &args.manifests;
    let opts = m.plan_options();
    let mut prepared = match prepare(m, io).await {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let accounts = std::mem::take(&mut prepared.accounts);
    let reading = run::plan_all(accounts, &opts);
    let planned: Vec<Planned> =
        match with_retry_notices(&mut prepared.retries, io.err, reading).await {
            Ok(p) => p,
            Err(errors) => {
                report(io, &errors, READ_ONLY);
                return prepared.finish(Exit::Error).await;
            }
        };
    let table = m.output == OutputFormat::Table;
    if table {
        let _ = run::print_plans(io.out, &planned);
    }
    // Objects that contradict each other make the manifests a plan error:
    // a one-shot run applies all of them or nothing. (The controller holds
    // only the conflicting pair and applies the rest.)
    let conflicts = run::conflict_errors(&planned);
    let mut results = Vec::new();
    for p in &planned {
        if !conflicts.is_empty() {
            results.push(run::Applied {
                passes: Vec::new(),
                verify: Ok(p.outcome.clone()),
            });
            continue;
        }
        let applied = if table {
            let _ = writeln!(
                io.out,
                "\nApplying CloudAccount {}/{}:",
                p.run.header.namespace, p.run.header.name
            );
            let applying = run::apply_one(p, &opts, &mut *io.out);
            with_retry_notices(&mut prepared.retries, &mut *io.err, applying).await
        } else {
            // Progress and retries share stderr.
            let err = std::sync::Mutex::new(&mut *io.err);
            let _ = writeln!(
                SharedWriter(&err),
                "\nApplying CloudAccount {}/{}:",
                p.run.header.namespace,
                p.run.header.name
            );
            let mut progress = SharedWriter(&err);
            let applying = run::apply_one(p, &opts, &mut progress);
            with_retry_notices(&mut prepared.retries, &mut SharedWriter(&err), applying).await
        };
        let summary: &mut (dyn Write + Send) = if table { &mut *io.out } else { &mut *io.err };
        let _ = run::write_apply_summary(summary, p, &applied);
        results.push(applied);
    }
    let failed: Vec<String> = if conflicts.is_empty() {
        planned
            .iter()
            .zip(&results)
            .filter(|(_, a)| !run::applied_ok(a))
            .map(|(p, _)| {
                format!(
                    "CloudAccount {}/{}",
                    p.run.header.namespace, p.run.header.name
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    report(
        io,
        conflicts
            .iter()
            .map(|c| format!("conflict (not applied): {c}")),
        "Nothing was applied: objects in the manifests contradict each other (see above); the cloud was only read.",
    );
    for f in &failed {
        let _ = writeln!(
            io.err,
            "error: {f}: apply failed or did not converge (see above)"
        );
    }
    let success = failed.is_empty() && conflicts.is_empty();
    if !table {
        let doc = JsonApplyDocument {
            success,
            accounts: planned
                .iter()
                .zip(&results)
                .map(|(p, a)| JsonApplyAccount {
                    plan: render::JsonAccountPlan::new(&p.run.header, &p.outcome),
                    results: a
                        .passes
                        .iter()
                        .enumerate()
                        .flat_map(|(i, r)| render::json_results(i + 1, r))
                        .collect(),
                    remaining: a.verify.as_ref().ok().map(|o| o.plan.steps.len()),
                    converged: run::applied_ok(a),
                    verify_error: a.verify.as_ref().err().cloned(),
                })
                .collect(),
        };
        if serde_json::to_writer_pretty(&mut *io.out, &doc)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(io.out))
            .is_err()
        {
            return prepared.finish(Exit::Error).await;
        }
    }
    prepared
        .finish(if success { Exit::Success } else { Exit::Error })
        .await
}
