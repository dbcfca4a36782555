//! The process's table of [`ObjectKey`]s, so each object is named by one
//! allocation however many parts of the controller name it.
//!
//! A cycle makes a key for each object in resolution, in its inputs, in
//! its outcomes and in the reports, and the account keeps the last
//! cycle's keys while the next one runs: with 10,000 objects, separate
//! copies were about 3 MB of the memory peak. Keys still compare by
//! content; sharing only saves the copies.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use super::{KeyParts, ObjectKey};

/// Fewest entries the table holds before it looks for keys no one holds.
const MIN_SWEEP: usize = 1024;

struct Table {
    hasher: foldhash::fast::FixedState,
    keys: hashbrown::HashTable<ObjectKey>,
    /// Sweep when the table grows to this size: twice what was live at the
    /// last sweep, so sweeping costs a constant per key made.
    sweep_at: usize,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

fn hash(hasher: &foldhash::fast::FixedState, kind: &str, namespace: &str, name: &str) -> u64 {
    hasher.hash_one((kind, namespace, name))
}

/// The key for `kind/namespace/name`: the one already made while some part
/// of the program still holds it, else `make()`, kept for the next asker.
pub(super) fn shared(
    kind: &str,
    namespace: &str,
    name: &str,
    make: impl FnOnce() -> KeyParts,
) -> ObjectKey {
    // A panic while the lock was held leaves the table whole (every change
    // is one call), so a poisoned lock is used as it is.
    let mut guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    guard
        .get_or_insert_with(Table::new)
        .key(kind, namespace, name, make)
}

impl Table {
    fn new() -> Self {
        Self {
            hasher: foldhash::fast::FixedState::default(),
            keys: hashbrown::HashTable::new(),
            sweep_at: MIN_SWEEP,
        }
    }

    fn key(
        &mut self,
        kind: &str,
        namespace: &str,
        name: &str,
        make: impl FnOnce() -> KeyParts,
    ) -> ObjectKey {
        let h = hash(&self.hasher, kind, namespace, name);
        let same = |k: &ObjectKey| k.kind == kind && k.namespace == namespace && k.name == name;
        if let Some(key) = self.keys.find(h, same) {
            return key.clone();
        }
        if self.keys.len() >= self.sweep_at {
            // Keys only the table holds name objects no part of the
            // program knows any more.
            self.keys.retain(|k| Arc::strong_count(&k.0) > 1);
            self.sweep_at = (2 * self.keys.len()).max(MIN_SWEEP);
        }
        let key = ObjectKey(Arc::new(make()));
        let hasher = &self.hasher;
        self.keys.insert_unique(h, key.clone(), |k| {
            hash(hasher, &k.kind, &k.namespace, &k.name)
        });
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_name_is_one_allocation_while_held() {
        let a = ObjectKey::new("PortSecurityGroups", "keys-test", "p-1");
        let b = ObjectKey::new("PortSecurityGroups", "keys-test", "p-1");
        assert!(Arc::ptr_eq(&a.0, &b.0));
        let other = ObjectKey::new("SecurityGroup", "keys-test", "p-1");
        assert!(!Arc::ptr_eq(&a.0, &other.0));
        assert_ne!(a, other);
    }

    #[test]
    fn keys_no_one_holds_are_swept() {
        let mut table = Table::new();
        let parts = |name: &str| KeyParts {
            kind: "SecurityGroup".into(),
            namespace: "ns".into(),
            name: name.into(),
        };
        let held = table.key("SecurityGroup", "ns", "held", || parts("held"));
        for i in 0..4 * MIN_SWEEP {
            let name = format!("g-{i}");
            // Dropped at once: the table alone holds it.
            let _ = table.key("SecurityGroup", "ns", &name, || parts(&name));
        }
        assert!(table.keys.len() <= MIN_SWEEP, "{} kept", table.keys.len());
        let again = table.key("SecurityGroup", "ns", "held", || parts("other"));
        assert!(Arc::ptr_eq(&held.0, &again.0), "a held key survives sweeps");
        assert_eq!(again.name, "held");
    }
}
