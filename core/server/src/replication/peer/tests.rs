//! The peer port refuses what is not a member of this cluster, and a refused
//! or broken connection costs nothing but itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{PROTOCOL_VERSION, PeerConfig, TcpNetwork, frame, proto, serve_peers};
use crate::replication::tests::create_command;
use crate::replication::{Member, NoopObserver, Replica, ReplicationConfig};

/// A one-member cluster "c1" serving its peer port; returns the replica,
/// the port's address and the serving task.
async fn member_one(dir: &std::path::Path) -> (Replica, String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut cfg = ReplicationConfig::new(dir);
    cfg.node_id = 1;
    let founders = BTreeMap::from([(1, Member::new("client-1", addr.clone()))]);
    let replica = Replica::start_member(
        cfg,
        Arc::new(NoopObserver),
        TcpNetwork::new(PeerConfig::new("c1", 1)),
        Some(founders),
    )
    .await
    .expect("start");
    replica
        .wait_for_leader(Duration::from_secs(10))
        .await
        .expect("leader");
    let task = tokio::spawn(serve_peers(
        listener,
        replica.raft().clone(),
        PeerConfig::new("c1", 1),
        4,
        None,
    ));
    (replica, addr, task)
}

async fn hello(addr: &str, cluster: &str, to: u64) -> proto::HelloReply {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let h = proto::Hello {
        client_addr: String::new(),
        protocol_version: PROTOCOL_VERSION,
        cluster_name: cluster.into(),
        from: 7,
        to,
    };
    frame::write(&mut s, &h, 1 << 16).await.expect("send hello");
    frame::read(&mut s, 1 << 16).await.expect("hello reply")
}

fn refusal(r: proto::HelloReply) -> String {
    match r.reply {
        Some(proto::hello_reply::Reply::Refusal(r)) => r.reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Asserts the server closes `s` (within 5 s) after `what`.
async fn closed(s: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("still open 5 s after {what}"));
    assert!(matches!(n, Ok(0) | Err(_)), "open after {what}: {n:?}");
}

/// The member still commits writes.
async fn still_serves(replica: &Replica, path: &str) {
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        replica.write(create_command(path, 8)),
    )
    .await
    .expect("a write in time")
    .expect("write");
    assert!(out.result.is_ok(), "{:?}", out.result);
}

#[test]
fn a_caller_from_another_cluster_or_for_another_member_is_refused_with_the_reason() {
    crate::replication::tests::replica::runtime().block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let (replica, addr, _task) = member_one(dir.path()).await;
        let why = refusal(hello(&addr, "c2", 1).await);
        assert!(why.contains("\"c2\"") && why.contains("\"c1\""), "{why}");
        let why = refusal(hello(&addr, "c1", 3).await);
        assert!(
            why.contains("called member 3") && why.contains("reached member 1"),
            "{why}"
        );
        match hello(&addr, "c1", 1).await.reply {
            Some(proto::hello_reply::Reply::Welcome(w)) => {
                assert_eq!(w.protocol_version, PROTOCOL_VERSION)
            }
            other => panic!("a member of c1 was not welcomed: {other:?}"),
        }
        still_serves(&replica, "/after-refusals").await;
    });
}

