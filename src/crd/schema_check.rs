//! Checks an object against the generated CRD schema the way the API server
//! would on create/update, without a cluster: the OpenAPI part (types,
//! required fields, enums, patterns, ranges, lengths, item counts, list
//! types, unknown fields) by a small walker here, and the CEL rules
//! (`x-kubernetes-validations`) by kube-cel, the kube-rs project's
//! evaluator of the Kubernetes CEL dialect (re-exported by kube-core's
//! `cel` feature).
//!
//! Used by tests and by anything that wants to vet manifests (examples,
//! the one-shot CLI) before they reach a cluster or a cloud.
//!
//! Differences from the API server, all on the strict side or irrelevant to
//! these CRDs: unknown fields are reported (the server would prune them
//! silently, `kubectl --validate=strict` reports them); patterns use the
//! Rust `regex` dialect (the patterns here use only the common subset);
//! `metadata` is checked only for a `name`; and a list over its `maxItems`
//! or a string over its `maxLength` is reported alone: its items are not
//! walked and no CEL rule of the object runs, so the work stays linear in
//! the input however long the list.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::cel::Validator;
use serde_json::Value;

use super::all_crds;

/// The `openAPIV3Schema` of the served version of `apiVersion`/`kind`, as
/// JSON, if it is one of ours.
pub fn schema_for(api_version: &str, kind: &str) -> Option<Value> {
    cached_schema(api_version, kind).cloned()
}

/// The schemas, generated once: checking 10,000 manifests must not build
/// the CRDs 10,000 times.
fn cached_schema(api_version: &str, kind: &str) -> Option<&'static Value> {
    static SCHEMAS: OnceLock<Vec<(String, String, Value)>> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| {
            let mut out = Vec::new();
            for crd in all_crds() {
                for v in &crd.spec.versions {
                    let api = format!("{}/{}", crd.spec.group, v.name);
                    if let Some(schema) = schema_of(&crd, &api, &crd.spec.names.kind) {
                        out.push((api, crd.spec.names.kind.clone(), schema));
                    }
                }
            }
            out
        })
        .iter()
        .find(|(a, k, _)| a == api_version && k == kind)
        .map(|(_, _, schema)| schema)
}

/// A schema pattern, compiled once per pattern (a list of 10,000 port ids
/// checks one pattern 10,000 times).
fn pattern(source: &str) -> Result<regex::Regex, String> {
    static PATTERNS: OnceLock<Mutex<HashMap<String, Result<regex::Regex, String>>>> =
        OnceLock::new();
    let cache = PATTERNS.get_or_init(Mutex::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache
        .entry(source.to_string())
        .or_insert_with(|| regex::Regex::new(source).map_err(|e| e.to_string()))
        .clone()
}

/// What the OpenAPI walk found.
#[derive(Default)]
struct Findings {
    errors: Vec<String>,
    /// A list longer than its `maxItems` or a string longer than its
    /// `maxLength`: CEL rules are then not evaluated, since their cost is
    /// bounded only by those limits (the API server refuses CRDs whose
    /// rules it cannot bound for the same reason).
    over_bounds: bool,
}

fn schema_of(crd: &CustomResourceDefinition, api_version: &str, kind: &str) -> Option<Value> {
    if crd.spec.names.kind != kind {
        return None;
    }
    let version = crd
        .spec
        .versions
        .iter()
        .find(|v| format!("{}/{}", crd.spec.group, v.name) == api_version)?;
    let schema = version.schema.as_ref()?.open_api_v3_schema.as_ref()?;
    serde_json::to_value(schema).ok()
}

/// Problems with `obj` as a new object: each is `path: message`, e.g.
/// `spec.rules[2].ports: "9000-80" ...`. Empty when the API server would
/// accept the object.
pub fn check_against_schema(obj: &Value) -> Vec<String> {
    check(obj, None)
}

/// Problems with `new` as an update of `old`: everything
/// [`check_against_schema`] reports plus the transition rules (immutable
/// fields).
pub fn check_update_against_schema(old: &Value, new: &Value) -> Vec<String> {
    check(new, Some(old))
}

fn check(obj: &Value, old: Option<&Value>) -> Vec<String> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(schema) = cached_schema(api_version, kind) else {
        return vec![format!(
            "apiVersion/kind: {api_version:?}/{kind:?} is not a kind of {}",
            super::GROUP
        )];
    };
    let mut found = Findings::default();
    check_root(schema, obj, &mut found);
    let mut errors = found.errors;
    if found.over_bounds {
        return errors;
    }
    if let Err(failures) = Validator::new().validate(schema, obj, old) {
        for f in failures.iter() {
            errors.push(if f.field_path.is_empty() {
                f.message.clone()
            } else {
                format!("{}: {}", f.field_path, f.message)
            });
        }
    }
    errors
}

