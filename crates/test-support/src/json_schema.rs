//! A small JSON Schema checker for the subset `docs/cli-output.schema.json`
//! uses: `type`, `const`, `enum`, `required`, `properties`,
//! `additionalProperties` (false or a schema), `items`, `oneOf`,
//! `minimum`, `maximum` and `$ref` to `#/$defs/...`. A keyword outside the
//! subset is an error, so the schema cannot silently grow past the check.

use serde_json::Value;

/// Every place `value` breaks `schema`, as `path: why`.
pub fn check(schema: &Value, value: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    at(schema, schema, value, "$", &mut problems);
    problems
}

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "oneOf",
    "minimum",
    "maximum",
];

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn at(root: &Value, schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        out.push(format!("{path}: schema is not an object"));
        return;
    };
    for k in s.keys() {
        if !KNOWN.contains(&k.as_str()) {
            out.push(format!("{path}: schema keyword {k:?} is not checked"));
        }
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        match r
            .strip_prefix("#/$defs/")
            .and_then(|name| root["$defs"].get(name))
        {
            Some(target) => at(root, target, v, path, out),
            None => out.push(format!("{path}: unknown $ref {r}")),
        }
    }
    if let Some(t) = s.get("type").and_then(Value::as_str)
        && !type_ok(t, v)
    {
        out.push(format!("{path}: {v} is not of type {t}"));
        return;
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        out.push(format!("{path}: {v} is not {c}"));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        out.push(format!("{path}: {v} is not one of {e:?}"));
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
        && n < min
    {
        out.push(format!("{path}: {n} < {min}"));
    }
    if let (Some(max), Some(n)) = (s.get("maximum").and_then(Value::as_f64), v.as_f64())
        && n > max
    {
        out.push(format!("{path}: {n} > {max}"));
    }
    if let Some(options) = s.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|o| {
                let mut p = Vec::new();
                at(root, o, v, path, &mut p);
                p.is_empty()
            })
            .count();
        if matching != 1 {
            out.push(format!("{path}: {v} matches {matching} of oneOf, not 1"));
        }
    }
    if let Some(obj) = v.as_object() {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = r.as_str()
                && !obj.contains_key(r)
            {
                out.push(format!("{path}: required key {r:?} is missing"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, item) in obj {
            let sub = format!("{path}.{k}");
            match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                (Some(p), _) => at(root, p, item, &sub, out),
                (None, Some(Value::Bool(false))) => {
                    out.push(format!("{path}: key {k:?} is not in the schema"))
                }
                (None, Some(extra @ Value::Object(_))) => at(root, extra, item, &sub, out),
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            at(root, items, item, &format!("{path}[{i}]"), out);
        }
    }
}

/// `docs/cli-output.schema.json`.
pub fn cli_output_schema() -> Value {
    let path = crate::repo_root().join("docs/cli-output.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Panic naming every problem when `doc` does not follow the CLI's schema.
pub fn assert_cli_output(doc: &Value) {
    let problems = check(&cli_output_schema(), doc);
    assert!(problems.is_empty(), "{problems:#?}\n{doc:#}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_checker_finds_what_breaks_the_schema() {
        let schema = json!({
            "$defs": { "n": { "type": "integer", "minimum": 1 } },
            "type": "object",
            "required": ["a"],
            "additionalProperties": false,
            "properties": {
                "a": { "$ref": "#/$defs/n" },
                "b": { "oneOf": [ { "type": "string" }, { "enum": [true] } ] }
            }
        });
        assert!(check(&schema, &json!({"a": 2, "b": "x"})).is_empty());
        assert_eq!(check(&schema, &json!({"a": 0})).len(), 1, "minimum");
        assert_eq!(check(&schema, &json!({"b": "x"})).len(), 1, "required");
        assert_eq!(
            check(&schema, &json!({"a": 1, "c": 1})).len(),
            1,
            "extra key"
        );
        assert_eq!(check(&schema, &json!({"a": 1, "b": 3})).len(), 1, "oneOf");
        assert_eq!(check(&json!({"pattern": "x"}), &json!("x")).len(), 1);
    }
}
