//! Frame codec: `u32` big-endian length + payload.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a frame over the limit. The stream cannot be resynchronised.
    #[error("frame of {len} bytes is over the limit max_frame_bytes = {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Configured limit.
        max: usize,
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

/// Reads frames from a byte stream with a fixed size limit, reusing one buffer.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a reader; frames over `max` bytes are refused.
    pub fn new(inner: R, max: usize) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(512),
            max,
        }
    }

    /// The next frame's payload, or `None` on a clean end of stream between frames.
    pub async fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                if len > self.max {
                    return Err(FrameError::TooLarge { len, max: self.max });
                }
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    return Ok(Some(self.buf.split_to(len).freeze()));
                }
                self.buf.reserve(4 + len - self.buf.len());
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
    async fn oversize_frame_is_refused_before_reading_it() {
        let bytes = [0u8, 0x10, 0, 0, 1, 2, 3];
        let mut reader = FrameReader::new(&bytes[..], 1024);
        let err = reader.next_frame().await.unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                len: 0x100000,
                max: 1024
            }
        ));
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
