//! Group commit above openraft: the leader's proposal batcher.
//!
//! openraft 0.9 appends one client request per log append and waits for that
//! append's flush before taking the next, so one command per entry would cost
//! one fsync per write. The batcher instead queues commands as they are
//! submitted (in submission order), and while one batch is being appended and
//! fsynced, everything that arrives meanwhile gathers into the next batch: one
//! log entry, one fsync, many writes. Under load the batch grows by itself;
//! alone, a write is proposed at once.
//!
//! The next batch is proposed as soon as the previous one is durable in the
//! local log (the log store counts flushed command entries), not when it is
//! applied: its commit, apply and replies then overlap the next fsync instead
//! of lengthening every cycle. Proposing earlier than the flush would not
//! help, since openraft would hold the batch until then while more commands
//! could have joined it. At most `max_inflight` batches are proposed and not
//! yet applied. (A replica that runs alone does not make raft wait for the
//! flush, see `log_store`; the batcher still waits for it: proposing every
//! command at once there, batches of one or two, measured 0.81x the
//! throughput at 32 writers.)
//!
//! Every command keeps its own zxid and outcome; a batch failing as a whole
//! (not leader, shutting down) fails each of its commands with that error.
//!
//! The queue is bounded in bytes (`max_pending_proposal_bytes`): a command
//! holds its charge ([`proposal_bytes`]) from submission until its batch is
//! applied, and [`Batcher::submit`] waits while the queue is full, so a
//! connection that writes faster than the log absorbs stops being read
//! instead of growing the server. Waiting is first come, first served; a
//! single command larger than the whole bound waits for an empty queue and
//! then goes alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use openraft::Raft;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use super::TypeConfig;
use crate::error::Error;
use crate::state_machine::{Command, CommandBatch, CommandKind, Op, Outcome};

/// Most commands in one log entry.
pub(crate) const MAX_BATCH_COMMANDS: usize = 1024;
/// Most payload bytes (node data) in one log entry; a larger single command
/// still goes alone.
pub(crate) const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// What a queued command costs besides its payload: the command itself,
/// its reply channel and its queue slot, rounded up.
const COMMAND_OVERHEAD_BYTES: usize = 256;

type Reply = oneshot::Sender<Result<Outcome, Error>>;

/// A command waiting for its batch, holding its share of the byte bound.
type Queued = (Command, Reply, OwnedSemaphorePermit);

/// The submitting side; cheap to share.
#[derive(Debug, Clone)]
pub(crate) struct Batcher {
    tx: mpsc::UnboundedSender<Queued>,
    room: ProposalRoom,
}

impl Batcher {
    /// Starts the batching task for `raft` with at most `max_inflight`
    /// batches proposed but not yet applied and at most `max_pending_bytes`
    /// of commands queued or in flight.
    pub(crate) fn start(
        raft: Raft<TypeConfig>,
        flushed: watch::Receiver<u64>,
        max_inflight: usize,
        max_pending_bytes: usize,
    ) -> Batcher {
        let (tx, rx) = mpsc::unbounded_channel();
        let inflight = Arc::new(Semaphore::new(max_inflight.max(1)));
        tokio::spawn(run(raft, rx, flushed, inflight));
        Batcher {
            tx,
            room: ProposalRoom::new(max_pending_bytes),
        }
    }

    /// Queues `cmd` once there is room for it; the receiver resolves once it
    /// is applied. Queueing order is log order.
    pub(crate) async fn submit(
        &self,
        cmd: Command,
    ) -> Result<oneshot::Receiver<Result<Outcome, Error>>, Error> {
        let permit = self.room.reserve(proposal_bytes(&cmd)).await?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((cmd, reply, permit))
            .map_err(|_| Error::ShuttingDown("the replica is stopping".into()))?;
        Ok(rx)
    }

    /// The most bytes that were queued or in flight at once since start.
    pub(crate) fn pending_peak(&self) -> usize {
        self.room.peak.load(Ordering::Relaxed)
    }

    /// Bytes of commands queued or in flight now.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.room.max - self.room.bytes.available_permits()
    }
}

/// The byte bound of the queue (see the module docs).
#[derive(Debug, Clone)]
struct ProposalRoom {
    bytes: Arc<Semaphore>,
    max: usize,
    peak: Arc<AtomicUsize>,
}

