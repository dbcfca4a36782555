//! bce-auth-v1, the signature Baidu AI Cloud checks.
//!
//! Pure functions of (request parts, credentials, time): nothing here reads
//! the clock. Each stage is public and tested against the published vector
//! (`tests/fixtures/signing/`):
//!
//! ```text
//! prefix        = bce-auth-v1/{AK}/{YYYY-MM-DDThh:mm:ssZ}/{expirationSeconds}
//! signingKey    = hex(hmac_sha256(SK, prefix))          -- the hex text is the next key
//! Canonical     = METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders
//! signature     = hex(hmac_sha256(signingKey, Canonical))
//! Authorization = prefix / signedHeaders / signature
//! ```

use hmac::{KeyInit, Mac};
use jiff::Timestamp;
use sha2::Sha256;

use crate::cloud::Credentials;
use crate::cloud::percent::uri_encode;

/// How long a signature stays valid unless said otherwise (the SDK's default).
pub const DEFAULT_EXPIRATION_SECS: u32 = 1800;
/// The date header; always signed by [`sign`].
pub const DATE_HEADER: &str = "x-bce-date";

/// The parts of a request that the signature covers.
#[derive(Clone, Copy, Debug)]
pub struct SigningRequest<'a> {
    pub method: &'a str,
    /// The path, not percent-encoded: `/v2/securityGroup/g-1`.
    pub path: &'a str,
    /// Query parameters, not percent-encoded; a bare flag such as
    /// `revokeRule` is `("revokeRule", "")`.
    pub query: &'a [(String, String)],
    /// Headers of the request (name in any case).
    pub headers: &'a [(String, String)],
}

/// Which headers the signature covers.
#[derive(Clone, Copy, Debug)]
pub enum HeadersToSign<'a> {
    /// These names (any case); listed in the Authorization header.
    Listed(&'a [&'a str]),
    /// The service's default set (`host`, `content-length`, `content-type`,
    /// `content-md5`, every `x-bce-*` but `x-bce-request-id`); the
    /// Authorization header's signed-headers field is then empty.
    Default,
}

/// `YYYY-MM-DDThh:mm:ssZ` in UTC, as in `x-bce-date` and the prefix.
pub fn bce_date(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `bce-auth-v1/{AK}/{date}/{expiration}`.
pub fn auth_prefix(access_key: &str, time: Timestamp, expiration_secs: u32) -> String {
    format!(
        "bce-auth-v1/{access_key}/{}/{expiration_secs}",
        bce_date(time)
    )
}

fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// Lower-case hex of `hmac_sha256(SK, prefix)`.
pub fn signing_key(secret_key: &str, prefix: &str) -> String {
    hmac_hex(secret_key.as_bytes(), prefix.as_bytes())
}

/// The path encoded with `/` kept.
pub fn canonical_uri(path: &str) -> String {
    uri_encode(path, true)
}

/// `k=v` per parameter (both encoded; `authorization` left out), sorted as
/// encoded strings, joined by `&`.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<String> = query
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect();
    pairs.sort();
    pairs.join("&")
}

fn is_default_signed(name: &str) -> bool {
    matches!(
        name,
        "host" | "content-length" | "content-type" | "content-md5"
    ) || (name.starts_with("x-bce-") && name != "x-bce-request-id")
}

/// `encode(name):encode(value)` per signed header with a non-empty value,
/// sorted, joined by `\n`.
pub fn canonical_headers(headers: &[(String, String)], which: HeadersToSign<'_>) -> String {
    let mut lines: Vec<String> = headers
        .iter()
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
        .filter(|(k, v)| {
            !v.is_empty()
                && match which {
                    HeadersToSign::Listed(names) => {
                        names.iter().any(|n| n.trim().eq_ignore_ascii_case(k))
                    }
                    HeadersToSign::Default => is_default_signed(k),
                }
        })
        .map(|(k, v)| format!("{}:{}", uri_encode(&k, false), uri_encode(v, false)))
        .collect();
    lines.sort();
    lines.join("\n")
}

