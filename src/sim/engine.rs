//! What the per-cloud handlers share: the call being served, the world it
//! may change, the reply or error it produces, logs, and small helpers
//! (query parameters, paging, ids, times).

use serde::Serialize;
use serde_json::Value;

use super::faults::FaultEngine;
use super::ops::Route;
use super::state::{Account, SimState};

/// One authenticated cloud call.
pub struct Call<'a> {
    pub route: &'a Route,
    pub account: &'a Account,
    /// Decoded query pairs in request order.
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
    pub now: jiff::Timestamp,
    pub request_id: &'a str,
}

impl Call<'_> {
    /// The last value of a query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter; with `split_commas`, each value
    /// is also split on `,` (the Huawei SDK sends some filters as CSV).
    pub fn params(&self, key: &str, split_commas: bool) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in self.query {
            if k != key {
                continue;
            }
            if split_commas {
                out.extend(v.split(',').filter(|x| !x.is_empty()).map(str::to_string));
            } else {
                out.push(v.clone());
            }
        }
        out
    }

    /// The first id from the path.
    pub fn id(&self) -> &str {
        self.route.ids.first().map(String::as_str).unwrap_or("")
    }
}

/// What a handler may read and change.
pub struct World<'a> {
    pub state: &'a mut SimState,
    pub refused: &'a mut Vec<RefusedRequest>,
    pub faults: &'a FaultEngine,
}

/// A successful answer (the pipeline adds request-id headers).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Self {
        Self { status, body: None }
    }
}

/// An error answer; the pipeline renders it in the cloud's body shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }
}

pub type HandlerResult = Result<Reply, ApiError>;

/// A request refused because it would have left a port or instance with no
/// security group. Tests assert a well-behaved client never causes one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedRequest {
    pub operation: String,
    /// The port (Huawei) or instance (Baidu) that would have had no group.
    pub target: String,
    /// The groups the request tried to remove.
    pub groups: Vec<String>,
    pub code: String,
    pub reason: String,
}

/// One served request, for `/_sim/log` and `SimHandle::request_log`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestLogEntry {
    pub seq: u64,
    /// Operation name, or `"unknown"` when no operation matched.
    pub operation: String,
    pub method: String,
    /// Path and query as received.
    pub path: String,
    /// HTTP status sent; 0 when the connection was dropped before a reply.
    pub status: u16,
    pub access_key: Option<String>,
    /// `ok`, `error`, `replayed` (clientToken), `dropped-before`,
    /// `dropped-after`, `throttled`, `injected`.
    pub outcome: String,
}

/// How many calls one endpoint served for one account, for
/// `GET /_sim/endpoint-calls` and `SimHandle::endpoint_calls`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCount {
    /// `huawei` or `baidu`.
    pub cloud: String,
    /// The access key that signed the calls; empty for calls whose
    /// signature was not verified.
    pub account: String,
    pub method: String,
    /// The documented path template, e.g. `/v3/{project_id}/ports`;
    /// `(no such operation)` for a cloud path that matched none.
    pub path: String,
    /// The call only reads (a write changes or may change the cloud).
    pub read: bool,
    /// Calls of any outcome (refused, throttled and failed ones included).
    pub count: u64,
}

/// One page of `items` (already in their stable order) after `marker`
/// (Huawei semantics: the marker is the last id of the previous page).
/// Returns the page and whether more follow.
pub fn page_after<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    marker: Option<&str>,
    limit: usize,
) -> (Vec<T>, bool) {
    let start = match marker {
        Some(m) if !m.is_empty() => items
            .iter()
            .position(|x| id(x) == m)
            .map(|i| i + 1)
            // A marker that no longer exists: resume after where it sorted.
            .unwrap_or_else(|| items.iter().take_while(|x| id(x) < m).count()),
        _ => 0,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let more = start + page.len() < total;
    (page, more)
}

/// Huawei `page_info` for a page.
pub fn hw_page_info<T>(page: &[T], id: impl Fn(&T) -> &str, more: bool) -> Value {
    let mut info = serde_json::json!({
        "previous_marker": page.first().map(&id).unwrap_or(""),
        "current_count": page.len(),
    });
    if more && let (Some(last), Some(obj)) = (page.last(), info.as_object_mut()) {
        obj.insert("next_marker".into(), Value::String(id(last).to_string()));
    }
    info
}

/// Huawei-style times, e.g. `2023-05-10T01:35:02.000+00:00`.
pub fn hw_time(now: jiff::Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%S.000+00:00").to_string()
}

/// Baidu-style times, e.g. `2024-09-13T06:25:19Z`.
pub fn bd_time(now: jiff::Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A fresh Huawei-style UUID.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh Baidu-style short id such as `g-1a2b3c4d5e6f`.
pub fn new_short_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &hex[..12])
}

/// A Huawei request id (32 hex digits).
pub fn hw_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `s` is a hyphenated UUID (any version).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Parse a JSON request body; `None` for an empty or malformed one.
pub fn parse_body(body: &[u8]) -> Option<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_after_marker() {
        let ids = vec!["a", "b", "c", "d", "e"];
        let (p, more) = page_after(ids.clone(), |x| x, None, 2);
        assert_eq!((p, more), (vec!["a", "b"], true));
        let (p, more) = page_after(ids.clone(), |x| x, Some("b"), 2);
        assert_eq!((p, more), (vec!["c", "d"], true));
        let (p, more) = page_after(ids.clone(), |x| x, Some("d"), 2);
        assert_eq!((p, more), (vec!["e"], false));
        let (p, more) = page_after(ids, |x| x, Some("bb"), 10);
        assert_eq!((p, more), (vec!["c", "d", "e"], false));
    }

    #[test]
    fn uuid_shape() {
        assert!(is_uuid("99fd0c77-56b4-4bf6-8365-df352e45d5fc"));
        assert!(!is_uuid("99fd0c77-56b4-4bf6-8365-df352e45d5fz"));
        assert!(!is_uuid("99fd0c7756b44bf68365df352e45d5fc"));
    }
}
