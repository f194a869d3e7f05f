//! Container logs in the CRI format: the reader behind `pods/log` and attach.

pub mod reader;
