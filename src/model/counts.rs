//! Counts of changes by [`Operation::kind`], the form in which the
//! planner reports what it has for each object and a cycle's outcome
//! says what was planned and applied.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Operation;

/// The operation kinds counted, in plan order.
const KINDS: [&str; Operation::KINDS.len()] = Operation::KINDS;

/// Counts of changes by operation kind (`createRules`, `attachPorts`, ...),
/// in a fixed array: the planner reports on every object and a cycle's
/// outcome has two of these per object; a map each was an allocation
/// (about 370 bytes) per object per cycle. A kind with count 0 is absent.
/// Serialized as a map from kind to count, in name order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeCounts([u32; KINDS.len()]);

impl ChangeCounts {
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(kind: &str) -> Option<usize> {
        KINDS.iter().position(|k| *k == kind)
    }

    /// Count `n` more of `kind`; a kind that is not an operation kind is
    /// not counted.
    pub fn add(&mut self, kind: &str, n: u32) {
        if let Some(i) = Self::slot(kind) {
            self.0[i] = self.0[i].saturating_add(n);
        }
    }

    pub fn get(&self, kind: &str) -> Option<&u32> {
        Self::slot(kind).map(|i| &self.0[i]).filter(|n| **n > 0)
    }

    pub fn contains_key(&self, kind: &str) -> bool {
        self.get(kind).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|n| *n == 0)
    }

    /// Kinds with their counts, in plan order, zeros left out.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &u32)> {
        KINDS
            .iter()
            .copied()
            .zip(self.0.iter())
            .filter(|(_, n)| **n > 0)
    }

    /// Kinds with their counts in name order (as a map keyed by kind
    /// lists them), zeros left out.
    pub fn by_name(&self) -> BTreeMap<&'static str, u32> {
        self.iter().map(|(k, n)| (k, *n)).collect()
    }

    pub fn values(&self) -> impl Iterator<Item = &u32> {
        self.iter().map(|(_, n)| n)
    }
}

/// A kind that is not an operation kind is not counted.
impl<'a> FromIterator<(&'a str, u32)> for ChangeCounts {
    fn from_iter<I: IntoIterator<Item = (&'a str, u32)>>(iter: I) -> Self {
        let mut counts = Self::new();
        for (kind, n) in iter {
            counts.add(kind, n);
        }
        counts
    }
}

impl Serialize for ChangeCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.by_name().serialize(serializer)
    }
}

/// A kind that is not an operation kind is not counted.
impl<'de> Deserialize<'de> for ChangeCounts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u32>::deserialize(deserializer)?;
        Ok(map.iter().map(|(k, n)| (k.as_str(), *n)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_known_kinds_and_serializes_as_a_map_in_name_order() {
        let mut c = ChangeCounts::new();
        c.add("detachPorts", 2);
        c.add("attachPorts", 1);
        c.add("attachPorts", 1);
        c.add("notAnOperation", 5);
        assert_eq!(c.get("attachPorts"), Some(&2));
        assert_eq!(c.get("createGroup"), None);
        assert!(!c.contains_key("notAnOperation"));
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            vec![("attachPorts", &2), ("detachPorts", &2)]
        );
        let json = serde_json::to_string(&c).expect("counts serialize");
        assert_eq!(json, r#"{"attachPorts":2,"detachPorts":2}"#);
        let back: ChangeCounts = serde_json::from_str(&json).expect("counts deserialize");
        assert_eq!(back, c);
        assert!(ChangeCounts::new().is_empty());
    }
}
