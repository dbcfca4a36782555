//! Huawei Cloud VPC handlers: ports and their ordered security groups, the
//! batch associate/disassociate call, groups and rules.
//!
//! Error codes (v3 body `{request_id,error_code,error_msg}` unless noted):
//! - 400 `VPC.0602` invalid parameter (the message names the field);
//! - 404 `VPC.9904` port, group or rule not found;
//! - 409 `VPC.9902` group in use on delete, or "Security group rule already
//!   exists. Rule id is ...";
//! - 409 `VPC.9905` quota exceeded (groups per port, rules per group);
//! - 400 `VPC.0607` removing the port's last group (v3 calls reuse the batch
//!   call's code; the refusal is also logged);
//! - batch call (old body `{code,message}`): 400 `VPC.0606` malformed,
//!   empty or bad action, 400 `VPC.0609` more than 20 ports; per-port
//!   `VPC.0608` unknown port and `VPC.0607` last group or unknown group.
//!
//! Choices where the docs are silent: inserting a group the port already
//! holds moves it to the requested position; an `index` past the end is
//! 400; removing a group the port does not hold is ignored; lists are
//! ordered by id.
//!
//! List filters (ports, groups, rules) take exactly the query keys the v3
//! SDK's request models define. The SDK core sends every multi-valued
//! parameter as a repeated key (`id=a&id=b`; its per-call `csv` formats are
//! overridden by the core's `multi` for the query string), so a repeated
//! key means "any of these values" and different keys combine with AND;
//! `security_groups` matches a port holding any of the listed groups. An
//! unknown key, a second value for a single-valued key, or a comma inside
//! an id-like value (`id=a,b`, a client joining values itself) is 400
//! `VPC.0602` naming the key: a filter that were ignored would silently
//! widen the answer. `private_ips=subnet_cidr_id=...` is refused the same
//! way because ports here carry no subnet ids. Rules carry `enabled`
//! (default true; a state or `SimHandle::set_huawei_rule_enabled` can
//! disable one, as a console edit would).

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use super::engine::{
    ApiError, Call, HandlerResult, RefusedRequest, Reply, World, hw_page_info, hw_time, is_uuid,
    new_uuid, page_after, parse_body,
};
use super::ops::Op;
use super::state::{HwGroup, HwPort, HwRule, HwTag};

fn bad(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(400, "VPC.0602", format!("Invalid parameter {field}: {why}"))
}

fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError::new(404, "VPC.9904", format!("{kind} {id} could not be found."))
}

const LAST_GROUP_MSG: &str = "An instance must belong to at least one security group";

/// Serve one Huawei call.
pub fn handle(call: &Call, world: &mut World) -> HandlerResult {
    match call.route.op {
        Op::HwShowPort => show_port(call, world),
        Op::HwListPorts => list_ports(call, world),
        Op::HwInsertSecurityGroups => insert_groups(call, world),
        Op::HwRemoveSecurityGroups => remove_groups(call, world),
        Op::HwBatchInstanceAction => batch_action(call, world),
        Op::HwCreateSecurityGroup => create_group(call, world),
        Op::HwShowSecurityGroup => show_group(call, world),
        Op::HwListSecurityGroups => list_groups(call, world),
        Op::HwUpdateSecurityGroup => update_group(call, world),
        Op::HwDeleteSecurityGroup => delete_group(call, world),
        Op::HwCreateSecurityGroupRule => create_rule(call, world),
        Op::HwBatchCreateSecurityGroupRules => batch_create_rules(call, world),
        Op::HwListSecurityGroupRules => list_rules(call, world),
        Op::HwShowSecurityGroupRule => show_rule(call, world),
        Op::HwDeleteSecurityGroupRule => delete_rule(call, world),
        other => Err(ApiError::new(
            500,
            "VPC.0500",
            format!("{} is not a Huawei operation", other.name()),
        )),
    }
}

fn project<'a>(call: &'a Call) -> &'a str {
    call.route.project.as_deref().unwrap_or("")
}

fn body_object(call: &Call) -> Result<Map<String, Value>, ApiError> {
    match parse_body(call.body) {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(bad("body", "must be a JSON object")),
        None => Err(bad("body", "empty or not valid JSON")),
    }
}

fn dry_run(body: &Map<String, Value>) -> Result<bool, ApiError> {
    match body.get("dry_run") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad("dry_run", "must be a boolean")),
    }
}

fn accepted(call: &Call) -> Reply {
    Reply::json(202, json!({ "request_id": call.request_id }))
}

/// A query key a list call takes, as `huaweicloudsdkvpc` defines it.
struct Filter {
    key: &'static str,
    /// `list[...]` in the SDK model: the key may repeat, each value one
    /// more alternative.
    multi: bool,
    /// Values are ids (UUIDs, MAC addresses) that cannot hold a comma, so
    /// a comma means a client joined several values into one.
    id_like: bool,
}

const fn one(key: &'static str) -> Filter {
    Filter {
        key,
        multi: false,
        id_like: false,
    }
}

const fn many(key: &'static str) -> Filter {
    Filter {
        key,
        multi: true,
        id_like: false,
    }
}

const fn many_ids(key: &'static str) -> Filter {
    Filter {
        key,
        multi: true,
        id_like: true,
    }
}

/// `ListPortsRequest` of the v3 SDK, every field.
const PORT_FILTERS: &[Filter] = &[
    many_ids("id"),
    many("name"),
    one("admin_state_up"),
    one("status"),
    many_ids("virsubnet_id"),
    many_ids("device_id"),
    many_ids("mac_address"),
    many("device_owner"),
    one("device_owner_prefixlike"),
    many("description"),
    many("binding:host_id"),
    many("private_ips"),
    many_ids("security_groups"),
    many_ids("vpc_id"),
    many("allowed_address_pairs"),
    one("instance_id"),
    one("instance_type"),
    one("limit"),
    one("marker"),
];

