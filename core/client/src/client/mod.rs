//! The async Rust client: one session to a coord ensemble, pipelined requests,
//! reconnect with session resume, and watches.
//!
//! What it owns: the client side of the protocol in `proto/coord.proto` — the
//! handshake, xids, the order of requests on the wire, `last_zxid`, the local
//! watch table and its re-registration after a reconnect, and the session's
//! life cycle ([`SessionState`]). What it must not touch: server modules, the
//! tree or the state machine; proto <-> domain conversions live in
//! [`coord_proto::wire`] and are only *used* here.
//!
//! How the parts fit:
//! - `config`: [`ClientBuilder`] and the settings it produces.
//! - `backoff`: reconnect delays (exponential, jittered, bounded).
//! - `session`: [`SessionState`], its change stream and the session credentials.
//! - `watch`: the local watch table and event routing (pure, unit-tested).
//! - `watcher`: the public watch handles [`OneshotWatch`] and [`WatchStream`].
//! - `request`: pending requests, parked requests and what a response does
//!   on arrival (watch actions, completion).
//! - `inner`: the state shared by the API and the tasks (one mutex) and its
//!   transitions: send, park, route responses and events, connection loss,
//!   expiry, close.
//! - `outbox`: one connection's queue of frames to write and the wire-order
//!   rule (a caller writes directly only while the writer is idle).
//! - `tls`: [`TlsOptions`] and the TLS handshake; `transport`: a
//!   connection's read and write halves, plain TCP or TLS.
//! - `connection`: one TCP connection: handshake, reader, writer task, pings;
//!   it reports to the session through `ConnectionEvents`.
//! - `supervisor`: the task that owns reconnects, server rotation and expiry.
//! - `api`: [`Client`]'s public methods; `acl`: its identity and ACL calls;
//!   `children`: its children listings (one page, the count, and every child
//!   page after page); `quota`: its subtree quota calls.
//!
//! Guarantees kept here: requests are written in the order they were issued;
//! a watch event is routed to the watchers before any later response is
//! resolved, so a caller always sees the event before data newer than it; in
//! flight requests fail with [`Error::ConnectionLoss`](crate::Error::ConnectionLoss)
//! on a lost connection, requests issued while suspended wait for the reconnect.

mod acl;
mod api;
mod backoff;
mod children;
mod config;
mod connection;
mod export;
mod inner;
mod outbox;
mod quota;
mod request;
mod session;
mod supervisor;
mod tls;
mod transport;
mod watch;
mod watcher;

pub use acl::SessionSummary;
pub use api::Client;
pub use config::ClientBuilder;
pub use export::{ExportPage, ExportedNode};
pub use session::{SessionState, StateStream};
pub use tls::{Pem, TlsOptions};
pub use watch::{WatchMode, WatcherType};
pub use watcher::{OneshotWatch, WatchStream};

pub use coord_proto::{Acl, Identity};
pub use coord_proto::{ChildrenPage, CreateMode, Stat};
pub use coord_proto::{EventType, Op, OpResult, WatchEvent};
pub use coord_proto::{Quota, QuotaLimits, QuotaUsage};

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync + 'static>() {}
    fn send_unpin<T: Send + Unpin + 'static>() {}

    #[test]
    fn handles_can_move_between_tasks() {
        send_sync::<Client>();
        send_unpin::<OneshotWatch>();
        send_unpin::<WatchStream>();
        send_unpin::<StateStream>();
    }
}
