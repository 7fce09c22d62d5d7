//! Every numeric `coord serve` flag is checked against its documented range
//! at start: 0, a negative and a huge value each either start a server (when
//! in range) or are refused at once, naming the flag, before anything is
//! served. The environment twins go through the same check.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Each numeric flag and whether 0 is inside its range.
const FLAGS: &[(&str, bool)] = &[
    ("max-data-bytes", true),
    ("max-path-bytes", false),
    ("max-multi-ops", false),
    ("min-session-timeout-ms", false),
    ("max-session-timeout-ms", false),
    ("max-frame-bytes", false),
    ("max-connections", false),
    ("max-inflight-per-connection", false),
    ("max-outbound-bytes", false),
    ("handshake-timeout-ms", false),
    ("tick-ms", false),
    ("reap-interval-ms", false),
    ("snapshot-every", false),
    ("watch-history-bytes", true),
    ("fd-reserve", false),
    ("min-free-disk-bytes", true),
    ("max-listing-bytes", false),
    ("snapshot-log-bytes", true),
    ("snapshot-retry-ms", true),
    ("log-cache-bytes", true),
    ("max-handshake-frame-bytes", false),
    ("max-total-outbound-bytes", false),
    ("write-timeout-ms", false),
    ("shutdown-grace-ms", true),
    ("max-watches-per-session", false),
    ("max-pending-proposal-bytes", false),
    ("max-reply-backlog-bytes", false),
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
    for &(flag, zero_ok) in FLAGS {
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
        assert_refused(
            flag,
            "1125899906842625",
            serve_with(&[&long, "1125899906842625"], None),
        );
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
