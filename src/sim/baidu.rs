//! Baidu AI Cloud BCC handlers: security groups, rules (authorize, revoke,
//! update, delete by id), instance binding (single and batch) and the
//! instance reads a client needs.
//!
//! Errors use `{requestId,code,message}`. Codes from the docs: 400
//! `SecurityGroup.RulePortOrderInvalid`, `RulePortRangeInvalid`,
//! `RulePortInvalid`, `RuleCIDRAddressError`, `BadRequest`, `MalformedJSON`,
//! `VersionMismatch`; 404 `NoSuchObject`, `SecurityGroup.RuleNotExist`; 409
//! `SecurityGroup.InstancesAssociatedSecurityGroupCanNotBeDeleted`; 413
//! `SecurityGroup.BindInstanceExceededLimit`; 403
//! `IdempotentParameterMismatch` (a clientToken reused for a different
//! request). Codes the docs do not name (chosen here, unverified): 409
//! `SecurityGroup.RuleAlreadyExists` (duplicate authorize), 413
//! `SecurityGroup.RuleExceededLimit` (over 50 rules in a direction), 403
//! `SecurityGroup.InstanceMustHaveOneSecurityGroup` (unbinding the last
//! group); 400 `BadRequest` for the instance reads' limits (more than 100
//! `instanceIds`, `securityGroupIds` or `instanceNames`, more than 100 ids
//! in a listByInstanceId body, `maxKeys` outside 1 to 1000), for a filter
//! the SDKs define on things not simulated (`tags`, `cdsIds`,
//! `dedicatedHostId`...) and for an unknown or repeated query key on those
//! reads (the docs name no code for any of these).
//!
//! Instances have a primary NIC (`securityGroupIds`, what the bind calls
//! and `GET /v2/securityGroup?instanceId=` act on, exact and in binding
//! order) and may have elastic NICs with groups of their own. The instance
//! model's `nicInfo.securityGroups` is documented as the short ids of the
//! primary NIC's groups plus the elastic NICs': the union, primary first.
//! `GET /v2/instance?securityGroupIds=` matches that union (an instance
//! whose ENI holds the group is listed). listByInstanceId and the detail
//! call always fill the field; the plain list fills it unless
//! `settings.baiduListFillsNicSecurityGroups` is false (one documentation
//! sample shows it empty). A group held by an ENI cannot be deleted.
//!
//! `sgVersion` starts at 0 and increases by one on every rule change
//! (authorize, revoke, update, delete); binding does not change it. A sent
//! `sgVersion` that differs from the group's is 400 `VersionMismatch`.
//!
//! Rule identity is the 6-tuple (remark, protocol, direction, portRange,
//! sourceIp|destIp, sourceGroupId|destGroupId), compared after normalizing:
//! protocol case and `all`; portRange `""`, `1-65535` and `0-65535` are all
//! ports, `80-80` is `80`; an IP equals its /32 (/128) and `""`, `all`,
//! `0.0.0.0/0` and `::/0` all mean anywhere.
//!
//! Lists are ordered by id, except `?instanceId=` which keeps the
//! instance's binding order; `marker` is the first id of the page and
//! `nextMarker` the first of the next.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use super::engine::{
    ApiError, Call, HandlerResult, RefusedRequest, Reply, World, bd_time, new_short_id, parse_body,
};
use super::ops::Op;
use super::state::{BdGroup, BdInstance, BdRule, BdTag};

fn bad_request(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(400, "BadRequest", format!("Invalid {field}: {why}"))
}

fn no_such(kind: &str, id: &str) -> ApiError {
    ApiError::new(
        404,
        "NoSuchObject",
        format!("The specified object is not found or resource do not exist: {kind} {id}"),
    )
}

fn rule_not_exist() -> ApiError {
    ApiError::new(
        404,
        "SecurityGroup.RuleNotExist",
        "The Security group rule is not exist.",
    )
}

/// Serve one Baidu call.
pub fn handle(call: &Call, world: &mut World) -> HandlerResult {
    match call.route.op {
        Op::BdCreateSecurityGroup => create_group(call, world),
        Op::BdListSecurityGroups => list_groups(call, world),
        Op::BdGetSecurityGroup => get_group(call, world),
        Op::BdDeleteSecurityGroup => delete_group(call, world),
        Op::BdAuthorizeRule => authorize(call, world),
        Op::BdRevokeRule => revoke(call, world),
        Op::BdUpdateRule => update_rule(call, world),
        Op::BdDeleteRule => delete_rule(call, world),
        Op::BdBindInstance => bind_one(call, world, true),
        Op::BdUnbindInstance => bind_one(call, world, false),
        Op::BdBatchBind => batch(call, world, Batch::Bind),
        Op::BdBatchUnbind => batch(call, world, Batch::Unbind),
        Op::BdBatchReplace => batch(call, world, Batch::Replace),
        Op::BdListInstances => list_instances(call, world),
        Op::BdListInstancesByIds => list_instances_by_ids(call, world),
        Op::BdGetInstance => get_instance(call, world),
        other => Err(ApiError::new(
            500,
            "InternalError",
            format!("{} is not a Baidu operation", other.name()),
        )),
    }
}