/// `ListSecurityGroupRulesRequest` of the v3 SDK, every field.
const RULE_FILTERS: &[Filter] = &[
    one("limit"),
    one("marker"),
    many_ids("id"),
    many_ids("security_group_id"),
    many("protocol"),
    many("description"),
    many_ids("remote_group_id"),
    one("direction"),
    one("action"),
    one("remote_ip_prefix"),
    many("priority"),
    many("ethertype"),
    many_ids("remote_address_group_id"),
    one("enabled"),
];

/// `ListSecurityGroupsRequest` of the v3 SDK, every field.
const GROUP_FILTERS: &[Filter] = &[
    one("limit"),
    one("marker"),
    many_ids("id"),
    many("name"),
    many("description"),
    one("enterprise_project_id"),
];

fn unsupported(key: &str, why: &str) -> ApiError {
    bad(key, format!("not supported by this simulator: {why}"))
}

/// A list call's query, checked against the keys the SDK sends for it:
/// an unknown key, a repeated single-valued key, or a comma-joined id list
/// is a 400 (the SDK repeats the key for each value; a filter the
/// simulator ignored would silently widen the answer).
struct ListQuery<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> ListQuery<'a> {
    fn new(call: &'a Call, filters: &[Filter]) -> Result<Self, ApiError> {
        for (i, (k, v)) in call.query.iter().enumerate() {
            let Some(f) = filters.iter().find(|f| f.key == k) else {
                return Err(bad(k, "is not a query parameter of this call"));
            };
            if !f.multi && call.query[..i].iter().any(|(x, _)| x == k) {
                return Err(bad(k, "may be given once"));
            }
            if f.id_like && v.contains(',') {
                return Err(bad(
                    k,
                    format!("{v:?} is not one value: repeat the key for each value ({k}=a&{k}=b)"),
                ));
            }
        }
        Ok(Self { pairs: call.query })
    }

    fn values<'k>(&self, key: &'k str) -> impl Iterator<Item = &'a str> + use<'a, 'k> {
        let pairs: &'a [(String, String)] = self.pairs;
        pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// No value given, or `actual` equals one of them.
    fn any(&self, key: &str, actual: &str) -> bool {
        let mut vals = self.values(key).peekable();
        vals.peek().is_none() || vals.any(|v| v == actual)
    }

    /// No value given, or one of them is in `held`.
    fn overlaps(&self, key: &str, held: &[String]) -> bool {
        let mut vals = self.values(key).peekable();
        vals.peek().is_none() || vals.any(|v| held.iter().any(|h| h == v))
    }

    fn single(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        Ok(self.values(key).next())
    }

    fn single_bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.single(key)? {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(bad(key, format!("{v:?} must be true or false"))),
        }
    }

    /// Values shaped `name=value` with `name` among `names`.
    fn pairs(&self, key: &str, names: &[&str]) -> Result<Vec<(&'a str, &'a str)>, ApiError> {
        self.values(key)
            .map(|v| match v.split_once('=') {
                Some((n, x)) if names.contains(&n) && !x.is_empty() => Ok((n, x)),
                _ => Err(bad(
                    key,
                    format!("{v:?} must be {}", names.join("=... or ")) + "=...",
                )),
            })
            .collect()
    }

    /// `limit`: 0 to 2000; 0 or absent is the largest page.
    fn limit(&self) -> Result<usize, ApiError> {
        match self.single("limit")? {
            None | Some("") => Ok(2000),
            Some(v) => match v.parse::<usize>() {
                Ok(0) => Ok(2000),
                Ok(n) if n <= 2000 => Ok(n),
                _ => Err(bad("limit", "must be an integer from 0 to 2000")),
            },
        }
    }
}

// ------------------------------------------------------------------ ports

fn port_json(p: &HwPort) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "status": p.status(),
        "admin_state_up": p.admin_state_up,
        "project_id": p.project_id,
        "tenant_id": p.project_id,
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "mac_address": p.mac_address,
        "description": p.description,
        "vpc_id": p.vpc_id,
        "virsubnet_id": p.virsubnet_id,
        "instance_id": p.instance_id,
        "instance_type": p.instance_type,
        "private_ips": if p.ip_address.is_empty() {
            json!([])
        } else {
            json!([{ "subnet_cidr_id": "", "ip_address": p.ip_address }])
        },
        "security_groups": p.security_groups,
        "port_security_enabled": true,
        "tags": [],
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "scope": "center",
        "zone_id": "",
        "position_type": "center",
        "enable_efi": false,
        "ecs_flavor": "",
        "binding:host_id": p.binding_host_id,
        // The documented example of a port with no device shows `unbound`.
        "binding:vif_type": if p.is_bound() { "ovs" } else { "unbound" },
        "binding:vnic_type": "normal",
        "binding:vif_details": {},
        "binding:profile": {},
        "binding:migration_info": {},
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    })
}

fn find_port<'a>(world: &'a World, call: &Call, id: &str) -> Result<&'a HwPort, ApiError> {
    world
        .state
        .huawei
        .ports
        .iter()
        .find(|p| p.id == id && p.project_id == project(call))
        .ok_or_else(|| not_found("Port", id))
}

fn show_port(call: &Call, world: &mut World) -> HandlerResult {
    let port = find_port(world, call, call.id())?;
    Ok(Reply::json(
        200,
        json!({ "port": port_json(port), "request_id": call.request_id }),
    ))
}