impl ProposalRoom {
    fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        ProposalRoom {
            bytes: Arc::new(Semaphore::new(max)),
            max,
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Waits until `bytes` (at most the whole bound) fit, and holds them.
    async fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, Error> {
        let charge = bytes.min(self.max).min(u32::MAX as usize) as u32;
        let permit = self
            .bytes
            .clone()
            .acquire_many_owned(charge)
            .await
            .map_err(|_| Error::ShuttingDown("the replica is stopping".into()))?;
        let held = self.max - self.bytes.available_permits();
        self.peak.fetch_max(held, Ordering::Relaxed);
        Ok(permit)
    }
}

/// What a command is charged against the queue's byte bound.
pub(crate) fn proposal_bytes(cmd: &Command) -> usize {
    payload_bytes(cmd) + COMMAND_OVERHEAD_BYTES
}

fn payload_bytes(cmd: &Command) -> usize {
    let op_bytes = |op: &Op| match op {
        Op::Create { path, data, .. } | Op::SetData { path, data, .. } => path.len() + data.len(),
        Op::Delete { path, .. } | Op::Check { path, .. } => path.len(),
    };
    match &cmd.kind {
        CommandKind::Op(op) => op_bytes(op),
        CommandKind::Multi(ops) => ops.iter().map(op_bytes).sum(),
        _ => 64,
    }
}

async fn run(
    raft: Raft<TypeConfig>,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    mut flushed: watch::Receiver<u64>,
    inflight: Arc<Semaphore>,
) {
    let mut carry: Option<Queued> = None;
    // The previous batch: the flushed count before it was proposed, and a
    // receiver that resolves once it is settled (applied or failed).
    let mut previous: Option<(u64, oneshot::Receiver<()>)> = None;
    loop {
        let Ok(permit) = inflight.clone().acquire_owned().await else {
            return;
        };
        // openraft takes the next append only after the previous one is
        // flushed, so proposing before that would only split the batch:
        // wait until the previous batch is durable in the local log (or
        // settled, if it never gets there). Meanwhile new commands pile up
        // in the channel and join this batch.
        if let Some((before, mut settled)) = previous.take() {
            tokio::select! {
                _ = flushed.wait_for(|n| *n > before) => {}
                _ = &mut settled => {}
            }
        }
        let first = match carry.take() {
            Some(item) => item,
            None => match rx.recv().await {
                Some(item) => item,
                None => return,
            },
        };
        let mut bytes = payload_bytes(&first.0);
        // Sized for what is queued now (the batch takes at most that many).
        let room_for = (rx.len() + 1).min(MAX_BATCH_COMMANDS);
        let mut commands = Vec::with_capacity(room_for);
        let mut replies = Vec::with_capacity(room_for);
        // The batch's share of the queue's byte bound, released once applied.
        let mut room = Vec::with_capacity(room_for);
        commands.push(first.0);
        replies.push(first.1);
        room.push(first.2);
        while commands.len() < MAX_BATCH_COMMANDS {
            let Ok(item) = rx.try_recv() else { break };
            let size = payload_bytes(&item.0);
            if bytes + size > MAX_BATCH_BYTES {
                carry = Some(item);
                break;
            }
            bytes += size;
            commands.push(item.0);
            replies.push(item.1);
            room.push(item.2);
        }
        let before = *flushed.borrow_and_update();
        let (settle, settled) = oneshot::channel::<()>();
        match raft.client_write_ff(CommandBatch::from(commands)).await {
            Ok(responder) => {
                previous = Some((before, settled));
                tokio::spawn(async move {
                    let result = match responder.await {
                        Ok(Ok(resp)) => Ok(resp.data.0),
                        Ok(Err(e)) => Err(super::replica::map_write_err(e)),
                        Err(_) => Err(Error::ShuttingDown(
                            "raft stopped before the command was applied".into(),
                        )),
                    };
                    drop(permit);
                    drop(room);
                    drop(settle);
                    answer(replies, result);
                });
            }
            Err(fatal) => {
                drop(permit);
                drop(room);
                answer(replies, Err(super::replica::map_fatal(fatal)));
            }
        }
    }
}

fn answer(replies: Vec<Reply>, result: Result<Vec<Outcome>, Error>) {
    match result {
        Ok(outcomes) if outcomes.len() == replies.len() => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Ok(outcomes) => {
            let e = Error::Internal(format!(
                "a batch of {} commands produced {} outcomes",
                replies.len(),
                outcomes.len()
            ));
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_full_queue_makes_submitters_wait_until_room_is_released() {
        let room = ProposalRoom::new(1000);
        let first = room.reserve(600).await.unwrap();
        let mut second = Box::pin(room.reserve(600));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut second)
                .await
                .is_err(),
            "600 + 600 bytes do not fit a 1000-byte queue"
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("room released")
            .unwrap();
        assert_eq!(room.peak.load(Ordering::Relaxed), 600);
        drop(second);
    }

    #[tokio::test]
    async fn a_command_larger_than_the_bound_waits_for_an_empty_queue_then_goes_alone() {
        let room = ProposalRoom::new(1000);
        let small = room.reserve(10).await.unwrap();
        let mut huge = Box::pin(room.reserve(5000));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut huge)
                .await
                .is_err()
        );
        drop(small);
        let huge = tokio::time::timeout(Duration::from_secs(5), huge)
            .await
            .expect("an empty queue admits it")
            .unwrap();
        assert_eq!(room.bytes.available_permits(), 0);
        drop(huge);
        assert_eq!(room.bytes.available_permits(), 1000);
    }
}
