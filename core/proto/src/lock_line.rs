//! The lock line: how locks, read-write locks and elections name their
//! nodes under a directory, how those nodes are ordered, and who among them
//! holds. Kazoo's names and rules exactly: a contender is a child whose name
//! ends in `__lock__` or `__rlock__` and ten digits; an exclusive node waits
//! for the nearest contender of either kind ahead, a reader for the nearest
//! `__lock__` ahead; other children are ignored.
//!
//! Pure logic shared by the client's recipes (which decide "do I hold it /
//! whom do I watch" with it) and the server's dashboard (which shows the
//! lines with the recipes' own hold rule). No I/O, no tree, no session here.
//!
//! Semaphores share the shape but not the names: a lease node is
//! `<owner>-lease-NNNNNNNNNN` and the first N by sequence hold, N being the
//! count the first user wrote into the semaphore's own data
//! ([`line_of_dir`] reads it).

use crate::Stat;
use crate::sequence::{SEQUENCE_DIGITS, sequence_of};

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

/// Marker of exclusive lock nodes, `<owner>__lock__NNNNNNNNNN`: the node name
/// of kazoo's `Lock` and `WriteLock` (and so of its `Election`), used by
/// the client's `Lock`, the write side of its `RwLock` and its
/// `Election`.
pub const LOCK_MARKER: &str = "__lock__";
/// Marker of shared lock nodes, `<owner>__rlock__NNNNNNNNNN`: kazoo's
/// `ReadLock`, and the read side of the client's `RwLock`.
pub const READ_LOCK_MARKER: &str = "__rlock__";
/// Marker of semaphore lease nodes, `<owner>-lease-NNNNNNNNNN` (the
/// client's `Semaphore`; the number of leases is the directory's data).
pub const LEASE_MARKER: &str = "-lease-";

/// The two kinds of node in a lock's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockNode {
    /// `…__lock__NNNNNNNNNN`: a mutex, a writer or an election candidate.
    Exclusive,
    /// `…__rlock__NNNNNNNNNN`: a reader.
    Shared,
    /// `…-lease-NNNNNNNNNN`: a semaphore lease. [`lock_node`] never returns
    /// it (it follows kazoo's lock pattern only); see [`lease_node`].
    Lease,
}

impl LockNode {
    /// The kind's name where people read it (CLI, dashboard, bindings):
    /// `exclusive`, `shared` or `lease`.
    pub fn as_str(self) -> &'static str {
        match self {
            LockNode::Exclusive => "exclusive",
            LockNode::Shared => "shared",
            LockNode::Lease => "lease",
        }
    }
}

/// What a child of a lock path is in its line: kazoo's contender pattern
/// `(?:__lock__|__rlock__)(\d{10})$`, read with the ten-digit suffix rule.
/// Any other name (another recipe's node, a stray child) is no contender and
/// is ignored, as kazoo ignores it. The two markers cannot be confused:
/// `__rlock__` does not end in `__lock__`.
pub fn lock_node(name: &str) -> Option<(LockNode, i64)> {
    let seq = sequence_of(name)?;
    let head = &name[..name.len() - SEQUENCE_DIGITS];
    if head.ends_with(LOCK_MARKER) {
        Some((LockNode::Exclusive, seq))
    } else if head.ends_with(READ_LOCK_MARKER) {
        Some((LockNode::Shared, seq))
    } else {
        None
    }
}

/// The sequence of a semaphore's lease node `<owner>-lease-NNNNNNNNNN`;
/// `None` for any other name.
pub fn lease_node(name: &str) -> Option<i64> {
    let seq = sequence_of(name)?;
    name[..name.len() - SEQUENCE_DIGITS]
        .ends_with(LEASE_MARKER)
        .then_some(seq)
}

