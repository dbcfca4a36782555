//! One-shot `plan` and `apply` from manifests. Owned by issue 6.
