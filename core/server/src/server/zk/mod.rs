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
mod reply;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use super::lock;
use crate::watch::ConnId;
use convert::Context;

/// One ZooKeeper connection's state: what its replies need besides the
/// native response, the identities it authenticated, and its counters
/// (kept per connection, so that requests touch no counter shared with
/// other connections; `ZkStats` adds them up when asked).
pub(crate) struct ZkConn {
    conn: ConnId,
    peer: SocketAddr,
    /// Replies that need more than the native response, by request xid.
    contexts: Mutex<HashMap<i32, Context>>,
    /// Arrival times of the requests not answered yet (replies go out in
    /// request order), and the counters.
    timing: Mutex<(VecDeque<Instant>, Timing)>,
    stats: Arc<ZkStats>,
}

/// Requests and replies of one connection (or of all closed ones), and the
/// latency of the replies, in microseconds.
#[derive(Default, Clone, Copy)]
struct Timing {
    received: u64,
    sent: u64,
    latency_count: u64,
    latency_sum_us: u64,
    latency_min_us: u64,
    latency_max_us: u64,
}

impl Timing {
    fn add(&mut self, other: &Timing) {
        if other.latency_count > 0 {
            self.latency_min_us = if self.latency_count == 0 {
                other.latency_min_us
            } else {
                self.latency_min_us.min(other.latency_min_us)
            };
        }
        self.received += other.received;
        self.sent += other.sent;
        self.latency_count += other.latency_count;
        self.latency_sum_us += other.latency_sum_us;
        self.latency_max_us = self.latency_max_us.max(other.latency_max_us);
    }
}

impl ZkConn {
    pub(crate) fn new(conn: ConnId, peer: SocketAddr, stats: Arc<ZkStats>) -> Arc<ZkConn> {
        let zk = Arc::new(ZkConn {
            conn,
            peer,
            contexts: Mutex::new(HashMap::new()),
            timing: Mutex::new((VecDeque::new(), Timing::default())),
            stats: stats.clone(),
        });
        lock(&stats.conns).insert(conn, Arc::downgrade(&zk));
        zk
    }

    /// The ZooKeeper form of a native response for this connection.
    pub(crate) fn response(&self, resp: coord_proto::proto::Response) -> Option<Bytes> {
        let out = convert::reply(self, resp);
        if out.is_some() {
            self.replied();
        }
        out
    }

    /// A request arrived.
    fn received(&self) {
        let mut t = lock(&self.timing);
        t.1.received += 1;
        t.0.push_back(Instant::now());
    }

    /// A reply left (in request order): counts it and its latency.
    fn replied(&self) {
        let mut t = lock(&self.timing);
        t.1.sent += 1;
        if let Some(start) = t.0.pop_front() {
            let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
            t.1.add(&Timing {
                latency_count: 1,
                latency_sum_us: us,
                latency_min_us: us,
                latency_max_us: us,
                ..Timing::default()
            });
        }
    }

    /// This connection's counters now.
    fn timing(&self) -> Timing {
        lock(&self.timing).1
    }

    /// Requests received and not answered yet.
    fn outstanding(&self) -> usize {
        lock(&self.timing).0.len()
    }

    fn remember_sync(&self, xid: i32, path: String) {
        lock(&self.contexts).insert(xid, Context::Sync(path));
    }

    fn remember_multi(&self, xid: i32, creates: convert::CreateOpcodes) {
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
        let mine = self.timing();
        lock(&self.stats.closed).add(&mine);
    }
}

/// The ZooKeeper port's connections and the counters of those closed, for
/// the four-letter words.
#[derive(Default)]
pub(crate) struct ZkStats {
    conns: Mutex<HashMap<ConnId, std::sync::Weak<ZkConn>>>,
    closed: Mutex<Timing>,
}

impl ZkStats {
    /// The open ZooKeeper connections.
    fn connections(&self) -> Vec<Arc<ZkConn>> {
        let mut v: Vec<Arc<ZkConn>> = lock(&self.conns)
            .values()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        v.sort_by_key(|c| c.conn);
        v
    }

    /// Counters of every connection since start, open or closed.
    fn totals(&self) -> Timing {
        let mut all = *lock(&self.closed);
        for c in self.connections() {
            all.add(&c.timing());
        }
        all
    }
}
