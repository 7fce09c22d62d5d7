//! Snapshots and determinism.

use std::io::ErrorKind;

use prost::Message;

use super::super::ReapTarget;
use super::*;
use crate::storage::{self, snapshot_record::Record};

/// A varied, reproducible command list (a fixed LCG, no randomness).
pub(super) fn workload(n: usize) -> Vec<Command> {
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |m: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % m
    };
    let mut cmds = Vec::new();
    for sid in 1..=3u64 {
        cmds.push(CommandKind::CreateSession {
            identities: Vec::new(),
            session_id: sid,
            timeout_ms: 5_000,
            secret: [sid as u8; 16],
        });
    }
    cmds.push(CommandKind::Op(create_op("/d", CreateMode::Container)));
    let modes = [
        CreateMode::Persistent,
        CreateMode::PersistentSequential,
        CreateMode::Ephemeral,
        CreateMode::EphemeralSequential,
        CreateMode::Container,
        CreateMode::PersistentWithTtl(50),
    ];
    for _ in 0..n {
        let path = format!("/d/n{}", next(8));
        let child = format!("{path}/c{}", next(3));
        let kind = match next(8) {
            0 | 1 => CommandKind::Op(create_op(&path, modes[next(6) as usize])),
            2 => CommandKind::Op(create_op(&child, modes[next(6) as usize])),
            3 => CommandKind::Op(delete_op(&path, -1)),
            4 => CommandKind::Op(set_op(&path, b"data", next(3) as i32 - 1)),
            5 if next(2) == 0 => CommandKind::Multi(vec![
                create_op(&path, CreateMode::Persistent),
                set_op(&path, b"m", -1),
                create_op(&child, CreateMode::PersistentSequential),
            ]),
            5 => CommandKind::Multi(vec![check_op(&path, -1), delete_op(&child, -1)]),
            6 if next(2) == 0 => CommandKind::ExpireSessions(vec![next(5)]),
            6 => CommandKind::CreateSession {
                identities: Vec::new(),
                session_id: next(3) + 1,
                timeout_ms: 5_000,
                secret: [9; 16],
            },
            _ => CommandKind::Reap(vec![ReapTarget {
                path,
                czxid: next(40),
            }]),
        };
        cmds.push(kind);
    }
    cmds.into_iter()
        .enumerate()
        .map(|(i, kind)| Command {
            origin: Default::default(),
            session_id: (i as u64 % 4),
            time_ms: 1_000 + 10 * i as i64,
            kind,
        })
        .collect()
}

fn run_all(sm: &mut StateMachine, cmds: &[Command]) -> Vec<(Outcome, Vec<WatchEvent>)> {
    cmds.iter().map(|c| sm.apply(c)).collect()
}

fn snapshot_of(sm: &StateMachine) -> Vec<u8> {
    let mut out = Vec::new();
    sm.write_snapshot_records(&mut out).unwrap();
    out
}

#[test]
fn same_commands_give_the_same_outcomes_events_and_snapshot_bytes() {
    let cmds = workload(600);
    let mut a = StateMachine::new(Limits::default());
    let mut b = StateMachine::new(Limits::default());
    let outcomes = run_all(&mut a, &cmds);
    assert_eq!(outcomes, run_all(&mut b, &cmds));
    assert_eq!(snapshot_of(&a), snapshot_of(&b));
    // The workload really exercises the machine: every event kind, failed
    // commands, applied multis, sessions ending with ephemerals.
    let kinds: std::collections::HashSet<EventType> = outcomes
        .iter()
        .flat_map(|(_, evs)| evs.iter().map(|e| e.kind))
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert!(outcomes.iter().any(|(o, _)| o.result.is_err()));
    let applied_multi = |o: &Outcome| {
        matches!(&o.result, Ok(CommandResult::Multi(r))
            if !r.is_empty() && !r.iter().any(|x| matches!(x, OpResult::Error(_))))
    };
    assert!(outcomes.iter().any(|(o, _)| applied_multi(o)));
    let expired_with_ephemerals = |(o, evs): &(Outcome, Vec<WatchEvent>)| {
        matches!(&o.result, Ok(CommandResult::SessionsExpired(ids)) if !ids.is_empty())
            && !evs.is_empty()
    };
    assert!(outcomes.iter().any(expired_with_ephemerals));
    assert!(a.node_count() > 3, "the workload should leave nodes behind");
}