/// The number of leases a semaphore's directory records in its data (a
/// decimal count of at least 1, as the client's `Semaphore` writes it);
/// `None` when the data is anything else.
pub fn leases_in(dir_data: &[u8]) -> Option<usize> {
    let n: usize = std::str::from_utf8(dir_data).ok()?.trim().parse().ok()?;
    (n >= 1).then_some(n)
}

/// The contenders among `children` whose kind is in `kinds`, sorted by
/// sequence (kazoo's order: it sorts by the ten digits, which is the same).
pub fn lock_line<'a>(children: &'a [String], kinds: &[LockNode]) -> Vec<(i64, &'a str)> {
    let mut v: Vec<(i64, &str)> = children
        .iter()
        .filter_map(|c| match lock_node(c) {
            Some((kind, seq)) if kinds.contains(&kind) => Some((seq, c.as_str())),
            _ => None,
        })
        .collect();
    v.sort_unstable();
    v
}

/// Kazoo's predecessor rule: `ours` holds when no contender of a kind in
/// `blocked_by` has a lower sequence; otherwise it watches the one with the
/// highest sequence below ours (the nearest blocker ahead). Everything else
/// (contenders of other kinds, non-contenders) is ignored.
pub fn decide_lock(children: &[String], ours: &str, blocked_by: &[LockNode]) -> Decision {
    let Some(seq) = sequence_of(ours).filter(|_| children.iter().any(|c| c == ours)) else {
        return Decision::Missing;
    };
    let ahead = children
        .iter()
        .filter_map(|c| match lock_node(c) {
            Some((kind, s)) if s < seq && blocked_by.contains(&kind) => Some((s, c.as_str())),
            _ => None,
        })
        .max();
    match ahead {
        None => Decision::Acquired,
        Some((_, name)) => Decision::Watch(name.to_string()),
    }
}

/// Whom a node of our role must wait for: an exclusive holder (kazoo's
/// `WriteLock`) for every contender ahead, a reader only for exclusive ones.
/// coord's `Lock` is exclusive in this sense too: kazoo's `Lock` and
/// `WriteLock` create the same names, so waiting for readers as well is the
/// choice that excludes both.
pub const EXCLUSIVE_BLOCKED_BY: &[LockNode] = &[LockNode::Exclusive, LockNode::Shared];
/// See [`EXCLUSIVE_BLOCKED_BY`]: a reader waits only for exclusive nodes.
pub const SHARED_BLOCKED_BY: &[LockNode] = &[LockNode::Exclusive];
/// An election candidate follows kazoo's `Election` (a kazoo `Lock`), which
/// sees only `__lock__` nodes, so every client agrees on who leads.
pub const CANDIDATE_BLOCKED_BY: &[LockNode] = &[LockNode::Exclusive];

/// One node in a lock's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contender {
    /// The node's name (`<owner>__lock__NNNNNNNNNN` or `…__rlock__…`).
    pub node: String,
    /// The owner id the name starts with.
    pub owner: String,
    /// Exclusive (a mutex, a writer, an election candidate) or shared (a reader).
    pub kind: LockNode,
    /// The session holding the node (its ephemeral owner).
    pub session: u64,
    /// The fencing token a holder got: the node's czxid.
    pub token: u64,
    /// When the node was created (joined the line), ms since the epoch
    /// (the leader's clock).
    pub since_ms: i64,
}

/// A lock's line at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// The lock's path.
    pub path: String,
    /// Who holds it: one exclusive holder, or any number of readers.
    pub holders: Vec<Contender>,
    /// Who waits, in line order.
    pub waiters: Vec<Contender>,
}

/// Whether any of `children` is a semaphore lease node: then the
/// directory's data is needed ([`line_of_dir`]) to tell holders from waiters.
pub fn has_leases(children: &[(String, Stat)]) -> bool {
    children.iter().any(|(name, _)| lease_node(name).is_some())
}

