//! `coord bench --soak` on the real binary: a short soak finishes in time,
//! loses no acknowledged write across `kill -9`, runs every kind of abuser and
//! lets the normal lockers complete cycles in both phases. The latency ratio
//! and the RSS bound are printed by the harness and judged by whoever reads
//! the benchmark, never here: this machine is shared and noisy.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use coord_cli::bench::soak::{Abuser, SOAK_SECTION_END, SOAK_SECTION_START};

/// Generous: the 10 s soak takes about 15 s in a debug build on 2 cores.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// The rows of the markdown table whose header starts with `first_column`,
/// each as column name -> cell.
fn table(text: &str, first_column: &str) -> Vec<HashMap<String, String>> {
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with(&format!("| {first_column} |")));
    let Some(header) = lines.next() else {
        panic!("no table starting with `{first_column}` in:\n{text}");
    };
    let names = cells(header);
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| names.iter().cloned().zip(cells(l)).collect())
        .collect()
}

fn number(row: &HashMap<String, String>, column: &str) -> u64 {
    row.get(column)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("column `{column}` of {row:?} is not a count"))
}

fn run_soak(dir: &Path, markdown: &Path) -> (String, String, Duration) {
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_coord"))
        .args(["bench", "--soak", "10s", "--seed", "1", "--data-dir"])
        .arg(dir)
        .arg("--markdown-out")
        .arg(markdown)
        .stdout(Stdio::from(File::create(&stdout_path).unwrap()))
        .stderr(Stdio::from(File::create(&stderr_path).unwrap()))
        .spawn()
        .expect("start coord bench --soak");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the soak did not finish within {RUN_LIMIT:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = started.elapsed();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        status.success(),
        "soak failed ({status}); stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr, elapsed)
}

#[test]
fn short_soak_loses_no_acknowledged_write_and_runs_every_abuser() {
    let dir = tempfile::tempdir().unwrap();
    let markdown = dir.path().join("BENCHMARKS.md");
    let (stdout, _stderr, elapsed) = run_soak(dir.path(), &markdown);
    assert!(elapsed < RUN_LIMIT);

    let phases = table(&stdout, "phase");
    let names: Vec<&str> = phases.iter().map(|r| r["phase"].as_str()).collect();
    assert_eq!(names, ["baseline", "abused"], "{stdout}");
    for row in &phases {
        assert!(
            number(row, "locker cycles") > 0,
            "no lock cycle completed: {row:?}"
        );
        assert!(
            number(row, "acked writes") > 0,
            "nothing acknowledged: {row:?}"
        );
        assert_eq!(number(row, "lost"), 0, "acknowledged writes lost: {row:?}");
        // Printed for the reader, not judged here.
        assert!(["yes", "no"].contains(&row["within bound"].as_str()));
    }

    let abusers = table(&stdout, "abuser");
    for abuser in Abuser::ALL {
        let row = abusers
            .iter()
            .find(|r| r["abuser"] == abuser.label())
            .unwrap_or_else(|| panic!("{} missing from:\n{stdout}", abuser.label()));
        assert!(
            number(row, "ops") > 0,
            "{} did nothing: {row:?}",
            abuser.label()
        );
    }

    // The section written into BENCHMARKS.md is the printed report.
    let written = std::fs::read_to_string(&markdown).unwrap();
    let start = written.find(SOAK_SECTION_START).expect("start marker");
    let end = written.find(SOAK_SECTION_END).expect("end marker");
    assert!(start < end);
    assert_eq!(
        written[start + SOAK_SECTION_START.len()..end].trim(),
        stdout.trim()
    );
    // The scratch directory (server data) is gone; only our files remain.
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["BENCHMARKS.md", "stderr", "stdout"]);
}

#[test]
fn soak_durations_outside_their_bounds_are_refused_before_anything_runs() {
    for bad in ["1s", "0", "10x", "25h", "-5s"] {
        let out = Command::new(env!("CARGO_BIN_EXE_coord"))
            .args(["bench", "--soak", bad])
            .output()
            .expect("run coord");
        assert_eq!(out.status.code(), Some(2), "--soak {bad} was accepted");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_coord"))
        .args(["bench", "--soak", "4s", "--serve-arg=--max-frame-bytes=12"])
        .output()
        .expect("run coord");
    assert_eq!(out.status.code(), Some(17), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max-frame-bytes"), "{stderr}");
}
