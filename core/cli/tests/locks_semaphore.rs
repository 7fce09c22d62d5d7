//! Semaphores in the lock views: `coord locks --json`, the dashboard's
//! `/api/locks` and the client's `lock_info` show a semaphore's leases, the
//! first N (the count in the semaphore's data) as holders and the rest as
//! waiters in line, with kind `lease`.

mod support;

use std::process::Command;
use std::time::Duration;

use coord_client::client::Client;
use coord_client::recipes::Semaphore;
use serde_json::Value;
use support::{COORD, Served, http, http_addr};

fn coord_locks(addr: &str, path: &str) -> Value {
    let out = Command::new(COORD)
        .args(["--servers", addr, "locks", path, "--json"])
        .output()
        .expect("run coord locks");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("json")
}

fn kinds_and_tokens(line: &Value, side: &str) -> Vec<(String, u64)> {
    line[side]
        .as_array()
        .unwrap_or_else(|| panic!("{side} in {line}"))
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["token"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_semaphores_leases_show_as_holders_and_its_waiters_in_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &["--http-listen", "127.0.0.1:0"]);
    let addr = server.addr().to_string();
    let client = Client::connect(&addr).await.expect("connect");
    let pool = Semaphore::new(&client, "/sem/pool", 2);
    let a = pool.acquire().await.expect("first lease");
    let b = pool.acquire().await.expect("second lease");
    let waiting = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.acquire().await })
    };

    let mut line = Value::Null;
    for _ in 0..200 {
        line = coord_locks(&addr, "/sem")[0].clone();
        if line["waiters"].as_array().is_some_and(|w| w.len() == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(line["path"], "/sem/pool", "{line}");
    let lease = |t: u64| ("lease".to_string(), t);
    assert_eq!(
        kinds_and_tokens(&line, "holders"),
        vec![lease(a.token()), lease(b.token())],
        "{line}"
    );
    let waiter = kinds_and_tokens(&line, "waiters");
    assert_eq!(waiter.len(), 1, "{line}");
    assert!(waiter[0].1 > b.token(), "{line}");

    // The same line from the dashboard's API and from the client.
    let (status, body) = http(&http_addr(&server), "GET", "/api/locks?path=/sem", None);
    assert_eq!(status, 200, "{body}");
    let api: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        kinds_and_tokens(&api["locks"][0], "holders"),
        kinds_and_tokens(&line, "holders")
    );
    assert_eq!(kinds_and_tokens(&api["locks"][0], "waiters"), waiter);
    let info = client.lock_info("/sem/pool").await.expect("lock_info");
    assert_eq!(info.holders.len(), 2);
    assert_eq!(info.waiters[0].token, waiter[0].1);

    // A lease given back: the waiter holds, and the view says so.
    a.release().await.expect("release");
    let c = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiter gets a lease in time")
        .unwrap()
        .expect("third lease");
    let line = coord_locks(&addr, "/sem")[0].clone();
    assert_eq!(
        kinds_and_tokens(&line, "holders"),
        vec![lease(b.token()), lease(c.token())],
        "{line}"
    );
    assert!(line["waiters"].as_array().unwrap().is_empty(), "{line}");
    client.close().await.expect("close");
}