/// [`line_of`], plus a semaphore's leases when the directory's data
/// records its count ([`leases_in`]): the first N lease nodes by sequence
/// hold, the others wait in order. Lease nodes under a directory whose data
/// is no count are shown as waiters (nobody can tell who holds).
pub fn line_of_dir(path: &str, dir_data: &[u8], children: &[(String, Stat)]) -> LockInfo {
    let mut info = line_of(path, children);
    let mut leases: Vec<(i64, Contender)> = children
        .iter()
        .filter_map(|(name, stat)| {
            let seq = lease_node(name)?;
            let owner = name[..name.len() - SEQUENCE_DIGITS - LEASE_MARKER.len()].to_string();
            Some((seq, contender(name, owner, LockNode::Lease, stat)))
        })
        .collect();
    leases.sort_by_key(|(seq, _)| *seq);
    let slots = leases_in(dir_data).unwrap_or(0);
    for (i, (_, c)) in leases.into_iter().enumerate() {
        if i < slots {
            info.holders.push(c);
        } else {
            info.waiters.push(c);
        }
    }
    info
}

fn contender(name: &str, owner: String, kind: LockNode, stat: &Stat) -> Contender {
    Contender {
        node: name.to_string(),
        owner,
        kind,
        session: stat.ephemeral_owner,
        token: stat.czxid,
        since_ms: stat.ctime,
    }
}

