//! The simulator of both clouds' APIs, driven over HTTP with independent test signers: calls, errors, limits, faults, signatures, bulk reads and call counts, hostile input, and the optional official-SDK cross-check.

mod baidu;
mod bulk_reads;
mod faults;
mod hardening;
mod huawei;
mod sdk_crosscheck;
mod signing;
