//! Node bindings of coord: the native half of the `coord` npm package.
//!
//! What it owns: converting between JavaScript values and the Rust core's
//! types, and turning the core's futures into Promises. What it must not
//! touch: protocol or recipe logic — every behaviour comes from `coord-client`.
//! The idiomatic JavaScript surface (EventEmitter, async iterators,
//! `AbortSignal`, `Symbol.asyncDispose`, `CoordError` classes) is the small
//! `lib/` layer over these classes; the generated `index.d.ts` describes this
//! native half and is checked in (the tests fail when it drifts).
//!
//! Runtime: the futures run on napi's own tokio runtime, not on
//! `coord_client::embed`'s. napi's `async fn` polls them there directly, so a
//! call costs no hop between runtimes (it matters for the per-operation
//! benchmark), and napi shuts that runtime down with the Node environment.
//! The node operations and lock acquire/release go further (`start`): their
//! futures are polled on the JavaScript thread only (the first poll where
//! the call is made, later ones queued there by their wakers), so a reply
//! reaches its caller with one thread wake-up.
//! What `embed` adds (fork detection) does not apply: Node never forks a
//! process that keeps running JavaScript. The in-process test server
//! (`testing::TestServer`) runs on `embed`'s runtime.
//!
//! Modules:
//! - `error`: core errors to JS errors, and the error table for `lib/errors.js`.
//! - `convert`: stats, create modes, multi ops, watch events.
//! - `start`: running a call on the JavaScript thread (node operations, lock).
//! - `client`: [`client::NativeClient`], the node API and watches.
//! - `locks`: mutex, read-write lock sides, semaphore, multi-lock.
//! - `election`: candidates and leader observation.
//! - `recipes`: barrier, double barrier, queue, counter, node and tree caches.
//! - `services`: service discovery and group membership.
//! - `security`: TLS / token / digest at connect, whoami, ACLs, quotas, lock lines.
//! - `watches`: one-shot watches, watch removal, children with stats,
//!   session state changes.
//! - `testing` (feature `testing`, on in the package's own test build): an
//!   embedded server for tests.

mod cancel;
pub mod client;
mod convert;
pub mod election;
pub mod error;
pub mod locks;
pub mod recipes;
pub mod security;
pub mod services;
mod start;
#[cfg(feature = "testing")]
pub mod testing;
pub mod watches;
