//! Results: epoch records ([`record`]), the run directories and their one reader ([`store`]),
//! checkpoints ([`checkpoint`]), kept weights ([`weights`]), the locks on result directories ([`lock`]), the reporter ([`report`]) and the CI gate ([`check`]). Nothing
//! here imports burn or the trainer.

pub mod check;
pub mod checkpoint;
pub mod diff;
pub mod lock;
pub mod record;
pub mod report;
pub mod stats;
pub mod store;
pub mod weights;
