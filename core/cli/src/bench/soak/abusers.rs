//! The abusive clients of a soak's second phase: which kinds there are
//! ([`Abuser`]), what they share ([`Ctx`]), the nodes they need
//! ([`setup`]), starting them all at once ([`spawn_all`]), and the abusers
//! that use the real client (big writes, the wide directory, session churn,
//! and the writer that makes events pile up for the stalled readers). The
//! raw-socket abusers are in `raw_abusers`.
//!
//! Every abuser is one or a few tokio tasks, bounded in count, pausing
//! between operations where its kind allows, and ending at the phase's end.
//! Each counts what happened in its own [`Tally`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::control::{Intensity, LoadTally, OPS, Rng, Stop, Tally};
use super::lockers;
use super::raw_abusers;
use coord_client::CreateMode;
use coord_client::client::{Client, Op};
use coord_client::error::Error;

/// The kinds of abuse, in the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abuser {
    /// (a) connections that never send a handshake.
    Silent,
    /// (b) random bytes, huge length prefixes, half frames; connect/send/close churn.
    Garbage,
    /// (c) handshaken clients with watches that stop reading while events and
    /// 1 MiB replies pile up for them.
    Stalled,
    /// (d) one session registering exists-watches on distinct paths.
    WatchFlood,
    /// (e) a SetWatches frame of ~4 MiB.
    SetWatches,
    /// (f) a multi frame of ~4 MiB made of empty ops.
    EmptyMulti,
    /// (g) 1 MiB values written to one node.
    BigWrites,
    /// (h) a directory with very many children, listed repeatedly.
    WideDir,
    /// (i) connect, create an ephemeral, close.
    SessionChurn,
}

impl Abuser {
    /// Every kind, in the order.
    pub const ALL: [Abuser; 9] = [
        Abuser::Silent,
        Abuser::Garbage,
        Abuser::Stalled,
        Abuser::WatchFlood,
        Abuser::SetWatches,
        Abuser::EmptyMulti,
        Abuser::BigWrites,
        Abuser::WideDir,
        Abuser::SessionChurn,
    ];

    /// The label in the counters table, starting with the letter.
    pub fn label(self) -> &'static str {
        match self {
            Abuser::Silent => "a. silent connections",
            Abuser::Garbage => "b. garbage churn",
            Abuser::Stalled => "c. stalled readers",
            Abuser::WatchFlood => "d. watch flooder",
            Abuser::SetWatches => "e. ~4 MiB SetWatches",
            Abuser::EmptyMulti => "f. ~4 MiB multi of empty ops",
            Abuser::BigWrites => "g. 1 MiB writes",
            Abuser::WideDir => "h. wide directory listings",
            Abuser::SessionChurn => "i. session churn",
        }
    }

    /// The stream number of its random generator.
    fn stream(self) -> u64 {
        Abuser::ALL.iter().position(|a| *a == self).unwrap_or(0) as u64 + 1
    }
}

/// Abusers by their letters in the list (`a` silent ... `i` session
/// churn), e.g. `bh`; for `--soak-abusers`.
pub fn parse_abusers(s: &str) -> Result<Vec<Abuser>, String> {
    s.chars()
        .map(|c| {
            let i = (c as u32).wrapping_sub('a' as u32) as usize;
            Abuser::ALL
                .get(i)
                .copied()
                .ok_or_else(|| format!("`{c}` is not an abuser letter (a to i)"))
        })
        .collect()
}

/// What every abuser task gets.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: Stop,
    pub(crate) intensity: Arc<Intensity>,
    pub(crate) load: Arc<LoadTally>,
    pub(crate) seed: u64,
    /// The server's `max_frame_bytes`: big frames stay just under it.
    pub(crate) max_frame_bytes: usize,
    /// The phase's length, to spread the few big frames over it.
    pub(crate) phase: Duration,
}

impl Ctx {
    pub(crate) fn rng(&self, abuser: Abuser, task: u64) -> Rng {
        Rng::for_task(self.seed, abuser.stream() << 32 | task)
    }

    /// Size of the big frames (e, f): the intensity's, below the frame limit.
    pub(crate) fn big_frame_bytes(&self) -> usize {
        let cap = self.max_frame_bytes.saturating_sub(64 * 1024).max(4096);
        usize::try_from(self.intensity.big_frame_bytes)
            .unwrap_or(usize::MAX)
            .min(cap)
    }
}

