//! Fuzz targets (proptest) for both signers' canonicalization.
//!
//! - Arbitrary methods, paths, queries, headers and bodies never make a
//!   signer panic, and the canonical forms are what the algorithms say
//!   (only unreserved characters and `%XX` escapes, query order does not
//!   matter).
//! - Sign then verify: a request signed by the client's signer, put on the
//!   wire the way the clients send it, is accepted by the simulator's
//!   independent verifier (`sim::sign`), and changing any signed part makes
//!   the verifier refuse it.
//! - End to end: the real clients, asked for arbitrary ids and tag values,
//!   never get a signature refusal from the simulator.
//!
//! CI runs a modest number of cases; a long run:
//! `PROPTEST_CASES=100000 cargo test --release --test cloud fuzz_signing`.

use secgroup_test_support::clients;
use secgroup_test_support::fuzz;

use std::collections::BTreeSet;

use jiff::Timestamp;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use secgroup_controller::cloud::baidu::sign as bd;
use secgroup_controller::cloud::huawei::sign as hw;
use secgroup_controller::cloud::{CloudError, CloudProvider, Credentials};
use secgroup_controller::sim::{self, SimState};

// ------------------------------------------------------------ strategies

/// Text that stresses encoders: any Unicode, printable ASCII, and the
/// characters with a meaning in URLs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,24}",
        "[%/?#&=+;:@ ~._*'()!$,\\[\\]-]{0,8}",
        Just(".".to_string()),
        Just("..".to_string()),
        Just(String::new()),
    ]
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_string()),
        Just("PUT".to_string()),
        Just("POST".to_string()),
        Just("DELETE".to_string()),
        "[a-zA-Z]{1,8}",
    ]
}

/// An absolute path of arbitrary (unencoded) segments.
fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(text(), 0..6).prop_map(|segs| format!("/{}", segs.join("/")))
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((text(), text()), 0..6)
}

/// Headers that can travel in HTTP: token names (unique ignoring case),
/// printable ASCII values. Names the signers or the verifiers treat
/// specially are left out; the tests add those themselves.
fn wire_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", "[ -~]{0,30}"), 0..6).prop_map(|hs| {
        let reserved = [
            "authorization",
            "x-sdk-date",
            "x-sdk-content-sha256",
            "x-bce-date",
        ];
        let mut seen = BTreeSet::new();
        hs.into_iter()
            .filter(|(k, _)| {
                let lower = k.to_ascii_lowercase();
                !reserved.contains(&lower.as_str()) && seen.insert(lower)
            })
            .collect()
    })
}

fn any_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((text(), text()), 0..6)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..256)
}

fn time() -> impl Strategy<Value = Timestamp> {
    // 1970 to 2096: inside both date formats' four-digit years.
    (0i64..4_000_000_000).prop_map(|s| Timestamp::from_second(s).expect("in jiff's range"))
}

fn access_key() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{1,40}"
}

fn secret_key() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[A-Za-z0-9]{1,64}"]
}

// ------------------------------------------------------------ the wire

/// The path as the clients put it in the URL (every byte but unreserved
/// characters and `/` escaped; the same rule the verifier re-applies).
fn wire_path(path: &str) -> String {
    sim::sign::uri_encode(path, true)
}