fn list_ports(call: &Call, world: &mut World) -> HandlerResult {
    let q = ListQuery::new(call, PORT_FILTERS)?;
    let limit = q.limit()?;
    let proj = project(call);
    let admin = q.single_bool("admin_state_up")?;
    let status = q.single("status")?;
    if let Some(s) = status
        && !matches!(s, "ACTIVE" | "BUILD" | "DOWN")
    {
        return Err(bad("status", "must be ACTIVE, BUILD or DOWN"));
    }
    let prefix = q.single("device_owner_prefixlike")?;
    let instance_id = q.single("instance_id")?;
    let instance_type = q.single("instance_type")?;
    let private_ips = q.pairs("private_ips", &["ip_address", "subnet_cidr_id"])?;
    if private_ips.iter().any(|(k, _)| *k == "subnet_cidr_id") {
        return Err(unsupported(
            "private_ips",
            "subnet_cidr_id is not modelled by the simulator (ports carry no subnet ids)",
        ));
    }
    // Ports carry no allowed address pairs here, so any pair filter matches
    // nothing; the value is still checked.
    let pairs = q.pairs("allowed_address_pairs", &["ip_address", "mac_address"])?;
    let mut ports: Vec<&HwPort> = world
        .state
        .huawei
        .ports
        .iter()
        .filter(|p| p.project_id == proj)
        .filter(|p| q.any("id", &p.id))
        .filter(|p| q.any("name", &p.name))
        .filter(|p| q.any("virsubnet_id", &p.virsubnet_id))
        .filter(|p| q.any("device_id", &p.device_id))
        .filter(|p| q.any("mac_address", &p.mac_address))
        .filter(|p| q.any("device_owner", &p.device_owner))
        .filter(|p| q.any("description", &p.description))
        .filter(|p| q.any("binding:host_id", &p.binding_host_id))
        .filter(|p| q.any("vpc_id", &p.vpc_id))
        .filter(|p| q.overlaps("security_groups", &p.security_groups))
        .filter(|p| admin.is_none_or(|a| p.admin_state_up == a))
        .filter(|p| status.is_none_or(|s| p.status() == s))
        .filter(|p| prefix.is_none_or(|x| p.device_owner.starts_with(x)))
        .filter(|p| instance_id.is_none_or(|x| p.instance_id == x))
        .filter(|p| instance_type.is_none_or(|x| p.instance_type == x))
        .filter(|p| private_ips.is_empty() || private_ips.iter().any(|(_, ip)| p.ip_address == *ip))
        .filter(|_| pairs.is_empty())
        .collect();
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    let (page, more) = page_after(ports, |p| p.id.as_str(), q.single("marker")?, limit);
    Ok(Reply::json(
        200,
        json!({
            "ports": page.iter().map(|p| port_json(p)).collect::<Vec<_>>(),
            "page_info": hw_page_info(&page, |p| p.id.as_str(), more),
            "request_id": call.request_id,
        }),
    ))
}

/// `port.security_groups` from a request body: a non-empty list of known
/// group ids of this project.
fn group_list(
    world: &World,
    call: &Call,
    port: &Map<String, Value>,
) -> Result<Vec<String>, ApiError> {
    let Some(Value::Array(items)) = port.get("security_groups") else {
        return Err(bad(
            "port.security_groups",
            "is required and must be a list",
        ));
    };
    if items.is_empty() {
        return Err(bad("port.security_groups", "must not be empty"));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(id) = item.as_str() else {
            return Err(bad(
                &format!("port.security_groups[{i}]"),
                "must be a string",
            ));
        };
        if !is_uuid(id) {
            return Err(bad(&format!("port.security_groups[{i}]"), "must be a UUID"));
        }
        if !world
            .state
            .huawei
            .security_groups
            .iter()
            .any(|g| g.id == id && g.project_id == project(call))
        {
            return Err(not_found("Security group", id));
        }
        if !out.iter().any(|x: &String| x == id) {
            out.push(id.to_string());
        }
    }
    Ok(out)
}

fn port_option(body: &Map<String, Value>) -> Result<&Map<String, Value>, ApiError> {
    body.get("port")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("port", "is required and must be an object"))
}

fn insert_groups(call: &Call, world: &mut World) -> HandlerResult {
    let body = body_object(call)?;
    let dry = dry_run(&body)?;
    let opt = port_option(&body)?;
    let current = find_port(world, call, call.id())?.security_groups.clone();
    let adding = group_list(world, call, opt)?;
    let mut list: Vec<String> = current
        .into_iter()
        .filter(|g| !adding.contains(g))
        .collect();
    let index = match opt.get("index") {
        None | Some(Value::Null) => list.len(),
        Some(v) => {
            let Some(n) = v.as_u64() else {
                return Err(bad("port.index", "must be a non-negative integer"));
            };
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if n > list.len() {
                return Err(bad(
                    "port.index",
                    format!("{n} is past the end of the port's {} groups", list.len()),
                ));
            }
            n
        }
    };
    for (offset, g) in adding.into_iter().enumerate() {
        list.insert(index + offset, g);
    }
    let max = world.state.settings.huawei_port_max_groups;
    if list.len() > max {
        return Err(ApiError::new(
            409,
            "VPC.9905",
            format!("Quota exceeded: a port may hold at most {max} security groups"),
        ));
    }
    if dry {
        return Ok(accepted(call));
    }
    let now = hw_time(call.now);
    let port = port_mut(world, call.id())?;
    port.security_groups = list;
    port.updated_at = now;
    let port = port_json(port);
    Ok(Reply::json(
        200,
        json!({ "port": port, "request_id": call.request_id }),
    ))
}

fn port_mut<'a>(world: &'a mut World, id: &str) -> Result<&'a mut HwPort, ApiError> {
    world
        .state
        .huawei
        .ports
        .iter_mut()
        .find(|p| p.id == id)
        .ok_or_else(|| not_found("Port", id))
}

fn remove_groups(call: &Call, world: &mut World) -> HandlerResult {
    let body = body_object(call)?;
    let dry = dry_run(&body)?;
    let opt = port_option(&body)?;
    let current = find_port(world, call, call.id())?.security_groups.clone();
    let removing = group_list(world, call, opt)?;
    let list: Vec<String> = current
        .iter()
        .filter(|g| !removing.contains(g))
        .cloned()
        .collect();
    if list.is_empty() {
        world.refused.push(RefusedRequest {
            operation: Op::HwRemoveSecurityGroups.name().into(),
            target: call.id().to_string(),
            groups: removing,
            code: "VPC.0607".into(),
            reason: LAST_GROUP_MSG.into(),
        });
        return Err(ApiError::new(400, "VPC.0607", LAST_GROUP_MSG));
    }
    if dry {
        return Ok(accepted(call));
    }
    let now = hw_time(call.now);
    let port = port_mut(world, call.id())?;
    port.security_groups = list;
    port.updated_at = now;
    let port = port_json(port);
    Ok(Reply::json(
        200,
        json!({ "port": port, "request_id": call.request_id }),
    ))
}

