//! The simulator of the Huawei VPC and Baidu BCC security-group APIs.
//!
//! Independent of `crate::cloud`, `crate::plan` and `crate::model`: its own
//! request parsing, state model, canonicalization and signature
//! verification, so that a client mistake shows up as a failure here
//! instead of being shared. One server serves both clouds (Huawei under
//! `/v3/`, `/v2.0/`, `/v1/`; Baidu under `/v2/`) plus admin endpoints
//! under `/_sim/`.
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
//!   `with_baidu_instance`, `with_baidu_eni` (an elastic NIC with its own
//!   groups), `with_baidu_rule`, `with_settings`. Objects seeded without
//!   times get the clock's time at start (or on `replace_state` /
//!   `PUT /_sim/state`) in each cloud's documented example format.
//! - [`start`]`(state, SimOptions) -> Result<SimHandle, SimError>`;
//!   [`SimOptions`] has `listen` (default `127.0.0.1:0`), `faults`
//!   (used when not default; otherwise the state file's), `clock`
//!   ([`SimClock::System`] or [`SimClock::Fixed`], used for signature
//!   expiry and timestamps), `allow_non_loopback`, `admin_token` and
//!   `read_timeout` (see *Server*).
//! - [`SimHandle`]: `addr()`, `url()`, `admin_token()`, `snapshot()`,
//!   `replace_state()`, `huawei_port_groups()`, `huawei_group()`,
//!   `huawei_group_rules()`, `set_huawei_rule_enabled()` (a console edit),
//!   `baidu_instance_groups()` (primary NIC), `baidu_instance_nic_groups()`
//!   (the union over NICs), `baidu_group()`, `baidu_group_rules()`,
//!   `request_log()`, `call_counts()`, `call_count(op)`,
//!   `endpoint_calls()`, `endpoint_call_count(method, path)`,
//!   `read_write_counts(cloud)`, `refused_log()`, `reset_logs()`,
//!   `faults()`, `set_faults()`, `set_clock()`, `shutdown()`.
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
//! `baidu.batchReplace`, `baidu.listInstances`, `baidu.listInstancesByIds`
//! (`POST /v2/instance/listByInstanceId`), `baidu.getInstance`.
//! Requests matching none are counted as `unknown`.
//!
//! # Call counts per endpoint
//!
//! Every cloud request is counted under (cloud, account, method, path
//! template, read): the account is the access key that signed it (empty
//! when the signature was not verified), the template the documented one
//! ([`ops::Op::endpoint`], e.g. `GET /v3/{project_id}/ports`; a Baidu call
//! told apart by a flag keeps it, `PUT /v2/securityGroup/{securityGroupId}?authorizeRule`),
//! and `read` is false for anything that may change the cloud
//! (listByInstanceId is a read sent as POST). Every outcome counts:
//! refused, throttled, injected and failed calls cost a request too. Read
//! them with `SimHandle::endpoint_calls` / `read_write_counts` or
//! `GET /_sim/endpoint-calls` ([`EndpointCount`] list); benchmarks count
//! reads and writes from these, not from the client's own tally.
//!
//! # Admin endpoints
//!
//! `GET /_sim/health`; `GET /_sim/state` (dump, secret keys redacted) and
//! `PUT /_sim/state` (replace; JSON or YAML); `GET`/`PUT /_sim/faults`
//! ([`Faults`] as JSON); `GET /_sim/log` (request log: operation, method,
//! path with `authorization` query values redacted, status, access key,
//! outcome); `GET /_sim/calls` (counts per operation);
//! `GET /_sim/endpoint-calls` (counts per endpoint and account);
//! `GET /_sim/refused` (refused unsafe requests); `POST /_sim/reset-log`
//! (clears the logs and counts).
//!
//! # Server
//!
//! - Loopback only by default: `start` refuses any other listen address
//!   with [`SimError::NotLoopback`] unless `allow_non_loopback` is set
//!   (`--allow-non-loopback` on the CLI, which then logs a warning).
//! - Beyond loopback every admin endpoint but `/_sim/health` requires the
//!   admin token, sent as `Authorization: Bearer TOKEN` or
//!   `X-Sim-Admin-Token: TOKEN`: `admin_token` (`--admin-token`,
//!   `SIM_ADMIN_TOKEN`) or, when none is given, a random one that
//!   `SimHandle::admin_token` returns and the CLI prints on stdout once.
//!   On loopback the admin API is open unless a token is given.
//! - `read_timeout` (default [`DEFAULT_READ_TIMEOUT`], 30 s): a connection
//!   that has not sent a whole request head in that time is closed, so
//!   half-open and idle keep-alive connections do not pile up; a body not
//!   received in that time is answered 408 and the connection closed.
//!
//! # Behaviour worth knowing
//!
//! - Signatures: every cloud request must be signed by a configured account
//!   of that cloud. Huawei SDK-HMAC-SHA256 uses exactly the SignedHeaders
//!   sent (in the order sent), `x-sdk-date` must be among them and within
//!   15 minutes of the clock, and the payload hash is the body's SHA-256
//!   (`X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` is honoured only as the
//!   official signer sends it, see [`sign::huawei_payload_hash`]); failures
//!   are 401 `APIG.0301`. Baidu bce-auth-v1 uses the signed headers listed
//!   (or the default set when empty); errors: 403 `AccessDenied` (no
//!   authorization), 400 `InvalidHTTPAuthHeader` (malformed, or an
//!   `expirationPeriodInSeconds` outside 1 to
//!   `settings.baiduMaxExpirationSeconds`, one day by default: the docs
//!   give only the default 1800, so the bound is this simulator's choice),
//!   403 `InvalidAccessKeyId`, 400 `RequestExpired` (past timestamp +
//!   expiration, computed without overflow, or more than 15 minutes in
//!   the future; the docs say the timestamp must be the sending time, the
//!   tolerance is ours), 400 `SignatureDoesNotMatch`.
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
//! - Bulk reads: Huawei list filters follow the v3 SDK's request models
//!   and its wire form (repeated keys), see [`huawei`]; Baidu instance
//!   reads, elastic NICs and the union in `nicInfo.securityGroups`, see
//!   [`baidu`].
//! - Codes chosen where the docs name none: Huawei 400 `VPC.0602` for any
//!   invalid or unsupported parameter (list filters included); Baidu 400
//!   `BadRequest` for the instance reads' limits (over 100 `instanceIds`,
//!   `securityGroupIds` or `instanceNames`, over 100 ids in a
//!   listByInstanceId body, `maxKeys` outside 1 to 1000) and for
//!   unmodelled, unknown or repeated filters, plus the Baidu rule and bind
//!   codes listed in [`baidu`].

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
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use cli::{SimArgs, run};
pub use engine::{EndpointCount, RefusedRequest, RequestLogEntry};
pub use faults::{DropConnection, DropWhen, FailNext, Faults, PortFailure, RateLimit};
pub use state::{
    Account, BaiduState, BdEni, BdGroup, BdInstance, BdRule, BdTag, HuaweiState, HwGroup, HwPort,
    HwRule, HwTag, Provider, SimSettings, SimState,
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
    #[error(
        "refusing to listen on {addr}: it is not a loopback address; the simulator's fake accounts and admin API would be reachable from the network (allow it explicitly, and the admin API then needs a token)"
    )]
    NotLoopback { addr: SocketAddr },
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