fn wire_query(query: &[(String, String)]) -> String {
    query
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                sim::sign::uri_encode(k, false),
                sim::sign::uri_encode(v, false)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Headers as a server sees them: lower-case names, values without the
/// surrounding whitespace HTTP strips.
fn wire_headers_seen(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

fn lookup<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

// ------------------------------------------------------------ verifiers

/// The simulator's Huawei check, composed from its public stages.
fn huawei_verifies(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(String, String)],
    body: &[u8],
    secret_key: &str,
) -> Result<(), String> {
    let auth = lookup(headers, "authorization").ok_or("no authorization")?;
    let auth = sim::sign::parse_huawei_authorization(auth).ok_or("unparsable authorization")?;
    if !auth.signed_headers.iter().any(|h| h == "x-sdk-date") {
        return Err("x-sdk-date not signed".into());
    }
    let date = lookup(headers, "x-sdk-date").ok_or("no x-sdk-date")?;
    sim::sign::parse_sdk_date(date).ok_or("bad x-sdk-date")?;
    let query = sim::sign::parse_query(raw_query);
    let canonical = sim::sign::huawei_canonical_request(
        method,
        &sim::sign::huawei_canonical_uri(raw_path),
        &sim::sign::huawei_canonical_query(&query),
        &sim::sign::huawei_canonical_headers(&auth.signed_headers, |h| lookup(headers, h)),
        &auth.signed_headers,
        &sim::sign::sha256_hex(body),
    );
    let expected = sim::sign::huawei_signature(
        secret_key,
        &sim::sign::huawei_string_to_sign(date, &canonical),
    );
    if sim::sign::signatures_equal(&expected, &auth.signature) {
        Ok(())
    } else {
        Err(format!(
            "signature mismatch; verifier's canonical request:\n{canonical}"
        ))
    }
}

/// The simulator's Baidu check, composed from its public stages.
fn baidu_verifies(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(String, String)],
    secret_key: &str,
) -> Result<(), String> {
    let auth = lookup(headers, "authorization").ok_or("no authorization")?;
    let auth = sim::sign::parse_baidu_authorization(auth).ok_or("unparsable authorization")?;
    let key = sim::sign::baidu_signing_key(secret_key, &auth.prefix());
    let query = sim::sign::parse_query(raw_query);
    let canonical = sim::sign::baidu_canonical_request(
        method,
        &sim::sign::baidu_canonical_uri(raw_path),
        &sim::sign::baidu_canonical_query(&query),
        &sim::sign::baidu_canonical_headers(headers, &auth.signed_headers),
    );
    let expected = sim::sign::baidu_signature(&key, &canonical);
    if sim::sign::signatures_equal(&expected, &auth.signature) {
        Ok(())
    } else {
        Err(format!(
            "signature mismatch; verifier's canonical request:\n{canonical}"
        ))
    }
}

// ------------------------------------------------------------ helpers

fn is_canonical_text(s: &str, extra: &[char]) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let hex = |x: u8| x.is_ascii_digit() || (b'A'..=b'F').contains(&x);
            if i + 2 >= b.len() || !hex(b[i + 1]) || !hex(b[i + 2]) {
                return false;
            }
            i += 3;
            continue;
        }
        let ok = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'_' | b'.' | b'~')
            || extra.contains(&char::from(c));
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

fn reversed<T: Clone>(v: &[T]) -> Vec<T> {
    v.iter().rev().cloned().collect()
}

// ------------------------------------------------------------ Huawei

proptest! {
    #![proptest_config(fuzz::config(256))]

    /// Any input at all: no panic, and the canonical parts are canonical.
    #[test]
    fn huawei_canonicalization_never_panics(
        method in prop_oneof![method(), any::<String>()],
        path in prop_oneof![path(), any::<String>()],
        query in query(),
        headers in any_headers(),
        body in body(),
        ak in any::<String>(),
        sk in any::<String>(),
        t in time(),
    ) {
        let req = hw::SigningRequest { method: &method, path: &path, query: &query, headers: &headers, body: &body };
        let signed = hw::sign(&req, &Credentials::new(ak.clone(), sk), t);
        let want = format!("SDK-HMAC-SHA256 Access={ak}, SignedHeaders=");
        prop_assert!(signed.authorization.starts_with(&want));
        prop_assert_eq!(signed.sdk_date.len(), 16);
        let uri = hw::canonical_uri(&path);
        prop_assert!(uri.ends_with('/'));
        prop_assert!(is_canonical_text(&uri, &['/']), "{uri}");
        let q = hw::canonical_query(&query);
        prop_assert!(is_canonical_text(&q, &['=', '&']), "{q}");
        prop_assert_eq!(hw::canonical_query(&reversed(&query)), q, "query order must not matter");
        // The canonical request has exactly its six lines (headers block
        // lines aside) whatever the input holds: newlines in header values
        // are the only way to add lines, and header values are not
        // escaped by this algorithm, so check the fixed parts only.
        let canonical = hw::canonical_request(&req);
        prop_assert!(canonical.ends_with(&hw::sha256_hex(&body)));
    }

    /// Signed by the client, accepted by the simulator's verifier; any
    /// change to a signed part is refused.
    #[test]
    fn huawei_sign_then_verify(
        method in method(),
        path in path(),
        query in query(),
        headers in wire_headers(),
        body in body(),
        ak in access_key(),
        sk in secret_key(),
        t in time(),
        tamper in 0usize..5,
    ) {
        let creds = Credentials::new(ak, sk.clone());
        let req = hw::SigningRequest { method: &method, path: &path, query: &query, headers: &headers, body: &body };
        let signed = hw::sign(&req, &creds, t);
        let mut seen = wire_headers_seen(&headers);
        seen.push(("x-sdk-date".into(), signed.sdk_date.clone()));
        seen.push(("authorization".into(), signed.authorization.clone()));
        let (raw_path, raw_query) = (wire_path(&path), wire_query(&query));
        let verdict = huawei_verifies(&method, &raw_path, &raw_query, &seen, &body, &sk);
        prop_assert!(verdict.is_ok(), "{:?}\nclient's canonical request:\n{}", verdict,
            hw::canonical_request(&hw::SigningRequest { headers: &{
                let mut h = headers.clone(); h.push(("X-Sdk-Date".into(), signed.sdk_date.clone())); h }, ..req }));

        // Tamper with one signed part.
        let mut body2 = body.clone();
        let mut path2 = raw_path.clone();
        let mut query2 = raw_query.clone();
        let mut seen2 = seen.clone();
        let mut sk2 = sk.clone();
        match tamper {
            0 => body2.push(b'x'),
            1 => path2.push('x'),
            2 => query2.push_str(if query2.is_empty() { "x=1" } else { "&x=1" }),
            3 => {
                // A signed header's value changes (the date is always signed).
                let date = seen2.iter_mut().find(|(k, _)| k == "x-sdk-date").expect("added above");
                date.1 = hw::sdk_date(Timestamp::from_second(t.as_second() + 1).expect("in range"));
            }
            _ => sk2.push('x'),
        }
        prop_assert!(huawei_verifies(&method, &path2, &query2, &seen2, &body2, &sk2).is_err(),
            "tampering #{} went unnoticed", tamper);
    }
}

