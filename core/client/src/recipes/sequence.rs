//! The pure part of every queue-shaped recipe: reading the sequence suffix the
//! server appends to sequential nodes, ordering children by it, and deciding
//! "do I hold it / whom do I watch". No I/O here; all of it is unit-tested
//! without a server.

pub use coord_proto::sequence::{SEQUENCE_DIGITS, predecessor, sequence_of, sorted_by_sequence};

/// Outcome of looking at the sorted children for a queue-shaped recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// We hold it (we are among the first `slots`).
    Acquired,
    /// Not yet: watch this sibling (our immediate predecessor in line) and look
    /// again when it goes.
    Watch(String),
    /// Our own node is not among the children (it was deleted: lost).
    Missing,
}

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

/// The read-write decision. Readers hold unless a writer is ahead of them and
/// then watch the last writer ahead; writers hold only when first and watch
/// their immediate predecessor (reader or writer), so writers are never starved
/// and every release wakes only the nodes that can now proceed.
pub fn decide_rw(children: &[String], ours: &str) -> Decision {
    let line = sorted_by_sequence(children, "");
    let line: Vec<&str> = line
        .into_iter()
        .map(|(_, n)| n)
        .filter(|n| is_read_node(n) || is_write_node(n))
        .collect();
    let Some(pos) = line.iter().position(|n| *n == ours) else {
        return Decision::Missing;
    };
    if is_read_node(ours) {
        match line[..pos].iter().rev().find(|n| is_write_node(n)) {
            None => Decision::Acquired,
            Some(w) => Decision::Watch((*w).to_string()),
        }
    } else if pos == 0 {
        Decision::Acquired
    } else {
        Decision::Watch(line[pos - 1].to_string())
    }
}

/// Marker of read-lock nodes.
pub const READ_MARKER: &str = "-read-";
/// Marker of write-lock nodes.
pub const WRITE_MARKER: &str = "-write-";

fn is_read_node(n: &str) -> bool {
    n.contains(READ_MARKER)
}

fn is_write_node(n: &str) -> bool {
    n.contains(WRITE_MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sequence_is_read_from_the_ten_digit_suffix() {
        assert_eq!(sequence_of("abc-lock-0000000042"), Some(42));
        assert_eq!(sequence_of("0000000000"), Some(0));
        assert_eq!(sequence_of("lock-42"), None);
        assert_eq!(sequence_of("x-lock-00000000a1"), None);
    }

    #[test]
    fn lowest_sequence_holds_regardless_of_name_order() {
        // uuids sort differently from sequence numbers: order must follow the suffix.
        let kids = names(&[
            "ffff-lock-0000000003",
            "0000-lock-0000000007",
            "aaaa-lock-0000000001",
        ]);
        assert_eq!(
            decide(&kids, "-lock-", "aaaa-lock-0000000001", 1),
            Decision::Acquired
        );
        assert_eq!(
            decide(&kids, "-lock-", "0000-lock-0000000007", 1),
            Decision::Watch("ffff-lock-0000000003".into())
        );
        assert_eq!(
            decide(&kids, "-lock-", "ffff-lock-0000000003", 1),
            Decision::Watch("aaaa-lock-0000000001".into())
        );
    }

    #[test]
    fn each_waiter_watches_a_different_node_so_no_herd() {
        let kids: Vec<String> = (0..50).map(|i| format!("u{i}-lock-{i:010}")).collect();
        let mut watched = std::collections::HashSet::new();
        for k in &kids[1..] {
            match decide(&kids, "-lock-", k, 1) {
                Decision::Watch(p) => assert!(watched.insert(p), "two waiters watch one node"),
                other => panic!("{k} should wait, got {other:?}"),
            }
        }
        assert_eq!(watched.len(), 49);
    }

    #[test]
    fn missing_own_node_is_reported() {
        let kids = names(&["a-lock-0000000001"]);
        assert_eq!(
            decide(&kids, "-lock-", "b-lock-0000000002", 1),
            Decision::Missing
        );
    }

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
            "a-read-0000000001",
            "b-read-0000000002",
            "c-write-0000000003",
            "d-read-0000000004",
            "e-write-0000000005",
        ]);
        assert_eq!(decide_rw(&kids, "a-read-0000000001"), Decision::Acquired);
        assert_eq!(decide_rw(&kids, "b-read-0000000002"), Decision::Acquired);
        // The writer waits for its immediate predecessor only.
        assert_eq!(
            decide_rw(&kids, "c-write-0000000003"),
            Decision::Watch("b-read-0000000002".into())
        );
        // A reader behind a writer waits for that writer: writers are not starved.
        assert_eq!(
            decide_rw(&kids, "d-read-0000000004"),
            Decision::Watch("c-write-0000000003".into())
        );
        assert_eq!(
            decide_rw(&kids, "e-write-0000000005"),
            Decision::Watch("d-read-0000000004".into())
        );
    }

    #[test]
    fn predecessor_is_the_previous_in_sequence() {
        let kids = names(&[
            "z-lock-0000000002",
            "a-lock-0000000009",
            "m-lock-0000000001",
        ]);
        assert_eq!(
            predecessor(&kids, "-lock-", "a-lock-0000000009"),
            Some("z-lock-0000000002")
        );
        assert_eq!(predecessor(&kids, "-lock-", "m-lock-0000000001"), None);
    }
}
