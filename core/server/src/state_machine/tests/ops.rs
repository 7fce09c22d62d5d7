//! Single ops: create, delete, set, check, reads, zxids and events.

use super::*;

#[test]
fn create_sets_the_new_nodes_stat_and_bumps_the_parent() {
    let mut h = Harness::new();
    h.now = 5_000;
    let (out, events) = h.run(
        0,
        CommandKind::Op(Op::Create {
            acl: Vec::new(),
            path: "/a".into(),
            data: Bytes::from_static(b"hello"),
            mode: CreateMode::Persistent,
        }),
    );
    let z = out.zxid;
    let expected = Stat {
        aversion: 0,
        czxid: z,
        mzxid: z,
        pzxid: z,
        ctime: 5_000,
        mtime: 5_000,
        version: 0,
        cversion: 0,
        ephemeral_owner: 0,
        data_length: 5,
        num_children: 0,
    };
    assert_eq!(
        out.result,
        Ok(CommandResult::Op(OpResult::Create {
            path: "/a".into(),
            stat: expected
        }))
    );
    assert_eq!(h.sm.get("/a"), Ok((Bytes::from_static(b"hello"), expected)));
    let root = h.stat("/");
    assert_eq!((root.cversion, root.pzxid, root.num_children), (1, z, 1));
    assert_eq!(
        events,
        vec![
            ev(EventType::NodeCreated, "/a", z),
            ev(EventType::NodeChildrenChanged, "/", z)
        ]
    );
}

#[test]
fn create_without_parent_is_no_node_naming_the_parent() {
    let mut h = Harness::new();
    assert_eq!(
        h.create(0, "/missing/child", CreateMode::Persistent),
        Err(Error::NoNode("/missing".into()))
    );
}

#[test]
fn create_of_an_existing_node_is_node_exists() {
    let mut h = Harness::new();
    h.mk("/a");
    assert_eq!(
        h.create(0, "/a", CreateMode::Persistent),
        Err(Error::NodeExists("/a".into()))
    );
    assert_eq!(
        h.create(0, "/", CreateMode::Persistent),
        Err(Error::NodeExists("/".into()))
    );
}

#[test]
fn create_with_an_invalid_path_is_invalid_path() {
    let mut h = Harness::new();
    for bad in ["a", "/a/", "/a//b", "/a/./b", "/a\0"] {
        let r = h.create(0, bad, CreateMode::Persistent);
        assert!(matches!(r, Err(Error::InvalidPath(_))), "{bad:?}: {r:?}");
    }
}

#[test]
fn data_over_the_limit_is_too_large_for_create_and_set() {
    let limits = Limits {
        max_data_bytes: 4,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits);
    let big = Op::Create {
        acl: Vec::new(),
        path: "/a".into(),
        data: Bytes::from_static(b"12345"),
        mode: CreateMode::Persistent,
    };
    assert_eq!(
        h.op(0, big),
        Err(Error::TooLarge(
            "data of /a is 5 bytes, limit max_data_bytes = 4".into()
        ))
    );
    h.mk("/a");
    assert!(matches!(
        h.op(0, set_op("/a", b"12345", -1)),
        Err(Error::TooLarge(_))
    ));
    assert!(h.op(0, set_op("/a", b"1234", -1)).is_ok());
}

#[test]
fn ttl_must_be_positive_and_within_zookeepers_range() {
    let mut h = Harness::new();
    for ttl in [0, crate::tree::MAX_TTL_MS + 1] {
        let r = h.create(0, "/t", CreateMode::PersistentWithTtl(ttl));
        assert!(matches!(r, Err(Error::BadArguments(_))), "{ttl}: {r:?}");
    }
    assert!(h.create(0, "/t", CreateMode::PersistentWithTtl(1)).is_ok());
    assert_eq!(h.stat("/t").ephemeral_owner, 0);
}

#[test]
fn sequential_suffix_is_the_parents_cversion_in_ten_digits() {
    let mut h = Harness::new();
    h.mk("/q");
    h.mk("/q/plain");
    assert_eq!(
        h.create(0, "/q/job-", CreateMode::PersistentSequential),
        Ok("/q/job-0000000001".into())
    );
    // A trailing slash on the prefix is fine: the name is then the number.
    assert_eq!(
        h.create(0, "/q/", CreateMode::PersistentSequential),
        Ok("/q/0000000002".into())
    );
    assert_eq!(
        h.create(0, "/", CreateMode::PersistentSequential),
        Ok("/0000000001".into())
    );
}

