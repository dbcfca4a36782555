//! One-shot `plan` and `apply` from manifests. Owned by issue 6.
//!
//! - [`manifest`]: reading files and directories into checked documents.
//! - [`credentials`]: keys from Secret manifests or the environment.
//! - [`render`]: the plan table, JSON and progress lines.
//! - [`run`]: observe, plan, execute and verify per account.

pub mod args;
pub mod credentials;
pub mod manifest;
pub mod render;
pub mod run;

pub use args::{ApplyArgs, CloudTarget, ManifestArgs, OutputFormat, PlanArgs};
pub use run::{Exit, Io};
