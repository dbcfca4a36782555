//! Test-only clients for the simulator tests: tiny signers written from the
//! algorithms in `shared/cloud-api-notes.md` (deliberately not reusing
//! `sim::sign`, so the verifier is checked against an independent signer)
//! and helpers to start a simulator with a fixed clock.

use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

use secgroup_controller::sim::{self, HwRule, SimClock, SimHandle, SimOptions, SimState};

pub const HW_AK: &str = "HWTESTAK0000000000001";
pub const HW_SK: &str = "hw-test-secret-key";
pub const HW_PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub const BD_AK: &str = "bdtestak00000000000000000000001";
pub const BD_SK: &str = "bd-test-secret-key";

/// The fixed time every test simulator runs at.
pub fn now() -> jiff::Timestamp {
    "2026-03-01T12:00:00Z".parse().expect("valid constant time")
}

pub async fn start(state: SimState) -> SimHandle {
    start_with(state, SimOptions::default()).await
}

pub async fn start_with(state: SimState, mut opts: SimOptions) -> SimHandle {
    opts.clock = SimClock::Fixed(now());
    sim::start(state, opts).await.expect("simulator starts")
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .build()
        .expect("client builds (test setup)")
}

/// The JSON an open (loopback, no token) admin endpoint serves, e.g.
/// `admin_get(&sim, "/_sim/log")`.
pub async fn admin_get(sim: &SimHandle, path: &str) -> Value {
    http()
        .get(format!("{}{path}", sim.url()))
        .send()
        .await
        .expect("reaches the simulator")
        .json()
        .await
        .expect("the admin endpoint answers JSON")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn enc(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The answer: status, headers, JSON body (Null when empty).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Huawei v3 / Baidu error message.
    pub fn message(&self) -> String {
        ["error_msg", "message"]
            .iter()
            .find_map(|k| self.body.get(*k).and_then(Value::as_str))
            .unwrap_or("")
            .to_string()
    }

    /// Huawei v3 / Baidu error code.
    pub fn code(&self) -> String {
        ["error_code", "code"]
            .iter()
            .find_map(|k| self.body.get(*k).and_then(Value::as_str))
            .unwrap_or("")
            .to_string()
    }
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body reads");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// A signed request as it goes on the wire, for tests that alter one
/// (replay with another body, move the signature into the query).
#[derive(Clone, Debug)]
pub struct RawRequest {
    pub method: String,
    pub url: String,
    /// Sent as given (reqwest adds `host`).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
    }

    pub fn remove_header(&mut self, name: &str) -> Option<String> {
        let found = self.header(name).map(str::to_string);
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        found
    }
}

async fn send_raw(http: &reqwest::Client, raw: &RawRequest) -> Result<Answer, reqwest::Error> {
    let mut req = http.request(
        Method::from_bytes(raw.method.as_bytes()).expect("method"),
        &raw.url,
    );
    for (k, v) in &raw.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if !raw.body.is_empty() {
        req = req.body(raw.body.clone());
    }
    let resp = req.send().await?;
    Ok(answer(resp).await)
}

/// How a Huawei request is signed (tests vary these to provoke rejections).
#[derive(Clone)]
pub struct HwSigner {
    pub ak: String,
    pub sk: String,
    pub date: jiff::Timestamp,
    /// Sign `x-sdk-date` (required by the gateway).
    pub sign_date: bool,
}

/// A minimal Huawei client.
pub struct Hw {
    pub base: String,
    pub host: String,
    pub project: String,
    pub signer: HwSigner,
    http: reqwest::Client,
}

impl Hw {
    pub fn new(sim: &SimHandle) -> Self {
        Self {
            base: sim.url(),
            host: sim.addr().to_string(),
            project: HW_PROJECT.into(),
            signer: HwSigner {
                ak: HW_AK.into(),
                sk: HW_SK.into(),
                date: now(),
                sign_date: true,
            },
            http: http(),
        }
    }

    /// `path` may contain `{p}` for the project id.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        self.try_call(method, path, query, body)
            .await
            .expect("request reaches the simulator")
    }

    /// Like `call`, but a transport error (a dropped connection) is returned.
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Answer, reqwest::Error> {
        let body_bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let raw = self.sign(method, path, query, body_bytes, &[], None);
        send_raw(&self.http, &raw).await
    }

    /// Sign a request without sending it. `extra` headers are sent and
    /// signed; `payload_hash` replaces the body's SHA-256 in the canonical
    /// request (what a signer sending `X-Sdk-Content-Sha256` does). A JSON
    /// content type is set for a non-empty body unless `extra` sets one.
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Vec<u8>,
        extra: &[(&str, &str)],
        payload_hash: Option<&str>,
    ) -> RawRequest {
        let path = path.replace("{p}", &self.project);
        let mut q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        q.sort();
        let canonical_query = q
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k, false), enc(v, false)))
            .collect::<Vec<_>>()
            .join("&");
        let date = self.signer.date.strftime("%Y%m%dT%H%M%SZ").to_string();
        let mut headers: Vec<(String, String)> = vec![("host".into(), self.host.clone())];
        if !body.is_empty()
            && !extra
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("content-type".into(), "application/json".into()));
        }
        for (k, v) in extra {
            headers.push((k.to_ascii_lowercase(), v.to_string()));
        }
        if self.signer.sign_date {
            headers.push(("x-sdk-date".into(), date.clone()));
        }
        headers.sort();
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let mut uri = path
            .split('/')
            .map(|s| enc(s, false))
            .collect::<Vec<_>>()
            .join("/");
        if !uri.ends_with('/') {
            uri.push('/');
        }
        let hash = match payload_hash {
            Some(h) => h.to_string(),
            None => hex::encode(Sha256::digest(&body)),
        };
        let canonical = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            method,
            uri,
            canonical_query,
            canonical_headers,
            signed.join(";"),
            hash
        );
        let sts = format!(
            "SDK-HMAC-SHA256\n{}\n{}",
            date,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let sig = hex::encode(hmac(self.signer.sk.as_bytes(), sts.as_bytes()));
        let url = if canonical_query.is_empty() {
            format!("{}{}", self.base, path)
        } else {
            format!("{}{}?{}", self.base, path, canonical_query)
        };
        let authorization = format!(
            "SDK-HMAC-SHA256 Access={}, SignedHeaders={}, Signature={}",
            self.signer.ak,
            signed.join(";"),
            sig
        );
        let mut sent: Vec<(String, String)> =
            headers.into_iter().filter(|(k, _)| k != "host").collect();
        if !self.signer.sign_date {
            sent.push(("x-sdk-date".into(), date));
        }
        sent.push(("x-project-id".into(), self.project.clone()));
        sent.push(("authorization".into(), authorization));
        RawRequest {
            method: method.to_string(),
            url,
            headers: sent,
            body,
        }
    }

    /// Send a request made by [`Hw::sign`] (perhaps altered since).
    pub async fn send(&self, raw: &RawRequest) -> Answer {
        send_raw(&self.http, raw)
            .await
            .expect("request reaches the simulator")
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.call("GET", path, query, None).await
    }

    /// The ids of a successful list (`key` names the list in the body).
    pub async fn list_ids(&self, path: &str, query: &[(&str, &str)], key: &str) -> Vec<String> {
        let a = self.get(path, query).await;
        assert_eq!(a.status, 200, "{query:?}: {}", a.body);
        ids(&a.body, key)
    }
}

