//! Running runs: the local scheduler ([`scheduler`]), the worker that trains one run and its
//! protocol ([`runner`]), Slurm ([`slurm`]) and where runs stand ([`status`]).

pub mod runner;
pub mod scheduler;
pub mod slurm;
pub mod status;
