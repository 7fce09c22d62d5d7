//! The abusers that speak the wire protocol through a raw socket
//! (`raw::RawConn`): silent connections (a), garbage churn (b), stalled
//! readers (c), the watch flooder (d), the big SetWatches (e) and the multi of
//! empty ops (f). Each counts, in its `Tally`, how the server answered or
//! closed it: that shows which protections are active.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::time::Instant;

use super::abusers::{Abuser, Ctx, STALL_DIR, STALL_NODE};
use super::control::{OPS, Tally};
use super::raw::{self, Ended, RawConn, Received};
use coord_proto::proto::{self, request::Op as Req};

/// Longest wait for a handshake answer.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(10);
/// Longest wait for the answer to one big frame (a debug server decodes
/// millions of ops slowly).
const BIG_REPLY_WAIT: Duration = Duration::from_secs(60);
/// Requests the flooder keeps in flight.
const FLOOD_WINDOW: u64 = 256;
/// The flooder's pace once refused or capped.
const FLOOD_SLOW: Duration = Duration::from_millis(200);
/// How long a stalled reader stops reading before it looks.
const STALL: Duration = Duration::from_secs(3);
/// Far enough to mean "until the server or the phase ends it".
const FOREVER: Duration = Duration::from_secs(24 * 3600);

/// Counts a failed handshake and pauses; `true` when the phase ended.
async fn refused(ctx: &Ctx, tally: &Tally, ended: &Ended) -> bool {
    tally.inc(&format!("handshake {}", ended.key()));
    ctx.stop.sleep(Duration::from_millis(200)).await
}

/// Opens a raw connection and counts it as one op; a failed connect is
/// counted and followed by a pause (the callers' loops end once the phase
/// has, so `None` means "try again").
async fn open(ctx: &Ctx, tally: &Tally) -> Option<RawConn> {
    match RawConn::open(ctx.addr).await {
        Ok(c) => {
            tally.inc(OPS);
            Some(c)
        }
        Err(_) => {
            tally.inc("connect failed");
            ctx.stop.sleep(Duration::from_millis(200)).await;
            None
        }
    }
}

/// (a) Holds one connection that never sends a byte; re-opens it when the
/// server closes it.
pub(super) async fn silent(ctx: Ctx, tally: Arc<Tally>) {
    while !ctx.stop.is_set() {
        let Some(mut conn) = open(&ctx, &tally).await else {
            continue;
        };
        let got = tokio::select! {
            _ = ctx.stop.wait() => break,
            r = conn.recv(Instant::now() + FOREVER) => r,
        };
        match got {
            Received::Ended(e) => tally.inc(&e.key()),
            Received::Message(_) => tally.inc("unexpected message"),
        }
        if ctx.stop.sleep(Duration::from_millis(50)).await {
            break;
        }
    }
}

/// (b) Connect, send one kind of garbage, see how the server ends it, close.
pub(super) async fn garbage(ctx: Ctx, tally: Arc<Tally>) {
    let mut rng = ctx.rng(Abuser::Garbage, 0);
    let mut round = 0u64;
    while !ctx.stop.is_set() {
        let Some(mut conn) = open(&ctx, &tally).await else {
            continue;
        };
        let (name, bytes, wait) = match round % 4 {
            0 => {
                let mut b = vec![0u8; rng.range(1, 4096) as usize];
                rng.fill(&mut b);
                ("random bytes", b, Duration::from_secs(2))
            }
            1 => {
                let mut b = 0x7fff_ffffu32.to_be_bytes().to_vec();
                b.extend_from_slice(&[0xab; 16]);
                ("huge length prefix", b, Duration::from_secs(2))
            }
            2 => {
                // Announce 1 MiB, send half of it, keep quiet for a while.
                let mut b = vec![0u8; 4 + 512 * 1024];
                b[..4].copy_from_slice(&(1024u32 * 1024).to_be_bytes());
                rng.fill(&mut b[4..]);
                ("half frame", b, Duration::from_millis(500))
            }
            _ => {
                let len = rng.range(64, 1024) as usize;
                let mut b = vec![0u8; 4 + len];
                b[..4].copy_from_slice(&(len as u32).to_be_bytes());
                rng.fill(&mut b[4..]);
                ("random frame", b, Duration::from_secs(2))
            }
        };
        round += 1;
        if conn.send(&bytes).await.is_err() {
            tally.inc(&format!("{name}: reset while sending"));
        } else {
            let (ended, _) = conn.drain(Instant::now() + wait).await;
            tally.inc(&format!("{name}: {}", ended.key()));
        }
        drop(conn);
        if ctx.stop.sleep(ctx.intensity.garbage_pause).await {
            break;
        }
    }
}