// ------------------------------------------------------------ Baidu

proptest! {
    #![proptest_config(fuzz::config(256))]

    #[test]
    fn baidu_canonicalization_never_panics(
        method in prop_oneof![method(), any::<String>()],
        path in prop_oneof![path(), any::<String>()],
        query in query(),
        headers in any_headers(),
        listed in prop::collection::vec(any::<String>(), 0..4),
        ak in any::<String>(),
        sk in any::<String>(),
        t in time(),
        expiration in any::<u32>(),
        default_set in any::<bool>(),
    ) {
        let names: Vec<&str> = listed.iter().map(String::as_str).collect();
        let which = if default_set { bd::HeadersToSign::Default } else { bd::HeadersToSign::Listed(&names) };
        let req = bd::SigningRequest { method: &method, path: &path, query: &query, headers: &headers };
        let auth = bd::sign(&req, which, &Credentials::new(ak.clone(), sk), t, expiration);
        let want = format!("bce-auth-v1/{ak}/{}/{expiration}/", bd::bce_date(t));
        prop_assert!(auth.starts_with(&want));
        let uri = bd::canonical_uri(&path);
        prop_assert!(is_canonical_text(&uri, &['/']), "{uri}");
        let q = bd::canonical_query(&query);
        prop_assert!(is_canonical_text(&q, &['=', '&']), "{q}");
        prop_assert_eq!(bd::canonical_query(&reversed(&query)), q, "query order must not matter");
        let h = bd::canonical_headers(&headers, which);
        prop_assert!(is_canonical_text(&h, &[':', '\n']), "{h}");
        prop_assert_eq!(bd::canonical_headers(&reversed(&headers), which), h, "header order must not matter");
    }

    #[test]
    fn baidu_sign_then_verify(
        method in method(),
        path in path(),
        query in query(),
        headers in wire_headers(),
        pick in prop::collection::vec(any::<bool>(), 6),
        default_set in any::<bool>(),
        ak in access_key(),
        sk in secret_key(),
        t in time(),
        expiration in 1u32..100_000,
        tamper in 0usize..4,
    ) {
        let creds = Credentials::new(ak, sk.clone());
        let mut all = headers.clone();
        all.push(("Host".into(), "bcc.bj.baidubce.com".into()));
        all.push(("x-bce-date".into(), bd::bce_date(t)));
        // Sign the date, the host and a random pick of the rest.
        let mut listed: Vec<&str> = vec!["host", "x-bce-date"];
        for ((k, _), take) in headers.iter().zip(pick.iter().cycle()) {
            if *take { listed.push(k); }
        }
        let which = if default_set { bd::HeadersToSign::Default } else { bd::HeadersToSign::Listed(&listed) };
        let req = bd::SigningRequest { method: &method, path: &path, query: &query, headers: &all };
        let auth = bd::sign(&req, which, &creds, t, expiration);
        let mut seen = wire_headers_seen(&all);
        seen.push(("authorization".into(), auth));
        let (raw_path, raw_query) = (wire_path(&path), wire_query(&query));
        let verdict = baidu_verifies(&method, &raw_path, &raw_query, &seen, &sk);
        prop_assert!(verdict.is_ok(), "{:?}\nclient's canonical request:\n{}", verdict, bd::canonical_request(&req, which));

        let mut path2 = raw_path.clone();
        let mut query2 = raw_query.clone();
        let mut seen2 = seen.clone();
        let mut sk2 = sk.clone();
        match tamper {
            0 => path2.push('x'),
            1 => query2.push_str(if query2.is_empty() { "x=1" } else { "&x=1" }),
            2 => {
                let host = seen2.iter_mut().find(|(k, _)| k == "host").expect("added above");
                host.1.push('x');
            }
            _ => sk2.push('x'),
        }
        prop_assert!(baidu_verifies(&method, &path2, &query2, &seen2, &sk2).is_err(),
            "tampering #{} went unnoticed", tamper);
    }
}