fn invalid_batch() -> ApiError {
    ApiError::new(400, "VPC.0606", "Request is invalid")
}

fn batch_action(call: &Call, world: &mut World) -> HandlerResult {
    let Some(Value::Object(body)) = parse_body(call.body) else {
        return Err(invalid_batch());
    };
    let adding = match body.get("action").and_then(Value::as_str) {
        Some(a) if a.eq_ignore_ascii_case("add") => true,
        Some(a) if a.eq_ignore_ascii_case("remove") => false,
        _ => return Err(invalid_batch()),
    };
    let Some(Value::Array(ports)) = body.get("ports") else {
        return Err(invalid_batch());
    };
    if ports.is_empty() {
        return Err(invalid_batch());
    }
    if ports.len() > 20 {
        return Err(ApiError::new(400, "VPC.0609", "Ports list exceeds limit"));
    }
    let mut ids = Vec::with_capacity(ports.len());
    for p in ports {
        match p.get("id").and_then(Value::as_str) {
            Some(id) if is_uuid(id) => ids.push(id.to_string()),
            _ => return Err(invalid_batch()),
        }
    }
    let sg = call.id().to_string();
    let group_exists = world
        .state
        .huawei
        .security_groups
        .iter()
        .any(|g| g.id == sg && g.project_id == project(call));
    let max = world.state.settings.huawei_port_max_groups;
    let now = hw_time(call.now);
    let mut fail = Vec::new();
    for id in ids {
        let failure =
            |code: &str, msg: String| json!({ "id": id, "error_code": code, "error_msg": msg });
        if let Some(f) = world.faults.port_failure(&id) {
            let msg = if f.error_msg.is_empty() {
                format!("Injected failure for port {id}")
            } else {
                f.error_msg
            };
            fail.push(failure(&f.error_code, msg));
            continue;
        }
        let proj = project(call).to_string();
        let Some(port) = world
            .state
            .huawei
            .ports
            .iter_mut()
            .find(|p| p.id == id && p.project_id == proj)
        else {
            let msg = json!({ "NeutronError": {
                "message": format!("Port {id} could not be found."),
                "type": "PortNotFound",
                "detail": "",
            }});
            fail.push(failure("VPC.0608", msg.to_string()));
            continue;
        };
        if !group_exists {
            fail.push(failure(
                "VPC.0607",
                format!("Security group {sg} does not exist"),
            ));
            continue;
        }
        let holds = port.security_groups.contains(&sg);
        if adding {
            if holds {
                continue; // re-adding a member is not an error
            }
            if port.security_groups.len() >= max {
                fail.push(failure(
                    "VPC.9905",
                    format!("Quota exceeded: a port may hold at most {max} security groups"),
                ));
                continue;
            }
            port.security_groups.push(sg.clone());
            port.updated_at = now.clone();
        } else {
            if !holds {
                continue;
            }
            if port.security_groups.len() == 1 {
                world.refused.push(RefusedRequest {
                    operation: Op::HwBatchInstanceAction.name().into(),
                    target: id.clone(),
                    groups: vec![sg.clone()],
                    code: "VPC.0607".into(),
                    reason: LAST_GROUP_MSG.into(),
                });
                fail.push(failure("VPC.0607", LAST_GROUP_MSG.to_string()));
                continue;
            }
            port.security_groups.retain(|g| g != &sg);
            port.updated_at = now.clone();
        }
    }
    Ok(Reply::json(200, json!({ "fail": fail })))
}

// ----------------------------------------------------------------- groups

fn rule_json(r: &HwRule, group: &HwGroup) -> Value {
    json!({
        "id": r.id,
        "project_id": group.project_id,
        "security_group_id": group.id,
        "description": r.description,
        "direction": r.direction,
        "protocol": r.protocol,
        "ethertype": r.ethertype,
        "multiport": r.multiport,
        "action": r.action,
        "priority": r.priority,
        "remote_ip_prefix": r.remote_ip_prefix,
        "remote_group_id": r.remote_group_id,
        "remote_address_group_id": r.remote_address_group_id,
        "enabled": r.enabled,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    })
}

fn group_json(g: &HwGroup, with_rules: bool) -> Value {
    let mut v = json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "project_id": g.project_id,
        "enterprise_project_id": g.enterprise_project_id,
        "tags": g.tags.iter().map(|t| json!({"key": t.key, "value": t.value})).collect::<Vec<_>>(),
        "created_at": g.created_at,
        "updated_at": g.updated_at,
    });
    if with_rules && let Some(obj) = v.as_object_mut() {
        obj.insert(
            "security_group_rules".into(),
            Value::Array(g.rules.iter().map(|r| rule_json(r, g)).collect()),
        );
    }
    v
}

fn find_group<'a>(world: &'a World, call: &Call, id: &str) -> Result<&'a HwGroup, ApiError> {
    world
        .state
        .huawei
        .security_groups
        .iter()
        .find(|g| g.id == id && g.project_id == project(call))
        .ok_or_else(|| not_found("Security group", id))
}

fn group_mut<'a>(world: &'a mut World, call: &Call, id: &str) -> Result<&'a mut HwGroup, ApiError> {
    let proj = project(call).to_string();
    world
        .state
        .huawei
        .security_groups
        .iter_mut()
        .find(|g| g.id == id && g.project_id == proj)
        .ok_or_else(|| not_found("Security group", id))
}

