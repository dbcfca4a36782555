//! The simulator of the Huawei VPC and Baidu BCC security-group APIs.
//! Independent of `crate::cloud`: its own parsing, models and signature
//! verification, so that one catches the other's mistakes. Owned by issue 3.
pub mod sign;
