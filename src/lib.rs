//! `sweep`: declarative, resumable sweeps of neural-network trainings with burn.
//!
//! The pipeline is manifest → plan → schedule → train → store → report, a folder per concern:
//! - [`spec`]: what a sweep is, as plain data: the manifest, the grid axes, architectures,
//!   optimizer specs and the plan of fully resolved runs (no burn).
//! - [`data`]: datasets (reading, verifying, fetching).
//! - [`train`]: burn: the network, the optimizers on burn, the training loop, backends, and our
//!   CPU kernels ([`train::conv`]).
//! - [`exec`]: running runs: the supervisor and its launch seam, the worker and its protocol,
//!   what is left to train, successive halving, Slurm, status.
//! - [`results`]: records, the store, checkpoints, locks, the reporter and the CI gate (no burn: they
//!   never reach [`train`]).
//! - [`cli`]: the command line; [`bench`]: benchmarks; [`error`]: the errors a user can cause;
//!   [`fmt`]: human formatting and tables.

// The public surface is what the binary, the integration tests and the benchmarks use: the
// command line, its errors, the report benchmark and the synthetic-results fixture. Everything
// else is the crate's own, so the compiler flags what nothing uses.
pub mod bench;
pub mod cli;
pub(crate) mod data;
pub mod error;
pub(crate) mod exec;
pub(crate) mod fmt;
pub mod results;
pub(crate) mod spec;
pub(crate) mod train;
