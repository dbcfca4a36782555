//! The planner's working context: objects and groups interned to small
//! integers (so the hot paths hash and compare `u32`s, not strings), the
//! per-object reports being built, and the errors found so far.

use foldhash::{HashMap, HashMapExt};

use crate::model::{
    DesiredState, FieldError, GroupHandle, Intent, Mode, ObjectKey, ObservedState, ProviderKind,
};

use super::ObjectReport;

/// Index of an object (a Kubernetes object that carries an intent).
pub(super) type Obj = u32;
/// Index of a security group (an existing id or one the plan creates).
pub(super) type Gid = u32;

/// A step while planning: owners as object indices (turned into
/// [`crate::model::Step`]s, with owner keys in key order, at the end).
pub(super) struct Planned {
    pub op: crate::model::Operation,
    pub owners: Vec<Obj>,
}

/// What kind of intent an object carries; decides which spec field an
/// error names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Group,
    Port,
    Membership,
    Deletion,
    RuleSet,
}

/// A group as the planner keys it: by cloud id, or by the object that will
/// create it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum GKey<'a> {
    Id(&'a str),
    New(&'a ObjectKey),
}

/// Whether membership changes may name a group now.
#[derive(Clone, Debug)]
enum Availability {
    Ok,
    Missing(String),
}

pub(super) struct Cx<'a> {
    pub provider: ProviderKind,
    pub observed: &'a ObservedState,
    obj_index: HashMap<&'a ObjectKey, Obj>,
    pub obj_keys: Vec<&'a ObjectKey>,
    pub obj_intents: Vec<&'a Intent>,
    pub obj_roles: Vec<Role>,
    pub reports: Vec<ObjectReport>,
    group_index: HashMap<GKey<'a>, Gid>,
    group_keys: Vec<GKey<'a>>,
    availability: Vec<Option<Availability>>,
    /// Mode of the `SecurityGroup` object that creates each new group.
    creators: HashMap<&'a ObjectKey, Mode>,
    pub errors: Vec<FieldError>,
}

impl<'a> Cx<'a> {
    pub fn new(desired: &'a DesiredState, observed: &'a ObservedState) -> Self {
        let mut creators = HashMap::new();
        for g in &desired.groups {
            if let GroupHandle::New(key) = &g.handle {
                creators.entry(key).or_insert(g.intent.mode);
            }
        }
        Self {
            provider: desired.provider,
            observed,
            obj_index: HashMap::new(),
            obj_keys: Vec::new(),
            obj_intents: Vec::new(),
            obj_roles: Vec::new(),
            reports: Vec::new(),
            group_index: HashMap::new(),
            group_keys: Vec::new(),
            availability: Vec::new(),
            creators,
            errors: Vec::new(),
        }
    }

    /// Register (or find) the object behind an intent. The first intent seen
    /// for a key decides its mode and role.
    pub fn object(&mut self, intent: &'a Intent, role: Role) -> Obj {
        if let Some(&o) = self.obj_index.get(&intent.owner) {
            return o;
        }
        let o = self.obj_keys.len() as Obj;
        self.obj_index.insert(&intent.owner, o);
        self.obj_keys.push(&intent.owner);
        self.obj_intents.push(intent);
        self.obj_roles.push(role);
        self.reports.push(ObjectReport::default());
        o
    }

    pub fn key(&self, o: Obj) -> &'a ObjectKey {
        self.obj_keys[o as usize]
    }

    pub fn warn(&mut self, o: Obj, message: String) {
        let warnings = &mut self.reports[o as usize].warnings;
        if !warnings.contains(&message) {
            warnings.push(message);
        }
    }

    /// A removal of `port` this object wants that waits, because the port
    /// would be left with no security group: the object is not converged.
    pub fn hold(&mut self, o: Obj, port: &str) {
        let held = &mut self.reports[o as usize].held;
        if !held.iter().any(|p| p == port) {
            held.push(port.to_string());
        }
    }

    /// An error on an object, naming the spec field its role implies.
    pub fn error(&mut self, o: Obj, message: String) {
        let field = match self.obj_roles[o as usize] {
            Role::Port => "spec.securityGroups",
            Role::Membership => "spec.ports",
            Role::Group => "spec",
            Role::Deletion => "metadata",
            Role::RuleSet => "spec.rules",
        };
        self.errors
            .push(FieldError::new(Some(self.key(o)), field, message));
    }

    pub fn group(&mut self, key: GKey<'a>) -> Gid {
        if let Some(&g) = self.group_index.get(&key) {
            return g;
        }
        let g = self.group_keys.len() as Gid;
        self.group_index.insert(key, g);
        self.group_keys.push(key);
        self.availability.push(None);
        g
    }

    pub fn group_of(&mut self, handle: &'a GroupHandle) -> Gid {
        self.group(match handle {
            GroupHandle::Existing(id) => GKey::Id(id),
            GroupHandle::New(key) => GKey::New(key),
        })
    }

    pub fn group_key(&self, g: Gid) -> GKey<'a> {
        self.group_keys[g as usize]
    }

    /// The cloud id of an existing group.
    pub fn group_id(&self, g: Gid) -> Option<&'a str> {
        match self.group_keys[g as usize] {
            GKey::Id(id) => Some(id),
            GKey::New(_) => None,
        }
    }

    pub fn handle(&self, g: Gid) -> GroupHandle {
        match self.group_keys[g as usize] {
            GKey::Id(id) => GroupHandle::Existing(id.to_string()),
            GKey::New(key) => GroupHandle::New(key.clone()),
        }
    }

    /// The group as messages and conflict reports name it (same as
    /// `GroupHandle`'s `Display`).
    pub fn group_name(&self, g: Gid) -> String {
        match self.group_keys[g as usize] {
            GKey::Id(id) => id.to_string(),
            GKey::New(key) => format!("<new {}>", key.name),
        }
    }

    /// `Ok` when a port may be added to the group in this plan: it exists in
    /// the cloud, or the plan creates it. Otherwise the reason.
    pub fn available(&mut self, g: Gid) -> Result<(), String> {
        if self.availability[g as usize].is_none() {
            let a = match self.group_keys[g as usize] {
                GKey::Id(id) if self.observed.groups.contains_key(id) => Availability::Ok,
                GKey::Id(id) => Availability::Missing(format!("group {id} not found")),
                GKey::New(key) => match self.creators.get(key) {
                    Some(Mode::Apply) => Availability::Ok,
                    Some(Mode::Paused) => Availability::Missing(format!(
                        "group <new {}> is not created yet: {key} is paused",
                        key.name
                    )),
                    Some(Mode::Observe) => Availability::Missing(format!(
                        "group <new {}> is not created yet: {key} is in observe mode",
                        key.name
                    )),
                    None => Availability::Missing(format!(
                        "group <new {}> is not defined by any SecurityGroup",
                        key.name
                    )),
                },
            };
            self.availability[g as usize] = Some(a);
        }
        match &self.availability[g as usize] {
            Some(Availability::Missing(why)) => Err(why.clone()),
            _ => Ok(()),
        }
    }
}
