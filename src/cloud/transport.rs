//! The one call path both clouds' clients share. A client describes each
//! call in vendor-neutral parts ([`ApiRequest`]) and supplies only what is
//! its cloud's own ([`Dialect`]: how a request is signed, how an error body
//! reads); the [`Transport`] holds the rest (endpoint, shared HTTP client,
//! credentials, the account's rate limiter, the retry policy, the write
//! gate) and runs every call the same way: take a rate-limit token, check
//! the write gate (writes only), sign, send, trace (provider, operation,
//! status, latency, request id; never a header), retry as the call's
//! [`Idempotency`] allows, and hand back a 2xx answer or a typed error.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use jiff::Timestamp;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use tracing::Instrument;

use super::percent::uri_encode;
use super::ratelimit::AccountLimiter;
use super::retry::{self, AttemptError, Idempotency, RetryPolicy};
use super::{ApiErrorDetail, CloudError, Credentials, WriteGate};

/// One API call, before signing. Path and query are not percent-encoded.
#[derive(Clone, Debug)]
pub(crate) struct ApiRequest {
    /// Stable name for traces, e.g. `insertSecurityGroups`.
    pub operation: &'static str,
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// JSON body.
    pub body: Option<Vec<u8>>,
    /// The call only reads: the write gate does not apply to it. `GET`s
    /// are reads; a read sent another way says so with [`Self::read_only`].
    pub read: bool,
}

impl ApiRequest {
    pub fn new(operation: &'static str, method: Method, path: String) -> Self {
        Self {
            read: method == Method::GET,
            operation,
            method,
            path,
            query: Vec::new(),
            body: None,
        }
    }

    /// Mark a call that reads although it is not a `GET` (Baidu
    /// listByInstanceId is a `POST`).
    pub fn read_only(mut self) -> Self {
        self.read = true;
        self
    }

    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    /// Serialize `body` as the JSON body.
    pub fn json(mut self, body: &impl Serialize) -> Result<Self, CloudError> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            invalid(
                "Serialize",
                format!("could not encode the {} request: {e}", self.operation),
            )
        })?;
        self.body = Some(bytes);
        Ok(self)
    }
}

/// A client-side refusal (bad argument or setting), phrased like the
/// cloud's own `InvalidRequest` so callers handle one kind of error.
pub(crate) fn invalid(code: &str, message: impl Into<String>) -> CloudError {
    CloudError::InvalidRequest(ApiErrorDetail {
        status: 0,
        code: code.to_string(),
        message: message.into(),
        request_id: None,
    })
}

/// Refuse an id that would not stay one path segment: empty (turns
/// `/groups/{id}` into `/groups/`), containing `/`, or `.`/`..` (URL
/// parsing folds those dot segments away, so the path sent would differ
/// from the one signed).
pub(crate) fn require_id(field: &str, id: &str) -> Result<(), CloudError> {
    if id.trim().is_empty() {
        Err(invalid(
            "InvalidArgument",
            format!("{field}: must not be empty"),
        ))
    } else if id.contains('/') || id == "." || id == ".." {
        Err(invalid(
            "InvalidArgument",
            format!("{field}: {id:?} is not an id (no '/', not '.' or '..')"),
        ))
    } else {
        Ok(())
    }
}

/// `ids` checked one by one ([`require_id`], `field` naming them), sorted
/// and without repeats: what a bulk read sends, validated before its first
/// call.
pub(crate) fn unique_ids(field: &str, ids: &[String]) -> Result<Vec<String>, CloudError> {
    for id in ids {
        require_id(field, id)?;
    }
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Where a provider sends its requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `scheme://host[:port]`, no trailing slash.
    pub base: String,
    /// The `Host` header: `host[:port]`, the port only when not the default.
    pub host: String,
}

impl Endpoint {
    /// Parse `https://host[:port]` (a trailing `/` is fine; any other path,
    /// a query or user info is refused, since it would not be signed).
    pub fn parse(field: &str, s: &str) -> Result<Self, CloudError> {
        let bad = |why: &str| invalid("InvalidSettings", format!("{field}: {s:?} {why}"));
        let url = reqwest::Url::parse(s).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must be an http:// or https:// URL"));
        }
        let Some(host) = url.host_str() else {
            return Err(bad("has no host"));
        };
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must not have a path, query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not carry user info"));
        }
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Ok(Self {
            base: format!("{}://{host}", url.scheme()),
            host,
        })
    }

    /// The URL for a path and query, encoded as the signers encode them.
    pub fn url(&self, path: &str, query: &[(String, String)]) -> String {
        let mut url = format!("{}{}", self.base, uri_encode(path, true));
        if !query.is_empty() {
            url.push('?');
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
                .collect();
            url.push_str(&q.join("&"));
        }
        url
    }
}

