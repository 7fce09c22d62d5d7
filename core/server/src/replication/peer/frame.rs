//! Peer message framing: a 4-byte big-endian length, then the prost message
//! (see `proto/peer.proto`). Lengths over the configured limit are refused
//! before anything is allocated for them.

use std::io;

use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Writes `msg` as one frame; `InvalidInput` when it is over `max` bytes.
pub(crate) async fn write<W, M>(w: &mut W, msg: &M, max: usize) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    M: Message,
{
    let len = msg.encoded_len();
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("peer message of {len} bytes is over max_peer_frame_bytes ({max})"),
        ));
    }
    let mut buf = Vec::with_capacity(4 + len);
    buf.extend_from_slice(&(len as u32).to_be_bytes());
    msg.encode(&mut buf)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    w.write_all(&buf).await?;
    w.flush().await
}

/// Reads one frame and decodes it; `InvalidData` for a length over `max` or
/// a payload that does not decode, `UnexpectedEof` when the peer closed.
pub(crate) async fn read<R, M>(r: &mut R, max: usize) -> io::Result<M>
where
    R: AsyncRead + Unpin,
    M: Message + Default,
{
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("peer frame of {len} bytes is over max_peer_frame_bytes ({max})"),
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    M::decode(buf.as_slice()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("peer frame does not decode: {e}"),
        )
    })
}
