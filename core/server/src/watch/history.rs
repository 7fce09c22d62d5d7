//! The bounded, in-memory history of applied watch events that lets a
//! reconnecting client get every event it missed (etcd resumes watches from a
//! revision the same way).
//!
//! Filled by the registry with every event apply produces, also while the log
//! is replayed at start, so after a restart it covers everything since the
//! last snapshot (until the bound evicts it). It knows a `floor`: every event
//! with a zxid above it is retained. Every recorded event also gets a sequence
//! number, counted since start and never reused (not even across a reset), so
//! a re-registration that runs in several steps can tell which events it has
//! seen and whether any it had not seen yet were evicted. It does not route
//! and does not touch the tree; [`super::WatchRegistry`] asks it for the
//! events after a zxid or a sequence number.

use std::collections::VecDeque;

use crate::state_machine::WatchEvent;

/// Default bound of the history, in bytes (`--watch-history-bytes`).
pub const DEFAULT_WATCH_HISTORY_BYTES: usize = 16 * 1024 * 1024;

/// What one retained event is charged besides its path: the event itself and
/// the queue slot, rounded up.
const EVENT_OVERHEAD_BYTES: usize = 64;

/// Retained events, oldest first, and what is known about the ones dropped.
#[derive(Debug)]
pub(crate) struct History {
    events: VecDeque<WatchEvent>,
    bytes: usize,
    limit: usize,
    /// Every event with a zxid above this is retained. `None` until the first
    /// event since start or reset: then nothing was recorded, and the state's
    /// own zxid is the floor (see [`History::floor`]).
    floor: Option<u64>,
    /// Sequence number of `events[0]` (of the next event when empty).
    first_seq: u64,
}

fn cost(e: &WatchEvent) -> usize {
    e.path.len() + EVENT_OVERHEAD_BYTES
}

impl History {
    /// An empty history holding at most `limit` bytes of events.
    pub(crate) fn new(limit: usize) -> Self {
        History {
            events: VecDeque::new(),
            bytes: 0,
            limit,
            floor: None,
            first_seq: 0,
        }
    }

    /// Appends the events of one applied command (all with the same zxid),
    /// evicting the oldest ones beyond the bound.
    pub(crate) fn record(&mut self, events: impl IntoIterator<Item = WatchEvent>) {
        let mut events = events.into_iter().peekable();
        let Some(first) = events.peek() else {
            return;
        };
        // Every apply since start or reset reached the registry, and zxids
        // have no gaps: nothing above `zxid - 1` was missed.
        self.floor.get_or_insert(first.zxid.saturating_sub(1));
        for e in events {
            self.bytes += cost(&e);
            self.events.push_back(e);
        }
        while self.bytes > self.limit {
            let Some(old) = self.events.pop_front() else {
                break;
            };
            self.bytes -= cost(&old);
            self.first_seq += 1;
            // Other events of the same zxid may remain: the floor says only
            // that those above `old.zxid` are all here.
            self.floor = Some(self.floor.map_or(old.zxid, |f| f.max(old.zxid)));
        }
    }

    /// Forgets everything: the state was replaced (a snapshot was installed).
    pub(crate) fn reset(&mut self) {
        self.first_seq = self.next_seq();
        self.events.clear();
        self.bytes = 0;
        self.floor = None;
    }

    /// The zxid above which every event is retained; `state_zxid` (the
    /// state's applied zxid) when nothing was recorded since start or reset.
    pub(crate) fn floor(&self, state_zxid: u64) -> u64 {
        self.floor.unwrap_or(state_zxid)
    }

    /// The retained events with a zxid above `zxid`, oldest first.
    #[cfg(test)]
    pub(crate) fn after(&self, zxid: u64) -> impl Iterator<Item = &WatchEvent> {
        let start = self.events.partition_point(|e| e.zxid <= zxid);
        self.events.range(start..)
    }

    /// Sequence number of the oldest retained event (of the next one when
    /// nothing is retained).
    pub(crate) fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Sequence number the next recorded event will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.first_seq + self.events.len() as u64
    }

    /// Sequence number of the first retained event with a zxid above `zxid`
    /// ([`History::next_seq`] when there is none).
    pub(crate) fn seq_after(&self, zxid: u64) -> u64 {
        self.first_seq + self.events.partition_point(|e| e.zxid <= zxid) as u64
    }

    /// The retained events from sequence number `seq` on, oldest first, with
    /// their sequence numbers.
    pub(crate) fn since(&self, seq: u64) -> impl Iterator<Item = (u64, &WatchEvent)> {
        let start = seq
            .saturating_sub(self.first_seq)
            .min(self.events.len() as u64) as usize;
        self.events
            .range(start..)
            .enumerate()
            .map(move |(i, e)| (self.first_seq + (start + i) as u64, e))
    }

    /// Bytes charged for the retained events.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_machine::EventType;

    fn ev(zxid: u64, path: &str) -> WatchEvent {
        WatchEvent {
            kind: EventType::NodeDataChanged,
            path: path.into(),
            zxid,
        }
    }

    fn zxids(h: &History, after: u64) -> Vec<u64> {
        h.after(after).map(|e| e.zxid).collect()
    }

    #[test]
    fn floor_is_the_state_zxid_until_something_is_recorded() {
        let mut h = History::new(1 << 20);
        assert_eq!(h.floor(7), 7);
        h.record([ev(9, "/a"), ev(9, "/")]);
        assert_eq!(h.floor(12), 8, "commands since start were all seen");
        assert_eq!(zxids(&h, 8), [9, 9]);
        assert!(zxids(&h, 9).is_empty());
    }

    #[test]
    fn eviction_raises_the_floor_to_the_newest_evicted_zxid() {
        let one = cost(&ev(1, "/a"));
        let mut h = History::new(2 * one);
        for z in 1..=4 {
            h.record([ev(z, "/a")]);
        }
        assert_eq!(h.bytes(), 2 * one);
        assert_eq!(h.floor(4), 2);
        assert_eq!(zxids(&h, 0), [3, 4]);
        assert_eq!(zxids(&h, 3), [4]);
    }

    #[test]
    fn partly_evicted_zxid_counts_as_lost() {
        let one = cost(&ev(1, "/a"));
        let mut h = History::new(one);
        h.record([ev(5, "/a"), ev(5, "/b")]);
        assert_eq!(h.floor(5), 5, "one event of zxid 5 is gone");
        assert_eq!(zxids(&h, 4), [5]);
    }

    #[test]
    fn sequence_numbers_survive_eviction_and_reset() {
        let one = cost(&ev(1, "/a"));
        let mut h = History::new(2 * one);
        for z in 1..=4 {
            h.record([ev(z, "/a")]);
        }
        assert_eq!((h.first_seq(), h.next_seq()), (2, 4));
        let seqs: Vec<(u64, u64)> = h.since(0).map(|(s, e)| (s, e.zxid)).collect();
        assert_eq!(seqs, [(2, 3), (3, 4)]);
        assert_eq!(h.since(3).count(), 1);
        assert_eq!(h.seq_after(3), 3);
        assert_eq!(h.seq_after(9), 4);
        h.reset();
        assert_eq!((h.first_seq(), h.next_seq()), (4, 4));
        h.record([ev(5, "/a")]);
        assert_eq!(h.since(0).map(|(s, _)| s).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn zero_limit_retains_nothing_and_reset_forgets() {
        let mut h = History::new(0);
        h.record([ev(3, "/a")]);
        assert_eq!(h.floor(3), 3);
        assert!(zxids(&h, 0).is_empty());
        h.reset();
        assert_eq!(h.floor(10), 10);
    }
}
