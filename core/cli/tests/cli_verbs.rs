//! The node verbs for daily use, through the real binary against a real
//! `coord serve`: values of any bytes and size from a file or standard
//! input, raw / hex / JSON output, ISO 8601 times, `ls --recursive`,
//! `ls --json` and `tree`, and clear refusals.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::{COORD, Served};

/// `coord --servers ADDR ARGS...` with `stdin` as standard input.
fn coord_in(addr: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(COORD)
        .arg("--servers")
        .arg(addr)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run coord");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("coord output");
    writer.join().unwrap();
    out
}

fn coord(addr: &str, args: &[&str]) -> Output {
    coord_in(addr, args, b"")
}

fn ok(out: Output) -> Vec<u8> {
    assert!(out.status.success(), "{out:?}");
    out.stdout
}

fn text(out: Output) -> String {
    String::from_utf8(ok(out)).unwrap()
}

#[test]
fn values_of_any_bytes_come_from_files_and_stdin_and_print_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    let addr = server.addr();
    // 900 KiB of every byte value: more than a shell argument can carry.
    let big: Vec<u8> = (0..900 * 1024).map(|i| (i % 251) as u8).collect();
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &big).unwrap();
    let f = file.to_str().unwrap();
    assert_eq!(
        text(coord(addr, &["create", "/big", "--file", f])).trim(),
        "/big"
    );
    assert_eq!(
        ok(coord(addr, &["get", "/big"])),
        big,
        "raw get, no newline added"
    );
    // Standard input, for create and set.
    ok(coord_in(
        addr,
        &["create", "/piped", "--file", "-"],
        b"\x00from stdin\xff",
    ));
    assert_eq!(ok(coord(addr, &["get", "/piped"])), b"\x00from stdin\xff");
    ok(coord_in(
        addr,
        &["set", "/piped", "--file", "-", "--version", "0"],
        b"v2",
    ));
    assert_eq!(ok(coord(addr, &["get", "/piped"])), b"v2");
    ok(coord(addr, &["set", "/piped", "--file", f]));
    assert_eq!(ok(coord(addr, &["get", "/piped"])), big);
    // Hex and JSON.
    ok(coord(addr, &["create", "/h", "\u{e9}t\u{e9}"]));
    assert_eq!(text(coord(addr, &["get", "/h", "--hex"])), "c3a974c3a9\n");
    let v: serde_json::Value =
        serde_json::from_str(&text(coord(addr, &["get", "/h", "--json"]))).unwrap();
    assert_eq!(v["data"], "\u{e9}t\u{e9}");
    assert_eq!(v["data_hex"], "c3a974c3a9");
    assert_eq!(v["stat"]["data_length"], 5);
    let v: serde_json::Value =
        serde_json::from_str(&text(coord(addr, &["get", "/piped", "--json"]))).unwrap();
    assert!(v["data"].is_null(), "non-UTF-8 data is null in `data`");
    // Refusals: no value for set, a value over --max-value-bytes, a missing file.
    let none = coord(addr, &["set", "/h"]);
    assert_eq!(none.status.code(), Some(17), "{none:?}");
    let over = coord(
        addr,
        &["--max-value-bytes", "1000", "set", "/h", "--file", f],
    );
    assert_eq!(over.status.code(), Some(16), "{over:?}");
    assert!(String::from_utf8_lossy(&over.stderr).contains("max-value-bytes"));
    let missing = coord(addr, &["create", "/m", "--file", "/nonexistent/x"]);
    assert_eq!(missing.status.code(), Some(17), "{missing:?}");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/x"));
    assert_eq!(
        ok(coord(addr, &["get", "/h"])),
        "\u{e9}t\u{e9}".as_bytes(),
        "unchanged"
    );
}

#[test]
fn stat_times_are_iso_8601_and_json_parses() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    let addr = server.addr();
    ok(coord(addr, &["create", "/s", "x"]));
    let s = text(coord(addr, &["stat", "/s"]));
    let ctime = s.lines().find_map(|l| l.strip_prefix("ctime: ")).unwrap();
    // e.g. 2026-12-03T16:34:07.123Z (1796315647123)
    let (iso, ms) = ctime.split_once(' ').unwrap();
    assert_eq!(iso.len(), 24, "{iso}");
    assert!(iso.ends_with('Z') && iso.as_bytes()[10] == b'T', "{iso}");
    let v: serde_json::Value =
        serde_json::from_str(&text(coord(addr, &["stat", "/s", "--json"]))).unwrap();
    assert_eq!(v["ctime"], iso);
    assert_eq!(format!("({})", v["ctime_ms"]), ms);
    assert_eq!(v["version"], 0);
    assert_eq!(v["path"], "/s");
}

#[test]
fn ls_recursive_json_and_tree_walk_the_subtree_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    let addr = server.addr();
    for p in ["/t/b/x", "/t/a/z", "/t/a/y", "/t/c"] {
        ok(coord(addr, &["create", p, "--parents"]));
    }
    assert_eq!(text(coord(addr, &["ls", "/t"])), "a\nb\nc\n");
    assert_eq!(
        text(coord(addr, &["ls", "/t", "--recursive"])),
        "/t/a\n/t/a/y\n/t/a/z\n/t/b\n/t/b/x\n/t/c\n"
    );
    let v: serde_json::Value =
        serde_json::from_str(&text(coord(addr, &["ls", "/t", "--json"]))).unwrap();
    assert_eq!(v, serde_json::json!(["a", "b", "c"]));
    assert_eq!(
        text(coord(addr, &["tree", "/t"])),
        "/t\n  a\n    y\n    z\n  b\n    x\n  c\n"
    );
    let gone = coord(addr, &["tree", "/nope"]);
    assert_eq!(gone.status.code(), Some(10), "{gone:?}");
}

/// The verbs `coord --help` lists (and the subcommands of those that have
/// some): each one's `--help` must show an example (`e.g.`).
#[test]
fn every_verb_help_has_an_example() {
    let help = |args: &[&str]| -> String {
        let out = Command::new(COORD)
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?} --help: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let verbs = |text: &str| -> Vec<String> {
        text.lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|v| *v != "help")
            .map(str::to_string)
            .collect()
    };
    let top = verbs(&help(&[]));
    assert!(top.len() >= 15, "{top:?}");
    let mut missing = Vec::new();
    for verb in &top {
        let text = help(&[verb]);
        let subs = verbs(&text);
        if !text.contains("e.g.") {
            missing.push(verb.clone());
        }
        for sub in subs {
            if !help(&[verb, &sub]).contains("e.g.") {
                missing.push(format!("{verb} {sub}"));
            }
        }
    }
    assert!(missing.is_empty(), "no example in --help of: {missing:?}");
}
