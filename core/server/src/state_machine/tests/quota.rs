//! Subtree quotas: enforcement in apply, usage kept in step with the tree
//! through every kind of change, and quotas in snapshots.

use super::super::quota::subtree_usage;
use super::snapshot::workload;
use super::*;
use coord_proto::{QuotaLimits, QuotaUsage};

fn limits(nodes: Option<u64>, bytes: Option<u64>) -> QuotaLimits {
    QuotaLimits {
        max_nodes: nodes,
        max_bytes: bytes,
    }
}

impl Harness {
    fn set_quota(&mut self, path: &str, l: Option<QuotaLimits>) -> Result<(), Error> {
        let kind = CommandKind::SetQuota {
            path: path.to_string(),
            limits: l,
        };
        self.run(0, kind).0.result.map(|r| {
            assert_eq!(r, CommandResult::QuotaSet);
        })
    }

    fn usage(&self, path: &str) -> QuotaUsage {
        self.sm
            .quota(path)
            .unwrap()
            .unwrap_or_else(|| panic!("no quota on {path}"))
            .usage
    }

    fn create_with(&mut self, path: &str, data: &'static [u8]) -> Result<OpResult, Error> {
        self.op(
            0,
            Op::Create {
                path: path.to_string(),
                data: Bytes::from_static(data),
                mode: CreateMode::Persistent,
                acl: Vec::new(),
            },
        )
    }
}

