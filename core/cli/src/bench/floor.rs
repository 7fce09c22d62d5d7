//! The machine's floor: what the hardware and kernel cost before any system
//! measured adds anything. A loopback TCP ping-pong against an in-process echo
//! server ([`serve_echo`], hosted by a
//! [`BackgroundServer`](super::driver::BackgroundServer), measured by [`echo`]
//! with tokio clients like every system's), and the fsync latency of the data
//! disk: appending ([`fsync_append`]), and overwriting inside a preallocated
//! file ([`fsync_prealloc`]), which is what a well-behaved log does. Both
//! `coord bench` and the peer benchmark measure their floor here.
//!
//! This module owns only its own scratch files inside the run's directory and
//! removes them when it is done.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::driver::{self, Bounds, Ready, Worker};
use super::stats::{Kind, Measurement, Recorder};
use coord_client::error::Error;

/// Size of one echo frame, each way.
pub const ECHO_FRAME: usize = 64;

/// Bytes written per fsync'd record.
pub const RECORD: usize = 128;

/// Size of the preallocated file for the overwrite measurement (large enough
/// that no default bound makes the offsets wrap around).
pub const PREALLOC_BYTES: u64 = 64 * 1024 * 1024;

/// Serves the echo floor: every connection reads a 64-byte frame and writes it
/// back, until the client hangs up or the stop receiver fires.
pub async fn serve_echo(ready: Ready, mut stop: oneshot::Receiver<()>) -> Result<(), Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    if ready.send(addr).is_err() {
        return Ok(()); // nobody is waiting for us any more
    }
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            accepted = listener.accept() => {
                let (socket, _) = accepted?;
                tokio::spawn(echo_connection(socket));
            }
        }
    }
}

/// Ends when the peer closes; the runtime's shutdown ends it otherwise.
async fn echo_connection(mut socket: TcpStream) {
    if socket.set_nodelay(true).is_err() {
        return;
    }
    let mut frame = [0u8; ECHO_FRAME];
    while socket.read_exact(&mut frame).await.is_ok() {
        if socket.write_all(&frame).await.is_err() {
            return;
        }
    }
}

/// A ping-pong client with its own connection.
struct EchoClient {
    socket: TcpStream,
    frame: [u8; ECHO_FRAME],
}

impl Worker for EchoClient {
    type Error = Error;

    async fn op(&mut self, seq: u64) -> Result<(), Error> {
        let tag = seq.to_le_bytes();
        self.frame[..tag.len()].copy_from_slice(&tag);
        self.socket.write_all(&self.frame).await?;
        self.socket.read_exact(&mut self.frame).await?;
        if self.frame[..tag.len()] != tag {
            return Err(Error::Protocol("echo server returned another frame".into()));
        }
        Ok(())
    }
}

/// Measures `clients` concurrent ping-pong loops against the echo server at `addr`.
pub async fn echo(addr: SocketAddr, clients: usize, bounds: &Bounds) -> Result<Measurement, Error> {
    let mut workers = Vec::with_capacity(clients);
    for _ in 0..clients {
        let socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        workers.push(EchoClient {
            socket,
            frame: [0xA5; ECHO_FRAME],
        });
    }
    let outcome = driver::drive(workers, bounds).await?;
    Ok(outcome
        .recorder
        .finish(Kind::TcpEcho, clients, outcome.elapsed))
}

/// fsync latency of appending: write 128 bytes at the end of a file, `sync_data`.
pub fn fsync_append(dir: &Path, bounds: &Bounds) -> Result<Measurement, Error> {
    let path = dir.join("fsync-append.bin");
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let record = [0x5Au8; RECORD];
    let result = sequential(bounds, |_| {
        file.write_all(&record)?;
        file.sync_data()
    });
    drop(file);
    let removed = remove_scratch(&path);
    let (recorder, elapsed) = result?;
    removed?;
    Ok(recorder.finish(Kind::FsyncAppend, 1, elapsed))
}

/// fsync latency of overwriting: a 64 MiB file is filled with zeros and synced,
/// then 128 bytes are written at increasing offsets, each followed by `sync_data`.
pub fn fsync_prealloc(dir: &Path, bounds: &Bounds) -> Result<Measurement, Error> {
    let path = dir.join("fsync-prealloc.bin");
    let result = File::create(&path).and_then(|file| {
        preallocate(&file, PREALLOC_BYTES)?;
        let record = [0x5Au8; RECORD];
        let slots = PREALLOC_BYTES / RECORD as u64;
        sequential(bounds, |seq| {
            // Wraps around only if a very fast disk fills the whole file.
            let offset = (seq % slots) * RECORD as u64;
            file.write_all_at(&record, offset)?;
            file.sync_data()
        })
    });
    let removed = remove_scratch(&path);
    let (recorder, elapsed) = result?;
    removed?;
    Ok(recorder.finish(Kind::FsyncPrealloc, 1, elapsed))
}

/// Removes a scratch file; a file that was never created is not an error.
fn remove_scratch(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes real zeros (not a sparse hole) so later overwrites allocate nothing.
fn preallocate(file: &File, bytes: u64) -> std::io::Result<()> {
    let chunk = vec![0u8; 1024 * 1024];
    let mut written = 0u64;
    while written < bytes {
        let n = chunk.len().min((bytes - written) as usize);
        file.write_all_at(&chunk[..n], written)?;
        written += n as u64;
    }
    file.sync_all()
}

/// Runs a blocking operation in a loop: a warm-up, then a measured window
/// bounded by `bounds.duration` and `bounds.max_ops`.
fn sequential(
    bounds: &Bounds,
    mut op: impl FnMut(u64) -> std::io::Result<()>,
) -> std::io::Result<(Recorder, Duration)> {
    let mut recorder = Recorder::new().map_err(std::io::Error::other)?;
    let measure_start = Instant::now() + bounds.warmup;
    let end = measure_start + bounds.duration;
    let mut seq = 0u64;
    while Instant::now() < measure_start && seq < bounds.max_ops {
        op(seq)?;
        seq += 1;
    }
    let window_start = Instant::now();
    let mut measured = 0u64;
    while measured < bounds.max_ops && Instant::now() < end {
        let started = Instant::now();
        op(seq)?;
        recorder.record(started.elapsed());
        seq += 1;
        measured += 1;
    }
    Ok((recorder, window_start.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::driver::BackgroundServer;

    fn tiny() -> Bounds {
        Bounds {
            warmup: Duration::from_millis(5),
            duration: Duration::from_millis(50),
            max_ops: 50,
        }
    }

    #[test]
    fn fsync_floors_measure_and_leave_no_files_behind() {
        let dir = tempfile::tempdir().unwrap();
        let append = fsync_append(dir.path(), &tiny()).unwrap();
        assert!(append.summary.ops > 0 && append.summary.ops <= 50);
        assert!(append.summary.p50_us > 0.0);
        let prealloc = fsync_prealloc(dir.path(), &tiny()).unwrap();
        assert!(prealloc.summary.ops > 0 && prealloc.summary.ops <= 50);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn echo_floor_round_trips_on_a_separate_runtime() {
        let server = BackgroundServer::start("echo-test", serve_echo).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let m = runtime.block_on(echo(server.addr(), 4, &tiny())).unwrap();
        assert_eq!(m.clients, 4);
        assert!(m.summary.ops > 0 && m.summary.ops <= 50);
        server.stop().unwrap();
    }
}