/// How a Baidu request is signed.
#[derive(Clone)]
pub struct BdSigner {
    pub ak: String,
    pub sk: String,
    pub date: jiff::Timestamp,
    pub expiration: u64,
    /// Empty: sign the default set and send an empty signed-headers field.
    pub signed_headers: Vec<String>,
}

/// A minimal Baidu client.
pub struct Bd {
    pub base: String,
    pub host: String,
    pub signer: BdSigner,
    http: reqwest::Client,
}

impl Bd {
    pub fn new(sim: &SimHandle) -> Self {
        Self {
            base: sim.url(),
            host: sim.addr().to_string(),
            signer: BdSigner {
                ak: BD_AK.into(),
                sk: BD_SK.into(),
                date: now(),
                expiration: 1800,
                signed_headers: vec!["host".into(), "x-bce-date".into()],
            },
            http: http(),
        }
    }

    /// Send; a query value of `None` is a bare flag such as `authorizeRule`.
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, Option<&str>)],
        body: Option<Value>,
    ) -> Result<Answer, reqwest::Error> {
        let raw = self.sign(method, path, query, body);
        send_raw(&self.http, &raw).await
    }

    /// Sign a request without sending it (the authorization in a header).
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, Option<&str>)],
        body: Option<Value>,
    ) -> RawRequest {
        let body_bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let ts = self.signer.date.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let prefix = format!(
            "bce-auth-v1/{}/{}/{}",
            self.signer.ak, ts, self.signer.expiration
        );
        let key = hex::encode(hmac(self.signer.sk.as_bytes(), prefix.as_bytes()));
        let mut pairs: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k, false), enc(v.unwrap_or(""), false)))
            .collect();
        pairs.sort();
        let canonical_query = pairs.join("&");
        let wire_query = query
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{}={}", enc(k, false), enc(v, false)),
                None => enc(k, false),
            })
            .collect::<Vec<_>>()
            .join("&");
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), self.host.clone()),
            ("x-bce-date".into(), ts.clone()),
        ];
        if !body_bytes.is_empty() {
            headers.push(("content-type".into(), "application/json".into()));
            headers.push(("content-length".into(), body_bytes.len().to_string()));
        }
        let mut lines: Vec<String> = headers
            .iter()
            .filter(|(k, _)| {
                self.signer.signed_headers.is_empty() || self.signer.signed_headers.contains(k)
            })
            .map(|(k, v)| format!("{}:{}", enc(k, false), enc(v.trim(), false)))
            .collect();
        lines.sort();
        let canonical = format!(
            "{}\n{}\n{}\n{}",
            method,
            enc(path, true),
            canonical_query,
            lines.join("\n")
        );
        let sig = hex::encode(hmac(key.as_bytes(), canonical.as_bytes()));
        let auth = format!(
            "{}/{}/{}",
            prefix,
            self.signer.signed_headers.join(";"),
            sig
        );
        let url = if wire_query.is_empty() {
            format!("{}{}", self.base, path)
        } else {
            format!("{}{}?{}", self.base, path, wire_query)
        };
        let mut sent = vec![
            ("x-bce-date".to_string(), ts),
            ("authorization".to_string(), auth),
        ];
        if !body_bytes.is_empty() {
            sent.push(("content-type".into(), "application/json".into()));
        }
        RawRequest {
            method: method.to_string(),
            url,
            headers: sent,
            body: body_bytes,
        }
    }

    /// Send a request made by [`Bd::sign`] (perhaps altered since).
    pub async fn send(&self, raw: &RawRequest) -> Answer {
        send_raw(&self.http, raw)
            .await
            .expect("request reaches the simulator")
    }

    /// The same request with its authorization moved from the header into
    /// the query string (`?authorization=`), which bce-auth-v1 allows.
    pub fn with_query_authorization(raw: &RawRequest) -> RawRequest {
        let mut moved = raw.clone();
        let auth = moved.remove_header("authorization").unwrap_or_default();
        let sep = if moved.url.contains('?') { '&' } else { '?' };
        moved.url = format!("{}{sep}authorization={}", moved.url, enc(&auth, false));
        moved
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, Option<&str>)],
        body: Option<Value>,
    ) -> Answer {
        self.try_call(method, path, query, body)
            .await
            .expect("request reaches the simulator")
    }
}

/// The `id` of each object in the list `v[key]`.
pub fn ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A Huawei rule for seeded states: ingress tcp 22 from 10.0.0.0/8,
/// priority 1, enabled, no times (the simulator fills them).
pub fn hw_rule(id: &str) -> HwRule {
    HwRule {
        id: id.into(),
        description: String::new(),
        direction: "ingress".into(),
        protocol: Some("tcp".into()),
        ethertype: "IPv4".into(),
        multiport: Some("22".into()),
        action: "allow".into(),
        priority: 1,
        remote_ip_prefix: Some("10.0.0.0/8".into()),
        remote_group_id: None,
        remote_address_group_id: None,
        enabled: true,
        created_at: String::new(),
        updated_at: String::new(),
    }
}

/// Hyphenated UUIDs for fixtures: `uuid(1)` is `00000000-0000-4000-8000-000000000001`.
pub fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}
