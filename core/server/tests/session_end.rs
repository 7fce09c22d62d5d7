//! Once a session is gone (closed or expired), reads it still has queued get
//! `SessionExpired` instead of being served, though the connection has not
//! finished closing yet.
//!
//! Both tests queue a read that waits for the next zxid (`min_zxid`): the
//! only command that can produce it is the session's own end, so the read
//! runs exactly after the session left the replicated table.

mod raw;

use coord_proto::Error;
use coord_proto::proto::{self, request};
use coord_server::server::Server;
use raw::{Raw, error_of};

fn read_after(xid: u64, min_zxid: u64) -> proto::client_message::Body {
    proto::client_message::Body::Request(proto::Request {
        xid,
        min_zxid,
        op: Some(request::Op::GetData(proto::GetDataRequest {
            path: "/".into(),
            watch: false,
        })),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_queued_behind_the_close_gets_session_expired() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(raw::config(&dir)).await.unwrap();
    let mut raw = Raw::session(server.local_addr(), 10_000).await;
    let next = raw.connected.last_zxid + 1;
    raw.send(read_after(1, next)).await;
    raw.send(raw::request(
        2,
        request::Op::CloseSession(proto::CloseSessionRequest {}),
    ))
    .await;
    let read = raw.response(1).await;
    assert!(
        matches!(error_of(&read), Some(Error::SessionExpired(_))),
        "a read after the close was served: {read:?}"
    );
    let close = raw.response(2).await;
    assert!(close.error.is_none(), "{close:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_still_queued_when_the_session_expires_gets_session_expired() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(raw::config(&dir)).await.unwrap();
    // 200 ms, the test floor; the client then stays silent.
    let mut raw = Raw::session(server.local_addr(), 200).await;
    let next = raw.connected.last_zxid + 1;
    raw.send(read_after(1, next)).await;
    let read = raw.response(1).await;
    assert!(
        matches!(error_of(&read), Some(Error::SessionExpired(_))),
        "a read after the expiry was served: {read:?}"
    );
    assert!(matches!(
        raw.closing_reason().await,
        Some(Error::SessionExpired(_))
    ));
    server.shutdown().await.unwrap();
}