/// (c) Handshakes, watches the stall directory, asks for many 1 MiB values
/// and stops reading; after a while, reads what came to see whether the
/// server gave up on it, and starts over.
pub(super) async fn stalled(ctx: Ctx, tally: Arc<Tally>) {
    while !ctx.stop.is_set() {
        let mut conn = match RawConn::handshaken(ctx.addr, HANDSHAKE_WAIT).await {
            Ok(c) => c,
            Err(e) => {
                if refused(&ctx, &tally, &e).await {
                    break;
                }
                continue;
            }
        };
        tally.inc(OPS);
        let mut buf = BytesMut::new();
        conn.request(
            Req::AddWatch(proto::AddWatchRequest {
                path: STALL_DIR.into(),
                mode: proto::WatchMode::PersistentRecursive as i32,
            }),
            &mut buf,
        );
        let mut events = 0;
        let watching = match conn.send(&buf).await {
            Ok(()) => {
                conn.response(Instant::now() + HANDSHAKE_WAIT, &mut events)
                    .await
            }
            Err(_) => Err(Ended::Broken),
        };
        match watching {
            Ok(r) => match raw::response_error(&r) {
                Some(e) => tally.inc(&e),
                None => ctx.load.watches_added(1),
            },
            Err(e) => {
                tally.inc(&e.key());
                if ctx.stop.sleep(Duration::from_millis(200)).await {
                    break;
                }
                continue;
            }
        }
        buf.clear();
        for _ in 0..ctx.intensity.stalled_big_reads {
            conn.request(
                Req::GetData(proto::GetDataRequest {
                    path: STALL_NODE.into(),
                    watch: false,
                }),
                &mut buf,
            );
        }
        let sent = conn.send(&buf).await.is_ok();
        if sent {
            tally.add("1 MiB reads requested", ctx.intensity.stalled_big_reads);
        }
        let phase_over = ctx.stop.sleep(STALL).await;
        if sent && !phase_over {
            let (ended, bytes) = conn.drain(Instant::now() + STALL).await;
            tally.add("MiB read after the stall", bytes / (1024 * 1024));
            match ended {
                Ended::TimedOut => tally.inc("still open after the stall"),
                other => tally.inc(&other.key()),
            }
        }
        ctx.load.watches_dropped(1);
        drop(conn);
    }
}

/// (d) One session registering exists-watches on distinct paths as fast as
/// it can, until the server refuses (or the harness cap); then slowly.
pub(super) async fn watch_flood(ctx: Ctx, tally: Arc<Tally>) {
    let cap = ctx.intensity.flood_watch_cap;
    let mut next_path = 0u64;
    let mut total = 0u64;
    let mut slow = false;
    'connections: while !ctx.stop.is_set() {
        let mut conn = match RawConn::handshaken(ctx.addr, HANDSHAKE_WAIT).await {
            Ok(c) => c,
            Err(e) => {
                if refused(&ctx, &tally, &e).await {
                    break;
                }
                continue;
            }
        };
        tally.inc("sessions");
        let mut live = 0u64;
        while !ctx.stop.is_set() {
            let window = if slow { 1 } else { FLOOD_WINDOW };
            let mut buf = BytesMut::new();
            for _ in 0..window {
                conn.request(
                    Req::Exists(proto::ExistsRequest {
                        path: format!("/soak-flood/w{next_path:09}"),
                        watch: true,
                    }),
                    &mut buf,
                );
                next_path += 1;
            }
            tally.add(OPS, window);
            if conn.send(&buf).await.is_err() {
                tally.inc("closed: reset (while sending)");
                ctx.load.watches_dropped(live);
                continue 'connections;
            }
            let mut events = 0;
            for _ in 0..window {
                let answer = tokio::select! {
                    _ = ctx.stop.wait() => break 'connections,
                    r = conn.response(Instant::now() + BIG_REPLY_WAIT, &mut events) => r,
                };
                match answer {
                    Ok(r) => match raw::response_error(&r) {
                        Some(e) => {
                            tally.inc(&e);
                            slow = true;
                        }
                        None => {
                            live += 1;
                            total += 1;
                            ctx.load.watches_added(1);
                        }
                    },
                    Err(e) => {
                        tally.inc(&e.key());
                        ctx.load.watches_dropped(live);
                        continue 'connections;
                    }
                }
            }
            tally.max("watches held (peak)", live);
            if total >= cap && !slow {
                tally.inc("harness cap reached");
                slow = true;
            }
            if slow && ctx.stop.sleep(FLOOD_SLOW).await {
                break;
            }
        }
        ctx.load.watches_dropped(live);
    }
}