/// A signed request, ready to send.
pub(crate) struct Prepared {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
}

/// Add a header built from our own strings; a value that is not a legal
/// header value is an invalid request, never a panic.
pub(crate) fn put_header(
    headers: &mut HeaderMap,
    name: &'static str,
    value: &str,
) -> Result<(), CloudError> {
    let value = HeaderValue::from_str(value).map_err(|_| {
        invalid(
            "InvalidArgument",
            format!("{name}: not a valid header value"),
        )
    })?;
    headers.insert(HeaderName::from_static(name), value);
    Ok(())
}

/// The answer as it came, for the provider to judge.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `error`, with its chain of causes, without the URL.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Send one attempt and read the whole answer.
pub(crate) async fn send(
    http: &reqwest::Client,
    provider: &'static str,
    operation: &'static str,
    request_id_header: &'static str,
    prepared: Prepared,
) -> Result<RawResponse, AttemptError> {
    let started = Instant::now();
    let method = prepared.method.clone();
    let mut builder = http
        .request(prepared.method, &prepared.url)
        .headers(prepared.headers);
    if let Some(body) = prepared.body {
        builder = builder.body(body);
    }
    let response = match builder.send().await {
        Ok(r) => r,
        Err(e) => {
            // A failed connect means the request never left: safe to resend
            // even when the call is not idempotent.
            let not_sent = e.is_connect();
            let message = format!("{operation} ({method}): {}", describe(e));
            tracing::debug!(
                provider,
                operation,
                latency_ms = started.elapsed().as_millis() as u64,
                not_sent,
                error = %message,
                "cloud call failed before an answer"
            );
            return Err(AttemptError {
                error: CloudError::Transport(message),
                not_sent,
            });
        }
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let request_id = headers
        .get(request_id_header)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = match response.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) => {
            let message = format!(
                "{operation} ({method}): reading the answer: {}",
                describe(e)
            );
            tracing::debug!(
                provider,
                operation,
                status,
                request_id,
                latency_ms = started.elapsed().as_millis() as u64,
                error = %message,
                "cloud call lost its answer"
            );
            return Err(CloudError::Transport(message).into());
        }
    };
    tracing::debug!(
        provider,
        operation,
        status,
        request_id,
        latency_ms = started.elapsed().as_millis() as u64,
        "cloud call"
    );
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// What one cloud supplies to the shared call path.
pub(crate) trait Dialect: fmt::Debug + Send + Sync {
    /// The provider as traces name it, e.g. `huawei`.
    const PROVIDER: &'static str;
    /// The answer header carrying the cloud's request id.
    const REQUEST_ID_HEADER: &'static str;
    /// What the error mapping needs to know about a call beyond its answer.
    type Context: Copy + Default + Send + Sync;

    /// Every header to send for `req` to `host`, the signature included,
    /// signed with `credentials` at `now` (passed in, never read inside).
    fn signed_headers(
        &self,
        host: &str,
        credentials: &Credentials,
        req: &ApiRequest,
        now: Timestamp,
    ) -> Result<HeaderMap, CloudError>;

    /// A non-2xx answer as a typed error.
    fn api_error(&self, response: &RawResponse, context: Self::Context) -> CloudError;
}

/// A call's answer, and whether an earlier attempt failed in a way that
/// leaves open whether it was applied (then a refusal of the retry may be
/// the first attempt's own success, which the caller settles by reading).
pub(crate) struct Answer {
    pub result: Result<RawResponse, CloudError>,
    pub retried: bool,
}

/// Everything a client of one account needs to send signed calls.
pub(crate) struct Transport<D> {
    dialect: D,
    http: reqwest::Client,
    endpoint: Endpoint,
    credentials: Credentials,
    limiter: Option<Arc<AccountLimiter>>,
    retry: RetryPolicy,
    write_gate: Option<WriteGate>,
}

