//! A bare ZooKeeper-protocol client for the ZooKeeper-port tests, written
//! apart from the server's own codec (so a mistake shared by encoder and
//! decoder cannot hide): jute by hand, frames in order, events kept in the
//! order they arrived. Every wait is bounded ([`PATIENCE`]).
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use coord_proto::wire::FrameReader;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Either half of a connection, plain or TLS.
pub type ReadSide = Box<dyn AsyncRead + Send + Unpin>;
pub type WriteSide = Box<dyn AsyncWrite + Send + Unpin>;

/// Longest a test waits for any one thing from the server.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub mod op {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const CREATE_TTL: i32 = 21;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CLOSE_SESSION: i32 = -11;
}

/// Request body writer.
#[derive(Default)]
pub struct Enc(pub BytesMut);

impl Enc {
    pub fn int(&mut self, v: i32) -> &mut Self {
        self.0.put_i32(v);
        self
    }
    pub fn long(&mut self, v: i64) -> &mut Self {
        self.0.put_i64(v);
        self
    }
    pub fn boolean(&mut self, v: bool) -> &mut Self {
        self.0.put_u8(v as u8);
        self
    }
    pub fn buf(&mut self, v: &[u8]) -> &mut Self {
        self.0.put_i32(v.len() as i32);
        self.0.put_slice(v);
        self
    }
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.buf(v.as_bytes())
    }
    pub fn strs(&mut self, v: &[&str]) -> &mut Self {
        self.int(v.len() as i32);
        for s in v {
            self.str(s);
        }
        self
    }
    /// ZooKeeper's OPEN_ACL_UNSAFE.
    pub fn open_acl(&mut self) -> &mut Self {
        self.int(1).int(31).str("world").str("anyone")
    }
}

/// Reply body reader.
pub struct Dec {
    buf: Bytes,
    pos: usize,
}

