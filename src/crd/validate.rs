//! The schema's checks again in code, plus the checks that need the
//! account's provider, run before any cloud call. Every error names the
//! field by its JSON path (`spec.rules[2].remoteIpPrefix`).
//!
//! Objects from the API server have passed the CRD schema already; objects
//! from manifests (the one-shot CLI) have not, so everything the schema
//! says that matters to the cloud is checked again here. Rule fields go
//! through [`normalize_rule`], the one parser the planner also uses.
//!
//! Provider-specific checks:
//! - Huawei: `projectId` required on the account; at most 100 groups per
//!   port.
//! - Baidu: one port or one range per rule (no lists), no `action: deny`,
//!   no `priority`, no address groups; `vpcId` required to create a group;
//!   at most 10 groups per instance; at most 50 rules per direction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kube::{Resource, ResourceExt};

use crate::model::text::printable;
use crate::model::{
    Direction, FieldError, GroupHandle, Intent, Mode, ObjectKey, ProviderKind, Rule,
};
use crate::plan::normalize::{RawRule, normalize_rule};

use super::{
    ANNOTATION_ALLOW_MASS_CHANGE, ANNOTATION_MODE, ANNOTATION_PAUSED, CloudAccount, GroupRef,
    NodeSecurityGroups, PortSecurityGroups, Provider, RuleAction, RuleDirection, RuleEthertype,
    RuleSpec, SecurityGroup, SecurityGroupMembership, SecurityGroupRules,
};

/// Most rules `spec.rules` may hold (the schema's `maxItems`).
pub const MAX_RULES: usize = 200;
/// Most rules per direction in a Baidu group (quota).
pub const BAIDU_MAX_RULES_PER_DIRECTION: usize = 50;
/// Most entries `spec.securityGroups` may hold (the schema's `maxItems`).
pub const MAX_PORT_GROUPS: usize = 100;
/// Most ports `spec.ports` of a membership may list (the schema's
/// `maxItems`): 10,000 ids of up to 128 characters keep the object inside
/// the API server's 1.5 MiB.
pub const MAX_MEMBERSHIP_PORTS: usize = 10_000;

/// `Kind/namespace/name` of an object.
pub fn object_key<K: kube::Resource<DynamicType = ()>>(obj: &K) -> ObjectKey {
    ObjectKey::new(
        &K::kind(&()),
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default(),
    )
}

/// The domain provider of a `spec.provider`.
pub fn provider_kind(provider: Provider) -> ProviderKind {
    match provider {
        Provider::Huawei => ProviderKind::Huawei,
        Provider::Baidu => ProviderKind::Baidu,
    }
}

struct Errors<'a> {
    key: &'a ObjectKey,
    list: Vec<FieldError>,
}

impl<'a> Errors<'a> {
    fn new(key: &'a ObjectKey) -> Self {
        Self {
            key,
            list: Vec::new(),
        }
    }

    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.list
            .push(FieldError::new(Some(self.key), field, message));
    }
}

/// Cloud ids: a letter or digit, then letters, digits, `_`, `.`, `-`;
/// at most 128 characters (the schema's pattern).
fn check_cloud_id(errors: &mut Errors<'_>, field: &str, id: &str) {
    let ok = id.len() <= 128
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        errors.push(
            field,
            format!(
                "{id:?} is not a cloud id (letters, digits, '_', '.', '-', at most 128 characters)"
            ),
        );
    }
}

/// Group names: 1-64 letters, digits, `_`, `-`, `.`.
fn check_group_name(errors: &mut Errors<'_>, field: &str, name: &str, hint: &str) {
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        errors.push(
            field,
            format!("{name:?} is not a group name (1-64 letters, digits, '_', '-', '.'){hint}"),
        );
    }
}

/// Descriptions: at most 255 characters, no `<` or `>`.
fn check_description(errors: &mut Errors<'_>, field: &str, text: &str) {
    if text.chars().count() > 255 {
        errors.push(field, "longer than 255 characters");
    }
    if text.contains(['<', '>']) {
        errors.push(field, "must not contain '<' or '>'");
    }
    check_no_control_characters(errors, field, text);
}

