//! The `coord` command's library half: the `coord bench` harness, shared by
//! the binary (`coord bench`) and the side-by-side peer benchmark
//! (`tests/bench`), so both measure the machine's floor and summarise latencies
//! the same way.
#![warn(missing_docs)]

pub mod bench;
