//! Running runs: the local scheduler ([`scheduler`]), the worker that trains one run and its
//! protocol ([`runner`]), Slurm ([`slurm`]), where runs stand ([`status`]), successive halving ([`halving`]) and how long they take ([`timing`]).

pub mod halving;
pub mod runner;
pub mod scheduler;
pub mod slurm;
pub mod status;
pub mod timing;
