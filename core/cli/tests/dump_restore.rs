//! `coord dump` and `coord restore` against real `coord serve` processes:
//! dump, restore (into another server, or under another path), dump again
//! gives the same node lines byte for byte (binary and empty data, a deep
//! path, a ~1 MiB value, ACLs, a quota, hundreds of nodes); a node without
//! READ fails the dump naming it; a bad file (wrong version, truncated,
//! cut mid-line) fails restore naming the line and creates nothing;
//! `--overwrite` replaces data and ACLs, and without it an existing target
//! is refused.

mod support;

use std::path::Path;

use coord_client::Error;
use coord_client::client::{Client, CreateMode, Op, QuotaLimits};
use coord_proto::Acl;
use coord_proto::acl::{digest_id, perms};
use serde_json::Value;
use support::Served;

async fn coord(addr: &str, args: &[&str]) -> (Option<i32>, String, String) {
    support::run_coord(&[&["--servers", addr], args].concat()).await
}

async fn ok(addr: &str, args: &[&str]) -> String {
    let (code, out, err) = coord(addr, args).await;
    assert_eq!(code, Some(0), "coord {args:?}: {err}");
    out
}

fn bob_only() -> Vec<Acl> {
    vec![
        Acl::new("world", "anyone", perms::READ),
        Acl::new("digest", digest_id("bob", "pw"), perms::ALL),
    ]
}

/// A subtree at /app with every kind of content the format must carry.
async fn populate(client: &Client) {
    let c = |p: &'static str, d: Vec<u8>| async move {
        client.create(p, d, CreateMode::Persistent).await.unwrap();
    };
    c("/app", b"top".to_vec()).await;
    c("/app/binary", (0..=255u8).collect()).await;
    c("/app/empty", Vec::new()).await;
    let mut deep = String::from("/app");
    for i in 0..12 {
        deep.push_str(&format!("/level{i}"));
        client
            .create(&deep, format!("{i}"), CreateMode::Persistent)
            .await
            .unwrap();
    }
    c("/app/big", vec![0xa5; 1_000_000]).await;
    client
        .create_with_acl("/app/guarded", "g", CreateMode::Persistent, &bob_only())
        .await
        .unwrap();
    client
        .create("/app/box", "", CreateMode::Container)
        .await
        .unwrap();
    c("/app/box/item", b"i".to_vec()).await;
    c("/app/many", Vec::new()).await;
    for chunk in 0..5 {
        let ops = (0..100)
            .map(|i| Op::Create {
                path: format!("/app/many/n{:03}", chunk * 100 + i),
                data: format!("v{i}").into(),
                mode: CreateMode::Persistent,
                acl: Vec::new(),
            })
            .collect();
        client.multi(ops).await.unwrap();
    }
    let limits = QuotaLimits {
        max_nodes: Some(1000),
        max_bytes: None,
    };
    client.set_quota("/app/many", limits).await.unwrap();
    // Alive while the dumps run: counted, not dumped.
    client
        .create("/app/session", "", CreateMode::Ephemeral)
        .await
        .unwrap();
}

