//! The Kubernetes controller (`run`). Owned by issue 5.
