//! The physical floor, measured by this harness in the same run: fsync latency
//! of the data disk (append 128 B + `sync_data`, and an overwrite inside a
//! preallocated file + `sync_data`) and a loopback TCP round trip
//! (64 B ping-pong against an echo thread). `coord_cli::bench` measures the
//! same things, but its `floor` module is `pub(crate)`; this is the minimal
//! equivalent.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::stats::{Bounds, Recorder, Res, Summary};

const RECORD: usize = 128;
const FRAME: usize = 64;

/// fsync of an append, one after another, in `dir`.
pub(crate) fn fsync_append(dir: &Path, bounds: Bounds) -> Res<Summary> {
    let path = dir.join("floor-fsync.bin");
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let record = [0x5Au8; RECORD];
    let result = sequential(bounds, || {
        file.write_all(&record)?;
        file.sync_data()?;
        Ok(())
    });
    drop(file);
    std::fs::remove_file(&path)?;
    result
}

/// Size of the preallocated file of the overwrite measurement.
const PREALLOC_BYTES: u64 = 16 * 1024 * 1024;

/// fsync of an overwrite inside a zero-filled, preallocated file (what a log
/// that preallocates, like ZooKeeper's, pays): no new size or block to persist.
pub(crate) fn fsync_prealloc(dir: &Path, bounds: Bounds) -> Res<Summary> {
    let path = dir.join("floor-prealloc.bin");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let chunk = vec![0u8; 1024 * 1024];
    let mut written = 0u64;
    while written < PREALLOC_BYTES {
        file.write_all_at(&chunk, written)?;
        written += chunk.len() as u64;
    }
    file.sync_all()?;
    let record = [0x5Au8; RECORD];
    let slots = PREALLOC_BYTES / RECORD as u64;
    let mut seq = 0u64;
    let result = sequential(bounds, || {
        file.write_all_at(&record, (seq % slots) * RECORD as u64)?;
        file.sync_data()?;
        seq += 1;
        Ok(())
    });
    drop(file);
    std::fs::remove_file(&path)?;
    result
}

/// Loopback round trip of a 64-byte frame against an echo thread.
pub(crate) fn loopback_rtt(bounds: Bounds) -> Res<Summary> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        let mut frame = [0u8; FRAME];
        while socket.read_exact(&mut frame).is_ok() {
            socket.write_all(&frame)?;
        }
        Ok(())
    });
    let mut client = TcpStream::connect(addr)?;
    client.set_nodelay(true)?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut frame = [0xA5u8; FRAME];
    let result = sequential(bounds, || {
        client.write_all(&frame)?;
        client.read_exact(&mut frame)?;
        Ok(())
    });
    drop(client);
    let _ = server.join();
    result
}

fn sequential(bounds: Bounds, mut op: impl FnMut() -> Res<()>) -> Res<Summary> {
    let mut rec = Recorder::new()?;
    let measure_start = Instant::now() + bounds.warmup;
    let end = measure_start + bounds.duration;
    while Instant::now() < measure_start {
        op()?;
    }
    let start = Instant::now();
    while Instant::now() < end && rec.len() < bounds.max_ops {
        let t = Instant::now();
        op()?;
        rec.record(t.elapsed());
    }
    Ok(rec.summary(start.elapsed()))
}