fn validate_name(field: &str, v: &Value) -> Result<String, ApiError> {
    let Some(name) = v.as_str() else {
        return Err(bad(field, "must be a string"));
    };
    let len = name.chars().count();
    if !(1..=64).contains(&len) {
        return Err(bad(field, "must be 1 to 64 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(bad(
            field,
            "may contain only letters, digits, underscores, hyphens and periods",
        ));
    }
    Ok(name.to_string())
}

fn validate_description(field: &str, v: Option<&Value>) -> Result<String, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => {
            if s.chars().count() > 255 {
                return Err(bad(field, "must be at most 255 characters"));
            }
            if s.contains('<') || s.contains('>') {
                return Err(bad(field, "must not contain < or >"));
            }
            Ok(s.clone())
        }
        Some(_) => Err(bad(field, "must be a string")),
    }
}

fn validate_tags(v: Option<&Value>) -> Result<Vec<HwTag>, ApiError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad("security_group.tags", "must be a list")),
    };
    if items.len() > 20 {
        return Err(bad("security_group.tags", "at most 20 tags"));
    }
    let mut tags: Vec<HwTag> = Vec::new();
    for (i, t) in items.iter().enumerate() {
        let field = format!("security_group.tags[{i}]");
        let key = t.get("key").and_then(Value::as_str).unwrap_or("");
        let value = match t.get("value") {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(bad(&format!("{field}.value"), "must be a string")),
        };
        let klen = key.chars().count();
        if !(1..=36).contains(&klen)
            || !key
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-'))
        {
            return Err(bad(
                &format!("{field}.key"),
                "must be 1 to 36 letters, digits, underscores or hyphens",
            ));
        }
        if value.chars().count() > 43
            || !value
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(bad(
                &format!("{field}.value"),
                "must be at most 43 letters, digits, underscores, periods or hyphens",
            ));
        }
        if tags.iter().any(|x| x.key == key) {
            return Err(bad(&format!("{field}.key"), format!("duplicate key {key}")));
        }
        tags.push(HwTag {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(tags)
}

fn default_rules(group_id: &str, now: &str) -> Vec<HwRule> {
    let mut rules = Vec::new();
    for ethertype in ["IPv4", "IPv6"] {
        for direction in ["ingress", "egress"] {
            rules.push(HwRule {
                id: new_uuid(),
                description: String::new(),
                direction: direction.into(),
                protocol: None,
                ethertype: ethertype.into(),
                multiport: None,
                action: "allow".into(),
                priority: 100,
                remote_ip_prefix: None,
                remote_group_id: (direction == "ingress").then(|| group_id.to_string()),
                remote_address_group_id: None,
                enabled: true,
                created_at: now.to_string(),
                updated_at: now.to_string(),
            });
        }
    }
    rules
}

fn create_group(call: &Call, world: &mut World) -> HandlerResult {
    let body = body_object(call)?;
    let dry = dry_run(&body)?;
    let Some(sg) = body.get("security_group").and_then(Value::as_object) else {
        return Err(bad("security_group", "is required and must be an object"));
    };
    let name = validate_name(
        "security_group.name",
        sg.get("name").unwrap_or(&Value::Null),
    )?;
    let description = validate_description("security_group.description", sg.get("description"))?;
    let enterprise_project_id = match sg.get("enterprise_project_id") {
        None | Some(Value::Null) => "0".to_string(),
        Some(Value::String(s)) if s == "0" || is_uuid(s) => s.clone(),
        Some(_) => {
            return Err(bad(
                "security_group.enterprise_project_id",
                "must be 0 or a UUID",
            ));
        }
    };
    let tags = validate_tags(sg.get("tags"))?;
    if dry {
        return Ok(accepted(call));
    }
    let now = hw_time(call.now);
    let id = new_uuid();
    let rules = if world.state.settings.huawei_default_rules {
        default_rules(&id, &now)
    } else {
        Vec::new()
    };
    let group = HwGroup {
        id,
        project_id: project(call).to_string(),
        name,
        description,
        enterprise_project_id,
        tags,
        rules,
        created_at: now.clone(),
        updated_at: now,
    };
    let v = group_json(&group, true);
    world.state.huawei.security_groups.push(group);
    Ok(Reply::json(
        201,
        json!({ "security_group": v, "request_id": call.request_id }),
    ))
}

fn show_group(call: &Call, world: &mut World) -> HandlerResult {
    let g = find_group(world, call, call.id())?;
    Ok(Reply::json(
        200,
        json!({ "security_group": group_json(g, true), "request_id": call.request_id }),
    ))
}

fn list_groups(call: &Call, world: &mut World) -> HandlerResult {
    let q = ListQuery::new(call, GROUP_FILTERS)?;
    let limit = q.limit()?;
    // `all_granted_eps` asks for every enterprise project the caller may see.
    let ep = q
        .single("enterprise_project_id")?
        .filter(|e| *e != "all_granted_eps");
    let mut groups: Vec<&HwGroup> = world
        .state
        .huawei
        .security_groups
        .iter()
        .filter(|g| g.project_id == project(call))
        .filter(|g| q.any("id", &g.id))
        .filter(|g| q.any("name", &g.name))
        .filter(|g| q.any("description", &g.description))
        .filter(|g| ep.is_none_or(|e| g.enterprise_project_id == e))
        .collect();
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    let (page, more) = page_after(groups, |g| g.id.as_str(), q.single("marker")?, limit);
    Ok(Reply::json(
        200,
        json!({
            "security_groups": page.iter().map(|g| group_json(g, false)).collect::<Vec<_>>(),
            "page_info": hw_page_info(&page, |g| g.id.as_str(), more),
            "request_id": call.request_id,
        }),
    ))
}

fn update_group(call: &Call, world: &mut World) -> HandlerResult {
    let body = body_object(call)?;
    let dry = dry_run(&body)?;
    let Some(sg) = body.get("security_group").and_then(Value::as_object) else {
        return Err(bad("security_group", "is required and must be an object"));
    };
    let name = match sg.get("name") {
        None | Some(Value::Null) => None,
        Some(v) => Some(validate_name("security_group.name", v)?),
    };
    let description = match sg.get("description") {
        None | Some(Value::Null) => None,
        d => Some(validate_description("security_group.description", d)?),
    };
    find_group(world, call, call.id())?;
    if dry {
        return Ok(accepted(call));
    }
    let now = hw_time(call.now);
    let g = group_mut(world, call, call.id())?;
    if let Some(n) = name {
        g.name = n;
    }
    if let Some(d) = description {
        g.description = d;
    }
    g.updated_at = now;
    let v = group_json(g, true);
    Ok(Reply::json(
        200,
        json!({ "security_group": v, "request_id": call.request_id }),
    ))
}

fn delete_group(call: &Call, world: &mut World) -> HandlerResult {
    let id = call.id().to_string();
    find_group(world, call, &id)?;
    if let Some(port) = world
        .state
        .huawei
        .ports
        .iter()
        .find(|p| p.security_groups.contains(&id))
    {
        return Err(ApiError::new(
            409,
            "VPC.9902",
            format!("Security group {id} is in use by port {}", port.id),
        ));
    }
    world.state.huawei.security_groups.retain(|g| g.id != id);
    Ok(Reply::empty(204))
}

// ------------------------------------------------------------------ rules

/// The fields of a rule that decide whether two rules are the same.
fn rule_key(
    r: &HwRule,
) -> (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    u32,
) {
    let prefix = r
        .remote_ip_prefix
        .as_deref()
        .and_then(parse_prefix)
        .map(|n| n.trunc().to_string())
        .unwrap_or_default();
    (
        r.direction.clone(),
        r.ethertype.clone(),
        r.protocol.clone().unwrap_or_default(),
        r.multiport.clone().unwrap_or_default().replace(' ', ""),
        prefix,
        r.remote_group_id.clone().unwrap_or_default(),
        r.remote_address_group_id.clone().unwrap_or_default(),
        r.action.clone(),
        r.priority,
    )
}

fn parse_prefix(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n);
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

fn opt_str(obj: &Map<String, Value>, key: &str, field: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(field, "must be a string")),
    }
}

