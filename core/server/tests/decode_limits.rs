//! Counts are checked before a frame is decoded: a multi of millions of
//! empty ops, or a `SetWatches` of millions of empty paths, is refused with
//! an error naming the limit, the connection keeps working, and the server
//! never allocates the lists prost would have built. (Alone in its test
//! binary: it counts the process's heap with its own global allocator.)

mod counting;
mod raw;

use bytes::BytesMut;
use coord_proto::Error;
use coord_proto::proto::{self, request};
use coord_server::server::Server;
use raw::{Raw, error_of};
use tokio::io::AsyncWriteExt;

const MIB: usize = 1024 * 1024;
const ENTRIES: usize = 2_000_000;

/// A `ClientMessage` frame holding request `xid` whose field `op_field`
/// (a message) repeats field `list_field` `ENTRIES` times, each empty: two
/// bytes per entry, what prost turns into one struct each.
fn frame_of_empty_entries(xid: u64, op_field: u32, list_field: u32) -> BytesMut {
    let mut list = Vec::with_capacity(2 * ENTRIES);
    for _ in 0..ENTRIES {
        list.extend_from_slice(&[((list_field << 3) | 2) as u8, 0]);
    }
    let mut req = BytesMut::new();
    prost::encoding::uint64::encode(1, &xid, &mut req);
    prost::encoding::bytes::encode(op_field, &list, &mut req);
    let mut msg = BytesMut::new();
    prost::encoding::bytes::encode(2, &req.to_vec(), &mut msg);
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    frame
}

/// Sends `frame` on `raw` and returns its response and the peak heap growth
/// while the server handled it.
async fn send_measured(raw: &mut Raw, frame: &[u8], xid: u64) -> (proto::Response, usize) {
    let peak = counting::Peak::start();
    raw.wr.write_all(frame).await.unwrap();
    let r = raw.response(xid).await;
    (r, peak.grown())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_listing_millions_of_entries_are_refused_before_decode() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = raw::config(&dir);
    cfg.max_frame_bytes = 8 * MIB;
    let server = Server::start(cfg).await.unwrap();
    let mut raw = Raw::session(server.local_addr(), 10_000).await;
    let bystander = Raw::session(server.local_addr(), 10_000).await;

    // Request.multi = 16, MultiRequest.ops = 1.
    let multi = frame_of_empty_entries(7, 16, 1);
    assert!(multi.len() > 3 * MIB);
    let (r, grown) = send_measured(&mut raw, &multi, 7).await;
    match error_of(&r) {
        Some(Error::TooLarge(d)) => assert!(
            d.contains("2000000 ops") && d.contains("max_multi_ops = 1000"),
            "{d}"
        ),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // The frame itself is buffered (4 MiB, its buffer at most doubling);
    // decoding it would have taken one `Op` struct per entry on top.
    let decoded = ENTRIES * std::mem::size_of::<proto::Op>();
    assert!(
        grown < 24 * MIB && grown < decoded / 2,
        "handling the frame grew the heap by {grown} bytes (decoding: {decoded})"
    );

    // Request.set_watches = 19, SetWatchesRequest.persistent = 5.
    let set = frame_of_empty_entries(8, 19, 5);
    let (r, grown) = send_measured(&mut raw, &set, 8).await;
    match error_of(&r) {
        Some(Error::TooLarge(d)) => assert!(d.contains("max_watches_per_session"), "{d}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let decoded = ENTRIES * std::mem::size_of::<String>();
    assert!(
        grown < 24 * MIB && grown < decoded,
        "handling the frame grew the heap by {grown} bytes (decoding: {decoded})"
    );

    // The connection and the other client keep working.
    let ping = request::Op::Ping(proto::PingRequest {});
    assert!(raw.call(9, ping.clone()).await.error.is_none());
    let mut bystander = bystander;
    assert!(bystander.call(1, ping).await.error.is_none());
    server.shutdown().await.unwrap();
}
