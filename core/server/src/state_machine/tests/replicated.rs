//! What decides outcomes besides the commands' own content is replicated
//! state too: the limits (changed only by `SetLimits`) and the leader time
//! (clamped so that it never goes backwards).

use super::*;

fn limits(max_data_bytes: usize) -> Limits {
    Limits {
        max_data_bytes,
        ..Limits::default()
    }
}

fn set_limits(h: &mut Harness, session: u64, l: Limits) -> Outcome {
    h.run(session, CommandKind::SetLimits(l)).0
}

fn data_op(path: &str, len: usize) -> Op {
    Op::Create {
        acl: Vec::new(),
        path: path.to_string(),
        data: Bytes::from(vec![7u8; len]),
        mode: CreateMode::Persistent,
    }
}

#[test]
fn set_limits_applies_from_the_next_command_and_keeps_earlier_writes() {
    let mut h = Harness::new();
    h.op(0, data_op("/big", 2048)).unwrap();
    let before = h.stat("/big");
    let out = set_limits(&mut h, 0, limits(1024));
    assert_eq!(out.result, Ok(CommandResult::LimitsSet));
    assert_eq!(h.sm.limits(), &limits(1024));
    assert!(matches!(
        h.op(0, data_op("/big2", 2048)),
        Err(Error::TooLarge(_))
    ));
    assert_eq!(h.stat("/big"), before, "an earlier write is untouched");
    h.op(0, data_op("/small", 1024)).unwrap();
    // And the limits survive a snapshot.
    assert_eq!(h.restored().limits(), &limits(1024));
}

#[test]
fn only_the_server_may_set_limits() {
    let mut h = Harness::new();
    h.open(5);
    let out = set_limits(&mut h, 5, limits(1));
    assert!(matches!(out.result, Err(Error::BadArguments(_))), "{out:?}");
    assert_eq!(h.sm.limits(), &Limits::default());
}

#[test]
fn set_limits_refuses_limits_that_leave_no_usable_tree() {
    let mut h = Harness::new();
    for bad in [
        Limits {
            max_path_bytes: 1,
            ..Limits::default()
        },
        Limits {
            max_multi_ops: 0,
            ..Limits::default()
        },
    ] {
        let out = set_limits(&mut h, 0, bad);
        assert!(matches!(out.result, Err(Error::BadArguments(_))), "{out:?}");
    }
    assert_eq!(h.sm.limits(), &Limits::default());
}

#[test]
fn leader_clock_going_back_never_moves_ctime_or_mtime_backwards() {
    let mut h = Harness::new();
    h.now = 5_000;
    h.mk("/a");
    assert_eq!(h.sm.last_time_ms(), 5_000);
    // A new leader whose clock is behind.
    h.now = 3_000;
    h.op(0, set_op("/a", b"x", -1)).unwrap();
    h.mk("/b");
    assert_eq!(h.stat("/a").mtime, 5_000, "mtime clamped to the last time");
    assert_eq!(h.stat("/b").ctime, 5_000, "ctime clamped to the last time");
    assert_eq!(h.sm.last_time_ms(), 5_000);
    // Time moves on once the clock passes the last time.
    h.now = 6_000;
    h.op(0, set_op("/a", b"y", -1)).unwrap();
    assert_eq!(h.stat("/a").mtime, 6_000);
    assert_eq!(h.sm.last_time_ms(), 6_000);
}

#[test]
fn failed_commands_also_advance_the_clamp() {
    let mut h = Harness::new();
    h.now = 9_000;
    assert!(h.op(0, delete_op("/missing", -1)).is_err());
    assert_eq!(h.sm.last_time_ms(), 9_000);
    h.now = 1_000;
    h.mk("/late");
    assert_eq!(h.stat("/late").ctime, 9_000);
}

#[test]
fn ttl_expiry_is_decided_at_the_clamped_time() {
    let mut h = Harness::new();
    h.now = 10_000;
    h.create(0, "/t", CreateMode::PersistentWithTtl(1_000))
        .unwrap();
    let czxid = h.stat("/t").czxid;
    h.now = 20_000;
    h.run(0, CommandKind::Noop);
    // The next leader's clock says 10 500: unclamped, the node would not be expired.
    h.now = 10_500;
    let (out, _) = h.run(
        0,
        CommandKind::Reap(vec![super::super::ReapTarget {
            path: "/t".into(),
            czxid,
        }]),
    );
    assert_eq!(
        out.result,
        Ok(CommandResult::Reaped(vec!["/t".to_string()]))
    );
    assert!(!h.has("/t"));
}

#[test]
fn snapshot_keeps_the_last_time() {
    let mut h = Harness::new();
    h.now = 42_000;
    h.mk("/a");
    let mut restored = h.restored();
    assert_eq!(restored.last_time_ms(), 42_000);
    let (out, _) = restored.apply(&Command {
        origin: Default::default(),
        session_id: 0,
        time_ms: 1,
        kind: CommandKind::Op(create_op("/b", CreateMode::Persistent)),
    });
    assert!(out.result.is_ok(), "{out:?}");
    assert_eq!(restored.exists("/b").unwrap().unwrap().ctime, 42_000);
}
