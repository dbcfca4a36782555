//! Signature verification for both clouds, written from the published
//! algorithms (see `shared/cloud-api-notes.md`), independent of any client.
//!
//! Every stage is a pure function so each can be tested against the published
//! vectors: canonical request, string to sign, signature. Time is always
//! passed in; nothing here reads a clock.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this never fails; an empty result
    // would only make a verification fail, never pass.
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time comparison of two ASCII hex signatures.
pub fn signatures_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Percent-encode every byte except the unreserved `A-Z a-z 0-9 - _ . ~`
/// (uppercase hex); `/` is kept only when `keep_slash`.
pub fn uri_encode(input: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input.as_bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode `%XX` escapes (a `+` stays a `+`). Invalid escapes are kept
/// literally; invalid UTF-8 is replaced, which then fails verification.
pub fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hi = char::from(bytes[i + 1]).to_digit(16);
            let lo = char::from(bytes[i + 2]).to_digit(16);
            if let (Some(h), Some(l)) = (hi, lo) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Split a raw query string into decoded `(key, value)` pairs in order. A
/// bare `flag` becomes `("flag", "")`.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

// ---------------------------------------------------------------- Huawei

/// Huawei's signing algorithm name, first token of `Authorization`.
pub const HUAWEI_ALGORITHM: &str = "SDK-HMAC-SHA256";

/// The parts of a Huawei `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuaweiAuthorization {
    pub access_key: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parse `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`.
pub fn parse_huawei_authorization(value: &str) -> Option<HuaweiAuthorization> {
    let rest = value.trim().strip_prefix(HUAWEI_ALGORITHM)?;
    if !rest.starts_with(' ') {
        return None;
    }
    let (mut ak, mut sh, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k.trim() {
            "Access" => ak = Some(v.trim().to_string()),
            "SignedHeaders" => {
                sh = Some(
                    v.trim()
                        .split(';')
                        .filter(|h| !h.is_empty())
                        .map(|h| h.to_ascii_lowercase())
                        .collect::<Vec<_>>(),
                )
            }
            "Signature" => sig = Some(v.trim().to_string()),
            _ => return None,
        }
    }
    Some(HuaweiAuthorization {
        access_key: ak.filter(|a| !a.is_empty())?,
        signed_headers: sh?,
        signature: sig?,
    })
}

/// Huawei canonical URI: decode the path, encode each segment, end in `/`.
pub fn huawei_canonical_uri(raw_path: &str) -> String {
    let decoded = percent_decode(raw_path);
    let mut uri = decoded
        .split('/')
        .map(|seg| uri_encode(seg, false))
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// Huawei canonical query: decoded pairs sorted by key then value, each
/// re-encoded, joined by `&`.
pub fn huawei_canonical_query(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical-headers block: `name:trimmed value\n` for each signed header
/// in the order given. `header` looks a lowercase name up in the request.
pub fn huawei_canonical_headers<'a>(
    signed: &[String],
    header: impl Fn(&str) -> Option<&'a str>,
) -> String {
    let mut out = String::new();
    for name in signed {
        out.push_str(name);
        out.push(':');
        out.push_str(header(name).unwrap_or("").trim());
        out.push('\n');
    }
    out
}

/// The full canonical request.
pub fn huawei_canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &[String],
    payload_hash: &str,
) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        canonical_uri,
        canonical_query,
        canonical_headers,
        signed_headers.join(";"),
        payload_hash
    )
}

/// `SDK-HMAC-SHA256\n{x-sdk-date}\n{hex(sha256(canonical))}`.
pub fn huawei_string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!(
        "{HUAWEI_ALGORITHM}\n{sdk_date}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// `hex(hmac_sha256(SK, string_to_sign))`.
pub fn huawei_signature(secret_key: &str, string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(
        secret_key.as_bytes(),
        string_to_sign.as_bytes(),
    ))
}

/// The literal a Huawei signer puts in `X-Sdk-Content-Sha256` for a body
/// it does not hash.
pub const HUAWEI_UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The payload hash of a Huawei canonical request, computed as the official
/// signer (huaweicloudsdkcore `Signer`) computes it: an empty body hashes as
/// empty; `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` stands in for the hash
/// only where the signer sends it, for a body whose `Content-Type` is
/// neither `application/json` nor `application/bson`, and only when that
/// header and `content-type` are both signed. Anything else is the SHA-256
/// of the body received: a header value never vouches for a body, so a
/// captured request replayed with another body fails verification.
pub fn huawei_payload_hash(
    body: &[u8],
    content_type: Option<&str>,
    content_sha256: Option<&str>,
    signed_headers: &[String],
) -> String {
    if body.is_empty() {
        return sha256_hex(b"");
    }
    let signed = |name: &str| signed_headers.iter().any(|h| h == name);
    let unsigned_allowed = content_type.is_some_and(|ct| {
        let ct = ct.trim().to_ascii_lowercase();
        !ct.starts_with("application/json") && !ct.starts_with("application/bson")
    }) && signed("content-type")
        && signed("x-sdk-content-sha256");
    match content_sha256.map(str::trim) {
        Some(HUAWEI_UNSIGNED_PAYLOAD) if unsigned_allowed => HUAWEI_UNSIGNED_PAYLOAD.to_string(),
        _ => sha256_hex(body),
    }
}

