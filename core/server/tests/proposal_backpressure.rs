//! The queue of writes in front of the log is bounded in bytes
//! (`max_pending_proposal_bytes`): clients that pipeline more than it holds
//! are simply read more slowly — every write still succeeds, in order — and
//! the queue never holds more than the bound. A single write larger than the
//! bound goes through alone.

mod raw;

use coord_proto::proto::{self, request};
use coord_server::server::Server;
use raw::Raw;
use tokio::io::AsyncWriteExt;

const KIB: usize = 1024;
const BOUND: usize = 256 * KIB;
const CLIENTS: usize = 4;
const WRITES: u64 = 100;

fn set_data(path: &str, len: usize) -> request::Op {
    request::Op::SetData(proto::SetDataRequest {
        path: path.into(),
        data: vec![5u8; len].into(),
        version: -1,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_writes_beyond_the_bound_wait_their_turn_and_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = raw::config(&dir);
    cfg.max_pending_proposal_bytes = BOUND;
    let server = Server::start(cfg).await.unwrap();

    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let mut raw = Raw::session(server.local_addr(), 30_000).await;
        let create = request::Op::Create(proto::CreateRequest {
            path: format!("/n{c}"),
            ..Default::default()
        });
        assert!(raw.call(1, create).await.error.is_none());
        clients.push(raw);
    }
    // Every client sends 100 writes of 32 KiB at once: 12.5 MiB in all.
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(c, mut raw)| {
            tokio::spawn(async move {
                let mut burst = bytes::BytesMut::new();
                for xid in 2..2 + WRITES {
                    burst.extend_from_slice(&raw::encode(raw::request(
                        xid,
                        set_data(&format!("/n{c}"), 32 * KIB),
                    )));
                }
                raw.wr.write_all(&burst).await.unwrap();
                let mut versions = Vec::new();
                for xid in 2..2 + WRITES {
                    let r = raw.response(xid).await;
                    assert!(r.error.is_none(), "client {c} write {xid}: {r:?}");
                    match r.result {
                        Some(proto::response::Result::SetData(s)) => {
                            versions.push(s.stat.unwrap().version)
                        }
                        other => panic!("{other:?}"),
                    }
                }
                versions
            })
        })
        .collect();
    for t in tasks {
        let versions = t.await.unwrap();
        let expected: Vec<i32> = (1..=WRITES as i32).collect();
        assert_eq!(versions, expected, "applied in the order sent");
    }
    let peak = server.pending_proposal_peak();
    assert!(peak <= BOUND, "{peak} bytes queued, bound {BOUND}");
    assert!(
        peak >= BOUND / 2,
        "the queue never filled ({peak} bytes): the test did not push back"
    );

    // One write larger than the whole bound still goes, alone.
    let mut raw = Raw::session(server.local_addr(), 30_000).await;
    let r = raw.call(1, set_data("/n0", 512 * KIB)).await;
    assert!(r.error.is_none(), "{r:?}");
    server.shutdown().await.unwrap();
}