fn scope<'a>(call: &'a Call) -> &'a str {
    call.account.baidu_scope()
}

fn body_object(call: &Call) -> Result<Map<String, Value>, ApiError> {
    match parse_body(call.body) {
        Some(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::new(
            400,
            "MalformedJSON",
            "The JSON you provided was not well-formed.",
        )),
    }
}

fn empty_ok() -> HandlerResult {
    Ok(Reply::empty(200))
}

// ------------------------------------------------------------- rule model

fn rule_json(r: &BdRule, group_id: &str) -> Value {
    let mut v = json!({
        "securityGroupRuleId": r.security_group_rule_id,
        "id": r.security_group_rule_id,
        "securityGroupId": group_id,
        "remark": r.remark,
        "direction": r.direction,
        "ethertype": r.ethertype,
        "portRange": r.port_range,
        "protocol": r.protocol,
    });
    if let Some(obj) = v.as_object_mut() {
        if r.direction == "ingress" {
            obj.insert("sourceIp".into(), json!(r.source_ip));
            obj.insert("sourceGroupId".into(), json!(r.source_group_id));
        } else {
            obj.insert("destIp".into(), json!(r.dest_ip));
            obj.insert("destGroupId".into(), json!(r.dest_group_id));
        }
    }
    v
}

fn norm_protocol(p: &str) -> String {
    let p = p.to_ascii_lowercase();
    if p == "all" { String::new() } else { p }
}

fn norm_port_range(p: &str) -> String {
    let p = p.trim();
    match p {
        "" | "1-65535" | "0-65535" => String::new(),
        _ => match p.split_once('-') {
            Some((a, b)) if a == b => a.to_string(),
            _ => p.to_string(),
        },
    }
}

fn norm_ip(ip: &str) -> String {
    let ip = ip.trim();
    if ip.is_empty() || ip.eq_ignore_ascii_case("all") {
        return String::new();
    }
    match parse_cidr(ip) {
        Some(n) if n.prefix_len() == 0 => String::new(),
        Some(n) => n.trunc().to_string(),
        None => ip.to_string(),
    }
}

fn parse_cidr(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n);
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

/// The normalized 6-tuple.
fn identity(r: &BdRule) -> [String; 6] {
    let (ip, group) = if r.direction == "ingress" {
        (&r.source_ip, &r.source_group_id)
    } else {
        (&r.dest_ip, &r.dest_group_id)
    };
    [
        r.remark.clone(),
        norm_protocol(&r.protocol),
        r.direction.clone(),
        norm_port_range(&r.port_range),
        norm_ip(ip),
        group.clone(),
    ]
}

fn str_field(obj: &Map<String, Value>, key: &str, field: &str) -> Result<String, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::new(
            400,
            "InappropriateJSON",
            format!("{field} must be a string"),
        )),
    }
}

fn validate_port_range(p: &str) -> Result<(), ApiError> {
    let p = p.trim();
    if p.is_empty() {
        return Ok(());
    }
    let num = |s: &str| -> Result<u32, ApiError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::new(
                400,
                "SecurityGroup.RulePortInvalid",
                "The value of security group rule port must be number.",
            ));
        }
        match s.parse::<u32>() {
            Ok(n) if n <= 65535 => Ok(n),
            _ => Err(ApiError::new(
                400,
                "SecurityGroup.RulePortRangeInvalid",
                "The value of security group rule port is exceeded.",
            )),
        }
    };
    let (a, b) = match p.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let n = num(p)?;
            (n, n)
        }
    };
    if a == 0 && b != 65535 || b == 0 {
        return Err(ApiError::new(
            400,
            "SecurityGroup.RulePortRangeInvalid",
            "The value of security group rule port is exceeded.",
        ));
    }
    if a > b {
        return Err(ApiError::new(
            400,
            "SecurityGroup.RulePortOrderInvalid",
            "The order of security group rule port is incorrect.",
        ));
    }
    Ok(())
}

fn validate_ip(ip: &str, ethertype: &str) -> Result<(), ApiError> {
    let ip = ip.trim();
    if ip.is_empty() || ip.eq_ignore_ascii_case("all") {
        return Ok(());
    }
    let cidr_error = || {
        ApiError::new(
            400,
            "SecurityGroup.RuleCIDRAddressError",
            format!("The CIDR address {ip} of the security group rule is invalid."),
        )
    };
    let net = parse_cidr(ip).ok_or_else(cidr_error)?;
    if matches!(net, IpNet::V4(_)) != (ethertype == "IPv4") {
        return Err(cidr_error());
    }
    Ok(())
}