/// No control characters (C0, DEL, C1): a newline or an ESC sequence in a
/// description would reach the cloud and every plan and log that shows it.
fn check_no_control_characters(errors: &mut Errors<'_>, field: &str, text: &str) {
    if let Some((i, c)) = text.chars().enumerate().find(|(_, c)| c.is_control()) {
        errors.push(
            field,
            format!(
                "must not contain control characters ({} at character {})",
                printable(&c.to_string()),
                i + 1
            ),
        );
    }
}

/// Lower-case letters, digits and `-`, starting and ending with a letter
/// or digit (a part of a DNS-1123 name, of any length).
fn is_dns_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 label: one part of at most 63 characters.
fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && is_dns_part(s)
}

/// Why `name` is not an object name as the API server requires for custom
/// resources and Secrets (a DNS-1123 subdomain: dot-separated parts, at
/// most 253 characters in all), or `None`.
pub fn name_problem(name: &str) -> Option<String> {
    let ok = name.len() <= 253 && name.split('.').all(is_dns_part);
    (!ok).then(|| {
        format!(
            "{name:?} is not an object name: lower-case letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most 253 characters"
        )
    })
}

/// Why `namespace` is not a namespace name (a DNS-1123 label), or `None`.
pub fn namespace_problem(namespace: &str) -> Option<String> {
    (!is_dns_label(namespace)).then(|| {
        format!(
            "{namespace:?} is not a namespace name: lower-case letters, digits and '-', \
             starting and ending with a letter or digit, at most 63 characters"
        )
    })
}

/// Why `uid` cannot be an owner's UID, or `None`. The API server writes
/// UUIDs; a manifest's `metadata.uid` becomes the owner tag's value in the
/// cloud, so it is held to what both clouds take in a tag value.
pub fn uid_problem(uid: &str) -> Option<String> {
    let ok = (1..=128).contains(&uid.len())
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    (!ok).then(|| {
        format!("{uid:?} is not a UID (letters, digits, '-', '_', '.', at most 128 characters)")
    })
}

/// `prefix` without the leading zeros of its IPv4 parts, when it has any
/// (`010.0.0.0/8` gives `10.0.0.0/8`); `None` when there are none. Only
/// dotted decimal parts count: IPv6 groups may have leading zeros.
fn without_leading_zeros(prefix: &str) -> Option<String> {
    let (addr, len) = match prefix.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (prefix, None),
    };
    // The IPv4 part is after the last ':' (all of it, for plain IPv4).
    let start = addr.rfind(':').map_or(0, |i| i + 1);
    let (head, v4) = addr.split_at(start);
    let parts: Vec<&str> = v4.split('.').collect();
    let zero_led =
        |p: &&str| p.len() > 1 && p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() < 2 || !parts.iter().any(zero_led) {
        return None;
    }
    let fixed: Vec<String> = parts
        .iter()
        .map(|p| match p.trim_start_matches('0') {
            "" if !p.is_empty() => "0".to_string(),
            t if zero_led(p) => t.to_string(),
            _ => p.to_string(),
        })
        .collect();
    let mut out = format!("{head}{}", fixed.join("."));
    if let Some(len) = len {
        out.push('/');
        out.push_str(len);
    }
    Some(out)
}

/// Object names in references (DNS subdomain).
fn check_object_name(errors: &mut Errors<'_>, field: &str, name: &str) {
    if let Some(problem) = name_problem(name) {
        errors.push(field, problem);
    }
}

/// `metadata`: the name, namespace and UID the API server would accept.
/// Objects read from the API server always pass; manifests of the
/// one-shot CLI need it, since the owner tag is derived from these.
fn check_metadata(errors: &mut Errors<'_>, meta: &kube::api::ObjectMeta) {
    check_object_name(
        errors,
        "metadata.name",
        meta.name.as_deref().unwrap_or_default(),
    );
    // A namespaced object always has one from the API server, and the CLI
    // fills in the default; an object built in code without one is fine.
    if let Some(problem) = meta.namespace.as_deref().and_then(namespace_problem) {
        errors.push("metadata.namespace", problem);
    }
    if let Some(problem) = meta.uid.as_deref().and_then(uid_problem) {
        errors.push("metadata.uid", problem);
    }
}