/// The signed-headers field of the Authorization header.
pub fn signed_headers_field(which: HeadersToSign<'_>) -> String {
    match which {
        HeadersToSign::Listed(names) => {
            let mut names: Vec<String> = names
                .iter()
                .map(|n| n.trim().to_ascii_lowercase())
                .collect();
            names.sort();
            names.dedup();
            names.join(";")
        }
        HeadersToSign::Default => String::new(),
    }
}

pub fn canonical_request(req: &SigningRequest<'_>, which: HeadersToSign<'_>) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(req.path),
        canonical_query(req.query),
        canonical_headers(req.headers, which)
    )
}

/// `hex(hmac_sha256(signingKey, canonical))`, the key used as its hex text.
pub fn signature(signing_key: &str, canonical_request: &str) -> String {
    hmac_hex(signing_key.as_bytes(), canonical_request.as_bytes())
}

pub fn authorization(prefix: &str, which: HeadersToSign<'_>, signature: &str) -> String {
    format!("{prefix}/{}/{signature}", signed_headers_field(which))
}

/// The `Authorization` value for `req` at `time`. `req.headers` must carry
/// `x-bce-date` set to [`bce_date`]`(time)` when it is to be signed.
pub fn sign(
    req: &SigningRequest<'_>,
    which: HeadersToSign<'_>,
    credentials: &Credentials,
    time: Timestamp,
    expiration_secs: u32,
) -> String {
    let prefix = auth_prefix(&credentials.access_key, time, expiration_secs);
    let key = signing_key(credentials.secret_key(), &prefix);
    let sig = signature(&key, &canonical_request(req, which));
    authorization(&prefix, which, &sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn bare_flags_become_key_equals_and_sort_as_encoded_text() {
        let q = vec![
            h("sgVersion", "3"),
            h("revokeRule", ""),
            h("clientToken", "a b"),
            h("authorization", "x"),
        ];
        assert_eq!(
            canonical_query(&q),
            "clientToken=a%20b&revokeRule=&sgVersion=3"
        );
        // Sorting is on the encoded `k=v` text, as the service does it:
        // `a-b=` sorts before `a=` because `-` < `=`.
        let q = vec![h("a", "1"), h("a-b", "2")];
        assert_eq!(canonical_query(&q), "a-b=2&a=1");
    }

    #[test]
    fn headers_encoded_and_filtered() {
        let hs = vec![
            h("Host", "bcc.bj.baidubce.com"),
            h("x-bce-date", "2015-04-27T08:23:49Z"),
            h("x-bce-request-id", "r"),
            h("User-Agent", "ua"),
            h("Content-Type", ""),
        ];
        assert_eq!(
            canonical_headers(&hs, HeadersToSign::Default),
            "host:bcc.bj.baidubce.com\nx-bce-date:2015-04-27T08%3A23%3A49Z"
        );
        assert_eq!(
            canonical_headers(&hs, HeadersToSign::Listed(&["Host"])),
            "host:bcc.bj.baidubce.com"
        );
        assert_eq!(
            signed_headers_field(HeadersToSign::Listed(&["x-bce-date", "Host"])),
            "host;x-bce-date"
        );
    }

    #[test]
    fn sign_depends_on_every_input() {
        let creds = Credentials::new("ak", "sk");
        let t: Timestamp = "2015-04-27T08:23:49Z".parse().unwrap();
        let headers = vec![h("host", "h"), h("x-bce-date", &bce_date(t))];
        let req = SigningRequest {
            method: "GET",
            path: "/v2/securityGroup",
            query: &[],
            headers: &headers,
        };
        let which = HeadersToSign::Listed(&["host", "x-bce-date"]);
        let a = sign(&req, which, &creds, t, 1800);
        assert!(a.starts_with("bce-auth-v1/ak/2015-04-27T08:23:49Z/1800/host;x-bce-date/"));
        assert_ne!(a, sign(&req, which, &creds, t, 60));
        assert_ne!(
            a,
            sign(&req, which, &Credentials::new("ak", "sk2"), t, 1800)
        );
        let q = vec![h("bind", "")];
        assert_ne!(
            a,
            sign(&SigningRequest { query: &q, ..req }, which, &creds, t, 1800)
        );
    }
}