/// Parse and validate a rule object (from `rule`, `rules[i]` or an update).
fn parse_rule(
    world: &World,
    call: &Call,
    obj: &Map<String, Value>,
    field: &str,
) -> Result<BdRule, ApiError> {
    let f = |k: &str| format!("{field}.{k}");
    let direction = str_field(obj, "direction", &f("direction"))?;
    if direction != "ingress" && direction != "egress" {
        return Err(bad_request(&f("direction"), "must be ingress or egress"));
    }
    let ethertype = match str_field(obj, "ethertype", &f("ethertype"))?.as_str() {
        "" => "IPv4".to_string(),
        e if e.eq_ignore_ascii_case("ipv4") => "IPv4".to_string(),
        e if e.eq_ignore_ascii_case("ipv6") => "IPv6".to_string(),
        _ => return Err(bad_request(&f("ethertype"), "must be IPv4 or IPv6")),
    };
    let protocol = str_field(obj, "protocol", &f("protocol"))?.to_ascii_lowercase();
    if !matches!(protocol.as_str(), "" | "all" | "tcp" | "udp" | "icmp") {
        return Err(bad_request(
            &f("protocol"),
            "must be tcp, udp, icmp or empty for all",
        ));
    }
    let port_range = str_field(obj, "portRange", &f("portRange"))?;
    validate_port_range(&port_range)?;
    let remark = str_field(obj, "remark", &f("remark"))?;
    if remark.chars().count() > 255 {
        return Err(bad_request(&f("remark"), "must be at most 255 characters"));
    }
    let source_ip = str_field(obj, "sourceIp", &f("sourceIp"))?;
    let source_group_id = str_field(obj, "sourceGroupId", &f("sourceGroupId"))?;
    let dest_ip = str_field(obj, "destIp", &f("destIp"))?;
    let dest_group_id = str_field(obj, "destGroupId", &f("destGroupId"))?;
    let (ip, group, ip_name, group_name, other_ip, other_group) = if direction == "ingress" {
        (
            &source_ip,
            &source_group_id,
            "sourceIp",
            "sourceGroupId",
            &dest_ip,
            &dest_group_id,
        )
    } else {
        (
            &dest_ip,
            &dest_group_id,
            "destIp",
            "destGroupId",
            &source_ip,
            &source_group_id,
        )
    };
    if !other_ip.is_empty() || !other_group.is_empty() {
        let which = if direction == "ingress" {
            "destIp/destGroupId"
        } else {
            "sourceIp/sourceGroupId"
        };
        return Err(bad_request(
            &f(which),
            format!("not allowed in an {direction} rule"),
        ));
    }
    if !ip.is_empty() && !group.is_empty() {
        return Err(bad_request(
            field,
            format!("{ip_name} and {group_name} are mutually exclusive"),
        ));
    }
    validate_ip(ip, &ethertype)?;
    if !group.is_empty() && find_group(world, call, group).is_err() {
        return Err(bad_request(
            &f(group_name),
            format!("security group {group} does not exist"),
        ));
    }
    Ok(BdRule {
        security_group_rule_id: new_short_id("r"),
        remark,
        direction,
        ethertype,
        port_range,
        protocol,
        source_ip,
        source_group_id,
        dest_ip,
        dest_group_id,
    })
}

fn check_rule_quota(world: &World, group: &BdGroup, adding: &[BdRule]) -> Result<(), ApiError> {
    let max = world.state.settings.baidu_max_rules_per_direction;
    for dir in ["ingress", "egress"] {
        let n = group
            .rules
            .iter()
            .chain(adding)
            .filter(|r| r.direction == dir)
            .count();
        if n > max {
            return Err(ApiError::new(
                413,
                "SecurityGroup.RuleExceededLimit",
                format!("A security group may hold at most {max} {dir} rules."),
            ));
        }
    }
    Ok(())
}

fn duplicate_rule() -> ApiError {
    ApiError::new(
        409,
        "SecurityGroup.RuleAlreadyExists",
        "The security group rule already exists.",
    )
}

// ----------------------------------------------------------------- groups

fn group_json(world: &World, g: &BdGroup, detail: bool) -> Value {
    let mut v = json!({
        "id": g.id,
        "name": g.name,
        "desc": g.desc,
        "vpcId": g.vpc_id,
        "sgVersion": g.sg_version,
        "createdTime": g.created_time,
        "tags": g.tags.iter().map(|t| json!({"tagKey": t.tag_key, "tagValue": t.tag_value})).collect::<Vec<_>>(),
        "rules": g.rules.iter().map(|r| rule_json(r, &g.id)).collect::<Vec<_>>(),
    });
    if detail {
        let bound = world
            .state
            .baidu
            .instances
            .iter()
            .filter(|i| i.security_group_ids.contains(&g.id))
            .count();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("bindInstanceNum".into(), json!(bound));
        }
    }
    v
}

fn find_group<'a>(world: &'a World, call: &Call, id: &str) -> Result<&'a BdGroup, ApiError> {
    world
        .state
        .baidu
        .security_groups
        .iter()
        .find(|g| g.id == id && g.account_id == scope(call))
        .ok_or_else(|| no_such("security group", id))
}

fn group_mut<'a>(world: &'a mut World, call: &Call, id: &str) -> Result<&'a mut BdGroup, ApiError> {
    let sc = scope(call).to_string();
    world
        .state
        .baidu
        .security_groups
        .iter_mut()
        .find(|g| g.id == id && g.account_id == sc)
        .ok_or_else(|| no_such("security group", id))
}

/// `sgVersion` check: absent means no check.
fn check_version(call: &Call, group: &BdGroup) -> Result<(), ApiError> {
    let Some(v) = call.param("sgVersion") else {
        return Ok(());
    };
    if v.is_empty() {
        return Ok(());
    }
    let sent: u64 = v
        .parse()
        .map_err(|_| bad_request("sgVersion", "must be an integer"))?;
    if sent != group.sg_version {
        return Err(ApiError::new(
            400,
            "VersionMismatch",
            "The sgVersion is mismatch.",
        ));
    }
    Ok(())
}

