//! The server never builds a children listing the client cannot accept: on
//! the wire, an unpaged `GetChildren` (as sent before paging existed) that
//! does not fit the reply budget is refused with `TOO_LARGE` naming the path,
//! while paged and count-only requests on the same connection keep working
//! and every reply fits the frame the client announced.
//!
//! The server's `--max-listing-bytes` is lowered to 4 KiB so a few hundred
//! children overflow it; with the default budget the same code path refuses
//! a listing that would exceed the client's 4 MiB frame.

use std::time::Duration;

use bytes::BytesMut;
use coord_client::CreateMode;
use coord_client::Error;
use coord_client::client::{Client, Op};
use coord_proto::children::LISTING_ENVELOPE_BYTES;
use coord_proto::proto::{self, request, response, server_message};
use coord_proto::wire::{FrameReader, PROTOCOL_VERSION, encode_frame};
use coord_server::server::{Server, ServerConfig};
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

const BUDGET: usize = 4096;

/// A raw protocol connection whose reader refuses any frame over `max`.
struct Raw {
    reader: FrameReader<OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    xid: u64,
}

impl Raw {
    async fn connect(addr: std::net::SocketAddr, max: usize) -> Raw {
        let (rd, writer) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut raw = Raw {
            reader: FrameReader::new(rd, max),
            writer,
            xid: 0,
        };
        raw.send(proto::client_message::Body::Connect(proto::Connect {
            protocol_version: PROTOCOL_VERSION,
            requested_timeout_ms: 5000,
            ..Default::default()
        }))
        .await;
        match raw.next().await {
            server_message::Body::Connected(_) => raw,
            other => panic!("expected Connected, got {other:?}"),
        }
    }

    async fn send(&mut self, body: proto::client_message::Body) {
        let mut buf = BytesMut::new();
        encode_frame(&proto::ClientMessage { body: Some(body) }, &mut buf);
        self.writer.write_all(&buf).await.unwrap();
    }

    async fn next(&mut self) -> server_message::Body {
        let frame = tokio::time::timeout(Duration::from_secs(10), self.reader.next_frame())
            .await
            .expect("server answers in time")
            .expect("every frame fits the reader's limit")
            .expect("connection stays open");
        proto::ServerMessage::decode(frame).unwrap().body.unwrap()
    }

    /// Sends one listing; returns its page or its error.
    async fn list(
        &mut self,
        r: proto::GetChildrenRequest,
    ) -> Result<proto::GetChildrenResponse, Error> {
        self.xid += 1;
        let xid = self.xid;
        self.send(proto::client_message::Body::Request(proto::Request {
            xid,
            min_zxid: 0,
            op: Some(request::Op::GetChildren(r)),
        }))
        .await;
        loop {
            match self.next().await {
                server_message::Body::Response(resp) => {
                    assert_eq!(resp.xid, xid);
                    if let Some(e) = resp.error {
                        return Err(Error::from(&e));
                    }
                    match resp.result {
                        Some(response::Result::GetChildren(g)) => return Ok(g),
                        other => panic!("expected a GetChildren result, got {other:?}"),
                    }
                }
                server_message::Body::Event(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

fn old_style(path: &str) -> proto::GetChildrenRequest {
    proto::GetChildrenRequest {
        path: path.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaged_listing_over_the_budget_is_refused_naming_the_path_and_pages_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.max_listing_bytes = BUDGET;
    let server = Server::start(cfg).await.unwrap();
    let c = Client::connect(&server.local_addr().to_string())
        .await
        .unwrap();
    for dir in ["/big", "/small"] {
        c.create(dir, Vec::new(), CreateMode::Persistent)
            .await
            .unwrap();
    }
    let ops = (0..500)
        .map(|i| Op::Create {
            acl: Vec::new(),
            path: format!("/big/child-{i:04}-padding-padding"),
            data: Vec::new().into(),
            mode: CreateMode::Persistent,
        })
        .collect();
    c.multi(ops).await.unwrap();
    for name in ["b", "a", "c"] {
        c.create(
            &format!("/small/{name}"),
            Vec::new(),
            CreateMode::Persistent,
        )
        .await
        .unwrap();
    }

    // The reader drops any frame larger than the budget plus the envelope.
    let mut raw = Raw::connect(server.local_addr(), BUDGET + LISTING_ENVELOPE_BYTES).await;
    let err = raw.list(old_style("/big")).await.unwrap_err();
    assert!(
        matches!(&err, Error::TooLarge(m) if m.contains("/big") && m.contains("paged")),
        "{err:?}"
    );
    // An old request that fits is answered as before: everything, no `more`.
    let small = raw.list(old_style("/small")).await.unwrap();
    assert_eq!(small.names, ["a", "b", "c"]);
    assert!(!small.more);
    // Paged on the same connection: cut at the budget, `more` set.
    let page = raw
        .list(proto::GetChildrenRequest {
            paged: true,
            ..old_style("/big")
        })
        .await
        .unwrap();
    assert!(page.more && !page.names.is_empty());
    assert_eq!(page.stat.unwrap().num_children, 500);
    // A client announcing a 1500-byte frame gets pages that fit it.
    let page = raw
        .list(proto::GetChildrenRequest {
            paged: true,
            max_reply_bytes: 1500,
            start_after: page.names.last().unwrap().clone(),
            with_stats: true,
            ..old_style("/big")
        })
        .await
        .unwrap();
    let encoded = page.encoded_len();
    assert!(encoded <= 1500, "{encoded} bytes for a 1500-byte frame");
    assert!(page.more && !page.children.is_empty());
    // Count only: no names.
    let count = raw
        .list(proto::GetChildrenRequest {
            count_only: true,
            ..old_style("/big")
        })
        .await
        .unwrap();
    assert!(count.names.is_empty());
    assert_eq!(count.stat.unwrap().num_children, 500);
    // Nonsense combinations are refused with the field named, not a close.
    let err = raw
        .list(proto::GetChildrenRequest {
            limit: 5,
            ..old_style("/big")
        })
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::BadArguments(m) if m.contains("limit")));
    assert!(raw.list(old_style("/small")).await.is_ok());
    c.close().await.unwrap();
    server.shutdown().await.unwrap();
}
