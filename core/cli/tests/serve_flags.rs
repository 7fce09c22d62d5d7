//! Every numeric `coord serve` flag is checked against its documented range
//! at start: 0, a negative and a huge value each either start a server (when
//! in range) or are refused at once, naming the flag, before anything is
//! served. The environment twins go through the same check.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A value that parses but is above most flags' ranges.
const ABOVE: &str = "1125899906842625";

/// Each numeric flag, whether 0 is inside its range, and a value that
/// parses but is above it.
const FLAGS: &[(&str, bool, &str)] = &[
    ("max-data-bytes", true, ABOVE),
    ("max-path-bytes", false, ABOVE),
    ("max-multi-ops", false, ABOVE),
    ("min-session-timeout-ms", false, ABOVE),
    ("max-session-timeout-ms", false, ABOVE),
    ("max-frame-bytes", false, ABOVE),
    ("max-connections", false, ABOVE),
    ("max-inflight-per-connection", false, ABOVE),
    ("max-outbound-bytes", false, ABOVE),
    ("handshake-timeout-ms", false, ABOVE),
    ("tick-ms", false, ABOVE),
    ("reap-interval-ms", false, ABOVE),
    ("snapshot-every", false, ABOVE),
    ("watch-history-bytes", true, ABOVE),
    ("fd-reserve", false, ABOVE),
    ("min-free-disk-bytes", true, ABOVE),
    ("max-listing-bytes", false, ABOVE),
    ("snapshot-log-bytes", true, ABOVE),
    ("snapshot-retry-ms", true, ABOVE),
    ("log-cache-bytes", true, ABOVE),
    ("max-handshake-frame-bytes", false, ABOVE),
    ("max-total-outbound-bytes", false, ABOVE),
    ("write-timeout-ms", false, ABOVE),
    ("shutdown-grace-ms", true, ABOVE),
    ("max-watches-per-session", false, ABOVE),
    ("max-pending-proposal-bytes", false, ABOVE),
    ("max-reply-backlog-bytes", false, ABOVE),
    ("id", false, "9223372036854775808"),
    ("max-peer-frame-bytes", false, ABOVE),
    ("max-peer-connections", false, ABOVE),
    ("heartbeat-ms", false, ABOVE),
    ("election-timeout-ms", false, ABOVE),
    ("zk-max-packet-bytes", false, ABOVE),
    ("max-ephemerals-per-session", false, ABOVE),
    ("max-connections-per-ip", false, ABOVE),
    ("max-export-page-bytes", false, ABOVE),
    ("export-idle-timeout-ms", false, ABOVE),
];

/// What `coord serve` did with one setting.
enum Outcome {
    Served,
    Refused { code: Option<i32>, stderr: String },
}

