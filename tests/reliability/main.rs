//! Reliability: bad input refused with zero cloud calls, crash at every write, convergence under injected faults.

mod bad_input;
mod crash;
mod faults;
