//! Reading manifests the way `kubectl apply -f` takes them: files or
//! directories (recursively, `.yaml` / `.yml` / `.json`), multi-document
//! YAML, one object per document. Every document keeps where it came from,
//! so each error names the file, the object and the field.
//!
//! This module knows only the envelope (`apiVersion`, `kind`, `metadata`);
//! [`Document::typed`] turns a body into a typed object with errors that
//! name the failing field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::yaml;
use crate::crd::validate::{name_problem, namespace_problem, uid_problem};

/// The API group/version of the custom resources.
pub const API_VERSION: &str = "secgroup.io/v1alpha1";

/// Kinds the CLI understands, with the `apiVersion` each must carry.
pub const KNOWN_KINDS: &[(&str, &str)] = &[
    (API_VERSION, "CloudAccount"),
    (API_VERSION, "SecurityGroup"),
    (API_VERSION, "PortSecurityGroups"),
    (API_VERSION, "SecurityGroupMembership"),
    (API_VERSION, "NodeSecurityGroups"),
    (API_VERSION, "SecurityGroupRules"),
    ("v1", "Secret"),
    ("v1", "Node"),
];

/// Where a document came from: the file and its 1-based position in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub file: PathBuf,
    pub document: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (document {})", self.file.display(), self.document)
    }
}

/// One object read from a manifest, envelope checked.
#[derive(Clone, PartialEq)]
pub struct Document {
    pub origin: Origin,
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The whole object as parsed, with `metadata.namespace` filled in.
    body: Value,
}

impl fmt::Debug for Document {
    // The body may be a Secret: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("origin", &self.origin)
            .field("object", &self.object())
            .finish_non_exhaustive()
    }
}

impl Document {
    /// `Kind namespace/name`, as errors and tables name objects.
    pub fn object(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }

    /// The parsed object. Callers must not print it (it may be a Secret).
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// Deserialize the body into `T`; a failure names the field.
    pub fn typed<T: DeserializeOwned>(&self) -> Result<T, ManifestError> {
        serde_path_to_error::deserialize(&self.body).map_err(|e| {
            let (field, message) = split_serde_error(&e.path().to_string(), &e.inner().to_string());
            self.error(field, message)
        })
    }

    /// An error about this document's `field`.
    pub fn error(&self, field: impl Into<String>, message: impl Into<String>) -> ManifestError {
        ManifestError {
            origin: Some(self.origin.clone()),
            object: Some(self.object()),
            field: Some(field.into()).filter(|f: &String| !f.is_empty()),
            message: message.into(),
        }
    }
}

/// Turn serde's `(path, message)` into `(field, message)`, moving a
/// "missing field `x`" into the path so the field is named in one place.
fn split_serde_error(path: &str, message: &str) -> (String, String) {
    let path = if path == "." { "" } else { path };
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some(end) = rest.find('`')
    {
        let name = &rest[..end];
        let field = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        return (field, "required field is missing".to_string());
    }
    (path.to_string(), message.to_string())
}

/// A manifest that cannot be used, named down to the field where known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    pub origin: Option<Origin>,
    /// `Kind namespace/name`, when the document got that far.
    pub object: Option<String>,
    /// JSON path of the field inside the object, e.g. `spec.rules[0].ports`.
    pub field: Option<String>,
    pub message: String,
}

