//! `sweep`: declarative, resumable sweeps of neural-network trainings with burn.
//!
//! The pipeline is parse → validate → plan → run → store → report, one module per stage:
//! [`manifest`] (TOML → validated manifest), [`plan`] (manifest → fully resolved runs),
//! [`data`] / [`fetch`] (datasets), [`model`] / [`train`] (burn; [`conv`] holds our CPU
//! convolution and pooling kernels), [`runner`] (executing runs),
//! [`store`] (atomic result files), [`scheduler`] (local sweeps), [`slurm`] (cluster sweeps),
//! [`status`] (where runs stand), [`cli`] (the command line).

pub mod arch;
pub mod backend;
pub mod bench;
pub mod check;
pub mod checkpoint;
pub mod cli;
pub mod conv;
pub mod data;
pub mod error;
pub mod fetch;
pub mod lock;
pub mod manifest;
pub mod model;
pub mod optim;
pub mod plan;
pub mod report;
pub mod runner;
pub mod scheduler;
pub mod slurm;
pub mod status;
pub mod store;
pub mod train;