impl<D: fmt::Debug> fmt::Debug for Transport<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("dialect", &self.dialect)
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .field("limiter", &self.limiter)
            .field("retry", &self.retry)
            .field("write_gate", &self.write_gate.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

impl<D: Dialect> Transport<D> {
    /// `endpoint` is `https://host[:port]`; `http` the shared client.
    pub fn new(
        dialect: D,
        endpoint: &str,
        credentials: Credentials,
        http: reqwest::Client,
    ) -> Result<Self, CloudError> {
        Ok(Self {
            dialect,
            http,
            endpoint: Endpoint::parse("endpoint", endpoint)?,
            credentials,
            limiter: None,
            retry: RetryPolicy::default(),
            write_gate: None,
        })
    }

    pub fn set_retry_policy(&mut self, retry: RetryPolicy) {
        self.retry = retry;
    }

    pub fn set_rate_limit(&mut self, limiter: Arc<AccountLimiter>) {
        self.limiter = Some(limiter);
    }

    pub fn set_write_gate(&mut self, gate: WriteGate) {
        self.write_gate = Some(gate);
    }

    pub fn dialect(&self) -> &D {
        &self.dialect
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Sign `req` at `now`. The `Authorization` header is marked sensitive
    /// whatever the signer did, so no `Debug` of the headers (ours or the
    /// HTTP stack's) prints the signature and HTTP/2 never indexes it.
    pub fn prepare(&self, req: &ApiRequest, now: Timestamp) -> Result<Prepared, CloudError> {
        let mut headers =
            self.dialect
                .signed_headers(&self.endpoint.host, &self.credentials, req, now)?;
        if let Some(value) = headers.get_mut(AUTHORIZATION) {
            value.set_sensitive(true);
        }
        Ok(Prepared {
            method: req.method.clone(),
            url: self.endpoint.url(&req.path, &req.query),
            headers,
            body: req.body.clone(),
        })
    }

    fn writes_open(&self) -> bool {
        self.write_gate.as_ref().is_none_or(|open| open())
    }

    /// Send `req`, retrying as `idempotency` allows, and return a 2xx
    /// answer. Every attempt takes a rate-limit token; every attempt of a
    /// write first asks the write gate, right before it would be sent, so a
    /// gate that closes while a write waits for its retry stops the retry.
    pub async fn call_tracked(
        &self,
        req: &ApiRequest,
        idempotency: Idempotency,
        context: D::Context,
    ) -> Answer {
        let retried = AtomicBool::new(false);
        let span = tracing::debug_span!("cloud", provider = D::PROVIDER, operation = req.operation);
        // A read is retried as a read (within the policy's read budget),
        // whatever the call site says.
        let idempotency = if req.read {
            Idempotency::Read
        } else {
            idempotency
        };
        let result = retry::run(&self.retry, idempotency, req.operation, |attempt| {
            retried.store(attempt > 0, Ordering::Relaxed);
            async move {
                if let Some(limiter) = &self.limiter {
                    limiter.acquire().await;
                }
                let prepared = self.prepare(req, Timestamp::now())?;
                if !req.read && !self.writes_open() {
                    tracing::debug!(
                        provider = D::PROVIDER,
                        operation = req.operation,
                        "write gate closed: not sent"
                    );
                    // Not retryable, and `not_sent` stays false so that no
                    // idempotency rule sends it anyway.
                    return Err(CloudError::Fenced(format!(
                        "{} ({}) not sent: writes are closed (this replica can no longer renew its leader Lease)",
                        req.operation, req.method
                    ))
                    .into());
                }
                let response = send(
                    &self.http,
                    D::PROVIDER,
                    req.operation,
                    D::REQUEST_ID_HEADER,
                    prepared,
                )
                .await?;
                if (200..300).contains(&response.status) {
                    Ok(response)
                } else {
                    Err(self.dialect.api_error(&response, context).into())
                }
            }
        })
        .instrument(span)
        .await;
        Answer {
            result,
            retried: retried.load(Ordering::Relaxed),
        }
    }

    /// [`Self::call_tracked`] with the default error context, answer only.
    pub async fn call(
        &self,
        req: &ApiRequest,
        idempotency: Idempotency,
    ) -> Result<RawResponse, CloudError> {
        self.call_tracked(req, idempotency, D::Context::default())
            .await
            .result
    }
}

/// The page markers a list has handed out: one handed out twice means the
/// list does not advance, which is an error rather than an endless loop.
#[derive(Debug, Default)]
pub(crate) struct Markers(HashSet<String>);

impl Markers {
    /// Accept `next` as the marker of the next page of `operation`.
    pub fn advance(&mut self, operation: &str, next: String) -> Result<String, CloudError> {
        if self.0.insert(next.clone()) {
            Ok(next)
        } else {
            Err(CloudError::Decode(format!(
                "{operation}: page marker {next:?} came back twice; the list does not advance"
            )))
        }
    }
}

/// Parse a JSON answer into `T`, naming the operation on failure.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    operation: &str,
    response: &RawResponse,
) -> Result<T, CloudError> {
    serde_json::from_slice(&response.body).map_err(|e| {
        CloudError::Decode(format!(
            "{operation}: HTTP {} body is not the expected JSON: {e}",
            response.status
        ))
    })
}

/// A short, printable excerpt of a non-JSON body for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// `Retry-After` as whole seconds (the HTTP-date form is not used by
/// either cloud and is ignored).
pub(crate) fn retry_after(response: &RawResponse) -> Option<std::time::Duration> {
    response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
}

/// Deserialize `null` as the type's default (vendor JSON sends `null` for
/// empty lists and strings).
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keeps_a_non_default_port_in_host() {
        let e = Endpoint::parse("endpoint", "http://127.0.0.1:8080/").unwrap();
        assert_eq!(e.base, "http://127.0.0.1:8080");
        assert_eq!(e.host, "127.0.0.1:8080");
        let e = Endpoint::parse("endpoint", "https://vpc.cn-north-4.myhuaweicloud.com").unwrap();
        assert_eq!(e.host, "vpc.cn-north-4.myhuaweicloud.com");
        let e = Endpoint::parse("endpoint", "https://h.example:443").unwrap();
        assert_eq!(e.host, "h.example", "default port is not spelled");
    }

    #[test]
    fn endpoint_refuses_what_would_not_be_signed() {
        for bad in [
            "vpc.example.com",
            "ftp://h",
            "https://h/prefix",
            "https://h/?a=b",
            "https://u:p@h",
        ] {
            let err = Endpoint::parse("endpoint", bad).unwrap_err();
            assert!(err.to_string().contains("endpoint"), "{bad}: {err}");
        }
    }

    #[test]
    fn url_encodes_like_the_signers() {
        let e = Endpoint::parse("endpoint", "http://h:1").unwrap();
        let q = vec![
            ("revokeRule".to_string(), String::new()),
            ("clientToken".to_string(), "a b".to_string()),
        ];
        assert_eq!(
            e.url("/v2/securityGroup/g 1", &q),
            "http://h:1/v2/securityGroup/g%201?revokeRule=&clientToken=a%20b"
        );
    }

    /// A dialect that signs with a fixed `Authorization` and maps every
    /// error to a server error.
    #[derive(Debug)]
    struct Plain;

    impl Dialect for Plain {
        const PROVIDER: &'static str = "plain";
        const REQUEST_ID_HEADER: &'static str = "x-request-id";
        type Context = ();

        fn signed_headers(
            &self,
            host: &str,
            credentials: &Credentials,
            _: &ApiRequest,
            _: Timestamp,
        ) -> Result<HeaderMap, CloudError> {
            let mut headers = HeaderMap::new();
            put_header(&mut headers, "host", host)?;
            put_header(
                &mut headers,
                "authorization",
                &format!("PLAIN {} Signature=abc123", credentials.access_key),
            )?;
            Ok(headers)
        }

        fn api_error(&self, response: &RawResponse, _: ()) -> CloudError {
            CloudError::Server(ApiErrorDetail {
                status: response.status,
                ..Default::default()
            })
        }
    }

    /// A transport to a port nothing listens on: every request that is
    /// sent fails with a transport error.
    fn unreachable() -> Transport<Plain> {
        let mut t = Transport::new(
            Plain,
            "http://127.0.0.1:9",
            Credentials::new("AK", "SK"),
            crate::cloud::http::build_http_client(&Default::default()).unwrap(),
        )
        .unwrap();
        t.set_retry_policy(RetryPolicy {
            max_attempts: 3,
            base_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_millis(2),
            max_retry_after: std::time::Duration::from_secs(1),
            ..RetryPolicy::default()
        });
        t
    }

    #[test]
    fn the_authorization_header_is_marked_sensitive() {
        let t = unreachable();
        let req = ApiRequest::new("showThing", Method::GET, "/things/1".into());
        let prepared = t.prepare(&req, Timestamp::UNIX_EPOCH).unwrap();
        let auth = &prepared.headers["authorization"];
        assert!(auth.is_sensitive());
        assert!(!prepared.headers["host"].is_sensitive());
        let shown = format!("{:?}", prepared.headers);
        assert!(!shown.contains("abc123"), "{shown}");
        assert!(shown.contains("Sensitive"), "{shown}");
    }

    #[test]
    fn reads_are_gets_unless_marked() {
        let get = ApiRequest::new("list", Method::GET, "/x".into());
        assert!(get.read);
        let post = ApiRequest::new("listByIds", Method::POST, "/x".into());
        assert!(!post.read);
        assert!(post.read_only().read);
        assert!(!ApiRequest::new("delete", Method::DELETE, "/x".into()).read);
    }

    #[tokio::test]
    async fn a_closed_write_gate_stops_writes_before_sending_and_lets_reads_pass() {
        let asked = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let mut t = unreachable();
        let counter = asked.clone();
        t.set_write_gate(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            false
        }));
        let write = ApiRequest::new("deleteThing", Method::DELETE, "/things/1".into());
        let err = t.call(&write, Idempotency::Safe).await.unwrap_err();
        // Sent, it would have been a transport error (nothing listens).
        assert!(matches!(err, CloudError::Fenced(_)), "{err:?}");
        assert!(err.to_string().contains("deleteThing"), "{err}");
        assert_eq!(asked.load(Ordering::SeqCst), 1, "asked once, not retried");
        // Unsafe calls are retried when not sent; a fenced one is not.
        let err = t.call(&write, Idempotency::Unsafe).await.unwrap_err();
        assert!(matches!(err, CloudError::Fenced(_)), "{err:?}");
        assert_eq!(asked.load(Ordering::SeqCst), 2);

        let read = ApiRequest::new("showThing", Method::GET, "/things/1".into());
        let err = t.call(&read, Idempotency::Safe).await.unwrap_err();
        assert!(matches!(err, CloudError::Transport(_)), "{err:?}");
        assert_eq!(asked.load(Ordering::SeqCst), 2, "reads never ask the gate");
    }

    #[tokio::test]
    async fn an_open_write_gate_is_asked_before_every_attempt() {
        let asked = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let mut t = unreachable();
        let counter = asked.clone();
        t.set_write_gate(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            true
        }));
        let write = ApiRequest::new("deleteThing", Method::DELETE, "/things/1".into());
        let err = t.call(&write, Idempotency::Safe).await.unwrap_err();
        assert!(matches!(err, CloudError::Transport(_)), "{err:?}");
        assert_eq!(asked.load(Ordering::SeqCst), 3, "one per attempt");
    }

    #[test]
    fn bulk_ids_are_checked_sorted_and_unique() {
        let ids = ["b", "a", "b"].map(String::from);
        assert_eq!(unique_ids("groupId", &ids).unwrap(), ["a", "b"]);
        let err = unique_ids("groupId", &["a".into(), "x/y".into()]).unwrap_err();
        assert!(err.to_string().contains("groupId"), "{err}");
    }

    #[test]
    fn a_marker_handed_out_twice_is_an_error() {
        let mut m = Markers::default();
        assert_eq!(m.advance("listPorts", "p1".into()).unwrap(), "p1");
        assert_eq!(m.advance("listPorts", "p2".into()).unwrap(), "p2");
        let err = m.advance("listPorts", "p1".into()).unwrap_err();
        assert!(matches!(err, CloudError::Decode(_)));
        assert!(err.to_string().contains("listPorts"));
    }

    #[test]
    fn empty_ids_are_refused_by_field() {
        let err = require_id("portId", " ").unwrap_err();
        assert!(matches!(err, CloudError::InvalidRequest(_)));
        assert!(err.to_string().contains("portId"));
    }
}
