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
//! Every command keeps its own zxid and outcome; a batch failing as a whole
//! (not leader, shutting down) fails each of its commands with that error.

use std::sync::Arc;

use openraft::Raft;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::TypeConfig;
use crate::error::Error;
use crate::state_machine::{Command, CommandBatch, CommandKind, Op, Outcome};

/// Most commands in one log entry.
pub(crate) const MAX_BATCH_COMMANDS: usize = 1024;
/// Most payload bytes (node data) in one log entry; a larger single command
/// still goes alone.
pub(crate) const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

type Reply = oneshot::Sender<Result<Outcome, Error>>;

/// The submitting side; cheap to share.
#[derive(Debug, Clone)]
pub(crate) struct Batcher {
    tx: mpsc::UnboundedSender<(Command, Reply)>,
}

impl Batcher {
    /// Starts the batching task for `raft` with at most `max_inflight`
    /// batches proposed but not yet applied.
    pub(crate) fn start(raft: Raft<TypeConfig>, max_inflight: usize) -> Batcher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx, Arc::new(Semaphore::new(max_inflight.max(1)))));
        Batcher { tx }
    }

    /// Queues `cmd`; the receiver resolves once it is applied. Queueing order
    /// is log order.
    pub(crate) fn submit(
        &self,
        cmd: Command,
    ) -> Result<oneshot::Receiver<Result<Outcome, Error>>, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((cmd, reply))
            .map_err(|_| Error::ShuttingDown("the replica is stopping".into()))?;
        Ok(rx)
    }
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
    mut rx: mpsc::UnboundedReceiver<(Command, Reply)>,
    inflight: Arc<Semaphore>,
) {
    let mut carry: Option<(Command, Reply)> = None;
    loop {
        // Wait for a free slot first: while the previous batch is on its way
        // to disk, new commands pile up in the channel and join this batch.
        let Ok(permit) = inflight.clone().acquire_owned().await else {
            return;
        };
        let first = match carry.take() {
            Some(item) => item,
            None => match rx.recv().await {
                Some(item) => item,
                None => return,
            },
        };
        let mut bytes = payload_bytes(&first.0);
        let mut commands = vec![first.0];
        let mut replies = vec![first.1];
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
        }
        match raft.client_write_ff(CommandBatch(commands)).await {
            Ok(responder) => {
                tokio::spawn(async move {
                    let result = match responder.await {
                        Ok(Ok(resp)) => Ok(resp.data.0),
                        Ok(Err(e)) => Err(super::replica::map_write_err(e)),
                        Err(_) => Err(Error::ShuttingDown(
                            "raft stopped before the command was applied".into(),
                        )),
                    };
                    drop(permit);
                    answer(replies, result);
                });
            }
            Err(fatal) => {
                drop(permit);
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
