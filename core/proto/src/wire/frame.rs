//! Frame codec: `u32` big-endian length + payload.
//!
//! The length prefix comes from the peer and is not trusted: it is checked
//! against the reader's current limit before anything else, and the buffer
//! grows only as bytes actually arrive (in steps of at most [`READ_STEP`]),
//! so a peer that announces a large frame and sends nothing costs nothing.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a frame over the limit. The stream cannot be resynchronised.
    #[error("frame of {len} bytes is over the limit {limit} = {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Configured limit.
        max: usize,
        /// Name of the setting that holds the limit (`max_frame_bytes`).
        limit: &'static str,
    },
    /// The stream ended inside a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
    /// A socket error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Appends one encoded message as a frame to `out`.
pub fn encode_frame<M: prost::Message>(msg: &M, out: &mut BytesMut) {
    let len = msg.encoded_len();
    out.reserve(4 + len);
    out.put_u32(len as u32);
    // Encoding into a BytesMut with enough reserved capacity cannot fail.
    let _ = msg.encode(out);
}

/// Most bytes the read buffer grows by before the bytes it waits for arrive:
/// a frame's announced length is never allocated up front.
pub const READ_STEP: usize = 64 * 1024;

/// Frames up to this many bytes are copied out of the read buffer; larger
/// ones are split off it (no copy, but the buffer then holds their bytes).
pub(crate) const COPIED_FRAME_BYTES: usize = 4096;