impl Dec {
    pub fn new(buf: Bytes) -> Dec {
        Dec { buf, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn take(&mut self, n: usize) -> &[u8] {
        assert!(self.remaining() >= n, "reply ends early");
        self.pos += n;
        &self.buf[self.pos - n..self.pos]
    }
    pub fn int(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    pub fn long(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    pub fn boolean(&mut self) -> bool {
        self.take(1)[0] != 0
    }
    pub fn buf(&mut self) -> Option<Vec<u8>> {
        let n = self.int();
        (n >= 0).then(|| self.take(n as usize).to_vec())
    }
    pub fn str(&mut self) -> String {
        String::from_utf8(self.buf().expect("non-null string")).unwrap()
    }
    pub fn strs(&mut self) -> Vec<String> {
        let n = self.int();
        (0..n.max(0)).map(|_| self.str()).collect()
    }
    pub fn stat(&mut self) -> Stat {
        Stat {
            czxid: self.long(),
            mzxid: self.long(),
            ctime: self.long(),
            mtime: self.long(),
            version: self.int(),
            cversion: self.int(),
            aversion: self.int(),
            ephemeral_owner: self.long(),
            data_length: self.int(),
            num_children: self.int(),
            pzxid: self.long(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

/// One frame from the server after the connect reply.
pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Dec,
}

/// A watch notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: i32,
    pub state: i32,
    pub path: String,
}

impl Reply {
    pub fn is_event(&self) -> bool {
        self.xid == -1
    }
    pub fn event(mut self) -> Event {
        assert!(self.is_event(), "not an event: xid {}", self.xid);
        Event {
            kind: self.body.int(),
            state: self.body.int(),
            path: self.body.str(),
        }
    }
}

/// What the connect reply said.
#[derive(Debug, Clone)]
pub struct Connected {
    pub timeout: i32,
    pub session: i64,
    pub passwd: Vec<u8>,
    pub read_only: bool,
}

pub struct Zk {
    pub rd: FrameReader<ReadSide>,
    pub wr: WriteSide,
    pub connected: Connected,
    next_xid: i32,
    /// Events that arrived while a reply was awaited, in order.
    pub events: Vec<Event>,
}

/// Writes one length-prefixed packet.
pub async fn write_packet(
    wr: &mut (impl AsyncWrite + Unpin + ?Sized),
    payload: &[u8],
) -> std::io::Result<()> {
    let mut f = BytesMut::with_capacity(payload.len() + 4);
    f.put_i32(payload.len() as i32);
    f.put_slice(payload);
    wr.write_all(&f).await?;
    wr.flush().await
}

/// A connect request.
pub fn connect_request(session: i64, passwd: &[u8], timeout: i32, last_zxid: i64) -> Vec<u8> {
    let mut e = Enc::default();
    e.int(0)
        .long(last_zxid)
        .int(timeout)
        .long(session)
        .buf(passwd)
        .boolean(false);
    e.0.to_vec()
}

/// Opens a connection and sends a connect; `Err` with the raw connect reply
/// (or none) when the server refused the session.
pub async fn connect_with(
    addr: SocketAddr,
    session: i64,
    passwd: &[u8],
    timeout: i32,
    last_zxid: i64,
) -> Result<Zk, Option<Connected>> {
    let socket = TcpStream::connect(addr).await.expect("connect");
    let (rd, wr) = socket.into_split();
    connect_over(
        Box::new(rd),
        Box::new(wr),
        session,
        passwd,
        timeout,
        last_zxid,
    )
    .await
}

/// [`connect_with`] over halves of a stream already open (a TLS stream).
pub async fn connect_over(
    rd: ReadSide,
    mut wr: WriteSide,
    session: i64,
    passwd: &[u8],
    timeout: i32,
    last_zxid: i64,
) -> Result<Zk, Option<Connected>> {
    let mut rd = FrameReader::new(rd, 64 << 20);
    write_packet(
        &mut wr,
        &connect_request(session, passwd, timeout, last_zxid),
    )
    .await
    .expect("send connect");
    let frame = tokio::time::timeout(PATIENCE, rd.next_frame())
        .await
        .expect("connect reply in time");
    let Ok(Some(frame)) = frame else {
        return Err(None);
    };
    let mut d = Dec::new(frame);
    let _protocol = d.int();
    let c = Connected {
        timeout: d.int(),
        session: d.long(),
        passwd: d.buf().unwrap_or_default(),
        read_only: d.boolean(),
    };
    assert_eq!(d.remaining(), 0, "connect reply has trailing bytes");
    if c.timeout <= 0 {
        return Err(Some(c));
    }
    Ok(Zk {
        rd,
        wr,
        connected: c,
        next_xid: 1,
        events: Vec::new(),
    })
}

/// A new session with a 10 s timeout.
pub async fn connect(addr: SocketAddr) -> Zk {
    match connect_with(addr, 0, &[0; 16], 10_000, 0).await {
        Ok(z) => z,
        Err(c) => panic!("connect refused: {c:?}"),
    }
}

impl Zk {
    /// Sends a request with the next xid; returns the xid.
    pub async fn send(&mut self, opcode: i32, body: impl FnOnce(&mut Enc)) -> i32 {
        let xid = self.next_xid;
        self.next_xid += 1;
        self.send_xid(xid, opcode, body).await;
        xid
    }

    pub async fn send_xid(&mut self, xid: i32, opcode: i32, body: impl FnOnce(&mut Enc)) {
        let mut e = Enc::default();
        e.int(xid).int(opcode);
        body(&mut e);
        write_packet(&mut self.wr, &e.0).await.expect("send");
    }

    /// The next frame, or `None` once the server closed the connection.
    pub async fn next(&mut self) -> Option<Reply> {
        let f = tokio::time::timeout(PATIENCE, self.rd.next_frame())
            .await
            .expect("a frame in time");
        let frame = f.ok().flatten()?;
        let mut body = Dec::new(frame);
        Some(Reply {
            xid: body.int(),
            zxid: body.long(),
            err: body.int(),
            body,
        })
    }

    /// Waits for the reply to `xid`, keeping events that come first.
    pub async fn reply(&mut self, xid: i32) -> Reply {
        loop {
            let r = self.next().await.expect("connection open");
            if r.is_event() {
                self.events.push(r.event());
                continue;
            }
            assert_eq!(r.xid, xid, "replies come in request order");
            return r;
        }
    }

    /// Sends a request and waits for its reply.
    pub async fn call(&mut self, opcode: i32, body: impl FnOnce(&mut Enc)) -> Reply {
        let xid = self.send(opcode, body).await;
        self.reply(xid).await
    }

    /// The next event (from those kept, else from the wire).
    pub async fn event(&mut self) -> Event {
        if !self.events.is_empty() {
            return self.events.remove(0);
        }
        let r = self.next().await.expect("connection open");
        r.event()
    }

    /// Creates a node with the open ACL; the reply.
    pub async fn create(&mut self, path: &str, data: &[u8], flags: i32) -> Reply {
        self.call(op::CREATE, |e| {
            e.str(path).buf(data).open_acl().int(flags);
        })
        .await
    }

    /// Whether the server closed the connection (bounded wait), skipping
    /// frames that come before the end.
    pub async fn closed(&mut self) -> bool {
        let end = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(end, self.rd.next_frame()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => continue,
                Ok(_) => return true,
            }
        }
    }
}
