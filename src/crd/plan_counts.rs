//! `status.lastPlan`: the last plan's operations counted by kind, a JSON
//! object such as `{"addPortGroups": 1, "createRules": 3}`.
//!
//! Held as a short sorted list rather than a map: every object's status
//! carries one, the controller's stores hold every object, and a map's
//! first node alone is about 300 bytes for one or two entries.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Counts by operation kind, sorted by kind, each kind once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanCounts(Vec<(String, u32)>);

impl PlanCounts {
    /// The count of `kind`, if it has one.
    pub fn get(&self, kind: &str) -> Option<u32> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(kind))
            .ok()
            .map(|i| self.0[i].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.0.iter().map(|(k, n)| (k.as_str(), *n))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Like a map built from the pairs: a kind given twice keeps its last count.
impl<K: Into<String>> FromIterator<(K, u32)> for PlanCounts {
    fn from_iter<I: IntoIterator<Item = (K, u32)>>(iter: I) -> Self {
        let mut all: Vec<(String, u32)> = iter.into_iter().map(|(k, n)| (k.into(), n)).collect();
        all.reverse();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.dedup_by(|later, kept| later.0 == kept.0);
        all.shrink_to_fit();
        Self(all)
    }
}

impl Serialize for PlanCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (kind, n) in &self.0 {
            map.serialize_entry(kind, n)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PlanCounts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counts;
        impl<'de> Visitor<'de> for Counts {
            type Value = PlanCounts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of counts by operation kind")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PlanCounts, A::Error> {
                let mut pairs: Vec<(String, u32)> = Vec::new();
                while let Some((kind, n)) = map.next_entry::<String, u32>()? {
                    pairs.push((kind, n));
                }
                Ok(pairs.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Counts)
    }
}

/// The schema of the map it stands for: an object of integer counts.
impl JsonSchema for PlanCounts {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "PlanCounts".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        <std::collections::BTreeMap<String, u32>>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_object_a_map_would() {
        let json = r#"{"deleteRule":2,"createRules":1}"#;
        let counts: PlanCounts = serde_json::from_str(json).unwrap();
        assert_eq!(counts.get("createRules"), Some(1));
        assert_eq!(counts.get("deleteRule"), Some(2));
        assert_eq!(counts.get("attachPorts"), None);
        assert_eq!(
            serde_json::to_string(&counts).unwrap(),
            r#"{"createRules":1,"deleteRule":2}"#
        );
    }

    #[test]
    fn a_kind_given_twice_keeps_its_last_count() {
        let counts: PlanCounts = [("a", 1), ("b", 2), ("a", 3)].into_iter().collect();
        assert_eq!(counts.iter().collect::<Vec<_>>(), [("a", 3), ("b", 2)]);
    }

    #[test]
    fn refuses_what_is_not_an_object_of_counts() {
        assert!(serde_json::from_str::<PlanCounts>(r#"{"a":-1}"#).is_err());
        assert!(serde_json::from_str::<PlanCounts>(r#"[1]"#).is_err());
    }

    #[test]
    fn its_schema_is_the_maps() {
        let ours = schemars::schema_for!(PlanCounts);
        let map = schemars::schema_for!(std::collections::BTreeMap<String, u32>);
        assert_eq!(ours.get("type"), map.get("type"));
        assert_eq!(
            ours.get("additionalProperties"),
            map.get("additionalProperties")
        );
    }
}
