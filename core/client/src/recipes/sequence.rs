//! The pure part of every queue-shaped recipe: reading the sequence suffix the
//! server appends to sequential nodes, ordering children by it, and deciding
//! "do I hold it / whom do I watch". No I/O here; all of it is unit-tested
//! without a server.
//!
//! Locks, read-write locks and elections follow kazoo's node names and line
//! rules exactly ([`lock_node`], [`decide_lock`], which live in
//! [`coord_proto::lock_line`] so the server shows lines with the same rule), so that coord and
//! ZooKeeper clients using kazoo's recipes can share a path: a contender is a
//! child whose name ends in `__lock__` or `__rlock__` and ten digits; an
//! exclusive node waits for the nearest contender of either kind ahead, a
//! reader for the nearest `__lock__` ahead; other children are ignored.

pub use coord_proto::lock_line::{
    CANDIDATE_BLOCKED_BY, Decision, EXCLUSIVE_BLOCKED_BY, LOCK_MARKER, LockNode, READ_LOCK_MARKER,
    SHARED_BLOCKED_BY, decide_lock, lock_line, lock_node,
};
pub use coord_proto::sequence::{SEQUENCE_DIGITS, predecessor, sequence_of, sorted_by_sequence};

/// The mutex / semaphore decision: `ours` holds if fewer than `slots` nodes are
/// ahead of it; otherwise it watches only the node `slots` places ahead, so a
/// release wakes exactly one waiter (no herd).
pub fn decide(children: &[String], marker: &str, ours: &str, slots: usize) -> Decision {
    let line = sorted_by_sequence(children, marker);
    let Some(pos) = line.iter().position(|(_, name)| *name == ours) else {
        return Decision::Missing;
    };
    let slots = slots.max(1);
    if pos < slots {
        Decision::Acquired
    } else {
        Decision::Watch(line[pos - slots].1.to_string())
    }
}

/// The read-write decision, from our own node's kind. Readers hold unless an
/// exclusive node is ahead of them and then watch the last one ahead; writers
/// (and mutex holders) hold only when first and watch their immediate
/// predecessor (reader or writer), so writers are never starved and every
/// release wakes only the nodes that can now proceed.
pub fn decide_rw(children: &[String], ours: &str) -> Decision {
    match lock_node(ours) {
        Some((LockNode::Shared, _)) => decide_lock(children, ours, SHARED_BLOCKED_BY),
        _ => decide_lock(children, ours, EXCLUSIVE_BLOCKED_BY),
    }
}