/// Parse `YYYYMMDDTHHMMSSZ`.
pub fn parse_sdk_date(value: &str) -> Option<jiff::Timestamp> {
    let dt = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", value.trim()).ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

// ----------------------------------------------------------------- Baidu

/// The parts of a Baidu `bce-auth-v1` authorization string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaiduAuthorization {
    pub access_key: String,
    /// The timestamp text exactly as sent (it is part of the signing key).
    pub timestamp_text: String,
    pub timestamp: jiff::Timestamp,
    pub expiration_seconds: u64,
    /// Lowercase, possibly empty (then the default header set applies).
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl BaiduAuthorization {
    /// `bce-auth-v1/{ak}/{timestamp}/{expiration}`.
    pub fn prefix(&self) -> String {
        format!(
            "bce-auth-v1/{}/{}/{}",
            self.access_key, self.timestamp_text, self.expiration_seconds
        )
    }
}

/// Parse `bce-auth-v1/{ak}/{ts}/{exp}/{signedHeaders}/{signature}`.
pub fn parse_baidu_authorization(value: &str) -> Option<BaiduAuthorization> {
    let parts: Vec<&str> = value.trim().split('/').collect();
    if parts.len() != 6 || parts[0] != "bce-auth-v1" || parts[1].is_empty() {
        return None;
    }
    let timestamp = parse_bce_date(parts[2])?;
    let expiration_seconds = parts[3].parse().ok()?;
    Some(BaiduAuthorization {
        access_key: parts[1].to_string(),
        timestamp_text: parts[2].to_string(),
        timestamp,
        expiration_seconds,
        signed_headers: parts[4]
            .split(';')
            .filter(|h| !h.is_empty())
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        signature: parts[5].to_string(),
    })
}

/// Parse `YYYY-MM-DDThh:mm:ssZ`.
pub fn parse_bce_date(value: &str) -> Option<jiff::Timestamp> {
    let dt = jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M:%SZ", value).ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// `lowercase hex(hmac_sha256(SK, prefix))`, itself the key of the next step.
pub fn baidu_signing_key(secret_key: &str, prefix: &str) -> String {
    hex::encode(hmac_sha256(secret_key.as_bytes(), prefix.as_bytes()))
}

/// Baidu canonical URI: the decoded path encoded with `/` kept.
pub fn baidu_canonical_uri(raw_path: &str) -> String {
    uri_encode(&percent_decode(raw_path), true)
}

/// Baidu canonical query: every pair but `authorization` as `k=v` (both
/// encoded), sorted as strings, joined by `&`.
pub fn baidu_canonical_query(pairs: &[(String, String)]) -> String {
    let mut items: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect();
    items.sort();
    items.join("&")
}

/// Whether a header is in Baidu's default signed set.
pub fn baidu_default_signed(name: &str) -> bool {
    matches!(
        name,
        "host" | "content-length" | "content-type" | "content-md5"
    ) || (name.starts_with("x-bce-") && name != "x-bce-request-id")
}

/// Baidu canonical headers: for each header to sign that has a non-empty
/// value, `encode(name):encode(trimmed value)`, sorted, joined by `\n`.
/// `headers` holds (lowercase name, value) pairs from the request.
pub fn baidu_canonical_headers(headers: &[(String, String)], signed: &[String]) -> String {
    let mut items: Vec<String> = headers
        .iter()
        .filter(|(name, _)| {
            if signed.is_empty() {
                baidu_default_signed(name)
            } else {
                signed.iter().any(|s| s == name)
            }
        })
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(name, v)| {
            format!(
                "{}:{}",
                uri_encode(name, false),
                uri_encode(v.trim(), false)
            )
        })
        .collect();
    items.sort();
    items.join("\n")
}

/// `METHOD\nURI\nQUERY\nHEADERS` (no trailing newline, no body hash).
pub fn baidu_canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        canonical_uri,
        canonical_query,
        canonical_headers
    )
}

