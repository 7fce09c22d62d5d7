//! `coord lock PATH -- CMD` and `coord elect PATH -- CMD` through the real
//! binary against a real `coord serve`: the command's exit code passes
//! through and the lock is released; a second locker waits (or times out
//! with exit 22); a lock broken while the command runs stops the command
//! and exits 40; a leader's command runs only while it leads, and the next
//! candidate's starts when the leader's process is killed; `--observe`
//! prints the leaders.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{COORD, Served};

/// Runs `coord --servers ADDR ARGS...` to the end (bounded).
fn coord(addr: &str, args: &[&str]) -> Output {
    let mut child = Command::new(COORD)
        .arg("--servers")
        .arg(addr)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run coord");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        assert!(
            Instant::now() < deadline,
            "coord {args:?} did not finish in 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `coord --servers ADDR ARGS...` in the background.
fn coord_bg(addr: &str, args: &[&str]) -> std::process::Child {
    Command::new(COORD)
        .arg("--servers")
        .arg(addr)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run coord")
}

/// Polls `cond` every 20 ms for at most `limit`.
fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(str::to_string)
        .collect()
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn the_commands_code_passes_through_and_the_lock_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    let addr = server.addr();
    let out = coord(
        addr,
        &[
            "lock",
            "/locks/job",
            "--",
            "sh",
            "-c",
            "echo \"$COORD_LOCK_PATH $COORD_LOCK_TOKEN\"; exit 7",
        ],
    );
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    let printed = lines(&out.stdout);
    let (path, token) = printed[0].split_once(' ').expect("path and token");
    assert_eq!(path, "/locks/job");
    assert!(token.parse::<u64>().unwrap() > 0, "token {token}");
    // Released: nobody is left in line, and the next holder gets it at once
    // with a higher token.
    let ls = coord(addr, &["ls", "/locks/job"]);
    assert!(ls.stdout.is_empty(), "left in line: {ls:?}");
    let again = coord(
        addr,
        &[
            "lock",
            "/locks/job",
            "--timeout",
            "5s",
            "--",
            "sh",
            "-c",
            "echo $COORD_LOCK_TOKEN",
        ],
    );
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    let next: u64 = lines(&again.stdout)[0].parse().unwrap();
    assert!(next > token.parse::<u64>().unwrap());
    // A command that cannot start is a clear error, and leaves no node.
    let missing = coord(addr, &["lock", "/locks/job", "--", "/nonexistent/cmd"]);
    assert_eq!(missing.status.code(), Some(17), "{missing:?}");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot run `/nonexistent/cmd`"));
    assert!(coord(addr, &["ls", "/locks/job"]).stdout.is_empty());
}

#[test]
fn a_second_locker_waits_or_times_out_with_22() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    let addr = server.addr();
    let flag = dir.path().join("holding");
    let go = dir.path().join("go");
    let script = format!(
        "touch {}; while [ ! -e {} ]; do sleep 0.05; done",
        flag.display(),
        go.display()
    );
    let mut first = coord_bg(addr, &["lock", "/l", "--", "sh", "-c", &script]);
    wait_until(Duration::from_secs(30), "first holder runs", || {
        flag.exists()
    });
    let timed_out = coord(addr, &["lock", "/l", "--timeout", "300ms", "--", "true"]);
    assert_eq!(timed_out.status.code(), Some(22), "{timed_out:?}");
    // A waiter without a timeout runs right after the holder's command ends.
    let mut second = coord_bg(addr, &["lock", "/l", "--", "sh", "-c", "exit 3"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        second.try_wait().unwrap().is_none(),
        "ran while the lock was held"
    );
    std::fs::write(&go, b"").unwrap();
    wait_until(Duration::from_secs(30), "both finish", || {
        first.try_wait().unwrap().is_some() && second.try_wait().unwrap().is_some()
    });
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert_eq!(second.wait().unwrap().code(), Some(3));
}

#[test]
fn a_lock_lost_while_the_command_runs_stops_it_and_exits_40() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    let addr = server.addr();
    let pid_file = dir.path().join("pid");
    // The command ignores SIGTERM, so only SIGKILL after --kill-after stops it.
    let script = format!(
        "trap '' TERM; echo $$ > {}; while true; do sleep 0.05; done",
        pid_file.display()
    );
    let mut holder = coord_bg(
        addr,
        &[
            "lock",
            "/l",
            "--kill-after",
            "300ms",
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    wait_until(Duration::from_secs(30), "command started", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| s.trim().parse::<i32>().is_ok())
    });
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(pid));
    // Break the lock the way an operator would: delete the holder's node.
    let ls = coord(addr, &["ls", "/l"]);
    let node = lines(&ls.stdout).pop().expect("the holder's node");
    let del = coord(addr, &["delete", &format!("/l/{node}")]);
    assert!(del.status.success(), "{del:?}");
    wait_until(Duration::from_secs(30), "coord lock exits", || {
        holder.try_wait().unwrap().is_some()
    });
    let out = holder.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(40), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("was lost while the command ran"));
    wait_until(Duration::from_secs(5), "the command is gone", || {
        !pid_alive(pid)
    });
}