/// The first decision from the predecessor a create reported (the sibling
/// with the highest sequence below ours among *all* children with a sequence
/// suffix, whatever their names), when it is enough; `None` when the
/// children must be listed. Nobody ahead means no contender is ahead either;
/// a reported sibling of a kind that blocks us is the nearest blocker ahead;
/// any other sibling (a reader ahead of a reader, a non-contender) says
/// nothing about the blockers further ahead.
pub fn first_decision(ahead: Option<&str>, blocked_by: &[LockNode]) -> Option<Decision> {
    match ahead {
        None => Some(Decision::Acquired),
        Some(name) => match lock_node(name) {
            Some((kind, _)) if blocked_by.contains(&kind) => {
                Some(Decision::Watch(name.to_string()))
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    // kazoo's names: `uuid4().hex` (32 hex digits), the marker, the sequence.
    const KAZOO_W: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0__lock__0000000001";
    const KAZOO_R: &str = "00112233445566778899aabbccddeeff__rlock__0000000003";
    // coord's names: a UUID with dashes, the marker, the sequence.
    const COORD_R: &str = "6f0c1a52-8d3e-4b7a-9c21-0e5f4d3c2b1a__rlock__0000000002";
    const COORD_W: &str = "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b__lock__0000000004";

    #[test]
    fn semaphore_holds_within_slots_and_watches_slots_ahead() {
        let kids: Vec<String> = (0..5).map(|i| format!("u{i}-lease-{i:010}")).collect();
        assert_eq!(decide(&kids, "-lease-", &kids[2], 3), Decision::Acquired);
        assert_eq!(
            decide(&kids, "-lease-", &kids[4], 3),
            Decision::Watch(kids[1].clone())
        );
    }

    #[test]
    fn readers_share_until_a_writer_is_ahead() {
        let kids = names(&[
            "a__rlock__0000000001",
            "b__rlock__0000000002",
            "c__lock__0000000003",
            "d__rlock__0000000004",
            "e__lock__0000000005",
        ]);
        assert_eq!(decide_rw(&kids, "a__rlock__0000000001"), Decision::Acquired);
        assert_eq!(decide_rw(&kids, "b__rlock__0000000002"), Decision::Acquired);
        // The writer waits for its immediate predecessor only.
        assert_eq!(
            decide_rw(&kids, "c__lock__0000000003"),
            Decision::Watch("b__rlock__0000000002".into())
        );
        // A reader behind a writer waits for that writer: writers are not starved.
        assert_eq!(
            decide_rw(&kids, "d__rlock__0000000004"),
            Decision::Watch("c__lock__0000000003".into())
        );
        assert_eq!(
            decide_rw(&kids, "e__lock__0000000005"),
            Decision::Watch("d__rlock__0000000004".into())
        );
    }

    #[test]
    fn mixed_readers_and_writers_wait_as_kazoo_waits() {
        // kazoo writer, coord reader, kazoo reader, coord writer.
        let kids = names(&[COORD_W, KAZOO_R, COORD_R, KAZOO_W]);
        // Both readers wait for the kazoo writer (the only `__lock__` ahead).
        assert_eq!(decide_rw(&kids, COORD_R), Decision::Watch(KAZOO_W.into()));
        assert_eq!(decide_rw(&kids, KAZOO_R), Decision::Watch(KAZOO_W.into()));
        // The coord writer waits for the nearest reader ahead, kazoo's one.
        assert_eq!(decide_rw(&kids, COORD_W), Decision::Watch(KAZOO_R.into()));
        assert_eq!(decide_rw(&kids, KAZOO_W), Decision::Acquired);
        // With the writer gone the readers share, the coord writer still waits.
        let kids = names(&[COORD_W, KAZOO_R, COORD_R]);
        assert_eq!(decide_rw(&kids, COORD_R), Decision::Acquired);
        assert_eq!(decide_rw(&kids, KAZOO_R), Decision::Acquired);
        assert_eq!(decide_rw(&kids, COORD_W), Decision::Watch(KAZOO_R.into()));
    }

    #[test]
    fn children_outside_the_contender_pattern_are_ignored() {
        let kids = names(&[
            // Another recipe's node, an old-style name, a marker not at the
            // end, eleven digits, and a bare sequence: none is a contender.
            "x-lease-0000000001",
            "y-lock-0000000002",
            "z__lock__x0000000003",
            "w__lock__00000000004",
            "0000000005",
            COORD_W,
        ]);
        assert_eq!(lock_line(&kids, EXCLUSIVE_BLOCKED_BY), vec![(4, COORD_W)]);
        assert_eq!(decide_rw(&kids, COORD_W), Decision::Acquired);
        assert_eq!(
            decide_lock(&kids, COORD_W, CANDIDATE_BLOCKED_BY),
            Decision::Acquired
        );
    }

    #[test]
    fn the_reported_predecessor_decides_only_when_it_blocks_us() {
        assert_eq!(
            first_decision(None, SHARED_BLOCKED_BY),
            Some(Decision::Acquired)
        );
        // A writer ahead of a reader is the last writer ahead.
        assert_eq!(
            first_decision(Some(KAZOO_W), SHARED_BLOCKED_BY),
            Some(Decision::Watch(KAZOO_W.into()))
        );
        // A kazoo reader just ahead of a reader: a writer may be further ahead.
        assert_eq!(first_decision(Some(KAZOO_R), SHARED_BLOCKED_BY), None);
        // A reader just ahead blocks a writer, but not an election candidate.
        assert_eq!(
            first_decision(Some(KAZOO_R), EXCLUSIVE_BLOCKED_BY),
            Some(Decision::Watch(KAZOO_R.into()))
        );
        assert_eq!(first_decision(Some(KAZOO_R), CANDIDATE_BLOCKED_BY), None);
        // A non-contender just ahead says nothing.
        assert_eq!(
            first_decision(Some("x-lease-0000000001"), EXCLUSIVE_BLOCKED_BY),
            None
        );
    }

    #[test]
    fn missing_lock_node_is_reported() {
        let kids = names(&[KAZOO_W]);
        assert_eq!(decide_rw(&kids, COORD_W), Decision::Missing);
        assert_eq!(decide_rw(&kids, COORD_R), Decision::Missing);
    }

    #[test]
    fn predecessor_is_the_previous_in_sequence() {
        let kids = names(&[
            "z__lock__0000000002",
            "a__lock__0000000009",
            "m__lock__0000000001",
        ]);
        assert_eq!(
            predecessor(&kids, LOCK_MARKER, "a__lock__0000000009"),
            Some("z__lock__0000000002")
        );
        assert_eq!(predecessor(&kids, LOCK_MARKER, "m__lock__0000000001"), None);
    }
}
