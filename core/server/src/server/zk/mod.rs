//! The ZooKeeper listener: a second client port speaking ZooKeeper's
//! protocol (jute over TCP, as ZooKeeper 3.5-3.9 serve it) onto the same
//! tree, sessions and watches as the native port.
//!
//! A ZooKeeper connection is a native connection with another dialect: its
//! requests are translated (`convert`) into native requests and go through
//! the same handshake, admission, ordering, log and watch registry; the
//! native replies and events are translated back as they are queued (the
//! connection's [`ZkConn`] is its `outbound::Dialect`). Only what has no
//! native twin is answered here (`local`), at its turn in the connection's
//! order. Four-letter words (`ruok`, `srvr`, `stat`, `mntr`, `conf`, ...)
//! are recognised from a connection's first four bytes (`four_letter`).
//!
//! Modules: `jute` (the encoding), `records` (the protocol's records),
//! `convert`, `local`, `four_letter`, `connection`.

#[cfg(test)]
mod captured_tests;
pub(crate) mod connection;
pub(crate) mod convert;
mod four_letter;
pub(crate) mod jute;
mod local;
pub(crate) mod records;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use super::lock;
use crate::watch::ConnId;
use convert::Context;

/// One ZooKeeper connection's state: what its replies need besides the
/// native response, the identities it authenticated, and its counters.
pub(crate) struct ZkConn {
    conn: ConnId,
    peer: SocketAddr,
    /// Replies that need more than the native response, by request xid.
    contexts: Mutex<HashMap<i32, Context>>,
    /// When each request still unanswered arrived, in order (replies are
    /// sent in request order).
    started: Mutex<VecDeque<Instant>>,
    /// (scheme, user) pairs added with `auth`.
    identities: Mutex<Vec<(String, String)>>,
    received: AtomicU64,
    sent: AtomicU64,
    stats: Arc<ZkStats>,
}

impl ZkConn {
    pub(crate) fn new(conn: ConnId, peer: SocketAddr, stats: Arc<ZkStats>) -> Arc<ZkConn> {
        let zk = Arc::new(ZkConn {
            conn,
            peer,
            contexts: Mutex::new(HashMap::new()),
            started: Mutex::new(VecDeque::new()),
            identities: Mutex::new(Vec::new()),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            stats: stats.clone(),
        });
        lock(&stats.conns).insert(conn, Arc::downgrade(&zk));
        zk
    }

    /// The ZooKeeper form of a native frame queued for this connection.
    pub(crate) fn reply(&self, frame: Bytes) -> Option<Bytes> {
        let out = convert::reply(self, frame);
        if out.is_some() {
            self.replied();
        }
        out
    }

    /// A request arrived.
    fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        lock(&self.started).push_back(Instant::now());
    }

    /// A reply left (in request order): counts it and its latency.
    fn replied(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = lock(&self.started).pop_front() {
            self.stats.record_latency(t.elapsed());
        }
    }

    /// Requests received and not answered yet.
    fn outstanding(&self) -> usize {
        lock(&self.started).len()
    }

    fn remember_sync(&self, xid: i32, path: String) {
        lock(&self.contexts).insert(xid, Context::Sync(path));
    }

    fn remember_multi(&self, xid: i32, creates: Vec<Option<i32>>) {
        lock(&self.contexts).insert(xid, Context::Multi(creates));
    }

    fn take_context(&self, opcode: i32, xid: i32) -> Option<Context> {
        if opcode != records::op::SYNC && opcode != records::op::MULTI {
            return None;
        }
        lock(&self.contexts).remove(&xid)
    }
}

impl Drop for ZkConn {
    fn drop(&mut self) {
        lock(&self.stats.conns).remove(&self.conn);
    }
}

/// Counters of the ZooKeeper port, for the four-letter words.
#[derive(Default)]
pub(crate) struct ZkStats {
    received: AtomicU64,
    sent: AtomicU64,
    /// Latency of answered requests, microseconds.
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    latency_min_us: AtomicU64,
    latency_max_us: AtomicU64,
    conns: Mutex<HashMap<ConnId, std::sync::Weak<ZkConn>>>,
}

impl ZkStats {
    fn record_latency(&self, d: std::time::Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if self.latency_count.fetch_add(1, Ordering::Relaxed) == 0 {
            self.latency_min_us.store(us, Ordering::Relaxed);
        } else {
            self.latency_min_us.fetch_min(us, Ordering::Relaxed);
        }
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
        self.latency_max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The open ZooKeeper connections.
    fn connections(&self) -> Vec<Arc<ZkConn>> {
        let mut v: Vec<Arc<ZkConn>> = lock(&self.conns)
            .values()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        v.sort_by_key(|c| c.conn);
        v
    }
}
