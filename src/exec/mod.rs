//! Running runs: the supervisor that trains a sweep's runs on slots ([`supervisor`]) behind its
//! launch seam, the worker that trains one run ([`runner`]) and the protocol it speaks
//! ([`protocol`]), what is left to train ([`pending`]), successive halving ([`halving`]), Slurm
//! ([`slurm`]), where runs stand ([`status`]) and how long they take ([`timing`]).

pub(crate) mod halving;
pub(crate) mod pending;
pub(crate) mod program;
pub(crate) mod protocol;
pub(crate) mod runner;
pub(crate) mod search;
pub(crate) mod slurm;
pub(crate) mod status;
pub(crate) mod supervisor;
pub(crate) mod timing;
