//! `coord ls` on a directory larger than one reply, with the real binary on
//! both sides: a `coord serve` whose `--max-listing-bytes` is lowered to 1 KiB
//! (so 1,500 children need dozens of pages; the same path as the default
//! budget with a hundred thousand children) prints every child, in name order.

use coord_client::client::{Client, CreateMode, Op};

mod support;
use support::Served;

/// Runs a CLI verb (bounded by a timeout); returns (exit code, stdout, stderr).
async fn coord(args: &[&str]) -> (Option<i32>, String, String) {
    support::run_coord(args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_prints_every_child_in_order_when_the_directory_needs_many_pages() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(dir.path(), &["--max-listing-bytes", "1024"]);
    let c = Client::connect(server.addr()).await.unwrap();
    c.create("/wide", Vec::new(), CreateMode::Persistent)
        .await
        .unwrap();
    let mut names: Vec<String> = (0..1500)
        .map(|i| format!("node-{:05}-{}", (i * 7) % 1500, "x".repeat(i % 11)))
        .collect();
    for chunk in names.chunks(500) {
        let ops = chunk
            .iter()
            .map(|n| Op::Create {
                acl: Vec::new(),
                path: format!("/wide/{n}"),
                data: Vec::new().into(),
                mode: CreateMode::Persistent,
            })
            .collect();
        c.multi(ops).await.unwrap();
    }
    names.sort();
    let first = c.children_page("/wide", None, None).await.unwrap();
    assert!(
        first.more && first.names.len() < 100,
        "the listing must take many pages"
    );
    c.close().await.unwrap();

    let (code, stdout, stderr) = coord(&["--servers", server.addr(), "ls", "/wide"]).await;
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let printed: Vec<&str> = stdout.lines().collect();
    assert_eq!(printed, names);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_listing_budget_out_of_range_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    for bad in ["100", "4194304"] {
        let (code, _, stderr) = coord(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir,
            "--max-listing-bytes",
            bad,
        ])
        .await;
        assert_eq!(code, Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("--max-listing-bytes"), "{stderr}");
    }
}