// ------------------------------------------------------------ end to end

/// Not a signature refusal (the simulator answers those with 401
/// `APIG.0301` on Huawei, `SignatureDoesNotMatch`/`InvalidHTTPAuthHeader`
/// on Baidu).
fn auth_refusal(result: &Result<(), CloudError>) -> bool {
    match result {
        Err(CloudError::Unauthorized(_)) => true,
        Err(e) => e
            .detail()
            .map(|d| {
                matches!(
                    d.code.as_str(),
                    "APIG.0301" | "SignatureDoesNotMatch" | "InvalidHTTPAuthHeader"
                )
            })
            .unwrap_or(false),
        Ok(()) => false,
    }
}

fn ok<T>(r: Result<T, CloudError>) -> Result<(), CloudError> {
    r.map(|_| ())
}

/// The real clients, real HTTP, the simulator's verifier: ids and tag
/// values of any text are either refused by the client before sending or
/// signed so the simulator accepts the signature.
#[test]
fn clients_signatures_hold_for_any_ids_end_to_end() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the test");
    let sim = rt.block_on(clients::start(
        SimState::new()
            .with_account(clients::huawei_account())
            .with_account(clients::baidu_account()),
    ));
    let hw = clients::huawei(&sim)
        .with_retry_policy(secgroup_controller::cloud::retry::RetryPolicy::none());
    let bd = clients::baidu(&sim)
        .with_retry_policy(secgroup_controller::cloud::retry::RetryPolicy::none());
    let mut runner = TestRunner::new(fuzz::config(48));
    let outcome = runner.run(&(text(), text(), text()), |(id, key, value)| {
        rt.block_on(async {
            let calls: Vec<(&str, Result<(), CloudError>)> = vec![
                ("huawei get_port", ok(hw.get_port(&id).await)),
                ("huawei get_group", ok(hw.get_group(&id).await)),
                (
                    "huawei list_group_ports",
                    ok(hw.list_group_ports(&id).await),
                ),
                (
                    "huawei find_groups_by_tag",
                    ok(hw.find_groups_by_tag(&key, &value).await),
                ),
                ("baidu get_port", ok(bd.get_port(&id).await)),
                ("baidu get_group", ok(bd.get_group(&id).await)),
                ("baidu list_group_ports", ok(bd.list_group_ports(&id).await)),
                (
                    "baidu find_groups_by_tag",
                    ok(bd.find_groups_by_tag(&key, &value).await),
                ),
            ];
            for (what, result) in &calls {
                prop_assert!(
                    !auth_refusal(result),
                    "{what} with id {id:?} key {key:?} value {value:?}: {result:?}"
                );
            }
            Ok(())
        })
    });
    let refused: Vec<String> = sim
        .request_log()
        .iter()
        .filter(|e| e.status == 401 || e.status == 403)
        .map(|e| format!("{} {} {} {}", e.operation, e.path, e.status, e.outcome))
        .collect();
    rt.block_on(sim.shutdown());
    if let Err(e) = outcome {
        panic!("{e}");
    }
    assert!(
        refused.is_empty(),
        "the simulator refused signatures: {refused:#?}"
    );
}