// ---------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------

fn annotation_field(key: &str) -> String {
    format!("metadata.annotations[{key:?}]")
}

fn bool_annotation(
    errors: &mut Errors<'_>,
    annotations: &BTreeMap<String, String>,
    key: &str,
) -> bool {
    match annotations.get(key).map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            errors.push(
                annotation_field(key),
                format!("{other:?} is not \"true\" or \"false\""),
            );
            false
        }
    }
}

/// The object's [`Intent`] from its annotations: `secgroup.io/paused: "true"`
/// → `Paused` (wins over the mode), `secgroup.io/mode: observe` →
/// `Observe` (`apply` is the default), `secgroup.io/allow-mass-change:
/// "true"`.
pub fn intent_of<K: kube::Resource<DynamicType = ()>>(obj: &K) -> Result<Intent, Vec<FieldError>> {
    let key = object_key(obj);
    let mut errors = Errors::new(&key);
    let annotations = obj.annotations();
    let paused = bool_annotation(&mut errors, annotations, ANNOTATION_PAUSED);
    let allow_mass_change = bool_annotation(&mut errors, annotations, ANNOTATION_ALLOW_MASS_CHANGE);
    let mode = match annotations.get(ANNOTATION_MODE).map(String::as_str) {
        None | Some("apply") => Mode::Apply,
        Some("observe") => Mode::Observe,
        Some(other) => {
            errors.push(
                annotation_field(ANNOTATION_MODE),
                format!("{other:?} is not a mode (apply or observe)"),
            );
            Mode::Apply
        }
    };
    let mode = if paused { Mode::Paused } else { mode };
    if errors.list.is_empty() {
        Ok(Intent {
            owner: key.clone(),
            mode,
            allow_mass_change,
        })
    } else {
        Err(errors.list)
    }
}

// ---------------------------------------------------------------------------
// CloudAccount
// ---------------------------------------------------------------------------

/// Checks of a `CloudAccount` (Huawei needs `projectId`).
pub fn validate_account(account: &CloudAccount) -> Vec<FieldError> {
    let key = object_key(account);
    let mut errors = Errors::new(&key);
    check_metadata(&mut errors, account.meta());
    let spec = &account.spec;
    let region_ok = (1..=63).contains(&spec.region.len())
        && spec
            .region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !spec.region.starts_with('-')
        && !spec.region.ends_with('-');
    if !region_ok {
        errors.push(
            "spec.region",
            format!("{:?} is not a region name", spec.region),
        );
    }
    match (spec.provider, spec.project_id.as_deref()) {
        (Provider::Huawei, None | Some("")) => {
            errors.push("spec.projectId", "required for provider huawei")
        }
        (_, Some(p))
            if p.len() > 64
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')) =>
        {
            errors.push("spec.projectId", format!("{p:?} is not a project id"))
        }
        _ => {}
    }
    if let Some(endpoint) = &spec.endpoint {
        let rest = endpoint
            .strip_prefix("https://")
            .or_else(|| endpoint.strip_prefix("http://"));
        match rest {
            Some(host)
                if !host.is_empty()
                    && !host.starts_with('/')
                    && !host.contains(char::is_whitespace) => {}
            _ => errors.push(
                "spec.endpoint",
                format!("{endpoint:?} is not an http(s) URL"),
            ),
        }
    }
    check_object_name(
        &mut errors,
        "spec.credentialsSecretRef.name",
        &spec.credentials_secret_ref.name,
    );
    if spec.max_requests_per_second == Some(0) {
        errors.push("spec.maxRequestsPerSecond", "must be greater than 0");
    }
    if let Some(identity) = &spec.node_identity {
        check_node_identity(&mut errors, identity);
    }
    errors.list
}