fn create_group(call: &Call, world: &mut World) -> HandlerResult {
    let body = body_object(call)?;
    let name = str_field(&body, "name", "name")?;
    let n = name.chars().count();
    if !(1..=65).contains(&n) {
        return Err(bad_request("name", "must be 1 to 65 characters"));
    }
    let desc = str_field(&body, "desc", "desc")?;
    if desc.chars().count() > 200 {
        return Err(bad_request("desc", "must be at most 200 characters"));
    }
    let vpc_id = str_field(&body, "vpcId", "vpcId")?;
    if vpc_id.is_empty() {
        return Err(bad_request("vpcId", "is required"));
    }
    let mut rules: Vec<BdRule> = Vec::new();
    match body.get("rules") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let field = format!("rules[{i}]");
                let Some(obj) = item.as_object() else {
                    return Err(bad_request(&field, "must be an object"));
                };
                let rule = parse_rule(world, call, obj, &field)?;
                if rules.iter().any(|r| identity(r) == identity(&rule)) {
                    return Err(duplicate_rule());
                }
                rules.push(rule);
            }
        }
        Some(_) => return Err(bad_request("rules", "must be a list")),
    }
    let mut tags = Vec::new();
    match body.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, t) in items.iter().enumerate() {
                let key = t.get("tagKey").and_then(Value::as_str).unwrap_or("");
                if key.is_empty() {
                    return Err(bad_request(&format!("tags[{i}].tagKey"), "is required"));
                }
                let value = t.get("tagValue").and_then(Value::as_str).unwrap_or("");
                tags.push(BdTag {
                    tag_key: key.to_string(),
                    tag_value: value.to_string(),
                });
            }
        }
        Some(_) => return Err(bad_request("tags", "must be a list")),
    }
    let mut group = BdGroup {
        id: new_short_id("g"),
        account_id: scope(call).to_string(),
        name,
        desc,
        vpc_id,
        sg_version: 0,
        tags,
        rules: Vec::new(),
        created_time: bd_time(call.now),
    };
    check_rule_quota(world, &group, &rules)?;
    group.rules = rules;
    let id = group.id.clone();
    world.state.baidu.security_groups.push(group);
    Ok(Reply::json(200, json!({ "securityGroupId": id })))
}

fn max_keys(call: &Call) -> Result<usize, ApiError> {
    match call.param("maxKeys") {
        None | Some("") => Ok(1000),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(bad_request("maxKeys", "must be an integer from 1 to 1000")),
        },
    }
}

/// Baidu paging: `marker` is the first id of the wanted page.
fn page_from<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    marker: Option<&str>,
    sorted_by_id: bool,
    max: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match marker {
        Some(m) if !m.is_empty() => match items.iter().position(|x| id(x) == m) {
            Some(i) => i,
            None if sorted_by_id => items.iter().take_while(|x| id(x) < m).count(),
            None => return Err(bad_request("marker", format!("{m} is not in this list"))),
        },
        _ => 0,
    };
    let next = items.get(start + max).map(|x| id(x).to_string());
    let page = items.into_iter().skip(start).take(max).collect();
    Ok((page, next))
}

