//! One-shot `plan` and `apply` from manifests.
//!
//! The same manifests `kubectl apply -f` takes are read ([`manifest`]),
//! checked against the CRD schemas and resolved per account ([`accounts`]),
//! given credentials ([`credentials`]), then planned, printed ([`render`],
//! or one versioned JSON document, [`json`]) and, for `apply`, executed and
//! verified ([`run`]) with the reconcile core the controller uses. Nothing
//! touches a cloud until every manifest is valid and every account has
//! credentials; nothing is written until every account is planned and
//! every port and instance the manifests name is found. `--cloud sim`
//! keeps the embedded simulator's state in a local file ([`sim_state`]).
//!
//! Entry points: [`plan`] / [`apply`] for `main` (process stdout, stderr
//! and environment), [`run_plan`] / [`run_apply`] for tests (any writers,
//! any environment, optionally an already running simulator).

pub mod accounts;
pub mod args;
pub mod credentials;
pub mod escape;
pub mod json;
pub mod manifest;
pub mod render;
pub mod run;
pub mod sim_state;
pub mod yaml;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

pub use args::{ApplyArgs, CloudTarget, ManifestArgs, OutputFormat, PlanArgs};
pub use run::Exit;

use crate::cloud::retry::{RetryNotice, RetryObserver};
use crate::cloud::{self, Credentials, ProviderSettings};
use crate::model::ObjectKey;
use crate::model::text::printable;
use crate::sim::{self, SimHandle, SimOptions};
use credentials::{CredentialSource, SecretStore};
use escape::{PrintableWriter, Style};
use manifest::Origin;
use render::AccountHeader;
use run::{AccountRun, Planned};
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
    /// Where each object's manifest came from, for errors found later.
    origins: BTreeMap<ObjectKey, Origin>,
    /// A simulator this command started, and its local state file; stopped
    /// at the end.
    owned_sim: Option<(SimHandle, PathBuf)>,
    /// Retries the clients are waiting out, for progress lines.
    retries: UnboundedReceiver<RetryNotice>,
}