/// `spec.nodeIdentity`: one place to read the instance id from, and a
/// pattern that compiles with exactly one capture group.
fn check_node_identity(errors: &mut Errors<'_>, identity: &super::NodeIdentity) {
    let given = [
        identity.label.is_some(),
        identity.annotation.is_some(),
        identity.provider_id_pattern.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        errors.push(
            "spec.nodeIdentity",
            "give at most one of label, annotation, providerIdPattern",
        );
    }
    for (field, key) in [
        ("label", &identity.label),
        ("annotation", &identity.annotation),
    ] {
        if let Some(key) = key {
            let path = format!("spec.nodeIdentity.{field}");
            // A label key's syntax, which annotation keys share.
            let probe = k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                match_labels: Some(BTreeMap::from([(key.clone(), String::new())])),
                match_expressions: None,
            };
            if let Some(e) = super::selector::validate(&probe, errors.key, &path).first() {
                errors.push(path, e.message.clone());
            }
        }
    }
    if let Err(why) = super::nodes::Identity::new(Some(identity)) {
        errors.push("spec.nodeIdentity.providerIdPattern", why);
    }
}

// ---------------------------------------------------------------------------
// SecurityGroup
// ---------------------------------------------------------------------------

fn direction_str(d: RuleDirection) -> &'static str {
    match d {
        RuleDirection::Ingress => "ingress",
        RuleDirection::Egress => "egress",
    }
}

fn ethertype_str(e: RuleEthertype) -> &'static str {
    match e {
        RuleEthertype::IPv4 => "IPv4",
        RuleEthertype::IPv6 => "IPv6",
    }
}

fn action_str(a: RuleAction) -> &'static str {
    match a {
        RuleAction::Allow => "allow",
        RuleAction::Deny => "deny",
    }
}