fn serve_with(args: &[&str], env: Option<(&str, &str)>) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coord"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn coord serve");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        // Reads until "serving on" shows up or the process closes stderr.
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("coord: serving on") {
                break;
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let stderr = loop {
        if reader.is_finished() {
            break reader.join().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "coord serve {args:?} neither served nor exited"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    if stderr.contains("coord: serving on") {
        let _ = child.kill();
        let _ = child.wait();
        return Outcome::Served;
    }
    let status = child.wait().unwrap();
    Outcome::Refused {
        code: status.code(),
        stderr,
    }
}

fn assert_refused(flag: &str, value: &str, outcome: Outcome) {
    match outcome {
        Outcome::Served => panic!("--{flag} {value} was accepted"),
        Outcome::Refused { code, stderr } => {
            assert_eq!(
                code,
                Some(2),
                "--{flag} {value}: usage error; stderr: {stderr}"
            );
            assert!(
                stderr.contains(&format!("--{flag}")) && stderr.contains(value),
                "--{flag} {value}: the message names the flag and value: {stderr}"
            );
        }
    }
}

#[test]
fn every_numeric_flag_refuses_zero_negative_and_huge_values_outside_its_range() {
    let huge = format!("{}0", u64::MAX);
    for &(flag, zero_ok, above) in FLAGS {
        let long = format!("--{flag}");
        let zero = serve_with(&[&long, "0"], None);
        if zero_ok {
            match zero {
                Outcome::Served => {}
                Outcome::Refused { stderr, .. } => panic!("--{flag} 0 is in range: {stderr}"),
            }
        } else {
            assert_refused(flag, "0", zero);
        }
        assert_refused(flag, "-1", serve_with(&[&long, "-1"], None));
        assert_refused(flag, &huge, serve_with(&[&long, &huge], None));
        // A value that parses but is above the range.
        assert_refused(flag, above, serve_with(&[&long, above], None));
    }
}

#[test]
fn environment_twins_are_range_checked_too() {
    match serve_with(&[], Some(("COORD_TICK_MS", "0"))) {
        Outcome::Served => panic!("COORD_TICK_MS=0 was accepted"),
        Outcome::Refused { code, stderr } => {
            assert_eq!(code, Some(2), "{stderr}");
            assert!(stderr.contains("--tick-ms"), "{stderr}");
        }
    }
}

#[test]
fn settings_that_contradict_each_other_are_refused_naming_both() {
    for (args, names) in [
        (
            &["--tick-ms", "2000"][..],
            ["--tick-ms", "--min-session-timeout-ms"],
        ),
        (
            &[
                "--min-session-timeout-ms",
                "9000",
                "--max-session-timeout-ms",
                "5000",
            ][..],
            ["--min-session-timeout-ms", "--max-session-timeout-ms"],
        ),
        (
            &["--max-frame-bytes", "65536"][..],
            ["--max-frame-bytes", "--max-data-bytes"],
        ),
    ] {
        match serve_with(args, None) {
            Outcome::Served => panic!("{args:?} was accepted"),
            Outcome::Refused { code, stderr } => {
                assert_eq!(
                    code,
                    Some(17),
                    "bad arguments exit code for {args:?}: {stderr}"
                );
                for n in names {
                    assert!(stderr.contains(n), "{args:?}: {stderr}");
                }
            }
        }
    }
}

#[test]
fn a_bad_cluster_is_refused_at_once_naming_the_flag() {
    // Refused while parsing (exit code 2): not id=host:port, an id twice.
    for value in ["1=127.0.0.1:1,1=127.0.0.1:2", "1=nonsense"] {
        for extra in [&[][..], &["--peer-listen", "127.0.0.1:0"][..]] {
            let mut args = vec!["--cluster", value];
            args.extend_from_slice(extra);
            assert_refused("cluster", value, serve_with(&args, None));
        }
    }
    // Parses, but contradicts the other settings (exit code 17): no
    // --peer-listen, then --id 1 (the default) not in it.
    for (extra, names) in [
        (&[][..], ["--cluster", "--peer-listen"]),
        (
            &["--peer-listen", "127.0.0.1:0"][..],
            ["--cluster", "--id 1"],
        ),
    ] {
        let mut args = vec!["--cluster", "2=127.0.0.1:1"];
        args.extend_from_slice(extra);
        match serve_with(&args, None) {
            Outcome::Served => panic!("{args:?} was accepted"),
            Outcome::Refused { code, stderr } => {
                assert_eq!(
                    code,
                    Some(17),
                    "bad arguments exit code for {args:?}: {stderr}"
                );
                for n in names {
                    assert!(stderr.contains(n), "{args:?}: {stderr}");
                }
            }
        }
    }
}

#[test]
fn cluster_flags_in_range_start_a_single_node_server() {
    let args = [
        "--id=1",
        "--max-peer-frame-bytes=1048576",
        "--max-peer-connections=1",
        "--heartbeat-ms=10",
        "--election-timeout-ms=50",
    ];
    match serve_with(&args, None) {
        Outcome::Served => {}
        Outcome::Refused { stderr, .. } => panic!("{args:?} are in range: {stderr}"),
    }
}
