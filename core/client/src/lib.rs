//! coord-client: everything a program needs to use coord, and nothing of the
//! server.
//!
//! - [`client`]: the async Rust client (pipelining, reconnect, session resume,
//!   watches). Its main types are re-exported here.
//! - [`recipes`]: locks, read-write locks, semaphores, elections, barriers,
//!   queues, counters, caches and service discovery, built only on the public
//!   client API.
//! - [`embed`]: the shared runtime, blocking calls with timeout and
//!   cancellation, and background cleanup that the C, Python and Node
//!   bindings use.
//!
//! The protocol types and the error table come from `coord-proto` and are
//! re-exported ([`Error`], [`error`], [`CreateMode`], [`Stat`], ...).
#![warn(missing_docs)]

pub mod client;
pub mod embed;
pub mod recipes;

pub use client::{
    Client, ClientBuilder, OneshotWatch, Pem, SessionState, StateStream, TlsOptions, WatchMode,
    WatchStream, WatcherType,
};
pub use coord_proto::error;
pub use coord_proto::{
    ChildrenPage, CreateMode, Error, EventType, Op, OpResult, Result, Stat, WatchEvent,
};