/// Normalize `spec.rules` for `provider`. `remote_group(i, name)` gives
/// the handle of rule `i`'s `remoteGroupRef.name` (validation passes a
/// placeholder; resolution looks the group up). Errors carry full paths;
/// every problem of every rule is reported. Two rules that normalize to the
/// same rule are an error too (the clouds refuse duplicates).
pub fn normalize_rules(
    key: &ObjectKey,
    rules: &[RuleSpec],
    provider: ProviderKind,
    mut remote_group: impl FnMut(usize, &str) -> GroupHandle,
) -> Result<Vec<Rule>, Vec<FieldError>> {
    let mut errors = Errors::new(key);
    if rules.len() > MAX_RULES {
        errors.push(
            "spec.rules",
            format!("{} rules; at most {MAX_RULES} are allowed", rules.len()),
        );
    }
    let mut out: Vec<Rule> = Vec::with_capacity(rules.len());
    let mut first_index: BTreeMap<Rule, usize> = BTreeMap::new();
    for (i, spec) in rules.iter().enumerate() {
        let path = format!("spec.rules[{i}]");
        let remotes = usize::from(spec.remote_ip_prefix.is_some())
            + usize::from(spec.remote_group_ref.is_some())
            + usize::from(spec.remote_group_id.is_some())
            + usize::from(spec.remote_address_group_id.is_some());
        if remotes != 1 {
            errors.push(
                path.clone(),
                "give exactly one of remoteIpPrefix, remoteGroupRef, remoteGroupId, remoteAddressGroupId",
            );
        }
        if let Some(r) = &spec.remote_group_ref {
            check_object_name(&mut errors, &format!("{path}.remoteGroupRef.name"), &r.name);
        }
        if let Some(d) = &spec.description {
            check_no_control_characters(&mut errors, &format!("{path}.description"), d);
        }
        // Spellings the parser would read one way and a person (or another
        // tool) another: refused rather than guessed.
        let mut ambiguous = false;
        if let Some(ports) = &spec.ports
            && ports.trim().is_empty()
        {
            errors.push(
                format!("{path}.ports"),
                format!(
                    "{ports:?} is ambiguous: leave ports out for all ports, or give a port or range (\"443\", \"8000-9000\")"
                ),
            );
            ambiguous = true;
        }
        if let Some(prefix) = &spec.remote_ip_prefix
            && let Some(plain) = without_leading_zeros(prefix)
        {
            errors.push(
                format!("{path}.remoteIpPrefix"),
                format!(
                    "{prefix:?}: an IPv4 part with a leading zero is ambiguous (octal or decimal?); write {plain}"
                ),
            );
            ambiguous = true;
        }
        if ambiguous {
            continue;
        }
        if let Some(id) = &spec.remote_group_id {
            check_cloud_id(&mut errors, &format!("{path}.remoteGroupId"), id);
        }
        if let Some(id) = &spec.remote_address_group_id {
            check_cloud_id(&mut errors, &format!("{path}.remoteAddressGroupId"), id);
        }
        // Pass normalize one remote only, so a second one is reported once
        // (above) rather than again as a normalization error.
        let group = match (&spec.remote_group_ref, &spec.remote_group_id) {
            (Some(r), _) if spec.remote_ip_prefix.is_none() => Some(remote_group(i, &r.name)),
            (None, Some(id)) if spec.remote_ip_prefix.is_none() => {
                Some(GroupHandle::Existing(id.clone()))
            }
            _ => None,
        };
        let address_group = if spec.remote_ip_prefix.is_none() && group.is_none() {
            spec.remote_address_group_id.as_deref()
        } else {
            None
        };
        let raw = RawRule {
            direction: direction_str(spec.direction),
            ethertype: spec.ethertype.map(ethertype_str),
            protocol: spec.protocol.as_deref(),
            ports: spec.ports.as_deref(),
            remote_ip_prefix: spec.remote_ip_prefix.as_deref(),
            remote_group: group,
            remote_address_group_id: address_group,
            action: spec.action.map(action_str),
            priority: spec.priority.map(i64::from),
            description: spec.description.as_deref(),
        };
        match normalize_rule(&raw, provider) {
            Ok(rule) => {
                if let Some(first) = first_index.get(&rule) {
                    errors.push(
                        path.clone(),
                        format!("the same rule as spec.rules[{first}] ({rule})"),
                    );
                } else {
                    first_index.insert(rule.clone(), i);
                }
                out.push(rule);
            }
            Err(problems) => {
                for (field, message) in problems {
                    let full = if field == "remote" {
                        path.clone()
                    } else {
                        format!("{path}.{field}")
                    };
                    errors.push(full, message);
                }
            }
        }
    }
    if provider == ProviderKind::Baidu {
        // Baidu identifies a rule by (remark, protocol, direction, ports,
        // remote) without the ethertype: two rules differing only there
        // are one rule to Baidu, and the second authorize would fail.
        let mut by_identity: BTreeMap<Rule, usize> = BTreeMap::new();
        for (i, rule) in out.iter().enumerate() {
            let identity = Rule {
                ethertype: crate::model::Ethertype::IPv4,
                ..rule.clone()
            };
            if let Some(first) = by_identity.insert(identity, i) {
                errors.push(
                    format!("spec.rules[{i}].ethertype"),
                    format!(
                        "differs from spec.rules[{first}] only in ethertype, which Baidu does not count in a rule's identity"
                    ),
                );
            }
        }
        for (direction, name) in [
            (Direction::Ingress, "ingress"),
            (Direction::Egress, "egress"),
        ] {
            let n = out.iter().filter(|r| r.direction == direction).count();
            if n > BAIDU_MAX_RULES_PER_DIRECTION {
                errors.push(
                    "spec.rules",
                    format!(
                        "{n} {name} rules; a Baidu group holds at most {BAIDU_MAX_RULES_PER_DIRECTION} per direction"
                    ),
                );
            }
        }
    }
    if errors.list.is_empty() {
        Ok(out)
    } else {
        Err(errors.list)
    }
}

