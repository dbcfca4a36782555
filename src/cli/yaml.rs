//! Manifest YAML read the way the API server takes it: a stream of
//! documents, each turned into a JSON value, with what `kubectl`'s strict
//! field validation refuses refused here too.
//!
//! - A key given twice in one mapping is an error naming both lines (the
//!   YAML spec requires unique keys; a silent "last one wins" would let a
//!   later `remoteIpPrefix: 0.0.0.0/0` widen a rule nobody reviewed).
//! - Scalars resolve by the YAML 1.2 core schema, as `serde_yaml` did:
//!   only `true`/`false` (any case) are booleans, `010` and `1_000` stay
//!   strings.
//! - Resource limits bound every document (nesting depth, nodes, events,
//!   aliases), so a hostile file costs time linear in its size.
//!
//! Documents are numbered from 1 in file order, empty ones included, so a
//! document's number is the one an editor counts between `---` lines.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::granit_parser::{Event, Parser};
use serde_saphyr::{DuplicateKeyPolicy, Spanned};

/// Deepest nesting of mappings and sequences in one document. The CRDs
/// nest six levels (`spec.rules[].remoteGroupRef.name`); Kubernetes
/// objects a dozen at most.
pub const MAX_DEPTH: usize = 64;

/// Most YAML nodes (scalars, mappings, sequences) in one document: a
/// membership at the CRD's limit of ports has about 10,000.
pub const MAX_NODES_PER_DOCUMENT: usize = 1_000_000;

/// One document of a YAML stream.
#[derive(Clone, Debug, PartialEq)]
pub struct YamlDocument {
    /// 1-based position in the stream, empty documents counted.
    pub index: usize,
    pub value: Value,
    /// Keys given more than once in one mapping, in the order met.
    pub duplicates: Vec<DuplicateKey>,
}

/// A mapping key given twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateKey {
    /// JSON path of the repeated field, e.g. `spec.rules[0].remoteIpPrefix`.
    pub field: String,
    /// Lines (1-based) of the first and of the repeated key.
    pub first_line: u64,
    pub line: u64,
}

impl fmt::Display for DuplicateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "duplicate key: given on line {} and again on line {}; say it once",
            self.first_line, self.line
        )
    }
}

/// Why a stream could not be read, and in which document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based document number; 0 when the error is not in a document.
    pub document: usize,
    pub message: String,
}

/// The stream read: every document before the first error, and the error.
#[derive(Debug, Default)]
pub struct Stream {
    pub documents: Vec<YamlDocument>,
    pub error: Option<YamlError>,
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        // Duplicates reach the visitor below, which records both lines.
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_nodes: MAX_NODES_PER_DOCUMENT,
            max_events: 2 * MAX_NODES_PER_DOCUMENT,
        },
    }
}

/// The line each document starts on, empty documents included, or the
/// syntax error that ends the stream (with the document it is in).
fn document_lines(text: &str) -> (Vec<u64>, Option<YamlError>) {
    let mut starts = Vec::new();
    for event in Parser::new_from_str(text) {
        match event {
            Ok((Event::DocumentStart(..), span)) => starts.push(span.start.line() as u64),
            Ok(_) => {}
            Err(e) => {
                let mark = e.marker();
                let error = YamlError {
                    document: starts.len().max(1),
                    message: format!(
                        "line {} column {}: {}",
                        mark.line(),
                        mark.col() + 1,
                        e.info()
                    ),
                };
                return (starts, Some(error));
            }
        }
    }
    (starts, None)
}

/// The document a line belongs to: the last one starting at or before it.
fn document_at(starts: &[u64], line: u64) -> usize {
    starts.partition_point(|&s| s <= line).max(1)
}

/// Read every document of `text`.
pub fn read_stream(text: &str) -> Stream {
    let (starts, syntax) = document_lines(text);
    let mut stream = Stream::default();
    let mut reader = text.as_bytes();
    for doc in serde_saphyr::read_with_options::<_, Spanned<Doc>>(&mut reader, options()) {
        match doc {
            Ok(doc) => stream.documents.push(YamlDocument {
                index: document_at(&starts, doc.referenced.line()),
                value: doc.value.value,
                duplicates: doc.value.duplicates,
            }),
            Err(e) => {
                let document = e
                    .location()
                    .filter(|l| l.line() > 0)
                    .map_or(starts.len().max(1), |l| document_at(&starts, l.line()));
                stream.error = Some(YamlError {
                    document,
                    message: plain_message(&e),
                });
                break;
            }
        }
    }
    // The syntax error the first pass met is the one to report: the
    // deserializer may stop at it with a less precise message, or at a
    // budget before it.
    if let Some(syntax) = syntax
        && stream
            .error
            .as_ref()
            .is_none_or(|e| e.document >= syntax.document)
    {
        stream.documents.retain(|d| d.index < syntax.document);
        stream.error = Some(syntax);
    }
    stream
}

