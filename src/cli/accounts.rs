//! From checked documents to one desired state per `CloudAccount`: the CRD
//! schema (CEL included) as the API server would apply it, the typed
//! objects, every reference among them, and the controller's own checks.
//! Any problem is an error naming the file, the object and the field; the
//! caller stops before any cloud call.

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;

use super::manifest::{API_VERSION, Document, ManifestError, Origin};
use crate::crd::resolve::{AccountSettings, UnresolvedReason, account_settings, resolve};
use crate::crd::schema_check::check_against_schema;
use crate::crd::{CloudAccount, PortSecurityGroups, SecurityGroup, SecurityGroupMembership};
use crate::model::{DesiredState, FieldError, ObjectKey};

/// Most `CloudAccount`s one run plans. Each account is resolved against
/// every object of its namespace, so this keeps the work linear in the
/// number of objects (and each account reads its cloud).
pub const MAX_ACCOUNTS: usize = 100;

/// The typed objects of each namespace, by reference.
struct ByNamespace<'a> {
    groups: BTreeMap<String, Vec<&'a SecurityGroup>>,
    ports: BTreeMap<String, Vec<&'a PortSecurityGroups>>,
    memberships: BTreeMap<String, Vec<&'a SecurityGroupMembership>>,
}

impl<'a> ByNamespace<'a> {
    fn of(typed: &'a Typed) -> Self {
        fn split<K: ResourceExt>(objects: &[K]) -> BTreeMap<String, Vec<&K>> {
            let mut out: BTreeMap<String, Vec<&K>> = BTreeMap::new();
            for o in objects {
                out.entry(o.namespace().unwrap_or_default())
                    .or_default()
                    .push(o);
            }
            out
        }
        Self {
            groups: split(&typed.groups),
            ports: split(&typed.ports),
            memberships: split(&typed.memberships),
        }
    }

