//! Replicated commands and the pure `apply`.
mod command;
pub use command::*;