/// The deserializer's message on one line, without its `error: ` prefix.
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    text.lines().next().unwrap_or_default().to_string()
}

/// A document's value and the duplicate keys met on the way.
struct Doc {
    value: Value,
    duplicates: Vec<DuplicateKey>,
}

impl<'de> serde::Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let duplicates = RefCell::new(Vec::new());
        let value = NodeSeed {
            at: &Path::Root,
            duplicates: &duplicates,
        }
        .deserialize(d)?;
        Ok(Doc {
            value,
            duplicates: duplicates.into_inner(),
        })
    }
}

/// Where a node sits, as a chain to the root (rendered only for errors).
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

struct NodeSeed<'a> {
    at: &'a Path<'a>,
    duplicates: &'a RefCell<Vec<DuplicateKey>>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} is not a number JSON can hold")))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        loop {
            let at = Path::Index(self.at, items.len());
            let seed = NodeSeed {
                at: &at,
                duplicates: self.duplicates,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut lines: HashMap<String, u64> = HashMap::new();
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            let Spanned {
                value: Key(key),
                referenced,
                ..
            } = key;
            let at = Path::Key(self.at, &key);
            let value = map.next_value_seed(NodeSeed {
                at: &at,
                duplicates: self.duplicates,
            })?;
            let line = referenced.line();
            match lines.get(&key) {
                Some(&first_line) => self.duplicates.borrow_mut().push(DuplicateKey {
                    field: at.to_string(),
                    first_line,
                    line,
                }),
                None => {
                    lines.insert(key.clone(), line);
                    out.insert(key, value);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// A mapping key as the text JSON keeps (`80:` is the key `"80"`).
struct Key(String);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Key, E> {
                Ok(Key(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
        }
        d.deserialize_string(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Stream {
        read_stream(text)
    }

    #[test]
    fn documents_are_numbered_with_empty_ones_counted() {
        let s = read("---\na: 1\n---\n---\nb: [x, 2]\n");
        assert_eq!(s.error, None);
        let indices: Vec<usize> = s.documents.iter().map(|d| d.index).collect();
        assert_eq!(indices, [1, 3]);
        assert_eq!(s.documents[1].value, serde_json::json!({"b": ["x", 2]}));
        let implicit = read("a: 1\n---\nb: 2\n");
        let indices: Vec<usize> = implicit.documents.iter().map(|d| d.index).collect();
        assert_eq!(indices, [1, 2]);
    }

    #[test]
    fn scalars_resolve_by_the_yaml_1_2_core_schema() {
        let s =
            read("a: yes\nb: no\nc: y\nd: True\ne: 010\nf: 1_000\ng: ~\nh: 0x10\ni: 1.5\nj: '1'\n");
        assert_eq!(
            s.documents[0].value,
            serde_json::json!({
                "a": "yes", "b": "no", "c": "y", "d": true, "e": "010",
                "f": "1_000", "g": null, "h": 16, "i": 1.5, "j": "1"
            })
        );
    }

    #[test]
    fn a_repeated_key_names_the_field_and_both_lines() {
        let s = read(
            "spec:\n  rules:\n    - remoteIpPrefix: 10.0.0.0/8\n      ports: \"22\"\n      remoteIpPrefix: 0.0.0.0/0\n",
        );
        assert_eq!(s.error, None);
        let d = &s.documents[0];
        assert_eq!(
            d.duplicates,
            [DuplicateKey {
                field: "spec.rules[0].remoteIpPrefix".into(),
                first_line: 3,
                line: 5
            }]
        );
        // The first value is kept (it is an error either way).
        assert_eq!(d.value["spec"]["rules"][0]["remoteIpPrefix"], "10.0.0.0/8");
        // Quoting does not make a key different.
        let q = read("a: 1\n\"a\": 2\n");
        assert_eq!(q.documents[0].duplicates.len(), 1);
    }

    #[test]
    fn syntax_errors_name_the_document_and_line() {
        let s = read("a: 1\n---\nkind: [unclosed\n");
        let e = s.error.expect("an error");
        assert_eq!(e.document, 2);
        assert!(e.message.starts_with("line "), "{}", e.message);
        assert_eq!(s.documents.len(), 1);
    }

    #[test]
    fn hostile_nesting_stops_at_the_limit() {
        let s = read(&"[".repeat(100_000));
        assert!(s.error.is_some());
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(read(&deep).error.is_some(), "deeper than {MAX_DEPTH}");
        let ok = format!("{}1{}", "[".repeat(20), "]".repeat(20));
        assert_eq!(read(&ok).error, None);
    }
}
