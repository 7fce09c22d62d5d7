//! Replicated commands and the pure `apply`.
mod command;
mod machine;
pub use command::*;
pub use machine::{SessionInfo, StateMachine};