/// Checks of a `SecurityGroup` for an account of `provider`.
pub fn validate_security_group(group: &SecurityGroup, provider: ProviderKind) -> Vec<FieldError> {
    let key = object_key(group);
    let mut errors = Errors::new(&key);
    check_metadata(&mut errors, group.meta());
    let spec = &group.spec;
    check_object_name(&mut errors, "spec.accountRef.name", &spec.account_ref.name);
    if let Some(id) = &spec.group_id {
        check_cloud_id(&mut errors, "spec.groupId", id);
    }
    match &spec.name {
        Some(name) => check_group_name(&mut errors, "spec.name", name, ""),
        None => check_group_name(
            &mut errors,
            "metadata.name",
            &group.name_any(),
            "; set spec.name",
        ),
    }
    if let Some(d) = &spec.description {
        check_description(&mut errors, "spec.description", d);
    }
    if let Some(vpc) = &spec.vpc_id {
        check_cloud_id(&mut errors, "spec.vpcId", vpc);
    }
    if provider == ProviderKind::Baidu && spec.group_id.is_none() && spec.vpc_id.is_none() {
        errors.push(
            "spec.vpcId",
            "required on Baidu to create a group (or set spec.groupId to adopt one)",
        );
    }
    let mut list = errors.list;
    if let Some(rules) = &spec.rules {
        list.extend(check_rules(&key, rules, provider));
    }
    list
}

/// The errors of `spec.rules`, normalized as resolution will (with a
/// placeholder for each `remoteGroupRef`: only the rule's shape matters).
fn check_rules(key: &ObjectKey, rules: &[RuleSpec], provider: ProviderKind) -> Vec<FieldError> {
    let placeholder = |_: usize, name: &str| {
        GroupHandle::New(ObjectKey::new("SecurityGroup", &key.namespace, name))
    };
    normalize_rules(key, rules, provider, placeholder)
        .err()
        .unwrap_or_default()
}

/// The group a membership or `SecurityGroupRules` targets: `securityGroupRef`,
/// or `accountRef` with `securityGroupId`. `account_with_ref`: whether an
/// `accountRef` may come with `securityGroupRef` too.
fn check_group_target(
    errors: &mut Errors<'_>,
    group_ref: Option<&super::LocalObjectRef>,
    account_ref: Option<&super::LocalObjectRef>,
    group_id: Option<&String>,
    account_with_ref: bool,
) {
    match (group_ref, account_ref, group_id) {
        (Some(r), account, None) if account.is_none() || account_with_ref => {
            check_object_name(errors, "spec.securityGroupRef.name", &r.name);
            if let Some(a) = account {
                check_object_name(errors, "spec.accountRef.name", &a.name);
            }
        }
        (None, Some(a), Some(id)) => {
            check_object_name(errors, "spec.accountRef.name", &a.name);
            check_cloud_id(errors, "spec.securityGroupId", id);
        }
        _ => errors.push(
            "spec",
            "give securityGroupRef, or accountRef together with securityGroupId",
        ),
    }
}

// ---------------------------------------------------------------------------
// PortSecurityGroups
// ---------------------------------------------------------------------------

fn check_group_ref(errors: &mut Errors<'_>, path: &str, r: &GroupRef) {
    match (&r.name, &r.id) {
        (Some(name), None) => check_object_name(errors, &format!("{path}.name"), name),
        (None, Some(id)) => check_cloud_id(errors, &format!("{path}.id"), id),
        _ => errors.push(path, "give exactly one of name or id"),
    }
}

/// Checks of a `PortSecurityGroups` for an account of `provider`.
pub fn validate_port_security_groups(
    port: &PortSecurityGroups,
    provider: ProviderKind,
) -> Vec<FieldError> {
    let key = object_key(port);
    let mut errors = Errors::new(&key);
    check_metadata(&mut errors, port.meta());
    let spec = &port.spec;
    check_object_name(&mut errors, "spec.accountRef.name", &spec.account_ref.name);
    check_cloud_id(&mut errors, "spec.portId", &spec.port_id);
    check_group_list(&mut errors, &spec.security_groups, provider);
    errors.list
}