fn validate_multiport(field: &str, s: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() > 20 {
        return Err(bad(field, "at most 20 ports or ranges"));
    }
    for part in parts {
        let port = |p: &str| -> Result<u32, ApiError> {
            match p.parse::<u32>() {
                Ok(n) if (1..=65535).contains(&n) => Ok(n),
                _ => Err(bad(field, format!("{p:?} is not a port from 1 to 65535"))),
            }
        };
        match part.split_once('-') {
            Some((a, b)) => {
                if port(a)? > port(b)? {
                    return Err(bad(field, format!("range {part} is reversed")));
                }
            }
            None => {
                port(part)?;
            }
        }
    }
    Ok(())
}

/// Parse and validate one rule object. `prefix` names the object in
/// messages; `group_id` is the owning group (path) when not in the body.
fn parse_rule(
    world: &World,
    call: &Call,
    obj: &Map<String, Value>,
    prefix: &str,
    default_priority: u32,
    now: &str,
) -> Result<HwRule, ApiError> {
    let f = |k: &str| format!("{prefix}.{k}");
    let direction = match obj.get("direction").and_then(Value::as_str) {
        Some(d @ ("ingress" | "egress")) => d.to_string(),
        _ => return Err(bad(&f("direction"), "must be ingress or egress")),
    };
    let ethertype = match opt_str(obj, "ethertype", &f("ethertype"))? {
        None => "IPv4".to_string(),
        Some(e) if e.eq_ignore_ascii_case("ipv4") => "IPv4".to_string(),
        Some(e) if e.eq_ignore_ascii_case("ipv6") => "IPv6".to_string(),
        Some(_) => return Err(bad(&f("ethertype"), "must be IPv4 or IPv6")),
    };
    let protocol = match opt_str(obj, "protocol", &f("protocol"))? {
        None => None,
        Some(p) => {
            let p = p.to_ascii_lowercase();
            let named = matches!(p.as_str(), "icmp" | "tcp" | "udp" | "icmpv6");
            let numbered = p.parse::<u16>().is_ok_and(|n| n <= 255);
            if !named && !numbered {
                return Err(bad(
                    &f("protocol"),
                    "must be icmp, tcp, udp, icmpv6 or a number from 0 to 255",
                ));
            }
            Some(p)
        }
    };
    match protocol.as_deref() {
        Some("icmp") if ethertype != "IPv4" => {
            return Err(bad(&f("protocol"), "icmp requires ethertype IPv4"));
        }
        Some("icmpv6") if ethertype != "IPv6" => {
            return Err(bad(&f("protocol"), "icmpv6 requires ethertype IPv6"));
        }
        _ => {}
    }
    let multiport = match obj.get("multiport") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => opt_str(obj, "multiport", &f("multiport"))?,
    };
    if let Some(m) = &multiport {
        if !matches!(protocol.as_deref(), Some("tcp" | "udp" | "6" | "17")) {
            return Err(bad(&f("multiport"), "ports need protocol tcp or udp"));
        }
        validate_multiport(&f("multiport"), m)?;
    }
    let action = match opt_str(obj, "action", &f("action"))? {
        None => "allow".to_string(),
        Some(a) if a == "allow" || a == "deny" => a,
        Some(_) => return Err(bad(&f("action"), "must be allow or deny")),
    };
    let priority = match obj.get("priority") {
        None | Some(Value::Null) => default_priority,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad(&f("priority"), "must be an integer from 1 to 100"))?,
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| bad(&f("priority"), "must be an integer from 1 to 100"))?,
        Some(_) => return Err(bad(&f("priority"), "must be an integer from 1 to 100")),
    };
    if !(1..=100).contains(&priority) {
        return Err(bad(&f("priority"), "must be an integer from 1 to 100"));
    }
    let description = validate_description(&f("description"), obj.get("description"))?;
    let remote_ip_prefix = opt_str(obj, "remote_ip_prefix", &f("remote_ip_prefix"))?;
    let remote_group_id = opt_str(obj, "remote_group_id", &f("remote_group_id"))?;
    let remote_address_group_id = opt_str(
        obj,
        "remote_address_group_id",
        &f("remote_address_group_id"),
    )?;
    let remotes = [
        &remote_ip_prefix,
        &remote_group_id,
        &remote_address_group_id,
    ]
    .iter()
    .filter(|r| r.is_some())
    .count();
    if remotes > 1 {
        return Err(bad(
            prefix,
            "remote_ip_prefix, remote_group_id and remote_address_group_id are mutually exclusive",
        ));
    }
    let remote_ip_prefix = match remote_ip_prefix {
        None => None,
        Some(p) => {
            let Some(net) = parse_prefix(&p) else {
                return Err(bad(
                    &f("remote_ip_prefix"),
                    format!("{p:?} is not an IP address or CIDR"),
                ));
            };
            let v4 = matches!(net, IpNet::V4(_));
            if v4 != (ethertype == "IPv4") {
                return Err(bad(
                    &f("remote_ip_prefix"),
                    format!("{p} does not match ethertype {ethertype}"),
                ));
            }
            Some(net.to_string())
        }
    };
    if let Some(g) = &remote_group_id {
        if !is_uuid(g) {
            return Err(bad(&f("remote_group_id"), "must be a UUID"));
        }
        find_group(world, call, g).map_err(|_| {
            bad(
                &f("remote_group_id"),
                format!("security group {g} does not exist"),
            )
        })?;
    }
    if let Some(g) = &remote_address_group_id
        && !is_uuid(g)
    {
        return Err(bad(&f("remote_address_group_id"), "must be a UUID"));
    }
    let enabled = match obj.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad(&f("enabled"), "must be a boolean")),
    };
    Ok(HwRule {
        id: new_uuid(),
        description,
        direction,
        protocol,
        ethertype,
        multiport,
        action,
        priority,
        remote_ip_prefix,
        remote_group_id,
        remote_address_group_id,
        enabled,
        created_at: now.to_string(),
        updated_at: now.to_string(),
    })
}