    #[allow(clippy::type_complexity)]
    fn get(
        &self,
        namespace: &str,
    ) -> (
        &[&'a SecurityGroup],
        &[&'a PortSecurityGroups],
        &[&'a SecurityGroupMembership],
    ) {
        (
            self.groups.get(namespace).map_or(&[], Vec::as_slice),
            self.ports.get(namespace).map_or(&[], Vec::as_slice),
            self.memberships.get(namespace).map_or(&[], Vec::as_slice),
        )
    }
}

/// One account, resolved, with no problems left.
#[derive(Debug)]
pub struct ResolvedAccount {
    pub namespace: String,
    pub name: String,
    pub settings: AccountSettings,
    pub desired: DesiredState,
    /// Where the account's manifest came from.
    pub origin: Origin,
}

/// The typed custom resources among the documents.
#[derive(Default)]
struct Typed {
    accounts: Vec<CloudAccount>,
    groups: Vec<SecurityGroup>,
    ports: Vec<PortSecurityGroups>,
    memberships: Vec<SecurityGroupMembership>,
}

pub(crate) fn key_of(doc: &Document) -> ObjectKey {
    ObjectKey::new(&doc.kind, &doc.namespace, &doc.name)
}

/// Split `path: message` as the schema checker writes it.
fn split_field(problem: &str) -> (String, String) {
    match problem.split_once(": ") {
        Some((field, message)) if !field.contains(' ') || field.starts_with("spec") => {
            (field.to_string(), message.to_string())
        }
        _ => (String::new(), problem.to_string()),
    }
}

/// Check, type and resolve every custom resource in `docs`.
pub fn resolve_documents(docs: &[Document]) -> Result<Vec<ResolvedAccount>, Vec<ManifestError>> {
    let by_key: BTreeMap<ObjectKey, &Document> = docs.iter().map(|d| (key_of(d), d)).collect();
    let mut errors = Vec::new();
    let mut typed = Typed::default();

    // 1. Schema and CEL, then serde into the typed objects.
    for doc in docs.iter().filter(|d| d.api_version == API_VERSION) {
        let problems = check_against_schema(doc.body());
        if !problems.is_empty() {
            for p in problems {
                let (field, message) = split_field(&p);
                errors.push(doc.error(field, message));
            }
            continue;
        }
        let result = match doc.kind.as_str() {
            "CloudAccount" => doc.typed().map(|o| typed.accounts.push(o)),
            "SecurityGroup" => doc.typed().map(|o| typed.groups.push(o)),
            "PortSecurityGroups" => doc.typed().map(|o| typed.ports.push(o)),
            "SecurityGroupMembership" => doc.typed().map(|o| typed.memberships.push(o)),
            // The envelope check admits no other kind of this group.
            _ => Ok(()),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if typed.accounts.len() > MAX_ACCOUNTS {
        let doc = typed.accounts.get(MAX_ACCOUNTS).and_then(|a| {
            by_key.get(&ObjectKey::new(
                "CloudAccount",
                &a.namespace().unwrap_or_default(),
                &a.name_any(),
            ))
        });
        let message = format!(
            "{} CloudAccounts; one run plans at most {MAX_ACCOUNTS} (split the manifests)",
            typed.accounts.len()
        );
        return Err(vec![match doc {
            Some(doc) => doc.error("", message),
            None => ManifestError {
                origin: None,
                object: None,
                field: None,
                message,
            },
        }]);
    }

    // 2. Every accountRef names an account of its namespace.
    let accounts: BTreeSet<(String, String)> = typed
        .accounts
        .iter()
        .map(|a| (a.namespace().unwrap_or_default(), a.name_any()))
        .collect();
    let mut check_account = |ns: String, name: String, key: ObjectKey| {
        if !accounts.contains(&(ns.clone(), name.clone()))
            && let Some(doc) = by_key.get(&key)
        {
            errors.push(doc.error(
                "spec.accountRef.name",
                format!("no CloudAccount {name:?} in namespace {ns:?} among the manifests"),
            ));
        }
    };
    for g in &typed.groups {
        check_account(
            g.namespace().unwrap_or_default(),
            g.spec.account_ref.name.clone(),
            ObjectKey::new(
                "SecurityGroup",
                &g.namespace().unwrap_or_default(),
                &g.name_any(),
            ),
        );
    }
    for p in &typed.ports {
        check_account(
            p.namespace().unwrap_or_default(),
            p.spec.account_ref.name.clone(),
            ObjectKey::new(
                "PortSecurityGroups",
                &p.namespace().unwrap_or_default(),
                &p.name_any(),
            ),
        );
    }
    for m in &typed.memberships {
        if let Some(account) = &m.spec.account_ref {
            check_account(
                m.namespace().unwrap_or_default(),
                account.name.clone(),
                ObjectKey::new(
                    "SecurityGroupMembership",
                    &m.namespace().unwrap_or_default(),
                    &m.name_any(),
                ),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // 3. Resolve each account against the objects of its namespace.
    let mut resolved = Vec::new();
    // Errors that only follow from another object's errors are listed
    // after the root causes, so the first line is the one to fix.
    let mut cascades: Vec<ManifestError> = Vec::new();
    let mut belongs: BTreeSet<ObjectKey> = BTreeSet::new();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut push = |errors: &mut Vec<ManifestError>, e: ManifestError| {
        // A membership whose group is missing is reported by every account.
        if reported.insert(e.to_string()) {
            errors.push(e);
        }
    };
    // Each namespace's objects, once: an account is resolved against the
    // objects of its namespace only, by reference.
    let by_namespace = ByNamespace::of(&typed);
    for account in &typed.accounts {
        let ns = account.namespace().unwrap_or_default();
        let name = account.name_any();
        let account_key = ObjectKey::new("CloudAccount", &ns, &name);
        let (groups, ports, memberships) = by_namespace.get(&ns);
        let settings = match account_settings(account) {
            Ok(s) => Some(s),
            Err(field_errors) => {
                for fe in field_errors {
                    push(&mut errors, field_error(&by_key, &account_key, fe));
                }
                None
            }
        };
        let resolution = resolve(account, groups, ports, memberships);
        belongs.extend(resolution.objects.iter().cloned());
        for (key, problems) in &resolution.problems {
            for fe in &problems.errors {
                push(&mut errors, field_error(&by_key, key, fe.clone()));
            }
            for u in &problems.unresolved {
                let message = match u.reason {
                    UnresolvedReason::NotFound => format!(
                        "no {} {:?} in namespace {:?} among the manifests",
                        u.kind, u.name, key.namespace
                    ),
                    UnresolvedReason::NoGroupIdYet => format!(
                        "{} {:?} cannot be used until its own errors are fixed",
                        u.kind, u.name
                    ),
                };
                let e = match by_key.get(key) {
                    Some(doc) => doc.error(u.field.clone(), message),
                    None => ManifestError {
                        origin: None,
                        object: Some(key.to_string()),
                        field: Some(u.field.clone()),
                        message,
                    },
                };
                if u.reason == UnresolvedReason::NoGroupIdYet {
                    push(&mut cascades, e);
                } else {
                    push(&mut errors, e);
                }
            }
        }
        if let (Some(settings), Some(doc)) = (settings, by_key.get(&account_key)) {
            resolved.push(ResolvedAccount {
                namespace: ns,
                name,
                settings,
                desired: resolution.desired,
                origin: doc.origin.clone(),
            });
        }
    }

    // 4. Anything that belongs to no account (e.g. a membership whose
    // group reference resolves nowhere) would silently do nothing.
    for doc in docs.iter().filter(|d| d.api_version == API_VERSION) {
        let key = key_of(doc);
        if doc.kind != "CloudAccount" && !belongs.contains(&key) {
            let field = if doc.kind == "SecurityGroupMembership" {
                "spec.securityGroupRef.name"
            } else {
                "spec.accountRef.name"
            };
            push(
                &mut errors,
                doc.error(
                    field,
                    "does not lead to any CloudAccount among the manifests",
                ),
            );
        }
    }

    errors.extend(cascades);
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

fn field_error(
    by_key: &BTreeMap<ObjectKey, &Document>,
    fallback: &ObjectKey,
    fe: FieldError,
) -> ManifestError {
    let key = fe.object.clone().unwrap_or_else(|| fallback.clone());
    match by_key.get(&key) {
        Some(doc) => doc.error(fe.field, fe.message),
        None => ManifestError {
            origin: None,
            object: Some(key.to_string()),
            field: Some(fe.field).filter(|f| !f.is_empty()),
            message: fe.message,
        },
    }
}
