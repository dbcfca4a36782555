//! SDK-HMAC-SHA256, the signature Huawei Cloud's API gateway checks.
//!
//! Pure functions of (request parts, credentials, time): nothing here reads
//! the clock or the environment. Each stage is public so it can be tested on
//! its own against the published vectors (`tests/fixtures/signing/`):
//!
//! ```text
//! CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n hex(sha256(body))
//! StringToSign     = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex(sha256(CanonicalRequest))
//! Signature        = hex(hmac_sha256(SK, StringToSign))
//! Authorization    = SDK-HMAC-SHA256 Access={AK}, SignedHeaders={h1;h2}, Signature={hex}
//! ```

use hmac::{KeyInit, Mac};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::cloud::Credentials;
use crate::cloud::percent::uri_encode;

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// The date header; always signed.
pub const DATE_HEADER: &str = "X-Sdk-Date";

/// The parts of a request that the signature covers.
#[derive(Clone, Copy, Debug)]
pub struct SigningRequest<'a> {
    /// `GET`, `PUT`, ... (upper-cased when signed).
    pub method: &'a str,
    /// The path, not percent-encoded: `/v3/{project}/ports/{id}`.
    pub path: &'a str,
    /// Query parameters, not percent-encoded, in any order.
    pub query: &'a [(String, String)],
    /// Every header to sign (name in any case). [`sign`] adds `X-Sdk-Date`.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// `X-Sdk-Date`: `YYYYMMDDTHHMMSSZ` in UTC.
pub fn sdk_date(time: Timestamp) -> String {
    time.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Each path segment encoded, and always ending in `/`.
pub fn canonical_uri(path: &str) -> String {
    let mut out = path
        .split('/')
        .map(|segment| uri_encode(segment, false))
        .collect::<Vec<_>>()
        .join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Parameters sorted by key then value, each encoded, joined by `&`.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = query.iter().collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&")
}

fn normalized_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    out.sort();
    out
}

/// `name:value\n` per header, names lower-cased, sorted.
pub fn canonical_headers(headers: &[(String, String)]) -> String {
    normalized_headers(headers)
        .iter()
        .map(|(k, v)| format!("{k}:{v}\n"))
        .collect()
}

/// Lower-cased header names, sorted, joined by `;`.
pub fn signed_headers(headers: &[(String, String)]) -> String {
    normalized_headers(headers)
        .into_iter()
        .map(|(k, _)| k)
        .collect::<Vec<_>>()
        .join(";")
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The canonical request; `req.headers` must already hold `X-Sdk-Date`.
pub fn canonical_request(req: &SigningRequest<'_>) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(req.path),
        canonical_query(req.query),
        canonical_headers(req.headers),
        signed_headers(req.headers),
        sha256_hex(req.body),
    )
}

pub fn string_to_sign(canonical_request: &str, sdk_date: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

pub fn signature(secret_key: &str, string_to_sign: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret_key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn authorization(access_key: &str, signed_headers: &str, signature: &str) -> String {
    format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

/// The two headers a signed request carries.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// Value of `X-Sdk-Date`.
    pub sdk_date: String,
    /// Value of `Authorization`.
    pub authorization: String,
}

impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The Authorization value is a bearer of the request: keep it out of logs.
        f.debug_struct("Signed")
            .field("sdk_date", &self.sdk_date)
            .field("authorization", &"<redacted>")
            .finish()
    }
}

/// Sign `req` at `time`. `X-Sdk-Date` is added to the signed headers (an
/// `X-Sdk-Date` already in `req.headers` is replaced by the one for `time`).
pub fn sign(req: &SigningRequest<'_>, credentials: &Credentials, time: Timestamp) -> Signed {
    let date = sdk_date(time);
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(DATE_HEADER))
        .cloned()
        .collect();
    headers.push((DATE_HEADER.to_string(), date.clone()));
    let full = SigningRequest {
        headers: &headers,
        ..*req
    };
    let canonical = canonical_request(&full);
    let sts = string_to_sign(&canonical, &date);
    let sig = signature(credentials.secret_key(), &sts);
    Signed {
        authorization: authorization(&credentials.access_key, &signed_headers(&headers), &sig),
        sdk_date: date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn uri_always_ends_in_slash_and_encodes_segments() {
        assert_eq!(canonical_uri("/v3/p/ports"), "/v3/p/ports/");
        assert_eq!(canonical_uri("/v3/p/ports/"), "/v3/p/ports/");
        assert_eq!(canonical_uri("/a b/c:d"), "/a%20b/c%3Ad/");
    }

    #[test]
    fn query_sorted_by_key_then_value() {
        let q = vec![
            h("marker", "x"),
            h("id", "b"),
            h("id", "a"),
            h("a b", "c/d"),
        ];
        assert_eq!(canonical_query(&q), "a%20b=c%2Fd&id=a&id=b&marker=x");
        assert_eq!(canonical_query(&[]), "");
    }

    #[test]
    fn headers_lowercased_trimmed_sorted() {
        let hs = vec![
            h("X-Sdk-Date", " 1 "),
            h("Host", "h"),
            h("Content-Type", "j"),
        ];
        assert_eq!(
            canonical_headers(&hs),
            "content-type:j\nhost:h\nx-sdk-date:1\n"
        );
        assert_eq!(signed_headers(&hs), "content-type;host;x-sdk-date");
    }

    #[test]
    fn sign_adds_the_date_and_changes_with_every_input() {
        let creds = Credentials::new("AK", "SK");
        let t: Timestamp = "2006-01-02T15:04:05Z".parse().unwrap();
        let headers = vec![h("Host", "example.com")];
        let req = SigningRequest {
            method: "GET",
            path: "/path",
            query: &[],
            headers: &headers,
            body: b"",
        };
        let s = sign(&req, &creds, t);
        assert_eq!(s.sdk_date, "20060102T150405Z");
        assert!(
            s.authorization.starts_with(
                "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature="
            )
        );
        let later = sign(&req, &creds, "2006-01-02T15:04:06Z".parse().unwrap());
        assert_ne!(s.authorization, later.authorization);
        let other_body = sign(&SigningRequest { body: b"x", ..req }, &creds, t);
        assert_ne!(s.authorization, other_body.authorization);
        let other_key = sign(&req, &Credentials::new("AK", "SK2"), t);
        assert_ne!(s.authorization, other_key.authorization);
        assert!(!format!("{s:?}").contains("Signature="));
    }
}
