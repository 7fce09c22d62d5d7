//! `--log-format json`: every log line of `coord serve` is one JSON object
//! with a level, a message and its fields, for log shippers; the default
//! stays text.

mod support;

use support::Served;

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &["--log-format", "json"]);
    assert!(server.is_serving());
    let log = server.log_text();
    let objects: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.starts_with("coord: "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(objects.len() >= 2, "{log}");
    let listening = objects
        .iter()
        .find(|o| o["fields"]["message"] == "coord server listening")
        .unwrap_or_else(|| panic!("no listening line in {log}"));
    assert_eq!(listening["level"], "INFO");
    assert!(listening["fields"]["local_addr"].is_string());
}

#[test]
fn text_logs_are_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    let log = server.log_text();
    assert!(
        log.lines().any(|l| l.contains("coord server listening")),
        "{log}"
    );
    assert!(!log.lines().any(|l| l.starts_with('{')), "{log}");
}

/// The warning lines of a server's log so far.
fn warnings(server: &Served) -> Vec<String> {
    server
        .log_text()
        .lines()
        .filter(|l| l.contains(" WARN "))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_fresh_start_and_a_restart_warn_of_nothing_but_a_changed_limit_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for round in ["fresh data dir", "restart"] {
        let server = Served::start(&data, &[]);
        assert!(server.is_serving(), "{round}: {}", server.log_text());
        // The replicated limits are settled before the server listens, and
        // so logged by the time it announced its address.
        assert_eq!(warnings(&server), Vec::<String>::new(), "{round}");
        server.kill9();
    }
    let server = Served::start(&data, &["--max-data-bytes", "1000"]);
    assert!(server.is_serving(), "{}", server.log_text());
    assert!(
        warnings(&server)
            .iter()
            .any(|l| l.contains("configured limits differ from the replicated ones")),
        "{}",
        server.log_text()
    );
}
