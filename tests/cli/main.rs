//! The one-shot `plan` and `apply` commands: bad manifests, credentials and exit codes, the examples, withheld changes and conflicts, rules owned by several objects, and text from manifests or clouds printed escaped.

mod bad_manifests;
mod credentials_exitcodes;
mod examples;
mod local_state_json;
mod node_selectors;
mod rule_owners;
mod untrusted_text;
mod withheld_conflicts;
