//! What both providers do around one HTTP exchange: describe the request in
//! vendor-neutral parts ([`ApiRequest`]), build the URL with the same
//! encoding the signers use, send it on the shared client, trace it
//! (provider, operation, status, latency, request id; never a header), and
//! hand back the raw answer for the provider to judge.

use std::time::Instant;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use super::percent::uri_encode;
use super::retry::AttemptError;
use super::{ApiErrorDetail, CloudError};

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
}

impl ApiRequest {
    pub fn new(operation: &'static str, method: Method, path: String) -> Self {
        Self {
            operation,
            method,
            path,
            query: Vec::new(),
            body: None,
        }
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

    #[test]
    fn empty_ids_are_refused_by_field() {
        let err = require_id("portId", " ").unwrap_err();
        assert!(matches!(err, CloudError::InvalidRequest(_)));
        assert!(err.to_string().contains("portId"));
    }
}
