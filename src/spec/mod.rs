//! What a sweep is, as plain data (no burn): the manifest ([`manifest`]), its grid axes
//! ([`grid`]), architectures and their shapes ([`arch`]), optimizer specs ([`optim`]), memory estimates ([`memory`]) and the
//! fully resolved runs they expand to ([`plan`]).

pub mod arch;
pub mod grid;
pub mod manifest;
pub mod memory;
pub mod metric;
pub mod optim;
pub mod plan;
