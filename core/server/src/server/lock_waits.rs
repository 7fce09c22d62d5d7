//! Lock waits for `/metrics`, read from the applied tree: how many
//! contenders joined a lock's line behind a holder, and how long each
//! acquisition waited, from joining the line (its node's ctime) to holding
//! (the leader time of the command that let it through). Locks, read-write
//! locks and elections share kazoo's node names, so all three are counted;
//! the hold rule is the recipes' own ([`coord_proto::lock_line`]).
//!
//! Runs in the apply observer, under the state's write lock, on every
//! member: it only looks at events whose node name is a lock contender's
//! and, for those, at one directory's children. A line longer than
//! [`MAX_MEASURED_LINE`] is not measured. Times are the leader's, carried
//! by the commands, so a replay or a follower records the same waits.
//! Owns its counters; changes nothing in the state.

use std::sync::atomic::{AtomicU64, Ordering};

use coord_proto::lock_line::{self, Decision, LockNode};
use coord_proto::{EventType, WatchEvent};

use crate::histogram::AtomicHistogram;
use crate::state_machine::StateMachine;

/// Longest line (children of one lock directory) whose changes are
/// measured: judging a line costs a pass over its names per contender that
/// may have moved, under the state's write lock.
pub(crate) const MAX_MEASURED_LINE: usize = 1000;

/// The lock-wait instruments.
#[derive(Debug)]
pub(crate) struct LockWaits {
    /// Off when no HTTP port serves them.
    enabled: bool,
    /// Contenders that joined a line behind a holder.
    waits: AtomicU64,
    /// Seconds from joining the line to holding, per acquisition (0 for a
    /// contender that held at once).
    wait_seconds: AtomicHistogram,
}

impl LockWaits {
    pub(crate) fn new(enabled: bool) -> LockWaits {
        LockWaits {
            enabled,
            waits: AtomicU64::new(0),
            wait_seconds: AtomicHistogram::seconds(),
        }
    }

    /// Contenders that had to wait, since start.
    pub(crate) fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// The wait-time histogram (a shared handle, for the registry).
    pub(crate) fn histogram(&self) -> AtomicHistogram {
        self.wait_seconds.clone()
    }

    /// Looks at the events of one applied command, with `sm` as it is after
    /// that command.
    pub(crate) fn on_apply(&self, sm: &StateMachine, events: &[WatchEvent]) {
        if !self.enabled {
            return;
        }
        for e in events {
            let Some((dir, name)) = split(&e.path) else {
                continue;
            };
            if lock_line::lock_node(name).is_none() {
                continue;
            }
            match e.kind {
                EventType::NodeCreated => self.joined(sm, dir, name),
                EventType::NodeDeleted => self.left(sm, dir, name),
                _ => {}
            }
        }
    }

    /// `name` joined the line in `dir`: it holds at once or waits.
    fn joined(&self, sm: &StateMachine, dir: &str, name: &str) {
        let Some(children) = line(sm, dir) else {
            return;
        };
        match lock_line::decide_lock(&children, name, blocked_by(name)) {
            Decision::Acquired => self.wait_seconds.observe(0.0),
            Decision::Watch(_) => {
                self.waits.fetch_add(1, Ordering::Relaxed);
            }
            Decision::Missing => {}
        }
    }

    /// `gone` left the line in `dir`: every contender that holds now and
    /// did not before has waited from its ctime until this command.
    fn left(&self, sm: &StateMachine, dir: &str, gone: &str) {
        let Some(after) = line(sm, dir) else {
            return;
        };
        let mut before = after.clone();
        before.push(gone.to_string());
        let now_ms = sm.last_time_ms();
        // Only contenders up to the first exclusive one can have moved: a
        // contender behind an exclusive node that is still there still waits.
        let mut sorted: Vec<(i64, &str)> = after
            .iter()
            .filter_map(|c| lock_line::lock_node(c).map(|(_, seq)| (seq, c.as_str())))
            .collect();
        sorted.sort_unstable();
        for (_, name) in sorted {
            let holds = |children: &[String]| {
                lock_line::decide_lock(children, name, blocked_by(name)) == Decision::Acquired
            };
            if holds(&after) && !holds(&before) {
                let path = coord_proto::child(dir, name);
                if let Some(node) = sm.tree().node(&path) {
                    let waited_ms = (now_ms - node.stat().ctime).max(0);
                    self.wait_seconds.observe(waited_ms as f64 / 1000.0);
                }
            }
            if matches!(lock_line::lock_node(name), Some((LockNode::Exclusive, _))) {
                break;
            }
        }
    }
}

/// Whom a contender named `name` waits for (the recipes' rule).
fn blocked_by(name: &str) -> &'static [LockNode] {
    match lock_line::lock_node(name) {
        Some((LockNode::Shared, _)) => lock_line::SHARED_BLOCKED_BY,
        _ => lock_line::EXCLUSIVE_BLOCKED_BY,
    }
}

/// The child names of `dir`, or `None` when it is gone or its line is too
/// long to measure.
fn line(sm: &StateMachine, dir: &str) -> Option<Vec<String>> {
    let node = sm.tree().node(dir)?;
    if node.num_children() > MAX_MEASURED_LINE {
        return None;
    }
    Some(
        node.child_paths()
            .map(|p| coord_proto::name(p).to_string())
            .collect(),
    )
}

/// (parent, name) of a path other than the root.
fn split(path: &str) -> Option<(&str, &str)> {
    Some((coord_proto::parent(path)?, coord_proto::name(path)))
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn paths_split_into_directory_and_name() {
        assert_eq!(split("/a"), Some(("/", "a")));
        assert_eq!(
            split("/locks/x__lock__0000000001"),
            Some(("/locks", "x__lock__0000000001"))
        );
        assert_eq!(split("/"), None);
    }
}
