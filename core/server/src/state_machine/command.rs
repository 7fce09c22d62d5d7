//! The replicated commands and their outcomes.
//!
//! A [`Command`] is what goes into the log: everything `apply` needs to decide an
//! outcome deterministically, including the leader's clock ([`Command::time_ms`])
//! and any identifiers the leader drew (session ids and secrets). An [`Outcome`]
//! is what `apply` returns to the proposer; [`WatchEvent`]s are what it fires.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::Limits;
use crate::error::Error;
use coord_proto::{Acl, Identity};
pub use coord_proto::{EventType, Op, OpResult, QuotaLimits, WatchEvent};

/// One entry of the replicated log's application payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The session on whose behalf the command runs (0 for server-internal commands).
    pub session_id: u64,
    /// Wall-clock time of the leader when it proposed the command (ms since
    /// epoch). `apply` never lets time go backwards: it uses the larger of this
    /// and the last applied command's time.
    pub time_ms: i64,
    /// What to do.
    pub kind: CommandKind,
    /// Which server took the command from its client, for that server to
    /// find its outcome when it applies the entry (a follower forwards its
    /// clients' writes to the leader). Never read by `apply`.
    #[serde(default)]
    pub origin: Origin,
}

/// The server a command came in through and its tag there (see
/// [`Command::origin`]). The default (member 0) means "not forwarded".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Origin {
    /// The member that took the command from its client (0: none).
    pub node: u64,
    /// A number that member gave the command, unique on it.
    pub tag: u64,
}

impl Command {
    /// A command of `session_id` stamped `time_ms`, not forwarded.
    pub fn new(session_id: u64, time_ms: i64, kind: CommandKind) -> Command {
        Command {
            session_id,
            time_ms,
            kind,
            origin: Origin::default(),
        }
    }
}

/// What one replicated log entry carries: commands proposed together by the
/// leader's batcher (group commit: one log append and one fsync for all of
/// them). Each command still takes its own zxid, in order.
///
/// The commands are shared: the log keeps the entry while it is applied and
/// replicated, and every read of it (by the apply, by a follower's stream)
/// takes a reference instead of copying each command's path and data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandBatch(pub Arc<[Command]>);

impl From<Vec<Command>> for CommandBatch {
    fn from(commands: Vec<Command>) -> Self {
        CommandBatch(commands.into())
    }
}

// Serialized as the list of its commands (as a `Vec` would be); openraft's
// entry type asks for serde, the log itself is written with prost.
impl Serialize for CommandBatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for CommandBatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Command>::deserialize(d).map(CommandBatch::from)
    }
}

/// The outcomes of a [`CommandBatch`], one per command, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BatchOutcome(pub Vec<Outcome>);

/// The kinds of replicated command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandKind {
    /// Open a session. The id and secret were drawn by the leader.
    CreateSession {
        /// New session id (never 0).
        session_id: u64,
        /// Negotiated timeout in milliseconds.
        timeout_ms: u32,
        /// Secret that lets a client resume the session on another connection.
        secret: [u8; 16],
        /// Identities the server established at connect (token, x509, ip).
        #[serde(default)]
        identities: Vec<Identity>,
    },
    /// The owner closed its session: delete its ephemerals.
    CloseSession,
    /// The leader found these sessions expired: delete their ephemerals.
    ExpireSessions(Vec<u64>),
    /// A single write op.
    Op(Op),
    /// An all-or-nothing list of ops.
    Multi(Vec<Op>),
    /// Server housekeeping: delete empty containers and expired TTL nodes.
    /// `apply` re-checks every condition and skips targets that no longer qualify.
    Reap(Vec<ReapTarget>),
    /// Does nothing but take a zxid (used by sync and tests).
    Noop,
    /// Server-internal (session 0): enforce these limits from the next command on.
    /// Proposed by the leader at start when its flags differ from the replicated
    /// limits.
    SetLimits(Limits),
    /// Add an identity the server authenticated (digest, token) to the
    /// command's session. Carries the identity only, never credentials.
    AddIdentity(Identity),
    /// Replace a node's ACL (needs ADMIN on it); `version` is the expected
    /// aversion, -1 for any.
    SetAcl {
        /// The node.
        path: String,
        /// The new list (empty: open).
        acl: Vec<Acl>,
        /// Expected aversion, or -1.
        version: i32,
    },
    /// Sets the quota on the subtree at `path` (`Some`) or removes it (`None`).
    SetQuota {
        /// Root of the subtree.
        path: String,
        /// The new limits; `None` clears the quota.
        limits: Option<QuotaLimits>,
    },
}

/// A node the leader believes should be reaped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReapTarget {
    /// Path of the container or TTL node.
    pub path: String,
    /// The node's czxid when the leader looked: a recreated node is never reaped.
    pub czxid: u64,
}

/// What `apply` returns for one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// zxid the command was given (every applied command takes one).
    pub zxid: u64,
    /// The result.
    pub result: Result<CommandResult, Error>,
}

/// Successful results of commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// A session was created.
    SessionCreated {
        /// Its id.
        session_id: u64,
        /// Negotiated timeout.
        timeout_ms: u32,
    },
    /// The session was closed.
    SessionClosed,
    /// Sessions were expired (the ids that actually existed).
    SessionsExpired(Vec<u64>),
    /// A single op succeeded.
    Op(OpResult),
    /// A multi: one result per op. If any is [`OpResult::Error`], nothing was applied.
    Multi(Vec<OpResult>),
    /// Paths actually reaped.
    Reaped(Vec<String>),
    /// Noop done.
    Noop,
    /// The limits were replaced.
    LimitsSet,
    /// A quota was set or cleared.
    QuotaSet,
    /// The identity was added to the session.
    IdentityAdded,
    /// The ACL was replaced; the node's stat after the change.
    AclSet(coord_proto::Stat),
}