#[test]
fn sequential_suffix_keeps_growing_after_deletes() {
    let mut h = Harness::new();
    h.mk("/q");
    let first = h
        .create(0, "/q/n-", CreateMode::PersistentSequential)
        .unwrap();
    h.op(0, delete_op(&first, -1)).unwrap();
    let second = h
        .create(0, "/q/n-", CreateMode::PersistentSequential)
        .unwrap();
    assert_eq!(
        (first.as_str(), second.as_str()),
        ("/q/n-0000000000", "/q/n-0000000002"),
        "the suffix is the parent's cversion, which the delete bumped"
    );
}

#[test]
fn a_state_from_before_cversion_counted_deletes_replays_as_it_was_applied() {
    // A replica replaying an old log starts from `Limits::initial()` and
    // keeps the old rule until the log's first SetLimits turns it on.
    let mut h = Harness::with_limits(Limits::initial());
    h.mk("/q");
    let first = h
        .create(0, "/q/n-", CreateMode::PersistentSequential)
        .unwrap();
    h.op(0, delete_op(&first, -1)).unwrap();
    assert_eq!(h.stat("/q").cversion, 1, "old rule: deletes leave cversion");
    let set = h.run(0, CommandKind::SetLimits(Limits::default())).0;
    assert!(set.result.is_ok(), "{set:?}");
    let second = h
        .create(0, "/q/n-", CreateMode::PersistentSequential)
        .unwrap();
    assert_eq!(second, "/q/n-0000000001");
    h.op(0, delete_op(&second, -1)).unwrap();
    assert_eq!(h.stat("/q").cversion, 3, "new rule from the SetLimits on");
    assert!(!h.has(&first));
}