impl Prepared {
    /// Drop the clients and stop a simulator this command started, first
    /// writing its state back to its file when `save` (after `apply`).
    async fn finish(&mut self, save: bool) -> Option<json::Error> {
        self.accounts.clear();
        let (sim, path) = self.owned_sim.take()?;
        let saved = if save {
            sim_state::save(&path, &sim.snapshot()).err()
        } else {
            None
        };
        sim.shutdown().await;
        saved.map(json::Error::text)
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

/// How a command ended: its exit code, its errors (printed on stderr as
/// `error: ` lines and listed in the JSON document), and the accounts
/// planned (for the JSON document).
struct Ending {
    exit: Exit,
    errors: Vec<json::Error>,
    /// Said once after the errors: what was or was not done.
    note: Option<&'static str>,
    accounts: Vec<json::Account>,
    changes_pending: bool,
}

impl Ending {
    /// Stopped on `errors`, having done what `note` says.
    fn failed(errors: Vec<json::Error>, note: &'static str) -> Self {
        Self {
            exit: Exit::Error,
            errors,
            note: Some(note),
            accounts: Vec::new(),
            changes_pending: false,
        }
    }

    /// Stopped before any cloud call.
    fn invalid(errors: impl IntoIterator<Item = json::Error>) -> Self {
        Self::failed(errors.into_iter().collect(), NO_CLOUD_CALLED)
    }
}

/// What is true when the run stops before the clouds are read.
const NO_CLOUD_CALLED: &str = "Nothing was applied: no cloud was called.";

/// What is true when reading or planning fails.
const READ_ONLY: &str = "Nothing was applied: the cloud was only read.";

/// Print how the command ended: the errors on `err`, one line each (an
/// error may quote a manifest or a cloud answer), then the note; with
/// `-o json` also the document on `out`.
fn print_ending(io: &mut Io<'_>, kind: Option<json::Kind>, ending: Ending) -> Exit {
    for e in &ending.errors {
        let _ = writeln!(io.err, "error: {}", printable(&e.message));
    }
    if let Some(note) = ending.note.filter(|_| !ending.errors.is_empty()) {
        let _ = writeln!(io.err, "{note}");
    }
    let Some(kind) = kind else {
        return ending.exit;
    };
    let doc = json::Document {
        api_version: json::API_VERSION,
        kind,
        success: ending.exit != Exit::Error,
        changes_pending: ending.changes_pending,
        accounts: ending.accounts,
        errors: ending.errors,
    };
    match serde_json::to_writer_pretty(&mut *io.out, &doc)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(io.out))
    {
        Ok(()) => ending.exit,
        Err(e) => {
            let _ = writeln!(io.err, "error: writing the JSON document: {e}");
            Exit::Error
        }
    }
}

/// Read, validate and resolve the manifests, find credentials, and connect.
/// Nothing has called a cloud when this fails.
async fn prepare(m: &ManifestArgs, io: &mut Io<'_>) -> Result<Prepared, Ending> {
    let docs = manifest::load(&m.files, &m.namespace)
        .map_err(|errors| Ending::invalid(errors.iter().map(json::Error::from)))?;
    let resolved = accounts::resolve_documents(&docs)
        .map_err(|errors| Ending::invalid(errors.iter().map(json::Error::from)))?;
    if resolved.is_empty() {
        return Err(Ending::invalid([json::Error::text(
            "no CloudAccount among the manifests: nothing to plan",
        )]));
    }
    let secrets = SecretStore::from_documents(&docs);
    let origins: BTreeMap<ObjectKey, Origin> = docs
        .iter()
        .map(|d| (accounts::key_of(d), d.origin.clone()))
        .collect();

    // The simulator's state, read before anything is started or called.
    let local = if m.uses_sim() && io.sim.is_none() {
        match sim_state::load(m.sim_state.as_deref(), m.sim_reset) {
            Ok(s) => Some(s),
            Err(e) => return Err(Ending::invalid([json::Error::text(e)])),
        }
    } else {
        None
    };

    // Credentials for every account, found the same way whichever cloud
    // the calls go to: a simulator run must fail where a real one would.
    let mut errors = Vec::new();
    let mut with_keys = Vec::new();
    for account in resolved {
        match account_credentials(&account, &secrets, io.env) {
            Ok((c, source)) => with_keys.push((account, c, source)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(Ending::invalid(errors));
    }

    // Start the simulator only now that everything is known to be valid.
    let owned_sim = match local {
        Some(local) => match sim::start(local.state, SimOptions::default()).await {
            Ok(h) => Some((h, local.path)),
            Err(e) => {
                return Err(Ending::invalid([json::Error::text(format!(
                    "starting the simulator: {e}"
                ))]));
            }
        },
        None => None,
    };
    let sim_url = match (&owned_sim, io.sim) {
        (Some((h, _)), _) => Some(h.url()),
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
    let mut prepared = Prepared {
        accounts: Vec::new(),
        origins,
        owned_sim,
        retries,
    };

    // One HTTP client for every account (connection reuse).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            prepared.finish(false).await;
            return Err(Ending::invalid([json::Error::text(format!(
                "building the HTTP client: {e}"
            ))]));
        }
    };
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
            (Ok(endpoint), Ok(provider)) => prepared.accounts.push(AccountRun {
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
                nodes: account.nodes,
                provider,
            }),
            (Err(e), _) | (_, Err(e)) => {
                let object = format!("CloudAccount {}/{}", account.namespace, account.name);
                errors.push(json::Error {
                    object: Some(object.clone()),
                    ..json::Error::text(format!("{object}: {e}"))
                });
            }
        }
    }
    if !errors.is_empty() {
        prepared.finish(false).await;
        return Err(Ending::invalid(errors));
    }
    Ok(prepared)
}