fn check_root(schema: &Value, obj: &Value, out: &mut Findings) {
    let Some(map) = obj.as_object() else {
        out.errors.push("<root>: must be an object".into());
        return;
    };
    match map.get("metadata").and_then(|m| m.get("name")) {
        Some(Value::String(name)) if !name.is_empty() => {}
        _ => out.errors.push("metadata.name: required".into()),
    }
    // apiVersion, kind and metadata are implicit at the root of every CRD
    // schema; the rest is walked as usual.
    let mut rest = map.clone();
    for implicit in ["apiVersion", "kind", "metadata"] {
        rest.remove(implicit);
    }
    walk(schema, &Value::Object(rest), "", out);
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn at(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

fn walk(schema: &Value, value: &Value, path: &str, out: &mut Findings) {
    let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
    if value.is_null() {
        if !nullable {
            out.errors.push(format!("{}: must not be null", at(path)));
        }
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed
            .iter()
            .filter(|v| !v.is_null())
            .map(Value::to_string)
            .collect();
        out.errors.push(format!(
            "{}: {value} is not one of {}",
            at(path),
            names.join(", ")
        ));
        return;
    }
    let ty = schema.get("type").and_then(Value::as_str);
    match ty {
        Some("object") => walk_object(schema, value, path, out),
        Some("array") => walk_array(schema, value, path, out),
        Some("string") => check_string(schema, value, path, out),
        Some("integer") => check_number(schema, value, path, out, true),
        Some("number") => check_number(schema, value, path, out, false),
        Some("boolean") if !value.is_boolean() => {
            out.errors.push(format!("{}: must be a boolean", at(path)));
        }
        _ => {}
    }
}

fn walk_object(schema: &Value, value: &Value, path: &str, out: &mut Findings) {
    let Some(map) = value.as_object() else {
        out.errors.push(format!("{}: must be an object", at(path)));
        return;
    };
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for field in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(field) {
                out.errors.push(format!("{}: required", join(path, field)));
            }
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    for (key, child) in map {
        let child_path = join(path, key);
        if let Some(prop) = properties.and_then(|p| p.get(key)) {
            walk(prop, child, &child_path, out);
        } else if let Some(additional) = additional {
            walk(additional, child, &child_path, out);
        } else if !preserve {
            out.errors.push(format!("{child_path}: unknown field"));
        }
    }
}

fn walk_array(schema: &Value, value: &Value, path: &str, out: &mut Findings) {
    let Some(items) = value.as_array() else {
        out.errors.push(format!("{}: must be a list", at(path)));
        return;
    };
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && (items.len() as u64) < min
    {
        out.errors
            .push(format!("{}: must have at least {min} items", at(path)));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && (items.len() as u64) > max
    {
        out.errors.push(format!(
            "{}: must have at most {max} items, has {}",
            at(path),
            items.len()
        ));
        // Refused for its length: the items are not looked at (that work
        // would grow with whatever length was sent).
        out.over_bounds = true;
        return;
    }
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            let mut seen = BTreeSet::new();
            for item in items {
                if !seen.insert(item.to_string()) {
                    out.errors
                        .push(format!("{}: duplicate entry {item}", at(path)));
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut seen = BTreeSet::new();
            for item in items {
                let key: Vec<String> = keys
                    .iter()
                    .map(|k| item.get(*k).map(Value::to_string).unwrap_or_default())
                    .collect();
                if !seen.insert(key.clone()) {
                    out.errors.push(format!(
                        "{}: duplicate entry with key {}",
                        at(path),
                        key.join(",")
                    ));
                }
            }
        }
        _ => {}
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            walk(item_schema, item, &format!("{path}[{i}]"), out);
        }
    }
}

fn check_string(schema: &Value, value: &Value, path: &str, out: &mut Findings) {
    let Some(s) = value.as_str() else {
        out.errors.push(format!("{}: must be a string", at(path)));
        return;
    };
    let len = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        let plural = if min == 1 { "" } else { "s" };
        out.errors.push(format!(
            "{}: must be at least {min} character{plural}",
            at(path)
        ));
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        out.errors.push(format!(
            "{}: must be at most {max} characters, has {len}",
            at(path)
        ));
        out.over_bounds = true;
        return;
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match self::pattern(pattern) {
            Ok(re) if re.is_match(s) => {}
            Ok(_) => out
                .errors
                .push(format!("{}: {s:?} does not match {pattern}", at(path))),
            Err(e) => out.errors.push(format!(
                "{}: schema pattern does not compile: {e}",
                at(path)
            )),
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && s.parse::<jiff::Timestamp>().is_err()
    {
        out.errors
            .push(format!("{}: {s:?} is not an RFC 3339 date-time", at(path)));
    }
}

fn check_number(schema: &Value, value: &Value, path: &str, out: &mut Findings, int: bool) {
    let Some(n) = value.as_f64() else {
        out.errors.push(format!("{}: must be a number", at(path)));
        return;
    };
    if int && !(value.is_i64() || value.is_u64()) {
        out.errors.push(format!("{}: must be an integer", at(path)));
        return;
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = schema.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
        if n < min || (exclusive && n == min) {
            out.errors
                .push(format!("{}: {value} is below the minimum {min}", at(path)));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = schema.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
        if n > max || (exclusive && n == max) {
            out.errors
                .push(format!("{}: {value} is above the maximum {max}", at(path)));
        }
    }
}
