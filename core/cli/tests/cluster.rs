//! Real `coord serve` processes forming a cluster on loopback: three
//! founders started in any order form one cluster; `coord cluster status
//! --json` names the leader; after kill -9 of the leader writes go on and
//! nothing acknowledged is lost; the killed member rejoins with its data; a
//! fourth member started without `--cluster` joins through `coord cluster
//! add` and leaves through `coord cluster remove` (then stops by itself,
//! and its data dir refuses to serve again); a data dir refuses another
//! member id.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use coord_client::client::Client;
use coord_proto::CreateMode;
use support::{COORD, Served, free_ports};

fn member(dir: &Path, id: u64, peer_port: u16, cluster: Option<&str>) -> Served {
    let id_s = id.to_string();
    let peer = format!("127.0.0.1:{peer_port}");
    let mut args = vec![
        "--id",
        &id_s,
        "--peer-listen",
        &peer,
        "--heartbeat-ms",
        "50",
        "--election-timeout-ms",
        "300",
    ];
    if let Some(c) = cluster {
        args.extend(["--cluster", c]);
    }
    Served::start(&dir.join(format!("m{id}")), &args)
}

/// `coord --servers SERVERS ARGS...`: (success, stdout, stderr).
fn coord(servers: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(COORD)
        .args(["--servers", servers, "--session-timeout-ms", "4000"])
        .args(args)
        .output()
        .expect("run coord");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The status JSON once a leader is known and `members` are listed.
fn status_with_leader(servers: &str, members: usize) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, out, err) = coord(servers, &["cluster", "status", "--json"]);
        if ok {
            let v: serde_json::Value = serde_json::from_str(out.trim()).expect("status is JSON");
            if v["leader"].is_u64() && v["members"].as_array().map(Vec::len) == Some(members) {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no leader with {members} members within 30 s: {out} {err}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn client_addr_of(status: &serde_json::Value, id: u64) -> String {
    status["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["id"] == id)
        .and_then(|m| m["client_addr"].as_str())
        .expect("client address")
        .to_string()
}

async fn connect(servers: &str) -> Client {
    Client::builder()
        .servers(servers.to_string())
        .session_timeout(Duration::from_secs(4))
        .connect()
        .await
        .expect("connect")
}

#[test]
fn coord_serve_processes_form_a_cluster_fail_over_rejoin_and_change_members() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = free_ports(4);
    let cluster = format!(
        "1=127.0.0.1:{},2=127.0.0.1:{},3=127.0.0.1:{}",
        ports[0], ports[1], ports[2]
    );
    // Any start order forms the same one cluster.
    let mut procs: Vec<Option<Served>> = vec![None, None, None, None];
    for id in [3u64, 1, 2] {
        procs[id as usize - 1] = Some(member(
            dir.path(),
            id,
            ports[id as usize - 1],
            Some(&cluster),
        ));
    }
    let addrs = |procs: &Vec<Option<Served>>| {
        procs
            .iter()
            .flatten()
            .map(|p| p.addr().to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let servers = addrs(&procs);
    let status = status_with_leader(&servers, 3);
    let leader = status["leader"].as_u64().expect("leader");
    for id in 1..=3u64 {
        let (_, out, _) = coord(
            &client_addr_of(&status, id),
            &["cluster", "status", "--json"],
        );
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
        assert_eq!(v["leader"], leader, "member {id} agrees on the leader");
    }

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let written = rt.block_on(async {
        // Writes through a follower, acknowledged.
        let follower = (1..=3).find(|i| *i != leader).expect("a follower");
        let c = connect(&client_addr_of(&status, follower)).await;
        let mut written = Vec::new();
        for i in 0..20 {
            let p = format!("/before-{i}");
            c.create(&p, b"v".to_vec(), CreateMode::Persistent)
                .await
                .expect("create through a follower");
            written.push(p);
        }
        c.close().await.expect("close");
        written
    });

    // kill -9 of the leader: writes resume through the survivors.
    procs[leader as usize - 1].take().expect("leader").kill9();
    let survivors = addrs(&procs);
    let after = status_with_leader(&survivors, 3);
    assert_ne!(after["leader"], leader, "a new leader");
    let written = rt.block_on(async {
        let c = connect(&survivors).await;
        let mut written = written;
        for i in 0..20 {
            let p = format!("/after-{i}");
            c.create(&p, Vec::new(), CreateMode::Persistent)
                .await
                .expect("create after the failover");
            written.push(p);
        }
        c.close().await.expect("close");
        written
    });

    // The killed member restarts on its data and catches up.
    let l = leader as usize - 1;
    procs[l] = Some(member(dir.path(), leader, ports[l], Some(&cluster)));
    let rejoined = procs[l].as_ref().expect("restarted").addr().to_string();
    rt.block_on(async {
        let c = connect(&rejoined).await;
        c.sync("/").await.expect("sync on the rejoined member");
        for p in &written {
            assert!(
                c.exists(p).await.expect("exists").is_some(),
                "{p} missing on the rejoined member"
            );
        }
        c.close().await.expect("close");
    });

    // A fourth member, started without --cluster, waits to be added.
    let fourth = member(dir.path(), 4, ports[3], None);
    let all = addrs(&procs);
    let (ok, out, err) = coord(
        &all,
        &[
            "cluster",
            "add",
            "4",
            &format!("127.0.0.1:{}", ports[3]),
            "--client-addr",
            fourth.addr(),
        ],
    );
    assert!(ok, "cluster add: {out} {err}");
    let with_four = status_with_leader(&all, 4);
    let role = with_four["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["id"] == 4)
        .map(|m| m["role"].clone());
    assert_eq!(role, Some(serde_json::json!("voter")));
    rt.block_on(async {
        let c = connect(fourth.addr()).await;
        c.sync("/").await.expect("sync on the new member");
        for p in &written {
            assert!(
                c.exists(p).await.expect("exists").is_some(),
                "{p} missing on member 4"
            );
        }
        c.create("/through-4", Vec::new(), CreateMode::Persistent)
            .await
            .expect("write through the new member");
        c.close().await.expect("close");
    });
    let (ok, out, err) = coord(&all, &["cluster", "remove", "4"]);
    assert!(ok, "cluster remove: {out} {err}");
    let without = status_with_leader(&all, 3);
    assert!(
        without["members"]
            .as_array()
            .expect("members")
            .iter()
            .all(|m| m["id"] != 4),
        "{without}"
    );
    // The removed member learns it, stops by itself (exit 0: nothing
    // failed) and its data dir never serves again.
    let mut fourth = fourth;
    let Some(status) = fourth.wait_exit(Duration::from_secs(30)) else {
        panic!("the removed member kept running: {}", fourth.log_text());
    };
    assert!(
        status.success(),
        "exit status {status:?}: {}",
        fourth.log_text()
    );
    assert!(
        fourth.log_text().contains("was removed from the cluster"),
        "{}",
        fourth.log_text()
    );
    let mut again = member(dir.path(), 4, ports[3], None);
    assert!(
        !again.is_serving(),
        "a removed member's data dir served again"
    );
    let status = again.wait_exit(Duration::from_secs(30)).expect("exits");
    assert!(!status.success());
    let log = again.log_text();
    assert!(
        log.contains("was removed from its cluster") && log.contains("fresh data dir"),
        "{log}"
    );
}

#[test]
fn a_data_dir_refuses_another_member_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Served::start(&dir.path().join("d"), &["--id", "1"]);
    assert!(first.is_serving());
    first.kill9();
    let mut second = Served::start(&dir.path().join("d"), &["--id", "2"]);
    assert!(!second.is_serving(), "started with another member id");
    let status = second.wait_exit(Duration::from_secs(30)).expect("exits");
    assert!(!status.success());
    let log = second.log_text();
    assert!(
        log.contains("belongs to member 1") && log.contains("--id 2"),
        "{log}"
    );
}

#[test]
fn a_single_node_data_dir_grows_into_a_cluster_with_a_learner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let single = Served::start(&dir.path().join("m1"), &[]);
    let (ok, _, err) = coord(single.addr(), &["create", "/kept", "one"]);
    assert!(ok, "{err}");
    single.kill9();
    // The same data dir with a peer port: a cluster of one, led by member 1.
    let ports = free_ports(2);
    let first = member(dir.path(), 1, ports[0], None);
    let second = member(dir.path(), 2, ports[1], None);
    let status = status_with_leader(first.addr(), 1);
    assert_eq!(status["leader"], 1);
    assert_eq!(
        status["members"][0]["peer_addr"],
        format!("127.0.0.1:{}", ports[0]),
        "member 1 recorded its new peer address: {status}"
    );
    let (ok, out, err) = coord(
        first.addr(),
        &[
            "cluster",
            "add",
            "2",
            &format!("127.0.0.1:{}", ports[1]),
            "--client-addr",
            second.addr(),
            "--learner",
        ],
    );
    assert!(ok, "cluster add: {out} {err}");
    // A learner serves reads and forwards writes, and does not vote.
    let (ok, out, err) = coord(second.addr(), &["get", "/kept"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "one");
    let (ok, _, err) = coord(second.addr(), &["create", "/through-the-learner", "two"]);
    assert!(ok, "{err}");
    let (ok, out, err) = coord(first.addr(), &["get", "/through-the-learner"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "two");
    let status = status_with_leader(second.addr(), 2);
    assert_eq!(status["leader"], 1);
    let roles: Vec<(u64, String)> = status["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["id"].as_u64().unwrap(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(roles, vec![(1, "voter".into()), (2, "learner".into())]);
    // Member 1 alone is still a majority: it goes on writing without the learner.
    drop(second);
    let (ok, _, err) = coord(first.addr(), &["create", "/without-the-learner", ""]);
    assert!(ok, "a learner's absence stopped writes: {err}");
}
