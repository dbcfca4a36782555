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
//! `metadata` is checked only for a `name`.

use std::collections::BTreeSet;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::cel::Validator;
use serde_json::Value;

use super::all_crds;

/// The `openAPIV3Schema` of the served version of `apiVersion`/`kind`, as
/// JSON, if it is one of ours.
pub fn schema_for(api_version: &str, kind: &str) -> Option<Value> {
    all_crds()
        .into_iter()
        .find_map(|crd| schema_of(&crd, api_version, kind))
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
    let Some(schema) = schema_for(api_version, kind) else {
        return vec![format!(
            "apiVersion/kind: {api_version:?}/{kind:?} is not a kind of {}",
            super::GROUP
        )];
    };
    let mut errors = Vec::new();
    check_root(&schema, obj, &mut errors);
    if let Err(failures) = Validator::new().validate(&schema, obj, old) {
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

fn check_root(schema: &Value, obj: &Value, errors: &mut Vec<String>) {
    let Some(map) = obj.as_object() else {
        errors.push("<root>: must be an object".into());
        return;
    };
    match map.get("metadata").and_then(|m| m.get("name")) {
        Some(Value::String(name)) if !name.is_empty() => {}
        _ => errors.push("metadata.name: required".into()),
    }
    // apiVersion, kind and metadata are implicit at the root of every CRD
    // schema; the rest is walked as usual.
    let mut rest = map.clone();
    for implicit in ["apiVersion", "kind", "metadata"] {
        rest.remove(implicit);
    }
    walk(schema, &Value::Object(rest), "", errors);
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

fn walk(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
    if value.is_null() {
        if !nullable {
            errors.push(format!("{}: must not be null", at(path)));
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
        errors.push(format!(
            "{}: {value} is not one of {}",
            at(path),
            names.join(", ")
        ));
        return;
    }
    let ty = schema.get("type").and_then(Value::as_str);
    match ty {
        Some("object") => walk_object(schema, value, path, errors),
        Some("array") => walk_array(schema, value, path, errors),
        Some("string") => check_string(schema, value, path, errors),
        Some("integer") => check_number(schema, value, path, errors, true),
        Some("number") => check_number(schema, value, path, errors, false),
        Some("boolean") if !value.is_boolean() => {
            errors.push(format!("{}: must be a boolean", at(path)));
        }
        _ => {}
    }
}

fn walk_object(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(map) = value.as_object() else {
        errors.push(format!("{}: must be an object", at(path)));
        return;
    };
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for field in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(field) {
                errors.push(format!("{}: required", join(path, field)));
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
            walk(prop, child, &child_path, errors);
        } else if let Some(additional) = additional {
            walk(additional, child, &child_path, errors);
        } else if !preserve {
            errors.push(format!("{child_path}: unknown field"));
        }
    }
}

fn walk_array(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(items) = value.as_array() else {
        errors.push(format!("{}: must be a list", at(path)));
        return;
    };
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && (items.len() as u64) < min
    {
        errors.push(format!("{}: must have at least {min} items", at(path)));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && (items.len() as u64) > max
    {
        errors.push(format!(
            "{}: must have at most {max} items, has {}",
            at(path),
            items.len()
        ));
    }
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            let mut seen = BTreeSet::new();
            for item in items {
                if !seen.insert(item.to_string()) {
                    errors.push(format!("{}: duplicate entry {item}", at(path)));
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
                    errors.push(format!(
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
            walk(item_schema, item, &format!("{path}[{i}]"), errors);
        }
    }
}

fn check_string(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(s) = value.as_str() else {
        errors.push(format!("{}: must be a string", at(path)));
        return;
    };
    let len = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        errors.push(format!("{}: must be at least {min} characters", at(path)));
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        errors.push(format!(
            "{}: must be at most {max} characters, has {len}",
            at(path)
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(pattern) {
            Ok(re) if re.is_match(s) => {}
            Ok(_) => errors.push(format!("{}: {s:?} does not match {pattern}", at(path))),
            Err(e) => errors.push(format!(
                "{}: schema pattern does not compile: {e}",
                at(path)
            )),
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && s.parse::<jiff::Timestamp>().is_err()
    {
        errors.push(format!("{}: {s:?} is not an RFC 3339 date-time", at(path)));
    }
}

fn check_number(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>, int: bool) {
    let Some(n) = value.as_f64() else {
        errors.push(format!("{}: must be a number", at(path)));
        return;
    };
    if int && !(value.is_i64() || value.is_u64()) {
        errors.push(format!("{}: must be an integer", at(path)));
        return;
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = schema.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
        if n < min || (exclusive && n == min) {
            errors.push(format!("{}: {value} is below the minimum {min}", at(path)));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = schema.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
        if n > max || (exclusive && n == max) {
            errors.push(format!("{}: {value} is above the maximum {max}", at(path)));
        }
    }
}
