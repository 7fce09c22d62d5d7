//! The two halves of a connection's byte stream, plain TCP or TLS, behind
//! one type each so that the reader, the outbox and the handshake are
//! written once.
//!
//! The plain halves are tokio's TCP halves, used as before TLS existed: a
//! caller may still write a frame directly with `try_write`. A TLS write
//! half cannot be written without waiting (rustls may need to flush what it
//! encrypted), so it refuses direct writes and the outbox's writer task
//! writes everything; that task is its only user after the handshake, so the
//! lock around it is never contended.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::client::TlsStream;

/// The read half of a connection.
#[derive(Debug)]
pub(crate) enum ReadSide {
    Tcp(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

/// The write half of a connection.
#[derive(Debug)]
pub(crate) enum WriteSide {
    Tcp(OwnedWriteHalf),
    Tls(tokio::sync::Mutex<WriteHalf<TlsStream<TcpStream>>>),
}

/// Splits a plain TCP stream.
pub(crate) fn plain(stream: TcpStream) -> (ReadSide, WriteSide) {
    let (rd, wr) = stream.into_split();
    (ReadSide::Tcp(rd), WriteSide::Tcp(wr))
}

/// Splits a TLS stream.
pub(crate) fn tls(stream: TlsStream<TcpStream>) -> (ReadSide, WriteSide) {
    let (rd, wr) = tokio::io::split(stream);
    (
        ReadSide::Tls(rd),
        WriteSide::Tls(tokio::sync::Mutex::new(wr)),
    )
}

impl AsyncRead for ReadSide {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadSide::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            ReadSide::Tls(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl WriteSide {
    /// Writes what the socket takes now, without waiting. A TLS half takes
    /// nothing this way (`WouldBlock`): its frames go through the writer.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            WriteSide::Tcp(w) => w.try_write(buf),
            WriteSide::Tls(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Writes all of `buf` (and, over TLS, flushes it), waiting for room.
    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        match self {
            WriteSide::Tcp(socket) => {
                while !buf.is_empty() {
                    match socket.try_write(buf) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => buf = &buf[n..],
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            socket.writable().await?
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            WriteSide::Tls(w) => {
                let mut w = w.lock().await;
                w.write_all(buf).await?;
                w.flush().await
            }
        }
    }
}