/// `spec.securityGroups` of a port-centric kind: 1 to the provider's
/// limit of references, none repeated.
fn check_group_list(errors: &mut Errors<'_>, groups: &[GroupRef], provider: ProviderKind) {
    if groups.is_empty() {
        errors.push(
            "spec.securityGroups",
            "must list at least one group: a port always keeps a group",
        );
    }
    let limit = provider.max_groups_per_port().min(MAX_PORT_GROUPS);
    if groups.len() > limit {
        errors.push(
            "spec.securityGroups",
            format!(
                "{} groups; a {provider} {} holds at most {limit}",
                groups.len(),
                if provider == ProviderKind::Baidu {
                    "instance"
                } else {
                    "port"
                }
            ),
        );
    }
    let mut seen: HashMap<&GroupRef, usize> = HashMap::new();
    for (i, r) in groups.iter().enumerate() {
        let path = format!("spec.securityGroups[{i}]");
        check_group_ref(errors, &path, r);
        if let Some(first) = seen.get(r) {
            errors.push(path, format!("repeats spec.securityGroups[{first}]"));
        } else {
            seen.insert(r, i);
        }
    }
}

// ---------------------------------------------------------------------------
// NodeSecurityGroups
// ---------------------------------------------------------------------------

/// Checks of a `NodeSecurityGroups` for an account of `provider`.
pub fn validate_node_security_groups(
    nodes: &NodeSecurityGroups,
    provider: ProviderKind,
) -> Vec<FieldError> {
    let key = object_key(nodes);
    let mut errors = Errors::new(&key);
    check_metadata(&mut errors, nodes.meta());
    let spec = &nodes.spec;
    check_object_name(&mut errors, "spec.accountRef.name", &spec.account_ref.name);
    errors.list.extend(super::selector::validate(
        &spec.node_selector,
        &key,
        "spec.nodeSelector",
    ));
    check_group_list(&mut errors, &spec.security_groups, provider);
    errors.list
}

// ---------------------------------------------------------------------------
// SecurityGroupMembership
// ---------------------------------------------------------------------------

/// Checks of a `SecurityGroupMembership` for an account of `provider`.
pub fn validate_membership(
    membership: &SecurityGroupMembership,
    _provider: ProviderKind,
) -> Vec<FieldError> {
    let key = object_key(membership);
    let mut errors = Errors::new(&key);
    check_metadata(&mut errors, membership.meta());
    let spec = &membership.spec;
    check_group_target(
        &mut errors,
        spec.security_group_ref.as_ref(),
        spec.account_ref.as_ref(),
        spec.security_group_id.as_ref(),
        false,
    );
    match &spec.node_selector {
        Some(_) if !spec.ports.is_empty() => {
            errors.push("spec.nodeSelector", "give ports or nodeSelector, not both")
        }
        Some(selector) => errors.list.extend(super::selector::validate(
            selector,
            &key,
            "spec.nodeSelector",
        )),
        None if spec.port_selection.is_some() => {
            errors.push("spec.portSelection", "needs nodeSelector")
        }
        None => {}
    }
    if spec.ports.len() > MAX_MEMBERSHIP_PORTS {
        errors.push(
            "spec.ports",
            format!(
                "{} ports; at most {MAX_MEMBERSHIP_PORTS} are allowed (split the membership)",
                spec.ports.len()
            ),
        );
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (i, port) in spec.ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        check_cloud_id(&mut errors, &path, port);
        if !seen.insert(port) {
            errors.push(path, format!("{port:?} is listed twice"));
        }
    }
    errors.list
}

// ---------------------------------------------------------------------------
// SecurityGroupRules
// ---------------------------------------------------------------------------

/// Checks of a `SecurityGroupRules` for an account of `provider`: its
/// target, and its rules exactly as a `SecurityGroup`'s.
pub fn validate_security_group_rules(
    rules: &SecurityGroupRules,
    provider: ProviderKind,
) -> Vec<FieldError> {
    let key = object_key(rules);
    let mut errors = Errors::new(&key);
    check_metadata(&mut errors, rules.meta());
    let spec = &rules.spec;
    check_group_target(
        &mut errors,
        spec.security_group_ref.as_ref(),
        spec.account_ref.as_ref(),
        spec.security_group_id.as_ref(),
        true,
    );
    let mut list = errors.list;
    list.extend(check_rules(&key, &spec.rules, provider));
    list
}
