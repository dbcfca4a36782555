//! `metav1.LabelSelector` as the API server reads it: validation (with
//! the field path of each error) and matching against a Node's labels.
//!
//! Semantics: `matchLabels` and every `matchExpressions` requirement must
//! all hold; an empty selector (`{}`) matches every node. Operators: `In`
//! and `NotIn` need at least one value; `Exists` and `DoesNotExist` take
//! none. Label keys and values follow the API server's syntax (an optional
//! DNS-subdomain prefix and `/`, then a name of at most 63 characters;
//! values at most 63 characters of `[A-Za-z0-9._-]`, starting and ending
//! alphanumeric, or empty).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::model::{FieldError, ObjectKey};

/// Every problem of `selector`, each naming its field under `path`.
pub fn validate(selector: &LabelSelector, key: &ObjectKey, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (k, v) in selector.match_labels.iter().flatten() {
        if let Err(why) = label_key(k) {
            errors.push(FieldError::new(
                Some(key),
                format!("{path}.matchLabels[{k:?}]"),
                why,
            ));
        }
        if let Err(why) = label_value(v) {
            errors.push(FieldError::new(
                Some(key),
                format!("{path}.matchLabels[{k:?}]"),
                why,
            ));
        }
    }
    for (i, e) in selector.match_expressions.iter().flatten().enumerate() {
        let at = format!("{path}.matchExpressions[{i}]");
        if let Err(why) = label_key(&e.key) {
            errors.push(FieldError::new(Some(key), format!("{at}.key"), why));
        }
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errors.push(FieldError::new(
                Some(key),
                format!("{at}.values"),
                format!("operator {} needs at least one value", e.operator),
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errors.push(FieldError::new(
                Some(key),
                format!("{at}.values"),
                format!("operator {} takes no values", e.operator),
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errors.push(FieldError::new(
                Some(key),
                format!("{at}.operator"),
                format!("{other:?} is not one of In, NotIn, Exists, DoesNotExist"),
            )),
        }
        for (j, v) in values.iter().enumerate() {
            if let Err(why) = label_value(v) {
                errors.push(FieldError::new(Some(key), format!("{at}.values[{j}]"), why));
            }
        }
    }
    errors
}

/// Whether `labels` satisfy `selector` (which must be valid).
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let all_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    all_labels
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let has = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => has.is_some_and(|v| values.contains(v)),
                "NotIn" => has.is_none_or(|v| !values.contains(v)),
                "Exists" => has.is_some(),
                "DoesNotExist" => has.is_none(),
                _ => false,
            }
        })
}

/// `prefix/name` or `name`, as the API server checks label keys.
fn label_key(k: &str) -> Result<(), String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && !is_dns_subdomain(p)
    {
        return Err(format!(
            "label key {k:?}: the prefix must be a DNS subdomain (lower-case letters, digits, '-' and '.', at most 253)"
        ));
    }
    if name.is_empty() || name.len() > 63 || !is_label_name(name) {
        return Err(format!(
            "label key {k:?}: the name must be 1 to 63 of [A-Za-z0-9._-], starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

fn label_value(v: &str) -> Result<(), String> {
    if v.is_empty() || (v.len() <= 63 && is_label_name(v)) {
        Ok(())
    } else {
        Err(format!(
            "label value {v:?}: at most 63 of [A-Za-z0-9._-], starting and ending with a letter or digit"
        ))
    }
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn match_labels_and_expressions_all_hold() {
        let node = labels(&[("pool", "web"), ("zone", "a"), ("gpu", "")]);
        let sel = |ml: &[(&str, &str)], me: Vec<LabelSelectorRequirement>| LabelSelector {
            match_labels: (!ml.is_empty()).then(|| labels(ml)),
            match_expressions: (!me.is_empty()).then_some(me),
        };
        assert!(
            matches(&LabelSelector::default(), &node),
            "{{}} matches all"
        );
        assert!(matches(&sel(&[("pool", "web")], vec![]), &node));
        assert!(!matches(&sel(&[("pool", "db")], vec![]), &node));
        assert!(matches(
            &sel(&[], vec![req("zone", "In", &["a", "b"])]),
            &node
        ));
        assert!(!matches(
            &sel(&[], vec![req("zone", "NotIn", &["a"])]),
            &node
        ));
        assert!(
            matches(&sel(&[], vec![req("tier", "NotIn", &["x"])]), &node),
            "absent is not in"
        );
        assert!(matches(&sel(&[], vec![req("gpu", "Exists", &[])]), &node));
        assert!(!matches(
            &sel(&[], vec![req("gpu", "DoesNotExist", &[])]),
            &node
        ));
        assert!(
            !matches(
                &sel(&[("pool", "web")], vec![req("zone", "In", &["b"])]),
                &node
            ),
            "every requirement must hold"
        );
    }

    #[test]
    fn bad_selectors_name_the_field() {
        let key = ObjectKey::new("NodeSecurityGroups", "ns", "web");
        let sel = LabelSelector {
            match_labels: Some(labels(&[("Bad Key", "v"), ("ok", "-bad")])),
            match_expressions: Some(vec![
                req("zone", "In", &[]),
                req("gpu", "Exists", &["x"]),
                req("pool", "Equals", &["web"]),
                req("example.com/pool", "In", &["web"]),
            ]),
        };
        let errors = validate(&sel, &key, "spec.nodeSelector");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.nodeSelector.matchLabels[\"Bad Key\"]",
                "spec.nodeSelector.matchLabels[\"ok\"]",
                "spec.nodeSelector.matchExpressions[0].values",
                "spec.nodeSelector.matchExpressions[1].values",
                "spec.nodeSelector.matchExpressions[2].operator",
            ],
            "{errors:?}"
        );
        assert!(validate(&LabelSelector::default(), &key, "spec.nodeSelector").is_empty());
    }
}