/// (e) SetWatches frames of ~4 MiB of distinct paths, spread over the phase;
/// each connection is held open (its watches live) until the phase ends.
pub(super) async fn set_watches(ctx: Ctx, tally: Arc<Tally>) {
    let frames = ctx.intensity.set_watches_frames;
    let spacing = ctx.phase / (frames as u32 + 1);
    let mut held = Vec::new();
    let mut registered = 0u64;
    for rep in 0..frames {
        if ctx
            .stop
            .sleep(if rep == 0 { spacing / 4 } else { spacing })
            .await
        {
            break;
        }
        let mut conn = match RawConn::handshaken(ctx.addr, HANDSHAKE_WAIT).await {
            Ok(c) => c,
            Err(e) => {
                tally.inc(&format!("handshake {}", e.key()));
                continue;
            }
        };
        let target = ctx.big_frame_bytes();
        let sample = format!("/soak-sw/{rep}/{:08}", 0);
        let count = target / (sample.len() + 2);
        let exist = (0..count)
            .map(|i| format!("/soak-sw/{rep}/{i:08}"))
            .collect();
        let mut buf = BytesMut::with_capacity(target + 64);
        conn.request(
            Req::SetWatches(proto::SetWatchesRequest {
                last_zxid: conn.last_zxid,
                exist,
                ..Default::default()
            }),
            &mut buf,
        );
        tally.inc(OPS);
        tally.add("MiB sent", (buf.len() / (1024 * 1024)) as u64);
        if conn.send(&buf).await.is_err() {
            tally.inc("closed: reset (while sending)");
            continue;
        }
        drop(buf);
        let mut events = 0;
        let answer = tokio::select! {
            _ = ctx.stop.wait() => break,
            r = conn.response(Instant::now() + BIG_REPLY_WAIT, &mut events) => r,
        };
        match answer {
            Ok(r) => match raw::response_error(&r) {
                Some(e) => tally.inc(&e),
                None => {
                    tally.add("watches registered", count as u64);
                    ctx.load.watches_added(count as u64);
                    registered += count as u64;
                    held.push(conn);
                }
            },
            Err(e) => tally.inc(&e.key()),
        }
    }
    ctx.stop.wait().await;
    ctx.load.watches_dropped(registered);
    drop(held);
}

/// (f) Multi frames of ~4 MiB made of empty ops (two bytes each on the wire),
/// spread over the phase, on one connection (re-opened if closed).
pub(super) async fn empty_multi(ctx: Ctx, tally: Arc<Tally>) {
    let frames = ctx.intensity.multi_frames;
    let spacing = ctx.phase / (frames as u32 + 1);
    let mut conn: Option<RawConn> = None;
    for rep in 0..frames {
        if ctx
            .stop
            .sleep(if rep == 0 { spacing / 2 } else { spacing })
            .await
        {
            break;
        }
        let mut c = match conn.take() {
            Some(c) => c,
            None => match RawConn::handshaken(ctx.addr, HANDSHAKE_WAIT).await {
                Ok(c) => c,
                Err(e) => {
                    tally.inc(&format!("handshake {}", e.key()));
                    continue;
                }
            },
        };
        let ops = ctx.big_frame_bytes().saturating_sub(32) / 2;
        let frame = raw::empty_ops_multi_frame(c.take_xid(), ops);
        tally.inc(OPS);
        tally.add("empty ops sent", ops as u64);
        if c.send(&frame).await.is_err() {
            tally.inc("closed: reset (while sending)");
            continue;
        }
        drop(frame);
        let mut events = 0;
        let answer = tokio::select! {
            _ = ctx.stop.wait() => break,
            r = c.response(Instant::now() + BIG_REPLY_WAIT, &mut events) => r,
        };
        match answer {
            Ok(r) => {
                tally.inc(&raw::response_error(&r).unwrap_or_else(|| "accepted".into()));
                conn = Some(c);
            }
            Err(e) => tally.inc(&e.key()),
        }
    }
}
