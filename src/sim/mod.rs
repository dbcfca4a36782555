//! The simulator of the Huawei VPC and Baidu BCC security-group APIs.
//!
//! Independent of `crate::cloud`, `crate::plan` and `crate::model`: its own
//! request parsing, state model, canonicalization and signature
//! verification, so that a client mistake shows up as a failure here
//! instead of being shared. Owned by issue 3. One server serves both clouds
//! (Huawei under `/v3/`, `/v2.0/`, `/v1/`; Baidu under `/v2/`) plus unsigned
//! admin endpoints under `/_sim/`.
//!
//! # Public API
//!
//! ```no_run
//! # async fn demo() -> Result<(), secgroup_controller::sim::SimError> {
//! use secgroup_controller::sim::{start, Account, SimOptions, SimState};
//! let state = SimState::new()
//!     .with_account(Account::huawei("AK", "SK", "0123456789abcdef0123456789abcdef"))
//!     .with_huawei_group("0123456789abcdef0123456789abcdef", "1d8b19c7-7c56-48f7-a99b-4b40eb390967", "web")
//!     .with_huawei_port("0123456789abcdef0123456789abcdef", "99fd0c77-56b4-4bf6-8365-df352e45d5fc", &["1d8b19c7-7c56-48f7-a99b-4b40eb390967"]);
//! let sim = start(state, SimOptions::default()).await?; // 127.0.0.1:0
//! let base = sim.url(); // http://127.0.0.1:PORT, the endpoint for clients
//! // ... run a client against `base` ...
//! assert!(sim.refused_log().is_empty());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! - [`SimState`] (serde; JSON or YAML with camelCase keys, see
//!   `tests/fixtures/sim/example-state.yaml`): `accounts` (provider,
//!   accessKey, secretKey, projectId for Huawei, optional accountId for
//!   Baidu), `settings` ([`SimSettings`]: limits and unverified behaviours),
//!   `huawei.{ports,securityGroups}`, `baidu.{instances,securityGroups}`,
//!   optional `faults`. Builders: `with_account`, `with_huawei_group`,
//!   `with_huawei_port`, `with_huawei_rule`, `with_baidu_group`,
//!   `with_baidu_instance`, `with_baidu_rule`, `with_settings`.
//! - [`start`]`(state, SimOptions) -> Result<SimHandle, SimError>`;
//!   [`SimOptions`] has `listen` (default `127.0.0.1:0`), `faults`
//!   (used when not default; otherwise the state file's) and `clock`
//!   ([`SimClock::System`] or [`SimClock::Fixed`], used for signature
//!   expiry and timestamps).
//! - [`SimHandle`]: `addr()`, `url()`, `snapshot()`, `replace_state()`,
//!   `huawei_port_groups()`, `huawei_group()`, `huawei_group_rules()`,
//!   `baidu_instance_groups()`, `baidu_group()`, `baidu_group_rules()`,
//!   `request_log()`, `call_counts()`, `call_count(op)`, `refused_log()`,
//!   `reset_logs()`, `faults()`, `set_faults()`, `set_clock()`,
//!   `shutdown()`.
//! - CLI: [`SimArgs`] and [`run`] (serves until Ctrl-C).
//!
//! # Operation names
//!
//! Stable strings used in the request log, call counts and faults (defined
//! in [`ops`]): `huawei.showPort`, `huawei.listPorts`,
//! `huawei.insertSecurityGroups`, `huawei.removeSecurityGroups`,
//! `huawei.batchInstanceAction`, `huawei.createSecurityGroup`,
//! `huawei.showSecurityGroup`, `huawei.listSecurityGroups`,
//! `huawei.updateSecurityGroup`, `huawei.deleteSecurityGroup`,
//! `huawei.createSecurityGroupRule`, `huawei.batchCreateSecurityGroupRules`,
//! `huawei.listSecurityGroupRules`, `huawei.showSecurityGroupRule`,
//! `huawei.deleteSecurityGroupRule`, `baidu.createSecurityGroup`,
//! `baidu.listSecurityGroups`, `baidu.getSecurityGroup`,
//! `baidu.deleteSecurityGroup`, `baidu.authorizeRule`, `baidu.revokeRule`,
//! `baidu.updateRule`, `baidu.deleteRule`, `baidu.bindInstance`,
//! `baidu.unbindInstance`, `baidu.batchBind`, `baidu.batchUnbind`,
//! `baidu.batchReplace`, `baidu.listInstances`, `baidu.getInstance`.
//! Requests matching none are counted as `unknown`.
//!
//! # Admin endpoints (unsigned)
//!
//! `GET /_sim/health`; `GET /_sim/state` (dump, secret keys redacted) and
//! `PUT /_sim/state` (replace; JSON or YAML); `GET`/`PUT /_sim/faults`
//! ([`Faults`] as JSON); `GET /_sim/log` (request log: operation, method,
//! path, status, access key, outcome); `GET /_sim/calls` (counts per
//! operation); `GET /_sim/refused` (refused unsafe requests);
//! `POST /_sim/reset-log` (clears the three logs).
//!
//! # Behaviour worth knowing
//!
//! - Signatures: every cloud request must be signed by a configured account
//!   of that cloud. Huawei SDK-HMAC-SHA256 uses exactly the SignedHeaders
//!   sent (in the order sent), `x-sdk-date` must be among them and within
//!   15 minutes of the clock; failures are 401 `APIG.0301`. Baidu
//!   bce-auth-v1 uses the signed headers listed (or the default set when
//!   empty); errors: 403 `AccessDenied` (no authorization), 400
//!   `InvalidHTTPAuthHeader`, 403 `InvalidAccessKeyId`, 400 `RequestExpired`
//!   (past timestamp + expiration, or more than 15 minutes in the future),
//!   400 `SignatureDoesNotMatch`.
//! - Huawei resources live in the account's project: a path project (or
//!   `X-Project-Id`) other than the account's is 400 `VPC.0007`
//!   ("urlTenantId is not equal tokenTenantId", the documented code).
//! - No port or instance ever ends with zero groups; each refusal (v3
//!   remove, batch `fail[]` entry, Baidu unbind/batch unbind/replace) is
//!   appended to the refused log.
//! - Baidu `clientToken` (create group, authorize, revoke, update rule,
//!   delete rule, batch bind/unbind/replace): scoped per account, operation
//!   and token; the first successful result is stored and replayed for the
//!   same request without acting again; the same token with a different
//!   request is 403 `IdempotentParameterMismatch`; failed calls are not
//!   stored.
//! - Faults run in this order after authentication: rate limit (429
//!   `APIG.0308` / Baidu `RequestRateLimitExceeded` (unverified), with
//!   `Retry-After`), latency, fail-next, random 5xx (Huawei `VPC.0500`,
//!   Baidu `InternalError`), clientToken replay, drop-before, the call,
//!   drop-after.
//! - Per-cloud details and chosen codes are documented in [`huawei`] and
//!   [`baidu`].