fn list_envelope(
    call: &Call,
    max: usize,
    next: Option<String>,
    key: &str,
    items: Vec<Value>,
) -> Value {
    let mut v = json!({
        "marker": call.param("marker").unwrap_or(""),
        "isTruncated": next.is_some(),
        "maxKeys": max,
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(n) = next {
            obj.insert("nextMarker".into(), json!(n));
        }
        obj.insert(key.into(), Value::Array(items));
    }
    v
}

fn list_groups(call: &Call, world: &mut World) -> HandlerResult {
    let max = max_keys(call)?;
    let sc = scope(call).to_string();
    let mut wanted: Vec<String> = call
        .params("securityGroupIds", true)
        .into_iter()
        .chain(call.params("securityGroupId", true))
        .collect();
    wanted.dedup();
    let vpc = call.param("vpcId").filter(|v| !v.is_empty());
    let (groups, sorted): (Vec<&BdGroup>, bool) =
        match call.param("instanceId").filter(|v| !v.is_empty()) {
            Some(iid) => {
                let inst = world
                    .state
                    .baidu
                    .instances
                    .iter()
                    .find(|i| i.id == iid && i.account_id == sc)
                    .ok_or_else(|| no_such("instance", iid))?;
                let gs = inst
                    .security_group_ids
                    .iter()
                    .filter_map(|gid| {
                        world
                            .state
                            .baidu
                            .security_groups
                            .iter()
                            .find(|g| &g.id == gid)
                    })
                    .collect();
                (gs, false)
            }
            None => {
                let mut gs: Vec<&BdGroup> = world
                    .state
                    .baidu
                    .security_groups
                    .iter()
                    .filter(|g| g.account_id == sc)
                    .collect();
                gs.sort_by(|a, b| a.id.cmp(&b.id));
                (gs, true)
            }
        };
    let groups: Vec<&BdGroup> = groups
        .into_iter()
        .filter(|g| wanted.is_empty() || wanted.contains(&g.id))
        .filter(|g| vpc.is_none_or(|v| g.vpc_id == v))
        .collect();
    let (page, next) = page_from(groups, |g| g.id.as_str(), call.param("marker"), sorted, max)?;
    let items = page.iter().map(|g| group_json(world, g, false)).collect();
    Ok(Reply::json(
        200,
        list_envelope(call, max, next, "securityGroups", items),
    ))
}

fn get_group(call: &Call, world: &mut World) -> HandlerResult {
    let g = find_group(world, call, call.id())?;
    Ok(Reply::json(200, group_json(world, g, true)))
}

fn delete_group(call: &Call, world: &mut World) -> HandlerResult {
    let id = call.id().to_string();
    find_group(world, call, &id)?;
    if world
        .state
        .baidu
        .instances
        .iter()
        .any(|i| i.nic_security_groups().contains(&id))
    {
        return Err(ApiError::new(
            409,
            "SecurityGroup.InstancesAssociatedSecurityGroupCanNotBeDeleted",
            "The security group associated with instances can not be deleted.",
        ));
    }
    world.state.baidu.security_groups.retain(|g| g.id != id);
    empty_ok()
}

fn rule_from_body(world: &World, call: &Call) -> Result<BdRule, ApiError> {
    let body = body_object(call)?;
    let Some(obj) = body.get("rule").and_then(Value::as_object) else {
        return Err(bad_request("rule", "is required and must be an object"));
    };
    parse_rule(world, call, obj, "rule")
}

fn authorize(call: &Call, world: &mut World) -> HandlerResult {
    let gid = call.id().to_string();
    check_version(call, find_group(world, call, &gid)?)?;
    let rule = rule_from_body(world, call)?;
    let group = find_group(world, call, &gid)?;
    if group.rules.iter().any(|r| identity(r) == identity(&rule)) {
        return Err(duplicate_rule());
    }
    check_rule_quota(world, group, std::slice::from_ref(&rule))?;
    let g = group_mut(world, call, &gid)?;
    g.rules.push(rule);
    g.sg_version += 1;
    empty_ok()
}

fn revoke(call: &Call, world: &mut World) -> HandlerResult {
    let gid = call.id().to_string();
    check_version(call, find_group(world, call, &gid)?)?;
    let rule = rule_from_body(world, call)?;
    let g = group_mut(world, call, &gid)?;
    let Some(pos) = g.rules.iter().position(|r| identity(r) == identity(&rule)) else {
        return Err(rule_not_exist());
    };
    g.rules.remove(pos);
    g.sg_version += 1;
    empty_ok()
}

/// The group holding rule `rule_id` in this account.
fn group_of_rule(world: &World, call: &Call, rule_id: &str) -> Result<String, ApiError> {
    world
        .state
        .baidu
        .security_groups
        .iter()
        .filter(|g| g.account_id == scope(call))
        .find(|g| g.rules.iter().any(|r| r.security_group_rule_id == rule_id))
        .map(|g| g.id.clone())
        .ok_or_else(rule_not_exist)
}

fn update_rule(call: &Call, world: &mut World) -> HandlerResult {
    let body = body_object(call)?;
    let rule_id = str_field(&body, "securityGroupRuleId", "securityGroupRuleId")?;
    if rule_id.is_empty() {
        return Err(bad_request("securityGroupRuleId", "is required"));
    }
    let gid = group_of_rule(world, call, &rule_id)?;
    let group = find_group(world, call, &gid)?;
    check_version(call, group)?;
    let Some(old) = group
        .rules
        .iter()
        .find(|r| r.security_group_rule_id == rule_id)
    else {
        return Err(rule_not_exist());
    };
    // Build the updated rule as a request object and validate it whole.
    let mut merged = serde_json::to_value(old)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    for key in [
        "remark",
        "protocol",
        "portRange",
        "sourceIp",
        "sourceGroupId",
        "destIp",
        "destGroupId",
    ] {
        if let Some(v) = body.get(key) {
            merged.insert(key.into(), v.clone());
        }
    }
    let mut updated = parse_rule(world, call, &merged, "rule")?;
    updated.security_group_rule_id = rule_id.clone();
    if group
        .rules
        .iter()
        .any(|r| r.security_group_rule_id != rule_id && identity(r) == identity(&updated))
    {
        return Err(duplicate_rule());
    }
    let g = group_mut(world, call, &gid)?;
    if let Some(slot) = g
        .rules
        .iter_mut()
        .find(|r| r.security_group_rule_id == rule_id)
    {
        *slot = updated;
    }
    g.sg_version += 1;
    empty_ok()
}

fn delete_rule(call: &Call, world: &mut World) -> HandlerResult {
    let rule_id = call.id().to_string();
    let gid = group_of_rule(world, call, &rule_id)?;
    check_version(call, find_group(world, call, &gid)?)?;
    let g = group_mut(world, call, &gid)?;
    g.rules.retain(|r| r.security_group_rule_id != rule_id);
    g.sg_version += 1;
    empty_ok()
}

// -------------------------------------------------------------- instances

/// The documented instance model (the fields a security-group client
/// reads, in the SDKs' names). `nicInfo.securityGroups` is the union of the
/// primary and elastic NICs' groups, or `[]` when `fill_nic_groups` is off;
/// enterprise groups are not simulated, so `enterpriseSecurityGroups` is
/// always empty.
fn instance_json(i: &BdInstance, fill_nic_groups: bool) -> Value {
    let suffix = i.id.strip_prefix("i-").unwrap_or(&i.id);
    let groups = if fill_nic_groups {
        i.nic_security_groups()
    } else {
        Vec::new()
    };
    json!({
        "id": i.id,
        "name": i.name,
        "status": i.status,
        "vpcId": i.vpc_id,
        "internalIp": i.internal_ip,
        "zoneName": i.zone_name,
        "createTime": i.create_time,
        "eniNum": i.enis.len().to_string(),
        "nicInfo": {
            "eniId": format!("eni-{suffix}"),
            "type": "primary",
            "status": "inuse",
            "vpcId": i.vpc_id,
            "deviceId": i.id,
            "eniNum": i.enis.len(),
            "ips": if i.internal_ip.is_empty() {
                json!([])
            } else {
                json!([{ "privateIp": i.internal_ip, "primary": "true" }])
            },
            "securityGroups": groups,
            "enterpriseSecurityGroups": [],
        },
    })
}

fn find_instance<'a>(world: &'a World, call: &Call, id: &str) -> Result<&'a BdInstance, ApiError> {
    world
        .state
        .baidu
        .instances
        .iter()
        .find(|i| i.id == id && i.account_id == scope(call))
        .ok_or_else(|| no_such("instance", id))
}

