//! The soak's server: a `coord serve` child process of the given executable
//! (the running `coord`), on `127.0.0.1:0` with a data directory of the
//! harness, so that its memory can be read from `/proc/<pid>/status` and it
//! can be killed with SIGKILL and restarted on the same directory.
//!
//! The child's address is taken from its `coord: serving on <addr>` line on
//! stderr; the rest of stderr is drained (the last lines are kept for error
//! messages). The child is killed when its handle is dropped, so no server
//! outlives the harness.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use coord_client::error::Error;

/// Longest wait for a child to announce its address (a debug build on a busy
/// 2-core machine replays its log first).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Stderr lines kept for error messages.
const TAIL_LINES: usize = 20;

/// Memory figures of a process, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MemStatus {
    /// Resident set size now (`VmRSS`).
    pub(crate) rss: u64,
    /// Peak resident set size (`VmHWM`).
    pub(crate) hwm: u64,
}

/// How to start a server: which executable, which extra flags.
#[derive(Debug, Clone)]
pub(crate) struct ServerCommand {
    pub(crate) exe: PathBuf,
    pub(crate) serve_args: Vec<String>,
}

/// A running `coord serve` child.
pub(crate) struct ServerProcess {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl ServerProcess {
    /// Starts a server on `data_dir` and waits until it accepts clients.
    pub(crate) async fn start(cmd: &ServerCommand, data_dir: &Path) -> Result<Self, Error> {
        let mut child = Command::new(&cmd.exe)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(&cmd.serve_args)
            // The server logs each refused connection at debug; warn keeps
            // the abusers from turning the child's stderr into a workload.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Io(format!("starting {}: {e}", cmd.exe.display())))?;
        let pid = child
            .id()
            .ok_or_else(|| Error::Internal("the server exited at once".into()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| Error::Internal("no stderr pipe".into()))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = oneshot::channel();
        tokio::spawn(drain(stderr, tail.clone(), tx));
        let addr = tokio::select! {
            a = rx => a.ok(),
            _ = tokio::time::sleep(START_TIMEOUT) => None,
        };
        let mut server = ServerProcess {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tail,
        };
        match addr {
            Some(addr) => {
                server.addr = addr;
                Ok(server)
            }
            None => {
                let status = server.child.try_wait().ok().flatten();
                Err(Error::Internal(format!(
                    "the soak server did not start (exit: {status:?}); its last words:\n{}",
                    server.tail()
                )))
            }
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Its memory now, or `None` once it is gone.
    pub(crate) fn memory(&self) -> Option<MemStatus> {
        memory_of(self.pid)
    }

    /// Whether it exited by itself (a crash, or a fail-stop).
    pub(crate) fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("{status}; last words:\n{}", self.tail())),
            _ => None,
        }
    }

    /// SIGKILL, then reap: no shutdown code runs.
    pub(crate) async fn kill9(mut self) -> Result<(), Error> {
        // An error means it is already gone, which is what we want.
        let _ = self.child.start_kill();
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .map_err(|_| Error::OperationTimeout("the killed server was not reaped".into()))?
            .map_err(|e| Error::Io(format!("reaping the server: {e}")))?;
        Ok(())
    }

    fn tail(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

async fn drain(
    stderr: tokio::process::ChildStderr,
    tail: Arc<Mutex<VecDeque<String>>>,
    ready: oneshot::Sender<SocketAddr>,
) {
    let mut ready = Some(ready);
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(addr) = line.strip_prefix("coord: serving on ")
            && let Ok(addr) = addr.trim().parse()
            && let Some(tx) = ready.take()
        {
            let _ = tx.send(addr);
        }
        let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// The memory of process `pid`, or `None` once it is gone.
pub(crate) fn memory_of(pid: u32) -> Option<MemStatus> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| parse_status(&s))
}

/// `VmRSS` and `VmHWM` of a `/proc/<pid>/status` text, in bytes.
fn parse_status(status: &str) -> Option<MemStatus> {
    let kib = |key: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(key)?.trim();
            rest.strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some(MemStatus {
        rss: kib("VmRSS:")? * 1024,
        hwm: kib("VmHWM:")? * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_and_peak_are_read_from_proc_status_in_bytes() {
        let text = "Name:\tcoord\nVmPeak:\t  900 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(
            parse_status(text),
            Some(MemStatus {
                rss: 1024 * 1024,
                hwm: 2048 * 1024
            })
        );
        assert_eq!(parse_status("Name:\tzombie\n"), None);
    }

    #[test]
    fn this_process_has_a_readable_status() {
        let text = std::fs::read_to_string("/proc/self/status").unwrap();
        let mem = parse_status(&text).unwrap();
        assert!(mem.rss > 0 && mem.hwm >= mem.rss);
    }
}