pub mod baidu;
mod cli;
pub mod engine;
pub mod faults;
pub mod huawei;
pub mod ops;
mod server;
pub mod sign;
pub mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use cli::{SimArgs, run};
pub use engine::{RefusedRequest, RequestLogEntry};
pub use faults::{DropConnection, DropWhen, FailNext, Faults, PortFailure, RateLimit};
pub use state::{
    Account, BaiduState, BdGroup, BdInstance, BdRule, BdTag, HuaweiState, HwGroup, HwPort, HwRule,
    HwTag, Provider, SimSettings, SimState,
};

use server::{Inner, lock};

/// Errors starting or configuring the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulator state: {0}")]
    State(String),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("simulator I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The clock used for signature expiry and resource timestamps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SimClock {
    #[default]
    System,
    Fixed(jiff::Timestamp),
}

/// How to start the simulator.
#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    /// Where to listen; `None` is `127.0.0.1:0` (an ephemeral port).
    pub listen: Option<SocketAddr>,
    /// Start-up faults; when left default, the state file's `faults` apply.
    pub faults: Faults,
    pub clock: SimClock,
}

/// A running simulator. Dropping it without [`SimHandle::shutdown`] leaves
/// the server running until the runtime ends.
pub struct SimHandle {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Start serving `state` (validated first).
pub async fn start(mut state: SimState, opts: SimOptions) -> Result<SimHandle, SimError> {
    state.validate()?;
    let faults = if opts.faults != Faults::default() {
        opts.faults
    } else {
        state.faults.take().unwrap_or_default()
    };
    state.faults = None;
    let addr = opts
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let addr = listener.local_addr()?;
    let inner = Arc::new(Inner::new(state, faults, opts.clock));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, inner.clone(), stopped));
    Ok(SimHandle {
        addr,
        inner,
        stop,
        task,
    })
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the endpoint to give a client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of the whole state (secrets included; faults not included).
    pub fn snapshot(&self) -> SimState {
        lock(&self.inner.state).clone()
    }

    /// Replace the state (validated first). Logs and faults are kept.
    pub fn replace_state(&self, state: SimState) -> Result<(), SimError> {
        state.validate()?;
        *lock(&self.inner.state) = state;
        Ok(())
    }

    /// A Huawei port's groups in order.
    pub fn huawei_port_groups(&self, port_id: &str) -> Option<Vec<String>> {
        lock(&self.inner.state)
            .huawei_port(port_id)
            .map(|p| p.security_groups.clone())
    }

    pub fn huawei_group(&self, id: &str) -> Option<HwGroup> {
        lock(&self.inner.state).huawei_group(id).cloned()
    }

    pub fn huawei_group_rules(&self, id: &str) -> Option<Vec<HwRule>> {
        lock(&self.inner.state)
            .huawei_group(id)
            .map(|g| g.rules.clone())
    }

    /// A Baidu instance's groups in binding order.
    pub fn baidu_instance_groups(&self, instance_id: &str) -> Option<Vec<String>> {
        lock(&self.inner.state)
            .baidu_instance(instance_id)
            .map(|i| i.security_group_ids.clone())
    }

    pub fn baidu_group(&self, id: &str) -> Option<BdGroup> {
        lock(&self.inner.state).baidu_group(id).cloned()
    }

    pub fn baidu_group_rules(&self, id: &str) -> Option<Vec<BdRule>> {
        lock(&self.inner.state)
            .baidu_group(id)
            .map(|g| g.rules.clone())
    }

    /// Every cloud request served so far, oldest first.
    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        lock(&self.inner.logs).requests.clone()
    }

    /// Requests per operation name (any outcome).
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        lock(&self.inner.logs).calls.clone()
    }

    pub fn call_count(&self, operation: &str) -> u64 {
        lock(&self.inner.logs)
            .calls
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Requests refused because they would leave a port/instance groupless.
    pub fn refused_log(&self) -> Vec<RefusedRequest> {
        lock(&self.inner.logs).refused.clone()
    }

    /// Clear the request log, call counts and refused log.
    pub fn reset_logs(&self) {
        self.inner.reset_logs();
    }

    /// The faults in force (counts show what is left).
    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).faults().clone()
    }

    /// Replace the faults (restarts the error-rate generator from its seed).
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.inner.faults).set(faults);
    }

    pub fn set_clock(&self, clock: SimClock) {
        *lock(&self.inner.clock) = clock;
    }

    /// Stop accepting, close open connections and wait for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
