//! The outbox's ordering rule, over real sockets with a small send buffer.

use super::*;

use prost::Message;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

use coord_proto::wire::FrameReader;

fn request(xid: u64, data: Vec<u8>) -> proto::Request {
    proto::Request {
        xid,
        min_zxid: 0,
        op: Some(proto::request::Op::SetData(proto::SetDataRequest {
            path: "/n".into(),
            data: data.into(),
            version: -1,
        })),
    }
}

/// An outbox over a socket with a 4 KB send buffer, its read half (kept
/// open) and the peer.
async fn small_buffer_outbox() -> (Outbox, WriteQueue, OwnedReadHalf, TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    let stream = socket
        .connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (peer, _) = listener.accept().await.unwrap();
    let (rd, wr) = stream.into_split();
    let (outbox, queue) = new(crate::client::transport::WriteSide::Tcp(wr));
    (outbox, queue, rd, peer)
}

/// Reads the next frame at the peer and returns its request's xid.
async fn next_xid(reader: &mut FrameReader<TcpStream>) -> u64 {
    let frame = reader.next_frame().await.unwrap().unwrap();
    let msg = proto::ClientMessage::decode(frame).unwrap();
    let Some(proto::client_message::Body::Request(r)) = msg.body else {
        panic!("a request");
    };
    r.xid
}

/// Xids of the requests queued for the writer, in order (tails skipped).
fn queued_xids(queue: &mut WriteQueue) -> Vec<u64> {
    queue.unsent().map(|r| r.xid).collect()
}

#[tokio::test]
async fn an_idle_writer_lets_the_caller_write_and_a_busy_one_gets_the_request() {
    let (mut outbox, mut queue, _rd, _peer) = small_buffer_outbox().await;
    assert!(outbox.send(request(1, vec![1; 100]), true).is_none());
    assert!(outbox.writer_idle(), "written directly, nothing queued");
    assert!(outbox.send(request(2, vec![2; 100]), false).is_none());
    assert!(!outbox.writer_idle());
    assert_eq!(queued_xids(&mut queue), [2]);
}

#[tokio::test]
async fn a_frame_written_in_part_hands_its_tail_to_the_writer_ahead_of_later_requests() {
    let (mut outbox, mut queue, _rd, peer) = small_buffer_outbox().await;
    // Direct: the caller writes what fits, the tail is queued.
    assert!(outbox.send(request(1, vec![7; 1 << 20]), true).is_none());
    assert!(!outbox.writer_idle());
    // The writer is busy now: the next request is queued, even if direct.
    assert!(outbox.send(request(2, vec![8]), true).is_none());
    // The writer's part, while the peer reads: two whole frames in order.
    let write = tokio::spawn(async move {
        assert!(queue.ready().await);
        queue.flush().await.unwrap();
        queue
    });
    let mut reader = FrameReader::new(peer, 16 << 20);
    assert_eq!(next_xid(&mut reader).await, 1);
    assert_eq!(next_xid(&mut reader).await, 2);
    let mut queue = write.await.unwrap();
    assert!(outbox.writer_idle(), "everything handed over is written");
    assert!(queued_xids(&mut queue).is_empty());
}

#[tokio::test]
async fn a_direct_write_never_overtakes_a_frame_the_writer_has_taken_but_not_written() {
    let (mut outbox, mut queue, _rd, peer) = small_buffer_outbox().await;
    assert!(outbox.send(request(1, vec![1; 100]), false).is_none());
    // The writer has taken frame 1 off the queue (the queue is empty) but
    // not written it yet; the socket has room. A direct write now would
    // put frame 2 on the wire first.
    assert!(queue.ready().await);
    assert!(outbox.send(request(2, vec![2; 100]), true).is_none());
    queue.flush().await.unwrap();
    assert!(!outbox.writer_idle(), "frame 2 still waits for the writer");
    assert!(queue.ready().await);
    queue.flush().await.unwrap();
    assert!(outbox.writer_idle());
    // Idle again: the next caller writes directly.
    assert!(outbox.send(request(3, vec![3; 100]), true).is_none());
    assert!(outbox.writer_idle());
    let mut reader = FrameReader::new(peer, 16 << 20);
    for xid in [1, 2, 3] {
        assert_eq!(next_xid(&mut reader).await, xid);
    }
}

#[tokio::test]
async fn callers_may_not_write_while_the_writer_is_in_the_middle_of_a_frame() {
    let (mut outbox, mut queue, _rd, peer) = small_buffer_outbox().await;
    assert!(outbox.send(request(1, vec![1; 1 << 20]), false).is_none());
    let writer = tokio::spawn(async move {
        assert!(queue.ready().await);
        queue.flush().await.unwrap();
        queue
    });
    // The writer fills the socket and waits for room, mid-frame.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!writer.is_finished(), "1 MB cannot fit the socket");
    assert!(
        !outbox.writer_idle(),
        "a half-written frame keeps callers out"
    );
    assert!(outbox.send(request(2, vec![2; 100]), true).is_none());
    let mut reader = FrameReader::new(peer, 16 << 20);
    assert_eq!(next_xid(&mut reader).await, 1);
    let mut queue = writer.await.unwrap();
    assert!(!outbox.writer_idle(), "frame 2 still waits for the writer");
    assert!(queue.ready().await);
    queue.flush().await.unwrap();
    assert_eq!(next_xid(&mut reader).await, 2);
    assert!(outbox.writer_idle());
}

#[tokio::test]
async fn requests_never_written_come_back_in_order_and_tails_do_not() {
    let (mut outbox, mut queue, _rd, _peer) = small_buffer_outbox().await;
    // Frame 1 is begun on the socket (its tail queued); 2 and 3 wait.
    assert!(outbox.send(request(1, vec![1; 1 << 20]), true).is_none());
    assert!(outbox.send(request(2, vec![2]), true).is_none());
    assert!(outbox.send(request(3, vec![3]), false).is_none());
    assert_eq!(queued_xids(&mut queue), [2, 3]);
}

#[tokio::test]
async fn a_gone_writer_hands_requests_back() {
    let (mut outbox, queue, _rd, _peer) = small_buffer_outbox().await;
    drop(queue);
    let back = outbox.send(request(1, vec![1]), false);
    assert_eq!(back.map(|r| r.xid), Some(1));
    // Never written directly either, so it cannot reach a dead connection.
    let back = outbox.send(request(2, vec![2]), true);
    assert_eq!(back.map(|r| r.xid), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_order_is_send_order_with_a_writer_running_beside_direct_writes() {
    const N: u64 = 2000;
    let (mut outbox, mut queue, _rd, peer) = small_buffer_outbox().await;
    let writer = tokio::spawn(async move {
        while queue.ready().await {
            queue.flush().await.unwrap();
        }
    });
    let reader = tokio::spawn(async move {
        let mut reader = FrameReader::new(peer, 16 << 20);
        for xid in 1..=N {
            assert_eq!(next_xid(&mut reader).await, xid, "frames out of order");
        }
    });
    for xid in 1..=N {
        // Mostly small frames, now and then one that cannot fit the buffer.
        let len = if xid % 97 == 0 { 64 * 1024 } else { 16 };
        assert!(outbox.send(request(xid, vec![0; len]), true).is_none());
        if xid % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
    reader.await.unwrap();
    drop(outbox);
    writer.await.unwrap();
}