/// Watched by the stalled readers; `n0`.. change, `big` holds 1 MiB.
pub(crate) const STALL_DIR: &str = "/soak-stall";
/// The 1 MiB node the stalled readers ask for.
pub(crate) const STALL_NODE: &str = "/soak-stall/big";
const STALL_NODES: usize = 10;
const BIG_NODE: &str = "/soak-big";
const WIDE_DIR: &str = "/soak-wide";
const CHURN_DIR: &str = "/soak-churn";
const MIB: usize = 1024 * 1024;
/// Creates per multi while filling the wide directory.
const WIDE_BATCH: u64 = 500;

/// Creates the nodes the abusers need before they start.
pub(crate) async fn setup(client: &Client, load: &LoadTally) -> Result<(), Error> {
    let big = Bytes::from(vec![0x5a; MIB]);
    let mut nodes: Vec<(String, Bytes)> = [STALL_DIR, WIDE_DIR, CHURN_DIR]
        .iter()
        .map(|p| (p.to_string(), Bytes::new()))
        .collect();
    nodes.push((STALL_NODE.to_string(), big.clone()));
    nodes.push((BIG_NODE.to_string(), big));
    nodes.extend((0..STALL_NODES).map(|i| (format!("{STALL_DIR}/n{i}"), Bytes::new())));
    for (path, data) in nodes {
        client
            .create(&path, data.clone(), CreateMode::Persistent)
            .await?;
        let bytes = (path.len() + data.len()) as u64;
        load.wrote(bytes, 1, bytes);
    }
    Ok(())
}