fn read(path: &Path) -> (Value, String) {
    let text = std::fs::read_to_string(path).expect("dump file");
    let (header, body) = text.split_once('\n').expect("a header line");
    (
        serde_json::from_str(header).expect("header is JSON"),
        body.to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_restore_dump_gives_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = Served::start(&dir.path().join("a"), &[]);
    let b = Served::start(&dir.path().join("b"), &[]);
    let client = support::client(a.addr()).await;
    populate(&client).await;

    let first = dir.path().join("first.dump");
    ok(a.addr(), &["dump", "/app", "-o", first.to_str().unwrap()]).await;
    let (header, body) = read(&first);
    // 1 + binary + empty + 12 levels + big + guarded + box + item + many + 500.
    assert_eq!(header["nodes"], 520, "{header}");
    // The canonical header describes the tree only, not the server's state.
    assert!(header.get("zxid").is_none(), "{header}");
    assert!(header.get("ephemerals").is_none(), "{header}");
    assert_eq!(header["format"], "coord-dump");
    assert_eq!(header["version"], 1);
    assert_eq!(body.lines().count(), 520);
    assert!(!body.contains("\"session\""), "ephemerals are left out");
    assert!(body.starts_with("{\"path\":\"\",\"kind\":\"persistent\",\"data\":\"dG9w\""));
    assert!(body.contains("\"kind\":\"container\""));
    assert!(body.contains("\"quota\":{\"max_nodes\":1000}"));

    // Into another server, at the dump's root.
    let out = ok(b.addr(), &["restore", first.to_str().unwrap()]).await;
    assert!(out.contains("restored 520 nodes"), "{out}");
    let second = dir.path().join("second.dump");
    ok(b.addr(), &["dump", "/app", "-o", second.to_str().unwrap()]).await;
    let (header2, body2) = read(&second);
    assert!(body2 == body, "node lines differ after a round trip");
    assert_eq!(header2, header);
    // dump, restore, dump again: the same file, byte for byte.
    assert!(
        std::fs::read(&second).unwrap() == std::fs::read(&first).unwrap(),
        "the second dump differs from the first"
    );
    // --stat adds the state's zxid and the ephemerals counted (one here).
    let with_stat = ok(a.addr(), &["dump", "/app", "--stat"]).await;
    let stat_header: Value = serde_json::from_str(with_stat.lines().next().unwrap()).unwrap();
    assert!(stat_header["zxid"].as_u64().unwrap() > 0, "{stat_header}");
    assert_eq!(stat_header["ephemerals"], 1, "{stat_header}");
    let other = support::client(b.addr()).await;
    let (big, _) = other.get("/app/big").await.unwrap();
    assert_eq!(big.len(), 1_000_000);
    assert_eq!(other.get_acl("/app/guarded").await.unwrap().0, bob_only());
    assert_eq!(
        other.get_quota("/app/many").await.unwrap().limits.max_nodes,
        Some(1000)
    );

    // Under another path of the first server.
    ok(
        a.addr(),
        &["restore", first.to_str().unwrap(), "--at", "/copy"],
    )
    .await;
    let (header3, body3) = coord(a.addr(), &["dump", "/copy"])
        .await
        .1
        .split_once('\n')
        .map(|(h, b)| (serde_json::from_str::<Value>(h).unwrap(), b.to_string()))
        .unwrap();
    assert!(body3 == body, "node lines differ under --at /copy");
    assert_eq!(header3["root"], "/copy");

    // --ephemerals keeps them, for inspection.
    let with = ok(a.addr(), &["dump", "/app", "--ephemerals"]).await;
    assert!(with.contains("{\"path\":\"session\",\"kind\":\"ephemeral\""));
    other.close().await.unwrap();
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_read_fails_the_dump_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = Served::start(&dir.path().join("a"), &[]);
    let client = support::client(a.addr()).await;
    client
        .create("/app", "", CreateMode::Persistent)
        .await
        .unwrap();
    let hidden = [Acl::new("digest", digest_id("bob", "pw"), perms::ALL)];
    client
        .create_with_acl("/app/hidden", "", CreateMode::Persistent, &hidden)
        .await
        .unwrap();
    let out = dir.path().join("app.dump");
    let (code, _, err) = coord(a.addr(), &["dump", "/app", "-o", out.to_str().unwrap()]).await;
    assert_eq!(code, Some(19), "{err}");
    assert!(err.contains("/app/hidden"), "{err}");
    assert!(!out.exists(), "no partial backup is left");
    ok(
        a.addr(),
        &[
            "--digest",
            "bob:pw",
            "dump",
            "/app",
            "-o",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.exists());
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_fails_restore_naming_the_line_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = Served::start(&dir.path().join("a"), &[]);
    let client = support::client(a.addr()).await;
    client
        .create("/src", "s", CreateMode::Persistent)
        .await
        .unwrap();
    for i in 0..3 {
        client
            .create(&format!("/src/n{i}"), "v", CreateMode::Persistent)
            .await
            .unwrap();
    }
    let good = ok(a.addr(), &["dump", "/src"]).await;
    let lines: Vec<&str> = good.lines().collect();
    assert_eq!(lines.len(), 5);
    let cases = [
        (
            "version",
            good.replacen("\"version\":1", "\"version\":2", 1),
            "line 1",
        ),
        ("not-a-dump", "{\"hello\":1}\n".to_string(), "line 1"),
        (
            "truncated",
            format!("{}\n", lines[..4].join("\n")),
            "line 5",
        ),
        (
            "cut",
            format!("{}\n{}", lines[..4].join("\n"), &lines[4][..10]),
            "line 5",
        ),
        (
            "base64",
            good.replacen("\"data\":\"dg==\"", "\"data\":\"!!\"", 1),
            "line 3",
        ),
    ];
    for (name, text, line) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let (code, _, err) = coord(
            a.addr(),
            &["restore", file.to_str().unwrap(), "--at", "/dst"],
        )
        .await;
        assert_eq!(code, Some(17), "{name}: {err}");
        assert!(err.contains(line), "{name}: expected {line} in {err}");
        assert!(
            client.exists("/dst").await.unwrap().is_none(),
            "{name} created nothing"
        );
    }
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_replaces_data_and_acls_and_is_needed_for_an_existing_target() {
    let dir = tempfile::tempdir().unwrap();
    let a = Served::start(&dir.path().join("a"), &[]);
    let client = support::client(a.addr()).await;
    client
        .create("/cfg", "v1", CreateMode::Persistent)
        .await
        .unwrap();
    client
        .create("/cfg/x", "x1", CreateMode::Persistent)
        .await
        .unwrap();
    let file = dir.path().join("cfg.dump");
    ok(a.addr(), &["dump", "/cfg", "-o", file.to_str().unwrap()]).await;

    client.set("/cfg/x", "x2", None).await.unwrap();
    let closed = [Acl::new(
        "world",
        "anyone",
        perms::READ | perms::WRITE | perms::ADMIN,
    )];
    client.set_acl("/cfg/x", &closed, None).await.unwrap();
    client.delete("/cfg/x", None).await.ok();
    client
        .create_with_acl("/cfg/x", "x3", CreateMode::Persistent, &closed)
        .await
        .unwrap();
    client
        .create("/cfg/extra", "", CreateMode::Persistent)
        .await
        .unwrap();

    let (code, _, err) = coord(a.addr(), &["restore", file.to_str().unwrap()]).await;
    assert_eq!(code, Some(11), "{err}");
    assert!(err.contains("/cfg") && err.contains("--overwrite"), "{err}");
    assert_eq!(client.get("/cfg/x").await.unwrap().0, "x3");

    ok(
        a.addr(),
        &["restore", file.to_str().unwrap(), "--overwrite"],
    )
    .await;
    assert_eq!(client.get("/cfg/x").await.unwrap().0, "x1");
    assert_eq!(client.get_acl("/cfg/x").await.unwrap().0, vec![Acl::open()]);
    // Nodes the dump does not name are left alone.
    assert!(client.exists("/cfg/extra").await.unwrap().is_some());
    match client.get("/nothing").await {
        Err(Error::NoNode(_)) => {}
        other => panic!("{other:?}"),
    }
    client.close().await.unwrap();
}
