//! `coord lock PATH -- CMD` and `coord elect PATH -- CMD`: run a command
//! only while this process holds a lock or leads an election, as
//! `etcdctl lock` and `consul lock` do, on the shared recipes (so a wrapped
//! command excludes every coord and kazoo client of the same path).
//!
//! The command gets the fencing token in its environment. When it exits,
//! the lock is released (or leadership resigned) and its exit code becomes
//! coord's. When the lock or leadership is lost while it runs (session
//! expired, lock broken), it gets SIGTERM, then SIGKILL after
//! `--kill-after`, and coord exits with [`LOST_EXIT`]. The command is also
//! told to die with coord (Linux's parent-death signal), so that a coord
//! killed with SIGKILL never leaves a command running that believes it
//! holds a lock the server has handed to someone else. SIGTERM or Ctrl-C
//! to coord is passed on to the command, then coord releases and exits with
//! the command's code. Owns no protocol or recipe logic.

use std::future::Future;
use std::time::Duration;

use coord_client::Error;
use coord_client::client::Client;
use coord_client::recipes::{Election, Lock};
use futures::StreamExt;
use std::io::Write;
use tokio::process::{Child, Command};

/// Exit code when the lock or leadership was lost while the command ran.
pub(crate) const LOST_EXIT: u8 = 40;

/// Default of `--kill-after`: SIGTERM to SIGKILL.
pub(crate) const DEFAULT_KILL_AFTER: &str = "10s";

/// `500ms`, `10s`, `2m`: a wait or grace period of at most a day.
pub(crate) fn parse_wait(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit_ms) = if let Some(d) = s.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = s.strip_suffix('s') {
        (d, 1_000)
    } else if let Some(d) = s.strip_suffix('m') {
        (d, 60_000)
    } else {
        return Err(format!("`{s}` is not a duration like 500ms, 10s or 2m"));
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 500ms, 10s or 2m"))?;
    let ms = n.saturating_mul(unit_ms);
    if ms > 86_400_000 {
        return Err(format!("`{s}` is longer than a day"));
    }
    Ok(Duration::from_millis(ms))
}

/// How a wrapped command ended.
enum Ended {
    /// It exited by itself or after a signal passed on from coord: its code.
    Exited(u8),
    /// The lock or leadership went away first; the command was stopped.
    Lost,
}

/// `coord lock PATH -- CMD`.
pub(crate) async fn lock(
    client: &Client,
    path: &str,
    timeout: Option<Duration>,
    kill_after: Duration,
    command: &[String],
) -> Result<u8, Error> {
    let lock = Lock::new(client, path);
    let token = interruptible(async {
        match timeout {
            Some(t) => lock.acquire_timeout(t).await,
            None => lock.acquire().await,
        }
    })
    .await?;
    let env = [
        ("COORD_LOCK_PATH", path.to_string()),
        ("COORD_LOCK_TOKEN", token.to_string()),
    ];
    match supervise(command, &env, lock.lost(), kill_after).await? {
        Ended::Exited(code) => {
            lock.release().await?;
            Ok(code)
        }
        Ended::Lost => {
            eprintln!(
                "coord: the lock {path} (token {token}) was lost while the command ran; \
                 the command was stopped"
            );
            Ok(LOST_EXIT)
        }
    }
}

/// `coord elect PATH --identity ID -- CMD`.
pub(crate) async fn elect(
    client: &Client,
    path: &str,
    identity: &str,
    timeout: Option<Duration>,
    kill_after: Duration,
    command: &[String],
) -> Result<u8, Error> {
    let election = Election::new(client, path, identity);
    let term = interruptible(async {
        match timeout {
            Some(t) => election.campaign_timeout(t).await,
            None => election.campaign().await,
        }
    })
    .await?;
    let env = [
        ("COORD_ELECTION_PATH", path.to_string()),
        ("COORD_LEADER_IDENTITY", identity.to_string()),
        ("COORD_LEADER_TOKEN", term.token.to_string()),
    ];
    match supervise(command, &env, election.leadership_lost(), kill_after).await? {
        Ended::Exited(code) => {
            election.resign().await?;
            Ok(code)
        }
        Ended::Lost => {
            eprintln!(
                "coord: leadership of {path} (token {}) was lost while the command ran; \
                 the command was stopped",
                term.token
            );
            Ok(LOST_EXIT)
        }
    }
}

/// `coord elect PATH --observe`: one line per leader change,
/// `IDENTITY TOKEN` or `-` while there is no leader.
pub(crate) async fn observe(client: &Client, path: &str, count: Option<u64>) -> Result<u8, Error> {
    let mut leaders = Election::observe(client, path);
    let mut out = std::io::stdout();
    let mut seen = 0u64;
    while count.is_none_or(|c| seen < c) {
        let next = tokio::select! {
            n = leaders.next() => n,
            _ = tokio::signal::ctrl_c() => None,
        };
        let line = match next {
            None => break,
            Some(leader) => match leader? {
                Some(l) => format!("{} {}", String::from_utf8_lossy(&l.identity), l.token),
                None => "-".to_string(),
            },
        };
        writeln!(out, "{line}")?;
        out.flush()?;
        seen += 1;
    }
    Ok(0)
}

/// Waits for `f`, or fails when coord gets Ctrl-C or SIGTERM first (the
/// recipe's node is removed by its cleanup and by the session's close).
async fn interruptible<T>(f: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::select! {
        r = f => r,
        () = stop_requested() => Err(Error::Cancelled("interrupted while waiting".into())),
    }
}

/// Ctrl-C or SIGTERM to this process.
async fn stop_requested() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs `command` with `env` until it exits or `lost` completes.
async fn supervise(
    command: &[String],
    env: &[(&str, String)],
    lost: impl Future<Output = ()>,
    kill_after: Duration,
) -> Result<Ended, Error> {
    let mut child = spawn(command, env)?;
    tokio::select! {
        status = child.wait() => Ok(Ended::Exited(exit_code_of(status?))),
        () = lost => {
            stop(&mut child, kill_after).await?;
            Ok(Ended::Lost)
        }
        () = stop_requested() => {
            let status = stop(&mut child, kill_after).await?;
            Ok(Ended::Exited(exit_code_of(status)))
        }
    }
}

fn spawn(command: &[String], env: &[(&str, String)]) -> Result<Child, Error> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Error::BadArguments("no command after `--`".into()))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .kill_on_drop(true);
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before exec and makes
    // only async-signal-safe system calls (prctl, getppid); it allocates
    // nothing.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // coord died between fork and prctl: do not run unguarded.
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::other(
                    "coord exited before the command started",
                ));
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| Error::BadArguments(format!("cannot run `{program}`: {e}")))
}

/// SIGTERM, then SIGKILL after `kill_after`; returns how the command ended.
async fn stop(child: &mut Child, kill_after: Duration) -> Result<std::process::ExitStatus, Error> {
    if let Some(pid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    match tokio::time::timeout(kill_after, child.wait()).await {
        Ok(status) => Ok(status?),
        Err(_) => {
            eprintln!(
                "coord: the command did not stop within --kill-after {kill_after:?}; killing it"
            );
            child.start_kill()?;
            Ok(child.wait().await?)
        }
    }
}

/// The exit code of a finished command: its own, or 128 + the signal that
/// ended it (as shells report it).
fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_take_ms_s_and_m_and_refuse_the_rest() {
        assert_eq!(parse_wait("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_wait("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_wait("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_wait("10").is_err());
        assert!(parse_wait("1h").is_err());
        assert!(parse_wait("2000m").is_err());
    }
}
