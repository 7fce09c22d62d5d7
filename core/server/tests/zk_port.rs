//! The ZooKeeper port (`zk_listen`) against an in-process server, with a
//! bare jute client (`zkwire`): sessions, replies and error codes as
//! ZooKeeper sends them, watches fired by either port, limits, refusals
//! and four-letter words. kazoo, zkCli and the C client are exercised by
//! `tests/zk` and `tests/zk/cli.sh`.

mod zkwire;

use std::net::SocketAddr;
use std::time::Duration;

use coord_client::{Client, CreateMode};
use coord_server::server::{Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zkwire::{Enc, PATIENCE, op};

const NO_NODE: i32 = -101;
const BAD_VERSION: i32 = -103;
const NODE_EXISTS: i32 = -110;
const NOT_EMPTY: i32 = -111;
const BAD_ARGUMENTS: i32 = -8;
const UNIMPLEMENTED: i32 = -6;
const RUNTIME_INCONSISTENCY: i32 = -2;
const AUTH_FAILED: i32 = -115;
const NO_AUTH: i32 = -102;
const INVALID_ACL: i32 = -114;
const NO_WATCHER: i32 = -121;
const NODE_CREATED: i32 = 1;
const NODE_DELETED: i32 = 2;
const NODE_DATA_CHANGED: i32 = 3;
const NODE_CHILDREN_CHANGED: i32 = 4;
const SYNC_CONNECTED: i32 = 3;

struct Fixture {
    server: Server,
    zk: SocketAddr,
    _dir: tempfile::TempDir,
}

async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::for_test(dir.path());
    cfg.zk_listen = Some("127.0.0.1:0".parse().unwrap());
    adjust(&mut cfg);
    let server = Server::start(cfg).await.unwrap();
    let zk = server.zk_addr().expect("zk port bound");
    Fixture {
        server,
        zk,
        _dir: dir,
    }
}

async fn start() -> Fixture {
    start_with(|_| {}).await
}

