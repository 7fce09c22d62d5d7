//! A minimal ZooKeeper-protocol client for the throughput rows of the
//! ZooKeeper-port comparison: one connection, one request at a time, each
//! request one socket write and its reply read into a reused buffer, no
//! session task, no watches. It exists so that coord's ZooKeeper port and
//! ZooKeeper can also be compared with coord native through a client about
//! as lean as `coord_client` (the `zookeeper-client` crate spends more CPU
//! per request than either server on a read; see BENCHMARKS.md). Sessions
//! stay alive by the requests themselves: the harness never leaves one idle
//! for a third of its timeout while measuring, and closes it after.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::tasks::Res;

const CREATE: i32 = 1;
const GET_DATA: i32 = 4;
const SET_DATA: i32 = 5;
const CLOSE_SESSION: i32 = -11;
const NODE_EXISTS: i32 = -110;
/// Watch notifications arrive with this xid (none are asked for here).
const NOTIFICATION_XID: i32 = -1;

pub(crate) struct Client {
    socket: TcpStream,
    buf: BytesMut,
    out: BytesMut,
    next_xid: i32,
}

fn put_str(w: &mut BytesMut, s: &[u8]) {
    w.put_i32(s.len() as i32);
    w.put_slice(s);
}

impl Client {
    /// Connects and opens a session with `timeout`.
    pub(crate) async fn connect(addr: &str, timeout: Duration) -> Res<Client> {
        let socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        let mut c = Client {
            socket,
            buf: BytesMut::with_capacity(4096),
            out: BytesMut::with_capacity(4096),
            next_xid: 1,
        };
        let mut body = BytesMut::new();
        body.put_i32(0); // protocol version
        body.put_i64(0); // last zxid seen
        body.put_i32(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX));
        body.put_i64(0); // new session
        put_str(&mut body, &[0; 16]);
        body.put_u8(0); // not read-only
        c.send(&body).await?;
        let mut reply = c.frame().await?;
        let _protocol = reply.get_i32();
        let negotiated = reply.get_i32();
        if negotiated <= 0 {
            return Err(format!("{addr}: session refused (timeout {negotiated})").into());
        }
        Ok(c)
    }

    async fn send(&mut self, payload: &[u8]) -> Res<()> {
        self.out.clear();
        self.out.put_i32(payload.len() as i32);
        self.out.put_slice(payload);
        self.socket.write_all(&self.out).await?;
        Ok(())
    }

    /// The next whole frame (without its length).
    async fn frame(&mut self) -> Res<Bytes> {
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes"));
                let len = usize::try_from(len).map_err(|_| "negative frame length")?;
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    return Ok(self.buf.split_to(len).freeze());
                }
                self.buf.reserve(4 + len - self.buf.len());
            }
            if self.socket.read_buf(&mut self.buf).await? == 0 {
                return Err("the server closed the connection".into());
            }
        }
    }

    /// Sends a request and returns its error code and reply body.
    async fn call(&mut self, op: i32, body: impl FnOnce(&mut BytesMut)) -> Res<(i32, Bytes)> {
        let xid = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        let mut req = BytesMut::with_capacity(128);
        req.put_i32(xid);
        req.put_i32(op);
        body(&mut req);
        self.send(&req).await?;
        loop {
            let mut f = self.frame().await?;
            let (rxid, _zxid, err) = (f.get_i32(), f.get_i64(), f.get_i32());
            if rxid == NOTIFICATION_XID {
                continue;
            }
            if rxid != xid {
                return Err(format!("reply for xid {rxid}, expected {xid}").into());
            }
            return Ok((err, f));
        }
    }

    /// Creates a persistent node with the open ACL; an existing one is fine.
    pub(crate) async fn create(&mut self, path: &str, value: &[u8]) -> Res<()> {
        let (err, _) = self
            .call(CREATE, |w| {
                put_str(w, path.as_bytes());
                put_str(w, value);
                w.put_i32(1); // one ACL: world:anyone, all permissions
                w.put_i32(31);
                put_str(w, b"world");
                put_str(w, b"anyone");
                w.put_i32(0); // persistent
            })
            .await?;
        match err {
            0 | NODE_EXISTS => Ok(()),
            e => Err(format!("create {path}: error {e}").into()),
        }
    }

    /// setData with any version.
    pub(crate) async fn set(&mut self, path: &str, value: &[u8]) -> Res<()> {
        let (err, _) = self
            .call(SET_DATA, |w| {
                put_str(w, path.as_bytes());
                put_str(w, value);
                w.put_i32(-1);
            })
            .await?;
        match err {
            0 => Ok(()),
            e => Err(format!("setData {path}: error {e}").into()),
        }
    }

    /// getData without a watch; the value's length.
    pub(crate) async fn get(&mut self, path: &str) -> Res<usize> {
        let (err, mut body) = self
            .call(GET_DATA, |w| {
                put_str(w, path.as_bytes());
                w.put_u8(0);
            })
            .await?;
        if err != 0 {
            return Err(format!("getData {path}: error {err}").into());
        }
        Ok(usize::try_from(body.get_i32()).unwrap_or(0))
    }

    /// Closes the session (best effort).
    pub(crate) async fn close(mut self) {
        let _ =
            tokio::time::timeout(Duration::from_secs(5), self.call(CLOSE_SESSION, |_| {})).await;
    }
}
