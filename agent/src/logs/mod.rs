//! Container logs in the CRI format: the writer the shim runs (`k1s container-logger`),
//! the line format, and the reader behind `pods/log` and attach.

pub mod format;
pub mod reader;
pub mod writer;