async fn native(f: &Fixture) -> Client {
    Client::builder()
        .servers(f.server.local_addr().to_string())
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn without_zk_listen_there_is_no_zookeeper_port() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig::for_test(dir.path()))
        .await
        .unwrap();
    assert_eq!(server.zk_addr(), None);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn node_operations_answer_with_zookeepers_shapes_and_codes() {
    let f = start().await;
    let mut z = zkwire::connect(f.zk).await;
    assert!(z.connected.session > 0, "session ids are positive longs");
    assert_eq!(z.connected.passwd.len(), 16);
    assert!(!z.connected.read_only);

    // create: the path only; create2: path and stat.
    let mut r = z.create("/a", b"one", 0).await;
    assert_eq!((r.err, r.body.str()), (0, "/a".to_string()));
    assert_eq!(r.body.remaining(), 0, "create answers the path only");
    assert_eq!(z.create("/a", b"", 0).await.err, NODE_EXISTS);
    let mut r = z
        .call(op::CREATE2, |e| {
            e.str("/a/s-").buf(b"").open_acl().int(3);
        })
        .await;
    assert_eq!(r.err, 0);
    let seq_path = r.body.str();
    assert_eq!(seq_path, "/a/s-0000000000");
    let stat = r.body.stat();
    assert_eq!(stat.ephemeral_owner, z.connected.session);
    assert!(
        r.zxid >= stat.czxid && stat.czxid > 0,
        "header carries the zxid"
    );

    // getData / exists / setData with versions.
    let mut r = z
        .call(op::GET_DATA, |e| {
            e.str("/a").boolean(false);
        })
        .await;
    assert_eq!(r.body.buf().unwrap(), b"one");
    let st = r.body.stat();
    assert_eq!((st.version, st.num_children, st.data_length), (0, 1, 3));
    let r = z
        .call(op::EXISTS, |e| {
            e.str("/nope").boolean(false);
        })
        .await;
    assert_eq!(r.err, NO_NODE, "exists on a missing node answers NONODE");
    let r = z
        .call(op::SET_DATA, |e| {
            e.str("/a").buf(b"two").int(7);
        })
        .await;
    assert_eq!(r.err, BAD_VERSION);
    let mut r = z
        .call(op::SET_DATA, |e| {
            e.str("/a").buf(b"two").int(0);
        })
        .await;
    assert_eq!((r.err, r.body.stat().version), (0, 1));

    // children: names only, or names and the parent's stat.
    let mut r = z
        .call(op::GET_CHILDREN, |e| {
            e.str("/a").boolean(false);
        })
        .await;
    assert_eq!(r.body.strs(), vec!["s-0000000000"]);
    assert_eq!(r.body.remaining(), 0);
    let mut r = z
        .call(op::GET_CHILDREN2, |e| {
            e.str("/a").boolean(false);
        })
        .await;
    assert_eq!(r.body.strs(), vec!["s-0000000000"]);
    assert_eq!(r.body.stat().num_children, 1);

    // delete: versions, non-empty, missing.
    assert_eq!(
        z.call(op::DELETE, |e| {
            e.str("/a").int(-1);
        })
        .await
        .err,
        NOT_EMPTY
    );
    assert_eq!(
        z.call(op::DELETE, |e| {
            e.str(&seq_path).int(3);
        })
        .await
        .err,
        BAD_VERSION
    );
    let r = z
        .call(op::DELETE, |e| {
            e.str(&seq_path).int(0);
        })
        .await;
    assert_eq!((r.err, r.body.remaining()), (0, 0));
    assert_eq!(
        z.call(op::DELETE, |e| {
            e.str("/x/y").int(-1);
        })
        .await
        .err,
        NO_NODE
    );

    // sync answers its path.
    let mut r = z
        .call(op::SYNC, |e| {
            e.str("/a");
        })
        .await;
    assert_eq!((r.err, r.body.str()), (0, "/a".to_string()));

    // Paths ZooKeeper refuses are refused the same way.
    for bad in ["a", "/a/", "/a/../b", "/a//b", "/a\u{0}b"] {
        assert_eq!(z.create(bad, b"", 0).await.err, BAD_ARGUMENTS, "{bad:?}");
    }
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failed_multi_answers_rolled_back_the_error_and_runtime_inconsistency() {
    let f = start().await;
    let mut z = zkwire::connect(f.zk).await;
    z.create("/m", b"", 0).await;
    let multi = |e: &mut Enc| {
        // create /m/a; setData /m version 5 (fails); delete /m/b
        e.int(op::CREATE).boolean(false).int(-1);
        e.str("/m/a").buf(b"").open_acl().int(0);
        e.int(op::SET_DATA).boolean(false).int(-1);
        e.str("/m").buf(b"x").int(5);
        e.int(op::DELETE).boolean(false).int(-1);
        e.str("/m/b").int(-1);
        e.int(-1).boolean(true).int(-1);
    };
    let mut r = z.call(op::MULTI, multi).await;
    assert_eq!(r.err, 0, "a failed multi is told in its results");
    let mut errors = Vec::new();
    loop {
        let (kind, done, err) = (r.body.int(), r.body.boolean(), r.body.int());
        if done {
            break;
        }
        assert_eq!(
            kind, -1,
            "every result of a failed multi is an error result"
        );
        assert_eq!(r.body.int(), err);
        errors.push(err);
    }
    assert_eq!(errors, vec![0, BAD_VERSION, RUNTIME_INCONSISTENCY]);
    assert_eq!(
        z.call(op::EXISTS, |e| {
            e.str("/m/a").boolean(false);
        })
        .await
        .err,
        NO_NODE,
        "nothing of the failed multi applied"
    );

    // A committing multi: create (path only), create2 (path and stat), check, setData.
    let mut r = z
        .call(op::MULTI, |e| {
            e.int(op::CREATE).boolean(false).int(-1);
            e.str("/m/a").buf(b"").open_acl().int(0);
            e.int(op::CREATE2).boolean(false).int(-1);
            e.str("/m/b").buf(b"").open_acl().int(0);
            e.int(op::CHECK).boolean(false).int(-1);
            e.str("/m").int(0);
            e.int(op::SET_DATA).boolean(false).int(-1);
            e.str("/m").buf(b"y").int(0);
            e.int(-1).boolean(true).int(-1);
        })
        .await;
    assert_eq!(r.err, 0);
    assert_eq!(
        (r.body.int(), r.body.boolean(), r.body.int()),
        (op::CREATE, false, 0)
    );
    assert_eq!(r.body.str(), "/m/a");
    assert_eq!(
        (r.body.int(), r.body.boolean(), r.body.int()),
        (op::CREATE2, false, 0)
    );
    assert_eq!(r.body.str(), "/m/b");
    assert_eq!(r.body.stat().version, 0);
    assert_eq!(
        (r.body.int(), r.body.boolean(), r.body.int()),
        (op::CHECK, false, 0)
    );
    assert_eq!(
        (r.body.int(), r.body.boolean(), r.body.int()),
        (op::SET_DATA, false, 0)
    );
    assert_eq!(r.body.stat().version, 1);
    assert_eq!(
        (r.body.int(), r.body.boolean(), r.body.int()),
        (-1, true, -1)
    );
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn watches_fire_for_writes_through_either_port_before_the_read_that_shows_them() {
    let f = start().await;
    let coord = native(&f).await;
    let mut z = zkwire::connect(f.zk).await;
    coord
        .create("/w", &b"0"[..], CreateMode::Persistent)
        .await
        .unwrap();

    // A data watch set on the ZooKeeper port, fired by a native write.
    let r = z
        .call(op::GET_DATA, |e| {
            e.str("/w").boolean(true);
        })
        .await;
    assert_eq!(r.err, 0);
    coord.set("/w", &b"1"[..], None).await.unwrap();
    coord.set("/w", &b"2"[..], None).await.unwrap();
    // The native writes were applied before they were acknowledged, so the
    // event is queued before this read's reply.
    let xid = z
        .send(op::GET_DATA, |e| {
            e.str("/w").boolean(false);
        })
        .await;
    let first = z.next().await.unwrap();
    assert!(
        first.is_event(),
        "the event comes before the read showing newer data"
    );
    let ev = first.event();
    assert_eq!(
        (ev.kind, ev.state, ev.path.as_str()),
        (NODE_DATA_CHANGED, SYNC_CONNECTED, "/w")
    );
    let mut r = z.reply(xid).await;
    assert_eq!(r.body.buf().unwrap(), b"2");
    assert!(z.events.is_empty(), "a one-shot watch fires once");

    // exists on a missing node watches for its creation.
    assert_eq!(
        z.call(op::EXISTS, |e| {
            e.str("/w/new").boolean(true);
        })
        .await
        .err,
        NO_NODE
    );
    coord
        .create("/w/new", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    let ev = z.event().await;
    assert_eq!((ev.kind, ev.path.as_str()), (NODE_CREATED, "/w/new"));

    // A child watch, fired by a native create; a deletion fires NodeDeleted.
    z.call(op::GET_CHILDREN, |e| {
        e.str("/w").boolean(true);
    })
    .await;
    z.call(op::EXISTS, |e| {
        e.str("/w/new").boolean(true);
    })
    .await;
    coord.delete("/w/new", None).await.unwrap();
    let mut got = [z.event().await, z.event().await];
    got.sort_by_key(|e| e.kind);
    assert_eq!(
        got.iter()
            .map(|e| (e.kind, e.path.as_str()))
            .collect::<Vec<_>>(),
        vec![(NODE_DELETED, "/w/new"), (NODE_CHILDREN_CHANGED, "/w")]
    );

    // A persistent-recursive watch added on the ZooKeeper port sees a
    // native write below it, again and again.
    let mut r = z
        .call(op::ADD_WATCH, |e| {
            e.str("/w").int(1);
        })
        .await;
    assert_eq!(r.err, 0);
    assert_eq!(
        r.body.int(),
        0,
        "addWatch answers an error record of 0, as ZooKeeper"
    );
    assert_eq!(
        z.call(op::CHECK_WATCHES, |e| {
            e.str("/w").int(5);
        })
        .await
        .err,
        0,
        "checkWatches finds the persistent-recursive watch"
    );
    for i in 0..2 {
        coord
            .create(&format!("/w/r{i}"), Vec::new(), CreateMode::Persistent)
            .await
            .unwrap();
        let ev = z.event().await;
        assert_eq!((ev.kind, ev.path), (NODE_CREATED, format!("/w/r{i}")));
    }
    assert_eq!(
        z.call(op::REMOVE_WATCHES, |e| {
            e.str("/w").int(5);
        })
        .await
        .err,
        0
    );
    assert_eq!(
        z.call(op::CHECK_WATCHES, |e| {
            e.str("/w").int(5);
        })
        .await
        .err,
        NO_WATCHER
    );
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn sessions_of_both_ports_are_one_kind_and_resume_or_expire_as_in_zookeeper() {
    let f = start().await;
    let coord = native(&f).await;
    let mut z = zkwire::connect(f.zk).await;
    let (session, passwd) = (z.connected.session, z.connected.passwd.clone());
    z.create("/e", b"", 1).await;
    let stat = coord
        .exists("/e")
        .await
        .unwrap()
        .expect("ephemeral visible natively");
    assert_eq!(stat.ephemeral_owner, session as u64);

    // A data watch, then the connection drops; a native write happens
    // while it is away; the resumed connection re-sends the watch.
    z.call(op::GET_DATA, |e| {
        e.str("/e").boolean(true);
    })
    .await;
    let last_zxid = z.call(op::PING, |_| {}).await.zxid;
    drop(z);
    coord.set("/e", &b"moved"[..], None).await.unwrap();
    let mut z = zkwire::connect_with(f.zk, session, &passwd, 10_000, last_zxid)
        .await
        .expect("resumed");
    assert_eq!(z.connected.session, session);
    let r = z
        .call(op::SET_WATCHES, |e| {
            e.long(last_zxid).strs(&["/e"]).strs(&[]).strs(&[]);
        })
        .await;
    assert_eq!(r.err, 0);
    let ev = z
        .events
        .first()
        .cloned()
        .expect("the missed change was replayed before the reply");
    assert_eq!((ev.kind, ev.path.as_str()), (NODE_DATA_CHANGED, "/e"));

    // A wrong password: timeout 0, and the connection closes.
    let mut wrong = passwd.clone();
    wrong[0] ^= 1;
    match zkwire::connect_with(f.zk, session, &wrong, 10_000, 0).await {
        Err(Some(c)) => assert_eq!((c.timeout, c.session), (0, 0)),
        other => panic!(
            "a wrong password must be refused with timeout 0, got {:?}",
            other.is_ok()
        ),
    }
    // An unknown session: the same.
    assert!(matches!(
        zkwire::connect_with(f.zk, 0x1234_5679, &[0; 16], 10_000, 0).await,
        Err(Some(c)) if c.timeout == 0
    ));

    // The negotiated timeout is clamped to the server's bounds.
    let limits = ServerConfig::for_test(f._dir.path()).session_limits;
    let Ok(huge) = zkwire::connect_with(f.zk, 0, &[0; 16], i32::MAX, 0).await else {
        panic!("a new session is never refused");
    };
    assert_eq!(
        huge.connected.timeout as u128,
        limits.max_timeout.as_millis()
    );
    let Ok(tiny) = zkwire::connect_with(f.zk, 0, &[0; 16], 1, 0).await else {
        panic!("a new session is never refused");
    };
    assert_eq!(
        tiny.connected.timeout as u128,
        limits.min_timeout.as_millis()
    );

    // closeSession removes the ephemerals at once and the server closes.
    let r = z.call(op::CLOSE_SESSION, |_| {}).await;
    assert_eq!(r.err, 0);
    assert!(z.closed().await, "the server closes after closeSession");
    assert_eq!(coord.exists("/e").await.unwrap(), None);
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn acl_auth_whoami_ephemerals_and_counts_are_answered() {
    let f = start().await;
    let mut z = zkwire::connect(f.zk).await;
    z.create("/p", b"", 0).await;
    z.create("/p/q", b"", 0).await;
    z.create("/p/q/r", b"", 0).await;
    z.create("/p/e1", b"", 1).await;

    let mut r = z
        .call(op::GET_ACL, |e| {
            e.str("/p");
        })
        .await;
    assert_eq!(r.err, 0);
    assert_eq!(r.body.int(), 1);
    assert_eq!(
        (r.body.int(), r.body.str(), r.body.str()),
        (31, "world".into(), "anyone".into())
    );
    let stat = r.body.stat();
    assert_eq!((stat.num_children, stat.aversion), (2, 0));
    // setACL checks the ACL version (aversion) and bumps it.
    let mut r = z
        .call(op::SET_ACL, |e| {
            e.str("/p").open_acl().int(-1);
        })
        .await;
    assert_eq!(r.err, 0);
    assert_eq!(r.body.stat().aversion, 1);
    let r = z
        .call(op::SET_ACL, |e| {
            e.str("/p").open_acl().int(0);
        })
        .await;
    assert_eq!(r.err, BAD_VERSION);
    let r = z
        .call(op::SET_ACL, |e| {
            e.str("/p").int(0).int(-1);
        })
        .await;
    assert_eq!(r.err, INVALID_ACL, "an empty list, as ZooKeeper");
    let alice = coord_proto::acl::digest_id("alice", "secret");
    let r = z
        .call(op::CREATE, |e| {
            e.str("/secret")
                .buf(b"s")
                .int(1)
                .int(31)
                .str("digest")
                .str(&alice)
                .int(0);
        })
        .await;
    assert_eq!(r.err, 0, "a protected create is kept");
    assert_eq!(get_data_err(&mut z, "/secret").await, NO_AUTH);
    let mut r = z
        .call(op::GET_ACL, |e| {
            e.str("/secret");
        })
        .await;
    assert_eq!(r.err, 0, "getACL needs no permission");
    assert_eq!(r.body.int(), 1);
    assert_eq!(
        (r.body.int(), r.body.str(), r.body.str()),
        (31, "digest".into(), alice.clone())
    );

    let mut r = z
        .call(op::GET_EPHEMERALS, |e| {
            e.str("/p");
        })
        .await;
    assert_eq!(r.body.strs(), vec!["/p/e1"]);
    let mut r = z
        .call(op::GET_ALL_CHILDREN_NUMBER, |e| {
            e.str("/p");
        })
        .await;
    assert_eq!(r.body.int(), 3, "q, q/r and e1");

    // auth digest is replicated into the session; whoAmI names it after the
    // client's address, by user name as ZooKeeper does; the ACL now grants.
    let r = z
        .call(op::AUTH, |e| {
            e.int(0).str("digest").buf(b"alice:secret");
        })
        .await;
    assert_eq!(r.err, 0);
    assert_eq!(get_data_err(&mut z, "/secret").await, 0);
    let mut r = z.call(op::WHO_AM_I, |_| {}).await;
    let n = r.body.int();
    let infos: Vec<(String, String)> = (0..n).map(|_| (r.body.str(), r.body.str())).collect();
    assert_eq!(
        infos,
        vec![
            ("ip".into(), "127.0.0.1".into()),
            ("digest".into(), "alice".into())
        ]
    );
    // An unknown scheme: AUTHFAILED, then the connection closes.
    let r = z
        .call(op::AUTH, |e| {
            e.int(0).str("kerberos").buf(b"x");
        })
        .await;
    assert_eq!(r.err, AUTH_FAILED);
    assert!(z.closed().await);
    f.server.shutdown().await.unwrap();
}

async fn get_data_err(z: &mut zkwire::Zk, path: &str) -> i32 {
    z.call(op::GET_DATA, |e| {
        e.str(path).boolean(false);
    })
    .await
    .err
}

#[tokio::test]
async fn opcodes_coord_does_not_serve_get_unimplemented_and_the_connection_stays() {
    let f = start().await;
    let mut z = zkwire::connect(f.zk).await;
    for opcode in [op::RECONFIG, op::SASL, op::CHECK, 9999, -77] {
        let r = z
            .call(opcode, |e| {
                e.str("/whatever").int(0);
            })
            .await;
        assert_eq!(r.err, UNIMPLEMENTED, "opcode {opcode}");
    }
    assert_eq!(z.call(op::PING, |_| {}).await.err, 0, "still served");
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_packet_over_the_limit_closes_only_its_connection() {
    let f = start().await;
    let mut big = zkwire::connect(f.zk).await;
    let mut other = zkwire::connect(f.zk).await;
    // 512 KiB values are accepted (the default limit is 1 MiB).
    let half = vec![7u8; 512 * 1024];
    assert_eq!(big.create("/half", &half, 0).await.err, 0);
    let mut r = other
        .call(op::GET_DATA, |e| {
            e.str("/half").boolean(false);
        })
        .await;
    assert_eq!(r.body.buf().unwrap().len(), half.len());
    // Over 1 MiB: that connection is closed...
    let over = vec![7u8; 1024 * 1024 + 1024];
    big.send(op::CREATE, |e| {
        e.str("/over").buf(&over).open_acl().int(0);
    })
    .await;
    assert!(big.closed().await);
    // ...and nobody else notices.
    assert_eq!(other.create("/after", b"ok", 0).await.err, 0);
    assert_eq!(
        other
            .call(op::EXISTS, |e| {
                e.str("/over").boolean(false);
            })
            .await
            .err,
        NO_NODE
    );
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_packet_limit_is_a_setting() {
    let f = start_with(|c| c.zk_max_packet_bytes = 8 * 1024).await;
    let mut z = zkwire::connect(f.zk).await;
    assert_eq!(z.create("/small", &[1u8; 4 * 1024], 0).await.err, 0);
    z.send(op::CREATE, |e| {
        e.str("/big").buf(&[1u8; 9 * 1024]).open_acl().int(0);
    })
    .await;
    assert!(z.closed().await);
    f.server.shutdown().await.unwrap();
}

async fn four_letters(addr: SocketAddr, word: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(word.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(PATIENCE, s.read_to_string(&mut out))
        .await
        .expect("answered and closed in time")
        .unwrap();
    out
}

#[tokio::test]
async fn four_letter_words_answer_what_monitoring_scripts_read() {
    let f = start().await;
    let mut z = zkwire::connect(f.zk).await;
    z.create("/n", b"", 0).await;
    assert_eq!(four_letters(f.zk, "ruok").await, "imok");
    let srvr = four_letters(f.zk, "srvr").await;
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    let zxid_line = srvr
        .lines()
        .find(|l| l.starts_with("Zxid: 0x"))
        .expect(&srvr);
    assert!(
        u64::from_str_radix(&zxid_line[8..], 16).unwrap() >= 2,
        "{srvr}"
    );
    assert!(srvr.contains("Connections: 1"), "{srvr}");
    let stat = four_letters(f.zk, "stat").await;
    assert!(stat.contains("Clients:\n /127.0.0.1:"), "{stat}");
    let mntr = four_letters(f.zk, "mntr").await;
    let field = |k: &str| {
        mntr.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}\t")))
            .unwrap_or_else(|| panic!("{k} missing in {mntr}"))
            .to_string()
    };
    assert_eq!(field("zk_server_state"), "standalone");
    assert_eq!(field("zk_znode_count"), "2", "/ and /n");
    assert!(field("zk_packets_received").parse::<u64>().unwrap() >= 1);
    field("zk_avg_latency").parse::<f64>().unwrap();
    let conf = four_letters(f.zk, "conf").await;
    assert!(
        conf.contains(&format!("clientPort={}", f.zk.port())),
        "{conf}"
    );
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn truncated_and_random_packets_close_only_their_connection() {
    let f = start().await;
    let mut good = zkwire::connect(f.zk).await;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..40 {
        let mut bad = zkwire::connect(f.zk).await;
        // A request header with a path length beyond the packet, random
        // bytes, or an empty packet.
        let payload: Vec<u8> = match round % 3 {
            0 => {
                let mut e = Enc::default();
                e.int(1).int(op::CREATE).int(i32::MAX);
                e.0.to_vec()
            }
            1 => (0..(next() % 64)).map(|_| next() as u8).collect(),
            _ => Vec::new(),
        };
        zkwire::write_packet(&mut bad.wr, &payload).await.unwrap();
        // Random bytes may happen to spell a valid request; either way the
        // connection ends or answers, and the server stays up.
        let _ = tokio::time::timeout(Duration::from_millis(200), bad.next()).await;
    }
    // A connect cut in the middle, and garbage before any connect.
    let mut s = tokio::net::TcpStream::connect(f.zk).await.unwrap();
    s.write_all(&[0, 0, 0, 45, 0, 0]).await.unwrap();
    drop(s);
    let mut s = tokio::net::TcpStream::connect(f.zk).await.unwrap();
    s.write_all(&[0xff; 64]).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(
        n, 0,
        "a negative length closes the connection without an answer"
    );
    assert_eq!(good.create("/alive", b"", 0).await.err, 0);
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn zookeeper_clients_are_served_by_every_member_of_a_cluster() {
    use coord_server::testing::TestCluster;
    let cluster =
        TestCluster::start_with(3, |c| c.zk_listen = Some("127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
    let leader = cluster.wait_for_leader(PATIENCE).await.unwrap();
    let follower = cluster.other_than(leader);
    let zk_of = |id| cluster.server(id).unwrap().zk_addr().unwrap();
    let mut on_follower = zkwire::connect(zk_of(follower)).await;
    let mut on_leader = zkwire::connect(zk_of(leader)).await;
    on_leader
        .call(op::EXISTS, |e| {
            e.str("/c").boolean(true);
        })
        .await;
    // A write through a follower is forwarded to the leader.
    assert_eq!(on_follower.create("/c", b"v", 0).await.err, 0);
    let ev = on_leader.event().await;
    assert_eq!((ev.kind, ev.path.as_str()), (NODE_CREATED, "/c"));
    // The follower reads its own write.
    let mut r = on_follower
        .call(op::GET_DATA, |e| {
            e.str("/c").boolean(false);
        })
        .await;
    assert_eq!(r.body.buf().unwrap(), b"v");
    let srvr = four_letters(zk_of(follower), "srvr").await;
    assert!(srvr.contains("Mode: follower"), "{srvr}");
    cluster.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_auth_required_a_zookeeper_client_authenticates_with_a_digest_after_connecting() {
    let f = start_with(|cfg| cfg.auth_required = true).await;
    let mut z = zkwire::connect(f.zk).await;
    // Connected, but nothing is served before the digest...
    assert_eq!(get_data_err(&mut z, "/").await, AUTH_FAILED);
    let r = z.create("/before", b"", 0).await;
    assert_eq!(r.err, AUTH_FAILED);
    // ...which a ZooKeeper client can only send after connecting.
    let r = z
        .call(op::AUTH, |e| {
            e.int(0).str("digest").buf(b"alice:secret");
        })
        .await;
    assert_eq!(r.err, 0);
    assert_eq!(get_data_err(&mut z, "/").await, 0);
    assert_eq!(z.create("/after", b"", 0).await.err, 0);
    f.server.shutdown().await.unwrap();
}
