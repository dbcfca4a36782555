//! secgroup-controller: keeps Huawei Cloud VPC and Baidu AI Cloud BCC security
//! groups exactly as Kubernetes custom resources say.
//!
//! Where things live:
//! - [`crd`]: the custom resource types, their validation, and turning them
//!   into the domain's desired state.
//! - [`model`]: vendor-neutral domain types (rules, observed/desired state,
//!   operations, plans).
//! - [`plan`]: the pure planner (diff, ordering, batching, guards).
//! - [`cloud`]: the provider trait and the Huawei and Baidu clients.
//! - [`reconcile`]: the I/O core shared by the controller and the CLI: read
//!   the cloud, execute a plan.
//! - [`controller`]: the Kubernetes reconcile loop (`run`).
//! - [`cli`]: one-shot `plan` / `apply` from manifests.
//! - [`sim`]: the simulator of both clouds' APIs (tests and newcomers).
#![forbid(unsafe_code)]

pub mod cli;
pub mod cloud;
pub mod controller;
pub mod crd;
pub mod model;
pub mod plan;
pub mod reconcile;
pub mod sim;