fn quota_error(e: Error) -> String {
    match e {
        Error::QuotaExceeded(detail) => detail,
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
}

#[test]
fn a_create_past_the_node_limit_fails_naming_the_quota_and_the_limit() {
    let mut h = Harness::new();
    h.mk("/app");
    h.set_quota("/app", Some(limits(Some(3), None))).unwrap();
    h.mk("/app/a");
    h.mk("/app/b");
    assert_eq!(h.usage("/app"), QuotaUsage { nodes: 3, bytes: 0 });
    let zxid_before = h.sm.last_zxid();
    let detail = quota_error(
        h.create(0, "/app/a/deep", CreateMode::Persistent)
            .unwrap_err(),
    );
    assert!(detail.contains("/app/a/deep"), "{detail}");
    assert!(detail.contains("quota on /app"), "{detail}");
    assert!(detail.contains("max_nodes = 3"), "{detail}");
    assert!(detail.contains("would hold 4"), "{detail}");
    assert!(!h.has("/app/a/deep"));
    // The failed create took a zxid but changed neither tree nor usage.
    assert_eq!(h.sm.last_zxid(), zxid_before + 1);
    assert_eq!(h.stat("/app/a").cversion, 0);
    assert_eq!(h.usage("/app"), QuotaUsage { nodes: 3, bytes: 0 });
    // Outside the subtree nothing is limited.
    h.mk("/other");
}

#[test]
fn creates_and_sets_past_the_byte_limit_fail_and_shrinking_succeeds() {
    let mut h = Harness::new();
    h.mk("/app");
    h.set_quota("/app", Some(limits(None, Some(10)))).unwrap();
    h.create_with("/app/a", b"123456").unwrap();
    let detail = quota_error(h.create_with("/app/b", b"12345").unwrap_err());
    assert!(detail.contains("max_bytes = 10") && detail.contains("would hold 11"));
    let detail = quota_error(h.op(0, set_op("/app/a", b"12345678901", -1)).unwrap_err());
    assert!(detail.contains("set /app/a"), "{detail}");
    assert_eq!(h.sm.get("/app/a").unwrap().0.as_ref(), b"123456");
    assert_eq!(h.stat("/app/a").version, 0, "the failed set was undone");
    h.op(0, set_op("/app/a", b"1234567890", -1)).unwrap();
    assert_eq!(h.usage("/app").bytes, 10);
    h.op(0, set_op("/app/a", b"1", -1)).unwrap();
    assert_eq!(h.usage("/app"), QuotaUsage { nodes: 2, bytes: 1 });
}

#[test]
fn a_multi_that_would_exceed_a_quota_applies_nothing() {
    let mut h = Harness::new();
    h.mk("/app");
    h.mk("/app/old");
    h.set_quota("/app", Some(limits(Some(3), Some(4)))).unwrap();
    let ops = vec![
        delete_op("/app/old", -1),
        create_op("/app/x", CreateMode::Persistent),
        set_op("/app/x", b"abcd", -1),
        create_op("/app/y", CreateMode::Persistent),
        create_op("/app/z", CreateMode::Persistent),
    ];
    let (out, events) = h.run(0, CommandKind::Multi(ops));
    let Ok(CommandResult::Multi(results)) = out.result else {
        panic!("{out:?}");
    };
    assert!(
        matches!(&results[4], OpResult::Error(Error::QuotaExceeded(d)) if d.contains("create /app/z"))
    );
    assert!(matches!(&results[0], OpResult::Error(Error::RolledBack(_))));
    assert!(events.is_empty());
    assert!(h.has("/app/old") && !h.has("/app/x") && !h.has("/app/y"));
    assert_eq!(h.usage("/app"), QuotaUsage { nodes: 2, bytes: 0 });
    assert_eq!(h.usage("/app"), subtree_usage(&h.sm.tree, "/app"));
}

#[test]
fn nested_quotas_are_each_enforced() {
    let mut h = Harness::new();
    h.mk("/a");
    h.mk("/a/b");
    h.set_quota("/a", Some(limits(Some(10), None))).unwrap();
    h.set_quota("/a/b", Some(limits(Some(2), None))).unwrap();
    h.mk("/a/b/c");
    let detail = quota_error(h.create(0, "/a/b/d", CreateMode::Persistent).unwrap_err());
    assert!(detail.contains("quota on /a/b "), "{detail}");
    h.mk("/a/e");
    assert_eq!(h.usage("/a").nodes, 4);
    assert_eq!(h.usage("/a/b").nodes, 2);
}

#[test]
fn a_quota_set_below_the_usage_is_kept_and_only_growth_fails() {
    let mut h = Harness::new();
    h.mk("/app");
    h.mk("/app/a");
    h.mk("/app/b");
    h.set_quota("/app", Some(limits(Some(1), None))).unwrap();
    assert_eq!(h.usage("/app").nodes, 3);
    quota_error(h.create(0, "/app/c", CreateMode::Persistent).unwrap_err());
    h.op(0, delete_op("/app/b", -1)).unwrap();
    assert_eq!(h.usage("/app").nodes, 2);
}

#[test]
fn ephemerals_leave_the_usage_when_their_session_expires_or_closes() {
    let mut h = Harness::new();
    h.open(7);
    h.open(8);
    h.mk("/app");
    h.set_quota("/app", Some(limits(Some(3), None))).unwrap();
    h.create(7, "/app/e7", CreateMode::Ephemeral).unwrap();
    h.create(8, "/app/e8", CreateMode::Ephemeral).unwrap();
    quota_error(h.create(7, "/app/x", CreateMode::Ephemeral).unwrap_err());
    h.run(0, CommandKind::ExpireSessions(vec![7]));
    assert_eq!(h.usage("/app").nodes, 2);
    h.run(8, CommandKind::CloseSession);
    assert_eq!(h.usage("/app").nodes, 1);
    h.mk("/app/again");
}

#[test]
fn set_quota_needs_an_existing_node_and_a_limit_and_clear_needs_a_quota() {
    let mut h = Harness::new();
    assert!(matches!(
        h.set_quota("/nope", Some(limits(Some(1), None))),
        Err(Error::NoNode(_))
    ));
    h.mk("/a");
    assert!(matches!(
        h.set_quota("/a", Some(limits(None, None))),
        Err(Error::BadArguments(_))
    ));
    assert!(matches!(h.set_quota("/a", None), Err(Error::NoNode(_))));
    h.set_quota("/a", Some(limits(Some(1), None))).unwrap();
    quota_error(h.create(0, "/a/b", CreateMode::Persistent).unwrap_err());
    h.set_quota("/a", None).unwrap();
    assert_eq!(h.sm.quota("/a").unwrap(), None);
    h.mk("/a/b");
}

#[test]
fn usage_matches_a_recount_after_a_varied_workload_and_survives_a_snapshot() {
    let mut sm = StateMachine::new(Limits::default());
    let cmds = workload(900);
    let (setup, rest) = cmds.split_at(4);
    for c in setup {
        sm.apply(c);
    }
    // Quotas wide enough that most of the workload still applies, one
    // tight enough that some writes are refused.
    for (path, l) in [
        ("/d", limits(Some(40), Some(200))),
        ("/", limits(Some(1_000), None)),
    ] {
        let cmd = Command::new(
            0,
            1_000,
            CommandKind::SetQuota {
                path: path.into(),
                limits: Some(l),
            },
        );
        assert!(sm.apply(&cmd).0.result.is_ok());
    }
    let mut refused = 0;
    for c in rest {
        let (out, _) = sm.apply(c);
        let quota_failed = |r: &OpResult| matches!(r, OpResult::Error(Error::QuotaExceeded(_)));
        refused += match &out.result {
            Err(Error::QuotaExceeded(_)) => 1,
            Ok(CommandResult::Multi(rs)) if rs.iter().any(quota_failed) => 1,
            _ => 0,
        };
        for (path, q) in sm.quotas() {
            assert_eq!(
                q.usage,
                subtree_usage(&sm.tree, &path),
                "{path} after {c:?}"
            );
        }
    }
    assert!(refused > 0, "the workload never hit the quota");
    let mut snap = Vec::new();
    sm.write_snapshot_records(&mut snap).unwrap();
    let back = StateMachine::read_snapshot_records(
        &mut snap.as_slice(),
        sm.last_zxid(),
        sm.last_time_ms(),
        sm.limits().clone(),
    )
    .unwrap();
    assert_eq!(back.quotas(), sm.quotas());
    assert_eq!(back.quotas().len(), 2);
}
