//! The operations the simulator serves, their stable names, and how a
//! request (method, path, query flags) maps to one. This is the one place
//! the names are defined; request logs, call counts and faults use them.

use super::sign::percent_decode;
use super::state::Provider;

/// One served cloud call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    // Huawei VPC
    HwShowPort,
    HwListPorts,
    HwInsertSecurityGroups,
    HwRemoveSecurityGroups,
    HwBatchInstanceAction,
    HwCreateSecurityGroup,
    HwShowSecurityGroup,
    HwListSecurityGroups,
    HwUpdateSecurityGroup,
    HwDeleteSecurityGroup,
    HwCreateSecurityGroupRule,
    HwBatchCreateSecurityGroupRules,
    HwListSecurityGroupRules,
    HwShowSecurityGroupRule,
    HwDeleteSecurityGroupRule,
    // Baidu BCC
    BdCreateSecurityGroup,
    BdListSecurityGroups,
    BdGetSecurityGroup,
    BdDeleteSecurityGroup,
    BdAuthorizeRule,
    BdRevokeRule,
    BdUpdateRule,
    BdDeleteRule,
    BdBindInstance,
    BdUnbindInstance,
    BdBatchBind,
    BdBatchUnbind,
    BdBatchReplace,
    BdListInstances,
    BdListInstancesByIds,
    BdGetInstance,
}

/// Every operation, in documentation order.
pub const ALL_OPS: &[Op] = &[
    Op::HwShowPort,
    Op::HwListPorts,
    Op::HwInsertSecurityGroups,
    Op::HwRemoveSecurityGroups,
    Op::HwBatchInstanceAction,
    Op::HwCreateSecurityGroup,
    Op::HwShowSecurityGroup,
    Op::HwListSecurityGroups,
    Op::HwUpdateSecurityGroup,
    Op::HwDeleteSecurityGroup,
    Op::HwCreateSecurityGroupRule,
    Op::HwBatchCreateSecurityGroupRules,
    Op::HwListSecurityGroupRules,
    Op::HwShowSecurityGroupRule,
    Op::HwDeleteSecurityGroupRule,
    Op::BdCreateSecurityGroup,
    Op::BdListSecurityGroups,
    Op::BdGetSecurityGroup,
    Op::BdDeleteSecurityGroup,
    Op::BdAuthorizeRule,
    Op::BdRevokeRule,
    Op::BdUpdateRule,
    Op::BdDeleteRule,
    Op::BdBindInstance,
    Op::BdUnbindInstance,
    Op::BdBatchBind,
    Op::BdBatchUnbind,
    Op::BdBatchReplace,
    Op::BdListInstances,
    Op::BdListInstancesByIds,
    Op::BdGetInstance,
];

