//! What an account's cycles know of its Nodes' cloud instances (their
//! ports and addresses), and reading only what is new: 200 Nodes that
//! join together are 200 instances read in a handful of calls (Huawei
//! list ports by `device_id`, 50 servers a call; Baidu's bulk instance
//! read), once, not at every cycle.
//!
//! Everything is read again at a full read (resync, first cycle), so a
//! port added to a server later is found. An instance the cloud did not
//! have (a Node of another account or region, or one the cloud does not
//! list yet) is asked for again after [`NOT_FOUND_TTL`], not at every
//! cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::cloud::{CloudError, CloudProvider};
use crate::plan::nodes::InstancePorts;

/// How long an instance the cloud did not have is taken as absent.
pub const NOT_FOUND_TTL: Duration = Duration::from_secs(30);

/// The instances read so far, for one account.
#[derive(Debug, Default)]
pub struct Instances {
    known: InstancePorts,
    absent: BTreeMap<String, Instant>,
}

impl Instances {
    pub fn new() -> Self {
        Self::default()
    }

    /// What is known.
    pub fn known(&self) -> &InstancePorts {
        &self.known
    }

    /// Read the instances of `wanted` not known yet (every one when
    /// `full`), and forget those no longer wanted (their Nodes are gone).
    /// Returns whether anything was read. A failed read keeps what was
    /// known before it.
    pub async fn read(
        &mut self,
        provider: &dyn CloudProvider,
        wanted: &BTreeSet<String>,
        full: bool,
    ) -> Result<bool, CloudError> {
        let now = Instant::now();
        if full {
            self.known.clear();
            self.absent.clear();
        }
        self.known.retain(|id, _| wanted.contains(id));
        self.absent
            .retain(|id, at| wanted.contains(id) && now < *at + NOT_FOUND_TTL);
        let missing: Vec<String> = wanted
            .iter()
            .filter(|id| !self.known.contains_key(*id) && !self.absent.contains_key(*id))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(false);
        }
        let found = provider.instance_ports(&missing).await?;
        for id in missing {
            match found.get(&id) {
                Some(ports) => {
                    self.known.insert(id, ports.clone());
                }
                None => {
                    self.absent.insert(id, now);
                }
            }
        }
        Ok(true)
    }
}
