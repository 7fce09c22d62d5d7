//! The per-IP connection cap (`max_connections_per_ip`): how many client
//! connections each IP address has open, and the refusal of one more.
//!
//! The accept loop takes a [`Slot`] for every accepted connection (native and
//! ZooKeeper ports count together); the slot gives its place back when the
//! connection's task ends, however it ends (Drop). Over the cap, a native
//! client is told why in a `Closing` message (`TooLarge` naming the limit) and
//! a ZooKeeper client, whose protocol has no such message, is closed; both
//! are logged with the address. Other addresses are never affected. This
//! module owns only the counts and the refusal, not the accept loop.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::warn;

use super::lock;
use super::outbound::server_frame;
use crate::error::Error;
use coord_proto::proto;

/// Open connections by IP address (addresses with none are not kept).
#[derive(Debug)]
pub(crate) struct PerIp {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection's place in its address's count.
#[derive(Debug)]
pub(crate) struct Slot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = lock(&self.table.open);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl PerIp {
    /// A table allowing `cap` connections per address.
    pub(crate) fn new(cap: usize) -> Arc<PerIp> {
        Arc::new(PerIp {
            cap,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, or the error to refuse it with.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Error> {
        let mut open = lock(&self.open);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.cap {
            // `cap` is at least 1, so the entry was there before: nothing to tidy.
            return Err(Error::TooLarge(format!(
                "{n} connections from {ip} are open, limit max_connections_per_ip = {}",
                self.cap
            )));
        }
        *n += 1;
        Ok(Slot {
            table: Arc::clone(self),
            ip,
        })
    }
}

/// How long a refused native client gets to read its `Closing` message.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// Bytes of a refused client's handshake read and dropped while it lingers
/// (so that closing does not reset the connection before the client reads).
const REFUSAL_DRAIN_BYTES: usize = 64 * 1024;

/// Refuses a connection over the cap: logs it; on the native port sends the
/// reason first. Bounded in time and bytes.
pub(crate) async fn refuse(mut socket: TcpStream, peer: SocketAddr, e: Error, zookeeper: bool) {
    warn!(%peer, error = %e, zookeeper, "refusing a client connection");
    if zookeeper {
        return;
    }
    let frame = server_frame(proto::server_message::Body::Closing((&e).into()));
    let linger = async {
        socket.write_all(&frame).await?;
        socket.shutdown().await?;
        // Drain what the client sent (its handshake) until it closes.
        let mut buf = [0u8; 4096];
        let mut drained = 0;
        while drained < REFUSAL_DRAIN_BYTES {
            match socket.read(&mut buf).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_LINGER, linger).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_address_and_given_back_on_drop() {
        let table = PerIp::new(2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let first = table.take(a).unwrap();
        let _second = table.take(a).unwrap();
        let e = table.take(a).unwrap_err();
        assert!(
            e.to_string().contains("limit max_connections_per_ip = 2")
                && e.to_string().contains("127.0.0.1"),
            "{e}"
        );
        let _other = table.take(b).expect("another address is not affected");
        drop(first);
        let _third = table
            .take(a)
            .expect("a closed connection gives its slot back");
        assert_eq!(lock(&table.open).len(), 2);
    }
}
