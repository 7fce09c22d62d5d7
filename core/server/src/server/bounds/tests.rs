//! Unit tests of the settings' ranges and of `validate`.

use super::*;

fn err(cfg: &ServerConfig) -> String {
    validate(cfg).expect_err("must be refused").to_string()
}

#[test]
fn defaults_and_test_settings_are_valid() {
    validate(&ServerConfig::new("/tmp/x")).unwrap();
    validate(&ServerConfig::for_test(std::path::Path::new("/tmp/x"))).unwrap();
}

#[test]
fn zero_tick_and_zero_inflight_are_refused_by_name() {
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.tick = Duration::ZERO;
    let e = err(&cfg);
    assert!(e.contains("--tick-ms") && e.contains("is 0"), "{e}");
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.max_inflight_per_connection = 0;
    assert!(err(&cfg).contains("--max-inflight-per-connection"));
}

#[test]
fn dashboard_limits_out_of_range_are_refused_by_name() {
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.http_max_children = 0;
    assert!(err(&cfg).contains("--http-max-children"));
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.http_max_walk_nodes = 10_000_001;
    assert!(err(&cfg).contains("--http-max-walk-nodes"));
}

#[test]
fn inconsistent_settings_are_refused() {
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.session_limits.min_timeout = Duration::from_secs(70);
    assert!(err(&cfg).contains("above --max-session-timeout-ms"));
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.tick = Duration::from_millis(1000);
    assert!(err(&cfg).contains("must be below --min-session-timeout-ms"));
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.limits.max_data_bytes = 4 * 1024 * 1024;
    assert!(err(&cfg).contains("cannot carry a value"));
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.max_outbound_bytes = 1024 * 1024;
    assert!(err(&cfg).contains("below --max-frame-bytes"));
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.max_reply_backlog_bytes = cfg.max_outbound_bytes + 1;
    assert!(err(&cfg).contains("above --max-outbound-bytes"));
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A valid three-member setup for member 1.
fn member() -> ServerConfig {
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.peer_listen = Some(addr("127.0.0.1:2381"));
    cfg.cluster = Some(
        [
            (1, addr("127.0.0.1:2381")),
            (2, addr("127.0.0.1:2382")),
            (3, addr("127.0.0.1:2383")),
        ]
        .into(),
    );
    cfg
}

#[test]
fn cluster_settings_out_of_range_are_refused_by_name() {
    validate(&member()).unwrap();
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.node_id = 0;
    let e = err(&cfg);
    assert!(e.contains("--id") && e.contains("is 0"), "{e}");
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.max_peer_frame_bytes = 1024;
    assert!(err(&cfg).contains("--max-peer-frame-bytes"));
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.max_peer_connections = 0;
    assert!(err(&cfg).contains("--max-peer-connections"));
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.heartbeat = Duration::from_millis(5);
    assert!(err(&cfg).contains("--heartbeat-ms"));
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.election_timeout = Duration::from_secs(61);
    assert!(err(&cfg).contains("--election-timeout-ms"));
}

#[test]
fn heartbeat_must_be_below_half_the_election_timeout() {
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.heartbeat = Duration::from_millis(150);
    cfg.election_timeout = Duration::from_millis(300);
    let e = err(&cfg);
    assert!(
        e.contains("--heartbeat-ms (150)") && e.contains("--election-timeout-ms (300)"),
        "{e}"
    );
    cfg.heartbeat = Duration::from_millis(149);
    validate(&cfg).unwrap();
}

#[test]
fn cluster_requires_peer_listen() {
    let mut cfg = member();
    cfg.peer_listen = None;
    let e = err(&cfg);
    assert!(e.contains("--cluster requires --peer-listen"), "{e}");
}

#[test]
fn id_must_be_a_member_of_the_cluster() {
    let mut cfg = member();
    cfg.node_id = 4;
    let e = err(&cfg);
    assert!(
        e.contains("--id 4 is not a member of --cluster") && e.contains("1, 2, 3"),
        "{e}"
    );
    cfg.node_id = 3;
    validate(&cfg).unwrap();
}

#[test]
fn cluster_member_ids_must_be_valid_ids() {
    let mut cfg = member();
    cfg.cluster
        .as_mut()
        .unwrap()
        .insert(0, addr("127.0.0.1:2384"));
    let e = err(&cfg);
    assert!(e.contains("--cluster: member id 0"), "{e}");
}

#[test]
fn peer_listen_must_not_be_the_client_address() {
    let mut cfg = member();
    cfg.peer_listen = Some(cfg.listen);
    let e = err(&cfg);
    assert!(
        e.contains("--peer-listen (127.0.0.1:2281)") && e.contains("--listen"),
        "{e}"
    );
    // The wildcard address of the same family takes the port too.
    cfg.peer_listen = Some(addr("0.0.0.0:2281"));
    assert!(err(&cfg).contains("--peer-listen (0.0.0.0:2281)"));
    // Port 0 picks a free port for each.
    cfg.listen = addr("127.0.0.1:0");
    cfg.peer_listen = Some(addr("127.0.0.1:0"));
    validate(&cfg).unwrap();
    // Another port, or another address, is fine.
    cfg.listen = addr("127.0.0.1:2281");
    cfg.peer_listen = Some(addr("127.0.0.1:2381"));
    validate(&cfg).unwrap();
    cfg.peer_listen = Some(addr("127.0.0.2:2281"));
    validate(&cfg).unwrap();
}

#[test]
fn two_members_with_one_peer_address_are_refused() {
    let mut cfg = member();
    cfg.cluster
        .as_mut()
        .unwrap()
        .insert(3, addr("127.0.0.1:2382"));
    let e = err(&cfg);
    assert!(
        e.contains("members 2 and 3 have the same peer address 127.0.0.1:2382"),
        "{e}"
    );
}

#[test]
fn a_peer_frame_must_carry_a_log_entry_of_client_writes() {
    let mut cfg = member();
    cfg.max_frame_bytes = 64 * 1024 * 1024;
    cfg.max_peer_frame_bytes = 64 * 1024 * 1024;
    let e = err(&cfg);
    assert!(
        e.contains("--max-peer-frame-bytes (67108864)")
            && e.contains("--max-frame-bytes (67108864)")
            && e.contains(&format!(
                "at least {}",
                64 * MIB + LOG_BATCH_BYTES + PEER_FRAME_OVERHEAD
            )),
        "{e}"
    );
    cfg.max_peer_frame_bytes = (64 * MIB + LOG_BATCH_BYTES + PEER_FRAME_OVERHEAD) as usize;
    validate(&cfg).unwrap();
    // A server without peers never sends a peer frame.
    let mut cfg = ServerConfig::new("/tmp/x");
    cfg.max_frame_bytes = 64 * 1024 * 1024;
    cfg.max_peer_frame_bytes = 64 * 1024 * 1024;
    validate(&cfg).unwrap();
}