/// `hex(hmac_sha256(signing_key, canonical_request))`.
pub fn baidu_signature(signing_key: &str, canonical_request: &str) -> String {
    hex::encode(hmac_sha256(
        signing_key.as_bytes(),
        canonical_request.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn uri_encode_keeps_only_unreserved() {
        assert_eq!(uri_encode("a-b_c.d~e", false), "a-b_c.d~e");
        assert_eq!(uri_encode("a b/c", false), "a%20b%2Fc");
        assert_eq!(uri_encode("a b/c", true), "a%20b/c");
        assert_eq!(uri_encode("é", false), "%C3%A9");
        assert_eq!(percent_decode("a%20b%2fc%zz"), "a b/c%zz");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn huawei_vector_1_each_stage() {
        let uri = huawei_canonical_uri("/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs");
        assert_eq!(uri, "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/");
        let query = huawei_canonical_query(&parse_query(
            "marker=13551d6b-755d-4757-b956-536f674975c0&limit=2",
        ));
        assert_eq!(query, "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0");
        let signed = s(&["content-type", "host", "x-sdk-date"]);
        let headers = huawei_canonical_headers(&signed, |h| match h {
            "content-type" => Some("application/json"),
            "host" => Some("service.region.example.com"),
            "x-sdk-date" => Some("20191115T033655Z"),
            _ => None,
        });
        let canonical =
            huawei_canonical_request("GET", &uri, &query, &headers, &signed, &sha256_hex(b""));
        assert_eq!(
            canonical,
            "GET\n/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\nlimit=2&marker=13551d6b-755d-4757-b956-536f674975c0\ncontent-type:application/json\nhost:service.region.example.com\nx-sdk-date:20191115T033655Z\n\ncontent-type;host;x-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
        );
        let sts = huawei_string_to_sign("20191115T033655Z", &canonical);
        assert_eq!(
            sts,
            "SDK-HMAC-SHA256\n20191115T033655Z\nb25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
        );
        assert_eq!(
            huawei_signature("MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", &sts),
            "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        );
    }

    fn huawei_vector_2(method: &str, path: &str, query: &str, body: &[u8]) -> String {
        let signed = s(&["x-sdk-date"]);
        let headers = huawei_canonical_headers(&signed, |_| Some("20060102T150405Z"));
        let canonical = huawei_canonical_request(
            method,
            &huawei_canonical_uri(path),
            &huawei_canonical_query(&parse_query(query)),
            &headers,
            &signed,
            &sha256_hex(body),
        );
        huawei_signature(
            "SecretKey",
            &huawei_string_to_sign("20060102T150405Z", &canonical),
        )
    }

    #[test]
    fn huawei_vector_2_get_and_post() {
        assert_eq!(
            huawei_vector_2("GET", "/path", "limit=1", b""),
            "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
        );
        assert_eq!(
            huawei_vector_2(
                "POST",
                "/path",
                "key=value",
                b"{\"Name\":\"test\",\"Id\":1}\n"
            ),
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
        );
        // A changed body changes the signature.
        assert_ne!(
            huawei_vector_2(
                "POST",
                "/path",
                "key=value",
                b"{\"Name\":\"test\",\"Id\":2}\n"
            ),
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
        );
    }

    #[test]
    fn huawei_payload_hash_comes_from_the_body() {
        let signed = s(&["content-type", "host", "x-sdk-content-sha256", "x-sdk-date"]);
        let body = b"{\"a\":1}";
        let real = sha256_hex(body);
        // JSON body: the header never replaces the hash, whatever it says.
        for claimed in [Some("UNSIGNED-PAYLOAD"), Some("deadbeef"), None] {
            assert_eq!(
                huawei_payload_hash(body, Some("application/json"), claimed, &signed),
                real
            );
        }
        // Non-JSON body with both headers signed: the SDK's unsigned payload.
        assert_eq!(
            huawei_payload_hash(body, Some("text/plain"), Some("UNSIGNED-PAYLOAD"), &signed),
            "UNSIGNED-PAYLOAD"
        );
        // ...but not when the header itself is unsigned, and not for any
        // other claimed value.
        let unsigned = s(&["content-type", "host", "x-sdk-date"]);
        assert_eq!(
            huawei_payload_hash(
                body,
                Some("text/plain"),
                Some("UNSIGNED-PAYLOAD"),
                &unsigned
            ),
            real
        );
        assert_eq!(
            huawei_payload_hash(body, Some("text/plain"), Some("deadbeef"), &signed),
            real
        );
        assert_eq!(
            huawei_payload_hash(b"", Some("text/plain"), Some("UNSIGNED-PAYLOAD"), &signed),
            sha256_hex(b"")
        );
    }

    #[test]
    fn huawei_query_sorts_repeated_values_and_encodes() {
        let q = parse_query("b=2&a=z&a=y%20x&c");
        assert_eq!(huawei_canonical_query(&q), "a=y%20x&a=z&b=2&c=");
    }

    #[test]
    fn huawei_authorization_parses() {
        let a = parse_huawei_authorization(
            "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;X-Sdk-Date, Signature=abc",
        )
        .expect("parses");
        assert_eq!(a.access_key, "AK1");
        assert_eq!(a.signed_headers, s(&["host", "x-sdk-date"]));
        assert_eq!(a.signature, "abc");
        assert!(parse_huawei_authorization("SDK-HMAC-SHA256Access=AK1").is_none());
        assert!(parse_huawei_authorization("Basic xyz").is_none());
        assert!(
            parse_huawei_authorization("SDK-HMAC-SHA256 Access=, SignedHeaders=a, Signature=b")
                .is_none()
        );
        assert_eq!(
            parse_sdk_date("20191115T033655Z"),
            "2019-11-15T03:36:55Z".parse::<jiff::Timestamp>().ok()
        );
        assert!(parse_sdk_date("2019-11-15").is_none());
    }

    const BAIDU_HEADERS: &[(&str, &str)] = &[
        ("host", "bj.bcebos.com"),
        ("content-type", "text/plain"),
        ("content-length", "8"),
        ("content-md5", "NFzcPqhviddjRNnSOGo4rw=="),
        ("x-bce-date", "2015-04-27T08:23:49Z"),
    ];

    fn baidu_headers() -> Vec<(String, String)> {
        BAIDU_HEADERS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn baidu_vector_each_stage() {
        let prefix = "bce-auth-v1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/2015-04-27T08:23:49Z/1800";
        let key = baidu_signing_key("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", prefix);
        assert_eq!(
            key,
            "1d5ce5f464064cbee060330d973218821825ac6952368a482a592e6615aef479"
        );
        let uri = baidu_canonical_uri("/v1/test/myfolder/readme.txt");
        assert_eq!(uri, "/v1/test/myfolder/readme.txt");
        let query = baidu_canonical_query(&parse_query(
            "partNumber=9&uploadId=a44cc9bab11cbd156984767aad637851",
        ));
        assert_eq!(
            query,
            "partNumber=9&uploadId=a44cc9bab11cbd156984767aad637851"
        );

        let signed = s(&["host", "x-bce-date"]);
        let headers = baidu_canonical_headers(&baidu_headers(), &signed);
        assert_eq!(
            headers,
            "host:bj.bcebos.com\nx-bce-date:2015-04-27T08%3A23%3A49Z"
        );
        let canonical = baidu_canonical_request("PUT", &uri, &query, &headers);
        assert_eq!(
            baidu_signature(&key, &canonical),
            "1b8de5a23a56eef657c69f94c621e7acd227d049a4ba577f537d5e5cebf0cf32"
        );

        let all = baidu_canonical_headers(&baidu_headers(), &[]);
        let canonical = baidu_canonical_request("PUT", &uri, &query, &all);
        assert_eq!(
            baidu_signature(&key, &canonical),
            "d74a04362e6a848f5b39b15421cb449427f419c95a480fd6b8cf9fc783e2999e"
        );
    }

    #[test]
    fn baidu_query_flag_and_authorization_excluded() {
        let q = parse_query("revokeRule&clientToken=a%20b&authorization=x");
        assert_eq!(baidu_canonical_query(&q), "clientToken=a%20b&revokeRule=");
    }

    #[test]
    fn baidu_default_headers_skip_request_id_and_empty() {
        let h = vec![
            ("x-bce-request-id".to_string(), "r".to_string()),
            ("x-bce-date".to_string(), "d".to_string()),
            ("content-md5".to_string(), " ".to_string()),
            ("accept".to_string(), "json".to_string()),
        ];
        assert_eq!(baidu_canonical_headers(&h, &[]), "x-bce-date:d");
    }

    #[test]
    fn baidu_authorization_parses() {
        let a = parse_baidu_authorization(
            "bce-auth-v1/ak/2015-08-11T04:17:29Z/3600/host;x-bce-date/74c5",
        )
        .expect("parses");
        assert_eq!(a.access_key, "ak");
        assert_eq!(a.expiration_seconds, 3600);
        assert_eq!(a.signed_headers, s(&["host", "x-bce-date"]));
        assert_eq!(a.prefix(), "bce-auth-v1/ak/2015-08-11T04:17:29Z/3600");
        let empty = parse_baidu_authorization("bce-auth-v1/ak/2015-08-11T04:17:29Z/1800//ab")
            .expect("parses");
        assert!(empty.signed_headers.is_empty());
        assert!(
            parse_baidu_authorization("bce-auth-v2/ak/2015-08-11T04:17:29Z/1800//ab").is_none()
        );
        assert!(parse_baidu_authorization("bce-auth-v1/ak/yesterday/1800//ab").is_none());
        assert!(parse_baidu_authorization("bce-auth-v1/ak/2015-08-11T04:17:29Z/x//ab").is_none());
    }

    #[test]
    fn constant_time_compare() {
        assert!(signatures_equal("abc", "abc"));
        assert!(!signatures_equal("abc", "abd"));
        assert!(!signatures_equal("abc", "ab"));
    }
}