impl ManifestError {
    fn file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            origin: Some(Origin {
                file: file.to_path_buf(),
                document: 0,
            }),
            object: None,
            field: None,
            message: message.into(),
        }
    }

    fn document(source: &Origin, field: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            origin: Some(source.clone()),
            object: None,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(s) if s.document == 0 => write!(f, "{}: ", s.file.display())?,
            Some(s) => write!(f, "{s}: ")?,
            None => {}
        }
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Files named by `paths`: files as given, directories walked recursively
/// for `.yaml`, `.yml` and `.json`, in path order so runs are repeatable.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ManifestError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| ManifestError::file(path, format!("cannot read: {e}")))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            if found.is_empty() {
                return Err(ManifestError::file(
                    path,
                    "directory holds no .yaml, .yml or .json files",
                ));
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ManifestError::file(dir, format!("cannot list: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| ManifestError::file(dir, format!("cannot list: {e}")))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .map_err(|e| ManifestError::file(&path, format!("cannot read: {e}")))?;
        if file_type.is_dir() {
            walk(&path, out)?;
        } else if is_manifest_name(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_manifest_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Largest manifest file read. The API server keeps an object under
/// 1.5 MiB; a file may hold many objects.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Most bytes of manifests one run reads, all files together.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;
/// Most objects (documents that are not empty) one run reads.
pub const MAX_OBJECTS: usize = 10_000;

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Read `file` if it is within [`MAX_FILE_BYTES`] and the run within
/// [`MAX_INPUT_BYTES`] (`total` counts what was read so far); its size is
/// checked before its first byte is read.
fn read_limited(file: &Path, total: &mut u64) -> Result<String, ManifestError> {
    use std::io::Read;
    let cannot = |e: std::io::Error| ManifestError::file(file, format!("cannot read: {e}"));
    let too_big = |size: u64| {
        ManifestError::file(
            file,
            format!(
                "{} ({size} bytes): a manifest file may be at most {} (split it)",
                mib(size),
                mib(MAX_FILE_BYTES)
            ),
        )
    };
    let size = std::fs::metadata(file).map_err(cannot)?.len();
    if size > MAX_FILE_BYTES {
        return Err(too_big(size));
    }
    *total += size;
    if *total > MAX_INPUT_BYTES {
        return Err(ManifestError::file(
            file,
            format!(
                "the manifests add up to more than {}, the most one run reads",
                mib(MAX_INPUT_BYTES)
            ),
        ));
    }
    // The file may have grown since: never read past the limit.
    let mut bytes = Vec::with_capacity(size as usize);
    std::fs::File::open(file)
        .map_err(cannot)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes)
        .map_err(|_| ManifestError::file(file, "cannot read: stream did not contain valid UTF-8"))
}

/// Read and check every document under `paths`. Objects without a namespace
/// get `default_namespace`. Every error found is returned, not just the first.
pub fn load(
    paths: &[PathBuf],
    default_namespace: &str,
) -> Result<Vec<Document>, Vec<ManifestError>> {
    if let Some(problem) = namespace_problem(default_namespace) {
        return Err(vec![ManifestError {
            origin: None,
            object: None,
            field: Some("--namespace".into()),
            message: problem,
        }]);
    }
    let files = collect_files(paths).map_err(|e| vec![e])?;
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let mut total: u64 = 0;
    for file in &files {
        let text = match read_limited(file, &mut total) {
            Ok(text) => text,
            Err(e) => {
                let over_total = total > MAX_INPUT_BYTES;
                errors.push(e);
                if over_total {
                    break;
                }
                continue;
            }
        };
        parse_file(file, &text, default_namespace, &mut docs, &mut errors);
        if docs.len() > MAX_OBJECTS {
            errors.push(ManifestError::file(
                file,
                format!(
                    "more than {MAX_OBJECTS} objects in the manifests read so far; \
                     a run takes at most {MAX_OBJECTS} (split the manifests, e.g. per namespace)"
                ),
            ));
            return Err(errors);
        }
    }
    check_duplicates(&docs, &mut errors);
    if errors.is_empty() {
        Ok(docs)
    } else {
        Err(errors)
    }
}

/// Parse one file's text (YAML, or JSON for `.json`) into documents.
pub fn parse_file(
    file: &Path,
    text: &str,
    default_namespace: &str,
    docs: &mut Vec<Document>,
    errors: &mut Vec<ManifestError>,
) {
    let is_json = file.extension().and_then(|e| e.to_str()) == Some("json");
    if is_json {
        let source = Origin {
            file: file.to_path_buf(),
            document: 1,
        };
        // serde_json refuses duplicate keys only into structs; a JSON
        // manifest goes through the YAML reader (JSON is YAML) so a repeated
        // key is found the same way.
        match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => {}
            Err(e) => {
                errors.push(ManifestError::document(
                    &source,
                    None,
                    format!("invalid JSON: {e}"),
                ));
                return;
            }
        }
    }
    let stream = yaml::read_stream(text);
    for doc in stream.documents {
        let source = Origin {
            file: file.to_path_buf(),
            document: doc.index,
        };
        push_document(source, doc, default_namespace, docs, errors);
    }
    // After a syntax error the stream cannot be resynchronised: the
    // documents before it are checked, nothing after it.
    if let Some(e) = stream.error {
        let source = Origin {
            file: file.to_path_buf(),
            document: e.document,
        };
        let what = if is_json { "JSON" } else { "YAML" };
        errors.push(ManifestError::document(
            &source,
            None,
            format!("invalid {what}: {}", e.message),
        ));
    }
}

fn push_document(
    source: Origin,
    doc: yaml::YamlDocument,
    default_namespace: &str,
    docs: &mut Vec<Document>,
    errors: &mut Vec<ManifestError>,
) {
    let duplicates = doc.duplicates;
    match envelope(source.clone(), doc.value, default_namespace) {
        Ok(Some(doc)) if duplicates.is_empty() => docs.push(doc),
        Ok(Some(doc)) => {
            for d in &duplicates {
                errors.push(doc.error(d.field.clone(), d.to_string()));
            }
        }
        Ok(None) => {}
        Err(e) => {
            errors.push(e);
            for d in &duplicates {
                errors.push(ManifestError::document(
                    &source,
                    Some(&d.field),
                    d.to_string(),
                ));
            }
        }
    }
}

/// Check `apiVersion`, `kind` and `metadata`; `None` for an empty document.
fn envelope(
    source: Origin,
    mut value: Value,
    default_namespace: &str,
) -> Result<Option<Document>, ManifestError> {
    let obj = match &mut value {
        Value::Null => return Ok(None),
        Value::Object(obj) => obj,
        _ => {
            return Err(ManifestError::document(
                &source,
                None,
                "a document must be an object with apiVersion, kind and metadata",
            ));
        }
    };
    let text = |obj: &serde_json::Map<String, Value>, key: &str| -> Result<String, ManifestError> {
        match obj.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(ManifestError::document(
                &source,
                Some(key),
                "must be a non-empty string",
            )),
            None => Err(ManifestError::document(
                &source,
                Some(key),
                "required field is missing",
            )),
        }
    };
    let kind = text(obj, "kind")?;
    let api_version = text(obj, "apiVersion")?;
    let metadata = match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(ManifestError::document(
                &source,
                Some("metadata"),
                "must be an object",
            ));
        }
        None => {
            return Err(ManifestError::document(
                &source,
                Some("metadata.name"),
                format!("{kind}: required field is missing"),
            ));
        }
    };
    let name = match metadata.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(ManifestError::document(
                &source,
                Some("metadata.name"),
                format!("{kind}: required field is missing or empty"),
            ));
        }
    };
    let namespace = match metadata.get("namespace") {
        None | Some(Value::Null) => default_namespace.to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => {
            return Err(ManifestError {
                origin: Some(source),
                object: Some(format!("{kind} {name}")),
                field: Some("metadata.namespace".into()),
                message: "must be a non-empty string".into(),
            });
        }
    };
    // Names as the API server checks them: the owner tag of a created
    // group is derived from `namespace/name`, which names one object only
    // when neither part can hold a `/`.
    let object = format!("{kind} {namespace}/{name}");
    let invalid = |field: &str, message: String| ManifestError {
        origin: Some(source.clone()),
        object: Some(object.clone()),
        field: Some(field.into()),
        message,
    };
    if let Some(problem) = namespace_problem(&namespace) {
        return Err(invalid("metadata.namespace", problem));
    }
    if let Some(problem) = name_problem(&name) {
        return Err(invalid("metadata.name", problem));
    }
    match metadata.get("uid") {
        None | Some(Value::Null) => {}
        Some(Value::String(uid)) => {
            if let Some(problem) = uid_problem(uid) {
                return Err(invalid("metadata.uid", problem));
            }
        }
        Some(_) => return Err(invalid("metadata.uid", "must be a string".into())),
    }
    metadata.insert("namespace".into(), Value::String(namespace.clone()));

    let doc = Document {
        origin: source,
        api_version,
        kind,
        namespace,
        name,
        body: value,
    };
    match KNOWN_KINDS.iter().find(|(_, k)| *k == doc.kind) {
        None => Err(doc.error(
            "kind",
            format!(
                "unknown kind {:?}: expected one of {}",
                doc.kind,
                KNOWN_KINDS
                    .iter()
                    .map(|(_, k)| *k)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Some((api, _)) if *api != doc.api_version => Err(doc.error(
            "apiVersion",
            format!(
                "{:?} is not served for {}: use {api}",
                doc.api_version, doc.kind
            ),
        )),
        Some(_) => Ok(Some(doc)),
    }
}

/// The same object twice, or two objects with one `metadata.uid` (the
/// owner tag: the second would silently adopt the first one's group).
fn check_duplicates(docs: &[Document], errors: &mut Vec<ManifestError>) {
    let mut seen: BTreeMap<(&str, &str, &str), &Origin> = BTreeMap::new();
    let mut uids: BTreeMap<&str, &Document> = BTreeMap::new();
    for doc in docs {
        let key = (doc.kind.as_str(), doc.namespace.as_str(), doc.name.as_str());
        if let Some(first) = seen.get(&key) {
            errors.push(doc.error(
                "metadata.name",
                format!("the same object is also defined in {first}"),
            ));
            continue;
        }
        seen.insert(key, &doc.origin);
        if let Some(uid) = doc.body["metadata"]["uid"].as_str() {
            if let Some(first) = uids.get(uid) {
                errors.push(doc.error(
                    "metadata.uid",
                    format!(
                        "{uid:?} is also the uid of {} ({}): every object needs its own",
                        first.object(),
                        first.origin
                    ),
                ));
            } else {
                uids.insert(uid, doc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Document>, Vec<ManifestError>) {
        let mut docs = Vec::new();
        let mut errors = Vec::new();
        parse_file(Path::new("m.yaml"), text, "default", &mut docs, &mut errors);
        check_duplicates(&docs, &mut errors);
        (docs, errors)
    }

    #[test]
    fn multi_document_yaml_with_default_namespace() {
        let (docs, errors) = parse(
            "---\napiVersion: secgroup.io/v1alpha1\nkind: SecurityGroup\nmetadata: {name: web}\n\
             ---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: keys, namespace: prod}\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].object(), "SecurityGroup default/web");
        assert_eq!(docs[0].origin.document, 1);
        assert_eq!(docs[0].body()["metadata"]["namespace"], "default");
        assert_eq!(docs[1].object(), "Secret prod/keys");
        assert_eq!(docs[1].origin.document, 3);
    }

    #[test]
    fn unknown_kind_names_file_object_and_field() {
        let (_, errors) = parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n");
        assert_eq!(errors.len(), 1);
        let msg = errors[0].to_string();
        assert!(
            msg.starts_with("m.yaml (document 1): ConfigMap default/cfg: kind: unknown kind"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_api_version_is_named() {
        let (_, errors) =
            parse("apiVersion: secgroup.io/v1\nkind: SecurityGroup\nmetadata: {name: a}\n");
        assert_eq!(errors[0].field.as_deref(), Some("apiVersion"));
    }

    #[test]
    fn missing_name_and_kind() {
        let (_, errors) =
            parse("apiVersion: v1\nkind: Secret\nmetadata: {}\n---\nmetadata: {name: x}\n");
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].field.as_deref(), Some("metadata.name"));
        assert_eq!(errors[1].field.as_deref(), Some("kind"));
        assert_eq!(errors[1].origin.as_ref().map(|s| s.document), Some(2));
    }

    #[test]
    fn yaml_syntax_error_names_the_document() {
        let (_, errors) =
            parse("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\nkind: [unclosed\n");
        assert_eq!(errors.len(), 1);
        let msg = errors[0].to_string();
        assert!(
            msg.starts_with("m.yaml (document 2): invalid YAML"),
            "{msg}"
        );
    }

    #[test]
    fn a_key_given_twice_names_file_object_field_and_both_lines() {
        let (docs, errors) = parse(
            "apiVersion: secgroup.io/v1alpha1\nkind: SecurityGroup\nmetadata: {name: web}\n\
             spec:\n  rules:\n    - direction: ingress\n      remoteIpPrefix: 10.0.0.0/8\n\
             \x20     protocol: tcp\n      remoteIpPrefix: 0.0.0.0/0\n",
        );
        assert!(
            docs.is_empty(),
            "a document with a repeated key is not used"
        );
        let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "m.yaml (document 1): SecurityGroup default/web: spec.rules[0].remoteIpPrefix: \
              duplicate key: given on line 7 and again on line 9; say it once"
            ]
        );

        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("s.json");
        std::fs::write(
            &json,
            "{\"apiVersion\": \"v1\", \"kind\": \"Secret\",\n \"metadata\": {\"name\": \"a\"},\n \"kind\": \"Secret\"}",
        )
        .unwrap();
        let errors = load(&[json], "default").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field.as_deref(), Some("kind"));
        assert!(
            errors[0].message.contains("line 1 and again on line 3"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn names_namespaces_and_uids_are_checked_as_the_api_server_does() {
        let doc = |meta: &str| format!("apiVersion: v1\nkind: Secret\nmetadata: {meta}\n---\n");
        let text: String = [
            "{name: c, namespace: a/b}",
            "{name: b/c, namespace: a}",
            "{name: Keys}",
            "{name: \"keys\\nfake\"}",
            "{name: ok, uid: \"u\\u001b[2J\"}",
            "{name: fine, namespace: team-a, uid: 0b9d2a5e-8c41-4f7e-9a3d-6e1f2c4b8a70}",
        ]
        .map(doc)
        .concat();
        let (docs, errors) = parse(&text);
        let fields: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| {
                (
                    e.origin.as_ref().map_or(0, |o| o.document),
                    e.field.as_deref().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            fields,
            [
                (1, "metadata.namespace"),
                (2, "metadata.name"),
                (3, "metadata.name"),
                (4, "metadata.name"),
                (5, "metadata.uid"),
            ]
        );
        assert_eq!(docs.len(), 1);
        assert!(
            errors[0]
                .to_string()
                .contains("\"a/b\" is not a namespace name")
        );

        let bad_default = load(&[PathBuf::from("/nonexistent")], "Team_A").unwrap_err();
        assert_eq!(bad_default[0].field.as_deref(), Some("--namespace"));
    }

    #[test]
    fn two_objects_with_one_uid_are_refused() {
        let (_, errors) = parse(
            "apiVersion: secgroup.io/v1alpha1\nkind: SecurityGroup\nmetadata: {name: web, uid: u-1}\n---\n\
             apiVersion: secgroup.io/v1alpha1\nkind: SecurityGroup\nmetadata: {name: db, uid: u-1}\n",
        );
        let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "m.yaml (document 2): SecurityGroup default/db: metadata.uid: \"u-1\" is also the uid of \
              SecurityGroup default/web (m.yaml (document 1)): every object needs its own"
            ]
        );
    }

    #[test]
    fn duplicates_are_rejected() {
        let (_, errors) = parse(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: default}\n",
        );
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .to_string()
                .contains("also defined in m.yaml (document 1)")
        );
    }

    #[test]
    fn typed_errors_name_the_missing_field() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Rule {
            direction: String,
        }
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Spec {
            rules: Vec<Rule>,
        }
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Obj {
            spec: Spec,
        }
        let (docs, _) = parse(
            "apiVersion: secgroup.io/v1alpha1\nkind: SecurityGroup\nmetadata: {name: web}\n\
             spec:\n  rules:\n  - direction: ingress\n  - protocol: tcp\n",
        );
        let err = docs[0].typed::<Obj>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "m.yaml (document 1): SecurityGroup default/web: spec.rules[1].direction: required field is missing"
            )
        );
    }

    #[test]
    fn json_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("sub/b.json"),
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b"}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("a.yml"),
            "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("README.md"), "not a manifest").unwrap();
        let docs = load(&[dir.path().to_path_buf()], "ns").unwrap();
        let names: Vec<_> = docs.iter().map(Document::object).collect();
        assert_eq!(names, ["Secret ns/a", "Secret ns/b"]);
    }

    #[test]
    fn missing_path_is_an_error() {
        let errors = load(&[PathBuf::from("/nonexistent/x.yaml")], "default").unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .starts_with("/nonexistent/x.yaml: cannot read")
        );
    }

    #[test]
    fn debug_never_shows_the_body() {
        let (docs, _) = parse(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData: {secretKey: hunter2}\n",
        );
        assert!(!format!("{:?}", docs[0]).contains("hunter2"));
    }
}