/// One started abuser: its kind, its counters and its tasks.
pub(crate) struct Running {
    pub(crate) abuser: Abuser,
    pub(crate) tally: Arc<Tally>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

/// Starts every abuser in `only` (all of them when empty) at once.
pub(crate) fn spawn_all(ctx: &Ctx, only: &[Abuser]) -> Vec<Running> {
    Abuser::ALL
        .iter()
        .filter(|a| only.is_empty() || only.contains(a))
        .map(|&abuser| {
            let tally = Arc::new(Tally::default());
            let tasks = match abuser {
                Abuser::Silent => (0..ctx.intensity.silent_connections)
                    .map(|_| tokio::spawn(raw_abusers::silent(ctx.clone(), tally.clone())))
                    .collect(),
                Abuser::Garbage => vec![tokio::spawn(raw_abusers::garbage(
                    ctx.clone(),
                    tally.clone(),
                ))],
                Abuser::Stalled => {
                    let mut tasks: Vec<_> = (0..ctx.intensity.stalled_clients)
                        .map(|_| tokio::spawn(raw_abusers::stalled(ctx.clone(), tally.clone())))
                        .collect();
                    tasks.push(tokio::spawn(event_maker(ctx.clone(), tally.clone())));
                    tasks
                }
                Abuser::WatchFlood => vec![tokio::spawn(raw_abusers::watch_flood(
                    ctx.clone(),
                    tally.clone(),
                ))],
                Abuser::SetWatches => vec![tokio::spawn(raw_abusers::set_watches(
                    ctx.clone(),
                    tally.clone(),
                ))],
                Abuser::EmptyMulti => vec![tokio::spawn(raw_abusers::empty_multi(
                    ctx.clone(),
                    tally.clone(),
                ))],
                Abuser::BigWrites => vec![tokio::spawn(big_writes(ctx.clone(), tally.clone()))],
                Abuser::WideDir => vec![tokio::spawn(wide_dir(ctx.clone(), tally.clone()))],
                Abuser::SessionChurn => {
                    vec![tokio::spawn(session_churn(ctx.clone(), tally.clone()))]
                }
            };
            Running {
                abuser,
                tally,
                tasks,
            }
        })
        .collect()
}

/// A well-behaved client for the abusers that use the real one; `None`
/// (counted) when it cannot connect.
async fn client(ctx: &Ctx, tally: &Tally) -> Option<Client> {
    match lockers::connect(ctx.addr).await {
        Ok(c) => Some(c),
        Err(e) => {
            tally.error(&e);
            None
        }
    }
}

/// (c) Changes the watched nodes so that events pile up for the stalled readers.
async fn event_maker(ctx: Ctx, tally: Arc<Tally>) {
    let Some(client) = client(&ctx, &tally).await else {
        return;
    };
    let mut i = 0usize;
    while !ctx.stop.is_set() {
        let path = format!("{STALL_DIR}/n{}", i % STALL_NODES);
        i += 1;
        let r = tokio::select! {
            _ = ctx.stop.wait() => break,
            r = client.set(&path, Bytes::from(i.to_string()), None) => r,
        };
        match r {
            Ok(_) => {
                tally.inc("event writes");
                ctx.load.wrote((path.len() + 8) as u64, 0, 0);
            }
            Err(e) => tally.error(&e),
        }
        if ctx.stop.sleep(Duration::from_millis(20)).await {
            break;
        }
    }
}

/// (g) 1 MiB values on one node, at a bounded rate.
async fn big_writes(ctx: Ctx, tally: Arc<Tally>) {
    let Some(client) = client(&ctx, &tally).await else {
        return;
    };
    let mut value = vec![0u8; MIB];
    ctx.rng(Abuser::BigWrites, 0).fill(&mut value);
    let mut n = 0u64;
    while !ctx.stop.is_set() {
        n += 1;
        value[..8].copy_from_slice(&n.to_be_bytes());
        tally.inc(OPS);
        let r = tokio::select! {
            _ = ctx.stop.wait() => break,
            r = client.set(BIG_NODE, Bytes::copy_from_slice(&value), None) => r,
        };
        match r {
            Ok(_) => {
                tally.add("MiB written", 1);
                ctx.load.wrote((MIB + BIG_NODE.len()) as u64, 0, 0);
            }
            Err(e) => tally.error(&e),
        }
        if ctx.stop.sleep(ctx.intensity.big_write_pause).await {
            break;
        }
    }
}

/// (h) Fills a directory with many children once, then lists it
/// repeatedly; `ops` counts the filling multis and the listings.
async fn wide_dir(ctx: Ctx, tally: Arc<Tally>) {
    let Some(client) = client(&ctx, &tally).await else {
        return;
    };
    let total = ctx.intensity.children;
    let mut created = 0u64;
    while created < total && !ctx.stop.is_set() {
        let batch = WIDE_BATCH.min(total - created);
        let ops: Vec<Op> = (created..created + batch)
            .map(|i| Op::Create {
                acl: Vec::new(),
                path: format!("{WIDE_DIR}/child-{i:07}"),
                data: Bytes::new(),
                mode: CreateMode::Persistent,
            })
            .collect();
        let bytes = ops.iter().map(|op| op.path().len() as u64).sum::<u64>();
        tally.inc(OPS);
        let r = tokio::select! {
            _ = ctx.stop.wait() => break,
            r = client.multi(ops) => r,
        };
        match r {
            Ok(_) => {
                created += batch;
                tally.add("children created", batch);
                ctx.load.wrote(bytes, batch, bytes);
            }
            Err(e) => {
                tally.error(&e);
                if ctx.stop.sleep(Duration::from_millis(200)).await {
                    return;
                }
            }
        }
    }
    while !ctx.stop.is_set() {
        tally.inc(OPS);
        let r = tokio::select! {
            _ = ctx.stop.wait() => break,
            r = client.children(WIDE_DIR) => r,
        };
        match r {
            Ok(names) => tally.add("names listed", names.len() as u64),
            Err(e) => tally.error(&e),
        }
        if ctx.stop.sleep(Duration::from_millis(50)).await {
            break;
        }
    }
}

/// (i) Connect, create an ephemeral node, close; again.
async fn session_churn(ctx: Ctx, tally: Arc<Tally>) {
    let prefix = format!("{CHURN_DIR}/e-");
    while !ctx.stop.is_set() {
        tally.inc(OPS);
        let cycle = async {
            let c = lockers::connect(ctx.addr).await?;
            let created = c
                .create(&prefix, Bytes::new(), CreateMode::EphemeralSequential)
                .await;
            let closed = c.close().await;
            created.and(closed)
        };
        let r = tokio::select! {
            _ = ctx.stop.wait() => break,
            r = tokio::time::timeout(Duration::from_secs(30), cycle) => r,
        };
        match r {
            Ok(Ok(())) => {
                tally.inc("sessions closed");
                // Session create, ephemeral create, session close.
                ctx.load.wrote(64, 0, 0);
                ctx.load.wrote((prefix.len() + 10) as u64, 0, 0);
                ctx.load.wrote(64, 0, 0);
            }
            Ok(Err(e)) => tally.error(&e),
            Err(_) => tally.inc("timeout"),
        }
        if ctx.stop.sleep(ctx.intensity.churn_pause).await {
            break;
        }
    }
}
