//! Results: epoch records ([`record`]), the run directories and their one reader ([`store`]),
//! checkpoints ([`checkpoint`]), kept weights ([`weights`]), the locks on result directories ([`lock`]), the reporter ([`report`]) and the CI gate ([`check`]). Nothing
//! here imports burn or the trainer.

pub(crate) mod check;
pub(crate) mod checkpoint;
pub(crate) mod diff;
pub(crate) mod lock;
pub(crate) mod proposals;
pub(crate) mod record;
pub mod report;
pub(crate) mod stats;
pub(crate) mod store;
pub(crate) mod verify;
pub(crate) mod weights;
