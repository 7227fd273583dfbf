//! What a sweep is, as plain data (no burn): the manifest ([`manifest`]), its grid axes
//! ([`grid`]), architectures and their shapes ([`arch`]), optimizer specs ([`optim`]), memory estimates ([`memory`]) and the
//! fully resolved runs they expand to ([`plan`]).

pub(crate) mod arch;
pub(crate) mod dataset;
pub(crate) mod device;
pub(crate) mod grid;
pub(crate) mod manifest;
pub(crate) mod memory;
pub(crate) mod metric;
pub(crate) mod optim;
pub(crate) mod params;
pub(crate) mod plan;
pub(crate) mod program;
pub(crate) mod schedule;
pub(crate) mod settings;
pub(crate) mod tpe;