fn duplicate_error(existing: &HwRule) -> ApiError {
    ApiError::new(
        409,
        "VPC.9902",
        format!(
            "Security group rule already exists. Rule id is {}.",
            existing.id
        ),
    )
}

fn check_rule_quota(world: &World, group: &HwGroup, adding: usize) -> Result<(), ApiError> {
    let max = world.state.settings.huawei_group_max_rules;
    if group.rules.len() + adding > max {
        return Err(ApiError::new(
            409,
            "VPC.9905",
            format!("Quota exceeded: a security group may hold at most {max} rules"),
        ));
    }
    Ok(())
}

fn create_rule(call: &Call, world: &mut World) -> HandlerResult {
    let body = body_object(call)?;
    let dry = dry_run(&body)?;
    let Some(obj) = body.get("security_group_rule").and_then(Value::as_object) else {
        return Err(bad(
            "security_group_rule",
            "is required and must be an object",
        ));
    };
    let Some(gid) = obj.get("security_group_id").and_then(Value::as_str) else {
        return Err(bad("security_group_rule.security_group_id", "is required"));
    };
    if !is_uuid(gid) {
        return Err(bad(
            "security_group_rule.security_group_id",
            "must be a UUID",
        ));
    }
    let gid = gid.to_string();
    let now = hw_time(call.now);
    let rule = parse_rule(world, call, obj, "security_group_rule", 100, &now)?;
    let group = find_group(world, call, &gid)?;
    if let Some(existing) = group.rules.iter().find(|r| rule_key(r) == rule_key(&rule)) {
        return Err(duplicate_error(existing));
    }
    check_rule_quota(world, group, 1)?;
    if dry {
        return Ok(accepted(call));
    }
    let g = group_mut(world, call, &gid)?;
    g.rules.push(rule.clone());
    let v = rule_json(&rule, g);
    Ok(Reply::json(
        201,
        json!({ "security_group_rule": v, "request_id": call.request_id }),
    ))
}

fn batch_create_rules(call: &Call, world: &mut World) -> HandlerResult {
    let body = body_object(call)?;
    let dry = dry_run(&body)?;
    let ignore_duplicate = match body.get("ignore_duplicate") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("ignore_duplicate", "must be a boolean")),
    };
    let Some(Value::Array(items)) = body.get("security_group_rules") else {
        return Err(bad(
            "security_group_rules",
            "is required and must be a list",
        ));
    };
    if items.is_empty() || items.len() > 200 {
        return Err(bad("security_group_rules", "must hold 1 to 200 rules"));
    }
    let gid = call.id().to_string();
    let now = hw_time(call.now);
    let group = find_group(world, call, &gid)?;
    let mut new_rules: Vec<HwRule> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("security_group_rules[{i}]");
        let Some(obj) = item.as_object() else {
            return Err(bad(&field, "must be an object"));
        };
        let rule = parse_rule(world, call, obj, &field, 1, &now)?;
        let key = rule_key(&rule);
        if let Some(existing) = group.rules.iter().find(|r| rule_key(r) == key) {
            if ignore_duplicate {
                continue;
            }
            return Err(duplicate_error(existing));
        }
        if let Some(j) = new_rules.iter().position(|r| rule_key(r) == key) {
            if ignore_duplicate {
                continue;
            }
            return Err(ApiError::new(
                409,
                "VPC.9902",
                format!(
                    "Security group rule already exists: {field} duplicates an earlier rule of this request (#{j})."
                ),
            ));
        }
        new_rules.push(rule);
    }
    check_rule_quota(world, group, new_rules.len())?;
    if dry {
        return Ok(accepted(call));
    }
    let g = group_mut(world, call, &gid)?;
    let created: Vec<Value> = new_rules.iter().map(|r| rule_json(r, g)).collect();
    g.rules.extend(new_rules);
    Ok(Reply::json(
        201,
        json!({ "security_group_rules": created, "request_id": call.request_id }),
    ))
}