/// Splits `children` (names with stats) into holders and waiters (locks,
/// read-write locks, elections; semaphores need [`line_of_dir`]).
pub fn line_of(path: &str, children: &[(String, Stat)]) -> LockInfo {
    let names: Vec<String> = children.iter().map(|(n, _)| n.clone()).collect();
    let mut line: Vec<(i64, Contender)> = children
        .iter()
        .filter_map(|(name, stat)| {
            let (kind, seq) = lock_node(name)?;
            let marker = match kind {
                LockNode::Exclusive => LOCK_MARKER,
                LockNode::Shared => READ_LOCK_MARKER,
                LockNode::Lease => LEASE_MARKER,
            };
            let owner = name[..name.len() - SEQUENCE_DIGITS - marker.len()].to_string();
            Some((seq, contender(name, owner, kind, stat)))
        })
        .collect();
    line.sort_by_key(|(seq, _)| *seq);
    let mut info = LockInfo {
        path: path.to_string(),
        holders: Vec::new(),
        waiters: Vec::new(),
    };
    for (_, c) in line {
        let blocked_by = match c.kind {
            LockNode::Shared => SHARED_BLOCKED_BY,
            LockNode::Exclusive | LockNode::Lease => EXCLUSIVE_BLOCKED_BY,
        };
        if decide_lock(&names, &c.node, blocked_by) == Decision::Acquired {
            info.holders.push(c);
        } else {
            info.waiters.push(c);
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sequence_is_read_from_the_ten_digit_suffix() {
        assert_eq!(sequence_of("abc__lock__0000000042"), Some(42));
        assert_eq!(sequence_of("0000000000"), Some(0));
        assert_eq!(sequence_of("lock-42"), None);
        assert_eq!(sequence_of("x__lock__00000000a1"), None);
    }

    #[test]
    fn lowest_sequence_holds_regardless_of_name_order() {
        // uuids sort differently from sequence numbers: order must follow the suffix.
        let kids = names(&[
            "ffff__lock__0000000003",
            "0000__lock__0000000007",
            "aaaa__lock__0000000001",
        ]);
        assert_eq!(
            decide_lock(&kids, "aaaa__lock__0000000001", EXCLUSIVE_BLOCKED_BY),
            Decision::Acquired
        );
        assert_eq!(
            decide_lock(&kids, "0000__lock__0000000007", EXCLUSIVE_BLOCKED_BY),
            Decision::Watch("ffff__lock__0000000003".into())
        );
        assert_eq!(
            decide_lock(&kids, "ffff__lock__0000000003", EXCLUSIVE_BLOCKED_BY),
            Decision::Watch("aaaa__lock__0000000001".into())
        );
    }

    #[test]
    fn each_waiter_watches_a_different_node_so_no_herd() {
        let kids: Vec<String> = (0..50).map(|i| format!("u{i}__lock__{i:010}")).collect();
        let mut watched = std::collections::HashSet::new();
        for k in &kids[1..] {
            match decide_lock(&kids, k, EXCLUSIVE_BLOCKED_BY) {
                Decision::Watch(p) => assert!(watched.insert(p), "two waiters watch one node"),
                other => panic!("{k} should wait, got {other:?}"),
            }
        }
        assert_eq!(watched.len(), 49);
    }

    #[test]
    fn missing_own_node_is_reported() {
        let kids = names(&["a__lock__0000000001"]);
        assert_eq!(
            decide_lock(&kids, "b__lock__0000000002", EXCLUSIVE_BLOCKED_BY),
            Decision::Missing
        );
    }

    // kazoo's names: `uuid4().hex` (32 hex digits), the marker, the sequence.
    const KAZOO_W: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0__lock__0000000001";
    const KAZOO_R: &str = "00112233445566778899aabbccddeeff__rlock__0000000003";
    // coord's names: a UUID with dashes, the marker, the sequence.
    const COORD_R: &str = "6f0c1a52-8d3e-4b7a-9c21-0e5f4d3c2b1a__rlock__0000000002";
    const COORD_W: &str = "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b__lock__0000000004";

    #[test]
    fn a_coord_mutex_waits_for_a_kazoo_lock_ahead() {
        let kids = names(&[
            COORD_W,
            "9a8b7c6d5e4f30211203f4e5d6c7b8a9__lock__0000000000",
        ]);
        assert_eq!(
            decide_lock(&kids, COORD_W, EXCLUSIVE_BLOCKED_BY),
            Decision::Watch("9a8b7c6d5e4f30211203f4e5d6c7b8a9__lock__0000000000".into())
        );
        assert_eq!(
            decide_lock(
                &kids,
                "9a8b7c6d5e4f30211203f4e5d6c7b8a9__lock__0000000000",
                EXCLUSIVE_BLOCKED_BY
            ),
            Decision::Acquired
        );
    }

    #[test]
    fn election_candidates_see_only_lock_nodes() {
        // kazoo's Election is a kazoo Lock: an `__rlock__` node is no candidate.
        let kids = names(&[KAZOO_R, COORD_W, KAZOO_W]);
        assert_eq!(
            lock_line(&kids, CANDIDATE_BLOCKED_BY),
            vec![(1, KAZOO_W), (4, COORD_W)]
        );
        assert_eq!(
            decide_lock(&kids, COORD_W, CANDIDATE_BLOCKED_BY),
            Decision::Watch(KAZOO_W.into())
        );
    }

    #[test]
    fn a_mixed_kazoo_and_coord_line_shows_one_writer_holding() {
        let children: Vec<(String, Stat)> = [COORD_W, KAZOO_R, COORD_R, KAZOO_W]
            .iter()
            .map(|n| (n.to_string(), Stat::default()))
            .collect();
        let info = line_of("/mixed", &children);
        let holders: Vec<&str> = info.holders.iter().map(|c| c.node.as_str()).collect();
        assert_eq!(holders, [KAZOO_W]);
        let waiting: Vec<&str> = info.waiters.iter().map(|c| c.node.as_str()).collect();
        assert_eq!(waiting, [COORD_R, KAZOO_R, COORD_W]);
        assert_eq!(
            info.waiters[0].owner,
            "6f0c1a52-8d3e-4b7a-9c21-0e5f4d3c2b1a"
        );
    }

    #[test]
    fn markers_are_told_apart() {
        assert_eq!(
            lock_node("a__rlock__0000000007"),
            Some((LockNode::Shared, 7))
        );
        assert_eq!(
            lock_node("a__lock__0000000007"),
            Some((LockNode::Exclusive, 7))
        );
        assert_eq!(lock_node("a__lock__"), None);
        assert_eq!(
            lock_node("__lock__0000000007"),
            Some((LockNode::Exclusive, 7))
        );
    }

    fn stat(czxid: u64, session: u64) -> Stat {
        Stat {
            czxid,
            ephemeral_owner: session,
            ctime: 1000 + czxid as i64,
            ..Stat::default()
        }
    }

    #[test]
    fn the_first_exclusive_holds_and_the_rest_wait_in_sequence_order() {
        let children = vec![
            ("b__lock__0000000002".to_string(), stat(12, 2)),
            ("stray".to_string(), stat(9, 0)),
            ("a__lock__0000000001".to_string(), stat(11, 1)),
            ("c__rlock__0000000003".to_string(), stat(13, 3)),
        ];
        let info = line_of("/l", &children);
        assert_eq!(info.holders.len(), 1);
        assert_eq!(info.holders[0].owner, "a");
        assert_eq!(info.holders[0].token, 11);
        assert_eq!(info.holders[0].session, 1);
        let waiting: Vec<&str> = info.waiters.iter().map(|w| w.owner.as_str()).collect();
        assert_eq!(waiting, ["b", "c"]);
    }

    #[test]
    fn readers_ahead_of_any_writer_hold_together() {
        let children = vec![
            ("r1__rlock__0000000001".to_string(), stat(1, 1)),
            ("r2__rlock__0000000002".to_string(), stat(2, 2)),
            ("w__lock__0000000003".to_string(), stat(3, 3)),
            ("r3__rlock__0000000004".to_string(), stat(4, 4)),
        ];
        let info = line_of("/rw", &children);
        let holders: Vec<&str> = info.holders.iter().map(|h| h.owner.as_str()).collect();
        assert_eq!(holders, ["r1", "r2"]);
        let waiting: Vec<&str> = info.waiters.iter().map(|w| w.owner.as_str()).collect();
        assert_eq!(waiting, ["w", "r3"]);
        assert_eq!(info.holders[0].kind, LockNode::Shared);
    }

    #[test]
    fn a_semaphores_first_n_leases_hold_and_the_rest_wait() {
        let children = vec![
            ("c-lease-0000000003".to_string(), stat(23, 3)),
            ("a-lease-0000000001".to_string(), stat(21, 1)),
            ("stray".to_string(), stat(9, 0)),
            ("b-lease-0000000002".to_string(), stat(22, 2)),
        ];
        assert!(has_leases(&children));
        let info = line_of_dir("/s", b"2", &children);
        let holders: Vec<&str> = info.holders.iter().map(|c| c.owner.as_str()).collect();
        let waiters: Vec<&str> = info.waiters.iter().map(|c| c.owner.as_str()).collect();
        assert_eq!((holders, waiters), (vec!["a", "b"], vec!["c"]));
        assert!(info.holders.iter().all(|c| c.kind == LockNode::Lease));
        assert_eq!((info.holders[1].token, info.holders[1].session), (22, 2));
        // The plain lock view does not see leases; no count: nobody holds.
        assert!(line_of("/s", &children).holders.is_empty());
        assert_eq!(line_of_dir("/s", b"", &children).waiters.len(), 3);
    }

    #[test]
    fn lease_names_and_counts_are_read_strictly() {
        assert_eq!(lease_node("x-lease-0000000004"), Some(4));
        assert_eq!(lease_node("x__lock__0000000004"), None);
        assert_eq!(lock_node("x-lease-0000000004"), None);
        assert_eq!(lease_node("x-lease-4"), None);
        assert_eq!(leases_in(b"3"), Some(3));
        assert_eq!(leases_in(b"0"), None);
        assert_eq!(leases_in(b"three"), None);
        assert!(!has_leases(&[(
            "a__lock__0000000001".to_string(),
            Stat::default()
        )]));
    }
}