/// An account's keys: the Secret its `credentialsSecretRef` names when
/// that is among the manifests, else the provider's environment variables.
fn account_credentials(
    account: &accounts::ResolvedAccount,
    secrets: &SecretStore,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<(Credentials, CredentialSource), json::Error> {
    let s = &account.settings;
    let object = format!("CloudAccount {}/{}", account.namespace, account.name);
    let about = |field: Option<&str>, message: String| json::Error {
        file: Some(account.origin.file.display().to_string()),
        document: Some(account.origin.document).filter(|d| *d > 0),
        object: Some(object.clone()),
        field: field.map(str::to_string),
        ..json::Error::text(message)
    };
    match secrets.get(&s.namespace, &s.credentials_secret) {
        Some(Ok(c)) => Ok((
            c,
            CredentialSource::Secret(format!("{}/{}", s.namespace, s.credentials_secret)),
        )),
        Some(Err(e)) => Err(json::Error::from(&e)),
        None => {
            let (ak, sk) = credentials::env_names(s.provider);
            match credentials::from_env(s.provider, env) {
                Ok(Some(c)) => Ok((c, CredentialSource::Environment(ak, sk))),
                Ok(None) => Err(about(
                    Some("spec.credentialsSecretRef.name"),
                    format!(
                        "{}: {object}: spec.credentialsSecretRef.name: Secret {:?} is not among the manifests, and {ak}/{sk} are not set",
                        account.origin, s.credentials_secret
                    ),
                )),
                Err(e) => Err(about(
                    None,
                    format!("{object}: credentials from the environment: {e}"),
                )),
            }
        }
    }
}

/// Run `f` with `io`'s writers escaping what is not printable (JSON on
/// stdout keeps JSON escapes), then print how it ended.
async fn with_printable_output<F>(io: &mut Io<'_>, kind: json::Kind, json: bool, f: F) -> Exit
where
    F: AsyncFnOnce(&mut Io<'_>) -> Ending,
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
    let ending = f(&mut safe).await;
    print_ending(&mut safe, json.then_some(kind), ending)
}

/// `plan` with explicit writers, environment and simulator.
pub async fn run_plan(args: &PlanArgs, io: &mut Io<'_>) -> Exit {
    let json = args.manifests.output == OutputFormat::Json;
    with_printable_output(io, json::Kind::PlanResult, json, async |io| {
        plan_escaped(args, io).await
    })
    .await
}

/// `apply` with explicit writers, environment and simulator.
pub async fn run_apply(args: &ApplyArgs, io: &mut Io<'_>) -> Exit {
    let json = args.manifests.output == OutputFormat::Json;
    with_printable_output(io, json::Kind::ApplyResult, json, async |io| {
        apply_escaped(args, io).await
    })
    .await
}

/// Observe and plan every account, printing retries meanwhile. An error
/// ends the command with nothing written.
async fn plan_accounts(
    prepared: &mut Prepared,
    opts: &crate::plan::PlanOptions,
    io: &mut Io<'_>,
) -> Result<Vec<Planned>, Ending> {
    let accounts = std::mem::take(&mut prepared.accounts);
    let reading = run::plan_all(accounts, opts, &prepared.origins);
    match with_retry_notices(&mut prepared.retries, io.err, reading).await {
        Ok(p) => Ok(p),
        Err(errors) => Err(Ending::failed(errors, READ_ONLY)),
    }
}

async fn plan_escaped(args: &PlanArgs, io: &mut Io<'_>) -> Ending {
    let m = &args.manifests;
    let mut prepared = match prepare(m, io).await {
        Ok(p) => p,
        Err(ending) => return ending,
    };
    let planned = plan_accounts(&mut prepared, &m.plan_options(), io).await;
    prepared.finish(false).await;
    let planned = match planned {
        Ok(p) => p,
        Err(ending) => return ending,
    };
    let mut errors = Vec::new();
    if m.output == OutputFormat::Table
        && let Err(e) = run::print_plans(io.out, &planned)
    {
        errors.push(json::Error::text(format!("writing the plan: {e}")));
    }
    errors.extend(
        run::conflict_errors(&planned)
            .iter()
            .map(|c| json::Error::text(format!("conflict: {c}"))),
    );
    let changes_pending = planned.iter().any(|p| render::has_changes(&p.outcome));
    let exit = if !errors.is_empty() {
        Exit::Error
    } else if args.detailed_exitcode && changes_pending {
        Exit::Changes
    } else {
        Exit::Success
    };
    Ending {
        exit,
        errors,
        note: None,
        accounts: planned
            .iter()
            .map(|p| json::Account::new(&p.run.header, &p.outcome))
            .collect(),
        changes_pending,
    }
}

async fn apply_escaped(args: &ApplyArgs, io: &mut Io<'_>) -> Ending {
    let m = &args.manifests;
    let opts = m.plan_options();
    let mut prepared = match prepare(m, io).await {
        Ok(p) => p,
        Err(ending) => return ending,
    };
    let planned = match plan_accounts(&mut prepared, &opts, io).await {
        Ok(p) => p,
        Err(ending) => {
            prepared.finish(false).await;
            return ending;
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
    // The simulator keeps what was applied for the next run.
    let saved = prepared.finish(conflicts.is_empty()).await;

    let mut errors: Vec<json::Error> = conflicts
        .iter()
        .map(|c| json::Error::text(format!("conflict (not applied): {c}")))
        .collect();
    if conflicts.is_empty() {
        for (p, a) in planned.iter().zip(&results) {
            if !run::applied_ok(a) {
                let object = format!(
                    "CloudAccount {}/{}",
                    p.run.header.namespace, p.run.header.name
                );
                errors.push(json::Error {
                    object: Some(object.clone()),
                    ..json::Error::text(format!(
                        "{object}: apply failed or did not converge (see above)"
                    ))
                });
            }
        }
    }
    errors.extend(saved);
    let changes_pending = results
        .iter()
        .any(|a| a.verify.as_ref().map_or(true, render::has_changes));
    let accounts = planned
        .iter()
        .zip(&results)
        .map(|(p, a)| json::Account {
            applied: Some(json::Applied {
                results: a
                    .passes
                    .iter()
                    .enumerate()
                    .flat_map(|(i, r)| json::results(i + 1, r))
                    .collect(),
                converged: run::applied_ok(a),
                remaining_steps: a.verify.as_ref().ok().map(|o| o.plan.steps.len()),
                verify_error: a.verify.as_ref().err().cloned(),
            }),
            ..json::Account::new(&p.run.header, &p.outcome)
        })
        .collect();
    Ending {
        exit: if errors.is_empty() {
            Exit::Success
        } else {
            Exit::Error
        },
        errors,
        note: (!conflicts.is_empty()).then_some(
            "Nothing was applied: objects in the manifests contradict each other (see above); the cloud was only read.",
        ),
        accounts,
        changes_pending,
    }
}
