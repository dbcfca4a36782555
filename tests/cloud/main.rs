//! The Huawei and Baidu clients against the simulator: every operation, faults and retries, signing vectors, tracing, and fuzzed responses and canonicalization.

mod baidu;
mod bulk_reads;
mod faults;
mod fuzz_responses;
mod fuzz_signing;
mod huawei;
mod signing;
mod trace_output;
mod write_gate;