#[test]
fn sequential_path_over_the_limit_after_the_suffix_is_invalid() {
    let limits = Limits {
        max_path_bytes: 12,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(limits);
    // "/abc" + 10 digits = 14 bytes > 12.
    let r = h.create(0, "/abc", CreateMode::PersistentSequential);
    assert!(
        matches!(&r, Err(Error::InvalidPath(d)) if d.contains("max_path_bytes")),
        "{r:?}"
    );
}

#[test]
fn delete_with_a_wrong_version_is_bad_version_and_keeps_the_node() {
    let mut h = Harness::new();
    h.mk("/a");
    h.op(0, set_op("/a", b"x", 0)).unwrap();
    assert_eq!(
        h.op(0, delete_op("/a", 0)),
        Err(Error::BadVersion("/a: expected version 0, actual 1".into()))
    );
    assert!(h.has("/a"));
    assert_eq!(h.op(0, delete_op("/a", 1)), Ok(OpResult::Delete));
    assert_eq!(
        h.op(0, delete_op("/a", -1)),
        Err(Error::NoNode("/a".into()))
    );
}

#[test]
fn delete_of_a_node_with_children_is_not_empty() {
    let mut h = Harness::new();
    h.mk("/a");
    h.mk("/a/b");
    assert!(matches!(
        h.op(0, delete_op("/a", -1)),
        Err(Error::NotEmpty(_))
    ));
    assert!(h.has("/a/b"));
}

#[test]
fn root_cannot_be_deleted() {
    let mut h = Harness::new();
    assert!(matches!(
        h.op(0, delete_op("/", -1)),
        Err(Error::BadArguments(_))
    ));
}

#[test]
fn delete_moves_parent_pzxid_and_fires_deleted_then_children_changed() {
    let mut h = Harness::new();
    h.mk("/a");
    h.mk("/a/b");
    let (out, events) = h.run(0, CommandKind::Op(delete_op("/a/b", -1)));
    let z = out.zxid;
    let parent = h.stat("/a");
    // ZooKeeper 3.8 (checked against Debian's 3.8.0 by tests/zk): a delete
    // moves pzxid and bumps cversion, which counts child creates and deletes.
    assert_eq!(
        (parent.pzxid, parent.cversion, parent.num_children),
        (z, 2, 0)
    );
    assert_eq!(
        events,
        vec![
            ev(EventType::NodeDeleted, "/a/b", z),
            ev(EventType::NodeChildrenChanged, "/a", z)
        ]
    );
}

#[test]
fn set_data_bumps_version_mzxid_and_mtime_and_fires_data_changed() {
    let mut h = Harness::new();
    h.mk("/a");
    let before = h.stat("/a");
    h.now += 7;
    let (out, events) = h.run(0, CommandKind::Op(set_op("/a", b"v2", 0)));
    let after = h.stat("/a");
    assert_eq!(
        out.result,
        Ok(CommandResult::Op(OpResult::SetData { stat: after }))
    );
    assert_eq!(after.version, 1);
    assert_eq!(after.mzxid, out.zxid);
    assert_eq!(after.mtime, before.mtime + 7);
    assert_eq!(after.data_length, 2);
    assert_eq!((after.czxid, after.ctime), (before.czxid, before.ctime));
    assert_eq!(events, vec![ev(EventType::NodeDataChanged, "/a", out.zxid)]);
    assert!(matches!(
        h.op(0, set_op("/a", b"v3", 0)),
        Err(Error::BadVersion(_))
    ));
    assert_eq!(
        h.op(0, set_op("/nope", b"", -1)),
        Err(Error::NoNode("/nope".into()))
    );
}

#[test]
fn zxid_increments_by_exactly_one_per_command_including_failures() {
    let mut h = Harness::new();
    let kinds = vec![
        CommandKind::Noop,
        CommandKind::Op(create_op("/a", CreateMode::Persistent)),
        CommandKind::Op(create_op("/a", CreateMode::Persistent)), // NodeExists
        CommandKind::Op(delete_op("/zz", -1)),                    // NoNode
        CommandKind::CloseSession,                                // SessionExpired
        CommandKind::Multi(vec![check_op("/nope", -1)]),          // failed multi
        CommandKind::Reap(vec![]),
        CommandKind::ExpireSessions(vec![42]),
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let (out, _) = h.run(0, kind);
        assert_eq!(out.zxid, i as u64 + 1);
        assert_eq!(h.sm.last_zxid(), i as u64 + 1);
    }
}

#[test]
fn failed_commands_fire_no_events() {
    let mut h = Harness::new();
    h.mk("/a");
    for op in [
        create_op("/a", CreateMode::Persistent),
        delete_op("/a", 5),
        set_op("/b", b"", -1),
    ] {
        let (out, events) = h.run(0, CommandKind::Op(op));
        assert!(out.result.is_err());
        assert!(events.is_empty(), "{events:?}");
    }
}

#[test]
fn standalone_check_reports_bad_version_and_missing_nodes() {
    let mut h = Harness::new();
    h.mk("/a");
    assert_eq!(h.op(0, check_op("/a", 0)), Ok(OpResult::Check));
    assert!(matches!(
        h.op(0, check_op("/a", 3)),
        Err(Error::BadVersion(_))
    ));
    assert_eq!(h.op(0, check_op("/b", -1)), Err(Error::NoNode("/b".into())));
}

#[test]
fn exists_is_none_for_missing_nodes_and_err_only_for_invalid_paths() {
    let h = Harness::new();
    assert_eq!(h.sm.exists("/nope"), Ok(None));
    assert!(matches!(h.sm.exists("nope"), Err(Error::InvalidPath(_))));
    assert_eq!(h.sm.exists("/"), Ok(Some(Stat::default())));
    assert_eq!(h.sm.get("/nope"), Err(Error::NoNode("/nope".into())));
}

#[test]
fn children_are_sorted_by_name_with_their_stats() {
    let mut h = Harness::new();
    h.mk("/p");
    for name in ["b", "a", "c10", "c2"] {
        h.mk(&format!("/p/{name}"));
    }
    let (names, parent) = h.sm.children("/p").unwrap();
    assert_eq!(names, ["a", "b", "c10", "c2"]);
    assert_eq!(parent, h.stat("/p"));
    let (with_stats, _) = h.sm.children_with_stats("/p").unwrap();
    let got: Vec<(String, Stat)> = names
        .iter()
        .map(|n| (n.clone(), h.stat(&format!("/p/{n}"))))
        .collect();
    assert_eq!(with_stats, got);
    assert_eq!(h.sm.children("/zz"), Err(Error::NoNode("/zz".into())));
    assert_eq!(h.sm.children("/").unwrap().0, ["p"]);
}
