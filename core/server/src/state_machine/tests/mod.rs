//! Behaviour tests of the state machine, with a small harness that drives
//! it the way the replication layer will: one [`Command`] at a time.

use bytes::Bytes;

use super::{
    Command, CommandKind, CommandResult, EventType, Op, OpResult, Outcome, StateMachine, WatchEvent,
};
use crate::config::Limits;
use crate::error::Error;
use crate::tree::{CreateMode, Stat};

mod listing;
mod multi;
mod ops;
mod quota;
mod reap;
mod replicated;
mod sessions;
mod snapshot;

/// A state machine plus a leader clock that the tests move by hand.
struct Harness {
    sm: StateMachine,
    now: i64,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Harness {
        Harness {
            sm: StateMachine::new(limits),
            now: 1_000,
        }
    }

    /// Applies `kind` on behalf of `session`, at the harness clock.
    fn run(&mut self, session: u64, kind: CommandKind) -> (Outcome, Vec<WatchEvent>) {
        self.sm.apply(&Command {
            origin: Default::default(),
            session_id: session,
            time_ms: self.now,
            kind,
        })
    }

    fn open(&mut self, id: u64) {
        let (out, _) = self.run(
            0,
            CommandKind::CreateSession {
                identities: Vec::new(),
                session_id: id,
                timeout_ms: 10_000,
                secret: [id as u8; 16],
            },
        );
        assert!(out.result.is_ok(), "{out:?}");
    }

    /// One op; `Ok(result)` or the command's error.
    fn op(&mut self, session: u64, op: Op) -> Result<OpResult, Error> {
        match self.run(session, CommandKind::Op(op)).0.result? {
            CommandResult::Op(r) => Ok(r),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn create(&mut self, session: u64, path: &str, mode: CreateMode) -> Result<String, Error> {
        match self.op(session, create_op(path, mode))? {
            OpResult::Create { path, .. } => Ok(path),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn mk(&mut self, path: &str) {
        self.create(0, path, CreateMode::Persistent)
            .unwrap_or_else(|e| panic!("create {path}: {e}"));
    }

    fn stat(&self, path: &str) -> Stat {
        self.sm
            .exists(path)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("{path} should exist"))
    }

    fn has(&self, path: &str) -> bool {
        matches!(self.sm.exists(path), Ok(Some(_)))
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.sm
            .write_snapshot_records(&mut out)
            .expect("writing to a Vec cannot fail");
        out
    }

    fn restored(&self) -> StateMachine {
        StateMachine::read_snapshot_records(
            &mut self.snapshot().as_slice(),
            self.sm.last_zxid(),
            self.sm.last_time_ms(),
            self.sm.limits().clone(),
        )
        .expect("own snapshot must read back")
    }
}

fn create_op(path: &str, mode: CreateMode) -> Op {
    Op::Create {
        acl: Vec::new(),
        path: path.to_string(),
        data: Bytes::new(),
        mode,
    }
}

fn delete_op(path: &str, version: i32) -> Op {
    Op::Delete {
        path: path.to_string(),
        version,
    }
}

fn set_op(path: &str, data: &'static [u8], version: i32) -> Op {
    Op::SetData {
        path: path.to_string(),
        data: Bytes::from_static(data),
        version,
    }
}

fn check_op(path: &str, version: i32) -> Op {
    Op::Check {
        path: path.to_string(),
        version,
    }
}

fn ev(kind: EventType, path: &str, zxid: u64) -> WatchEvent {
    WatchEvent {
        kind,
        path: path.to_string(),
        zxid,
    }
}