fn last_group_refusal(
    call: &Call,
    world: &mut World,
    instance: &str,
    groups: Vec<String>,
) -> ApiError {
    let msg = "An instance must belong to at least one security group.";
    let code = "SecurityGroup.InstanceMustHaveOneSecurityGroup";
    world.refused.push(RefusedRequest {
        operation: call.route.op.name().into(),
        target: instance.to_string(),
        groups,
        code: code.into(),
        reason: msg.into(),
    });
    ApiError::new(403, code, msg)
}

fn bind_limit_error(max: usize) -> ApiError {
    ApiError::new(
        413,
        "SecurityGroup.BindInstanceExceededLimit",
        format!("An instance may be bound to at most {max} security groups."),
    )
}

fn bind_one(call: &Call, world: &mut World, bind: bool) -> HandlerResult {
    let body = body_object(call)?;
    let gid = str_field(&body, "securityGroupId", "securityGroupId")?;
    if gid.is_empty() {
        return Err(bad_request("securityGroupId", "is required"));
    }
    let iid = call.id().to_string();
    let current = find_instance(world, call, &iid)?.security_group_ids.clone();
    find_group(world, call, &gid)?;
    let max = world.state.settings.baidu_instance_max_groups;
    let next: Vec<String> = if bind {
        if current.contains(&gid) {
            return empty_ok();
        }
        if current.len() >= max {
            return Err(bind_limit_error(max));
        }
        current.into_iter().chain([gid]).collect()
    } else {
        if !current.contains(&gid) {
            return empty_ok();
        }
        let rest: Vec<String> = current.into_iter().filter(|g| g != &gid).collect();
        if rest.is_empty() {
            return Err(last_group_refusal(call, world, &iid, vec![gid]));
        }
        rest
    };
    let sc = scope(call).to_string();
    if let Some(inst) = world
        .state
        .baidu
        .instances
        .iter_mut()
        .find(|i| i.id == iid && i.account_id == sc)
    {
        inst.security_group_ids = next;
    }
    empty_ok()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Batch {
    Bind,
    Unbind,
    Replace,
}

fn id_list(body: &Map<String, Value>, key: &str) -> Result<Vec<String>, ApiError> {
    let Some(Value::Array(items)) = body.get(key) else {
        return Err(bad_request(key, "is required and must be a list"));
    };
    let mut out = Vec::new();
    for (i, v) in items.iter().enumerate() {
        match v.as_str() {
            Some(s) if !s.is_empty() => {
                if !out.iter().any(|x: &String| x == s) {
                    out.push(s.to_string());
                }
            }
            _ => {
                return Err(bad_request(
                    &format!("{key}[{i}]"),
                    "must be a non-empty string",
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(bad_request(key, "must not be empty"));
    }
    Ok(out)
}

/// Batch bind/unbind/replace: validated whole, then applied whole.
fn batch(call: &Call, world: &mut World, kind: Batch) -> HandlerResult {
    let body = body_object(call)?;
    let instances = id_list(&body, "instanceIds")?;
    let groups = id_list(&body, "securityGroupIds")?;
    // The ordinary-group value is unverified; enterprise groups are not
    // simulated, so only those are refused.
    let sg_type = str_field(&body, "securityGroupType", "securityGroupType")?;
    if sg_type.to_ascii_lowercase().contains("enterprise") {
        return Err(bad_request(
            "securityGroupType",
            "enterprise security groups are not supported",
        ));
    }
    for g in &groups {
        find_group(world, call, g)?;
    }
    let max = world.state.settings.baidu_instance_max_groups;
    let mut plan: Vec<(String, Vec<String>)> = Vec::new();
    for iid in &instances {
        let current = find_instance(world, call, iid)?.security_group_ids.clone();
        let next: Vec<String> = match kind {
            Batch::Bind => {
                let mut n = current.clone();
                for g in &groups {
                    if !n.contains(g) {
                        n.push(g.clone());
                    }
                }
                n
            }
            Batch::Unbind => current
                .iter()
                .filter(|g| !groups.contains(g))
                .cloned()
                .collect(),
            Batch::Replace => groups.clone(),
        };
        if next.len() > max {
            return Err(bind_limit_error(max));
        }
        if next.is_empty() {
            return Err(last_group_refusal(call, world, iid, groups.clone()));
        }
        plan.push((iid.clone(), next));
    }
    let sc = scope(call).to_string();
    for (iid, next) in plan {
        if let Some(inst) = world
            .state
            .baidu
            .instances
            .iter_mut()
            .find(|i| i.id == iid && i.account_id == sc)
        {
            inst.security_group_ids = next;
        }
    }
    Ok(Reply::json(200, json!({ "requestId": call.request_id })))
}

/// Query keys of `GET /v2/instance` the simulator serves.
const INSTANCE_LIST_KEYS: &[&str] = &[
    "marker",
    "maxKeys",
    "internalIp",
    "zoneName",
    "instanceIds",
    "instanceNames",
    "fuzzyInstanceName",
    "securityGroupIds",
    "status",
    "vpcId",
    "privateIps",
    "showRdmaTopo",
];

/// Filters the SDKs or the docs define for `GET /v2/instance` on things the
/// simulator does not model: refused rather than ignored, since an ignored
/// filter would widen the answer.
const INSTANCE_LIST_UNMODELLED: &[&str] = &[
    "dedicatedHostId",
    "dedicateHostId",
    "keypairId",
    "autoRenew",
    "cdsIds",
    "volumeIds",
    "ehcClusterId",
    "deploySetIds",
    "paymentTiming",
    "tags",
    "ipv6Addresses",
];

/// Most ids (or names) one instance-list filter takes, as documented for
/// `instanceIds`, `securityGroupIds` and `instanceNames`.
pub const MAX_LIST_IDS: usize = 100;

/// Check every query key against `known`; `authorization` (query-string
/// signing) and `clientToken` (the SDKs send one on listByInstanceId) are
/// always allowed.
fn check_query_keys(call: &Call, known: &[&str], unmodelled: &[&str]) -> Result<(), ApiError> {
    for (k, _) in call.query {
        if k.eq_ignore_ascii_case("authorization") || k == "clientToken" {
            continue;
        }
        if unmodelled.contains(&k.as_str()) {
            return Err(bad_request(
                k,
                "this filter is not supported by the simulator (it does not model it)",
            ));
        }
        if !known.contains(&k.as_str()) {
            return Err(bad_request(k, "is not a query parameter of this call"));
        }
        if call.query.iter().filter(|(x, _)| x == k).count() > 1 {
            return Err(bad_request(
                k,
                "may be given once (join several values with commas)",
            ));
        }
    }
    Ok(())
}

/// A comma-separated list parameter, at most `MAX_LIST_IDS` values.
fn csv_param(call: &Call, key: &str) -> Result<Vec<String>, ApiError> {
    let values = call.params(key, true);
    if values.len() > MAX_LIST_IDS {
        return Err(bad_request(
            key,
            format!(
                "{} values given; at most {MAX_LIST_IDS} are allowed",
                values.len()
            ),
        ));
    }
    Ok(values)
}

fn list_instances(call: &Call, world: &mut World) -> HandlerResult {
    check_query_keys(call, INSTANCE_LIST_KEYS, INSTANCE_LIST_UNMODELLED)?;
    let max = max_keys(call)?;
    let groups = csv_param(call, "securityGroupIds")?;
    let ids = csv_param(call, "instanceIds")?;
    let names = csv_param(call, "instanceNames")?;
    let fuzzy = call.param("fuzzyInstanceName").filter(|v| !v.is_empty());
    if fuzzy.is_some() && !names.is_empty() {
        return Err(bad_request(
            "fuzzyInstanceName",
            "cannot be combined with instanceNames",
        ));
    }
    let statuses = call.params("status", true);
    let private_ips = call.params("privateIps", true);
    let vpc = call.param("vpcId").filter(|v| !v.is_empty());
    if !private_ips.is_empty() && vpc.is_none() {
        return Err(bad_request("privateIps", "needs vpcId"));
    }
    let internal_ip = call.param("internalIp").filter(|v| !v.is_empty());
    let zone = call.param("zoneName").filter(|v| !v.is_empty());
    match call.param("showRdmaTopo") {
        None | Some("true" | "false" | "") => {}
        Some(_) => return Err(bad_request("showRdmaTopo", "must be true or false")),
    }
    let mut list: Vec<&BdInstance> = world
        .state
        .baidu
        .instances
        .iter()
        .filter(|i| i.account_id == scope(call))
        .filter(|i| groups.is_empty() || i.nic_security_groups().iter().any(|g| groups.contains(g)))
        .filter(|i| ids.is_empty() || ids.contains(&i.id))
        .filter(|i| names.is_empty() || names.contains(&i.name))
        .filter(|i| fuzzy.is_none_or(|f| i.name.contains(f)))
        .filter(|i| statuses.is_empty() || statuses.contains(&i.status))
        .filter(|i| vpc.is_none_or(|v| i.vpc_id == v))
        .filter(|i| private_ips.is_empty() || private_ips.contains(&i.internal_ip))
        .filter(|i| internal_ip.is_none_or(|ip| i.internal_ip == ip))
        .filter(|i| zone.is_none_or(|z| i.zone_name == z))
        .collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    let fill = world.state.settings.baidu_list_fills_nic_security_groups;
    let (page, next) = page_from(list, |i| i.id.as_str(), call.param("marker"), true, max)?;
    let items = page.iter().map(|i| instance_json(i, fill)).collect();
    Ok(Reply::json(
        200,
        list_envelope(call, max, next, "instances", items),
    ))
}

/// `POST /v2/instance/listByInstanceId`: the instances named in the body
/// (at most `MAX_LIST_IDS`, this simulator's bound: the page gives none),
/// in id order, paged like the list. Ids of no instance of the account are
/// left out, as the list's `instanceIds` filter leaves them out. Other body
/// keys are ignored (the Go SDK also sends `Marker` and `MaxKeys` there).
fn list_instances_by_ids(call: &Call, world: &mut World) -> HandlerResult {
    check_query_keys(call, &["marker", "maxKeys"], &[])?;
    let max = max_keys(call)?;
    let body = body_object(call)?;
    let ids = id_list(&body, "instanceIds")?;
    if ids.len() > MAX_LIST_IDS {
        return Err(bad_request(
            "instanceIds",
            format!(
                "{} ids given; at most {MAX_LIST_IDS} are allowed",
                ids.len()
            ),
        ));
    }
    let mut list: Vec<&BdInstance> = world
        .state
        .baidu
        .instances
        .iter()
        .filter(|i| i.account_id == scope(call) && ids.contains(&i.id))
        .collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    let (page, next) = page_from(list, |i| i.id.as_str(), call.param("marker"), true, max)?;
    let items = page.iter().map(|i| instance_json(i, true)).collect();
    Ok(Reply::json(
        200,
        list_envelope(call, max, next, "instances", items),
    ))
}

fn get_instance(call: &Call, world: &mut World) -> HandlerResult {
    let inst = find_instance(world, call, call.id())?;
    Ok(Reply::json(
        200,
        json!({ "instance": instance_json(inst, true) }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<(), ApiError>) -> String {
        r.err().map(|e| e.code).unwrap_or_default()
    }

    #[test]
    fn port_range_codes() {
        assert_eq!(code(validate_port_range("")), "");
        assert_eq!(code(validate_port_range("80")), "");
        assert_eq!(code(validate_port_range("8000-9000")), "");
        assert_eq!(code(validate_port_range("1-65535")), "");
        assert_eq!(
            code(validate_port_range("9000-8000")),
            "SecurityGroup.RulePortOrderInvalid"
        );
        assert_eq!(
            code(validate_port_range("1-70000")),
            "SecurityGroup.RulePortRangeInvalid"
        );
        assert_eq!(
            code(validate_port_range("0")),
            "SecurityGroup.RulePortRangeInvalid"
        );
        assert_eq!(
            code(validate_port_range("http")),
            "SecurityGroup.RulePortInvalid"
        );
        assert_eq!(
            code(validate_port_range("80-")),
            "SecurityGroup.RulePortInvalid"
        );
    }

    #[test]
    fn ip_codes() {
        assert_eq!(code(validate_ip("10.0.0.0/8", "IPv4")), "");
        assert_eq!(code(validate_ip("all", "IPv4")), "");
        assert_eq!(
            code(validate_ip("10.0.0.0/33", "IPv4")),
            "SecurityGroup.RuleCIDRAddressError"
        );
        assert_eq!(
            code(validate_ip("::/0", "IPv4")),
            "SecurityGroup.RuleCIDRAddressError"
        );
        assert_eq!(code(validate_ip("fd00::/8", "IPv6")), "");
    }

    #[test]
    fn identity_normalizes() {
        let a = BdRule {
            direction: "ingress".into(),
            protocol: "TCP".into(),
            port_range: "1-65535".into(),
            source_ip: "10.0.0.1".into(),
            ..BdRule::default()
        };
        let b = BdRule {
            direction: "ingress".into(),
            protocol: "tcp".into(),
            port_range: "".into(),
            source_ip: "10.0.0.1/32".into(),
            ethertype: "IPv4".into(),
            ..BdRule::default()
        };
        assert_eq!(identity(&a), identity(&b));
        let c = BdRule {
            remark: "x".into(),
            ..b.clone()
        };
        assert_ne!(identity(&a), identity(&c), "remark is part of the identity");
        let d = BdRule {
            source_ip: "0.0.0.0/0".into(),
            ..b.clone()
        };
        let e = BdRule {
            source_ip: "".into(),
            ..b
        };
        assert_eq!(identity(&d), identity(&e));
    }
}
