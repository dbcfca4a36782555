//! The custom resources (`secgroup.io/v1alpha1`), their validation, and
//! their resolution into [`crate::model::DesiredState`]. Owned by issue 2.
