//! End to end: the controller against the API emulator with a fake cloud or the simulator, the emulator's own contract, the shared I/O core, and the real-cluster scenarios (ignored here).

mod cluster;
mod controller;
mod emulator_api;
mod fencing;
mod nodes;
mod reconcile_core;
mod rule_owners;
mod sim;
