//! Test-only clients for the simulator tests: tiny signers written from the
//! algorithms in `shared/cloud-api-notes.md` (deliberately not reusing
//! `sim::sign`, so the verifier is checked against an independent signer)
//! and helpers to start a simulator with a fixed clock.
#![allow(dead_code)]

use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

use secgroup_controller::sim::{self, SimClock, SimHandle, SimOptions, SimState};

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
        let path = path.replace("{p}", &self.project);
        let body_bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
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
        let mut headers: Vec<(&str, String)> = vec![("host", self.host.clone())];
        if !body_bytes.is_empty() {
            headers.push(("content-type", "application/json".into()));
        }
        if self.signer.sign_date {
            headers.push(("x-sdk-date", date.clone()));
        }
        headers.sort();
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
        let mut uri = path
            .split('/')
            .map(|s| enc(s, false))
            .collect::<Vec<_>>()
            .join("/");
        if !uri.ends_with('/') {
            uri.push('/');
        }
        let canonical = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            method,
            uri,
            canonical_query,
            canonical_headers,
            signed.join(";"),
            hex::encode(Sha256::digest(&body_bytes))
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
        let mut req = self
            .http
            .request(Method::from_bytes(method.as_bytes()).expect("method"), url)
            .header("x-sdk-date", date)
            .header("x-project-id", &self.project)
            .header(
                "authorization",
                format!(
                    "SDK-HMAC-SHA256 Access={}, SignedHeaders={}, Signature={}",
                    self.signer.ak,
                    signed.join(";"),
                    sig
                ),
            );
        if !body_bytes.is_empty() {
            req = req
                .header("content-type", "application/json")
                .body(body_bytes);
        }
        let resp = req.send().await?;
        Ok(answer(resp).await)
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.call("GET", path, query, None).await
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
        let mut req = self
            .http
            .request(Method::from_bytes(method.as_bytes()).expect("method"), url)
            .header("x-bce-date", ts)
            .header("authorization", auth);
        if !body_bytes.is_empty() {
            req = req
                .header("content-type", "application/json")
                .body(body_bytes);
        }
        let resp = req.send().await?;
        Ok(answer(resp).await)
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

/// Hyphenated UUIDs for fixtures: `uuid(1)` is `00000000-0000-4000-8000-000000000001`.
pub fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}