impl Op {
    /// The stable name used in logs, call counts and fault configuration.
    pub fn name(self) -> &'static str {
        match self {
            Op::HwShowPort => "huawei.showPort",
            Op::HwListPorts => "huawei.listPorts",
            Op::HwInsertSecurityGroups => "huawei.insertSecurityGroups",
            Op::HwRemoveSecurityGroups => "huawei.removeSecurityGroups",
            Op::HwBatchInstanceAction => "huawei.batchInstanceAction",
            Op::HwCreateSecurityGroup => "huawei.createSecurityGroup",
            Op::HwShowSecurityGroup => "huawei.showSecurityGroup",
            Op::HwListSecurityGroups => "huawei.listSecurityGroups",
            Op::HwUpdateSecurityGroup => "huawei.updateSecurityGroup",
            Op::HwDeleteSecurityGroup => "huawei.deleteSecurityGroup",
            Op::HwCreateSecurityGroupRule => "huawei.createSecurityGroupRule",
            Op::HwBatchCreateSecurityGroupRules => "huawei.batchCreateSecurityGroupRules",
            Op::HwListSecurityGroupRules => "huawei.listSecurityGroupRules",
            Op::HwShowSecurityGroupRule => "huawei.showSecurityGroupRule",
            Op::HwDeleteSecurityGroupRule => "huawei.deleteSecurityGroupRule",
            Op::BdCreateSecurityGroup => "baidu.createSecurityGroup",
            Op::BdListSecurityGroups => "baidu.listSecurityGroups",
            Op::BdGetSecurityGroup => "baidu.getSecurityGroup",
            Op::BdDeleteSecurityGroup => "baidu.deleteSecurityGroup",
            Op::BdAuthorizeRule => "baidu.authorizeRule",
            Op::BdRevokeRule => "baidu.revokeRule",
            Op::BdUpdateRule => "baidu.updateRule",
            Op::BdDeleteRule => "baidu.deleteRule",
            Op::BdBindInstance => "baidu.bindInstance",
            Op::BdUnbindInstance => "baidu.unbindInstance",
            Op::BdBatchBind => "baidu.batchBind",
            Op::BdBatchUnbind => "baidu.batchUnbind",
            Op::BdBatchReplace => "baidu.batchReplace",
            Op::BdListInstances => "baidu.listInstances",
            Op::BdListInstancesByIds => "baidu.listInstancesByIds",
            Op::BdGetInstance => "baidu.getInstance",
        }
    }

    /// The HTTP method and the documented path template, e.g.
    /// `("GET", "/v3/{project_id}/ports")`; a Baidu call told apart by a
    /// query flag carries it (`?authorizeRule`). The batch call's `/v1/`
    /// alias counts under its documented `/v2.0/` path.
    pub fn endpoint(self) -> (&'static str, &'static str) {
        const HW_PORT: &str = "/v3/{project_id}/ports/{port_id}";
        const HW_GROUP: &str = "/v3/{project_id}/vpc/security-groups/{security_group_id}";
        const HW_RULE: &str = "/v3/{project_id}/vpc/security-group-rules/{security_group_rule_id}";
        match self {
            Op::HwShowPort => ("GET", HW_PORT),
            Op::HwListPorts => ("GET", "/v3/{project_id}/ports"),
            Op::HwInsertSecurityGroups => (
                "PUT",
                "/v3/{project_id}/ports/{port_id}/insert-security-groups",
            ),
            Op::HwRemoveSecurityGroups => (
                "PUT",
                "/v3/{project_id}/ports/{port_id}/remove-security-groups",
            ),
            Op::HwBatchInstanceAction => (
                "POST",
                "/v2.0/{project_id}/security-groups/{security_group_id}/instance/action",
            ),
            Op::HwCreateSecurityGroup => ("POST", "/v3/{project_id}/vpc/security-groups"),
            Op::HwShowSecurityGroup => ("GET", HW_GROUP),
            Op::HwListSecurityGroups => ("GET", "/v3/{project_id}/vpc/security-groups"),
            Op::HwUpdateSecurityGroup => ("PUT", HW_GROUP),
            Op::HwDeleteSecurityGroup => ("DELETE", HW_GROUP),
            Op::HwCreateSecurityGroupRule => ("POST", "/v3/{project_id}/vpc/security-group-rules"),
            Op::HwBatchCreateSecurityGroupRules => (
                "POST",
                "/v3/{project_id}/vpc/security-groups/{security_group_id}/security-group-rules/batch-create",
            ),
            Op::HwListSecurityGroupRules => ("GET", "/v3/{project_id}/vpc/security-group-rules"),
            Op::HwShowSecurityGroupRule => ("GET", HW_RULE),
            Op::HwDeleteSecurityGroupRule => ("DELETE", HW_RULE),
            Op::BdCreateSecurityGroup => ("POST", "/v2/securityGroup"),
            Op::BdListSecurityGroups => ("GET", "/v2/securityGroup"),
            Op::BdGetSecurityGroup => ("GET", "/v2/securityGroup/{securityGroupId}"),
            Op::BdDeleteSecurityGroup => ("DELETE", "/v2/securityGroup/{securityGroupId}"),
            Op::BdAuthorizeRule => ("PUT", "/v2/securityGroup/{securityGroupId}?authorizeRule"),
            Op::BdRevokeRule => ("PUT", "/v2/securityGroup/{securityGroupId}?revokeRule"),
            Op::BdUpdateRule => ("PUT", "/v2/securityGroup/rule/update"),
            Op::BdDeleteRule => ("DELETE", "/v2/securityGroup/rule/{securityGroupRuleId}"),
            Op::BdBindInstance => ("PUT", "/v2/instance/{instanceId}?bind"),
            Op::BdUnbindInstance => ("PUT", "/v2/instance/{instanceId}?unbind"),
            Op::BdBatchBind => ("PUT", "/v2/securitygroup/bind"),
            Op::BdBatchUnbind => ("PUT", "/v2/securitygroup/unbind"),
            Op::BdBatchReplace => ("PUT", "/v2/securitygroup/replace"),
            Op::BdListInstances => ("GET", "/v2/instance"),
            Op::BdListInstancesByIds => ("POST", "/v2/instance/listByInstanceId"),
            Op::BdGetInstance => ("GET", "/v2/instance/{instanceId}"),
        }
    }

    /// Whether the call only reads (listByInstanceId is a read sent as POST).
    pub fn is_read(self) -> bool {
        self.endpoint().0 == "GET" || self == Op::BdListInstancesByIds
    }

    pub fn provider(self) -> Provider {
        if self.name().starts_with("huawei.") {
            Provider::Huawei
        } else {
            Provider::Baidu
        }
    }

    /// Huawei calls answered with the old `{code,message}` error body.
    pub fn old_style_errors(self) -> bool {
        self == Op::HwBatchInstanceAction
    }

    /// Baidu calls that honour `clientToken`.
    pub fn takes_client_token(self) -> bool {
        matches!(
            self,
            Op::BdCreateSecurityGroup
                | Op::BdAuthorizeRule
                | Op::BdRevokeRule
                | Op::BdUpdateRule
                | Op::BdDeleteRule
                | Op::BdBatchBind
                | Op::BdBatchUnbind
                | Op::BdBatchReplace
        )
    }
}

