//! One-shot `plan` and `apply` from manifests. Owned by issue 6.

pub mod credentials;
pub mod manifest;
pub mod render;
