//! The data tree.
mod stat;
pub use stat::{CreateMode, Stat};