/// A classified request: the operation and the path parameters it names
/// (`project` for Huawei, then ids in path order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub op: Op,
    pub project: Option<String>,
    pub ids: Vec<String>,
}

/// Which cloud a path looks like, even when no operation matches (so an
/// unknown path still gets the right error shape and signature check).
pub fn provider_of_path(path: &str) -> Option<Provider> {
    if path.starts_with("/v3/") || path.starts_with("/v2.0/") || path.starts_with("/v1/") {
        Some(Provider::Huawei)
    } else if path.starts_with("/v2/") {
        Some(Provider::Baidu)
    } else {
        None
    }
}

/// Map a request to an operation. `query` holds decoded pairs (a bare flag
/// like `authorizeRule` has an empty value).
pub fn classify(
    method: &http::Method,
    raw_path: &str,
    query: &[(String, String)],
) -> Option<Route> {
    let segs: Vec<String> = raw_path
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .map(percent_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let has = |flag: &str| query.iter().any(|(k, _)| k == flag);
    let hw = |op: Op, project: &str, ids: &[&str]| {
        Some(Route {
            op,
            project: Some(project.to_string()),
            ids: ids.iter().map(|x| x.to_string()).collect(),
        })
    };
    let bd = |op: Op, ids: &[&str]| {
        Some(Route {
            op,
            project: None,
            ids: ids.iter().map(|x| x.to_string()).collect(),
        })
    };
    use http::Method as M;
    match (method, s.as_slice()) {
        (&M::GET, ["v3", p, "ports"]) => hw(Op::HwListPorts, p, &[]),
        (&M::GET, ["v3", p, "ports", id]) => hw(Op::HwShowPort, p, &[id]),
        (&M::PUT, ["v3", p, "ports", id, "insert-security-groups"]) => {
            hw(Op::HwInsertSecurityGroups, p, &[id])
        }
        (&M::PUT, ["v3", p, "ports", id, "remove-security-groups"]) => {
            hw(Op::HwRemoveSecurityGroups, p, &[id])
        }
        (
            &M::POST,
            [
                "v2.0" | "v1",
                p,
                "security-groups",
                sg,
                "instance",
                "action",
            ],
        ) => hw(Op::HwBatchInstanceAction, p, &[sg]),
        (&M::POST, ["v3", p, "vpc", "security-groups"]) => hw(Op::HwCreateSecurityGroup, p, &[]),
        (&M::GET, ["v3", p, "vpc", "security-groups"]) => hw(Op::HwListSecurityGroups, p, &[]),
        (&M::GET, ["v3", p, "vpc", "security-groups", id]) => hw(Op::HwShowSecurityGroup, p, &[id]),
        (&M::PUT, ["v3", p, "vpc", "security-groups", id]) => {
            hw(Op::HwUpdateSecurityGroup, p, &[id])
        }
        (&M::DELETE, ["v3", p, "vpc", "security-groups", id]) => {
            hw(Op::HwDeleteSecurityGroup, p, &[id])
        }
        (
            &M::POST,
            [
                "v3",
                p,
                "vpc",
                "security-groups",
                id,
                "security-group-rules",
                "batch-create",
            ],
        ) => hw(Op::HwBatchCreateSecurityGroupRules, p, &[id]),
        (&M::POST, ["v3", p, "vpc", "security-group-rules"]) => {
            hw(Op::HwCreateSecurityGroupRule, p, &[])
        }
        (&M::GET, ["v3", p, "vpc", "security-group-rules"]) => {
            hw(Op::HwListSecurityGroupRules, p, &[])
        }
        (&M::GET, ["v3", p, "vpc", "security-group-rules", id]) => {
            hw(Op::HwShowSecurityGroupRule, p, &[id])
        }
        (&M::DELETE, ["v3", p, "vpc", "security-group-rules", id]) => {
            hw(Op::HwDeleteSecurityGroupRule, p, &[id])
        }

        (&M::POST, ["v2", "securityGroup"]) => bd(Op::BdCreateSecurityGroup, &[]),
        (&M::GET, ["v2", "securityGroup"]) => bd(Op::BdListSecurityGroups, &[]),
        (&M::PUT, ["v2", "securityGroup", "rule", "update"]) => bd(Op::BdUpdateRule, &[]),
        (&M::DELETE, ["v2", "securityGroup", "rule", id]) => bd(Op::BdDeleteRule, &[id]),
        (&M::GET, ["v2", "securityGroup", id]) => bd(Op::BdGetSecurityGroup, &[id]),
        (&M::DELETE, ["v2", "securityGroup", id]) => bd(Op::BdDeleteSecurityGroup, &[id]),
        (&M::PUT, ["v2", "securityGroup", id]) if has("authorizeRule") => {
            bd(Op::BdAuthorizeRule, &[id])
        }
        (&M::PUT, ["v2", "securityGroup", id]) if has("revokeRule") => bd(Op::BdRevokeRule, &[id]),
        (&M::PUT, ["v2", "instance", id]) if has("bind") => bd(Op::BdBindInstance, &[id]),
        (&M::PUT, ["v2", "instance", id]) if has("unbind") => bd(Op::BdUnbindInstance, &[id]),
        (&M::GET, ["v2", "instance"]) => bd(Op::BdListInstances, &[]),
        (&M::POST, ["v2", "instance", "listByInstanceId"]) => bd(Op::BdListInstancesByIds, &[]),
        (&M::GET, ["v2", "instance", id]) => bd(Op::BdGetInstance, &[id]),
        (&M::PUT, ["v2", "securitygroup", "bind"]) => bd(Op::BdBatchBind, &[]),
        (&M::PUT, ["v2", "securitygroup", "unbind"]) => bd(Op::BdBatchUnbind, &[]),
        (&M::PUT, ["v2", "securitygroup", "replace"]) => bd(Op::BdBatchReplace, &[]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn q(flags: &[&str]) -> Vec<(String, String)> {
        flags
            .iter()
            .map(|f| (f.to_string(), String::new()))
            .collect()
    }

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut names: Vec<&str> = ALL_OPS.iter().map(|o| o.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL_OPS.len());
        for op in ALL_OPS {
            let prefix = format!("{}.", op.provider().as_str());
            assert!(op.name().starts_with(&prefix));
        }
    }

    #[test]
    fn endpoints_are_unique_and_match_the_method() {
        let mut seen: Vec<(&str, &str)> = ALL_OPS.iter().map(|o| o.endpoint()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), ALL_OPS.len());
        assert!(Op::BdListInstancesByIds.is_read());
        assert!(Op::HwListPorts.is_read());
        assert!(!Op::HwBatchInstanceAction.is_read());
        assert_eq!(
            classify(&Method::POST, "/v2/instance/listByInstanceId", &[]).map(|r| r.op),
            Some(Op::BdListInstancesByIds)
        );
    }

    #[test]
    fn classifies_paths() {
        let r =
            classify(&Method::PUT, "/v3/p1/ports/x/insert-security-groups", &[]).expect("route");
        assert_eq!(r.op, Op::HwInsertSecurityGroups);
        assert_eq!(r.project.as_deref(), Some("p1"));
        assert_eq!(r.ids, vec!["x"]);
        for prefix in ["v2.0", "v1"] {
            let path = format!("/{prefix}/p/security-groups/g/instance/action");
            assert_eq!(
                classify(&Method::POST, &path, &[]).map(|r| r.op),
                Some(Op::HwBatchInstanceAction)
            );
        }
        assert_eq!(
            classify(
                &Method::PUT,
                "/v2/securityGroup/g-1",
                &q(&["authorizeRule", "clientToken"])
            )
            .map(|r| r.op),
            Some(Op::BdAuthorizeRule)
        );
        assert_eq!(
            classify(&Method::PUT, "/v2/securityGroup/g-1", &q(&["revokeRule"])).map(|r| r.op),
            Some(Op::BdRevokeRule)
        );
        assert_eq!(classify(&Method::PUT, "/v2/securityGroup/g-1", &[]), None);
        assert_eq!(
            classify(&Method::DELETE, "/v2/securityGroup/rule/r-1", &[]).map(|r| r.op),
            Some(Op::BdDeleteRule)
        );
        assert_eq!(
            classify(&Method::PUT, "/v2/instance/i-1", &q(&["unbind"])).map(|r| r.op),
            Some(Op::BdUnbindInstance)
        );
        assert_eq!(classify(&Method::GET, "/v9/x", &[]), None);
    }
}
