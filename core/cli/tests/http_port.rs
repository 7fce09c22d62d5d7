//! The HTTP port of the real `coord serve --http-listen`: `/metrics` parses
//! with an independent Prometheus text parser and its figures move when
//! operations run; `/health` answers 200 while the data dir takes writes;
//! `/ready` is 503 on a cluster member until a leader is elected, then 200.
//! Without `--http-listen` there is no HTTP port.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{Served, free_ports, http_addr};

/// `GET path` over HTTP/1.1; (status code, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    support::http(addr, "GET", path, None)
}

/// One scrape, parsed: sample name plus labels -> value.
fn scrape(addr: &str) -> std::collections::HashMap<String, f64> {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text parses");
    let mut out = std::collections::HashMap::new();
    for s in parsed.samples {
        let mut key = s.metric.clone();
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        if !labels.is_empty() {
            key = format!("{key}{{{}}}", labels.join(","));
        }
        let v = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            prometheus_parse::Value::Summary(_) => continue,
        };
        out.insert(key, v);
    }
    out
}

fn coord(addr: &str, args: &[&str]) {
    let out = std::process::Command::new(support::COORD)
        .arg("--servers")
        .arg(addr)
        .args(args)
        .output()
        .expect("run coord");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn metrics_parse_and_move_with_operations_and_health_is_200() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &["--http-listen", "127.0.0.1:0"]);
    let http = http_addr(&server);
    assert_eq!(http_get(&http, "/health"), (200, "ok\n".to_string()));
    assert_eq!(http_get(&http, "/ready"), (200, "ready\n".to_string()));
    let before = scrape(&http);
    let creates = |m: &std::collections::HashMap<String, f64>| {
        m.get("coord_request_duration_seconds_count{op=create}")
            .copied()
            .unwrap_or(0.0)
    };
    for i in 0..5 {
        coord(server.addr(), &["create", &format!("/m{i}"), "12345"]);
    }
    coord(server.addr(), &["get", "/m0"]);
    let after = scrape(&http);
    assert_eq!(creates(&after) - creates(&before), 5.0, "{after:?}");
    assert!(after["coord_request_duration_seconds_count{op=get_data}"] >= 1.0);
    assert_eq!(after["coord_nodes"] - before["coord_nodes"], 5.0);
    assert_eq!(after["coord_data_bytes"] - before["coord_data_bytes"], 25.0);
    assert!(after["coord_log_fsyncs_total"] > before["coord_log_fsyncs_total"]);
    assert!(after["coord_log_fsync_duration_seconds_count"] >= 5.0);
    assert_eq!(after["coord_raft_is_leader"], 1.0);
    assert_eq!(after["coord_raft_leader_id"], 1.0);
    assert!(after["coord_raft_applied_index"] > before["coord_raft_applied_index"]);
    assert_eq!(http_get(&http, "/nope").0, 404);
}

#[test]
fn health_is_503_when_the_data_dir_takes_no_writes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Served::start(&data, &["--http-listen", "127.0.0.1:0"]);
    let http = http_addr(&server);
    assert_eq!(http_get(&http, "/health").0, 200);
    // The probe file's name taken by a directory: writing it fails, as on a
    // full or read-only disk (root ignores permission bits, so no chmod).
    std::fs::create_dir(data.join(".health-probe")).unwrap();
    let (status, body) = http_get(&http, "/health");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("does not take writes"), "{body}");
    std::fs::remove_dir(data.join(".health-probe")).unwrap();
    assert_eq!(http_get(&http, "/health").0, 200);
}

fn member(dir: &Path, id: u64, peer_port: u16, cluster: &str) -> Served {
    let id_s = id.to_string();
    let peer = format!("127.0.0.1:{peer_port}");
    Served::start(
        &dir.join(format!("m{id}")),
        &[
            "--id",
            &id_s,
            "--peer-listen",
            &peer,
            "--heartbeat-ms",
            "50",
            "--election-timeout-ms",
            "300",
            "--cluster",
            cluster,
            "--http-listen",
            "127.0.0.1:0",
        ],
    )
}

#[test]
fn ready_is_503_until_the_cluster_has_a_leader() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let cluster = format!(
        "1=127.0.0.1:{},2=127.0.0.1:{},3=127.0.0.1:{}",
        ports[0], ports[1], ports[2]
    );
    let first = member(dir.path(), 1, ports[0], &cluster);
    let http = http_addr(&first);
    // Alone, a member of three cannot elect a leader: alive, not ready.
    assert_eq!(http_get(&http, "/health").0, 200);
    let (status, body) = http_get(&http, "/ready");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no leader"), "{body}");
    let _second = member(dir.path(), 2, ports[1], &cluster);
    let _third = member(dir.path(), 3, ports[2], &cluster);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = http_get(&http, "/ready");
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {status} {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let m = scrape(&http);
    assert!(m["coord_raft_leader_id"] >= 1.0, "{m:?}");
}

#[test]
fn without_http_listen_there_is_no_http_port() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    assert!(server.is_serving());
    assert!(!server.log_text().contains("coord: http on"));
}

#[test]
fn lock_waits_are_counted_and_timed_from_joining_the_line_to_holding() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &["--http-listen", "127.0.0.1:0"]);
    let http = http_addr(&server);
    let s = server.addr();
    // A mutex: a holds at once, b joins behind it and holds when a goes.
    coord(s, &["create", "/l", ""]);
    coord(s, &["create", "/l/a__lock__0000000001", ""]);
    coord(s, &["create", "/l/b__lock__0000000002", ""]);
    let joined = Instant::now();
    let mid = scrape(&http);
    assert_eq!(mid["coord_lock_waits_total"], 1.0, "{mid:?}");
    assert_eq!(mid["coord_lock_wait_seconds_count"], 1.0, "{mid:?}");
    std::thread::sleep(Duration::from_millis(300));
    coord(s, &["delete", "/l/a__lock__0000000001"]);
    let waited = joined.elapsed().as_secs_f64();
    // A read-write lock: r1 holds; w and r2 wait; when w gives up, r2 holds
    // beside r1 (a waiter leaving can let others through, not only a holder).
    coord(s, &["create", "/rw", ""]);
    coord(s, &["create", "/rw/r1__rlock__0000000001", ""]);
    coord(s, &["create", "/rw/w__lock__0000000002", ""]);
    coord(s, &["create", "/rw/r2__rlock__0000000003", ""]);
    coord(s, &["delete", "/rw/w__lock__0000000002"]);
    // Other children and deletes of non-contenders change nothing.
    coord(s, &["create", "/l/config", ""]);
    coord(s, &["delete", "/l/config"]);
    let after = scrape(&http);
    assert_eq!(after["coord_lock_waits_total"], 3.0, "{after:?}");
    // a, b, r1, r2.
    assert_eq!(after["coord_lock_wait_seconds_count"], 4.0, "{after:?}");
    let sum = after["coord_lock_wait_seconds_sum"];
    assert!(
        sum >= 0.3 && sum <= waited + 1.0,
        "b waited ~{waited:.2} s, the sum is {sum}"
    );
}
