//! Controller pieces against a mocked or emulated API server: reconcile steps, `run` as a process, leader election.

mod layout;
mod leader;
mod reconcile;
mod run;