/// How long a connection may take to send a request's headers (and how
/// long an idle keep-alive connection stays open), and then its body.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start the simulator.
#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    /// Where to listen; `None` is `127.0.0.1:0` (an ephemeral port).
    pub listen: Option<SocketAddr>,
    /// Start-up faults; when left default, the state file's `faults` apply.
    pub faults: Faults,
    pub clock: SimClock,
    /// Listening on an address that is not loopback is refused unless this
    /// is set; then the admin API needs a token.
    pub allow_non_loopback: bool,
    /// The admin API's token. Required on any listener that is not
    /// loopback (a random one is made when this is `None`); on loopback the
    /// admin API is open unless a token is given here.
    pub admin_token: Option<String>,
    /// `None` is [`DEFAULT_READ_TIMEOUT`].
    pub read_timeout: Option<Duration>,
}

/// A running simulator. Dropping it without [`SimHandle::shutdown`] leaves
/// the server running until the runtime ends.
pub struct SimHandle {
    addr: SocketAddr,
    inner: Arc<Inner>,
    admin_token: Option<String>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A fresh admin token: 128 random bits as hex.
fn new_admin_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
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
    let loopback = addr.ip().is_loopback();
    if !loopback && !opts.allow_non_loopback {
        return Err(SimError::NotLoopback { addr });
    }
    let admin_token = match opts.admin_token.filter(|t| !t.is_empty()) {
        Some(t) => Some(t),
        None if !loopback => Some(new_admin_token()),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let addr = listener.local_addr()?;
    let inner = Arc::new(Inner::new(
        state,
        faults,
        opts.clock,
        admin_token.clone(),
        opts.read_timeout.unwrap_or(DEFAULT_READ_TIMEOUT),
    ));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, inner.clone(), stopped));
    Ok(SimHandle {
        addr,
        inner,
        admin_token,
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

    /// The token the admin API requires (`None`: open, on loopback).
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// A copy of the whole state (secrets included; faults not included).
    pub fn snapshot(&self) -> SimState {
        lock(&self.inner.state).clone()
    }

    /// Replace the state (validated first; objects without times get the
    /// clock's). Logs and faults are kept.
    pub fn replace_state(&self, state: SimState) -> Result<(), SimError> {
        state.validate()?;
        self.inner.set_state(state);
        Ok(())
    }

    /// Enable or disable a Huawei rule in place, as a console edit would
    /// (drift the controller did not make). False when no rule has `id`.
    pub fn set_huawei_rule_enabled(&self, id: &str, enabled: bool) -> bool {
        let mut state = lock(&self.inner.state);
        let rule = state
            .huawei
            .security_groups
            .iter_mut()
            .flat_map(|g| g.rules.iter_mut())
            .find(|r| r.id == id);
        match rule {
            Some(r) => {
                r.enabled = enabled;
                true
            }
            None => false,
        }
    }

    /// A Baidu instance's `nicInfo.securityGroups`: its primary NIC's
    /// groups and then its elastic NICs' (a union).
    pub fn baidu_instance_nic_groups(&self, instance_id: &str) -> Option<Vec<String>> {
        lock(&self.inner.state)
            .baidu_instance(instance_id)
            .map(|i| i.nic_security_groups())
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

    /// Calls per cloud, account, method and path template, in that order.
    pub fn endpoint_calls(&self) -> Vec<EndpointCount> {
        lock(&self.inner.logs).endpoint_counts()
    }

    /// Calls of one endpoint (e.g. `"GET"`, `"/v3/{project_id}/ports"`),
    /// summed over clouds and accounts.
    pub fn endpoint_call_count(&self, method: &str, path: &str) -> u64 {
        lock(&self.inner.logs)
            .endpoints
            .iter()
            .filter(|((_, _, m, p, _), _)| m == method && p == path)
            .map(|(_, n)| n)
            .sum()
    }

    /// Reads and writes served so far for one cloud (any outcome), as
    /// `(reads, writes)`.
    pub fn read_write_counts(&self, cloud: Provider) -> (u64, u64) {
        let logs = lock(&self.inner.logs);
        let mut counts = (0, 0);
        for ((c, _, _, _, read), n) in &logs.endpoints {
            if *c == cloud.as_str() {
                if *read {
                    counts.0 += n;
                } else {
                    counts.1 += n;
                }
            }
        }
        counts
    }

    /// Requests refused because they would leave a port/instance groupless.
    pub fn refused_log(&self) -> Vec<RefusedRequest> {
        lock(&self.inner.logs).refused.clone()
    }

    /// Clear the request log, call counts (per operation and per endpoint)
    /// and refused log.
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
