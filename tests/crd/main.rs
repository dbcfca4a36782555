//! The custom resources: schema and CEL checks, validation in code, resolution into desired state, and the manifests the repository ships (examples/, deploy/).

mod argocd_health;
mod ci_workflow;
mod deploy;
mod examples;
mod gitops;
mod image;
mod monitoring;
mod resolve;
mod schema;
mod tools;
mod validate;