#[test]
fn a_frozen_state_is_written_as_it_was_while_later_commands_change_the_tree() {
    let cmds = workload(600);
    let (first, rest) = cmds.split_at(300);
    let mut sm = StateMachine::new(Limits::default());
    run_all(&mut sm, first);
    let then = snapshot_of(&sm);
    let frozen = sm.freeze();
    // Taking it copies no node: the tree's map is shared until it changes.
    assert!(frozen.shares_nodes_with(&sm));
    run_all(&mut sm, rest);
    assert!(!frozen.shares_nodes_with(&sm));
    assert_ne!(
        snapshot_of(&sm),
        then,
        "the later commands changed the state"
    );
    let mut written = Vec::new();
    frozen.write_records(&mut written).unwrap();
    assert_eq!(
        written, then,
        "the frozen state was changed by later commands"
    );
    assert_eq!(frozen.last_zxid(), 300);
}

#[test]
fn restored_state_behaves_exactly_like_the_original() {
    let cmds = workload(800);
    let (first, rest) = cmds.split_at(400);
    let mut original = StateMachine::new(Limits::default());
    run_all(&mut original, first);
    let bytes = snapshot_of(&original);
    let mut restored = StateMachine::read_snapshot_records(
        &mut bytes.as_slice(),
        original.last_zxid(),
        original.last_time_ms(),
        original.limits().clone(),
    )
    .unwrap();
    assert_eq!(snapshot_of(&restored), bytes);
    // Same future: same outcomes (sequence numbers, stats) and same state.
    assert_eq!(run_all(&mut original, rest), run_all(&mut restored, rest));
    assert_eq!(snapshot_of(&original), snapshot_of(&restored));
}

#[test]
fn snapshot_round_trip_preserves_stats_data_sessions_kinds_and_counters() {
    let mut h = Harness::new();
    h.open(5);
    h.mk("/a");
    h.op(0, set_op("/a", b"payload", -1)).unwrap();
    h.create(5, "/a/e-", CreateMode::EphemeralSequential)
        .unwrap();
    h.create(0, "/a/s-", CreateMode::PersistentSequential)
        .unwrap();
    h.op(0, delete_op("/a/s-0000000001", -1)).unwrap();
    h.create(0, "/c", CreateMode::Container).unwrap();
    h.create(0, "/t", CreateMode::PersistentWithTtl(777))
        .unwrap();
    let restored = h.restored();
    for path in ["/", "/a", "/a/e-0000000000", "/c", "/t"] {
        assert_eq!(restored.get(path), h.sm.get(path), "{path}");
    }
    assert_eq!(restored.sessions(), h.sm.sessions());
    assert_eq!(restored.ephemerals(5), ["/a/e-0000000000"]);
    assert_eq!(restored.last_zxid(), h.sm.last_zxid());
    assert_eq!(restored.node_count(), h.sm.node_count());
    // Kinds survive: the TTL node expires, the container stays (no child yet).
    let later = h.now + 1_000;
    let paths: Vec<String> = restored
        .reap_candidates(later, 9)
        .into_iter()
        .map(|t| t.path)
        .collect();
    assert_eq!(paths, ["/t"]);
    // The sequence counter (parent cversion, bumped by creates and deletes)
    // survives the snapshot.
    let mut r = Harness {
        sm: restored,
        now: h.now,
    };
    assert_eq!(
        r.create(0, "/a/s-", CreateMode::PersistentSequential),
        Ok("/a/s-0000000003".into())
    );
    r.run(5, CommandKind::CloseSession);
    assert!(!r.has("/a/e-0000000000"));
}