#[test]
fn a_command_dies_with_a_killed_coord_and_the_next_leader_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(
        &dir.path().join("data"),
        &["--min-session-timeout-ms", "500"],
    );
    let addr = server.addr();
    let run = |name: &str| {
        let file = dir.path().join(name);
        let script = format!(
            "echo $$ > {}; while true; do sleep 0.05; done",
            file.display()
        );
        let child = coord_bg(
            addr,
            &[
                "--session-timeout-ms",
                "1000",
                "elect",
                "/svc",
                "--identity",
                name,
                "--",
                "sh",
                "-c",
                &script,
            ],
        );
        (child, file)
    };
    let (mut a, a_file) = run("a");
    wait_until(Duration::from_secs(30), "a leads and runs", || {
        a_file.exists()
    });
    let (mut b, b_file) = run("b");
    let observed = coord(addr, &["elect", "/svc", "--observe", "--count", "1"]);
    assert_eq!(lines(&observed.stdout)[0].split(' ').next(), Some("a"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!b_file.exists(), "b ran while a led");
    let a_pid: i32 = std::fs::read_to_string(&a_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SIGKILL: coord cannot stop its command itself; the parent-death signal does.
    a.kill().unwrap();
    a.wait().unwrap();
    wait_until(Duration::from_secs(5), "a's command died with it", || {
        !pid_alive(a_pid)
    });
    wait_until(Duration::from_secs(30), "b leads and runs", || {
        b_file.exists()
    });
    let observed = coord(addr, &["elect", "/svc", "--observe", "--count", "1"]);
    assert_eq!(lines(&observed.stdout)[0].split(' ').next(), Some("b"));
    b.kill().unwrap();
    b.wait().unwrap();
}

#[test]
fn locks_lists_holder_and_waiters_and_break_hands_the_lock_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    let addr = server.addr();
    let flag = dir.path().join("holding");
    let hold = format!("touch {}; while true; do sleep 0.05; done", flag.display());
    let mut holder = coord_bg(
        addr,
        &[
            "lock",
            "/locks/a",
            "--kill-after",
            "300ms",
            "--",
            "sh",
            "-c",
            &hold,
        ],
    );
    wait_until(Duration::from_secs(30), "holder runs", || flag.exists());
    let mut waiter = coord_bg(
        addr,
        &[
            "lock",
            "/locks/a",
            "--",
            "sh",
            "-c",
            "echo $COORD_LOCK_TOKEN",
        ],
    );
    let listed = || -> serde_json::Value {
        let out = coord(addr, &["locks", "/locks", "--json"]);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    wait_until(Duration::from_secs(30), "the waiter is in line", || {
        listed()[0]["waiters"]
            .as_array()
            .is_some_and(|w| w.len() == 1)
    });
    let v = listed();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["path"], "/locks/a");
    let held_token = v[0]["holders"][0]["token"].as_u64().unwrap();
    assert!(
        v[0]["holders"][0]["session"]
            .as_str()
            .unwrap()
            .starts_with("0x")
    );
    assert_eq!(v[0]["holders"][0]["kind"], "exclusive");
    // Where each contender connects from, from the replicated session table.
    assert_eq!(v[0]["holders"][0]["client"], "127.0.0.1", "{v}");
    assert_eq!(v[0]["waiters"][0]["client"], "127.0.0.1", "{v}");
    let text = String::from_utf8(coord(addr, &["locks", "/locks"]).stdout).unwrap();
    assert!(text.starts_with("/locks/a\n  held by  owner="), "{text}");
    assert!(text.contains(" client=127.0.0.1 "), "{text}");
    assert!(text.contains("\n  waiter 1 owner="), "{text}");
    // Without --yes and without a terminal nothing is broken.
    let refused = coord(addr, &["lock", "break", "/locks/a"]);
    assert_eq!(refused.status.code(), Some(17), "{refused:?}");
    assert!(
        holder.try_wait().unwrap().is_none(),
        "broken without confirmation"
    );
    let broke = coord(addr, &["lock", "break", "/locks/a", "--yes"]);
    assert!(broke.status.success(), "{broke:?}");
    assert!(String::from_utf8_lossy(&broke.stdout).starts_with("broke /locks/a/"));
    wait_until(Duration::from_secs(30), "holder and waiter finish", || {
        holder.try_wait().unwrap().is_some() && waiter.try_wait().unwrap().is_some()
    });
    assert_eq!(holder.wait().unwrap().code(), Some(40));
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let next: u64 = lines(&out.stdout)[0].parse().unwrap();
    assert!(
        next > held_token,
        "the next holder's token {next} is above {held_token}"
    );
    let nobody = coord(addr, &["lock", "break", "/locks/a", "--yes"]);
    assert_eq!(nobody.status.code(), Some(10), "{nobody:?}");
}

#[test]
fn elections_shows_the_leader_and_the_candidates_in_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    let addr = server.addr();
    let spin = "while true; do sleep 0.05; done";
    let shown = || -> serde_json::Value {
        let out = coord(addr, &["elections", "/svc", "--json"]);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    coord(addr, &["create", "/svc"]);
    let mut a = coord_bg(
        addr,
        &[
            "elect",
            "/svc",
            "--identity",
            "host-a",
            "--",
            "sh",
            "-c",
            spin,
        ],
    );
    wait_until(Duration::from_secs(30), "a leads", || {
        shown()[0]["leader"]["identity"] == "host-a"
    });
    let mut b = coord_bg(
        addr,
        &[
            "elect",
            "/svc",
            "--identity",
            "host-b",
            "--",
            "sh",
            "-c",
            spin,
        ],
    );
    wait_until(Duration::from_secs(30), "b is a candidate", || {
        shown()[0]["candidates"]
            .as_array()
            .is_some_and(|c| c.len() == 1)
    });
    let v = shown();
    assert_eq!(v[0]["path"], "/svc");
    assert_eq!(v[0]["leader"]["identity"], "host-a");
    assert_eq!(v[0]["candidates"][0]["identity"], "host-b");
    let text = String::from_utf8(coord(addr, &["elections", "/svc"]).stdout).unwrap();
    assert!(text.contains("  leader      host-a owner="), "{text}");
    assert!(text.contains("  candidate 1 host-b owner="), "{text}");
    for c in [&mut a, &mut b] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