fn list_rules(call: &Call, world: &mut World) -> HandlerResult {
    let q = ListQuery::new(call, RULE_FILTERS)?;
    let limit = q.limit()?;
    let direction = q.single("direction")?;
    if let Some(d) = direction
        && d != "ingress"
        && d != "egress"
    {
        return Err(bad("direction", "must be ingress or egress"));
    }
    let action = q.single("action")?;
    if let Some(a) = action
        && a != "allow"
        && a != "deny"
    {
        return Err(bad("action", "must be allow or deny"));
    }
    let prefix = match q.single("remote_ip_prefix")? {
        None => None,
        Some(p) => Some(
            parse_prefix(p)
                .map(|n| n.trunc())
                .ok_or_else(|| bad("remote_ip_prefix", format!("{p:?} is not a CIDR")))?,
        ),
    };
    let priorities = q
        .values("priority")
        .map(|v| match v.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(bad(
                "priority",
                format!("{v:?} is not an integer from 1 to 100"),
            )),
        })
        .collect::<Result<Vec<u32>, ApiError>>()?;
    let ethertypes = q
        .values("ethertype")
        .map(|v| {
            if v.eq_ignore_ascii_case("ipv4") {
                Ok("IPv4")
            } else if v.eq_ignore_ascii_case("ipv6") {
                Ok("IPv6")
            } else {
                Err(bad("ethertype", format!("{v:?} must be IPv4 or IPv6")))
            }
        })
        .collect::<Result<Vec<&str>, ApiError>>()?;
    let protocols: Vec<String> = q.values("protocol").map(str::to_ascii_lowercase).collect();
    let enabled = q.single_bool("enabled")?;
    let mut rules: Vec<(&HwRule, &HwGroup)> = world
        .state
        .huawei
        .security_groups
        .iter()
        .filter(|g| g.project_id == project(call))
        .filter(|g| q.any("security_group_id", &g.id))
        .flat_map(|g| g.rules.iter().map(move |r| (r, g)))
        .filter(|(r, _)| q.any("id", &r.id))
        .filter(|(r, _)| q.any("description", &r.description))
        .filter(|(r, _)| {
            q.any(
                "remote_group_id",
                r.remote_group_id.as_deref().unwrap_or(""),
            )
        })
        .filter(|(r, _)| {
            q.any(
                "remote_address_group_id",
                r.remote_address_group_id.as_deref().unwrap_or(""),
            )
        })
        .filter(|(r, _)| direction.is_none_or(|d| r.direction == d))
        .filter(|(r, _)| action.is_none_or(|a| r.action == a))
        .filter(|(r, _)| {
            prefix.is_none_or(|p| {
                r.remote_ip_prefix
                    .as_deref()
                    .and_then(parse_prefix)
                    .is_some_and(|n| n.trunc() == p)
            })
        })
        .filter(|(r, _)| priorities.is_empty() || priorities.contains(&r.priority))
        .filter(|(r, _)| ethertypes.is_empty() || ethertypes.contains(&r.ethertype.as_str()))
        .filter(|(r, _)| {
            protocols.is_empty()
                || protocols
                    .iter()
                    .any(|p| Some(p.as_str()) == r.protocol.as_deref())
        })
        .filter(|(r, _)| enabled.is_none_or(|e| r.enabled == e))
        .collect();
    rules.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let (page, more) = page_after(rules, |(r, _)| r.id.as_str(), q.single("marker")?, limit);
    Ok(Reply::json(
        200,
        json!({
            "security_group_rules": page.iter().map(|(r, g)| rule_json(r, g)).collect::<Vec<_>>(),
            "page_info": hw_page_info(&page, |(r, _)| r.id.as_str(), more),
            "request_id": call.request_id,
        }),
    ))
}

fn find_rule<'a>(
    world: &'a World,
    call: &Call,
    id: &str,
) -> Result<(&'a HwRule, &'a HwGroup), ApiError> {
    world
        .state
        .huawei
        .security_groups
        .iter()
        .filter(|g| g.project_id == project(call))
        .find_map(|g| g.rules.iter().find(|r| r.id == id).map(|r| (r, g)))
        .ok_or_else(|| not_found("Security group rule", id))
}

fn show_rule(call: &Call, world: &mut World) -> HandlerResult {
    let (r, g) = find_rule(world, call, call.id())?;
    Ok(Reply::json(
        200,
        json!({ "security_group_rule": rule_json(r, g), "request_id": call.request_id }),
    ))
}

fn delete_rule(call: &Call, world: &mut World) -> HandlerResult {
    let id = call.id().to_string();
    let gid = find_rule(world, call, &id)?.1.id.clone();
    let g = group_mut(world, call, &gid)?;
    g.rules.retain(|r| r.id != id);
    Ok(Reply::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiport_forms() {
        assert!(validate_multiport("m", "80").is_ok());
        assert!(validate_multiport("m", "1-30").is_ok());
        assert!(validate_multiport("m", "22,3389,80").is_ok());
        assert!(validate_multiport("m", "22, 100-200").is_ok());
        assert!(validate_multiport("m", "30-1").is_err());
        assert!(validate_multiport("m", "0").is_err());
        assert!(validate_multiport("m", "65536").is_err());
        assert!(validate_multiport("m", "http").is_err());
        assert!(validate_multiport("m", "").is_err());
    }

    #[test]
    fn prefixes_normalize() {
        assert_eq!(
            parse_prefix("10.0.0.1").map(|n| n.to_string()),
            Some("10.0.0.1/32".into())
        );
        assert_eq!(
            parse_prefix("::1").map(|n| n.to_string()),
            Some("::1/128".into())
        );
        assert!(parse_prefix("10.0.0.256/8").is_none());
        assert!(parse_prefix("10.0.0.0/33").is_none());
    }
}