fn node_rec(path: &str, stat: storage::Stat, kind: storage::NodeKind) -> storage::SnapshotRecord {
    storage::SnapshotRecord {
        record: Some(Record::Node(storage::SnapshotNode {
            acl: Vec::new(),
            path: path.into(),
            data: Bytes::new(),
            stat: Some(stat),
            mode: Some(storage::CreateMode {
                kind: kind as i32,
                sequential: false,
                ttl_ms: 0,
            }),
        })),
    }
}

fn encode(records: &[storage::SnapshotRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        r.encode_length_delimited(&mut out).unwrap();
    }
    out
}

fn read(bytes: &[u8], last_zxid: u64) -> std::io::Result<StateMachine> {
    StateMachine::read_snapshot_records(&mut &bytes[..], last_zxid, 0, Limits::default())
}

#[test]
fn sequential_suffix_prints_a_wrapped_negative_cversion_as_is() {
    let root = storage::Stat {
        cversion: i32::MAX,
        ..Default::default()
    };
    let bytes = encode(&[node_rec("/", root, storage::NodeKind::Persistent)]);
    let mut h = Harness {
        sm: read(&bytes, 0).unwrap(),
        now: 1,
    };
    assert_eq!(
        h.create(0, "/s", CreateMode::PersistentSequential),
        Ok("/s2147483647".into())
    );
    assert_eq!(
        h.create(0, "/s", CreateMode::PersistentSequential),
        Ok("/s-2147483648".into())
    );
    assert_eq!(
        h.create(0, "/s", CreateMode::PersistentSequential),
        Ok("/s-2147483647".into())
    );
}

fn assert_corrupt(bytes: &[u8], last_zxid: u64, needle: &str) {
    match read(bytes, last_zxid) {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
            assert!(
                e.to_string().contains(needle),
                "{e} should mention {needle:?}"
            );
        }
        Ok(_) => panic!("corrupt input accepted (expected {needle:?})"),
    }
}

#[test]
fn corrupt_snapshots_are_rejected_saying_what_is_wrong() {
    let stat = |czxid, num_children| storage::Stat {
        czxid,
        num_children,
        ..Default::default()
    };
    let p = storage::NodeKind::Persistent;
    let root = node_rec("/", stat(0, 1), p);
    let good = encode(&[root.clone(), node_rec("/a", stat(1, 0), p)]);
    assert!(read(&good, 1).is_ok());

    assert_corrupt(&good[..good.len() - 1], 1, "truncated");
    assert_corrupt(&[], 0, "no root");
    assert_corrupt(&encode(&[node_rec("/a", stat(1, 0), p)]), 1, "not the root");
    assert_corrupt(
        &encode(&[root.clone(), node_rec("/x/y", stat(1, 0), p)]),
        1,
        "parent /x",
    );
    assert_corrupt(&good, 0, "newer than the snapshot's last zxid");
    assert_corrupt(
        &encode(std::slice::from_ref(&root)),
        0,
        "claims 1 children but has 0",
    );
    assert_corrupt(
        &encode(&[root.clone(), node_rec("/a//b", stat(1, 0), p)]),
        1,
        "empty segment",
    );
    let eph = storage::Stat {
        czxid: 1,
        ephemeral_owner: 9,
        ..Default::default()
    };
    let with_eph = [
        root.clone(),
        node_rec("/a", eph, storage::NodeKind::Ephemeral),
    ];
    assert_corrupt(&encode(&with_eph), 1, "session 0x9");
    let mut lying = node_rec("/a", stat(1, 0), p);
    if let Some(Record::Node(n)) = &mut lying.record {
        n.data = Bytes::from_static(b"xyz");
    }
    assert_corrupt(&encode(&[root.clone(), lying]), 1, "data_length 0 but 3");
    let bad_session = storage::SnapshotRecord {
        record: Some(Record::Session(storage::SnapshotSession {
            identities: Vec::new(),
            session_id: 4,
            timeout_ms: 1,
            secret: Bytes::from_static(b"short"),
        })),
    };
    assert_corrupt(
        &encode(&[root.clone(), node_rec("/a", stat(1, 0), p), bad_session]),
        1,
        "5-byte secret",
    );
    assert_corrupt(&[0xff, 0xff, 0xff], 1, "truncated record length");
}