#[test]
fn garbage_and_oversized_frames_close_only_their_own_connection() {
    crate::replication::tests::replica::runtime().block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let (replica, addr, _task) = member_one(dir.path()).await;
        // Bytes that are no handshake: a length of 4 GiB.
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(&[0xff; 64]).await.expect("send");
        closed(&mut s, "a 4 GiB frame").await;
        // A welcomed caller sending a request that does not decode.
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        let h = proto::Hello {
            client_addr: String::new(),
            protocol_version: PROTOCOL_VERSION,
            cluster_name: "c1".into(),
            from: 2,
            to: 1,
        };
        frame::write(&mut s, &h, 1 << 16).await.expect("hello");
        let _: proto::HelloReply = frame::read(&mut s, 1 << 16).await.expect("welcome");
        s.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
            .await
            .expect("send");
        closed(&mut s, "an undecodable request").await;
        // Silent connections beyond max_connections (4) are closed at once.
        let mut silent = Vec::new();
        for _ in 0..4 {
            silent.push(TcpStream::connect(&addr).await.expect("connect"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut extra = TcpStream::connect(&addr).await.expect("connect");
        closed(&mut extra, "a fifth connection over max_connections").await;
        still_serves(&replica, "/after-garbage").await;
    });
}

/// A fake member 2 for a caller: welcomes every connection, answers the very
/// first request only after `hold`, with Conflict, and every later one at
/// once with Success.
async fn slow_then_fast_peer(hold: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let first = first.clone();
            tokio::spawn(async move {
                let _: proto::Hello = frame::read(&mut s, 1 << 16).await.expect("hello");
                let welcome = proto::HelloReply {
                    reply: Some(proto::hello_reply::Reply::Welcome(proto::Welcome {
                        protocol_version: PROTOCOL_VERSION,
                        client_addr: String::new(),
                    })),
                };
                frame::write(&mut s, &welcome, 1 << 16)
                    .await
                    .expect("welcome");
                loop {
                    let Ok(_req) = frame::read::<_, proto::PeerRequest>(&mut s, 1 << 26).await
                    else {
                        return;
                    };
                    let result = if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                        tokio::time::sleep(hold).await;
                        proto::append_entries_response::Result::Conflict(proto::Empty {})
                    } else {
                        proto::append_entries_response::Result::Success(proto::Empty {})
                    };
                    let resp = proto::PeerResponse {
                        response: Some(proto::peer_response::Response::AppendEntries(
                            proto::AppendEntriesResponse {
                                result: Some(result),
                            },
                        )),
                    };
                    if frame::write(&mut s, &resp, 1 << 26).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn append_req(
    prev_index: u64,
) -> openraft::raft::AppendEntriesRequest<crate::replication::TypeConfig> {
    openraft::raft::AppendEntriesRequest {
        vote: openraft::Vote::new_committed(1, 1),
        prev_log_id: Some(openraft::LogId::new(
            openraft::CommittedLeaderId::new(1, 1),
            prev_index,
        )),
        leader_commit: None,
        entries: vec![],
    }
}

/// openraft 0.9 wraps every AppendEntries in its own timeout of the same
/// length as `RPCOption::hard_ttl`, started before the call runs; when it
/// fires first it drops the call after the request went out. The next call on
/// that peer must not get the dropped call's reply.
#[test]
fn a_call_dropped_by_its_caller_does_not_leave_its_reply_to_the_next_call() {
    use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
    crate::replication::tests::replica::runtime().block_on(async {
        let ttl = Duration::from_millis(100);
        let addr = slow_then_fast_peer(Duration::from_millis(300)).await;
        let mut net = TcpNetwork::new(PeerConfig::new("c1", 1));
        let mut peer = net.new_client(2, &Member::new("", addr)).await;
        // As in openraft's ReplicationCore::send_log_entries, a timeout
        // around the call drops it after its request went out. (openraft's
        // own timeout has the call's length and starts a little earlier;
        // here the call's is longer, so the outer one fires first whatever
        // the machine's load.)
        let first = tokio::time::timeout(
            ttl,
            peer.append_entries(append_req(9), RPCOption::new(Duration::from_secs(2))),
        )
        .await;
        assert!(first.is_err(), "the outer timeout fires first: {first:?}");
        // The dropped call's reply (Conflict for prev 9) arrives meanwhile.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let second = peer
            .append_entries(append_req(3), RPCOption::new(Duration::from_secs(2)))
            .await;
        assert!(
            matches!(second, Ok(openraft::raft::AppendEntriesResponse::Success)),
            "the second call (prev 3) got: {second:?}"
        );
    });
}

/// Log lines of this thread's tasks, for the test below.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_connection_closed_before_its_first_byte_is_a_port_check_and_logs_no_warning() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime has one thread: the server's tasks log here.
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().expect("tempdir");
    let (replica, addr, task) = member_one(dir.path()).await;
    let text = || String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();

    // What a follower's probe of its leader does: connect, close.
    for _ in 0..3 {
        drop(TcpStream::connect(&addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !text().contains("peer connection closed"),
        "a port check logged a warning: {}",
        text()
    );
    // A connection that breaks off inside its handshake still does.
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(&[0, 0, 0, 9, 1])
        .await
        .expect("part of a frame");
    drop(s);
    tokio::time::timeout(Duration::from_secs(5), async {
        while !text().contains("peer connection closed") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("a broken handshake is reported: {}", text()));
    still_serves(&replica, "/after-port-checks").await;
    task.abort();
    replica.shutdown().await.expect("shutdown");
}