/// Reads frames from a byte stream with a size limit, reusing one buffer.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    max: usize,
    limit: &'static str,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a reader; frames over `max` bytes are refused, naming the limit
    /// `max_frame_bytes`.
    pub fn new(inner: R, max: usize) -> Self {
        Self::with_limit(inner, max, "max_frame_bytes")
    }

    /// Wraps a reader; frames over `max` bytes are refused, naming the
    /// setting `limit` in the error.
    pub fn with_limit(inner: R, max: usize, limit: &'static str) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(512),
            max,
            limit,
        }
    }

    /// Changes the limit for the frames read from now on (a server allows
    /// only a small frame until the handshake is done).
    pub fn set_limit(&mut self, max: usize, limit: &'static str) {
        self.max = max;
        self.limit = limit;
    }

    /// The next frame's payload, or `None` on a clean end of stream between frames.
    pub async fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                if len > self.max {
                    return Err(FrameError::TooLarge {
                        len,
                        max: self.max,
                        limit: self.limit,
                    });
                }
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    if len <= COPIED_FRAME_BYTES {
                        // Copied out at its exact size: the buffer stays
                        // this reader's alone and is reused for the next
                        // frames instead of being pinned (and replaced) for
                        // as long as this frame's bytes live on.
                        let frame = Bytes::copy_from_slice(&self.buf[..len]);
                        self.buf.advance(len);
                        return Ok(Some(frame));
                    }
                    return Ok(Some(self.buf.split_to(len).freeze()));
                }
                // Grow towards the frame only as its bytes arrive.
                self.buf.reserve((4 + len - self.buf.len()).min(READ_STEP));
            } else {
                self.buf.reserve(4096);
            }
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
        }
    }

    /// True when a whole frame is already buffered (lets a writer batch replies).
    pub fn has_buffered_frame(&self) -> bool {
        if self.buf.len() < 4 {
            return false;
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        self.buf.len() >= 4 + len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto;

    #[tokio::test]
    async fn frames_round_trip_back_to_back() {
        let mut out = BytesMut::new();
        for xid in 1..=3u64 {
            let req = proto::Request {
                xid,
                ..Default::default()
            };
            encode_frame(&req, &mut out);
        }
        let mut reader = FrameReader::new(&out[..], 1024);
        for xid in 1..=3u64 {
            let frame = reader.next_frame().await.unwrap().unwrap();
            let req = <proto::Request as prost::Message>::decode(frame).unwrap();
            assert_eq!(req.xid, xid);
        }
        assert!(reader.next_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn small_and_large_frames_read_back_whole_while_earlier_ones_are_held() {
        let sizes = [
            0,
            1,
            COPIED_FRAME_BYTES,
            COPIED_FRAME_BYTES + 1,
            3,
            200_000,
            17,
        ];
        let mut out = BytesMut::new();
        for (i, &n) in sizes.iter().enumerate() {
            out.put_u32(n as u32);
            out.extend((0..n).map(|j| (i * 31 + j) as u8));
        }
        let mut reader = FrameReader::new(&out[..], 1 << 20);
        let mut held = Vec::new();
        for _ in sizes {
            held.push(reader.next_frame().await.unwrap().unwrap());
        }
        assert!(reader.next_frame().await.unwrap().is_none());
        for (i, (&n, frame)) in sizes.iter().zip(&held).enumerate() {
            let want: Vec<u8> = (0..n).map(|j| (i * 31 + j) as u8).collect();
            assert_eq!(&frame[..], &want[..], "frame #{i} of {n} bytes");
        }
        // A small frame owns its bytes: the reader's buffer is not pinned by
        // it. A large one shares the buffer it was read into.
        assert!(
            held[2].is_unique(),
            "a frame of COPIED_FRAME_BYTES is a copy"
        );
        assert!(
            !held[5].is_unique(),
            "a large frame is split off, not copied"
        );
    }

    #[tokio::test]
    async fn oversize_frame_is_refused_before_reading_it() {
        let bytes = [0u8, 0x10, 0, 0, 1, 2, 3];
        let mut reader = FrameReader::new(&bytes[..], 1024);
        let err = reader.next_frame().await.unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                len: 0x100000,
                max: 1024,
                limit: "max_frame_bytes"
            }
        ));
    }

    #[tokio::test]
    async fn refusal_names_the_limit_in_force() {
        let bytes = [0u8, 0, 1, 0, 1, 2, 3];
        let mut reader = FrameReader::with_limit(&bytes[..], 64, "max_handshake_frame_bytes");
        let err = reader.next_frame().await.unwrap_err().to_string();
        assert!(err.contains("max_handshake_frame_bytes = 64"), "{err}");
        reader.set_limit(1024, "max_frame_bytes");
        assert!(matches!(
            reader.next_frame().await,
            Err(FrameError::Truncated)
        ));
    }

    #[tokio::test]
    async fn announced_length_is_not_allocated_before_its_bytes_arrive() {
        // 4 MiB announced, 100 bytes sent, then the peer stalls (here: ends).
        let mut bytes = (4u32 << 20).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[7u8; 100]);
        let mut reader = FrameReader::new(&bytes[..], 8 << 20);
        assert!(matches!(
            reader.next_frame().await,
            Err(FrameError::Truncated)
        ));
        assert!(
            reader.buf.capacity() <= 2 * READ_STEP,
            "buffer grew to {} bytes for 104 received",
            reader.buf.capacity()
        );
    }

    #[tokio::test]
    async fn a_large_frame_arriving_in_pieces_is_read_whole() {
        let payload: Vec<u8> = (0..(3 * READ_STEP + 17)).map(|i| i as u8).collect();
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let (mut tx, rx) = tokio::io::duplex(1024);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            tx.write_all(&bytes).await.unwrap();
        });
        let mut reader = FrameReader::new(rx, 1 << 20);
        let frame = reader.next_frame().await.unwrap().unwrap();
        assert_eq!(&frame[..], &payload[..]);
        writer.await.unwrap();
        assert!(reader.next_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn stream_ending_mid_frame_is_truncated() {
        let bytes = [0u8, 0, 0, 9, 1, 2];
        let mut reader = FrameReader::new(&bytes[..], 1024);
        assert!(matches!(
            reader.next_frame().await,
            Err(FrameError::Truncated)
        ));
    }
}
